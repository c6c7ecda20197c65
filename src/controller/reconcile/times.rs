//! Timestamps as the cloud APIs send them, turned into Kubernetes `Time`: the one place the
//! operator parses cloud times. RDS sends ISO 8601 strings (`2024-01-01T00:00:00Z`, sometimes
//! without seconds), HBR unix seconds, DBS unix milliseconds; zero and negative values mean
//! "not set".

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// An RDS timestamp: `yyyy-MM-ddTHH:mm:ssZ`, also `yyyy-MM-ddTHH:mmZ`.
pub fn from_iso(s: &str) -> Option<Time> {
    let s = s.trim();
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(Time(t));
    }
    let with_secs = s.strip_suffix('Z').map(|p| format!("{p}:00Z"))?;
    with_secs.parse::<jiff::Timestamp>().ok().map(Time)
}

/// Unix seconds (HBR).
pub fn from_unix_secs(s: Option<i64>) -> Option<Time> {
    s.filter(|s| *s > 0)
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(Time)
}

/// Unix milliseconds (DBS).
pub fn from_unix_ms(ms: Option<i64>) -> Option<Time> {
    ms.filter(|m| *m > 0)
        .and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
        .map(Time)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_cloud_format() {
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(
            from_iso("2024-01-02T03:04:05Z").unwrap().0,
            t("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            from_iso(" 2024-01-02T03:04Z ").unwrap().0,
            t("2024-01-02T03:04:00Z")
        );
        assert!(from_iso("yesterday").is_none());
        assert_eq!(
            from_unix_secs(Some(1)).unwrap().0,
            t("1970-01-01T00:00:01Z")
        );
        assert_eq!(
            from_unix_ms(Some(1500)).unwrap().0,
            t("1970-01-01T00:00:01.5Z")
        );
        for none in [None, Some(0), Some(-5)] {
            assert!(from_unix_secs(none).is_none());
            assert!(from_unix_ms(none).is_none());
        }
    }
}
