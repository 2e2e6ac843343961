//! `TcpListener`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use crate::io::poll_evented::PollEvented;
use crate::io::scheduled_io::Direction;
use crate::io::stream_mode::ListenerMode;
use crate::net::addr::{each_addr, resolve, with_context, ToSocketAddrs};
use crate::net::{OsSocket, Sock, TcpStream};

/// A TCP socket listening for connections.
///
/// # Errors while accepting
///
/// [`accept`](TcpListener::accept) returns every error the OS reports. Most concern one incoming
/// connection (`ECONNABORTED`, ...) and the next call succeeds. `EMFILE`/`ENFILE` (the process
/// or system is out of file descriptors) are different: the pending connection stays in the
/// backlog, so retrying at once would fail again. After such an error (any error
/// [`is_resource_exhausted`](crate::net::is_resource_exhausted) recognizes), the listener's next
/// accept first waits 50 ms, so a loop that only logs the error does not spin while closing
/// connections free descriptors. A server may pause longer, or shed load, itself:
///
/// ```no_run
/// use std::time::Duration;
/// use tether::net::{is_resource_exhausted, TcpListener};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:5566").await?;
///     loop {
///         match listener.accept().await {
///             Ok((stream, peer)) => {
///                 tether::spawn(async move { /* serve `stream` */ drop((stream, peer)) });
///             }
///             Err(e) if is_resource_exhausted(&e) => {
///                 eprintln!("accept: {e}; pausing 100 ms");
///                 tether::time::sleep(Duration::from_millis(100)).await;
///             }
///             Err(e) => eprintln!("accept: {e}"),
///         }
///     }
/// }
/// ```
pub struct TcpListener {
    /// Declared first: dropped (its io_uring accept cancelled) before the registration.
    mode: ListenerMode,
    /// The pause after an accept that ran out of descriptors or memory.
    backoff: crate::net::AcceptBackoff,
    io: PollEvented<Sock<mio::net::TcpListener>>,
}

impl TcpListener {
    /// Binds a listener to `addr` (`"127.0.0.1:8080"`, a `SocketAddr`, ...; port 0 picks a free
    /// port). When `addr` resolves to several addresses, each is tried in turn.
    ///
    /// As tokio's: `SO_REUSEADDR` is set (but on Windows), so a restarted server binds an
    /// address its earlier connections still occupy, and up to 1,024 connections may wait to be
    /// accepted (the OS caps it, on Linux at `net.core.somaxconn`): a burst of connections
    /// beyond the backlog is refused or, on Linux, has its handshake dropped and retried, and
    /// data its clients sent can be lost. [`TcpSocket::listen`](crate::net::TcpSocket::listen)
    /// takes another backlog.
    ///
    /// # Errors
    ///
    /// Fails when the address cannot be resolved or bound (in use, not local, privileged port);
    /// the message names the address.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::net::TcpListener;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     assert_ne!(listener.local_addr()?.port(), 0);
    ///     Ok(())
    /// }
    /// ```
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let addrs = resolve(addr).await?;
        each_addr(addrs, |a| async move {
            #[cfg(feature = "sim")]
            if let Some(world) = crate::sim::socket::current_world() {
                return Ok(TcpListener {
                    mode: ListenerMode::new(),
                    backoff: crate::net::AcceptBackoff::new(),
                    io: crate::sim::socket::tcp_bind(world, a)
                        .map_err(|e| with_context(e, "could not bind a TCP listener to", &a))?,
                });
            }
            let l = bind_listener(a)
                .map_err(|e| with_context(e, "could not bind a TCP listener to", &a))?;
            TcpListener::from_mio(l)
        })
        .await
    }

    /// The backlog of [`bind`](TcpListener::bind), as tokio's.
    pub(crate) const BACKLOG: u32 = 1024;

    #[track_caller]
    pub(crate) fn from_mio(l: mio::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            mode: ListenerMode::new(),
            backoff: crate::net::AcceptBackoff::new(),
            io: PollEvented::new_lazy(Sock::from(l), "TcpListener::bind")?,
        })
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// # Errors
    ///
    /// Returns the OS's error; see the [type docs](TcpListener) for how a server loop should
    /// handle `EMFILE`/`ENFILE`.
    ///
    /// On the io_uring driver the first accept arms one multishot accept, which accepts every
    /// later connection as it arrives; `accept` then takes them from the listener's queue
    /// (the peer's address costs a `getpeername`).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.backoff.poll_wait(cx)).await;
        let r = self.accept_now().await;
        self.backoff.note(&r);
        r
    }

    async fn accept_now(&self) -> io::Result<(TcpStream, SocketAddr)> {
        #[cfg(target_os = "linux")]
        if let Some(r) = self.mode.accept(&self.io, accepted).await {
            return r;
        }
        let (s, peer) = self.io.async_io(Direction::Read, |l| l.accept()).await?;
        Ok((TcpStream::from_sock(s)?, peer))
    }

    /// Polls for a connection; see [`accept`](TcpListener::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        std::task::ready!(self.backoff.poll_wait(cx));
        let r = std::task::ready!(self.poll_accept_now(cx));
        self.backoff.note(&r);
        Poll::Ready(r)
    }

    fn poll_accept_now(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        #[cfg(target_os = "linux")]
        if let Some(p) = self.mode.poll_accept(&self.io, cx, accepted) {
            return p;
        }
        match self.io.poll_io(cx, Direction::Read, |l| l.accept()) {
            Poll::Ready(Ok((s, peer))) => Poll::Ready(TcpStream::from_sock(s).map(|s| (s, peer))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
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
    pub fn from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::from_std_as(l, "TcpListener::from_std")
    }

    /// `from_std`, naming `what` if it panics outside a runtime.
    #[track_caller]
    fn from_std_as(l: std::net::TcpListener, what: &'static str) -> io::Result<TcpListener> {
        l.set_nonblocking(true)?;
        Ok(TcpListener {
            mode: ListenerMode::new(),
            backoff: crate::net::AcceptBackoff::new(),
            io: PollEvented::new_lazy(Sock::from(mio::net::TcpListener::from_std(l)), what)?,
        })
    }

    /// Gives back a standard listener (in non-blocking mode), deregistered from the runtime.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is tokio's signature.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        self.mode.detach()?;
        Ok(std::net::TcpListener::from(OsSocket::into_os(
            self.io.into_inner(),
        )?))
    }

    /// The local address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets the IP time-to-live of accepted connections.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }
}

/// A connection a multishot accept took (`uring_accept.rs`): the stream, registered without a
/// poll, and the peer's address.
#[cfg(target_os = "linux")]
fn accepted(fd: std::os::fd::OwnedFd) -> io::Result<(TcpStream, SocketAddr)> {
    let std = std::net::TcpStream::from(fd);
    let peer = std.peer_addr().map_err(crate::net::reset_before_accept)?;
    let s = TcpStream::from_sock(Sock::from(mio::net::TcpStream::from_std(std)))?;
    Ok((s, peer))
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

fd_impls!(TcpListener, std::net::TcpListener);

/// A listening socket on `addr` as [`TcpListener::bind`] makes it (mio's own `bind` listens
/// with a backlog of 128, which a burst of connections overflows).
fn bind_listener(addr: std::net::SocketAddr) -> io::Result<mio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    // `Socket::new` sets close-on-exec.
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(TcpListener::BACKLOG as i32)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}
