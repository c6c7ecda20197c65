//! The kubectl plugin (`crates/kubectl-aliyun-backup`) against kube-sandbox, the emulator and
//! the operator: every command through its real entry point (`kubectl_aliyun_backup::run`,
//! which the binary calls), with a kubeconfig written by the sandbox, asserting on output and
//! exit codes. Synchronised on object state, never on sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/kubectl.rs"]
mod kubectl;

use std::time::Duration;

use aliyun_backup_operator::cloud::api::{
    CreateBackupJobRequest, CreateBackupRequest, DescribeBackupTasksRequest,
};
use aliyun_backup_operator::cloud::{AlibabaCloud, CloudProvider};
use aliyun_backup_operator::crd::{HbrBackupJob, RdsBackup, RdsBackupSchedule};
use common::*;
use kube::api::PostParams;
use kubectl::Kubectl;
use serde_json::{Value, json};

fn rds_schedule(name: &str, team: &str, extra: Value) -> RdsBackupSchedule {
    let mut spec = json!({
        "schedule": "0 0 1 1 *",
        "template": { "spec": {
            "region": "cn-hangzhou",
            "credentialsRef": { "name": CREDS },
            "dbInstanceId": "rm-demo01",
        } },
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackupSchedule",
        "metadata": { "name": name, "namespace": NS, "labels": { "team": team } },
        "spec": spec,
    }))
    .unwrap()
}

fn rpo_status(s: &RdsBackupSchedule) -> Option<String> {
    s.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "RPOMet"))
        .map(|c| c.status.clone())
}

fn stalled_reason<K: aliyun_backup_operator::controller::reconcile::kind::Tracked>(
    o: &K,
) -> Option<String> {
    condition(o, "Stalled")
        .filter(|c| c.status == "True")
        .map(|c| c.reason.clone())
}

#[tokio::test]
async fn backup_wait_status_describe_and_the_rpo_exit_code() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    let scheds = env.api::<RdsBackupSchedule>();
    scheds
        .create(
            &PostParams::default(),
            &rds_schedule("fresh", "fresh", json!({ "rpo": "1h" })),
        )
        .await
        .unwrap();
    scheds
        .create(
            &PostParams::default(),
            &rds_schedule("stale", "stale", json!({ "rpo": "1s" })),
        )
        .await
        .unwrap();

    // backup --wait: the child's name on stdout, progress on stderr, exit 0 on success.
    let (code, out, err) = k
        .run(&["backup", "fresh", "--wait", "--timeout", "2m"])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    let child = out.trim().strip_prefix("rdsbackup/").unwrap().to_string();
    assert!(child.starts_with("fresh-trigger-"), "{out}");
    assert!(err.contains("succeeded"), "{err}");
    let b: RdsBackup = env.api::<RdsBackup>().get(&child).await.unwrap();
    assert_eq!(phase(&b).map(|p| p.as_str()), Some("Succeeded"));

    wait_for(&scheds, "fresh", "RPOMet=True", |s| {
        rpo_status(s).as_deref() == Some("True")
    })
    .await;
    wait_for(&scheds, "stale", "RPOMet=False", |s| {
        rpo_status(s).as_deref() == Some("False")
    })
    .await;

    // status: exit 0 while every RPO is met, 2 when one is missed.
    let (code, out, _) = k.run(&["status", "-l", "team=fresh"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Namespace backups"), "{out}");
    assert!(out.contains("rdsbackupschedule/fresh"), "{out}");
    assert!(out.contains("ok ("), "{out}");
    let (code, out, _) = k.run(&["status"]).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("MISSED"), "{out}");
    assert!(out.contains("RPO missed: backups/RDS rm-demo01"), "{out}");
    let (code, out, _) = k.run(&["status", "-o", "json"]).await;
    assert_eq!(code, 2);
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["target"], "rm-demo01");
    assert_eq!(rows[0]["rpo"]["verdict"], "missed");
    let (code, out, _) = k.run(&["status", "-A", "-o", "yaml"]).await;
    assert_eq!(code, 2);
    assert!(out.contains("target: rm-demo01"), "{out}");

    // why: the missed RPO, and the command that makes a backup now.
    let w = k.why("rdssched/stale").await;
    assert_eq!(w["cause"], "NoSuccessfulBackup", "{w}");
    assert_eq!(
        w["fix"][0],
        "kubectl aliyun-backup backup rdsbackupschedule/stale -n backups --wait"
    );
    let w = k.why(&format!("rdsbackup/{child}")).await;
    assert_eq!(w["done"], true, "{w}");

    // describe: a schedule's children, next run and events; a child's cloud ids.
    let (code, out, _) = k.run(&["describe", "rdsbackupschedule/fresh"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("Children (1):"), "{out}");
    assert!(out.contains(&child), "{out}");
    assert!(out.contains("Next run:"), "{out}");
    assert!(out.contains("RPOMet: RPO met"), "{out}");
    assert!(out.contains("TriggeredRunCreated"), "{out}");
    let (code, out, _) = k.run(&["describe", &format!("rdsbackup/{child}")]).await;
    assert_eq!(code, 0);
    assert!(out.contains("Cloud id:    backupJobId"), "{out}");
    assert!(out.contains("Phase:       Succeeded"), "{out}");
    assert!(out.contains("BackupSucceeded"), "{out}");
    let (code, out, _) = k
        .run(&["describe", "rdsbackupschedule/fresh", "-o", "json"])
        .await;
    assert_eq!(code, 0);
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["object"]["metadata"]["name"], "fresh");
    assert_eq!(d["children"][0]["name"], child.as_str());

    // Errors: a missing object, a bad reference.
    let (code, _, err) = k.run(&["why", "rdsbackup/nope"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("RdsBackup nope not found in namespace backups"),
        "{err}"
    );
    let (code, _, err) = k.run(&["why", "nope"]).await;
    assert_eq!(code, 64, "{err}");
}

#[tokio::test]
async fn backup_wait_exits_non_zero_when_the_child_stalls() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    let mut s = rds_schedule("nosecret", "x", json!({}));
    s.spec.schedule.template.spec.credentials_ref =
        Some(aliyun_backup_operator::crd::CredentialsRef {
            name: "missing-secret".into(),
        });
    env.api::<RdsBackupSchedule>()
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
    let (code, out, err) = k
        .run(&["backup", "rdsbackupschedule/nosecret", "--wait"])
        .await;
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("is stalled"), "{err}");
    assert!(
        err.contains("kubectl create secret generic missing-secret -n backups"),
        "{err}"
    );
    // -o json: the outcome as data.
    let (code, out, _) = k.run(&["backup", "nosecret", "--wait", "-o", "json"]).await;
    assert_eq!(code, 3);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["reason"], "CredentialsSecretNotFound", "{r}");
}

#[tokio::test]
async fn pause_and_resume_show_in_status_and_why() {
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(3600))).await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    let api = env.api::<RdsBackup>();
    create_from::<RdsBackup>(&env, manifest("RdsBackup", "one", rds_spec("rm-demo02"))).await;
    wait_for(&api, "one", "Running", |o| {
        phase(o).map(|p| p.as_str()) == Some("Running")
    })
    .await;

    let (code, out, _) = k.run(&["pause", "rdsbackup/one"]).await;
    assert_eq!((code, out.as_str()), (0, "rdsbackup/one paused\n"));
    wait_for(&api, "one", "Paused", |o| is_true(o, "Paused")).await;
    let (code, out, _) = k.run(&["status"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("paused: rdsbackup/one"), "{out}");
    let w = k.why("rdsbackup/one").await;
    assert_eq!(w["cause"], "Paused");
    assert_eq!(
        w["fix"][0],
        "kubectl annotate rdsbackup one -n backups backup.aliyun.dev/paused-"
    );

    let (code, out, _) = k.run(&["resume", "rdsbackup/one"]).await;
    assert_eq!((code, out.as_str()), (0, "rdsbackup/one resumed\n"));
    wait_for(&api, "one", "not paused", |o| {
        !is_true(o, "Paused") && is_true(o, "Reconciling")
    })
    .await;
    let w = k.why("rdsbackup/one").await;
    assert_eq!(w["cause"], "BackupRunning", "{w}");

    // The whole namespace, and a selector.
    create_from::<HbrBackupJob>(&env, manifest("HbrBackupJob", "job", hbr_udm_spec())).await;
    let (code, out, err) = k.run(&["pause", "--all"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("rdsbackup/one paused") && out.contains("hbrbackupjob/job paused"),
        "{out}"
    );
    assert!(err.contains("--paused-namespace"), "{err}");
    wait_for(&env.api::<HbrBackupJob>(), "job", "Paused", |o| {
        is_true(o, "Paused")
    })
    .await;
    let (code, out, _) = k.run(&["resume", "-l", "nothing=here"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("no backup.aliyun.dev objects matched"),
        "{out}"
    );
    let (code, _, err) = k.run(&["pause"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("name an object"), "{err}");
}

#[tokio::test]
async fn why_names_each_gate() {
    let mut env =
        Env::start_with(emulator_config().with_job_duration(Duration::from_secs(3600))).await;
    env.put_secret(
        "bad-creds",
        &[
            ("accessKeyId", "wrong-id"),
            ("accessKeySecret", "wrong-secret"),
        ],
    )
    .await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    let api = env.api::<RdsBackup>();

    // Waiting for a peer on the same instance.
    create_from::<RdsBackup>(&env, manifest("RdsBackup", "first", rds_spec("rm-demo01"))).await;
    wait_for(&api, "first", "Running", |o| {
        phase(o).map(|p| p.as_str()) == Some("Running")
    })
    .await;
    create_from::<RdsBackup>(&env, manifest("RdsBackup", "second", rds_spec("rm-demo01"))).await;
    wait_for(&api, "second", "waiting", |o| {
        condition(o, "Reconciling").is_some_and(|c| {
            c.status == "True"
                && (c.reason == "WaitingForRunningBackup" || c.reason == "WaitingForInstance")
        })
    })
    .await;
    let w = k.why("rdsbackup/second").await;
    assert!(
        w["cause"].as_str().unwrap().starts_with("WaitingFor"),
        "{w}"
    );
    assert!(
        w["summary"].as_str().unwrap().contains("rdsbackup/first"),
        "{w}"
    );

    // Credentials refused by the cloud.
    create_from::<RdsBackup>(
        &env,
        manifest(
            "RdsBackup",
            "badkey",
            with(
                rds_spec("rm-demo02"),
                json!({ "credentialsRef": { "name": "bad-creds" } }),
            ),
        ),
    )
    .await;
    wait_for(&api, "badkey", "CredentialsValid=False", |o| {
        condition(o, "CredentialsValid").is_some_and(|c| c.status == "False")
    })
    .await;
    let w = k.why("rdsbackup/badkey").await;
    assert_eq!(w["cause"], "CredentialsInvalid", "{w}");
    assert!(
        w["fix"][0]
            .as_str()
            .unwrap()
            .starts_with("kubectl create secret generic bad-creds -n backups"),
        "{w}"
    );
    let (_, out, err) = k.run(&["why", "rdsbackup/badkey"]).await;
    assert!(
        !out.contains("wrong-secret") && !err.contains("wrong-secret"),
        "{out}"
    );

    // Deadline.
    create_from::<RdsBackup>(
        &env,
        manifest(
            "RdsBackup",
            "slow",
            with(rds_spec("rm-demo02"), json!({ "timeout": "2s" })),
        ),
    )
    .await;
    wait_for(&api, "slow", "DeadlineExceeded", |o| {
        stalled_reason(o).as_deref() == Some("DeadlineExceeded")
    })
    .await;
    let w = k.why("rdsbackup/slow").await;
    assert_eq!(w["cause"], "DeadlineExceeded", "{w}");
    assert!(w["summary"].as_str().unwrap().contains("(2s)"), "{w}");

    // Invalid spec (a cron that matches no date).
    env.api::<RdsBackupSchedule>()
        .create(
            &PostParams::default(),
            &rds_schedule("never", "x", json!({ "schedule": "0 0 31 2 *" })),
        )
        .await
        .unwrap();
    wait_for(
        &env.api::<RdsBackupSchedule>(),
        "never",
        "InvalidSpec",
        |s| {
            s.status.as_ref().is_some_and(|st| {
                st.conditions.iter().any(|c| {
                    c.type_ == "Stalled" && c.status == "True" && c.reason == "InvalidSpec"
                })
            })
        },
    )
    .await;
    let w = k.why("rdsbackupschedule/never").await;
    assert_eq!(w["cause"], "InvalidSpec", "{w}");
    assert_eq!(
        w["fix"][0],
        "kubectl edit rdsbackupschedule never -n backups   # correct what the message names"
    );
    let (code, out, _) = k.run(&["why", "rdsbackupschedule/never"]).await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with("rdsbackupschedule/never: the spec cannot work as it is\n"),
        "{out}"
    );
    assert!(
        out.contains("fix:\n  kubectl edit rdsbackupschedule never"),
        "{out}"
    );
}

#[tokio::test]
async fn why_names_a_namespace_paused_by_the_operator() {
    let mut env = Env::start().await;
    let mut cfg = env.operator_config();
    cfg.paused_namespaces = vec![NS.to_string()];
    env.start_operator_with(cfg).await;
    let k = Kubectl::new(&env);
    let api = env.api::<RdsBackup>();
    create_from::<RdsBackup>(&env, manifest("RdsBackup", "held", rds_spec("rm-demo01"))).await;
    wait_for(&api, "held", "Paused", |o| is_true(o, "Paused")).await;
    let w = k.why("rdsbackup/held").await;
    assert_eq!(w["cause"], "PausedNamespace", "{w}");
    assert!(
        w["fix"][0].as_str().unwrap().contains("pausedNamespaces"),
        "{w}"
    );
    let (code, out, _) = k.run(&["status"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("paused: rdsbackup/held"), "{out}");
}

#[tokio::test]
async fn import_prints_manifests_that_adopt_without_a_new_backup() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    // A backup made outside the operator.
    let endpoint = env
        .operator_config()
        .cloud
        .endpoint_override
        .clone()
        .unwrap();
    let config = aliyun_backup_operator::cloud::CloudConfig {
        endpoint_override: Some(endpoint.clone()),
        ..Default::default()
    };
    let cloud = AlibabaCloud::new(config).unwrap();
    let rds = cloud.rds(&test_target());
    let job = rds
        .create_backup(&CreateBackupRequest {
            db_instance_id: "rm-demo01".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .backup_job_id;
    eventually("the outside backup finished", || {
        let rds = rds.clone();
        let job = job.clone();
        async move {
            let t = rds
                .describe_backup_tasks(&DescribeBackupTasksRequest::by_id("rm-demo01", &job))
                .await
                .map_err(|e| e.to_string())?;
            t.items
                .iter()
                .find(|t| t.backup_id.is_some())
                .map(|_| ())
                .ok_or_else(|| format!("{:?}", t.items))
        }
    })
    .await;
    // And an HBR job made outside the operator.
    let hbr = cloud.hbr(&test_target());
    let hbr_job = hbr
        .create_backup_job(&CreateBackupJobRequest {
            source_type: "UDM_ECS".into(),
            retention: 7,
            backup_type: Some("COMPLETE".into()),
            instance_id: Some("i-demo01".into()),
            detail: Some(json!({ "doCopy": false, "snapshotGroup": true, "diskIdList": ["d-1"] })),
            ..Default::default()
        })
        .await
        .unwrap()
        .job_id;
    let creates = env.calls("CreateBackup");
    let job_creates = env.calls("CreateBackupJob");

    let creds = format!("{NS}/{CREDS}");
    let ep = endpoint.to_string();
    let args = [
        "import",
        "--credentials",
        &creds,
        "--region",
        "cn-hangzhou",
        "--instance",
        "rm-demo01",
        "--endpoint-override",
        &ep,
    ];
    let (code, yaml, err) = k.run(&args).await;
    assert_eq!(code, 0, "{err}");
    assert!(yaml.contains("kind: RdsBackup"), "{yaml}");
    assert!(yaml.contains("managementPolicy: ObserveOnly"), "{yaml}");
    // The Secret's value never appears (the canary is the emulator's secret key).
    assert!(
        !yaml.contains(KEY_SECRET) && !err.contains(KEY_SECRET),
        "{yaml}{err}"
    );
    let mut json_args = args.to_vec();
    json_args.extend(["--manage", "-o", "json"]);
    let (code, out, _) = k.run(&json_args).await;
    assert_eq!(code, 0);
    assert!(!out.contains(KEY_SECRET));
    let list: Value = serde_json::from_str(&out).unwrap();
    let items = list["items"].as_array().unwrap();
    let rds_items: Vec<&Value> = items.iter().filter(|i| i["kind"] == "RdsBackup").collect();
    assert_eq!(rds_items.len(), 1, "{list}");
    assert_eq!(rds_items[0]["spec"]["managementPolicy"], "Manage");
    let backup_id = rds_items[0]["spec"]["backupId"]
        .as_str()
        .unwrap()
        .to_string();

    // Applied, the manifest adopts the set: Succeeded, no CreateBackup.
    let name = rds_items[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let o: RdsBackup = create_from(&env, rds_items[0].clone()).await;
    assert_eq!(o.spec.backup_id.as_deref(), Some(backup_id.as_str()));
    let api = env.api::<RdsBackup>();
    let done = wait_for(&api, &name, "Succeeded", |o| {
        phase(o).map(|p| p.as_str()) == Some("Succeeded")
    })
    .await;
    assert_eq!(
        done.status.unwrap().backup_id.as_deref(),
        Some(backup_id.as_str())
    );
    assert_eq!(env.calls("CreateBackup"), creates, "no new backup");

    // The HBR job: listed for the region (no --instance filter), adopted without a new job.
    let (code, out, err) = k
        .run(&[
            "import",
            "--credentials",
            &creds,
            "--region",
            "cn-hangzhou",
            "--endpoint-override",
            &ep,
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("note: no --instance"), "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    let job = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "HbrBackupJob" && i["spec"]["jobId"] == hbr_job.as_str())
        .unwrap_or_else(|| panic!("{list}"))
        .clone();
    assert_eq!(job["spec"]["instanceId"], "i-demo01");
    let job_name = job["metadata"]["name"].as_str().unwrap().to_string();
    let _: HbrBackupJob = create_from(&env, job).await;
    wait_for(&env.api::<HbrBackupJob>(), &job_name, "Succeeded", |o| {
        phase(o).map(|p| p.as_str()) == Some("Succeeded")
    })
    .await;
    assert_eq!(env.calls("CreateBackupJob"), job_creates, "no new job");

    // A Secret that does not exist.
    let (code, _, err) = k
        .run(&[
            "import",
            "--credentials",
            "backups/none",
            "--region",
            "cn-hangzhou",
        ])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("Secret none not found"), "{err}");
}

#[tokio::test]
async fn version_completion_and_object_names() {
    let mut env = Env::start().await;
    env.start_operator().await;
    let k = Kubectl::new(&env);
    let (code, out, err) = k.run(&["version"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!(
            "Plugin:   kubectl-aliyun-backup {}\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{out}"
    );
    assert!(
        out.contains("CRD:      rdsbackups.backup.aliyun.dev v1alpha1"),
        "{out}"
    );
    // kube-sandbox serves no Deployments: the plugin says it found no operator.
    assert!(
        err.contains("warning:") && err.contains("Deployment"),
        "{err}"
    );
    let (code, out, _) = k.run(&["version", "-o", "json"]).await;
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["crds"].as_object().unwrap().len(), 8, "{v}");

    for shell in ["bash", "zsh", "fish"] {
        let (code, out, _) = k.run(&["completion", shell]).await;
        assert_eq!(code, 0);
        assert!(
            out.contains("kubectl-aliyun-backup") && out.contains("__complete"),
            "{shell}"
        );
    }
    create_from::<RdsBackup>(
        &env,
        manifest("RdsBackup", "nightly-a", rds_spec("rm-demo01")),
    )
    .await;
    env.api::<RdsBackupSchedule>()
        .create(
            &PostParams::default(),
            &rds_schedule("weekly", "x", json!({})),
        )
        .await
        .unwrap();
    let (code, out, _) = k.run(&["__complete", "why", "rdsbackup/nig"]).await;
    assert_eq!(code, 0);
    assert_eq!(out, "rdsbackup/nightly-a\n:4\n");
    let (_, out, _) = k.run(&["__complete", "backup", ""]).await;
    assert_eq!(out, "weekly\n:4\n");
    let (_, out, _) = k.run(&["__complete", "des"]).await;
    assert_eq!(out, "describe\n:4\n");
    let (_, out, _) = k.run(&["__complete", "-n", ""]).await;
    assert!(out.contains("backups\n"), "{out}");
}
