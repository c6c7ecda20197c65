//! `validate` (pure): the spec → the typed `CreateBackupJob` request, with the job name that
//! carries the object's UID (so the job can be found again after a crash), or what to change.

use crate::cloud::api::hbr::CreateBackupJobRequest;
use crate::crd::{CrossAccountType, HbrBackupJobSpec, HbrSourceType};

/// The spec cannot be turned into a valid request; `Stalled` with reason `InvalidSpec`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSpec(pub String);

/// Longest `JobName` the operator sends. The API reference states no limit; 64 characters keep
/// the name readable in the console and fit the object's UID with room for a prefix.
pub const MAX_JOB_NAME: usize = 64;

/// The cloud job name: the spec's prefix (or the object name) plus the object's UID, so that
/// the job can be found again after a crash. The prefix is shortened so that the name fits
/// [`MAX_JOB_NAME`]; the UID is always kept whole.
pub fn job_name(spec: &HbrBackupJobSpec, object_name: &str, uid: &str) -> String {
    let prefix = spec
        .job_name
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or(object_name);
    let room = MAX_JOB_NAME.saturating_sub(uid.chars().count() + 1);
    let prefix: String = prefix.chars().take(room).collect();
    let prefix = prefix.trim_end_matches(['-', '_', '.', ' ']);
    if prefix.is_empty() {
        uid.to_string()
    } else {
        format!("{prefix}-{uid}")
    }
}

/// Validates what the schema cannot express and renders `CreateBackupJob`.
pub fn validate(
    spec: &HbrBackupJobSpec,
    object_name: &str,
    uid: &str,
) -> Result<CreateBackupJobRequest, InvalidSpec> {
    check_source(spec)?;
    check_detail(spec)?;
    let (cross_type, cross_user, cross_role) = cross_account(spec)?;
    let render = |e: crate::crd::RenderError| InvalidSpec(e.to_string());
    let parse = |field: &'static str, s: Option<String>| -> Result<_, InvalidSpec> {
        s.map(|s| {
            serde_json::from_str::<serde_json::Value>(&s)
                .map_err(|e| InvalidSpec(format!("cannot render {field}: {e}")))
        })
        .transpose()
    };
    Ok(CreateBackupJobRequest {
        job_name: Some(job_name(spec, object_name, uid)),
        source_type: spec.source_type.as_str().to_string(),
        retention: spec.retention,
        instance_id: spec.instance_id.clone(),
        detail: spec
            .detail
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| InvalidSpec(format!("cannot render detail: {e}")))?,
        backup_type: spec.backup_type_param().map(|t| t.as_str().to_string()),
        vault_id: spec.vault_id.clone(),
        speed_limit: spec.speed_limit_param(),
        options: spec
            .options
            .as_ref()
            .and_then(|o| o.use_vss)
            .map(|v| serde_json::json!({ "UseVSS": v })),
        include: Some(spec.include.clone()).filter(|v| !v.is_empty()),
        exclude: Some(spec.exclude.clone()).filter(|v| !v.is_empty()),
        cluster_id: spec.cluster_id.clone(),
        container_resources: parse(
            "containerResources",
            spec.container_resources_param().map_err(render)?,
        )?,
        initiated_by_ack: spec.initiated_by_ack,
        container_cluster_id: spec.container_cluster_id.clone(),
        cross_account_type: cross_type,
        cross_account_user_id: cross_user,
        cross_account_role_name: cross_role,
    })
}

/// What the source type needs: `ECS_FILE` an instance, `ECS_FILE` and `CONTAINER` a vault.
fn check_source(spec: &HbrBackupJobSpec) -> Result<(), InvalidSpec> {
    if spec.source_type == HbrSourceType::EcsFile && spec.instance_id.is_none() {
        return Err(InvalidSpec(
            "sourceType ECS_FILE needs instanceId (the ECS instance whose files are backed up)"
                .into(),
        ));
    }
    if matches!(
        spec.source_type,
        HbrSourceType::EcsFile | HbrSourceType::Container
    ) && spec.vault_id.as_deref().is_none_or(|v| v.trim().is_empty())
    {
        return Err(InvalidSpec(format!(
            "sourceType {} needs vaultId (the backup vault that stores the data)",
            spec.source_type.as_str()
        )));
    }
    Ok(())
}

/// The fields of `detail` that go together: `doCopy` needs a destination region,
/// `appConsistent` both scripts.
fn check_detail(spec: &HbrBackupJobSpec) -> Result<(), InvalidSpec> {
    let Some(d) = &spec.detail else {
        return Ok(());
    };
    if d.do_copy == Some(true)
        && d.destination_region_id
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        return Err(InvalidSpec(
            "detail.doCopy needs detail.destinationRegionId".into(),
        ));
    }
    if d.app_consistent == Some(true)
        && (d.pre_script_path.is_none() || d.post_script_path.is_none())
    {
        return Err(InvalidSpec(
            "detail.appConsistent needs detail.preScriptPath and detail.postScriptPath".into(),
        ));
    }
    Ok(())
}

/// The cross-account fields of the request (type, account number, role), checked:
/// `CROSS_ACCOUNT` needs the account and the role.
type CrossAccountParams = (Option<String>, Option<i64>, Option<String>);

/// [`CrossAccountParams`] from `spec.crossAccount`, or what to change.
fn cross_account(spec: &HbrBackupJobSpec) -> Result<CrossAccountParams, InvalidSpec> {
    let Some(c) = &spec.cross_account else {
        return Ok((None, None, None));
    };
    let user = match c.user_id.as_deref() {
        None => None,
        Some(u) => Some(u.trim().parse::<i64>().map_err(|_| {
            InvalidSpec(format!(
                "crossAccount.userId {u:?} is not an account number"
            ))
        })?),
    };
    if c.type_ == Some(CrossAccountType::CrossAccount) && (user.is_none() || c.role_name.is_none())
    {
        return Err(InvalidSpec(
            "crossAccount.type CROSS_ACCOUNT needs userId and roleName".into(),
        ));
    }
    Ok((
        c.type_.map(|t| t.as_str().to_string()),
        user,
        c.role_name.clone(),
    ))
}
