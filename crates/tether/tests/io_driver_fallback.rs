//! The fallback when io_uring is refused (a kernel without it or too old, a seccomp profile, the
//! sysctl `kernel.io_uring_disabled`), simulated with the probe hook
//! `tether::__private::refuse_io_uring` (process-wide, so this file is its own binary):
//! `IoDriver::Auto` runs epoll and says why, `IoDriver::IoUring` fails `build` with the reason,
//! and lifting the refusal lets the next probe ask the kernel again.
//!
//! `TETHER_IO_DRIVER`, when set, overrides the builder (`io_uring` turns `Auto` into a demand
//! that fails; `epoll` never probes), so each expectation follows the driver in force.
#![cfg(target_os = "linux")]

use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::runtime::{Builder, IoDriver};

const REASON: &str = "io_uring_setup failed: Operation not permitted (simulated by the test)";

/// The driver asked for once the environment is applied to the builder's `choice`.
fn in_force(choice: IoDriver) -> IoDriver {
    match std::env::var("TETHER_IO_DRIVER").as_deref() {
        Ok("epoll") => IoDriver::Epoll,
        Ok("io_uring") => IoDriver::IoUring,
        Ok("auto") => IoDriver::Auto,
        _ => choice,
    }
}

fn builders(choice: IoDriver) -> [(&'static str, Builder); 2] {
    let mut ct = Builder::new_current_thread();
    ct.io_driver(choice);
    let mut mt = Builder::new_multi_thread();
    mt.worker_threads(2).io_driver(choice);
    [("current_thread", ct), ("multi_thread", mt)]
}

async fn echo_once() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tether::spawn(async move {
        let (mut conn, _) = listener.accept().await?;
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await?;
        conn.write_all(&buf).await?;
        std::io::Result::Ok(())
    });
    let mut client = TcpStream::connect(addr).await?;
    client.write_all(b"ping").await?;
    let mut back = [0u8; 4];
    client.read_exact(&mut back).await?;
    assert_eq!(&back, b"ping");
    server.await.unwrap()
}

/// One test, in order, since the hook is process-wide.
#[test]
fn refused_io_uring_falls_back_or_fails_as_asked_and_the_refusal_can_be_lifted() {
    tether::__private::refuse_io_uring(Some(REASON));

    // Auto: epoll, with the probe's reason readable, and programs run.
    for (flavor, mut b) in builders(IoDriver::Auto) {
        match in_force(IoDriver::Auto) {
            IoDriver::IoUring => {
                let err = b.build().unwrap_err();
                assert!(err.to_string().contains(REASON), "{flavor}: {err}");
            }
            forced => {
                let rt = b.build().unwrap();
                let m = rt.handle().metrics();
                assert_eq!(m.io_driver(), IoDriver::Epoll, "{flavor}");
                let expected = (forced == IoDriver::Auto).then_some(REASON);
                assert_eq!(m.io_driver_fallback(), expected, "{flavor}");
                let dump = rt.handle().dump().to_string();
                assert!(dump.lines().next().unwrap().contains(", epoll)"), "{dump}");
                rt.block_on(async {
                    tether::time::timeout(Duration::from_secs(30), echo_once())
                        .await
                        .expect("echo on the fallback did not finish within 30 s")
                })
                .unwrap();
            }
        }
    }

    // IoUring: `build` fails, naming the reason and what to do instead.
    for (flavor, mut b) in builders(IoDriver::IoUring) {
        match in_force(IoDriver::IoUring) {
            IoDriver::IoUring => {
                let err = b.build().unwrap_err();
                let msg = err.to_string();
                assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{flavor}");
                assert!(msg.contains(REASON), "{flavor}: {msg}");
                assert!(msg.contains("IoDriver::Auto"), "{flavor}: {msg}");
            }
            _ => {
                let rt = b.build().unwrap();
                assert_eq!(rt.handle().metrics().io_driver(), IoDriver::Epoll);
            }
        }
    }

    // Lifted: the next probe asks the kernel again (which may itself refuse: then it says why,
    // and not with the simulated reason).
    tether::__private::refuse_io_uring(None);
    if in_force(IoDriver::Auto) == IoDriver::Auto {
        let rt = Builder::new_current_thread()
            .io_driver(IoDriver::Auto)
            .build()
            .unwrap();
        let m = rt.handle().metrics();
        assert_ne!(m.io_driver_fallback(), Some(REASON));
        assert!(m.io_driver() == IoDriver::IoUring || m.io_driver_fallback().is_some());
    }
}
