//! Password rules (GB/T 22239 level 2) and argon2id hashing.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::Rng as _;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult, FieldError};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 8;

/// Checks a new password: at least 8 characters, three of the four classes (lower case, upper
/// case, digits, other), and not the user name.
///
/// # Errors
/// The broken rule, as a field error on `field`.
pub fn check_rules(field: &str, username: &str, password: &str) -> Result<(), FieldError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(FieldError::new(field, "too_short", format!("密码至少 {MIN_LENGTH} 位")));
    }
    if password.chars().count() > 128 {
        return Err(FieldError::new(field, "too_long", "密码不能超过 128 位"));
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|&&b| b).count() < 3 {
        return Err(FieldError::new(field, "too_simple", "密码须包含大写字母、小写字母、数字、特殊字符中的至少三类"));
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(FieldError::new(field, "contains_username", "密码不能包含用户名"));
    }
    Ok(())
}

/// Hashes a password with argon2id and a random salt (PHC string).
///
/// # Errors
/// Only if the system random source fails.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string.
#[must_use]
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

/// The password hashing slots: at most `concurrency` argon2 runs at once (each takes 19 MiB and
/// a core for tens of milliseconds), at most `queue` requests waiting for a slot; any more are
/// answered 503 with `Retry-After` at once. Without the cap, 64 concurrent anonymous logins
/// took the server from 316 to 1 452 MiB.
pub struct HashSlots {
    permits: Arc<Semaphore>,
    queue: usize,
    waiting: AtomicUsize,
}

/// Decrements the waiting count however the wait ends (a dropped request included).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashSlots {
    /// `concurrency` slots (0 = the CPU cores) and a queue of `queue`.
    #[must_use]
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        } else {
            concurrency
        };
        Self { permits: Arc::new(Semaphore::new(concurrency)), queue, waiting: AtomicUsize::new(0) }
    }

    /// Requests waiting for a slot now.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Runs `work` on a blocking thread once a slot is free.
    ///
    /// # Errors
    /// 503 `server_busy` with `Retry-After` when every slot and the queue are taken; 500 when
    /// the thread fails.
    pub async fn run<T, F>(&self, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(ApiError::busy(1));
                }
                let _waiting = Waiting(&self.waiting);
                self.permits.clone().acquire_owned().await.map_err(ApiError::internal)?
            }
        };
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(ApiError::internal)
    }
}

static SLOTS: OnceLock<HashSlots> = OnceLock::new();

/// Sets the process's hashing slots from the settings (the first call wins: one process, one
/// cap, however many apps a test starts).
pub fn configure_slots(concurrency: usize, queue: usize) {
    let _ = SLOTS.set(HashSlots::new(concurrency, queue));
}

fn slots() -> &'static HashSlots {
    SLOTS.get_or_init(|| HashSlots::new(0, 32))
}

/// [`hash`] in a hashing slot on a blocking thread (argon2 takes tens of milliseconds: never on
/// the async workers).
///
/// # Errors
/// 503 when the server is busy hashing; 500 when hashing or the thread fails.
pub async fn hash_off_thread(password: &str) -> ApiResult<String> {
    let password = password.to_owned();
    slots().run(move || hash(&password)).await?.map_err(ApiError::internal)
}

/// Whether `password` matches any of `hashes`, checked in a hashing slot on a blocking thread.
///
/// # Errors
/// 503 when the server is busy hashing; 500 when the thread fails.
pub async fn verify_any_off_thread(password: &str, hashes: Vec<String>) -> ApiResult<bool> {
    let password = password.to_owned();
    slots().run(move || hashes.iter().any(|h| verify(&password, h))).await
}

/// A random password that satisfies [`check_rules`]: 16 characters from an alphabet without
/// look-alikes (no 0/O, 1/l/I), with every class present.
#[must_use]
pub fn generate() -> String {
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const OTHER: &[u8] = b"-_.@#%+";
    let mut rng = rand::rng();
    let sets = [LOWER, UPPER, DIGIT, OTHER];
    let mut out: Vec<u8> = sets.iter().map(|s| s[rng.random_range(0..s.len())]).collect();
    let all: Vec<u8> = sets.concat();
    while out.len() < 16 {
        out.push(all[rng.random_range(0..all.len())]);
    }
    // Shuffle so the classes are not in a fixed order.
    for i in (1..out.len()).rev() {
        out.swap(i, rng.random_range(0..=i));
    }
    out.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(check_rules("p", "admin", "Ab1").unwrap_err().rule, "too_short");
        assert_eq!(check_rules("p", "admin", "abcdefgh1").unwrap_err().rule, "too_simple");
        assert_eq!(check_rules("p", "zhangsan", "Zhangsan123").unwrap_err().rule, "contains_username");
        check_rules("p", "admin", "Shandong-2026").unwrap();
        check_rules("p", "admin", "shandong-2026").unwrap();
    }

    #[test]
    fn generated_passwords_follow_the_rules() {
        for _ in 0..50 {
            let p = generate();
            check_rules("p", "admin", &p).unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn hashing_slots_cap_concurrent_work() {
        let slots = Arc::new(HashSlots::new(2, 100));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let (slots, running, most) = (slots.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                slots
                    .run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        // Real work, so that runs overlap when nothing stops them.
                        let _ = hash("Shandong-2026");
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(running.load(Ordering::SeqCst), 0);
        assert!(most.load(Ordering::SeqCst) <= 2, "at most two at once: {}", most.load(Ordering::SeqCst));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_is_answered_busy() {
        let slots = Arc::new(HashSlots::new(1, 2));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let holder = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.run(move || hold.recv().is_ok()).await })
        };
        // Wait (without a clock) until the only slot is taken, then fill the queue.
        while slots.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let slots = slots.clone();
                tokio::spawn(async move { slots.run(|| true).await })
            })
            .collect();
        while slots.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        let refused = slots.run(|| true).await.unwrap_err();
        assert_eq!(refused.http_status(), 503);
        assert_eq!(refused.code(), "server_busy");
        assert_eq!(refused.retry_after(), Some(1));
        release.send(()).unwrap();
        assert!(holder.await.unwrap().unwrap());
        for q in queued {
            assert!(q.await.unwrap().unwrap());
        }
        assert_eq!(slots.waiting(), 0);
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("Shandong-2026").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Shandong-2026", &h));
        assert!(!verify("Shandong-2027", &h));
        assert!(!verify("x", "not a hash"));
    }
}
