//! Federation (issue 7; R-SHAPE-3, R-IF-1, R-REL-2, R-OPS-1): every tenant's changes — filing
//! versions and trace statistics — travel up the tenant tree through a transactional outbox,
//! to a parent in this deployment or, signed, over HTTP to a parent in another; the parent
//! applies each row once and in order, keeps a read model of the filings below and the
//! rolled-up statistics, and relays to its own parent. The wire format, signature, back-off
//! and apply rule are in the `suyuan_federation` crate.

pub mod anchors;
pub mod deliver;
pub mod dto;
pub mod entity;
mod handlers;
pub mod inbox;
pub mod service;

pub use deliver::Federation;

/// Registers the federation routes.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::receive_push)
        .service(handlers::get_status)
        .service(handlers::list_parked)
        .service(handlers::issue_credential)
        .service(handlers::list_credentials)
        .service(handlers::revoke_credential)
        .service(handlers::set_upstream)
        .service(handlers::set_link)
        .service(handlers::sync_link)
        .service(handlers::get_rollup)
        .service(handlers::get_rollup_map);
}
