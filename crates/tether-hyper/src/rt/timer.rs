//! [`TetherTimer`]: hyper's `Timer` over `tether::time`, so hyper's timeouts (HTTP/1 header
//! read timeout, HTTP/2 keep-alive pings) run on tether's timing wheel and follow its clock: a
//! test on a paused clock (`#[tether::test(start_paused = true)]`) sees hyper's timeouts fire in
//! virtual time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// hyper's [`Timer`](hyper::rt::Timer) on tether's timers and clock.
///
/// `now` reads tether's clock, so deadlines hyper computes (`now() + timeout`) are in the same
/// time as the sleeps, also on a paused clock; `reset` moves a sleep's timer in place instead
/// of allocating a new one. Sleeps must be created inside a tether runtime (hyper creates them
/// while a connection is polled, which is inside one).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether_hyper::TetherTimer;
///
/// let mut builder = hyper::server::conn::http1::Builder::new();
/// builder.timer(TetherTimer).header_read_timeout(Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TetherTimer;

impl hyper::rt::Timer for TetherTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TetherSleep {
            inner: tether::time::sleep(duration),
        })
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TetherSleep {
            inner: tether::time::sleep_until(tether::time::Instant::from_std(deadline)),
        })
    }

    fn now(&self) -> Instant {
        tether::time::Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        let deadline = tether::time::Instant::from_std(new_deadline);
        match sleep.as_mut().downcast_mut_pin::<TetherSleep>() {
            Some(ours) => Pin::new(&mut ours.get_mut().inner).reset(deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A tether sleep as hyper's `Sleep` (tether's `Sleep` is `Unpin`).
struct TetherSleep {
    inner: tether::time::Sleep,
}

impl Future for TetherSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().inner).poll(cx)
    }
}

impl hyper::rt::Sleep for TetherSleep {}
