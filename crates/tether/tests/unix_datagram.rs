//! `tether::net::UnixDatagram`: bound, unbound, paired and connected sockets, the `try_*` and
//! `poll_*` forms, a waiting receiver woken by a later datagram, conversions, and errors that
//! name their paths.
//!
//! Most scenarios run on both flavors: `current_thread::NAME` and `multi_thread::NAME`.
//!
//! Unix only: Unix domain sockets.
#![cfg(unix)]

mod support;

use support::on_both_flavors;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tether::io::Interest;
use tether::net::UnixDatagram;

/// A fresh directory for socket files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tether-dgram-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_of(addr: &std::os::unix::net::SocketAddr) -> &Path {
    addr.as_pathname().expect("a bound socket has a path")
}

on_both_flavors!(
    bound_sockets_exchange_datagrams_and_see_each_others_paths,
    unbound_sender_reaches_a_bound_socket_and_is_unnamed,
    pair_keeps_datagram_boundaries,
    connected_socket_sends_and_receives_with_its_peer,
    try_forms_would_block_then_succeed,
    waiting_receiver_is_woken_by_a_later_datagram,
    shared_socket_serves_a_sender_and_a_receiver_task,
    errors_name_their_paths,
    std_conversions_keep_the_socket,
    shutdown_ends_sending,
);

async fn bound_sockets_exchange_datagrams_and_see_each_others_paths() {
    let dir = TempDir::new("bound");
    let (pa, pb) = (dir.join("a.sock"), dir.join("b.sock"));
    let a = UnixDatagram::bind(&pa).unwrap();
    let b = UnixDatagram::bind(&pb).unwrap();
    assert_eq!(path_of(&a.local_addr().unwrap()), pa);
    assert_eq!(a.send_to(b"to b", &pb).await.unwrap(), 4);
    let mut buf = [0u8; 16];
    let (n, from) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"to b");
    assert_eq!(path_of(&from), pa, "the receiver sees the sender's path");
    // ...and can answer it.
    b.send_to(b"to a", path_of(&from)).await.unwrap();
    let (n, from) = a.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], path_of(&from)), (&b"to a"[..], pb.as_path()));
}

async fn unbound_sender_reaches_a_bound_socket_and_is_unnamed() {
    let dir = TempDir::new("unbound");
    let server_path = dir.join("server.sock");
    let server = UnixDatagram::bind(&server_path).unwrap();
    let client = UnixDatagram::unbound().unwrap();
    assert!(client.local_addr().unwrap().is_unnamed());
    client.send_to(b"anon", &server_path).await.unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = server.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"anon");
    assert!(from.is_unnamed());
}

async fn pair_keeps_datagram_boundaries() {
    let (a, b) = UnixDatagram::pair().unwrap();
    for msg in [&b"first"[..], b"", b"third datagram"] {
        assert_eq!(a.send(msg).await.unwrap(), msg.len());
    }
    let mut buf = [0u8; 32];
    for msg in [&b"first"[..], b"", b"third datagram"] {
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(
            &buf[..n],
            msg,
            "one datagram per receive, empty ones included"
        );
    }
    // A datagram longer than the buffer is cut; the rest is gone.
    a.send(b"0123456789").await.unwrap();
    a.send(b"next").await.unwrap();
    let mut small = [0u8; 4];
    assert_eq!(b.recv(&mut small).await.unwrap(), 4);
    assert_eq!(&small, b"0123");
    let n = b.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"next");
}

async fn connected_socket_sends_and_receives_with_its_peer() {
    let dir = TempDir::new("connected");
    let (ps, pc) = (dir.join("server.sock"), dir.join("client.sock"));
    let server = UnixDatagram::bind(&ps).unwrap();
    let client = UnixDatagram::bind(&pc).unwrap();
    assert_eq!(
        client.peer_addr().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    client.connect(&ps).unwrap();
    assert_eq!(path_of(&client.peer_addr().unwrap()), ps);
    client.send(b"hello").await.unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = server.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], path_of(&from)), (&b"hello"[..], pc.as_path()));
    server.send_to(b"back", &pc).await.unwrap();
    let n = client.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"back");
}

async fn try_forms_would_block_then_succeed() {
    let (a, b) = UnixDatagram::pair().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        b.try_recv(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert_eq!(
        b.try_recv_from(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    a.writable().await.unwrap();
    assert_eq!(a.try_send(b"one").unwrap(), 3);
    let n = loop {
        let ready = b.ready(Interest::READABLE).await.unwrap();
        assert!(ready.is_readable());
        match b.try_recv(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(&buf[..n], b"one");

    // try_send_to and try_recv_from between bound sockets.
    let dir = TempDir::new("try");
    let (pc, ps) = (dir.join("c.sock"), dir.join("s.sock"));
    let c = UnixDatagram::bind(&pc).unwrap();
    let s = UnixDatagram::bind(&ps).unwrap();
    c.writable().await.unwrap();
    assert_eq!(c.try_send_to(b"two", &ps).unwrap(), 3);
    let (n, from) = loop {
        s.readable().await.unwrap();
        match s.try_recv_from(&mut buf) {
            Ok(got) => break got,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!((&buf[..n], path_of(&from)), (&b"two"[..], pc.as_path()));

    // The poll forms.
    let sent = std::future::poll_fn(|cx| a.poll_send(cx, b"three")).await;
    assert_eq!(sent.unwrap(), 5);
    let n = std::future::poll_fn(|cx| b.poll_recv(cx, &mut buf))
        .await
        .unwrap();
    assert_eq!(&buf[..n], b"three");
    std::future::poll_fn(|cx| c.poll_send_to(cx, b"four", &ps))
        .await
        .unwrap();
    let (n, from) = std::future::poll_fn(|cx| s.poll_recv_from(cx, &mut buf))
        .await
        .unwrap();
    assert_eq!((&buf[..n], path_of(&from)), (&b"four"[..], pc.as_path()));
}

async fn waiting_receiver_is_woken_by_a_later_datagram() {
    let (a, b) = UnixDatagram::pair().unwrap();
    let (tx, rx) = tether::sync::oneshot::channel();
    let receiver = tether::spawn(async move {
        let mut buf = [0u8; 8];
        let recv = b.recv(&mut buf);
        tx.send(()).unwrap(); // about to wait
        let n = recv.await.unwrap();
        buf[..n].to_vec()
    });
    rx.await.unwrap();
    tether::task::yield_now().await;
    a.send(b"late").await.unwrap();
    assert_eq!(receiver.await.unwrap(), b"late");
}

async fn shared_socket_serves_a_sender_and_a_receiver_task() {
    let (a, b) = UnixDatagram::pair().unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));
    const N: u32 = 200;
    let echo = {
        let b = b.clone();
        tether::spawn(async move {
            let mut buf = [0u8; 4];
            for _ in 0..N {
                let n = b.recv(&mut buf).await.unwrap();
                b.send(&buf[..n]).await.unwrap();
            }
        })
    };
    let sender = {
        let a = a.clone();
        tether::spawn(async move {
            for i in 0..N {
                a.send(&i.to_be_bytes()).await.unwrap();
            }
        })
    };
    let mut buf = [0u8; 4];
    for i in 0..N {
        assert_eq!(a.recv(&mut buf).await.unwrap(), 4);
        assert_eq!(u32::from_be_bytes(buf), i, "datagrams arrive in order");
    }
    sender.await.unwrap();
    echo.await.unwrap();
}

async fn errors_name_their_paths() {
    let dir = TempDir::new("errors");
    let taken = dir.join("taken.sock");
    let _first = UnixDatagram::bind(&taken).unwrap();
    let err = UnixDatagram::bind(&taken).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(
        err.to_string().starts_with(&format!(
            "could not bind a Unix datagram socket to {}",
            taken.display()
        )),
        "{err}"
    );

    let missing = dir.join("missing.sock");
    let s = UnixDatagram::unbound().unwrap();
    let err = s.connect(&missing).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    let err = s.send_to(b"x", &missing).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(
        err.to_string().starts_with(&format!(
            "could not send a datagram to {}",
            missing.display()
        )),
        "{err}"
    );
    let err = s.try_send_to(b"x", &missing).unwrap_err();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );

    // Sending without a peer.
    let err = s.send(b"x").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
}

async fn std_conversions_keep_the_socket() {
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd};
    let (a, b) = UnixDatagram::pair().unwrap();
    let fd = a.as_raw_fd();
    assert_eq!(a.as_fd().as_raw_fd(), fd);

    // Out to std and back in.
    let std_a = a.into_std().unwrap();
    assert_eq!(std_a.as_raw_fd(), fd);
    std_a.send(b"std").unwrap(); // non-blocking, but the buffer has room
    let a = UnixDatagram::from_std(std_a).unwrap();
    let mut buf = [0u8; 8];
    let n = b.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"std");

    // Through a raw descriptor.
    let raw = a.into_raw_fd();
    // SAFETY: `raw` was just given up by `a`, and nothing else owns it.
    let a = unsafe { UnixDatagram::from_raw_fd(raw) };
    a.send(b"raw").await.unwrap();
    let n = b.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"raw");

    // And `TryFrom`.
    let (s1, s2) = std::os::unix::net::UnixDatagram::pair().unwrap();
    let t1 = UnixDatagram::try_from(s1).unwrap();
    t1.send(b"try").await.unwrap();
    let n = s2.recv(&mut buf).unwrap(); // blocking: the datagram is already queued
    assert_eq!(&buf[..n], b"try");
    assert!(format!("{t1:?}").starts_with("UnixDatagram"));
}

async fn shutdown_ends_sending() {
    let (a, _b) = UnixDatagram::pair().unwrap();
    a.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(
        a.send(b"x").await.unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
}

#[test]
fn creating_one_outside_a_runtime_panics_with_advice() {
    let err = std::panic::catch_unwind(UnixDatagram::unbound)
        .expect_err("a socket outside a runtime must panic");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.starts_with("UnixDatagram::unbound was called at"),
        "{msg}"
    );
    assert!(msg.contains("outside a tether runtime"), "{msg}");

    // `FromRawFd` registers too, and says so.
    use std::os::fd::{FromRawFd, IntoRawFd};
    let (s, _peer) = std::os::unix::net::UnixDatagram::pair().unwrap();
    let raw = s.into_raw_fd();
    let err = std::panic::catch_unwind(|| {
        // SAFETY: `raw` was just given up by `s`, and nothing else owns it.
        unsafe { UnixDatagram::from_raw_fd(raw) }
    })
    .expect_err("from_raw_fd outside a runtime must panic");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.starts_with("UnixDatagram::from_raw_fd was called at"),
        "{msg}"
    );
    assert!(msg.contains("unix_datagram.rs"), "names the caller: {msg}");
}
