//! `GET /help` and `POST /help`: the "ask for help" button's own page, in Finnish or Swedish.
//!
//! A plain HTML form that works without JavaScript, with no external assets (inline CSS only).
//! Labels are bound to their inputs, required fields say so in words, each error is shown next
//! to its field and tied to it with `aria-describedby`, and a summary at the top links to them.
//! The honeypot field is off-screen, `aria-hidden`, out of the tab order and not autofilled.
//! Everything echoed is HTML-escaped. The post goes through [`super::help::submit`], the same
//! path as `POST /v1/help-requests`.

use super::extract::{FormBody, QueryParams};
use super::help::{peer_ip, submit, Refusal};
use super::layers::RequestId;
use super::problem::retry_after_seconds;
use super::AppState;
use crate::audit::digest;
use crate::case::help::{self, HelpField, HelpFieldError, HelpRequestInput, MESSAGE_CHARS};
use crate::case::municipality::{self, Municipality};
use crate::case::{holidays, Language};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Datelike, Timelike, Utc};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

/// The texts of the page in one language.
struct Texts {
    lang: &'static str,
    other_lang: &'static str,
    other_lang_name: &'static str,
    title: &'static str,
    intro: &'static str,
    required_note: &'static str,
    municipality: &'static str,
    municipality_hint: &'static str,
    message: &'static str,
    message_hint: &'static str,
    contact_legend: &'static str,
    contact_hint: &'static str,
    name: &'static str,
    phone: &'static str,
    callback_phone: &'static str,
    callback_hint: &'static str,
    email: &'static str,
    honeypot: &'static str,
    submit: &'static str,
    error_prefix: &'static str,
    summary: &'static str,
    refused: &'static str,
    thanks: &'static str,
    reference: &'static str,
    due: &'static str,
    at: &'static str,
    anonymous: &'static str,
    contacted: &'static str,
    again: &'static str,
    rate_limited: &'static str,
    unavailable: &'static str,
    weekdays: [&'static str; 7],
}

const FI: Texts = Texts {
    lang: "fi",
    other_lang: "sv",
    other_lang_name: "På svenska",
    title: "Pyydä apua",
    intro: "Voit jättää yhteydenottopyynnön ikäihmisten asiakasneuvontaan. Vastaamme seuraavana arkipäivänä.",
    required_note: "Pakolliset tiedot on merkitty sanalla (pakollinen).",
    municipality: "Kunta",
    municipality_hint: "Kunta, jossa apua tarvitaan, esimerkiksi Turku.",
    message: "Viesti",
    message_hint: "Kerro, missä asiassa tarvitset apua. Enintään 2000 merkkiä. Älä kirjoita viestiin henkilötunnusta.",
    contact_legend: "Yhteystiedot (vapaaehtoisia)",
    contact_hint: "Jos et anna yhteystietoja, emme voi ottaa sinuun yhteyttä.",
    name: "Nimi",
    phone: "Puhelinnumero",
    callback_phone: "Numero, johon soitamme takaisin",
    callback_hint: "Jos haluat, että soitamme toiseen numeroon, esimerkiksi omaisen.",
    email: "Sähköposti",
    honeypot: "Verkkosivusto (jätä tyhjäksi)",
    submit: "Lähetä pyyntö",
    error_prefix: "Virhe:",
    summary: "Tarkista seuraavat tiedot:",
    refused: "Pyyntöä ei voitu vastaanottaa.",
    thanks: "Kiitos, pyyntösi on vastaanotettu",
    reference: "Viitenumerosi on",
    due: "Vastaamme viimeistään",
    at: "klo",
    anonymous: "Et antanut yhteystietoja, joten emme voi ottaa sinuun yhteyttä. Voit soittaa asiakasneuvontaan ja kertoa viitenumeron.",
    contacted: "Otamme sinuun yhteyttä. Kerro viitenumero, jos otat itse yhteyttä asiakasneuvontaan.",
    again: "Tee uusi pyyntö",
    rate_limited: "Tästä osoitteesta on lähetetty monta pyyntöä lyhyessä ajassa. Yritä uudelleen",
    unavailable: "Palvelussa on häiriö, eikä pyyntöäsi tallennettu. Yritä hetken kuluttua uudelleen.",
    weekdays: [
        "maanantaina",
        "tiistaina",
        "keskiviikkona",
        "torstaina",
        "perjantaina",
        "lauantaina",
        "sunnuntaina",
    ],
};

const SV: Texts = Texts {
    lang: "sv",
    other_lang: "fi",
    other_lang_name: "Suomeksi",
    title: "Be om hjälp",
    intro: "Du kan lämna en kontaktbegäran till klientrådgivningen för äldre. Vi svarar följande vardag.",
    required_note: "Obligatoriska uppgifter är märkta med (obligatoriskt).",
    municipality: "Kommun",
    municipality_hint: "Kommunen där hjälpen behövs, till exempel Åbo.",
    message: "Meddelande",
    message_hint: "Berätta vad du behöver hjälp med. Högst 2000 tecken. Skriv inte din personbeteckning i meddelandet.",
    contact_legend: "Kontaktuppgifter (frivilliga)",
    contact_hint: "Om du inte lämnar kontaktuppgifter kan vi inte kontakta dig.",
    name: "Namn",
    phone: "Telefonnummer",
    callback_phone: "Nummer vi ringer tillbaka till",
    callback_hint: "Om du vill att vi ringer ett annat nummer, till exempel en anhörigs.",
    email: "E-post",
    honeypot: "Webbplats (lämna tomt)",
    submit: "Skicka begäran",
    error_prefix: "Fel:",
    summary: "Kontrollera följande uppgifter:",
    refused: "Begäran kunde inte tas emot.",
    thanks: "Tack, din begäran har tagits emot",
    reference: "Ditt referensnummer är",
    due: "Vi svarar senast",
    at: "kl.",
    anonymous: "Du lämnade inga kontaktuppgifter, så vi kan inte kontakta dig. Du kan ringa klientrådgivningen och uppge referensnumret.",
    contacted: "Vi kontaktar dig. Uppge referensnumret om du själv kontaktar klientrådgivningen.",
    again: "Gör en ny begäran",
    rate_limited: "Många begäranden har skickats från den här adressen på kort tid. Försök igen",
    unavailable: "Tjänsten har en störning och din begäran sparades inte. Försök igen om en stund.",
    weekdays: ["måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"],
};

fn texts(language: Language) -> &'static Texts {
    match language {
        Language::Sv => &SV,
        _ => &FI,
    }
}

/// Escapes text for HTML content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Only these characters pass into a URL's query unescaped.
fn query_value(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,Arial,sans-serif;font-size:1.125rem;\
line-height:1.5;color:#1a1a1a;background:#fff;margin:0}\
main{max-width:40rem;margin:0 auto;padding:1rem 1.25rem 3rem}\
h1{font-size:2rem;line-height:1.2}\
label,legend{display:block;font-weight:700;margin-top:1.25rem}\
.hint{color:#404040;margin:.25rem 0}\
.error{color:#b00020;font-weight:700;margin:.25rem 0}\
input[type=text],input[type=tel],input[type=email],textarea{display:block;box-sizing:border-box;width:100%;\
font:inherit;padding:.5rem;border:2px solid #1a1a1a;border-radius:4px}\
[aria-invalid=true]{border-color:#b00020;border-width:3px}\
input:focus,textarea:focus,button:focus,a:focus{outline:3px solid #0b5fff;outline-offset:2px}\
fieldset{border:0;padding:0;margin:1.5rem 0 0}\
button{font:inherit;font-weight:700;margin-top:1.5rem;padding:.75rem 1.5rem;border:0;border-radius:4px;\
background:#0b4f8a;color:#fff;cursor:pointer}\
.summary{border:3px solid #b00020;padding:.5rem 1rem;margin:1rem 0}\
.summary h2{font-size:1.25rem;margin:.5rem 0}\
.reference{font-size:1.5rem;font-weight:700;letter-spacing:.05em}\
.hp{position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden}";

fn page(t: &Texts, title: &str, switch_href: Option<String>, body: &str) -> String {
    let mut html = String::with_capacity(4096 + body.len());
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        lang = t.lang,
        title = esc(title),
    );
    if let Some(href) = switch_href {
        let _ = writeln!(
            html,
            "<p><a href=\"{href}\" lang=\"{other}\" hreflang=\"{other}\">{name}</a></p>",
            href = esc(&href),
            other = t.other_lang,
            name = t.other_lang_name,
        );
    }
    html.push_str(body);
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// What the form shows: the values typed so far and the problems with them.
#[derive(Default)]
struct FormState<'a> {
    input: HelpRequestInput,
    errors: &'a [HelpFieldError],
    /// The honeypot was filled in: only a general refusal is shown.
    refused: bool,
}

fn field_errors<'a>(state: &FormState<'a>, field: HelpField) -> Vec<&'a HelpFieldError> {
    state.errors.iter().filter(|e| e.field == field).collect()
}

fn label_text(t: &Texts, field: HelpField) -> &'static str {
    match field {
        HelpField::Municipality => t.municipality,
        HelpField::Language | HelpField::Message => t.message,
        HelpField::Name => t.name,
        HelpField::Phone => t.phone,
        HelpField::CallbackPhone => t.callback_phone,
        HelpField::Email => t.email,
        HelpField::Website => t.honeypot,
    }
}

/// One labelled input (or textarea) with its hint and errors tied to it.
/// One input of the form: which field, its HTML type (or `textarea`), whether it is required,
/// its hint, its autocomplete token and the value to show.
struct Input<'v> {
    field: HelpField,
    kind: &'static str,
    required: bool,
    hint: Option<&'static str>,
    autocomplete: &'static str,
    value: Option<&'v str>,
}

fn field(html: &mut String, t: &Texts, language: Language, state: &FormState<'_>, input: Input<'_>) {
    let Input {
        field,
        kind,
        required,
        hint,
        autocomplete,
        value,
    } = input;
    let id = field.name();
    let mut described = Vec::new();
    let _ = write!(
        html,
        "<div class=\"field\">\n<label for=\"{id}\">{}",
        label_text(t, field)
    );
    if required {
        let _ = write!(
            html,
            " {}",
            if language == Language::Sv {
                "(obligatoriskt)"
            } else {
                "(pakollinen)"
            }
        );
    }
    html.push_str("</label>\n");
    if let Some(hint) = hint {
        let _ = writeln!(html, "<p class=\"hint\" id=\"{id}-hint\">{}</p>", esc(hint));
        described.push(format!("{id}-hint"));
    }
    let errors = field_errors(state, field);
    if !errors.is_empty() {
        let _ = write!(html, "<p class=\"error\" id=\"{id}-error\">");
        for (i, e) in errors.iter().enumerate() {
            if i > 0 {
                html.push(' ');
            }
            let _ = write!(html, "<span>{} {}</span>", t.error_prefix, esc(&e.text(language)));
        }
        html.push_str("</p>\n");
        described.push(format!("{id}-error"));
    }
    let mut attrs = format!("id=\"{id}\" name=\"{id}\"");
    if required {
        attrs.push_str(" required");
    }
    if !autocomplete.is_empty() {
        let _ = write!(attrs, " autocomplete=\"{autocomplete}\"");
    }
    if !described.is_empty() {
        let _ = write!(attrs, " aria-describedby=\"{}\"", described.join(" "));
    }
    if !errors.is_empty() {
        attrs.push_str(" aria-invalid=\"true\"");
    }
    let value = esc(value.unwrap_or(""));
    if kind == "textarea" {
        let _ = writeln!(
            html,
            "<textarea {attrs} rows=\"8\" maxlength=\"{MESSAGE_CHARS}\">{value}</textarea>"
        );
    } else {
        let _ = writeln!(html, "<input type=\"{kind}\" {attrs} value=\"{value}\">");
    }
    html.push_str("</div>\n");
}

fn form_html(language: Language, state: &FormState<'_>) -> String {
    let t = texts(language);
    let input = &state.input;
    let resolved: Option<&Municipality> = input.municipality.as_deref().and_then(municipality::resolve);
    let municipality_name = resolved.map(|m| {
        if language == Language::Sv {
            &m.name_sv
        } else {
            &m.name_fi
        }
    });
    let title = match municipality_name {
        Some(name) => format!("{} – {name}", t.title),
        None => t.title.to_string(),
    };
    let mut body = String::new();
    let _ = writeln!(body, "<h1>{}</h1>\n<p>{}</p>", esc(&title), t.intro);

    if state.refused || !state.errors.is_empty() {
        let _ = writeln!(
            body,
            "<div class=\"summary\" role=\"alert\" aria-labelledby=\"summary-title\">\n<h2 id=\"summary-title\">{}</h2>",
            if state.refused { t.refused } else { t.summary }
        );
        if !state.errors.is_empty() {
            body.push_str("<ul>\n");
        }
        for e in state.errors {
            // The language travels in a hidden field; its problem is shown at the message.
            let target = match e.field {
                HelpField::Language => HelpField::Message,
                HelpField::Municipality if resolved.is_some() => HelpField::Message,
                f => f,
            };
            let _ = writeln!(
                body,
                "<li><a href=\"#{}\">{}: {}</a></li>",
                target.name(),
                label_text(t, e.field),
                esc(&e.text(language))
            );
        }
        if !state.errors.is_empty() {
            body.push_str("</ul>\n");
        }
        body.push_str("</div>\n");
    }

    let _ = writeln!(
        body,
        "<p>{}</p>\n<form method=\"post\" action=\"/help\" novalidate>\n\
         <input type=\"hidden\" name=\"language\" value=\"{}\">",
        t.required_note, t.lang
    );
    match (resolved, municipality_name) {
        (Some(m), Some(name)) if field_errors(state, HelpField::Municipality).is_empty() => {
            let _ = writeln!(
                body,
                "<input type=\"hidden\" name=\"municipality\" value=\"{}\">\n<p>{}: <strong>{}</strong></p>",
                esc(&m.code),
                t.municipality,
                esc(name)
            );
        }
        _ => field(
            &mut body,
            t,
            language,
            state,
            Input {
                field: HelpField::Municipality,
                kind: "text",
                required: true,
                hint: Some(t.municipality_hint),
                autocomplete: "address-level2",
                value: input.municipality.as_deref(),
            },
        ),
    }
    // A language error (only a tampered hidden field) is shown at the message.
    let language_errors: Vec<HelpFieldError> = state
        .errors
        .iter()
        .filter(|e| e.field == HelpField::Language)
        .map(|e| HelpFieldError {
            field: HelpField::Message,
            problem: e.problem.clone(),
        })
        .chain(state.errors.iter().filter(|e| e.field == HelpField::Message).cloned())
        .collect();
    let message_state = FormState {
        errors: &language_errors,
        ..FormState::default()
    };
    field(
        &mut body,
        t,
        language,
        &message_state,
        Input {
            field: HelpField::Message,
            kind: "textarea",
            required: true,
            hint: Some(t.message_hint),
            autocomplete: "",
            value: input.message.as_deref(),
        },
    );
    let _ = writeln!(
        body,
        "<fieldset aria-describedby=\"contact-hint\">\n<legend>{}</legend>\n<p class=\"hint\" id=\"contact-hint\">{}</p>",
        t.contact_legend, t.contact_hint
    );
    field(
        &mut body,
        t,
        language,
        state,
        Input {
            field: HelpField::Name,
            kind: "text",
            required: false,
            hint: None,
            autocomplete: "name",
            value: input.name.as_deref(),
        },
    );
    field(
        &mut body,
        t,
        language,
        state,
        Input {
            field: HelpField::Phone,
            kind: "tel",
            required: false,
            hint: None,
            autocomplete: "tel",
            value: input.phone.as_deref(),
        },
    );
    field(
        &mut body,
        t,
        language,
        state,
        Input {
            field: HelpField::CallbackPhone,
            kind: "tel",
            required: false,
            hint: Some(t.callback_hint),
            autocomplete: "off",
            value: input.callback_phone.as_deref(),
        },
    );
    field(
        &mut body,
        t,
        language,
        state,
        Input {
            field: HelpField::Email,
            kind: "email",
            required: false,
            hint: None,
            autocomplete: "email",
            value: input.email.as_deref(),
        },
    );
    body.push_str("</fieldset>\n");
    // The honeypot: people never see it; robots that fill in every field do.
    let _ = writeln!(
        body,
        "<div class=\"hp\" aria-hidden=\"true\">\n<label for=\"website\">{}</label>\n\
         <input type=\"text\" id=\"website\" name=\"website\" tabindex=\"-1\" autocomplete=\"off\" value=\"\">\n</div>",
        t.honeypot
    );
    let _ = writeln!(body, "<button type=\"submit\">{}</button>\n</form>", t.submit);

    let mut switch = format!("/help?lang={}", t.other_lang);
    if let Some(m) = resolved {
        switch = format!("/help?municipality={}&lang={}", query_value(&m.code), t.other_lang);
    }
    page(t, &title, Some(switch), &body)
}

fn due_text(t: &Texts, due: DateTime<Utc>) -> String {
    let local = holidays::helsinki_local(due);
    let weekday = t.weekdays[local.weekday().num_days_from_monday() as usize];
    format!(
        "{} {weekday} {}.{}.{} {} {}.{:02}.",
        t.due,
        local.day(),
        local.month(),
        local.year(),
        t.at,
        local.hour(),
        local.minute()
    )
}

/// The form (public). `municipality` (code or name) and `lang` (`fi`, `sv`) come from the link.
pub async fn page_get(params: QueryParams) -> Response {
    let language = help::language(params.get("lang")).unwrap_or(Language::Fi);
    let state = FormState {
        input: HelpRequestInput {
            municipality: params.get("municipality").map(str::to_string),
            ..HelpRequestInput::default()
        },
        ..FormState::default()
    };
    html_response(StatusCode::OK, form_html(language, &state))
}

/// The form's post: the same request as `POST /v1/help-requests`, answered with a page.
pub async fn page_post(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    form: FormBody,
) -> Response {
    let value = |name: &str| form.get(name).map(str::to_string);
    let input = HelpRequestInput {
        municipality: value("municipality"),
        language: value("language"),
        message: value("message"),
        name: value("name"),
        phone: value("phone"),
        email: value("email"),
        callback_phone: value("callback_phone"),
        website: value("website"),
    };
    let language = help::language(input.language.as_deref()).unwrap_or(Language::Fi);
    let t = texts(language);
    match submit(&state, peer_ip(peer), &request_id, &input, &digest(&form.bytes)).await {
        Ok(submitted) => {
            let mut body = String::new();
            let _ = writeln!(
                body,
                "<h1>{}</h1>\n<p>{} <span class=\"reference\">{}</span>.</p>\n<p>{}</p>\n<p>{}</p>",
                t.thanks,
                t.reference,
                esc(&submitted.accepted.reference),
                esc(&due_text(t, submitted.accepted.due_by)),
                if submitted.case.contact_person.is_some() {
                    t.contacted
                } else {
                    t.anonymous
                },
            );
            let again = format!(
                "/help?municipality={}&lang={}",
                query_value(&submitted.case.organiser),
                t.lang
            );
            let _ = writeln!(body, "<p><a href=\"{}\">{}</a></p>", esc(&again), t.again);
            html_response(StatusCode::CREATED, page(t, t.thanks, None, &body))
        }
        Err(Refusal::Invalid(errors)) => {
            let form_state = FormState {
                input,
                errors: &errors,
                refused: false,
            };
            html_response(StatusCode::UNPROCESSABLE_ENTITY, form_html(language, &form_state))
        }
        Err(Refusal::Honeypot) => {
            let form_state = FormState {
                input: HelpRequestInput { website: None, ..input },
                errors: &[],
                refused: true,
            };
            html_response(StatusCode::UNPROCESSABLE_ENTITY, form_html(language, &form_state))
        }
        Err(Refusal::RateLimited(wait)) => {
            let seconds = retry_after_seconds(wait);
            let minutes = seconds.div_ceil(60);
            let when = match (language, minutes) {
                (Language::Sv, 1) => "om 1 minut".to_string(),
                (Language::Sv, m) => format!("om {m} minuter"),
                (_, m) => format!("{m} minuutin kuluttua"),
            };
            let body = format!(
                "<h1>{}</h1>\n<div role=\"alert\"><p>{} {when}.</p></div>\n",
                t.title, t.rate_limited
            );
            let mut response = html_response(StatusCode::TOO_MANY_REQUESTS, page(t, t.title, None, &body));
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        Err(Refusal::Failed(e)) => {
            let status = StatusCode::from_u16(e.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = format!(
                "<h1>{}</h1>\n<div role=\"alert\"><p>{}</p></div>\n",
                t.title, t.unavailable
            );
            html_response(status, page(t, t.title, None, &body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            esc(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_form_speaks_the_chosen_language_and_binds_its_labels() {
        let state = FormState {
            input: HelpRequestInput {
                municipality: Some("853".into()),
                ..HelpRequestInput::default()
            },
            ..FormState::default()
        };
        let sv = form_html(Language::Sv, &state);
        assert!(sv.contains("<html lang=\"sv\">"));
        assert!(sv.contains("<strong>Åbo</strong>"));
        assert!(sv.contains("<label for=\"message\">Meddelande (obligatoriskt)</label>"));
        assert!(sv.contains("id=\"message\" name=\"message\" required"));
        assert!(sv.contains("href=\"/help?municipality=853&amp;lang=fi\" lang=\"fi\""));
        let fi = form_html(Language::Fi, &state);
        assert!(fi.contains("<html lang=\"fi\">"));
        assert!(fi.contains("<strong>Turku</strong>"));
        for id in ["message", "name", "phone", "callback_phone", "email", "website"] {
            assert!(fi.contains(&format!("<label for=\"{id}\">")), "{id}");
            assert!(fi.contains(&format!("id=\"{id}\" name=\"{id}\"")), "{id}");
        }
        assert!(fi.contains("aria-hidden=\"true\""));
        assert!(fi.contains("tabindex=\"-1\" autocomplete=\"off\""));
        assert!(!fi.contains("<script"), "no JavaScript");
        assert!(!fi.contains("http"), "no external assets");
    }

    #[test]
    fn errors_sit_next_to_their_fields_and_values_are_escaped() {
        let errors = [HelpFieldError {
            field: HelpField::Phone,
            problem: help::HelpProblem::Phone,
        }];
        let state = FormState {
            input: HelpRequestInput {
                municipality: Some("Turku".into()),
                message: Some("</textarea><script>alert(1)</script>".into()),
                phone: Some("\"><b>".into()),
                ..HelpRequestInput::default()
            },
            errors: &errors,
            refused: false,
        };
        let html = form_html(Language::Fi, &state);
        assert!(html.contains("id=\"phone-error\""));
        assert!(html.contains("aria-describedby=\"phone-error\" aria-invalid=\"true\""));
        assert!(html.contains("Virhe: Puhelinnumero ei kelpaa"));
        assert!(html.contains("&lt;/textarea&gt;&lt;script&gt;"));
        assert!(html.contains("value=\"&quot;&gt;&lt;b&gt;\""));
        assert!(!html.contains("<script>"));
        assert!(html.contains("<a href=\"#phone\">"));
    }

    #[test]
    fn due_times_are_told_in_helsinki_time() {
        let due: DateTime<Utc> = "2026-04-07T13:15:00Z".parse().unwrap();
        assert_eq!(
            due_text(&FI, due),
            "Vastaamme viimeistään tiistaina 7.4.2026 klo 16.15."
        );
        assert_eq!(due_text(&SV, due), "Vi svarar senast tisdag 7.4.2026 kl. 16.15.");
    }
}
