//! The live console (feature `console`): clients that ask for a large snapshot and never read
//! it hold one shared copy of it, not one each. A file of its own: it reads the process's
//! resident memory, which other tests in the same process would disturb.
//! Linux only: it reads `/proc/self/status`.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tether::runtime::Builder;

fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

/// 63 clients (one slot of the 64 left for the probe below) that each send one request and
/// never read the answer.
fn stuck_clients(addr: SocketAddr, path: &str) -> Vec<TcpStream> {
    (0..63)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
            s
        })
        .collect()
}

/// The most the process's resident memory grows, in MiB, over `for` after `clients` sent
/// their requests, sampled every 50 ms. Real time on purpose: the console serves from a thread
/// and runtime of its own, which no paused clock drives, and nothing it exposes says when it
/// has answered every stuck client; the window only bounds the sampling, no assertion is about
/// time.
fn growth_while(clients: Vec<TcpStream>, before: u64, r#for: Duration) -> u64 {
    let start = Instant::now();
    let mut most = 0;
    while start.elapsed() < r#for {
        most = most.max(rss_mib().saturating_sub(before));
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(clients);
    most
}

#[test]
#[cfg_attr(
    tether_asan,
    ignore = "resident memory under AddressSanitizer includes its quarantine of freed memory; \
              this test runs in the plain `cargo test` stages"
)]
fn clients_that_do_not_read_share_one_snapshot() {
    let mut b = Builder::new_multi_thread();
    b.worker_threads(2);
    let rt = b.console("127.0.0.1:0").quiet().build().unwrap();
    let addr = rt.console_addr().unwrap();
    // About 5 MB of snapshot.
    rt.block_on(async {
        for _ in 0..20_000 {
            tether::task::Builder::new()
                .name("an-idle-task-with-a-name")
                .spawn(std::future::pending::<()>());
        }
    });
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /api/snapshot HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut doc = Vec::new();
    s.read_to_end(&mut doc).unwrap();
    let mib = doc.len() as u64 / (1024 * 1024);
    assert!(
        mib >= 4,
        "a snapshot of {} bytes is too small to tell",
        doc.len()
    );

    for path in ["/api/snapshot", "/api/stream"] {
        let before = rss_mib();
        let grew = growth_while(stuck_clients(addr, path), before, Duration::from_secs(2));
        // Before the fix: about two copies per client for /api/snapshot (63 × 10 MiB) and one
        // per viewer for the stream. A few snapshots' worth is the bound now (frames built
        // meanwhile, the allocator's slack).
        assert!(
            grew < 8 * mib + 32,
            "{path}: 63 clients that do not read grew the process by {grew} MiB \
             (a snapshot is {mib} MiB)"
        );
    }
}
