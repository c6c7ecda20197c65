//! Unit tests of the restore-job states, the cancel and the restore/source type rule.

use serde_json::Map;

use super::*;
use crate::hbr::GIB;
use crate::scenario::HbrOutcome;

fn job() -> HbrRestoreJob {
    HbrRestoreJob {
        id: "r-1".into(),
        restore_type: "ECS_FILE".into(),
        source_type: "ECS_FILE".into(),
        snapshot_id: "s-1".into(),
        snapshot_hash: "h".into(),
        vault_id: "v-1".into(),
        backup_job_id: "job-1".into(),
        source_instance_id: "i-1".into(),
        created_ms: 0,
        duration_ms: 1000,
        outcome: None,
        canceled_ms: None,
        bytes_total: GIB,
        fields: Map::new(),
    }
}

#[test]
fn states_in_order_and_cancel() {
    let j = job();
    let seen: Vec<&str> = [0, 60, 500, 1000]
        .iter()
        .map(|t| j.progress(*t).status)
        .collect();
    assert_eq!(seen, ["CREATED", "QUEUED", "RUNNING", "COMPLETE"]);
    let mut c = job();
    c.canceled_ms = Some(300);
    assert_eq!(c.progress(300).status, "CANCELING");
    assert!(!c.terminal(300));
    assert_eq!(c.progress(400).status, "CANCELED");
    assert!(c.terminal(2000));
    let mut f = job();
    f.outcome = Some((HbrOutcome::Failed, "x".into()));
    assert_eq!(f.progress(500).status, "FAILED");
    assert!(same_kind("UDM_ECS_ROLLBACK", "UDM_ECS"));
    assert!(!same_kind("OSS", "ECS_FILE"));
}
