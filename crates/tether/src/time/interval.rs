//! `Interval`: ticks at a fixed period.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use crate::time::{sleep_until, Instant, Sleep};

/// Creates an [`Interval`] whose first tick completes at once, then every `period`.
///
/// # Panics
///
/// Panics if `period` is zero, or when called outside a tether runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::{interval, Instant};
///
/// #[tether::main(start_paused = true)]
/// async fn main() {
///     let start = Instant::now();
///     let mut every = interval(Duration::from_secs(10));
///     for _ in 0..3 {
///         every.tick().await; // at 0 s, 10 s, 20 s
///     }
///     assert_eq!(start.elapsed(), Duration::from_secs(20));
/// }
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Creates an [`Interval`] whose first tick completes at `start`, then every `period`.
///
/// # Panics
///
/// Panics if `period` is zero, or when called outside a tether runtime.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        period > Duration::ZERO,
        "tether::time::interval needs a period greater than zero"
    );
    Interval {
        delay: sleep_until(start),
        period,
        missed: MissedTickBehavior::Burst,
    }
}

/// What an [`Interval`] does when ticks were missed because the task was busy: when a tick
/// comes more than 5 ms after its scheduled instant (as tokio's rule). A tick less late than
/// that keeps the schedule whatever the behavior.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up, keeping the original schedule
    /// (the default, as in tokio).
    #[default]
    Burst,
    /// Start the schedule again from now: the next tick is one period after the late one.
    Delay,
    /// Skip the missed ticks: the next tick is the next multiple of the period on the original
    /// schedule.
    Skip,
}

/// How late a tick may come and still count as on schedule (as tokio's): timers fire on
/// millisecond ticks, so every tick is a little late.
const LATE: Duration = Duration::from_millis(5);

/// `i + d`, or far in the future when that overflows (a period of `Duration::MAX` ticks once).
fn after(i: Instant, d: Duration) -> Instant {
    i.checked_add(d).unwrap_or_else(Instant::far_future)
}

/// Ticks at a fixed period; see [`interval`].
#[derive(Debug)]
pub struct Interval {
    delay: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick; see [`tick`](Interval::tick).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(Future::poll(Pin::new(&mut self.delay), cx));
        let scheduled = self.delay.deadline();
        let now = Instant::now();
        // A tick is missed when it comes more than `LATE` after its schedule; one a little late
        // (timers fire on millisecond ticks) keeps the schedule, so that `Delay` does not drift.
        let next = if now <= after(scheduled, LATE) {
            after(scheduled, self.period)
        } else {
            match self.missed {
                MissedTickBehavior::Burst => after(scheduled, self.period),
                MissedTickBehavior::Delay => after(now, self.period),
                MissedTickBehavior::Skip => {
                    let behind = now.duration_since(scheduled).as_nanos();
                    let period = self.period.as_nanos();
                    let steps = behind / period + 1;
                    let skip =
                        Duration::from_nanos(u64::try_from(period * steps).unwrap_or(u64::MAX));
                    after(scheduled, skip)
                }
            }
        };
        Pin::new(&mut self.delay).reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now (`reset_at(now + period)`).
    pub fn reset(&mut self) {
        self.reset_at(after(Instant::now(), self.period));
    }

    /// Restarts the schedule now: the next tick completes at once, and the ones after it
    /// follow every period from now (`reset_at(now)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::time::{interval, sleep, Instant};
    ///
    /// #[tether::main(start_paused = true)]
    /// async fn main() {
    ///     let start = Instant::now();
    ///     let mut every = interval(Duration::from_millis(100));
    ///     every.tick().await; // at 0 ms
    ///     sleep(Duration::from_millis(50)).await;
    ///     every.reset_immediately();
    ///     every.tick().await; // at 50 ms, not 100 ms
    ///     every.tick().await; // at 150 ms
    ///     assert_eq!(start.elapsed(), Duration::from_millis(150));
    /// }
    /// ```
    pub fn reset_immediately(&mut self) {
        self.reset_at(Instant::now());
    }

    /// Restarts the schedule `after` from now: the next tick completes then, and the ones
    /// after it every period from there (`reset_at(now + after)`), however `after` compares to
    /// the period.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::time::{interval, sleep, Instant};
    ///
    /// #[tether::main(start_paused = true)]
    /// async fn main() {
    ///     let start = Instant::now();
    ///     let mut every = interval(Duration::from_millis(100));
    ///     every.tick().await; // at 0 ms
    ///     sleep(Duration::from_millis(50)).await;
    ///     every.reset_after(Duration::from_millis(30));
    ///     every.tick().await; // at 80 ms
    ///     every.tick().await; // at 180 ms
    ///     assert_eq!(start.elapsed(), Duration::from_millis(180));
    /// }
    /// ```
    pub fn reset_after(&mut self, after_now: Duration) {
        self.reset_at(after(Instant::now(), after_now));
    }

    /// Restarts the schedule at `deadline`: the next tick completes then (even if that is more
    /// than a period away), and the ones after it every period from there. Ticks missed before
    /// the call are forgotten. A `deadline` in the past makes the next tick complete at once,
    /// returning `deadline`, and the [`MissedTickBehavior`] then decides when the one after it
    /// comes, as for any late tick.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::time::{interval, Instant};
    ///
    /// #[tether::main(start_paused = true)]
    /// async fn main() {
    ///     let start = Instant::now();
    ///     let mut every = interval(Duration::from_millis(100));
    ///     every.tick().await; // at 0 ms
    ///     every.reset_at(start + Duration::from_secs(1));
    ///     assert_eq!(every.tick().await, start + Duration::from_secs(1));
    ///     assert_eq!(every.tick().await, start + Duration::from_millis(1100));
    /// }
    /// ```
    pub fn reset_at(&mut self, deadline: Instant) {
        Pin::new(&mut self.delay).reset(deadline);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The current missed-tick behavior.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets what happens when ticks are missed.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

/// The ticks, as [`tick`](Interval::tick) returns them: the scheduled instant of each; never
/// ends. Spends the cooperative budget as `tick` does. tokio offers this through tokio-stream's
/// `IntervalStream` wrapper; here `Interval` is the stream.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_lite::StreamExt;
/// use tether::time::{interval, Instant};
///
/// #[tether::main(start_paused = true)]
/// async fn main() {
///     let start = Instant::now();
///     let ticks: Vec<Instant> = interval(Duration::from_secs(1)).take(3).collect().await;
///     assert_eq!(ticks[2] - start, Duration::from_secs(2));
/// }
/// ```
impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}
