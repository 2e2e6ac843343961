//! Creating a task: the poll wrapper around the user's future, and the spawn primitive.
//!
//! A task is one allocation, the task cell of `raw.rs`: its header (state word, reference count,
//! vtable, awaiter waker), our [`TaskMeta`], and a union of the future and its output. The future
//! stored there is a [`TaskFuture`], which wraps the user's future to:
//!
//! 1. catch a panic in `poll` and hand it to the task's [`Outcome`] (a plain task's output is
//!    then `Err(JoinError::panic)`), so a panicking task never unwinds into the scheduler;
//! 2. check `CANCEL_REQUESTED` before each poll and, when set, drop the user's future and finish
//!    with `Err(JoinError::cancelled)`;
//! 3. once the user's future is done, drop it and make the task's output from what the future
//!    gave (its [`Outcome`]), which the cell stores for the `JoinHandle`; an output nobody takes
//!    comes back through `Body::drop_output`, which drops it and reports a panic in its
//!    destructor (`join.rs` rule 1);
//! 4. remove the task from the runtime's registry when the cell drops it (`Body::drop_in_place`),
//!    whatever the reason: after it returned its output (rule 3) or after its runnable was
//!    dropped unrun (registry rule 2).
//!
//! The [`Outcome`] is the one thing that differs between kinds of task: a plain task's output is
//! what its future returned, or its panic as a `JoinError`; a scope's child reports an error or
//! a panic to its scope instead, and leaves the scope (`scope/child.rs`). Having the wrapper do it
//! keeps a child's task the size of a plain one: nothing wraps the user's future a second time.
//!
//! `TaskFuture` keeps no pointer to its `TaskMeta`: it is the cell's [`raw::Body`], which the
//! cell hands the metadata at each poll and at its drop (8 bytes a task less).

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::sync::Arc;
use crate::runtime::diagnostics;
use crate::runtime::RuntimeShared;
use crate::task::join::{drop_result, JoinError, JoinHandle, Unobserved};
use crate::task::meta::{Origin, PollStart, TaskMeta};
use crate::task::raw::{self, Runnable, ScheduleInfo};

/// A panic's payload, as `catch_unwind` gives it.
pub(crate) type Payload = Box<dyn Any + Send>;

/// What a task's output is, made from what its future did (module docs, rule 3).
pub(crate) trait Outcome<T> {
    /// The output the task's `JoinHandle` gives (inside `Result<_, JoinError>`).
    type Output;

    /// The future returned `out`, or panicked with it; then its destructor ended with
    /// `dropped`. Called once, after the future is dropped and before the cell marks the task `COMPLETE`; a panic
    /// from it becomes the task's panic.
    fn finished(
        meta: &TaskMeta,
        out: Result<T, Payload>,
        dropped: Result<(), Payload>,
    ) -> Result<Self::Output, JoinError>;

    /// The future was dropped before it finished: cancelled, or the task dropped unrun (at
    /// shutdown). Called once, after the future is dropped; a panic from it is contained.
    fn abandoned(meta: &TaskMeta);
}

/// The outcome of a plain task: what its future returned, or its panic as a `JoinError` (which
/// reports it if nobody looks at it).
pub(crate) struct Plain;

impl<T> Outcome<T> for Plain {
    type Output = T;

    #[inline(always)]
    fn finished(
        meta: &TaskMeta,
        out: Result<T, Payload>,
        dropped: Result<(), Payload>,
    ) -> Result<T, JoinError> {
        if let Err(payload) = dropped {
            // The output is decided, and the panic hook has reported the destructor's panic.
            drop_payload(payload);
        }
        match out {
            Ok(value) => Ok(value),
            Err(payload) => Err(panicked(meta, payload)),
        }
    }

    #[inline(always)]
    fn abandoned(_: &TaskMeta) {}
}

/// The error of a task whose future panicked with `payload`.
#[cold]
#[inline(never)]
fn panicked(meta: &TaskMeta, payload: Payload) -> JoinError {
    JoinError::panic(meta.id, payload, Some(Unobserved::of(meta)))
}

/// The future stored in a task cell (see the module docs), whose output `K` makes.
///
/// The user's future has no state word of its own beside it (an enum would add one, 8 bytes a
/// task): it is dropped in place by [`TaskFuture::decide`] (or `cancel`) just before the body
/// returns `Ready`, so whether the cell drops the body after `Ready` (`drop_in_place`'s
/// `after_ready`) says whether it is gone.
pub(crate) struct TaskFuture<F: Future, K: Outcome<F::Output>> {
    /// Pinned with the task future (never moved out of); dropped in place once, by `decide`,
    /// or by `drop_in_place` if the task never completed.
    fut: ManuallyDrop<F>,
    outcome: PhantomData<fn() -> K>,
}

impl<F, K> TaskFuture<F, K>
where
    F: Future,
    K: Outcome<F::Output>,
{
    /// The drop of a task that never completed (its runnable dropped unrun, at shutdown): its
    /// future is still there.
    #[cold]
    #[inline(never)]
    fn drop_unfinished(&mut self, meta: &TaskMeta) {
        // The cell drops futures inside an abort-on-panic guard: a panic from the user's
        // destructor must stop here (the panic hook has reported it).
        // The user's destructors run as the task (`task::id()` works in them).
        let current = crate::task::current::enter(meta);
        #[cfg(feature = "tracing")]
        let entered = meta.span.enter();
        // SAFETY: the body never returned `Ready` (`after_ready` is false), so `decide` and
        // `cancel` have not dropped the future; this is the body's drop, so nothing uses it
        // after this.
        contain(|| unsafe { ManuallyDrop::drop(&mut self.fut) });
        #[cfg(feature = "tracing")]
        drop(entered);
        drop(current);
        contain(|| K::abandoned(meta));
    }
}

/// Removes the task from its runtime's registry (rule 4).
///
/// # Safety
///
/// Called once per task, for a task entered in the registry (`spawn_with_schedule` enters it
/// before the task first runs).
unsafe fn unregister(meta: &TaskMeta) {
    let shared = meta.shared();
    // SAFETY: the caller's contract.
    unsafe { shared.registry.remove(meta) };
    if meta.is_credited() {
        shared.diag.forget_credit(meta);
    }
    #[cfg(feature = "sim")]
    if let Some(world) = &shared.sim {
        world.task_done(meta.id);
    }
    #[cfg(test)]
    test_hooks::unregistered(meta.id);
}

impl<F, K> raw::Body<TaskMeta> for TaskFuture<F, K>
where
    F: Future,
    K: Outcome<F::Output>,
{
    type Output = Result<K::Output, JoinError>;

    unsafe fn drop_in_place(this: *mut Self, meta: &TaskMeta, after_ready: bool) {
        // SAFETY: the cell's contract: `this` is ours to drop, once.
        let this = unsafe { &mut *this };
        // After `Ready`, `decide` or `cancel` dropped the user's future.
        if !after_ready {
            this.drop_unfinished(meta);
        }
        // The user's future is gone (`decide`, `cancel` or just now): the registry entry goes
        // last. SAFETY: once per task, for a task that `spawn_with_schedule` entered.
        unsafe { unregister(meta) };
    }

    unsafe fn drop_output(output: *mut Result<K::Output, JoinError>, meta: &TaskMeta) {
        // The output's destructor runs as the task (`task::id()` works in it, as in tokio),
        // also when the completing thread or the handle's thread drops it.
        let _current = crate::task::current::enter(meta);
        #[cfg(feature = "tracing")]
        let _entered = meta.span.enter();
        // SAFETY: the cell's contract: the output is ours, not used again.
        drop_result(meta, unsafe { output.read() });
    }

    fn poll(
        self: Pin<&mut Self>,
        meta: &TaskMeta,
        cx: &mut Context<'_>,
    ) -> Poll<Result<K::Output, JoinError>> {
        // SAFETY: `fut` is structurally pinned: it is only ever used through `Pin` (below), and
        // dropped in place (`decide`, `drop_in_place`), never moved.
        let this = unsafe { self.get_unchecked_mut() };
        // The cell never polls a body again after it returned `Ready`.
        match meta.poll_start() {
            PollStart::Cancel => return Poll::Ready(this.cancel(meta)),
            PollStart::Run => {}
        }
        // SAFETY: as above; the body has not returned `Ready`, so the future is still there.
        let fut = unsafe { Pin::new_unchecked(&mut *this.fut) };
        let _current = crate::task::current::enter(meta);
        #[cfg(feature = "tracing")]
        let _entered = meta.span.enter();
        let slot = crate::task::current::slot();
        // SAFETY: a non-null slot pointer was set by the scheduler loop that is running this
        // poll further down this thread's stack, and stays valid until that loop ends
        // (`current::set_slot`).
        let slot = unsafe { slot.as_ref() };
        let seq = slot.map(|s| s.begin(meta.diag_key()));
        // The live console times one poll in `SAMPLE` while a viewer watches
        // (`console/probe.rs` rule 1).
        #[cfg(feature = "console")]
        let started = match (slot, seq) {
            (Some(s), Some(seq)) => s.console.poll_started(seq),
            _ => None,
        };
        let res = catch_unwind(AssertUnwindSafe(|| fut.poll(cx)));
        #[cfg(feature = "console")]
        if let (Some(s), Some(t)) = (slot, started) {
            s.console.poll_ended(meta.id.as_u64(), t);
        }
        if let (Some(s), Some(seq)) = (slot, seq) {
            // Unless a `block_in_place` in this poll lent the worker, slot included, to a helper
            // thread: the slot is no longer this thread's to write (`sched/multi_thread/lend.rs`
            // rule 2).
            if std::ptr::eq(crate::task::current::slot(), s) {
                if let Some(credit) = s.end(seq) {
                    // A slow poll the console did not sample is recorded with the watchdog's
                    // measure (`console/probe.rs` rule 1).
                    #[cfg(feature = "console")]
                    if started.is_none() && credit.slow() {
                        s.console.slow_poll(meta.id.as_u64(), credit.duration());
                    }
                    // The panic hook's time is not the task's (`runtime/panic_hook.rs`).
                    let panic = res.as_ref().err().map(|_| s.panic_timing(seq));
                    diagnostics::poll_credited(s, meta, credit, panic);
                }
            }
        }
        #[cfg(feature = "tracing")]
        drop(_entered);
        let out = match res {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => Ok(out),
            Err(payload) => Err(payload),
        };
        Poll::Ready(this.decide(meta, out))
    }
}

impl<F, K> TaskFuture<F, K>
where
    F: Future,
    K: Outcome<F::Output>,
{
    /// Rule 3: the user's future gave `out` (or panicked). Drops the future in place and makes
    /// the output (`K::finished`: a scope's child reports to its scope and leaves it). Nothing
    /// after the drop can unwind (the body returns `Ready`, after which the cell knows the
    /// future is gone: `drop_in_place`'s `after_ready`): a panic from `K::finished` (a waker it
    /// wakes) becomes the task's panic.
    // Always: the poll's hot path ends here.
    #[inline(always)]
    fn decide(
        &mut self,
        meta: &TaskMeta,
        out: Result<F::Output, Payload>,
    ) -> Result<K::Output, JoinError> {
        // SAFETY: the body has not returned `Ready` yet, so the future was not dropped; it returns
        // `Ready` below, with nothing between that can unwind, so it is not used or dropped
        // again.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut self.fut)
        }));
        match catch_unwind(AssertUnwindSafe(|| K::finished(meta, out, dropped))) {
            Ok(result) => result,
            Err(payload) => Err(panicked(meta, payload)),
        }
    }

    /// Rule 2: cancellation was requested before a poll. Drops the future in place and lets
    /// `K` know, as `decide` does; the output is a cancelled error.
    #[cold]
    #[inline(never)]
    fn cancel(&mut self, meta: &TaskMeta) -> Result<K::Output, JoinError> {
        // A panic from the user's destructor, or from a waker `K` wakes, is contained: the
        // panic hook has reported it. The destructors run as the task (`task::id()` works in
        // them, as in tokio).
        let current = crate::task::current::enter(meta);
        #[cfg(feature = "tracing")]
        let entered = meta.span.enter();
        // SAFETY: as in `decide`.
        contain(|| unsafe { ManuallyDrop::drop(&mut self.fut) });
        #[cfg(feature = "tracing")]
        drop(entered);
        drop(current);
        contain(|| K::abandoned(meta));
        Err(JoinError::cancelled(meta.id))
    }
}

/// Runs `f`, which drops user values, so that no panic leaves it: a panic is caught, and so is
/// one from dropping the first panic's payload (that payload is then leaked: its destructor
/// already failed once). The panic hook has reported each.
///
/// `cancel` relies on it: nothing may unwind between dropping the user's future and returning
/// `Ready`, or the cell's drop of the body would drop the future again.
#[inline]
pub(crate) fn contain(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        drop_payload(payload);
    }
}

/// Drops a caught panic's `payload` so that no panic leaves: one from its destructor is caught,
/// and its own payload leaked (that destructor already failed once).
#[cold]
#[inline(never)]
fn drop_payload(payload: Payload) {
    if let Err(second) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(second);
    }
}

/// The schedule function of every task spawned with [`spawn_raw`]: hands a woken task to its
/// runtime's scheduler.
fn schedule(runnable: Runnable<TaskMeta>, info: ScheduleInfo) {
    crate::sched::schedule(runnable, info);
}

/// Which group a new task joins.
pub(crate) enum Group<'a> {
    /// The runtime's root scope (`tether::spawn`).
    Root,
    /// A scope, by its cancellation token.
    Scope(crate::scope::CancelToken),
    /// A `JoinSet`: the set's token (made for the runtime the task is spawned on), and its
    /// entry's waker, which is registered with the task's `JoinHandle` before the task is first
    /// scheduled, so the task cannot have finished yet (`join_set.rs` rule 1).
    JoinSet(crate::task::join_set::JoinSetToken<'a>, &'a Waker),
}

/// Creates a task for `fut` on the runtime `shared` in `group`, registers it and schedules its
/// first poll through its runtime's scheduler (on the blocking pool when `blocking`).
///
/// # Safety
///
/// The scheduler may run and drop the task's `Runnable` on any thread: `F` must be `Send`, or
/// the caller must guarantee otherwise that this is sound. Every caller passes a `Send` future;
/// `!Send` futures go through [`spawn_with_schedule`] with a schedule function that keeps them on
/// their thread.
#[inline]
pub(crate) unsafe fn spawn_raw<F>(
    shared: &Arc<RuntimeShared>,
    fut: F,
    name: Option<std::sync::Arc<str>>,
    location: &'static Location<'static>,
    blocking: bool,
    group: Group<'_>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    // SAFETY: the caller's obligation is this function's own (see above).
    unsafe {
        spawn_with_schedule::<_, _, Plain, _>(
            shared,
            move || fut,
            Origin::new(name, location),
            blocking,
            group,
            schedule,
        )
    }
}

/// [`spawn_raw`] for a task whose output `K` makes (a scope's child: `scope/child.rs`). `build`
/// gives the future; it is called once the task exists (so from then on, a task dropped unrun
/// calls `K::abandoned`), and must not panic (the cell calls it under an abort-on-panic
/// guard).
///
/// The future is `Send`, so the task may run and be dropped on any thread.
#[inline]
pub(crate) fn spawn_with_outcome<F, B, K>(
    shared: &Arc<RuntimeShared>,
    build: B,
    origin: Origin,
    group: Group<'_>,
) -> JoinHandle<K::Output>
where
    B: FnOnce() -> F,
    F: Future + Send + 'static,
    K: Outcome<F::Output> + 'static,
    K::Output: 'static,
{
    // SAFETY: `F` is `Send`, so the task may run and be dropped on any thread.
    unsafe { spawn_with_schedule::<F, B, K, _>(shared, build, origin, false, group, schedule) }
}

/// Creates a task on the runtime `shared` in `group`, running the future `build` makes (called
/// once the task exists; see [`spawn_with_outcome`]) with the outcome `K`, and registers it;
/// then, and every time the task is woken, hands its `Runnable` to `schedule`, on the thread that
/// spawned or woke it.
///
/// # Safety
///
/// If `F` is not `Send`, the caller guarantees that the task's `Runnable` is only run and
/// dropped on the current thread: `schedule` must deliver it to a queue that only this thread
/// pops, and must neither run nor drop it when called on another thread (`spawn_local`'s
/// `LocalTaskQueue`). This is the contract of the cell's `spawn_unchecked`.
#[inline]
pub(crate) unsafe fn spawn_with_schedule<F, B, K, S>(
    shared: &Arc<RuntimeShared>,
    build: B,
    origin: Origin,
    blocking: bool,
    group: Group<'_>,
    schedule: S,
) -> JoinHandle<K::Output>
where
    B: FnOnce() -> F,
    F: Future + 'static,
    K: Outcome<F::Output> + 'static,
    K::Output: 'static,
    S: Fn(Runnable<TaskMeta>, ScheduleInfo) + Send + Sync + 'static,
{
    #[cfg(test)]
    test_hooks::before_spawn();
    let (scope, join_waker) = match group {
        Group::Root => (None, None),
        Group::Scope(token) => (Some(token), None),
        Group::JoinSet(token, waker) => (Some(token.for_runtime(shared)), Some(waker)),
    };
    #[allow(unused_mut)]
    let mut meta = TaskMeta::new(shared, origin, blocking, scope);
    #[cfg(feature = "tracing")]
    {
        meta.span = tracing::info_span!(
            "task",
            task.id = meta.id.as_u64(),
            task.name = meta.name().map(|n| &**n),
            task.location = %meta.location(),
        );
    }
    // SAFETY: (1) the caller keeps a `!Send` `F`'s runnable on this thread, as this function's
    // contract states. (2) The future is `'static` except for its borrow of the task's own
    // metadata (the guard's reference), which the cell keeps alive until after the future is
    // dropped (`raw.rs`). (3) A task that waits with no waker anywhere is in the registry,
    // which reaches it through its metadata until its future is gone (registry rule 2).
    let (runnable, task) = unsafe {
        raw::spawn_unchecked(
            meta,
            move || TaskFuture::<F, K> {
                fut: ManuallyDrop::new(build()),
                outcome: PhantomData,
            },
            move |runnable: Runnable<TaskMeta>, info| {
                runnable.metadata().count_wake();
                schedule(runnable, info);
            },
        )
    };
    let runs_here = shared.sched.finishes_here(shared);
    // SAFETY: the task is new: nobody else can reach it before it is entered and scheduled
    // below, and its removal (`unregister`) removes it (registry rules 1 and 2); the pointer is the
    // cell's own (`metadata_ptr`).
    unsafe { shared.registry.insert(runnable.metadata_ptr(), runs_here) };
    // Counted for the report of a slow poll: spawning a million tasks takes a while.
    crate::task::current::count_spawn();
    let mut handle = JoinHandle::new(task);
    if let Some(waker) = join_waker {
        handle.register_before_first_run(waker);
    }
    runnable.schedule();
    handle
}

/// Hooks that let unit tests stop a task at one point of its completion.
#[cfg(test)]
pub(crate) mod test_hooks {
    use std::sync::{Arc, Mutex};

    use crate::task::Id;

    type Hook = Arc<dyn Fn(Id) + Send + Sync>;

    /// Called with the task's id right after a task left the registry (rule 4).
    pub(crate) static UNREGISTERED: Mutex<Option<Hook>> = Mutex::new(None);

    thread_local! {
        /// Set: the next spawn on this thread panics before its task exists.
        pub(crate) static PANIC_AT_NEXT_SPAWN: std::cell::Cell<bool> =
            const { std::cell::Cell::new(false) };
    }

    pub(super) fn before_spawn() {
        if PANIC_AT_NEXT_SPAWN.with(|p| p.replace(false)) {
            panic!("test hook: this spawn panics before its task exists");
        }
    }

    pub(super) fn unregistered(id: Id) {
        let hook = UNREGISTERED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(h) = hook {
            h(id);
        }
    }
}
