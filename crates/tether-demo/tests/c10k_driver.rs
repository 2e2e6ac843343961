//! The C10k demo (the `c10k` binary) names the I/O driver its server ran, as the runtime's
//! metrics say: a short run (50 connections, 1 s) with `TETHER_IO_DRIVER=epoll`, and one with
//! `io_uring` (unless the test itself runs with `TETHER_IO_DRIVER=epoll`). Checks the first
//! progress line and the report's header, and that the report gives the server's memory per
//! connection.
//!
//! Cargo builds the `c10k` binary for this test, in the test's profile. Everything is bounded in
//! time; a demo still running when the test fails is killed.

mod support;

use std::process::Command;
use std::time::Duration;

use support::child::{c10k_bin, Running};

/// Bounds the whole run (connect phase, echo phase, shutdown).
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// Runs the demo with `TETHER_IO_DRIVER=driver` and checks that it names `driver`.
fn demo_names_its_driver(driver: &str) {
    let mut cmd = Command::new(c10k_bin());
    cmd.args(["--conns", "50", "--secs", "1"])
        .env("TETHER_IO_DRIVER", driver);
    let mut demo = Running::start(cmd, "demo");
    let status = demo.wait_exit(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{status}\n{}", demo.output());
    let out = demo.stdout_text();
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line\n{}", demo.output()))
            .to_string()
    };
    let first = line("c10k: 50 connections");
    assert!(
        first.contains(&format!(", {driver} driver)")),
        "the first line does not name the {driver} driver: {first:?}"
    );
    let header = line("c10k report:");
    assert!(
        header.ends_with(&format!(", {driver} driver")),
        "the report does not name the {driver} driver: {header:?}"
    );
    let memory = line("  server memory");
    assert!(
        memory.contains("KiB RSS per connection"),
        "no memory per connection: {memory:?}"
    );
}

#[test]
fn c10k_names_the_epoll_driver() {
    demo_names_its_driver("epoll");
}

/// Skipped only where `TETHER_IO_DRIVER=epoll` says io_uring is not to be used here (as the
/// driver tests of tether do); a kernel that refuses it otherwise fails the test, naming the
/// reason, so that a broken probe cannot pass as a skip.
#[test]
fn c10k_names_the_io_uring_driver() {
    if std::env::var("TETHER_IO_DRIVER").as_deref() == Ok("epoll") {
        return;
    }
    demo_names_its_driver("io_uring");
}
