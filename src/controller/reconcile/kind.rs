//! What a managed kind is: the traits every kind implements so that the shared runtime
//! (`runtime`), the reconcile cycle (`work`) and the metrics are generic, plus the pieces every
//! kind's reconcile needs the same way (the cloud target). See `docs/architecture.md`.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::Controller;
use kube::runtime::events::EventType;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cloud::Target;
use crate::controller::operator::context::Context;
use crate::controller::reconcile::error::{Error, Result};
use crate::controller::reconcile::policy::credentials::{self, CredentialsProblem};
use crate::crd::{PendingCreate, create_token};

/// A custom resource kind reconciled by this operator.
pub trait ManagedResource:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// Kind name, used as the `kind` metrics label and in logs.
    const KIND: &'static str;

    /// Name of the `credentialsRef` Secret in the object's namespace, if any.
    fn credentials_secret(&self) -> Option<&str>;

    /// Names of every Secret in the object's namespace whose change requeues the object: the
    /// `credentialsRef` Secret, plus any other Secret the kind reads (a `DbsBackupPlan`'s
    /// source password).
    fn watched_secrets(&self) -> Vec<&str> {
        self.credentials_secret().into_iter().collect()
    }

    /// When the object's last successful backup finished, if one has.
    fn last_success(&self) -> Option<jiff::Timestamp>;

    /// The Alibaba Cloud region the object's cloud calls go to (`spec.region`).
    fn region(&self) -> &str;

    /// `spec.rpo`, on kinds that have one.
    fn rpo(&self) -> Option<&str> {
        None
    }

    /// When the object runs next (`status.nextScheduleTime` of a schedule), on kinds that run
    /// on a timetable (the RPO gauges' `next_schedule`).
    fn next_run(&self) -> Option<jiff::Timestamp> {
        None
    }

    /// `spec.deletionPolicy`, on kinds that have one (unset: the namespace's or the operator's
    /// default applies, see [`crate::controller::reconcile::policy`]).
    fn deletion_policy(&self) -> Option<crate::crd::DeletionPolicy> {
        None
    }

    /// `spec.managementPolicy` is `ObserveOnly`: the operator never changes or deletes the
    /// cloud object, whatever the deletion policy says.
    fn observe_only(&self) -> bool {
        false
    }

    /// `spec.timeout`, on kinds that have one (a one-shot backup's deadline from its creation).
    fn timeout(&self) -> Option<&str> {
        None
    }
}

/// The status of a kind reconciled through [`Work`](crate::controller::reconcile::work::Work).
pub trait TrackedStatus: Clone + Default + Serialize + Send + Sync {
    /// The kind's phase enum.
    type Phase: Copy + PartialEq + Default + Send + Sync;
    /// `status.phase`.
    fn phase(&self) -> Option<Self::Phase>;
    /// `status.phase`, for writing.
    fn phase_mut(&mut self) -> &mut Option<Self::Phase>;
    /// Name of a phase (the metrics label and, by default, the event action).
    fn phase_name(phase: Self::Phase) -> &'static str;
    /// The action of the Event a change of the conditions publishes in `phase` (default: the
    /// phase's name; a schedule's events all say `Schedule`).
    fn event_action(phase: Self::Phase) -> &'static str {
        Self::phase_name(phase)
    }
    /// Whether a status without a phase gets the phase's default (`Pending`) when a reconcile
    /// starts. `false` for a kind whose phase only its own decision sets (a schedule is
    /// `Active` or `Suspended` once its spec is valid, and has no phase before).
    const DEFAULT_PHASE: bool = true;
    /// `status.conditions`.
    fn conditions(&self) -> &[Condition];
    /// `status.conditions`, for writing.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    /// `status.observedGeneration`.
    fn observed_generation_mut(&mut self) -> &mut Option<i64>;
    /// `status.lastRequestId`, for writing (`None`: the kind makes no cloud calls itself).
    fn last_request_id_mut(&mut self) -> Option<&mut Option<String>> {
        None
    }
    /// The phase of an object that can no longer succeed as it is (`None`: the kind has no
    /// such phase).
    const FAILED: Option<Self::Phase> = None;
    /// The phase of an object whose cleanup is under way (`None`: the kind has no such phase).
    const DELETING: Option<Self::Phase> = None;
    /// `status.pendingCreate`, for writing (`None`: the kind makes no cloud object).
    fn pending_create_mut(&mut self) -> Option<&mut Option<crate::crd::PendingCreate>> {
        None
    }
    /// `status.deletionPolicy` and `status.deletionPolicySource`, for writing (`None`: the
    /// kind has no deletion policy — a restore never deletes what it restored).
    fn deletion_policy_mut(
        &mut self,
    ) -> Option<(&mut Option<crate::crd::DeletionPolicy>, &mut Option<String>)>;
    /// The conditions of an object that rests (a terminal or steady phase whose reconcile only
    /// rewrites status fields), derived from the status alone; used when such an object
    /// resumes after a pause. `None` for an object in flight (its next act sets them).
    /// Clears the fields that only report the progress of running work (percent, bytes, the
    /// cloud's sub-state): a change of nothing else (and of no condition but its message) is
    /// written at most once per [`Timing::progress_interval`](crate::controller::reconcile::backoff::Timing).
    fn clear_progress(&mut self) {}
    fn settled_health(&self) -> Option<crate::controller::reconcile::conditions::Health> {
        None
    }
    /// `status.completionTime`, for writing, on kinds that have one (one-shot backups).
    fn completion_time_mut(
        &mut self,
    ) -> Option<&mut Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>> {
        None
    }
}

/// What a paused object still does besides taking its `Paused` conditions
/// ([`Tracked::while_paused`]).
#[derive(Debug, Default)]
pub struct WhilePaused {
    /// Events to publish (type, reason, action, message), before the status is written.
    pub events: Vec<(EventType, &'static str, &'static str, String)>,
    /// Look again after this long (a verdict that changes with time); `None`: only when the
    /// object changes (removing the pause is a change).
    pub recheck: Option<std::time::Duration>,
}

/// A kind reconciled through [`Work`](super::work::Work).
pub trait Tracked: ManagedResource {
    /// The kind's status type.
    type Status: TrackedStatus;
    /// `.status`.
    fn status(&self) -> Option<&Self::Status>;
    /// Whether the object's work is over for good with `status` (a one-shot backup that has
    /// ended, per the kind's plan): it is then looked at again only when it changes, never
    /// on a timer. Kinds with ongoing work (DBS plans) keep their periodic resync (the
    /// default).
    fn ended(&self, status: &Self::Status) -> bool {
        let _ = status;
        false
    }
    /// When the object's work must have ended (`spec.timeout` of a one-shot backup), if it
    /// has a deadline: every requeue and backoff is clamped to it
    /// ([`crate::controller::operator::runtime::requeue`]), so the object is looked at when it passes.
    fn deadline(&self) -> Option<jiff::Timestamp> {
        crate::controller::reconcile::policy::object_deadline(
            self.timeout(),
            self.observe_only(),
            self.meta(),
        )
    }
    /// Whether the kind keeps time on `ctx.clock` (the schedules): its conditions are stamped
    /// with the clock's time, its requeues are the instants it asks for (not jittered), what it
    /// sees is written at once (no spacing of progress-only changes), and no reconcile of it is
    /// held back by the [`RequeueGate`](crate::controller::operator::context::RequeueGate), so that a change of an
    /// object it owns ([`Tracked::watch_owned`]) wakes it at once. `false`: the runtime paces
    /// the kind.
    const KEEPS_TIME: bool = false;
    /// Adds watches of the objects the kind owns to its controller (`controller` watches
    /// `namespace`, or all namespaces for `None`), so that a change of one wakes its owner.
    /// None by default; a schedule watches its children.
    fn watch_owned(
        controller: Controller<Self>,
        client: &Client,
        namespace: Option<&str>,
    ) -> Controller<Self> {
        let _ = (client, namespace);
        controller
    }
    /// What a paused object still does, at `now` (`work::reconcile`): edits to `status`
    /// (written with its `Paused` conditions), events, and when to look again. Nothing by
    /// default; a schedule still judges its RPO, which runs out whether it is paused or not.
    fn while_paused(
        &self,
        ctx: &Context,
        status: &mut Self::Status,
        now: jiff::Timestamp,
    ) -> WhilePaused {
        let _ = (ctx, status, now);
        WhilePaused::default()
    }
}

/// The accessors every [`TrackedStatus`] has, in an `impl TrackedStatus` block: `phase`,
/// `phase_mut`, `phase_name` (the phase's `as_str`), `conditions`, `conditions_mut` and
/// `observed_generation_mut`, for a status with the fields `phase: Option<$phase>`,
/// `conditions` and `observed_generation`.
macro_rules! status_core {
    ($phase:ty) => {
        fn phase(&self) -> Option<$phase> {
            self.phase
        }
        fn phase_mut(&mut self) -> &mut Option<$phase> {
            &mut self.phase
        }
        fn phase_name(phase: $phase) -> &'static str {
            phase.as_str()
        }
        fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
            &self.conditions
        }
        fn conditions_mut(
            &mut self,
        ) -> &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
            &mut self.conditions
        }
        fn observed_generation_mut(&mut self) -> &mut Option<i64> {
            &mut self.observed_generation
        }
    };
}

pub(crate) use status_core;

/// Implements [`TrackedStatus`] and [`Tracked`] for a kind whose status has the common fields
/// (`phase`, `conditions`, `observedGeneration`, `lastRequestId`, `pendingCreate`) and the
/// phases `Failed` and `Deleting`:
/// `tracked!(Kind, Status, Phase, settled = fn[, completion_time = completion_time]
/// [, progress = [field, …]][, ended = fn])`, where `fn(&Status) -> Option<Health>` is
/// [`TrackedStatus::settled_health`], the `progress` fields are those
/// [`TrackedStatus::clear_progress`] clears and `ended` is [`Tracked::ended`]
/// (`fn(&Spec, &Status) -> bool`).
macro_rules! tracked {
    ($kind:ty, $status:ty, $phase:ident, settled = $settled:path
     $(, completion_time = $ct:ident)? $(, progress = [$($pf:ident),* $(,)?])?
     $(, ended = $ended:path)?) => {
        impl $crate::controller::reconcile::kind::TrackedStatus for $status {
            type Phase = $phase;
            const FAILED: Option<$phase> = Some($phase::Failed);
            const DELETING: Option<$phase> = Some($phase::Deleting);
            fn pending_create_mut(&mut self) -> Option<&mut Option<$crate::crd::PendingCreate>> {
                Some(&mut self.pending_create)
            }
            fn deletion_policy_mut(
                &mut self,
            ) -> Option<(
                &mut Option<$crate::crd::DeletionPolicy>,
                &mut Option<String>,
            )> {
                Some((&mut self.deletion_policy, &mut self.deletion_policy_source))
            }
            fn settled_health(&self) -> Option<$crate::controller::reconcile::conditions::Health> {
                $settled(self)
            }
            $(
            fn clear_progress(&mut self) {
                $(self.$pf = None;)*
            }
            )?
            $(
            fn completion_time_mut(
                &mut self,
            ) -> Option<&mut Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>> {
                Some(&mut self.$ct)
            }
            )?
            $crate::controller::reconcile::kind::status_core!($phase);
            fn last_request_id_mut(&mut self) -> Option<&mut Option<String>> {
                Some(&mut self.last_request_id)
            }
        }
        impl $crate::controller::reconcile::kind::Tracked for $kind {
            type Status = $status;
            fn status(&self) -> Option<&$status> {
                self.status.as_ref()
            }
            $(
                fn ended(&self, status: &$status) -> bool {
                    $ended(&self.spec, status)
                }
            )?
        }
    };
}

pub(crate) use tracked;

/// Implements [`ManagedResource`] for a one-shot backup kind (`RdsBackup`, `HbrBackupJob`):
/// `one_shot_backup!(Kind, "Kind", Phase)` for a spec with `region`, `credentialsRef`,
/// `deletionPolicy`, `managementPolicy` and `timeout`, whose last success is the
/// `completionTime` of the phase `Succeeded`.
macro_rules! one_shot_backup {
    ($kind:ty, $name:expr, $phase:ident) => {
        impl $crate::controller::reconcile::kind::ManagedResource for $kind {
            const KIND: &'static str = $name;

            fn credentials_secret(&self) -> Option<&str> {
                self.spec.credentials_ref.as_ref().map(|r| r.name.as_str())
            }

            fn last_success(&self) -> Option<jiff::Timestamp> {
                let st = self.status.as_ref()?;
                (st.phase == Some($phase::Succeeded))
                    .then(|| st.completion_time.as_ref().map(|t| t.0))
                    .flatten()
            }

            fn region(&self) -> &str {
                &self.spec.region
            }

            fn deletion_policy(&self) -> Option<$crate::crd::DeletionPolicy> {
                self.spec.deletion_policy
            }

            fn observe_only(&self) -> bool {
                self.spec.management_policy.is_observe_only()
            }

            fn timeout(&self) -> Option<&str> {
                self.spec.timeout.as_deref()
            }
        }
    };
}
pub(crate) use one_shot_backup;

/// The object's UID (every object read from the API server has one).
pub fn uid<K: Resource>(obj: &K) -> Result<String> {
    obj.meta()
        .uid
        .clone()
        .ok_or(Error::MissingObjectKey(".metadata.uid"))
}

/// A fresh create intent for `obj` ([`PendingCreate`]): the token of its UID and generation,
/// started now. The caller writes it to status and commits it before the create call.
pub fn new_intent<K: Resource>(obj: &K) -> Result<PendingCreate> {
    Ok(PendingCreate {
        token: create_token(&uid(obj)?, obj.meta().generation),
        started_at: Time(jiff::Timestamp::now()),
    })
}

/// Where an object's cloud calls go: its region and the credentials of its `credentialsRef`
/// (or the operator's default chain). `Ok(Err(problem))` when the Secret is missing or
/// unusable — a condition for the object, not an error of the reconcile.
pub async fn target<K: ManagedResource>(
    obj: &K,
    ctx: &Context,
) -> Result<std::result::Result<Target, CredentialsProblem>> {
    let ns = obj
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let creds = credentials::resolve(&ctx.client, &ns, obj.credentials_secret()).await?;
    Ok(creds.map(|credentials| Target {
        region: obj.region().to_string(),
        credentials,
    }))
}
