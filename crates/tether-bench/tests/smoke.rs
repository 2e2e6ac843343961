//! The benchmark suite's smoke run: `tether-bench --quick` (every suite at its quick size, each
//! runtime once) and `--compat-cost --quick`, on the binary this test run built, so CI checks
//! that every suite runs through without a build of its own (the figures of a debug build mean
//! nothing; BENCHMARKS.md has the release runs).
//!
//! Ignored by `cargo test` (about 35 s of loads on two cores); `.ci/run` runs it:
//! `cargo test --workspace --test smoke -- --ignored`.

use std::process::Command;
use std::time::Duration;

use tether_test_support::child::Running;

/// Runs the benchmark binary with `args`, bounded in time, and returns its stdout and stderr.
fn run_bench(args: &[&str], limit: Duration) -> (String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tether-bench"));
    cmd.args(args);
    let mut bench = Running::start(cmd, "benchmark");
    let status = bench.wait_exit(limit);
    let log = bench.log();
    let (stdout, stderr) = (log.stdout_text(), log.stderr_text());
    assert!(
        status.success(),
        "tether-bench {args:?} failed ({status}):\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// The progress lines' `[done/total]` counts: every run the plan announced was made.
fn runs_made(output: &str) -> (usize, usize) {
    let last = output.lines().rev().find_map(|line| {
        let (counts, _) = line.strip_prefix('[')?.split_once(']')?;
        let (done, total) = counts.split_once('/')?;
        Some((done.parse().ok()?, total.parse().ok()?))
    });
    last.unwrap_or_else(|| panic!("no progress line in the benchmark's output:\n{output}"))
}

#[test]
#[ignore = "about 35 s of loads; .ci/run's smoke stage runs it"]
fn every_quick_suite_runs_and_reports() {
    let (stdout, stderr) = run_bench(&["--quick"], Duration::from_secs(300));
    let output = format!("{stdout}\n{stderr}");
    let (done, total) = runs_made(&output);
    assert_eq!(done, total, "the run stopped early:\n{output}");
    for suite in ["spawn_many", "scope_spawn", "timers", "select", "echo_100"] {
        assert!(
            stdout.contains(&format!("| {suite} |")),
            "no row for {suite} in the report:\n{stdout}"
        );
    }
}

#[test]
#[ignore = "starts a tokio runtime beside tether's; .ci/run's smoke stage runs it"]
fn the_compat_cost_runs_and_reports() {
    let (stdout, stderr) = run_bench(&["--compat-cost", "--quick"], Duration::from_secs(120));
    assert!(
        stdout.lines().any(|line| line.starts_with('|')),
        "no table in the compat cost's report:\n{stdout}\n{stderr}"
    );
}
