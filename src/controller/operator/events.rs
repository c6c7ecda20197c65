//! Kubernetes Events for every transition and every error.
//!
//! Reasons are stable PascalCase strings (phase transitions use the target phase, errors use
//! [`crate::controller::Error::name`]). Publishing is best effort: a failure to publish is logged and never
//! fails the reconcile.
//!
//! An event that repeats (same object, type, reason, action and note) within [`SERIES_TTL`] is
//! counted on the first one (`series.count`, `series.lastObservedTime`, as kube-runtime's
//! `Recorder` and client-go do) instead of creating another Event. The publisher remembers
//! only what that takes: a 64-bit digest of the event, the Event's name and namespace, the
//! object's UID, the count and the time (about 150 bytes per recent event, where kube-runtime's
//! `Recorder` keeps a copy of every Event of the last six minutes and scans them all on every
//! publish).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;

use crate::controller::reconcile::status::FIELD_MANAGER;

/// How long an event is remembered for counting its repeats (kube-runtime's `Recorder` uses
/// the same six minutes).
pub const SERIES_TTL: jiff::SignedDuration = jiff::SignedDuration::from_mins(6);

/// The remembered events are pruned at most this often (pruning scans them all).
const PRUNE_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(30);

/// What publishing an event comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Publish {
    /// A new Event.
    Create,
    /// The repeat of the Event `name` in `namespace`, now seen `count` times.
    Repeat {
        namespace: String,
        name: String,
        count: i32,
    },
}

/// One remembered Event.
#[derive(Debug, Clone)]
struct Seen {
    /// UID of the object it is about (guards against a digest collision).
    uid: Option<String>,
    namespace: String,
    name: String,
    count: i32,
    last: jiff::Timestamp,
}

/// The recent events, by digest (pure: no I/O; see the module docs).
#[derive(Debug, Default)]
struct SeriesCache {
    seen: HashMap<u64, Seen>,
    pruned: Option<jiff::Timestamp>,
}

impl SeriesCache {
    /// What to do for the event with `digest` about the object with `uid`, at `now`.
    fn plan(&mut self, digest: u64, uid: Option<&str>, now: jiff::Timestamp) -> Publish {
        self.prune(now);
        match self.seen.get(&digest) {
            Some(s) if s.uid.as_deref() == uid && s.last + SERIES_TTL > now => Publish::Repeat {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
                count: s.count.saturating_add(1),
            },
            _ => Publish::Create,
        }
    }

    /// Remembers that the Event `name` was written (created, or patched to `count`).
    fn record(
        &mut self,
        digest: u64,
        uid: Option<&str>,
        namespace: &str,
        name: &str,
        count: i32,
        now: jiff::Timestamp,
    ) {
        self.seen.insert(
            digest,
            Seen {
                uid: uid.map(str::to_string),
                namespace: namespace.to_string(),
                name: name.to_string(),
                count,
                last: now,
            },
        );
    }

    /// Forgets the Event `name` (it is gone from the API server).
    fn forget(&mut self, digest: u64) {
        self.seen.remove(&digest);
    }

    /// Drops the events not seen for [`SERIES_TTL`], at most once per [`PRUNE_EVERY`].
    fn prune(&mut self, now: jiff::Timestamp) {
        if self.pruned.is_some_and(|p| p + PRUNE_EVERY > now) {
            return;
        }
        self.pruned = Some(now);
        self.seen.retain(|_, s| s.last + SERIES_TTL > now);
        if self.seen.capacity() > 64 && self.seen.capacity() > self.seen.len() * 4 {
            self.seen.shrink_to_fit();
        }
    }
}

/// The digest of an event: what makes two events "the same" (kube-runtime's `EventKey`:
/// reporter, object, type, action, reason; plus the note, so a different message is a new
/// Event).
fn digest(
    regarding: &ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        &regarding.api_version,
        &regarding.kind,
        &regarding.namespace,
        &regarding.name,
        &regarding.uid,
    )
        .hash(&mut h);
    matches!(type_, EventType::Warning).hash(&mut h);
    (reason, action, note).hash(&mut h);
    h.finish()
}

/// Publishes events on behalf of the operator (`reportingController: aliyun-backup-operator`).
#[derive(Clone)]
pub struct EventPublisher {
    client: kube::Client,
    /// `reportingInstance` (the pod name, else the controller name).
    instance: Arc<str>,
    series: Arc<Mutex<SeriesCache>>,
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher").finish_non_exhaustive()
    }
}

impl EventPublisher {
    /// A publisher for `client`; `instance` is the reporting instance (pod name), if known.
    pub fn new(client: kube::Client, instance: Option<String>) -> Self {
        EventPublisher {
            client,
            instance: instance.unwrap_or_else(|| FIELD_MANAGER.to_string()).into(),
            series: Arc::default(),
        }
    }

    fn series(&self) -> std::sync::MutexGuard<'_, SeriesCache> {
        // Every critical section leaves the cache consistent: a poisoned lock is safe to reuse.
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes a `Normal` event.
    pub async fn normal(
        &self,
        regarding: &ObjectReference,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.publish(regarding, EventType::Normal, reason, action, note)
            .await;
    }

    /// Publishes a `Warning` event.
    pub async fn warning(
        &self,
        regarding: &ObjectReference,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.publish(regarding, EventType::Warning, reason, action, note)
            .await;
    }

    /// Publishes an event; failures are logged, not returned.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        // The events API limits notes to 1 kB.
        let note = truncate(note, 1000);
        if let Err(e) = self.write(regarding, type_, reason, action, note).await {
            tracing::warn!(
                error = %crate::controller::reconcile::error::error_chain(&e),
                reason,
                object = regarding.name.as_deref().unwrap_or_default(),
                "failed to publish event"
            );
        }
    }

    async fn write(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) -> Result<(), kube::Error> {
        let key = digest(regarding, type_, reason, action, &note);
        let uid = regarding.uid.as_deref();
        let now = jiff::Timestamp::now();
        let plan = self.series().plan(key, uid, now);
        if let Publish::Repeat {
            namespace,
            name,
            count,
        } = plan
        {
            let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
            let patch = serde_json::json!({
                "series": { "count": count, "lastObservedTime": MicroTime(now) }
            });
            match events
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.series()
                        .record(key, uid, &namespace, &name, count, now);
                    return Ok(());
                }
                // The Event expired in the API server (or was deleted): start a new one.
                Err(kube::Error::Api(s)) if s.code == 404 => self.series().forget(key),
                Err(e) => return Err(e),
            }
        }
        let event = self.event(regarding, type_, reason, action, note, now);
        let namespace = event.metadata.namespace.clone().unwrap_or_default();
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let created = events.create(&PostParams::default(), &event).await?;
        let name = created.metadata.name.unwrap_or_default();
        self.series().record(key, uid, &namespace, &name, 1, now);
        Ok(())
    }

    /// A new Event (as kube-runtime's `Recorder` builds it: named after the object and the
    /// time; cluster-scoped objects get theirs in `default`).
    fn event(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
        now: jiff::Timestamp,
    ) -> K8sEvent {
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        K8sEvent {
            action: Some(action.to_string()),
            reason: Some(reason.to_string()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            note: Some(note),
            metadata: ObjectMeta {
                namespace: Some(namespace),
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(FIELD_MANAGER),
                    now.as_nanosecond()
                )),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(FIELD_MANAGER.to_string()),
            reporting_instance: Some(self.instance.to_string()),
            type_: Some(
                match type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_string(),
            ),
            ..K8sEvent::default()
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn object(name: &str, uid: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("backup.aliyun.com/v1alpha1".into()),
            kind: Some("RdsBackup".into()),
            namespace: Some("ns".into()),
            name: Some(name.into()),
            uid: Some(uid.into()),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo".to_string(), 2), "h");
        assert_eq!(truncate("abc".to_string(), 10), "abc");
    }

    #[test]
    fn a_repeat_within_the_ttl_counts_on_the_first_event() {
        let mut c = SeriesCache::default();
        let k = digest(
            &object("a", "u1"),
            EventType::Warning,
            "Throttled",
            "Create",
            "n",
        );
        assert_eq!(c.plan(k, Some("u1"), at(0)), Publish::Create);
        c.record(k, Some("u1"), "ns", "a.1", 1, at(0));
        let repeat = |count| Publish::Repeat {
            namespace: "ns".into(),
            name: "a.1".into(),
            count,
        };
        assert_eq!(c.plan(k, Some("u1"), at(10)), repeat(2));
        c.record(k, Some("u1"), "ns", "a.1", 2, at(10));
        // The TTL runs from the last repeat.
        assert_eq!(c.plan(k, Some("u1"), at(10 + 359)), repeat(3));
        assert_eq!(c.plan(k, Some("u1"), at(10 + 360)), Publish::Create);
    }

    #[test]
    fn what_makes_events_the_same() {
        let base = digest(
            &object("a", "u1"),
            EventType::Normal,
            "Succeeded",
            "Track",
            "n",
        );
        for other in [
            digest(
                &object("b", "u1"),
                EventType::Normal,
                "Succeeded",
                "Track",
                "n",
            ),
            digest(
                &object("a", "u2"),
                EventType::Normal,
                "Succeeded",
                "Track",
                "n",
            ),
            digest(
                &object("a", "u1"),
                EventType::Warning,
                "Succeeded",
                "Track",
                "n",
            ),
            digest(
                &object("a", "u1"),
                EventType::Normal,
                "Failed",
                "Track",
                "n",
            ),
            digest(
                &object("a", "u1"),
                EventType::Normal,
                "Succeeded",
                "Create",
                "n",
            ),
            digest(
                &object("a", "u1"),
                EventType::Normal,
                "Succeeded",
                "Track",
                "m",
            ),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(
            base,
            digest(
                &object("a", "u1"),
                EventType::Normal,
                "Succeeded",
                "Track",
                "n"
            )
        );
        // A digest shared by another object (a collision) is not taken for a repeat.
        let mut c = SeriesCache::default();
        c.record(base, Some("u1"), "ns", "a.1", 1, at(0));
        assert_eq!(c.plan(base, Some("u9"), at(1)), Publish::Create);
    }

    #[test]
    fn old_events_are_forgotten_by_an_occasional_prune() {
        let mut c = SeriesCache::default();
        for i in 0..100u64 {
            c.record(i, None, "ns", &format!("e.{i}"), 1, at(i as i64));
        }
        c.plan(1000, None, at(100)); // prunes (first time): nothing is old yet
        assert_eq!(c.seen.len(), 100);
        c.plan(1000, None, at(100 + 360 + 10)); // 30 s later or more: prunes
        assert!(c.seen.is_empty(), "{}", c.seen.len());
        c.record(7, None, "ns", "e.7", 1, at(500));
        c.plan(1000, None, at(500 + 400)); // within 30 s of the last prune? no: 430 s later
        assert!(c.seen.is_empty());
        c.record(8, None, "ns", "e.8", 1, at(1000));
        c.plan(1000, None, at(1000 + 5)); // prunes again only 30 s after the last one
        assert_eq!(c.seen.len(), 1);
        // `forget` drops one event.
        c.forget(8);
        assert!(c.seen.is_empty());
    }

    /// Against kube-sandbox: a repeat patches the first Event's series; an Event that is gone
    /// is created anew.
    #[tokio::test]
    async fn repeats_become_a_series_on_the_api_server() {
        let sandbox = kube_sandbox::Sandbox::start().await.unwrap();
        let client = sandbox.client();
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let mut ns = k8s_openapi::api::core::v1::Namespace::default();
        ns.metadata.name = Some("ns".into());
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        let publisher = EventPublisher::new(client.clone(), Some("pod-1".into()));
        let obj = object("a", "u1");
        let events: Api<K8sEvent> = Api::namespaced(client, "ns");
        let list = || async { events.list(&Default::default()).await.unwrap().items };
        for _ in 0..3 {
            publisher
                .warning(&obj, "Throttled", "Create", "slow down".into())
                .await;
        }
        publisher
            .normal(&obj, "Succeeded", "Track", "done".into())
            .await;
        let mut all = list().await;
        all.sort_by_key(|e| e.reason.clone());
        assert_eq!(all.len(), 2, "{all:?}");
        let throttled = &all[1];
        assert_eq!(throttled.reason.as_deref(), Some("Throttled"));
        assert_eq!(throttled.type_.as_deref(), Some("Warning"));
        assert_eq!(
            throttled.reporting_controller.as_deref(),
            Some(FIELD_MANAGER)
        );
        assert_eq!(throttled.reporting_instance.as_deref(), Some("pod-1"));
        assert_eq!(throttled.series.as_ref().map(|s| s.count), Some(3));
        assert_eq!(throttled.note.as_deref(), Some("slow down"));
        assert!(all[0].series.is_none());
        // The first Event is gone (expired): the next repeat creates a new one.
        let name = throttled.metadata.name.clone().unwrap();
        events.delete(&name, &Default::default()).await.unwrap();
        publisher
            .warning(&obj, "Throttled", "Create", "slow down".into())
            .await;
        let all = list().await;
        assert_eq!(all.len(), 2, "{all:?}");
        let again = all
            .iter()
            .find(|e| e.reason.as_deref() == Some("Throttled"))
            .unwrap();
        assert_ne!(again.metadata.name.as_deref(), Some(name.as_str()));
        assert!(again.series.is_none());
    }
}
