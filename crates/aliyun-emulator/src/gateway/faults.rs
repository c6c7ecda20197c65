//! Injected faults: picking the rule that applies to a call, the errors they answer,
//! latencies and timeouts, and holds (a call kept until its hold is released).

use std::time::Duration;

use rand::Rng as _;

use super::{Inner, Shared};
use crate::api::{ApiError, Params};
use crate::fault::{Fault, FaultKind, HeldCall, Release};

/// Picks the first matching fault (and uses up one of its count).
pub(super) fn pick_fault(
    inner: &mut Inner,
    product: &str,
    action: &str,
    params: &Params,
) -> Option<Fault> {
    let Inner {
        faults, fault_rng, ..
    } = inner;
    for f in faults.iter_mut() {
        if !f.matches(product, action, |k| params.opt(k).map(str::to_owned)) {
            continue;
        }
        if let Some(rate) = f.rate
            && fault_rng.random::<f64>() >= rate
        {
            continue;
        }
        if let Some(c) = f.count.as_mut() {
            *c = c.saturating_sub(1);
        }
        return Some(f.clone());
    }
    None
}

pub(super) fn fault_error(kind: &FaultKind) -> ApiError {
    match kind {
        FaultKind::Error {
            code,
            http_status,
            message,
        } => {
            let msg = message.clone().unwrap_or_else(|| match code.as_str() {
                "ServiceUnavailable" => {
                    "The request has failed due to a temporary failure of the server.".to_owned()
                }
                "InternalError" => {
                    "The request processing has failed due to some unknown error.".to_owned()
                }
                c if c.contains("Throttling") => {
                    "Request was denied due to request throttling.".to_owned()
                }
                c => format!("Injected fault {c}."),
            });
            if *http_status == 200 {
                ApiError::product(400, code, msg)
            } else {
                ApiError::gateway(*http_status, code, msg)
            }
        }
        FaultKind::Latency { .. } | FaultKind::Timeout | FaultKind::Hold { .. } => {
            ApiError::gateway(
                504,
                "GatewayTimeout",
                "The request processing has timed out.",
            )
        }
    }
}

pub(super) async fn hold(shared: &Shared, d: Duration) {
    shared.lock().held += 1;
    let mut rx = shared.shutdown.clone();
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        _ = rx.wait_for(|v| *v) => {}
    }
    let mut inner = shared.lock();
    inner.held = inner.held.saturating_sub(1);
}

/// Removes a held call from the books when its request ends (answered or dropped).
struct HeldGuard<'a> {
    shared: &'a Shared,
    call: HeldCall,
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        {
            let mut inner = self.shared.lock();
            if let Some(i) = inner.held_calls.iter().position(|c| *c == self.call) {
                inner.held_calls.remove(i);
            }
            inner.held = inner.held.saturating_sub(1);
        }
        self.shared.holds_changed();
    }
}

/// Keeps the call until hold `id` is released (or the emulator shuts down).
async fn wait_for_release(shared: &Shared, id: &str, product: &str, action: &str) -> Release {
    let mut changes = shared.holds.subscribe();
    let call = HeldCall {
        hold: id.to_owned(),
        product: product.to_owned(),
        action: action.to_owned(),
    };
    {
        let mut inner = shared.lock();
        if let Some(r) = inner.released.get(id) {
            return r.clone();
        }
        inner.held_calls.push(call.clone());
        inner.held += 1;
    }
    let _guard = HeldGuard { shared, call };
    shared.holds_changed();
    let mut stop = shared.shutdown.clone();
    loop {
        if let Some(r) = shared.lock().released.get(id).cloned() {
            return r;
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Release::Proceed;
                }
            }
            _ = stop.wait_for(|v| *v) => {
                return Release::Fail {
                    code: "ServiceUnavailable".to_owned(),
                    http_status: 503,
                };
            }
        }
    }
}

/// What an injected fault does before the operation runs: it waits (latency, hold), ends
/// the call with its error (error, timeout, a hold released to fail), or lets the operation
/// run and returns the error that replaces its answer (`after_apply`, a lost answer).
pub(super) async fn before_operation(
    shared: &Shared,
    f: &Fault,
    product: &str,
    action: &str,
) -> Result<Option<FaultKind>, ApiError> {
    match &f.kind {
        FaultKind::Latency { millis } => {
            hold(shared, Duration::from_millis(*millis)).await;
            Ok(None)
        }
        FaultKind::Hold { id } => match wait_for_release(shared, id, product, action).await {
            Release::Proceed => Ok(None),
            Release::Fail { code, http_status } => Err(fault_error(&FaultKind::Error {
                code,
                http_status,
                message: None,
            })),
            Release::LoseAnswer { code, http_status } => Ok(Some(FaultKind::Error {
                code,
                http_status,
                message: None,
            })),
        },
        kind if f.after_apply => Ok(Some(kind.clone())),
        FaultKind::Timeout => {
            hold(shared, shared.config.timeout_hold).await;
            Err(fault_error(&f.kind))
        }
        kind @ FaultKind::Error { .. } => Err(fault_error(kind)),
    }
}

/// Releases hold `id`: its held calls end as `release` says, its fault rules are removed, and
/// a call that still reaches it proceeds the same way.
pub(crate) fn release_hold(shared: &Shared, id: &str, release: Release) {
    {
        let mut inner = shared.lock();
        inner.released.insert(id.to_owned(), release);
        inner
            .faults
            .retain(|f| !matches!(&f.kind, FaultKind::Hold { id: h } if h == id));
    }
    shared.holds_changed();
}
