//! Helpers shared by the simulator's HTTP tests.
#![allow(dead_code)]

use portti_simulators::suomifi_messages::{self, Config, Running, SANDBOX_PASSWORD, SANDBOX_USERNAME};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

pub const WITH_MAILBOX: &str = "010594Y9032";
pub const WITHOUT_MAILBOX: &str = "131052-308T";

pub struct Sim {
    pub running: Running,
    pub http: Client,
    pub base: String,
}

impl Sim {
    pub async fn start() -> Sim {
        Self::start_with(Config::sandbox()).await
    }

    pub async fn start_with(config: Config) -> Sim {
        let running = suomifi_messages::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let base = running.base_url();
        Sim {
            running,
            http: Client::new(),
            base,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn token_for(&self, username: &str, password: &str) -> Response {
        self.http
            .post(self.url("/v1/token"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// A fresh sandbox token.
    pub async fn token(&self) -> String {
        let response = self.token_for(SANDBOX_USERNAME, SANDBOX_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// `POST /v2/attachments` with a hand-built multipart body.
    pub async fn upload(&self, token: &str, file_name: &str, content_type: &str, content: &[u8]) -> Response {
        let boundary = "----portti-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n").as_bytes(),
        );
        body.extend_from_slice(format!("Content-Type: {content_type}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.http
            .post(self.url("/v2/attachments"))
            .bearer_auth(token)
            .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn upload_pdf(&self, token: &str) -> String {
        let response = self
            .upload(token, "letter.pdf", "application/pdf", b"%PDF-1.7\n%demo\n")
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["attachmentId"].as_str().unwrap().to_string()
    }

    /// All events from the start, following continuation tokens until an empty page.
    pub async fn all_events(&self, token: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut continuation = String::new();
        loop {
            let response = self
                .http
                .get(self.url("/v2/events"))
                .bearer_auth(token)
                .query(&[("continuationToken", continuation.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let page: Value = response.json().await.unwrap();
            continuation = page["continuationToken"].as_str().unwrap().to_string();
            let list = page["events"].as_array().unwrap();
            if list.is_empty() {
                return events;
            }
            events.extend(list.iter().cloned());
        }
    }
}

pub fn electronic_part(title: &str) -> Value {
    json!({
        "attachments": [],
        "body": "Hei! Asiakasohjauksen yhteydenottosi on käsitelty.",
        "bodyFormat": "Text",
        "messageServiceType": "Normal",
        "notifications": {
            "senderDetailsInNotifications": "Organisation and service name",
            "unreadMessageNotification": { "reminder": "Default reminder" }
        },
        "replyAllowedBy": "Anyone",
        "title": title,
        "visibility": "Normal"
    })
}

pub fn electronic_message(external_id: &str, recipient: &str) -> Value {
    json!({
        "electronic": electronic_part("Asiakasohjaus"),
        "externalId": external_id,
        "recipient": { "id": recipient },
        "sender": { "serviceId": "varha-asiakasohjaus" }
    })
}

fn address(name: &str) -> Value {
    json!({ "name": name, "streetAddress": "Linnankatu 1", "zipCode": "20100", "city": "Turku", "countryCode": "FI" })
}

pub fn multichannel_message(external_id: &str, recipient: &str, attachment_id: &str) -> Value {
    json!({
        "electronic": electronic_part("Asiakasohjaus"),
        "externalId": external_id,
        "paperMail": {
            "attachments": [{ "attachmentId": attachment_id }],
            "colorPrinting": false,
            "createAddressPage": true,
            "messageServiceType": "Normal",
            "printingAndEnvelopingService": {
                "costPool": "VARHA01",
                "postiMessaging": {
                    "contactDetails": { "email": "posti@example.invalid" },
                    "password": "1234",
                    "username": "123456"
                }
            },
            "recipient": { "address": address("Testi Henkilö") },
            "rotateLandscapePages": false,
            "sender": { "address": address("VARHA asiakasohjaus") },
            "twoSidedPrinting": true
        },
        "recipient": { "id": recipient },
        "sender": { "serviceId": "varha-asiakasohjaus" }
    })
}

pub fn event_types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
}
