//! The C10k demo's client and server, in one process and at a small scale: 100 connections
//! echoing for one second against the handshake echo server, on both runtime flavors. The demo
//! (the `c10k` binary) runs the same two modules, the client in a child process.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tether_demo::echo_server;
use tether_demo::load::{self, LoadConfig, LoadReport, Progress};

const CONNS: usize = 100;

/// Runs the server and 100 client connections for one second on `rt`; checks the outcome.
fn hundred_connections_for_a_second(rt: tether::runtime::Runtime) {
    let (report, accepted, opened) = rt.block_on(async {
        let (addr, stats) = echo_server::start("127.0.0.1:0", false).await.unwrap();
        let cfg = LoadConfig::new(addr, CONNS, Duration::from_secs(1));
        let progress = Arc::new(Progress::default());
        let mut opened = None;
        let run = load::run(&cfg, progress, |o| opened = Some(o));
        // Bounded even if something hangs: the run's own worst case plus a margin.
        let report: LoadReport = tether::time::timeout(cfg.worst_case() * 2, run)
            .await
            .expect("the load run overstayed its worst case");
        (report, stats.accepted.load(Ordering::SeqCst), opened)
    });
    let opened = opened.expect("on_open was called");
    assert_eq!(opened.established, CONNS as u64);
    assert_eq!(report.failed, 0, "failed connections: {:?}", report.errors);
    assert_eq!(report.established, CONNS as u64);
    assert_eq!(
        accepted, CONNS as u64,
        "the server accepted each connection once"
    );
    assert!(report.requests > 0, "no round trips in one second");
    assert_eq!(report.mismatches, 0, "an echo differed from its message");
    assert_eq!(report.broken, 0, "connections broke: {:?}", report.errors);
    assert_eq!(
        report.latency.count(),
        report.requests,
        "every checked round trip has a latency"
    );
    assert!(report.latency.quantile(0.5) <= report.latency.quantile(0.999));
    assert!(report.echo_time >= Duration::from_secs(1));
    assert!(
        report.echo_time < Duration::from_secs(7),
        "the echo phase ran long: {:?}",
        report.echo_time
    );
}

#[test]
fn c10k_small_multi_thread() {
    hundred_connections_for_a_second(
        tether::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap(),
    );
}

#[test]
fn c10k_small_current_thread() {
    hundred_connections_for_a_second(
        tether::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
    );
}
