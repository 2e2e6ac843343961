//! Descriptors of every socket and pipe type: `AsFd`/`AsRawFd` lend the descriptor the type
//! uses; `IntoRawFd` (and `into_std`) give it up, deregistered; `FromRawFd` (and `from_std`,
//! `TryFrom`) take one in and register it with the current runtime, or panic outside one with a
//! message naming the call.
//!
//! Unix only: file descriptors.
#![cfg(unix)]

mod support;

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::process::Stdio;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use tether::process::Command;

/// The descriptor's status flags (`F_GETFL`).
fn status_flags(fd: RawFd) -> libc::c_int {
    // SAFETY: `F_GETFL` only reads the flags of `fd`, which the caller keeps open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "fcntl: {}", io::Error::last_os_error());
    flags
}

/// Checks that `AsFd` and `AsRawFd` agree and lend an open, non-blocking descriptor.
#[track_caller]
fn assert_lends_a_nonblocking_fd(x: &(impl AsFd + AsRawFd)) -> RawFd {
    let fd = x.as_raw_fd();
    assert_eq!(x.as_fd().as_raw_fd(), fd);
    assert_ne!(
        status_flags(fd) & libc::O_NONBLOCK,
        0,
        "a registered descriptor is non-blocking"
    );
    fd
}

/// The text of a panic's payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

use crate::support::net::tcp_pair;

#[tether::test]
async fn tcp_stream_through_a_raw_descriptor_keeps_its_connection() {
    let (a, b) = tcp_pair().await;
    let peer = a.peer_addr().unwrap();
    let fd = assert_lends_a_nonblocking_fd(&a);
    let raw = a.into_raw_fd();
    assert_eq!(raw, fd, "the same descriptor, given up");
    // SAFETY: `raw` was just given up by `a`, and nothing else owns it.
    let mut a = unsafe { TcpStream::from_raw_fd(raw) };
    assert_eq!(a.peer_addr().unwrap(), peer);
    // Through std and back before its first read: on io_uring a stream that has read through
    // `AsyncRead` keeps a receive in flight and cannot leave the runtime (see
    // `stream_completion.rs`).
    let std_b = b.into_std().unwrap();
    let mut b = TcpStream::try_from(std_b).unwrap();
    assert_eq!(b.local_addr().unwrap(), peer);
    a.write_all(b"still connected").await.unwrap();
    let mut buf = [0u8; 15];
    b.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still connected");
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_listener_and_udp_socket_descriptors() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    assert_lends_a_nonblocking_fd(&l);
    // SAFETY: the descriptor was just given up by `l`, and nothing else owns it.
    let l = unsafe { TcpListener::from_raw_fd(l.into_raw_fd()) };
    let (c, s) = futures_lite::future::zip(TcpStream::connect(addr), l.accept()).await;
    assert_eq!(c.unwrap().local_addr().unwrap(), s.unwrap().1);
    let l = TcpListener::try_from(l.into_std().unwrap()).unwrap();
    assert_eq!(l.local_addr().unwrap(), addr);

    let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let uaddr = u.local_addr().unwrap();
    assert_lends_a_nonblocking_fd(&u);
    // SAFETY: the descriptor was just given up by `u`, and nothing else owns it.
    let u = unsafe { UdpSocket::from_raw_fd(u.into_raw_fd()) };
    let v = UdpSocket::try_from(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    v.send_to(b"fd", uaddr).await.unwrap();
    let mut buf = [0u8; 2];
    let (n, from) = u.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"fd"[..], v.local_addr().unwrap()));
}

#[tether::test]
async fn unix_stream_and_listener_descriptors_and_std_round_trips() {
    let path = std::env::temp_dir().join(format!("tether-fd-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path).unwrap();
    assert_lends_a_nonblocking_fd(&l);
    let l = UnixListener::from_std(l.into_std().unwrap()).unwrap();
    // SAFETY: the descriptor was just given up by `l`, and nothing else owns it.
    let l = unsafe { UnixListener::from_raw_fd(l.into_raw_fd()) };
    let l = UnixListener::try_from(l.into_std().unwrap()).unwrap();
    let (c, s) = futures_lite::future::zip(UnixStream::connect(&path), l.accept()).await;
    let (c, (s, _)) = (c.unwrap(), s.unwrap());
    assert_lends_a_nonblocking_fd(&c);

    let std_c = c.into_std().unwrap();
    assert_ne!(status_flags(std_c.as_raw_fd()) & libc::O_NONBLOCK, 0);
    // SAFETY: the descriptor was just given up by `std_c`, and nothing else owns it.
    let mut c = unsafe { UnixStream::from_raw_fd(std_c.into_raw_fd()) };
    let mut s = UnixStream::try_from(s.into_std().unwrap()).unwrap();
    c.write_all(b"unix").await.unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"unix");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn from_raw_fd_outside_a_runtime_panics_naming_the_call() {
    let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let raw = std_l.into_raw_fd();
    let err = std::panic::catch_unwind(|| {
        // SAFETY: `raw` was just given up by `std_l`, and nothing else owns it.
        unsafe { TcpListener::from_raw_fd(raw) }
    })
    .expect_err("registering outside a runtime must panic");
    let msg = panic_message(err);
    assert!(
        msg.starts_with("TcpListener::from_raw_fd was called at") && msg.contains("fd.rs"),
        "{msg}"
    );
    assert!(msg.contains("outside a tether runtime"), "{msg}");

    let (s, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let err = std::panic::catch_unwind(|| UnixStream::try_from(s))
        .expect_err("registering outside a runtime must panic");
    let msg = panic_message(err);
    assert!(
        msg.starts_with("UnixStream::try_from was called at"),
        "{msg}"
    );
}

#[tether::test]
async fn child_pipes_lend_their_descriptors() {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let fds = [
        assert_lends_a_nonblocking_fd(&stdin),
        assert_lends_a_nonblocking_fd(&stdout),
        assert_lends_a_nonblocking_fd(&stderr),
    ];
    assert!(fds[0] != fds[1] && fds[1] != fds[2]);
    // The write end is the writing side of a pipe.
    assert_eq!(status_flags(fds[0]) & libc::O_ACCMODE, libc::O_WRONLY);
    assert_eq!(status_flags(fds[1]) & libc::O_ACCMODE, libc::O_RDONLY);

    stdin.write_all(b"through cat").await.unwrap();
    stdin.close().await.unwrap();
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stdin.as_raw_fd()))
        .expect_err("a closed ChildStdin has no descriptor");
    let msg = panic_message(payload);
    assert!(msg.contains("ChildStdin::as_fd after close()"), "{msg}");
    let mut out = String::new();
    stdout.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "through cat");
    assert!(child.wait().await.unwrap().success());
}
