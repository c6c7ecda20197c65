//! The snapshot operations: `DescribeUdmSnapshots` (UDM snapshots), `SearchHistoricalSnapshots`
//! (the snapshots of file backups, with its `Query` conditions) and `DeleteSnapshot`.

use serde_json::{Value, json};

use super::{HbrState, check_edition, invalid, invalid_msg};
use crate::api::{ApiError, ApiResult, Params, obj};

/// `SourceType` values of `SearchHistoricalSnapshots` (API reference).
const SEARCH_SOURCE_TYPES: &[&str] = &["ECS_FILE", "OSS", "NAS"];

/// `Query` fields of `SearchHistoricalSnapshots` (API reference).
const QUERY_FIELDS: &[&str] = &[
    "VaultId",
    "InstanceId",
    "Bucket",
    "FileSystemId",
    "CreateTime",
    "CompleteTime",
    "PlanId",
];

/// One `Query` condition of `SearchHistoricalSnapshots`.
struct QueryCondition {
    field: String,
    op: String,
    values: Vec<String>,
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses `Query` (a JSON array of `{field, value, operation}`; `operation` defaults to
/// `MATCH_TERM`; `value` is an array, or a JSON-array string, for `BETWEEN`, `IN`, `NOT_IN`).
fn parse_query(raw: &str) -> Result<Vec<QueryCondition>, ApiError> {
    let bad = |m: &str| invalid_msg(format!("The parameter Query is not valid: {m}."));
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else {
        return Err(bad("it must be a JSON array of {field, value, operation}"));
    };
    let mut out = Vec::new();
    for item in &items {
        let field = item
            .get("field")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("every condition needs a field"))?;
        if !QUERY_FIELDS.contains(&field) {
            return Err(invalid_msg(format!(
                "The query field {field} is not supported. Supported fields: {}.",
                QUERY_FIELDS.join(", ")
            )));
        }
        let op = item
            .get("operation")
            .and_then(Value::as_str)
            .unwrap_or("MATCH_TERM");
        let many = matches!(op, "BETWEEN" | "IN" | "NOT_IN");
        if !many
            && !matches!(
                op,
                "MATCH_TERM"
                    | "GREATER_THAN"
                    | "GREATER_THAN_OR_EQUAL"
                    | "LESS_THAN"
                    | "LESS_THAN_OR_EQUAL"
            )
        {
            return Err(invalid_msg(format!(
                "The query operation {op} is not supported."
            )));
        }
        let value = item
            .get("value")
            .ok_or_else(|| bad("every condition needs a value"))?;
        let values: Vec<String> = match value {
            Value::Array(a) => a.iter().map(value_text).collect(),
            Value::String(s) if many => match serde_json::from_str::<Value>(s) {
                Ok(Value::Array(a)) => a.iter().map(value_text).collect(),
                _ => vec![s.clone()],
            },
            other => vec![value_text(other)],
        };
        if op == "BETWEEN" && values.len() != 2 {
            return Err(bad("BETWEEN needs [lower bound, upper bound]"));
        }
        if values.is_empty() {
            return Err(bad("a condition has no value"));
        }
        out.push(QueryCondition {
            field: field.to_owned(),
            op: op.to_owned(),
            values,
        });
    }
    Ok(out)
}

/// Orders two snapshot fields: numerically when both are numbers, else as text.
fn compare_field(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a.and_then(Value::as_i64), b.and_then(Value::as_i64)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.map(value_text).cmp(&b.map(value_text)),
    }
}

impl QueryCondition {
    fn matches(&self, snapshot: &Value) -> bool {
        let Some(field) = snapshot.get(&self.field) else {
            return false;
        };
        let cmp = |v: &str| -> std::cmp::Ordering {
            match (field.as_i64(), v.parse::<i64>()) {
                (Some(x), Ok(y)) => x.cmp(&y),
                _ => value_text(field).as_str().cmp(v),
            }
        };
        use std::cmp::Ordering::*;
        let first = self.values.first().map(String::as_str).unwrap_or_default();
        match self.op.as_str() {
            "MATCH_TERM" => cmp(first) == Equal,
            "GREATER_THAN" => cmp(first) == Greater,
            "GREATER_THAN_OR_EQUAL" => cmp(first) != Less,
            "LESS_THAN" => cmp(first) == Less,
            "LESS_THAN_OR_EQUAL" => cmp(first) != Greater,
            "BETWEEN" => {
                let hi = self.values.get(1).map(String::as_str).unwrap_or_default();
                cmp(first) != Less && cmp(hi) != Greater
            }
            "IN" => self.values.iter().any(|v| cmp(v) == Equal),
            "NOT_IN" => self.values.iter().all(|v| cmp(v) != Equal),
            _ => false,
        }
    }
}

impl HbrState {
    pub(super) fn describe_snapshots(&self, p: &Params, now: i64) -> ApiResult {
        let st = p.req("SourceType")?;
        let start = p.req("StartTime")?;
        let end = p.req("EndTime")?;
        p.req("UdmRegionId")?;
        if !matches!(st, "UDM_ECS" | "UDM_ECS_DISK" | "UDM_DISK") {
            return Err(invalid("SourceType"));
        }
        let start: i64 = start.parse().map_err(|_| invalid("StartTime"))?;
        let end: i64 = end.parse().map_err(|_| invalid("EndTime"))?;
        let ids: Option<Vec<String>> =
            match p.opt("SnapshotIds") {
                None => None,
                Some(s) => Some(serde_json::from_str::<Vec<String>>(s).map_err(|_| {
                    invalid_msg("SnapshotIds must be a JSON array of strings.".into())
                })?),
            };
        let snaps: Vec<Value> = if st == "UDM_ECS" {
            self.jobs
                .iter()
                .rev()
                .filter(|j| p.opt("JobId").is_none_or(|f| f == j.id))
                .filter(|j| p.opt("InstanceId").is_none_or(|f| f == j.instance_id))
                .filter(|j| ids.as_ref().is_none_or(|ids| ids.contains(&j.snapshot_id)))
                .filter_map(|j| j.snapshot_json(now))
                .filter(|s| {
                    s.get("CreatedTime")
                        .and_then(Value::as_i64)
                        .is_some_and(|t| t >= start && t <= end)
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(obj([
            ("TotalCount", json!(snaps.len())),
            ("Snapshots", json!(snaps)),
        ]))
    }

    /// `SearchHistoricalSnapshots`: the snapshots of file backups matching `Query` (API
    /// reference: `VaultId` is required, `InstanceId` too for `ECS_FILE`), `NextToken` paging.
    pub(super) fn search_snapshots(&self, p: &Params, now: i64) -> ApiResult {
        let source_type = p.opt("SourceType");
        if let Some(st) = source_type
            && !SEARCH_SOURCE_TYPES.contains(&st)
        {
            return Err(invalid_msg(format!(
                "The SourceType {st} is not supported. Valid values: ECS_FILE, OSS, NAS."
            )));
        }
        let query = parse_query(p.req("Query")?)?;
        if !query.iter().any(|q| q.field == "VaultId") {
            return Err(invalid_msg("The query field VaultId is required.".into()));
        }
        if source_type == Some("ECS_FILE") && !query.iter().any(|q| q.field == "InstanceId") {
            return Err(invalid_msg(
                "The query field InstanceId is required when SourceType is ECS_FILE.".into(),
            ));
        }
        let limit = p.int("Limit", invalid)?.unwrap_or(10);
        if limit < 0 {
            return Err(invalid("Limit"));
        }
        let desc = match p.opt("Order").unwrap_or("ASC") {
            "ASC" => false,
            "DESC" => true,
            _ => return Err(invalid("Order")),
        };
        check_edition(p)?;
        let offset = match p.opt("NextToken").filter(|t| !t.is_empty()) {
            None => 0,
            Some(t) => t
                .strip_prefix("next-")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| invalid("NextToken"))?,
        };
        let sort_by = p.opt("SortBy").unwrap_or("CompleteTime");
        let mut all: Vec<Value> = self
            .jobs
            .iter()
            .filter_map(|j| j.snapshot(now))
            .filter(|s| {
                let st = s.get("SourceType").and_then(Value::as_str);
                SEARCH_SOURCE_TYPES.iter().any(|t| Some(*t) == st)
                    && source_type.is_none_or(|want| st == Some(want))
            })
            .filter(|s| query.iter().all(|q| q.matches(s)))
            .collect();
        all.sort_by(|a, b| compare_field(a.get(sort_by), b.get(sort_by)));
        if desc {
            all.reverse();
        }
        let total = all.len();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let page: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
        let next = offset.saturating_add(page.len());
        let token = if next < total && limit > 0 {
            format!("next-{next}")
        } else {
            String::new()
        };
        Ok(obj([
            ("Snapshots", json!({ "Snapshot": page })),
            ("TotalCount", json!(total)),
            ("Limit", json!(limit)),
            ("NextToken", json!(token)),
        ]))
    }

    pub(super) fn delete_snapshot(&mut self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("SnapshotId")?;
        p.choice(
            "SourceType",
            &["ECS_FILE", "OSS", "NAS", "UDM_ECS"],
            invalid,
        )?;
        let job = self
            .jobs
            .iter_mut()
            .find(|j| j.snapshot_id == id && j.snapshot(now).is_some())
            .ok_or_else(|| {
                ApiError::product(
                    404,
                    "SnapshotNotExist",
                    format!("The snapshot {id} does not exist."),
                )
            })?;
        job.snapshot_deleted = true;
        Ok(obj([]))
    }
}
