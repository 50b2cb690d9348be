//! Static files (our CSS and JavaScript, the vendored libraries and map data), embedded in the
//! release binary so the platform needs no internet and no files beside it.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Static;

/// `GET /static/{path}`: one embedded file, with an `ETag` and one hour of caching.
pub async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(file) = Static::get(path.as_str()) else {
        return HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("没有这个文件");
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::ETAG, etag)).insert_header((header::CACHE_CONTROL, "public, max-age=3600"));
    if fresh {
        return res.finish();
    }
    let mime = file.metadata.mimetype();
    let mime = if mime.starts_with("text/") || mime.ends_with("javascript") || mime.ends_with("json") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    res.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_str(&mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    ));
    res.body(file.data.into_owned())
}

/// Whether an embedded file exists (the map of a region, say).
#[must_use]
pub fn exists(path: &str) -> bool {
    Static::get(path).is_some()
}
