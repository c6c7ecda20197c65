//! Unit tests of the plan and backup-set status sequences and the `HH:mm` rule.

use super::*;

#[test]
fn hhmm() {
    for ok in ["00:00", "23:59", "14:22Z"] {
        assert!(valid_hhmm(ok), "{ok}");
    }
    for bad in ["24:00", "12:60", "1:00", "12-00", "", "12:00ZZ"] {
        assert!(!valid_hhmm(bad), "{bad}");
    }
}

#[test]
fn backup_set_status_sequence() {
    let mut s = FullBackupSet {
        id: "x".into(),
        plan_id: "p".into(),
        start_ms: 100,
        duration_ms: 1000,
        fail: None,
        stopped_ms: None,
    };
    assert!(s.status(50).is_none());
    assert_eq!(s.status(100).unwrap().0, "schedule");
    assert_eq!(s.status(600).unwrap().0, "running");
    assert_eq!(s.status(1100).unwrap().0, "finish");
    s.fail = Some("boom".into());
    assert_eq!(s.status(1100).unwrap(), ("failed", 60, "boom".into()));
    s.fail = None;
    s.stopped_ms = Some(400);
    assert_eq!(s.status(1100).unwrap().0, "stop");
    assert_eq!(s.status(300).unwrap().0, "running");
}

#[test]
fn plan_status_sequence() {
    let mut p = DbsPlan {
        id: "dbs1".into(),
        created_ms: 0,
        started_ms: None,
        duration_ms: 1000,
        precheck_fail: None,
        paused: false,
        released: false,
        fields: BTreeMap::new(),
    };
    assert_eq!(p.status(0), Some("wait"));
    p.started_ms = Some(0);
    assert_eq!(p.status(100), Some("init"));
    assert_eq!(p.status(300), Some("check_pass"));
    assert_eq!(p.status(500), Some("running"));
    p.paused = true;
    assert_eq!(p.status(500), Some("pause"));
    p.paused = false;
    p.precheck_fail = Some("x".into());
    assert_eq!(p.status(100), Some("init"));
    assert_eq!(p.status(500), Some("stop"));
    p.released = true;
    assert_eq!(p.status(500), None);
}
