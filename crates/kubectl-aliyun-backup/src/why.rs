//! `why`: the single reason an object is not done, and the command that fixes it (pure).

use aliyun_backup_operator::crd::{
    ANNOTATION_ADOPT_BACKUP_ID, ANNOTATION_DELETION_PROTECTION, ANNOTATION_PAUSED,
    ANNOTATION_RECONCILE_REQUESTED_AT, CONDITION_PAUSED, CONDITION_READY, CONDITION_RECONCILING,
    CONDITION_RETENTION_BLOCKED, CONDITION_RPO_MET, CONDITION_STALLED, credential_keys,
};
use serde::Serialize;

use crate::model::{Kind, View};

/// The condition type the operator sets when the cloud refused the object's credentials.
pub const CONDITION_CREDENTIALS_VALID: &str = "CredentialsValid";

/// The answer of `why`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Why {
    /// `KIND/NAME`.
    pub object: String,
    /// Whether the object is done (`Ready=True`, not paused): nothing to fix.
    pub done: bool,
    /// A short name of the cause: `Paused`, `PausedNamespace`, `CredentialsInvalid`,
    /// `WaitingForInstance`, `CreateOutcomeUnknown`, `DeadlineExceeded`, `InvalidSpec`, …
    pub cause: String,
    /// One sentence.
    pub summary: String,
    /// The operator's own words (the condition message), and other facts.
    pub details: Vec<String>,
    /// Commands that fix it, in order (empty: nothing to do but wait).
    pub fix: Vec<String>,
}

pub(crate) fn kubectl_target(v: &View) -> String {
    format!("{} {} -n {}", v.kind().cli_name(), v.name, v.namespace)
}

pub(crate) fn message(v: &View, t: &str) -> String {
    v.condition(t)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

pub(crate) fn reason(v: &View, t: &str) -> String {
    v.condition(t).map(|c| c.reason.clone()).unwrap_or_default()
}

/// The backup set ids listed in a `CreateOutcomeUnknown` message.
pub fn outcome_candidates(message: &str) -> Vec<String> {
    let Some((_, rest)) = message.split_once("started since then: ") else {
        return Vec::new();
    };
    let list = rest.split(". ").next().unwrap_or_default();
    list.split(',')
        .map(|s| s.trim().trim_end_matches('.').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

pub(crate) fn new_why(v: &View, cause: &str, summary: String) -> Why {
    Why {
        object: format!("{}/{}", v.kind().cli_name(), v.name),
        done: false,
        cause: cause.to_string(),
        summary,
        details: Vec::new(),
        fix: Vec::new(),
    }
}

pub(crate) fn retry_now(v: &View) -> String {
    format!(
        "kubectl annotate {} {ANNOTATION_RECONCILE_REQUESTED_AT}=\"$(date +%s)\" --overwrite",
        kubectl_target(v)
    )
}

fn recreate(v: &View, what: &str) -> Vec<String> {
    match (&v.schedule, v.kind()) {
        (Some(s), Kind::RdsBackup) => vec![
            format!(
                "kubectl edit rdsbackupschedule {s} -n {}   # {what} in spec.template.spec",
                v.namespace
            ),
            format!(
                "kubectl aliyun-backup backup rdsbackupschedule/{s} -n {} --wait",
                v.namespace
            ),
        ],
        (Some(s), Kind::HbrBackupJob) => vec![
            format!(
                "kubectl edit hbrbackupschedule {s} -n {}   # {what} in spec.template.spec",
                v.namespace
            ),
            format!(
                "kubectl aliyun-backup backup hbrbackupschedule/{s} -n {} --wait",
                v.namespace
            ),
        ],
        (_, Kind::RdsBackup | Kind::HbrBackupJob) => vec![
            format!(
                "kubectl get {} -o yaml > {}.yaml   # the spec cannot change: {what}, give it a new name",
                kubectl_target(v),
                v.name
            ),
            format!("kubectl apply -f {}.yaml", v.name),
        ],
        _ => vec![format!("kubectl edit {}   # {what}", kubectl_target(v))],
    }
}

/// Why `v` is not done. `peers`: the other objects of the namespace on the same target (for
/// `WaitingForInstance`); `children`: a schedule's children (for `ChildStalled`,
/// `RetentionBlocked`).
///
/// The first that applies, in this order: paused, being deleted, credentials refused, the
/// restore kinds' own reasons ([`crate::why_restore::why`]), stalled, failed, a schedule
/// suspended or held back (retention, RPO), done, waiting or working, no status yet.
pub fn why(v: &View, peers: &[View], children: &[View]) -> Why {
    // 1. Paused: nothing happens until it is lifted.
    if v.is_paused() {
        return paused(v);
    }
    if v.deleting {
        let mut w = new_why(v, "Deleting", "the object is being deleted".into());
        w.details.push(format!(
            "{}: {}",
            reason(v, CONDITION_RECONCILING),
            message(v, CONDITION_RECONCILING)
        ));
        return w;
    }
    // 2. Credentials the cloud refused (the breaker holds calls back).
    if credentials_refused(v) {
        return credentials_invalid(v);
    }
    // Restores have their own reasons (`why_restore`).
    if v.kind().is_restore() {
        return crate::why_restore::why(v);
    }
    // 3. Stalled: a person must act.
    if v.is_stalled() {
        return stalled(v, children);
    }
    // 4. Failed for good.
    if v.is_failed() {
        return failed(v);
    }
    // 5. Schedules: suspended, retention, RPO.
    if (v.kind().is_schedule() || v.kind() == Kind::DbsBackupPlan)
        && let Some(w) = schedule_held_back(v, children)
    {
        return w;
    }
    if v.is_ready() {
        return done(v);
    }
    // 6. Waiting or working.
    if v.is_reconciling() || v.is_running() {
        return in_progress(v, peers);
    }
    let mut w = new_why(
        v,
        "NoStatus",
        "the operator has not reported on it yet".into(),
    );
    let ns = &v.namespace;
    w.details.push(format!(
        "is the operator running and watching namespace {ns}? (an object it watches gets conditions within seconds)"
    ));
    w.fix.push("kubectl aliyun-backup version".into());
    w
}

/// Done (`Ready=True`): the `Ready` reason and message.
pub(crate) fn done(v: &View) -> Why {
    Why {
        done: true,
        ..new_why(
            v,
            &reason(v, CONDITION_READY),
            format!("done: {}", message(v, CONDITION_READY)),
        )
    }
}

/// Paused by its annotation (the fix removes it), or by the operator's
/// `--paused-namespace` flag (the fix is the operator's configuration).
fn paused(v: &View) -> Why {
    let ns = &v.namespace;
    let msg = message(v, CONDITION_PAUSED);
    let by_annotation = aliyun_backup_operator::crd::paused(Some(&v.annotations));
    if by_annotation {
        let mut w = new_why(
            v,
            "Paused",
            format!(
                "paused by the annotation {ANNOTATION_PAUSED}=\"true\": the operator does nothing with it"
            ),
        );
        if !msg.is_empty() {
            w.details.push(msg);
        }
        w.fix.push(format!(
            "kubectl annotate {} {ANNOTATION_PAUSED}-",
            kubectl_target(v)
        ));
        return w;
    }
    let mut w = new_why(
        v,
        "PausedNamespace",
        format!("namespace {ns} is paused by the operator's --paused-namespace flag"),
    );
    w.details.push(msg);
    w.details
        .push("the flag is the operator's, not the object's: no annotation to remove".into());
    w.fix.push(format!(
        "helm upgrade aliyun-backup-operator <chart> -n <operator-namespace> --reuse-values --set 'pausedNamespaces={{}}'   # remove {ns} from pausedNamespaces (or from --paused-namespace / PAUSED_NAMESPACES)"
    ));
    w
}

/// Whether the cloud refused the credentials (`CredentialsValid=False`) or
/// the object stalled on them.
fn credentials_refused(v: &View) -> bool {
    v.is_false(CONDITION_CREDENTIALS_VALID)
        || matches!(
            reason(v, CONDITION_STALLED).as_str(),
            "CredentialsSecretNotFound"
                | "CredentialsSecretInvalid"
                | "CloudForbidden"
                | "CloudSignatureError"
                | "CloudCredentialsError"
                | "CloudCredentialsRefused"
        )
}

/// Credentials missing, unusable or refused: the fix rewrites the named
/// Secret (or, without one, points at the operator's own credentials), then
/// retries.
fn credentials_invalid(v: &View) -> Why {
    let ns = &v.namespace;
    let (why_reason, msg) = if v.is_false(CONDITION_CREDENTIALS_VALID) {
        (
            reason(v, CONDITION_CREDENTIALS_VALID),
            message(v, CONDITION_CREDENTIALS_VALID),
        )
    } else {
        (reason(v, CONDITION_STALLED), message(v, CONDITION_STALLED))
    };
    let mut w = new_why(
        v,
        "CredentialsInvalid",
        format!("the credentials are missing, unusable or refused by Alibaba Cloud ({why_reason})"),
    );
    w.details.push(msg);
    match &v.credentials {
        Some(secret) => w.fix.push(format!(
            "kubectl create secret generic {secret} -n {ns} --from-literal={}=<AccessKeyId> --from-literal={}=<AccessKeySecret> --dry-run=client -o yaml | kubectl apply -f -",
            credential_keys::ACCESS_KEY_ID,
            credential_keys::ACCESS_KEY_SECRET
        )),
        None => w.details.push(
            "no spec.credentialsRef: the operator's own credentials (environment, RRSA, ECS RAM role) were refused; fix them or the RAM policy".into(),
        ),
    }
    w.fix.push(retry_now(v));
    w
}

/// Stalled: the answer for the `Stalled` reason, with the condition message
/// first among the details.
fn stalled(v: &View, children: &[View]) -> Why {
    let r = reason(v, CONDITION_STALLED);
    let msg = message(v, CONDITION_STALLED);
    let mut w = match r.as_str() {
        "InvalidSpec" => {
            let mut w = new_why(v, "InvalidSpec", "the spec cannot work as it is".into());
            w.fix = recreate(v, "correct what the message names");
            w
        }
        "CreateOutcomeUnknown" => create_outcome_unknown(v, &msg),
        "AdoptionRefused" | "AdoptionMismatch" | "BackupSetNotFound" | "JobNotFound"
        | "PlanNotFound" | "BackupTaskNotFound" => {
            let mut w = new_why(
                v,
                &r,
                "the cloud object to adopt is held by another object, does not match, or does not exist".into(),
            );
            w.fix = recreate(
                v,
                "name the right cloud id (backupId, backupJobId, jobId, backupPlanId)",
            );
            w
        }
        "ChildStalled" => child_stalled(v, children),
        "DeadlineExceeded" => deadline(v),
        other => {
            let mut w = new_why(v, other, format!("stalled: {other}"));
            if v.kind().is_schedule() || v.kind() == Kind::DbsBackupPlan {
                w.fix.push(format!("kubectl edit {}", kubectl_target(v)));
            }
            w.fix.push(retry_now(v));
            w
        }
    };
    w.details.insert(0, msg);
    w
}

/// The create's outcome is unknown: the candidate backup sets the message
/// lists, and the annotation that adopts the right one.
fn create_outcome_unknown(v: &View, msg: &str) -> Why {
    let candidates = outcome_candidates(msg);
    let mut w = new_why(
        v,
        "CreateOutcomeUnknown",
        format!(
            "the outcome of the create is unknown; candidate backup set(s): {}",
            if candidates.is_empty() {
                "none listed".into()
            } else {
                candidates.join(", ")
            }
        ),
    );
    let id = if candidates.len() == 1 {
        candidates[0].clone()
    } else {
        "<BackupId>".into()
    };
    w.fix.push(format!(
        "kubectl annotate {} {ANNOTATION_ADOPT_BACKUP_ID}={id}   # after checking the set in the RDS console",
        kubectl_target(v)
    ));
    w
}

/// A schedule held up by a stalled child: the child's own answer, then the
/// command that lets go of the child.
fn child_stalled(v: &View, children: &[View]) -> Why {
    let ns = &v.namespace;
    let stalled: Vec<&View> = children.iter().filter(|c| c.is_stalled()).collect();
    let mut w = new_why(
        v,
        "ChildStalled",
        format!(
            "a child is stalled and concurrencyPolicy Forbid makes no new one until it finishes or is deleted{}",
            stalled
                .first()
                .map(|c| format!(": {}", c.reference()))
                .unwrap_or_default()
        ),
    );
    if let Some(child) = stalled.first() {
        let inner = why(child, &[], &[]);
        w.details
            .push(format!("{}: {}", inner.object, inner.summary));
        w.details.extend(inner.details);
        w.fix = inner.fix;
        w.fix.push(format!(
            "kubectl delete {} {} -n {ns}   # or let go of the stalled child",
            child.kind().cli_name(),
            child.name
        ));
    }
    w
}

/// Failed for good (a deadline has its own answer): the fix makes it again.
fn failed(v: &View) -> Why {
    let r = reason(v, CONDITION_STALLED);
    if r == "DeadlineExceeded" {
        return deadline(v);
    }
    let mut w = new_why(
        v,
        if r.is_empty() { "Failed" } else { &r },
        format!("the backup failed ({r})"),
    );
    w.details.push(message(v, CONDITION_STALLED));
    w.fix = recreate(v, "fix the cause");
    w
}

/// A schedule (or DBS plan) that makes no backups (suspended), keeps
/// children it should prune (retention blocked) or misses its RPO; `None`
/// when none of these holds.
fn schedule_held_back(v: &View, children: &[View]) -> Option<Why> {
    let ns = &v.namespace;
    if v.suspended {
        let mut w = new_why(
            v,
            "Suspended",
            "spec.suspend is true: no backups are made".into(),
        );
        w.fix.push(format!(
            "kubectl patch {} --type merge -p '{{\"spec\":{{\"suspend\":false}}}}'",
            kubectl_target(v)
        ));
        return Some(w);
    }
    if v.is_true(CONDITION_RETENTION_BLOCKED) {
        let mut w = new_why(
            v,
            "RetentionBlocked",
            "retention would prune children that cannot be deleted; they are kept".into(),
        );
        w.details.push(message(v, CONDITION_RETENTION_BLOCKED));
        for c in children
            .iter()
            .filter(|c| aliyun_backup_operator::crd::deletion_protected(Some(&c.annotations)))
        {
            w.fix.push(format!(
                "kubectl annotate {} {} -n {ns} {ANNOTATION_DELETION_PROTECTION}-   # if it may go",
                c.kind().cli_name(),
                c.name
            ));
        }
        return Some(w);
    }
    if v.is_false(CONDITION_RPO_MET) {
        let mut w = new_why(
            v,
            reason(v, CONDITION_RPO_MET).as_str(),
            format!(
                "the recovery point objective ({}) is missed",
                v.rpo.clone().unwrap_or_default()
            ),
        );
        w.details.push(message(v, CONDITION_RPO_MET));
        if v.kind().is_schedule() {
            w.fix.push(format!(
                "kubectl aliyun-backup backup {} -n {ns} --wait",
                v.reference()
            ));
        }
        return Some(w);
    }
    None
}

/// Reconciling or running: waiting for another backup on the same instance
/// (named, with `why` for a stuck one), or simply in progress.
fn in_progress(v: &View, peers: &[View]) -> Why {
    let r = reason(v, CONDITION_RECONCILING);
    let msg = message(v, CONDITION_RECONCILING);
    if matches!(r.as_str(), "WaitingForInstance" | "WaitingForRunningBackup") {
        return waiting_for_peer(v, peers, &r, msg);
    }
    let mut w = new_why(
        v,
        if r.is_empty() { "InProgress" } else { &r },
        "in progress: nothing to fix".into(),
    );
    if !msg.is_empty() {
        w.details.push(msg);
    }
    if let Some(p) = v.progress {
        w.details.push(format!("progress {p}%"));
    }
    w
}

/// Waiting for another backup on the instance: the busy peers, and `why`
/// for the first of them that is stalled or paused.
fn waiting_for_peer(v: &View, peers: &[View], r: &str, msg: String) -> Why {
    let ns = &v.namespace;
    let busy: Vec<&View> = peers
        .iter()
        .filter(|p| p.name != v.name && p.target == v.target && (p.is_running() || p.is_stalled()))
        .collect();
    let mut w = new_why(
        v,
        r,
        format!(
            "waiting for another backup on instance {}{}",
            v.target,
            if busy.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    busy.iter()
                        .map(|p| p.reference())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
    );
    w.details.push(msg);
    match busy.iter().find(|p| p.is_stalled() || p.is_paused()) {
        Some(p) => w.fix.push(format!(
            "kubectl aliyun-backup why {} -n {ns}",
            p.reference()
        )),
        None => w
            .details
            .push("nothing to do: it goes on when the peer ends".into()),
    }
    w
}

fn deadline(v: &View) -> Why {
    let mut w = new_why(
        v,
        "DeadlineExceeded",
        format!(
            "spec.timeout ({}) passed before the backup ended; the object is Failed",
            v.timeout.clone().unwrap_or_else(|| "-".into())
        ),
    );
    w.details.push(message(v, CONDITION_STALLED));
    w.fix = recreate(v, "raise spec.timeout");
    w
}

/// `why` as text.
pub fn render(w: &Why) -> String {
    let mut out = format!("{}: {}\n", w.object, w.summary);
    out.push_str(&format!("  cause: {}\n", w.cause));
    for d in w.details.iter().filter(|d| !d.is_empty()) {
        out.push_str(&format!("  {d}\n"));
    }
    if !w.fix.is_empty() {
        out.push_str("fix:\n");
        for f in &w.fix {
            out.push_str(&format!("  {f}\n"));
        }
    }
    out
}

#[cfg(test)]
#[path = "why_tests.rs"]
mod tests;
