//! An RDS instance: what `DescribeDBInstanceAttribute` shows of it, where a clone came from,
//! and its `DBInstanceStatus` at a point in time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A seeded RDS instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RdsInstance {
    /// `DBInstanceId`.
    pub id: String,
    /// `DBInstanceStatus` (`Running` when seeded).
    pub status: String,
    /// Engine (`MySQL`).
    pub engine: String,
    /// Engine version.
    pub engine_version: String,
    /// Set on an instance made by `CloneDBInstance`: where it came from and its creation job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone: Option<CloneOrigin>,
    /// Attributes given at creation (`CloneDBInstance`) or the seeded defaults.
    #[serde(default)]
    pub attrs: InstanceAttrs,
    /// Tags (`Tag.N.Key`/`Tag.N.Value` of `CloneDBInstance`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Databases (`db`) and tables (`db.table`) known to exist besides the ones every backup
    /// names (added by a finished `RestoreTable`; see `rds::restore`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub objects: std::collections::BTreeSet<String>,
}

impl RdsInstance {
    /// A seeded, running MySQL 8.0 instance.
    pub fn running(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            status: "Running".into(),
            engine: "MySQL".into(),
            engine_version: "8.0".into(),
            clone: None,
            attrs: InstanceAttrs::default(),
            tags: BTreeMap::new(),
            objects: std::collections::BTreeSet::new(),
        }
    }
}

/// Fraction of the job duration at which a failed clone turns `Deleting`.
const CLONE_FAIL_AT: f64 = 0.6;

/// Instance attributes shown by `DescribeDBInstanceAttribute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceAttrs {
    /// `DBInstanceClass`.
    pub class: String,
    /// `DBInstanceStorage` (GB).
    pub storage: i64,
    /// `DBInstanceStorageType`.
    pub storage_type: String,
    /// `Category`.
    pub category: String,
    /// `PayType`.
    pub pay_type: String,
    /// `ZoneId`.
    pub zone_id: String,
    /// `InstanceNetworkType`.
    pub network_type: String,
    /// `VpcId`.
    pub vpc_id: String,
    /// `VSwitchId`.
    pub vswitch_id: String,
    /// `DBInstanceDescription`.
    pub description: String,
    /// `DeletionProtection`.
    pub deletion_protection: bool,
    /// Creation time (emulator ms; 0 = seeded).
    pub created_ms: i64,
}

impl Default for InstanceAttrs {
    fn default() -> Self {
        Self {
            class: "mysql.n2.medium.1".into(),
            storage: 100,
            storage_type: "cloud_essd".into(),
            category: "HighAvailability".into(),
            pay_type: "Postpaid".into(),
            zone_id: "cn-hangzhou-i".into(),
            network_type: "VPC".into(),
            vpc_id: "vpc-emulator".into(),
            vswitch_id: "vsw-emulator".into(),
            description: String::new(),
            deletion_protection: false,
            created_ms: 0,
        }
    }
}

/// Where a cloned instance came from and its creation job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneOrigin {
    /// Source `DBInstanceId`.
    pub source_id: String,
    /// `BackupId`, when cloned from a backup set.
    pub backup_id: Option<String>,
    /// `RestoreTime` (epoch ms), when cloned to a point in time.
    pub restore_time_ms: Option<i64>,
    /// `CloneDBInstance` time (emulator ms).
    pub created_ms: i64,
    /// Creation job duration (ms).
    pub duration_ms: i64,
    /// `OrderId`.
    pub order_id: String,
    /// Injected failure (`RdsCloneFailure`).
    pub fail: bool,
}

impl CloneOrigin {
    fn frac(&self, now: i64) -> f64 {
        if self.duration_ms <= 0 {
            return 1.0;
        }
        (now - self.created_ms) as f64 / self.duration_ms as f64
    }

    /// Whether the creation job has ended (Running, or gone after a failure).
    pub fn terminal(&self, now: i64) -> bool {
        self.frac(now) >= 1.0
    }
}

impl RdsInstance {
    /// `DBInstanceStatus` at `now`; `None` once a failed clone is gone. A clone is `Creating`
    /// for the job duration, then takes its stored status (`Running`); a failed clone turns
    /// `Deleting` at 60 % and is gone at the end.
    pub fn status_at(&self, now: i64) -> Option<&str> {
        match &self.clone {
            Some(c) if c.fail => {
                let f = c.frac(now);
                if f < CLONE_FAIL_AT {
                    Some("Creating")
                } else if f < 1.0 {
                    Some("Deleting")
                } else {
                    None
                }
            }
            Some(c) if c.frac(now) < 1.0 => Some("Creating"),
            _ => Some(self.status.as_str()),
        }
    }
}
