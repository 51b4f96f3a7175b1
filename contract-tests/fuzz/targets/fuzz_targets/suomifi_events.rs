//! Suomi.fi Messages' events pages (`GET /v2/events`): `portti_suomifi_messages::events_page`.
//!
//! Properties: every event of the page is kept, in order, with a kind; the continuation token is
//! never lost; a time that is RFC 3339 comes out as the same instant in UTC.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portti_suomifi_messages::events_page;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(page) = events_page(&json, Some("asked-with".into())) else {
        assert!(
            json.get("events").and_then(Value::as_array).is_none(),
            "a page with events refused"
        );
        return;
    };
    let sent = json["events"].as_array().expect("events");
    let got = page["events"].as_array().expect("events out");
    assert_eq!(sent.len(), got.len());
    assert!(
        page["continuation_token"].is_string(),
        "the continuation token was lost"
    );
    for (event, out) in sent.iter().zip(got) {
        assert!(out["kind"].is_string(), "no kind: {out}");
        assert!(out["message_id"].is_string() || out["message_id"].is_null());
        if let Some(time) = event.get("eventTime").and_then(Value::as_str) {
            let out_time = out["time"].as_str().expect("a time");
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(time) {
                let back = chrono::DateTime::parse_from_rfc3339(out_time).expect("RFC 3339 out");
                assert_eq!(back, t, "{time} became {out_time}");
                assert!(out_time.ends_with('Z'), "{out_time}");
            }
        }
    }
});
