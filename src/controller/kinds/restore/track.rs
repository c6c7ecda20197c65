//! **track**: the restore's state in the cloud, settled into phase and conditions
//! ([`plan::settle`]), looked at again until it ends.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{RestoreKind, Work, plan};
use crate::cloud::Target;
use crate::controller::operator::context::Context;
use crate::controller::reconcile::backoff::poll_interval;
use crate::controller::reconcile::work::Outcome;

/// Observes the restore `id` and records what it came to.
pub(super) async fn track<K: RestoreKind>(
    w: &mut Work<'_, K>,
    ctx: &Context,
    target: &Target,
    id: &str,
) -> Outcome {
    let observed = match w.obj.observe(ctx, target, id, &w.status).await {
        Ok(o) => o,
        Err(e) => return w.cloud_error(e),
    };
    let now = jiff::Timestamp::now();
    let started = w.status.start_time.as_ref().map(|t| t.0).unwrap_or(now);
    let elapsed = now.duration_since(started).unsigned_abs();
    let (phase, health) = plan::settle(&mut w.status, observed, elapsed);
    w.status.phase = Some(phase);
    if phase.is_terminal() {
        w.status.completion_time.get_or_insert(Time(now));
        return Outcome::requeue(health, ctx.timing.resync);
    }
    Outcome::requeue(health, poll_interval(elapsed, &ctx.timing))
}
