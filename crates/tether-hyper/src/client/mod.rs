//! [`Client`]: an HTTP client on tether: hyper-util's pooled ("legacy") client with a tether
//! connector (see `connect.rs`: resolution on the blocking pool, a connect timeout, rustls for
//! `https`), tether's executor for its connection tasks and tether's timer for its pool and
//! HTTP/2 keep-alive.
//!
//! - **Pool.** Connections are kept alive and reused per scheme, host and port: HTTP/1.1 one
//!   request at a time per connection, HTTP/2 many streams on one. An idle connection is
//!   closed after [`pool_idle_timeout`](ClientBuilder::pool_idle_timeout).
//! - **Protocol.** `http` URIs speak HTTP/1.1, or HTTP/2 with prior knowledge after
//!   [`http2_prior_knowledge`](ClientBuilder::http2_prior_knowledge); `https` URIs speak what
//!   the server picked through ALPN (HTTP/2 when it offers it).
//! - **Tasks.** hyper runs each connection in a task of its own (and the pool one that closes
//!   idle connections): here tether tasks named `http-client-conn` (they show in
//!   `Handle::dump`). With [`ClientBuilder::build`] they are in the runtime's root scope, like
//!   `tokio::spawn`ed tasks: they end when their connection closes, and those still open when
//!   the runtime shuts down are cancelled and listed in its shutdown report. With
//!   [`ClientBuilder::build_in`] they are children of a scope of yours, which ends once the
//!   client (every clone) is dropped and its connections have closed; cancelling the scope
//!   closes them at once. A client belongs to the runtime it first connects on.

mod connect;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy;

use crate::rt::{TetherExecutor, TetherTimer};
use connect::{ConnectError, Connector};

/// The error type request bodies may use: anything that converts into this.
type BoxError = Box<dyn StdError + Send + Sync>;

/// The name of the client's tasks.
const TASK_NAME: &str = "http-client-conn";

/// The default of [`ClientBuilder::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default of [`ClientBuilder::pool_idle_timeout`] (hyper-util's).
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// An HTTP/1.1 and HTTP/2 client with a connection pool, over plain TCP or TLS (rustls): the
/// counterpart of hyper-util's `Client::builder(TokioExecutor::new()).build(HttpsConnector)`
/// on tokio (see the [module docs](self)).
///
/// Cheap to clone: clones share the pool. `B` is the request body type ([`Full<Bytes>`] by
/// default; any `http_body::Body`, e.g. tonic's, through [`ClientBuilder::build`]). The client
/// is also a tower `Service<Request<B>>`, so a tonic client runs over it (see the crate's
/// `grpc` example).
///
/// # Examples
///
/// ```
/// use axum::{routing::get, Router};
/// use http_body_util::BodyExt;
///
/// #[tether::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     let listener = tether::net::TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let app = Router::new().route("/", get(|| async { "Hello, World!" }));
///     let _server = tether::spawn(tether_hyper::serve(listener, app).into_future());
///
///     let client = tether_hyper::Client::new();
///     let res = client.get(format!("http://{addr}/").parse()?).await?;
///     assert_eq!(res.status(), 200);
///     let body = res.into_body().collect().await?.to_bytes();
///     assert_eq!(body, "Hello, World!");
///     Ok(())
/// }
/// # use std::future::IntoFuture;
/// ```
pub struct Client<B = Full<Bytes>> {
    inner: legacy::Client<Connector, B>,
}

impl Client {
    /// A client with the defaults: see [`ClientBuilder`].
    pub fn new() -> Client {
        ClientBuilder::new().build()
    }

    /// A builder, to set timeouts, the pool, HTTP/2 and TLS.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl<B> Client<B>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Sends `req` (its URI absolute: `http://host[:port]/path` or `https://...`) on a pooled
    /// connection or a new one, and gives the response once its head has arrived; read the
    /// body from it.
    ///
    /// # Errors
    ///
    /// [`Error`]: connecting failed (the message names the addresses tried; a TLS error is
    /// its source), the connection closed before the response, or hyper rejected the request.
    pub fn request(&self, req: Request<B>) -> ResponseFuture {
        let relative = is_relative(req.method(), req.uri());
        ResponseFuture {
            inner: self.inner.request(req),
            relative,
        }
    }

    /// A `GET` of `uri` with an empty body.
    ///
    /// # Errors
    ///
    /// As [`request`](Client::request).
    pub fn get(&self, uri: Uri) -> ResponseFuture
    where
        B: Default,
    {
        let relative = is_relative(&http::Method::GET, &uri);
        ResponseFuture {
            inner: self.inner.get(uri),
            relative,
        }
    }
}

impl<B> Clone for Client<B> {
    fn clone(&self) -> Client<B> {
        Client {
            inner: self.inner.clone(),
        }
    }
}

impl<B> fmt::Debug for Client<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl<B> tower_service::Service<Request<B>> for Client<B>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Incoming>;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        self.request(req)
    }
}

/// The response to [`Client::request`] or [`Client::get`], once its head has arrived.
#[must_use = "a request is sent only when its future is awaited"]
pub struct ResponseFuture {
    inner: legacy::ResponseFuture,
    /// The request's URI is relative: hyper-util refuses it (see [`is_relative`]).
    relative: bool,
}

/// Whether hyper-util refuses `uri` as not absolute (`UserAbsoluteUriRequired`): it needs a
/// scheme and an authority, or for `CONNECT` an authority.
fn is_relative(method: &http::Method, uri: &Uri) -> bool {
    uri.authority().is_none() || (uri.scheme().is_none() && method != http::Method::CONNECT)
}

impl Future for ResponseFuture {
    type Output = Result<Response<Incoming>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let relative = this.relative;
        Pin::new(&mut this.inner)
            .poll(cx)
            .map_err(|inner| Error { inner, relative })
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// Why a request failed. The message says what happened and what to do: for connection errors
/// it names the host and each address tried (`client error (Connect): tether-hyper: cannot
/// connect to 127.0.0.1:8080 (127.0.0.1:8080: connect timed out after 10s)`), for a relative
/// URI it asks for an absolute one; the source chain leads to the underlying `io::Error`,
/// `rustls::Error` or `hyper::Error`.
pub struct Error {
    inner: legacy::Error,
    /// The request's URI was relative: the message says to use an absolute one.
    relative: bool,
}

impl Error {
    /// Whether opening the connection failed (resolution, connect, TLS handshake): the request
    /// was not sent.
    pub fn is_connect(&self) -> bool {
        self.inner.is_connect()
    }

    /// Whether a timeout ended it (the connect timeout, or an `io::ErrorKind::TimedOut`
    /// underneath).
    pub fn is_timeout(&self) -> bool {
        self.io_error()
            .is_some_and(|e| e.kind() == io::ErrorKind::TimedOut)
    }

    /// The I/O error underneath, if any (for a TLS failure, one whose
    /// [`get_ref`](io::Error::get_ref) is the `rustls::Error`).
    pub fn io_error(&self) -> Option<&io::Error> {
        let mut source = self.inner.source();
        while let Some(e) = source {
            if let Some(c) = e.downcast_ref::<ConnectError>() {
                return c.io_error();
            }
            if let Some(io) = e.downcast_ref::<io::Error>() {
                return Some(io);
            }
            source = e.source();
        }
        None
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // hyper-util's message only names the kind ("client error (Connect)"): add its cause,
        // whose message says what failed and where.
        write!(f, "{}", self.inner)?;
        if let Some(cause) = self.inner.source() {
            write!(f, ": {cause}")?;
        }
        if self.relative && !self.inner.is_connect() {
            write!(
                f,
                ": tether-hyper: the request's URI is relative; use an absolute URI such as \
                 http://host:port/path"
            )?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("message", &self.to_string())
            .field("inner", &self.inner)
            .finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.inner)
    }
}

/// TLS roots: webpki-roots plus extra certificates, or a whole configuration.
#[cfg(feature = "rustls")]
#[derive(Clone)]
enum Tls {
    Roots(Vec<rustls::pki_types::CertificateDer<'static>>),
    Config(std::sync::Arc<rustls::ClientConfig>),
}

/// Builds a [`Client`]. Defaults: connect timeout [`DEFAULT_CONNECT_TIMEOUT`], idle pooled
/// connections closed after [`DEFAULT_POOL_IDLE_TIMEOUT`], no limit of idle connections per
/// host, HTTP/2 only when TLS negotiates it, and for TLS the Mozilla root certificates shipped
/// by webpki-roots (the same on every machine; the system's store is not read).
///
/// # Examples
///
/// Trusting a certificate of your own (a test's, generated with rcgen):
///
/// ```
/// use std::time::Duration;
///
/// let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
/// let client: tether_hyper::Client = tether_hyper::Client::builder()
///     .connect_timeout(Duration::from_secs(2))
///     .add_root_certificate(generated.cert.der().clone())
///     .build();
/// # drop(client);
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    connect_timeout: Option<Duration>,
    pool_idle_timeout: Option<Duration>,
    pool_max_idle_per_host: usize,
    http2_prior_knowledge: bool,
    #[cfg(feature = "rustls")]
    tls: Tls,
}

impl ClientBuilder {
    /// The defaults (see the type's docs).
    pub fn new() -> ClientBuilder {
        ClientBuilder {
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            pool_idle_timeout: Some(DEFAULT_POOL_IDLE_TIMEOUT),
            pool_max_idle_per_host: usize::MAX,
            http2_prior_knowledge: false,
            #[cfg(feature = "rustls")]
            tls: Tls::Roots(Vec::new()),
        }
    }

    /// How long one connection attempt (one address) may take, and then, for `https`, the TLS
    /// handshake; `None`: as long as the OS tries (and the server takes). The error then names
    /// the address.
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> ClientBuilder {
        self.connect_timeout = timeout.into();
        self
    }

    /// How long an unused connection stays in the pool; `None`: until the server closes it.
    pub fn pool_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> ClientBuilder {
        self.pool_idle_timeout = timeout.into();
        self
    }

    /// At most `n` unused connections kept per host (`0`: no reuse).
    pub fn pool_max_idle_per_host(mut self, n: usize) -> ClientBuilder {
        self.pool_max_idle_per_host = n;
        self
    }

    /// Speak HTTP/2 on every connection, with prior knowledge on plain `http` (no upgrade):
    /// for servers known to speak it, such as gRPC servers.
    pub fn http2_prior_knowledge(mut self) -> ClientBuilder {
        self.http2_prior_knowledge = true;
        self
    }

    /// Trusts `cert` as a root for `https`, besides webpki-roots' (replaces a configuration
    /// given to [`tls_config`](ClientBuilder::tls_config)).
    #[cfg(feature = "rustls")]
    pub fn add_root_certificate(
        mut self,
        cert: rustls::pki_types::CertificateDer<'static>,
    ) -> ClientBuilder {
        match &mut self.tls {
            Tls::Roots(extra) => extra.push(cert),
            Tls::Config(_) => self.tls = Tls::Roots(vec![cert]),
        }
        self
    }

    /// Uses `config` for `https` as it is (its roots, provider, client certificate), except
    /// that an empty ALPN list is set to offer `h2` and `http/1.1` (so that HTTP/2 can be
    /// negotiated); build one with [`tls::client_config`](crate::tls::client_config).
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, mut config: rustls::ClientConfig) -> ClientBuilder {
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = crate::tls::ALPN_HTTP.iter().map(|p| p.to_vec()).collect();
        }
        self.tls = Tls::Config(std::sync::Arc::new(config));
        self
    }

    /// The client, for request bodies of type `B` (`Full<Bytes>` for [`Client`]).
    ///
    /// # Panics
    ///
    /// Panics if a certificate given to
    /// [`add_root_certificate`](ClientBuilder::add_root_certificate) is not a valid
    /// certificate, naming it.
    pub fn build<B>(&self) -> Client<B>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
    {
        self.build_with(TetherExecutor::named(TASK_NAME))
    }

    /// The client, its connection tasks children of `scope` (see the [module docs](self)):
    /// they cannot outlive it. Dropping the client (every clone) closes its connections, so
    /// the scope can end; cancelling the scope closes them at once (requests in flight then
    /// fail). The scope must be unbounded (no `max_concurrency`).
    ///
    /// # Panics
    ///
    /// As [`build`](ClientBuilder::build); and a request panics when `scope` is bounded and
    /// full (hyper cannot wait to start a connection's task).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     tether::scope::scope(|s| async move {
    ///         let client: tether_hyper::Client = tether_hyper::Client::builder().build_in(&s);
    ///         // ... requests ...
    ///         drop(client); // its connections close, then the scope ends
    ///         Ok::<_, Infallible>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// }
    /// ```
    pub fn build_in<B>(&self, scope: &tether::scope::Scope<std::convert::Infallible>) -> Client<B>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
    {
        self.build_with(TetherExecutor::in_scope(scope, TASK_NAME))
    }

    fn build_with<B>(&self, executor: TetherExecutor) -> Client<B>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
    {
        let connector = Connector {
            connect_timeout: self.connect_timeout,
            #[cfg(feature = "rustls")]
            tls: match &self.tls {
                Tls::Config(config) => config.clone(),
                Tls::Roots(extra) => {
                    let mut roots = crate::tls::webpki_roots();
                    for (i, cert) in extra.iter().enumerate() {
                        if let Err(e) = roots.add(cert.clone()) {
                            panic!(
                                "tether-hyper: root certificate #{i} given to \
                                 add_root_certificate is not usable: {e}"
                            );
                        }
                    }
                    std::sync::Arc::new(crate::tls::client_config(roots))
                }
            },
        };
        let mut builder = legacy::Client::builder(executor);
        builder
            .timer(TetherTimer)
            .pool_timer(TetherTimer)
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .http2_only(self.http2_prior_knowledge);
        Client {
            inner: builder.build(connector),
        }
    }
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder::new()
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("pool_max_idle_per_host", &self.pool_max_idle_per_host)
            .field("http2_prior_knowledge", &self.http2_prior_knowledge)
            .finish_non_exhaustive()
    }
}
