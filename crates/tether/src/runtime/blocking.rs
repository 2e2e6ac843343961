//! The blocking pool: threads owned by the runtime that run closures which would block the
//! scheduler (`spawn_blocking`, DNS lookups).
//!
//! A blocking job is an ordinary task (same cell, same `JoinHandle`, listed in the registry) whose
//! schedule function routes it here instead of to the scheduler. Its future runs the closure in
//! one poll.
//!
//! Protocol (all under `state`'s lock):
//! 1. `push` queues the job. Invariant: every queued job is matched by an idle thread that will
//!    take it or by a thread being started for it, as far as `max_threads` allows. So `push`
//!    notifies an idle thread only while the queue (this job included) holds no more jobs than
//!    there are idle threads: an idle thread that was notified stays counted as idle until it
//!    wakes, and the job already queued for it is what it takes. Otherwise a new thread is
//!    started while fewer than `max_threads` exist; past that the job waits in the queue (no
//!    limit on queued jobs; the limit is on threads).
//! 2. A thread that wakes leaves the idle count and takes a job in the same critical section.
//!    It waits for work up to `keep_alive`; if none came it retires, leaving the thread count
//!    in the critical section that decides it (it counts as `retiring` until its exit is
//!    done): a job pushed once it decided must not find the pool full of a thread that will
//!    never take a job, with nobody woken for it.
//! 3. `shutdown` refuses new jobs, cancels queued ones (their `JoinHandle`s report cancellation),
//!    and then waits (up to a timeout, or forever) for running jobs' threads to exit.
//! 4. **Exited means gone.** A retiring thread leaves `retiring` and hands its own `JoinHandle`
//!    over to `exited` in one critical section; `wait` joins those handles once the count allows, so
//!    when it returns the threads have ended, not just said goodbye (a thread still unwinding
//!    its runtime handle and thread-locals was visible in `/proc` after a shutdown). A thread
//!    that retires during normal operation is joined, if finished, at the next thread start.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::task::raw::Runnable;

use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::runtime::builder::{ThreadHooks, ThreadSpawn};
use crate::runtime::{context, Handle, RuntimeShared};
use crate::task::meta::TaskMeta;

type Job = Runnable<TaskMeta>;

/// The pool's queue and counters, under `BlockingPool::state`'s lock (rules 1-3).
struct BlockingPoolState {
    queue: VecDeque<Job>,
    /// Threads alive (running a job or waiting for one); a thread that decided to retire has
    /// left this count (rule 2), so that a job pushed meanwhile starts a thread of its own.
    threads: usize,
    /// Threads that left `threads` to retire and have not finished their exit yet (the stop
    /// hook, rule 4): `wait` waits for them too.
    retiring: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// Jobs queued or running; the paused clock does not auto-advance while this is non-zero.
    busy: usize,
    shutdown: bool,
    next_thread: usize,
    /// The handles of the threads alive, by their number (rule 4).
    handles: HashMap<usize, JoinHandle<()>>,
    /// The handles of threads that left the count, to be joined (rule 4).
    exited: Vec<JoinHandle<()>>,
}

/// See the module docs.
pub(crate) struct BlockingPool {
    /// Holding the lock means owning the queue and the counters (protocol rules 1-3).
    state: Mutex<BlockingPoolState>,
    /// Signalled when a job is queued, and at shutdown.
    work: Condvar,
    /// Signalled when a thread exits.
    exited: Condvar,
    /// Blocking jobs alive (queued, running, or done and not dropped yet): each [`CountedJob`]
    /// from its creation, just before its task enters the registry, until its future is dropped,
    /// just before the task leaves it. `RuntimeMetrics::live_tasks` subtracts them from the
    /// registry's count, since tokio's `num_alive_tasks` counts no blocking job. Relaxed: a
    /// gauge read as a snapshot; a job that finished before its `JoinHandle` returned is no
    /// longer counted by then (the task cell drops the future before it publishes the output).
    live_jobs: AtomicUsize,
    max_threads: usize,
    keep_alive: Duration,
    /// Names the threads (`PREFIX-blocking-N`) and sizes their stacks.
    spawn: ThreadSpawn,
    hooks: ThreadHooks,
}

impl BlockingPool {
    pub(crate) fn new(
        max_threads: usize,
        keep_alive: Duration,
        spawn: ThreadSpawn,
        hooks: ThreadHooks,
    ) -> Self {
        BlockingPool {
            state: Mutex::new(BlockingPoolState {
                queue: VecDeque::new(),
                threads: 0,
                retiring: 0,
                idle: 0,
                busy: 0,
                shutdown: false,
                next_thread: 0,
                handles: HashMap::new(),
                exited: Vec::new(),
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            live_jobs: AtomicUsize::new(0),
            max_threads,
            keep_alive,
            spawn,
            hooks,
        }
    }

    /// Whether blocking jobs are queued or running.
    pub(crate) fn is_busy(&self) -> bool {
        lock(&self.state).busy > 0
    }

    /// Threads alive now, and how many of them wait for a job.
    pub(crate) fn threads(&self) -> (usize, usize) {
        let st = lock(&self.state);
        (st.threads, st.idle)
    }

    /// Blocking jobs alive now (see `live_jobs`).
    pub(crate) fn live_jobs(&self) -> usize {
        self.live_jobs.load(Ordering::Relaxed)
    }

    /// Queues a job (rule 1). `rt` is the runtime owning this pool.
    pub(crate) fn push(&self, rt: &Arc<RuntimeShared>, job: Job) {
        let mut st = lock(&self.state);
        if st.shutdown {
            drop(st);
            // Rule 3: cancelled; the JoinHandle reports it.
            drop(job);
            return;
        }
        st.queue.push_back(job);
        st.busy += 1;
        // Rule 1: idle threads that were notified but have not woken yet still count as idle,
        // and each has a queued job waiting for it; only a job beyond those may take one.
        if st.queue.len() <= st.idle {
            self.work.notify_one();
            return;
        }
        if st.threads < self.max_threads {
            let n = st.next_thread;
            st.next_thread += 1;
            st.threads += 1;
            let rt2 = rt.clone();
            // Rule 4: threads that retired and have ended are done with; dropping a finished
            // thread's handle frees it.
            st.exited.retain(|h| !h.is_finished());
            let new = self.spawn.thread(&format!("blocking-{n}"));
            let spawned = new.builder.spawn(move || worker(rt2, n));
            match spawned {
                // Under the lock the new thread needs before it can exit: listed in time.
                Ok(handle) => {
                    st.handles.insert(n, handle);
                }
                Err(e) => {
                    st.threads -= 1;
                    assert!(
                        st.threads > 0,
                        "tether: the blocking pool could not start a thread and has none to run \
                         the job: {e}"
                    );
                }
            }
            if let Some(report) = new.name_panic {
                // Not under the pool's lock: the failure hook may spawn blocking jobs.
                drop(st);
                ThreadSpawn::report_name_panic(rt, &report);
            }
        }
    }

    /// Rule 3, first half: refuses new jobs and cancels the queued ones.
    pub(crate) fn close(&self) {
        let queued: Vec<Job> = {
            let mut st = lock(&self.state);
            st.shutdown = true;
            let n = st.queue.len();
            st.busy -= n;
            self.work.notify_all();
            st.queue.drain(..).collect()
        };
        drop(queued);
    }

    /// Rule 3, second half: waits for running jobs' threads to exit, up to `timeout` (forever if
    /// `None`), and joins them (rule 4). Returns false if some were still running when the time
    /// was up.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> bool {
        // A thread of this pool shutting its own runtime down must not wait for itself (a
        // thread of another runtime's pool dropping this runtime waits for all of this pool's).
        let me = is_thread_of(self);
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = lock(&self.state);
        while st.threads + st.retiring > usize::from(me) {
            match deadline {
                None => st = self.exited.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    st = self
                        .exited
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        // Rule 4: each of these has left the count and only has its own exit to finish.
        let exited = std::mem::take(&mut st.exited);
        drop(st);
        for handle in exited {
            let _ = handle.join();
        }
        true
    }
}

thread_local! {
    /// The pool whose thread this is (null on other threads). Only compared, never read
    /// through: a pool thread holds its runtime, so the pool stays at this address for the
    /// thread's life.
    static POOL_OF_THREAD: std::cell::Cell<*const BlockingPool> =
        const { std::cell::Cell::new(std::ptr::null()) };
}

/// Whether the current thread is one of `pool`'s.
fn is_thread_of(pool: &BlockingPool) -> bool {
    POOL_OF_THREAD.with(|c| std::ptr::eq(c.get(), pool))
}

/// Runs a pool thread's start or stop hook. A panic in it is handed to the failure policy:
/// unwound, it would end the thread with the thread still counted (so `wait`, and the
/// runtime's drop, would wait for it forever) and its job never run.
fn run_hook(rt: &RuntimeShared, hook: Option<&(dyn Fn() + Send + Sync)>) {
    let Some(f) = hook else { return };
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let thread = thread::current();
        crate::task::contain(|| {
            rt.report_unhandled(&crate::diag::UnhandledFailure::worker(
                thread.name().unwrap_or("tether-blocking"),
                crate::task::panic_message(payload.as_ref()),
            ))
        });
        crate::task::contain(move || drop(payload));
    }
}

/// A pool thread: runs jobs until it has been idle for `keep_alive` or the pool shuts down
/// (rule 2).
fn worker(rt: Arc<RuntimeShared>, number: usize) {
    POOL_OF_THREAD.with(|c| c.set(&rt.blocking));
    // The hooks run inside the runtime's context (`Handle::current()` works there, as in
    // tokio), and a panic in one is reported, never unwound past the pool's count (rule 2).
    let _enter = context::enter(Handle { shared: rt.clone() });
    run_hook(&rt, rt.blocking.hooks.on_start.as_deref());
    let pool = &rt.blocking;
    let mut st = lock(&pool.state);
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            job.run();
            st = lock(&pool.state);
            st.busy -= 1;
            if st.busy == 0 {
                // The paused clock may auto-advance again; let the scheduler re-check.
                rt.io.unparker.unpark();
            }
            continue;
        }
        if st.shutdown {
            break;
        }
        st.idle += 1;
        let (guard, res) = pool
            .work
            .wait_timeout(st, pool.keep_alive)
            .unwrap_or_else(|e| e.into_inner());
        st = guard;
        st.idle -= 1;
        if res.timed_out() && st.queue.is_empty() {
            break;
        }
    }
    // Rule 2: out of the count in the section that decided it.
    st.threads -= 1;
    st.retiring += 1;
    drop(st);
    run_hook(&rt, pool.hooks.on_stop.as_deref());
    let mut st = lock(&pool.state);
    st.retiring -= 1;
    // Rule 4. The handle is there: the spawner listed it before releasing the lock.
    if let Some(handle) = st.handles.remove(&number) {
        st.exited.push(handle);
    }
    pool.exited.notify_all();
}

pin_project_lite::pin_project! {
    /// A blocking job's future (`spawn_blocking`, `JoinSet::spawn_blocking`), counted in its
    /// runtime's `BlockingPool::live_jobs` for as long as it exists.
    pub(crate) struct CountedJob<F> {
        #[pin]
        job: F,
        live: LiveJob,
    }
}

impl<F> CountedJob<F> {
    /// Counts `job` as a blocking job of `rt` until it is dropped.
    pub(crate) fn new(rt: &Arc<RuntimeShared>, job: F) -> CountedJob<F> {
        rt.blocking.live_jobs.fetch_add(1, Ordering::Relaxed);
        CountedJob {
            job,
            live: LiveJob(rt.clone()),
        }
    }
}

impl<F: Future> Future for CountedJob<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().job.poll(cx)
    }
}

/// Takes a [`CountedJob`] out of the count when it is dropped.
struct LiveJob(Arc<RuntimeShared>);

impl Drop for LiveJob {
    fn drop(&mut self) {
        self.0.blocking.live_jobs.fetch_sub(1, Ordering::Relaxed);
    }
}
