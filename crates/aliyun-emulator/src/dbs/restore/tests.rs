//! Unit tests of the restore-task status sequence and the `RestoreObjects` parsing.

use std::collections::BTreeMap;

use super::create::parse_objects;
use super::*;

fn task() -> DbsRestoreTask {
    DbsRestoreTask {
        id: "s1".into(),
        name: "n".into(),
        plan_id: "p".into(),
        backup_set_id: Some("b".into()),
        restore_time_ms: None,
        created_ms: 0,
        started_ms: None,
        duration_ms: 1000,
        precheck_fail: None,
        fail: None,
        paused_ms: None,
        duplicate_conflict: "failure".into(),
        objects: Vec::new(),
        restore_objects: String::new(),
        fields: BTreeMap::new(),
        success_status: "finish".into(),
    }
}

#[test]
fn status_sequence() {
    let mut t = task();
    assert_eq!(t.status(5000).0, "init");
    assert!(!t.ended(5000));
    t.started_ms = Some(0);
    let seq: Vec<String> = [0, 150, 500, 1000].iter().map(|n| t.status(*n).0).collect();
    assert_eq!(seq, ["init", "check_pass", "running", "finish"]);
    assert!(t.ended(1000));
    t.fail = Some("x".into());
    assert_eq!(t.status(700).0, "stop");
    t.precheck_fail = Some("exists".into());
    assert_eq!(t.status(700), ("init".into(), 0, "exists".into()));
    assert!(t.ended(700));
    let mut p = task();
    p.started_ms = Some(0);
    p.paused_ms = Some(500);
    assert_eq!(p.status(900).0, "pause");
    assert_eq!(p.status(400).0, "running");
}

#[test]
fn restore_objects() {
    let o = parse_objects(r#"[{"DBName":"a","NewDBName":"b"},{"DBName":"c"}]"#).unwrap();
    assert_eq!(o[0].new_db, "b");
    assert_eq!(o[1].new_db, "c");
    assert!(parse_objects("[]").is_err());
    assert!(parse_objects(r#"[{"NewDBName":"b"}]"#).is_err());
}
