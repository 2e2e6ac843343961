//! The multi-thread scheduler: N worker threads with work stealing.
//!
//! # Design
//!
//! Each worker owns a FIFO run queue (a `crossbeam-deque` worker queue, from which other workers
//! steal half at a time) and a LIFO slot holding the task it woke most recently, so that a
//! message passed from one task to another is handled at once, while its data is still in cache.
//! Tasks woken from outside the workers go to a shared injector queue. A worker with nothing to
//! do searches (steals from the injector and the other workers), then parks; one parked worker at
//! a time waits inside the reactor (`epoll_wait` with the next timer's deadline), the others on a
//! condition variable.
//!
//! # Protocol
//!
//! 1. **Where a woken task goes.** On a worker of this runtime: into its LIFO slot (the previous
//!    occupant moves to the back of the local queue), or, when the task woke itself (a yield),
//!    to the back of the local queue. Anywhere else: the injector.
//! 2. **Nobody sleeps on work.** After making work stealable (a local push that displaced a task,
//!    an injector push) the pusher asks `Idle` for a parked worker to wake; a worker about to park
//!    registers as idle first and then checks every queue once more (see `idle.rs`).
//! 3. **LIFO fairness.** A worker runs at most `MAX_LIFO_POLLS` tasks in a row from its LIFO slot;
//!    then the slot's task goes to the back of the queue, so two tasks ping-ponging cannot starve
//!    the rest.
//! 4. **Global fairness.** Every `REMOTE_INTERVAL` ticks a worker takes from the injector before
//!    its own queue, and every `event_interval` ticks it turns the reactor without blocking (if no
//!    other worker holds it), so I/O and timers progress while every worker is busy.
//! 5. **One reactor.** The reactor (`Driver`) sits behind a mutex; a parking worker that gets it
//!    with `try_lock` waits in it, the others park on their condvar. The parker protocol
//!    (`park.rs`) wakes either kind.
//! 6. **Shutdown.** `shutdown` marks the scheduler `CLOSING`, unparks every worker and joins
//!    them; each worker drops the tasks left in its queues. Then, as in the current-thread
//!    scheduler, every registered task is woken and dropped until none is left, and the
//!    scheduler becomes `CLOSED`: a task woken later is dropped at once.

mod idle;
mod park;
mod worker;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use async_task::{Runnable, ScheduleInfo};
use crossbeam_deque::{Injector, Stealer, Worker};

use crate::io::driver::Driver;
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicU8, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::runtime::builder::ThreadHooks;
use crate::runtime::{context, Handle, Shared as RtShared};
use crate::sched::{drop_task, Scheduler, ThreadWaker};
use crate::task::coop;
use crate::task::meta::TaskMeta;

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

/// The scheduler's shared state (see the module protocol).
pub(crate) struct Shared {
    /// Tasks scheduled from outside the workers (rule 1).
    injector: Injector<Task>,
    /// One per worker, by index.
    remotes: Box<[Remote]>,
    /// Parked and searching workers (rule 2).
    idle: Idle,
    /// The reactor; whoever holds the lock may turn it (rule 5).
    driver: Mutex<Driver>,
    /// `OPEN`, `CLOSING`, `CLOSED` (rule 6).
    state: AtomicU8,
    /// Worker queues not yet handed to their threads (taken by `start`).
    pending: Mutex<Vec<Worker<Task>>>,
    /// The worker threads, joined at shutdown.
    threads: Mutex<Vec<JoinHandle<()>>>,
    event_interval: u32,
    thread_name: String,
    hooks: ThreadHooks,
}

/// The multi-thread half of a runtime's `Shared`.
fn mt(rt: &RtShared) -> &Shared {
    match &rt.sched {
        Scheduler::MultiThread(s) => s,
        Scheduler::CurrentThread(_) => unreachable!("tether: not a multi-thread runtime"),
    }
}

impl Shared {
    pub(crate) fn new(
        driver: Driver,
        workers: usize,
        event_interval: u32,
        thread_name: String,
        hooks: ThreadHooks,
    ) -> Shared {
        let queues: Vec<Worker<Task>> = (0..workers).map(|_| Worker::new_fifo()).collect();
        let remotes = queues
            .iter()
            .map(|q| Remote {
                stealer: q.stealer(),
                parker: Parker::new(),
            })
            .collect();
        Shared {
            injector: Injector::new(),
            remotes,
            idle: Idle::new(workers),
            driver: Mutex::new(driver),
            state: AtomicU8::new(OPEN),
            pending: Mutex::new(queues),
            threads: Mutex::new(Vec::new()),
            event_interval,
            thread_name,
            hooks,
        }
    }

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
    fn notify_one(&self, rt: &RtShared) {
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
}

/// Starts the worker threads of runtime `rt`.
pub(crate) fn start(rt: &Arc<RtShared>) -> std::io::Result<()> {
    let sh = mt(rt);
    let queues = std::mem::take(&mut *lock(&sh.pending));
    let mut threads = lock(&sh.threads);
    for (index, queue) in queues.into_iter().enumerate() {
        let rt2 = rt.clone();
        let t = thread::Builder::new()
            .name(format!("{}-worker-{index}", sh.thread_name))
            .spawn(move || worker::run(rt2, index, queue))?;
        threads.push(t);
    }
    Ok(())
}

/// Hands a woken task to the scheduler (rule 1).
pub(crate) fn schedule(task: Task, info: ScheduleInfo) {
    let rt_addr = Arc::as_ptr(&task.metadata().shared) as usize;
    let w = context::worker();
    if !w.is_null() {
        // SAFETY: context invariant 1: a non-null worker pointer refers to this thread's live
        // `WorkerCtx`; we are on that thread.
        let w = unsafe { &*w };
        if w.rt_addr() == rt_addr {
            w.schedule_local(task, info.woken_while_running);
            return;
        }
    }
    let rt = task.metadata().shared.clone();
    push_remote(&rt, task);
}

fn push_remote(rt: &RtShared, task: Task) {
    let sh = mt(rt);
    if sh.state.load(Ordering::Acquire) == CLOSED {
        drop_task(task);
        return;
    }
    sh.injector.push(task);
    sh.notify_one(rt);
}

/// Runs `future` on the calling thread (which is not a worker) until it completes; the workers
/// run the tasks meanwhile.
pub(crate) fn block_on<F: Future>(rt: &Arc<RtShared>, future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(std::sync::Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    lock(&rt.block_on_wakers).push(waker.clone());
    struct Unregister<'a>(&'a RtShared, &'a Waker);
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

/// Shuts the runtime down (rule 6). Blocking jobs still running are waited for up to
/// `blocking_timeout` (forever if `None`).
pub(crate) fn shutdown(rt: &Arc<RtShared>, blocking_timeout: Option<Duration>) {
    let sh = mt(rt);
    sh.state.store(CLOSING, Ordering::SeqCst);
    rt.blocking.close();
    for r in sh.remotes.iter() {
        r.parker.unpark(|| rt.io.unparker.force_unpark());
    }
    let me = thread::current().id();
    let threads = std::mem::take(&mut *lock(&sh.threads));
    for t in threads {
        // A worker dropping its own runtime cannot wait for itself.
        if t.thread().id() != me {
            let _ = t.join();
        }
    }
    let _enter = context::enter(Handle { shared: rt.clone() });
    loop {
        let wakers = rt.registry.take_wakers();
        let mut progress = !wakers.is_empty();
        wakers.into_iter().for_each(Waker::wake);
        while let Some(task) = steal_one(&sh.injector) {
            drop_task(task);
            progress = true;
        }
        if !progress {
            break;
        }
    }
    sh.state.store(CLOSED, Ordering::SeqCst);
    rt.time.shutdown();
    rt.io.shutdown();
    while let Some(task) = steal_one(&sh.injector) {
        drop_task(task);
    }
    rt.blocking.wait(blocking_timeout);
}

fn steal_one(injector: &Injector<Task>) -> Option<Task> {
    loop {
        match injector.steal() {
            crossbeam_deque::Steal::Success(t) => return Some(t),
            crossbeam_deque::Steal::Empty => return None,
            crossbeam_deque::Steal::Retry => {}
        }
    }
}
