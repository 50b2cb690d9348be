//! Refusals recorded where they were aimed: when the guard refuses a caller acting on another
//! tenant's resource, the target tenant's chain records it too (its auditor sees who knocked),
//! besides the caller's own chain.
//!
//! Bounded, so that nobody can flood another tenant's chain: per target tenant and caller, at
//! most one record per [`WINDOW`]; the refusals in between are counted and the count goes
//! into the next record of that pair (`suppressed_before`). The window is kept in memory per
//! replica (at most [`MAX_PAIRS`] pairs; expired pairs are dropped first), so with several
//! replicas a caller gets at most one record per replica per window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// One record per target and caller within this time.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Most (target, caller) pairs remembered at once.
pub const MAX_PAIRS: usize = 10_000;

/// What to do with one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write a record; this many refusals of the pair were not recorded since the last one.
    Record {
        /// Refusals counted but not written since the pair's previous record.
        suppressed_before: u64,
    },
    /// Counted; recorded with the pair's next record.
    Suppress,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    suppressed: u64,
}

/// The windows of one replica.
#[derive(Debug, Default)]
pub struct Throttle {
    pairs: Mutex<HashMap<(Uuid, String), Window>>,
}

impl Throttle {
    /// Decides for a refusal of `caller` (a user or key id) on `target` at `now`.
    pub fn decide(&self, target: Uuid, caller: &str, now: Instant) -> Decision {
        let Ok(mut pairs) = self.pairs.lock() else {
            // A poisoned lock: record rather than lose the refusal.
            return Decision::Record { suppressed_before: 0 };
        };
        let key = (target, caller.to_owned());
        if let Some(w) = pairs.get_mut(&key) {
            if now.duration_since(w.started) < WINDOW {
                w.suppressed += 1;
                return Decision::Suppress;
            }
            let suppressed_before = w.suppressed;
            *w = Window { started: now, suppressed: 0 };
            return Decision::Record { suppressed_before };
        }
        if pairs.len() >= MAX_PAIRS {
            pairs.retain(|_, w| now.duration_since(w.started) < WINDOW);
        }
        if pairs.len() >= MAX_PAIRS {
            // More distinct signed-in callers refused within one window than we remember:
            // the caller's own chain still has every refusal.
            tracing::warn!(%target, "too many refused callers at once: refusal not copied to the target's audit log");
            return Decision::Suppress;
        }
        pairs.insert(key, Window { started: now, suppressed: 0 });
        Decision::Record { suppressed_before: 0 }
    }
}

/// The process's throttle (refusals are recorded from the guard, which has no app state).
pub fn throttle() -> &'static Throttle {
    static THROTTLE: std::sync::OnceLock<Throttle> = std::sync::OnceLock::new();
    THROTTLE.get_or_init(Throttle::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_per_pair_and_window_with_the_count_carried() {
        let t = Throttle::default();
        let (target, other) = (Uuid::now_v7(), Uuid::now_v7());
        let t0 = Instant::now();
        assert_eq!(t.decide(target, "u1", t0), Decision::Record { suppressed_before: 0 });
        assert_eq!(t.decide(target, "u1", t0 + Duration::from_secs(1)), Decision::Suppress);
        assert_eq!(t.decide(target, "u1", t0 + Duration::from_secs(59)), Decision::Suppress);
        // Another caller, another target: their own windows.
        assert_eq!(t.decide(target, "u2", t0), Decision::Record { suppressed_before: 0 });
        assert_eq!(t.decide(other, "u1", t0), Decision::Record { suppressed_before: 0 });
        // The next window's record carries what was counted.
        assert_eq!(t.decide(target, "u1", t0 + WINDOW), Decision::Record { suppressed_before: 2 });
        assert_eq!(t.decide(target, "u1", t0 + WINDOW + Duration::from_secs(1)), Decision::Suppress);
    }

    #[test]
    fn memory_stays_bounded() {
        let t = Throttle::default();
        let target = Uuid::now_v7();
        let t0 = Instant::now();
        for i in 0..MAX_PAIRS {
            assert!(matches!(t.decide(target, &i.to_string(), t0), Decision::Record { .. }));
        }
        assert_eq!(t.decide(target, "one more", t0), Decision::Suppress, "full within the window");
        assert!(matches!(t.decide(target, "one more", t0 + WINDOW), Decision::Record { .. }), "expired pairs go");
        assert!(t.pairs.lock().unwrap().len() <= MAX_PAIRS);
    }
}
