//! What every handler can reach.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::authz::Authz;
use crate::config::Settings;
use crate::jobs::Jobs;
use crate::kv::Redis;
use crate::metrics::Metrics;
use crate::modules::identity::sessions::SessionStore;

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub db: DatabaseConnection,
    /// Redis, when configured.
    pub redis: Option<Redis>,
    /// The settings the platform started with.
    pub settings: Arc<Settings>,
    /// Metric families.
    pub metrics: Metrics,
    /// Background jobs.
    pub jobs: Jobs,
    /// The casbin guard.
    pub authz: Authz,
    /// Where login sessions live (Redis when configured).
    pub sessions: SessionStore,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// Outgoing e-mail, when `smtp_url` is set.
    pub mailer: Option<crate::mail::Mailer>,
    /// Public trace-code queries on their way to the database.
    pub query_log: crate::modules::trace::public::QueryLog,
    /// Public trace answers by code.
    pub trace_cache: crate::modules::trace::public::TraceCache,
    /// The federation worker's wake-up and HTTP client.
    pub federation: crate::modules::federation::Federation,
    /// The allow-listed client for every outbound HTTP request (`outbound_allow`).
    pub outbound: crate::outbound::Outbound,
    /// Identity providers: their discovery documents and keys, read once per lifetime.
    pub sso: crate::modules::identity::sso::Providers,
    /// Rate limits (in process, or shared through Redis).
    pub limits: crate::limits::Limits,
}
