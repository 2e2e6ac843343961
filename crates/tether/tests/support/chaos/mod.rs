//! Seeded chaos for the fault-injection suite (`tests/faults.rs`): random programs of tasks in
//! nested scopes that fail in every way a task can, and the ledger that checks every failure
//! is reported exactly once.
//!
//! - `ledger.rs`: where each injected failure is, and the runtime's rules for dropping one;
//! - `boundary.rs`: the wrappers placed where the runtime catches failures, which tell the
//!   ledger what crossed, and the `Bomb` that panics when dropped;
//! - `script.rs`: the random programs.

mod boundary;
mod ledger;
mod script;

pub use boundary::{ids_of, install_panic_hook, set_panic_context, BoxFut, Top};
pub use ledger::Summary;
pub use script::root;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ledger::Ledger;

/// A small seeded generator (SplitMix64): the same seed gives the same decisions.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_fa17_c0de_d00d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An independent generator for a child (a task, a sub-future), so that each task's
    /// decisions depend only on the seed and its place in the tree, not on the interleaving.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

/// What one run does.
#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    /// Multi-thread runtime (real time) rather than current-thread (paused clock).
    pub multi: bool,
    /// Tasks (plain, scope children, blocking jobs) the run may spawn in all.
    pub task_budget: i64,
    /// Scopes the run may open in all.
    pub scope_budget: i64,
    /// Panics in the destructor of a task's output that nobody took from its `JoinHandle`
    /// (see `Bomb`).
    pub detached_output_panics: bool,
    /// Blocking rendezvous pairs (a job waiting for a job queued after it) at once; kept below
    /// the pool's thread limit so that a partner always finds a thread.
    pub max_pairs: usize,
    /// How long a rendezvous job waits for its partner before it reports a stalled pool.
    pub rendezvous_limit: Duration,
}

/// Counters of what a run did.
#[derive(Default)]
pub struct Stats {
    pub plain: AtomicU64,
    pub children: AtomicU64,
    pub blocking: AtomicU64,
    pub scopes: AtomicU64,
    pub pairs: AtomicU64,
    pub aborts: AtomicU64,
    pub skipped_output_panics: AtomicU64,
}

/// The state one run shares between all its tasks: the ledger, budgets, counters.
pub struct Run {
    pub cfg: Config,
    ledger: Mutex<Ledger>,
    budget: AtomicI64,
    scope_budget: AtomicI64,
    next_task: AtomicU64,
    next_scope: AtomicU64,
    rendezvous: AtomicUsize,
    /// Set when the run shuts its runtime down: rendezvous jobs stop waiting.
    stopping: AtomicBool,
    /// Task and job wrappers alive: zero once every future and closure was dropped.
    wrappers: AtomicUsize,
    /// What each live act awaits now (by act number), for the report of a hang.
    waits: Mutex<std::collections::BTreeMap<u64, &'static str>>,
    next_act: AtomicU64,
    pub stats: Stats,
}

impl Run {
    pub fn new(cfg: Config) -> Arc<Run> {
        Arc::new(Run {
            ledger: Mutex::new(Ledger::new()),
            budget: AtomicI64::new(cfg.task_budget),
            scope_budget: AtomicI64::new(cfg.scope_budget),
            cfg,
            next_task: AtomicU64::new(0),
            next_scope: AtomicU64::new(0),
            rendezvous: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            wrappers: AtomicUsize::new(0),
            waits: Mutex::new(std::collections::BTreeMap::new()),
            next_act: AtomicU64::new(0),
            stats: Stats::default(),
        })
    }

    /// A number for a new act (`waiting` names what it awaits).
    pub fn next_act(&self) -> u64 {
        self.next_act.fetch_add(1, Ordering::Relaxed)
    }

    /// Records that act `act` now awaits `what` (`None`: it ended).
    pub fn waiting(&self, act: u64, what: Option<&'static str>) {
        let mut w = self.waits.lock().unwrap_or_else(|e| e.into_inner());
        match what {
            Some(what) => w.insert(act, what),
            None => w.remove(&act),
        };
    }

    /// What the acts still alive await, for the report of a hang.
    pub fn describe_waits(&self) -> String {
        let w = self.waits.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = format!("{} act(s) alive", w.len());
        for (act, what) in w.iter().take(20) {
            out.push_str(&format!("\n  act {act} awaits {what}"));
        }
        out
    }

    /// The ledger. Never held while calling into the runtime or dropping anything of it.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn violation(&self, msg: String) {
        self.ledger().violation(msg);
    }

    pub fn violations(&self) -> Vec<String> {
        self.ledger().violations()
    }

    pub fn finish(&self) -> Summary {
        self.ledger().finish()
    }

    /// The failure hook's report: a task's failure carries its ids in its panic message; a
    /// failure a scope could not deliver, in its message (a panic) or its error (a `Fault`).
    pub fn hooked(&self, f: &tether::diag::UnhandledFailure<'_>) {
        let ids = match f.error() {
            Some(e) => e.downcast_ref::<boundary::Fault>().map(|f| f.0.clone()),
            None => f.message().and_then(boundary::parse),
        };
        match ids {
            Some(ids) if f.is_undelivered_scope_failure() => self.ledger().scope_hooked(&ids),
            Some(ids) => self.ledger().hooked(&ids),
            None => self.violation(format!(
                "the failure hook reported a failure that was not injected: {f}"
            )),
        }
    }

    /// Takes a place in the task budget.
    pub fn take_task(&self) -> bool {
        self.budget.fetch_sub(1, Ordering::Relaxed) > 0
    }

    /// Whether the task budget has places left.
    pub fn has_budget(&self) -> bool {
        self.budget.load(Ordering::Relaxed) > 0
    }

    /// Takes a place in the scope budget.
    pub fn take_scope(&self) -> bool {
        self.scope_budget.fetch_sub(1, Ordering::Relaxed) > 0
    }

    pub fn next_task(&self) -> u64 {
        self.next_task.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn next_scope(&self) -> u64 {
        self.next_scope.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn set_stopping(&self) {
        self.ledger().stopping();
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Task and job wrappers still alive.
    pub fn wrappers(&self) -> usize {
        self.wrappers.load(Ordering::SeqCst)
    }

    /// What the run did, for the report line.
    pub fn describe(&self) -> String {
        let s = &self.stats;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "{} plain tasks, {} scope children, {} blocking jobs ({} rendezvous pairs), {} \
             scopes, {} aborts",
            l(&s.plain),
            l(&s.children),
            l(&s.blocking),
            l(&s.pairs),
            l(&s.scopes),
            l(&s.aborts),
        )
    }

    /// Tasks spawned in all (plain, children, blocking).
    pub fn tasks(&self) -> u64 {
        let s = &self.stats;
        s.plain.load(Ordering::Relaxed)
            + s.children.load(Ordering::Relaxed)
            + s.blocking.load(Ordering::Relaxed)
    }
}
