//! Waiting between failed deliveries: exponential back-off with full jitter, so children that
//! failed together do not all come back in the same second.

use std::time::Duration;

/// The wait before retry number `attempt` (0 for the first retry): a uniformly random share
/// (`jitter` in `[0, 1)`, from the caller's random source) of `base · 2^attempt`, capped at
/// `cap`, and never less than a tenth of that ceiling.
#[must_use]
pub fn delay(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let ceiling = base.saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX)).min(cap);
    ceiling.mul_f64(jitter.clamp(0.0, 1.0).max(0.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_stops_at_the_cap() {
        let base = Duration::from_millis(200);
        let cap = Duration::from_secs(60);
        assert_eq!(delay(0, base, cap, 0.999_999).as_millis(), 199);
        assert_eq!(delay(3, base, cap, 0.5), Duration::from_millis(800));
        assert_eq!(delay(30, base, cap, 0.5), Duration::from_secs(30));
        assert_eq!(delay(3, base, cap, 0.0), Duration::from_millis(160), "never zero");
    }
}
