//! The home dashboard of a tenant: key figures, charts and the region map, for its own data and
//! the rolled-up data of the tenants below it. The numbers come from the tables that exist;
//! figures of modules that have not landed yet are sent as `null` (shown as an empty state),
//! never as made-up zeros.

pub mod dto;
mod handlers;
pub mod service;

/// Registers the dashboard routes.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::get_dashboard).service(handlers::get_region_map);
}
