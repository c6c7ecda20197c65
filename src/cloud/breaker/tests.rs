//! Tests of the per-credential circuit breaker.

use super::*;
use crate::cloud::secret::Secret;
use crate::cloud::time::ManualTime;
use crate::cloud::{Product, StaticCredentials};

fn creds(id: &str, secret: &str) -> Credentials {
    Credentials {
        access_key_id: id.into(),
        access_key_secret: Secret::new(secret),
        security_token: None,
        expiration: None,
    }
}

fn setup() -> (Breakers, Arc<ManualTime>, CloudMetrics) {
    let time = Arc::new(ManualTime::new());
    let metrics = CloudMetrics::new();
    let b = Breakers::new(BreakerSettings::default(), time.clone(), metrics.clone());
    (b, time, metrics)
}

const BAD: &str = "InvalidAccessKeyId.NotFound";

fn trip(b: &Breakers, fp: Fingerprint) {
    let p = b.admit(fp).unwrap();
    b.record(p, "ak-x", Outcome::Refused(BAD));
}

#[test]
fn refusal_opens_then_one_probe_then_success_closes() {
    let (b, time, metrics) = setup();
    let fp = Fingerprint::of(&creds("id", "bad"));
    trip(&b, fp);
    assert_eq!(metrics.breaker_open("ak-x"), 1);
    let r = b.admit(fp).unwrap_err();
    assert_eq!(r.code, BAD);
    assert_eq!(r.retry_in, Duration::from_secs(30));
    assert_eq!(r.trips, 1);
    time.advance(Duration::from_secs(29));
    assert_eq!(
        b.admit(fp).unwrap_err().retry_in,
        Duration::from_secs(1),
        "still open"
    );
    time.advance(Duration::from_secs(1));
    let probe = b.admit(fp).expect("half-open lets one probe through");
    assert!(b.admit(fp).is_err(), "only one probe at a time");
    b.record(probe, "ak-x", Outcome::Accepted);
    assert!(b.admit(fp).is_ok(), "closed");
    assert!(b.refusal(fp).is_none());
    assert_eq!(metrics.breaker_open("ak-x"), 0);
}

#[test]
fn failed_probes_double_the_cooldown_up_to_the_cap() {
    let (b, time, _) = setup();
    let fp = Fingerprint::of(&creds("id", "bad"));
    trip(&b, fp);
    let mut seen = vec![];
    for _ in 0..7 {
        let wait = b.admit(fp).unwrap_err().retry_in;
        seen.push(wait.as_secs());
        time.advance(wait);
        let probe = b.admit(fp).unwrap();
        b.record(probe, "ak-x", Outcome::Refused(BAD));
    }
    assert_eq!(seen, vec![30, 60, 120, 240, 480, 600, 600]);
    assert_eq!(b.refusal(fp).unwrap().trips, 8);
}

#[test]
fn probe_without_answer_or_dropped_frees_the_slot() {
    let (b, time, _) = setup();
    let fp = Fingerprint::of(&creds("id", "bad"));
    trip(&b, fp);
    time.advance(Duration::from_secs(30));
    let probe = b.admit(fp).unwrap();
    b.record(probe, "ak-x", Outcome::Unknown);
    let probe = b.admit(fp).expect("slot free again, still half-open");
    drop(probe);
    let probe = b.admit(fp).expect("a cancelled probe frees the slot");
    b.record(probe, "ak-x", Outcome::Refused(BAD));
    assert_eq!(b.admit(fp).unwrap_err().retry_in, Duration::from_secs(60));
}

#[test]
fn concurrent_refusals_trip_once_and_rotation_is_a_new_key() {
    let (b, _, metrics) = setup();
    let old = Fingerprint::of(&creds("id", "old-secret"));
    // Eight calls in flight when the key is refused.
    let permits: Vec<_> = (0..8).map(|_| b.admit(old).unwrap()).collect();
    for p in permits {
        b.record(p, "ak-x", Outcome::Refused(BAD));
    }
    assert_eq!(b.refusal(old).unwrap().trips, 1);
    assert_eq!(metrics.breaker_open("ak-x"), 1);
    // The Secret gets a new secret for the same id (or a new id): not held back.
    let rotated = Fingerprint::of(&creds("id", "new-secret"));
    assert_ne!(old, rotated);
    let p = b
        .admit(rotated)
        .expect("a rotated credential goes out at once");
    b.record(p, "ak-x", Outcome::Accepted);
    let other = Fingerprint::of(&creds("id2", "old-secret"));
    assert!(b.admit(other).is_ok());
    // A token change is a rotation too.
    let mut with_token = creds("id", "old-secret");
    with_token.security_token = Some(Secret::new("tok"));
    assert!(b.admit(Fingerprint::of(&with_token)).is_ok());
}

#[test]
fn success_of_a_call_admitted_before_the_trip_closes() {
    let (b, _, _) = setup();
    let fp = Fingerprint::of(&creds("id", "s"));
    let early = b.admit(fp).unwrap();
    trip(&b, fp);
    b.record(early, "ak-x", Outcome::Accepted);
    assert!(b.refusal(fp).is_none());
}

#[test]
fn unused_entries_are_forgotten_and_the_gauge_falls() {
    let (b, time, metrics) = setup();
    let fp = Fingerprint::of(&creds("id", "bad"));
    trip(&b, fp);
    time.advance(Duration::from_secs(30 + 599));
    assert!(b.admit(Fingerprint::of(&creds("other", "x"))).is_ok());
    assert_eq!(metrics.breaker_open("ak-x"), 1, "not yet stale");
    time.advance(Duration::from_secs(1));
    assert!(b.admit(Fingerprint::of(&creds("other", "x"))).is_ok());
    assert_eq!(metrics.breaker_open("ak-x"), 0);
    assert!(b.refusal(fp).is_none());
}

#[test]
fn disabled_breaker_lets_everything_through() {
    let time = Arc::new(ManualTime::new());
    let b = Breakers::new(
        BreakerSettings {
            enabled: false,
            ..BreakerSettings::default()
        },
        time,
        CloudMetrics::new(),
    );
    let fp = Fingerprint::of(&creds("id", "bad"));
    trip(&b, fp);
    assert!(b.admit(fp).is_ok());
    assert!(b.refusal(fp).is_none());
}

#[test]
fn outcome_classification() {
    let refused: Result<(), CloudError> = Err(CloudError::api(
        Product::Rds,
        "DescribeBackups",
        404,
        Some(BAD.into()),
        None,
        None,
    ));
    assert_eq!(Outcome::of(&refused), Outcome::Refused(BAD));
    for code in [
        "SignatureDoesNotMatch",
        "InvalidSecurityToken.Expired",
        "Forbidden.RAM",
        "Forbidden.AccessKeyDisabled",
    ] {
        let r: Result<(), CloudError> = Err(CloudError::api(
            Product::Hbr,
            "X",
            400,
            Some(code.into()),
            None,
            None,
        ));
        assert_eq!(Outcome::of(&r), Outcome::Refused(code), "{code}");
    }
    for code in [
        "InvalidDBInstanceId.NotFound",
        "Throttling.User",
        "InvalidTimeStamp.Expired",
    ] {
        let r: Result<(), CloudError> = Err(CloudError::api(
            Product::Rds,
            "X",
            400,
            Some(code.into()),
            None,
            None,
        ));
        assert_eq!(Outcome::of(&r), Outcome::Accepted, "{code}");
    }
    let timeout: Result<(), CloudError> = Err(CloudError::new(
        Product::Rds,
        "X",
        crate::cloud::ErrorKind::Timeout,
        "t",
    ));
    assert_eq!(Outcome::of(&timeout), Outcome::Unknown);
    assert_eq!(Outcome::of(&Ok::<(), CloudError>(())), Outcome::Accepted);
}

#[test]
fn labels_never_contain_the_id_or_secret() {
    let src = CredentialSource::Static(StaticCredentials {
        access_key_id: "LTAI-CANARY-ID".into(),
        access_key_secret: Secret::new("CANARY-SECRET"),
        security_token: None,
    });
    let label = credential_label(&src);
    assert!(label.starts_with("ak-") && label.len() == 11, "{label}");
    assert!(!label.contains("CANARY"));
    // Stable, and the same for an id with a trailing newline (as Secrets often have).
    assert_eq!(label, access_key_label("LTAI-CANARY-ID\n"));
    assert_eq!(
        credential_label(&CredentialSource::Default),
        "default-chain"
    );
    assert_eq!(
        format!("{:?}", Fingerprint::of(&creds("a", "b"))),
        "Fingerprint(..)"
    );
}
