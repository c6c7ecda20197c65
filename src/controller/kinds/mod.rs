//! The kinds, one module per family: only what is specific to the product. Each implements
//! [`Reconciler`](super::reconcile::pipeline::Reconciler) (the restore kinds through the
//! restore driver in [`restore`]); `docs/architecture.md#how-to-add-a-kind` walks through one.

pub mod dbs;
pub mod hbr;
pub mod rds;
pub mod restore;
pub mod schedule;
