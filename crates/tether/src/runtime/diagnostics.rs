//! Slow-poll detection and the watchdog: naming the task that blocks a worker.
//!
//! This file owns the bookkeeping around each poll: the per-worker [`WorkerSlot`]s (the
//! workers' side of rules 1, 2 and 5), the runtime's [`PollMonitor`] that holds them, and the
//! slow-poll and shutdown reports made from a worker. The watchdog thread, which times the polls
//! (its side of rules 1 to 5), is in `runtime/watchdog.rs`; the wrapper around the process's
//! panic hook (rule 5) in `runtime/panic_hook.rs`. The report itself, [`Diagnostic`], is in
//! `diag/diagnostic.rs`, and its delivery to the hook, `tracing` or stderr is the one reporting
//! path in `diag/report.rs`.
//!
//! # Design
//!
//! Timing every poll with `Instant::now()` would cost two clock reads per poll, about as much as
//! a whole `yield_now` round trip. Instead a poll only says what it is doing: it stores
//! `seq << 32 | task_key` in its worker's [`WorkerSlot`] before the user's poll (`seq` counts the
//! worker's polls) and `IDLE` after, then loads the slot's `mark` once. Three plain memory
//! operations on a cache line the worker owns; no clock, no pointer into the runtime.
//!
//! The **watchdog thread** does the timing. While the runtime is busy it wakes once per the
//! smaller of the slow-poll threshold and the watchdog limit (10 ms by default), reads every
//! slot, and credits the real time since its previous tick to the poll it finds there (sampling:
//! an unbiased estimate of time in poll, exact to a tick for long polls). Not more often: on a
//! machine whose cores are all busy (a server and its load generator on two cores), each
//! wake-up of this thread cost the workers far more than its own few microseconds: an HTTP
//! server's requests per second at 1,000 connections fell 20% with a wake-up every 2.5 ms, 15%
//! every 5 ms, and about 4% every 10 ms, against no watchdog (BENCHMARKS.md). From that:
//!
//! - **reports need certainty**: the credit of a single poll can exceed its duration by up to
//!   the interval before its first sighting, so reports use a lower bound instead: the time
//!   since the poll was first seen (a clock read just after the slot showed it: it has certainly
//!   been running since then). A poll longer than the threshold plus one period is always
//!   reported as slow; one between the threshold and that, when a tick happens to see it early
//!   enough;
//! - **the watchdog report**: a poll whose lower bound passes the watchdog limit is reported
//!   *while it is still stuck*, then again each time it doubles;
//! - **slow polls**: the watchdog writes the poll's credit into the slot's `mark`, flagged once
//!   the lower bound reaches the slow-poll threshold; the worker finds its own `seq` there when
//!   the poll returns, adds the credit to the task's time in poll, and reports the poll if
//!   flagged, with the task's name, spawn location, the worker and the duration;
//! - **preemption is not the task's fault**: on Linux the watchdog reads the worker thread's
//!   run-queue wait (`/proc/self/task/TID/schedstat`) when it first sees a poll and at each tick
//!   it sees it again, and discounts the time the thread was ready but had no CPU. A task stuck in a blocking call or
//!   a long computation is reported; a worker the kernel preempted on an overloaded machine is
//!   not. (Elsewhere there is no such file, chosen at compile time: the whole stall counts, so
//!   an overloaded macOS, FreeBSD or Windows machine can make a preempted poll look slow.) A
//!   starved watchdog credits at most two periods per tick. The file is opened once per
//!   worker thread and then re-read in place (rule 4);
//! - **the panic hook is not the task's code**: when a task panics, the process's panic hook
//!   runs inside the task's poll, before the unwinding reaches the poll wrapper's
//!   `catch_unwind`; with `RUST_BACKTRACE` set it prints a backtrace, which can take a second.
//!   The runtime's wrapper around the hook marks the slot while the hook runs (rule 5); the
//!   watchdog credits that time to the hook, not to the poll, and reports a hook that runs past
//!   the watchdog limit as what it is (`DiagnosticKind::SlowPanicHook`);
//! - **what the poll did**: a spawn made on a worker counts in its slot, so the report of a
//!   slow or stuck poll says how many tasks the poll spawned (a poll that spawns a million
//!   tasks takes a few hundred milliseconds: a true slow poll, reported as such).
//!
//! # Protocol
//!
//! 1. **Slots.** Only a slot's worker writes `seq` and `current` (the thread holding the
//!    worker: a helper while the worker is lent for `block_in_place`,
//!    `sched/multi_thread/lend.rs`); only the watchdog writes `mark`. A `mark` whose `seq` half is not the poll's own is ignored (its poll is gone), so a
//!    credit written after its poll returned is lost, never misattributed. The watchdog names the
//!    task by looking the key up in the registry and re-reading `current`: if it still holds the
//!    same value, the poll was in progress during the lookup, so the entry it found was that
//!    task's (a task's entry exists for as long as any of its polls runs).
//! 2. **No wake-ups when idle.** Each slot also counts park transitions (`activity`: odd while
//!    the worker is parked or nobody drives it). After `DEEP_SLEEP_AFTER` consecutive ticks in
//!    which every worker stayed parked, the watchdog sets `sleeping` (SeqCst), re-reads every
//!    `activity` (SeqCst) and, if none moved, waits on its condvar with no timeout. A worker
//!    leaving park stores its `activity` (SeqCst) and then loads `sleeping` (SeqCst); if set, it
//!    wakes the watchdog under the watchdog's lock. Of the two stores, one is seen by the other's
//!    load, so a busy worker is never left unwatched.
//! 3. **Shutdown.** The runtime's shutdown sets `shutdown` under the lock, notifies and joins the
//!    thread.
//! 4. **One schedstat file per worker thread.** The watchdog keeps, for each slot, the schedstat
//!    file of the thread last seen using it (`SchedStat` in `runtime/watchdog.rs`, owned by the
//!    watchdog thread alone): opened the first time a tick sees a poll on that slot, read from
//!    offset 0 with one `pread` at each later tick that sees one, reopened only when the slot's
//!    thread changes (the thread driving a current-thread runtime may) or a read fails, and
//!    closed when the watchdog exits. A busy worker costs one `pread` per tick, not an open, a
//!    read and a close.
//! 5. **The panic hook.** While the process's panic hook runs for a panic in a poll, the slot's
//!    `panic_hook` holds that poll's `current` value (`IDLE` otherwise); only the slot's own
//!    thread writes it (the hook runs on the panicking thread), before calling the hook and after
//!    it returns, and then records the hook's duration for that poll's `seq` (`last_hook_*`),
//!    which the poll wrapper reads once `catch_unwind` has returned the panic. The watchdog
//!    treats a slot whose `panic_hook` equals `current` as a phase of its own: no credit to the
//!    poll, no slow flag, no `StillRunning`; past the watchdog limit (and each doubling), a
//!    `SlowPanicHook` report. The poll's own lower bound resumes from where it was when the hook
//!    returns (the unwinding that follows runs the task's destructors, which are its code).
//! 6. **Blocking in place.** A poll that lends its worker for `block_in_place`
//!    (`sched/multi_thread/lend.rs` rule 2) releases the slot, which the helper thread writes
//!    from then on: the slot no longer shows that poll (so the watchdog never times it). While
//!    its closure runs, the task is listed instead in the monitor's `in_place` list with the
//!    index of the worker it lent ([`InPlaceGuard`], entered by `block_in_place` once the loan
//!    is made, removed when the closure returns or unwinds). A snapshot shows such a task as
//!    blocking (`running_keys` lists it under [`IN_PLACE`]), and a shutdown that finds that
//!    worker still running names it (`report_blocks_shutdown`): the lender's thread, stuck in
//!    the closure, is what keeps the worker's loop from ending. The lookup of its name follows
//!    rule 1: it counts only if the entry is still listed afterwards.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};
// std's, not the loom shim's: only `block_in_place` and the reports take it, on real threads
// that no loom model runs.
use std::sync::Mutex;
use std::time::Duration;

use super::watchdog::{self, Watchdog};
use crate::diag::{Diagnostic, DiagnosticKind, PanicTiming, TaskRef};
use crate::runtime::RuntimeShared;
use crate::task::meta::TaskMeta;

/// The unit of credited time in a slot's `mark`.
pub(crate) const TICK: Duration = Duration::from_micros(100);
/// `mark`'s flag: the poll reached the slow-poll threshold.
pub(super) const SLOW: u64 = 1 << 31;
/// `mark`'s credit bits, in `TICK`s.
pub(super) const CREDIT: u64 = SLOW - 1;
/// A slot's value when its worker is not inside a poll.
pub(super) const IDLE: u64 = u64::MAX;
/// The key standing for the future passed to `block_on` (not a task).
pub(crate) const MAIN_KEY: u32 = u32::MAX;
/// The worker index `running_keys` gives a task blocked in `block_in_place` (rule 6): it is in
/// a poll, but on no worker.
pub(crate) const IN_PLACE: usize = usize::MAX;

/// The default slow-poll threshold (under Miri, which runs code about a thousand times slower,
/// ten seconds, so that interpreted polls are not reported).
pub(crate) const DEFAULT_SLOW_POLL: Duration = if cfg!(miri) {
    Duration::from_secs(10)
} else {
    Duration::from_millis(10)
};
/// The default watchdog limit (ten seconds under Miri).
pub(crate) const DEFAULT_WATCHDOG: Duration = if cfg!(miri) {
    Duration::from_secs(10)
} else {
    Duration::from_millis(100)
};

/// What the builder says about diagnostics.
#[derive(Clone)]
pub(crate) struct DiagConfig {
    pub(crate) enabled: bool,
    pub(crate) slow_poll: Duration,
    pub(crate) watchdog: Duration,
}

impl Default for DiagConfig {
    fn default() -> DiagConfig {
        DiagConfig {
            enabled: true,
            slow_poll: DEFAULT_SLOW_POLL,
            watchdog: DEFAULT_WATCHDOG,
        }
    }
}

/// What one worker (or the thread driving a current-thread runtime) is doing (rule 1).
#[repr(align(128))]
pub(crate) struct WorkerSlot {
    pub(crate) index: usize,
    /// Polls started on this slot (wrapping); written only by its worker.
    seq: AtomicU32,
    /// `IDLE` or `seq << 32 | key` of the poll in progress.
    pub(super) current: AtomicU64,
    /// `seq << 32 | SLOW? | credit`: what the watchdog credited to poll `seq` so far.
    pub(super) mark: AtomicU64,
    /// Odd while parked or not driven (rule 2); written only by the slot's worker.
    pub(super) activity: AtomicU64,
    /// Where the future of the `block_on` driving a current-thread runtime was passed.
    main_location: AtomicPtr<Location<'static>>,
    /// The kernel's id of the thread using the slot (0 when unknown).
    pub(super) tid: AtomicI32,
    /// Tasks spawned by the thread using the slot since the last poll ended (so: by the poll in
    /// progress); written only by that thread, read by the watchdog.
    spawned: AtomicU64,
    /// Rule 5: the `current` value of the poll whose panic hook is running, `IDLE` otherwise;
    /// written only by the slot's thread.
    pub(super) panic_hook: AtomicU64,
    /// Rule 5: the `seq` of the poll whose panic hook ran last, and how long it ran (ns); used
    /// only by the slot's thread.
    last_hook_seq: AtomicU32,
    last_hook_nanos: AtomicU64,
    /// The live console's per-poll timing and park time, gathered only while a viewer watches
    /// (`console/probe.rs`).
    #[cfg(feature = "console")]
    pub(crate) console: crate::console::probe::SlotProbe,
}

impl WorkerSlot {
    fn new(index: usize) -> WorkerSlot {
        WorkerSlot {
            index,
            seq: AtomicU32::new(0),
            current: AtomicU64::new(IDLE),
            mark: AtomicU64::new(0),
            activity: AtomicU64::new(1),
            main_location: AtomicPtr::new(std::ptr::null_mut()),
            tid: AtomicI32::new(0),
            spawned: AtomicU64::new(0),
            panic_hook: AtomicU64::new(IDLE),
            last_hook_seq: AtomicU32::new(0),
            last_hook_nanos: AtomicU64::new(0),
            #[cfg(feature = "console")]
            console: Default::default(),
        }
    }

    /// A poll of the task at `key` starts; returns its sequence number.
    #[inline]
    pub(crate) fn begin(&self, key: u32) -> u32 {
        let seq = self.seq.load(Ordering::Relaxed).wrapping_add(1);
        self.seq.store(seq, Ordering::Relaxed);
        self.current
            .store(u64::from(seq) << 32 | u64::from(key), Ordering::Release);
        seq
    }

    /// Poll `seq` returned; returns what the watchdog credited to it, if anything (rule 1).
    #[inline]
    pub(crate) fn end(&self, seq: u32) -> Option<Credit> {
        self.current.store(IDLE, Ordering::Release);
        let spawned = self.spawned.load(Ordering::Relaxed);
        if spawned != 0 {
            self.spawned.store(0, Ordering::Relaxed);
        }
        let mark = self.mark.load(Ordering::Acquire);
        if (mark >> 32) as u32 == seq {
            Some(Credit { mark, spawned })
        } else {
            None
        }
    }

    /// The thread using this slot spawned a task.
    #[inline]
    pub(crate) fn spawned_one(&self) {
        let n = self.spawned.load(Ordering::Relaxed);
        self.spawned.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    /// Rule 5: the panic hook starts on this slot's thread. Returns false (and marks nothing)
    /// outside a poll.
    pub(crate) fn enter_panic_hook(&self) -> bool {
        let current = self.current.load(Ordering::Relaxed);
        if current == IDLE {
            return false;
        }
        self.panic_hook.store(current, Ordering::Release);
        true
    }

    /// Rule 5: the panic hook marked by `enter_panic_hook` returned after `took`.
    pub(crate) fn leave_panic_hook(&self, took: Duration) {
        let current = self.panic_hook.swap(IDLE, Ordering::Release);
        self.last_hook_seq
            .store((current >> 32) as u32, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.last_hook_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Rule 5: how poll `seq`, which ended in a panic, was timed: without the panic hook's time
    /// if the runtime's wrapper saw the hook run during it.
    pub(crate) fn panic_timing(&self, seq: u32) -> PanicTiming {
        if self.last_hook_seq.load(Ordering::Relaxed) == seq {
            let nanos = self.last_hook_nanos.load(Ordering::Relaxed);
            PanicTiming::HookExcluded(Duration::from_nanos(nanos))
        } else {
            PanicTiming::HookIncluded
        }
    }

    /// Tasks spawned so far by the poll in progress (read by the watchdog).
    pub(super) fn spawned_so_far(&self) -> u64 {
        self.spawned.load(Ordering::Relaxed)
    }

    /// The worker's thread lets go of the slot in the middle of a poll, to lend it to a helper
    /// thread (`sched/multi_thread/lend.rs`): the poll in progress is no longer timed. Only the
    /// slot's writer calls it (rule 1); the helper writes the slot from then on.
    pub(crate) fn release(&self) {
        self.current.store(IDLE, Ordering::Release);
    }

    /// The key of the task whose poll is in progress on this slot, if a task's (not the
    /// `block_on` future's). Read by the slot's own thread (rule 6).
    fn polling_key(&self) -> Option<u32> {
        let value = self.current.load(Ordering::Relaxed);
        let key = value as u32;
        (value != IDLE && key != MAIN_KEY).then_some(key)
    }

    /// Records the calling thread as the one using this slot.
    pub(crate) fn set_thread(&self) {
        self.tid.store(watchdog::current_tid(), Ordering::Relaxed);
    }

    /// The worker starts driving (or returns from park): rule 2.
    pub(crate) fn busy(&self, monitor: &PollMonitor) {
        #[cfg(feature = "console")]
        self.console.park_end();
        let a = self.activity.load(Ordering::Relaxed);
        if a & 1 == 1 {
            self.activity.store(a.wrapping_add(1), Ordering::SeqCst);
        }
        if monitor.watchdog.sleeping.load(Ordering::SeqCst) {
            monitor.watchdog.wake();
        }
    }

    /// The worker parks or stops driving: rule 2.
    pub(crate) fn parked(&self) {
        #[cfg(feature = "console")]
        self.console.park_begin();
        let a = self.activity.load(Ordering::Relaxed);
        if a & 1 == 0 {
            self.activity.store(a.wrapping_add(1), Ordering::Release);
        }
    }

    /// The worker parked by [`parked`](WorkerSlot::parked) waits in the reactor (for the live
    /// console's utilisation; nothing without the `console` feature).
    #[inline]
    pub(crate) fn parks_in_reactor(&self) {
        #[cfg(feature = "console")]
        self.console.in_reactor();
    }

    /// Whether the slot's worker is parked or not driven (rule 2), as the console reads it.
    #[cfg(feature = "console")]
    pub(crate) fn is_parked(&self) -> bool {
        self.activity.load(Ordering::Relaxed) & 1 == 1
    }

    /// Records where the `block_on` future being driven on this slot was passed.
    pub(crate) fn set_main_location(&self, loc: Option<&'static Location<'static>>) {
        let p = loc.map_or(std::ptr::null_mut(), |l| {
            l as *const Location<'static> as *mut Location<'static>
        });
        self.main_location.store(p, Ordering::Release);
    }

    pub(super) fn main_location(&self) -> Option<&'static Location<'static>> {
        let p = self.main_location.load(Ordering::Acquire);
        // SAFETY: the pointer is null or was made from a `&'static Location` in
        // `set_main_location`, so it is valid for the whole program.
        unsafe { p.cast_const().as_ref() }
    }
}

/// What the watchdog credited to one poll, and how many tasks the poll spawned.
#[derive(Clone, Copy)]
pub(crate) struct Credit {
    mark: u64,
    spawned: u64,
}

impl Credit {
    fn ticks(self) -> u32 {
        (self.mark & CREDIT) as u32
    }

    pub(crate) fn slow(self) -> bool {
        self.mark & SLOW != 0
    }

    /// The time credited to the poll (exact to a watchdog period for a slow one).
    #[cfg(feature = "console")]
    pub(crate) fn duration(self) -> Duration {
        TICK * self.ticks()
    }
}

/// The poll monitoring of one runtime: the slots its workers publish their polls in, the
/// watchdog thread that times them, and the count of reports made.
pub(crate) struct PollMonitor {
    pub(crate) config: DiagConfig,
    /// One per worker (one for a current-thread runtime).
    pub(crate) slots: Box<[WorkerSlot]>,
    /// The watchdog thread's control block (rules 2 to 4).
    pub(super) watchdog: Watchdog,
    slow_polls: AtomicU64,
    pub(super) stuck_reports: AtomicU64,
    /// Rule 6: the tasks blocked in `block_in_place` after lending their worker, as
    /// `(task key, worker index)`. Holding the lock means the list is ours to read or change;
    /// it is taken twice per loan and by the rare reports and snapshots, never in a poll's
    /// hot path.
    in_place: Mutex<Vec<(u32, usize)>>,
    /// The time in poll the watchdog credited to each task, in `TICK`s (saturating), by task
    /// id: the few tasks whose polls it ever timed, which `TaskMeta::mark_credited` flags; an
    /// entry goes when its task leaves the registry (`task/meta.rs` rule 3). Taken by a credited
    /// poll's end, by such a task's removal and by snapshots, never in a poll's hot path.
    pub(super) credited: Mutex<HashMap<u64, u32>>,
}

/// How many credited tasks the table holds before it first grows (about 1.5 KiB a runtime).
const CREDITED_PRESIZED: usize = 64;

/// The time in poll of the tasks of a snapshot (`PollMonitor::busy_times`).
pub(crate) struct BusyTimes {
    ticks: HashMap<u64, u32>,
    tick: Duration,
}

impl BusyTimes {
    /// No task credited with time (for the registry's tests, which loom builds leave out).
    #[cfg(all(test, not(tether_loom)))]
    pub(crate) fn none() -> BusyTimes {
        BusyTimes {
            ticks: HashMap::new(),
            tick: TICK,
        }
    }

    /// The time in poll credited to the task `id`.
    pub(crate) fn of(&self, id: crate::task::Id) -> Duration {
        self.tick * self.ticks.get(&id.as_u64()).copied().unwrap_or(0)
    }
}

impl PollMonitor {
    pub(crate) fn new(config: DiagConfig, workers: usize) -> PollMonitor {
        PollMonitor {
            config,
            slots: (0..workers).map(WorkerSlot::new).collect(),
            watchdog: Watchdog::new(),
            slow_polls: AtomicU64::new(0),
            stuck_reports: AtomicU64::new(0),
            in_place: Mutex::new(Vec::new()),
            // Sized up front, so that a credit (at the end of a poll the watchdog timed)
            // allocates nothing until many tasks are credited at once.
            credited: Mutex::new(HashMap::with_capacity(CREDITED_PRESIZED)),
        }
    }

    /// Credits the task `meta` with `ticks` more of time in poll.
    fn credit(&self, meta: &TaskMeta, ticks: u32) {
        let mut credited = crate::loom::lock(&self.credited);
        let total = credited.entry(meta.id.as_u64()).or_insert(0);
        *total = total.saturating_add(ticks);
        // Under the lock: a removal that sees the flag finds the entry.
        meta.mark_credited();
    }

    /// Forgets the time credited to the task `meta`, which left the registry (called when
    /// `meta.is_credited()`).
    #[cold]
    pub(crate) fn forget_credit(&self, meta: &TaskMeta) {
        crate::loom::lock(&self.credited).remove(&meta.id.as_u64());
    }

    /// The time in poll credited to every task so far, for a snapshot.
    pub(crate) fn busy_times(&self) -> BusyTimes {
        BusyTimes {
            ticks: crate::loom::lock(&self.credited).clone(),
            tick: TICK,
        }
    }

    /// The slot of worker `index`, when diagnostics are on.
    pub(crate) fn slot(&self, index: usize) -> Option<&WorkerSlot> {
        if self.config.enabled {
            self.slots.get(index)
        } else {
            None
        }
    }

    /// Slow polls reported so far.
    pub(crate) fn slow_polls(&self) -> u64 {
        self.slow_polls.load(Ordering::Relaxed)
    }

    /// Watchdog reports so far.
    pub(crate) fn stuck_reports(&self) -> u64 {
        self.stuck_reports.load(Ordering::Relaxed)
    }

    /// The keys of the polls in progress, with their workers' indexes; a task blocked in
    /// `block_in_place` with [`IN_PLACE`] for its worker (rule 6).
    pub(crate) fn running_keys(&self) -> Vec<(u32, usize)> {
        let mut keys: Vec<(u32, usize)> = self
            .slots
            .iter()
            .filter_map(|s| {
                let v = s.current.load(Ordering::Acquire);
                (v != IDLE).then_some((v as u32, s.index))
            })
            .collect();
        keys.extend(
            crate::loom::lock(&self.in_place)
                .iter()
                .map(|&(key, _)| (key, IN_PLACE)),
        );
        keys
    }

    /// The keys of the tasks blocked in `block_in_place` that lent worker `worker` (rule 6).
    fn in_place_on(&self, worker: usize) -> Vec<u32> {
        crate::loom::lock(&self.in_place)
            .iter()
            .filter(|&&(_, w)| w == worker)
            .map(|&(key, _)| key)
            .collect()
    }

    /// Whether the task `key` is still listed as blocked in place on `worker` (rule 6).
    fn is_in_place(&self, key: u32, worker: usize) -> bool {
        crate::loom::lock(&self.in_place).contains(&(key, worker))
    }
}

/// What `block_in_place` notes before it lends its worker (rule 6): the runtime, the worker and
/// the task whose poll lends it.
pub(crate) struct Lending {
    handle: crate::runtime::Handle,
    worker: usize,
    key: u32,
}

impl Lending {
    /// On a worker's thread (with diagnostics on) inside a task's poll, what that poll would lend;
    /// `None` elsewhere.
    pub(crate) fn before() -> Option<Lending> {
        let slot = crate::task::current::slot();
        if slot.is_null() {
            return None;
        }
        let handle = crate::runtime::context::current_handle()?;
        // The thread's slot is one of its runtime's (not a runtime entered with
        // `Handle::enter` inside the poll): found by address, no pointer is dereferenced.
        let s = handle
            .shared
            .diag
            .slots
            .iter()
            .find(|s| std::ptr::eq(*s, slot))?;
        let (worker, key) = (s.index, s.polling_key()?);
        Some(Lending {
            handle,
            worker,
            key,
        })
    }

    /// Lists the task as blocked in place if the worker was lent (the loan clears this thread's
    /// slot pointer; `lend.rs` rule 2), until the guard drops.
    pub(crate) fn lent(self) -> Option<InPlaceGuard> {
        if !crate::task::current::slot().is_null() {
            return None;
        }
        let entry = (self.key, self.worker);
        crate::loom::lock(&self.handle.shared.diag.in_place).push(entry);
        Some(InPlaceGuard {
            handle: self.handle,
            entry,
        })
    }
}

/// Keeps a task listed as blocked in place (rule 6) until dropped.
pub(crate) struct InPlaceGuard {
    handle: crate::runtime::Handle,
    entry: (u32, usize),
}

impl Drop for InPlaceGuard {
    fn drop(&mut self) {
        let mut list = crate::loom::lock(&self.handle.shared.diag.in_place);
        if let Some(i) = list.iter().position(|e| *e == self.entry) {
            list.swap_remove(i);
        }
    }
}

/// Called by a task's poll wrapper when the watchdog credited its poll (rule 1); `panic` says
/// how a poll that ended in a panic was timed (rule 5).
#[cold]
pub(crate) fn poll_credited(
    slot: &WorkerSlot,
    meta: &TaskMeta,
    credit: Credit,
    panic: Option<PanicTiming>,
) {
    meta.shared().diag.credit(meta, credit.ticks());
    if credit.slow() {
        let task = TaskRef {
            id: Some(meta.id),
            name: meta.name().cloned(),
            location: Some(meta.location()),
        };
        report_slow(meta.shared(), slot, task, credit, panic);
    }
}

/// Called by the current-thread scheduler when the watchdog credited a poll of the `block_on`
/// future.
#[cold]
pub(crate) fn main_poll_credited(rt: &RuntimeShared, slot: &WorkerSlot, credit: Credit) {
    if credit.slow() {
        let task = TaskRef {
            id: None,
            name: None,
            location: slot.main_location(),
        };
        report_slow(rt, slot, task, credit, None);
    }
}

/// Counts and reports a slow poll.
fn report_slow(
    rt: &RuntimeShared,
    slot: &WorkerSlot,
    task: TaskRef,
    credit: Credit,
    panic: Option<PanicTiming>,
) {
    rt.diag.slow_polls.fetch_add(1, Ordering::Relaxed);
    rt.report(&Diagnostic {
        worker: slot.index,
        duration: TICK * credit.ticks(),
        threshold: rt.diag.config.slow_poll,
        spawned: credit.spawned,
        panic,
        ..Diagnostic::new(DiagnosticKind::SlowPoll, task)
    });
}

/// Reports that worker `worker` had not stopped when the runtime's shutdown had waited `waited`
/// for it (limit `limit`): it was `left_behind`, or the shutdown waits on. Only a worker inside
/// a task's poll is reported, with that task (rule 1: the lookup counts only if the slot did not
/// move meanwhile), or one lent by a task blocked in `block_in_place`, with that task (rule 6);
/// a worker between polls is on its way out.
#[cold]
pub(crate) fn report_blocks_shutdown(
    rt: &RuntimeShared,
    worker: usize,
    waited: Duration,
    limit: Duration,
    left_behind: bool,
) {
    let Some(slot) = rt.diag.slot(worker) else {
        return;
    };
    let report = |task: TaskRef| {
        rt.report(&Diagnostic {
            worker,
            duration: waited,
            threshold: limit,
            left_behind,
            ..Diagnostic::new(DiagnosticKind::BlocksShutdown, task)
        });
    };
    let value = slot.current.load(Ordering::Acquire);
    if value != IDLE && value as u32 != MAIN_KEY {
        if let Some(task) = describe(rt, value as u32) {
            if slot.current.load(Ordering::Acquire) == value {
                report(task);
            }
        }
    }
    for key in rt.diag.in_place_on(worker) {
        if let Some(task) = describe(rt, key) {
            if rt.diag.is_in_place(key, worker) {
                report(task);
            }
        }
    }
}

/// The task with the diagnostics key `key`, as a report names it (the caller checks that the
/// poll it looked for was in progress throughout: rules 1 and 6).
fn describe(rt: &RuntimeShared, key: u32) -> Option<TaskRef> {
    let (id, name, location) = rt.registry.describe_key(key)?;
    Some(TaskRef {
        id: Some(id),
        name,
        location: Some(location),
    })
}
