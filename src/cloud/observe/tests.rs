#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::*;
use crate::cloud::Product;
use crate::cloud::error::ErrorKind;

/// A scripted describe: records each call's ids, answers every id with `"<id>:<call#>"`
/// except those in `missing`, and waits for a permit of `gate` before answering; a leader's
/// rate-limit token is a permit of `tokens`.
#[derive(Clone)]
struct Cloud {
    calls: Arc<StdMutex<Vec<Vec<String>>>>,
    gate: Arc<Semaphore>,
    tokens: Arc<Semaphore>,
    missing: Vec<String>,
    fail: bool,
}

impl Cloud {
    fn open() -> Self {
        Cloud {
            calls: Arc::default(),
            gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            tokens: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            missing: Vec::new(),
            fail: false,
        }
    }

    fn held() -> Self {
        Cloud {
            gate: Arc::new(Semaphore::new(0)),
            ..Cloud::open()
        }
    }

    async fn pay(&self) {
        self.tokens.acquire().await.unwrap().forget();
    }

    fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().unwrap().clone()
    }

    async fn describe(&self, ids: Vec<String>) -> Result<Vec<(String, String)>, CloudError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(ids.clone());
            calls.len()
        };
        self.gate.acquire().await.unwrap().forget();
        if self.fail {
            return Err(CloudError::new(
                Product::Hbr,
                "DescribeBackupJobs2",
                ErrorKind::Timeout,
                "timed out",
            ));
        }
        Ok(ids
            .into_iter()
            .filter(|i| !self.missing.contains(i))
            .map(|i| (i.clone(), format!("{i}:{n}")))
            .collect())
    }
}

#[allow(clippy::ptr_arg)]
fn never_final(_: &String) -> bool {
    false
}

#[allow(clippy::ptr_arg)]
fn done_is_final(v: &String) -> bool {
    v.starts_with("done")
}

type Obs = Arc<Observer<&'static str, String>>;

fn ask(
    obs: &Obs,
    cloud: &Cloud,
    id: &str,
    max_age: Duration,
) -> tokio::task::JoinHandle<Result<Option<String>, CloudError>> {
    let (obs, cloud, id) = (Arc::clone(obs), cloud.clone(), id.to_string());
    tokio::spawn(async move {
        obs.get(
            &"scope",
            &id,
            max_age,
            || cloud.pay(),
            |ids| cloud.describe(ids),
        )
        .await
    })
}

/// Waits until `cond` holds, letting the spawned askers run (no sleeps).
async fn until(cond: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached");
}

fn waiting(obs: &Obs) -> usize {
    obs.waiting(&"scope")
}

#[tokio::test]
async fn askers_waiting_for_a_call_share_the_next_one() {
    let obs: Obs = Arc::new(Observer::new(99, never_final));
    let cloud = Cloud::held();
    let first = ask(&obs, &cloud, "j0", Duration::ZERO);
    until(|| cloud.calls().len() == 1).await;
    let rest: Vec<_> = (1..=50)
        .map(|i| ask(&obs, &cloud, &format!("j{i}"), Duration::ZERO))
        .collect();
    until(|| waiting(&obs) == 50).await;
    cloud.gate.add_permits(2);
    assert_eq!(first.await.unwrap().unwrap().as_deref(), Some("j0:1"));
    for (i, r) in rest.into_iter().enumerate() {
        let got = r.await.unwrap().unwrap();
        assert_eq!(got, Some(format!("j{}:2", i + 1)));
    }
    let calls = cloud.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], vec!["j0".to_string()]);
    // The second call carries the 50 askers and, topped up, j0 (not final).
    assert_eq!(calls[1].len(), 51);
}

#[tokio::test]
async fn askers_join_a_round_while_its_leader_waits_for_its_token() {
    // The rate limiter holds the leader's call back: everyone asking meanwhile is in it.
    let obs: Obs = Arc::new(Observer::new(99, never_final));
    let cloud = Cloud {
        tokens: Arc::new(Semaphore::new(0)),
        ..Cloud::open()
    };
    let askers: Vec<_> = (0..30)
        .map(|i| ask(&obs, &cloud, &format!("j{i}"), Duration::ZERO))
        .collect();
    until(|| waiting(&obs) == 30).await;
    assert!(cloud.calls().is_empty(), "no call before the token");
    cloud.tokens.add_permits(1);
    for (i, r) in askers.into_iter().enumerate() {
        assert_eq!(r.await.unwrap().unwrap(), Some(format!("j{i}:1")));
    }
    assert_eq!(cloud.calls().len(), 1, "one token, one call for all");
    assert_eq!(cloud.calls()[0].len(), 30);
    // A full round takes its token and goes; the next one waits for its own.
    let obs: Obs = Arc::new(Observer::new(3, never_final));
    let cloud = Cloud {
        tokens: Arc::new(Semaphore::new(0)),
        ..Cloud::open()
    };
    let askers: Vec<_> = (0..5)
        .map(|i| ask(&obs, &cloud, &format!("k{i}"), Duration::ZERO))
        .collect();
    until(|| waiting(&obs) == 5).await;
    cloud.tokens.add_permits(2);
    for r in askers {
        assert!(r.await.unwrap().unwrap().is_some());
    }
    let calls = cloud.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].len(), 3);
}

#[tokio::test]
async fn a_call_carries_at_most_the_api_limit() {
    let obs: Obs = Arc::new(Observer::new(10, never_final));
    let cloud = Cloud::held();
    let first = ask(&obs, &cloud, "lead", Duration::ZERO);
    until(|| cloud.calls().len() == 1).await;
    let rest: Vec<_> = (0..25)
        .map(|i| ask(&obs, &cloud, &format!("j{i}"), Duration::ZERO))
        .collect();
    until(|| waiting(&obs) == 25).await;
    cloud.gate.add_permits(100);
    first.await.unwrap().unwrap();
    for r in rest {
        assert!(r.await.unwrap().unwrap().is_some());
    }
    let calls = cloud.calls();
    assert!(calls.iter().all(|c| c.len() <= 10), "{calls:?}");
    // 1 + ceil(25 / 10) calls: the askers are spread over full rounds.
    assert_eq!(calls.len(), 4, "{calls:?}");
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_recent_enough_answer_is_served_without_a_call() {
    let obs: Obs = Arc::new(Observer::new(99, never_final));
    let cloud = Cloud::open();
    assert_eq!(
        ask(&obs, &cloud, "a", HOUR).await.unwrap().unwrap(),
        Some("a:1".into())
    );
    assert_eq!(
        ask(&obs, &cloud, "a", HOUR).await.unwrap().unwrap(),
        Some("a:1".into())
    );
    assert_eq!(cloud.calls().len(), 1);
    // An asker that accepts no age gets a new call.
    assert_eq!(
        ask(&obs, &cloud, "a", Duration::ZERO)
            .await
            .unwrap()
            .unwrap(),
        Some("a:2".into())
    );
    assert_eq!(cloud.calls().len(), 2);
}

#[tokio::test]
async fn ids_asked_before_ride_along_and_are_then_answered_from_memory() {
    let obs: Obs = Arc::new(Observer::new(99, never_final));
    let cloud = Cloud::open();
    for i in 0..5 {
        ask(&obs, &cloud, &format!("w{i}"), Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
    }
    // The fifth call carried the four earlier ids along (not final).
    assert_eq!(cloud.calls()[4].len(), 5);
    for i in 0..4 {
        let got = ask(&obs, &cloud, &format!("w{i}"), HOUR)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, Some(format!("w{i}:5")));
    }
    assert_eq!(cloud.calls().len(), 5, "answered from the fifth call");
}

#[tokio::test]
async fn ended_work_is_not_carried_along() {
    let obs: Obs = Arc::new(Observer::new(99, done_is_final));
    let cloud = Cloud::open();
    ask(&obs, &cloud, "done-1", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    ask(&obs, &cloud, "running", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    ask(&obs, &cloud, "other", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let calls = cloud.calls();
    assert_eq!(calls[1], vec!["running".to_string()]);
    assert_eq!(calls[2], vec!["other".to_string(), "running".to_string()]);
}

#[tokio::test]
async fn an_id_the_cloud_does_not_list_is_none() {
    let obs: Obs = Arc::new(Observer::new(99, never_final));
    let mut cloud = Cloud::open();
    cloud.missing = vec!["gone".into()];
    assert_eq!(
        ask(&obs, &cloud, "gone", Duration::ZERO)
            .await
            .unwrap()
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_failed_call_fails_every_asker_of_its_round() {
    let obs: Obs = Arc::new(Observer::new(99, never_final));
    let mut cloud = Cloud::held();
    cloud.fail = true;
    let first = ask(&obs, &cloud, "a", Duration::ZERO);
    until(|| cloud.calls().len() == 1).await;
    let others: Vec<_> = ["b", "c"]
        .iter()
        .map(|i| ask(&obs, &cloud, i, Duration::ZERO))
        .collect();
    until(|| waiting(&obs) == 2).await;
    cloud.gate.add_permits(2);
    let e = first.await.unwrap().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    for o in others {
        let e = o.await.unwrap().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert_eq!(e.action, "DescribeBackupJobs2");
    }
    assert_eq!(cloud.calls().len(), 2);
}

#[tokio::test]
async fn an_answer_fetched_before_a_mutation_is_not_kept() {
    let obs: Obs = Arc::new(Observer::new(99, never_final));
    let cloud = Cloud::held();
    let max_age = HOUR;
    let asker = ask(&obs, &cloud, "p", max_age);
    until(|| cloud.calls().len() == 1).await;
    // A StopBackupPlan on "p" while the describe is in flight.
    obs.invalidate("p");
    cloud.gate.add_permits(10);
    // The asker that was already waiting gets the call's answer…
    assert_eq!(asker.await.unwrap().unwrap(), Some("p:1".into()));
    // …but it is not kept: the next ask describes again.
    assert_eq!(
        ask(&obs, &cloud, "p", max_age).await.unwrap().unwrap(),
        Some("p:2".into())
    );
}

#[tokio::test]
async fn askers_of_a_cancelled_leader_ask_again() {
    let obs: Obs = Arc::new(Observer::new(99, never_final));
    let cloud = Cloud::held();
    let busy = ask(&obs, &cloud, "x", Duration::ZERO);
    until(|| cloud.calls().len() == 1).await;
    // The leader of the next round waits for the call in flight; it is cancelled there.
    let leader = ask(&obs, &cloud, "a", Duration::ZERO);
    let follower = ask(&obs, &cloud, "b", Duration::ZERO);
    until(|| waiting(&obs) == 2).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    cloud.gate.add_permits(10);
    busy.await.unwrap().unwrap();
    assert_eq!(
        follower.await.unwrap().unwrap().as_deref(),
        Some("b:2"),
        "the follower led a round of its own"
    );
}

#[tokio::test]
async fn askers_of_one_id_share_a_call_even_one_id_per_call() {
    let obs: Obs = Arc::new(Observer::new(1, never_final));
    let cloud = Cloud::held();
    let busy = ask(&obs, &cloud, "other", Duration::ZERO);
    until(|| cloud.calls().len() == 1).await;
    let same: Vec<_> = (0..3)
        .map(|_| ask(&obs, &cloud, "t", Duration::ZERO))
        .collect();
    until(|| waiting(&obs) == 3).await;
    cloud.gate.add_permits(10);
    busy.await.unwrap().unwrap();
    for a in same {
        assert_eq!(a.await.unwrap().unwrap().as_deref(), Some("t:2"));
    }
    assert_eq!(cloud.calls().len(), 2);
}

#[tokio::test]
async fn a_sweep_drops_ended_work_and_empty_scopes_but_keeps_running_work() {
    let obs: Obs = Arc::new(Observer::new(99, done_is_final));
    let cloud = Cloud::open();
    ask(&obs, &cloud, "running", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    obs.sweep();
    assert_eq!(lock(&obs.scopes).len(), 1, "running work stays");
    // A final answer is kept for the askers of the same poll only: as long as they accept it
    // (the largest age asked with), at most KEEP_FINAL.
    let other: Obs = Arc::new(Observer::new(99, |_: &String| true));
    let age = |obs: &Obs, by: Duration| {
        let scopes = lock(&obs.scopes);
        let scope = scopes.get("scope").unwrap();
        let mut st = lock(&scope.state);
        for e in st.entries.values_mut() {
            if let Some((_, at)) = &mut e.answer {
                *at -= by;
            }
        }
    };
    ask(&other, &cloud, "done", Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    other.sweep();
    assert_eq!(lock(&other.scopes).len(), 1, "accepted for 10 s");
    age(&other, Duration::from_secs(9));
    other.sweep();
    assert_eq!(lock(&other.scopes).len(), 1, "still accepted");
    age(&other, Duration::from_secs(2));
    other.sweep();
    assert!(
        lock(&other.scopes).is_empty(),
        "no asker accepts it any more: dropped with its scope"
    );
    ask(&other, &cloud, "done", Duration::from_secs(3600))
        .await
        .unwrap()
        .unwrap();
    age(&other, KEEP_FINAL - Duration::from_secs(1));
    other.sweep();
    assert_eq!(lock(&other.scopes).len(), 1, "within KEEP_FINAL");
    age(&other, Duration::from_secs(2));
    other.sweep();
    assert!(
        lock(&other.scopes).is_empty(),
        "older than KEEP_FINAL: dropped whatever the askers accept"
    );
}

#[tokio::test(start_paused = true)]
async fn a_gathering_round_waits_for_askers_before_its_call() {
    let obs: Obs = Arc::new(Observer::new(3, never_final).gathering(Duration::from_millis(20)));
    let cloud = Cloud::open();
    let first = ask(&obs, &cloud, "a", Duration::ZERO);
    // Within the window: joins the first round.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let second = ask(&obs, &cloud, "b", Duration::ZERO);
    assert_eq!(first.await.unwrap().unwrap().as_deref(), Some("a:1"));
    assert_eq!(second.await.unwrap().unwrap().as_deref(), Some("b:1"));
    assert_eq!(cloud.calls(), [vec!["a".to_string(), "b".to_string()]]);
    // A round that fills up does not wait out the window.
    let started = tokio::time::Instant::now();
    let asks: Vec<_> = ["c", "d", "e"]
        .iter()
        .map(|id| ask(&obs, &cloud, id, Duration::ZERO))
        .collect();
    for a in asks {
        a.await.unwrap().unwrap();
    }
    assert_eq!(cloud.calls().len(), 2, "{:?}", cloud.calls());
    assert!(started.elapsed() < Duration::from_millis(20));
    // Without gathering (RDS: one id per call) nothing waits.
    let single: Obs = Arc::new(Observer::new(1, never_final).gathering(Duration::from_secs(9)));
    let started = tokio::time::Instant::now();
    ask(&single, &cloud, "f", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(9));
}
