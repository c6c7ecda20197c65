//! `backup`, `pause`/`resume`: the commands that write annotations, and following a child to
//! its end.

use super::*;

// ------------------------------------------------------------------------------------------
// backup
// ------------------------------------------------------------------------------------------

/// The schedule `arg` names: `KIND/NAME` or a NAME of either schedule kind.
pub(super) async fn find_schedule(
    client: &Client,
    ns: &str,
    arg: &str,
) -> Result<ObjectRef, PluginError> {
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

pub(super) async fn patch_annotations(
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
pub(super) struct BackupResult {
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
pub(super) async fn backup(
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
pub(super) async fn pause(
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

pub(super) fn refs(views: Vec<View>) -> Vec<ObjectRef> {
    views
        .into_iter()
        .map(|v| ObjectRef {
            kind: v.kind(),
            name: v.name,
        })
        .collect()
}
