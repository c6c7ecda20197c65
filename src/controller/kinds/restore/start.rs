//! Starting a restore exactly once: the plan recorded (a dry run ends there), restores into
//! one target serialised, the intent (`pendingCreate`) written before the call, and with an
//! intent on record the restore an earlier attempt started looked for before anything is sent
//! again.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::peers::{find_earlier, other_objects, peer_in_flight};
use super::plan::{self, reasons};
use super::{Lookup, Prepared, RestoreKind, Started, Work};
use crate::cloud::{CloudError, Target};
use crate::controller::operator::context::Context;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Result;
use crate::controller::reconcile::kind;
use crate::controller::reconcile::work::{self, Outcome};
use crate::crd::{PendingCreate, RestorePhase};

/// Records the plan, then ends `Planned` (a dry run) or starts or recovers the restore.
pub(super) async fn begin<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    target: &Target,
    prepared: Prepared<K::Request>,
) -> Result<Outcome> {
    let obj = w.obj;
    w.status.plan = Some(prepared.plan.clone());
    w.status.source = Some(prepared.source.clone());
    w.status.target_id = Some(prepared.target_id.clone());
    if obj.dry_run() {
        w.status.phase = Some(RestorePhase::Planned);
        w.status.completion_time = Some(Time(jiff::Timestamp::now()));
        return Ok(Outcome::requeue(
            Health::ready(reasons::DRY_RUN, plan::dry_run_message(&prepared.plan)),
            ctx.timing.resync,
        ));
    }
    // One restore at a time per target (across this kind's objects), so that at most one
    // candidate can match after a crash.
    let _serial = ctx
        .locks
        .lock(&format!("restore/{}/{}", K::KIND, prepared.target_id))
        .await;
    let others = other_objects::<K>(ctx, obj).await?;
    if prepared.exclusive
        && let Some(peer) = peer_in_flight(obj, &others, &prepared.target_id)
    {
        return Ok(Outcome::requeue(
            Health::progressing(
                reasons::WAITING_FOR_PEER,
                format!(
                    "waiting for {} {peer} to finish its restore into {} first (restores into \
                     one target run one at a time)",
                    K::KIND,
                    prepared.target_id
                ),
            ),
            ctx.timing.wait,
        ));
    }
    match w.status.pending_create.clone() {
        Some(intent) => {
            let lookup = find_earlier(obj, ctx, target, &prepared.plan, &intent, &others).await;
            match recovered(w, ctx, lookup) {
                Some(outcome) => Ok(outcome),
                None => send(w, ctx, target, &prepared, &intent).await,
            }
        }
        None => record_intent_and_send(w, ctx, target, &prepared).await,
    }
}

/// Writes the intent (a checkpoint: durable before the call), then sends the restore.
async fn record_intent_and_send<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    target: &Target,
    prepared: &Prepared<K::Request>,
) -> Result<Outcome> {
    let obj = w.obj;
    let intent = kind::new_intent(obj)?;
    w.status.pending_create = Some(intent.clone());
    w.status.phase = Some(RestorePhase::Starting);
    w.commit(&Health::progressing(
        reasons::STARTING,
        format!(
            "starting {} on {}",
            prepared.plan.operation, prepared.target_id
        ),
    ))
    .await?;
    send(w, ctx, target, prepared, &intent).await
}

/// What looking for an earlier attempt's restore comes to: the restore found (recorded and
/// tracked), two candidates (`Stalled`, nothing sent), a cloud error; `None` when the cloud
/// proves there is none.
fn recovered<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    lookup: std::result::Result<Lookup, CloudError>,
) -> Option<Outcome> {
    match lookup {
        Ok(Lookup::Found(started)) => Some(record_started(w, ctx, started, true)),
        Ok(Lookup::Ambiguous(message)) => Some(w.stall(reasons::OUTCOME_UNKNOWN, message)),
        Ok(Lookup::NotFound) => None,
        Err(e) => Some(w.cloud_error(e)),
    }
}

/// The spec no longer checks out (`outcome`) while an intent is on record (a restore may have
/// started before a crash): the evidence decides, so that the object never holds up the
/// restores of its target on a guess. A restore found is recorded and tracked; none found
/// clears the intent (nothing runs) and `outcome` stands.
pub(super) async fn settle_intent<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    target: &Target,
    outcome: Outcome,
) -> Result<Outcome> {
    let (Some(intent), Some(plan)) = (w.status.pending_create.clone(), w.status.plan.clone())
    else {
        return Ok(outcome);
    };
    let others = other_objects::<K>(ctx, w.obj).await?;
    let lookup = find_earlier(w.obj, ctx, target, &plan, &intent, &others).await;
    Ok(recovered(w, ctx, lookup).unwrap_or_else(|| {
        w.status.pending_create = None;
        w.status.phase = Some(RestorePhase::Pending);
        outcome
    }))
}

/// Sends the restore; the intent stays until the cloud's id is recorded.
async fn send<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    target: &Target,
    prepared: &Prepared<K::Request>,
    intent: &PendingCreate,
) -> Result<Outcome> {
    Ok(match w.obj.start(ctx, target, prepared, intent).await {
        Ok(Some(started)) => record_started(w, ctx, started, false),
        Ok(None) => Outcome::requeue(
            Health::progressing(
                reasons::STARTING,
                format!(
                    "{} accepted; looking up the task it started",
                    prepared.plan.operation
                ),
            ),
            ctx.timing.poll_initial,
        ),
        Err(e) if work::create_refused_for_good(&e) => w.fail_create(
            e,
            "the spec cannot be changed: create a new restore object with a corrected spec",
        ),
        // Any other error leaves the intent: the next visit looks for the restore first.
        Err(e) => w.cloud_error(e),
    })
}

/// Records the cloud's ids (the intent is done) and tracks the restore from the next visit.
fn record_started<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    started: Started,
    found: bool,
) -> Outcome {
    let id = started.restore_id.clone();
    w.status.restore_id = Some(started.restore_id);
    if started.db_instance_id.is_some() {
        w.status.target_id.clone_from(&started.db_instance_id);
        w.status.db_instance_id = started.db_instance_id;
    }
    if started.order_id.is_some() {
        w.status.order_id = started.order_id;
    }
    w.status.pending_create = None;
    w.status.phase = Some(RestorePhase::Restoring);
    w.status.progress = Some(0);
    w.status.start_time = Some(Time(jiff::Timestamp::now()));
    let (reason, message) = if found {
        (
            reasons::FOUND,
            format!("found restore {id}, started before its answer was recorded; tracking it"),
        )
    } else {
        (reasons::RUNNING, format!("restore {id} started"))
    };
    Outcome::requeue(
        Health::progressing(reason, message),
        ctx.timing.poll_initial,
    )
}
