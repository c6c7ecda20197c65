//! The `CreateBackupJob` parameters rendered from an `HbrBackupJob` spec (`SpeedLimit`,
//! `Include`, `Exclude`, `Options`, `Detail`, `ContainerResources`, `BackupType`).

use super::super::common::{RenderError, render_json as json};
use super::{HbrBackupJobSpec, HbrBackupType, HbrSourceType};

impl HbrBackupJobSpec {
    /// `SpeedLimit`: `start:end:bandwidth` windows joined with `|`; `None` when empty.
    pub fn speed_limit_param(&self) -> Option<String> {
        if self.speed_limits.is_empty() {
            return None;
        }
        Some(
            self.speed_limits
                .iter()
                .map(|s| format!("{}:{}:{}", s.start_hour, s.end_hour, s.bandwidth_kbps))
                .collect::<Vec<_>>()
                .join("|"),
        )
    }

    /// `Include`: JSON array of paths; `None` when empty.
    pub fn include_param(&self) -> Result<Option<String>, RenderError> {
        paths("include", &self.include)
    }

    /// `Exclude`: JSON array of paths; `None` when empty.
    pub fn exclude_param(&self) -> Result<Option<String>, RenderError> {
        paths("exclude", &self.exclude)
    }

    /// `Options`: `{"UseVSS":bool}`; `None` when unset.
    pub fn options_param(&self) -> Result<Option<String>, RenderError> {
        match self.options.as_ref().and_then(|o| o.use_vss) {
            None => Ok(None),
            Some(v) => json("options", &serde_json::json!({ "UseVSS": v })).map(Some),
        }
    }

    /// `Detail`: the detail object as JSON (API key names); `None` when unset.
    pub fn detail_param(&self) -> Result<Option<String>, RenderError> {
        match &self.detail {
            None => Ok(None),
            Some(d) => json("detail", d).map(Some),
        }
    }

    /// `ContainerResources`: JSON array; each `resourceInfo` is itself a JSON string with
    /// snake_case keys, as the API expects. `None` when empty.
    pub fn container_resources_param(&self) -> Result<Option<String>, RenderError> {
        if self.container_resources.is_empty() {
            return Ok(None);
        }
        let mut items = Vec::with_capacity(self.container_resources.len());
        for r in &self.container_resources {
            let mut m = serde_json::Map::new();
            m.insert("resourceType".into(), r.resource_type.clone().into());
            m.insert("backupMethod".into(), r.backup_method.clone().into());
            m.insert("resourceId".into(), r.resource_id.clone().into());
            if let Some(info) = &r.resource_info {
                let mut i = serde_json::Map::new();
                insert_set(
                    &mut i,
                    [
                        ("pv_name", &info.pv_name),
                        ("pv_size", &info.pv_size),
                        ("storage_class", &info.storage_class),
                        ("pvc_name", &info.pvc_name),
                        ("namespace", &info.namespace),
                    ],
                );
                m.insert(
                    "resourceInfo".into(),
                    json("containerResources.resourceInfo", &i)?.into(),
                );
            }
            insert_set(
                &mut m,
                [
                    ("host", &r.host),
                    ("hostPrefix", &r.host_prefix),
                    ("pvPath", &r.pv_path),
                ],
            );
            items.push(serde_json::Value::Object(m));
        }
        json("containerResources", &items).map(Some)
    }

    /// `Detail` as a JSON value (for clients that stringify JSON parameters themselves).
    pub fn detail_value(&self) -> Result<Option<serde_json::Value>, RenderError> {
        self.detail
            .as_ref()
            .map(|d| {
                serde_json::to_value(d).map_err(|source| RenderError::Json {
                    field: "detail",
                    source,
                })
            })
            .transpose()
    }

    /// `Options` as a JSON value (`{"UseVSS":bool}`); `None` when unset.
    pub fn options_value(&self) -> Option<serde_json::Value> {
        self.options
            .as_ref()
            .and_then(|o| o.use_vss)
            .map(|v| serde_json::json!({ "UseVSS": v }))
    }

    /// `ContainerResources` as a JSON value (the array; each `resourceInfo` stays a JSON
    /// string, as the API expects); `None` when empty.
    pub fn container_resources_value(&self) -> Result<Option<serde_json::Value>, RenderError> {
        match self.container_resources_param()? {
            None => Ok(None),
            Some(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|source| RenderError::Json {
                    field: "containerResources",
                    source,
                }),
        }
    }

    /// The `BackupType` to send: the spec value, or `COMPLETE` for `UDM_ECS` when unset.
    pub fn backup_type_param(&self) -> Option<HbrBackupType> {
        match (self.backup_type, self.source_type) {
            (Some(t), _) => Some(t),
            (None, HbrSourceType::UdmEcs) => Some(HbrBackupType::Complete),
            (None, _) => None,
        }
    }
}

/// A list of paths as a JSON array; `None` when empty.
fn paths(field: &'static str, list: &[String]) -> Result<Option<String>, RenderError> {
    if list.is_empty() {
        return Ok(None);
    }
    json(field, list).map(Some)
}

/// Inserts the fields that are set, as strings.
fn insert_set<const N: usize>(
    m: &mut serde_json::Map<String, serde_json::Value>,
    fields: [(&str, &Option<String>); N],
) {
    for (k, v) in fields {
        if let Some(v) = v {
            m.insert(k.into(), v.clone().into());
        }
    }
}
