//! One connection of [`serve`](crate::serve): hyper-util's auto connection (HTTP/1.1, or
//! HTTP/2 when the client opens with the prior-knowledge preface) over [`TetherIo`], with the
//! server's per-connection rules:
//!
//! 1. **Slow headers**: an HTTP/1 connection that waits for a request's head for the header
//!    read timeout is closed, however slowly the bytes trickle: the first head must be complete
//!    one timeout after the connection was accepted; a later one between one and two timeouts
//!    after the previous response was written (a keep-alive connection's wait for its next
//!    request counts, as with hyper's own timeout). The check is a timer that fires once per
//!    timeout and compares three counts with the ones it saw last time: request heads
//!    completed, requests open (from the head until the response's body is written or
//!    dropped), and writes that made progress (hyper drops a one-chunk body as soon as it has
//!    queued it, before it is written: the writes keep a large response to a slow reader from
//!    looking like a wait for the next head); and a write or flush still waiting for the client
//!    (on io_uring a write returns once its bytes are queued, and the flush waits for them to
//!    be sent) is a response in progress too. No head completed, none open and nothing written
//!    at both looks: the connection waited for a whole timeout. hyper's own header timeout is
//!    off: it files a timer (a new boxed sleep) for every request and makes the connection
//!    loop once more after each, about 12% of a small request's instructions; this costs a few
//!    counter updates per request. An HTTP/2 connection (told by the client's whole preface,
//!    `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`) must complete its first request head one
//!    timeout after it was accepted (a client that trickles a header block or only pings is
//!    closed); after that rule 2 covers it (streams are not heads).
//! 2. **Idle**: a connection without activity for the idle timeout is shut down gracefully
//!    (HTTP/1: closed once the response in flight, if any, is written; HTTP/2: `GOAWAY`,
//!    streams in flight finish), unless it is waiting for the server: a handler still
//!    running, or a response body whose last poll found nothing to send yet while the client
//!    would take bytes (its last write did not find the socket full). A body whose last poll
//!    gave a frame that hyper has not written waits for the client (a full socket, or an
//!    HTTP/2 client that grants no flow-control window): idle. Activity is, for HTTP/1, any
//!    byte read or written; for HTTP/2, a request head completed, a response body frame
//!    produced, or a write while a response is open (so a client's pings, trickled frames or
//!    window updates alone are not activity). The check is a timer that is re-armed when it
//!    finds activity since its last expiry, so a connection is closed between one and two
//!    idle timeouts after its last activity; the I/O path only stores flags.
//! 3. **Bounded drain**: a connection shut down for idleness that has not finished within the
//!    grace period (a client that stopped reading, so the response in flight cannot be
//!    written) is dropped.
//! 4. **Server shutdown**: when the server's scope is cancelled, the connection is shut down
//!    gracefully as in rule 2; the scope drops it after its grace period if it has not finished.
//!    An HTTP/1 connection with no request open and no write waiting on the client (waiting
//!    for a head, or in the middle of one) is closed at once: hyper would wait for a half-sent
//!    head to complete.
//! 5. **Handshakes** (a TLS handshake, see `accept.rs`) are bounded by the header read
//!    timeout (or, without one, the idle timeout) and end at once when the server shuts down.
//! 6. **Requests in flight** are counted (the service's future from `call` until it completes
//!    or is dropped): rule 2 reads the count, and so does the shutdown summary.
//! 7. **Guards polled when they woke**: the scope's cancellation and the timers of rules 1 to 3
//!    wait with a waker of their own ([`Guards`]), which notes the wake-up and wakes the
//!    connection's task; the task polls them only after such a wake-up, or after it changed
//!    one (a reset timer, the start of a drain), not at each of its socket's wake-ups.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::server::conn::auto;
use tether::time::{sleep, Instant};
use tower_service::Service;

use super::BoxError;
use crate::rt::{TetherExecutor, TetherIo, TetherStream};

/// Per-connection settings of a server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// Rule 5; `None`: no limit.
    pub(crate) header_read_timeout: Option<Duration>,
    /// Rule 2; `None`: no idle timeout.
    pub(crate) idle_timeout: Option<Duration>,
    /// Rule 3.
    pub(crate) grace: Duration,
}

/// Runs an accepted connection's handshake (rule 5); `None` if it failed, took too long, or
/// the server is shutting down.
pub(crate) async fn handshake<T>(
    handshake: impl Future<Output = std::io::Result<T>>,
    limits: ConnLimits,
) -> Option<T> {
    let bounded = async {
        match limits.header_read_timeout.or(limits.idle_timeout) {
            Some(limit) => tether::time::timeout(limit, handshake).await.ok()?.ok(),
            None => handshake.await.ok(),
        }
    };
    tether::select! {
        biased;
        _ = tether::task::cancelled() => None,
        stream = bounded => stream,
    }
}

/// Serves `stream` until the client closes, an error, or one of the rules above ends it.
pub(crate) async fn serve_connection<T, S, B>(
    stream: T,
    builder: &auto::Builder<TetherExecutor>,
    service: S,
    watch: Arc<Watch>,
    limits: ConnLimits,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    T: TetherStream + Send + 'static,
{
    let io = Watched {
        io: TetherIo::new(stream),
        watch: watch.clone(),
        preface: Some(Preface { seen: 0 }),
    };
    let service = Counted {
        inner: service,
        watch: watch.clone(),
    };
    let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut cancelled = pin!(tether::task::cancelled());
    let mut idle = limits.idle_timeout.map(|d| (sleep(d), d));
    // Rule 1: the timer, its period, and what the last look saw (at the start: waiting for the
    // first head).
    let mut head_check = limits
        .header_read_timeout
        .map(|d| (sleep(d), d, WatchSeen::default()));
    let mut draining = false;
    let mut drain_deadline: Option<tether::time::Sleep> = None;
    // Rule 7: the guards wait with their own waker, and are polled only when it woke.
    let guards = Arc::new(Guards::default());
    let guard_waker = Waker::from(guards.clone());
    let mut task_waker: Option<Waker> = None;
    poll_fn(|cx| loop {
        if conn.as_mut().poll(cx).is_ready() {
            // Ended: the client closed, an error (a malformed request, a timeout), or a
            // graceful shutdown completed. hyper has answered what it could.
            return Poll::Ready(());
        }
        if !task_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            task_waker = Some(guards.wake_with(cx.waker()));
        }
        if !guards.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let gcx = &mut Context::from_waker(&guard_waker);
        if draining {
            // Rule 3.
            let expired = drain_deadline
                .as_mut()
                .is_some_and(|d| Pin::new(d).poll(gcx).is_ready());
            return if expired {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
        // Rule 4.
        if cancelled.as_mut().poll(gcx).is_ready() {
            if !watch.http2.load(Ordering::Relaxed) && watch.seen().waiting() {
                // Waiting for a head (or in the middle of one), no write waiting on the
                // client: nothing is lost.
                return Poll::Ready(());
            }
            conn.as_mut().graceful_shutdown();
            draining = true;
            guards.recheck();
            continue;
        }
        // Rule 1.
        if let Some((timer, d, last)) = head_check.as_mut() {
            if Pin::new(&mut *timer).poll(gcx).is_ready() {
                if watch.http2.load(Ordering::Relaxed) {
                    if watch.done.load(Ordering::Relaxed) == 0 {
                        // No request head one timeout after the connection was accepted: a
                        // client trickling a header block, or one that only pings.
                        return Poll::Ready(());
                    }
                    head_check = None;
                    guards.recheck();
                    continue;
                }
                let seen = watch.seen();
                if seen.waiting() && *last == seen {
                    // A whole timeout without a head: hyper would end the connection with a
                    // header timeout error, and so do we (it is closed without a response).
                    return Poll::Ready(());
                }
                *last = seen;
                Pin::new(&mut *timer).reset(Instant::now() + *d);
                guards.recheck();
                continue;
            }
        }
        // Rule 2.
        if let Some((timer, d)) = idle.as_mut() {
            if Pin::new(&mut *timer).poll(gcx).is_ready() {
                let moved = watch.activity.swap(false, Ordering::Relaxed);
                if moved || watch.awaits_server() {
                    Pin::new(&mut *timer).reset(Instant::now() + *d);
                    guards.recheck();
                    continue;
                }
                conn.as_mut().graceful_shutdown();
                draining = true;
                drain_deadline = Some(sleep(limits.grace));
                guards.recheck();
                continue;
            }
        }
        return Poll::Pending;
    })
    .await;
}

/// Rule 7: the waker of a connection's guards (its scope's cancellation and its timers).
/// Most of a connection's wake-ups are its socket's; polling the guards at each would cost
/// about 100 instructions a request for nothing. They wait with this waker instead, which
/// notes that one of them woke and then wakes the connection's task, and the connection polls
/// them only then.
struct Guards {
    /// A guard woke since the connection last polled them (or they must be polled again: a
    /// timer was reset, the connection began to drain). Set before the task is woken, taken
    /// before the guards are polled, so no wake-up is lost.
    woken: AtomicBool,
    /// The connection's task's waker, which the guards' wake-ups wake.
    task: Mutex<Option<Waker>>,
}

impl Guards {
    /// Makes the guards wake `waker` from now on (the task's waker changed, or this is the
    /// first poll); returns the clone the connection keeps to compare with.
    fn wake_with(&self, waker: &Waker) -> Waker {
        let waker = waker.clone();
        *self.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(waker.clone());
        waker
    }

    /// The connection changed a guard: poll them again.
    fn recheck(&self) {
        self.woken.store(true, Ordering::Release);
    }
}

impl Default for Guards {
    fn default() -> Self {
        // The first poll polls every guard, which registers its waker.
        Guards {
            woken: AtomicBool::new(true),
            task: Mutex::new(None),
        }
    }
}

impl Wake for Guards {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// What the connection's rules watch, shared by its I/O (bytes moved, writes, a full socket,
/// HTTP/2's preface), its service (heads and open requests) and its timers. Relaxed: for
/// HTTP/1 all three run on the connection's task; for HTTP/2 the counts of heads and open
/// requests, which its streams' tasks update, are only read by rule 2 and 4 as hints.
///
/// The server's list of connections holds it too, for its requests in flight (its shutdown
/// summary): one allocation a connection, whose counts a request touches in one place.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// Requests in flight (rule 6).
    in_flight: AtomicUsize,
    /// Bytes were read or written since rule 2's timer last looked.
    activity: AtomicBool,
    /// Request heads completed (the service was called).
    done: AtomicU64,
    /// Requests whose response has not been written yet: from the service's call until the
    /// response's body is dropped (hyper drops it once written, or on an error; a one-chunk
    /// body as soon as it is queued).
    open: AtomicUsize,
    /// Open response bodies whose last poll found nothing to send (rule 2: the server has
    /// yet to produce it); one whose last poll gave a frame waits for hyper to write it, so
    /// for the client to take it.
    bodies_pending: AtomicUsize,
    /// Writes that made progress (rule 1).
    writes: AtomicU64,
    /// The last write or flush waits for the client to take bytes (rules 1, 2 and 4): the
    /// socket was full, or (io_uring) the queued bytes are not sent yet.
    write_blocked: AtomicBool,
    /// The client opened with HTTP/2's preface: rule 1 applies to its first head only, and
    /// rule 2's activity is requests and responses, not bytes.
    http2: AtomicBool,
}

impl Watch {
    /// Requests in flight (rule 6): called, and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn seen(&self) -> WatchSeen {
        WatchSeen {
            done: self.done.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            write_blocked: self.write_blocked.load(Ordering::Relaxed),
        }
    }

    /// Rule 2: the connection waits for the server, not the client: a handler still runs, or
    /// a response body has nothing to send yet (its last poll was pending) while the client
    /// would take bytes.
    fn awaits_server(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
            || (self.bodies_pending.load(Ordering::Relaxed) > 0
                && !self.write_blocked.load(Ordering::Relaxed))
    }

    /// Rule 2: the connection made progress.
    fn note_activity(&self) {
        self.activity.store(true, Ordering::Relaxed);
    }
}

/// What one look of rule 1's timer saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct WatchSeen {
    done: u64,
    open: usize,
    writes: u64,
    write_blocked: bool,
}

impl WatchSeen {
    /// No request open and no write waiting for the client: the connection waits for a head,
    /// or is in the middle of one (rule 1 also asks that nothing was written since its last
    /// look; rule 4 closes such an HTTP/1 connection at once).
    fn waiting(self) -> bool {
        self.open == 0 && !self.write_blocked
    }
}

/// Holds one open request of rule 1 (in the service's future, then in the response's body),
/// and whether its body counts in [`Watch::bodies_pending`].
struct Open {
    watch: Arc<Watch>,
    /// The body's last poll was pending: it is counted in `bodies_pending`.
    body_pending: bool,
}

impl Open {
    /// Notes how the response body's poll ended (rule 2).
    fn polled<T>(&mut self, res: &Poll<Option<T>>) {
        let pending = res.is_pending();
        if pending != self.body_pending {
            self.body_pending = pending;
            if pending {
                self.watch.bodies_pending.fetch_add(1, Ordering::Relaxed);
            } else {
                self.watch.bodies_pending.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if let Poll::Ready(Some(_)) = res {
            // A frame produced: the response makes progress.
            self.watch.note_activity();
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.watch.open.fetch_sub(1, Ordering::Relaxed);
        if self.body_pending {
            self.watch.bodies_pending.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The connection's first bytes, until it is clear whether they are HTTP/2's preface (rule 1).
struct Preface {
    /// How many of the preface's bytes matched so far.
    seen: usize,
}

impl Preface {
    /// HTTP/2's connection preface (RFC 9113, section 3.4). hyper-util switches to HTTP/2 only
    /// on the whole of it, so a request that merely starts with `PRI ` is HTTP/1 and stays
    /// under rule 1.
    const PREFACE: &'static [u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    /// Looks at `bytes`, the next bytes read: `Some(true)` once the whole preface matched,
    /// `Some(false)` at the first byte that differs, `None` while undecided.
    fn settle(&mut self, bytes: &[u8]) -> Option<bool> {
        if bytes.is_empty() {
            return Some(false);
        }
        for &b in bytes {
            if b != Self::PREFACE[self.seen] {
                return Some(false);
            }
            self.seen += 1;
            if self.seen == Self::PREFACE.len() {
                return Some(true);
            }
        }
        None
    }
}

/// [`TetherIo`] that notes what the rules watch: that bytes moved (one relaxed store per read
/// or write that made progress), writes and a full socket, and the connection's first bytes
/// (HTTP/2's preface).
struct Watched<T> {
    io: TetherIo<T>,
    watch: Arc<Watch>,
    preface: Option<Preface>,
}

impl<T> Watched<T> {
    /// Bytes were read: activity for HTTP/1 (rule 2); for HTTP/2 only requests and responses
    /// count (a client that pings or trickles a header block is not active).
    fn note_read(&self) {
        if !self.watch.http2.load(Ordering::Relaxed) {
            self.watch.note_activity();
        }
    }

    /// Bytes were written: activity for HTTP/1, and for HTTP/2 while a response is open (a
    /// response body handed to hyper in one chunk is written as the client's window allows).
    fn note(&self) {
        if !self.watch.http2.load(Ordering::Relaxed) || self.watch.open.load(Ordering::Relaxed) > 0
        {
            self.watch.note_activity();
        }
    }

    /// A write finished as `res`.
    fn note_write(&self, res: &Poll<std::io::Result<usize>>) {
        match res {
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.note();
                // Only the connection's task writes: no read-modify-write needed.
                let writes = &self.watch.writes;
                writes.store(
                    writes.load(Ordering::Relaxed).wrapping_add(1),
                    Ordering::Relaxed,
                );
                self.watch.write_blocked.store(false, Ordering::Relaxed);
            }
            Poll::Pending => self.watch.write_blocked.store(true, Ordering::Relaxed),
            Poll::Ready(_) => {}
        }
    }
}

impl<T: TetherStream> hyper::rt::Read for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let res = match this.preface.as_mut() {
            None => Pin::new(&mut this.io).poll_read(cx, buf),
            Some(preface) => {
                let mut settled = None;
                let res = this
                    .io
                    .poll_read_inspect(cx, buf, |bytes| settled = preface.settle(bytes));
                if let Some(http2) = settled {
                    this.watch.http2.store(http2, Ordering::Relaxed);
                    this.preface = None;
                }
                res
            }
        };
        if res.is_ready() {
            this.note_read();
        }
        res
    }
}

impl<T: TetherStream> hyper::rt::Write for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_write(cx, buf);
        this.note_write(&res);
        res
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.note_write(&res);
        res
    }

    fn is_write_vectored(&self) -> bool {
        hyper::rt::Write::is_write_vectored(&self.io)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_flush(cx);
        // On io_uring a write returns once its bytes are queued (write-behind), and the flush
        // waits for the client to take them: a flush in progress is a response in progress.
        match res {
            Poll::Pending => this.watch.write_blocked.store(true, Ordering::Relaxed),
            Poll::Ready(_) => this.watch.write_blocked.store(false, Ordering::Relaxed),
        }
        res
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The user's service as hyper's, counting requests in flight (rule 6), heads and open
/// requests.
///
/// hyper calls it by reference, so a request costs one clone of the user's service (as
/// hyper-util's `TowerToHyperService`, which `axum::serve` uses) and one of the connection's
/// [`Watch`], which the request's future then hands to its response's body: no other
/// reference count moves, and the user's future is not moved into a second wrapper.
struct Counted<S> {
    inner: S,
    watch: Arc<Watch>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Counted<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone,
{
    type Response = Response<OpenBody<B>>;
    type Error = S::Error;
    type Future = Call<S, Request<Incoming>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let watch = &self.watch;
        watch.in_flight.fetch_add(1, Ordering::Relaxed);
        watch.done.fetch_add(1, Ordering::Relaxed);
        watch.open.fetch_add(1, Ordering::Relaxed);
        watch.note_activity();
        Call {
            state: CallState::Ready {
                service: self.inner.clone(),
                req: Some(req),
            },
            watch: Some(watch.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's call of the user's service: waits for the service to be ready, calls it,
    /// then waits for its response. While `watch` is here, the request counts in flight and
    /// open; the response's body takes it (open until hyper drops the body).
    struct Call<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        state: CallState<S, R>,
        watch: Option<Arc<Watch>>,
    }

    impl<S, R> PinnedDrop for Call<S, R>
    where
        S: Service<R>,
    {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before it answered (an error, or the connection went away).
            if let Some(watch) = this.project().watch.take() {
                watch.in_flight.fetch_sub(1, Ordering::Relaxed);
                watch.open.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

pin_project_lite::pin_project! {
    #[project = CallStateProj]
    enum CallState<S, R>
    where
        S: Service<R>,
    {
        Ready { service: S, req: Option<R> },
        Called { #[pin] fut: S::Future },
    }
}

impl<S, R, B> Future for Call<S, R>
where
    S: Service<R, Response = Response<B>>,
{
    type Output = Result<Response<OpenBody<B>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                CallStateProj::Ready { service, req } => {
                    std::task::ready!(service.poll_ready(cx))?;
                    let req = req
                        .take()
                        .expect("tether-hyper: a request's call polled after it ended");
                    let fut = service.call(req);
                    this.state.set(CallState::Called { fut });
                }
                CallStateProj::Called { fut } => {
                    // An error: dropped with it, `drop` leaves both counts.
                    let resp = std::task::ready!(fut.poll(cx))?;
                    let watch = this.watch.take();
                    if let Some(w) = &watch {
                        w.in_flight.fetch_sub(1, Ordering::Relaxed);
                    }
                    let open = watch.map(|watch| Open {
                        watch,
                        body_pending: false,
                    });
                    return Poll::Ready(Ok(resp.map(|inner| OpenBody { inner, open })));
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A response's body, holding its request open (rule 1) until hyper drops it and noting
    /// how each poll ended (rule 2).
    struct OpenBody<B> {
        #[pin]
        inner: B,
        open: Option<Open>,
    }
}

impl<B: http_body::Body> http_body::Body for OpenBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let res = this.inner.poll_frame(cx);
        if let Some(open) = this.open.as_mut() {
            open.polled(&res);
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
