//! The RBAC in `deploy/rbac.yaml` (the Helm chart rendered with default values) is exactly
//! what the operator uses.
//!
//! The operator runs in-process, configured from the rendered Deployment's own arguments
//! (parsed with the real `run` flags), against kube-sandbox through a recording proxy: every
//! request it sends is classified as a Kubernetes verb on (group, resource[/subresource],
//! namespace, name). The test then checks both directions:
//!
//! - every request is allowed by the rendered ClusterRole/Roles (bound to the operator's
//!   ServiceAccount), including namespaces and `resourceNames`;
//! - every verb of every rendered rule was used at least once (nothing superfluous), except
//!   the documented [`NOT_EXERCISED`] ones.
//!
//! A second test runs the same scenario with `--namespace` (what `watchNamespaces` renders)
//! and checks that no call leaves the watched namespace (or the release namespace for the
//! Lease), so the namespace-scoped install (`rbac.scope=namespace`) is enough.
//!
//! Scenario: leader election (create, renew, release of the Lease); every example manifest
//! (`examples/*.yaml`: the Secrets, an `RdsBackup` and an `HbrBackupJob` to `Succeeded`, a
//! `DbsBackupPlan` to `Running` and then paused, the restores of all three to `Succeeded`); a
//! Secret change; deletion of all three with
//! `deletionPolicy: Delete` (cloud cleanup, finalizer removal; in the cluster-wide run the
//! `RdsBackup` gets it from its namespace's `default-deletion-policy` annotation).
//!
//! `tests/chart_rbac/served_kinds.rs` checks the rendered rules statically against every kind
//! `crds/` serves (restores included). The scenario also runs the three restore examples (a
//! clone of the `RdsBackup`, a rollback from the `HbrBackupJob`, a restore from the plan's
//! newest set) to `Succeeded` and deletes them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "chart_rbac/served_kinds.rs"]
mod served_kinds;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aliyun_backup_operator::controller::operator::cli::RunArgs;
use aliyun_backup_operator::controller::{self, Timing};
use aliyun_backup_operator::crd::{
    DbsBackupPlan, HbrBackupJob, HbrBackupSchedule, RdsBackup, RdsBackupSchedule,
};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clap::Parser;
use common::{CREDS, Env, KEY_ID, KEY_SECRET, NS, wait_for, wait_gone};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams,
};
use kube::{Api, Client};
use serde_json::Value as Json;

/// Release namespace `deploy/` is rendered for (where the Lease lives).
const RELEASE_NS: &str = "aliyun-backup-operator";
const SERVICE_ACCOUNT: &str = "aliyun-backup-operator";

/// Granted verbs the scenario cannot trigger deterministically, with the reason.
const NOT_EXERCISED: &[(&str, &str, &str, &str)] = &[(
    "events.k8s.io",
    "events",
    "patch",
    "the event publisher patches an Event only when the same event repeats (series)",
)];

/// One API request as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Call {
    verb: String,
    group: String,
    /// `resource` or `resource/subresource`.
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
}

/// Maps a request to its RBAC verb and resource (`None` for non-resource URLs).
fn classify(method: &str, path: &str, query: &str) -> Option<Call> {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match seg.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_string()), rest),
        _ => (None, rest),
    };
    let (resource, name, sub) = match rest {
        [r] => (*r, None, None),
        [r, n] => (*r, Some((*n).to_string()), None),
        [r, n, s] => (*r, Some((*n).to_string()), Some(*s)),
        _ => return None,
    };
    let watch = query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match (method, name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    };
    Some(Call {
        verb: verb.into(),
        group: group.into(),
        resource: match sub {
            Some(s) => format!("{resource}/{s}"),
            None => resource.into(),
        },
        namespace,
        name,
    })
}

#[test]
fn classify_follows_the_kubernetes_url_scheme() {
    let c = |m, p, q| classify(m, p, q).unwrap();
    let list = c("GET", "/apis/backup.aliyun.dev/v1alpha1/rdsbackups", "");
    assert_eq!(
        (list.verb.as_str(), list.group.as_str()),
        ("list", "backup.aliyun.dev")
    );
    let watch = c(
        "GET",
        "/api/v1/namespaces/a/secrets",
        "watch=true&resourceVersion=1",
    );
    assert_eq!(
        (watch.verb.as_str(), watch.namespace.as_deref()),
        ("watch", Some("a"))
    );
    let status = c(
        "PATCH",
        "/apis/backup.aliyun.dev/v1alpha1/namespaces/a/rdsbackups/x/status",
        "fieldManager=m",
    );
    assert_eq!(status.resource, "rdsbackups/status");
    assert_eq!(status.name.as_deref(), Some("x"));
    let lease = c(
        "PUT",
        "/apis/coordination.k8s.io/v1/namespaces/o/leases/l",
        "",
    );
    assert_eq!(
        (lease.verb.as_str(), lease.group.as_str()),
        ("update", "coordination.k8s.io")
    );
    assert_eq!(c("POST", "/api/v1/namespaces/a/events", "").verb, "create");
    assert_eq!(c("GET", "/api/v1/namespaces/a", "").resource, "namespaces");
    assert!(classify("GET", "/version", "").is_none());
}

/// A rule of a rendered Role (namespace `Some`) or ClusterRole (`None`).
#[derive(Debug)]
struct Rule {
    namespace: Option<String>,
    origin: String,
    groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    names: Vec<String>,
}

impl Rule {
    fn allows(&self, c: &Call, verb: &str) -> bool {
        (self.namespace.is_none() || self.namespace == c.namespace)
            && self.groups.contains(&c.group)
            && self.resources.contains(&c.resource)
            && self.verbs.iter().any(|v| v == verb)
            && (self.names.is_empty() || c.name.as_ref().is_some_and(|n| self.names.contains(n)))
    }
}

fn strings(v: &Json) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The rules bound to the operator's ServiceAccount in `deploy/rbac.yaml`.
fn rendered_rules() -> Vec<Rule> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml")).unwrap();
    let docs: Vec<Json> = serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|d: &Json| !d.is_null())
        .collect();
    let bound = |kind: &str, name: &str, ns: Option<&str>| {
        docs.iter().any(|b| {
            let binding = if kind == "ClusterRole" {
                "ClusterRoleBinding"
            } else {
                "RoleBinding"
            };
            b["kind"] == binding
                && b["metadata"]["namespace"].as_str() == ns
                && b["roleRef"]["kind"] == kind
                && b["roleRef"]["name"] == name
                && b["subjects"].as_array().unwrap().iter().any(|s| {
                    s["kind"] == "ServiceAccount"
                        && s["name"] == SERVICE_ACCOUNT
                        && s["namespace"] == RELEASE_NS
                })
        })
    };
    let mut rules = Vec::new();
    for d in &docs {
        let kind = d["kind"].as_str().unwrap();
        if kind != "ClusterRole" && kind != "Role" {
            continue;
        }
        let name = d["metadata"]["name"].as_str().unwrap();
        let ns = d["metadata"]["namespace"].as_str();
        assert!(
            bound(kind, name, ns),
            "{kind} {name} is not bound to the operator"
        );
        for r in d["rules"].as_array().unwrap() {
            rules.push(Rule {
                namespace: ns.map(str::to_string),
                origin: format!("{kind} {name}"),
                groups: strings(&r["apiGroups"]),
                resources: strings(&r["resources"]),
                verbs: strings(&r["verbs"]),
                names: strings(&r["resourceNames"]),
            });
        }
    }
    assert!(!rules.is_empty());
    rules
}

/// The `run` arguments of the rendered Deployment.
fn rendered_args() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/deployment.yaml"
    ))
    .unwrap();
    let dep: Json = serde_norway::from_str(&text).unwrap();
    strings(&dep["spec"]["template"]["spec"]["containers"][0]["args"])
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Run(RunArgs),
}

// ------------------------------------------------------------------------------------------
// recording proxy in front of kube-sandbox
// ------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Proxy {
    upstream: Client,
    calls: Arc<Mutex<Vec<(String, String, String)>>>,
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    p.calls.lock().unwrap().push((
        parts.method.to_string(),
        parts.uri.path().to_string(),
        parts.uri.query().unwrap_or("").to_string(),
    ));
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut out = http::Request::builder()
        .method(parts.method)
        .uri(parts.uri.path_and_query().map_or("/", |pq| pq.as_str()));
    for (k, v) in &parts.headers {
        if k != http::header::HOST && k != http::header::CONTENT_LENGTH {
            out = out.header(k, v);
        }
    }
    let out = out.body(kube::client::Body::from(body.to_vec())).unwrap();
    match p.upstream.send(out).await {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Starts the proxy on 127.0.0.1:0; returns a client that talks through it and the log.
async fn recording_client(upstream: Client) -> (Client, Arc<Mutex<Vec<(String, String, String)>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new().fallback(forward).with_state(Proxy {
        upstream,
        calls: calls.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let mut cfg = kube::Config::new(format!("http://{addr}").parse().unwrap());
    cfg.default_namespace = RELEASE_NS.into();
    (Client::try_from(cfg).unwrap(), calls)
}

fn phase(o: &DynamicObject) -> String {
    o.data["status"]["phase"].as_str().unwrap_or("").to_string()
}

/// `Api` for one of our kinds in the test namespace, untyped.
fn dynamic_api(client: &Client, kind: &str) -> Api<DynamicObject> {
    let ar = match kind {
        "RdsBackup" => ApiResource::erase::<RdsBackup>(&()),
        "HbrBackupJob" => ApiResource::erase::<HbrBackupJob>(&()),
        "DbsBackupPlan" => ApiResource::erase::<DbsBackupPlan>(&()),
        "RdsBackupSchedule" => ApiResource::erase::<RdsBackupSchedule>(&()),
        "HbrBackupSchedule" => ApiResource::erase::<HbrBackupSchedule>(&()),
        "RdsRestore" => ApiResource::erase::<aliyun_backup_operator::crd::RdsRestore>(&()),
        "HbrRestoreJob" => ApiResource::erase::<aliyun_backup_operator::crd::HbrRestoreJob>(&()),
        "DbsRestoreTask" => ApiResource::erase::<aliyun_backup_operator::crd::DbsRestoreTask>(&()),
        other => panic!("unknown kind {other}"),
    };
    Api::namespaced_with(client.clone(), NS, &ar)
}

/// Runs the scenario with the operator started from the rendered Deployment's arguments plus
/// `extra_args`; returns every call the operator made.
async fn scenario(extra_args: &[&str]) -> Vec<Call> {
    let env = Env::start().await;
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    let release_ns = Namespace {
        metadata: ObjectMeta {
            name: Some(RELEASE_NS.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &release_ns)
        .await
        .unwrap();

    // The operator exactly as the chart configures it (default values: all namespaces,
    // leader election on), only pointed at the emulator, with fast timings and no listeners.
    let mut args = rendered_args();
    args.extend(extra_args.iter().map(|a| (*a).to_string()));
    let cli = Cli::try_parse_from(
        std::iter::once("aliyun-backup-operator".to_string()).chain(args.clone()),
    )
    .unwrap_or_else(|e| panic!("the chart's args {args:?} do not parse: {e}"));
    let Command::Run(run) = cli.command;
    let mut cfg = run.to_config(RELEASE_NS).unwrap();
    if extra_args.is_empty() {
        assert!(
            cfg.namespaces.is_empty(),
            "default install watches all namespaces"
        );
    }
    let le = cfg
        .leader_election
        .as_mut()
        .expect("leader election on by default");
    assert_eq!(le.namespace, RELEASE_NS);
    le.retry_period = Duration::from_millis(100);
    le.renew_deadline = Duration::from_secs(5);
    le.lease_duration = Duration::from_secs(10);
    cfg.metrics_addr = None;
    cfg.health_addr = None;
    cfg.timing = Timing::fast();
    cfg.crd_poll_interval = Duration::from_millis(100);
    cfg.cloud.endpoint_override = Some(env.emulator.url().parse().unwrap());
    cfg.cloud.retry.base_delay = Duration::from_millis(20);
    cfg.cloud.retry.max_delay = Duration::from_millis(200);

    let (client, calls) = recording_client(env.client.clone()).await;
    let operator = controller::start(cfg, client).await.unwrap();

    if extra_args.is_empty() {
        namespaces
            .patch(
                NS,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"metadata": {"annotations": {
                    "backup.aliyun.dev/default-deletion-policy": "Delete"
                }}})),
            )
            .await
            .unwrap();
    }

    // Every example manifest (Secrets and one object of each kind), each cleaned up in the
    // cloud on deletion (the RdsBackup of the cluster-wide run through its namespace's
    // default-deletion-policy); the plan is also paused once.
    let mut objects = Vec::new();
    for file in [
        "credentials-secret",
        "dbs-password-secret",
        "rds-backup",
        "hbr-backup-job",
        "dbs-backup-plan",
        "rds-backup-schedule",
        "hbr-backup-schedule",
        "rds-restore",
        "hbr-restore-job",
        "dbs-restore-task",
    ] {
        let path = format!("{}/examples/{file}.yaml", env!("CARGO_MANIFEST_DIR"));
        let mut manifest: Json =
            serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let kind = manifest["kind"].as_str().unwrap().to_string();
        if kind == "Secret" {
            let secret: Secret = serde_json::from_value(manifest).unwrap();
            let secrets: Api<Secret> = env.api();
            let _ = secrets
                .delete(
                    secret.metadata.name.as_deref().unwrap(),
                    &DeleteParams::default(),
                )
                .await;
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .unwrap();
            continue;
        }
        if kind.contains("Restore") {
            // A restore has no deletion policy: deleting it never deletes restored data.
        } else if kind.ends_with("Schedule") {
            // One child at once (made and, on deletion, deleted by the schedule).
            manifest["spec"]["runOnCreate"] = true.into();
            manifest["spec"]["childrenDeletionPolicy"] = "Delete".into();
        } else if kind == "RdsBackup" && extra_args.is_empty() {
            // Delete by the namespace's default (the operator reads the Namespace).
            manifest["spec"]
                .as_object_mut()
                .unwrap()
                .remove("deletionPolicy");
        } else {
            manifest["spec"]["deletionPolicy"] = "Delete".into();
        }
        let name = manifest["metadata"]["name"].as_str().unwrap().to_string();
        let obj: DynamicObject = serde_json::from_value(manifest).unwrap();
        let api = dynamic_api(&env.client, &kind);
        api.create(&PostParams::default(), &obj).await.unwrap();
        objects.push((kind, name));
    }
    for (kind, name) in &objects {
        if kind.ends_with("Schedule") {
            wait_for(&dynamic_api(&env.client, kind), name, "a success", |o| {
                o.data["status"]["lastSuccessfulTime"].is_string()
            })
            .await;
            continue;
        }
        let done = if kind == "DbsBackupPlan" {
            "Running"
        } else {
            "Succeeded"
        };
        wait_for(&dynamic_api(&env.client, kind), name, done, |o| {
            phase(o) == done
        })
        .await;
    }
    let plans = dynamic_api(&env.client, "DbsBackupPlan");
    let (_, plan) = objects.iter().find(|(k, _)| k == "DbsBackupPlan").unwrap();
    plans
        .patch(
            plan,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"suspend": true}})),
        )
        .await
        .unwrap();
    wait_for(&plans, plan, "Paused", |o| phase(o) == "Paused").await;

    // A rotated Secret reaches the operator through its Secret watch.
    env.put_secret(
        CREDS,
        &[("accessKeyId", KEY_ID), ("accessKeySecret", KEY_SECRET)],
    )
    .await;

    for (kind, name) in &objects {
        dynamic_api(&env.client, kind)
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    for (kind, name) in &objects {
        wait_gone(&dynamic_api(&env.client, kind), name).await;
    }
    operator.stop().await.unwrap();

    let recorded: Vec<Call> = calls
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(m, p, q)| classify(m, p, q))
        .collect();
    assert!(!recorded.is_empty());
    recorded
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_rbac_is_exactly_what_the_operator_uses() {
    let recorded = scenario(&[]).await;
    let rules = rendered_rules();
    let denied: BTreeSet<String> = recorded
        .iter()
        .filter(|c| !rules.iter().any(|r| r.allows(c, &c.verb)))
        .map(|c| format!("{c:?}"))
        .collect();
    assert!(
        denied.is_empty(),
        "the operator made calls the rendered RBAC does not allow (add them to the chart's \
         rules in charts/aliyun-backup-operator/templates/):\n{}",
        denied.into_iter().collect::<Vec<_>>().join("\n")
    );

    let mut unused = Vec::new();
    for r in &rules {
        for verb in &r.verbs {
            let used = recorded
                .iter()
                .any(|c| c.verb == *verb && r.allows(c, verb));
            let excused = NOT_EXERCISED.iter().any(|(g, res, v, _)| {
                r.groups.iter().any(|x| x == g) && r.resources.iter().any(|x| x == res) && v == verb
            });
            if !used && !excused {
                unused.push(format!(
                    "{}: {verb} on {:?}/{:?}",
                    r.origin, r.groups, r.resources
                ));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "the rendered RBAC grants verbs the operator never used (remove them from the chart):\n{}",
        unused.join("\n")
    );
}

/// With `watchNamespaces` (rendered as `WATCH_NAMESPACES`, i.e. `--namespace`) the operator
/// makes no cluster-wide call at all, so the namespace-scoped install (`rbac.scope=namespace`:
/// the same rules as a Role per watched namespace, plus the Lease Role) is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_namespaces_needs_no_cluster_wide_access() {
    let recorded = scenario(&["--namespace", NS]).await;
    let rules = rendered_rules();
    let outside: BTreeSet<String> = recorded
        .iter()
        .filter(|c| {
            let home = if c.group == "coordination.k8s.io" {
                RELEASE_NS
            } else {
                NS
            };
            c.namespace.as_deref() != Some(home)
        })
        .map(|c| format!("{c:?}"))
        .collect();
    assert!(
        outside.is_empty(),
        "calls outside the watched namespace (a namespace-scoped install would deny them):\n{}",
        outside.into_iter().collect::<Vec<_>>().join("\n")
    );
    // and each is allowed by the namespaced rules (the ClusterRole's rules, as a Role)
    for c in &recorded {
        assert!(
            rules.iter().any(|r| r.allows(c, &c.verb)),
            "{c:?} not allowed"
        );
    }
}
