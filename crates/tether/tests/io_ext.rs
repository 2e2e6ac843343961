//! tether's I/O utilities with tokio's names: the number readers and writers of
//! `AsyncReadExt`/`AsyncWriteExt` (both byte orders, partial reads, early EOF, a writer that
//! stops), `shutdown`, `lines().next_line()` and `split(b).next_segment()` (also as streams,
//! and cancel-safe), `split`/`unsplit` for any stream, `BufReader`/`BufWriter`/`BufStream`
//! (batching counted, not timed), `copy_buf`, and `copy`/`sink`/`empty`/`repeat`.
//!
//! Scenarios over streams whose behaviour could depend on the scheduler run on both flavors:
//! `current_thread::NAME` and `multi_thread::NAME`.

mod support;

use support::on_both_flavors;

use std::future::Future;
use std::io::{self, SeekFrom};
use std::marker::PhantomPinned;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_lite::StreamExt;
use tether::io::{
    copy, copy_buf, duplex, empty, repeat, sink, split, AsyncBufReadExt, AsyncRead, AsyncReadExt,
    AsyncSeekExt, AsyncWrite, AsyncWriteExt, BufReader, BufStream, BufWriter, Cursor,
};
use tether::net::TcpStream;

on_both_flavors!(
    numbers_cross_a_stream_that_delivers_a_few_bytes_at_a_time,
    lines_over_a_socket,
    split_halves_work_from_two_tasks,
    buf_stream_request_and_response_over_tcp,
    shutdown_on_a_split_half_ends_the_peers_reading,
);

/// Counts the calls that reach the wrapped stream.
#[derive(Debug)]
struct Counting<T> {
    inner: T,
    reads: Arc<AtomicUsize>,
    writes: Arc<AtomicUsize>,
}

impl<T> Counting<T> {
    fn new(inner: T) -> (Self, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (reads, writes) = (Arc::default(), Arc::default());
        let c = Counting {
            inner,
            reads: Arc::clone(&reads),
            writes: Arc::clone(&writes),
        };
        (c, reads, writes)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counting<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counting<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl<T: tether::io::AsyncSeek + Unpin> tether::io::AsyncSeek for Counting<T> {
    fn poll_seek(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        Pin::new(&mut self.inner).poll_seek(cx, pos)
    }
}

/// A writer that takes `room` bytes, then no more (`Ok(0)`).
struct Stops {
    room: usize,
}

impl AsyncWrite for Stops {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.room);
        self.room -= n;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

use crate::support::net::tcp_pair;

// ---- numbers --------------------------------------------------------------------------------

/// Writes one of each number, checking its bytes, then reads them all back.
#[tether::test]
async fn every_number_round_trips_in_both_byte_orders() {
    let mut w = Cursor::new(Vec::new());
    macro_rules! write_all_kinds {
        ($($write:ident($v:expr) => $bytes:expr;)*) => {$(
            let at = w.get_ref().len();
            w.$write($v).await.unwrap();
            assert_eq!(&w.get_ref()[at..], &$bytes[..], stringify!($write));
        )*};
    }
    write_all_kinds! {
        write_u8(0xfe) => [0xfe];
        write_i8(-2) => [0xfe];
        write_u16(0x0102) => [1, 2];
        write_u16_le(0x0102) => [2, 1];
        write_i16(-2) => (-2i16).to_be_bytes();
        write_i16_le(-2) => (-2i16).to_le_bytes();
        write_u32(0x0102_0304) => [1, 2, 3, 4];
        write_u32_le(0x0102_0304) => [4, 3, 2, 1];
        write_i32(-3) => (-3i32).to_be_bytes();
        write_i32_le(-3) => (-3i32).to_le_bytes();
        write_u64(u64::MAX - 1) => (u64::MAX - 1).to_be_bytes();
        write_u64_le(u64::MAX - 1) => (u64::MAX - 1).to_le_bytes();
        write_i64(i64::MIN) => i64::MIN.to_be_bytes();
        write_i64_le(i64::MIN) => i64::MIN.to_le_bytes();
        write_u128(1 << 100) => (1u128 << 100).to_be_bytes();
        write_u128_le(1 << 100) => (1u128 << 100).to_le_bytes();
        write_i128(-5) => (-5i128).to_be_bytes();
        write_i128_le(-5) => (-5i128).to_le_bytes();
        write_f32(1.5) => 1.5f32.to_be_bytes();
        write_f32_le(1.5) => 1.5f32.to_le_bytes();
        write_f64(-0.25) => (-0.25f64).to_be_bytes();
        write_f64_le(-0.25) => (-0.25f64).to_le_bytes();
    }
    let mut r = Cursor::new(w.into_inner());
    assert_eq!(r.read_u8().await.unwrap(), 0xfe);
    assert_eq!(r.read_i8().await.unwrap(), -2);
    assert_eq!(r.read_u16().await.unwrap(), 0x0102);
    assert_eq!(r.read_u16_le().await.unwrap(), 0x0102);
    assert_eq!(r.read_i16().await.unwrap(), -2);
    assert_eq!(r.read_i16_le().await.unwrap(), -2);
    assert_eq!(r.read_u32().await.unwrap(), 0x0102_0304);
    assert_eq!(r.read_u32_le().await.unwrap(), 0x0102_0304);
    assert_eq!(r.read_i32().await.unwrap(), -3);
    assert_eq!(r.read_i32_le().await.unwrap(), -3);
    assert_eq!(r.read_u64().await.unwrap(), u64::MAX - 1);
    assert_eq!(r.read_u64_le().await.unwrap(), u64::MAX - 1);
    assert_eq!(r.read_i64().await.unwrap(), i64::MIN);
    assert_eq!(r.read_i64_le().await.unwrap(), i64::MIN);
    assert_eq!(r.read_u128().await.unwrap(), 1 << 100);
    assert_eq!(r.read_u128_le().await.unwrap(), 1 << 100);
    assert_eq!(r.read_i128().await.unwrap(), -5);
    assert_eq!(r.read_i128_le().await.unwrap(), -5);
    assert_eq!(r.read_f32().await.unwrap(), 1.5);
    assert_eq!(r.read_f32_le().await.unwrap(), 1.5);
    assert_eq!(r.read_f64().await.unwrap(), -0.25);
    assert_eq!(r.read_f64_le().await.unwrap(), -0.25);
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).await.unwrap(), 0, "all consumed");
}

#[tether::test]
async fn a_number_cut_short_by_eof_says_how_far_it_got() {
    let mut r: &[u8] = &[1, 2];
    let err = r.read_u32().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(
        err.to_string(),
        "the stream ended after 2 of the 4 bytes of a u32"
    );
    let mut r: &[u8] = &[];
    let err = r.read_f64_le().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the stream ended after 0 of the 8 bytes of a f64"
    );
}

#[tether::test]
async fn a_writer_that_stops_fails_a_number_with_write_zero() {
    let mut w = Stops { room: 3 };
    let err = w.write_u64(7).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WriteZero);
    assert!(err.to_string().contains("after 3 of the 8"), "{err}");
}

async fn numbers_cross_a_stream_that_delivers_a_few_bytes_at_a_time() {
    // A 3-byte pipe: every number longer than 3 bytes needs several reads and writes.
    let (mut tx, mut rx) = duplex(3);
    let writer = tether::spawn(async move {
        for i in 0..100u64 {
            tx.write_u64(i * 0x0101_0101_0101).await?;
            tx.write_u16_le(i as u16).await?;
            tx.write_i128(-(i as i128)).await?;
        }
        tx.shutdown().await
    });
    for i in 0..100u64 {
        assert_eq!(rx.read_u64().await.unwrap(), i * 0x0101_0101_0101);
        assert_eq!(rx.read_u16_le().await.unwrap(), i as u16);
        assert_eq!(rx.read_i128().await.unwrap(), -(i as i128));
    }
    assert_eq!(
        rx.read_u8().await.unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
    writer.await.unwrap().unwrap();
}

// ---- lines and segments ---------------------------------------------------------------------

#[tether::test]
async fn next_line_strips_line_ends_and_keeps_an_unterminated_last_line() {
    let input: &[u8] = b"first\r\nsecond\n\nlast\r";
    let mut lines = BufReader::with_capacity(2, input).lines();
    let mut got = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        got.push(line);
    }
    assert_eq!(got, ["first", "second", "", "last\r"]);
    assert_eq!(lines.next_line().await.unwrap(), None, "stays at the end");
}

#[tether::test]
async fn invalid_utf8_fails_one_line_and_reading_goes_on() {
    let input: &[u8] = b"ok\n\xff\xfe\nafter\n";
    let mut lines = BufReader::new(input).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("ok"));
    let err = lines.next_line().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("after"));
}

#[tether::test]
async fn lines_and_segments_are_streams_too() {
    let got: Vec<String> = BufReader::new(&b"a\nb\nc"[..])
        .lines()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(got, ["a", "b", "c"]);

    let mut segments = BufReader::new(&b"x,,y,"[..]).split(b',');
    assert_eq!(segments.next_segment().await.unwrap(), Some(b"x".to_vec()));
    assert_eq!(segments.next_segment().await.unwrap(), Some(Vec::new()));
    let rest: Vec<Vec<u8>> = segments.map(Result::unwrap).collect().await;
    assert_eq!(
        rest,
        [b"y".to_vec()],
        "no empty segment after a final delimiter"
    );
}

#[tether::test]
async fn next_line_is_cancel_safe() {
    let (mut tx, rx) = duplex(64);
    let mut lines = BufReader::new(rx).lines();
    tx.write_all(b"hal").await.unwrap();
    {
        // Poll once: it takes "hal", then waits for the rest; then the future is dropped.
        let mut fut = pin!(lines.next_line());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    assert!(lines.get_ref().buffer().is_empty(), "\"hal\" was taken");
    tx.write_all(b"f a line\n").await.unwrap();
    assert_eq!(
        lines.next_line().await.unwrap().as_deref(),
        Some("half a line"),
        "the part read before the drop was kept"
    );
}

async fn lines_over_a_socket() {
    let (a, mut b) = tcp_pair().await;
    let writer = tether::spawn(async move {
        for i in 0..500 {
            b.write_all(format!("line {i}\n").as_bytes()).await?;
        }
        // `close`: `TcpStream` has an inherent `shutdown(how)` that shadows tokio's
        // `shutdown()` (see `AsyncWriteExt::shutdown`).
        b.close().await
    });
    let mut lines = BufReader::new(a).lines();
    let mut n = 0;
    while let Some(line) = lines.next_line().await.unwrap() {
        assert_eq!(line, format!("line {n}"));
        n += 1;
    }
    assert_eq!(n, 500);
    writer.await.unwrap().unwrap();
}

// ---- split ----------------------------------------------------------------------------------

async fn split_halves_work_from_two_tasks() {
    let (client, server) = duplex(16); // small: both halves wait on each other often
    let (mut rd, mut wr) = split(client);
    assert!(rd.is_pair_of(&wr) && wr.is_pair_of(&rd));
    let echo = tether::spawn(async move {
        let (mut srd, mut swr) = split(server);
        let n = copy(&mut srd, &mut swr).await?;
        swr.shutdown().await?;
        io::Result::Ok(n)
    });
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let expect = data.clone();
    let writer = tether::spawn(async move {
        wr.write_all(&data).await?;
        wr.shutdown().await?; // the echo ends after this
        io::Result::Ok(wr)
    });
    let mut got = Vec::new();
    rd.read_to_end(&mut got).await.unwrap();
    assert!(got == expect, "the echo came back whole and in order");
    let wr = writer.await.unwrap().unwrap();
    assert_eq!(echo.await.unwrap().unwrap(), 20_000);
    let _client = rd.unsplit(wr);
}

#[test]
fn unsplit_with_the_half_of_another_split_panics_with_advice() {
    let (a, b) = duplex(8);
    let (ra, _wa) = split(a);
    let (_rb, wb) = split(b);
    assert!(!ra.is_pair_of(&wb));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ra.unsplit(wb)))
        .expect_err("mismatched halves must panic");
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("WriteHalf of another split"), "{msg}");
}

/// A stream that must not move once pinned, to show `split` takes one.
struct Pinned {
    inner: Cursor<Vec<u8>>,
    _pin: PhantomPinned,
}

impl AsyncRead for Pinned {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // SAFETY: `inner` is never moved out of a pinned `Pinned` (it is not structurally
        // pinned: it is `Unpin`).
        let inner = unsafe { &mut self.get_unchecked_mut().inner };
        Pin::new(inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Pinned {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // SAFETY: as in `poll_read`.
        let inner = unsafe { &mut self.get_unchecked_mut().inner };
        Pin::new(inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tether::test]
async fn split_takes_a_stream_that_is_not_unpin() {
    let stream = Pinned {
        inner: Cursor::new(b"pinned".to_vec()),
        _pin: PhantomPinned,
    };
    let (mut rd, mut wr) = split(stream);
    let mut buf = [0u8; 6];
    rd.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pinned");
    wr.write_all(b"!").await.unwrap();
}

async fn shutdown_on_a_split_half_ends_the_peers_reading() {
    let (a, mut b) = tcp_pair().await;
    let (_r, mut w) = a.into_split();
    w.write_all(b"bye").await.unwrap();
    w.shutdown().await.unwrap(); // tokio's name, on a type without an inherent `shutdown`
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
}

// ---- buffered wrappers ----------------------------------------------------------------------

#[tether::test]
async fn buf_reader_batches_small_reads_and_passes_large_ones_through() {
    let data: Vec<u8> = (0..100u8).collect();
    let (counted, reads, _) = Counting::new(Cursor::new(data.clone()));
    let mut r = BufReader::with_capacity(32, counted);
    let mut one = [0u8; 1];
    for expect in 0..32u8 {
        r.read_exact(&mut one).await.unwrap();
        assert_eq!(one[0], expect);
    }
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "32 one-byte reads, one fill"
    );
    let mut big = [0u8; 40];
    r.read_exact(&mut big).await.unwrap();
    assert_eq!(&big[..], &data[32..72]);
    assert_eq!(
        reads.load(Ordering::SeqCst),
        2,
        "a read as large as the buffer, with the buffer empty, goes straight through"
    );
    assert!(r.buffer().is_empty());
    // Seeking relative to the current position counts what is buffered.
    r.read_exact(&mut one).await.unwrap(); // fills 28 more, returns byte 72
    assert_eq!(r.buffer().len(), 27);
    assert_eq!(r.seek(SeekFrom::Current(2)).await.unwrap(), 75);
    r.read_exact(&mut one).await.unwrap();
    assert_eq!(one[0], 75);
    assert!(format!("{r:?}").contains("capacity: 32"));
}

#[test]
#[should_panic(expected = "BufReader::with_capacity(0, ..)")]
fn buf_reader_of_no_capacity_panics_with_advice() {
    let _ = BufReader::with_capacity(0, empty());
}

#[tether::test]
async fn buf_writer_batches_small_writes_until_flush() {
    let (counted, _, writes) = Counting::new(Cursor::new(Vec::new()));
    let mut w = BufWriter::with_capacity(16, counted);
    for _ in 0..5 {
        w.write_all(b"abc").await.unwrap();
    }
    assert_eq!(
        writes.load(Ordering::SeqCst),
        0,
        "15 bytes fit: nothing written yet"
    );
    assert_eq!(w.buffer(), b"abcabcabcabcabc");
    w.write_all(b"de").await.unwrap(); // does not fit: the buffer goes out first
    assert_eq!(writes.load(Ordering::SeqCst), 1);
    assert_eq!(w.buffer(), b"de");
    w.write_all(&[b'x'; 20]).await.unwrap(); // larger than the buffer: straight through
    assert_eq!(
        writes.load(Ordering::SeqCst),
        3,
        "the buffer, then the large write"
    );
    assert!(w.buffer().is_empty());
    w.write_all(b"tail").await.unwrap();
    w.flush().await.unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 4);
    let mut expect = b"abcabcabcabcabcde".to_vec();
    expect.extend_from_slice(&[b'x'; 20]);
    expect.extend_from_slice(b"tail");
    assert_eq!(w.get_ref().inner.get_ref(), &expect);

    // Seeking writes the buffer out first.
    w.write_all(b"!").await.unwrap();
    assert_eq!(w.seek(SeekFrom::Start(0)).await.unwrap(), 0);
    assert_eq!(w.get_ref().inner.get_ref().len(), expect.len() + 1);
}

#[tether::test]
async fn buf_writer_passes_reads_through_and_close_flushes() {
    let (near, mut far) = duplex(64);
    let mut w = BufWriter::new(near);
    w.write_all(b"buffered").await.unwrap();
    far.write_all(b"from far").await.unwrap();
    let mut got = [0u8; 8];
    w.read_exact(&mut got).await.unwrap(); // reads pass through, writes stay buffered
    assert_eq!(&got, b"from far");
    assert_eq!(w.buffer(), b"buffered");
    w.close().await.unwrap();
    let mut out = Vec::new();
    far.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, b"buffered");
}

#[tether::test]
async fn dropping_a_buf_writer_drops_what_it_buffered() {
    let (near, mut far) = duplex(64);
    let mut w = BufWriter::new(near);
    w.write_all(b"lost").await.unwrap();
    drop(w);
    let mut out = Vec::new();
    far.read_to_end(&mut out).await.unwrap();
    assert!(out.is_empty(), "documented: flush before dropping");
}

async fn buf_stream_request_and_response_over_tcp() {
    let (a, b) = tcp_pair().await;
    let server = tether::spawn(async move {
        let mut s = BufStream::new(b);
        let mut lines = 0u32;
        let mut line = String::new();
        while s.read_line(&mut line).await? != 0 {
            s.write_u32(line.len() as u32).await?;
            line.clear();
            lines += 1;
            if lines % 10 == 0 {
                s.flush().await?;
            }
        }
        s.flush().await?;
        io::Result::Ok(lines)
    });
    let mut c = BufStream::with_capacity(64, 64, a);
    for i in 0..100 {
        c.write_all(format!("request {i}\n").as_bytes())
            .await
            .unwrap();
    }
    c.flush().await.unwrap();
    for i in 0..100 {
        let len = c.read_u32().await.unwrap();
        assert_eq!(len as usize, format!("request {i}\n").len());
    }
    c.shutdown().await.unwrap(); // flushes, then shuts down the writing direction
    assert_eq!(server.await.unwrap().unwrap(), 100);
    let inner: TcpStream = c.into_inner();
    assert!(inner.local_addr().is_ok());
}

// ---- copies and the trivial streams ---------------------------------------------------------

#[tether::test]
async fn copy_buf_writes_from_the_readers_buffer() {
    let (counted, reads, _) = Counting::new(Cursor::new(vec![9u8; 10_000]));
    let mut r = BufReader::with_capacity(4096, counted);
    let mut out = Vec::new();
    assert_eq!(copy_buf(&mut r, &mut out).await.unwrap(), 10_000);
    assert_eq!(out, vec![9u8; 10_000]);
    assert_eq!(
        reads.load(Ordering::SeqCst),
        4,
        "three fills and the end-of-stream read"
    );

    let mut r: &[u8] = b"0123456789";
    let err = copy_buf(&mut r, &mut Stops { room: 4 }).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WriteZero);
    assert_eq!(r, b"456789", "only what was written left the reader");
}

#[tether::test]
async fn copy_sink_empty_and_repeat() {
    let n = copy(&mut repeat(7).take(100_000), &mut sink())
        .await
        .unwrap();
    assert_eq!(n, 100_000);
    let mut nothing = Vec::new();
    assert_eq!(empty().read_to_end(&mut nothing).await.unwrap(), 0);
    let mut sevens = [0u8; 5];
    repeat(7).read_exact(&mut sevens).await.unwrap();
    assert_eq!(sevens, [7; 5]);
    let mut s = sink();
    s.write_u64(1).await.unwrap();
    s.shutdown().await.unwrap();
}
