//! A scope's shared state: the live-children word, failures, waiting spawners, and the pool
//! that recycles scopes.
//!
//! # Protocol
//!
//! A scope is one allocation: its token's [`TokenNode`], whose `scope` field is a [`ScopeState`].
//! The scope's future, every `Scope` handle and every child (its token in the task's metadata)
//! hold an `Arc` of it.
//!
//! 1. **Children are counted in one atomic word**, `live`: the number of live children times
//!    `ONE`, plus the `CLOSED` and `WAITING` bits. A spawner adds `ONE` before it spawns (and
//!    takes it back if it finds `CLOSED`); a child takes its `ONE` away after it has dropped the
//!    user's future and recorded its outcome, whatever that outcome (aborted and never-polled
//!    children too, from the poll wrapper's cancellation or drop: `child.rs`).
//! 2. **The scope completes by closing the word**: once the body is done, the scope's future
//!    stores its waker under the lock and either swaps a word with no children for `CLOSED` (it
//!    is done) or sets `WAITING` (the child that takes the count to zero takes the waker under
//!    the lock and wakes it). Only then are the children's outcomes read, so every failure
//!    recorded before a child's decrement is seen. A scope's future dropped before it completed
//!    cancels the scope's token first and then sets `CLOSED` whatever the count, so a spawner
//!    that finds `CLOSED` also finds the token cancelled in that case (`run.rs` rule 5: nothing
//!    starts; only a scope closed uncancelled makes a spawn panic).
//! 3. **The lock is for the rare paths**: recording a failure or panic (in order of occurrence),
//!    the scope's waker, and spawners waiting for a place. Nothing is spawned, woken, reported or
//!    dropped under it.
//! 4. **Backpressure never exceeds the bound**: a bounded spawner only adds `ONE` by a
//!    compare-and-swap that sees fewer than `max` children. When it cannot, it queues its waker
//!    (under the lock, publishing the queue length in `queued`) and tries once more; a finishing
//!    child takes its `ONE` away and then, if `queued` is non-zero, wakes the oldest queued
//!    spawner. Each side puts a `SeqCst` fence between its write and its read, so either the
//!    spawner's retry sees the freed place or the child sees the spawner queued (`SeqCst`
//!    accesses alone would do, but loom cannot check that argument; it checks the fences').
//! 5. **The hard drop** (the grace period ran out, or the scope's future was dropped) sets
//!    `hard_dropped`, then aborts every child in the scope's own registry list, `children`
//!    (`task/registry.rs`: a scope's children are entered there, not in the runtime's shards),
//!    so it costs O(children), not O(all tasks). A spawner checks `hard_dropped` after its task
//!    is registered and aborts the task itself if it is set. The registry orders the two, so no
//!    child escapes: a child entered under the list's lock is ordered by the lock, and one
//!    pushed onto the list's lock-free stack is followed by a `SeqCst` fence, which pairs with
//!    the one the hard drop's walk starts with (`task/registry.rs` rule 6). (The spawner reads
//!    the token's cancelled flag first: the hard drop comes after the cancellation, so a
//!    spawner that sees `hard_dropped` sees the flag too.)
//! 6. **Recycling**: when the scope's future is dropped and it holds the only reference, the node
//!    is unlisted from its parent, reset, and kept in a small thread-local pool; the next scope
//!    created on that thread reuses it. So a scope that never spawns makes no allocation in the
//!    steady state.
//!
//! 7. **No recorded failure is lost**: the scope keeps its errors and its first panic for its
//!    future. A later panic is handed to the runtime's failure policy when it is recorded (only
//!    the first is resumed); when the scope completes with a panic, its errors are handed to the
//!    policy before the panic is resumed; when its future is dropped before completing, it marks
//!    the scope `abandoned` under the lock and hands over everything recorded, and whatever is
//!    recorded after that (a child still alive) is handed over when recorded. Under the lock a
//!    failure is either kept for someone who will take it or taken out to be reported, never
//!    both, so each is reported once. Every such report and every drop of a payload or an error
//!    runs outside the lock and under `catch_unwind`; a panic in a destructor there is reported
//!    in turn (see `report_panic`, `drop_reporting`).
//!
//! 8. **A dropped scope holds its place until its children are gone.** A scope's future
//!    dropped with children still alive (they are aborted: each is dropped when the scheduler
//!    next reaches it) takes one more place in its *enclosing* scope (the scope whose body or
//!    child created it, if that scope is still open, whatever its bound) before it closes, and
//!    gives it back when its last child leaves: the release that empties a closed word looks
//!    under the lock for the place (`linger`), and the closing side, having stored it under
//!    the lock, checks the count again, so exactly one of them gives it back. So the enclosing
//!    scope does not complete while a task started inside it still exists, however deep.
//!
//! The atomic side of rules 1, 2 and 4 (the `live` word, `queued`, and what a spawner, a
//! finishing child and the scope's future decide from them) is [`ScopeLiveCount`], in `live.rs`,
//! which does not depend on the runtime and has `loom` models; the methods here take the lock
//! around it and do the waking.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
// std's: a token node's `Arc` (the token tree needs `Weak`, see `cancel.rs`), and the id
// counter's atomic, a static, which a loom model cannot hold (part of no protocol).
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::task::{Context, Waker};

use super::cancel::TokenNode;
use super::error::{Failure, FailureSource};
pub(super) use super::live::{Children, Reserve};
use super::live::{Released, ScopeLiveCount, SpawnQueue};
use crate::diag::{ScopeLoss, UnhandledFailure};
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Mutex;
use crate::runtime::Handle;
use crate::task::registry::{ScopeEntry, TaskList};

pub(super) type PanicPayload = Box<dyn Any + Send>;

/// What the task dump shows about a scope (see [`describe`](super::describe)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScopeDesc {
    /// Unique among the scopes of the process.
    pub(crate) id: u64,
    /// Where the scope was created (`scope` or `Builder::run`).
    pub(crate) location: &'static Location<'static>,
    /// The task that runs the scope; `None` when it runs in `block_on`.
    pub(crate) owner: Option<crate::task::Id>,
}

/// The state a scope shares with its handles and children (see the module docs).
pub(crate) struct ScopeState {
    /// Live children, `CLOSED`, `WAITING`, queued spawners, the bound (rules 1, 2, 4).
    live: ScopeLiveCount,
    /// Set before the hard drop walks the registry (rule 5).
    hard_dropped: AtomicBool,
    /// The runtime the children are spawned on.
    pub(super) rt: Handle,
    pub(super) desc: ScopeDesc,
    /// Holding the lock means no failure can be recorded and no spawner queued (rule 3).
    slow: Mutex<Slow>,
    /// Where the node's list of children (`TokenNode::children`, rule 5; `task/registry.rs`)
    /// is entered in the runtime's registry (`register`); removed when the state is dropped,
    /// after the last child left the list (a child's metadata holds the node).
    entry: std::sync::OnceLock<ScopeEntry>,
}

impl Drop for ScopeState {
    fn drop(&mut self) {
        if let Some(&entry) = self.entry.get() {
            self.rt.shared.registry.deregister_scope(entry);
        }
    }
}

impl TokenNode {
    /// The state of a scope's node.
    pub(super) fn scope_state(&self) -> &ScopeState {
        self.scope
            .as_ref()
            .expect("tether: a scope's node has the scope's state")
    }
}

/// Reports and drops the failures of an abandoned scope: `report_errors_boxed::<E>`, for the
/// scope's `E` (the scope's future, whose drop calls it, cannot name `E` with its bounds).
type ReportBoxed = fn(&ScopeState, Box<dyn Any + Send>, ScopeLoss);

struct Slow {
    /// The failures, a `Vec<Failure<E>>` for the scope's `E`, in order; allocated at the first,
    /// with the function that reports them.
    failures: Option<(Box<dyn Any + Send>, ReportBoxed)>,
    /// The first panic and who panicked, resumed when the scope completes.
    panic: Option<(PanicPayload, FailureSource)>,
    /// The scope's future was dropped before it completed: nothing recorded from now on can be
    /// delivered (rule 7).
    abandoned: bool,
    /// The scope's future, waiting for its last child (rule 2).
    waker: Option<Waker>,
    /// Spawners waiting for a place, oldest first, with their ids (rule 4).
    spawners: SpawnQueue,
    /// The enclosing scope this one holds a place in while its future is dropped and its
    /// children are still alive (rule 8).
    linger: Option<Arc<TokenNode>>,
}

impl ScopeState {
    fn new(rt: Handle, max: usize, location: &'static Location<'static>) -> ScopeState {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        ScopeState {
            live: ScopeLiveCount::new(max),
            hard_dropped: AtomicBool::new(false),
            rt,
            desc: ScopeDesc {
                id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                location,
                owner: crate::task::try_id(),
            },
            slow: Mutex::new(Slow {
                failures: None,
                panic: None,
                abandoned: false,
                waker: None,
                spawners: SpawnQueue::new(),
                linger: None,
            }),
            entry: std::sync::OnceLock::new(),
        }
    }

    /// Enters the node's list of children in the runtime's registry, until the state is
    /// dropped.
    fn register(&self, children: &Arc<TaskList>) {
        let _ = self
            .entry
            .set(self.rt.shared.registry.register_scope(children));
    }

    /// Children alive now.
    pub(super) fn live(&self) -> usize {
        self.live.count()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.live.is_closed()
    }

    pub(super) fn is_bounded(&self) -> bool {
        self.live.is_bounded()
    }

    /// Takes a place for a child in an unbounded scope (rule 1).
    pub(super) fn reserve_unbounded(&self) -> Reserve {
        match self.live.reserve_unbounded() {
            Ok(()) => Reserve::Reserved,
            Err(released) => {
                // The place given back may have been the last of a dropped scope (rule 8).
                if released.spawner || released.scope || released.last_of_closed {
                    self.wake_released(released);
                }
                Reserve::Closed
            }
        }
    }

    /// Takes a place for a child in a bounded scope if there is one (rule 4).
    pub(super) fn try_reserve_bounded(&self) -> Reserve {
        self.live.try_reserve_bounded()
    }

    /// Whether spawners are queued, so a new one must queue behind them (rule 4).
    pub(super) fn has_queued(&self) -> bool {
        self.live.has_queued()
    }

    /// The bounded spawner `waiter`'s slow path (rule 4): takes a place, or queues `waker`. A
    /// spawner that was queued before and woken, but beaten to the place, goes back to the
    /// front.
    pub(super) fn reserve_or_queue(&self, waiter: &mut Option<u64>, waker: &Waker) -> Reserve {
        let mut slow = lock(&self.slow);
        self.live
            .reserve_or_queue(&mut slow.spawners, waiter, waker)
    }

    /// A spawner that was queued gives up (dropped, or the scope is cancelled or closed): leaves
    /// the queue or, if it was woken for a place it will not take, passes the place on.
    pub(super) fn leave_queue(&self, waiter: Option<u64>, pass_on: bool) {
        let Some(id) = waiter else {
            return;
        };
        let next = self
            .live
            .leave_queue(&mut lock(&self.slow).spawners, id, pass_on);
        if let Some(w) = next {
            w.wake();
        }
    }

    /// Wakes every queued spawner: the scope is cancelled, nothing new starts (rule 4).
    pub(super) fn wake_all_spawners(&self) {
        let waiters = self.live.drain_queue(&mut lock(&self.slow).spawners);
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Records a child's or the body's error, in order (rule 3); in an abandoned scope, reports
    /// it instead (rule 7). The caller cancels the scope.
    pub(super) fn record_failure<E: Send + 'static>(&self, failure: Failure<E>) {
        let mut slow = lock(&self.slow);
        if slow.abandoned {
            drop(slow);
            self.report_error(failure, ScopeLoss::ScopeDropped);
            return;
        }
        slow.failures
            .get_or_insert_with(|| {
                let report: ReportBoxed = report_errors_boxed::<E>;
                (Box::new(Vec::<Failure<E>>::new()), report)
            })
            .0
            .downcast_mut::<Vec<Failure<E>>>()
            .expect("tether: a scope's failures all have the scope's error type")
            .push(failure);
    }

    /// Records the panic of `source`: the first one is resumed when the scope completes; a later
    /// one, or any in an abandoned scope, is reported now (rule 7). The caller cancels the scope.
    pub(super) fn record_panic(&self, payload: PanicPayload, source: FailureSource) {
        let mut slow = lock(&self.slow);
        let loss = if slow.abandoned {
            ScopeLoss::ScopeDropped
        } else if slow.panic.is_none() {
            slow.panic = Some((payload, source));
            return;
        } else {
            ScopeLoss::LaterPanic
        };
        drop(slow);
        // Reported and dropped outside the lock: the hook and a payload's destructor are user
        // code.
        self.report_panic(payload, &source, loss);
    }

    /// The scope's future is dropped before it completed (rule 7): from now on nothing recorded
    /// is kept, and what was is reported.
    pub(super) fn abandon(&self) {
        let (failures, panic) = {
            let mut slow = lock(&self.slow);
            slow.abandoned = true;
            (slow.failures.take(), slow.panic.take())
        };
        if let Some((failures, report)) = failures {
            report(self, failures, ScopeLoss::ScopeDropped);
        }
        if let Some((payload, source)) = panic {
            self.report_panic(payload, &source, ScopeLoss::ScopeDropped);
        }
    }

    /// Hands `failures`, which the scope cannot deliver for the reason `loss`, to the failure
    /// policy, each once, in order (rule 7).
    pub(super) fn report_errors<E: Send + 'static>(
        &self,
        failures: Vec<Failure<E>>,
        loss: ScopeLoss,
    ) {
        for failure in failures {
            self.report_error(failure, loss);
        }
    }

    /// Hands one error the scope cannot deliver to the failure policy, then drops it.
    pub(super) fn report_error<E: Send + 'static>(&self, failure: Failure<E>, loss: ScopeLoss) {
        let Failure { error, source } = failure;
        let why = match loss {
            ScopeLoss::EndedWithPanic => "the scope ended with a panic, which it resumed",
            ScopeLoss::ScopeDropped => "the scope's future was dropped before it completed",
            ScopeLoss::Superseded => "the child's future panicked when dropped after returning it",
            ScopeLoss::LaterPanic | ScopeLoss::DestructorPanic => "the scope could not deliver it",
        };
        let message = format!(
            "an error (type {}) was dropped unreturned because {why}",
            std::any::type_name::<E>()
        );
        self.report(&source, loss, Some(&message), Some(&error));
        self.drop_reporting(error, &source);
    }

    /// Hands the panic `payload` of `source`, which the scope cannot deliver for the reason
    /// `loss`, to the failure policy, then drops it (rule 7).
    fn report_panic(&self, payload: PanicPayload, source: &FailureSource, loss: ScopeLoss) {
        self.report(source, loss, panic_message(&payload), None);
        self.drop_reporting(payload, source);
    }

    /// Drops `value` (a payload or an error of `source`) under `catch_unwind`: a panic in its
    /// destructor is reported, and its own payload dropped the same way, so no destructor can
    /// unwind into a child's poll (and keep it in the scope) or into the scope's future.
    fn drop_reporting<T>(&self, value: T, source: &FailureSource) {
        let mut dropped = catch_unwind(AssertUnwindSafe(move || drop(value)));
        while let Err(payload) = dropped {
            self.report(
                source,
                ScopeLoss::DestructorPanic,
                panic_message(&payload),
                None,
            );
            dropped = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        }
    }

    /// Reports an undelivered failure of `source` to the runtime's failure policy; a panicking
    /// failure hook unwinds no further.
    fn report(
        &self,
        source: &FailureSource,
        loss: ScopeLoss,
        message: Option<&str>,
        error: Option<&(dyn Any + Send)>,
    ) {
        let failure = UnhandledFailure::undelivered_scope_failure(
            source.task,
            source.name.as_deref(),
            source.location,
            self.desc.location,
            loss,
            message,
            error,
        );
        // A panicking failure hook (and its payload's destructor) stays here.
        crate::task::contain(|| self.rt.shared.report_unhandled(&failure));
    }

    /// A child leaves the scope (rule 1): wakes a queued spawner (rule 4) and, if it was the last
    /// child the scope's future waits for, that future (rule 2).
    #[inline]
    pub(super) fn release(&self) {
        let released = self.live.release();
        if released.spawner || released.scope || released.last_of_closed {
            self.wake_released(released);
        }
    }

    /// `release`'s wake-ups, out of its way: most children leave with nobody to wake.
    #[cold]
    #[inline(never)]
    fn wake_released(&self, released: Released) {
        if released.spawner {
            let next = self.live.pop_spawner(&mut lock(&self.slow).spawners);
            if let Some(w) = next {
                w.wake();
            }
        }
        if released.scope {
            let waker = lock(&self.slow).waker.take();
            if let Some(w) = waker {
                w.wake();
            }
        }
        if released.last_of_closed {
            // Rule 8: the last child of a dropped scope is gone; so is its place in the
            // enclosing scope.
            let hold = lock(&self.slow).linger.take();
            if let Some(enclosing) = hold {
                enclosing.scope_state().release();
            }
        }
    }

    /// The scope's future, its body done, waits for the children (rule 2).
    pub(super) fn poll_children(&self, cx: &Context<'_>) -> Children {
        let mut slow = lock(&self.slow);
        if let Children::Done = self.live.close_or_wait() {
            return Children::Done;
        }
        match &slow.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slow.waker = Some(cx.waker().clone()),
        }
        Children::Running
    }

    /// Closes the scope whose future is dropped before it completed (rule 2); returns whether
    /// children are still alive. While they are, the scope holds a place in `enclosing`, the
    /// scope it was run in, if any and still open (rule 8).
    pub(super) fn close_dropped(&self, enclosing: Option<Arc<TokenNode>>) -> bool {
        let hold = enclosing.filter(|e| e.scope_state().live.try_hold());
        if !self.live.close() {
            if let Some(e) = hold {
                e.scope_state().release();
            }
            return false;
        }
        if let Some(e) = hold {
            let mut slow = lock(&self.slow);
            if self.live.count() == 0 {
                // The last child left after the close and found no place to give back (it
                // takes the lock to look): give it back here.
                drop(slow);
                e.scope_state().release();
            } else {
                slow.linger = Some(e);
            }
        }
        true
    }

    /// The outcomes, once the scope is closed: the failures (for the scope's `E`) and the panic.
    pub(super) fn take_outcomes<E: 'static>(&self) -> (Vec<Failure<E>>, Option<PanicPayload>) {
        let mut slow = lock(&self.slow);
        let failures = match slow.failures.take() {
            Some((b, _)) => *b
                .downcast::<Vec<Failure<E>>>()
                .expect("tether: a scope's failures all have the scope's error type"),
            None => Vec::new(),
        };
        (failures, slow.panic.take().map(|(p, _)| p))
    }

    /// Whether a spawner must abort the child it just registered (rule 5).
    pub(super) fn is_hard_dropped(&self) -> bool {
        self.hard_dropped.load(Ordering::SeqCst)
    }

    /// Rule 5: aborts every child of the scope `node` still alive.
    pub(super) fn hard_drop(&self, node: &TokenNode) {
        self.hard_dropped.store(true, Ordering::SeqCst);
        if let Some(children) = &node.children {
            children.abort_all();
        }
    }
}

/// The [`ReportBoxed`] of a scope whose error type is `E`.
fn report_errors_boxed<E: Send + 'static>(
    state: &ScopeState,
    failures: Box<dyn Any + Send>,
    loss: ScopeLoss,
) {
    let failures = *failures
        .downcast::<Vec<Failure<E>>>()
        .expect("tether: a scope's failures all have the scope's error type");
    state.report_errors(failures, loss);
}

/// A panic's message, when its payload is a string.
pub(super) fn panic_message(payload: &PanicPayload) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Scope nodes kept for reuse by the scopes created on this thread (rule 6).
const POOL_MAX: usize = 16;

thread_local! {
    static POOL: RefCell<Vec<Arc<TokenNode>>> = const { RefCell::new(Vec::new()) };
}

/// A scope's node, listed under `parent` (taken from the pool when it has one, rule 6).
pub(super) fn new_scope(
    parent: &Arc<TokenNode>,
    rt: Handle,
    max: Option<usize>,
    location: &'static Location<'static>,
) -> Arc<TokenNode> {
    let runtime = rt.shared.clone();
    let state = ScopeState::new(rt, max.unwrap_or(0), location);
    let pooled = POOL.try_with(|p| p.borrow_mut().pop()).ok().flatten();
    let mut node = match pooled {
        Some(mut node) => {
            let fresh = Arc::get_mut(&mut node).expect("tether: a pooled scope node is not shared");
            fresh.scope = Some(state);
            fresh.runtime = Some(runtime);
            node
        }
        None => {
            let mut fresh = TokenNode::new(Some(state));
            fresh.runtime = Some(runtime);
            Arc::new(fresh)
        }
    };
    // A pooled node keeps its (empty) list, so a recycled scope allocates nothing.
    let children = Arc::get_mut(&mut node)
        .expect("tether: a new scope node is not shared")
        .children
        .get_or_insert_with(|| Arc::new(TaskList::new_scope()))
        .clone();
    TokenNode::attach(&mut node, parent);
    node.scope
        .as_ref()
        .expect("tether: a new scope node has its state")
        .register(&children);
    node
}

/// The scope's future is done with `node` (rule 6): keeps it for reuse if nobody else holds it.
pub(super) fn recycle(mut node: Arc<TokenNode>) {
    if Arc::strong_count(&node) != 1 {
        return;
    }
    // Nobody else holds it, so only the parent can reach it, through its `Weak` (to cancel it):
    // once unlisted, nobody can.
    node.unlist();
    let Some(n) = Arc::get_mut(&mut node) else {
        // The parent's `cancel` upgraded it just now; it is dropped normally.
        return;
    };
    n.reset();
    let _ = POOL.try_with(move |p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_MAX {
            p.push(node);
        }
    });
}
