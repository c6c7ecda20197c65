//! placeholder
pub mod plan;
