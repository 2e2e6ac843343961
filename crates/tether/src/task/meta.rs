//! Per-task metadata stored in the task's allocation, and task ids.
//!
//! `TaskMeta` lives in the header of every task cell (async-task's metadata slot), so reading it
//! costs no extra allocation or pointer chase. It is written once at spawn, except for:
//! 1. `key`: stored (relaxed) right after registration and before the task is first scheduled;
//!    every later reader synchronizes with that through the run queue or the registry lock.
//! 2. `flags`: `CANCEL_REQUESTED` is set by `JoinHandle::abort` from any thread and read by the
//!    task's own poll wrapper; it only ever goes from 0 to 1.
//! 3. `polls` and `poll_ticks` are written only by the task's poll wrapper and `wakes` only by
//!    its schedule function. async-task runs at most one poll and one schedule call of a task at
//!    a time and orders them (its state word), so each has one writer at a time: a relaxed load
//!    and store suffice, and other threads read them as approximate diagnostics.

use std::fmt;
use std::num::NonZeroU64;

use crate::loom::sync::atomic::{AtomicU16, AtomicU32, AtomicU8, Ordering};
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
    #[inline]
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
    /// The task's slot in the runtime's registry (see rule 1 above); read it with `key()`.
    key: AtomicU32,
    /// `CANCEL_REQUESTED` (see rule 2 above).
    pub(crate) flags: AtomicU8,
    /// A blocking job: scheduled onto the blocking pool instead of the scheduler.
    pub(crate) blocking: bool,
    /// The cancellation token of the scope the task belongs to; `None` for the root scope,
    /// whose token is the runtime's.
    pub(crate) scope: Option<crate::scope::CancelToken>,
    /// Polls started (rule 3).
    pub(crate) polls: AtomicU32,
    /// Times the task was scheduled, modulo 2^16 (rule 3); it differs from `polls` (modulo
    /// 2^16) while the task waits in a run queue. 16 bits keep `TaskMeta` at 40 bytes.
    pub(crate) wakes: AtomicU16,
    /// Time spent in poll as credited by the watchdog, in `diagnostics::TICK`s (rule 3).
    pub(crate) poll_ticks: AtomicU32,
    /// The task's span, entered at each poll (feature `tracing`).
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

impl TaskMeta {
    #[inline]
    pub(crate) fn new(
        shared: Arc<Shared>,
        blocking: bool,
        scope: Option<crate::scope::CancelToken>,
    ) -> TaskMeta {
        TaskMeta {
            shared,
            id: Id::next(),
            key: AtomicU32::new(u32::MAX),
            flags: AtomicU8::new(0),
            blocking,
            scope,
            polls: AtomicU32::new(0),
            wakes: AtomicU16::new(0),
            poll_ticks: AtomicU32::new(0),
            #[cfg(feature = "tracing")]
            span: tracing::Span::none(),
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

    /// The task's registry key (rule 1).
    #[inline]
    pub(crate) fn key(&self) -> usize {
        self.key.load(Ordering::Relaxed) as usize
    }

    /// Records the task's registry key (rule 1).
    #[inline]
    pub(crate) fn set_key(&self, key: usize) {
        let key = u32::try_from(key).expect("tether: more than 4 billion live tasks");
        self.key.store(key, Ordering::Relaxed);
    }

    /// Whether the task waits in a run queue (woken more often than polled; rule 3).
    pub(crate) fn is_scheduled(&self) -> bool {
        let polls = self.polls.load(Ordering::Relaxed) as u16;
        self.wakes.load(Ordering::Relaxed) != polls
    }

    /// Counts a poll (rule 3).
    #[inline]
    pub(crate) fn count_poll(&self) {
        let n = self.polls.load(Ordering::Relaxed);
        self.polls.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    /// Counts a schedule (rule 3).
    #[inline]
    pub(crate) fn count_wake(&self) {
        let n = self.wakes.load(Ordering::Relaxed);
        self.wakes.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    pub(crate) fn request_cancel(&self) {
        self.flags.fetch_or(CANCEL_REQUESTED, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn task_meta_stays_at_forty_bytes() {
        // Every task carries one; the idle-task memory benchmark counts it. The `tracing`
        // feature adds the task's span.
        #[cfg(feature = "tracing")]
        let span = std::mem::size_of::<tracing::Span>();
        #[cfg(not(feature = "tracing"))]
        let span = 0;
        assert_eq!(std::mem::size_of::<super::TaskMeta>(), 40 + span);
    }
}
