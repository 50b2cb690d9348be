//! Redis, when configured. Without it the platform keeps its caches and limits in-process;
//! with it they are shared by every replica.

use std::time::Duration;

use anyhow::Context as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// A shared, auto-reconnecting Redis connection (one multiplexed connection serves many
/// concurrent requests; a pool of single connections is slower here).
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
}

impl Redis {
    /// Prepares the connection without opening it, so the platform starts (not ready) while
    /// Redis is down, and readiness reports it.
    ///
    /// # Errors
    /// When the URL is not a Redis URL.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("invalid redis_url")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let conn =
            ConnectionManager::new_lazy_with_config(client, config).context("cannot set up the Redis connection")?;
        Ok(Self { conn })
    }

    /// `PING`.
    ///
    /// # Errors
    /// When Redis does not answer.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ())
    }

    /// The connection, for modules that use Redis directly.
    #[must_use]
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}
