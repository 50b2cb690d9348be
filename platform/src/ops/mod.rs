//! Operations endpoints: liveness, readiness and metrics (R-ARCH-5).

mod handlers;

pub use handlers::{HealthResponse, ReadinessResponse};

/// Registers the operations routes.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::healthz).service(handlers::readyz).service(handlers::metrics);
}
