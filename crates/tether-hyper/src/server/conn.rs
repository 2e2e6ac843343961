//! One connection of [`serve`](crate::serve): hyper-util's auto connection (HTTP/1.1, or
//! HTTP/2 when the client opens with the prior-knowledge preface) over [`TetherIo`], with the
//! server's per-connection rules:
//!
//! 1. **Slow headers**: hyper's HTTP/1 header read timeout (on [`TetherTimer`]) ends a client
//!    that takes longer than that to send a request's head, however slowly the bytes trickle.
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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    let io = Watched {
        io: TetherIo::new(stream),
        activity: activity.clone(),
    };
    let service = TowerToHyperService::new(Counted {
        inner: service,
        in_flight,
    });
    let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut cancelled = pin!(tether::task::cancelled());
    let mut idle = limits.idle_timeout.map(|d| (sleep(d), d));
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

/// [`TetherIo`] that notes that bytes moved (rule 2): one relaxed store per read or write
/// that made progress, on a flag only this connection's task touches.
struct Watched<T> {
    io: TetherIo<T>,
    activity: Option<Arc<AtomicBool>>,
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
        let res = Pin::new(&mut this.io).poll_read(cx, buf);
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

/// The user's service, counting requests in flight (rule 6).
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    in_flight: Arc<AtomicUsize>,
}

impl<S, R> Service<R> for Counted<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        CountedFuture {
            inner: self.inner.call(req),
            _in_flight: InFlight(self.in_flight.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    /// The service's future and the request's place in the in-flight count.
    struct CountedFuture<F> {
        #[pin]
        inner: F,
        _in_flight: InFlight,
    }
}

impl<F: Future> Future for CountedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
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
