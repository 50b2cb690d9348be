//! §6.2 Traceability subjects (enterprises and individual merchants).
//!
//! Built so far: enterprise filings through the API — the GB 32100 credit-code check
//! ([`uscc`]), platform-issued enterprise codes, draft → submitted → approved/rejected, a
//! version per approval with the changed fields, and an outbox row per approval for the
//! parent. Not built yet: merchant filings, per-tenant change control, pages, import/export,
//! search, map and statistics (the rest of the filings issue).

pub mod dto;
pub mod entity;
pub mod export;
mod handlers;
pub mod service;
pub mod uscc;

/// Registers the filing routes.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::create_enterprise)
        .service(handlers::list_enterprises)
        // `export` before `{id}`: the first matching route wins.
        .service(handlers::export_enterprises)
        .service(handlers::get_enterprise)
        .service(handlers::update_enterprise)
        .service(handlers::submit_enterprise)
        .service(handlers::approve_enterprise)
        .service(handlers::reject_enterprise)
        .service(handlers::list_enterprise_versions);
}
