//! `JoinSet`: a set of tasks that its owner joins in the order they finish, as tokio's.
//!
//! A set is a vector of slots, each holding one task's `JoinHandle` and an *entry waker* that
//! names the slot by its key, and a *ready list* of keys, shared with the entry wakers. A task's
//! entry waker is what its `JoinHandle` wakes when the task finishes, so a finished task
//! announces itself: `join_next` takes the next key from the list instead of polling every
//! handle.
//!
//! # Protocol
//!
//! The ready list is a `VecDeque` under a mutex; there is no lock-free part (and so no loom
//! model): a finished task takes the lock once, the set once per batch of finished tasks.
//!
//! 1. **Every task's entry waker is registered from before it first runs.** The spawn registers
//!    it with the task's `JoinHandle` before the task is first scheduled
//!    (`Group::JoinSet` in `task/cell.rs`), so it cannot have finished yet; each later poll of
//!    the handle that finds the task unfinished registers it again. The task cell (`raw.rs`)
//!    wakes the registered waker once, when the task finishes or is cancelled, after its output
//!    is stored (`raw.rs` rule 3).
//! 2. **A finished task queues its key.** Its entry waker pushes the key onto the ready list
//!    under the lock, takes the set's waker there, and wakes it after releasing the lock.
//! 3. **The set takes keys in batches and polls only those.** It swaps the whole ready list with
//!    its own empty `batch` under the lock, then polls the handles named in the batch without
//!    it. A key whose slot is empty or out of range (its task was joined or detached, and the
//!    slot may since have been freed) or whose task is not finished (a wake-up left from the
//!    slot's previous task) is skipped; polling an unfinished handle registered the waker again
//!    (rule 1). So each finished task costs one push and one poll, whatever the size of the set:
//!    there is no scan over the handles.
//! 4. **No lost wake-up for the set.** `poll_join_next` stores its waker under the lock after
//!    finding the list empty under that same lock; a push takes the waker under it (rule 2). A
//!    task that finishes in between is seen by one of the two.
//! 5. **Nothing runs under the lock** but pushing, swapping and storing: wakers are woken and
//!    dropped after it is released, handles polled and dropped without it.
//!
//! A slot keeps its entry waker after its task leaves, and the next task in the slot reuses it;
//! a late wake-up of the old task then names the new one, which rule 3 skips as unfinished. The
//! slots shrink back when the set becomes empty.

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::Location;
// std's `Arc`: an own waker's. The protocol rests on the lock, which is the shim's.
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::loom::lock;
use crate::loom::sync::Mutex;
use crate::runtime::Handle;
use crate::scope::CancelToken;
use crate::task::waker_id::{OwnWake, OwnWaker};
use crate::task::{AbortHandle, Id, JoinError, JoinHandle};

/// What the task dump shows about a join set: see [`JoinSetInfo`](crate::diag::JoinSetInfo).
#[derive(Clone, Copy, Debug)]
pub(crate) struct JoinSetDesc {
    /// Unique among the join sets of the process.
    pub(crate) id: u64,
    /// Where the set was created.
    pub(crate) location: &'static Location<'static>,
    /// The task that created the set; `None` outside a task.
    pub(crate) owner: Option<Id>,
}

/// The set's token, for a spawn into the set: its tasks' metadata holds it in place of their
/// runtime (`TaskMeta::shared`), so the token is the runtime's the task is spawned on, made at
/// the set's first spawn and made again when a spawn goes to another runtime than the last.
pub(crate) struct JoinSetToken<'a>(&'a mut SetGroup);

impl JoinSetToken<'_> {
    /// The token for a task on the runtime `rt`.
    pub(crate) fn for_runtime(
        self,
        rt: &crate::loom::sync::Arc<crate::runtime::RuntimeShared>,
    ) -> CancelToken {
        let group = self.0;
        match &group.token {
            Some(token) if crate::loom::sync::Arc::ptr_eq(token.group_runtime(), rt) => {
                token.clone()
            }
            _ => group
                .token
                .insert(CancelToken::for_join_set(group.desc, rt))
                .clone(),
        }
    }
}

/// A set of tasks spawned by its owner, who takes their results in the order they finish.
///
/// This is tokio's `JoinSet`, with its names and meaning: [`spawn`](JoinSet::spawn) a task
/// into the set, take the next result with [`join_next`](JoinSet::join_next) (tasks that
/// finished first come first; `None` once the set is empty), stop them all with
/// [`abort_all`](JoinSet::abort_all) or [`shutdown`](JoinSet::shutdown). **Dropping the set
/// aborts every task still in it.** `join_next` costs the same per finished task whatever the
/// size of the set: a finished task queues itself for it, nothing scans the set.
///
/// # Scope or `JoinSet`?
///
/// Both run tasks concurrently and stop them when their owner goes away. They differ in who
/// decides what happens to a failure:
///
/// - A [`scope`](crate::scope) is structured: its children cannot outlive it (its future
///   completes only after every child), the first failure cancels the siblings (a signal, then
///   a hard drop after a grace period), and every error comes back together when the scope
///   ends; a panic is resumed there. Nothing a child does can be lost or ignored by mistake.
///   Use it for work that belongs to one operation: a request's sub-requests, a connection's
///   reader and writer, a batch that should fail as a whole.
/// - A `JoinSet` is a dynamic set that you drain yourself, as in tokio: a task's failure
///   cancels nothing; it is a `JoinError` (or an `Err` in the task's output) that
///   [`join_next`](JoinSet::join_next) hands you in its turn, and what to do with it is your
///   call. Use it when porting tokio code, or where failures are expected and handled one by
///   one (a pool of independent jobs, retries, "first N results").
///
/// # Failures and cancellation
///
/// - A panic in a task is caught and returned by `join_next` as a [`JoinError`] for which
///   [`is_panic`](JoinError::is_panic) is true. Once returned, it is yours: the runtime does
///   not report it again.
/// - A task aborted by [`abort_all`](JoinSet::abort_all), [`shutdown`](JoinSet::shutdown), its
///   [`AbortHandle`] or the set being dropped ends with a `JoinError` for which
///   [`is_cancelled`](JoinError::is_cancelled) is true.
/// - A panic that is never returned, because the set was dropped (or [`shutdown`]) before
///   joining that task, or the task was [detached](JoinSet::detach_all), goes to the runtime's
///   failure policy ([`Builder::on_unhandled_failure`], stderr by default) once, exactly as for
///   a task whose [`JoinHandle`] was dropped: tether loses no failure silently. tokio users get
///   the same output on stderr from tokio's panic hook.
///
/// # Tasks in the task dump
///
/// A set's tasks are root tasks (like those of `tether::spawn`: [`task::cancelled`] completes
/// for them when the runtime shuts down gracefully). [`Handle::dump`] draws them under a
/// `join set` node, with the set's creation site, under the task that created the set; a task
/// detached from its set still names it ([`TaskInfo::join_set`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::task::JoinSet;
/// use tether::time::sleep;
///
/// #[tether::main(start_paused = true)]
/// async fn main() {
///     let mut set = JoinSet::new();
///     for ms in [30u64, 10, 20] {
///         set.spawn(async move {
///             sleep(Duration::from_millis(ms)).await;
///             ms
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(res) = set.join_next().await {
///         order.push(res.unwrap());
///     }
///     assert_eq!(order, [10, 20, 30]); // in the order they finished
/// }
/// ```
///
/// [`shutdown`]: JoinSet::shutdown
/// [`Builder::on_unhandled_failure`]: crate::runtime::Builder::on_unhandled_failure
/// [`task::cancelled`]: crate::task::cancelled
/// [`Handle::dump`]: crate::runtime::Handle::dump
/// [`TaskInfo::join_set`]: crate::diag::TaskInfo::join_set
pub struct JoinSet<T> {
    /// The tasks, by key (rule 3).
    slots: Vec<Slot<T>>,
    /// Keys of empty slots.
    free: Vec<u32>,
    /// Tasks in the set.
    len: usize,
    /// Keys taken from the ready list and not yet polled (rule 3).
    batch: VecDeque<u32>,
    /// Shared with every entry waker.
    ready: Arc<ReadyList>,
    /// The set as the task dump names it, and its tasks' token.
    group: SetGroup,
}

/// What a `JoinSet`'s tasks carry.
struct SetGroup {
    /// The set as the task dump names it.
    desc: JoinSetDesc,
    /// The token the set's tasks carry (it names the set in the task dump, and tells their
    /// metadata their runtime); made at the first spawn, and again for another runtime
    /// ([`JoinSetToken`]).
    token: Option<CancelToken>,
}

/// One task of the set, or an empty place.
struct Slot<T> {
    handle: Option<JoinHandle<T>>,
    /// An [`EntryWaker`] for this slot's key (rules 1, 2).
    waker: Waker,
}

/// The keys of finished tasks (rule 2) and the waker of the set's `join_next`.
struct ReadyList {
    /// Holding the lock means owning the keys and the set's waker (rules 2-5).
    inner: Mutex<Ready>,
}

struct Ready {
    keys: VecDeque<u32>,
    waker: Option<Waker>,
}

/// Wakes the set for the task in slot `key` (rule 2).
struct EntryWaker {
    ready: Arc<ReadyList>,
    key: u32,
}

impl OwnWake for EntryWaker {
    fn wake_by_ref(&self) {
        let waker = {
            let mut ready = lock(&self.ready.inner);
            ready.keys.push_back(self.key);
            ready.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Slots kept when the set becomes empty; beyond that they are freed.
const KEEP_SLOTS: usize = 64;

impl<T> JoinSet<T> {
    /// An empty set. Needs no runtime: the runtime is the one each task is spawned onto.
    ///
    /// The set remembers where it was created and which task created it, for the task dump.
    #[track_caller]
    pub fn new() -> JoinSet<T> {
        // std's atomic: a static, which a loom model cannot hold, and a counter that is part
        // of no protocol (only uniqueness matters).
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        JoinSet {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            batch: VecDeque::new(),
            ready: Arc::new(ReadyList {
                inner: Mutex::new(Ready {
                    keys: VecDeque::new(),
                    waker: None,
                }),
            }),
            group: SetGroup {
                desc: JoinSetDesc {
                    id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    location: Location::caller(),
                    owner: crate::task::try_id(),
                },
                token: None,
            },
        }
    }

    /// The number of tasks in the set, finished or not, that have not been joined.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes sure a slot is free and returns its key; the slot is taken by
    /// [`occupy`](Self::occupy) once the task is spawned (a spawn that panics takes nothing).
    fn vacant(&mut self) -> u32 {
        match self.free.last() {
            Some(&key) => key,
            None => {
                let key = u32::try_from(self.slots.len())
                    .expect("tether: a JoinSet cannot hold more than 4 billion tasks");
                let waker = OwnWaker::waker(&OwnWaker::new(EntryWaker {
                    ready: self.ready.clone(),
                    key,
                }));
                self.slots.push(Slot {
                    handle: None,
                    waker,
                });
                self.free.push(key);
                key
            }
        }
    }

    /// Puts `handle` in the free slot `key` returned by [`vacant`](Self::vacant).
    fn occupy(&mut self, key: u32, handle: JoinHandle<T>) -> AbortHandle {
        debug_assert_eq!(self.free.last(), Some(&key));
        self.free.pop();
        let abort = handle.abort_handle();
        self.slots[key as usize].handle = Some(handle);
        self.len += 1;
        abort
    }

    /// The token the set's tasks carry, made when a task is spawned (`JoinSetToken`), and the
    /// waker of the set's entry `key`.
    fn token_and_waker(&mut self, key: u32) -> (JoinSetToken<'_>, &Waker) {
        let token = JoinSetToken(&mut self.group);
        (token, &self.slots[key as usize].waker)
    }

    /// Asks every task in the set to stop. They stay in the set: [`join_next`](Self::join_next)
    /// returns a cancelled [`JoinError`] for each (or its output, if it finished first).
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::task::JoinSet;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let mut set = JoinSet::new();
    ///     for _ in 0..3 {
    ///         set.spawn(std::future::pending::<()>());
    ///     }
    ///     set.abort_all();
    ///     while let Some(res) = set.join_next().await {
    ///         assert!(res.unwrap_err().is_cancelled());
    ///     }
    /// }
    /// ```
    pub fn abort_all(&mut self) {
        for slot in &self.slots {
            if let Some(h) = &slot.handle {
                h.abort();
            }
        }
    }

    /// Removes every task from the set without stopping it: each goes on as if spawned with
    /// `tether::spawn` and its handle dropped. A panic in one of them is then reported to the
    /// runtime's failure policy, as for any task nobody joins.
    pub fn detach_all(&mut self) {
        let slots = std::mem::take(&mut self.slots);
        self.free.clear();
        self.batch.clear();
        self.len = 0;
        let stale = std::mem::take(&mut lock(&self.ready.inner).keys);
        drop(stale);
        // Dropping a handle detaches its task (and may drop a finished task's output).
        drop(slots);
    }

    /// Waits for the next task to finish and returns its result; `None` when the set is empty.
    ///
    /// Tasks are returned in the order they finished. A task that panicked or was aborted gives
    /// a [`JoinError`]. Cancel safe: if the future is dropped before it completes, no result is
    /// lost; the next call returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::task::JoinSet;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let mut set: JoinSet<u32> = (1..=3).map(|i| async move { i * 10 }).collect();
    ///     let mut total = 0;
    ///     while let Some(res) = set.join_next().await {
    ///         total += res.unwrap();
    ///     }
    ///     assert_eq!(total, 60);
    ///     assert!(set.join_next().await.is_none());
    /// }
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Like [`join_next`](Self::join_next), with the id of the task that finished.
    pub async fn join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        poll_fn(|cx| self.poll_join_next_with_id(cx)).await
    }

    /// The result of a task that has finished, if one has; `None` when none has (also when
    /// the set is empty). Never waits.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.try_join_next_with_id().map(|r| r.map(|(_, v)| v))
    }

    /// Like [`try_join_next`](Self::try_join_next), with the id of the task that finished.
    pub fn try_join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        match self.next_finished(None) {
            Poll::Ready(Some((id, out))) => Some(delivered(id, out)),
            Poll::Ready(None) | Poll::Pending => None,
        }
    }

    /// Polls for the next finished task: the poll function behind
    /// [`join_next`](Self::join_next), for hand-written futures.
    ///
    /// `Ready(None)` when the set is empty; `Pending` (with `cx`'s waker registered) when no
    /// task has finished yet.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.poll_join_next_with_id(cx)
            .map(|r| r.map(|r| r.map(|(_, v)| v)))
    }

    /// Like [`poll_join_next`](Self::poll_join_next), with the id of the task that finished.
    pub fn poll_join_next_with_id(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<(Id, T), JoinError>>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        let coop = std::task::ready!(crate::task::coop::poll_proceed(cx));
        let next = self.next_finished(Some(cx.waker()));
        if next.is_ready() {
            coop.made_progress();
        }
        next.map(|r| r.map(|(id, out)| delivered(id, out)))
    }

    /// Aborts every task and waits until all have finished, dropping their results. A panic
    /// among them that was never returned goes to the runtime's failure policy (see the type's
    /// docs). The set is empty afterwards and can be used again.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::task::JoinSet;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let mut set = JoinSet::new();
    ///     set.spawn(std::future::pending::<()>());
    ///     set.shutdown().await;
    ///     assert!(set.is_empty());
    /// }
    /// ```
    pub async fn shutdown(&mut self) {
        self.abort_all();
        poll_fn(|cx| {
            loop {
                if self.len == 0 {
                    return Poll::Ready(());
                }
                // Results are dropped undelivered: a panic among them is reported when its
                // `JoinError` drops.
                match self.next_finished(Some(cx.waker())) {
                    Poll::Ready(_) => {}
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    }

    /// Waits for every task and returns their outputs, in the order they finished.
    ///
    /// # Panics
    ///
    /// If a task panicked, resumes its panic (with the original payload); if a task was
    /// cancelled, panics. The tasks still in the set are then aborted, as the set is dropped.
    /// To handle failures one by one, use [`join_next`](Self::join_next).
    pub async fn join_all(mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        while let Some(res) = self.join_next().await {
            match res {
                Ok(v) => out.push(v),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("tether: JoinSet::join_all: {e}"),
            }
        }
        out
    }

    /// Rules 3-4: the next finished task, if any. With `waker`, registers it when none has
    /// finished yet.
    fn next_finished(&mut self, waker: Option<&Waker>) -> Poll<Option<(Id, Result<T, JoinError>)>> {
        loop {
            if self.len == 0 {
                return Poll::Ready(None);
            }
            let key = match self.batch.pop_front() {
                Some(key) => key,
                None => {
                    let replaced = {
                        let mut ready = lock(&self.ready.inner);
                        if ready.keys.is_empty() {
                            match waker {
                                // Rule 4: registered under the lock that found nothing.
                                Some(w) => match &ready.waker {
                                    Some(old) if old.will_wake(w) => None,
                                    _ => ready.waker.replace(w.clone()),
                                },
                                None => None,
                            }
                        } else {
                            std::mem::swap(&mut self.batch, &mut ready.keys);
                            continue;
                        }
                    };
                    // Rule 5: dropped after the lock.
                    drop(replaced);
                    return Poll::Pending;
                }
            };
            // Rule 3: skip what is stale or unfinished.
            let Some(slot) = self.slots.get_mut(key as usize) else {
                continue;
            };
            let Some(handle) = slot.handle.as_mut() else {
                continue;
            };
            let id = handle.id();
            let mut cx = Context::from_waker(&slot.waker);
            if let Poll::Ready(out) = handle.poll_result(&mut cx) {
                slot.handle = None;
                self.free.push(key);
                self.len -= 1;
                if self.len == 0 && self.slots.len() > KEEP_SLOTS {
                    // Keys still in the list name slots that are gone: rule 3 skips them.
                    self.slots.clear();
                    self.free.clear();
                }
                return Poll::Ready(Some((id, out)));
            }
        }
    }
}

/// A result handed to the caller: a panic in it is the caller's from now on.
fn delivered<T>(id: Id, out: Result<T, JoinError>) -> Result<(Id, T), JoinError> {
    match out {
        Ok(v) => Ok((id, v)),
        Err(mut e) => {
            e.observed();
            Err(e)
        }
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns `task` into the set on the current runtime and returns a handle that can abort
    /// it; its output is returned by [`join_next`](Self::join_next).
    ///
    /// # Panics
    ///
    /// Panics outside a tether runtime, like [`tether::spawn`](crate::spawn()); use
    /// [`spawn_on`](Self::spawn_on) with a [`Handle`] from elsewhere.
    #[track_caller]
    pub fn spawn<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        let location = Location::caller();
        crate::runtime::context::with_handle(|h| match h {
            Some(h) => self.spawn_at(task, h, location),
            None => crate::task::no_runtime_panic("tether::task::JoinSet::spawn", location),
        })
    }

    /// Spawns `task` into the set on the runtime of `handle`, from any thread.
    #[track_caller]
    pub fn spawn_on<F>(&mut self, task: F, handle: &Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.spawn_at(task, handle, Location::caller())
    }

    fn spawn_at<F>(
        &mut self,
        task: F,
        handle: &Handle,
        location: &'static Location<'static>,
    ) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        let key = self.vacant();
        let (token, waker) = self.token_and_waker(key);
        let jh = handle.spawn_in_join_set(task, location, false, token, waker);
        self.occupy(key, jh)
    }

    /// Spawns a `!Send` task into the set, on the current-thread runtime whose `block_on` this
    /// thread is inside; see [`spawn_local`](crate::task::spawn_local).
    ///
    /// # Panics
    ///
    /// Panics where [`spawn_local`](crate::task::spawn_local) does: outside `block_on` of a
    /// current-thread runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use tether::task::JoinSet;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let shared = Rc::new(2);
    ///     let mut set = JoinSet::new();
    ///     for i in 0..3 {
    ///         let s = shared.clone();
    ///         set.spawn_local(async move { *s * i });
    ///     }
    ///     let mut sum = 0;
    ///     while let Some(res) = set.join_next().await {
    ///         sum += res.unwrap();
    ///     }
    ///     assert_eq!(sum, 6);
    /// }
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        let location = Location::caller();
        let key = self.vacant();
        let (token, waker) = self.token_and_waker(key);
        let group = crate::task::Group::JoinSet(token, waker);
        let jh = crate::task::local::spawn_local_inner(task, None, location, group);
        self.occupy(key, jh)
    }

    /// Runs the blocking closure `f` on the current runtime's blocking pool as a task of the
    /// set; see [`spawn_blocking`](crate::task::spawn_blocking). Aborting it only stops it
    /// while it is still queued.
    ///
    /// # Panics
    ///
    /// Panics outside a tether runtime; use [`spawn_blocking_on`](Self::spawn_blocking_on)
    /// from elsewhere.
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        let location = Location::caller();
        crate::runtime::context::with_handle(|h| match h {
            Some(h) => self.spawn_blocking_at(f, h, location),
            None => {
                crate::task::no_runtime_panic("tether::task::JoinSet::spawn_blocking", location)
            }
        })
    }

    /// Runs the blocking closure `f` on the blocking pool of `handle`'s runtime as a task of the
    /// set, from any thread.
    #[track_caller]
    pub fn spawn_blocking_on<F>(&mut self, f: F, handle: &Handle) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        self.spawn_blocking_at(f, handle, Location::caller())
    }

    fn spawn_blocking_at<F>(
        &mut self,
        f: F,
        handle: &Handle,
        location: &'static Location<'static>,
    ) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        let key = self.vacant();
        let task = crate::task::blocking::BlockingTask::new(f);
        let (token, waker) = self.token_and_waker(key);
        let jh = handle.spawn_in_join_set(task, location, true, token, waker);
        self.occupy(key, jh)
    }
}

impl<T> Drop for JoinSet<T> {
    /// Aborts every task still in the set (see [`abort_all`](JoinSet::abort_all)).
    fn drop(&mut self) {
        self.abort_all();
        // The handles drop with the slots, after every task was asked to stop.
    }
}

impl<T> Default for JoinSet<T> {
    #[track_caller]
    fn default() -> JoinSet<T> {
        JoinSet::new()
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet")
            .field("id", &self.group.desc.id)
            .field("len", &self.len)
            .finish()
    }
}

/// Spawns every future into a new set on the current runtime ([`JoinSet::spawn`]).
impl<T, F> FromIterator<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    #[track_caller]
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> JoinSet<T> {
        let mut set = JoinSet::new();
        set.extend(iter);
        set
    }
}

/// Spawns every future into the set on the current runtime ([`JoinSet::spawn`]).
impl<T, F> Extend<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    #[track_caller]
    fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
        for task in iter {
            self.spawn(task);
        }
    }
}
