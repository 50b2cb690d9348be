//! Shared test harness: start the real platform in-process on a free port against a fresh
//! database and drive it over HTTP.
//!
//! - Default: a SQLite file in a temporary folder per test.
//! - `SUYUAN_TEST_DATABASE_URL=postgres://…/postgres`: a fresh PostgreSQL database per test,
//!   dropped when the test ends. If the server does not answer the test fails — it never
//!   falls back to SQLite silently.
//! - `SUYUAN_TEST_REDIS_URL=redis://…`: the app is configured with Redis.

#![expect(clippy::expect_used, reason = "test harness: failing loudly is the point")]

pub mod browser;
pub mod oidc;
pub mod smtp;
pub mod stub;

use std::sync::OnceLock;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use suyuan_platform::Settings;
use suyuan_platform::config::LogFormat;
use tempfile::TempDir;

/// The audit key of every test app (outside the database, as in production).
pub const AUDIT_KEY: &str = "test-audit-key-kept-outside-the-database-0001";

/// The administrator password every test app starts with.
pub const ADMIN_PASSWORD: &str = "Initial-Pass-2026";

/// Which database the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file per test.
    Sqlite,
    /// PostgreSQL database per test.
    Postgres,
}

/// The backend chosen by the environment.
#[must_use]
pub fn backend() -> Backend {
    if postgres_admin_url().is_some() { Backend::Postgres } else { Backend::Sqlite }
}

fn postgres_admin_url() -> Option<String> {
    std::env::var("SUYUAN_TEST_DATABASE_URL").ok().filter(|s| !s.is_empty())
}

/// The Redis URL tests should use, if any.
#[must_use]
pub fn redis_url() -> Option<String> {
    std::env::var("SUYUAN_TEST_REDIS_URL").ok().filter(|s| !s.is_empty())
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            let settings = Settings { log_level: "debug".into(), log_format: LogFormat::Pretty, ..Settings::default() };
            suyuan_platform::telemetry::init(&settings);
        }
    });
}

/// A database made for one test.
pub struct TestDb {
    /// URL the app connects to.
    pub url: String,
    /// The SQLite folder, kept alive for the test.
    _dir: Option<TempDir>,
    /// `(admin URL, database name)` to drop at the end, on PostgreSQL.
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A fresh, empty database.
    ///
    /// # Panics
    /// When PostgreSQL is configured but does not answer (loudly, by design).
    pub async fn new() -> Self {
        match postgres_admin_url() {
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/suyuan.db", dir.path().display());
                Self { url, _dir: Some(dir), pg: None }
            }
            Some(admin_url) => {
                let name = format!("suyuan_t_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!("SUYUAN_TEST_DATABASE_URL is set but PostgreSQL does not answer at {admin_url}: {e}")
                });
                admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
                admin.close().await.ok();
                let mut url = url::Url::parse(&admin_url).expect("SUYUAN_TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self { url: url.to_string(), _dir: None, pg: Some((admin_url, name)) }
            }
        }
    }

    /// Drops a PostgreSQL test database now, even while the app holds connections (used to
    /// prove readiness fails when the database is gone). No-op on SQLite.
    pub async fn drop_now(&self) -> bool {
        let Some((admin_url, name)) = &self.pg else { return false };
        drop_pg(admin_url, name).await;
        true
    }
}

async fn drop_pg(admin_url: &str, name: &str) {
    if let Ok(admin) = Database::connect(admin_url).await {
        let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
        admin.close().await.ok();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            // Drop runs inside the test's runtime; use a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(drop_pg(&admin_url, &name));
                }
            })
            .join();
        }
    }
}

/// The `metrics_token` of every test app (`TestApp::metrics` sends it).
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// Settings for a test app on a free port against `db`. Rate limits are far above what any
/// test sends (every test comes from 127.0.0.1); a test of the limits lowers the one it tests.
#[must_use]
pub fn test_settings(db: &TestDb) -> Settings {
    Settings {
        listen: "127.0.0.1:0".into(),
        database_url: db.url.clone(),
        db_max_connections: 5,
        redis_url: redis_url(),
        admin_password: Some(ADMIN_PASSWORD.into()),
        workers: 2,
        shutdown_timeout_secs: 5,
        // Background delivery writes while a test counts rows: the federation tests switch it on.
        federation_delivery: false,
        // The identity providers, parent platforms and stubs of the tests run on loopback, which
        // the platform refuses to reach unless the operator lists it.
        outbound_allow: "127.0.0.0/8, ::1".into(),
        rate_limit_public: 1_000_000,
        rate_limit_anonymous: 1_000_000,
        rate_limit_login: 1_000_000,
        rate_limit_api: 1_000_000,
        login_max_failures: 1_000_000,
        metrics_token: Some(METRICS_TOKEN.into()),
        // One process signs with one audit key: every test app shares this one.
        audit_key: Some(AUDIT_KEY.into()),
        ..Settings::default()
    }
}

/// A running platform.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// The app's own database pool (to look behind the API).
    pub db: DatabaseConnection,
    /// The app's shared state (to run a background job's step at once).
    pub state: suyuan_platform::state::AppState,
    /// The database (dropped with the app).
    pub test_db: TestDb,
    /// A client that keeps cookies.
    pub client: reqwest::Client,
    handle: actix_web_handle::Handle,
}

/// A change to the settings of one test app.
type SettingsTweak = Box<dyn FnOnce(&mut Settings)>;

/// Builder: `TestApp::builder().with_settings(|s| …).spawn().await`.
pub struct TestAppBuilder {
    tweak: Vec<SettingsTweak>,
}

impl TestApp {
    /// A builder for an app with custom settings.
    #[must_use]
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder { tweak: Vec::new() }
    }

    /// `address + path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// GET.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    /// POST a JSON body.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request")
    }

    /// `GET /metrics` with the metrics token: the exposition text.
    ///
    /// # Panics
    /// When the answer is not 200.
    pub async fn metrics(&self) -> String {
        let res = self.client.get(self.url("/metrics")).bearer_auth(METRICS_TOKEN).send().await.expect("request");
        assert_eq!(res.status(), 200, "metrics with the token");
        res.text().await.expect("metrics text")
    }

    /// A new client without cookies (another browser).
    #[must_use]
    pub fn new_client() -> reqwest::Client {
        reqwest::Client::builder().cookie_store(true).build().expect("client")
    }
}

impl TestAppBuilder {
    /// Changes the settings before start.
    #[must_use]
    pub fn with_settings(mut self, f: impl FnOnce(&mut Settings) + 'static) -> Self {
        self.tweak.push(Box::new(f));
        self
    }

    /// Starts the app.
    ///
    /// # Panics
    /// When the app cannot start.
    pub async fn spawn(self) -> TestApp {
        init_logs();
        let test_db = TestDb::new().await;
        let mut settings = test_settings(&test_db);
        for f in self.tweak {
            f(&mut settings);
        }
        let app = suyuan_platform::Application::build(settings).await.expect("the app starts");
        let address = format!("http://{}", app.addr());
        let db = app.db().clone();
        let state = app.state().clone();
        let handle = actix_web_handle::Handle(app.handle());
        tokio::spawn(app.run_until_stopped());
        TestApp { address, db, state, test_db, client: TestApp::new_client(), handle }
    }
}

/// Starts an app with default test settings.
pub async fn spawn_app() -> TestApp {
    TestApp::builder().spawn().await
}

mod actix_web_handle {
    /// Stops the server when the test ends, so its connections to the test database close.
    pub struct Handle(pub suyuan_platform::app::ServerHandle);

    impl Drop for Handle {
        fn drop(&mut self) {
            // Not awaited: the server stops in the background; the database drop uses FORCE.
            drop(self.0.stop(false));
        }
    }
}

/// Reads a problem+json body, checking the media type.
///
/// # Panics
/// When the response is not a problem document.
pub async fn problem(res: reqwest::Response) -> serde_json::Value {
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(ct, "application/problem+json", "problem media type");
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "status in body matches: {body}");
    assert!(body["code"].is_string() && body["title"].is_string(), "code and title: {body}");
    assert_eq!(body["type"], format!("/problems/{}", body["code"].as_str().unwrap_or_default()));
    body
}

/// The password test users change their initial password to.
pub const CHANGED_PASSWORD: &str = "Changed-Pass-2026";

/// A signed-in agency: its tenant and its administrator's browser.
pub struct Agency {
    /// Tenant id.
    pub tenant_id: String,
    /// Division code.
    pub code: String,
    /// The administrator's user name.
    pub admin_username: String,
    /// The administrator's client, signed in, password changed.
    pub admin: reqwest::Client,
}

impl TestApp {
    /// A new browser signed in as `username`; an initial password is changed to
    /// [`CHANGED_PASSWORD`] on the way, as the platform demands.
    ///
    /// # Panics
    /// When the login fails.
    pub async fn sign_in(&self, username: &str, password: &str) -> reqwest::Client {
        let client = Self::new_client();
        let res = client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(res.status(), 200, "login of {username}");
        let me: serde_json::Value = res.json().await.expect("me");
        if me["must_change_password"] == true {
            let res = client
                .post(self.url("/api/v1/auth/password"))
                .json(&serde_json::json!({"current_password": password, "new_password": CHANGED_PASSWORD}))
                .send()
                .await
                .expect("password change");
            assert_eq!(res.status(), 204, "password change of {username}");
        }
        client
    }

    /// The national administrator, signed in.
    pub async fn national_admin(&self) -> reqwest::Client {
        self.sign_in("admin", ADMIN_PASSWORD).await
    }

    /// Onboards an agency below `parent` (whose client must be its administrator) and signs
    /// its administrator in.
    ///
    /// # Panics
    /// When onboarding fails.
    pub async fn onboard(&self, parent: &reqwest::Client, code: &str, name: &str) -> Agency {
        let admin_username = format!("admin_{code}");
        let res = parent
            .post(self.url("/api/v1/tenants"))
            .json(&serde_json::json!({
                "code": code, "name": name,
                "admin_username": admin_username, "admin_display_name": format!("{name}管理员"),
            }))
            .send()
            .await
            .expect("create tenant");
        assert_eq!(res.status(), 201, "onboarding {code}");
        let body: serde_json::Value = res.json().await.expect("body");
        let token = body["admin"]["token"].as_str().expect("invitation token");
        let invitation = self.url(&format!("/api/v1/auth/invitations/{token}"));
        let tenant_id = body["tenant"]["id"].as_str().expect("tenant id").to_owned();
        let res = Self::new_client()
            .post(&invitation)
            .json(&serde_json::json!({"new_password": CHANGED_PASSWORD}))
            .send()
            .await
            .expect("accept invitation");
        assert_eq!(res.status(), 204, "invitation of {admin_username}");
        let admin = self.sign_in(&admin_username, CHANGED_PASSWORD).await;
        Agency { tenant_id, code: code.to_owned(), admin_username, admin }
    }

    /// Creates a user in the tenant of `admin` with `roles`, signed in (password changed).
    /// Returns the user id and the client.
    ///
    /// # Panics
    /// When any step fails.
    pub async fn user_with_roles(
        &self,
        admin: &reqwest::Client,
        username: &str,
        roles: &[&str],
    ) -> (String, reqwest::Client) {
        let res = admin
            .post(self.url("/api/v1/users"))
            .json(&serde_json::json!({"username": username, "display_name": username}))
            .send()
            .await
            .expect("create user");
        assert_eq!(res.status(), 201, "create user {username}");
        let body: serde_json::Value = res.json().await.expect("body");
        let id = body["user"]["id"].as_str().expect("id").to_owned();
        let initial = body["initial_password"].as_str().expect("password").to_owned();
        let res = admin
            .put(self.url(&format!("/api/v1/users/{id}/roles")))
            .json(&serde_json::json!({"roles": roles}))
            .send()
            .await
            .expect("set roles");
        assert_eq!(res.status(), 200, "roles of {username}");
        (id, self.sign_in(username, &initial).await)
    }

    /// Row counts of the tables a refused or invalid request must not touch (the audit log is
    /// left out: refusals are recorded there on purpose; see [`TestApp::audit_rows`]).
    pub async fn write_counts(&self) -> Vec<(String, i64)> {
        self.settle().await;
        let mut out = Vec::new();
        for table in [
            "tenants",
            "users",
            "user_roles",
            "sessions",
            "policy_rules",
            "api_keys",
            "password_history",
            "tenant_roles",
            "tenant_applications",
            "product_categories",
            "tenant_categories",
            "enterprises",
            "merchants",
            "product_filings",
            "filing_versions",
            "filing_rules",
            "import_jobs",
            "trace_events",
            "trace_stats_daily",
            "trace_code_issues",
            "trace_lineage",
            "outbox",
        ] {
            let row = self
                .db
                .query_one_raw(sea_orm::Statement::from_string(
                    self.db.get_database_backend(),
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
                .expect("count")
                .expect("row");
            out.push((table.to_owned(), row.try_get::<i64>("", "n").expect("n")));
        }
        out
    }
}

impl TestApp {
    /// The one number `sql` answers in a column `n` (a count, a sum).
    ///
    /// # Panics
    /// When the statement fails or answers no number.
    pub async fn scalar(&self, sql: &str) -> i64 {
        self.settle().await;
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(self.db.get_database_backend(), sql.to_owned()))
            .await
            .expect("query")
            .expect("row");
        row.try_get::<i64>("", "n").expect("n")
    }

    /// [`TestApp::scalar`] once it reaches `at_least`, or its value after 5 s (for what is
    /// written in the background).
    pub async fn scalar_reaching(&self, sql: &str, at_least: i64) -> i64 {
        let mut n = 0;
        for _ in 0..50 {
            n = self.scalar(sql).await;
            if n >= at_least {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        n
    }

    /// Chains the audit entries queued by ingests (what the audit writer does in the background
    /// and every reader of the log, the figures or the outbox does first), so that what a test
    /// reads behind the API is what the API would show.
    pub async fn settle(&self) {
        suyuan_platform::audit::pending::settle_all(&self.db).await.expect("chaining the queued audit entries");
    }

    /// Audit records with this action, in every tenant.
    pub async fn audit_rows(&self, action: &str) -> i64 {
        self.settle().await;
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                self.db.get_database_backend(),
                match self.db.get_database_backend() {
                    sea_orm::DbBackend::Postgres => "SELECT COUNT(*) AS n FROM audit_log WHERE action = $1",
                    _ => "SELECT COUNT(*) AS n FROM audit_log WHERE action = ?",
                },
                [action.into()],
            ))
            .await
            .expect("count")
            .expect("row");
        row.try_get::<i64>("", "n").expect("n")
    }
}

impl TestApp {
    /// Stops the server and its background jobs; the database stays (a platform going down).
    pub async fn stop_server(&self) {
        self.handle.0.stop(true).await;
    }

    /// Starts the server again on the same address and database, with `tweak` applied to the
    /// test settings.
    ///
    /// # Panics
    /// When it cannot start.
    pub async fn restart_server(&mut self, tweak: impl FnOnce(&mut Settings)) {
        let mut settings = test_settings(&self.test_db);
        settings.listen = self.address.trim_start_matches("http://").to_owned();
        tweak(&mut settings);
        let app = suyuan_platform::Application::build(settings).await.expect("the app starts again");
        self.db = app.db().clone();
        self.state = app.state().clone();
        self.handle = actix_web_handle::Handle(app.handle());
        tokio::spawn(app.run_until_stopped());
    }

    /// Files and approves an enterprise in the tenant of `admin`; its code.
    ///
    /// # Panics
    /// When filing or approval fails.
    pub async fn approved_enterprise(
        &self,
        admin: &reqwest::Client,
        name: &str,
        uscc: &str,
        kind: &str,
        division: &str,
    ) -> String {
        let e: serde_json::Value = admin
            .post(self.url("/api/v1/enterprises"))
            .json(&serde_json::json!({"name": name, "uscc": uscc, "enterprise_type": kind, "categories": ["0101"],
                  "stages": ["sale"], "address": "地址", "division_code": division, "contact_name": "李",
                  "contact_phone": "0531-88881234", "submit": true}))
            .send()
            .await
            .expect("file")
            .json()
            .await
            .expect("filing");
        let id = e["id"].as_str().expect("filing id");
        let res = admin.post(self.url(&format!("/api/v1/enterprises/{id}/approve"))).send().await.expect("approve");
        assert_eq!(res.status(), 200, "approval of {name}");
        e["code"].as_str().expect("code").to_owned()
    }
}

/// Another replica of a test app: its own server and port, the same database (and Redis).
pub struct Replica {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    _handle: actix_web_handle::Handle,
}

impl Replica {
    /// `address + path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl TestApp {
    /// Starts a second replica against this app's database.
    ///
    /// # Panics
    /// When it cannot start.
    pub async fn replica(&self, tweak: impl FnOnce(&mut Settings)) -> Replica {
        let mut settings = test_settings(&self.test_db);
        tweak(&mut settings);
        let app = suyuan_platform::Application::build(settings).await.expect("the replica starts");
        let address = format!("http://{}", app.addr());
        let handle = actix_web_handle::Handle(app.handle());
        tokio::spawn(app.run_until_stopped());
        Replica { address, _handle: handle }
    }
}
