//! TLS (feature `rustls`): [`TlsStream`], a tokio-rustls stream over a tether socket as a
//! [`TetherStream`], so that [`TetherIo`](crate::TetherIo) drives hyper over it as over a bare
//! socket; and [`server_config`] / [`client_config`], rustls configurations with the ring
//! provider and HTTP's ALPN protocols.
//!
//! tokio-rustls runs over tether's sockets through tether's `tokio-io` feature (tokio's I/O
//! traits, no tokio runtime). Its reads take tokio's `ReadBuf`, which can point at
//! uninitialized memory, so hyper's read buffer is filled with decrypted bytes without being
//! zeroed first ([`TlsStream`]'s `poll_read_uninit`).

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead as TokioRead, AsyncWrite as TokioWrite, ReadBuf};

use crate::rt::TetherStream;

/// The ALPN protocols offered by [`server_config`] and [`client_config`], in order of
/// preference: HTTP/2, then HTTP/1.1.
pub const ALPN_HTTP: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A TLS connection over a stream `S` (a [`TcpStream`](tether::net::TcpStream)): the client or
/// server side of tokio-rustls, as a `futures-io` stream and a [`TetherStream`].
///
/// [`serve_tls`](crate::serve_tls) and [`Client`](crate::Client) make these; wrap one in
/// [`TetherIo`](crate::TetherIo) to run hyper's connection builders over it yourself.
#[derive(Debug)]
pub struct TlsStream<S> {
    inner: tokio_rustls::TlsStream<S>,
}

impl<S> TlsStream<S> {
    /// The stream under the TLS session.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref().0
    }

    /// The protocol the peers agreed on through ALPN (`b"h2"`, `b"http/1.1"`), if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.inner.get_ref().1.alpn_protocol()
    }

    /// The tokio-rustls stream.
    pub fn into_inner(self) -> tokio_rustls::TlsStream<S> {
        self.inner
    }
}

impl<S> From<tokio_rustls::client::TlsStream<S>> for TlsStream<S> {
    fn from(s: tokio_rustls::client::TlsStream<S>) -> TlsStream<S> {
        TlsStream { inner: s.into() }
    }
}

impl<S> From<tokio_rustls::server::TlsStream<S>> for TlsStream<S> {
    fn from(s: tokio_rustls::server::TlsStream<S>) -> TlsStream<S> {
        TlsStream { inner: s.into() }
    }
}

impl<S: TokioRead + TokioWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        ready!(Pin::new(&mut self.get_mut().inner).poll_read(cx, &mut rb))?;
        Poll::Ready(Ok(rb.filled().len()))
    }
}

impl<S: TokioRead + TokioWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    /// Sends TLS's `close_notify`, then shuts the socket's write side.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

// SAFETY: `poll_read_uninit` returns `Ok(n)` only with `n = rb.filled().len()` for a `ReadBuf`
// over `buf`, and a `ReadBuf` guarantees its filled part is initialized and within its buffer;
// the pointer check below rejects a reader that swapped the `ReadBuf`'s buffer for another.
unsafe impl<S: TokioRead + TokioWrite + Unpin> TetherStream for TlsStream<S> {
    fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let start = buf.as_ptr();
        let mut rb = ReadBuf::uninit(buf);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut rb))?;
        assert_eq!(
            rb.filled().as_ptr(),
            start.cast::<u8>(),
            "tether-hyper: the TLS stream replaced the read buffer"
        );
        Poll::Ready(Ok(rb.filled().len()))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A rustls server configuration for [`serve_tls`](crate::serve_tls): the ring provider, TLS
/// 1.2 and 1.3, no client authentication, `cert_chain` (leaf first) with its `key`, and ALPN
/// [`ALPN_HTTP`] so that clients pick HTTP/2 or HTTP/1.1 during the handshake.
///
/// # Errors
///
/// rustls's error (as `InvalidInput`) when the key does not fit the certificate or is of a
/// kind ring does not support.
///
/// # Examples
///
/// ```
/// let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
/// let key = rustls::pki_types::PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
/// let config =
///     tether_hyper::tls::server_config(vec![generated.cert.der().clone()], key.into()).unwrap();
/// assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
/// ```
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> io::Result<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid)?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map_err(invalid)?;
    config.alpn_protocols = ALPN_HTTP.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A rustls client configuration trusting `roots`, with the ring provider and ALPN
/// [`ALPN_HTTP`]. [`ClientBuilder`](crate::ClientBuilder) builds one from webpki-roots plus
/// the certificates given to [`add_root_certificate`](crate::ClientBuilder::add_root_certificate).
pub fn client_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls's default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = ALPN_HTTP.iter().map(|p| p.to_vec()).collect();
    config
}

/// The root certificates of the Mozilla program, as webpki-roots ships them.
pub fn webpki_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}
