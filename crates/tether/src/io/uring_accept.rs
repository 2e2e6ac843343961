//! Listeners on the io_uring driver (Linux): one multishot accept serves every connection.
//!
//! On the readiness path a connection costs a wake-up and an `accept4` (and, on epoll, an
//! `epoll_ctl` to register the new socket). Here a listener's first accept arms one
//! `IORING_OP_ACCEPT` with `IORING_ACCEPT_MULTISHOT`: the kernel accepts every connection as it
//! arrives (non-blocking, close-on-exec) and posts its descriptor as a completion, and `accept`
//! takes descriptors from the listener's queue. The accepted stream registers without a poll
//! (`PollEvented::new_lazy`), so on io_uring accepting costs only the `getpeername` that gives
//! `accept` its peer address (multishot accept has nowhere to write one).
//!
//! Rules:
//! 1. A listener switches to this mode at its first accept on an io_uring runtime whose
//!    streams use completions ([`activate`]); it never switches back. Until then, and on epoll,
//!    in a simulation, or on a kernel without multishot operations, the readiness path serves
//!    it.
//! 2. Completions queue descriptors (or errors) in arrival order and set the registration's
//!    read readiness, which `accept` waits for, so any number of tasks may accept at once. An
//!    error (`EMFILE`, ...) ends the multishot accept: it is returned by an `accept` in its
//!    turn, and the next `accept` that finds the queue empty arms a new one (a server that
//!    backs off on `EMFILE` does not spin, as on the readiness path).
//! 3. Backpressure: at [`ACCEPT_HIGH`] descriptors queued the accept is cancelled; connections
//!    wait in the kernel's backlog until the queue is empty again.
//! 4. Dropping the listener cancels its accept and closes the descriptors queued, and any that
//!    a completion brings afterwards. `into_std` cancels the accept the same way before it
//!    hands the descriptor over, so it refuses a listener with connections queued (they would
//!    be lost); with none queued it succeeds, and a connection the kernel accepts in the
//!    instant before the cancellation takes effect is closed (its client sees a reset).
//!    `into_raw_fd` cannot refuse: it drops the mode, queue included.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::task::Waker;

use io_uring::{opcode, types};

use crate::io::scheduled_io::{ScheduledIo, READABLE};
use crate::io::uring::Ring;
use crate::io::uring_op::{self, cancel_entry, Completion};
use crate::loom::sync::Arc;
use crate::runtime::RuntimeShared;

/// Descriptors a listener queues before its accept is cancelled (rule 3).
pub(crate) const ACCEPT_HIGH: usize = 128;

/// The operation kind of the accept.
const ACCEPT: u8 = 0;

/// Where a listener's multishot accept is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AcceptOp {
    /// None armed.
    Idle,
    /// Armed, with this `user_data`.
    Armed(u64),
    /// Cancelled (the queue is full, or the listener is gone) and not yet ended.
    Cancelling,
}

struct State {
    accept: AcceptOp,
    /// Accepted descriptors and errors, in arrival order.
    queue: VecDeque<io::Result<OwnedFd>>,
    /// The kernel refused multishot accept (`EINVAL`): the readiness path serves from now on.
    refused: bool,
    /// The listener is gone (rule 4).
    dropped: bool,
}

/// A listener in completion mode (the module's rules); shared by the listener and the
/// operation table while the accept is armed.
pub(crate) struct AcceptRing {
    /// Weak, as a stream's (`uring_stream.rs`): the operation table holds this value.
    ring: std::sync::Weak<Ring>,
    scheduling: crate::io::driver::Scheduling,
    sched: Arc<ScheduledIo>,
    fd: RawFd,
    st: Mutex<State>,
}

/// Listeners switched to completion mode, process-wide (for tests).
static ACTIVATED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many listeners have switched to multishot accept in this process (for tests:
/// `tether::__private::io_uring_listeners_activated`).
pub fn io_uring_listeners_activated() -> u64 {
    ACTIVATED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The completion mode of a listener on `rt`'s driver, if it has one (rule 1).
pub(crate) fn activate(
    rt: &Arc<RuntimeShared>,
    sched: &Arc<ScheduledIo>,
    fd: Option<RawFd>,
) -> Option<std::sync::Arc<AcceptRing>> {
    let fd = fd?;
    let (ring, _) = rt.io.uring_for_ops()?;
    if !crate::io::uring::streams_usable() {
        return None;
    }
    let scheduling = rt.io.scheduling()?;
    ACTIVATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Some(std::sync::Arc::new(AcceptRing {
        ring: std::sync::Arc::downgrade(ring),
        scheduling,
        sched: sched.clone(),
        fd,
        st: Mutex::new(State {
            accept: AcceptOp::Idle,
            queue: VecDeque::new(),
            refused: false,
            dropped: false,
        }),
    }))
}

fn lock(st: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    st.lock().unwrap_or_else(|e| e.into_inner())
}

/// What [`AcceptRing::try_take`] found.
pub(crate) enum Taken {
    /// A connection's descriptor, or the error an accept ended with.
    Ready(io::Result<OwnedFd>),
    /// Nothing yet; the accept is armed and its completion will set the read readiness.
    Wait,
    /// The kernel refused multishot accept: take the readiness path (rule 1).
    Readiness,
}

impl AcceptRing {
    fn ring(&self) -> io::Result<std::sync::Arc<Ring>> {
        self.ring
            .upgrade()
            .ok_or_else(crate::io::driver::shutdown_error)
    }

    /// The next connection queued, or `Wait` after making sure the accept is armed (rule 2).
    pub(crate) fn try_take(self: &std::sync::Arc<Self>) -> Taken {
        let ring = match self.ring() {
            Ok(r) => r,
            Err(e) => return Taken::Ready(Err(e)),
        };
        let mut st = lock(&self.st);
        if let Some(r) = st.queue.pop_front() {
            return Taken::Ready(r);
        }
        if st.refused {
            return Taken::Readiness;
        }
        if st.accept == AcceptOp::Idle {
            if let Err(e) = self.arm(&ring, &mut st) {
                return Taken::Ready(Err(e));
            }
        }
        Taken::Wait
    }

    /// [`try_take`](Self::try_take) for `PollEvented::poll_completed`: `Some(Some(result))`,
    /// `Some(None)` for the readiness path, `None` to wait.
    #[allow(clippy::option_option)]
    pub(crate) fn step(self: &std::sync::Arc<Self>) -> Option<Option<io::Result<OwnedFd>>> {
        match self.try_take() {
            Taken::Ready(r) => Some(Some(r)),
            Taken::Readiness => Some(None),
            Taken::Wait => None,
        }
    }

    fn arm(self: &std::sync::Arc<Self>, ring: &Ring, st: &mut State) -> io::Result<()> {
        let handler: std::sync::Arc<dyn Completion> = self.clone();
        let data = uring_op::lock(&ring.ops).insert_handled(handler, ACCEPT)?;
        let entry = opcode::AcceptMulti::new(types::Fd(self.fd))
            .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            .build()
            .user_data(data);
        if let Err(e) = ring.push(&entry) {
            drop(uring_op::lock(&ring.ops).unsubmitted(data));
            return Err(e);
        }
        if !crate::io::driver::defers_submission(self.scheduling) && ring.submit().is_err() {
            ring.wake();
        }
        st.accept = AcceptOp::Armed(data);
        Ok(())
    }

    /// Whether the listener can leave its runtime (`into_std`, rule 4): not while connections
    /// the multishot accept took wait in its queue (they would be lost).
    pub(crate) fn check_detachable(&self) -> io::Result<()> {
        if lock(&self.st).queue.is_empty() {
            return Ok(());
        }
        Err(io::Error::other(
            "tether: this listener's io_uring multishot accept has taken connections that were \
             not accepted yet, and they would be lost if it became a std listener now; accept \
             them first (call into_std when accept would wait), or run the runtime on epoll \
             (Builder::io_driver)",
        ))
    }

    /// The listener's drop or `into_std` (rule 4): cancels the accept and closes what is
    /// queued. A second call finds nothing left to do.
    pub(crate) fn release(&self) {
        let mut st = lock(&self.st);
        st.dropped = true;
        let queued = std::mem::take(&mut st.queue);
        if let (AcceptOp::Armed(data), Ok(ring)) = (st.accept, self.ring()) {
            st.accept = AcceptOp::Cancelling;
            drop(st);
            if ring.push(&cancel_entry(data)).is_ok() && ring.submit().is_err() {
                ring.wake();
            }
        } else {
            drop(st);
        }
        drop(queued);
    }
}

impl Completion for AcceptRing {
    fn complete(
        self: std::sync::Arc<Self>,
        ring: &std::sync::Arc<Ring>,
        _kind: u8,
        res: i32,
        _flags: u32,
        last: bool,
        wakers: &mut Vec<Waker>,
    ) {
        let mut st = lock(&self.st);
        if last {
            st.accept = AcceptOp::Idle;
        }
        if res >= 0 {
            // SAFETY: a successful accept's result is a new descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            if st.dropped {
                return;
            }
            st.queue.push_back(Ok(fd));
            if let (AcceptOp::Armed(data), true) = (st.accept, st.queue.len() >= ACCEPT_HIGH) {
                // Rule 3: nobody is accepting fast enough; leave the rest in the backlog.
                let _ = ring.push(&cancel_entry(data));
                st.accept = AcceptOp::Cancelling;
            }
        } else if res == -libc::EINVAL && st.queue.is_empty() {
            // A kernel without multishot accept: the readiness path from now on.
            st.refused = true;
        } else if res != -libc::ECANCELED && !st.dropped {
            st.queue.push_back(Err(io::Error::from_raw_os_error(-res)));
        }
        drop(st);
        self.sched.set_readiness(READABLE);
        self.sched.take_wakers(READABLE, wakers);
    }
}
