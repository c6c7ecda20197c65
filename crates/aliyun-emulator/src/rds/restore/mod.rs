//! ApsaraDB RDS `2014-08-15` restore operations: `CloneDBInstance` (a new instance from a
//! backup set or a point in time), `DescribeDBInstanceAttribute` and `DescribeDBInstances`
//! (track and adopt a clone), `DescribeLocalAvailableRecoveryTime` (the point-in-time window),
//! `RestoreTable` (databases/tables restored into the live source instance) and
//! `DescribeHistoryTasks` (the task centre, where a table restore is tracked).
//!
//! Behaviour the documentation leaves open is chosen to be the safest for the user's data and
//! is listed in the crate README ("Restore operations").
//!
//! The pieces: `clone` (`CloneDBInstance`), `instances` (the instance reads and what an
//! instance holds), `table` (`RestoreTable`) and `history` (the task centre). Here: the
//! bookkeeping, the dispatch, and the checks the clone and the table restore share (restore
//! source, `ClientToken`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{RdsInstance, RdsState, invalid};
use crate::api::{ApiError, ApiResult, COMMON, Params, parse_utc_seconds};
use crate::scenario::{Scenario, target_matches};

mod clone;
mod history;
mod instances;
mod table;

pub use super::instance::{CloneOrigin, InstanceAttrs};
pub use history::{HistoryTask, TaskStatus};
pub use table::RestoreObject;

/// Emulated RDS restore actions.
pub const ACTIONS: &[&str] = &[
    "CloneDBInstance",
    "DescribeDBInstanceAttribute",
    "DescribeDBInstances",
    "DescribeLocalAvailableRecoveryTime",
    "RestoreTable",
    "DescribeHistoryTasks",
];

const DAY_MS: i64 = 86_400_000;

/// An idempotency token already used: the parameters of its first call and what it made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenUse {
    /// The business parameters of the first call (canonical JSON).
    pub fingerprint: String,
    /// `DBInstanceId` (clone) or `TaskId` (table restore) made by the first call.
    pub result: String,
}

/// RDS restore bookkeeping.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RestoreBook {
    /// `RestoreTable` tasks, oldest first.
    pub tasks: Vec<HistoryTask>,
    /// `ClientToken` of `CloneDBInstance` calls.
    pub clone_tokens: BTreeMap<String, TokenUse>,
    /// `ClientToken` of `RestoreTable` calls.
    pub table_tokens: BTreeMap<String, TokenUse>,
    /// Next `OrderId` / `TaskId` number.
    pub next_seq: u64,
}

impl RestoreBook {
    /// JSON view of the table-restore tasks.
    pub fn view(&self, now: i64) -> Value {
        json!(self.tasks.iter().map(|t| t.json(now)).collect::<Vec<_>>())
    }

    fn seq(&mut self) -> u64 {
        self.next_seq = self.next_seq.max(20_000_000_000) + 1;
        self.next_seq
    }
}

fn msg(status: u16, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::product(status, code, message)
}

fn incorrect_state() -> ApiError {
    msg(
        403,
        "IncorrectDBInstanceState",
        "The operation is not permitted due to status of instance.",
    )
}

fn mismatch() -> ApiError {
    msg(
        400,
        "IdempotentParameterMismatch",
        "The ClientToken was used before with different request parameters.",
    )
}

/// The business parameters of a call as canonical JSON (signature and protocol parameters
/// left out), to compare the calls made with one `ClientToken`.
fn fingerprint(p: &Params) -> String {
    let m: BTreeMap<&String, &String> =
        p.0.iter()
            .filter(|(k, _)| !COMMON.contains(&k.as_str()) && k.as_str() != "RegionId")
            .collect();
    json!(m).to_string()
}

fn client_token(p: &Params) -> Result<Option<&str>, ApiError> {
    match p.opt("ClientToken") {
        Some(t) if t.len() > 64 || !t.is_ascii() => Err(invalid("ClientToken")),
        t => Ok(t),
    }
}

/// What the first call with `token` made, when this call repeats it (same business
/// parameters); `IdempotentParameterMismatch` when the token was used with other parameters.
fn replayed<'b>(
    tokens: &'b BTreeMap<String, TokenUse>,
    token: Option<&str>,
    p: &Params,
) -> Result<Option<&'b TokenUse>, ApiError> {
    match token.and_then(|t| tokens.get(t)) {
        Some(used) if used.fingerprint != fingerprint(p) => Err(mismatch()),
        used => Ok(used),
    }
}

/// Records what the first call with `token` (if any) made.
fn remember(
    tokens: &mut BTreeMap<String, TokenUse>,
    token: Option<&str>,
    p: &Params,
    result: &str,
) {
    if let Some(t) = token {
        tokens.insert(
            t.to_owned(),
            TokenUse {
                fingerprint: fingerprint(p),
                result: result.to_owned(),
            },
        );
    }
}

/// `PageNumber` (1-based, default 1) and `PageSize` (default `default_size`, within `sizes`)
/// of the restore lists.
fn paging(
    p: &Params,
    default_size: i64,
    sizes: std::ops::RangeInclusive<i64>,
) -> Result<(i64, i64), ApiError> {
    let page = p.int("PageNumber", invalid)?.unwrap_or(1);
    let size = p.int("PageSize", invalid)?.unwrap_or(default_size);
    if page < 1 {
        return Err(invalid("PageNumber"));
    }
    if !sizes.contains(&size) {
        return Err(invalid("PageSize"));
    }
    Ok((page, size))
}

/// Parses an RDS `RestoreTime` (`yyyy-MM-ddTHH:mm:ssZ`, UTC, seconds required).
fn restore_time(p: &Params) -> Result<Option<i64>, ApiError> {
    let Some(s) = p.opt("RestoreTime") else {
        return Ok(None);
    };
    parse_utc_seconds(s).map(Some).ok_or_else(|| {
        msg(
            400,
            "InvalidUtcDateFormat.Format",
            "Specified UTC date format is not valid, it must be yyyy-MM-ddTHH:mm:ssZ.",
        )
    })
}

/// Exactly one of `BackupId` / `RestoreTime`.
fn one_source(p: &Params) -> Result<(Option<&str>, Option<i64>), ApiError> {
    let backup = p.opt("BackupId");
    let time = restore_time(p)?;
    match (backup, time) {
        (None, None) => Err(msg(
            400,
            "InvalidParameter",
            "You must specify at least one of the BackupId and RestoreTime parameters.",
        )),
        (Some(_), Some(_)) => Err(msg(
            400,
            "InvalidParameter",
            "Specify only one of the BackupId and RestoreTime parameters.",
        )),
        (b, t) => Ok((b, t)),
    }
}

impl RdsState {
    /// Applies a restore scenario to an in-progress clone or table restore.
    pub(crate) fn apply_restore_now(&mut self, s: &Scenario, now: i64) -> bool {
        match s {
            Scenario::RdsCloneFailure { target } if target.is_some() => {
                for i in self.instances.values_mut() {
                    let id = i.id.clone();
                    if let Some(c) = i.clone.as_mut()
                        && target_matches(target, &[&id, &c.source_id])
                        && !c.terminal(now)
                    {
                        c.fail = true;
                        return true;
                    }
                }
                false
            }
            Scenario::RdsRestoreTableFailure { target, reason } if target.is_some() => {
                for t in self.restore.tasks.iter_mut() {
                    if target_matches(target, &[&t.id, &t.instance_id]) && !t.terminal(now) {
                        t.fail_reason = Some(reason.clone());
                        return true;
                    }
                }
                false
            }
            _ => false,
        }
    }

    /// Dispatches one RDS restore action.
    pub(crate) fn handle_restore(
        &mut self,
        action: &str,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> Option<ApiResult> {
        Some(match action {
            "CloneDBInstance" => self.clone_db_instance(p, now, job_ms, pending),
            "DescribeDBInstanceAttribute" => self.describe_attribute(p, now),
            "DescribeDBInstances" => self.describe_instances(p, now),
            "DescribeLocalAvailableRecoveryTime" => self.recovery_time(p, now),
            "RestoreTable" => self.restore_table(p, now, job_ms, pending),
            "DescribeHistoryTasks" => self.describe_history_tasks(p, now),
            _ => return None,
        })
    }

    /// The instance, if it exists at `now` (a failed clone that is gone does not).
    fn live(&self, id: &str, now: i64) -> Option<&RdsInstance> {
        self.instances
            .get(id)
            .filter(|i| i.status_at(now).is_some())
    }

    /// The point-in-time window of an instance at `now`: from the end of its oldest
    /// successful, unexpired, undeleted backup set to now (log backup is always on).
    pub fn recovery_window(&self, id: &str, now: i64) -> Option<(i64, i64)> {
        let begin = self
            .tasks
            .iter()
            .filter(|t| t.instance_id == id && !t.deleted)
            .filter(|t| t.progress(now).status == "Finished")
            .filter(|t| t.retention_days < 0 || t.end_ms() + t.retention_days * DAY_MS > now)
            .map(|t| t.end_ms())
            .min()?;
        let end = now - now.rem_euclid(1000);
        (begin <= end).then_some((begin, end))
    }

    /// A successful, undeleted backup set `backup_id` of instance `id`.
    fn has_backup(&self, id: &str, backup_id: &str, now: i64) -> bool {
        self.tasks.iter().any(|t| {
            t.instance_id == id
                && !t.deleted
                && t.backup_id.to_string() == backup_id
                && t.progress(now).status == "Finished"
        })
    }

    /// Checks the restore source of `CloneDBInstance` / `RestoreTable` on instance `id`.
    fn check_source(
        &self,
        id: &str,
        backup: Option<&str>,
        time: Option<i64>,
        now: i64,
    ) -> Result<(), ApiError> {
        if let Some(b) = backup
            && !self.has_backup(id, b, now)
        {
            return Err(msg(
                404,
                "InvalidBackupId.NotFound",
                format!("The specified backup set {b} does not exist."),
            ));
        }
        if let Some(t) = time {
            let inside = self
                .recovery_window(id, now)
                .is_some_and(|(b, e)| b <= t && t <= e);
            if !inside {
                return Err(msg(
                    400,
                    "InvalidRestoreTime",
                    "The specified RestoreTime is outside the time range available for restoration (see DescribeLocalAvailableRecoveryTime).",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
