//! `Sleep`: a future that completes at a deadline.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::io::poll_evented::check_driven_elsewhere;
use crate::loom::sync::Arc;
use crate::runtime::{context, RuntimeShared};
use crate::task::coop;
use crate::task::waker_id::WakerId;
use crate::time::driver::{TimerPoll, TimerSlot};
use crate::time::Instant;

/// Waits until `duration` has elapsed on the runtime's clock.
///
/// The timer has millisecond resolution and never fires early. Dropping the future cancels the
/// timer. A duration too long to add to the clock (`Duration::MAX`, say) sleeps until about 30
/// years from now, as tokio's; the timers fire at the latest about 34.7 years after the runtime
/// started, a deadline later than that is due then (tokio's limit is a sleep of about 2.2
/// years).
///
/// # Panics
///
/// Panics when called outside a tether runtime, or when awaited after its runtime shut down.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// #[tether::main]
/// async fn main() {
///     tether::time::sleep(Duration::from_millis(10)).await;
///     println!("10 ms later");
/// }
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    let rt = current_runtime("tether::time::sleep");
    // One clock read, straight into the driver's form of a deadline (its rule 5).
    let deadline = i64::try_from(duration.as_nanos())
        .ok()
        .and_then(|d| rt.time.now_nanos().checked_add(d))
        .unwrap_or_else(|| rt.time.deadline_nanos(Instant::far_future().into_std()));
    Sleep::with_deadline(rt, deadline)
}

/// Waits until `deadline` on the runtime's clock; see [`sleep`].
///
/// # Panics
///
/// Panics when called outside a tether runtime.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline, "tether::time::sleep_until")
}

/// The runtime of the calling thread; panics naming `what` outside one.
#[track_caller]
fn current_runtime(what: &str) -> Arc<RuntimeShared> {
    match context::current_handle() {
        Some(h) => h.shared,
        None => crate::task::no_runtime_panic(what, Location::caller()),
    }
}

/// The future of [`sleep`] and [`sleep_until`].
///
/// Unlike tokio's, a `Sleep` is `Unpin`: it can be stored and polled without pinning it first.
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    rt: Arc<RuntimeShared>,
    /// The deadline as the time driver's `deadline_nanos` gives it (its rule 5: one word).
    deadline: i64,
    /// Not filed yet, filed in the wheel, or elapsed (the driver's rule 5).
    slot: TimerSlot,
    /// The waker the timer's entry holds, for the next poll's fast path (the driver's rule 4).
    registered: WakerId,
}

impl Sleep {
    #[track_caller]
    pub(crate) fn new(deadline: Instant, what: &str) -> Sleep {
        let rt = current_runtime(what);
        let deadline = rt.time.deadline_nanos(deadline.into_std());
        Sleep::with_deadline(rt, deadline)
    }

    /// A sleep on `rt` until `deadline`, in the driver's form (`deadline_nanos`).
    fn with_deadline(rt: Arc<RuntimeShared>, deadline: i64) -> Sleep {
        Sleep {
            deadline,
            rt,
            slot: TimerSlot::UNFILED,
            registered: WakerId::NONE,
        }
    }

    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        Instant::from_std(self.rt.time.nanos_instant(self.deadline))
    }

    /// Whether the deadline has been reached (as far as the runtime has processed its timers).
    pub fn is_elapsed(&self) -> bool {
        match self.slot.key() {
            Some(key) => self.rt.time.has_fired(key, self.deadline),
            None => self.slot.is_elapsed() || self.deadline <= self.rt.time.now_nanos(),
        }
    }

    /// Moves the deadline to `deadline`, whether or not the sleep already completed; the next
    /// await waits for the new deadline. The task waiting on it is woken at the new deadline
    /// without having to poll it again first; at once if that deadline has passed (as tokio's).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::Pin;
    /// use std::time::Duration;
    /// use tether::time::{sleep, Instant};
    ///
    /// #[tether::main(start_paused = true)]
    /// async fn main() {
    ///     let start = Instant::now();
    ///     let mut s = sleep(Duration::from_secs(1));
    ///     Pin::new(&mut s).reset(start + Duration::from_secs(5));
    ///     s.await;
    ///     assert!(start.elapsed() >= Duration::from_secs(5));
    /// }
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        // The deadline the timer was filed at names it in the wheel (the driver's rule 5).
        let filed_at = this.deadline;
        this.deadline = this.rt.time.deadline_nanos(deadline.into_std());
        // The next poll stores its waker (a pending timer keeps the one it has meanwhile).
        this.registered = WakerId::NONE;
        match this.slot.key() {
            // Moved to a deadline that has passed: out of the wheel, so that the next poll
            // sees the deadline and is ready at once (as an unfiled sleep's first poll is),
            // instead of waiting for the wheel's next turn. The waker the entry held is woken
            // now, as the timer would have been (tokio's reset fires it): the task waiting on
            // the sleep may not poll it again otherwise.
            Some(key) if this.deadline <= this.rt.time.now_nanos() => {
                this.rt.time.remove_timer_and_wake(key, filed_at);
                this.slot = TimerSlot::UNFILED;
            }
            Some(key) => {
                let moved = this
                    .rt
                    .time
                    .reset_timer(&mut this.slot, key, filed_at, this.deadline);
                // A timer that had fired is filed anew at the next poll.
                if let Some(when) = moved {
                    this.after_filing(when);
                }
            }
            // Elapsed: filed anew at the next poll.
            None => this.slot = TimerSlot::UNFILED,
        }
    }

    /// A timer filed while the reactor sleeps (on another thread) until a later deadline must
    /// shorten that sleep.
    fn after_filing(&self, when: u64) {
        if self.rt.time.needs_unpark(when) {
            self.rt.io.unparker.force_unpark();
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.slot.is_elapsed() {
            return Poll::Ready(());
        }
        // The timer's tick is not processed yet and the last poll stored this waker: still
        // pending, no lock, and no budget spent (the driver's rule 4).
        if this
            .rt
            .time
            .still_pending(this.slot, this.deadline, this.registered, cx.waker())
        {
            return Poll::Pending;
        }
        let coop = std::task::ready!(coop::poll_proceed(cx));
        if this.rt.time.is_shutdown() {
            panic!(
                "tether: a timer was awaited after its runtime shut down; timers only work while \
                 the runtime that created them is alive"
            );
        }
        match this.rt.time.poll_timer(
            || this.rt.sched.timer_shard(&this.rt),
            &mut this.slot,
            &mut this.registered,
            this.deadline,
            cx,
        ) {
            TimerPoll::Ready => {
                coop.made_progress();
                Poll::Ready(())
            }
            TimerPoll::Filed(when) => {
                this.after_filing(when);
                check_driven_elsewhere(&this.rt, "a timer");
                Poll::Pending
            }
            TimerPoll::Pending => {
                check_driven_elsewhere(&this.rt, "a timer");
                Poll::Pending
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.slot.key() {
            self.rt.time.remove_timer(key, self.deadline);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .field("elapsed", &self.slot.is_elapsed())
            .finish()
    }
}
