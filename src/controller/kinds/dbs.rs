//! The `DbsBackupPlan` controller: a long-lived Database Backup (DBS) plan, created exactly once,
//! kept in line with the spec, paused/resumed with `suspend`, and released per
//! `deletionPolicy`.
//!
//! Reconcile is `load → validate → observe → plan → act → status` (`docs/architecture.md#one-reconcile`):
//!
//! * **validate** ([`plan::validate`], pure): spec → [`plan::DesiredPlan`] (rendered request
//!   parts), or `Stalled/InvalidSpec`.
//! * **observe**: `DescribeBackupPlanList(BackupPlanId)` (and `DescribeFullBackupList` for the
//!   latest full backup set) once the plan exists. Reconciles triggered by the operator's own
//!   writes do not poll again before the scheduled time (runtime requeue gate), and a reconcile
//!   acts only on the latest version of the object (never on a lagging cache).
//! * **plan** ([`plan::plan`], pure): one [`plan::Step`].
//! * **act**: at most one mutating call (`CreateAndStartBackupPlan`, `ConfigureBackupPlan`,
//!   `ModifyBackupPlanName`, `StopBackupPlan`, `StartBackupPlan`). The source password is read
//!   from `source.passwordSecretRef` only for the calls that carry it.
//! * **status**: server-side apply, only when it changed; an event on every transition.
//!
//! # Exactly once
//!
//! Before the first `CreateAndStartBackupPlan`, status records `pendingCreate {token}`; the
//! token (derived from the UID and generation) is sent as `ClientToken`, so a retry after a
//! crash returns the same plan instead of buying a second one.
//!
//! # Spec changes and drift
//!
//! The annotation [`plan::ANNOTATION_APPLIED_CONFIG`] holds the fingerprint of the configuration
//! last pushed. A changed fingerprint is pushed with `ConfigureBackupPlan`; a changed name alone
//! with `ModifyBackupPlanName`; `suspend` with `StopBackupPlan(ALL)`/`StartBackupPlan`.
//! `status.observedGeneration` moves to the new generation once it is pushed. A steady plan is
//! re-read every `resync` interval and compared with the spec; a difference is reported
//! (`Reconciling` reason `DriftDetected` plus a Warning event) and corrected with
//! `ConfigureBackupPlan`.
//!
//! # Password rotation
//!
//! [`plan::ANNOTATION_APPLIED_PASSWORD`] records the version (`uid/resourceVersion`) of the
//! password Secret whose value was last pushed — never the password or a hash of it. The
//! password Secret is watched; when its version differs (changed, recreated, deleted) and the
//! plan takes a configuration (`running`, `pause`, `stop`), the configuration is pushed once with
//! `ConfigureBackupPlan` (event `PasswordRotated`). A missing Secret or key is `Stalled`.
//!
//! # Deletion
//!
//! The orphan annotation and `Retain` let go without cloud calls; `Delete` releases the plan
//! (`ReleaseBackupPlan`; `InvalidJobId`/not found = already gone).

pub mod plan;

use std::collections::HashSet;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret as KubeSecret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use self::plan::{CleanupStep, DesiredPlan, PlanInput, Step, reasons};
use crate::cloud::api::dbs::{
    BackupPlanDetail, DescribeBackupPlanListRequest, DescribeFullBackupListRequest,
    ModifyBackupPlanNameRequest, ReleaseBackupPlanRequest, StartBackupPlanRequest,
    StopBackupPlanRequest,
};
use crate::cloud::{CloudError, DbsApi, ErrorClass, Secret, Target};
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::adoption;
use crate::controller::reconcile::backoff::poll_interval;
use crate::controller::reconcile::conditions::{self, Health};
use crate::controller::reconcile::error::{Error, Result};
use crate::controller::reconcile::kind::{self, ManagedResource};
use crate::controller::reconcile::pipeline::{Act, Cleanup, Reconciler};
use crate::controller::reconcile::times;
use crate::controller::reconcile::work::{self, Next, Outcome, Publish};
use crate::crd::{
    CONDITION_RPO_MET, DbsBackupPlan, DbsBackupPlanPhase, DbsBackupPlanStatus, PendingCreate,
    create_token,
};

/// Kind name used in metrics and logs.
pub const KIND: &str = "DbsBackupPlan";

impl ManagedResource for DbsBackupPlan {
    const KIND: &'static str = KIND;

    fn credentials_secret(&self) -> Option<&str> {
        self.spec.credentials_ref.as_ref().map(|r| r.name.as_str())
    }

    fn watched_secrets(&self) -> Vec<&str> {
        let password = self
            .spec
            .source
            .password_secret_ref
            .as_ref()
            .map(|r| r.name.as_str());
        self.credentials_secret()
            .into_iter()
            .chain(password)
            .collect()
    }

    fn last_success(&self) -> Option<jiff::Timestamp> {
        self.status
            .as_ref()?
            .last_successful_backup_time
            .as_ref()
            .map(|t| t.0)
    }

    fn region(&self) -> &str {
        &self.spec.region
    }

    fn rpo(&self) -> Option<&str> {
        self.spec.rpo.as_deref()
    }

    fn deletion_policy(&self) -> Option<crate::crd::DeletionPolicy> {
        self.spec.deletion_policy
    }

    fn observe_only(&self) -> bool {
        self.spec.management_policy.is_observe_only()
    }
}

kind::tracked!(
    DbsBackupPlan,
    crate::crd::DbsBackupPlanStatus,
    DbsBackupPlanPhase,
    settled = plan::settled_health
);

type Work<'a> = work::Work<'a, DbsBackupPlan>;

impl Work<'_> {
    /// Records the fingerprint of the configuration just pushed and the version of the password
    /// Secret its password came from (`None` removes it: no password was sent).
    async fn set_applied(&self, fingerprint: &str, password_version: Option<&str>) -> Result<()> {
        self.annotate(serde_json::json!({
            plan::ANNOTATION_APPLIED_CONFIG: fingerprint,
            plan::ANNOTATION_APPLIED_PASSWORD: password_version,
        }))
        .await
    }
}

/// The source password read for a call, and the version of the Secret it came from.
#[derive(Debug)]
struct Password {
    value: Secret,
    version: String,
}

/// The source password as loaded for an act: absent (none configured), usable, or a user
/// problem (→ `Stalled`).
type PasswordRead = std::result::Result<Option<Password>, plan::PasswordProblem>;

/// Reads the password Secret named by the spec (`None`: it does not exist).
async fn password_secret(
    obj: &DbsBackupPlan,
    r: &crate::crd::SecretKeyRef,
    ctx: &Context,
) -> Result<Option<KubeSecret>> {
    let ns = obj
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let api: Api<KubeSecret> = Api::namespaced(ctx.client.clone(), &ns);
    Ok(api.get_opt(&r.name).await?)
}

/// Reads the source password (only for the calls that carry it).
async fn password(
    obj: &DbsBackupPlan,
    desired: &DesiredPlan,
    ctx: &Context,
) -> Result<PasswordRead> {
    let Some(r) = desired.config.password_ref.as_ref() else {
        return Ok(Ok(None));
    };
    let ns = obj
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let secret = password_secret(obj, r, ctx).await?;
    Ok(
        plan::password_from_secret(&ns, r, secret.as_ref()).map(|value| {
            Some(Password {
                value,
                version: secret
                    .as_ref()
                    .map(plan::secret_version)
                    .unwrap_or_default(),
            })
        }),
    )
}

/// The `backupPlanId`s other `DbsBackupPlan`s hold, read fresh (the cache may lag behind
/// another object's write). Needed only on the rare paths after an unknown create outcome.
async fn claimed_plans(obj: &DbsBackupPlan, ctx: &Context) -> Result<HashSet<String>> {
    let me = obj.metadata.uid.as_deref();
    Ok(runtime::list_fresh::<DbsBackupPlan>(ctx)
        .await?
        .into_iter()
        .filter(|o| o.metadata.uid.as_deref() != me)
        .filter_map(|o| o.status.and_then(|s| s.backup_plan_id))
        .collect())
}

/// The shared observation of plan `id` ([`DbsApi::observe_plan`]: describes batched with the
/// other plans of the account and region). A plan at rest (its generation observed, `Running`
/// or `Paused`) accepts an answer up to half the resync interval old, so one batched describe
/// serves up to 100 resting plans; any other plan an answer at most half the first poll
/// interval old; an object a user changed since its last read
/// ([`SeenFingerprints`](crate::controller::operator::context::SeenFingerprints): spec, annotations such as
/// `reconcile-requested-at`) a new describe (still batched with the others in flight). A
/// mutating call on the plan drops its answer. `Ok(None)`: not listed.
async fn observe_plan(
    dbs: &dyn DbsApi,
    region: &str,
    id: &str,
    w: &Work<'_>,
    ctx: &Context,
) -> std::result::Result<Option<BackupPlanDetail>, CloudError> {
    let key = runtime::object_key(w.obj);
    let fingerprint = runtime::fingerprint(w.obj);
    let at_rest = w.status.observed_generation == w.obj.metadata.generation
        && matches!(
            w.status.phase,
            Some(DbsBackupPlanPhase::Running | DbsBackupPlanPhase::Paused)
        );
    let max_age = if ctx.seen.changed(&key, fingerprint) {
        std::time::Duration::ZERO
    } else if at_rest {
        w.timing.resync / 2
    } else {
        w.timing.observe_age()
    };
    let observed = dbs.observe_plan(region, id, max_age).await;
    if observed.is_ok() {
        ctx.seen.seen(&key, fingerprint);
    }
    observed
}

/// `DescribeBackupPlanList` for one plan id; `Ok(None)` when the cloud does not know it.
async fn describe_plan(
    dbs: &dyn DbsApi,
    region: &str,
    id: &str,
) -> std::result::Result<Option<BackupPlanDetail>, CloudError> {
    let req = DescribeBackupPlanListRequest {
        backup_plan_ids: vec![id.to_string()],
        region: Some(region.to_string()),
        page_num: Some(0),
        page_size: Some(10),
        ..DescribeBackupPlanListRequest::default()
    };
    match dbs.describe_backup_plan_list(&req).await {
        Ok(r) => Ok(r.items.into_iter().find(|p| p.backup_plan_id == id)),
        Err(e) if e.class() == ErrorClass::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// What a `DbsBackupPlan` observes before its plan.
pub struct Seen {
    /// The plan in the cloud (`None`: none recorded, or not listed).
    observed: Option<BackupPlanDetail>,
    /// The version of the password Secret now (for an existing plan; read fresh, never from
    /// a cache that may lag, to notice a rotation).
    current_password: Option<String>,
}

#[async_trait]
impl Reconciler for DbsBackupPlan {
    type Valid = DesiredPlan;
    type Seen = Seen;
    type Step = Step;
    type CleanupStep = CleanupStep;

    /// Every step (a configuration push as much as a create) is planned from the latest
    /// version: the applied-configuration annotation is a checkpoint the cache may lag behind.
    fn needs_fresh(&self, _: &DbsBackupPlanStatus) -> bool {
        true
    }

    fn validate(&self, _: &DbsBackupPlanStatus) -> std::result::Result<DesiredPlan, String> {
        plan::validate(&self.spec).map_err(|e| e.0)
    }

    async fn observe(
        w: &mut Work<'_>,
        ctx: &Context,
        target: &Target,
        desired: &DesiredPlan,
    ) -> Result<std::result::Result<Seen, Outcome>> {
        let dbs = ctx.cloud.dbs(target);
        let observed = match w.status.backup_plan_id.clone() {
            None => None,
            Some(id) => match observe_plan(dbs.as_ref(), &desired.region, &id, w, ctx).await {
                Ok(p) => p,
                Err(e) => return Ok(Err(w.cloud_error(e))),
            },
        };
        let current_password = match (&observed, &desired.config.password_ref) {
            (Some(_), Some(r)) => password_secret(w.obj, r, ctx)
                .await?
                .as_ref()
                .map(plan::secret_version),
            _ => None,
        };
        Ok(Ok(Seen {
            observed,
            current_password,
        }))
    }

    fn plan(&self, status: &DbsBackupPlanStatus, desired: &DesiredPlan, seen: &Seen) -> Step {
        let annotation = |key: &str| self.annotations().get(key).map(String::as_str);
        let last_reason = status
            .conditions
            .iter()
            .find(|c| c.status == crate::controller::reconcile::conditions::TRUE)
            .map(|c| c.reason.as_str());
        plan::plan(&PlanInput {
            desired,
            status,
            applied_fingerprint: annotation(plan::ANNOTATION_APPLIED_CONFIG),
            applied_password: annotation(plan::ANNOTATION_APPLIED_PASSWORD),
            current_password: seen.current_password.as_deref(),
            observed: seen.observed.as_ref(),
            last_reason,
            spec_changed: status.observed_generation != self.metadata.generation,
        })
    }

    async fn act(
        w: &mut Work<'_>,
        ctx: &Context,
        target: &Target,
        act: Act<'_, DbsBackupPlan>,
    ) -> Result<Outcome> {
        let (obj, desired, step) = (w.obj, act.valid, act.step);
        // What the step needs from the API server besides the object: the password for the
        // calls that carry it, the other objects' claims to recover an unknown create.
        let loaded = Loaded {
            password: match &step {
                Step::AdoptExisting { .. } if desired.observe_only => Ok(None),
                Step::RecordIntent
                | Step::AdoptExisting { .. }
                | Step::Create { .. }
                | Step::Configure { .. }
                | Step::RotatePassword { .. } => password(obj, desired, ctx).await?,
                _ => Ok(None),
            },
            claimed: match &step {
                Step::Create { .. } => claimed_plans(obj, ctx).await?,
                _ => HashSet::new(),
            },
            current_password: act.seen.current_password,
            holder: match &step {
                // The claims of the other objects, read fresh (the cache may lag behind theirs).
                Step::AdoptExisting { plan_id } => {
                    let all = runtime::list_fresh::<DbsBackupPlan>(ctx).await?;
                    plan::adoption_holder(&kind::uid(obj)?, plan_id, &all)
                }
                _ => None,
            },
        };
        let dbs = ctx.cloud.dbs(target);
        let observed = act.seen.observed.as_ref();
        self::act(w, dbs.as_ref(), step, desired, observed, loaded).await
    }

    fn conclude(w: &mut Work<'_>, desired: &DesiredPlan, outcome: Outcome) -> Outcome {
        with_rpo(w, desired, outcome, jiff::Timestamp::now())
    }

    fn adopted(&self, status: &DbsBackupPlanStatus) -> Option<String> {
        plan::adopted_message(&self.spec, status)
    }

    fn plan_cleanup(
        &self,
        orphan: bool,
        policy: crate::crd::DeletionPolicy,
        status: &DbsBackupPlanStatus,
    ) -> Cleanup<CleanupStep> {
        match plan::plan_cleanup_managed(orphan, policy, self.spec.management_policy, status) {
            CleanupStep::LetGo(note) => Cleanup::LetGo(note),
            CleanupStep::Finished => Cleanup::Finished,
            step => Cleanup::Act {
                cannot: match &step {
                    CleanupStep::Release { plan_id } => format!("release plan {plan_id}"),
                    _ => "release the plan".to_string(),
                },
                step,
            },
        }
    }

    async fn act_cleanup(
        w: &mut Work<'_>,
        ctx: &Context,
        target: &Target,
        step: CleanupStep,
    ) -> Result<Outcome> {
        let claimed = match &step {
            CleanupStep::FindPlan => claimed_plans(w.obj, ctx).await?,
            _ => HashSet::new(),
        };
        Ok(act_cleanup(w, ctx.cloud.dbs(target).as_ref(), step, &claimed).await)
    }
}

/// Sets (or, without `spec.rpo`, removes) the condition `RPOMet` ([`plan::rpo_verdict`]) and
/// looks again when the verdict would turn False.
fn with_rpo(
    w: &mut Work<'_>,
    desired: &DesiredPlan,
    mut outcome: Outcome,
    now: jiff::Timestamp,
) -> Outcome {
    let created = w
        .obj
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    match plan::rpo_verdict(desired, &w.status, created, now) {
        Some(v) => {
            conditions::set_condition(
                &mut w.status.conditions,
                CONDITION_RPO_MET,
                v.met,
                v.reason,
                &v.message,
                w.obj.metadata.generation,
                now,
            );
            if let (Some(flip), Next::After(after)) = (v.flips_in, &mut outcome.next) {
                *after = (*after).min(flip);
            }
        }
        None => w.status.conditions.retain(|c| c.type_ != CONDITION_RPO_MET),
    }
    outcome
}

/// What [`apply`] loaded from the API server for the act.
struct Loaded {
    /// The source password (for the calls that carry it).
    password: PasswordRead,
    /// The plans other objects hold (for [`Step::Create`]).
    claimed: HashSet<String>,
    /// The version of the password Secret now (for an existing plan).
    current_password: Option<String>,
    /// For [`Step::AdoptExisting`]: the other object that holds the plan, if any.
    holder: Option<adoption::Claim>,
}

/// Takes one step; the outcome is committed by [`work::finish`]. The writes before it are
/// checkpoints that must be durable before or right after a cloud call: the intent, and the
/// applied-configuration annotation after a push.
async fn act(
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
        Step::RecordIntent => record_intent_and_create(w, dbs, desired, password).await?,
        Step::AdoptExisting { plan_id } => {
            adopt_existing(w, dbs, desired, &plan_id, holder, password).await?
        }
        Step::Create { token } => {
            // The outcome of an earlier create is unknown (crash, lost answer): look for the
            // plan first; re-sending the same ClientToken is the fallback.
            match find_own_plan(w, dbs, desired, &claimed).await {
                Ok(Some(found)) => adopt(w, &found),
                Ok(None) => create(w, dbs, desired, &token, password).await?,
                Err(e) => w.cloud_error(e),
            }
        }
        Step::AwaitSpecChange => Outcome::fields(Next::After(w.timing.resync)),
        Step::Configure { plan_id, drift } => {
            let push = Push::Spec(drift);
            configure(w, dbs, desired, &plan_id, push, observed, password).await?
        }
        Step::RotatePassword { plan_id } => {
            configure(
                w,
                dbs,
                desired,
                &plan_id,
                Push::Password,
                observed,
                password,
            )
            .await?
        }
        Step::RecordPasswordVersion => {
            if let Some(v) = &current_password {
                w.annotate(serde_json::json!({ plan::ANNOTATION_APPLIED_PASSWORD: v }))
                    .await?;
            }
            Outcome::fields(Next::After(w.timing.poll_initial))
        }
        Step::Rename { plan_id, drift } => {
            let mut notes = Vec::new();
            if let Some(d) = &drift {
                notes.push(format!(
                    "plan {plan_id} differs from the spec: {d}; correcting it with \
                     ModifyBackupPlanName"
                ));
            }
            w.hold_generation = true;
            let req = ModifyBackupPlanNameRequest {
                backup_plan_id: plan_id.clone(),
                backup_plan_name: desired.name.clone(),
                ..ModifyBackupPlanNameRequest::default()
            };
            let outcome = match dbs.modify_backup_plan_name(&req).await {
                Ok(_) => {
                    w.hold_generation = false;
                    let health = match &drift {
                        Some(d) => {
                            w.status.last_sync_time = Some(Time(jiff::Timestamp::now()));
                            Health::progressing(
                                reasons::DRIFT_DETECTED,
                                format!(
                                    "plan {plan_id} differed from the spec ({d}); corrected with \
                                     ModifyBackupPlanName"
                                ),
                            )
                        }
                        None => Health::progressing(
                            reasons::RENAMING,
                            format!("plan {plan_id} renamed to {:?}", desired.name),
                        ),
                    };
                    after_push(w, observed, health)
                }
                Err(e) => w.cloud_error(e),
            };
            notes.into_iter().fold(outcome, |o, note| {
                o.note(EventType::Warning, reasons::DRIFT_DETECTED, "Rename", note)
            })
        }
        Step::Stop { plan_id } => {
            w.hold_generation = true;
            let req = StopBackupPlanRequest {
                backup_plan_id: plan_id.clone(),
                stop_method: "ALL".into(),
                ..StopBackupPlanRequest::default()
            };
            match dbs.stop_backup_plan(&req).await {
                Ok(_) => {
                    w.hold_generation = false;
                    let health = Health::progressing(
                        reasons::PAUSING,
                        format!("pausing plan {plan_id} (StopBackupPlan, StopMethod ALL)"),
                    );
                    after_push(w, observed, health)
                }
                Err(e) => w.cloud_error(e),
            }
        }
        Step::Start { plan_id } => {
            w.hold_generation = true;
            let req = StartBackupPlanRequest {
                backup_plan_id: plan_id.clone(),
                ..StartBackupPlanRequest::default()
            };
            match dbs.start_backup_plan(&req).await {
                Ok(resp) => {
                    w.hold_generation = false;
                    if let Some(set) = resp.created_full_backupset_id.filter(|s| !s.is_empty()) {
                        w.status.created_full_backupset_id = Some(set);
                    }
                    let health = Health::progressing(
                        reasons::RESUMING,
                        format!("resuming plan {plan_id} (StartBackupPlan)"),
                    );
                    after_push(w, observed, health)
                }
                Err(e) => w.cloud_error(e),
            }
        }
        Step::Observe { plan_id } => observe(w, dbs, &plan_id, desired, observed).await,
    })
}

/// Records the raw cloud fields of an observed plan in status.
fn record_observed(status: &mut DbsBackupPlanStatus, p: &BackupPlanDetail) {
    status.cloud_status.clone_from(&p.backup_plan_status);
    status.cloud_message = p.err_message.clone().filter(|m| !m.trim().is_empty());
    if let Some(t) = times::from_unix_ms(p.backup_plan_create_time) {
        status.create_time = Some(t);
    }
}

/// Status after a successful push (rename/stop/start/configure): observe again soon.
fn after_push(w: &mut Work<'_>, observed: Option<&BackupPlanDetail>, health: Health) -> Outcome {
    if let Some(p) = observed {
        record_observed(&mut w.status, p);
        w.status.phase = Some(plan::observed_health(p, w.obj.spec.suspend).0);
    }
    Outcome::requeue(health, w.timing.poll_initial)
}

/// Records the create intent (a checkpoint: durable before the call), then
/// `CreateAndStartBackupPlan` with its `ClientToken`.
async fn record_intent_and_create(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    desired: &DesiredPlan,
    password: PasswordRead,
) -> Result<Outcome> {
    let uid = kind::uid(w.obj)?;
    let token = create_token(&uid, w.obj.metadata.generation);
    w.status.pending_create = Some(PendingCreate {
        token: token.clone(),
        started_at: Time(jiff::Timestamp::now()),
    });
    w.status.phase = Some(DbsBackupPlanPhase::Creating);
    w.hold_generation = true;
    w.commit(&Health::progressing(
        reasons::CREATING,
        format!("creating backup plan {:?}", desired.name),
    ))
    .await?;
    create(w, dbs, desired, &token, password).await
}

/// Takes over the plan `spec.backupPlanId` names: refused when another object holds it
/// (`holder`, from a fresh list), `Stalled/PlanNotFound` when the cloud does not know it. A
/// purchased plan that was never configured is configured and started under `Manage`
/// ([`plan::adopt_configures`]); any other plan is recorded (no cloud write) and, under
/// `Manage`, the spec is pushed to it by the next reconcile (no applied configuration yet).
async fn adopt_existing(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    desired: &DesiredPlan,
    plan_id: &str,
    holder: Option<adoption::Claim>,
    password: PasswordRead,
) -> Result<Outcome> {
    if let Some(holder) = holder {
        return Ok(Outcome::requeue(
            Health::stalled(
                reasons::ADOPTION_REFUSED,
                plan::adoption_refused_message(plan_id, &holder),
            ),
            w.timing.error_max,
        ));
    }
    let found = match describe_plan(dbs, &desired.region, plan_id).await {
        Ok(p) => p,
        Err(e) => return Ok(w.cloud_error(e)),
    };
    let Some(found) = found else {
        return Ok(Outcome::requeue(
            Health::stalled(
                reasons::PLAN_NOT_FOUND,
                format!(
                    "plan {plan_id} named by spec.backupPlanId does not exist in DBS region {} \
                     (DescribeBackupPlanList); nothing was recorded. Correct spec.backupPlanId \
                     (delete and recreate this object)",
                    desired.region
                ),
            ),
            w.timing.error_max,
        ));
    };
    let what = format!("plan {plan_id} named by spec.backupPlanId");
    if let Some(refused) =
        adoption::mismatch_health(&what, &plan::identity_mismatches(&w.obj.spec, &found))
    {
        return Ok(Outcome::requeue(refused, w.timing.error_max));
    }
    if plan::adopt_configures(desired, &found) {
        return record_intent_and_create(w, dbs, desired, password).await;
    }
    w.status.backup_plan_id = Some(found.backup_plan_id.clone());
    record_observed(&mut w.status, &found);
    let (phase, health) = plan::observed_health(&found, plan::judged_suspend(desired, &found));
    w.status.phase = Some(phase);
    if desired.observe_only {
        return Ok(Outcome::requeue(health, w.timing.poll_initial));
    }
    Ok(Outcome::requeue(
        Health::progressing(
            reasons::PLAN_ADOPTED,
            format!(
                "adopted plan {}; pushing the spec to it (ConfigureBackupPlan)",
                found.backup_plan_id
            ),
        ),
        w.timing.poll_initial,
    ))
}

/// Lists the plans named like ours and picks ours ([`plan::find_own_plan`]); `claimed` are the
/// plans other objects hold (never ours: names may repeat).
async fn find_own_plan(
    w: &Work<'_>,
    dbs: &dyn DbsApi,
    desired: &DesiredPlan,
    claimed: &HashSet<String>,
) -> std::result::Result<Option<BackupPlanDetail>, CloudError> {
    let Some(started_at) = w
        .status
        .pending_create
        .as_ref()
        .map(|p| p.started_at.clone())
    else {
        return Ok(None);
    };
    let req = DescribeBackupPlanListRequest {
        backup_plan_name: Some(desired.name.clone()),
        region: Some(desired.region.clone()),
        page_num: Some(0),
        page_size: Some(100),
        ..DescribeBackupPlanListRequest::default()
    };
    let resp = match dbs.describe_backup_plan_list(&req).await {
        Ok(r) => r,
        Err(e) if e.class() == ErrorClass::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(plan::find_own_plan(desired, &started_at, &resp.items, claimed).cloned())
}

/// Records a plan found by [`find_own_plan`] as ours.
fn adopt(w: &mut Work<'_>, found: &BackupPlanDetail) -> Outcome {
    w.status.backup_plan_id = Some(found.backup_plan_id.clone());
    w.status.pending_create = None;
    record_observed(&mut w.status, found);
    w.status.phase = Some(plan::observed_health(found, w.obj.spec.suspend).0);
    Outcome::requeue(
        Health::progressing(
            reasons::PLAN_ADOPTED,
            format!(
                "adopted plan {} created before the operator could record it",
                found.backup_plan_id
            ),
        ),
        w.timing.poll_initial,
    )
}

async fn create(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    desired: &DesiredPlan,
    token: &str,
    password: PasswordRead,
) -> Result<Outcome> {
    let password = match password {
        Ok(p) => p,
        Err(problem) => {
            w.hold_generation = false;
            return Ok(Outcome::requeue(
                Health::stalled(problem.reason(), problem.to_string()),
                w.timing.error_max,
            ));
        }
    };
    let version = password.as_ref().map(|p| p.version.clone());
    let req = plan::create_request(desired, password.map(|p| p.value), token);
    w.hold_generation = true;
    Ok(match dbs.create_and_start_backup_plan(&req).await {
        Ok(resp) if !resp.backup_plan_id.is_empty() => {
            // The fingerprint first: a crash after it and before the status write re-sends the
            // same ClientToken and gets the same plan back.
            w.set_applied(&desired.fingerprint(), version.as_deref())
                .await?;
            w.hold_generation = false;
            w.status.backup_plan_id = Some(resp.backup_plan_id.clone());
            if let Some(order) = resp.order_id.filter(|o| !o.is_empty()) {
                w.status.order_id = Some(order);
            }
            w.status.pending_create = None;
            w.status.phase = Some(DbsBackupPlanPhase::Starting);
            Outcome::requeue(
                Health::progressing(
                    reasons::PLAN_CREATED,
                    format!(
                        "backup plan {} created; waiting for it to run",
                        resp.backup_plan_id
                    ),
                ),
                w.timing.poll_initial,
            )
        }
        Ok(_) => Outcome::retry(
            Health::progressing(
                reasons::CREATING,
                "CreateAndStartBackupPlan returned no BackupPlanId; retrying with the same \
                 ClientToken",
            ),
            Next::backoff(reasons::CREATING),
        ),
        // Refused for good (e.g. an invalid parameter): nothing was created. The plan fails;
        // a changed spec is tried again with a new ClientToken.
        Err(e) if work::create_refused_for_good(&e) => w.fail_create(
            e,
            "fix the spec (the operator tries again when the spec changes) or the cloud side",
        ),
        Err(e) => w.cloud_error(e),
    })
}

/// Why the configuration is pushed with `ConfigureBackupPlan`.
enum Push {
    /// The spec changed (no differences), or the cloud drifted from it (the differences).
    Spec(Vec<plan::Difference>),
    /// The password Secret changed (rotation).
    Password,
}

async fn configure(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    desired: &DesiredPlan,
    plan_id: &str,
    why: Push,
    observed: Option<&BackupPlanDetail>,
    password: PasswordRead,
) -> Result<Outcome> {
    let (drift, rotation) = match why {
        Push::Spec(drift) => (drift, false),
        Push::Password => (Vec::new(), true),
    };
    let drifted = !drift.is_empty();
    let drift_note = drifted.then(|| {
        format!(
            "plan {plan_id} differs from the spec: {}; correcting it with ConfigureBackupPlan",
            plan::describe_differences(&drift)
        )
    });
    let with_drift_note = |o: Outcome| match &drift_note {
        Some(n) => o.note(
            EventType::Warning,
            reasons::DRIFT_DETECTED,
            "Configure",
            n.clone(),
        ),
        None => o,
    };
    let password = match password {
        Ok(p) => p,
        Err(problem) => {
            let message = if rotation {
                format!(
                    "{problem}; plan {plan_id} keeps the password last pushed until the Secret \
                     is fixed"
                )
            } else {
                problem.to_string()
            };
            return Ok(with_drift_note(Outcome::requeue(
                Health::stalled(problem.reason(), message),
                w.timing.error_max,
            )));
        }
    };
    let version = password.as_ref().map(|p| p.version.clone());
    let req = plan::configure_request(desired, plan_id, password.map(|p| p.value));
    w.hold_generation = !rotation;
    let outcome = match dbs.configure_backup_plan(&req).await {
        Ok(_) => {
            w.set_applied(&desired.fingerprint(), version.as_deref())
                .await?;
            w.hold_generation = false;
            if rotation {
                let secret = desired
                    .config
                    .password_ref
                    .as_ref()
                    .map(|r| format!("{:?} (key {:?})", r.name, r.key))
                    .unwrap_or_default();
                let note = format!(
                    "password Secret {secret} changed; pushed the new password to plan {plan_id} \
                     with ConfigureBackupPlan"
                );
                if let Some(p) = observed {
                    record_observed(&mut w.status, p);
                    w.status.phase = Some(plan::observed_health(p, w.obj.spec.suspend).0);
                }
                Outcome::requeue(
                    Health::progressing(reasons::PASSWORD_ROTATED, note.clone()),
                    w.timing.poll_initial,
                )
                .publish(Publish::Silent)
                .note(
                    EventType::Normal,
                    reasons::PASSWORD_ROTATED,
                    "Configure",
                    note,
                )
            } else {
                let health = if drifted {
                    w.status.last_sync_time = Some(Time(jiff::Timestamp::now()));
                    Health::progressing(
                        reasons::DRIFT_DETECTED,
                        format!(
                            "plan {plan_id} differed from the spec ({}); corrected with \
                             ConfigureBackupPlan",
                            plan::describe_differences(&drift)
                        ),
                    )
                } else {
                    Health::progressing(
                        reasons::CONFIGURING,
                        format!("spec pushed to plan {plan_id} (ConfigureBackupPlan)"),
                    )
                };
                after_push(w, observed, health)
            }
        }
        Err(e) => w.cloud_error(e),
    };
    Ok(with_drift_note(outcome))
}

async fn observe(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    plan_id: &str,
    desired: &DesiredPlan,
    observed: Option<&BackupPlanDetail>,
) -> Outcome {
    let Some(p) = observed else {
        if w.status.cloud_status.is_none() {
            return Outcome::requeue(
                Health::progressing(
                    reasons::WAITING_FOR_PLAN,
                    format!("plan {plan_id} is not listed by DescribeBackupPlanList yet"),
                ),
                w.timing.wait,
            );
        }
        w.status.phase = Some(DbsBackupPlanPhase::Failed);
        return Outcome::requeue(
            Health::stalled(
                reasons::PLAN_NOT_FOUND,
                format!(
                    "plan {plan_id} no longer exists in DBS (released outside the operator); \
                     delete this object and create it again for a new plan"
                ),
            ),
            w.timing.resync,
        );
    };
    record_observed(&mut w.status, p);
    let (phase, health) = plan::observed_health(p, plan::judged_suspend(desired, p));
    w.status.phase = Some(phase);
    let steady = matches!(
        phase,
        DbsBackupPlanPhase::Running | DbsBackupPlanPhase::Paused
    );
    if steady {
        // The drift comparison just ran (plan() found no difference).
        w.status.last_sync_time = Some(Time(jiff::Timestamp::now()));
        let req = DescribeFullBackupListRequest {
            backup_plan_id: plan_id.to_string(),
            page_num: Some(0),
            page_size: Some(100),
            ..DescribeFullBackupListRequest::default()
        };
        match dbs.describe_full_backup_list(&req).await {
            Ok(r) => {
                if let Some(latest) = plan::latest_full_backup(&r.items) {
                    w.status.latest_full_backup_set = Some(latest);
                }
                // Never move backwards (the page may no longer list an older success).
                if let Some(t) = plan::last_successful_backup(&r.items)
                    && w.status
                        .last_successful_backup_time
                        .as_ref()
                        .is_none_or(|prev| prev.0 < t.0)
                {
                    w.status.last_successful_backup_time = Some(t);
                }
            }
            Err(e) => return w.cloud_error(e),
        }
    }
    let set_running = w
        .status
        .latest_full_backup_set
        .as_ref()
        .is_some_and(plan::full_backup_in_progress);
    let delay = match (&health, phase) {
        // Follow a running full backup to its end, then only resync.
        (Health::Ready { .. }, _) if set_running => w.timing.poll_max,
        (Health::Ready { .. } | Health::Stalled { .. } | Health::Paused { .. }, _) => {
            w.timing.resync
        }
        (Health::Progressing { .. }, DbsBackupPlanPhase::Starting) => {
            let since = w
                .status
                .create_time
                .as_ref()
                .or(w.status.pending_create.as_ref().map(|p| &p.started_at))
                .map(|t| t.0)
                .unwrap_or_else(jiff::Timestamp::now);
            let elapsed = jiff::Timestamp::now().duration_since(since).unsigned_abs();
            poll_interval(elapsed, w.timing)
        }
        (Health::Progressing { .. }, _) => w.timing.poll_initial,
    };
    Outcome::requeue(health, delay)
}

// ---------------------------------------------------------------------------------------------
// cleanup: plan_cleanup (pure) picks the step, act_cleanup takes it
// ---------------------------------------------------------------------------------------------

/// Takes the cleanup step [`plan::plan_cleanup`] picked (finding the plan of an unknown create
/// first); `claimed` are the plans other objects hold.
async fn act_cleanup(
    w: &mut Work<'_>,
    dbs: &dyn DbsApi,
    step: CleanupStep,
    claimed: &HashSet<String>,
) -> Outcome {
    w.status.phase = Some(DbsBackupPlanPhase::Deleting);
    let plan_id = match step {
        CleanupStep::LetGo(note) => return work::let_go(note),
        CleanupStep::Finished => return Outcome::finished(),
        CleanupStep::Release { plan_id } => plan_id,
        CleanupStep::FindPlan => {
            // A create whose outcome was never recorded: release the plan if it exists.
            let Ok(desired) = plan::validate(&w.obj.spec) else {
                return Outcome::finished();
            };
            match find_own_plan(w, dbs, &desired, claimed).await {
                Ok(Some(found)) => found.backup_plan_id,
                Ok(None) => return Outcome::finished(),
                Err(e) => {
                    return w.cloud_error(e).or_retry(Next::backoff(reasons::RELEASING));
                }
            }
        }
    };
    let req = ReleaseBackupPlanRequest {
        backup_plan_id: plan_id.clone(),
        ..ReleaseBackupPlanRequest::default()
    };
    match dbs.release_backup_plan(&req).await {
        Ok(_) => {}
        Err(e) if e.class() == ErrorClass::NotFound => {}
        Err(e) => {
            return w.cloud_error(e).or_retry(Next::backoff(reasons::RELEASING));
        }
    }
    Outcome::finished().note(
        EventType::Normal,
        reasons::RELEASED,
        "Deleting",
        format!("backup plan {plan_id} released"),
    )
}

#[cfg(test)]
mod tests;
