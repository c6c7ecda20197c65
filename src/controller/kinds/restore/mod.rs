//! The restore kinds (`RdsRestore`, `HbrRestoreJob`, `DbsRestoreTask`): one driver, one shape.
//!
//! Every restore kind implements [`RestoreKind`] — what is specific to its product — and this
//! module runs the same named steps for all of them (`docs/restore.md`):
//!
//! 1. **load / gate**: pause ([`work::reconcile`]), credentials ([`kind::target`]).
//! 2. **prepare** ([`RestoreKind::prepare`]): the pure spec check, the references resolved
//!    (a `…Ref` must name a succeeded backup object), then read-only cloud checks (the source
//!    exists, belongs to the named instance and succeeded; a point in time lies in the window
//!    the cloud reports; the target exists and fits; `overwrite.confirmTargetId` names it).
//!    A failure is `Stalled` with what to change, and nothing that changes state was called.
//! 3. **plan**: the request and its [`RestorePlan`] (parameters without secrets) go to
//!    `status.plan`; with `spec.dryRun` the object ends `Planned` there.
//! 4. **act**, exactly once: restores on one target are serialised (an in-flight restore of
//!    another object on the same target waits), the intent (`pendingCreate`) is written before
//!    the call, and with an intent on record the restore is first looked for
//!    ([`RestoreKind::find`]: by token, tag, name, or snapshot + target + time) and only sent
//!    again when the cloud proves it is not there.
//! 5. **track** ([`RestoreKind::observe`]) to a terminal phase; the status write and the events
//!    are the shared [`Work`] commit's.
//!
//! Deleting a restore never deletes restored data: a running restore is cancelled where the API
//! has a cancel ([`RestoreKind::cancel`]), and otherwise an event says it runs on.
//!
//! Files: this one (the trait, its types and the [`Reconciler`] impl every restore kind gets),
//! `start` (dry run, serialisation, intent, find or send), `track`, `cleanup`, `peers` (the
//! other objects of the kind: claims, who goes first), `plan` (pure), and one file per kind.

mod cleanup;
pub mod dbs;
pub mod hbr;
mod peers;
pub mod plan;
pub mod rds;
mod start;
mod track;

use std::collections::BTreeSet;

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{Api, ResourceExt};

use crate::cloud::{CloudError, Target};
use crate::controller::operator::context::Context;
use crate::controller::reconcile::backoff::Timing;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind::{self, Tracked, TrackedStatus};
use crate::controller::reconcile::pipeline::{Act, Cleanup, Reconciler};
use crate::controller::reconcile::work::{self, Next, Outcome};
use crate::crd::{
    DeletionPolicy, PendingCreate, RestoreCommon, RestorePhase, RestorePlan, RestoreStatus,
};

pub use plan::reasons;

/// The shared restore cycle's view of an object (see [`work::Work`]).
pub type Work<'a, K> = work::Work<'a, K>;

/// What the read-only checks of [`RestoreKind::prepare`] came to.
#[derive(Debug)]
pub enum Check<T> {
    /// Everything checked out.
    Ready(T),
    /// Only the user can fix this (spec, source, target): `Stalled` with `message`.
    Refused {
        /// Fixed reason (condition and event).
        reason: &'static str,
        /// What is wrong and what to change.
        message: String,
    },
    /// Not yet possible (a referenced backup still runs): `Reconciling`, looked at again.
    Wait {
        /// Fixed reason.
        reason: &'static str,
        /// What is awaited.
        message: String,
    },
    /// A read-only check could not be made (throttling, a 5xx, refused credentials): the
    /// shared cloud-error handling applies (retry with backoff, or `Stalled`).
    Cloud(CloudError),
}

/// Unwraps a [`Check::Ready`] inside a function returning `Result<Check<_>>`; any other
/// verdict is returned as it is.
macro_rules! ready {
    ($check:expr) => {
        match $check {
            $crate::controller::kinds::restore::Check::Ready(v) => v,
            $crate::controller::kinds::restore::Check::Refused { reason, message } => {
                return Ok($crate::controller::kinds::restore::Check::Refused { reason, message });
            }
            $crate::controller::kinds::restore::Check::Wait { reason, message } => {
                return Ok($crate::controller::kinds::restore::Check::Wait { reason, message });
            }
            $crate::controller::kinds::restore::Check::Cloud(e) => {
                return Ok($crate::controller::kinds::restore::Check::Cloud(e));
            }
        }
    };
}
pub(crate) use ready;

impl<T> Check<T> {
    /// A refusal.
    pub fn refused(reason: &'static str, message: impl Into<String>) -> Self {
        Check::Refused {
            reason,
            message: message.into(),
        }
    }

    /// `Wait/SourceNotReady`: the referenced backup (`kind` `name`) has not succeeded yet;
    /// `phase`: where it stands (none yet: `Pending`).
    pub fn source_not_ready(kind: &str, name: &str, phase: Option<&str>) -> Self {
        Check::Wait {
            reason: reasons::SOURCE_NOT_READY,
            message: format!(
                "waiting for {kind} {name} to succeed (phase {})",
                phase.unwrap_or("Pending")
            ),
        }
    }
}

/// A validated restore: the request it sends and what the status shows of it.
#[derive(Debug, Clone)]
pub struct Prepared<R> {
    /// The request of the state-changing call.
    pub request: R,
    /// Operation, target and parameters (secrets left out): `status.plan`.
    pub plan: RestorePlan,
    /// The source in words (`status.source`), e.g. `rm-1 backup 42`.
    pub source: String,
    /// What the restore writes into (`status.targetId`).
    pub target_id: String,
    /// Whether restores into `target_id` must run one at a time (everything that writes
    /// into an existing target; not a clone, which makes a new one).
    pub exclusive: bool,
}

/// A restore the cloud knows: its ids (and, when the answer says, its state).
#[derive(Debug, Clone, Default)]
pub struct Started {
    /// `status.restoreId`.
    pub restore_id: String,
    /// `status.dbInstanceId` (an RDS clone).
    pub db_instance_id: Option<String>,
    /// `status.orderId` (an RDS clone).
    pub order_id: Option<String>,
}

/// What looking for a restore an earlier attempt may have started found.
#[derive(Debug)]
pub enum Lookup {
    /// Exactly this one.
    Found(Started),
    /// The cloud proves there is none: the call is sent (again).
    NotFound,
    /// More than one candidate (someone else restores to the same target at the same time):
    /// nothing is adopted or sent; the message lists them.
    Ambiguous(String),
}

/// The state of a restore in the cloud.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// Still running (`progress` in percent when the cloud says).
    Running {
        /// Raw cloud status.
        cloud_status: String,
        /// Percent done.
        progress: Option<i32>,
    },
    /// Ended, with everything restored.
    Succeeded {
        /// Raw cloud status.
        cloud_status: String,
    },
    /// Ended with part of the data restored.
    Partial {
        /// Raw cloud status.
        cloud_status: String,
        /// The cloud's reason.
        message: String,
    },
    /// Ended without the data (failed or refused by the cloud's pre-check).
    Failed {
        /// Raw cloud status.
        cloud_status: String,
        /// The cloud's reason.
        message: String,
    },
    /// Cancelled.
    Cancelled {
        /// Raw cloud status.
        cloud_status: String,
    },
    /// Not listed (right after the start the listing may lag; later: gone).
    Missing,
}

/// What a cancel on deletion did.
#[derive(Debug)]
pub enum Cancel {
    /// The cloud accepted the cancel (`message` says what was called).
    Requested(String),
    /// The restore had ended already.
    AlreadyEnded,
    /// The API has no way to stop it: it runs on (`message` says so and why).
    NotPossible(String),
}

/// The spec fields every restore kind has ([`RestoreCommon`]: `credentialsRef`, `dryRun`),
/// implemented by `restore_kind!`.
pub trait RestoreSpec {
    /// `spec.credentialsRef` and `spec.dryRun`.
    fn common(&self) -> &RestoreCommon;

    /// `spec.dryRun`.
    fn dry_run(&self) -> bool {
        self.common().dry_run
    }
}

/// A restore kind: what is specific to its product. The driver in this module does the rest.
#[async_trait]
pub trait RestoreKind: Tracked<Status = RestoreStatus> + RestoreSpec {
    /// The request of the state-changing call.
    type Request: Send + Sync;

    /// Validate (pure), resolve references, run the read-only cloud checks; build the request
    /// and its plan. Calls nothing that changes state.
    async fn prepare(
        &self,
        ctx: &Context,
        target: &Target,
        uid: &str,
    ) -> Result<Check<Prepared<Self::Request>>>;

    /// Looks for the restore an earlier attempt of this object started (`plan` and `intent` are
    /// on record in status); `claimed`: the restore ids other objects of the kind hold, never
    /// this object's.
    async fn find(
        &self,
        ctx: &Context,
        target: &Target,
        plan: &RestorePlan,
        intent: &PendingCreate,
        claimed: &BTreeSet<String>,
    ) -> std::result::Result<Lookup, CloudError>;

    /// Sends the restore. `Ok(None)`: accepted without an id (RDS `RestoreTable`); the next
    /// visit finds it with [`RestoreKind::find`].
    async fn start(
        &self,
        ctx: &Context,
        target: &Target,
        prepared: &Prepared<Self::Request>,
        intent: &PendingCreate,
    ) -> std::result::Result<Option<Started>, CloudError>;

    /// Observes the restore `id` (`status.restoreId`).
    async fn observe(
        &self,
        ctx: &Context,
        target: &Target,
        id: &str,
        status: &RestoreStatus,
    ) -> std::result::Result<Observed, CloudError>;

    /// Stops the running restore `id` on deletion, where the API allows it.
    async fn cancel(
        &self,
        ctx: &Context,
        target: &Target,
        id: &str,
        status: &RestoreStatus,
    ) -> std::result::Result<Cancel, CloudError>;
}

impl TrackedStatus for RestoreStatus {
    type Phase = RestorePhase;
    const FAILED: Option<RestorePhase> = Some(RestorePhase::Failed);
    const DELETING: Option<RestorePhase> = Some(RestorePhase::Deleting);
    kind::status_core!(RestorePhase);
    fn last_request_id_mut(&mut self) -> Option<&mut Option<String>> {
        Some(&mut self.last_request_id)
    }
    fn pending_create_mut(&mut self) -> Option<&mut Option<PendingCreate>> {
        Some(&mut self.pending_create)
    }
    fn deletion_policy_mut(
        &mut self,
    ) -> Option<(&mut Option<DeletionPolicy>, &mut Option<String>)> {
        None
    }
    fn clear_progress(&mut self) {
        self.progress = None;
        self.cloud_status = None;
    }
    fn settled_health(&self) -> Option<Health> {
        plan::settled_health(self)
    }
    fn completion_time_mut(&mut self) -> Option<&mut Option<Time>> {
        Some(&mut self.completion_time)
    }
}

/// Implements [`kind::ManagedResource`] and [`Tracked`] for a restore kind whose spec has
/// `region` and `credentialsRef` (`extra_secret`: a `fn(&Kind) -> Option<&str>` naming another
/// Secret it reads).
macro_rules! restore_kind {
    ($kind:ty, $name:literal $(, extra_secret = $extra:expr)?) => {
        impl $crate::controller::reconcile::kind::ManagedResource for $kind {
            const KIND: &'static str = $name;
            fn credentials_secret(&self) -> Option<&str> {
                self.spec.common.credentials_ref.as_ref().map(|r| r.name.as_str())
            }
            $(
            fn watched_secrets(&self) -> Vec<&str> {
                self.credentials_secret().into_iter().chain($extra(self)).collect()
            }
            )?
            fn last_success(&self) -> Option<jiff::Timestamp> {
                let st = self.status.as_ref()?;
                (st.phase == Some($crate::crd::RestorePhase::Succeeded))
                    .then(|| st.completion_time.as_ref().map(|t| t.0))
                    .flatten()
            }
            fn region(&self) -> &str {
                &self.spec.region
            }
        }
        impl $crate::controller::kinds::restore::RestoreSpec for $kind {
            fn common(&self) -> &$crate::crd::RestoreCommon {
                &self.spec.common
            }
        }
        impl $crate::controller::reconcile::kind::Tracked for $kind {
            type Status = $crate::crd::RestoreStatus;
            fn status(&self) -> Option<&$crate::crd::RestoreStatus> {
                self.status.as_ref()
            }
            fn ended(&self, status: &$crate::crd::RestoreStatus) -> bool {
                status.phase.is_some_and(|p| p.is_terminal())
            }
        }
    };
}
pub(crate) use restore_kind;

/// What a restore observes before its plan.
pub enum Seen<R> {
    /// A restore is recorded (`status.restoreId`, the id): it is tracked.
    Running(String),
    /// What [`RestoreKind::prepare`] came to: the spec checked, the references resolved, the
    /// read-only cloud checks run.
    Prepared(Check<Prepared<R>>),
}

/// One step of a restore's apply path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Observe the recorded restore.
    Track,
    /// The spec does not check out: `Stalled` (an intent on record is settled first).
    Refused,
    /// Something outside must happen first: `Reconciling`.
    Wait,
    /// A read-only check hit a cloud error.
    CloudError,
    /// `spec.dryRun`: record the plan, end `Planned`.
    DryRun,
    /// Start the restore, or recover the one an earlier attempt started.
    Start,
}

/// The plan (pure) of a restore, from what [`Reconciler::observe`] saw.
pub fn plan_step<R>(dry_run: bool, seen: &Seen<R>) -> Step {
    match seen {
        Seen::Running(_) => Step::Track,
        Seen::Prepared(Check::Refused { .. }) => Step::Refused,
        Seen::Prepared(Check::Wait { .. }) => Step::Wait,
        Seen::Prepared(Check::Cloud(_)) => Step::CloudError,
        Seen::Prepared(Check::Ready(_)) if dry_run => Step::DryRun,
        Seen::Prepared(Check::Ready(_)) => Step::Start,
    }
}

/// Every restore kind runs through the one pipeline; the steps are this module's.
#[async_trait]
impl<K: RestoreKind> Reconciler for K {
    /// The spec's shape is the schema's (CEL); what needs references or the cloud is checked
    /// by [`RestoreKind::prepare`] in the observe step.
    type Valid = ();
    type Seen = Seen<K::Request>;
    type Step = Step;
    type CleanupStep = ();
    type Reach = Target;
    const DELETION_POLICY: bool = false;

    /// A restore is started only from the latest version of the object.
    fn needs_fresh(&self, status: &RestoreStatus) -> bool {
        status.restore_id.is_none() && !status.phase.is_some_and(RestorePhase::is_terminal)
    }

    fn at_rest(&self, status: &RestoreStatus, timing: &Timing) -> Option<Outcome> {
        status
            .phase
            .is_some_and(RestorePhase::is_terminal)
            .then(|| Outcome::fields(Next::After(timing.resync)))
    }

    fn validate(&self, _: &RestoreStatus) -> std::result::Result<(), String> {
        Ok(())
    }

    async fn observe(
        w: &mut Work<'_, K>,
        ctx: &Context,
        target: &Target,
        _: &(),
    ) -> Result<std::result::Result<Seen<K::Request>, Outcome>> {
        if let Some(id) = &w.status.restore_id {
            return Ok(Ok(Seen::Running(id.clone())));
        }
        let uid = kind::uid(w.obj)?;
        Ok(Ok(Seen::Prepared(w.obj.prepare(ctx, target, &uid).await?)))
    }

    fn plan(&self, _: &RestoreStatus, _: &(), seen: &Seen<K::Request>) -> Step {
        plan_step(self.dry_run(), seen)
    }

    async fn act(
        w: &mut Work<'_, K>,
        ctx: &Context,
        target: &Target,
        act: Act<'_, K>,
    ) -> Result<Outcome> {
        let check = match act.seen {
            Seen::Running(id) => return Ok(track::track(w, ctx, target, &id).await),
            Seen::Prepared(check) => check,
        };
        match check {
            Check::Ready(prepared) => start::begin(w, ctx, target, prepared).await,
            Check::Cloud(e) => Ok(w.cloud_error(e)),
            Check::Refused { reason, message } => {
                let outcome = w.stall(reason, message);
                start::settle_intent(w, ctx, target, outcome).await
            }
            Check::Wait { reason, message } => {
                let outcome =
                    Outcome::requeue(Health::progressing(reason, message), ctx.timing.wait);
                start::settle_intent(w, ctx, target, outcome).await
            }
        }
    }

    /// Deleting a restore never deletes restored data.
    fn plan_cleanup(&self, orphan: bool, _: DeletionPolicy, status: &RestoreStatus) -> Cleanup<()> {
        let running = status.restore_id.is_some() || status.pending_create.is_some();
        if orphan {
            Cleanup::LetGo("orphan-on-delete is set: a running restore was left alone")
        } else if !running || status.phase.is_some_and(RestorePhase::is_terminal) {
            Cleanup::LetGo("no restore is running; restored data is kept")
        } else {
            Cleanup::Act {
                step: (),
                cannot: "cancel the running restore".to_string(),
            }
        }
    }

    async fn act_cleanup(
        w: &mut Work<'_, K>,
        ctx: &Context,
        target: &Target,
        _: (),
    ) -> Result<Outcome> {
        Ok(cleanup::cancel_running(w, ctx, target).await)
    }
}

/// The backup object of kind `B` a restore's `field` (e.g. `source.backupRef`) names in the
/// restore's namespace; `Err` is the refusal when it does not exist.
pub(crate) async fn referenced<B, T>(
    obj: &impl ResourceExt,
    ctx: &Context,
    field: &str,
    name: &str,
) -> Result<std::result::Result<B, Check<T>>>
where
    B: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let ns = obj.namespace().ok_or(
        crate::controller::reconcile::error::Error::MissingObjectKey(".metadata.namespace"),
    )?;
    let api: Api<B> = Api::namespaced(ctx.client.clone(), &ns);
    Ok(api.get_opt(name).await?.ok_or_else(|| {
        Check::refused(
            reasons::SOURCE_NOT_FOUND,
            format!(
                "{field} names {} {ns}/{name} which does not exist; nothing was called",
                B::kind(&())
            ),
        )
    }))
}
