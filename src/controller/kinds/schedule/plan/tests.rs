use super::*;
use crate::crd::Retention;
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use proptest::prelude::*;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn cron(expr: &str, tz: &str) -> CronSchedule {
    parse_schedule(expr, tz).unwrap()
}

fn input<'a>(now: &str, active: &'a [String]) -> SlotInput<'a> {
    SlotInput {
        name: "nightly",
        now: t(now),
        created: t("2025-01-01T00:00:00Z"),
        suspend: false,
        run_on_create: false,
        starting_deadline: None,
        policy: ConcurrencyPolicy::Forbid,
        last_schedule: None,
        last_skipped: None,
        active,
        trigger: None,
        last_trigger: None,
    }
}

// ---- cron and time zones ------------------------------------------------------------------

#[test]
fn five_fields_and_four_macros_are_accepted() {
    for ok in [
        "*/5 * * * *",
        "30 2 * * *",
        "0 0 1 * *",
        "0 3 * * MON-FRI",
        "@hourly",
        "@daily",
        "@weekly",
        "@monthly",
    ] {
        assert!(parse_schedule(ok, "UTC").is_ok(), "{ok}");
    }
    for bad in [
        "* * * *",
        "0 * * * * *",
        "@yearly",
        "@reboot",
        "61 * * * *",
        "x y z w v",
    ] {
        let e = parse_schedule(bad, "UTC").unwrap_err();
        assert!(e.0.contains("spec.schedule"), "{bad}: {e}");
    }
    let e = parse_schedule("@daily", "Mars/Olympus").unwrap_err();
    assert!(e.0.contains("spec.timeZone"), "{e}");
}

#[test]
fn next_and_latest_in_utc() {
    let c = cron("30 2 * * *", "UTC");
    assert_eq!(
        c.next_after(t("2025-03-01T02:29:59Z")),
        Some(t("2025-03-01T02:30:00Z"))
    );
    assert_eq!(
        c.next_after(t("2025-03-01T02:30:00Z")),
        Some(t("2025-03-02T02:30:00Z"))
    );
    assert_eq!(
        c.latest_at_or_before(t("2025-03-01T02:30:00Z")),
        Some(t("2025-03-01T02:30:00Z"))
    );
    assert_eq!(
        c.latest_at_or_before(t("2025-03-01T02:29:00Z")),
        Some(t("2025-02-28T02:30:00Z"))
    );
    let h = cron("@hourly", "UTC");
    assert_eq!(
        h.next_after(t("2025-03-01T10:00:00Z")),
        Some(t("2025-03-01T11:00:00Z"))
    );
}

#[test]
fn time_zone_moves_the_slot() {
    // 02:30 in Berlin is 01:30 UTC in winter and 00:30 UTC in summer.
    let c = cron("30 2 * * *", "Europe/Berlin");
    assert_eq!(
        c.next_after(t("2025-01-10T00:00:00Z")),
        Some(t("2025-01-10T01:30:00Z"))
    );
    assert_eq!(
        c.next_after(t("2025-07-10T00:00:00Z")),
        Some(t("2025-07-10T00:30:00Z"))
    );
}

#[test]
fn a_time_in_the_dst_gap_is_skipped() {
    // New York springs forward on 2025-03-09: 02:00 EST -> 03:00 EDT; 02:30 does not exist.
    let c = cron("30 2 * * *", "America/New_York");
    let before = t("2025-03-08T07:30:00Z"); // 02:30 EST on the 8th
    assert_eq!(c.next_after(t("2025-03-08T07:00:00Z")), Some(before));
    // The next slot is on the 10th (02:30 EDT = 06:30 UTC), not on the 9th.
    assert_eq!(c.next_after(before), Some(t("2025-03-10T06:30:00Z")));
    assert_eq!(
        c.latest_at_or_before(t("2025-03-10T06:00:00Z")),
        Some(before)
    );
    // An hourly schedule simply has one slot less that day.
    let h = cron("30 * * * *", "America/New_York");
    assert_eq!(
        h.next_after(t("2025-03-09T06:30:00Z")),
        Some(t("2025-03-09T07:30:00Z"))
    );
    assert_eq!(
        h.next_after(t("2025-03-09T06:30:00Z"))
            .map(|x| c.tz.to_datetime(x).hour()),
        Some(3)
    );
}

#[test]
fn a_time_in_the_dst_fold_runs_twice() {
    // New York falls back on 2025-11-02: 02:00 EDT -> 01:00 EST; 01:30 happens twice.
    let c = cron("30 1 * * *", "America/New_York");
    let first = t("2025-11-02T05:30:00Z"); // 01:30 EDT
    let second = t("2025-11-02T06:30:00Z"); // 01:30 EST
    assert_eq!(c.next_after(t("2025-11-02T04:00:00Z")), Some(first));
    assert_eq!(c.next_after(first), Some(second));
    assert_eq!(c.next_after(second), Some(t("2025-11-03T06:30:00Z")));
    assert_eq!(
        c.latest_at_or_before(t("2025-11-02T06:00:00Z")),
        Some(first)
    );
    assert_eq!(
        c.latest_at_or_before(t("2025-11-02T07:00:00Z")),
        Some(second)
    );
    // Every 15 minutes in the 01:xx hour: after 01:45 EDT comes 01:00 EST.
    let q = cron("*/15 1 * * *", "America/New_York");
    assert_eq!(
        q.next_after(t("2025-11-02T05:45:00Z")),
        Some(t("2025-11-02T06:00:00Z"))
    );
}

proptest! {
    #[test]
    fn next_after_is_the_smallest_later_slot(secs in 1_700_000_000i64..1_800_000_000i64) {
        let c = cron("*/20 1-3 * * *", "America/New_York");
        let now = Timestamp::from_second(secs).unwrap();
        let next = c.next_after(now).unwrap();
        prop_assert!(next > now);
        prop_assert_eq!(c.latest_at_or_before(next), Some(next));
        // No slot in between.
        if let Some(prev) = c.latest_at_or_before(next.checked_sub(SignedDuration::from_secs(1)).unwrap()) {
            prop_assert!(prev <= now);
        }
    }
}

// ---- slots ----------------------------------------------------------------------------------

#[test]
fn a_due_slot_makes_one_child_with_a_deterministic_name() {
    let c = cron("30 2 * * *", "UTC");
    let mut i = input("2025-03-01T02:30:05Z", &[]);
    i.last_schedule = Some(t("2025-02-28T02:30:00Z"));
    let p = plan_slots(&c, &i);
    assert_eq!(
        p.runs,
        vec![Run {
            name: "nightly-202503010230".into(),
            at: t("2025-03-01T02:30:00Z"),
            kind: RunKind::Slot
        }]
    );
    assert_eq!(p.next, Some(t("2025-03-02T02:30:00Z")));
    // Recorded: nothing more is due.
    i.last_schedule = Some(t("2025-03-01T02:30:00Z"));
    assert!(plan_slots(&c, &i).runs.is_empty());
}

#[test]
fn no_slot_before_the_first_one_after_creation() {
    let c = cron("30 2 * * *", "UTC");
    let mut i = input("2025-03-01T03:00:00Z", &[]);
    i.created = t("2025-03-01T02:45:00Z");
    assert!(plan_slots(&c, &i).runs.is_empty());
    i.run_on_create = true;
    let p = plan_slots(&c, &i);
    assert_eq!(p.runs.len(), 1);
    assert_eq!(p.runs[0].kind, RunKind::OnCreate);
    assert_eq!(p.runs[0].name, "nightly-202503010245");
}

#[test]
fn after_downtime_only_the_most_recent_missed_slot_is_made_up() {
    let c = cron("0 * * * *", "UTC");
    let mut i = input("2025-03-01T10:20:00Z", &[]);
    i.last_schedule = Some(t("2025-03-01T04:00:00Z"));
    let p = plan_slots(&c, &i);
    assert_eq!(p.runs.len(), 1, "never a burst");
    assert_eq!(p.runs[0].at, t("2025-03-01T10:00:00Z"));
    assert_eq!(
        p.runs[0].kind,
        RunKind::MissedSlot {
            since: t("2025-03-01T05:00:00Z")
        }
    );
    // With a starting deadline the missed slot is too late: skipped, not made up.
    i.starting_deadline = Some(Duration::from_secs(600));
    let p = plan_slots(&c, &i);
    assert!(p.runs.is_empty());
    assert_eq!(
        p.skip,
        Some((t("2025-03-01T10:00:00Z"), reasons::MISSED_DEADLINE))
    );
    // Within the deadline it runs.
    i.now = t("2025-03-01T10:05:00Z");
    assert_eq!(plan_slots(&c, &i).runs.len(), 1);
    // A skipped slot is not looked at again.
    i.now = t("2025-03-01T10:20:00Z");
    i.last_skipped = Some(t("2025-03-01T10:00:00Z"));
    assert_eq!(
        plan_slots(&c, &i),
        SlotPlan {
            next: Some(t("2025-03-01T11:00:00Z")),
            ..SlotPlan::default()
        }
    );
}

#[test]
fn concurrency_policies() {
    let c = cron("0 * * * *", "UTC");
    let active = vec!["nightly-202503010900".to_string()];
    let mut i = input("2025-03-01T10:00:01Z", &active);
    i.last_schedule = Some(t("2025-03-01T09:00:00Z"));
    // Forbid: the slot waits for the running child.
    let p = plan_slots(&c, &i);
    assert!(p.runs.is_empty());
    assert_eq!(p.skip, None);
    assert_eq!(p.waiting, Some(t("2025-03-01T10:00:00Z")));
    // Replace: delete the running child, make the new one.
    i.policy = ConcurrencyPolicy::Replace;
    let p = plan_slots(&c, &i);
    assert_eq!(p.replace, active);
    assert_eq!(p.runs.len(), 1);
    // Allow: make the new one, leave the running one.
    i.policy = ConcurrencyPolicy::Allow;
    let p = plan_slots(&c, &i);
    assert!(p.replace.is_empty());
    assert_eq!(p.runs.len(), 1);
    assert_eq!(p.skip, None);
}

#[test]
fn the_slots_own_child_made_before_a_crash_is_not_a_concurrent_run() {
    let c = cron("0 * * * *", "UTC");
    let active = vec!["nightly-202503011000".to_string()];
    let mut i = input("2025-03-01T10:00:01Z", &active);
    i.last_schedule = Some(t("2025-03-01T09:00:00Z"));
    for policy in [ConcurrencyPolicy::Forbid, ConcurrencyPolicy::Replace] {
        i.policy = policy;
        let p = plan_slots(&c, &i);
        assert_eq!(p.skip, None);
        assert!(p.replace.is_empty());
        assert_eq!(p.runs.len(), 1);
        assert_eq!(p.runs[0].name, active[0]);
    }
}

#[test]
fn suspend_and_resume() {
    let c = cron("0 * * * *", "UTC");
    let mut i = input("2025-03-01T10:30:00Z", &[]);
    i.last_schedule = Some(t("2025-03-01T07:00:00Z"));
    i.suspend = true;
    let p = plan_slots(&c, &i);
    assert!(p.runs.is_empty());
    assert_eq!(p.next, None);
    // Resumed: like a CronJob, the most recent missed slot is made up (once)...
    i.suspend = false;
    let p = plan_slots(&c, &i);
    assert_eq!(p.runs.len(), 1);
    assert_eq!(p.runs[0].at, t("2025-03-01T10:00:00Z"));
    // ... unless a starting deadline says it is too late.
    i.starting_deadline = Some(Duration::from_secs(60));
    assert!(plan_slots(&c, &i).runs.is_empty());
}

#[test]
fn a_trigger_makes_one_child_per_value_even_when_suspended() {
    let c = cron("0 0 1 1 *", "UTC");
    let active = vec!["x".to_string()];
    let mut i = input("2025-03-01T10:30:00Z", &active);
    i.suspend = true;
    i.trigger = Some("2025-03-01T10:30:00Z");
    let p = plan_slots(&c, &i);
    assert_eq!(p.runs.len(), 1);
    assert_eq!(
        p.runs[0].name,
        trigger_child_name("nightly", "2025-03-01T10:30:00Z")
    );
    assert!(p.runs[0].name.starts_with("nightly-trigger-"));
    i.last_trigger = Some("2025-03-01T10:30:00Z");
    assert!(plan_slots(&c, &i).runs.is_empty(), "once per value");
    i.trigger = Some("again");
    assert_eq!(plan_slots(&c, &i).runs.len(), 1);
    i.trigger = Some("  ");
    assert!(
        plan_slots(&c, &i).runs.is_empty(),
        "an empty value is no trigger"
    );
}

#[test]
fn child_names_stay_valid_and_distinct() {
    let at = t("2025-03-01T02:30:00Z");
    assert_eq!(slot_child_name("db", at), "db-202503010230");
    let long = "a".repeat(80);
    let other = format!("{}b", "a".repeat(79));
    let n1 = slot_child_name(&long, at);
    let n2 = slot_child_name(&other, at);
    assert!(n1.len() <= MAX_CHILD_NAME && n2.len() <= MAX_CHILD_NAME);
    assert_ne!(n1, n2);
    assert!(n1.ends_with("-202503010230"));
    let dashed = format!("{}-x", "a".repeat(42));
    let n = slot_child_name(&dashed, at);
    assert!(!n.contains("--"), "{n}");
    assert!(trigger_child_name(&long, "v").len() <= MAX_CHILD_NAME);
    assert_eq!(schedule_label_value("db"), "db");
    assert!(schedule_label_value(&long).len() <= 63);
}

#[test]
fn tracking_keys_are_recognised() {
    for k in [
        "app.kubernetes.io/instance",
        "argocd.argoproj.io/tracking-id",
        "kustomize.toolkit.fluxcd.io/name",
        "kubectl.kubernetes.io/last-applied-configuration",
    ] {
        assert!(is_tracking_key(k), "{k}");
    }
    for k in [
        "app.kubernetes.io/name",
        "team",
        "backup.aliyun.dev/schedule",
    ] {
        assert!(!is_tracking_key(k), "{k}");
    }
}

// ---- retention ------------------------------------------------------------------------------

fn child(name: &str, at: &str, state: ChildState) -> ChildView {
    ChildView {
        name: name.into(),
        at: t(at),
        state,
    }
}

#[test]
fn grandfather_father_son() {
    use ChildState::*;
    let kids = vec![
        child("d5", "2025-03-05T02:00:00Z", Succeeded),
        child("d4b", "2025-03-04T14:00:00Z", Succeeded),
        child("d4a", "2025-03-04T02:00:00Z", Succeeded),
        child("d3", "2025-03-03T02:00:00Z", Succeeded),
        child("f2", "2025-03-02T02:00:00Z", Failed),
        child("f1", "2025-03-01T02:00:00Z", Failed),
        child("feb", "2025-02-10T02:00:00Z", Succeeded),
        child("run", "2025-03-05T03:00:00Z", Running),
    ];
    let rule = RetentionRule {
        keep_daily: Some(2),
        keep_monthly: Some(2),
        keep_failed: 1,
        ..RetentionRule::default()
    };
    let pruned = select_pruned(&kids, &rule, &TimeZone::UTC, t("2025-03-05T04:00:00Z"));
    // daily: d5 (5th), d4b (4th); monthly: d5 (March), feb (February); failed: f2.
    assert_eq!(
        pruned,
        ["d3", "d4a", "f1"].into_iter().map(String::from).collect()
    );
    // maxAge keeps everything younger.
    let rule = RetentionRule {
        max_age: Some(Duration::from_secs(3 * 86_400)),
        keep_failed: 0,
        ..RetentionRule::default()
    };
    let pruned = select_pruned(&kids, &rule, &TimeZone::UTC, t("2025-03-05T04:00:00Z"));
    assert_eq!(
        pruned,
        ["f1", "f2", "feb"].into_iter().map(String::from).collect()
    );
    // No rule for successes keeps every success.
    let rule = RetentionRule {
        keep_failed: 0,
        ..RetentionRule::default()
    };
    let pruned = select_pruned(&kids, &rule, &TimeZone::UTC, t("2025-03-05T04:00:00Z"));
    assert_eq!(pruned, ["f1", "f2"].into_iter().map(String::from).collect());
}

#[test]
fn daily_buckets_follow_the_time_zone() {
    use ChildState::*;
    // 23:30 and 00:30 UTC on consecutive UTC days are the same day in Tokyo (UTC+9).
    let kids = vec![
        child("b", "2025-03-02T00:30:00Z", Succeeded),
        child("a", "2025-03-01T23:30:00Z", Succeeded),
    ];
    let rule = RetentionRule {
        keep_daily: Some(2),
        ..RetentionRule::default()
    };
    let now = t("2025-03-02T01:00:00Z");
    assert!(select_pruned(&kids, &rule, &TimeZone::UTC, now).is_empty());
    let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
    assert_eq!(
        select_pruned(&kids, &rule, &tokyo, now),
        ["a".to_string()].into_iter().collect()
    );
}

#[test]
fn the_default_rule_is_documented() {
    let r = RetentionRule::from_spec(None).unwrap();
    assert_eq!(
        (
            r.keep_last,
            r.keep_daily,
            r.keep_weekly,
            r.keep_monthly,
            r.keep_failed
        ),
        (Some(5), Some(7), Some(4), Some(12), 3)
    );
    let bad = Retention {
        max_age: Some("7w".into()),
        ..Retention::default()
    };
    assert!(
        RetentionRule::from_spec(Some(&bad))
            .unwrap_err()
            .0
            .contains("maxAge")
    );
}

fn arb_children() -> impl Strategy<Value = Vec<ChildView>> {
    prop::collection::vec((0i64..(400 * 24), 0u8..4), 0..40).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (hours, s))| ChildView {
                name: format!("c{i}"),
                at: Timestamp::from_second(1_735_689_600 + hours * 3600).unwrap(),
                state: match s {
                    0 => ChildState::Running,
                    1 => ChildState::Succeeded,
                    2 => ChildState::Stalled,
                    _ => ChildState::Failed,
                },
            })
            .collect()
    })
}

fn arb_rule() -> impl Strategy<Value = RetentionRule> {
    let n = || prop::option::of(0u32..6);
    (
        n(),
        n(),
        n(),
        n(),
        n(),
        n(),
        prop::option::of(0u64..(60 * 86_400)),
        0u32..5,
    )
        .prop_map(
            |(
                keep_last,
                keep_hourly,
                keep_daily,
                keep_weekly,
                keep_monthly,
                keep_yearly,
                max_age,
                keep_failed,
            )| RetentionRule {
                keep_last,
                keep_hourly,
                keep_daily,
                keep_weekly,
                keep_monthly,
                keep_yearly,
                max_age: max_age.map(Duration::from_secs),
                keep_failed,
            },
        )
}

proptest! {
    #[test]
    fn retention_properties(kids in arb_children(), rule in arb_rule()) {
        let now = Timestamp::from_second(1_735_689_600 + 401 * 24 * 3600).unwrap();
        let pruned = select_pruned(&kids, &rule, &TimeZone::UTC, now);
        let by_name = |n: &str| kids.iter().find(|c| c.name == n).unwrap();
        // Only existing, finished children are pruned.
        for n in &pruned {
            prop_assert!(by_name(n).state.is_finished());
        }
        let mut successes: Vec<&ChildView> = kids.iter().filter(|c| c.state == ChildState::Succeeded).collect();
        successes.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.name.cmp(&a.name)));
        let mut failures: Vec<&ChildView> = kids.iter().filter(|c| c.state == ChildState::Failed).collect();
        failures.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.name.cmp(&a.name)));
        // The newest success always stays.
        if let Some(newest) = successes.first() {
            prop_assert!(!pruned.contains(&newest.name));
        }
        // keepLast keeps the N newest successes; maxAge keeps the young ones.
        for (i, c) in successes.iter().enumerate() {
            if rule.keep_last.is_some_and(|n| (i as u32) < n) {
                prop_assert!(!pruned.contains(&c.name));
            }
            if rule.max_age.is_some_and(|m| Duration::try_from(now.duration_since(c.at)).unwrap() <= m) {
                prop_assert!(!pruned.contains(&c.name));
            }
        }
        // Exactly the newest keepFailed failures stay.
        for (i, c) in failures.iter().enumerate() {
            prop_assert_eq!(pruned.contains(&c.name), i as u32 >= rule.keep_failed);
        }
        // Kept successes are bounded by the rule.
        let kept = successes.iter().filter(|c| !pruned.contains(&c.name)).count() as u32;
        if !rule.keeps_all_successes() && rule.max_age.is_none() {
            let bound = 1 + [rule.keep_last, rule.keep_hourly, rule.keep_daily, rule.keep_weekly, rule.keep_monthly, rule.keep_yearly]
                .iter().map(|n| n.unwrap_or(0)).sum::<u32>();
            prop_assert!(kept <= bound, "kept {} > {}", kept, bound);
        }
        if rule.keeps_all_successes() {
            prop_assert_eq!(kept as usize, successes.len());
        }
    }

    #[test]
    fn a_larger_keep_count_never_prunes_more(kids in arb_children(), rule in arb_rule(), which in 0usize..6) {
        let now = Timestamp::from_second(1_735_689_600 + 401 * 24 * 3600).unwrap();
        let mut more = rule.clone();
        let slot = match which {
            0 => &mut more.keep_last,
            1 => &mut more.keep_hourly,
            2 => &mut more.keep_daily,
            3 => &mut more.keep_weekly,
            4 => &mut more.keep_monthly,
            _ => &mut more.keep_yearly,
        };
        // Raising a count that is already set (a new rule could switch off "keep all").
        if let Some(n) = slot.as_mut() {
            *n += 1;
            let a = select_pruned(&kids, &rule, &TimeZone::UTC, now);
            let b = select_pruned(&kids, &more, &TimeZone::UTC, now);
            prop_assert!(b.is_subset(&a));
        }
    }
}

// ---- issue 30 -------------------------------------------------------------------------------

fn spec(extra: serde_json::Value) -> BackupScheduleSpec<serde_json::Value> {
    let mut s = serde_json::json!({ "schedule": "0 2 * * *", "template": { "spec": {} } });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    serde_json::from_value(s).unwrap()
}

#[test]
fn replace_is_refused_where_a_running_backup_cannot_be_stopped() {
    use crate::crd::ConcurrencyPolicy::{Allow, Forbid, Replace};
    let e = check_concurrency(Replace, "RdsBackup", false).unwrap_err();
    assert!(
        e.0.contains("spec.concurrencyPolicy") && e.0.contains("RdsBackup"),
        "{e}"
    );
    for ok in [Forbid, Allow] {
        assert!(check_concurrency(ok, "RdsBackup", false).is_ok());
    }
    assert!(check_concurrency(Replace, "HbrBackupJob", true).is_ok());
}

#[test]
fn a_cron_that_matches_no_date_is_invalid() {
    for never in ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4 *"] {
        let e = validate(&spec(serde_json::json!({ "schedule": never }))).unwrap_err();
        assert!(
            e.0.contains("spec.schedule") && e.0.contains("never"),
            "{never}: {e}"
        );
    }
    // Rare but real dates stay valid (29 February).
    assert!(validate(&spec(serde_json::json!({ "schedule": "0 0 29 2 *" }))).is_ok());
}

#[test]
fn the_run_on_create_child_is_named_after_the_creation() {
    let c = cron("30 2 * * *", "UTC");
    let mut i = input("2025-03-01T03:00:00Z", &[]);
    i.created = t("2025-03-01T02:45:17Z");
    i.run_on_create = true;
    let first = plan_slots(&c, &i);
    assert_eq!(first.runs.len(), 1);
    assert_eq!(first.runs[0].kind, RunKind::OnCreate);
    assert_eq!(first.runs[0].name, "nightly-202503010245");
    // Not before the creation (lastScheduleTime).
    assert_eq!(first.runs[0].at, i.created);
    // The same child in any later reconcile (after a crash, a restart a minute later).
    i.now = t("2025-03-01T03:07:00Z");
    assert_eq!(plan_slots(&c, &i).runs, first.runs);
}

#[test]
fn forbid_waits_for_a_running_child_instead_of_losing_the_slot() {
    let c = cron("0 * * * *", "UTC");
    let active = vec!["nightly-202503010900".to_string()];
    let mut i = input("2025-03-01T10:00:01Z", &active);
    i.last_schedule = Some(t("2025-03-01T09:00:00Z"));
    let p = plan_slots(&c, &i);
    assert!(p.runs.is_empty());
    assert_eq!(
        p.skip, None,
        "not recorded as skipped: the child may have ended already"
    );
    assert_eq!(p.waiting, Some(t("2025-03-01T10:00:00Z")));
    // A newer slot replaces the waiting one (never a burst): the newest waits now.
    i.now = t("2025-03-01T11:00:05Z");
    assert_eq!(plan_slots(&c, &i).waiting, Some(t("2025-03-01T11:00:00Z")));
    // A starting deadline ends the wait: then the slot is skipped, and recorded.
    i.starting_deadline = Some(Duration::from_secs(60));
    i.now = t("2025-03-01T10:01:30Z");
    assert_eq!(
        plan_slots(&c, &i).skip,
        Some((t("2025-03-01T10:00:00Z"), reasons::MISSED_DEADLINE))
    );
    i.starting_deadline = None;
    // Once the child is seen finished, the slot runs (late, within the hour).
    i.active = &[];
    i.now = t("2025-03-01T10:00:20Z");
    let p = plan_slots(&c, &i);
    assert_eq!(p.runs.len(), 1);
    assert_eq!(p.runs[0].at, t("2025-03-01T10:00:00Z"));
}
