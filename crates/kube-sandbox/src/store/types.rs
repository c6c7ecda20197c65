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

/// Builds the served type from a CRD object (`None` when it has no `spec`,
/// `spec.names` or `spec.versions`). Versions with `served: false` are left
/// out; the selectable fields are those of the first version.
pub fn crd_to_type(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let kind = str_field(names, "kind");
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)?
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
        .map(crd_version)
        .collect();
    Some(ResourceType {
        group: str_field(spec, "group"),
        plural: str_field(names, "plural"),
        singular: non_empty_or(str_field(names, "singular"), || kind.to_lowercase()),
        list_kind: non_empty_or(str_field(names, "listKind"), || format!("{kind}List")),
        kind,
        namespaced: str_field(spec, "scope") == "Namespaced",
        short_names: str_list(names, "shortNames"),
        categories: str_list(names, "categories"),
        versions,
        builtin: false,
        generation: true,
        selectable_fields: selectable_fields(spec),
    })
}

/// One served version of a CRD: its schema (with the CEL rules compiled
/// when it has any), whether it has a status subresource, its printer
/// columns.
fn crd_version(v: &Value) -> VersionDef {
    VersionDef {
        name: str_field(v, "name"),
        schema: v.pointer("/schema/openAPIV3Schema").cloned(),
        cel: v
            .pointer("/schema/openAPIV3Schema")
            .filter(|s| s.to_string().contains("x-kubernetes-validations"))
            .and_then(|s| std::panic::catch_unwind(|| kube_cel::compile_schema(s)).ok())
            .map(Arc::new),
        status: v.pointer("/subresources/status").is_some(),
        columns: printer_columns(v),
    }
}

/// The `additionalPrinterColumns` of a CRD version.
fn printer_columns(v: &Value) -> Vec<Column> {
    v.get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| Column {
                    name: str_field(c, "name"),
                    type_: str_field(c, "type"),
                    format: str_field(c, "format"),
                    description: str_field(c, "description"),
                    priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                    json_path: str_field(c, "jsonPath"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `selectableFields` of the first version of a CRD spec, as `a.b` paths.
fn selectable_fields(spec: &Value) -> Vec<String> {
    spec.get("versions")
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
        .unwrap_or_default()
}

/// The string at `v.k` (`""` when missing or not a string).
fn str_field(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The strings of the array at `v.k` (non-strings skipped).
fn str_list(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `s`, or `fallback()` when `s` is empty.
fn non_empty_or(s: String, fallback: impl FnOnce() -> String) -> String {
    if s.is_empty() { fallback() } else { s }
}
