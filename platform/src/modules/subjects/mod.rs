//! §6.2 Traceability subjects (enterprises and individual merchants).
//!
//! Enterprise ([`service`]), individual merchant ([`merchants`]) and product ([`products`],
//! R-PROD-2) filings share one review workflow ([`workflow`]): platform-issued codes,
//! draft → submitted → approved/rejected → changed, a version per approval with the changed
//! fields, an outbox row per approval for the parent, and the tenant's change control.

pub mod analysis;
pub mod dto;
pub mod entity;
pub mod export;
mod handlers;
pub mod import;
pub mod merchants;
pub mod products;
pub mod service;
pub mod uscc;
pub mod workflow;

/// Registers the filing routes.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    // `export` before `{id}`: the first matching route wins.
    cfg.service(handlers::create_enterprise)
        .service(handlers::list_enterprises)
        .service(handlers::export_enterprises)
        .service(handlers::get_enterprise)
        .service(handlers::update_enterprise)
        .service(handlers::submit_enterprise)
        .service(handlers::approve_enterprise)
        .service(handlers::reject_enterprise)
        .service(handlers::list_enterprise_versions)
        .service(handlers::create_merchant)
        .service(handlers::list_merchants)
        .service(handlers::export_merchants)
        .service(handlers::get_merchant)
        .service(handlers::update_merchant)
        .service(handlers::submit_merchant)
        .service(handlers::approve_merchant)
        .service(handlers::reject_merchant)
        .service(handlers::list_merchant_versions)
        .service(handlers::create_product)
        .service(handlers::list_products)
        .service(handlers::export_products)
        .service(handlers::get_product)
        .service(handlers::update_product)
        .service(handlers::submit_product)
        .service(handlers::approve_product)
        .service(handlers::reject_product)
        .service(handlers::list_product_versions)
        .service(handlers::get_filing_rules)
        .service(handlers::set_filing_rules)
        .service(handlers::start_import)
        .service(handlers::list_imports)
        .service(handlers::get_import)
        .service(handlers::filings_map)
        .service(handlers::filing_statistics);
}
