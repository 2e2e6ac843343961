//! [`Connector`]: how [`Client`](super::Client) opens a connection for a URI, as the tower
//! `Service<Uri>` hyper-util's pooled client calls when it has no idle connection to reuse:
//!
//! 1. **Resolve** the host off the event loop: an IP literal is used as it is; a name goes to
//!    [`tether::net::lookup_host`], which runs the system resolver on tether's blocking pool.
//! 2. **Connect** to each address in turn, each attempt bounded by the connect timeout; the
//!    first that connects wins. An error names every address tried and what happened there.
//! 3. **TLS** for `https`: tokio-rustls over the socket, the handshake bounded by the connect
//!    timeout too, the server's name checked against the certificate, ALPN offering `h2` and `http/1.1`. When the server picks `h2`, the
//!    connection tells the pool so ([`Connected::negotiated_h2`]) and the client speaks HTTP/2
//!    on it. A TLS error is kept as the error's source.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use tether::net::TcpStream;

use crate::rt::TetherIo;

/// The connector's settings.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) connect_timeout: Option<Duration>,
    #[cfg(feature = "rustls")]
    pub(crate) tls: std::sync::Arc<rustls::ClientConfig>,
}

impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(uri).await })
    }
}

impl Connector {
    async fn connect(self, uri: Uri) -> Result<Conn, ConnectError> {
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            other => {
                return Err(ConnectError::msg(format!(
                    "tether-hyper: cannot connect to {uri}: the scheme is {}; use http:// or \
                     https://",
                    other.map_or_else(|| "missing".to_string(), |s| format!("{s:?}"))
                )))
            }
        };
        let Some(host) = uri.host() else {
            return Err(ConnectError::msg(format!(
                "tether-hyper: cannot connect to {uri}: the URI names no host"
            )));
        };
        // `[::1]` in a URI is the IPv6 address `::1`.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = self.connect_tcp(&host, port).await?;
        // Requests are written whole (hyper gathers head and body): Nagle would only delay them.
        let _ = tcp.set_nodelay(true);
        if !https {
            return Ok(Conn::Plain(TetherIo::new(tcp)));
        }
        #[cfg(feature = "rustls")]
        {
            self.handshake(host, tcp).await
        }
        #[cfg(not(feature = "rustls"))]
        {
            drop(tcp);
            Err(ConnectError::msg(format!(
                "tether-hyper: cannot connect to {uri}: https needs tether-hyper's `rustls` \
                 feature (on by default)"
            )))
        }
    }

    /// Steps 1 and 2 of the module docs.
    async fn connect_tcp(&self, host: &str, port: u16) -> Result<TcpStream, ConnectError> {
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tether::net::lookup_host((host.to_string(), port))
                .await
                .map_err(|e| ConnectError::io(format!("tether-hyper: resolving {host}: {e}"), e))?
                .collect(),
        };
        let mut tried = Vec::new();
        let mut last = None;
        for addr in addrs {
            let res = bounded(self.connect_timeout, "connect", TcpStream::connect(addr)).await;
            match res {
                Ok(tcp) => return Ok(tcp),
                Err(e) => {
                    tried.push(format!("{addr}: {e}"));
                    last = Some(e);
                }
            }
        }
        let Some(last) = last else {
            return Err(ConnectError::msg(format!(
                "tether-hyper: {host} resolved to no address"
            )));
        };
        Err(ConnectError::io(
            format!(
                "tether-hyper: cannot connect to {host}:{port} ({})",
                tried.join("; ")
            ),
            last,
        ))
    }

    /// Step 3 of the module docs.
    #[cfg(feature = "rustls")]
    async fn handshake(self, host: String, tcp: TcpStream) -> Result<Conn, ConnectError> {
        use rustls::pki_types::ServerName;
        let name = ServerName::try_from(host.clone()).map_err(|e| {
            ConnectError::io(
                format!("tether-hyper: {host:?} is not a name TLS can check: {e}"),
                io::Error::new(io::ErrorKind::InvalidInput, e),
            )
        })?;
        let peer = tcp
            .peer_addr()
            .map_or_else(|_| String::new(), |a| format!(" ({a})"));
        let handshake = tokio_rustls::TlsConnector::from(self.tls).connect(name, tcp);
        // A server that accepts and never answers must not hang the caller.
        let res = bounded(self.connect_timeout, "handshake", handshake).await;
        let tls = res.map_err(|e| {
            ConnectError::io(format!("tether-hyper: TLS with {host}{peer}: {e}"), e)
        })?;
        Ok(Conn::Tls(Box::new(TetherIo::new(tls.into()))))
    }
}

/// Runs `step` (`what`: "connect", "handshake"), failing it with `TimedOut` after `limit`.
async fn bounded<T>(
    limit: Option<Duration>,
    what: &str,
    step: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let Some(limit) = limit else {
        return step.await;
    };
    match tether::time::timeout(limit, step).await {
        Ok(res) => res,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} timed out after {limit:?}"),
        )),
    }
}

/// A connection of the client: a socket, or TLS over one.
pub(crate) enum Conn {
    Plain(TetherIo<TcpStream>),
    #[cfg(feature = "rustls")]
    /// Boxed: a TLS session's state is over a kilobyte, a socket a few words.
    Tls(Box<TetherIo<crate::tls::TlsStream<TcpStream>>>),
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        match self {
            Conn::Plain(_) => Connected::new(),
            #[cfg(feature = "rustls")]
            Conn::Tls(io) if io.inner().alpn_protocol() == Some(b"h2") => {
                Connected::new().negotiated_h2()
            }
            #[cfg(feature = "rustls")]
            Conn::Tls(_) => Connected::new(),
        }
    }
}

/// Calls `$method` on whichever stream a [`Conn`] holds.
macro_rules! each {
    ($self:ident, $io:ident => $e:expr) => {
        match $self.get_mut() {
            Conn::Plain($io) => $e,
            #[cfg(feature = "rustls")]
            Conn::Tls($io) => $e,
        }
    };
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, io => Pin::new(io).poll_read(cx, buf))
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, io => Pin::new(io).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, io => Pin::new(io).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(io) => hyper::rt::Write::is_write_vectored(io),
            #[cfg(feature = "rustls")]
            Conn::Tls(io) => hyper::rt::Write::is_write_vectored(io),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, io => Pin::new(io).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, io => Pin::new(io).poll_shutdown(cx))
    }
}

/// Why a connection could not be opened: a message naming the host and the addresses tried,
/// with the underlying error (an `io::Error`, for TLS one wrapping the `rustls::Error`) as its
/// source.
#[derive(Debug)]
pub(crate) struct ConnectError {
    msg: String,
    source: Option<io::Error>,
}

impl ConnectError {
    fn msg(msg: String) -> ConnectError {
        ConnectError { msg, source: None }
    }

    fn io(msg: String, source: io::Error) -> ConnectError {
        ConnectError {
            msg,
            source: Some(source),
        }
    }

    /// The underlying I/O error, if any.
    pub(crate) fn io_error(&self) -> Option<&io::Error> {
        self.source.as_ref()
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl StdError for ConnectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}
