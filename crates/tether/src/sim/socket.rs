//! The simulated backend of `net`'s socket types: `Sock<O>` is what a `TcpStream`,
//! `TcpListener` or `UdpSocket` registers with the reactor when the feature `sim` is on:
//! either the real mio socket `O` or a simulated one.
//!
//! A simulated socket registers with the runtime's reactor like a real one (it gets a
//! `ScheduledIo`), but its `mio::event::Source` methods touch no descriptor; the simulated
//! network (`net.rs`) sets its readiness instead of epoll. Its `Read`/`Write` and socket
//! methods mirror mio's, so `net`'s code is the same for both kinds: the choice is made once,
//! when a socket is bound or connected inside a simulation.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::net::ConnectState;
use super::world::{HostId, World};
use crate::io::poll_evented::PollEvented;

/// A real socket `O`, or a simulated one.
pub(crate) enum Sock<O> {
    Os(O),
    Sim(SimSock),
}

/// A simulated socket: which world, and which of its connections or ports.
pub(crate) struct SimSock {
    world: Arc<World>,
    kind: SimKind,
}

enum SimKind {
    Stream {
        conn: u64,
        side: usize,
    },
    Listener {
        host: HostId,
        port: u16,
        addr: SocketAddr,
        /// Which binding of the port this is (`net.rs`, `Listener`).
        binding: u64,
    },
    Udp {
        host: HostId,
        addr: SocketAddr,
        binding: u64,
        peer: std::sync::Mutex<Option<SocketAddr>>,
    },
}

impl<O> From<O> for Sock<O>
where
    O: mio::event::Source,
{
    fn from(o: O) -> Sock<O> {
        Sock::Os(o)
    }
}

fn no_descriptor(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("tether::sim: a simulated socket has no {what}"),
    )
}

impl<O: mio::event::Source> mio::event::Source for Sock<O> {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        match self {
            Sock::Os(o) => o.register(r, t, i),
            Sock::Sim(_) => Ok(()),
        }
    }

    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        match self {
            Sock::Os(o) => o.reregister(r, t, i),
            Sock::Sim(_) => Ok(()),
        }
    }

    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        match self {
            Sock::Os(o) => o.deregister(r),
            Sock::Sim(_) => Ok(()),
        }
    }
}

impl<O: crate::io::source::IoSource> crate::io::source::IoSource for Sock<O> {
    #[cfg(target_os = "linux")]
    fn uring_fd(&self) -> Option<std::os::fd::RawFd> {
        match self {
            Sock::Os(o) => o.uring_fd(),
            // No descriptor: the simulated network sets the readiness.
            Sock::Sim(_) => None,
        }
    }
}

impl<O> crate::net::OsSocket for Sock<O> {
    type Os = O;

    fn as_os(&self) -> &O {
        self.os()
    }

    fn into_os(self) -> io::Result<O> {
        Sock::into_os(self)
    }
}

#[cfg(feature = "tokio-io")]
impl crate::net::ReadIntoBuf for Sock<mio::net::TcpStream> {
    fn read_buf(&self, buf: &mut tokio::io::ReadBuf<'_>) -> io::Result<usize> {
        match self {
            Sock::Os(s) => crate::io::poll_evented::read_into_buf(s, buf),
            Sock::Sim(_) => {
                let n = (&*self).read(buf.initialize_unfilled())?;
                buf.advance(n);
                Ok(n)
            }
        }
    }
}

impl<O> Sock<O> {
    /// The real socket, for conversions into std types.
    ///
    /// # Errors
    ///
    /// `Unsupported` for a simulated socket.
    pub(crate) fn into_os(self) -> io::Result<O> {
        match self {
            Sock::Os(o) => Ok(o),
            Sock::Sim(_) => Err(no_descriptor("standard-library counterpart")),
        }
    }

    /// The real socket, for the descriptor traits.
    ///
    /// # Panics
    ///
    /// For a simulated socket, which has no descriptor.
    pub(crate) fn os(&self) -> &O {
        match self {
            Sock::Os(o) => o,
            Sock::Sim(_) => panic!(
                "tether::sim: a simulated socket has no file descriptor; code that needs one \
                 (AsRawFd, socket2::SockRef, into_std) cannot run inside a simulation"
            ),
        }
    }
}

impl SimSock {
    /// Wakes what the network collected after an operation (`world.rs` rule 1).
    fn with_net<R>(
        &self,
        f: impl FnOnce(&mut super::net::Network, &mut dyn FnMut() -> u64) -> R,
    ) -> R {
        let mut wakers = Vec::new();
        let r = {
            let mut st = self.world.lock();
            let st = &mut *st;
            let explorer = &mut st.explorer;
            let r = f(&mut st.net, &mut || explorer.draw());
            st.net.flush_wakers(&mut wakers);
            r
        };
        wakers.into_iter().for_each(std::task::Waker::wake);
        r
    }

    fn stream(&self) -> (u64, usize) {
        match self.kind {
            SimKind::Stream { conn, side } => (conn, side),
            _ => unreachable!("a stream operation on a simulated listener or UDP socket"),
        }
    }

    fn local_addr(&self) -> SocketAddr {
        match &self.kind {
            SimKind::Stream { conn, side } => self.world.lock().net.tcp_addrs(*conn, *side).0,
            SimKind::Listener { addr, .. } | SimKind::Udp { addr, .. } => *addr,
        }
    }
}

impl Drop for SimSock {
    fn drop(&mut self) {
        let mut st = self.world.lock();
        match &self.kind {
            SimKind::Stream { conn, side } => st.net.tcp_close(*conn, *side),
            SimKind::Listener {
                host,
                port,
                binding,
                ..
            } => st.net.tcp_unbind(*host, *port, *binding),
            SimKind::Udp {
                host,
                addr,
                binding,
                ..
            } => st.net.udp_unbind(*host, addr.port(), *binding),
        }
    }
}

/// The world of the current runtime, if it is a simulation.
pub(crate) fn current_world() -> Option<Arc<World>> {
    crate::runtime::context::current_handle().and_then(|h| h.shared.sim.clone())
}

/// Registers a simulated socket with the current runtime's reactor and attaches its readiness
/// to the network.
fn register<O: crate::io::source::IoSource>(
    sock: SimSock,
    what: &str,
) -> io::Result<PollEvented<Sock<O>>> {
    let world = sock.world.clone();
    enum Attach {
        Stream(u64, usize),
        Listener(HostId, u16, u64),
        Udp(HostId, u16, u64),
    }
    let attach = match &sock.kind {
        SimKind::Stream { conn, side } => Attach::Stream(*conn, *side),
        SimKind::Listener {
            host,
            port,
            binding,
            ..
        } => Attach::Listener(*host, *port, *binding),
        SimKind::Udp {
            host,
            addr,
            binding,
            ..
        } => Attach::Udp(*host, addr.port(), *binding),
    };
    let pe = PollEvented::new(Sock::Sim(sock), what)?;
    let sio = pe.scheduled_io();
    let mut st = world.lock();
    match attach {
        Attach::Stream(conn, side) => st.net.tcp_attach(conn, side, sio),
        Attach::Listener(host, port, binding) => {
            st.net.tcp_listener_attach(host, port, binding, sio)
        }
        Attach::Udp(host, port, binding) => st.net.udp_attach(host, port, binding, sio),
    }
    Ok(pe)
}

// ---- TCP ----

/// A vectored read or write of a simulated stream, one buffer at a time: `op` returns a
/// buffer's length and what the operation did with it; stops at the first short one (so a read
/// keeps the short-read rule) or at an error after some bytes.
fn each_buffer<B>(
    bufs: impl Iterator<Item = B>,
    mut op: impl FnMut(B) -> (usize, io::Result<usize>),
) -> io::Result<usize> {
    let mut total = 0;
    for b in bufs {
        match op(b) {
            (len, Ok(n)) => {
                total += n;
                if n < len {
                    break;
                }
            }
            (_, Err(e)) if total == 0 => return Err(e),
            (_, Err(_)) => break,
        }
    }
    Ok(total)
}

/// `TcpListener::bind` inside a simulation.
pub(crate) fn tcp_bind<O: crate::io::source::IoSource>(
    world: Arc<World>,
    addr: SocketAddr,
) -> io::Result<PollEvented<Sock<O>>> {
    let host = world.current_host();
    let (local, binding) = world.lock().net.tcp_bind(host, addr)?;
    register(
        SimSock {
            world,
            kind: SimKind::Listener {
                host,
                port: local.port(),
                addr: local,
                binding,
            },
        },
        "TcpListener::bind",
    )
}

/// `TcpStream::connect` to one address inside a simulation: waits for the answer.
pub(crate) async fn tcp_connect<O: crate::io::source::IoSource>(
    world: Arc<World>,
    addr: SocketAddr,
) -> io::Result<PollEvented<Sock<O>>> {
    let host = world.current_host();
    let conn = {
        let mut st = world.lock();
        let st = &mut *st;
        let explorer = &mut st.explorer;
        st.net.tcp_connect(host, addr, &mut || explorer.draw())?
    };
    // Until the stream owns the connection, dropping this future (a `timeout` around
    // `connect`) or failing gives the connection up: the server's end gets a reset.
    struct Abandon<'a> {
        world: &'a World,
        conn: u64,
        armed: bool,
    }
    impl Drop for Abandon<'_> {
        fn drop(&mut self) {
            if self.armed {
                self.world.lock().net.tcp_abandon(self.conn, 0);
            }
        }
    }
    let mut guard = Abandon {
        world: &world,
        conn,
        armed: true,
    };
    let state = std::future::poll_fn(|cx: &mut Context<'_>| {
        match world.lock().net.tcp_connect_state(conn, cx.waker()) {
            ConnectState::Pending => Poll::Pending,
            s => Poll::Ready(s),
        }
    })
    .await;
    let fail = |kind: io::ErrorKind, msg: &str| {
        Err(io::Error::new(kind, format!("{msg} (simulated network)")))
    };
    if state == ConnectState::Established {
        // From here the socket owns the connection (its drop closes it).
        guard.armed = false;
    }
    match state {
        ConnectState::Established => register(
            SimSock {
                world: world.clone(),
                kind: SimKind::Stream { conn, side: 0 },
            },
            "TcpStream::connect",
        ),
        ConnectState::Refused => fail(io::ErrorKind::ConnectionRefused, "connection refused"),
        ConnectState::TimedOut => fail(io::ErrorKind::TimedOut, "connection timed out"),
        ConnectState::Reset | ConnectState::Pending => {
            fail(io::ErrorKind::ConnectionReset, "connection reset")
        }
    }
}

impl<O> Sock<O> {
    fn sim(&self) -> Option<&SimSock> {
        match self {
            Sock::Os(_) => None,
            Sock::Sim(s) => Some(s),
        }
    }
}

impl Sock<mio::net::TcpListener> {
    /// mio's `accept`, or a simulated connection.
    pub(crate) fn accept(&self) -> io::Result<(Sock<mio::net::TcpStream>, SocketAddr)> {
        match self {
            Sock::Os(l) => l.accept().map(|(s, a)| (Sock::Os(s), a)),
            Sock::Sim(s) => {
                let SimKind::Listener {
                    host,
                    port,
                    binding,
                    ..
                } = s.kind
                else {
                    unreachable!("a simulated listener")
                };
                let (conn, peer) = s.world.lock().net.tcp_accept(host, port, binding)?;
                Ok((
                    Sock::Sim(SimSock {
                        world: s.world.clone(),
                        kind: SimKind::Stream { conn, side: 1 },
                    }),
                    peer,
                ))
            }
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Sock::Os(l) => l.local_addr(),
            Sock::Sim(s) => Ok(s.local_addr()),
        }
    }
}

/// An accepted simulated stream becomes registered when `TcpStream` wraps it.
pub(crate) fn register_stream(
    sock: Sock<mio::net::TcpStream>,
    what: &str,
) -> io::Result<PollEvented<Sock<mio::net::TcpStream>>> {
    match sock {
        Sock::Os(_) => PollEvented::new(sock, what),
        Sock::Sim(s) => register(s, what),
    }
}

impl crate::net::SockRw for Sock<mio::net::TcpStream> {
    fn sock_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Os(s) => s.sock_read(buf),
            Sock::Sim(_) => (&*self).read(buf),
        }
    }

    fn sock_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Os(s) => s.sock_write(buf),
            Sock::Sim(_) => (&*self).write(buf),
        }
    }

    fn sock_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sock::Os(s) => s.sock_write_vectored(bufs),
            Sock::Sim(_) => (&*self).write_vectored(bufs),
        }
    }
}

impl Read for &Sock<mio::net::TcpStream> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Os(s) => (&*s).read(buf),
            Sock::Sim(s) => {
                let (conn, side) = s.stream();
                s.with_net(|net, _| net.tcp_read(conn, side, buf, false))
            }
        }
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            Sock::Os(s) => (&*s).read_vectored(bufs),
            // One buffer at a time keeps the short-read rule: stop at the first short one.
            Sock::Sim(_) => each_buffer(bufs.iter_mut(), |b| (b.len(), self.read(b))),
        }
    }
}

impl Write for &Sock<mio::net::TcpStream> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Os(s) => (&*s).write(buf),
            Sock::Sim(s) => {
                let (conn, side) = s.stream();
                s.with_net(|net, draw| net.tcp_write(conn, side, buf, draw))
            }
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sock::Os(s) => (&*s).write_vectored(bufs),
            Sock::Sim(_) => each_buffer(bufs.iter(), |b| (b.len(), self.write(b))),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sock<mio::net::TcpStream> {
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Sock::Os(s) => s.local_addr(),
            Sock::Sim(s) => Ok(s.local_addr()),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Sock::Os(s) => s.peer_addr(),
            Sock::Sim(s) => {
                let (conn, side) = s.stream();
                Ok(s.world.lock().net.tcp_addrs(conn, side).1)
            }
        }
    }

    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Sock::Os(s) => s.set_nodelay(on),
            Sock::Sim(_) => Ok(()),
        }
    }

    pub(crate) fn nodelay(&self) -> io::Result<bool> {
        match self {
            Sock::Os(s) => s.nodelay(),
            Sock::Sim(_) => Ok(true),
        }
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Sock::Os(s) => s.take_error(),
            Sock::Sim(_) => Ok(None),
        }
    }

    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        match self {
            Sock::Os(s) => s.shutdown(how),
            Sock::Sim(s) => {
                let (conn, side) = s.stream();
                if matches!(how, std::net::Shutdown::Write | std::net::Shutdown::Both) {
                    s.with_net(|net, _| net.tcp_shutdown_write(conn, side));
                }
                Ok(())
            }
        }
    }

    pub(crate) fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Os(s) => s.peek(buf),
            Sock::Sim(s) => {
                let (conn, side) = s.stream();
                s.with_net(|net, _| net.tcp_read(conn, side, buf, true))
            }
        }
    }
}

// ---- UDP ----

/// `UdpSocket::bind` inside a simulation.
pub(crate) fn udp_bind(
    world: Arc<World>,
    addr: SocketAddr,
) -> io::Result<PollEvented<Sock<mio::net::UdpSocket>>> {
    let host = world.current_host();
    let (local, binding) = world.lock().net.udp_bind(host, addr)?;
    register(
        SimSock {
            world,
            kind: SimKind::Udp {
                host,
                addr: local,
                binding,
                peer: std::sync::Mutex::new(None),
            },
        },
        "UdpSocket::bind",
    )
}

/// A simulated UDP socket's binding and connected peer, read for one operation.
struct SimUdp<'a> {
    sock: &'a SimSock,
    host: HostId,
    addr: SocketAddr,
    binding: u64,
    peer: Option<SocketAddr>,
}

impl Sock<mio::net::UdpSocket> {
    fn udp(&self) -> Option<SimUdp<'_>> {
        let s = self.sim()?;
        match &s.kind {
            SimKind::Udp {
                host,
                addr,
                binding,
                peer,
            } => Some(SimUdp {
                sock: s,
                host: *host,
                addr: *addr,
                binding: *binding,
                peer: *peer.lock().unwrap_or_else(|e| e.into_inner()),
            }),
            _ => unreachable!("a simulated UDP socket"),
        }
    }

    pub(crate) fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        match self.udp() {
            None => self.os().send_to(buf, target),
            Some(u) => u
                .sock
                .with_net(|net, draw| net.udp_send(u.host, u.addr, u.binding, target, buf, draw)),
        }
    }

    pub(crate) fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self.udp() {
            None => self.os().recv_from(buf),
            Some(u) => u.sock.with_net(|net, _| {
                net.udp_recv(u.host, u.addr.port(), u.binding, buf, false, u.peer)
            }),
        }
    }

    pub(crate) fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self.udp() {
            None => self.os().peek_from(buf),
            Some(u) => u.sock.with_net(|net, _| {
                net.udp_recv(u.host, u.addr.port(), u.binding, buf, true, u.peer)
            }),
        }
    }

    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        match self.udp() {
            None => self.os().send(buf),
            Some(SimUdp { peer: None, .. }) => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the socket is not connected; call connect first or use send_to",
            )),
            Some(SimUdp {
                peer: Some(peer), ..
            }) => self.send_to(buf, peer),
        }
    }

    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from(buf).map(|(n, _)| n)
    }

    pub(crate) fn connect(&self, target: SocketAddr) -> io::Result<()> {
        match self {
            Sock::Os(s) => s.connect(target),
            Sock::Sim(s) => match &s.kind {
                SimKind::Udp { peer, .. } => {
                    *peer.lock().unwrap_or_else(|e| e.into_inner()) = Some(target);
                    Ok(())
                }
                _ => unreachable!("a simulated UDP socket"),
            },
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Sock::Os(s) => s.local_addr(),
            Sock::Sim(s) => Ok(s.local_addr()),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self.udp() {
            None => self.os().peer_addr(),
            Some(u) => u.peer.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotConnected, "the socket is not connected")
            }),
        }
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Sock::Os(s) => s.take_error(),
            Sock::Sim(_) => Ok(None),
        }
    }

    pub(crate) fn set_broadcast(&self, on: bool) -> io::Result<()> {
        match self {
            Sock::Os(s) => s.set_broadcast(on),
            Sock::Sim(_) => Ok(()),
        }
    }

    pub(crate) fn broadcast(&self) -> io::Result<bool> {
        match self {
            Sock::Os(s) => s.broadcast(),
            Sock::Sim(_) => Ok(false),
        }
    }
}

/// `lookup_host` inside a simulation: host names resolve to the hosts' addresses.
pub(crate) fn resolve(world: &World, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if host == "localhost" {
        return Ok(vec![SocketAddr::new(
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port,
        )]);
    }
    match world.host_by_name(host) {
        Some(h) => Ok(vec![SocketAddr::new(world.lock().net.ip_of(h), port)]),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "failed to look up {host:?}: no host or client of this simulation has that name"
            ),
        )),
    }
}

/// `set_ttl`/`ttl` of each socket kind: a simulated socket has no TTL to set and reports 64.
macro_rules! ttl_methods {
    ($($t:ty),*) => {$(
        impl Sock<$t> {
            pub(crate) fn set_ttl(&self, ttl: u32) -> io::Result<()> {
                match self {
                    Sock::Os(s) => s.set_ttl(ttl),
                    Sock::Sim(_) => Ok(()),
                }
            }

            pub(crate) fn ttl(&self) -> io::Result<u32> {
                match self {
                    Sock::Os(s) => s.ttl(),
                    Sock::Sim(_) => Ok(64),
                }
            }
        }
    )*};
}

ttl_methods!(
    mio::net::TcpListener,
    mio::net::TcpStream,
    mio::net::UdpSocket
);
