//! Structured concurrency (`tether::scope`) under deterministic simulation, over many seeds:
//! each seed runs the same scopes with a different interleaving of their children (the
//! simulation picks the next ready task at every step), and every run must keep the scope's
//! promises:
//!
//! 1. the first failure cancels the siblings: each one still running either sees the signal
//!    (`task::cancelled()`) or is dropped after the grace period; a nested scope's children
//!    see it too;
//! 2. every error is reported exactly once, in the order the children returned them, and the
//!    first one is the scope's first;
//! 3. children never outlive the scope: when its future completes, no child (or grandchild)
//!    is alive;
//! 4. with no failure, every child's result comes back and nothing is cancelled.
//!
//! And the seeds do explore: the runs' trace hashes are (nearly all) distinct, and which of
//! two racing children fails first varies with the seed.
//!
//! Bounded: 300 seeds in debug builds, 1,000 in release (each run is a few hundred steps).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::scope::{Builder, Scope};
use tether::sim::Sim;
use tether::task::yield_now;

fn seed_count() -> u64 {
    if cfg!(debug_assertions) {
        300
    } else {
        1000
    }
}

/// Counts live children: +1 when one starts, -1 when it ends or is dropped.
struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(n: &Arc<AtomicUsize>) -> Alive {
        n.fetch_add(1, Ordering::SeqCst);
        Alive(n.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What happened in one run, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    /// Child `n` returned `Err(n)`.
    Failed(u32),
    /// Child `n` saw the cancellation signal and returned.
    SawCancel(u32),
    /// Cooperative child `n` started.
    Started(u32),
    /// Child `n` finished its work without being cancelled.
    Done(u32),
}

type Log = Arc<Mutex<Vec<Ev>>>;

fn log(l: &Log, e: Ev) {
    l.lock().unwrap().push(e);
}

/// A child that fails with `Err(n)` after `yields` yields (not looking at the signal).
async fn failing(n: u32, yields: u32, alive: Arc<AtomicUsize>, l: Log) -> Result<u32, u32> {
    let _a = Alive::new(&alive);
    for _ in 0..yields {
        yield_now().await;
    }
    log(&l, Ev::Failed(n));
    Err(n)
}

/// A child that works (yields) until the signal, then returns.
async fn cooperative(n: u32, alive: Arc<AtomicUsize>, l: Log) -> Result<u32, u32> {
    let _a = Alive::new(&alive);
    log(&l, Ev::Started(n));
    loop {
        tether::select! {
            _ = tether::task::cancelled() => {
                log(&l, Ev::SawCancel(n));
                return Ok(n);
            }
            _ = tether::time::sleep(Duration::from_millis(1)) => {}
        }
    }
}

/// A child that ignores the signal: only the hard drop at the end of the grace period ends it.
async fn stubborn(alive: Arc<AtomicUsize>) -> Result<u32, u32> {
    let _a = Alive::new(&alive);
    loop {
        tether::time::sleep(Duration::from_millis(3)).await;
    }
}

/// A child that runs a scope of its own, whose children work until the (inherited) signal.
async fn nested(n: u32, alive: Arc<AtomicUsize>, l: Log) -> Result<u32, u32> {
    let _a = Alive::new(&alive);
    let inner = tether::scope::scope(|s: Scope<u32>| {
        let (alive, l) = (alive.clone(), l.clone());
        async move {
            for k in 0..3 {
                s.spawn(cooperative(100 * n + k, alive.clone(), l.clone()))
                    .await;
            }
            Ok(())
        }
    })
    .await;
    // The inner scope ended because the outer one was cancelled.
    assert!(
        inner.is_err_and(|e| e.is_cancelled()),
        "the nested scope must end cancelled"
    );
    log(&l, Ev::SawCancel(n));
    Ok(n)
}

/// Rules 1–3: two children race to fail; siblings of every kind around them.
async fn failure_scenario(first_failure: Arc<Mutex<HashMap<u32, u64>>>) {
    let alive = Arc::new(AtomicUsize::new(0));
    let l: Log = Arc::default();
    let (a, lg) = (alive.clone(), l.clone());
    let res: Result<(), _> = Builder::new()
        .grace_period(Duration::from_millis(20))
        .run(|s: Scope<u32>| async move {
            s.spawn(cooperative(1, a.clone(), lg.clone())).await;
            s.spawn(failing(2, 4, a.clone(), lg.clone())).await;
            s.spawn(nested(3, a.clone(), lg.clone())).await;
            s.spawn(stubborn(a.clone())).await;
            s.spawn(failing(5, 4, a.clone(), lg.clone())).await;
            s.spawn(cooperative(6, a.clone(), lg.clone())).await;
            // The body keeps going until it is dropped by the first failure.
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    // Rule 3: nothing outlives the scope.
    assert_eq!(
        alive.load(Ordering::SeqCst),
        0,
        "a child outlived its scope"
    );
    let err = res.expect_err("two children fail");
    let events = l.lock().unwrap().clone();
    let failed: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Ev::Failed(n) => Some(*n),
            _ => None,
        })
        .collect();
    // Rule 2: every error exactly once, in the order they happened.
    let reported: Vec<u32> = err.failures().iter().map(|f| *f.error()).collect();
    assert_eq!(
        reported, failed,
        "errors reported: {reported:?}, events: {events:?}"
    );
    assert_eq!(err.first(), failed.first());
    // Rule 1: every cooperative child that started (the first failure may come before the
    // body, or the nested scope's body, spawned some of them), nested ones included, saw the
    // signal.
    for e in &events {
        if let Ev::Started(n) = e {
            assert!(
                events.contains(&Ev::SawCancel(*n)),
                "child {n} did not see the cancellation: {events:?}"
            );
        }
    }
    assert!(!events.iter().any(|e| matches!(e, Ev::Done(_))));
    *first_failure.lock().unwrap().entry(failed[0]).or_default() += 1;
}

/// Rule 4: no failure, every result, no cancellation.
async fn success_scenario() {
    let alive = Arc::new(AtomicUsize::new(0));
    let l: Log = Arc::default();
    let (a, lg) = (alive.clone(), l.clone());
    let sum = tether::scope::scope(|s: Scope<u32>| async move {
        let mut handles = Vec::new();
        for n in 0..5 {
            let (a, lg) = (a.clone(), lg.clone());
            handles.push(
                s.spawn(async move {
                    let _a = Alive::new(&a);
                    for _ in 0..n {
                        yield_now().await;
                    }
                    log(&lg, Ev::Done(n));
                    Ok(n * 10)
                })
                .await,
            );
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        Ok(sum)
    })
    .await
    .expect("nothing fails");
    assert_eq!(sum, 100);
    assert_eq!(alive.load(Ordering::SeqCst), 0);
    assert_eq!(l.lock().unwrap().len(), 5);
}

fn run(seed: u64, first_failure: Arc<Mutex<HashMap<u32, u64>>>) -> tether::sim::Report {
    let mut sim = Sim::new(seed);
    sim.client("failing", failure_scenario(first_failure));
    sim.client("succeeding", success_scenario());
    sim.run().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn scopes_keep_their_promises_under_every_seed() {
    let first_failure = Arc::new(Mutex::new(HashMap::new()));
    let mut hashes = HashSet::new();
    let n = seed_count();
    for seed in 0..n {
        hashes.insert(run(seed, first_failure.clone()).trace_hash());
    }
    let first = first_failure.lock().unwrap().clone();
    eprintln!(
        "{n} seeds: {} distinct traces; first failure by child: {first:?}",
        hashes.len()
    );
    assert_eq!(first.values().sum::<u64>(), n);
    assert!(
        hashes.len() as u64 >= n * 9 / 10,
        "{n} seeds explored only {} distinct interleavings",
        hashes.len()
    );
    assert!(
        first.len() == 2 && first.values().all(|&c| c >= n / 20),
        "which child fails first should vary with the seed: {first:?}"
    );
}

#[test]
fn a_seed_replays_its_interleaving() {
    for seed in [0, 1, 99] {
        let a = run(seed, Arc::default());
        let b = run(seed, Arc::default());
        assert_eq!(a.trace_hash(), b.trace_hash(), "seed {seed}");
        assert_eq!(a.steps(), b.steps());
    }
}
