//! The backup operations: `CreateBackup`, `DescribeBackupTasks`, `DescribeBackups`,
//! `DeleteBackup`.

use serde_json::{Value, json};

use super::{DAILY_BACKUP_LIMIT, RdsState, RdsTask, instance_not_found, invalid};
use crate::api::{
    ApiError, ApiResult, Params, iso_seconds, obj, page as page_of, parse_iso, utc_day,
};
use crate::scenario::{Scenario, take, target_matches};

/// RDS database-name rule (doc, `InvalidDBName.Format`): up to 16 characters of lower-case
/// letters, digits and underscores, starting with a letter and ending with a letter or digit.
pub fn valid_db_name(name: &str) -> bool {
    let b = name.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    b.len() <= 16
        && first.is_ascii_lowercase()
        && (last.is_ascii_lowercase() || last.is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// The checked parameters of a `CreateBackup` call.
struct BackupRequest<'a> {
    /// `BackupMethod` (`Physical` when omitted).
    method: &'a str,
    /// `BackupStrategy`.
    strategy: Option<&'a str>,
    /// `DBName`.
    db_names: Option<&'a str>,
    /// `BackupRetentionPeriod`.
    retention: Option<i64>,
}

impl<'a> BackupRequest<'a> {
    fn parse(p: &'a Params) -> Result<Self, ApiError> {
        let method = p.opt("BackupMethod").unwrap_or("Physical");
        if !matches!(method, "Logical" | "Physical" | "Snapshot") {
            return Err(ApiError::product(
                400,
                "InvalidBackupMethod.ValueNotSupport",
                "The specified parameter \"BackupMethod\" is not valid.",
            ));
        }
        // The API reference says when BackupType, BackupStrategy and DBName "can be specified"
        // or are "valid" (BackupType: Physical; BackupStrategy: MySQL logical or SQL Server
        // physical; DBName: database-level backups), not that other uses are refused: they are
        // accepted (and have no effect). Only values outside the documented ones are refused.
        p.choice("BackupType", &["Auto", "FullBackup"], |_| {
            ApiError::product(
                400,
                "BackupType.NotSupport",
                "the specified backup type not support",
            )
        })?;
        let strategy = p.choice("BackupStrategy", &["db", "instance"], invalid)?;
        let db_names = p.opt("DBName");
        if let Some(names) = db_names
            && !names.split(',').all(|n| valid_db_name(n.trim()))
        {
            return Err(ApiError::product(
                400,
                "InvalidDBName.Format",
                "Specified DB name is not valid.",
            ));
        }
        if strategy == Some("db") && db_names.is_none() {
            // A database-level backup names its databases (emulator's choice of code).
            return Err(ApiError::missing("DBName"));
        }
        let retention = p.int("BackupRetentionPeriod", invalid)?;
        if let Some(r) = retention
            && r != -1
            && !(7..=730).contains(&r)
        {
            return Err(invalid("BackupRetentionPeriod"));
        }
        Ok(Self {
            method,
            strategy,
            db_names,
            retention,
        })
    }
}

impl RdsState {
    pub(super) fn create_backup(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> ApiResult {
        let id = p.req("DBInstanceId")?;
        let inst = self
            .instances
            .get(id)
            .filter(|i| i.status_at(now).is_some())
            .ok_or_else(|| instance_not_found(400))?;
        let req = BackupRequest::parse(p)?;
        if inst.status_at(now) != Some("Running") {
            return Err(ApiError::product(
                403,
                "IncorrectDBInstanceState",
                "Current DB instance state does not support this operation.",
            ));
        }
        self.check_backup_allowed(id, now)?;
        let job = self.add_task(id, &req, now, job_ms, pending);
        Ok(obj([("BackupJobId", json!(job))]))
    }

    /// One running task per instance, and at most [`DAILY_BACKUP_LIMIT`] per UTC day.
    fn check_backup_allowed(&self, id: &str, now: i64) -> Result<(), ApiError> {
        if self
            .tasks
            .iter()
            .any(|t| t.instance_id == id && !t.terminal(now))
        {
            return Err(ApiError::product(
                400,
                "BackupJobExists",
                "A backup job already exists in the specified DB instance.",
            ));
        }
        let today = utc_day(now);
        let created_today = self
            .tasks
            .iter()
            .filter(|t| t.instance_id == id && utc_day(t.created_ms) == today)
            .count();
        if created_today >= DAILY_BACKUP_LIMIT {
            // Code, HTTP status and message of the CreateBackup error table.
            return Err(ApiError::product(
                403,
                "Exceeded.BackupTimes",
                "The backup times exceeds.",
            ));
        }
        Ok(())
    }

    /// Records the new task (failing if a pending scenario says so); returns its `BackupJobId`.
    fn add_task(
        &mut self,
        id: &str,
        req: &BackupRequest<'_>,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> String {
        let job_id = self.next_job_id;
        self.next_job_id += 1;
        let backup_id = self.next_backup_id;
        self.next_backup_id += 1;
        let job = job_id.to_string();
        let fail = take(pending, |s| match s {
            Scenario::RdsTaskFailure { target } if target_matches(target, &[&job, id]) => Some(()),
            _ => None,
        })
        .is_some();
        self.tasks.push(RdsTask {
            job_id,
            backup_id,
            instance_id: id.to_owned(),
            created_ms: now,
            duration_ms: job_ms,
            method: req.method.to_owned(),
            strategy: req.strategy.map(str::to_owned),
            db_names: req.db_names.map(str::to_owned),
            backup_type: "FullBackup".into(),
            retention_days: req.retention.unwrap_or(7),
            fail,
            deleted: false,
        });
        job
    }

    pub(super) fn describe_backup_tasks(&self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("DBInstanceId")?;
        if !self.instances.contains_key(id) {
            return Err(instance_not_found(404));
        }
        let job_filter = p.int("BackupJobId", invalid)?;
        let status_filter = p.choice("BackupJobStatus", &["NoStart", "Progressing"], invalid)?;
        let mode = p.choice("BackupMode", &["Automated", "Manual"], invalid)?;
        let mut items = Vec::new();
        for t in self.tasks.iter().filter(|t| t.instance_id == id) {
            if let Some(j) = job_filter
                && t.job_id as i64 != j
            {
                continue;
            }
            if mode == Some("Automated") {
                continue;
            }
            let pr = t.progress(now);
            let keep = match status_filter {
                Some("NoStart") => pr.status == "NoStart",
                Some(_) => !matches!(pr.status, "NoStart" | "Finished" | "Failed"),
                // Without a status filter only running tasks are listed, unless the caller
                // asks for one job by id (then its final state is visible too).
                None => job_filter.is_some() || !matches!(pr.status, "Finished" | "Failed"),
            };
            if !keep {
                continue;
            }
            let mut item = obj([
                ("BackupJobId", json!(t.job_id.to_string())),
                ("BackupStatus", json!(pr.status)),
                (
                    "BackupProgressStatus",
                    json!(if pr.status == "Failed" {
                        "Uploading"
                    } else {
                        pr.status
                    }),
                ),
                ("JobMode", json!("Manual")),
                ("Process", json!(pr.process.to_string())),
                ("TaskAction", json!("TempBackupTask")),
            ]);
            if pr.status == "Finished" && job_filter.is_some() {
                item.insert("BackupId".into(), json!(t.backup_id.to_string()));
            }
            items.push(Value::Object(item));
        }
        Ok(obj([("Items", json!({ "BackupJob": items }))]))
    }

    pub(crate) fn backup_json(&self, t: &RdsTask, now: i64) -> Option<Value> {
        let pr = t.progress(now);
        let ok = match pr.status {
            "Finished" => true,
            "Failed" => false,
            _ => return None,
        };
        let inst = self.instances.get(&t.instance_id)?;
        let size = if ok { t.size_bytes() } else { 0 };
        let end = t.end_ms();
        let expire = if t.retention_days < 0 {
            String::new()
        } else {
            iso_seconds(end + t.retention_days * 86_400_000)
        };
        let url = format!(
            "http://rdsbak-emulator.oss.local/{}/{}_backup.tar.gz",
            t.instance_id, t.backup_id
        );
        Some(json!({
            "BackupId": t.backup_id.to_string(),
            "DBInstanceId": t.instance_id,
            "BackupStatus": if ok { "Success" } else { "Failed" },
            "StoreStatus": if ok { "Enabled" } else { "Disabled" },
            "MetaStatus": if ok { "OK" } else { "EMPTY" },
            "BackupStartTime": iso_seconds(t.start_ms()),
            "BackupEndTime": iso_seconds(end),
            "BackupSize": size,
            "BackupMethod": t.method,
            "BackupMode": "Manual",
            "BackupType": t.backup_type,
            "BackupInitiator": "User",
            "ConsistentTime": end / 1000,
            "BackupDownloadURL": if ok { url.clone() } else { String::new() },
            "BackupIntranetDownloadURL": if ok { url } else { String::new() },
            "Engine": inst.engine,
            "EngineVersion": inst.engine_version,
            "HostInstanceID": format!("{}", 10_000_000 + t.job_id % 1000),
            "IsAvail": if ok { 1 } else { 0 },
            "Encryption": "{}",
            "StorageClass": "0",
            "ExpectExpireTime": expire,
            "Checksum": if ok { format!("{:016x}", t.backup_id.wrapping_mul(0x9e37_79b9_7f4a_7c15)) } else { String::new() },
            "CopyOnlyBackup": "0",
        }))
    }

    pub(super) fn describe_backups(&self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("DBInstanceId")?;
        if !self.instances.contains_key(id) {
            return Err(instance_not_found(404));
        }
        let page = p.int("PageNumber", invalid)?.unwrap_or(1);
        if page < 1 {
            return Err(invalid("PageNumber"));
        }
        let size = p.int("PageSize", invalid)?.unwrap_or(30);
        if !matches!(size, 30 | 50 | 100) {
            return Err(invalid("PageSize"));
        }
        let window = start_end(p)?;
        p.choice("BackupStatus", &["Success", "Failed"], invalid)?;
        p.choice("BackupMode", &["Automated", "Manual"], invalid)?;
        p.choice("BackupType", &["FullBackup", "IncrementalBackup"], invalid)?;
        let all = self.listed_backups(id, p, window, now);
        let total = all.len();
        let items = page_of(all, page - 1, size);
        Ok(obj([
            ("Items", json!({ "Backup": items })),
            ("PageNumber", json!(page.to_string())),
            ("PageRecordCount", json!(items.len().to_string())),
            ("TotalRecordCount", json!(total.to_string())),
            ("TotalEcsSnapshotSize", json!(0)),
        ]))
    }

    /// The ended, undeleted backup sets of instance `id` that match the `DescribeBackups`
    /// filters, newest first (like the console).
    fn listed_backups(
        &self,
        id: &str,
        p: &Params,
        (start, end): (Option<i64>, Option<i64>),
        now: i64,
    ) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        for t in self
            .tasks
            .iter()
            .rev()
            .filter(|t| t.instance_id == id && !t.deleted)
        {
            if let Some(b) = p.opt("BackupId")
                && b != t.backup_id.to_string()
            {
                continue;
            }
            if start.is_some_and(|s| t.start_ms() < s) || end.is_some_and(|e| t.start_ms() > e) {
                continue;
            }
            let Some(v) = self.backup_json(t, now) else {
                continue;
            };
            let field_is = |k: &str, want: Option<&str>| {
                want.is_none_or(|w| v.get(k).and_then(Value::as_str) == Some(w))
            };
            if !field_is("BackupStatus", p.opt("BackupStatus"))
                || !field_is("BackupMode", p.opt("BackupMode"))
                || !field_is("BackupType", p.opt("BackupType"))
            {
                continue;
            }
            all.push(v);
        }
        all
    }

    pub(super) fn delete_backup(&mut self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("DBInstanceId")?;
        let ids_raw = p.req("BackupId")?;
        if !self.instances.contains_key(id) {
            return Err(instance_not_found(404));
        }
        let ids: Vec<&str> = ids_raw.split(',').map(str::trim).collect();
        if ids.len() > 100 {
            // Code and message of the DeleteBackup error table.
            return Err(ApiError::product(
                400,
                "DeleteBackupSetNumExceed",
                "Delete backup set number is more than 100.",
            ));
        }
        if ids.iter().any(|s| s.is_empty()) {
            return Err(invalid("BackupId"));
        }
        let mut idx = Vec::new();
        for b in &ids {
            let found = self.tasks.iter().position(|t| {
                t.instance_id == id
                    && !t.deleted
                    && t.backup_id.to_string() == *b
                    && t.terminal(now)
            });
            let Some(i) = found else {
                return Err(ApiError::product(
                    404,
                    "InvalidBackupId.NotFound",
                    format!("The specified backup set {b} does not exist."),
                ));
            };
            let t = self.tasks.get(i).ok_or_else(|| invalid("BackupId"))?;
            if t.progress(now).status != "Finished" {
                return Err(ApiError::product(
                    403,
                    "IncorrectBackupSetState",
                    format!(
                        "The backup set {b} cannot be deleted because its StoreStatus is Disabled."
                    ),
                ));
            }
            idx.push(i);
        }
        for i in idx {
            if let Some(t) = self.tasks.get_mut(i) {
                t.deleted = true;
            }
        }
        Ok(obj([]))
    }
}

/// `StartTime` / `EndTime` of `DescribeBackups` (`yyyy-MM-ddTHH:mmZ`), end not before start.
fn start_end(p: &Params) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let start = match p.opt("StartTime") {
        Some(s) => Some(parse_iso(s).ok_or_else(|| {
            ApiError::product(
                400,
                "InvalidStartTime.Malformed",
                "Specified start time is not valid.",
            )
        })?),
        None => None,
    };
    let end = match p.opt("EndTime") {
        Some(s) => Some(parse_iso(s).ok_or_else(|| {
            ApiError::product(
                400,
                "InvalidEndTime.Malformed",
                "Specified end time is not valid.",
            )
        })?),
        None => None,
    };
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        return Err(ApiError::product(
            400,
            "InvalidEndTime.Malformed",
            "The end time must be later than the start time.",
        ));
    }
    Ok((start, end))
}
