//! Nothing leaks across runtimes: creating, using and dropping 1,000 runtimes of each flavor
//! leaves the process's thread count and open descriptors where they were.
//!
//! One test in its own binary, so no other test creates threads or descriptors meanwhile.
//!
//! Linux only: it counts threads and descriptors through `/proc`.
#![cfg(target_os = "linux")]

use std::time::Duration;

use tether::runtime::Builder;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Work that touches every part of a runtime: tasks, a timer, a socket pair, a blocking job.
async fn exercise() {
    let t = tether::spawn(async { 1 });
    tether::time::sleep(Duration::from_millis(1)).await;
    let (a, b) = tether::net::UnixStream::pair().unwrap();
    let blocking = tether::task::spawn_blocking(|| 2);
    assert_eq!(t.await.unwrap() + blocking.await.unwrap(), 3);
    // A task still waiting when the runtime is dropped: it must be cancelled, not leaked.
    tether::spawn(async move {
        let _keep = (a, b);
        std::future::pending::<()>().await;
    });
}

#[test]
fn a_thousand_runtimes_leak_no_thread_or_descriptor() {
    // Warm up lazily created process state (thread-locals, the allocator) first.
    for flavor in 0..2 {
        let rt = if flavor == 0 {
            Builder::new_current_thread().build().unwrap()
        } else {
            Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap()
        };
        rt.block_on(exercise());
    }
    let (threads0, fds0) = (threads(), fds());
    for i in 0..1_000 {
        let rt = if i % 2 == 0 {
            Builder::new_current_thread().build().unwrap()
        } else {
            Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap()
        };
        rt.block_on(exercise());
        // Blocking threads linger for their keep-alive; the drop waits for them to exit.
        rt.shutdown_timeout(Duration::from_secs(10));
    }
    // Blocking threads that outlived shutdown_timeout would show here.
    assert_eq!(threads(), threads0, "threads leaked");
    assert_eq!(fds(), fds0, "file descriptors leaked");
}
