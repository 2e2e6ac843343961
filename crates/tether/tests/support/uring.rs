//! The harness of the tests that build io_uring runtimes themselves (`stream_completion.rs`,
//! `accept_completion.rs`): both flavors on io_uring, one test at a time, bounded in time.

use std::sync::Mutex;
use std::time::Duration;

use tether::runtime::{Builder, IoDriver, Runtime};

/// Both flavors (the multi-thread one with 2 workers) on io_uring; none, with a note, when
/// `TETHER_IO_DRIVER=epoll` forbids io_uring.
pub fn runtimes() -> Vec<(&'static str, Runtime)> {
    if std::env::var("TETHER_IO_DRIVER").as_deref() == Ok("epoll") {
        eprintln!("skipped: TETHER_IO_DRIVER=epoll forbids the io_uring runtimes these test");
        return Vec::new();
    }
    let ct = Builder::new_current_thread()
        .io_driver(IoDriver::IoUring)
        .enable_all()
        .build()
        .expect("io_uring runtime (this test needs a kernel with io_uring)");
    let mt = Builder::new_multi_thread()
        .worker_threads(2)
        .io_driver(IoDriver::IoUring)
        .enable_all()
        .build()
        .expect("io_uring runtime (this test needs a kernel with io_uring)");
    vec![("current_thread", ct), ("multi_thread", mt)]
}

/// Runs `f` on each flavor, bounded in time, holding `serial` (the binary's tests count
/// descriptors or change process-wide limits, so they run one at a time).
pub fn on_each<F, Fut>(serial: &Mutex<()>, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let _serial = serial.lock().unwrap_or_else(|e| e.into_inner());
    for (name, rt) in runtimes() {
        let body = f();
        rt.block_on(async {
            tether::time::timeout(Duration::from_secs(60), body)
                .await
                .unwrap_or_else(|_| panic!("{name}: timed out"))
        });
    }
}

/// The process's open sockets (other descriptors come and go with the runtimes' threads: the
/// watchdog, for one, reads files under `/proc` while it watches). A test that checks that its
/// sockets are closed compares two readings.
pub fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}
