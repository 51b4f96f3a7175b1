//! Everything the service would refuse, checked before a message is queued. Details never
//! contain the identity code (or any other value of the message).

use crate::model::{Attachment, PaperAddress, SendMessage};
use base64::Engine;

/// `POST /v2/attachments` refuses requests with more HTTP content (413): the file and its
/// multipart envelope (about 200 bytes, depending on the file name) together.
pub const MAX_ATTACHMENT_BYTES: usize = crate::multipart::MAX_UPLOAD_BYTES;
/// `ElectronicPart.attachments.maxItems`.
pub const MAX_ATTACHMENTS: usize = 50;
/// `ElectronicPart.title.maxLength`.
pub const MAX_TITLE_CHARS: usize = 256;
/// `ElectronicPart.body.maxLength`.
pub const MAX_BODY_CHARS: usize = 40_000;
/// Longest attachment name we pass on (the service states none; common file systems allow 255).
pub const MAX_FILE_NAME_CHARS: usize = 255;

/// The media types `POST /v2/attachments` accepts.
pub const ALLOWED_MEDIA_TYPES: &[&str] = &[
    "application/msword",
    "application/pdf",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "image/jpeg",
    "image/png",
    "text/plain",
];

/// `Address.countryCode` of the service: ISO 3166 alpha-2 plus XK (Kosovo) and XX (unknown).
pub const COUNTRY_CODES: &[&str] = &[
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

const CHECK_CHARS: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// Every problem of `message`, as (JSON pointer into the `SendMessage` JSON, detail). Empty when
/// the service should accept it.
pub fn validate(message: &SendMessage) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut problem = |pointer: &str, detail: &str| problems.push((pointer.to_owned(), detail.to_owned()));

    if let Err(detail) = check_identity_code(&message.recipient_identity_code) {
        problem("/recipient_identity_code", detail);
    }
    text_field(&mut problem, "/title", &message.title, MAX_TITLE_CHARS);
    text_field(&mut problem, "/body", &message.body, MAX_BODY_CHARS);
    if !matches!(message.language.as_str(), "fi" | "sv" | "en") {
        problem("/language", "must be one of fi, sv, en");
    }
    if let Some(address) = &message.paper_address {
        for (pointer, detail) in validate_address(address) {
            problem(&format!("/paper_address{pointer}"), &detail);
        }
        match message.attachments.first() {
            None => problem(
                "/attachments",
                "paper mail needs the letter to print: give it as the first attachment, a PDF",
            ),
            Some(first) if media_type_essence(&first.media_type) != "application/pdf" => problem(
                "/attachments/0/media_type",
                "the first attachment is the letter printed for paper mail and must be application/pdf",
            ),
            Some(_) => {}
        }
    }
    if message.attachments.len() > MAX_ATTACHMENTS {
        problem("/attachments", &format!("at most {MAX_ATTACHMENTS} attachments"));
    }
    for (i, attachment) in message.attachments.iter().enumerate() {
        for (pointer, detail) in validate_attachment(attachment) {
            problem(&format!("/attachments/{i}{pointer}"), &detail);
        }
    }
    problems
}

fn text_field(problem: &mut impl FnMut(&str, &str), pointer: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        problem(pointer, "must not be empty");
    } else if value.chars().count() > max {
        problem(pointer, &format!("must be at most {max} characters"));
    }
}

/// Problems of an address (pointers relative to the address).
pub(crate) fn validate_address(address: &PaperAddress) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut problem = |pointer: &str, detail: &str| problems.push((pointer.to_owned(), detail.to_owned()));
    text_field(&mut problem, "/name", &address.name, 256);
    if let Some(additional) = &address.additional_name {
        text_field(&mut problem, "/additional_name", additional, 256);
    }
    text_field(&mut problem, "/street_address", &address.street_address, 256);
    text_field(&mut problem, "/zip_code", &address.zip_code, 64);
    text_field(&mut problem, "/city", &address.city, 256);
    let country = address.country();
    if !COUNTRY_CODES.contains(&country.as_str()) {
        problem(
            "/country_code",
            "must be an ISO 3166 two-letter country code the service accepts",
        );
    } else if country == "FI" {
        let zip = address.zip_code.trim();
        let five_digits = zip.len() == 5 && zip.bytes().all(|b| b.is_ascii_digit());
        if !zip.is_empty() && !five_digits {
            problem("/zip_code", "a Finnish postal code is five digits");
        }
    }
    problems
}

fn validate_attachment(attachment: &Attachment) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut problem = |pointer: &str, detail: &str| problems.push((pointer.to_owned(), detail.to_owned()));
    let name = &attachment.file_name;
    if name.trim().is_empty() {
        problem("/file_name", "must not be empty");
    } else if name.chars().count() > MAX_FILE_NAME_CHARS {
        problem(
            "/file_name",
            &format!("must be at most {MAX_FILE_NAME_CHARS} characters"),
        );
    } else if name.chars().any(|c| c.is_control() || c == '/' || c == '\\') || name == "." || name == ".." {
        problem(
            "/file_name",
            "must be a plain file name without control characters or / \\",
        );
    }
    if !ALLOWED_MEDIA_TYPES.contains(&media_type_essence(&attachment.media_type).as_str()) {
        problem(
            "/media_type",
            &format!(
                "must be one of the types the service accepts: {}",
                ALLOWED_MEDIA_TYPES.join(", ")
            ),
        );
    }
    let max = crate::multipart::max_file_bytes(&attachment.file_name, &media_type_essence(&attachment.media_type));
    match decoded_size(&attachment.content_base64) {
        Err(()) => problem("/content_base64", "must be standard Base64"),
        Ok(0) => problem("/content_base64", "the file must not be empty"),
        Ok(n) if n > max => problem(
            "/content_base64",
            &format!(
                "the file must be at most {max} bytes: the service takes at most {MAX_ATTACHMENT_BYTES} bytes \
                 per upload, the file name and type included"
            ),
        ),
        Ok(_) => {}
    }
    problems
}

/// `text/plain; charset=utf-8` → `text/plain`.
pub(crate) fn media_type_essence(media_type: &str) -> String {
    media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn decoded_size(content: &str) -> Result<usize, ()> {
    // Refuse an obviously oversized file without decoding it.
    let significant = content.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    if significant / 4 * 3 > MAX_ATTACHMENT_BYTES + 3 {
        return Ok(significant / 4 * 3);
    }
    decode_base64(content).map(|bytes| bytes.len())
}

/// Standard Base64, ASCII whitespace (MIME line breaks) ignored.
pub(crate) fn decode_base64(content: &str) -> Result<Vec<u8>, ()> {
    let compact: Vec<u8> = content.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| ())
}

/// Upper-cased and without surrounding whitespace: the form sent to the service.
pub(crate) fn normalise_identity_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// Checks a Finnish personal identity code (after [`normalise_identity_code`]): shape, every
/// century sign in use since 2023, a real date, individual number 002–999 and check character.
/// The error never contains the code.
pub(crate) fn check_identity_code(code: &str) -> Result<(), &'static str> {
    let code = normalise_identity_code(code);
    let b = code.as_bytes();
    if b.len() != 11 || !b[..6].iter().all(u8::is_ascii_digit) || !b[7..10].iter().all(u8::is_ascii_digit) {
        return Err("must be a Finnish personal identity code: DDMMYY, century sign, three digits, check character");
    }
    let century = match b[6] {
        b'+' => 1800,
        b'-' | b'Y' | b'X' | b'W' | b'V' | b'U' => 1900,
        b'A' | b'B' | b'C' | b'D' | b'E' | b'F' => 2000,
        _ => return Err("has an unknown century sign (allowed: + - Y X W V U A B C D E F)"),
    };
    let number = |range: std::ops::Range<usize>| code[range].parse::<u32>().unwrap_or(0);
    let (day, month, year) = (number(0..2), number(2..4), century + number(4..6));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    if day == 0 || day > days_in_month {
        return Err("has an impossible birth date");
    }
    if number(7..10) < 2 {
        return Err("has an individual number outside 002–999");
    }
    let nine: u64 = format!("{}{}", &code[0..6], &code[7..10]).parse().unwrap_or(0);
    if b[10] != CHECK_CHARS[(nine % 31) as usize] {
        return Err("has a wrong check character");
    }
    Ok(())
}

pub(crate) use portti_adapter_core::redact_identity_codes;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BodyFormat;
    use base64::Engine;

    const CODE: &str = "131052-308T";

    fn make(ddmmyy: &str, sign: char, individual: &str) -> String {
        let nine: u64 = format!("{ddmmyy}{individual}").parse().unwrap();
        format!(
            "{ddmmyy}{sign}{individual}{}",
            CHECK_CHARS[(nine % 31) as usize] as char
        )
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn pdf() -> Attachment {
        Attachment {
            file_name: "Päätös.pdf".into(),
            media_type: "application/pdf".into(),
            content_base64: b64(b"%PDF-1.7 demo"),
        }
    }

    fn address() -> PaperAddress {
        PaperAddress {
            name: "Maija Meikäläinen".into(),
            additional_name: None,
            street_address: "Yliopistonkatu 1".into(),
            zip_code: "20100".into(),
            city: "Turku".into(),
            country_code: None,
        }
    }

    fn message() -> SendMessage {
        SendMessage {
            recipient_identity_code: CODE.into(),
            title: "Asiakasohjauksen päätös".into(),
            body: "Hei, tässä päätöksenne.".into(),
            body_format: BodyFormat::Text,
            language: "fi".into(),
            paper_address: None,
            attachments: vec![],
        }
    }

    fn pointers(message: &SendMessage) -> Vec<String> {
        let problems = validate(message);
        for (_, detail) in &problems {
            assert!(!detail.contains("131052") && !detail.contains("308"), "{detail}");
        }
        problems.into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn a_good_message_has_no_problems() {
        assert!(validate(&message()).is_empty());
        let with_paper = SendMessage {
            paper_address: Some(address()),
            attachments: vec![
                pdf(),
                Attachment {
                    file_name: "ohje.txt".into(),
                    media_type: "text/plain; charset=utf-8".into(),
                    content_base64: b64(b"ohje"),
                },
            ],
            body_format: BodyFormat::Markdown,
            ..message()
        };
        assert_eq!(validate(&with_paper), vec![]);
        let lower_case = SendMessage {
            recipient_identity_code: " 131052-308t ".into(),
            ..message()
        };
        assert!(validate(&lower_case).is_empty());
    }

    #[test]
    fn identity_codes_are_checked_with_every_century_sign() {
        for sign in ['+', '-', 'Y', 'X', 'W', 'V', 'U', 'A', 'B', 'C', 'D', 'E', 'F'] {
            assert_eq!(check_identity_code(&make("010150", sign, "123")), Ok(()), "{sign}");
        }
        assert!(check_identity_code(&make("010150", 'G', "123")).is_err());
        assert!(check_identity_code(&make("010150", '-', "900")).is_ok());
        assert!(check_identity_code(&make("010150", '-', "002")).is_ok());
        assert!(check_identity_code(&make("010150", '-', "001")).is_err());
        assert!(check_identity_code(&make("290200", 'A', "123")).is_ok());
        assert!(check_identity_code(&make("290200", '-', "123")).is_err()); // 1900 was no leap year
        assert!(check_identity_code(&make("310452", '-', "123")).is_err());
        assert!(check_identity_code(&make("001352", '-', "123")).is_err());
        assert!(check_identity_code("131052-308U").is_err());
        assert!(check_identity_code("131052308T").is_err());
        assert!(check_identity_code("1234567-8").is_err()); // a business id is not a person
        let (ptr, detail) = validate(&SendMessage {
            recipient_identity_code: "131052-308U".into(),
            ..message()
        })
        .remove(0);
        assert_eq!(ptr, "/recipient_identity_code");
        assert!(!detail.contains("131052"));
    }

    #[test]
    fn lengths_follow_the_spec() {
        let ok = SendMessage {
            title: "ä".repeat(256),
            body: "ö".repeat(40_000),
            ..message()
        };
        assert!(validate(&ok).is_empty());
        let long = SendMessage {
            title: "ä".repeat(257),
            body: "ö".repeat(40_001),
            ..message()
        };
        assert_eq!(pointers(&long), ["/title", "/body"]);
        let empty = SendMessage {
            title: " ".into(),
            body: "".into(),
            language: "se".into(),
            ..message()
        };
        assert_eq!(pointers(&empty), ["/title", "/body", "/language"]);
    }

    #[test]
    fn attachments_are_checked_for_type_size_encoding_and_name() {
        let big = vec![0u8; crate::multipart::max_file_bytes("Päätös.pdf", "application/pdf")];
        let at_limit = Attachment {
            content_base64: b64(&big),
            ..pdf()
        };
        assert!(validate(&SendMessage {
            attachments: vec![at_limit],
            ..message()
        })
        .is_empty());
        let mut bigger = big;
        bigger.push(0);
        let cases = vec![
            Attachment {
                content_base64: b64(&bigger),
                ..pdf()
            },
            Attachment {
                media_type: "application/zip".into(),
                ..pdf()
            },
            Attachment {
                content_base64: "not base64!".into(),
                ..pdf()
            },
            Attachment {
                content_base64: "".into(),
                ..pdf()
            },
            Attachment {
                file_name: "../etc/passwd".into(),
                ..pdf()
            },
            Attachment {
                file_name: " ".into(),
                ..pdf()
            },
        ];
        let problems = pointers(&SendMessage {
            attachments: cases,
            ..message()
        });
        assert_eq!(
            problems,
            [
                "/attachments/0/content_base64",
                "/attachments/1/media_type",
                "/attachments/2/content_base64",
                "/attachments/3/content_base64",
                "/attachments/4/file_name",
                "/attachments/5/file_name"
            ]
        );
        let wrapped = Attachment {
            content_base64: "JVBE\r\nRi0x\n".into(),
            ..pdf()
        };
        assert!(validate(&SendMessage {
            attachments: vec![wrapped],
            ..message()
        })
        .is_empty());
        let too_many = SendMessage {
            attachments: vec![pdf(); 51],
            ..message()
        };
        assert_eq!(pointers(&too_many), ["/attachments"]);
    }

    #[test]
    fn paper_mail_needs_a_complete_address_and_a_pdf_letter() {
        let no_letter = SendMessage {
            paper_address: Some(address()),
            ..message()
        };
        assert_eq!(pointers(&no_letter), ["/attachments"]);
        let not_pdf = SendMessage {
            paper_address: Some(address()),
            attachments: vec![Attachment {
                media_type: "image/png".into(),
                ..pdf()
            }],
            ..message()
        };
        assert_eq!(pointers(&not_pdf), ["/attachments/0/media_type"]);
        let incomplete = SendMessage {
            paper_address: Some(PaperAddress {
                name: "".into(),
                additional_name: Some("".into()),
                street_address: " ".into(),
                zip_code: "2010".into(),
                city: "".into(),
                country_code: Some("ZZ".into()),
            }),
            attachments: vec![pdf()],
            ..message()
        };
        assert_eq!(
            pointers(&incomplete),
            [
                "/paper_address/name",
                "/paper_address/additional_name",
                "/paper_address/street_address",
                "/paper_address/city",
                "/paper_address/country_code"
            ]
        );
        let finnish_zip = SendMessage {
            paper_address: Some(PaperAddress {
                zip_code: "2010".into(),
                ..address()
            }),
            attachments: vec![pdf()],
            ..message()
        };
        assert_eq!(pointers(&finnish_zip), ["/paper_address/zip_code"]);
        let swedish = SendMessage {
            paper_address: Some(PaperAddress {
                zip_code: "111 22".into(),
                country_code: Some("se".into()),
                ..address()
            }),
            attachments: vec![pdf()],
            ..message()
        };
        assert!(validate(&swedish).is_empty());
    }

    #[test]
    fn identity_codes_are_redacted_from_foreign_text() {
        assert_eq!(
            redact_identity_codes("recipient 131052-308T and 010150A123x not found"),
            "recipient [identity code] and [identity code] not found"
        );
        assert_eq!(redact_identity_codes("Päätös 1234567-8 ok"), "Päätös 1234567-8 ok");
    }
}
