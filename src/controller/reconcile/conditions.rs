//! kstatus-compatible conditions (`Ready`, `Reconciling`, `Stalled`) as pure functions.
//!
//! Every object carries all three condition types. Exactly one of them is `True` at a time:
//!
//! | [`Health`]      | `Ready` | `Reconciling` | `Stalled` |
//! |-----------------|---------|---------------|-----------|
//! | `Ready`         | True    | False         | False     |
//! | `Progressing`   | False   | True          | False     |
//! | `Stalled`       | False   | False         | True      |
//! | `Paused`        | False   | False         | False     |
//!
//! A paused object also carries the condition `Paused=True`; any other health removes it.
//!
//! `lastTransitionTime` changes only when a condition's `status` flips; reason, message and
//! `observedGeneration` are updated in place. The setters report whether anything changed so
//! the caller can skip a no-op status write (no self-triggered reconcile storms: `docs/architecture.md#requeues-and-backoff`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub use crate::crd::{
    CONDITION_PAUSED as PAUSED, CONDITION_READY as READY, CONDITION_RECONCILING as RECONCILING,
    CONDITION_STALLED as STALLED, find_condition as find,
};

/// Condition status `True`.
pub const TRUE: &str = "True";
/// Condition status `False`.
pub const FALSE: &str = "False";

/// The overall health of an object, from which the three conditions are derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Desired state reached.
    Ready {
        /// PascalCase reason, e.g. `BackupSucceeded`.
        reason: &'static str,
        /// Human-readable detail.
        message: String,
    },
    /// Work in progress (including transient failures being retried).
    Progressing {
        /// PascalCase reason, e.g. `BackupRunning`.
        reason: &'static str,
        /// Human-readable detail.
        message: String,
    },
    /// Needs a human: invalid spec, missing credentials, terminal cloud error, failed backup.
    Stalled {
        /// PascalCase reason, e.g. `InvalidSpec`.
        reason: &'static str,
        /// Human-readable detail saying what to change.
        message: String,
    },
    /// The operator leaves the object alone (reason `Paused`); see `docs/operations.md#pause`.
    Paused {
        /// Why, and how to resume.
        message: String,
    },
}

/// Reason of every condition of a paused object.
pub const PAUSED_REASON: &str = "Paused";

impl Health {
    /// Shorthand for [`Health::Ready`].
    pub fn ready(reason: &'static str, message: impl Into<String>) -> Self {
        Health::Ready {
            reason,
            message: message.into(),
        }
    }

    /// Shorthand for [`Health::Progressing`].
    pub fn progressing(reason: &'static str, message: impl Into<String>) -> Self {
        Health::Progressing {
            reason,
            message: message.into(),
        }
    }

    /// Shorthand for [`Health::Stalled`].
    pub fn stalled(reason: &'static str, message: impl Into<String>) -> Self {
        Health::Stalled {
            reason,
            message: message.into(),
        }
    }

    /// Shorthand for [`Health::Paused`].
    pub fn paused(message: impl Into<String>) -> Self {
        Health::Paused {
            message: message.into(),
        }
    }

    /// The reason of the condition that is `True`.
    pub fn reason(&self) -> &'static str {
        match self {
            Health::Ready { reason, .. }
            | Health::Progressing { reason, .. }
            | Health::Stalled { reason, .. } => reason,
            Health::Paused { .. } => PAUSED_REASON,
        }
    }

    /// The message of the condition that is `True`.
    pub fn message(&self) -> &str {
        match self {
            Health::Ready { message, .. }
            | Health::Progressing { message, .. }
            | Health::Stalled { message, .. }
            | Health::Paused { message } => message,
        }
    }

    /// Name of the condition type that is `True` (`Ready`, `Reconciling` or `Stalled`).
    pub fn condition_type(&self) -> &'static str {
        match self {
            Health::Ready { .. } => READY,
            Health::Progressing { .. } => RECONCILING,
            Health::Stalled { .. } => STALLED,
            Health::Paused { .. } => PAUSED,
        }
    }
}

/// Sets one condition. Returns `true` when anything changed.
///
/// `lastTransitionTime` is set to `now` only when the condition is new or its `status` changed.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: jiff::Timestamp,
) -> bool {
    let status_str = if status { TRUE } else { FALSE };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            let mut changed = false;
            if existing.status != status_str {
                existing.status = status_str.to_string();
                existing.last_transition_time = Time(now);
                changed = true;
            }
            if existing.reason != reason {
                existing.reason = reason.to_string();
                changed = true;
            }
            if existing.message != message {
                existing.message = message.to_string();
                changed = true;
            }
            if existing.observed_generation != observed_generation {
                existing.observed_generation = observed_generation;
                changed = true;
            }
            changed
        }
        None => {
            conditions.push(Condition {
                type_: type_.to_string(),
                status: status_str.to_string(),
                reason: reason.to_string(),
                message: message.to_string(),
                observed_generation,
                last_transition_time: Time(now),
            });
            true
        }
    }
}

/// Sets `Ready`, `Reconciling` and `Stalled` from `health`. Returns `true` when anything changed.
///
/// The two conditions that are `False` carry the same reason as the `True` one (so
/// `kubectl wait --for=condition=Ready` users see why it is not ready) and an empty message,
/// except `Ready=False`, which repeats the message.
pub fn apply_health(
    conditions: &mut Vec<Condition>,
    health: &Health,
    observed_generation: Option<i64>,
    now: jiff::Timestamp,
) -> bool {
    let reason = health.reason();
    let message = health.message();
    let (ready, reconciling, stalled) = match health {
        Health::Ready { .. } => (true, false, false),
        Health::Progressing { .. } => (false, true, false),
        Health::Stalled { .. } => (false, false, true),
        Health::Paused { .. } => (false, false, false),
    };
    let mut changed = false;
    if let Health::Paused { .. } = health {
        changed |= set_condition(
            conditions,
            PAUSED,
            true,
            reason,
            message,
            observed_generation,
            now,
        );
    } else {
        let before = conditions.len();
        conditions.retain(|c| c.type_ != PAUSED);
        changed |= conditions.len() != before;
    }
    changed |= set_condition(
        conditions,
        READY,
        ready,
        reason,
        message,
        observed_generation,
        now,
    );
    changed |= set_condition(
        conditions,
        RECONCILING,
        reconciling,
        reason,
        if reconciling { message } else { "" },
        observed_generation,
        now,
    );
    changed |= set_condition(
        conditions,
        STALLED,
        stalled,
        reason,
        if stalled { message } else { "" },
        observed_generation,
        now,
    );
    // Keep a stable order so that equal states serialize equally.
    conditions.sort_by_key(|c| condition_rank(&c.type_));
    changed
}

fn condition_rank(type_: &str) -> (u8, String) {
    match type_ {
        READY => (0, String::new()),
        RECONCILING => (1, String::new()),
        STALLED => (2, String::new()),
        other => (3, other.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn is_true(conditions: &[Condition], type_: &str) -> bool {
        find(conditions, type_).is_some_and(|c| c.status == TRUE)
    }

    fn t(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    #[test]
    fn new_conditions_are_added_with_transition_time() {
        let mut c = Vec::new();
        assert!(apply_health(
            &mut c,
            &Health::progressing("Creating", "creating"),
            Some(1),
            t(0)
        ));
        assert_eq!(c.len(), 3);
        let r = find(&c, RECONCILING).unwrap();
        assert_eq!(r.status, TRUE);
        assert_eq!(r.reason, "Creating");
        assert_eq!(r.message, "creating");
        assert_eq!(r.observed_generation, Some(1));
        assert_eq!(r.last_transition_time.0, t(0));
        assert_eq!(find(&c, READY).unwrap().status, FALSE);
        assert_eq!(find(&c, READY).unwrap().message, "creating");
        assert_eq!(find(&c, STALLED).unwrap().status, FALSE);
        assert_eq!(find(&c, STALLED).unwrap().message, "");
        let order: Vec<_> = c.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(order, vec![READY, RECONCILING, STALLED]);
    }

    #[test]
    fn same_health_is_not_a_change_and_keeps_time() {
        let mut c = Vec::new();
        let h = Health::progressing("Running", "42%");
        apply_health(&mut c, &h, Some(1), t(0));
        let before = c.clone();
        assert!(!apply_health(&mut c, &h, Some(1), t(100)));
        assert_eq!(c, before);
    }

    #[test]
    fn message_change_updates_without_transition() {
        let mut c = Vec::new();
        apply_health(
            &mut c,
            &Health::progressing("Running", "10%"),
            Some(1),
            t(0),
        );
        assert!(apply_health(
            &mut c,
            &Health::progressing("Running", "50%"),
            Some(1),
            t(10)
        ));
        let r = find(&c, RECONCILING).unwrap();
        assert_eq!(r.message, "50%");
        assert_eq!(r.last_transition_time.0, t(0));
    }

    #[test]
    fn status_flip_moves_transition_time_only_for_flipped() {
        let mut c = Vec::new();
        apply_health(&mut c, &Health::progressing("Running", "x"), Some(1), t(0));
        assert!(apply_health(
            &mut c,
            &Health::ready("BackupSucceeded", "done"),
            Some(1),
            t(50)
        ));
        assert_eq!(find(&c, READY).unwrap().last_transition_time.0, t(50));
        assert_eq!(find(&c, RECONCILING).unwrap().last_transition_time.0, t(50));
        // Stalled stayed False: its time is unchanged.
        assert_eq!(find(&c, STALLED).unwrap().last_transition_time.0, t(0));
        assert!(is_true(&c, READY));
        assert!(!is_true(&c, RECONCILING));
    }

    #[test]
    fn generation_change_is_a_change() {
        let mut c = Vec::new();
        let h = Health::ready("Ok", "");
        apply_health(&mut c, &h, Some(1), t(0));
        assert!(apply_health(&mut c, &h, Some(2), t(1)));
        assert!(c.iter().all(|c| c.observed_generation == Some(2)));
        assert!(c.iter().all(|c| c.last_transition_time.0 == t(0)));
    }

    #[test]
    fn stalled_sets_only_stalled_true() {
        let mut c = Vec::new();
        apply_health(
            &mut c,
            &Health::stalled("InvalidSpec", "fix it"),
            Some(3),
            t(0),
        );
        assert!(is_true(&c, STALLED));
        assert!(!is_true(&c, READY));
        assert!(!is_true(&c, RECONCILING));
        assert_eq!(find(&c, STALLED).unwrap().message, "fix it");
    }

    #[test]
    fn foreign_conditions_are_kept_after_ours() {
        let mut c = vec![Condition {
            type_: "Custom".into(),
            status: TRUE.into(),
            reason: "X".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(t(0)),
        }];
        apply_health(&mut c, &Health::ready("Ok", ""), None, t(1));
        assert_eq!(c.len(), 4);
        assert_eq!(c[3].type_, "Custom");
    }

    #[test]
    fn paused_sets_none_of_the_three_true_and_adds_paused_until_resumed() {
        let mut c = Vec::new();
        apply_health(
            &mut c,
            &Health::ready("BackupSucceeded", "done"),
            Some(1),
            t(0),
        );
        assert!(apply_health(
            &mut c,
            &Health::paused("paused by annotation"),
            Some(1),
            t(1)
        ));
        for type_ in [READY, RECONCILING, STALLED] {
            let cond = find(&c, type_).unwrap();
            assert_eq!(
                (cond.status.as_str(), cond.reason.as_str()),
                (FALSE, "Paused")
            );
        }
        let p = find(&c, PAUSED).unwrap();
        assert_eq!(
            (p.status.as_str(), p.message.as_str()),
            (TRUE, "paused by annotation")
        );
        assert_eq!(find(&c, READY).unwrap().message, "paused by annotation");
        // Same pause again: nothing changes.
        assert!(!apply_health(
            &mut c,
            &Health::paused("paused by annotation"),
            Some(1),
            t(2)
        ));
        // Any other health removes `Paused`.
        assert!(apply_health(
            &mut c,
            &Health::ready("BackupSucceeded", "done"),
            Some(1),
            t(3)
        ));
        assert!(find(&c, PAUSED).is_none());
        assert!(is_true(&c, READY));
    }
}
