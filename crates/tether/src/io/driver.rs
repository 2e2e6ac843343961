//! The reactor: one `mio::Poll`, the registrations it serves, and the way to wake it.
//!
//! The [`Driver`] (the `Poll` and its event buffer) belongs to the scheduler's core and is turned
//! only by the thread driving it. The [`IoHandle`] is shared: any thread registers and
//! deregisters resources through it, and wakes the driver through its [`Unparker`].
//!
//! Rules:
//! 1. A registration's token is its key in `registrations`. The slab owns one `Arc` of each
//!    `ScheduledIo` until deregistration, so dispatch finds live state by token.
//! 2. Dispatch holds the `registrations` lock for one batch of events, sets readiness, collects the
//!    wakers, and wakes them only after releasing it (waking may re-enter the reactor).
//! 3. An event for a slot that was freed and reused within the batch only causes a spurious
//!    readiness, which resources tolerate: they retry, get `WouldBlock`, and wait again.
//! 4. After `shutdown`, registering fails and every existing registration reports shutdown.
//! 5. A turn that may not wait (`timeout` zero) skips `epoll_wait` when nothing is registered:
//!    the only possible event is the driver's own waker, which a non-blocking turn ignores (it
//!    stays pending for the next wait). A CPU-bound runtime then makes no system call between
//!    its tasks. `registered` is updated under the `registrations` lock, so it is exact whenever
//!    a registration could have produced an event.
//! 6. A turn wakes every waker it collected even if some of them panic; it then resumes the
//!    first panic, with the driver consistent (its event buffer is refilled by the next turn,
//!    its waker list is empty), so the caller may catch it and turn the driver again.

use std::io;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::task::Waker;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;

use crate::io::scheduled_io::{ready_from_event, ScheduledIo};
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::runtime::Shared as RtShared;

/// The token of the driver's own waker; never a registration key.
const WAKE_TOKEN: Token = Token(usize::MAX);

/// Wakes the driver when it sleeps in `epoll_wait`.
pub(crate) struct Unparker {
    /// True while the driver is (about to be) blocked in the reactor; see the scheduler's rule 3.
    pub(crate) sleeping: AtomicBool,
    waker: mio::Waker,
}

impl Unparker {
    /// Wakes the driver if it sleeps. Costs one atomic swap when it does not.
    pub(crate) fn unpark(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            self.force_unpark();
        }
    }

    /// Wakes the driver whether or not it is marked as sleeping (for timer changes that alter
    /// how long it should sleep).
    pub(crate) fn force_unpark(&self) {
        if let Err(e) = self.waker.wake() {
            // An eventfd write fails only when the descriptor is gone; nothing is waiting then.
            debug_assert!(false, "tether: failed to wake the reactor: {e}");
        }
    }
}

struct Registrations {
    slab: Slab<Arc<ScheduledIo>>,
    shutdown: bool,
}

/// The shared half of the reactor (rules 1, 4).
pub(crate) struct IoHandle {
    registry: Registry,
    /// Holding the lock means the set of registrations cannot change (rule 2).
    registrations: Mutex<Registrations>,
    /// How many sources are registered (rule 5).
    registered: AtomicUsize,
    pub(crate) unparker: Arc<Unparker>,
}

/// The reactor's owned half: the poll instance and its event buffer.
pub(crate) struct Driver {
    poll: Poll,
    events: Events,
    wakers: Vec<Waker>,
}

/// Creates a reactor.
pub(crate) fn new() -> io::Result<(IoHandle, Driver)> {
    let poll = Poll::new()?;
    let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
    let registry = poll.registry().try_clone()?;
    let handle = IoHandle {
        registry,
        registrations: Mutex::new(Registrations {
            slab: Slab::new(),
            shutdown: false,
        }),
        registered: AtomicUsize::new(0),
        unparker: Arc::new(Unparker {
            sleeping: AtomicBool::new(false),
            waker,
        }),
    };
    let driver = Driver {
        poll,
        events: Events::with_capacity(1024),
        wakers: Vec::with_capacity(64),
    };
    Ok((handle, driver))
}

/// The error every operation on a resource of a shut-down runtime returns.
pub(crate) fn shutdown_error() -> io::Error {
    io::Error::other(
        "the tether runtime this I/O resource was registered with has shut down; create \
         sockets inside the runtime that uses them and keep that runtime alive while they are used",
    )
}

impl IoHandle {
    /// Registers `source` for edge-triggered readiness in `interest`; returns its state and key.
    pub(crate) fn register(
        &self,
        source: &mut impl Source,
        interest: Interest,
    ) -> io::Result<(Arc<ScheduledIo>, usize)> {
        let sched = Arc::new(ScheduledIo::new());
        let mut regs = lock(&self.registrations);
        if regs.shutdown {
            return Err(shutdown_error());
        }
        let entry = regs.slab.vacant_entry();
        let key = entry.key();
        self.registry.register(source, Token(key), interest)?;
        entry.insert(sched.clone());
        self.registered.store(regs.slab.len(), Ordering::Release);
        Ok((sched, key))
    }

    /// Deregisters `source` and forgets the registration `key`.
    pub(crate) fn deregister(&self, source: &mut impl Source, key: usize) {
        // Deregistering fails only if the descriptor was never registered or is already closed;
        // either way nothing more will arrive for it.
        let _ = self.registry.deregister(source);
        let removed = {
            let mut regs = lock(&self.registrations);
            let removed = if regs.slab.contains(key) {
                Some(regs.slab.remove(key))
            } else {
                None
            };
            self.registered.store(regs.slab.len(), Ordering::Release);
            removed
        };
        drop(removed);
    }

    /// Marks every registration shut down and wakes their waiters (rule 4).
    pub(crate) fn shutdown(&self) {
        let mut wakers = Vec::new();
        {
            let mut regs = lock(&self.registrations);
            regs.shutdown = true;
            for (_, io) in regs.slab.iter() {
                io.shutdown(&mut wakers);
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Applies a batch of events (rules 2, 3); returns how many were for registrations.
    fn dispatch(&self, events: &Events, wakers: &mut Vec<Waker>) -> u64 {
        let mut n = 0;
        let regs = lock(&self.registrations);
        for ev in events.iter() {
            let token = ev.token();
            if token == WAKE_TOKEN {
                continue;
            }
            if let Some(io) = regs.slab.get(token.0) {
                let ready = ready_from_event(ev);
                io.set_readiness(ready);
                io.take_wakers(ready, wakers);
                n += 1;
            }
        }
        n
    }
}

impl Driver {
    /// Waits up to `timeout` (forever if `None`) for I/O events, then fires due timers, and
    /// wakes every task that became ready.
    pub(crate) fn turn(&mut self, rt: &RtShared, timeout: Option<Duration>) {
        if timeout == Some(Duration::ZERO) && rt.io.registered.load(Ordering::Acquire) == 0 {
            // Rule 5: nothing could be ready.
            self.events.clear();
        } else {
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    panic!("tether: the reactor failed to wait for events (epoll_wait): {e}")
                }
            }
        }
        let n = rt.io.dispatch(&self.events, &mut self.wakers);
        rt.metrics.add_io_events(n);
        let fired = rt.time.process(&mut self.wakers);
        rt.metrics.add_timers_fired(fired);
        // Rule 6: a waker that panics does not cost the others their wake-up.
        let mut panicked = None;
        for w in self.wakers.drain(..) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| w.wake())) {
                panicked.get_or_insert(payload);
            }
        }
        if let Some(payload) = panicked {
            resume_unwind(payload);
        }
    }
}
