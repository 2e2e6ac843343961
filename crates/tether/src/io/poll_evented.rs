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
//!
//! The `*_interest` methods serve the sockets' public `ready`, `try_io` and `async_io`, which
//! take an [`Interest`] that may span both directions: they wait with one waiter per direction
//! (rule 7 of `scheduled_io`) and clear what they observed after `WouldBlock` (rule 3).

use std::future::poll_fn;
use std::io;
use std::panic::Location;
use std::task::{ready, Context, Poll};

use crate::io::source::IoSource;
use mio::Token;

use crate::io::driver::shutdown_error;
use crate::io::interest::{Interest, Ready};
use crate::io::scheduled_io::{Direction, ReadyEvent, ScheduledIo, Waiter};
use crate::loom::sync::Arc;
use crate::runtime::{context, RuntimeShared};
use crate::task::coop;

/// A registered I/O resource (see the module docs).
pub(crate) struct PollEvented<E: IoSource> {
    /// The resource; `None` only after `into_inner`.
    io: Option<E>,
    rt: Arc<RuntimeShared>,
    sched: Arc<ScheduledIo>,
    /// Names this registration, and no later one at the same key (the driver's rule 1).
    token: Token,
    /// Registered without its io_uring poll, which the first wait arms (`new_lazy`).
    // std's atomic: a flag read by the resource's own users, part of no loom model.
    unarmed: std::sync::atomic::AtomicBool,
}

impl<E: IoSource> PollEvented<E> {
    /// Registers `io` for read and write readiness with the current runtime.
    ///
    /// # Panics
    ///
    /// Panics outside a runtime, naming `what` (for example `"TcpStream::from_std"`).
    #[track_caller]
    pub(crate) fn new(io: E, what: &str) -> io::Result<PollEvented<E>> {
        Self::with_interest(io, mio::Interest::READABLE | mio::Interest::WRITABLE, what)
    }

    #[track_caller]
    pub(crate) fn with_interest(
        mut io: E,
        interest: mio::Interest,
        what: &str,
    ) -> io::Result<PollEvented<E>> {
        let rt = match context::current_handle() {
            Some(h) => h.shared,
            None => crate::task::no_runtime_panic(what, Location::caller()),
        };
        let (sched, token) = rt.io.register(&mut io, interest, false)?;
        Ok(PollEvented {
            io: Some(io),
            rt,
            sched,
            token,
            unarmed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Registers `io` for read and write readiness like `new`, but on the io_uring driver
    /// without arming its poll until something first waits for readiness: a stream in
    /// completion mode (`uring_stream.rs`) never does, and its poll's completions would only
    /// duplicate its receive's.
    #[track_caller]
    pub(crate) fn new_lazy(mut io: E, what: &str) -> io::Result<PollEvented<E>> {
        let rt = match context::current_handle() {
            Some(h) => h.shared,
            None => crate::task::no_runtime_panic(what, Location::caller()),
        };
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        let (sched, token) = rt.io.register(&mut io, interest, true)?;
        let unarmed = rt.io.is_uring();
        Ok(PollEvented {
            io: Some(io),
            rt,
            sched,
            token,
            unarmed: std::sync::atomic::AtomicBool::new(unarmed),
        })
    }

    /// Arms the poll a lazy registration left unarmed (`new_lazy`), before a wait.
    fn ensure_polled(&self) {
        use std::sync::atomic::Ordering;
        if self.unarmed.load(Ordering::Relaxed) && self.unarmed.swap(false, Ordering::AcqRel) {
            #[cfg(target_os = "linux")]
            if let Some(fd) = self.get_ref().uring_fd() {
                let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
                if !self.rt.io.arm_poll(self.token, fd, interest) {
                    self.unarmed.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// The readiness of this registration (a simulated socket's network sets it).
    #[cfg(any(feature = "sim", target_os = "linux"))]
    pub(crate) fn scheduled_io(&self) -> &Arc<ScheduledIo> {
        &self.sched
    }

    /// The runtime this resource is registered with (for its io_uring operations).
    #[cfg(target_os = "linux")]
    pub(crate) fn runtime(&self) -> &Arc<RuntimeShared> {
        &self.rt
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
        self.poll_ready_as(cx, dir, None, true)
    }

    /// `poll_ready`, arming the registration's io_uring poll only if `arm_poll`: a stream in
    /// completion mode whose receive is armed waits for that receive's completions, which set
    /// the read readiness themselves (`uring_stream.rs` rule 3), and a poll would only add a
    /// second completion for every arrival.
    pub(crate) fn poll_ready_arming(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        arm_poll: bool,
    ) -> Poll<io::Result<ReadyEvent>> {
        self.poll_ready_as(cx, dir, None, arm_poll)
    }

    /// `poll_ready` for the waiting future that owns `waiter`, if given, whose waker leaves with it.
    #[inline]
    fn poll_ready_as(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        waiter: Option<&mut Waiter<'_>>,
        arm_poll: bool,
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
            Poll::Pending => self.pending(arm_poll),
        }
    }

    /// `poll_ready_as` waits: arms the io_uring poll if asked, and checks that the runtime is
    /// driven (out of line, so that the ready case stays small).
    #[inline(never)]
    fn pending(&self, arm_poll: bool) -> Poll<io::Result<ReadyEvent>> {
        if arm_poll {
            self.ensure_polled();
        }
        check_driven_elsewhere(&self.rt, "an I/O resource");
        Poll::Pending
    }

    /// Polls an operation whose completions set the read readiness (a listener's multishot
    /// accept, `uring_accept.rs`): `take` returns the result when there is one, or `None` to
    /// wait for the next completion (having armed what must be armed). The readiness seen
    /// before a `take` that finds nothing is cleared, unless a completion came meanwhile (the
    /// tick, rule 3 of `scheduled_io`), and the wait arms no poll. One unit of budget.
    /// As for `poll_read_ready`, the waker stays registered until the next completion.
    #[cfg(target_os = "linux")]
    pub(crate) fn poll_completed<R>(
        &self,
        cx: &mut Context<'_>,
        take: impl FnMut() -> Option<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_completed_as(cx, take, None)
    }

    /// `poll_completed` as a future that takes its waker out of the waiters when dropped.
    #[cfg(target_os = "linux")]
    pub(crate) async fn completed<R>(&self, mut take: impl FnMut() -> Option<R>) -> io::Result<R> {
        let mut waiter = Waiter::new(&self.sched, Direction::Read);
        poll_fn(|cx| self.poll_completed_as(cx, &mut take, Some(&mut waiter))).await
    }

    #[cfg(target_os = "linux")]
    fn poll_completed_as<R>(
        &self,
        cx: &mut Context<'_>,
        mut take: impl FnMut() -> Option<R>,
        mut waiter: Option<&mut Waiter<'_>>,
    ) -> Poll<io::Result<R>> {
        let coop = ready!(coop::poll_proceed(cx));
        loop {
            let seen = self.sched.ready_now_masked(Direction::Read.mask());
            if seen.is_some_and(|ev| ev.is_shutdown) {
                return Poll::Ready(Err(shutdown_error()));
            }
            if let Some(r) = take() {
                coop.made_progress();
                return Poll::Ready(Ok(r));
            }
            if let Some(ev) = seen {
                self.sched.clear_readiness(ev);
            }
            let _ = ready!(self.poll_ready_as(cx, Direction::Read, waiter.as_deref_mut(), false))?;
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
            let ev = ready!(self.poll_ready_as(cx, dir, waiter.as_deref_mut(), true))?;
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
        self.try_masked(dir.mask(), || op(self.get_ref()))
    }

    /// `try_io` for a read of at most `buf_len` bytes from a stream: as `poll_read_io` does, a
    /// short read clears the read readiness (the socket's queue was drained), so the next
    /// `readable()` waits for an event instead of returning at once for a `WouldBlock`.
    pub(crate) fn try_read_io(
        &self,
        buf_len: usize,
        op: impl FnOnce(&E) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let ev = match self.sched.ready_now_masked(Direction::Read.mask()) {
            Some(ev) if ev.is_shutdown => return Err(shutdown_error()),
            Some(ev) => ev,
            None => return Err(io::ErrorKind::WouldBlock.into()),
        };
        match op(self.get_ref()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.sched.clear_readiness(ev);
                Err(e)
            }
            Ok(n) if n > 0 && n < buf_len => {
                self.sched.clear_after_short_read(ev);
                Ok(n)
            }
            res => res,
        }
    }

    /// The read readiness seen now, if any (for a read served from elsewhere, which then clears
    /// it with `clear_read_after_short_read`).
    #[cfg(target_os = "linux")]
    pub(crate) fn read_ready_now(&self) -> Option<ReadyEvent> {
        self.sched.ready_now_masked(Direction::Read.mask())
    }

    /// Clears `ev`'s read readiness unless a newer event came (a read found the receive queue
    /// empty).
    #[cfg(target_os = "linux")]
    pub(crate) fn clear_read_seen(&self, ev: ReadyEvent) {
        self.sched.clear_readiness(ev);
    }

    /// Clears `ev`'s read readiness unless a newer event came (a short read drained the
    /// receive queue).
    #[cfg(target_os = "linux")]
    pub(crate) fn clear_read_after_short_read(&self, ev: ReadyEvent) {
        self.sched.clear_after_short_read(ev);
    }

    /// Runs `op` now if the resource looks ready for `interest`; `WouldBlock` otherwise.
    pub(crate) fn try_io_interest<R>(
        &self,
        interest: Interest,
        op: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        self.try_masked(interest.mask(), op)
    }

    /// Runs `op` if some readiness bit of `mask` is set. If `op` returns `WouldBlock`, clears
    /// the bits observed unless a newer event arrived meanwhile (rule 3 of `scheduled_io`).
    fn try_masked<R>(&self, mask: usize, op: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        let ev = match self.sched.ready_now_masked(mask) {
            Some(ev) if ev.is_shutdown => return Err(shutdown_error()),
            Some(ev) => ev,
            None => return Err(io::ErrorKind::WouldBlock.into()),
        };
        let res = op();
        if let Err(e) = &res {
            if e.kind() == io::ErrorKind::WouldBlock {
                self.sched.clear_readiness(ev);
            }
        }
        res
    }

    /// The waiters `interest` needs: among the readers, the writers, or both (rule 7).
    fn interest_waiter(&self, interest: Interest) -> InterestWaiter<'_> {
        let waiter = |dir| {
            let mask = interest.mask_for(dir);
            (mask != 0).then(|| Waiter::with_mask(&self.sched, dir, mask))
        };
        InterestWaiter {
            read: waiter(Direction::Read),
            write: waiter(Direction::Write),
            mask: interest.mask(),
        }
    }

    /// Ready when some bit of `w`'s interest is set, with every such bit set now (across
    /// directions); otherwise each of `w`'s waiters holds the task's waker (rules 2, 6, 7).
    fn poll_interest(
        &self,
        cx: &mut Context<'_>,
        w: &mut InterestWaiter<'_>,
    ) -> Poll<io::Result<ReadyEvent>> {
        for waiter in [w.read.as_mut(), w.write.as_mut()].into_iter().flatten() {
            if let Poll::Ready(ev) = waiter.poll_ready(cx) {
                let ev = self.sched.ready_now_masked(w.mask).unwrap_or(ev);
                if ev.is_shutdown {
                    return Poll::Ready(Err(shutdown_error()));
                }
                return Poll::Ready(Ok(ev));
            }
        }
        self.ensure_polled();
        check_driven_elsewhere(&self.rt, "an I/O resource");
        Poll::Pending
    }

    /// Waits until the resource is ready for `interest` and returns the readiness found (one
    /// unit of budget). Dropping the future takes its wakers out at once.
    pub(crate) async fn ready_interest(&self, interest: Interest) -> io::Result<Ready> {
        let mut w = self.interest_waiter(interest);
        poll_fn(|cx| {
            let coop = ready!(coop::poll_proceed(cx));
            let ev = ready!(self.poll_interest(cx, &mut w))?;
            coop.made_progress();
            Poll::Ready(Ok(Ready::from_bits(ev.ready())))
        })
        .await
    }

    /// Runs `op` until it does not return `WouldBlock`, waiting for readiness for `interest` in
    /// between and clearing what was observed after each `WouldBlock` (rule 3).
    pub(crate) async fn async_io_interest<R>(
        &self,
        interest: Interest,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        let mut w = self.interest_waiter(interest);
        poll_fn(|cx| {
            let coop = ready!(coop::poll_proceed(cx));
            loop {
                let ev = ready!(self.poll_interest(cx, &mut w))?;
                match op() {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.sched.clear_readiness(ev)
                    }
                    res => {
                        coop.made_progress();
                        return Poll::Ready(res);
                    }
                }
            }
        })
        .await
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
        self.ready_arming(dir, true).await
    }

    /// `ready`, arming the io_uring poll only if `arm_poll` (see `poll_ready_arming`).
    pub(crate) async fn ready_arming(&self, dir: Direction, arm_poll: bool) -> io::Result<()> {
        let mut waiter = Waiter::new(&self.sched, dir);
        poll_fn(|cx| {
            let coop = ready!(coop::poll_proceed(cx));
            let res = ready!(self.poll_ready_as(cx, dir, Some(&mut waiter), arm_poll));
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

/// The waiters of one `ready(interest)` or `async_io(interest)` future: one per direction the
/// interest spans (rule 7 of `scheduled_io`).
struct InterestWaiter<'a> {
    read: Option<Waiter<'a>>,
    write: Option<Waiter<'a>>,
    /// Every readiness bit that satisfies the interest.
    mask: usize,
}

impl<E: IoSource> Drop for PollEvented<E> {
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

// The tests build on Unix socket pairs.
#[cfg(all(test, unix, not(tether_loom)))]
mod tests {
    use super::*;
    use crate::io::scheduled_io::{ERROR, READABLE, READ_CLOSED, WRITABLE};
    use std::future::Future;
    use std::io::Read;
    use std::pin::pin;
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

    /// Runs `body` with a registered socket (of a pair whose other end is `_peer`) inside a
    /// current-thread runtime that never drives its reactor meanwhile: the socket's readiness is
    /// whatever the test sets by hand.
    fn with_registered_socket(body: impl FnOnce(&PollEvented<mio::net::UnixStream>)) {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (sock, _peer) = mio::net::UnixStream::pair().unwrap();
            body(&PollEvented::new(sock, "test").unwrap());
        });
    }

    fn would_block() -> io::Result<()> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// Rule 3 through `try_io`: a `WouldBlock` clears the readiness observed, but not when an
    /// event arrived while the operation ran (here set from inside the operation).
    #[test]
    fn try_io_would_block_clears_readiness_only_if_the_tick_is_unchanged() {
        with_registered_socket(|io| {
            io.sched.set_readiness(READABLE);
            let res = io.try_io(Direction::Read, |_| {
                io.sched.set_readiness(READABLE); // a new edge while the operation runs
                would_block()
            });
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::WouldBlock);
            assert!(
                io.sched.ready_now(Direction::Read).is_some(),
                "the newer edge must survive"
            );
            let res = io.try_io_interest(Interest::READABLE, would_block);
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::WouldBlock);
            assert!(io.sched.ready_now(Direction::Read).is_none());
            // Not ready: the operation does not even run.
            let res = io.try_io(Direction::Read, |_| -> io::Result<()> {
                panic!("ran without readiness")
            });
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        });
    }

    /// Rule 7: error interest waits among the readers for `ERROR` alone; a readable event wakes
    /// it but it waits again, and it reports only what it asked for.
    #[test]
    fn error_interest_waits_through_other_events() {
        with_registered_socket(|io| {
            let mut cx = Context::from_waker(Waker::noop());
            let mut fut = pin!(io.ready_interest(Interest::ERROR));
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            io.sched.set_readiness(READABLE | WRITABLE);
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            io.sched.set_readiness(ERROR);
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(r)) => assert_eq!(r, Ready::ERROR),
                other => panic!("expected the error readiness, got {other:?}"),
            }
        });
    }

    /// Rule 7: an interest in both directions is ready when either is, and reports both when
    /// both are set.
    #[test]
    fn interest_in_both_directions_is_ready_on_either() {
        with_registered_socket(|io| {
            let mut cx = Context::from_waker(Waker::noop());
            let both = Interest::READABLE | Interest::WRITABLE;
            let mut fut = pin!(io.ready_interest(both));
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            io.sched.set_readiness(WRITABLE);
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(r)) => assert!(r.is_writable() && !r.is_readable(), "{r:?}"),
                other => panic!("expected writable, got {other:?}"),
            }
            io.sched.set_readiness(READABLE);
            let mut fut = pin!(io.ready_interest(both));
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(r)) => assert_eq!(r, Ready::READABLE | Ready::WRITABLE),
                other => panic!("expected both, got {other:?}"),
            }
        });
    }

    /// `async_io_interest` retries after `WouldBlock` only once a new event came (rule 3), so
    /// an operation that keeps answering `WouldBlock` waits instead of spinning.
    #[test]
    fn async_io_interest_waits_after_would_block() {
        with_registered_socket(|io| {
            let mut cx = Context::from_waker(Waker::noop());
            let calls = std::cell::Cell::new(0);
            let mut fut = pin!(io.async_io_interest(Interest::WRITABLE, || {
                calls.set(calls.get() + 1);
                if calls.get() < 2 {
                    would_block()
                } else {
                    Ok(())
                }
            }));
            io.sched.set_readiness(WRITABLE);
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            assert_eq!(calls.get(), 1);
            assert!(fut.as_mut().poll(&mut cx).is_pending(), "no new event yet");
            assert_eq!(calls.get(), 1);
            io.sched.set_readiness(WRITABLE);
            assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
            assert_eq!(calls.get(), 2);
        });
    }
}

/// One `read(2)` from `fd` into the unfilled part of a tokio `ReadBuf` (feature `tokio-io`),
/// without initializing it first; the bytes read are marked initialized and filled. Returns how
/// many were read (0 at end-of-stream, or when the buffer is full).
#[cfg(all(feature = "tokio-io", unix))]
pub(crate) fn read_into_buf(
    fd: impl std::os::fd::AsFd,
    buf: &mut tokio::io::ReadBuf<'_>,
) -> io::Result<usize> {
    let fd = fd.as_fd();
    // SAFETY: `unfilled_mut` asks its caller never to de-initialize a byte through the slice
    // it returns: the only write through it is read(2), which stores bytes read, never
    // uninitialized memory.
    let unfilled = unsafe { buf.unfilled_mut() };
    let n = loop {
        match read_uninit(fd, unfilled) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r?,
        }
    };
    // SAFETY: read(2) returned `n`, so it stored the first `n` bytes of the unfilled part (and
    // `n <= unfilled.len()`, so `advance` cannot panic).
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Ok(n)
}

/// One `read(2)` into `buf`, which may be uninitialized; returns how many bytes it stored (at
/// the start of `buf`).
///
/// On Linux the system call itself (rustix's `linux_raw` backend), not libc's `read`: that is a
/// thread cancellation point, which costs two cancellation-state updates per call in a process
/// with more than one thread (see `net::SockRw`).
#[cfg(all(feature = "tokio-io", target_os = "linux", not(miri)))]
fn read_uninit(
    fd: std::os::fd::BorrowedFd<'_>,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<usize> {
    let (read, _) = rustix::io::read(fd, buf)?;
    Ok(read.len())
}

/// One `read(2)` into `buf`, which may be uninitialized; returns how many bytes it stored.
#[cfg(all(feature = "tokio-io", unix, not(all(target_os = "linux", not(miri)))))]
fn read_uninit(
    fd: std::os::fd::BorrowedFd<'_>,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: `buf` is a live `&mut` slice valid for writes of its length; read(2) stores at
    // most that many bytes and never reads them, so they may be uninitialized.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// One read from `r` into the unfilled part of a tokio `ReadBuf` (feature `tokio-io`), where
/// there is no `read(2)` on a descriptor (Windows): the unfilled part is zero-filled first (once
/// per buffer: `ReadBuf` remembers what it initialized). Returns how many bytes were read.
#[cfg(all(feature = "tokio-io", not(unix)))]
pub(crate) fn read_into_buf(
    mut r: impl io::Read,
    buf: &mut tokio::io::ReadBuf<'_>,
) -> io::Result<usize> {
    let n = r.read(buf.initialize_unfilled())?;
    buf.advance(n);
    Ok(n)
}
