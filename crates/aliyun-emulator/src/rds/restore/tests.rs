//! Unit tests of the `TableMeta` parsing and the status of a failed clone.

use super::table::parse_table_meta;
use super::*;

#[test]
fn table_meta_maps_databases_and_tables() {
    let o = parse_table_meta(
        r#"[{"type":"db","name":"orders","newname":"orders_r","tables":[{"type":"table","name":"t1","newname":"t1_r"}]},{"type":"db","name":"users","newname":"users_r"}]"#,
        "MySQL",
    )
    .unwrap();
    assert_eq!(o.len(), 2);
    assert_eq!(o[0].name, "orders.t1");
    assert_eq!(o[0].newname, "orders_r.t1_r");
    assert_eq!(o[1].newname, "users_r");
    for bad in [
        "",
        "[]",
        "{}",
        r#"[{"type":"table","name":"x"}]"#,
        r#"[{"type":"db"}]"#,
    ] {
        assert!(parse_table_meta(bad, "MySQL").is_err(), "{bad}");
    }
    let pg = r#"[{"type":"db","name":"a","newname":"b","tables":[{"type":"table","name":"t"}]}]"#;
    assert!(parse_table_meta(pg, "PostgreSQL").is_err());
}

#[test]
fn failed_clone_goes_deleting_then_gone() {
    let mut i = RdsInstance::running("rm-x");
    i.clone = Some(CloneOrigin {
        source_id: "rm-a".into(),
        backup_id: None,
        restore_time_ms: Some(0),
        created_ms: 0,
        duration_ms: 1000,
        order_id: "1".into(),
        fail: true,
    });
    assert_eq!(i.status_at(0), Some("Creating"));
    assert_eq!(i.status_at(700), Some("Deleting"));
    assert_eq!(i.status_at(1000), None);
    if let Some(c) = i.clone.as_mut() {
        c.fail = false;
    }
    assert_eq!(i.status_at(999), Some("Creating"));
    assert_eq!(i.status_at(1000), Some("Running"));
}
