//! A write to a connection the peer closed fails with `EPIPE` and raises no `SIGPIPE`, through
//! every write method of a stream, as std's `TcpStream::write` (`MSG_NOSIGNAL`) does. A Rust
//! `main` ignores `SIGPIPE`, but a program that handles it (here through `tether::signal`),
//! or a host process that keeps its default action (which kills the process), must not get
//! one for a connection's normal end. Its own binary: the test installs a `SIGPIPE` handler.

#![cfg(unix)]

mod support;

use std::io::{self, IoSlice};
use std::time::Duration;

use futures_lite::future::poll_once;
use tether::io::AsyncWriteExt;
use tether::net::{TcpStream, UnixStream};
use tether::signal::unix::{signal, SignalKind};
use tether::time::timeout;

const HANG: Duration = Duration::from_secs(20);

use crate::support::net::tcp_pair;

/// A stream whose writes are probed.
trait Stream {
    async fn write_once(&self, vectored: bool) -> io::Result<usize>;
    /// Waits until the peer's reset (TCP) has arrived; a Unix stream fails at once.
    async fn wait_error(&self);
}

macro_rules! stream {
    ($t:ty) => {
        impl Stream for $t {
            async fn write_once(&self, vectored: bool) -> io::Result<usize> {
                let mut w = self;
                let n = if vectored {
                    let bufs = [IoSlice::new(b"ab"), IoSlice::new(b"cd")];
                    w.write_vectored(&bufs).await?
                } else {
                    w.write(b"abcd").await?
                };
                // On io_uring a write is staged and sent behind; its error comes here.
                w.flush().await?;
                Ok(n)
            }

            async fn wait_error(&self) {
                let r = timeout(HANG, self.ready(tether::io::Interest::ERROR)).await;
                r.expect("no reset came").unwrap();
            }
        }
    };
}
stream!(TcpStream);
stream!(UnixStream);

/// Writes until a write fails, then twice more (the first failure after a reset may be
/// `ECONNRESET`, which raises nothing; the later ones are `EPIPE`); returns the last error.
async fn write_until_error(s: &impl Stream, vectored: bool) -> io::Error {
    let mut failed = 0;
    let mut last = None;
    for _ in 0..100 {
        let r = timeout(HANG, s.write_once(vectored)).await;
        match r.expect("a write to a closed connection hung") {
            Ok(_) if failed == 0 => s.wait_error().await,
            Ok(n) => panic!("a write after an error wrote {n} bytes"),
            Err(e) => {
                failed += 1;
                last = Some(e);
                if failed == 3 {
                    break;
                }
            }
        }
    }
    last.expect("writes to a closed connection kept succeeding")
}

/// Tells whether a `SIGPIPE` was delivered since `pipe` was created: raises `SIGUSR2` and
/// waits for it; the signal driver delivers every pending signal together (its rule 3), so a
/// `SIGPIPE` raised before is seen by then.
async fn sigpipe_seen(pipe: &mut tether::signal::unix::Signal) -> bool {
    let mut usr2 = signal(SignalKind::user_defined2()).unwrap();
    let status = std::process::Command::new("kill")
        .arg("-USR2")
        .arg(std::process::id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    timeout(HANG, usr2.recv())
        .await
        .expect("SIGUSR2 never came")
        .unwrap();
    poll_once(pipe.recv()).await.is_some()
}

#[tether::test]
async fn writes_to_a_closed_connection_raise_no_sigpipe() {
    let mut pipe = signal(SignalKind::from_raw(13)).unwrap(); // SIGPIPE
    for vectored in [false, true] {
        let (a, b) = tcp_pair().await;
        drop(b);
        let e = write_until_error(&a, vectored).await;
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "TCP, vectored {vectored}: {e:?}"
        );
        assert!(
            !sigpipe_seen(&mut pipe).await,
            "TCP, vectored {vectored}: a write raised SIGPIPE"
        );

        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let e = write_until_error(&a, vectored).await;
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "Unix: {e:?}");
        assert!(
            !sigpipe_seen(&mut pipe).await,
            "Unix, vectored {vectored}: a write raised SIGPIPE"
        );
    }
}
