//! `TcpSocket`: a TCP socket configured before it connects or listens.

use std::fmt;
use std::io;
use std::net::SocketAddr;
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
#[cfg(windows)]
use std::os::windows::io::{
    AsRawSocket, AsSocket, BorrowedSocket, FromRawSocket, IntoRawSocket, OwnedSocket, RawSocket,
};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use crate::net::addr::with_context;
use crate::net::tcp::stream::connect_mio;
use crate::net::{TcpListener, TcpStream};

/// A TCP socket that has not connected or listened yet, for setting options first: address
/// and port reuse, buffer sizes, the local address to connect from.
///
/// [`connect`](TcpSocket::connect) turns it into a [`TcpStream`], [`listen`](TcpSocket::listen)
/// into a [`TcpListener`]; both register it with the current runtime. Creating and configuring
/// it needs no runtime. The descriptor is closed when the value is dropped. Options not offered
/// here can be set through `AsFd` (`AsSocket` on Windows) with `socket2::SockRef` or `libc`.
///
/// `TcpListener::bind(addr)` is `new_v4`/`new_v6`, `set_reuseaddr(true)`, `bind(addr)`,
/// `listen(128)`; `TcpStream::connect(addr)` is `new_v4`/`new_v6` and `connect(addr)`.
///
/// # Examples
///
/// Two listeners sharing one port (`SO_REUSEPORT`: the kernel spreads connections over them),
/// and a client connecting from a chosen local address:
///
/// ```
/// use tether::net::TcpSocket;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let first = TcpSocket::new_v4()?;
///     first.set_reuseport(true)?;
///     first.bind("127.0.0.1:0".parse().unwrap())?;
///     let addr = first.local_addr()?;
///     let second = TcpSocket::new_v4()?;
///     second.set_reuseport(true)?;
///     second.bind(addr)?;
///     let (l1, l2) = (first.listen(128)?, second.listen(128)?);
///
///     let client = TcpSocket::new_v4()?;
///     client.set_nodelay(true)?;
///     client.bind("127.0.0.1:0".parse().unwrap())?;
///     let from = client.local_addr()?;
///     let stream = client.connect(addr).await?;
///     assert_eq!(stream.local_addr()?, from);
///     assert!(stream.nodelay()?);
///     drop((l1, l2));
///     Ok(())
/// }
/// ```
pub struct TcpSocket {
    inner: Socket,
}

impl TcpSocket {
    /// Creates an IPv4 TCP socket (`socket(AF_INET, SOCK_STREAM)`), non-blocking and
    /// close-on-exec.
    ///
    /// # Errors
    ///
    /// Fails when the OS refuses a socket (out of descriptors, ...).
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// Creates an IPv6 TCP socket (`socket(AF_INET6, SOCK_STREAM)`); see
    /// [`new_v4`](TcpSocket::new_v4).
    ///
    /// # Errors
    ///
    /// Fails when the OS refuses a socket, or has no IPv6.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        // `Socket::new` sets close-on-exec.
        let inner = Socket::new(domain, Type::STREAM, None)?;
        inner.set_nonblocking(true)?;
        Ok(TcpSocket { inner })
    }

    /// Wraps a standard stream's socket, to read or set its options (`TcpStream::into_std`, then
    /// this). The socket is switched to non-blocking mode when it connects or listens.
    pub fn from_std_stream(std_stream: std::net::TcpStream) -> TcpSocket {
        TcpSocket {
            inner: Socket::from(std_stream),
        }
    }

    /// Sets `SO_KEEPALIVE`: the OS probes an idle connection and fails it if the peer is gone.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.inner.set_keepalive(keepalive)
    }

    /// Whether `SO_KEEPALIVE` is set.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.inner.keepalive()
    }

    /// Sets `SO_REUSEADDR`: a listener can bind an address that connections of an earlier one
    /// still occupy (in `TIME_WAIT`), so a restarted server does not wait minutes to bind.
    /// [`TcpListener::bind`] sets it.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        self.inner.set_reuse_address(reuseaddr)
    }

    /// Whether `SO_REUSEADDR` is set.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.inner.reuse_address()
    }

    /// Sets `SO_REUSEPORT`: several sockets, each with the option set, can bind the same
    /// address and port; on Linux the kernel spreads incoming connections over their listeners.
    ///
    /// Unix only (Windows has no `SO_REUSEPORT`), as in tokio.
    ///
    /// # Errors
    ///
    /// The OS's error.
    #[cfg(unix)]
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        self.inner.set_reuse_port(reuseport)
    }

    /// Whether `SO_REUSEPORT` is set (Unix only).
    ///
    /// # Errors
    ///
    /// The OS's error.
    #[cfg(unix)]
    pub fn reuseport(&self) -> io::Result<bool> {
        self.inner.reuse_port()
    }

    /// Sets the size of the send buffer (`SO_SNDBUF`). The OS may round it (Linux doubles it
    /// for its bookkeeping): read [`send_buffer_size`](TcpSocket::send_buffer_size) for the
    /// size in effect.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_send_buffer_size(size as usize)
    }

    /// The size of the send buffer (`SO_SNDBUF`).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.inner.send_buffer_size().map(saturate)
    }

    /// Sets the size of the receive buffer (`SO_RCVBUF`); see
    /// [`set_send_buffer_size`](TcpSocket::set_send_buffer_size) on rounding.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_recv_buffer_size(size as usize)
    }

    /// The size of the receive buffer (`SO_RCVBUF`).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.inner.recv_buffer_size().map(saturate)
    }

    /// Sets `SO_LINGER`: with `Some(d)`, closing waits up to `d` for unsent data to go out;
    /// `Some(0)` resets the connection on close instead. The connected stream keeps the
    /// setting; a nonzero duration makes its drop block the thread for up to `d` (see
    /// [`TcpStream::set_linger`](crate::net::TcpStream::set_linger)).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn set_linger(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_linger(dur)
    }

    /// Makes closing the connected stream reset the connection (`SO_LINGER` with a zero
    /// duration), as [`TcpStream::set_zero_linger`](crate::net::TcpStream::set_zero_linger).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn set_zero_linger(&self) -> io::Result<()> {
        self.inner.set_linger(Some(Duration::ZERO))
    }

    /// The `SO_LINGER` setting.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.inner.linger()
    }

    /// Sets `TCP_NODELAY`: `true` sends small writes at once instead of coalescing them
    /// (Nagle's algorithm). The connected stream keeps the setting.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// The local address the socket is bound to (`0.0.0.0:0` before `bind` or `connect`).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let addr = self.inner.local_addr()?;
        addr.as_socket().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the socket's address is neither IPv4 nor IPv6",
            )
        })
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// Fails if the option cannot be read.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Binds the socket to `addr` (port 0 picks a free port): the address a listener listens
    /// on, or the one a connection is made from.
    ///
    /// # Errors
    ///
    /// Fails when the address is in use (unless both sockets set
    /// [`set_reuseport`](TcpSocket::set_reuseport)), not local, or of the other IP family; the
    /// message names the address.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner
            .bind(&addr.into())
            .map_err(|e| with_context(e, "could not bind a TCP socket to", &addr))
    }

    /// Connects to `addr` and waits for the connection to complete, registering the socket
    /// with the current runtime.
    ///
    /// # Errors
    ///
    /// Fails when nothing accepts the connection (the message names the address and says what
    /// the error means).
    ///
    /// # Panics
    ///
    /// Panics when awaited outside a tether runtime.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let ctx = |e| with_context(e, "could not connect to", &addr);
        self.inner.set_nonblocking(true)?;
        match self.inner.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if connect_in_progress(&e) => {}
            Err(e) => return Err(ctx(e)),
        }
        let std = std::net::TcpStream::from(self.inner);
        connect_mio(mio::net::TcpStream::from_std(std))
            .await
            .map_err(ctx)
    }

    /// Starts listening, with at most `backlog` connections waiting to be accepted (the OS caps
    /// it, on Linux at `net.core.somaxconn`), and registers the listener with the current
    /// runtime.
    ///
    /// # Errors
    ///
    /// Fails when the OS refuses (for example when an unbound socket's implicit bind finds no
    /// free port).
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    #[track_caller]
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        self.inner.set_nonblocking(true)?;
        self.inner
            .listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        let std = std::net::TcpListener::from(self.inner);
        TcpListener::from_mio(mio::net::TcpListener::from_std(std))
    }
}

/// An OS size as tokio's `u32`.
fn saturate(size: usize) -> u32 {
    u32::try_from(size).unwrap_or(u32::MAX)
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("socket", &self.inner)
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// Whether a non-blocking `connect` failed only because it has started and not finished yet.
fn connect_in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    return e.raw_os_error() == Some(libc::EINPROGRESS);
    // Winsock says `WSAEWOULDBLOCK`, which std maps to `WouldBlock`.
    #[cfg(not(unix))]
    return e.kind() == io::ErrorKind::WouldBlock;
}

#[cfg(unix)]
impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

#[cfg(unix)]
impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

/// Takes ownership of a TCP socket descriptor. No runtime is needed until it connects or
/// listens.
///
/// # Safety
///
/// `fd` must be an open TCP socket owned by nobody else: the `TcpSocket` closes it.
#[cfg(unix)]
impl FromRawFd for TcpSocket {
    unsafe fn from_raw_fd(fd: RawFd) -> TcpSocket {
        // SAFETY: this function's contract: `fd` is an open socket that nobody else owns.
        let inner = unsafe { Socket::from_raw_fd(fd) };
        TcpSocket { inner }
    }
}

/// Gives up the descriptor, which the caller must close.
#[cfg(unix)]
impl IntoRawFd for TcpSocket {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_raw_fd()
    }
}

#[cfg(unix)]
impl From<TcpSocket> for OwnedFd {
    fn from(s: TcpSocket) -> OwnedFd {
        s.inner.into()
    }
}

#[cfg(windows)]
impl AsRawSocket for TcpSocket {
    fn as_raw_socket(&self) -> RawSocket {
        self.inner.as_raw_socket()
    }
}

#[cfg(windows)]
impl AsSocket for TcpSocket {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        self.inner.as_socket()
    }
}

/// Takes ownership of a TCP socket handle. No runtime is needed until it connects or listens.
///
/// # Safety
///
/// `socket` must be an open TCP socket owned by nobody else: the `TcpSocket` closes it.
#[cfg(windows)]
impl FromRawSocket for TcpSocket {
    unsafe fn from_raw_socket(socket: RawSocket) -> TcpSocket {
        // SAFETY: this function's contract: `socket` is an open socket that nobody else owns.
        let inner = unsafe { Socket::from_raw_socket(socket) };
        TcpSocket { inner }
    }
}

/// Gives up the socket handle, which the caller must close.
#[cfg(windows)]
impl IntoRawSocket for TcpSocket {
    fn into_raw_socket(self) -> RawSocket {
        self.inner.into_raw_socket()
    }
}

#[cfg(windows)]
impl From<TcpSocket> for OwnedSocket {
    fn from(s: TcpSocket) -> OwnedSocket {
        s.inner.into()
    }
}
