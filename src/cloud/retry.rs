//! Retry decisions: exponential backoff with full jitter, bounded attempts and total time,
//! `x-acs-retry-after`, and safety of retrying mutating calls.

use std::time::Duration;

use rand::Rng;

use super::config::RetryPolicy;
use super::error::{CloudError, ErrorClass};

/// Whether an action may be repeated after an ambiguous failure (timeout, 5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Read-only, or a mutation that is safe to repeat (idempotency token, or state-setting).
    Safe,
    /// A mutation that may create something twice; retried only when the error proves
    /// the call was not executed.
    Unsafe,
}

/// Upper bound of the backoff before retry number `retry` (1-based).
pub(crate) fn backoff_cap(policy: &RetryPolicy, retry: u32) -> Duration {
    let exp = retry.saturating_sub(1).min(31);
    let factor = 1u64 << exp;
    let nanos = (policy.base_delay.as_nanos() as u64).saturating_mul(factor);
    Duration::from_nanos(nanos).min(policy.max_delay)
}

/// Full jitter: uniform in `[0, cap]`.
pub(crate) fn full_jitter(cap: Duration, rng: &mut impl Rng) -> Duration {
    let nanos = cap.as_nanos() as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rng.random_range(0..=nanos))
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Give up and return the error.
    GiveUp,
}

/// Decides whether to retry after `attempt` (1-based) failed with `err`, `elapsed` after the
/// call started.
pub(crate) fn decide(
    policy: &RetryPolicy,
    idempotency: Idempotency,
    err: &CloudError,
    attempt: u32,
    elapsed: Duration,
    rng: &mut impl Rng,
) -> Decision {
    if err.class() != ErrorClass::Retryable {
        return Decision::GiveUp;
    }
    if idempotency == Idempotency::Unsafe && !err.proves_not_executed() {
        return Decision::GiveUp;
    }
    if attempt >= policy.max_attempts {
        return Decision::GiveUp;
    }
    let delay = match err.retry_after {
        Some(d) => d.min(policy.max_delay),
        None => full_jitter(backoff_cap(policy, attempt), rng),
    };
    if elapsed.saturating_add(delay) >= policy.max_total_time {
        return Decision::GiveUp;
    }
    Decision::RetryAfter(delay)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::cloud::Product;
    use crate::cloud::error::ErrorKind;
    use rand::SeedableRng;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            max_total_time: Duration::from_secs(60),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    fn api(status: u16, code: &str) -> CloudError {
        CloudError::api(
            Product::Rds,
            "CreateBackup",
            status,
            Some(code.into()),
            None,
            None,
        )
    }

    #[test]
    fn caps_grow_exponentially_and_saturate() {
        let p = policy();
        assert_eq!(backoff_cap(&p, 1), Duration::from_millis(100));
        assert_eq!(backoff_cap(&p, 2), Duration::from_millis(200));
        assert_eq!(backoff_cap(&p, 3), Duration::from_millis(400));
        assert_eq!(backoff_cap(&p, 4), Duration::from_millis(800));
        assert_eq!(backoff_cap(&p, 5), Duration::from_secs(1));
        assert_eq!(backoff_cap(&p, 100), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_cap() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let cap = Duration::from_millis(300);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..1000 {
            let d = full_jitter(cap, &mut rng);
            assert!(d <= cap);
            seen_low |= d < Duration::from_millis(100);
            seen_high |= d > Duration::from_millis(200);
        }
        assert!(seen_low && seen_high, "full jitter spans the range");
        assert_eq!(full_jitter(Duration::ZERO, &mut rng), Duration::ZERO);
    }

    #[test]
    fn retryable_safe_calls_retry_until_attempts_run_out() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let p = policy();
        let e = api(503, "ServiceUnavailable");
        for attempt in 1..5 {
            assert!(matches!(
                decide(&p, Idempotency::Safe, &e, attempt, Duration::ZERO, &mut rng),
                Decision::RetryAfter(_)
            ));
        }
        assert_eq!(
            decide(&p, Idempotency::Safe, &e, 5, Duration::ZERO, &mut rng),
            Decision::GiveUp
        );
    }

    #[test]
    fn terminal_not_found_conflict_never_retry() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let p = policy();
        for e in [
            api(400, "InvalidParameter"),
            api(404, "InvalidDBInstanceId.NotFound"),
            api(400, "BackupJobExists"),
        ] {
            assert_eq!(
                decide(&p, Idempotency::Safe, &e, 1, Duration::ZERO, &mut rng),
                Decision::GiveUp
            );
        }
    }

    #[test]
    fn unsafe_calls_retry_only_when_not_executed() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let p = policy();
        // 5xx / timeout: the backup may have been created → no retry.
        assert_eq!(
            decide(
                &p,
                Idempotency::Unsafe,
                &api(500, "InternalError"),
                1,
                Duration::ZERO,
                &mut rng
            ),
            Decision::GiveUp
        );
        let timeout = CloudError::new(
            Product::Hbr,
            "CreateBackupJob",
            ErrorKind::Timeout,
            "timed out",
        );
        assert_eq!(
            decide(
                &p,
                Idempotency::Unsafe,
                &timeout,
                1,
                Duration::ZERO,
                &mut rng
            ),
            Decision::GiveUp
        );
        // Throttling: rejected before execution → retry.
        assert!(matches!(
            decide(
                &p,
                Idempotency::Unsafe,
                &api(400, "Throttling.User"),
                1,
                Duration::ZERO,
                &mut rng
            ),
            Decision::RetryAfter(_)
        ));
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let p = policy();
        let e = api(400, "Throttling").with_retry_after(Some(Duration::from_millis(700)));
        assert_eq!(
            decide(&p, Idempotency::Safe, &e, 1, Duration::ZERO, &mut rng),
            Decision::RetryAfter(Duration::from_millis(700))
        );
        let e = api(400, "Throttling").with_retry_after(Some(Duration::from_secs(90)));
        assert_eq!(
            decide(&p, Idempotency::Safe, &e, 1, Duration::ZERO, &mut rng),
            Decision::RetryAfter(Duration::from_secs(1))
        );
    }

    #[test]
    fn total_time_bounds_retries() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let p = policy();
        let e = api(400, "Throttling").with_retry_after(Some(Duration::from_millis(500)));
        assert_eq!(
            decide(
                &p,
                Idempotency::Safe,
                &e,
                1,
                Duration::from_millis(59_600),
                &mut rng
            ),
            Decision::GiveUp
        );
    }
}
