//! The request schemas of the official OpenAPI document, transcribed as data, and a validator that lists every
//! problem of a request body. Property names, required lists, lengths, item counts and enums are the spec's.
//!
//! Deliberately stricter than JSON Schema in two places, to catch client bugs early: unknown properties are
//! refused (the spec does not forbid them, but a misspelt optional field would silently be dropped), and the
//! `costPool` pattern `[A-Z0-9]+` must match the whole value.

use serde_json::Value;

pub enum Schema {
    Object {
        props: &'static [Prop],
    },
    Str {
        min: usize,
        max: usize,
        one_of: &'static [&'static str],
        kind: StrKind,
    },
    Bool,
    Int64,
    Array {
        min: usize,
        max: usize,
        items: &'static Schema,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StrKind {
    Any,
    Uuid,
    UpperAlnum,
}

pub struct Prop {
    pub name: &'static str,
    pub required: bool,
    pub schema: &'static Schema,
}

const fn req(name: &'static str, schema: &'static Schema) -> Prop {
    Prop {
        name,
        required: true,
        schema,
    }
}

const fn opt(name: &'static str, schema: &'static Schema) -> Prop {
    Prop {
        name,
        required: false,
        schema,
    }
}

const fn text(min: usize, max: usize) -> Schema {
    Schema::Str {
        min,
        max,
        one_of: &[],
        kind: StrKind::Any,
    }
}

const fn one_of(values: &'static [&'static str]) -> Schema {
    Schema::Str {
        min: 0,
        max: usize::MAX,
        one_of: values,
        kind: StrKind::Any,
    }
}

static ANY_STRING: Schema = text(0, usize::MAX);
static BOOL: Schema = Schema::Bool;
static INT64: Schema = Schema::Int64;
static UUID: Schema = Schema::Str {
    min: 36,
    max: 36,
    one_of: &[],
    kind: StrKind::Uuid,
};
static T1_256: Schema = text(1, 256);
static T1_64: Schema = text(1, 64);
static T1_1500: Schema = text(1, 1500);
static T1_40000: Schema = text(1, 40000);
static T9_11: Schema = text(9, 11);
static T5_256: Schema = text(5, 256);
static T4: Schema = text(4, 4);
static T6: Schema = text(6, 6);
static COST_POOL: Schema = Schema::Str {
    min: 1,
    max: 15,
    one_of: &[],
    kind: StrKind::UpperAlnum,
};

static BODY_FORMAT: Schema = one_of(&["Text", "Markdown"]);
static SERVICE_TYPE: Schema = one_of(&["Normal", "Verifiable"]);
static REPLY_ALLOWED_BY: Schema = one_of(&["Anyone", "No one"]);
static VISIBILITY: Schema = one_of(&["Normal", "Recipient only"]);
static SENDER_DETAILS: Schema = one_of(&["Organisation and service name", "None"]);
static REMINDER: Schema = one_of(&["Default reminder", "No reminders"]);
static COUNTRY_CODE: Schema = one_of(COUNTRY_CODES);

// AccessTokenRequestBody
pub static ACCESS_TOKEN_REQUEST: Schema = Schema::Object {
    props: &[req("password", &ANY_STRING), req("username", &ANY_STRING)],
};

// ChangePasswordRequestBody
pub static CHANGE_PASSWORD_REQUEST: Schema = Schema::Object {
    props: &[
        req("accessToken", &ANY_STRING),
        req("currentPassword", &ANY_STRING),
        req("newPassword", &ANY_STRING),
    ],
};

// EndUserId, EndUsers
static END_USER_ID: Schema = Schema::Object {
    props: &[req("id", &T9_11)],
};
pub static END_USERS: Schema = Schema::Object {
    props: &[req(
        "endUsers",
        &Schema::Array {
            min: 1,
            max: 10_000,
            items: &END_USER_ID,
        },
    )],
};

// messages.api.rest.v2.*
static ATTACHMENT_REFERENCE: Schema = Schema::Object {
    props: &[req("attachmentId", &UUID)],
};
static LOCALISED_TITLE: Schema = Schema::Object {
    props: &[req("en", &T1_256), req("fi", &T1_256), req("sv", &T1_256)],
};
static LOCALISED_CONTENT: Schema = Schema::Object {
    props: &[req("en", &T1_1500), req("fi", &T1_1500), req("sv", &T1_1500)],
};
static CUSTOMISED_NOTIFICATION: Schema = Schema::Object {
    props: &[req("content", &LOCALISED_CONTENT), req("title", &LOCALISED_TITLE)],
};
static UNREAD_NOTIFICATION: Schema = Schema::Object {
    props: &[req("reminder", &REMINDER)],
};
static NOTIFICATIONS: Schema = Schema::Object {
    props: &[
        opt("customisedNewMessageNotification", &CUSTOMISED_NOTIFICATION),
        req("senderDetailsInNotifications", &SENDER_DETAILS),
        req("unreadMessageNotification", &UNREAD_NOTIFICATION),
    ],
};
static ELECTRONIC_PART: Schema = Schema::Object {
    props: &[
        req(
            "attachments",
            &Schema::Array {
                min: 0,
                max: 50,
                items: &ATTACHMENT_REFERENCE,
            },
        ),
        req("body", &T1_40000),
        req("bodyFormat", &BODY_FORMAT),
        opt("inReplyToMessageId", &INT64),
        req("messageServiceType", &SERVICE_TYPE),
        req("notifications", &NOTIFICATIONS),
        req("replyAllowedBy", &REPLY_ALLOWED_BY),
        req("title", &T1_256),
        req("visibility", &VISIBILITY),
    ],
};
static RECIPIENT: Schema = Schema::Object {
    props: &[req("id", &T9_11)],
};
static SENDER: Schema = Schema::Object {
    props: &[req("serviceId", &T1_64)],
};
static ADDRESS: Schema = Schema::Object {
    props: &[
        opt("additionalName", &T1_256),
        req("city", &T1_256),
        req("countryCode", &COUNTRY_CODE),
        req("name", &T1_256),
        req("streetAddress", &T1_256),
        req(
            "zipCode",
            &Schema::Str {
                min: 1,
                max: 64,
                one_of: &[],
                kind: StrKind::Any,
            },
        ),
    ],
};
static PAPER_ADDRESSEE: Schema = Schema::Object {
    props: &[req("address", &ADDRESS)],
};
static CONTACT_DETAILS: Schema = Schema::Object {
    props: &[req("email", &T5_256)],
};
static POSTI_MESSAGING: Schema = Schema::Object {
    props: &[
        req("contactDetails", &CONTACT_DETAILS),
        req("password", &T4),
        req("username", &T6),
    ],
};
static PRINTING_SERVICE: Schema = Schema::Object {
    props: &[opt("costPool", &COST_POOL), req("postiMessaging", &POSTI_MESSAGING)],
};
static PAPER_MAIL_PART: Schema = Schema::Object {
    props: &[
        req(
            "attachments",
            &Schema::Array {
                min: 1,
                max: 1,
                items: &ATTACHMENT_REFERENCE,
            },
        ),
        req("colorPrinting", &BOOL),
        req("createAddressPage", &BOOL),
        req("messageServiceType", &SERVICE_TYPE),
        req("printingAndEnvelopingService", &PRINTING_SERVICE),
        req("recipient", &PAPER_ADDRESSEE),
        req("rotateLandscapePages", &BOOL),
        req("sender", &PAPER_ADDRESSEE),
        req("twoSidedPrinting", &BOOL),
    ],
};
static EXTERNAL_ID: Schema = text(1, 256);

pub static ELECTRONIC_MESSAGE_REQUEST: Schema = Schema::Object {
    props: &[
        req("electronic", &ELECTRONIC_PART),
        req("externalId", &EXTERNAL_ID),
        req("recipient", &RECIPIENT),
        req("sender", &SENDER),
    ],
};

pub static MULTICHANNEL_MESSAGE_REQUEST: Schema = Schema::Object {
    props: &[
        req("electronic", &ELECTRONIC_PART),
        req("externalId", &EXTERNAL_ID),
        req("paperMail", &PAPER_MAIL_PART),
        req("recipient", &RECIPIENT),
        req("sender", &SENDER),
    ],
};

pub static PAPER_MAIL_WITHOUT_ID_REQUEST: Schema = Schema::Object {
    props: &[
        req("externalId", &EXTERNAL_ID),
        req("paperMail", &PAPER_MAIL_PART),
        req("sender", &SENDER),
    ],
};

/// Every problem of `value` against `schema`, as "path: problem" lines (empty when valid).
pub fn validate(value: &Value, schema: &Schema) -> Vec<String> {
    let mut errors = Vec::new();
    check(value, schema, "", &mut errors);
    errors
}

fn name(path: &str) -> &str {
    if path.is_empty() {
        "request body"
    } else {
        path
    }
}

fn check(value: &Value, schema: &Schema, path: &str, errors: &mut Vec<String>) {
    match schema {
        Schema::Object { props } => {
            let Some(object) = value.as_object() else {
                errors.push(format!("{}: must be an object", name(path)));
                return;
            };
            for prop in props.iter() {
                let child = join(path, prop.name);
                match object.get(prop.name) {
                    None if prop.required => errors.push(format!("{child}: is required")),
                    None => {}
                    Some(Value::Null) => errors.push(format!("{child}: must not be null")),
                    Some(v) => check(v, prop.schema, &child, errors),
                }
            }
            for key in object.keys() {
                if !props.iter().any(|p| p.name == key) {
                    errors.push(format!("{}: unknown property", join(path, key)));
                }
            }
        }
        Schema::Str { min, max, one_of, kind } => {
            let Some(s) = value.as_str() else {
                errors.push(format!("{}: must be a string", name(path)));
                return;
            };
            if !one_of.is_empty() {
                if !one_of.contains(&s) {
                    let allowed = if one_of.len() > 10 {
                        "an ISO 3166 two-letter country code".to_string()
                    } else {
                        one_of.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")
                    };
                    errors.push(format!("{path}: must be one of {allowed}"));
                }
                return;
            }
            let len = s.chars().count();
            if len < *min || len > *max {
                errors.push(format!("{path}: length must be between {min} and {max}"));
                return;
            }
            match kind {
                StrKind::Any => {}
                StrKind::Uuid => {
                    if uuid::Uuid::parse_str(s).is_err() {
                        errors.push(format!("{path}: must be a UUID"));
                    }
                }
                StrKind::UpperAlnum => {
                    if !s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
                        errors.push(format!("{path}: must match [A-Z0-9]+"));
                    }
                }
            }
        }
        Schema::Bool => {
            if !value.is_boolean() {
                errors.push(format!("{path}: must be a boolean"));
            }
        }
        Schema::Int64 => {
            if value.as_i64().is_none() {
                errors.push(format!("{path}: must be an integer (int64)"));
            }
        }
        Schema::Array { min, max, items } => {
            let Some(array) = value.as_array() else {
                errors.push(format!("{path}: must be an array"));
                return;
            };
            if array.len() < *min || array.len() > *max {
                errors.push(format!("{path}: must have between {min} and {max} items"));
            }
            for (i, item) in array.iter().enumerate() {
                check(item, items, &format!("{path}[{i}]"), errors);
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `messages.api.rest.v2.Address.countryCode` enum, in the spec's order.
static COUNTRY_CODES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW", "XK", "XX",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn country_codes_match_the_spec_count() {
        // 249 ISO 3166 codes plus XK and XX, as listed in the spec.
        assert_eq!(COUNTRY_CODES.len(), 251);
    }

    #[test]
    fn lists_every_problem_with_its_path() {
        let errors = validate(
            &json!({"endUsers": [{"id": "1"}, {"id": 5}, {"idx": "131052-308T"}], "extra": true}),
            &END_USERS,
        );
        assert_eq!(
            errors,
            vec![
                "endUsers[0].id: length must be between 9 and 11",
                "endUsers[1].id: must be a string",
                "endUsers[2].id: is required",
                "endUsers[2].idx: unknown property",
                "extra: unknown property",
            ]
        );
    }
}
