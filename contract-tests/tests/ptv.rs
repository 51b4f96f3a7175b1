//! The service catalogue end to end: the gateway's `ptv-services` job pages through the PTV
//! simulator's services of a municipality, stores them with change detection, counts what was
//! added, changed, removed and unchanged, keeps the previous catalogue through faults mid-sync,
//! and `GET /v1/services` serves it in Finnish and Swedish.

use portti::auth::{sandbox, Scope};
use portti::store::JobRun;
use portti_contract_tests::{get_json, run_gateway, sandbox_config};
use portti_simulators::ptv::{self as sim, Control, Fault};
use serde_json::{json, Value};

struct Running {
    base: String,
    token: String,
    ptv: Control,
    jobs: std::sync::Arc<portti::jobs::Jobs>,
    _data: tempfile::TempDir,
}

async fn start() -> Running {
    let data = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(data.path());
    // The tests run the job themselves.
    config.jobs.ptv_services = "0 0 0 1 1 * 2099".into();
    let key = sandbox::SigningKey::load_or_create(data.path()).unwrap();
    let token = sandbox::mint(
        &key,
        &config.auth.issuer,
        &config.auth.audience,
        "palvelualusta",
        &[Scope::ServicesRead],
        &[],
        600,
    )
    .unwrap();
    let (addr, (ptv, jobs)) = run_gateway(config, |gateway| {
        (gateway.ptv_simulator.as_ref().unwrap().control(), gateway.jobs.clone())
    })
    .await;
    // Turku's nine services in five pages.
    ptv.set_page_size(2);
    Running {
        base: format!("http://{addr}"),
        token,
        ptv,
        jobs,
        _data: data,
    }
}

impl Running {
    async fn get(&self, path: &str) -> (u16, Value) {
        get_json(&self.base, &self.token, path).await
    }

    async fn services(&self, query: &str) -> Vec<Value> {
        let (status, page) = self.get(&format!("/v1/services?{query}")).await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    async fn sync(&self, municipalities: &[&str]) -> JobRun {
        let only: Vec<String> = municipalities.iter().map(|m| m.to_string()).collect();
        self.jobs
            .run_for(portti::jobs::PTV_SERVICES, Some(&only))
            .await
            .unwrap()
    }
}

fn names(items: &[Value]) -> Vec<String> {
    items.iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

fn find<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {items:?}"))
}

#[tokio::test]
async fn a_multi_page_sync_then_changes_counted_and_served_in_finnish_and_swedish() {
    let gw = start().await;
    let run = gw.sync(&["853", "202"]).await;
    assert_eq!(run.outcome, "ok", "{run:?}");
    let turku = &run.counts["853"];
    assert_eq!(
        (
            turku["fetched"].as_u64(),
            turku["added"].as_u64(),
            turku["removed"].as_u64()
        ),
        (Some(9), Some(9), Some(0)),
        "{run:?}"
    );
    assert_eq!(turku["channels"]["added"], 3, "{run:?}");
    assert_eq!(run.counts["202"]["added"], 5, "{run:?}");
    let pages: Vec<String> = (gw.ptv.request_log().iter())
        .filter(|r| r.path.ends_with("/code/853"))
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    assert_eq!(pages, ["page=1", "page=2", "page=3", "page=4", "page=5"]);

    // Served in Swedish, with Finnish where the catalogue has no Swedish version.
    let sv = gw.services("municipality=853&lang=sv").await;
    assert_eq!(sv.len(), 9);
    let home_care = find(&sv, &sim::service_id("853", 1));
    assert_eq!(home_care["name"], "Hemvård");
    assert_eq!(
        (home_care["language"].as_str(), home_care["fallback"].as_bool()),
        (Some("sv"), Some(false))
    );
    let phone = home_care["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Phone")
        .unwrap();
    assert_eq!(phone["name"], "Servicerådgivning för äldre, Åbo");
    assert_eq!(phone["phones"][0]["number"], "+358 2 853 1000");
    let place = home_care["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ServiceLocation")
        .unwrap();
    assert_eq!(place["addresses"][0], "Puolalagatan 5, 20100 ÅBO");
    assert_eq!(
        place["service_hours"][0]["opening"][0],
        "Monday–Friday 09:00:00–15:00:00"
    );
    let day_activities = find(&sv, &sim::service_id("853", 8));
    assert_eq!(day_activities["name"], "Päivätoiminta ikäihmisille");
    assert_eq!(
        (
            day_activities["language"].as_str(),
            day_activities["fallback"].as_bool()
        ),
        (Some("fi"), Some(true))
    );

    // Search: case-insensitive beyond ASCII, in the language asked for.
    assert_eq!(
        names(&gw.services("municipality=853&lang=sv&q=HEMVÅRD").await),
        ["Hemvård"]
    );
    assert_eq!(
        names(&gw.services("municipality=853&lang=fi&q=kotihoito").await),
        ["Kotihoito"]
    );
    assert!(gw.services("municipality=853&lang=fi&q=hemvård").await.is_empty());
    let elderly = names(&gw.services("municipality=202&lang=sv&q=äldre").await);
    assert!(
        elderly.contains(&"Servicerådgivning för äldre".to_string()),
        "{elderly:?}"
    );

    // Paging with a cursor gives each service once.
    let (_, first) = gw.get("/v1/services?municipality=853&limit=4").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let (_, second) = gw
        .get(&format!("/v1/services?municipality=853&limit=4&cursor={cursor}"))
        .await;
    let (_, third) = gw
        .get(&format!(
            "/v1/services?municipality=853&limit=4&cursor={}",
            second["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert!(third.get("next_cursor").is_none(), "{third}");
    let mut ids: Vec<Value> = [&first, &second, &third]
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().iter().map(|s| s["id"].clone()))
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 9);

    // Nothing changed: nothing rewritten.
    let before = find(&gw.services("municipality=853").await, &sim::service_id("853", 1)).clone();
    let again = gw.sync(&["853"]).await;
    assert_eq!(again.counts["853"]["unchanged"], 9, "{again:?}");
    assert_eq!(again.counts["853"]["added"], 0);
    let after = find(&gw.services("municipality=853").await, &sim::service_id("853", 1)).clone();
    assert_eq!(before["changed_at"], after["changed_at"]);

    // A renamed, a removed and a new service.
    assert!(gw
        .ptv
        .rename_service(&sim::service_id("853", 1), "sv", "Hemvård och hemsjukvård"));
    assert!(gw.ptv.remove_service(&sim::service_id("853", 2)));
    let new_id = sim::service_id("853", 9);
    gw.ptv
        .put_service(
            &["853"],
            sim::service(
                &new_id,
                &[
                    ("fi", "Muistihoitajan vastaanotto"),
                    ("sv", "Minnesskötarens mottagning"),
                ],
                &[("fi", "Muistiin liittyvää neuvontaa."), ("sv", "Rådgivning om minnet.")],
                &[],
                &[(&sim::channel_id("853", 1), "Ikäihmisten palveluneuvonta, Turku")],
            ),
        )
        .unwrap();
    let changed = gw.sync(&["853"]).await;
    assert_eq!(changed.outcome, "ok", "{changed:?}");
    assert_eq!(
        changed.counts["853"],
        json!({"fetched": 9, "added": 1, "changed": 1, "removed": 1, "unchanged": 7,
               "channels": {"fetched": 3, "added": 0, "changed": 0, "removed": 0, "unchanged": 3}}),
        "{changed:?}"
    );
    let sv = gw.services("municipality=853&lang=sv").await;
    assert_eq!(sv.len(), 9);
    let renamed = find(&sv, &sim::service_id("853", 1));
    assert_eq!(renamed["name"], "Hemvård och hemsjukvård");
    assert_eq!(renamed["first_seen"], before["first_seen"]);
    assert_ne!(renamed["changed_at"], before["changed_at"]);
    assert!(sv.iter().all(|s| s["id"] != sim::service_id("853", 2).as_str()));
    let (status, _) = gw.get(&format!("/v1/services/{}", sim::service_id("853", 2))).await;
    assert_eq!(status, 404);
    let (status, one) = gw.get(&format!("/v1/services/{new_id}?lang=sv")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["name"], "Minnesskötarens mottagning");
    assert_eq!(one["municipalities"], json!(["853"]));
    let (_, national) = gw.get("/v1/services/0000c0de-0000-4000-8000-000000000001").await;
    assert_eq!(national["municipalities"], json!(["202", "853"]), "{national}");
}

#[tokio::test]
async fn a_fault_mid_sync_leaves_the_previous_catalogue_and_the_next_run_catches_up() {
    let gw = start().await;
    assert_eq!(gw.sync(&["853"]).await.outcome, "ok");
    let gone = sim::service_id("853", 7);
    assert!(gw.ptv.remove_service(&gone));

    // Page 2 (of five) fails in each way; the first page was read, nothing is written.
    let list = "/api/v11/Service/list";
    for fault in [
        Fault::status(503),
        Fault::status(500),
        Fault::too_many_requests(1),
        Fault::drop_connection(),
        Fault::malformed_json().after_processing(),
    ] {
        gw.ptv.inject(fault.clone().on_path(list).fraction(0.5).times(1));
        let failed = gw.sync(&["853"]).await;
        assert_eq!(failed.outcome, "failed", "{fault:?}: {failed:?}");
        assert!(
            failed.error.as_deref().unwrap_or("").contains("853: page 2"),
            "{failed:?}"
        );
        assert_eq!(failed.counts["853"]["failed"], true);
        let listed = gw.services("municipality=853").await;
        assert_eq!(listed.len(), 9, "{fault:?}: the previous catalogue stays");
        assert!(listed.iter().any(|s| s["id"] == gone.as_str()));
        assert!(gw.ptv.faults().is_empty());
    }

    // A failing channel list is a failed sync too.
    gw.ptv
        .inject(Fault::status(502).on_path("/api/v11/ServiceChannel/list").times(1));
    let failed = gw.sync(&["853"]).await;
    assert!(
        failed.error.as_deref().unwrap_or("").contains("853: channels"),
        "{failed:?}"
    );
    assert_eq!(gw.services("municipality=853").await.len(), 9);

    let recovered = gw.sync(&["853"]).await;
    assert_eq!(recovered.outcome, "ok", "{recovered:?}");
    assert_eq!(recovered.counts["853"]["removed"], 1);
    assert_eq!(recovered.counts["853"]["unchanged"], 8);
    assert_eq!(gw.services("municipality=853").await.len(), 8);
}

#[tokio::test]
async fn bad_parameters_are_named_and_the_scope_is_required() {
    let gw = start().await;
    let long_q = format!("municipality=853&q={}", "a".repeat(201));
    for (query, field) in [
        ("lang=fi", "municipality"),
        ("municipality=85", "municipality"),
        ("municipality=999", "municipality"),
        ("municipality=Turku", "municipality"),
        ("municipality=853&lang=de", "lang"),
        (&long_q, "q"),
        ("municipality=853&cursor=abc", "cursor"),
        ("municipality=853&limit=0", "limit"),
        ("municipality=853&page=2", "page"),
    ] {
        let (status, problem) = gw.get(&format!("/v1/services?{query}")).await;
        assert_eq!(status, 422, "{query}: {problem}");
        assert_eq!(problem["errors"][0]["parameter"], field, "{query}: {problem}");
    }
    let (status, problem) = gw.get("/v1/services/not-a-guid").await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["parameter"], "id");

    let r = reqwest::Client::new()
        .get(format!("{}/v1/services?municipality=853", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (_, doc) = gw.get("/openapi.json").await;
    assert!(doc["paths"]["/v1/services"]["get"].is_object());
    assert!(doc["paths"]["/v1/services/{id}"]["get"].is_object());
}
