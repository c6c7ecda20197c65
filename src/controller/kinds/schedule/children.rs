//! A schedule's children on the API server, the only objects a schedule changes besides its
//! own status: the **load** step (the children listed fresh, the time from `ctx.clock`), the
//! child a slot makes, the calls that create, delete and orphan children, and the watch that
//! wakes a schedule when one of them changes ([`super::Tracked::watch_owned`]).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use super::plan::{self, ChildView};
use crate::controller::operator::clock::Clock;
use crate::controller::operator::context::Context;
use crate::controller::reconcile::error::{Error, Result};
use crate::controller::reconcile::scheduling::{BackupSchedule, ScheduledChild};
use crate::crd::{ANNOTATION_SCHEDULED_AT, ANNOTATION_TRIGGER, LABEL_SCHEDULE, deletion_protected};

/// What a reconcile of a schedule loaded: its children (listed fresh from the API server,
/// never the cache; those being deleted left out) and the time, on `ctx.clock`'s time line.
pub struct Loaded<C> {
    /// The children's API, in the schedule's namespace.
    pub api: Api<C>,
    /// The children.
    pub children: Vec<C>,
    /// The children as retention and the census see them; the act keeps it up to date.
    pub views: Vec<ChildView>,
    /// Now.
    pub now: Timestamp,
    /// The schedule's `creationTimestamp`.
    pub created: Timestamp,
    /// When the newest successful backup among the children finished.
    pub newest_success: Option<Timestamp>,
}

impl<C: ScheduledChild> Loaded<C> {
    /// The names of the children with deletion protection (`crd::deletion_protected`).
    pub fn protected(&self) -> BTreeSet<String> {
        self.children
            .iter()
            .filter(|c| deletion_protected(c.meta().annotations.as_ref()))
            .map(ResourceExt::name_any)
            .collect()
    }
}

/// The load step of `obj`'s reconcile at `now` (the reconcile's time on `ctx.clock`).
pub(super) async fn load<S: BackupSchedule>(
    obj: &S,
    ctx: &Context,
    now: Timestamp,
) -> Result<Loaded<S::Child>> {
    let api = api(obj, ctx)?;
    let clock = ctx.clock.as_ref();
    let mut children = list(obj, &api).await?;
    children.retain(|c| c.meta().deletion_timestamp.is_none());
    let views = children.iter().map(|c| view(c, clock)).collect();
    // Times written by the API server and the children are wall-clock times; the schedule
    // compares them with `now` on its clock's time line.
    let newest_success = children
        .iter()
        .filter_map(ScheduledChild::succeeded_at)
        .map(|t| clock.map_wall(t))
        .max();
    Ok(Loaded {
        api,
        children,
        views,
        now,
        created: created(obj, clock, now),
        newest_success,
    })
}

/// The children's API in `obj`'s namespace.
pub(super) fn api<S: BackupSchedule>(obj: &S, ctx: &Context) -> Result<Api<S::Child>> {
    let ns = obj
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    Ok(Api::namespaced(ctx.client.clone(), &ns))
}

/// `obj`'s `creationTimestamp` on `clock`'s time line (`now` when it has none).
pub(super) fn created<S: Resource>(obj: &S, clock: &dyn Clock, now: Timestamp) -> Timestamp {
    obj.meta()
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| clock.map_wall(t.0))
}

/// Adds the watch of the children of the schedules `controller` reconciles: a change of a
/// child (its status, above all) wakes its schedule at once. Not narrowed by `--selector`: the
/// children are found through their owner.
pub(super) fn watch<S: BackupSchedule>(
    controller: Controller<S>,
    client: &Client,
    namespace: Option<&str>,
) -> Controller<S> {
    let api: Api<S::Child> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    controller.owns(api, watcher::Config::default().any_semantic())
}

fn owned_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .as_ref()
        .is_some_and(|refs| refs.iter().any(|r| r.uid == uid))
}

/// The schedule's children: labelled with its name and owned by its UID (children of an
/// earlier schedule of the same name, orphaned when it was deleted, are not its own).
pub(super) async fn list<S: BackupSchedule>(obj: &S, api: &Api<S::Child>) -> Result<Vec<S::Child>> {
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

fn view<C: ScheduledChild>(c: &C, clock: &dyn Clock) -> ChildView {
    let at = c
        .annotations()
        .get(ANNOTATION_SCHEDULED_AT)
        .and_then(|v| v.parse::<Timestamp>().ok())
        .or_else(|| {
            c.meta()
                .creation_timestamp
                .as_ref()
                .map(|t| clock.map_wall(t.0))
        })
        .unwrap_or(Timestamp::UNIX_EPOCH);
    ChildView {
        name: c.name_any(),
        at,
        state: c.state(),
    }
}

/// The child `name` of `obj` for the slot (or trigger time) `at`: the template's labels and
/// annotations without GitOps tracking keys, the schedule label, the `scheduled-at`
/// annotation, and `obj` as its controller owner.
pub(super) fn build<S: BackupSchedule>(obj: &S, name: &str, at: Timestamp) -> Result<S::Child> {
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
            obj.controller_owner_ref(&())
                .ok_or(Error::MissingObjectKey(".metadata.uid"))?,
        ]),
        ..ObjectMeta::default()
    };
    Ok(S::Child::build(meta, spec.template.spec.clone()))
}

/// Creates a child; `Ok(true)` when it exists now and is this schedule's (made now, or
/// before a crash), `Ok(false)` when the name is taken by an object the schedule does not own.
pub(super) async fn create<S: BackupSchedule>(
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

/// Deletes the child `name` (gone already counts as deleted).
pub(super) async fn delete<C: ScheduledChild>(api: &Api<C>, name: &str) -> Result<()> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes the schedule's ownerReference (`uid`) from `child`.
pub(super) async fn orphan<C: ScheduledChild>(api: &Api<C>, child: &C, uid: &str) -> Result<()> {
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

/// Whether a failed delete was refused by the API server's admission (a
/// ValidatingAdmissionPolicy such as the chart's deletion protection answers 422; a webhook
/// or an authorizer 403): the object stays, and the message says why.
pub(super) fn refusal(e: &Error) -> Option<String> {
    match e {
        Error::Kube(kube::Error::Api(s)) if s.code == 422 || s.code == 403 => {
            Some(s.message.clone())
        }
        _ => None,
    }
}
