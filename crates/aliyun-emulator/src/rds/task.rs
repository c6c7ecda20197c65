//! One `CreateBackup` task and the backup set it produces, with its progress on the
//! emulator clock.

use serde::{Deserialize, Serialize};

/// One `CreateBackup` task and the backup set it produces.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RdsTask {
    /// `BackupJobId`.
    pub job_id: u64,
    /// `BackupId` of the backup set (shown once the task is finished).
    pub backup_id: u64,
    /// `DBInstanceId`.
    pub instance_id: String,
    /// Emulator time of `CreateBackup`, epoch ms.
    pub created_ms: i64,
    /// Task duration, ms.
    pub duration_ms: i64,
    /// `BackupMethod`.
    pub method: String,
    /// `BackupStrategy`, if given.
    pub strategy: Option<String>,
    /// `DBName`, if given.
    pub db_names: Option<String>,
    /// `BackupType` (`FullBackup`).
    pub backup_type: String,
    /// Retention days (`-1` = forever).
    pub retention_days: i64,
    /// Injected failure.
    pub fail: bool,
    /// Deleted by `DeleteBackup`.
    pub deleted: bool,
}

/// Progress of a task at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskProgress {
    /// `BackupStatus`.
    pub status: &'static str,
    /// `Process` percent.
    pub process: u32,
}

const FAIL_AT: f64 = 0.6;

impl RdsTask {
    fn frac(&self, now: i64) -> f64 {
        if self.duration_ms <= 0 {
            return 1.0;
        }
        (now - self.created_ms) as f64 / self.duration_ms as f64
    }

    /// Status and percent at `now`: `NoStart → Preparing → Waiting → Uploading → Checking →
    /// Finished` (or `Failed` during Uploading when a failure was injected).
    pub fn progress(&self, now: i64) -> TaskProgress {
        let f = self.frac(now);
        if self.fail && f >= FAIL_AT {
            return TaskProgress {
                status: "Failed",
                process: (FAIL_AT * 100.0) as u32,
            };
        }
        let status = match f {
            f if f < 0.1 => "NoStart",
            f if f < 0.25 => "Preparing",
            f if f < 0.4 => "Waiting",
            f if f < 0.85 => "Uploading",
            f if f < 1.0 => "Checking",
            _ => "Finished",
        };
        let process = if status == "Finished" {
            100
        } else if status == "NoStart" {
            0
        } else {
            ((f * 100.0) as u32).min(99)
        };
        TaskProgress { status, process }
    }

    /// Whether the task has ended (Finished or Failed).
    pub fn terminal(&self, now: i64) -> bool {
        matches!(self.progress(now).status, "Finished" | "Failed")
    }

    pub(crate) fn start_ms(&self) -> i64 {
        self.created_ms + self.duration_ms / 10
    }

    pub(crate) fn end_ms(&self) -> i64 {
        if self.fail {
            self.created_ms + (self.duration_ms as f64 * FAIL_AT) as i64
        } else {
            self.created_ms + self.duration_ms
        }
    }

    pub(super) fn size_bytes(&self) -> i64 {
        // Stable, plausible size derived from the id.
        ((self.job_id % 97) as i64 + 3) * 17 * 1024 * 1024
    }
}
