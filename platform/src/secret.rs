//! Answers that carry a secret shown once (an API key, an invitation link, an initial or reset
//! password, a federation credential): no cache — the browser's, a proxy's or a gateway's —
//! may keep them. Pages and API answers alike are marked here.

use actix_web::HttpResponseBuilder;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA};

/// Marks a response as never to be stored: `Cache-Control: no-store` and, for HTTP/1.0 caches,
/// `Pragma: no-cache`.
pub fn mark(builder: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    builder.insert_header((CACHE_CONTROL, "no-store")).insert_header((PRAGMA, "no-cache"))
}

/// A response builder with `status`, marked by [`mark`]: `no_store(StatusCode::CREATED).json(…)`.
#[must_use]
pub fn no_store(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = actix_web::HttpResponse::build(status);
    mark(&mut builder);
    builder
}
