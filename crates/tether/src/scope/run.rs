//! The scope itself: spawning into it, and the future that runs it.
//!
//! The shared state and its protocol (counting children, closing, backpressure, the hard drop,
//! recycling) are in `state.rs`; how a child reports to its scope in `child.rs`. Here:
//!
//! 1. **The first failure cancels.** A child's or the body's `Err` (or panic) is recorded in
//!    order; it cancels the scope's token, which signals every child (and inner scopes) through
//!    `task::cancelled()`.
//! 2. **Two phases.** When the token is cancelled, the body is dropped at once, queued spawners
//!    are woken (nothing new starts), and the children get `grace` to finish on their own; then
//!    every child still alive is aborted (the hard drop: dropped the next time the scheduler
//!    reaches it).
//! 3. **No child outlives the scope.** The scope's future completes only when the body is done
//!    and the live count is zero, which closes the scope. Dropping the future early cancels the
//!    token, then closes the scope and aborts every child (a poll already running on another
//!    worker finishes first).
//! 4. **A panic is resumed after cleanup**, once every child has left. Only the first panic is
//!    resumed; the later ones, and the errors recorded alongside, go to the runtime's failure
//!    policy (state.rs rule 7).
//! 5. **A spawn into a cancelled scope starts nothing**, whether the scope is winding down or
//!    already closed (its future was dropped while the spawner, a child, was in a poll on
//!    another worker): the child's future is dropped unrun, and the handle is finished and
//!    never yields a value. A spawner that finds the scope closed checks the cancellation after
//!    seeing `CLOSED` (the closing store follows the cancelling one, so it sees both). Only a
//!    spawn into a scope that closed *without* being cancelled (it completed, and a `Scope`
//!    handle escaped it) is a misuse, and panics.
//! 6. **A dropped scope reports what it held.** A scope's future dropped before it completed
//!    hands every failure recorded in the scope, and every one its children still record
//!    afterwards, to the runtime's failure policy (state.rs rule 7).
//! 7. **The body's destructor is part of the body.** The body is dropped after what it gave
//!    (its value, `Err` or panic) is recorded, under `catch_unwind`: a panic from its
//!    destructor is recorded as the body's panic (a later one is reported), and cancels the
//!    scope like any other, so no failure is lost and the children still get their grace
//!    period before the panic is resumed (rule 4).
//! 8. **A scope encloses the scopes run in it.** A scope created while another's body is being
//!    polled (on this thread: `BODY_SCOPE`), or by a child of another, is that scope's: its
//!    token is a child of the other's, and if its future is dropped while its children are
//!    still alive (they are aborted, and dropped when the scheduler next reaches them), it
//!    holds a place in the other scope until they are gone (state.rs rule 8), so the other
//!    scope does not complete before them.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
// std's `Arc`: token nodes live in std's (their tree needs `Weak`, see `cancel.rs`).
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::cancel::{CancelToken, Cancelled, TokenNode};
use super::child::ChildOutcome;
use super::error::{Failure, FailureSource, Reason, ScopeError};
use super::state::{self, Children, Reserve, ScopeState};
use crate::diag::ScopeLoss;
use crate::runtime::Handle;
use crate::task::meta::Origin;
use crate::task::waker_id::WakerId;
use crate::task::{Group, JoinHandle};
use crate::time::{Instant, Sleep};

/// The default grace period between the cancellation signal and the hard drop.
pub const DEFAULT_GRACE: Duration = Duration::from_millis(100);

#[inline]
fn state_of(node: &TokenNode) -> &ScopeState {
    node.scope
        .as_ref()
        .expect("tether: a scope's node has the scope's state")
}

/// The handle to a scope, passed to its body: spawn children with it, cancel it, watch it.
///
/// Cheap to clone; hand a clone to a child so that it can spawn siblings (only code that was
/// handed the scope can spawn into it).
pub struct Scope<E> {
    node: Arc<TokenNode>,
    _error: PhantomData<fn(E) -> E>,
}

impl<E> Clone for Scope<E> {
    fn clone(&self) -> Scope<E> {
        Scope {
            node: self.node.clone(),
            _error: PhantomData,
        }
    }
}

impl<E: Send + 'static> Scope<E> {
    /// Spawns a child task into the scope and returns a handle to its value.
    ///
    /// The child runs concurrently (on any worker of a multi-thread runtime) until it returns.
    /// An `Err` from it (or a panic) cancels the scope: the body is dropped, the other children
    /// are signalled ([`task::cancelled`](crate::task::cancelled)) and, after the grace period,
    /// dropped. The scope returns every error.
    ///
    /// The returned future waits while the scope is bounded ([`Builder::max_concurrency`]) and
    /// full: that is the backpressure. In an unbounded scope it is ready at once.
    ///
    /// The handle's `await` gives the child's value. If the child failed or was cancelled,
    /// awaiting its handle never completes: whoever awaits it is inside the same scope, which is
    /// being cancelled.
    ///
    /// In a scope that is cancelled, nothing new starts: the future is dropped without being
    /// polled and the handle is finished at once ([`ScopeTask::is_finished`]), also when the
    /// scope's future was dropped while this spawner (a child) was running on another worker.
    ///
    /// # Panics
    ///
    /// The returned future panics when the scope has ended without being cancelled (a `Scope`
    /// handle was kept past the end of the scope's body and children).
    #[track_caller]
    pub fn spawn<F, U>(&self, future: F) -> Spawn<'_, E, F>
    where
        F: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
    {
        self.spawn_inner(Origin::unnamed(Location::caller()), future)
    }

    /// Like [`spawn`](Scope::spawn), with a name that shows in the task registry and in the
    /// scope's error report.
    #[track_caller]
    pub fn spawn_named<F, U>(&self, name: &str, future: F) -> Spawn<'_, E, F>
    where
        F: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
    {
        self.spawn_inner(Origin::named(name, None, Location::caller()), future)
    }

    fn spawn_inner<F>(&self, origin: Origin, future: F) -> Spawn<'_, E, F> {
        Spawn {
            scope: self,
            future: Some(future),
            origin: Some(origin),
            waiter: None,
        }
    }

    /// Cancels the scope: every child is signalled and, after the grace period, dropped; the body
    /// is dropped. The scope then returns a [`ScopeError`] for which `is_cancelled()` is true
    /// (unless something failed first).
    pub fn cancel(&self) {
        self.node.cancel();
    }

    /// Whether the scope was cancelled (by a failure, its deadline, `cancel`, or an enclosing
    /// scope).
    pub fn is_cancelled(&self) -> bool {
        self.node.is_cancelled()
    }

    /// Completes when the scope is cancelled.
    pub fn cancelled(&self) -> Cancelled {
        self.token().cancelled()
    }

    /// The scope's cancellation token, to hand to code that is not a child task.
    pub fn token(&self) -> CancelToken {
        CancelToken {
            node: self.node.clone(),
        }
    }

    /// Children alive now.
    pub fn live(&self) -> usize {
        state_of(&self.node).live()
    }
}

/// The future of [`Scope::spawn`]: ready with the child's handle once the child is spawned.
#[must_use = "the child is only spawned when this future is awaited"]
pub struct Spawn<'a, E, F> {
    scope: &'a Scope<E>,
    future: Option<F>,
    // The child's name and spawn location (taken when it is spawned).
    origin: Option<Origin>,
    // Our id in the queue of spawners while we wait for a place (state.rs rule 4).
    waiter: Option<u64>,
}

// The child's future is only held here, never polled (it moves into its task), so nothing is
// pinned through a `Spawn`.
impl<E, F> Unpin for Spawn<'_, E, F> {}

impl<E, F> Drop for Spawn<'_, E, F> {
    #[inline]
    fn drop(&mut self) {
        if self.waiter.is_some() {
            // Woken for a place we will not take: pass it on.
            state_of(&self.scope.node).leave_queue(self.waiter.take(), true);
        }
    }
}

impl<E, F, U> Future for Spawn<'_, E, F>
where
    E: Send + 'static,
    F: Future<Output = Result<U, E>> + Send + 'static,
    U: Send + 'static,
{
    type Output = ScopeTask<U>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ScopeTask<U>> {
        let this = self.get_mut();
        let node = &this.scope.node;
        let state = state_of(node);
        if node.is_cancelled() || !state.rt.shared.sched.is_open() {
            // The scope is going away (or gone: its future may have been dropped while we were
            // in a poll on another worker), or the runtime is shutting down (the child would be
            // dropped at once): nothing new starts (rule 5).
            if state.is_closed() && !node.is_cancelled() {
                closed_panic();
            }
            return Poll::Ready(not_started(node, &mut this.waiter, &mut this.future));
        }
        let reserved = if !state.is_bounded() {
            state.reserve_unbounded()
        } else {
            // Behind queued spawners, unless we are one of them (state.rs rule 4).
            let mut got = Reserve::Full;
            if this.waiter.is_none() && !state.has_queued() {
                got = state.try_reserve_bounded();
            }
            if matches!(got, Reserve::Full) {
                got = state.reserve_or_queue(&mut this.waiter, cx.waker());
            }
            got
        };
        match reserved {
            Reserve::Reserved => {}
            Reserve::Full => return Poll::Pending,
            // The scope's future was dropped since the check above: it cancels the scope before
            // it closes it, so, having seen `CLOSED`, we see the cancellation (rule 5).
            Reserve::Closed if node.is_cancelled() => {
                return Poll::Ready(not_started(node, &mut this.waiter, &mut this.future));
            }
            Reserve::Closed => closed_panic(),
        }
        Poll::Ready(this.start())
    }
}

impl<E, F, U> Spawn<'_, E, F>
where
    E: Send + 'static,
    F: Future<Output = Result<U, E>> + Send + 'static,
    U: Send + 'static,
{
    /// Spawns the child in the place reserved for it. Kept out of line: inlined into the
    /// caller's loop, the handle it makes went through the stack in halves and was read back
    /// whole, a store the processor cannot forward (about 3 ns a child, measured).
    #[inline(never)]
    fn start(&mut self) -> ScopeTask<U> {
        let this = self;
        let node = &this.scope.node;
        let state = state_of(node);
        let future = this
            .future
            .take()
            .expect("tether: a Spawn future was polled after it completed");
        let token = CancelToken { node: node.clone() };
        let group = Group::Scope(token);
        let origin = this
            .origin
            .take()
            .expect("tether: a Spawn future was polled after it completed");
        // The place is the child's once it exists (it gives it back when it leaves); if the
        // spawn unwinds before, the place is given back here.
        let place = Place {
            scope: state,
            taken: Cell::new(false),
        };
        let handle = crate::task::spawn_with_outcome::<_, _, ChildOutcome<E>>(
            &state.rt.shared,
            || {
                place.taken.set(true);
                future
            },
            origin,
            group,
        );
        std::mem::forget(place);
        // The hard drop follows the cancellation, so a scope that is not cancelled was not
        // hard-dropped (and the cancelled flag shares the spawner's cache line).
        if node.is_cancelled() && state.is_hard_dropped() {
            // Entered after the hard drop walked the scope's list (state.rs rule 5).
            handle.abort();
        }
        ScopeTask { handle }
    }
}

/// A place taken in a scope for a child: given back if dropped before the child exists (a
/// spawn that unwound).
struct Place<'a> {
    scope: &'a ScopeState,
    /// Set by the child's construction, from which on the child owns the place.
    taken: Cell<bool>,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if !self.taken.get() {
            self.scope.release();
        }
    }
}

/// Rule 5: a spawner of the scope `node` does not start its child: it leaves the spawners'
/// queue, drops the child's future, and gives a finished handle that never yields a value.
fn not_started<F, U>(
    node: &TokenNode,
    waiter: &mut Option<u64>,
    future: &mut Option<F>,
) -> ScopeTask<U> {
    state_of(node).leave_queue(waiter.take(), false);
    // The user's future is dropped outside any lock: its destructor may use the scope.
    drop(future.take());
    ScopeTask {
        handle: JoinHandle::without_task(),
    }
}

#[track_caller]
fn closed_panic() -> ! {
    panic!(
        "tether: Scope::spawn was called after the scope ended; a Scope handle must not be used \
         outside the scope's body and children"
    )
}

/// A handle to a child of a scope; awaiting it gives the child's value (see
/// [`Scope::spawn`]). Dropping it does not stop the child: the scope still waits for it.
pub struct ScopeTask<U> {
    /// Without a task (`JoinHandle::without_task`) when the child never started; once its
    /// output is taken, the handle no longer holds an output to give either
    /// (`JoinHandle::holds_task`). (Not an `Option`, which would make the handle a word larger.)
    handle: JoinHandle<U>,
}

impl<U> ScopeTask<U> {
    /// Whether the child finished.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl<U> Future for ScopeTask<U> {
    type Output = U;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<U> {
        // Never started, or polled again after it gave its value: the scope is being
        // cancelled (or the caller polls a finished future), and nothing more comes.
        if !self.handle.holds_task() {
            return Poll::Pending;
        }
        match Pin::new(&mut self.handle).poll(cx) {
            Poll::Ready(Ok(v)) => Poll::Ready(v),
            // Failed or cancelled: the scope is being cancelled, and with it whoever waits here.
            // The handle gave its output, so it no longer holds one to give.
            Poll::Ready(_) | Poll::Pending => Poll::Pending,
        }
    }
}

/// Configures a scope: a concurrency bound, a grace period, a deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::scope::Builder;
///
/// #[tether::main]
/// async fn main() {
///     let res = Builder::new()
///         .max_concurrency(8)
///         .grace_period(Duration::from_millis(50))
///         .timeout(Duration::from_secs(5))
///         .run(|s| async move {
///             for i in 0..100u32 {
///                 s.spawn(async move { Ok::<_, String>(i) }).await;
///             }
///             Ok(())
///         })
///         .await;
///     assert!(res.is_ok());
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    max_concurrency: Option<usize>,
    grace: Duration,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// An unbounded scope with the default grace period (100 ms) and no deadline.
    pub fn new() -> Builder {
        Builder {
            max_concurrency: None,
            grace: DEFAULT_GRACE,
            deadline: None,
            timeout: None,
        }
    }

    /// At most `n` children alive at once: `spawn` waits for a free place.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0 (no child could ever start).
    #[track_caller]
    pub fn max_concurrency(mut self, n: usize) -> Builder {
        assert!(n > 0, "scope::Builder::max_concurrency must be at least 1");
        self.max_concurrency = Some(n);
        self
    }

    /// How long children may run after the cancellation signal before they are dropped
    /// (default 100 ms).
    pub fn grace_period(mut self, grace: Duration) -> Builder {
        self.grace = grace;
        self
    }

    /// Cancels the scope when `deadline` passes.
    pub fn deadline(mut self, deadline: Instant) -> Builder {
        self.deadline = Some(deadline);
        self
    }

    /// Cancels the scope when `timeout` has passed since it started.
    pub fn timeout(mut self, timeout: Duration) -> Builder {
        self.timeout = Some(timeout);
        self
    }

    /// Runs `body` as a scope; see [`scope`](super::scope).
    ///
    /// # Panics
    ///
    /// Panics outside a tether runtime.
    #[track_caller]
    pub fn run<T, E, F, Fut>(self, body: F) -> ScopeFuture<T, E, Fut>
    where
        F: FnOnce(Scope<E>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Send + 'static,
    {
        let location = Location::caller();
        let rt = match Handle::try_current() {
            Ok(h) => h,
            Err(_) => crate::task::no_runtime_panic("tether::scope", location),
        };
        // The enclosing scope (rule 8): the one whose body is being polled here, else the one
        // the current task is a child of. A scope of another runtime does not enclose.
        let parent = body_scope()
            .or_else(|| crate::task::current::current_token().map(|t| t.node))
            .unwrap_or_else(|| rt.shared.root_token.node.clone());
        let node = state::new_scope(&parent, rt.clone(), self.max_concurrency, location);
        let enclosing = parent
            .scope
            .as_ref()
            .is_some_and(|s| s.rt.shared.id == rt.shared.id)
            .then_some(parent);
        let deadline = match (self.deadline, self.timeout) {
            (Some(d), Some(t)) => Some(d.min(Instant::now() + t)),
            (d, t) => d.or_else(|| t.map(|t| Instant::now() + t)),
        };
        let body = body(Scope {
            node: node.clone(),
            _error: PhantomData,
        });
        ScopeFuture {
            body: Some(body),
            value: None,
            node: Some(node),
            enclosing,
            cancel_key: None,
            cancel_registered: WakerId::NONE,
            deadline: deadline.map(crate::time::sleep_until),
            deadline_hit: false,
            grace: self.grace,
            grace_timer: None,
            location,
            done: false,
            _error: PhantomData,
        }
    }
}

pin_project! {
    /// The future of [`scope`](super::scope) and [`Builder::run`].
    #[must_use = "a scope does nothing unless awaited"]
    #[project = ScopeProj]
    pub struct ScopeFuture<T, E, Fut> {
        #[pin]
        body: Option<Fut>,
        value: Option<T>,
        // The scope; `Some` until the future is dropped (then recycled: state.rs rule 6).
        node: Option<Arc<TokenNode>>,
        // The scope this one was run in, which waits for this one's children if this future is
        // dropped before they are gone (rule 8).
        enclosing: Option<Arc<TokenNode>>,
        // Our waker's slot among the token's waiters, to learn of a cancellation.
        cancel_key: Option<usize>,
        // The identity of the waker in that slot (cancel.rs rule 3).
        cancel_registered: WakerId,
        deadline: Option<Sleep>,
        deadline_hit: bool,
        grace: Duration,
        grace_timer: Option<Sleep>,
        location: &'static Location<'static>,
        done: bool,
        _error: PhantomData<fn() -> E>,
    }

    impl<T, E, Fut> PinnedDrop for ScopeFuture<T, E, Fut> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let Some(node) = this.node.take() else {
                return;
            };
            node.unregister(this.cancel_key);
            if !*this.done {
                // Rule 3: dropped before completion.
                node.cancel();
                let state = state_of(&node);
                // Rule 6: what was recorded, and will be, goes to the failure policy.
                state.abandon();
                state.wake_all_spawners();
                // The body goes first (so that the node can be recycled): a scope run in it
                // takes its place in this one now, which the close below counts (rule 8). A
                // panic from its destructor is reported (rule 7: the scope is abandoned).
                drop_body(this.body.as_mut(), &node, this.location);
                // Rule 8: while children are alive, this scope holds its place in the one it
                // was run in.
                if state.close_dropped(this.enclosing.take()) {
                    state.hard_drop(&node);
                }
            }
            state::recycle(node);
        }
    }
}

thread_local! {
    /// The node of the scope whose body this thread is polling (rule 8), or null.
    static BODY_SCOPE: Cell<*const Arc<TokenNode>> = const { Cell::new(std::ptr::null()) };
}

/// Restores the previous [`BODY_SCOPE`] when the body's poll ends, unwinding included.
struct InBody(*const Arc<TokenNode>);

impl Drop for InBody {
    fn drop(&mut self) {
        BODY_SCOPE.with(|b| b.set(self.0));
    }
}

/// Marks `node`'s body as being polled on this thread until the guard drops. `node` is the
/// scope future's own field, which stays in place (the future is pinned) and unchanged for
/// the whole poll.
fn enter_body(node: &Arc<TokenNode>) -> InBody {
    InBody(BODY_SCOPE.with(|b| b.replace(node)))
}

/// The scope whose body is being polled on this thread, if any (rule 8).
fn body_scope() -> Option<Arc<TokenNode>> {
    let p = BODY_SCOPE.with(Cell::get);
    // SAFETY: a non-null pointer was set by `enter_body` in a `ScopeFuture::poll` further down
    // this thread's stack, which is still polling the body (the guard resets it when that poll
    // ends); it points at that future's `node` field, which is pinned in place and not written
    // during the body's poll.
    (!p.is_null()).then(|| unsafe { (*p).clone() })
}

/// The body as the source of a failure.
fn body_source(location: &'static Location<'static>) -> FailureSource {
    FailureSource {
        task: None,
        name: None,
        location,
    }
}

/// Drops the body (rule 7): a panic from its destructor is the body's panic, recorded (or
/// reported, in an abandoned scope) after whatever the body gave, and cancels the scope, so
/// the children still get their grace period and the panic is resumed after them (rule 4).
fn drop_body<Fut>(
    mut body: Pin<&mut Option<Fut>>,
    node: &TokenNode,
    location: &'static Location<'static>,
) {
    // The assignment writes `None` even when the old value's destructor unwinds, so the body
    // is never dropped twice.
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| body.set(None))) {
        state_of(node).record_panic(p, body_source(location));
        node.cancel();
    }
}

impl<T, E, Fut> Future for ScopeFuture<T, E, Fut>
where
    Fut: Future<Output = Result<T, E>>,
    E: Send + 'static,
{
    type Output = Result<T, ScopeError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "tether: a scope was polled after it completed");
        let node = this
            .node
            .as_ref()
            .expect("tether: a scope's future has its node until dropped");
        let state = state_of(node);
        // The deadline.
        if let Some(d) = this.deadline.as_mut() {
            if Pin::new(d).poll(cx).is_ready() {
                *this.deadline = None;
                *this.deadline_hit = true;
                node.cancel();
            }
        }
        loop {
            // The body, until it completes or the scope is cancelled (rule 2: dropped at once).
            if let Some(body) = this.body.as_mut().as_pin_mut() {
                if node.is_cancelled() {
                    drop_body(this.body.as_mut(), node, this.location);
                } else {
                    let _in_body = enter_body(node);
                    match catch_unwind(AssertUnwindSafe(|| body.poll(cx))) {
                        Ok(Poll::Pending) => {}
                        Ok(Poll::Ready(Ok(v))) => {
                            *this.value = Some(v);
                            drop_body(this.body.as_mut(), node, this.location);
                        }
                        Ok(Poll::Ready(Err(e))) => {
                            // Rule 7: recorded before the body is dropped.
                            state.record_failure(Failure {
                                error: e,
                                source: body_source(this.location),
                            });
                            node.cancel();
                            drop_body(this.body.as_mut(), node, this.location);
                        }
                        Err(p) => {
                            state.record_panic(p, body_source(this.location));
                            node.cancel();
                            drop_body(this.body.as_mut(), node, this.location);
                        }
                    }
                }
            }
            // Rule 2: after the signal, the grace period, then the hard drop.
            let cancelled = node.is_cancelled();
            if cancelled {
                if this.grace_timer.is_none() {
                    *this.grace_timer = Some(crate::time::sleep(*this.grace));
                    // Spawners waiting for a place learn that nothing new will start.
                    state.wake_all_spawners();
                }
                if let Some(t) = this.grace_timer.as_mut() {
                    if !state.is_hard_dropped() && Pin::new(t).poll(cx).is_ready() {
                        state.hard_drop(node);
                    }
                }
            }
            // Rule 3: done when the body is done and no child is left.
            if this.body.is_none() {
                if let Children::Done = state.poll_children(cx) {
                    break;
                }
            }
            // Pending: learn of a cancellation (to drop the body, start the grace period). If it
            // came in the meantime, go round again.
            if cancelled
                || node
                    .poll_cancelled(this.cancel_key, this.cancel_registered, cx)
                    .is_pending()
            {
                return Poll::Pending;
            }
        }
        *this.done = true;
        node.unregister(this.cancel_key);
        let (failures, panic) = state.take_outcomes::<E>();
        if let Some(p) = panic {
            // Rule 4; the errors, which the panic replaces, go to the failure policy
            // (state.rs rule 7).
            state.report_errors(failures, ScopeLoss::EndedWithPanic);
            resume_unwind(p);
        }
        if !failures.is_empty() {
            return Poll::Ready(Err(ScopeError {
                failures,
                reason: Reason::Failed,
            }));
        }
        match this.value.take() {
            Some(v) if !node.is_cancelled() => Poll::Ready(Ok(v)),
            // Cancelled (deadline, `cancel`, or from outside) before everything completed.
            _ => Poll::Ready(Err(ScopeError {
                failures,
                reason: if *this.deadline_hit {
                    Reason::Deadline
                } else {
                    Reason::Cancelled
                },
            })),
        }
    }
}
