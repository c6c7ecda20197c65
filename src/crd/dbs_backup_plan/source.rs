//! What a `DbsBackupPlan` backs up: the database kind, instance class and backup method,
//! the source endpoint and the backup objects.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::common::SecretKeyRef;

/// `DatabaseType` of `CreateAndStartBackupPlan`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum DbsDatabaseType {
    /// MySQL.
    MySQL,
    /// SQL Server.
    #[serde(rename = "MSSQL")]
    Mssql,
    /// Oracle.
    Oracle,
    /// MariaDB.
    MariaDB,
    /// PostgreSQL.
    PostgreSQL,
    /// PolarDB-X 1.0 (DRDS).
    #[serde(rename = "DRDS")]
    Drds,
    /// MongoDB.
    MongoDB,
    /// Redis.
    Redis,
}

impl DbsDatabaseType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MySQL => "MySQL",
            Self::Mssql => "MSSQL",
            Self::Oracle => "Oracle",
            Self::MariaDB => "MariaDB",
            Self::PostgreSQL => "PostgreSQL",
            Self::Drds => "DRDS",
            Self::MongoDB => "MongoDB",
            Self::Redis => "Redis",
        }
    }
}

/// `InstanceClass` of `CreateAndStartBackupPlan`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
#[serde(rename_all = "lowercase")]
pub enum DbsInstanceClass {
    /// micro
    Micro,
    /// small
    Small,
    /// medium
    Medium,
    /// large
    Large,
    /// xlarge
    Xlarge,
}

impl DbsInstanceClass {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Micro => "micro",
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
            Self::Xlarge => "xlarge",
        }
    }
}

/// `BackupMethod` of `CreateAndStartBackupPlan`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
#[serde(rename_all = "lowercase")]
pub enum DbsBackupMethod {
    /// Logical backup.
    Logical,
    /// Physical backup.
    Physical,
    /// Dump backup.
    Duplication,
}

impl DbsBackupMethod {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logical => "logical",
            Self::Physical => "physical",
            Self::Duplication => "duplication",
        }
    }
}

/// Where the source database is reached from (`SourceEndpointInstanceType`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum DbsSourceInstanceType {
    /// ApsaraDB RDS instance.
    #[serde(rename = "RDS")]
    Rds,
    /// Self-managed database on ECS.
    #[serde(rename = "ECS")]
    Ecs,
    /// Connected over Express Connect, VPN Gateway or Smart Access Gateway.
    Express,
    /// Connected through a DBS backup gateway.
    Agent,
    /// ApsaraDB for MongoDB.
    #[serde(rename = "DDS")]
    Dds,
    /// Reached by IP address and port.
    Other,
}

impl DbsSourceInstanceType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rds => "RDS",
            Self::Ecs => "ECS",
            Self::Express => "Express",
            Self::Agent => "Agent",
            Self::Dds => "DDS",
            Self::Other => "Other",
        }
    }
}

/// Product type of the database instance (`InstanceType`, needed for pay-as-you-go plans).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = crate::crd::common::field_doc_only)]
pub enum DbsDatabaseInstanceType {
    /// ApsaraDB RDS.
    #[serde(rename = "RDS")]
    Rds,
    /// PolarDB.
    PolarDB,
    /// ApsaraDB for MongoDB.
    #[serde(rename = "DDS")]
    Dds,
    /// ApsaraDB for Redis (Tair).
    Kvstore,
    /// Anything else.
    Other,
}

impl DbsDatabaseInstanceType {
    /// API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rds => "RDS",
            Self::PolarDB => "PolarDB",
            Self::Dds => "DDS",
            Self::Kvstore => "Kvstore",
            Self::Other => "Other",
        }
    }
}

/// The source database endpoint of a plan. Which fields are required depends on
/// `instanceType` (and on the plan's `databaseType`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(self.instanceType in ['RDS', 'ECS', 'DDS', 'Express']) || has(self.instanceId)").message("source.instanceId is required for instanceType RDS, ECS, DDS and Express"),
    validation = Rule::new("!(self.instanceType in ['Express', 'Agent', 'Other']) || has(self.ip)").message("source.ip is required for instanceType Express, Agent and Other"),
    validation = Rule::new("!(self.instanceType in ['Express', 'Agent', 'Other', 'ECS']) || has(self.port)").message("source.port is required for instanceType Express, Agent, Other and ECS"),
    validation = Rule::new("self.instanceType != 'Agent' || has(self.backupGatewayId)").message("source.backupGatewayId is required for instanceType Agent"),
)]
pub struct DbsSourceEndpoint {
    /// Where the database is (`SourceEndpointInstanceType`): `RDS`, `ECS`, `Express`, `Agent`
    /// (DBS backup gateway), `DDS` (MongoDB) or `Other` (IP and port).
    pub instance_type: DbsSourceInstanceType,
    /// Region of the database (`SourceEndpointRegion`, and `DatabaseRegion` for pay-as-you-go).
    /// Defaults to `spec.region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2,}(-[a-z0-9]+)+$"), length(max = 64))]
    pub region: Option<String>,
    /// Database instance ID (`SourceEndpointInstanceID`), e.g. `rm-uf6wjk5xxxx`. Required for
    /// `RDS`, `ECS`, `DDS` and `Express`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub instance_id: Option<String>,
    /// Host name or IP address of the database (`SourceEndpointIP`). Required for `Express`,
    /// `Agent` and `Other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub ip: Option<String>,
    /// Port of the database (`SourceEndpointPort`). Required for `Express`, `Agent`, `Other`
    /// and `ECS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Database name (`SourceEndpointDatabaseName`). Required for PostgreSQL and MongoDB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub database_name: Option<String>,
    /// Account used to connect (`SourceEndpointUserName`). Required except for Redis and for
    /// SQL Server through a backup gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub user_name: Option<String>,
    /// Secret key holding the account's password (`SourceEndpointPassword`). The password is
    /// read at create/configure time and never written anywhere else. The Secret is watched: a
    /// change (rotation) is pushed to the plan once with `ConfigureBackupPlan` (event
    /// `PasswordRotated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeyRef>,
    /// Oracle system ID (`SourceEndpointOracleSID`). Required for Oracle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub oracle_sid: Option<String>,
    /// DBS backup gateway ID (`BackupGatewayId`). Required for `Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub backup_gateway_id: Option<i64>,
    /// Product type of the database instance (`InstanceType`): `RDS`, `PolarDB`, `DDS`,
    /// `Kvstore` or `Other`. Required when `billing.payType` is `postpay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_instance_type: Option<DbsDatabaseInstanceType>,
}

/// One entry of `BackupObjects`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.tableIncludes) || size(self.tableIncludes) == 0 || !has(self.tableExcludes) || size(self.tableExcludes) == 0").message("a backupObjects entry takes tableIncludes or tableExcludes, not both"))]
pub struct DbsBackupObject {
    /// Database to back up (`DBName`).
    #[schemars(length(min = 1, max = 128))]
    pub db_name: String,
    /// Schema to back up (`SchemaName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub schema_name: Option<String>,
    /// Tables to back up (`TableIncludes[].TableName`); empty: all tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), inner(length(min = 1, max = 128)))]
    pub table_includes: Vec<String>,
    /// Tables to leave out (`TableExcludes[].TableName`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), inner(length(min = 1, max = 128)))]
    pub table_excludes: Vec<String>,
}
