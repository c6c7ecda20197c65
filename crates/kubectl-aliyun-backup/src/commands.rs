//! The commands: read and write through the API server with the user's kubeconfig, decide with
//! the pure modules, print.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use aliyun_backup_operator::cloud::{
    AlibabaCloud, CloudConfig, CloudProvider, CredentialSource, Secret as CloudSecret,
    StaticCredentials, Target,
};
use aliyun_backup_operator::controller::kinds::schedule::plan::{
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

mod backup;
mod version;

use backup::*;
pub(crate) use backup::{Outcome, follow};
pub use version::deployment_version;
use version::*;

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
