//! `UdpSocket`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use crate::io::poll_evented::PollEvented;
use crate::io::scheduled_io::Direction;
use crate::net::addr::{each_addr, resolve, with_context, ToSocketAddrs};
use crate::net::{OsSocket, Sock};

/// A UDP socket.
///
/// Unconnected, it sends to any address with [`send_to`](UdpSocket::send_to) and receives from
/// any with [`recv_from`](UdpSocket::recv_from). After [`connect`](UdpSocket::connect) it talks to
/// one peer with [`send`](UdpSocket::send) and [`recv`](UdpSocket::recv). All methods take
/// `&self`, so one socket can be shared (in an `Arc`) by a sending and a receiving task.
///
/// # Examples
///
/// ```
/// use tether::net::UdpSocket;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let a = UdpSocket::bind("127.0.0.1:0").await?;
///     let b = UdpSocket::bind("127.0.0.1:0").await?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!(&buf[..n], b"ping");
///     assert_eq!(from, a.local_addr()?);
///     Ok(())
/// }
/// ```
pub struct UdpSocket {
    io: PollEvented<Sock<mio::net::UdpSocket>>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// Fails when the address cannot be resolved or bound; the message names it.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let addrs = resolve(addr).await?;
        each_addr(addrs, |a| async move {
            #[cfg(feature = "sim")]
            if let Some(world) = crate::sim::socket::current_world() {
                return Ok(UdpSocket {
                    io: crate::sim::socket::udp_bind(world, a)
                        .map_err(|e| with_context(e, "could not bind a UDP socket to", &a))?,
                });
            }
            let s = mio::net::UdpSocket::bind(a)
                .map_err(|e| with_context(e, "could not bind a UDP socket to", &a))?;
            Ok(UdpSocket {
                io: PollEvented::new(Sock::from(s), "UdpSocket::bind")?,
            })
        })
        .await
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
    pub fn from_std(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
        UdpSocket::from_std_as(s, "UdpSocket::from_std")
    }

    /// `from_std`, naming `what` if it panics outside a runtime.
    #[track_caller]
    fn from_std_as(s: std::net::UdpSocket, what: &'static str) -> io::Result<UdpSocket> {
        s.set_nonblocking(true)?;
        Ok(UdpSocket {
            io: PollEvented::new(Sock::from(mio::net::UdpSocket::from_std(s)), what)?,
        })
    }

    /// Gives back a standard socket (in non-blocking mode), deregistered from the runtime.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is tokio's signature.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(std::net::UdpSocket::from(OsSocket::into_os(
            self.io.into_inner(),
        )?))
    }

    /// Sets the default peer: `send` goes there and `recv` only accepts datagrams from it.
    ///
    /// # Errors
    ///
    /// Fails when the address cannot be resolved or connected to.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addrs = resolve(addr).await?;
        each_addr(addrs, |a| async move {
            self.io
                .get_ref()
                .connect(a)
                .map_err(|e| with_context(e, "could not connect the UDP socket to", &a))
        })
        .await
    }

    /// Sends a datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.async_io(Direction::Write, |s| s.send(buf)).await
    }

    /// Receives a datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.async_io(Direction::Read, |s| s.recv(buf)).await
    }

    /// Sends a datagram to `target`.
    ///
    /// # Errors
    ///
    /// Fails when `target` cannot be resolved or the datagram cannot be sent.
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let addrs = resolve(target).await?;
        let a = addrs[0];
        self.io
            .async_io(Direction::Write, |s| s.send_to(buf, a))
            .await
    }

    /// Receives a datagram and the address it came from.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io
            .async_io(Direction::Read, |s| s.recv_from(buf))
            .await
    }

    /// Receives a datagram without removing it from the queue.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io
            .async_io(Direction::Read, |s| s.peek_from(buf))
            .await
    }

    /// Polls to receive a datagram and its source address.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_io(cx, Direction::Read, |s| s.recv_from(buf))
    }

    /// Polls to send a datagram to `target`.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_io(cx, Direction::Write, |s| s.send_to(buf, target))
    }

    /// Sends without waiting: `WouldBlock` when the send buffer is full.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |s| s.send_to(buf, target))
    }

    /// Receives without waiting: `WouldBlock` when no datagram is queued.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_io(Direction::Read, |s| s.recv_from(buf))
    }

    /// Sends to the connected peer without waiting: `WouldBlock` when the send buffer is full.
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS's error (for example when the socket is not connected).
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |s| s.send(buf))
    }

    /// Receives from the connected peer without waiting: `WouldBlock` when no datagram is
    /// queued.
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS's error.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |s| s.recv(buf))
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

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Enables or disables `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }

    /// Sets the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

readiness_methods!(
    UdpSocket,
    r#"use tether::io::Interest;
use tether::net::UdpSocket;

#[tether::main]
async fn main() -> std::io::Result<()> {
    let a = UdpSocket::bind("127.0.0.1:0").await?;
    let b = UdpSocket::bind("127.0.0.1:0").await?;
    b.send_to(b"hi", a.local_addr()?).await?;
    let mut buf = [0u8; 8];
    loop {
        let ready = a.ready(Interest::READABLE).await?;
        assert!(ready.is_readable());
        match a.try_recv_from(&mut buf) {
            Ok((n, from)) => {
                assert_eq!((&buf[..n], from), (&b"hi"[..], b.local_addr()?));
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}"#
);
fd_impls!(UdpSocket, std::net::UdpSocket);
