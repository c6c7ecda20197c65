//! The controllers' caches, readable by the decisions that must see other objects' claims
//! without listing the whole kind from the API server on every create
//! (`docs/architecture.md#claims-without-a-list-per-create`).
//!
//! A [`KindCache`] holds the reflector stores of one kind's controllers and, by UID, the object
//! each of the operator's own status writes returned. Its [`KindCache::view`] is the cache with
//! those writes laid over it: as fresh as a LIST for everything the operator itself writes,
//! because the watch may lag behind a write but the write is recorded here before the write
//! call returns.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};

/// The [`KindCache`] of every kind, by type.
#[derive(Default)]
pub struct Caches {
    inner: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches").finish_non_exhaustive()
    }
}

impl Caches {
    /// The cache of kind `K` (created empty on first use).
    pub fn of<K>(&self) -> Arc<KindCache<K>>
    where
        K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map
            .entry(TypeId::of::<K>())
            .or_insert_with(|| Arc::new(KindCache::<K>::default()) as Arc<dyn Any + Send + Sync>)
            .clone();
        drop(map);
        match entry.downcast::<KindCache<K>>() {
            Ok(cache) => cache,
            // The map is keyed by the type id of `K`: the entry is always a `KindCache<K>`.
            Err(_) => Arc::new(KindCache::default()),
        }
    }
}

/// The overlay is pruned when it reaches this many entries at least.
const PRUNE_MIN: usize = 256;

/// One kind's reflector stores and the operator's own most recent status writes.
pub struct KindCache<K: Resource<DynamicType = ()> + 'static> {
    stores: Mutex<Vec<Store<K>>>,
    written: Mutex<Overlay<K>>,
}

/// The operator's own writes by UID, and the size at which they are pruned next.
struct Overlay<K> {
    entries: HashMap<String, Arc<K>>,
    prune_at: usize,
}

impl<K: Resource<DynamicType = ()> + 'static> Default for KindCache<K> {
    fn default() -> Self {
        KindCache {
            stores: Mutex::new(Vec::new()),
            written: Mutex::new(Overlay {
                entries: HashMap::new(),
                prune_at: PRUNE_MIN,
            }),
        }
    }
}

/// Whether resourceVersion `a` is newer than `b`. Both are etcd revisions in practice (decimal
/// integers); if one is not, `a` (the operator's own write) counts as newer.
fn newer(a: Option<&str>, b: Option<&str>) -> bool {
    match (
        a.and_then(|v| v.parse::<u64>().ok()),
        b.and_then(|v| v.parse::<u64>().ok()),
    ) {
        (Some(a), Some(b)) => a > b,
        _ => true,
    }
}

impl<K> KindCache<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// Adds the store of one controller of the kind (one per watched namespace).
    pub fn add_store(&self, store: Store<K>) {
        self.stores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(store);
    }

    /// Records the object a status write of the operator returned. Writes the watch has
    /// delivered since are dropped now and then (amortized: when the overlay has doubled), so
    /// the overlay holds about the writes in flight, not one object per object.
    pub fn record_write(&self, mut obj: K) {
        let Some(uid) = obj.meta().uid.clone() else {
            return;
        };
        // Claims are read from spec and status; the field owners are not needed.
        obj.meta_mut().managed_fields = None;
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let keep_old = written.entries.get(&uid).is_some_and(|old| {
            newer(
                old.meta().resource_version.as_deref(),
                obj.meta().resource_version.as_deref(),
            )
        });
        if !keep_old {
            written.entries.insert(uid, Arc::new(obj));
        }
        if written.entries.len() >= written.prune_at {
            let stores = self
                .stores
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            written.entries.retain(|_, own| {
                let oref = ObjectRef::from_obj(own.as_ref());
                !stores.iter().any(|s| {
                    s.get(&oref).is_some_and(|cached| {
                        !newer(
                            own.meta().resource_version.as_deref(),
                            cached.meta().resource_version.as_deref(),
                        )
                    })
                })
            });
            written.prune_at = (2 * written.entries.len()).max(PRUNE_MIN);
        }
    }

    /// Forgets the writes to `uid` (the object is gone).
    pub fn forget(&self, uid: &str) {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .remove(uid);
    }

    /// The cached objects `keep` accepts, each replaced by the operator's own later write of
    /// it where there is one. `keep` must look only at what the operator never writes (the
    /// spec, which the kinds' schemas make immutable where claims depend on it): it is asked
    /// of the cached object before the overlay is consulted, so a create reads the overlay
    /// only for the objects that matter to it. `None` while a store has not been filled yet
    /// (or there is none): then only a LIST can tell.
    pub fn view(&self, keep: impl Fn(&K) -> bool) -> Option<Vec<Arc<K>>> {
        let stores = self
            .stores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if stores.is_empty() {
            return None;
        }
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for store in &stores {
            if !matches!(store.wait_until_ready().now_or_never(), Some(Ok(()))) {
                return None;
            }
            for cached in store.state() {
                if !keep(&cached) {
                    continue;
                }
                let uid = cached.meta().uid.as_deref().unwrap_or_default();
                let own = written.entries.get(uid).cloned();
                let obj = match own {
                    Some(own)
                        if newer(
                            own.meta().resource_version.as_deref(),
                            cached.meta().resource_version.as_deref(),
                        ) =>
                    {
                        own
                    }
                    Some(_) => {
                        // The watch has delivered the write (or a later change): the cache
                        // is enough from now on.
                        written.entries.remove(uid);
                        cached
                    }
                    None => cached,
                };
                out.push(obj);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crd::RdsBackup;
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher::Event;

    fn obj(uid: &str, rv: &str, job: Option<&str>) -> RdsBackup {
        let mut o: RdsBackup = serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1",
            "kind": "RdsBackup",
            "metadata": { "name": uid, "namespace": "ns", "uid": uid, "resourceVersion": rv },
            "spec": { "region": "cn-hangzhou", "dbInstanceId": "rm-1" }
        }))
        .unwrap();
        if let Some(job) = job {
            o.status = Some(crate::crd::RdsBackupStatus {
                backup_job_id: Some(job.into()),
                ..Default::default()
            });
        }
        o
    }

    fn job(o: &RdsBackup) -> Option<String> {
        o.status.as_ref().and_then(|s| s.backup_job_id.clone())
    }

    #[test]
    fn own_writes_overlay_a_lagging_cache_until_it_catches_up() {
        let caches = Caches::default();
        let cache = caches.of::<RdsBackup>();
        assert!(cache.view(|_| true).is_none(), "no store yet");
        let mut writer = Writer::<RdsBackup>::default();
        cache.add_store(writer.as_reader());
        assert!(cache.view(|_| true).is_none(), "store not filled yet");
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitApply(obj("a", "10", None)));
        writer.apply_watcher_event(&Event::InitApply(obj("b", "11", None)));
        writer.apply_watcher_event(&Event::InitDone);

        // Our write of `a` returned rv 12; the watch has not delivered it yet.
        cache.record_write(obj("a", "12", Some("j1")));
        // An older answer never replaces a newer one.
        cache.record_write(obj("a", "9", None));
        let view = cache.view(|_| true).unwrap();
        let a = view
            .iter()
            .find(|o| o.metadata.uid.as_deref() == Some("a"))
            .unwrap();
        assert_eq!(job(a).as_deref(), Some("j1"));
        assert_eq!(view.len(), 2);
        // The filter looks at the spec (never written by the operator).
        assert_eq!(
            cache.view(|o| o.spec.instance() == "rm-1").unwrap().len(),
            2
        );
        assert!(
            cache
                .view(|o| o.spec.instance() == "rm-2")
                .unwrap()
                .is_empty()
        );

        // The watch catches up (rv 13 after a user's annotation): the cache wins again.
        writer.apply_watcher_event(&Event::Apply(obj("a", "13", Some("j1"))));
        let view = cache.view(|_| true).unwrap();
        let a = view
            .iter()
            .find(|o| o.metadata.uid.as_deref() == Some("a"))
            .unwrap();
        assert_eq!(a.metadata.resource_version.as_deref(), Some("13"));
        assert!(cache.written.lock().unwrap().entries.is_empty(), "pruned");

        cache.record_write(obj("b", "20", Some("j2")));
        cache.forget("b");
        let view = cache.view(|_| true).unwrap();
        assert_eq!(view.iter().filter(|o| job(o).is_some()).count(), 1);
    }

    #[test]
    fn writes_the_watch_delivered_are_pruned_without_a_view() {
        let caches = Caches::default();
        let cache = caches.of::<RdsBackup>();
        let mut writer = Writer::<RdsBackup>::default();
        cache.add_store(writer.as_reader());
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitDone);
        // 1,000 objects written once each; the watch delivers all but the last 10.
        for i in 0..1000 {
            let uid = format!("o{i}");
            cache.record_write(obj(&uid, "5", Some("j")));
            if i < 990 {
                writer.apply_watcher_event(&Event::Apply(obj(&uid, "5", Some("j"))));
            }
        }
        let len = cache.written.lock().unwrap().entries.len();
        assert!(len < 2 * PRUNE_MIN, "overlay holds {len} objects");
        // What the watch has not delivered stays.
        let view = cache.view(|_| true).unwrap();
        assert_eq!(view.len(), 990, "only delivered objects are in the store");
        let written = cache.written.lock().unwrap();
        assert!((990..1000).all(|i| written.entries.contains_key(&format!("o{i}"))));
    }

    #[test]
    fn resource_versions_compare_as_numbers() {
        assert!(newer(Some("100"), Some("99")));
        assert!(!newer(Some("99"), Some("100")));
        assert!(!newer(Some("7"), Some("7")));
        assert!(newer(Some("x"), Some("7")), "unparseable: our write wins");
    }
}
