//! Output: the progress table, one-line states and the terminal handling.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use super::{ObjectState, ScheduleState, Verdict};

pub(super) fn dash(s: Option<&str>) -> &str {
    s.filter(|s| !s.is_empty()).unwrap_or("-")
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn progress_text(p: Option<i32>) -> String {
    p.map(|p| format!("{p}%")).unwrap_or_else(|| "-".into())
}

/// A schedule's children, short (the table's cloud id column).
fn children_text(s: &ScheduleState) -> String {
    format!(
        "{} made, {} succeeded, {} pruned",
        s.made, s.succeeded, s.pruned
    )
}

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::InProgress => " ",
        Verdict::Succeeded => "✓",
        Verdict::Failed => "✗",
    }
}

/// The table shown on a terminal (one header line plus one line per object).
pub fn render_table(states: &[ObjectState], elapsed: Duration) -> String {
    let done = states
        .iter()
        .filter(|s| s.verdict != Verdict::InProgress)
        .count();
    let mut out = format!(
        "aliyun-backup-operator sandbox · {done}/{} done · {:.0}s\n",
        states.len(),
        elapsed.as_secs_f64()
    );
    let rows: Vec<[String; 6]> = states
        .iter()
        .map(|s| {
            [
                format!("{} {}", mark(s.verdict), s.label()),
                dash(s.phase.as_deref()).to_string(),
                progress_text(s.progress),
                match &s.schedule {
                    Some(sc) => children_text(sc),
                    None => dash(s.cloud_id.as_deref()).to_string(),
                },
                match &s.schedule {
                    Some(sc) => format!("RPOMet={}", dash(sc.rpo_met.as_deref())),
                    None => dash(s.cloud_status.as_deref()).to_string(),
                },
                shorten(dash(s.reason.as_deref()), 28),
            ]
        })
        .collect();
    let header = [
        "  OBJECT",
        "PHASE",
        "PROGRESS",
        "CLOUD ID",
        "CLOUD STATUS",
        "REASON",
    ]
    .map(String::from);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One line describing an object's state (for non-terminal output and the summary).
pub fn render_line(s: &ObjectState) -> String {
    if let Some(sc) = &s.schedule {
        let mut line = format!(
            "{} {} phase={} schedule={:?} made={} succeeded={} failed={} running={} pruned={} lastSuccessfulTime={} RPOMet={}",
            mark(s.verdict),
            s.label(),
            dash(s.phase.as_deref()),
            sc.cron,
            sc.made,
            sc.succeeded,
            sc.failed,
            sc.running,
            sc.pruned,
            dash(sc.last_successful_time.as_deref()),
            dash(sc.rpo_met.as_deref()),
        );
        if let Some(r) = &s.reason {
            let _ = write!(line, " reason={r}");
        }
        return line;
    }
    let mut line = format!(
        "{} {} phase={} progress={} cloud={}",
        mark(s.verdict),
        s.label(),
        dash(s.phase.as_deref()),
        progress_text(s.progress),
        dash(s.cloud_id.as_deref()),
    );
    if let Some(cs) = &s.cloud_status {
        let _ = write!(line, " cloudStatus={cs}");
    }
    if let Some(r) = &s.reason {
        let _ = write!(line, " reason={r}");
    }
    line
}

/// Alternate screen buffer on/off, clear screen + cursor home (xterm/VT100).
pub(super) const ALT_SCREEN_ON: &str = "\x1b[?1049h";
pub(super) const ALT_SCREEN_OFF: &str = "\x1b[?1049l";
pub(super) const CLEAR_HOME: &str = "\x1b[H\x1b[2J";

/// Draws progress. On a terminal: a full-screen table in the alternate screen (like `watch`),
/// redrawn when it changes, so long lines that wrap cannot garble it; when done, the last
/// table is printed to the normal screen. Otherwise: one line per change of an object.
pub(super) struct Progress<'a> {
    out: &'a mut (dyn Write + Send),
    tty: bool,
    preamble: String,
    in_alt_screen: bool,
    last_table: String,
    /// The line last printed for each object.
    last: HashMap<String, String>,
}

impl<'a> Progress<'a> {
    pub(super) fn new(out: &'a mut (dyn Write + Send), tty: bool, preamble: String) -> Self {
        Progress {
            out,
            tty,
            preamble,
            in_alt_screen: false,
            last_table: String::new(),
            last: HashMap::new(),
        }
    }

    pub(super) fn update(
        &mut self,
        states: &[ObjectState],
        elapsed: Duration,
    ) -> std::io::Result<()> {
        if self.tty {
            let table = render_table(states, elapsed);
            if table == self.last_table {
                return Ok(());
            }
            if !self.in_alt_screen {
                self.out.write_all(ALT_SCREEN_ON.as_bytes())?;
                self.in_alt_screen = true;
            }
            write!(self.out, "{CLEAR_HOME}{}{table}", self.preamble)?;
            self.last_table = table;
        } else {
            for s in states {
                let key = s.label();
                let line = render_line(s);
                if self.last.get(&key) != Some(&line) {
                    writeln!(self.out, "[{:>6.1}s] {line}", elapsed.as_secs_f64())?;
                    self.last.insert(key, line);
                }
            }
        }
        self.out.flush()
    }

    /// Leaves the alternate screen and prints the last table on the normal screen.
    pub(super) fn finish(&mut self) -> std::io::Result<()> {
        if self.in_alt_screen {
            self.in_alt_screen = false;
            self.out.write_all(ALT_SCREEN_OFF.as_bytes())?;
            self.out.write_all(self.last_table.as_bytes())?;
        }
        self.out.flush()
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        // Never leave the user's terminal in the alternate screen (errors, early returns).
        if self.in_alt_screen {
            let _ = self.out.write_all(ALT_SCREEN_OFF.as_bytes());
            let _ = self.out.flush();
        }
    }
}
