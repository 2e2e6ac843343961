//! `Semaphore`: a fair, closable pool of permits.
//!
//! # Protocol
//!
//! Own code: `async-lock`'s semaphore can be neither closed nor made first-in-first-out, and
//! tokio's semantics need both. Everything lives in one `SemaphoreState` under a mutex; wakers
//! are woken after the lock is released.
//!
//! 1. **First in, first out.** An acquirer that finds no free permit takes a ticket and waits in
//!    `waiting`, ordered by ticket. A released permit goes to the oldest waiter (its ticket moves
//!    to `granted` and it is woken); only when nobody waits does it return to `permits`. Hence
//!    `permits > 0` implies `waiting` is empty, and a newcomer never overtakes a waiter.
//! 2. **A granted ticket owns a permit.** The waiter's next poll completes with it; a waiter
//!    dropped before that releases the permit again (rule 1), so no permit is lost.
//! 3. **Closing** sets `closed` and wakes every waiter, which then fails with [`AcquireError`];
//!    from then on acquiring fails at once. A waiter granted before the close keeps its permit.
//!    Permits released after a close return to `permits`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::loom::lock;
use crate::loom::sync::Mutex;
use crate::task::coop;

/// A counting semaphore: a pool of permits that tasks acquire before they proceed and release
/// when done, which bounds how many tasks do something at once.
///
/// [`acquire`](Self::acquire) waits for a permit and returns a [`SemaphorePermit`] guard, which
/// gives the permit back when dropped. The semaphore is **fair**: permits go to waiting tasks in
/// the order they started waiting, and [`try_acquire`](Self::try_acquire) never overtakes a
/// waiting task. [`close`](Self::close) makes every waiting and future `acquire` fail, which is a
/// way to tell workers to stop. `acquire` spends one unit of the cooperative budget when it
/// completes.
///
/// Differences from tokio: one permit per acquire (no `acquire_many`, `forget_permits` or
/// permit merging), and `Semaphore::new` is not `const`.
///
/// # Examples
///
/// At most two downloads at a time:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tether::sync::Semaphore;
///
/// #[tether::main]
/// async fn main() {
///     let slots = Arc::new(Semaphore::new(2));
///     let mut tasks = Vec::new();
///     for i in 0..5u64 {
///         let slots = slots.clone();
///         tasks.push(tether::spawn(async move {
///             let _permit = slots.acquire().await.unwrap();
///             tether::time::sleep(Duration::from_millis(i)).await; // "download"
///         }));
///     }
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(slots.available_permits(), 2);
/// }
/// ```
pub struct Semaphore {
    state: Mutex<SemaphoreState>,
}

/// The semaphore's state (see the protocol in the module docs). Holding the lock means owning
/// every field.
struct SemaphoreState {
    /// Free permits; non-zero only while nobody waits, or after a close (rule 1).
    permits: usize,
    /// Set by `close`, never cleared (rule 3).
    closed: bool,
    /// Waiting acquirers by ticket, oldest first, with the waker of each (rule 1).
    waiting: BTreeMap<u64, Waker>,
    /// Tickets that were given a permit their acquirer has not picked up yet (rule 2).
    granted: BTreeSet<u64>,
    /// The next ticket to hand out.
    next_ticket: u64,
}

impl Semaphore {
    /// The most permits a semaphore can hold (as in tokio).
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// Creates a semaphore with `permits` free permits.
    ///
    /// # Panics
    ///
    /// Panics if `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
    #[track_caller]
    pub fn new(permits: usize) -> Semaphore {
        assert!(
            permits <= Semaphore::MAX_PERMITS,
            "tether::sync::Semaphore::new: {permits} permits exceed Semaphore::MAX_PERMITS ({})",
            Semaphore::MAX_PERMITS
        );
        Semaphore {
            state: Mutex::new(SemaphoreState {
                permits,
                closed: false,
                waiting: BTreeMap::new(),
                granted: BTreeSet::new(),
                next_ticket: 0,
            }),
        }
    }

    /// The number of free permits right now.
    pub fn available_permits(&self) -> usize {
        lock(&self.state).permits
    }

    /// Adds `n` permits, handing them to waiting tasks first (oldest first).
    ///
    /// # Panics
    ///
    /// Panics if the free permits would exceed [`MAX_PERMITS`](Self::MAX_PERMITS).
    #[track_caller]
    pub fn add_permits(&self, n: usize) {
        let free = lock(&self.state).permits;
        assert!(
            n <= Semaphore::MAX_PERMITS - free,
            "tether::sync::Semaphore::add_permits: adding {n} permits to {free} would exceed \
             Semaphore::MAX_PERMITS ({})",
            Semaphore::MAX_PERMITS
        );
        self.release(n);
    }

    /// Waits for a permit and returns it as a guard that gives it back when dropped.
    ///
    /// Spends one unit of the cooperative budget when it completes. Cancel-safe: dropping the
    /// future before it completes gives up the place in the queue (and passes on a permit it
    /// may have been given meanwhile).
    ///
    /// # Errors
    ///
    /// [`AcquireError`] when the semaphore is closed, before or while waiting.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        Acquire::new(self).await?;
        Ok(SemaphorePermit {
            sem: self,
            permits: 1,
        })
    }

    /// Takes a permit if one is free right now, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::Closed`] when the semaphore is closed, [`TryAcquireError::NoPermits`]
    /// when no permit is free.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_take()?;
        Ok(SemaphorePermit {
            sem: self,
            permits: 1,
        })
    }

    /// Waits for a permit, like [`acquire`](Self::acquire), and returns a guard that owns an
    /// `Arc` of the semaphore, so it can be moved into a task.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] when the semaphore is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tether::sync::Semaphore;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let sem = Arc::new(Semaphore::new(1));
    ///     let permit = sem.clone().acquire_owned().await.unwrap();
    ///     let task = tether::spawn(async move {
    ///         let _permit = permit; // released when the task ends
    ///     });
    ///     task.await.unwrap();
    ///     assert_eq!(sem.available_permits(), 1);
    /// }
    /// ```
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        Acquire::new(&self).await?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            permits: 1,
        })
    }

    /// Takes a permit if one is free right now, returning an owned guard; see
    /// [`acquire_owned`](Self::acquire_owned).
    ///
    /// # Errors
    ///
    /// As for [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_take()?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            permits: 1,
        })
    }

    /// Closes the semaphore: every waiting `acquire` fails with [`AcquireError`], and so does
    /// every later one. Permits already held stay valid.
    pub fn close(&self) {
        let waiting = {
            let mut state = lock(&self.state);
            state.closed = true;
            std::mem::take(&mut state.waiting)
        };
        for (_, waker) in waiting {
            waker.wake();
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Takes one free permit, or says why not.
    fn try_take(&self) -> Result<(), TryAcquireError> {
        let mut state = lock(&self.state);
        if state.closed {
            Err(TryAcquireError::Closed)
        } else if state.permits == 0 {
            Err(TryAcquireError::NoPermits)
        } else {
            state.permits -= 1;
            Ok(())
        }
    }

    /// Gives `n` permits back: to the oldest waiters first, the rest to the pool (rule 1).
    fn release(&self, mut n: usize) {
        let mut woken = Vec::new();
        {
            let mut state = lock(&self.state);
            if !state.closed {
                while n > 0 {
                    let Some((ticket, waker)) = state.waiting.pop_first() else {
                        break;
                    };
                    state.granted.insert(ticket);
                    woken.push(waker);
                    n -= 1;
                }
            }
            state.permits = state.permits.saturating_add(n);
        }
        for waker in woken {
            waker.wake();
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("waiting", &state.waiting.len())
            .field("closed", &state.closed)
            .finish()
    }
}

/// Where an [`Acquire`] is in the protocol.
#[derive(Clone, Copy)]
enum Step {
    /// Not polled yet: no ticket.
    Start,
    /// Holds this ticket: in `waiting`, or in `granted` once given a permit (rules 1, 2).
    Waiting(u64),
    /// Completed; owns nothing.
    Done,
}

/// The future of one acquire: completes with `Ok(())` once it owns one permit.
struct Acquire<'a> {
    sem: &'a Semaphore,
    step: Step,
}

impl<'a> Acquire<'a> {
    fn new(sem: &'a Semaphore) -> Acquire<'a> {
        Acquire {
            sem,
            step: Step::Start,
        }
    }
}

impl Future for Acquire<'_> {
    type Output = Result<(), AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let this = &mut *self;
        let mut state = lock(&this.sem.state);
        let out = match this.step {
            Step::Start if state.closed => Err(AcquireError(())),
            Step::Start if state.permits > 0 => {
                state.permits -= 1;
                Ok(())
            }
            Step::Start => {
                let ticket = state.next_ticket;
                state.next_ticket += 1;
                state.waiting.insert(ticket, cx.waker().clone());
                this.step = Step::Waiting(ticket);
                return Poll::Pending;
            }
            Step::Waiting(ticket) => {
                if state.granted.remove(&ticket) {
                    Ok(())
                } else if state.closed {
                    state.waiting.remove(&ticket);
                    Err(AcquireError(()))
                } else {
                    if let Some(waker) = state.waiting.get_mut(&ticket) {
                        if !waker.will_wake(cx.waker()) {
                            *waker = cx.waker().clone();
                        }
                    }
                    return Poll::Pending;
                }
            }
            Step::Done => panic!("tether: a semaphore acquire was polled after it completed"),
        };
        drop(state);
        this.step = Step::Done;
        coop.made_progress();
        Poll::Ready(out)
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Step::Waiting(ticket) = self.step {
            let granted = {
                let mut state = lock(&self.sem.state);
                state.waiting.remove(&ticket);
                state.granted.remove(&ticket)
            };
            if granted {
                // Rule 2: pass on the permit this waiter was given but never picked up.
                self.sem.release(1);
            }
        }
    }
}

/// A permit of a [`Semaphore`], borrowed from it; dropping it gives the permit back.
///
/// Created by [`Semaphore::acquire`] and [`Semaphore::try_acquire`].
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    /// 1, or 0 after `forget`.
    permits: usize,
}

impl SemaphorePermit<'_> {
    /// Drops the permit without giving it back: the semaphore has one permit less for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// The number of permits this guard holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.sem.release(self.permits);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// A permit of a [`Semaphore`] that owns an `Arc` of it; dropping it gives the permit back.
///
/// Created by [`Semaphore::acquire_owned`] and [`Semaphore::try_acquire_owned`].
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    /// 1, or 0 after `forget`.
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// Drops the permit without giving it back: the semaphore has one permit less for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// The number of permits this guard holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore this permit belongs to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.sem.release(self.permits);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// The semaphore was closed, so no permit will be given: returned by [`Semaphore::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the semaphore was closed, so no permit will be given")
    }
}

impl std::error::Error for AcquireError {}

/// Why [`Semaphore::try_acquire`] gave no permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// No permit is free right now; `acquire().await` would wait for one.
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => {
                f.write_str("the semaphore was closed, so no permit will be given")
            }
            TryAcquireError::NoPermits => {
                f.write_str("no permit is free right now; acquire().await waits for one")
            }
        }
    }
}

impl std::error::Error for TryAcquireError {}
