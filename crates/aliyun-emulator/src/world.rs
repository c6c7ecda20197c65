//! All emulated resources plus the emulator clock offset (what `--state-file` persists).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{ApiResult, Params, Product, iso_seconds};
use crate::config::EmulatorConfig;
use crate::dbs::DbsState;
use crate::hbr::HbrState;
use crate::rds::RdsState;
use crate::scenario::Scenario;
use crate::sts::StsState;

/// The emulated cloud.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct World {
    /// Emulator clock = real time + this offset (ms).
    pub offset_ms: i64,
    /// RDS resources.
    pub rds: RdsState,
    /// DBS resources.
    pub dbs: DbsState,
    /// HBR resources.
    pub hbr: HbrState,
    /// Issued STS credentials.
    pub sts: StsState,
    /// Scenarios waiting for the next matching resource.
    pub pending: Vec<Scenario>,
}

impl World {
    /// A fresh world seeded from the configuration.
    pub fn seeded(cfg: &EmulatorConfig) -> Self {
        Self {
            offset_ms: 0,
            rds: RdsState::seeded(&cfg.rds_instances)
                .with_sets(&cfg.rds_backup_sets, crate::gateway::real_ms()),
            dbs: DbsState::default(),
            hbr: HbrState::seeded(&cfg.ecs_instances),
            sts: StsState::default(),
            pending: Vec::new(),
        }
    }

    /// Emulator time in epoch ms for a real time.
    pub fn now_ms(&self, real_ms: i64) -> i64 {
        real_ms.saturating_add(self.offset_ms)
    }

    /// Whether the action belongs to the product's emulated API surface.
    pub fn knows(product: Product, action: &str) -> bool {
        match product {
            Product::Rds => {
                matches!(
                    action,
                    "CreateBackup" | "DescribeBackupTasks" | "DescribeBackups" | "DeleteBackup"
                ) || crate::rds::restore::ACTIONS.contains(&action)
            }
            Product::Dbs => {
                crate::dbs::ACTIONS.contains(&action)
                    || crate::dbs::restore::RESTORE_ACTIONS.contains(&action)
            }
            Product::Hbr => {
                crate::hbr::ACTIONS.contains(&action)
                    || crate::hbr::restore::ACTIONS.contains(&action)
            }
            Product::Sts => matches!(action, "AssumeRoleWithOIDC" | "GetCallerIdentity"),
        }
    }

    /// Runs one action. `None` means the action is unknown.
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        product: Product,
        action: &str,
        p: &Params,
        now: i64,
        job_ms: i64,
        cfg: &EmulatorConfig,
        caller: Option<&str>,
    ) -> Option<ApiResult> {
        match product {
            Product::Rds => self.rds.handle(action, p, now, job_ms, &mut self.pending),
            Product::Dbs => self.dbs.handle(
                action,
                p,
                now,
                job_ms,
                &mut self.pending,
                &self.rds,
                &self.hbr.ecs_instances,
                &cfg.dbs_restore_success,
            ),
            Product::Hbr => self.hbr.handle(action, p, now, job_ms, &mut self.pending),
            Product::Sts => self.sts.handle(action, p, now, cfg, caller),
        }
    }

    /// Applies a scenario: at once to a matching in-progress resource, else queued.
    pub fn apply_scenario(&mut self, s: Scenario, now: i64) {
        let applied = match &s {
            Scenario::RdsTaskFailure { .. }
            | Scenario::RdsInstanceStatus { .. }
            | Scenario::RdsCloneFailure { .. }
            | Scenario::RdsRestoreTableFailure { .. } => self.rds.apply_now(&s, now),
            Scenario::DbsPrecheckFailure { .. }
            | Scenario::DbsBackupSetFailure { .. }
            | Scenario::DbsRestoreFailure { .. } => self.dbs.apply_now(&s, now),
            Scenario::HbrJobOutcome { .. } | Scenario::HbrRestoreOutcome { .. } => {
                self.hbr.apply_now(&s, now)
            }
        };
        if !applied && !matches!(s, Scenario::RdsInstanceStatus { .. }) {
            self.pending.push(s);
        }
    }

    /// JSON view of every resource with its status at `now`.
    pub fn view(&self, now: i64) -> Value {
        json!({
            "clock": { "now": iso_seconds(now), "now_ms": now, "offset_ms": self.offset_ms },
            "rds": self.rds.view(now),
            "dbs": self.dbs.view(now),
            "hbr": self.hbr.view(now),
            "sts": self.sts.view(now),
            "pending_scenarios": self.pending,
        })
    }
}
