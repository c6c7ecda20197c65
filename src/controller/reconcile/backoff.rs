//! Requeue delays: per-object exponential backoff on errors, jittered steady-state requeues and
//! adaptive polling of running cloud work (`docs/architecture.md#requeues-and-backoff`).
//!
//! The delay functions are pure (the random draw is a parameter) and unit-tested; the
//! [`BackoffTracker`] keeps one failure counter per object and is reset on every success.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

/// Settings of the requeue/backoff policy. [`Timing::default`] holds the production values;
/// tests shrink them.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// First error delay; doubles with each consecutive failure.
    pub error_base: Duration,
    /// Upper bound of the error delay.
    pub error_max: Duration,
    /// Poll interval right after cloud work started.
    pub poll_initial: Duration,
    /// Upper bound of the poll interval for long-running work.
    pub poll_max: Duration,
    /// The poll interval grows to `elapsed / poll_growth_divisor` (then capped by `poll_max`).
    pub poll_growth_divisor: u32,
    /// Requeue of objects waiting on something outside the operator (another backup on the
    /// same instance, a lagging list API, a Secret to appear).
    pub wait: Duration,
    /// Requeue of objects in a terminal phase (nothing to poll; a slow safety net).
    pub resync: Duration,
    /// Relative jitter applied to every requeue (0.1 = ±10 %).
    pub jitter: f64,
    /// A status change that only reports progress (percent, bytes, the cloud's sub-state) is
    /// written at most once per this interval; any other change at once.
    pub progress_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            error_base: Duration::from_secs(5),
            error_max: Duration::from_secs(300),
            poll_initial: Duration::from_secs(10),
            poll_max: Duration::from_secs(120),
            poll_growth_divisor: 6,
            wait: Duration::from_secs(30),
            resync: Duration::from_secs(3600),
            jitter: 0.1,
            progress_interval: Duration::from_secs(60),
        }
    }
}

impl Timing {
    /// Fast settings for tests (everything in tens of milliseconds to a few seconds).
    pub fn fast() -> Self {
        Timing {
            error_base: Duration::from_millis(100),
            error_max: Duration::from_secs(2),
            poll_initial: Duration::from_millis(100),
            poll_max: Duration::from_millis(500),
            poll_growth_divisor: 6,
            wait: Duration::from_millis(300),
            resync: Duration::from_secs(60),
            jitter: 0.1,
            progress_interval: Duration::from_secs(1),
        }
    }
}

impl Timing {
    /// How old an answer about running work a poll accepts from the shared observation
    /// (`cloud::observe`): half the first poll interval.
    pub fn observe_age(&self) -> Duration {
        self.poll_initial / 2
    }
}

/// Delay before retry number `failures` (1 = first failure): `base · 2^(failures-1)` capped at
/// `max`, then scaled into `[½, 1]` by `unit` (a uniform draw in `[0, 1)`), so concurrent
/// failures spread out but never retry faster than half the nominal delay.
pub fn error_delay(failures: u32, base: Duration, max: Duration, unit: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(31);
    let nominal = base.saturating_mul(1u32 << exp).min(max);
    nominal.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

/// Applies relative jitter: `d · (1 + jitter · (2·unit − 1))`, i.e. `d ± jitter·d`.
pub fn jittered(d: Duration, jitter: f64, unit: f64) -> Duration {
    let factor = 1.0 + jitter.clamp(0.0, 1.0) * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
    d.mul_f64(factor.max(0.0))
}

/// Adaptive poll interval for cloud work that has been running for `elapsed`:
/// `poll_initial` at first, then `elapsed / poll_growth_divisor`, capped at `poll_max`
/// (before jitter).
pub fn poll_interval(elapsed: Duration, timing: &Timing) -> Duration {
    let grown = elapsed / timing.poll_growth_divisor.max(1);
    grown.max(timing.poll_initial).min(timing.poll_max)
}

/// A uniform draw in `[0, 1)` from the thread RNG.
pub fn unit_random() -> f64 {
    rand::rng().random::<f64>()
}

/// Per-object consecutive-failure counters.
///
/// Keyed by the object's UID (or `namespace/name`): [`BackoffTracker::failure`] bumps the
/// counter and returns the delay, [`BackoffTracker::success`] resets it.
#[derive(Debug, Default)]
pub struct BackoffTracker {
    failures: Mutex<HashMap<String, u32>>,
}

impl BackoffTracker {
    /// Records one more failure of `key` and returns the jittered delay before the retry.
    pub fn failure(&self, key: &str, timing: &Timing) -> Duration {
        let n = match self.failures.lock() {
            Ok(mut map) => {
                let n = map.entry(key.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            // A poisoned lock only means another thread panicked while holding it; back off
            // at the maximum rather than propagate the panic.
            Err(_) => 32,
        };
        error_delay(n, timing.error_base, timing.error_max, unit_random())
    }

    /// Resets the failure counter of `key` (called on every successful reconcile).
    pub fn success(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }

    /// Current consecutive failures of `key`.
    pub fn failures(&self, key: &str) -> u32 {
        self.failures
            .lock()
            .ok()
            .and_then(|m| m.get(key).copied())
            .unwrap_or(0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn error_delay_doubles_and_caps() {
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(300);
        // unit = 1.0 gives the nominal delay.
        assert_eq!(error_delay(1, base, max, 1.0), 5 * S);
        assert_eq!(error_delay(2, base, max, 1.0), 10 * S);
        assert_eq!(error_delay(3, base, max, 1.0), 20 * S);
        assert_eq!(error_delay(7, base, max, 1.0), 300 * S);
        assert_eq!(error_delay(1000, base, max, 1.0), 300 * S);
        // unit = 0 gives half of it.
        assert_eq!(error_delay(2, base, max, 0.0), 5 * S);
        // failures = 0 behaves like the first failure.
        assert_eq!(error_delay(0, base, max, 1.0), 5 * S);
    }

    #[test]
    fn jitter_bounds() {
        assert_eq!(jittered(10 * S, 0.1, 0.0), 9 * S);
        assert_eq!(jittered(10 * S, 0.1, 1.0), 11 * S);
        assert_eq!(jittered(10 * S, 0.1, 0.5), 10 * S);
        assert_eq!(jittered(10 * S, 0.0, 0.9), 10 * S);
    }

    #[test]
    fn poll_interval_grows_with_elapsed_and_caps() {
        let t = Timing::default();
        assert_eq!(poll_interval(Duration::ZERO, &t), 10 * S);
        assert_eq!(poll_interval(30 * S, &t), 10 * S);
        assert_eq!(poll_interval(120 * S, &t), 20 * S);
        assert_eq!(poll_interval(600 * S, &t), 100 * S);
        assert_eq!(poll_interval(3600 * S, &t), 120 * S);
    }

    #[test]
    fn tracker_counts_and_resets() {
        let t = Timing {
            error_base: S,
            error_max: 100 * S,
            ..Timing::default()
        };
        let tr = BackoffTracker::default();
        let d1 = tr.failure("a", &t);
        assert!(d1 >= S / 2 && d1 <= S);
        let d2 = tr.failure("a", &t);
        assert!(d2 >= S && d2 <= 2 * S);
        let d3 = tr.failure("a", &t);
        assert!(d3 >= 2 * S && d3 <= 4 * S);
        assert_eq!(tr.failures("a"), 3);
        assert_eq!(tr.failures("b"), 0);
        tr.success("a");
        assert_eq!(tr.failures("a"), 0);
        let d = tr.failure("a", &t);
        assert!(d <= S);
    }
}
