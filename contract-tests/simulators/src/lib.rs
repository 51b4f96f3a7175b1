//! Faithful loopback simulators of Finland's national services, built from their public contracts, for the
//! contract tests and the sandbox. None of the real services can be reached from here.
//!
//! - [`suomifi_messages`]: the Suomi.fi Messages REST API (OpenAPI 3.0.1 in `shared/specs/`).

pub mod suomifi_messages;
