//! The Suomi.fi Messages simulator over real HTTP: the contract of the official OpenAPI document.

mod common;

use common::*;
use portti_simulators::suomifi_messages::{
    Account, Channel, Config, SendCount, MAX_ATTACHMENT_CONTENT_LENGTH, SANDBOX_PASSWORD,
    SANDBOX_PERSONS_WITHOUT_MAILBOX, SANDBOX_PERSONS_WITH_MAILBOX, SANDBOX_USERNAME,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn token_has_the_spec_shape_and_bad_credentials_are_400() {
    let sim = Sim::start().await;
    let response = sim.token_for(SANDBOX_USERNAME, SANDBOX_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("traceid"));
    let body: Value = response.json().await.unwrap();
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["token_type"], "Bearer");

    let response = sim.token_for(SANDBOX_USERNAME, "wrong").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "reason": "Authentication failed" }));

    for bad in [
        json!({ "username": SANDBOX_USERNAME }),
        json!({ "username": 1, "password": "x" }),
    ] {
        let response = sim.http.post(sim.url("/v1/token")).json(&bad).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(body["reason"].is_string());
    }
    let response = sim
        .http
        .post(sim.url("/v1/token"))
        .body("{")
        .header("Content-Type", "application/json");
    assert_eq!(response.send().await.unwrap().status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn endpoints_need_a_valid_unexpired_bearer_token() {
    let mut config = Config::sandbox();
    config.token_ttl = Duration::from_secs(1);
    let sim = Sim::start_with(config).await;
    let body = json!({ "endUsers": [{ "id": WITH_MAILBOX }] });

    let response = sim
        .http
        .post(sim.url("/v1/mailboxes/active"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.json::<Value>().await.unwrap()["reason"].is_string());
    assert_eq!(
        sim.post("/v1/mailboxes/active", "not-a-token", &body).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = sim
        .http
        .get(sim.url("/v2/events"))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Expiry by time.
    let token = sim.token().await;
    assert_eq!(
        sim.post("/v1/mailboxes/active", &token, &body).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        sim.post("/v1/mailboxes/active", &token, &body).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Expiry from the control handle.
    let token = sim.token().await;
    sim.running.control().expire_tokens();
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::UNAUTHORIZED);

    let log = sim.running.control().request_log();
    assert_eq!(log[0].path, "/v1/mailboxes/active");
    assert_eq!(log[0].status, Some(401));
}

#[tokio::test]
async fn mailbox_check_returns_only_active_mailboxes_and_enforces_1_to_10000_ids() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    let ids: Vec<Value> = SANDBOX_PERSONS_WITH_MAILBOX
        .iter()
        .chain(SANDBOX_PERSONS_WITHOUT_MAILBOX.iter())
        .map(|id| json!({ "id": id }))
        .collect();
    let response = sim
        .post("/v1/mailboxes/active", &token, &json!({ "endUsers": ids }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let expected: Vec<Value> = SANDBOX_PERSONS_WITH_MAILBOX
        .iter()
        .map(|id| json!({ "id": id }))
        .collect();
    assert_eq!(body, json!({ "endUsersWithActiveMailbox": expected }));

    let many: Vec<Value> = (0..10_000).map(|_| json!({ "id": WITHOUT_MAILBOX })).collect();
    let response = sim
        .post("/v1/mailboxes/active", &token, &json!({ "endUsers": many }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let too_many: Vec<Value> = (0..10_001).map(|_| json!({ "id": WITHOUT_MAILBOX })).collect();
    for bad in [
        json!({ "endUsers": too_many }),
        json!({ "endUsers": [] }),
        json!({ "endUsers": [{ "id": "12345678" }] }),
        json!({ "endUsers": [{ "id": WITH_MAILBOX, "name": "x" }] }),
        json!({}),
    ] {
        let response = sim.post("/v1/mailboxes/active", &token, &bad).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert!(body["reason"].as_str().unwrap().starts_with("Bad request"), "{body}");
    }

    // A mailbox opened at run time.
    sim.running.control().set_mailbox_active(WITHOUT_MAILBOX, true);
    let response = sim
        .post(
            "/v1/mailboxes/active",
            &token,
            &json!({ "endUsers": [{ "id": WITHOUT_MAILBOX }] }),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["endUsersWithActiveMailbox"][0]["id"], WITHOUT_MAILBOX);
}

#[tokio::test]
async fn electronic_message_is_stored_with_an_event_and_a_repeat_is_409_with_the_original_id() {
    let sim = Sim::start().await;
    let control = sim.running.control();
    let token = sim.token().await;
    let request = electronic_message("case-1/decision", WITH_MAILBOX);
    let response = sim.post("/v2/messages/electronic", &token, &request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let message_id = body["messageId"].as_i64().unwrap();
    assert_eq!(body, json!({ "messageId": message_id }));

    let stored = control.message(message_id).unwrap();
    assert_eq!(stored.external_id, "case-1/decision");
    assert_eq!(stored.recipient_id.as_deref(), Some(WITH_MAILBOX));
    assert_eq!(stored.title.as_deref(), Some("Asiakasohjaus"));
    assert_eq!(stored.channel, Channel::Electronic);
    assert!(!stored.read);
    assert_eq!(stored.sender_account, SANDBOX_USERNAME);
    assert_eq!(stored.request, request);

    // Same externalId, even with another body: 409 and the original id.
    let mut again = request.clone();
    again["electronic"]["title"] = json!("Changed");
    let response = sim.post("/v2/messages/electronic", &token, &again).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["messageId"], message_id);
    assert!(body["reason"].is_string());
    // Also through the multichannel endpoint.
    let attachment = sim.upload_pdf(&token).await;
    let response = sim
        .post(
            "/v2/messages",
            &token,
            &multichannel_message("case-1/decision", WITH_MAILBOX, &attachment),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(response.json::<Value>().await.unwrap()["messageId"], message_id);

    assert_eq!(control.messages().len(), 1);
    assert_eq!(
        control.count_sends_by_external_id()["case-1/decision"],
        SendCount {
            created: 1,
            duplicates: 2
        }
    );
    let events = sim.all_events(&token).await;
    assert_eq!(event_types(&events), ["Electronic message created"]);
    assert_eq!(
        events[0]["metadata"],
        json!({ "messageId": message_id, "serviceId": "varha-asiakasohjaus", "externalId": "case-1/decision" })
    );
    assert!(chrono::DateTime::parse_from_rfc3339(events[0]["eventTime"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn electronic_message_without_active_mailbox_is_400_mailbox_not_in_use() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    let response = sim
        .post(
            "/v2/messages/electronic",
            &token,
            &electronic_message("x-1", WITHOUT_MAILBOX),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["validationErrors"][0]["errorCode"], "MAILBOX_NOT_IN_USE");
    assert!(body["reason"].is_string());
    assert!(sim.running.control().messages().is_empty());
    // Nothing was created, so the same externalId can be used once the mailbox is open.
    sim.running.control().set_mailbox_active(WITHOUT_MAILBOX, true);
    let response = sim
        .post(
            "/v2/messages/electronic",
            &token,
            &electronic_message("x-1", WITHOUT_MAILBOX),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn invalid_electronic_messages_list_every_problem_and_store_nothing() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    let mut request = electronic_message("bad-1", WITH_MAILBOX);
    request["electronic"]["title"] = json!("x".repeat(257));
    request["electronic"]["bodyFormat"] = json!("Html");
    request["electronic"]["language"] = json!("fi");
    request["electronic"]["notifications"]
        .as_object_mut()
        .unwrap()
        .remove("unreadMessageNotification");
    request["electronic"]["inReplyToMessageId"] = json!("12");
    request["externalId"] = json!("");
    let response = sim.post("/v2/messages/electronic", &token, &request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    let errors: Vec<&str> = body["validationErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["error"].as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        [
            "electronic.bodyFormat: must be one of 'Text', 'Markdown'",
            "electronic.inReplyToMessageId: must be an integer (int64)",
            "electronic.notifications.unreadMessageNotification: is required",
            "electronic.title: length must be between 1 and 256",
            "electronic.language: unknown property",
            "externalId: length must be between 1 and 256",
        ]
    );

    let mut request = electronic_message("bad-2", "010594Y9033");
    request["electronic"]["body"] = json!("x".repeat(40_001));
    let response = sim.post("/v2/messages/electronic", &token, &request).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["validationErrors"].as_array().unwrap().len(), 1, "{body}");
    request["electronic"]["body"] = json!("x".repeat(40_000));
    let response = sim.post("/v2/messages/electronic", &token, &request).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["validationErrors"][0]["error"],
        "recipient.id: not a valid personal identity code or Business ID"
    );

    let response = sim
        .http
        .post(sim.url("/v2/messages/electronic"))
        .bearer_auth(&token)
        .body(electronic_message("bad-3", WITH_MAILBOX).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(sim.running.control().messages().is_empty());
}

#[tokio::test]
async fn multichannel_goes_electronic_with_a_mailbox_and_paper_without() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    let pdf = sim.upload_pdf(&token).await;

    let response = sim
        .post("/v2/messages", &token, &multichannel_message("m-1", WITH_MAILBOX, &pdf))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let electronic_id = response.json::<Value>().await.unwrap()["messageId"].as_i64().unwrap();
    let response = sim
        .post(
            "/v2/messages",
            &token,
            &multichannel_message("m-2", WITHOUT_MAILBOX, &pdf),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let paper_id = response.json::<Value>().await.unwrap()["messageId"].as_i64().unwrap();

    let control = sim.running.control();
    assert_eq!(control.message(electronic_id).unwrap().channel, Channel::Electronic);
    let paper = control.message(paper_id).unwrap();
    assert_eq!(paper.channel, Channel::Paper);
    assert_eq!(paper.attachment_ids.len(), 1);
    assert_eq!(paper.attachment_ids[0].to_string(), pdf);

    let events = sim.all_events(&token).await;
    assert_eq!(
        event_types(&events),
        [
            "Electronic message created",
            "Paper mail created",
            "Sent for printing and enveloping"
        ]
    );
    assert_eq!(events[1]["metadata"]["messageId"], paper_id);
    assert_eq!(events[2]["metadata"]["externalId"], "m-2");

    // Paper can only print a PDF; an unknown attachment is refused; 400s are ErrorResponseV1 here.
    let text = sim
        .upload(&token, "note.txt", "text/plain", b"hello")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let text_id = text["attachmentId"].as_str().unwrap();
    let response = sim
        .post(
            "/v2/messages",
            &token,
            &multichannel_message("m-3", WITHOUT_MAILBOX, text_id),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("PDF"), "{body}");
    let unknown = uuid::Uuid::now_v7().to_string();
    let response = sim
        .post(
            "/v2/messages",
            &token,
            &multichannel_message("m-3", WITHOUT_MAILBOX, &unknown),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut request = multichannel_message("m-3", WITHOUT_MAILBOX, &pdf);
    request["paperMail"]["recipient"]["address"]["countryCode"] = json!("SU");
    request["paperMail"]["printingAndEnvelopingService"]["postiMessaging"]["password"] = json!("12345");
    request["paperMail"]["printingAndEnvelopingService"]["costPool"] = json!("varha");
    let response = sim.post("/v2/messages", &token, &request).await;
    let body: Value = response.json().await.unwrap();
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("paperMail.recipient.address.countryCode"), "{reason}");
    assert!(
        reason.contains("postiMessaging.password: length must be between 4 and 4"),
        "{reason}"
    );
    assert!(reason.contains("costPool: must match [A-Z0-9]+"), "{reason}");
    assert_eq!(control.messages().len(), 2);
}

#[tokio::test]
async fn attachments_enforce_types_and_the_content_length_limit() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    for (name, content_type) in [
        ("a.png", "image/png"),
        (
            "a.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ] {
        let response = sim.upload(&token, name, content_type, b"content").await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert!(uuid::Uuid::parse_str(body["attachmentId"].as_str().unwrap()).is_ok());
    }
    for content_type in ["image/gif", "application/zip", "text/html"] {
        let response = sim.upload(&token, "x", content_type, b"content").await;
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
        assert!(response.json::<Value>().await.unwrap()["reason"].is_string());
    }
    // The whole HTTP content counts, as the spec's 413 text says.
    let big = vec![b'a'; MAX_ATTACHMENT_CONTENT_LENGTH - 1024];
    assert_eq!(
        sim.upload(&token, "big.txt", "text/plain", &big).await.status(),
        StatusCode::CREATED
    );
    let too_big = vec![b'a'; MAX_ATTACHMENT_CONTENT_LENGTH];
    let response = sim.upload(&token, "big.txt", "text/plain", &too_big).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.text().await.unwrap(),
        "HTTP content length exceeded 10485760 bytes."
    );

    assert_eq!(
        sim.upload(&token, "", "text/plain", b"x").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        sim.upload(&token, "empty.txt", "text/plain", b"").await.status(),
        StatusCode::BAD_REQUEST
    );
    let response = sim
        .http
        .post(sim.url("/v2/attachments"))
        .bearer_auth(&token)
        .header("Content-Type", "multipart/form-data; boundary=b")
        .body("--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = sim.upload("bad-token", "a.pdf", "application/pdf", b"%PDF").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let stored = sim.running.control().attachments();
    assert_eq!(stored.len(), 3);
    assert!(stored
        .iter()
        .any(|a| a.file_name == "a.png" && &a.content[..] == b"content"));

    // An electronic message may reference uploads; unknown ids are refused.
    let ids: Vec<Value> = stored
        .iter()
        .map(|a| json!({ "attachmentId": a.attachment_id }))
        .collect();
    let mut request = electronic_message("att-1", WITH_MAILBOX);
    request["electronic"]["attachments"] = json!(ids);
    assert_eq!(
        sim.post("/v2/messages/electronic", &token, &request).await.status(),
        StatusCode::OK
    );
    request["externalId"] = json!("att-2");
    request["electronic"]["attachments"] = json!([{ "attachmentId": uuid::Uuid::now_v7() }]);
    let response = sim.post("/v2/messages/electronic", &token, &request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["validationErrors"][0]["error"],
        "electronic.attachments[0].attachmentId: attachment not found"
    );
}

#[tokio::test]
async fn events_page_at_most_1000_with_a_continuation_token_and_an_empty_page_when_none() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    // Nothing yet: an empty page and a token to continue from.
    let page: Value = sim.get("/v2/events", &token).await.json().await.unwrap();
    assert_eq!(page["events"], json!([]));
    let first_token = page["continuationToken"].as_str().unwrap().to_string();

    for i in 0..1001 {
        let response = sim
            .post(
                "/v2/messages/electronic",
                &token,
                &electronic_message(&format!("e-{i}"), WITH_MAILBOX),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let page: Value = sim
        .get(&format!("/v2/events?continuationToken={first_token}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 1000);
    assert_eq!(page["events"][0]["metadata"]["externalId"], "e-0");
    let next = page["continuationToken"].as_str().unwrap();
    let page: Value = sim
        .get(&format!("/v2/events?continuationToken={next}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert_eq!(page["events"][0]["metadata"]["externalId"], "e-1000");
    let next = page["continuationToken"].as_str().unwrap().to_string();
    let page: Value = sim
        .get(&format!("/v2/events?continuationToken={next}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"], json!([]));
    assert_eq!(page["continuationToken"], next, "an empty page keeps the place");

    // Smaller pages (the spec: do not rely on the number of events a page).
    sim.running.control().set_event_page_size(7);
    assert_eq!(sim.all_events(&token).await.len(), 1001);

    let response = sim.get("/v2/events?continuationToken=garbage", &token).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["reason"].is_string());

    // Events are per account.
    let mut config = Config::sandbox();
    config.accounts.push(Account {
        username: "other".into(),
        password: "Other-Account-Password-0123456789!".into(),
    });
    let sim = Sim::start_with(config).await;
    let token = sim.token().await;
    sim.post(
        "/v2/messages/electronic",
        &token,
        &electronic_message("p-1", WITH_MAILBOX),
    )
    .await;
    let other = sim
        .token_for("other", "Other-Account-Password-0123456789!")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let other = other["access_token"].as_str().unwrap();
    assert!(sim.all_events(other).await.is_empty());
    assert_eq!(sim.all_events(&token).await.len(), 1);
}

#[tokio::test]
async fn citizen_reads_and_replies_through_the_control_endpoints() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    let mut request = electronic_message("r-1", WITH_MAILBOX);
    request["electronic"]["messageServiceType"] = json!("Verifiable");
    let id = sim
        .post("/v2/messages/electronic", &token, &request)
        .await
        .json::<Value>()
        .await
        .unwrap()["messageId"]
        .as_i64()
        .unwrap();

    let read = sim
        .http
        .post(sim.url("/_simulator/citizen/read"))
        .json(&json!({ "messageId": id }));
    assert_eq!(read.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    sim.running.control().mark_read(id).unwrap(); // reading again adds nothing
    assert!(sim.running.control().message(id).unwrap().read);
    let response = sim
        .http
        .post(sim.url("/_simulator/citizen/read"))
        .json(&json!({ "messageId": 1 }))
        .send();
    assert_eq!(response.await.unwrap().status(), StatusCode::NOT_FOUND);

    let reply = sim
        .http
        .post(sim.url("/_simulator/citizen/reply"))
        .json(&json!({ "inReplyToMessageId": id, "title": "Kiitos", "body": "Soitan huomenna." }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let reply_id = reply.json::<Value>().await.unwrap()["messageId"].as_i64().unwrap();

    let events = sim.all_events(&token).await;
    assert_eq!(
        event_types(&events),
        [
            "Electronic message created",
            "Electronic message read",
            "Receipt confirmed",
            "Electronic message from end user"
        ]
    );
    assert_eq!(events[1]["metadata"]["messageId"], id);
    assert_eq!(events[2]["metadata"]["receiptConfirmedBy"], WITH_MAILBOX);
    assert_eq!(
        events[3]["metadata"],
        json!({ "messageId": reply_id, "serviceId": "varha-asiakasohjaus" })
    );

    let message: Value = sim
        .get(&format!("/v2/messages/{reply_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(message["messageId"], reply_id);
    assert_eq!(message["electronic"]["title"], "Kiitos");
    assert_eq!(message["electronic"]["thread"]["rootMessageId"], id);
    assert_eq!(message["sender"]["mailboxOwner"]["id"], WITH_MAILBOX);
    assert_eq!(
        sim.get("/v2/messages/999999", &token).await.status(),
        StatusCode::NOT_FOUND
    );

    // Answering the reply works; answering a message that does not exist is MESSAGE_BEING_REPLIED_TO_NOT_FOUND.
    let mut answer = electronic_message("r-2", WITH_MAILBOX);
    answer["electronic"]["inReplyToMessageId"] = json!(reply_id);
    assert_eq!(
        sim.post("/v2/messages/electronic", &token, &answer).await.status(),
        StatusCode::OK
    );
    answer["externalId"] = json!("r-3");
    answer["electronic"]["inReplyToMessageId"] = json!(424242);
    let response = sim.post("/v2/messages/electronic", &token, &answer).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["validationErrors"][0]["errorCode"],
        "MESSAGE_BEING_REPLIED_TO_NOT_FOUND"
    );

    let messages: Value = sim
        .http
        .get(sim.url("/_simulator/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(messages.as_array().unwrap().len(), 2);
    assert_eq!(messages[0]["read"], true);
}

#[tokio::test]
async fn change_password_enforces_the_policy_and_really_changes_it() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    let change = |token: &str, current: &str, new: &str| json!({ "accessToken": token, "currentPassword": current, "newPassword": new });
    let weak = [
        "Short-1a!",
        "no-upper-case-letters-here-12345678!",
        "NO-LOWER-CASE-LETTERS-HERE-12345678!",
        "No-Numbers-Here-At-All-Whatsoever-X!",
        "NoSymbolsHereAtAllWhatsoever1234567",
    ];
    for new in weak {
        let response = sim
            .http
            .post(sim.url("/v1/change-password"))
            .json(&change(&token, SANDBOX_PASSWORD, new));
        let response = response.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{new}");
        let body: Value = response.json().await.unwrap();
        assert!(body["reason"].as_str().unwrap().contains("policy"), "{body}");
    }
    let new = "Uusi-Salasana-2026-Kevät!#-0123456";
    let response = sim
        .http
        .post(sim.url("/v1/change-password"))
        .json(&change(&token, "wrong", new));
    assert_eq!(response.send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    let response = sim
        .http
        .post(sim.url("/v1/change-password"))
        .json(&change("bad", SANDBOX_PASSWORD, new));
    assert_eq!(response.send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        sim.running.control().password(SANDBOX_USERNAME).as_deref(),
        Some(SANDBOX_PASSWORD)
    );

    let response = sim
        .http
        .post(sim.url("/v1/change-password"))
        .json(&change(&token, SANDBOX_PASSWORD, new));
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));

    // The old password and the old token stop working; the new password works.
    assert_eq!(
        sim.token_for(SANDBOX_USERNAME, SANDBOX_PASSWORD).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::UNAUTHORIZED);
    let response = sim.token_for(SANDBOX_USERNAME, new).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sim.get("/v2/events", &token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn paper_mail_without_id_and_unknown_paths() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    let pdf = sim.upload_pdf(&token).await;
    let full = multichannel_message("pw-1", WITHOUT_MAILBOX, &pdf);
    let request = json!({ "externalId": "pw-1", "paperMail": full["paperMail"], "sender": full["sender"] });
    let response = sim.post("/v2/paper-mail-without-id", &token, &request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.json::<Value>().await.unwrap()["messageId"].as_i64().unwrap();
    let message = sim.running.control().message(id).unwrap();
    assert_eq!((message.channel, message.recipient_id), (Channel::Paper, None));
    let response = sim.post("/v2/paper-mail-without-id", &token, &request).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.json::<Value>().await.unwrap()["reason"].is_string());

    let response = sim.get("/v9/nothing", &token).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
