//! The multi-thread scheduler: N worker threads with work stealing.
//!
//! # Design
//!
//! Each worker owns a FIFO run queue (a `crossbeam-deque` worker queue, from which other workers
//! steal half at a time) and a LIFO slot holding the task it woke most recently, so that a
//! message passed from one task to another is handled at once, while its data is still in cache.
//! Tasks woken from outside the workers go to a shared injector queue (`inject.rs`: a bounded
//! ring, with a list linked through the tasks' cells behind it for overflow; neither allocates
//! per task). A worker
//! with nothing to do searches (steals from the injector and the other workers), then parks;
//! one parked worker at a time waits inside the reactor (`epoll_wait` with the next timer's
//! deadline), the others on a condition variable.
//!
//! # Protocol
//!
//! 1. **Where a woken task goes.** On a worker of this runtime: into its LIFO slot (the previous
//!    occupant moves to the back of the worker's run queue), or, when the task woke itself (a
//!    yield), to the back of its run queue. Anywhere else: the injector.
//! 2. **Nobody sleeps on work.** After making work stealable (a run-queue push that displaced a
//!    task, an injector push) the pusher asks `Idle` for a parked worker to wake; a worker about
//!    to park registers as idle first and then checks every queue once more (see `idle.rs`).
//!    One exception, as in tokio: a task that yields (its budget spent, `yield_now`) onto a
//!    worker whose queues are otherwise empty wakes nobody, since it is that worker's next
//!    task; waking a worker for it found nothing to do or moved the task to another core at
//!    every yield (a `select!` loop on 2 workers cost 1.4x tokio's before).
//! 3. **LIFO fairness.** A worker runs at most `MAX_LIFO_POLLS` tasks in a row from its LIFO slot;
//!    then the slot's task goes to the back of the queue, so two tasks ping-ponging cannot starve
//!    the rest.
//! 4. **Global fairness.** Every `REMOTE_INTERVAL` ticks a worker takes from the injector before
//!    its own queue, and every `event_interval` ticks it turns the reactor without blocking (if no
//!    other worker holds it), so I/O and timers progress while every worker is busy.
//! 5. **One reactor.** The reactor (`Driver`) sits behind a mutex; a parking worker that gets it
//!    with `try_lock` waits in it, the others park on their condvar. The parker protocol
//!    (`park.rs`) wakes either kind. A worker the reactor woke with work in its run queue wakes
//!    a parked worker, which takes the reactor over; the one task in its LIFO slot alone does
//!    not (that woke a worker for nothing on every request of a request/response server).
//! 6. **Workers survive panics.** A panic that unwinds out of the runtime's code on a worker (a
//!    waker that panics when the reactor or a timer wakes it, a thread hook, a bug in the task
//!    cell outside its own `catch_unwind`) is caught by `worker::run`, reported once to the
//!    failure policy (`UnhandledFailure::thread` names the worker), and the run loop starts
//!    again. What the panic unwinds through is left consistent: the reactor wakes every waker it
//!    collected before it resumes the first panic (driver rule 7), and its lock, which the
//!    unwinding poisons, is taken with `loom::try_lock`, which ignores poisoning; in `park`,
//!    guards settle on every path the worker's `sleepers` entry (or the searching share a
//!    notifier gave it), its parker state (`park.rs` rule 5), its diagnostics slot and the
//!    timers' `parked_until`. The worker's `searching` flag always equals the share `Idle` counts
//!    for it, so while the runtime runs, the searching count is back to zero whenever every
//!    worker is parked.
//! 7. **Shutdown.** `shutdown` marks the scheduler `CLOSING`, unparks every worker, and waits
//!    for each to leave `worker::run` (a `StopSignal` marks it stopped on every path). A worker
//!    leaves its run loop at the top of the loop or between LIFO polls once the scheduler is not
//!    open, and drops the tasks left in its LIFO slot and queue. With a timeout
//!    (`shutdown_timeout`) the wait ends at the deadline: a worker still running is left behind
//!    (its thread detached), and if it is inside a task's poll and diagnostics are on, that task
//!    is reported (`DiagnosticKind::BlocksShutdown`). Without one (dropping the runtime) the wait
//!    has no bound, and the same report is made once the watchdog limit has passed. Then the
//!    shutdown thread wakes every registered task and drops every task it can take from the
//!    injector and the workers' queues, round after round until a round finds nothing. A worker
//!    left behind still holds the task it polls and maybe one in its LIFO slot; it keeps its own
//!    `Arc` of the runtime, so everything it can reach stays alive, and when the poll returns it
//!    finds the scheduler closed, drops those tasks and exits. Then rule 8, the timers and the
//!    reactor shut down, and the blocking jobs still running are waited for (until the deadline,
//!    if there is one).
//! 8. **Nothing enters a closed injector.** A push to the injector happens only under
//!    `injector_closed`'s lock, while it reads `false`; shutdown sets it to `true` under the lock
//!    and only then drains the injector for the last time. So a task woken from another thread
//!    while the runtime shuts down is either in the injector before that last drain (and dropped
//!    by it) or sees `true` and is dropped at once by its waker (outside the lock: its
//!    destructor may wake other tasks): its future is dropped, its `JoinHandle` reports
//!    cancellation, and it cannot keep the runtime's shared state alive by sitting in the
//!    injector.
//! 9. **A blocked worker lends itself.** A task that calls `block_in_place` lends its worker
//!    (queues, LIFO slot, diagnostics slot) to a helper thread, which runs this loop with it
//!    until the task's poll ends and the worker thread takes it back: one thread drives a
//!    worker at a time (`lend.rs`). Helper threads wait for the next loan (`helpers.rs`); the
//!    shutdown closes their pool.

mod helpers;
mod idle;
mod inject;
mod lend;
mod park;
mod worker;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::task::raw::{Runnable, ScheduleInfo};
use crossbeam_deque::{Steal, Stealer, Worker};
use inject::Inject;

use crate::io::driver::Driver;
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicU8, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::runtime::builder::{ParkHooks, ThreadHooks, ThreadSpawn};
use crate::runtime::{context, diagnostics, Handle, RuntimeShared};
use crate::sched::{drop_task, ThreadWaker};
use crate::task::coop;
use crate::task::meta::TaskMeta;

pub(crate) use lend::lend_current_worker;
pub(crate) use worker::WorkerCtx;

use idle::Idle;
use park::Parker;

type Task = Runnable<TaskMeta>;

const OPEN: u8 = 0;
const CLOSING: u8 = 1;
const CLOSED: u8 = 2;

/// What other threads know of one worker.
struct Remote {
    /// Steals from the worker's run queue.
    stealer: Stealer<Task>,
    /// Wakes the worker.
    parker: Parker,
}

/// Which worker threads are still running, for the bounded wait of shutdown (rule 7).
struct Running {
    /// One per worker: true from just before its thread is started until it leaves
    /// `worker::run` (on every path, unwinding included).
    running: Mutex<Vec<bool>>,
    /// Notified each time a worker stops running.
    stopped: Condvar,
}

impl Running {
    fn set(&self, index: usize, running: bool) {
        lock(&self.running)[index] = running;
        if !running {
            self.stopped.notify_all();
        }
    }

    /// Waits until every worker but `except` stopped running, or `deadline` passed (forever if
    /// `None`); returns the workers still running.
    fn wait(&self, except: Option<usize>, deadline: Option<Instant>) -> Vec<usize> {
        let still = |r: &[bool]| -> Vec<usize> {
            (0..r.len())
                .filter(|&i| r[i] && Some(i) != except)
                .collect()
        };
        let mut running = lock(&self.running);
        loop {
            let left = still(&running);
            if left.is_empty() {
                return left;
            }
            running = match deadline {
                None => self
                    .stopped
                    .wait(running)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return left;
                    }
                    self.stopped
                        .wait_timeout(running, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

/// Marks worker `index` stopped when its thread leaves `worker::run`, however it leaves.
struct StopSignal(Arc<RuntimeShared>, usize);

impl Drop for StopSignal {
    fn drop(&mut self) {
        self.0.sched.multi_thread().running.set(self.1, false);
    }
}

/// The scheduler's shared state (see the module protocol).
pub(crate) struct MultiThreadShared {
    /// Tasks scheduled from outside the workers (rule 1). Pushed to only under
    /// `injector_closed` (rule 8).
    injector: Inject<Task>,
    /// True once shutdown drained the injector for the last time. Holding the lock while it is
    /// false is what allows a push to the injector (rule 8).
    injector_closed: Mutex<bool>,
    /// One per worker, by index.
    remotes: Box<[Remote]>,
    /// Parked and searching workers (rule 2).
    idle: Idle,
    /// The reactor; whoever holds the lock may turn it (rule 5). Taken with `loom::try_lock`,
    /// which ignores poisoning (rule 6).
    driver: Mutex<Driver>,
    /// `OPEN`, `CLOSING`, `CLOSED` (rule 7).
    state: AtomicU8,
    /// Worker queues not yet handed to their threads (taken by `start`).
    pending: Mutex<Vec<Worker<Task>>>,
    /// The worker threads, by index; joined (or left behind) at shutdown.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Which workers are still running (rule 7).
    running: Running,
    event_interval: u32,
    /// Names the worker threads (`PREFIX-worker-N`) and sizes their stacks.
    spawn: ThreadSpawn,
    hooks: ThreadHooks,
    /// Run by whichever thread drives a worker around each of its parks (`worker.rs`).
    pub(super) park_hooks: ParkHooks,
    /// Threads that drive workers lent by `block_in_place` (rule 9); closed at shutdown.
    helpers: Arc<helpers::HelperPool<lend::Job>>,
}

impl MultiThreadShared {
    /// How many workers the runtime has.
    pub(crate) fn worker_count(&self) -> usize {
        self.remotes.len()
    }

    pub(crate) fn new(
        driver: Driver,
        workers: usize,
        event_interval: u32,
        spawn: ThreadSpawn,
        hooks: ThreadHooks,
        park_hooks: ParkHooks,
    ) -> MultiThreadShared {
        let queues: Vec<Worker<Task>> = (0..workers).map(|_| Worker::new_fifo()).collect();
        let remotes = queues
            .iter()
            .map(|q| Remote {
                stealer: q.stealer(),
                parker: Parker::new(),
            })
            .collect();
        MultiThreadShared {
            injector: Inject::new(),
            injector_closed: Mutex::new(false),
            remotes,
            idle: Idle::new(workers),
            driver: Mutex::new(driver),
            state: AtomicU8::new(OPEN),
            pending: Mutex::new(queues),
            threads: Mutex::new(Vec::new()),
            running: Running {
                running: Mutex::new(vec![false; workers]),
                stopped: Condvar::new(),
            },
            event_interval,
            helpers: Arc::new(helpers::HelperPool::new(spawn.clone(), hooks.clone())),
            spawn,
            hooks,
            park_hooks,
        }
    }

    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.state.load(Ordering::Acquire) == OPEN
    }

    /// Each worker's run-queue length now (its LIFO slot not counted), and the injector's.
    pub(crate) fn queue_depths(&self) -> (Vec<usize>, usize) {
        (
            self.remotes.iter().map(|r| r.stealer.len()).collect(),
            self.injector.len(),
        )
    }

    /// Rule 2: wakes a parked worker if the work just made available might otherwise wait.
    fn notify_one(&self, rt: &RuntimeShared) {
        if let Some(i) = self.idle.worker_to_notify() {
            self.remotes[i]
                .parker
                .unpark(|| rt.io.unparker.force_unpark());
        }
    }

    /// Whether any queue holds a task (rule 2's re-check).
    fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.remotes.iter().any(|r| !r.stealer.is_empty())
    }

    /// Takes one task from the injector or, failing that, from any worker's queue (shutdown
    /// only: the workers have stopped, or are left behind).
    fn steal_any(&self) -> Option<Task> {
        self.injector.steal_one().or_else(|| {
            self.remotes
                .iter()
                .find_map(|r| steal_one(|| r.stealer.steal()))
        })
    }
}

/// Starts the worker threads of runtime `rt`.
pub(crate) fn start(rt: &Arc<RuntimeShared>) -> std::io::Result<()> {
    let sh = rt.sched.multi_thread();
    let queues = std::mem::take(&mut *lock(&sh.pending));
    let mut name_panics = Vec::new();
    let started = {
        let mut threads = lock(&sh.threads);
        queues
            .into_iter()
            .enumerate()
            .try_for_each(|(index, queue)| {
                let rt2 = rt.clone();
                let new = sh.spawn.thread(&format!("worker-{index}"));
                name_panics.extend(new.name_panic);
                sh.running.set(index, true);
                let spawned = new.builder.spawn(move || {
                    let _stopped = StopSignal(rt2.clone(), index);
                    worker::run(rt2, index, queue);
                });
                match spawned {
                    Ok(t) => {
                        threads.push(t);
                        Ok(())
                    }
                    Err(e) => {
                        sh.running.set(index, false);
                        Err(e)
                    }
                }
            })
    };
    // Reported once `threads` is free: a failure hook that drops the runtime would wait on it.
    for report in name_panics {
        ThreadSpawn::report_name_panic(rt, &report);
    }
    started
}

/// Hands a woken task to the scheduler (rule 1).
pub(crate) fn schedule(task: Task, info: ScheduleInfo) {
    let w = context::worker();
    if !w.is_null() {
        // SAFETY: context invariant 1: a non-null worker pointer refers to this thread's live
        // `WorkerCtx`; we are on that thread.
        let w = unsafe { &*w };
        if w.belongs_to(task.metadata().shared()) {
            w.schedule(task, info.woken_while_running);
            return;
        }
    }
    let rt = task.metadata().shared().clone();
    push_remote(&rt, task);
}

/// Rule 8: pushes `task` to the injector, or drops it if shutdown closed the injector.
fn push_remote(rt: &RuntimeShared, task: Task) {
    let sh = rt.sched.multi_thread();
    #[cfg(all(test, not(tether_loom)))]
    tests::before_push_remote();
    let rejected = {
        let closed = lock(&sh.injector_closed);
        if *closed {
            Some(task)
        } else {
            sh.injector.push(task);
            None
        }
    };
    match rejected {
        // Dropped outside the lock: the future's destructor may wake other tasks.
        Some(task) => drop_task(task),
        None => sh.notify_one(rt),
    }
}

/// Runs `future` on the calling thread (which is not a worker) until it completes; the workers
/// run the tasks meanwhile.
pub(crate) fn block_on<F: Future>(rt: &Arc<RuntimeShared>, future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = ThreadWaker::current();
    let mut cx = Context::from_waker(&waker);
    lock(&rt.block_on_wakers).push(waker.clone());
    struct Unregister<'a>(&'a RuntimeShared, &'a Waker);
    impl Drop for Unregister<'_> {
        fn drop(&mut self) {
            lock(&self.0.block_on_wakers).retain(|w| !w.will_wake(self.1));
        }
    }
    let _unregister = Unregister(rt, &waker);
    loop {
        rt.check_fatal();
        if let Poll::Ready(out) = coop::with_budget(|| future.as_mut().poll(&mut cx)) {
            return out;
        }
        thread::park();
    }
}

/// Shuts the runtime down (rule 7). With a `timeout`, the workers and then the blocking jobs
/// still running are waited for until `timeout` from now has passed, and whatever still runs
/// then is left behind; without one, both are waited for as long as they take (a worker still
/// running after the watchdog limit is reported, and waited for further). Returns false if
/// blocking jobs still ran when the time was up.
pub(crate) fn shutdown(rt: &Arc<RuntimeShared>, timeout: Option<Duration>) -> bool {
    let sh = rt.sched.multi_thread();
    let started = Instant::now();
    let deadline = timeout.map(|t| started.checked_add(t).unwrap_or(started + FAR_FUTURE));
    sh.state.store(CLOSING, Ordering::SeqCst);
    rt.blocking.close();
    sh.helpers.close();
    for r in sh.remotes.iter() {
        r.parker.unpark(|| rt.io.unparker.force_unpark());
    }
    let threads = std::mem::take(&mut *lock(&sh.threads));
    // A worker dropping its own runtime cannot wait for itself: it is left behind, and stops
    // when the poll that is dropping the runtime returns. That is also the worker a helper
    // thread holds on loan (`lend.rs`): its own thread waits for the helper to give it back.
    let me = thread::current().id();
    let own = threads
        .iter()
        .position(|t| t.thread().id() == me)
        .or_else(|| held_worker(rt));
    let left_behind = match deadline {
        Some(d) => {
            let left = sh.running.wait(own, Some(d));
            for &i in &left {
                let waited = started.elapsed();
                diagnostics::report_blocks_shutdown(rt, i, waited, d - started, true);
            }
            left
        }
        None => {
            let limit = rt.diag.config.watchdog;
            let left = sh.running.wait(own, started.checked_add(limit));
            for &i in &left {
                let waited = started.elapsed();
                diagnostics::report_blocks_shutdown(rt, i, waited, limit, false);
            }
            if !left.is_empty() {
                sh.running.wait(own, None);
            }
            Vec::new()
        }
    };
    for (i, t) in threads.into_iter().enumerate() {
        if Some(i) != own && !left_behind.contains(&i) {
            let _ = t.join();
        }
    }
    let _enter = context::enter(Handle { shared: rt.clone() });
    loop {
        let wakers = rt.registry.take_wakers();
        let mut progress = !wakers.is_empty();
        wakers.into_iter().for_each(Waker::wake);
        while let Some(task) = sh.steal_any() {
            drop_task(task);
            progress = true;
        }
        if !progress {
            break;
        }
    }
    // Rule 8: from here on nothing enters the injector.
    *lock(&sh.injector_closed) = true;
    sh.state.store(CLOSED, Ordering::SeqCst);
    rt.time.shutdown();
    rt.io.shutdown();
    // `uring_op.rs` rule 9; a worker left behind may hold the driver: then nothing settles.
    if let Some(mut driver) = crate::loom::try_lock(&sh.driver) {
        driver.settle_at_shutdown(rt);
    }
    while let Some(task) = sh.steal_any() {
        drop_task(task);
    }
    rt.blocking
        .wait(deadline.map(|d| d.saturating_duration_since(Instant::now())))
}

/// The index of the worker of `rt` this thread holds, if it is a helper holding one on loan
/// (or the worker's own thread).
fn held_worker(rt: &Arc<RuntimeShared>) -> Option<usize> {
    let w = context::worker();
    if w.is_null() {
        return None;
    }
    // SAFETY: context invariant 1: a non-null worker pointer refers to the live `WorkerCtx`
    // this thread holds.
    let w = unsafe { &*w };
    w.belongs_to(rt).then_some(w.index)
}

/// A timeout too long to add to an `Instant` stands for "as long as it takes" (a century).
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn steal_one(mut steal: impl FnMut() -> Steal<Task>) -> Option<Task> {
    loop {
        match steal() {
            Steal::Success(t) => return Some(t),
            Steal::Empty => return None,
            Steal::Retry => {}
        }
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use std::cell::RefCell;
    use std::future::poll_fn;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::task::{Poll, Waker};
    use std::time::Duration;

    thread_local! {
        /// Runs once on this thread, in `push_remote` before it pushes (a test hook).
        static BEFORE_PUSH_REMOTE: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    }

    pub(super) fn before_push_remote() {
        if let Some(hook) = BEFORE_PUSH_REMOTE.with(|h| h.borrow_mut().take()) {
            hook();
        }
    }

    /// Runs `f` on a thread of its own; fails if it does not finish within `secs`.
    fn bounded(secs: u64, f: impl FnOnce() + Send + 'static) {
        // Miri interprets: ten times the bound there (a loaded machine took the plain one).
        let secs = if cfg!(miri) { secs * 10 } else { secs };
        let (tx, rx) = mpsc::channel();
        let t = std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        match rx.recv_timeout(Duration::from_secs(secs)) {
            Ok(()) => t.join().unwrap(),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                std::panic::resume_unwind(t.join().unwrap_err())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test did not finish in {secs} s"),
        }
    }

    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Rule 8: a thread outside the runtime wakes a task and is held between deciding to push it
    /// and pushing it while the runtime shuts down to the end. The task must be dropped (not left
    /// in the injector, where it would keep the runtime's shared state alive forever).
    #[test]
    fn a_task_woken_from_outside_during_shutdown_does_not_keep_the_runtime_alive() {
        bounded(30, || {
            let rt = crate::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .unhandled_failure(crate::runtime::UnhandledFailurePolicy::Ignore)
                .build()
                .unwrap();
            let weak = Arc::downgrade(&rt.handle().shared);
            let dropped = Arc::new(AtomicBool::new(false));
            let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
            let guard = SetOnDrop(dropped.clone());
            let task = rt.spawn(async move {
                let _guard = guard;
                poll_fn(|cx| {
                    let _ = waker_tx.send(cx.waker().clone());
                    Poll::<()>::Pending
                })
                .await
            });
            let waker = waker_rx.recv().unwrap();
            // The waker was sent from inside the task's poll: a wake-up before that poll
            // returns would be handled by the worker when the poll ends, not by the waking
            // thread. The one worker runs a second task only after the first poll returned.
            let (after_tx, after_rx) = mpsc::channel::<()>();
            rt.spawn(async move {
                let _ = after_tx.send(());
            });
            after_rx.recv().unwrap();
            let (at_tx, at_rx) = mpsc::channel();
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let waking = std::thread::spawn(move || {
                BEFORE_PUSH_REMOTE.with(|h| {
                    *h.borrow_mut() = Some(Box::new(move || {
                        at_tx.send(()).unwrap();
                        go_rx.recv().unwrap();
                    }))
                });
                waker.wake();
            });
            at_rx.recv().unwrap();
            drop(rt); // the whole shutdown runs while the waking thread is held
            go_tx.send(()).unwrap();
            waking.join().unwrap();
            assert!(
                dropped.load(Ordering::SeqCst),
                "the task woken during shutdown was not dropped"
            );
            let err = futures_lite::future::block_on(task).unwrap_err();
            assert!(err.is_cancelled(), "{err}");
            assert!(
                weak.upgrade().is_none(),
                "the runtime's shared state outlived the runtime"
            );
        });
    }

    /// Which runtime's workers `maintenance_hook` makes panic (its id; 0 for none), and how many
    /// more times.
    static PANIC_RT: AtomicU64 = AtomicU64::new(0);
    static PANICS_LEFT: AtomicUsize = AtomicUsize::new(0);

    /// Called by a worker of runtime `rt` before it turns the reactor between tasks: panics
    /// there (as a panicking waker would) while the worker is searching, when a test asked for
    /// it.
    pub(super) fn maintenance_hook(rt: crate::runtime::RuntimeId, searching: bool) {
        if searching
            && PANIC_RT.load(Ordering::SeqCst) == rt.as_u64()
            && PANICS_LEFT
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            panic!("reactor boom while searching");
        }
    }

    /// Rule 6 (idle rules 3-5): a worker that panics while it is counted as searching survives,
    /// and the count comes back to rest (every worker parked, none searching), so parked workers
    /// are still woken for new work. Before rule 6 the worker died with the count up, and
    /// `worker_to_notify` never woke anyone again.
    #[test]
    fn a_panic_while_searching_leaves_the_idle_accounting_at_rest() {
        bounded(60, || {
            const WORKERS: usize = 2;
            const PANICS: usize = 5;
            let failures = Arc::new(AtomicUsize::new(0));
            let f = failures.clone();
            let rt = crate::runtime::Builder::new_multi_thread()
                .worker_threads(WORKERS)
                // The reactor is turned at the top of every loop, so by a worker just woken to
                // search (rule 4).
                .event_interval(1)
                .on_unhandled_failure(move |failure| {
                    assert!(failure.to_string().contains("boom while searching"));
                    f.fetch_add(1, Ordering::SeqCst);
                })
                .build()
                .unwrap();
            let sh = rt.handle().shared.sched.multi_thread();
            PANICS_LEFT.store(PANICS, Ordering::SeqCst);
            PANIC_RT.store(rt.handle().shared.id.as_u64(), Ordering::SeqCst);
            // Tasks pushed from outside wake parked workers as searchers (idle rule 2).
            while failures.load(Ordering::SeqCst) < PANICS {
                rt.block_on(rt.spawn(async {})).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
            while sh.idle.num_idle() != WORKERS || sh.idle.num_searching() != 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            // Every worker runs tasks still: each of these blocks until all have started.
            let barrier = Arc::new(std::sync::Barrier::new(WORKERS));
            let tasks: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let b = barrier.clone();
                    rt.spawn(async move {
                        b.wait();
                    })
                })
                .collect();
            for t in tasks {
                rt.block_on(t).unwrap();
            }
        });
    }

    /// Tasks spawned from `block_on` and aborted while still queued for their first poll:
    /// every abort is seen and every handle reports cancellation. Before the abort's wake-up
    /// was ordered (`raw.rs` rule 2), Miri's weak-memory emulation let such a task's first
    /// poll read the request unset, and the test waited for ever (every Miri seed tried, with
    /// the injector's ring, which takes the tasks before the aborts run). Under Miri 4 runtimes
    /// (a multi-thread runtime's start and shutdown cost about 6 s there; the first one showed
    /// the fault with every seed).
    #[test]
    fn tasks_aborted_while_queued_for_their_first_poll_are_cancelled() {
        bounded(10, || {
            for _ in 0..if cfg!(miri) { 4 } else { 200 } {
                let rt = crate::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let tasks: Vec<_> = (0..10)
                        .map(|_| crate::spawn(std::future::pending::<()>()))
                        .collect();
                    crate::task::yield_now().await;
                    tasks.iter().for_each(|t| t.abort());
                    for t in tasks {
                        assert!(t.await.unwrap_err().is_cancelled());
                    }
                });
            }
        });
    }
}
