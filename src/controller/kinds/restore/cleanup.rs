//! Cleanup of a restore: deleting it never deletes restored data. A running restore (or the
//! one an intent on record started) is cancelled where the API has a call
//! ([`RestoreKind::cancel`]); otherwise an event says it runs on.

use kube::runtime::events::EventType;

use super::peers::{find_earlier, other_objects};
use super::{Cancel, Lookup, RestoreKind, Work, reasons};
use crate::cloud::Target;
use crate::controller::operator::context::Context;
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::work::{self, Next, Outcome};

/// Cancels the running restore, finding it first when only the intent is on record.
pub(super) async fn cancel_running<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    target: &Target,
) -> Outcome {
    let id = match w.status.restore_id.clone() {
        Some(id) => id,
        None => match find_started(w, ctx, target).await {
            Ok(id) => id,
            Err(done) => return done,
        },
    };
    match w.obj.cancel(ctx, target, &id, &w.status).await {
        Ok(Cancel::Requested(message)) => {
            Outcome::finished().note(EventType::Normal, reasons::CANCELLED, "Deleting", message)
        }
        Ok(Cancel::AlreadyEnded) => work::let_go("the restore had ended; restored data is kept"),
        Ok(Cancel::NotPossible(message)) => {
            Outcome::finished().note(EventType::Warning, reasons::RUNS_ON, "Deleting", message)
        }
        Err(e) => w.cloud_error(e).or_retry(Next::backoff("Cleanup")),
    }
}

/// Only the intent is on record: the restore it started, recorded in status; `Err`: what
/// the cleanup comes to when none can be named (never started, ambiguous, a cloud error).
async fn find_started<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    target: &Target,
) -> Result<String, Outcome> {
    let (Some(plan), Some(intent)) = (w.status.plan.clone(), w.status.pending_create.clone())
    else {
        return Err(work::let_go("the restore was never started"));
    };
    let others = match other_objects::<K>(ctx, w.obj).await {
        Ok(o) => o,
        Err(e) => {
            return Err(Outcome::retry(
                Health::progressing("Cleanup", e.to_string()),
                e,
            ));
        }
    };
    match find_earlier(w.obj, ctx, target, &plan, &intent, &others).await {
        Ok(Lookup::Found(s)) => {
            w.status.restore_id = Some(s.restore_id.clone());
            Ok(s.restore_id)
        }
        Ok(Lookup::NotFound) => Err(work::let_go("the restore was never started")),
        Ok(Lookup::Ambiguous(m)) => Err(Outcome::finished().note(
            EventType::Warning,
            reasons::OUTCOME_UNKNOWN,
            "Deleting",
            format!("{m}; nothing was cancelled"),
        )),
        Err(e) => Err(w.cloud_error(e).or_retry(Next::backoff("Cleanup"))),
    }
}
