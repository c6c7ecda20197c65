//! `CloneDBInstance`: a new instance from a backup set or a point in time of a source.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{
    CloneOrigin, InstanceAttrs, client_token, incorrect_state, msg, one_source, remember, replayed,
};
use crate::api::{ApiError, ApiResult, Params, obj, rand_alnum};
use crate::rds::{RdsInstance, RdsState, instance_not_found, invalid};
use crate::scenario::{Scenario, take, target_matches};

/// Storage types `CloneDBInstance` accepts.
const STORAGE_TYPES: &[&str] = &[
    "general_essd",
    "local_ssd",
    "cloud_ssd",
    "cloud_essd",
    "cloud_essd2",
    "cloud_essd3",
];

/// The checked parameters of a `CloneDBInstance` call, besides the source and the token.
struct CloneRequest<'a> {
    /// `PayType`.
    pay_type: &'a str,
    /// `BackupId`, when cloned from a backup set.
    backup: Option<&'a str>,
    /// `RestoreTime`, when cloned to a point in time.
    time: Option<i64>,
    /// `DeletionProtection`.
    deletion_protection: bool,
    /// `DBInstanceStorage`.
    storage: Option<i64>,
    /// `Tag.N.Key` / `Tag.N.Value`.
    tags: BTreeMap<String, String>,
}

impl<'a> CloneRequest<'a> {
    fn parse(p: &'a Params, pay_type: &'a str) -> Result<Self, ApiError> {
        if !matches!(pay_type, "Postpaid" | "Prepaid" | "Serverless") {
            return Err(invalid("PayType"));
        }
        if pay_type == "Prepaid" {
            check_prepaid(p)?;
        }
        let (backup, time) = one_source(p)?;
        p.choice("BackupType", &["FullBackup", "IncrementalBackup"], invalid)?;
        p.choice("DBInstanceStorageType", STORAGE_TYPES, invalid)?;
        p.choice("InstanceNetworkType", &["VPC", "Classic"], invalid)?;
        if let Some(d) = p.opt("DBInstanceDescription")
            && !(2..=255).contains(&d.chars().count())
        {
            return Err(invalid("DBInstanceDescription"));
        }
        let deletion_protection = p.bool("DeletionProtection", invalid)?.unwrap_or(false);
        p.bool("AutoPay", invalid)?;
        let storage = p.int("DBInstanceStorage", invalid)?;
        if storage.is_some_and(|s| s <= 0 || s % 5 != 0) {
            return Err(invalid("DBInstanceStorage"));
        }
        Ok(Self {
            pay_type,
            backup,
            time,
            deletion_protection,
            storage,
            tags: tags(p)?,
        })
    }
}

/// `Period` and `UsedTime` of a `Prepaid` clone.
fn check_prepaid(p: &Params) -> Result<(), ApiError> {
    let period = p.req("Period")?;
    let used = p
        .int("UsedTime", invalid)?
        .ok_or_else(|| ApiError::missing("UsedTime"))?;
    let ok = match period {
        "Year" => (1..=3).contains(&used),
        "Month" => (1..=9).contains(&used),
        _ => return Err(invalid("Period")),
    };
    if !ok {
        return Err(invalid("UsedTime"));
    }
    Ok(())
}

/// `Tag.N.Key` / `Tag.N.Value` (at most 20).
fn tags(p: &Params) -> Result<BTreeMap<String, String>, ApiError> {
    let mut tags = BTreeMap::new();
    for i in 1..=21 {
        let key = p.opt(&format!("Tag.{i}.Key"));
        let value = p.raw(&format!("Tag.{i}.Value")).unwrap_or("");
        match key {
            Some(_) if i > 20 => return Err(invalid(&format!("Tag.{i}.Key"))),
            Some(k) => {
                tags.insert(k.to_owned(), value.to_owned());
            }
            None => break,
        }
    }
    Ok(tags)
}

/// The attributes of a clone: the source's, with those the call sets.
fn clone_attrs(src: &InstanceAttrs, p: &Params, req: &CloneRequest<'_>, now: i64) -> InstanceAttrs {
    let mut attrs = src.clone();
    attrs.created_ms = now;
    attrs.pay_type = req.pay_type.to_owned();
    attrs.deletion_protection = req.deletion_protection;
    attrs.description = p.opt("DBInstanceDescription").unwrap_or("").to_owned();
    if let Some(s) = req.storage {
        attrs.storage = s;
    }
    let set = |field: &mut String, key: &str| {
        if let Some(v) = p.opt(key) {
            *field = v.to_owned();
        }
    };
    set(&mut attrs.class, "DBInstanceClass");
    set(&mut attrs.storage_type, "DBInstanceStorageType");
    set(&mut attrs.zone_id, "ZoneId");
    set(&mut attrs.network_type, "InstanceNetworkType");
    set(&mut attrs.vpc_id, "VPCId");
    set(&mut attrs.vswitch_id, "VSwitchId");
    attrs
}

impl RdsState {
    pub(super) fn clone_db_instance(
        &mut self,
        p: &Params,
        now: i64,
        job_ms: i64,
        pending: &mut Vec<Scenario>,
    ) -> ApiResult {
        let src_id = p.req("DBInstanceId")?;
        let pay_type = p.req("PayType")?;
        let token = client_token(p)?;
        if let Some(used) = replayed(&self.restore.clone_tokens, token, p)? {
            // Same token: the answer of the first call, whatever happened since.
            let order = self
                .instances
                .get(&used.result)
                .and_then(|i| i.clone.as_ref())
                .map(|c| c.order_id.clone())
                .unwrap_or_default();
            return Ok(clone_answer(&used.result, &order));
        }
        let req = CloneRequest::parse(p, pay_type)?;
        let src = self.clone_source(src_id, &req, now)?.clone();
        let new_id = loop {
            let id = format!("rm-{}", rand_alnum(17));
            if !self.instances.contains_key(&id) {
                break id;
            }
        };
        let order_id = self.restore.seq().to_string();
        let fail = take(pending, |s| match s {
            Scenario::RdsCloneFailure { target } if target_matches(target, &[src_id]) => Some(()),
            _ => None,
        })
        .is_some();
        let origin = CloneOrigin {
            source_id: src_id.to_owned(),
            backup_id: req.backup.map(str::to_owned),
            restore_time_ms: req.time,
            created_ms: now,
            duration_ms: job_ms,
            order_id: order_id.clone(),
            fail,
        };
        let attrs = clone_attrs(&src.attrs, p, &req, now);
        self.instances.insert(
            new_id.clone(),
            RdsInstance {
                id: new_id.clone(),
                status: "Running".into(),
                engine: src.engine.clone(),
                engine_version: src.engine_version.clone(),
                clone: Some(origin),
                attrs,
                tags: req.tags,
                objects: BTreeSet::new(),
            },
        );
        remember(&mut self.restore.clone_tokens, token, p, &new_id);
        Ok(clone_answer(&new_id, &order_id))
    }

    /// The source of a clone: live, `Running`, not bigger than the clone, and holding the
    /// restore source asked for.
    fn clone_source(
        &self,
        src_id: &str,
        req: &CloneRequest<'_>,
        now: i64,
    ) -> Result<&RdsInstance, ApiError> {
        let src = self
            .live(src_id, now)
            .ok_or_else(|| instance_not_found(404))?;
        if src.status_at(now) != Some("Running") {
            return Err(incorrect_state());
        }
        if req.storage.is_some_and(|s| s < src.attrs.storage) {
            return Err(msg(
                400,
                "NotSupportReduceDiskSize",
                "The storage of the new instance cannot be less than that of the source.",
            ));
        }
        self.check_source(src_id, req.backup, req.time, now)?;
        Ok(src)
    }
}

fn clone_answer(id: &str, order: &str) -> serde_json::Map<String, Value> {
    obj([
        ("DBInstanceId", json!(id)),
        ("OrderId", json!(order)),
        (
            "ConnectionString",
            json!(format!("{id}.mysql.rds.aliyuncs.com")),
        ),
        ("Port", json!("3306")),
    ])
}
