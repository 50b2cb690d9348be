//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// Always `ok` while the process serves requests.
    pub status: String,
    /// The platform version.
    pub version: String,
}

/// One dependency's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResult {
    /// `up` or `down`.
    pub status: String,
    /// Round trip in milliseconds.
    pub latency_ms: f64,
    /// Why it is down (no secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Readiness answer: 200 when every dependency answers, 503 otherwise.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessResponse {
    /// `ready` or `not_ready`.
    pub status: String,
    /// `database`, and `redis` when configured.
    pub checks: BTreeMap<String, CheckResult>,
}

/// Liveness: the process is up and serving.
#[utoipa::path(
    tag = "运维 ops",
    operation_id = "healthz",
    responses((status = 200, description = "进程存活 / the process is alive", body = HealthResponse))
)]
#[get("/healthz")]
pub async fn healthz() -> web::Json<HealthResponse> {
    web::Json(HealthResponse { status: "ok".to_owned(), version: env!("CARGO_PKG_VERSION").to_owned() })
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

async fn check<F, E>(fut: F) -> CheckResult
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let result = tokio::time::timeout(CHECK_TIMEOUT, fut).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {}s", CHECK_TIMEOUT.as_secs())),
    };
    CheckResult { status: if error.is_none() { "up" } else { "down" }.to_owned(), latency_ms, error }
}

/// Readiness: the database (and Redis when configured) answer, so traffic may be sent here.
#[utoipa::path(
    tag = "运维 ops",
    operation_id = "readyz",
    responses(
        (status = 200, description = "可以接收流量 / ready", body = ReadinessResponse),
        (status = 503, description = "依赖不可用 / a dependency is down", body = ReadinessResponse),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = BTreeMap::new();
    checks.insert("database".to_owned(), check(crate::db::ping(&state.db)).await);
    if let Some(redis) = &state.redis {
        checks.insert("redis".to_owned(), check(redis.ping()).await);
    }
    let ready = checks.values().all(|c| c.status == "up");
    if !ready {
        tracing::warn!(?checks, "not ready");
    }
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    HttpResponse::build(status)
        .json(ReadinessResponse { status: if ready { "ready" } else { "not_ready" }.to_owned(), checks })
}

/// Whether the request carries the metrics token (compared by digest, so the comparison's time
/// does not tell how much of a guess was right).
fn metrics_allowed(req: &HttpRequest, token: Option<&str>) -> bool {
    use sha2::{Digest as _, Sha256};
    let Some(token) = token else { return false };
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    given.is_some_and(|given| Sha256::digest(given.as_bytes()) == Sha256::digest(token.as_bytes()))
}

/// Prometheus metrics in the text exposition format. Needs `Authorization: Bearer
/// {metrics_token}`; without a configured `metrics_token` it is refused to everyone.
#[utoipa::path(
    tag = "运维 ops",
    operation_id = "metrics",
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus 文本格式指标 / metrics", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "缺少或错误的指标令牌 / metrics token missing or wrong", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "内部错误 / internal error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    if !metrics_allowed(&req, state.settings.metrics_token.as_deref()) {
        let detail = if state.settings.metrics_token.is_some() {
            "请在 Authorization 头中提供指标令牌（Bearer）"
        } else {
            "未配置 metrics_token，指标不对外提供"
        };
        return Err(ApiError::unauthorized(detail));
    }
    let (size, idle) = crate::db::pool_stats(&state.db);
    state.metrics.set_db_pool(size, idle, state.settings.db_max_connections);
    let text = state.metrics.render().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}
