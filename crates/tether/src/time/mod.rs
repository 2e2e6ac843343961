//! Time: sleeping, deadlines, intervals, and a clock tests can pause.
//!
//! Timers live in hierarchical timing wheels (6 levels of 64 slots, 1 ms ticks), one per worker
//! of a multi-thread runtime plus one for other threads, one for a current-thread runtime:
//! filing, cancelling and firing a timer cost O(1), and a million concurrent sleeps are cheap. The
//! reactor sleeps exactly until the next timer is due, so an idle runtime does not wake up for
//! nothing.
//!
//! - [`sleep`], [`sleep_until`]: wait for a duration or an instant.
//! - [`timeout`], [`timeout_at`]: bound how long a future may take ([`Elapsed`] when it is late).
//! - [`interval`], [`interval_at`]: tick at a fixed period.
//! - [`Instant`]: the runtime's notion of now.
//!
//! # Testing with a paused clock
//!
//! [`pause`] (or `#[tether::test(start_paused = true)]`) freezes the runtime's clock. Time then
//! moves only through [`advance`], or by itself when every task is waiting: the runtime jumps the
//! clock straight to the next timer's deadline. A test of a one-hour timeout finishes at once and
//! always behaves the same.
//!
//! ```
//! use std::time::Duration;
//! use tether::time::{sleep, timeout, Instant};
//!
//! // In a test suite this is `#[tether::test(start_paused = true)] async fn ...`.
//! #[tether::main(start_paused = true)]
//! async fn main() {
//!     let start = Instant::now();
//!     let res = timeout(Duration::from_secs(3600), sleep(Duration::from_secs(7200))).await;
//!     assert!(res.is_err());
//!     assert_eq!(start.elapsed(), Duration::from_secs(3600));
//! }
//! ```

pub(crate) mod clock;
pub(crate) mod driver;
mod instant;
mod interval;
mod sleep;
mod timeout;
pub(crate) mod wheel;

use std::panic::Location;
use std::time::Duration;

pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};

use crate::runtime::context;

/// Pauses the current runtime's clock.
///
/// From then on [`Instant::now`] stands still; it moves with [`advance`], and when every task of
/// the runtime is waiting, the clock jumps to the next timer's deadline at once (auto-advance).
/// Meant for tests; prefer `#[tether::test(start_paused = true)]`.
///
/// # Panics
///
/// Panics outside a tether runtime, on a multi-thread runtime, and when the clock is paused
/// already, as tokio's does ("time is already frozen").
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::{self, Instant};
///
/// #[tether::main]
/// async fn main() {
///     time::pause();
///     let start = Instant::now();
///     time::advance(Duration::from_secs(5)).await;
///     assert_eq!(start.elapsed(), Duration::from_secs(5));
///     time::resume();
/// }
/// ```
#[track_caller]
pub fn pause() {
    let location = Location::caller();
    context::with_handle(|h| match h {
        Some(h) => {
            if matches!(h.shared.sched, crate::sched::Scheduler::MultiThread(_)) {
                panic!(
                    "tether::time::pause was called at {location} on a multi-thread runtime; a \
                     paused clock needs a current-thread runtime (Builder::new_current_thread, \
                     or #[tether::test(start_paused = true)])"
                );
            }
            if !h.shared.time.clock.pause() {
                panic!(
                    "tether::time::pause was called at {location} while the clock is paused \
                     already (tokio says: \"time is already frozen\"); pause once (a runtime \
                     built with start_paused, or #[tether::test(start_paused = true)], starts \
                     paused), and resume before pausing again"
                );
            }
        }
        None => crate::task::no_runtime_panic("tether::time::pause", location),
    })
}

/// Resumes a paused clock: time flows again from where it stood (so [`Instant::now`] keeps
/// what [`advance`] added).
///
/// # Panics
///
/// Panics outside a tether runtime, and when the clock is not paused (never paused, or resumed
/// already), as tokio's does ("time is not frozen"): pair each `resume` with a [`pause`] (or
/// `#[tether::test(start_paused = true)]`), or leave a running clock alone.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::{self, Instant};
///
/// #[tether::main(start_paused = true)]
/// async fn main() {
///     let start = Instant::now();
///     time::advance(Duration::from_secs(60)).await;
///     time::resume(); // real time flows again, from one minute later
///     assert!(start.elapsed() >= Duration::from_secs(60));
/// }
/// ```
#[track_caller]
pub fn resume() {
    let location = Location::caller();
    let resumed = context::with_handle(|h| match h {
        Some(h) => h.shared.time.clock.resume(),
        None => crate::task::no_runtime_panic("tether::time::resume", location),
    });
    if !resumed {
        panic!(
            "tether::time::resume was called at {location} while the clock is not paused (tokio \
             says: \"time is not frozen\"); resume only a clock stopped by \
             tether::time::pause() or #[tether::test(start_paused = true)]"
        );
    }
}

/// Moves a paused clock forward by `duration`, fires the timers that became due, and yields so
/// the tasks they woke run before this one resumes.
///
/// # Panics
///
/// Panics outside a tether runtime, or when the clock is not paused (call [`pause`] first, or use
/// `#[tether::test(start_paused = true)]`).
pub async fn advance(duration: Duration) {
    let rt = context::with_handle(|h| match h {
        Some(h) => h.shared.clone(),
        None => crate::task::no_runtime_panic("tether::time::advance", Location::caller()),
    });
    if !rt.time.clock.advance(duration) {
        panic!(
            "tether::time::advance was called while the clock is running; call \
             tether::time::pause() first, or use #[tether::test(start_paused = true)]"
        );
    }
    let mut wakers = Vec::new();
    let fired = rt.time.process(&mut wakers);
    rt.metrics.add_timers_fired(fired);
    wakers.into_iter().for_each(std::task::Waker::wake);
    crate::task::yield_now().await
}
