//! kube-sandbox: an in-memory Kubernetes API server over plain HTTP on
//! loopback, for tests, benchmarks and demos. **Not a production API server.**
//!
//! The unmodified kube-rs client, kube-runtime `Controller`s and `kubectl`
//! work against it. See the crate README for what is and is not implemented.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kube_sandbox::SandboxError> {
//! let sandbox = kube_sandbox::Sandbox::start().await?;
//! let client = sandbox.client();
//! # let _ = client;
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admission;
mod discovery;
mod error;
mod protobuf;
mod schema;
mod selector;
mod server;
mod ssa;
mod store;
mod table;
mod verbs;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::server::{AppState, Failure, lock};
use crate::store::Store;

pub use crate::error::ApiError;

/// Errors from starting or using a [`Sandbox`].
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Binding or writing a file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Building the kube client failed.
    #[error("kube client error: {0}")]
    Kube(#[from] kube::Error),
    /// The URL could not be parsed.
    #[error("invalid URL: {0}")]
    Url(String),
    /// Serializing the kubeconfig failed.
    #[error("kubeconfig serialization error: {0}")]
    Yaml(#[from] serde_norway::Error),
}

impl SandboxError {
    /// A fixed, low-cardinality name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Io(_) => "io",
            Self::Kube(_) => "kube",
            Self::Url(_) => "url",
            Self::Yaml(_) => "yaml",
        }
    }
}

/// Request counter key: `(verb, group, resource, subresource)`.
///
/// `verb` is one of `get`, `list`, `watch`, `create`, `update`, `patch`,
/// `delete`, `deletecollection`; `group` is `""` for the core group and
/// `subresource` is `""` for the main resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey {
    /// Kubernetes verb.
    pub verb: String,
    /// API group (`""` = core).
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// Subresource (`""` = none).
    pub subresource: String,
}

/// A snapshot of the request counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters(pub BTreeMap<RequestKey, u64>);

impl Counters {
    /// Requests with exactly this verb, group, resource and subresource.
    pub fn get(&self, verb: &str, group: &str, resource: &str, subresource: &str) -> u64 {
        self.0
            .get(&RequestKey {
                verb: verb.into(),
                group: group.into(),
                resource: resource.into(),
                subresource: subresource.into(),
            })
            .copied()
            .unwrap_or(0)
    }

    /// Requests with this verb on a resource (any group, any subresource).
    pub fn verb(&self, verb: &str, resource: &str) -> u64 {
        self.0
            .iter()
            .filter(|(k, _)| k.verb == verb && k.resource == resource)
            .map(|(_, v)| v)
            .sum()
    }

    /// Write requests (create, update, patch, delete, deletecollection) on a
    /// resource (any group, any subresource).
    pub fn writes(&self, resource: &str) -> u64 {
        self.0
            .iter()
            .filter(|(k, _)| {
                k.resource == resource
                    && matches!(
                        k.verb.as_str(),
                        "create" | "update" | "patch" | "delete" | "deletecollection"
                    )
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// All write requests.
    pub fn total_writes(&self) -> u64 {
        self.0
            .iter()
            .filter(|(k, _)| {
                matches!(
                    k.verb.as_str(),
                    "create" | "update" | "patch" | "delete" | "deletecollection"
                )
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// Distinct `(group, resource[/subresource], verb)` triples used — handy
    /// to compare with a ClusterRole's rules.
    pub fn verbs_used(&self) -> Vec<(String, String, String)> {
        self.0
            .keys()
            .map(|k| {
                let res = if k.subresource.is_empty() {
                    k.resource.clone()
                } else {
                    format!("{}/{}", k.resource, k.subresource)
                };
                (k.group.clone(), res, k.verb.clone())
            })
            .collect()
    }
}

/// Which requests an injected failure applies to. `None` fields match anything,
/// except `subresource`: `None` matches only the main resource, `Some("*")`
/// matches any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureMatcher {
    /// Verb (`"create"`, `"patch"`, …); `None` = any.
    pub verb: Option<String>,
    /// API group; `None` = any.
    pub group: Option<String>,
    /// Plural resource; `None` = any.
    pub resource: Option<String>,
    /// Subresource; `None` = main resource only, `Some("*")` = any.
    pub subresource: Option<String>,
    /// Namespace; `None` = any.
    pub namespace: Option<String>,
    /// Object name; `None` = any.
    pub name: Option<String>,
}

impl FailureMatcher {
    /// Matches `verb` on the main `resource` (any group, namespace, name).
    pub fn new(verb: &str, resource: &str) -> Self {
        Self {
            verb: Some(verb.into()),
            resource: Some(resource.into()),
            ..Default::default()
        }
    }

    /// Restricts to a subresource (`"status"`, or `"*"` for any).
    pub fn subresource(mut self, s: &str) -> Self {
        self.subresource = Some(s.into());
        self
    }

    /// Restricts to a namespace.
    pub fn namespace(mut self, ns: &str) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Restricts to an object name.
    pub fn name(mut self, n: &str) -> Self {
        self.name = Some(n.into());
        self
    }

    /// Restricts to an API group.
    pub fn group(mut self, g: &str) -> Self {
        self.group = Some(g.into());
        self
    }

    pub(crate) fn matches(&self, k: &RequestKey, ns: Option<&str>, name: Option<&str>) -> bool {
        let opt = |want: &Option<String>, have: &str| want.as_ref().is_none_or(|w| w == have);
        let sub_ok = match &self.subresource {
            None => k.subresource.is_empty(),
            Some(s) if s == "*" => true,
            Some(s) => *s == k.subresource,
        };
        opt(&self.verb, &k.verb)
            && opt(&self.group, &k.group)
            && opt(&self.resource, &k.resource)
            && sub_ok
            && self
                .namespace
                .as_ref()
                .is_none_or(|w| Some(w.as_str()) == ns)
            && self.name.as_ref().is_none_or(|w| Some(w.as_str()) == name)
    }
}

/// Tunables for [`Sandbox::start_with`].
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Address to bind (default `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// Number of changes kept for watch resumption; older versions get 410.
    pub history_limit: usize,
    /// Interval between watch BOOKMARK events (when requested).
    pub bookmark_interval: Duration,
    /// Evaluate CEL (with kube-cel): CRD `x-kubernetes-validations` rules and
    /// ValidatingAdmissionPolicies on DELETE.
    pub cel: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(10),
            cel: true,
        }
    }
}

/// A running in-memory API server.
pub struct Sandbox {
    addr: SocketAddr,
    url: String,
    client: kube::Client,
    state: Arc<AppState>,
    shutdown_tx: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("url", &self.url).finish()
    }
}

impl Sandbox {
    /// Starts a sandbox on `127.0.0.1:0` with default settings.
    pub async fn start() -> Result<Self, SandboxError> {
        Self::start_with(SandboxConfig::default()).await
    }

    /// Starts a sandbox with the given settings.
    pub async fn start_with(config: SandboxConfig) -> Result<Self, SandboxError> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let state = Arc::new(AppState {
            store: Mutex::new(Store::new(config.history_limit, config.cel)),
            counters: Mutex::new(BTreeMap::new()),
            failures: Mutex::new(Vec::new()),
            shutdown: shutdown_rx.clone(),
            close_watches: watch::channel(0).0,
            bookmark_interval: config.bookmark_interval.max(Duration::from_millis(1)),
            server_address: Mutex::new(addr.to_string()),
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(state.clone());
        let mut rx = shutdown_rx;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|v| *v).await;
                })
                .await;
        });
        let uri: axum::http::Uri = url
            .parse()
            .map_err(|e: axum::http::uri::InvalidUri| SandboxError::Url(e.to_string()))?;
        let mut kc = kube::Config::new(uri);
        kc.default_namespace = "default".into();
        let client = kube::Client::try_from(kc)?;
        Ok(Self {
            addr,
            url,
            client,
            state,
            shutdown_tx,
            task: Some(task),
        })
    }

    /// A kube client for this sandbox (plain HTTP, default namespace `default`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kubeconfig (cluster, user and context named `kube-sandbox`).
    pub fn kubeconfig(&self) -> Kubeconfig {
        kubeconfig_for(&self.url)
    }

    /// Writes [`Self::kubeconfig`] as YAML to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SandboxError> {
        write_kubeconfig(&self.url, path)
    }

    /// A snapshot of request counts.
    pub fn counters(&self) -> Counters {
        Counters(lock(&self.state.counters).clone())
    }

    /// Resets all request counters to zero.
    pub fn reset_counters(&self) {
        lock(&self.state.counters).clear();
    }

    /// Makes the next `count` requests matching `matcher` fail with
    /// `status_code` (a `Status` error) without being applied.
    pub fn fail_next(&self, matcher: FailureMatcher, count: u32, status_code: u16) {
        if count == 0 {
            return;
        }
        lock(&self.state.failures).push(Failure {
            matcher,
            remaining: count,
            code: status_code,
        });
    }

    /// Number of injected failures not yet consumed.
    pub fn pending_failures(&self) -> u32 {
        lock(&self.state.failures).iter().map(|f| f.remaining).sum()
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        lock(&self.state.store).rv()
    }

    /// Forgets the watch history: watches resuming from any older
    /// resourceVersion receive `410 Gone`.
    pub fn compact(&self) {
        lock(&self.state.store).compact();
    }

    /// Ends every open watch stream (as an API server restart or watch timeout
    /// would); clients re-establish them from their last resourceVersion.
    pub fn close_watches(&self) {
        self.state.close_watches.send_modify(|v| *v += 1);
    }

    /// Stops the server and ends all watches.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

/// A kubeconfig pointing at `url` with no credentials.
pub fn kubeconfig_for(url: &str) -> Kubeconfig {
    let name = "kube-sandbox".to_string();
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: name.clone(),
            cluster: Some(Cluster {
                server: Some(url.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: name.clone(),
            auth_info: Some(AuthInfo::default()),
            ..Default::default()
        }],
        contexts: vec![NamedContext {
            name: name.clone(),
            context: Some(Context {
                cluster: name.clone(),
                user: Some(name.clone()),
                namespace: Some("default".into()),
                ..Default::default()
            }),
            ..Default::default()
        }],
        current_context: Some(name),
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        ..Default::default()
    }
}

/// Writes a kubeconfig for `url` as YAML to `path`.
pub fn write_kubeconfig(url: &str, path: &Path) -> Result<(), SandboxError> {
    let yaml = serde_norway::to_string(&kubeconfig_for(url))?;
    std::fs::write(path, yaml)?;
    Ok(())
}

/// Internal parsers and evaluators exposed for property tests. Not a stable API.
#[doc(hidden)]
pub mod testing {
    use serde_json::Value;

    /// Parses a label selector into a predicate.
    pub fn parse_label_selector(s: &str) -> Result<impl Fn(&Value) -> bool, crate::ApiError> {
        let sel = crate::selector::LabelSelector::parse(s)?;
        Ok(move |v: &Value| sel.matches(v))
    }

    /// Parses a field selector (any field allowed) into a predicate.
    pub fn parse_field_selector(s: &str) -> Result<impl Fn(&Value) -> bool, crate::ApiError> {
        let sel = crate::selector::FieldSelector::parse(s, None)?;
        Ok(move |v: &Value| sel.matches(v))
    }

    /// Evaluates the JSONPath subset used by printer columns.
    pub fn jsonpath(obj: &Value, path: &str) -> Vec<Value> {
        crate::table::jsonpath(obj, path)
    }

    /// Defaults, prunes and validates; returns the number of causes.
    pub fn apply_schema(obj: &mut Value, schema: &Value) -> usize {
        crate::schema::apply_schema(obj, schema).causes.len()
    }

    /// Applies a JSON patch like the server does.
    pub fn apply_json_patch(doc: &mut Value, patch: &Value) -> Result<(), crate::ApiError> {
        crate::store::apply_json_patch(doc, patch)
    }

    /// Owned-field set of an object (no schema).
    pub fn fields_of(obj: &Value) -> std::collections::BTreeSet<Vec<String>> {
        crate::ssa::fields_of(obj, None)
    }

    /// FieldsV1 render + parse.
    pub fn fields_roundtrip(
        f: &std::collections::BTreeSet<Vec<String>>,
    ) -> std::collections::BTreeSet<Vec<String>> {
        crate::ssa::from_fields_v1(&crate::ssa::to_fields_v1(f))
    }
}
