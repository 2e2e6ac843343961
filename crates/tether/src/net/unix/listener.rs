//! `UnixListener`.

use std::fmt;
use std::io;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};

use crate::io::poll_evented::PollEvented;
use crate::io::scheduled_io::Direction;
use crate::io::stream_mode::ListenerMode;
use crate::net::addr::with_context;
use crate::net::UnixStream;

/// A connection a multishot accept took (`uring_accept.rs`): the stream, registered without a
/// poll, and the peer's address.
#[cfg(target_os = "linux")]
fn accepted(fd: std::os::fd::OwnedFd) -> io::Result<(UnixStream, SocketAddr)> {
    let std = std::os::unix::net::UnixStream::from(fd);
    let peer = std.peer_addr().map_err(crate::net::reset_before_accept)?;
    Ok((
        UnixStream::from_mio(mio::net::UnixStream::from_std(std))?,
        peer,
    ))
}

/// A Unix domain socket listening for connections.
///
/// Accept errors are handled as for [`TcpListener`](crate::net::TcpListener).
///
/// # Examples
///
/// ```
/// use tether::io::{AsyncReadExt, AsyncWriteExt};
/// use tether::net::{UnixListener, UnixStream};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let path = std::env::temp_dir().join(format!("tether-doc-{}.sock", std::process::id()));
///     let _ = std::fs::remove_file(&path);
///     let listener = UnixListener::bind(&path)?;
///     let mut client = UnixStream::connect(&path).await?;
///     let (mut server, _) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0u8; 2];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     std::fs::remove_file(&path)?;
///     Ok(())
/// }
/// ```
pub struct UnixListener {
    /// Declared first: dropped (its io_uring accept cancelled) before the registration.
    mode: ListenerMode,
    /// The pause after an accept that ran out of descriptors or memory.
    backoff: crate::net::AcceptBackoff,
    io: PollEvented<mio::net::UnixListener>,
}

impl UnixListener {
    /// Binds a listener to the socket file `path`, which must not exist yet. On Linux and
    /// Android, a path that starts with a NUL byte (`"\0name"`) names an abstract socket, which
    /// has no file, as in tokio.
    ///
    /// # Errors
    ///
    /// Fails when the file exists or the directory is not writable; the message names the path.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let l = super::socket_addr(path)
            .and_then(|addr| mio::net::UnixListener::bind_addr(&addr))
            .map_err(|e| with_context(e, "could not bind a Unix listener to", &path.display()))?;
        Ok(UnixListener {
            mode: ListenerMode::new(),
            backoff: crate::net::AcceptBackoff::new(),
            io: PollEvented::new_lazy(l, "UnixListener::bind")?,
        })
    }

    /// Wraps a standard listener, switching it to non-blocking mode.
    ///
    /// # Errors
    ///
    /// Fails if the listener cannot be made non-blocking or registered with the reactor.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    #[track_caller]
    pub fn from_std(l: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        UnixListener::from_std_as(l, "UnixListener::from_std")
    }

    /// `from_std`, naming `what` if it panics outside a runtime.
    #[track_caller]
    fn from_std_as(
        l: std::os::unix::net::UnixListener,
        what: &'static str,
    ) -> io::Result<UnixListener> {
        l.set_nonblocking(true)?;
        Ok(UnixListener {
            mode: ListenerMode::new(),
            backoff: crate::net::AcceptBackoff::new(),
            io: PollEvented::new_lazy(mio::net::UnixListener::from_std(l), what)?,
        })
    }

    /// Gives back a standard listener (in non-blocking mode), deregistered from the runtime.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is tokio's signature.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        use std::os::fd::{FromRawFd, IntoRawFd};
        self.mode.detach()?;
        let fd = self.io.into_inner().into_raw_fd();
        // SAFETY: `fd` was just released by the mio listener, so we own it exclusively.
        Ok(unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) })
    }

    /// Waits for a connection.
    ///
    /// # Errors
    ///
    /// Returns the OS's error; see [`TcpListener`](crate::net::TcpListener) for how a server
    /// loop should handle `EMFILE`/`ENFILE`.
    ///
    /// On the io_uring driver, a multishot accept, as for
    /// [`TcpListener::accept`](crate::net::TcpListener::accept).
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.backoff.poll_wait(cx)).await;
        let r = self.accept_now().await;
        self.backoff.note(&r);
        r
    }

    async fn accept_now(&self) -> io::Result<(UnixStream, SocketAddr)> {
        #[cfg(target_os = "linux")]
        if let Some(r) = self.mode.accept(&self.io, accepted).await {
            return r;
        }
        let (s, addr) = self
            .io
            .async_io(Direction::Read, mio::net::UnixListener::accept)
            .await?;
        Ok((UnixStream::from_mio(s)?, addr))
    }

    /// Polls for a connection; see [`accept`](UnixListener::accept).
    ///
    /// # Errors
    ///
    /// As `accept`.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        std::task::ready!(self.backoff.poll_wait(cx));
        let r = std::task::ready!(self.poll_accept_now(cx));
        self.backoff.note(&r);
        Poll::Ready(r)
    }

    fn poll_accept_now(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        #[cfg(target_os = "linux")]
        if let Some(p) = self.mode.poll_accept(&self.io, cx, accepted) {
            return p;
        }
        self.io
            .poll_io(cx, Direction::Read, mio::net::UnixListener::accept)
            .map(|res| res.and_then(|(s, addr)| Ok((UnixStream::from_mio(s)?, addr))))
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// Fails if the option cannot be read.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

fd_impls!(UnixListener, std::os::unix::net::UnixListener);
