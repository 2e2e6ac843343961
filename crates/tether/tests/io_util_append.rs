//! Regression tests for four faults a review found in tether's I/O utilities, each named for
//! the behaviour it pins:
//!
//! - `read_line` and `read_to_string` append to the caller's `String` (they replaced it), and
//!   leave it as it was when the new bytes are not UTF-8;
//! - `copy` flushes its writer while its reader waits (it held the bytes in a `BufWriter`);
//! - a `BufReader` whose seek fails keeps its buffered bytes (it dropped them, so the position
//!   jumped);
//! - `repeat`, `sink` and `empty` spend the cooperative budget (a copy between them never
//!   yielded, so a `timeout` around it never fired); and `fill_buf`, which polled its reader
//!   twice, completes when the first poll spends the budget's last unit (it panicked).
//!
//! A test that would hang on a regression is bounded: by the paused clock and `timeout`, by
//! `support::bounded::within`, or by counting the loop iterations before a yield.

mod support;

use std::future::Future;
use std::io::{self, SeekFrom};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_lite::io::AsyncSeekExt;
use tether::io::{
    copy, duplex, empty, repeat, sink, AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt,
    AsyncWriteExt, BufReader, BufWriter, Cursor,
};
use tether::time::timeout;

use support::{bounded, iterations_before_yield, BUDGET};

/// A waker that does nothing, for polling a future by hand.
struct NoopWaker;

impl Wake for NoopWaker {
    fn wake(self: Arc<Self>) {}
}

/// A reader that returns `chunks` one per read, then fails with `error` (or EOF without one).
struct Scripted {
    chunks: Vec<&'static [u8]>,
    error: Option<io::ErrorKind>,
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.chunks.is_empty() {
            return Poll::Ready(match self.error {
                Some(kind) => Err(io::Error::new(kind, "scripted failure")),
                None => Ok(0),
            });
        }
        let chunk = self.chunks.remove(0);
        buf[..chunk.len()].copy_from_slice(chunk);
        Poll::Ready(Ok(chunk.len()))
    }
}

// Fault 1: `read_line` and `read_to_string` append.

#[tether::test]
async fn read_line_appends_to_the_callers_buffer() {
    let mut r = BufReader::new(&b"one\ntwo\n"[..]);
    let mut s = String::from("zero\n");
    assert_eq!(r.read_line(&mut s).await.unwrap(), 4, "the bytes appended");
    assert_eq!(s, "zero\none\n");
    assert_eq!(r.read_line(&mut s).await.unwrap(), 4);
    assert_eq!(s, "zero\none\ntwo\n");
    assert_eq!(r.read_line(&mut s).await.unwrap(), 0, "end of stream");
    assert_eq!(s, "zero\none\ntwo\n");
}

#[tether::test]
async fn read_to_string_appends_to_the_callers_buffer() {
    let mut r = &b"world"[..];
    let mut s = String::from("hello ");
    assert_eq!(
        r.read_to_string(&mut s).await.unwrap(),
        5,
        "the bytes appended"
    );
    assert_eq!(s, "hello world");
    assert_eq!(r.read_to_string(&mut s).await.unwrap(), 0, "end of stream");
    assert_eq!(s, "hello world");

    // Longer than any first guess of the size, in reads of a few bytes.
    let text = "0123456789abcdef".repeat(300);
    let mut r = BufReader::with_capacity(7, text.as_bytes());
    let mut s = String::from(">");
    assert_eq!(r.read_to_string(&mut s).await.unwrap(), text.len());
    assert_eq!(s, format!(">{text}"));
}

#[tether::test]
async fn read_line_leaves_the_buffer_as_it_was_when_the_line_is_not_utf8() {
    let mut r = BufReader::new(&b"ok\n\xff\xfe\nafter\n"[..]);
    let mut s = String::from("kept ");
    assert_eq!(r.read_line(&mut s).await.unwrap(), 3);
    let err = r.read_line(&mut s).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(s, "kept ok\n", "nothing of the bad line appended");
    // The bad line was consumed; reading goes on after it.
    assert_eq!(r.read_line(&mut s).await.unwrap(), 6);
    assert_eq!(s, "kept ok\nafter\n");
}

#[tether::test]
async fn read_to_string_leaves_the_buffer_as_it_was_when_the_bytes_are_not_utf8() {
    let mut r = &b"wor\xffld"[..];
    let mut s = String::from("hello ");
    let err = r.read_to_string(&mut s).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(s, "hello ");
}

#[tether::test]
async fn read_line_and_read_to_string_validate_characters_split_across_reads() {
    // "é" is two bytes; each read delivers one of them.
    let chunks = || vec![&b"caf"[..], &b"\xc3"[..], &b"\xa9\n"[..]];
    let mut r = BufReader::with_capacity(
        16,
        Scripted {
            chunks: chunks(),
            error: None,
        },
    );
    let mut s = String::from("un ");
    assert_eq!(r.read_line(&mut s).await.unwrap(), 6);
    assert_eq!(s, "un café\n");

    let mut r = Scripted {
        chunks: chunks(),
        error: None,
    };
    let mut s = String::from("un ");
    assert_eq!(r.read_to_string(&mut s).await.unwrap(), 6);
    assert_eq!(s, "un café\n");
}

#[tether::test]
async fn read_line_appends_what_it_read_before_a_reader_error_read_to_string_does_not() {
    // As tokio (and std): `read_line` keeps the part of the line read before the error, so a
    // retry continues it; `read_to_string` leaves the buffer as it was.
    let mut r = BufReader::new(Scripted {
        chunks: vec![b"par"],
        error: Some(io::ErrorKind::ConnectionReset),
    });
    let mut s = String::from("a ");
    let err = r.read_line(&mut s).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(s, "a par");

    let mut r = Scripted {
        chunks: vec![b"par"],
        error: Some(io::ErrorKind::ConnectionReset),
    };
    let mut s = String::from("a ");
    let err = r.read_to_string(&mut s).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(s, "a ");
}

#[test]
fn a_dropped_read_line_leaves_the_buffer_as_it_was() {
    // Not cancel-safe (the bytes of the partial line are lost), but the buffer is untouched.
    let (mut tx, rx) = duplex(64);
    let mut rx = BufReader::new(rx);
    let mut s = String::from("zero\n");
    let waker = Waker::from(Arc::new(NoopWaker));
    let mut cx = Context::from_waker(&waker);
    let mut write = pin!(tx.write_all(b"par"));
    assert!(write.as_mut().poll(&mut cx).is_ready());
    {
        let mut line = pin!(rx.read_line(&mut s));
        assert!(line.as_mut().poll(&mut cx).is_pending(), "no newline yet");
    }
    assert_eq!(s, "zero\n");
}

// Fault 2: `copy` flushes while its reader waits.

#[tether::test(start_paused = true)]
async fn copy_flushes_a_buffered_writer_while_the_reader_waits() {
    let (mut client_tx, server_in) = duplex(64);
    let (server_out, mut client_rx) = duplex(64);
    tether::spawn(async move { copy(server_in, &mut BufWriter::new(server_out)).await });

    client_tx.write_all(b"ping").await.unwrap();
    let mut echoed = [0u8; 4];
    timeout(Duration::from_secs(5), client_rx.read_exact(&mut echoed))
        .await
        .expect("the copy kept the bytes in its BufWriter while it waited for more")
        .unwrap();
    assert_eq!(&echoed, b"ping");

    // At EOF it flushes too, and returns the count.
    drop(client_tx);
    let mut rest = Vec::new();
    client_rx.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

#[tether::test]
async fn copy_takes_readers_and_writers_by_value_or_by_reference() {
    // By value, as `futures-lite`'s did.
    assert_eq!(copy(&b"abc"[..], sink()).await.unwrap(), 3);
    // By `&mut`, as tokio's does, also of an unsized writer.
    let mut r = &b"abcd"[..];
    let mut out: Vec<u8> = Vec::new();
    let w: &mut (dyn futures_lite::AsyncWrite + Unpin) = &mut out;
    assert_eq!(copy(&mut r, w).await.unwrap(), 4);
    assert_eq!(out, b"abcd");
    // A reader that is not `Unpin`.
    let r = futures_lite::io::BufReader::new(&b"xy"[..]);
    let mut out = Vec::new();
    assert_eq!(copy(r, &mut out).await.unwrap(), 2);
    assert_eq!(out, b"xy");
}

// Fault 3: a failed `BufReader` seek keeps the buffer.

#[tether::test]
async fn a_failed_buf_reader_seek_keeps_the_buffered_bytes() {
    let mut r = BufReader::with_capacity(16, Cursor::new((0u8..100).collect::<Vec<_>>()));
    let mut b = [0u8; 4];
    r.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [0, 1, 2, 3]);
    let err = r.seek(SeekFrom::Current(-10)).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "before the start");
    r.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [4, 5, 6, 7], "the position did not move");
    // A seek that succeeds still drops the buffer and lands where asked.
    assert_eq!(r.seek(SeekFrom::Current(-2)).await.unwrap(), 6);
    r.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [6, 7, 8, 9]);
}

// Fault 4: `repeat`, `sink` and `empty` spend the cooperative budget.

/// How long a runtime here may take (`within` gives Miri ten times as long).
const BOUND: Duration = Duration::from_secs(10);

#[test]
#[cfg_attr(
    miri,
    ignore = "safe code (repeat, sink and empty spending the budget); 20 to 28 s each under Miri"
)]
fn timeout_fires_around_a_copy_from_repeat_into_sink() {
    let res = bounded::within(BOUND, "timeout(50 ms, copy(repeat(0), sink()))", || {
        let rt = tether::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { timeout(Duration::from_millis(50), copy(repeat(0), sink())).await })
    });
    assert!(res.is_err(), "the copy of an endless reader ended: {res:?}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "safe code (repeat, sink and empty spending the budget); 20 to 28 s each under Miri"
)]
fn timeout_fires_around_a_loop_of_reads_and_writes_on_repeat_sink_and_empty() {
    let res = bounded::within(
        BOUND,
        "timeout(50 ms, a loop over repeat, sink and empty)",
        || {
            let rt = tether::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let (mut r, mut w, mut e) = (repeat(1), sink(), empty());
                let mut buf = [0u8; 64];
                let endless = async {
                    loop {
                        r.read_exact(&mut buf).await.unwrap();
                        w.write_all(&buf).await.unwrap();
                        assert_eq!(e.read(&mut buf).await.unwrap(), 0);
                    }
                };
                timeout(Duration::from_millis(50), endless).await
            })
        },
    );
    assert!(res.is_err(), "the endless loop ended: {res:?}");
}

#[tether::test]
async fn repeat_sink_and_empty_yield_after_the_budget() {
    let expected = BUDGET + 1;
    let reads = iterations_before_yield!({
        let mut r = repeat(7);
        let mut buf = [0u8; 16];
    } => {
        assert_eq!(r.read(&mut buf).await.unwrap(), 16);
    });
    assert_eq!(reads, expected, "repeat: one unit per read");

    let writes = iterations_before_yield!({ let mut w = sink(); } => {
        assert_eq!(w.write(b"x").await.unwrap(), 1);
    });
    assert_eq!(writes, expected, "sink: one unit per write");

    let flushes = iterations_before_yield!({ let mut w = sink(); } => {
        w.flush().await.unwrap();
    });
    assert_eq!(flushes, expected, "sink: one unit per flush");

    let reads = iterations_before_yield!({
        let mut e = empty();
        let mut buf = [0u8; 16];
    } => {
        assert_eq!(e.read(&mut buf).await.unwrap(), 0);
    });
    assert_eq!(reads, expected, "empty: one unit per read");

    let fills = iterations_before_yield!({ let mut e = empty(); } => {
        assert!(e.fill_buf().await.unwrap().is_empty());
    });
    assert_eq!(fills, expected, "empty: one unit per fill_buf");
}

#[tether::test]
async fn fill_buf_with_one_unit_of_budget_left_completes() {
    // A write and a `fill_buf` per iteration, so that some `fill_buf` starts with exactly one
    // unit of budget left: it must spend it once and complete (a `fill_buf` that polled its
    // reader twice found it `Pending` the second time and panicked).
    let iterations = iterations_before_yield!({
        let mut w = sink();
        let mut e = empty();
    } => {
        assert_eq!(w.write(b"x").await.unwrap(), 1);
        assert!(e.fill_buf().await.unwrap().is_empty());
    });
    assert_eq!(iterations, BUDGET / 2 + 1, "empty: one unit per fill_buf");

    // The same over a `BufReader` at end-of-stream, whose every fill reads its inner stream.
    let iterations = iterations_before_yield!({
        let mut w = sink();
        let (tx, rx) = duplex(8);
        drop(tx);
        let mut r = BufReader::new(rx);
    } => {
        assert_eq!(w.write(b"x").await.unwrap(), 1);
        assert!(r.fill_buf().await.unwrap().is_empty());
    });
    assert_eq!(
        iterations,
        BUDGET / 2 + 1,
        "BufReader<DuplexStream>: one unit per fill_buf"
    );
}

#[test]
fn repeat_sink_and_empty_work_without_a_runtime() {
    // Outside a task the budget is unconstrained: they never return `Pending`.
    let waker = Waker::from(Arc::new(NoopWaker));
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0u8; 3];
    let mut r = repeat(9);
    assert!(matches!(
        Pin::new(&mut r).poll_read(&mut cx, &mut buf),
        Poll::Ready(Ok(3))
    ));
    assert_eq!(buf, [9; 3]);
    let mut e = empty();
    assert!(matches!(
        Pin::new(&mut e).poll_fill_buf(&mut cx),
        Poll::Ready(Ok(b)) if b.is_empty()
    ));
    let mut w = sink();
    assert!(matches!(
        futures_lite::AsyncWrite::poll_write(Pin::new(&mut w), &mut cx, b"abc"),
        Poll::Ready(Ok(3))
    ));
}

// The new public types: `Send`, `Sync` and `Unpin` as the ones they replace were.

fn send_sync_unpin<T: Send + Sync + Unpin>() {}
fn send<T: Send>(_: &T) {}

#[test]
fn the_new_io_types_are_send_sync_and_unpin() {
    use std::marker::PhantomPinned;
    use tether::io::{DuplexStream, Empty, FillBuf, ReadLine, ReadToString, Repeat, Sink};
    send_sync_unpin::<Empty>();
    send_sync_unpin::<Repeat>();
    send_sync_unpin::<Sink>();
    send_sync_unpin::<ReadLine<'static, BufReader<DuplexStream>>>();
    send_sync_unpin::<ReadToString<'static, DuplexStream>>();
    send_sync_unpin::<FillBuf<'static, BufReader<DuplexStream>>>();
    send_sync_unpin::<ReadLine<'static, PhantomPinned>>();
    let (a, b) = duplex(8);
    send(&copy(a, b));
}
