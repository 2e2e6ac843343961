//! Observing a runtime: what its tasks are doing, which one blocks a worker, what failed unseen.
//!
//! Everything here is a report the runtime hands out; nothing here changes what it does.
//! There are two ways to look.
//!
//! **Reports as things happen**, each to a hook set on the
//! [`runtime::Builder`](crate::runtime::Builder) (on stderr when no hook is set):
//!
//! - [`Diagnostic`], to [`Builder::on_diagnostic`](crate::runtime::Builder::on_diagnostic): a
//!   task that blocks its worker, named with its spawn location, the worker and the duration.
//!   [`DiagnosticKind`] says which: a poll longer than the
//!   [slow-poll threshold](crate::runtime::Builder::slow_poll_threshold) (10 ms by default),
//!   reported when it returns; a poll still running past the
//!   [watchdog limit](crate::runtime::Builder::watchdog_limit) (100 ms by default), reported by
//!   the runtime's watchdog thread *while the worker is still stuck*; or a poll that keeps a
//!   worker from stopping when the runtime shuts down.
//!   [`Builder::diagnostics(false)`](crate::runtime::Builder::diagnostics) turns this off.
//! - [`UnhandledFailure`], to
//!   [`Builder::on_unhandled_failure`](crate::runtime::Builder::on_unhandled_failure): a failure
//!   nobody observed (a task's panic whose `JoinHandle` was dropped, a panic a worker caught in
//!   the runtime's own code, a failure a scope could not deliver). What the runtime does after
//!   reporting one is its failure policy,
//!   [`UnhandledFailurePolicy`](crate::runtime::UnhandledFailurePolicy).
//!
//! With the `tracing` feature, each report is also a `tracing` event (target
//! `tether::diagnostics`, a warning, or `tether::failures`, an error), with the task's id, name
//! and spawn location as fields.
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
//! # Where the reports come from
//!
//! This module holds the report types and how a report reaches its hook, `tracing` or stderr.
//! The runtime makes them: the per-worker poll slots and the watchdog thread
//! (`runtime/diagnostics.rs`, `runtime/watchdog.rs`), the failure policy
//! (`runtime/failure.rs`), the task registry's snapshot (`task/registry.rs`) and the counters
//! (`runtime/metrics.rs`).

mod diagnostic;
mod dump;
mod failure;
mod metrics;
mod task_info;

pub use diagnostic::{Diagnostic, DiagnosticKind};
pub use dump::Dump;
pub use failure::UnhandledFailure;
pub use metrics::RuntimeMetrics;
pub use task_info::{JoinSetInfo, ScopeInfo, TaskInfo, TaskState};

pub(crate) use diagnostic::{DiagnosticHook, TaskRef};
pub(crate) use failure::{FailureHook, ScopeLoss};
pub(crate) use metrics::{Counts, Gauges};
