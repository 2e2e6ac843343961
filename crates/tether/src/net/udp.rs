//! `UdpSocket`.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
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

    /// Sets the IP time-to-live (`IP_TTL`) of the datagrams this socket sends.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::net::UdpSocket;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let socket = UdpSocket::bind("127.0.0.1:0").await?;
    ///     socket.set_ttl(42)?;
    ///     assert_eq!(socket.ttl()?, 42);
    ///     Ok(())
    /// }
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live (`IP_TTL`); see [`set_ttl`](Self::set_ttl).
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Joins the IPv4 multicast group `multiaddr` on the local interface whose address is
    /// `interface` (`IP_ADD_MEMBERSHIP`); `Ipv4Addr::UNSPECIFIED` lets the system choose the
    /// interface. The socket then receives the group's datagrams sent to its port.
    ///
    /// # Errors
    ///
    /// The OS's error: `multiaddr` is not a multicast address, no interface has the address
    /// `interface` or none can route multicast (`ENODEV`, common in containers without a
    /// multicast route), or the socket is IPv6. `Unsupported` for a socket of a simulation
    /// (`tether::sim`), whose network has no multicast.
    ///
    /// # Examples
    ///
    /// A receiver of an mDNS-style group (`no_run`: the machine may have no multicast route):
    ///
    /// ```no_run
    /// use std::net::Ipv4Addr;
    /// use tether::net::UdpSocket;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let socket = UdpSocket::bind("0.0.0.0:5353").await?;
    ///     socket.join_multicast_v4(Ipv4Addr::new(224, 0, 0, 251), Ipv4Addr::UNSPECIFIED)?;
    ///     let mut buf = [0u8; 1500];
    ///     let (n, from) = socket.recv_from(&mut buf).await?;
    ///     println!("{n} bytes from {from}");
    ///     Ok(())
    /// }
    /// ```
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.os("join a multicast group")?
            .join_multicast_v4(&multiaddr, &interface)
    }

    /// Joins the IPv6 multicast group `multiaddr` on the interface of index `interface`
    /// (`IPV6_ADD_MEMBERSHIP`); 0 lets the system choose.
    ///
    /// # Errors
    ///
    /// As [`join_multicast_v4`](Self::join_multicast_v4), for an IPv4 socket too.
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.os("join a multicast group")?
            .join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group joined with
    /// [`join_multicast_v4`](Self::join_multicast_v4) with the same arguments
    /// (`IP_DROP_MEMBERSHIP`).
    ///
    /// # Errors
    ///
    /// The OS's error, for example when the socket is not a member (`EADDRNOTAVAIL`).
    /// `Unsupported` in a simulation.
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.os("leave a multicast group")?
            .leave_multicast_v4(&multiaddr, &interface)
    }

    /// Leaves an IPv6 multicast group joined with
    /// [`join_multicast_v6`](Self::join_multicast_v6) (`IPV6_DROP_MEMBERSHIP`).
    ///
    /// # Errors
    ///
    /// As [`leave_multicast_v4`](Self::leave_multicast_v4).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.os("leave a multicast group")?
            .leave_multicast_v6(multiaddr, interface)
    }

    /// Whether the multicast datagrams this socket sends to a group come back to the sockets of
    /// this machine that joined it (`IP_MULTICAST_LOOP`, on by default). For an IPv4 socket.
    ///
    /// In a simulation the option is accepted and ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::net::UdpSocket;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let socket = UdpSocket::bind("127.0.0.1:0").await?;
    ///     socket.set_multicast_loop_v4(false)?;
    ///     socket.set_multicast_ttl_v4(4)?; // may cross up to three routers
    ///     assert!(!socket.multicast_loop_v4()?);
    ///     assert_eq!(socket.multicast_ttl_v4()?, 4);
    ///     Ok(())
    /// }
    /// ```
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        match self.os_or_sim() {
            Some(s) => s.set_multicast_loop_v4(on),
            None => Ok(()),
        }
    }

    /// The `IP_MULTICAST_LOOP` setting; see
    /// [`set_multicast_loop_v4`](Self::set_multicast_loop_v4). `true` in a simulation.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        match self.os_or_sim() {
            Some(s) => s.multicast_loop_v4(),
            None => Ok(true),
        }
    }

    /// Sets the time-to-live of the IPv4 multicast datagrams this socket sends
    /// (`IP_MULTICAST_TTL`): 1, the default, keeps them on the local network.
    ///
    /// In a simulation the option is accepted and ignored.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        match self.os_or_sim() {
            Some(s) => s.set_multicast_ttl_v4(ttl),
            None => Ok(()),
        }
    }

    /// The `IP_MULTICAST_TTL` setting; see
    /// [`set_multicast_ttl_v4`](Self::set_multicast_ttl_v4). 1 in a simulation.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        match self.os_or_sim() {
            Some(s) => s.multicast_ttl_v4(),
            None => Ok(1),
        }
    }

    /// Whether the multicast datagrams this IPv6 socket sends come back to the sockets of this
    /// machine that joined the group (`IPV6_MULTICAST_LOOP`, on by default).
    ///
    /// # Errors
    ///
    /// The OS's error, for example for an IPv4 socket on some systems. In a simulation the
    /// option is accepted and ignored.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        match self.os_or_sim() {
            Some(s) => s.set_multicast_loop_v6(on),
            None => Ok(()),
        }
    }

    /// The `IPV6_MULTICAST_LOOP` setting; see
    /// [`set_multicast_loop_v6`](Self::set_multicast_loop_v6). `true` in a simulation.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        match self.os_or_sim() {
            Some(s) => s.multicast_loop_v6(),
            None => Ok(true),
        }
    }

    /// Sets the type-of-service byte (`IP_TOS`: the DSCP class and the ECN bits) of the IPv4
    /// datagrams this socket sends.
    ///
    /// Not on Fuchsia, Redox, Solaris, illumos or Haiku. On Windows, only from Windows 8 and
    /// Server 2012. In a simulation the option is accepted and ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::net::UdpSocket;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let socket = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let expedited = 46 << 2; // DSCP class EF, no ECN
    ///     socket.set_tos_v4(expedited)?;
    ///     #[cfg(unix)] // Windows applies it only from Windows 8 on
    ///     assert_eq!(socket.tos_v4()?, expedited);
    ///     Ok(())
    /// }
    /// ```
    #[cfg(not(any(
        target_os = "fuchsia",
        target_os = "redox",
        target_os = "solaris",
        target_os = "illumos",
        target_os = "haiku"
    )))]
    pub fn set_tos_v4(&self, tos: u32) -> io::Result<()> {
        match self.os_or_sim() {
            Some(s) => socket2::SockRef::from(s).set_tos(tos),
            None => Ok(()),
        }
    }

    /// The `IP_TOS` byte; see [`set_tos_v4`](Self::set_tos_v4). 0 in a simulation.
    #[cfg(not(any(
        target_os = "fuchsia",
        target_os = "redox",
        target_os = "solaris",
        target_os = "illumos",
        target_os = "haiku"
    )))]
    pub fn tos_v4(&self) -> io::Result<u32> {
        match self.os_or_sim() {
            Some(s) => socket2::SockRef::from(s).tos(),
            None => Ok(0),
        }
    }

    /// [`set_tos_v4`](Self::set_tos_v4) under its earlier name, which tokio deprecated in
    /// favour of the `_v4` one.
    #[deprecated(note = "renamed `set_tos_v4`, as in tokio: the option is IPv4's")]
    #[cfg(not(any(
        target_os = "fuchsia",
        target_os = "redox",
        target_os = "solaris",
        target_os = "illumos",
        target_os = "haiku"
    )))]
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        self.set_tos_v4(tos)
    }

    /// [`tos_v4`](Self::tos_v4) under its earlier name, which tokio deprecated in favour of
    /// the `_v4` one.
    #[deprecated(note = "renamed `tos_v4`, as in tokio: the option is IPv4's")]
    #[cfg(not(any(
        target_os = "fuchsia",
        target_os = "redox",
        target_os = "solaris",
        target_os = "illumos",
        target_os = "haiku"
    )))]
    pub fn tos(&self) -> io::Result<u32> {
        self.tos_v4()
    }

    /// The operating-system socket, or `None` for a socket of a simulation (feature `sim`),
    /// which has none: the options above are then accepted and ignored.
    fn os_or_sim(&self) -> Option<&mio::net::UdpSocket> {
        #[cfg(feature = "sim")]
        if let Sock::Sim(_) = self.io.get_ref() {
            return None;
        }
        Some(OsSocket::as_os(self.io.get_ref()))
    }

    /// The operating-system socket for an operation a simulated network cannot do (`what`),
    /// which fails with `Unsupported` there.
    fn os(&self, what: &str) -> io::Result<&mio::net::UdpSocket> {
        self.os_or_sim().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "tether::sim: a simulated UDP socket cannot {what}: the simulated network \
                     has no multicast"
                ),
            )
        })
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
