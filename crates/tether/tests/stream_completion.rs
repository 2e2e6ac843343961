//! Streams in completion mode on the io_uring driver (`io/uring_stream.rs`): a multishot
//! receive into provided buffers, write-behind sends. Every test builds its runtimes on
//! io_uring explicitly, so these run whatever `TETHER_IO_DRIVER` says; the rest of the suite
//! covers the same `AsyncRead`/`AsyncWrite` programs on both drivers. Bytes arrive whole and in
//! order, writes promised by `Ok` reach the peer even when the stream is dropped at once, send
//! errors surface on a later write, and cancelling reads, tasks and streams mid-flight leaks no
//! buffer, operation or descriptor (these also run under ASAN in `.ci/run`).
#![cfg(target_os = "linux")]

mod support;

use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream, UnixStream};

use support::uring::open_sockets;

/// The tests of this binary run one at a time: two of them count the process's descriptors.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on both flavors on io_uring, one test at a time.
fn on_each<F, Fut>(f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    support::uring::on_each(&SERIAL, f)
}

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// Bytes `i..i + n` of a fixed pattern.
fn pattern(from: usize, n: usize) -> Vec<u8> {
    (from..from + n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn round_trips_of_every_size_arrive_whole_and_switch_the_stream_to_completions() {
    on_each(|| async {
        let before = tether::__private::io_uring_streams_activated();
        let (mut a, mut b) = pair().await;
        let echo = tether::spawn(async move {
            let mut buf = vec![0u8; 70_000];
            loop {
                let n = b.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                b.write_all(&buf[..n]).await.unwrap();
            }
        });
        let mut at = 0;
        for size in [1, 7, 64, 4095, 4096, 4097, 65_536, 65_537, 200_000] {
            let out = pattern(at, size);
            at += size;
            let (mut r, mut w) = a.split();
            let send = async {
                w.write_all(&out).await.unwrap();
                w.flush().await.unwrap();
            };
            let recv = async {
                let mut back = vec![0u8; size];
                r.read_exact(&mut back).await.unwrap();
                back
            };
            let ((), back) = futures_util::join!(send, recv);
            assert!(back == out, "{size} bytes came back changed");
        }
        a.close().await.unwrap();
        echo.await.unwrap();
        assert!(
            tether::__private::io_uring_streams_activated() >= before + 2,
            "both streams read and wrote through completions"
        );
    });
}

#[test]
fn a_slow_reader_gets_every_byte_in_order() {
    // The sender outruns the reader by megabytes: the reader's queue fills, its receive is
    // cancelled and re-armed, the sender's writes wait for room (rules 3, 4).
    on_each(|| async {
        let (mut a, mut b) = pair().await;
        const TOTAL: usize = 4 << 20;
        let writer = tether::spawn(async move {
            let mut at = 0;
            while at < TOTAL {
                let n = 10_000.min(TOTAL - at);
                a.write_all(&pattern(at, n)).await.unwrap();
                at += n;
            }
            a.close().await.unwrap();
        });
        let mut got = Vec::with_capacity(TOTAL);
        let mut buf = [0u8; 1000];
        let mut reads = 0;
        loop {
            let n = b.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            reads += 1;
            if reads % 64 == 0 {
                tether::time::sleep(Duration::from_millis(1)).await;
            }
        }
        writer.await.unwrap();
        assert_eq!(got.len(), TOTAL);
        assert!(got == pattern(0, TOTAL), "bytes out of order or changed");
    });
}

#[test]
fn bytes_written_before_a_drop_reach_the_peer() {
    // Write-behind: `Ok` from a write is a promise; dropping the stream at once keeps it (the
    // sends get a descriptor of their own, rule 5), and the peer then sees end-of-stream.
    on_each(|| async {
        let fds = open_sockets();
        let (mut a, mut b) = pair().await;
        let out = pattern(0, 1 << 20);
        let mut at = 0;
        while at < out.len() {
            at += a.write(&out[at..]).await.unwrap();
        }
        drop(a);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert!(got == out, "{} of {} bytes arrived", got.len(), out.len());
        drop(b);
        support::settle::settle().await;
        tether::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(open_sockets(), fds, "a socket leaked");
    });
}

#[test]
fn close_sends_everything_then_shuts_down_and_later_writes_fail() {
    on_each(|| async {
        let (mut a, mut b) = pair().await;
        a.write_all(&pattern(0, 300_000)).await.unwrap();
        a.close().await.unwrap();
        let err = a.write(b"late").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert!(got == pattern(0, 300_000));
    });
}

#[test]
fn a_failed_send_is_reported_by_a_later_write() {
    on_each(|| async {
        let (mut a, b) = pair().await;
        // The peer resets the connection (closing with linger 0).
        b.set_linger(Some(Duration::ZERO)).unwrap();
        drop(b);
        let mut failed = None;
        for _ in 0..10_000 {
            let r = match a.write(&[7u8; 1000]).await {
                Ok(_) => a.flush().await,
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                failed = Some(e);
                break;
            }
            tether::time::sleep(Duration::from_millis(1)).await;
        }
        let e = failed.expect("writes to a reset connection kept succeeding");
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{e}"
        );
    });
}

#[test]
fn a_reader_waiting_in_readable_gets_every_byte_without_a_buffer_of_its_own() {
    // The buffer-less server pattern: wait in `readable()` (which keeps the receive armed once
    // a read has used it), then `try_read` into a buffer taken only then. The reader pauses
    // now and then while the
    // sender has megabytes to send, so its receive overshoots the queue's high mark and the
    // ring's buffers run out (`ENOBUFS`): the reads that follow come from the socket itself.
    // A short read that drains the queue must not clear the readiness then (bytes still wait in
    // the socket, and no completion will announce them): that lost the wake-up once.
    on_each(|| async {
        let (mut a, mut b) = pair().await;
        // A first read through `AsyncRead` puts `b`'s reads on its receive queue.
        a.write_all(b"go").await.unwrap();
        let mut go = [0u8; 2];
        b.read_exact(&mut go).await.unwrap();
        const TOTAL: usize = 8 << 20;
        let writer = tether::spawn(async move {
            let mut at = 0;
            while at < TOTAL {
                let n = 100_000.min(TOTAL - at);
                a.write_all(&pattern(at, n)).await.unwrap();
                at += n;
            }
            a.close().await.unwrap();
        });
        let mut got = Vec::with_capacity(TOTAL);
        let mut reads = 0;
        loop {
            b.readable().await.unwrap();
            let mut buf = vec![0u8; 10_000];
            match b.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("try_read: {e}"),
            }
            reads += 1;
            if reads % 200 == 1 {
                // Let the receive run ahead of the reader.
                tether::time::sleep(Duration::from_millis(20)).await;
            }
        }
        writer.await.unwrap();
        assert_eq!(got.len(), TOTAL);
        assert!(got == pattern(0, TOTAL), "bytes out of order or changed");
    });
}

#[test]
fn small_messages_on_many_streams_share_the_provided_buffers() {
    // 300 streams each receive a 64-byte message that nobody reads yet. With whole buffers
    // per receive they would hold 300 of the ring's buffers (it starts with 64, and grows when
    // receives run out); consumed incrementally, they fit in a handful, and the ring never runs
    // out. Then every message is read back intact.
    on_each(|| async {
        const STREAMS: usize = 300;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut pairs = Vec::new();
        for _ in 0..STREAMS {
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            pairs.push((client, server));
        }
        // A first byte read through `AsyncRead` arms each server stream's receive.
        for (client, server) in pairs.iter_mut() {
            client.write_all(b"!").await.unwrap();
            let mut one = [0u8; 1];
            server.read_exact(&mut one).await.unwrap();
        }
        let before = tether::__private::io_uring_buffer_growths();
        for (i, (client, _)) in pairs.iter_mut().enumerate() {
            client.write_all(&pattern(i, 64)).await.unwrap();
        }
        // The armed receives take the messages into the ring.
        for (_, server) in &pairs {
            server.readable().await.unwrap();
        }
        assert_eq!(
            tether::__private::io_uring_buffer_growths(),
            before,
            "300 queued 64-byte messages ran the ring's first 64 buffers out"
        );
        for (i, (_, server)) in pairs.iter_mut().enumerate() {
            let mut got = [0u8; 64];
            server.read_exact(&mut got).await.unwrap();
            assert_eq!(got[..], pattern(i, 64)[..], "stream {i}");
        }
    });
}

#[test]
fn an_echo_through_readable_and_try_read_keeps_up_with_a_client_that_reads_late() {
    // Each side holds back: the client writes everything before reading anything back, so
    // the server's echoes pile up in write-behind and its reads stop and start again.
    on_each(|| async {
        let (mut client, server) = pair().await;
        const TOTAL: usize = 1 << 20;
        client.write_all(b"go").await.unwrap();
        let echo = tether::spawn(async move {
            let mut server = server;
            let mut go = [0u8; 2];
            server.read_exact(&mut go).await.unwrap();
            loop {
                server.readable().await.unwrap();
                let mut buf = vec![0u8; 16 * 1024];
                let n = match server.try_read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => panic!("server try_read: {e}"),
                };
                server.write_all(&buf[..n]).await.unwrap();
            }
            server.close().await.unwrap();
        });
        let (mut rd, mut wr) = client.split();
        let send = async {
            wr.write_all(&pattern(0, TOTAL)).await.unwrap();
            wr.close().await.unwrap();
        };
        let recv = async {
            let mut back = Vec::with_capacity(TOTAL);
            rd.read_to_end(&mut back).await.unwrap();
            back
        };
        let ((), back) = tether::join!(send, recv);
        echo.await.unwrap();
        assert_eq!(back.len(), TOTAL);
        assert!(back == pattern(0, TOTAL), "echo out of order or changed");
    });
}

#[test]
fn a_stream_read_through_its_descriptor_keeps_its_bytes_in_the_socket() {
    // tether-hyper's pattern: writes through `AsyncWrite` (completion mode), reads with
    // `poll_read_ready` and a `recv` of its own through `try_io`. Waiting for readiness must
    // not start a receive that would take the bytes away from that `recv`.
    use std::os::fd::AsRawFd;
    on_each(|| async {
        let (mut a, mut b) = pair().await;
        b.write_all(b"ask").await.unwrap(); // `b` is in completion mode now
        let fd = b.as_raw_fd();
        for round in 0..3u8 {
            a.write_all(&[round; 10]).await.unwrap();
            let mut got = [0u8; 10];
            let n = loop {
                std::future::poll_fn(|cx| b.poll_read_ready(cx))
                    .await
                    .unwrap();
                let r = b.try_io(tether::io::Interest::READABLE, || {
                    // SAFETY: `got` is valid for writes of its length for the whole call.
                    let n = unsafe { libc::recv(fd, got.as_mut_ptr().cast(), got.len(), 0) };
                    if n < 0 {
                        Err(std::io::Error::last_os_error())
                    } else {
                        Ok(n as usize)
                    }
                });
                match r {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    r => break r.unwrap(),
                }
            };
            assert_eq!(&got[..n], &[round; 10][..n], "round {round}");
        }
    });
}

#[test]
fn readiness_methods_see_the_bytes_a_receive_queued() {
    on_each(|| async {
        let (mut a, mut b) = pair().await;
        a.write_all(b"first").await.unwrap();
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).await.unwrap(); // `b` is in completion mode now
        a.write_all(b"second").await.unwrap();
        let mut peeked = [0u8; 6];
        assert_eq!(b.peek(&mut peeked).await.unwrap(), 6);
        assert_eq!(&peeked, b"second");
        let mut got = [0u8; 6];
        let n = loop {
            b.readable().await.unwrap();
            match b.try_read(&mut got) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                r => break r.unwrap(),
            }
        };
        assert_eq!(&got[..n], b"second");
        let err = b.try_read(&mut got).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        // `readable()` waits for the next bytes rather than spinning on the old readiness.
        a.write_all(b"third").await.unwrap();
        b.readable().await.unwrap();
        let mut third = [0u8; 5];
        b.read_exact(&mut third).await.unwrap();
        assert_eq!(&third, b"third");
    });
}

#[test]
fn into_std_after_a_read_is_refused_with_what_to_do() {
    on_each(|| async {
        let (mut a, mut b) = pair().await;
        a.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        b.read_exact(&mut one).await.unwrap();
        let err = b.into_std().unwrap_err();
        assert!(
            err.to_string()
                .contains("call into_std before its first read"),
            "{err}"
        );
        // A stream that has not read or written converts.
        let (c, _d) = pair().await;
        c.into_std().unwrap();
    });
}

#[test]
fn an_owned_write_half_shuts_down_after_its_bytes_are_sent() {
    on_each(|| async {
        let (a, mut b) = pair().await;
        let (_r, mut w) = a.into_split();
        w.write_all(&pattern(0, 500_000)).await.unwrap();
        drop(w);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert!(got == pattern(0, 500_000), "{} bytes", got.len());
    });
}

#[test]
fn unix_streams_use_completions_too() {
    on_each(|| async {
        let before = tether::__private::io_uring_streams_activated();
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(&pattern(0, 100_000)).await.unwrap();
        let mut got = vec![0u8; 100_000];
        b.read_exact(&mut got).await.unwrap();
        assert!(got == pattern(0, 100_000));
        assert!(tether::__private::io_uring_streams_activated() >= before + 2);
    });
}

#[test]
fn cancelled_reads_tasks_and_streams_leak_nothing() {
    let _serial = serial();
    for (name, rt) in support::uring::runtimes() {
        let fds = open_sockets();
        rt.block_on(async {
            // A read dropped by a timeout loses no byte that arrives later.
            let (mut a, mut b) = pair().await;
            let mut buf = [0u8; 4];
            let r = tether::time::timeout(Duration::from_millis(20), b.read(&mut buf)).await;
            assert!(r.is_err(), "{name}: nothing was sent yet");
            a.write_all(b"late").await.unwrap();
            b.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"late");

            // Tasks aborted while reading, with bytes queued, writes staged and sends in
            // flight, then their peers dropped.
            let mut peers = Vec::new();
            let mut tasks = Vec::new();
            for i in 0..200 {
                let (mut x, y) = pair().await;
                if i % 2 == 0 {
                    x.write_all(&pattern(0, 100_000)).await.unwrap();
                }
                tasks.push(tether::spawn(async move {
                    let mut y = y;
                    let mut buf = [0u8; 10];
                    let _ = y.read(&mut buf).await;
                    y.write_all(&pattern(0, 200_000)).await.unwrap();
                    std::future::pending::<()>().await;
                }));
                peers.push(x);
            }
            tether::time::sleep(Duration::from_millis(50)).await;
            for t in &tasks {
                t.abort();
            }
            for t in tasks {
                let _ = t.await;
            }
            drop(peers);
        });
        // The runtime goes with operations possibly still in flight: they are cancelled and
        // reaped, nothing leaked or freed under the kernel.
        drop(rt);
        assert_eq!(tether::__private::io_uring_ops_leaked(), 0, "{name}");
        assert_eq!(open_sockets(), fds, "{name}: a socket leaked");
    }
}

/// The writes a `writable()`/`try_write` loop needs, on either stream type; `vectored` and
/// `both` choose `try_write_vectored` and `ready(READABLE | WRITABLE)` instead.
trait TryWriter {
    async fn wait_writable(&self, both: bool);
    fn try_write_once(&self, vectored: bool) -> std::io::Result<usize>;
}

macro_rules! try_writer {
    ($t:ty) => {
        impl TryWriter for $t {
            async fn wait_writable(&self, both: bool) {
                if both {
                    use tether::io::Interest;
                    self.ready(Interest::READABLE | Interest::WRITABLE)
                        .await
                        .unwrap();
                } else {
                    self.writable().await.unwrap();
                }
            }
            fn try_write_once(&self, vectored: bool) -> std::io::Result<usize> {
                let (head, tail) = ([2u8; 400], [3u8; 600]);
                if vectored {
                    let bufs = [std::io::IoSlice::new(&head), std::io::IoSlice::new(&tail)];
                    self.try_write_vectored(&bufs)
                } else {
                    self.try_write(&[2u8; 1000])
                }
            }
        }
    };
}
try_writer!(TcpStream);
try_writer!(UnixStream);

/// Fills `a`'s write-behind buffer (its peer `b` not reading), then lets a slow reader drain
/// `b` while `a` writes through `writable()` (or `ready`) and `try_write`: returns the most
/// `WouldBlock`s in a row.
async fn would_blocks_in_a_row<S, R>(mut a: S, b: R, vectored: bool, both: bool) -> u64
where
    S: TryWriter + tether::io::AsyncWrite + Unpin,
    R: tether::io::AsyncRead + Unpin + Send + 'static,
{
    let big = vec![1u8; 8 << 20];
    let filled = tether::time::timeout(Duration::from_millis(300), a.write_all(&big)).await;
    assert!(filled.is_err(), "8 MiB fit in the buffers of an idle peer");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let slow = done.clone();
    let reader = tether::spawn(async move {
        let mut b = b;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // Slow until the writer is done, then drains what is left quickly.
            if !slow.load(std::sync::atomic::Ordering::Relaxed) {
                tether::time::sleep(Duration::from_millis(5)).await;
            }
            if b.read(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
        }
    });
    let (mut in_a_row, mut most, mut writes) = (0u64, 0u64, 0);
    while writes < 50 {
        a.wait_writable(both).await;
        match a.try_write_once(vectored) {
            Ok(n) => {
                assert!(n > 0);
                writes += 1;
                most = most.max(in_a_row);
                in_a_row = 0;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => in_a_row += 1,
            Err(e) => panic!("try_write: {e}"),
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(a);
    reader.await.unwrap();
    most
}

#[test]
fn writable_waits_while_the_write_behind_buffer_is_full() {
    // Rule 4: with `WRITE_CAP` bytes staged or in flight, `try_write`'s `WouldBlock` clears the
    // write readiness it acted on, and the send completion that frees room sets it again, so
    // `writable()` (and `ready` with both interests) waits instead of returning at once while
    // the socket stays writable: that spun at 100% CPU once, 400,000 `WouldBlock`s in a row.
    on_each(|| async {
        for (what, vectored, both) in [
            ("try_write", false, false),
            (
                "try_write_vectored after ready(READABLE | WRITABLE)",
                true,
                true,
            ),
        ] {
            let (a, b) = pair().await;
            let most = would_blocks_in_a_row(a, b, vectored, both).await;
            assert!(most < 100, "TcpStream {what}: {most} WouldBlocks in a row");
        }
        let (a, b) = UnixStream::pair().unwrap();
        let most = would_blocks_in_a_row(a, b, false, false).await;
        assert!(
            most < 100,
            "UnixStream try_write: {most} WouldBlocks in a row"
        );
    });
}

/// Two tasks reading through `&TcpStream` at once, both waiting when the bytes arrive: both are
/// woken (`uring_stream.rs` rule 7). The stream kept one reader's waker, so the other task was
/// never woken and waited for bytes that had already come.
#[test]
fn two_tasks_reading_through_a_shared_stream_are_both_woken() {
    on_each(|| async {
        let (client, mut server) = pair().await;
        let client = std::sync::Arc::new(client);
        // Completion mode starts at the first read: one round trip first.
        server.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        (&*client).read_exact(&mut one).await.unwrap();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let c = client.clone();
                tether::spawn(async move {
                    let mut b = [0u8; 4];
                    (&*c).read_exact(&mut b).await.unwrap();
                    b
                })
            })
            .collect();
        // Both readers wait before the bytes come.
        for _ in 0..10 {
            tether::task::yield_now().await;
        }
        server.write_all(b"abcdefgh").await.unwrap();
        server.flush().await.unwrap();
        let mut got = Vec::new();
        for r in readers {
            let b = tether::time::timeout(Duration::from_secs(10), r)
                .await
                .expect("a reader was never woken")
                .unwrap();
            got.push(b);
        }
        got.sort();
        assert_eq!(got, [*b"abcd", *b"efgh"]);
    });
}

/// Two tasks writing through `&TcpStream` at once while the write-behind buffer is full: both
/// finish once the peer reads (rule 7). The stream kept one writer's waker, so the other task
/// was never woken when room came back.
#[test]
fn two_tasks_writing_through_a_shared_stream_are_both_woken() {
    on_each(|| async {
        let (client, mut server) = pair().await;
        let client = std::sync::Arc::new(client);
        const EACH: usize = 2 << 20;
        let writers: Vec<_> = (0..2u8)
            .map(|i| {
                let c = client.clone();
                tether::spawn(async move {
                    (&*c).write_all(&vec![i; EACH]).await.unwrap();
                    (&*c).flush().await.unwrap();
                })
            })
            .collect();
        for _ in 0..10 {
            tether::task::yield_now().await;
        }
        let mut back = vec![0u8; 2 * EACH];
        tether::time::timeout(Duration::from_secs(20), server.read_exact(&mut back))
            .await
            .expect("a writer was never woken")
            .unwrap();
        for w in writers {
            tether::time::timeout(Duration::from_secs(10), w)
                .await
                .expect("a writer never finished")
                .unwrap();
        }
        assert_eq!(back.iter().filter(|&&b| b == 1).count(), EACH);
    });
}
