//! Shared state of all controllers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Client};

use crate::cloud::CloudProvider;
use crate::controller::operator::clock::Clock;
use crate::controller::operator::events::EventPublisher;
use crate::controller::operator::metrics::Metrics;
use crate::controller::reconcile::backoff::{BackoffTracker, Timing};
use crate::controller::reconcile::error::{Error, Result};
use crate::crd::{ANNOTATION_DEFAULT_DELETION_POLICY, DeletionPolicy};

/// Everything a reconcile needs, built once at startup.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Factory of cloud clients (per region and credentials).
    pub cloud: Arc<dyn CloudProvider>,
    /// Reconcile metrics.
    pub metrics: Arc<Metrics>,
    /// Kubernetes Events publisher.
    pub events: EventPublisher,
    /// Requeue and backoff settings.
    pub timing: Timing,
    /// Per-object consecutive-failure counters.
    pub backoff: BackoffTracker,
    /// Watched namespaces (empty = all).
    pub namespaces: Vec<String>,
    /// Label selector of the managed objects (`None` = all); applied to the watches and lists
    /// of every kind, the schedules included.
    pub selector: Option<String>,
    /// Namespaces whose objects are paused (`--paused-namespace`).
    pub paused_namespaces: Vec<String>,
    /// Resolve the operator's own lost create answers from the evidence
    /// (`--auto-resolve-lost-creates`; a namespace may turn it off).
    pub auto_resolve_lost_creates: bool,
    /// The deletion policy of objects whose spec and namespace set none.
    pub default_deletion_policy: DeletionPolicy,
    /// Cached namespace annotations (`backup.aliyun.dev/default-deletion-policy`).
    pub namespace_defaults: NamespaceDefaults,
    /// The controllers' caches with the operator's own latest writes (claims without a LIST).
    pub caches: crate::controller::operator::cache::Caches,
    /// Named async locks (e.g. one per RDS instance) serializing critical sections.
    pub locks: KeyedLocks,
    /// Per-object earliest next run, so that reconciles triggered by the operator's own
    /// status writes do not act (and call the cloud) before the chosen requeue or backoff.
    pub gate: RequeueGate,
    /// Per-object time of the last status write (progress-only changes are spaced out).
    pub progress: ProgressGate,
    /// Per-object fingerprint at the last read of the cloud (user changes read fresh).
    pub seen: SeenFingerprints,
    /// The time the schedules read (the system clock, except in tests and the sandbox).
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("timing", &self.timing)
            .field("namespaces", &self.namespaces)
            .field("selector", &self.selector)
            .field("paused_namespaces", &self.paused_namespaces)
            .field("default_deletion_policy", &self.default_deletion_policy)
            .finish_non_exhaustive()
    }
}

/// A map of named async mutexes, created on demand. Locks nobody holds or waits for are
/// dropped once the map has doubled since the last prune (a fleet has a key per cloud
/// instance; the map stays proportional to the keys in use).
#[derive(Debug, Default)]
pub struct KeyedLocks {
    inner: Mutex<LockMap>,
}

#[derive(Debug, Default)]
struct LockMap {
    locks: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// The size at which the next prune runs.
    prune_at: usize,
}

/// The smallest map [`KeyedLocks`] and [`ProgressGate`] prune.
const LOCKS_PRUNE_MIN: usize = 256;

impl KeyedLocks {
    /// Waits for and takes the lock named `key`.
    pub async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            // The map is never left inconsistent, so a poisoned lock is safe to reuse.
            let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if map.locks.len() >= map.prune_at.max(LOCKS_PRUNE_MIN) {
                // Only the map holds these: nobody has them or waits for them.
                map.locks.retain(|_, m| Arc::strong_count(m) > 1);
                map.prune_at = map.locks.len() * 2;
            }
            map.locks.entry(key.to_string()).or_default().clone()
        };
        m.lock_owned().await
    }

    /// How many locks the map holds (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .locks
            .len()
    }
}

/// Per-object "do not act before" instants, tied to a fingerprint of the object's spec and
/// metadata.
///
/// Every status write triggers a watch event and thus a reconcile. When a reconcile decides to
/// look again only after some delay (polling, backoff), the runtime records that decision here;
/// a reconcile triggered earlier for an object whose fingerprint (generation, deletion,
/// annotations) is unchanged is skipped and requeued for the remaining time. An object whose
/// work is over ([`RequeueGate::rest`]) is not looked at again until its fingerprint changes.
/// A change the user makes (spec, annotation, deletion) changes the fingerprint and runs at
/// once; a change of a referenced Secret clears the entry.
#[derive(Debug, Default)]
pub struct RequeueGate {
    /// Per object: not before this instant (`None`: not until the object changes), and the
    /// fingerprint the decision was made on.
    inner: Mutex<HashMap<String, (Option<Instant>, u64)>>,
}

impl RequeueGate {
    /// How long an object with `fingerprint` must still wait (`None` = may run now).
    pub fn blocked(&self, key: &str, fingerprint: u64) -> Option<Duration> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(_, fp)| *fp == fingerprint)
            .and_then(|(due, _)| due.as_ref()?.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    /// Whether an object with `fingerprint` rests (its work is over and it has not changed).
    pub fn resting(&self, key: &str, fingerprint: u64) -> bool {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .is_some_and(|(due, fp)| due.is_none() && *fp == fingerprint)
    }

    /// Records that `key` (with `fingerprint`) should run again only after `after`.
    pub fn schedule(&self, key: &str, fingerprint: u64, after: Duration) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key.to_string(), (Some(Instant::now() + after), fingerprint));
    }

    /// Records that `key`'s work is over: its triggers are ignored until its fingerprint
    /// changes (its own status writes, for one, do not change it).
    pub fn rest(&self, key: &str, fingerprint: u64) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key.to_string(), (None, fingerprint));
    }

    /// Forgets `key` (its next trigger runs at once).
    pub fn clear(&self, key: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

/// The fingerprint (`runtime::fingerprint`: generation, deletion, annotations) each object had
/// when the cloud was last read for it: a reconcile whose object has another fingerprint was
/// triggered by a user's change (spec, `reconcile-requested-at`, …) and reads the cloud fresh
/// rather than from the shared observation's memory.
#[derive(Debug, Default)]
pub struct SeenFingerprints {
    inner: Mutex<HashMap<String, u64>>,
}

impl SeenFingerprints {
    /// Whether `key` was last read with another `fingerprint` (or never, since the start).
    pub fn changed(&self, key: &str, fingerprint: u64) -> bool {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key) != Some(&fingerprint)
    }

    /// Records a read of the cloud for `key` at `fingerprint`.
    pub fn seen(&self, key: &str, fingerprint: u64) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key.to_string(), fingerprint);
    }

    /// Forgets `key` (the object is gone).
    pub fn forget(&self, key: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

/// When each object's status was last written, so that a change that only reports progress is
/// written at most once per [`Timing::progress_interval`](crate::controller::reconcile::backoff::Timing) (see
/// [`Work`](crate::controller::reconcile::work::Work)). In memory: after a restart the first change is written.
#[derive(Debug, Default)]
pub struct ProgressGate {
    inner: Mutex<ProgressMap>,
}

#[derive(Debug, Default)]
struct ProgressMap {
    written: HashMap<String, Instant>,
    /// The longest interval asked about: an older write no longer holds anything back.
    interval: Duration,
    /// The size at which the next prune runs.
    prune_at: usize,
}

impl ProgressGate {
    /// Whether a progress-only change of `key` may be written now.
    pub fn due(&self, key: &str, interval: Duration) -> bool {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.interval = map.interval.max(interval);
        map.written.get(key).is_none_or(|t| t.elapsed() >= interval)
    }

    /// Records a status write of `key`. Writes older than every interval asked about are
    /// dropped once the map has doubled since the last prune (they are as good as none).
    pub fn written(&self, key: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if map.written.len() >= map.prune_at.max(LOCKS_PRUNE_MIN) {
            let interval = map.interval;
            map.written.retain(|_, t| t.elapsed() < interval);
            map.prune_at = map.written.len() * 2;
        }
        map.written.insert(key.to_string(), Instant::now());
    }

    /// Forgets `key` (the object is gone).
    pub fn forget(&self, key: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.written.remove(key);
    }

    /// How many writes the gate remembers (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .written
            .len()
    }
}

/// How long a namespace's `default-deletion-policy` annotation is reused for the status of its
/// objects; cleanup always reads it fresh.
pub const NAMESPACE_DEFAULTS_TTL: Duration = Duration::from_secs(30);

/// The operator's annotations of each namespace (`backup.aliyun.dev/default-deletion-policy`,
/// `backup.aliyun.dev/auto-resolve-lost-creates`), read with a GET of the Namespace and cached
/// for [`NAMESPACE_DEFAULTS_TTL`] (a handful of namespaces: a GET per namespace and TTL, not per
/// object).
#[derive(Debug, Default)]
pub struct NamespaceDefaults {
    inner: Mutex<HashMap<String, (Instant, Option<Annotations>)>>,
}

/// A namespace's annotations.
type Annotations = BTreeMap<String, String>;

impl NamespaceDefaults {
    /// The `default-deletion-policy` annotation's value on namespace `ns` (`None` when unset).
    /// `fresh` skips the cache.
    pub async fn deletion_policy(
        &self,
        client: &Client,
        ns: &str,
        fresh: bool,
    ) -> Result<Option<String>> {
        self.annotation(client, ns, ANNOTATION_DEFAULT_DELETION_POLICY, fresh)
            .await
    }

    /// The value of annotation `key` on namespace `ns` (`None` when unset). `fresh` skips the
    /// cache. Without permission to read Namespaces (a namespace-scoped install without the
    /// ClusterRole the chart ships) the annotations count as unset, and a warning is logged.
    pub async fn annotation(
        &self,
        client: &Client,
        ns: &str,
        key: &str,
        fresh: bool,
    ) -> Result<Option<String>> {
        if !fresh {
            let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, value)) = map.get(ns)
                && at.elapsed() < NAMESPACE_DEFAULTS_TTL
            {
                return Ok(value.as_ref().and_then(|a| a.get(key).cloned()));
            }
        }
        let api: Api<Namespace> = Api::all(client.clone());
        let value = match api.get_opt(ns).await {
            Ok(n) => n.and_then(|n| n.metadata.annotations),
            Err(kube::Error::Api(e)) if e.code == 403 => {
                tracing::warn!(
                    namespace = ns,
                    "cannot read the Namespace (forbidden); its backup.aliyun.dev annotations \
                     are ignored"
                );
                None
            }
            Err(e) => return Err(Error::from(e)),
        };
        let out = value.as_ref().and_then(|a| a.get(key).cloned());
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(ns.to_string(), (Instant::now(), value));
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn progress_gate_forgets_writes_older_than_every_interval() {
        let gate = ProgressGate::default();
        let interval = Duration::from_secs(60);
        assert!(gate.due("a", interval));
        gate.written("a");
        assert!(!gate.due("a", interval));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(gate.due("a", interval));
        for i in 0..LOCKS_PRUNE_MIN {
            gate.written(&format!("o-{i}"));
        }
        // The prune at 256 dropped "a" (older than the interval) and kept the recent writes.
        assert_eq!(gate.len(), LOCKS_PRUNE_MIN);
        assert!(!gate.due("o-0", interval));
        assert!(gate.due("a", interval));
    }

    #[tokio::test]
    async fn keyed_locks_exclude_and_unused_ones_are_pruned() {
        let locks = KeyedLocks::default();
        let held = locks.lock("i-held").await;
        // The same key waits; another key does not.
        let same = locks.lock("i-held");
        tokio::pin!(same);
        assert!(futures::poll!(same.as_mut()).is_pending());
        drop(locks.lock("i-other").await);
        for i in 0..LOCKS_PRUNE_MIN {
            drop(locks.lock(&format!("i-{i}")).await);
        }
        // The prune at 256 kept only the lock somebody holds (and the one being taken).
        assert!(locks.len() < 10, "{}", locks.len());
        drop(held);
        drop(same.await);
    }

    #[test]
    fn requeue_gate() {
        let g = RequeueGate::default();
        assert_eq!(g.blocked("a", 1), None);
        g.schedule("a", 1, Duration::from_secs(60));
        assert!(g.blocked("a", 1).unwrap() > Duration::from_secs(50));
        // A different fingerprint (spec/metadata changed) is not blocked.
        assert_eq!(g.blocked("a", 2), None);
        g.clear("a");
        assert_eq!(g.blocked("a", 1), None);
        g.schedule("b", 1, Duration::ZERO);
        assert_eq!(g.blocked("b", 1), None);
        // A resting object: its triggers wait for a change, not for a time.
        assert!(!g.resting("b", 1));
        g.rest("c", 1);
        assert!(g.resting("c", 1));
        assert_eq!(g.blocked("c", 1), None);
        assert!(!g.resting("c", 2), "changed: runs");
        g.schedule("c", 1, Duration::from_secs(60));
        assert!(!g.resting("c", 1));
        g.rest("c", 1);
        g.clear("c");
        assert!(!g.resting("c", 1));
    }

    #[tokio::test]
    async fn keyed_locks_serialize_same_key() {
        let l = KeyedLocks::default();
        let g = l.lock("x").await;
        let other = l.lock("y").await;
        drop(other);
        let pending = tokio::time::timeout(Duration::from_millis(20), l.lock("x")).await;
        assert!(pending.is_err());
        drop(g);
        let _g2 = l.lock("x").await;
    }
}
