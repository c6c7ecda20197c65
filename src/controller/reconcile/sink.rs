//! Where a reconcile's writes go ([`Sink`]): the API server in production ([`ApiSink`]), a
//! recorder in the act unit tests.

use std::time::Duration;

use async_trait::async_trait;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;

use crate::controller::operator::context::Context;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind::Tracked;
use crate::controller::reconcile::status::{FIELD_MANAGER, write_status};

/// Where a reconcile's writes go: the object's status subresource and its events. The API
/// server in production ([`ApiSink`]); a recorder in the act unit tests.
#[async_trait]
pub trait Sink<K: Tracked>: Send + Sync {
    /// Writes `status` unless it equals `current`.
    async fn write_status(
        &self,
        name: &str,
        current: Option<&K::Status>,
        status: &K::Status,
    ) -> Result<()>;
    /// Publishes an event about `obj` (failures are logged, not returned).
    async fn event(&self, obj: &K, type_: EventType, reason: &str, action: &str, note: String);
    /// Merge-patches the annotations of `name` (`null` removes one).
    async fn annotate(&self, name: &str, annotations: serde_json::Value) -> Result<()>;
    /// Whether a change of the status of the object `uid` that only reports progress may be
    /// written now (the last write was at least `interval` ago). Always, unless overridden.
    fn progress_due(&self, uid: &str, interval: Duration) -> bool {
        let _ = (uid, interval);
        true
    }
    /// Records a status write of the object `uid` (for [`Sink::progress_due`]).
    fn status_written(&self, uid: &str) {
        let _ = uid;
    }
}

/// The production [`Sink`]: server-side apply on the status subresource, events through the
/// operator's publisher.
pub struct ApiSink<'a, K: Tracked> {
    api: &'a Api<K>,
    ctx: &'a Context,
}

impl<'a, K: Tracked> ApiSink<'a, K> {
    /// Writes through `api`, with the operator's caches, progress gate and events in `ctx`.
    pub fn new(api: &'a Api<K>, ctx: &'a Context) -> Self {
        ApiSink { api, ctx }
    }
}

#[async_trait]
impl<K: Tracked> Sink<K> for ApiSink<'_, K> {
    async fn write_status(
        &self,
        name: &str,
        current: Option<&K::Status>,
        status: &K::Status,
    ) -> Result<()> {
        if let Some(written) = write_status(self.api, name, current, status).await? {
            // Claims read from the cache see this write at once (see `cache`).
            self.ctx.caches.of::<K>().record_write(written);
        }
        Ok(())
    }

    async fn event(&self, obj: &K, type_: EventType, reason: &str, action: &str, note: String) {
        self.ctx
            .events
            .publish(&obj.object_ref(&()), type_, reason, action, note)
            .await;
    }

    fn progress_due(&self, uid: &str, interval: Duration) -> bool {
        self.ctx.progress.due(uid, interval)
    }

    fn status_written(&self, uid: &str) {
        self.ctx.progress.written(uid);
    }

    async fn annotate(&self, name: &str, annotations: serde_json::Value) -> Result<()> {
        let patch = serde_json::json!({ "metadata": { "annotations": annotations } });
        self.api
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Merge(&patch),
            )
            .await?;
        Ok(())
    }
}
