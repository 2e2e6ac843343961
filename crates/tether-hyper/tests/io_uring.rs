//! `TetherIo` on the io_uring driver: hyper's reads go through the stream's receive queue (its
//! multishot receive into the ring's buffers), not through a `recv` of their own on the
//! descriptor, so a request costs no read system call.

#![cfg(target_os = "linux")]

use std::future::poll_fn;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::time::Duration;

use tether::io::AsyncWriteExt;
use tether::net::{TcpListener, TcpStream};
use tether::runtime::{Builder, IoDriver};
use tether_hyper::TetherIo;

/// One read through hyper's `Read` trait.
async fn hyper_read(io: &mut TetherIo<TcpStream>) -> Vec<u8> {
    let mut storage = [0u8; 64];
    let mut buf = hyper::rt::ReadBuf::new(&mut storage);
    poll_fn(|cx| hyper::rt::Read::poll_read(Pin::new(&mut *io), cx, buf.unfilled()))
        .await
        .expect("read");
    buf.filled().to_vec()
}

/// Bytes waiting in the socket's receive queue (`FIONREAD`).
fn in_socket(s: &TcpStream) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: `FIONREAD` writes one `c_int` through the pointer, which points at `n`.
    let r = unsafe { libc::ioctl(s.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(r, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    usize::try_from(n).expect("a count")
}

#[test]
fn hyper_reads_take_the_receive_queue_on_io_uring() {
    if std::env::var("TETHER_IO_DRIVER").as_deref() == Ok("epoll") {
        eprintln!("skipped: TETHER_IO_DRIVER=epoll forbids the io_uring runtimes this tests");
        return;
    }
    for workers in [None, Some(2)] {
        let mut builder = match workers {
            None => Builder::new_current_thread(),
            Some(n) => {
                let mut b = Builder::new_multi_thread();
                b.worker_threads(n);
                b
            }
        };
        let rt = builder
            .io_driver(IoDriver::IoUring)
            .enable_all()
            .build()
            .expect("io_uring runtime (this test needs a kernel with io_uring)");
        rt.block_on(async {
            tether::time::timeout(Duration::from_secs(30), async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let mut client = TcpStream::connect(listener.local_addr().unwrap())
                    .await
                    .unwrap();
                let (server, _) = listener.accept().await.unwrap();
                let mut io = TetherIo::new(server);

                client.write_all(b"hello").await.unwrap();
                assert_eq!(hyper_read(&mut io).await, b"hello");

                // The next bytes: the stream's armed receive takes them out of the socket (a
                // `recv` of hyper's own would find them still there). The registration's poll
                // may report them readable a moment before the receive's completion is
                // handled (with 2 workers, on a busy machine), so wait for it, boundedly.
                client.write_all(b"world").await.unwrap();
                io.inner().readable().await.unwrap();
                let mut turns = 0;
                while in_socket(io.inner()) != 0 {
                    turns += 1;
                    assert!(
                        turns < 10_000,
                        "{workers:?}: the bytes stayed in the socket"
                    );
                    tether::task::yield_now().await;
                }
                assert_eq!(hyper_read(&mut io).await, b"world");
            })
            .await
            .unwrap_or_else(|_| panic!("{workers:?}: timed out"));
        });
    }
}
