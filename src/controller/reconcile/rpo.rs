//! Recovery point objective (pure): is the newest successful backup recent enough? Used by the
//! schedules and by `DbsBackupPlan` (`spec.rpo`, condition `RPOMet`).

use std::time::Duration;

/// Reasons of the `RPOMet` condition.
pub mod reasons {
    /// The newest successful backup is within the RPO.
    pub const RPO_MET: &str = "RPOMet";
    /// The newest successful backup is older than the RPO.
    pub const RPO_MISSED: &str = "RPOMissed";
    /// No successful backup yet, but the object is younger than the RPO.
    pub const NO_BACKUP_YET: &str = "NoBackupYet";
    /// No successful backup, and the object is older than the RPO.
    pub const NO_SUCCESSFUL_BACKUP: &str = "NoSuccessfulBackup";
}

/// The `RPOMet` verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpoVerdict {
    /// Condition status.
    pub met: bool,
    /// Condition reason.
    pub reason: &'static str,
    /// Condition message (ages rounded to the minute, so it changes at most once a minute).
    pub message: String,
    /// When the verdict turns False if nothing else happens (`None` when already False).
    pub flips_in: Option<Duration>,
}

/// Parses a duration of `<integer><unit>` parts (`s`, `m`, `h`, `d` = 24 h), e.g. `26h`,
/// `1h30m`, `7d` — the format of `rpo` and `retention.maxAge` (the CRD pattern
/// `^([0-9]+(s|m|h|d))+$` enforces it).
///
/// `humantime` does the reading and the arithmetic. It reads more than the pattern allows
/// (`1w`, `1ms`, `1.5h`, `1h 30m`), so the text is first held to the pattern here: the operator
/// accepts exactly what the API server accepts, and a unit never changes its meaning (`1ms` is
/// refused, not read as a millisecond).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut digits = 0;
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            digits += 1;
        } else if !matches!(ch, 's' | 'm' | 'h' | 'd') {
            return Err(format!("{s:?}: unknown unit {ch:?} (use s, m, h or d)"));
        } else if digits == 0 {
            return Err(format!("{s:?}: a number must come before {ch:?}"));
        } else {
            digits = 0;
        }
    }
    if digits > 0 {
        // Only ASCII digits since the last unit: a byte offset on a char boundary.
        let number = s.get(s.len() - digits..).unwrap_or(s);
        return Err(format!("{s:?}: {number} needs a unit (s, m, h or d)"));
    }
    humantime::parse_duration(s).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => format!("{s:?} is too long"),
        other => format!("{s:?}: {other}"),
    })
}

/// Formats a duration for messages, to the minute (`2d3h4m`, `45m`, `<1m`).
pub fn format_age(d: Duration) -> String {
    let mins = d.as_secs() / 60;
    if mins == 0 {
        return "<1m".into();
    }
    let (days, hours, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    let mut out = String::new();
    if days > 0 {
        out.push_str(&format!("{days}d"));
    }
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out
}

fn elapsed(from: jiff::Timestamp, to: jiff::Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or(Duration::ZERO)
}

/// The verdict for an object whose newest successful backup finished at `last_success`
/// (`None`: none yet), counted from `since` (the object's creation) before the first success.
pub fn evaluate(
    rpo: Duration,
    rpo_text: &str,
    last_success: Option<jiff::Timestamp>,
    since: jiff::Timestamp,
    now: jiff::Timestamp,
) -> RpoVerdict {
    match last_success {
        Some(at) => {
            let age = elapsed(at, now);
            let met = age <= rpo;
            RpoVerdict {
                met,
                reason: if met {
                    reasons::RPO_MET
                } else {
                    reasons::RPO_MISSED
                },
                message: format!(
                    "the newest successful backup finished at {} ({} ago); rpo is {rpo_text}",
                    at.round(jiff::Unit::Second).unwrap_or(at),
                    format_age(age)
                ),
                flips_in: met.then(|| rpo.saturating_sub(age) + Duration::from_secs(1)),
            }
        }
        None => {
            let age = elapsed(since, now);
            let met = age <= rpo;
            RpoVerdict {
                met,
                reason: if met {
                    reasons::NO_BACKUP_YET
                } else {
                    reasons::NO_SUCCESSFUL_BACKUP
                },
                message: format!(
                    "no successful backup yet ({} since creation); rpo is {rpo_text}",
                    format_age(age)
                ),
                flips_in: met.then(|| rpo.saturating_sub(age) + Duration::from_secs(1)),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn t(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn durations_parse() {
        assert_eq!(
            parse_duration("26h").unwrap(),
            Duration::from_secs(26 * 3600)
        );
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("1d2h3m4s").unwrap(),
            Duration::from_secs(86_400 + 2 * 3600 + 3 * 60 + 4)
        );
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration(" 5m ").unwrap(), Duration::from_secs(300));
        // humantime reads these; the CRD pattern does not, and neither do we.
        for bad in [
            "", "h", "10", "1w", "1.5h", "-1h", "1ms", "1h 30m", "1min", "1M", "1y", "1h30",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        let err = |s: &str| parse_duration(s).unwrap_err();
        assert_eq!(err("  "), "empty duration");
        assert_eq!(err("1w"), r#""1w": unknown unit 'w' (use s, m, h or d)"#);
        assert_eq!(
            err("1.5h"),
            r#""1.5h": unknown unit '.' (use s, m, h or d)"#
        );
        assert_eq!(err("h"), r#""h": a number must come before 'h'"#);
        assert_eq!(err("1ms"), r#""1ms": a number must come before 's'"#);
        assert_eq!(err("1h30"), r#""1h30": 30 needs a unit (s, m, h or d)"#);
        assert_eq!(
            err("99999999999999999999d"),
            r#""99999999999999999999d" is too long"#
        );
        assert_eq!(
            err("999999999999999999d"),
            r#""999999999999999999d" is too long"#
        );
    }

    /// The seconds of a text that matches the CRD pattern, summed without humantime.
    fn reference_seconds(s: &str) -> Option<u128> {
        let (mut total, mut n) = (0u128, 0u128);
        for ch in s.chars() {
            match ch.to_digit(10) {
                Some(d) => n = n * 10 + u128::from(d),
                None => {
                    let unit = match ch {
                        's' => 1,
                        'm' => 60,
                        'h' => 3600,
                        _ => 86_400,
                    };
                    total += n * unit;
                    n = 0;
                }
            }
        }
        (total <= u128::from(u64::MAX)).then_some(total)
    }

    proptest::proptest! {
        /// Exactly the texts of the CRD pattern parse, to the sum of their parts.
        #[test]
        fn accepts_exactly_the_crd_pattern(s in "[0-9smhdw. -]{0,12}|([0-9]{1,6}[smhd]){1,4}") {
            let pattern = regex::Regex::new(crate::crd::schedule::DURATION_PATTERN).unwrap();
            let parsed = parse_duration(&s);
            let trimmed = s.trim();
            proptest::prop_assert_eq!(parsed.is_ok(), pattern.is_match(trimmed), "{:?}: {:?}", s, parsed);
            if let Ok(d) = parsed {
                proptest::prop_assert_eq!(Some(u128::from(d.as_secs())), reference_seconds(trimmed));
            }
        }
    }

    #[test]
    fn ages_are_rounded_to_the_minute() {
        assert_eq!(format_age(Duration::from_secs(59)), "<1m");
        assert_eq!(format_age(Duration::from_secs(3 * 3600 + 61)), "3h1m");
        assert_eq!(format_age(Duration::from_secs(86_400 * 2 + 120)), "2d2m");
    }

    #[test]
    fn verdict_flips_when_the_newest_success_gets_older_than_the_rpo() {
        let rpo = Duration::from_secs(3600);
        let done = t("2025-03-01T10:00:00Z");
        let v = evaluate(rpo, "1h", Some(done), done, t("2025-03-01T10:30:00Z"));
        assert!(v.met);
        assert_eq!(v.reason, reasons::RPO_MET);
        assert_eq!(v.flips_in, Some(Duration::from_secs(1801)));
        let v = evaluate(rpo, "1h", Some(done), done, t("2025-03-01T11:00:00Z"));
        assert!(v.met, "exactly the rpo is still met");
        let v = evaluate(rpo, "1h", Some(done), done, t("2025-03-01T12:05:30Z"));
        assert!(!v.met);
        assert_eq!(v.reason, reasons::RPO_MISSED);
        assert!(v.message.contains("(2h5m ago)"), "{}", v.message);
        assert_eq!(v.flips_in, None);
    }

    #[test]
    fn before_the_first_success_the_rpo_counts_from_creation() {
        let rpo = Duration::from_secs(3600);
        let created = t("2025-03-01T10:00:00Z");
        let v = evaluate(rpo, "1h", None, created, t("2025-03-01T10:10:00Z"));
        assert!(v.met);
        assert_eq!(v.reason, reasons::NO_BACKUP_YET);
        let v = evaluate(rpo, "1h", None, created, t("2025-03-01T11:10:00Z"));
        assert!(!v.met);
        assert_eq!(v.reason, reasons::NO_SUCCESSFUL_BACKUP);
    }
}
