//! `PollEvented`: a mio source registered with the current runtime's reactor.
//!
//! Every socket type of `net` is a thin wrapper over one `PollEvented`. It turns readiness into
//! async operations with the retry rule of the reactor: wait until ready, try the operation, and on
//! `WouldBlock` clear the readiness observed (if no newer event came) and wait again.
//!
//! It holds its registration's token (key and generation, the driver's rule 1), so dropping it
//! deregisters exactly that registration. Its waiting futures (`async_io`, `ready`) each own a
//! `Waiter`: dropping one takes its waker out of the resource's waiters at once. Its `poll_*`
//! methods register the caller's waker until the next event in that direction (rule 6 of
//! `scheduled_io`).

use std::future::poll_fn;
use std::io;
use std::panic::Location;
use std::task::{ready, Context, Poll};

use mio::event::Source;
use mio::{Interest, Token};

use crate::io::driver::shutdown_error;
use crate::io::scheduled_io::{Direction, ReadyEvent, ScheduledIo, Waiter};
use crate::loom::sync::Arc;
use crate::runtime::{context, RuntimeShared};
use crate::task::coop;

/// A registered I/O resource (see the module docs).
pub(crate) struct PollEvented<E: Source> {
    /// The resource; `None` only after `into_inner`.
    io: Option<E>,
    rt: Arc<RuntimeShared>,
    sched: Arc<ScheduledIo>,
    /// Names this registration, and no later one at the same key (the driver's rule 1).
    token: Token,
}

impl<E: Source> PollEvented<E> {
    /// Registers `io` for read and write readiness with the current runtime.
    ///
    /// # Panics
    ///
    /// Panics outside a runtime, naming `what` (for example `"TcpStream::from_std"`).
    #[track_caller]
    pub(crate) fn new(io: E, what: &str) -> io::Result<PollEvented<E>> {
        Self::with_interest(io, Interest::READABLE | Interest::WRITABLE, what)
    }

    #[track_caller]
    pub(crate) fn with_interest(
        mut io: E,
        interest: Interest,
        what: &str,
    ) -> io::Result<PollEvented<E>> {
        let rt = match context::current_handle() {
            Some(h) => h.shared,
            None => crate::task::no_runtime_panic(what, Location::caller()),
        };
        let (sched, token) = rt.io.register(&mut io, interest)?;
        Ok(PollEvented {
            io: Some(io),
            rt,
            sched,
            token,
        })
    }

    /// The resource.
    pub(crate) fn get_ref(&self) -> &E {
        self.io
            .as_ref()
            .expect("tether: PollEvented used after into_inner")
    }

    /// Waits for readiness in `dir`. The waker stays registered until an event in `dir` takes it
    /// (the `poll_*` rule of `scheduled_io`, rule 6).
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        self.poll_ready_as(cx, dir, None)
    }

    /// `poll_ready` for the waiting future that owns `waiter`, if given, whose waker leaves with it.
    fn poll_ready_as(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        waiter: Option<&mut Waiter<'_>>,
    ) -> Poll<io::Result<ReadyEvent>> {
        let polled = match waiter {
            Some(w) => {
                debug_assert_eq!(w.direction(), dir);
                w.poll_ready(cx)
            }
            None => self.sched.poll_ready(cx, dir),
        };
        match polled {
            Poll::Ready(ev) if ev.is_shutdown => Poll::Ready(Err(shutdown_error())),
            Poll::Ready(ev) => Poll::Ready(Ok(ev)),
            Poll::Pending => {
                check_driven_elsewhere(&self.rt, "an I/O resource");
                Poll::Pending
            }
        }
    }

    /// Runs `op` once the resource is ready in `dir`, retrying after `WouldBlock`. Spends one
    /// unit of the task's cooperative budget per completed operation.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        op: impl FnMut(&E) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_as(cx, dir, op, None)
    }

    /// `poll_io` for the waiting future that owns `waiter`, if given.
    fn poll_io_as<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(&E) -> io::Result<R>,
        mut waiter: Option<&mut Waiter<'_>>,
    ) -> Poll<io::Result<R>> {
        let coop = ready!(coop::poll_proceed(cx));
        loop {
            let ev = ready!(self.poll_ready_as(cx, dir, waiter.as_deref_mut()))?;
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.sched.clear_readiness(ev),
                res => {
                    coop.made_progress();
                    return Poll::Ready(res);
                }
            }
        }
    }

    /// Like `poll_io` for reads into a buffer of `buf_len` bytes: after a short read (fewer bytes
    /// than asked, but not end-of-stream) the socket is drained, so the readiness observed is
    /// cleared (unless a newer event arrived) and the next read waits for the reactor's next edge
    /// instead of making a system call that would return `WouldBlock`.
    pub(crate) fn poll_read_io(
        &self,
        cx: &mut Context<'_>,
        buf_len: usize,
        mut op: impl FnMut(&E) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let coop = ready!(coop::poll_proceed(cx));
        loop {
            let ev = ready!(self.poll_ready(cx, Direction::Read))?;
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.sched.clear_readiness(ev),
                res => {
                    if let Ok(n) = res {
                        if n > 0 && n < buf_len {
                            self.sched.clear_after_short_read(ev);
                        }
                    }
                    coop.made_progress();
                    return Poll::Ready(res);
                }
            }
        }
    }

    /// Runs `op` now if the resource looks ready in `dir`; `WouldBlock` otherwise.
    pub(crate) fn try_io<R>(
        &self,
        dir: Direction,
        op: impl FnOnce(&E) -> io::Result<R>,
    ) -> io::Result<R> {
        let ev = match self.sched.ready_now(dir) {
            Some(ev) if ev.is_shutdown => return Err(shutdown_error()),
            Some(ev) => ev,
            None => return Err(io::ErrorKind::WouldBlock.into()),
        };
        let res = op(self.get_ref());
        if let Err(e) = &res {
            if e.kind() == io::ErrorKind::WouldBlock {
                self.sched.clear_readiness(ev);
            }
        }
        res
    }

    /// Runs `op` until it does not return `WouldBlock`, waiting for readiness in between. Dropping
    /// the future takes its waker out of the resource's waiters at once.
    pub(crate) async fn async_io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&E) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut waiter = Waiter::new(&self.sched, dir);
        poll_fn(|cx| self.poll_io_as(cx, dir, &mut op, Some(&mut waiter))).await
    }

    /// Waits until the resource is ready in `dir` (one unit of budget). Dropping the future takes
    /// its waker out of the resource's waiters at once.
    pub(crate) async fn ready(&self, dir: Direction) -> io::Result<()> {
        let mut waiter = Waiter::new(&self.sched, dir);
        poll_fn(|cx| {
            let coop = ready!(coop::poll_proceed(cx));
            let res = ready!(self.poll_ready_as(cx, dir, Some(&mut waiter)));
            coop.made_progress();
            Poll::Ready(res.map(|_| ()))
        })
        .await
    }

    /// Deregisters the resource and gives it back.
    pub(crate) fn into_inner(mut self) -> E {
        let mut io = self
            .io
            .take()
            .expect("tether: PollEvented used after into_inner");
        self.rt.io.deregister(&mut io, self.token);
        io
    }
}

impl<E: Source> Drop for PollEvented<E> {
    fn drop(&mut self) {
        if let Some(mut io) = self.io.take() {
            self.rt.io.deregister(&mut io, self.token);
        }
    }
}

/// Panics when a resource of runtime `rt` waits inside another runtime's `block_on` while no
/// thread drives `rt`: it could never become ready.
pub(crate) fn check_driven_elsewhere(rt: &RuntimeShared, what: &str) {
    let Some(here) = context::driving_runtime() else {
        return;
    };
    if here != rt.id && !rt.sched.is_driven() {
        panic!(
            "tether: {what} created on runtime #{} is awaited inside another runtime, while no \
             thread drives runtime #{} (nothing inside its block_on), so it could never become \
             ready. Create sockets and timers inside the runtime that awaits them.",
            rt.id, rt.id
        );
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;
    use crate::io::scheduled_io::{READABLE, READ_CLOSED};
    use std::io::Read;
    use std::sync::mpsc;
    use std::task::Waker;
    use std::time::Duration;

    /// Rule 4 of `scheduled_io`: a read-closed bit that the socket contradicts (here set by hand,
    /// as a stale hang-up used to set it) makes a read wait, not loop on ready -> `WouldBlock` ->
    /// ready inside one poll. The body runs on its own thread so that a spin fails the test.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "Miri's socketpair does not answer WouldBlock to this read"
    )]
    fn contradicted_closed_bit_makes_a_read_wait_instead_of_spinning() {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let rt = crate::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let (sock, _peer) = mio::net::UnixStream::pair().unwrap();
                let io = PollEvented::new(sock, "test").unwrap();
                io.sched.set_readiness(READABLE | READ_CLOSED);
                let mut buf = [0u8; 8];
                let mut cx = Context::from_waker(Waker::noop());
                let polled = io.poll_read_io(&mut cx, buf.len(), |s| (&*s).read(&mut buf));
                tx.send(polled.is_pending()).unwrap();
            });
        });
        let waited = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the read spun inside one poll");
        assert!(waited, "nothing was sent, so the read must wait");
    }
}
