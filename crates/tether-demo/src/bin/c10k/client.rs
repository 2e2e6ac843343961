//! The client side of the C10k demo: the load generator ([`tether_demo::load`]), run in a child
//! process (the demo re-run with the hidden `--client ADDR` flag) so that it has its own
//! descriptor limit, and the lines it reports to the parent with.
//!
//! The client speaks to the parent in lines on its stdout, each a kind and `key=value` pairs
//! (read back with [`field`]):
//!
//! 1. `PROGRESS open=N failed=N requests=N`, every 250 ms, from the start;
//! 2. `OPEN established=N failed=N ms=N`, once, when every connection is open or has given up:
//!    the echo phase begins;
//! 3. `RESULT established=N failed=N retries=N connect_ms=N requests=N mismatches=N broken=N
//!    echo_ms=N p50_us=N p99_us=N p999_us=N max_us=N`, once, at the end;
//! 4. `ERROR N x WHAT` for each kind of error the connections met, after `RESULT`.
//!
//! Its stderr carries free-form messages, which the parent shows as they come.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tether_demo::load::{self, LoadConfig, Progress};
use tether_demo::process::raise_fd_limit;

use crate::{HEADROOM, SLOW_POLL};

/// How often the client reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// The `--client` mode: opens `requested` connections (fewer if the open-files limit says so)
/// to `addr`, echoes `size`-byte messages on them for `secs` seconds, and reports in lines.
pub(crate) fn run(addr: SocketAddr, requested: u64, secs: u64, size: usize) -> ExitCode {
    die_with_parent();
    let limit = match raise_fd_limit() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot read the open-files limit: {e}");
            return ExitCode::FAILURE;
        }
    };
    let conns = requested.min(limit.saturating_sub(HEADROOM));
    if conns < requested {
        eprintln!(
            "the client's open-files limit is {limit}; opening {conns} connections instead of \
             {requested}"
        );
    }
    let rt = match tether::runtime::Builder::new_multi_thread()
        .thread_name("c10k-client")
        .slow_poll_threshold(SLOW_POLL)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = LoadConfig {
        size,
        ..LoadConfig::new(addr, conns as usize, Duration::from_secs(secs))
    };
    rt.block_on(async move {
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        let reporter = tether::spawn(async move {
            let mut tick = tether::time::interval(PROGRESS_EVERY);
            loop {
                tick.tick().await;
                println!(
                    "PROGRESS open={} failed={} requests={}",
                    p.open.load(Ordering::Relaxed),
                    p.failed.load(Ordering::Relaxed),
                    p.requests.load(Ordering::Relaxed)
                );
            }
        });
        let report = load::run(&cfg, progress, |o| {
            println!(
                "OPEN established={} failed={} ms={}",
                o.established,
                o.failed,
                o.elapsed.as_millis()
            );
        })
        .await;
        // Wait for the abort to take effect, so the runtime has no task left when it is dropped.
        reporter.abort();
        let _ = reporter.await;
        let h = &report.latency;
        println!(
            "RESULT established={} failed={} retries={} connect_ms={} requests={} mismatches={} \
             broken={} echo_ms={} p50_us={} p99_us={} p999_us={} max_us={}",
            report.established,
            report.failed,
            report.retries,
            report.connect_time.as_millis(),
            report.requests,
            report.mismatches,
            report.broken,
            report.echo_time.as_millis(),
            h.quantile(0.50),
            h.quantile(0.99),
            h.quantile(0.999),
            h.max()
        );
        for (what, n) in &report.errors {
            println!("ERROR {n} x {what}");
        }
    });
    ExitCode::SUCCESS
}

/// Asks the kernel to kill this process if its parent dies first, so an interrupted demo
/// leaves no load generator behind. (Strictly: if the parent *thread* that started it exits;
/// that thread waits for this process before it returns.)
fn die_with_parent() {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and changes only this process's settings.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
}

/// The value of `key=value` in a line of space-separated pairs.
pub(crate) fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}
