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
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::events::EventType;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};
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
pub use super::scheduling::{BackupSchedule, ScheduledChild};
use super::status::write_status;
use crate::crd::{
    ANNOTATION_DELETION_PROTECTION, ANNOTATION_SCHEDULED_AT, ANNOTATION_TRIGGER,
    BackupScheduleStatus, CONDITION_RETENTION_BLOCKED, CONDITION_RPO_MET, ChildCounts,
    ChildrenDeletionPolicy, ConcurrencyPolicy, DeletionPolicy, HbrBackupJob, HbrBackupSchedule,
    LABEL_SCHEDULE, RdsBackup, RdsBackupSchedule, SchedulePhase, SkippedRun, deletion_protected,
};

/// Longest wait before a schedule looks again (in the clock's time), whatever its next slot.
const MAX_WAIT: Duration = Duration::from_secs(300);

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
/// written (`observedGeneration` stays), with an event when it becomes paused. Its RPO is still
/// judged (from `status.lastSuccessfulTime`): a paused schedule makes no backups.
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
    let now = ctx.clock.now();
    conditions::apply_health(&mut status.conditions, &health, generation, now);
    let flip = match plan::parse_rpo(obj.schedule_spec().rpo.as_deref()) {
        Ok(rpo) => {
            let created = obj
                .meta()
                .creation_timestamp
                .as_ref()
                .map_or(now, |t| ctx.clock.map_wall(t.0));
            let last = status.last_successful_time.as_ref().map(|t| t.0);
            judge_rpo(
                ctx,
                obj,
                &mut status,
                rpo.as_ref(),
                last,
                created,
                Some("the schedule is paused"),
                now,
            )
            .await
        }
        // Judged (False) once it is resumed and validated.
        Err(_) => None,
    };
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
    Ok(match flip {
        Some(flip) => Action::requeue(ctx.clock.real_delay(flip).max(Duration::from_millis(50))),
        None => Action::await_change(),
    })
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

/// Whether a failed delete was refused by the API server's admission (a
/// ValidatingAdmissionPolicy such as the chart's deletion protection answers 422; a webhook
/// or an authorizer 403): the object stays, and the message says why.
fn refusal(e: &Error) -> Option<String> {
    match e {
        Error::Kube(kube::Error::Api(s)) if s.code == 422 || s.code == 403 => {
            Some(s.message.clone())
        }
        _ => None,
    }
}

/// At most five names, then how many more.
fn some_names(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut out = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

/// Sets `RPOMet` from the verdict (removes it without `spec.rpo`) and returns when to judge
/// again. A verdict that turns False sends a Warning Event `RPOMissed`; `why` (e.g. a stalled
/// child) is added to the message of a False verdict.
#[allow(clippy::too_many_arguments)]
async fn judge_rpo<S: BackupSchedule>(
    ctx: &Context,
    obj: &S,
    status: &mut BackupScheduleStatus,
    rpo: Option<&(Duration, String)>,
    last_success: Option<jiff::Timestamp>,
    created: jiff::Timestamp,
    why: Option<&str>,
    now: jiff::Timestamp,
) -> Option<Duration> {
    let Some((rpo, text)) = rpo else {
        status.conditions.retain(|c| c.type_ != CONDITION_RPO_MET);
        return None;
    };
    let v = rpo::evaluate(*rpo, text, last_success, created, now);
    let mut message = v.message.clone();
    if !v.met
        && let Some(why) = why
    {
        message.push_str(&format!("; {why}"));
    }
    let was_missed = conditions::find(&status.conditions, CONDITION_RPO_MET)
        .is_some_and(|c| c.status == conditions::FALSE);
    conditions::set_condition(
        &mut status.conditions,
        CONDITION_RPO_MET,
        v.met,
        v.reason,
        &message,
        obj.meta().generation,
        now,
    );
    if !v.met && !was_missed {
        event(
            ctx,
            obj,
            EventType::Warning,
            rpo::reasons::RPO_MISSED,
            message,
        )
        .await;
    }
    v.flips_in
}

/// What the children say: how many run, succeeded, failed, which have not finished, which
/// are stalled (name, reason, message), and the newest successful backup.
struct Census {
    counts: ChildCounts,
    active: Vec<String>,
    stalled: Vec<(String, String, String)>,
}

fn census<C: ScheduledChild>(children: &[C], views: &[ChildView]) -> Census {
    let mut counts = ChildCounts::default();
    let mut active = Vec::new();
    let mut stalled = Vec::new();
    for v in views {
        match v.state {
            // A stalled child has not finished: it counts as running (and blocks `Forbid`)
            // until it ends or is deleted; the schedule's conditions name it.
            ChildState::Running | ChildState::Stalled => {
                counts.running += 1;
                active.push(v.name.clone());
            }
            ChildState::Succeeded => counts.succeeded += 1,
            ChildState::Failed => counts.failed += 1,
        }
        if v.state == ChildState::Stalled
            && let Some((reason, message)) = children
                .iter()
                .find(|c| c.name_any() == v.name)
                .and_then(ScheduledChild::stalled)
        {
            stalled.push((v.name.clone(), reason, message));
        }
    }
    active.sort();
    stalled.sort();
    Census {
        counts,
        active,
        stalled,
    }
}

/// `<kind> <name> is stalled (<reason>: <message>)`, for each stalled child.
fn stalled_note(kind: &str, stalled: &[(String, String, String)]) -> Option<String> {
    if stalled.is_empty() {
        return None;
    }
    let shown: Vec<String> = stalled
        .iter()
        .take(3)
        .map(|(n, r, m)| format!("{kind} {n} is stalled ({r}: {m})"))
        .collect();
    let mut note = shown.join("; ");
    if stalled.len() > 3 {
        note.push_str(&format!("; and {} more", stalled.len() - 3));
    }
    Some(note)
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
    let child_kind = <S::Child as Resource>::kind(&()).to_string();
    let clock = ctx.clock.as_ref();
    // Times written by the API server and the children are wall-clock times; the schedule
    // compares them with `now` on its clock's time line.
    let created = obj
        .meta()
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| clock.map_wall(t.0));

    // validate
    let valid = plan::validate(spec).and_then(|v| {
        plan::check_concurrency(
            spec.concurrency_policy,
            &child_kind,
            <S::Child as ScheduledChild>::CANCELLABLE,
        )
        .map(|()| v)
    });

    // load: the children, listed fresh from the API server (never the cache), on every path:
    // an invalid schedule still reports them and judges its RPO.
    let mut children = list_children(obj, &children_api).await?;
    children.retain(|c| c.meta().deletion_timestamp.is_none());
    let mut views: Vec<ChildView> = children.iter().map(|c| child_view(c, clock)).collect();
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

    let v = match valid {
        Ok(v) => v,
        Err(e) => {
            // Stalled until the spec changes, but the RPO is still judged (and judged again
            // when it would run out): backups have stopped, and the alert must be able to fire.
            let was = current
                .as_ref()
                .and_then(|s| conditions::find(&s.conditions, conditions::STALLED))
                .is_some_and(|c| c.status == conditions::TRUE && c.message == e.0);
            let health = Health::stalled(reasons::INVALID_SPEC, e.0.clone());
            conditions::apply_health(&mut status.conditions, &health, generation, now);
            status.next_schedule_time = None;
            let c = census(&children, &views);
            status.counts = Some(c.counts);
            status.active = c.active;
            let rpo = plan::parse_rpo(spec.rpo.as_deref());
            let flip = match &rpo {
                Ok(rpo) => {
                    let why = format!("the schedule makes no backups: {}", e.0);
                    judge_rpo(
                        ctx,
                        obj,
                        &mut status,
                        rpo.as_ref(),
                        last_success,
                        created,
                        Some(&why),
                        now,
                    )
                    .await
                }
                Err(bad) => {
                    // An RPO that cannot be read cannot be met.
                    conditions::set_condition(
                        &mut status.conditions,
                        CONDITION_RPO_MET,
                        false,
                        reasons::INVALID_SPEC,
                        &bad.0,
                        generation,
                        now,
                    );
                    None
                }
            };
            write_status(api, &name, current.as_ref(), &status).await?;
            if !was {
                event(ctx, obj, EventType::Warning, reasons::INVALID_SPEC, e.0).await;
            }
            ctx.backoff.success(&runtime::object_key(obj));
            return Ok(match flip {
                Some(flip) => {
                    Action::requeue(ctx.clock.real_delay(flip).max(Duration::from_millis(50)))
                }
                None => Action::await_change(),
            });
        }
    };
    let (cron, rule) = (v.cron, v.rule);
    let active: Vec<String> = views
        .iter()
        .filter(|v| !v.state.is_finished())
        .map(|v| v.name.clone())
        .collect();

    // plan
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
        match delete_child(&children_api, victim).await {
            Ok(()) => {
                views.retain(|v| &v.name != victim);
                event(
                    ctx,
                    obj,
                    EventType::Normal,
                    reasons::RUN_REPLACED,
                    format!(
                        "deleted running {child_kind} {victim} for a new slot (concurrencyPolicy Replace)"
                    ),
                )
                .await;
            }
            Err(e) => match refusal(&e) {
                Some(why) => {
                    event(
                        ctx,
                        obj,
                        EventType::Warning,
                        reasons::RUN_REPLACED,
                        format!(
                            "could not delete running {child_kind} {victim} for a new slot (concurrencyPolicy Replace), the API server refused: {why}; the new child runs alongside it"
                        ),
                    )
                    .await;
                }
                None => return Err(e),
            },
        }
    }
    for run in &slots.runs {
        let existed = children.iter().find(|c| c.name_any() == run.name);
        if let (RunKind::Trigger { value }, Some(existing)) = (&run.kind, existed) {
            // The value was used before and its child is still here: nothing new is made.
            let made = existing
                .annotations()
                .get(ANNOTATION_SCHEDULED_AT)
                .cloned()
                .unwrap_or_default();
            event(
                ctx,
                obj,
                EventType::Normal,
                reasons::TRIGGER_ALREADY_USED,
                format!(
                    "{ANNOTATION_TRIGGER}={value:?} was used before: its {child_kind} {} exists (made at {made}), so no new child is made; set a new value for another run",
                    run.name
                ),
            )
            .await;
            status.last_trigger = Some(value.clone());
            continue;
        }
        let child = child_object(obj, &run.name, run.at)?;
        let ours = create_child(obj, &children_api, &child).await?;
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
        status.last_skipped = Some(SkippedRun {
            time: Time(slot),
            reason: why.to_string(),
        });
        event(
            ctx,
            obj,
            EventType::Normal,
            reasons::RUN_SKIPPED,
            format!("skipped the slot {slot}: it is older than startingDeadlineSeconds"),
        )
        .await;
    }

    // act: retention. A child protected against deletion is kept (seen before deleting, or
    // refused by the API server's admission): the rest of the reconcile goes on.
    let pruned = plan::select_pruned(&views, &rule, cron.time_zone(), now);
    let mut kept: Vec<(String, String)> = Vec::new();
    for victim in &pruned {
        let protected = children
            .iter()
            .find(|c| &c.name_any() == victim)
            .is_some_and(|c| deletion_protected(c.meta().annotations.as_ref()));
        if protected {
            kept.push((
                victim.clone(),
                format!("annotation {ANNOTATION_DELETION_PROTECTION}"),
            ));
            continue;
        }
        match delete_child(&children_api, victim).await {
            Ok(()) => {
                views.retain(|v| &v.name != victim);
                event(
                    ctx,
                    obj,
                    EventType::Normal,
                    reasons::CHILD_PRUNED,
                    format!(
                        "deleted {child_kind} {victim} (retention); its cloud backup follows its deletionPolicy"
                    ),
                )
                .await;
            }
            Err(e) => match refusal(&e) {
                Some(why) => kept.push((victim.clone(), format!("the API server refused: {why}"))),
                None => return Err(e),
            },
        }
    }
    let retention_blocked = (!kept.is_empty()).then(|| {
        let names: Vec<String> = kept.iter().map(|(n, _)| n.clone()).collect();
        let mut whys: Vec<String> = kept.iter().map(|(_, w)| w.clone()).collect();
        whys.sort();
        whys.dedup();
        format!(
            "retention keeps {} {child_kind} it would prune, because they cannot be deleted ({}): {}; remove the protection to let retention delete them",
            kept.len(),
            whys.join("; "),
            some_names(&names),
        )
    });

    // status
    let c = census(&children, &views);
    status.counts = Some(c.counts);
    status.active = c.active;
    status.next_schedule_time = slots.next.map(Time);
    status.phase = Some(if spec.suspend {
        SchedulePhase::Suspended
    } else {
        SchedulePhase::Active
    });
    status.warnings = Vec::new();
    if !rule.keeps_all_successes() {
        // Retention (set, or the default) prunes successful children.
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
    let stalled = stalled_note(&child_kind, &c.stalled);
    let forbid = spec.concurrency_policy == ConcurrencyPolicy::Forbid;
    let next_text = match slots.next {
        Some(n) => format!("next run at {n}"),
        None => "no next run".to_string(),
    };
    let health = match (&stalled, forbid) {
        // A stalled child blocks a Forbid schedule until the user fixes it or deletes it.
        (Some(note), true) if !spec.suspend => Health::stalled(
            reasons::CHILD_STALLED,
            format!(
                "{note}; concurrencyPolicy Forbid: no new child is made until it finishes or is deleted{}",
                slots
                    .waiting
                    .map(|w| format!(" (the slot {w} waits)"))
                    .unwrap_or_default()
            ),
        ),
        _ if spec.suspend => Health::ready(
            reasons::SUSPENDED,
            "suspended (spec.suspend); no new children are made",
        ),
        _ => Health::ready(
            reasons::SCHEDULED,
            match slots.waiting {
                Some(w) => format!(
                    "the slot {w} waits for {} to finish (concurrencyPolicy Forbid); {next_text}",
                    some_names(&status.active)
                ),
                None => next_text,
            },
        ),
    };
    if let Some(note) = &stalled
        && !forbid
    {
        status.warnings.push(note.clone());
    }
    let previous_message = |type_: &str| {
        current
            .as_ref()
            .and_then(|s| conditions::find(&s.conditions, type_))
            .filter(|c| c.status == conditions::TRUE)
            .map(|c| c.message.clone())
    };
    let stalled_before = previous_message(conditions::STALLED);
    let ready_before = previous_message(conditions::READY);
    conditions::apply_health(&mut status.conditions, &health, generation, now);
    match &retention_blocked {
        Some(message) => {
            conditions::set_condition(
                &mut status.conditions,
                CONDITION_RETENTION_BLOCKED,
                true,
                reasons::RETENTION_BLOCKED,
                message,
                generation,
                now,
            );
        }
        None => status
            .conditions
            .retain(|c| c.type_ != CONDITION_RETENTION_BLOCKED),
    }
    let mut wait = MAX_WAIT;
    if let Some(next) = slots.next {
        wait = wait.min(to_duration(next.duration_since(now)));
    }
    if let Some(flip) = judge_rpo(
        ctx,
        obj,
        &mut status,
        v.rpo.as_ref(),
        last_success,
        created,
        stalled.as_deref(),
        now,
    )
    .await
    {
        wait = wait.min(flip);
    }
    let blocked_before = current
        .as_ref()
        .and_then(|s| conditions::find(&s.conditions, CONDITION_RETENTION_BLOCKED))
        .map(|c| c.message.clone());
    write_status(api, &name, current.as_ref(), &status).await?;
    // Events for what changed (a repeat each reconcile would say nothing new).
    if let Health::Stalled { message, .. } = &health
        && stalled_before.as_deref() != Some(message.as_str())
    {
        event(
            ctx,
            obj,
            EventType::Warning,
            reasons::CHILD_STALLED,
            message.clone(),
        )
        .await;
    }
    if let (Some(note), false) = (&stalled, forbid)
        && !current
            .as_ref()
            .is_some_and(|s| s.warnings.iter().any(|w| w == note))
    {
        event(
            ctx,
            obj,
            EventType::Warning,
            reasons::CHILD_STALLED,
            note.clone(),
        )
        .await;
    }
    if let (Some(w), Health::Ready { message, .. }) = (slots.waiting, &health)
        && ready_before.as_deref() != Some(message.as_str())
    {
        event(
            ctx,
            obj,
            EventType::Normal,
            reasons::RUN_WAITING,
            format!(
                "the slot {w} waits for {} to finish (concurrencyPolicy Forbid); it runs when that is seen finished, unless the next slot comes first",
                some_names(&status.active)
            ),
        )
        .await;
    }
    if let Some(message) = &retention_blocked
        && blocked_before.as_deref() != Some(message.as_str())
    {
        let refused = kept
            .iter()
            .any(|(_, w)| w.starts_with("the API server refused"));
        let type_ = if refused {
            EventType::Warning
        } else {
            EventType::Normal
        };
        event(ctx, obj, type_, reasons::RETENTION_BLOCKED, message.clone()).await;
    }
    ctx.backoff.success(&runtime::object_key(obj));
    let delay = ctx.clock.real_delay(wait).max(Duration::from_millis(50));
    Ok(Action::requeue(delay))
}

/// Removes the schedule's ownerReference (`uid`) from `child`.
async fn orphan_child<C: ScheduledChild>(api: &Api<C>, child: &C, uid: &str) -> Result<()> {
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
    api.patch(
        &child.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
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
                orphan_child(&children_api, child, &uid).await?;
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
            // A protected child (or one whose delete the API server refuses) is left in place
            // without the ownerReference, so the schedule can go and the child stays.
            let mut kept = Vec::new();
            let mut deleted = Vec::new();
            for child in &children {
                let n = child.name_any();
                let refused = if deletion_protected(child.meta().annotations.as_ref()) {
                    Some(format!("annotation {ANNOTATION_DELETION_PROTECTION}"))
                } else {
                    match delete_child(&children_api, &n).await {
                        Ok(()) => None,
                        Err(e) => Some(refusal(&e).ok_or(e)?),
                    }
                };
                match refused {
                    Some(why) => {
                        orphan_child(&children_api, child, &uid).await?;
                        kept.push(format!("{n} ({why})"));
                    }
                    None => deleted.push(n),
                }
            }
            if !kept.is_empty() {
                event(
                    ctx,
                    obj,
                    EventType::Warning,
                    reasons::CHILDREN_ORPHANED,
                    format!(
                        "left {} protected {kind} in place (childrenDeletionPolicy Delete cannot delete them): {}",
                        kept.len(),
                        some_names(&kept)
                    ),
                )
                .await;
            }
            if !deleted.is_empty() {
                event(
                    ctx,
                    obj,
                    EventType::Normal,
                    reasons::CHILDREN_DELETED,
                    format!(
                        "deleted {} {kind} (childrenDeletionPolicy Delete; each follows its deletionPolicy): {}",
                        deleted.len(),
                        deleted.join(", ")
                    ),
                )
                .await;
            }
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crd::{HbrBackupJob, RdsBackup};

    fn rds_child(status: serde_json::Value) -> RdsBackup {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1",
            "kind": "RdsBackup",
            "metadata": { "name": "c", "namespace": "ns" },
            "spec": { "region": "cn-hangzhou", "dbInstanceId": "rm-1" },
            "status": status,
        }))
        .unwrap()
    }

    /// Issue 30, schedules 6: the RPO counts from when the backup ended in the cloud, not
    /// from when the operator noticed (after downtime, minutes later).
    #[test]
    fn the_rpo_uses_the_clouds_end_time_where_the_child_has_it() {
        let ended: jiff::Timestamp = "2025-03-01T19:36:46Z".parse().unwrap();
        let noticed: jiff::Timestamp = "2025-03-01T19:38:25Z".parse().unwrap();
        let recorded = rds_child(serde_json::json!({
            "phase": "Succeeded",
            "completionTime": noticed.to_string(),
            "backupSet": { "backupId": "1", "endTime": ended.to_string() },
        }));
        assert_eq!(recorded.succeeded_at(), Some(ended));
        // backupSetDetails Skip: RDS's task list has no end time; the time it was seen.
        let skipped = rds_child(serde_json::json!({
            "phase": "Succeeded",
            "completionTime": noticed.to_string(),
        }));
        assert_eq!(skipped.succeeded_at(), Some(noticed));
        let failed = rds_child(serde_json::json!({
            "phase": "Failed",
            "completionTime": noticed.to_string(),
            "backupSet": { "endTime": ended.to_string() },
        }));
        assert_eq!(failed.succeeded_at(), None);
        // HBR: completionTime is the job's CompleteTime.
        let job: HbrBackupJob = serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1",
            "kind": "HbrBackupJob",
            "metadata": { "name": "j", "namespace": "ns" },
            "spec": { "region": "cn-hangzhou", "sourceType": "UDM_ECS", "instanceId": "i-1", "retention": 7 },
            "status": { "phase": "Succeeded", "completionTime": ended.to_string() },
        }))
        .unwrap();
        assert_eq!(job.succeeded_at(), Some(ended));
    }

    #[test]
    fn a_child_stalled_before_it_finished_is_stalled_not_running() {
        let cond = |t: &str, s: &str, r: &str| {
            serde_json::json!({"type": t, "status": s, "reason": r, "message": "m",
                               "lastTransitionTime": "2025-03-01T00:00:00Z"})
        };
        let stuck = rds_child(serde_json::json!({
            "phase": "Pending",
            "conditions": [cond("Stalled", "True", "CredentialsSecretNotFound")],
        }));
        assert_eq!(stuck.state(), ChildState::Stalled);
        assert_eq!(
            stuck.stalled(),
            Some(("CredentialsSecretNotFound".into(), "m".into()))
        );
        let running = rds_child(serde_json::json!({
            "phase": "Running",
            "conditions": [cond("Stalled", "False", "BackupRunning")],
        }));
        assert_eq!(running.state(), ChildState::Running);
        // A failed backup is Stalled too, but finished.
        let failed = rds_child(serde_json::json!({
            "phase": "Failed",
            "conditions": [cond("Stalled", "True", "BackupFailed")],
        }));
        assert_eq!(failed.state(), ChildState::Failed);
    }
}
