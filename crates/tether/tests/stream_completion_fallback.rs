//! Streams when the io_uring driver has no provided buffers to give them (a kernel before
//! 5.19, simulated with `tether::__private::refuse_io_uring_streams`, process-wide, so this
//! file is its own binary): `TcpStream` keeps the readiness path on the io_uring driver, and
//! lifting the refusal brings completion mode back for runtimes built afterwards.
#![cfg(target_os = "linux")]

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::runtime::{Builder, IoDriver};

async fn echo_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut a = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (mut b, _) = listener.accept().await.unwrap();
    a.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    b.read_exact(&mut buf).await.unwrap();
    b.write_all(&buf).await.unwrap();
    a.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    // Without completion mode a stream that has read converts to std at any time.
    a.into_std().unwrap();
}

#[test]
fn refused_streams_keep_the_readiness_path_and_the_refusal_can_be_lifted() {
    if std::env::var("TETHER_IO_DRIVER").as_deref() == Ok("epoll") {
        eprintln!("skipped: TETHER_IO_DRIVER=epoll forbids the io_uring runtime this tests");
        return;
    }
    let build = || {
        Builder::new_current_thread()
            .io_driver(IoDriver::IoUring)
            .enable_all()
            .build()
            .expect("io_uring runtime (this test needs a kernel with io_uring)")
    };
    tether::__private::refuse_io_uring_streams(true);
    let before = tether::__private::io_uring_streams_activated();
    build().block_on(echo_once());
    assert_eq!(
        tether::__private::io_uring_streams_activated(),
        before,
        "a stream switched to completions while they were refused"
    );

    tether::__private::refuse_io_uring_streams(false);
    let rt = build();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut a = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut b, _) = listener.accept().await.unwrap();
        a.write_all(b"pong").await.unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    });
    assert!(tether::__private::io_uring_streams_activated() >= before + 2);
}
