//! The watchdog thread: times the polls the workers publish in their slots, credits them, reports
//! a poll still running past the watchdog limit (or a panic hook that holds a worker that long),
//! flags slow polls for their workers to report, prints the reporting path's counts of
//! suppressed reports when they are due, and sleeps without a timeout while every worker is
//! parked.
//!
//! It implements the watchdog's side of rules 1 to 5 of the protocol in
//! `runtime/diagnostics.rs`, whose module docs explain the design (sampling, lower bounds, the
//! run-queue wait discount); the slots and the workers' side are there.

use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(test)]
use std::sync::{atomic::AtomicU32, Arc};
// std's primitives, not the loom shim's: the watchdog is a real thread that no loom model runs
// (see `crate::loom`).
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::diagnostics::{PollMonitor, WorkerSlot, CREDIT, IDLE, MAIN_KEY, SLOW, TICK};
use crate::diag::{Diagnostic, DiagnosticKind, TaskRef};
use crate::loom::lock;
use crate::runtime::RuntimeShared;

/// Ticks of the watchdog with every worker parked before it sleeps until woken (rule 2).
const DEEP_SLEEP_AFTER: u32 = 8;

/// The watchdog thread's control block (rules 2 to 4).
pub(crate) struct Watchdog {
    /// True once the runtime shuts down.
    state: Mutex<bool>,
    cv: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Set while the watchdog sleeps without a timeout (rule 2).
    pub(super) sleeping: AtomicBool,
    /// Rule 4's files opened and read, for tests.
    #[cfg(test)]
    pub(crate) schedstat_counts: Arc<SchedStatCounts>,
    /// Ticks made (wake-ups that read the slots), for tests.
    #[cfg(test)]
    pub(crate) ticks: Arc<AtomicU32>,
}

impl Watchdog {
    pub(super) fn new() -> Watchdog {
        Watchdog {
            state: Mutex::new(false),
            cv: Condvar::new(),
            thread: Mutex::new(None),
            sleeping: AtomicBool::new(false),
            #[cfg(test)]
            schedstat_counts: Arc::default(),
            #[cfg(test)]
            ticks: Arc::default(),
        }
    }

    /// Wakes the watchdog from its sleep without a timeout (rule 2).
    pub(super) fn wake(&self) {
        let _state = lock(&self.state);
        if self.sleeping.swap(false, Ordering::SeqCst) {
            self.cv.notify_one();
        }
    }
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
pub(crate) fn stop(monitor: &PollMonitor) {
    *lock(&monitor.watchdog.state) = true;
    monitor.watchdog.cv.notify_all();
    let handle = lock(&monitor.watchdog.thread).take();
    if let Some(h) = handle {
        if h.thread().id() != std::thread::current().id() {
            let _ = h.join();
        }
    }
}

/// The calling thread's kernel id (0 where there is none to read schedstat with).
pub(super) fn current_tid() -> i32 {
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

/// The schedstat file of one slot's thread, as the watchdog keeps it (rule 4). Linux only: on
/// other systems it holds nothing and `run_queue_wait` says `None` (no discount).
struct SchedStat {
    /// The thread whose file `file` is (0: none yet).
    #[cfg(target_os = "linux")]
    tid: i32,
    /// `/proc/self/task/{tid}/schedstat`, open; `None` until needed, or after a failed read.
    #[cfg(target_os = "linux")]
    file: Option<std::fs::File>,
    /// The runtime's count of schedstat opens and reads, for tests.
    #[cfg(all(test, target_os = "linux"))]
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
    fn new(_watchdog: &Watchdog) -> SchedStat {
        SchedStat {
            #[cfg(target_os = "linux")]
            tid: 0,
            #[cfg(target_os = "linux")]
            file: None,
            #[cfg(all(test, target_os = "linux"))]
            counts: _watchdog.schedstat_counts.clone(),
        }
    }

    /// How long thread `tid` of this process has waited for a CPU while runnable, in
    /// nanoseconds (the second field of its schedstat); `None` where the kernel does not say.
    #[cfg(target_os = "linux")]
    fn run_queue_wait(&mut self, tid: i32) -> Option<u64> {
        if tid == 0 {
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

    /// No schedstat outside Linux (`/proc/self/task/TID/schedstat` is Linux's): the watchdog
    /// cannot tell preemption from a stuck task, and counts the whole stall against the task.
    #[cfg(not(target_os = "linux"))]
    fn run_queue_wait(&mut self, _tid: i32) -> Option<u64> {
        None
    }
}

/// Reads `file` from offset 0 into `buf` (one `pread`: a procfs file is generated whole at each
/// read from its start).
#[cfg(target_os = "linux")]
fn read_at_start(file: &std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, 0)
}

/// What the watchdog remembers of one slot between ticks.
///
/// A poll has phases: its own code, and, when it panics, the panic hook (rule 5), after which
/// its own code (the unwinding through its destructors) resumes. Lower bounds are measured per
/// phase from the phase's first sighting; the poll's own lower bound adds up its code phases.
#[derive(Clone, Copy)]
struct Seen {
    /// The poll in progress at the last tick (`IDLE` if none).
    value: u64,
    /// Real time credited to the poll's own code so far (the sampling estimate of its duration,
    /// without the panic hook's time).
    credit: Duration,
    /// Real time credited to the current phase.
    phase_credit: Duration,
    /// A clock read taken just after the slot first showed the current phase, and the
    /// thread's run-queue wait then: from there on the phase has certainly been running (or
    /// blocked), which gives a lower bound. `None` until the phase is first seen.
    since: Option<(Instant, Option<u64>)>,
    /// The lower bound of the current phase at the last tick, and the run-queue wait in it.
    phase_own: Duration,
    phase_waited: Duration,
    /// The lower bound of the poll's own code phases that ended, and their run-queue wait.
    own_before: Duration,
    waited_before: Duration,
    /// The poll's own lower bound that makes the next `StillRunning` report.
    next_report: Duration,
    /// `Some` while the poll is in the panic hook: the bound of the next `SlowPanicHook` report.
    hook_next_report: Option<Duration>,
    activity: u64,
}

impl Seen {
    fn new(value: u64, limit: Duration, activity: u64) -> Seen {
        Seen {
            value,
            credit: Duration::ZERO,
            phase_credit: Duration::ZERO,
            since: None,
            phase_own: Duration::ZERO,
            phase_waited: Duration::ZERO,
            own_before: Duration::ZERO,
            waited_before: Duration::ZERO,
            next_report: limit,
            hook_next_report: None,
            activity,
        }
    }

    /// The poll entered (`in_hook`) or left the panic hook (rule 5).
    fn switch_phase(&mut self, in_hook: bool, limit: Duration) {
        if in_hook {
            self.own_before += self.phase_own;
            self.waited_before += self.phase_waited;
            self.hook_next_report = Some(limit);
        } else {
            self.hook_next_report = None;
        }
        self.phase_credit = Duration::ZERO;
        self.since = None;
        self.phase_own = Duration::ZERO;
        self.phase_waited = Duration::ZERO;
    }
}

/// The watchdog thread's body; returns when the runtime shuts down (rule 3).
fn watch(rt: &RuntimeShared) {
    let monitor = &rt.diag;
    let c = &monitor.config;
    // Once per threshold, not more often: each wake-up of this thread costs the busy workers
    // far more than its own few microseconds (module docs of `runtime/diagnostics.rs`).
    let period = c
        .slow_poll
        .min(c.watchdog)
        .clamp(Duration::from_millis(1), Duration::from_millis(250));
    let (limit, slow) = (c.watchdog, c.slow_poll);
    let mut seen = vec![Seen::new(IDLE, limit, 1); monitor.slots.len()];
    // Rule 4: owned by this thread; the files close when it returns.
    let mut stats: Vec<SchedStat> = monitor
        .slots
        .iter()
        .map(|_| SchedStat::new(&monitor.watchdog))
        .collect();
    let mut idle_ticks = 0u32;
    let mut last = Instant::now();
    loop {
        {
            let stop = lock(&monitor.watchdog.state);
            if *stop {
                return;
            }
            let (stop, _) = monitor
                .watchdog
                .cv
                .wait_timeout(stop, period)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *stop {
                return;
            }
        }
        let now = Instant::now();
        #[cfg(test)]
        monitor.watchdog.ticks.fetch_add(1, Ordering::Relaxed);
        // A starved watchdog credits at most two periods: it may under-report, never blame a
        // short poll for the time the watchdog itself could not run.
        let dt = (now - last).min(period * 2);
        last = now;
        let mut all_parked = true;
        for ((slot, seen), stat) in monitor.slots.iter().zip(seen.iter_mut()).zip(&mut stats) {
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
            // Rule 5: the panic hook of this poll is running.
            let in_hook = slot.panic_hook.load(Ordering::Acquire) == value;
            if value != seen.value {
                *seen = Seen::new(value, limit, activity);
                if in_hook {
                    seen.switch_phase(true, limit);
                }
            } else if in_hook != seen.hook_next_report.is_some() {
                seen.switch_phase(in_hook, limit);
            }
            seen.phase_credit += dt;
            if !in_hook {
                seen.credit += dt;
            }
            // Reports need a lower bound of the phase's own time: the time since its first
            // sighting, less what the thread spent ready but without a CPU (module docs). The
            // phase was in progress when the slot was read, before the clock read that starts
            // the bound, and is still in progress at this tick's slot read, after `now`.
            let tid = slot.tid.load(Ordering::Relaxed);
            match seen.since {
                None => seen.since = Some((Instant::now(), stat.run_queue_wait(tid))),
                Some((t1, w1)) => {
                    seen.phase_waited = match (w1, stat.run_queue_wait(tid)) {
                        (Some(w1), Some(w)) => Duration::from_nanos(w.saturating_sub(w1)),
                        _ => Duration::ZERO,
                    };
                    seen.phase_own = now
                        .saturating_duration_since(t1)
                        .saturating_sub(seen.phase_waited);
                }
            }
            if let Some(next) = seen.hook_next_report {
                // Rule 5: the hook's time is neither credited nor flagged; a long one is
                // reported as what it is.
                if seen.phase_own >= next {
                    let (running, waited) = (seen.phase_credit, seen.phase_waited);
                    report_worker(
                        rt,
                        slot,
                        value,
                        DiagnosticKind::SlowPanicHook,
                        running,
                        waited,
                    );
                    seen.hook_next_report = Some(next.saturating_mul(2));
                }
                continue;
            }
            let own = seen.own_before + seen.phase_own;
            let waited = seen.waited_before + seen.phase_waited;
            // The sampled credit less the CPU wait, but never below the certain lower bound: a
            // starved watchdog credits at most two periods a tick while the wait it subtracts
            // is measured whole (a slow poll of 0.0 ms was reported so on a loaded machine).
            let credit = seen.credit.saturating_sub(waited).max(own);
            let ticks = (credit.as_nanos() / TICK.as_nanos()).min(u128::from(CREDIT as u32)) as u64;
            let flag = if own >= slow { SLOW } else { 0 };
            slot.mark
                .store((value >> 32) << 32 | flag | ticks, Ordering::Release);
            if own >= seen.next_report {
                // At least its own time and the CPU wait within it (the same starved-watchdog
                // case: "running 204 ms, 234 ms of it waiting for a CPU").
                let running = seen.credit.max(own + waited);
                report_worker(
                    rt,
                    slot,
                    value,
                    DiagnosticKind::StillRunning,
                    running,
                    waited,
                );
                seen.next_report = seen.next_report.saturating_mul(2);
            }
        }
        // The reporting path's counts of suppressed reports whose window has passed.
        rt.reporter.flush(Some(rt.time.clock.now()));
        idle_ticks = if all_parked { idle_ticks + 1 } else { 0 };
        if idle_ticks >= DEEP_SLEEP_AFTER {
            idle_ticks = 0;
            deep_sleep(rt, &seen);
            last = Instant::now();
        }
    }
}

/// Rule 2: sleeps until a worker leaves park (or shutdown), unless one already has. While the
/// reporting path holds a count of suppressed reports, the sleep ends when that count is due,
/// so that it is printed on time (`diag/report.rs`, rule 5).
fn deep_sleep(rt: &RuntimeShared, seen: &[Seen]) {
    let monitor = &rt.diag;
    let stop = lock(&monitor.watchdog.state);
    monitor.watchdog.sleeping.store(true, Ordering::SeqCst);
    let moved = monitor
        .slots
        .iter()
        .zip(seen)
        .any(|(slot, s)| slot.activity.load(Ordering::SeqCst) != s.activity);
    if moved || *stop {
        monitor.watchdog.sleeping.store(false, Ordering::SeqCst);
        return;
    }
    let asleep = |stop: &mut bool| !*stop && monitor.watchdog.sleeping.load(Ordering::SeqCst);
    // The count's due time is on the runtime's clock; a paused clock does not get there by
    // itself, and then the count waits for the next report, the next tick or the shutdown.
    let due = match rt.reporter.next_flush() {
        Some(due) if !rt.time.is_paused() => Some(due),
        _ => None,
    };
    let _stop = match due {
        Some(due) => {
            let timeout = due.saturating_duration_since(rt.time.clock.now());
            monitor
                .watchdog
                .cv
                .wait_timeout_while(stop, timeout, asleep)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0)
        }
        None => monitor
            .watchdog
            .cv
            .wait_while(stop, asleep)
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    };
    monitor.watchdog.sleeping.store(false, Ordering::SeqCst);
}

/// Reports the poll `value` on `slot`, running for `running` (of which `waited` waiting for a
/// CPU): stuck in its own code (`StillRunning`) or in the panic hook (`SlowPanicHook`).
#[cold]
fn report_worker(
    rt: &RuntimeShared,
    slot: &WorkerSlot,
    value: u64,
    kind: DiagnosticKind,
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
            .describe_key(key)
            .map(|(id, name, location)| TaskRef {
                id: Some(id),
                name,
                location: Some(location),
            })
    };
    // Rule 1: the lookup names the stuck poll only if the slot did not move meanwhile.
    let Some(task) = task else { return };
    let spawned = slot.spawned_so_far();
    if slot.current.load(Ordering::Acquire) != value {
        return;
    }
    rt.diag.stuck_reports.fetch_add(1, Ordering::Relaxed);
    rt.report(&Diagnostic {
        worker: slot.index,
        duration: running,
        waited,
        threshold: rt.diag.config.watchdog,
        spawned: if kind == DiagnosticKind::StillRunning {
            spawned
        } else {
            0
        },
        ..Diagnostic::new(kind, task)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_watchdog() -> Watchdog {
        Watchdog::new()
    }

    #[test]
    #[cfg_attr(miri, ignore = "reads /proc")]
    fn run_queue_wait_is_readable_for_this_thread() {
        let watchdog = test_watchdog();
        let mut stat = SchedStat::new(&watchdog);
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
        let watchdog = test_watchdog();
        let counts = &watchdog.schedstat_counts;
        let mut stat = SchedStat::new(&watchdog);
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
        let counts = rt.handle().shared.diag.watchdog.schedstat_counts.clone();
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

    /// While a worker is busy, the watchdog wakes once per the smaller of the slow-poll
    /// threshold and the watchdog limit, not more often: each of its wake-ups costs the busy
    /// workers (module docs of `runtime/diagnostics.rs`). It woke every quarter of that before,
    /// 32 times in this test's 400 ms.
    #[test]
    #[cfg_attr(miri, ignore = "times a real 400 ms poll")]
    fn a_busy_runtimes_watchdog_wakes_once_per_threshold() {
        let rt = crate::runtime::Builder::new_current_thread()
            .slow_poll_threshold(Duration::from_millis(50))
            .watchdog_limit(Duration::from_secs(1))
            .on_diagnostic(|_| {})
            .build()
            .unwrap();
        let ticks = rt.handle().shared.diag.watchdog.ticks.clone();
        let n = rt.block_on(async move {
            let before = ticks.load(Ordering::Relaxed);
            // The blocking poll under test: the watchdog ticks while it holds the worker.
            crate::spawn(async { std::thread::sleep(Duration::from_millis(400)) })
                .await
                .unwrap();
            ticks.load(Ordering::Relaxed) - before
        });
        // Eight periods of 50 ms, and one more at either end; a starved watchdog ticks less.
        assert!(
            n <= 12,
            "{n} watchdog ticks in a 400 ms poll (one per 50 ms expected)"
        );
        assert!(n >= 1, "the watchdog watched the poll");
    }

    /// A task's time in poll, as the watchdog credits it, lives in the runtime's table (not in
    /// the task, which it would make 8 bytes bigger): the dump shows it, with the poll count
    /// from the task cell's state word, and the task's entry goes when the task finishes.
    #[test]
    #[cfg_attr(miri, ignore = "times a real 60 ms poll")]
    fn a_tasks_credited_time_is_shown_then_forgotten_when_it_finishes() {
        let rt = crate::runtime::Builder::new_current_thread()
            .slow_poll_threshold(Duration::from_millis(20))
            .on_diagnostic(|_| {})
            .build()
            .unwrap();
        let shared = rt.handle().shared.clone();
        let credited = || crate::loom::lock(&shared.diag.credited).len();
        rt.block_on(async {
            let (tx, rx) = crate::sync::oneshot::channel::<()>();
            let busy = crate::task::Builder::new().name("busy").spawn(async move {
                // The poll the watchdog times.
                std::thread::sleep(Duration::from_millis(60));
                crate::task::yield_now().await;
                rx.await.unwrap();
            });
            crate::task::yield_now().await;
            crate::task::yield_now().await;
            let info = crate::runtime::Handle::current()
                .live_tasks()
                .into_iter()
                .find(|t| t.name() == Some("busy"))
                .expect("the busy task is live");
            assert!(
                info.busy_time() >= Duration::from_millis(20),
                "credited {:?} for a 60 ms poll",
                info.busy_time()
            );
            assert_eq!(
                info.polls(),
                2,
                "one poll that blocked, one after its yield"
            );
            assert_eq!(credited(), 1, "one task credited");
            tx.send(()).unwrap();
            busy.await.unwrap();
        });
        assert_eq!(credited(), 0, "the finished task's entry is gone");
    }
}
