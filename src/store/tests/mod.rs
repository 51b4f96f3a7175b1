use super::*;
use crate::audit::{self, Actor, PersonHasher};
use crate::case::{input::CaseInput, normalise, Limits, OrganisationRegistry};
use crate::store::audit as audit_store;

/// Which database a test runs on: every test here runs on both.
#[derive(Clone, Copy)]
enum Kind {
    Sqlite,
    Postgres,
}

struct TestStore {
    store: Store,
    config: StoreConfig,
    _dir: tempfile::TempDir,
    _database: Option<testing::TestDatabase>,
}

/// A fresh store, or `None` when the test's database is not available here (see `testing`).
async fn open(kind: Kind) -> Option<TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let database = match kind {
        Kind::Sqlite => None,
        Kind::Postgres => Some(testing::TestDatabase::create().await?),
    };
    let config = StoreConfig {
        sqlite_path: dir.path().join("portti.db"),
        database_url: database.as_ref().map(|d| d.url.clone()),
        max_batch: 64,
        read_connections: 2,
        max_size_bytes: None,
    };
    let store = Store::open(&config).await.unwrap();
    Some(TestStore {
        store,
        config,
        _dir: dir,
        _database: database,
    })
}

impl TestStore {
    /// The same database opened again after the store is dropped, as after a restart.
    async fn restart(self) -> TestStore {
        let TestStore {
            store,
            config,
            _dir,
            _database,
        } = self;
        drop(store);
        let store = Store::open(&config).await.unwrap();
        TestStore {
            store,
            config,
            _dir,
            _database,
        }
    }

    /// Runs SQL the way someone with direct access to the database could.
    async fn tamper(&self, sql: &str) -> anyhow::Result<()> {
        match &self.store.backend {
            Backend::Sqlite(_) => sqlite::tamper(&self.config.sqlite_path, sql).await,
            Backend::Postgres(b) => b.tamper(sql).await,
        }
    }
}

fn case(organiser: &str, received_at: &str) -> Case {
    let input: CaseInput = serde_json::from_value(serde_json::json!({
        "organiser": organiser, "channel": "phone", "language": "fi", "received_at": received_at,
        "outcome": "open", "client": { "identity_code": "131052-308T" } }))
    .unwrap();
    let registry = OrganisationRegistry::default();
    normalise(
        input,
        &crate::case::NormaliseContext {
            registry: &registry,
            limits: Limits::default(),
            now: Utc::now(),
            id: Uuid::now_v7(),
            recorded_by: "test",
        },
    )
    .unwrap()
}

fn event(action: &str, organisation: &str) -> AuditEvent {
    AuditEvent {
        time: Utc::now(),
        actor: Actor {
            client_id: "test".into(),
            end_user: None,
            role: None,
        },
        action: action.into(),
        purpose: None,
        person: None,
        organisation: Some(organisation.into()),
        service: None,
        exchange_id: None,
        outcome: "ok".into(),
        request_digest: None,
        response_digest: None,
        correlation_id: "c".into(),
    }
}

fn write_case(case: Case) -> Write {
    let organisation = case.owner().to_string();
    Write {
        new_case: Some(NewCase { case, person: None }),
        audit: vec![event("case.create", &organisation)],
        ..Write::default()
    }
}

async fn a_case_and_its_audit_record_are_committed_together(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    let c = case("853", "2026-11-02T09:15:00+02:00");
    let outcome = t.store.commit(write_case(c.clone())).await.unwrap();
    assert_eq!(
        outcome,
        WriteOutcome::Committed {
            audit_seqs: vec![1],
            leased: vec![]
        }
    );
    assert_eq!(t.store.case(c.id).await.unwrap(), Some(c));
    let chain = t.store.audit_chain(0, 10).await.unwrap();
    assert_eq!(chain.len(), 1);
    audit::verify(&chain).unwrap();
}

async fn a_failing_write_leaves_nothing_behind_and_spares_its_batch(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    let c = case("853", "2026-11-02T09:15:00Z");
    t.store.commit(write_case(c.clone())).await.unwrap();
    // The same id again violates the primary key; sent together with good writes.
    let mut handles = Vec::new();
    for i in 0..20 {
        let store = t.store.clone();
        let w = if i == 10 {
            write_case(c.clone())
        } else {
            write_case(case("529", "2026-11-02T09:15:00Z"))
        };
        handles.push(tokio::spawn(async move { store.commit(w).await }));
    }
    let mut failures = 0;
    for h in handles {
        if h.await.unwrap().is_err() {
            failures += 1;
        }
    }
    assert_eq!(failures, 1);
    let chain = t.store.audit_chain(0, 100).await.unwrap();
    assert_eq!(chain.len(), 20, "19 new records and the first one");
    audit::verify(&chain).unwrap();
}

async fn concurrent_writes_form_one_unbroken_chain(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    let mut handles = Vec::new();
    for _ in 0..200 {
        let store = t.store.clone();
        handles.push(tokio::spawn(async move {
            store
                .commit(write_case(case("853", "2026-11-02T09:15:00Z")))
                .await
                .unwrap()
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let chain = t.store.audit_chain(0, 1000).await.unwrap();
    assert_eq!(audit::verify(&chain).unwrap().seq, 200);
    assert!(
        t.store
            .commit_stats()
            .batches
            .load(std::sync::atomic::Ordering::Relaxed)
            < 200
    );
}

async fn the_chain_head_survives_a_restart(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    t.store
        .commit(write_case(case("853", "2026-11-02T09:15:00Z")))
        .await
        .unwrap();
    let t = t.restart().await;
    let store = &t.store;
    store
        .commit(write_case(case("853", "2026-11-02T09:15:00Z")))
        .await
        .unwrap();
    let chain = store.audit_chain(0, 10).await.unwrap();
    assert_eq!(audit::verify(&chain).unwrap().seq, 2);
}

async fn idempotency_keys_replay_or_refuse(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    let claim = |hash: &str| IdempotencyClaim {
        client_id: "c".into(),
        key: "k1".into(),
        request_hash: hash.into(),
        response: StoredResponse {
            status: 201,
            location: Some("/v1/cases/x".into()),
            body: b"{}".to_vec(),
        },
    };
    let mut w = write_case(case("853", "2026-11-02T09:15:00Z"));
    w.idempotency = Some(claim("h1"));
    assert!(matches!(
        t.store.commit(w).await.unwrap(),
        WriteOutcome::Committed { .. }
    ));
    let mut again = write_case(case("853", "2026-11-02T09:15:00Z"));
    again.idempotency = Some(claim("h1"));
    assert_eq!(
        t.store.commit(again).await.unwrap(),
        WriteOutcome::Replayed(claim("h1").response)
    );
    let mut other = write_case(case("853", "2026-11-02T09:15:00Z"));
    other.idempotency = Some(claim("h2"));
    assert_eq!(t.store.commit(other).await.unwrap(), WriteOutcome::KeyReused);
    assert_eq!(
        t.store.audit_chain(0, 10).await.unwrap().len(),
        1,
        "a replay writes nothing"
    );
    let (hash, _) = t.store.idempotent_response("c", "k1").await.unwrap().unwrap();
    assert_eq!(hash, "h1");
}

async fn cases_page_by_organisation_and_time(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    for hour in 0..5 {
        t.store
            .commit(write_case(case("853", &format!("2026-11-02T0{hour}:00:00Z"))))
            .await
            .unwrap();
        t.store
            .commit(write_case(case("529", &format!("2026-11-02T0{hour}:30:00Z"))))
            .await
            .unwrap();
    }
    let mut query = CaseQuery {
        organisations: vec!["853".into()],
        received_from: Some("2026-11-02T01:00:00Z".parse().unwrap()),
        received_to: Some("2026-11-02T04:00:00Z".parse().unwrap()),
        overdue_at: None,
        after: None,
        limit: 2,
    };
    let first = t.store.cases(&query).await.unwrap();
    assert_eq!(first.items.len(), 2);
    query.after = first.next.clone();
    let second = t.store.cases(&query).await.unwrap();
    assert_eq!(second.items.len(), 1);
    assert!(second.next.is_none());
    let all: Vec<_> = first.items.iter().chain(&second.items).collect();
    assert!(all.iter().all(|c| c.organiser == "853"));
    assert!(all.windows(2).all(|w| w[0].received_at <= w[1].received_at));
    let none = t
        .store
        .cases(&CaseQuery {
            organisations: vec![],
            received_from: None,
            received_to: None,
            overdue_at: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(none.items.is_empty());
}

async fn audit_queries_filter_by_person_and_organisation(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    let hasher = PersonHasher::new(vec![9; 32]).unwrap();
    let aino = hasher.key_of(&crate::case::IdentityCode::parse("131052-308T").unwrap());
    let mut with_person = event("case.read", "853");
    with_person.person = Some(aino.clone());
    t.store
        .commit(Write {
            audit: vec![with_person, event("case.read", "853"), event("case.read", "529")],
            ..Write::default()
        })
        .await
        .unwrap();
    let query = |orgs: &[&str], person: Option<PersonKey>| AuditQuery {
        organisations: Some(orgs.iter().map(|s| s.to_string()).collect()),
        person,
        from: None,
        to: None,
        actor: None,
        action: Some("case.read".into()),
        service: None,
        after_seq: None,
        limit: 100,
    };
    assert_eq!(
        t.store.audit_records(&query(&["853"], None)).await.unwrap().items.len(),
        2
    );
    let found = t
        .store
        .audit_records(&query(&["853"], Some(aino.clone())))
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].event.person.as_ref(), Some(&aino));
    assert!(t
        .store
        .audit_records(&query(&["529"], Some(aino)))
        .await
        .unwrap()
        .items
        .is_empty());
}

async fn the_database_refuses_to_update_or_delete_audit_records(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    t.store
        .commit(write_case(case("853", "2026-11-02T09:15:00Z")))
        .await
        .unwrap();
    assert!(t.tamper("UPDATE audit_log SET outcome = 'x'").await.is_err());
    assert!(t.tamper("DELETE FROM audit_log").await.is_err());
}

async fn only_archived_audit_rows_leave_and_checkpoints_name_real_records(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    t.store
        .append_audit((0..4).map(|_| event("case.read", "853")).collect())
        .await
        .unwrap();
    let head = t.store.audit_head().await.unwrap();
    assert_eq!(head.seq, 4);
    let signer = audit::CheckpointSigner::from_pem(&audit::CheckpointSigner::generate_pem().unwrap()).unwrap();
    let checkpoint = |seq: i64, hash: &str| {
        let head = audit::ChainHead {
            seq,
            hash: hash.to_string(),
        };
        Write {
            audit_checkpoint: Some(signer.sign(&head, Utc::now()).unwrap()),
            ..Write::default()
        }
    };
    // A record the chain does not have, or another hash for one it has: refused.
    assert!(t.store.commit(checkpoint(9, &head.hash)).await.is_err());
    assert!(t.store.commit(checkpoint(4, &"00".repeat(32))).await.is_err());
    t.store.commit(checkpoint(4, &head.hash)).await.unwrap();
    assert_eq!(t.store.checkpoint_count().await.unwrap(), 1);

    let records = t.store.audit_chain(0, 10).await.unwrap();
    let archive = audit_store::ArchiveEntry {
        first_seq: 1,
        last_seq: 2,
        prev_hash: audit::GENESIS_HASH.into(),
        last_hash: records[1].hash.clone(),
        file: "audit-000000000001-000000000002.jsonl".into(),
        sha256: "x".into(),
        created_at: Utc::now(),
    };
    t.store
        .commit(Write {
            audit_archive: Some(archive),
            ..Write::default()
        })
        .await
        .unwrap();
    assert_eq!(t.store.audit_count().await.unwrap(), 2);
    assert!(t.tamper("DELETE FROM audit_log WHERE seq = 3").await.is_err());
    assert!(t.tamper("DELETE FROM audit_archives").await.is_err());
    assert_eq!(t.store.audit_head().await.unwrap(), head);
}

async fn one_key_twice_in_one_batch_commits_once(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    let claim = IdempotencyClaim {
        client_id: "c".into(),
        key: "k".into(),
        request_hash: "h".into(),
        response: StoredResponse {
            status: 201,
            location: None,
            body: b"first".to_vec(),
        },
    };
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = t.store.clone();
        let mut w = write_case(case("853", "2026-11-02T09:15:00Z"));
        let mut claim = claim.clone();
        claim.response.body = if i == 0 {
            b"first".to_vec()
        } else {
            format!("later {i}").into_bytes()
        };
        w.idempotency = Some(claim);
        handles.push(tokio::spawn(async move { store.commit(w).await.unwrap() }));
        if i == 0 {
            tokio::task::yield_now().await;
        }
    }
    let mut committed = 0;
    let mut replayed = std::collections::HashSet::new();
    for h in handles {
        match h.await.unwrap() {
            WriteOutcome::Committed { .. } => committed += 1,
            WriteOutcome::Replayed(r) => {
                replayed.insert(r.body);
            }
            WriteOutcome::KeyReused | WriteOutcome::Refused(_) => panic!("same hash"),
        }
    }
    assert_eq!(committed, 1);
    assert_eq!(replayed.len(), 1, "every repeat replays the one committed response");
}

fn login_request(relay_state: &str) -> Write {
    let now = Utc::now();
    Write {
        login: vec![LoginChange::RequestSent(OutstandingRequest {
            relay_state: relay_state.into(),
            request_id: format!("_req-{relay_state}"),
            return_to: "https://asiointi.example/".into(),
            locale: "fi".into(),
            created_at: now,
            expires_at: now + chrono::Duration::minutes(10),
            used_at: None,
        })],
        ..Write::default()
    }
}

fn login_completed(relay_state: &str, assertion_id: &str, session_id: &str) -> Write {
    let now = Utc::now();
    Write {
        login: vec![LoginChange::Completed {
            relay_state: relay_state.into(),
            assertion_id: assertion_id.into(),
            assertion_expires_at: now + chrono::Duration::minutes(5),
            session: LoginSession {
                id: session_id.into(),
                name_id: format!("nameid-{session_id}"),
                session_index: Some("idx-1".into()),
                person: None,
                loa: "http://ftn.ficora.fi/2017/loa3".into(),
                created_at: now,
                expires_at: now + chrono::Duration::hours(1),
                ended_at: None,
            },
        }],
        ..Write::default()
    }
}

async fn an_assertion_is_accepted_once_even_across_a_restart(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    t.store.commit(login_request("rs-1")).await.unwrap();
    t.store.commit(login_request("rs-2")).await.unwrap();
    assert!(matches!(
        t.store.commit(login_completed("rs-1", "_a1", "s1")).await.unwrap(),
        WriteOutcome::Committed { .. }
    ));
    // The same request answered again, and the same assertion for another request.
    assert_eq!(
        t.store.commit(login_completed("rs-1", "_a2", "s2")).await.unwrap(),
        WriteOutcome::Refused(LoginRefusal::RequestAlreadyAnswered)
    );
    assert_eq!(
        t.store
            .commit(login_completed("rs-unknown", "_a3", "s3"))
            .await
            .unwrap(),
        WriteOutcome::Refused(LoginRefusal::UnknownRequest)
    );
    let t = t.restart().await;
    let store = &t.store;
    assert_eq!(
        store.commit(login_completed("rs-2", "_a1", "s4")).await.unwrap(),
        WriteOutcome::Refused(LoginRefusal::AssertionReplayed)
    );
    assert!(store.login_session("s4").await.unwrap().is_none());
    let session = store.login_session("s1").await.unwrap().unwrap();
    assert_eq!(session.session_index.as_deref(), Some("idx-1"));
    assert_eq!(
        store
            .login_sessions_by_name_id("nameid-s1", Some("idx-1"))
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .commit(Write {
            login: vec![LoginChange::SessionEnded {
                session_id: "s1".into(),
                at: Utc::now(),
            }],
            ..Write::default()
        })
        .await
        .unwrap();
    assert!(store
        .login_sessions_by_name_id("nameid-s1", None)
        .await
        .unwrap()
        .is_empty());
    assert!(store.saml_request("rs-1").await.unwrap().unwrap().used_at.is_some());
}

async fn overdue_cases_are_open_ones_past_their_due_time(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    let now: chrono::DateTime<Utc> = "2026-11-04T12:00:00Z".parse().unwrap();
    let with = |organiser: &str, due_by: Option<&str>, answered: bool, reference: Option<&str>| {
        let mut c = case(organiser, "2026-11-02T09:00:00Z");
        c.due_by = due_by.map(|d| d.parse().unwrap());
        c.reference = reference.map(str::to_string);
        if answered {
            c.answered_at = Some("2026-11-03T09:00:00Z".parse().unwrap());
        }
        c
    };
    let overdue = with("853", Some("2026-11-03T14:15:00Z"), false, Some("APU-2026-000007"));
    let cases = [
        overdue.clone(),
        with("853", Some("2026-11-03T14:15:00Z"), true, Some("APU-2026-000012")),
        with("853", Some("2026-11-05T14:15:00Z"), false, Some("APU-2025-000099")),
        with("853", None, false, None),
        with("529", Some("2026-11-04T12:00:00Z"), false, None),
    ];
    for c in cases {
        t.store.commit(write_case(c)).await.unwrap();
    }
    let page = t
        .store
        .cases(&CaseQuery {
            organisations: vec!["853".into()],
            received_from: None,
            received_to: None,
            overdue_at: Some(now),
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(page.items, vec![overdue]);
    assert_eq!(
        t.store.overdue_counts(now).await.unwrap(),
        vec![("529".to_string(), 1), ("853".to_string(), 1)]
    );
    assert_eq!(t.store.max_reference_number("APU-2026-").await.unwrap(), 12);
    assert_eq!(t.store.max_reference_number("APU-2027-").await.unwrap(), 0);
    // A reference is unique.
    let again = with("853", None, false, Some("APU-2026-000007"));
    assert!(t.store.commit(write_case(again)).await.is_err());
}

async fn report_contacts_reads_the_period_in_chunks_without_losing_or_repeating_one(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    // Seven cases of the organisations, three of them at the same instant (the keyset must
    // page through equal times by id), one outside the period, one of another organisation.
    let mut wanted = Vec::new();
    for (organiser, at) in [
        ("853", "2026-01-05T08:00:00Z"),
        ("853", "2026-01-05T09:00:00Z"),
        ("529", "2026-01-05T09:00:00Z"),
        ("853", "2026-01-05T09:00:00Z"),
        ("529", "2026-01-06T10:00:00Z"),
        ("853", "2026-01-07T10:00:00Z"),
        ("529", "2026-01-31T21:59:59Z"),
        ("853", "2026-01-31T22:00:00Z"),
        ("680", "2026-01-10T10:00:00Z"),
    ] {
        let c = case(organiser, at);
        if organiser != "680" && at != "2026-01-31T22:00:00Z" {
            wanted.push(c.id);
        }
        t.store.commit(write_case(c)).await.unwrap();
    }
    let query = ReportQuery {
        organisations: vec!["853".into(), "529".into()],
        from: "2025-12-31T22:00:00Z".parse().unwrap(),
        to: "2026-01-31T22:00:00Z".parse().unwrap(),
    };
    for chunk in [1, 2, 3, 7, 100] {
        let mut seen = Vec::new();
        let n = t
            .store
            .report_contacts_in_chunks(&query, &mut |c| seen.push(c), chunk)
            .await
            .unwrap();
        assert_eq!(n, 7, "chunk {chunk}");
        let mut ids: Vec<Uuid> = seen.iter().map(|c| c.id).collect();
        ids.sort();
        let mut expected = wanted.clone();
        expected.sort();
        assert_eq!(ids, expected, "chunk {chunk}");
        assert!(seen.windows(2).all(|w| w[0].received_at <= w[1].received_at));
    }
    let first = {
        let mut first = None;
        t.store
            .report_contacts(&query, &mut |c| {
                first.get_or_insert(c);
            })
            .await
            .unwrap();
        first.unwrap()
    };
    assert_eq!(first.organiser, "853");
    assert_eq!(first.channel, crate::case::Channel::Phone);
    assert_eq!(first.outcome, crate::case::Outcome::Open);
    assert_eq!(first.answered_at, None);
}

/// Generates a `#[tokio::test]` per backend for each test function named.
fn job_lease(holder: &str, slot: DateTime<Utc>, until: DateTime<Utc>) -> JobLease {
    JobLease {
        job: "messages_events".into(),
        holder: holder.into(),
        slot,
        until,
        now: Utc::now(),
    }
}

async fn a_job_slot_runs_on_one_replica_only(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    let slot = Utc::now();
    let later = Utc::now() + chrono::Duration::seconds(60);
    assert!(t.store.claim_job(job_lease("a", slot, later)).await.unwrap());
    // Another replica waking for the same slot finds it taken; the holder renews.
    assert!(!t.store.claim_job(job_lease("b", slot, later)).await.unwrap());
    assert!(t.store.claim_job(job_lease("a", slot, later)).await.unwrap());
    // Given back after the run: the slot is done, so a late replica still does not run it again.
    t.store.claim_job(job_lease("a", slot, Utc::now())).await.unwrap();
    assert!(!t.store.claim_job(job_lease("b", slot, later)).await.unwrap());
    // The next slot goes to whoever asks first, and is held against the others until it expires.
    let next = slot + chrono::Duration::seconds(30);
    assert!(t.store.claim_job(job_lease("b", next, later)).await.unwrap());
    assert!(!t.store.claim_job(job_lease("a", next, later)).await.unwrap());
    assert!(!t
        .store
        .claim_job(job_lease("a", next + chrono::Duration::seconds(30), later))
        .await
        .unwrap());
}

fn new_exchange(n: usize) -> Exchange {
    crate::broker::NewExchange {
        service: "suomifi_messages".into(),
        organisation: "853".into(),
        operation: "send".into(),
        payload: serde_json::json!({ "n": n }),
        person: None,
        case_id: None,
        recorded_by: "test".into(),
        correlation_id: format!("c-{n}"),
    }
    .into_exchange()
}

fn lease_audit(exchange: &Exchange) -> AuditEvent {
    crate::broker::exchange_audit_event(exchange, "exchange.lease", "in_flight")
}

/// Replicas on one PostgreSQL database: workers of every replica lease at once, none gets an
/// exchange another holds, and their audit records still form one chain.
#[tokio::test]
async fn replicas_on_one_postgres_lease_disjoint_exchanges_and_keep_one_chain() {
    let Some(t) = open(Kind::Postgres).await else { return };
    const EXCHANGES: usize = 300;
    let writes = (0..EXCHANGES).map(|n| {
        let exchange = new_exchange(n);
        let accepted = crate::broker::exchange_audit_event(&exchange, "exchange.accept", "accepted");
        Write {
            new_exchange: Some(exchange),
            audit: vec![accepted],
            ..Write::default()
        }
    });
    for write in writes {
        t.store.commit(write).await.unwrap();
    }
    let mut replicas = vec![t.store.clone()];
    for _ in 0..2 {
        replicas.push(Store::open(&t.config).await.unwrap());
    }
    let workers = replicas.iter().flat_map(|store| {
        (0..4).map(move |_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let now = Utc::now();
                    let leased = store
                        .lease_due(LeaseRequest {
                            now,
                            lease_until: now + chrono::Duration::seconds(60),
                            limit: 7,
                            exclude: vec![],
                            audit: Some(lease_audit),
                        })
                        .await
                        .unwrap();
                    if leased.is_empty() {
                        return mine;
                    }
                    mine.extend(leased.into_iter().map(|e| e.id));
                }
            })
        })
    });
    let mut leased = Vec::new();
    for worker in workers.collect::<Vec<_>>() {
        leased.extend(worker.await.unwrap());
    }
    let distinct: std::collections::HashSet<_> = leased.iter().collect();
    assert_eq!(leased.len(), EXCHANGES, "every exchange leased exactly once");
    assert_eq!(distinct.len(), EXCHANGES);
    let chain = t.store.audit_chain(0, 10_000).await.unwrap();
    assert_eq!(chain.len(), 2 * EXCHANGES);
    assert_eq!(audit::verify(&chain).unwrap().seq, 2 * EXCHANGES as i64);
}

/// A failing service's retries keep coming due ahead of anything newer; a lease takes the
/// first attempts, retries and run-out leases in turns, so new work is not kept behind them.
async fn leases_take_first_attempts_and_retries_in_turns(kind: Kind) {
    let Some(t) = open(kind).await else { return };
    let now = Utc::now();
    let mut exchanges: Vec<Exchange> = (0..5)
        .map(|n| {
            let mut retry = new_exchange(n);
            retry.status = ExchangeStatus::RetryScheduled;
            retry.due_at = now - chrono::Duration::seconds(60 - n as i64);
            retry
        })
        .collect();
    let retries: Vec<_> = exchanges.iter().map(|e| e.id).collect();
    let mut first = new_exchange(9);
    first.service = "kanta".into();
    first.due_at = now - chrono::Duration::seconds(1);
    let first_id = first.id;
    exchanges.push(first);
    for exchange in exchanges {
        t.store
            .commit(Write {
                new_exchange: Some(exchange),
                ..Write::default()
            })
            .await
            .unwrap();
    }
    let leased = t
        .store
        .lease_due(LeaseRequest {
            now,
            lease_until: now + chrono::Duration::seconds(60),
            limit: 2,
            exclude: vec![],
            audit: None,
        })
        .await
        .unwrap();
    let mut ids: Vec<_> = leased.iter().map(|e| e.id).collect();
    ids.sort();
    let mut expected = vec![first_id, retries[0]];
    expected.sort();
    assert_eq!(ids, expected, "the new exchange and the longest-waiting retry");
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Kind::Sqlite).await
            })*
        }
        mod on_postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Kind::Postgres).await
            })*
        }
    };
}

on_both_backends!(
    a_case_and_its_audit_record_are_committed_together,
    a_failing_write_leaves_nothing_behind_and_spares_its_batch,
    concurrent_writes_form_one_unbroken_chain,
    the_chain_head_survives_a_restart,
    idempotency_keys_replay_or_refuse,
    cases_page_by_organisation_and_time,
    audit_queries_filter_by_person_and_organisation,
    the_database_refuses_to_update_or_delete_audit_records,
    only_archived_audit_rows_leave_and_checkpoints_name_real_records,
    one_key_twice_in_one_batch_commits_once,
    an_assertion_is_accepted_once_even_across_a_restart,
    overdue_cases_are_open_ones_past_their_due_time,
    report_contacts_reads_the_period_in_chunks_without_losing_or_repeating_one,
    a_job_slot_runs_on_one_replica_only,
    leases_take_first_attempts_and_retries_in_turns,
);

mod ptv;
