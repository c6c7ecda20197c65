//! The running operator: kube-runtime wiring, leader election, the metrics and health
//! server, events, the shared context and the command line. Nothing here knows a kind.

pub mod cache;
pub mod cli;
pub mod clock;
pub mod context;
pub mod events;
pub mod leader;
pub mod metrics;
pub mod runtime;
pub mod server;
