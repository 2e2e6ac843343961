//! `tether::io::duplex` and `tether::io::copy_bidirectional`: round trips, backpressure, EOF and
//! `BrokenPipe`, byte counts through a proxy (in memory and over TCP), errors, and the
//! cooperative budget.
//!
//! Nothing here depends on timing: backpressure is checked by counting bytes and reads, and
//! wake-ups by counting wakes.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tether::io::{
    copy, copy_bidirectional, duplex, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
    DuplexStream,
};
use tether::net::{TcpListener, TcpStream};
use tether::task::yield_now;

const MIB: usize = 1024 * 1024;

/// Lets every other ready task run until it waits (the run queue is FIFO on this flavor).
async fn settle() {
    for _ in 0..16 {
        yield_now().await;
    }
}

/// `len` bytes of a pattern that a shifted or reordered copy would not reproduce.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed.wrapping_mul(i as u8))
        .collect()
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

const _: () = {
    const fn assert_send_sync_unpin<T: Send + Sync + Unpin>() {}
    assert_send_sync_unpin::<DuplexStream>();
};

// ---- duplex --------------------------------------------------------------------------------

#[tether::test]
async fn duplex_round_trip_in_both_directions() {
    let (mut a, mut b) = duplex(1024);
    let request = pattern(100_000, 3);
    let reply = pattern(50_000, 7);

    let (req, rep) = (request.clone(), reply.clone());
    let server = tether::spawn(async move {
        let mut got = vec![0; req.len()];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(got, req, "a -> b");
        b.write_all(&rep).await.unwrap();
        b
    });
    a.write_all(&request).await.unwrap();
    let mut got = vec![0; reply.len()];
    a.read_exact(&mut got).await.unwrap();
    assert_eq!(got, reply, "b -> a");
    drop(server.await.unwrap());
}

#[test]
fn duplex_write_into_a_full_buffer_is_pending_and_woken_by_a_read() {
    let (mut a, mut b) = duplex(8);
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);

    // A write larger than the room writes what fits.
    let r = Pin::new(&mut a).poll_write(&mut cx, b"0123456789");
    assert!(matches!(r, Poll::Ready(Ok(8))), "{r:?}");
    // Full: the next write waits.
    assert!(Pin::new(&mut a).poll_write(&mut cx, b"89").is_pending());
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);

    // Reading makes room and wakes the writer once.
    let mut buf = [0u8; 3];
    let r = Pin::new(&mut b).poll_read(&mut cx, &mut buf);
    assert!(matches!(r, Poll::Ready(Ok(3))), "{r:?}");
    assert_eq!(&buf, b"012");
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        1,
        "the read woke the writer"
    );

    let r = Pin::new(&mut a).poll_write(&mut cx, b"89");
    assert!(matches!(r, Poll::Ready(Ok(2))), "{r:?}");
    let mut rest = [0u8; 16];
    let r = Pin::new(&mut b).poll_read(&mut cx, &mut rest);
    assert!(matches!(r, Poll::Ready(Ok(7))), "{r:?}");
    assert_eq!(&rest[..7], b"3456789");

    // Empty: the read waits, and the next write wakes it.
    assert!(Pin::new(&mut b).poll_read(&mut cx, &mut rest).is_pending());
    let before = counter.0.load(Ordering::SeqCst);
    assert!(Pin::new(&mut a).poll_write(&mut cx, b"x").is_ready());
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        before + 1,
        "the write woke the reader"
    );
}

/// A writer of 1 MiB into a duplex of 64 bytes: at every point the writer is at most 64 bytes
/// ahead of the reader, the reader needs at least 1 MiB / 64 reads, and the writer finishes only
/// once the reader has drained all but the last 64 bytes.
async fn one_mib_through_64_bytes() {
    const CAP: usize = 64;
    let (mut w, mut r) = duplex(CAP);
    let data = pattern(MIB, 5);
    let written = Arc::new(AtomicUsize::new(0));
    let writer_done = Arc::new(AtomicBool::new(false));

    let writer = {
        let (data, written, writer_done) = (data.clone(), written.clone(), writer_done.clone());
        tether::spawn(async move {
            let mut off = 0;
            while off < data.len() {
                let n = w.write(&data[off..]).await.unwrap();
                assert!(n <= CAP, "a write of {n} bytes into a {CAP}-byte pipe");
                off += n;
                written.fetch_add(n, Ordering::SeqCst);
            }
            writer_done.store(true, Ordering::SeqCst);
        })
    };

    let mut got = Vec::with_capacity(MIB);
    let mut buf = vec![0u8; 4096];
    let mut reads = 0usize;
    while got.len() < MIB {
        let done_before = writer_done.load(Ordering::SeqCst);
        if done_before {
            assert!(
                got.len() + CAP >= MIB,
                "the writer finished with only {} bytes read",
                got.len()
            );
        }
        let n = r.read(&mut buf).await.unwrap();
        assert!(n > 0 && n <= CAP, "read {n} bytes from a {CAP}-byte pipe");
        got.extend_from_slice(&buf[..n]);
        reads += 1;
        let ahead = written.load(Ordering::SeqCst);
        assert!(
            ahead <= got.len() + CAP,
            "the writer is {} bytes ahead of the reader",
            ahead - got.len()
        );
    }
    writer.await.unwrap();
    assert!(writer_done.load(Ordering::SeqCst));
    assert!(reads >= MIB / CAP, "{reads} reads");
    assert!(got == data, "the bytes arrived changed or out of order");
    // The writer dropped its stream: EOF.
    assert_eq!(r.read(&mut buf).await.unwrap(), 0);
}

#[tether::test]
async fn duplex_backpressure_one_mib_through_64_bytes() {
    one_mib_through_64_bytes().await;
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplex_backpressure_holds_across_worker_threads() {
    // The reader runs in a task too, so writer and reader can be on different workers.
    tether::spawn(one_mib_through_64_bytes()).await.unwrap();
}

#[tether::test]
async fn duplex_close_gives_the_peer_eof_after_the_buffered_bytes() {
    let (mut a, mut b) = duplex(64);
    a.write_all(b"abc").await.unwrap();
    a.close().await.unwrap();
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"abc");
    assert_eq!(b.read(&mut [0u8; 8]).await.unwrap(), 0, "EOF stays EOF");

    // A half close: the other direction still works.
    b.write_all(b"reply").await.unwrap();
    let mut reply = [0u8; 5];
    a.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"reply");

    // Writing after one's own close fails.
    let err = a.write_all(b"more").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
}

#[tether::test]
async fn duplex_drop_gives_the_peer_eof_after_the_buffered_bytes() {
    let (mut a, mut b) = duplex(64);
    a.write_all(b"last words").await.unwrap();
    drop(a);
    let mut got = String::new();
    b.read_to_string(&mut got).await.unwrap();
    assert_eq!(got, "last words");
}

#[tether::test]
async fn duplex_write_to_a_dropped_peer_fails_with_broken_pipe() {
    let (mut a, b) = duplex(64);
    drop(b);
    let err = a.write_all(b"anyone?").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    // Reading from the dropped peer's direction is EOF.
    assert_eq!(a.read(&mut [0u8; 8]).await.unwrap(), 0);
}

#[tether::test]
async fn duplex_waiting_writer_is_woken_with_broken_pipe_when_the_peer_drops() {
    let (mut a, b) = duplex(10);
    let writer = tether::spawn(async move { a.write_all(&[1u8; 1000]).await });
    settle().await;
    assert!(!writer.is_finished(), "the writer waits for room");
    drop(b);
    let err = writer.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
}

#[tether::test]
async fn duplex_waiting_reader_is_woken_with_eof_when_the_peer_closes() {
    let (mut a, mut b) = duplex(10);
    let reader = tether::spawn(async move {
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.map(|_| got)
    });
    a.write_all(b"hi").await.unwrap();
    settle().await;
    assert!(!reader.is_finished(), "the reader waits for more");
    a.close().await.unwrap();
    assert_eq!(reader.await.unwrap().unwrap(), b"hi");
}

#[test]
#[should_panic(expected = "max_buf_size must be at least 1")]
fn duplex_of_zero_bytes_panics() {
    let _ = duplex(0);
}

// ---- copy_bidirectional --------------------------------------------------------------------

/// client <-> (downstream | upstream) <-> server, through two duplex pairs. The client sends a
/// request and closes; the server reads it to EOF (which the proxy passed on), then replies and
/// closes; the proxy returns the bytes copied each way.
async fn proxy_between_duplex_client_and_server() {
    let (mut client, mut downstream) = duplex(1000);
    let (mut upstream, mut server) = duplex(300);
    let proxy =
        tether::spawn(async move { copy_bidirectional(&mut downstream, &mut upstream).await });

    let request = pattern(100_000, 11);
    let reply = pattern(30_000, 13);
    let server = {
        let (request, reply) = (request.clone(), reply.clone());
        tether::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            assert!(got == request, "the request arrived changed");
            // The client's side is closed, the reply direction still open.
            server.write_all(&reply).await.unwrap();
            server.close().await.unwrap();
        })
    };

    client.write_all(&request).await.unwrap();
    client.close().await.unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.unwrap();
    assert!(got == reply, "the reply arrived changed");

    server.await.unwrap();
    let (sent, received) = proxy.await.unwrap().unwrap();
    assert_eq!((sent, received), (100_000, 30_000));
}

#[tether::test]
async fn copy_bidirectional_proxies_between_duplex_client_and_server() {
    proxy_between_duplex_client_and_server().await;
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_bidirectional_proxies_on_worker_threads() {
    let runs: Vec<_> = (0..8)
        .map(|_| tether::spawn(proxy_between_duplex_client_and_server()))
        .collect();
    for run in runs {
        run.await.unwrap();
    }
}

#[tether::test]
async fn copy_bidirectional_counts_nothing_when_both_sides_close_at_once() {
    let (mut client, mut downstream) = duplex(16);
    let (mut upstream, mut server) = duplex(16);
    client.close().await.unwrap();
    server.close().await.unwrap();
    let counts = copy_bidirectional(&mut downstream, &mut upstream)
        .await
        .unwrap();
    assert_eq!(counts, (0, 0));
    assert_eq!(client.read(&mut [0u8; 4]).await.unwrap(), 0);
    assert_eq!(server.read(&mut [0u8; 4]).await.unwrap(), 0);
}

/// A stream for error and budget tests: reads fail, return EOF or produce bytes forever, and
/// writes fail, accept nothing or accept everything, as configured.
struct Scripted {
    read: ReadScript,
    write: WriteScript,
    reads: Arc<AtomicU64>,
}

enum ReadScript {
    Fail,
    /// Fill the buffer until `stop` is set or `limit` reads were served, then EOF.
    Endless {
        stop: Arc<AtomicBool>,
        limit: u64,
    },
}

enum WriteScript {
    Fail,
    Zero,
    All,
}

impl Scripted {
    fn new(read: ReadScript, write: WriteScript) -> Scripted {
        Scripted {
            read,
            write,
            reads: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl AsyncRead for Scripted {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &self.read {
            ReadScript::Fail => Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
            ReadScript::Endless { stop, limit } => {
                if stop.load(Ordering::SeqCst) || self.reads.load(Ordering::SeqCst) >= *limit {
                    return Poll::Ready(Ok(0));
                }
                self.reads.fetch_add(1, Ordering::SeqCst);
                buf.fill(1);
                Poll::Ready(Ok(buf.len()))
            }
        }
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(match self.write {
            WriteScript::Fail => Err(io::ErrorKind::ConnectionAborted.into()),
            WriteScript::Zero => Ok(0),
            WriteScript::All => Ok(buf.len()),
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tether::test]
async fn copy_bidirectional_ends_with_a_read_error() {
    let (mut client, mut downstream) = duplex(64);
    let mut upstream = Scripted::new(ReadScript::Fail, WriteScript::All);
    // The client direction waits for data; the failing side ends the copy anyway.
    let err = copy_bidirectional(&mut downstream, &mut upstream)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    client.close().await.unwrap();
}

#[tether::test]
async fn copy_bidirectional_ends_with_a_write_error() {
    let (mut client, mut downstream) = duplex(64);
    let mut upstream = Scripted::new(
        ReadScript::Endless {
            stop: Arc::new(AtomicBool::new(true)),
            limit: 0,
        },
        WriteScript::Fail,
    );
    client.write_all(b"doomed").await.unwrap();
    let err = copy_bidirectional(&mut downstream, &mut upstream)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
}

#[tether::test]
async fn copy_bidirectional_reports_a_writer_that_accepts_zero_bytes() {
    let (mut client, mut downstream) = duplex(64);
    let mut upstream = Scripted::new(
        ReadScript::Endless {
            stop: Arc::new(AtomicBool::new(true)),
            limit: 0,
        },
        WriteScript::Zero,
    );
    client.write_all(b"stuck").await.unwrap();
    let err = copy_bidirectional(&mut downstream, &mut upstream)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WriteZero);
}

/// A proxy between two streams that are always ready would never return `Pending`; the budget
/// makes it yield, so a task spawned after it runs (yielding a few times, so that the proxy
/// resumes in between) and tells it to stop. Without the budget the proxy would run until the
/// streams' read limit and the first assertion below would fail (no hang). Both directions copy:
/// the one polled first cannot keep the whole budget to itself.
#[tether::test]
async fn busy_copy_bidirectional_yields_to_other_tasks() {
    const LIMIT: u64 = 100_000;
    let stop = Arc::new(AtomicBool::new(false));
    let endless = || {
        Scripted::new(
            ReadScript::Endless {
                stop: stop.clone(),
                limit: LIMIT,
            },
            WriteScript::All,
        )
    };
    let (mut a, mut b) = (endless(), endless());
    let (a_reads, b_reads) = (a.reads.clone(), b.reads.clone());
    let proxy = tether::spawn(async move { copy_bidirectional(&mut a, &mut b).await });
    let stopper = {
        let stop = stop.clone();
        tether::spawn(async move {
            for _ in 0..4 {
                yield_now().await;
            }
            stop.store(true, Ordering::SeqCst);
        })
    };
    let (sent, received) = proxy.await.unwrap().unwrap();
    stopper.await.unwrap();
    let (a_reads, b_reads) = (
        a_reads.load(Ordering::SeqCst),
        b_reads.load(Ordering::SeqCst),
    );
    assert!(
        a_reads < LIMIT && b_reads < LIMIT,
        "the proxy did {a_reads} and {b_reads} reads before another task could run"
    );
    assert!(a_reads > 0 && b_reads > 0, "both directions copied");
    assert_eq!(sent, a_reads * 8 * 1024, "a -> b");
    assert_eq!(received, b_reads * 8 * 1024, "b -> a");
}

/// A proxy task between a client and an echo server over TCP on 127.0.0.1. The client writes
/// and reads at the same time (the echo fills the socket buffers otherwise), then closes its
/// write side; the echo server sees EOF through the proxy, closes in turn, and the client reads
/// EOF through the proxy.
#[tether::test]
async fn copy_bidirectional_proxies_tcp_to_an_echo_server() {
    const LEN: usize = 256 * 1024;
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    let echo_server = tether::spawn(async move {
        let (mut conn, _) = echo.accept().await?;
        let (reader, mut writer) = conn.split();
        let n = copy(reader, &mut writer).await?;
        writer.close().await?;
        io::Result::Ok(n)
    });

    let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_addr = front.local_addr().unwrap();
    let proxy = tether::spawn(async move {
        let (mut inbound, _) = front.accept().await?;
        let mut outbound = TcpStream::connect(echo_addr).await?;
        copy_bidirectional(&mut inbound, &mut outbound).await
    });

    let client = TcpStream::connect(front_addr).await.unwrap();
    let (mut rx, mut tx) = client.into_split();
    let data = pattern(LEN, 17);
    let sender = {
        let data = data.clone();
        tether::spawn(async move {
            tx.write_all(&data).await?;
            tx.close().await
        })
    };
    let mut echoed = Vec::with_capacity(LEN);
    rx.read_to_end(&mut echoed).await.unwrap();
    sender.await.unwrap().unwrap();
    assert!(echoed == data, "the echo arrived changed");

    assert_eq!(echo_server.await.unwrap().unwrap(), LEN as u64);
    let (sent, received) = proxy.await.unwrap().unwrap();
    assert_eq!((sent, received), (LEN as u64, LEN as u64));
}

/// Neither the streams nor the copy need a runtime: polled by hand with a no-op waker.
#[test]
fn copy_bidirectional_needs_no_runtime() {
    let (mut client, mut downstream) = duplex(64);
    let (mut upstream, mut server) = duplex(64);
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut fut = pin!(copy_bidirectional(&mut downstream, &mut upstream));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(Pin::new(&mut client).poll_close(&mut cx).is_ready());
    assert!(Pin::new(&mut server).poll_close(&mut cx).is_ready());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(counts)) => assert_eq!(counts, (0, 0)),
        other => panic!("{other:?}"),
    }
}
