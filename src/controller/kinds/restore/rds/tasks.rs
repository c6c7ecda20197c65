//! Finding and following an `RdsRestore` (pure where it can be): the clone by its owner tag,
//! the table restore in `DescribeHistoryTasks`, and the state each reports.

use crate::cloud::api::{DbInstanceAttribute, DescribeHistoryTasksRequest, HistoryTask};
use crate::cloud::{CloudError, Target};
use crate::controller::kinds::restore::plan;
use crate::controller::kinds::restore::{Lookup, Observed, Started};
use crate::controller::operator::context::Context;
use crate::crd::RestoreStatus;

/// The task type `RestoreTable` shows in `DescribeHistoryTasks` (undocumented; the lookup also
/// accepts tasks without a type).
const TABLE_TASK_TYPE: &str = "RestoreTable";
/// How far before the intent a found task may have started (clock skew).
const SKEW_SECONDS: i64 = 60;

/// The clones tagged with this object's UID (pure): one is ours; none proves there is none.
pub fn clone_lookup(mut ids: Vec<String>) -> Lookup {
    ids.sort();
    ids.dedup();
    match ids.as_slice() {
        [] => Lookup::NotFound,
        [one] => Lookup::Found(Started {
            restore_id: one.clone(),
            db_instance_id: Some(one.clone()),
            order_id: None,
        }),
        // The ClientToken makes this all but impossible; the oldest id is the first call's.
        [first, ..] => Lookup::Found(Started {
            restore_id: first.clone(),
            db_instance_id: Some(first.clone()),
            order_id: None,
        }),
    }
}

/// The table-restore tasks of `instance` started since `since` (minus the clock skew).
pub(super) async fn table_tasks(
    ctx: &Context,
    target: &Target,
    instance: &str,
    since: jiff::Timestamp,
) -> std::result::Result<Vec<HistoryTask>, CloudError> {
    let from = since - jiff::SignedDuration::from_secs(SKEW_SECONDS);
    let to = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(SKEW_SECONDS);
    let api = ctx.cloud.rds_restore(target);
    let mut tasks = Vec::new();
    for page in 1..=10u32 {
        let req = DescribeHistoryTasksRequest {
            region_id: Some(target.region.clone()),
            instance_id: Some(instance.to_string()),
            from_start_time: plan::rds_time(from),
            to_start_time: plan::rds_time(to),
            page_number: Some(page),
            page_size: Some(100),
            ..DescribeHistoryTasksRequest::default()
        };
        let resp = api.describe_history_tasks(&req).await?;
        let n = resp.items.len();
        tasks.extend(resp.items.into_iter().filter(|t| {
            t.task_type
                .as_deref()
                .is_none_or(|ty| ty == TABLE_TASK_TYPE)
        }));
        if n < 100 {
            break;
        }
    }
    Ok(tasks)
}

/// The table-restore tasks after the intent (pure): restores into one instance run one at a
/// time, so one task is ours.
pub fn table_lookup(tasks: &[HistoryTask]) -> Lookup {
    match tasks {
        [] => Lookup::NotFound,
        [one] => Lookup::Found(Started {
            restore_id: one.task_id.clone(),
            ..Started::default()
        }),
        many => Lookup::Ambiguous(format!(
            "{} table restores started on the instance since this object's attempt ({}): \
             someone else restores into it at the same time, so the operator cannot tell which \
             is this object's; nothing was sent again",
            many.len(),
            many.iter()
                .map(|t| t.task_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The state of a clone from `DescribeDBInstanceAttribute` (pure).
pub fn clone_state(attr: Option<&DbInstanceAttribute>) -> Observed {
    let Some(a) = attr else {
        return Observed::Missing;
    };
    let status = a.db_instance_status.clone().unwrap_or_default();
    match status.as_str() {
        "Running" => Observed::Succeeded {
            cloud_status: status,
        },
        "Deleting" | "Released" => Observed::Failed {
            message: format!("the new instance turned {status} while it was being created"),
            cloud_status: status,
        },
        _ => Observed::Running {
            cloud_status: status,
            progress: None,
        },
    }
}

/// A clone the cloud no longer knows: failed if it was seen before, else not listed yet.
pub(super) fn clone_gone(status: &RestoreStatus) -> Observed {
    match status.cloud_status.as_deref() {
        Some(s) if !s.is_empty() => Observed::Failed {
            cloud_status: "Released".into(),
            message: "the new instance disappeared while it was being created".into(),
        },
        _ => Observed::Missing,
    }
}

/// The state of a table-restore task (pure).
pub fn table_state(task: &HistoryTask) -> Observed {
    let status = task.status.clone().unwrap_or_default();
    let progress = task.progress.map(|p| p.round().clamp(0.0, 100.0) as i32);
    match status.as_str() {
        "Succeed" => Observed::Succeeded {
            cloud_status: status,
        },
        "Failed" => Observed::Failed {
            message: task
                .reason_code
                .clone()
                .or_else(|| task.task_detail.clone())
                .unwrap_or_else(|| "the task failed".into()),
            cloud_status: status,
        },
        "Canceled" => Observed::Cancelled {
            cloud_status: status,
        },
        _ => Observed::Running {
            cloud_status: status,
            progress,
        },
    }
}
