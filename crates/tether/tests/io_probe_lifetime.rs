//! Probes of sockets that outlive their runtime or are used from another one: each operation
//! fails with the "has shut down" error, none panics or hangs, and dropping them anywhere is
//! fine (on io_uring too, where each drop queues a poll's removal on a ring nobody reaps).

mod support;

use std::io;
use std::time::Duration;

use futures_lite::future::block_on;
use tether::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tether::net::{TcpListener, TcpStream, UdpSocket};
use tether::runtime::{Builder, Runtime};

use support::bounded::within;

const LIMIT: Duration = Duration::from_secs(60);

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = futures_lite::future::zip(TcpStream::connect(addr), l.accept()).await;
    (c.unwrap(), s.unwrap().0)
}

fn is_shutdown(e: &io::Error) -> bool {
    e.to_string().contains("has shut down")
}

#[track_caller]
fn expect_shutdown<T: std::fmt::Debug>(what: &str, r: io::Result<T>) {
    match r {
        Err(e) if is_shutdown(&e) => {}
        other => panic!("{what} after the runtime was dropped: {other:?}"),
    }
}

/// Every operation of a socket whose runtime is gone fails with the shutdown error, in
/// another runtime and outside any runtime (a plain executor), and none waits.
#[test]
fn every_operation_of_a_socket_whose_runtime_is_gone_fails_clearly() {
    within(LIMIT, "operations after the runtime's drop", || {
        let rt = current_thread();
        let (a, b, l, u) = rt.block_on(async {
            let (a, b) = pair().await;
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            (a, b, l, u)
        });
        drop(rt);
        let check = || async {
            let mut buf = [0u8; 8];
            expect_shutdown("readable", a.readable().await);
            expect_shutdown("writable", a.writable().await);
            expect_shutdown("ready", a.ready(Interest::READABLE).await);
            expect_shutdown("try_read", a.try_read(&mut buf));
            expect_shutdown("try_write", a.try_write(b"x"));
            expect_shutdown("read", (&a).read(&mut buf).await);
            expect_shutdown("write", (&a).write(b"x").await);
            expect_shutdown("peek", a.peek(&mut buf).await);
            expect_shutdown(
                "try_io",
                a.try_io(Interest::READABLE, || Ok::<_, io::Error>(())),
            );
            expect_shutdown(
                "async_io",
                a.async_io(Interest::WRITABLE, || Ok::<_, io::Error>(()))
                    .await,
            );
            expect_shutdown("accept", l.accept().await);
            expect_shutdown("recv_from", u.recv_from(&mut buf).await);
            expect_shutdown("send_to", u.send_to(b"x", "127.0.0.1:9").await);
        };
        let rt2 = current_thread();
        rt2.block_on(check());
        drop(rt2);
        block_on(check());
        drop((a, l, u));
        // The peer's end outlives both runtimes and is dropped on this plain thread.
        drop(b);
    });
}

/// Tasks of one runtime waiting to read, to write and to flush a socket of another
/// (multi-thread) runtime are woken with the shutdown error when that runtime is dropped,
/// instead of waiting forever. (On io_uring the stream waits for its receive's and sends'
/// completions, which only the dropped runtime would have dispatched.)
#[test]
fn waiters_in_another_runtime_are_woken_when_the_sockets_runtime_drops() {
    within(LIMIT, "waiters across runtimes", || {
        let owner = Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (a, _b) = owner.block_on(pair());
        let a = std::sync::Arc::new(a);
        let user = Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (ra, wa) = (a.clone(), a.clone());
        let reading = user.spawn(async move {
            let mut buf = [0u8; 8];
            let r = (&*ra).read(&mut buf).await;
            (r.map(|_| ()), ra.readable().await)
        });
        // The peer never reads: the write waits for room (for its sends, on io_uring).
        let writing = user.spawn(async move {
            let big = vec![7u8; 32 << 20];
            let mut w = &*wa;
            match w.write_all(&big).await {
                Ok(()) => w.flush().await,
                Err(e) => Err(e),
            }
        });
        // Let both start waiting, then drop the socket's runtime.
        let (tx, rx) = std::sync::mpsc::channel();
        user.spawn(async move {
            for _ in 0..64 {
                tether::task::yield_now().await;
            }
            tx.send(()).unwrap();
        });
        rx.recv_timeout(LIMIT).unwrap();
        drop(owner);
        let (r, r2) = user.block_on(reading).unwrap();
        expect_shutdown("the waiting read", r);
        expect_shutdown("readable", r2);
        expect_shutdown("the waiting write", user.block_on(writing).unwrap());
    });
}

/// Many registered sockets dropped after their runtime: each drop deregisters from a
/// reactor nobody turns any more (on io_uring, each queues a poll removal whose completions
/// nobody reaps). None may panic or hang, and every descriptor is closed. (Unix: socket
/// pairs.)
#[test]
#[cfg(unix)]
fn many_sockets_dropped_after_their_runtime_drop_cleanly() {
    use tether::net::UnixStream;
    within(LIMIT, "drops after the runtime", || {
        let rt = current_thread();
        let socks: Vec<(UnixStream, UnixStream)> = rt.block_on(async {
            let mut v = Vec::new();
            for _ in 0..3_000 {
                let (a, b) = UnixStream::pair().unwrap();
                // Wait once on each, so that on io_uring each has its poll armed.
                for s in [&a, &b] {
                    let mut r = std::pin::pin!(s.readable());
                    assert!(futures_lite::future::poll_once(&mut r).await.is_none());
                }
                v.push((a, b));
            }
            v
        });
        drop(rt);
        for (a, b) in socks {
            drop(a);
            drop(b);
        }
    });
}
