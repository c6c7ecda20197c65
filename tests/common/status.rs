//! Generic readers of an object's status for the tests of every kind: phase, conditions, and
//! the events the operator published about it.

use aliyun_backup_operator::controller::reconcile::kind::{Tracked, TrackedStatus};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use kube::api::ListParams;

use super::{Env, NS};

/// `status.phase`.
pub fn phase<K: Tracked>(o: &K) -> Option<<K::Status as TrackedStatus>::Phase> {
    o.status().and_then(TrackedStatus::phase)
}

/// The condition of `type_`, if any.
pub fn condition<'a, K: Tracked>(o: &'a K, type_: &str) -> Option<&'a Condition> {
    o.status()
        .and_then(|s| s.conditions().iter().find(|c| c.type_ == type_))
}

/// Whether the condition of `type_` is `True`.
pub fn is_true<K: Tracked>(o: &K, type_: &str) -> bool {
    condition(o, type_).is_some_and(|c| c.status == "True")
}

/// Every Event about the object `name` in [`NS`].
pub async fn events_for(env: &Env, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(env.client.clone(), NS);
    api.list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .and_then(|r| r.name.as_deref())
                .is_some_and(|n| n == name)
        })
        .collect()
}

/// The reasons of `events`, in order.
pub fn reasons(events: &[Event]) -> Vec<String> {
    events.iter().filter_map(|e| e.reason.clone()).collect()
}

/// Polls an async check (an HTTP probe, a metrics scrape) until it holds, failing after
/// [`super::TIMEOUT`] with the last value `check` described.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + super::TIMEOUT;
    loop {
        let last = match check().await {
            Ok(()) => return,
            Err(last) => last,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {last}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
