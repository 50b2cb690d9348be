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
    client: redis::Client,
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
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .context("cannot set up the Redis connection")?;
        Ok(Self { conn, client })
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

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").finish_non_exhaustive()
    }
}

impl Redis {
    /// `PUBLISH channel message`.
    ///
    /// # Errors
    /// When Redis does not answer.
    pub async fn publish(&self, channel: &str, message: &str) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PUBLISH").arg(channel).arg(message).query_async::<i64>(&mut conn).await.map(|_| ())
    }

    /// Calls `on_message` with the payload of every message on `channel` until `stop` is
    /// cancelled; reconnects (after a second) when the connection drops. After each
    /// (re)subscription it is called once with `None`: messages may have been missed meanwhile.
    pub async fn subscribe<F, Fut>(
        &self,
        channel: &'static str,
        stop: tokio_util::sync::CancellationToken,
        on_message: F,
    ) where
        F: Fn(Option<String>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        use futures_util::StreamExt as _;
        loop {
            let subscribed = async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.subscribe(channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            match tokio::select! { () = stop.cancelled() => return, r = subscribed => r } {
                Ok(mut pubsub) => {
                    tracing::debug!(channel, "subscribed");
                    // A message may have been missed while not subscribed: catch up once.
                    on_message(None).await;
                    let mut messages = pubsub.on_message();
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            msg = messages.next() => match msg {
                                Some(m) => on_message(m.get_payload::<String>().ok()).await,
                                None => break,
                            },
                        }
                    }
                    tracing::warn!(channel, "Redis subscription ended; reconnecting");
                }
                Err(e) => tracing::warn!(channel, error = %e, "cannot subscribe to Redis; retrying"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}
