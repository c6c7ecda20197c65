//! `import`, `version` and shell completion.

use super::*;

// ------------------------------------------------------------------------------------------
// import
// ------------------------------------------------------------------------------------------

/// `import`: reads the credentials Secret, lists what the cloud account holds (read-only) and
/// prints the manifests that adopt it; what could not be imported goes to `err`.
pub(super) async fn import(
    client: &Client,
    args: &ImportArgs,
    output: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, PluginError> {
    let (ns, name) = args.credentials.split_once('/').ok_or_else(|| {
        PluginError::Usage(format!(
            "--credentials {:?}: expected NAMESPACE/SECRET",
            args.credentials
        ))
    })?;
    let credentials = import_credentials(client, ns, name).await?;
    let config = CloudConfig {
        endpoint_override: args.endpoint_override.clone(),
        user_agent: format!("kubectl-aliyun-backup/{}", env!("CARGO_PKG_VERSION")),
        ..CloudConfig::default()
    };
    let cloud = AlibabaCloud::new(config)?;
    let target = Target {
        region: args.region.clone(),
        credentials: CredentialSource::Static(credentials),
    };
    let settings = ImportSettings {
        namespace: ns.into(),
        region: args.region.clone(),
        secret: name.into(),
        manage: args.manage,
    };
    if args.instance.is_empty() {
        writeln!(
            err,
            "note: no --instance: RDS backups are listed per instance, so only HBR jobs and DBS plans are imported"
        )?;
    }
    let found = crate::import::list(
        cloud.rds(&target).as_ref(),
        cloud.hbr(&target).as_ref(),
        cloud.dbs(&target).as_ref(),
        &args.instance,
        &settings,
    )
    .await?;
    for s in &found.skipped {
        writeln!(err, "skipped: {s}")?;
    }
    write_manifests(out, output, &found, &settings)?;
    Ok(EXIT_OK)
}

/// The static credentials in the Secret `ns/name`: the access key id and secret (both
/// required) and the security token, if any.
async fn import_credentials(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<StaticCredentials, PluginError> {
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?
        .ok_or_else(|| PluginError::NotFound {
            kind: "Secret".into(),
            name: name.into(),
            namespace: ns.into(),
        })?;
    let data = secret.data.unwrap_or_default();
    let read = |key: &str| -> Option<String> {
        data.get(key)
            .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let (Some(id), Some(key)) = (
        read(credential_keys::ACCESS_KEY_ID),
        read(credential_keys::ACCESS_KEY_SECRET),
    ) else {
        return Err(PluginError::Import(format!(
            "Secret {ns}/{name} needs the keys {} and {}",
            credential_keys::ACCESS_KEY_ID,
            credential_keys::ACCESS_KEY_SECRET
        )));
    };
    Ok(StaticCredentials {
        access_key_id: id,
        access_key_secret: CloudSecret::new(key),
        security_token: read(credential_keys::SECURITY_TOKEN).map(CloudSecret::new),
    })
}

/// The manifests `import` found: a JSON `List`, or YAML documents under a comment line.
fn write_manifests(
    out: &mut dyn Write,
    output: OutputFormat,
    found: &crate::import::Found,
    settings: &ImportSettings,
) -> Result<(), PluginError> {
    match output {
        OutputFormat::Json => {
            let list = json!({ "apiVersion": "v1", "kind": "List", "items": found.objects });
            out.write_all((serde_json::to_string_pretty(&list)? + "\n").as_bytes())?;
        }
        _ => {
            writeln!(
                out,
                "# {} object(s) adopting existing cloud backups ({}), made by kubectl aliyun-backup import",
                found.objects.len(),
                settings.policy()
            )?;
            for o in &found.objects {
                out.write_all(format!("---\n{}", serde_norway::to_string(o)?).as_bytes())?;
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// version
// ------------------------------------------------------------------------------------------

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Versions {
    plugin: String,
    operators: Vec<OperatorVersion>,
    crds: BTreeMap<String, Vec<String>>,
    warnings: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OperatorVersion {
    namespace: String,
    name: String,
    version: Option<String>,
    image: Option<String>,
}

/// The operator version of a Deployment: the `app.kubernetes.io/version` label, else the
/// image tag.
pub fn deployment_version(d: &Deployment) -> (Option<String>, Option<String>) {
    let image = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone());
    let label = d
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/version"))
        .cloned();
    let tag = image.as_deref().and_then(|i| {
        let i = i.split('@').next().unwrap_or(i);
        let last = i.rsplit('/').next().unwrap_or(i);
        last.split_once(':')
            .map(|(_, t)| t.trim_start_matches('v').to_string())
    });
    (label.or(tag), image)
}

/// `version`: the plugin's version, the operator Deployments' and the CRDs' served versions;
/// what does not match the plugin (or could not be read) goes to `err` as warnings.
pub(super) async fn version(
    client: Result<Client, PluginError>,
    operator_ns: Option<&str>,
    output: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, PluginError> {
    let mut v = Versions {
        plugin: env!("CARGO_PKG_VERSION").to_string(),
        ..Versions::default()
    };
    match client {
        Err(e) => v.warnings.push(format!("cannot reach the API server: {e}")),
        Ok(client) => {
            find_operators(&client, operator_ns, &mut v).await;
            warn_operator_skew(operator_ns, &mut v);
            check_crds(&client, &mut v).await;
        }
    }
    write_versions(out, output, &v)?;
    for w in &v.warnings {
        writeln!(err, "warning: {w}")?;
    }
    Ok(EXIT_OK)
}

/// The operator Deployments (by [`OPERATOR_LABEL`], in `operator_ns` or everywhere) and their
/// versions; a warning when they cannot be listed.
async fn find_operators(client: &Client, operator_ns: Option<&str>, v: &mut Versions) {
    let deps: Api<Deployment> = match operator_ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    match deps
        .list(&ListParams::default().labels(OPERATOR_LABEL))
        .await
    {
        Ok(list) => {
            for d in &list.items {
                let (version, image) = deployment_version(d);
                v.operators.push(OperatorVersion {
                    namespace: d.metadata.namespace.clone().unwrap_or_default(),
                    name: d.metadata.name.clone().unwrap_or_default(),
                    version,
                    image,
                });
            }
        }
        Err(kube::Error::Api(s)) if s.code == 404 => v.warnings.push(
            "this API server serves no apps/v1 Deployments (kube-sandbox?): the operator's version is unknown".into(),
        ),
        Err(e) => v
            .warnings
            .push(format!("cannot list the operator's Deployments: {e}")),
    }
}

/// Warnings for no operator found (when nothing else was said) and for each operator whose
/// version is not the plugin's.
fn warn_operator_skew(operator_ns: Option<&str>, v: &mut Versions) {
    if v.operators.is_empty() && v.warnings.is_empty() {
        v.warnings.push(format!(
            "no operator Deployment found (label {OPERATOR_LABEL}{})",
            operator_ns
                .map(|n| format!(", namespace {n}"))
                .unwrap_or_default()
        ));
    }
    let plugin = &v.plugin;
    for o in &v.operators {
        if o.version.as_deref() != Some(plugin.as_str()) {
            v.warnings.push(format!(
                "operator {}/{} is version {}, the plugin {plugin}",
                o.namespace,
                o.name,
                o.version.clone().unwrap_or_else(|| "unknown".into())
            ));
        }
    }
}

/// The served versions of each CRD the plugin uses; warnings for a CRD that is missing,
/// unreadable or does not serve every version the plugin uses.
async fn check_crds(client: &Client, v: &mut Versions) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for expected in all_crds() {
        let name = expected.metadata.name.clone().unwrap_or_default();
        let want: Vec<String> = expected
            .spec
            .versions
            .iter()
            .map(|x| x.name.clone())
            .collect();
        match crds.get_opt(&name).await {
            Ok(Some(c)) => {
                let have: Vec<String> = c
                    .spec
                    .versions
                    .iter()
                    .filter(|x| x.served)
                    .map(|x| x.name.clone())
                    .collect();
                if want.iter().any(|w| !have.contains(w)) {
                    v.warnings.push(format!(
                        "CRD {name} serves {}, the plugin uses {}",
                        have.join(", "),
                        want.join(", ")
                    ));
                }
                v.crds.insert(name, have);
            }
            Ok(None) => v.warnings.push(format!("CRD {name} is not installed")),
            Err(e) => {
                v.warnings.push(format!("cannot read CRD {name}: {e}"));
            }
        }
    }
}

/// The versions as JSON/YAML, or as text lines.
fn write_versions(
    out: &mut dyn Write,
    output: OutputFormat,
    v: &Versions,
) -> Result<(), PluginError> {
    match structured(output, v)? {
        Some(text) => out.write_all(text.as_bytes())?,
        None => {
            writeln!(out, "Plugin:   kubectl-aliyun-backup {}", v.plugin)?;
            if v.operators.is_empty() {
                writeln!(out, "Operator: not found")?;
            }
            for o in &v.operators {
                writeln!(
                    out,
                    "Operator: {} ({}/{}, image {})",
                    o.version.clone().unwrap_or_else(|| "unknown".into()),
                    o.namespace,
                    o.name,
                    o.image.clone().unwrap_or_else(|| "-".into())
                )?;
            }
            for (name, versions) in &v.crds {
                writeln!(out, "CRD:      {name} {}", versions.join(", "))?;
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// __complete
// ------------------------------------------------------------------------------------------

pub(super) async fn complete(
    g: &Global,
    words: &[String],
    out: &mut dyn Write,
) -> Result<i32, PluginError> {
    use crate::complete::{Need, answer, need};
    let prefix = words.last().cloned().unwrap_or_default();
    // The words may carry -n/--namespace/--context/--kubeconfig: honour them.
    let mut g = g.clone();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let value = |it: &mut std::slice::Iter<'_, String>| it.next().cloned();
        match w.as_str() {
            "-n" | "--namespace" => g.namespace = value(&mut it).or(g.namespace.take()),
            "--context" => g.context = value(&mut it).or(g.context.take()),
            "--kubeconfig" => g.kubeconfig = value(&mut it).map(Into::into).or(g.kubeconfig.take()),
            _ => {}
        }
    }
    let candidates: Vec<String> = match need(words) {
        Need::Words(w) => w,
        Need::Nothing => Vec::new(),
        Need::Objects(kind) => match connect(&g).await {
            Ok((client, ns)) => list_views(&client, Some(&ns), &[kind], &ListParams::default())
                .await
                .map(|vs| vs.iter().map(View::reference).collect())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        },
        Need::Schedules => match connect(&g).await {
            Ok((client, ns)) => list_views(
                &client,
                Some(&ns),
                &[Kind::RdsBackupSchedule, Kind::HbrBackupSchedule],
                &ListParams::default(),
            )
            .await
            .map(|vs| vs.into_iter().map(|v| v.name).collect())
            .unwrap_or_default(),
            Err(_) => Vec::new(),
        },
        Need::Namespaces => match connect(&g).await {
            Ok((client, _)) => Api::<Namespace>::all(client)
                .list(&ListParams::default())
                .await
                .map(|l| {
                    l.items
                        .into_iter()
                        .filter_map(|n| n.metadata.name)
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        },
    };
    out.write_all(answer(&candidates, &prefix).as_bytes())?;
    Ok(EXIT_OK)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn deployment(labels: Value, image: &str) -> Deployment {
        serde_json::from_value(json!({
            "metadata": { "name": "op", "namespace": "ops", "labels": labels },
            "spec": {
                "selector": {},
                "template": { "spec": { "containers": [ { "name": "op", "image": image } ] } }
            }
        }))
        .unwrap()
    }

    #[test]
    fn the_operator_version_comes_from_the_label_else_the_image_tag() {
        let d = deployment(
            json!({ "app.kubernetes.io/version": "0.2.0" }),
            "ghcr.io/x/aliyun-backup-operator:0.1.9",
        );
        assert_eq!(deployment_version(&d).0.as_deref(), Some("0.2.0"));
        let d = deployment(
            json!({}),
            "registry:5000/x/aliyun-backup-operator:v0.1.9@sha256:abc",
        );
        assert_eq!(deployment_version(&d).0.as_deref(), Some("0.1.9"));
        let d = deployment(json!({}), "registry:5000/x/aliyun-backup-operator");
        assert_eq!(deployment_version(&d).0, None);
    }
}
