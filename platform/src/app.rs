//! Builds the HTTP application: middleware order, module routes, OpenAPI, background jobs.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
pub use actix_web::dev::ServerHandle;
use actix_web::middleware::{Compress, DefaultHeaders, from_fn};
use actix_web::web::Redirect;
use actix_web::{App, HttpRequest, HttpServer, web};
use anyhow::Context as _;
use sea_orm::{ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::bootstrap::{self, Bootstrapped};
use crate::config::{DatabaseKind, Settings};
use crate::error::{self, ApiError};
use crate::jobs::Jobs;
use crate::kv::Redis;
use crate::metrics::{self, Metrics};
use crate::openapi::ApiDoc;
use crate::request_id;
use crate::state::AppState;

/// Every JSON route of every module. The OpenAPI document is collected from here, so a route
/// registered here is documented and a route not registered here does not exist.
pub fn api_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    crate::ops::configure(cfg);
    // The public trace lookup is the hottest path (consumers scanning codes): matched first.
    crate::modules::trace::configure_public(cfg);
    crate::modules::identity::configure(cfg);
    crate::modules::admin::configure(cfg);
    crate::modules::dashboard::configure(cfg);
    crate::modules::products::configure(cfg);
    crate::modules::subjects::configure(cfg);
    crate::modules::trace::configure(cfg);
    crate::modules::federation::configure(cfg);
}

/// A built, bound, not yet running platform.
pub struct Application {
    addr: SocketAddr,
    server: Server,
    state: AppState,
    bootstrapped: Bootstrapped,
}

impl Application {
    /// Connects to the database (migrating it and creating the first administrator when
    /// empty), prepares Redis when configured, binds the listener and starts background jobs.
    ///
    /// # Errors
    /// When the database cannot be opened or migrated, or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = crate::db::connect(&settings).await?;
        crate::db::migrate_up(&db).await?;
        let bootstrapped = bootstrap::run(&db, &settings).await?;
        // Units and the labels of stages and actions, read once into memory.
        crate::modules::trace::reference::load(&db)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.to_problem(None).title))?;
        let redis = settings.redis_url.as_deref().map(Redis::new).transpose()?;
        let authz = crate::authz::Authz::load(&db).await?.with_notifier(redis.clone());
        let metrics = Metrics::new().context("metrics registry")?;
        let jobs = Jobs::new(metrics.clone());
        let addr = settings.listen_addr()?;
        let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let settings = Arc::new(settings);
        let sessions = crate::modules::identity::sessions::SessionStore::new(redis.clone());
        let trusted_proxies = Arc::new(settings.trusted_proxy_nets()?);
        let mailer = crate::mail::Mailer::from_settings(&settings)?;
        let (query_log, queries) = crate::modules::trace::public::QueryLog::new();
        let outbound = crate::outbound::Outbound::new(settings.outbound_allow()?)?;
        crate::modules::identity::password::configure_slots(
            settings.password_hash_concurrency,
            settings.password_hash_queue,
        );
        // Replicas of one deployment share their Redis counts under the root tenant's id.
        let namespace = suyuan_tenancy::entity::tenant::Entity::find()
            .filter(suyuan_tenancy::entity::tenant::Column::ParentId.is_null())
            .one(&db)
            .await?
            .map_or_else(|| settings.root_code.clone(), |t| t.id.simple().to_string());
        let limits = crate::limits::Limits::new(&settings, redis.clone(), &namespace, metrics.clone());
        let state = AppState {
            db,
            redis,
            settings: settings.clone(),
            metrics,
            jobs,
            authz,
            sessions,
            trusted_proxies,
            mailer,
            query_log,
            trace_cache: crate::modules::trace::public::new_cache(),
            federation: crate::modules::federation::Federation::new(outbound.clone()),
            sso: crate::modules::identity::sso::Providers::new(outbound.clone()),
            outbound,
            limits,
        };
        start_jobs(&state);
        let db = state.db.clone();
        state
            .jobs
            .spawn_task("public_query_log", move |stop| crate::modules::trace::public::run_writer(db, queries, stop));
        let server = server(state.clone(), listener)?;
        Ok(Self { addr, server, state, bootstrapped })
    }

    /// The bound address (the real port when `listen` asked for port 0).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What the first start created (to print the one-time password).
    #[must_use]
    pub fn bootstrapped(&self) -> &Bootstrapped {
        &self.bootstrapped
    }

    /// The database pool (tests use it to look behind the API).
    #[must_use]
    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// The shared state (tests run background jobs' steps with it).
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle that stops the server gracefully.
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or [`Application::handle`]`.stop(true)`): stops accepting,
    /// lets in-flight requests finish, then stops the background jobs.
    ///
    /// # Errors
    /// I/O errors of the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        let timeout = Duration::from_secs(self.state.settings.shutdown_timeout_secs);
        self.state.jobs.shutdown(timeout).await;
        if let Err(e) = self.state.db.close_by_ref().await {
            tracing::warn!(error = %e, "closing the database pool failed");
        }
        tracing::info!("stopped");
        result
    }
}

/// Federation: the delivery worker (woken by new changes, here or on another replica through
/// Redis), the link watch (gauges and lag alerts) and the pruning of old replay signatures.
fn start_federation(state: &AppState) {
    if !state.settings.federation_delivery {
        tracing::info!("federation delivery is switched off on this replica");
        return;
    }
    let worker_state = state.clone();
    state
        .jobs
        .spawn_task("federation_delivery", move |stop| crate::modules::federation::deliver::worker(worker_state, stop));
    let watch_state = state.clone();
    state.jobs.spawn_periodic("federation_watch", Duration::from_secs(15), move || {
        let state = watch_state.clone();
        async move {
            crate::modules::federation::service::prune_replay(&state.db).await?;
            crate::modules::federation::service::watch_links(&state, state.settings.federation_lag_alert_secs).await
        }
    });
    if let Some(redis) = state.redis.clone() {
        let federation = state.federation.clone();
        state.jobs.spawn_task("federation_wake_subscription", move |stop| async move {
            redis
                .subscribe(crate::modules::federation::deliver::WAKE_CHANNEL, stop, |_| {
                    let federation = federation.clone();
                    async move { federation.wake() }
                })
                .await;
        });
    }
}

fn start_jobs(state: &AppState) {
    // The in-process limiters forget the keys that are back at a full allowance.
    let limits = state.limits.clone();
    state.jobs.spawn_periodic("rate_limit_sweep", Duration::from_secs(10), move || {
        let limits = limits.clone();
        async move {
            limits.sweep();
            Ok(())
        }
    });
    // Policy changes made through any replica reach every replica.
    let (db, authz) = (state.db.clone(), state.authz.clone());
    state.jobs.spawn_periodic("policy_reload", Duration::from_secs(state.settings.policy_reload_secs), move || {
        let (db, authz) = (db.clone(), authz.clone());
        async move { authz.reload_if_changed(&db).await.map(|_| ()) }
    });
    // Audit records past the retention (never under 180 days) go, once a day; the chain stays
    // verifiable from its anchor.
    let (db, days) = (state.db.clone(), state.settings.audit_retention_days);
    state.jobs.spawn_periodic("audit_retention", Duration::from_secs(24 * 3600), move || {
        let db = db.clone();
        async move { crate::audit::purge_expired(&db, days).await.map(|_| ()).map_err(Into::into) }
    });
    // Each tenant's audit chain head goes to its parent (an anchor outside this database).
    if state.settings.audit_anchor_secs > 0 {
        let anchor_state = state.clone();
        state.jobs.spawn_periodic("audit_anchor", Duration::from_secs(state.settings.audit_anchor_secs), move || {
            let state = anchor_state.clone();
            async move {
                let published = crate::modules::federation::anchors::publish_all(&state.db)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.to_problem(None).title))?;
                if published > 0 {
                    crate::modules::federation::deliver::wake_all(&state);
                }
                Ok(())
            }
        });
    }
    // Trace ingests queue their audit entries; this chains them, many per transaction.
    if state.settings.audit_writer {
        let db = state.db.clone();
        state.jobs.spawn_task("audit_writer", move |stop| crate::audit::pending::run_writer(db, stop));
    }
    start_federation(state);
    if let Some(redis) = state.redis.clone() {
        // With Redis, a change made on any replica reaches every replica at once.
        let (db, authz) = (state.db.clone(), state.authz.clone());
        state.jobs.spawn_task("policy_subscription", move |stop| async move {
            redis
                .subscribe(crate::authz::POLICY_CHANNEL, stop, |_| {
                    let (db, authz) = (db.clone(), authz.clone());
                    async move {
                        if let Err(e) = authz.reload_if_changed(&db).await {
                            tracing::warn!(error = %format!("{e:#}"), "policy reload after a Redis notice failed");
                        }
                    }
                })
                .await;
        });
        // An ingest on any replica drops the cached public answers of its codes everywhere.
        let (redis, cache) = (state.redis.clone(), state.trace_cache.clone());
        if let Some(redis) = redis {
            state.jobs.spawn_task("trace_cache_subscription", move |stop| async move {
                redis
                    .subscribe(crate::modules::trace::public::INVALIDATE_CHANNEL, stop, |codes| {
                        let cache = cache.clone();
                        async move { crate::modules::trace::public::drop_cached(&cache, codes.as_deref()).await }
                    })
                    .await;
            });
        }
    }
    if state.settings.database_kind().ok() == Some(DatabaseKind::Postgres) {
        // Trace records are partitioned by month: the coming three months exist before their
        // records arrive (the function comes with migration 026). At start, then daily: a
        // replica restarted more often than daily still makes them.
        let db = state.db.clone();
        state.jobs.spawn_task("trace_partitions", move |stop| async move {
            loop {
                if let Err(e) = crate::modules::trace::write::ensure_partitions(&db).await {
                    tracing::warn!(error = %format!("{e:#}"), "making trace record partitions failed");
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(24 * 3600)) => {}
                }
            }
        });
    }
    if state.settings.database_kind().ok() == Some(DatabaseKind::Sqlite) {
        // Keeps the WAL file small on long-running embedded installs.
        let db = state.db.clone();
        state.jobs.spawn_periodic("sqlite_checkpoint", Duration::from_secs(300), move || {
            let db = db.clone();
            async move {
                use sea_orm::ConnectionTrait;
                db.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await?;
                db.execute_unprepared("PRAGMA optimize").await?;
                Ok(())
            }
        });
    }
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let wants_html = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && !req.path().starts_with("/api/") {
        return Ok(crate::web::page_not_found(req).await);
    }
    if let Some(allowed) = crate::methods::allowed_instead(req.method(), req.path()) {
        let allow = allowed.iter().map(actix_web::http::Method::as_str).collect::<Vec<_>>().join(", ");
        let detail = format!("{} 只支持 {allow}", req.path());
        let mut res = actix_web::ResponseError::error_response(&ApiError::method_not_allowed(detail));
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
            res.headers_mut().insert(actix_web::http::header::ALLOW, value);
        }
        return Ok(res);
    }
    Err(ApiError::not_found(format!("没有这个地址: {} {}", req.method(), req.path())))
}

fn server(state: AppState, listener: TcpListener) -> anyhow::Result<Server> {
    let settings = state.settings.clone();
    let doc = crate::openapi::document();
    let data = web::Data::new(state.clone());
    let metrics = web::Data::new(state.metrics.clone());
    let body_limit = settings.max_body_bytes;
    let mut http = HttpServer::new(move || {
        let (app, _) = App::new()
            .app_data(data.clone())
            .app_data(metrics.clone())
            .app_data(web::JsonConfig::default().limit(body_limit).error_handler(error::json_error))
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .wrap(Compress::default())
            .wrap(
                DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("X-Frame-Options", "DENY"))
                    .add(("Referrer-Policy", "same-origin")),
            )
            .wrap(from_fn(metrics::middleware))
            .wrap(from_fn(request_id::middleware))
            .into_utoipa_app()
            .openapi(<ApiDoc as utoipa::OpenApi>::openapi())
            .configure(api_routes)
            .split_for_parts();
        app.configure(crate::web::configure)
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc.clone()))
            .route("/docs", web::get().to(|| async { Redirect::to("/docs/").permanent() }))
            .default_service(web::to(not_found))
    })
    .listen(listener)?
    // Signals are handled by the binary (`cli::serve`), registered before it announces that
    // it is running, so a signal can never arrive in a window where nobody listens for it.
    .disable_signals()
    .shutdown_timeout(settings.shutdown_timeout_secs);
    if settings.workers > 0 {
        http = http.workers(settings.workers);
    }
    Ok(http.run())
}
