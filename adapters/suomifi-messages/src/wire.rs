//! The service's JSON, field for field as in its OpenAPI document (`suomifi-messages-openapi.yaml`).
//! Requests are typed; responses are read leniently (unknown fields ignored, numbers or strings
//! accepted for ids) because the service may add fields at any time.

use serde::Serialize;
use serde_json::Value;

/// `AccessTokenRequestBody`.
#[derive(Serialize)]
pub(crate) struct AccessTokenRequest<'a> {
    pub username: &'a str,
    pub password: &'a str,
}

/// `ChangePasswordRequestBody`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangePasswordRequest<'a> {
    pub access_token: &'a str,
    pub current_password: &'a str,
    pub new_password: &'a str,
}

/// `EndUsers`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndUsers<'a> {
    pub end_users: Vec<EndUserId<'a>>,
}

/// `EndUserId`.
#[derive(Serialize)]
pub(crate) struct EndUserId<'a> {
    pub id: &'a str,
}

/// `messages.api.rest.v2.ElectronicMessageRequestBody` (no `paperMail`) and
/// `messages.api.rest.v2.MultichannelMessageRequestBody` (with it).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageRequest<'a> {
    pub external_id: String,
    pub recipient: Recipient<'a>,
    pub sender: Sender<'a>,
    pub electronic: ElectronicPart<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paper_mail: Option<PaperMailPart<'a>>,
}

#[derive(Serialize)]
pub(crate) struct Recipient<'a> {
    pub id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Sender<'a> {
    pub service_id: &'a str,
}

/// `messages.api.rest.v2.AttachmentReference`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttachmentReference {
    pub attachment_id: String,
}

/// `messages.api.rest.v2.ElectronicPart`: every field the schema requires is sent.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ElectronicPart<'a> {
    pub attachments: Vec<AttachmentReference>,
    pub body: &'a str,
    /// `Text` | `Markdown`.
    pub body_format: &'static str,
    /// `Normal` | `Verifiable`.
    pub message_service_type: &'static str,
    pub notifications: Notifications,
    /// `Anyone` | `No one`.
    pub reply_allowed_by: &'static str,
    pub title: &'a str,
    /// `Normal` | `Recipient only`.
    pub visibility: &'static str,
}

/// `messages.api.rest.v2.MessageNotifications`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Notifications {
    pub sender_details_in_notifications: &'static str,
    pub unread_message_notification: UnreadMessageNotification,
}

#[derive(Serialize)]
pub(crate) struct UnreadMessageNotification {
    /// `Default reminder` | `No reminders`.
    pub reminder: &'static str,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            sender_details_in_notifications: "Organisation and service name",
            unread_message_notification: UnreadMessageNotification {
                reminder: "Default reminder",
            },
        }
    }
}

/// `messages.api.rest.v2.PaperMailPart`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaperMailPart<'a> {
    /// Exactly one: the PDF to print.
    pub attachments: Vec<AttachmentReference>,
    pub color_printing: bool,
    pub create_address_page: bool,
    pub message_service_type: &'static str,
    pub printing_and_enveloping_service: PrintingAndEnvelopingService<'a>,
    pub recipient: PaperMailParty,
    pub rotate_landscape_pages: bool,
    pub sender: PaperMailParty,
    pub two_sided_printing: bool,
}

/// `messages.api.rest.v2.PrintingAndEnvelopingService`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PrintingAndEnvelopingService<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_pool: Option<&'a str>,
    pub posti_messaging: PostiMessaging<'a>,
}

/// `messages.api.rest.v2.PostiMessaging`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostiMessaging<'a> {
    pub contact_details: ContactDetails<'a>,
    pub password: &'a str,
    pub username: &'a str,
}

#[derive(Serialize)]
pub(crate) struct ContactDetails<'a> {
    pub email: &'a str,
}

/// `messages.api.rest.v2.NewPaperMailRecipient` / `NewPaperMailSender`.
#[derive(Serialize)]
pub(crate) struct PaperMailParty {
    pub address: Address,
}

/// `messages.api.rest.v2.Address`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_name: Option<String>,
    pub city: String,
    pub country_code: String,
    pub name: String,
    pub street_address: String,
    pub zip_code: String,
}

impl From<&crate::model::PaperAddress> for Address {
    fn from(a: &crate::model::PaperAddress) -> Self {
        Address {
            additional_name: a.additional_name.as_ref().map(|s| s.trim().to_owned()),
            city: a.city.trim().to_owned(),
            country_code: a.country(),
            name: a.name.trim().to_owned(),
            street_address: a.street_address.trim().to_owned(),
            zip_code: a.zip_code.trim().to_owned(),
        }
    }
}

/// An id the spec gives as `integer (int64)` (or `string (uuid)`), read as a string.
pub(crate) fn id_string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `ErrorResponseV1.reason`, `ValidationErrorResponseV1.validationErrors[].errorCode/error`, or
/// the start of a non-JSON body (413 answers in text/plain).
pub(crate) fn error_detail(body: &[u8]) -> String {
    let detail = match serde_json::from_slice::<Value>(body) {
        Ok(json) => {
            let mut parts = Vec::new();
            if let Some(reason) = json.get("reason").and_then(Value::as_str) {
                parts.push(reason.to_owned());
            }
            for error in json
                .get("validationErrors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let code = error.get("errorCode").and_then(Value::as_str);
                let text = error.get("error").and_then(Value::as_str);
                match (code, text) {
                    (Some(c), Some(t)) => parts.push(format!("{c}: {t}")),
                    (Some(c), None) => parts.push(c.to_owned()),
                    (None, Some(t)) => parts.push(t.to_owned()),
                    (None, None) => {}
                }
            }
            parts.join("; ")
        }
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let detail = crate::validate::redact_identity_codes(&detail);
    match detail.char_indices().nth(500) {
        Some((i, _)) => format!("{}…", &detail[..i]),
        None => detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_details_carry_codes_and_reasons_without_identity_codes() {
        let body = json!({
            "reason": "Validation failed for 131052-308T",
            "validationErrors": [{"error": "Recipient mailbox is not active", "errorCode": "MAILBOX_NOT_IN_USE"}],
            "traceId": "x"
        });
        assert_eq!(
            error_detail(body.to_string().as_bytes()),
            "Validation failed for [identity code]; MAILBOX_NOT_IN_USE: Recipient mailbox is not active"
        );
        assert_eq!(
            error_detail(b"HTTP content length exceeded 10485760 bytes."),
            "HTTP content length exceeded 10485760 bytes."
        );
        assert_eq!(error_detail(&[b'x'; 2000]).chars().count(), 501);
    }

    #[test]
    fn ids_are_read_from_numbers_or_strings() {
        assert_eq!(
            id_string(Some(&json!(9007199254740993i64))).as_deref(),
            Some("9007199254740993")
        );
        assert_eq!(id_string(Some(&json!("abc"))).as_deref(), Some("abc"));
        assert_eq!(id_string(Some(&json!(null))), None);
        assert_eq!(id_string(None), None);
    }
}
