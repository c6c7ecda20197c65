//! Static check of `deploy/rbac.yaml` against `crds/`: every kind a CRD serves (the restore
//! kinds included) gets the calls the operator makes on each of its kinds — list/watch, get,
//! patch (finalizers), patch of `/status` — and the restore kinds, which only people create
//! and delete, get no create, update or delete. Needs no cluster, so it also covers kinds the
//! recorded scenario does not run yet.

use serde_json::Value as Json;

use super::{Call, NS, rendered_rules};

const RESTORES: [&str; 3] = ["rdsrestores", "hbrrestorejobs", "dbsrestoretasks"];

/// The plurals the CRDs in `crds/` serve.
fn served_plurals() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
    let mut plurals = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let crd: Json = serde_norway::from_str(&text).unwrap();
            assert_eq!(crd["spec"]["group"], "backup.aliyun.dev", "{path:?}");
            plurals.push(crd["spec"]["names"]["plural"].as_str().unwrap().to_string());
        }
    }
    plurals
}

#[test]
fn rendered_rbac_covers_every_served_kind_and_never_creates_restores() {
    let rules = rendered_rules();
    let allowed = |verb: &str, resource: &str, name: Option<&str>| {
        let c = Call {
            verb: verb.into(),
            group: "backup.aliyun.dev".into(),
            resource: resource.into(),
            namespace: Some(NS.into()),
            name: name.map(str::to_string),
        };
        rules.iter().any(|r| r.allows(&c, verb))
    };
    let plurals = served_plurals();
    for p in RESTORES {
        assert!(plurals.iter().any(|x| x == p), "crds/ serves no {p}");
    }
    for p in &plurals {
        for (verb, name) in [
            ("list", None),
            ("watch", None),
            ("get", Some("x")),
            ("patch", Some("x")),
        ] {
            assert!(allowed(verb, p, name), "the operator may not {verb} {p}");
        }
        let status = format!("{p}/status");
        assert!(allowed("patch", &status, Some("x")), "no patch on {status}");
    }
    for p in RESTORES {
        for verb in ["create", "update", "delete", "deletecollection"] {
            let name = (verb != "create" && verb != "deletecollection").then_some("x");
            assert!(!allowed(verb, p, name), "the operator may {verb} {p}");
        }
        assert!(!allowed("update", &format!("{p}/status"), Some("x")));
    }
}
