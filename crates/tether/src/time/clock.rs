//! The runtime's clock: real time, or paused time that only moves when told to.
//!
//! Rules:
//! 1. While `ever_paused` is false, `now()` is `std::time::Instant::now()`, with no lock.
//! 2. Otherwise `now() = base + (time since unfrozen)` when running, or `base` when paused;
//!    `advance` moves `base` forward only, so the clock never goes backwards.

use std::time::{Duration, Instant as StdInstant};

use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Mutex;

struct Inner {
    base: StdInstant,
    /// When the clock last resumed; `None` while paused.
    unfrozen: Option<StdInstant>,
}

/// See the module docs.
pub(crate) struct Clock {
    ever_paused: AtomicBool,
    paused: AtomicBool,
    inner: Mutex<Inner>,
}

impl Clock {
    pub(crate) fn new(start_paused: bool) -> Clock {
        let now = StdInstant::now();
        let clock = Clock {
            ever_paused: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                base: now,
                unfrozen: Some(now),
            }),
        };
        if start_paused {
            let paused = clock.pause();
            debug_assert!(paused, "a new clock runs");
        }
        clock
    }

    /// The current time of this clock (rules 1, 2).
    pub(crate) fn now(&self) -> StdInstant {
        if !self.ever_paused.load(Ordering::Acquire) {
            return StdInstant::now();
        }
        let inner = lock(&self.inner);
        match inner.unfrozen {
            Some(since) => inner.base + since.elapsed(),
            None => inner.base,
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Stops the clock where it stands. Returns false, changing nothing, if it is paused
    /// already.
    #[must_use = "a clock paused twice is a misuse to report"]
    pub(crate) fn pause(&self) -> bool {
        let now = self.now();
        let mut inner = lock(&self.inner);
        if inner.unfrozen.is_none() {
            return false;
        }
        inner.base = now;
        inner.unfrozen = None;
        self.ever_paused.store(true, Ordering::Release);
        self.paused.store(true, Ordering::Release);
        true
    }

    /// Lets a paused clock run again from where it stands. Returns false, changing nothing, if
    /// the clock is not paused.
    #[must_use = "a clock that was not paused is a misuse to report"]
    pub(crate) fn resume(&self) -> bool {
        let mut inner = lock(&self.inner);
        if inner.unfrozen.is_some() {
            return false;
        }
        inner.unfrozen = Some(StdInstant::now());
        self.paused.store(false, Ordering::Release);
        true
    }

    /// Moves a paused clock forward by `d`. Returns false if the clock is not paused.
    pub(crate) fn advance(&self, d: Duration) -> bool {
        let mut inner = lock(&self.inner);
        if inner.unfrozen.is_some() {
            return false;
        }
        inner.base += d;
        true
    }

    /// Moves a paused clock forward to `t` if `t` is later (rule 2).
    pub(crate) fn advance_to(&self, t: StdInstant) {
        let mut inner = lock(&self.inner);
        if inner.unfrozen.is_none() && t > inner.base {
            inner.base = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_clock_only_moves_when_advanced() {
        let c = Clock::new(true);
        let t0 = c.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(c.now(), t0);
        assert!(c.advance(Duration::from_secs(5)));
        assert_eq!(c.now(), t0 + Duration::from_secs(5));
        c.advance_to(t0); // earlier: ignored
        assert_eq!(c.now(), t0 + Duration::from_secs(5));
    }

    #[test]
    fn resumed_clock_keeps_the_advanced_offset() {
        let c = Clock::new(true);
        let t0 = c.now();
        c.advance(Duration::from_secs(60));
        assert!(c.resume());
        assert!(c.now() >= t0 + Duration::from_secs(60));
        assert!(
            !c.advance(Duration::from_secs(1)),
            "a running clock cannot be advanced"
        );
        assert!(!c.resume(), "a running clock cannot be resumed");
        assert!(c.pause());
        assert!(!c.pause(), "a paused clock cannot be paused again");
    }
}
