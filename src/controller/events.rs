//! Kubernetes Events for every transition and every error.
//!
//! Reasons are stable PascalCase strings (phase transitions use the target phase, errors use
//! [`super::Error::name`]). Publishing is best effort: a failure to publish is logged and never
//! fails the reconcile.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::status::FIELD_MANAGER;

/// Publishes events on behalf of the operator (`reportingController: aliyun-backup-operator`).
#[derive(Clone)]
pub struct EventPublisher {
    /// Recorders by a hash of the object: each keeps (and prunes, on every publish) its own
    /// cache of recent events for series aggregation, so a fleet's events do not all go
    /// through one cache and one lock. An object's events always use the same recorder, so
    /// its repeats are still counted on one event.
    recorders: Arc<[Recorder]>,
}

/// Number of recorders of a publisher.
const SHARDS: usize = 32;

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher").finish_non_exhaustive()
    }
}

impl EventPublisher {
    /// A publisher for `client`; `instance` is the reporting instance (pod name), if known.
    pub fn new(client: kube::Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_string(),
            instance,
        };
        EventPublisher {
            recorders: (0..SHARDS)
                .map(|_| Recorder::new(client.clone(), reporter.clone()))
                .collect(),
        }
    }

    /// Publishes a `Normal` event.
    /// The recorder of the object `regarding` (by its UID, else its name).
    fn recorder(&self, regarding: &ObjectReference) -> Option<&Recorder> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        regarding
            .uid
            .as_ref()
            .or(regarding.name.as_ref())
            .hash(&mut h);
        let shard = usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0);
        self.recorders.get(shard).or_else(|| self.recorders.first())
    }

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
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note),
            action: action.to_string(),
            secondary: None,
        };
        let Some(recorder) = self.recorder(regarding) else {
            return;
        };
        if let Err(e) = recorder.publish(&event, regarding).await {
            tracing::warn!(
                error = %super::error::error_chain(&e),
                reason,
                object = regarding.name.as_deref().unwrap_or_default(),
                "failed to publish event"
            );
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
    use super::truncate;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo".to_string(), 2), "h");
        assert_eq!(truncate("abc".to_string(), 10), "abc");
    }
}
