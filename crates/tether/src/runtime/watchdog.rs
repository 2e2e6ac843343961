//! The watchdog thread: times the polls the workers publish in their slots, credits them, reports
//! a poll still running past the watchdog limit, flags slow polls for their workers to report,
//! and sleeps without a timeout while every worker is parked.
//!
//! It implements the watchdog's side of rules 1 to 4 of the protocol in
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
    fn new(_watchdog: &Watchdog) -> SchedStat {
        SchedStat {
            tid: 0,
            file: None,
            #[cfg(test)]
            counts: _watchdog.schedstat_counts.clone(),
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
    let monitor = &rt.diag;
    let c = &monitor.config;
    let period = (c.slow_poll.min(c.watchdog) / 4)
        .clamp(Duration::from_millis(1), Duration::from_millis(250));
    let (limit, slow) = (c.watchdog, c.slow_poll);
    let mut seen = vec![Seen::new(IDLE, Duration::ZERO, limit, 1); monitor.slots.len()];
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
            deep_sleep(monitor, &seen);
            last = Instant::now();
        }
    }
}

/// Rule 2: sleeps until a worker leaves park (or shutdown), unless one already has.
fn deep_sleep(monitor: &PollMonitor, seen: &[Seen]) {
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
    let _stop = monitor
        .watchdog
        .cv
        .wait_while(stop, |stop| {
            !*stop && monitor.watchdog.sleeping.load(Ordering::SeqCst)
        })
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    monitor.watchdog.sleeping.store(false, Ordering::SeqCst);
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
}
