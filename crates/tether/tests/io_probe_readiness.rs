//! Probes of the readiness path (`io/scheduled_io.rs`, `io/poll_evented.rs`) through the
//! sockets: wake-ups that must not be lost, readiness that must not stay after `WouldBlock`,
//! hang-ups and resets, sockets outliving their runtime. Every wait is bounded, so a lost
//! wake-up fails the test instead of hanging it; nothing asserts on elapsed time.

// Unix: one probe takes data through a duplicate descriptor.
#![cfg(unix)]

mod support;

use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::poll_once;
use tether::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tether::net::{TcpListener, TcpStream};
use tether::time::timeout;

use support::on_both_flavors;

/// The bound on each wait: far above any real wait on loopback, only there to turn a hang
/// into a failure.
const HANG: Duration = Duration::from_secs(20);

async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match timeout(HANG, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: still waiting after {HANG:?} (a lost wake-up?)"),
    }
}

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = futures_lite::future::zip(TcpStream::connect(addr), l.accept()).await;
    (c.unwrap(), s.unwrap().0)
}

/// Fills `s`'s send buffer (and the peer's receive buffer) with `try_write` until it answers
/// `WouldBlock`; returns how many bytes went in.
fn fill(s: &TcpStream) -> usize {
    let chunk = [0x5au8; 64 * 1024];
    let mut total = 0;
    loop {
        match s.try_write(&chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("filling the socket: {e}"),
        }
    }
}

/// Waits (bounded) until `s` is writable and `try_write` takes `byte`.
async fn write_one(s: &TcpStream, byte: u8) {
    loop {
        bounded("writable", s.writable()).await.unwrap();
        match s.try_write(&[byte]) {
            Ok(1) => return,
            Ok(n) => panic!("wrote {n} bytes of 1"),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("try_write: {e}"),
        }
    }
}

/// tokio's contract: `readable()` returned, the data was taken elsewhere (here by a `recv` on
/// a duplicate of the descriptor), so `try_read` answers `WouldBlock` and clears the
/// readiness; the next `readable()` then waits for a new event, which it gets.
async fn try_read_after_data_taken_elsewhere_clears_and_the_next_readable_waits() {
    let (a, b) = pair().await;
    let dup = a.as_fd().try_clone_to_owned().unwrap();
    let dup = std::net::TcpStream::from(dup);
    dup.set_nonblocking(true).unwrap();
    write_one(&b, 1).await;
    bounded("first readable", a.readable()).await.unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(io::Read::read(&mut &dup, &mut buf).unwrap(), 1);
    let err = a.try_read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    {
        let mut readable = std::pin::pin!(a.readable());
        assert!(
            poll_once(&mut readable).await.is_none(),
            "readiness stayed after WouldBlock"
        );
        write_one(&b, 2).await;
        bounded("readable after the new byte", readable)
            .await
            .unwrap();
    }
    assert_eq!(a.try_read(&mut buf).unwrap(), 1);
    assert_eq!(buf[0], 2);
    drop(dup);
}

/// One task waits to read and another to write the same socket; each is woken by its own
/// direction's event, in either order, many times over.
async fn a_reader_and_a_writer_of_one_socket_are_each_woken() {
    let (a, b) = pair().await;
    let a = Arc::new(a);
    let mut b = b;
    for round in 0..20u8 {
        fill(&a);
        let (ra, wa) = (a.clone(), a.clone());
        let reader = tether::spawn(async move {
            let mut buf = [0u8; 1];
            loop {
                bounded("reader", ra.readable()).await.unwrap();
                match ra.try_read(&mut buf) {
                    Ok(n) => return (n, buf[0]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let writer = tether::spawn(async move {
            bounded("writer", (&*wa).write_all(&[0xa5; 1000]))
                .await
                .unwrap();
        });
        support::settle::settle().await;
        if round % 2 == 0 {
            b.write_all(&[round]).await.unwrap();
            assert_eq!(bounded("reader task", reader).await.unwrap(), (1, round));
            drain_until(&mut b, &[0xa5; 1000]).await;
            bounded("writer task", writer).await.unwrap();
        } else {
            drain_until(&mut b, &[0xa5; 1000]).await;
            bounded("writer task", writer).await.unwrap();
            b.write_all(&[round]).await.unwrap();
            assert_eq!(bounded("reader task", reader).await.unwrap(), (1, round));
        }
    }
}

/// Reads from `b` until its input ends with `tail` (the bytes `fill` put first are 0x5a).
async fn drain_until(b: &mut TcpStream, tail: &[u8]) {
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    while !seen.ends_with(tail) {
        let n = bounded("drain", b.read(&mut buf)).await.unwrap();
        assert_ne!(n, 0, "unexpected end-of-stream");
        seen.extend_from_slice(&buf[..n]);
        if seen.len() > 2 * tail.len() {
            seen.drain(..seen.len() - tail.len());
        }
    }
}

/// A peer that resets the connection while a write waits for room: the write fails (reset or
/// broken pipe) instead of waiting forever.
async fn a_reset_while_a_write_waits_fails_the_write() {
    let (a, b) = pair().await;
    let a = Arc::new(a);
    fill(&a);
    let wa = a.clone();
    let writer = tether::spawn(async move {
        let big = vec![1u8; 4 << 20];
        let mut w = &*wa;
        let r = w.write_all(&big).await;
        match r {
            Err(e) => Err(e),
            Ok(()) => w.flush().await,
        }
    });
    support::settle::settle().await;
    b.set_linger(Some(Duration::ZERO)).unwrap();
    drop(b); // RST
    let err = bounded("the waiting write", writer)
        .await
        .unwrap()
        .expect_err("a write to a reset connection succeeded");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ),
        "{err:?}"
    );
    // A reader of the reset connection does not wait either.
    let mut buf = [0u8; 64];
    let mut reader = &*a;
    loop {
        match bounded("read after reset", reader.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(_) => continue,
        }
    }
}

/// Half-close: the peer sends and shuts down its write direction. Reads return every byte,
/// then end-of-stream, again and again without waiting; `readable()` and `ready` resolve at
/// once after end-of-stream and `try_read` answers `Ok(0)`; the other direction still works.
async fn half_close_reads_to_end_of_stream_and_the_other_direction_lives() {
    let (mut a, mut b) = pair().await;
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    b.write_all(&payload).await.unwrap();
    b.close().await.unwrap();
    let mut got = Vec::new();
    // Odd sizes: short reads and exact ones both happen before the end.
    let mut buf = [0u8; 777];
    loop {
        let n = bounded("read to end", a.read(&mut buf)).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, payload);
    for _ in 0..3 {
        assert_eq!(
            bounded("read after end", a.read(&mut buf)).await.unwrap(),
            0
        );
        bounded("readable after end", a.readable()).await.unwrap();
        assert_eq!(a.try_read(&mut buf).unwrap(), 0);
        let r = bounded("ready after end", a.ready(Interest::READABLE))
            .await
            .unwrap();
        assert!(r.is_readable() || r.is_read_closed(), "{r:?}");
    }
    a.write_all(b"still here").await.unwrap();
    a.close().await.unwrap();
    let mut back = Vec::new();
    bounded("peer reads", b.read_to_end(&mut back))
        .await
        .unwrap();
    assert_eq!(back, b"still here");
}

/// End-of-stream arriving while a read waits wakes it, through each way to wait.
async fn end_of_stream_wakes_every_kind_of_waiting_reader() {
    for way in 0..3 {
        let (a, b) = pair().await;
        let a = Arc::new(a);
        let ra = a.clone();
        let reader = tether::spawn(async move {
            let mut buf = [0u8; 16];
            match way {
                0 => (&*ra).read(&mut buf).await.unwrap(),
                1 => {
                    ra.readable().await.unwrap();
                    ra.try_read(&mut buf).unwrap()
                }
                _ => {
                    let r = ra.ready(Interest::READABLE).await.unwrap();
                    assert!(r.is_read_closed(), "{r:?}");
                    ra.try_read(&mut buf).unwrap()
                }
            }
        });
        support::settle::settle().await;
        let mut w = &b;
        w.close().await.unwrap();
        assert_eq!(bounded("reader", reader).await.unwrap(), 0, "way {way}");
        drop(b);
    }
}

/// `ready(READABLE | WRITABLE)` on a quiet connected socket reports writable only; a
/// `try_read` `WouldBlock` clears read readiness only; a later byte makes it readable.
async fn readiness_of_both_directions_is_kept_apart() {
    let (a, b) = pair().await;
    let r = bounded("ready", a.ready(Interest::READABLE | Interest::WRITABLE))
        .await
        .unwrap();
    assert!(r.is_writable(), "{r:?}");
    let mut buf = [0u8; 4];
    match a.try_read(&mut buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        other => panic!("{other:?}"),
    }
    {
        let mut readable = std::pin::pin!(a.ready(Interest::READABLE));
        assert!(poll_once(&mut readable).await.is_none());
        let w = bounded("writable", a.ready(Interest::WRITABLE))
            .await
            .unwrap();
        assert!(w.is_writable());
        write_one(&b, 9).await;
        let r = bounded("readable", readable).await.unwrap();
        assert!(r.is_readable(), "{r:?}");
    }
    assert_eq!(a.try_read(&mut buf).unwrap(), 1);
}

/// Ping-pong across tasks: every message is a new edge that a waiting reader must see.
/// Three styles of reading: `AsyncRead`, `readable` + `try_read`, `ready` + `try_read`.
async fn ping_pong_never_loses_a_wake_up() {
    for style in 0..3u8 {
        let (a, b) = pair().await;
        let (a, b) = (Arc::new(a), Arc::new(b));
        let echo = {
            let b = b.clone();
            tether::spawn(async move {
                let mut buf = [0u8; 4];
                let mut r = &*b;
                loop {
                    if read_exact_style(&b, &mut r, &mut buf, style).await.is_err() {
                        return;
                    }
                    (&*b).write_all(&buf).await.unwrap();
                }
            })
        };
        let mut r = &*a;
        for i in 0..2_000u32 {
            (&*a).write_all(&i.to_le_bytes()).await.unwrap();
            let mut buf = [0u8; 4];
            bounded("pong", read_exact_style(&a, &mut r, &mut buf, style))
                .await
                .unwrap();
            assert_eq!(u32::from_le_bytes(buf), i);
        }
        (&*a).close().await.unwrap();
        bounded("echo task", echo).await.unwrap();
    }
}

async fn read_exact_style(
    s: &TcpStream,
    r: &mut &TcpStream,
    buf: &mut [u8; 4],
    style: u8,
) -> io::Result<()> {
    let mut filled = 0;
    while filled < 4 {
        let n = match style {
            0 => r.read(&mut buf[filled..]).await?,
            1 => {
                s.readable().await?;
                match s.try_read(&mut buf[filled..]) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    x => x?,
                }
            }
            _ => {
                s.ready(Interest::READABLE).await?;
                match s.try_read(&mut buf[filled..]) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    x => x?,
                }
            }
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
    }
    Ok(())
}

/// A socket dropped while its peer's hang-up is pending and a new one created at once (which
/// takes its registration's key): the new socket sees neither data nor end-of-stream it was
/// not sent, and gets its own.
async fn a_new_socket_does_not_inherit_a_dropped_ones_readiness() {
    for _ in 0..50 {
        let (a, b) = pair().await;
        drop(b); // a's hang-up is pending in the kernel
        let (l, addr) = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            (l, addr)
        };
        drop(a);
        let (c, d) = futures_lite::future::zip(TcpStream::connect(addr), l.accept()).await;
        let (c, d) = (c.unwrap(), d.unwrap().0);
        support::settle::settle().await;
        let mut buf = [0u8; 4];
        match c.try_read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => panic!("a fresh socket read {other:?}"),
        }
        {
            let mut readable = std::pin::pin!(c.readable());
            assert!(poll_once(&mut readable).await.is_none());
            write_one(&d, 3).await;
            bounded("readable", readable).await.unwrap();
        }
        assert_eq!(c.try_read(&mut buf).unwrap(), 1);
    }
}

on_both_flavors!(
    try_read_after_data_taken_elsewhere_clears_and_the_next_readable_waits,
    a_reader_and_a_writer_of_one_socket_are_each_woken,
    a_reset_while_a_write_waits_fails_the_write,
    half_close_reads_to_end_of_stream_and_the_other_direction_lives,
    end_of_stream_wakes_every_kind_of_waiting_reader,
    readiness_of_both_directions_is_kept_apart,
    ping_pong_never_loses_a_wake_up,
    a_new_socket_does_not_inherit_a_dropped_ones_readiness,
);
