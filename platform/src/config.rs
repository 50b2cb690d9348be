//! Typed configuration: defaults (embedded mode) ← `suyuan.toml` ← `SUYUAN_*` environment.
//!
//! Every key is flat so that the file key and the environment variable are the same name:
//! `database_url` in the file is `SUYUAN_DATABASE_URL` in the environment. A bad value is
//! reported as one [`ConfigError`] that names the key, where it came from and what is wrong.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The keys that may be set, in the file or as `SUYUAN_<KEY>`.
pub const KEYS: &[&str] = &[
    "listen",
    "database_url",
    "db_max_connections",
    "redis_url",
    "log_format",
    "log_level",
    "max_body_bytes",
    "shutdown_timeout_secs",
    "workers",
    "admin_password",
    "public_url",
    "session_idle_secs",
    "session_absolute_secs",
    "login_max_failures",
    "login_lockout_secs",
    "policy_reload_secs",
    "trusted_proxies",
    "outbound_allow",
    "audit_retention_days",
    "smtp_url",
    "mail_from",
    "root_code",
    "root_name",
    "federation_delivery",
    "federation_lag_alert_secs",
    "rate_limit_public",
    "rate_limit_anonymous",
    "rate_limit_login",
    "rate_limit_api",
    "rate_limit_max_keys",
    "password_hash_concurrency",
    "password_hash_queue",
    "metrics_token",
    "audit_key",
    "audit_key_file",
    "audit_old_keys",
    "audit_anchor_secs",
    "audit_writer",
];

/// The shortest audit retention the platform accepts (R-SEC-3: at least 180 days).
pub const MIN_AUDIT_RETENTION_DAYS: u32 = 180;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The platform's settings after defaults, file and environment are merged and checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds, e.g. `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: String,
    /// `sqlite://path/to/file.db` (embedded) or `postgres://user@host/db`.
    pub database_url: String,
    /// Upper bound of the database connection pool.
    pub db_max_connections: u32,
    /// `redis://host:port/db`; when absent, caches, sessions and limits stay in-process.
    pub redis_url: Option<String>,
    /// `pretty` or `json`.
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `info,suyuan_platform=debug`.
    pub log_level: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Seconds given to in-flight requests and background jobs at shutdown.
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Initial password of the first administrator; generated and printed once when absent.
    pub admin_password: Option<String>,
    /// The URL people use to reach this server (printed at start, used in links and QR codes).
    pub public_url: Option<String>,
    /// A session ends after this many seconds without a request (GB/T 22239: 15 minutes).
    pub session_idle_secs: u64,
    /// A session ends this many seconds after login, however active.
    pub session_absolute_secs: u64,
    /// Login attempts one client address may make for one account name within
    /// `login_lockout_secs` before it is answered 429 (the account is never locked for others).
    pub login_max_failures: u32,
    /// The window of `login_max_failures`, in seconds.
    pub login_lockout_secs: u64,
    /// How often each replica checks whether the authorization policies changed, in seconds.
    pub policy_reload_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed, comma-separated IPs or CIDRs
    /// (`10.0.0.0/8,127.0.0.1`). Empty: the client address is the TCP peer, whatever headers say.
    pub trusted_proxies: String,
    /// Destinations this server may send HTTP requests to (identity providers, the federation
    /// parent) beyond the public internet: comma-separated host names, `*.`-domains, IPs and
    /// CIDR networks (`sso.sd.gov.cn, 10.20.0.0/16`). Empty: public unicast addresses only —
    /// loopback, private, link-local (169.254.169.254), CGNAT, multicast and reserved
    /// addresses are refused.
    pub outbound_allow: String,
    /// Audit records older than this many days are purged daily (at least 180).
    pub audit_retention_days: u32,
    /// The SMTP server for e-mail (`smtp://host:25`, `smtps://user:pass@host:465`); without
    /// it no e-mail is sent and links are shown to pass on by hand.
    pub smtp_url: Option<String>,
    /// The sender of e-mail, `名称 <address>`.
    pub mail_from: String,
    /// The division code of this deployment's root tenant, made at first start: `100000` (全国)
    /// for the national platform, a province's code for a provincial deployment that reports
    /// to the national one over the network. (Digits in the environment read as a number:
    /// taken as the code.)
    #[serde(deserialize_with = "code_text")]
    pub root_code: String,
    /// The root tenant's name, e.g. 全国 or 山东省.
    pub root_name: String,
    /// Whether this replica runs the federation delivery worker (any number may).
    pub federation_delivery: bool,
    /// A link whose oldest undelivered change is older than this many seconds alerts.
    pub federation_lag_alert_secs: u64,
    /// Anonymous public reads (trace lookup and its page, QR codes, identifier resolution) per
    /// client address and minute; 0 switches the limit off.
    pub rate_limit_public: u32,
    /// Other anonymous requests (SSO login start and callback, tenant applications, invitations)
    /// per client address and minute; 0 switches the limit off.
    pub rate_limit_anonymous: u32,
    /// Login attempts per client address and minute, whatever the account; 0 switches it off.
    pub rate_limit_login: u32,
    /// Signed-in API calls per API key or session and minute; 0 switches the limit off.
    pub rate_limit_api: u32,
    /// Keys (addresses, accounts, keys) each in-process limiter keeps before it drops idle ones
    /// at once instead of at its next sweep (every 10 s).
    pub rate_limit_max_keys: usize,
    /// Password hashes computed at the same time (argon2 takes 19 MiB each); 0 = CPU cores.
    pub password_hash_concurrency: usize,
    /// Requests that may wait for a hashing slot; more are answered 503 with Retry-After.
    pub password_hash_queue: usize,
    /// Bearer token that `GET /metrics` requires; without it `/metrics` is refused.
    pub metrics_token: Option<String>,
    /// The secret that signs every audit record (HMAC-SHA256), at least 32 characters; kept
    /// outside the database. Or `audit_key_file`; in embedded mode with neither, a key file is
    /// made beside the database file. Required with PostgreSQL.
    pub audit_key: Option<String>,
    /// A file holding the audit key (instead of `audit_key`).
    pub audit_key_file: Option<PathBuf>,
    /// Earlier audit keys, comma-separated: they no longer sign, but records they signed still
    /// verify after a key rotation.
    pub audit_old_keys: String,
    /// How often each tenant's audit chain head is published to the parent tenant, in seconds
    /// (0: only on demand).
    pub audit_anchor_secs: u64,
    /// Whether this replica runs the audit writer, which appends the audit entries queued by
    /// trace ingests to their tenants' chains as they come (any number of replicas may; reads
    /// of the log, the figures and the outbox chain what is queued anyway).
    pub audit_writer: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            database_url: "sqlite://./data/suyuan.db".to_owned(),
            db_max_connections: 10,
            redis_url: None,
            log_format: LogFormat::Pretty,
            log_level: "info".to_owned(),
            max_body_bytes: 2 * 1024 * 1024,
            shutdown_timeout_secs: 30,
            workers: 0,
            admin_password: None,
            public_url: None,
            session_idle_secs: 15 * 60,
            session_absolute_secs: 12 * 60 * 60,
            login_max_failures: 5,
            login_lockout_secs: 15 * 60,
            policy_reload_secs: 5,
            trusted_proxies: String::new(),
            outbound_allow: String::new(),
            audit_retention_days: 365,
            smtp_url: None,
            mail_from: "重要产品追溯管理平台 <noreply@localhost>".to_owned(),
            root_code: suyuan_tenancy::division::NATIONAL_CODE.to_owned(),
            root_name: "全国".to_owned(),
            federation_delivery: true,
            federation_lag_alert_secs: 900,
            rate_limit_public: 120,
            rate_limit_anonymous: 20,
            rate_limit_login: 20,
            rate_limit_api: 1200,
            rate_limit_max_keys: 100_000,
            password_hash_concurrency: 0,
            password_hash_queue: 32,
            metrics_token: None,
            audit_key: None,
            audit_key_file: None,
            audit_old_keys: String::new(),
            audit_anchor_secs: 3600,
            audit_writer: true,
        }
    }
}

/// A division code given as text or, from the environment, as the number its digits read as.
fn code_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Code {
        Text(String),
        Number(u64),
    }
    Ok(match Code::deserialize(d)? {
        Code::Text(s) => s,
        Code::Number(n) => n.to_string(),
    })
}

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// One readable configuration problem. Displayed as a single line.
#[derive(Debug, thiserror::Error)]
#[error("配置错误 / configuration error: {key}{origin}: {problem}")]
pub struct ConfigError {
    /// The key (file name of the setting); the environment variable is `SUYUAN_` + upper case.
    pub key: String,
    /// Where the value came from, e.g. ` (from SUYUAN_LISTEN)`, or empty.
    pub origin: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(key: &str, problem: impl Into<String>) -> Self {
        Self { key: key.to_owned(), origin: String::new(), problem: problem.into() }
    }
}

impl Settings {
    /// Loads settings. `file` is an explicit config path (must exist); without one,
    /// `./suyuan.toml` is read when present. Environment variables override the file.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) => {
                if !path.is_file() {
                    return Err(ConfigError::new("config", format!("file {} does not exist", path.display())));
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None => {
                let default = PathBuf::from("suyuan.toml");
                if default.is_file() {
                    figment = figment.merge(Toml::file_exact(default));
                }
            }
        }
        figment = figment.merge(Env::prefixed("SUYUAN_").only(KEYS));
        let settings: Settings = figment.extract().map_err(|e| from_figment(&e))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that parse but make no sense.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.database_kind()?;
        if self.db_max_connections == 0 {
            return Err(ConfigError::new("db_max_connections", "must be at least 1"));
        }
        if let Some(redis) = &self.redis_url {
            let url = url::Url::parse(redis).map_err(|e| ConfigError::new("redis_url", format!("not a URL ({e})")))?;
            if !matches!(url.scheme(), "redis" | "rediss") {
                return Err(ConfigError::new(
                    "redis_url",
                    format!("scheme must be redis:// or rediss://, got {}://", url.scheme()),
                ));
            }
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| ConfigError::new("log_level", format!("not a valid filter ({e})")))?;
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::new("max_body_bytes", "must be at least 1024"));
        }
        if self.session_idle_secs == 0 {
            return Err(ConfigError::new("session_idle_secs", "must be at least 1"));
        }
        if self.session_absolute_secs < self.session_idle_secs {
            return Err(ConfigError::new("session_absolute_secs", "must not be shorter than session_idle_secs"));
        }
        suyuan_tenancy::division::DivisionCode::parse(&self.root_code)
            .map_err(|e| ConfigError::new("root_code", format!("not a division code ({e})")))?;
        if self.root_name.trim().is_empty() {
            return Err(ConfigError::new("root_name", "must not be empty"));
        }
        if self.policy_reload_secs == 0 {
            return Err(ConfigError::new("policy_reload_secs", "must be at least 1"));
        }
        if self.login_max_failures == 0 {
            return Err(ConfigError::new("login_max_failures", "must be at least 1"));
        }
        if let Some(public) = &self.public_url {
            url::Url::parse(public).map_err(|e| ConfigError::new("public_url", format!("not a URL ({e})")))?;
        }
        self.trusted_proxy_nets()?;
        self.outbound_allow()?;
        if let Some(smtp) = &self.smtp_url {
            let url = url::Url::parse(smtp).map_err(|e| ConfigError::new("smtp_url", format!("not a URL ({e})")))?;
            if !matches!(url.scheme(), "smtp" | "smtps") {
                return Err(ConfigError::new("smtp_url", "scheme must be smtp:// or smtps://"));
            }
        }
        if !self.mail_from.contains('@') {
            return Err(ConfigError::new("mail_from", "must be an e-mail address, e.g. 平台 <noreply@example.gov.cn>"));
        }
        if self.login_lockout_secs == 0 {
            return Err(ConfigError::new("login_lockout_secs", "must be at least 1"));
        }
        if self.rate_limit_max_keys < 1000 {
            return Err(ConfigError::new("rate_limit_max_keys", "must be at least 1000"));
        }
        if self.password_hash_concurrency > 256 {
            return Err(ConfigError::new("password_hash_concurrency", "must be at most 256 (0 = CPU cores)"));
        }
        if let Some(token) = &self.metrics_token
            && (token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(ConfigError::new(
                "metrics_token",
                "must be at least 16 visible ASCII characters without spaces",
            ));
        }
        if self.audit_retention_days < MIN_AUDIT_RETENTION_DAYS {
            return Err(ConfigError::new(
                "audit_retention_days",
                format!("must be at least {MIN_AUDIT_RETENTION_DAYS} (GB/T 22239 keeps audit records 180 days)"),
            ));
        }
        crate::audit::keys::validate(self)?;
        Ok(())
    }

    /// The networks of `trusted_proxies`.
    ///
    /// # Errors
    /// When an entry is neither an IP address nor a CIDR network.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>().or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).map_err(
                    |_| ConfigError::new("trusted_proxies", format!("\"{s}\" is not an IP address or CIDR network")),
                )
            })
            .collect()
    }

    /// The parsed `outbound_allow`.
    ///
    /// # Errors
    /// When an entry is not a host name, `*.`-domain, IP address or CIDR network.
    pub fn outbound_allow(&self) -> Result<crate::outbound::Allow, ConfigError> {
        crate::outbound::Allow::parse(&self.outbound_allow).map_err(|e| ConfigError::new("outbound_allow", e))
    }

    /// The socket address to bind.
    ///
    /// # Errors
    /// When `listen` is not `HOST:PORT` with an IP host.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::new("listen", format!("\"{}\" is not an address like 127.0.0.1:8080", self.listen))
        })
    }

    /// The database engine selected by `database_url`.
    ///
    /// # Errors
    /// When the URL has another scheme.
    pub fn database_kind(&self) -> Result<DatabaseKind, ConfigError> {
        let url = &self.database_url;
        if url.starts_with("sqlite:") {
            Ok(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseKind::Postgres)
        } else {
            Err(ConfigError::new("database_url", "must start with sqlite:// (embedded) or postgres:// (server)"))
        }
    }

    /// The URL printed for people to open.
    #[must_use]
    pub fn display_url(&self, bound: SocketAddr) -> String {
        if let Some(public) = &self.public_url {
            return public.trim_end_matches('/').to_owned();
        }
        let host = if bound.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else if bound.is_ipv6() {
            format!("[{}]", bound.ip())
        } else {
            bound.ip().to_string()
        };
        format!("http://{host}:{}", bound.port())
    }
}

fn from_figment(err: &figment::Error) -> ConfigError {
    let key = if err.path.is_empty() { "config".to_owned() } else { err.path.join(".") };
    let origin = err
        .metadata
        .as_ref()
        .map(|m| {
            if m.name.to_lowercase().contains("env") {
                format!(" (from environment variable SUYUAN_{})", key.to_uppercase())
            } else {
                m.source.as_ref().map_or_else(|| format!(" (from {})", m.name), |src| format!(" (from {src})"))
            }
        })
        .unwrap_or_default();
    ConfigError { key, origin, problem: err.kind.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_embedded_mode() {
        let s = Settings::default();
        s.validate().unwrap();
        assert_eq!(s.database_kind().unwrap(), DatabaseKind::Sqlite);
        assert!(s.redis_url.is_none());
        assert_eq!(s.listen_addr().unwrap().port(), 8080);
    }

    #[test]
    fn bad_values_name_their_key() {
        let s = Settings { listen: "localhost".into(), ..Settings::default() };
        assert_eq!(s.validate().unwrap_err().key, "listen");
        let s = Settings { database_url: "mysql://x".into(), ..Settings::default() };
        assert_eq!(s.validate().unwrap_err().key, "database_url");
        let s = Settings { redis_url: Some("http://x".into()), ..Settings::default() };
        assert_eq!(s.validate().unwrap_err().key, "redis_url");
        let s = Settings { db_max_connections: 0, ..Settings::default() };
        assert_eq!(s.validate().unwrap_err().key, "db_max_connections");
        let s = Settings { trusted_proxies: "10.0.0.0/8, proxy.local".into(), ..Settings::default() };
        assert_eq!(s.validate().unwrap_err().key, "trusted_proxies");
        let s = Settings { outbound_allow: "sso.sd.gov.cn, 10.0.0.0/8, http://x".into(), ..Settings::default() };
        assert_eq!(s.validate().unwrap_err().key, "outbound_allow");
        let s = Settings {
            outbound_allow: "sso.sd.gov.cn, *.nation.gov.cn, 10.0.0.0/8, 127.0.0.1, ::1".into(),
            ..Settings::default()
        };
        s.validate().unwrap();
        let s = Settings { audit_retention_days: 179, ..Settings::default() };
        assert_eq!(s.validate().unwrap_err().key, "audit_retention_days");
        let s = Settings { metrics_token: Some("short".into()), ..Settings::default() };
        assert_eq!(s.validate().unwrap_err().key, "metrics_token");
        let s = Settings { login_lockout_secs: 0, ..Settings::default() };
        assert_eq!(s.validate().unwrap_err().key, "login_lockout_secs");
        let s = Settings { rate_limit_max_keys: 10, ..Settings::default() };
        assert_eq!(s.validate().unwrap_err().key, "rate_limit_max_keys");
        let s = Settings { trusted_proxies: "10.0.0.0/8, 127.0.0.1,::1".into(), ..Settings::default() };
        assert_eq!(s.trusted_proxy_nets().unwrap().len(), 3);
    }

    #[test]
    fn display_url_prefers_public_url() {
        let s = Settings { public_url: Some("https://trace.example.gov.cn/".into()), ..Settings::default() };
        assert_eq!(s.display_url("0.0.0.0:80".parse().unwrap()), "https://trace.example.gov.cn");
        let s = Settings::default();
        assert_eq!(s.display_url("0.0.0.0:8080".parse().unwrap()), "http://127.0.0.1:8080");
    }
}
