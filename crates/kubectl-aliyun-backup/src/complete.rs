//! Shell completion. `completion bash|zsh|fish` prints clap_complete's static script
//! (subcommands, flags, values) for `kubectl-aliyun-backup`; object names come from the hidden
//! `__complete` subcommand, which answers in the protocol kubectl uses for plugin completion
//! (kubectl 1.26+ runs `kubectl_complete-aliyun_backup ARGS…` for `kubectl aliyun-backup
//! ARGS…<TAB>`: one candidate a line, then `:<directive>`), so `kubectl aliyun-backup why
//! rdsbackup/<TAB>` lists the objects.

use clap::CommandFactory;

use crate::Cli;
use crate::model::Kind;

/// cobra's `ShellCompDirectiveNoFileComp`: do not fall back to file names.
pub const NO_FILE_COMP: u32 = 4;

/// The helper kubectl looks for on PATH to complete `kubectl aliyun-backup …`.
pub const KUBECTL_COMPLETE_HELPER: &str = "#!/bin/sh\n# kubectl plugin completion (kubectl 1.26+): put on PATH as kubectl_complete-aliyun_backup\nexec kubectl-aliyun-backup __complete \"$@\"\n";

/// The static completion script of `shell`.
pub fn script(shell: clap_complete::Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kubectl-aliyun-backup", &mut buf);
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    text.push_str(&format!(
        "\n# Object names: kubectl's plugin completion calls kubectl_complete-aliyun_backup.\n# Install it once:\n#   printf '%s' '{}' > ~/.local/bin/kubectl_complete-aliyun_backup && chmod +x ~/.local/bin/kubectl_complete-aliyun_backup\n",
        KUBECTL_COMPLETE_HELPER.replace('\n', "\\n").replace('\'', "'\\''")
    ));
    text
}

/// What the word being completed needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// Fixed words (subcommands, kinds, shells, flags).
    Words(Vec<String>),
    /// `KIND/NAME` of `kind` in the namespace.
    Objects(Kind),
    /// Schedule names (both kinds) in the namespace.
    Schedules,
    /// Namespaces.
    Namespaces,
    Nothing,
}

/// Flags whose value is the next word.
const TAKES_VALUE: [&str; 27] = [
    "-n",
    "--namespace",
    "--context",
    "--kubeconfig",
    "-o",
    "--output",
    "-l",
    "--selector",
    "--timeout",
    "--credentials",
    "--region",
    "--instance",
    "--endpoint-override",
    "--operator-namespace",
    "--from",
    "--to",
    "--name",
    "--tables",
    "--class",
    "--storage",
    "--description",
    "--path",
    "--databases",
    "--backup-set",
    "--time",
    "--user",
    "--password-secret",
];

/// The kinds `restore --from` takes.
const RESTORE_SOURCES: [Kind; 3] = [Kind::RdsBackup, Kind::HbrBackupJob, Kind::DbsBackupPlan];

const OBJECT_COMMANDS: [&str; 4] = ["describe", "why", "pause", "resume"];

/// The candidates the last of `words` needs (pure: the caller lists the objects).
pub fn need(words: &[String]) -> Need {
    let Some((current, before)) = words.split_last() else {
        return Need::Words(subcommands());
    };
    if let Some(prev) = before.last()
        && (prev == "-n" || prev == "--namespace")
    {
        return Need::Namespaces;
    }
    if before.last().is_some_and(|p| p == "--from") {
        return match current.split_once('/') {
            Some((kind, _)) => match kind.parse::<Kind>() {
                Ok(k) if RESTORE_SOURCES.contains(&k) => Need::Objects(k),
                _ => Need::Nothing,
            },
            None => Need::Words(
                RESTORE_SOURCES
                    .iter()
                    .map(|k| format!("{}/", k.cli_name()))
                    .collect(),
            ),
        };
    }
    // The first word that is neither a flag nor a flag's value.
    let mut sub = None;
    let mut sub_at = 0;
    let mut skip = false;
    for (i, w) in before.iter().enumerate() {
        if skip {
            skip = false;
        } else if TAKES_VALUE.contains(&w.as_str()) {
            skip = true;
        } else if !w.starts_with('-') {
            sub = Some(w.as_str());
            sub_at = i;
            break;
        }
    }
    let Some(sub) = sub else {
        if current.starts_with('-') {
            return Need::Words(flags(None));
        }
        return Need::Words(subcommands());
    };
    if current.starts_with('-') {
        return Need::Words(flags(Some(sub)));
    }
    let mut positional_given = false;
    let mut skip = false;
    for w in &before[sub_at + 1..] {
        if skip {
            skip = false;
        } else if TAKES_VALUE.contains(&w.as_str()) {
            skip = true;
        } else if !w.starts_with('-') {
            positional_given = true;
        }
    }
    match sub {
        s if OBJECT_COMMANDS.contains(&s) && !positional_given => match current.split_once('/') {
            Some((kind, _)) => match kind.parse::<Kind>() {
                Ok(k) => Need::Objects(k),
                Err(_) => Need::Nothing,
            },
            None => Need::Words(
                Kind::ALL
                    .iter()
                    .map(|k| format!("{}/", k.cli_name()))
                    .collect(),
            ),
        },
        "backup" if !positional_given => Need::Schedules,
        "completion" if !positional_given => {
            Need::Words(vec!["bash".into(), "zsh".into(), "fish".into()])
        }
        _ => Need::Nothing,
    }
}

fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect()
}

fn flags(sub: Option<&str>) -> Vec<String> {
    let cmd = Cli::command();
    let mut out: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    if let Some(sc) = sub.and_then(|s| cmd.find_subcommand(s)) {
        out.extend(
            sc.get_arguments()
                .filter_map(|a| a.get_long().map(|l| format!("--{l}"))),
        );
    }
    out.sort();
    out.dedup();
    out
}

/// The answer: the candidates starting with `prefix`, then the directive.
pub fn answer(candidates: &[String], prefix: &str) -> String {
    let mut out = String::new();
    for c in candidates.iter().filter(|c| c.starts_with(prefix)) {
        out.push_str(c);
        out.push('\n');
    }
    out.push_str(&format!(":{NO_FILE_COMP}\n"));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn w(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn what_each_position_needs() {
        assert!(
            matches!(need(&w(&["st"])), Need::Words(v) if v.contains(&"status".to_string()) && !v.contains(&"__complete".to_string()))
        );
        assert!(
            matches!(need(&w(&["why", ""])), Need::Words(v) if v.contains(&"rdsbackup/".to_string()))
        );
        assert_eq!(
            need(&w(&["why", "rdsbackup/ni"])),
            Need::Objects(Kind::RdsBackup)
        );
        assert_eq!(
            need(&w(&["-n", "x", "describe", "rdssched/"])),
            Need::Objects(Kind::RdsBackupSchedule)
        );
        assert_eq!(need(&w(&["why", "rdsbackup/a", ""])), Need::Nothing);
        assert_eq!(need(&w(&["backup", ""])), Need::Schedules);
        assert_eq!(need(&w(&["status", "-n", ""])), Need::Namespaces);
        assert!(
            matches!(need(&w(&["backup", "--w"])), Need::Words(v) if v.contains(&"--wait".to_string()))
        );
        assert_eq!(answer(&w(&["a/x", "a/y", "b/z"]), "a/"), "a/x\na/y\n:4\n");
    }

    #[test]
    fn restore_kinds_and_sources_complete() {
        assert!(
            matches!(need(&w(&["describe", ""])), Need::Words(v) if v.contains(&"rdsrestore/".to_string()) && v.contains(&"dbsrestoretask/".to_string()))
        );
        assert_eq!(
            need(&w(&["why", "hbrrs/x"])),
            Need::Objects(Kind::HbrRestoreJob)
        );
        assert_eq!(
            need(&w(&["pause", "dbsrestoretask/"])),
            Need::Objects(Kind::DbsRestoreTask)
        );
        assert_eq!(
            need(&w(&["restore", "--from", ""])),
            Need::Words(w(&["rdsbackup/", "hbrbackupjob/", "dbsbackupplan/"]))
        );
        assert_eq!(
            need(&w(&["restore", "--from", "rdsbk/n"])),
            Need::Objects(Kind::RdsBackup)
        );
        assert_eq!(need(&w(&["restore", "--from", "rdsrs/n"])), Need::Nothing);
        assert_eq!(
            need(&w(&["restore", "--from", "rdsbackup/x", "--to", ""])),
            Need::Nothing
        );
        assert!(
            matches!(need(&w(&["restore", "--ta"])), Need::Words(v) if v.contains(&"--tables".to_string()) && v.contains(&"--dry-run".to_string()))
        );
    }

    #[test]
    fn scripts_name_the_binary() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let s = script(shell);
            assert!(s.contains("kubectl-aliyun-backup"), "{shell}");
            assert!(s.contains("kubectl_complete-aliyun_backup"));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod flag_tests {
    use super::*;

    #[test]
    fn flags_between_the_command_and_the_object() {
        let w: Vec<String> = ["why", "-n", "demo", "rdsbackup/"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(need(&w), Need::Objects(Kind::RdsBackup));
    }
}
