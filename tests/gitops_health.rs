//! Verdicts of the GitOps health checks over sample objects of every kind:
//!
//! - the Argo CD check (`charts/aliyun-backup-operator/files/argocd-health.lua`), run in a real
//!   Lua interpreter through `mlua`. Argo CD evaluates the script with the live object as the
//!   global `obj` (a Lua table built from the object's JSON, `null` fields absent) and reads
//!   `status`/`message` of the returned table; this test does the same, in a fresh Lua state
//!   per object;
//! - the Flux CEL expressions (`charts/aliyun-backup-operator/files/flux-healthcheckexprs.yaml`),
//!   evaluated with the `cel` interpreter (through `kube-cel`) with optional syntax on and the
//!   object's top-level fields as variables, as Flux's kustomize-controller does. Every sample
//!   must get the Argo CD verdict (Suspended reads as Current), and `failed`/`current` must never
//!   both hold.
//!
//! The restore kinds (`RdsRestore`, `HbrRestoreJob`, `DbsRestoreTask`) are in
//! `tests/gitops_health/restores.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "gitops_health/restores.rs"]
mod restores;

use kube_cel::cel;
use mlua::{Lua, Table, Value};
use serde_json::{Value as Json, json};

const HEALTH_LUA: &str = include_str!("../charts/aliyun-backup-operator/files/argocd-health.lua");
const FLUX_EXPRS: &str =
    include_str!("../charts/aliyun-backup-operator/files/flux-healthcheckexprs.yaml");

/// Evaluates one Flux CEL expression on `obj` (top-level fields bound as variables).
fn cel_bool(expr: &str, obj: &Json) -> bool {
    let parsed = cel::parser::Parser::default()
        .enable_optional_syntax(true)
        .parse(expr)
        .unwrap_or_else(|e| panic!("CEL does not parse: {expr}: {e:?}"));
    let mut ctx = cel::Context::default();
    for (k, v) in obj.as_object().unwrap() {
        ctx.add_variable(k.as_str(), cel::to_value(v).unwrap())
            .unwrap();
    }
    match cel::Value::resolve(&parsed, &ctx) {
        Ok(cel::Value::Bool(b)) => b,
        other => panic!("CEL {expr} on {obj} gave {other:?}, want a bool"),
    }
}

/// The Flux verdict for `obj`: InProgress, Failed or Current.
fn flux(obj: &Json) -> &'static str {
    let exprs: Vec<serde_json::Map<String, Json>> = serde_norway::from_str(FLUX_EXPRS).unwrap();
    let kind = obj["kind"].as_str().unwrap();
    let e = exprs
        .iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no Flux health expressions for {kind}"));
    assert_eq!(e["apiVersion"], "backup.aliyun.dev/v1alpha1");
    let eval = |field: &str| cel_bool(e[field].as_str().unwrap(), obj);
    let (in_progress, failed, current) = (eval("inProgress"), eval("failed"), eval("current"));
    assert_eq!(
        [in_progress, failed, current]
            .iter()
            .filter(|b| **b)
            .count(),
        1,
        "exactly one Flux expression must hold for {obj}: inProgress={in_progress} failed={failed} current={current}"
    );
    if failed {
        "Failed"
    } else if current {
        "Current"
    } else {
        "InProgress"
    }
}

/// Converts a JSON value into the Lua value Argo CD would hand to the script.
fn to_lua(lua: &Lua, value: &Json) -> mlua::Result<Value> {
    Ok(match value {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(items) => {
            let t = lua.create_table()?;
            for (i, item) in items.iter().enumerate() {
                t.set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        Json::Object(map) => {
            let t = lua.create_table()?;
            for (k, v) in map {
                t.set(k.as_str(), to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

/// Runs the health script on `obj`; returns (status, message).
fn health(obj: &Json) -> (String, String) {
    let lua = Lua::new();
    lua.globals()
        .set("obj", to_lua(&lua, obj).unwrap())
        .unwrap();
    let hs: Table = lua
        .load(HEALTH_LUA)
        .set_name("argocd-health.lua")
        .eval()
        .unwrap_or_else(|e| panic!("health.lua failed on {obj}: {e}"));
    let status: String = hs.get("status").unwrap();
    let message: String = hs.get("message").unwrap();
    (status, message)
}

fn cond(ctype: &str, status: &str, reason: &str, message: &str, observed: i64) -> Json {
    json!({
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": observed,
        "lastTransitionTime": "2026-11-23T10:00:00Z",
    })
}

/// An object of `kind` at generation `generation` with the given status (None: no status).
fn object(kind: &str, generation: i64, status: Option<Json>) -> Json {
    let mut o = json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "sample", "namespace": "default", "generation": generation},
        "spec": {"region": "cn-hangzhou"},
    });
    if let Some(s) = status {
        o["status"] = s;
    }
    o
}

/// A status written for generation `g` with phase and the three kstatus conditions.
fn status(g: i64, phase: &str, ready: &str, reconciling: &str, stalled: &str, msg: &str) -> Json {
    json!({
        "observedGeneration": g,
        "phase": phase,
        "conditions": [
            cond("Ready", ready, if ready == "True" { phase } else { "NotReady" }, msg, g),
            cond("Reconciling", reconciling, if reconciling == "True" { "Progressing" } else { "Idle" }, msg, g),
            cond("Stalled", stalled, if stalled == "True" { "InvalidSpec" } else { "NotStalled" }, msg, g),
        ],
    })
}

/// Asserts the Argo CD verdict and, for objects with a status, the same Flux verdict.
fn assert_health(obj: Json, want: &str) -> String {
    let (got, message) = health(&obj);
    assert_eq!(
        got, want,
        "object {obj} gave {got} ({message}), want {want}"
    );
    assert!(!message.is_empty(), "empty message for {obj}");
    // Without any status Flux cannot evaluate `status.?…` (the variable is unbound) and
    // waits, which is InProgress as well; only objects with a status are compared.
    if obj.get("status").is_some() {
        let want_flux = match want {
            "Healthy" | "Suspended" => "Current",
            "Degraded" => "Failed",
            _ => "InProgress",
        };
        assert_eq!(flux(&obj), want_flux, "Flux verdict for {obj}");
    }
    message
}

const KINDS: [&str; 3] = ["RdsBackup", "HbrBackupJob", "DbsBackupPlan"];

#[test]
fn no_status_yet_is_progressing() {
    for kind in KINDS {
        assert_health(object(kind, 1, None), "Progressing");
        assert_health(object(kind, 1, Some(json!({}))), "Progressing");
    }
}

#[test]
fn status_behind_the_generation_is_progressing_even_if_ready() {
    for (kind, phase) in [
        ("RdsBackup", "Succeeded"),
        ("HbrBackupJob", "Succeeded"),
        ("DbsBackupPlan", "Running"),
    ] {
        let msg = assert_health(
            object(
                kind,
                3,
                Some(status(2, phase, "True", "False", "False", "done")),
            ),
            "Progressing",
        );
        assert!(msg.contains("generation 3"), "{msg}");
        // a Stalled verdict for an older spec no longer holds either
        assert_health(
            object(
                kind,
                3,
                Some(status(2, "Failed", "False", "False", "True", "bad")),
            ),
            "Progressing",
        );
    }
}

#[test]
fn conditions_of_an_older_generation_are_ignored() {
    let mut s = status(2, "Running", "True", "False", "False", "old");
    for c in s["conditions"].as_array_mut().unwrap() {
        c["observedGeneration"] = json!(1);
    }
    // top-level observedGeneration is current but the conditions are not: fall back to phase
    assert_health(object("RdsBackup", 2, Some(s.clone())), "Progressing");
    assert_health(object("DbsBackupPlan", 2, Some(s)), "Healthy");
}

#[test]
fn work_in_progress_is_progressing() {
    for (kind, phases) in [
        ("RdsBackup", &["Pending", "Creating", "Running"][..]),
        ("HbrBackupJob", &["Pending", "Creating", "Running"][..]),
        ("DbsBackupPlan", &["Pending", "Creating", "Starting"][..]),
    ] {
        for phase in phases {
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
                        "Backup 40% done",
                    )),
                ),
                "Progressing",
            );
            assert_eq!(msg, "Backup 40% done");
        }
    }
}

#[test]
fn deleting_is_progressing() {
    for kind in KINDS {
        assert_health(
            object(
                kind,
                1,
                Some(status(1, "Deleting", "False", "True", "False", "releasing")),
            ),
            "Progressing",
        );
    }
}

#[test]
fn succeeded_backups_are_healthy() {
    for kind in ["RdsBackup", "HbrBackupJob"] {
        assert_health(
            object(
                kind,
                1,
                Some(status(
                    1,
                    "Succeeded",
                    "True",
                    "False",
                    "False",
                    "backup set 42",
                )),
            ),
            "Healthy",
        );
        // an operator that has not written conditions yet: the phase decides
        assert_health(
            object(
                kind,
                1,
                Some(json!({"observedGeneration": 1, "phase": "Succeeded"})),
            ),
            "Healthy",
        );
    }
    // a one-shot backup still running is not healthy yet, even without conditions
    assert_health(
        object(
            "RdsBackup",
            1,
            Some(json!({"observedGeneration": 1, "phase": "Running"})),
        ),
        "Progressing",
    );
}

#[test]
fn running_backup_plan_is_healthy_when_ready() {
    assert_health(
        object(
            "DbsBackupPlan",
            4,
            Some(status(
                4,
                "Running",
                "True",
                "False",
                "False",
                "plan running",
            )),
        ),
        "Healthy",
    );
    assert_health(
        object(
            "DbsBackupPlan",
            4,
            Some(json!({"observedGeneration": 4, "phase": "Running"})),
        ),
        "Healthy",
    );
    // Ready=False while running (e.g. pushing a schedule change) is progress, not health
    assert_health(
        object(
            "DbsBackupPlan",
            4,
            Some(status(
                4,
                "Running",
                "False",
                "True",
                "False",
                "configuring",
            )),
        ),
        "Progressing",
    );
    // Reconciling=True wins over a Ready=True left from before (kstatus: abnormal-true)
    assert_health(
        object(
            "DbsBackupPlan",
            4,
            Some(status(4, "Running", "True", "True", "False", "configuring")),
        ),
        "Progressing",
    );
}

#[test]
fn a_backup_plan_missing_its_rpo_is_degraded() {
    let with_rpo = |met: &str, reason: &str| {
        let mut s = status(4, "Running", "True", "False", "False", "plan running");
        s["conditions"].as_array_mut().unwrap().push(cond(
            "RPOMet",
            met,
            reason,
            "the newest successful backup finished at 2026-11-29T18:30:00Z (1d2h ago); rpo is 26h",
            4,
        ));
        object("DbsBackupPlan", 4, Some(s))
    };
    assert_health(with_rpo("True", "RPOMet"), "Healthy");
    assert_health(with_rpo("False", "RPOMissed"), "Degraded");
    assert_health(with_rpo("False", "NoSuccessfulBackup"), "Degraded");
}

#[test]
fn paused_backup_plan_is_suspended() {
    let msg = assert_health(
        object(
            "DbsBackupPlan",
            2,
            Some(status(
                2,
                "Paused",
                "True",
                "False",
                "False",
                "paused by spec.suspend",
            )),
        ),
        "Suspended",
    );
    assert_eq!(msg, "paused by spec.suspend");
    // suspend just set: the operator has not paused the plan yet
    assert_health(
        object(
            "DbsBackupPlan",
            3,
            Some(status(2, "Running", "True", "False", "False", "running")),
        ),
        "Progressing",
    );
}

#[test]
fn failures_are_degraded() {
    for kind in KINDS {
        assert_health(
            object(
                kind,
                1,
                Some(status(
                    1,
                    "Failed",
                    "False",
                    "False",
                    "False",
                    "cloud task failed",
                )),
            ),
            "Degraded",
        );
        assert_health(
            object(
                kind,
                1,
                Some(json!({"observedGeneration": 1, "phase": "Failed"})),
            ),
            "Degraded",
        );
    }
}

#[test]
fn stalled_is_degraded_whatever_the_phase() {
    for (kind, phase) in [
        ("RdsBackup", "Pending"),
        ("HbrBackupJob", "Running"),
        ("DbsBackupPlan", "Paused"),
        ("DbsBackupPlan", "Running"),
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
                    "True",
                    "spec.region: unknown region xx-nowhere-1",
                )),
            ),
            "Degraded",
        );
        assert_eq!(msg, "spec.region: unknown region xx-nowhere-1");
    }
}

#[test]
fn partial_and_cancelled_hbr_jobs_are_degraded() {
    let msg = assert_health(
        object(
            "HbrBackupJob",
            1,
            Some(status(
                1,
                "PartiallySucceeded",
                "True",
                "False",
                "False",
                "12 files skipped",
            )),
        ),
        "Degraded",
    );
    assert_eq!(msg, "12 files skipped");
    assert_health(
        object(
            "HbrBackupJob",
            1,
            Some(json!({"observedGeneration": 1, "phase": "PartiallySucceeded"})),
        ),
        "Degraded",
    );
    assert_health(
        object(
            "HbrBackupJob",
            1,
            Some(status(
                1,
                "Cancelled",
                "False",
                "False",
                "False",
                "cancelled",
            )),
        ),
        "Degraded",
    );
}

#[test]
fn every_phase_of_every_kind_gets_a_known_verdict() {
    let phases: [(&str, &[&str]); 3] = [
        (
            "RdsBackup",
            &[
                "Pending",
                "Creating",
                "Running",
                "Succeeded",
                "Failed",
                "Deleting",
            ],
        ),
        (
            "HbrBackupJob",
            &[
                "Pending",
                "Creating",
                "Running",
                "Succeeded",
                "PartiallySucceeded",
                "Failed",
                "Cancelled",
                "Deleting",
            ],
        ),
        (
            "DbsBackupPlan",
            &[
                "Pending", "Creating", "Starting", "Running", "Paused", "Failed", "Deleting",
            ],
        ),
    ];
    for (kind, kind_phases) in phases {
        for phase in kind_phases {
            for ready in ["True", "False"] {
                for reconciling in ["True", "False"] {
                    for stalled in ["True", "False"] {
                        let obj = object(
                            kind,
                            1,
                            Some(status(1, phase, ready, reconciling, stalled, "m")),
                        );
                        let (got, _) = health(&obj);
                        assert!(
                            ["Healthy", "Progressing", "Degraded", "Suspended"]
                                .contains(&got.as_str()),
                            "{kind} {phase} Ready={ready}: {got}"
                        );
                        // and Flux agrees
                        assert_health(obj, &got);
                    }
                }
            }
        }
    }
}

const SCHEDULES: [&str; 2] = ["RdsBackupSchedule", "HbrBackupSchedule"];

/// A schedule's status: phase, the three kstatus conditions and optionally `RPOMet`.
fn schedule_status(g: i64, phase: &str, health: &str, rpo_met: Option<&str>) -> Json {
    let (ready, reconciling, stalled) = match health {
        "ready" => ("True", "False", "False"),
        "reconciling" => ("False", "True", "False"),
        _ => ("False", "False", "True"),
    };
    let mut s = status(
        g,
        phase,
        ready,
        reconciling,
        stalled,
        "next run at 2026-11-24T02:30:00Z",
    );
    if let Some(met) = rpo_met {
        let reason = if met == "True" { "RPOMet" } else { "RPOMissed" };
        s["conditions"].as_array_mut().unwrap().push(cond(
            "RPOMet",
            met,
            reason,
            "the newest successful backup finished 2h ago; rpo is 1h",
            g,
        ));
    }
    s
}

#[test]
fn schedules_are_healthy_suspended_or_degraded_by_rpo() {
    for kind in SCHEDULES {
        assert_health(object(kind, 1, None), "Progressing");
        assert_health(
            object(kind, 1, Some(schedule_status(1, "Active", "ready", None))),
            "Healthy",
        );
        assert_health(
            object(
                kind,
                1,
                Some(schedule_status(1, "Active", "ready", Some("True"))),
            ),
            "Healthy",
        );
        let msg = assert_health(
            object(
                kind,
                1,
                Some(schedule_status(1, "Active", "ready", Some("False"))),
            ),
            "Degraded",
        );
        assert!(msg.contains("rpo"), "{msg}");
        assert_health(
            object(
                kind,
                1,
                Some(schedule_status(1, "Suspended", "ready", None)),
            ),
            "Suspended",
        );
        assert_health(
            object(kind, 1, Some(schedule_status(1, "Active", "stalled", None))),
            "Degraded",
        );
        assert_health(
            object(
                kind,
                1,
                Some(schedule_status(1, "Active", "reconciling", None)),
            ),
            "Progressing",
        );
        // A status of an older generation says nothing about the current spec, RPOMet included.
        assert_health(
            object(
                kind,
                2,
                Some(schedule_status(1, "Active", "ready", Some("False"))),
            ),
            "Progressing",
        );
    }
}

#[test]
fn paused_objects_are_suspended_whatever_their_state() {
    for kind in KINDS {
        for (phase, ready, stalled) in [
            ("Running", "False", "False"),
            ("Failed", "False", "False"),
            ("Succeeded", "False", "False"),
        ] {
            let mut st = status(
                2,
                phase,
                ready,
                "False",
                stalled,
                "paused by the annotation",
            );
            st["conditions"].as_array_mut().unwrap().push(cond(
                "Paused",
                "True",
                "Paused",
                "paused by the annotation",
                2,
            ));
            // Behind the generation too: a spec change waits for the resume.
            let msg = assert_health(object(kind, 3, Some(st)), "Suspended");
            assert_eq!(msg, "paused by the annotation");
        }
    }
    // Paused=False (or gone) is no pause.
    let mut st = status(1, "Succeeded", "True", "False", "False", "done");
    st["conditions"]
        .as_array_mut()
        .unwrap()
        .push(cond("Paused", "False", "Resumed", "", 1));
    assert_health(object("RdsBackup", 1, Some(st)), "Healthy");
}
