//! Key figures of service guidance over a period, per municipality (the case's organiser)
//! and in total, as the KomPAssi pilot measured them.
//!
//! - **First-contact resolution rate** = contacts resolved on the first contact / contacts with
//!   a final outcome (resolved, referred to a service need assessment, or transferred). The
//!   pilot's 89 % and 11 % add up to 100 % of n = 1581: its denominator was the contacts that
//!   had come to an end, so open contacts (still being handled) are left out of both rates and
//!   counted on their own under `outcomes.open`.
//! - **Referral rate** = contacts referred to a service need assessment / the same denominator.
//! - **Answer time** = `answered_at − received_at` of answered contacts; **handling time** =
//!   `closed_at − received_at` of closed ones. Median and 90th percentile by the nearest-rank
//!   method (the value at rank ⌈p/100 · n⌉ of the sorted times, so always an observed time; the
//!   median of an even count is the lower middle one), and the mean, which is what the pilot
//!   reported for phone calls (9 s): hence also `phone_answer_time_s`.
//! - **Transfers** made in the period, out of and into each organisation (as handler).
//!
//! Pure code: the store hands in the facts, this module counts.

use crate::case::holidays::helsinki_local;
use crate::case::{Channel, Language, Outcome};
use crate::store::{ContactFacts, TransferFacts};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Upper bounds (exclusive, seconds) of the answer-time distribution's buckets; the last
/// bucket is open. Wide on purpose: a phone call is answered in seconds, an e-mail in hours.
pub const ANSWER_TIME_BOUNDS_S: [u64; 9] = [10, 30, 60, 120, 300, 900, 3_600, 14_400, 86_400];

/// The buckets' labels, in order.
pub const ANSWER_TIME_LABELS: [&str; 10] = [
    "< 10 s",
    "10–30 s",
    "30–60 s",
    "1–2 min",
    "2–5 min",
    "5–15 min",
    "15–60 min",
    "1–4 h",
    "4–24 h",
    "≥ 1 d",
];

/// Contacts by channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ByChannel {
    pub phone: u64,
    pub chat: u64,
    pub email: u64,
    pub face_to_face: u64,
    pub e_service: u64,
    pub help_button: u64,
}

/// Contacts by language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ByLanguage {
    pub fi: u64,
    pub sv: u64,
    pub en: u64,
}

/// Contacts by their outcome now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ByOutcome {
    pub resolved_first_contact: u64,
    pub referred_service_need_assessment: u64,
    pub transferred: u64,
    pub open: u64,
}

/// Statistics of a set of durations, in seconds (millisecond precision); absent when `count` is 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct TimeFigures {
    pub count: u64,
    pub mean: Option<f64>,
    /// Nearest-rank 50th percentile.
    pub median: Option<f64>,
    /// Nearest-rank 90th percentile.
    pub p90: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransferCounts {
    pub out: u64,
    #[serde(rename = "in")]
    pub into: u64,
}

/// The key figures of one organisation, or of all of them (`organisation` absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "853")]
    pub organisation: Option<String>,
    /// The organisation's Finnish name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub contacts: u64,
    pub by_channel: ByChannel,
    pub by_language: ByLanguage,
    pub outcomes: ByOutcome,
    /// Resolved on the first contact / contacts with a final outcome (not open); 4 decimals.
    pub first_contact_resolution_rate: Option<f64>,
    /// Referred to a service need assessment / contacts with a final outcome; 4 decimals.
    pub referral_rate: Option<f64>,
    pub answer_time_s: TimeFigures,
    /// Answer time of phone contacts alone (the pilot's measure).
    pub phone_answer_time_s: TimeFigures,
    pub handling_time_s: TimeFigures,
    pub transfers: TransferCounts,
}

/// Contacts received in one ISO week (Helsinki time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WeekCount {
    #[schema(example = "2026-W02")]
    pub week: String,
    /// The week's Monday.
    pub starts: NaiveDate,
    pub contacts: u64,
}

/// Answered contacts whose answer time is in `[from_s, to_s)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AnswerTimeBucket {
    pub from_s: u64,
    /// Absent for the last, open bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_s: Option<u64>,
    #[schema(example = "10–30 s")]
    pub label: String,
    pub contacts: u64,
}

/// The whole report: a row per organisation, the total, and the series the charts draw.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KpiReport {
    pub municipalities: Vec<Figures>,
    pub total: Figures,
    /// Every ISO week the period touches, in order, with zero weeks included.
    pub contacts_per_week: Vec<WeekCount>,
    pub answer_time_distribution: Vec<AnswerTimeBucket>,
}

#[derive(Default)]
struct Tally {
    contacts: u64,
    by_channel: ByChannel,
    by_language: ByLanguage,
    outcomes: ByOutcome,
    answer_ms: Vec<i64>,
    phone_answer_ms: Vec<i64>,
    handling_ms: Vec<i64>,
    transfers: TransferCounts,
}

impl Tally {
    fn add(&mut self, c: &ContactFacts) {
        self.contacts += 1;
        let ch = &mut self.by_channel;
        *match c.channel {
            Channel::Phone => &mut ch.phone,
            Channel::Chat => &mut ch.chat,
            Channel::Email => &mut ch.email,
            Channel::FaceToFace => &mut ch.face_to_face,
            Channel::EService => &mut ch.e_service,
            Channel::HelpButton => &mut ch.help_button,
        } += 1;
        let l = &mut self.by_language;
        *match c.language {
            Language::Fi => &mut l.fi,
            Language::Sv => &mut l.sv,
            Language::En => &mut l.en,
        } += 1;
        let o = &mut self.outcomes;
        *match c.outcome {
            Outcome::ResolvedFirstContact => &mut o.resolved_first_contact,
            Outcome::ReferredServiceNeedAssessment => &mut o.referred_service_need_assessment,
            Outcome::Transferred => &mut o.transferred,
            Outcome::Open => &mut o.open,
        } += 1;
        if let Some(ms) = answer_ms(c) {
            self.answer_ms.push(ms);
            if c.channel == Channel::Phone {
                self.phone_answer_ms.push(ms);
            }
        }
        if let Some(closed) = c.closed_at {
            let ms = (closed - c.received_at).num_milliseconds();
            if ms >= 0 {
                self.handling_ms.push(ms);
            }
        }
    }

    fn figures(mut self, organisation: Option<String>) -> Figures {
        let o = &self.outcomes;
        let concluded = o.resolved_first_contact + o.referred_service_need_assessment + o.transferred;
        Figures {
            organisation,
            name: None,
            contacts: self.contacts,
            first_contact_resolution_rate: rate(o.resolved_first_contact, concluded),
            referral_rate: rate(o.referred_service_need_assessment, concluded),
            by_channel: self.by_channel,
            by_language: self.by_language,
            outcomes: self.outcomes,
            answer_time_s: time_figures(&mut self.answer_ms),
            phone_answer_time_s: time_figures(&mut self.phone_answer_ms),
            handling_time_s: time_figures(&mut self.handling_ms),
            transfers: self.transfers,
        }
    }
}

fn answer_ms(c: &ContactFacts) -> Option<i64> {
    let ms = (c.answered_at? - c.received_at).num_milliseconds();
    (ms >= 0).then_some(ms)
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

/// The value at rank ⌈p/100 · n⌉ (1-based) of the sorted values.
pub fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (p as usize * n).div_ceil(100).max(1);
    Some(sorted[rank.min(n) - 1])
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn time_figures(ms: &mut [i64]) -> TimeFigures {
    ms.sort_unstable();
    let count = ms.len() as u64;
    let mean = (count > 0).then(|| {
        let sum: i128 = ms.iter().map(|&v| i128::from(v)).sum();
        (sum as f64 / count as f64).round() / 1000.0
    });
    TimeFigures {
        count,
        mean,
        median: nearest_rank(ms, 50).map(seconds),
        p90: nearest_rank(ms, 90).map(seconds),
    }
}

/// Counts contacts and transfers into a [`KpiReport`]. Every organisation asked about gets
/// a row, even without contacts; an organiser of a case one of them handled gets one too.
pub struct KpiBuilder {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rows: BTreeMap<String, Tally>,
    total: Tally,
    weeks: BTreeMap<NaiveDate, u64>,
    answer_buckets: [u64; ANSWER_TIME_BOUNDS_S.len() + 1],
    transfers: Vec<TransferFacts>,
}

impl KpiBuilder {
    /// A report on `[from, to)` for these organisations.
    pub fn new(organisations: &[String], from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            from,
            to,
            rows: organisations.iter().map(|o| (o.clone(), Tally::default())).collect(),
            total: Tally::default(),
            weeks: BTreeMap::new(),
            answer_buckets: Default::default(),
            transfers: Vec::new(),
        }
    }

    /// Counts a contact (received in the period: the store's query sees to that).
    pub fn add_contact(&mut self, c: &ContactFacts) {
        self.rows.entry(c.organiser.clone()).or_default().add(c);
        self.total.add(c);
        *self
            .weeks
            .entry(week_start(helsinki_local(c.received_at).date()))
            .or_default() += 1;
        if let Some(ms) = answer_ms(c) {
            let s = (ms / 1000) as u64;
            let i = ANSWER_TIME_BOUNDS_S
                .iter()
                .position(|&b| s < b)
                .unwrap_or(ANSWER_TIME_BOUNDS_S.len());
            self.answer_buckets[i] += 1;
        }
    }

    /// Counts a transfer out of and into the organisations that have a row; the total counts
    /// each transfer once per direction, so it is the sum of the rows.
    pub fn add_transfer(&mut self, t: &TransferFacts) {
        self.transfers.push(t.clone());
    }

    pub fn finish(mut self) -> KpiReport {
        for t in std::mem::take(&mut self.transfers) {
            if let Some(row) = self.rows.get_mut(&t.from_org) {
                row.transfers.out += 1;
                self.total.transfers.out += 1;
            }
            if let Some(row) = self.rows.get_mut(&t.to_org) {
                row.transfers.into += 1;
                self.total.transfers.into += 1;
            }
        }
        let contacts_per_week = self.week_series();
        let answer_time_distribution = self
            .answer_buckets
            .iter()
            .enumerate()
            .map(|(i, &contacts)| {
                let from_s = if i == 0 { 0 } else { ANSWER_TIME_BOUNDS_S[i - 1] };
                let to_s = ANSWER_TIME_BOUNDS_S.get(i).copied();
                AnswerTimeBucket {
                    from_s,
                    to_s,
                    label: ANSWER_TIME_LABELS[i].to_string(),
                    contacts,
                }
            })
            .collect();
        KpiReport {
            municipalities: self
                .rows
                .into_iter()
                .map(|(org, tally)| tally.figures(Some(org)))
                .collect(),
            total: self.total.figures(None),
            contacts_per_week,
            answer_time_distribution,
        }
    }

    fn week_series(&self) -> Vec<WeekCount> {
        let first = week_start(helsinki_local(self.from).date());
        let last_instant = if self.to > self.from {
            self.to - Duration::milliseconds(1)
        } else {
            self.from
        };
        let last = week_start(helsinki_local(last_instant).date());
        let mut out = Vec::new();
        let mut monday = first;
        while monday <= last {
            let iso = monday.iso_week();
            out.push(WeekCount {
                week: format!("{}-W{:02}", iso.year(), iso.week()),
                starts: monday,
                contacts: self.weeks.get(&monday).copied().unwrap_or(0),
            });
            monday += Duration::days(7);
        }
        out
    }
}

fn week_start(date: NaiveDate) -> NaiveDate {
    date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
}

#[cfg(test)]
mod tests;
