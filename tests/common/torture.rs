//! The kill points of the crash-torture suites (`tests/crash_torture.rs`,
//! `tests/restore_torture.rs`): where the operator dies, chosen from a seeded RNG.

use std::time::{Duration, Instant};

use aliyun_emulator::{Fault, Release};
use rand::Rng;
use rand::rngs::StdRng;

use super::Env;

/// How long a kill point waits for its trigger before killing anyway.
pub const TRIGGER_WITHIN: Duration = Duration::from_secs(4);

/// How the operator dies at one kill point.
#[derive(Debug)]
pub enum KillPoint {
    /// In the middle of a call to `action` (held by the emulator), which then ends as `then`.
    InCall {
        /// The held action.
        action: &'static str,
        /// How the held call ends after the kill.
        then: Release,
    },
    /// After `n` more cloud calls.
    AfterCloudCalls(usize),
    /// After `n` more writes to the API server.
    AfterApiWrites(u64),
}

/// A kill point: a held call among `held` (proceeding, refused or with its answer lost), or
/// up to `max_calls` more cloud calls, or up to `max_writes` more API-server writes.
pub fn choose(
    rng: &mut StdRng,
    held: &[&'static str],
    max_calls: usize,
    max_writes: u64,
) -> KillPoint {
    match rng.random_range(0..3) {
        0 => KillPoint::InCall {
            action: held[rng.random_range(0..held.len())],
            then: match rng.random_range(0..3) {
                0 => Release::Proceed,
                1 => Release::Fail {
                    code: "ServiceUnavailable".into(),
                    http_status: 503,
                },
                _ => Release::LoseAnswer {
                    code: "InternalError".into(),
                    http_status: 500,
                },
            },
        },
        1 => KillPoint::AfterCloudCalls(rng.random_range(1..=max_calls)),
        _ => KillPoint::AfterApiWrites(rng.random_range(1..=max_writes)),
    }
}

/// Waits for the kill point's trigger (bounded: when nothing more happens, kill anyway), kills
/// the operator, and ends a held call as chosen. Returns whether the trigger was hit.
pub async fn kill_at(env: &mut Env, point: &KillPoint, id: &str) -> bool {
    let deadline = Instant::now() + TRIGGER_WITHIN;
    let hit = match point {
        KillPoint::InCall { action, .. } => {
            env.emulator
                .inject_fault(Fault::hold(Some(action), id).times(1));
            tokio::time::timeout(TRIGGER_WITHIN, env.emulator.wait_held(id))
                .await
                .is_ok()
        }
        KillPoint::AfterCloudCalls(n) => {
            let target = env.emulator.call_count() + n;
            while env.emulator.call_count() < target && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            env.emulator.call_count() >= target
        }
        KillPoint::AfterApiWrites(n) => {
            let target = env.sandbox.counters().total_writes() + n;
            while env.sandbox.counters().total_writes() < target && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            env.sandbox.counters().total_writes() >= target
        }
    };
    env.kill_operator().await;
    if let KillPoint::InCall { then, .. } = point {
        // Ends the held call (answered to a dead client) or, if none came, drops the rule.
        env.emulator.release(id, then.clone());
    }
    hit
}

/// The seed of a torture run: `TORTURE_SEED=<n>`, `TORTURE_SEED=random`, else `default`.
pub fn seed(default: u64) -> u64 {
    match std::env::var("TORTURE_SEED").ok().as_deref() {
        Some("random") => rand::random(),
        _ => env_u64("TORTURE_SEED").unwrap_or(default),
    }
}

/// An unsigned number from the environment.
pub fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}
