//! Parking a worker thread: on a condition variable, or inside the reactor.
//!
//! # Protocol
//!
//! `state` is one of `EMPTY`, `PARKED_CONDVAR`, `PARKED_DRIVER`, `NOTIFIED`.
//!
//! 1. `unpark` always leaves `NOTIFIED` behind (a swap), so a notification that arrives before
//!    the worker parks is not lost: `park` consumes it and returns at once.
//! 2. A worker parks on the condvar only after moving `EMPTY -> PARKED_CONDVAR` while holding
//!    `mutex`; `unpark` that finds `PARKED_CONDVAR` takes `mutex` before notifying, so the
//!    notification cannot fall between the worker's state change and its wait.
//! 3. A worker parks in the reactor only after moving `EMPTY -> PARKED_DRIVER`; `unpark` that
//!    finds `PARKED_DRIVER` wakes the reactor through its eventfd.
//! 4. Spurious wake-ups are allowed: the caller re-checks for work after `park` returns.
//! 5. `park` leaves the state `EMPTY` when it returns or unwinds (a waker woken by the reactor
//!    may panic); a notification that arrived meanwhile is consumed, as by a normal wake-up.
//! 6. A notification is only ever consumed by a read-modify-write (`compare_exchange` or
//!    `swap`), which reads the newest value of `state`. So when `park` returns after one or
//!    more `unpark`s, it has synchronized with the last of them: the worker sees everything the
//!    unparker did before it (the work it pushed, the shutdown it began). A plain store of
//!    `EMPTY` could overwrite a second `NOTIFIED` unread, and the worker could miss a shutdown
//!    and park again for good (found by the loom model of `idle.rs`).

use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Condvar, Mutex};

const EMPTY: usize = 0;
const PARKED_CONDVAR: usize = 1;
const PARKED_DRIVER: usize = 2;
const NOTIFIED: usize = 3;

/// One worker's parking spot (see the module protocol).
pub(crate) struct Parker {
    state: AtomicUsize,
    /// Held while moving into `PARKED_CONDVAR` and by `unpark` before notifying (rule 2).
    mutex: Mutex<()>,
    condvar: Condvar,
}

/// How a parked worker waits, chosen by `park`'s caller.
pub(crate) trait ParkDriver {
    /// Waits in the reactor until an event, a timer or an unpark.
    fn park_in_driver(&mut self);
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            state: AtomicUsize::new(EMPTY),
            mutex: Mutex::new(()),
            condvar: Condvar::new(),
        }
    }

    /// Parks until unparked (rule 1-4). With `driver`, waits inside the reactor (rule 3).
    pub(crate) fn park(&self, driver: Option<&mut dyn ParkDriver>) {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
        match driver {
            Some(driver) => {
                if self
                    .state
                    .compare_exchange(EMPTY, PARKED_DRIVER, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    // Notified in between (rule 1); consumed by a swap (rule 6).
                    self.state.swap(EMPTY, Ordering::SeqCst);
                    return;
                }
                // Back to `EMPTY` when the reactor returns, or when a panic unwinds out of it
                // (rule 5), consuming a notification by a swap (rule 6).
                struct Reset<'a>(&'a AtomicUsize);
                impl Drop for Reset<'_> {
                    fn drop(&mut self) {
                        self.0.swap(EMPTY, Ordering::SeqCst);
                    }
                }
                let _reset = Reset(&self.state);
                driver.park_in_driver();
            }
            None => {
                let mut guard = lock(&self.mutex);
                if self
                    .state
                    .compare_exchange(EMPTY, PARKED_CONDVAR, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    // Notified in between (rule 1); consumed by a swap (rule 6).
                    self.state.swap(EMPTY, Ordering::SeqCst);
                    return;
                }
                loop {
                    guard = self.condvar.wait(guard).unwrap_or_else(|e| e.into_inner());
                    if self
                        .state
                        .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                    {
                        return;
                    }
                }
            }
        }
    }

    /// Wakes the worker, or makes its next `park` return at once (rule 1). `wake_driver` wakes
    /// the reactor (rule 3).
    pub(crate) fn unpark(&self, wake_driver: impl FnOnce()) {
        match self.state.swap(NOTIFIED, Ordering::SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR => {
                drop(lock(&self.mutex));
                self.condvar.notify_one();
            }
            PARKED_DRIVER => wake_driver(),
            _ => unreachable!("tether: invalid parker state"),
        }
    }
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A notification sent while (or before) the worker parks on the condvar is never lost.
    #[test]
    fn loom_unpark_is_never_lost_on_condvar() {
        loom::model(|| {
            let p = Arc::new(Parker::new());
            let p2 = p.clone();
            let t = thread::spawn(move || p2.unpark(|| unreachable!()));
            p.park(None);
            t.join().unwrap();
        });
    }

    struct FakeDriver(Arc<loom::sync::atomic::AtomicBool>);
    impl ParkDriver for FakeDriver {
        fn park_in_driver(&mut self) {
            // The reactor wakes when its eventfd was written; model it as a spin on a flag
            // with loom's yield.
            while !self.0.load(Ordering::SeqCst) {
                thread::yield_now();
            }
        }
    }

    /// A notification to a worker parked in the reactor wakes the reactor.
    #[test]
    fn loom_unpark_wakes_the_driver() {
        loom::model(|| {
            let p = Arc::new(Parker::new());
            let woken = Arc::new(loom::sync::atomic::AtomicBool::new(false));
            let (p2, w2) = (p.clone(), woken.clone());
            let t = thread::spawn(move || p2.unpark(|| w2.store(true, Ordering::SeqCst)));
            let mut d = FakeDriver(woken);
            p.park(Some(&mut d));
            t.join().unwrap();
        });
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn unpark_before_park_returns_at_once() {
        let p = Parker::new();
        p.unpark(|| unreachable!());
        p.park(None);
    }

    #[test]
    fn unpark_from_another_thread_wakes_condvar_parker() {
        let p = Arc::new(Parker::new());
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(10));
            p2.unpark(|| unreachable!());
        });
        p.park(None);
        t.join().unwrap();
    }
}
