//! Deletion (`docs/architecture.md#deletion`): a running job is cancelled (`CancelBackupJob`)
//! and awaited; with `deletionPolicy: Delete` the job's snapshots are looked up and deleted
//! (`DeleteSnapshot`, `NotFound` = done). A `CONTAINER` job's snapshot cannot be looked up: it
//! stays, with a `SnapshotRetained` Warning event.

use kube::runtime::events::EventType;

use super::create::find_own_job;
use super::plan::{self, CleanupStep, reasons};
use super::snapshots::lookup_snapshots;
use super::track::{Cancel, cancel_job, describe_job};
use super::{KIND, Work};
use crate::cloud::api::hbr::{DeleteSnapshotRequest, HbrBackupJob as CloudJob};
use crate::cloud::{ErrorClass, HbrApi};
use crate::controller::reconcile::conditions::{self, Health};
use crate::controller::reconcile::work::{Next, Outcome};
use crate::crd::HbrBackupJobPhase;

/// What a cleanup step that did not finish asks for: `Reconciling/CancellingJob`, look again
/// slowly.
fn cancelling(w: &Work<'_>) -> Next {
    Next::wait(reasons::CANCELLING, w.timing.error_max)
}

/// What a snapshot step that failed asks for: look again slowly.
fn deleting_snapshots(w: &Work<'_>) -> Next {
    Next::wait(reasons::DELETING_SNAPSHOTS, w.timing.error_max)
}

/// Observes the job, then takes the steps [`plan::plan_cleanup`] picks until one needs to
/// wait or the cleanup is done.
/// `delete`: the deletion policy in effect is `Delete`.
pub(super) async fn act_cleanup(w: &mut Work<'_>, hbr: &dyn HbrApi, delete: bool) -> Outcome {
    let (job_id, job) = match observe_job(w, hbr).await {
        Ok(Some(seen)) => seen,
        Ok(None) => return Outcome::finished(),
        Err(outcome) => return outcome,
    };
    let cancel_sent = conditions::find(&w.status.conditions, conditions::RECONCILING)
        .is_some_and(|c| c.status == conditions::TRUE && c.reason == reasons::CANCELLING);
    let mut fetched = false;
    loop {
        let step = plan::plan_cleanup(
            &w.obj.spec,
            &w.status,
            job.as_ref(),
            cancel_sent,
            delete,
            fetched,
        );
        tracing::debug!(kind = KIND, name = %w.name, ?step, "cleanup step");
        match step {
            CleanupStep::Cancel => return cancel(w, hbr, &job_id).await,
            CleanupStep::AwaitCancel => {
                return wait_for_cancel(w, format!("waiting for cancelled job {job_id} to end"));
            }
            CleanupStep::FetchSnapshots => {
                fetched = true;
                match lookup_snapshots(w, hbr, &job_id).await {
                    Ok(ids) => w.status.snapshot_ids = ids,
                    Err(e) => return w.cloud_error(e).or_retry(deleting_snapshots(w)),
                }
            }
            CleanupStep::DeleteSnapshots(ids) => return delete_snapshots(w, hbr, &ids).await,
            CleanupStep::Done => return done(w, job.as_ref(), delete, &job_id),
        }
    }
}

/// The job to clean up and how it is now (`None`: the cloud no longer knows it), recorded in
/// status. An intent without a job id is resolved first (a create may have run before a
/// crash): `Ok(None)` when no job of ours exists. `Err`: the outcome of a cloud error.
async fn observe_job(
    w: &mut Work<'_>,
    hbr: &dyn HbrApi,
) -> Result<Option<(String, Option<CloudJob>)>, Outcome> {
    if w.status.job_id.is_none() {
        // A create may have run before the crash: find it before deciding there is nothing.
        match find_own_job(w, hbr).await {
            Ok(Some(job)) => {
                w.status.job_id = Some(job.job_id.clone());
                w.status.pending_create = None;
            }
            Ok(None) => return Ok(None),
            Err(e) => return Err(w.cloud_error(e).or_retry(cancelling(w))),
        }
    }
    let Some(job_id) = w.status.job_id.clone() else {
        return Ok(None);
    };
    let source_type = w.obj.spec.source_type.as_str();
    let job = match describe_job(hbr, source_type, &job_id).await {
        Ok(j) => j,
        Err(e) => return Err(w.cloud_error(e).or_retry(cancelling(w))),
    };
    if let Some(j) = &job {
        plan::record_job(&mut w.status, j);
    }
    Ok(Some((job_id, job)))
}

/// [`CleanupStep::Cancel`]: `CancelBackupJob`, then wait for the job to end.
async fn cancel(w: &mut Work<'_>, hbr: &dyn HbrApi, job_id: &str) -> Outcome {
    match cancel_job(w, hbr, job_id).await {
        Ok(Cancel::Sent) => {}
        Ok(Cancel::Gone) => return Outcome::finished(),
        // Ended between the describe and the cancel: the next round sees it.
        Ok(Cancel::Ended) => {}
        Err(e) => return w.cloud_error(e).or_retry(cancelling(w)),
    }
    wait_for_cancel(
        w,
        format!("job {job_id} is running; cancelled it and waiting for it to end"),
    )
}

/// `Reconciling/CancellingJob` while a cancelled job ends; the finalizer stays.
fn wait_for_cancel(w: &mut Work<'_>, message: String) -> Outcome {
    w.status.phase = Some(HbrBackupJobPhase::Deleting);
    Outcome::retry(
        Health::progressing(reasons::CANCELLING, message),
        Next::wait(reasons::CANCELLING, w.timing.poll_initial),
    )
}

/// [`CleanupStep::DeleteSnapshots`]: `DeleteSnapshot` for each id (`NotFound` = done).
async fn delete_snapshots(w: &mut Work<'_>, hbr: &dyn HbrApi, ids: &[String]) -> Outcome {
    let source_type = w.obj.spec.source_type.as_str();
    for id in ids {
        let req = DeleteSnapshotRequest {
            snapshot_id: id.clone(),
            source_type: Some(source_type.to_string()),
            vault_id: w.obj.spec.vault_id.clone(),
            instance_id: w.obj.spec.instance_id.clone(),
            ..DeleteSnapshotRequest::default()
        };
        match hbr.delete_snapshot(&req).await {
            Ok(_) => {}
            Err(e) if e.class() == ErrorClass::NotFound => {}
            Err(e) => {
                w.status.phase = Some(HbrBackupJobPhase::Deleting);
                return w.cloud_error(e).or_retry(deleting_snapshots(w));
            }
        }
    }
    Outcome::finished().note(
        EventType::Normal,
        reasons::SNAPSHOTS_DELETED,
        "Deleting",
        format!("deleted snapshot(s) {}", ids.join(", ")),
    )
}

/// [`CleanupStep::Done`]: the finalizer goes; a snapshot left in the vault (a `CONTAINER` job
/// with `Delete`) is said in a Warning event.
fn done(w: &Work<'_>, job: Option<&CloudJob>, delete: bool, job_id: &str) -> Outcome {
    if !plan::snapshot_left_in_vault(&w.obj.spec, job, delete) {
        return Outcome::finished();
    }
    let source_type = w.obj.spec.source_type.as_str();
    Outcome::finished().note(
        EventType::Warning,
        reasons::SNAPSHOT_RETAINED,
        "Delete",
        format!(
            "deletionPolicy Delete: the snapshot of {source_type} job {job_id} stays in vault \
             {}: Cloud Backup's snapshot search (SearchHistoricalSnapshots) covers ECS_FILE, OSS \
             and NAS backups only, so the operator cannot find it. Delete it in the Cloud Backup \
             console",
            w.obj.spec.vault_id.as_deref().unwrap_or("-")
        ),
    )
}
