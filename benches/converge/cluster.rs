//! Where the objects live ([`Cluster`]: kube-sandbox in this process, or another cluster
//! with its own emulator) and the watch that follows the objects' phases.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use aliyun_backup_operator::sandbox::{
    CredentialsSecret, DEMO_ACCESS_KEY_ID, World, ensure_namespace,
};
use aliyun_emulator::EmulatorHandle;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DynamicObject, ListParams, ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use super::kind::Kind;
use super::{CREDS, NS, fail};

/// Where the objects live: kube-sandbox in this process (its world), or another cluster.
pub(crate) enum Cluster {
    Sandbox(Box<World>),
    External {
        client: Client,
        emulator: EmulatorHandle,
    },
}

impl Cluster {
    pub(crate) fn client(&self) -> Client {
        match self {
            Cluster::Sandbox(w) => w.client.clone(),
            Cluster::External { client, .. } => client.clone(),
        }
    }

    pub(crate) fn emulator(&self) -> &EmulatorHandle {
        match self {
            Cluster::Sandbox(w) => &w.emulator,
            Cluster::External { emulator, .. } => emulator,
        }
    }

    pub(crate) async fn stop(self) {
        match self {
            Cluster::Sandbox(w) => w.stop().await.unwrap(),
            Cluster::External { emulator, .. } => emulator.shutdown().await,
        }
    }
}

/// Connects to the cluster of `path`, checks that the kind is served and the namespace holds
/// none of its objects, creates the namespace and the credentials Secret if missing.
pub(crate) async fn external_cluster(path: &Path, kind: Kind) -> Client {
    let kc = kube::config::Kubeconfig::read_from(path)
        .unwrap_or_else(|e| fail(&format!("CONVERGE_KUBECONFIG={}: {e}", path.display())));
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| fail(&format!("CONVERGE_KUBECONFIG={}: {e}", path.display())));
    let client = Client::try_from(config).unwrap_or_else(|e| fail(&format!("client: {e}")));
    ensure_namespace(&client, NS)
        .await
        .unwrap_or_else(|e| fail(&format!("namespace {NS}: {e}")));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &kind.api_resource());
    match api.list(&ListParams::default().limit(1)).await {
        Ok(list) if list.items.is_empty() => {}
        Ok(_) => fail(&format!(
            "namespace {NS} already holds {} objects; delete them first \
             (kubectl delete {} -n {NS} --all)",
            kind.name(),
            kind.plural()
        )),
        Err(kube::Error::Api(s)) if s.code == 404 => fail(&format!(
            "the cluster does not serve {}.backup.aliyun.dev: install the CRDs first \
             (cargo run -- crd | kubectl apply -f -)",
            kind.plural()
        )),
        Err(e) => fail(&format!("list {} in {NS}: {e}", kind.plural())),
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    match secrets.get_opt(CREDS).await {
        Ok(Some(_)) => eprintln!(
            "note: Secret {NS}/{CREDS} exists and is used as it is (the emulator accepts only \
             the demo key {DEMO_ACCESS_KEY_ID})"
        ),
        Ok(None) => {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(CREDS.into()),
                    namespace: Some(NS.into()),
                    ..ObjectMeta::default()
                },
                string_data: Some(
                    CredentialsSecret::demo(NS, CREDS)
                        .data()
                        .iter()
                        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                        .collect(),
                ),
                ..Secret::default()
            };
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .unwrap_or_else(|e| fail(&format!("create Secret {NS}/{CREDS}: {e}")));
        }
        Err(e) => fail(&format!("get Secret {NS}/{CREDS}: {e}")),
    }
    client
}

/// Keeps `seen` (object name → `status.phase`, `-` when none) up to date from a watch of the
/// objects matching `selector`; `synced` fires once the first list is in.
pub(crate) async fn track_phases(
    api: Api<DynamicObject>,
    selector: String,
    seen: Arc<Mutex<HashMap<String, String>>>,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let mut synced = Some(synced);
    let stream = watcher(api, watcher::Config::default().labels(&selector)).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                let phase = o
                    .data
                    .get("status")
                    .and_then(|st| st.get("phase"))
                    .and_then(|p| p.as_str())
                    .unwrap_or("-")
                    .to_string();
                seen.lock()
                    .unwrap()
                    .insert(o.metadata.name.unwrap_or_default(), phase);
            }
            Ok(watcher::Event::Delete(o)) => {
                seen.lock()
                    .unwrap()
                    .remove(&o.metadata.name.unwrap_or_default());
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
            Ok(watcher::Event::Init) => {}
            Err(e) => eprintln!("warning: watch: {e}"),
        }
    }
}
