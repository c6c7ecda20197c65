//! Shared observation of running cloud work: one observer per product, scoped by account and
//! region (and, for RDS, instance), batching the describes of many objects into as few calls
//! as the API allows.
//!
//! A reconcile asks for one id with the age of answer it accepts ([`Observer::get`]):
//! - an answer fetched recently enough is served from memory, without a call;
//! - otherwise the id joins the *open round* of its scope. A round's first asker (its leader)
//!   waits until the scope's previous call has returned, then closes the round and makes one
//!   call for all the ids gathered meanwhile, topped up with the stalest ids the scope knows
//!   (those asked for recently whose work has not ended), up to the API's limit per call.
//!   Every asker of the round reads its answer from that call.
//!
//! So when calls are slow (the shared rate limiter holds them back; a round waits for its
//! call's token before it closes), rounds grow and the number of calls per object falls; when
//! they are fast, an asker waits for at most one call in flight. Piggybacked ids are answered
//! from memory at their next poll. Ids whose answer is final (the job or task ended) are never
//! piggybacked, and ids nobody asked for within [`FORGET_AFTER`] are forgotten (deleted
//! objects).
//!
//! Only the observation of work an object already holds goes through here. Decisions that
//! need a fresh read (adoption after an unknown create outcome, cleanup) call the API directly;
//! a mutating call on an id ([`Observer::invalidate`]) drops its answer, and an answer fetched
//! before the invalidation is never stored after it.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::CloudError;

/// Ids not asked for within this long are forgotten (the object is gone or done).
pub const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);

/// A final answer (the work ended) is kept at most this long, and no longer than its askers
/// would accept it (the largest `max_age` they asked with): it serves the askers of the same
/// poll, never the next one.
pub const KEEP_FINAL: Duration = Duration::from_secs(60);

/// Every this many asks, the observer drops forgotten ids, old final answers and empty scopes
/// (a fleet's RDS instances each have a scope).
const SWEEP_EVERY: u64 = 1024;

/// What one call answered: per id, the item (`None`: not listed).
type RoundAnswer<V> = Arc<Result<HashMap<String, Option<V>>, Arc<CloudError>>>;

/// Batches and shares the describes of one kind of cloud item (see the module docs).
pub struct Observer<S, V> {
    scopes: Mutex<HashMap<S, Arc<Scope<V>>>>,
    max_batch: usize,
    /// How long a round's leader lets askers join before it calls ([`Observer::gathering`]).
    gather: Duration,
    is_final: fn(&V) -> bool,
    asks: std::sync::atomic::AtomicU64,
}

impl<S, V> std::fmt::Debug for Observer<S, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

struct Scope<V> {
    state: Mutex<State<V>>,
    /// Held by the leader of the round being fetched: one call at a time per scope.
    flight: tokio::sync::Mutex<()>,
    /// Notified when the open round fills up (its leader stops gathering).
    filled: tokio::sync::Notify,
}

struct State<V> {
    entries: HashMap<String, Entry<V>>,
    rounds: HashMap<u64, Round<V>>,
    /// The round new askers join, while it has room.
    open: Option<u64>,
    next_round: u64,
}

struct Entry<V> {
    /// The last answer and when the call that fetched it started.
    answer: Option<(Option<V>, Instant)>,
    /// When a reconcile last asked for the id.
    asked: Instant,
    /// The oldest answer an asker of the id accepted (the largest `max_age` it was asked with).
    accept: Duration,
    /// Answers fetched before this instant are stale (a mutating call was made).
    floor: Option<Instant>,
}

struct Round<V> {
    ids: Vec<String>,
    done: watch::Sender<Option<RoundAnswer<V>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the state consistent, so a poisoned lock is safe to reuse.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes the leader's round if the leader goes away before answering it (its askers see
/// the channel close and ask again).
struct LeaderGuard<'a, V> {
    scope: &'a Scope<V>,
    round: u64,
}

impl<V> Drop for LeaderGuard<'_, V> {
    fn drop(&mut self) {
        let mut st = lock(&self.scope.state);
        st.rounds.remove(&self.round);
        if st.open == Some(self.round) {
            st.open = None;
        }
    }
}

impl<S: Hash + Eq + Clone, V: Clone> Observer<S, V> {
    /// An observer making calls of at most `max_batch` ids; `is_final` tells an answer after
    /// which the item no longer changes by itself (never piggybacked).
    pub fn new(max_batch: usize, is_final: fn(&V) -> bool) -> Self {
        Observer {
            scopes: Mutex::new(HashMap::new()),
            max_batch: max_batch.max(1),
            gather: Duration::ZERO,
            is_final,
            asks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Lets each round gather askers for `window` before its call, unless it fills up first:
    /// objects created together are then looked at together (a round otherwise gathers only
    /// while the scope's previous call is in flight). Each look waits up to `window` longer.
    #[must_use]
    pub fn gathering(mut self, window: Duration) -> Self {
        if self.max_batch > 1 {
            self.gather = window;
        }
        self
    }

    fn scope(&self, key: &S) -> Arc<Scope<V>> {
        let mut scopes = lock(&self.scopes);
        Arc::clone(scopes.entry(key.clone()).or_insert_with(|| {
            Arc::new(Scope {
                state: Mutex::new(State {
                    entries: HashMap::new(),
                    rounds: HashMap::new(),
                    open: None,
                    next_round: 0,
                }),
                flight: tokio::sync::Mutex::new(()),
                filled: tokio::sync::Notify::new(),
            })
        }))
    }

    /// The item `id` of `scope` as described at most `max_age` ago (`None`: the cloud does not
    /// list it). `pay` waits for the rate limiter's token of one call, `fetch` describes a batch
    /// of ids with it; both are called only if this asker leads a round, and the round stays
    /// open to new askers until `pay` returns. Errors of the call are every asker's error.
    pub async fn get<P, PFut, F, Fut>(
        &self,
        key: &S,
        id: &str,
        max_age: Duration,
        pay: P,
        fetch: F,
    ) -> Result<Option<V>, CloudError>
    where
        P: Fn() -> PFut,
        PFut: Future<Output = ()>,
        F: Fn(Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<(String, V)>, CloudError>>,
    {
        let asks = self.asks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if asks % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        let scope = self.scope(key);
        loop {
            let (mut rx, lead) = {
                let mut st = lock(&scope.state);
                let now = Instant::now();
                let entry = st.entries.entry(id.to_string()).or_insert(Entry {
                    answer: None,
                    asked: now,
                    accept: max_age,
                    floor: None,
                });
                entry.asked = now;
                entry.accept = entry.accept.max(max_age);
                if let Some((value, at)) = &entry.answer
                    && now.saturating_duration_since(*at) <= max_age
                {
                    return Ok(value.clone());
                }
                self.join(&mut st, &scope.filled, id)
            };
            if let Some(round) = lead {
                let guard = LeaderGuard {
                    scope: &scope,
                    round,
                };
                self.lead(&scope, round, &pay, &fetch).await;
                drop(guard);
            }
            let answer = match rx.wait_for(Option::is_some).await {
                Ok(a) => a.clone(),
                // The leader went away before answering: ask again.
                Err(_) => continue,
            };
            let Some(answer) = answer else { continue };
            return match answer.as_ref() {
                Ok(items) => Ok(items.get(id).cloned().flatten()),
                Err(e) => Err(e.duplicate()),
            };
        }
    }

    /// Adds `id` to the open round (or opens one, led by the caller: `Some(round)`).
    fn join(
        &self,
        st: &mut State<V>,
        filled: &tokio::sync::Notify,
        id: &str,
    ) -> (watch::Receiver<Option<RoundAnswer<V>>>, Option<u64>) {
        // A round not started yet that asks for the id anyway (whatever its room).
        if let Some(round) = st.rounds.values().find(|r| r.ids.iter().any(|i| i == id)) {
            return (round.done.subscribe(), None);
        }
        if let Some(n) = st.open
            && let Some(round) = st.rounds.get_mut(&n)
        {
            if !round.ids.iter().any(|i| i == id) {
                round.ids.push(id.to_string());
            }
            let rx = round.done.subscribe();
            if round.ids.len() >= self.max_batch {
                st.open = None;
                // Its leader may be gathering: the round is full, call now.
                filled.notify_waiters();
            }
            return (rx, None);
        }
        let n = st.next_round;
        st.next_round += 1;
        let (done, rx) = watch::channel(None);
        st.rounds.insert(
            n,
            Round {
                ids: vec![id.to_string()],
                done,
            },
        );
        st.open = (self.max_batch > 1).then_some(n);
        (rx, Some(n))
    }

    /// Waits for the scope's previous call, the gathering window and the call's rate-limit
    /// token (askers join meanwhile), then makes the round's call and answers it.
    async fn lead<P, PFut, F, Fut>(&self, scope: &Scope<V>, round: u64, pay: &P, fetch: &F)
    where
        P: Fn() -> PFut,
        PFut: Future<Output = ()>,
        F: Fn(Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<(String, V)>, CloudError>>,
    {
        let _flight = scope.flight.lock().await;
        if !self.gather.is_zero() {
            let filled = scope.filled.notified();
            tokio::pin!(filled);
            filled.as_mut().enable();
            if lock(&scope.state).open == Some(round) {
                tokio::select! {
                    () = tokio::time::sleep(self.gather) => {}
                    () = filled => {}
                }
            }
        }
        // A throttled round keeps gathering while it waits for its token.
        pay().await;
        let (ids, done) = {
            let mut st = lock(&scope.state);
            if st.open == Some(round) {
                st.open = None;
            }
            let Some(Round { mut ids, done }) = st.rounds.remove(&round) else {
                return;
            };
            self.top_up(&st, &mut ids);
            (ids, done)
        };
        let started = Instant::now();
        let result = fetch(ids.clone()).await;
        let answer: RoundAnswer<V> = Arc::new(match result {
            Ok(found) => {
                let mut found: HashMap<String, V> = found.into_iter().collect();
                let items: HashMap<String, Option<V>> = ids
                    .into_iter()
                    .map(|i| (i.clone(), found.remove(&i)))
                    .collect();
                let mut st = lock(&scope.state);
                for (id, value) in &items {
                    if let Some(e) = st.entries.get_mut(id)
                        && e.floor.is_none_or(|f| f <= started)
                    {
                        e.answer = Some((value.clone(), started));
                    }
                }
                let now = Instant::now();
                st.entries
                    .retain(|_, e| now.saturating_duration_since(e.asked) < FORGET_AFTER);
                Ok(items)
            }
            Err(e) => Err(Arc::new(e)),
        });
        done.send_replace(Some(answer));
    }

    /// Fills the call up to the limit with the ids whose answers are oldest (never answered
    /// first), leaving out those whose answer is final.
    fn top_up(&self, st: &State<V>, ids: &mut Vec<String>) {
        if ids.len() >= self.max_batch {
            return;
        }
        let now = Instant::now();
        let mut stale: Vec<(&String, Option<Instant>)> = st
            .entries
            .iter()
            .filter(|(id, _)| !ids.contains(id))
            .filter(|(_, e)| now.saturating_duration_since(e.asked) < FORGET_AFTER)
            .filter(|(_, e)| match &e.answer {
                Some((Some(v), _)) => !(self.is_final)(v),
                _ => true,
            })
            .map(|(id, e)| (id, e.answer.as_ref().map(|(_, at)| *at)))
            .collect();
        stale.sort_by_key(|(_, at)| *at);
        let room = self.max_batch - ids.len();
        ids.extend(stale.into_iter().take(room).map(|(id, _)| id.clone()));
    }

    /// Drops the ids nobody asked for within [`FORGET_AFTER`], final answers no asker would
    /// accept any more (older than the largest age it was asked with, at most [`KEEP_FINAL`]),
    /// and the scopes left empty that no asker holds.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut scopes = lock(&self.scopes);
        scopes.retain(|_, scope| {
            let mut st = lock(&scope.state);
            st.entries.retain(|_, e| {
                let final_and_old = match &e.answer {
                    Some((Some(v), at)) => {
                        (self.is_final)(v)
                            && now.saturating_duration_since(*at) > e.accept.min(KEEP_FINAL)
                    }
                    _ => false,
                };
                now.saturating_duration_since(e.asked) < FORGET_AFTER && !final_and_old
            });
            let idle = st.entries.is_empty() && st.rounds.is_empty();
            drop(st);
            !(idle && Arc::strong_count(scope) == 1)
        });
    }

    /// Drops the answer for `id` in every scope (a mutating call was made on it; ids are
    /// unique across scopes): the next ask makes a call, and a call that started before now
    /// cannot store its answer.
    pub fn invalidate(&self, id: &str) {
        let scopes: Vec<Arc<Scope<V>>> = lock(&self.scopes).values().cloned().collect();
        let now = Instant::now();
        for scope in scopes {
            let mut st = lock(&scope.state);
            if let Some(e) = st.entries.get_mut(id) {
                e.answer = None;
                e.floor = Some(now);
            }
        }
    }
}

#[cfg(test)]
impl<S: Hash + Eq + Clone, V: Clone> Observer<S, V> {
    /// How many askers wait for a round of `key` that has not been answered (tests).
    pub(crate) fn waiting(&self, key: &S) -> usize {
        let scope = lock(&self.scopes).get(key).cloned();
        scope.map_or(0, |s| {
            lock(&s.state)
                .rounds
                .values()
                .map(|r| r.done.receiver_count())
                .sum()
        })
    }
}

#[cfg(test)]
mod tests;
