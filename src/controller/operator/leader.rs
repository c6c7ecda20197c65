//! Leader election on a `coordination.k8s.io/v1` Lease, implemented on the Lease API directly.
//!
//! The algorithm follows client-go's `leaderelection` package:
//!
//! * A candidate takes the Lease only when it is free (no holder) or when the holder has not
//!   renewed it for `lease_duration`. Expiry is judged by the candidate's **own** clock: it
//!   remembers when it first saw the current `(holder, renewTime, resourceVersion)` and waits a
//!   full `lease_duration` from then, so clock skew between replicas does not matter.
//! * Every write is an update with the read `resourceVersion` (optimistic concurrency), so two
//!   candidates can never both win the same round: one of them gets `409 Conflict`.
//! * The leader renews every `retry_period`. If it cannot renew for `renew_deadline`
//!   (< `lease_duration`), it gives up leadership **before** any other replica may take over,
//!   and the operator stops all controllers at once. So two replicas never act at the same time.
//! * On graceful shutdown the leader releases the Lease (empty holder) so a standby takes over
//!   without waiting for expiry.
//!
//! ## Why not a library (weighed for kube 5, December 2026)
//!
//! * **kube-runtime 5.0.0** has no leader election: the crate has no Lease code, and the upstream
//!   request (kube-rs/kube#485) is still open.
//! * **`kube-leader-election`** (newest 0.44.0) depends on kube 4: its `LeaseLock::new` takes a
//!   kube 4 `Client`, so it cannot run on our kube 5 client without a second kube stack. By its
//!   own README it judges expiry by timestamps (open to clock skew between nodes) and has no
//!   fencing, i.e. two replicas may lead for a while.
//! * **`kube-lease-manager`** (0.13.1) does support kube 5 and k8s-openapi 0.29, but it is weaker
//!   on the two properties the runtime relies on:
//!   - it judges expiry as the holder's `renewTime` + duration against the candidate's wall
//!     clock, and a candidate that finds a lease expired clears it with a strategic-merge patch
//!     that carries no `resourceVersion`: clock skew beyond its `grace` lets a standby clear and
//!     take a lease the leader is still renewing. We time expiry on the candidate's monotonic
//!     clock from when it first saw the record, which skew cannot affect, and every write is an
//!     update with the read `resourceVersion`, so a stale view loses with `409 Conflict`;
//!   - it has no renew deadline: a leader that cannot reach the API server gets errors back and
//!     must decide itself when to stop; [`LeaderElector::hold`] returns `false` no later than
//!     `renew_deadline` after the last successful renew was sent, before any standby may take
//!     over, and the operator then stops every controller at once.
//!
//!   It also needs the `patch` verb on Leases (the chart's RBAC, which `tests/chart_rbac.rs`
//!   checks against the calls made, would change), brings about 2,700 lines (with its tests)
//!   and a second `rand` major version for the ~200 lines of code here, and panics on bad
//!   parameters (`LeaseParams::new`) and on an overflowing `renewTime` + duration read from the
//!   cluster, which our rules forbid.
//!
//! So this module stays until kube-runtime ships lease support with client-go's semantics. Its
//! behaviour is covered by `tests/rds_operator_runtime.rs` (only the leader acts and a standby
//! takes over; the leader steps down when it cannot renew).

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

/// Leader election settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// This replica's identity (pod name), written as `holderIdentity`.
    pub identity: String,
    /// How long a non-renewed lease stays valid.
    pub lease_duration: Duration,
    /// The leader gives up if it could not renew for this long (must be < `lease_duration`).
    pub renew_deadline: Duration,
    /// Interval between acquire attempts and renewals.
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// Production defaults (15 s / 10 s / 2 s, as client-go).
    pub fn new(
        namespace: impl Into<String>,
        lease_name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        LeaderElectionConfig {
            namespace: namespace.into(),
            lease_name: lease_name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// What the candidate saw the last time it looked at someone else's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observed {
    key: (Option<String>, Option<String>, Option<String>),
    at: Instant,
}

/// Outcome of one acquire/renew attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// We hold the lease.
    Held,
    /// Someone else holds a valid lease.
    HeldByOther,
    /// Lost a write race (409); try again next period.
    Conflict,
}

/// A leader-election participant.
#[derive(Debug)]
pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaderElectionConfig,
    observed: Option<Observed>,
    /// When the last successful acquire/renew request was *sent* (conservative: the server
    /// wrote the lease after this instant, so others see it expire after it plus the duration).
    last_held: Option<Instant>,
}

fn lease_key(lease: &Lease) -> (Option<String>, Option<String>, Option<String>) {
    let spec = lease.spec.as_ref();
    (
        spec.and_then(|s| s.holder_identity.clone()),
        spec.and_then(|s| s.renew_time.as_ref().map(|t| t.0.to_string())),
        lease.metadata.resource_version.clone(),
    )
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

impl LeaderElector {
    /// A participant for `cfg`.
    pub fn new(client: Client, mut cfg: LeaderElectionConfig) -> Self {
        if cfg.renew_deadline >= cfg.lease_duration {
            let fixed = cfg.lease_duration.mul_f64(2.0 / 3.0);
            tracing::warn!(
                ?fixed,
                "leader election: renew deadline must be shorter than the lease duration"
            );
            cfg.renew_deadline = fixed;
        }
        LeaderElector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
            last_held: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LeaderElectionConfig {
        &self.cfg
    }

    fn my_spec(&self, previous: Option<&LeaseSpec>, now: jiff::Timestamp) -> LeaseSpec {
        let held_by_me = previous
            .and_then(|s| s.holder_identity.as_deref())
            .is_some_and(|h| h == self.cfg.identity);
        let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(secs(self.cfg.lease_duration)),
            acquire_time: if held_by_me {
                previous.and_then(|s| s.acquire_time.clone())
            } else {
                Some(MicroTime(now))
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if held_by_me || previous.is_none() {
                transitions
            } else {
                transitions.saturating_add(1)
            }),
            ..LeaseSpec::default()
        }
    }

    /// One acquire-or-renew round.
    pub async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let sent = Instant::now();
        let result = self.acquire_or_renew_once().await;
        if matches!(result, Ok(Attempt::Held)) {
            self.last_held = Some(sent);
        }
        result
    }

    async fn acquire_or_renew_once(&mut self) -> Result<Attempt, kube::Error> {
        let now = jiff::Timestamp::now();
        let current = match self.api.get(&self.cfg.lease_name).await {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.cfg.lease_name.clone()),
                        namespace: Some(self.cfg.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.my_spec(None, now)),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(Attempt::Held),
                    Err(e) if is_conflict(&e) => Ok(Attempt::Conflict),
                    Err(e) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let mine = holder.as_deref() == Some(self.cfg.identity.as_str());
        if !mine && holder.is_some() {
            let key = lease_key(&current);
            let at = match &self.observed {
                Some(o) if o.key == key => o.at,
                _ => {
                    self.observed = Some(Observed {
                        key,
                        at: Instant::now(),
                    });
                    return Ok(Attempt::HeldByOther);
                }
            };
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs)
                .unwrap_or(self.cfg.lease_duration);
            if at.elapsed() < duration {
                return Ok(Attempt::HeldByOther);
            }
            tracing::info!(
                previous = holder.as_deref().unwrap_or_default(),
                "lease expired, taking over"
            );
        }
        let mut updated = current.clone();
        updated.spec = Some(self.my_spec(Some(&spec), now));
        match self
            .api
            .replace(&self.cfg.lease_name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(Attempt::Held),
            Err(e) if is_conflict(&e) => Ok(Attempt::Conflict),
            Err(e) => Err(e),
        }
    }

    /// Waits until this replica holds the lease. Returns `false` when `cancel` fired first.
    pub async fn acquire(&mut self, cancel: &CancellationToken) -> bool {
        let mut logged_waiting = false;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Held) => {
                    tracing::info!(
                        lease = %self.cfg.lease_name,
                        namespace = %self.cfg.namespace,
                        identity = %self.cfg.identity,
                        "became leader"
                    );
                    return true;
                }
                Ok(_) => {
                    if !logged_waiting {
                        tracing::info!(
                            lease = %self.cfg.lease_name,
                            namespace = %self.cfg.namespace,
                            "another replica is leader, standing by"
                        );
                        logged_waiting = true;
                    }
                }
                Err(e) => tracing::warn!(
                    error = %crate::controller::reconcile::error::error_chain(&e),
                    "leader election: lease request failed"
                ),
            }
            tokio::select! {
                () = cancel.cancelled() => return false,
                () = tokio::time::sleep(self.cfg.retry_period) => {}
            }
        }
    }

    /// Keeps renewing the lease until `cancel` fires (returns `true`) or leadership is lost
    /// (returns `false`; the caller must stop acting immediately).
    ///
    /// Leadership is given up no later than `renew_deadline` after the last successful renew
    /// request was sent (every attempt is bounded by the remaining budget), which is before any
    /// standby can consider the lease expired.
    pub async fn hold(&mut self, cancel: &CancellationToken) -> bool {
        loop {
            let last_renew = self.last_held.unwrap_or_else(Instant::now);
            let budget = self.cfg.renew_deadline.saturating_sub(last_renew.elapsed());
            tokio::select! {
                () = cancel.cancelled() => return true,
                () = tokio::time::sleep(self.cfg.retry_period.min(budget)) => {}
            }
            let budget = self.cfg.renew_deadline.saturating_sub(last_renew.elapsed());
            let attempt = tokio::time::timeout(budget, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(Attempt::Held)) => {}
                Ok(Ok(Attempt::HeldByOther)) => {
                    tracing::error!(lease = %self.cfg.lease_name, "lease taken by another replica");
                    return false;
                }
                Ok(Ok(Attempt::Conflict)) => {
                    tracing::warn!("leader election: conflict while renewing, retrying");
                }
                Ok(Err(e)) => tracing::warn!(
                    error = %crate::controller::reconcile::error::error_chain(&e),
                    "leader election: renew failed"
                ),
                Err(_) => tracing::warn!("leader election: renew timed out"),
            }
            let last_renew = self.last_held.unwrap_or(last_renew);
            if last_renew.elapsed() >= self.cfg.renew_deadline {
                tracing::error!(
                    lease = %self.cfg.lease_name,
                    "could not renew the lease within the renew deadline, giving up leadership"
                );
                return false;
            }
        }
    }

    /// Releases the lease if we hold it, so a standby can take over at once.
    pub async fn release(&self) {
        let Ok(mut lease) = self.api.get(&self.cfg.lease_name).await else {
            return;
        };
        let mine = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.cfg.identity.as_str());
        if !mine {
            return;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        }
        match self
            .api
            .replace(&self.cfg.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.cfg.lease_name, "released leadership"),
            Err(e) => tracing::warn!(
                error = %crate::controller::reconcile::error::error_chain(&e),
                "failed to release the lease"
            ),
        }
    }
}
