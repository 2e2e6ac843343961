//! `Notify`: wake one waiting task, or all of them, without passing data.
//!
//! # Protocol
//!
//! Own code: tokio's semantics need a stored permit and a way to tell `notify_waiters` from
//! `notify_one`, which `event-listener` alone does not give. Everything lives in one `NotifyState`
//! under a mutex; wakers are woken after the lock is released.
//!
//! 1. **One stored permit.** `notify_one` with nobody waiting sets `permit`; the next
//!    [`Notified`] to register (by its first poll or by `enable`) consumes it and is done at
//!    once. Several such calls store one permit.
//! 2. **`notify_one` picks the oldest waiter** (`notify_last` the newest): its ticket moves from
//!    `waiting` to `notified` and its waker, if it has one, is woken. A waiter dropped while its
//!    ticket is in `notified` passes the notification on (`notify_one` again, or `notify_last`
//!    for one `notify_last` sent), so none is lost.
//! 3. **`notify_waiters` wakes every waiter** registered at the time (it empties `waiting`) and
//!    increments `generation`; it stores no permit. A [`Notified`] remembers the generation at
//!    its creation: one created before the call completes too, whether or not it was polled or
//!    enabled.
//! 4. A waiter whose ticket is in neither map nor set was removed by `notify_waiters` (rule 3).
//! 5. **Enabling registers without a waker.** `Notified::enable` runs the first poll's steps
//!    (rules 1, 3, then a ticket in `waiting`) with no waker; a later poll stores the waker.
//!    From registration on, the future is in line for `notify_one` exactly as a polled one, so
//!    a notification between `enable` and the first poll is not lost.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::lock;
use crate::loom::sync::Mutex;
use crate::task::coop;

/// Wakes tasks waiting for an event, without passing data; a building block for other
/// primitives.
///
/// A task waits with [`notified().await`](Self::notified). [`notify_one`](Self::notify_one)
/// wakes one waiting task (the one that waited longest) or, if none waits, stores a single
/// permit that makes the next `notified().await` complete at once, so a notification sent just
/// before the other task starts waiting is not lost. [`notify_waiters`](Self::notify_waiters)
/// wakes every task waiting at the time and stores nothing. To check a condition and then wait
/// without missing a `notify_one` sent in between, [`enable`](Notified::enable) the `Notified`
/// before the check. `notified().await` spends one unit of the cooperative budget when it
/// completes.
///
/// Differences from tokio: no `notified_owned`; `const_new` is missing from loom builds.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tether::sync::Notify;
///
/// #[tether::main]
/// async fn main() {
///     let notify = Arc::new(Notify::new());
///     let waiter = {
///         let notify = notify.clone();
///         tether::spawn(async move {
///             notify.notified().await;
///             "woken"
///         })
///     };
///     // Even if this runs before the waiter starts waiting, the permit is kept for it.
///     notify.notify_one();
///     assert_eq!(waiter.await.unwrap(), "woken");
/// }
/// ```
pub struct Notify {
    state: Mutex<NotifyState>,
}

/// The notifier's state (see the protocol in the module docs). Holding the lock means owning
/// every field.
struct NotifyState {
    /// A `notify_one` found nobody waiting (rule 1).
    permit: bool,
    /// The number of `notify_waiters` calls so far (rule 3).
    generation: u64,
    /// Registered waiters by ticket, oldest first, with their waker once polled (rules 2, 5).
    waiting: BTreeMap<u64, Option<Waker>>,
    /// Tickets picked by `notify_one` (`false`) or `notify_last` (`true`) whose waiter has not
    /// completed yet (rule 2).
    notified: BTreeMap<u64, bool>,
    /// The next ticket to hand out.
    next_ticket: u64,
}

impl NotifyState {
    const fn new() -> NotifyState {
        NotifyState {
            permit: false,
            generation: 0,
            waiting: BTreeMap::new(),
            notified: BTreeMap::new(),
            next_ticket: 0,
        }
    }

    /// `notify_one` (or `notify_last`, with `newest`) under the lock: the waker to wake, if a
    /// polled task was picked (rules 1, 2).
    fn notify_one(&mut self, newest: bool) -> Option<Waker> {
        let picked = if newest {
            self.waiting.pop_last()
        } else {
            self.waiting.pop_first()
        };
        match picked {
            Some((ticket, waker)) => {
                self.notified.insert(ticket, newest);
                waker
            }
            None => {
                self.permit = true;
                None
            }
        }
    }
}

impl Notify {
    /// Creates a notifier with no stored permit.
    pub fn new() -> Notify {
        Notify {
            state: Mutex::new(NotifyState::new()),
        }
    }

    /// Creates a notifier in a constant context, such as a `static`.
    ///
    /// Not in loom builds (`--cfg tether_loom`), whose model-checked mutex cannot be built in a
    /// constant.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::Notify;
    ///
    /// static SHUTDOWN: Notify = Notify::const_new();
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     SHUTDOWN.notify_one();
    ///     SHUTDOWN.notified().await;
    /// }
    /// ```
    #[cfg(not(tether_loom))]
    pub const fn const_new() -> Notify {
        Notify {
            state: Mutex::new(NotifyState::new()),
        }
    }

    /// Returns a future that completes when this task is notified.
    ///
    /// It completes when it consumes a stored permit, when [`notify_one`](Self::notify_one)
    /// picks it (it is registered, by a poll or [`Notified::enable`], and is the oldest
    /// registered waiter), or when [`notify_waiters`](Self::notify_waiters) is called after it
    /// was *created* (even if it was never polled). Spends one unit of the cooperative budget
    /// when it completes.
    pub fn notified(&self) -> Notified<'_> {
        let generation = lock(&self.state).generation;
        Notified {
            notify: self,
            generation,
            step: Step::Start,
        }
    }

    /// Wakes the task that has waited longest, or, if no task waits, stores a permit for the
    /// next [`notified`](Self::notified) (at most one permit is stored).
    pub fn notify_one(&self) {
        let waker = lock(&self.state).notify_one(false);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Like [`notify_one`](Self::notify_one), but wakes the task that started waiting last.
    pub fn notify_last(&self) {
        let waker = lock(&self.state).notify_one(true);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wakes every task waiting right now, and every [`Notified`] created before this call.
    /// Stores no permit.
    pub fn notify_waiters(&self) {
        let waiting = {
            let mut state = lock(&self.state);
            state.generation = state.generation.wrapping_add(1);
            std::mem::take(&mut state.waiting)
        };
        for (_, waker) in waiting {
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl Default for Notify {
    fn default() -> Notify {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Notify")
            .field("permit", &state.permit)
            .field("waiting", &state.waiting.len())
            .finish()
    }
}

/// Where a [`Notified`] is in the protocol.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Not registered yet: no ticket.
    Start,
    /// Holds this ticket: in `waiting`, in `notified`, or in neither after `notify_waiters`.
    Waiting(u64),
    /// Notified; every later poll returns `Ready`.
    Done,
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless awaited"]
pub struct Notified<'a> {
    notify: &'a Notify,
    /// `generation` when this future was created (rule 3).
    generation: u64,
    step: Step,
}

impl Notified<'_> {
    /// Registers this future as a waiter without polling it, so that a
    /// [`notify_one`](Notify::notify_one) sent from now on is kept for it (rule 5); returns
    /// whether it is already notified (then awaiting it completes at once).
    ///
    /// [`notify_waiters`](Notify::notify_waiters) needs no `enable`: it reaches every
    /// `Notified` created before it. Enabling matters for `notify_one`: without it, a
    /// notification sent between a check of some condition and the first poll could go to
    /// another waiter, or be stored as the single permit and then taken by another task.
    /// Calling it again, or after a poll, changes nothing and returns whether it was notified.
    ///
    /// # Examples
    ///
    /// A queue whose consumers check for a value, then wait; enabling first means a
    /// `notify_one` sent between the check and the wait reaches this consumer:
    ///
    /// ```
    /// use std::collections::VecDeque;
    /// use std::pin::pin;
    /// use std::sync::Mutex;
    /// use tether::sync::Notify;
    ///
    /// struct Queue<T> {
    ///     items: Mutex<VecDeque<T>>,
    ///     sent: Notify,
    /// }
    ///
    /// impl<T> Queue<T> {
    ///     fn push(&self, item: T) {
    ///         self.items.lock().unwrap().push_back(item);
    ///         self.sent.notify_one();
    ///     }
    ///
    ///     async fn pop(&self) -> T {
    ///         loop {
    ///             let mut notified = pin!(self.sent.notified());
    ///             notified.as_mut().enable(); // in line for notify_one from here on
    ///             if let Some(item) = self.items.lock().unwrap().pop_front() {
    ///                 return item;
    ///             }
    ///             notified.await;
    ///         }
    ///     }
    /// }
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let queue = Queue { items: Mutex::new(VecDeque::new()), sent: Notify::new() };
    ///     queue.push(1);
    ///     assert_eq!(queue.pop().await, 1);
    /// }
    /// ```
    pub fn enable(self: Pin<&mut Self>) -> bool {
        self.get_mut().poll_notified(None).is_ready()
    }

    /// The protocol's steps for one poll (`waker` is `None` for `enable`); spends no budget.
    fn poll_notified(&mut self, waker: Option<&Waker>) -> Poll<()> {
        let mut state = lock(&self.notify.state);
        match self.step {
            Step::Start => {
                if state.generation != self.generation {
                    // Rule 3: notify_waiters ran since this future was created.
                } else if state.permit {
                    state.permit = false;
                } else {
                    let ticket = state.next_ticket;
                    state.next_ticket += 1;
                    state.waiting.insert(ticket, waker.cloned());
                    self.step = Step::Waiting(ticket);
                    return Poll::Pending;
                }
            }
            Step::Waiting(ticket) => {
                if let Some(stored) = state.waiting.get_mut(&ticket) {
                    if let Some(waker) = waker {
                        match stored {
                            Some(w) if w.will_wake(waker) => {}
                            _ => *stored = Some(waker.clone()),
                        }
                    }
                    return Poll::Pending;
                }
                // Picked by notify_one (rule 2) or woken by notify_waiters (rule 4).
                state.notified.remove(&ticket);
            }
            Step::Done => {}
        }
        drop(state);
        self.step = Step::Done;
        Poll::Ready(())
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let coop = std::task::ready!(coop::poll_proceed(cx));
        std::task::ready!(self.poll_notified(Some(cx.waker())));
        coop.made_progress();
        Poll::Ready(())
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        if let Step::Waiting(ticket) = self.step {
            let waker = {
                let mut state = lock(&self.notify.state);
                state.waiting.remove(&ticket);
                match state.notified.remove(&ticket) {
                    // Rule 2: pass on a notification this waiter received but did not consume,
                    // the way it was sent (`notify_last`'s to the newest waiter left).
                    Some(newest) => state.notify_one(newest),
                    None => None,
                }
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("step", &self.step)
            .finish()
    }
}
