//! `--diag-overhead`: what tether's default diagnostics cost on `spawn_many` and `yield_many`.
//!
//! `tether::runtime::Builder::diagnostics(bool)` is on by default: each poll then publishes what
//! it polls in its worker's slot and reads one mark there, and a watchdog thread ticks while the
//! runtime is busy, timing the polls it samples. This mode runs the two workloads of the main suite (the same
//! functions, `suites::SUITES`) on tether's current-thread runtime and its multi-thread runtime
//! with 2 workers, once with `diagnostics(true)` and once with `diagnostics(false)`, each
//! measurement in a fresh child process (`--child SUITE RUNTIME --diagnostics on|off`). Within
//! each round every (workload, flavor) pair runs on and off back to back, on first in odd rounds
//! and off first in even ones, so machine noise and order hit both alike. The report is a
//! markdown table of medians over rounds, the ratio on/off of the medians, the median of the
//! per-round ratios, and every run.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use crate::report::{self, date_utc};
use crate::runtimes::{Flavor, Runtime};
use crate::suites::{self, Suite};

/// Rounds without `--runs` (and without `--quick`).
const DEFAULT_RUNS: usize = 7;

/// The workloads measured.
const WORKLOADS: [&str; 2] = ["spawn_many", "yield_many"];

/// The runtimes measured: tether's two flavors.
const RUNTIMES: [Runtime; 2] = [Runtime::Tether, Runtime::TetherMt];

pub const USAGE: &str = "usage: tether-bench --diag-overhead [--quick] [--runs N] [--timeout SECS]";

struct Plan {
    quick: bool,
    runs: usize,
    timeout: Duration,
}

/// Every run of one (workload, runtime) pair: the workload's first figure (ns per task or per
/// yield), diagnostics on and off, one entry per round (`None`: that run failed).
struct Pair {
    suite: &'static Suite,
    runtime: Runtime,
    on: Vec<Option<f64>>,
    off: Vec<Option<f64>>,
}

/// The parent side: `--diag-overhead [--quick] [--runs N] [--timeout SECS]`.
pub fn main(args: &[String]) -> ExitCode {
    if let Err(e) = crate::runtimes::refuse_io_driver_env("--diag-overhead") {
        eprintln!("tether-bench: {e}");
        return ExitCode::from(2);
    }
    let plan = match parse(args) {
        Ok(Some(plan)) => plan,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tether-bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut command = "cargo run --release -p tether-bench -- --diag-overhead".to_string();
    for a in args {
        command.push(' ');
        command.push_str(a);
    }
    let mut pairs: Vec<Pair> = WORKLOADS
        .iter()
        .flat_map(|name| {
            let suite = suites::find(name).expect("tether-bench: a workload of the main suite");
            RUNTIMES.into_iter().map(move |runtime| Pair {
                suite,
                runtime,
                on: Vec::new(),
                off: Vec::new(),
            })
        })
        .collect();
    let total = plan.runs * pairs.len() * 2;
    let mut done = 0;
    let started = Instant::now();
    for round in 1..=plan.runs {
        for pair in &mut pairs {
            let order = if round % 2 == 1 {
                [true, false]
            } else {
                [false, true]
            };
            for on in order {
                done += 1;
                let t0 = Instant::now();
                let outcome = run_child(pair.suite, pair.runtime, on, &plan);
                let shown = match &outcome {
                    Ok(v) => format!("{} ns", fmt(*v)),
                    Err(e) => format!("FAILED: {e}"),
                };
                eprintln!(
                    "[{done}/{total}] round {round}/{} {} {} diagnostics {}: {shown} ({:.1} s)",
                    plan.runs,
                    pair.suite.name,
                    pair.runtime.name(),
                    on_off(on),
                    t0.elapsed().as_secs_f64()
                );
                let v = outcome.ok();
                if on {
                    pair.on.push(v);
                } else {
                    pair.off.push(v);
                }
            }
        }
    }
    eprintln!(
        "all {total} measurements took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let (md, ok) = render(&plan, &command, &pairs);
    print!("{md}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `Ok(None)`: nothing to run (`--help`).
fn parse(args: &[String]) -> Result<Option<Plan>, String> {
    let mut common = crate::CommonArgs::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs {what}"))
        };
        if common.accept(arg, value)? {
            continue;
        }
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?} for --diag-overhead")),
        }
    }
    Ok(Some(Plan {
        quick: common.quick,
        runs: common
            .runs
            .unwrap_or(if common.quick { 1 } else { DEFAULT_RUNS }),
        timeout: common.timeout,
    }))
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

/// Runs one measurement in a fresh child process of this executable and returns the workload's
/// first figure.
fn run_child(suite: &Suite, runtime: Runtime, on: bool, plan: &Plan) -> Result<f64, String> {
    let extra = ["--diagnostics", on_off(on)];
    let figures = report::run_child(suite, runtime, &extra, plan.quick, plan.timeout)?;
    Ok(figures[0])
}

fn median(values: &[f64]) -> Option<f64> {
    report::median(values.to_vec())
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "FAIL".to_string(), fmt)
}

fn ratio(on: Option<f64>, off: Option<f64>) -> String {
    match (on, off) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.3}", a / b),
        _ => "n/a".to_string(),
    }
}

fn min_max(values: &[f64]) -> String {
    let min = values.iter().copied().reduce(f64::min);
    let max = values.iter().copied().reduce(f64::max);
    match (min, max) {
        (Some(a), Some(b)) => format!("{}–{}", fmt(a), fmt(b)),
        _ => "FAIL".to_string(),
    }
}

fn flavor_name(runtime: Runtime) -> &'static str {
    match runtime.flavor() {
        Flavor::Single => "current-thread",
        Flavor::Multi => "multi-thread (2 workers)",
    }
}

fn unit(suite: &Suite) -> &'static str {
    suite.metrics.first().map_or("", |m| m.unit)
}

fn render(plan: &Plan, command: &str, pairs: &[Pair]) -> (String, bool) {
    let nproc = thread::available_parallelism().map_or(0, |n| n.get());
    let mut md = String::new();
    let mut ok = true;
    let _ = writeln!(md, "## tether diagnostics overhead\n");
    let _ = writeln!(md, "- date: {}", date_utc());
    let _ = writeln!(md, "- nproc: {nproc}");
    let _ = writeln!(md, "- command: `{command}`");
    let _ = writeln!(
        md,
        "- sizes: {}; {} round(s), each run in a fresh process, on and off back to back in \
         each round (on first in odd rounds, off first in even ones)",
        if plan.quick {
            "quick (100x smaller), a smoke test only"
        } else {
            "full"
        },
        plan.runs
    );
    let _ = writeln!(
        md,
        "- on: `Builder::diagnostics(true)` (the default: the per-worker slot each poll writes, \
         the watchdog thread that times polls); off: `Builder::diagnostics(false)`\n"
    );
    let _ = writeln!(
        md,
        "| workload | flavor | median on | median off | on/off (medians) | median of per-round \
         on/off | on min–max | off min–max |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|");
    for p in pairs {
        let on: Vec<f64> = p.on.iter().flatten().copied().collect();
        let off: Vec<f64> = p.off.iter().flatten().copied().collect();
        ok &= on.len() == p.on.len() && off.len() == p.off.len();
        let per_round: Vec<f64> =
            p.on.iter()
                .zip(&p.off)
                .filter_map(|(a, b)| Some((*a)? / (*b)?))
                .collect();
        let unit = unit(p.suite);
        let _ = writeln!(
            md,
            "| {} | {} | {} {unit} | {} {unit} | {} | {} | {} | {} |",
            p.suite.name,
            flavor_name(p.runtime),
            fmt_opt(median(&on)),
            fmt_opt(median(&off)),
            ratio(median(&on), median(&off)),
            median(&per_round).map_or_else(|| "n/a".to_string(), |r| format!("{r:.3}")),
            min_max(&on),
            min_max(&off),
        );
    }
    let _ = writeln!(md, "\nEvery run, in round order:\n");
    let _ = writeln!(md, "| workload | flavor | diagnostics | runs |");
    let _ = writeln!(md, "|---|---|---|---|");
    for p in pairs {
        for (on, runs) in [(true, &p.on), (false, &p.off)] {
            let runs: Vec<String> = runs.iter().map(|v| fmt_opt(*v)).collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                p.suite.name,
                flavor_name(p.runtime),
                on_off(on),
                runs.join(", ")
            );
        }
    }
    (md, ok)
}
