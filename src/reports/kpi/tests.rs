//! The key figures against a fixture whose every number was worked out by hand (below).

use super::*;
use crate::store::{ContactFacts, TransferFacts};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A contact received at `received`, answered and closed that many seconds later.
fn contact(
    organiser: &str,
    channel: Channel,
    language: Language,
    received: &str,
    answer_s: Option<i64>,
    handling_s: Option<i64>,
    outcome: Outcome,
) -> ContactFacts {
    let received_at = t(received);
    ContactFacts {
        id: Uuid::now_v7(),
        organiser: organiser.into(),
        owner: organiser.into(),
        channel,
        language,
        received_at,
        answered_at: answer_s.map(|s| received_at + Duration::seconds(s)),
        closed_at: handling_s.map(|s| received_at + Duration::seconds(s)),
        outcome,
    }
}

fn fixture() -> KpiReport {
    use Channel::*;
    use Language::*;
    use Outcome::*;
    let contacts = [
        // Turku (853): seven contacts.
        contact(
            "853",
            Phone,
            Fi,
            "2026-01-05T08:00:00Z",
            Some(5),
            Some(300),
            ResolvedFirstContact,
        ), // 1
        contact(
            "853",
            Phone,
            Fi,
            "2026-01-05T09:00:00Z",
            Some(9),
            Some(600),
            ResolvedFirstContact,
        ), // 2
        contact(
            "853",
            Phone,
            Sv,
            "2026-01-06T10:00:00Z",
            Some(12),
            Some(420),
            ReferredServiceNeedAssessment,
        ), // 3
        contact(
            "853",
            Chat,
            Fi,
            "2026-01-07T11:00:00Z",
            Some(40),
            Some(900),
            ResolvedFirstContact,
        ), // 4
        contact(
            "853",
            Email,
            Fi,
            "2026-01-12T07:00:00Z",
            Some(7200),
            Some(86400),
            ResolvedFirstContact,
        ), // 5
        contact("853", HelpButton, Fi, "2026-01-13T12:00:00Z", None, None, Open), // 6
        contact(
            "853",
            Phone,
            En,
            "2026-01-14T08:30:00Z",
            Some(3),
            Some(180),
            Transferred,
        ), // 7
        // Naantali (529): five contacts.
        contact(
            "529",
            Phone,
            Fi,
            "2026-01-05T12:00:00Z",
            Some(8),
            Some(240),
            ResolvedFirstContact,
        ), // 8
        contact(
            "529",
            Phone,
            Sv,
            "2026-01-08T13:00:00Z",
            Some(10),
            Some(360),
            ResolvedFirstContact,
        ), // 9
        contact(
            "529",
            FaceToFace,
            Fi,
            "2026-01-12T09:00:00Z",
            Some(0),
            Some(1800),
            ReferredServiceNeedAssessment,
        ), // 10
        contact("529", EService, Sv, "2026-01-15T10:00:00Z", Some(600), None, Open), // 11
        // 23:59:59 on Sunday 18 January in Helsinki: still week 3.
        contact(
            "529",
            Phone,
            Fi,
            "2026-01-18T21:59:59Z",
            Some(20),
            Some(120),
            ResolvedFirstContact,
        ), // 12
    ];
    let transfer = |from: &str, to: &str, at: &str| TransferFacts {
        case_id: Uuid::now_v7(),
        from_org: from.into(),
        to_org: to.into(),
        at: t(at),
    };
    // Helsinki days 5–18 January 2026 (UTC+2): weeks 2 and 3.
    let mut kpi = KpiBuilder::new(
        &["853".to_string(), "529".to_string()],
        t("2026-01-04T22:00:00Z"),
        t("2026-01-18T22:00:00Z"),
    );
    for c in &contacts {
        kpi.add_contact(c);
    }
    kpi.add_transfer(&transfer("853", "529", "2026-01-14T08:35:00Z"));
    kpi.add_transfer(&transfer("529", "853", "2026-01-12T10:00:00Z"));
    // To Kaarina, which has no row: only Turku's "out" counts it.
    kpi.add_transfer(&transfer("853", "202", "2026-01-16T10:00:00Z"));
    kpi.finish()
}

fn times(count: u64, mean: f64, median: f64, p90: f64) -> TimeFigures {
    TimeFigures {
        count,
        mean: Some(mean),
        median: Some(median),
        p90: Some(p90),
    }
}

#[test]
fn turku_by_hand() {
    let report = fixture();
    let turku = report
        .municipalities
        .iter()
        .find(|f| f.organisation.as_deref() == Some("853"))
        .unwrap();
    assert_eq!(turku.contacts, 7);
    // Phone: contacts 1, 2, 3, 7.
    assert_eq!(
        turku.by_channel,
        ByChannel {
            phone: 4,
            chat: 1,
            email: 1,
            face_to_face: 0,
            e_service: 0,
            help_button: 1
        }
    );
    // Finnish: 1, 2, 4, 5, 6; Swedish: 3; English: 7.
    assert_eq!(turku.by_language, ByLanguage { fi: 5, sv: 1, en: 1 });
    assert_eq!(
        turku.outcomes,
        ByOutcome {
            resolved_first_contact: 4,
            referred_service_need_assessment: 1,
            transferred: 1,
            open: 1
        }
    );
    // A final outcome: 7 − 1 open = 6. 4/6 = 0.6667, 1/6 = 0.1667.
    assert_eq!(turku.first_contact_resolution_rate, Some(0.6667));
    assert_eq!(turku.referral_rate, Some(0.1667));
    // Answered: 3 5 9 12 40 7200 (n = 6): median rank ⌈3⌉ = 3 → 9; p90 rank ⌈5.4⌉ = 6 → 7200;
    // mean 7269 / 6 = 1211.5.
    assert_eq!(turku.answer_time_s, times(6, 1211.5, 9.0, 7200.0));
    // Phone: 3 5 9 12: median rank 2 → 5; p90 rank ⌈3.6⌉ = 4 → 12; mean 29 / 4 = 7.25.
    assert_eq!(turku.phone_answer_time_s, times(4, 7.25, 5.0, 12.0));
    // Closed: 180 300 420 600 900 86400: median rank 3 → 420; p90 rank 6 → 86400; mean 88800 / 6 = 14800.
    assert_eq!(turku.handling_time_s, times(6, 14800.0, 420.0, 86400.0));
    // Out: to Naantali and to Kaarina; in: from Naantali.
    assert_eq!(turku.transfers, TransferCounts { out: 2, into: 1 });
}

#[test]
fn naantali_by_hand() {
    let report = fixture();
    let naantali = report
        .municipalities
        .iter()
        .find(|f| f.organisation.as_deref() == Some("529"))
        .unwrap();
    assert_eq!(naantali.contacts, 5);
    assert_eq!(
        naantali.by_channel,
        ByChannel {
            phone: 3,
            chat: 0,
            email: 0,
            face_to_face: 1,
            e_service: 1,
            help_button: 0
        }
    );
    assert_eq!(naantali.by_language, ByLanguage { fi: 3, sv: 2, en: 0 });
    // Final outcomes: 5 − 1 open = 4: 3/4 resolved, 1/4 referred.
    assert_eq!(naantali.first_contact_resolution_rate, Some(0.75));
    assert_eq!(naantali.referral_rate, Some(0.25));
    // Answered: 0 8 10 20 600 (n = 5): median rank ⌈2.5⌉ = 3 → 10; p90 rank ⌈4.5⌉ = 5 → 600; mean 638 / 5 = 127.6.
    assert_eq!(naantali.answer_time_s, times(5, 127.6, 10.0, 600.0));
    // Phone: 8 10 20: median rank ⌈1.5⌉ = 2 → 10; p90 rank ⌈2.7⌉ = 3 → 20; mean 38 / 3 = 12.667.
    assert_eq!(naantali.phone_answer_time_s, times(3, 12.667, 10.0, 20.0));
    // Closed: 120 240 360 1800: median rank 2 → 240; p90 rank ⌈3.6⌉ = 4 → 1800; mean 2520 / 4 = 630.
    assert_eq!(naantali.handling_time_s, times(4, 630.0, 240.0, 1800.0));
    assert_eq!(naantali.transfers, TransferCounts { out: 1, into: 1 });
}

#[test]
fn total_by_hand() {
    let report = fixture();
    let total = &report.total;
    assert_eq!(total.organisation, None);
    assert_eq!(total.contacts, 12);
    assert_eq!(
        total.by_channel,
        ByChannel {
            phone: 7,
            chat: 1,
            email: 1,
            face_to_face: 1,
            e_service: 1,
            help_button: 1
        }
    );
    assert_eq!(total.by_language, ByLanguage { fi: 8, sv: 3, en: 1 });
    // Final outcomes: 12 − 2 open = 10: 7 resolved, 2 referred, 1 transferred.
    assert_eq!(total.first_contact_resolution_rate, Some(0.7));
    assert_eq!(total.referral_rate, Some(0.2));
    // 0 3 5 8 9 10 12 20 40 600 7200 (n = 11): median rank ⌈5.5⌉ = 6 → 10; p90 rank ⌈9.9⌉ = 10 → 600;
    // mean 7907 / 11 = 718.818.
    assert_eq!(total.answer_time_s, times(11, 718.818, 10.0, 600.0));
    // Phone: 3 5 8 9 10 12 20 (n = 7): median rank 4 → 9; p90 rank ⌈6.3⌉ = 7 → 20; mean 67 / 7 = 9.571.
    assert_eq!(total.phone_answer_time_s, times(7, 9.571, 9.0, 20.0));
    // 120 180 240 300 360 420 600 900 1800 86400: median rank 5 → 360; p90 rank 9 → 1800; mean 91320 / 10.
    assert_eq!(total.handling_time_s, times(10, 9132.0, 360.0, 1800.0));
    // Each transfer once per direction among the rows: out 853→529, 529→853, 853→202; in the first two.
    assert_eq!(total.transfers, TransferCounts { out: 3, into: 2 });
}

#[test]
fn weeks_and_answer_time_buckets_by_hand() {
    let report = fixture();
    let weeks: Vec<(&str, u64)> = report
        .contacts_per_week
        .iter()
        .map(|w| (w.week.as_str(), w.contacts))
        .collect();
    // Week 2 (5–11 Jan): contacts 1 2 3 4 8 9; week 3 (12–18 Jan): 5 6 7 10 11 12.
    assert_eq!(weeks, [("2026-W02", 6), ("2026-W03", 6)]);
    assert_eq!(report.contacts_per_week[0].starts.to_string(), "2026-01-05");
    let buckets: Vec<(&str, u64)> = report
        .answer_time_distribution
        .iter()
        .map(|b| (b.label.as_str(), b.contacts))
        .collect();
    assert_eq!(
        buckets,
        [
            ("< 10 s", 5),  // 0 3 5 8 9
            ("10–30 s", 3), // 10 12 20
            ("30–60 s", 1), // 40
            ("1–2 min", 0),
            ("2–5 min", 0),
            ("5–15 min", 1), // 600
            ("15–60 min", 0),
            ("1–4 h", 1), // 7200
            ("4–24 h", 0),
            ("≥ 1 d", 0),
        ]
    );
    assert_eq!(report.answer_time_distribution[9].to_s, None);
    assert_eq!(report.answer_time_distribution[1].from_s, 10);
}

#[test]
fn an_empty_period_has_rows_without_rates_and_zero_weeks() {
    // Helsinki days 1 June (Monday) – 14 June 2026, summer time (UTC+3).
    let report = KpiBuilder::new(&["853".into()], t("2026-05-31T21:00:00Z"), t("2026-06-14T21:00:00Z")).finish();
    assert_eq!(report.municipalities.len(), 1);
    let row = &report.municipalities[0];
    assert_eq!(row.contacts, 0);
    assert_eq!(row.first_contact_resolution_rate, None);
    assert_eq!(row.answer_time_s, TimeFigures::default());
    let weeks: Vec<&str> = report.contacts_per_week.iter().map(|w| w.week.as_str()).collect();
    assert_eq!(weeks, ["2026-W23", "2026-W24"]);
}

#[test]
fn a_handled_case_of_another_organiser_gets_its_own_row() {
    let mut kpi = KpiBuilder::new(&["853".into()], t("2026-01-04T22:00:00Z"), t("2026-01-18T22:00:00Z"));
    kpi.add_contact(&contact(
        "680",
        Channel::Phone,
        Language::Fi,
        "2026-01-05T08:00:00Z",
        Some(4),
        None,
        Outcome::Open,
    ));
    let report = kpi.finish();
    let orgs: Vec<_> = report
        .municipalities
        .iter()
        .map(|f| f.organisation.clone().unwrap())
        .collect();
    assert_eq!(orgs, ["680", "853"]);
    // Only open contacts: no final outcome, no rate.
    assert_eq!(report.total.first_contact_resolution_rate, None);
    assert_eq!(report.total.answer_time_s.median, Some(4.0));
}

#[test]
fn nearest_rank_percentiles() {
    assert_eq!(nearest_rank(&[], 50), None);
    assert_eq!(nearest_rank(&[7], 50), Some(7));
    assert_eq!(nearest_rank(&[7], 90), Some(7));
    // n = 10: p50 rank 5, p90 rank 9, p100 rank 10.
    let ten: Vec<i64> = (1..=10).collect();
    assert_eq!(nearest_rank(&ten, 50), Some(5));
    assert_eq!(nearest_rank(&ten, 90), Some(9));
    assert_eq!(nearest_rank(&ten, 100), Some(10));
    assert_eq!(nearest_rank(&ten, 0), Some(1));
}
