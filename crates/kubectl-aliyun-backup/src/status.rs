//! `status`: one row per protected instance, server or plan (pure; the command only lists the
//! objects).

use std::collections::BTreeMap;

use aliyun_backup_operator::crd::{CONDITION_RETENTION_BLOCKED, CONDITION_RPO_MET};
use jiff::Timestamp;
use serde::Serialize;

use crate::format::age;
use crate::model::View;

/// The RPO verdict of a row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
pub enum RpoVerdict {
    /// No schedule or plan of the target has `spec.rpo`.
    None,
    /// Every `RPOMet` is `True`.
    Met { rpo: String },
    /// An `RPOMet` is `False`: the reason and message of the first one.
    Missed {
        rpo: String,
        reason: String,
        message: String,
        /// The last success of the schedule or plan that missed (not of the row).
        last_success: Option<Timestamp>,
    },
    /// `spec.rpo` is set but the operator has not judged it yet.
    Unknown { rpo: String },
}

impl RpoVerdict {
    pub fn is_missed(&self) -> bool {
        matches!(self, RpoVerdict::Missed { .. })
    }

    /// The table cell.
    pub fn cell(&self, last_success: Option<Timestamp>, now: Timestamp) -> String {
        match self {
            RpoVerdict::None => "-".into(),
            RpoVerdict::Met { rpo } => format!("ok ({} < {rpo})", age_or_dash(last_success, now)),
            RpoVerdict::Missed {
                rpo,
                reason,
                last_success,
                ..
            } => match last_success {
                Some(t) => format!("MISSED ({} > {rpo})", age(*t, now)),
                None => format!("MISSED ({reason}, rpo {rpo})"),
            },
            RpoVerdict::Unknown { rpo } => format!("not judged yet (rpo {rpo})"),
        }
    }
}

fn age_or_dash(t: Option<Timestamp>, now: Timestamp) -> String {
    t.map(|t| age(t, now)).unwrap_or_else(|| "-".into())
}

/// One protected target.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub namespace: String,
    pub service: String,
    pub target: String,
    /// The schedules, plans and stand-alone backups that protect it (`KIND/NAME`).
    pub protected_by: Vec<String>,
    pub last_success: Option<Timestamp>,
    pub rpo: RpoVerdict,
    /// Backups not finished (`KIND/NAME`).
    pub running: Vec<String>,
    pub paused: Vec<String>,
    /// Stalled objects: `KIND/NAME (Reason)`.
    pub stalled: Vec<String>,
    /// Failed backups: `KIND/NAME (Reason)`.
    pub failed: Vec<String>,
}

impl Row {
    /// The STATE cell: what needs a look, else `ok`.
    pub fn state(&self) -> String {
        let mut parts = Vec::new();
        if !self.paused.is_empty() {
            parts.push(format!("paused: {}", self.paused.join(", ")));
        }
        if !self.stalled.is_empty() {
            parts.push(format!("stalled: {}", self.stalled.join(", ")));
        }
        if !self.failed.is_empty() {
            parts.push(format!("failed: {}", self.failed.join(", ")));
        }
        if parts.is_empty() {
            "ok".into()
        } else {
            parts.join("; ")
        }
    }
}

fn reason_of(v: &View, t: &str) -> String {
    v.condition(t)
        .map(|c| c.reason.clone())
        .unwrap_or_else(|| "-".into())
}

/// The rows of `views` (any namespaces), sorted by namespace, service and target. A failed
/// child counts only while it is its schedule's newest outcome is unknown: failed children are
/// listed so that a person sees them, and the schedule's RPO says whether it matters.
pub fn rows(views: &[View]) -> Vec<Row> {
    let mut by: BTreeMap<(String, String, String), Row> = BTreeMap::new();
    for v in views {
        let kind = v.kind();
        let key = (
            v.namespace.clone(),
            kind.service().to_string(),
            v.target.clone(),
        );
        let row = by.entry(key).or_insert_with(|| Row {
            namespace: v.namespace.clone(),
            service: kind.service().to_string(),
            target: v.target.clone(),
            protected_by: Vec::new(),
            last_success: None,
            rpo: RpoVerdict::None,
            running: Vec::new(),
            paused: Vec::new(),
            stalled: Vec::new(),
            failed: Vec::new(),
        });
        let r = v.reference();
        // Children are represented by their schedule.
        if v.schedule.is_none() || kind.is_schedule() {
            row.protected_by.push(r.clone());
        }
        if let Some(t) = v.last_success {
            row.last_success = Some(row.last_success.map_or(t, |old| old.max(t)));
        }
        if let Some(rpo) = &v.rpo {
            let verdict = match v.condition(CONDITION_RPO_MET) {
                Some(c) if c.status == "True" => RpoVerdict::Met { rpo: rpo.clone() },
                Some(c) if c.status == "False" => RpoVerdict::Missed {
                    rpo: rpo.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                    last_success: v.last_success,
                },
                _ => RpoVerdict::Unknown { rpo: rpo.clone() },
            };
            row.rpo = merge(std::mem::replace(&mut row.rpo, RpoVerdict::None), verdict);
        }
        if v.is_paused() {
            row.paused.push(r.clone());
        } else if v.is_failed() {
            row.failed
                .push(format!("{r} ({})", reason_of(v, "Stalled")));
        } else if v.is_stalled() {
            row.stalled
                .push(format!("{r} ({})", reason_of(v, "Stalled")));
        } else if v.is_running() {
            row.running.push(r.clone());
        }
        if v.is_true(CONDITION_RETENTION_BLOCKED) {
            row.stalled
                .push(format!("{r} ({CONDITION_RETENTION_BLOCKED})"));
        }
    }
    by.into_values().collect()
}

/// The worse of two verdicts (missed > unknown > met > none).
fn merge(a: RpoVerdict, b: RpoVerdict) -> RpoVerdict {
    fn rank(v: &RpoVerdict) -> u8 {
        match v {
            RpoVerdict::None => 0,
            RpoVerdict::Met { .. } => 1,
            RpoVerdict::Unknown { .. } => 2,
            RpoVerdict::Missed { .. } => 3,
        }
    }
    if rank(&b) > rank(&a) { b } else { a }
}

/// Whether any row missed its RPO (the command's exit code 2).
pub fn any_missed(rows: &[Row]) -> bool {
    rows.iter().any(|r| r.rpo.is_missed())
}

/// The human tables: one per namespace.
pub fn render(rows: &[Row], now: Timestamp) -> String {
    let mut out = String::new();
    let mut by_ns: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_ns.entry(&r.namespace).or_default().push(r);
    }
    for (i, (ns, rows)) in by_ns.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("Namespace {ns}\n"));
        let mut table = vec![vec![
            "SERVICE".to_string(),
            "TARGET".into(),
            "PROTECTED BY".into(),
            "LAST SUCCESS".into(),
            "RPO".into(),
            "RUNNING".into(),
            "STATE".into(),
        ]];
        for r in rows {
            table.push(vec![
                r.service.clone(),
                r.target.clone(),
                if r.protected_by.is_empty() {
                    "-".into()
                } else {
                    r.protected_by.join(", ")
                },
                r.last_success
                    .map(|t| format!("{} ago", age(t, now)))
                    .unwrap_or_else(|| "never".into()),
                r.rpo.cell(r.last_success, now),
                if r.running.is_empty() {
                    "-".into()
                } else {
                    r.running.join(", ")
                },
                r.state(),
            ]);
        }
        out.push_str(&crate::format::table(&table));
    }
    let missed: Vec<String> = rows
        .iter()
        .filter_map(|r| match &r.rpo {
            RpoVerdict::Missed { message, .. } => Some(format!(
                "RPO missed: {}/{} {}: {message}",
                r.namespace, r.service, r.target
            )),
            _ => None,
        })
        .collect();
    if !missed.is_empty() {
        out.push('\n');
        for m in missed {
            out.push_str(&m);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

    fn cond(t: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: t.into(),
            status: status.into(),
            reason: reason.into(),
            message: format!("{t} {reason}"),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                Timestamp::UNIX_EPOCH,
            ),
            observed_generation: None,
        }
    }

    fn view(kind: Kind, name: &str, target: &str) -> View {
        View {
            kind: Some(kind),
            namespace: "ns".into(),
            name: name.into(),
            target: target.into(),
            ..View::default()
        }
    }

    #[test]
    fn children_roll_up_into_their_schedule_row() {
        let now: Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let mut s = view(Kind::RdsBackupSchedule, "nightly", "rm-1");
        s.rpo = Some("26h".into());
        s.conditions = vec![cond("RPOMet", "True", "RPOMet")];
        s.last_success = Some("2026-01-01T22:00:00Z".parse().unwrap());
        let mut child = view(Kind::RdsBackup, "nightly-1", "rm-1");
        child.schedule = Some("nightly".into());
        child.phase = Some("Running".into());
        let rows = rows(&[s, child]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].protected_by, vec!["rdsbackupschedule/nightly"]);
        assert_eq!(rows[0].running, vec!["rdsbackup/nightly-1"]);
        assert_eq!(rows[0].rpo.cell(rows[0].last_success, now), "ok (2h < 26h)");
        assert!(!any_missed(&rows));
        assert_eq!(rows[0].state(), "ok");
    }

    #[test]
    fn a_missed_rpo_wins_and_is_reported() {
        let now: Timestamp = "2026-01-03T00:00:00Z".parse().unwrap();
        let mut met = view(Kind::RdsBackupSchedule, "a", "rm-1");
        met.rpo = Some("1d".into());
        met.conditions = vec![cond("RPOMet", "True", "RPOMet")];
        let mut missed = view(Kind::RdsBackupSchedule, "b", "rm-1");
        missed.rpo = Some("26h".into());
        missed.conditions = vec![cond("RPOMet", "False", "RPOMissed")];
        missed.last_success = Some("2026-01-01T00:00:00Z".parse().unwrap());
        // A newer success elsewhere on the target does not hide the missed schedule's age.
        let mut other = view(Kind::RdsBackup, "manual", "rm-1");
        other.phase = Some("Succeeded".into());
        other.last_success = Some("2026-01-02T23:00:00Z".parse().unwrap());
        let rows = rows(&[met, missed, other]);
        assert!(any_missed(&rows));
        assert_eq!(
            rows[0].rpo.cell(rows[0].last_success, now),
            "MISSED (2d > 26h)"
        );
        let text = render(&rows, now);
        assert!(
            text.contains("RPO missed: ns/RDS rm-1: RPOMet RPOMissed"),
            "{text}"
        );
    }

    #[test]
    fn paused_stalled_and_failed_are_named() {
        let mut p = view(Kind::HbrBackupJob, "p", "i-1");
        p.conditions = vec![cond("Paused", "True", "Paused")];
        let mut s = view(Kind::HbrBackupJob, "s", "i-1");
        s.phase = Some("Pending".into());
        s.conditions = vec![cond("Stalled", "True", "InvalidSpec")];
        let mut f = view(Kind::HbrBackupJob, "f", "i-1");
        f.phase = Some("Failed".into());
        f.conditions = vec![cond("Stalled", "True", "DeadlineExceeded")];
        let rows = rows(&[p, s, f]);
        assert_eq!(
            rows[0].state(),
            "paused: hbrbackupjob/p; stalled: hbrbackupjob/s (InvalidSpec); failed: hbrbackupjob/f (DeadlineExceeded)"
        );
        assert!(rows[0].running.is_empty());
        assert_eq!(rows[0].rpo, RpoVerdict::None);
    }

    #[test]
    fn one_table_per_namespace() {
        let a = view(Kind::DbsBackupPlan, "a", "rm-1");
        let mut b = view(Kind::DbsBackupPlan, "b", "rm-2");
        b.namespace = "other".into();
        let text = render(&rows(&[a, b]), Timestamp::UNIX_EPOCH);
        assert!(text.contains("Namespace ns\n"));
        assert!(text.contains("Namespace other\n"));
        assert!(text.contains("never"));
    }
}
