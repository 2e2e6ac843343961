//! tokio 1.x API items a port needs that tether once lacked, each exercised for its behaviour:
//! the methods of the split halves of `TcpStream` and `UnixStream` (on both I/O drivers: run with
//! and without `TETHER_IO_DRIVER=io_uring`).

use std::future::Future;
use std::io::{IoSlice, IoSliceMut};
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tether::net::{TcpListener, TcpStream};

/// Runs `f` under a generous real-time bound, so that a regression hangs no test run.
async fn bounded<F: Future>(f: F) -> F::Output {
    tether::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("the test did not finish within 20 s")
}

/// A connected TCP pair over loopback: (client, server).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// `try_read` through `read`'s readiness until it gives bytes (or end-of-stream).
macro_rules! read_when_ready {
    ($half:expr, $buf:expr) => {
        loop {
            $half.readable().await.unwrap();
            match $half.try_read($buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                res => break res.unwrap(),
            }
        }
    };
}

/// The addresses, readiness and non-blocking reads and writes of a stream's halves, as tokio's
/// halves have them, for `$rd`/`$wr` of the stream `a` talking to `b`.
macro_rules! check_half_methods {
    ($a_local:expr, $a_peer:expr, $rd:expr, $wr:expr, $b:expr) => {{
        let (rd, wr, b) = ($rd, $wr, $b);
        assert_eq!(format!("{:?}", rd.local_addr().unwrap()), $a_local);
        assert_eq!(format!("{:?}", rd.peer_addr().unwrap()), $a_peer);
        assert_eq!(format!("{:?}", wr.local_addr().unwrap()), $a_local);
        assert_eq!(format!("{:?}", wr.peer_addr().unwrap()), $a_peer);

        // First through `AsyncRead`/`AsyncWrite`: on io_uring this puts the stream in
        // completion mode (a receive queue, write-behind), which the `try_*` calls below must
        // then go through.
        wr.write_all(b"start").await.unwrap();
        wr.flush().await.unwrap();
        let mut got = [0u8; 5];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"start");
        b.write_all(b"go").await.unwrap();
        b.flush().await.unwrap();
        let mut got = [0u8; 2];
        rd.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"go");

        // Nothing more sent: the read half has nothing to give.
        let mut buf = [0u8; 16];
        assert_eq!(
            rd.try_read(&mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );

        // The write half: readiness, then a plain and a vectored non-blocking write.
        assert!(wr.ready(Interest::WRITABLE).await.unwrap().is_writable());
        wr.writable().await.unwrap();
        assert_eq!(wr.try_write(b"one").unwrap(), 3);
        let parts = [IoSlice::new(b"tw"), IoSlice::new(b"o")];
        assert_eq!(wr.try_write_vectored(&parts).unwrap(), 3);
        let mut got = [0u8; 6];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"onetwo");

        // The read half: readiness, then a plain and a vectored non-blocking read.
        b.write_all(b"abc").await.unwrap();
        b.flush().await.unwrap();
        assert!(rd.ready(Interest::READABLE).await.unwrap().is_readable());
        let mut n = read_when_ready!(rd, &mut buf);
        while n < 3 {
            n += read_when_ready!(rd, &mut buf[n..]);
        }
        assert_eq!(&buf[..n], b"abc");

        b.write_all(b"defgh").await.unwrap();
        b.flush().await.unwrap();
        let (mut x, mut y) = ([0u8; 2], [0u8; 8]);
        let mut got = Vec::new();
        while got.len() < 5 {
            rd.readable().await.unwrap();
            let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
            match rd.try_read_vectored(&mut bufs) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("try_read_vectored: {e}"),
                Ok(k) => {
                    let joined: Vec<u8> = x.iter().chain(y.iter()).copied().collect();
                    got.extend_from_slice(&joined[..k]);
                }
            }
        }
        assert_eq!(got, b"defgh");
    }};
}

#[tether::test]
async fn tcp_owned_halves_have_the_streams_addresses_readiness_and_try_io() {
    bounded(async {
        let (a, mut b) = tcp_pair().await;
        let (local, peer) = (
            format!("{:?}", a.local_addr().unwrap()),
            format!("{:?}", a.peer_addr().unwrap()),
        );
        if std::env::var("TETHER_IO_DRIVER").as_deref() == Ok("io_uring") {
            let driver = tether::runtime::Handle::current().metrics().io_driver();
            assert_eq!(driver, tether::runtime::IoDriver::IoUring);
        }
        let (mut rd, mut wr) = a.into_split();
        check_half_methods!(local, peer, &mut rd, &mut wr, &mut b);
    })
    .await
}

#[tether::test]
async fn tcp_borrowed_halves_have_the_streams_addresses_readiness_and_try_io() {
    bounded(async {
        let (mut a, mut b) = tcp_pair().await;
        let (local, peer) = (
            format!("{:?}", a.local_addr().unwrap()),
            format!("{:?}", a.peer_addr().unwrap()),
        );
        let (mut rd, mut wr) = a.split();
        check_half_methods!(local, peer, &mut rd, &mut wr, &mut b);
    })
    .await
}

#[tether::test]
async fn tcp_read_halves_peek_without_consuming() {
    bounded(async {
        let (a, mut b) = tcp_pair().await;
        let (mut rd, _wr) = a.into_split();
        b.write_all(b"HEAD rest").await.unwrap();
        b.flush().await.unwrap();
        let mut head = [0u8; 4];
        let n = rd.peek(&mut head).await.unwrap();
        assert!(n > 0 && head[..n] == b"HEAD"[..n]);
        let mut all = [0u8; 9];
        rd.read_exact(&mut all).await.unwrap();
        assert_eq!(&all, b"HEAD rest");

        let (mut a, mut b) = tcp_pair().await;
        let (mut rd, _wr) = a.split();
        b.write_all(b"xy").await.unwrap();
        b.flush().await.unwrap();
        let mut one = [0u8; 1];
        assert_eq!(rd.peek(&mut one).await.unwrap(), 1);
        assert_eq!(&one, b"x");
        let mut two = [0u8; 2];
        rd.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"xy");
    })
    .await
}

/// `forget` drops the write half without shutting down the write direction: the socket still
/// writes (through the read half's stream) and the peer sees no end-of-stream until the read
/// half, the stream's last owner, is dropped.
#[tether::test]
async fn tcp_forgotten_write_half_leaves_the_write_direction_open() {
    bounded(async {
        let (a, mut b) = tcp_pair().await;
        let (rd, wr) = a.into_split();
        wr.forget();
        let stream: &TcpStream = rd.as_ref();
        stream.writable().await.unwrap();
        assert_eq!(stream.try_write(b"after").unwrap(), 5);
        let mut got = [0u8; 5];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"after");
        drop(rd);
        assert_eq!(b.read(&mut got).await.unwrap(), 0);

        // Forgetting the write half after the read half is gone closes the stream at once.
        let (a, mut b) = tcp_pair().await;
        let (rd, wr) = a.into_split();
        drop(rd);
        wr.forget();
        assert_eq!(b.read(&mut got).await.unwrap(), 0);
    })
    .await
}

#[cfg(unix)]
mod unix_halves {
    use super::*;
    use tether::net::UnixStream;

    #[tether::test]
    async fn unix_owned_halves_have_the_streams_addresses_readiness_and_try_io() {
        bounded(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            let (local, peer) = (
                format!("{:?}", a.local_addr().unwrap()),
                format!("{:?}", a.peer_addr().unwrap()),
            );
            let (mut rd, mut wr) = a.into_split();
            check_half_methods!(local, peer, &mut rd, &mut wr, &mut b);
        })
        .await
    }

    #[tether::test]
    async fn unix_borrowed_halves_have_the_streams_addresses_readiness_and_try_io() {
        bounded(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let (local, peer) = (
                format!("{:?}", a.local_addr().unwrap()),
                format!("{:?}", a.peer_addr().unwrap()),
            );
            let (mut rd, mut wr) = a.split();
            check_half_methods!(local, peer, &mut rd, &mut wr, &mut b);
        })
        .await
    }

    #[tether::test]
    async fn unix_forgotten_write_half_leaves_the_write_direction_open() {
        bounded(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            let (rd, wr) = a.into_split();
            wr.forget();
            let stream: &UnixStream = rd.as_ref();
            stream.writable().await.unwrap();
            assert_eq!(stream.try_write(b"after").unwrap(), 5);
            let mut got = [0u8; 5];
            b.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"after");
            drop(rd);
            assert_eq!(b.read(&mut got).await.unwrap(), 0);
        })
        .await
    }
}
