//! `Instant`: a point in time on the runtime's clock.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

/// A point in time, as measured by the current runtime's clock.
///
/// It is `std::time::Instant` underneath, except that [`Instant::now`] follows the runtime's
/// clock: when the clock is paused ([`pause`](crate::time::pause)), `now()` stands still and moves
/// only with [`advance`](crate::time::advance) or when the runtime jumps to the next timer.
/// Outside a runtime, `now()` is the real time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::Instant;
///
/// #[tether::main(start_paused = true)]
/// async fn main() {
///     let start = Instant::now();
///     tether::time::sleep(Duration::from_secs(3600)).await; // finishes at once: paused clock
///     assert!(start.elapsed() >= Duration::from_secs(3600));
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    std: std::time::Instant,
}

impl Instant {
    /// The current time on the runtime's clock (the real time outside a runtime).
    pub fn now() -> Instant {
        let std = crate::runtime::context::with_handle(|h| match h {
            Some(h) => h.shared.time.clock.now(),
            None => std::time::Instant::now(),
        });
        Instant { std }
    }

    /// Wraps a `std::time::Instant`.
    pub fn from_std(std: std::time::Instant) -> Instant {
        Instant { std }
    }

    /// The `std::time::Instant` underneath.
    pub fn into_std(self) -> std::time::Instant {
        self.std
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.std.saturating_duration_since(earlier.std)
    }

    /// Time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.std.checked_duration_since(earlier.std)
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.std.saturating_duration_since(earlier.std)
    }

    /// Time elapsed since `self` on the runtime's clock.
    pub fn elapsed(&self) -> Duration {
        Instant::now().duration_since(*self)
    }

    /// `self + d`, or `None` on overflow.
    pub fn checked_add(&self, d: Duration) -> Option<Instant> {
        self.std.checked_add(d).map(Instant::from_std)
    }

    /// `self - d`, or `None` on overflow.
    pub fn checked_sub(&self, d: Duration) -> Option<Instant> {
        self.std.checked_sub(d).map(Instant::from_std)
    }

    /// An instant about 30 years from now: "never", for deadlines that must not overflow.
    pub(crate) fn far_future() -> Instant {
        Instant::now() + Duration::from_secs(86_400 * 365 * 30)
    }
}

impl From<std::time::Instant> for Instant {
    fn from(std: std::time::Instant) -> Instant {
        Instant::from_std(std)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(t: Instant) -> std::time::Instant {
        t.std
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, d: Duration) -> Instant {
        Instant::from_std(self.std + d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        self.std += d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    fn sub(self, d: Duration) -> Instant {
        Instant::from_std(self.std - d)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        self.std -= d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    fn sub(self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.std.fmt(f)
    }
}
