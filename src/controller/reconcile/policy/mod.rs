//! Day-2 policies every kind shares (`docs/operations.md#pause`,
//! `docs/operations.md#deletion-policy-defaults`): whether the operator is paused for an
//! object, and which deletion policy is in effect. The decisions are pure; only
//! [`deletion_policy`] reads (the object's Namespace).

pub mod credentials;

use kube::{Resource, ResourceExt};

use crate::controller::operator::context::Context;
use crate::controller::reconcile::error::{Error, Result};
use crate::controller::reconcile::kind::ManagedResource;
use crate::crd::{
    ANNOTATION_DEFAULT_DELETION_POLICY, ANNOTATION_ORPHAN_ON_DELETE, ANNOTATION_PAUSED,
    DeletionPolicy, orphan_on_delete, paused,
};

/// Why the operator leaves `obj` alone (the message of its `Paused` condition), or `None`.
///
/// An object being deleted with the orphan annotation is never paused: letting it go needs
/// no cloud call.
pub fn pause_reason<K: Resource>(obj: &K, paused_namespaces: &[String]) -> Option<String> {
    let meta = obj.meta();
    let deleting = meta.deletion_timestamp.is_some();
    if deleting && orphan_on_delete(meta.annotations.as_ref()) {
        return None;
    }
    let ns = meta.namespace.as_deref().unwrap_or_default();
    let why = if paused(meta.annotations.as_ref()) {
        format!(
            "paused by the annotation {ANNOTATION_PAUSED}=\"true\": no cloud calls and no status \
             changes until it is removed"
        )
    } else if paused_namespaces.iter().any(|n| n == ns) {
        format!(
            "namespace {ns} is paused by the operator (--paused-namespace, chart value \
             pausedNamespaces): no cloud calls and no status changes until it is resumed there"
        )
    } else {
        return None;
    };
    Some(if deleting {
        format!(
            "{why}; the deletion waits for the resume (or set the annotation \
             {ANNOTATION_ORPHAN_ON_DELETE}=\"true\" to delete the object without cloud cleanup)"
        )
    } else {
        why
    })
}

/// The deletion policy in effect and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectivePolicy {
    /// The policy.
    pub policy: DeletionPolicy,
    /// `spec`, the namespace annotation, or the operator default (`status.deletionPolicySource`).
    pub source: String,
}

/// Source of a policy set in the object's spec.
pub const FROM_SPEC: &str = "spec";
/// Source of the policy of an `ObserveOnly` object (always `Retain`: it never touches the
/// cloud).
pub const FROM_OBSERVE_ONLY: &str =
    "managementPolicy ObserveOnly (the operator never deletes anything in the cloud)";
/// Source of a policy set by the operator's flag.
pub const FROM_OPERATOR: &str = "operator default (--default-deletion-policy)";

/// Precedence: the object's `spec.deletionPolicy`, then the namespace annotation
/// `backup.aliyun.dev/default-deletion-policy` (`Retain` or `Delete`, any case), then the
/// operator's default. An annotation with another value means `Retain` (nothing is deleted on a
/// typo) and the source says why.
pub fn effective_deletion_policy(
    spec: Option<DeletionPolicy>,
    namespace: Option<&str>,
    operator: DeletionPolicy,
) -> EffectivePolicy {
    let (policy, source) = match (spec, namespace.map(str::trim)) {
        (Some(p), _) => (p, FROM_SPEC.to_string()),
        (None, Some(v)) if v.eq_ignore_ascii_case("Retain") => (
            DeletionPolicy::Retain,
            format!("namespace annotation {ANNOTATION_DEFAULT_DELETION_POLICY}"),
        ),
        (None, Some(v)) if v.eq_ignore_ascii_case("Delete") => (
            DeletionPolicy::Delete,
            format!("namespace annotation {ANNOTATION_DEFAULT_DELETION_POLICY}"),
        ),
        (None, Some(v)) => (
            DeletionPolicy::Retain,
            format!(
                "namespace annotation {ANNOTATION_DEFAULT_DELETION_POLICY} has the invalid value \
                 {v:?} (use Retain or Delete), so Retain"
            ),
        ),
        (None, None) => (operator, FROM_OPERATOR.to_string()),
    };
    EffectivePolicy { policy, source }
}

/// The deletion policy in effect for `obj`. The Namespace is read only when the spec sets
/// none: from a short cache for the status, `fresh` for the cleanup decision.
pub async fn deletion_policy<K: ManagedResource>(
    obj: &K,
    ctx: &Context,
    fresh: bool,
) -> Result<EffectivePolicy> {
    if obj.observe_only() {
        // What really happens: nothing is deleted in the cloud, whatever is set.
        return Ok(EffectivePolicy {
            policy: DeletionPolicy::Retain,
            source: FROM_OBSERVE_ONLY.to_string(),
        });
    }
    resolve_deletion_policy(obj, obj.deletion_policy(), ctx, fresh).await
}

/// The deletion policy in effect when `spec` (of `obj`, or of the template `obj` makes
/// children from) sets `spec`: the spec's, else the default annotation of `obj`'s Namespace
/// (read only then; from a short cache, or `fresh`), else the operator's.
pub async fn resolve_deletion_policy<K: kube::Resource>(
    obj: &K,
    spec: Option<DeletionPolicy>,
    ctx: &Context,
    fresh: bool,
) -> Result<EffectivePolicy> {
    let annotation = match spec {
        Some(_) => None,
        None => {
            let ns = obj
                .namespace()
                .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
            ctx.namespace_defaults
                .deletion_policy(&ctx.client, &ns, fresh)
                .await?
        }
    };
    Ok(effective_deletion_policy(
        spec,
        annotation.as_deref(),
        ctx.default_deletion_policy,
    ))
}

/// Whether the operator's own lost create answers of `obj` may be resolved from the evidence:
/// `--auto-resolve-lost-creates` (default on) and no false spelling in the namespace annotation
/// `backup.aliyun.dev/auto-resolve-lost-creates` (read from a short cache).
pub async fn auto_resolve_lost_creates<K: ManagedResource>(obj: &K, ctx: &Context) -> Result<bool> {
    if !ctx.auto_resolve_lost_creates {
        return Ok(false);
    }
    let Some(ns) = obj.namespace() else {
        return Ok(true);
    };
    let value = ctx
        .namespace_defaults
        .annotation(
            &ctx.client,
            &ns,
            crate::crd::ANNOTATION_AUTO_RESOLVE_LOST_CREATES,
            false,
        )
        .await?;
    Ok(!value.as_deref().is_some_and(crate::crd::falsy))
}

/// When a one-shot backup with `spec.timeout` must have ended: its creation plus the timeout
/// (`None` without a timeout). `Err` says what is wrong with the timeout.
pub fn deadline(
    timeout: Option<&str>,
    created: Option<jiff::Timestamp>,
) -> std::result::Result<Option<jiff::Timestamp>, String> {
    let Some(timeout) = timeout else {
        return Ok(None);
    };
    let d = crate::controller::reconcile::rpo::parse_duration(timeout)
        .map_err(|e| format!("spec.timeout: {e}"))?;
    let d = jiff::SignedDuration::try_from(d).map_err(|e| format!("spec.timeout: {e}"))?;
    let created = created.unwrap_or_else(jiff::Timestamp::now);
    created
        .checked_add(d)
        .map(Some)
        .map_err(|_| format!("spec.timeout {timeout:?} is too long"))
}

/// The deadline of an object with `timeout` ([`deadline`] from its creation), for requeues:
/// none while it is observed only or being deleted, or when the timeout does not parse (the
/// reconcile reports that as `InvalidSpec`).
pub fn object_deadline(
    timeout: Option<&str>,
    observe_only: bool,
    meta: &kube::api::ObjectMeta,
) -> Option<jiff::Timestamp> {
    if observe_only || meta.deletion_timestamp.is_some() {
        return None;
    }
    let created = meta.creation_timestamp.as_ref().map(|t| t.0)?;
    deadline(timeout, Some(created)).ok().flatten()
}

/// How long after its deadline an object is looked at: late enough that [`past`] holds
/// when it runs, whatever the jitter.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(250);

/// `after`, shortened so that the object is looked at just after its deadline passes
/// ([`DEADLINE_MARGIN`]); unchanged without a deadline or once it has passed.
pub fn clamp_to_deadline(
    after: std::time::Duration,
    deadline: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> std::time::Duration {
    let margin = jiff::SignedDuration::try_from(DEADLINE_MARGIN).unwrap_or_default();
    until_deadline(
        after,
        deadline.and_then(|d| d.checked_add(margin).ok()),
        now,
    )
}

/// Whether `deadline` has passed at `now`.
pub fn past(deadline: Option<jiff::Timestamp>, now: jiff::Timestamp) -> bool {
    deadline.is_some_and(|d| now >= d)
}

/// `after`, shortened so that the object is looked at when its deadline passes.
pub fn until_deadline(
    after: std::time::Duration,
    deadline: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> std::time::Duration {
    match deadline {
        Some(d) if d > now => after.min(now.duration_until(d).unsigned_abs()),
        _ => after,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crd::RdsBackup;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn every_requeue_is_clamped_to_the_deadline() {
        use crate::controller::reconcile::kind::Tracked;
        use std::time::Duration;
        let now = jiff::Timestamp::now();
        let created = now - jiff::SignedDuration::from_secs(5);
        let mut o = obj(&[], false);
        o.metadata.creation_timestamp = Some(Time(created));
        o.spec.timeout = Some("8s".into());
        // The object's deadline: creation + timeout.
        let d = o.deadline().unwrap();
        assert_eq!(d, created + jiff::SignedDuration::from_secs(8));
        // A first poll of 10 s, or a backoff of 5 min, comes just after the deadline.
        for after in [Duration::from_secs(10), Duration::from_secs(300)] {
            let got = clamp_to_deadline(after, Some(d), now);
            assert_eq!(got, Duration::from_secs(3) + DEADLINE_MARGIN, "{after:?}");
        }
        // A shorter delay stays; a passed deadline changes nothing (no hot loop).
        assert_eq!(
            clamp_to_deadline(Duration::from_secs(1), Some(d), now),
            Duration::from_secs(1)
        );
        let later = now + jiff::SignedDuration::from_secs(60);
        assert_eq!(
            clamp_to_deadline(Duration::from_secs(300), Some(d), later),
            Duration::from_secs(300)
        );
        // No deadline for an observed object or one being deleted.
        o.spec.management_policy = crate::crd::ManagementPolicy::ObserveOnly;
        assert_eq!(o.deadline(), None);
        o.spec.management_policy = crate::crd::ManagementPolicy::Manage;
        o.metadata.deletion_timestamp = Some(Time(now));
        assert_eq!(o.deadline(), None);
    }

    fn obj(annotations: &[(&str, &str)], deleting: bool) -> RdsBackup {
        let mut o: RdsBackup = serde_json::from_value(serde_json::json!({
            "apiVersion": "backup.aliyun.dev/v1alpha1",
            "kind": "RdsBackup",
            "metadata": { "name": "b", "namespace": "team-a" },
            "spec": { "region": "cn-hangzhou", "dbInstanceId": "rm-1" }
        }))
        .unwrap();
        o.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        if deleting {
            o.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
        }
        o
    }

    #[test]
    fn pause_by_annotation_or_namespace() {
        assert_eq!(pause_reason(&obj(&[], false), &[]), None);
        let by_annotation = pause_reason(&obj(&[(ANNOTATION_PAUSED, "true")], false), &[]).unwrap();
        assert!(by_annotation.contains(ANNOTATION_PAUSED), "{by_annotation}");
        assert_eq!(
            pause_reason(&obj(&[(ANNOTATION_PAUSED, "false")], false), &[]),
            None
        );
        let by_ns = pause_reason(&obj(&[], false), &["team-a".to_string()]).unwrap();
        assert!(by_ns.contains("namespace team-a"), "{by_ns}");
        assert_eq!(
            pause_reason(&obj(&[], false), &["team-b".to_string()]),
            None
        );
    }

    #[test]
    fn paused_deletion_waits_unless_orphaned() {
        let waiting = pause_reason(&obj(&[(ANNOTATION_PAUSED, "true")], true), &[]).unwrap();
        assert!(waiting.contains("deletion waits"), "{waiting}");
        assert!(waiting.contains(ANNOTATION_ORPHAN_ON_DELETE), "{waiting}");
        let orphaned = obj(
            &[
                (ANNOTATION_PAUSED, "true"),
                (ANNOTATION_ORPHAN_ON_DELETE, "true"),
            ],
            true,
        );
        assert_eq!(pause_reason(&orphaned, &[]), None);
        // The orphan annotation alone does not lift a pause of a live object.
        let live = obj(
            &[
                (ANNOTATION_PAUSED, "true"),
                (ANNOTATION_ORPHAN_ON_DELETE, "true"),
            ],
            false,
        );
        assert!(pause_reason(&live, &[]).is_some());
    }

    #[test]
    fn deadlines() {
        use std::time::Duration;
        let created = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(deadline(None, Some(created)), Ok(None));
        let d = deadline(Some("1h30m"), Some(created)).unwrap().unwrap();
        assert_eq!(d.as_second() - created.as_second(), 5400);
        assert!(
            deadline(Some("90x"), Some(created))
                .unwrap_err()
                .contains("spec.timeout")
        );
        assert!(!past(Some(d), created));
        assert!(past(Some(d), d));
        assert!(!past(None, d));
        let before = d.checked_sub(jiff::SignedDuration::from_secs(5)).unwrap();
        assert_eq!(
            until_deadline(Duration::from_secs(60), Some(d), before),
            Duration::from_secs(5)
        );
        assert_eq!(
            until_deadline(Duration::from_secs(2), Some(d), before),
            Duration::from_secs(2)
        );
        assert_eq!(
            until_deadline(Duration::from_secs(60), Some(d), d),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn deletion_policy_precedence() {
        use DeletionPolicy::{Delete, Retain};
        let e = effective_deletion_policy(Some(Retain), Some("Delete"), Delete);
        assert_eq!((e.policy, e.source.as_str()), (Retain, FROM_SPEC));
        let e = effective_deletion_policy(None, Some(" delete "), Retain);
        assert_eq!(e.policy, Delete);
        assert!(e.source.contains(ANNOTATION_DEFAULT_DELETION_POLICY));
        let e = effective_deletion_policy(None, Some("Retain"), Delete);
        assert_eq!(e.policy, Retain);
        let e = effective_deletion_policy(None, None, Delete);
        assert_eq!((e.policy, e.source.as_str()), (Delete, FROM_OPERATOR));
        // A typo never deletes.
        let e = effective_deletion_policy(None, Some("Destroy"), Delete);
        assert_eq!(e.policy, Retain);
        assert!(
            e.source.contains("invalid value \"Destroy\""),
            "{}",
            e.source
        );
    }
}
