//! A smoke run of the C10k demo's soak mode (`c10k --soak SECS`): 200 connections for 3 s.
//! Checks that the demo exits with status 0 after its report, that the soak summary
//! follows it, and that the CSV file holds its header and one row per second with the
//! connections open. (The real soak, 10 minutes on 10,000 connections, is a benchmark: see
//! BENCHMARKS.md; this only checks that the mode works.)
//!
//! Cargo builds the `c10k` binary for this test, in the test's profile. Everything is bounded in
//! time; a demo still running when the test fails is killed.

mod support;

use std::process::Command;
use std::time::Duration;

use support::child::{c10k_bin, Running};

const CONNS: u64 = 200;
const SECS: u64 = 3;
/// Bounds the whole run (connect phase, echo phase, shutdown).
const RUN_LIMIT: Duration = Duration::from_secs(90);

#[test]
fn soak_mode_samples_each_second_and_summarizes() {
    let csv = std::env::temp_dir().join(format!("tether-c10k-soak-{}.csv", std::process::id()));
    let _ = std::fs::remove_file(&csv);
    let mut cmd = Command::new(c10k_bin());
    cmd.args(["--conns", &CONNS.to_string(), "--soak", &SECS.to_string()])
        .arg("--csv")
        .arg(&csv);
    let mut demo = Running::start(cmd, "demo");
    // "200 connections open (0 failed) in 0.05 s; echoing for 3 s": the sampling begins.
    let open = demo.wait_for_line("connections open (", RUN_LIMIT);
    assert!(
        open.starts_with(&format!("{CONNS} connections open (0 failed)")),
        "{open:?}\n{}",
        demo.output()
    );
    let status = demo.wait_exit(RUN_LIMIT);
    let out = demo.stdout_text();
    let text = std::fs::read_to_string(&csv);
    let _ = std::fs::remove_file(&csv);
    assert_eq!(status.code(), Some(0), "{status}\n{}", demo.output());

    let report = out.find("c10k report:");
    let summary = out.find(&format!(
        "soak: {SECS} samples, one a second, of the server process during the echo phase on \
         {CONNS} connections"
    ));
    assert!(
        report.is_some() && summary > report,
        "no report followed by the soak summary\n{}",
        demo.output()
    );
    for row in [
        "RSS (MiB)",
        "descriptors",
        "threads",
        "CPU (% core)",
        "requests/s",
    ] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(row)),
            "no {row:?} row in the summary\n{}",
            demo.output()
        );
    }

    let text = text.unwrap_or_else(|e| panic!("cannot read {}: {e}", csv.display()));
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("second,rss_kib,fds,threads,cpu_pct,requests_per_s,requests,open,client_rss_kib")
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("not a number in CSV row {l:?}"))
                })
                .collect()
        })
        .collect();
    assert_eq!(rows.len() as u64, SECS, "one row per second:\n{text}");
    for (k, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), 9, "row {k}: {r:?}");
        // At 0.5 s, 1.5 s, ...: half a period off the phase's edges.
        assert!(
            (r[0] - (k as f64 + 0.5)).abs() < 0.25,
            "row {k} at {} s",
            r[0]
        );
        assert!(r[1] > 0.0, "row {k}: no RSS");
        // Every connection's socket, beside the runtime's own descriptors.
        assert!(r[2] >= CONNS as f64, "row {k}: {} descriptors", r[2]);
        assert!(r[3] >= 1.0, "row {k}: no threads");
        if k > 0 {
            assert!(
                r[6] >= rows[k - 1][6],
                "row {k}: fewer round trips than before"
            );
        }
    }
    // The client's progress reports come every 250 ms: by the last row they say it all.
    let last = &rows[rows.len() - 1];
    assert!(last[6] > 0.0, "no round trips:\n{text}");
    assert_eq!(last[7], CONNS as f64, "connections open:\n{text}");
}
