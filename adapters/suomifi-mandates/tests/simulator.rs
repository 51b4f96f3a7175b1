//! The adapter against the Suomi.fi Mandates simulator over loopback HTTP: the simulator checks
//! every signature strictly, so a passing query proves the adapter signs as the contract says.

use portti_adapter_core::{Adapter, AdapterError, CallContext, HttpClientConfig, Operation};
use portti_simulators::suomifi_mandates::{
    self as sim, Config, Fault, Running, SANDBOX_API_KEY, SANDBOX_CLIENT_ID, SANDBOX_DELEGATE, SANDBOX_ISSUE,
    SANDBOX_PRINCIPAL,
};
use portti_suomifi_mandates::{MandateResult, MandatesConfig, SuomifiMandates, OP_CHECK};
use serde_json::json;
use std::time::{Duration, Instant};

const OTHER: &str = "260881-1233";

struct Setup {
    sim: Running,
    adapter: SuomifiMandates,
    _dir: tempfile::TempDir,
}

async fn setup_with_key(key: &str) -> Setup {
    let sim = sim::start(Config::sandbox(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("mandates.key");
    std::fs::write(&secret, format!("{key}\n")).unwrap();
    let adapter = SuomifiMandates::new(MandatesConfig {
        base_url: sim.base_url(),
        client_id: SANDBOX_CLIENT_ID.into(),
        client_secret_file: secret,
        issues: vec![SANDBOX_ISSUE.into()],
        http: HttpClientConfig {
            request_timeout: Duration::from_millis(800),
            ..HttpClientConfig::default()
        },
    })
    .unwrap();
    Setup {
        sim,
        adapter,
        _dir: dir,
    }
}

async fn setup() -> Setup {
    setup_with_key(SANDBOX_API_KEY).await
}

#[tokio::test]
async fn the_sandbox_relative_is_allowed_and_others_are_not() {
    let s = setup().await;
    let d = s.adapter.check(SANDBOX_DELEGATE, SANDBOX_PRINCIPAL).await;
    assert_eq!(d.result, MandateResult::Allowed, "{d:?}");
    assert_eq!(d.error, None);
    assert_eq!(d.issues, [SANDBOX_ISSUE]);

    for (delegate, principal) in [(OTHER, SANDBOX_PRINCIPAL), (SANDBOX_PRINCIPAL, SANDBOX_DELEGATE)] {
        let d = s.adapter.check(delegate, principal).await;
        assert_eq!(d.result, MandateResult::Disallowed);
        assert_eq!(d.error, None, "the service answered: {d:?}");
        assert_eq!(d.reasons, ["NO_MANDATE"]);
    }

    // A mandate granted (and revoked) in the simulator's register takes effect at once.
    s.sim.control().grant(OTHER, SANDBOX_PRINCIPAL, SANDBOX_ISSUE);
    assert!(s.adapter.check(OTHER, SANDBOX_PRINCIPAL).await.is_allowed());
    s.sim.control().revoke(OTHER, SANDBOX_PRINCIPAL, SANDBOX_ISSUE);
    assert!(!s.adapter.check(OTHER, SANDBOX_PRINCIPAL).await.is_allowed());

    let log = s.sim.control().request_log();
    assert_eq!(log.len(), 5);
    assert!(log.iter().all(|r| r.status == Some(200) && r.issues == [SANDBOX_ISSUE]));
}

#[tokio::test]
async fn the_broker_operation_works_end_to_end() {
    let s = setup().await;
    let cx = CallContext {
        exchange_id: uuid::Uuid::now_v7(),
        attempt: 1,
        correlation_id: "c".into(),
        deadline: Instant::now() + Duration::from_secs(5),
    };
    let op = Operation {
        name: OP_CHECK.into(),
        payload: json!({
            "delegate_identity_code": SANDBOX_DELEGATE,
            "principal_identity_code": SANDBOX_PRINCIPAL,
            "issue": SANDBOX_ISSUE,
        }),
    };
    let reply = s.adapter.call(&cx, &op).await.unwrap();
    assert_eq!(reply.body["result"], "ALLOWED");
    assert_eq!(reply.body["issue"], SANDBOX_ISSUE);
    assert_eq!(reply.upstream_id, Some(cx.exchange_id.to_string()));

    s.sim.control().inject(Fault::status(502).times(1));
    assert!(matches!(
        s.adapter.call(&cx, &op).await,
        Err(AdapterError::Transient(_))
    ));
}

#[tokio::test]
async fn a_wrong_api_key_is_refused_and_disallowed() {
    let s = setup_with_key("not-the-sandbox-key").await;
    let d = s.adapter.check(SANDBOX_DELEGATE, SANDBOX_PRINCIPAL).await;
    assert_eq!(d.result, MandateResult::Disallowed);
    assert!(
        matches!(&d.error, Some(AdapterError::Permanent(m)) if m.contains("401") && m.contains("bad_checksum")),
        "{d:?}"
    );
}

#[tokio::test]
async fn every_injected_fault_is_disallowed_with_its_class() {
    let s = setup().await;
    let control = s.sim.control();
    type Expect = fn(&AdapterError) -> bool;
    let cases: Vec<(Fault, Expect)> = vec![
        (Fault::status(500), |e| matches!(e, AdapterError::Transient(_))),
        (Fault::status(502), |e| matches!(e, AdapterError::Transient(_))),
        (Fault::status(503), |e| matches!(e, AdapterError::Transient(_))),
        (Fault::too_many_requests(4), |e| {
            *e == AdapterError::RateLimited {
                retry_after: Duration::from_secs(4),
            }
        }),
        (Fault::unauthorized(), |e| matches!(e, AdapterError::Permanent(_))),
        (Fault::drop_connection(), |e| matches!(e, AdapterError::Transient(_))),
        (Fault::malformed_json(), |e| matches!(e, AdapterError::Transient(_))),
        (Fault::malformed_json().after_processing(), |e| {
            matches!(e, AdapterError::Transient(_))
        }),
        (
            Fault::latency(Duration::from_millis(1500)),
            |e| matches!(e, AdapterError::Transient(m) if m.contains("timed out")),
        ),
    ];
    for (fault, expect) in cases {
        control.inject(fault.clone().times(1));
        let d = s.adapter.check(SANDBOX_DELEGATE, SANDBOX_PRINCIPAL).await;
        assert_eq!(d.result, MandateResult::Disallowed, "{fault:?}: {d:?}");
        let error = d.error.clone().unwrap();
        assert!(expect(&error), "{fault:?}: {error:?}");
        let text = format!("{d:?}");
        assert!(
            !text.contains(SANDBOX_DELEGATE) && !text.contains(SANDBOX_PRINCIPAL),
            "{text}"
        );
        control.clear_faults();
    }
    // And once the faults are gone, the answer is the register's again.
    assert!(s.adapter.check(SANDBOX_DELEGATE, SANDBOX_PRINCIPAL).await.is_allowed());
}
