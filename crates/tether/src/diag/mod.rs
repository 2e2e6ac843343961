//! Observing a runtime: what its tasks are doing, which one blocks a worker, what failed unseen.
//!
//! Everything here is a report the runtime hands out; nothing here changes what it does.
//! There are two ways to look: reports as things happen, and snapshots on demand.
//!
//! **Reports as things happen.** Everything the runtime says on its own is a report, and every
//! report takes one path:
//!
//! - [`Diagnostic`]: a task that blocks its worker, named with its spawn location, the worker
//!   and the duration. [`DiagnosticKind`] says which: a poll longer than the
//!   [slow-poll threshold](crate::runtime::Builder::slow_poll_threshold) (10 ms by default),
//!   reported when it returns; a poll still running past the
//!   [watchdog limit](crate::runtime::Builder::watchdog_limit) (100 ms by default), reported by
//!   the runtime's watchdog thread *while the worker is still stuck*; a panic hook that holds a
//!   worker that long; or a poll that keeps a worker from stopping when the runtime shuts down.
//!   [`Builder::diagnostics(false)`](crate::runtime::Builder::diagnostics) turns these off.
//!   Also a `Diagnostic`: the list of tasks a shutdown cancelled
//!   ([`TasksLeftAtShutdown`](DiagnosticKind::TasksLeftAtShutdown)), the blocking jobs a
//!   shutdown that timed out left running
//!   ([`BlockingJobsLeftAtShutdown`](DiagnosticKind::BlockingJobsLeftAtShutdown)), and a dropped child
//!   process that cannot be reaped ([`ChildNotReaped`](DiagnosticKind::ChildNotReaped)).
//! - [`UnhandledFailure`]: a failure nobody observed (a task's panic whose `JoinHandle` was
//!   dropped, a panic a worker caught in the runtime's own code, a failure a scope could not
//!   deliver). What the runtime does after reporting one is its failure policy,
//!   [`UnhandledFailurePolicy`](crate::runtime::UnhandledFailurePolicy).
//!
//! Each report goes
//!
//! 1. to its hook, when one is set:
//!    [`Builder::on_diagnostic`](crate::runtime::Builder::on_diagnostic) for a `Diagnostic`,
//!    [`Builder::on_unhandled_failure`](crate::runtime::Builder::on_unhandled_failure) for an
//!    `UnhandledFailure`. A hook receives *every* report of its type, on the thread that made it
//!    (a worker, the watchdog thread, the thread that shuts the runtime down), with no rate
//!    limit: it is code, and a failure is reported exactly once. The two hooks are separate on
//!    purpose: failures never reach `on_diagnostic`, so a hook set to silence slow-poll reports
//!    cannot swallow them, and `on_unhandled_failure` sees the failure itself (the error a
//!    scope dropped);
//! 2. with the `tracing` feature, to `tracing` as an event, whenever a subscriber listens: a
//!    warning with target `tether::diagnostics` (fields `kind`, `task_id`, `task_name`,
//!    `task_location`, `worker`, `duration_ms`, `spawned_tasks`, `panicked`, `tasks`), or an
//!    error with target `tether::failures` (fields `task_id`, `task_name`, `task_location`,
//!    `thread`);
//! 3. to stderr, one report per line (the shutdown report adds a line per task), when neither
//!    a hook nor `tracing` took it, unless the runtime was built
//!    [`quiet`](crate::runtime::Builder::quiet).
//!
//! `tracing` and stderr are for people, and a burst of reports would bury everything else: they
//! get at most ten reports of one kind (a `DiagnosticKind`, or unhandled failures) a second, on
//! the runtime's clock (a [paused](crate::time::pause) clock pauses the count too). The reports
//! held back are counted, and the count follows as one line,
//!
//! ```text
//! tether: 990 similar reports suppressed (slow polls; at most 10 a second are printed, and Builder::on_diagnostic receives every one)
//! ```
//!
//! with the next report of that kind once the second has passed, at the watchdog's next tick
//! after it (while diagnostics are on), or when the runtime shuts down, whichever comes first.
//!
//! The time a task spends panicking is not counted as its poll: when a task panics, the
//! process's panic hook runs inside its poll (with `RUST_BACKTRACE` set, std's hook prints a
//! backtrace, which can take a second). The first runtime built with diagnostics on wraps the
//! process's panic hook (calling it unchanged) to see the hook start and end; the watchdog
//! credits that time to the hook, and reports a hook still running past the watchdog limit as
//! [`SlowPanicHook`](DiagnosticKind::SlowPanicHook), not as the task's stuck poll. A hook the
//! program sets after that replaces the wrapper; then a slow poll that ended in a panic is
//! reported as including the hook's time ([`Diagnostic::panicked`]), never with the advice to
//! move the task's work to `spawn_blocking`.
//!
//! **Snapshots on demand**, from a [`Handle`](crate::runtime::Handle), on any thread, while the
//! runtime runs (they take the task registry's lock briefly and never stop the workers):
//!
//! - [`Handle::live_tasks`](crate::runtime::Handle::live_tasks): every live task as a
//!   [`TaskInfo`] (id, name, spawn location, [`TaskState`], age, polls, time in poll, the
//!   [`ScopeInfo`] of the scope or the [`JoinSetInfo`] of the join set it belongs to);
//! - [`Handle::dump`](crate::runtime::Handle::dump): the same tasks as a [`Dump`], which prints
//!   as a tree: root tasks, the scopes and join sets they own, the tasks in those, blocking
//!   jobs;
//! - [`Handle::metrics`](crate::runtime::Handle::metrics): [`RuntimeMetrics`], the runtime's
//!   counters (spawns, polls, steals, parks, I/O events, timers, slow polls, watchdog reports)
//!   and gauges (live tasks, queue depths, blocking threads). It is also
//!   `tether::runtime::RuntimeMetrics`, where tokio has it.
//!
//! # Examples
//!
//! A task that blocks its worker is named by the watchdog while it still blocks; meanwhile the
//! live task tree shows what runs where, and the metrics count the reports.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! use tether::diag::{Diagnostic, DiagnosticKind};
//! use tether::runtime::{Builder, Handle};
//!
//! let reports: Arc<Mutex<Vec<Diagnostic>>> = Arc::default();
//! let sink = reports.clone();
//! let rt = Builder::new_multi_thread()
//!     .worker_threads(2)
//!     .watchdog_limit(Duration::from_millis(50))
//!     // Runs on the watchdog thread (or the worker): keep it short.
//!     .on_diagnostic(move |d| sink.lock().unwrap().push(d.clone()))
//!     .build()
//!     .unwrap();
//!
//! rt.block_on(async {
//!     let server = tether::task::Builder::new()
//!         .name("server")
//!         .spawn(std::future::pending::<()>());
//!     let hasher = tether::task::Builder::new().name("hasher").spawn(async {
//!         std::thread::sleep(Duration::from_millis(300)); // blocks its worker: reported
//!     });
//!     tether::time::sleep(Duration::from_millis(20)).await;
//!
//!     // The live task tree, as an admin endpoint or a signal handler would print it.
//!     let dump = Handle::current().dump();
//!     println!("{dump}");
//!     assert!(dump.tasks().iter().any(|t| t.name() == Some("server")));
//!
//!     hasher.await.unwrap();
//!     server.abort();
//! });
//!
//! let reports = reports.lock().unwrap();
//! let stuck = reports
//!     .iter()
//!     .find(|d| d.kind() == DiagnosticKind::StillRunning)
//!     .expect("the watchdog reported the blocked worker");
//! assert_eq!(stuck.task_name(), Some("hasher"));
//! println!("{stuck}"); // tether: task … "hasher" spawned at … has been running … ms on worker …
//!
//! let metrics = rt.handle().metrics();
//! assert_eq!(metrics.spawned_tasks(), 2);
//! assert!(metrics.watchdog_reports() >= 1);
//! ```
//!
//! One hook hears everything the runtime says about its tasks, the report of the tasks a
//! shutdown cancelled included, and [`quiet`](crate::runtime::Builder::quiet) keeps stderr for
//! the program:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! use tether::diag::DiagnosticKind;
//!
//! let heard = Arc::new(Mutex::new(Vec::new()));
//! let h = heard.clone();
//! let rt = tether::runtime::Builder::new_current_thread()
//!     .quiet()
//!     .on_diagnostic(move |d| {
//!         let names: Vec<_> = d.tasks().iter().map(|t| t.name().map(String::from)).collect();
//!         h.lock().unwrap().push((d.kind(), names));
//!     })
//!     .build()
//!     .unwrap();
//! rt.block_on(async {
//!     let flusher = std::future::pending::<()>(); // never finishes its work
//!     tether::task::Builder::new().name("flusher").spawn(flusher);
//!     tether::task::yield_now().await;
//! });
//! drop(rt); // cancels "flusher", and says so
//! assert_eq!(
//!     *heard.lock().unwrap(),
//!     [(DiagnosticKind::TasksLeftAtShutdown, vec![Some("flusher".to_string())])]
//! );
//! ```
//!
//! # Where the reports come from
//!
//! This module holds the report types and the one reporting path (`diag/report.rs`, whose
//! numbered rules the paragraphs above state for users). The runtime makes the reports: the
//! per-worker poll slots and the watchdog thread (`runtime/diagnostics.rs`,
//! `runtime/watchdog.rs`), the wrapper around the panic hook (`runtime/panic_hook.rs`), the
//! failure policy (`runtime/failure.rs`), the shutdown (`runtime/mod.rs`), the task registry's
//! snapshot (`task/registry.rs`) and the counters (`runtime/metrics.rs`).

mod diagnostic;
mod dump;
mod failure;
mod metrics;
mod report;
mod task_info;

pub use diagnostic::{Diagnostic, DiagnosticKind};
pub use dump::Dump;
pub use failure::UnhandledFailure;
pub use metrics::RuntimeMetrics;
pub use task_info::{JoinSetInfo, ScopeInfo, TaskInfo, TaskState};

pub(crate) use diagnostic::{DiagnosticHook, PanicTiming, TaskRef};
pub(crate) use failure::{FailureHook, ScopeLoss};
pub(crate) use metrics::{Counts, Gauges};
// The reaper of child processes (Unix only) is the one reporter of diagnostics outside a runtime.
#[cfg(unix)]
pub(crate) use report::report_unattached;
pub(crate) use report::{report_unattached_text, Reporter};
