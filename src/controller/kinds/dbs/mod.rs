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

mod act;
mod cleanup;
mod configure;
mod create;
mod lookup;
mod observe;
pub mod plan;
pub(crate) mod secret;

use async_trait::async_trait;
use kube::ResourceExt;

use self::plan::{CleanupStep, DesiredPlan, PlanInput, Step};
use self::secret::password_secret;
use crate::cloud::Target;
use crate::cloud::api::dbs::BackupPlanDetail;
use crate::controller::operator::context::Context;
use crate::controller::reconcile::conditions;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind::{self, ManagedResource};
use crate::controller::reconcile::pipeline::{Act, Cleanup, Reconciler};
use crate::controller::reconcile::work::{self, Next, Outcome};
use crate::crd::{CONDITION_RPO_MET, DbsBackupPlan, DbsBackupPlanPhase, DbsBackupPlanStatus};

#[cfg(test)]
use self::act::{Loaded, act};
#[cfg(test)]
use self::cleanup::act_cleanup;
#[cfg(test)]
use self::plan::reasons;
#[cfg(test)]
use self::secret::{Password, PasswordRead};
#[cfg(test)]
use crate::cloud::Secret;
#[cfg(test)]
use crate::crd::PendingCreate;
#[cfg(test)]
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
#[cfg(test)]
use std::collections::HashSet;

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
    type Reach = Target;

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
            Some(id) => {
                match lookup::observe_plan(dbs.as_ref(), &desired.region, &id, w, ctx).await {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(w.cloud_error(e))),
                }
            }
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
        let (desired, step) = (act.valid, act.step);
        let loaded = act::load(w.obj, ctx, desired, &step, act.seen.current_password).await?;
        let dbs = ctx.cloud.dbs(target);
        let observed = act.seen.observed.as_ref();
        act::act(w, dbs.as_ref(), step, desired, observed, loaded).await
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
            CleanupStep::FindPlan => lookup::claimed_plans(w.obj, ctx).await?,
            _ => std::collections::HashSet::new(),
        };
        let dbs = ctx.cloud.dbs(target);
        Ok(cleanup::act_cleanup(w, dbs.as_ref(), step, &claimed).await)
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

#[cfg(test)]
mod tests;
