//! The one reconcile pipeline every kind runs through ([`pipeline`]) and what its steps share:
//! the status cycle ([`work`]), the kind traits ([`kind`]), conditions, errors, adoption,
//! RPO, and the [`policy`] gates (pause, protection, deletion policy, deadlines, credentials).

pub mod adoption;
pub mod backoff;
pub mod conditions;
pub mod error;
pub mod kind;
pub mod outcome;
pub mod pipeline;
pub mod policy;
pub mod rpo;
pub mod scheduling;
pub mod sink;
pub mod status;
#[cfg(test)]
pub mod testing;
pub mod times;
pub mod work;
