//! The plan operations: `CreateBackupPlan`, `CreateAndStartBackupPlan`, `ConfigureBackupPlan`,
//! `StartBackupPlan`, `StopBackupPlan`, `ReleaseBackupPlan`, `ModifyBackupPlanName`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::params::{endpoint_fields, purchase_fields, strategy_fields};
use super::{DbsPlan, DbsState, FullBackupSet, invalid, invalid_msg, no_plan};
use crate::api::{ApiResult, Params, obj, rand_alnum};
use crate::rds::RdsState;
use crate::scenario::{Scenario, take, target_matches};

impl DbsState {
    fn new_plan(&mut self, fields: BTreeMap<String, Value>, now: i64, job_ms: i64) -> String {
        let id = format!("dbs{}", rand_alnum(12));
        self.plans.push(DbsPlan {
            id: id.clone(),
            created_ms: now,
            started_ms: None,
            duration_ms: job_ms,
            precheck_fail: None,
            paused: false,
            released: false,
            fields,
        });
        id
    }

    fn order_id() -> String {
        let n: u64 = rand::random::<u64>() % 90_000_000_000 + 10_000_000_000;
        n.to_string()
    }

    pub(super) fn create_plan(&mut self, p: &Params, now: i64, job_ms: i64) -> ApiResult {
        p.req("Region")?;
        let mut f = BTreeMap::new();
        purchase_fields(p, &mut f)?;
        let id = self.new_plan(f, now, job_ms);
        Ok(obj([
            ("BackupPlanId", json!(id)),
            ("OrderId", json!(Self::order_id())),
        ]))
    }

    /// Starts the plan's pre-check now and schedules its first full backup.
    #[allow(clippy::too_many_arguments)]
    fn begin(
        &mut self,
        idx: usize,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
        rds: &RdsState,
        ecs: &[String],
    ) -> Option<String> {
        let plan = self.plans.get_mut(idx)?;
        plan.started_ms = Some(now);
        plan.duration_ms = job_ms;
        plan.paused = false;
        plan.precheck_fail = None;
        let src = plan
            .fields
            .get("SourceEndpointInstanceID")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let ty = plan
            .fields
            .get("SourceEndpointInstanceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let plan_id = plan.id.clone();
        // The pre-check looks the source database up.
        if ty == "rds" && !rds.instances.contains_key(&src) {
            plan.precheck_fail = Some(format!(
                "Precheck failed: the source RDS instance {src} does not exist or is not accessible."
            ));
        } else if ty == "ecs" && !ecs.contains(&src) {
            plan.precheck_fail = Some(format!(
                "Precheck failed: the source ECS instance {src} does not exist or is not accessible."
            ));
        } else if let Some(msg) = take(pending, |s| match s {
            Scenario::DbsPrecheckFailure {
                target,
                err_message,
            } if target_matches(target, &[&plan_id, &src]) => Some(err_message.clone()),
            _ => None,
        }) {
            plan.precheck_fail = Some(msg);
        }
        if plan.precheck_fail.is_some() {
            return None;
        }
        let at = plan.running_at();
        Some(self.new_set(&plan_id, at, job_ms, pending))
    }

    fn new_set(
        &mut self,
        plan_id: &str,
        start_ms: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> String {
        let id = rand_alnum(12);
        let fail = take(pending, |s| match s {
            Scenario::DbsBackupSetFailure {
                target,
                err_message,
            } if target_matches(target, &[plan_id]) => Some(err_message.clone()),
            _ => None,
        });
        self.sets.push(FullBackupSet {
            id: id.clone(),
            plan_id: plan_id.to_owned(),
            start_ms,
            duration_ms: job_ms,
            fail,
            stopped_ms: None,
        });
        id
    }

    pub(super) fn create_and_start(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
        rds: &RdsState,
        ecs: &[String],
    ) -> ApiResult {
        let name = p.req("BackupPlanName")?.to_owned();
        p.req("SourceEndpointInstanceType")?;
        let mut f = BTreeMap::new();
        let db_type = purchase_fields(p, &mut f)?;
        endpoint_fields(p, &db_type, &mut f)?;
        strategy_fields(p, &mut f, true)?;
        f.insert("BackupPlanName".into(), json!(name));
        let idx = match p.opt("BackupPlanId") {
            Some(id) => {
                let idx = self
                    .plans
                    .iter()
                    .position(|pl| pl.id == id && !pl.released)
                    .ok_or_else(|| no_plan(id))?;
                if let Some(pl) = self.plans.get_mut(idx) {
                    if pl.started_ms.is_some() {
                        return Err(invalid_msg(format!(
                            "The backup plan {id} is already configured and started."
                        )));
                    }
                    pl.fields.extend(f);
                }
                idx
            }
            None => {
                self.new_plan(f, now, job_ms);
                self.plans.len().saturating_sub(1)
            }
        };
        let set = self.begin(idx, now, job_ms, pending, rds, ecs);
        let id = self
            .plans
            .get(idx)
            .map(|p| p.id.clone())
            .unwrap_or_default();
        Ok(obj([
            ("BackupPlanId", json!(id)),
            ("OrderId", json!(Self::order_id())),
            ("CreateBackupSet", json!(set.is_some())),
        ]))
    }

    pub(super) fn configure(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
        rds: &RdsState,
        ecs: &[String],
    ) -> ApiResult {
        let id = p.req("BackupPlanId")?.to_owned();
        let name = p.req("BackupPlanName")?.to_owned();
        p.req("SourceEndpointInstanceType")?;
        let idx = self
            .plans
            .iter()
            .position(|pl| pl.id == id && !pl.released)
            .ok_or_else(|| no_plan(&id))?;
        let db_type = self
            .plans
            .get(idx)
            .and_then(|pl| pl.fields.get("DatabaseType"))
            .and_then(Value::as_str)
            .unwrap_or("MySQL")
            .to_owned();
        let mut f = BTreeMap::new();
        endpoint_fields(p, &db_type, &mut f)?;
        strategy_fields(p, &mut f, false)?;
        let auto = p.bool("AutoStartBackup", invalid)?.unwrap_or(false);
        if let Some(b) = p.bool("EnableSourceEndpointSsl", invalid)? {
            f.insert("SourceEndpointEnableSsl".into(), json!(b.to_string()));
        }
        f.insert("BackupPlanName".into(), json!(name));
        let not_started = match self.plans.get_mut(idx) {
            Some(pl) => {
                pl.fields.extend(f);
                pl.started_ms.is_none()
            }
            None => false,
        };
        if auto && not_started {
            self.begin(idx, now, job_ms, pending, rds, ecs);
        }
        Ok(obj([("BackupPlanId", json!(id))]))
    }

    pub(super) fn start(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> ApiResult {
        let id = p.req("BackupPlanId")?.to_owned();
        let plan = self.plan_mut(&id)?;
        let set_id = match plan.status(now) {
            Some("wait") => {
                return Err(invalid_msg(format!(
                    "The backup plan {id} is not configured; call ConfigureBackupPlan first."
                )));
            }
            Some("stop") => {
                // Retry the pre-check.
                plan.started_ms = Some(now);
                plan.precheck_fail = None;
                plan.paused = false;
                plan.duration_ms = job_ms;
                let at = plan.running_at();
                self.new_set(&id, at, job_ms, pending)
            }
            _ => {
                plan.paused = false;
                let at = plan.running_at().max(now);
                self.new_set(&id, at, job_ms, pending)
            }
        };
        Ok(obj([
            ("BackupPlanId", json!(id)),
            ("CreatedFullBackupsetId", json!(set_id)),
        ]))
    }

    pub(super) fn stop(&mut self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("BackupPlanId")?.to_owned();
        let method = p.req("StopMethod")?.to_owned();
        if !matches!(method.as_str(), "ALL" | "PLAN") {
            return Err(invalid_msg(format!(
                "The specified parameter StopMethod value {method} is not valid. Valid values: ALL, PLAN."
            )));
        }
        let plan = self.plan_mut(&id)?;
        if plan.status(now) == Some("wait") {
            return Err(invalid_msg(format!("The backup plan {id} is not started.")));
        }
        plan.paused = true;
        if method == "ALL" {
            // "Pauses the backup schedule, full data backup jobs, incremental log backup jobs,
            // and restore jobs".
            self.pause_restores(&id, now);
            for s in self.sets.iter_mut().filter(|s| s.plan_id == id) {
                let running = matches!(s.status(now), None | Some(("schedule" | "running", _, _)));
                if running && s.stopped_ms.is_none() {
                    s.stopped_ms = Some(now.max(s.start_ms));
                }
            }
        }
        Ok(obj([("BackupPlanId", json!(id))]))
    }

    pub(super) fn release(&mut self, p: &Params) -> ApiResult {
        let id = p.req("BackupPlanId")?.to_owned();
        self.plan_mut(&id)?.released = true;
        Ok(obj([("BackupPlanId", json!(id))]))
    }

    pub(super) fn modify_name(&mut self, p: &Params) -> ApiResult {
        let id = p.req("BackupPlanId")?.to_owned();
        let name = p.req("BackupPlanName")?.to_owned();
        self.plan_mut(&id)?
            .fields
            .insert("BackupPlanName".into(), json!(name));
        Ok(obj([("BackupPlanId", json!(id))]))
    }
}
