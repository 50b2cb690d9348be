//! §6.3 Important products: the product catalogue (R-PROD-1). The national tenant maintains
//! the overall classification (seeded with the seven kinds of the standard); every tenant adds
//! sub-categories under national ones, with codes that extend the parent's, and chooses the
//! categories it traces. Product filings (R-PROD-2) come with the filings issue.

pub mod dto;
pub mod entity;
mod handlers;
pub mod service;

/// Registers the catalogue routes.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    // `selection` before `{id}`: the first matching route wins.
    cfg.service(handlers::list_categories)
        .service(handlers::select_categories)
        .service(handlers::create_category)
        .service(handlers::update_category)
        .service(handlers::delete_category);
}
