//! Networking: TCP, UDP and (on Unix) Unix domain sockets driven by the runtime's reactor.
//!
//! Every socket registers with the reactor of the runtime it is created in, edge-triggered, and
//! waits for readiness without blocking the thread. Streams implement the `futures-io`
//! `AsyncRead`/`AsyncWrite` traits; import [`tether::io::AsyncReadExt`](crate::io::AsyncReadExt)
//! and [`AsyncWriteExt`](crate::io::AsyncWriteExt) for the convenience methods.
//!
//! Addresses are anything [`ToSocketAddrs`] accepts. Host names are resolved on the blocking
//! pool ([`lookup_host`]), never on the event loop. Errors are `io::Error`s whose message names
//! the address and, for the usual causes (refused, in use), says what they mean.
//!
//! Sockets must be created inside a runtime (`block_on`, a task, or `Handle::enter`); creating
//! one elsewhere panics with a message saying so. [`TcpSocket`], a socket still being
//! configured (address and port reuse, buffer sizes, the address to connect from), needs a
//! runtime only when it connects or listens.
//!
//! Besides the `async fn`s, every socket has tokio's readiness API: `ready(Interest)` returns
//! the [`Ready`](crate::io::Ready) state found, `readable`/`writable` wait for one direction,
//! and `try_read`/`try_write`/`try_send`/`try_recv` act without waiting (`WouldBlock` clears
//! the readiness they observed, so the next wait is for a new event); `try_io`/`async_io` run an
//! operation of one's own on the descriptor under the same rule.
//!
//! Every socket type implements `AsFd`/`AsRawFd` (the descriptor it uses), `IntoRawFd` and
//! `into_std` (giving it up, deregistered, still non-blocking), and `from_std`, `TryFrom` and
//! `FromRawFd` (taking one in and registering it with the current runtime; `FromRawFd`, which
//! tokio does not offer on registered types, panics where `from_std` returns an error). On
//! Windows the same traits are the `*Socket` ones (`AsSocket`, `AsRawSocket`, `IntoRawSocket`,
//! `FromRawSocket`), and the `unix` module does not exist.

#[macro_use]
mod macros;
mod addr;
pub mod tcp;
mod udp;
#[cfg(unix)]
pub mod unix;

use std::io;

#[cfg(feature = "sim")]
pub(crate) use crate::sim::socket::Sock;
/// What a TCP or UDP socket type registers: the mio socket itself, or (feature `sim`) a
/// `sim::socket::Sock` that is the mio socket or a simulated one.
#[cfg(not(feature = "sim"))]
pub(crate) type Sock<O> = O;

/// The operating-system socket behind what a socket type registers (the value itself, except
/// for a simulated socket, which has none).
pub(crate) trait OsSocket: Sized {
    type Os;
    /// The OS socket. Panics for a simulated one (the descriptor traits cannot work there).
    fn as_os(&self) -> &Self::Os;
    /// The OS socket, given up. `Unsupported` for a simulated one.
    fn into_os(self) -> io::Result<Self::Os>;
}

macro_rules! os_socket_identity {
    ($($t:ty),*) => {$(
        impl OsSocket for $t {
            type Os = $t;
            fn as_os(&self) -> &$t {
                self
            }
            fn into_os(self) -> io::Result<$t> {
                Ok(self)
            }
        }
    )*};
}

os_socket_identity!(
    mio::net::TcpStream,
    mio::net::TcpListener,
    mio::net::UdpSocket
);
#[cfg(unix)]
os_socket_identity!(
    mio::net::UnixStream,
    mio::net::UnixListener,
    mio::net::UnixDatagram
);

/// One read into the unfilled part of a tokio `ReadBuf` (feature `tokio-io`), for the stream
/// types' `poll_read_buf_priv`.
#[cfg(feature = "tokio-io")]
pub(crate) trait ReadIntoBuf {
    fn read_buf(&self, buf: &mut tokio::io::ReadBuf<'_>) -> io::Result<usize>;
}

#[cfg(feature = "tokio-io")]
impl ReadIntoBuf for mio::net::TcpStream {
    fn read_buf(&self, buf: &mut tokio::io::ReadBuf<'_>) -> io::Result<usize> {
        crate::io::poll_evented::read_into_buf(self, buf)
    }
}

#[cfg(all(feature = "tokio-io", unix))]
impl ReadIntoBuf for mio::net::UnixStream {
    fn read_buf(&self, buf: &mut tokio::io::ReadBuf<'_>) -> io::Result<usize> {
        crate::io::poll_evented::read_into_buf(self, buf)
    }
}

pub use addr::{lookup_host, ToSocketAddrs};
pub use tcp::{TcpListener, TcpSocket, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixListener, UnixStream};

/// Whether an `accept` error means the process or system ran out of file descriptors (`EMFILE`,
/// `ENFILE`) or memory (`ENOBUFS`, `ENOMEM`).
///
/// The connection that caused it stays queued, so accepting again at once fails the same way:
/// wait before retrying (see [`TcpListener`]'s docs for the loop).
///
/// On Windows, the Winsock counterparts: `WSAEMFILE` and `WSAENOBUFS`.
pub fn is_resource_exhausted(e: &io::Error) -> bool {
    #[cfg(unix)]
    return matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    #[cfg(windows)]
    return matches!(
        e.raw_os_error(),
        Some(
            windows_sys::Win32::Networking::WinSock::WSAEMFILE
                | windows_sys::Win32::Networking::WinSock::WSAENOBUFS
        )
    );
}
