//! Pure pieces of the restore cycle: reasons, the verdict on an observation, the overwrite
//! check, time formats, and the order of restores that share a target.

use std::time::Duration;

use super::{Check, Observed};
use crate::controller::reconcile::conditions::Health;
use crate::crd::{RestoreOverwrite, RestorePhase, RestorePlan, RestoreStatus};

/// Fixed reasons of the restore kinds' conditions and events.
pub mod reasons {
    /// The spec cannot work as written.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The referenced backup object or the source backup does not exist.
    pub const SOURCE_NOT_FOUND: &str = "SourceNotFound";
    /// The referenced backup object has not succeeded yet (waiting).
    pub const SOURCE_NOT_READY: &str = "SourceNotReady";
    /// The source cannot be restored (failed, another instance's, expired).
    pub const SOURCE_INVALID: &str = "SourceInvalid";
    /// The point in time lies outside the window the cloud reports.
    pub const OUTSIDE_RECOVERY_WINDOW: &str = "OutsideRecoveryWindow";
    /// The target does not exist.
    pub const TARGET_NOT_FOUND: &str = "TargetNotFound";
    /// The target cannot take this restore (engine, type, state).
    pub const TARGET_INCOMPATIBLE: &str = "TargetIncompatible";
    /// A restore into something that exists without (or with another) confirmation.
    pub const OVERWRITE_NOT_CONFIRMED: &str = "OverwriteNotConfirmed";
    /// `spec.dryRun`: planned, nothing changed.
    pub const DRY_RUN: &str = "DryRunPlanned";
    /// The restore call is being sent.
    pub const STARTING: &str = "RestoreStarting";
    /// The restore runs.
    pub const RUNNING: &str = "RestoreRunning";
    /// A restore started before its answer was recorded was found and adopted.
    pub const FOUND: &str = "RestoreFound";
    /// The restore finished.
    pub const SUCCEEDED: &str = "RestoreSucceeded";
    /// The restore ended with part of the data.
    pub const PARTIAL: &str = "RestorePartiallySucceeded";
    /// The restore failed in the cloud.
    pub const FAILED: &str = "RestoreFailed";
    /// The restore was cancelled.
    pub const CANCELLED: &str = "RestoreCancelled";
    /// The restore disappeared from the cloud.
    pub const GONE: &str = "RestoreGone";
    /// Another restore on the same target goes first.
    pub const WAITING_FOR_PEER: &str = "WaitingForPeer";
    /// More than one candidate matches an unrecorded restore.
    pub const OUTCOME_UNKNOWN: &str = "RestoreOutcomeUnknown";
    /// Deleted while running, and the API cannot stop it: it runs on.
    pub const RUNS_ON: &str = "RestoreRunsOn";
}

/// How long a started restore may be missing from the cloud's listing before it counts as
/// gone (listings can lag behind the start).
pub const MISSING_GRACE: Duration = Duration::from_secs(120);

/// Owner tag a clone carries (its value is the restore object's UID).
pub const OWNER_TAG: &str = "aliyun-backup-operator/restore-uid";

/// Records an observation in `status` and returns the phase and conditions it comes to.
/// `elapsed`: time since the restore started (a missing restore is gone after
/// [`MISSING_GRACE`]).
pub fn settle(
    status: &mut RestoreStatus,
    observed: Observed,
    elapsed: Duration,
) -> (RestorePhase, Health) {
    let id = status.restore_id.clone().unwrap_or_default();
    let what = subject(status, &id);
    match observed {
        Observed::Running {
            cloud_status,
            progress,
        } => running(status, &what, cloud_status, progress),
        Observed::Succeeded { cloud_status } => {
            status.cloud_status = Some(cloud_status);
            status.progress = Some(100);
            (
                RestorePhase::Succeeded,
                Health::ready(reasons::SUCCEEDED, format!("{what} succeeded")),
            )
        }
        Observed::Partial {
            cloud_status,
            message,
        } => {
            status.cloud_status = Some(cloud_status);
            status.cloud_message = Some(message.clone());
            (
                RestorePhase::PartiallySucceeded,
                Health::stalled(
                    reasons::PARTIAL,
                    format!("{what} restored part of the data: {message}"),
                ),
            )
        }
        Observed::Failed {
            cloud_status,
            message,
        } => {
            status.cloud_status = Some(cloud_status);
            status.cloud_message = Some(message.clone());
            (
                RestorePhase::Failed,
                Health::stalled(
                    reasons::FAILED,
                    format!(
                        "{what} failed: {message}. Create a new restore \
                         object to try again"
                    ),
                ),
            )
        }
        Observed::Cancelled { cloud_status } => {
            status.cloud_status = Some(cloud_status);
            (
                RestorePhase::Cancelled,
                Health::stalled(reasons::CANCELLED, format!("{what} was cancelled")),
            )
        }
        Observed::Missing => missing(&id, elapsed),
    }
}

/// What the messages call the restore: a clone (its id is the target, a new instance), or a
/// restore into its target.
fn subject(status: &RestoreStatus, id: &str) -> String {
    match (&status.target_id, &status.source) {
        (Some(t), Some(source)) if t == id => format!("clone {t} of {source}"),
        (Some(t), None) if t == id => format!("clone {t}"),
        (t, _) => format!("restore {id} into {}", t.as_deref().unwrap_or("?")),
    }
}

/// A running restore: its cloud status and progress (which never goes back to unknown).
fn running(
    status: &mut RestoreStatus,
    what: &str,
    cloud_status: String,
    progress: Option<i32>,
) -> (RestorePhase, Health) {
    let message = match progress {
        Some(p) => format!("{what}: {cloud_status}, {p}%"),
        None => format!("{what}: {cloud_status}"),
    };
    status.cloud_status = Some(cloud_status);
    status.progress = progress.map(|p| p.clamp(0, 100)).or(status.progress);
    (
        RestorePhase::Restoring,
        Health::progressing(reasons::RUNNING, message),
    )
}

/// A restore not listed: gone after [`MISSING_GRACE`], not listed yet before.
fn missing(id: &str, elapsed: Duration) -> (RestorePhase, Health) {
    if elapsed > MISSING_GRACE {
        return (
            RestorePhase::Failed,
            Health::stalled(
                reasons::GONE,
                format!(
                    "restore {id} no longer exists in the cloud (removed outside the operator); \
                     create a new restore object to try again"
                ),
            ),
        );
    }
    (
        RestorePhase::Restoring,
        Health::progressing(
            reasons::RUNNING,
            format!("restore {id} is not listed yet; looking again"),
        ),
    )
}

/// The conditions of a restore at rest (a terminal phase), from its status alone.
pub fn settled_health(status: &RestoreStatus) -> Option<Health> {
    let id = status.restore_id.clone().unwrap_or_default();
    let message = status.cloud_message.clone().unwrap_or_default();
    Some(match status.phase? {
        RestorePhase::Planned => Health::ready(
            reasons::DRY_RUN,
            status
                .plan
                .as_ref()
                .map(dry_run_message)
                .unwrap_or_default(),
        ),
        RestorePhase::Succeeded => {
            Health::ready(reasons::SUCCEEDED, format!("restore {id} succeeded"))
        }
        RestorePhase::PartiallySucceeded => Health::stalled(
            reasons::PARTIAL,
            format!("restore {id} restored part of the data: {message}"),
        ),
        RestorePhase::Failed => {
            Health::stalled(reasons::FAILED, format!("restore {id} failed: {message}"))
        }
        RestorePhase::Cancelled => {
            Health::stalled(reasons::CANCELLED, format!("restore {id} was cancelled"))
        }
        _ => return None,
    })
}

/// The `Ready` message of a dry run: what would run, against what.
pub fn dry_run_message(plan: &RestorePlan) -> String {
    let writes = if plan.overwrites {
        format!("write into the existing {}", plan.target)
    } else {
        format!("create {}", plan.target)
    };
    format!(
        "dry run: {} would {writes}; nothing was changed (status.plan has the parameters; set \
         dryRun: false in a new object to restore)",
        plan.operation
    )
}

/// The overwrite rule: a restore into `target_id` (which exists) needs
/// `overwrite.confirmTargetId == target_id`.
pub fn confirm_overwrite<T>(
    overwrite: Option<&RestoreOverwrite>,
    target_id: &str,
    what: &str,
) -> Option<Check<T>> {
    match overwrite {
        Some(o) if o.confirm_target_id.trim() == target_id => None,
        Some(o) => Some(Check::refused(
            reasons::OVERWRITE_NOT_CONFIRMED,
            format!(
                "this restore writes into {what} {target_id}, but overwrite.confirmTargetId is \
                 {:?}; nothing was called. Set overwrite.confirmTargetId: {target_id} in a new \
                 object if that is the target you mean",
                o.confirm_target_id
            ),
        )),
        None => Some(Check::refused(
            reasons::OVERWRITE_NOT_CONFIRMED,
            format!(
                "this restore writes into the existing {what} {target_id}; nothing was called. \
                 Set overwrite.confirmTargetId: {target_id} in a new object to confirm it"
            ),
        )),
    }
}

/// Parses a spec point in time (UTC `yyyy-MM-ddTHH:mm:ssZ`).
pub fn parse_time(value: &str) -> Result<jiff::Timestamp, String> {
    value.trim().parse::<jiff::Timestamp>().map_err(|e| {
        format!("restoreTime {value:?} is not a UTC time like 2026-01-31T03:00:00Z: {e}")
    })
}

/// RDS's time format (`yyyy-MM-ddTHH:mm:ssZ`).
pub fn rds_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether `t` lies in `[begin, end]` (either bound may be missing: then nothing does).
pub fn within(
    t: jiff::Timestamp,
    begin: Option<jiff::Timestamp>,
    end: Option<jiff::Timestamp>,
) -> bool {
    matches!((begin, end), (Some(b), Some(e)) if b <= t && t <= e)
}

/// Whether a restore with `status` is under way on `target_id` (an intent, or a recorded
/// restore that has not ended): another restore of the same target waits for it.
pub fn in_flight_on(status: Option<&RestoreStatus>, target_id: &str) -> bool {
    status.is_some_and(|s| {
        (s.pending_create.is_some() || s.restore_id.is_some())
            && s.target_id.as_deref() == Some(target_id)
            && !s.phase.is_some_and(RestorePhase::is_terminal)
    })
}

/// Whether the peer (`theirs`, named `their_name`) goes before us: its restore runs already,
/// or it recorded its intent first (ties: the lower name). An object without an intent
/// always waits for one with.
pub fn goes_first(
    theirs: Option<&RestoreStatus>,
    ours: Option<&RestoreStatus>,
    their_name: &str,
    our_name: &str,
) -> bool {
    if theirs.is_some_and(|s| s.restore_id.is_some()) {
        return true;
    }
    let at = |s: Option<&RestoreStatus>| {
        s.and_then(|s| s.pending_create.as_ref())
            .map(|p| p.started_at.0)
    };
    match (at(theirs), at(ours)) {
        (Some(_), None) => true,
        (Some(t), Some(o)) => t < o || (t == o && their_name < our_name),
        _ => false,
    }
}

/// A plan's wire parameters from `(name, value)` pairs; unset values are left out.
pub fn params<'a>(
    pairs: impl IntoIterator<Item = (&'a str, Option<String>)>,
) -> std::collections::BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

/// A plan's parameter, for the lookups after a crash.
pub fn param<'a>(plan: &'a RestorePlan, key: &str) -> Option<&'a str> {
    plan.parameters.get(key).map(String::as_str)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crd::PendingCreate;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn status(target: &str) -> RestoreStatus {
        RestoreStatus {
            restore_id: Some("r-1".into()),
            target_id: Some(target.into()),
            ..RestoreStatus::default()
        }
    }

    #[test]
    fn an_observation_settles_phase_progress_and_conditions() {
        let mut s = status("rm-1");
        let running = Observed::Running {
            cloud_status: "Creating".into(),
            progress: Some(140),
        };
        let (phase, health) = settle(&mut s, running, Duration::ZERO);
        assert_eq!(phase, RestorePhase::Restoring);
        assert_eq!(s.progress, Some(100), "clamped");
        assert!(health.message().contains("Creating"));
        let (phase, health) = settle(
            &mut s,
            Observed::Failed {
                cloud_status: "stop".into(),
                message: "name exists".into(),
            },
            Duration::ZERO,
        );
        assert_eq!(phase, RestorePhase::Failed);
        assert_eq!(health.reason(), reasons::FAILED);
        assert_eq!(s.cloud_message.as_deref(), Some("name exists"));
        let (phase, _) = settle(
            &mut s,
            Observed::Succeeded {
                cloud_status: "Running".into(),
            },
            Duration::ZERO,
        );
        assert_eq!((phase, s.progress), (RestorePhase::Succeeded, Some(100)));
    }

    #[test]
    fn a_missing_restore_is_gone_only_after_the_grace() {
        let mut s = status("rm-1");
        let (phase, _) = settle(&mut s, Observed::Missing, Duration::from_secs(5));
        assert_eq!(phase, RestorePhase::Restoring);
        let (phase, health) = settle(&mut s, Observed::Missing, MISSING_GRACE * 2);
        assert_eq!(
            (phase, health.reason()),
            (RestorePhase::Failed, reasons::GONE)
        );
    }

    #[test]
    fn an_overwrite_must_name_its_target() {
        assert!(confirm_overwrite::<()>(None, "rm-1", "instance").is_some());
        let other = RestoreOverwrite {
            confirm_target_id: "rm-2".into(),
        };
        let Some(Check::Refused { reason, message }) =
            confirm_overwrite::<()>(Some(&other), "rm-1", "instance")
        else {
            panic!("a wrong confirmation must be refused");
        };
        assert_eq!(reason, reasons::OVERWRITE_NOT_CONFIRMED);
        assert!(
            message.contains("rm-1") && message.contains("rm-2"),
            "{message}"
        );
        let right = RestoreOverwrite {
            confirm_target_id: " rm-1 ".into(),
        };
        assert!(confirm_overwrite::<()>(Some(&right), "rm-1", "instance").is_none());
    }

    #[test]
    fn times_parse_format_and_bound() {
        let t = parse_time("2026-01-31T03:00:00Z").unwrap();
        assert_eq!(rds_time(t), "2026-01-31T03:00:00Z");
        assert!(parse_time("yesterday").is_err());
        let b = parse_time("2026-01-30T00:00:00Z").ok();
        let e = parse_time("2026-02-01T00:00:00Z").ok();
        assert!(within(t, b, e));
        assert!(!within(t, e, None));
        assert!(!within(parse_time("2026-03-01T00:00:00Z").unwrap(), b, e));
    }

    #[test]
    fn restores_of_one_target_go_in_intent_order() {
        let at = |secs: i64| {
            let mut s = status("i-1");
            s.restore_id = None;
            s.pending_create = Some(PendingCreate {
                token: "t".into(),
                started_at: Time(jiff::Timestamp::from_second(secs).unwrap()),
            });
            s
        };
        let (early, late) = (at(10), at(20));
        assert!(in_flight_on(Some(&early), "i-1"));
        assert!(!in_flight_on(Some(&early), "i-2"));
        let mut running = status("i-1");
        assert!(in_flight_on(Some(&running), "i-1"), "a running restore");
        assert!(goes_first(Some(&running), Some(&early), "z", "a"));
        running.phase = Some(RestorePhase::Succeeded);
        assert!(!in_flight_on(Some(&running), "i-1"), "an ended restore");
        assert!(goes_first(Some(&early), Some(&late), "b", "a"));
        assert!(!goes_first(Some(&late), Some(&early), "a", "b"));
        assert!(
            goes_first(Some(&early), Some(&early), "a", "b"),
            "tie: lower name"
        );
        assert!(goes_first(Some(&early), None, "z", "a"));
    }
}
