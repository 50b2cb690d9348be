//! §6 Trace records (R-ARCH-1): the ingest API for connected systems (batches of up to 10 000
//! records, idempotent on the client's event id, validated whole before anything is written,
//! one transaction with the lineage edges) and the search of records (R-SUBJ-5).
//!
//! Chain synthesis ([`chain`], R-EMG-3) walks the lineage edges as a JSON graph or a flow table.
//!
//! The public lookup ([`public`], R-PUB-3) answers public fields only and records every query in
//! batches.
//!
//! QR codes of trace codes (PNG, SVG) encode the code's public page.
//!
//! Not built yet (issue 6): platform-issued trace codes, identifier resolution,
//! the chain as GeoJSON and its pages, the Redis cache of the public lookup, statistics deltas and outbox rows for records, CSV/XLSX
//! import of records, monthly partitions on PostgreSQL, the pages, the benchmarks.

pub mod chain;
pub mod dto;
pub mod entity;
mod handlers;
pub mod public;
pub mod service;

/// Registers the trace routes.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    // `chain` before `events/{id}` does not matter (different paths); listed by use.
    cfg.service(handlers::ingest_events)
        .service(handlers::list_events)
        .service(handlers::get_event)
        .service(handlers::trace_chain)
        .service(handlers::public_trace)
        .service(handlers::trace_qr);
}
