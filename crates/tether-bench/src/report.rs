//! The parent side: run every measurement in a child process, collect, summarise as markdown.

use std::fmt::Write as _;
use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tether::runtime::IoDriver;

use crate::runtimes::{Flavor, Lib, Runtime};
use crate::suites::{Better, Suite};

/// The prefix of the one line a child prints on stdout.
pub const RESULT_PREFIX: &str = "TETHER_BENCH_RESULT";

/// What the parent was asked to run.
pub struct Plan {
    pub quick: bool,
    pub runs: usize,
    pub suites: Vec<&'static Suite>,
    pub runtimes: Vec<Runtime>,
    /// Whether `--runtime` named the runtimes: then each runs on every chosen suite it can run
    /// on; otherwise the [`io_only`](Runtime::io_only) ones run only on the suites that do I/O.
    pub named_runtimes: bool,
    pub timeout: Duration,
}

impl Plan {
    /// Whether the plan measures `suite` on `runtime`.
    pub fn runs(&self, suite: &Suite, runtime: Runtime) -> bool {
        suite.runs_on(runtime) && (self.named_runtimes || !runtime.io_only() || suite.io)
    }
}

/// The outcome of one (suite, runtime) measurement in one child.
type Outcome = Result<Vec<f64>, String>;

/// Every outcome of one (suite, runtime) pair, one per round.
struct Cell {
    outcomes: Vec<Outcome>,
}

impl Cell {
    fn values(&self, metric: usize) -> Vec<f64> {
        self.outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok())
            .map(|v| v[metric])
            // NaN: a figure the runtime cannot provide (tether's parks counter on tokio).
            .filter(|v| !v.is_nan())
            .collect()
    }

    fn median(&self, metric: usize) -> Option<f64> {
        median(self.values(metric))
    }

    /// The table entry: the median, `n/a` when the runtime has no such figure, `FAIL` when no
    /// run succeeded.
    fn shown(&self, metric: usize) -> String {
        match self.median(metric) {
            Some(v) => fmt_value(v),
            None if self.outcomes.iter().any(|o| o.is_ok()) => "n/a".to_string(),
            None => "FAIL".to_string(),
        }
    }
}

/// The median of `values`, `None` when there are none.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Runs one measurement in a fresh child process of this executable (`--child SUITE RUNTIME`,
/// then `extra` arguments); returns its figures.
pub fn run_child(
    suite: &Suite,
    runtime: Runtime,
    extra: &[&str],
    quick: bool,
    timeout: Duration,
) -> Outcome {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["--child", suite.name, runtime.name()]);
    cmd.args(extra);
    if quick {
        cmd.arg("--quick");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not start the child process: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = reader.join();
                return Err(format!("timed out after {} s (killed)", timeout.as_secs()));
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the child failed: {e}")),
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("child failed: {status}"));
    }
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .ok_or_else(|| "child printed no result line".to_string())?;
    let values: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad result line {line:?}: {e}"))?;
    let expected = suite.all_metrics().len();
    if values.len() != expected {
        return Err(format!(
            "child reported {} figures, expected {expected}",
            values.len()
        ));
    }
    Ok(values)
}

fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if v.is_nan() {
        "n/a".to_string()
    } else if a == 0.0 {
        "0".to_string()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if a == 0.0 && b == 0.0 => "=".to_string(),
        (Some(a), Some(b)) if a >= 0.0 && b > 0.0 => format!("{:.2}x", a / b),
        _ => "n/a".to_string(),
    }
}

/// Runs the plan (progress on stderr) and returns the markdown report, and whether every
/// measurement succeeded.
pub fn run(plan: &Plan, command: &str) -> (String, bool) {
    let mut cells: Vec<Vec<Cell>> = plan
        .suites
        .iter()
        .map(|_| {
            plan.runtimes
                .iter()
                .map(|_| Cell {
                    outcomes: Vec::new(),
                })
                .collect()
        })
        .collect();

    let pairs = plan
        .suites
        .iter()
        .map(|s| plan.runtimes.iter().filter(|&&rt| plan.runs(s, rt)).count())
        .sum::<usize>();
    let total = plan.runs * pairs;
    let mut done = 0;
    let started = Instant::now();
    for round in 1..=plan.runs {
        for (si, suite) in plan.suites.iter().enumerate() {
            for (ri, &runtime) in plan.runtimes.iter().enumerate() {
                if !plan.runs(suite, runtime) {
                    continue;
                }
                done += 1;
                let t0 = Instant::now();
                let outcome = run_child(suite, runtime, &[], plan.quick, plan.timeout);
                let took = t0.elapsed().as_secs_f64();
                let shown = match &outcome {
                    Ok(values) => suite
                        .all_metrics()
                        .iter()
                        .zip(values)
                        .map(|(m, v)| format!("{} {} {}", m.name, fmt_value(*v), m.unit))
                        .collect::<Vec<_>>()
                        .join(", "),
                    Err(e) => format!("FAILED: {e}"),
                };
                eprintln!(
                    "[{done}/{total}] round {round}/{} {} {}: {shown} ({took:.1} s)",
                    plan.runs,
                    suite.name,
                    runtime.name()
                );
                cells[si][ri].outcomes.push(outcome);
            }
        }
    }
    eprintln!(
        "all {total} measurements took {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let mut md = String::new();
    let ok = render(plan, command, &cells, &mut md);
    (md, ok)
}

/// `date -u`, for the reports' headers.
pub fn date_utc() -> String {
    Command::new("date")
        .arg("-u")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("{secs} s since the Unix epoch")
        })
}

fn render(plan: &Plan, command: &str, cells: &[Vec<Cell>], md: &mut String) -> bool {
    let nproc = thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(md, "## tether-bench results\n");
    let _ = writeln!(md, "- date: {}", date_utc());
    let _ = writeln!(md, "- nproc: {nproc}");
    let _ = match crate::perf_counter::instruction_counter_missing() {
        None => writeln!(
            md,
            "- instructions: the CPU's user-space instruction counter (`perf_event_open`, as \
             `perf stat -e instructions:u`) over the whole measurement, runtime start and \
             shutdown included, divided by the task count"
        ),
        Some(why) => writeln!(
            md,
            "- instructions: not available on this machine (`perf_event_open`: {why}); the \
             instruction figures read `n/a` (count them with \
             `valgrind --tool=callgrind`, see `examples/spawn_icount.rs`)"
        ),
    };
    if plan.suites.iter().any(|s| s.io) {
        let _ = match crate::perf_counter::syscall_counter_missing() {
            None => writeln!(
                md,
                "- server syscalls (echo): the tracepoint `raw_syscalls:sys_enter` \
                 (`perf_event_open`, as `perf stat -e raw_syscalls:sys_enter`) over every thread \
                 of the server process (not the load generator's) during the timed phase, \
                 divided by the requests"
            ),
            Some(why) => writeln!(
                md,
                "- server syscalls (echo): not available on this machine (`perf_event_open` of \
                 `raw_syscalls:sys_enter`: {why}); the figures read `n/a`"
            ),
        };
    }
    let io_uring_planned = plan.runtimes.iter().any(|rt| {
        rt.io_driver() == Some(IoDriver::IoUring) && plan.suites.iter().any(|s| plan.runs(s, *rt))
    });
    if io_uring_planned {
        if let Some(why) = crate::runtimes::io_uring_refused() {
            let _ = writeln!(
                md,
                "- io_uring: refused here, so the tether-uring columns read `n/a`: {why}"
            );
        }
    }
    let _ = writeln!(md, "- command: `{command}`");
    let _ = writeln!(
        md,
        "- sizes: {}; each figure is the median of {} run(s), each run in a fresh process, \
         runtimes interleaved within each round",
        if plan.quick {
            "`--quick` (every size / 100, echo phases 1 s, idle window 0.5 s, no echo_10000 \
             unless asked for: a smoke run, the figures mean nothing)"
        } else {
            "full"
        },
        plan.runs
    );
    let _ = writeln!(md, "- runtimes:");
    for rt in &plan.runtimes {
        if plan.suites.iter().any(|s| plan.runs(s, *rt)) {
            let _ = writeln!(md, "  - `{}`: {}", rt.name(), rt.setup());
        }
    }
    let _ = writeln!(
        md,
        "- lower is better for every figure except those marked \"higher is better\" \
         (throughput); a ratio is tether's figure divided by the peer's, so above 1.00x means \
         tether (tether-mt) is slower or bigger than the peer, except for throughput, where \
         below 1.00x means tether is slower; \"context\" figures get no ratio; \
         `tether-uring/best peer` (`tether-uring-mt/best peer`) divides tether on io_uring's \
         figure by the best peer's in that row (the best of the columns other than tether's, \
         `mio` included), named after the ratio; `–`: the suite does not run on that runtime; \
         `n/a`: the runtime has no such figure"
    );

    for flavor in Flavor::ALL {
        table(plan, cells, flavor, md);
    }

    if plan.runs > 1 {
        let _ = writeln!(md, "\n<details><summary>every run</summary>\n");
        let _ = writeln!(md, "| suite | figure | runtime | runs |\n|---|---|---|---|");
        for (si, suite) in plan.suites.iter().enumerate() {
            for (mi, metric) in suite.all_metrics().iter().enumerate() {
                for (ri, rt) in plan.runtimes.iter().enumerate() {
                    if !plan.runs(suite, *rt) {
                        continue;
                    }
                    let runs: Vec<String> = cells[si][ri]
                        .outcomes
                        .iter()
                        .map(|o| match o {
                            Ok(v) => fmt_value(v[mi]),
                            Err(_) => "FAIL".to_string(),
                        })
                        .collect();
                    let _ = writeln!(
                        md,
                        "| {} | {} ({}) | {} | {} |",
                        suite.name,
                        metric.name,
                        metric.unit_label(),
                        rt.name(),
                        runs.join(", ")
                    );
                }
            }
        }
        let _ = writeln!(md, "\n</details>");
    }

    let mut ok = true;
    let mut failures = String::new();
    for (si, suite) in plan.suites.iter().enumerate() {
        for (ri, rt) in plan.runtimes.iter().enumerate() {
            for (round, outcome) in cells[si][ri].outcomes.iter().enumerate() {
                if let Err(e) = outcome {
                    ok = false;
                    let _ = writeln!(
                        failures,
                        "- {} / {} (round {}): {e}; reproduce with `cargo run --release -p \
                         tether-bench -- --suite {} --runtime {} --runs 1{}`",
                        suite.name,
                        rt.name(),
                        round + 1,
                        suite.name,
                        rt.name(),
                        if plan.quick { " --quick" } else { "" }
                    );
                }
            }
        }
    }
    if !ok {
        let _ = writeln!(md, "\n### failures\n\n{failures}");
    }
    ok
}

/// The table of one flavor: its runtimes side by side (plus the `mio` and `uring` references,
/// beside both flavors, when a suite of the table runs on them), then the ratios: tether's (on
/// epoll) to each peer (the columns of tokio, smol and `mio`), tether-uring's to the best peer of
/// each row, and tether-uring's to the `uring` reference. Nothing when the plan has no runtime or
/// no suite of that flavor.
fn table(plan: &Plan, cells: &[Vec<Cell>], flavor: Flavor, md: &mut String) {
    let suites: Vec<(usize, &Suite)> = plan
        .suites
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, s)| s.runs_on_flavor(flavor))
        .collect();
    let runtimes: Vec<(usize, Runtime)> = plan
        .runtimes
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, rt)| rt.is_reference() || rt.flavor() == flavor)
        .filter(|(_, rt)| suites.iter().any(|(_, s)| plan.runs(s, *rt)))
        .collect();
    // A table needs a runtime of its flavor; the reference alone is shown once, single-thread.
    let has_own = runtimes.iter().any(|(_, rt)| !rt.is_reference());
    let only_reference_planned = plan.runtimes.iter().all(|rt| rt.is_reference());
    if suites.is_empty()
        || runtimes.is_empty()
        || !(has_own || (only_reference_planned && flavor == Flavor::Single))
    {
        return;
    }
    let on = |driver: IoDriver| {
        runtimes
            .iter()
            .copied()
            .find(|(_, rt)| rt.io_driver() == Some(driver))
    };
    let (epoll, uring) = (on(IoDriver::Epoll), on(IoDriver::IoUring));
    let peers: Vec<(usize, Runtime)> = if epoll.is_some() || uring.is_some() {
        runtimes
            .iter()
            .copied()
            .filter(|(_, rt)| !matches!(rt.lib(), Lib::Tether | Lib::Uring))
            .collect()
    } else {
        Vec::new()
    };

    let _ = writeln!(md, "\n### {}\n", flavor.title());
    let mut header = "| suite | figure |".to_string();
    let mut rule = "|---|---|".to_string();
    for (_, rt) in &runtimes {
        let _ = write!(header, " {} |", rt.name());
        rule.push_str("---:|");
    }
    if let Some((_, t)) = epoll {
        for (_, peer) in &peers {
            let _ = write!(header, " {}/{} |", t.name(), peer.name());
            rule.push_str("---:|");
        }
    }
    if let (Some((_, u)), false) = (uring, peers.is_empty()) {
        let _ = write!(header, " {}/best peer |", u.name());
        rule.push_str("---:|");
    }
    let floor = runtimes
        .iter()
        .copied()
        .find(|(_, rt)| rt.lib() == Lib::Uring);
    if let (Some((_, u)), Some((_, f))) = (uring, floor) {
        let _ = write!(header, " {}/{} |", u.name(), f.name());
        rule.push_str("---:|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for (si, suite) in suites {
        for (mi, metric) in suite.all_metrics().iter().enumerate() {
            let mut row = format!(
                "| {} | {} ({}) |",
                suite.name,
                metric.name,
                metric.unit_label()
            );
            for (ri, rt) in &runtimes {
                let shown = if plan.runs(suite, *rt) {
                    cells[si][*ri].shown(mi)
                } else {
                    "–".to_string()
                };
                let _ = write!(row, " {shown} |");
            }
            if let Some((ti, t)) = epoll {
                for (pi, peer) in &peers {
                    let ratio = if !plan.runs(suite, t) || !plan.runs(suite, *peer) {
                        "–".to_string()
                    } else if metric.better == Better::Info {
                        String::new()
                    } else {
                        fmt_ratio(cells[si][ti].median(mi), cells[si][*pi].median(mi))
                    };
                    let _ = write!(row, " {ratio} |");
                }
            }
            if let (Some((ui, u)), false) = (uring, peers.is_empty()) {
                let runs_on: Vec<(usize, Runtime)> = peers
                    .iter()
                    .copied()
                    .filter(|(_, peer)| plan.runs(suite, *peer))
                    .collect();
                let ratio = if !plan.runs(suite, u) || runs_on.is_empty() {
                    "–".to_string()
                } else if metric.better == Better::Info {
                    String::new()
                } else {
                    let medians = runs_on
                        .iter()
                        .filter_map(|(pi, peer)| Some((*peer, cells[si][*pi].median(mi)?)));
                    match best(medians, metric.better) {
                        Some((peer, v)) => format!(
                            "{} {}",
                            fmt_ratio(cells[si][ui].median(mi), Some(v)),
                            peer.name()
                        ),
                        None => "n/a".to_string(),
                    }
                };
                let _ = write!(row, " {ratio} |");
            }
            if let (Some((ui, u)), Some((fi, f))) = (uring, floor) {
                let ratio = if !plan.runs(suite, u) || !plan.runs(suite, f) {
                    "–".to_string()
                } else if metric.better == Better::Info {
                    String::new()
                } else {
                    fmt_ratio(cells[si][ui].median(mi), cells[si][fi].median(mi))
                };
                let _ = write!(row, " {ratio} |");
            }
            let _ = writeln!(md, "{row}");
        }
    }
}

/// The best of the peers' `(peer, median)` by a figure that is `better` lower or higher (the
/// first of equals); `None` when there is none.
fn best(medians: impl Iterator<Item = (Runtime, f64)>, better: Better) -> Option<(Runtime, f64)> {
    medians.reduce(|a, b| {
        let b_wins = match better {
            Better::Higher => b.1 > a.1,
            Better::Lower | Better::Info => b.1 < a.1,
        };
        if b_wins {
            b
        } else {
            a
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suites;

    fn plan(runtimes: &[Runtime], named_runtimes: bool) -> Plan {
        Plan {
            quick: true,
            runs: 1,
            suites: vec![
                suites::find("spawn_many").unwrap(),
                suites::find("echo_100").unwrap(),
            ],
            runtimes: runtimes.to_vec(),
            named_runtimes,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn io_uring_runtimes_run_only_the_io_suites_unless_named() {
        let (spawn, echo) = (
            suites::find("spawn_many").unwrap(),
            suites::find("echo_100").unwrap(),
        );
        let default = plan(&Runtime::ALL, false);
        for rt in [Runtime::TetherUring, Runtime::TetherUringMt] {
            assert!(default.runs(echo, rt), "{rt:?} on echo_100");
            assert!(!default.runs(spawn, rt), "{rt:?} on spawn_many");
        }
        assert!(default.runs(spawn, Runtime::Tether));
        assert!(default.runs(spawn, Runtime::TokioCt));
        let named = plan(&[Runtime::TetherUring], true);
        assert!(named.runs(spawn, Runtime::TetherUring));
    }

    /// The single-thread table of `echo_100` with the given throughputs and server CPU per
    /// request of tether, tether-uring, tokio-ct, smol and mio (the other figures 1).
    fn echo_table(throughput: [f64; 5], cpu: [f64; 5]) -> String {
        let runtimes = [
            Runtime::Tether,
            Runtime::TetherUring,
            Runtime::TokioCt,
            Runtime::Smol,
            Runtime::Mio,
        ];
        echo_table_of(&runtimes, &throughput, &cpu, Flavor::Single)
    }

    /// The `flavor` table of `echo_100` with the given throughputs and server CPU per request
    /// of `runtimes`, in order (the other figures 1).
    fn echo_table_of(
        runtimes: &[Runtime],
        throughput: &[f64],
        cpu: &[f64],
        flavor: Flavor,
    ) -> String {
        let mut plan = plan(runtimes, true);
        plan.suites = vec![suites::find("echo_100").unwrap()];
        let cells = vec![(0..runtimes.len())
            .map(|i| Cell {
                outcomes: vec![Ok(vec![throughput[i], 1.0, 1.0, cpu[i], 1.0, 100.0])],
            })
            .collect()];
        let mut md = String::new();
        table(&plan, &cells, flavor, &mut md);
        md
    }

    fn row<'a>(md: &'a str, figure: &str) -> Vec<&'a str> {
        let line = md
            .lines()
            .find(|l| l.starts_with(&format!("| echo_100 | {figure}")))
            .unwrap_or_else(|| panic!("no {figure} row in\n{md}"));
        line.split('|').map(str::trim).collect()
    }

    #[test]
    fn the_io_uring_column_is_divided_by_the_best_peer_of_each_row() {
        let md = echo_table(
            [90.0, 120.0, 100.0, 80.0, 110.0],
            [9.0, 6.0, 8.0, 10.0, 7.0],
        );
        assert!(
            md.contains(
                "| suite | figure | tether | tether-uring | tokio-ct | smol | mio | \
                 tether/tokio-ct | tether/smol | tether/mio | tether-uring/best peer |"
            ),
            "{md}"
        );
        // Throughput: higher is better, so the best peer is mio's 110.
        assert_eq!(row(&md, "throughput")[11], "1.09x mio");
        assert_eq!(row(&md, "throughput")[8], "0.90x");
        // CPU per request: lower is better, so the best peer is mio's 7.
        assert_eq!(row(&md, "server CPU")[11], "0.86x mio");
        // Context figures get no ratio.
        assert_eq!(row(&md, "connections")[11], "");
    }

    #[test]
    fn a_peer_without_the_figure_is_not_the_best() {
        let md = echo_table(
            [90.0, 120.0, 100.0, 80.0, f64::NAN],
            [9.0, 6.0, 8.0, 10.0, f64::NAN],
        );
        assert_eq!(row(&md, "throughput")[11], "1.20x tokio-ct");
        assert_eq!(row(&md, "server CPU")[11], "0.75x tokio-ct");
    }

    #[test]
    fn the_uring_reference_has_its_own_ratio_and_is_no_peer() {
        let runtimes = [
            Runtime::Tether,
            Runtime::TetherUring,
            Runtime::TokioCt,
            Runtime::Mio,
            Runtime::Uring,
        ];
        // The reference is the best on both figures: it must not become the best peer.
        let (throughput, cpu) = (
            [90.0, 120.0, 100.0, 110.0, 150.0],
            [9.0, 6.0, 8.0, 7.0, 4.0],
        );
        let md = echo_table_of(&runtimes, &throughput, &cpu, Flavor::Single);
        assert!(
            md.contains(
                "| suite | figure | tether | tether-uring | tokio-ct | mio | uring | \
                 tether/tokio-ct | tether/mio | tether-uring/best peer | tether-uring/uring |"
            ),
            "{md}"
        );
        assert_eq!(row(&md, "throughput")[10], "1.09x mio");
        assert_eq!(row(&md, "throughput")[11], "0.80x");
        assert_eq!(row(&md, "server CPU")[10], "0.86x mio");
        assert_eq!(row(&md, "server CPU")[11], "1.50x");
        assert_eq!(row(&md, "connections")[11], "");
        // The references alone make no multi-thread table.
        let md = echo_table_of(&runtimes, &throughput, &cpu, Flavor::Multi);
        assert!(md.is_empty(), "no multi-thread runtime planned: {md}");
    }
}
