//! Unit tests of the backup-task progress and the database-name rule.

use super::*;

fn task(fail: bool) -> RdsTask {
    RdsTask {
        job_id: 1,
        backup_id: 2,
        instance_id: "rm".into(),
        created_ms: 0,
        duration_ms: 1000,
        method: "Physical".into(),
        strategy: None,
        db_names: None,
        backup_type: "FullBackup".into(),
        retention_days: 7,
        fail,
        deleted: false,
    }
}

#[test]
fn db_name_rule() {
    for ok in ["a", "db1", "app_db", "abcdefghijklmnop"] {
        assert!(valid_db_name(ok), "{ok}");
    }
    for bad in ["", "1db", "db_", "Db", "a-b", "abcdefghijklmnopq"] {
        assert!(!valid_db_name(bad), "{bad}");
    }
}

#[test]
fn task_progress_is_monotonic_and_ends_finished_or_failed() {
    for fail in [false, true] {
        let t = task(fail);
        let mut last = 0;
        for ms in (0..=1200).step_by(10) {
            let p = t.progress(ms);
            assert!(p.process >= last);
            last = p.process;
        }
        let end = t.progress(5000).status;
        assert_eq!(end, if fail { "Failed" } else { "Finished" });
        assert!(t.terminal(5000));
        assert!(!t.terminal(0));
    }
    assert_eq!(task(false).progress(0).status, "NoStart");
    assert_eq!(task(false).progress(999).process, 99);
}
