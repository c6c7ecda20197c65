//! The commands: read and write through the API server with the user's kubeconfig, decide with
//! the pure modules, print.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use aliyun_backup_operator::cloud::{
    AlibabaCloud, CloudConfig, CloudProvider, CredentialSource, Secret as CloudSecret,
    StaticCredentials, Target,
};
use aliyun_backup_operator::controller::schedule::plan::{
    schedule_label_value, trigger_child_name,
};
use aliyun_backup_operator::crd::{
    ANNOTATION_PAUSED, ANNOTATION_TRIGGER, CONDITION_STALLED, DbsBackupPlan, DbsRestoreTask,
    HbrBackupJob, HbrBackupSchedule, HbrRestoreJob, LABEL_SCHEDULE, RdsBackup, RdsBackupSchedule,
    RdsRestore, all_crds, credential_keys,
};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::describe::EventLine;
use crate::format::{OutputFormat, progress_bar, structured};
use crate::import::ImportSettings;
use crate::model::{Kind, ObjectRef, View};
use crate::{
    Cli, Command, EXIT_BACKUP_FAILED, EXIT_OK, EXIT_RPO_MISSED, EXIT_TIMEOUT, Global, ImportArgs,
    PluginError, Selection,
};

/// The label the chart puts on the operator's Deployment.
pub const OPERATOR_LABEL: &str = "app.kubernetes.io/name=aliyun-backup-operator";
/// Field manager of the plugin's writes.
pub const FIELD_MANAGER: &str = "kubectl-aliyun-backup";

/// The API client and namespace of the kubeconfig (or in-cluster config).
pub async fn connect(g: &Global) -> Result<(Client, String), PluginError> {
    let opts = KubeConfigOptions {
        context: g.context.clone(),
        cluster: None,
        user: None,
    };
    let config = match &g.kubeconfig {
        Some(path) => Config::from_custom_kubeconfig(Kubeconfig::read_from(path)?, &opts).await?,
        None if g.context.is_some() => Config::from_kubeconfig(&opts).await?,
        None => Config::infer().await?,
    };
    let ns = g
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    Ok((Client::try_from(config)?, ns))
}

pub async fn dispatch(
    cli: Cli,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, PluginError> {
    let g = cli.global;
    match cli.command {
        Command::Completion { shell } => {
            out.write_all(crate::complete::script(shell).as_bytes())?;
            Ok(EXIT_OK)
        }
        Command::Complete { words } => complete(&g, &words, out).await,
        Command::Status {
            all_namespaces,
            selector,
        } => {
            let (client, ns) = connect(&g).await?;
            let ns = (!all_namespaces).then_some(ns);
            status(&client, ns.as_deref(), selector.as_deref(), g.output, out).await
        }
        Command::Describe { object } => {
            let (client, ns) = connect(&g).await?;
            describe(&client, &ns, &object, g.output, out).await
        }
        Command::Why { object } => {
            let (client, ns) = connect(&g).await?;
            why(&client, &ns, &object, g.output, out).await
        }
        Command::Backup {
            schedule,
            wait,
            timeout,
        } => {
            let (client, ns) = connect(&g).await?;
            backup(&client, &ns, &schedule, wait, timeout, g.output, out, err).await
        }
        Command::Pause(sel) => {
            let (client, ns) = connect(&g).await?;
            pause(&client, &ns, &sel, true, g.output, out, err).await
        }
        Command::Resume(sel) => {
            let (client, ns) = connect(&g).await?;
            pause(&client, &ns, &sel, false, g.output, out, err).await
        }
        Command::Import(args) => {
            let (client, _) = connect(&g).await?;
            import(&client, &args, g.output, out, err).await
        }
        Command::Restore(args) => {
            let (client, ns) = connect(&g).await?;
            crate::restore_flow::restore(&client, &ns, &args, g.output, out, err).await
        }
        Command::Version { operator_namespace } => {
            let client = connect(&g).await.map(|(c, _)| c);
            version(client, operator_namespace.as_deref(), g.output, out, err).await
        }
    }
}

// ------------------------------------------------------------------------------------------
// reading objects
// ------------------------------------------------------------------------------------------

fn api<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn list_kind<K>(
    client: &Client,
    ns: Option<&str>,
    lp: &ListParams,
) -> Result<Vec<View>, PluginError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    for<'a> View: From<&'a K>,
{
    let list = api::<K>(client, ns).list(lp).await?;
    Ok(list.items.iter().map(View::from).collect())
}

/// Every object of `kinds` in `ns` (all namespaces with `None`).
async fn list_views(
    client: &Client,
    ns: Option<&str>,
    kinds: &[Kind],
    lp: &ListParams,
) -> Result<Vec<View>, PluginError> {
    let mut out = Vec::new();
    for k in kinds {
        out.extend(match k {
            Kind::RdsBackup => list_kind::<RdsBackup>(client, ns, lp).await?,
            Kind::HbrBackupJob => list_kind::<HbrBackupJob>(client, ns, lp).await?,
            Kind::DbsBackupPlan => list_kind::<DbsBackupPlan>(client, ns, lp).await?,
            Kind::RdsBackupSchedule => list_kind::<RdsBackupSchedule>(client, ns, lp).await?,
            Kind::HbrBackupSchedule => list_kind::<HbrBackupSchedule>(client, ns, lp).await?,
            Kind::RdsRestore => list_kind::<RdsRestore>(client, ns, lp).await?,
            Kind::HbrRestoreJob => list_kind::<HbrRestoreJob>(client, ns, lp).await?,
            Kind::DbsRestoreTask => list_kind::<DbsRestoreTask>(client, ns, lp).await?,
        });
    }
    Ok(out)
}

async fn get_typed<K>(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<Option<(View, Value)>, PluginError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    for<'a> View: From<&'a K>,
{
    let Some(mut o) = api::<K>(client, Some(ns)).get_opt(name).await? else {
        return Ok(None);
    };
    o.meta_mut().managed_fields = None;
    Ok(Some((View::from(&o), serde_json::to_value(&o)?)))
}

/// One object as a view and as it is stored.
pub(crate) async fn get_object(
    client: &Client,
    ns: &str,
    r: &ObjectRef,
) -> Result<(View, Value), PluginError> {
    let found = match r.kind {
        Kind::RdsBackup => get_typed::<RdsBackup>(client, ns, &r.name).await?,
        Kind::HbrBackupJob => get_typed::<HbrBackupJob>(client, ns, &r.name).await?,
        Kind::DbsBackupPlan => get_typed::<DbsBackupPlan>(client, ns, &r.name).await?,
        Kind::RdsBackupSchedule => get_typed::<RdsBackupSchedule>(client, ns, &r.name).await?,
        Kind::HbrBackupSchedule => get_typed::<HbrBackupSchedule>(client, ns, &r.name).await?,
        Kind::RdsRestore => get_typed::<RdsRestore>(client, ns, &r.name).await?,
        Kind::HbrRestoreJob => get_typed::<HbrRestoreJob>(client, ns, &r.name).await?,
        Kind::DbsRestoreTask => get_typed::<DbsRestoreTask>(client, ns, &r.name).await?,
    };
    found.ok_or_else(|| PluginError::NotFound {
        kind: r.kind.to_string(),
        name: r.name.clone(),
        namespace: ns.to_string(),
    })
}

/// The children of a schedule (by the schedule label).
async fn children(client: &Client, v: &View) -> Result<Vec<View>, PluginError> {
    let child_kind = match v.kind() {
        Kind::RdsBackupSchedule => Kind::RdsBackup,
        Kind::HbrBackupSchedule => Kind::HbrBackupJob,
        _ => return Ok(Vec::new()),
    };
    let lp = ListParams::default().labels(&format!(
        "{LABEL_SCHEDULE}={}",
        schedule_label_value(&v.name)
    ));
    let mut kids = list_views(client, Some(&v.namespace), &[child_kind], &lp).await?;
    kids.sort_by_key(|k| k.created);
    Ok(kids)
}

/// The object's Events (events.k8s.io/v1), oldest first.
async fn events(client: &Client, v: &View) -> Result<Vec<EventLine>, PluginError> {
    let list = Api::<Event>::namespaced(client.clone(), &v.namespace)
        .list(&ListParams::default())
        .await?;
    let kind = v.kind().as_str();
    let mut lines: Vec<EventLine> = list
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.name.as_deref() == Some(&v.name) && r.kind.as_deref() == Some(kind)
            })
        })
        .map(|e| {
            let last = e
                .series
                .as_ref()
                .map(|s| s.last_observed_time.0)
                .or(e.event_time.as_ref().map(|t| t.0))
                .or(e.deprecated_last_timestamp.as_ref().map(|t| t.0))
                .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0));
            EventLine {
                type_: e.type_.unwrap_or_default(),
                reason: e.reason.unwrap_or_default(),
                count: e.series.as_ref().map(|s| s.count).unwrap_or(1),
                last,
                message: e.note.unwrap_or_default(),
            }
        })
        .collect();
    lines.sort_by_key(|l| l.last);
    Ok(lines)
}

// ------------------------------------------------------------------------------------------
// status
// ------------------------------------------------------------------------------------------

async fn status(
    client: &Client,
    ns: Option<&str>,
    selector: Option<&str>,
    output: OutputFormat,
    out: &mut dyn Write,
) -> Result<i32, PluginError> {
    let mut lp = ListParams::default();
    if let Some(s) = selector {
        lp = lp.labels(s);
    }
    let views = list_views(client, ns, &Kind::PROTECTING, &lp).await?;
    let rows = crate::status::rows(&views);
    let code = if crate::status::any_missed(&rows) {
        EXIT_RPO_MISSED
    } else {
        EXIT_OK
    };
    match structured(output, &rows)? {
        Some(text) => out.write_all(text.as_bytes())?,
        None if rows.is_empty() => writeln!(
            out,
            "No backup.aliyun.dev objects in {}.",
            ns.map(|n| format!("namespace {n}"))
                .unwrap_or_else(|| "any namespace".into())
        )?,
        None => out.write_all(crate::status::render(&rows, Timestamp::now()).as_bytes())?,
    }
    Ok(code)
}

// ------------------------------------------------------------------------------------------
// describe
// ------------------------------------------------------------------------------------------

async fn describe(
    client: &Client,
    ns: &str,
    r: &ObjectRef,
    output: OutputFormat,
    out: &mut dyn Write,
) -> Result<i32, PluginError> {
    let (v, raw) = get_object(client, ns, r).await?;
    let kids = children(client, &v).await?;
    let evs = events(client, &v).await?;
    if let Some(text) = structured(
        output,
        &json!({ "object": raw, "children": kids, "events": evs }),
    )? {
        out.write_all(text.as_bytes())?;
        return Ok(EXIT_OK);
    }
    let text = crate::describe::render(&v, &kids, &evs, Timestamp::now());
    out.write_all(text.as_bytes())?;
    Ok(EXIT_OK)
}

// ------------------------------------------------------------------------------------------
// why
// ------------------------------------------------------------------------------------------

async fn why(
    client: &Client,
    ns: &str,
    r: &ObjectRef,
    output: OutputFormat,
    out: &mut dyn Write,
) -> Result<i32, PluginError> {
    let (v, _) = get_object(client, ns, r).await?;
    let peers = match v.kind() {
        Kind::RdsBackup | Kind::HbrBackupJob => {
            list_views(client, Some(ns), &[v.kind()], &ListParams::default()).await?
        }
        _ => Vec::new(),
    };
    let kids = children(client, &v).await?;
    let w = crate::why::why(&v, &peers, &kids);
    match structured(output, &w)? {
        Some(text) => out.write_all(text.as_bytes())?,
        None => out.write_all(crate::why::render(&w).as_bytes())?,
    }
    Ok(EXIT_OK)
}

// ------------------------------------------------------------------------------------------
// backup
// ------------------------------------------------------------------------------------------

/// The schedule `arg` names: `KIND/NAME` or a NAME of either schedule kind.
async fn find_schedule(client: &Client, ns: &str, arg: &str) -> Result<ObjectRef, PluginError> {
    if arg.contains('/') {
        let r: ObjectRef = arg.parse().map_err(PluginError::Usage)?;
        if !r.kind.is_schedule() {
            return Err(PluginError::Usage(format!(
                "{r} is not a schedule (rdsbackupschedule or hbrbackupschedule)"
            )));
        }
        return Ok(r);
    }
    let rds = Api::<RdsBackupSchedule>::namespaced(client.clone(), ns)
        .get_opt(arg)
        .await?
        .is_some();
    let hbr = Api::<HbrBackupSchedule>::namespaced(client.clone(), ns)
        .get_opt(arg)
        .await?
        .is_some();
    let kind = match (rds, hbr) {
        (true, true) => {
            return Err(PluginError::Usage(format!(
                "both an RdsBackupSchedule and an HbrBackupSchedule are named {arg}: say rdsbackupschedule/{arg} or hbrbackupschedule/{arg}"
            )));
        }
        (true, false) => Kind::RdsBackupSchedule,
        (false, true) => Kind::HbrBackupSchedule,
        (false, false) => {
            return Err(PluginError::NotFound {
                kind: "schedule (RdsBackupSchedule or HbrBackupSchedule)".into(),
                name: arg.into(),
                namespace: ns.into(),
            });
        }
    };
    Ok(ObjectRef {
        kind,
        name: arg.into(),
    })
}

async fn patch_annotations(
    client: &Client,
    ns: &str,
    r: &ObjectRef,
    annotations: Value,
) -> Result<(), PluginError> {
    let patch = Patch::Merge(json!({ "metadata": { "annotations": annotations } }));
    let pp = PatchParams::default();
    let pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..pp
    };
    let name = &r.name;
    match r.kind {
        Kind::RdsBackup => drop(
            Api::<RdsBackup>::namespaced(client.clone(), ns)
                .patch(name, &pp, &patch)
                .await?,
        ),
        Kind::HbrBackupJob => drop(
            Api::<HbrBackupJob>::namespaced(client.clone(), ns)
                .patch(name, &pp, &patch)
                .await?,
        ),
        Kind::DbsBackupPlan => drop(
            Api::<DbsBackupPlan>::namespaced(client.clone(), ns)
                .patch(name, &pp, &patch)
                .await?,
        ),
        Kind::RdsBackupSchedule => drop(
            Api::<RdsBackupSchedule>::namespaced(client.clone(), ns)
                .patch(name, &pp, &patch)
                .await?,
        ),
        Kind::HbrBackupSchedule => drop(
            Api::<HbrBackupSchedule>::namespaced(client.clone(), ns)
                .patch(name, &pp, &patch)
                .await?,
        ),
        Kind::RdsRestore => drop(
            api::<RdsRestore>(client, Some(ns))
                .patch(name, &pp, &patch)
                .await?,
        ),
        Kind::HbrRestoreJob => drop(
            api::<HbrRestoreJob>(client, Some(ns))
                .patch(name, &pp, &patch)
                .await?,
        ),
        Kind::DbsRestoreTask => drop(
            api::<DbsRestoreTask>(client, Some(ns))
                .patch(name, &pp, &patch)
                .await?,
        ),
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BackupResult {
    schedule: String,
    trigger: String,
    child: String,
    #[serde(flatten)]
    outcome: Outcome,
}

/// How a followed object ended (or where it was when the wait ended).
#[derive(Serialize, Default, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Outcome {
    pub phase: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn backup(
    client: &Client,
    ns: &str,
    arg: &str,
    wait: bool,
    timeout: Duration,
    output: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, PluginError> {
    let sched = find_schedule(client, ns, arg).await?;
    let value = format!("kubectl-{}", Timestamp::now().as_nanosecond());
    patch_annotations(client, ns, &sched, json!({ ANNOTATION_TRIGGER: value })).await?;
    let child = ObjectRef {
        kind: if sched.kind == Kind::RdsBackupSchedule {
            Kind::RdsBackup
        } else {
            Kind::HbrBackupJob
        },
        name: trigger_child_name(&sched.name, &value),
    };
    let mut result = BackupResult {
        schedule: sched.to_string(),
        trigger: value,
        child: child.to_string(),
        outcome: Outcome::default(),
    };
    if output == OutputFormat::Text {
        writeln!(out, "{child}")?;
        out.flush()?;
    }
    let mut code = EXIT_OK;
    if wait {
        code = follow(client, ns, &child, timeout, &mut result.outcome, err).await?;
    }
    if let Some(text) = structured(output, &result)? {
        out.write_all(text.as_bytes())?;
    }
    Ok(code)
}

/// Follows `child` until it ends (or stalls), printing progress to `err`.
pub(crate) async fn follow(
    client: &Client,
    ns: &str,
    child: &ObjectRef,
    timeout: Duration,
    result: &mut Outcome,
    err: &mut dyn Write,
) -> Result<i32, PluginError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_line = String::new();
    loop {
        let seen = match get_object(client, ns, child).await {
            Ok((v, _)) => Some(v),
            Err(PluginError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let line = match &seen {
            None => "waiting for the operator to create it".to_string(),
            Some(v) => format!(
                "{:<18} {}{}",
                v.phase.clone().unwrap_or_else(|| "Pending".into()),
                progress_bar(v.progress.unwrap_or(0), 30),
                if v.is_paused() { "  (paused)" } else { "" }
            ),
        };
        if line != last_line {
            writeln!(err, "{child}  {line}")?;
            err.flush()?;
            last_line = line;
        }
        if let Some(v) = &seen {
            let stalled = v
                .condition(CONDITION_STALLED)
                .filter(|c| c.status == "True");
            result.phase = v.phase.clone();
            result.reason = stalled.map(|c| c.reason.clone());
            result.message = stalled.map(|c| c.message.clone());
            match v.phase.as_deref() {
                Some("Succeeded") => {
                    writeln!(err, "{child} succeeded")?;
                    return Ok(EXIT_OK);
                }
                Some("Failed" | "Cancelled" | "PartiallySucceeded") => {
                    writeln!(
                        err,
                        "{child} ended {}: {}",
                        v.phase.clone().unwrap_or_default(),
                        result.message.clone().unwrap_or_default()
                    )?;
                    return Ok(EXIT_BACKUP_FAILED);
                }
                _ if stalled.is_some() => {
                    let w = crate::why::why(v, &[], &[]);
                    writeln!(err, "{child} is stalled:\n{}", crate::why::render(&w))?;
                    return Ok(EXIT_BACKUP_FAILED);
                }
                _ => {}
            }
        }
        if tokio::time::Instant::now() >= deadline {
            writeln!(
                err,
                "{child}: still not finished after {}",
                crate::format::duration(timeout.as_secs() as i64)
            )?;
            return Ok(EXIT_TIMEOUT);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ------------------------------------------------------------------------------------------
// pause / resume
// ------------------------------------------------------------------------------------------

#[allow(clippy::too_many_arguments)]
async fn pause(
    client: &Client,
    ns: &str,
    sel: &Selection,
    on: bool,
    output: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, PluginError> {
    let targets: Vec<ObjectRef> = match (&sel.object, &sel.selector, sel.all) {
        (Some(r), _, _) => {
            get_object(client, ns, r).await?;
            vec![r.clone()]
        }
        (None, Some(s), _) => refs(
            list_views(
                client,
                Some(ns),
                &Kind::ALL,
                &ListParams::default().labels(s),
            )
            .await?,
        ),
        (None, None, true) => {
            refs(list_views(client, Some(ns), &Kind::ALL, &ListParams::default()).await?)
        }
        (None, None, false) => {
            return Err(PluginError::Usage(
                "name an object (KIND/NAME), a selector (-l) or --all (every object of the namespace)".into(),
            ));
        }
    };
    let value = if on { json!("true") } else { Value::Null };
    let verb = if on { "paused" } else { "resumed" };
    let mut done = Vec::new();
    for r in &targets {
        patch_annotations(client, ns, r, json!({ ANNOTATION_PAUSED: value })).await?;
        done.push(r.to_string());
    }
    match structured(output, &json!({ "namespace": ns, verb: done }))? {
        Some(text) => out.write_all(text.as_bytes())?,
        None => {
            for d in &done {
                writeln!(out, "{d} {verb}")?;
            }
            if done.is_empty() {
                writeln!(
                    out,
                    "no backup.aliyun.dev objects matched in namespace {ns}"
                )?;
            }
        }
    }
    if sel.all {
        writeln!(
            err,
            "note: this {} the objects now in namespace {ns} one by one (annotation {ANNOTATION_PAUSED}); objects created later are not. The operator's --paused-namespace flag (chart value pausedNamespaces) pauses a whole namespace and is separate: `resume` does not lift it.",
            if on { "annotates" } else { "un-annotates" }
        )?;
    }
    Ok(EXIT_OK)
}

fn refs(views: Vec<View>) -> Vec<ObjectRef> {
    views
        .into_iter()
        .map(|v| ObjectRef {
            kind: v.kind(),
            name: v.name,
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// import
// ------------------------------------------------------------------------------------------

async fn import(
    client: &Client,
    args: &ImportArgs,
    output: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, PluginError> {
    let (ns, name) = args.credentials.split_once('/').ok_or_else(|| {
        PluginError::Usage(format!(
            "--credentials {:?}: expected NAMESPACE/SECRET",
            args.credentials
        ))
    })?;
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?
        .ok_or_else(|| PluginError::NotFound {
            kind: "Secret".into(),
            name: name.into(),
            namespace: ns.into(),
        })?;
    let data = secret.data.unwrap_or_default();
    let read = |key: &str| -> Option<String> {
        data.get(key)
            .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let (Some(id), Some(key)) = (
        read(credential_keys::ACCESS_KEY_ID),
        read(credential_keys::ACCESS_KEY_SECRET),
    ) else {
        return Err(PluginError::Import(format!(
            "Secret {ns}/{name} needs the keys {} and {}",
            credential_keys::ACCESS_KEY_ID,
            credential_keys::ACCESS_KEY_SECRET
        )));
    };
    let config = CloudConfig {
        endpoint_override: args.endpoint_override.clone(),
        user_agent: format!("kubectl-aliyun-backup/{}", env!("CARGO_PKG_VERSION")),
        ..CloudConfig::default()
    };
    let cloud = AlibabaCloud::new(config)?;
    let target = Target {
        region: args.region.clone(),
        credentials: CredentialSource::Static(StaticCredentials {
            access_key_id: id,
            access_key_secret: CloudSecret::new(key),
            security_token: read(credential_keys::SECURITY_TOKEN).map(CloudSecret::new),
        }),
    };
    let settings = ImportSettings {
        namespace: ns.into(),
        region: args.region.clone(),
        secret: name.into(),
        manage: args.manage,
    };
    if args.instance.is_empty() {
        writeln!(
            err,
            "note: no --instance: RDS backups are listed per instance, so only HBR jobs and DBS plans are imported"
        )?;
    }
    let found = crate::import::list(
        cloud.rds(&target).as_ref(),
        cloud.hbr(&target).as_ref(),
        cloud.dbs(&target).as_ref(),
        &args.instance,
        &settings,
    )
    .await?;
    for s in &found.skipped {
        writeln!(err, "skipped: {s}")?;
    }
    match output {
        OutputFormat::Json => {
            let list = json!({ "apiVersion": "v1", "kind": "List", "items": found.objects });
            out.write_all((serde_json::to_string_pretty(&list)? + "\n").as_bytes())?;
        }
        _ => {
            writeln!(
                out,
                "# {} object(s) adopting existing cloud backups ({}), made by kubectl aliyun-backup import",
                found.objects.len(),
                settings.policy_name()
            )?;
            for o in &found.objects {
                out.write_all(format!("---\n{}", serde_norway::to_string(o)?).as_bytes())?;
            }
        }
    }
    Ok(EXIT_OK)
}

impl ImportSettings {
    fn policy_name(&self) -> &'static str {
        if self.manage { "Manage" } else { "ObserveOnly" }
    }
}

// ------------------------------------------------------------------------------------------
// version
// ------------------------------------------------------------------------------------------

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Versions {
    plugin: String,
    operators: Vec<OperatorVersion>,
    crds: BTreeMap<String, Vec<String>>,
    warnings: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OperatorVersion {
    namespace: String,
    name: String,
    version: Option<String>,
    image: Option<String>,
}

/// The operator version of a Deployment: the `app.kubernetes.io/version` label, else the
/// image tag.
pub fn deployment_version(d: &Deployment) -> (Option<String>, Option<String>) {
    let image = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone());
    let label = d
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/version"))
        .cloned();
    let tag = image.as_deref().and_then(|i| {
        let i = i.split('@').next().unwrap_or(i);
        let last = i.rsplit('/').next().unwrap_or(i);
        last.split_once(':')
            .map(|(_, t)| t.trim_start_matches('v').to_string())
    });
    (label.or(tag), image)
}

async fn version(
    client: Result<Client, PluginError>,
    operator_ns: Option<&str>,
    output: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, PluginError> {
    let plugin = env!("CARGO_PKG_VERSION").to_string();
    let mut v = Versions {
        plugin: plugin.clone(),
        ..Versions::default()
    };
    match client {
        Err(e) => v.warnings.push(format!("cannot reach the API server: {e}")),
        Ok(client) => {
            let deps: Api<Deployment> = match operator_ns {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            match deps
                .list(&ListParams::default().labels(OPERATOR_LABEL))
                .await
            {
                Ok(list) => {
                    for d in &list.items {
                        let (version, image) = deployment_version(d);
                        v.operators.push(OperatorVersion {
                            namespace: d.metadata.namespace.clone().unwrap_or_default(),
                            name: d.metadata.name.clone().unwrap_or_default(),
                            version,
                            image,
                        });
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 404 => v.warnings.push(
                    "this API server serves no apps/v1 Deployments (kube-sandbox?): the operator's version is unknown".into(),
                ),
                Err(e) => v
                    .warnings
                    .push(format!("cannot list the operator's Deployments: {e}")),
            }
            if v.operators.is_empty() && v.warnings.is_empty() {
                v.warnings.push(format!(
                    "no operator Deployment found (label {OPERATOR_LABEL}{})",
                    operator_ns
                        .map(|n| format!(", namespace {n}"))
                        .unwrap_or_default()
                ));
            }
            for o in &v.operators {
                if o.version.as_deref() != Some(plugin.as_str()) {
                    v.warnings.push(format!(
                        "operator {}/{} is version {}, the plugin {plugin}",
                        o.namespace,
                        o.name,
                        o.version.clone().unwrap_or_else(|| "unknown".into())
                    ));
                }
            }
            let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
            for expected in all_crds() {
                let name = expected.metadata.name.clone().unwrap_or_default();
                let want: Vec<String> = expected
                    .spec
                    .versions
                    .iter()
                    .map(|x| x.name.clone())
                    .collect();
                match crds.get_opt(&name).await {
                    Ok(Some(c)) => {
                        let have: Vec<String> = c
                            .spec
                            .versions
                            .iter()
                            .filter(|x| x.served)
                            .map(|x| x.name.clone())
                            .collect();
                        if want.iter().any(|w| !have.contains(w)) {
                            v.warnings.push(format!(
                                "CRD {name} serves {}, the plugin uses {}",
                                have.join(", "),
                                want.join(", ")
                            ));
                        }
                        v.crds.insert(name, have);
                    }
                    Ok(None) => v.warnings.push(format!("CRD {name} is not installed")),
                    Err(e) => {
                        v.warnings.push(format!("cannot read CRD {name}: {e}"));
                    }
                }
            }
        }
    }
    match structured(output, &v)? {
        Some(text) => out.write_all(text.as_bytes())?,
        None => {
            writeln!(out, "Plugin:   kubectl-aliyun-backup {plugin}")?;
            if v.operators.is_empty() {
                writeln!(out, "Operator: not found")?;
            }
            for o in &v.operators {
                writeln!(
                    out,
                    "Operator: {} ({}/{}, image {})",
                    o.version.clone().unwrap_or_else(|| "unknown".into()),
                    o.namespace,
                    o.name,
                    o.image.clone().unwrap_or_else(|| "-".into())
                )?;
            }
            for (name, versions) in &v.crds {
                writeln!(out, "CRD:      {name} {}", versions.join(", "))?;
            }
        }
    }
    for w in &v.warnings {
        writeln!(err, "warning: {w}")?;
    }
    Ok(EXIT_OK)
}

// ------------------------------------------------------------------------------------------
// __complete
// ------------------------------------------------------------------------------------------

async fn complete(g: &Global, words: &[String], out: &mut dyn Write) -> Result<i32, PluginError> {
    use crate::complete::{Need, answer, need};
    let prefix = words.last().cloned().unwrap_or_default();
    // The words may carry -n/--namespace/--context/--kubeconfig: honour them.
    let mut g = g.clone();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let value = |it: &mut std::slice::Iter<'_, String>| it.next().cloned();
        match w.as_str() {
            "-n" | "--namespace" => g.namespace = value(&mut it).or(g.namespace.take()),
            "--context" => g.context = value(&mut it).or(g.context.take()),
            "--kubeconfig" => g.kubeconfig = value(&mut it).map(Into::into).or(g.kubeconfig.take()),
            _ => {}
        }
    }
    let candidates: Vec<String> = match need(words) {
        Need::Words(w) => w,
        Need::Nothing => Vec::new(),
        Need::Objects(kind) => match connect(&g).await {
            Ok((client, ns)) => list_views(&client, Some(&ns), &[kind], &ListParams::default())
                .await
                .map(|vs| vs.iter().map(View::reference).collect())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        },
        Need::Schedules => match connect(&g).await {
            Ok((client, ns)) => list_views(
                &client,
                Some(&ns),
                &[Kind::RdsBackupSchedule, Kind::HbrBackupSchedule],
                &ListParams::default(),
            )
            .await
            .map(|vs| vs.into_iter().map(|v| v.name).collect())
            .unwrap_or_default(),
            Err(_) => Vec::new(),
        },
        Need::Namespaces => match connect(&g).await {
            Ok((client, _)) => Api::<Namespace>::all(client)
                .list(&ListParams::default())
                .await
                .map(|l| {
                    l.items
                        .into_iter()
                        .filter_map(|n| n.metadata.name)
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        },
    };
    out.write_all(answer(&candidates, &prefix).as_bytes())?;
    Ok(EXIT_OK)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn deployment(labels: Value, image: &str) -> Deployment {
        serde_json::from_value(json!({
            "metadata": { "name": "op", "namespace": "ops", "labels": labels },
            "spec": {
                "selector": {},
                "template": { "spec": { "containers": [ { "name": "op", "image": image } ] } }
            }
        }))
        .unwrap()
    }

    #[test]
    fn the_operator_version_comes_from_the_label_else_the_image_tag() {
        let d = deployment(
            json!({ "app.kubernetes.io/version": "0.2.0" }),
            "ghcr.io/x/aliyun-backup-operator:0.1.9",
        );
        assert_eq!(deployment_version(&d).0.as_deref(), Some("0.2.0"));
        let d = deployment(
            json!({}),
            "registry:5000/x/aliyun-backup-operator:v0.1.9@sha256:abc",
        );
        assert_eq!(deployment_version(&d).0.as_deref(), Some("0.1.9"));
        let d = deployment(json!({}), "registry:5000/x/aliyun-backup-operator");
        assert_eq!(deployment_version(&d).0, None);
    }
}
