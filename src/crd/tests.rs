//! Tests of the generated CRDs: names, schema rules, drift of `crds/`, examples.

use super::*;

#[test]
fn names_match_design() {
    let crds = all_crds();
    let names: Vec<_> = crds
        .iter()
        .map(|c| {
            (
                c.spec.names.kind.clone(),
                c.spec.names.plural.clone(),
                c.spec.names.short_names.clone().unwrap_or_default(),
                c.spec.names.categories.clone().unwrap_or_default(),
                c.spec.scope.clone(),
                c.spec.group.clone(),
            )
        })
        .collect();
    let expect = |k: &str, p: &str, s: &str| {
        (
            k.to_owned(),
            p.to_owned(),
            vec![s.to_owned()],
            vec![CATEGORY.to_owned()],
            "Namespaced".to_owned(),
            API_GROUP.to_owned(),
        )
    };
    assert_eq!(
        names,
        vec![
            expect("DbsBackupPlan", "dbsbackupplans", "dbsplan"),
            expect("HbrBackupJob", "hbrbackupjobs", "hbrjob"),
            expect("RdsBackup", "rdsbackups", "rdsbk"),
        ]
    );
    for c in &crds {
        assert_eq!(c.spec.versions.len(), 1);
        let v = &c.spec.versions[0];
        assert_eq!(v.name, API_VERSION);
        assert!(v.subresources.as_ref().unwrap().status.is_some());
    }
}
