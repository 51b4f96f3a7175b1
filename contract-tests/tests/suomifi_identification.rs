//! Suomi.fi Identification end to end, driven like a browser: the gateway (in this process) as
//! the SAML service provider, the IdP simulator signing and encrypting like Suomi.fi's test IdP.
//! Login → ACS → token → Mandates check → logout (SP- and IdP-initiated), in Finnish and
//! Swedish, and every attack variant refused with its reason.

use portti_contract_tests::{run_gateway, sandbox_config};
use portti_simulators::suomifi_identification::{AutoPostForm, Control, ResponseOptions, Variant};
use reqwest::redirect::Policy;
use std::collections::HashMap;

struct Running {
    base: String,
    idp: Control,
    jobs: std::sync::Arc<portti::jobs::Jobs>,
    browser: reqwest::Client,
    _data: tempfile::TempDir,
}

async fn start() -> Running {
    let data = tempfile::tempdir().unwrap();
    let (addr, (idp, jobs)) = run_gateway(sandbox_config(data.path()), |gateway| {
        let idp = gateway.idp_simulator.as_ref().unwrap().control();
        (idp, gateway.jobs.clone())
    })
    .await;
    Running {
        base: format!("http://{addr}"),
        idp,
        jobs,
        browser: reqwest::Client::builder().redirect(Policy::none()).build().unwrap(),
        _data: data,
    }
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location in {}", response.status()))
        .to_str()
        .unwrap()
        .to_string()
}

/// The fragment of the URL the browser lands on: `token`/`expires_in` or `error`/`reason`.
fn fragment(url: &str) -> HashMap<String, String> {
    let (_, fragment) = url.split_once('#').unwrap_or((url, ""));
    fragment
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Running {
    fn return_to(&self) -> String {
        format!("{}/healthz", self.base)
    }

    /// The browser's way through a login; returns the URL it ends on and the form the IdP posted.
    async fn login(&self, locale: &str) -> (String, AutoPostForm) {
        let start = self
            .browser
            .get(format!("{}/saml/login", self.base))
            .query(&[("return_to", self.return_to().as_str()), ("locale", locale)])
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), 303, "{}", start.text().await.unwrap());
        let to_idp = location(&start);
        let page = self.browser.get(&to_idp).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let form = AutoPostForm::parse(&page.text().await.unwrap()).expect("an auto-post form");
        let landed = self.post_form(&form).await;
        (landed, form)
    }

    async fn post_form(&self, form: &AutoPostForm) -> String {
        let acs = self
            .browser
            .post(&form.action)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.form_body())
            .send()
            .await
            .unwrap();
        assert_eq!(acs.status(), 303, "{}", acs.text().await.unwrap_or_default());
        location(&acs)
    }

    async fn mandate(&self, token: &str, principal: &str) -> (u16, serde_json::Value) {
        let r = self
            .browser
            .get(format!("{}/v1/mandates/check", self.base))
            .query(&[("for", principal)])
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }
}

#[tokio::test]
async fn login_token_mandates_and_sp_initiated_logout_in_finnish_and_swedish() {
    let gw = start().await;
    for locale in ["fi", "sv"] {
        let (landed, _) = gw.login(locale).await;
        assert!(landed.starts_with(&gw.return_to()), "{landed}");
        let f = fragment(&landed);
        let token = f.get("token").unwrap_or_else(|| panic!("no token in {landed}")).clone();
        assert_eq!(f.get("expires_in").map(String::as_str), Some("900"));
        let request = gw.idp.last_authn_request().unwrap();
        assert_eq!(request.request.locale.as_deref(), Some(locale));

        // The default sandbox user (010594Y9032) may act for 131052-308T and nobody else.
        let (status, answer) = gw.mandate(&token, "131052-308T").await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["result"], "ALLOWED");
        let (status, answer) = gw.mandate(&token, "150370-501A").await;
        assert_eq!((status, answer["result"].as_str()), (200, Some("DISALLOWED")));
        let (status, _) = gw.mandate(&token, "131052-308A").await;
        assert_eq!(status, 422);

        // SP-initiated logout: the local session ends first, then the IdP's.
        let out = gw
            .browser
            .post(format!("{}/saml/logout", gw.base))
            .query(&[("return_to", gw.return_to().as_str())])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 303);
        let (status, _) = gw.mandate(&token, "131052-308T").await;
        assert_eq!(status, 401, "the token dies with its session");
        let at_idp = gw.browser.get(location(&out)).send().await.unwrap();
        assert_eq!(at_idp.status(), 302, "{}", at_idp.text().await.unwrap_or_default());
        let back = gw.browser.get(location(&at_idp)).send().await.unwrap();
        assert_eq!(back.status(), 303);
        assert_eq!(location(&back), gw.return_to());
        assert!(!gw.idp.logout_requests().is_empty());
    }
}

#[tokio::test]
async fn idp_initiated_logout_ends_the_session_found_by_name_id() {
    let gw = start().await;
    let (landed, _) = gw.login("fi").await;
    let token = fragment(&landed)["token"].clone();
    let name_id = gw.idp.sessions().last().unwrap().name_id.clone();
    let url = gw.idp.idp_initiated_logout(&name_id).unwrap();
    // The IdP's iframe: no cookies, only the signed request.
    let r = gw.browser.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let answer = gw.browser.get(location(&r)).send().await.unwrap();
    assert!(answer.status().is_success() || answer.status().is_redirection());
    assert!(!gw.idp.logout_responses().is_empty());
    let (status, _) = gw.mandate(&token, "131052-308T").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_eidas_user_logs_in_without_an_identity_code() {
    let gw = start().await;
    let eidas = gw
        .idp
        .users()
        .into_iter()
        .find(|u| matches!(u, portti_simulators::suomifi_identification::TestUser::Eidas { .. }))
        .unwrap();
    gw.idp.set_next_user(eidas);
    let (landed, _) = gw.login("en").await;
    let token = fragment(&landed)["token"].clone();
    let (status, _) = gw.mandate(&token, "131052-308T").await;
    assert_eq!(status, 403, "no Finnish mandates without an identity code");
}

#[tokio::test]
async fn every_attack_and_defect_is_refused_with_its_reason() {
    let gw = start().await;
    let cases = [
        (Variant::Unsigned, "unsigned"),
        (Variant::SignedByUnknownKey, "untrusted_key"),
        (Variant::Sha1Signature, "weak_algorithm"),
        (Variant::WrappedInAdvice, "wrapping"),
        (Variant::WrappedInExtensions, "wrapping"),
        (Variant::ExtraUnsignedAssertion, ""),
        (Variant::DuplicateIds, ""),
        (Variant::WrongAudience, "wrong_audience"),
        (Variant::WrongDestination, "wrong_destination"),
        (Variant::WrongRecipient, "wrong_recipient"),
        (Variant::Expired, "expired"),
        (Variant::NotYetValid, "not_yet_valid"),
        (Variant::UnknownInResponseTo, "unknown_in_response_to"),
        (Variant::TamperedCiphertext, "decryption_failed"),
        (Variant::PlaintextAssertion, "unencrypted_assertion"),
        (Variant::StatusNotSuccess, "status_not_success"),
        (Variant::LowerLoa, "insufficient_loa"),
    ];
    for (variant, reason) in cases {
        gw.idp.set_next_response(ResponseOptions::variant(variant));
        let (landed, _) = gw.login("fi").await;
        let f = fragment(&landed);
        assert!(!f.contains_key("token"), "{variant:?} gave a token");
        assert_eq!(
            f.get("error").map(String::as_str),
            Some("login_failed"),
            "{variant:?}: {landed}"
        );
        if !reason.is_empty() {
            assert_eq!(f.get("reason").map(String::as_str), Some(reason), "{variant:?}");
        }
    }
    // Comments injected into NameID or the identity code: the signature holds (exc-C14N drops
    // comments), the login works, and the value read is the whole one — not a truncated code.
    for variant in [Variant::CommentInNameId, Variant::CommentInIdentityCode] {
        gw.idp.set_next_response(ResponseOptions::variant(variant));
        let (landed, _) = gw.login("fi").await;
        let token = fragment(&landed)["token"].clone();
        let (status, answer) = gw.mandate(&token, "131052-308T").await;
        assert_eq!(
            (status, answer["result"].as_str()),
            (200, Some("ALLOWED")),
            "{variant:?}"
        );
    }
}

#[tokio::test]
async fn a_replayed_response_and_a_foreign_return_address_are_refused() {
    let gw = start().await;
    let (landed, form) = gw.login("fi").await;
    assert!(fragment(&landed).contains_key("token"));
    let again = gw.post_form(&form).await;
    let f = fragment(&again);
    assert_eq!(f.get("error").map(String::as_str), Some("login_failed"));
    assert_eq!(f.get("reason").map(String::as_str), Some("request_already_answered"));

    let r = gw
        .browser
        .get(format!("{}/saml/login", gw.base))
        .query(&[("return_to", "https://evil.example/steal")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let metadata = gw
        .browser
        .get(format!("{}/saml/metadata", gw.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metadata.contains("FinnishAuthMethod") && metadata.contains("/saml/acs"));
}

#[tokio::test]
async fn the_metadata_job_keeps_both_rotation_keys_and_refuses_an_unknown_signer() {
    use portti_simulators::suomifi_identification::Fault;
    let gw = start().await;
    let run = gw.jobs.run(portti::jobs::IDENTIFICATION_METADATA).await.unwrap();
    assert_eq!(run.outcome, "ok", "{run:?}");
    assert_eq!(run.counts["signing_keys"], 2);
    // The IdP rotates to its second key: logins go on without a restart.
    gw.idp.set_current_signing_key(1).unwrap();
    let (landed, _) = gw.login("fi").await;
    assert!(fragment(&landed).contains_key("token"), "{landed}");
    // A metadata document whose signature nobody trusts does not replace the one in force.
    gw.idp.inject(Fault::metadata_signed_by_unknown_key());
    let run = gw.jobs.run(portti::jobs::IDENTIFICATION_METADATA).await.unwrap();
    assert_eq!(run.outcome, "failed", "{run:?}");
    let (landed, _) = gw.login("sv").await;
    assert!(fragment(&landed).contains_key("token"), "{landed}");
}
