//! The disclosure report a client is entitled to (Act 703/2023 on client data in social welfare
//! and health care, § 11): who used or received their data through Portti, when, for what and
//! with what outcome — in words an official can hand over, in Finnish or Swedish.

use super::AuditRecord;
use crate::case::holidays::helsinki_local;
use crate::case::{Language, OrganisationRegistry};
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};
use serde::Serialize;
use utoipa::ToSchema;

/// Most entries one report holds; a longer history is asked for in shorter periods.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DisclosureReport {
    /// The person the report is about, as the official asked for it.
    pub identity_code: String,
    pub language: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// The organisations whose records the report covers.
    pub organisations: Vec<String>,
    pub generated_at: DateTime<Utc>,
    /// True when the period held more than [`MAX_ENTRIES`] entries and the rest were left out.
    pub truncated: bool,
    pub entries: Vec<DisclosureEntry>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DisclosureEntry {
    pub time: DateTime<Utc>,
    /// Organisation code and name in the report's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation_name: Option<String>,
    /// The system (API client) that made the request, and the professional if it said so.
    pub system: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The national service the data went to or came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    pub action: String,
    /// What happened, in the report's language.
    pub description: String,
    /// Whether data was handed to someone outside the organisation (a national service or
    /// another organisation), as opposed to used within it.
    pub disclosure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    pub outcome: String,
    pub outcome_text: String,
    /// Where this entry sits in the hash-chained trail, so an auditor can verify it.
    pub audit_seq: i64,
}

/// Builds the report from the person's audit records (oldest first).
pub fn build(
    identity_code: &str,
    language: Language,
    period: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    organisations: Vec<String>,
    records: &[AuditRecord],
    truncated: bool,
    registry: &OrganisationRegistry,
) -> DisclosureReport {
    let sv = language == Language::Sv;
    let entries = records
        .iter()
        .map(|r| {
            let e = &r.event;
            let organisation_name = e
                .organisation
                .as_deref()
                .and_then(|code| registry.resolve(code))
                .map(|o| if sv { o.name_sv } else { o.name_fi });
            DisclosureEntry {
                time: e.time,
                organisation: e.organisation.clone(),
                organisation_name,
                system: e.actor.client_id.clone(),
                user: e.actor.end_user.clone(),
                role: e.actor.role.clone(),
                service: e.service.clone(),
                service_name: e.service.as_deref().map(|s| service_name(s, sv).to_string()),
                action: e.action.clone(),
                description: describe(&e.action, sv),
                disclosure: is_disclosure(&e.action, e.service.as_deref()),
                purpose: e.purpose.clone(),
                outcome: e.outcome.clone(),
                outcome_text: outcome_text(&e.outcome, sv).to_string(),
                audit_seq: r.seq,
            }
        })
        .collect();
    DisclosureReport {
        identity_code: identity_code.to_string(),
        language: language.code().to_string(),
        from: period.0,
        to: period.1,
        organisations,
        generated_at: Utc::now(),
        truncated,
        entries,
    }
}

fn is_disclosure(action: &str, service: Option<&str>) -> bool {
    service.is_some() || action == "case.transfer" || action.starts_with("webhook.")
}

fn service_name(service: &str, sv: bool) -> &str {
    match (service, sv) {
        ("suomifi-messages", false) => "Suomi.fi-viestit",
        ("suomifi-messages", true) => "Suomi.fi-meddelanden",
        ("kanta", false) => "Kanta, sosiaalihuollon asiakastiedon arkisto",
        ("kanta", true) => "Kanta, klientdataarkivet för socialvården",
        ("suomifi-identification", false) => "Suomi.fi-tunnistus",
        ("suomifi-identification", true) => "Suomi.fi-identifikation",
        ("suomifi-mandates", false) => "Suomi.fi-valtuudet",
        ("suomifi-mandates", true) => "Suomi.fi-fullmakter",
        ("oda", false) => "Omaolo",
        ("oda", true) => "Omaolo",
        (other, _) => other,
    }
}

/// The action in plain words; an action this table does not know is shown by its name.
fn describe(action: &str, sv: bool) -> String {
    let (fi, sv_text) = match action {
        "case.create" => ("Yhteydenotto kirjattiin", "Kontakten registrerades"),
        "case.read" => ("Asiakastietoja katsottiin", "Klientuppgifterna visades"),
        "case.list" => (
            "Asiakastiedot näkyivät hakutuloksessa",
            "Klientuppgifterna visades i en sökning",
        ),
        "case.update" => ("Asiakastietoja päivitettiin", "Klientuppgifterna uppdaterades"),
        "case.transfer" => (
            "Asia siirrettiin toisen organisaation palveluohjaukseen",
            "Ärendet överfördes till en annan organisations servicehandledning",
        ),
        "message.send" => ("Viesti lähetettiin", "Ett meddelande skickades"),
        "exchange.accept" => (
            "Tietojen välitys kansalliseen palveluun aloitettiin",
            "Överföringen till en nationell tjänst inleddes",
        ),
        "exchange.attempt" => (
            "Tietoja välitettiin kansalliseen palveluun",
            "Uppgifter överfördes till en nationell tjänst",
        ),
        "exchange.event" => (
            "Kansallinen palvelu ilmoitti välityksen tilasta",
            "Den nationella tjänsten meddelade överföringens status",
        ),
        "exchange.read" => ("Välityksen tietoja katsottiin", "Överföringens uppgifter visades"),
        "exchange.retry" => ("Välitystä yritettiin uudelleen", "Överföringen försöktes på nytt"),
        "exchange.lease" | "exchange.postpone" => ("Välitys ajastettiin", "Överföringen schemalades"),
        "kanta.archive" | "kanta.document" => ("Asiakirja arkistoitiin Kantaan", "Ett dokument arkiverades i Kanta"),
        "kanta.invalidate" => (
            "Kantaan arkistoitu asiakirja mitätöitiin",
            "Ett dokument i Kanta makulerades",
        ),
        "kanta.search" => ("Asiakirjoja haettiin Kannasta", "Dokument söktes i Kanta"),
        "kanta.fetch" => ("Asiakirja haettiin Kannasta", "Ett dokument hämtades från Kanta"),
        "mandates.check" => ("Valtuus tarkistettiin", "En fullmakt kontrollerades"),
        "saml.login" => ("Henkilö tunnistautui", "Personen identifierade sig"),
        "saml.login_request" => ("Tunnistautuminen aloitettiin", "Identifieringen inleddes"),
        "saml.logout" => ("Henkilö kirjautui ulos", "Personen loggade ut"),
        "oda.status" => (
            "Omaolo-arvion käsittelytila päivitettiin",
            "Behandlingsstatus för Omaolo-bedömningen uppdaterades",
        ),
        "oda.reply" => ("Omaolo-arvioon vastattiin", "Omaolo-bedömningen besvarades"),
        "audit.query" => ("Lokitietoja tarkasteltiin", "Loggdata granskades"),
        "audit.export" => ("Lokitietoja vietiin", "Loggdata exporterades"),
        "audit.disclosure_report" => (
            "Tämä luovutusselvitys laadittiin",
            "Denna utredning om utlämnanden upprättades",
        ),
        "webhook.case_transferred" => (
            "Siirtoilmoitus lähetettiin vastaanottavan organisaation järjestelmään",
            "Ett överföringsmeddelande skickades till den mottagande organisationens system",
        ),
        other => return other.to_string(),
    };
    if sv { sv_text } else { fi }.to_string()
}

fn outcome_text(outcome: &str, sv: bool) -> &str {
    match (outcome, sv) {
        ("ok" | "succeeded" | "delivered", false) => "onnistui",
        ("ok" | "succeeded" | "delivered", true) => "lyckades",
        ("accepted" | "in_flight" | "retry_scheduled", false) => "käsittelyssä",
        ("accepted" | "in_flight" | "retry_scheduled", true) => "under behandling",
        ("replayed", false) => "toistettu",
        ("replayed", true) => "upprepad",
        ("denied" | "forbidden", false) => "estettiin",
        ("denied" | "forbidden", true) => "nekades",
        ("not_found", false) => "ei löytynyt",
        ("not_found", true) => "hittades inte",
        (_, false) => "epäonnistui",
        (_, true) => "misslyckades",
    }
}

struct Texts {
    title: &'static str,
    intro: &'static str,
    person: &'static str,
    period: &'static str,
    whole_history: &'static str,
    organisations: &'static str,
    generated: &'static str,
    time: &'static str,
    organisation: &'static str,
    system: &'static str,
    service: &'static str,
    what: &'static str,
    purpose: &'static str,
    outcome: &'static str,
    disclosure: &'static str,
    none: &'static str,
    truncated: &'static str,
    basis: &'static str,
}

const FI: Texts = Texts {
    title: "Selvitys asiakastietojen käytöstä ja luovutuksista",
    intro: "Tässä selvityksessä ovat kaikki Portti-palvelun kautta tapahtuneet tietojesi käsittelyt ja luovutukset valitulta ajalta.",
    person: "Henkilötunnus",
    period: "Ajanjakso",
    whole_history: "koko tallennettu historia",
    organisations: "Organisaatiot",
    generated: "Laadittu",
    time: "Aika",
    organisation: "Organisaatio",
    system: "Järjestelmä ja käyttäjä",
    service: "Kansallinen palvelu",
    what: "Tapahtuma",
    purpose: "Käyttötarkoitus",
    outcome: "Tulos",
    disclosure: "luovutus",
    none: "Valitulta ajalta ei ole merkintöjä.",
    truncated: "Ajanjaksolla on enemmän merkintöjä kuin yhteen selvitykseen mahtuu; pyydä lyhyempi ajanjakso.",
    basis: "Laki sosiaali- ja terveydenhuollon asiakastietojen käsittelystä (703/2023), 11 §.",
};

const SV: Texts = Texts {
    title: "Utredning om användning och utlämnande av klientuppgifter",
    intro: "Denna utredning innehåller all behandling och alla utlämnanden av dina uppgifter via tjänsten Portti under den valda perioden.",
    person: "Personbeteckning",
    period: "Period",
    whole_history: "hela den sparade historiken",
    organisations: "Organisationer",
    generated: "Upprättad",
    time: "Tid",
    organisation: "Organisation",
    system: "System och användare",
    service: "Nationell tjänst",
    what: "Händelse",
    purpose: "Ändamål",
    outcome: "Resultat",
    disclosure: "utlämnande",
    none: "Inga anteckningar under den valda perioden.",
    truncated: "Perioden har fler anteckningar än en utredning rymmer; begär en kortare period.",
    basis: "Lagen om behandling av klientuppgifter inom social- och hälsovården (703/2023), 11 §.",
};

fn local(t: DateTime<Utc>) -> String {
    helsinki_local(t).format("%-d.%-m.%Y %H:%M:%S").to_string()
}

/// A printable page (no external assets: it is handed to the client as it is).
pub fn render_html(report: &DisclosureReport) -> String {
    let t = if report.language == "sv" { &SV } else { &FI };
    let period = match (report.from, report.to) {
        (None, None) => t.whole_history.to_string(),
        (from, to) => format!(
            "{} – {}",
            from.map(local).unwrap_or_default(),
            to.map(local).unwrap_or_default()
        ),
    };
    let page: Markup = html! {
        (DOCTYPE)
        html lang=(report.language) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (t.title) }
                style { (STYLE) }
            }
            body {
                main {
                    h1 { (t.title) }
                    p { (t.intro) }
                    dl {
                        dt { (t.person) } dd { (report.identity_code) }
                        dt { (t.period) } dd { (period) }
                        dt { (t.organisations) } dd { (report.organisations.join(", ")) }
                        dt { (t.generated) } dd { (local(report.generated_at)) }
                    }
                    @if report.truncated { p.warning role="alert" { (t.truncated) } }
                    @if report.entries.is_empty() {
                        p { (t.none) }
                    } @else {
                        table {
                            thead { tr {
                                th scope="col" { (t.time) }
                                th scope="col" { (t.organisation) }
                                th scope="col" { (t.system) }
                                th scope="col" { (t.service) }
                                th scope="col" { (t.what) }
                                th scope="col" { (t.purpose) }
                                th scope="col" { (t.outcome) }
                            } }
                            tbody {
                                @for e in &report.entries {
                                    tr {
                                        td { (local(e.time)) }
                                        td {
                                            @if let Some(name) = &e.organisation_name { (name) " " }
                                            @if let Some(code) = &e.organisation { "(" (code) ")" }
                                        }
                                        td {
                                            (e.system)
                                            @if let Some(user) = &e.user { br; (user) }
                                            @if let Some(role) = &e.role { ", " (role) }
                                        }
                                        td { @if let Some(name) = &e.service_name { (name) } }
                                        td {
                                            (e.description)
                                            @if e.disclosure { " " span.tag { (t.disclosure) } }
                                        }
                                        td { @if let Some(p) = &e.purpose { (p) } }
                                        td { (e.outcome_text) }
                                    }
                                }
                            }
                        }
                    }
                    p.basis { (t.basis) }
                }
            }
        }
    };
    page.into_string()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#111}\
table{border-collapse:collapse;width:100%;font-size:.9rem}\
th,td{border:1px solid #999;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#eee}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}\
dt{font-weight:bold}.tag{font-size:.75rem;border:1px solid #555;padding:0 .25rem}\
.warning{border:2px solid #b00;padding:.5rem}.basis{font-size:.8rem;margin-top:2rem}\
@media print{body{margin:0}th{background:none}}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{seal, Actor, AuditEvent, ChainHead};

    fn record(action: &str, service: Option<&str>, outcome: &str) -> AuditRecord {
        let mut head = ChainHead::default();
        seal(
            &mut head,
            AuditEvent {
                time: "2026-03-02T10:00:00Z".parse().unwrap(),
                actor: Actor {
                    client_id: "ohjaus<script>".into(),
                    end_user: Some("tt-4711".into()),
                    role: Some("palveluohjaaja".into()),
                },
                action: action.into(),
                purpose: Some("palveluohjaus".into()),
                person: None,
                organisation: Some("853".into()),
                service: service.map(str::to_string),
                exchange_id: None,
                outcome: outcome.into(),
                request_digest: None,
                response_digest: None,
                correlation_id: "r".into(),
            },
        )
    }

    #[test]
    fn entries_are_described_in_the_requested_language() {
        let registry = OrganisationRegistry::new([]);
        let records = [
            record("message.send", Some("suomifi-messages"), "ok"),
            record("case.read", None, "denied"),
        ];
        let fi = build(
            "131052-308T",
            Language::Fi,
            (None, None),
            vec!["853".into()],
            &records,
            false,
            &registry,
        );
        assert_eq!(fi.entries[0].description, "Viesti lähetettiin");
        assert_eq!(fi.entries[0].service_name.as_deref(), Some("Suomi.fi-viestit"));
        assert!(fi.entries[0].disclosure);
        assert!(!fi.entries[1].disclosure);
        assert_eq!(fi.entries[1].outcome_text, "estettiin");
        assert_eq!(fi.entries[0].organisation_name.as_deref(), Some("Turku"));
        let sv = build(
            "131052-308T",
            Language::Sv,
            (None, None),
            vec!["853".into()],
            &records,
            false,
            &registry,
        );
        assert_eq!(sv.entries[0].description, "Ett meddelande skickades");
        assert_eq!(sv.entries[0].organisation_name.as_deref(), Some("Åbo"));
        assert_eq!(sv.entries[1].outcome_text, "nekades");
    }

    #[test]
    fn the_page_is_escaped_localised_and_self_contained() {
        let registry = OrganisationRegistry::new([]);
        let records = [record("kanta.archive", Some("kanta"), "ok")];
        let report = build(
            "131052-308T",
            Language::Sv,
            (None, None),
            vec!["853".into()],
            &records,
            true,
            &registry,
        );
        let page = render_html(&report);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("lang=\"sv\""));
        assert!(page.contains("ohjaus&lt;script&gt;"));
        assert!(!page.contains("<script"));
        assert!(page.contains("2.3.2026 12:00:00"), "Helsinki time");
        assert!(page.contains("Ett dokument arkiverades i Kanta"));
        assert!(page.contains("utlämnande"));
        assert!(page.contains("role=\"alert\""));
        assert!(!page.contains("http"), "no external assets");
    }
}
