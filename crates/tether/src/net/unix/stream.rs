//! `UnixStream`.

use std::fmt;
use std::io;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use crate::io::poll_evented::PollEvented;
use crate::io::stream_mode::StreamMode;
use crate::net::addr::with_context;
use crate::net::unix::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};

/// A connection over a Unix domain socket.
///
/// It implements the `futures-io` traits like [`TcpStream`](crate::net::TcpStream) does.
///
/// # Examples
///
/// ```
/// use tether::io::{AsyncReadExt, AsyncWriteExt};
/// use tether::net::UnixStream;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let (mut a, mut b) = UnixStream::pair()?;
///     a.write_all(b"over a pair").await?;
///     let mut buf = [0u8; 11];
///     b.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"over a pair");
///     Ok(())
/// }
/// ```
pub struct UnixStream {
    /// Completion mode on io_uring; declared first so it is dropped before `io`
    /// (`uring_stream.rs` rule 5).
    mode: StreamMode,
    io: PollEvented<mio::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path`. On Linux and Android, a path that starts with a NUL
    /// byte (`"\0name"`) names an abstract socket, as in tokio.
    ///
    /// # Errors
    ///
    /// Fails when nothing listens at `path`; the message names it.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let ctx = |e| with_context(e, "could not connect to the Unix socket", &path.display());
        let s = super::socket_addr(path)
            .and_then(|addr| mio::net::UnixStream::connect_addr(&addr))
            .map_err(ctx)?;
        let stream = UnixStream::from_mio(s)?;
        stream.writable().await?;
        if let Some(e) = stream.io.get_ref().take_error()? {
            return Err(ctx(e));
        }
        Ok(stream)
    }

    /// Two connected streams, for talking within the process.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::from_mio(a)?, UnixStream::from_mio(b)?))
    }

    #[track_caller]
    pub(crate) fn from_mio(s: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            mode: StreamMode::new(),
            io: PollEvented::new_lazy(s, "UnixStream")?,
        })
    }

    /// Wraps a standard stream, switching it to non-blocking mode.
    ///
    /// # Errors
    ///
    /// Fails if the stream cannot be made non-blocking or registered with the reactor.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    #[track_caller]
    pub fn from_std(s: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        UnixStream::from_std_as(s, "UnixStream::from_std")
    }

    /// `from_std`, naming `what` if it panics outside a runtime.
    #[track_caller]
    fn from_std_as(
        s: std::os::unix::net::UnixStream,
        what: &'static str,
    ) -> io::Result<UnixStream> {
        s.set_nonblocking(true)?;
        Ok(UnixStream {
            mode: StreamMode::new(),
            io: PollEvented::new_lazy(mio::net::UnixStream::from_std(s), what)?,
        })
    }

    /// Gives back a standard stream (in non-blocking mode), deregistered from the runtime.
    ///
    /// # Errors
    ///
    /// On the io_uring driver, an error for a stream that was read or written through
    /// `AsyncRead`/`AsyncWrite` and still has bytes received, a receive armed, or bytes not yet
    /// sent (as [`TcpStream::into_std`](crate::net::TcpStream::into_std)).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        use std::os::fd::{FromRawFd, IntoRawFd};
        self.mode.check_detachable()?;
        let fd = self.io.into_inner().into_raw_fd();
        // SAFETY: `fd` was just released by the mio stream, so we own it exclusively.
        Ok(unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Splits the stream into a reading and a writing half that borrow it.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split::split(self)
    }

    /// Splits the stream into owned halves; see [`TcpStream::into_split`](crate::net::TcpStream::into_split).
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split::into_split(self)
    }
}

cfg_peer_cred! {
    impl UnixStream {
        /// The credentials of the process at the other end: its user and group ids, and its
        /// process id where the system reports it ([`UCred::pid`](super::UCred::pid)), as they
        /// were when the connection was made.
        ///
        /// A server uses it to decide what a local client may do without a password: the client
        /// cannot forge the ids, the kernel supplies them. On Linux and Android it reads
        /// `SO_PEERCRED`; on the Apple systems `getpeereid` and `LOCAL_PEERPID`; on FreeBSD,
        /// DragonFly, NetBSD and OpenBSD `getpeereid` (no process id). Not offered elsewhere.
        ///
        /// # Errors
        ///
        /// The OS's error, for example `NotConnected` for a stream whose peer is gone on systems
        /// that forget it.
        ///
        /// # Examples
        ///
        /// ```
        /// use tether::net::UnixStream;
        ///
        /// #[tether::main]
        /// async fn main() -> std::io::Result<()> {
        ///     let (a, b) = UnixStream::pair()?;
        ///     let cred = a.peer_cred()?;
        ///     // Both ends belong to this process, so each sees the same credentials.
        ///     assert_eq!(cred, b.peer_cred()?);
        ///     #[cfg(target_os = "linux")]
        ///     assert_eq!(cred.pid(), Some(std::process::id() as i32));
        ///     Ok(())
        /// }
        /// ```
        pub fn peer_cred(&self) -> io::Result<super::UCred> {
            use std::os::fd::AsFd;
            super::ucred::peer_cred(self.io.get_ref().as_fd())
        }
    }
}

stream_common!(
    UnixStream,
    r#"use tether::net::UnixStream;

#[tether::main]
async fn main() -> std::io::Result<()> {
    let (a, b) = UnixStream::pair()?;"#
);
fd_impls!(UnixStream, std::os::unix::net::UnixStream);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
