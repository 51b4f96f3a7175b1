//! The service catalogue (Suomi.fi PTV) as the `ptv-services` job last synced it: services and
//! their channels per municipality, each kept as the adapter's JSON with a content hash.

use chrono::{DateTime, Utc};

/// One municipality's complete sync, written in one transaction: only what is new or changed,
/// and what disappeared. Made only from a sync that read every page.
#[derive(Debug, Clone)]
pub struct CatalogueSync {
    pub municipality: String,
    pub at: DateTime<Utc>,
    pub services: Vec<CatalogueService>,
    pub removed_services: Vec<String>,
    pub channels: Vec<CatalogueChannel>,
    pub removed_channels: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct CatalogueService {
    pub id: String,
    /// SHA-256 of `document`, hex.
    pub hash: String,
    pub document: String,
    /// Lower-cased searchable text as shown in fi, sv and en.
    pub search: [String; 3],
}

#[derive(Debug, Clone)]
pub struct CatalogueChannel {
    pub id: String,
    pub hash: String,
    pub document: String,
}

/// A stored service (never a removed one).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredService {
    pub municipality: String,
    pub id: String,
    pub document: String,
    pub first_seen: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct ServiceQuery {
    pub municipality: String,
    /// `fi`, `sv` or `en`: which search text `text` is looked for in.
    pub language: String,
    /// Lower-cased; services whose shown text contains it.
    pub text: Option<String>,
    /// The last id of the previous page.
    pub after: Option<String>,
    pub limit: u32,
}

/// The content hashes of what is stored (not removed) for a municipality.
#[derive(Debug, Clone, Default)]
pub struct CatalogueHashes {
    pub services: std::collections::HashMap<String, String>,
    pub channels: std::collections::HashMap<String, String>,
}
