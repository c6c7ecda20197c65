//! aliyun-backup-operator: Kubernetes operator for Alibaba Cloud DBS, RDS and HBR backups.
pub mod crd;
pub mod cloud;
pub mod controller;
pub mod telemetry;
#[cfg(feature = "sandbox")]
pub mod sandbox;
