//! [`serve`]: an HTTP server for a hyper or tower service (an axum `Router` as it is), in the
//! shape of every tether server: the accept loop runs in a scope and each connection is a named
//! child of it, so nothing the server started outlives it.
//!
//! # The shape
//!
//! ```text
//! streams scope (unbounded: HTTP/2 request tasks, "http2-stream", via TetherExecutor)
//! └── connections scope (bounded by max_connections: spawning waits = accepting waits)
//!     ├── body: the accept loop
//!     └── "http-conn <peer>" × N: hyper-util's auto connection over TetherIo
//! ```
//!
//! 1. **Accepting never spins.** An accept error is logged. An error of the connection being
//!    accepted (aborted or reset before it was accepted, a network error the OS passes on:
//!    `ECONNABORTED`, `ECONNRESET`, `EPROTO`, `EPERM`, ...) lets the loop accept the next at once;
//!    any other error pauses the loop for [`EXHAUSTED_BACKOFF`]: running out of descriptors
//!    (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`: [`tether::net::is_resource_exhausted`]) so
//!    connections can close first, and an error that would repeat at every accept (a listener
//!    shut down or otherwise broken: `EINVAL`, `EBADF`) so that it is logged 20 times a second
//!    instead of in a busy loop (`axum::serve` sleeps a second after such an error).
//! 2. **Backpressure.** With [`max_connections(n)`](Serve::max_connections), the accept loop
//!    waits for a free place before it serves the connection it holds, and accepts nothing
//!    meanwhile: further clients wait in the kernel's backlog.
//! 3. **Graceful shutdown** ([`with_graceful_shutdown`](Serve::with_graceful_shutdown)): when
//!    the signal completes, the listener is closed (new clients are refused), every connection
//!    is told to shut down gracefully (hyper's `graceful_shutdown`: HTTP/1 finishes the response
//!    in flight and closes, HTTP/2 sends `GOAWAY` and finishes its streams; an HTTP/1
//!    connection waiting for a head, even in the middle of one, closes at once), and the
//!    connections still open after the grace period are dropped by the scope. HTTP/2 request
//!    tasks still running after their connections are gone are cancelled. The future then
//!    returns a [`ShutdownSummary`] naming what was cut off, with the requests each connection
//!    had in flight when it was dropped.
//! 4. **A panicking handler** ends its connection (HTTP/1) or its stream (HTTP/2), as on tokio;
//!    the panic hook has printed it. It does not cancel the server's scope.
//!
//! Per-connection rules (slow headers, idle connections) are in `conn.rs`'s docs and on
//! [`Serve::header_read_timeout`] and [`Serve::idle_timeout`]. What happens between accepting a
//! connection and serving HTTP on it (nothing, or a TLS handshake) is an [`Accept`]: see
//! `accept.rs`.

mod accept;
mod conn;
mod summary;

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::server::conn::auto;
use tether::net::{is_resource_exhausted, TcpListener, TcpStream};
use tower_service::Service;

pub use accept::{Accept, Plain};
pub use summary::{CutOff, ShutdownSummary};

use crate::rt::{CatchUnwind, TetherExecutor, TetherStream, TetherTimer};
use conn::ConnLimits;
use summary::Conns;

/// The error type services and bodies may use: anything that converts into this.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long the accept loop pauses when the process is out of descriptors, or after any
/// other accept error that is not the accepted connection's own (see the [module docs](self)).
pub const EXHAUSTED_BACKOFF: Duration = Duration::from_millis(50);
/// The default of [`Serve::grace_period`].
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// The default of [`Serve::header_read_timeout`] (hyper's own default).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The default of [`Serve::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Serves HTTP/1.1 and HTTP/2 (prior knowledge, told apart by the connection's first bytes) on
/// `listener` with `service`, a tower `Service` of `Request<hyper::body::Incoming>`: an axum
/// `Router` as it is, a `tower::ServiceBuilder` stack, or a hyper service through
/// [`HyperService`](crate::HyperService).
///
/// An axum `Router` whose state was never set (`Router<()>`, built without `with_state`) runs
/// each handler's conversion into a route at every request (one small allocation each), which
/// `axum::serve` avoids by calling `with_state(())` once per connection. Do it once yourself:
/// `serve(listener, router.with_state(()))`. A router given its state with `with_state(state)`
/// is already converted.
///
/// Like `axum::serve`, it returns a builder that serves when awaited; set options first
/// ([`max_connections`](Serve::max_connections), timeouts, the grace period) and add
/// [`with_graceful_shutdown`](Serve::with_graceful_shutdown) to stop on a signal and get a
/// [`ShutdownSummary`]. See the [module docs](self) for how it serves.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use tether::net::TcpListener;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let app = Router::new().route("/", get(|| async { "Hello, World!" }));
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let (stop, stopped) = tether::sync::oneshot::channel::<()>();
///     let server = tether::spawn(
///         tether_hyper::serve(listener, app)
///             .max_connections(10_000)
///             .grace_period(Duration::from_secs(5))
///             .with_graceful_shutdown(async move {
///                 let _ = stopped.await;
///             })
///             .into_future(),
///     );
///     stop.send(()).unwrap();
///     let summary = server.await.unwrap();
///     assert!(summary.cut_off.is_empty());
///     Ok(())
/// }
/// # use std::future::IntoFuture;
/// ```
pub fn serve<S, B>(listener: TcpListener, service: S) -> Serve<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    serve_with(listener, Plain, service)
}

/// [`serve`] over TLS: each accepted connection first does a TLS handshake with `acceptor`
/// (in its own task, bounded by the [header read timeout](Serve::header_read_timeout)), then
/// HTTP/2 or HTTP/1.1 is served on it, as the client chose through ALPN (build the acceptor
/// from [`tls::server_config`](crate::tls::server_config), which offers both) or, without
/// ALPN, as its first bytes say. Everything else is as for [`serve`].
///
/// # Examples
///
/// ```
/// use axum::{routing::get, Router};
/// use rustls::pki_types::PrivatePkcs8KeyDer;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
///     let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
///     let config = tether_hyper::tls::server_config(vec![generated.cert.der().clone()], key.into())?;
///     let app = Router::new().route("/", get(|| async { "Hello, TLS!" }));
///     let listener = tether::net::TcpListener::bind("127.0.0.1:0").await?;
///     let server = tether_hyper::serve_tls(listener, std::sync::Arc::new(config).into(), app);
///     println!("would serve on https://{}", server.local_addr()?);
///     Ok(())
/// }
/// ```
#[cfg(feature = "rustls")]
pub fn serve_tls<S, B>(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    service: S,
) -> Serve<S, tokio_rustls::TlsAcceptor>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    serve_with(listener, acceptor, service)
}

/// [`serve`] with a handshake of your own between accepting a connection and serving HTTP on
/// it: see [`Accept`]. `serve(l, s)` is `serve_with(l, Plain, s)`.
pub fn serve_with<S, B, A>(listener: TcpListener, acceptor: A, service: S) -> Serve<S, A>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    A: Accept,
{
    Serve {
        listener,
        acceptor,
        service,
        config: Config::default(),
    }
}

/// The server's settings.
#[derive(Debug, Clone, Copy)]
struct Config {
    max_connections: Option<usize>,
    grace: Duration,
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    tcp_nodelay: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_connections: None,
            grace: DEFAULT_GRACE,
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            tcp_nodelay: true,
        }
    }
}

/// The options shared by [`Serve`] and [`WithGracefulShutdown`].
macro_rules! options {
    () => {
        /// Serves at most `n` connections at once: at the limit, the accept loop waits for a
        /// connection to end before serving the next (clients wait in the kernel's backlog).
        ///
        /// # Panics
        ///
        /// Panics if `n` is zero.
        pub fn max_connections(mut self, n: usize) -> Self {
            assert!(n > 0, "tether-hyper: max_connections must be at least 1");
            self.config.max_connections = Some(n);
            self
        }

        /// How long connections may take to finish once the shutdown begins (and how long a
        /// connection closed for idleness may take to drain) before they are dropped; default
        /// [`DEFAULT_GRACE`].
        pub fn grace_period(mut self, grace: Duration) -> Self {
            self.config.grace = grace;
            self
        }

        /// How long an HTTP/1 client has to send a request's head, however slowly the bytes
        /// come; then the connection is closed (without a response, as hyper's own timeout
        /// does). A connection's first head must be complete this long after it was accepted;
        /// a later one between one and two times `timeout` after the previous response was
        /// written (a keep-alive connection's wait for its next request counts). A slow
        /// handler or a long streamed response does not count. An HTTP/2 connection must
        /// complete its first request head this long after it was accepted (a client that
        /// trickles a header block or only pings is closed); between its requests it is
        /// governed by [`idle_timeout`](Self::idle_timeout). It costs no timer or allocation per
        /// request (a timer per connection that looks once per timeout). `None` turns it off;
        /// default [`DEFAULT_HEADER_READ_TIMEOUT`].
        pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
            self.config.header_read_timeout = timeout.into();
            self
        }

        /// Closes, gracefully, a connection without activity for this long (between one and
        /// two times `timeout` after its last, see the module docs): for HTTP/1 a byte read or
        /// written; for HTTP/2 a request started, a response body frame produced or response
        /// bytes written (pings and window updates alone are not activity). This also ends
        /// clients that connect and send nothing (a TLS handshake included). A connection that
        /// waits for the server is not idle: a handler still running, or a streamed response
        /// body with nothing to send yet; one whose client stopped reading (HTTP/1) or stopped
        /// granting flow-control window (HTTP/2) is. `None` turns it off; default
        /// [`DEFAULT_IDLE_TIMEOUT`].
        pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
            self.config.idle_timeout = timeout.into();
            self
        }

        /// Whether each accepted connection sets `TCP_NODELAY`; default `true`.
        ///
        /// With it, every write goes out at once: a response hyper writes in one piece (head
        /// and body gathered) is never held back. Without it, the kernel's Nagle algorithm
        /// holds a small write while earlier bytes of the connection are unacknowledged and
        /// sends it with what follows: fewer packets, so less CPU per request where many
        /// responses share a connection (HTTP/2 with many streams in flight), at the price of
        /// latency for a response written in pieces. `axum::serve` on tokio leaves the kernel's
        /// default, Nagle on, unless its listener is tapped (`ListenerExt::tap_io`); this is
        /// `tcp_nodelay(false)`.
        ///
        /// # Examples
        ///
        /// ```no_run
        /// use axum::{routing::get, Router};
        ///
        /// #[tether::main]
        /// async fn main() -> std::io::Result<()> {
        ///     let app = Router::new().route("/", get(|| async { "hello" }));
        ///     let listener = tether::net::TcpListener::bind("127.0.0.1:3000").await?;
        ///     // Fewer packets for HTTP/2 clients with many streams in flight.
        ///     tether_hyper::serve(listener, app).tcp_nodelay(false).await
        /// }
        /// ```
        pub fn tcp_nodelay(mut self, on: bool) -> Self {
            self.config.tcp_nodelay = on;
            self
        }

        /// The address the server listens on.
        ///
        /// # Errors
        ///
        /// The OS's error.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            self.listener.local_addr()
        }
    };
}

/// The future-to-be of [`serve`]: set options, then `.await` it (it serves until dropped) or
/// add [`with_graceful_shutdown`](Serve::with_graceful_shutdown).
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<S, A = Plain> {
    listener: TcpListener,
    acceptor: A,
    service: S,
    config: Config,
}

impl<S, A> Serve<S, A> {
    options!();

    /// Serves until `signal` completes, then shuts down gracefully (see the [module
    /// docs](self)); awaiting it gives the [`ShutdownSummary`].
    pub fn with_graceful_shutdown<F>(self, signal: F) -> WithGracefulShutdown<S, F, A>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        WithGracefulShutdown {
            listener: self.listener,
            acceptor: self.acceptor,
            service: self.service,
            config: self.config,
            signal,
        }
    }
}

impl<S, A> std::fmt::Debug for Serve<S, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A [`Serve`] that stops when a signal completes; awaiting it gives the [`ShutdownSummary`].
#[must_use = "a server does nothing until it is awaited"]
pub struct WithGracefulShutdown<S, F, A = Plain> {
    listener: TcpListener,
    acceptor: A,
    service: S,
    config: Config,
    signal: F,
}

impl<S, F, A> WithGracefulShutdown<S, F, A> {
    options!();
}

impl<S, F, A> std::fmt::Debug for WithGracefulShutdown<S, F, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithGracefulShutdown")
            .field("listener", &self.listener)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, B, A> IntoFuture for Serve<S, A>
where
    A: Accept,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// `io::Result<()>` as `axum::serve`'s, so `serve(listener, app).await?` ports as it is;
    /// the server never stops by itself (accept errors are handled inside).
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            run(
                self.listener,
                self.acceptor,
                self.service,
                self.config,
                std::future::pending(),
            )
            .await;
            Ok(())
        })
    }
}

impl<S, B, F, A> IntoFuture for WithGracefulShutdown<S, F, A>
where
    A: Accept,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send + 'static,
{
    type Output = ShutdownSummary;
    type IntoFuture = Pin<Box<dyn Future<Output = ShutdownSummary> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(
            self.listener,
            self.acceptor,
            self.service,
            self.config,
            self.signal,
        ))
    }
}

/// hyper-util's auto builder on tether's executor (spawning into `streams`) and timer.
fn connection_builder(streams: &tether::scope::Scope<Infallible>) -> auto::Builder<TetherExecutor> {
    let mut builder = auto::Builder::new(TetherExecutor::in_scope(streams, "http2-stream"));
    // The header read timeout is the connection's own (`conn.rs`, rule 1), not hyper's.
    builder.http1().timer(TetherTimer).header_read_timeout(None);
    builder.http2().timer(TetherTimer);
    builder
}

/// The server: see the [module docs](self).
async fn run<S, B, F, A>(
    listener: TcpListener,
    acceptor: A,
    service: S,
    config: Config,
    signal: F,
) -> ShutdownSummary
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send,
    A: Accept,
{
    let conns = Arc::new(Conns::new());
    let limits = ConnLimits {
        header_read_timeout: config.header_read_timeout,
        idle_timeout: config.idle_timeout,
        grace: config.grace,
    };
    let grace = config.grace;
    let body_conns = conns.clone();
    let mut streams_cut_off = 0;
    let cut_off = &mut streams_cut_off;
    // The outer scope has no grace of its own: its children (HTTP/2 request tasks) are
    // cancelled only after the connections' scope has ended, having had its grace period.
    let _ = tether::scope::Builder::new()
        .grace_period(Duration::ZERO)
        .run(|streams: tether::scope::Scope<Infallible>| async move {
            let builder = Arc::new(connection_builder(&streams));
            let mut conns_scope = tether::scope::Builder::new().grace_period(grace);
            if let Some(n) = config.max_connections {
                conns_scope = conns_scope.max_concurrency(n);
            }
            let _ = conns_scope
                .run(|s: tether::scope::Scope<Infallible>| {
                    let accepted = Accepted {
                        listener,
                        acceptor,
                        nodelay: config.tcp_nodelay,
                    };
                    accept_loop(s, accepted, service, builder, body_conns, limits, signal)
                })
                .await;
            *cut_off = streams.live();
            streams.cancel();
            Ok(())
        })
        .await;
    conns.summary(grace, streams_cut_off)
}

/// The listener and what is done with each connection it accepts.
struct Accepted<A> {
    listener: TcpListener,
    acceptor: A,
    /// `TCP_NODELAY` for each accepted connection ([`Serve::tcp_nodelay`]).
    nodelay: bool,
}

/// The body of the connections' scope: accepts and spawns until `signal`, then rule 3.
async fn accept_loop<S, B, F, A>(
    s: tether::scope::Scope<Infallible>,
    accepted: Accepted<A>,
    service: S,
    builder: Arc<auto::Builder<TetherExecutor>>,
    conns: Arc<Conns>,
    limits: ConnLimits,
    signal: F,
) -> Result<(), Infallible>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future<Output = ()>,
    A: Accept,
{
    let Accepted {
        listener,
        acceptor,
        nodelay,
    } = accepted;
    let mut signal = pin!(signal);
    let mut next_key = 0u64;
    'serving: loop {
        let accepted = tether::select! {
            biased;
            _ = signal.as_mut() => break 'serving,
            accepted = accept_next(&listener) => accepted,
        };
        let Some((stream, peer)) = accepted else {
            continue;
        };
        let key = next_key;
        next_key += 1;
        let name = format!("http-conn {peer}");
        let watch = conns.register(key, name.clone(), peer);
        // Set either way: an accepted socket may inherit the listener's setting.
        let _ = stream.set_nodelay(nodelay);
        let conn = connection(
            acceptor.accept(stream),
            service.clone(),
            builder.clone(),
            conns.clone(),
            key,
            watch,
            limits,
        );
        // Waits while `max_connections` are open (rule 2), but not past the signal.
        tether::select! {
            biased;
            _ = signal.as_mut() => {
                // The connection we hold was never served: it is closed with the future.
                conns.finished(key);
                break 'serving;
            }
            _ = s.spawn_named(&name, Tracked::new(conn, conns.clone(), key)) => {}
        }
    }
    // Stop accepting first: clients connecting from now on are refused.
    drop(listener);
    conns.signal();
    s.cancel();
    Ok(())
}

pin_project_lite::pin_project! {
    /// A connection's future, which notes how many of its requests were in flight if it is
    /// dropped unfinished (cut off at shutdown). Its drop runs before its fields' are dropped,
    /// so before the requests' futures leave the count.
    struct Tracked<F> {
        #[pin]
        inner: F,
        conns: Arc<Conns>,
        key: u64,
        finished: bool,
    }

    impl<F> PinnedDrop for Tracked<F> {
        fn drop(this: Pin<&mut Self>) {
            if !this.finished {
                this.conns.cut_off(this.key);
            }
        }
    }
}

impl<F> Tracked<F> {
    fn new(inner: F, conns: Arc<Conns>, key: u64) -> Tracked<F> {
        Tracked {
            inner,
            conns,
            key,
            finished: false,
        }
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        *this.finished = true;
        std::task::Poll::Ready(out)
    }
}

/// One connection's task: finish its handshake, serve it, then leave the registry (unless
/// dropped: cut off).
async fn connection<S, B, H, T>(
    handshake: H,
    service: S,
    builder: Arc<auto::Builder<TetherExecutor>>,
    conns: Arc<Conns>,
    key: u64,
    watch: Arc<conn::Watch>,
    limits: ConnLimits,
) -> Result<(), Infallible>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    H: Future<Output = io::Result<T>> + Send,
    T: TetherStream + Send + 'static,
{
    conns.started(key);
    // Rule 4: a panic ends this connection only.
    let _ = CatchUnwind::new(async {
        if let Some(stream) = conn::handshake(handshake, limits).await {
            conn::serve_connection(stream, &builder, service, watch, limits).await;
        }
    })
    .await;
    conns.finished(key);
    Ok(())
}

/// Accepts one connection; `None` after an accept error (rule 1).
async fn accept_next(listener: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
    match listener.accept().await {
        Ok(conn) => Some(conn),
        Err(e) if is_resource_exhausted(&e) => {
            eprintln!(
                "tether-hyper: accept: {e}; pausing {EXHAUSTED_BACKOFF:?} so connections can close"
            );
            tether::time::sleep(EXHAUSTED_BACKOFF).await;
            None
        }
        Err(e) if is_connection_error(&e) => {
            eprintln!("tether-hyper: accept: {e}");
            None
        }
        Err(e) => {
            // Not the connection's own: it may fail every accept from now on (the listener was
            // shut down under us, say), and the listener stays readable, so accepting again at
            // once would spin.
            eprintln!("tether-hyper: accept: {e}; pausing {EXHAUSTED_BACKOFF:?}");
            tether::time::sleep(EXHAUSTED_BACKOFF).await;
            None
        }
    }
}

/// Whether an accept error belongs to the connection being accepted, so the next accept can
/// go on at once (rule 1): it was aborted or reset before it was accepted, or the OS passes on
/// a network error pending on it (Linux's `accept(2)`: retry as for `EAGAIN`).
fn is_connection_error(e: &io::Error) -> bool {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return true;
    }
    #[cfg(unix)]
    return matches!(
        tether::io::os_error_of(e),
        Some(
            libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::EHOSTUNREACH
        )
    );
    #[cfg(not(unix))]
    return false;
}
