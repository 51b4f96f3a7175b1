//! The canonical payloads of this adapter's operations (what the broker stores and passes in
//! `Operation.payload`). The service's own wire format is in `wire.rs`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Payload of the `send` operation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The recipient's Finnish personal identity code (any case; surrounding spaces ignored).
    pub recipient_identity_code: String,
    pub title: String,
    pub body: String,
    pub body_format: BodyFormat,
    /// `fi`, `sv` or `en`: the language the message is written in. The service has no language
    /// field (it notifies in the recipient's own language), so it is checked but not sent.
    pub language: String,
    /// Given: sent multichannel (`POST /v2/messages`), the service prints and posts the first
    /// attachment (a PDF) when the recipient has no active mailbox. Absent: electronic only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper_address: Option<PaperAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

impl fmt::Debug for SendMessage {
    // Personal data (identity code, title, body, address, attachment names) never reaches logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendMessage")
            .field("recipient_identity_code", &"<redacted>")
            .field("title_chars", &self.title.chars().count())
            .field("body_chars", &self.body.chars().count())
            .field("body_format", &self.body_format)
            .field("language", &self.language)
            .field("paper_address", &self.paper_address.is_some())
            .field("attachments", &self.attachments.len())
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    Text,
    Markdown,
}

/// A postal address, the service's `Address` schema in snake case.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperAddress {
    pub name: String,
    /// Second address row, e.g. c/o or department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_name: Option<String>,
    pub street_address: String,
    pub zip_code: String,
    pub city: String,
    /// ISO 3166 alpha-2 as listed by the service (plus `XK`, `XX`); `FI` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

impl PaperAddress {
    pub(crate) fn country(&self) -> String {
        self.country_code
            .as_deref()
            .map(|c| c.trim().to_ascii_uppercase())
            .unwrap_or_else(|| "FI".to_owned())
    }
}

impl fmt::Debug for PaperAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaperAddress")
            .field("country_code", &self.country())
            .finish_non_exhaustive()
    }
}

/// A file to attach, uploaded with `POST /v2/attachments` before the message is sent.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// Shown to the recipient as is.
    pub file_name: String,
    pub media_type: String,
    /// Standard Base64 (line breaks allowed).
    pub content_base64: String,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("media_type", &self.media_type)
            .field("content_base64_len", &self.content_base64.len())
            .finish_non_exhaustive()
    }
}

/// Payload of the `check_mailboxes` operation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckMailboxes {
    pub identity_codes: Vec<String>,
}

/// Payload of the `events` operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchEvents {
    #[serde(default)]
    pub continuation_token: Option<String>,
}

/// What happened to a message, from the service's event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Read,
    ReceiptConfirmed,
    SentForPrinting,
    PostiReceipt,
    Returned,
    Unresolved,
    Other,
}

/// Maps the service's event `type` (the discriminator of `GetV2Event`) to a kind. Compared
/// without regard to case, so the v1 spellings (`Posti: Receipt confirmed`) map too.
pub fn event_kind(service_type: &str) -> EventKind {
    match service_type.trim().to_ascii_lowercase().as_str() {
        "electronic message created" | "paper mail created" | "created" => EventKind::Created,
        "electronic message read" | "read" => EventKind::Read,
        "receipt confirmed" => EventKind::ReceiptConfirmed,
        "sent for printing and enveloping" => EventKind::SentForPrinting,
        "posti: receipt confirmed" => EventKind::PostiReceipt,
        "posti: returned to sender" => EventKind::Returned,
        "posti: unresolved" => EventKind::Unresolved,
        // "Electronic message from end user", v1's "Posti: Delivered", anything new.
        _ => EventKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_v2_event_type_has_its_kind() {
        let cases = [
            ("Electronic message created", EventKind::Created),
            ("Paper mail created", EventKind::Created),
            ("Electronic message read", EventKind::Read),
            ("Receipt confirmed", EventKind::ReceiptConfirmed),
            ("Sent for printing and enveloping", EventKind::SentForPrinting),
            ("Posti: receipt confirmed", EventKind::PostiReceipt),
            ("Posti: Receipt confirmed", EventKind::PostiReceipt),
            ("Posti: returned to sender", EventKind::Returned),
            ("Posti: unresolved", EventKind::Unresolved),
            ("Electronic message from end user", EventKind::Other),
            ("Posti: Delivered", EventKind::Other),
            ("Something new", EventKind::Other),
        ];
        for (service_type, kind) in cases {
            assert_eq!(event_kind(service_type), kind, "{service_type}");
        }
        assert_eq!(
            serde_json::to_value(EventKind::SentForPrinting).unwrap(),
            "sent_for_printing"
        );
        assert_eq!(serde_json::to_value(EventKind::PostiReceipt).unwrap(), "posti_receipt");
    }

    #[test]
    fn send_message_reads_its_json_and_refuses_unknown_fields() {
        let message: SendMessage = serde_json::from_value(json!({
            "recipient_identity_code": "131052-308T", "title": "t", "body": "b",
            "body_format": "markdown", "language": "fi"
        }))
        .unwrap();
        assert_eq!(message.body_format, BodyFormat::Markdown);
        assert!(message.paper_address.is_none() && message.attachments.is_empty());
        assert!(serde_json::from_value::<SendMessage>(json!({
            "recipient_identity_code": "131052-308T", "title": "t", "body": "b",
            "body_format": "text", "language": "fi", "priority": 1
        }))
        .is_err());
        assert!(serde_json::from_value::<SendMessage>(json!({
            "recipient_identity_code": "131052-308T", "title": "t", "body": "b",
            "body_format": "html", "language": "fi"
        }))
        .is_err());
    }

    #[test]
    fn debug_shows_no_personal_data() {
        let message = SendMessage {
            recipient_identity_code: "131052-308T".into(),
            title: "Päätös Maija".into(),
            body: "Hei Maija".into(),
            body_format: BodyFormat::Text,
            language: "fi".into(),
            paper_address: Some(PaperAddress {
                name: "Maija Meikäläinen".into(),
                additional_name: None,
                street_address: "Katu 1".into(),
                zip_code: "20100".into(),
                city: "Turku".into(),
                country_code: None,
            }),
            attachments: vec![Attachment {
                file_name: "maija.pdf".into(),
                media_type: "application/pdf".into(),
                content_base64: "JVBERi0=".into(),
            }],
        };
        let debug = format!("{message:?} {:?} {:?}", message.paper_address, message.attachments);
        for secret in ["131052", "Maija", "Katu", "20100", "Turku", "maija.pdf", "JVBERi0"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }
}
