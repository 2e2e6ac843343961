//! `--console-cost` (feature `console`): what the live console costs with one viewer streaming.
//!
//! Two workloads, each on tether's current-thread runtime and its multi-thread runtime with 2
//! workers: `yield_many` (1,000 tasks yielding 2,000 times each; per yield) and `spawn` (200,000
//! tasks spawned from `block_on` and joined; per task). Each runs on two runtimes built side by
//! side in this one process, one plain and one with `Builder::console` and a viewer reading its
//! `/api/stream` on a thread of its own; the two alternate within each round (which goes first
//! alternates too), default 15 rounds.
//!
//! Each figure is the **process's CPU time** per operation (`CLOCK_PROCESS_CPUTIME_ID`: every
//! thread, the console's and the viewer's included, so what the console spends counts), not
//! wall time: on a shared machine, time the benchmark waits for a CPU would otherwise swamp a
//! difference of a few percent. The report gives the median of each side, the median of the
//! per-round ratios on/off, and their range.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;
use std::time::Duration;

use crate::report::{date_utc, median};

pub const USAGE: &str = "usage: tether-bench --console-cost [--quick] [--runs N]";

/// The process's CPU time so far, in ns.
fn cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(
        rc, 0,
        "tether-bench: clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed"
    );
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

/// Reads the console's stream on a thread of its own until the process ends; returns once
/// the first frame came.
fn viewer(addr: std::net::SocketAddr) {
    let mut s = std::net::TcpStream::connect(addr).expect("tether-bench: the console's stream");
    write!(s, "GET /api/stream HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut lines = BufReader::new(s);
    let mut line = String::new();
    while !line.starts_with("data: ") {
        line.clear();
        assert_ne!(
            lines.read_line(&mut line).unwrap_or(0),
            0,
            "the stream ended"
        );
    }
    std::thread::spawn(move || {
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            line.clear();
        }
    });
}

fn runtime(multi: bool, console: bool) -> tether::runtime::Runtime {
    let mut b = if multi {
        let mut b = tether::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tether::runtime::Builder::new_current_thread()
    };
    // A million spawns from one poll is a slow poll on purpose.
    b.on_diagnostic(|_| {});
    if console {
        b.console("127.0.0.1:0").quiet();
    }
    let rt = b.build().expect("tether-bench: the runtime");
    if console {
        viewer(rt.console_addr().expect("the console's address"));
    }
    rt
}

fn yield_many(rt: &tether::runtime::Runtime, scale: u32) -> f64 {
    let yields = 2_000 / scale;
    let start = cpu_ns();
    rt.block_on(async move {
        let handles: Vec<_> = (0..1_000)
            .map(|_| {
                tether::spawn(async move {
                    for _ in 0..yields {
                        tether::task::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    (cpu_ns() - start) / f64::from(1_000 * yields)
}

fn spawn(rt: &tether::runtime::Runtime, scale: u32) -> f64 {
    let n = 200_000 / scale;
    let start = cpu_ns();
    rt.block_on(async move {
        let handles: Vec<_> = (0..n).map(|i| tether::spawn(async move { i })).collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    (cpu_ns() - start) / f64::from(n)
}

pub fn main(args: &[String]) -> ExitCode {
    let (quick, runs) = match crate::measure::quick_and_runs(args, USAGE) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let runs = runs.unwrap_or(if quick { 3 } else { 15 });
    let scale = if quick { 10 } else { 1 };
    let mut md = String::new();
    let _ = writeln!(md, "## tether live console cost (one viewer streaming)\n");
    let _ = writeln!(md, "- date: {}", date_utc());
    let _ = writeln!(
        md,
        "- command: `cargo run --release -p tether-bench --features console -- --console-cost{}`",
        if quick { " --quick" } else { "" }
    );
    let _ = writeln!(
        md,
        "- process CPU time per operation (every thread), median of {runs} rounds; off: a plain \
         runtime; on: `Builder::console` with a viewer reading `/api/stream`; both in this \
         process, alternating\n"
    );
    let _ = writeln!(
        md,
        "| workload | flavor | off (ns) | on (ns) | median ratio on/off | min–max ratio |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---|");
    type Workload = fn(&tether::runtime::Runtime, u32) -> f64;
    let workloads: [(&str, Workload); 2] = [
        ("yield_many (per yield)", yield_many),
        ("spawn (per task)", spawn),
    ];
    for multi in [false, true] {
        for (name, f) in workloads {
            let off = runtime(multi, false);
            let on = runtime(multi, true);
            // Let the console's first snapshots pass.
            std::thread::sleep(Duration::from_millis(300));
            let (mut offs, mut ons, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..runs {
                let (a, b) = if round % 2 == 0 {
                    let a = f(&off, scale);
                    (a, f(&on, scale))
                } else {
                    let b = f(&on, scale);
                    (f(&off, scale), b)
                };
                eprintln!(
                    "{name} {}: off {a:.1} on {b:.1}",
                    if multi { "mt" } else { "ct" }
                );
                offs.push(a);
                ons.push(b);
                ratios.push(b / a);
            }
            let lo = ratios.iter().copied().fold(f64::MAX, f64::min);
            let hi = ratios.iter().copied().fold(0.0, f64::max);
            let _ = writeln!(
                md,
                "| {name} | {} | {:.1} | {:.1} | {:.3} | {lo:.2}–{hi:.2} |",
                if multi {
                    "multi-thread (2 workers)"
                } else {
                    "current-thread"
                },
                median(offs).unwrap_or(f64::NAN),
                median(ons).unwrap_or(f64::NAN),
                median(ratios).unwrap_or(f64::NAN),
            );
        }
    }
    print!("{md}");
    ExitCode::SUCCESS
}
