//! The per-thread runtime context.
//!
//! Owns the thread-local record of which runtime this thread has entered and, while a thread drives
//! a scheduler, a pointer to that scheduler's thread-owned state: the run queue of a
//! current-thread core inside `block_on`, or the worker state of a multi-thread worker.
//!
//! Invariants the rest of the crate relies on:
//! 1. `run_queue` is non-null only between [`RunQueueGuard`]'s creation and drop, which bracket
//!    one `block_on` call on this thread; the pointee outlives the guard. Likewise `worker` is
//!    non-null only between [`WorkerGuard`]'s creation and drop, which bracket a worker thread's
//!    run loop (or a helper's, holding a lent worker); the pointee lives on the worker thread's
//!    stack for the whole loop. While the worker thread has lent its worker for
//!    `block_in_place`, its own `worker` is null ([`replace_worker`]), until the poll that lent
//!    it ends and takes it back (`sched/multi_thread/lend.rs`).
//! 2. `run_queue` and `worker` are only ever read on the thread that set them (they are
//!    thread-local).
//! 3. Guards restore the previous value on drop, so nesting and unwinding leave the context as
//!    it was before.

use std::cell::{Cell, RefCell};
use std::ptr;

use crate::runtime::{Handle, RuntimeId};
use crate::sched::current_thread::RunQueue;
use crate::sched::multi_thread::WorkerCtx;

struct Context {
    /// The runtime entered on this thread, by `block_on` or `Handle::enter`.
    handle: RefCell<Option<Handle>>,
    /// The run queue of the current-thread core this thread drives, if inside its `block_on`.
    run_queue: Cell<*const RunQueue>,
    /// The multi-thread worker this thread is, if it is one.
    worker: Cell<*const WorkerCtx>,
}

thread_local! {
    static CONTEXT: Context = const {
        Context {
            handle: RefCell::new(None),
            run_queue: Cell::new(ptr::null()),
            worker: Cell::new(ptr::null()),
        }
    };
}

/// Makes the previously entered runtime current again when dropped: what [`enter`] returns.
///
/// The crate's own guard; the public `runtime::EnterGuard` of `Handle::enter` wraps one.
pub(crate) struct SetCurrentGuard {
    prev: Option<Handle>,
}

/// Makes `handle` the current runtime of this thread until the guard drops.
pub(crate) fn enter(handle: Handle) -> SetCurrentGuard {
    let prev = CONTEXT.with(|c| c.handle.replace(Some(handle)));
    SetCurrentGuard { prev }
}

impl Drop for SetCurrentGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // `try_with` fails only while the thread is being torn down; nothing to restore then.
        let _ = CONTEXT.try_with(|c| c.handle.replace(prev));
    }
}

/// Runs `f` with the runtime entered on this thread, if any.
pub(crate) fn with_handle<R>(f: impl FnOnce(Option<&Handle>) -> R) -> R {
    match CONTEXT.try_with(|c| {
        let h = c.handle.borrow();
        // The closure runs outside the borrow only for `None`; `Handle` methods never re-enter
        // the context mutably, so holding the shared borrow is fine.
        f(h.as_ref())
    }) {
        Ok(r) => r,
        Err(_) => panic!(
            "tether: the thread-local runtime context was used while the thread is shutting down"
        ),
    }
}

/// A clone of the runtime entered on this thread, if any.
pub(crate) fn current_handle() -> Option<Handle> {
    CONTEXT
        .try_with(|c| c.handle.borrow().clone())
        .ok()
        .flatten()
}

/// Restores the previous run-queue pointer when dropped.
pub(crate) struct RunQueueGuard {
    prev: *const RunQueue,
}

/// Records that this thread now drives the current-thread core whose run queue is `run_queue`.
///
/// The caller keeps `*run_queue` alive and in place until the guard drops (invariant 1).
pub(crate) fn set_run_queue(run_queue: *const RunQueue) -> RunQueueGuard {
    let prev = CONTEXT.with(|c| c.run_queue.replace(run_queue));
    RunQueueGuard { prev }
}

impl Drop for RunQueueGuard {
    fn drop(&mut self) {
        let prev = self.prev;
        let _ = CONTEXT.try_with(|c| c.run_queue.set(prev));
    }
}

/// The run queue of the current-thread core this thread drives, or null outside `block_on`.
#[inline]
pub(crate) fn run_queue() -> *const RunQueue {
    CONTEXT
        .try_with(|c| c.run_queue.get())
        .unwrap_or(ptr::null())
}

/// Restores the previous worker pointer when dropped.
pub(crate) struct WorkerGuard {
    prev: *const WorkerCtx,
}

/// Records that this thread is the multi-thread worker at `worker` (invariant 1).
pub(crate) fn set_worker(worker: *const WorkerCtx) -> WorkerGuard {
    let prev = CONTEXT.with(|c| c.worker.replace(worker));
    WorkerGuard { prev }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let prev = self.prev;
        let _ = CONTEXT.try_with(|c| c.worker.set(prev));
    }
}

/// Makes `worker` the worker this thread is and returns the previous value, without a guard:
/// for lending a worker and taking it back (`sched/multi_thread/lend.rs`), inside the run loop
/// that a [`WorkerGuard`] brackets (invariant 1).
pub(crate) fn replace_worker(worker: *const WorkerCtx) -> *const WorkerCtx {
    CONTEXT
        .try_with(|c| c.worker.replace(worker))
        .unwrap_or(ptr::null())
}

/// The worker this thread is, or null.
#[inline]
pub(crate) fn worker() -> *const WorkerCtx {
    CONTEXT.try_with(|c| c.worker.get()).unwrap_or(ptr::null())
}

/// The runtime whose scheduler this thread drives right now (a current-thread core in
/// `block_on`, or a worker), if any.
pub(crate) fn driving_runtime() -> Option<RuntimeId> {
    let run_queue = run_queue();
    if !run_queue.is_null() {
        // SAFETY: invariant 1: a non-null `run_queue` points to a live `RunQueue` on this thread.
        return Some(unsafe { &*run_queue }.runtime_id());
    }
    let worker = worker();
    if !worker.is_null() {
        // SAFETY: invariant 1: a non-null `worker` points to the live `WorkerCtx` of this thread.
        return Some(unsafe { &*worker }.runtime_id());
    }
    None
}
