//! The one reconcile pipeline every kind runs through (`docs/architecture.md#one-pipeline`).
//!
//! A kind implements [`Reconciler`]: only what is specific to its product. [`controllers`]
//! starts it on the shared runtime, and one driver ([`apply`], [`cleanup`]) runs the same
//! named steps in the same order for every kind:
//!
//! ```text
//! apply:   load ─▶ gate ─▶ validate ─▶ gate ─▶ observe ─▶ plan ─▶ act ─▶ status
//!          (fresh?)  (at rest) (pure)  (credentials)     (pure)
//! cleanup: load ─▶ deletion policy ─▶ plan_cleanup (pure) ─▶ gate (credentials) ─▶ act ─▶ status
//! ```
//!
//! The driver owns everything around the steps: the finalizer and pause (through
//! [`work::reconcile`]), the latest-version check, the deletion policy in effect, the
//! `Stalled/InvalidSpec` outcome of a spec that does not validate, the deadline of
//! `spec.timeout`, the credentials (`CredentialsValid`, the breaker), the `Adopted` condition,
//! the single status write and the events ([`work::finish`]), and the next visit (the
//! [`Outcome`]'s [`work::Next`]). Each gate that stops a reconcile says so in a condition
//! (invalid spec, credentials) or a debug log (at rest, not the latest version).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

use crate::cloud::Target;
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::backoff::Timing;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind::{self, ManagedResource, Tracked};
use crate::controller::reconcile::policy::credentials::CredentialsProblem;
use crate::controller::reconcile::work::{self, Outcome, Work};
use crate::crd::{DeletionPolicy, orphan_on_delete};

/// Where a kind's calls go, resolved by the driver before observe (and before a cleanup that
/// acts): the cloud [`Target`] of a kind that calls the cloud (the credentials gate and
/// `CredentialsValid`), or [`NoCloud`] for a kind whose children make the calls.
#[async_trait]
pub trait Reach: Sized + Send + Sync {
    /// Where the apply path's calls go; `Ok(Err(problem))` when the credentials are
    /// unusable (the object becomes `Stalled`).
    async fn for_apply<K: ManagedResource>(
        obj: &K,
        ctx: &Context,
    ) -> Result<std::result::Result<Self, CredentialsProblem>>;

    /// Where cleanup's calls go; `Ok(Err(outcome))` when they cannot be made (`cannot` says
    /// what cannot be done: [`Work::cleanup_target`]).
    async fn for_cleanup<K: Tracked>(
        w: &mut Work<'_, K>,
        ctx: &Context,
        cannot: &str,
    ) -> Result<std::result::Result<Self, Outcome>>;

    /// After the act: what the calls said of the credentials ([`Work::note_credentials`]).
    fn note<K: Tracked>(&self, w: &mut Work<'_, K>, ctx: &Context);
}

#[async_trait]
impl Reach for Target {
    async fn for_apply<K: ManagedResource>(
        obj: &K,
        ctx: &Context,
    ) -> Result<std::result::Result<Self, CredentialsProblem>> {
        kind::target(obj, ctx).await
    }

    async fn for_cleanup<K: Tracked>(
        w: &mut Work<'_, K>,
        ctx: &Context,
        cannot: &str,
    ) -> Result<std::result::Result<Self, Outcome>> {
        w.cleanup_target(ctx, cannot).await
    }

    fn note<K: Tracked>(&self, w: &mut Work<'_, K>, ctx: &Context) {
        w.note_credentials(ctx, self);
    }
}

/// The reach of a kind that makes no cloud calls itself (the schedules: their children make
/// them): no Secret is read, no credentials gate, no `CredentialsValid`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCloud;

#[async_trait]
impl Reach for NoCloud {
    async fn for_apply<K: ManagedResource>(
        _: &K,
        _: &Context,
    ) -> Result<std::result::Result<Self, CredentialsProblem>> {
        Ok(Ok(NoCloud))
    }

    async fn for_cleanup<K: Tracked>(
        _: &mut Work<'_, K>,
        _: &Context,
        _: &str,
    ) -> Result<std::result::Result<Self, Outcome>> {
        Ok(Ok(NoCloud))
    }

    fn note<K: Tracked>(&self, _: &mut Work<'_, K>, _: &Context) {}
}

/// What cleanup comes to before any cloud call ([`Reconciler::plan_cleanup`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Cleanup<S> {
    /// Let the object go without touching the cloud; the note says why (an event).
    LetGo(&'static str),
    /// Nothing was ever sent to the cloud: the finalizer goes.
    Finished,
    /// Cloud cleanup, step `step`; `cannot` says what cannot be done while the credentials
    /// are unusable (e.g. "delete the backup set").
    Act {
        /// The first cleanup step.
        step: S,
        /// What the object cannot do without credentials.
        cannot: String,
    },
}

/// What the act of one reconcile gets: the validated spec, the observation and the step
/// planned from them, and the object's deadline (`spec.timeout`), if it has one.
pub struct Act<'a, K: Reconciler> {
    /// The validated spec ([`Reconciler::validate`]).
    pub valid: &'a K::Valid,
    /// The observation ([`Reconciler::observe`]).
    pub seen: K::Seen,
    /// The step ([`Reconciler::plan`]).
    pub step: K::Step,
    /// When the object's work must have ended.
    pub deadline: Option<jiff::Timestamp>,
}

/// A kind reconciled through the one pipeline: its steps, in the order the driver runs them.
/// Pure steps (`validate`, `plan`, `plan_cleanup`) take plain data and carry most of the unit
/// tests; the others get the reconcile's [`Work`] (the status being built) and the cloud
/// [`Target`].
#[async_trait]
pub trait Reconciler: Tracked {
    /// The spec as validated: the typed cloud request(s), or what of them the status still
    /// needs.
    type Valid: Send + Sync;
    /// What [`Reconciler::observe`] read for the plan.
    type Seen: Send + Sync;
    /// One step of the apply path.
    type Step: Debug + Send + Sync;
    /// One step of the cloud cleanup.
    type CleanupStep: Debug + Send + Sync;
    /// Where its calls go: [`Target`] (the cloud), or [`NoCloud`].
    type Reach: Reach;

    /// Whether the kind has a deletion policy (`status.deletionPolicy` is resolved and
    /// reported); restores have none: they never delete what they restored.
    const DELETION_POLICY: bool = true;

    /// **load**: whether the next step must be planned on the latest version of the object
    /// (a step that starts cloud work, planned from a cache that lags behind our own write,
    /// could start it twice). The driver then reads the object and, if the cache lags,
    /// looks again shortly.
    fn needs_fresh(&self, status: &Self::Status) -> bool {
        let _ = status;
        false
    }

    /// **gate**: the object's work is over (a terminal phase with its ids recorded): the
    /// outcome that keeps it as it is, with no Secret read and no cloud call.
    fn at_rest(&self, status: &Self::Status, timing: &Timing) -> Option<Outcome> {
        let _ = (status, timing);
        None
    }

    /// **validate** (pure): the spec as far as `status` still needs it, or a message for
    /// `Stalled/InvalidSpec` that says what to change. Work already running is tracked
    /// whatever the spec says now.
    fn validate(&self, status: &Self::Status) -> std::result::Result<Self::Valid, String>;

    /// The outcome of a spec that does not validate (`message` says what to change). Default:
    /// `Stalled/InvalidSpec` ([`Work::invalid_spec`]); a schedule still reports its children
    /// and judges its RPO.
    async fn invalid(w: &mut Work<'_, Self>, ctx: &Context, message: String) -> Result<Outcome> {
        let _ = ctx;
        Ok(w.invalid_spec(message))
    }

    /// **observe**: what the plan needs from the cloud or the API server (describes, Secrets).
    /// `Err(outcome)` ends the reconcile with it (a cloud error: [`Work::cloud_error`]).
    async fn observe(
        w: &mut Work<'_, Self>,
        ctx: &Context,
        target: &Self::Reach,
        valid: &Self::Valid,
    ) -> Result<std::result::Result<Self::Seen, Outcome>>;

    /// **plan** (pure): the one step to take.
    fn plan(&self, status: &Self::Status, valid: &Self::Valid, seen: &Self::Seen) -> Self::Step;

    /// **act**: the step (at most one state-changing cloud call, plus the describes that
    /// observe it); the only writes it makes itself are checkpoints ([`Work::commit`]).
    async fn act(
        w: &mut Work<'_, Self>,
        ctx: &Context,
        target: &Self::Reach,
        act: Act<'_, Self>,
    ) -> Result<Outcome>;

    /// **status**: the kind's last word before the write (e.g. the RPO verdict). Default: the
    /// outcome as it is.
    fn conclude(w: &mut Work<'_, Self>, valid: &Self::Valid, outcome: Outcome) -> Outcome {
        let _ = (w, valid);
        outcome
    }

    /// The message of the `Adopted` condition, on an object that adopted cloud work.
    fn adopted(&self, status: &Self::Status) -> Option<String> {
        let _ = status;
        None
    }

    /// **plan_cleanup** (pure): what deleting the object comes to, from the orphan
    /// annotation, the deletion policy in effect (`Retain` when orphaned or observed only)
    /// and the status.
    fn plan_cleanup(
        &self,
        orphan: bool,
        policy: DeletionPolicy,
        status: &Self::Status,
    ) -> Cleanup<Self::CleanupStep>;

    /// The cloud cleanup, from `step`, until a step needs to wait or cleanup is done
    /// ([`Outcome::finished`]: the finalizer goes).
    async fn act_cleanup(
        w: &mut Work<'_, Self>,
        ctx: &Context,
        target: &Self::Reach,
        step: Self::CleanupStep,
    ) -> Result<Outcome>;
}

/// The controller futures of kind `K` (one per watched namespace) on the shared runtime.
pub fn controllers<K: Reconciler>(
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: &CancellationToken,
) -> Vec<BoxFuture<'static, ()>> {
    runtime::controllers::<K, _, _>(ctx, concurrency, shutdown, reconcile::<K>)
}

/// One reconcile of `obj`: pause, then the finalizer helper to [`apply`] or [`cleanup`].
pub async fn reconcile<K: Reconciler>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action> {
    work::reconcile(obj, ctx, apply::<K>, cleanup::<K>).await
}

/// The apply path of every kind.
pub async fn apply<K: Reconciler>(obj: Arc<K>, ctx: &Context, api: &Api<K>) -> Result<Action> {
    let obj = obj.as_ref();
    // load
    let fresh_needed = obj.needs_fresh(obj.status().unwrap_or(&Default::default()));
    if fresh_needed && !runtime::is_fresh(obj, api).await? {
        tracing::debug!(
            kind = K::KIND,
            name = obj.name_any(),
            "cache lags: look again"
        );
        return Ok(Action::requeue(ctx.timing.poll_initial));
    }
    let mut w = Work::new(obj, ctx, api);
    if K::DELETION_POLICY {
        w.resolve_deletion_policy(ctx, false).await?;
    }
    // gate: nothing left to do
    if let Some(outcome) = obj.at_rest(&w.status, &ctx.timing) {
        tracing::debug!(kind = K::KIND, name = %w.name, "at rest");
        return work::finish(&mut w, ctx, outcome).await;
    }
    // validate
    let valid = match obj.validate(&w.status) {
        Ok(v) => v,
        Err(message) => {
            let outcome = K::invalid(&mut w, ctx, message).await?;
            return work::finish(&mut w, ctx, outcome).await;
        }
    };
    // An observed object is never acted on: no deadline (it would cancel or fail it).
    let timeout = obj.timeout().filter(|_| !obj.observe_only());
    let deadline = match w.deadline(timeout) {
        Ok(d) => d,
        Err(outcome) => return work::finish(&mut w, ctx, *outcome).await,
    };
    // gate: credentials
    let target = match K::Reach::for_apply(obj, ctx).await? {
        Ok(t) => t,
        Err(problem) => {
            let outcome = w.credentials_problem(&problem);
            return work::finish(&mut w, ctx, outcome).await;
        }
    };
    // observe, plan, act
    let outcome = match K::observe(&mut w, ctx, &target, &valid).await? {
        Err(outcome) => outcome,
        Ok(seen) => {
            let step = obj.plan(&w.status, &valid, &seen);
            tracing::debug!(kind = K::KIND, name = %w.name, ?step, "planned");
            let act = Act {
                valid: &valid,
                seen,
                step,
                deadline,
            };
            let outcome = K::act(&mut w, ctx, &target, act).await?;
            K::conclude(&mut w, &valid, outcome)
        }
    };
    // status
    if let Some(message) = obj.adopted(&w.status) {
        w.set_adopted(&message);
    }
    target.note(&mut w, ctx);
    work::finish(&mut w, ctx, outcome).await
}

/// The cleanup path of every kind (the object is being deleted; the finalizer goes when
/// cleanup is finished).
pub async fn cleanup<K: Reconciler>(obj: Arc<K>, ctx: &Context, api: &Api<K>) -> Result<Action> {
    let obj = obj.as_ref();
    let mut w = Work::new(obj, ctx, api);
    let orphan = orphan_on_delete(obj.meta().annotations.as_ref());
    let policy = if !K::DELETION_POLICY || orphan || obj.observe_only() {
        DeletionPolicy::Retain
    } else {
        w.resolve_deletion_policy(ctx, true).await?
    };
    let step = obj.plan_cleanup(orphan, policy, &w.status);
    tracing::debug!(kind = K::KIND, name = %w.name, ?step, "cleanup planned");
    let outcome = match step {
        Cleanup::LetGo(note) => work::let_go(note),
        Cleanup::Finished => Outcome::finished(),
        Cleanup::Act { step, cannot } => match K::Reach::for_cleanup(&mut w, ctx, &cannot).await? {
            Err(stalled) => stalled,
            Ok(target) => {
                let outcome = K::act_cleanup(&mut w, ctx, &target, step).await?;
                target.note(&mut w, ctx);
                outcome
            }
        },
    };
    work::finish(&mut w, ctx, outcome).await
}
