//! One reconcile's view of an object, shared by the three controllers: the status as last
//! read, the status being built, and the steps every controller takes with them — commit the
//! conditions (status write only when something changed, an event on each transition) and
//! report a cloud error.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::conditions::{Health, TRUE, apply_health};
use super::context::Context;
use super::credentials::CredentialsProblem;
use super::error::{Error, Result, error_chain};
use super::kind::{Tracked, TrackedStatus};
use super::runtime;
use super::status::write_status;
use crate::cloud::{CloudError, ErrorClass, ErrorKind};
use crate::crd::ANNOTATION_ORPHAN_ON_DELETE;

/// Which event a [`Work::commit_with`] publishes when the phase or the true condition changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// `Warning` for `Stalled`, else `Normal`.
    Auto,
    /// Always `Warning` (a failure or a partial success that is not `Stalled`).
    Warning,
    /// None (the runtime publishes a Warning for the same error).
    Silent,
}

/// One reconcile's view of an object: the status as last read and the status being built.
pub struct Work<'a, K: Tracked> {
    /// The object.
    pub obj: &'a K,
    /// The operator's context.
    pub ctx: &'a Context,
    /// The object's namespaced API.
    pub api: &'a Api<K>,
    /// The object's name.
    pub name: String,
    /// The status as last read or written.
    pub current: Option<K::Status>,
    /// The status being built.
    pub status: K::Status,
    /// A change of the current generation is being pushed to the cloud: keep
    /// `observedGeneration` where it is until the push is done.
    pub hold_generation: bool,
}

impl<'a, K: Tracked> Work<'a, K> {
    /// Starts from the object's status; a missing phase is the phase's default (`Pending`).
    pub fn new(obj: &'a K, ctx: &'a Context, api: &'a Api<K>) -> Self {
        let mut w = Work {
            obj,
            ctx,
            api,
            name: obj.name_any(),
            current: None,
            status: K::Status::default(),
            hold_generation: false,
        };
        w.rebase(obj.status().cloned());
        w
    }

    /// Replaces the basis with a fresher read of the object's status.
    pub fn rebase(&mut self, fresh: Option<K::Status>) {
        self.current = fresh.clone();
        self.status = fresh.unwrap_or_default();
        self.status.phase_mut().get_or_insert_with(Default::default);
    }

    /// Sets the conditions from `health`, writes the status if it changed, and publishes an
    /// event when the phase or the true condition/reason changed.
    pub async fn commit(&mut self, health: &Health) -> Result<()> {
        self.commit_with(health, Publish::Auto).await
    }

    /// [`Work::commit`] with a choice of event.
    pub async fn commit_with(&mut self, health: &Health, publish: Publish) -> Result<()> {
        let generation = self.obj.meta().generation;
        if !self.hold_generation {
            *self.status.observed_generation_mut() = generation;
        }
        apply_health(
            self.status.conditions_mut(),
            health,
            generation,
            jiff::Timestamp::now(),
        );
        let before_phase = self.current.as_ref().and_then(TrackedStatus::phase);
        let before_cond = self.current.as_ref().and_then(true_condition);
        write_status(self.api, &self.name, self.current.as_ref(), &self.status).await?;
        let after_cond = Some((health.condition_type(), health.reason()));
        let after_phase = self.status.phase();
        let changed = before_phase != after_phase
            || before_cond.as_ref().map(|(t, r)| (t.as_str(), r.as_str())) != after_cond;
        let type_ = match (publish, health) {
            (Publish::Silent, _) => None,
            (Publish::Warning, _) | (Publish::Auto, Health::Stalled { .. }) => {
                Some(EventType::Warning)
            }
            (Publish::Auto, _) => Some(EventType::Normal),
        };
        if changed && let Some(type_) = type_ {
            let action = K::Status::phase_name(after_phase.unwrap_or_default());
            self.event(type_, health.reason(), action, health.message())
                .await;
        }
        self.current = Some(self.status.clone());
        Ok(())
    }

    /// Publishes an event about the object.
    pub async fn event(&self, type_: EventType, reason: &str, action: &str, note: &str) {
        self.ctx
            .events
            .publish(
                &self.obj.object_ref(&()),
                type_,
                reason,
                action,
                note.to_string(),
            )
            .await;
    }

    /// Reports a cloud error: `Terminal`/`NotFound` → `Stalled` (returns a slow requeue);
    /// `Retryable`/`Conflict` → `Reconciling` and `Err` (per-object backoff; the runtime
    /// publishes the Warning event).
    pub async fn cloud_error(&mut self, e: CloudError) -> Result<Action> {
        if let Some(id) = e.request_id() {
            *self.status.last_request_id_mut() = Some(id.to_string());
        }
        let message = cloud_error_message(&e);
        match e.class() {
            ErrorClass::Terminal | ErrorClass::NotFound => {
                self.hold_generation = false;
                self.commit(&Health::stalled(e.name(), message)).await?;
                Ok(runtime::requeue(
                    self.ctx,
                    self.obj,
                    self.ctx.timing.error_max,
                ))
            }
            ErrorClass::Retryable | ErrorClass::Conflict => {
                // Best effort: the error itself is what drives the retry.
                let health = Health::progressing(e.name(), message);
                if let Err(write) = self.commit_with(&health, Publish::Silent).await {
                    tracing::debug!(error = %error_chain(&write), "status write failed");
                }
                Err(Error::from(e))
            }
        }
    }
}

impl<K: Tracked> Work<'_, K> {
    /// Cleanup needs the cloud but the credentials are unusable: `Stalled` with the problem and
    /// the two ways out (fix the Secret, or let go with the orphan annotation); the finalizer
    /// stays and the object is looked at again after `error_max` (or at once when the Secret
    /// changes). `cannot` says what cannot be done, e.g. "delete the backup set".
    pub async fn cleanup_needs_credentials(
        &mut self,
        problem: &CredentialsProblem,
        cannot: &str,
    ) -> Result<Action> {
        self.commit(&Health::stalled(
            problem.reason(),
            format!(
                "{problem}; cannot {cannot}. Fix the Secret, or set the annotation \
                 {ANNOTATION_ORPHAN_ON_DELETE}=\"true\" to delete the object without cloud cleanup"
            ),
        ))
        .await?;
        Err(Error::wait(problem.reason(), self.ctx.timing.error_max))
    }

    /// Reports a create the service refused for good ([`create_refused_for_good`]): the intent
    /// is cleared (the call did not run), the phase becomes `Failed` (with a completion time on
    /// one-shot kinds), and `Stalled/CreateRefused` carries the service's answer and `what_now`
    /// (what the user can do); the same create is not retried.
    pub async fn fail_create(&mut self, e: CloudError, what_now: &str) -> Result<Action> {
        *self.status.pending_create_mut() = None;
        *self.status.phase_mut() = Some(<K::Status as TrackedStatus>::FAILED);
        if let Some(t) = self.status.completion_time_mut() {
            t.get_or_insert(Time(jiff::Timestamp::now()));
        }
        if let Some(id) = e.request_id() {
            *self.status.last_request_id_mut() = Some(id.to_string());
        }
        self.hold_generation = false;
        let message = format!(
            "{}; the service refused the create, so this {} has failed: {what_now}",
            cloud_error_message(&e),
            K::KIND,
        );
        self.commit(&Health::stalled(reasons::CREATE_REFUSED, message))
            .await?;
        Ok(runtime::requeue(self.ctx, self.obj, self.ctx.timing.resync))
    }
}

/// What to do after a refused create of a kind whose spec is immutable.
pub const IMMUTABLE_CREATE_REFUSED: &str = "the spec cannot be changed, so create a new object with a corrected spec (or fix the cloud side)";

/// Condition and event reasons shared by the kinds.
pub mod reasons {
    /// A create was refused for good; the object ends `Failed`.
    pub const CREATE_REFUSED: &str = "CreateRefused";
    /// Deletion let the object go without touching the cloud.
    pub const CLOUD_CLEANUP_SKIPPED: &str = "CloudCleanupSkipped";
}

/// Whether a create error is a refusal that sending the same request again cannot change: the
/// service answered with an error code that is not transient, not a conflict (busy), not a
/// credentials or permission problem (those are fixed in the Secret or RAM, after which the
/// same create may work) and not an HTTP 403 (a quota or state of the resource, such as RDS
/// `Exceeded.BackupTimes`, that lifts with time). Denials because of the resource's current
/// state are conflicts (`ErrorClass::Conflict`), not refusals. The call did not run.
pub fn create_refused_for_good(e: &CloudError) -> bool {
    e.kind == ErrorKind::Api
        && e.code().is_some_and(|c| !c.is_empty())
        && e.http_status().is_none_or(|s| s < 500 && s != 403)
        && matches!(e.class(), ErrorClass::Terminal | ErrorClass::NotFound)
        && !e.is_credentials_problem()
}

/// The type and reason of the condition that is `True`.
fn true_condition<S: TrackedStatus>(status: &S) -> Option<(String, String)> {
    status
        .conditions()
        .iter()
        .find(|c| c.status == TRUE)
        .map(|c| (c.type_.clone(), c.reason.clone()))
}

/// Message of a cloud error for status and events: action, code, message and request id.
pub fn cloud_error_message(e: &CloudError) -> String {
    let mut m = format!("{} failed", e.action);
    if let Some(code) = e.code() {
        m.push_str(": ");
        m.push_str(code);
    }
    if !e.message.is_empty() {
        m.push_str(": ");
        m.push_str(&e.message);
    }
    if let Some(id) = e.request_id() {
        m.push_str(" (RequestId ");
        m.push_str(id);
        m.push(')');
    }
    m
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::cloud::Product;

    fn api(status: u16, code: &str) -> CloudError {
        CloudError::api(
            Product::Rds,
            "CreateBackup",
            status,
            Some(code.to_string()),
            None,
            None,
        )
    }

    #[test]
    fn only_refusals_that_cannot_lift_fail_a_create() {
        for code in [
            "InvalidDBInstanceId.NotFound",
            "InvalidParameter",
            "InvalidBackupMethod.ValueNotSupport",
        ] {
            assert!(create_refused_for_good(&api(400, code)), "{code}");
        }
        assert!(create_refused_for_good(&api(404, "InstanceNotExist")));
        // Transient, busy, state, quota, credentials, permissions: tried again.
        for (status, code) in [
            (503, "ServiceUnavailable"),
            (500, "InternalError"),
            (400, "Throttling.User"),
            (400, "BackupJobExists"),
            (403, "IncorrectDBInstanceState"),
            (400, "IncorrectDBInstanceState"),
            (400, "OperationDenied.DBInstanceStatus"),
            (403, "Exceeded.BackupTimes"),
            (404, "InvalidAccessKeyId.NotFound"),
            (400, "SignatureDoesNotMatch"),
            (403, "Forbidden.RAM"),
        ] {
            assert!(
                !create_refused_for_good(&api(status, code)),
                "{status} {code}"
            );
        }
        // No answer at all: the outcome is unknown, never "refused".
        let timeout = CloudError::new(
            Product::Rds,
            "CreateBackup",
            ErrorKind::Timeout,
            "timed out",
        );
        assert!(!create_refused_for_good(&timeout));
    }
}
