//! What the benchmark creates ([`Kind`]: `RdsBackup`s or `HbrBackupJob`s, with the emulated
//! instances they back up) and where the operator runs ([`Mode`]).

use std::time::Duration;

use aliyun_backup_operator::crd::{HbrBackupJob, RdsBackup};
use aliyun_backup_operator::sandbox::demo_emulator;
use aliyun_emulator::EmulatorConfig;
use kube::api::{ApiResource, DynamicObject};

use super::{CREDS, LABEL, NS};

/// The kind of object the benchmark creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rds,
    Hbr,
}

impl Kind {
    pub(crate) fn short(self) -> &'static str {
        match self {
            Kind::Rds => "rds",
            Kind::Hbr => "hbr",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Rds => "RdsBackup",
            Kind::Hbr => "HbrBackupJob",
        }
    }

    pub(crate) fn plural(self) -> &'static str {
        match self {
            Kind::Rds => "rdsbackups",
            Kind::Hbr => "hbrbackupjobs",
        }
    }

    pub(crate) fn api_resource(self) -> ApiResource {
        match self {
            Kind::Rds => ApiResource::erase::<RdsBackup>(&()),
            Kind::Hbr => ApiResource::erase::<HbrBackupJob>(&()),
        }
    }

    /// The cloud action that makes a backup (counted for exactly-once).
    pub(crate) fn create_action(self) -> &'static str {
        match self {
            Kind::Rds => "CreateBackup",
            Kind::Hbr => "CreateBackupJob",
        }
    }

    /// Phases after which the object does not change any more.
    pub(crate) fn is_terminal(self, phase: &str) -> bool {
        match self {
            Kind::Rds => matches!(phase, "Succeeded" | "Failed"),
            Kind::Hbr => matches!(
                phase,
                "Succeeded" | "PartiallySucceeded" | "Failed" | "Cancelled"
            ),
        }
    }

    /// The emulated instance object `i` backs up.
    pub(crate) fn instance(self, i: usize) -> String {
        match self {
            Kind::Rds => format!("rm-bench{i:05}"),
            Kind::Hbr => format!("i-bench{i:05}"),
        }
    }

    pub(crate) fn emulator(self, job: Duration, n: usize) -> EmulatorConfig {
        let instances = (0..n).map(|i| self.instance(i));
        let config = demo_emulator(job);
        match self {
            Kind::Rds => config
                .rds_instances(instances)
                .ecs_instances(Vec::<String>::new()),
            Kind::Hbr => config
                .rds_instances(Vec::<String>::new())
                .ecs_instances(instances),
        }
    }

    /// Object `i` of run `run`; `rds_details` is an `RdsBackup`'s `backupSetDetails`.
    pub(crate) fn object(self, i: usize, run: &str, rds_details: &str) -> DynamicObject {
        let instance = self.instance(i);
        let spec = match self {
            Kind::Rds => serde_json::json!({
                "region": "cn-hangzhou",
                "credentialsRef": {"name": CREDS},
                "dbInstanceId": instance,
                "backupSetDetails": rds_details,
            }),
            Kind::Hbr => serde_json::json!({
                "region": "cn-hangzhou",
                "credentialsRef": {"name": CREDS},
                "sourceType": "UDM_ECS",
                "instanceId": instance,
                "retention": 7,
                "detail": {"doCopy": false, "snapshotGroup": true, "diskIdList": ["d-1"]},
            }),
        };
        serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1",
            "kind": self.name(),
            "metadata": {
                "name": format!("bench-{i:05}"),
                "namespace": NS,
                "labels": {LABEL: run},
            },
            "spec": spec,
        }))
        .unwrap()
    }
}

/// Where the operator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Process,
    InProcess,
}
