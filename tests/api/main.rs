//! End-to-end HTTP tests: one binary, one module per feature.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod api_keys;
mod audit;
mod auth;
mod browser;
mod catalogue;
mod dashboard;
mod divisions;
mod duties;
mod errors;
mod federation;
mod filing_analysis;
mod filings;
mod guard;
mod hardening;
mod health;
mod imports;
mod integrators;
mod limits;
mod merchants_products;
mod openapi;
mod outbound;
mod pages;
mod policies;
mod public_lineage;
mod scenario;
mod sso;
mod tenancy;
mod trace;
mod trace_ingest;
mod units;
mod users;
