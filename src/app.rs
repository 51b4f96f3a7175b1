//! Assembles the gateway from its configuration and runs it.

use crate::api::{self, AppState};
use crate::audit::PersonHasher;
use crate::auth::{sandbox, CertificateClients, TokenVerifier};
use crate::broker::{Adapters, Broker};
use crate::case::OrganisationRegistry;
use crate::config::Config;
use crate::identification::{Identification, MetadataSource};
use crate::jobs::Jobs;
use crate::store::{Store, StoreConfig};
use portti_kanta::{KantaAdapter, KantaConfig, KantaOrganisation};
use portti_simulators::kanta as kanta_simulator;
use portti_simulators::oda as oda_simulator;
use portti_simulators::ptv as ptv_simulator;
use portti_simulators::suomifi_identification as idp_simulator;
use portti_simulators::suomifi_mandates as mandates_simulator;
use portti_simulators::suomifi_messages as suomifi_simulator;
use portti_simulators::tsa as tsa_simulator;
use portti_suomifi_mandates::{MandatesConfig, SuomifiMandates};
use portti_suomifi_messages::{MessagesConfig, SuomifiMessages};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Reads the audit HMAC key; in the sandbox a missing key is generated.
fn person_hasher(config: &Config) -> anyhow::Result<PersonHasher> {
    let path = config.data_path(&config.audit.hmac_key_file);
    if !path.exists() && config.sandbox {
        let mut key = [0u8; 32];
        openssl::rand::rand_bytes(&mut key)?;
        sandbox::create_secret_once(&path, hex::encode(key).as_bytes())?;
        tracing::info!(path = %path.display(), "generated the sandbox audit HMAC key");
    }
    let text = std::fs::read(&path).map_err(|e| anyhow::anyhow!("audit HMAC key {}: {e}", path.display()))?;
    let trimmed = String::from_utf8_lossy(&text).trim().to_string();
    let key = hex::decode(&trimmed).unwrap_or(text);
    PersonHasher::new(key)
}

/// The audit key that signs checkpoints; in the sandbox a missing one is generated (P-256).
pub fn checkpoint_signer(config: &Config) -> anyhow::Result<crate::audit::CheckpointSigner> {
    let path = config.data_path(&config.audit.checkpoint_key);
    if !path.exists() && config.sandbox {
        sandbox::create_secret_once(&path, &crate::audit::CheckpointSigner::generate_pem()?)?;
        tracing::info!(path = %path.display(), "generated the sandbox audit checkpoint key");
    }
    crate::audit::CheckpointSigner::load(&path)
}

/// The sandbox TSA simulator's key and certificate, kept in the data directory so that tokens
/// of earlier runs still verify.
const SANDBOX_TSA_KEY: &str = "sandbox-tsa.key";
const SANDBOX_TSA_CERT: &str = "sandbox-tsa.pem";

/// What verifies checkpoints: `audit.checkpoint_public_key` (or the public half of the
/// checkpoint key), and the TSA certificate (`audit.tsa.certificate`, or the sandbox TSA's).
pub fn audit_keys(config: &Config) -> anyhow::Result<crate::audit::AuditKeys> {
    let key = match &config.audit.checkpoint_public_key {
        Some(p) => {
            let path = config.data_path(p);
            let pem = std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            crate::audit::CheckpointKey::from_pem(&pem)?
        }
        None => checkpoint_signer(config)?.public_key()?,
    };
    let tsa_cert = match &config.audit.tsa {
        Some(tsa) => Some(config.data_path(&tsa.certificate)),
        None if config.sandbox => Some(config.data_dir.join(SANDBOX_TSA_CERT)).filter(|p| p.exists()),
        None => None,
    };
    let tsa = tsa_cert
        .map(|path| -> anyhow::Result<_> {
            let pem = std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok(portti_timestamp::Trust::from_pem(&pem)?)
        })
        .transpose()?;
    Ok(crate::audit::AuditKeys { key, tsa })
}

/// The TSA client from `audit.tsa`; in the sandbox without one, the simulator on loopback.
async fn tsa(config: &Config) -> anyhow::Result<(Option<portti_timestamp::TsaClient>, Option<tsa_simulator::Running>)> {
    let timeout = |ms: u64| std::time::Duration::from_millis(ms);
    if let Some(tsa) = &config.audit.tsa {
        let path = config.data_path(&tsa.certificate);
        let pem = std::fs::read(&path).map_err(|e| anyhow::anyhow!("audit.tsa.certificate {}: {e}", path.display()))?;
        let trust = portti_timestamp::Trust::from_pem(&pem)?;
        return Ok((
            Some(portti_timestamp::TsaClient::new(
                &tsa.url,
                trust,
                timeout(tsa.timeout_ms),
            )?),
            None,
        ));
    }
    if !config.sandbox {
        return Ok((None, None));
    }
    let (key_path, cert_path) = (
        config.data_dir.join(SANDBOX_TSA_KEY),
        config.data_dir.join(SANDBOX_TSA_CERT),
    );
    if !key_path.exists() || !cert_path.exists() {
        let (key, cert) = portti_timestamp::generate_identity("Portti sandbox TSA")?;
        sandbox::create_secret_once(&key_path, &key)?;
        sandbox::create_secret_once(&cert_path, &cert)?;
    }
    let (key, cert) = (std::fs::read(&key_path)?, std::fs::read(&cert_path)?);
    let simulator = tsa_simulator::start_with(config.sandbox_services.tsa_listen, key, cert.clone()).await?;
    let trust = portti_timestamp::Trust::from_pem(&cert)?;
    let client = portti_timestamp::TsaClient::new(
        &simulator.url(),
        trust,
        timeout(config.sandbox_services.client_timeout_ms),
    )?;
    Ok((Some(client), Some(simulator)))
}

fn token_verifier(config: &Config) -> anyhow::Result<TokenVerifier> {
    if config.sandbox {
        sandbox::SigningKey::load_or_create(&config.data_dir)?;
    }
    let auth = &config.auth;
    let mut verifier = TokenVerifier::new(&auth.issuer, &auth.audience, auth.leeway_s);
    for key in &auth.public_keys {
        verifier.add_pem_file(&config.data_path(key))?;
    }
    if let Some(jwks) = &auth.jwks_file {
        verifier.add_jwks(&std::fs::read_to_string(config.data_path(jwks))?)?;
    }
    anyhow::ensure!(
        verifier.key_count() > 0 || config.tls.as_ref().is_some_and(|t| !t.clients.is_empty()),
        "no token keys and no certificate clients are configured: nobody could call the API"
    );
    Ok(verifier)
}

/// One gateway per data directory: the store's writer keeps the audit chain's head in
/// memory, so a second writer on the same file would fork the chain.
fn lock_data_dir(config: &Config) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(&config.data_dir)?;
    let path = config.data_dir.join("portti.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    file.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "another Portti is running on {}; one data directory takes one gateway",
            config.data_dir.display()
        )
    })?;
    Ok(file)
}

/// A gateway ready to serve: its shared state, the outbox's broker, the job scheduler, and in
/// the sandbox the simulators it talks to.
pub struct Gateway {
    pub state: Arc<AppState>,
    pub broker: Arc<Broker>,
    pub jobs: Arc<Jobs>,
    /// The sandbox's Suomi.fi Messages simulator; it stops when the gateway is dropped.
    pub messages_simulator: Option<suomifi_simulator::Running>,
    /// The sandbox's Kanta archive simulator.
    pub kanta_simulator: Option<kanta_simulator::Running>,
    /// The sandbox's Suomi.fi Identification IdP simulator.
    pub idp_simulator: Option<idp_simulator::Running>,
    /// The sandbox's Suomi.fi Mandates simulator.
    pub mandates_simulator: Option<mandates_simulator::Running>,
    /// The sandbox's ODA / Omaolo FHIR simulator.
    pub oda_simulator: Option<oda_simulator::Running>,
    /// The sandbox's RFC 3161 TSA simulator (checkpoint timestamps).
    pub tsa_simulator: Option<tsa_simulator::Running>,
    /// The sandbox's Suomi.fi Finnish Service Catalogue (PTV) simulator.
    pub ptv_simulator: Option<ptv_simulator::Running>,
}

/// Builds everything from the configuration; nothing runs until [`run`] starts it.
pub async fn build(config: &Config) -> anyhow::Result<Gateway> {
    let lock = lock_data_dir(config)?;
    let store = Store::open(&StoreConfig {
        sqlite_path: config.data_path(&config.store.sqlite_file),
        database_url: config.database_url.clone(),
        max_batch: config.store.max_batch,
        read_connections: config.store.read_connections,
        max_size_bytes: config.store.max_size_mb.map(|mb| mb * 1024 * 1024),
    })
    .await?;
    let certificate_clients =
        CertificateClients::new(config.tls.as_ref().map(|t| t.clients.as_slice()).unwrap_or(&[]))?;
    let mut state = AppState::new(
        store.clone(),
        person_hasher(config)?,
        OrganisationRegistry::new(config.organisations.iter().cloned()),
        token_verifier(config)?,
        certificate_clients,
        config.limits.clone(),
    );
    let (mut adapters, messages_simulator) = adapters(config).await?;
    let (kanta, kanta_simulator) = kanta(config).await?;
    if let Some(kanta) = &kanta {
        for organisation in kanta.organisations() {
            adapters.insert(organisation, kanta.clone());
        }
    }
    state.kanta = kanta;
    let (identification, idp_simulator) = identification(config).await?;
    state.identification = identification;
    state.certificate_files =
        crate::certificates::in_use(config, state.kanta.as_deref(), state.identification.as_deref());
    let (mandates, mandates_simulator) = mandates(config).await?;
    state.mandates = mandates;
    state.population_75_plus = match &config.reports.population_75_plus {
        Some(table) => table.clone(),
        None if config.sandbox => crate::reports::cost_allocation::EXAMPLE_POPULATION_75_PLUS
            .iter()
            .map(|&(code, n)| (code.to_string(), n))
            .collect(),
        None => Default::default(),
    };
    let oda_simulator = oda(config, &mut adapters).await?;
    let ptv_simulator = ptv(config, &mut adapters).await?;
    let broker = Broker::new(store.clone(), adapters, config.broker.clone(), state.metrics.clone());
    let oda_sync = crate::jobs::oda::OdaSync {
        registry: state.registry.clone(),
        hasher: state.hasher.clone(),
        limits: state.case_limits,
    };
    let (tsa_client, tsa_simulator) = tsa(config).await?;
    let audit_jobs = crate::jobs::audit::AuditJobs {
        signer: checkpoint_signer(config)?,
        tsa: tsa_client,
        payload_retention_days: config.retention.exchange_payload_days,
    };
    state.audit_keys = Some(Arc::new(audit_keys(config)?));
    let jobs = Jobs::new(
        &config.jobs,
        store,
        broker.clone(),
        state.identification.clone(),
        oda_sync,
        audit_jobs,
    )?;
    state.broker = Some(broker.clone());
    state.jobs = Some(jobs.clone());
    state.data_dir_lock = Some(lock);
    Ok(Gateway {
        state: Arc::new(state),
        broker,
        jobs,
        messages_simulator,
        kanta_simulator,
        idp_simulator,
        mandates_simulator,
        oda_simulator,
        tsa_simulator,
        ptv_simulator,
    })
}

/// The service catalogue adapter, one per configured municipality (keyed by its code, so each
/// has its own breaker); in the sandbox the PTV simulator.
async fn ptv(config: &Config, adapters: &mut Adapters) -> anyhow::Result<Option<ptv_simulator::Running>> {
    if let Some(ptv) = &config.ptv {
        let adapter = Arc::new(portti_ptv::Ptv::new(portti_ptv::PtvConfig {
            base_url: ptv.base_url.clone(),
            http: ptv.http.clone(),
        })?);
        let registry = OrganisationRegistry::new(config.organisations.iter().cloned());
        for m in &ptv.municipalities {
            let code = registry
                .resolve(m)
                .map(|o| o.id)
                .filter(|id| portti_ptv::is_municipality_code(id))
                .ok_or_else(|| anyhow::anyhow!("ptv: {m:?} is not a municipality"))?;
            adapters.insert(&code, adapter.clone());
        }
        return Ok(None);
    }
    if !config.sandbox || config.sandbox_services.ptv_municipalities.is_empty() {
        return Ok(None);
    }
    let simulator = ptv_simulator::start(ptv_simulator::Config::sandbox(), config.sandbox_services.ptv_listen).await?;
    let adapter = Arc::new(portti_ptv::Ptv::new(portti_ptv::PtvConfig {
        base_url: simulator.base_url(),
        http: portti_adapter_core::HttpClientConfig {
            request_timeout: std::time::Duration::from_millis(config.sandbox_services.client_timeout_ms),
            ..Default::default()
        },
    })?);
    for m in &config.sandbox_services.ptv_municipalities {
        adapters.insert(m, adapter.clone());
    }
    Ok(Some(simulator))
}

/// The ODA / Omaolo adapter for the configured organisations; in the sandbox the FHIR simulator
/// with the demo client key.
async fn oda(config: &Config, adapters: &mut Adapters) -> anyhow::Result<Option<oda_simulator::Running>> {
    if let Some(oda) = &config.oda {
        let adapter = Arc::new(portti_oda::Oda::new(oda.adapter.clone())?);
        let registry = OrganisationRegistry::new(config.organisations.iter().cloned());
        for org in &oda.organisations {
            let id = registry
                .resolve(org)
                .map(|o| o.id)
                .ok_or_else(|| anyhow::anyhow!("oda: unknown organisation {org:?}"))?;
            adapters.insert(&id, adapter.clone());
        }
        return Ok(None);
    }
    if !config.sandbox || config.sandbox_services.oda_organisations.is_empty() {
        return Ok(None);
    }
    let simulator = oda_simulator::start(oda_simulator::Config::sandbox(), config.sandbox_services.oda_listen).await?;
    let certs = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs-example");
    let adapter_config: portti_oda::OdaConfig = serde_json::from_value(serde_json::json!({
        "base_url": simulator.fhir_base_url(),
        "token_url": simulator.token_url(),
        "client_id": oda_simulator::SANDBOX_CLIENT_ID,
        "client_key_file": certs.join("oda-client.key"),
        "key_id": oda_simulator::SANDBOX_KEY_ID,
    }))?;
    let adapter = Arc::new(portti_oda::Oda::new(adapter_config)?);
    for org in &config.sandbox_services.oda_organisations {
        adapters.insert(org, adapter.clone());
    }
    Ok(Some(simulator))
}

/// Suomi.fi Mandates from the config; in the sandbox, the simulator with its API key.
async fn mandates(
    config: &Config,
) -> anyhow::Result<(Option<Arc<SuomifiMandates>>, Option<mandates_simulator::Running>)> {
    if let Some(mandates) = &config.suomifi_mandates {
        return Ok((Some(Arc::new(SuomifiMandates::new(mandates.clone())?)), None));
    }
    if !config.sandbox {
        return Ok((None, None));
    }
    let simulator = mandates_simulator::start(
        mandates_simulator::Config::sandbox(),
        config.sandbox_services.mandates_listen,
    )
    .await?;
    let key_file = config.data_dir.join("suomifi-mandates.key");
    std::fs::write(&key_file, format!("{}\n", mandates_simulator::SANDBOX_API_KEY))?;
    let adapter = SuomifiMandates::new(MandatesConfig {
        base_url: simulator.base_url(),
        client_id: mandates_simulator::SANDBOX_CLIENT_ID.into(),
        client_secret_file: key_file,
        issues: vec![mandates_simulator::SANDBOX_ISSUE.into()],
        http: Default::default(),
    })?;
    Ok((Some(Arc::new(adapter)), Some(simulator)))
}

/// This gateway as a Suomi.fi Identification service provider: from `[identification]`, or in
/// the sandbox against the IdP simulator with the demo SAML keys, logins returning to the
/// gateway itself or the configured sandbox origins.
async fn identification(
    config: &Config,
) -> anyhow::Result<(Option<Arc<Identification>>, Option<idp_simulator::Running>)> {
    let token_key = |path: Option<&std::path::Path>| -> anyhow::Result<Vec<u8>> {
        match path {
            Some(p) => std::fs::read(config.data_path(p)).map_err(|e| anyhow::anyhow!("{}: {e}", p.display())),
            None if config.sandbox => Ok(sandbox::SigningKey::load_or_create(&config.data_dir)?
                .private_pem
                .into_bytes()),
            None => anyhow::bail!("identification.token_signing_key is required outside the sandbox"),
        }
    };
    if let Some(settings) = &config.identification {
        let trust = settings
            .metadata_signing_certificates
            .iter()
            .map(|p| std::fs::read_to_string(config.data_path(p)).map_err(|e| anyhow::anyhow!("{}: {e}", p.display())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let source = if settings.idp_metadata.starts_with("https://") || settings.idp_metadata.starts_with("http://") {
            anyhow::ensure!(
                !trust.is_empty(),
                "identification: metadata fetched from {} must be signed: set metadata_signing_certificates",
                settings.idp_metadata
            );
            MetadataSource::Url(settings.idp_metadata.clone())
        } else {
            MetadataSource::File(config.data_path(std::path::Path::new(&settings.idp_metadata)))
        };
        let key = token_key(settings.token_signing_key.as_deref())?;
        let identification = Identification::new(
            settings.clone(),
            source,
            (!trust.is_empty()).then_some(trust),
            &key,
            &config.auth.issuer,
            &config.auth.audience,
        )
        .await?;
        return Ok((Some(Arc::new(identification)), None));
    }
    if !config.sandbox {
        return Ok((None, None));
    }
    let host = if config.listen.ip().is_unspecified() {
        std::net::SocketAddr::new([127, 0, 0, 1].into(), config.listen.port())
    } else {
        config.listen
    };
    let public_url = format!("http://{host}");
    let certs = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs-example");
    let sp = idp_simulator::SpEndpoints {
        entity_id: format!("{public_url}/saml/metadata"),
        acs_url: format!("{public_url}/saml/acs"),
        slo_url: format!("{public_url}/saml/slo"),
    };
    // Signed metadata, as a fetched document must be: the IdP's own two keys sign it.
    let mut simulator_config = idp_simulator::Config::sandbox(sp.clone());
    simulator_config.sign_metadata = true;
    let simulator = idp_simulator::start(simulator_config, config.sandbox_services.identification_listen).await?;
    let metadata_signers = ["saml-idp-signing-1.pem", "saml-idp-signing-2.pem"]
        .iter()
        .map(|f| std::fs::read_to_string(certs.join(f)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut origins = vec![public_url.clone()];
    origins.extend(config.sandbox_services.identification_return_origins.iter().cloned());
    let settings = crate::identification::IdentificationSettings {
        entity_id: sp.entity_id,
        public_url,
        signing_key: certs.join("saml-sp-signing.key"),
        signing_certificate: certs.join("saml-sp-signing.pem"),
        encryption_key: certs.join("saml-sp-encryption.key"),
        encryption_certificate: certs.join("saml-sp-encryption.pem"),
        required_loa: vec![
            portti_suomifi_identification::loa::LOA3.into(),
            portti_suomifi_identification::loa::EIDAS_SUBSTANTIAL.into(),
            portti_suomifi_identification::loa::EIDAS_HIGH.into(),
        ],
        clock_skew_s: 60,
        idp_metadata: simulator.control().metadata_url(),
        metadata_signing_certificates: vec![],
        allowed_return_origins: origins,
        token_signing_key: None,
        token_ttl_s: 900,
        session_ttl_s: 8 * 3600,
        request_ttl_s: 600,
        metadata_timeout_ms: config.sandbox_services.client_timeout_ms,
    };
    let source = MetadataSource::Url(settings.idp_metadata.clone());
    let identification = Identification::new(
        settings,
        source,
        Some(metadata_signers),
        &token_key(None)?,
        &config.auth.issuer,
        &config.auth.audience,
    )
    .await?;
    Ok((Some(Arc::new(identification)), Some(simulator)))
}

/// The Kanta adapter from the config; in the sandbox without one, the archive simulator on
/// loopback (mutual TLS with the demo CA) and the demo organisations' ids and signing keys.
async fn kanta(config: &Config) -> anyhow::Result<(Option<Arc<KantaAdapter>>, Option<kanta_simulator::Running>)> {
    if let Some(kanta) = &config.kanta {
        let registry = OrganisationRegistry::new(config.organisations.iter().cloned());
        let mut kanta = kanta.clone();
        // Keyed by canonical id, so "Turku" in the config is the "853" of requests and tokens.
        let mut organisations = std::collections::BTreeMap::new();
        for (name, org) in std::mem::take(&mut kanta.organisations) {
            let id = registry
                .resolve(&name)
                .map(|o| o.id)
                .ok_or_else(|| anyhow::anyhow!("kanta: unknown organisation {name:?}"))?;
            organisations.insert(id, org);
        }
        kanta.organisations = organisations;
        return Ok((Some(Arc::new(KantaAdapter::new(kanta)?)), None));
    }
    if !config.sandbox || config.sandbox_services.kanta_organisations.is_empty() {
        return Ok((None, None));
    }
    let simulator =
        kanta_simulator::start(kanta_simulator::Config::sandbox(), config.sandbox_services.kanta_listen).await?;
    let certs = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs-example");
    let registry = OrganisationRegistry::new(config.organisations.iter().cloned());
    let organisations = config
        .sandbox_services
        .kanta_organisations
        .iter()
        .map(|org| {
            let name = registry.resolve(org).map(|o| o.name_fi).unwrap_or_else(|| org.clone());
            let organisation = KantaOrganisation {
                name,
                sender_system_oid: kanta_simulator::sender_system_oid(org),
                registry_keeper_oid: kanta_simulator::registry_keeper_oid(org),
                municipality_code: org.clone(),
                document_oid_root: format!("{}.3", kanta_simulator::registry_keeper_oid(org).trim_end_matches(".1")),
                signing_key: certs.join(format!("kanta-signing-{org}.key")),
                signing_certificate: certs.join(format!("kanta-signing-{org}.pem")),
                identity: None,
            };
            (org.clone(), organisation)
        })
        .collect();
    let adapter = KantaAdapter::new(KantaConfig {
        http: portti_adapter_core::HttpClientConfig {
            root_ca_pem: Some(certs.join("demo-ca.pem")),
            identity: Some(portti_adapter_core::ClientIdentity::Pem {
                cert: certs.join("portti-outbound.pem"),
                key: certs.join("portti-outbound.key"),
            }),
            ..Default::default()
        },
        processing_code: portti_kanta::ProcessingCode::T,
        ..KantaConfig::new(simulator.endpoint(), organisations)
    })?;
    Ok((Some(Arc::new(adapter)), Some(simulator)))
}

/// One adapter per (service, organisation) from the config; in the sandbox without a
/// configured service, the simulator on loopback with an account per demo organisation.
async fn adapters(config: &Config) -> anyhow::Result<(Adapters, Option<suomifi_simulator::Running>)> {
    let mut adapters = Adapters::default();
    let registry = OrganisationRegistry::new(config.organisations.iter().cloned());
    for entry in &config.suomifi_messages {
        // Keyed by canonical id, so "Turku" in the config is the "853" of requests and tokens.
        let organisation = registry
            .resolve(&entry.organisation)
            .map(|o| o.id)
            .ok_or_else(|| anyhow::anyhow!("suomifi_messages: unknown organisation {:?}", entry.organisation))?;
        adapters.insert(&organisation, Arc::new(SuomifiMessages::new(entry.adapter.clone())?));
    }
    for hook in &config.webhooks {
        let organisation = registry
            .resolve(&hook.organisation)
            .map(|o| o.id)
            .ok_or_else(|| anyhow::anyhow!("webhooks: unknown organisation {:?}", hook.organisation))?;
        let adapter = portti_webhook::Webhook::new(&portti_webhook::WebhookConfig {
            url: hook.url.clone(),
            secret_file: config.data_path(&hook.secret_file),
        })?;
        adapters.insert(&organisation, Arc::new(adapter));
    }
    if !config.sandbox || !config.suomifi_messages.is_empty() {
        return Ok((adapters, None));
    }
    let organisations = &config.sandbox_services.messages_organisations;
    let account = |org: &str| {
        (
            format!("portti-sandbox-{org}"),
            format!("{}-{org}", suomifi_simulator::SANDBOX_PASSWORD),
        )
    };
    let mut simulator_config = suomifi_simulator::Config::sandbox();
    simulator_config.accounts = organisations
        .iter()
        .map(|org| {
            let (username, password) = account(org);
            suomifi_simulator::Account { username, password }
        })
        .collect();
    let simulator = suomifi_simulator::start(simulator_config, config.sandbox_services.messages_listen).await?;
    for org in organisations {
        let (username, password) = account(org);
        // The simulator starts afresh each time, so its password file does too.
        let password_file = config.data_dir.join(format!("suomifi-messages-{org}.password"));
        std::fs::write(&password_file, &password)?;
        let adapter = SuomifiMessages::new(MessagesConfig {
            base_url: simulator.base_url(),
            username: username.clone(),
            password_file,
            service_id: username,
            ..MessagesConfig::default()
        })?;
        adapters.insert(org, Arc::new(adapter));
    }
    Ok((adapters, Some(simulator)))
}

/// Runs the gateway until Ctrl-C or SIGTERM. `on_ready` gets the bound address.
pub async fn run(config: Config, on_ready: impl FnOnce(SocketAddr, &Gateway)) -> anyhow::Result<()> {
    // Bound first: the SAML endpoints are announced with the real port.
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let mut config = config;
    config.listen = addr;
    let gateway = build(&config).await?;
    gateway.broker.start();
    gateway.jobs.start();
    let app = api::router(gateway.state.clone());
    on_ready(addr, &gateway);
    match &config.tls {
        Some(tls) => api::tls::serve(listener, api::tls::acceptor(tls)?, app, shutdown_signal()).await,
        // ConnectInfo: the public help endpoints rate-limit by the peer's address.
        None => Ok(
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(shutdown_signal())
                .await?,
        ),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_gateway_on_the_same_data_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.sandbox_services.messages_listen = "127.0.0.1:0".parse().unwrap();
        config.sandbox_services.kanta_listen = "127.0.0.1:0".parse().unwrap();
        config.sandbox_services.identification_listen = "127.0.0.1:0".parse().unwrap();
        config.sandbox_services.mandates_listen = "127.0.0.1:0".parse().unwrap();
        config.sandbox_services.oda_listen = "127.0.0.1:0".parse().unwrap();
        config.sandbox_services.tsa_listen = "127.0.0.1:0".parse().unwrap();
        config.sandbox_services.ptv_listen = "127.0.0.1:0".parse().unwrap();
        let first = build(&config).await.unwrap();
        let second = build(&config).await;
        assert!(second.is_err_and(|e| e.to_string().contains("another Portti")));
        drop(first);
    }
}
