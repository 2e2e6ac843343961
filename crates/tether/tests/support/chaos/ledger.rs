//! The ledger of injected failures: where each one is now, and the rules under which the
//! runtime may drop one without reporting it.
//!
//! Every failure the suite injects (an `Err` a task returns, a panic, a panic in a destructor)
//! gets a fresh id when it happens. It is then in flight: thrown, not yet caught. The wrappers of
//! `boundary.rs` sit exactly where the runtime catches things (around a task's future, a scope's
//! body, a scope's future, a blocking closure), so they see every failure cross into the
//! runtime's hands and record who holds it:
//!
//! - a plain task (`tether::spawn`, `spawn_blocking`) holds its panic until its `JoinHandle`
//!   delivers it (the awaiting code takes it back in flight and passes it on) or the failure
//!   hook reports it;
//! - a scope holds what its children and body recorded until it completes: it returns the
//!   errors, or resumes its first panic; what it cannot deliver (a later panic, the errors of a
//!   scope that ends with a panic, the error a child's panicking destructor replaced,
//!   everything recorded in a scope whose future was dropped) it hands to the failure hook,
//!   each exactly once;
//! - the top of the run reports what reaches it.
//!
//! A failure ends reported (by the top or the failure hook) or discarded by one of the
//! [`Rule`]s, each of which is a documented behaviour of the runtime. Anything else is a
//! violation: a failure caught twice, reported twice, reported by a channel that should not
//! have it, or still held when the run is over (lost).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// The id of one injected failure; a panic payload or an error carries the ids it stands for.
pub type FaultId = u64;

/// Who holds a failure that was caught and not yet delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// The plain task with this number (`tether::spawn` or `spawn_blocking`).
    Task(u64),
    /// The scope with this number: one of its children or its body recorded the failure.
    Scope(u64),
    /// The runtime, which dropped the output of a task that nobody took from its
    /// `JoinHandle`, and whose destructor panicked: reported to the failure policy.
    Output,
}

/// Whether a scope holds a failure as an error (returned in its `ScopeError`) or a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Error,
    Panic,
}

/// The runtime's documented ways of dropping a failure without reporting it, and the one way
/// the suite's own code drops one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// A panic in the destructor of a future the runtime drops (an aborted, hard-dropped or
    /// shut-down task, a blocking job that never ran, a plain task's future after it
    /// completed) is caught and goes only to the panic hook (`task/cell.rs` `finish`,
    /// `scope/child.rs`).
    RuntimeDrop,
    /// The suite's code: an error on its way out of a task is dropped when a destructor panics
    /// on the way (the panic carries on instead).
    Superseded,
}

/// Where a failure reached its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    /// The top of the run: what the root scope returned or resumed.
    Top,
    /// The runtime's failure hook (`Builder::on_unhandled_failure`).
    Hook,
}

/// Where one injected fault is now: in flight, held (by a task, a scope or the output),
/// reported, discarded by a rule, or already counted as lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultState {
    Flight,
    Held(Holder, Kind),
    Reported(Channel),
    Discarded(Rule),
    /// Already counted as a violation; not reported again.
    Lost,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScopeStatus {
    Live,
    /// Its future completed (returned or resumed a panic).
    Done,
    /// Its future was dropped before completing.
    Dropped,
}

/// How a scope's future completed, as the suite saw it.
pub enum End<'a> {
    Ok,
    /// Returned a `ScopeError` with these failures' ids (none when it was only cancelled).
    Errors(&'a [FaultId]),
}

/// How the failures of one run ended.
#[derive(Default, Debug, Clone)]
pub struct Summary {
    pub faults: u64,
    pub reported: BTreeMap<Channel, u64>,
    pub discarded: BTreeMap<Rule, u64>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failures:", self.faults)?;
        for (c, n) in &self.reported {
            write!(f, " {n} reported ({c:?})")?;
        }
        for (r, n) in &self.discarded {
            write!(f, " {n} discarded ({r:?})")?;
        }
        Ok(())
    }
}

impl Summary {
    /// Adds another run's figures.
    pub fn add(&mut self, other: &Summary) {
        self.faults += other.faults;
        for (c, n) in &other.reported {
            *self.reported.entry(*c).or_default() += n;
        }
        for (r, n) in &other.discarded {
            *self.discarded.entry(*r).or_default() += n;
        }
    }
}

/// Violations kept per run (the first ones are the interesting ones).
const MAX_VIOLATIONS: usize = 20;

/// See the module docs.
pub struct Ledger {
    faults: HashMap<FaultId, FaultState>,
    /// The failures each scope was given, in order (some may have moved on since).
    by_scope: HashMap<u64, Vec<FaultId>>,
    scopes: HashMap<u64, ScopeStatus>,
    next: FaultId,
    /// Set when the runtime starts shutting down.
    stopping: bool,
    /// Failures that happened after that: a child's future dropped by the suite's code then
    /// (a spawn racing with the shutdown) may be dropped inside the runtime instead, which
    /// contains its panic (`Rule::RuntimeDrop`).
    late: HashSet<FaultId>,
    violations: Vec<String>,
    dropped_violations: usize,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger {
            faults: HashMap::new(),
            by_scope: HashMap::new(),
            scopes: HashMap::new(),
            next: 0,
            stopping: false,
            late: HashSet::new(),
            violations: Vec::new(),
            dropped_violations: 0,
        }
    }

    pub fn violation(&mut self, msg: String) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(msg);
        } else {
            self.dropped_violations += 1;
        }
    }

    pub fn violations(&self) -> Vec<String> {
        let mut v = self.violations.clone();
        if self.dropped_violations > 0 {
            v.push(format!("... and {} more", self.dropped_violations));
        }
        v
    }

    /// A failure happens: a fresh id, in flight.
    pub fn new_fault(&mut self) -> FaultId {
        self.next += 1;
        self.faults.insert(self.next, FaultState::Flight);
        if self.stopping {
            self.late.insert(self.next);
        }
        self.next
    }

    /// The runtime starts shutting down.
    pub fn stopping(&mut self) {
        self.stopping = true;
    }

    /// Moves `id` from `from` to `to`, or records a violation saying what was `doing`.
    fn step(
        &mut self,
        id: FaultId,
        from: impl Fn(FaultState) -> bool,
        to: FaultState,
        doing: &str,
    ) -> bool {
        match self.faults.get(&id).copied() {
            Some(s) if from(s) => {
                self.faults.insert(id, to);
                true
            }
            Some(FaultState::Lost) => false,
            Some(s) => {
                self.faults.insert(id, FaultState::Lost);
                self.violation(format!("fault #{id} {doing}, but it was {s:?}"));
                false
            }
            None => {
                self.violation(format!(
                    "fault #{id} {doing}, but no such fault was injected"
                ));
                false
            }
        }
    }

    /// Failures in flight cross into `holder`'s hands.
    pub fn caught(&mut self, ids: &[FaultId], holder: Holder, kind: Kind) {
        let to = match holder {
            Holder::Scope(s) => match self.scopes.get(&s).copied().unwrap_or(ScopeStatus::Live) {
                // A scope whose future was dropped reports what it is given to the hook.
                ScopeStatus::Live | ScopeStatus::Dropped => FaultState::Held(holder, kind),
                ScopeStatus::Done => {
                    for id in ids {
                        self.faults.insert(*id, FaultState::Lost);
                    }
                    self.violation(format!(
                        "faults {ids:?} were recorded in scope {s} after its future completed"
                    ));
                    return;
                }
            },
            _ => FaultState::Held(holder, kind),
        };
        for &id in ids {
            let doing = format!("was caught by {holder:?} as {kind:?}");
            if self.step(id, |s| s == FaultState::Flight, to, &doing) {
                if let Holder::Scope(s) = holder {
                    self.by_scope.entry(s).or_default().push(id);
                }
            }
        }
    }

    /// Failures in flight are dropped under `rule`.
    pub fn discarded(&mut self, ids: &[FaultId], rule: Rule) {
        for &id in ids {
            let doing = format!("was discarded ({rule:?})");
            self.step(
                id,
                |s| s == FaultState::Flight,
                FaultState::Discarded(rule),
                &doing,
            );
        }
    }

    /// The `JoinHandle` of plain task `task` delivered its panic: back in flight, with the code
    /// that awaited it.
    pub fn observed(&mut self, task: u64, ids: &[FaultId]) {
        for &id in ids {
            let doing = format!("was delivered by the JoinHandle of task {task}");
            self.step(
                id,
                |s| s == FaultState::Held(Holder::Task(task), Kind::Panic),
                FaultState::Flight,
                &doing,
            );
        }
    }

    /// The failure hook reported these failures.
    pub fn hooked(&mut self, ids: &[FaultId]) {
        for &id in ids {
            self.step(
                id,
                |s| {
                    matches!(
                        s,
                        FaultState::Held(Holder::Task(_) | Holder::Output, Kind::Panic)
                    )
                },
                FaultState::Reported(Channel::Hook),
                "was reported by the failure hook",
            );
        }
    }

    /// The failure hook reported these failures as undelivered by the scope that held them.
    pub fn scope_hooked(&mut self, ids: &[FaultId]) {
        for &id in ids {
            self.step(
                id,
                |s| matches!(s, FaultState::Held(Holder::Scope(_), _)),
                FaultState::Reported(Channel::Hook),
                "was reported by the failure hook as undelivered by its scope",
            );
        }
    }

    /// What the top of the run received.
    pub fn reported_top(&mut self, ids: &[FaultId]) {
        for &id in ids {
            self.step(
                id,
                |s| s == FaultState::Flight,
                FaultState::Reported(Channel::Top),
                "reached the top of the run",
            );
        }
    }

    /// A scope is created.
    pub fn scope_started(&mut self, scope: u64) {
        self.scopes.insert(scope, ScopeStatus::Live);
    }

    fn held_by(&self, scope: u64) -> Vec<(FaultId, Kind)> {
        let mut out = Vec::new();
        for id in self.by_scope.get(&scope).into_iter().flatten() {
            if let Some(FaultState::Held(Holder::Scope(s), k)) = self.faults.get(id) {
                if *s == scope {
                    out.push((*id, *k));
                }
            }
        }
        out
    }

    /// The scopes whose future has neither completed nor been dropped, oldest first.
    pub fn open_scopes(&self) -> Vec<u64> {
        let mut open: Vec<u64> = self
            .scopes
            .iter()
            .filter(|(_, s)| **s == ScopeStatus::Live)
            .map(|(n, _)| *n)
            .collect();
        open.sort_unstable();
        open
    }

    /// Scope `scope`'s future returned: everything it holds must be in what it returned.
    pub fn scope_returned(&mut self, scope: u64, end: End<'_>) {
        self.scopes.insert(scope, ScopeStatus::Done);
        let returned: &[FaultId] = match end {
            End::Ok => &[],
            End::Errors(ids) => ids,
        };
        for &id in returned {
            let doing = format!("was returned by scope {scope}");
            self.step(
                id,
                |s| s == FaultState::Held(Holder::Scope(scope), Kind::Error),
                FaultState::Flight,
                &doing,
            );
        }
        for (id, kind) in self.held_by(scope) {
            self.faults.insert(id, FaultState::Lost);
            self.violation(match kind {
                Kind::Error => format!("scope {scope} returned without its error fault #{id}"),
                Kind::Panic => format!(
                    "scope {scope} returned (errors {returned:?}) although fault #{id} panicked \
                     in it"
                ),
            });
        }
    }

    /// A panic with `ids` came out of scope `scope`'s future. Returns whether the scope
    /// completed by resuming it (else it is a fresh panic from inside the scope's poll passing
    /// through).
    pub fn scope_panicked(&mut self, scope: u64, ids: &[FaultId]) -> bool {
        let held = FaultState::Held(Holder::Scope(scope), Kind::Panic);
        if ids
            .iter()
            .all(|id| self.faults.get(id) == Some(&FaultState::Flight))
        {
            return false;
        }
        self.scopes.insert(scope, ScopeStatus::Done);
        for &id in ids {
            let doing = format!("was resumed by scope {scope}");
            self.step(id, |s| s == held, FaultState::Flight, &doing);
        }
        // The later panics went to the hook when recorded, the errors before the resume.
        for (id, kind) in self.held_by(scope) {
            self.faults.insert(id, FaultState::Lost);
            self.violation(format!(
                "scope {scope} resumed a panic without reporting its {kind:?} fault #{id}"
            ));
        }
        true
    }

    /// Scope `scope`'s future is dropped (after it completed, or before). Dropped before, it has
    /// handed what it held to the failure hook, and hands on what its children still record:
    /// anything left held at the end of the run is lost.
    pub fn scope_dropped(&mut self, scope: u64) {
        if self.scopes.get(&scope) == Some(&ScopeStatus::Done) {
            return;
        }
        self.scopes.insert(scope, ScopeStatus::Dropped);
    }

    /// The run is over: every failure must have reached its end.
    pub fn finish(&mut self) -> Summary {
        let mut summary = Summary::default();
        let mut lost = Vec::new();
        let mut ids: Vec<_> = self.faults.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            summary.faults += 1;
            match self.faults[&id] {
                FaultState::Reported(c) => *summary.reported.entry(c).or_default() += 1,
                FaultState::Discarded(r) => *summary.discarded.entry(r).or_default() += 1,
                FaultState::Lost => {}
                FaultState::Flight if self.late.contains(&id) => {
                    *summary.discarded.entry(Rule::RuntimeDrop).or_default() += 1
                }
                s => lost.push(format!("#{id} ({s:?})")),
            }
        }
        if !lost.is_empty() {
            let n = lost.len();
            lost.truncate(10);
            self.violation(format!(
                "{n} failure(s) were never reported: {}",
                lost.join(", ")
            ));
        }
        summary
    }
}
