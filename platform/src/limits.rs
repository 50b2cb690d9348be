//! Rate limits per client address, per account name and address, and per API key or session.
//!
//! In process (the default) each class is a `governor` keyed GCRA limiter: `limit` requests per
//! `window`, all of which may come at once, then one more every `window / limit`. Its keyed
//! store holds one small entry per key seen; a background sweep drops the entries that are back
//! at a full allowance every 10 s, and a check that finds more than `rate_limit_max_keys` keys
//! sweeps at once, so address spraying cannot grow it without bound. IPv6 addresses count per
//! /64 (one host usually holds a whole /64).
//!
//! With Redis every replica shares one count per key: a fixed window (`INCR`, and `PEXPIRE` on
//! the first hit) in one short Lua script, one round trip per check. `governor`'s state store
//! is synchronous, so it cannot keep its state in Redis, and the Redis rate-limit crates seen
//! (`redis-rate` 0.1, `throttle-kit` 2.1) are built on redis 0.25–0.29, not the redis 1.x
//! connection manager the platform shares. When Redis does not answer, the in-process limiter
//! decides (fail open to the local limit, not to no limit).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::HttpRequest;
use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::config::Settings;
use crate::error::{ApiError, ApiResult};
use crate::kv::Redis;
use crate::metrics::Metrics;

/// What is being limited. Each class has its own limit and keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Anonymous public reads: trace lookup (API and page), QR codes, identifier resolution.
    Public,
    /// Other anonymous requests: SSO login start and callback, tenant applications,
    /// invitation acceptance.
    Anonymous,
    /// Login attempts per client address, whatever the account.
    Login,
    /// Login attempts per (account name, client address).
    LoginAccount,
    /// Signed-in API calls per API key or session user.
    Api,
}

impl Class {
    const ALL: [Class; 5] = [Class::Public, Class::Anonymous, Class::Login, Class::LoginAccount, Class::Api];

    /// The name in metrics and Redis keys.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Class::Public => "public",
            Class::Anonymous => "anonymous",
            Class::Login => "login",
            Class::LoginAccount => "login_account",
            Class::Api => "api",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Who is counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A client address (IPv6 as its /64).
    Addr(IpAddr),
    /// An account name (as a digest: names come from anonymous callers) from an address.
    Account([u8; 16], IpAddr),
    /// An API key or a session's user.
    Id(uuid::Uuid),
}

impl Key {
    /// The key of a client address: IPv4 as is (also when mapped into IPv6), IPv6 by its /64.
    #[must_use]
    pub fn addr(ip: IpAddr) -> Self {
        Key::Addr(addr_key(ip))
    }

    /// The key of an account name tried from an address.
    #[must_use]
    pub fn account(name: &str, ip: IpAddr) -> Self {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(name.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        Key::Account(first, addr_key(ip))
    }

    fn redis_suffix(&self) -> String {
        match self {
            Key::Addr(ip) => ip.to_string(),
            Key::Account(name, ip) => format!("{}|{ip}", hex::encode(name)),
            Key::Id(id) => id.simple().to_string(),
        }
    }
}

fn addr_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The client address of a request: the TCP peer, or behind a trusted proxy the address the
/// proxy saw (the same rule as the audit log's, `audit::client_ip`).
#[must_use]
pub fn client_addr(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> IpAddr {
    let peer = req.peer_addr().map(|a| a.ip());
    let ip = if trusted.is_empty() {
        peer
    } else {
        let forwarded: Vec<&str> = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).collect();
        crate::audit::client_ip(peer, Some(&forwarded.join(",")), trusted)
    };
    ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// A limit: `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Requests allowed in a window (and at once).
    pub limit: NonZeroU32,
    /// The window.
    pub window: Duration,
}

impl Rule {
    /// `limit` per minute; `None` when 0 (off).
    #[must_use]
    pub fn per_minute(limit: u32) -> Option<Self> {
        Self::new(limit, Duration::from_secs(60))
    }

    /// `limit` per `window`; `None` when 0 (off).
    #[must_use]
    pub fn new(limit: u32, window: Duration) -> Option<Self> {
        Some(Self { limit: NonZeroU32::new(limit)?, window: window.max(Duration::from_millis(1)) })
    }

    fn quota(self) -> Quota {
        let per = self.window / self.limit.get();
        Quota::with_period(per.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(self.limit))
            .allow_burst(self.limit)
    }
}

type Hasher = foldhash::fast::RandomState;
type Keyed = RateLimiter<Key, DashMapStateStore<Key, Hasher>, DefaultClock>;

struct Local {
    rule: Rule,
    limiter: Keyed,
    checks: AtomicU64,
}

struct Inner {
    classes: [Option<Local>; 5],
    clock: DefaultClock,
    redis: Option<(Redis, String)>,
    max_keys: usize,
    metrics: Metrics,
    redis_failures: AtomicU64,
}

/// Every class's limiter (cheap to clone).
#[derive(Clone)]
pub struct Limits {
    inner: Arc<Inner>,
}

/// How often each check looks at the size of its store (a look takes every shard's lock).
const SIZE_SAMPLE: u64 = 1024;

/// The fixed window in Redis: the count and the window's remaining milliseconds.
const WINDOW_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

impl Limits {
    /// The limits of `settings`. With `redis`, counts are shared by every replica under
    /// `namespace` (the deployment's root tenant id, the same on every replica).
    #[must_use]
    pub fn new(settings: &Settings, redis: Option<Redis>, namespace: &str, metrics: Metrics) -> Self {
        let rules = [
            Rule::per_minute(settings.rate_limit_public),
            Rule::per_minute(settings.rate_limit_anonymous),
            Rule::per_minute(settings.rate_limit_login),
            Rule::new(settings.login_max_failures, Duration::from_secs(settings.login_lockout_secs)),
            Rule::per_minute(settings.rate_limit_api),
        ];
        let clock = DefaultClock::default();
        let classes = rules.map(|rule| {
            rule.map(|rule| Local {
                rule,
                limiter: RateLimiter::dashmap_with_clock_and_hasher(rule.quota(), clock.clone(), Hasher::default()),
                checks: AtomicU64::new(0),
            })
        });
        Self {
            inner: Arc::new(Inner {
                classes,
                clock,
                redis: redis.map(|r| (r, format!("suyuan:rl:{namespace}:"))),
                max_keys: settings.rate_limit_max_keys,
                metrics,
                redis_failures: AtomicU64::new(0),
            }),
        }
    }

    /// The rule of a class, `None` when it is off.
    #[must_use]
    pub fn rule(&self, class: Class) -> Option<Rule> {
        self.inner.classes[class.index()].as_ref().map(|l| l.rule)
    }

    /// Counts one request of `key` in `class`.
    ///
    /// # Errors
    /// 429 `rate_limited` with `Retry-After` when the key is over its limit.
    pub async fn check(&self, class: Class, key: &Key) -> ApiResult<()> {
        let Some(local) = &self.inner.classes[class.index()] else { return Ok(()) };
        if let Some((redis, prefix)) = &self.inner.redis {
            match self.check_redis(redis, prefix, class, local.rule, key).await {
                Ok(result) => return result,
                Err(e) => {
                    let n = self.inner.redis_failures.fetch_add(1, Ordering::Relaxed);
                    if n.is_multiple_of(1000) {
                        tracing::warn!(error = %e, failures = n + 1, "rate limit: Redis did not answer, the replica's own limit applies");
                    }
                }
            }
        }
        self.check_local(class, local, key)
    }

    /// Counts one request of the client address of `req` in `class`.
    ///
    /// # Errors
    /// 429 `rate_limited` with `Retry-After`.
    pub async fn check_request(&self, class: Class, req: &HttpRequest, trusted: &[ipnet::IpNet]) -> ApiResult<()> {
        if self.inner.classes[class.index()].is_none() {
            return Ok(());
        }
        self.check(class, &Key::addr(client_addr(req, trusted))).await
    }

    fn check_local(&self, class: Class, local: &Local, key: &Key) -> ApiResult<()> {
        let result = local.limiter.check_key(key);
        if local.checks.fetch_add(1, Ordering::Relaxed) % SIZE_SAMPLE == SIZE_SAMPLE - 1
            && local.limiter.len() > self.inner.max_keys
        {
            local.limiter.retain_recent();
            tracing::warn!(
                class = class.name(),
                keys = local.limiter.len(),
                "rate limit: many keys; idle ones dropped early"
            );
        }
        match result {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.inner.clock.now());
                Err(self.refused(class, wait))
            }
        }
    }

    async fn check_redis(
        &self,
        redis: &Redis,
        prefix: &str,
        class: Class,
        rule: Rule,
        key: &Key,
    ) -> redis::RedisResult<ApiResult<()>> {
        let mut conn = redis.connection();
        let window_ms = u64::try_from(rule.window.as_millis()).unwrap_or(u64::MAX);
        let redis_key = format!("{prefix}{}:{}", class.name(), key.redis_suffix());
        let (count, ttl_ms): (u64, i64) =
            redis::cmd("EVAL").arg(WINDOW_SCRIPT).arg(1).arg(redis_key).arg(window_ms).query_async(&mut conn).await?;
        if count <= u64::from(rule.limit.get()) {
            return Ok(Ok(()));
        }
        let wait = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(window_ms));
        Ok(Err(self.refused(class, wait)))
    }

    fn refused(&self, class: Class, wait: Duration) -> ApiError {
        self.inner.metrics.rate_limited(class.name());
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::too_many_requests(secs)
    }

    /// Drops the in-process entries that are back at a full allowance (run every 10 s).
    pub fn sweep(&self) {
        for class in Class::ALL {
            if let Some(local) = &self.inner.classes[class.index()] {
                local.limiter.retain_recent();
                local.limiter.shrink_to_fit();
            }
        }
    }

    /// Keys held in process by a class (tests and metrics).
    #[must_use]
    pub fn keys(&self, class: Class) -> usize {
        self.inner.classes[class.index()].as_ref().map_or(0, |l| l.limiter.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(public: u32) -> Limits {
        let settings = Settings { rate_limit_public: public, ..Settings::default() };
        Limits::new(&settings, None, "t", Metrics::new().unwrap())
    }

    #[tokio::test]
    async fn refuses_past_the_limit_with_a_wait() {
        let limits = limits(3);
        let key = Key::addr("192.0.2.1".parse().unwrap());
        for _ in 0..3 {
            limits.check(Class::Public, &key).await.unwrap();
        }
        let refused = limits.check(Class::Public, &key).await.unwrap_err();
        assert_eq!(refused.http_status(), 429);
        let wait = refused.retry_after().unwrap();
        assert!((1..=20).contains(&wait), "one request back every 20 s: {wait}");
        // Another address has its own allowance.
        limits.check(Class::Public, &Key::addr("192.0.2.2".parse().unwrap())).await.unwrap();
    }

    #[tokio::test]
    async fn zero_switches_a_class_off() {
        let limits = limits(0);
        let key = Key::addr("192.0.2.1".parse().unwrap());
        for _ in 0..1000 {
            limits.check(Class::Public, &key).await.unwrap();
        }
        assert_eq!(limits.keys(Class::Public), 0);
    }

    #[test]
    fn ipv6_counts_per_slash_64_and_mapped_ipv4_as_ipv4() {
        let a = Key::addr("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = Key::addr("2001:db8:1:2:bbbb::2".parse().unwrap());
        let c = Key::addr("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(Key::addr("::ffff:192.0.2.1".parse().unwrap()), Key::addr("192.0.2.1".parse().unwrap()));
    }

    #[tokio::test]
    async fn the_sweep_keeps_memory_bounded_under_address_spraying() {
        let settings = Settings { rate_limit_public: 1000, rate_limit_max_keys: 1000, ..Settings::default() };
        let limits = Limits::new(&settings, None, "t", Metrics::new().unwrap());
        // One request each from 50 000 addresses: an entry can go once its request is earned
        // back and one period more has passed (2 × 60 ms at 1000 a minute).
        for i in 0..50_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            limits.check(Class::Public, &Key::addr(ip)).await.unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
        limits.sweep();
        assert_eq!(limits.keys(Class::Public), 0, "every address is back at its full allowance");
    }
}
