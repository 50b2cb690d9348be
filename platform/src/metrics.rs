//! Prometheus metrics: requests by route and status, latency, database pool, background jobs.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// All metric families of one running platform (one registry per app, so tests in one process
/// do not share counters).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    db_connections: IntGaugeVec,
    db_max_connections: IntGauge,
    job_runs: IntCounterVec,
    jobs_running: IntGaugeVec,
    trace_public_loads: IntCounter,
    federation_rows: IntCounterVec,
    federation_backlog: IntGaugeVec,
    federation_lag: IntGaugeVec,
    federation_freshness: HistogramVec,
    rate_limited: IntCounterVec,
    login_failures: IntCounterVec,
}

fn build() -> Result<Inner, prometheus::Error> {
    let registry = Registry::new_custom(Some("suyuan".to_owned()), None)?;
    let requests = IntCounterVec::new(
        Opts::new("http_requests_total", "HTTP requests by method, route pattern and status"),
        &["method", "route", "status"],
    )?;
    let latency = HistogramVec::new(
        HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route pattern")
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        &["method", "route"],
    )?;
    let db_connections =
        IntGaugeVec::new(Opts::new("db_pool_connections", "Database pool connections by state"), &["state"])?;
    let db_max_connections = IntGauge::new("db_pool_max_connections", "Configured pool size")?;
    let job_runs =
        IntCounterVec::new(Opts::new("job_runs_total", "Background job runs by job and result"), &["job", "result"])?;
    let jobs_running =
        IntGaugeVec::new(Opts::new("jobs_running", "Background jobs currently running, by job"), &["job"])?;
    registry.register(Box::new(requests.clone()))?;
    registry.register(Box::new(latency.clone()))?;
    registry.register(Box::new(db_connections.clone()))?;
    registry.register(Box::new(db_max_connections.clone()))?;
    registry.register(Box::new(job_runs.clone()))?;
    registry.register(Box::new(jobs_running.clone()))?;
    let trace_public_loads = IntCounter::new(
        "trace_public_loads_total",
        "Public trace lookups answered from the database (cache misses: one per cold code)",
    )?;
    registry.register(Box::new(trace_public_loads.clone()))?;
    let federation_rows = IntCounterVec::new(
        Opts::new("federation_rows_total", "Federation rows by side and outcome (sent, applied, duplicate, parked)"),
        &["outcome"],
    )?;
    let federation_backlog = IntGaugeVec::new(
        Opts::new("federation_backlog_rows", "Outbox rows not yet acknowledged by the parent, per link (origin code)"),
        &["link"],
    )?;
    let federation_lag = IntGaugeVec::new(
        Opts::new("federation_lag_seconds", "Age of the oldest row not yet acknowledged by the parent, per link"),
        &["link"],
    )?;
    registry.register(Box::new(federation_rows.clone()))?;
    registry.register(Box::new(federation_backlog.clone()))?;
    registry.register(Box::new(federation_lag.clone()))?;
    let federation_freshness = HistogramVec::new(
        HistogramOpts::new(
            "federation_freshness_seconds",
            "From a change's commit where it happened to its apply at this tenant, by transport of the last hop",
        )
        .buckets(vec![
            0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
            30.0, 60.0,
        ]),
        &["via"],
    )?;
    registry.register(Box::new(federation_freshness.clone()))?;
    let rate_limited =
        IntCounterVec::new(Opts::new("rate_limited_total", "Requests refused with 429, by limit class"), &["class"])?;
    registry.register(Box::new(rate_limited.clone()))?;
    let login_failures = IntCounterVec::new(
        Opts::new(
            "login_failures_total",
            "Failed logins by reason (unknown_user is counted here only, not in an audit chain)",
        ),
        &["reason"],
    )?;
    registry.register(Box::new(login_failures.clone()))?;
    Ok(Inner {
        registry,
        requests,
        latency,
        db_connections,
        db_max_connections,
        job_runs,
        jobs_running,
        trace_public_loads,
        federation_rows,
        federation_backlog,
        federation_lag,
        federation_freshness,
        rate_limited,
        login_failures,
    })
}

impl Metrics {
    /// A fresh registry with every family registered.
    ///
    /// # Errors
    /// Only if two families had the same name (a programming error caught by tests).
    pub fn new() -> Result<Self, prometheus::Error> {
        Ok(Self { inner: Arc::new(build()?) })
    }

    /// Records one finished request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.inner.requests.with_label_values(&[method, route, status.as_str()]).inc();
        self.inner.latency.with_label_values(&[method, route]).observe(seconds);
    }

    /// Sets the pool gauges (sampled at scrape time).
    pub fn set_db_pool(&self, size: u32, idle: usize, max: u32) {
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        let size = i64::from(size);
        self.inner.db_connections.with_label_values(&["idle"]).set(idle);
        self.inner.db_connections.with_label_values(&["in_use"]).set((size - idle).max(0));
        self.inner.db_max_connections.set(i64::from(max));
    }

    /// A job run started; call [`Metrics::job_finished`] after.
    pub fn job_started(&self, job: &str) {
        self.inner.jobs_running.with_label_values(&[job]).inc();
    }

    /// A job run ended.
    pub fn job_finished(&self, job: &str, ok: bool) {
        self.inner.jobs_running.with_label_values(&[job]).dec();
        self.inner.job_runs.with_label_values(&[job, if ok { "ok" } else { "error" }]).inc();
    }

    /// A public trace answer loaded from the database.
    pub fn trace_public_loaded(&self) {
        self.inner.trace_public_loads.inc();
    }

    /// Federation rows with `outcome` (`sent`, `applied`, `duplicate`, `parked`).
    pub fn federation_rows(&self, outcome: &str, n: usize) {
        self.inner.federation_rows.with_label_values(&[outcome]).inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// A link's backlog and lag, as last seen by the delivery worker.
    pub fn federation_link(&self, link: &str, backlog: i64, lag_secs: i64) {
        self.inner.federation_backlog.with_label_values(&[link]).set(backlog);
        self.inner.federation_lag.with_label_values(&[link]).set(lag_secs);
    }

    /// One change applied at a parent, `seconds` after its commit where it happened.
    pub fn federation_freshness(&self, via: &str, seconds: f64) {
        self.inner.federation_freshness.with_label_values(&[via]).observe(seconds);
    }

    /// A request refused by the limit of `class`.
    pub fn rate_limited(&self, class: &'static str) {
        self.inner.rate_limited.with_label_values(&[class]).inc();
    }

    /// A failed login (`reason` is one of a fixed few words).
    pub fn login_failed(&self, reason: &'static str) {
        self.inner.login_failures.with_label_values(&[reason]).inc();
    }

    /// The text exposition of every family.
    ///
    /// # Errors
    /// When encoding fails (never for the text encoder in practice).
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::with_capacity(8 * 1024);
        TextEncoder::new().encode(&self.inner.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// The method label: the methods the platform serves, or `other`, so that made-up methods
/// cannot add series.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts and times every request by its route pattern (not its raw path, so
/// `/t/{code}` is one series however many codes are scanned; a path no route matches is
/// `unmatched`) and its method (known methods only).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        metrics.observe_request(method, &route, res.status().as_u16(), started.elapsed().as_secs_f64());
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families() {
        let m = Metrics::new().unwrap();
        m.observe_request("GET", "/healthz", 200, 0.001);
        m.set_db_pool(3, 2, 10);
        m.job_started("x");
        m.job_finished("x", true);
        let text = m.render().unwrap();
        assert!(text.contains("suyuan_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"));
        assert!(text.contains("suyuan_db_pool_connections{state=\"in_use\"} 1"));
        assert!(text.contains("suyuan_job_runs_total{job=\"x\",result=\"ok\"} 1"));
        assert!(text.contains("suyuan_http_request_duration_seconds_bucket"));
    }

    #[test]
    fn made_up_methods_are_other() {
        let made_up = actix_web::http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(method_label(&actix_web::http::Method::TRACE), "other");
        assert_eq!(method_label(&actix_web::http::Method::PUT), "PUT");
    }
}
