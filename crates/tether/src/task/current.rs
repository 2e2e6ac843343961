//! The task being polled on this thread, and what a task can ask about itself.
//!
//! `TaskFuture::poll` records its task's metadata here for the duration of the user's poll, and
//! `TaskFuture` does too while it drops an unfinished user future (an aborted task, or one
//! dropped at shutdown), so that its destructors run as the task (rule: the pointer is non-null
//! only inside that poll or drop, during which the metadata it points to is borrowed by the
//! `TaskFuture` and therefore alive).
//!
//! A scheduler thread also records its diagnostics slot here (`set_slot`) for as long as it runs
//! tasks; the slot lives in the runtime's `RuntimeShared`, which the scheduler keeps alive
//! meanwhile.

use std::cell::Cell;
use std::ptr;

use crate::runtime::diagnostics::WorkerSlot;
use crate::scope::{CancelToken, Cancelled};
use crate::task::meta::TaskMeta;
use crate::task::Id;

thread_local! {
    static CURRENT: Cell<*const TaskMeta> = const { Cell::new(ptr::null()) };
    static SLOT: Cell<*const WorkerSlot> = const { Cell::new(ptr::null()) };
}

/// Restores the previous diagnostics slot when dropped.
pub(crate) struct SlotGuard {
    prev: *const WorkerSlot,
}

/// Makes `slot` this thread's diagnostics slot until the guard drops.
///
/// The caller keeps the slot alive (holds its runtime) until then.
pub(crate) fn set_slot(slot: Option<&WorkerSlot>) -> SlotGuard {
    let p = slot.map_or(ptr::null(), |s| s as *const WorkerSlot);
    let prev = SLOT.try_with(|c| c.replace(p)).unwrap_or(ptr::null());
    SlotGuard { prev }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let _ = SLOT.try_with(|c| c.set(self.prev));
    }
}

/// Makes `slot` this thread's diagnostics slot and returns the previous one, without a guard:
/// for lending a worker (`sched/multi_thread/lend.rs`), which restores it itself. The caller
/// keeps the slot alive until it is replaced again.
pub(crate) fn replace_slot(slot: *const WorkerSlot) -> *const WorkerSlot {
    SLOT.try_with(|c| c.replace(slot)).unwrap_or(ptr::null())
}

/// This thread's diagnostics slot, if it is a scheduler thread of a runtime with diagnostics on.
/// The pointer is valid until the `SlotGuard` that set it drops (see `set_slot`).
#[inline]
pub(crate) fn slot() -> *const WorkerSlot {
    SLOT.try_with(Cell::get).unwrap_or(ptr::null())
}

/// Counts a spawn made on this thread in its diagnostics slot, if it has one (see
/// `WorkerSlot::spawned_one`).
#[inline]
pub(crate) fn count_spawn() {
    // SAFETY: a non-null slot pointer was set by the scheduler loop running further down this
    // thread's stack, and stays valid until that loop ends (`set_slot`).
    if let Some(slot) = unsafe { slot().as_ref() } {
        slot.spawned_one();
    }
}

/// Restores the previous current task when dropped.
pub(crate) struct CurrentGuard {
    prev: *const TaskMeta,
}

/// Makes `meta` the current task until the guard drops.
#[inline]
pub(crate) fn enter(meta: &TaskMeta) -> CurrentGuard {
    let prev = CURRENT.try_with(|c| c.replace(meta)).unwrap_or(ptr::null());
    CurrentGuard { prev }
}

impl Drop for CurrentGuard {
    #[inline]
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.prev));
    }
}

/// Runs `f` with the current task's metadata, if a task is being polled on this thread.
fn with_current<R>(f: impl FnOnce(Option<&TaskMeta>) -> R) -> R {
    let p = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: a non-null pointer was set by `enter` from a `&TaskMeta` borrowed for the whole
    // poll or drop that is running now on this thread (module rule), so it is valid here.
    f(unsafe { p.as_ref() })
}

/// The id of the task being polled on this thread.
///
/// # Panics
///
/// Panics outside a task (for example in the future given to `block_on`); use [`try_id`].
#[track_caller]
pub fn id() -> Id {
    try_id().unwrap_or_else(|| {
        panic!(
            "tether::task::id() was called outside a task (the future passed to block_on is not \
             a task); use tether::task::try_id() where that can happen"
        )
    })
}

/// The id of the task being polled on this thread, or `None` outside a task.
pub fn try_id() -> Option<Id> {
    with_current(|m| m.map(|m| m.id))
}

/// The cancellation token of the current task: its scope's, or, for a task spawned with
/// `tether::spawn`, the runtime's (cancelled by `Runtime::shutdown_graceful`).
pub(crate) fn current_token() -> Option<CancelToken> {
    with_current(|m| m.map(|m| m.cancel_token().clone()))
}

/// Completes when the current task is asked to stop: when its scope is cancelled (a sibling
/// failed, the scope's deadline passed, the scope was dropped or cancelled explicitly), or, for
/// a task spawned with `tether::spawn` or into a [`JoinSet`](crate::task::JoinSet), when the
/// runtime shuts down gracefully. (Aborting a task, which a `JoinSet` does when it is dropped,
/// is not a signal: the task's future is dropped at its next poll.)
///
/// This is the first, cooperative phase of cancellation: the task can finish what it is doing
/// (answer the request in flight, close the connection cleanly) before its scope's grace period
/// runs out and it is dropped.
///
/// # Panics
///
/// Panics outside a task (for example in the future given to `block_on`): only tasks belong to
/// a scope. Inside a scope's body, use [`Scope::cancelled`](crate::scope::Scope::cancelled).
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let res = tether::scope::scope(|s| async move {
///         s.spawn(async {
///             tether::task::cancelled().await;
///             Ok::<_, &str>("closed cleanly") // runs during the grace period
///         })
///         .await;
///         s.spawn(async { Err::<(), _>("boom") }).await;
///         Ok(())
///     })
///     .await;
///     assert!(res.is_err());
/// }
/// ```
#[track_caller]
pub fn cancelled() -> Cancelled {
    match current_token() {
        Some(t) => t.cancelled(),
        None => panic!(
            "tether::task::cancelled() was called outside a task; in a scope's body use \
             Scope::cancelled(), elsewhere keep a tether::scope::CancelToken"
        ),
    }
}

/// Whether the current task was asked to stop (see [`cancelled`]). False outside a task.
pub fn is_cancelled() -> bool {
    with_current(|m| m.is_some_and(|m| m.cancel_token().is_cancelled()))
}
