//! A simulation's shared state: its hosts, which host each task belongs to, its choices, its
//! trace, its first failure and its network.
//!
//! Everything here is touched only by the simulation's thread (the runtime's tasks all run on
//! it), so the lock is never contended; it is a `Mutex` because the runtime's shared state,
//! which holds the world, must be `Sync`. Rules:
//!
//! 1. **Never held across a poll.** Each method takes the lock for its own bookkeeping and
//!    releases it before anything that can run user code or wake a task (a waker's `wake`
//!    pushes to the run queue and may drop a task, whose destructor may call back in here).
//! 2. **A task's host is decided at spawn**: the host of the task that spawned it, or the host
//!    the simulation is starting or restarting (`with_host`). The current host is set before
//!    each poll from the polled task's host, and is what the simulated sockets bind to. A task
//!    belongs to one *incarnation* of its host (the host's restart count at its spawn).
//! 4. **A crash is complete before anything else runs.** A task is *dead* once its host is down
//!    or restarted since its incarnation. A crash (and a spawn into a dead incarnation, from a
//!    dead task's destructor) raises `dead_pending`; the run loop then cancels every dead task
//!    and drops them all, repeating until none is left, before it picks the next task.
//! 3. **The trace is a fold of the events in order**: `(step, event)` pairs hashed with FNV-1a,
//!    so two runs have the same `trace_hash` exactly when they polled the same tasks in the
//!    same order and saw the same timer, network and fault events at the same steps.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::explore::{below, Explorer};
use super::net::Network;
use super::{FailureKind, SimError};
use crate::task::Id;

/// Index of a host in the world.
pub(crate) type HostId = usize;

/// What the simulation runs for a host, again at every restart.
pub(crate) type Factory =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// A host (server) or a client.
pub(crate) struct Host {
    pub(crate) name: String,
    /// `None` for a client, which runs once.
    pub(crate) factory: Option<Factory>,
    /// False between `crash` and `restart`.
    pub(crate) up: bool,
    /// Restarts so far: the current incarnation (rule 2).
    pub(crate) restarts: u32,
}

/// One entry of the trace (rule 3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Event {
    /// A task of a host was polled.
    Poll { task: Id, host: HostId },
    /// The clock jumped to the next timer or network event.
    Advance { to_ms: u64 },
    /// A network event (delivered segment, reset, ...), described by the network.
    Net(String),
    /// A fault or control action (crash, restart, partition, ...).
    Fault(String),
}

/// The world of one simulation; see the module docs.
pub(crate) struct World {
    state: Mutex<State>,
    /// Task ids handed out (they number the tasks of this simulation only).
    next_id: AtomicU64,
}

pub(crate) struct State {
    /// The virtual instant the simulation started, for elapsed times.
    start: Instant,
    pub(crate) explorer: Explorer,
    pub(crate) hosts: Vec<Host>,
    /// Each live task's host (rule 2).
    task_host: HashMap<Id, (HostId, u32)>,
    /// The host of the task being polled, or being started (rule 2).
    current: (HostId, u32),
    /// Dead tasks may be alive (rule 4).
    dead_pending: bool,
    /// Polls so far.
    pub(crate) step: u64,
    hash: u64,
    /// The last events, for failure reports.
    recent: VecDeque<(u64, Event)>,
    recent_cap: usize,
    failure: Option<(FailureKind, String)>,
    pub(crate) net: Network,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl World {
    pub(crate) fn new(explorer: Explorer, net: Network, recent_cap: usize) -> World {
        World {
            state: Mutex::new(State {
                start: Instant::now(),
                explorer,
                hosts: Vec::new(),
                task_host: HashMap::new(),
                current: (0, 0),
                dead_pending: false,
                step: 0,
                hash: FNV_OFFSET,
                recent: VecDeque::with_capacity(recent_cap),
                recent_cap,
                failure: None,
                net,
            }),
            next_id: AtomicU64::new(1),
        }
    }

    /// Starts the virtual time at the runtime clock's `now`.
    pub(crate) fn set_start(&self, now: Instant) {
        let mut st = self.lock();
        st.start = now;
        st.net.now = now;
    }

    /// The world's state (rule 1: never held across a poll or a wake).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug of this module; the state is still
        // consistent enough to report it, so ignore the poison.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of a task being spawned, which belongs to the current host (rule 2).
    pub(crate) fn next_task_id(&self) -> Id {
        let id = Id::simulated(self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut st = self.lock();
        let current = st.current;
        st.task_host.insert(id, current);
        if st.is_dead(current) {
            // Rule 4: spawned by a dead task's destructor; it goes with its host.
            st.dead_pending = true;
        }
        id
    }

    pub(crate) fn add_host(&self, name: &str, ip: IpAddr, factory: Option<Factory>) -> HostId {
        let mut st = self.lock();
        st.hosts.push(Host {
            name: name.to_owned(),
            factory,
            up: true,
            restarts: 0,
        });
        let id = st.hosts.len() - 1;
        st.net.add_host(id, ip);
        id
    }

    /// The host a name or address refers to.
    pub(crate) fn host_by_name(&self, name: &str) -> Option<HostId> {
        self.lock().hosts.iter().position(|h| h.name == name)
    }

    /// The host the current task belongs to (rule 2).
    pub(crate) fn current_host(&self) -> HostId {
        self.lock().current.0
    }

    /// Runs `f` as host `host` (tasks it spawns belong to `host`), then restores the current
    /// host (rule 2).
    pub(crate) fn with_host<R>(&self, host: HostId, f: impl FnOnce() -> R) -> R {
        let before = {
            let mut st = self.lock();
            let incarnation = (host, st.hosts[host].restarts);
            std::mem::replace(&mut st.current, incarnation)
        };
        let r = f();
        self.lock().current = before;
        r
    }

    /// Before polling `task`: makes its host current and records the poll (rules 2, 3).
    pub(crate) fn before_poll(&self, task: Id) {
        let mut st = self.lock();
        let current = st.task_host.get(&task).copied().unwrap_or((0, 0));
        let host = current.0;
        st.current = current;
        let step = st.step;
        st.record(step, Event::Poll { task, host });
        st.step += 1;
    }

    /// A task is gone: forget its host and priority.
    pub(crate) fn task_done(&self, task: Id) {
        let mut st = self.lock();
        st.task_host.remove(&task);
        st.explorer.forget(task);
    }

    /// Which of the `n` ready tasks runs next.
    pub(crate) fn pick(&self, n: usize, id: &dyn Fn(usize) -> Id) -> usize {
        let mut st = self.lock();
        let step = st.step;
        st.explorer.pick(n, step, id)
    }

    /// A draw from the simulation's choices (for the network's jitter and loss, faults).
    pub(crate) fn draw(&self) -> u64 {
        self.lock().explorer.draw()
    }

    /// A draw reduced to `0..n`.
    pub(crate) fn draw_below(&self, n: usize) -> usize {
        below(self.draw(), n)
    }

    /// Records an event in the trace (rule 3).
    pub(crate) fn record(&self, event: Event) {
        let mut st = self.lock();
        let step = st.step;
        st.record(step, event);
    }

    /// Records the first failure; later ones are ignored (the first is the one to replay).
    pub(crate) fn fail(&self, kind: FailureKind, message: String) {
        let mut st = self.lock();
        if st.failure.is_none() {
            st.failure = Some((kind, message));
        }
    }

    pub(crate) fn has_failed(&self) -> bool {
        self.lock().failure.is_some()
    }

    /// The virtual time since the start, given the runtime clock's `now`.
    pub(crate) fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.lock().start)
    }

    /// The error for the recorded failure, if any.
    pub(crate) fn take_failure(&self, seed: u64, elapsed: Duration) -> Option<SimError> {
        let mut st = self.lock();
        let (kind, message) = st.failure.take()?;
        Some(SimError(Box::new(super::SimErrorInner {
            kind,
            message,
            seed,
            strategy: st.explorer.strategy().clone(),
            step: st.step,
            virtual_elapsed: elapsed,
            recent: st.render_recent(),
            tape: st.explorer.tape().to_vec(),
            tape_file: None,
            shrunk_from: None,
            replay_hint: None,
        })))
    }

    /// Delivers the network events due at `now` (the clock just moved there), recording them
    /// in the trace; the wakers are woken by the caller, after the lock is released (rule 1).
    pub(crate) fn deliver_net(&self, now: Instant, wakers: &mut Vec<std::task::Waker>) {
        let mut st = self.lock();
        let st = &mut *st;
        let explorer = &mut st.explorer;
        st.net.deliver_due(now, wakers, &mut || explorer.draw());
        let step = st.step;
        for line in std::mem::take(&mut st.net.log) {
            st.record(step, Event::Net(line));
        }
    }

    /// Whether `task` is dead (rule 4).
    pub(crate) fn is_dead_task(&self, task: Id) -> bool {
        let st = self.lock();
        st.task_host.get(&task).is_some_and(|&t| st.is_dead(t))
    }

    /// Takes the flag that dead tasks may be alive (rule 4).
    pub(crate) fn take_dead_pending(&self) -> bool {
        std::mem::take(&mut self.lock().dead_pending)
    }

    /// A crash happened: dead tasks are alive (rule 4).
    pub(crate) fn set_dead_pending(&self) {
        self.lock().dead_pending = true;
    }

    pub(crate) fn summary(&self) -> (u64, u64, Vec<u64>) {
        let st = self.lock();
        (st.step, st.hash, st.explorer.tape().to_vec())
    }
}

impl State {
    /// Whether an incarnation is dead: its host is down, or restarted since (rule 4).
    fn is_dead(&self, (host, incarnation): (HostId, u32)) -> bool {
        self.hosts
            .get(host)
            .is_some_and(|h| !h.up || h.restarts != incarnation)
    }

    fn record(&mut self, step: u64, event: Event) {
        let mut h = fnv(self.hash, &step.to_le_bytes());
        h = match &event {
            Event::Poll { task, host } => {
                let h = fnv(h, &[1]);
                let h = fnv(h, &task.as_u64().to_le_bytes());
                fnv(h, &(*host as u64).to_le_bytes())
            }
            Event::Advance { to_ms } => fnv(fnv(h, &[2]), &to_ms.to_le_bytes()),
            Event::Net(s) => fnv(fnv(h, &[3]), s.as_bytes()),
            Event::Fault(s) => fnv(fnv(h, &[4]), s.as_bytes()),
        };
        self.hash = h;
        if self.recent_cap > 0 {
            if self.recent.len() == self.recent_cap {
                self.recent.pop_front();
            }
            self.recent.push_back((step, event));
        }
    }

    fn host_name(&self, h: HostId) -> &str {
        self.hosts.get(h).map_or("?", |h| &h.name)
    }

    fn render_recent(&self) -> Vec<String> {
        self.recent
            .iter()
            .map(|(step, e)| match e {
                Event::Poll { task, host } => format!(
                    "step {step}: poll task {} on {}",
                    task.as_u64() & !(1 << 62),
                    self.host_name(*host)
                ),
                Event::Advance { to_ms } => format!("step {step}: clock -> {to_ms} ms"),
                Event::Net(s) => format!("step {step}: net: {s}"),
                Event::Fault(s) => format!("step {step}: fault: {s}"),
            })
            .collect()
    }
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World").finish_non_exhaustive()
    }
}
