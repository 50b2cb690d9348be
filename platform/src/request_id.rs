//! `X-Request-Id`: accepted from the caller (when sane) or generated, returned on every
//! response, attached to every log line of the request and to problem bodies.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

/// The header name.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served by this task, if any.
#[must_use]
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A caller's id is kept when it is 1–128 characters of `A–Z a–z 0–9 . _ : -` starting with a
/// letter or digit; anything else is replaced, so ids cannot inject into logs nor become a
/// spreadsheet formula in the audit export (`=HYPERLINK(…)` sent by an anonymous caller).
fn accept(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = s.len() <= 128
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| s.to_owned())
}

/// Paths whose next segment is a one-time secret (an invitation token): the access log shows
/// `***` in its place, so whoever reads logs cannot take over the invited account.
const SECRET_SEGMENT_AFTER: [&str; 2] = ["/invite/", "/api/v1/auth/invitations/"];

/// The path as logged: secret segments replaced (the query string is never logged).
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in SECRET_SEGMENT_AFTER {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.find('/').map_or("", |i| &rest[i..]);
            return format!("{prefix}***{tail}").into();
        }
    }
    path.into()
}

/// Middleware: request id, a tracing span per request, and one access log line per response.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let id = req.headers().get(&HEADER).and_then(accept).unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let span = tracing::info_span!(
        "http",
        request_id = %id,
        method = %req.method(),
        path = %loggable_path(req.path()),
    );
    let started = Instant::now();
    let result = REQUEST_ID.scope(id.clone(), next.call(req)).instrument(span.clone()).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let _enter = span.enter();
    match result {
        Ok(mut res) => {
            if let Ok(value) = HeaderValue::from_str(&id) {
                res.headers_mut().insert(HEADER, value);
            }
            let status = res.status().as_u16();
            let route = res.request().match_pattern().unwrap_or_default();
            if status >= 500 {
                tracing::warn!(status, route, elapsed_ms, "response");
            } else {
                tracing::info!(status, route, elapsed_ms, "response");
            }
            Ok(res)
        }
        Err(e) => {
            tracing::warn!(error = %e, elapsed_ms, "request failed in middleware");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_ids_are_checked() {
        assert_eq!(accept(&HeaderValue::from_static("abc-123")), Some("abc-123".into()));
        assert_eq!(accept(&HeaderValue::from_static("has space")), None);
        assert_eq!(accept(&HeaderValue::from_static("")), None);
        let long = "x".repeat(129);
        assert_eq!(accept(&HeaderValue::from_str(&long).unwrap()), None);
        // Ids end up in the audit export: nothing a spreadsheet could run.
        for unsafe_id in [r#"=HYPERLINK("http://x","y")"#, "+1", "-1", "@SUM(A1)", "a=b", "id;x", "<id>"] {
            assert_eq!(accept(&HeaderValue::from_str(unsafe_id).unwrap()), None, "{unsafe_id}");
        }
        assert_eq!(accept(&HeaderValue::from_static("0190c2a4.req_7:3")), Some("0190c2a4.req_7:3".into()));
    }

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[actix_web::test]
    async fn one_time_tokens_in_paths_stay_out_of_the_access_log() {
        use actix_web::{App, HttpResponse, test, web};
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(middleware))
                .route("/invite/{token}", web::get().to(HttpResponse::Ok))
                .route("/api/v1/auth/invitations/{token}", web::post().to(HttpResponse::NoContent))
                .route("/api/v1/users/{id}", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let secret = "inv_S3cretOneTimeToken0123456789";
        for req in [
            test::TestRequest::get().uri(&format!("/invite/{secret}")),
            test::TestRequest::post().uri(&format!("/api/v1/auth/invitations/{secret}?x=1")),
            test::TestRequest::get().uri("/api/v1/users/u-42"),
        ] {
            let res = test::call_service(&app, req.to_request()).await;
            assert!(res.status().is_success());
        }
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(log.matches("response").count(), 3, "three access lines: {log}");
        assert!(!log.contains(secret), "the token is not logged: {log}");
        assert!(log.contains("/invite/***") && log.contains("/api/v1/auth/invitations/***"), "{log}");
        assert!(log.contains("/api/v1/users/u-42"), "other paths stay whole: {log}");
    }
}
