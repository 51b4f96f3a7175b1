//! The adapter against the PTV simulator over loopback: pages, channels, and how each kind of
//! failure is classified.

use portti_adapter_core::{Adapter, AdapterError, CallContext, Health, Operation};
use portti_ptv::{Ptv, PtvConfig};
use portti_simulators::ptv::{self as sim, Fault};
use serde_json::json;
use std::time::{Duration, Instant};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[tokio::test]
async fn pages_channels_and_error_classes() {
    let mut config = sim::Config::sandbox();
    config.page_size = 4;
    let simulator = sim::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let control = simulator.control();
    let ptv = Ptv::new(PtvConfig {
        base_url: simulator.base_url(),
        http: Default::default(),
    })
    .unwrap();

    let (page, digest) = ptv.services_page("853", 1, soon()).await.unwrap();
    assert_eq!((page.page_number, page.page_count, page.services.len()), (1, 3, 4));
    assert_eq!(digest.len(), 64);
    let (last, _) = ptv.services_page("853", 3, soon()).await.unwrap();
    assert_eq!(last.services.len(), 1, "nine services in pages of four");
    let mut ids: Vec<String> = (page.services.iter())
        .flat_map(|s| s.channels.iter().map(|c| c.id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let (channels, _) = ptv.channels(&ids, soon()).await.unwrap();
    assert_eq!(channels.len(), 3);
    let phone = channels.iter().find(|c| c.channel_type == "Phone").unwrap();
    assert_eq!(phone.phones[0].number, "+358 2 853 1000");

    // Through the Adapter seam, as the broker calls it.
    let cx = CallContext {
        exchange_id: uuid::Uuid::nil(),
        attempt: 1,
        correlation_id: String::new(),
        deadline: soon(),
    };
    let operation = Operation {
        name: portti_ptv::OP_SERVICES_PAGE.into(),
        payload: json!({"municipality": "202", "page": 2}),
    };
    let reply = ptv.call(&cx, &operation).await.unwrap();
    assert_eq!(reply.body["page_number"], 2);
    assert_eq!(reply.body["page_count"], 2);
    let bad = Operation {
        name: portti_ptv::OP_SERVICES_PAGE.into(),
        payload: json!({"municipality": "202"}),
    };
    assert!(matches!(ptv.call(&cx, &bad).await, Err(AdapterError::Permanent(_))));

    // A municipality PTV does not know is a permanent refusal with PTV's reason.
    let e = ptv.services_page("091", 1, soon()).await.unwrap_err();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("HTTP 404") && m.contains("not found")),
        "{e}"
    );

    control.inject(Fault::too_many_requests(7).times(1));
    assert_eq!(
        ptv.services_page("853", 1, soon()).await.unwrap_err(),
        AdapterError::RateLimited {
            retry_after: Duration::from_secs(7)
        }
    );
    for fault in [
        Fault::status(503),
        Fault::status(500),
        Fault::drop_connection(),
        Fault::malformed_json(),
        Fault::malformed_json().after_processing(),
    ] {
        control.inject(fault.clone().times(1));
        let e = ptv.services_page("853", 1, soon()).await.unwrap_err();
        assert!(matches!(e, AdapterError::Transient(_)), "{fault:?}: {e}");
    }
    control.inject(Fault::latency(Duration::from_millis(600)).times(1));
    let e = (ptv.services_page("853", 1, Instant::now() + Duration::from_millis(150)))
        .await
        .unwrap_err();
    assert!(matches!(e, AdapterError::Transient(_)), "{e}");

    assert_eq!(ptv.health().await, Health::Up);
    control.inject(Fault::status(503));
    assert_eq!(ptv.health().await, Health::Down);
}
