//! Per-task metadata stored in the task's allocation, and task ids.
//!
//! `TaskMeta` lives in the header of every task cell (async-task's metadata slot), so reading it
//! costs no extra allocation or pointer chase. It holds the task's identity (id, name, spawn
//! location), which stays readable for as long as anything holds the task (its `JoinHandle`, a
//! waker, a run-queue entry), also after the task left the registry. It is written once at
//! spawn, except for:
//! 1. `key`: stored (relaxed) right after registration and before the task is first scheduled;
//!    every later reader synchronizes with that through the run queue or the registry lock.
//! 2. `flags`: each bit only ever goes from 0 to 1, by a read-modify-write.
//!    - `CANCEL_REQUESTED` is set by `JoinHandle::abort` (or a scope's hard drop, or shutdown)
//!      from any thread and read by the task's own poll wrapper.
//!    - `COMPLETE` is set by the poll wrapper when the task's result is decided, before it
//!      returns that result to async-task; `DETACHED` by the `JoinHandle`'s destructor. Which of
//!      the two came first decides who drops the result (`join.rs`, rules 1 and 2).
//! 3. `polls` and `poll_ticks` are written only by the task's poll wrapper and `wakes` only by
//!    its schedule function. async-task runs at most one poll and one schedule call of a task at
//!    a time and orders them (its state word), so each has one writer at a time: a relaxed load
//!    and store suffice, and other threads read them as approximate diagnostics.

use std::fmt;
use std::num::NonZeroU64;

use crate::loom::sync::atomic::{AtomicU16, AtomicU32, AtomicU8, Ordering};
use crate::loom::sync::Arc;
use crate::runtime::RuntimeShared;

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
        // std's atomic, not the loom shim's: a static, which a loom model cannot hold, and a
        // counter that is part of no protocol (only uniqueness matters).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        Id(NonZeroU64::new(id).expect("tether: task id counter overflowed"))
    }

    /// The `n`th id of a simulation: numbered per simulation, so that a replay prints the same
    /// ids, in a range (from 2^62) that the process-wide counter does not reach.
    #[cfg(feature = "sim")]
    pub(crate) fn simulated(n: u64) -> Id {
        Id(NonZeroU64::new((1 << 62) | n).expect("non-zero: bit 62 is set"))
    }

    /// The id as a number, for logs and metrics.
    pub fn as_u64(&self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A simulation's ids (bit 62, `simulated`) print as their number within it; the
        // process-wide counter never reaches bit 62.
        (self.0.get() & !(1 << 62)).fmt(f)
    }
}

/// Set once `abort` (or a runtime shutdown) asked the task to stop (rule 2).
pub(crate) const CANCEL_REQUESTED: u8 = 1;
/// Set once the task's result is decided: it is being stored for the `JoinHandle`, or was
/// dropped by the task because the handle was gone (rule 2).
const COMPLETE: u8 = 2;
/// Set once the task's `JoinHandle` is dropped (rule 2).
const DETACHED: u8 = 4;

/// What every task carries in its header.
pub(crate) struct TaskMeta {
    /// The runtime the task belongs to; its scheduler receives the task whenever it is woken.
    pub(crate) shared: Arc<RuntimeShared>,
    /// The task's id.
    pub(crate) id: Id,
    /// The name given at spawn, if any.
    pub(crate) name: Option<std::sync::Arc<str>>,
    /// Where the task was spawned.
    pub(crate) location: &'static std::panic::Location<'static>,
    /// The task's slot in the runtime's registry (see rule 1 above); read it with `key()`.
    key: AtomicU32,
    /// `CANCEL_REQUESTED`, `COMPLETE`, `DETACHED` (see rule 2 above).
    flags: AtomicU8,
    /// A blocking job: scheduled onto the blocking pool instead of the scheduler.
    pub(crate) blocking: bool,
    /// The cancellation token of the scope the task belongs to; `None` for the root scope,
    /// whose token is the runtime's. A `JoinSet`'s task holds its set's token here, which only
    /// names the set in the task dump: such a task is in the root scope
    /// ([`cancel_token`](Self::cancel_token)).
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
        shared: Arc<RuntimeShared>,
        name: Option<std::sync::Arc<str>>,
        location: &'static std::panic::Location<'static>,
        blocking: bool,
        scope: Option<crate::scope::CancelToken>,
    ) -> TaskMeta {
        #[cfg(feature = "sim")]
        let id = match &shared.sim {
            Some(world) => world.next_task_id(),
            None => Id::next(),
        };
        #[cfg(not(feature = "sim"))]
        let id = Id::next();
        TaskMeta {
            shared,
            id,
            name,
            location,
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

    /// The token that tells this task to stop: its scope's, or the runtime's for root tasks
    /// (those of a `JoinSet` included).
    pub(crate) fn cancel_token(&self) -> &crate::scope::CancelToken {
        match &self.scope {
            Some(token) if !token.is_join_set() => token,
            _ => &self.shared.root_token,
        }
    }

    /// Whether the task is in the runtime's root scope: not a scope's child (a `JoinSet`'s
    /// task is in the root scope).
    pub(crate) fn in_root_scope(&self) -> bool {
        self.scope.as_ref().is_none_or(|t| t.is_join_set())
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

    /// Marks the task's result as decided (rule 2). `Caller` when its `JoinHandle` was already
    /// dropped: the caller drops the result (`join.rs` rule 1).
    pub(crate) fn mark_complete(&self) -> ResultOwner {
        let prev = self.flags.fetch_or(COMPLETE, Ordering::AcqRel);
        ResultOwner::of(prev & DETACHED != 0)
    }

    /// Marks the task's `JoinHandle` as dropped (rule 2). `Caller` when the result was already
    /// decided: the caller takes it from the task and drops it (`join.rs` rule 2).
    pub(crate) fn mark_detached(&self) -> ResultOwner {
        let prev = self.flags.fetch_or(DETACHED, Ordering::AcqRel);
        ResultOwner::of(prev & COMPLETE != 0)
    }

    /// Whether the task's result is decided (rule 2).
    pub(crate) fn is_complete(&self) -> bool {
        self.flags.load(Ordering::Acquire) & COMPLETE != 0
    }
}

/// Who drops a task's result, as decided by setting `COMPLETE` or `DETACHED` (rule 2).
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResultOwner {
    /// The caller: the other side set its bit first, so nobody else will touch the result.
    Caller,
    /// The other side, which comes later and will see the caller's bit.
    Other,
}

impl ResultOwner {
    fn of(other_side_first: bool) -> ResultOwner {
        if other_side_first {
            ResultOwner::Caller
        } else {
            ResultOwner::Other
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn task_meta_stays_at_sixty_four_bytes() {
        // Every task carries one; the idle-task memory benchmark counts it. The name and spawn
        // location (24 of the bytes) were moved here from the registry's entry, which shrank by
        // as much. The `tracing` feature adds the task's span.
        #[cfg(feature = "tracing")]
        let span = std::mem::size_of::<tracing::Span>();
        #[cfg(not(feature = "tracing"))]
        let span = 0;
        assert_eq!(std::mem::size_of::<super::TaskMeta>(), 64 + span);
    }
}
