//! The fallback when the kernel's io_uring lacks an opcode the completion operations use,
//! simulated with `tether::__private::refuse_io_uring_ops` (process-wide, so this file is its
//! own binary): the io_uring driver keeps running readiness, owned buffers take the readiness
//! path and files (open, reads) the blocking pool, and lifting the refusal brings the operations back.
#![cfg(target_os = "linux")]

use tether::fs::File;
use tether::net::{TcpListener, TcpStream};
use tether::runtime::{Builder, IoDriver};

async fn owned_round_trip(path: &std::path::Path) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let (r, _) = client.write_all_owned(b"ping".to_vec()).await;
    r.unwrap();
    let (n, buf) = server.read_owned(vec![0u8; 8]).await;
    assert_eq!(&buf[..n.unwrap()], b"ping");
    let file = File::open(path).await.unwrap();
    let (n, buf) = file.read_at_owned(vec![0u8; 4], 2).await;
    assert_eq!(&buf[..n.unwrap()], b"2345");
}

#[test]
fn refused_operations_fall_back_and_the_refusal_can_be_lifted() {
    if std::env::var("TETHER_IO_DRIVER").as_deref() == Ok("epoll") {
        return; // io_uring is not to be used here.
    }
    let path = std::env::temp_dir().join(format!("tether-ops-fallback-{}", std::process::id()));
    std::fs::write(&path, b"0123456789").unwrap();
    let rt = Builder::new_current_thread()
        .io_driver(IoDriver::IoUring)
        .build()
        .unwrap();

    tether::__private::refuse_io_uring_ops(Some("IORING_OP_RECV missing (simulated)"));
    let before = tether::__private::io_uring_ops_completed();
    rt.block_on(owned_round_trip(&path));
    // Files take the blocking pool again.
    let threads = rt.block_on(async {
        let mut f = File::open(&path).await.unwrap();
        let mut all = String::new();
        tether::io::AsyncReadExt::read_to_string(&mut f, &mut all)
            .await
            .unwrap();
        assert_eq!(all, "0123456789");
        tether::runtime::Handle::current()
            .metrics()
            .blocking_threads()
    });
    assert!(threads > 0, "the file's work ran on no blocking thread");
    assert_eq!(
        tether::__private::io_uring_ops_completed(),
        before,
        "refused operations still ran"
    );

    tether::__private::refuse_io_uring_ops(None);
    rt.block_on(owned_round_trip(&path));
    assert!(tether::__private::io_uring_ops_completed() >= before + 3);
    std::fs::remove_file(&path).unwrap();
}
