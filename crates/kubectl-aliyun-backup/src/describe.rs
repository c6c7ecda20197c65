//! `describe`: an object in words (pure; the command reads the object, its children and its
//! Events). A restore shows its source, target, cloud ids, progress and plan.

use aliyun_backup_operator::crd::{ANNOTATION_PAUSED, API_GROUP, API_VERSION};
use jiff::Timestamp;
use serde::Serialize;

use crate::format::{age, progress_bar};
use crate::model::{Kind, RestoreInfo, View};

/// One Event of the object.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventLine {
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub count: i32,
    pub last: Option<Timestamp>,
    pub message: String,
}

fn condition_words(c: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition) -> String {
    let verdict = match (c.type_.as_str(), c.status.as_str()) {
        ("Ready", "True") => "ready",
        ("Ready", _) => "not ready",
        ("Reconciling", "True") => "working",
        ("Reconciling", _) => "not working",
        ("Stalled", "True") => "STALLED, needs a person",
        ("Stalled", _) => "not stalled",
        ("Paused", "True") => "PAUSED",
        ("RPOMet", "True") => "RPO met",
        ("RPOMet", "False") => "RPO MISSED",
        ("CredentialsValid", "True") => "credentials accepted",
        ("CredentialsValid", "False") => "CREDENTIALS REFUSED",
        ("RetentionBlocked", "True") => "RETENTION BLOCKED",
        ("Adopted", "True") => "adopted",
        (_, "True") => "yes",
        (_, "False") => "no",
        _ => "unknown",
    };
    format!("{}: {verdict} ({}) {}", c.type_, c.reason, c.message)
}

/// The text of `describe`: the object `v`, a schedule's children `kids`, its Events `evs`.
pub fn render(v: &View, kids: &[View], evs: &[EventLine], now: Timestamp) -> String {
    let mut s = String::new();
    s.push_str(&format!("Name:        {}\n", v.name));
    s.push_str(&format!("Namespace:   {}\n", v.namespace));
    s.push_str(&format!(
        "Kind:        {} ({API_GROUP}/{API_VERSION})\n",
        v.kind()
    ));
    match &v.restore {
        Some(info) => restore_head(&mut s, v, info, now),
        None => backup_head(&mut s, v, now),
    }
    if v.is_paused() {
        s.push_str(&format!("Paused:      yes (annotation {ANNOTATION_PAUSED} or the operator's --paused-namespace)\n"));
    }
    s.push_str("Conditions:\n");
    if v.conditions.is_empty() {
        s.push_str("  none yet (the operator has not reported)\n");
    }
    for c in &v.conditions {
        s.push_str(&format!("  {}\n", condition_words(c)));
    }
    if v.kind().is_schedule() {
        children(&mut s, kids, now);
    }
    events(&mut s, evs, now);
    s
}

fn backup_head(s: &mut String, v: &View, now: Timestamp) {
    s.push_str(&format!(
        "Protects:    {} {} in {}\n",
        v.kind().service(),
        v.target,
        v.region
    ));
    if let Some(c) = v.created {
        s.push_str(&format!("Created:     {c} ({} ago)\n", age(c, now)));
    }
    s.push_str(&format!("Policy:      {}\n", v.management_policy));
    if let Some(c) = &v.credentials {
        s.push_str(&format!("Credentials: Secret {c}\n"));
    }
    phase_and_ids(s, v);
    if let Some(sch) = &v.schedule {
        s.push_str(&format!("Schedule:    {sch}\n"));
    }
    if let Some(t) = v.last_success {
        s.push_str(&format!("Last success: {t} ({} ago)\n", age(t, now)));
    }
    if let Some(rpo) = &v.rpo {
        s.push_str(&format!("RPO:         {rpo}\n"));
    }
    if v.kind().is_schedule() || v.kind() == Kind::DbsBackupPlan {
        s.push_str(&format!("Suspended:   {}\n", v.suspended));
    }
    if v.kind().is_schedule() {
        match v.next_run {
            Some(t) => s.push_str(&format!(
                "Next run:    {t} (in {})\n",
                crate::format::duration((t.as_second() - now.as_second()).max(0))
            )),
            None => s.push_str("Next run:    none\n"),
        }
        if let Some(t) = &v.last_trigger {
            s.push_str(&format!("Last trigger: {t}\n"));
        }
        for w in &v.warnings {
            s.push_str(&format!("Warning:     {w}\n"));
        }
    }
}

fn phase_and_ids(s: &mut String, v: &View) {
    if let Some(p) = &v.phase {
        s.push_str(&format!("Phase:       {p}\n"));
    }
    if let Some(p) = v.progress {
        s.push_str(&format!("Progress:    {}\n", progress_bar(p, 20)));
    }
    for (k, id) in &v.cloud_ids {
        s.push_str(&format!("Cloud id:    {k} {id}\n"));
    }
}

fn restore_head(s: &mut String, v: &View, info: &RestoreInfo, now: Timestamp) {
    let service = v.kind().service();
    let mode = info
        .mode
        .as_ref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    s.push_str(&format!("Restores:    {service}{mode} in {}\n", v.region));
    if let Some(c) = v.created {
        s.push_str(&format!("Created:     {c} ({} ago)\n", age(c, now)));
    }
    if let Some(c) = &v.credentials {
        s.push_str(&format!("Credentials: Secret {c}\n"));
    }
    if info.dry_run {
        s.push_str("Dry run:     yes (plans only; nothing is restored)\n");
    }
    let resolved = info
        .source
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    s.push_str(&format!("Source:      {}{resolved}\n", info.spec_source));
    let target = if v.target.is_empty() {
        "-"
    } else {
        v.target.as_str()
    };
    s.push_str(&format!("Target:      {target}\n"));
    if let Some(c) = &info.confirm_target_id {
        s.push_str(&format!("Confirmed:   overwrite of {c}\n"));
    }
    phase_and_ids(s, v);
    if let Some(c) = &info.cloud_status {
        s.push_str(&format!("Cloud status: {c}\n"));
    }
    if let Some(m) = &info.cloud_message {
        s.push_str(&format!("Cloud message: {m}\n"));
    }
    match &info.plan {
        Some(plan) => s.push_str(&crate::restore_flow::plan_text(plan)),
        None => s.push_str("Plan:        none yet\n"),
    }
}

fn children(s: &mut String, kids: &[View], now: Timestamp) {
    s.push_str(&format!("Children ({}):\n", kids.len()));
    if kids.is_empty() {
        s.push_str("  none\n");
        return;
    }
    let mut t = vec![vec![
        "NAME".to_string(),
        "PHASE".into(),
        "PROGRESS".into(),
        "AGE".into(),
        "REASON".into(),
    ]];
    for k in kids {
        t.push(vec![
            k.name.clone(),
            k.phase.clone().unwrap_or_else(|| "-".into()),
            k.progress
                .map(|p| format!("{p}%"))
                .unwrap_or_else(|| "-".into()),
            k.created.map(|c| age(c, now)).unwrap_or_else(|| "-".into()),
            k.conditions
                .iter()
                .find(|c| {
                    c.status == "True"
                        && ["Ready", "Reconciling", "Stalled", "Paused"].contains(&c.type_.as_str())
                })
                .map(|c| c.reason.clone())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    for line in crate::format::table(&t).lines() {
        s.push_str(&format!("  {line}\n"));
    }
}

fn events(s: &mut String, evs: &[EventLine], now: Timestamp) {
    s.push_str("Events:\n");
    if evs.is_empty() {
        s.push_str("  none\n");
        return;
    }
    let mut t = vec![vec![
        "TYPE".to_string(),
        "REASON".into(),
        "AGE".into(),
        "MESSAGE".into(),
    ]];
    for e in evs.iter().rev().take(15).rev() {
        t.push(vec![
            e.type_.clone(),
            e.reason.clone(),
            e.last
                .map(|l| {
                    if e.count > 1 {
                        format!("{} (x{})", age(l, now), e.count)
                    } else {
                        age(l, now)
                    }
                })
                .unwrap_or_else(|| "-".into()),
            e.message.clone(),
        ]);
    }
    for line in crate::format::table(&t).lines() {
        s.push_str(&format!("  {line}\n"));
    }
}
