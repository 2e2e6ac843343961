//! One connection of [`serve`](crate::serve): hyper-util's auto connection (HTTP/1.1, or
//! HTTP/2 when the client opens with the prior-knowledge preface) over [`TetherIo`], with the
//! server's per-connection rules:
//!
//! 1. **Slow headers**: an HTTP/1 connection that waits for a request's head for the header
//!    read timeout is closed, however slowly the bytes trickle: the first head must be complete
//!    one timeout after the connection was accepted; a later one between one and two timeouts
//!    after the previous response was written (a keep-alive connection's wait for its next
//!    request counts, as with hyper's own timeout). The check is a timer that fires once per
//!    timeout and compares two counts with the ones it saw last time: request heads completed,
//!    and requests open (from the head until the response's body is written or dropped). No
//!    head completed and none open at both looks: the connection waited for a whole timeout.
//!    hyper's own header timeout is off: it files a timer (a new boxed sleep) for every request
//!    and makes the connection loop once more after each, about 12% of a small request's
//!    instructions; this costs two counter updates per request. HTTP/2 connections (told by
//!    the client's preface, `PRI`) are exempt: streams are not heads; rule 2 covers them.
//! 2. **Idle**: a connection with no byte read or written for the idle timeout is shut down
//!    gracefully (HTTP/1: closed once the response in flight, if any, is written; HTTP/2:
//!    `GOAWAY`, streams in flight finish). The check is a timer that is re-armed when it finds
//!    activity since its last expiry, so a silent connection is closed between one and two
//!    idle timeouts after its last byte; the I/O path only stores a flag.
//! 3. **Bounded drain**: a connection shut down for idleness that has not finished within the
//!    grace period (a client that stopped reading, so the response in flight cannot be
//!    written) is dropped.
//! 4. **Server shutdown**: when the server's scope is cancelled, the connection is shut down
//!    gracefully as in rule 2; the scope drops it after its grace period if it has not finished.
//! 5. **Handshakes** (a TLS handshake, see `accept.rs`) are bounded by the header read
//!    timeout and end at once when the server shuts down.
//! 6. **Requests in flight** are counted (the service's future from `call` until it completes
//!    or is dropped) for the shutdown summary.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
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
        match limits.header_read_timeout {
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
    in_flight: Arc<AtomicUsize>,
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
    let activity = limits
        .idle_timeout
        .map(|_| Arc::new(AtomicBool::new(false)));
    let heads = limits
        .header_read_timeout
        .map(|_| Arc::new(Heads::default()));
    let io = Watched {
        io: TetherIo::new(stream),
        activity: activity.clone(),
        preface: heads.clone().map(|heads| Preface { heads, seen: 0 }),
    };
    let service = TowerToHyperService::new(Counted {
        inner: service,
        in_flight,
        heads: heads.clone(),
    });
    let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut cancelled = pin!(tether::task::cancelled());
    let mut idle = limits.idle_timeout.map(|d| (sleep(d), d));
    // Rule 1: the timer, its period, and what the last look saw (at the start: waiting for the
    // first head).
    let mut head_check = limits
        .header_read_timeout
        .zip(heads)
        .map(|(d, heads)| (sleep(d), d, heads, HeadsSeen::default()));
    let mut draining = false;
    let mut drain_deadline: Option<tether::time::Sleep> = None;
    poll_fn(|cx| loop {
        if conn.as_mut().poll(cx).is_ready() {
            // Ended: the client closed, an error (a malformed request, a timeout), or a
            // graceful shutdown completed. hyper has answered what it could.
            return Poll::Ready(());
        }
        if draining {
            // Rule 3.
            let expired = drain_deadline
                .as_mut()
                .is_some_and(|d| Pin::new(d).poll(cx).is_ready());
            return if expired {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
        // Rule 4.
        if cancelled.as_mut().poll(cx).is_ready() {
            conn.as_mut().graceful_shutdown();
            draining = true;
            continue;
        }
        // Rule 1.
        if let Some((timer, d, heads, last)) = head_check.as_mut() {
            if Pin::new(&mut *timer).poll(cx).is_ready() {
                if heads.http2.load(Ordering::Relaxed) {
                    head_check = None;
                    continue;
                }
                let seen = heads.seen();
                if seen.waiting() && *last == seen {
                    // A whole timeout without a head: hyper would end the connection with a
                    // header timeout error, and so do we (it is closed without a response).
                    return Poll::Ready(());
                }
                *last = seen;
                Pin::new(&mut *timer).reset(Instant::now() + *d);
                continue;
            }
        }
        // Rule 2.
        if let (Some((timer, d)), Some(activity)) = (idle.as_mut(), activity.as_ref()) {
            if Pin::new(&mut *timer).poll(cx).is_ready() {
                if activity.swap(false, Ordering::Relaxed) {
                    Pin::new(&mut *timer).reset(Instant::now() + *d);
                    continue;
                }
                conn.as_mut().graceful_shutdown();
                draining = true;
                drain_deadline = Some(sleep(limits.grace));
                continue;
            }
        }
        return Poll::Pending;
    })
    .await;
}

/// Rule 1's counts, shared by the connection's I/O (which spots an HTTP/2 preface), its
/// service (which counts heads and open requests) and its timer. Relaxed: for HTTP/1 all three
/// run on the connection's task.
#[derive(Debug, Default)]
struct Heads {
    /// Request heads completed (the service was called).
    done: AtomicU64,
    /// Requests whose response has not been written yet: from the service's call until the
    /// response's body is dropped (hyper drops it once written, or on an error).
    open: AtomicUsize,
    /// The client opened with HTTP/2's preface: rule 1 does not apply.
    http2: AtomicBool,
}

impl Heads {
    fn seen(&self) -> HeadsSeen {
        HeadsSeen {
            done: self.done.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
        }
    }
}

/// What one look of rule 1's timer saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct HeadsSeen {
    done: u64,
    open: usize,
}

impl HeadsSeen {
    /// No request open: the connection waits for a head.
    fn waiting(self) -> bool {
        self.open == 0
    }
}

/// Holds one open request of rule 1 (in the service's future, then in the response's body).
struct Open(Arc<Heads>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connection's first bytes, until it is clear whether they are HTTP/2's preface (rule 1).
struct Preface {
    heads: Arc<Heads>,
    /// How many of the preface's first bytes matched so far.
    seen: usize,
}

impl Preface {
    /// The part of HTTP/2's preface (`PRI * HTTP/2.0...`) that tells it from an HTTP/1 request.
    const START: &'static [u8] = b"PRI ";

    /// Looks at `bytes`, the next bytes read; `true` once the question is settled.
    fn settle(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if b != Self::START[self.seen] {
                return true;
            }
            self.seen += 1;
            if self.seen == Self::START.len() {
                self.heads.http2.store(true, Ordering::Relaxed);
                return true;
            }
        }
        bytes.is_empty()
    }
}

/// [`TetherIo`] that notes that bytes moved (rule 2): one relaxed store per read or write
/// that made progress, on a flag only this connection's task touches; and looks at the
/// connection's first bytes for rule 1.
struct Watched<T> {
    io: TetherIo<T>,
    activity: Option<Arc<AtomicBool>>,
    preface: Option<Preface>,
}

impl<T> Watched<T> {
    fn note(&self) {
        if let Some(a) = &self.activity {
            a.store(true, Ordering::Relaxed);
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
                let mut settled = false;
                let res = this
                    .io
                    .poll_read_inspect(cx, buf, |bytes| settled = preface.settle(bytes));
                if settled {
                    this.preface = None;
                }
                res
            }
        };
        if res.is_ready() {
            this.note();
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
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.note();
        }
        res
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.note();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        hyper::rt::Write::is_write_vectored(&self.io)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The user's service, counting requests in flight (rule 6) and, for rule 1, heads and open
/// requests.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    in_flight: Arc<AtomicUsize>,
    heads: Option<Arc<Heads>>,
}

impl<S, R, B> Service<Request<R>> for Counted<S>
where
    S: Service<Request<R>, Response = Response<B>>,
{
    type Response = Response<OpenBody<B>>;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<R>) -> Self::Future {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let open = self.heads.as_ref().map(|heads| {
            heads.done.fetch_add(1, Ordering::Relaxed);
            heads.open.fetch_add(1, Ordering::Relaxed);
            Open(heads.clone())
        });
        CountedFuture {
            inner: self.inner.call(req),
            _in_flight: InFlight(self.in_flight.clone()),
            open,
        }
    }
}

pin_project_lite::pin_project! {
    /// The service's future, the request's place in the in-flight count, and its open mark
    /// (rule 1), which moves into the response's body.
    struct CountedFuture<F> {
        #[pin]
        inner: F,
        _in_flight: InFlight,
        open: Option<Open>,
    }
}

impl<F, B, E> Future for CountedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<OpenBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx));
        let open = this.open.take();
        Poll::Ready(res.map(|resp| resp.map(|inner| OpenBody { inner, _open: open })))
    }
}

pin_project_lite::pin_project! {
    /// A response's body, holding its request open (rule 1) until hyper drops it.
    struct OpenBody<B> {
        #[pin]
        inner: B,
        _open: Option<Open>,
    }
}

impl<B: http_body::Body> http_body::Body for OpenBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Leaves the in-flight count when the request's future is dropped (after it completed, or
/// when the connection goes away).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
