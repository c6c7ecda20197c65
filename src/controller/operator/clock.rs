//! The time the schedule controller reads, injectable so that tests and the sandbox never wait
//! for minutes: [`SystemClock`] (production), [`ManualClock`] (tests set the time),
//! [`FastClock`] (the sandbox: wall time sped up).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A source of "now" plus the real delay after which to look again for a span of clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> jiff::Timestamp;
    /// How long to wait in real time until `span` of this clock's time has passed.
    fn real_delay(&self, span: Duration) -> Duration;
    /// A wall-clock time recorded elsewhere (an object's `creationTimestamp`, when a child's
    /// backup finished) on this clock's time line, so it compares with [`Clock::now`]. The
    /// identity, except for clocks that run at another speed than wall time.
    fn map_wall(&self, wall: jiff::Timestamp) -> jiff::Timestamp {
        wall
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
    fn real_delay(&self, span: Duration) -> Duration {
        span
    }
}

/// A clock that moves only when told to. Waits are capped at `poll` real time, so a
/// controller looks again shortly after the test moves the clock.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<jiff::Timestamp>,
    poll: Duration,
}

impl ManualClock {
    /// A clock standing at `now`; controllers look again every `poll` at most.
    pub fn new(now: jiff::Timestamp, poll: Duration) -> Self {
        ManualClock {
            now: Mutex::new(now),
            poll,
        }
    }

    /// Sets the time.
    pub fn set(&self, now: jiff::Timestamp) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        let span = jiff::SignedDuration::try_from(by).unwrap_or(jiff::SignedDuration::MAX);
        *now = now.saturating_add(span).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> jiff::Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn real_delay(&self, span: Duration) -> Duration {
        span.min(self.poll)
    }
}

/// Wall time sped up `factor` times from the moment it is made (the sandbox runs an
/// every-minute schedule once a second with factor 60). Wall-clock times from elsewhere are
/// mapped onto the same time line ([`Clock::map_wall`]): a backup that finished 2 s of wall
/// time after the clock was made finished 2 min after its origin with factor 60, so the ages the
/// schedule controller computes (RPO, retention) are in this clock's time throughout, and so are
/// the times it writes to status.
#[derive(Debug)]
pub struct FastClock {
    origin: jiff::Timestamp,
    started: Instant,
    factor: u32,
}

impl FastClock {
    /// A clock that starts at the current time and runs `factor` (at least 1) times faster.
    pub fn new(factor: u32) -> Self {
        FastClock {
            origin: jiff::Timestamp::now(),
            started: Instant::now(),
            factor: factor.max(1),
        }
    }
}

impl Clock for FastClock {
    fn now(&self) -> jiff::Timestamp {
        let elapsed = self.started.elapsed().saturating_mul(self.factor);
        let span = jiff::SignedDuration::try_from(elapsed).unwrap_or(jiff::SignedDuration::MAX);
        self.origin.saturating_add(span).unwrap_or(self.origin)
    }
    fn real_delay(&self, span: Duration) -> Duration {
        span / self.factor
    }
    fn map_wall(&self, wall: jiff::Timestamp) -> jiff::Timestamp {
        let since = wall.duration_since(self.origin);
        let scaled = since
            .checked_mul(i32::try_from(self.factor).unwrap_or(i32::MAX))
            .unwrap_or(if since.is_negative() {
                jiff::SignedDuration::MIN
            } else {
                jiff::SignedDuration::MAX
            });
        self.origin.saturating_add(scaled).unwrap_or(self.origin)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t0: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let c = ManualClock::new(t0, Duration::from_millis(100));
        assert_eq!(c.now(), t0);
        c.advance(Duration::from_secs(90));
        assert_eq!(c.now(), "2025-01-01T00:01:30Z".parse().unwrap());
        assert_eq!(
            c.real_delay(Duration::from_secs(3600)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn fast_clock_scales_delays() {
        let c = FastClock::new(60);
        assert_eq!(
            c.real_delay(Duration::from_secs(60)),
            Duration::from_secs(1)
        );
        assert!(c.now() >= c.origin);
    }

    #[test]
    fn fast_clock_maps_wall_times_onto_its_time_line() {
        let c = FastClock::new(60);
        let wall = |secs: i64| {
            c.origin
                .checked_add(jiff::SignedDuration::from_secs(secs))
                .unwrap()
        };
        assert_eq!(c.map_wall(c.origin), c.origin);
        assert_eq!(c.map_wall(wall(2)), wall(120));
        assert_eq!(c.map_wall(wall(-1)), wall(-60));
        // Its own "now" and a wall time read at the same moment agree (within the test's run).
        let now = c.now();
        let mapped = c.map_wall(jiff::Timestamp::now());
        assert!(mapped.duration_since(now).abs() < jiff::SignedDuration::from_secs(60));
        // The identity elsewhere.
        assert_eq!(SystemClock.map_wall(wall(2)), wall(2));
        let m = ManualClock::new(wall(0), Duration::from_millis(1));
        assert_eq!(m.map_wall(wall(5)), wall(5));
    }
}
