//! Crash torture of the restore kinds: one restore per object, whatever happens.
//!
//! `RdsRestore` clones and table restores, `HbrRestoreJob` rollbacks and `DbsRestoreTask`s —
//! several per target, so that restores into one target must wait for each other — converge
//! while the operator is killed again and again at arbitrary points (in the middle of a restore
//! call held by the emulator and then answered to nobody, refused, or executed with the answer
//! lost; after a random number of cloud calls; after a random number of API-server writes),
//! and while the emulator loses 30 % of the restore-call answers (the call runs, the answer is a
//! 500) and answers 10 % of all calls with 503 and 5 % with `Throttling.User`.
//!
//! After every kill and at the end: no two objects hold the same restore; a `Succeeded` object
//! holds its own; no object needs a person (nothing `Stalled`); and at the end the cloud holds
//! exactly one clone, table-restore task, HBR restore job or DBS restore task per object.
//!
//! Seeded: `TORTURE_SEED=<n>` (default [`DEFAULT_SEED`], `random` draws one),
//! `TORTURE_RESTORE_KILLS=<n>` kill points (default [`DEFAULT_KILLS`]).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aliyun_backup_operator::cloud::api::{
    DescribeDbInstancesRequest, DescribeHistoryTasksRequest, DescribeRestoreJobs2Request,
    DescribeRestoreTaskListRequest,
};
use aliyun_backup_operator::cloud::{AlibabaCloud, CloudProvider};
use aliyun_backup_operator::controller::reconcile::kind::Tracked;
use aliyun_backup_operator::crd::{
    DbsBackupPlan, DbsRestoreTask, HbrBackupJob, HbrBackupJobPhase, HbrRestoreJob, RdsRestore,
    RestorePhase, RestoreStatus,
};
use aliyun_emulator::{EmulatorConfig, Fault};
use common::*;
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

const DEFAULT_SEED: u64 = 27_2026;
const DEFAULT_KILLS: u64 = 16;
/// Clones (of the clone source), table restores per table target, rollbacks per ECS instance,
/// DBS restores into the plan's destination.
const CLONES: usize = 3;
const TABLE_TARGETS: usize = 2;
const TABLES_PER_TARGET: usize = 2;
const ECS_INSTANCES: usize = 2;
const ROLLBACKS_PER_INSTANCE: usize = 2;
const DBS_RESTORES: usize = 3;
const JOB: Duration = Duration::from_millis(1200);
const CONVERGE_WITHIN: Duration = Duration::from_secs(240);
const SOURCE: &str = "rm-src";
const SET: u64 = 1_700_000_001;
const DEST: &str = "rm-dest";
const PASSWORD_SECRET: &str = "torture-db-password";

fn table_target(i: usize) -> String {
    format!("rm-tab{i}")
}

fn ecs(i: usize) -> String {
    format!("i-rb{i}")
}

/// Every restore object, by kind.
struct Snapshot {
    rds: Vec<RdsRestore>,
    hbr: Vec<HbrRestoreJob>,
    dbs: Vec<DbsRestoreTask>,
}

async fn snapshot(env: &Env) -> Snapshot {
    let lp = ListParams::default();
    Snapshot {
        rds: env.api::<RdsRestore>().list(&lp).await.unwrap().items,
        hbr: env.api::<HbrRestoreJob>().list(&lp).await.unwrap().items,
        dbs: env.api::<DbsRestoreTask>().list(&lp).await.unwrap().items,
    }
}

fn states(s: &Snapshot) -> Vec<(String, RestoreStatus)> {
    fn of<K: Tracked<Status = RestoreStatus> + ResourceExt>(
        v: &[K],
    ) -> Vec<(String, RestoreStatus)> {
        v.iter()
            .map(|o| {
                (
                    format!("{}/{}", K::KIND, o.name_any()),
                    o.status().cloned().unwrap_or_default(),
                )
            })
            .collect()
    }
    let mut all = of(&s.rds);
    all.extend(of(&s.hbr));
    all.extend(of(&s.dbs));
    all
}

/// The invariant: no restore held twice, a success holds its own id, nobody needs a person.
fn violations(s: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    let mut holders: BTreeMap<String, String> = BTreeMap::new();
    for (name, st) in states(s) {
        if let Some(id) = &st.restore_id
            && let Some(other) = holders.insert(id.clone(), name.clone())
        {
            out.push(format!("{name} and {other} both hold restore {id}"));
        }
        if st.phase == Some(RestorePhase::Succeeded) && st.restore_id.is_none() {
            out.push(format!("{name} Succeeded without a restore id"));
        }
        if let Some(c) = st
            .conditions
            .iter()
            .find(|c| c.type_ == "Stalled" && c.status == "True")
        {
            out.push(format!(
                "{name} needs a person: {}: {}",
                c.reason, c.message
            ));
        }
        if matches!(
            st.phase,
            Some(RestorePhase::Failed | RestorePhase::Cancelled | RestorePhase::PartiallySucceeded)
        ) {
            out.push(format!("{name} ended {:?}", st.phase));
        }
    }
    out
}

fn converged(s: &Snapshot) -> bool {
    states(s)
        .iter()
        .all(|(_, st)| st.phase == Some(RestorePhase::Succeeded))
}

const HELD: &[&str] = &[
    "CloneDBInstance",
    "RestoreTable",
    "CreateRestoreJob",
    "CreateRestoreJob",
    "CreateRestoreTask",
    "StartRestoreTask",
    "DescribeDBInstances",
    "DescribeHistoryTasks",
    "DescribeRestoreJobs2",
    "DescribeRestoreTaskList",
];

/// The backups the restores come from, made without faults: one UDM_ECS job per ECS instance
/// and a DBS plan with a finished full backup set (the RDS sets are seeded).
async fn make_sources(env: &mut Env) {
    env.start_operator().await;
    env.put_secret(PASSWORD_SECRET, &[("password", "torture-pw")])
        .await;
    for i in 0..ECS_INSTANCES {
        let spec = with(hbr_udm_spec(), json!({ "instanceId": ecs(i) }));
        create_from::<HbrBackupJob>(env, manifest("HbrBackupJob", &format!("web-{i}"), spec)).await;
    }
    let mut plan = dbs_spec("orders", SOURCE);
    plan["source"]["passwordSecretRef"]["name"] = json!(PASSWORD_SECRET);
    create_from::<DbsBackupPlan>(env, manifest("DbsBackupPlan", "orders", plan)).await;
    for i in 0..ECS_INSTANCES {
        wait_for(
            &env.api::<HbrBackupJob>(),
            &format!("web-{i}"),
            "Succeeded",
            |j: &HbrBackupJob| {
                j.status.as_ref().and_then(|s| s.phase) == Some(HbrBackupJobPhase::Succeeded)
            },
        )
        .await;
    }
    wait_for(
        &env.api::<DbsBackupPlan>(),
        "orders",
        "a finished set",
        |p: &DbsBackupPlan| {
            p.status
                .as_ref()
                .and_then(|s| s.latest_full_backup_set.as_ref())
                .is_some_and(|s| s.status.as_deref() == Some("finish"))
        },
    )
    .await;
    env.stop_operator().await;
}

async fn create_restores(env: &Env) {
    let pp = PostParams::default();
    let base = || json!({ "region": "cn-hangzhou", "credentialsRef": { "name": CREDS } });
    for k in 0..CLONES {
        let spec = with(
            base(),
            json!({ "source": { "dbInstanceId": SOURCE, "backupId": SET.to_string() } }),
        );
        let o: RdsRestore =
            serde_json::from_value(manifest("RdsRestore", &format!("clone-{k}"), spec)).unwrap();
        env.api::<RdsRestore>().create(&pp, &o).await.unwrap();
    }
    for i in 0..TABLE_TARGETS {
        for k in 0..TABLES_PER_TARGET {
            let spec = with(
                base(),
                json!({
                    "mode": "Tables",
                    "source": { "dbInstanceId": table_target(i), "backupId": (SET + 1 + i as u64).to_string() },
                    "tables": [{ "database": "orders", "tables": [{ "name": "t1", "newName": format!("t1_r{k}") }] }],
                    "overwrite": { "confirmTargetId": table_target(i) },
                }),
            );
            let o: RdsRestore =
                serde_json::from_value(manifest("RdsRestore", &format!("tables-{i}-{k}"), spec))
                    .unwrap();
            env.api::<RdsRestore>().create(&pp, &o).await.unwrap();
        }
    }
    for i in 0..ECS_INSTANCES {
        for k in 0..ROLLBACKS_PER_INSTANCE {
            let spec = with(
                base(),
                json!({
                    "source": { "backupJobRef": { "name": format!("web-{i}") } },
                    "target": { "restoreType": "UDM_ECS_ROLLBACK", "instanceId": ecs(i) },
                    "overwrite": { "confirmTargetId": ecs(i) },
                }),
            );
            let o: HbrRestoreJob = serde_json::from_value(manifest(
                "HbrRestoreJob",
                &format!("rollback-{i}-{k}"),
                spec,
            ))
            .unwrap();
            env.api::<HbrRestoreJob>().create(&pp, &o).await.unwrap();
        }
    }
    for k in 0..DBS_RESTORES {
        let spec = with(
            base(),
            json!({
                "source": { "backupPlanRef": { "name": "orders" }, "latestBackupSet": true },
                "destination": {
                    "instanceType": "RDS", "instanceId": DEST, "userName": "restore",
                    "passwordSecretRef": { "name": PASSWORD_SECRET, "key": "password" }
                },
                "objects": [{ "database": "orders", "newDatabase": format!("orders_r{k}") }],
                "overwrite": { "confirmTargetId": DEST },
            }),
        );
        let o: DbsRestoreTask =
            serde_json::from_value(manifest("DbsRestoreTask", &format!("dbs-{k}"), spec)).unwrap();
        env.api::<DbsRestoreTask>().create(&pp, &o).await.unwrap();
    }
}

/// What the cloud holds: clones per owner tag, table tasks per instance, HBR restore jobs,
/// DBS restore tasks.
async fn cloud_counts(env: &Env, s: &Snapshot) -> (usize, usize, usize, usize) {
    let cloud = AlibabaCloud::new(env.operator_config().cloud).unwrap();
    let target = test_target();
    let mut clones = 0;
    for o in &s.rds {
        if o.spec.tables.is_empty() {
            let req = DescribeDbInstancesRequest {
                region_id: "cn-hangzhou".into(),
                tags: BTreeMap::from([(
                    "aliyun-backup-operator/restore-uid".to_string(),
                    o.metadata.uid.clone().unwrap(),
                )]),
                ..DescribeDbInstancesRequest::default()
            };
            let resp = cloud
                .rds_restore(&target)
                .describe_db_instances(&req)
                .await
                .unwrap();
            clones += resp.items.len();
        }
    }
    let mut tables = 0;
    for i in 0..TABLE_TARGETS {
        let req = DescribeHistoryTasksRequest {
            instance_id: Some(table_target(i)),
            from_start_time: "2000-01-01T00:00:00Z".into(),
            to_start_time: "2100-01-01T00:00:00Z".into(),
            page_size: Some(100),
            ..DescribeHistoryTasksRequest::default()
        };
        tables += cloud
            .rds_restore(&target)
            .describe_history_tasks(&req)
            .await
            .unwrap()
            .items
            .len();
    }
    let jobs = cloud
        .hbr_restore(&target)
        .describe_restore_jobs2(&DescribeRestoreJobs2Request {
            page_size: Some(99),
            ..DescribeRestoreJobs2Request::default()
        })
        .await
        .unwrap()
        .restore_jobs;
    let plan_id = env
        .api::<DbsBackupPlan>()
        .get("orders")
        .await
        .unwrap()
        .status
        .unwrap()
        .backup_plan_id
        .unwrap();
    let tasks = cloud
        .dbs_restore(&target)
        .describe_restore_task_list(&DescribeRestoreTaskListRequest {
            backup_plan_id: Some(plan_id),
            page_size: Some(100),
            ..DescribeRestoreTaskListRequest::default()
        })
        .await
        .unwrap()
        .items;
    let distinct: BTreeSet<_> = jobs.iter().map(|j| j.restore_id.clone()).collect();
    (clones, tables, distinct.len(), tasks.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_restore_per_object_survives_kills_lost_answers_and_faults() {
    let seed = torture::seed(DEFAULT_SEED);
    let kills = torture::env_u64("TORTURE_RESTORE_KILLS")
        .unwrap_or(DEFAULT_KILLS)
        .max(1);
    println!(
        "restore torture: seed {seed} (TORTURE_SEED={seed} replays the choices), {kills} kill points"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cfg = EmulatorConfig::default()
        .rds_instances([SOURCE, DEST, &table_target(0), &table_target(1)])
        .ecs_instances((0..ECS_INSTANCES).map(ecs))
        .with_job_duration(JOB)
        .with_fault_seed(seed)
        .with_rds_backup_set(SOURCE, SET);
    for i in 0..TABLE_TARGETS {
        cfg = cfg.with_rds_backup_set(table_target(i), SET + 1 + i as u64);
    }
    let mut env = Env::start_with(cfg).await;
    make_sources(&mut env).await;

    for action in [
        "CloneDBInstance",
        "RestoreTable",
        "CreateRestoreJob",
        "CreateRestoreTask",
        "StartRestoreTask",
    ] {
        env.emulator.inject_fault(
            Fault::error(Some(action), "InternalError", 500)
                .after_apply()
                .with_rate(0.3),
        );
    }
    env.emulator
        .inject_fault(Fault::error(None, "ServiceUnavailable", 503).with_rate(0.1));
    env.emulator
        .inject_fault(Fault::error(None, "Throttling.User", 400).with_rate(0.05));

    env.start_operator().await;
    create_restores(&env).await;
    let started = Instant::now();
    let (mut hits, mut checks) = (0, 0);
    for k in 0..kills {
        let point = torture::choose(&mut rng, HELD, 20, 12);
        let id = format!("kill-{k}");
        if torture::kill_at(&mut env, &point, &id).await {
            hits += 1;
        }
        let s = snapshot(&env).await;
        checks += 1;
        let v = violations(&s);
        assert!(
            v.is_empty(),
            "seed {seed}, after kill {id} ({point:?}): {v:#?}"
        );
        env.start_operator().await;
        if converged(&s) {
            break;
        }
    }
    let deadline = Instant::now() + CONVERGE_WITHIN;
    let last = loop {
        let s = snapshot(&env).await;
        checks += 1;
        let v = violations(&s);
        assert!(v.is_empty(), "seed {seed}, converging: {v:#?}");
        if converged(&s) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: did not converge: {:#?}",
            states(&s)
                .into_iter()
                .filter(|(_, st)| st.phase != Some(RestorePhase::Succeeded))
                .map(|(n, st)| (n, st.phase, st.conditions))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    env.stop_operator().await;

    let (clones, tables, jobs, tasks) = cloud_counts(&env, &last).await;
    assert_eq!(clones, CLONES, "seed {seed}: clones");
    assert_eq!(
        tables,
        TABLE_TARGETS * TABLES_PER_TARGET,
        "seed {seed}: table tasks"
    );
    assert_eq!(
        jobs,
        ECS_INSTANCES * ROLLBACKS_PER_INSTANCE,
        "seed {seed}: HBR restore jobs"
    );
    assert_eq!(tasks, DBS_RESTORES, "seed {seed}: DBS restore tasks");
    let lost: usize = env
        .emulator
        .calls()
        .counts()
        .iter()
        .filter(|(k, _)| k.ends_with("/InternalError"))
        .map(|(_, n)| n)
        .sum();
    assert!(hits > 0, "seed {seed}: no kill point was triggered");
    assert!(lost > 0, "seed {seed}: no restore answer was lost");
    let objects = states(&last).len();
    println!(
        "restore torture: seed {seed}: {kills} kill points ({hits} triggered), {objects} restores, \
         {checks} invariant checks, violations 0, {lost} answers lost, 0 objects needing a person, \
         one restore per object in the cloud, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
