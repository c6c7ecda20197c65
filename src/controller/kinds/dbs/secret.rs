//! The source password of a `DbsBackupPlan` (and the destination password of a
//! `DbsRestoreTask`): read from its Secret only for the calls that carry it, with the version
//! of the Secret it came from.

use k8s_openapi::api::core::v1::Secret as KubeSecret;
use kube::{Api, ResourceExt};

use super::plan::{self, DesiredPlan, PasswordProblem};
use crate::cloud::Secret;
use crate::controller::operator::context::Context;
use crate::controller::reconcile::error::{Error, Result};
use crate::crd::{DbsBackupPlan, SecretKeyRef};

/// The source password read for a call, and the version of the Secret it came from.
#[derive(Debug)]
pub(super) struct Password {
    pub(super) value: Secret,
    pub(super) version: String,
}

/// The source password as loaded for an act: absent (none configured), usable, or a user
/// problem (→ `Stalled`).
pub(super) type PasswordRead = std::result::Result<Option<Password>, PasswordProblem>;

/// Reads the password Secret `r` names in `obj`'s namespace (`None`: it does not exist), and
/// that namespace.
async fn read_secret(
    obj: &impl ResourceExt,
    r: &SecretKeyRef,
    ctx: &Context,
) -> Result<(String, Option<KubeSecret>)> {
    let ns = obj
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let api: Api<KubeSecret> = Api::namespaced(ctx.client.clone(), &ns);
    let secret = api.get_opt(&r.name).await?;
    Ok((ns, secret))
}

/// Reads the password Secret named by the spec (`None`: it does not exist).
pub(super) async fn password_secret(
    obj: &DbsBackupPlan,
    r: &SecretKeyRef,
    ctx: &Context,
) -> Result<Option<KubeSecret>> {
    Ok(read_secret(obj, r, ctx).await?.1)
}

/// Reads the password `r` names in `obj`'s namespace ([`plan::password_from_secret`]), and the
/// Secret it came from (`None`: it does not exist). Shared by `DbsBackupPlan` (the source
/// password) and `DbsRestoreTask` (the destination password).
pub(crate) async fn read_password(
    obj: &impl ResourceExt,
    r: &SecretKeyRef,
    ctx: &Context,
) -> Result<(
    std::result::Result<Secret, PasswordProblem>,
    Option<KubeSecret>,
)> {
    let (ns, secret) = read_secret(obj, r, ctx).await?;
    Ok((plan::password_from_secret(&ns, r, secret.as_ref()), secret))
}

/// Reads the source password (only for the calls that carry it).
pub(super) async fn password(
    obj: &DbsBackupPlan,
    desired: &DesiredPlan,
    ctx: &Context,
) -> Result<PasswordRead> {
    let Some(r) = desired.config.password_ref.as_ref() else {
        return Ok(Ok(None));
    };
    let (value, secret) = read_password(obj, r, ctx).await?;
    Ok(value.map(|value| {
        Some(Password {
            value,
            version: secret
                .as_ref()
                .map(plan::secret_version)
                .unwrap_or_default(),
        })
    }))
}
