//! Suomi.fi Messages, every operation of the adapter driven directly (no gateway, no broker)
//! against the simulator over loopback HTTP: what the adapter answers and what the service
//! recorded, for `check_mailboxes`, `send` (electronic, multichannel with paper fallback,
//! idempotent repeats), `events` paging and `change_password`, and how a refusal by the service
//! surfaces.

use portti_adapter_core::{Adapter, AdapterError, CallContext, Operation, Reply};
use portti_simulators::suomifi_messages::{
    self as simulator, Channel, Control, SendCount, SANDBOX_PASSWORD, SANDBOX_PERSONS_WITHOUT_MAILBOX,
    SANDBOX_PERSONS_WITH_MAILBOX, SANDBOX_USERNAME,
};
use portti_suomifi_messages::{
    Attachment, BodyFormat, MessagesConfig, PaperAddress, PaperMailConfig, SendMessage, SuomifiMessages, MAILBOX_BATCH,
    OP_CHANGE_PASSWORD, OP_CHECK_MAILBOXES, OP_EVENTS, OP_SEND,
};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A recipient without a mailbox (multichannel goes to paper, electronic is refused).
const NO_MAILBOX: &str = "131052-308T";
/// A small file shaped like a PDF.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

struct Setup {
    adapter: SuomifiMessages,
    control: Control,
    password_file: PathBuf,
    simulator: simulator::Running,
    _dir: tempfile::TempDir,
}

/// The sandbox simulator and an adapter on its account; `paper` configures paper mail.
async fn setup(paper: bool) -> Setup {
    let sim = simulator::start(simulator::Config::sandbox(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("suomifi-messages.password");
    std::fs::write(&password_file, format!("{SANDBOX_PASSWORD}\n")).unwrap();
    let paper_mail = paper.then(|| {
        let posti_password_file = dir.path().join("posti.password");
        std::fs::write(&posti_password_file, "Ab12\n").unwrap();
        PaperMailConfig {
            sender_address: PaperAddress {
                name: "Varsinais-Suomen hyvinvointialue".into(),
                additional_name: Some("Asiakasohjaus".into()),
                street_address: "PL 52".into(),
                zip_code: "20521".into(),
                city: "Turku".into(),
                country_code: None,
            },
            posti_username: "POSTI1".into(),
            posti_password_file,
            contact_email: "tulostus@example.fi".into(),
            cost_pool: Some("CT01".into()),
            color_printing: false,
            create_address_page: true,
            two_sided_printing: false,
            rotate_landscape_pages: false,
        }
    });
    let adapter = SuomifiMessages::new(MessagesConfig {
        base_url: sim.base_url(),
        username: SANDBOX_USERNAME.into(),
        password_file: password_file.clone(),
        service_id: "portti-contract".into(),
        paper_mail,
        ..MessagesConfig::default()
    })
    .unwrap();
    Setup {
        adapter,
        control: sim.control(),
        password_file,
        simulator: sim,
        _dir: dir,
    }
}

/// A call context with a fresh exchange id.
fn cx() -> CallContext {
    CallContext {
        exchange_id: uuid::Uuid::now_v7(),
        attempt: 1,
        correlation_id: "contract-operations".into(),
        deadline: Instant::now() + Duration::from_secs(60),
    }
}

impl Setup {
    async fn call(&self, cx: &CallContext, name: &str, payload: Value) -> Result<Reply, AdapterError> {
        let operation = Operation {
            name: name.into(),
            payload,
        };
        self.adapter.call(cx, &operation).await
    }

    async fn send(&self, cx: &CallContext, message: &SendMessage) -> Result<Reply, AdapterError> {
        self.call(cx, OP_SEND, serde_json::to_value(message).unwrap()).await
    }

    /// One page of events (panics on an error).
    async fn events(&self, token: Option<&str>) -> Value {
        self.call(&cx(), OP_EVENTS, json!({ "continuation_token": token }))
            .await
            .unwrap()
            .body
    }

    /// `(method, path, status)` of the API requests with this path.
    fn requests_to(&self, path: &str) -> Vec<(String, Option<u16>)> {
        self.control
            .request_log()
            .into_iter()
            .filter(|r| r.path == path)
            .map(|r| (r.method, r.status))
            .collect()
    }
}

fn message(recipient: &str, title: &str) -> SendMessage {
    SendMessage {
        recipient_identity_code: recipient.into(),
        title: title.into(),
        body: "Hei! Soitamme teille huomenna.".into(),
        body_format: BodyFormat::Text,
        language: "fi".into(),
        paper_address: None,
        attachments: Vec::new(),
    }
}

fn pdf_attachment() -> Attachment {
    Attachment {
        file_name: "Päätös.pdf".into(),
        media_type: "application/pdf".into(),
        content_base64: base64(PDF),
    }
}

/// Standard Base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A valid personal identity code `DDMMYY-NNNC` (born 1900–1999).
fn identity_code(day: u32, month: u32, year: u32, individual: u32) -> String {
    const CHECK: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    let n = u64::from(day) * 10_000_000 + u64::from(month) * 100_000 + u64::from(year) * 1_000 + u64::from(individual);
    let check = CHECK[(n % 31) as usize] as char;
    format!("{day:02}{month:02}{year:02}-{individual:03}{check}")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn synthetic_identity_codes_match_the_sandbox_ones() {
    assert_eq!(identity_code(13, 10, 52, 308), NO_MAILBOX);
    assert_eq!(identity_code(26, 8, 81, 123), "260881-1233");
    assert_eq!(identity_code(15, 3, 70, 501), "150370-501A");
    assert_eq!(base64(b"%PDF-"), "JVBERi0=");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abc"), "YWJj");
}

#[tokio::test]
async fn check_mailboxes_answers_exactly_the_active_ones() {
    let s = setup(false).await;
    // A sandbox person's mailbox closed, a person without one given one.
    s.control.set_mailbox_active(SANDBOX_PERSONS_WITH_MAILBOX[2], false);
    s.control.set_mailbox_active(SANDBOX_PERSONS_WITHOUT_MAILBOX[1], true);
    let asked = vec![
        SANDBOX_PERSONS_WITHOUT_MAILBOX[0],
        SANDBOX_PERSONS_WITH_MAILBOX[0],
        SANDBOX_PERSONS_WITH_MAILBOX[2],
        SANDBOX_PERSONS_WITHOUT_MAILBOX[1],
        SANDBOX_PERSONS_WITH_MAILBOX[1],
        SANDBOX_PERSONS_WITHOUT_MAILBOX[2],
        SANDBOX_PERSONS_WITH_MAILBOX[4],
    ];
    let reply = s
        .call(&cx(), OP_CHECK_MAILBOXES, json!({ "identity_codes": asked }))
        .await
        .unwrap();
    assert_eq!(reply.upstream_id, None);
    assert_eq!(
        strings(&reply.body["active"]),
        [
            SANDBOX_PERSONS_WITH_MAILBOX[0],
            SANDBOX_PERSONS_WITHOUT_MAILBOX[1],
            SANDBOX_PERSONS_WITH_MAILBOX[1],
            SANDBOX_PERSONS_WITH_MAILBOX[4],
        ],
        "{}",
        reply.body
    );
    assert!(reply.request_digest.is_some() && reply.response_digest.is_some());
    assert_eq!(s.requests_to("/v1/mailboxes/active"), [("POST".to_owned(), Some(200))]);
}

#[tokio::test]
async fn check_mailboxes_splits_more_than_ten_thousand_ids_into_batches() {
    let s = setup(false).await;
    let mut codes = Vec::new();
    'dates: for year in 40..100 {
        for month in 1..=12 {
            for day in 1..=28 {
                for individual in 2..=31 {
                    codes.push(identity_code(day, month, year, individual));
                    if codes.len() == MAILBOX_BATCH + 50 {
                        break 'dates;
                    }
                }
            }
        }
    }
    let unique: std::collections::HashSet<&String> = codes.iter().collect();
    assert_eq!(unique.len(), 10_050);
    // Mailboxes in the first batch, in the second, and at the edge between them.
    let with_mailbox = [7, MAILBOX_BATCH - 1, MAILBOX_BATCH, MAILBOX_BATCH + 42];
    for &i in &with_mailbox {
        s.control.set_mailbox_active(&codes[i], true);
    }
    s.control.clear_request_log();

    let reply = s
        .call(&cx(), OP_CHECK_MAILBOXES, json!({ "identity_codes": codes }))
        .await
        .unwrap();
    let expected: Vec<String> = with_mailbox.iter().map(|&i| codes[i].clone()).collect();
    assert_eq!(strings(&reply.body["active"]), expected);
    assert_eq!(
        s.requests_to("/v1/mailboxes/active"),
        [("POST".to_owned(), Some(200)), ("POST".to_owned(), Some(200))],
        "one request per {MAILBOX_BATCH} ids"
    );
}

#[tokio::test]
async fn electronic_send_uploads_attachments_and_a_repeat_is_answered_with_the_same_id() {
    let s = setup(false).await;
    let cx = cx();
    let mut msg = message(SANDBOX_PERSONS_WITH_MAILBOX[0], "Päätös liitteenä");
    msg.attachments.push(pdf_attachment());

    let reply = s.send(&cx, &msg).await.unwrap();
    let messages = s.control.messages();
    assert_eq!(messages.len(), 1);
    let stored = &messages[0];
    assert_eq!(reply.upstream_id, Some(stored.message_id.to_string()));
    assert_eq!(reply.body["message_id"], stored.message_id.to_string());
    assert_eq!(reply.body["channel"], "electronic");
    assert_eq!(reply.body["already_sent"], false);
    assert!(reply.request_digest.is_some() && reply.response_digest.is_some());
    assert_eq!(stored.external_id, cx.exchange_id.to_string());
    assert_eq!(stored.channel, Channel::Electronic);
    assert_eq!(stored.recipient_id.as_deref(), Some(SANDBOX_PERSONS_WITH_MAILBOX[0]));
    assert_eq!(stored.service_id, "portti-contract");
    assert_eq!(stored.title.as_deref(), Some("Päätös liitteenä"));

    let attachments = s.control.attachments();
    assert_eq!(attachments.len(), 1);
    let uploaded = &attachments[0];
    assert_eq!(uploaded.content.as_ref(), PDF);
    assert_eq!(uploaded.content_type, "application/pdf");
    assert_eq!(uploaded.file_name, "Päätös.pdf");
    assert_eq!(uploaded.owner_account, SANDBOX_USERNAME);
    assert_eq!(stored.attachment_ids, [uploaded.attachment_id]);
    assert_eq!(
        stored.request.pointer("/electronic/attachments/0/attachmentId"),
        Some(&json!(uploaded.attachment_id.to_string()))
    );

    // The same exchange again (a retry after a lost answer): 409, the original id, no new message.
    let again = s.send(&cx, &msg).await.unwrap();
    assert_eq!(again.upstream_id, reply.upstream_id);
    assert_eq!(again.body["already_sent"], true);
    assert_eq!(s.control.message_count(), 1);
    assert_eq!(
        s.control.count_sends_by_external_id()[&cx.exchange_id.to_string()],
        SendCount {
            created: 1,
            duplicates: 1
        }
    );
    assert_eq!(
        s.requests_to("/v2/messages/electronic"),
        [("POST".to_owned(), Some(200)), ("POST".to_owned(), Some(409))]
    );
}

fn paper_message(recipient: &str) -> SendMessage {
    let mut msg = message(recipient, "Kutsu vastaanotolle");
    msg.paper_address = Some(PaperAddress {
        name: "Matti Meikäläinen".into(),
        additional_name: None,
        street_address: "Yliopistonkatu 1 A 2".into(),
        zip_code: "20100".into(),
        city: "Turku".into(),
        country_code: Some("FI".into()),
    });
    msg.attachments.push(pdf_attachment());
    msg
}

#[tokio::test]
async fn multichannel_without_a_mailbox_goes_to_paper_and_its_events_map() {
    let s = setup(true).await;
    let paper_cx = cx();
    let reply = s.send(&paper_cx, &paper_message(NO_MAILBOX)).await.unwrap();
    assert_eq!(reply.body["channel"], "multichannel");
    assert_eq!(s.requests_to("/v2/messages"), [("POST".to_owned(), Some(200))]);
    assert!(s.requests_to("/v2/messages/electronic").is_empty());

    let messages = s.control.messages();
    assert_eq!(messages.len(), 1);
    let stored = &messages[0];
    let message_id = stored.message_id.to_string();
    assert_eq!(reply.upstream_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(stored.channel, Channel::Paper);
    assert_eq!(stored.external_id, paper_cx.exchange_id.to_string());
    let attachments = s.control.attachments();
    assert_eq!(attachments.len(), 1);
    let letter = attachments[0].attachment_id.to_string();
    let request = &stored.request;
    assert_eq!(request["paperMail"]["attachments"][0]["attachmentId"], letter);
    assert_eq!(request["electronic"]["attachments"][0]["attachmentId"], letter);
    assert_eq!(request["paperMail"]["recipient"]["address"]["zipCode"], "20100");
    assert_eq!(request["paperMail"]["sender"]["address"]["city"], "Turku");
    let posti = &request["paperMail"]["printingAndEnvelopingService"];
    assert_eq!(posti["postiMessaging"]["username"], "POSTI1");
    assert_eq!(posti["postiMessaging"]["password"], "Ab12");
    assert_eq!(
        posti["postiMessaging"]["contactDetails"]["email"],
        "tulostus@example.fi"
    );
    assert_eq!(posti["costPool"], "CT01");

    let types: Vec<Value> = s
        .control
        .events(SANDBOX_USERNAME)
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(
        types,
        [json!("Paper mail created"), json!("Sent for printing and enveloping")]
    );

    let page = s.events(None).await;
    let events = page["events"].as_array().unwrap();
    let mapped: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        mapped,
        [
            ("created", "Paper mail created"),
            ("sent_for_printing", "Sent for printing and enveloping")
        ]
    );
    for event in events {
        assert_eq!(event["message_id"], message_id);
        assert_eq!(event["external_id"], paper_cx.exchange_id.to_string());
        assert!(event["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{event}");
    }

    // With an active mailbox the same multichannel message goes electronically.
    let electronic = s
        .send(&cx(), &paper_message(SANDBOX_PERSONS_WITH_MAILBOX[1]))
        .await
        .unwrap();
    let stored = s
        .control
        .message(electronic.upstream_id.unwrap().parse().unwrap())
        .unwrap();
    assert_eq!(stored.channel, Channel::Electronic);
}

#[tokio::test]
async fn events_pages_walk_every_event_then_answer_empty_with_a_token() {
    let s = setup(false).await;
    s.control.set_event_page_size(3);
    let mut sent = Vec::new();
    for n in 0..5 {
        let recipient = SANDBOX_PERSONS_WITH_MAILBOX[n % SANDBOX_PERSONS_WITH_MAILBOX.len()];
        let reply = s
            .send(&cx(), &message(recipient, &format!("Viesti {n}")))
            .await
            .unwrap();
        sent.push(reply.upstream_id.unwrap());
    }
    for id in &sent[..3] {
        s.control.mark_read(id.parse().unwrap()).unwrap();
    }
    let expected = s.control.events(SANDBOX_USERNAME);
    assert_eq!(expected.len(), 8);

    let mut token: Option<String> = None;
    let mut walked = Vec::new();
    let mut pages = 0;
    let last = loop {
        let page = s.events(token.as_deref()).await;
        pages += 1;
        assert!(pages <= 10, "paging does not end: {page}");
        let next = page["continuation_token"]
            .as_str()
            .expect("a token on every page")
            .to_owned();
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 3, "{page}");
        if events.is_empty() {
            break next;
        }
        walked.extend(events.iter().cloned());
        token = Some(next);
    };
    assert_eq!(pages, 4, "3 + 3 + 2 events, then an empty page");
    assert_eq!(walked.len(), expected.len());
    for (got, service) in walked.iter().zip(&expected) {
        assert_eq!(got["type"], service["type"]);
        assert_eq!(got["message_id"], service["metadata"]["messageId"].to_string());
    }
    let kinds = |kind: &str| walked.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!((kinds("created"), kinds("read")), (5, 3));
    let read: Vec<String> = walked
        .iter()
        .filter(|e| e["kind"] == "read")
        .map(|e| e["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(read, sent[..3]);

    // Asking again from the end: still nothing, still a token; new events then follow from it.
    let again = s.events(Some(&last)).await;
    assert_eq!(again["events"], json!([]));
    assert!(again["continuation_token"].is_string());
    s.control.mark_read(sent[3].parse().unwrap()).unwrap();
    let after = s.events(Some(&last)).await;
    let events = after["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "read");
    assert_eq!(events[0]["message_id"], sent[3]);
}

#[tokio::test]
async fn change_password_replaces_the_file_and_sending_goes_on_with_a_new_token() {
    let s = setup(false).await;
    s.send(&cx(), &message(SANDBOX_PERSONS_WITH_MAILBOX[0], "Ennen vaihtoa"))
        .await
        .unwrap();
    s.control.clear_request_log();

    let reply = s.call(&cx(), OP_CHANGE_PASSWORD, json!({})).await.unwrap();
    assert_eq!(reply.body, json!({"rotated": true}));
    let new = std::fs::read_to_string(&s.password_file).unwrap();
    let new = new.trim_end_matches(['\r', '\n']);
    assert_ne!(new, SANDBOX_PASSWORD);
    assert!(portti_suomifi_messages::password_meets_policy(new), "{new}");
    // The simulator's own policy check is the spec's: 32+, lower, upper, digit, symbol.
    assert!(simulator_policy_ok(new), "{new}");
    assert_eq!(s.control.password(SANDBOX_USERNAME).as_deref(), Some(new));
    let pending = s.password_file.with_file_name("suomifi-messages.password.pending");
    assert!(!pending.exists(), "the candidate file is gone once adopted");

    // The service revoked the account's tokens: the next send fetches one with the new password.
    let after = s
        .send(&cx(), &message(SANDBOX_PERSONS_WITH_MAILBOX[1], "Vaihdon jälkeen"))
        .await
        .unwrap();
    assert!(after.upstream_id.is_some());
    assert_eq!(s.control.message_count(), 2);
    let log: Vec<(String, Option<u16>)> = s
        .control
        .request_log()
        .into_iter()
        .map(|r| (r.path, r.status))
        .collect();
    let change = log
        .iter()
        .position(|r| *r == ("/v1/change-password".to_owned(), Some(200)))
        .expect("a change-password request");
    let token = log
        .iter()
        .rposition(|r| *r == ("/v1/token".to_owned(), Some(200)))
        .expect("a token request");
    let sent = log
        .iter()
        .rposition(|r| *r == ("/v2/messages/electronic".to_owned(), Some(200)))
        .expect("a send");
    assert!(change < token && token < sent, "{log:?}");
    assert!(!log.iter().any(|r| r.1 == Some(401)), "no refused token: {log:?}");

    // The old password is refused: an adapter still holding it cannot authenticate.
    let old_file = s.password_file.with_file_name("old.password");
    std::fs::write(&old_file, SANDBOX_PASSWORD).unwrap();
    let stale = SuomifiMessages::new(MessagesConfig {
        base_url: s.simulator.base_url(),
        username: SANDBOX_USERNAME.into(),
        password_file: old_file,
        service_id: "portti-contract".into(),
        ..MessagesConfig::default()
    })
    .unwrap();
    let operation = Operation {
        name: OP_EVENTS.into(),
        payload: json!({}),
    };
    let err = stale.call(&cx(), &operation).await.unwrap_err();
    assert!(matches!(err, AdapterError::Reauthenticate(_)), "{err:?}");
}

fn simulator_policy_ok(password: &str) -> bool {
    password.chars().count() >= 32
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| c.is_ascii_punctuation() || c == ' ')
}

#[tokio::test]
async fn a_refusal_by_the_service_is_permanent_with_its_reason_and_no_identity_code() {
    let s = setup(false).await;
    let err = s
        .send(&cx(), &message(NO_MAILBOX, "Sähköinen viesti"))
        .await
        .unwrap_err();
    let AdapterError::Permanent(detail) = &err else {
        panic!("expected a permanent failure, got {err:?}");
    };
    assert!(detail.contains("HTTP 400"), "{detail}");
    assert!(detail.contains("MAILBOX_NOT_IN_USE"), "{detail}");
    assert!(detail.contains("Recipient mailbox is not active"), "{detail}");
    let shown = format!("{err} {err:?}");
    for secret in [NO_MAILBOX, "131052", "308T"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert_eq!(s.control.message_count(), 0);
    assert_eq!(
        s.requests_to("/v2/messages/electronic"),
        [("POST".to_owned(), Some(400))]
    );

    // A malformed identity code is refused before any request, named by its position only.
    let bad = "131052-308U";
    let err = s
        .call(
            &cx(),
            OP_CHECK_MAILBOXES,
            json!({ "identity_codes": [SANDBOX_PERSONS_WITH_MAILBOX[0], bad] }),
        )
        .await
        .unwrap_err();
    let AdapterError::Permanent(detail) = &err else {
        panic!("expected a permanent failure, got {err:?}");
    };
    assert!(detail.contains("/identity_codes/1"), "{detail}");
    assert!(!detail.contains(bad) && !detail.contains("131052"), "{detail}");
    assert!(s.requests_to("/v1/mailboxes/active").is_empty());
}
