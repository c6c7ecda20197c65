//! The `Filters.N.Key/Operator/Values.M` of `DescribeBackupJobs2` and
//! `DescribeRestoreJobs2`.

use serde_json::Value;

use super::invalid_msg;
use crate::api::{ApiError, Params};

enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Between,
    In,
}

pub(crate) struct Filter {
    pub(crate) key: String,
    op: Cmp,
    values: Vec<String>,
}

const FILTER_KEYS: &[&str] = &[
    "RegionId",
    "PlanId",
    "JobId",
    "VaultId",
    "InstanceId",
    "Bucket",
    "FileSystemId",
    "Status",
    "CreatedTime",
    "CompleteTime",
    "InstanceName",
    "BackupType",
    "ParentId",
    "JobName",
];

pub(super) fn parse_filters(p: &Params) -> Result<Vec<Filter>, ApiError> {
    parse_filters_with(p, FILTER_KEYS)
}

/// Parses `Filters.N.*` with the accepted `keys`.
pub(crate) fn parse_filters_with(p: &Params, keys: &[&str]) -> Result<Vec<Filter>, ApiError> {
    let mut out = Vec::new();
    for i in 1.. {
        let Some(key) = p.opt(&format!("Filters.{i}.Key")) else {
            if p.opt(&format!("Filters.{i}.Operator")).is_some() {
                return Err(ApiError::missing(&format!("Filters.{i}.Key")));
            }
            break;
        };
        if !keys.contains(&key) {
            return Err(invalid_msg(format!(
                "The filter key {key} is not supported."
            )));
        }
        let op = match p.opt(&format!("Filters.{i}.Operator")).unwrap_or("IN") {
            "EQUAL" => Cmp::Eq,
            "NOT_EQUAL" => Cmp::Ne,
            "GREATER_THAN" => Cmp::Gt,
            "GREATER_THAN_OR_EQUAL" => Cmp::Ge,
            "LESS_THAN" => Cmp::Lt,
            "LESS_THAN_OR_EQUAL" => Cmp::Le,
            "BETWEEN" => Cmp::Between,
            "IN" => Cmp::In,
            other => {
                return Err(invalid_msg(format!(
                    "The filter operator {other} is not supported."
                )));
            }
        };
        if key == "CompleteTime" && matches!(op, Cmp::In) {
            return Err(invalid_msg(
                "The IN operator is not supported for the CompleteTime key.".into(),
            ));
        }
        let mut values = p.list(&format!("Filters.{i}.Values"));
        if matches!(op, Cmp::Between) {
            if let [one] = values.as_slice()
                && let Ok(Value::Array(a)) = serde_json::from_str::<Value>(one)
            {
                values = a
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
            }
            if values.len() != 2 {
                return Err(invalid_msg(format!(
                    "The BETWEEN filter on {key} needs [start,end]."
                )));
            }
        }
        if values.is_empty() {
            return Err(ApiError::missing(&format!("Filters.{i}.Values")));
        }
        if matches!(key, "CreatedTime" | "CompleteTime")
            && values.iter().any(|v| v.parse::<i64>().is_err())
        {
            return Err(invalid_msg(format!(
                "The values of the {key} filter must be UNIX timestamps in seconds."
            )));
        }
        out.push(Filter {
            key: key.to_owned(),
            op,
            values,
        });
    }
    Ok(out)
}

/// Whether the `EQUAL`/`IN` filters on string field `key` (if any) admit `value` (the other
/// operators are left to [`filter_matches`]).
pub(super) fn admits(filters: &[Filter], key: &str, value: &str) -> bool {
    filters.iter().filter(|f| f.key == key).all(|f| match f.op {
        Cmp::In => f.values.iter().any(|v| v == value),
        Cmp::Eq => f.values.first().is_some_and(|v| v == value),
        _ => true,
    })
}

pub(crate) fn filter_matches(f: &Filter, job: &Value) -> bool {
    let field = match f.key.as_str() {
        "RegionId" => Some(Value::String("cn-hangzhou".into())),
        k => job.get(k).cloned(),
    };
    let Some(field) = field else {
        return false;
    };
    let numeric = field.is_i64();
    let cmp = |v: &str| -> Option<std::cmp::Ordering> {
        if numeric {
            Some(field.as_i64()?.cmp(&v.parse::<i64>().ok()?))
        } else {
            Some(field.as_str()?.cmp(v))
        }
    };
    use std::cmp::Ordering::*;
    let first = f.values.first().map(String::as_str).unwrap_or_default();
    match f.op {
        Cmp::In => f.values.iter().any(|v| cmp(v) == Some(Equal)),
        Cmp::Eq => cmp(first) == Some(Equal),
        Cmp::Ne => f.values.iter().all(|v| cmp(v).is_some_and(|o| o != Equal)),
        Cmp::Gt => cmp(first) == Some(Greater),
        Cmp::Ge => matches!(cmp(first), Some(Greater | Equal)),
        Cmp::Lt => cmp(first) == Some(Less),
        Cmp::Le => matches!(cmp(first), Some(Less | Equal)),
        Cmp::Between => {
            let lo = f.values.first().map(String::as_str).unwrap_or_default();
            let hi = f.values.get(1).map(String::as_str).unwrap_or_default();
            matches!(cmp(lo), Some(Greater | Equal)) && matches!(cmp(hi), Some(Less | Equal))
        }
    }
}
