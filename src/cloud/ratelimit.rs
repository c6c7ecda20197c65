//! Token buckets per (access key id, region, product), built on `governor`, with a slow-down
//! window after throttling responses.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::Product;
use super::config::RateLimit;
use super::time::TimeSource;

/// governor clock over our [`TimeSource`], so tests drive it with a manual clock.
#[derive(Clone)]
pub(crate) struct SourceClock(pub(crate) Arc<dyn TimeSource>);

impl Clock for SourceClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.0.now()
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, SourceClock, NoOpMiddleware<Duration>>;

/// Key of one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BucketKey {
    pub(crate) access_key_id: String,
    pub(crate) region: String,
    pub(crate) product: Product,
}

struct Entry {
    normal: Bucket,
    slow: Bucket,
    /// Until when (clock time) the slow bucket also applies.
    slow_until: Mutex<Duration>,
}

/// All buckets of one provider.
pub(crate) struct RateLimiters {
    settings: RateLimit,
    time: Arc<dyn TimeSource>,
    buckets: Mutex<HashMap<BucketKey, Arc<Entry>>>,
}

fn quota(qps: f64, burst: u32) -> Quota {
    let qps = if qps.is_finite() && qps > 0.0 {
        qps
    } else {
        1.0
    };
    let period = Duration::from_secs_f64((1.0 / qps).clamp(1e-6, 86_400.0));
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl RateLimiters {
    pub(crate) fn new(settings: RateLimit, time: Arc<dyn TimeSource>) -> Self {
        RateLimiters {
            settings,
            time,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn entry(&self, key: &BucketKey) -> Arc<Entry> {
        let mut map = match self.buckets.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(key.clone())
            .or_insert_with(|| {
                let clock = SourceClock(Arc::clone(&self.time));
                let s = &self.settings;
                Arc::new(Entry {
                    normal: RateLimiter::direct_with_clock(quota(s.qps, s.burst), clock.clone()),
                    slow: RateLimiter::direct_with_clock(
                        quota(s.qps * s.throttle_factor.clamp(0.001, 1.0), 1),
                        clock,
                    ),
                    slow_until: Mutex::new(Duration::ZERO),
                })
            })
            .clone()
    }

    /// Waits until the bucket of `key` grants one request. Returns the total time waited.
    pub(crate) async fn acquire(&self, key: &BucketKey) -> Duration {
        let entry = self.entry(key);
        let mut waited = Duration::ZERO;
        loop {
            let now = self.time.now();
            let slow = entry.slow_until.lock().map(|u| now < *u).unwrap_or(false);
            // In the slow-down window the slow bucket is checked first, so a refused
            // request does not also spend a token of the normal bucket.
            let slow_wait = if slow {
                entry.slow.check().err().map(|n| n.wait_time_from(now))
            } else {
                None
            };
            let wait = match slow_wait {
                Some(d) => Some(d),
                None => entry.normal.check().err().map(|n| n.wait_time_from(now)),
            };
            match wait {
                None => return waited,
                Some(d) => {
                    let d = d.max(Duration::from_millis(1));
                    waited += d;
                    self.time.sleep(d).await;
                }
            }
        }
    }

    /// A throttling response was received: slow the bucket down for the cooldown.
    pub(crate) fn penalize(&self, key: &BucketKey) {
        let entry = self.entry(key);
        let until = self.time.now() + self.settings.throttle_cooldown;
        if let Ok(mut u) = entry.slow_until.lock()
            && until > *u
        {
            *u = until;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::cloud::time::ManualTime;

    fn key(ak: &str, product: Product) -> BucketKey {
        BucketKey {
            access_key_id: ak.into(),
            region: "cn-hangzhou".into(),
            product,
        }
    }

    #[tokio::test]
    async fn burst_then_paced_at_qps() {
        let time = Arc::new(ManualTime::new());
        let rl = RateLimiters::new(
            RateLimit {
                qps: 2.0,
                burst: 3,
                ..Default::default()
            },
            time.clone(),
        );
        let k = key("ak", Product::Rds);
        for _ in 0..3 {
            assert_eq!(rl.acquire(&k).await, Duration::ZERO);
        }
        // Fourth request waits one period (500 ms at 2 QPS).
        let waited = rl.acquire(&k).await;
        assert_eq!(waited, Duration::from_millis(500));
        let waited = rl.acquire(&k).await;
        assert_eq!(waited, Duration::from_millis(500));
        assert_eq!(time.now(), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn buckets_are_per_key() {
        let time = Arc::new(ManualTime::new());
        let rl = RateLimiters::new(
            RateLimit {
                qps: 1.0,
                burst: 1,
                ..Default::default()
            },
            time.clone(),
        );
        assert_eq!(rl.acquire(&key("a", Product::Rds)).await, Duration::ZERO);
        assert_eq!(rl.acquire(&key("b", Product::Rds)).await, Duration::ZERO);
        assert_eq!(rl.acquire(&key("a", Product::Hbr)).await, Duration::ZERO);
        assert_eq!(
            rl.acquire(&key("a", Product::Rds)).await,
            Duration::from_secs(1)
        );
    }

    #[tokio::test]
    async fn throttling_slows_down_for_cooldown() {
        let time = Arc::new(ManualTime::new());
        let rl = RateLimiters::new(
            RateLimit {
                qps: 10.0,
                burst: 10,
                throttle_factor: 0.1,
                throttle_cooldown: Duration::from_secs(30),
            },
            time.clone(),
        );
        let k = key("ak", Product::Dbs);
        assert_eq!(rl.acquire(&k).await, Duration::ZERO);
        rl.penalize(&k);
        // Slow bucket: 1 QPS, burst 1: the first is free, the next waits a full second
        // even though the normal bucket still has tokens.
        assert_eq!(rl.acquire(&k).await, Duration::ZERO);
        assert_eq!(rl.acquire(&k).await, Duration::from_secs(1));
        // After the cooldown the normal rate applies again.
        time.advance(Duration::from_secs(31));
        for _ in 0..5 {
            assert_eq!(rl.acquire(&k).await, Duration::ZERO);
        }
    }
}
