//! `Semaphore`: a fair, closable pool of permits.
//!
//! # Protocol
//!
//! Own code: `async-lock`'s semaphore can be neither closed nor made first-in-first-out, and
//! tokio's semantics need both. Everything lives in one `SemaphoreState` under a mutex; wakers
//! are woken after the lock is released.
//!
//! 1. **First in, first out.** An acquirer that cannot take all the permits it needs takes a
//!    ticket and waits in `waiting`, ordered by ticket. Released permits go to the oldest waiter
//!    (its `assigned` count grows) until it has all it needs; its ticket then moves to `granted`
//!    and it is woken, and the rest go to the next waiter. Only when nobody waits do permits
//!    return to `permits`. Hence `permits > 0` implies `waiting` is empty (while open), and a
//!    newcomer never overtakes a waiter: a large request at the head holds back later small
//!    ones, as in tokio.
//! 2. **A newcomer takes what is free.** One that finds fewer free permits than it needs (and
//!    nobody waiting) takes them all as its `assigned` count and waits for the rest.
//! 3. **A granted ticket owns its permits.** The waiter's next poll completes with them. A
//!    waiter dropped before that (granted, or still waiting with some permits assigned) releases
//!    them again (rule 1), so no permit is lost.
//! 4. **Closing** sets `closed`, empties `waiting` (the permits assigned to those waiters return
//!    to `permits`) and wakes every waiter, which then fails with [`AcquireError`]; from then on
//!    acquiring fails at once. A waiter granted before the close keeps its permits. Permits
//!    released after a close return to `permits`.

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
/// [`acquire`](Self::acquire) waits for a permit (and [`acquire_many`](Self::acquire_many) for
/// several) and returns a [`SemaphorePermit`] guard, which gives the permits back when dropped.
/// The semaphore is **fair**: permits go to waiting tasks in the order they started waiting, a
/// large request at the head of the queue holds back later small ones (it is never starved),
/// and [`try_acquire`](Self::try_acquire) never overtakes a waiting task.
/// [`close`](Self::close) makes every waiting and future `acquire` fail, which is a way to tell
/// workers to stop. Acquiring spends one unit of the cooperative budget when it completes.
///
/// Differences from tokio: `const_new` is missing from loom builds (the model checker's mutex
/// cannot be built in a constant); no `blocking_acquire*`.
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
    /// Set by `close`, never cleared (rule 4).
    closed: bool,
    /// Waiting acquirers by ticket, oldest first (rule 1).
    waiting: BTreeMap<u64, Waiter>,
    /// Tickets that were given all their permits, which their acquirer has not picked up yet
    /// (rule 3).
    granted: BTreeSet<u64>,
    /// The next ticket to hand out.
    next_ticket: u64,
    /// A release would have made more than `MAX_PERMITS` free (the releaser panics).
    overflowed: bool,
}

/// One waiting acquirer (rule 1).
struct Waiter {
    waker: Waker,
    /// The permits it asked for.
    needed: usize,
    /// The permits it was given so far; less than `needed`.
    assigned: usize,
}

impl SemaphoreState {
    const fn new(permits: usize) -> SemaphoreState {
        SemaphoreState {
            permits,
            closed: false,
            waiting: BTreeMap::new(),
            granted: BTreeSet::new(),
            next_ticket: 0,
            overflowed: false,
        }
    }

    /// Hands `n` released permits to the oldest waiters, the rest to the pool (rule 1); returns
    /// the wakers of the waiters that now have all they need.
    fn release(&mut self, mut n: usize) -> Vec<Waker> {
        let mut woken = Vec::new();
        if !self.closed {
            while n > 0 {
                let Some(mut head) = self.waiting.first_entry() else {
                    break;
                };
                let waiter = head.get_mut();
                let given = n.min(waiter.needed - waiter.assigned);
                waiter.assigned += given;
                n -= given;
                if waiter.assigned == waiter.needed {
                    let (ticket, waiter) = head.remove_entry();
                    self.granted.insert(ticket);
                    woken.push(waiter.waker);
                }
            }
        }
        // More than `MAX_PERMITS` free is an accounting error of the caller's (permits added
        // twice); the pool stays at the bound and the caller panics once the lock is released.
        match self.permits.checked_add(n) {
            Some(p) if p <= Semaphore::MAX_PERMITS => self.permits = p,
            _ => {
                self.permits = Semaphore::MAX_PERMITS;
                self.overflowed = true;
            }
        }
        woken
    }
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
            state: Mutex::new(SemaphoreState::new(permits)),
        }
    }

    /// Creates a semaphore with `permits` free permits in a constant context, such as a
    /// `static`.
    ///
    /// Not in loom builds (`--cfg tether_loom`), whose model-checked mutex cannot be built in a
    /// constant.
    ///
    /// # Panics
    ///
    /// Panics (at compile time in a constant) if `permits` exceeds
    /// [`MAX_PERMITS`](Self::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::Semaphore;
    ///
    /// static CONNECTIONS: Semaphore = Semaphore::const_new(100);
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let _permit = CONNECTIONS.acquire().await.unwrap();
    ///     assert_eq!(CONNECTIONS.available_permits(), 99);
    /// }
    /// ```
    #[cfg(not(tether_loom))]
    pub const fn const_new(permits: usize) -> Semaphore {
        assert!(
            permits <= Semaphore::MAX_PERMITS,
            "tether::sync::Semaphore::const_new: the permits exceed Semaphore::MAX_PERMITS"
        );
        Semaphore {
            state: Mutex::new(SemaphoreState::new(permits)),
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
        let woken = {
            let mut state = lock(&self.state);
            let free = state.permits;
            if n > Semaphore::MAX_PERMITS - free {
                drop(state);
                panic!(
                    "tether::sync::Semaphore::add_permits: adding {n} permits to {free} would \
                     exceed Semaphore::MAX_PERMITS ({})",
                    Semaphore::MAX_PERMITS
                );
            }
            state.release(n)
        };
        for waker in woken {
            waker.wake();
        }
    }

    /// Removes up to `n` free permits for good; returns how many were removed (fewer than `n`
    /// when fewer were free). Permits held by guards are not touched.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(3);
    /// let _held = sem.try_acquire().unwrap();
    /// assert_eq!(sem.forget_permits(5), 2);
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        let mut state = lock(&self.state);
        let removed = n.min(state.permits);
        state.permits -= removed;
        removed
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
        self.acquire_many(1).await
    }

    /// Waits for `n` permits at once and returns them as one guard.
    ///
    /// The request waits in the same first-in-first-out queue as single ones: while it waits at
    /// the head, released permits are set aside for it until it has `n`, and requests behind it
    /// wait too, however small. A request for more permits than the semaphore will ever have
    /// waits until the semaphore is closed. `n == 0` completes at once (unless closed). Spends
    /// one unit of the cooperative budget when it completes. Cancel-safe: dropping the future
    /// gives up the place in the queue and passes on the permits set aside for it.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] when the semaphore is closed, before or while waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::Semaphore;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let memory = Semaphore::new(10); // say, megabytes of buffer space
    ///     let big = memory.acquire_many(8).await.unwrap();
    ///     assert_eq!(big.num_permits(), 8);
    ///     assert_eq!(memory.available_permits(), 2);
    ///     drop(big);
    ///     assert_eq!(memory.available_permits(), 10);
    /// }
    /// ```
    pub async fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        let permits = n as usize;
        Acquire::new(self, permits).await?;
        Ok(SemaphorePermit { sem: self, permits })
    }

    /// Takes a permit if one is free right now, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::Closed`] when the semaphore is closed, [`TryAcquireError::NoPermits`]
    /// when no permit is free.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if that many are free right now, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::Closed`] when the semaphore is closed, [`TryAcquireError::NoPermits`]
    /// when fewer than `n` are free (which is always the case while a task waits).
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let permits = n as usize;
        self.try_take(permits)?;
        Ok(SemaphorePermit { sem: self, permits })
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
        self.acquire_many_owned(1).await
    }

    /// Waits for `n` permits, like [`acquire_many`](Self::acquire_many), and returns a guard
    /// that owns an `Arc` of the semaphore.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] when the semaphore is closed.
    pub async fn acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        let permits = n as usize;
        Acquire::new(&self, permits).await?;
        Ok(OwnedSemaphorePermit { sem: self, permits })
    }

    /// Takes a permit if one is free right now, returning an owned guard; see
    /// [`acquire_owned`](Self::acquire_owned).
    ///
    /// # Errors
    ///
    /// As for [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// Takes `n` permits if that many are free right now, returning an owned guard.
    ///
    /// # Errors
    ///
    /// As for [`try_acquire_many`](Self::try_acquire_many).
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        let permits = n as usize;
        self.try_take(permits)?;
        Ok(OwnedSemaphorePermit { sem: self, permits })
    }

    /// Closes the semaphore: every waiting `acquire` fails with [`AcquireError`], and so does
    /// every later one. Permits already held stay valid.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tether::sync::Semaphore;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let sem = Arc::new(Semaphore::new(0));
    ///     let waiter = tether::spawn({
    ///         let sem = sem.clone();
    ///         async move { sem.acquire().await.is_err() }
    ///     });
    ///     tether::task::yield_now().await;
    ///     sem.close();
    ///     assert!(waiter.await.unwrap(), "the waiting acquire failed");
    ///     assert!(sem.is_closed());
    ///     assert!(sem.try_acquire().is_err());
    /// }
    /// ```
    pub fn close(&self) {
        let waiting = {
            let mut state = lock(&self.state);
            state.closed = true;
            let waiting = std::mem::take(&mut state.waiting);
            let assigned: usize = waiting.values().map(|w| w.assigned).sum();
            state.permits = state.permits.saturating_add(assigned);
            waiting
        };
        for (_, waiter) in waiting {
            waiter.waker.wake();
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Takes `n` free permits, or says why not.
    fn try_take(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut state = lock(&self.state);
        if state.closed {
            Err(TryAcquireError::Closed)
        } else if state.permits < n {
            Err(TryAcquireError::NoPermits)
        } else {
            state.permits -= n;
            Ok(())
        }
    }

    /// Gives `n` permits back: to the oldest waiters first, the rest to the pool (rule 1).
    #[track_caller]
    fn release(&self, n: usize) {
        let (woken, overflowed) = {
            let mut state = lock(&self.state);
            let woken = state.release(n);
            (woken, std::mem::take(&mut state.overflowed))
        };
        for waker in woken {
            waker.wake();
        }
        assert!(
            !overflowed,
            "tether::sync::Semaphore: giving back {n} permits would make more than \
             Semaphore::MAX_PERMITS ({}) free; were permits added twice?",
            Semaphore::MAX_PERMITS
        );
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
    /// Holds this ticket: in `waiting`, or in `granted` once given its permits (rules 1, 3).
    Waiting(u64),
    /// Completed; owns nothing.
    Done,
}

/// The future of one acquire: completes with `Ok(())` once it owns `needed` permits.
struct Acquire<'a> {
    sem: &'a Semaphore,
    needed: usize,
    step: Step,
}

impl<'a> Acquire<'a> {
    fn new(sem: &'a Semaphore, needed: usize) -> Acquire<'a> {
        Acquire {
            sem,
            needed,
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
            Step::Start if state.permits >= this.needed => {
                state.permits -= this.needed;
                Ok(())
            }
            Step::Start => {
                // Rule 2: take what is free (nobody waits, rule 1) and wait for the rest.
                let ticket = state.next_ticket;
                state.next_ticket += 1;
                let assigned = std::mem::take(&mut state.permits);
                state.waiting.insert(
                    ticket,
                    Waiter {
                        waker: cx.waker().clone(),
                        needed: this.needed,
                        assigned,
                    },
                );
                this.step = Step::Waiting(ticket);
                return Poll::Pending;
            }
            Step::Waiting(ticket) => {
                if state.granted.remove(&ticket) {
                    Ok(())
                } else if state.closed {
                    // Rule 4: `close` removed us from `waiting` and took back what we had.
                    Err(AcquireError(()))
                } else {
                    if let Some(waiter) = state.waiting.get_mut(&ticket) {
                        if !waiter.waker.will_wake(cx.waker()) {
                            waiter.waker = cx.waker().clone();
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
            let woken = {
                let mut state = lock(&self.sem.state);
                // Rule 3: pass on the permits this waiter was given but never picked up.
                let held = match state.waiting.remove(&ticket) {
                    Some(waiter) => waiter.assigned,
                    None if state.granted.remove(&ticket) => self.needed,
                    None => 0,
                };
                state.release(held)
            };
            for waker in woken {
                waker.wake();
            }
        }
    }
}

/// A number of permits of a [`Semaphore`], borrowed from it; dropping the guard gives them
/// back.
///
/// Created by [`Semaphore::acquire`], [`acquire_many`](Semaphore::acquire_many) and their
/// `try_` forms.
#[must_use = "the permits are given back as soon as the guard is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    /// The permits held; 0 after `forget`.
    permits: usize,
}

impl<'a> SemaphorePermit<'a> {
    /// Drops the guard without giving its permits back: the semaphore has that many permits
    /// less for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// Moves the permits of `other` into this guard, which gives all of them back when dropped.
    ///
    /// # Panics
    ///
    /// Panics if `other` belongs to another semaphore.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(3);
    /// let mut permit = sem.try_acquire().unwrap();
    /// permit.merge(sem.try_acquire_many(2).unwrap());
    /// assert_eq!(permit.num_permits(), 3);
    /// let two = permit.split(2).unwrap();
    /// assert_eq!((permit.num_permits(), two.num_permits()), (1, 2));
    /// drop(two);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    #[track_caller]
    pub fn merge(&mut self, mut other: SemaphorePermit<'a>) {
        assert!(
            std::ptr::eq(self.sem, other.sem),
            "tether::sync::SemaphorePermit::merge: the permits belong to different semaphores"
        );
        self.permits += std::mem::take(&mut other.permits);
    }

    /// Splits `n` permits off into a guard of their own; `None` if this guard holds fewer.
    pub fn split(&mut self, n: usize) -> Option<SemaphorePermit<'a>> {
        self.permits = self.permits.checked_sub(n)?;
        Some(SemaphorePermit {
            sem: self.sem,
            permits: n,
        })
    }

    /// The semaphore these permits belong to.
    pub fn semaphore(&self) -> &'a Semaphore {
        self.sem
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

/// A number of permits of a [`Semaphore`] that owns an `Arc` of it; dropping the guard gives
/// them back.
///
/// Created by [`Semaphore::acquire_owned`], [`acquire_many_owned`](Semaphore::acquire_many_owned)
/// and their `try_` forms.
#[must_use = "the permits are given back as soon as the guard is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    /// The permits held; 0 after `forget`.
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// Drops the guard without giving its permits back: the semaphore has that many permits
    /// less for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// Moves the permits of `other` into this guard; see [`SemaphorePermit::merge`].
    ///
    /// # Panics
    ///
    /// Panics if `other` belongs to another semaphore.
    #[track_caller]
    pub fn merge(&mut self, mut other: OwnedSemaphorePermit) {
        assert!(
            Arc::ptr_eq(&self.sem, &other.sem),
            "tether::sync::OwnedSemaphorePermit::merge: the permits belong to different \
             semaphores"
        );
        self.permits += std::mem::take(&mut other.permits);
    }

    /// Splits `n` permits off into a guard of their own; `None` if this guard holds fewer.
    pub fn split(&mut self, n: usize) -> Option<OwnedSemaphorePermit> {
        self.permits = self.permits.checked_sub(n)?;
        Some(OwnedSemaphorePermit {
            sem: self.sem.clone(),
            permits: n,
        })
    }

    /// The number of permits this guard holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore these permits belong to.
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
