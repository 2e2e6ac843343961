//! Per-task metadata stored in the task's allocation, and task ids.
//!
//! `TaskMeta` lives in the header of every task cell (async-task's metadata slot), so reading it
//! costs no extra allocation or pointer chase. It is written once at spawn, except for:
//! 1. `key`: stored (relaxed) right after registration and before the task is first scheduled;
//!    every later reader synchronizes with that through the run queue or the registry lock.
//! 2. `flags`: `CANCEL_REQUESTED` is set by `JoinHandle::abort` from any thread and read by the
//!    task's own poll wrapper; it only ever goes from 0 to 1.

use std::fmt;
use std::num::NonZeroU64;

use crate::loom::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use crate::loom::sync::Arc;
use crate::runtime::Shared;

/// An opaque id that identifies a task uniquely among all tasks of the process, for its lifetime.
///
/// Ids are never reused while the process runs. Print one with `{}` (for example `task 7`).
///
/// # Examples
///
/// ```
/// let rt = tether::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     let a = tether::spawn(async {});
///     let b = tether::spawn(async {});
///     assert_ne!(a.id(), b.id());
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(NonZeroU64);

impl Id {
    pub(crate) fn next() -> Id {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        Id(NonZeroU64::new(id).expect("tether: task id counter overflowed"))
    }

    /// The id as a number, for logs and metrics.
    pub fn as_u64(&self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Set once `abort` (or a runtime shutdown) asked the task to stop.
pub(crate) const CANCEL_REQUESTED: u8 = 1;

/// What every task carries in its header.
pub(crate) struct TaskMeta {
    /// The runtime the task belongs to; its scheduler receives the task whenever it is woken.
    pub(crate) shared: Arc<Shared>,
    /// The task's id.
    pub(crate) id: Id,
    /// The task's slot in the runtime's registry (see rule 1 above).
    pub(crate) key: AtomicUsize,
    /// `CANCEL_REQUESTED` (see rule 2 above).
    pub(crate) flags: AtomicU8,
    /// A blocking job: scheduled onto the blocking pool instead of the scheduler.
    pub(crate) blocking: bool,
    /// The cancellation token of the scope the task belongs to; `None` for the root scope,
    /// whose token is the runtime's.
    pub(crate) scope: Option<crate::scope::CancelToken>,
}

impl TaskMeta {
    pub(crate) fn new(
        shared: Arc<Shared>,
        blocking: bool,
        scope: Option<crate::scope::CancelToken>,
    ) -> TaskMeta {
        TaskMeta {
            shared,
            id: Id::next(),
            key: AtomicUsize::new(usize::MAX),
            flags: AtomicU8::new(0),
            blocking,
            scope,
        }
    }

    /// The token that tells this task to stop: its scope's, or the runtime's for root tasks.
    pub(crate) fn cancel_token(&self) -> &crate::scope::CancelToken {
        self.scope.as_ref().unwrap_or(&self.shared.root_token)
    }

    #[inline]
    pub(crate) fn cancel_requested(&self) -> bool {
        self.flags.load(Ordering::Acquire) & CANCEL_REQUESTED != 0
    }

    pub(crate) fn request_cancel(&self) {
        self.flags.fetch_or(CANCEL_REQUESTED, Ordering::AcqRel);
    }
}
