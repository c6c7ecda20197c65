//! What a step decides: the [`Outcome`] of an act (the conditions to set, the events, and the
//! one next-visit type [`Next`]), and the messages and reasons the kinds share. Committed by
//! [`finish`](super::work::finish).

use std::time::Duration;

use kube::runtime::events::EventType;

use crate::cloud::{CloudError, ErrorClass, ErrorKind};
use crate::controller::reconcile::conditions::Health;
use crate::controller::reconcile::error::Error;

/// Which event a commit publishes when the phase or the true condition changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// `Warning` for `Stalled`, else `Normal`.
    Auto,
    /// Always `Warning` (a failure or a partial success that is not `Stalled`).
    Warning,
    /// None (the runtime publishes a Warning for the same error).
    Silent,
}

/// What happens after an act: when the object is looked at again — the one way a step asks
/// for its next visit. The reason of a wait goes to the log and the metrics; the conditions
/// say the rest.
#[derive(Debug)]
pub enum Next {
    /// Look again after this long (jittered; a user change looks at once).
    After(Duration),
    /// Not done yet, and no failure (no Warning event, not counted as failed): look again
    /// after `after`, or after the per-object backoff when `None`. A cleanup that waits keeps
    /// its finalizer.
    Wait {
        /// What is awaited (PascalCase; the log's and the metrics' reason).
        reason: &'static str,
        /// The delay; `None`: the per-object exponential backoff.
        after: Option<Duration>,
    },
    /// Nothing more to do until the object changes (a finished cleanup: the finalizer goes).
    Finished,
    /// A failure: the runtime publishes the Warning event and applies the per-object backoff.
    Retry(Error),
}

impl Next {
    /// Not done yet: look again after `after`.
    pub fn wait(reason: &'static str, after: Duration) -> Self {
        Next::Wait {
            reason,
            after: Some(after),
        }
    }

    /// Not done yet: look again after the per-object exponential backoff.
    pub fn backoff(reason: &'static str) -> Self {
        Next::Wait {
            reason,
            after: None,
        }
    }
}

impl From<Error> for Next {
    fn from(e: Error) -> Self {
        Next::Retry(e)
    }
}

/// An event an act asks to publish besides the one a phase/condition change publishes.
#[derive(Debug)]
pub struct Note {
    /// `Normal` or `Warning`.
    pub type_: EventType,
    /// The event reason (a fixed name).
    pub reason: &'static str,
    /// The event action.
    pub action: &'static str,
    /// The event note.
    pub message: String,
}

/// What one act decided after the cloud's answers: the status edits are in the
/// [`Work::status`] it was given; this carries the conditions to set, the events and what
/// happens next. One function, [`finish`], commits it.
#[must_use]
#[derive(Debug)]
pub struct Outcome {
    /// The conditions to set; `None` leaves them as they are (a status-fields-only write).
    pub health: Option<Health>,
    /// The event of a phase/condition change.
    pub publish: Publish,
    /// A failed status write does not fail the reconcile (the [`Next::Retry`] error is what
    /// drives the retry).
    pub best_effort: bool,
    /// Events to publish, before the write.
    pub notes: Vec<Note>,
    /// When to look again.
    pub next: Next,
}

impl Outcome {
    /// Sets `health` and looks again after `after`.
    pub fn requeue(health: Health, after: Duration) -> Self {
        Self::with(Some(health), Next::After(after))
    }

    /// Sets `health`, then `next`: a wait ([`Next::wait`], [`Next::backoff`]) or an error
    /// (retried with backoff).
    pub fn retry(health: Health, next: impl Into<Next>) -> Self {
        Self::with(Some(health), next.into())
    }

    /// Writes the status fields only (conditions unchanged), then `next`.
    pub fn fields(next: Next) -> Self {
        Self::with(None, next)
    }

    /// Cleanup is done: the finalizer can go (status fields written if they changed).
    pub fn finished() -> Self {
        Self::with(None, Next::Finished)
    }

    /// Nothing to do until the object changes (it went while this reconcile ran): nothing is
    /// written.
    pub fn await_change() -> Self {
        Self::with(None, Next::Finished)
    }

    /// The operator is paused for the object: the `Paused` conditions, then nothing until the
    /// object changes (removing the pause is a change).
    pub fn paused(message: String) -> Self {
        Self::with(Some(Health::paused(message)), Next::Finished)
    }

    fn with(health: Option<Health>, next: Next) -> Self {
        Outcome {
            health,
            publish: Publish::Auto,
            best_effort: false,
            notes: Vec::new(),
            next,
        }
    }

    /// With this choice of event for a phase/condition change.
    pub fn publish(mut self, publish: Publish) -> Self {
        self.publish = publish;
        self
    }

    /// With an extra event.
    pub fn note(
        mut self,
        type_: EventType,
        reason: &'static str,
        action: &'static str,
        message: impl Into<String>,
    ) -> Self {
        self.notes.push(Note {
            type_,
            reason,
            action,
            message: message.into(),
        });
        self
    }

    /// A requeue becomes `next` (cleanup: a wait keeps the finalizer, and the object is
    /// looked at again); a wait or an error stays what it is, and so does a finished cleanup.
    pub fn or_retry(mut self, next: Next) -> Self {
        if matches!(self.next, Next::After(_)) {
            self.next = next;
        }
        self
    }

    /// The reason of the conditions this outcome sets, if it sets them.
    pub fn reason(&self) -> Option<&'static str> {
        self.health.as_ref().map(Health::reason)
    }
}

/// Lets a deleted object go without touching the cloud: a `CloudCleanupSkipped` event saying
/// why (`note`), then the finalizer is removed.
pub fn let_go(note: &str) -> Outcome {
    Outcome::finished().note(
        EventType::Normal,
        reasons::CLOUD_CLEANUP_SKIPPED,
        "Deleting",
        note,
    )
}

/// The conditions of an object whose create was refused, rebuilt from its status (the
/// service's answer is in the `CreateRefused` event of the time).
pub fn create_refused_health(request_id: Option<&str>, what_now: &str) -> Health {
    let request = request_id
        .map(|id| format!(" (RequestId {id})"))
        .unwrap_or_default();
    Health::stalled(
        reasons::CREATE_REFUSED,
        format!(
            "the service refused the create{request}; its answer is in the CreateRefused \
             event: {what_now}"
        ),
    )
}

/// The message of the condition `Adopted`: `what` (e.g. `backup task 123`) and the
/// management policy.
pub fn adopted_message(what: &str, policy: crate::crd::ManagementPolicy) -> String {
    let how = if policy.is_observe_only() {
        "observed only: the operator never changes it in the cloud"
    } else {
        "managed like one the operator created"
    };
    format!(
        "adopted existing {what} (managementPolicy {}): {how}",
        policy.as_str()
    )
}

/// What to do after a refused create of a kind whose spec is immutable.
pub const IMMUTABLE_CREATE_REFUSED: &str = "the spec cannot be changed, so create a new object with a corrected spec (or fix the cloud side)";

/// Condition type: the cloud accepts the object's credentials (`True`), or they are missing,
/// unusable or refused (`False`, with the reason).
pub const CREDENTIALS_VALID: &str = "CredentialsValid";

/// Condition and event reasons shared by the kinds.
pub mod reasons {
    /// `CredentialsValid=True`: the cloud accepted the credentials.
    pub const CREDENTIALS_ACCEPTED: &str = "CredentialsAccepted";
    /// `CredentialsValid=False`: the cloud refused the credentials.
    pub const CREDENTIALS_REFUSED: &str = "CredentialsRefused";
    /// A create was refused for good; the object ends `Failed`.
    pub const CREATE_REFUSED: &str = "CreateRefused";
    /// Deletion let the object go without touching the cloud.
    pub const CLOUD_CLEANUP_SKIPPED: &str = "CloudCleanupSkipped";
    /// The spec cannot work as it is.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// `spec.timeout` passed before the backup ended; the object is `Failed`.
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
    /// The pause was lifted; the next act sets the conditions.
    pub const RESUMED: &str = "Resumed";
    /// `Adopted=True`: the object took over an existing cloud object.
    pub const ADOPTED_EXISTING: &str = "AdoptedExisting";
    /// The id to adopt is held by another object of the kind: nothing is recorded.
    pub const ADOPTION_REFUSED: &str = "AdoptionRefused";
}

/// Whether a create error is a refusal that sending the same request again cannot change: the
/// service answered with an error code that is not transient, not a conflict (busy), not a
/// credentials or permission problem (those are fixed in the Secret or RAM, after which the
/// same create may work) and not an HTTP 403 (a quota or state of the resource, such as RDS
/// `Exceeded.BackupTimes`, that lifts with time). Denials because of the resource's current
/// state are conflicts (`ErrorClass::Conflict`), not refusals. The call did not run.
pub fn create_refused_for_good(e: &CloudError) -> bool {
    e.kind == ErrorKind::Api
        && e.code().is_some_and(|c| !c.is_empty())
        && e.http_status().is_none_or(|s| s < 500 && s != 403)
        && matches!(e.class(), ErrorClass::Terminal | ErrorClass::NotFound)
        && !e.is_credentials_problem()
}

/// Message of a cloud error for status and events: action, code, message and request id.
pub fn cloud_error_message(e: &CloudError) -> String {
    let mut m = format!("{} failed", e.action);
    if let Some(code) = e.code() {
        m.push_str(": ");
        m.push_str(code);
    }
    if !e.message.is_empty() {
        m.push_str(": ");
        m.push_str(&e.message);
    }
    if let Some(id) = e.request_id() {
        m.push_str(" (RequestId ");
        m.push_str(id);
        m.push(')');
    }
    m
}
