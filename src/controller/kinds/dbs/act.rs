//! **act**: one [`Step`], dispatched to its file, with what it needs from the API server
//! loaded first ([`Loaded`]).

use std::collections::HashSet;

use super::Work;
use super::configure::{self, Push};
use super::create;
use super::lookup::{claimed_plans, find_own_plan};
use super::observe::observe;
use super::plan::{self, DesiredPlan, Step};
use super::secret::{PasswordRead, password};
use crate::cloud::DbsApi;
use crate::cloud::api::dbs::BackupPlanDetail;
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::adoption;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind;
use crate::controller::reconcile::times;
use crate::controller::reconcile::work::{Next, Outcome};
use crate::crd::{DbsBackupPlan, DbsBackupPlanStatus};

impl Work<'_> {
    /// Records the fingerprint of the configuration just pushed and the version of the password
    /// Secret its password came from (`None` removes it: no password was sent).
    pub(super) async fn set_applied(
        &self,
        fingerprint: &str,
        password_version: Option<&str>,
    ) -> Result<()> {
        self.annotate(serde_json::json!({
            plan::ANNOTATION_APPLIED_CONFIG: fingerprint,
            plan::ANNOTATION_APPLIED_PASSWORD: password_version,
        }))
        .await
    }
}

/// What [`load`] loaded from the API server for the act.
pub(super) struct Loaded {
    /// The source password (for the calls that carry it).
    pub(super) password: PasswordRead,
    /// The plans other objects hold (for [`Step::Create`]).
    pub(super) claimed: HashSet<String>,
    /// The version of the password Secret now (for an existing plan).
    pub(super) current_password: Option<String>,
    /// For [`Step::AdoptExisting`]: the other object that holds the plan, if any.
    pub(super) holder: Option<adoption::Claim>,
}

/// What `step` needs from the API server besides the object: the password for the calls that
/// carry it, the other objects' claims to recover an unknown create or to adopt a plan.
pub(super) async fn load(
    obj: &DbsBackupPlan,
    ctx: &Context,
    desired: &DesiredPlan,
    step: &Step,
    current_password: Option<String>,
) -> Result<Loaded> {
    Ok(Loaded {
        password: match step {
            Step::AdoptExisting { .. } if desired.observe_only => Ok(None),
            Step::RecordIntent
            | Step::AdoptExisting { .. }
            | Step::Create { .. }
            | Step::Configure { .. }
            | Step::RotatePassword { .. } => password(obj, desired, ctx).await?,
            _ => Ok(None),
        },
        claimed: match step {
            Step::Create { .. } => claimed_plans(obj, ctx).await?,
            _ => HashSet::new(),
        },
        current_password,
        holder: match step {
            // The claims of the other objects, read fresh (the cache may lag behind theirs).
            Step::AdoptExisting { plan_id } => {
                let all = runtime::list_fresh::<DbsBackupPlan>(ctx).await?;
                plan::adoption_holder(&kind::uid(obj)?, plan_id, &all)
            }
            _ => None,
        },
    })
}

/// Takes one step; the outcome is committed by [`work::finish`](crate::controller::reconcile::work::finish).
/// The writes before it are checkpoints that must be durable before or right after a cloud
/// call: the intent, and the applied-configuration annotation after a push.
pub(super) async fn act(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    step: Step,
    desired: &DesiredPlan,
    observed: Option<&BackupPlanDetail>,
    loaded: Loaded,
) -> Result<Outcome> {
    let Loaded {
        password,
        claimed,
        current_password,
        holder,
    } = loaded;
    Ok(match step {
        Step::RecordIntent => create::record_intent_and_create(w, dbs, desired, password).await?,
        Step::AdoptExisting { plan_id } => {
            create::adopt_existing(w, dbs, desired, &plan_id, holder, password).await?
        }
        Step::Create { token } => {
            // The outcome of an earlier create is unknown (crash, lost answer): look for the
            // plan first; re-sending the same ClientToken is the fallback.
            match find_own_plan(w, dbs, desired, &claimed).await {
                Ok(Some(found)) => create::adopt(w, &found),
                Ok(None) => create::create(w, dbs, desired, &token, password).await?,
                Err(e) => w.cloud_error(e),
            }
        }
        Step::AwaitSpecChange => Outcome::fields(Next::After(w.timing.resync)),
        Step::Configure { plan_id, drift } => {
            let push = Push::Spec(drift);
            configure::configure(w, dbs, desired, &plan_id, push, observed, password).await?
        }
        Step::RotatePassword { plan_id } => {
            let push = Push::Password;
            configure::configure(w, dbs, desired, &plan_id, push, observed, password).await?
        }
        Step::RecordPasswordVersion => {
            if let Some(v) = &current_password {
                w.annotate(serde_json::json!({ plan::ANNOTATION_APPLIED_PASSWORD: v }))
                    .await?;
            }
            Outcome::fields(Next::After(w.timing.poll_initial))
        }
        Step::Rename { plan_id, drift } => {
            configure::rename(w, dbs, desired, &plan_id, drift, observed).await
        }
        Step::Stop { plan_id } => configure::stop(w, dbs, &plan_id, observed).await,
        Step::Start { plan_id } => configure::start(w, dbs, &plan_id, observed).await,
        Step::Observe { plan_id } => observe(w, dbs, &plan_id, desired, observed).await,
    })
}

/// Records the raw cloud fields of an observed plan in status.
pub(super) fn record_observed(status: &mut DbsBackupPlanStatus, p: &BackupPlanDetail) {
    status.cloud_status.clone_from(&p.backup_plan_status);
    status.cloud_message = p.err_message.clone().filter(|m| !m.trim().is_empty());
    if let Some(t) = times::from_unix_ms(p.backup_plan_create_time) {
        status.create_time = Some(t);
    }
}

/// Status after a successful push (rename/stop/start/configure): observe again soon.
pub(super) fn after_push(
    w: &mut Work<'_>,
    observed: Option<&BackupPlanDetail>,
    health: Health,
) -> Outcome {
    if let Some(p) = observed {
        record_observed(&mut w.status, p);
        w.status.phase = Some(plan::observed_health(p, w.obj.spec.suspend).0);
    }
    Outcome::requeue(health, w.timing.poll_initial)
}
