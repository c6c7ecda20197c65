//! `RestoreTable`: databases and tables of a backup set or a point in time restored into the
//! live source instance, as a task of the task centre.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{HistoryTask, client_token, incorrect_state, msg, one_source, remember, replayed};
use crate::api::{ApiError, ApiResult, Params, obj};
use crate::rds::{RdsInstance, RdsState, instance_not_found, invalid};
use crate::scenario::{Scenario, take, target_matches};

/// A database or table of a `TableMeta` entry and the name it is restored to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreObject {
    /// Source object (`db` or `db.table`).
    pub name: String,
    /// Target object (`newdb` or `newdb.newtable`).
    pub newname: String,
}

/// Parses `TableMeta` into (source, target) object pairs.
pub(super) fn parse_table_meta(raw: &str, engine: &str) -> Result<Vec<RestoreObject>, ApiError> {
    let bad = || invalid("TableMeta");
    let v: Value = serde_json::from_str(raw).map_err(|_| bad())?;
    let dbs = v.as_array().filter(|a| !a.is_empty()).ok_or_else(bad)?;
    let name_of = |o: &Value, key: &str| -> Option<String> {
        o.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.contains('.'))
            .map(str::to_owned)
    };
    let mut out = Vec::new();
    for db in dbs {
        if db.get("type").and_then(Value::as_str) != Some("db") {
            return Err(bad());
        }
        let name = name_of(db, "name").ok_or_else(bad)?;
        // No `newname` means the original name: a restore over the existing database.
        let newname = name_of(db, "newname").unwrap_or_else(|| name.clone());
        let tables = match db.get("tables") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(bad()),
        };
        if tables.is_empty() {
            out.push(RestoreObject { name, newname });
            continue;
        }
        if engine.eq_ignore_ascii_case("PostgreSQL") {
            // "ApsaraDB RDS for PostgreSQL supports only the restoration of specific
            // databases, not specific tables".
            return Err(msg(
                400,
                "InvalidParameter",
                "PostgreSQL supports only the restoration of specific databases, not specific tables.",
            ));
        }
        for t in &tables {
            if t.get("type").and_then(Value::as_str) != Some("table") {
                return Err(bad());
            }
            let tname = name_of(t, "name").ok_or_else(bad)?;
            let tnew = name_of(t, "newname").unwrap_or_else(|| tname.clone());
            out.push(RestoreObject {
                name: format!("{name}.{tname}"),
                newname: format!("{newname}.{tnew}"),
            });
        }
    }
    Ok(out)
}

impl RdsState {
    pub(super) fn restore_table(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> ApiResult {
        let id = p.req("DBInstanceId")?;
        let meta_raw = p.req("TableMeta")?;
        let token = client_token(p)?;
        if replayed(&self.restore.table_tokens, token, p)?.is_some() {
            return Ok(obj([]));
        }
        let (backup, time) = one_source(p)?;
        p.bool("InstantRecovery", invalid)?;
        let (inst, objects) = self.table_target(id, meta_raw, now)?;
        self.check_source(id, backup, time, now)?;
        let mut fail_reason = self.taken_names(inst, &objects, now);
        let task_id = self.restore.seq().to_string();
        if let Some(r) = take(pending, |s| match s {
            Scenario::RdsRestoreTableFailure { target, reason }
                if target_matches(target, &[id]) =>
            {
                Some(reason.clone())
            }
            _ => None,
        }) {
            fail_reason.get_or_insert(r);
        }
        self.restore.tasks.push(HistoryTask {
            id: task_id.clone(),
            instance_id: id.to_owned(),
            task_type: "RestoreTable".into(),
            created_ms: now,
            duration_ms: job_ms,
            backup_id: backup.map(str::to_owned),
            restore_time_ms: time,
            objects,
            fail_reason,
        });
        remember(&mut self.restore.table_tokens, token, p, &task_id);
        // "RequestId only. No task ID and no job ID".
        Ok(obj([]))
    }

    /// The instance a table restore writes into (live, of an engine that restores databases
    /// or tables, `Running`, with no other unfinished table restore) and what `TableMeta`
    /// restores there.
    fn table_target(
        &self,
        id: &str,
        meta_raw: &str,
        now: i64,
    ) -> Result<(&RdsInstance, Vec<RestoreObject>), ApiError> {
        let inst = self.live(id, now).ok_or_else(|| instance_not_found(404))?;
        if !inst.engine.eq_ignore_ascii_case("MySQL")
            && !inst.engine.eq_ignore_ascii_case("PostgreSQL")
        {
            return Err(msg(
                400,
                "IncorrectDBInstanceType",
                "The engine does not support restoring individual databases or tables.",
            ));
        }
        let objects = parse_table_meta(meta_raw, &inst.engine)?;
        if inst.status_at(now) != Some("Running") {
            return Err(incorrect_state());
        }
        if self
            .restore
            .tasks
            .iter()
            .any(|t| t.instance_id == id && !t.terminal(now))
        {
            return Err(msg(
                403,
                "ConcurrentTaskExceeded",
                "A restore task is already running on the instance.",
            ));
        }
        Ok((inst, objects))
    }

    /// Why the task fails because of the names it writes, if it does: "The names that you
    /// want to use for the restored tables do not exist in the instance." A target that exists
    /// (or the original name itself) fails the task, and nothing is written.
    fn taken_names(
        &self,
        inst: &RdsInstance,
        objects: &[RestoreObject],
        now: i64,
    ) -> Option<String> {
        let taken: Vec<&str> = objects
            .iter()
            .filter(|o| o.newname == o.name || self.object_exists(inst, &o.newname, now))
            .map(|o| o.newname.as_str())
            .collect();
        (!taken.is_empty()).then(|| {
            format!(
                "The names that you want to use for the restored objects exist in the instance: {}",
                taken.join(", ")
            )
        })
    }
}
