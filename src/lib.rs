//! Portti: an integration gateway between regional social and health care systems and
//! Finland's national services (Kanta, Suomi.fi Messages, Suomi.fi Identification, ODA).
//!
//! A request's way: [`api`] (HTTP, auth, limits) → [`case`] (normalisation) → [`store`]
//! (the case and its [`audit`] records in one transaction) → response.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod broker;
pub mod case;
pub mod certificates;
pub mod config;
pub mod identification;
pub mod jobs;
pub mod metrics;
pub mod reports;
pub mod store;
