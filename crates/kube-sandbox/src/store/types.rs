//! Resource types: what a served type is ([`ResourceType`], its versions
//! and printer columns), the built-in types and the types that CRDs define.

use std::sync::Arc;

use serde_json::Value;

/// A printer column (`additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column header.
    pub name: String,
    /// OpenAPI type (`string`, `integer`, `number`, `boolean`, `date`).
    pub type_: String,
    /// Optional format.
    pub format: String,
    /// Description.
    pub description: String,
    /// 0 = shown by default, >0 = only in `-o wide`.
    pub priority: i64,
    /// JSONPath (subset) evaluated against the object.
    pub json_path: String,
}

/// One served version of a resource type.
#[derive(Debug, Clone)]
pub struct VersionDef {
    /// Version name, e.g. `v1`.
    pub name: String,
    /// `openAPIV3Schema`, if any.
    pub schema: Option<Value>,
    /// Whether the `status` subresource is enabled.
    pub status: bool,
    /// Printer columns.
    pub columns: Vec<Column>,
    /// CEL rules compiled once (present when the schema has `x-kubernetes-validations`).
    pub cel: Option<Arc<kube_cel::CompiledSchema>>,
}

/// A served resource type (built-in or from a CRD).
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group (`""` for core).
    pub group: String,
    /// Plural resource name.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// List kind.
    pub list_kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names.
    pub short_names: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// Served versions (first = preferred).
    pub versions: Vec<VersionDef>,
    /// Built into the server (not from a CRD).
    pub builtin: bool,
    /// Whether `metadata.generation` is maintained.
    pub generation: bool,
    /// Extra selectable fields (CRD `selectableFields`), as `a.b` paths.
    pub selectable_fields: Vec<String>,
}

impl ResourceType {
    /// The version definition named `v`.
    pub fn version(&self, v: &str) -> Option<&VersionDef> {
        self.versions.iter().find(|d| d.name == v)
    }

    /// Whether version `v` has a status subresource.
    pub fn has_status(&self, v: &str) -> bool {
        self.version(v).is_some_and(|d| d.status)
    }

    /// `group/version` or `version`.
    pub fn api_version(&self, v: &str) -> String {
        if self.group.is_empty() {
            v.to_string()
        } else {
            format!("{}/{}", self.group, v)
        }
    }

    /// Fields allowed in field selectors (`None` = any path).
    pub fn field_selectors(&self) -> Option<Vec<String>> {
        if self.builtin && self.group != "apiextensions.k8s.io" {
            return None;
        }
        let mut v = vec!["metadata.name".to_string()];
        if self.namespaced {
            v.push("metadata.namespace".into());
        }
        v.extend(self.selectable_fields.iter().cloned());
        Some(v)
    }
}

/// Key of a resource type: `(group, plural)`.
pub type TypeKey = (String, String);
/// Key of an object: `(namespace or "", name)`.
pub type ObjKey = (String, String);

/// A built-in type served at `v1` (no schema, no printer columns).
pub(super) fn builtin(
    group: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: vec![],
        versions: vec![VersionDef {
            name: "v1".into(),
            schema: None,
            cel: None,
            status,
            columns: vec![],
        }],
        builtin: true,
        generation: false,
        selectable_fields: vec![],
    }
}

/// Builds the served type from a CRD object.
pub fn crd_to_type(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let list = |v: &Value, k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let kind = s(names, "kind");
    let mut versions = vec![];
    for v in spec.get("versions").and_then(Value::as_array)? {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| Column {
                        name: s(c, "name"),
                        type_: s(c, "type"),
                        format: s(c, "format"),
                        description: s(c, "description"),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        json_path: s(c, "jsonPath"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        versions.push(VersionDef {
            name: s(v, "name"),
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            cel: v
                .pointer("/schema/openAPIV3Schema")
                .filter(|s| s.to_string().contains("x-kubernetes-validations"))
                .and_then(|s| std::panic::catch_unwind(|| kube_cel::compile_schema(s)).ok())
                .map(Arc::new),
            status: v.pointer("/subresources/status").is_some(),
            columns,
        });
    }
    let selectable_fields = spec
        .get("versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.first())
        .and_then(|v| v.get("selectableFields"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                .map(|p| p.trim_start_matches('.').to_string())
                .collect()
        })
        .unwrap_or_default();
    Some(ResourceType {
        group: s(spec, "group"),
        plural: s(names, "plural"),
        singular: {
            let x = s(names, "singular");
            if x.is_empty() { kind.to_lowercase() } else { x }
        },
        list_kind: {
            let x = s(names, "listKind");
            if x.is_empty() {
                format!("{kind}List")
            } else {
                x
            }
        },
        kind,
        namespaced: s(spec, "scope") == "Namespaced",
        short_names: list(names, "shortNames"),
        categories: list(names, "categories"),
        versions,
        builtin: false,
        generation: true,
        selectable_fields,
    })
}
