//! The per-runtime half of signal handling: a duplicate of the global socket's read end,
//! registered with one runtime's reactor, whose waker delivers signals to the listeners.
//!
//! # Protocol
//!
//! 1. A runtime has at most one [`RuntimeDriver`], created by its first listener and shared by
//!    all its listeners through `Arc`s; the global table keeps only a `Weak`, so the driver (and
//!    its descriptor and registration) goes away with the runtime's last listener.
//! 2. The driver's registration is read-interested and edge-triggered. Every runtime's
//!    registration sees every byte the handler writes (they watch the same socket), so any
//!    runtime that is driven notices a signal.
//! 3. [`RuntimeDriver::pump`] drains the socket and delivers (registry rule 3) until the socket
//!    is empty and its readiness is cleared, then leaves its own waker ([`Pump`]) with the
//!    reactor. The reactor calls that waker on the thread that drives it, after releasing its
//!    locks (reactor rule 2), and the waker pumps again: delivery needs no task.
//! 4. Listeners pump too, each time they are polled: that arms the waker the first time and
//!    delivers whatever arrived before.
//! 5. When the runtime shuts down, the reactor wakes the pump, which finds the registration shut
//!    down, sets `closed` and wakes every listener; listeners of this driver then end.

use std::io::{self, Read};
// std's primitives, not the loom shim's: the global table holds drivers by `Weak`, which loom
// lacks, and `Pump` is a `Wake`, which needs std's `Arc`.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use mio::Interest;

use super::registry::Globals;
use crate::io::poll_evented::PollEvented;
use crate::io::scheduled_io::Direction;
use crate::loom::lock;
use crate::runtime::Handle;

/// One runtime's watch on the signal socket (see the module protocol).
pub(super) struct RuntimeDriver {
    /// The runtime whose reactor watches `io`.
    pub(super) handle: Handle,
    globals: &'static Globals,
    /// A duplicate of the global read end (rule 2).
    io: PollEvented<mio::net::UnixStream>,
    /// Set once, when the runtime shut down (rule 5).
    closed: AtomicBool,
    /// The [`Pump`] waker left with the reactor (rule 3).
    waker: Waker,
}

/// The waker the reactor calls when the socket becomes readable (rule 3). It holds the driver
/// weakly: the reactor keeps the waker, and must not keep the driver alive.
struct Pump(Weak<RuntimeDriver>);

impl Wake for Pump {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(driver) = self.0.upgrade() {
            driver.pump();
        }
    }
}

impl RuntimeDriver {
    /// The driver of the runtime `handle` (which must be the current runtime), created if it has
    /// none (rule 1).
    pub(super) fn of(globals: &'static Globals, handle: &Handle) -> io::Result<Arc<RuntimeDriver>> {
        let driver = {
            let mut drivers = lock(&globals.drivers);
            drivers.retain(|d| d.strong_count() > 0);
            if let Some(d) = drivers
                .iter()
                .filter_map(Weak::upgrade)
                .find(|d| d.handle.ptr_eq(handle))
            {
                return Ok(d);
            }
            // A duplicate (close-on-exec) shares the file description, and so the data and the
            // non-blocking mode, with the original read end.
            let dup = globals.receiver.try_clone()?;
            let io = PollEvented::with_interest(
                mio::net::UnixStream::from_std(dup),
                Interest::READABLE,
                "tether::signal",
            )?;
            let driver = Arc::new_cyclic(|weak| RuntimeDriver {
                handle: handle.clone(),
                globals,
                io,
                closed: AtomicBool::new(false),
                waker: Waker::from(Arc::new(Pump(weak.clone()))),
            });
            drivers.push(Arc::downgrade(&driver));
            driver
        };
        driver.pump();
        Ok(driver)
    }

    /// Delivers what arrived and re-arms the reactor's wake-up (rules 3, 5).
    pub(super) fn pump(&self) {
        let mut cx = Context::from_waker(&self.waker);
        let mut retried = false;
        loop {
            match self.io.poll_ready(&mut cx, Direction::Read) {
                Poll::Pending => return,
                Poll::Ready(Err(_)) => {
                    // The runtime shut down (rule 5).
                    if !self.closed.swap(true, Ordering::SeqCst) {
                        self.globals.wake_all();
                    }
                    return;
                }
                Poll::Ready(Ok(_)) => {
                    let res = self.io.try_io(Direction::Read, |s| {
                        Err::<(), _>(self.globals.deliver(|buf| (&*s).read(buf)))
                    });
                    match res {
                        // Drained and readiness cleared (unless a newer event came): go on until
                        // the reactor holds our waker.
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        // Shut down (the next `poll_ready` reports it), or an unexpected error on
                        // a socket nobody closes: look once more, then stop rather than spin (the
                        // next listener poll retries).
                        _ if !retried => retried = true,
                        _ => return,
                    }
                }
            }
        }
    }

    /// Whether the runtime shut down (rule 5).
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}
