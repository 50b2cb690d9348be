//! §6 Trace records (R-ARCH-1): the ingest API for connected systems (batches of up to 10 000
//! records, idempotent on the client's event id, validated whole before anything is written,
//! one transaction with the lineage edges) and the search of records (R-SUBJ-5).
//!
//! Chain synthesis ([`chain`], R-EMG-3) walks the lineage edges: a JSON graph, a flow table (CSV,
//! XLSX) or GeoJSON for the flow map.
//!
//! Trace codes ([`codes`]): platform-issued codes (subject code + serial + check character, in
//! runs of one code per item or one per batch) and the resolution of any identifier — platform
//! code, GS1 Digital Link, GS1 element string, GTIN, filing code, or a code records carry.
//!
//! The public lookup ([`public`], R-PUB-3) answers public fields only, from an in-process cache
//! (invalidated across replicas through Redis when configured), and records every query in
//! batches. It walks the lineage from the code's batch and shows only records linked into it;
//! a record carrying the code by a subject outside that lineage is kept as an anomaly
//! ([`anomalies`]). QR codes of trace codes (PNG, SVG) encode the code's public page.
//!
//! On PostgreSQL records are partitioned by month ([`write::ensure_partitions`], migration 026).
//!
//! Records also come from CSV/XLSX files ([`import`]) through the same checks.
//!
//! Units and the labels of stages and actions are reference data ([`reference`]): tables read
//! into memory at start.

pub mod analysis;
pub mod anomalies;
pub mod chain;
pub mod codes;
pub mod dto;
pub mod entity;
mod handlers;
mod import;
pub use import::records_from_file;
pub mod public;
pub mod reference;
pub mod service;
pub mod write;

/// Registers the public trace routes (no sign-in): the lookup, its QR code and identifier
/// resolution. The router tries patterns in the order they are registered, so the hottest
/// public path goes first, before every other module's patterns.
pub fn configure_public(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::public_trace).service(handlers::trace_qr).service(handlers::resolve);
}

/// Registers the signed-in trace routes.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::ingest_events)
        .service(handlers::import_events)
        .service(handlers::list_events)
        .service(handlers::get_event)
        .service(handlers::trace_chain)
        .service(handlers::query_statistics)
        .service(anomalies::list_anomalies)
        .service(handlers::issue_codes)
        .service(handlers::list_units);
}
