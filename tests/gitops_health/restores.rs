//! Verdicts for the restore kinds (`RdsRestore`, `HbrRestoreJob`, `DbsRestoreTask`), which
//! share one status and phase set: `Succeeded` and `Planned` (a finished dry run) are Healthy;
//! `Failed`, `Cancelled`, `PartiallySucceeded` and `Stalled=True` are Degraded; everything else,
//! and a status behind `metadata.generation`, is Progressing. Each sample also goes through the
//! Flux expressions (see the parent module), which must agree.

use serde_json::{Value as Json, json};

use super::{FLUX_EXPRS, assert_health, cond, health, object, status};

const RESTORES: [&str; 3] = ["RdsRestore", "HbrRestoreJob", "DbsRestoreTask"];

/// Every phase of `RestorePhase` (`src/crd/restore/mod.rs`).
const PHASES: [&str; 9] = [
    "Pending",
    "Planned",
    "Starting",
    "Restoring",
    "Succeeded",
    "PartiallySucceeded",
    "Failed",
    "Cancelled",
    "Deleting",
];

/// The status the operator writes for a finished dry run: `Ready=True`, reason `DryRunPlanned`.
fn planned(g: i64) -> Json {
    let msg = "would run RDS CloneDBInstance into a new instance";
    json!({
        "observedGeneration": g,
        "phase": "Planned",
        "conditions": [
            cond("Ready", "True", "DryRunPlanned", msg, g),
            cond("Reconciling", "False", "Idle", msg, g),
            cond("Stalled", "False", "NotStalled", msg, g),
        ],
        "plan": {"operation": "RDS CloneDBInstance", "target": "new instance", "overwrites": false},
    })
}

#[test]
fn restores_without_status_are_progressing() {
    for kind in RESTORES {
        assert_health(object(kind, 1, None), "Progressing");
        assert_health(object(kind, 1, Some(json!({}))), "Progressing");
    }
}

#[test]
fn succeeded_and_planned_restores_are_healthy() {
    for kind in RESTORES {
        let msg = assert_health(
            object(
                kind,
                1,
                Some(status(1, "Succeeded", "True", "False", "False", "restored")),
            ),
            "Healthy",
        );
        assert_eq!(msg, "restored");
        let msg = assert_health(object(kind, 1, Some(planned(1))), "Healthy");
        assert!(msg.contains("would run"), "{msg}");
        // an operator that has not written conditions yet: the phase decides
        for phase in ["Succeeded", "Planned"] {
            assert_health(
                object(
                    kind,
                    1,
                    Some(json!({"observedGeneration": 1, "phase": phase})),
                ),
                "Healthy",
            );
        }
    }
}

#[test]
fn restores_that_ended_badly_are_degraded() {
    for kind in RESTORES {
        for (phase, fallback) in [
            ("Failed", "Restore failed"),
            ("Cancelled", "Restore was cancelled"),
            (
                "PartiallySucceeded",
                "Restore partially succeeded: some data was not restored",
            ),
        ] {
            let msg = assert_health(
                object(
                    kind,
                    1,
                    Some(status(
                        1,
                        phase,
                        "False",
                        "False",
                        "False",
                        "3 tables failed",
                    )),
                ),
                "Degraded",
            );
            assert_eq!(msg, "3 tables failed");
            // without conditions the message names a restore, not a backup
            let msg = assert_health(
                object(
                    kind,
                    1,
                    Some(json!({"observedGeneration": 1, "phase": phase})),
                ),
                "Degraded",
            );
            assert_eq!(msg, fallback);
        }
        // Stalled=True in any phase, e.g. an overwrite that names the wrong target
        for phase in ["Pending", "Restoring", "Planned", "Succeeded"] {
            let mut st = status(1, phase, "False", "False", "True", "");
            st["conditions"][2] = cond(
                "Stalled",
                "True",
                "OverwriteNotConfirmed",
                "spec.overwrite.confirmTargetId is rm-other, the restore writes into rm-demo01",
                1,
            );
            let msg = assert_health(object(kind, 1, Some(st)), "Degraded");
            assert!(msg.contains("confirmTargetId"), "{msg}");
        }
    }
}

#[test]
fn restores_in_flight_are_progressing() {
    for kind in RESTORES {
        for phase in ["Pending", "Starting", "Restoring"] {
            let msg = assert_health(
                object(
                    kind,
                    1,
                    Some(status(
                        1,
                        phase,
                        "False",
                        "True",
                        "False",
                        "restore 40% done",
                    )),
                ),
                "Progressing",
            );
            assert_eq!(msg, "restore 40% done");
            assert_health(
                object(
                    kind,
                    1,
                    Some(json!({"observedGeneration": 1, "phase": phase})),
                ),
                "Progressing",
            );
        }
        // deleting a restore cancels a running one and never deletes restored data
        let msg = assert_health(
            object(
                kind,
                1,
                Some(status(1, "Deleting", "False", "True", "False", "m")),
            ),
            "Progressing",
        );
        assert!(msg.contains("restored data is kept"), "{msg}");
    }
    // a backup kind keeps its own message
    let msg = assert_health(
        object(
            "RdsBackup",
            1,
            Some(status(1, "Deleting", "False", "True", "False", "m")),
        ),
        "Progressing",
    );
    assert_eq!(msg, "Cleaning up in Alibaba Cloud");
}

#[test]
fn restore_status_behind_the_generation_is_progressing() {
    for kind in RESTORES {
        for st in [
            status(2, "Succeeded", "True", "False", "False", "restored"),
            planned(2),
            status(2, "Failed", "False", "False", "True", "bad"),
            status(2, "PartiallySucceeded", "True", "False", "False", "partial"),
        ] {
            let msg = assert_health(object(kind, 3, Some(st)), "Progressing");
            assert!(msg.contains("generation 3"), "{msg}");
        }
        // conditions of an older generation say nothing: Ready=True no longer counts, and a
        // phase that needs conditions to be Healthy is Progressing until they are rewritten
        let mut st = status(2, "Restoring", "True", "False", "False", "old");
        for c in st["conditions"].as_array_mut().unwrap() {
            c["observedGeneration"] = json!(1);
        }
        assert_health(object(kind, 2, Some(st)), "Progressing");
    }
}

#[test]
fn every_restore_phase_gets_a_known_verdict_in_both_checks() {
    for kind in RESTORES {
        for phase in PHASES {
            for ready in ["True", "False"] {
                for reconciling in ["True", "False"] {
                    for stalled in ["True", "False"] {
                        let obj = object(
                            kind,
                            1,
                            Some(status(1, phase, ready, reconciling, stalled, "m")),
                        );
                        let (got, _) = health(&obj);
                        let want = if stalled == "True"
                            || ["Failed", "Cancelled", "PartiallySucceeded"].contains(&phase)
                        {
                            "Degraded"
                        } else if ready == "True" && reconciling == "False" && phase != "Deleting" {
                            "Healthy"
                        } else {
                            "Progressing"
                        };
                        assert_eq!(
                            got, want,
                            "{kind} {phase} Ready={ready} Reconciling={reconciling} Stalled={stalled}"
                        );
                        // and Flux agrees
                        assert_health(obj, want);
                    }
                }
            }
        }
    }
}

#[test]
fn paused_restores_are_suspended() {
    for kind in RESTORES {
        let mut st = status(1, "Restoring", "False", "True", "False", "paused");
        st["conditions"].as_array_mut().unwrap().push(cond(
            "Paused",
            "True",
            "Paused",
            "paused by the annotation",
            1,
        ));
        let msg = assert_health(object(kind, 2, Some(st)), "Suspended");
        assert_eq!(msg, "paused by the annotation");
    }
}

/// Every kind a CRD in `crds/` serves has Flux expressions, so a new kind cannot be left out.
#[test]
fn every_served_kind_has_flux_expressions() {
    let exprs: Vec<Json> = serde_norway::from_str(FLUX_EXPRS).unwrap();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let crd: Json =
                serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            kinds.push(crd["spec"]["names"]["kind"].as_str().unwrap().to_string());
        }
    }
    for kind in RESTORES {
        assert!(kinds.iter().any(|k| k == kind), "crds/ serves no {kind}");
    }
    for kind in &kinds {
        assert!(
            exprs.iter().any(|e| e["kind"] == kind.as_str()),
            "files/flux-healthcheckexprs.yaml has no entry for {kind}"
        );
    }
}
