//! Slow-poll detection and the watchdog: naming the task that blocks a worker.
//!
//! # Design
//!
//! Timing every poll with `Instant::now()` would cost two clock reads per poll, about as much as
//! a whole `yield_now` round trip. Instead a poll only says what it is doing: it stores
//! `seq << 32 | task_key` in its worker's [`WorkerSlot`] before the user's poll (`seq` counts the
//! worker's polls) and `IDLE` after, then loads the slot's `mark` once. Three plain memory
//! operations on a cache line the worker owns; no clock, no pointer into the runtime.
//!
//! The **watchdog thread** does the timing. While the runtime is busy it wakes every quarter of
//! the smaller of the slow-poll threshold and the watchdog limit (2.5 ms by default), reads every
//! slot, and credits the real time since its previous tick to the poll it finds there (sampling:
//! an unbiased estimate of time in poll, exact to a tick for long polls). From that:
//!
//! - **reports need certainty**: the credit of a single poll can exceed its duration by up to
//!   the interval before its first sighting, so reports use a lower bound instead: the time
//!   since the poll was seen the second time (it has certainly been running since then);
//! - **the watchdog report**: a poll whose lower bound passes the watchdog limit is reported
//!   *while it is still stuck*, then again each time it doubles;
//! - **slow polls**: the watchdog writes the poll's credit into the slot's `mark`, flagged once
//!   the lower bound reaches the slow-poll threshold; the worker finds its own `seq` there when
//!   the poll returns, adds the credit to the task's time in poll, and reports the poll if
//!   flagged, with the task's name, spawn location, the worker and the duration;
//! - **preemption is not the task's fault**: on Linux the watchdog reads the worker thread's
//!   run-queue wait (`/proc/self/task/TID/schedstat`) while a poll lasts longer than a tick, and
//!   discounts the time the thread was ready but had no CPU. A task stuck in a blocking call or
//!   a long computation is reported; a worker the kernel preempted on an overloaded machine is
//!   not. A starved watchdog credits at most two periods per tick. The file is opened once per
//!   worker thread and then re-read in place (rule 4).
//!
//! # Protocol
//!
//! 1. **Slots.** Only a slot's worker writes `seq` and `current`; only the watchdog writes
//!    `mark`. A `mark` whose `seq` half is not the poll's own is ignored (its poll is gone), so a
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
//!    file of the thread last seen using it ([`SchedStat`], owned by the watchdog thread alone):
//!    opened the first time a poll on that slot lasts longer than a tick, read from offset 0
//!    with one `pread` at each later tick, reopened only when the slot's thread changes (the
//!    thread driving a current-thread runtime may) or a read fails, and closed when the
//!    watchdog exits. A long poll costs one `pread` per tick, not an open, a read and a close.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::runtime::RuntimeShared;
use crate::task::meta::TaskMeta;
use crate::task::Id;

/// Locks one of the watchdog's mutexes, ignoring poisoning (no user code runs under them).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The unit of credited time in a slot's `mark`.
pub(crate) const TICK: Duration = Duration::from_micros(100);
/// `mark`'s flag: the poll reached the slow-poll threshold.
const SLOW: u64 = 1 << 31;
/// `mark`'s credit bits, in `TICK`s.
const CREDIT: u64 = SLOW - 1;
/// A slot's value when its worker is not inside a poll.
const IDLE: u64 = u64::MAX;
/// The key standing for the future passed to `block_on` (not a task).
pub(crate) const MAIN_KEY: u32 = u32::MAX;
/// Ticks of the watchdog with every worker parked before it sleeps until woken (rule 2).
const DEEP_SLEEP_AFTER: u32 = 8;

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

/// The hook behind [`Builder::on_diagnostic`](crate::runtime::Builder::on_diagnostic).
pub(crate) type DiagnosticHook = Arc<dyn Fn(&Diagnostic) + Send + Sync>;

/// What the builder says about diagnostics.
#[derive(Clone)]
pub(crate) struct DiagConfig {
    pub(crate) enabled: bool,
    pub(crate) slow_poll: Duration,
    pub(crate) watchdog: Duration,
    pub(crate) hook: Option<DiagnosticHook>,
}

impl Default for DiagConfig {
    fn default() -> DiagConfig {
        DiagConfig {
            enabled: true,
            slow_poll: DEFAULT_SLOW_POLL,
            watchdog: DEFAULT_WATCHDOG,
            hook: None,
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
    current: AtomicU64,
    /// `seq << 32 | SLOW? | credit`: what the watchdog credited to poll `seq` so far.
    mark: AtomicU64,
    /// Odd while parked or not driven (rule 2); written only by the slot's worker.
    activity: AtomicU64,
    /// Where the future of the `block_on` driving a current-thread runtime was passed.
    main_location: AtomicPtr<Location<'static>>,
    /// The kernel's id of the thread using the slot (0 when unknown).
    tid: AtomicI32,
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
        let mark = self.mark.load(Ordering::Acquire);
        if (mark >> 32) as u32 == seq {
            Some(Credit(mark))
        } else {
            None
        }
    }

    /// Records the calling thread as the one using this slot.
    pub(crate) fn set_thread(&self) {
        self.tid.store(current_tid(), Ordering::Relaxed);
    }

    /// The worker starts driving (or returns from park): rule 2.
    pub(crate) fn busy(&self, diag: &Diag) {
        let a = self.activity.load(Ordering::Relaxed);
        if a & 1 == 1 {
            self.activity.store(a.wrapping_add(1), Ordering::SeqCst);
        }
        if diag.sleeping.load(Ordering::SeqCst) {
            diag.wake_watchdog();
        }
    }

    /// The worker parks or stops driving: rule 2.
    pub(crate) fn parked(&self) {
        let a = self.activity.load(Ordering::Relaxed);
        if a & 1 == 0 {
            self.activity.store(a.wrapping_add(1), Ordering::Release);
        }
    }

    /// Records where the `block_on` future being driven on this slot was passed.
    pub(crate) fn set_main_location(&self, loc: Option<&'static Location<'static>>) {
        let p = loc.map_or(std::ptr::null_mut(), |l| {
            l as *const Location<'static> as *mut Location<'static>
        });
        self.main_location.store(p, Ordering::Release);
    }

    fn main_location(&self) -> Option<&'static Location<'static>> {
        let p = self.main_location.load(Ordering::Acquire);
        // SAFETY: the pointer is null or was made from a `&'static Location` in
        // `set_main_location`, so it is valid for the whole program.
        unsafe { p.cast_const().as_ref() }
    }
}

/// What the watchdog credited to one poll.
#[derive(Clone, Copy)]
pub(crate) struct Credit(u64);

impl Credit {
    fn ticks(self) -> u32 {
        (self.0 & CREDIT) as u32
    }

    fn slow(self) -> bool {
        self.0 & SLOW != 0
    }
}

/// The watchdog thread's control block (rules 2 and 3).
struct Watchdog {
    /// True once the runtime shuts down.
    state: Mutex<bool>,
    cv: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The diagnostics of one runtime.
pub(crate) struct Diag {
    pub(crate) config: DiagConfig,
    /// One per worker (one for a current-thread runtime).
    pub(crate) slots: Box<[WorkerSlot]>,
    /// Set while the watchdog sleeps without a timeout (rule 2).
    sleeping: AtomicBool,
    watchdog: Watchdog,
    slow_polls: AtomicU64,
    stuck_reports: AtomicU64,
    /// Rule 4's files opened and read, for tests.
    #[cfg(test)]
    pub(crate) schedstat_counts: Arc<SchedStatCounts>,
}

impl Diag {
    pub(crate) fn new(config: DiagConfig, workers: usize) -> Diag {
        Diag {
            config,
            slots: (0..workers).map(WorkerSlot::new).collect(),
            sleeping: AtomicBool::new(false),
            watchdog: Watchdog {
                state: Mutex::new(false),
                cv: Condvar::new(),
                thread: Mutex::new(None),
            },
            slow_polls: AtomicU64::new(0),
            stuck_reports: AtomicU64::new(0),
            #[cfg(test)]
            schedstat_counts: Arc::default(),
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

    fn wake_watchdog(&self) {
        let _state = lock(&self.watchdog.state);
        if self.sleeping.swap(false, Ordering::SeqCst) {
            self.watchdog.cv.notify_one();
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

    /// The keys of the polls in progress, with their workers' indexes.
    pub(crate) fn running_keys(&self) -> Vec<(u32, usize)> {
        self.slots
            .iter()
            .filter_map(|s| {
                let v = s.current.load(Ordering::Acquire);
                (v != IDLE).then_some((v as u32, s.index))
            })
            .collect()
    }

    fn emit(&self, d: &Diagnostic) {
        #[cfg(feature = "tracing")]
        {
            let id = d.task.id.map(|i| i.as_u64());
            let name = d.task.name.as_deref();
            let location = d.task.location.map(ToString::to_string);
            let duration_ms = d.duration.as_millis() as u64;
            tracing::warn!(
                target: "tether::diagnostics",
                task_id = id,
                task_name = name,
                task_location = location.as_deref(),
                worker = d.worker,
                duration_ms = duration_ms,
                "{d}"
            );
        }
        match &self.config.hook {
            Some(hook) => {
                // A panicking hook must not take a worker (or the watchdog) down with it.
                let hook = std::panic::AssertUnwindSafe(|| hook(d));
                if std::panic::catch_unwind(hook).is_err() {
                    eprintln!("tether: the on_diagnostic hook panicked while reporting: {d}");
                }
            }
            None => eprintln!("{d}"),
        }
    }
}

/// Called by a task's poll wrapper when the watchdog credited its poll (rule 1).
#[cold]
pub(crate) fn poll_credited(slot: &WorkerSlot, meta: &TaskMeta, credit: Credit) {
    let total = meta.poll_ticks.load(Ordering::Relaxed);
    meta.poll_ticks
        .store(total.saturating_add(credit.ticks()), Ordering::Relaxed);
    if credit.slow() {
        let task = TaskRef {
            id: Some(meta.id),
            name: meta.name.clone(),
            location: Some(meta.location),
        };
        report_slow(&meta.shared.diag, slot, task, credit);
    }
}

/// Called by the current-thread scheduler when the watchdog credited a poll of the `block_on`
/// future.
#[cold]
pub(crate) fn main_poll_credited(diag: &Diag, slot: &WorkerSlot, credit: Credit) {
    if credit.slow() {
        let task = TaskRef {
            id: None,
            name: None,
            location: slot.main_location(),
        };
        report_slow(diag, slot, task, credit);
    }
}

/// Counts and emits a slow-poll report.
fn report_slow(diag: &Diag, slot: &WorkerSlot, task: TaskRef, credit: Credit) {
    diag.slow_polls.fetch_add(1, Ordering::Relaxed);
    diag.emit(&Diagnostic {
        kind: DiagnosticKind::SlowPoll,
        task,
        worker: slot.index,
        duration: TICK * credit.ticks(),
        waited: Duration::ZERO,
        threshold: diag.config.slow_poll,
        left_behind: false,
    });
}

/// Starts the watchdog thread of `rt` (if diagnostics are on).
pub(crate) fn start(
    rt: &crate::loom::sync::Arc<RuntimeShared>,
    thread_name: &str,
) -> std::io::Result<()> {
    if !rt.diag.config.enabled {
        return Ok(());
    }
    let rt2 = rt.clone();
    let handle = std::thread::Builder::new()
        .name(format!("{thread_name}-watchdog"))
        .spawn(move || watch(&rt2))?;
    *lock(&rt.diag.watchdog.thread) = Some(handle);
    Ok(())
}

/// Stops and joins the watchdog thread (rule 3).
pub(crate) fn stop(diag: &Diag) {
    *lock(&diag.watchdog.state) = true;
    diag.watchdog.cv.notify_all();
    let handle = lock(&diag.watchdog.thread).take();
    if let Some(h) = handle {
        if h.thread().id() != std::thread::current().id() {
            let _ = h.join();
        }
    }
}

/// The calling thread's kernel id (0 where there is none to read schedstat with).
fn current_tid() -> i32 {
    #[cfg(all(target_os = "linux", not(miri)))]
    {
        // SAFETY: `gettid` takes no arguments and cannot fail.
        unsafe { libc::gettid() }
    }
    #[cfg(not(all(target_os = "linux", not(miri))))]
    {
        0
    }
}

/// The schedstat file of one slot's thread, as the watchdog keeps it (rule 4).
struct SchedStat {
    /// The thread whose file `file` is (0: none yet).
    tid: i32,
    /// `/proc/self/task/{tid}/schedstat`, open; `None` until needed, or after a failed read.
    file: Option<std::fs::File>,
    /// The runtime's count of schedstat opens and reads, for tests.
    #[cfg(test)]
    counts: Arc<SchedStatCounts>,
}

/// Schedstat files opened and read by a runtime's watchdog (rule 4), for tests.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct SchedStatCounts {
    pub(crate) opens: AtomicU32,
    pub(crate) reads: AtomicU32,
}

impl SchedStat {
    fn new(_diag: &Diag) -> SchedStat {
        SchedStat {
            tid: 0,
            file: None,
            #[cfg(test)]
            counts: _diag.schedstat_counts.clone(),
        }
    }

    /// How long thread `tid` of this process has waited for a CPU while runnable, in
    /// nanoseconds (the second field of its schedstat); `None` where the kernel does not say.
    fn run_queue_wait(&mut self, tid: i32) -> Option<u64> {
        if tid == 0 || !cfg!(target_os = "linux") {
            return None;
        }
        if self.tid != tid || self.file.is_none() {
            self.tid = tid;
            self.file = std::fs::File::open(format!("/proc/self/task/{tid}/schedstat")).ok();
            #[cfg(test)]
            self.counts.opens.fetch_add(1, Ordering::Relaxed);
        }
        let file = self.file.as_ref()?;
        // Three decimal `u64`s with separators: at most 62 bytes.
        let mut buf = [0u8; 96];
        #[cfg(test)]
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
        let n = match read_at_start(file, &mut buf) {
            Ok(n) => n,
            Err(_) => {
                // Reopened at the next tick that needs it.
                self.file = None;
                return None;
            }
        };
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        text.split_whitespace().nth(1)?.parse().ok()
    }
}

/// Reads `file` from offset 0 into `buf` (one `pread`: a procfs file is generated whole at each
/// read from its start).
#[cfg(unix)]
fn read_at_start(file: &std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, 0)
}

#[cfg(not(unix))]
fn read_at_start(_file: &std::fs::File, _buf: &mut [u8]) -> std::io::Result<usize> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// What the watchdog remembers of one slot between ticks.
#[derive(Clone, Copy)]
struct Seen {
    /// The poll in progress at the last tick (`IDLE` if none).
    value: u64,
    /// Real time credited to it so far (the sampling estimate of its duration).
    credit: Duration,
    /// When it was seen the second time, and the thread's run-queue wait then: from there on
    /// it has certainly been running (or blocked), which gives a lower bound of its duration.
    second: Option<(Instant, Option<u64>)>,
    next_report: Duration,
    activity: u64,
}

impl Seen {
    fn new(value: u64, credit: Duration, limit: Duration, activity: u64) -> Seen {
        Seen {
            value,
            credit,
            second: None,
            next_report: limit,
            activity,
        }
    }
}

/// The watchdog thread's body; returns when the runtime shuts down (rule 3).
fn watch(rt: &RuntimeShared) {
    let diag = &rt.diag;
    let c = &diag.config;
    let period = (c.slow_poll.min(c.watchdog) / 4)
        .clamp(Duration::from_millis(1), Duration::from_millis(250));
    let (limit, slow) = (c.watchdog, c.slow_poll);
    let mut seen = vec![Seen::new(IDLE, Duration::ZERO, limit, 1); diag.slots.len()];
    // Rule 4: owned by this thread; the files close when it returns.
    let mut stats: Vec<SchedStat> = diag.slots.iter().map(|_| SchedStat::new(diag)).collect();
    let mut idle_ticks = 0u32;
    let mut last = Instant::now();
    loop {
        {
            let stop = lock(&diag.watchdog.state);
            if *stop {
                return;
            }
            let (stop, _) = diag
                .watchdog
                .cv
                .wait_timeout(stop, period)
                .unwrap_or_else(PoisonError::into_inner);
            if *stop {
                return;
            }
        }
        let now = Instant::now();
        // A starved watchdog credits at most two periods: it may under-report, never blame a
        // short poll for the time the watchdog itself could not run.
        let dt = (now - last).min(period * 2);
        last = now;
        let mut all_parked = true;
        for ((slot, seen), stat) in diag.slots.iter().zip(seen.iter_mut()).zip(&mut stats) {
            let activity = slot.activity.load(Ordering::SeqCst);
            if activity & 1 == 0 || activity != seen.activity {
                all_parked = false;
            }
            seen.activity = activity;
            let value = slot.current.load(Ordering::Acquire);
            if value == IDLE {
                seen.value = IDLE;
                continue;
            }
            if value == seen.value {
                seen.credit += dt;
            } else {
                *seen = Seen::new(value, dt, limit, activity);
            }
            // Reports need a lower bound of the poll's own time: the time since its second
            // sighting, less what the thread spent ready but without a CPU (module docs).
            let tid = slot.tid.load(Ordering::Relaxed);
            let (own, waited) = match seen.second {
                None if seen.credit > dt => {
                    seen.second = Some((now, stat.run_queue_wait(tid)));
                    (Duration::ZERO, Duration::ZERO)
                }
                None => (Duration::ZERO, Duration::ZERO),
                Some((t2, w2)) => {
                    let waited = match (w2, stat.run_queue_wait(tid)) {
                        (Some(w2), Some(w)) => Duration::from_nanos(w.saturating_sub(w2)),
                        _ => Duration::ZERO,
                    };
                    ((now - t2).saturating_sub(waited), waited)
                }
            };
            let credit = seen.credit.saturating_sub(waited);
            let ticks = (credit.as_nanos() / TICK.as_nanos()).min(u128::from(CREDIT as u32)) as u64;
            let flag = if own >= slow { SLOW } else { 0 };
            slot.mark
                .store((value >> 32) << 32 | flag | ticks, Ordering::Release);
            if own >= seen.next_report {
                report_stuck(rt, slot, value, seen.credit, waited);
                seen.next_report = seen.next_report.saturating_mul(2);
            }
        }
        idle_ticks = if all_parked { idle_ticks + 1 } else { 0 };
        if idle_ticks >= DEEP_SLEEP_AFTER {
            idle_ticks = 0;
            deep_sleep(diag, &seen);
            last = Instant::now();
        }
    }
}

/// Rule 2: sleeps until a worker leaves park (or shutdown), unless one already has.
fn deep_sleep(diag: &Diag, seen: &[Seen]) {
    let stop = lock(&diag.watchdog.state);
    diag.sleeping.store(true, Ordering::SeqCst);
    let moved = diag
        .slots
        .iter()
        .zip(seen)
        .any(|(slot, s)| slot.activity.load(Ordering::SeqCst) != s.activity);
    if moved || *stop {
        diag.sleeping.store(false, Ordering::SeqCst);
        return;
    }
    let _stop = diag
        .watchdog
        .cv
        .wait_while(stop, |stop| !*stop && diag.sleeping.load(Ordering::SeqCst))
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    diag.sleeping.store(false, Ordering::SeqCst);
}

#[cold]
fn report_stuck(
    rt: &RuntimeShared,
    slot: &WorkerSlot,
    value: u64,
    running: Duration,
    waited: Duration,
) {
    let key = value as u32;
    let task = if key == MAIN_KEY {
        Some(TaskRef {
            id: None,
            name: None,
            location: slot.main_location(),
        })
    } else {
        rt.registry
            .describe_key(key as usize)
            .map(|(id, name, location)| TaskRef {
                id: Some(id),
                name,
                location: Some(location),
            })
    };
    // Rule 1: the lookup names the stuck poll only if the slot did not move meanwhile.
    let Some(task) = task else { return };
    if slot.current.load(Ordering::Acquire) != value {
        return;
    }
    rt.diag.stuck_reports.fetch_add(1, Ordering::Relaxed);
    rt.diag.emit(&Diagnostic {
        kind: DiagnosticKind::StillRunning,
        task,
        worker: slot.index,
        duration: running,
        waited,
        threshold: rt.diag.config.watchdog,
        left_behind: false,
    });
}

/// Reports that worker `worker` had not stopped when the runtime's shutdown had waited `waited`
/// for it (limit `limit`): it was `left_behind`, or the shutdown waits on. Only a worker inside
/// a task's poll is reported, with that task (rule 1: the lookup counts only if the slot did not
/// move meanwhile); a worker between polls is on its way out.
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
    let value = slot.current.load(Ordering::Acquire);
    let key = value as u32;
    if value == IDLE || key == MAIN_KEY {
        return;
    }
    let Some((id, name, location)) = rt.registry.describe_key(key as usize) else {
        return;
    };
    if slot.current.load(Ordering::Acquire) != value {
        return;
    }
    rt.diag.emit(&Diagnostic {
        kind: DiagnosticKind::BlocksShutdown,
        task: TaskRef {
            id: Some(id),
            name,
            location: Some(location),
        },
        worker,
        duration: waited,
        waited: Duration::ZERO,
        threshold: limit,
        left_behind,
    });
}

/// Which task a [`Diagnostic`] is about.
#[derive(Clone, Debug)]
struct TaskRef {
    id: Option<Id>,
    name: Option<std::sync::Arc<str>>,
    location: Option<&'static Location<'static>>,
}

/// What a [`Diagnostic`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// A poll took longer than the slow-poll threshold; reported when it returned.
    SlowPoll,
    /// The watchdog found a poll still running after the watchdog limit (and again each time its
    /// duration doubles): the worker is blocked right now.
    StillRunning,
    /// A task's poll kept its worker from stopping when the runtime shut down: after
    /// `Runtime::shutdown_timeout`'s timeout the worker was left behind (its thread detached; it
    /// exits when the poll returns); while dropping the runtime, the drop had waited the
    /// watchdog limit for it and keeps waiting.
    BlocksShutdown,
}

/// A report about a task that blocked its worker, passed to
/// [`Builder::on_diagnostic`](crate::runtime::Builder::on_diagnostic) (printed to stderr by
/// default).
///
/// Its `Display` is one line that names the task, where it was spawned, the worker and the
/// duration, for example:
///
/// ```text
/// tether: task 12 "store" spawned at src/main.rs:12 has been running 250 ms on worker 1 without yielding (watchdog limit 100 ms)
/// ```
///
/// Durations are measured by the runtime's watchdog thread, to a quarter of the smaller of the
/// slow-poll threshold and the watchdog limit.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    kind: DiagnosticKind,
    task: TaskRef,
    worker: usize,
    duration: Duration,
    waited: Duration,
    threshold: Duration,
    /// `BlocksShutdown`: the shutdown gave up on the worker (rather than waiting on).
    left_behind: bool,
}

impl Diagnostic {
    /// What happened.
    pub fn kind(&self) -> DiagnosticKind {
        self.kind
    }

    /// The task's id; `None` for the future passed to `block_on`, which is not a task.
    pub fn task_id(&self) -> Option<Id> {
        self.task.id
    }

    /// The task's name, if it was given one.
    pub fn task_name(&self) -> Option<&str> {
        self.task.name.as_deref()
    }

    /// Where the task was spawned (for the `block_on` future: where `block_on` was called).
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.task.location
    }

    /// The worker the poll runs on (0 for a current-thread runtime).
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// How long the poll took ([`SlowPoll`](DiagnosticKind::SlowPoll)) or has been running so
    /// far ([`StillRunning`](DiagnosticKind::StillRunning)); for
    /// [`BlocksShutdown`](DiagnosticKind::BlocksShutdown), how long the shutdown had waited for
    /// the worker.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// For [`StillRunning`](DiagnosticKind::StillRunning) on Linux: how much of
    /// [`duration`](Diagnostic::duration) the worker thread spent ready to run but without a CPU
    /// (the machine is overloaded). That time does not count toward the watchdog limit. Zero
    /// otherwise.
    pub fn waited_for_cpu(&self) -> Duration {
        self.waited
    }

    /// The threshold that was crossed: the slow-poll threshold or the watchdog limit (for
    /// [`BlocksShutdown`](DiagnosticKind::BlocksShutdown): the shutdown's timeout, or the
    /// watchdog limit when dropping the runtime).
    pub fn threshold(&self) -> Duration {
        self.threshold
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tether: ")?;
        match self.task.id {
            Some(id) => {
                write!(f, "task {id}")?;
                if let Some(name) = &self.task.name {
                    write!(f, " {name:?}")?;
                }
                if let Some(loc) = self.task.location {
                    write!(f, " spawned at {loc}")?;
                }
            }
            None => {
                f.write_str("the future passed to block_on")?;
                if let Some(loc) = self.task.location {
                    write!(f, " at {loc}")?;
                }
            }
        }
        let ms = self.duration.as_secs_f64() * 1e3;
        let limit_ms = self.threshold.as_secs_f64() * 1e3;
        match self.kind {
            DiagnosticKind::SlowPoll => write!(
                f,
                " took {ms:.1} ms in one poll on worker {} (slow-poll threshold {limit_ms:.0} ms); \
                 move blocking work to spawn_blocking or yield with task::yield_now",
                self.worker
            ),
            DiagnosticKind::StillRunning => {
                write!(f, " has been running {ms:.0} ms on worker {}", self.worker)?;
                if self.waited >= Duration::from_millis(1) {
                    let waited_ms = self.waited.as_secs_f64() * 1e3;
                    write!(f, " ({waited_ms:.0} ms of it waiting for a CPU)")?;
                }
                write!(
                    f,
                    " without yielding (watchdog limit {limit_ms:.0} ms); every other task on \
                     that worker is waiting"
                )
            }
            DiagnosticKind::BlocksShutdown => {
                write!(f, " is still being polled on worker {}, which", self.worker)?;
                if self.left_behind {
                    write!(
                        f,
                        " did not stop within the shutdown timeout ({limit_ms:.0} ms); the \
                         runtime shut down without it, and the worker exits when the poll returns"
                    )
                } else {
                    write!(
                        f,
                        " has not stopped after {ms:.0} ms of shutdown (watchdog limit \
                         {limit_ms:.0} ms); dropping the runtime waits for it \
                         (Runtime::shutdown_timeout bounds the wait)"
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_diag() -> Diag {
        Diag::new(DiagConfig::default(), 1)
    }

    #[test]
    #[cfg_attr(miri, ignore = "reads /proc")]
    fn run_queue_wait_is_readable_for_this_thread() {
        let diag = test_diag();
        let mut stat = SchedStat::new(&diag);
        if cfg!(target_os = "linux") {
            assert!(stat.run_queue_wait(current_tid()).is_some());
        }
        assert_eq!(stat.run_queue_wait(0), None);
    }

    /// Rule 4: one open per thread, then reads in place; a new thread gets its own file.
    #[test]
    #[cfg_attr(miri, ignore = "reads /proc")]
    fn a_threads_schedstat_is_opened_once_and_reread_in_place() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let diag = test_diag();
        let counts = &diag.schedstat_counts;
        let mut stat = SchedStat::new(&diag);
        let me = current_tid();
        let mut last = 0;
        for _ in 0..5 {
            let w = stat.run_queue_wait(me).expect("readable");
            assert!(w >= last, "the run-queue wait never decreases");
            last = w;
        }
        assert_eq!(counts.opens.load(Ordering::Relaxed), 1);
        assert_eq!(counts.reads.load(Ordering::Relaxed), 5);
        let (tx, rx) = std::sync::mpsc::channel();
        let other = std::thread::spawn(move || {
            tx.send(current_tid()).unwrap();
            std::thread::park();
        });
        let tid = rx.recv().unwrap();
        assert!(stat.run_queue_wait(tid).is_some());
        assert!(stat.run_queue_wait(tid).is_some());
        assert_eq!(counts.opens.load(Ordering::Relaxed), 2);
        other.thread().unpark();
        other.join().unwrap();
    }

    /// Rule 4, end to end: a poll that blocks its worker for many watchdog ticks makes the
    /// watchdog open that worker's schedstat once, however many times it reads it. (It used
    /// to open, read and close the file at every tick.)
    #[test]
    #[cfg_attr(miri, ignore = "reads /proc")]
    fn the_watchdog_opens_a_stuck_workers_schedstat_once() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let rt = crate::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_diagnostic(|_| {})
            .build()
            .unwrap();
        let counts = rt.handle().shared.diag.schedstat_counts.clone();
        let c = counts.clone();
        rt.block_on(async move {
            crate::spawn(async move {
                // Blocks the worker (deliberately) until the watchdog has read its schedstat
                // 20 times, ten seconds at most.
                let deadline = Instant::now() + Duration::from_secs(10);
                while c.reads.load(Ordering::Relaxed) < 20 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .await
            .unwrap();
        });
        drop(rt);
        assert!(
            counts.reads.load(Ordering::Relaxed) >= 20,
            "the watchdog read it"
        );
        assert_eq!(counts.opens.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_report_says_how_long_the_worker_waited_for_a_cpu() {
        let d = Diagnostic {
            kind: DiagnosticKind::StillRunning,
            task: TaskRef {
                id: Some(Id::next()),
                name: Some("store".into()),
                location: Some(Location::caller()),
            },
            worker: 1,
            duration: Duration::from_millis(250),
            waited: Duration::from_millis(40),
            threshold: DEFAULT_WATCHDOG,
            left_behind: false,
        };
        let text = d.to_string();
        assert!(text.contains("\"store\" spawned at "), "{text}");
        assert!(
            text.contains("has been running 250 ms on worker 1 (40 ms of it waiting for a CPU)"),
            "{text}"
        );
        let quiet = Diagnostic {
            waited: Duration::ZERO,
            ..d
        };
        assert!(!quiet.to_string().contains("waiting for a CPU"));
    }
}
