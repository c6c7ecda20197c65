//! One reconcile's view of an object, shared by the three controllers: the status as last
//! read, the status being built, and the steps every controller takes with them — commit the
//! conditions (status write only when something changed, an event on each transition) and
//! report a cloud error.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use crate::cloud::{CloudError, ErrorClass, ErrorKind, Target};
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::backoff::Timing;
use crate::controller::reconcile::conditions::{
    Health, PAUSED, TRUE, apply_health, find, set_condition,
};
use crate::controller::reconcile::error::{Error, Result, error_chain};
use crate::controller::reconcile::kind::{self, Tracked, TrackedStatus};
use crate::controller::reconcile::policy;
use crate::controller::reconcile::policy::credentials::CredentialsProblem;
use crate::controller::reconcile::status::{FIELD_MANAGER, write_status};
use crate::crd::{ANNOTATION_ORPHAN_ON_DELETE, DeletionPolicy};

/// Which event a commit publishes when the phase or the true condition changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// `Warning` for `Stalled`, else `Normal`.
    Auto,
    /// Always `Warning` (a failure or a partial success that is not `Stalled`).
    Warning,
    /// None (the runtime publishes a Warning for the same error).
    Silent,
}

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

/// What happens after an act: when the object is looked at again — the one way a step asks
/// for its next visit. The reason of a wait goes to the log and the metrics; the conditions
/// say the rest.
#[derive(Debug)]
pub enum Next {
    /// Look again after this long (jittered; a user change looks at once).
    After(Duration),
    /// Not done yet, and no failure (no Warning event, not counted as failed): look again
    /// after `after`, or after the per-object backoff when `None`. A cleanup that waits keeps
    /// its finalizer.
    Wait {
        /// What is awaited (PascalCase; the log's and the metrics' reason).
        reason: &'static str,
        /// The delay; `None`: the per-object exponential backoff.
        after: Option<Duration>,
    },
    /// Nothing more to do until the object changes (a finished cleanup: the finalizer goes).
    Finished,
    /// A failure: the runtime publishes the Warning event and applies the per-object backoff.
    Retry(Error),
}

impl Next {
    /// Not done yet: look again after `after`.
    pub fn wait(reason: &'static str, after: Duration) -> Self {
        Next::Wait {
            reason,
            after: Some(after),
        }
    }

    /// Not done yet: look again after the per-object exponential backoff.
    pub fn backoff(reason: &'static str) -> Self {
        Next::Wait {
            reason,
            after: None,
        }
    }
}

impl From<Error> for Next {
    fn from(e: Error) -> Self {
        Next::Retry(e)
    }
}

/// An event an act asks to publish besides the one a phase/condition change publishes.
#[derive(Debug)]
pub struct Note {
    /// `Normal` or `Warning`.
    pub type_: EventType,
    /// The event reason (a fixed name).
    pub reason: &'static str,
    /// The event action.
    pub action: &'static str,
    /// The event note.
    pub message: String,
}

/// What one act decided after the cloud's answers: the status edits are in the
/// [`Work::status`] it was given; this carries the conditions to set, the events and what
/// happens next. One function, [`finish`], commits it.
#[must_use]
#[derive(Debug)]
pub struct Outcome {
    /// The conditions to set; `None` leaves them as they are (a status-fields-only write).
    pub health: Option<Health>,
    /// The event of a phase/condition change.
    pub publish: Publish,
    /// A failed status write does not fail the reconcile (the [`Next::Retry`] error is what
    /// drives the retry).
    pub best_effort: bool,
    /// Events to publish, before the write.
    pub notes: Vec<Note>,
    /// When to look again.
    pub next: Next,
}

impl Outcome {
    /// Sets `health` and looks again after `after`.
    pub fn requeue(health: Health, after: Duration) -> Self {
        Self::with(Some(health), Next::After(after))
    }

    /// Sets `health`, then `next`: a wait ([`Next::wait`], [`Next::backoff`]) or an error
    /// (retried with backoff).
    pub fn retry(health: Health, next: impl Into<Next>) -> Self {
        Self::with(Some(health), next.into())
    }

    /// Writes the status fields only (conditions unchanged), then `next`.
    pub fn fields(next: Next) -> Self {
        Self::with(None, next)
    }

    /// Cleanup is done: the finalizer can go (status fields written if they changed).
    pub fn finished() -> Self {
        Self::with(None, Next::Finished)
    }

    /// Nothing to do until the object changes (it went while this reconcile ran): nothing is
    /// written.
    pub fn await_change() -> Self {
        Self::with(None, Next::Finished)
    }

    /// The operator is paused for the object: the `Paused` conditions, then nothing until the
    /// object changes (removing the pause is a change).
    pub fn paused(message: String) -> Self {
        Self::with(Some(Health::paused(message)), Next::Finished)
    }

    fn with(health: Option<Health>, next: Next) -> Self {
        Outcome {
            health,
            publish: Publish::Auto,
            best_effort: false,
            notes: Vec::new(),
            next,
        }
    }

    /// With this choice of event for a phase/condition change.
    pub fn publish(mut self, publish: Publish) -> Self {
        self.publish = publish;
        self
    }

    /// With an extra event.
    pub fn note(
        mut self,
        type_: EventType,
        reason: &'static str,
        action: &'static str,
        message: impl Into<String>,
    ) -> Self {
        self.notes.push(Note {
            type_,
            reason,
            action,
            message: message.into(),
        });
        self
    }

    /// A requeue becomes `next` (cleanup: a wait keeps the finalizer, and the object is
    /// looked at again); a wait or an error stays what it is, and so does a finished cleanup.
    pub fn or_retry(mut self, next: Next) -> Self {
        if matches!(self.next, Next::After(_)) {
            self.next = next;
        }
        self
    }

    /// The reason of the conditions this outcome sets, if it sets them.
    pub fn reason(&self) -> Option<&'static str> {
        self.health.as_ref().map(Health::reason)
    }
}

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
        let mut w = Self::with_sink(obj, &ctx.timing, Box::new(ApiSink { api, ctx }));
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
                Outcome::requeue(Health::stalled(e.name(), message), self.timing.error_max)
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
        Outcome::requeue(
            Health::stalled(problem.reason(), problem.to_string()),
            self.timing.error_max,
        )
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

/// Lets a deleted object go without touching the cloud: a `CloudCleanupSkipped` event saying
/// why (`note`), then the finalizer is removed.
pub fn let_go(note: &str) -> Outcome {
    Outcome::finished().note(
        EventType::Normal,
        reasons::CLOUD_CLEANUP_SKIPPED,
        "Deleting",
        note,
    )
}

/// The conditions of an object whose create was refused, rebuilt from its status (the
/// service's answer is in the `CreateRefused` event of the time).
pub fn create_refused_health(request_id: Option<&str>, what_now: &str) -> Health {
    let request = request_id
        .map(|id| format!(" (RequestId {id})"))
        .unwrap_or_default();
    Health::stalled(
        reasons::CREATE_REFUSED,
        format!(
            "the service refused the create{request}; its answer is in the CreateRefused \
             event: {what_now}"
        ),
    )
}

/// The message of the condition `Adopted`: `what` (e.g. `backup task 123`) and the
/// management policy.
pub fn adopted_message(what: &str, policy: crate::crd::ManagementPolicy) -> String {
    let how = if policy.is_observe_only() {
        "observed only: the operator never changes it in the cloud"
    } else {
        "managed like one the operator created"
    };
    format!(
        "adopted existing {what} (managementPolicy {}): {how}",
        policy.as_str()
    )
}

/// What to do after a refused create of a kind whose spec is immutable.
pub const IMMUTABLE_CREATE_REFUSED: &str = "the spec cannot be changed, so create a new object with a corrected spec (or fix the cloud side)";

/// Condition type: the cloud accepts the object's credentials (`True`), or they are missing,
/// unusable or refused (`False`, with the reason).
pub const CREDENTIALS_VALID: &str = "CredentialsValid";

/// Condition and event reasons shared by the kinds.
pub mod reasons {
    /// `CredentialsValid=True`: the cloud accepted the credentials.
    pub const CREDENTIALS_ACCEPTED: &str = "CredentialsAccepted";
    /// `CredentialsValid=False`: the cloud refused the credentials.
    pub const CREDENTIALS_REFUSED: &str = "CredentialsRefused";
    /// A create was refused for good; the object ends `Failed`.
    pub const CREATE_REFUSED: &str = "CreateRefused";
    /// Deletion let the object go without touching the cloud.
    pub const CLOUD_CLEANUP_SKIPPED: &str = "CloudCleanupSkipped";
    /// The spec cannot work as it is.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// `spec.timeout` passed before the backup ended; the object is `Failed`.
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
    /// The pause was lifted; the next act sets the conditions.
    pub const RESUMED: &str = "Resumed";
    /// `Adopted=True`: the object took over an existing cloud object.
    pub const ADOPTED_EXISTING: &str = "AdoptedExisting";
    /// The id to adopt is held by another object of the kind: nothing is recorded.
    pub const ADOPTION_REFUSED: &str = "AdoptionRefused";
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
