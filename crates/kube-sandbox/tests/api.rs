//! End-to-end tests through the kube-rs client against a real HTTP sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, CustomResource, CustomResourceExt, ResourceExt};
use kube_sandbox::{FailureMatcher, Sandbox, SandboxConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "test.example.com",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    shortname = "wd",
    category = "all",
    printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".spec.size"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct WidgetSpec {
    #[schemars(range(min = 1, max = 10))]
    pub size: i32,
    #[schemars(regex(pattern = r"^[a-z]+$"))]
    pub color: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct WidgetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default)]
    pub conditions: Vec<Cond>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct Cond {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
}

async fn setup_with(cfg: SandboxConfig) -> (Sandbox, Api<Widget>) {
    let sb = Sandbox::start_with(cfg).await.unwrap();
    let client = sb.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Widget::crd())
        .await
        .unwrap();
    let established = await_condition(
        crds,
        "widgets.test.example.com",
        conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(20), established)
        .await
        .unwrap()
        .unwrap();
    (sb, Api::namespaced(client, "default"))
}

async fn setup() -> (Sandbox, Api<Widget>) {
    setup_with(SandboxConfig::default()).await
}

fn widget(name: &str, size: i32) -> Widget {
    Widget::new(
        name,
        WidgetSpec {
            size,
            color: "red".into(),
            note: None,
        },
    )
}

fn api_err(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crd_serves_kind_and_discovery() {
    let (sb, api) = setup().await;
    let d = kube::discovery::Discovery::new(sb.client())
        .run()
        .await
        .unwrap();
    let g = d.get("test.example.com").expect("group discovered");
    let (ar, caps) = g.recommended_kind("Widget").expect("kind");
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural == "widgets/status" || s.plural == "status")
    );
    let w = api
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(1));
    assert!(w.metadata.uid.is_some() && w.metadata.creation_timestamp.is_some());
    assert!(w.resource_version().is_some());
    // Version info
    let v = sb.client().apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
    sb.shutdown().await;
}

#[tokio::test]
async fn create_semantics() {
    let (sb, api) = setup().await;
    let mut w = widget("", 2);
    w.metadata.name = None;
    w.metadata.generate_name = Some("gen-".into());
    let c = api.create(&PostParams::default(), &w).await.unwrap();
    assert!(
        c.name_any().starts_with("gen-") && c.name_any().len() == 9,
        "{}",
        c.name_any()
    );
    api.create(&PostParams::default(), &widget("dup", 1))
        .await
        .unwrap();
    let e = api_err(
        api.create(&PostParams::default(), &widget("dup", 1))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    let missing: Api<Widget> = Api::namespaced(sb.client(), "nope");
    let e = api_err(
        missing
            .create(&PostParams::default(), &widget("x", 1))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    let e = api_err(api.get("absent").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    // Built-in namespaces exist.
    let nss: Api<Namespace> = Api::all(sb.client());
    for n in ["default", "kube-system"] {
        nss.get(n).await.unwrap();
    }
}

#[tokio::test]
async fn optimistic_concurrency() {
    let (_sb, api) = setup().await;
    let w = api
        .create(&PostParams::default(), &widget("oc", 1))
        .await
        .unwrap();
    let mut a = w.clone();
    a.spec.size = 2;
    let updated = api.replace("oc", &PostParams::default(), &a).await.unwrap();
    assert_ne!(updated.resource_version(), w.resource_version());
    let mut stale = w.clone();
    stale.spec.size = 3;
    let e = api_err(
        api.replace("oc", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    // Patch with a stale resourceVersion is refused too.
    let p = json!({"metadata": {"resourceVersion": w.resource_version()}, "spec": {"size": 4}});
    let e = api_err(
        api.patch("oc", &PatchParams::default(), &Patch::Merge(&p))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    // Resource versions increase across the whole server.
    let cm: Api<ConfigMap> = Api::default_namespaced(api.clone().into_client());
    let c = cm
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap(),
        )
        .await
        .unwrap();
    let rv_cm: u64 = c.resource_version().unwrap().parse().unwrap();
    let rv_w: u64 = updated.resource_version().unwrap().parse().unwrap();
    assert!(rv_cm > rv_w);
}

#[tokio::test]
async fn generation_and_status_rules() {
    let (_sb, api) = setup().await;
    api.create(&PostParams::default(), &widget("g", 1))
        .await
        .unwrap();
    // Metadata change: no generation bump.
    let w = api
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(1));
    // Spec change: bump.
    let w = api
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(2));
    // Status via main resource: ignored.
    let w = api
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "X"}})),
        )
        .await
        .unwrap();
    assert!(w.status.is_none());
    // Status via /status: applied, generation unchanged, spec changes ignored.
    let w = api
        .patch_status(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}, "spec": {"size": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(w.status.unwrap().phase.as_deref(), Some("Ready"));
    assert_eq!(w.spec.size, 5);
    assert_eq!(w.metadata.generation, Some(2));
    // No-op patch: resourceVersion unchanged.
    let before = api.get("g").await.unwrap();
    let after = api
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(before.resource_version(), after.resource_version());
    // Replace of the main resource keeps status.
    let mut r = after.clone();
    r.status = None;
    r.spec.size = 6;
    let r = api.replace("g", &PostParams::default(), &r).await.unwrap();
    assert_eq!(r.status.unwrap().phase.as_deref(), Some("Ready"));
    assert_eq!(r.metadata.generation, Some(3));
}

#[tokio::test]
async fn finalizer_driven_deletion() {
    let (_sb, api) = setup().await;
    let mut w = widget("f", 1);
    w.metadata.finalizers = Some(vec!["test/cleanup".into()]);
    api.create(&PostParams::default(), &w).await.unwrap();
    let rv0 = api.get("f").await.unwrap().resource_version().unwrap();
    let res = api.delete("f", &DeleteParams::default()).await.unwrap();
    let left = res
        .left()
        .expect("object still present while finalizer remains");
    assert!(left.metadata.deletion_timestamp.is_some());
    // Setting deletionTimestamp bumps generation (kube-apiserver markAsDeleting).
    assert_eq!(left.metadata.generation, Some(2));
    let still = api.get("f").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());
    // Adding a new finalizer during deletion is refused.
    let e = api_err(
        api.patch(
            "f",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["test/cleanup", "other"]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    // A JSON patch whose test fails is 422 and changes nothing.
    let bad = json_patch::Patch(
        serde_json::from_value(json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": "wrong"},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ]))
        .unwrap(),
    );
    let e = api_err(
        api.patch("f", &PatchParams::default(), &Patch::Json::<()>(bad))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    // Removing the last finalizer deletes the object.
    let good = json_patch::Patch(
        serde_json::from_value(json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": "test/cleanup"},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ]))
        .unwrap(),
    );
    api.patch("f", &PatchParams::default(), &Patch::Json::<()>(good))
        .await
        .unwrap();
    assert_eq!(api_err(api.get("f").await.unwrap_err()).code, 404);
    // The watch history shows MODIFIED (deletionTimestamp) then DELETED.
    let mut s = api
        .watch(&WatchParams::default(), &rv0)
        .await
        .unwrap()
        .boxed();
    let mut kinds = vec![];
    while kinds.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), s.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Modified(_)) => kinds.push("M"),
            Some(WatchEvent::Deleted(_)) => kinds.push("D"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds, vec!["M", "D"]);
    // Without finalizers deletion is immediate.
    api.create(&PostParams::default(), &widget("plain", 1))
        .await
        .unwrap();
    assert!(
        api.delete("plain", &DeleteParams::default())
            .await
            .unwrap()
            .is_right()
    );
}

#[tokio::test]
async fn watch_resume_and_gone() {
    let (sb, api) = setup().await;
    api.create(&PostParams::default(), &widget("w1", 1))
        .await
        .unwrap();
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.clone().unwrap();
    api.create(&PostParams::default(), &widget("w2", 1))
        .await
        .unwrap();
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .unwrap();
    let mut s = api
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    let e1 = tokio::time::timeout(Duration::from_secs(10), s.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(e1, WatchEvent::Added(ref w) if w.name_any() == "w2"),
        "{e1:?}"
    );
    let e2 = tokio::time::timeout(Duration::from_secs(10), s.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(e2, WatchEvent::Modified(ref w) if w.spec.size == 2));
    // Live events continue on the same stream.
    api.delete("w2", &DeleteParams::default()).await.unwrap();
    let e3 = tokio::time::timeout(Duration::from_secs(10), s.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(e3, WatchEvent::Deleted(ref w) if w.name_any() == "w2"));
    // Too-old resourceVersion: 410 as a watch ERROR event.
    sb.compact();
    let mut s = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), s.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
    // Without a resourceVersion, the watch starts with ADDED for existing objects.
    let mut s = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), s.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Added(w)) => assert_eq!(w.name_any(), "w1"),
        other => panic!("expected ADDED, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_bookmarks_and_timeout() {
    let (_sb, api) = setup_with(SandboxConfig {
        bookmark_interval: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut s = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &widget("b", 1))
        .await
        .unwrap();
    let mut saw_added = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), s.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(_)) => saw_added = true,
            Some(WatchEvent::Bookmark(b)) if saw_added => {
                let brv: u64 = b.metadata.resource_version.parse().unwrap();
                assert!(brv > rv.parse::<u64>().unwrap());
                break;
            }
            Some(WatchEvent::Bookmark(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // timeoutSeconds ends the stream.
    let mut s = api
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap()
        .boxed();
    let mut n = 0;
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(20), s.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        n += 1;
        assert!(n < 1000, "stream did not end: {ev:?}");
    }
    // Streaming list: sendInitialEvents ends with the initial-events-end bookmark.
    let wp = WatchParams::default().initial_events();
    let mut s = api.watch(&wp, "").await.unwrap().boxed();
    let mut added = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), s.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(_)) => added += 1,
            Some(WatchEvent::Bookmark(b)) => {
                assert_eq!(
                    b.metadata
                        .annotations
                        .get("k8s.io/initial-events-end")
                        .map(String::as_str),
                    Some("true")
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, 1);
}

#[tokio::test]
async fn server_side_apply_ownership() {
    let (_sb, api) = setup().await;
    let a = PatchParams::apply("alice");
    let b = PatchParams::apply("bob");
    let cfg = json!({"apiVersion": "test.example.com/v1", "kind": "Widget", "metadata": {"name": "s"}, "spec": {"size": 1, "color": "red"}});
    let w = api.patch("s", &a, &Patch::Apply(&cfg)).await.unwrap();
    assert_eq!(w.spec.size, 1);
    let mf = w.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("alice"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    // Re-applying the same config is a no-op.
    let w2 = api.patch("s", &a, &Patch::Apply(&cfg)).await.unwrap();
    assert_eq!(w.resource_version(), w2.resource_version());
    // Bob setting the same value shares ownership; a different value conflicts.
    let same = json!({"apiVersion": "test.example.com/v1", "kind": "Widget", "metadata": {"name": "s"}, "spec": {"size": 1}});
    api.patch("s", &b, &Patch::Apply(&same)).await.unwrap();
    let bob = json!({"apiVersion": "test.example.com/v1", "kind": "Widget", "metadata": {"name": "s"}, "spec": {"size": 2}});
    let e = api_err(api.patch("s", &b, &Patch::Apply(&bob)).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message.contains("alice") && e.message.contains(".spec.size"),
        "{}",
        e.message
    );
    // Force takes ownership.
    let w = api
        .patch("s", &b.clone().force(), &Patch::Apply(&bob))
        .await
        .unwrap();
    assert_eq!(w.spec.size, 2);
    // With several managers, re-applying an unchanged configuration is still a no-op.
    let again = api
        .patch("s", &b.clone().force(), &Patch::Apply(&bob))
        .await
        .unwrap();
    assert_eq!(again.resource_version(), w.resource_version());
    let again = api.patch("s", &a, &Patch::Apply(&cfg)).await;
    assert!(again.is_err(), "alice's size=1 now conflicts with bob");
    // Alice drops size from her config: Bob still owns it, value stays.
    let alice2 = json!({"apiVersion": "test.example.com/v1", "kind": "Widget", "metadata": {"name": "s", "labels": {"team": "a"}}, "spec": {"color": "red"}});
    let w = api.patch("s", &a, &Patch::Apply(&alice2)).await.unwrap();
    assert_eq!(w.spec.size, 2);
    assert_eq!(w.labels().get("team").map(String::as_str), Some("a"));
    // Alice drops her label: it is removed (she was the only owner).
    let alice3 = json!({"apiVersion": "test.example.com/v1", "kind": "Widget", "metadata": {"name": "s"}, "spec": {"color": "red"}});
    let w = api.patch("s", &a, &Patch::Apply(&alice3)).await.unwrap();
    assert!(!w.labels().contains_key("team"));
    // A merge patch by another manager takes ownership without conflict.
    let w = api
        .patch(
            "s",
            &PatchParams {
                field_manager: Some("carol".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"spec": {"color": "blue"}})),
        )
        .await
        .unwrap();
    let mf = w.metadata.managed_fields.unwrap();
    assert!(
        mf.iter()
            .any(|m| m.manager.as_deref() == Some("carol")
                && m.operation.as_deref() == Some("Update"))
    );
    // Status apply on the status subresource.
    let st = json!({"apiVersion": "test.example.com/v1", "kind": "Widget", "status": {"phase": "Done", "conditions": [{"type": "Ready", "status": "True"}]}});
    let w = api
        .patch_status("s", &PatchParams::apply("ctrl"), &Patch::Apply(&st))
        .await
        .unwrap();
    assert_eq!(w.status.unwrap().phase.as_deref(), Some("Done"));
    // Apply creates a missing object.
    let cfg = json!({"apiVersion": "test.example.com/v1", "kind": "Widget", "metadata": {"name": "new"}, "spec": {"size": 3, "color": "red"}});
    let w = api.patch("new", &a, &Patch::Apply(&cfg)).await.unwrap();
    assert_eq!(w.metadata.generation, Some(1));
    assert_eq!(
        w.metadata.managed_fields.unwrap()[0].manager.as_deref(),
        Some("alice")
    );
}

#[tokio::test]
async fn schema_rejection() {
    let (_sb, api) = setup().await;
    let e = api_err(
        api.create(&PostParams::default(), &widget("big", 11))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(e.message.contains("spec.size"), "{}", e.message);
    let causes = e.details.unwrap().causes;
    assert_eq!(causes[0].field, "spec.size");
    let mut w = widget("upper", 1);
    w.spec.color = "RED".into();
    let e = api_err(api.create(&PostParams::default(), &w).await.unwrap_err());
    assert_eq!(e.code, 422);
    // Missing required field through a raw patch.
    api.create(&PostParams::default(), &widget("ok", 1))
        .await
        .unwrap();
    let e = api_err(
        api.patch(
            "ok",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"color": null}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    // Unknown fields are pruned.
    let w = api
        .patch(
            "ok",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"bogus": 1}})),
        )
        .await
        .unwrap();
    let raw = serde_json::to_value(&w).unwrap();
    assert!(raw["spec"].get("bogus").is_none());
    // ... or refused with fieldValidation=Strict.
    let strict = PatchParams {
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..Default::default()
    };
    let e = api_err(
        api.patch("ok", &strict, &Patch::Merge(json!({"spec": {"bogus": 1}})))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
}

#[tokio::test]
async fn selectors_and_paging() {
    let (_sb, api) = setup().await;
    for (i, tier) in ["db", "web", "web", "cache", "db"].iter().enumerate() {
        let mut w = widget(&format!("p{i}"), 1);
        w.metadata.labels = Some([("tier".to_string(), tier.to_string())].into());
        if i == 0 {
            w.metadata
                .labels
                .as_mut()
                .unwrap()
                .insert("primary".into(), "yes".into());
        }
        api.create(&PostParams::default(), &w).await.unwrap();
    }
    let count = |sel: &'static str| {
        let api = api.clone();
        async move {
            api.list(&ListParams::default().labels(sel))
                .await
                .unwrap()
                .items
                .len()
        }
    };
    assert_eq!(count("tier=db").await, 2);
    assert_eq!(count("tier==web").await, 2);
    assert_eq!(count("tier!=db").await, 3);
    assert_eq!(count("tier in (db,cache)").await, 3);
    assert_eq!(count("tier notin (db,cache)").await, 2);
    assert_eq!(count("primary").await, 1);
    assert_eq!(count("!primary").await, 4);
    let l = api
        .list(&ListParams::default().fields("metadata.name=p3"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 1);
    let l = api
        .list(&ListParams::default().fields("metadata.namespace=default,metadata.name!=p3"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 4);
    let e = api_err(
        api.list(&ListParams::default().fields("spec.size=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    // Paging.
    let mut names = vec![];
    let mut lp = ListParams::default().limit(2);
    loop {
        let page = api.list(&lp).await.unwrap();
        assert!(page.items.len() <= 2);
        names.extend(page.items.iter().map(|w| w.name_any()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = ListParams::default().limit(2).continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(names, vec!["p0", "p1", "p2", "p3", "p4"]);
    // Cluster-wide list.
    let all: Api<Widget> = Api::all(api.clone().into_client());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        5
    );
    // deletecollection by label.
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=web"),
    )
    .await
    .unwrap();
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
}

async fn raw_get(client: &Client, path: &str, accept: &str) -> serde_json::Value {
    let req = http::Request::get(path)
        .header("Accept", accept)
        .body(Vec::new())
        .unwrap();
    let text = client.request_text(req).await.unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn table_output() {
    let (sb, api) = setup().await;
    api.create(&PostParams::default(), &widget("t", 4))
        .await
        .unwrap();
    api.patch_status(
        "t",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})),
    )
    .await
    .unwrap();
    let accept = "application/json;as=Table;g=meta.k8s.io;v=v1,application/json";
    let t = raw_get(
        &sb.client(),
        "/apis/test.example.com/v1/namespaces/default/widgets",
        accept,
    )
    .await;
    assert_eq!(t["kind"], "Table");
    let names: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Name", "Size", "Ready", "Age"]);
    assert_eq!(t["rows"][0]["cells"][0], "t");
    assert_eq!(t["rows"][0]["cells"][1], 4);
    assert_eq!(t["rows"][0]["cells"][2], "True");
    assert!(t["rows"][0]["cells"][3].as_str().unwrap().ends_with('s'));
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    let one = raw_get(
        &sb.client(),
        "/apis/test.example.com/v1/namespaces/default/widgets/t",
        accept,
    )
    .await;
    assert_eq!(one["rows"].as_array().unwrap().len(), 1);
    let ns = raw_get(&sb.client(), "/api/v1/namespaces", accept).await;
    let cols: Vec<&str> = ns["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, vec!["Name", "Status", "Age"]);
}

#[tokio::test]
async fn builtins_secrets_configmaps_leases_events() {
    let sb = Sandbox::start().await.unwrap();
    let c = sb.client();
    let secrets: Api<Secret> = Api::default_namespaced(c.clone());
    let s: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"k": "hello"}}))
            .unwrap();
    let s = secrets.create(&PostParams::default(), &s).await.unwrap();
    assert_eq!(s.data.unwrap()["k"].0, b"hello");
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    let leases: Api<Lease> = Api::namespaced(c.clone(), "kube-system");
    let l: Lease = serde_json::from_value(json!({"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}})).unwrap();
    let l = leases.create(&PostParams::default(), &l).await.unwrap();
    let mut l2 = l.clone();
    l2.spec.as_mut().unwrap().holder_identity = Some("b".into());
    leases
        .replace("leader", &PostParams::default(), &l2)
        .await
        .unwrap();
    let e = api_err(
        leases
            .replace("leader", &PostParams::default(), &l2)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    // Events via the kube-runtime recorder (create, then merge patch of the series).
    let cms: Api<ConfigMap> = Api::default_namespaced(c.clone());
    let cm = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "cm"}, "data": {"a": "1"}}))
                .unwrap(),
        )
        .await
        .unwrap();
    let rec = kube::runtime::events::Recorder::new(
        c.clone(),
        kube::runtime::events::Reporter {
            controller: "test".into(),
            instance: None,
        },
    );
    let ev = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Normal,
        reason: "Tested".into(),
        note: Some("hello".into()),
        action: "Test".into(),
        secondary: None,
    };
    let oref = kube::Resource::object_ref(&cm, &());
    rec.publish(&ev, &oref).await.unwrap();
    rec.publish(&ev, &oref).await.unwrap();
    let evs: Api<k8s_openapi::api::events::v1::Event> = Api::default_namespaced(c.clone());
    let list = evs.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].series.as_ref().map(|s| s.count), Some(2));
    // The same event is visible as a core/v1 Event (what `kubectl describe` reads).
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::default_namespaced(c.clone());
    let lp = ListParams::default().fields("involvedObject.name=cm,involvedObject.kind=ConfigMap");
    let list = core.list(&lp).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].message.as_deref(), Some("hello"));
    assert_eq!(list.items[0].reason.as_deref(), Some("Tested"));
    let by_regarding = evs
        .list(&ListParams::default().fields("regarding.name=cm"))
        .await
        .unwrap();
    assert_eq!(by_regarding.items.len(), 1);
    assert!(
        evs.list(&ListParams::default().fields("regarding.name=other"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Immutable ConfigMaps refuse data changes.
    let frozen: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": true}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &frozen).await.unwrap();
    let e = api_err(
        cms.patch(
            "frozen",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "2"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    cms.patch(
        "frozen",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"ok": "yes"}}})),
    )
    .await
    .unwrap();
    let counters = sb.counters();
    assert_eq!(counters.get("create", "events.k8s.io", "events", ""), 1);
    assert_eq!(counters.get("patch", "events.k8s.io", "events", ""), 1);
    // Deleting a namespace removes its contents.
    let nss: Api<Namespace> = Api::all(c.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "tmp"}})).unwrap(),
    )
    .await
    .unwrap();
    let tmp: Api<ConfigMap> = Api::namespaced(c.clone(), "tmp");
    tmp.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
    )
    .await
    .unwrap();
    nss.delete("tmp", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_err(nss.get("tmp").await.unwrap_err()).code, 404);
    assert_eq!(api_err(tmp.get("x").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn fault_injection_and_counters() {
    let (sb, api) = setup().await;
    api.create(&PostParams::default(), &widget("x", 1))
        .await
        .unwrap();
    sb.reset_counters();
    sb.fail_next(
        FailureMatcher::new("patch", "widgets").subresource("status"),
        1,
        500,
    );
    let p = Patch::Merge(json!({"status": {"phase": "A"}}));
    let e = api_err(
        api.patch_status("x", &PatchParams::default(), &p)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    assert!(
        api.get_status("x").await.unwrap().status.is_none(),
        "failed request must not be applied"
    );
    // The main resource is not matched by a status matcher.
    sb.fail_next(
        FailureMatcher::new("patch", "widgets").subresource("status"),
        1,
        500,
    );
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .unwrap();
    assert_eq!(sb.pending_failures(), 1);
    let e = api_err(
        api.patch_status("x", &PatchParams::default(), &p)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 500);
    api.patch_status("x", &PatchParams::default(), &p)
        .await
        .unwrap();
    let c = sb.counters();
    assert_eq!(c.get("patch", "test.example.com", "widgets", "status"), 3);
    assert_eq!(c.get("patch", "test.example.com", "widgets", ""), 1);
    assert_eq!(c.writes("widgets"), 4);
    assert!(c.verbs_used().contains(&(
        "test.example.com".into(),
        "widgets/status".into(),
        "patch".into()
    )));
}

mod controller {
    use super::*;
    use std::sync::{Arc, Mutex};

    use kube::runtime::controller::{Action, Controller};
    use kube::runtime::finalizer::{Event as Finalizer, finalizer};
    use kube::runtime::watcher;

    #[derive(Debug, thiserror::Error)]
    #[error("reconcile failed: {0}")]
    struct Failed(String);

    struct Ctx {
        api: Api<Widget>,
        seen: Mutex<Vec<String>>,
    }

    async fn reconcile(w: Arc<Widget>, ctx: Arc<Ctx>) -> Result<Action, Failed> {
        finalizer(&ctx.api, "test.example.com/cleanup", w, |ev| async {
            match ev {
                Finalizer::Apply(w) => {
                    let gen_ = w.metadata.generation.unwrap_or_default();
                    ctx.seen.lock().unwrap().push(format!("apply:{}:{gen_}", w.name_any()));
                    let st = json!({"apiVersion": "test.example.com/v1", "kind": "Widget",
                        "status": {"phase": format!("gen{gen_}"), "conditions": [{"type": "Ready", "status": "True"}]}});
                    ctx.api
                        .patch_status(&w.name_any(), &PatchParams::apply("widget-ctrl").force(), &Patch::Apply(&st))
                        .await
                        .map_err(|e| Failed(e.to_string()))?;
                    Ok::<_, Failed>(Action::await_change())
                }
                Finalizer::Cleanup(w) => {
                    ctx.seen.lock().unwrap().push(format!("cleanup:{}", w.name_any()));
                    Ok::<_, Failed>(Action::await_change())
                }
            }
        })
        .await
        .map_err(|e| Failed(e.to_string()))
    }

    fn error_policy(_w: Arc<Widget>, _e: &Failed, _ctx: Arc<Ctx>) -> Action {
        Action::requeue(Duration::from_millis(50))
    }

    async fn eventually<F, Fut>(what: &str, mut f: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..600 {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn controller_with_finalizer_sees_create_update_delete() {
        let (sb, api) = setup().await;
        let ctx = Arc::new(Ctx {
            api: api.clone(),
            seen: Mutex::new(vec![]),
        });
        let ctrl = Controller::new(api.clone(), watcher::Config::default())
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|_| async {});
        let handle = tokio::spawn(ctrl);

        api.create(&PostParams::default(), &widget("c1", 1))
            .await
            .unwrap();
        eventually("finalizer added and status written", || {
            let api = api.clone();
            async move {
                let w = api.get("c1").await.unwrap();
                w.finalizers()
                    .contains(&"test.example.com/cleanup".to_string())
                    && w.status.and_then(|s| s.phase).as_deref() == Some("gen1")
            }
        })
        .await;

        api.patch(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 7}})),
        )
        .await
        .unwrap();
        eventually("update reconciled", || {
            let api = api.clone();
            async move {
                api.get("c1")
                    .await
                    .unwrap()
                    .status
                    .and_then(|s| s.phase)
                    .as_deref()
                    == Some("gen2")
            }
        })
        .await;

        api.delete("c1", &DeleteParams::default()).await.unwrap();
        eventually("object gone after cleanup", || {
            let api = api.clone();
            async move { matches!(api.get("c1").await, Err(kube::Error::Api(s)) if s.code == 404) }
        })
        .await;
        let seen = ctx.seen.lock().unwrap().clone();
        assert!(seen.contains(&"apply:c1:1".to_string()), "{seen:?}");
        assert!(seen.contains(&"apply:c1:2".to_string()), "{seen:?}");
        assert_eq!(
            seen.last().map(String::as_str),
            Some("cleanup:c1"),
            "{seen:?}"
        );
        // The controller uses list+watch and JSON patches for the finalizer.
        let c = sb.counters();
        assert!(c.get("list", "test.example.com", "widgets", "") >= 1);
        assert!(c.get("watch", "test.example.com", "widgets", "") >= 1);
        assert!(c.get("patch", "test.example.com", "widgets", "") >= 2);
        handle.abort();
    }

    #[tokio::test]
    async fn controller_survives_closed_watches() {
        let (sb, api) = setup().await;
        let ctx = Arc::new(Ctx {
            api: api.clone(),
            seen: Mutex::new(vec![]),
        });
        let handle = tokio::spawn(
            Controller::new(api.clone(), watcher::Config::default())
                .run(reconcile, error_policy, ctx.clone())
                .for_each(|_| async {}),
        );
        api.create(&PostParams::default(), &widget("r1", 1))
            .await
            .unwrap();
        eventually("first object reconciled", || {
            let api = api.clone();
            async move {
                api.get("r1")
                    .await
                    .unwrap()
                    .status
                    .and_then(|s| s.phase)
                    .as_deref()
                    == Some("gen1")
            }
        })
        .await;
        let watches_before = sb
            .counters()
            .get("watch", "test.example.com", "widgets", "");
        sb.close_watches();
        api.create(&PostParams::default(), &widget("r2", 1))
            .await
            .unwrap();
        eventually(
            "object created after the watch was cut is reconciled",
            || {
                let api = api.clone();
                async move {
                    api.get("r2")
                        .await
                        .unwrap()
                        .status
                        .and_then(|s| s.phase)
                        .as_deref()
                        == Some("gen1")
                }
            },
        )
        .await;
        eventually("watch re-established", || {
            let sb = &sb;
            async move {
                sb.counters()
                    .get("watch", "test.example.com", "widgets", "")
                    > watches_before
            }
        })
        .await;
        handle.abort();
    }

    #[tokio::test]
    async fn controller_streaming_list_mode() {
        let (_sb, api) = setup().await;
        api.create(&PostParams::default(), &widget("pre", 1))
            .await
            .unwrap();
        let ctx = Arc::new(Ctx {
            api: api.clone(),
            seen: Mutex::new(vec![]),
        });
        let cfg = watcher::Config::default().streaming_lists();
        let handle = tokio::spawn(
            Controller::new(api.clone(), cfg)
                .run(reconcile, error_policy, ctx.clone())
                .for_each(|_| async {}),
        );
        eventually("existing object reconciled", || {
            let api = api.clone();
            async move {
                api.get("pre")
                    .await
                    .unwrap()
                    .status
                    .and_then(|s| s.phase)
                    .as_deref()
                    == Some("gen1")
            }
        })
        .await;
        api.create(&PostParams::default(), &widget("post", 1))
            .await
            .unwrap();
        eventually("new object reconciled", || {
            let api = api.clone();
            async move {
                api.get("post")
                    .await
                    .unwrap()
                    .status
                    .and_then(|s| s.phase)
                    .as_deref()
                    == Some("gen1")
            }
        })
        .await;
        handle.abort();
    }
}

#[tokio::test]
async fn cel_rules_list_maps_and_crd_lifecycle() {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let sb = Sandbox::start().await.unwrap();
    let c = sb.client();
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.test.example.com"},
        "spec": {"group": "test.example.com", "scope": "Cluster",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object",
                        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "spec is immutable"}],
                        "properties": {"n": {"type": "integer", "x-kubernetes-validations": [{"rule": "self <= 5", "message": "n must be at most 5"}]}}},
                    "status": {"type": "object", "properties": {"conditions": {"type": "array",
                        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                        "items": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}, "status": {"type": "string"}}}}}}
                }}}}]}
    }))
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let gvk = GroupVersionKind::gvk("test.example.com", "v1", "Thing");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "things");
    let api: Api<DynamicObject> = Api::all_with(c.clone(), &ar);
    let obj = |n: i64| -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "test.example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"n": n}})).unwrap()
    };
    let e = api_err(
        api.create(&PostParams::default(), &obj(9))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(e.message.contains("n must be at most 5"), "{}", e.message);
    api.create(&PostParams::default(), &obj(1)).await.unwrap();
    let e = api_err(
        api.patch(
            "t",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"n": 2}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(e.message.contains("spec is immutable"), "{}", e.message);
    // Duplicate keys in a list-type=map are refused.
    let dup = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}]}});
    let e = api_err(
        api.patch_status("t", &PatchParams::default(), &Patch::Merge(dup))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    // SSA on a list-type=map: two managers own different items.
    let cond = |t: &str, st: &str| json!({"apiVersion": "test.example.com/v1", "kind": "Thing", "status": {"conditions": [{"type": t, "status": st}]}});
    api.patch_status(
        "t",
        &PatchParams::apply("a"),
        &Patch::Apply(cond("A", "True")),
    )
    .await
    .unwrap();
    let o = api
        .patch_status(
            "t",
            &PatchParams::apply("b"),
            &Patch::Apply(cond("B", "False")),
        )
        .await
        .unwrap();
    assert_eq!(o.data["status"]["conditions"].as_array().unwrap().len(), 2);
    // Changing B's status as "a" conflicts; with force it takes over that field only.
    let both = json!({"apiVersion": "test.example.com/v1", "kind": "Thing", "status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "True"}]}});
    let e = api_err(
        api.patch_status("t", &PatchParams::apply("a"), &Patch::Apply(&both))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    // "a" stops applying condition A: it is removed, B stays.
    let none = json!({"apiVersion": "test.example.com/v1", "kind": "Thing", "status": {}});
    let o = api
        .patch_status("t", &PatchParams::apply("a"), &Patch::Apply(&none))
        .await
        .unwrap();
    let conds = o.data["status"]["conditions"].as_array().unwrap().clone();
    assert_eq!(conds, vec![json!({"type": "B", "status": "False"})]);
    // "b" can still change its own condition ("a" owning the empty status map is no claim on it).
    let o = api
        .patch_status(
            "t",
            &PatchParams::apply("b"),
            &Patch::Apply(cond("B", "True")),
        )
        .await
        .unwrap();
    assert_eq!(o.data["status"]["conditions"][0]["status"], "True");
    // Deleting the CRD removes its objects and stops serving the kind.
    crds.delete("things.test.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let e = api_err(api.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn watch_selector_transitions_and_table_events() {
    let (sb, api) = setup().await;
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let wp = WatchParams::default().labels("sel=yes");
    let mut s = api.watch(&wp, &rv).await.unwrap().boxed();
    api.create(&PostParams::default(), &widget("s1", 1))
        .await
        .unwrap();
    api.patch(
        "s1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"sel": "yes"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "s1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .unwrap();
    api.patch(
        "s1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"sel": null}}})),
    )
    .await
    .unwrap();
    let mut kinds = vec![];
    while kinds.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(10), s.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(_)) => kinds.push("ADDED"),
            Some(WatchEvent::Modified(_)) => kinds.push("MODIFIED"),
            Some(WatchEvent::Deleted(_)) => kinds.push("DELETED"),
            Some(WatchEvent::Bookmark(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds, vec!["ADDED", "MODIFIED", "DELETED"]);
    // Table watch events (what `kubectl get -w` asks for).
    let req = http::Request::get(format!("/apis/test.example.com/v1/namespaces/default/widgets?watch=true&resourceVersion={rv}&timeoutSeconds=5"))
        .header("Accept", "application/json;as=Table;g=meta.k8s.io;v=v1")
        .body(Vec::new())
        .unwrap();
    let mut evs = sb
        .client()
        .request_events::<serde_json::Value>(req)
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), evs.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match first {
        WatchEvent::Added(t) => {
            assert_eq!(t["kind"], "Table");
            assert_eq!(t["columnDefinitions"][1]["name"], "Size");
            assert_eq!(t["rows"][0]["cells"][0], "s1");
        }
        other => panic!("unexpected {other:?}"),
    }
    let second = tokio::time::timeout(Duration::from_secs(10), evs.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match second {
        WatchEvent::Modified(t) => assert_eq!(t["columnDefinitions"], json!([])),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn namespace_termination_owner_gc_and_dry_run() {
    let (sb, _api) = setup().await;
    let c = sb.client();
    let nss: Api<Namespace> = Api::all(c.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "work"}})).unwrap(),
    )
    .await
    .unwrap();
    let api: Api<Widget> = Api::namespaced(c.clone(), "work");
    // dryRun: validated, not stored.
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&dry, &widget("dry", 1)).await.unwrap();
    assert_eq!(api_err(api.get("dry").await.unwrap_err()).code, 404);
    // Owner GC: a ConfigMap owned by a widget goes when the widget goes.
    let owner = api
        .create(&PostParams::default(), &widget("owner", 1))
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "work");
    let oref = kube::Resource::controller_owner_ref(&owner, &()).unwrap();
    let mut cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "child"}})).unwrap();
    cm.metadata.owner_references = Some(vec![oref]);
    cms.create(&PostParams::default(), &cm).await.unwrap();
    api.delete("owner", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_err(cms.get("child").await.unwrap_err()).code, 404);
    // A namespace with a finalizer-held object stays Terminating until it is released.
    let mut held = widget("held", 1);
    held.metadata.finalizers = Some(vec!["test/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    nss.delete("work", &DeleteParams::default()).await.unwrap();
    let ns = nss.get("work").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    let e = api_err(
        api.create(&PostParams::default(), &widget("late", 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);
    assert!(
        api.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_err(nss.get("work").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn bounded_history_gives_gone() {
    let (_sb, api) = setup_with(SandboxConfig {
        history_limit: 3,
        ..Default::default()
    })
    .await;
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..5 {
        api.create(&PostParams::default(), &widget(&format!("h{i}"), 1))
            .await
            .unwrap();
    }
    let mut s = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), s.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Error(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected 410, got {other:?}"),
    }
    // A recent version still resumes.
    let rv2 = api.get("h3").await.unwrap().resource_version().unwrap();
    let mut s = api
        .watch(&WatchParams::default(), &rv2)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), s.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Added(w)) => assert_eq!(w.name_any(), "h4"),
        other => panic!("expected ADDED h4, got {other:?}"),
    }
}

async fn raw(
    client: &Client,
    method: &str,
    path: &str,
    ct: &str,
    body: &str,
) -> Result<String, kube::core::Status> {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", ct)
        .body(body.as_bytes().to_vec())
        .unwrap();
    client.request_text(req).await.map_err(api_err)
}

#[tokio::test]
async fn malformed_requests_get_status_errors() {
    let (sb, api) = setup().await;
    api.create(&PostParams::default(), &widget("m", 1))
        .await
        .unwrap();
    let c = sb.client();
    let base = "/apis/test.example.com/v1/namespaces/default/widgets";
    let cases: Vec<(&str, String, &str, &str, u16)> = vec![
        (
            "POST",
            base.to_string(),
            "application/json",
            "{not json",
            400,
        ),
        ("POST", base.to_string(), "application/json", "[1,2]", 400),
        (
            "POST",
            base.to_string(),
            "application/json",
            r#"{"apiVersion":"v9","kind":"Widget","metadata":{"name":"x"}}"#,
            400,
        ),
        (
            "POST",
            base.to_string(),
            "application/json",
            r#"{"kind":"Other","metadata":{"name":"x"}}"#,
            400,
        ),
        (
            "POST",
            base.to_string(),
            "application/json",
            r#"{"metadata":{"name":"Bad_Name"},"spec":{"size":1,"color":"a"}}"#,
            422,
        ),
        ("POST", format!("{base}/m"), "application/json", "{}", 405),
        ("PUT", base.to_string(), "application/json", "{}", 405),
        (
            "PUT",
            format!("{base}/m"),
            "application/json",
            r#"{"metadata":{"name":"other"}}"#,
            400,
        ),
        ("PATCH", format!("{base}/m"), "text/plain", "x", 415),
        (
            "PATCH",
            format!("{base}/m"),
            "application/json-patch+json",
            r#"[{"op":"bogus"}]"#,
            400,
        ),
        (
            "PATCH",
            format!("{base}/m"),
            "application/json-patch+json",
            r#"[{"op":"remove","path":"/nope/x"}]"#,
            422,
        ),
        (
            "PATCH",
            format!("{base}/m"),
            "application/merge-patch+json",
            "[]",
            400,
        ),
        (
            "PATCH",
            format!("{base}/m"),
            "application/apply-patch+yaml",
            "spec: {size: 2}",
            400,
        ),
        (
            "PATCH",
            format!("{base}/m?fieldManager=x"),
            "application/apply-patch+yaml",
            ": : :",
            400,
        ),
        (
            "PATCH",
            format!("{base}/m?fieldManager=x"),
            "application/apply-patch+yaml",
            "spec: {size: 2}",
            400,
        ),
        (
            "GET",
            format!("{base}?labelSelector=a%20in%20(b"),
            "",
            "",
            400,
        ),
        ("GET", format!("{base}?labelSelector=%3D%3Dx"), "", "", 400),
        ("GET", format!("{base}?continue=zz"), "", "", 400),
        (
            "GET",
            format!("{base}?watch=true&resourceVersion=abc"),
            "",
            "",
            400,
        ),
        ("GET", format!("{base}/m/scale"), "", "", 404),
        (
            "GET",
            "/apis/test.example.com/v9/widgets".to_string(),
            "",
            "",
            404,
        ),
        ("GET", "/apis/nope/v1/things".to_string(), "", "", 404),
        (
            "GET",
            "/api/v1/namespaces/default/widgets".to_string(),
            "",
            "",
            404,
        ),
        (
            "GET",
            "/api/v1/namespaces/default/namespaces/x".to_string(),
            "",
            "",
            404,
        ),
        (
            "GET",
            "/totally/unknown/path/a/b/c/d/e".to_string(),
            "",
            "",
            404,
        ),
        (
            "DELETE",
            format!("{base}/m"),
            "application/json",
            r#"{"preconditions":{"uid":"nope"}}"#,
            409,
        ),
        (
            "DELETE",
            format!("{base}/absent"),
            "application/json",
            "",
            404,
        ),
    ];
    for (method, path, ct, body, code) in cases {
        match raw(&c, method, &path, ct, body).await {
            Ok(t) => panic!("{method} {path} {body}: expected {code}, got OK {t}"),
            Err(s) => assert_eq!(s.code, code, "{method} {path} {body}: {s:?}"),
        }
    }
    // The server is still healthy and the object untouched.
    assert_eq!(api.get("m").await.unwrap().spec.size, 1);
}

#[tokio::test]
async fn kubeconfig_builds_a_working_client() {
    let sb = Sandbox::start().await.unwrap();
    let path = std::env::temp_dir().join(format!("kube-sandbox-kc-{}.yaml", uuid::Uuid::new_v4()));
    sb.write_kubeconfig(&path).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(kc.current_context.as_deref(), Some("kube-sandbox"));
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    let client = Client::try_from(cfg).unwrap();
    let nss: Api<Namespace> = Api::all(client);
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert!(names.contains(&"default".to_string()) && names.contains(&"kube-system".to_string()));
    assert_eq!(
        sb.kubeconfig().clusters[0]
            .cluster
            .as_ref()
            .unwrap()
            .server
            .as_deref(),
        Some(sb.url())
    );
}

// ------------------------------------------------------------------ ValidatingAdmissionPolicy

fn vap(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
           "metadata": {"name": name}, "spec": spec})
}

fn vap_binding(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
           "metadata": {"name": name}, "spec": spec})
}

async fn put_policy(client: &Client, policy: serde_json::Value, binding: serde_json::Value) {
    use k8s_openapi::api::admissionregistration::v1::{
        ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    };
    let p: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
    p.create(
        &PostParams::default(),
        &serde_json::from_value(policy).unwrap(),
    )
    .await
    .unwrap();
    let b: Api<ValidatingAdmissionPolicyBinding> = Api::all(client.clone());
    b.create(
        &PostParams::default(),
        &serde_json::from_value(binding).unwrap(),
    )
    .await
    .unwrap();
}

const KEEP: &str = "!has(oldObject.metadata.annotations) || !('example.com/keep' in oldObject.metadata.annotations) || oldObject.metadata.annotations['example.com/keep'] != 'true'";

async fn annotated(api: &Api<Widget>, name: &str, keep: bool) {
    let mut w = widget(name, 1);
    if keep {
        w.metadata.annotations =
            Some([("example.com/keep".to_string(), "true".to_string())].into());
    }
    api.create(&PostParams::default(), &w).await.unwrap();
}

#[tokio::test]
async fn validating_admission_policy_refuses_delete_like_kube_apiserver() {
    let (sb, api) = setup().await;
    let client = sb.client();
    put_policy(
        &client,
        vap("keep", json!({
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": ["test.example.com"], "apiVersions": ["*"], "operations": ["DELETE"], "resources": ["*"]}]},
            "validations": [{"expression": KEEP, "messageExpression": "'keep ' + oldObject.metadata.name + ' (' + request.resource.resource + ', ' + request.operation + ')'"}],
        })),
        vap_binding("keep-binding", json!({"policyName": "keep", "validationActions": ["Deny"]})),
    )
    .await;
    annotated(&api, "kept", true).await;
    annotated(&api, "free", false).await;

    let e = api_err(
        api.delete("kept", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    let inner = "ValidatingAdmissionPolicy 'keep' with binding 'keep-binding' denied request: keep kept (widgets, DELETE)";
    assert_eq!(e.code, 422);
    assert_eq!(e.reason, "Invalid");
    assert_eq!(e.status, Some(kube::core::response::StatusSummary::Failure));
    assert_eq!(
        e.message,
        format!("widgets.test.example.com \"kept\" is forbidden: {inner}")
    );
    let d = e.details.unwrap();
    assert_eq!(
        (d.name.as_str(), d.group.as_str(), d.kind.as_str()),
        ("kept", "test.example.com", "widgets")
    );
    assert_eq!(d.causes.len(), 1);
    assert_eq!(d.causes[0].message, inner);
    assert!(api.get("kept").await.is_ok(), "still there");
    // a dry run is refused the same way
    let dry = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    assert_eq!(
        api_err(api.delete("kept", &dry).await.unwrap_err()).code,
        422
    );

    api.delete("free", &DeleteParams::default()).await.unwrap();
    assert!(api.get_opt("free").await.unwrap().is_none());

    // deletecollection deletes what admission allows and fails with the denial
    annotated(&api, "free2", false).await;
    let e = api_err(
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(api.get_opt("free2").await.unwrap().is_none());
    assert!(api.get_opt("kept").await.unwrap().is_some());

    // lifting the annotation lifts the protection
    api.patch(
        "kept",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"example.com/keep": null}}})),
    )
    .await
    .unwrap();
    api.delete("kept", &DeleteParams::default()).await.unwrap();
    assert!(api.get_opt("kept").await.unwrap().is_none());
    // other kinds are not matched
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("c".into());
    cm.metadata.annotations = Some([("example.com/keep".to_string(), "true".to_string())].into());
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.delete("c", &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn validating_admission_policy_reason_actions_selectors_and_failure_policy() {
    let (sb, api) = setup().await;
    let client = sb.client();
    let rules = json!({"resourceRules": [{"apiGroups": ["test.example.com"], "apiVersions": ["v1"], "operations": ["DELETE"], "resources": ["widgets"]}]});
    // Warn only: not enforced.
    put_policy(
        &client,
        vap(
            "deny-all-warn",
            json!({"matchConstraints": rules, "validations": [{"expression": "false"}]}),
        ),
        vap_binding(
            "warn",
            json!({"policyName": "deny-all-warn", "validationActions": ["Warn"]}),
        ),
    )
    .await;
    // Forbidden reason, bound to objects labelled locked=yes only, static message fallback.
    put_policy(
        &client,
        vap("locked", json!({"matchConstraints": rules, "validations": [{"expression": "false", "reason": "Forbidden"}]})),
        vap_binding("locked", json!({"policyName": "locked", "validationActions": ["Deny"],
            "matchResources": {"objectSelector": {"matchLabels": {"locked": "yes"}}}})),
    )
    .await;
    // An expression that cannot be evaluated: ignored under failurePolicy Ignore.
    put_policy(
        &client,
        vap("broken", json!({"failurePolicy": "Ignore", "matchConstraints": rules, "validations": [{"expression": "oldObject.no.such.field == 1"}]})),
        vap_binding("broken", json!({"policyName": "broken", "validationActions": ["Deny"]})),
    )
    .await;
    let mut w = widget("locked", 1);
    w.metadata.labels = Some([("locked".to_string(), "yes".to_string())].into());
    api.create(&PostParams::default(), &w).await.unwrap();
    api.create(&PostParams::default(), &widget("open", 1))
        .await
        .unwrap();
    let e = api_err(
        api.delete("locked", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert!(
        e.message.ends_with("ValidatingAdmissionPolicy 'locked' with binding 'locked' denied request: failed expression: false"),
        "{}",
        e.message
    );
    api.delete("open", &DeleteParams::default()).await.unwrap();
    // The same broken expression under failurePolicy Fail denies.
    put_policy(
        &client,
        vap("broken-fail", json!({"matchConstraints": rules, "validations": [{"expression": "oldObject.no.such.field == 1"}]})),
        vap_binding("broken-fail", json!({"policyName": "broken-fail", "validationActions": ["Deny"]})),
    )
    .await;
    api.create(&PostParams::default(), &widget("open2", 1))
        .await
        .unwrap();
    let e = api_err(
        api.delete("open2", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(e.message.contains("with binding 'broken-fail' denied request: expression 'oldObject.no.such.field == 1' resulted in error"), "{}", e.message);
}
