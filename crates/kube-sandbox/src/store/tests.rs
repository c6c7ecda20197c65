//! Unit tests of the store: the write phases, the type rules, commit and
//! JSON patches.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::pending::PendingWrite;
use super::type_rules::{admit_namespace, admit_secret, base64_encode, check_immutable_data};
use super::*;
use crate::ssa;

#[test]
fn json_patch_test_null_on_missing_path() {
    let mut d = json!({"metadata": {"name": "a"}});
    apply_json_patch(
        &mut d,
        &json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}
        ]),
    )
    .unwrap();
    assert_eq!(d["metadata"]["finalizers"][0], "x");
    let e = apply_json_patch(
        &mut d,
        &json!([{"op": "test", "path": "/metadata/finalizers/0", "value": "y"}]),
    )
    .unwrap_err();
    assert_eq!(e.code, 422);
}

#[test]
fn base64() {
    assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
    assert_eq!(base64_encode(b"hi!"), "aGkh");
    assert_eq!(base64_encode(b"a"), "YQ==");
}

/// A namespaced custom type that keeps `metadata.generation`.
fn widgets(status: bool, schema: Option<Value>) -> ResourceType {
    let mut t = builtin("example.com", "widgets", "Widget", true, &[], status);
    t.builtin = false;
    t.generation = true;
    t.versions[0].schema = schema;
    t
}

fn pending<'a>(
    rt: &'a ResourceType,
    opts: &'a WriteOpts,
    old: Option<Value>,
    new: Value,
) -> PendingWrite<'a> {
    PendingWrite {
        rt,
        version: "v1",
        key: ("ns".into(), "w".into()),
        old,
        new,
        opts,
        managed: None,
    }
}

fn stored_widget() -> Value {
    json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "ns", "uid": "u1", "resourceVersion": "5",
                     "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 3},
        "spec": {"a": 1},
        "status": {"s": 1}
    })
}

#[test]
fn prepare_status_write_changes_only_status() {
    let rt = widgets(true, None);
    let opts = WriteOpts {
        subresource: Some("status".into()),
        ..Default::default()
    };
    let new = json!({"metadata": {"name": "w", "uid": "other", "labels": {"x": "y"}},
                     "spec": {"a": 2}, "status": {"s": 2}});
    let mut w = pending(&rt, &opts, Some(stored_widget()), new);
    w.prepare().unwrap();
    assert_eq!(w.new["spec"], json!({"a": 1}));
    assert_eq!(w.new["status"], json!({"s": 2}));
    assert_eq!(w.new["metadata"]["uid"], "u1");
    assert!(w.new["metadata"].get("labels").is_none());
    assert!(w.new["metadata"].get("resourceVersion").is_none());
    assert_eq!(w.new["apiVersion"], "example.com/v1");
    assert_eq!(w.new["kind"], "Widget");
}

#[test]
fn prepare_main_write_keeps_stored_status_and_server_metadata() {
    let rt = widgets(true, None);
    let opts = WriteOpts::default();
    let new = json!({"metadata": {"name": "w", "creationTimestamp": "2030-01-01T00:00:00Z",
                                  "resourceVersion": "5", "selfLink": "/x", "generation": 9,
                                  "deletionTimestamp": "2030-01-01T00:00:00Z"},
                     "spec": {"a": 2}, "status": {"s": 2}});
    let mut w = pending(&rt, &opts, Some(stored_widget()), new);
    w.prepare().unwrap();
    assert_eq!(w.new["spec"], json!({"a": 2}));
    assert_eq!(w.new["status"], json!({"s": 1}));
    let meta = &w.new["metadata"];
    assert_eq!(meta["creationTimestamp"], "2024-01-01T00:00:00Z");
    assert_eq!(meta["generation"], 3);
    assert_eq!(meta["namespace"], "ns");
    for gone in ["resourceVersion", "selfLink", "deletionTimestamp"] {
        assert!(meta.get(gone).is_none(), "{gone}");
    }

    // Without a status subresource, status is an ordinary field.
    let rt = widgets(false, None);
    let mut w = pending(
        &rt,
        &opts,
        Some(stored_widget()),
        json!({"metadata": {"name": "w"}, "status": {"s": 2}}),
    );
    w.prepare().unwrap();
    assert_eq!(w.new["status"], json!({"s": 2}));

    // A body that is not an object (so has no metadata object) is refused.
    let mut w = pending(&rt, &opts, Some(stored_widget()), json!("w"));
    assert_eq!(w.prepare().unwrap_err().code, 400);
}

#[test]
fn prepare_forbids_new_finalizers_while_deleting() {
    let rt = widgets(false, None);
    let opts = WriteOpts::default();
    let mut old = stored_widget();
    old["metadata"]["deletionTimestamp"] = json!("2024-01-02T00:00:00Z");
    old["metadata"]["finalizers"] = json!(["a"]);
    let with = |f: Value| json!({"metadata": {"name": "w", "finalizers": f}});
    let mut w = pending(&rt, &opts, Some(old.clone()), with(json!(["a", "b"])));
    let e = w.prepare().unwrap_err();
    assert_eq!(e.code, 422);
    assert!(e.message.contains("no new finalizers"), "{}", e.message);
    let mut w = pending(&rt, &opts, Some(old.clone()), with(json!([])));
    w.prepare().unwrap();
    // Not deleting: any finalizer may be added.
    old["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("deletionTimestamp");
    let mut w = pending(&rt, &opts, Some(old), with(json!(["a", "b"])));
    w.prepare().unwrap();
}

#[test]
fn schema_admission_prunes_with_warnings_or_refuses_when_strict() {
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "a": {"type": "integer"}, "d": {"type": "string", "default": "x"}}}}});
    let rt = widgets(false, Some(schema));
    let body = json!({"metadata": {"name": "w"}, "spec": {"a": 1, "b": 2}});
    let lenient = WriteOpts::default();
    let mut w = pending(&rt, &lenient, None, body.clone());
    let warnings = w.apply_schema().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("unknown field"), "{warnings:?}");
    assert_eq!(w.new["spec"], json!({"a": 1, "d": "x"}));
    let strict = WriteOpts {
        strict: true,
        ..Default::default()
    };
    let mut w = pending(&rt, &strict, None, body);
    assert_eq!(w.apply_schema().unwrap_err().code, 400);
    let mut w = pending(
        &rt,
        &lenient,
        None,
        json!({"metadata": {"name": "w"}, "spec": {"a": "no"}}),
    );
    assert_eq!(w.apply_schema().unwrap_err().code, 422);
}

#[test]
fn type_rules_immutable_data_secret_and_namespace() {
    let old = json!({"immutable": true, "data": {"k": "dg=="}});
    assert!(check_immutable_data("ConfigMap", "c", &old, &old.clone()).is_ok());
    let changed = json!({"immutable": true, "data": {"k": "eA=="}});
    let e = check_immutable_data("ConfigMap", "c", &old, &changed).unwrap_err();
    assert_eq!(e.code, 422);
    let mutable = json!({"data": {"k": "dg=="}});
    assert!(check_immutable_data("ConfigMap", "c", &mutable, &changed).is_ok());

    let mut secret = json!({"stringData": {"k": "hello"}});
    admit_secret("s", None, &mut secret).unwrap();
    assert_eq!(secret, json!({"data": {"k": "aGVsbG8="}, "type": "Opaque"}));
    let old = json!({"type": "kubernetes.io/tls"});
    let mut secret = json!({"data": {}});
    admit_secret("s", Some(&old), &mut secret).unwrap();
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let mut secret = json!({"type": "Opaque"});
    assert_eq!(
        admit_secret("s", Some(&old), &mut secret).unwrap_err().code,
        422
    );

    let mut ns = json!({"metadata": {"name": "n"}});
    admit_namespace("n", &mut ns);
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "n");
}

#[test]
fn bookkeep_sets_generation_and_update_ownership() {
    let rt = widgets(true, None);
    let opts = WriteOpts {
        manager: "m".into(),
        ..Default::default()
    };
    let mut w = pending(
        &rt,
        &opts,
        None,
        json!({"metadata": {"name": "w"}, "spec": {"a": 1}}),
    );
    w.bookkeep();
    assert_eq!(w.new["metadata"]["generation"], 1);
    let managed = ssa::read_managed(&w.new);
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].manager, "m");
    assert_eq!(managed[0].operation, "Update");
    assert_eq!(
        managed[0].fields,
        BTreeSet::from([vec!["f:spec".to_string(), "f:a".to_string()]])
    );

    let stored = w.new.clone();
    // A spec change bumps the generation; metadata and status changes do not.
    let mut changed = stored.clone();
    changed["spec"]["a"] = json!(2);
    let mut w = pending(&rt, &opts, Some(stored.clone()), changed);
    w.bookkeep();
    assert_eq!(w.new["metadata"]["generation"], 2);
    let mut labelled = stored.clone();
    labelled["metadata"]["labels"] = json!({"x": "y"});
    labelled["status"] = json!({"s": 1});
    let mut w = pending(&rt, &opts, Some(stored.clone()), labelled);
    w.bookkeep();
    assert_eq!(w.new["metadata"]["generation"], 1);

    // managedFields computed by apply are written as given (here: none),
    // instead of keeping the stored Update entry.
    let mut w = pending(&rt, &opts, Some(stored.clone()), stored);
    w.managed = Some(vec![]);
    w.bookkeep();
    assert!(w.new["metadata"].get("managedFields").is_none());
}

#[test]
fn commit_skips_no_ops_and_dry_runs_and_stores_the_rest() {
    let mut store = Store::new(100, true);
    let cm = store.type_of("", "configmaps").unwrap();
    let opts = WriteOpts {
        manager: "m".into(),
        ..Default::default()
    };
    let body = json!({"metadata": {"name": "c"}, "data": {"k": "v"}});
    let created = store
        .create(&cm, "v1", Some("default"), body.clone(), &opts)
        .unwrap();
    assert!(created.created);
    let rv = store.rv();
    assert_eq!(
        created.object["metadata"]["resourceVersion"],
        json!(rv.to_string())
    );

    // The same content again: no new resourceVersion, no event.
    let history = store.history.len();
    let same = store
        .update(&cm, "v1", Some("default"), "c", body, &opts)
        .unwrap();
    assert_eq!(store.rv(), rv);
    assert_eq!(store.history.len(), history);
    assert_eq!(same.object, created.object);

    // A dry run shows the result under the stored resourceVersion.
    let changed = json!({"metadata": {"name": "c"}, "data": {"k": "w"}});
    let dry = WriteOpts {
        dry_run: true,
        ..opts.clone()
    };
    let r = store
        .update(&cm, "v1", Some("default"), "c", changed.clone(), &dry)
        .unwrap();
    assert_eq!(r.object["data"]["k"], "w");
    assert_eq!(
        r.object["metadata"]["resourceVersion"],
        json!(rv.to_string())
    );
    assert_eq!(store.rv(), rv);
    assert_eq!(
        store.get(&cm, Some("default"), "c").unwrap()["data"]["k"],
        "v"
    );

    // A real change: new resourceVersion, stored, MODIFIED with the previous object.
    let r = store
        .update(&cm, "v1", Some("default"), "c", changed, &opts)
        .unwrap();
    assert_eq!(store.rv(), rv + 1);
    assert_eq!(
        r.object["metadata"]["resourceVersion"],
        json!((rv + 1).to_string())
    );
    let last = store.history.back().unwrap();
    assert_eq!(last.event, "MODIFIED");
    assert_eq!(last.previous.as_ref().unwrap()["data"]["k"], "v");
}

#[test]
fn commit_removes_a_deleting_object_whose_last_finalizer_goes() {
    let mut store = Store::new(100, true);
    let cm = store.type_of("", "configmaps").unwrap();
    let opts = WriteOpts::default();
    let body = json!({"metadata": {"name": "c", "finalizers": ["f"]}});
    store
        .create(&cm, "v1", Some("default"), body, &opts)
        .unwrap();
    let (deleting, gone) = store
        .delete(&cm, Some("default"), "c", &Value::Null, false)
        .unwrap();
    assert!(!gone);
    let mut released = deleting.clone();
    released["metadata"]["finalizers"] = json!([]);
    let r = store
        .update(&cm, "v1", Some("default"), "c", released, &opts)
        .unwrap();
    assert!(!r.created);
    assert!(store.get(&cm, Some("default"), "c").is_err());
    let last = store.history.back().unwrap();
    assert_eq!(last.event, "DELETED");
    assert_eq!(last.rv, store.rv());
}
