//! Injectable clock and sleeper, so retries and rate limiting can be tested without sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

/// Monotonic time and sleeping, as used by the retry loop and the rate limiter.
pub trait TimeSource: Send + Sync + 'static {
    /// Monotonic time since an arbitrary fixed origin.
    fn now(&self) -> Duration;
    /// Waits for `d`.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// Real time (tokio's clock, so `tokio::time::pause()` also applies).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioTime;

fn origin() -> tokio::time::Instant {
    static ORIGIN: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(tokio::time::Instant::now)
}

impl TimeSource for TokioTime {
    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(origin())
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A manual clock: `sleep` returns at once, advancing the clock and recording the duration.
/// For tests of retry and rate-limit behaviour.
#[derive(Debug, Default)]
pub struct ManualTime {
    state: Mutex<ManualState>,
}

#[derive(Debug, Default)]
struct ManualState {
    now: Duration,
    sleeps: Vec<Duration>,
}

impl ManualTime {
    /// A clock at zero.
    pub fn new() -> Self {
        Self::default()
    }
    /// Moves the clock forward without recording a sleep.
    pub fn advance(&self, d: Duration) {
        if let Ok(mut s) = self.state.lock() {
            s.now += d;
        }
    }
    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state
            .lock()
            .map(|s| s.sleeps.clone())
            .unwrap_or_default()
    }
}

impl TimeSource for ManualTime {
    fn now(&self) -> Duration {
        self.state.lock().map(|s| s.now).unwrap_or_default()
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        if let Ok(mut s) = self.state.lock() {
            s.now += d;
            s.sleeps.push(d);
        }
        Box::pin(std::future::ready(()))
    }
}
