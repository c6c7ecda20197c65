//! The README's first command, `aliyun-backup-operator sandbox`: in-process against the real
//! `examples/`, with a failing and a never-finishing backup, and as the built binary (exit
//! status, `--serve` with a kubeconfig, Ctrl-C).

#![cfg(feature = "sandbox")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aliyun_backup_operator::crd::RdsBackup;
use aliyun_backup_operator::sandbox::{self, Outcome, SandboxArgs, TrackedKind, Verdict};
use kube::Api;
use tokio_util::sync::CancellationToken;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn args(examples: Vec<PathBuf>, job_duration: Duration, timeout: Duration) -> SandboxArgs {
    SandboxArgs {
        examples,
        namespace: "demo".into(),
        job_duration,
        timeout,
        serve: false,
        kubeconfig_out: PathBuf::from("unused.kubeconfig"),
        log_level: "warn".into(),
    }
}

/// Values of the example Secrets: they must never be printed.
const SECRET_VALUES: &[&str] = &["testsecret", "change-me"];

fn assert_no_secrets(output: &str) {
    for v in SECRET_VALUES {
        assert!(
            !output.contains(v),
            "output shows secret value {v:?}:\n{output}"
        );
    }
}

#[tokio::test]
async fn examples_all_succeed() {
    let cancel = CancellationToken::new();
    let mut out = Vec::new();
    let a = args(
        vec![root().join("examples")],
        Duration::from_secs(1),
        Duration::from_secs(120),
    );
    let report = sandbox::execute(&a, &mut out, false, &cancel)
        .await
        .unwrap();
    let output = String::from_utf8(out).unwrap();

    assert_eq!(report.outcome, Outcome::AllDone, "{output}");
    assert!(report.succeeded(), "{output}");
    // Every example file was applied: both Secrets and one object of each kind.
    let applied: Vec<String> = report
        .applied
        .iter()
        .map(|a| format!("{}/{}", a.kind, a.name))
        .collect();
    for want in [
        "Secret/aliyun-credentials",
        "Secret/orders-db-password",
        "RdsBackup/nightly-orders",
        "DbsBackupPlan/orders",
        "HbrBackupJob/web-server-full",
        "RdsBackupSchedule/orders-every-minute",
        "RdsBackupSchedule/nightly-orders",
        "HbrBackupSchedule/ecs-app",
    ] {
        assert!(applied.contains(&want.to_string()), "{applied:?}");
    }
    for kind in [
        TrackedKind::RdsBackup,
        TrackedKind::DbsBackupPlan,
        TrackedKind::HbrBackupJob,
    ] {
        let o = report
            .objects
            .iter()
            .find(|o| o.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} in {output}"));
        assert_eq!(o.verdict, Verdict::Succeeded, "{o:?}");
        assert!(o.cloud_id.is_some(), "{o:?}");
    }
    let rds = report
        .objects
        .iter()
        .find(|o| o.kind == TrackedKind::RdsBackup)
        .unwrap();
    assert_eq!(rds.phase.as_deref(), Some("Succeeded"));
    assert_eq!(rds.progress, Some(100));
    assert!(
        rds.cloud_id.as_deref().unwrap().contains("backup "),
        "{rds:?}"
    );
    let dbs = report
        .objects
        .iter()
        .find(|o| o.kind == TrackedKind::DbsBackupPlan)
        .unwrap();
    assert_eq!(dbs.phase.as_deref(), Some("Running"));

    // The every-minute schedule ran on the sandbox's fast clock: two backups succeeded, and
    // retention (keepLast 1) pruned the older one.
    let every_minute = report
        .objects
        .iter()
        .find(|o| o.label() == "RdsBackupSchedule/orders-every-minute")
        .unwrap();
    assert_eq!(every_minute.verdict, Verdict::Succeeded, "{output}");
    let sched = every_minute.schedule.as_ref().unwrap();
    assert_eq!(sched.cron, "* * * * *");
    assert!(sched.made >= 2, "{sched:?}");
    assert!(sched.succeeded >= 2, "{sched:?}");
    assert!(sched.pruned >= 1, "{sched:?}");
    assert_eq!(sched.failed, 0, "{sched:?}");
    assert_eq!(sched.rpo_met.as_deref(), Some("True"), "{sched:?}");
    let last: jiff::Timestamp = sched
        .last_successful_time
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    // On the fast clock's time line: later than wall time by then.
    assert!(last > jiff::Timestamp::now(), "{last} {output}");
    // The examples' real schedules (nightly, every 6 hours) are shown, ready, without runs
    // to wait for.
    for name in [
        "RdsBackupSchedule/nightly-orders",
        "HbrBackupSchedule/ecs-app",
    ] {
        let o = report.objects.iter().find(|o| o.label() == name).unwrap();
        assert_eq!(o.verdict, Verdict::Succeeded, "{o:?}");
        assert_eq!(o.reason.as_deref(), Some("Scheduled"), "{o:?}");
    }
    assert!(
        output.contains("Schedules (on a clock 60x faster than wall time; their times are on it):"),
        "{output}"
    );
    let line = output
        .lines()
        .find(|l| {
            l.starts_with(
                "  RdsBackupSchedule/orders-every-minute \"* * * * *\" (UTC): children made ",
            )
        })
        .unwrap_or_else(|| panic!("no schedule line in {output}"));
    assert!(
        line.contains(&format!("succeeded {}", sched.succeeded)),
        "{line}"
    );
    assert!(line.contains(&format!("pruned {}", sched.pruned)), "{line}");
    assert!(
        line.contains(&format!("lastSuccessfulTime {last}")),
        "{line}"
    );
    assert!(line.ends_with("RPOMet True"), "{line}");

    // The full circle: back up, then restore (the clone of rm-demo01 reaches Running, the
    // rollback, the table and the DBS restore succeed).
    for kind in [
        TrackedKind::RdsRestore,
        TrackedKind::HbrRestoreJob,
        TrackedKind::DbsRestoreTask,
    ] {
        let restores: Vec<_> = report.objects.iter().filter(|o| o.kind == kind).collect();
        assert!(!restores.is_empty(), "{kind}: {output}");
        for o in restores {
            assert_eq!(o.phase.as_deref(), Some("Succeeded"), "{o:?}");
        }
    }
    let clone = report
        .objects
        .iter()
        .find(|o| o.label() == "RdsRestore/orders-clone")
        .unwrap();
    assert_eq!(clone.cloud_status.as_deref(), Some("Running"), "{clone:?}");
    assert!(
        clone.cloud_id.as_deref().unwrap().starts_with("clone rm-"),
        "{clone:?}"
    );
    assert!(
        output.contains("11 objects: 11 succeeded, 0 failed, 0 not done."),
        "{output}"
    );
    assert!(output.contains("All done."), "{output}");
    // Plain (non-terminal) output: one line per change, no escape sequences.
    assert!(!output.contains('\x1b'), "{output:?}");
    assert_no_secrets(&output);
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const CREDENTIALS: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  accessKeyId: testid\n  accessKeySecret: testsecret\n";

fn rds_backup(name: &str, instance: &str) -> String {
    format!(
        "apiVersion: backup.aliyun.dev/v1alpha1\nkind: RdsBackup\nmetadata:\n  name: {name}\nspec:\n  region: cn-hangzhou\n  credentialsRef:\n    name: creds\n  dbInstanceId: {instance}\n"
    )
}

#[tokio::test]
async fn a_failed_backup_fails_the_run_and_says_why_and_default_credentials_work() {
    let dir = tempfile::tempdir().unwrap();
    // Multi-document file: the Secret and two backups, one on an instance that does not exist.
    write(
        dir.path(),
        "all.yaml",
        &format!(
            "{CREDENTIALS}---\n{}---\n{}---\n{}",
            rds_backup("good", "rm-demo01"),
            rds_backup("bad", "rm-missing"),
            // No credentialsRef: the operator's default credentials (the demo key).
            rds_backup("good", "rm-demo01")
                .replace("name: good", "name: default-creds")
                .replace("  credentialsRef:\n    name: creds\n", "")
        ),
    );
    let cancel = CancellationToken::new();
    let mut out = Vec::new();
    let a = args(
        vec![dir.path().to_path_buf()],
        Duration::from_secs(1),
        Duration::from_secs(120),
    );
    let report = sandbox::execute(&a, &mut out, false, &cancel)
        .await
        .unwrap();
    let output = String::from_utf8(out).unwrap();
    assert_eq!(report.outcome, Outcome::AllDone, "{output}");
    assert!(!report.succeeded(), "{output}");
    let failed: Vec<&str> = report.failed().iter().map(|o| o.name.as_str()).collect();
    assert_eq!(failed, ["bad"], "{output}");
    assert!(
        output.contains("3 objects: 2 succeeded, 1 failed, 0 not done."),
        "{output}"
    );
    // The reason and message of the failure are in the summary.
    assert!(output.contains("RdsBackup/bad ("), "{output}");
    assert!(output.contains("Some objects failed"), "{output}");
    assert_no_secrets(&output);
}

#[tokio::test]
async fn the_timeout_ends_the_run_unsuccessfully() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "creds.yaml", CREDENTIALS);
    write(dir.path(), "slow.yml", &rds_backup("slow", "rm-demo01"));
    // Any kind is applied, cluster-scoped or in a namespace of its own.
    write(
        dir.path(),
        "other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team-a\ndata:\n  a: b\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-b\n",
    );
    let cancel = CancellationToken::new();
    let mut out = Vec::new();
    // A backup takes an hour in the emulator; the run gives up after one second.
    let a = args(
        vec![dir.path().to_path_buf()],
        Duration::from_secs(3600),
        Duration::from_secs(1),
    );
    let report = sandbox::execute(&a, &mut out, false, &cancel)
        .await
        .unwrap();
    let output = String::from_utf8(out).unwrap();
    assert_eq!(report.outcome, Outcome::TimedOut, "{output}");
    let applied: Vec<(String, Option<String>, String)> = report
        .applied
        .iter()
        .map(|a| (a.kind.clone(), a.namespace.clone(), a.name.clone()))
        .collect();
    for want in [
        ("ConfigMap", Some("team-a"), "settings"),
        ("Namespace", None, "team-b"),
        ("Secret", Some("demo"), "creds"),
        ("RdsBackup", Some("demo"), "slow"),
    ] {
        let want = (
            want.0.to_string(),
            want.1.map(String::from),
            want.2.to_string(),
        );
        assert!(applied.contains(&want), "{want:?} not in {applied:?}");
    }
    assert!(!report.succeeded());
    assert_eq!(report.pending().len(), 1, "{output}");
    assert!(output.contains("Timed out"), "{output}");
}

#[test]
fn the_binary_exits_zero_after_the_examples_and_one_on_a_bad_path() {
    let bin = env!("CARGO_BIN_EXE_aliyun-backup-operator");
    let out = Command::new(bin)
        .args(["sandbox", "--job-duration", "1s", "--timeout", "120s"])
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("All done."), "{stdout}");
    assert_no_secrets(&stdout);
    assert_no_secrets(&stderr);

    let out = Command::new(bin)
        .args(["sandbox", "--examples", "does-not-exist"])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does-not-exist"), "{stderr}");
}

/// Kills the child process if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn serve_writes_a_working_kubeconfig_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("sandbox.kubeconfig");
    let bin = env!("CARGO_BIN_EXE_aliyun-backup-operator");
    let mut child = KillOnDrop(
        Command::new(bin)
            .args([
                "sandbox",
                "--serve",
                "--job-duration",
                "1s",
                "--kubeconfig-out",
            ])
            .arg(&kubeconfig)
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    // Read until the instructions are printed (the summary is done by then).
    let lines = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 {
            let done = line.contains("kubectl describe");
            seen.push(std::mem::take(&mut line));
            if done {
                break;
            }
        }
        (seen, reader)
    });
    let (lines, mut reader) = tokio::time::timeout(Duration::from_secs(120), lines)
        .await
        .expect("instructions printed")
        .unwrap();
    let text = lines.concat();
    assert!(text.contains("All done."), "{text}");
    assert!(
        text.contains(&format!("export KUBECONFIG={}", kubeconfig.display())),
        "{text}"
    );
    assert!(text.contains("kubectl get aliyunbackup -A"), "{text}");

    // The kubeconfig reaches the running API server, where the examples are.
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let api: Api<RdsBackup> = Api::namespaced(client.clone(), "demo");
    let rds = api.get("nightly-orders").await.unwrap();
    assert_eq!(
        rds.status.and_then(|s| s.phase).map(|p| p.to_string()),
        Some("Succeeded".into())
    );

    // Objects applied now (here without credentialsRef: the sandbox's default credentials) are
    // reconciled too, and their progress is printed.
    let extra: RdsBackup = serde_json::from_value(serde_json::json!({
        "apiVersion": "backup.aliyun.dev/v1alpha1",
        "kind": "RdsBackup",
        "metadata": {"name": "extra", "namespace": "default"},
        "spec": {"region": "cn-hangzhou", "dbInstanceId": "rm-demo01"}
    }))
    .unwrap();
    Api::<RdsBackup>::namespaced(client.clone(), "default")
        .create(&Default::default(), &extra)
        .await
        .unwrap();
    let follow = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 {
            if line.contains("default: ✓ RdsBackup/extra phase=Succeeded") {
                return (true, reader);
            }
            line.clear();
        }
        (false, reader)
    });
    let (found, mut reader) = tokio::time::timeout(Duration::from_secs(120), follow)
        .await
        .expect("progress of the new object printed")
        .unwrap();
    assert!(found, "stdout ended before the new object succeeded");

    // Ctrl-C stops it with the exit status of the demo.
    // The shell's built-in `kill` (no procps needed).
    let status = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.0.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let (status, rest) = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
        (child.0.wait().unwrap(), rest)
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}: {rest}");
    assert!(rest.contains("stopping"), "{rest}");
}
