//! [`Accept`]: what the server does with an accepted TCP connection before serving HTTP on it:
//! nothing ([`Plain`], for [`serve`](crate::serve)), or a TLS handshake (tokio-rustls's
//! `TlsAcceptor`, for [`serve_tls`](crate::serve_tls)).
//!
//! The handshake runs in the connection's own task, never in the accept loop, so a slow client
//! delays only itself. It is bounded by the server's header read timeout (a client that takes
//! that long to say hello is as slow as one that takes that long to send a request's head) and
//! ends at once when the server shuts down. A failed handshake ends the connection quietly:
//! the peer has been told by the TLS alert.

use std::future::{ready, Future, Ready};
use std::io;

use tether::net::TcpStream;

use crate::rt::TetherStream;

/// Turns an accepted connection into the stream HTTP is served on. The handshake runs in the
/// connection's own task, never in the accept loop, bounded by the server's header read
/// timeout, and ends at once when the server shuts down; a failed handshake ends the
/// connection quietly.
///
/// Implemented by [`Plain`] and, with feature `rustls`, by `tokio_rustls::TlsAcceptor`.
/// Implement it to put another handshake in front of HTTP (a PROXY-protocol header, say) and
/// serve with [`serve_with`](crate::serve_with).
pub trait Accept: Clone + Send + Sync + 'static {
    /// The stream HTTP is served on.
    type Stream: TetherStream + Send + 'static;
    /// The handshake.
    type Future: Future<Output = io::Result<Self::Stream>> + Send + 'static;

    /// Starts the handshake on `stream`, a connection just accepted.
    fn accept(&self, stream: TcpStream) -> Self::Future;
}

/// HTTP on the accepted socket as it is: [`serve`](crate::serve)'s [`Accept`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl Accept for Plain {
    type Stream = TcpStream;
    type Future = Ready<io::Result<TcpStream>>;

    fn accept(&self, stream: TcpStream) -> Self::Future {
        ready(Ok(stream))
    }
}

#[cfg(feature = "rustls")]
impl Accept for tokio_rustls::TlsAcceptor {
    type Stream = crate::tls::TlsStream<TcpStream>;
    type Future = std::pin::Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send>>;

    fn accept(&self, stream: TcpStream) -> Self::Future {
        let handshake = tokio_rustls::TlsAcceptor::accept(self, stream);
        Box::pin(async move { Ok(handshake.await?.into()) })
    }
}
