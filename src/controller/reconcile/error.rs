//! The controllers' error type.
//!
//! A reconcile returns `Err` only for failures that are retried with backoff (Kubernetes API
//! errors, retryable cloud errors, a missing object key). Situations that need a human
//! (invalid spec, missing credentials, terminal cloud errors) are not errors: they are written
//! to status as `Stalled` and the reconcile succeeds.

use crate::cloud::CloudError;

/// Errors of a reconcile. [`Error::name`] is the fixed, low-cardinality name used as the
/// `error` metrics label and as the Kubernetes Event reason.
///
/// `Display` messages do not repeat their `source`; use [`error_chain`] for the full text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API call failed")]
    Kube(#[source] kube::Error),
    /// A cloud call failed with an error that is retried with backoff.
    #[error("cloud call failed")]
    Cloud(#[source] Box<CloudError>),
    /// The object lacks a field every object has (`.metadata.namespace`, `.metadata.uid`, …).
    #[error("object has no {0}")]
    MissingObjectKey(&'static str),
    /// A value could not be serialized.
    #[error("serialization failed")]
    Serialization(#[source] serde_json::Error),
    /// The finalizer helper failed (adding/removing the finalizer, or apply/cleanup failed).
    #[error("finalizer step failed")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// Not an error: the step is not finished yet (e.g. a cleanup waiting for a running task).
    /// Steps say so with [`Next::Wait`](crate::controller::reconcile::work::Next::Wait); the finalizer helper only
    /// keeps its finalizer when cleanup returns `Err`, so the driver hands a wait to the
    /// runtime as this variant. It is not counted as a failure and publishes no event;
    /// the object is requeued after `after`, or with the per-object backoff when `None`.
    #[error("waiting: {reason}")]
    Wait {
        /// PascalCase reason (also the condition reason set by the caller).
        reason: &'static str,
        /// Requeue delay; `None` = per-object exponential backoff.
        after: Option<std::time::Duration>,
    },
}

impl Error {
    /// Fixed PascalCase name for metrics labels and event reasons.
    pub fn name(&self) -> &'static str {
        use kube::runtime::finalizer::Error as F;
        match self {
            Error::Kube(_) => "KubeApiError",
            Error::Cloud(e) => e.name(),
            Error::MissingObjectKey(_) => "MissingObjectKey",
            Error::Serialization(_) => "SerializationError",
            Error::Wait { reason, .. } => reason,
            Error::Finalizer(f) => match f.as_ref() {
                F::ApplyFailed(e) | F::CleanupFailed(e) => e.name(),
                F::AddFinalizer(_) => "AddFinalizerFailed",
                F::RemoveFinalizer(_) => "RemoveFinalizerFailed",
                F::UnnamedObject => "MissingObjectKey",
                F::InvalidFinalizer => "InvalidFinalizer",
            },
        }
    }

    /// The innermost controller error (unwraps the finalizer wrapper).
    pub fn inner(&self) -> &Error {
        use kube::runtime::finalizer::Error as F;
        match self {
            Error::Finalizer(f) => match f.as_ref() {
                F::ApplyFailed(e) | F::CleanupFailed(e) => e.inner(),
                _ => self,
            },
            _ => self,
        }
    }

    /// Whether this is [`Error::Wait`] (possibly inside the finalizer wrapper).
    pub fn is_wait(&self) -> bool {
        matches!(self.inner(), Error::Wait { .. })
    }
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(e)
    }
}

impl From<CloudError> for Error {
    fn from(e: CloudError) -> Self {
        Error::Cloud(Box::new(e))
    }
}

/// Reason of the wait after a finalizer patch was refused because the cached object was older
/// than the stored one.
pub const CACHE_STALE: &str = "CacheStale";

impl From<kube::runtime::finalizer::Error<Error>> for Error {
    fn from(e: kube::runtime::finalizer::Error<Error>) -> Self {
        use kube::runtime::finalizer::Error as F;
        match &e {
            // The finalizer helper guards its JSON patch with a `test` of the cached
            // finalizers; 422 (test failed) or 409 means the cache lagged behind a write (ours
            // or someone else's). Not a failure: retry once the watch has caught up.
            F::AddFinalizer(kube::Error::Api(s)) | F::RemoveFinalizer(kube::Error::Api(s))
                if s.code == 409 || s.code == 422 =>
            {
                Error::Wait {
                    reason: CACHE_STALE,
                    after: None,
                }
            }
            _ => Error::Finalizer(Box::new(e)),
        }
    }
}

/// The error and all its sources, joined with `": "` (for logs and event notes).
///
/// Sources never contain secret values: the cloud client redacts them, and Kubernetes API
/// errors do not carry request bodies.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// Result alias of the controllers.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn names_are_pascal_case_and_unwrap_finalizer() {
        let e = Error::MissingObjectKey(".metadata.uid");
        assert_eq!(e.name(), "MissingObjectKey");
        let f = Error::from(kube::runtime::finalizer::Error::ApplyFailed(Error::Wait {
            reason: "WaitingForTaskToEnd",
            after: None,
        }));
        assert_eq!(f.name(), "WaitingForTaskToEnd");
        assert!(matches!(f.inner(), Error::Wait { .. }));
    }

    #[test]
    fn a_refused_finalizer_patch_is_a_quiet_wait() {
        use kube::core::Status;
        use kube::runtime::finalizer::Error as F;
        let api = |code: u16| {
            kube::Error::Api(Box::new(
                Status::failure("test failed", "Invalid").with_code(code),
            ))
        };
        for e in [F::AddFinalizer(api(422)), F::RemoveFinalizer(api(409))] {
            let e = Error::from(e);
            assert!(e.is_wait(), "{e:?}");
            assert_eq!(e.name(), CACHE_STALE);
        }
        let e = Error::from(F::<Error>::AddFinalizer(api(403)));
        assert!(!e.is_wait());
        assert_eq!(e.name(), "AddFinalizerFailed");
    }

    #[test]
    fn chain_joins_sources_once() {
        let e = Error::Serialization(serde_json::from_str::<u8>("x").unwrap_err());
        let text = error_chain(&e);
        assert!(
            text.starts_with("serialization failed: expected value"),
            "{text}"
        );
    }
}
