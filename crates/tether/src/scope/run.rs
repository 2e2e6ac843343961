//! The scope itself: its shared state, spawning into it, and the future that runs it.
//!
//! # Protocol
//!
//! 1. **Children are counted under the lock.** `spawn` inserts the child's abort handle in
//!    `live` and spawns it while holding `state`'s lock, so the child's slot is never confused
//!    with another's; a child removes its slot when it finishes, whatever the outcome.
//! 2. **The first failure cancels.** A child's or the body's `Err` (or panic) is recorded in
//!    order; the first one cancels the scope's token, which signals every child (and inner
//!    scopes) through `task::cancelled()`.
//! 3. **Two phases.** When the token is cancelled, the body is dropped at once, and the children
//!    get `grace` to finish on their own; then every child still alive is aborted (dropped the
//!    next time the scheduler reaches it).
//! 4. **No child outlives the scope.** The scope's future completes only when the body is done
//!    and `live` is empty. Dropping it early cancels the token and aborts every child (a poll
//!    already running on another worker finishes first).
//! 5. **Backpressure.** With `max_concurrency(n)`, `spawn` waits while `n` children are live;
//!    each finishing child wakes the oldest waiting spawner.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_lite::FutureExt as _;
use pin_project_lite::pin_project;
use slab::Slab;

use super::cancel::{CancelToken, Cancelled};
use super::error::{Failure, FailureSource, Reason, ScopeError};
use crate::loom::lock;
use crate::loom::sync::Mutex;
use crate::runtime::Handle;
use crate::task::{AbortHandle, JoinHandle};
use crate::time::{Instant, Sleep};

/// The default grace period between the cancellation signal and the hard drop.
pub const DEFAULT_GRACE: Duration = Duration::from_millis(100);

struct State<E> {
    /// Live children (rule 1).
    live: Slab<Option<AbortHandle>>,
    /// Errors in the order they happened (rule 2).
    failures: Vec<Failure<E>>,
    /// The first panic, resumed when the scope completes.
    panic: Option<Box<dyn std::any::Any + Send>>,
    /// The scope's future, waiting for its children (rule 4).
    waker: Option<Waker>,
    /// Spawners waiting for a free place, oldest first, with their ids (rule 5).
    spawn_waiters: VecDeque<(u64, Waker)>,
    next_waiter_id: u64,
    /// Set when the scope has completed: spawning then is a bug.
    closed: bool,
}

struct Inner<E> {
    rt: Handle,
    token: CancelToken,
    /// Holding the lock means the set of children and the failures cannot change.
    state: Mutex<State<E>>,
    max_concurrency: Option<usize>,
}

impl<E> Inner<E> {
    /// A child finished (rule 1); records its failure (rule 2).
    fn child_done(&self, key: usize, failure: Option<Failure<E>>, panic: Option<PanicPayload>) {
        let mut cancel = false;
        let (waker, spawner) = {
            let mut st = lock(&self.state);
            st.live.try_remove(key);
            if let Some(f) = failure {
                st.failures.push(f);
                cancel = true;
            }
            if let Some(p) = panic {
                st.panic.get_or_insert(p);
                cancel = true;
            }
            let spawners: Vec<Waker> = if cancel {
                // Nothing new starts in a cancelled scope: every waiting spawner finds out.
                st.spawn_waiters.drain(..).map(|(_, w)| w).collect()
            } else {
                st.spawn_waiters
                    .pop_front()
                    .map(|(_, w)| w)
                    .into_iter()
                    .collect()
            };
            (st.waker.take(), spawners)
        };
        if cancel {
            self.token.cancel();
        }
        if let Some(w) = waker {
            w.wake();
        }
        spawner.into_iter().for_each(Waker::wake);
    }

    /// Rule 3, second phase (and rule 4 on drop): aborts every live child.
    fn abort_all(&self) {
        let handles: Vec<AbortHandle> = lock(&self.state)
            .live
            .iter()
            .filter_map(|(_, h)| h.clone())
            .collect();
        for h in handles {
            h.abort();
        }
    }
}

type PanicPayload = Box<dyn std::any::Any + Send>;

/// The handle to a scope, passed to its body: spawn children with it, cancel it, watch it.
///
/// Cheap to clone; hand a clone to a child so that it can spawn siblings (only code that was
/// handed the scope can spawn into it).
pub struct Scope<E> {
    inner: Arc<Inner<E>>,
}

impl<E> Clone for Scope<E> {
    fn clone(&self) -> Scope<E> {
        Scope {
            inner: self.inner.clone(),
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
    #[track_caller]
    pub fn spawn<F, U>(&self, future: F) -> Spawn<'_, E, F>
    where
        F: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
    {
        self.spawn_inner(None, future, Location::caller())
    }

    /// Like [`spawn`](Scope::spawn), with a name that shows in the task registry and in the
    /// scope's error report.
    #[track_caller]
    pub fn spawn_named<F, U>(&self, name: &str, future: F) -> Spawn<'_, E, F>
    where
        F: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
    {
        self.spawn_inner(Some(Arc::from(name)), future, Location::caller())
    }

    fn spawn_inner<F>(
        &self,
        name: Option<Arc<str>>,
        future: F,
        location: &'static Location<'static>,
    ) -> Spawn<'_, E, F> {
        Spawn {
            scope: self,
            future: Some(future),
            name,
            location,
            waiter: None,
        }
    }

    /// Cancels the scope: every child is signalled and, after the grace period, dropped; the body
    /// is dropped. The scope then returns a [`ScopeError`] for which `is_cancelled()` is true
    /// (unless something failed first).
    pub fn cancel(&self) {
        self.inner.token.cancel();
    }

    /// Whether the scope was cancelled (by a failure, its deadline, `cancel`, or an enclosing
    /// scope).
    pub fn is_cancelled(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Completes when the scope is cancelled.
    pub fn cancelled(&self) -> Cancelled {
        self.inner.token.cancelled()
    }

    /// The scope's cancellation token, to hand to code that is not a child task.
    pub fn token(&self) -> CancelToken {
        self.inner.token.clone()
    }

    /// Children alive now.
    pub fn live(&self) -> usize {
        lock(&self.inner.state).live.len()
    }
}

pin_project! {
    /// The future of [`Scope::spawn`]: ready with the child's handle once the child is spawned.
    #[must_use = "the child is only spawned when this future is awaited"]
    pub struct Spawn<'a, E, F> {
        scope: &'a Scope<E>,
        future: Option<F>,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
        // Our id in `spawn_waiters` while we wait for a place (rule 5).
        waiter: Option<u64>,
    }

    impl<'a, E, F> PinnedDrop for Spawn<'a, E, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let Some(id) = this.waiter.take() else {
                return;
            };
            let inner = &this.scope.inner;
            let next = {
                let mut st = lock(&inner.state);
                match st.spawn_waiters.iter().position(|(w, _)| *w == id) {
                    Some(pos) => {
                        st.spawn_waiters.remove(pos);
                        None
                    }
                    // Woken for a place we will not take: pass it on.
                    None => st.spawn_waiters.pop_front().map(|(_, w)| w),
                }
            };
            if let Some(w) = next {
                w.wake();
            }
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
        let this = self.project();
        let inner = &this.scope.inner;
        if !inner.rt.shared.sched.is_open() {
            // The runtime is shutting down: the child would be dropped at once (and, dropped
            // under the scope's lock, would deadlock on it). Treat it like a cancelled scope.
            drop(this.future.take());
            *this.waiter = None;
            return Poll::Ready(ScopeTask { handle: None });
        }
        let mut st = lock(&inner.state);
        assert!(
            !st.closed,
            "tether: Scope::spawn was called after the scope ended; a Scope handle must not be \
             used outside the scope's body and children"
        );
        if inner.token.is_cancelled() {
            // The scope is going away: nothing new starts in it.
            if let Some(id) = this.waiter.take() {
                st.spawn_waiters.retain(|(w, _)| *w != id);
            }
            drop(st);
            // The user's future is dropped outside the lock: its destructor may use the scope.
            drop(this.future.take());
            return Poll::Ready(ScopeTask { handle: None });
        }
        if let Some(max) = inner.max_concurrency {
            let listed = this
                .waiter
                .and_then(|id| st.spawn_waiters.iter().position(|(w, _)| *w == id));
            if st.live.len() >= max {
                match listed {
                    Some(pos) => {
                        if !st.spawn_waiters[pos].1.will_wake(cx.waker()) {
                            st.spawn_waiters[pos].1 = cx.waker().clone();
                        }
                    }
                    None => {
                        // New, or woken but beaten to the place: back in line (at the front if
                        // we had been woken).
                        let id = st.next_waiter_id;
                        st.next_waiter_id += 1;
                        if this.waiter.is_some() {
                            st.spawn_waiters.push_front((id, cx.waker().clone()));
                        } else {
                            st.spawn_waiters.push_back((id, cx.waker().clone()));
                        }
                        *this.waiter = Some(id);
                    }
                }
                return Poll::Pending;
            }
            if let Some(pos) = listed {
                st.spawn_waiters.remove(pos);
            }
            *this.waiter = None;
        }
        let future = this
            .future
            .take()
            .expect("tether: a Spawn future was polled after it completed");
        let key = st.live.insert(None);
        let child_inner = inner.clone();
        let name = this.name.clone();
        let location = *this.location;
        // Leaves the scope even if the child is dropped (aborted) before it finishes, or before
        // it is first polled: the guard is captured by the future, not created inside it.
        let guard = ChildGuard {
            inner: child_inner.clone(),
            key,
        };
        let child = async move {
            let guard = guard;
            let out = AssertUnwindSafe(future).catch_unwind().await;
            std::mem::forget(guard);
            let id = crate::task::try_id();
            let source = || FailureSource {
                task: id,
                name: name.clone(),
                location,
            };
            match out {
                Ok(Ok(v)) => {
                    child_inner.child_done(key, None, None);
                    Some(v)
                }
                Ok(Err(e)) => {
                    let f = Failure {
                        error: e,
                        source: source(),
                    };
                    child_inner.child_done(key, Some(f), None);
                    None
                }
                Err(p) => {
                    child_inner.child_done(key, None, Some(p));
                    None
                }
            }
        };
        // Rule 1: spawned under the lock.
        let handle =
            inner
                .rt
                .spawn_in_scope(child, this.name.clone(), location, inner.token.clone());
        st.live[key] = Some(handle.abort_handle());
        Poll::Ready(ScopeTask {
            handle: Some(handle),
        })
    }
}

/// Removes an aborted child from its scope (rule 1): the child's future is dropped before it
/// could report.
struct ChildGuard<E> {
    inner: Arc<Inner<E>>,
    key: usize,
}

impl<E> Drop for ChildGuard<E> {
    fn drop(&mut self) {
        self.inner.child_done(self.key, None, None);
    }
}

/// A handle to a child of a scope; awaiting it gives the child's value (see
/// [`Scope::spawn`]). Dropping it does not stop the child: the scope still waits for it.
pub struct ScopeTask<U> {
    handle: Option<JoinHandle<Option<U>>>,
}

impl<U> ScopeTask<U> {
    /// Whether the child finished.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl<U> Future for ScopeTask<U> {
    type Output = U;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<U> {
        let Some(h) = self.handle.as_mut() else {
            return Poll::Pending;
        };
        match Pin::new(h).poll(cx) {
            Poll::Ready(Ok(Some(v))) => {
                self.handle = None;
                Poll::Ready(v)
            }
            // Failed or cancelled: the scope is being cancelled, and with it whoever waits here.
            Poll::Ready(_) => {
                self.handle = None;
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
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
        let parent =
            crate::task::current::current_token().unwrap_or_else(|| rt.shared.root_token.clone());
        let token = parent.child_token();
        let inner = Arc::new(Inner {
            rt,
            token: token.clone(),
            state: Mutex::new(State {
                live: Slab::new(),
                failures: Vec::new(),
                panic: None,
                waker: None,
                spawn_waiters: VecDeque::new(),
                next_waiter_id: 0,
                closed: false,
            }),
            max_concurrency: self.max_concurrency,
        });
        let deadline = match (self.deadline, self.timeout) {
            (Some(d), Some(t)) => Some(d.min(Instant::now() + t)),
            (d, t) => d.or_else(|| t.map(|t| Instant::now() + t)),
        };
        let body = body(Scope {
            inner: inner.clone(),
        });
        ScopeFuture {
            body: Some(body),
            value: None,
            cancelled: token.cancelled(),
            deadline: deadline.map(crate::time::sleep_until),
            deadline_hit: false,
            grace: self.grace,
            grace_timer: None,
            location,
            inner,
            done: false,
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
        cancelled: Cancelled,
        deadline: Option<Sleep>,
        deadline_hit: bool,
        grace: Duration,
        grace_timer: Option<Sleep>,
        location: &'static Location<'static>,
        inner: Arc<Inner<E>>,
        done: bool,
    }

    impl<T, E, Fut> PinnedDrop for ScopeFuture<T, E, Fut> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.done {
                // Rule 4: dropped before completion.
                this.inner.token.cancel();
                this.inner.abort_all();
                lock(&this.inner.state).closed = true;
            }
        }
    }
}

impl<T, E, Fut> Future for ScopeFuture<T, E, Fut>
where
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, ScopeError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "tether: a scope was polled after it completed");
        // The deadline.
        if let Some(d) = this.deadline.as_mut() {
            if Pin::new(d).poll(cx).is_ready() {
                *this.deadline = None;
                *this.deadline_hit = true;
                this.inner.token.cancel();
            }
        }
        // The body, until it completes or the scope is cancelled (rule 3: dropped at once).
        let cancelled = Pin::new(&mut *this.cancelled).poll(cx).is_ready();
        if let Some(body) = this.body.as_mut().as_pin_mut() {
            if cancelled {
                this.body.set(None);
            } else {
                match catch_unwind(AssertUnwindSafe(|| body.poll(cx))) {
                    Ok(Poll::Pending) => {}
                    Ok(Poll::Ready(Ok(v))) => {
                        *this.value = Some(v);
                        this.body.set(None);
                    }
                    Ok(Poll::Ready(Err(e))) => {
                        this.body.set(None);
                        lock(&this.inner.state).failures.push(Failure {
                            error: e,
                            source: FailureSource {
                                task: None,
                                name: None,
                                location: this.location,
                            },
                        });
                        this.inner.token.cancel();
                    }
                    Err(p) => {
                        this.body.set(None);
                        lock(&this.inner.state).panic.get_or_insert(p);
                        this.inner.token.cancel();
                    }
                }
            }
        }
        // Rule 3: after the signal, the grace period, then the hard drop.
        if this.inner.token.is_cancelled() {
            if this.grace_timer.is_none() {
                *this.grace_timer = Some(crate::time::sleep(*this.grace));
                // Spawners waiting for a place learn that nothing new will start.
                let waiters: Vec<Waker> = lock(&this.inner.state)
                    .spawn_waiters
                    .drain(..)
                    .map(|(_, w)| w)
                    .collect();
                waiters.into_iter().for_each(Waker::wake);
            }
            if let Some(t) = this.grace_timer.as_mut() {
                if Pin::new(t).poll(cx).is_ready() {
                    this.inner.abort_all();
                }
            }
        }
        // Rule 4: done when the body is done and no child is left.
        let mut st = lock(&this.inner.state);
        if this.body.is_some() || !st.live.is_empty() {
            match &st.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        st.closed = true;
        let failures = std::mem::take(&mut st.failures);
        let panic = st.panic.take();
        drop(st);
        *this.done = true;
        if let Some(p) = panic {
            resume_unwind(p);
        }
        if !failures.is_empty() {
            return Poll::Ready(Err(ScopeError {
                failures,
                reason: Reason::Failed,
            }));
        }
        match this.value.take() {
            Some(v) if !this.inner.token.is_cancelled() => Poll::Ready(Ok(v)),
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
