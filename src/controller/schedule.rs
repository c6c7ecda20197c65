//! The schedule controller, written once for both schedule kinds ([`BackupSchedule`]) over
//! their child kinds ([`ScheduledChild`]): `RdsBackupSchedule` → `RdsBackup`,
//! `HbrBackupSchedule` → `HbrBackupJob`. See `docs/architecture.md#schedules`.
//!
//! One reconcile: **load** (the schedule, its children listed fresh from the API server, the
//! time from `ctx.clock`) → **validate** (cron, time zone, durations; else
//! `Stalled/InvalidSpec`) → **plan** ([`plan::plan_slots`], [`plan::select_pruned`],
//! [`super::rpo::evaluate`], all pure) → **act** (delete replaced children, create due
//! children, delete pruned ones; an Event for each) → **status** (server-side apply, only when
//! changed). Children are created *before* the status records them and carry deterministic
//! names, so a crash in between finds the child (`AlreadyExists`, owned by this schedule) and
//! records it instead of making a second one.
//!
//! Deleting a schedule (finalizer `backup.aliyun.dev/cleanup`): `childrenDeletionPolicy:
//! Orphan` (default) removes the schedule's ownerReference from every child first, so they
//! stay (and so do their cloud backups); `Delete` deletes them, and each child then follows
//! its own `deletionPolicy`.

pub mod plan;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::events::EventType;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use self::plan::{ChildState, ChildView, RunKind, SlotInput, reasons};
use super::clock::Clock;
use super::conditions::{self, Health};
use super::context::Context;
use super::error::{Error, Result, error_chain};
use super::kind::ManagedResource;
use super::metrics::{ObjectSample, RpoSample};
use super::policy;
use super::rpo;
use super::runtime;
use super::status::write_status;
use crate::crd::{
    ANNOTATION_SCHEDULED_AT, ANNOTATION_TRIGGER, BackupScheduleSpec, BackupScheduleStatus,
    CONDITION_RPO_MET, ChildCounts, ChildrenDeletionPolicy, DeletionPolicy, HbrBackupJob,
    HbrBackupJobPhase, HbrBackupJobSpec, HbrBackupSchedule, LABEL_SCHEDULE, RdsBackup,
    RdsBackupPhase, RdsBackupSchedule, RdsBackupSpec, SchedulePhase, SkippedRun,
};

/// Longest wait before a schedule looks again (in the clock's time), whatever its next slot.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// A child kind a schedule makes.
pub trait ScheduledChild:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The child's spec (the schedule's `template.spec`).
    type Spec: Clone + Serialize + DeserializeOwned + Debug + Send + Sync + 'static;
    /// A new child.
    fn build(metadata: ObjectMeta, spec: Self::Spec) -> Self;
    /// Where it stands.
    fn state(&self) -> ChildState;
    /// When it finished successfully.
    fn succeeded_at(&self) -> Option<jiff::Timestamp>;
    /// `spec.deletionPolicy` of a child spec.
    fn deletion_policy(spec: &Self::Spec) -> Option<DeletionPolicy>;
    /// `spec.region` of a child spec.
    fn region(spec: &Self::Spec) -> &str;
}

impl ScheduledChild for RdsBackup {
    type Spec = RdsBackupSpec;
    fn build(metadata: ObjectMeta, spec: RdsBackupSpec) -> Self {
        RdsBackup {
            metadata,
            spec,
            status: None,
        }
    }
    fn state(&self) -> ChildState {
        match self.status.as_ref().and_then(|s| s.phase) {
            Some(RdsBackupPhase::Succeeded) => ChildState::Succeeded,
            Some(RdsBackupPhase::Failed) => ChildState::Failed,
            _ => ChildState::Running,
        }
    }
    fn succeeded_at(&self) -> Option<jiff::Timestamp> {
        self.last_success()
    }
    fn deletion_policy(spec: &RdsBackupSpec) -> Option<DeletionPolicy> {
        spec.deletion_policy
    }
    fn region(spec: &RdsBackupSpec) -> &str {
        &spec.region
    }
}

impl ScheduledChild for HbrBackupJob {
    type Spec = HbrBackupJobSpec;
    fn build(metadata: ObjectMeta, spec: HbrBackupJobSpec) -> Self {
        HbrBackupJob {
            metadata,
            spec,
            status: None,
        }
    }
    fn state(&self) -> ChildState {
        match self.status.as_ref().and_then(|s| s.phase) {
            Some(HbrBackupJobPhase::Succeeded) => ChildState::Succeeded,
            Some(
                HbrBackupJobPhase::Failed
                | HbrBackupJobPhase::Cancelled
                | HbrBackupJobPhase::PartiallySucceeded,
            ) => ChildState::Failed,
            _ => ChildState::Running,
        }
    }
    fn succeeded_at(&self) -> Option<jiff::Timestamp> {
        self.last_success()
    }
    fn deletion_policy(spec: &HbrBackupJobSpec) -> Option<DeletionPolicy> {
        spec.deletion_policy
    }
    fn region(spec: &HbrBackupJobSpec) -> &str {
        &spec.region
    }
}

/// A schedule kind.
pub trait BackupSchedule: ManagedResource {
    /// The kind it makes.
    type Child: ScheduledChild;
    /// The shared spec.
    fn schedule_spec(&self) -> &BackupScheduleSpec<<Self::Child as ScheduledChild>::Spec>;
    /// `.status`.
    fn schedule_status(&self) -> Option<&BackupScheduleStatus>;
}

macro_rules! schedule_kind {
    ($kind:ty, $child:ty, $name:literal) => {
        impl ManagedResource for $kind {
            const KIND: &'static str = $name;
            fn credentials_secret(&self) -> Option<&str> {
                // A schedule makes no cloud calls; its children read their own Secret.
                None
            }
            fn last_success(&self) -> Option<jiff::Timestamp> {
                self.status
                    .as_ref()
                    .and_then(|s| s.last_successful_time.as_ref())
                    .map(|t| t.0)
            }
            fn region(&self) -> &str {
                <$child as ScheduledChild>::region(&self.spec.schedule.template.spec)
            }
        }
        impl BackupSchedule for $kind {
            type Child = $child;
            fn schedule_spec(&self) -> &BackupScheduleSpec<<$child as ScheduledChild>::Spec> {
                &self.spec.schedule
            }
            fn schedule_status(&self) -> Option<&BackupScheduleStatus> {
                self.status.as_ref()
            }
        }
    };
}

schedule_kind!(RdsBackupSchedule, RdsBackup, "RdsBackupSchedule");
schedule_kind!(HbrBackupSchedule, HbrBackupJob, "HbrBackupSchedule");

fn rpo_sample<S: BackupSchedule>(s: &S) -> RpoSample {
    let spec = s.schedule_spec();
    let status = s.schedule_status();
    RpoSample {
        namespace: s.namespace().unwrap_or_default(),
        name: s.name_any(),
        rpo_seconds: spec
            .rpo
            .as_deref()
            .and_then(|r| rpo::parse_duration(r).ok())
            .map(|d| d.as_secs_f64()),
        rpo_met: status
            .and_then(|st| conditions::find(&st.conditions, CONDITION_RPO_MET))
            .map(|c| c.status == conditions::TRUE),
        next_schedule: status
            .and_then(|st| st.next_schedule_time.as_ref())
            .map(|t| t.0.as_millisecond() as f64 / 1000.0),
    }
}

fn object_sample<S: BackupSchedule>(s: &S) -> ObjectSample {
    let secs = |t: jiff::Timestamp| t.as_millisecond() as f64 / 1000.0;
    ObjectSample {
        namespace: s.namespace().unwrap_or_default(),
        name: s.name_any(),
        phase: s
            .schedule_status()
            .and_then(|st| st.phase)
            .map(SchedulePhase::as_str),
        last_success: s.last_success().map(secs),
        created: s.meta().creation_timestamp.as_ref().map(|t| secs(t.0)),
    }
}

/// The controller futures of schedule kind `S` (one per watched namespace, or one for all).
/// Each watches the schedules and the children they own.
pub fn controllers<S: BackupSchedule>(
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: &CancellationToken,
) -> Vec<BoxFuture<'static, ()>> {
    let scopes: Vec<Option<String>> = if ctx.namespaces.is_empty() {
        vec![None]
    } else {
        ctx.namespaces.iter().cloned().map(Some).collect()
    };
    scopes
        .into_iter()
        .map(|ns| {
            let client = ctx.client.clone();
            let (api, children): (Api<S>, Api<S::Child>) = match &ns {
                Some(ns) => (
                    Api::namespaced(client.clone(), ns),
                    Api::namespaced(client, ns),
                ),
                None => (Api::all(client.clone()), Api::all(client)),
            };
            // `--selector` limits the schedules like every other kind (their children are
            // watched unfiltered: they are found through their owner).
            let mut config = watcher::Config::default().any_semantic();
            if let Some(sel) = &ctx.selector {
                config = config.labels(sel);
            }
            let controller = Controller::new(api, config);
            let store = controller.store();
            let (objects, rpos) = (store.clone(), store.clone());
            ctx.metrics.add_object_source(S::KIND, move || {
                objects
                    .state()
                    .iter()
                    .map(|o| object_sample(o.as_ref()))
                    .collect()
            });
            ctx.metrics.add_rpo_source(S::KIND, move || {
                rpos.state().iter().map(|o| rpo_sample(o.as_ref())).collect()
            });
            let run = controller
                .owns(children, watcher::Config::default().any_semantic())
                .with_config(ControllerConfig::default().concurrency(concurrency))
                .graceful_shutdown_on(runtime::shutdown_future(shutdown.clone()))
                .run(
                    |obj, ctx| runtime::instrumented(obj, ctx, reconcile::<S>),
                    error_policy::<S>,
                    ctx.clone(),
                )
                .for_each(|res| async move {
                    if let Err(e) = res {
                        tracing::debug!(kind = S::KIND, error = %error_chain(&e), "controller event");
                    }
                });
            runtime::stop_before_ready(run, store, shutdown.clone()).boxed()
        })
        .collect()
}

async fn reconcile<S: BackupSchedule>(obj: Arc<S>, ctx: Arc<Context>) -> Result<Action> {
    if let Some(message) = policy::pause_reason(obj.as_ref(), &ctx.paused_namespaces) {
        return pause(obj.as_ref(), &ctx, message).await;
    }
    runtime::reconcile_with_finalizer(obj, ctx, apply::<S>, cleanup::<S>).await
}

/// A paused schedule makes, prunes and deletes nothing: only its `Paused` conditions are
/// written (`observedGeneration` stays), with an event when it becomes paused.
async fn pause<S: BackupSchedule>(obj: &S, ctx: &Context, message: String) -> Result<Action> {
    let ns = obj
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let api: Api<S> = Api::namespaced(ctx.client.clone(), &ns);
    let current = obj.schedule_status().cloned();
    let mut status = current.clone().unwrap_or_default();
    let was_paused = conditions::find(&status.conditions, conditions::PAUSED).is_some();
    let health = Health::paused(message.clone());
    let generation = obj.meta().generation;
    conditions::apply_health(&mut status.conditions, &health, generation, ctx.clock.now());
    write_status(&api, &obj.name_any(), current.as_ref(), &status).await?;
    if !was_paused {
        event(
            ctx,
            obj,
            EventType::Normal,
            conditions::PAUSED_REASON,
            message,
        )
        .await;
    }
    Ok(Action::await_change())
}

/// Like the other kinds' (`runtime::instrumented`), but a backoff runs on the schedule's clock.
fn error_policy<S: BackupSchedule>(obj: Arc<S>, err: &Error, ctx: Arc<Context>) -> Action {
    if let Error::Wait {
        after: Some(after), ..
    } = err.inner()
    {
        return Action::requeue(*after);
    }
    let delay = ctx
        .backoff
        .failure(&runtime::object_key(obj.as_ref()), &ctx.timing);
    Action::requeue(ctx.clock.real_delay(delay).max(Duration::from_millis(50)))
}

fn owner_ref<S: BackupSchedule>(obj: &S) -> Option<OwnerReference> {
    obj.controller_owner_ref(&())
}

fn owned_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .as_ref()
        .is_some_and(|refs| refs.iter().any(|r| r.uid == uid))
}

/// The schedule's children: labelled with its name and owned by its UID (children of an
/// earlier schedule of the same name, orphaned when it was deleted, are not its own).
async fn list_children<S: BackupSchedule>(obj: &S, api: &Api<S::Child>) -> Result<Vec<S::Child>> {
    let uid = obj.uid().ok_or(Error::MissingObjectKey(".metadata.uid"))?;
    let selector = format!(
        "{LABEL_SCHEDULE}={}",
        plan::schedule_label_value(&obj.name_any())
    );
    let list = api.list(&ListParams::default().labels(&selector)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|c| owned_by(c.meta(), &uid))
        .collect())
}

fn child_view<C: ScheduledChild>(c: &C, clock: &dyn Clock) -> ChildView {
    let at = c
        .annotations()
        .get(ANNOTATION_SCHEDULED_AT)
        .and_then(|v| v.parse::<jiff::Timestamp>().ok())
        .or_else(|| {
            c.meta()
                .creation_timestamp
                .as_ref()
                .map(|t| clock.map_wall(t.0))
        })
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ChildView {
        name: c.name_any(),
        at,
        state: c.state(),
    }
}

fn child_object<S: BackupSchedule>(obj: &S, name: &str, at: jiff::Timestamp) -> Result<S::Child> {
    let spec = obj.schedule_spec();
    let mut labels: BTreeMap<String, String> = spec
        .template
        .metadata
        .labels
        .iter()
        .filter(|(k, _)| !plan::is_tracking_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(
        LABEL_SCHEDULE.to_string(),
        plan::schedule_label_value(&obj.name_any()),
    );
    let mut annotations: BTreeMap<String, String> = spec
        .template
        .metadata
        .annotations
        .iter()
        .filter(|(k, _)| !plan::is_tracking_key(k) && k.as_str() != ANNOTATION_TRIGGER)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    annotations.insert(ANNOTATION_SCHEDULED_AT.to_string(), at.to_string());
    let meta = ObjectMeta {
        name: Some(name.to_string()),
        namespace: obj.namespace(),
        labels: Some(labels),
        annotations: Some(annotations),
        owner_references: Some(vec![
            owner_ref(obj).ok_or(Error::MissingObjectKey(".metadata.uid"))?,
        ]),
        ..ObjectMeta::default()
    };
    Ok(S::Child::build(meta, spec.template.spec.clone()))
}

/// Creates a child; `Ok(true)` when it exists now and is this schedule's (made now, or
/// before a crash), `Ok(false)` when the name is taken by an object the schedule does not own.
async fn create_child<S: BackupSchedule>(
    obj: &S,
    api: &Api<S::Child>,
    child: &S::Child,
) -> Result<bool> {
    match api.create(&PostParams::default(), child).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let uid = obj.uid().unwrap_or_default();
            let existing = api.get_opt(&child.name_any()).await?;
            Ok(existing.is_some_and(|c| owned_by(c.meta(), &uid)))
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete_child<C: ScheduledChild>(api: &Api<C>, name: &str) -> Result<()> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn event<S: BackupSchedule>(
    ctx: &Context,
    obj: &S,
    type_: EventType,
    reason: &str,
    note: String,
) {
    ctx.events
        .publish(&obj.object_ref(&()), type_, reason, "Schedule", note)
        .await;
}

fn to_duration(d: jiff::SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

async fn apply<S: BackupSchedule>(obj: Arc<S>, ctx: &Context, api: &Api<S>) -> Result<Action> {
    let obj = obj.as_ref();
    let name = obj.name_any();
    let ns = obj
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let children_api: Api<S::Child> = Api::namespaced(ctx.client.clone(), &ns);
    let spec = obj.schedule_spec();
    let now = ctx.clock.now();
    let generation = obj.meta().generation;
    let current = obj.schedule_status().cloned();
    let mut status = current.clone().unwrap_or_default();
    status.observed_generation = generation;

    // validate
    let (cron, rule, rpo) = match plan::validate(spec) {
        Ok(v) => (v.cron, v.rule, v.rpo),
        Err(e) => {
            let health = Health::stalled(reasons::INVALID_SPEC, e.0.clone());
            let was = current
                .as_ref()
                .and_then(|s| conditions::find(&s.conditions, conditions::STALLED))
                .is_some_and(|c| c.status == conditions::TRUE && c.message == e.0);
            conditions::apply_health(&mut status.conditions, &health, generation, now);
            status.next_schedule_time = None;
            write_status(api, &name, current.as_ref(), &status).await?;
            if !was {
                event(ctx, obj, EventType::Warning, reasons::INVALID_SPEC, e.0).await;
            }
            return Ok(Action::await_change());
        }
    };

    // load
    let mut children = list_children(obj, &children_api).await?;
    children.retain(|c| c.meta().deletion_timestamp.is_none());
    let clock = ctx.clock.as_ref();
    let mut views: Vec<ChildView> = children.iter().map(|c| child_view(c, clock)).collect();
    let active: Vec<String> = views
        .iter()
        .filter(|v| v.state == ChildState::Running)
        .map(|v| v.name.clone())
        .collect();

    // plan
    // Times written by the API server and the children are wall-clock times; the schedule
    // compares them with `now` on its clock's time line.
    let created = obj
        .meta()
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| clock.map_wall(t.0));
    let trigger = obj.annotations().get(ANNOTATION_TRIGGER).cloned();
    let input = SlotInput {
        name: &name,
        now,
        created,
        suspend: spec.suspend,
        run_on_create: spec.run_on_create,
        starting_deadline: spec
            .starting_deadline_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
        policy: spec.concurrency_policy,
        last_schedule: status.last_schedule_time.as_ref().map(|t| t.0),
        last_skipped: status.last_skipped.as_ref().map(|s| s.time.0),
        active: &active,
        trigger: trigger.as_deref(),
        last_trigger: status.last_trigger.as_deref(),
    };
    let slots = plan::plan_slots(&cron, &input);

    // act: replace, create, skip
    for victim in &slots.replace {
        delete_child(&children_api, victim).await?;
        views.retain(|v| &v.name != victim);
        event(
            ctx,
            obj,
            EventType::Normal,
            reasons::RUN_REPLACED,
            format!(
                "deleted running {} {victim} for a new slot (concurrencyPolicy Replace)",
                <S::Child as Resource>::kind(&())
            ),
        )
        .await;
    }
    for run in &slots.runs {
        let child = child_object(obj, &run.name, run.at)?;
        let ours = create_child(obj, &children_api, &child).await?;
        let child_kind = <S::Child as Resource>::kind(&());
        if ours {
            if !views.iter().any(|v| v.name == run.name) {
                views.push(ChildView {
                    name: run.name.clone(),
                    at: run.at,
                    state: ChildState::Running,
                });
            }
            let (reason, note) = match &run.kind {
                RunKind::Slot => (
                    reasons::RUN_CREATED,
                    format!("created {child_kind} {} for the slot {}", run.name, run.at),
                ),
                RunKind::OnCreate => (
                    reasons::RUN_CREATED,
                    format!("created {child_kind} {} (runOnCreate)", run.name),
                ),
                RunKind::MissedSlot { since } => (
                    reasons::MISSED_RUN_CREATED,
                    format!(
                        "created {child_kind} {} for the missed slot {}; slots missed since {since} are not made up",
                        run.name, run.at
                    ),
                ),
                RunKind::Trigger { value } => (
                    reasons::TRIGGERED_RUN_CREATED,
                    format!(
                        "created {child_kind} {} for {ANNOTATION_TRIGGER}={value:?}",
                        run.name
                    ),
                ),
            };
            event(ctx, obj, EventType::Normal, reason, note).await;
        } else {
            event(
                ctx,
                obj,
                EventType::Warning,
                reasons::CHILD_NAME_TAKEN,
                format!(
                    "{child_kind} {} exists and is not owned by this schedule; the run is skipped",
                    run.name
                ),
            )
            .await;
        }
        match &run.kind {
            RunKind::Trigger { value } => status.last_trigger = Some(value.clone()),
            _ => status.last_schedule_time = Some(Time(run.at)),
        }
    }
    if let Some((slot, why)) = slots.skip {
        let note = match why {
            reasons::CONCURRENCY_FORBID => format!(
                "skipped the slot {slot}: {} still runs (concurrencyPolicy Forbid)",
                active.join(", ")
            ),
            _ => format!("skipped the slot {slot}: it is older than startingDeadlineSeconds"),
        };
        status.last_skipped = Some(SkippedRun {
            time: Time(slot),
            reason: why.to_string(),
        });
        event(ctx, obj, EventType::Normal, reasons::RUN_SKIPPED, note).await;
    }

    // act: retention
    let pruned = plan::select_pruned(&views, &rule, cron.time_zone(), now);
    for victim in &pruned {
        delete_child(&children_api, victim).await?;
        event(
            ctx,
            obj,
            EventType::Normal,
            reasons::CHILD_PRUNED,
            format!(
                "deleted {} {victim} (retention); its cloud backup follows its deletionPolicy",
                <S::Child as Resource>::kind(&())
            ),
        )
        .await;
    }
    views.retain(|v| !pruned.contains(&v.name));

    // status
    let newest_success = children
        .iter()
        .filter_map(ScheduledChild::succeeded_at)
        .map(|t| clock.map_wall(t))
        .max();
    let last_success = [
        status.last_successful_time.as_ref().map(|t| t.0),
        newest_success,
    ]
    .into_iter()
    .flatten()
    .max();
    status.last_successful_time = last_success.map(Time);
    let mut counts = ChildCounts::default();
    for v in &views {
        match v.state {
            ChildState::Running => counts.running += 1,
            ChildState::Succeeded => counts.succeeded += 1,
            ChildState::Failed => counts.failed += 1,
        }
    }
    status.counts = Some(counts);
    let mut active: Vec<String> = views
        .iter()
        .filter(|v| v.state == ChildState::Running)
        .map(|v| v.name.clone())
        .collect();
    active.sort();
    status.active = active;
    status.next_schedule_time = slots.next.map(Time);
    status.phase = Some(if spec.suspend {
        SchedulePhase::Suspended
    } else {
        SchedulePhase::Active
    });
    status.warnings = Vec::new();
    if spec.retention.is_some() {
        let template = <S::Child as ScheduledChild>::deletion_policy(&spec.template.spec);
        let namespace = match template {
            Some(_) => None,
            None => {
                ctx.namespace_defaults
                    .deletion_policy(&ctx.client, &ns, false)
                    .await?
            }
        };
        let effective = policy::effective_deletion_policy(
            template,
            namespace.as_deref(),
            ctx.default_deletion_policy,
        );
        if effective.policy == DeletionPolicy::Retain {
            status.warnings.push(format!(
                "retention deletes child objects only: the children's deletion policy is Retain \
                 (from {}), so the backups of pruned children stay in the cloud (set \
                 template.spec.deletionPolicy to Delete to remove them)",
                effective.source
            ));
        }
    }
    let health = if spec.suspend {
        Health::ready(
            reasons::SUSPENDED,
            "suspended (spec.suspend); no new children are made",
        )
    } else {
        Health::ready(
            reasons::SCHEDULED,
            match slots.next {
                Some(n) => format!("next run at {n}"),
                None => "the schedule matches no future time".to_string(),
            },
        )
    };
    conditions::apply_health(&mut status.conditions, &health, generation, now);
    let mut wait = MAX_WAIT;
    if let Some(next) = slots.next {
        wait = wait.min(to_duration(next.duration_since(now)));
    }
    match rpo {
        Some((rpo, text)) => {
            let v = rpo::evaluate(rpo, &text, last_success, created, now);
            conditions::set_condition(
                &mut status.conditions,
                CONDITION_RPO_MET,
                v.met,
                v.reason,
                &v.message,
                generation,
                now,
            );
            if let Some(flip) = v.flips_in {
                wait = wait.min(flip);
            }
        }
        None => status.conditions.retain(|c| c.type_ != CONDITION_RPO_MET),
    }
    write_status(api, &name, current.as_ref(), &status).await?;
    ctx.backoff.success(&runtime::object_key(obj));
    let delay = ctx.clock.real_delay(wait).max(Duration::from_millis(50));
    Ok(Action::requeue(delay))
}

async fn cleanup<S: BackupSchedule>(obj: Arc<S>, ctx: &Context, _api: &Api<S>) -> Result<Action> {
    let obj = obj.as_ref();
    let ns = obj
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let children_api: Api<S::Child> = Api::namespaced(ctx.client.clone(), &ns);
    let children = list_children(obj, &children_api).await?;
    let uid = obj.uid().unwrap_or_default();
    let kind = <S::Child as Resource>::kind(&());
    let names: Vec<String> = children.iter().map(ResourceExt::name_any).collect();
    match obj.schedule_spec().children_deletion_policy {
        ChildrenDeletionPolicy::Orphan => {
            for child in &children {
                let refs: Vec<OwnerReference> = child
                    .owner_references()
                    .iter()
                    .filter(|r| r.uid != uid)
                    .cloned()
                    .collect();
                let patch = serde_json::json!({
                    "metadata": {
                        "resourceVersion": child.resource_version(),
                        "ownerReferences": refs,
                    }
                });
                children_api
                    .patch(
                        &child.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await?;
            }
            if !names.is_empty() {
                event(
                    ctx,
                    obj,
                    EventType::Normal,
                    reasons::CHILDREN_ORPHANED,
                    format!(
                        "left {} {kind} in place (childrenDeletionPolicy Orphan): {}",
                        names.len(),
                        names.join(", ")
                    ),
                )
                .await;
            }
        }
        ChildrenDeletionPolicy::Delete => {
            for n in &names {
                delete_child(&children_api, n).await?;
            }
            if !names.is_empty() {
                event(
                    ctx,
                    obj,
                    EventType::Normal,
                    reasons::CHILDREN_DELETED,
                    format!(
                        "deleted {} {kind} (childrenDeletionPolicy Delete; each follows its deletionPolicy): {}",
                        names.len(),
                        names.join(", ")
                    ),
                )
                .await;
            }
        }
    }
    Ok(Action::await_change())
}
