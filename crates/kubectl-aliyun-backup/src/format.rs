//! Output helpers: kubectl-style ages, aligned tables, `-o json|yaml`.

use jiff::Timestamp;
use serde::Serialize;

use crate::PluginError;

/// `-o`: human text (default), JSON or YAML.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Yaml,
}

/// `value` as JSON or YAML (`None` for text: the caller prints its own text).
pub fn structured<T: Serialize>(
    format: OutputFormat,
    value: &T,
) -> Result<Option<String>, PluginError> {
    match format {
        OutputFormat::Text => Ok(None),
        OutputFormat::Json => Ok(Some(serde_json::to_string_pretty(value)? + "\n")),
        OutputFormat::Yaml => Ok(Some(serde_norway::to_string(value)?)),
    }
}

/// The age of `t` at `now` as kubectl prints it: `45s`, `12m`, `5h`, `3d` (`0s` for the future).
pub fn age(t: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second().saturating_sub(t.as_second()).max(0);
    if secs < 120 {
        format!("{secs}s")
    } else if secs < 120 * 60 {
        format!("{}m", secs / 60)
    } else if secs < 48 * 3600 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}d", secs / 86400)
    }
}

/// A duration in seconds as `1h30m`.
pub fn duration(secs: i64) -> String {
    let (d, h, m, s) = (
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let mut out = String::new();
    for (v, u) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if v > 0 {
            out.push_str(&format!("{v}{u}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// Rows as columns separated by three spaces (the first row is the header).
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&" ".repeat(width[i] - c.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A text progress bar of `width` cells: `[#####-----] 50%`.
pub fn progress_bar(percent: i32, width: usize) -> String {
    let p = percent.clamp(0, 100) as usize;
    let done = p * width / 100;
    format!("[{}{}] {p:>3}%", "#".repeat(done), "-".repeat(width - done))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ages_like_kubectl() {
        let now: Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
        let at = |s: i64| Timestamp::from_second(now.as_second() - s).unwrap();
        assert_eq!(age(at(5), now), "5s");
        assert_eq!(age(at(600), now), "10m");
        assert_eq!(age(at(5 * 3600), now), "5h");
        assert_eq!(age(at(3 * 86400), now), "3d");
        assert_eq!(age(at(-10), now), "0s");
        assert_eq!(duration(5400), "1h30m");
        assert_eq!(duration(0), "0s");
    }

    #[test]
    fn tables_align() {
        let t = table(&[
            vec!["A".into(), "BB".into()],
            vec!["long".into(), "x".into()],
        ]);
        assert_eq!(t, "A      BB\nlong   x\n");
        assert_eq!(progress_bar(50, 10), "[#####-----]  50%");
        assert_eq!(progress_bar(150, 4), "[####] 100%");
    }
}
