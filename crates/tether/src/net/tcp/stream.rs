//! `TcpStream`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::io::poll_evented::PollEvented;
use crate::io::scheduled_io::Direction;
use crate::io::stream_mode::StreamMode;
use crate::io::{IoBuf, IoBufMut};
use crate::net::addr::{each_addr, resolve, with_context, ToSocketAddrs};
use crate::net::tcp::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::net::{OsSocket, Sock};

/// A TCP connection.
///
/// Read and write it with the `futures-io` traits it implements; import
/// [`tether::io::AsyncReadExt`](crate::io::AsyncReadExt) and
/// [`AsyncWriteExt`](crate::io::AsyncWriteExt) for `read`, `read_exact`, `write_all`, ...
/// `&TcpStream` implements them too, so one task can read while another writes; or split the
/// stream with [`split`](TcpStream::split) / [`into_split`](TcpStream::into_split).
///
/// # Examples
///
/// ```
/// use tether::io::{AsyncReadExt, AsyncWriteExt};
/// use tether::net::{TcpListener, TcpStream};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let server = tether::spawn(async move {
///         let (mut s, _) = listener.accept().await?;
///         let mut line = String::new();
///         s.read_to_string(&mut line).await?;
///         std::io::Result::Ok(line)
///     });
///     let mut c = TcpStream::connect(addr).await?;
///     c.write_all(b"ping").await?;
///     c.close().await?; // shuts down the write side: the server sees end-of-stream
///     assert_eq!(server.await.unwrap()?, "ping");
///     Ok(())
/// }
/// ```
pub struct TcpStream {
    /// Completion mode on io_uring; declared first so it is dropped before `io`
    /// (`uring_stream.rs` rule 5).
    mode: StreamMode,
    io: PollEvented<Sock<mio::net::TcpStream>>,
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn.
    ///
    /// # Errors
    ///
    /// Fails when the address cannot be resolved or nothing accepts the connection; the message
    /// names the address (for example "connection refused ... (nothing is listening at that
    /// address)").
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let addrs = resolve(addr).await?;
        each_addr(addrs, |a| async move {
            connect_addr(a)
                .await
                .map_err(|e| with_context(e, "could not connect to", &a))
        })
        .await
    }

    #[track_caller]
    pub(crate) fn from_mio(s: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            mode: StreamMode::new(),
            io: PollEvented::new_lazy(Sock::<mio::net::TcpStream>::from(s), "TcpStream")?,
        })
    }

    /// A stream a listener accepted (real, or simulated inside a simulation).
    #[track_caller]
    pub(crate) fn from_sock(s: Sock<mio::net::TcpStream>) -> io::Result<TcpStream> {
        #[cfg(feature = "sim")]
        let io = crate::sim::socket::register_stream(s, "TcpListener::accept")?;
        #[cfg(not(feature = "sim"))]
        let io = PollEvented::new_lazy(s, "TcpListener::accept")?;
        Ok(TcpStream {
            mode: StreamMode::new(),
            io,
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
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        TcpStream::from_std_as(s, "TcpStream::from_std")
    }

    /// `from_std`, naming `what` if it panics outside a runtime.
    #[track_caller]
    fn from_std_as(s: std::net::TcpStream, what: &'static str) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        Ok(TcpStream {
            mode: StreamMode::new(),
            io: PollEvented::new_lazy(Sock::from(mio::net::TcpStream::from_std(s)), what)?,
        })
    }

    /// Gives back a standard stream (in non-blocking mode), deregistered from the runtime.
    ///
    /// # Errors
    ///
    /// `Unsupported` for a stream of a simulation (`tether::sim`), which has no descriptor.
    /// On the io_uring driver, an error for a stream that was read or written through
    /// `AsyncRead`/`AsyncWrite` and still has bytes received, a receive armed, or bytes not yet
    /// sent (they live in the runtime's operations, not the socket): convert before the first
    /// read or write, or run on epoll.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.mode.check_detachable()?;
        Ok(std::net::TcpStream::from(OsSocket::into_os(
            self.io.into_inner(),
        )?))
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Enables or disables Nagle's algorithm (`TCP_NODELAY`): `true` sends small writes at once.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets `SO_LINGER`: with `Some(d)`, closing the socket waits up to `d` for unsent data to
    /// go out, and with `None` (the default) closing returns at once and the system sends the
    /// data in the background.
    ///
    /// A nonzero duration makes the drop of this stream block its thread (a runtime worker)
    /// for up to `d`, even though the socket is non-blocking. tokio deprecates this method for
    /// that reason; tether does not, as `None` and a zero duration are harmless, but avoid the
    /// others. To reset the connection on close, call [`set_zero_linger`](Self::set_zero_linger).
    pub fn set_linger(&self, dur: Option<Duration>) -> io::Result<()> {
        #[cfg(feature = "sim")]
        if let Sock::Sim(_) = self.io.get_ref() {
            return Ok(());
        }
        socket2::SockRef::from(self.io.get_ref().as_os()).set_linger(dur)
    }

    /// Makes closing the socket reset the connection (`SO_LINGER` with a zero duration): the
    /// peer gets an `RST` instead of an orderly end of stream, data not yet sent is discarded,
    /// and the socket skips `TIME_WAIT`. Closing does not block.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::io::AsyncReadExt;
    /// use tether::net::{TcpListener, TcpStream};
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (mut server, _) = listener.accept().await?;
    ///     client.set_zero_linger()?;
    ///     assert_eq!(client.linger()?, Some(Duration::ZERO));
    ///     drop(client);
    ///     let err = server.read(&mut [0u8; 8]).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    ///     Ok(())
    /// }
    /// ```
    pub fn set_zero_linger(&self) -> io::Result<()> {
        self.set_linger(Some(Duration::ZERO))
    }

    /// The `SO_LINGER` setting; see [`set_linger`](Self::set_linger).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        #[cfg(feature = "sim")]
        if let Sock::Sim(_) = self.io.get_ref() {
            return Ok(None);
        }
        socket2::SockRef::from(self.io.get_ref().as_os()).linger()
    }

    /// Sets the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Reads data without removing it from the socket's receive queue: the next read returns
    /// the same bytes. Waits until data (or end-of-stream, `Ok(0)`) is there.
    ///
    /// # Errors
    ///
    /// The OS's error, or an error once the runtime has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::io::{AsyncReadExt, AsyncWriteExt};
    /// use tether::net::{TcpListener, TcpStream};
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (mut server, _) = listener.accept().await?;
    ///     client.write_all(b"GET /").await?;
    ///     let mut head = [0u8; 3];
    ///     let n = server.peek(&mut head).await?;
    ///     assert_eq!(&head[..n], &b"GET"[..n]);
    ///     let mut all = [0u8; 5];
    ///     server.read_exact(&mut all).await?; // the peeked bytes are still there
    ///     assert_eq!(&all, b"GET /");
    ///     Ok(())
    /// }
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if let Some(s) = self.mode.active() {
            // Bytes a receive took are only in its queue (`uring_stream.rs` rule 1).
            let queued = std::future::poll_fn(|cx| match s.poll_peek(cx, buf) {
                Some(p) => p.map(Some),
                None => std::task::Poll::Ready(None),
            })
            .await;
            if let Some(r) = queued {
                return r;
            }
        }
        self.io.async_io(Direction::Read, |s| s.peek(buf)).await
    }

    /// Reads once into an owned buffer, which comes back with the result: up to
    /// [`bytes_total`](IoBuf::bytes_total) bytes, from the buffer's first byte (a `Vec`'s length
    /// becomes at least the count read). `Ok(0)` is end-of-stream.
    ///
    /// On the io_uring driver this is one `IORING_OP_RECV` straight into the buffer, which the
    /// driver owns until the kernel is done with it: dropping the future cancels the receive
    /// (and the buffer is freed once the kernel lets go of it). On epoll, or for a simulated
    /// socket, it is the readiness path, reading into the buffer.
    ///
    /// # Errors
    ///
    /// The OS's error, or an error once the runtime has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::net::{TcpListener, TcpStream};
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (server, _) = listener.accept().await?;
    ///
    ///     let (sent, _) = client.write_all_owned(b"hello".to_vec()).await;
    ///     sent?;
    ///     let (n, buf) = server.read_owned(vec![0u8; 16]).await;
    ///     assert_eq!(&buf[..n?], b"hello");
    ///     Ok(())
    /// }
    /// ```
    pub async fn read_owned<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        crate::io::owned::read_owned(&self.io, buf).await
    }

    /// Writes once from an owned buffer's initialized bytes
    /// ([`bytes_init`](IoBuf::bytes_init)), which comes back with the count written (possibly
    /// fewer than all; see [`write_all_owned`](TcpStream::write_all_owned)).
    ///
    /// One `IORING_OP_SEND` on the io_uring driver, the readiness path otherwise (as
    /// [`read_owned`](TcpStream::read_owned)).
    ///
    /// # Errors
    ///
    /// The OS's error (a reset connection, ...), or an error once the runtime has shut down.
    pub async fn write_owned<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        crate::io::owned::write_owned(&self.io, buf).await
    }

    /// Writes every initialized byte of an owned buffer, which comes back with the result.
    ///
    /// # Errors
    ///
    /// As [`write_owned`](TcpStream::write_owned); `WriteZero` if the socket accepts no more.
    /// After an error, an unknown prefix of the bytes was sent.
    pub async fn write_all_owned<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        crate::io::owned::write_all_owned(&self.io, buf).await
    }

    /// Splits the stream into a reading and a writing half that borrow it.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split::split(self)
    }

    /// Splits the stream into owned halves that can move to different tasks. Dropping the write
    /// half shuts down the write direction. [`OwnedReadHalf::reunite`] puts them back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split::into_split(self)
    }
}

/// Starts a non-blocking connect and waits for it to complete.
async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
    #[cfg(feature = "sim")]
    if let Some(world) = crate::sim::socket::current_world() {
        return Ok(TcpStream {
            mode: StreamMode::new(),
            io: crate::sim::socket::tcp_connect(world, addr).await?,
        });
    }
    connect_mio(mio::net::TcpStream::connect(addr)?).await
}

/// Waits for the connect that `s` started to complete, registering `s` with the runtime.
pub(crate) async fn connect_mio(s: mio::net::TcpStream) -> io::Result<TcpStream> {
    let stream = TcpStream::from_mio(s)?;
    stream.writable().await?;
    if let Some(e) = stream.io.get_ref().take_error()? {
        return Err(e);
    }
    // Writable without an error means connected; `peer_addr` confirms it.
    stream.peer_addr()?;
    Ok(stream)
}

stream_common!(
    TcpStream,
    r#"use tether::net::{TcpListener, TcpStream};

#[tether::main]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let a = TcpStream::connect(listener.local_addr()?).await?;
    let (b, _) = listener.accept().await?;"#
);
fd_impls!(TcpStream, std::net::TcpStream);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
