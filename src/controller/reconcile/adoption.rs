//! Identity checks before an adoption (`docs/architecture.md#adoption-by-spec`): a cloud
//! object named by an id in the spec (`RdsBackup.spec.backupJobId`/`backupId`,
//! `HbrBackupJob.spec.jobId`, `DbsBackupPlan.spec.backupPlanId`) is taken over only when what
//! the cloud reports about it matches what the spec describes: its source type, instance,
//! vault, engine, class and method. Those fields cannot change on the cloud object, so an
//! object whose spec disagrees would report, track, reconfigure or delete something other
//! than what it says. A mismatch is `Stalled/AdoptionMismatch` naming each field, and nothing
//! is recorded or written. Pure.

/// Reason of `Stalled` when the cloud object an id names is not the one the spec describes.
pub const ADOPTION_MISMATCH: &str = "AdoptionMismatch";

/// A field the spec and the cloud disagree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The spec field (`source.instanceId`).
    pub field: &'static str,
    /// What the spec says.
    pub spec: String,
    /// What the cloud reports.
    pub cloud: String,
}

/// Collects the fields whose spec and cloud values differ.
#[derive(Debug, Default)]
pub struct Identity {
    mismatches: Vec<Mismatch>,
}

impl Identity {
    /// Starts an empty comparison.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compares one field. Only a value both sides have counts (the cloud does not report
    /// every field for every kind of object; an unset spec field means "any"). Values are
    /// compared without regard to ASCII case (`MySQL`/`mysql`, `ECS_FILE`/`ecs_file`).
    pub fn field(mut self, field: &'static str, spec: Option<&str>, cloud: Option<&str>) -> Self {
        let spec = spec.map(str::trim).filter(|v| !v.is_empty());
        let cloud = cloud.map(str::trim).filter(|v| !v.is_empty());
        if let (Some(s), Some(c)) = (spec, cloud)
            && !s.eq_ignore_ascii_case(c)
        {
            self.mismatches.push(Mismatch {
                field,
                spec: s.to_string(),
                cloud: c.to_string(),
            });
        }
        self
    }

    /// The fields that differ, in the order they were compared.
    pub fn mismatches(self) -> Vec<Mismatch> {
        self.mismatches
    }
}

/// `Stalled/AdoptionMismatch` for `what` when any field differs ([`mismatch_message`]).
pub fn mismatch_health(
    what: &str,
    mismatches: &[Mismatch],
) -> Option<crate::controller::reconcile::conditions::Health> {
    (!mismatches.is_empty()).then(|| {
        crate::controller::reconcile::conditions::Health::stalled(
            ADOPTION_MISMATCH,
            mismatch_message(what, mismatches),
        )
    })
}

/// The message of `Stalled/AdoptionMismatch` for `what` (e.g. `plan dbs-1 named by
/// spec.backupPlanId`).
pub fn mismatch_message(what: &str, mismatches: &[Mismatch]) -> String {
    let fields: Vec<String> = mismatches
        .iter()
        .map(|m| {
            format!(
                "{} is {:?} in the spec but {:?} in the cloud",
                m.field, m.spec, m.cloud
            )
        })
        .collect();
    format!(
        "{what} is not the one this spec describes: {}. Nothing was recorded and nothing was \
         changed in the cloud. These fields cannot change on an existing cloud object: correct \
         the spec (delete and recreate this object) or name the right id",
        fields.join("; ")
    )
}

/// Another object's claim on the cloud id an object wants to adopt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The other object, `namespace/name`.
    pub object: String,
    /// It holds the id (in its status); `false`: it only names it in its spec too.
    pub holds: bool,
}

#[cfg(test)]
impl From<&str> for Claim {
    /// A claim of an object that holds the id (unit tests).
    fn from(object: &str) -> Self {
        Claim {
            object: object.to_string(),
            holds: true,
        }
    }
}

/// The first object of `all` other than `me_uid` that holds the id (`holds`, from its status)
/// or, failing that, names it in its spec (`names`): such an id is never adopted (no two
/// objects may hold one cloud object).
pub fn find_claim<K: kube::Resource>(
    me_uid: &str,
    all: &[K],
    holds: impl Fn(&K) -> bool,
    names: impl Fn(&K) -> bool,
) -> Option<Claim> {
    let others = || {
        all.iter()
            .filter(move |o| o.meta().uid.as_deref() != Some(me_uid))
    };
    let object = |o: &K| {
        let m = o.meta();
        format!(
            "{}/{}",
            m.namespace.as_deref().unwrap_or_default(),
            m.name.as_deref().unwrap_or_default()
        )
    };
    if let Some(o) = others().find(|o| holds(o)) {
        return Some(Claim {
            object: object(o),
            holds: true,
        });
    }
    others().find(|o| names(o)).map(|o| Claim {
        object: object(o),
        holds: false,
    })
}

/// The message of `Stalled/AdoptionRefused`: `what` (e.g. `plan dbs-1 named by
/// spec.backupPlanId`) is held or also named by `claim`'s object of `kind`; `noun` is what
/// no two objects may hold (`backup plan`).
pub fn refused_message(what: &str, kind: &str, noun: &str, claim: &Claim) -> String {
    let how = if claim.holds {
        format!("is held by {kind} {}", claim.object)
    } else {
        format!(
            "is also named by {kind} {} (in its spec, not adopted by it yet)",
            claim.object
        )
    };
    format!(
        "{what} {how}: no two {kind}s may hold the same {noun}; nothing was recorded. Delete \
         one of the two objects"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn only_values_both_sides_have_are_compared_without_case() {
        let m = Identity::new()
            .field("databaseType", Some("MySQL"), Some("mysql"))
            .field("source.instanceId", Some("rm-y"), Some("rm-x"))
            .field("vaultId", None, Some("v-1"))
            .field("instanceId", Some("i-1"), None)
            .field("instanceId", Some("i-1"), Some(" "))
            .mismatches();
        assert_eq!(
            m,
            vec![Mismatch {
                field: "source.instanceId",
                spec: "rm-y".into(),
                cloud: "rm-x".into()
            }]
        );
        let msg = mismatch_message("plan p-1 named by spec.backupPlanId", &m);
        assert!(
            msg.contains("source.instanceId is \"rm-y\" in the spec but \"rm-x\" in the cloud")
        );
        assert!(msg.contains("Nothing was recorded"));
    }

    #[test]
    fn a_claim_says_whether_the_other_object_holds_or_also_names_the_id() {
        let held = Claim {
            object: "ns/a".into(),
            holds: true,
        };
        let named = Claim {
            object: "ns/b".into(),
            holds: false,
        };
        let m = refused_message("job j-1 named by spec.jobId", "HbrBackupJob", "job", &held);
        assert!(m.contains("is held by HbrBackupJob ns/a"), "{m}");
        let m = refused_message("job j-1 named by spec.jobId", "HbrBackupJob", "job", &named);
        assert!(m.contains("is also named by HbrBackupJob ns/b"), "{m}");
        assert!(!m.contains("held by"), "{m}");
    }
}
