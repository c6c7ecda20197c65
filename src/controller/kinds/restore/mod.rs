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

pub mod dbs;
pub mod hbr;
pub mod plan;
pub mod rds;

use std::collections::BTreeSet;

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use crate::cloud::{CloudError, Target};
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::backoff::{Timing, poll_interval};
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind::{self, Tracked, TrackedStatus};
use crate::controller::reconcile::pipeline::{Act, Cleanup, Reconciler};
use crate::controller::reconcile::work::{self, Next, Outcome};
use crate::crd::{
    DeletionPolicy, PendingCreate, RestorePhase, RestorePlan, RestoreStatus, create_token,
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

/// A restore kind: what is specific to its product. The driver in this module does the rest.
#[async_trait]
pub trait RestoreKind: Tracked<Status = RestoreStatus> {
    /// The request of the state-changing call.
    type Request: Send + Sync;

    /// `spec.dryRun`.
    fn dry_run(&self) -> bool;

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

    /// Observes the restore `status.restoreId` names.
    async fn observe(
        &self,
        ctx: &Context,
        target: &Target,
        status: &RestoreStatus,
    ) -> std::result::Result<Observed, CloudError>;

    /// Stops a running restore on deletion, where the API allows it (default: it cannot).
    async fn cancel(
        &self,
        ctx: &Context,
        target: &Target,
        status: &RestoreStatus,
    ) -> std::result::Result<Cancel, CloudError>;
}

impl TrackedStatus for RestoreStatus {
    type Phase = RestorePhase;
    const FAILED: Option<RestorePhase> = Some(RestorePhase::Failed);
    const DELETING: Option<RestorePhase> = Some(RestorePhase::Deleting);
    fn phase(&self) -> Option<RestorePhase> {
        self.phase
    }
    fn phase_mut(&mut self) -> &mut Option<RestorePhase> {
        &mut self.phase
    }
    fn phase_name(phase: RestorePhase) -> &'static str {
        phase.as_str()
    }
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
    fn observed_generation_mut(&mut self) -> &mut Option<i64> {
        &mut self.observed_generation
    }
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
                self.spec.credentials_ref.as_ref().map(|r| r.name.as_str())
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
    /// A restore is recorded (`status.restoreId`): it is tracked.
    Running,
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
        Seen::Running => Step::Track,
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
        if w.status.restore_id.is_some() {
            return Ok(Ok(Seen::Running));
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
            Seen::Running => return Ok(track(w, ctx, target).await),
            Seen::Prepared(check) => check,
        };
        match check {
            Check::Ready(prepared) => begin(w, ctx, target, prepared).await,
            Check::Cloud(e) => Ok(w.cloud_error(e)),
            Check::Refused { reason, message } => {
                let outcome =
                    Outcome::requeue(Health::stalled(reason, message), ctx.timing.error_max);
                settle_intent(w, ctx, target, outcome).await
            }
            Check::Wait { reason, message } => {
                let outcome =
                    Outcome::requeue(Health::progressing(reason, message), ctx.timing.wait);
                settle_intent(w, ctx, target, outcome).await
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
        Ok(cancel_running(w, ctx, target).await)
    }
}

/// Records the plan, then ends `Planned` (a dry run) or starts or recovers the restore.
async fn begin<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    target: &Target,
    prepared: Prepared<K::Request>,
) -> Result<Outcome> {
    let obj = w.obj;
    w.status.plan = Some(prepared.plan.clone());
    w.status.source = Some(prepared.source.clone());
    w.status.target_id = Some(prepared.target_id.clone());
    if obj.dry_run() {
        w.status.phase = Some(RestorePhase::Planned);
        w.status.completion_time = Some(Time(jiff::Timestamp::now()));
        return Ok(Outcome::requeue(
            Health::ready(reasons::DRY_RUN, plan::dry_run_message(&prepared.plan)),
            ctx.timing.resync,
        ));
    }
    // One restore at a time per target (across this kind's objects), so that at most one
    // candidate can match after a crash.
    let _serial = ctx
        .locks
        .lock(&format!("restore/{}/{}", K::KIND, prepared.target_id))
        .await;
    let others = other_objects::<K>(ctx, obj).await?;
    let peer = match prepared.exclusive {
        true => peer_in_flight(obj, &others, &prepared.target_id),
        false => None,
    };
    if let Some(peer) = peer {
        return Ok(Outcome::requeue(
            Health::progressing(
                reasons::WAITING_FOR_PEER,
                format!(
                    "waiting for {} {peer} to finish its restore into {} first (restores into \
                     one target run one at a time)",
                    K::KIND,
                    prepared.target_id
                ),
            ),
            ctx.timing.wait,
        ));
    }
    match w.status.pending_create.clone() {
        Some(intent) => match obj
            .find(ctx, target, &prepared.plan, &intent, &claimed(&others))
            .await
        {
            Ok(Lookup::Found(started)) => Ok(record_started(w, ctx, started, true)),
            Ok(Lookup::Ambiguous(message)) => Ok(Outcome::requeue(
                Health::stalled(reasons::OUTCOME_UNKNOWN, message),
                ctx.timing.error_max,
            )),
            Ok(Lookup::NotFound) => send(w, ctx, target, &prepared, &intent).await,
            Err(e) => Ok(w.cloud_error(e)),
        },
        None => {
            let uid = kind::uid(obj)?;
            let intent = PendingCreate {
                token: create_token(&uid, obj.meta().generation),
                started_at: Time(jiff::Timestamp::now()),
            };
            w.status.pending_create = Some(intent.clone());
            w.status.phase = Some(RestorePhase::Starting);
            w.commit(&Health::progressing(
                reasons::STARTING,
                format!(
                    "starting {} on {}",
                    prepared.plan.operation, prepared.target_id
                ),
            ))
            .await?;
            send(w, ctx, target, &prepared, &intent).await
        }
    }
}

/// The spec no longer checks out (`outcome`) while an intent is on record (a restore may have
/// started before a crash): the evidence decides, so that the object never holds up the
/// restores of its target on a guess. A restore found is recorded and tracked; none found
/// clears the intent (nothing runs) and `outcome` stands.
async fn settle_intent<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    target: &Target,
    outcome: Outcome,
) -> Result<Outcome> {
    let (Some(intent), Some(plan)) = (w.status.pending_create.clone(), w.status.plan.clone())
    else {
        return Ok(outcome);
    };
    let others = other_objects::<K>(ctx, w.obj).await?;
    Ok(
        match w
            .obj
            .find(ctx, target, &plan, &intent, &claimed(&others))
            .await
        {
            Ok(Lookup::Found(started)) => record_started(w, ctx, started, true),
            Ok(Lookup::NotFound) => {
                w.status.pending_create = None;
                w.status.phase = Some(RestorePhase::Pending);
                outcome
            }
            Ok(Lookup::Ambiguous(message)) => Outcome::requeue(
                Health::stalled(reasons::OUTCOME_UNKNOWN, message),
                ctx.timing.error_max,
            ),
            Err(e) => w.cloud_error(e),
        },
    )
}

/// Sends the restore; the intent stays until the cloud's id is recorded.
async fn send<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    target: &Target,
    prepared: &Prepared<K::Request>,
    intent: &PendingCreate,
) -> Result<Outcome> {
    Ok(match w.obj.start(ctx, target, prepared, intent).await {
        Ok(Some(started)) => record_started(w, ctx, started, false),
        Ok(None) => Outcome::requeue(
            Health::progressing(
                reasons::STARTING,
                format!(
                    "{} accepted; looking up the task it started",
                    prepared.plan.operation
                ),
            ),
            ctx.timing.poll_initial,
        ),
        Err(e) if work::create_refused_for_good(&e) => w.fail_create(
            e,
            "the spec cannot be changed: create a new restore object with a corrected spec",
        ),
        // Any other error leaves the intent: the next visit looks for the restore first.
        Err(e) => w.cloud_error(e),
    })
}

/// Records the cloud's ids (the intent is done) and tracks the restore from the next visit.
fn record_started<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    started: Started,
    found: bool,
) -> Outcome {
    let id = started.restore_id.clone();
    w.status.restore_id = Some(started.restore_id);
    if started.db_instance_id.is_some() {
        w.status.target_id.clone_from(&started.db_instance_id);
        w.status.db_instance_id = started.db_instance_id;
    }
    if started.order_id.is_some() {
        w.status.order_id = started.order_id;
    }
    w.status.pending_create = None;
    w.status.phase = Some(RestorePhase::Restoring);
    w.status.progress = Some(0);
    w.status.start_time = Some(Time(jiff::Timestamp::now()));
    let (reason, message) = if found {
        (
            reasons::FOUND,
            format!("found restore {id}, started before its answer was recorded; tracking it"),
        )
    } else {
        (reasons::RUNNING, format!("restore {id} started"))
    };
    Outcome::requeue(
        Health::progressing(reason, message),
        ctx.timing.poll_initial,
    )
}

/// Observes the restore and records what it came to.
async fn track<K: RestoreKind>(w: &mut Work<'_, K>, ctx: &Context, target: &Target) -> Outcome {
    let observed = match w.obj.observe(ctx, target, &w.status).await {
        Ok(o) => o,
        Err(e) => return w.cloud_error(e),
    };
    let now = jiff::Timestamp::now();
    let started = w.status.start_time.as_ref().map(|t| t.0).unwrap_or(now);
    let elapsed = now.duration_since(started).unsigned_abs();
    let (phase, health) = plan::settle(&mut w.status, observed, elapsed);
    w.status.phase = Some(phase);
    if phase.is_terminal() {
        w.status.completion_time.get_or_insert(Time(now));
        return Outcome::requeue(health, ctx.timing.resync);
    }
    Outcome::requeue(health, poll_interval(elapsed, &ctx.timing))
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

/// The other live objects of kind `K`, read fresh (the cache may lag behind their writes).
async fn other_objects<K: RestoreKind>(ctx: &Context, obj: &K) -> Result<Vec<K>> {
    let me = obj.meta().uid.clone();
    Ok(runtime::list_fresh::<K>(ctx)
        .await?
        .into_iter()
        .filter(|p| p.meta().uid != me)
        .collect())
}

/// The restore ids other objects hold: never this object's restore.
fn claimed<K: RestoreKind>(others: &[K]) -> BTreeSet<String> {
    others
        .iter()
        .filter_map(|o| o.status().and_then(|s| s.restore_id.clone()))
        .collect()
}

/// Another object of kind `K` restores into `target_id` (an intent, or a restore that has not
/// ended) and goes first: ours waits, so that a lookup never sees two of ours.
fn peer_in_flight<K: RestoreKind>(obj: &K, others: &[K], target_id: &str) -> Option<String> {
    let ns = obj.namespace();
    others
        .iter()
        .filter(|p| p.meta().deletion_timestamp.is_none())
        .filter(|p| plan::in_flight_on(p.status(), target_id))
        // A running restore, or the older intent, goes first; a tie goes to the lower name.
        .find(|p| plan::goes_first(p.status(), obj.status(), &p.name_any(), &obj.name_any()))
        .map(|p| {
            let pns = p.namespace();
            if pns == ns {
                p.name_any()
            } else {
                format!("{}/{}", pns.unwrap_or_default(), p.name_any())
            }
        })
}

async fn cancel_running<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    target: &Target,
) -> Outcome {
    if w.status.restore_id.is_none() {
        // Only the intent is on record: find the restore, if it started.
        let (Some(plan), Some(intent)) = (w.status.plan.clone(), w.status.pending_create.clone())
        else {
            return work::let_go("the restore was never started");
        };
        let others = match other_objects::<K>(ctx, w.obj).await {
            Ok(o) => o,
            Err(e) => return Outcome::retry(Health::progressing("Cleanup", e.to_string()), e),
        };
        match w
            .obj
            .find(ctx, target, &plan, &intent, &claimed(&others))
            .await
        {
            Ok(Lookup::Found(s)) => w.status.restore_id = Some(s.restore_id),
            Ok(Lookup::NotFound) => return work::let_go("the restore was never started"),
            Ok(Lookup::Ambiguous(m)) => {
                return Outcome::finished().note(
                    EventType::Warning,
                    reasons::OUTCOME_UNKNOWN,
                    "Deleting",
                    format!("{m}; nothing was cancelled"),
                );
            }
            Err(e) => {
                return w.cloud_error(e).or_retry(Next::backoff("Cleanup"));
            }
        }
    }
    match w.obj.cancel(ctx, target, &w.status).await {
        Ok(Cancel::Requested(message)) => {
            Outcome::finished().note(EventType::Normal, reasons::CANCELLED, "Deleting", message)
        }
        Ok(Cancel::AlreadyEnded) => work::let_go("the restore had ended; restored data is kept"),
        Ok(Cancel::NotPossible(message)) => {
            Outcome::finished().note(EventType::Warning, reasons::RUNS_ON, "Deleting", message)
        }
        Err(e) => w.cloud_error(e).or_retry(Next::backoff("Cleanup")),
    }
}
