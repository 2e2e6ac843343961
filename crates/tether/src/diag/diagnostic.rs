//! `Diagnostic`: the report about a task that blocked its worker, and how a report reaches the
//! user (the [`Builder::on_diagnostic`](crate::runtime::Builder::on_diagnostic) hook, a
//! `tracing` event, or stderr).
//!
//! The reports are made by the runtime's poll monitoring (`runtime/diagnostics.rs`, with the
//! watchdog thread in `runtime/watchdog.rs`); this file only says what a report holds and how
//! it is delivered.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::task::Id;

/// The hook behind [`Builder::on_diagnostic`](crate::runtime::Builder::on_diagnostic).
pub(crate) type DiagnosticHook = Arc<dyn Fn(&Diagnostic) + Send + Sync>;

/// Which task a [`Diagnostic`] is about.
#[derive(Clone, Debug)]
pub(crate) struct TaskRef {
    /// `None` for the future passed to `block_on`, which is not a task.
    pub(crate) id: Option<Id>,
    pub(crate) name: Option<Arc<str>>,
    /// Where the task was spawned (for the `block_on` future: where `block_on` was called).
    pub(crate) location: Option<&'static Location<'static>>,
}

/// What a [`Diagnostic`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// A poll took longer than the slow-poll threshold; reported when it returned.
    SlowPoll,
    /// The watchdog found a poll still running after the watchdog limit (and again each time its
    /// duration doubles): the worker is blocked right now.
    StillRunning,
    /// A task's poll kept its worker from stopping when the runtime shut down: after
    /// `Runtime::shutdown_timeout`'s timeout the worker was left behind (its thread detached; it
    /// exits when the poll returns); while dropping the runtime, the drop had waited the
    /// watchdog limit for it and keeps waiting.
    BlocksShutdown,
}

/// A report about a task that blocked its worker, passed to
/// [`Builder::on_diagnostic`](crate::runtime::Builder::on_diagnostic) (printed to stderr by
/// default).
///
/// Its `Display` is one line that names the task, where it was spawned, the worker and the
/// duration, for example:
///
/// ```text
/// tether: task 12 "store" spawned at src/main.rs:12 has been running 250 ms on worker 1 without yielding (watchdog limit 100 ms)
/// ```
///
/// Durations are measured by the runtime's watchdog thread, to a quarter of the smaller of the
/// slow-poll threshold and the watchdog limit.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub(crate) kind: DiagnosticKind,
    pub(crate) task: TaskRef,
    pub(crate) worker: usize,
    pub(crate) duration: Duration,
    pub(crate) waited: Duration,
    pub(crate) threshold: Duration,
    /// `BlocksShutdown`: the shutdown gave up on the worker (rather than waiting on).
    pub(crate) left_behind: bool,
}

impl Diagnostic {
    /// What happened.
    pub fn kind(&self) -> DiagnosticKind {
        self.kind
    }

    /// The task's id; `None` for the future passed to `block_on`, which is not a task.
    pub fn task_id(&self) -> Option<Id> {
        self.task.id
    }

    /// The task's name, if it was given one.
    pub fn task_name(&self) -> Option<&str> {
        self.task.name.as_deref()
    }

    /// Where the task was spawned (for the `block_on` future: where `block_on` was called).
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.task.location
    }

    /// The worker the poll runs on (0 for a current-thread runtime).
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// How long the poll took ([`SlowPoll`](DiagnosticKind::SlowPoll)) or has been running so
    /// far ([`StillRunning`](DiagnosticKind::StillRunning)); for
    /// [`BlocksShutdown`](DiagnosticKind::BlocksShutdown), how long the shutdown had waited for
    /// the worker.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// For [`StillRunning`](DiagnosticKind::StillRunning) on Linux: how much of
    /// [`duration`](Diagnostic::duration) the worker thread spent ready to run but without a CPU
    /// (the machine is overloaded). That time does not count toward the watchdog limit. Zero
    /// otherwise.
    pub fn waited_for_cpu(&self) -> Duration {
        self.waited
    }

    /// The threshold that was crossed: the slow-poll threshold or the watchdog limit (for
    /// [`BlocksShutdown`](DiagnosticKind::BlocksShutdown): the shutdown's timeout, or the
    /// watchdog limit when dropping the runtime).
    pub fn threshold(&self) -> Duration {
        self.threshold
    }

    /// Delivers the report: a `tracing` event (with the `tracing` feature), then `hook`, or
    /// stderr when there is none.
    pub(crate) fn emit(&self, hook: Option<&DiagnosticHook>) {
        #[cfg(feature = "tracing")]
        {
            let id = self.task.id.map(|i| i.as_u64());
            let name = self.task.name.as_deref();
            let location = self.task.location.map(ToString::to_string);
            let duration_ms = self.duration.as_millis() as u64;
            tracing::warn!(
                target: "tether::diagnostics",
                task_id = id,
                task_name = name,
                task_location = location.as_deref(),
                worker = self.worker,
                duration_ms = duration_ms,
                "{self}"
            );
        }
        match hook {
            Some(hook) => {
                // A panicking hook must not take a worker (or the watchdog) down with it.
                let hook = std::panic::AssertUnwindSafe(|| hook(self));
                if std::panic::catch_unwind(hook).is_err() {
                    eprintln!("tether: the on_diagnostic hook panicked while reporting: {self}");
                }
            }
            None => eprintln!("{self}"),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tether: ")?;
        match self.task.id {
            Some(id) => {
                write!(f, "task {id}")?;
                if let Some(name) = &self.task.name {
                    write!(f, " {name:?}")?;
                }
                if let Some(loc) = self.task.location {
                    write!(f, " spawned at {loc}")?;
                }
            }
            None => {
                f.write_str("the future passed to block_on")?;
                if let Some(loc) = self.task.location {
                    write!(f, " at {loc}")?;
                }
            }
        }
        let ms = self.duration.as_secs_f64() * 1e3;
        let limit_ms = self.threshold.as_secs_f64() * 1e3;
        match self.kind {
            DiagnosticKind::SlowPoll => write!(
                f,
                " took {ms:.1} ms in one poll on worker {} (slow-poll threshold {limit_ms:.0} ms); \
                 move blocking work to spawn_blocking or yield with task::yield_now",
                self.worker
            ),
            DiagnosticKind::StillRunning => {
                write!(f, " has been running {ms:.0} ms on worker {}", self.worker)?;
                if self.waited >= Duration::from_millis(1) {
                    let waited_ms = self.waited.as_secs_f64() * 1e3;
                    write!(f, " ({waited_ms:.0} ms of it waiting for a CPU)")?;
                }
                write!(
                    f,
                    " without yielding (watchdog limit {limit_ms:.0} ms); every other task on \
                     that worker is waiting"
                )
            }
            DiagnosticKind::BlocksShutdown => {
                write!(f, " is still being polled on worker {}, which", self.worker)?;
                if self.left_behind {
                    write!(
                        f,
                        " did not stop within the shutdown timeout ({limit_ms:.0} ms); the \
                         runtime shut down without it, and the worker exits when the poll returns"
                    )
                } else {
                    write!(
                        f,
                        " has not stopped after {ms:.0} ms of shutdown (watchdog limit \
                         {limit_ms:.0} ms); dropping the runtime waits for it \
                         (Runtime::shutdown_timeout bounds the wait)"
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_says_how_long_the_worker_waited_for_a_cpu() {
        let d = Diagnostic {
            kind: DiagnosticKind::StillRunning,
            task: TaskRef {
                id: Some(Id::next()),
                name: Some("store".into()),
                location: Some(Location::caller()),
            },
            worker: 1,
            duration: Duration::from_millis(250),
            waited: Duration::from_millis(40),
            threshold: Duration::from_millis(100),
            left_behind: false,
        };
        let text = d.to_string();
        assert!(text.contains("\"store\" spawned at "), "{text}");
        assert!(
            text.contains("has been running 250 ms on worker 1 (40 ms of it waiting for a CPU)"),
            "{text}"
        );
        let quiet = Diagnostic {
            waited: Duration::ZERO,
            ..d
        };
        assert!(!quiet.to_string().contains("waiting for a CPU"));
    }
}
