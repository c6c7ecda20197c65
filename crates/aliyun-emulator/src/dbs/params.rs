//! The checks of the plan parameters (purchase, source endpoint, strategy and storage) and
//! the plan fields they record; the endpoint checks are shared with the restore destination
//! of `CreateRestoreTask`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{invalid, invalid_msg, one_of, required_when};
use crate::api::{ApiError, Params};

const WEEKDAYS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// `HH:mm` (optionally with a trailing `Z`), 00:00–23:59.
pub fn valid_hhmm(s: &str) -> bool {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let Some((h, m)) = s.split_once(':') else {
        return false;
    };
    h.len() == 2
        && m.len() == 2
        && h.parse::<u8>().is_ok_and(|h| h < 24)
        && m.parse::<u8>().is_ok_and(|m| m < 60)
}

/// `SourceEndpointInstanceType` / `DestinationEndpointInstanceType` values.
pub(super) const ENDPOINT_TYPES: &[&str] =
    &["RDS", "ECS", "Express", "Agent", "DDS", "Other", "dg"];

/// The endpoint parameters an endpoint of type `ty` (lower case) needs, per the API reference
/// of `CreateAndStartBackupPlan` (`side` `Source`) and `CreateRestoreTask` (`Destination`):
/// region, instance id, address, port and backup gateway by type; the account unless the
/// database (`db`, lower case) is Redis or SQL Server via a backup gateway; the database name
/// for PostgreSQL and MongoDB; the SID for Oracle. `shown` is the type as the errors name it.
pub(super) fn required_endpoint_params(
    p: &Params,
    side: &str,
    ty: &str,
    shown: &str,
    db: &str,
) -> Result<(), ApiError> {
    let key = |name: &str| format!("{side}Endpoint{name}");
    let need = |k: &str, types: &[&str]| -> Result<(), ApiError> {
        if types.contains(&ty) && p.opt(k).is_none() {
            return Err(required_when(
                k,
                &format!("{side}EndpointInstanceType is {shown}"),
            ));
        }
        Ok(())
    };
    need(&key("Region"), &["rds", "ecs", "dds", "express", "agent"])?;
    need(&key("InstanceID"), &["rds", "ecs", "dds", "express"])?;
    need(&key("IP"), &["express", "agent", "other"])?;
    need(&key("Port"), &["express", "agent", "other", "ecs"])?;
    need("BackupGatewayId", &["agent"])?;
    let no_account = db == "redis" || (ty == "agent" && db == "mssql");
    if !no_account {
        for k in [key("UserName"), key("Password")] {
            if p.opt(&k).is_none() {
                return Err(required_when(
                    &k,
                    "the database is not Redis or SQL Server via a backup gateway",
                ));
            }
        }
    }
    if matches!(db, "postgresql" | "mongodb") && p.opt(&key("DatabaseName")).is_none() {
        return Err(required_when(
            &key("DatabaseName"),
            "DatabaseType is PostgreSQL or MongoDB",
        ));
    }
    if db == "oracle" && p.opt(&key("OracleSID")).is_none() {
        return Err(required_when(&key("OracleSID"), "DatabaseType is Oracle"));
    }
    Ok(())
}

/// An endpoint port (`k`), when given: 1–65535.
pub(super) fn check_port(p: &Params, k: &str) -> Result<(), ApiError> {
    if let Some(port) = p.int(k, invalid)?
        && !(1..=65_535).contains(&port)
    {
        return Err(invalid(k));
    }
    Ok(())
}

/// Validates the source-endpoint parameters shared by `CreateAndStartBackupPlan` and
/// `ConfigureBackupPlan` and returns them as plan fields.
pub(super) fn endpoint_fields(
    p: &Params,
    db_type: &str,
    f: &mut BTreeMap<String, Value>,
) -> Result<(), ApiError> {
    let ty = p.req("SourceEndpointInstanceType")?;
    let ty = one_of(p, "SourceEndpointInstanceType", ENDPOINT_TYPES)?
        .unwrap_or(ty)
        .to_ascii_lowercase();
    let db = db_type.to_ascii_lowercase();
    required_endpoint_params(p, "Source", &ty, &ty, &db)?;
    check_port(p, "SourceEndpointPort")?;
    let gw = p.int("BackupGatewayId", invalid)?;
    f.insert(
        "SourceEndpointInstanceType".into(),
        json!(p.opt("SourceEndpointInstanceType")),
    );
    for (param, field) in [
        ("SourceEndpointRegion", "SourceEndpointRegion"),
        ("SourceEndpointInstanceID", "SourceEndpointInstanceID"),
        ("SourceEndpointUserName", "SourceEndpointUserName"),
        ("SourceEndpointDatabaseName", "SourceEndpointDatabaseName"),
        ("SourceEndpointOracleSID", "SourceEndpointOracleSID"),
        ("SourceEndpointPort", "SourceEndpointPort"),
    ] {
        if let Some(v) = p.opt(param) {
            f.insert(field.into(), json!(v));
        }
    }
    if let Some(ip) = p.opt("SourceEndpointIP") {
        f.insert("SourceEndpointHost".into(), json!(ip));
        f.insert(
            "SourceEndpointIpPort".into(),
            json!(format!(
                "{ip}:{}",
                p.opt("SourceEndpointPort").unwrap_or("3306")
            )),
        );
    }
    if let Some(g) = gw {
        f.insert("BackupGatewayId".into(), json!(g));
    }
    Ok(())
}

/// Validates the optional strategy/storage parameters and records them as plan fields
/// (with the defaults of a new plan when `create`).
pub(super) fn strategy_fields(
    p: &Params,
    f: &mut BTreeMap<String, Value>,
    create: bool,
) -> Result<(), ApiError> {
    schedule_fields(p, f, create)?;
    storage_fields(p, f, create)
}

/// `BackupPeriod`, `BackupStartTime`, `BackupStrategyType` and `BackupRetentionPeriod`.
fn schedule_fields(
    p: &Params,
    f: &mut BTreeMap<String, Value>,
    create: bool,
) -> Result<(), ApiError> {
    if let Some(period) = p.opt("BackupPeriod") {
        if !period.split(',').all(|d| WEEKDAYS.contains(&d.trim())) {
            return Err(invalid_msg(format!(
                "The specified parameter BackupPeriod value {period} is not valid. Use comma-separated weekdays such as Monday,Thursday."
            )));
        }
        f.insert("BackupPeriod".into(), json!(period));
    }
    if let Some(t) = p.opt("BackupStartTime") {
        if !valid_hhmm(t) {
            return Err(invalid_msg(format!(
                "The specified parameter BackupStartTime value {t} is not valid. Use HH:mm (UTC)."
            )));
        }
        f.insert("BackupStartTime".into(), json!(t));
    }
    let strategy = one_of(p, "BackupStrategyType", &["simple", "manual"])?;
    // "If you specify this value (simple) ..., you must also specify BackupPeriod and
    // BackupStartTime" (CreateAndStartBackupPlan): only an explicit `simple` needs them.
    if create && strategy.is_some_and(|s| s.eq_ignore_ascii_case("simple")) {
        for k in ["BackupPeriod", "BackupStartTime"] {
            if p.opt(k).is_none() {
                return Err(required_when(k, "BackupStrategyType is simple"));
            }
        }
    }
    if let Some(s) = strategy {
        f.insert("BackupStrategyType".into(), json!(s));
    }
    if let Some(r) = p.int("BackupRetentionPeriod", invalid)? {
        if !(0..=1825).contains(&r) {
            return Err(invalid_msg(format!(
                "The specified parameter BackupRetentionPeriod value {r} is not valid. Valid values: 0 to 1825."
            )));
        }
        f.insert("BackupRetentionPeriod".into(), json!(r));
    } else if create {
        f.insert("BackupRetentionPeriod".into(), json!(730));
    }
    Ok(())
}

/// The duplication periods, rate limits, log backup, `BackupObjects` and storage parameters.
fn storage_fields(
    p: &Params,
    f: &mut BTreeMap<String, Value>,
    create: bool,
) -> Result<(), ApiError> {
    for (k, default) in [
        ("DuplicationInfrequentAccessPeriod", 180),
        ("DuplicationArchivePeriod", 365),
    ] {
        match p.int(k, invalid)? {
            Some(v) if v < 0 => return Err(invalid(k)),
            Some(v) => {
                f.insert(k.into(), json!(v));
            }
            None if create => {
                f.insert(k.into(), json!(default));
            }
            None => {}
        }
    }
    for k in [
        "BackupLogIntervalSeconds",
        "BackupRateLimit",
        "BackupSpeedLimit",
    ] {
        if let Some(v) = p.int(k, invalid)?
            && v < 0
        {
            return Err(invalid(k));
        }
    }
    if let Some(b) = p.bool("EnableBackupLog", invalid)? {
        f.insert("EnableBackupLog".into(), json!(b));
    } else if create {
        f.insert("EnableBackupLog".into(), json!(false));
    }
    if let Some(objs) = p.opt("BackupObjects") {
        if serde_json::from_str::<Value>(objs).is_err() {
            return Err(invalid_msg(
                "The specified parameter BackupObjects must be a JSON array.".into(),
            ));
        }
        f.insert("BackupObjects".into(), json!(objs));
    }
    if let Some(st) = p.raw("BackupStorageType") {
        if !(st.is_empty() || st == "system") {
            return Err(invalid("BackupStorageType"));
        }
        f.insert("BackupStorageType".into(), json!(st));
    }
    for k in [
        "OSSBucketName",
        "ResourceGroupId",
        "CrossAliyunId",
        "CrossRoleName",
    ] {
        if let Some(v) = p.opt(k) {
            f.insert(k.into(), json!(v));
        }
    }
    Ok(())
}

/// Validates the purchase parameters of `CreateBackupPlan` / `CreateAndStartBackupPlan`.
pub(super) fn purchase_fields(
    p: &Params,
    f: &mut BTreeMap<String, Value>,
) -> Result<String, ApiError> {
    let method = p.req("BackupMethod")?;
    let db_type = p.req("DatabaseType")?;
    let class = p.req("InstanceClass")?;
    one_of(p, "BackupMethod", &["logical", "physical", "duplication"])?;
    one_of(
        p,
        "DatabaseType",
        &[
            "MySQL",
            "MSSQL",
            "Oracle",
            "MariaDB",
            "PostgreSQL",
            "DRDS",
            "MongoDB",
            "Redis",
        ],
    )?;
    one_of(
        p,
        "InstanceClass",
        &["micro", "small", "medium", "large", "xlarge"],
    )?;
    let period = one_of(p, "Period", &["Year", "Month"])?;
    let used = p.int("UsedTime", invalid)?;
    // The API reference gives UsedTime's range per Period; it does not say that Period needs
    // UsedTime, so Period alone is accepted.
    if let (Some(per), Some(u)) = (period, used) {
        let max = if per.eq_ignore_ascii_case("Year") {
            9
        } else {
            11
        };
        if !(1..=max).contains(&u) {
            return Err(invalid_msg(format!(
                "The specified parameter UsedTime value {u} is not valid. Valid values for Period {per}: 1 to {max}."
            )));
        }
    }
    let pay = one_of(p, "PayType", &["prepay", "postpay", "Postpaid"])?.unwrap_or("prepay");
    if !pay.eq_ignore_ascii_case("prepay") {
        if !method.eq_ignore_ascii_case("duplication") {
            return Err(invalid_msg(
                "PayType can be postpay only when BackupMethod is duplication.".into(),
            ));
        }
        for k in ["DatabaseRegion", "StorageRegion", "InstanceType"] {
            if p.opt(k).is_none() {
                return Err(required_when(k, "PayType is postpay"));
            }
        }
        one_of(
            p,
            "InstanceType",
            &["RDS", "PolarDB", "DDS", "Kvstore", "Other"],
        )?;
    }
    f.insert("BackupMethod".into(), json!(method));
    f.insert("DatabaseType".into(), json!(db_type));
    f.insert("InstanceClass".into(), json!(class));
    f.insert(
        "InstanceChargeType".into(),
        json!(if pay.eq_ignore_ascii_case("prepay") {
            "PREPAY"
        } else {
            "POSTPAY"
        }),
    );
    if let Some(r) = p.opt("Region") {
        f.insert("BackupPlanRegion".into(), json!(r));
    }
    Ok(db_type.to_owned())
}
