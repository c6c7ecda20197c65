//! `restore --from KIND/NAME`: the restore object for a backup (pure). Every refusal happens
//! here, before anything is created: a source that has not succeeded, an option that does not
//! apply, an overwrite whose target the user did not name with `--to`.

use std::time::Duration;

use aliyun_backup_operator::controller::kinds::restore::plan::{parse_time, rds_time};
use aliyun_backup_operator::crd::{
    DbsBackupPlan, DbsRestoreDestination, DbsRestoreObject, DbsRestoreSource, DbsRestoreTask,
    DbsRestoreTaskSpec, DbsSourceInstanceType, HbrBackupJob, HbrBackupJobPhase, HbrRestoreJob,
    HbrRestoreJobSpec, HbrRestoreSource, HbrRestoreTarget, HbrRestoreType, HbrSourceType,
    LocalObjectRef, RdsBackup, RdsBackupPhase, RdsCloneParams, RdsRestore, RdsRestoreDatabase,
    RdsRestoreMode, RdsRestoreSource, RdsRestoreSpec, RdsRestoreTableName, RestoreCommon,
    RestoreOverwrite, SecretKeyRef,
};
use clap::Args;
use jiff::Timestamp;
use serde_json::Value;

use crate::model::{Kind, ObjectRef};

/// `restore` on the command line.
#[derive(Debug, Args, Clone)]
pub struct RestoreArgs {
    /// The backup: rdsbackup/NAME (Succeeded), hbrbackupjob/NAME (Succeeded, UDM_ECS or
    /// ECS_FILE) or dbsbackupplan/NAME.
    #[arg(long, value_name = "KIND/NAME")]
    pub from: ObjectRef,
    /// What the restore writes into, repeated to confirm it: the RDS instance of a table
    /// restore, the ECS instance of an HBR restore, the destination RDS instance of a DBS
    /// restore. Not for a clone (it makes a new instance).
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
    /// Name of the restore object (default: <from-name>-restore-<yyyymmddhhmm>).
    #[arg(long)]
    pub name: Option<String>,
    /// Only show the plan (a dry-run object, deleted afterwards); restore nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed without a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Follow the restore to its end; the exit code is its outcome.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting (for the plan, and with --wait for the restore) after this long.
    #[arg(long, default_value = "1h", value_parser = crate::parse_duration)]
    pub timeout: Duration,
    /// rdsbackup: restore tables into the live instance under new names instead of a clone
    /// (DB.TABLE=NEWTABLE or DB=NEWDB, comma-separated); needs --to <instance>.
    #[arg(long, value_delimiter = ',', value_name = "DB.TABLE=NEW")]
    pub tables: Vec<String>,
    /// rdsbackup clone: the new instance's class (default: the source's).
    #[arg(long)]
    pub class: Option<String>,
    /// rdsbackup clone: the new instance's storage in GB, steps of 5 (default: the source's).
    #[arg(long, value_name = "GB")]
    pub storage: Option<i64>,
    /// rdsbackup clone: the new instance's description.
    #[arg(long)]
    pub description: Option<String>,
    /// hbrbackupjob ECS_FILE: the directory of the target instance to restore into.
    #[arg(long)]
    pub path: Option<String>,
    /// dbsbackupplan: the databases and their new names (DB=NEWDB, comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "DB=NEWDB")]
    pub databases: Vec<String>,
    /// dbsbackupplan: this full backup set instead of the latest.
    #[arg(long, value_name = "ID", conflicts_with = "time")]
    pub backup_set: Option<String>,
    /// dbsbackupplan: this point in time (UTC, 2026-01-31T03:00:00Z) instead of the latest set.
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
    /// dbsbackupplan: the destination's login (default: the plan's source login).
    #[arg(long, requires = "password_secret")]
    pub user: Option<String>,
    /// dbsbackupplan: the Secret key with the destination's password, NAME:KEY.
    #[arg(long, value_name = "NAME:KEY", requires = "user")]
    pub password_secret: Option<String>,
}

/// The backup object a restore comes from, as read from the API server.
#[derive(Clone, Debug)]
pub enum Source {
    Rds(Box<RdsBackup>),
    Hbr(Box<HbrBackupJob>),
    Dbs(Box<DbsBackupPlan>),
}

/// A restore object ready to be created or printed.
#[derive(Clone, Debug, PartialEq)]
pub enum Manifest {
    Rds(Box<RdsRestore>),
    Hbr(Box<HbrRestoreJob>),
    Dbs(Box<DbsRestoreTask>),
}

impl Manifest {
    /// The restore kind.
    pub fn kind(&self) -> Kind {
        match self {
            Manifest::Rds(_) => Kind::RdsRestore,
            Manifest::Hbr(_) => Kind::HbrRestoreJob,
            Manifest::Dbs(_) => Kind::DbsRestoreTask,
        }
    }

    /// `metadata.name`.
    pub fn name(&self) -> String {
        let meta = match self {
            Manifest::Rds(o) => &o.metadata,
            Manifest::Hbr(o) => &o.metadata,
            Manifest::Dbs(o) => &o.metadata,
        };
        meta.name.clone().unwrap_or_default()
    }

    /// `KIND/NAME`.
    pub fn reference(&self) -> ObjectRef {
        ObjectRef {
            kind: self.kind(),
            name: self.name(),
        }
    }

    /// The same restore named `name`, with `spec.dryRun: dry_run`.
    pub fn variant(&self, name: &str, dry_run: bool) -> Manifest {
        let mut m = self.clone();
        let (meta, flag) = match &mut m {
            Manifest::Rds(o) => (&mut o.metadata, &mut o.spec.common.dry_run),
            Manifest::Hbr(o) => (&mut o.metadata, &mut o.spec.common.dry_run),
            Manifest::Dbs(o) => (&mut o.metadata, &mut o.spec.common.dry_run),
        };
        meta.name = Some(name.to_string());
        *flag = dry_run;
        m
    }

    /// The object as JSON (what is printed and sent).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        match self {
            Manifest::Rds(o) => serde_json::to_value(o),
            Manifest::Hbr(o) => serde_json::to_value(o),
            Manifest::Dbs(o) => serde_json::to_value(o),
        }
    }
}

/// The name of the dry-run object that shows the plan of restore `name`.
pub fn plan_name(name: &str) -> String {
    format!("{name}-plan")
}

/// The default name: `<from-name>-restore-<yyyymmddhhmm>` (UTC).
pub fn default_name(from: &str, now: Timestamp) -> String {
    format!("{from}-restore-{}", now.strftime("%Y%m%d%H%M"))
}

/// The restore object for `args` from `source` in `namespace` (pure; every refusal is an
/// `Err` with what to pass instead).
pub fn build(
    args: &RestoreArgs,
    source: &Source,
    namespace: &str,
    now: Timestamp,
) -> Result<Manifest, String> {
    let kind = match source {
        Source::Rds(_) => Kind::RdsBackup,
        Source::Hbr(_) => Kind::HbrBackupJob,
        Source::Dbs(_) => Kind::DbsBackupPlan,
    };
    if args.from.kind != kind {
        return Err(format!("--from {} is not a {kind}", args.from));
    }
    refuse_foreign(args)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_name(&args.from.name, now));
    let mut m = match source {
        Source::Rds(b) => Manifest::Rds(Box::new(RdsRestore::new(&name, rds_spec(args, b)?))),
        Source::Hbr(j) => Manifest::Hbr(Box::new(HbrRestoreJob::new(&name, hbr_spec(args, j)?))),
        Source::Dbs(p) => Manifest::Dbs(Box::new(DbsRestoreTask::new(&name, dbs_spec(args, p)?))),
    };
    match &mut m {
        Manifest::Rds(o) => o.metadata.namespace = Some(namespace.into()),
        Manifest::Hbr(o) => o.metadata.namespace = Some(namespace.into()),
        Manifest::Dbs(o) => o.metadata.namespace = Some(namespace.into()),
    }
    Ok(m.variant(&name, args.dry_run))
}

/// Options that do not apply to the source's kind are refused (never silently dropped).
fn refuse_foreign(args: &RestoreArgs) -> Result<(), String> {
    let (rds, hbr, dbs) = (Kind::RdsBackup, Kind::HbrBackupJob, Kind::DbsBackupPlan);
    let options: [(&str, bool, Kind); 10] = [
        ("--tables", !args.tables.is_empty(), rds),
        ("--class", args.class.is_some(), rds),
        ("--storage", args.storage.is_some(), rds),
        ("--description", args.description.is_some(), rds),
        ("--path", args.path.is_some(), hbr),
        ("--databases", !args.databases.is_empty(), dbs),
        ("--backup-set", args.backup_set.is_some(), dbs),
        ("--time", args.time.is_some(), dbs),
        ("--user", args.user.is_some(), dbs),
        ("--password-secret", args.password_secret.is_some(), dbs),
    ];
    match options
        .iter()
        .find(|(_, set, k)| *set && *k != args.from.kind)
    {
        Some((flag, _, k)) => Err(format!(
            "{flag} applies to a restore from {}, not from {}",
            k.cli_name(),
            args.from.kind.cli_name()
        )),
        None => Ok(()),
    }
}

fn backup_ref(name: &str) -> Option<LocalObjectRef> {
    Some(LocalObjectRef { name: name.into() })
}

fn confirm(id: &str) -> Option<RestoreOverwrite> {
    Some(RestoreOverwrite {
        confirm_target_id: id.into(),
    })
}

fn not_succeeded(from: &ObjectRef, phase: Option<&str>) -> String {
    format!(
        "{from} is {}, not Succeeded: a restore needs a finished backup (see `kubectl \
         aliyun-backup why {from}`)",
        phase.unwrap_or("Pending")
    )
}

fn rds_spec(args: &RestoreArgs, b: &RdsBackup) -> Result<RdsRestoreSpec, String> {
    let phase = b.status.as_ref().and_then(|s| s.phase);
    if phase != Some(RdsBackupPhase::Succeeded) {
        return Err(not_succeeded(&args.from, phase.map(|p| p.as_str())));
    }
    let instance = &b.spec.db_instance_id;
    let mut spec = RdsRestoreSpec {
        region: b.spec.region.clone(),
        common: RestoreCommon {
            credentials_ref: b.spec.credentials_ref.clone(),
            dry_run: false,
        },
        mode: RdsRestoreMode::Clone,
        source: RdsRestoreSource {
            backup_ref: backup_ref(&args.from.name),
            ..RdsRestoreSource::default()
        },
        clone: None,
        tables: Vec::new(),
        overwrite: None,
    };
    if args.tables.is_empty() {
        if let Some(to) = &args.to {
            return Err(format!(
                "--to {to}: a clone makes a new instance and writes into nothing that exists; \
                 drop --to (or restore tables into {instance} with --tables … --to {instance})"
            ));
        }
        spec.clone = clone_params(args)?;
        return Ok(spec);
    }
    if args.class.is_some() || args.storage.is_some() || args.description.is_some() {
        return Err(
            "--class, --storage and --description apply to a clone, not to --tables".into(),
        );
    }
    match args.to.as_deref() {
        Some(to) if to == instance => {}
        Some(to) => {
            return Err(format!(
                "--to {to}: a table restore writes into the instance of {} ({instance}), not \
                 {to}; pass --to {instance} to confirm it",
                args.from
            ));
        }
        None => {
            return Err(format!(
                "a table restore writes into the live instance {instance}: pass --to \
                 {instance} to confirm it"
            ));
        }
    }
    spec.mode = RdsRestoreMode::Tables;
    spec.tables = parse_tables(&args.tables)?;
    spec.overwrite = confirm(instance);
    Ok(spec)
}

fn clone_params(args: &RestoreArgs) -> Result<Option<RdsCloneParams>, String> {
    if let Some(gb) = args.storage
        && (gb < 5 || gb % 5 != 0)
    {
        return Err(format!(
            "--storage {gb}: storage goes in steps of 5 GB (5, 10, …)"
        ));
    }
    if args.class.is_none() && args.storage.is_none() && args.description.is_none() {
        return Ok(None);
    }
    Ok(Some(RdsCloneParams {
        db_instance_class: args.class.clone(),
        db_instance_storage: args.storage,
        db_instance_description: args.description.clone(),
        ..RdsCloneParams::default()
    }))
}

/// `--tables db.t1=t1_new,db=db_new`: databases in the order given, each with its tables.
pub fn parse_tables(entries: &[String]) -> Result<Vec<RdsRestoreDatabase>, String> {
    let mut dbs: Vec<RdsRestoreDatabase> = Vec::new();
    for entry in entries {
        let (from, to) = pair(entry, "DB.TABLE=NEWTABLE or DB=NEWDB")?;
        let (db, table) = match from.split_once('.') {
            Some((db, t)) if !db.is_empty() && !t.is_empty() => (db, Some(t)),
            Some(_) => return Err(format!("--tables {entry:?}: expected DB.TABLE=NEWTABLE")),
            None => (from, None),
        };
        let at = match dbs.iter().position(|d| d.database == db) {
            Some(i) => i,
            None => {
                dbs.push(RdsRestoreDatabase {
                    database: db.into(),
                    ..RdsRestoreDatabase::default()
                });
                dbs.len() - 1
            }
        };
        let d = &mut dbs[at];
        match table {
            Some(t) => d.tables.push(RdsRestoreTableName {
                name: t.into(),
                new_name: to.into(),
            }),
            None if d.new_database.is_some() => {
                return Err(format!("--tables: database {db} is named twice"));
            }
            None => d.new_database = Some(to.into()),
        }
    }
    Ok(dbs)
}

/// `A=B` with both sides set and different (restored data never replaces existing data).
fn pair<'a>(entry: &'a str, expected: &str) -> Result<(&'a str, &'a str), String> {
    let (from, to) = entry
        .split_once('=')
        .map(|(a, b)| (a.trim(), b.trim()))
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .ok_or_else(|| format!("{entry:?}: expected {expected}"))?;
    let old = from.rsplit('.').next().unwrap_or(from);
    if old == to {
        return Err(format!(
            "{entry:?}: the new name must differ from the old one (a restore never replaces \
             existing data)"
        ));
    }
    Ok((from, to))
}

fn hbr_spec(args: &RestoreArgs, j: &HbrBackupJob) -> Result<HbrRestoreJobSpec, String> {
    let phase = j.status.as_ref().and_then(|s| s.phase);
    if phase != Some(HbrBackupJobPhase::Succeeded) {
        return Err(not_succeeded(&args.from, phase.map(|p| p.as_str())));
    }
    let job_instance = j.spec.instance_id.clone();
    let shown = job_instance.clone().unwrap_or_else(|| "<instance>".into());
    let target = match j.spec.source_type {
        HbrSourceType::UdmEcs => {
            if args.path.is_some() {
                return Err(
                    "--path: a UDM_ECS snapshot rolls back the whole instance; --path applies \
                     to ECS_FILE backups"
                        .into(),
                );
            }
            let Some(instance) = job_instance else {
                return Err(format!("{} names no instanceId to roll back", args.from));
            };
            match args.to.as_deref() {
                Some(to) if to == instance => {}
                Some(to) => {
                    return Err(format!(
                        "--to {to}: a UDM_ECS rollback restores the instance the snapshot was \
                         taken of ({instance}); pass --to {instance} to confirm it"
                    ));
                }
                None => {
                    return Err(format!(
                        "a UDM_ECS rollback writes over the disks of instance {instance}: pass \
                         --to {instance} to confirm it"
                    ));
                }
            }
            hbr_target(HbrRestoreType::UdmEcsRollback, instance, None)
        }
        HbrSourceType::EcsFile => {
            let Some(path) = args.path.clone() else {
                return Err(
                    "--path DIR is required for a file restore: an empty, dedicated directory \
                     of the target instance"
                        .into(),
                );
            };
            let Some(to) = args.to.clone() else {
                return Err(format!(
                    "a file restore writes into {path} of an existing instance: pass --to \
                     <instance> to confirm it (the backup's instance: --to {shown})"
                ));
            };
            hbr_target(HbrRestoreType::EcsFile, to, Some(path))
        }
        HbrSourceType::Container => {
            return Err(format!(
                "{}: CONTAINER snapshots cannot be restored by the operator (no documented \
                 lookup); restore them in the console",
                args.from
            ));
        }
    };
    let overwrite = target.instance_id.as_deref().and_then(confirm);
    Ok(HbrRestoreJobSpec {
        region: j.spec.region.clone(),
        common: RestoreCommon {
            credentials_ref: j.spec.credentials_ref.clone(),
            dry_run: false,
        },
        source: HbrRestoreSource {
            backup_job_ref: backup_ref(&args.from.name),
            ..HbrRestoreSource::default()
        },
        target,
        overwrite,
    })
}

fn hbr_target(
    restore_type: HbrRestoreType,
    instance: String,
    path: Option<String>,
) -> HbrRestoreTarget {
    HbrRestoreTarget {
        restore_type,
        instance_id: Some(instance),
        path,
        include: Vec::new(),
        exclude: Vec::new(),
        bucket: None,
        prefix: None,
        file_system_id: None,
        file_system_create_time: None,
        boot_after_restore: None,
    }
}

fn dbs_spec(args: &RestoreArgs, p: &DbsBackupPlan) -> Result<DbsRestoreTaskSpec, String> {
    let Some(to) = args.to.clone() else {
        return Err(
            "--to <RDS instance id> is required: a DBS restore writes into an existing \
             instance, and --to names (and confirms) it"
                .into(),
        );
    };
    if args.databases.is_empty() {
        return Err(
            "--databases DB=NEWDB[,…] is required: the databases to restore and their \
                    new names"
                .into(),
        );
    }
    let mut objects = Vec::new();
    for entry in &args.databases {
        let (db, new) = pair(entry, "DB=NEWDB")?;
        objects.push(DbsRestoreObject {
            database: db.into(),
            new_database: new.into(),
        });
    }
    let restore_time = match &args.time {
        Some(t) => Some(rds_time(parse_time(t).map_err(|e| format!("--time: {e}"))?)),
        None => None,
    };
    let (user_name, password_secret_ref) = match (&args.user, &args.password_secret) {
        (Some(u), Some(s)) => {
            let (name, key) = s
                .split_once(':')
                .filter(|(n, k)| !n.is_empty() && !k.is_empty())
                .ok_or_else(|| format!("--password-secret {s:?}: expected NAME:KEY"))?;
            let key_ref = SecretKeyRef {
                name: name.into(),
                key: key.into(),
            };
            (Some(u.clone()), Some(key_ref))
        }
        _ => match (&p.spec.source.user_name, &p.spec.source.password_secret_ref) {
            (Some(u), Some(s)) => (Some(u.clone()), Some(s.clone())),
            _ => (None, None),
        },
    };
    Ok(DbsRestoreTaskSpec {
        region: p.spec.region.clone(),
        common: RestoreCommon {
            credentials_ref: p.spec.credentials_ref.clone(),
            dry_run: false,
        },
        source: DbsRestoreSource {
            backup_plan_ref: backup_ref(&args.from.name),
            backup_plan_id: None,
            latest_backup_set: args.backup_set.is_none() && restore_time.is_none(),
            backup_set_id: args.backup_set.clone(),
            restore_time,
        },
        destination: DbsRestoreDestination {
            instance_type: DbsSourceInstanceType::Rds,
            region: None,
            instance_id: Some(to.clone()),
            ip: None,
            port: None,
            database_name: None,
            oracle_sid: None,
            user_name,
            password_secret_ref,
        },
        objects,
        overwrite: confirm(&to),
    })
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
