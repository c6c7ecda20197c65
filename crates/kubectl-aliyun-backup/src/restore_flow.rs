//! The `restore` command against the API server: read the backup, build the restore
//! ([`crate::restore`]), show the plan of a dry-run object, ask, create the restore, follow it.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use aliyun_backup_operator::crd::{
    CONDITION_STALLED, DbsBackupPlan, DbsRestoreTask, HbrBackupJob, HbrRestoreJob, RdsBackup,
    RdsRestore, RestorePlan,
};
use jiff::Timestamp;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

use crate::commands::{FIELD_MANAGER, Outcome, follow, get_object};
use crate::format::{OutputFormat, structured};
use crate::model::{Kind, ObjectRef, View};
use crate::restore::{Manifest, RestoreArgs, Source, build, plan_name};
use crate::restore_view::{dbs_args, hbr_args, rds_args};
use crate::{EXIT_BACKUP_FAILED, EXIT_ERROR, EXIT_OK, EXIT_TIMEOUT, PluginError};

/// `status.plan` as text (also `describe`'s).
pub fn plan_text(plan: &RestorePlan) -> String {
    let mut s = String::from("Plan:\n");
    s.push_str(&format!("  operation:   {}\n", plan.operation));
    s.push_str(&format!("  target:      {}\n", plan.target));
    let overwrites = if plan.overwrites {
        "yes (writes into something that exists)"
    } else {
        "no"
    };
    s.push_str(&format!("  overwrites:  {overwrites}\n"));
    if !plan.parameters.is_empty() {
        s.push_str("  parameters:\n");
        let rows: Vec<Vec<String>> = plan
            .parameters
            .iter()
            .map(|(k, v)| vec![k.clone(), v.clone()])
            .collect();
        for line in crate::format::table(&rows).lines() {
            s.push_str(&format!("    {line}\n"));
        }
    }
    s
}

/// The `restore` command line that makes `m` (without `--dry-run` and `--name`).
pub fn command_line(m: &Manifest, from: &ObjectRef, ns: &str) -> String {
    let args = match m {
        Manifest::Rds(o) => rds_args(&o.spec),
        Manifest::Hbr(o) => hbr_args(&o.spec),
        Manifest::Dbs(o) => dbs_args(&o.spec),
    }
    .unwrap_or_default();
    let mut cmd = format!("kubectl aliyun-backup restore --from {from}");
    for a in args {
        cmd.push(' ');
        cmd.push_str(&a);
    }
    cmd.push_str(&format!(" -n {ns}"));
    cmd
}

async fn fetch_source(client: &Client, ns: &str, from: &ObjectRef) -> Result<Source, PluginError> {
    let missing = || PluginError::NotFound {
        kind: from.kind.to_string(),
        name: from.name.clone(),
        namespace: ns.to_string(),
    };
    let name = &from.name;
    Ok(match from.kind {
        Kind::RdsBackup => Source::Rds(Box::new(
            Api::<RdsBackup>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await?
                .ok_or_else(missing)?,
        )),
        Kind::HbrBackupJob => Source::Hbr(Box::new(
            Api::<HbrBackupJob>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await?
                .ok_or_else(missing)?,
        )),
        Kind::DbsBackupPlan => Source::Dbs(Box::new(
            Api::<DbsBackupPlan>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await?
                .ok_or_else(missing)?,
        )),
        other => {
            return Err(PluginError::Usage(format!(
                "--from {from}: a restore comes from an rdsbackup, hbrbackupjob or \
                 dbsbackupplan, not from a {other}"
            )));
        }
    })
}

async fn create(client: &Client, ns: &str, m: &Manifest) -> Result<(), PluginError> {
    let pp = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match m {
        Manifest::Rds(o) => drop(
            Api::<RdsRestore>::namespaced(client.clone(), ns)
                .create(&pp, o)
                .await?,
        ),
        Manifest::Hbr(o) => drop(
            Api::<HbrRestoreJob>::namespaced(client.clone(), ns)
                .create(&pp, o)
                .await?,
        ),
        Manifest::Dbs(o) => drop(
            Api::<DbsRestoreTask>::namespaced(client.clone(), ns)
                .create(&pp, o)
                .await?,
        ),
    }
    Ok(())
}

async fn delete(client: &Client, ns: &str, m: &Manifest) -> Result<(), PluginError> {
    let dp = DeleteParams::default();
    let name = m.name();
    let res = match m {
        Manifest::Rds(_) => Api::<RdsRestore>::namespaced(client.clone(), ns)
            .delete(&name, &dp)
            .await
            .map(drop),
        Manifest::Hbr(_) => Api::<HbrRestoreJob>::namespaced(client.clone(), ns)
            .delete(&name, &dp)
            .await
            .map(drop),
        Manifest::Dbs(_) => Api::<DbsRestoreTask>::namespaced(client.clone(), ns)
            .delete(&name, &dp)
            .await
            .map(drop),
    };
    match res {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        other => Ok(other?),
    }
}

enum PlanWait {
    Planned(View),
    Stalled(View),
    TimedOut,
}

/// Waits until the dry-run object is `Planned` or stalled.
async fn wait_planned(
    client: &Client,
    ns: &str,
    r: &ObjectRef,
    timeout: Duration,
) -> Result<PlanWait, PluginError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let (v, _) = get_object(client, ns, r).await?;
        if v.phase.as_deref() == Some("Planned") {
            return Ok(PlanWait::Planned(v));
        }
        if v.is_true(CONDITION_STALLED) {
            return Ok(PlanWait::Stalled(v));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(PlanWait::TimedOut);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `restore --from KIND/NAME …`.
pub async fn restore(
    client: &Client,
    ns: &str,
    args: &RestoreArgs,
    output: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, PluginError> {
    if output != OutputFormat::Text && (args.wait || args.yes) {
        return Err(PluginError::Usage(
            "-o prints the manifest and creates nothing: --wait and --yes do not apply".into(),
        ));
    }
    let source = fetch_source(client, ns, &args.from).await?;
    let manifest = build(args, &source, ns, Timestamp::now()).map_err(PluginError::Usage)?;
    if let Some(text) = structured(output, &manifest.to_value()?)? {
        out.write_all(text.as_bytes())?;
        return Ok(EXIT_OK);
    }
    let asks = !args.dry_run && !args.yes;
    if asks && !std::io::stdin().is_terminal() {
        return Err(PluginError::Usage(
            "no terminal to confirm on: pass --yes to restore without a question (or \
             --dry-run to see the plan only)"
                .into(),
        ));
    }
    let code = show_plan(client, ns, &manifest, args.timeout, out, err).await?;
    if code != EXIT_OK {
        return Ok(code);
    }
    if args.dry_run {
        writeln!(
            out,
            "dry run: nothing was restored; to restore run `{}` without --dry-run",
            command_line(&manifest, &args.from, ns)
        )?;
        return Ok(EXIT_OK);
    }
    if asks && !confirmed(&manifest, err)? {
        writeln!(err, "not restored")?;
        return Ok(EXIT_ERROR);
    }
    create(client, ns, &manifest).await?;
    let r = manifest.reference();
    writeln!(out, "{r}")?;
    out.flush()?;
    if !args.wait {
        return Ok(EXIT_OK);
    }
    let mut outcome = Outcome::default();
    follow(client, ns, &r, args.timeout, &mut outcome, err).await
}

/// Creates the dry-run object, prints its plan (or why it stalled) and deletes it.
async fn show_plan(
    client: &Client,
    ns: &str,
    manifest: &Manifest,
    timeout: Duration,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, PluginError> {
    let dry = manifest.variant(&plan_name(&manifest.name()), true);
    let dry_ref = dry.reference();
    create(client, ns, &dry).await?;
    writeln!(err, "{dry_ref}: dry run created, waiting for its plan")?;
    let planned = wait_planned(client, ns, &dry_ref, timeout).await;
    // The dry-run object holds no cloud state: it goes whatever the plan said.
    delete(client, ns, &dry).await?;
    match planned? {
        PlanWait::Planned(v) => {
            writeln!(out, "Plan of {} (dry run {dry_ref}):", manifest.reference())?;
            let info = v.restore.clone().unwrap_or_default();
            if let Some(src) = &info.source {
                writeln!(out, "  source:      {src}")?;
            }
            if let Some(plan) = &info.plan {
                let text = plan_text(plan);
                for line in text.lines().skip(1) {
                    writeln!(out, "{line}")?;
                }
            }
            Ok(EXIT_OK)
        }
        PlanWait::Stalled(v) => {
            let c = v.condition(CONDITION_STALLED);
            writeln!(
                err,
                "{dry_ref} stalled: {}: {}\nnothing was restored.",
                c.map(|c| c.reason.as_str()).unwrap_or("-"),
                c.map(|c| c.message.as_str()).unwrap_or("-")
            )?;
            let w = crate::why::why(&v, &[], &[]);
            if !w.fix.is_empty() {
                writeln!(err, "fix:")?;
                for f in &w.fix {
                    writeln!(err, "  {f}")?;
                }
            }
            Ok(EXIT_BACKUP_FAILED)
        }
        PlanWait::TimedOut => {
            writeln!(
                err,
                "{dry_ref}: no plan after {}; nothing was restored (is the operator running?)",
                crate::format::duration(timeout.as_secs() as i64)
            )?;
            Ok(EXIT_TIMEOUT)
        }
    }
}

/// Asks on the terminal; only `yes` (or `y`) goes on.
fn confirmed(m: &Manifest, err: &mut dyn Write) -> Result<bool, PluginError> {
    write!(
        err,
        "Create {} and restore? Type yes to go on: ",
        m.reference()
    )?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "yes" | "y"))
}
