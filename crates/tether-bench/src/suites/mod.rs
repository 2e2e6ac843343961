//! The benchmark suites: what the harness knows of a suite ([`Suite`], its [`Metric`]s, the
//! [`Scale`] of its workload), the list [`SUITES`] in report order, and one module per suite
//! (`echo` holds the three echo suites, which differ only in their connection count).
//!
//! To add a suite, write a module with `fn NAME_tether`, `fn NAME_tokio` and `fn NAME_smol` (each
//! takes the [`Scale`] and the [`Flavor`], hands the flavor to `rt::tether`/`rt::tokio`/
//! `rt::smol`, and returns its figures in the order of the entry's `metrics`) and its [`Suite`]
//! entry, listing the flavors it runs on and whether it does I/O (`io`: then the io_uring
//! runtimes run it by default); then add the entry to [`SUITES`]. The harness runs
//! each function in a fresh child process, and appends the process's peak RSS when the entry
//! asks for it.
//!
//! Timing starts inside `block_on` (runtime construction and teardown are not timed).

mod chained_spawn;
mod cross_thread_wake;
mod echo;
#[cfg(target_os = "linux")]
mod echo_uring;
mod idle_task_memory;
mod idle_wakeups;
mod join_set;
mod parallel_spawn;
mod ping_pong;
mod scope_spawn;
mod select;
mod spawn_many;
mod timers;
mod yield_many;

use crate::runtimes::{Flavor, Lib, Runtime};

/// How big the workloads are.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// `--quick`: every size divided by 100 (a smoke run, not a measurement).
    pub quick: bool,
}

impl Scale {
    /// `full`, or `full / 100` in quick mode.
    fn size(self, full: usize) -> usize {
        if self.quick {
            (full / 100).max(1)
        } else {
            full
        }
    }

    /// `full`, or `quick` in quick mode (for sizes with several dimensions).
    pub fn pick<T>(self, full: T, quick: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// A per-library benchmark function: runs the workload on that library's runtime of the given
/// flavor, returns the suite's figures.
pub type RunFn = fn(Scale, Flavor) -> Vec<f64>;

/// Which way a figure is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Not a score: context for the other figures (no ratio is shown).
    Info,
}

/// One figure a suite reports.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
    pub better: Better,
}

impl Metric {
    /// A figure where lower is better (most of them: time, memory, wake-ups).
    pub const fn lower(name: &'static str, unit: &'static str) -> Metric {
        Metric {
            name,
            unit,
            better: Better::Lower,
        }
    }

    /// A figure where higher is better (throughput).
    pub const fn higher(name: &'static str, unit: &'static str) -> Metric {
        Metric {
            name,
            unit,
            better: Better::Higher,
        }
    }

    /// A figure that is context, not a score.
    pub const fn info(name: &'static str, unit: &'static str) -> Metric {
        Metric {
            name,
            unit,
            better: Better::Info,
        }
    }

    /// For the tables: the unit, with "higher is better" where that holds.
    pub fn unit_label(&self) -> String {
        match self.better {
            Better::Lower => self.unit.to_string(),
            Better::Higher => format!("{}, higher is better", self.unit),
            Better::Info => format!("{}, context", self.unit),
        }
    }
}

/// The figure appended when [`Suite::peak_rss`] is set.
pub const PEAK_RSS: Metric = Metric::lower("peak RSS", "MB");

/// The `flavors` of a suite that runs on multi-thread runtimes only.
const MULTI: &[Flavor] = &[Flavor::Multi];
/// The `flavors` of a suite that runs on both flavors.
const BOTH: &[Flavor] = &[Flavor::Single, Flavor::Multi];

/// One benchmark suite.
pub struct Suite {
    pub name: &'static str,
    /// One sentence for the report: what is measured.
    pub about: &'static str,
    /// The figures the run functions return, in order.
    pub metrics: &'static [Metric],
    /// Append the child process's peak RSS (`VmHWM`) as a last figure.
    pub peak_rss: bool,
    /// The flavors of runtime the suite runs on.
    pub flavors: &'static [Flavor],
    pub tether: RunFn,
    pub tokio: RunFn,
    pub smol: RunFn,
    /// The same workload with no runtime (plain `mio`): a reference column, when it makes sense.
    pub mio: Option<RunFn>,
    /// The same workload on a hand-written io_uring loop with no runtime (Linux): a second
    /// reference column, the floor of an io_uring server on this kernel.
    pub uring: Option<RunFn>,
    /// Whether `--quick` runs it when no `--suite` is given.
    pub in_quick: bool,
    /// Whether the workload does I/O through the runtime's reactor (the echo suites): the
    /// io_uring runtimes ([`Runtime::io_only`]) run on it even when `--runtime` does not name
    /// them.
    pub io: bool,
}

impl Suite {
    /// The function for `runtime`; `None` when the suite does not run on it.
    pub fn run_fn(&self, runtime: Runtime) -> Option<RunFn> {
        if !self.runs_on(runtime) {
            return None;
        }
        match runtime.lib() {
            Lib::Tether => Some(self.tether),
            Lib::Tokio => Some(self.tokio),
            Lib::Smol => Some(self.smol),
            Lib::Mio => self.mio,
            Lib::Uring => self.uring,
        }
    }

    /// Whether the suite runs on runtimes of this flavor.
    pub fn runs_on_flavor(&self, flavor: Flavor) -> bool {
        self.flavors.contains(&flavor)
    }

    /// Whether the suite runs on this runtime.
    pub fn runs_on(&self, runtime: Runtime) -> bool {
        match runtime.lib() {
            Lib::Mio => self.mio.is_some(),
            Lib::Uring => self.uring.is_some(),
            _ => self.runs_on_flavor(runtime.flavor()),
        }
    }

    /// Every figure of the suite, including the peak RSS if asked for.
    pub fn all_metrics(&self) -> Vec<Metric> {
        let mut all = self.metrics.to_vec();
        if self.peak_rss {
            all.push(PEAK_RSS);
        }
        all
    }
}

pub fn find(name: &str) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.name == name)
}

/// The suites a `--suite` argument names: the suite of that name, or the family of that name
/// (`echo`: `echo_100`, `echo_1000`, `echo_10000`).
pub fn select(name: &str) -> Vec<&'static Suite> {
    if let Some(s) = find(name) {
        return vec![s];
    }
    SUITES
        .iter()
        .filter(|s| {
            s.name.strip_prefix(name).is_some_and(|rest| {
                rest.strip_prefix('_')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
        })
        .collect()
}

/// Every suite, in the order of the report's tables.
pub const SUITES: &[Suite] = &[
    spawn_many::SUITE,
    scope_spawn::SUITE,
    parallel_spawn::SUITE,
    join_set::SUITE,
    yield_many::SUITE,
    timers::SUITE,
    idle_task_memory::SUITE,
    ping_pong::SUITE,
    chained_spawn::SUITE,
    cross_thread_wake::SUITE,
    idle_wakeups::SUITE,
    select::SUITE,
    echo::ECHO_100,
    echo::ECHO_1000,
    echo::ECHO_10000,
];
