//! `why` for the restore kinds (pure): the single reason a restore is not done, by the
//! reasons of `controller::restore::plan::reasons`, and the command that fixes it. A restore's
//! spec is immutable, so most fixes are a new object: made by `kubectl aliyun-backup restore`
//! when the source is a backup object, else from the old object's YAML.

use aliyun_backup_operator::controller::kinds::restore::plan::reasons;
use aliyun_backup_operator::crd::{
    ANNOTATION_ORPHAN_ON_DELETE, CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED,
};

use crate::model::{RestoreInfo, View};
use crate::why::{Why, done, kubectl_target, message, new_why, reason, retry_now};

/// The target an `OverwriteNotConfirmed` message names (`Set overwrite.confirmTargetId: X`).
pub fn overwrite_target(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("overwrite.confirmTargetId: ")?;
    let id = rest.split_whitespace().next()?;
    Some(id.trim_end_matches(['.', ',', ';']).to_string())
}

/// The peer a `WaitingForPeer` message names (`waiting for KIND NAME to finish`).
pub fn peer_name(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("waiting for ")?;
    let mut words = rest.split_whitespace();
    let _kind = words.next()?;
    words.next().map(str::to_string)
}

/// The `restore` command that makes this restore again, with `--to` replaced by `to` when
/// given (`None` when the plugin cannot express the restore: then the YAML fix applies).
fn restore_command(v: &View, info: &RestoreInfo, to: Option<&str>) -> Option<String> {
    let from = info.source_ref.as_ref()?;
    let mut args = info.args.clone()?;
    if let Some(to) = to {
        match args.iter().position(|a| a == "--to") {
            Some(i) if i + 1 < args.len() => args[i + 1] = to.to_string(),
            _ => args.extend(["--to".to_string(), to.to_string()]),
        }
    }
    let args: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
    let mut cmd = format!("kubectl aliyun-backup restore --from {from}");
    if !args.is_empty() {
        cmd.push(' ');
        cmd.push_str(&args.join(" "));
    }
    cmd.push_str(&format!(" -n {}", v.namespace));
    Some(cmd)
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A new object: the `restore` command, else the old object's YAML under a new name.
fn recreate(v: &View, info: &RestoreInfo, to: Option<&str>, what: &str) -> Vec<String> {
    if let Some(cmd) = restore_command(v, info, to) {
        return vec![format!("{cmd}   # {what}")];
    }
    vec![
        format!(
            "kubectl get {} -o yaml > {}.yaml   # the spec is immutable: {what}, give it a new \
             name and drop status",
            kubectl_target(v),
            v.name
        ),
        format!("kubectl apply -f {}.yaml", v.name),
    ]
}

/// Why restore `v` is not done (after the checks every kind shares: paused, deleting,
/// credentials).
pub fn why(v: &View) -> Why {
    let info = v.restore.clone().unwrap_or_default();
    if v.is_stalled() || v.is_failed() {
        let msg = message(v, CONDITION_STALLED);
        let mut w = stalled(v, &info, &reason(v, CONDITION_STALLED), &msg);
        w.details.insert(0, msg);
        return w;
    }
    if v.is_ready() {
        if v.phase.as_deref() == Some("Planned") || reason(v, CONDITION_READY) == reasons::DRY_RUN {
            return dry_run(v, &info);
        }
        return done(v);
    }
    if v.is_reconciling() || v.is_running() {
        return waiting(v, &info);
    }
    let mut w = new_why(
        v,
        "NoStatus",
        "the operator has not reported on it yet".into(),
    );
    w.details.push(format!(
        "is the operator running and watching namespace {}?",
        v.namespace
    ));
    w.fix.push("kubectl aliyun-backup version".into());
    w
}

fn dry_run(v: &View, info: &RestoreInfo) -> Why {
    let mut w = new_why(
        v,
        reasons::DRY_RUN,
        "a dry run: the plan is in status.plan, nothing was restored".into(),
    );
    w.details.push(message(v, CONDITION_READY));
    w.fix = recreate(
        v,
        info,
        None,
        "the same restore without --dry-run (dryRun: false)",
    );
    if let Some(f) = w.fix.first_mut()
        && f.starts_with("kubectl aliyun-backup restore")
    {
        *f = format!(
            "{}   # without --dry-run: restores",
            f.split("   #").next().unwrap_or(f)
        );
    }
    w
}

fn waiting(v: &View, info: &RestoreInfo) -> Why {
    let ns = &v.namespace;
    let r = reason(v, CONDITION_RECONCILING);
    let msg = message(v, CONDITION_RECONCILING);
    let mut w = match r.as_str() {
        reasons::SOURCE_NOT_READY => {
            let source = info
                .source_ref
                .clone()
                .unwrap_or_else(|| info.spec_source.clone());
            let mut w = new_why(
                v,
                &r,
                format!("waiting for the source {source} to succeed: it goes on by itself then"),
            );
            if let Some(s) = &info.source_ref {
                w.fix.push(format!("kubectl aliyun-backup why {s} -n {ns}"));
            }
            w
        }
        reasons::WAITING_FOR_PEER => {
            let peer = peer_name(&msg);
            let mut w = new_why(
                v,
                &r,
                format!(
                    "waiting for another restore into {} to finish{}: restores into one target \
                     run one at a time",
                    v.target,
                    peer.as_ref().map(|p| format!(" ({p})")).unwrap_or_default()
                ),
            );
            if let Some(p) = peer {
                w.fix.push(format!(
                    "kubectl aliyun-backup why {}/{p} -n {ns}",
                    v.kind().cli_name()
                ));
            }
            w
        }
        _ => {
            let mut w = new_why(
                v,
                if r.is_empty() { "InProgress" } else { &r },
                "in progress: nothing to fix".into(),
            );
            if let Some(p) = v.progress {
                w.details.push(format!("progress {p}%"));
            }
            w
        }
    };
    w.details.insert(0, msg);
    w
}

fn stalled(v: &View, info: &RestoreInfo, r: &str, msg: &str) -> Why {
    let ns = &v.namespace;
    match r {
        reasons::OVERWRITE_NOT_CONFIRMED => overwrite_not_confirmed(v, info, r, msg),
        reasons::SOURCE_NOT_FOUND | reasons::SOURCE_INVALID => bad_source(v, info, r),
        reasons::OUTSIDE_RECOVERY_WINDOW => {
            let mut w = new_why(
                v,
                r,
                "the point in time lies outside the window the cloud can restore: nothing was \
                 called"
                    .into(),
            );
            w.fix = recreate(v, info, None, "a time inside the window the message names");
            w
        }
        reasons::TARGET_NOT_FOUND | reasons::TARGET_INCOMPATIBLE | reasons::INVALID_SPEC => {
            let mut w = new_why(
                v,
                r,
                format!("the restore cannot work as written ({r}): nothing was called"),
            );
            w.fix = recreate(v, info, None, "correct what the message names");
            w
        }
        "PasswordSecretInvalid" => {
            let mut w = new_why(
                v,
                r,
                "the destination's password Secret is missing or lacks its key".into(),
            );
            if let Some((name, key)) = &info.password_secret {
                w.fix.push(format!(
                    "kubectl create secret generic {name} -n {ns} --from-literal={key}=<password> \
                     --dry-run=client -o yaml | kubectl apply -f -"
                ));
            }
            w.fix.push(retry_now(v));
            w
        }
        reasons::OUTCOME_UNKNOWN => {
            let mut w = new_why(
                v,
                r,
                "more than one restore in the cloud could be this one: nothing is adopted or \
                 sent again"
                    .into(),
            );
            w.details.push(
                "check the candidates the message names in the console; the restore that ran \
                 is the one to keep"
                    .into(),
            );
            w.fix.push(format!(
                "kubectl annotate {} {ANNOTATION_ORPHAN_ON_DELETE}=true && kubectl delete {}   \
                 # let go of this object without any call",
                kubectl_target(v),
                kubectl_target(v)
            ));
            w
        }
        _ => ended(v, info, r),
    }
}

fn overwrite_not_confirmed(v: &View, info: &RestoreInfo, r: &str, msg: &str) -> Why {
    let target = overwrite_target(msg).unwrap_or_else(|| v.target.clone());
    let mut w = new_why(
        v,
        r,
        format!(
            "the restore writes into the existing {target}, and \
             spec.overwrite.confirmTargetId does not name it: nothing was called"
        ),
    );
    w.details.push(format!(
        "the spec is immutable: confirm with a new object with overwrite.confirmTargetId: \
         {target} (if {target} is the target you mean)"
    ));
    let what = format!("a new object with overwrite.confirmTargetId: {target}");
    w.fix = recreate(v, info, Some(&target), &what);
    w
}

fn bad_source(v: &View, info: &RestoreInfo, r: &str) -> Why {
    let ns = &v.namespace;
    let mut w = new_why(
        v,
        r,
        format!(
            "the source {} cannot be restored (missing, failed, or not of this \
             instance): nothing was called",
            info.spec_source
        ),
    );
    let list = info
        .source_ref
        .as_ref()
        .and_then(|s| s.split_once('/'))
        .map(|(k, _)| k.to_string())
        .unwrap_or_else(|| v.kind().cli_name());
    w.fix.push(format!(
        "kubectl get {list} -n {ns}   # pick a source that Succeeded"
    ));
    w.fix.extend(recreate(v, info, None, "name that source"));
    w
}

/// Failed, cancelled, partial, gone: the restore ended without all the data.
fn ended(v: &View, info: &RestoreInfo, r: &str) -> Why {
    let phase = v.phase.clone().unwrap_or_else(|| "Stalled".into());
    let cause = if r.is_empty() { phase.as_str() } else { r };
    let mut w = new_why(
        v,
        cause,
        format!(
            "the restore ended {phase}{}",
            info.cloud_message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
    );
    if let Some(s) = &info.cloud_status {
        w.details.push(format!("cloud status {s}"));
    }
    w.fix = recreate(v, info, None, "a new restore once the cause is fixed");
    w
}

#[cfg(test)]
#[path = "why_restore_tests.rs"]
mod tests;
