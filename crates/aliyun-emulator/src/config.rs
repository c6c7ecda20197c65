//! Emulator configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Configuration of one emulator instance.
///
/// `Default` gives: listen `127.0.0.1:0`, the credential `testid` / `testsecret`, the RDS
/// instance `rm-demo01`, the ECS instance `i-demo01`, a 5 s job duration and no QPS limit.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to bind (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Accepted AccessKey pairs `(id, secret)`.
    pub credentials: Vec<(String, String)>,
    /// Seeded RDS instance ids (status `Running`, engine MySQL 8.0).
    pub rds_instances: Vec<String>,
    /// Seeded ECS instance ids (usable by HBR `UDM_ECS`/`ECS_FILE` jobs and DBS ECS sources).
    pub ecs_instances: Vec<String>,
    /// Backup sets that exist before any call `(DBInstanceId, BackupId)`: finished manual
    /// physical backups made a day before the emulator started (what an account already has).
    pub rds_backup_sets: Vec<(String, u64)>,
    /// How long a backup (RDS task, DBS full backup set, HBR job) takes on the emulator clock.
    pub job_duration: Duration,
    /// Per-AccessKey request limit per second (`Throttling.User` above it).
    pub qps: Option<u32>,
    /// Persist resources to this JSON file (loaded at start when it exists).
    pub state_file: Option<PathBuf>,
    /// Allowed difference between the request timestamp and the real wall clock.
    pub timestamp_window: Duration,
    /// How long an injected `timeout` fault holds the request before answering 504.
    pub timeout_hold: Duration,
    /// Account id used in STS ARNs.
    pub account_id: String,
    /// Seed of the draws of faults with a `rate` (none = from entropy): the same seed gives the
    /// same sequence of hit/miss decisions.
    pub fault_seed: Option<u64>,
    /// The `RestoreStatus` a DBS restore task ends with when it succeeds. No success value is
    /// documented; `finish` (the success value of full backup sets) by default.
    pub dbs_restore_success: String,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            credentials: vec![("testid".into(), "testsecret".into())],
            rds_instances: vec!["rm-demo01".into()],
            ecs_instances: vec!["i-demo01".into()],
            rds_backup_sets: Vec::new(),
            job_duration: Duration::from_secs(5),
            qps: None,
            state_file: None,
            timestamp_window: Duration::from_secs(15 * 60),
            timeout_hold: Duration::from_secs(60),
            account_id: "1234567890123456".into(),
            fault_seed: None,
            dbs_restore_success: "finish".into(),
        }
    }
}

impl EmulatorConfig {
    /// Replaces the accepted credentials.
    pub fn credentials(mut self, creds: impl IntoIterator<Item = (String, String)>) -> Self {
        self.credentials = creds.into_iter().collect();
        self
    }

    /// Adds an accepted credential.
    pub fn with_credential(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.credentials.push((id.into(), secret.into()));
        self
    }

    /// Replaces the seeded RDS instances.
    pub fn rds_instances(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.rds_instances = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a backup set that exists from the start on the seeded instance `instance`.
    pub fn with_rds_backup_set(mut self, instance: impl Into<String>, backup_id: u64) -> Self {
        self.rds_backup_sets.push((instance.into(), backup_id));
        self
    }

    /// Adds a seeded RDS instance.
    pub fn with_rds_instance(mut self, id: impl Into<String>) -> Self {
        self.rds_instances.push(id.into());
        self
    }

    /// Replaces the seeded ECS instances.
    pub fn ecs_instances(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.ecs_instances = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a seeded ECS instance.
    pub fn with_ecs_instance(mut self, id: impl Into<String>) -> Self {
        self.ecs_instances.push(id.into());
        self
    }

    /// Sets the backup duration.
    pub fn with_job_duration(mut self, d: Duration) -> Self {
        self.job_duration = d;
        self
    }

    /// Sets the per-AccessKey QPS limit.
    pub fn with_qps(mut self, qps: u32) -> Self {
        self.qps = Some(qps);
        self
    }

    /// Sets the listen address.
    pub fn with_listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Persists state to a file.
    pub fn with_state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Seeds the draws of faults with a `rate` (reproducible fault sequences).
    pub fn with_fault_seed(mut self, seed: u64) -> Self {
        self.fault_seed = Some(seed);
        self
    }

    /// Sets the `RestoreStatus` of a successful DBS restore task (default `finish`).
    pub fn with_dbs_restore_success_status(mut self, status: impl Into<String>) -> Self {
        self.dbs_restore_success = status.into();
        self
    }

    /// Sets how long `timeout` faults hold a request.
    pub fn with_timeout_hold(mut self, d: Duration) -> Self {
        self.timeout_hold = d;
        self
    }
}
