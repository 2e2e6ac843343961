//! `UnixDatagram`.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};

use crate::io::poll_evented::PollEvented;
use crate::io::scheduled_io::Direction;
use crate::net::addr::with_context;

/// A Unix domain datagram socket: messages, each delivered whole or not at all, between
/// processes (or tasks) of one machine.
///
/// Bound to a path ([`bind`](UnixDatagram::bind)) it receives from anyone who sends to that
/// path; [`unbound`](UnixDatagram::unbound) it can still send. After
/// [`connect`](UnixDatagram::connect) it talks to one peer with [`send`](UnixDatagram::send) and
/// [`recv`](UnixDatagram::recv). [`pair`](UnixDatagram::pair) gives two connected sockets
/// without any file. All methods take `&self`, so one socket can be shared (in an `Arc`) by a
/// sending and a receiving task.
///
/// Addresses are `std::os::unix::net::SocketAddr` (tokio wraps it in a type of its own): call
/// `as_pathname()` for the path.
///
/// # Examples
///
/// ```
/// use tether::net::UnixDatagram;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let dir = std::env::temp_dir().join(format!("tether-dgram-doc-{}", std::process::id()));
///     std::fs::create_dir_all(&dir)?;
///     let server_path = dir.join("server.sock");
///     let _ = std::fs::remove_file(&server_path);
///
///     let server = UnixDatagram::bind(&server_path)?;
///     let client = UnixDatagram::unbound()?;
///     client.send_to(b"ping", &server_path).await?;
///
///     let mut buf = [0u8; 16];
///     let (n, from) = server.recv_from(&mut buf).await?;
///     assert_eq!(&buf[..n], b"ping");
///     assert!(from.is_unnamed()); // an unbound sender cannot be answered
///
///     std::fs::remove_dir_all(&dir)?;
///     Ok(())
/// }
/// ```
pub struct UnixDatagram {
    io: PollEvented<mio::net::UnixDatagram>,
}

impl UnixDatagram {
    /// Creates a socket bound to the socket file `path`, which must not exist yet (remove a
    /// stale one first; the file stays after the socket is dropped).
    ///
    /// # Errors
    ///
    /// Fails when the file exists or the directory is not writable; the message names the
    /// path.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let path = path.as_ref();
        let s = mio::net::UnixDatagram::bind(path).map_err(|e| {
            with_context(
                e,
                "could not bind a Unix datagram socket to",
                &path.display(),
            )
        })?;
        UnixDatagram::from_mio(s, "UnixDatagram::bind")
    }

    /// Creates a socket bound to no address: it can send, and receive answers only after
    /// [`connect`](UnixDatagram::connect) (an unbound sender has no address to answer to).
    ///
    /// # Errors
    ///
    /// Fails when the OS refuses a socket.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    #[track_caller]
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_mio(mio::net::UnixDatagram::unbound()?, "UnixDatagram::unbound")
    }

    /// Two sockets connected to each other, for talking within the process (or with a child
    /// that inherits one).
    ///
    /// # Errors
    ///
    /// Fails when the OS refuses the sockets.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::net::UnixDatagram;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let (a, b) = UnixDatagram::pair()?;
    ///     a.send(b"one").await?;
    ///     a.send(b"two").await?;
    ///     let mut buf = [0u8; 8];
    ///     let n = b.recv(&mut buf).await?; // one datagram per receive
    ///     assert_eq!(&buf[..n], b"one");
    ///     let n = b.recv(&mut buf).await?;
    ///     assert_eq!(&buf[..n], b"two");
    ///     Ok(())
    /// }
    /// ```
    #[track_caller]
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((
            UnixDatagram::from_mio(a, "UnixDatagram::pair")?,
            UnixDatagram::from_mio(b, "UnixDatagram::pair")?,
        ))
    }

    #[track_caller]
    fn from_mio(s: mio::net::UnixDatagram, what: &'static str) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: PollEvented::new(s, what)?,
        })
    }

    /// Wraps a standard socket, switching it to non-blocking mode.
    ///
    /// # Errors
    ///
    /// Fails if the socket cannot be made non-blocking or registered with the reactor.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    #[track_caller]
    pub fn from_std(datagram: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std_as(datagram, "UnixDatagram::from_std")
    }

    /// `from_std`, naming `what` if it panics outside a runtime.
    #[track_caller]
    fn from_std_as(
        s: std::os::unix::net::UnixDatagram,
        what: &'static str,
    ) -> io::Result<UnixDatagram> {
        s.set_nonblocking(true)?;
        UnixDatagram::from_mio(mio::net::UnixDatagram::from_std(s), what)
    }

    /// Gives back a standard socket (in non-blocking mode), deregistered from the runtime.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is tokio's signature.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixDatagram> {
        use std::os::fd::{FromRawFd, IntoRawFd};
        let fd = self.io.into_inner().into_raw_fd();
        // SAFETY: `fd` was just released by the mio socket, so we own it exclusively.
        Ok(unsafe { std::os::unix::net::UnixDatagram::from_raw_fd(fd) })
    }

    /// Sets the default peer: [`send`](UnixDatagram::send) goes to `path`, and only datagrams
    /// from it are received.
    ///
    /// # Errors
    ///
    /// Fails when no socket is bound at `path`; the message names it.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = path.as_ref();
        self.io.get_ref().connect(path).map_err(|e| {
            with_context(
                e,
                "could not connect the Unix datagram socket to",
                &path.display(),
            )
        })
    }

    /// Sends a datagram to the connected peer, waiting for room in the send buffer.
    ///
    /// # Errors
    ///
    /// Fails when the socket is not connected (`NotConnected`), the peer is gone
    /// (`ConnectionRefused`), or the datagram is too large.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.async_io(Direction::Write, |s| s.send(buf)).await
    }

    /// Sends to the connected peer without waiting: `WouldBlock` when the send buffer is full.
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or as [`send`](UnixDatagram::send).
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |s| s.send(buf))
    }

    /// Receives a datagram from the connected peer (or anyone, if bound and not connected).
    /// A datagram longer than `buf` is cut to fit; the rest is lost.
    ///
    /// # Errors
    ///
    /// The OS's error, or an error once the runtime has shut down.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.async_io(Direction::Read, |s| s.recv(buf)).await
    }

    /// Receives without waiting: `WouldBlock` when no datagram is queued.
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS's error.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |s| s.recv(buf))
    }

    /// Sends a datagram to the socket bound at `target`.
    ///
    /// # Errors
    ///
    /// Fails when nothing is bound at `target` (the message names it), or the datagram is too
    /// large.
    pub async fn send_to(&self, buf: &[u8], target: impl AsRef<Path>) -> io::Result<usize> {
        let target = target.as_ref();
        self.io
            .async_io(Direction::Write, |s| s.send_to(buf, target))
            .await
            .map_err(|e| with_context(e, "could not send a datagram to", &target.display()))
    }

    /// Sends to `target` without waiting: `WouldBlock` when the send buffer is full.
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or as [`send_to`](UnixDatagram::send_to).
    pub fn try_send_to(&self, buf: &[u8], target: impl AsRef<Path>) -> io::Result<usize> {
        let target = target.as_ref();
        self.io
            .try_io(Direction::Write, |s| s.send_to(buf, target))
            .map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock => e,
                _ => with_context(e, "could not send a datagram to", &target.display()),
            })
    }

    /// Receives a datagram and the address of its sender (unnamed if the sender is unbound).
    ///
    /// # Errors
    ///
    /// The OS's error, or an error once the runtime has shut down.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io
            .async_io(Direction::Read, |s| s.recv_from(buf))
            .await
    }

    /// Receives with its sender's address without waiting: `WouldBlock` when no datagram is
    /// queued.
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS's error.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_io(Direction::Read, |s| s.recv_from(buf))
    }

    /// Polls to receive a datagram from the connected peer. The waker is kept until the next
    /// read event.
    ///
    /// # Errors
    ///
    /// As [`recv`](UnixDatagram::recv).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Read, |s| s.recv(buf))
    }

    /// Polls to send a datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// As [`send`](UnixDatagram::send).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Write, |s| s.send(buf))
    }

    /// Polls to receive a datagram and its sender's address.
    ///
    /// # Errors
    ///
    /// As [`recv_from`](UnixDatagram::recv_from).
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_io(cx, Direction::Read, |s| s.recv_from(buf))
    }

    /// Polls to send a datagram to `target`.
    ///
    /// # Errors
    ///
    /// As [`send_to`](UnixDatagram::send_to).
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: impl AsRef<Path>,
    ) -> Poll<io::Result<usize>> {
        let target = target.as_ref();
        self.io
            .poll_io(cx, Direction::Write, |s| s.send_to(buf, target))
    }

    /// The address the socket is bound to (unnamed if unbound).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` when the socket is not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// Fails if the option cannot be read.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Shuts down the read, write, or both directions. Sending after shutting down writing
    /// fails with `BrokenPipe`, and so does the peer's sending after shutting down reading. On
    /// Linux a receive on a datagram socket whose reading was shut down is not woken: it keeps
    /// waiting (for the other directions' shutdown, use a stream socket).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }
}

readiness_methods!(
    UnixDatagram,
    r#"use tether::io::Interest;
use tether::net::UnixDatagram;

#[tether::main]
async fn main() -> std::io::Result<()> {
    let (a, b) = UnixDatagram::pair()?;
    let ready = a.ready(Interest::WRITABLE).await?;
    assert!(ready.is_writable());
    a.try_send(b"hi")?;
    let mut buf = [0u8; 8];
    loop {
        b.ready(Interest::READABLE).await?;
        match b.try_recv(&mut buf) {
            Ok(n) => {
                assert_eq!(&buf[..n], b"hi");
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}"#
);
fd_impls!(UnixDatagram, std::os::unix::net::UnixDatagram);

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
