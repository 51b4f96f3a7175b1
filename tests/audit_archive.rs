//! Verifiable audit logs against a real sandbox store: signed and timestamped checkpoints (the
//! TSA simulator), archive segments written and removed from the database, `portti audit verify`
//! (the binary) over both, and tampering with archives and checkpoints caught; TSA faults; the
//! payload retention leaving the chain intact.

use base64::Engine;
use chrono::Utc;
use portti::app::Gateway;
use portti::audit::archive::{self, SegmentHeader};
use portti::audit::{audit_status, Actor, AuditEvent, AuditKeys, AuditRecord, CheckpointSigner};
use portti::config::Config;
use portti::store::{Exchange, ExchangeStatus, Store, Write};
use portti_simulators::tsa::Fault;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_portti");

fn config(dir: &Path) -> Config {
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut config = Config {
        listen: any,
        data_dir: dir.join("data"),
        ..Config::default()
    };
    let s = &mut config.sandbox_services;
    (s.messages_listen, s.kanta_listen, s.identification_listen) = (any, any, any);
    (s.mandates_listen, s.oda_listen, s.tsa_listen, s.ptv_listen) = (any, any, any, any);
    config
}

fn event(n: usize) -> AuditEvent {
    AuditEvent {
        time: Utc::now(),
        actor: Actor {
            client_id: format!("client-{n}"),
            end_user: None,
            role: None,
        },
        action: "case.read".into(),
        purpose: None,
        person: None,
        organisation: Some("853".into()),
        service: None,
        exchange_id: None,
        outcome: "ok".into(),
        request_digest: None,
        response_digest: None,
        correlation_id: format!("req-{n}"),
    }
}

async fn append(store: &Store, n: usize) {
    store.append_audit((0..n).map(event).collect()).await.unwrap();
}

async fn checkpoint(gateway: &Gateway) -> portti::store::JobRun {
    gateway.jobs.run(portti::jobs::AUDIT_CHECKPOINT).await.unwrap()
}

fn store_of(gateway: &Gateway) -> Store {
    gateway.state.store.clone()
}

fn keys_of(gateway: &Gateway) -> AuditKeys {
    (**gateway.state.audit_keys.as_ref().unwrap()).clone()
}

fn cli(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env_remove("PORTTI_CONFIG")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn tamper(dir: &Path, sql: &str) {
    use sqlx::Connection;
    let db = dir.join("data/portti.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
}

/// Two archived segments (records 1–10 and 11–15) and three records left in the database.
async fn archived(dir: &Path) -> (Gateway, PathBuf) {
    let gateway = portti::app::build(&config(dir)).await.unwrap();
    let store = store_of(&gateway);
    let archive_dir = dir.join("data/audit-archive");
    append(&store, 10).await;
    let run = checkpoint(&gateway).await;
    assert_eq!(run.outcome, "ok", "{run:?}");
    assert_eq!(run.counts["timestamped"], true);
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    let first = archive::archive_before(&store, &keys_of(&gateway), &archive_dir, tomorrow)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.first_seq, first.last_seq), (1, 10));
    append(&store, 5).await;
    checkpoint(&gateway).await;
    append(&store, 3).await;
    let second = archive::archive_before(&store, &keys_of(&gateway), &archive_dir, tomorrow)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.first_seq, second.last_seq), (11, 15));
    assert_eq!(second.prev_hash, first.last_hash);
    (gateway, archive_dir)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn problems(dir: &Path, keys: &AuditKeys) -> Vec<String> {
    archive::verify_dir(dir, keys, None, &|_| {}).unwrap().problems
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in segment_files(from) {
        std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
    }
}

#[tokio::test]
async fn archives_verify_alone_in_sequence_and_with_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, archive_dir) = archived(dir.path()).await;
    let store = store_of(&gateway);
    let keys = keys_of(&gateway);

    let status = audit_status(&store, &keys, &|_| {}).await.unwrap();
    assert!(status.valid, "{status:?}");
    assert_eq!(
        (status.archives, status.archived_to_seq, status.records, status.head_seq),
        (2, 15, 3, 18)
    );
    assert_eq!(status.checkpoints, 2);
    assert!(status.last_checkpoint.as_ref().unwrap().timestamped);
    assert_eq!(store.audit_count().await.unwrap(), 3);

    let report = archive::verify_dir(
        &archive_dir,
        &keys,
        Some(&store.audit_archives().await.unwrap()),
        &|_| {},
    )
    .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.segments.len(), report.records, report.head.0), (2, 15, 15));

    // The chain goes on after its archived part, also for a new writer (a restart).
    append(&store, 1).await;
    assert_eq!(store.audit_head().await.unwrap().seq, 19);
    drop(gateway);
    let gateway = portti::app::build(&config(dir.path())).await.unwrap();
    append(&store_of(&gateway), 1).await;
    assert_eq!(store_of(&gateway).audit_head().await.unwrap().seq, 20);
    let run = checkpoint(&gateway).await;
    assert_eq!(run.counts["seq"], 20, "{run:?}");
    drop(gateway);

    // The binary: the database and the archive directory.
    let (code, said) = cli(
        dir.path(),
        &["audit", "verify", "--archive", archive_dir.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("archive: 2 segments, 15 records"), "{said}");
    assert!(said.contains("audit trail OK"), "{said}");
    // The database still refuses to drop a row no archive holds.
    use sqlx::Connection;
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.path().join("data/portti.db").display()))
            .await
            .unwrap();
    let refused = sqlx::query("DELETE FROM audit_log WHERE seq = 16")
        .execute(&mut conn)
        .await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    assert!(sqlx::query("DELETE FROM audit_archives")
        .execute(&mut conn)
        .await
        .is_err());
    assert!(sqlx::query("UPDATE audit_checkpoints SET seq = 1")
        .execute(&mut conn)
        .await
        .is_err());

    // The command archives what the last checkpoint closes (records 16–20), and refuses bad dates.
    let (code, said) = cli(dir.path(), &["audit", "archive", "--before", "2999-01-01"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("archived records 16–20"), "{said}");
    let (code, said) = cli(dir.path(), &["audit", "archive", "--before", "2999-01-01"]);
    assert!(code == Some(0) && said.contains("nothing to archive"), "{said}");
    let (code, said) = cli(dir.path(), &["audit", "archive", "--before", "yesterday"]);
    assert!(
        code != Some(0) && said.contains("neither YYYY-MM-DD nor an RFC 3339 time"),
        "{said}"
    );
    let (code, said) = cli(
        dir.path(),
        &["audit", "verify", "--archive", archive_dir.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("archive: 3 segments, 20 records"), "{said}");

    // The archive on its own, elsewhere, with no database beside it.
    let elsewhere = tempfile::tempdir().unwrap();
    copy_dir(&archive_dir, &elsewhere.path().join("a"));
    std::fs::create_dir_all(elsewhere.path().join("data")).unwrap();
    for f in ["audit-checkpoint.key", "sandbox-tsa.pem"] {
        std::fs::copy(dir.path().join("data").join(f), elsewhere.path().join("data").join(f)).unwrap();
    }
    let (code, said) = cli(elsewhere.path(), &["audit", "verify", "--archive", "a"]);
    assert_eq!(code, Some(0), "{said}");
}

#[tokio::test]
async fn tampered_archives_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, archive_dir) = archived(dir.path()).await;
    let keys = keys_of(&gateway);
    let recorded = store_of(&gateway).audit_archives().await.unwrap();
    let case = |name: &str| {
        let d = dir.path().join(name);
        copy_dir(&archive_dir, &d);
        let files = segment_files(&d);
        (d, files)
    };

    // An edited record.
    let (d, files) = case("edited");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    std::fs::write(
        &files[0],
        text.replacen("\"outcome\":\"ok\"", "\"outcome\":\"denied\"", 1),
    )
    .unwrap();
    let p = problems(&d, &keys);
    assert!(p[0].contains("altered"), "{p:?}");
    let (code, said) = cli(dir.path(), &["audit", "verify", "--archive", d.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("BROKEN"), "{said}");

    // A missing segment: on its own the gap shows; against the database, the missing file too.
    let (d, files) = case("missing");
    std::fs::remove_file(&files[0]).unwrap();
    let p = problems(&d, &keys);
    assert!(p[0].contains("a segment is missing"), "{p:?}");
    let (d, files) = case("missing-last");
    std::fs::remove_file(&files[1]).unwrap();
    assert!(problems(&d, &keys).is_empty());
    let report = archive::verify_dir(&d, &keys, Some(&recorded), &|_| {}).unwrap();
    assert!(report.problems[0].contains("missing"), "{:?}", report.problems);

    // Reordered segments: each file under the other's name.
    let (d, files) = case("reordered");
    let tmp = d.join("swap");
    std::fs::rename(&files[0], &tmp).unwrap();
    std::fs::rename(&files[1], &files[0]).unwrap();
    std::fs::rename(&tmp, &files[1]).unwrap();
    let p = problems(&d, &keys);
    assert!(p[0].contains("out of order"), "{p:?}");

    // A segment with a wrong linking hash (and everything else consistent with it).
    let (d, files) = case("linking");
    let text = std::fs::read_to_string(&files[1]).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut header: SegmentHeader = serde_json::from_str(&lines[0]).unwrap();
    header.prev_hash = "ab".repeat(32);
    lines[0] = serde_json::to_string(&header).unwrap();
    std::fs::write(&files[1], lines.join("\n") + "\n").unwrap();
    let p = problems(&d, &keys);
    assert!(p[0].contains("linking hash"), "{p:?}");

    // A checkpoint signed with another key, and one edited after signing.
    let other = CheckpointSigner::from_pem(&CheckpointSigner::generate_pem().unwrap()).unwrap();
    let (d, files) = case("wrong-key");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut header: SegmentHeader = serde_json::from_str(&lines[0]).unwrap();
    let mut forged = other
        .sign(
            &portti::audit::ChainHead {
                seq: header.last_seq,
                hash: header.last_hash.clone(),
            },
            header.checkpoint.time,
        )
        .unwrap();
    header.checkpoint = forged.clone();
    lines[0] = serde_json::to_string(&header).unwrap();
    std::fs::write(&files[0], lines.join("\n") + "\n").unwrap();
    let p = problems(&d, &keys);
    assert!(p[0].contains("not the configured audit key"), "{p:?}");
    forged.key_id = keys.key.key_id().to_string();
    header.checkpoint = forged;
    lines[0] = serde_json::to_string(&header).unwrap();
    std::fs::write(&files[0], lines.join("\n") + "\n").unwrap();
    let p = problems(&d, &keys);
    assert!(p[0].contains("signature does not match"), "{p:?}");

    // A record cut off a segment's end.
    let (d, files) = case("truncated");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&files[0], lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let p = problems(&d, &keys);
    assert!(p[0].contains("records are missing"), "{p:?}");

    // A record of a segment that is no audit record at all.
    let (d, files) = case("garbage");
    let mut text = std::fs::read_to_string(&files[0]).unwrap();
    text.push_str("{\"not\": \"a record\"}\n");
    std::fs::write(&files[0], text).unwrap();
    assert!(!problems(&d, &keys).is_empty());
    let _: Option<AuditRecord> = None;
}

#[tokio::test]
async fn tampered_checkpoints_and_pruned_rows_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = portti::app::build(&config(dir.path())).await.unwrap();
    let store = store_of(&gateway);
    let keys = keys_of(&gateway);
    append(&store, 6).await;
    checkpoint(&gateway).await;
    append(&store, 4).await;
    checkpoint(&gateway).await;
    append(&store, 2).await;
    assert!(audit_status(&store, &keys, &|_| {}).await.unwrap().valid);

    // The interop check: the stored token verifies with the openssl command.
    let last = store.last_checkpoint().await.unwrap().unwrap();
    let token = base64::engine::general_purpose::STANDARD
        .decode(last.timestamp_token.as_ref().unwrap())
        .unwrap();
    std::fs::write(dir.path().join("token.der"), &token).unwrap();
    std::fs::write(dir.path().join("signed"), last.signed_bytes()).unwrap();
    let out = Command::new("openssl")
        .args([
            "ts",
            "-verify",
            "-token_in",
            "-in",
            "token.der",
            "-data",
            "signed",
            "-CAfile",
            "data/sandbox-tsa.pem",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(gateway);

    let status = |dir: PathBuf| async move {
        let gateway = portti::app::build(&config(&dir)).await.unwrap();
        let s = audit_status(&store_of(&gateway), &keys_of(&gateway), &|_| {})
            .await
            .unwrap();
        drop(gateway);
        s
    };

    // An edited checkpoint: another record's hash.
    let copy = |name: &str| {
        let to = dir.path().join(name);
        std::fs::create_dir_all(to.join("data")).unwrap();
        for f in std::fs::read_dir(dir.path().join("data")).unwrap() {
            let f = f.unwrap();
            if f.file_type().unwrap().is_file() && f.file_name() != "portti.lock" {
                std::fs::copy(f.path(), to.join("data").join(f.file_name())).unwrap();
            }
        }
        to
    };
    let d = copy("edited-checkpoint");
    tamper(&d, "DROP TRIGGER audit_checkpoints_no_update; UPDATE audit_checkpoints SET seq = 5, hash = (SELECT hash FROM audit_log WHERE seq = 5) WHERE seq = 6;").await;
    let s = status(d.clone()).await;
    assert!(
        s.problems.iter().any(|p| p.contains("signature does not match")),
        "{:?}",
        s.problems
    );
    let (code, said) = cli(&d, &["audit", "verify"]);
    assert_eq!(code, Some(2), "{said}");

    // A token moved from one checkpoint to another (a token for other data).
    let d = copy("moved-token");
    tamper(&d, "DROP TRIGGER audit_checkpoints_no_update; UPDATE audit_checkpoints SET timestamp_token = (SELECT timestamp_token FROM audit_checkpoints WHERE seq = 10), timestamped_at = (SELECT timestamped_at FROM audit_checkpoints WHERE seq = 10) WHERE seq = 6;").await;
    let s = status(d).await;
    assert!(
        s.problems.iter().any(|p| p.contains("record 6: timestamp")),
        "{:?}",
        s.problems
    );

    // Rows removed without an archive, at the start and at the end.
    let d = copy("pruned");
    tamper(
        &d,
        "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq <= 3;",
    )
    .await;
    let s = status(d.clone()).await;
    assert!(
        s.problems[0].contains("records 1–3 are gone and no archive records them"),
        "{:?}",
        s.problems
    );
    let (code, said) = cli(&d, &["audit", "verify"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("no archive records them"), "{said}");
    let d = copy("cut-off");
    tamper(
        &d,
        "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq >= 9;",
    )
    .await;
    let s = status(d).await;
    assert!(
        s.problems.iter().any(|p| p.contains("removed from its end")),
        "{:?}",
        s.problems
    );
}

#[tokio::test]
async fn tsa_faults_leave_a_signed_checkpoint_and_a_later_run_timestamps_it() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = portti::app::build(&config(dir.path())).await.unwrap();
    let store = store_of(&gateway);
    let keys = keys_of(&gateway);
    let tsa = gateway.tsa_simulator.as_ref().unwrap().control();
    for (i, fault) in [
        Fault::Status(503),
        Fault::TooManyRequests { retry_after_seconds: 5 },
        Fault::DropConnection,
        Fault::MalformedReply,
        Fault::WrongImprint,
    ]
    .into_iter()
    .enumerate()
    {
        append(&store, 1).await;
        tsa.inject(fault.clone(), Some(1));
        let run = checkpoint(&gateway).await;
        assert_eq!(run.outcome, "failed", "{fault:?}: {run:?}");
        assert_eq!(run.counts["timestamped"], false);
        assert!(run.error.as_deref().unwrap().contains("without a timestamp"), "{run:?}");
        let last = store.last_checkpoint().await.unwrap().unwrap();
        assert_eq!((last.seq, last.timestamp_token.is_none()), (i as i64 + 1, true));
        // Still a valid trail: signed, only not timestamped.
        assert!(audit_status(&store, &keys, &|_| {}).await.unwrap().valid);
    }
    // The TSA is back: the same head is signed again, now with a token; then nothing to do.
    let run = checkpoint(&gateway).await;
    assert_eq!(
        (run.outcome.as_str(), &run.counts["timestamped"]),
        ("ok", &serde_json::json!(true)),
        "{run:?}"
    );
    let run = checkpoint(&gateway).await;
    assert_eq!(run.counts["reason"], "unchanged");
    let status = audit_status(&store, &keys, &|_| {}).await.unwrap();
    assert!(status.valid && status.last_checkpoint.unwrap().timestamped);
    assert_eq!(status.checkpoints, 6);
}

#[tokio::test]
async fn exchange_payloads_are_pruned_without_breaking_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = portti::app::build(&config(dir.path())).await.unwrap();
    let store = store_of(&gateway);
    let keys = keys_of(&gateway);
    let exchange = |status: ExchangeStatus, days_ago: i64| {
        let at = Utc::now() - chrono::Duration::days(days_ago);
        Exchange {
            id: uuid::Uuid::now_v7(),
            service: "suomifi-messages".into(),
            organisation: "853".into(),
            operation: "send".into(),
            payload: serde_json::json!({ "title": "Asiakasohjaus", "body": "personal" }),
            person: None,
            case_id: None,
            status,
            attempts: 1,
            budget_attempt: 0,
            budget_since: at,
            due_at: at,
            lease_until: None,
            upstream_id: Some("42".into()),
            last_error: None,
            recorded_by: "test".into(),
            correlation_id: "c".into(),
            created_at: at,
            updated_at: at,
        }
    };
    let old = exchange(ExchangeStatus::Succeeded, 100);
    let old_dead = exchange(ExchangeStatus::Dead, 91);
    let recent = exchange(ExchangeStatus::Succeeded, 10);
    let waiting = exchange(ExchangeStatus::RetryScheduled, 200);
    for e in [&old, &old_dead, &recent, &waiting] {
        store
            .commit(Write {
                new_exchange: Some(e.clone()),
                audit: vec![AuditEvent {
                    exchange_id: Some(e.id),
                    action: "message.send".into(),
                    request_digest: Some(portti::audit::digest(e.payload.to_string().as_bytes())),
                    ..event(0)
                }],
                ..Write::default()
            })
            .await
            .unwrap();
    }
    checkpoint(&gateway).await;
    let run = gateway
        .jobs
        .run(portti::jobs::EXCHANGE_PAYLOAD_RETENTION)
        .await
        .unwrap();
    assert_eq!(
        (run.outcome.as_str(), &run.counts["pruned"]),
        ("ok", &serde_json::json!(2)),
        "{run:?}"
    );
    for (e, pruned) in [(&old, true), (&old_dead, true), (&recent, false), (&waiting, false)] {
        let stored = store.exchange(e.id).await.unwrap().unwrap().exchange;
        assert_eq!((stored.status, stored.upstream_id.as_deref()), (e.status, Some("42")));
        assert_eq!(stored.payload.is_null(), pruned, "{stored:?}");
        assert_eq!(store.exchange_payload_pruned_at(e.id).await.unwrap().is_some(), pruned);
    }
    let status = audit_status(&store, &keys, &|_| {}).await.unwrap();
    assert!(status.valid, "{status:?}");
    assert_eq!(status.records, 4);
    let again = gateway
        .jobs
        .run(portti::jobs::EXCHANGE_PAYLOAD_RETENTION)
        .await
        .unwrap();
    assert_eq!(again.counts["pruned"], 0);
}
