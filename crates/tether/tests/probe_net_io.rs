//! Probes of the stream utilities (`io::util`) and the sockets (`net`) on the default driver,
//! from a tokio user's side: what each method promises (tether's docs, or tokio's for the same
//! name) checked against what it does. Each test is named for the behaviour it pins; every wait
//! is bounded, so a lost wake-up fails the test instead of hanging it.

mod support;

use std::time::Duration;

use tether::time::timeout;

/// The bound on each wait: far above any real wait on loopback, only there to turn a hang into
/// a failure.
const HANG: Duration = Duration::from_secs(20);

#[allow(dead_code)]
async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match timeout(HANG, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: still waiting after {HANG:?} (a lost wake-up?)"),
    }
}

/// `try_write_vectored` to a stream whose peer is gone fails with `BrokenPipe` and raises no
/// `SIGPIPE`, as every other write of a stream (`net` module: "No write raises `SIGPIPE`").
/// `SIGPIPE` is blocked on this thread while the write runs, so one raised stays pending here
/// instead of reaching a handler (or killing the process).
#[cfg(target_os = "linux")]
#[test]
fn try_write_vectored_to_a_closed_stream_raises_no_sigpipe() {
    use std::io::{self, IoSlice};

    use tether::net::UnixStream;

    /// Blocks `SIGPIPE` on this thread; returns whether one is pending after `f`, taking it.
    fn sigpipe_raised_by(f: impl FnOnce()) -> bool {
        // SAFETY: the `sigset_t`s are plain values, initialized by `sigemptyset` before use;
        // the calls change only this thread's mask (restored below) and take only `SIGPIPE`,
        // which this function blocked, so no other code's signal is consumed.
        unsafe {
            let mut pipe: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pipe);
            libc::sigaddset(&mut pipe, libc::SIGPIPE);
            assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old), 0);
            f();
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pending);
            assert_eq!(libc::sigpending(&mut pending), 0);
            let raised = libc::sigismember(&pending, libc::SIGPIPE) == 1;
            if raised {
                let none = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(&pipe, std::ptr::null_mut(), &none);
            }
            assert_eq!(
                libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()),
                0
            );
            raised
        }
    }

    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        bounded("writable", a.writable()).await.unwrap();
        let bufs = [IoSlice::new(b"ab"), IoSlice::new(b"cd")];
        let mut result = None;
        let raised = sigpipe_raised_by(|| result = Some(a.try_write_vectored(&bufs)));
        let err = result.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err:?}");
        assert!(!raised, "try_write_vectored raised SIGPIPE");
    });
}

#[cfg(unix)]
mod held {
    //! Probes that held: what a tokio user relies on, checked once here.

    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tether::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
    use tether::net::UnixStream;

    use super::bounded;

    use crate::support::net::tcp_pair;

    /// Reads `$s` with `readable` + `try_read` into a 2-byte buffer until `Ok(0)`.
    macro_rules! drain_in_pieces {
        ($s:expr) => {{
            let mut got = Vec::new();
            let mut buf = [0u8; 2];
            loop {
                match $s.try_read(&mut buf) {
                    Ok(0) => break got,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        bounded("readable after WouldBlock", $s.readable())
                            .await
                            .unwrap()
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }};
    }

    /// `readable` + `try_read` with a buffer smaller than what arrived, the data and the FIN
    /// together: every byte, then `Ok(0)`; never `WouldBlock` forever.
    #[tether::test]
    async fn try_read_in_small_pieces_reaches_end_of_stream() {
        let (mut a, b) = tcp_pair().await;
        a.write_all(b"abcde").await.unwrap();
        a.close().await.unwrap();
        assert_eq!(drain_in_pieces!(b), b"abcde");

        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"abcde").await.unwrap();
        a.close().await.unwrap();
        assert_eq!(drain_in_pieces!(b), b"abcde");
    }

    /// `lines` over a socket: CRLF and LF endings, a last line without one (its `\r` kept, as
    /// tokio keeps it), and an invalid line that fails alone.
    #[tether::test]
    async fn lines_over_a_socket_handle_crlf_invalid_utf8_and_an_unterminated_tail() {
        let (mut a, b) = tcp_pair().await;
        tether::spawn(async move {
            for piece in [&b"one\r"[..], b"\ntwo\n\xff\xfe\r\nthr", b"ee\r"] {
                a.write_all(piece).await.unwrap();
                tether::task::yield_now().await;
            }
            a.close().await.unwrap();
        });
        let mut lines = BufReader::with_capacity(3, b).lines();
        let mut got = Vec::new();
        loop {
            match bounded("next_line", lines.next_line()).await {
                Ok(Some(l)) => got.push(l),
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                    got.push("<invalid>".into());
                }
            }
        }
        assert_eq!(got, ["one", "two", "<invalid>", "three\r"]);
    }

    /// A writer that takes one byte a call, returning `Pending` every other call.
    struct Trickle {
        out: Vec<u8>,
        pending: bool,
    }

    impl futures_lite::AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.pending = !self.pending;
            if self.pending {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.out.push(buf[0]);
            Poll::Ready(Ok(1))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// `copy` and `copy_buf` into a writer of short writes keep every byte up to EOF; a
    /// `BufWriter` over a socket sends what it buffered, then FIN, on `shutdown`.
    #[tether::test]
    async fn copies_keep_the_tail_and_buf_writer_shutdown_flushes_then_sends_fin() {
        let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        let mut w = Trickle {
            out: Vec::new(),
            pending: false,
        };
        let n = tether::io::copy(&data[..], &mut w).await.unwrap();
        assert_eq!((n, &w.out), (data.len() as u64, &data));
        let mut w = Trickle {
            out: Vec::new(),
            pending: false,
        };
        let mut r = BufReader::with_capacity(7, &data[..]);
        let n = tether::io::copy_buf(&mut r, &mut w).await.unwrap();
        assert_eq!((n, &w.out), (data.len() as u64, &data));

        let (a, mut b) = tcp_pair().await;
        let mut w = BufWriter::new(a);
        w.write_all(b"buffered").await.unwrap();
        w.shutdown().await.unwrap();
        let mut got = Vec::new();
        bounded("read_to_end", b.read_to_end(&mut got))
            .await
            .unwrap();
        assert_eq!(got, b"buffered");
    }
}
