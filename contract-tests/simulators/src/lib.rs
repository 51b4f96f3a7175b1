//! Faithful loopback simulators of Finland's national services, built from their public contracts, for the
//! contract tests and the sandbox. None of the real services can be reached from here.
//!
//! - [`kanta`]: Kanta's social welfare client data archive (HL7 V3 messages carrying CDA R2 documents over
//!   mutual TLS), as `adapters/kanta/WIRE.md` models it.
//! - [`suomifi_identification`]: the Suomi.fi Identification IdP (SAML 2.0 Web SSO, single logout), plain HTTP
//!   on loopback, with attack variants of its Response for negative tests.
//! - [`ptv`]: the Suomi.fi Finnish Service Catalogue's open API v11 (services and channels of municipalities).
//! - [`suomifi_messages`]: the Suomi.fi Messages REST API (OpenAPI 3.0.1 in `shared/specs/`).
//! - [`tcp_link`]: a TCP link to any server (the gateway's PostgreSQL) that a test can cut or make hang.
//! - [`tsa`]: an RFC 3161 time-stamping authority (the audit trail's checkpoints).

mod injection;
pub mod kanta;
mod net;
pub mod oda;
pub mod ptv;
pub mod suomifi_identification;
pub mod suomifi_mandates;
pub mod suomifi_messages;
pub mod tcp_link;
pub mod tsa;
mod xml;
