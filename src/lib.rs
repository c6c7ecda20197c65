//! aliyun-backup-operator: Kubernetes operator for Alibaba Cloud DBS, RDS and HBR backups.
pub mod cloud;
pub mod controller;
pub mod crd;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod telemetry;
