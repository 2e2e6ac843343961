//! Networking: TCP, UDP and Unix sockets, splitting, address errors.

use std::io;
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{lookup_host, TcpListener, TcpStream, UdpSocket};
#[cfg(unix)]
use tether::net::{UnixListener, UnixStream};
use tether::time::timeout;

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = futures_lite::future::zip(TcpStream::connect(addr), l.accept()).await;
    (c.unwrap(), s.unwrap().0)
}

#[tether::test]
async fn tcp_connect_accept_addresses_and_options() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let c = TcpStream::connect(addr).await.unwrap();
    let (s, peer) = l.accept().await.unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr);
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(s.peer_addr().unwrap(), peer);
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_ttl(42).unwrap();
    assert_eq!(c.ttl().unwrap(), 42);
}

#[tether::test]
async fn tcp_ipv6_loopback() {
    let l = match TcpListener::bind("[::1]:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipping: no IPv6 loopback here ({e})");
            return;
        }
    };
    let addr = l.local_addr().unwrap();
    let mut c = TcpStream::connect(addr).await.unwrap();
    let (mut s, _) = l.accept().await.unwrap();
    c.write_all(b"v6").await.unwrap();
    let mut buf = [0u8; 2];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"v6");
}

#[tether::test]
async fn tcp_large_transfer_both_ways_concurrently() {
    let (c, s) = pair().await;
    let data: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let expect = data.clone();
    let (mut cr, mut cw) = c.into_split();
    let writer = tether::spawn(async move {
        cw.write_all(&data).await.unwrap();
        cw.close().await.unwrap();
    });
    let echo = tether::spawn(async move {
        let (mut sr, mut sw) = s.into_split();
        tether::io::copy(&mut sr, &mut sw).await.unwrap();
    });
    let mut got = Vec::new();
    cr.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    echo.await.unwrap();
    assert_eq!(got.len(), expect.len());
    assert!(got == expect);
}

#[tether::test]
async fn tcp_borrowed_split_and_reunite() {
    let (mut c, mut s) = pair().await;
    {
        let (mut r, mut w) = c.split();
        w.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    }
    let (r, w) = c.into_split();
    let (r2, w2) = s.into_split();
    let err = r.reunite(w2).unwrap_err();
    let (r, w2) = (err.0, err.1);
    let c = r.reunite(w).unwrap();
    let s = r2.reunite(w2).unwrap();
    assert_eq!(c.peer_addr().unwrap(), s.local_addr().unwrap());
}

#[tether::test]
async fn dropping_owned_write_half_sends_eof() {
    let (c, mut s) = pair().await;
    let (_r, w) = c.into_split();
    drop(w);
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    assert!(buf.is_empty());
}

#[tether::test]
async fn futures_util_extension_traits_work_too() {
    let (mut c, mut s) = pair().await;
    futures_util::io::AsyncWriteExt::write_all(&mut c, b"util")
        .await
        .unwrap();
    let mut buf = [0u8; 4];
    futures_util::io::AsyncReadExt::read_exact(&mut s, &mut buf)
        .await
        .unwrap();
    assert_eq!(&buf, b"util");
}

#[tether::test]
async fn try_read_peek_and_readiness() {
    let (c, s) = pair().await;
    let mut buf = [0u8; 8];
    assert_eq!(
        s.try_read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    c.writable().await.unwrap();
    assert_eq!(c.try_write(b"abc").unwrap(), 3);
    s.readable().await.unwrap();
    assert_eq!(s.peek(&mut buf).await.unwrap(), 3);
    let mut n = 0;
    while n < 3 {
        match s.try_read(&mut buf[n..]) {
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => s.readable().await.unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(&buf[..3], b"abc");
}

#[tether::test]
async fn connection_refused_has_a_clear_message() {
    // Bind then drop to get a port with nothing listening.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()), "{msg}");
    assert!(msg.contains("nothing is listening"), "{msg}");
}

#[tether::test]
async fn invalid_addresses_have_clear_messages() {
    let err = TcpListener::bind("not an address").await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("not an address"), "{msg}");
    assert!(msg.contains("host:port"), "{msg}");

    let err = TcpStream::connect("127.0.0.1").await.unwrap_err(); // no port
    assert!(err.to_string().contains("host:port"), "{err}");

    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = TcpListener::bind(taken.local_addr().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains("already bound"), "{err}");
}

#[tether::test]
async fn lookup_host_resolves_localhost_off_the_loop() {
    let addrs: Vec<_> = lookup_host("localhost:8080").await.unwrap().collect();
    assert!(!addrs.is_empty());
    assert!(addrs
        .iter()
        .all(|a| a.port() == 8080 && a.ip().is_loopback()));
    let l = TcpListener::bind(("localhost", 0)).await.unwrap();
    assert!(l.local_addr().unwrap().ip().is_loopback());
}

#[tether::test]
async fn udp_send_to_recv_from_and_connected() {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    a.send_to(b"one", b_addr).await.unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"one"[..], a_addr));

    a.connect(b_addr).await.unwrap();
    b.connect(a_addr).await.unwrap();
    assert_eq!(a.peer_addr().unwrap(), b_addr);
    b.send(b"two").await.unwrap();
    let (n, _) = a.peek_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"two");
    let n = a.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"two");
    assert_eq!(
        a.try_recv_from(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}

#[tether::test]
async fn udp_waiting_receiver_is_woken_by_a_later_datagram() {
    let a = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = a.local_addr().unwrap();
    let rx = tether::spawn({
        let a = a.clone();
        async move {
            let mut buf = [0u8; 8];
            let (n, _) = a.recv_from(&mut buf).await.unwrap();
            buf[..n].to_vec()
        }
    });
    tether::task::yield_now().await;
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    b.send_to(b"late", addr).await.unwrap();
    let got = timeout(Duration::from_secs(10), rx).await.unwrap().unwrap();
    assert_eq!(got, b"late");
}

#[cfg(unix)]
#[tether::test]
async fn unix_listener_and_stream() {
    let dir = std::env::temp_dir().join(format!("tether-net-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path).unwrap();
    let err = UnixListener::bind(&path).unwrap_err();
    assert!(err.to_string().contains("s.sock"), "{err}");
    let mut c = UnixStream::connect(&path).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    let (mut sr, mut sw) = s.into_split();
    c.write_all(b"unix!").await.unwrap();
    let mut buf = [0u8; 5];
    sr.read_exact(&mut buf).await.unwrap();
    sw.write_all(&buf).await.unwrap();
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"unix!");
    let missing = UnixStream::connect(dir.join("missing.sock"))
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("missing.sock"), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[tether::test]
async fn unix_pair() {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    a.write_all(b"x").await.unwrap();
    let mut buf = [0u8; 1];
    b.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"x");
}

#[test]
fn socket_of_a_dropped_runtime_fails_with_a_clear_error() {
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (c, _s) = rt.block_on(pair());
    drop(rt);
    let rt2 = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut c = c;
    let err = rt2
        .block_on(async move {
            let mut buf = [0u8; 1];
            c.read(&mut buf).await
        })
        .unwrap_err();
    assert!(err.to_string().contains("has shut down"), "{err}");
}

#[tether::test]
async fn two_tasks_receiving_on_one_socket_are_both_served() {
    // Regression: one waker slot per direction lost the first waiter's wake-up.
    let sock = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = sock.local_addr().unwrap();
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let s = sock.clone();
            tether::spawn(async move {
                let mut buf = [0u8; 8];
                s.recv_from(&mut buf).await.unwrap().0
            })
        })
        .collect();
    tether::task::yield_now().await; // both are waiting now
    let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    tx.send_to(b"one", addr).await.unwrap();
    tx.send_to(b"two", addr).await.unwrap();
    for r in receivers {
        let n = timeout(Duration::from_secs(10), r)
            .await
            .expect("both receivers get a datagram")
            .unwrap();
        assert_eq!(n, 3);
    }
}

/// A waker that counts nothing: its `Arc`'s strong count tells how many copies are kept.
struct Held;

impl std::task::Wake for Held {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// Polls `fut` once with `waker`; it must wait.
fn poll_pending<F: std::future::Future>(fut: std::pin::Pin<&mut F>, waker: &std::task::Waker) {
    let mut cx = std::task::Context::from_waker(waker);
    assert!(fut.poll(&mut cx).is_pending(), "the future must wait");
}

#[tether::test]
async fn dropped_waiting_futures_release_their_wakers_at_once() {
    // Regression: the reactor kept the waker of a dropped accept/recv/readable future until the
    // next event on the socket, keeping the waiting task's allocation alive (and, with many
    // tasks, growing the socket's waiter list) on a quiet socket.
    let held = std::sync::Arc::new(Held);
    let waker = std::task::Waker::from(held.clone());

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (a, b) = pair().await;
    for _ in 0..3 {
        poll_pending(std::pin::pin!(listener.accept()), &waker);
        let mut buf = [0u8; 8];
        poll_pending(std::pin::pin!(udp.recv_from(&mut buf)), &waker);
        poll_pending(std::pin::pin!(udp.recv(&mut buf)), &waker);
        poll_pending(std::pin::pin!(a.readable()), &waker);
        poll_pending(std::pin::pin!(b.peek(&mut buf)), &waker);
    }
    assert_eq!(
        std::sync::Arc::strong_count(&held),
        2,
        "every dropped future's waker was released (only `waker` itself is left)"
    );

    // The sockets still serve waiters afterwards.
    let mut a = a;
    let mut b = b;
    a.write_all(b"hi").await.unwrap();
    let mut buf = [0u8; 2];
    b.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hi");
}

#[tether::test]
async fn waker_kept_for_a_poll_method_is_released_with_its_socket() {
    // `AsyncRead::poll_read` gets no signal when its caller stops waiting: the waker stays until
    // the next read event, or until the socket is dropped, as here.
    let held = std::sync::Arc::new(Held);
    let waker = std::task::Waker::from(held.clone());
    let (mut a, _b) = pair().await;
    let mut buf = [0u8; 8];
    poll_pending(std::pin::pin!(a.read(&mut buf)), &waker);
    assert_eq!(std::sync::Arc::strong_count(&held), 3);
    drop(a);
    assert_eq!(std::sync::Arc::strong_count(&held), 2);
}

/// `TcpListener::bind` lets 1,024 connections wait to be accepted, as tokio's does: 300
/// clients connect while nobody accepts, and every handshake completes. It listened with mio's
/// backlog of 128, so on Linux the 130th handshake was dropped (and retried a second later), and
/// in a burst of connections that each sent a request, some were lost.
#[cfg(target_os = "linux")]
#[tether::test]
async fn a_listener_lets_a_burst_of_connections_wait() {
    let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    let n = 300.min(somaxconn);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let clients = tether::task::spawn_blocking(move || {
        let mut clients = Vec::new();
        for i in 0..n {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(c) => clients.push(c),
                Err(e) => return Err(format!("connection {i} of {n}: {e}")),
            }
        }
        Ok(clients)
    })
    .await
    .unwrap();
    let clients = clients.unwrap();
    assert_eq!(clients.len(), n);
    drop(listener);
}

/// A path that starts with a NUL byte names an abstract Unix socket (Linux), for a listener and
/// for a stream that connects to it, as in tokio. Both used to refuse it ("paths must not
/// contain interior null bytes").
#[cfg(target_os = "linux")]
#[tether::test]
async fn an_abstract_unix_socket_name_binds_and_connects() {
    let name = format!("\0tether-abstract-test-{}", std::process::id());
    let listener = UnixListener::bind(&name).unwrap();
    let server = tether::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    });
    let mut c = UnixStream::connect(&name).await.unwrap();
    c.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    timeout(Duration::from_secs(10), c.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"ping");
    server.await.unwrap();
    // No file was made for it.
    assert!(!std::path::Path::new(&name[1..]).exists());
}
