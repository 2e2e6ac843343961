//! `TcpSocket` (options, bind, connect, listen, errors that name the address) and the
//! readiness API of the sockets: `ready(Interest)`, `try_read`/`try_write` and their vectored
//! forms, `peek`, `try_io`/`async_io`, `poll_read_ready`.
//!
//! Most scenarios run on both flavors: `current_thread::NAME` and `multi_thread::NAME`. Nothing
//! depends on timing: "still waiting" is checked by polling once, where no event can have come.

mod support;

use support::on_both_flavors;

use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
#[cfg(unix)]
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt, Interest, Ready};
#[cfg(unix)]
use tether::net::UnixStream;
use tether::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

use crate::support::net::tcp_pair;

/// Polls `fut` once; true if it is still waiting.
fn is_pending<F: Future>(fut: F) -> bool {
    let fut = pin!(fut);
    fut.poll(&mut Context::from_waker(Waker::noop()))
        .is_pending()
}

/// Reads with `try_read` until `want` bytes came, waiting with `readable` in between.
async fn try_read_exact(s: &TcpStream, want: usize) -> Vec<u8> {
    let mut got = vec![0u8; want];
    let mut n = 0;
    while n < want {
        match s.try_read(&mut got[n..]) {
            Ok(0) => panic!("EOF after {n} of {want} bytes"),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => s.readable().await.unwrap(),
            Err(e) => panic!("try_read: {e}"),
        }
    }
    got
}

on_both_flavors!(
    tcp_socket_listens_and_connects_from_a_bound_address,
    tcp_socket_connect_refused_names_the_address,
    bind_to_an_address_in_use_names_it,
    #[cfg(unix)]
    reuseport_lets_two_listeners_share_a_port,
    tcp_socket_ipv6,
    ready_waits_for_data_and_reports_what_it_found,
    ready_reports_the_peer_closing,
    vectored_try_read_and_try_write,
    peek_leaves_the_data_for_the_next_read,
    #[cfg(unix)]
    try_io_and_async_io_run_a_custom_operation,
    #[cfg(unix)]
    unix_stream_readiness_and_vectored_io,
    udp_ready_try_send_and_try_recv,
);

// ---- TcpSocket ----------------------------------------------------------------------------

#[test]
fn tcp_socket_options_round_trip_without_a_runtime() {
    let s = TcpSocket::new_v4().unwrap();
    assert_eq!(s.local_addr().unwrap(), "0.0.0.0:0".parse().unwrap());
    for on in [true, false] {
        s.set_reuseaddr(on).unwrap();
        assert_eq!(s.reuseaddr().unwrap(), on);
        #[cfg(unix)]
        {
            s.set_reuseport(on).unwrap();
            assert_eq!(s.reuseport().unwrap(), on);
        }
        s.set_keepalive(on).unwrap();
        assert_eq!(s.keepalive().unwrap(), on);
        s.set_nodelay(on).unwrap();
        assert_eq!(s.nodelay().unwrap(), on);
    }
    s.set_linger(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(3)));
    s.set_linger(None).unwrap();
    assert_eq!(s.linger().unwrap(), None);
    // The OS rounds buffer sizes (Linux doubles them), never below what was asked here.
    s.set_send_buffer_size(64 * 1024).unwrap();
    assert!(s.send_buffer_size().unwrap() >= 64 * 1024);
    s.set_recv_buffer_size(32 * 1024).unwrap();
    assert!(s.recv_buffer_size().unwrap() >= 32 * 1024);
    assert!(s.take_error().unwrap().is_none());
    assert!(format!("{s:?}").starts_with("TcpSocket"));
}

#[test]
#[cfg(unix)]
fn tcp_socket_descriptor_round_trip() {
    use std::os::fd::{AsFd, FromRawFd, IntoRawFd, OwnedFd};
    let s = TcpSocket::new_v4().unwrap();
    s.set_reuseaddr(true).unwrap();
    let fd = s.as_raw_fd();
    assert_eq!(s.as_fd().as_raw_fd(), fd);
    let raw = s.into_raw_fd();
    assert_eq!(raw, fd);
    // SAFETY: `raw` was just given up by the socket above, and nothing else owns it.
    let s = unsafe { TcpSocket::from_raw_fd(raw) };
    assert!(
        s.reuseaddr().unwrap(),
        "the options belong to the descriptor"
    );
    let owned = OwnedFd::from(s);
    assert_eq!(owned.as_raw_fd(), fd);
}

#[test]
fn tcp_socket_listen_outside_a_runtime_panics_with_advice() {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(loopback()).unwrap();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.listen(16)))
        .expect_err("listen outside a runtime must panic");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("outside a tether runtime"), "{msg}");
    assert!(
        msg.contains("net_socket.rs"),
        "the message names the caller: {msg}"
    );
}

async fn tcp_socket_listens_and_connects_from_a_bound_address() {
    let ls = TcpSocket::new_v4().unwrap();
    ls.set_reuseaddr(true).unwrap();
    ls.bind(loopback()).unwrap();
    let addr = ls.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    let listener = ls.listen(64).unwrap();
    assert_eq!(listener.local_addr().unwrap(), addr);

    let cs = TcpSocket::new_v4().unwrap();
    cs.set_nodelay(true).unwrap();
    cs.set_linger(Some(Duration::from_secs(1))).unwrap();
    cs.bind(loopback()).unwrap();
    let from = cs.local_addr().unwrap();
    let (client, accepted) = futures_lite::future::zip(cs.connect(addr), listener.accept()).await;
    let mut client = client.unwrap();
    let (mut server, peer) = accepted.unwrap();
    assert_eq!(peer, from, "the connection comes from the bound address");
    assert_eq!(client.local_addr().unwrap(), from);
    assert_eq!(client.peer_addr().unwrap(), addr);
    assert!(
        client.nodelay().unwrap(),
        "options set before connecting stay"
    );
    assert_eq!(client.linger().unwrap(), Some(Duration::from_secs(1)));

    client.write_all(b"over a TcpSocket").await.unwrap();
    let mut buf = [0u8; 16];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"over a TcpSocket");

    // A standard stream's options can be read through `from_std_stream`.
    let std_stream = client.into_std().unwrap();
    let again = TcpSocket::from_std_stream(std_stream);
    assert!(again.nodelay().unwrap());
    assert_eq!(again.local_addr().unwrap(), from);
}

async fn tcp_socket_connect_refused_names_the_address() {
    // A bound socket that does not listen holds the port, so nothing else can be there.
    let holder = TcpSocket::new_v4().unwrap();
    holder.bind(loopback()).unwrap();
    let addr = holder.local_addr().unwrap();
    let err = TcpSocket::new_v4()
        .unwrap()
        .connect(addr)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()), "{msg}");
    assert!(msg.contains("nothing is listening"), "{msg}");
}

async fn bind_to_an_address_in_use_names_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = TcpSocket::new_v4().unwrap();
    let err = s.bind(addr).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("could not bind a TCP socket to {addr}: ")),
        "{msg}"
    );
    assert!(msg.contains("already bound"), "{msg}");
}

#[cfg(unix)]
async fn reuseport_lets_two_listeners_share_a_port() {
    let first = TcpSocket::new_v4().unwrap();
    first.set_reuseport(true).unwrap();
    first.bind(loopback()).unwrap();
    let addr = first.local_addr().unwrap();
    let l1 = first.listen(16).unwrap();

    // Without the option, the port is taken.
    let refused = TcpSocket::new_v4().unwrap();
    assert_eq!(
        refused.bind(addr).unwrap_err().kind(),
        io::ErrorKind::AddrInUse
    );

    let second = TcpSocket::new_v4().unwrap();
    second.set_reuseport(true).unwrap();
    second.bind(addr).unwrap();
    let l2 = second.listen(16).unwrap();
    assert_eq!(l2.local_addr().unwrap(), addr);

    // Every connection lands on one of the two listeners.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut accepted = 0;
    while accepted < clients.len() {
        futures_lite::future::or(async { l1.accept().await.unwrap() }, async {
            l2.accept().await.unwrap()
        })
        .await;
        accepted += 1;
    }
}

async fn tcp_socket_ipv6() {
    let s = match TcpSocket::new_v6() {
        Ok(s) => s,
        Err(e) => return eprintln!("skipping: no IPv6 here ({e})"),
    };
    if let Err(e) = s.bind("[::1]:0".parse().unwrap()) {
        return eprintln!("skipping: no IPv6 loopback here ({e})");
    }
    let addr = s.local_addr().unwrap();
    assert!(addr.is_ipv6());
    let l = s.listen(8).unwrap();
    let (c, a) =
        futures_lite::future::zip(TcpSocket::new_v6().unwrap().connect(addr), l.accept()).await;
    assert_eq!(c.unwrap().local_addr().unwrap(), a.unwrap().1);
    // An IPv4 address on an IPv6 socket is refused with the address named.
    let err = TcpSocket::new_v6().unwrap().bind(loopback()).unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:0"), "{err}");
}

// ---- readiness ------------------------------------------------------------------------------

async fn ready_waits_for_data_and_reports_what_it_found() {
    let (a, b) = tcp_pair().await;
    let w = a.ready(Interest::WRITABLE).await.unwrap();
    assert!(w.is_writable() && !w.is_readable(), "{w:?}");
    assert!(
        is_pending(a.ready(Interest::READABLE)),
        "nothing was sent: not readable"
    );
    b.writable().await.unwrap();
    assert_eq!(b.try_write(b"abc").unwrap(), 3);
    let r = a.ready(Interest::READABLE).await.unwrap();
    assert!(r.is_readable() && !r.is_writable(), "{r:?}");
    let both = a
        .ready(Interest::READABLE | Interest::WRITABLE)
        .await
        .unwrap();
    assert!(both.is_readable() && both.is_writable(), "{both:?}");
    assert_eq!(try_read_exact(&a, 3).await, b"abc");
    assert!(a.take_error().unwrap().is_none());
}

async fn ready_reports_the_peer_closing() {
    let (a, mut b) = tcp_pair().await;
    b.shutdown().await.unwrap();
    // The first read event is the peer's FIN: readable and read-closed together.
    let r = a.ready(Interest::READABLE).await.unwrap();
    assert!(r.is_readable() && r.is_read_closed(), "{r:?}");
    assert!(!r.is_write_closed(), "only the peer's writing ended: {r:?}");
    assert_eq!(r - Ready::READ_CLOSED, Ready::READABLE);
    let mut buf = [0u8; 4];
    assert_eq!(a.try_read(&mut buf).unwrap(), 0, "end-of-stream");
    // End-of-stream stays: ready again at once (rule 4 of `io/scheduled_io.rs`).
    assert!(a.ready(Interest::READABLE).await.unwrap().is_read_closed());
}

/// Rule 3 of `io/scheduled_io.rs`, seen from the public API: a `try_read` that returns
/// `WouldBlock` clears the readiness it observed, so `ready` waits for the next event instead of
/// reporting the same stale readiness again.
///
/// Current-thread only: there the reactor cannot deliver an event between the `WouldBlock` and
/// the check that `readable` waits, so the check does not depend on the OS staying quiet.
#[tether::test]
async fn try_read_would_block_makes_ready_wait_for_a_new_event() {
    let (a, b) = tcp_pair().await;
    b.writable().await.unwrap();
    b.try_write(b"one").unwrap();
    assert_eq!(try_read_exact(&a, 3).await, b"one");
    // Drained: `WouldBlock` clears the readiness (no event came meanwhile).
    let mut buf = [0u8; 8];
    let err = a.try_read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(
        is_pending(a.readable()),
        "the readiness was cleared by WouldBlock"
    );
    // The next event makes it ready again.
    b.try_write(b"two").unwrap();
    let r = a.ready(Interest::READABLE).await.unwrap();
    assert!(r.is_readable());
    assert_eq!(try_read_exact(&a, 3).await, b"two");
}

async fn vectored_try_read_and_try_write() {
    let (a, b) = tcp_pair().await;
    b.writable().await.unwrap();
    let n = b
        .try_write_vectored(&[IoSlice::new(b"head-"), IoSlice::new(b"tail")])
        .unwrap();
    assert_eq!(n, 9);
    let (mut x, mut y) = ([0u8; 5], [0u8; 4]);
    let mut got = 0;
    while got < 9 {
        a.readable().await.unwrap();
        let (xs, ys) = if got < 5 {
            (&mut x[got..], &mut y[..])
        } else {
            (&mut x[5..], &mut y[got - 5..])
        };
        match a.try_read_vectored(&mut [IoSliceMut::new(xs), IoSliceMut::new(ys)]) {
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((&x, &y), (b"head-", b"tail"));
}

async fn peek_leaves_the_data_for_the_next_read() {
    let (mut a, mut b) = tcp_pair().await;
    b.write_all(b"peekaboo").await.unwrap();
    let mut all = [0u8; 8];
    let mut seen = 0;
    while seen < 8 {
        seen = a.peek(&mut all).await.unwrap();
    }
    assert_eq!(&all, b"peekaboo");
    let mut again = [0u8; 8];
    a.read_exact(&mut again).await.unwrap();
    assert_eq!(&again, b"peekaboo");
}

/// `recv(2)` on `fd`, for the custom-operation tests.
#[cfg(unix)]
fn raw_recv(fd: i32, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` writable bytes; `fd` is an open socket owned by
    // the stream the caller holds.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(unix)]
async fn try_io_and_async_io_run_a_custom_operation() {
    let (a, mut b) = tcp_pair().await;
    let fd = a.as_raw_fd();
    let mut buf = [0u8; 8];
    let err = a
        .try_io(Interest::READABLE, || -> io::Result<()> {
            unreachable!("not ready: the operation must not run")
        })
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);

    let reader = async {
        let mut got = Vec::new();
        while got.len() < 6 {
            let n = a
                .async_io(Interest::READABLE, || raw_recv(fd, &mut buf))
                .await
                .unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        got
    };
    let writer = async { b.write_all(b"custom").await.unwrap() };
    let (got, ()) = futures_lite::future::zip(reader, writer).await;
    assert_eq!(got, b"custom");

    // `try_io` with `poll_read_ready` in between, as a `poll_*`-style caller would.
    b.write_all(b"!").await.unwrap();
    let n = loop {
        match a.try_io(Interest::READABLE, || raw_recv(fd, &mut buf)) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::future::poll_fn(|cx| a.poll_read_ready(cx))
                    .await
                    .unwrap()
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(&buf[..n], b"!");
    std::future::poll_fn(|cx| a.poll_write_ready(cx))
        .await
        .unwrap();
}

#[cfg(unix)]
async fn unix_stream_readiness_and_vectored_io() {
    let (a, b) = UnixStream::pair().unwrap();
    assert!(is_pending(a.ready(Interest::READABLE)));
    let w = b.ready(Interest::WRITABLE).await.unwrap();
    assert!(w.is_writable());
    let n = b
        .try_write_vectored(&[IoSlice::new(b"uni"), IoSlice::new(b"x")])
        .unwrap();
    assert_eq!(n, 4, "a socketpair takes 4 bytes at once");
    let r = a.ready(Interest::READABLE).await.unwrap();
    assert!(r.is_readable());
    let (mut x, mut y) = ([0u8; 2], [0u8; 2]);
    let n = a
        .try_read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
        .unwrap();
    assert_eq!((n, &x, &y), (4, b"un", b"ix"));
    assert_eq!(
        a.try_read(&mut x).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    drop(b);
    let r = a.ready(Interest::READABLE).await.unwrap();
    assert!(r.is_read_closed(), "{r:?}");
    assert_eq!(a.try_read(&mut x).unwrap(), 0);
}

async fn udp_ready_try_send_and_try_recv() {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    a.connect(b.local_addr().unwrap()).await.unwrap();
    b.connect(a.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        b.try_recv(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(a.ready(Interest::WRITABLE).await.unwrap().is_writable());
    assert_eq!(a.try_send(b"dgram").unwrap(), 5);
    loop {
        assert!(b.ready(Interest::READABLE).await.unwrap().is_readable());
        match b.try_recv(&mut buf) {
            Ok(n) => break assert_eq!(&buf[..n], b"dgram"),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(b.take_error().unwrap().is_none());
}
