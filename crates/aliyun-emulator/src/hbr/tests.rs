//! Unit tests of the `SpeedLimit` rule and the backup-job progress.

use serde_json::{Map, json};

use super::*;
use crate::scenario::HbrOutcome;

#[test]
fn speed_limit_format() {
    assert!(valid_speed_limit("0:24:1024"));
    assert!(valid_speed_limit("0:8:1024|8:24:2048"));
    for bad in ["", "0:25:1", "8:8:1", "0:24", "a:b:c", "0:24:x"] {
        assert!(!valid_speed_limit(bad), "{bad}");
    }
}

#[test]
fn job_progress() {
    let mut j = HbrJob {
        id: "job-1".into(),
        name: String::new(),
        source_type: "UDM_ECS".into(),
        instance_id: "i-1".into(),
        vault_id: String::new(),
        backup_type: "COMPLETE".into(),
        retention: 7,
        created_ms: 0,
        duration_ms: 1000,
        outcome: None,
        canceled_ms: None,
        bytes_total: 100,
        detail: json!({}),
        extra: Map::new(),
        snapshot_id: "s-1".into(),
        snapshot_deleted: false,
    };
    assert_eq!(j.progress(0).status, "CREATED");
    let mid = j.progress(500);
    assert_eq!(mid.status, "RUNNING");
    assert!(mid.progress > 0 && mid.progress < 10_000);
    assert_eq!(j.progress(1000).progress, 10_000);
    assert_eq!(j.progress(1000).status, "COMPLETE");
    assert!(j.snapshot_json(1000).is_some());
    j.outcome = Some((HbrOutcome::Failed, "x".into()));
    assert_eq!(j.progress(400).status, "RUNNING");
    assert_eq!(j.progress(500).status, "FAILED");
    assert!(j.snapshot_json(1000).is_none());
    j.outcome = Some((HbrOutcome::PartialComplete, "y".into()));
    assert_eq!(j.progress(999).status, "RUNNING");
    assert_eq!(j.progress(1000).status, "PARTIAL_COMPLETE");
    j.canceled_ms = Some(300);
    assert_eq!(j.progress(200).status, "RUNNING");
    assert_eq!(j.progress(2000).status, "CANCELED");
}
