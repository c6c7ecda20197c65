//! The instance reads (`DescribeDBInstanceAttribute`, `DescribeDBInstances`,
//! `DescribeLocalAvailableRecoveryTime`) and what an instance holds (the databases and tables
//! earlier restores wrote).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{DAY_MS, paging};
use crate::api::{ApiError, ApiResult, Params, iso_seconds, obj, page as page_of};
use crate::rds::{RdsInstance, RdsState, instance_not_found, invalid};

impl RdsState {
    pub(super) fn describe_attribute(&self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("DBInstanceId")?;
        p.choice("Expired", &["True", "False"], invalid)?;
        let i = self.live(id, now).ok_or_else(|| instance_not_found(404))?;
        let a = &i.attrs;
        let item = json!({
            "DBInstanceId": i.id,
            "DBInstanceStatus": i.status_at(now).unwrap_or("Released"),
            "Engine": i.engine,
            "EngineVersion": i.engine_version,
            "DBInstanceClass": a.class,
            "DBInstanceStorage": a.storage,
            "DBInstanceStorageType": a.storage_type,
            "Category": a.category,
            "PayType": a.pay_type,
            "ZoneId": a.zone_id,
            "VpcId": a.vpc_id,
            "VSwitchId": a.vswitch_id,
            "InstanceNetworkType": a.network_type,
            "DBInstanceDescription": a.description,
            "DBInstanceType": "Primary",
            "CreationTime": iso_seconds(if a.created_ms > 0 { a.created_ms } else { now - 30 * DAY_MS }),
            "ExpireTime": "",
            "LockMode": "Unlock",
            "LockReason": "",
            "DeletionProtection": a.deletion_protection,
            "MasterInstanceId": "",
            "TempDBInstanceId": "",
            "GuardDBInstanceId": "",
            "ResourceGroupId": "rg-emulator",
            "RegionId": "cn-hangzhou",
            "ConnectionString": format!("{}.mysql.rds.aliyuncs.com", i.id),
            "Port": "3306",
        });
        Ok(obj([("Items", json!({ "DBInstanceAttribute": [item] }))]))
    }

    pub(super) fn describe_instances(&self, p: &Params, now: i64) -> ApiResult {
        p.req("RegionId")?;
        let tags = tags_filter(p)?;
        p.choice(
            "DBInstanceType",
            &["Primary", "Readonly", "Guard", "Temp"],
            invalid,
        )?;
        let all = self.listed_instances(p, tags.as_ref(), now);
        let total = all.len();
        if let Some(max) = p.int("MaxResults", invalid)? {
            return token_page(p, all, max);
        }
        let (page, size) = paging(p, 30, 1..=100)?;
        let items = page_of(all, page - 1, size);
        Ok(obj([
            ("PageNumber", json!(page)),
            ("PageRecordCount", json!(items.len())),
            ("TotalRecordCount", json!(total)),
            ("Items", json!({ "DBInstance": items })),
            ("NextToken", json!("")),
        ]))
    }

    /// The live instances that match the `DescribeDBInstances` filters, by id.
    fn listed_instances(
        &self,
        p: &Params,
        tags: Option<&BTreeMap<String, String>>,
        now: i64,
    ) -> Vec<Value> {
        let ids: Option<Vec<&str>> = p
            .opt("DBInstanceId")
            .map(|s| s.split(',').map(str::trim).collect());
        let search = p.opt("SearchKey");
        let mut all: Vec<Value> = Vec::new();
        for i in self.instances.values() {
            let Some(status) = i.status_at(now) else {
                continue;
            };
            if ids.as_ref().is_some_and(|ids| !ids.contains(&i.id.as_str()))
                || p.opt("DBInstanceStatus").is_some_and(|s| s != status)
                || p.opt("Engine").is_some_and(|e| !e.eq_ignore_ascii_case(&i.engine))
                || p.opt("DBInstanceType").is_some_and(|t| t != "Primary")
                || search.is_some_and(|k| !i.id.contains(k) && !i.attrs.description.contains(k))
                // "If an instance matches any of the specified tags, the instance information
                // is returned".
                || tags.is_some_and(|t| {
                    !t.iter().any(|(k, v)| i.tags.get(k) == Some(v))
                })
            {
                continue;
            }
            all.push(instance_json(i, status, now));
        }
        all
    }

    pub(super) fn recovery_time(&self, p: &Params, now: i64) -> ApiResult {
        let id = p.req("DBInstanceId")?;
        self.live(id, now).ok_or_else(|| instance_not_found(404))?;
        let (b, e) = match self.recovery_window(id, now) {
            Some((b, e)) => (iso_seconds(b), iso_seconds(e)),
            None => (String::new(), String::new()),
        };
        Ok(obj([
            ("DBInstanceId", json!(id)),
            ("RecoveryBeginTime", json!(b)),
            ("RecoveryEndTime", json!(e)),
        ]))
    }

    /// Whether database or table `name` exists in instance `id` at `now` (for DBS restores
    /// into an RDS instance).
    pub(crate) fn has_object(&self, id: &str, name: &str, now: i64) -> bool {
        self.live(id, now)
            .is_some_and(|i| self.object_exists(i, name, now))
    }

    /// Whether the object `name` (`db` or `db.table`) exists in the instance at `now`.
    pub(super) fn object_exists(&self, inst: &RdsInstance, name: &str, now: i64) -> bool {
        let restored = self
            .restore
            .tasks
            .iter()
            .filter(|t| t.instance_id == inst.id && t.status(now).status == "Succeed");
        let mut known: BTreeSet<&str> = inst.objects.iter().map(String::as_str).collect();
        for t in restored {
            known.extend(t.objects.iter().map(|o| o.newname.as_str()));
        }
        let db = name.split('.').next().unwrap_or(name);
        known.contains(name)
            // A table target inside a restored database, or a database target that already
            // holds restored tables: taken as existing (the emulator cannot tell).
            || (name != db && known.contains(db))
            || known.iter().any(|k| k.strip_prefix(name).is_some_and(|r| r.starts_with('.')))
    }
}

/// `Tags` of `DescribeDBInstances`: a JSON object of at most 5 tags.
fn tags_filter(p: &Params) -> Result<Option<BTreeMap<String, String>>, ApiError> {
    match p.opt("Tags") {
        None => Ok(None),
        Some(raw) => {
            let m: BTreeMap<String, String> =
                serde_json::from_str(raw).map_err(|_| invalid("Tags"))?;
            if m.len() > 5 {
                return Err(invalid("Tags"));
            }
            Ok(Some(m))
        }
    }
}

/// An instance as `DescribeDBInstances` lists it.
fn instance_json(i: &RdsInstance, status: &str, now: i64) -> Value {
    json!({
        "DBInstanceId": i.id,
        "DBInstanceDescription": i.attrs.description,
        "DBInstanceStatus": status,
        "DBInstanceType": "Primary",
        "DBInstanceClass": i.attrs.class,
        "DBInstanceStorageType": i.attrs.storage_type,
        "Engine": i.engine,
        "EngineVersion": i.engine_version,
        "PayType": i.attrs.pay_type,
        "ZoneId": i.attrs.zone_id,
        "VpcId": i.attrs.vpc_id,
        "VSwitchId": i.attrs.vswitch_id,
        "InstanceNetworkType": i.attrs.network_type,
        "CreateTime": iso_seconds(if i.attrs.created_ms > 0 { i.attrs.created_ms } else { now - 30 * DAY_MS }),
        "MasterInstanceId": "",
        "LockMode": "Unlock",
        "LockReason": "",
        "DeletionProtection": i.attrs.deletion_protection,
        "RegionId": "cn-hangzhou",
        "ResourceGroupId": "rg-emulator",
    })
}

/// The `MaxResults` / `NextToken` page of `DescribeDBInstances` (they override `PageSize` /
/// `PageNumber`; the total is the page's).
fn token_page(p: &Params, all: Vec<Value>, max: i64) -> ApiResult {
    if !(1..=100).contains(&max) {
        return Err(invalid("MaxResults"));
    }
    let total = all.len();
    let skip = match p.opt("NextToken") {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| invalid("NextToken"))?,
    };
    let max = usize::try_from(max).unwrap_or(30);
    let items: Vec<Value> = all.into_iter().skip(skip).take(max).collect();
    let next = if skip + items.len() < total {
        (skip + items.len()).to_string()
    } else {
        String::new()
    };
    Ok(obj([
        ("TotalRecordCount", json!(items.len())),
        ("Items", json!({ "DBInstance": items })),
        ("NextToken", json!(next)),
    ]))
}
