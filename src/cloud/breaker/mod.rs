//! Per-credential circuit breaker: a credential that Alibaba Cloud refuses (unknown or disabled
//! AccessKey, wrong secret, bad or expired STS token, `Forbidden.RAM`) is not sent again by
//! every object that uses it.
//!
//! States, per credential fingerprint:
//!
//! * **closed** (no entry): calls go out.
//! * **open**: an authentication failure was seen; calls fail at once with
//!   [`ErrorKind::CredentialsRefused`](super::ErrorKind::CredentialsRefused) (name
//!   `CloudCredentialsRefused`), without reaching the cloud, until the cool-down ends. The
//!   cool-down starts at [`BreakerSettings::base_cooldown`] and doubles with every failed probe
//!   up to [`BreakerSettings::max_cooldown`].
//! * **half-open**: the cool-down is over; exactly one call (the probe) goes out, the others
//!   still fail fast. The probe's authentication failure opens the breaker again with twice
//!   the cool-down; any answer that proves the credential was accepted (success, or an API
//!   error that is not an authentication failure) closes it. A probe that ends without an
//!   answer (timeout, connection error, cancelled) frees the slot for the next call.
//!
//! The key is a SHA-256 fingerprint of the AccessKey id, secret and token as resolved for the
//! call, kept in memory only: a rotated Secret (new id, secret or token) is a different key and
//! is never held back by its predecessor's failures. The fingerprint is never logged or
//! exported; metrics and messages use [`credential_label`] (a short hash of the AccessKey id,
//! or `default-chain`).
//!
//! An entry whose cool-down ended more than `max_cooldown` ago without any call is forgotten
//! (the credential is no longer used, e.g. it was replaced in its Secret), so the
//! `credential_breaker_open` gauge falls back to 0 after a rotation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::credentials::{CredentialSource, Credentials};
use super::error::CloudError;
use super::metrics::CloudMetrics;
use super::time::TimeSource;

/// Cool-downs of the breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Turn the breaker off (every call goes out).
    pub enabled: bool,
    /// Cool-down after the first authentication failure.
    pub base_cooldown: Duration,
    /// Longest cool-down (the doubling stops here).
    pub max_cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            enabled: true,
            base_cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(600),
        }
    }
}

/// A credential's identity for the breaker: SHA-256 of id, secret and token. `Debug` does not
/// show it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Fingerprint([u8; 32]);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprint(..)")
    }
}

impl Fingerprint {
    /// The fingerprint of resolved credentials (values trimmed as they are sent).
    pub(crate) fn of(creds: &Credentials) -> Self {
        let mut h = Sha256::new();
        h.update(b"aliyun-backup-operator/credential\0");
        h.update(creds.access_key_id.trim().as_bytes());
        h.update([0]);
        h.update(creds.access_key_secret.expose().trim().as_bytes());
        h.update([0]);
        if let Some(t) = &creds.security_token {
            h.update(t.expose().trim().as_bytes());
        }
        Fingerprint(h.finalize().into())
    }
}

/// The label of the operator's own credentials (the default chain).
pub(crate) const DEFAULT_CHAIN_LABEL: &str = "default-chain";

/// The non-secret name of a credential in metrics, logs and messages: `ak-` and the first 8
/// hex digits of SHA-256 of the AccessKey id for an explicit key pair (compute it with
/// `printf %s "$ID" | sha256sum | cut -c1-8`), `default-chain` for the operator's own
/// credentials.
pub fn credential_label(source: &CredentialSource) -> String {
    match source {
        CredentialSource::Static(s) => access_key_label(&s.access_key_id),
        CredentialSource::Default => DEFAULT_CHAIN_LABEL.to_string(),
    }
}

fn access_key_label(access_key_id: &str) -> String {
    let digest = Sha256::digest(access_key_id.trim().as_bytes());
    format!("ak-{}", &hex::encode(digest)[..8])
}

/// What the breaker knows about a credential that was refused (see
/// [`super::CloudProvider::credential_refusal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRefusal {
    /// The credential's label ([`credential_label`]).
    pub credential: String,
    /// The Alibaba error code that tripped the breaker (e.g. `InvalidAccessKeyId.NotFound`).
    pub code: String,
    /// How long calls are still held back (zero: the next call is let through as a probe).
    pub retry_in: Duration,
    /// Consecutive refusals (1 after the first trip; each failed probe adds one).
    pub trips: u32,
}

/// The error of a call held back by an open breaker (kind
/// [`ErrorKind::CredentialsRefused`](super::ErrorKind::CredentialsRefused)). Names the
/// credential's label and the code, never the key.
pub(crate) fn refused_error(
    product: super::Product,
    action: &str,
    refusal: &CredentialRefusal,
) -> CloudError {
    let when = if refusal.retry_in.is_zero() {
        "another call is trying it now".to_string()
    } else {
        format!(
            "the next call tries it in {}s",
            refusal.retry_in.as_secs().max(1)
        )
    };
    CloudError::new(
        product,
        action,
        super::ErrorKind::CredentialsRefused,
        format!(
            "not sent: Alibaba Cloud refused credential {} with {} ({} time(s) in a row) and \
             calls with it are held back; {when}. Fix the AccessKey in the credentials Secret \
             (a changed Secret is used at once) or the RAM policy",
            refusal.credential, refusal.code, refusal.trips
        ),
    )
    .with_retry_after(Some(refusal.retry_in))
}

#[derive(Debug)]
struct Entry {
    label: String,
    code: String,
    trips: u32,
    open_until: Duration,
    probing: bool,
}

impl Entry {
    /// What is known about the refusal at `now`.
    fn refusal(&self, now: Duration) -> CredentialRefusal {
        CredentialRefusal {
            credential: self.label.clone(),
            code: self.code.clone(),
            retry_in: self.open_until.saturating_sub(now),
            trips: self.trips,
        }
    }
}

struct Inner {
    settings: BreakerSettings,
    time: Arc<dyn TimeSource>,
    metrics: CloudMetrics,
    entries: Mutex<HashMap<Fingerprint, Entry>>,
    /// Counts the breakers that closed (a refused credential accepted again), so that the
    /// objects held back by one are looked at again at once ([`Breakers::recoveries`]).
    recovered: tokio::sync::watch::Sender<u64>,
}

/// The breakers of one provider (all products share them: a refused key is refused by all).
#[derive(Debug, Clone)]
pub(crate) struct Breakers {
    inner: Arc<Inner>,
}

/// Permission to send one call. Dropping a probe permit without [`Breakers::record`] (the
/// call was cancelled) frees the probe slot.
#[derive(Debug)]
pub(crate) struct Permit {
    inner: Option<Arc<Inner>>,
    fingerprint: Fingerprint,
    probe: bool,
}

impl Permit {
    /// A permit for a credential the breaker holds nothing against (not a probe).
    fn unlimited(fingerprint: Fingerprint) -> Self {
        Permit {
            inner: None,
            fingerprint,
            probe: false,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.probe
            && let Some(inner) = self.inner.take()
        {
            let mut map = inner.lock();
            if let Some(e) = map.get_mut(&self.fingerprint) {
                e.probing = false;
            }
        }
    }
}

/// How a call that was let through ended, for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome<'a> {
    /// The service refused the credential (the code).
    Refused(&'a str),
    /// The service accepted the credential (success, or an error about something else).
    Accepted,
    /// No answer (timeout, transport, undecodable body).
    Unknown,
}

impl<'a> Outcome<'a> {
    /// Classifies a call's result.
    pub(crate) fn of<T>(result: &'a Result<T, CloudError>) -> Self {
        match result {
            Ok(_) => Outcome::Accepted,
            Err(e) => match e.kind {
                super::ErrorKind::Api => match e.code() {
                    Some(code) if e.is_authentication_failure() => Outcome::Refused(code),
                    _ => Outcome::Accepted,
                },
                _ => Outcome::Unknown,
            },
        }
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breakers")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Fingerprint, Entry>> {
        // The map is never left inconsistent, so a poisoned lock is safe to reuse.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets entries unused for `max_cooldown` after their cool-down ended.
    fn sweep(&self, map: &mut HashMap<Fingerprint, Entry>, now: Duration) {
        let stale = self.settings.max_cooldown;
        map.retain(|_, e| e.probing || now < e.open_until.saturating_add(stale));
    }

    /// Sets the open-breaker gauge of `label` to the number of entries with that label.
    fn publish(&self, map: &HashMap<Fingerprint, Entry>, labels: &[String]) {
        for label in labels {
            let n = map.values().filter(|e| &e.label == label).count();
            self.metrics.set_breaker_open(label, n as i64);
        }
    }
}

impl Breakers {
    pub(crate) fn new(
        settings: BreakerSettings,
        time: Arc<dyn TimeSource>,
        metrics: CloudMetrics,
    ) -> Self {
        Breakers {
            inner: Arc::new(Inner {
                settings,
                time,
                metrics,
                entries: Mutex::new(HashMap::new()),
                recovered: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    fn cooldown(&self, trips: u32) -> Duration {
        let s = &self.inner.settings;
        let factor = 1u32 << trips.saturating_sub(1).min(20);
        s.base_cooldown.saturating_mul(factor).min(s.max_cooldown)
    }

    /// Asks to send one call with the credential `fp`. `Err` carries what is known about the
    /// refusal (the call must not be sent).
    pub(crate) fn admit(&self, fp: Fingerprint) -> Result<Permit, CredentialRefusal> {
        let inner = &self.inner;
        if !inner.settings.enabled {
            return Ok(Permit::unlimited(fp));
        }
        let now = inner.time.now();
        let mut map = inner.lock();
        let before: Vec<String> = map.values().map(|e| e.label.clone()).collect();
        inner.sweep(&mut map, now);
        if map.len() != before.len() {
            inner.publish(&map, &before);
        }
        let Some(e) = map.get_mut(&fp) else {
            return Ok(Permit::unlimited(fp));
        };
        if now < e.open_until || e.probing {
            return Err(e.refusal(now));
        }
        e.probing = true;
        Ok(Permit {
            inner: Some(Arc::clone(inner)),
            fingerprint: fp,
            probe: true,
        })
    }

    /// Records how the call of `permit` ended. `label` names the credential (for a new entry).
    pub(crate) fn record(&self, mut permit: Permit, label: &str, outcome: Outcome<'_>) {
        let inner = &self.inner;
        if !inner.settings.enabled {
            return;
        }
        // Recorded here; the permit's Drop must not touch the entry again.
        let probe = permit.probe;
        permit.inner = None;
        let fp = permit.fingerprint;
        let now = inner.time.now();
        let mut map = inner.lock();
        match outcome {
            Outcome::Accepted => {
                if let Some(e) = map.remove(&fp) {
                    tracing::info!(
                        credential = %e.label,
                        "Alibaba Cloud accepts the credential again; calls with it resume"
                    );
                    inner.publish(&map, &[e.label]);
                    inner.recovered.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
            Outcome::Unknown => {
                if probe && let Some(e) = map.get_mut(&fp) {
                    e.probing = false;
                }
            }
            Outcome::Refused(code) => {
                let trips = match map.get(&fp) {
                    // A probe failed: twice the cool-down.
                    Some(e) if probe => e.trips.saturating_add(1),
                    // Another call in flight already tripped the breaker.
                    Some(_) => return,
                    None => 1,
                };
                let cooldown = self.cooldown(trips);
                tracing::warn!(
                    credential = %label,
                    code,
                    trips,
                    cooldown_s = cooldown.as_secs(),
                    "Alibaba Cloud refuses the credential; calls with it are held back"
                );
                map.insert(
                    fp,
                    Entry {
                        label: label.to_string(),
                        code: code.to_string(),
                        trips,
                        open_until: now.saturating_add(cooldown),
                        probing: false,
                    },
                );
                inner.publish(&map, &[label.to_string()]);
            }
        }
    }

    /// Changes each time a breaker closes (a credential it held back was accepted again).
    pub(crate) fn recoveries(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.recovered.subscribe()
    }

    /// The refusal on record for `fp`, if any (open or half-open).
    pub(crate) fn refusal(&self, fp: Fingerprint) -> Option<CredentialRefusal> {
        let now = self.inner.time.now();
        let map = self.inner.lock();
        map.get(&fp).map(|e| e.refusal(now))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
