//! The other objects of a restore kind: the restore ids they hold (never ours), the one that
//! goes first on a shared target, and the lookup of an earlier attempt's restore that leaves
//! theirs out.

use std::collections::BTreeSet;

use kube::ResourceExt;

use super::plan;
use super::{Lookup, RestoreKind};
use crate::cloud::{CloudError, Target};
use crate::controller::operator::context::Context;
use crate::controller::operator::runtime;
use crate::controller::reconcile::error::Result;
use crate::crd::{PendingCreate, RestorePlan};

/// [`RestoreKind::find`] for the restore an earlier attempt of `obj` started, leaving out the
/// restores `others` hold.
pub(super) async fn find_earlier<K: RestoreKind>(
    obj: &K,
    ctx: &Context,
    target: &Target,
    plan: &RestorePlan,
    intent: &PendingCreate,
    others: &[K],
) -> std::result::Result<Lookup, CloudError> {
    obj.find(ctx, target, plan, intent, &claimed(others)).await
}

/// The other live objects of kind `K`, read fresh (the cache may lag behind their writes).
pub(super) async fn other_objects<K: RestoreKind>(ctx: &Context, obj: &K) -> Result<Vec<K>> {
    let me = obj.meta().uid.clone();
    Ok(runtime::list_fresh::<K>(ctx)
        .await?
        .into_iter()
        .filter(|p| p.meta().uid != me)
        .collect())
}

/// The restore ids other objects hold: never this object's restore.
fn claimed<K: RestoreKind>(others: &[K]) -> BTreeSet<String> {
    others
        .iter()
        .filter_map(|o| o.status().and_then(|s| s.restore_id.clone()))
        .collect()
}

/// Another object of kind `K` restores into `target_id` (an intent, or a restore that has not
/// ended) and goes first: ours waits, so that a lookup never sees two of ours.
pub(super) fn peer_in_flight<K: RestoreKind>(
    obj: &K,
    others: &[K],
    target_id: &str,
) -> Option<String> {
    let ns = obj.namespace();
    others
        .iter()
        .filter(|p| p.meta().deletion_timestamp.is_none())
        .filter(|p| plan::in_flight_on(p.status(), target_id))
        // A running restore, or the older intent, goes first; a tie goes to the lower name.
        .find(|p| plan::goes_first(p.status(), obj.status(), &p.name_any(), &obj.name_any()))
        .map(|p| {
            let pns = p.namespace();
            if pns == ns {
                p.name_any()
            } else {
                format!("{}/{}", pns.unwrap_or_default(), p.name_any())
            }
        })
}
