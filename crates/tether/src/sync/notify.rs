//! `Notify`: wake one waiting task, or all of them, without passing data.
//!
//! # Protocol
//!
//! Own code: tokio's semantics need a stored permit and a way to tell `notify_waiters` from
//! `notify_one`, which `event-listener` alone does not give. Everything lives in one `NotifyState`
//! under a mutex; wakers are woken after the lock is released.
//!
//! 1. **One stored permit.** `notify_one` with nobody waiting sets `permit`; the next
//!    `notified()` consumes it and completes at once. Several such calls store one permit.
//! 2. **`notify_one` wakes the oldest waiter**: its ticket moves from `waiting` to `notified`.
//!    A waiter dropped while its ticket is in `notified` passes the notification on
//!    (`notify_one` again), so none is lost.
//! 3. **`notify_waiters` wakes every waiter** registered at the time (it empties `waiting`) and
//!    increments `generation`; it stores no permit. A [`Notified`] remembers the generation at
//!    its creation: one created before the call but not yet polled completes too.
//! 4. A waiter whose ticket is in neither map nor set was removed by `notify_waiters` (rule 3).

use std::collections::{BTreeMap, BTreeSet};
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
/// wakes every task waiting at the time and stores nothing. `notified().await` spends one unit of
/// the cooperative budget when it completes.
///
/// Difference from tokio: `Notified` has no `enable` and there is no `notify_last`.
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
    /// Waiting tasks by ticket, oldest first (rule 2).
    waiting: BTreeMap<u64, Waker>,
    /// Tickets woken by `notify_one` whose waiter has not completed yet (rule 2).
    notified: BTreeSet<u64>,
    /// The next ticket to hand out.
    next_ticket: u64,
}

impl NotifyState {
    /// `notify_one` under the lock: the waker to wake, if a task was waiting (rules 1, 2).
    fn notify_one(&mut self) -> Option<Waker> {
        match self.waiting.pop_first() {
            Some((ticket, waker)) => {
                self.notified.insert(ticket);
                Some(waker)
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
            state: Mutex::new(NotifyState {
                permit: false,
                generation: 0,
                waiting: BTreeMap::new(),
                notified: BTreeSet::new(),
                next_ticket: 0,
            }),
        }
    }

    /// Returns a future that completes when this task is notified.
    ///
    /// It completes when it consumes a stored permit, when [`notify_one`](Self::notify_one)
    /// picks it (it is polled, so waiting, and was the oldest waiter), or when
    /// [`notify_waiters`](Self::notify_waiters) is called after it was *created* (even if it was
    /// not polled yet). Spends one unit of the cooperative budget when it completes.
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
        let waker = lock(&self.state).notify_one();
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
            waker.wake();
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
    /// Not polled yet: no ticket.
    Start,
    /// Holds this ticket: in `waiting`, in `notified`, or in neither after `notify_waiters`.
    Waiting(u64),
    /// Completed.
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

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let this = &mut *self;
        let mut state = lock(&this.notify.state);
        match this.step {
            Step::Start => {
                if state.generation != this.generation {
                    // Rule 3: notify_waiters ran since this future was created.
                } else if state.permit {
                    state.permit = false;
                } else {
                    let ticket = state.next_ticket;
                    state.next_ticket += 1;
                    state.waiting.insert(ticket, cx.waker().clone());
                    this.step = Step::Waiting(ticket);
                    return Poll::Pending;
                }
            }
            Step::Waiting(ticket) => {
                if let Some(waker) = state.waiting.get_mut(&ticket) {
                    if !waker.will_wake(cx.waker()) {
                        *waker = cx.waker().clone();
                    }
                    return Poll::Pending;
                }
                // Woken by notify_one (rule 2) or by notify_waiters (rule 4).
                state.notified.remove(&ticket);
            }
            Step::Done => {}
        }
        drop(state);
        this.step = Step::Done;
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
                if state.notified.remove(&ticket) {
                    // Rule 2: pass on a notify_one this waiter received but did not consume.
                    state.notify_one()
                } else {
                    None
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
