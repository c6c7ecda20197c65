//! One reconcile's view of an object, shared by the three controllers: the status as last
//! read, the status being built, and the steps every controller takes with them — commit the
//! conditions (status write only when something changed, an event on each transition) and
//! report a cloud error.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

pub use super::outcome::{
    CREDENTIALS_VALID, IMMUTABLE_CREATE_REFUSED, Next, Note, Outcome, Publish, adopted_message,
    cloud_error_message, create_refused_for_good, create_refused_health, let_go, reasons,
};
pub use super::sink::{ApiSink, Sink};
use crate::cloud::{CloudError, ErrorClass, ErrorKind, Target};
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::adoption;
use crate::controller::reconcile::backoff::Timing;
use crate::controller::reconcile::conditions::{
    Health, PAUSED, TRUE, apply_health, find, set_condition,
};
use crate::controller::reconcile::error::{Error, Result, error_chain};
use crate::controller::reconcile::kind::{self, Tracked, TrackedStatus};
use crate::controller::reconcile::policy;
use crate::controller::reconcile::policy::credentials::CredentialsProblem;
use crate::crd::{ANNOTATION_ORPHAN_ON_DELETE, DeletionPolicy};

/// How long after the end of the credentials' cool-down an object held back by the breaker
/// is looked at: late enough that the breaker lets its call through as the probe.
pub const CREDENTIALS_PROBE_MARGIN: Duration = Duration::from_millis(100);

/// One reconcile's view of an object: the status as last read and the status being built.
pub struct Work<'a, K: Tracked> {
    /// The object.
    pub obj: &'a K,
    /// The requeue/backoff settings.
    pub timing: &'a Timing,
    sink: Box<dyn Sink<K> + 'a>,
    /// The object's name.
    pub name: String,
    /// The status as last read or written.
    pub current: Option<K::Status>,
    /// The status being built.
    pub status: K::Status,
    /// A change of the current generation is being pushed to the cloud: keep
    /// `observedGeneration` where it is until the push is done.
    pub hold_generation: bool,
    /// A cloud answer of this reconcile refused the credentials (the code).
    refused: Option<String>,
    /// The credentials' circuit breaker holds calls back for this long: the object is looked
    /// at again when the cool-down ends (the probe), not after a longer requeue or backoff.
    credentials_retry: Option<Duration>,
    /// The time of this reconcile on `ctx.clock`, for a kind that keeps time
    /// ([`Tracked::KEEPS_TIME`]); `None`: the wall clock at each write.
    at: Option<jiff::Timestamp>,
}

impl<'a, K: Tracked> Work<'a, K> {
    /// Starts from the object's status, writing to the API server.
    pub fn new(obj: &'a K, ctx: &'a Context, api: &'a Api<K>) -> Self {
        let mut w = Self::with_sink(obj, &ctx.timing, Box::new(ApiSink::new(api, ctx)));
        w.at = K::KEEPS_TIME.then(|| ctx.clock.now());
        w
    }

    /// The time conditions are stamped with: the reconcile's time on `ctx.clock` for a kind
    /// that keeps time ([`Tracked::KEEPS_TIME`]), else the wall clock now.
    pub fn now(&self) -> jiff::Timestamp {
        self.at.unwrap_or_else(jiff::Timestamp::now)
    }

    /// Starts from the object's status, writing to `sink`; a missing phase is the phase's
    /// default (`Pending`).
    pub fn with_sink(obj: &'a K, timing: &'a Timing, sink: Box<dyn Sink<K> + 'a>) -> Self {
        let mut w = Work {
            obj,
            timing,
            sink,
            name: obj.name_any(),
            current: None,
            status: K::Status::default(),
            hold_generation: false,
            refused: None,
            credentials_retry: None,
            at: None,
        };
        w.rebase(obj.status().cloned());
        w
    }

    /// Replaces the basis with a fresher read of the object's status.
    pub fn rebase(&mut self, fresh: Option<K::Status>) {
        let resolved = self
            .status
            .deletion_policy_mut()
            .map(|(policy, source)| (*policy, source.clone()));
        self.current = fresh.clone();
        self.status = fresh.unwrap_or_default();
        if <K::Status as TrackedStatus>::DEFAULT_PHASE {
            self.status.phase_mut().get_or_insert_with(Default::default);
        }
        // The deletion policy this reconcile resolved ([`Work::resolve_deletion_policy`]) is
        // kept: it is what this reconcile's writes report.
        if let Some((Some(policy), source)) = resolved
            && let Some((p, s)) = self.status.deletion_policy_mut()
        {
            *p = Some(policy);
            *s = source;
        }
    }

    /// A checkpoint: sets the conditions from `health` and writes the status if it changed,
    /// without an event (the outcome that follows publishes what came of it: one event per
    /// backup when the work ends within the reconcile that started it). Acts use it only for
    /// a write that must be durable *before* a cloud call (an intent); everything else goes
    /// through the [`Outcome`] the act returns.
    pub async fn commit(&mut self, health: &Health) -> Result<()> {
        self.commit_with(health, Publish::Silent).await
    }

    /// [`Work::commit`] with a choice of event.
    pub async fn commit_with(&mut self, health: &Health, publish: Publish) -> Result<()> {
        let generation = self.obj.meta().generation;
        if !self.hold_generation {
            *self.status.observed_generation_mut() = generation;
        }
        let now = self.now();
        apply_health(self.status.conditions_mut(), health, generation, now);
        let before_phase = self.current.as_ref().and_then(TrackedStatus::phase);
        let before_cond = self.current.as_ref().and_then(true_condition);
        self.write_fields().await?;
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
            let action = K::Status::event_action(after_phase.unwrap_or_default());
            self.event(type_, health.reason(), action, health.message())
                .await;
        }
        Ok(())
    }

    /// Writes the status as built (conditions as they are) if it changed; a change that only
    /// reports progress ([`Work::progress_only`]) waits until `progress_interval` has passed
    /// since the object's last write (the next poll finds it again).
    async fn write_fields(&mut self) -> Result<()> {
        if !crate::controller::reconcile::status::status_changed(
            self.current.as_ref(),
            &self.status,
        ) {
            return Ok(());
        }
        let uid = self.obj.meta().uid.clone().unwrap_or_default();
        if !K::KEEPS_TIME
            && self.progress_only()
            && !self.sink.progress_due(&uid, self.timing.progress_interval)
        {
            return Ok(());
        }
        self.sink
            .write_status(&self.name, self.current.as_ref(), &self.status)
            .await?;
        self.sink.status_written(&uid);
        self.current = Some(self.status.clone());
        Ok(())
    }

    /// Whether the status being built differs from the current one only in what reports
    /// progress ([`TrackedStatus::clear_progress`]) and in condition messages.
    fn progress_only(&self) -> bool {
        let Some(current) = &self.current else {
            return false;
        };
        let rest = |s: &K::Status| {
            let mut s = s.clone();
            s.clear_progress();
            for c in s.conditions_mut() {
                c.message.clear();
            }
            serde_json::to_value(&s).ok()
        };
        let (a, b) = (rest(current), rest(&self.status));
        a.is_some() && a == b
    }

    /// Publishes an event about the object.
    pub async fn event(&self, type_: EventType, reason: &str, action: &str, note: &str) {
        self.sink
            .event(self.obj, type_, reason, action, note.to_string())
            .await;
    }

    /// A checkpoint on the object itself: merge-patches its annotations (`null` removes one).
    pub async fn annotate(&self, annotations: serde_json::Value) -> Result<()> {
        self.sink.annotate(&self.name, annotations).await
    }

    /// Commits `outcome`: the status (and conditions) written if changed, the events
    /// published; returns what happens next. The part of [`finish`] that needs no runtime.
    pub async fn settle(&mut self, outcome: Outcome) -> Result<Next> {
        // The notes first: they say what the act found and did (a drift, then its
        // correction), before the transition the write may publish.
        for note in &outcome.notes {
            self.event(note.type_, note.reason, note.action, &note.message)
                .await;
        }
        let resumed = outcome.health.is_none()
            && !matches!(outcome.next, Next::Finished)
            && self
                .current
                .as_ref()
                .is_some_and(|s| find(s.conditions(), PAUSED).is_some());
        let health =
            if resumed {
                // The conditions still say `Paused` and this act sets none: those of the resting
                // object, or `Reconciling` until the next act sets them.
                Some(self.status.settled_health().unwrap_or_else(|| {
                    Health::progressing(reasons::RESUMED, "resumed after a pause")
                }))
            } else {
                outcome.health
            };
        let written = match (&health, &outcome.next) {
            (Some(health), _) => self.commit_with(health, outcome.publish).await,
            // A finished cleanup writes nothing: the object is about to go.
            (None, Next::Finished) => Ok(()),
            (None, _) => self.write_fields().await,
        };
        match written {
            Ok(()) => {}
            Err(e) if outcome.best_effort => {
                tracing::debug!(error = %error_chain(&e), "status write failed");
            }
            Err(e) => return Err(e),
        }
        Ok(match (outcome.next, self.credentials_retry) {
            // Held back by the credentials' breaker: back when its cool-down ends.
            (Next::After(after), Some(retry)) => Next::After(after.min(retry)),
            (next, _) => next,
        })
    }

    /// Sets `status.deletionPolicy` (and its source) to the policy in effect and returns it;
    /// `fresh` reads the namespace's default without the cache (the cleanup decision).
    pub async fn resolve_deletion_policy(
        &mut self,
        ctx: &Context,
        fresh: bool,
    ) -> Result<DeletionPolicy> {
        let effective = policy::deletion_policy(self.obj, ctx, fresh).await?;
        if let Some((policy, source)) = self.status.deletion_policy_mut() {
            *policy = Some(effective.policy);
            *source = Some(effective.source);
        }
        Ok(effective.policy)
    }

    /// The outcome of a cloud error: `Terminal`/`NotFound` → `Stalled`, look again after
    /// `error_max`; `Retryable`/`Conflict` → `Reconciling` (written best effort) and the error
    /// returned (per-object backoff; the runtime publishes the Warning event).
    pub fn cloud_error(&mut self, e: CloudError) -> Outcome {
        if e.is_authentication_failure() || e.kind == ErrorKind::CredentialsRefused {
            self.refused = Some(e.code().unwrap_or(e.name()).to_string());
        }
        if let Some(id) = e.request_id()
            && let Some(request_id) = self.status.last_request_id_mut()
        {
            *request_id = Some(id.to_string());
        }
        let message = cloud_error_message(&e);
        match e.class() {
            ErrorClass::Terminal | ErrorClass::NotFound => {
                self.hold_generation = false;
                self.stall(e.name(), message)
            }
            ErrorClass::Retryable | ErrorClass::Conflict => {
                let mut o = Outcome::retry(Health::progressing(e.name(), message), Error::from(e))
                    .publish(Publish::Silent);
                o.best_effort = true;
                o
            }
        }
    }
}

/// One reconcile of a kind reconciled through [`Work`]: a paused object
/// ([`policy::pause_reason`]) only gets its `Paused` conditions and what the kind still does
/// while paused ([`Tracked::while_paused`]; no cloud call, no finalizer change: a deletion
/// waits); the others go through the finalizer helper to `apply` or `cleanup`.
pub async fn reconcile<K: Tracked>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    apply: impl AsyncFnOnce(Arc<K>, &Context, &Api<K>) -> Result<Action>,
    cleanup: impl AsyncFnOnce(Arc<K>, &Context, &Api<K>) -> Result<Action>,
) -> Result<Action> {
    if let Some(message) = policy::pause_reason(obj.as_ref(), &ctx.paused_namespaces) {
        let ns = obj
            .namespace()
            .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
        let mut w = Work::new(obj.as_ref(), &ctx, &api);
        // Spec changes wait for the resume: `observedGeneration` stays.
        w.hold_generation = true;
        let now = w.now();
        let still = obj.while_paused(&ctx, &mut w.status, now);
        let mut outcome = Outcome::paused(message);
        for (type_, reason, action, note) in still.events {
            outcome = outcome.note(type_, reason, action, note);
        }
        if let Some(after) = still.recheck {
            outcome.next = Next::After(after);
        }
        return finish(&mut w, &ctx, outcome).await;
    }
    runtime::reconcile_with_finalizer(obj, ctx, apply, cleanup).await
}

/// Commits an act's outcome ([`Work::settle`]) and turns what happens next into the
/// runtime's action: the one place an act's decision is written.
pub async fn finish<K: Tracked>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    outcome: Outcome,
) -> Result<Action> {
    match w.settle(outcome).await? {
        Next::After(_) if w.obj.meta().deletion_timestamp.is_none() && w.obj.ended(&w.status) => {
            // A one-shot backup that has ended: nothing to look at until the object changes
            // (no timer: a fleet of finished backups holds no queue entries; the gate ignores
            // the triggers of its own status writes).
            ctx.gate
                .rest(&runtime::object_key(w.obj), runtime::fingerprint(w.obj));
            if let Some(uid) = w.obj.meta().uid.as_deref() {
                ctx.progress.forget(uid);
            }
            Ok(Action::await_change())
        }
        Next::After(after) => Ok(runtime::requeue(ctx, w.obj, after)),
        Next::Finished => {
            if w.obj.meta().deletion_timestamp.is_some()
                && let Some(uid) = w.obj.meta().uid.as_deref()
            {
                // The finalizer goes next: the object's own writes need no overlay any more.
                ctx.caches.of::<K>().forget(uid);
                ctx.progress.forget(uid);
                ctx.seen.forget(&runtime::object_key(w.obj));
            }
            Ok(Action::await_change())
        }
        Next::Wait { reason, after } => Err(Error::Wait { reason, after }),
        Next::Retry(e) => Err(e),
    }
}

impl<K: Tracked> Work<'_, K> {
    /// Cleanup needs the cloud but the credentials are unusable: `Stalled` with the problem and
    /// the two ways out (fix the Secret, or let go with the orphan annotation); the finalizer
    /// stays and the object is looked at again after `error_max` (or at once when the Secret
    /// changes). `cannot` says what cannot be done, e.g. "delete the backup set".
    pub fn cleanup_needs_credentials(
        &mut self,
        problem: &CredentialsProblem,
        cannot: &str,
    ) -> Outcome {
        Outcome::retry(
            Health::stalled(
                problem.reason(),
                format!(
                    "{problem}; cannot {cannot}. Fix the Secret, or set the annotation \
                     {ANNOTATION_ORPHAN_ON_DELETE}=\"true\" to delete the object without cloud cleanup"
                ),
            ),
            Next::wait(problem.reason(), self.timing.error_max),
        )
    }

    /// Cleanup needs the cloud: where its calls go, or (the credentials are unusable) the
    /// [`Work::cleanup_needs_credentials`] outcome, with the phase `Deleting`.
    pub async fn cleanup_target(
        &mut self,
        ctx: &Context,
        cannot: &str,
    ) -> Result<std::result::Result<Target, Outcome>> {
        match kind::target(self.obj, ctx).await? {
            Ok(target) => Ok(Ok(target)),
            Err(problem) => {
                if let Some(deleting) = <K::Status as TrackedStatus>::DELETING {
                    *self.status.phase_mut() = Some(deleting);
                }
                self.set_credentials_valid(false, problem.reason(), &problem.to_string());
                Ok(Err(self.cleanup_needs_credentials(&problem, cannot)))
            }
        }
    }

    /// Sets the condition `CredentialsValid` after an act that called the cloud with
    /// `target`'s credentials (no extra call): False while the cloud refuses them (an answer of
    /// this reconcile, or the per-credential breaker holding them back), else True.
    pub fn note_credentials(&mut self, ctx: &Context, target: &Target) {
        let refusal = ctx.cloud.credential_refusal(&target.credentials);
        self.credentials_retry = refusal.as_ref().map(|r| {
            if r.retry_in.is_zero() {
                // Another call is the probe: its success wakes this object
                // (`CloudProvider::credential_recoveries`); this is the fallback.
                self.timing.wait
            } else {
                r.retry_in + CREDENTIALS_PROBE_MARGIN
            }
        });
        let (valid, reason, message) = match (&self.refused, refusal) {
            (_, Some(r)) => (
                false,
                reasons::CREDENTIALS_REFUSED,
                format!(
                    "the cloud refused the credentials ({}, key {}); calls with them are held \
                     back with a growing cool-down. Fix the Secret: a changed key is tried at once",
                    r.code, r.credential
                ),
            ),
            (Some(code), None) => (
                false,
                reasons::CREDENTIALS_REFUSED,
                format!("the cloud refused the credentials ({code}); fix the Secret"),
            ),
            (None, None) => (
                true,
                reasons::CREDENTIALS_ACCEPTED,
                "the cloud accepted the credentials".to_string(),
            ),
        };
        self.set_credentials_valid(valid, reason, &message);
    }

    /// Sets the condition `Adopted` (True, reason `AdoptedExisting`) with `message` (what was
    /// adopted, under which management policy; see [`adopted_message`]).
    pub fn set_adopted(&mut self, message: &str) {
        let generation = self.obj.meta().generation;
        set_condition(
            self.status.conditions_mut(),
            crate::crd::CONDITION_ADOPTED,
            true,
            reasons::ADOPTED_EXISTING,
            message,
            generation,
            jiff::Timestamp::now(),
        );
    }

    fn set_credentials_valid(&mut self, valid: bool, reason: &str, message: &str) {
        let generation = self.obj.meta().generation;
        set_condition(
            self.status.conditions_mut(),
            CREDENTIALS_VALID,
            valid,
            reason,
            message,
            generation,
            jiff::Timestamp::now(),
        );
    }

    /// The credentials of an object are unusable: `Stalled` with the problem; a change of the
    /// Secret requeues the object at once (Secret watch), else it is looked at after
    /// `error_max`.
    pub fn credentials_problem(&mut self, problem: &CredentialsProblem) -> Outcome {
        self.set_credentials_valid(false, problem.reason(), &problem.to_string());
        self.stall(problem.reason(), problem.to_string())
    }

    /// The deadline of a one-shot backup from `timeout` (its `spec.timeout`) and the object's
    /// creation; `Err` is the `Stalled/InvalidSpec` outcome of a timeout the schema let through.
    pub fn deadline(
        &self,
        timeout: Option<&str>,
    ) -> std::result::Result<Option<jiff::Timestamp>, Box<Outcome>> {
        let created = self.obj.meta().creation_timestamp.as_ref().map(|t| t.0);
        policy::deadline(timeout, created).map_err(|message| Box::new(self.invalid_spec(message)))
    }

    /// What only a person can fix (an id held by another object or unknown to the cloud, a
    /// resource that does not match, a refusal): `Stalled/<reason>` with `message` saying what
    /// to change; nothing is recorded, and the object is looked at again slowly (`error_max`),
    /// or at once when its spec changes.
    pub fn stall(&self, reason: &'static str, message: impl Into<String>) -> Outcome {
        Outcome::requeue(Health::stalled(reason, message), self.timing.error_max)
    }

    /// `Stalled/AdoptionRefused`: `what` (e.g. `job j-1 named by spec.jobId`) is held or also
    /// named by `claim`'s object; `noun` is what no two objects of the kind may hold.
    pub fn refuse_adoption(&self, what: &str, noun: &str, claim: &adoption::Claim) -> Outcome {
        self.stall(
            reasons::ADOPTION_REFUSED,
            adoption::refused_message(what, K::KIND, noun, claim),
        )
    }

    /// The one outcome of a spec that cannot work as written (what the schema could not
    /// refuse): `Stalled/InvalidSpec` with `message` saying what to change, looked at again
    /// after the resync (or at once when the spec changes).
    pub fn invalid_spec(&self, message: impl Into<String>) -> Outcome {
        Outcome::requeue(
            Health::stalled(reasons::INVALID_SPEC, message),
            self.timing.resync,
        )
    }

    /// `spec.timeout` passed before the backup ended: the phase becomes `Failed` (with a
    /// completion time), `Stalled/DeadlineExceeded` says what happened in the cloud
    /// (`message`); nothing more is done until the object is deleted.
    pub fn exceed_deadline(&mut self, message: String) -> Outcome {
        if let Some(failed) = <K::Status as TrackedStatus>::FAILED {
            *self.status.phase_mut() = Some(failed);
        }
        if let Some(t) = self.status.completion_time_mut() {
            t.get_or_insert(Time(jiff::Timestamp::now()));
        }
        self.hold_generation = false;
        Outcome::requeue(
            Health::stalled(reasons::DEADLINE_EXCEEDED, message),
            self.timing.resync,
        )
    }

    /// A backup is due to start but `spec.timeout` (`deadline`) has passed: it fails without a
    /// call ([`Work::exceed_deadline`]); `service` names where nothing was created. Decided on
    /// the latest status, so no intent is lost. `None` when there is time left.
    pub fn missed_start(
        &mut self,
        deadline: Option<jiff::Timestamp>,
        service: &str,
    ) -> Option<Outcome> {
        if !policy::past(deadline, jiff::Timestamp::now()) {
            return None;
        }
        let timeout = self.obj.timeout().unwrap_or_default().to_string();
        Some(self.exceed_deadline(format!(
            "the backup did not start within spec.timeout ({timeout}); nothing was created in \
             {service}"
        )))
    }

    /// Reports a create the service refused for good ([`create_refused_for_good`]): the intent
    /// is cleared (the call did not run), the phase becomes `Failed` (with a completion time on
    /// one-shot kinds), and `Stalled/CreateRefused` carries the service's answer and `what_now`
    /// (what the user can do); the same create is not retried.
    pub fn fail_create(&mut self, e: CloudError, what_now: &str) -> Outcome {
        if let Some(pending) = self.status.pending_create_mut() {
            *pending = None;
        }
        if let Some(failed) = <K::Status as TrackedStatus>::FAILED {
            *self.status.phase_mut() = Some(failed);
        }
        if let Some(t) = self.status.completion_time_mut() {
            t.get_or_insert(Time(jiff::Timestamp::now()));
        }
        if let Some(id) = e.request_id()
            && let Some(request_id) = self.status.last_request_id_mut()
        {
            *request_id = Some(id.to_string());
        }
        self.hold_generation = false;
        let message = format!(
            "{}; the service refused the create, so this {} has failed: {what_now}",
            cloud_error_message(&e),
            K::KIND,
        );
        Outcome::requeue(
            Health::stalled(reasons::CREATE_REFUSED, message),
            self.timing.resync,
        )
    }
}

/// The health condition (`Ready`, `Reconciling`, `Stalled` or `Paused`) that is `True`, with
/// its reason: what an Event announces. Other conditions (`CredentialsValid`, `Adopted`,
/// `RPOMet`) are not the object's health.
fn true_condition<S: TrackedStatus>(status: &S) -> Option<(String, String)> {
    use super::conditions::{READY, RECONCILING, STALLED};
    status
        .conditions()
        .iter()
        .filter(|c| [READY, RECONCILING, STALLED, PAUSED].contains(&c.type_.as_str()))
        .find(|c| c.status == TRUE)
        .map(|c| (c.type_.clone(), c.reason.clone()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::cloud::Product;

    #[test]
    fn rebase_keeps_the_deletion_policy_this_reconcile_resolved() {
        use crate::crd::{DeletionPolicy, RdsBackup, RdsBackupPhase, RdsBackupStatus};
        let obj: RdsBackup = serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.com/v1alpha1", "kind": "RdsBackup",
            "metadata": {"name": "b", "namespace": "ns", "uid": "u"},
            "spec": {"region": "cn-hangzhou", "dbInstanceId": "rm-1"}
        }))
        .unwrap();
        let rec = crate::controller::reconcile::testing::Recorder::new(&Default::default());
        let mut w = crate::controller::reconcile::testing::work(&obj, &rec);
        {
            let (policy, source) = w.status.deletion_policy_mut().unwrap();
            *policy = Some(DeletionPolicy::Delete);
            *source = Some("spec".into());
        }
        // The fresh status (read under the create lock) predates the resolution.
        w.rebase(Some(RdsBackupStatus {
            phase: Some(RdsBackupPhase::Running),
            backup_job_id: Some("42".into()),
            ..RdsBackupStatus::default()
        }));
        assert_eq!(w.status.backup_job_id.as_deref(), Some("42"));
        assert_eq!(w.status.deletion_policy, Some(DeletionPolicy::Delete));
        assert_eq!(w.status.deletion_policy_source.as_deref(), Some("spec"));
        // `current` stays what the API server holds: writing the policy is a change.
        assert_eq!(w.current.as_ref().unwrap().deletion_policy, None);
    }

    /// Issue #30: a paused object that is then deleted gets a second `Paused` message (the
    /// deletion waits) but no second `Paused` Event, whatever other conditions are `True`.
    #[tokio::test]
    async fn a_paused_object_is_announced_once_even_with_other_true_conditions() {
        use crate::crd::RdsBackup;
        let obj: RdsBackup = serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.com/v1alpha1", "kind": "RdsBackup",
            "metadata": {"name": "b", "namespace": "ns", "uid": "u", "generation": 1},
            "spec": {"region": "cn-hangzhou", "dbInstanceId": "rm-1"}
        }))
        .unwrap();
        let rec = crate::controller::reconcile::testing::Recorder::new(&Default::default());
        let mut w = crate::controller::reconcile::testing::work(&obj, &rec);
        w.set_adopted("adopted backup 1 (Manage)");
        w.set_credentials_valid(true, reasons::CREDENTIALS_ACCEPTED, "accepted");
        crate::controller::reconcile::testing::settle(&mut w, Outcome::paused("paused".into()))
            .await;
        crate::controller::reconcile::testing::settle(
            &mut w,
            Outcome::paused("paused; the deletion waits for the resume".into()),
        )
        .await;
        assert_eq!(rec.event_reasons(), vec!["Paused".to_string()]);
    }

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
