//! Service-guidance reports: the key figures the pilot followed (first-contact resolution,
//! referrals, answer and handling times), the municipalities' cost shares, and charts of them.
//! Pure code over facts the store reads; the API parses, authorises and audits.

pub mod charts;
pub mod cost_allocation;
pub mod kpi;
