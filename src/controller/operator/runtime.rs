//! Generic controller wiring shared by every kind: one kube-runtime `Controller` per watched
//! namespace (or one for all), Secret watches that requeue the objects referencing a changed
//! Secret, watches of the objects a kind owns ([`Tracked::watch_owned`]), per-object backoff,
//! metrics, error events, CRD wait and shutdown. Every delay is a span of `ctx.clock`'s time.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::controller::operator::context::Context;
use crate::controller::operator::metrics::{ObjectSample, RpoSample};
use crate::controller::reconcile::backoff::{jittered, unit_random};
use crate::controller::reconcile::error::{Error, error_chain};
use crate::controller::reconcile::kind::{ManagedResource, Tracked, TrackedStatus};
use crate::controller::reconcile::policy;
use crate::crd::FINALIZER;

/// The per-object metrics sample of `obj`.
fn object_sample<K: Tracked>(obj: &K) -> ObjectSample {
    let secs = |t: jiff::Timestamp| t.as_millisecond() as f64 / 1000.0;
    ObjectSample {
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        phase: obj
            .status()
            .and_then(TrackedStatus::phase)
            .map(K::Status::phase_name),
        last_success: obj.last_success().map(secs),
        created: obj.meta().creation_timestamp.as_ref().map(|t| secs(t.0)),
    }
}

/// The RPO gauges' sample of an object with `spec.rpo` or a next run (`None` for the others).
fn rpo_sample<K: Tracked>(obj: &K) -> Option<RpoSample> {
    let (rpo, next) = (obj.rpo(), obj.next_run());
    if rpo.is_none() && next.is_none() {
        return None;
    }
    Some(RpoSample {
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        rpo_seconds: rpo
            .and_then(|r| crate::controller::reconcile::rpo::parse_duration(r).ok())
            .map(|d| d.as_secs_f64()),
        rpo_met: obj
            .status()
            .and_then(|s| {
                crate::controller::reconcile::conditions::find(
                    s.conditions(),
                    crate::crd::CONDITION_RPO_MET,
                )
            })
            .map(|c| c.status == crate::controller::reconcile::conditions::TRUE),
        next_schedule: next.map(|t| t.as_millisecond() as f64 / 1000.0),
    })
}

/// Key of an object for per-object state (backoff): its UID, or `namespace/name`.
/// Drops from a cached object's metadata what no decision reads and what is much of its
/// size: `managedFields` (every writer's field set), kubectl's `last-applied-configuration`
/// annotation (a copy of the whole object as last applied) and the labels (about half a
/// kilobyte per object even for one label; the watch's label selector is applied by the API
/// server, and whatever needs an object's labels reads them from the API server, as the
/// schedules do for their children).
pub(crate) fn strip_cached(meta: &mut kube::api::ObjectMeta) {
    meta.managed_fields = None;
    meta.labels = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// kubectl's annotation holding the object as last applied (client-side apply).
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

pub fn object_key<K: Resource>(obj: &K) -> String {
    obj.meta().uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}",
            obj.meta().namespace.as_deref().unwrap_or_default(),
            obj.meta().name.as_deref().unwrap_or_default()
        )
    })
}

/// Fingerprint of what a user changes on an object: generation (spec), deletion and
/// annotations. Status-only changes (the operator's own writes) keep it unchanged.
pub fn fingerprint<K: Resource>(obj: &K) -> u64 {
    use std::hash::{Hash, Hasher};
    let meta = obj.meta();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    meta.generation.hash(&mut h);
    meta.deletion_timestamp.is_some().hash(&mut h);
    meta.annotations.hash(&mut h);
    h.finish()
}

/// Whether `obj` is the latest version on the API server (the cache may lag behind our own
/// writes; mutating cloud calls are planned only on the latest version).
pub async fn is_fresh<K>(obj: &K, api: &Api<K>) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let fresh = api.get_opt(&obj.name_any()).await?;
    Ok(fresh.is_some_and(|f| f.meta().resource_version == obj.meta().resource_version))
}

/// All objects of kind `K` the operator watches, read from the API server (not the cache):
/// for the rare decisions that must see other objects' latest claims.
pub async fn list_fresh<K>(ctx: &Context) -> Result<Vec<K>, Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    // Not narrowed by `ctx.selector`: objects another operator instance manages still hold
    // their claims.
    let mut out = Vec::new();
    if ctx.namespaces.is_empty() {
        let api: Api<K> = Api::all(ctx.client.clone());
        out.extend(api.list(&ListParams::default()).await?.items);
    } else {
        for ns in &ctx.namespaces {
            let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
            out.extend(api.list(&ListParams::default()).await?.items);
        }
    }
    Ok(out)
}

/// `obj` and the other objects of its kind that `keep` accepts, as fresh as the exactly-once
/// decisions need (`docs/architecture.md#claims-without-a-list-per-create`): `obj` itself read
/// from the API server (a GET), the others from the controllers' cache with the operator's own
/// status writes laid over it ([`crate::controller::operator::cache`]), so the read does not grow with the number
/// of objects. A LIST of the kind ([`list_fresh`]) is read instead when the cache cannot tell:
/// before it is filled, and with `--selector` (objects outside the selector are not cached
/// but may hold claims). `None` when `obj` is gone.
pub async fn fresh_claims<K: Tracked>(
    ctx: &Context,
    obj: &K,
    keep: impl Fn(&K) -> bool,
) -> Result<Option<Vec<K>>, Error> {
    let uid = crate::controller::reconcile::kind::uid(obj)?;
    let is_me = |o: &K| o.meta().uid.as_deref() == Some(uid.as_str());
    let cached = match ctx.selector {
        None => ctx.caches.of::<K>().view(|o| !is_me(o) && keep(o)),
        Some(_) => None,
    };
    let Some(cached) = cached else {
        let all = list_fresh::<K>(ctx).await?;
        if !all.iter().any(is_me) {
            return Ok(None);
        }
        return Ok(Some(
            all.into_iter().filter(|o| is_me(o) || keep(o)).collect(),
        ));
    };
    let ns = obj
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(me) = api.get_opt(&obj.name_any()).await?.filter(is_me) else {
        return Ok(None);
    };
    let mut all: Vec<K> = cached.iter().map(|o| K::clone(o)).collect();
    all.push(me);
    Ok(Some(all))
}

/// The shortest wait the runtime schedules: a clock faster than real time
/// ([`crate::controller::operator::clock::Clock::real_delay`]) never makes a requeue loop.
const MIN_DELAY: Duration = Duration::from_millis(50);

/// The real time to wait for `span` of `ctx.clock`'s time (the identity on the system clock;
/// the tests' manual clock and the sandbox's fast clock shorten it), at least [`MIN_DELAY`].
fn real_delay(ctx: &Context, span: Duration) -> Duration {
    ctx.clock.real_delay(span).max(MIN_DELAY)
}

/// Requeue `obj` after `after` (in `ctx.clock`'s time, with jitter) and hold back earlier
/// triggers that do not change its fingerprint (see [`crate::controller::operator::context::RequeueGate`]); a kind
/// that keeps time ([`Tracked::KEEPS_TIME`]) is requeued at the instant it asked for, and not
/// held back.
/// Every delay is clamped to the object's deadline ([`Tracked::deadline`]): a backup with
/// `spec.timeout` is looked at just after it passes, whatever the poll interval or backoff.
pub fn requeue<K: Tracked>(ctx: &Context, obj: &K, after: Duration) -> Action {
    let after = real_delay(ctx, after);
    let after = if K::KEEPS_TIME {
        after
    } else {
        jittered(after, ctx.timing.jitter, unit_random())
    };
    let after = policy::clamp_to_deadline(after, obj.deadline(), jiff::Timestamp::now());
    if !K::KEEPS_TIME {
        ctx.gate.schedule(&object_key(obj), fingerprint(obj), after);
    }
    Action::requeue(after)
}

/// A future that resolves when `token` is cancelled and is `Send + Sync + 'static`
/// (what `Controller::graceful_shutdown_on` requires).
pub(crate) fn shutdown_future(
    token: CancellationToken,
) -> impl Future<Output = ()> + Send + Sync + 'static {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    tokio::spawn(async move {
        token.cancelled().await;
        let _ = tx.send(());
    });
    rx.map(|_| ())
}

/// Runs one reconcile with metrics, logging, events and backoff bookkeeping.
pub(crate) async fn instrumented<K, R, Fut>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    reconcile: R,
) -> Result<Action, Error>
where
    K: ManagedResource,
    R: Fn(Arc<K>, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<Action, Error>>,
{
    let key = object_key(obj.as_ref());
    if ctx.gate.resting(&key, fingerprint(obj.as_ref())) {
        // Its work is over and it has not changed (a status write of ours, or a stale cache
        // entry, triggered this): nothing to do until it changes.
        tracing::trace!(kind = K::KIND, name = obj.name_any(), "resting");
        return Ok(Action::await_change());
    }
    if let Some(remaining) = ctx.gate.blocked(&key, fingerprint(obj.as_ref())) {
        // Triggered by a status write (ours) before the chosen requeue/backoff: not yet.
        tracing::trace!(
            kind = K::KIND,
            name = obj.name_any(),
            ?remaining,
            "not due yet"
        );
        return Ok(Action::requeue(remaining));
    }
    ctx.gate.clear(&key);
    let span = tracing::info_span!(
        "reconcile",
        kind = K::KIND,
        namespace = obj.namespace().unwrap_or_default(),
        name = obj.name_any(),
    );
    let result = {
        let _timer = ctx.metrics.reconcile_started(K::KIND);
        reconcile(obj.clone(), ctx.clone()).instrument(span).await
    };
    match &result {
        Ok(action) => {
            ctx.backoff.success(&key);
            tracing::debug!(
                kind = K::KIND,
                namespace = obj.namespace().unwrap_or_default(),
                name = obj.name_any(),
                ?action,
                "reconciled"
            );
        }
        Err(e) if e.is_wait() => {
            tracing::debug!(
                kind = K::KIND,
                namespace = obj.namespace().unwrap_or_default(),
                name = obj.name_any(),
                reason = e.name(),
                "waiting"
            );
        }
        Err(e) => {
            let name = e.name();
            let chain = error_chain(e);
            ctx.metrics.reconcile_failed(K::KIND, name);
            tracing::warn!(
                kind = K::KIND,
                namespace = obj.namespace().unwrap_or_default(),
                name = obj.name_any(),
                error = name,
                detail = %chain,
                "reconcile failed"
            );
            ctx.events
                .warning(&obj.object_ref(&()), name, "Reconcile", chain)
                .await;
        }
    }
    result
}

fn error_policy<K: Tracked>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    if let Error::Wait {
        after: Some(after), ..
    } = err.inner()
    {
        return requeue(ctx.as_ref(), obj.as_ref(), *after);
    }
    let key = object_key(obj.as_ref());
    let delay = real_delay(ctx.as_ref(), ctx.backoff.failure(&key, &ctx.timing));
    let delay = policy::clamp_to_deadline(delay, obj.deadline(), jiff::Timestamp::now());
    if !K::KEEPS_TIME {
        ctx.gate.schedule(&key, fingerprint(obj.as_ref()), delay);
    }
    Action::requeue(delay)
}

/// One reconcile of `obj` through kube-runtime's finalizer helper (finalizer
/// `backup.aliyun.dev/cleanup`): `apply` while the object lives, `cleanup` once it is being
/// deleted; the finalizer is removed when `cleanup` succeeds.
pub async fn reconcile_with_finalizer<K>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    apply: impl AsyncFnOnce(Arc<K>, &Context, &Api<K>) -> Result<Action, Error>,
    cleanup: impl AsyncFnOnce(Arc<K>, &Context, &Api<K>) -> Result<Action, Error>,
) -> Result<Action, Error>
where
    K: ManagedResource,
{
    let ns = obj
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply(o, &ctx, &api).await,
            FinalizerEvent::Cleanup(o) => cleanup(o, &ctx, &api).await,
        }
    })
    .await
    .map_err(Error::from)
}

/// The objects whose `CredentialsValid` condition says the cloud refused their credentials:
/// when a credential's circuit breaker closes they are looked at again at once (each object
/// whose own credential is still refused fails fast again, without a cloud call).
fn held_back_by_breaker<K: Tracked>(objects: &[Arc<K>], ctx: &Context) -> Vec<ObjectRef<K>> {
    objects
        .iter()
        .filter(|o| {
            o.status().is_some_and(|s| {
                s.conditions().iter().any(|c| {
                    c.type_ == crate::controller::reconcile::work::CREDENTIALS_VALID
                        && c.status == "False"
                        && c.reason
                            == crate::controller::reconcile::work::reasons::CREDENTIALS_REFUSED
                })
            })
        })
        .map(|o| {
            ctx.gate.clear(&object_key(o.as_ref()));
            ObjectRef::from_obj(o.as_ref())
        })
        .collect()
}

/// Builds the controller futures of kind `K`: one per watched namespace, or one for all.
///
/// Each future runs until `shutdown` fires (then finishes in-flight reconciles) or is dropped
/// (then in-flight reconciles are aborted — used when leadership is lost).
pub fn controllers<K, R, Fut>(
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: &CancellationToken,
    reconcile: R,
) -> Vec<BoxFuture<'static, ()>>
where
    K: Tracked,
    R: Fn(Arc<K>, Arc<Context>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let scopes: Vec<Option<String>> = if ctx.namespaces.is_empty() {
        vec![None]
    } else {
        ctx.namespaces.iter().cloned().map(Some).collect()
    };
    scopes
        .into_iter()
        .map(|ns| {
            let controller = scoped_controller::<K>(&ctx, ns.as_deref());
            let (store, readiness) = (controller.store(), controller.store());
            let secrets: Api<Secret> = match &ns {
                Some(ns) => Api::namespaced(ctx.client.clone(), ns),
                None => Api::all(ctx.client.clone()),
            };
            let r = reconcile.clone();
            let mapper_ctx = ctx.clone();
            let run = controller
                .watches(
                    secrets,
                    watcher::Config::default().any_semantic(),
                    move |secret: Secret| readers_of(&store, &mapper_ctx, &secret),
                )
                .with_config(ControllerConfig::default().concurrency(concurrency))
                .graceful_shutdown_on(shutdown_future(shutdown.clone()))
                .run(
                    move |obj, ctx| instrumented(obj, ctx, r.clone()),
                    error_policy::<K>,
                    ctx.clone(),
                )
                .for_each(|res| async move {
                    if let Err(e) = res {
                        // Reconcile errors are reported in `instrumented`; these are queue and
                        // watch errors (the watcher retries on its own).
                        tracing::debug!(kind = K::KIND, error = %error_chain(&e), "controller event");
                    }
                });
            stop_before_ready(run, readiness, shutdown.clone()).boxed()
        })
        .collect()
}

/// The controller of kind `K` in one scope (a namespace, or all with `None`): as
/// `Controller::new`, but the objects are cached without what no decision reads
/// (`strip_cached`); its store feeds the claims cache and the metrics; objects held back by
/// the credentials' breaker are woken when it closes; owned objects are watched where the kind
/// asks ([`Tracked::watch_owned`]).
fn scoped_controller<K: Tracked>(ctx: &Arc<Context>, ns: Option<&str>) -> Controller<K> {
    let api: Api<K> = match ns {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let mut config = watcher::Config::default().any_semantic();
    if let Some(sel) = &ctx.selector {
        config = config.labels(sel);
    }
    let (reader, writer) = kube::runtime::reflector::store::<K>();
    let objects = kube::runtime::reflector(
        writer,
        watcher(api, config).modify(|o: &mut K| strip_cached(o.meta_mut())),
    )
    .applied_objects();
    let controller = Controller::for_stream(objects, reader);
    let store = controller.store();
    ctx.caches.of::<K>().add_store(store.clone());
    let cached = store.clone();
    ctx.metrics.add_object_source(K::KIND, move || {
        cached
            .state()
            .iter()
            .map(|o| object_sample(o.as_ref()))
            .collect()
    });
    let rpos = store.clone();
    ctx.metrics.add_rpo_source(K::KIND, move || {
        rpos.state()
            .iter()
            .filter_map(|o| rpo_sample(o.as_ref()))
            .collect()
    });
    let controller = match ctx.cloud.credential_recoveries() {
        Some(recoveries) => {
            let wake_ctx = ctx.clone();
            controller.reconcile_on(
                futures::stream::unfold(recoveries, |mut rx| async move {
                    rx.changed().await.ok().map(|()| ((), rx))
                })
                .flat_map(move |()| {
                    futures::stream::iter(held_back_by_breaker(&store.state(), &wake_ctx))
                }),
            )
        }
        None => controller,
    };
    K::watch_owned(controller, &ctx.client, ns)
}

/// The objects of `store` that read `secret` ([`ManagedResource::watched_secrets`]): a changed
/// Secret is worth acting on at once, so their requeue gates are cleared.
fn readers_of<K: Tracked>(
    store: &kube::runtime::reflector::Store<K>,
    ctx: &Context,
    secret: &Secret,
) -> Vec<ObjectRef<K>> {
    let ns = secret.namespace();
    let name = secret.name_any();
    store
        .state()
        .into_iter()
        .filter(|o| o.namespace() == ns && o.watched_secrets().contains(&name.as_str()))
        .map(|o| {
            ctx.gate.clear(&object_key(o.as_ref()));
            ObjectRef::from_obj(o.as_ref())
        })
        .collect()
}

/// Runs a controller until it ends, with one exception: when shutdown is requested before the
/// controller's cache was filled for the first time, it is dropped at once. kube-runtime holds
/// the reconcile runner until the cache is ready, and a graceful shutdown stops the watch that
/// would fill it, so such a controller would wait forever; nothing can be in flight then.
pub(crate) async fn stop_before_ready<F, K>(
    run: F,
    store: kube::runtime::reflector::Store<K>,
    shutdown: CancellationToken,
) where
    F: Future<Output = ()>,
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    tokio::pin!(run);
    tokio::select! {
        () = &mut run => return,
        () = shutdown.cancelled() => {}
    }
    if store.wait_until_ready().now_or_never().is_none() {
        tracing::debug!("shutdown before the first list completed; controller dropped");
        return;
    }
    run.await;
}

/// Waits until kind `K` is served (its CRD is installed and established), logging while it
/// is not. Returns `false` if `shutdown` fired first.
pub async fn wait_for_kind<K: ManagedResource>(
    client: &Client,
    namespaces: &[String],
    poll: Duration,
    shutdown: &CancellationToken,
) -> bool {
    let api: Api<K> = match namespaces.first() {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let crd_name = format!("{}.{}", K::plural(&()), K::group(&()));
    let mut attempts: u64 = 0;
    loop {
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => {
                if attempts > 0 {
                    tracing::info!(crd = %crd_name, "CRD is established");
                }
                return true;
            }
            Err(e) => {
                if attempts.is_multiple_of(15) {
                    tracing::warn!(
                        crd = %crd_name,
                        error = %error_chain(&e),
                        "waiting for the CRD to be established; install it with \
                         `aliyun-backup-operator crd | kubectl apply -f -`"
                    );
                }
                attempts += 1;
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep(poll) => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crd::RdsBackup;
    use kube::runtime::reflector::store::Writer;

    #[test]
    fn cached_objects_lose_managed_fields_labels_and_last_applied_only() {
        let mut meta = kube::api::ObjectMeta {
            managed_fields: Some(vec![Default::default()]),
            annotations: Some(
                [
                    (LAST_APPLIED.to_string(), "{...}".to_string()),
                    (
                        "backup.aliyun.com/orphan-on-delete".to_string(),
                        "true".to_string(),
                    ),
                ]
                .into(),
            ),
            labels: Some([("app".to_string(), "db".to_string())].into()),
            ..Default::default()
        };
        strip_cached(&mut meta);
        assert_eq!(meta.managed_fields, None);
        let annotations = meta.annotations.unwrap();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["backup.aliyun.com/orphan-on-delete"]
        );
        assert_eq!(meta.labels, None);
    }

    #[test]
    fn a_schedule_without_an_rpo_still_reports_its_next_run() {
        let mut s: crate::crd::RdsBackupSchedule = serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1", "kind": "RdsBackupSchedule",
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {"schedule": "0 2 * * *", "template": {"spec": {
                "region": "cn-hangzhou", "dbInstanceId": "rm-1"}}},
            "status": {"nextScheduleTime": "2025-03-01T02:00:00Z"}
        }))
        .unwrap();
        let sample = rpo_sample(&s).expect("the next run is reported");
        assert_eq!(sample.next_schedule, Some(1_740_794_400.0));
        assert_eq!((sample.rpo_seconds, sample.rpo_met), (None, None));
        s.spec.schedule.rpo = Some("26h".into());
        assert_eq!(rpo_sample(&s).unwrap().rpo_seconds, Some(93_600.0));
        // Suspended (no next run) and without an RPO: no sample, as for other kinds.
        s.spec.schedule.rpo = None;
        s.status = None;
        assert!(rpo_sample(&s).is_none());
        let backup: RdsBackup = serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1", "kind": "RdsBackup",
            "metadata": {"name": "b", "namespace": "ns"},
            "spec": {"region": "cn-hangzhou", "dbInstanceId": "rm-1"}
        }))
        .unwrap();
        assert!(rpo_sample(&backup).is_none());
    }

    #[tokio::test]
    async fn shutdown_before_the_cache_is_ready_drops_the_controller() {
        // kube-runtime would never end such a controller (its runner waits for the cache).
        let writer = Writer::<RdsBackup>::default();
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let run = futures::future::pending::<()>();
        tokio::time::timeout(
            Duration::from_secs(30),
            stop_before_ready(run, writer.as_reader(), shutdown),
        )
        .await
        .expect("returns at once");
    }

    #[tokio::test]
    async fn shutdown_after_the_cache_is_ready_waits_for_the_graceful_end() {
        let mut writer = Writer::<RdsBackup>::default();
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let shutdown = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ended.clone();
        let run = async move {
            let _ = rx.await;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        let task = tokio::spawn(stop_before_ready(run, writer.as_reader(), shutdown.clone()));
        shutdown.cancel();
        tokio::task::yield_now().await;
        assert!(!task.is_finished(), "in-flight work is awaited");
        tx.send(()).unwrap();
        task.await.unwrap();
        assert!(ended.load(std::sync::atomic::Ordering::SeqCst));
    }
}
