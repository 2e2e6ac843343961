//! Schedulers: which task runs next, on which thread, and when threads sleep.
//!
//! Two flavors share the task cell, the reactor and the timers:
//! - [`current_thread`]: every task runs on the thread inside `Runtime::block_on`;
//! - [`multi_thread`]: worker threads with per-worker queues and work stealing.
//!
//! Tasks reach their scheduler through [`schedule`], the schedule function of every task cell.

pub(crate) mod current_thread;
pub(crate) mod inbox;
pub(crate) mod multi_thread;

use std::thread::Thread;

use crate::task::raw::{Runnable, ScheduleInfo};

use crate::task::meta::TaskMeta;

/// The scheduler of a runtime, by flavor.
// One per runtime, inside its `Arc`: the variants' sizes do not matter, and boxing the large one
// would add a pointer chase to every `schedule`.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Scheduler {
    CurrentThread(current_thread::CurrentThreadShared),
    MultiThread(multi_thread::MultiThreadShared),
}

impl Scheduler {
    /// The current-thread scheduler's shared state, for the current-thread scheduler's own code.
    ///
    /// # Panics
    ///
    /// On a multi-thread runtime, which would be a bug of the caller.
    pub(crate) fn current_thread(&self) -> &current_thread::CurrentThreadShared {
        match self {
            Scheduler::CurrentThread(s) => s,
            Scheduler::MultiThread(_) => unreachable!("tether: not a current-thread runtime"),
        }
    }

    /// The multi-thread scheduler's shared state, for the multi-thread scheduler's own code.
    ///
    /// # Panics
    ///
    /// On a current-thread runtime, which would be a bug of the caller.
    pub(crate) fn multi_thread(&self) -> &multi_thread::MultiThreadShared {
        match self {
            Scheduler::MultiThread(s) => s,
            Scheduler::CurrentThread(_) => unreachable!("tether: not a multi-thread runtime"),
        }
    }

    /// Whether a task spawned on the calling thread will likely be finished on it too: always
    /// on a current-thread runtime (its one thread runs every task), on a worker of this
    /// runtime with worker threads. The registry links such a task in at once (registry rule
    /// 1).
    #[inline]
    pub(crate) fn finishes_here(
        &self,
        rt: &crate::loom::sync::Arc<crate::runtime::RuntimeShared>,
    ) -> bool {
        match self {
            Scheduler::CurrentThread(_) => true,
            Scheduler::MultiThread(_) => {
                let w = crate::runtime::context::worker();
                // SAFETY: context invariant 1: a non-null worker pointer refers to this
                // thread's live `WorkerCtx`; we are on that thread.
                !w.is_null() && unsafe { &*w }.belongs_to(rt)
            }
        }
    }

    /// The shard of the runtime's timers that a `Sleep` first polled on this thread is filed in
    /// (the time driver's module docs): a worker's own (its index), or, for any other thread,
    /// the one after the workers'; a current-thread runtime has one.
    #[inline]
    pub(crate) fn timer_shard(
        &self,
        rt: &crate::loom::sync::Arc<crate::runtime::RuntimeShared>,
    ) -> usize {
        match self {
            Scheduler::CurrentThread(_) => 0,
            Scheduler::MultiThread(s) => {
                let w = crate::runtime::context::worker();
                // SAFETY: context invariant 1: a non-null worker pointer refers to this
                // thread's live `WorkerCtx`; we are on that thread.
                match unsafe { w.as_ref() } {
                    Some(w) if w.belongs_to(rt) => w.index(),
                    _ => s.worker_count(),
                }
            }
        }
    }

    /// Whether the runtime still accepts tasks (it is not shutting down).
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        match self {
            Scheduler::CurrentThread(s) => s.is_open(),
            Scheduler::MultiThread(s) => s.is_open(),
        }
    }

    /// Whether some thread drives this runtime right now (a current-thread core inside
    /// `block_on`, or the multi-thread workers, which always run until shutdown).
    pub(crate) fn is_driven(&self) -> bool {
        match self {
            Scheduler::CurrentThread(s) => s.is_driven(),
            Scheduler::MultiThread(_) => true,
        }
    }
}

/// Hands a woken task to its runtime's scheduler (or to the blocking pool for blocking jobs).
#[inline]
pub(crate) fn schedule(runnable: Runnable<TaskMeta>, info: ScheduleInfo) {
    let meta = runnable.metadata();
    if meta.blocking() {
        // A simulation runs blocking jobs on its own thread, in simulated time.
        #[cfg(feature = "sim")]
        if meta.shared().sim.is_some() {
            return current_thread::schedule(runnable, info);
        }
        let rt = meta.shared().clone();
        rt.blocking.push(&rt, runnable);
        return;
    }
    match meta.shared().sched {
        Scheduler::CurrentThread(_) => current_thread::schedule(runnable, info),
        Scheduler::MultiThread(_) => multi_thread::schedule(runnable, info),
    }
}

/// Drops a task that will not run again, which cancels it. A panic from the future's destructor
/// is contained; the panic hook already reported it.
pub(crate) fn drop_task(task: Runnable<TaskMeta>) {
    crate::task::contain(move || drop(task));
}

/// Wakes a thread parked in `block_on` (waiting for its future, or for a current-thread core).
pub(crate) struct ThreadWaker(pub(crate) Thread);

impl crate::task::waker_id::OwnWake for ThreadWaker {
    fn wake_by_ref(&self) {
        self.0.unpark();
    }
}

impl ThreadWaker {
    /// A waker of the current thread (an own waker: a task's awaiter slot keeps it in a word).
    pub(crate) fn current() -> std::task::Waker {
        let waker = crate::task::waker_id::OwnWaker::new(ThreadWaker(std::thread::current()));
        crate::task::waker_id::OwnWaker::waker(&waker)
    }
}
