//! Tests that need no server: configuration, the wire JSON, event mapping, and every refusal
//! the adapter makes before it sends anything. HTTP behaviour is covered by the contract suite
//! against the simulator (`contract-tests/`).

use super::*;
use base64::Engine;
use serde_json::json;
use std::path::Path;

const CODE: &str = "131052-308T";

struct Fixture {
    _dir: tempfile::TempDir,
    config: MessagesConfig,
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("messages.password");
    std::fs::write(&password_file, "Salasana-joka-on-tarpeeksi-pitka-1234!\n").unwrap();
    let posti_password_file = dir.path().join("posti.password");
    std::fs::write(&posti_password_file, "1234\n").unwrap();
    let config = MessagesConfig {
        base_url: format!("http://127.0.0.1:{}/", closed_port()),
        username: "portti-demo".into(),
        password_file,
        http: HttpClientConfig {
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(2),
            ..HttpClientConfig::default()
        },
        service_id: "varha-asiakasohjaus".into(),
        paper_mail: Some(PaperMailConfig {
            sender_address: address(),
            posti_username: "123456".into(),
            posti_password_file,
            contact_email: "posti@varha.example".into(),
            cost_pool: Some("KOMPASSI1".into()),
            color_printing: false,
            create_address_page: true,
            two_sided_printing: true,
            rotate_landscape_pages: false,
        }),
    };
    Fixture { _dir: dir, config }
}

fn address() -> PaperAddress {
    PaperAddress {
        name: "Varsinais-Suomen hyvinvointialue".into(),
        additional_name: Some("Asiakasohjaus".into()),
        street_address: "PL 52".into(),
        zip_code: "20521".into(),
        city: "Turku".into(),
        country_code: None,
    }
}

fn pdf() -> Attachment {
    Attachment {
        file_name: "Päätös.pdf".into(),
        media_type: "application/pdf".into(),
        content_base64: base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.7 demo"),
    }
}

fn message() -> SendMessage {
    SendMessage {
        recipient_identity_code: " 131052-308t".into(),
        title: "Asiakasohjauksen päätös ".into(),
        body: "Hei, tässä päätöksenne.".into(),
        body_format: BodyFormat::Markdown,
        language: "fi".into(),
        paper_address: None,
        attachments: vec![],
    }
}

fn cx() -> CallContext {
    CallContext {
        exchange_id: uuid::Uuid::now_v7(),
        attempt: 1,
        correlation_id: "test".into(),
        deadline: Instant::now() + Duration::from_secs(5),
    }
}

fn op(name: &str, payload: Value) -> Operation {
    Operation {
        name: name.into(),
        payload,
    }
}

fn assert_no_identity_code(text: &str) {
    assert!(
        !text.contains("131052") && !text.to_uppercase().contains("308T"),
        "{text}"
    );
}

#[test]
fn the_adapter_is_built_from_its_config() {
    let f = fixture();
    let adapter = SuomifiMessages::new(f.config.clone()).unwrap();
    assert_eq!(adapter.service(), SERVICE);
    assert!(!adapter.base_url.ends_with('/'));
    let debug = format!("{adapter:?}");
    assert!(!debug.contains("Salasana") && !debug.contains("1234"), "{debug}");

    let with_tls = MessagesConfig {
        http: HttpClientConfig {
            root_ca_pem: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-example/demo-ca.pem")),
            identity: Some(portti_adapter_core::ClientIdentity::Pkcs12 {
                file: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-example/portti-outbound.p12"),
                password: "demo".into(),
            }),
            ..HttpClientConfig::default()
        },
        ..f.config.clone()
    };
    SuomifiMessages::new(with_tls).unwrap();
}

#[test]
fn bad_configs_are_refused() {
    let f = fixture();
    let refused = |config: MessagesConfig| SuomifiMessages::new(config).unwrap_err().to_string();
    assert!(refused(MessagesConfig {
        base_url: "api.messages.suomi.fi".into(),
        ..f.config.clone()
    })
    .contains("base_url"));
    assert!(refused(MessagesConfig {
        service_id: "x".repeat(65),
        ..f.config.clone()
    })
    .contains("service_id"));
    assert!(refused(MessagesConfig {
        password_file: "/nonexistent/password".into(),
        ..f.config.clone()
    })
    .contains("/nonexistent/password"));
    let empty = f.config.password_file.with_file_name("empty");
    std::fs::write(&empty, "\n").unwrap();
    assert!(refused(MessagesConfig {
        password_file: empty,
        ..f.config.clone()
    })
    .contains("empty"));
    let mut paper = f.config.paper_mail.clone().unwrap();
    paper.posti_username = "12345".into();
    assert!(refused(MessagesConfig {
        paper_mail: Some(paper),
        ..f.config.clone()
    })
    .contains("posti_username"));
    let mut paper = f.config.paper_mail.clone().unwrap();
    paper.cost_pool = Some("kompassi".into());
    assert!(refused(MessagesConfig {
        paper_mail: Some(paper),
        ..f.config.clone()
    })
    .contains("cost_pool"));
    let mut paper = f.config.paper_mail.clone().unwrap();
    paper.sender_address.zip_code = "205".into();
    assert!(refused(MessagesConfig {
        paper_mail: Some(paper),
        ..f.config.clone()
    })
    .contains("sender_address/zip_code"));
}

#[test]
fn the_config_deserializes_and_refuses_unknown_keys() {
    let config: MessagesConfig = serde_json::from_value(json!({
        "base_url": "https://api.messages.suomi.fi",
        "username": "u",
        "password_file": "/run/secrets/messages",
        "service_id": "s",
        "http": {"request_timeout": "10s", "root_ca_pem": "ca.pem"},
        "paper_mail": {
            "sender_address": {"name": "VARHA", "street_address": "PL 52", "zip_code": "20521", "city": "Turku"},
            "posti_username": "123456", "posti_password_file": "/run/secrets/posti",
            "contact_email": "a@b.fi"
        }
    }))
    .unwrap();
    assert_eq!(config.http.request_timeout, Duration::from_secs(10));
    let paper = config.paper_mail.unwrap();
    assert!(paper.create_address_page && !paper.color_printing && paper.cost_pool.is_none());
    assert!(serde_json::from_value::<MessagesConfig>(json!({
        "base_url": "b", "username": "u", "password_file": "p", "service_id": "s", "token_lifetime": 5
    }))
    .is_err());
}

#[test]
fn an_electronic_message_has_every_field_the_spec_requires() {
    let f = fixture();
    let adapter = SuomifiMessages::new(f.config).unwrap();
    let message = message();
    let exchange = uuid::Uuid::now_v7();
    let recipient = normalise_identity_code(&message.recipient_identity_code);
    let ids = vec!["0f6d5a3c-2c57-4f59-9e0a-1d1b1f7b3b11".to_owned()];
    let request = serde_json::to_value(adapter.message_request(&message, &recipient, exchange, &ids)).unwrap();
    assert_eq!(
        request,
        json!({
            "externalId": exchange.to_string(),
            "recipient": {"id": CODE},
            "sender": {"serviceId": "varha-asiakasohjaus"},
            "electronic": {
                "attachments": [{"attachmentId": "0f6d5a3c-2c57-4f59-9e0a-1d1b1f7b3b11"}],
                "body": "Hei, tässä päätöksenne.",
                "bodyFormat": "Markdown",
                "messageServiceType": "Normal",
                "notifications": {
                    "senderDetailsInNotifications": "Organisation and service name",
                    "unreadMessageNotification": {"reminder": "Default reminder"}
                },
                "replyAllowedBy": "No one",
                "title": "Asiakasohjauksen päätös",
                "visibility": "Normal"
            }
        })
    );
}

#[test]
fn a_multichannel_message_has_every_field_the_spec_requires() {
    let f = fixture();
    let adapter = SuomifiMessages::new(f.config).unwrap();
    let message = SendMessage {
        paper_address: Some(PaperAddress {
            name: " Maija Meikäläinen ".into(),
            additional_name: None,
            street_address: "Yliopistonkatu 1 A 2".into(),
            zip_code: "20100".into(),
            city: "Turku".into(),
            country_code: Some("fi".into()),
        }),
        attachments: vec![pdf(), pdf()],
        body_format: BodyFormat::Text,
        ..message()
    };
    assert!(validate(&message).is_empty());
    let exchange = uuid::Uuid::now_v7();
    let ids = vec!["a1".to_owned(), "a2".to_owned()];
    let request = serde_json::to_value(adapter.message_request(&message, CODE, exchange, &ids)).unwrap();
    assert_eq!(
        request["electronic"]["attachments"],
        json!([{"attachmentId": "a1"}, {"attachmentId": "a2"}])
    );
    assert_eq!(request["electronic"]["bodyFormat"], "Text");
    assert_eq!(
        request["paperMail"],
        json!({
            "attachments": [{"attachmentId": "a1"}],
            "colorPrinting": false,
            "createAddressPage": true,
            "messageServiceType": "Normal",
            "printingAndEnvelopingService": {
                "costPool": "KOMPASSI1",
                "postiMessaging": {"contactDetails": {"email": "posti@varha.example"}, "password": "1234", "username": "123456"}
            },
            "recipient": {"address": {
                "city": "Turku", "countryCode": "FI", "name": "Maija Meikäläinen",
                "streetAddress": "Yliopistonkatu 1 A 2", "zipCode": "20100"
            }},
            "rotateLandscapePages": false,
            "sender": {"address": {
                "additionalName": "Asiakasohjaus", "city": "Turku", "countryCode": "FI",
                "name": "Varsinais-Suomen hyvinvointialue", "streetAddress": "PL 52", "zipCode": "20521"
            }},
            "twoSidedPrinting": true
        })
    );
    assert_eq!(request["externalId"], exchange.to_string());
}

#[test]
fn events_map_to_kinds_with_their_ids_and_utc_times() {
    let event = json!({
        "type": "Posti: returned to sender",
        "eventTime": "2026-11-02T09:15:00+02:00",
        "metadata": {"messageId": 123456789012i64, "externalId": "0192f0c4-0000-7000-8000-000000000000",
                     "serviceId": "s", "postiTrackingCode": "JJFI1", "somethingNew": true},
        "alsoNew": 1
    });
    assert_eq!(
        map_event(&event),
        json!({"message_id": "123456789012", "external_id": "0192f0c4-0000-7000-8000-000000000000",
               "kind": "returned", "type": "Posti: returned to sender", "time": "2026-11-02T07:15:00Z"})
    );
    let odd = json!({"type": "Brand new", "eventTime": "not a time"});
    assert_eq!(
        map_event(&odd),
        json!({"message_id": null, "kind": "other", "type": "Brand new", "time": "not a time"})
    );
}

#[test]
fn serde_messages_lose_their_values() {
    assert_eq!(
        without_values("invalid type: string \"131052-308\", expected a sequence"),
        "invalid type: string \"…\", expected a sequence"
    );
    assert_eq!(without_values("code 131052-308T"), "code [identity code]");
}

#[tokio::test]
async fn unknown_operations_and_bad_payloads_are_permanent_and_name_no_identity_code() {
    let adapter = SuomifiMessages::new(fixture().config).unwrap();
    let cx = cx();
    let refused = |result: Result<Reply, AdapterError>| match result {
        Err(AdapterError::Permanent(text)) => {
            assert_no_identity_code(&text);
            text
        }
        other => panic!("expected a permanent error, got {other:?}"),
    };

    refused(adapter.call(&cx, &op("fax", json!({}))).await);
    refused(
        adapter
            .call(&cx, &op(OP_SEND, json!({"recipient_identity_code": CODE})))
            .await,
    );
    refused(
        adapter
            .call(&cx, &op(OP_CHECK_MAILBOXES, json!({"identity_codes": "131052-308"})))
            .await,
    );
    refused(
        adapter
            .call(&cx, &op(OP_CHANGE_PASSWORD, json!({"password": "x"})))
            .await,
    );
    refused(
        adapter
            .call(&cx, &op(OP_EVENTS, json!({"continuation_token": 5})))
            .await,
    );

    let invalid = SendMessage {
        recipient_identity_code: "131052-308U".into(),
        title: "".into(),
        ..message()
    };
    let text = refused(
        adapter
            .call(&cx, &op(OP_SEND, serde_json::to_value(&invalid).unwrap()))
            .await,
    );
    assert!(
        text.contains("/recipient_identity_code") && text.contains("/title"),
        "{text}"
    );

    let text = refused(
        adapter
            .call(
                &cx,
                &op(OP_CHECK_MAILBOXES, json!({"identity_codes": [CODE, "131052-308U"]})),
            )
            .await,
    );
    assert!(
        text.contains("/identity_codes/1") && !text.contains("/identity_codes/0"),
        "{text}"
    );
}

#[tokio::test]
async fn paper_mail_without_its_configuration_is_refused_before_sending() {
    let f = fixture();
    let adapter = SuomifiMessages::new(MessagesConfig {
        paper_mail: None,
        ..f.config
    })
    .unwrap();
    let with_paper = SendMessage {
        paper_address: Some(address()),
        attachments: vec![pdf()],
        ..message()
    };
    let result = adapter
        .call(&cx(), &op(OP_SEND, serde_json::to_value(&with_paper).unwrap()))
        .await;
    assert!(matches!(result, Err(AdapterError::Permanent(m)) if m.contains("paper_mail")));
}

#[tokio::test]
async fn an_empty_mailbox_check_asks_nothing() {
    let adapter = SuomifiMessages::new(fixture().config).unwrap();
    let reply = adapter
        .call(&cx(), &op(OP_CHECK_MAILBOXES, json!({"identity_codes": []})))
        .await
        .unwrap();
    assert_eq!(reply.body, json!({"active": []}));
    assert_eq!(reply.request_digest, None);
}

#[tokio::test]
async fn an_unreachable_service_is_transient_and_down() {
    let adapter = SuomifiMessages::new(fixture().config).unwrap();
    let result = adapter
        .call(&cx(), &op(OP_EVENTS, json!({"continuation_token": null})))
        .await;
    assert!(matches!(result, Err(AdapterError::Transient(_))), "{result:?}");
    assert_eq!(adapter.health().await, Health::Down);

    let late = CallContext {
        deadline: Instant::now(),
        ..cx()
    };
    let result = adapter
        .call(&late, &op(OP_SEND, serde_json::to_value(message()).unwrap()))
        .await;
    assert!(matches!(result, Err(AdapterError::Transient(m)) if m.contains("deadline")));
}

#[tokio::test]
async fn a_lost_rotation_leaves_the_password_file_alone() {
    // The service cannot be reached: the candidate stays pending, the password file is untouched.
    let f = fixture();
    let before = std::fs::read(&f.config.password_file).unwrap();
    let adapter = SuomifiMessages::new(f.config.clone()).unwrap();
    let result = adapter.call(&cx(), &op(OP_CHANGE_PASSWORD, json!({}))).await;
    assert!(matches!(result, Err(AdapterError::Transient(_))), "{result:?}");
    assert_eq!(std::fs::read(&f.config.password_file).unwrap(), before);
}
