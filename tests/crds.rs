//! `aliyun-backup-operator crd` prints exactly the CRDs committed in `crds/`.
//!
//! If this fails after a change to `src/crd`, regenerate `crds/` with
//! `UPDATE_CRDS=1 cargo test -p aliyun-backup-operator --lib crds_dir_is_up_to_date`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

#[test]
fn crd_subcommand_prints_the_committed_crds() {
    let out = Command::new(env!("CARGO_BIN_EXE_aliyun-backup-operator"))
        .arg("crd")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "crd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let printed: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(&printed)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let committed: Vec<serde_json::Value> = files
        .iter()
        .map(|p| serde_norway::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();

    assert_eq!(printed.len(), 8);
    assert_eq!(
        printed, committed,
        "`aliyun-backup-operator crd` differs from crds/; regenerate with \
         UPDATE_CRDS=1 cargo test -p aliyun-backup-operator --lib crds_dir_is_up_to_date"
    );
    for (doc, file) in printed.iter().zip(&files) {
        let name = format!(
            "{}_{}.yaml",
            doc["spec"]["group"].as_str().unwrap(),
            doc["spec"]["names"]["plural"].as_str().unwrap()
        );
        assert_eq!(file.file_name().unwrap().to_str().unwrap(), name);
    }
}

#[test]
fn help_lists_the_crd_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_aliyun-backup-operator"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("crd"), "{help}");
}
