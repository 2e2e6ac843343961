//! `Diagnostic`: a report the runtime makes on its own about a task that blocked its worker, a
//! panic hook that holds one, the tasks a shutdown cancelled, or a child process it could not
//! reap; what it holds and how it prints.
//!
//! The reports are made by the runtime's poll monitoring (`runtime/diagnostics.rs`, with the
//! watchdog thread in `runtime/watchdog.rs`), its shutdown (`runtime/mod.rs`) and the process
//! reaper (`process/reaper.rs`); they reach the user through the one reporting path in
//! `diag/report.rs`.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use super::TaskInfo;
use crate::task::Id;

/// The hook behind [`Builder::on_diagnostic`](crate::runtime::Builder::on_diagnostic).
pub(crate) type DiagnosticHook = Arc<dyn Fn(&Diagnostic) + Send + Sync>;

/// Which task a [`Diagnostic`] is about.
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskRef {
    /// `None` for the future passed to `block_on`, which is not a task (and for reports about
    /// no single task).
    pub(crate) id: Option<Id>,
    pub(crate) name: Option<Arc<str>>,
    /// Where the task was spawned (for the `block_on` future: where `block_on` was called).
    pub(crate) location: Option<&'static Location<'static>>,
}

/// What a [`Diagnostic`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// A task panicked and the process's panic hook has been running past the watchdog limit
    /// (a hook that prints a backtrace, with `RUST_BACKTRACE` set, can take that long): the
    /// worker is blocked, but not by the task's code. Its time does not count as the task's
    /// poll (see [`Diagnostic::panicked`]).
    SlowPanicHook,
    /// The runtime shut down with tasks of its root scope still running; they were cancelled.
    /// [`Diagnostic::tasks`] lists them (name, spawn location, age). Not reported when the
    /// failure policy is [`Ignore`](crate::runtime::UnhandledFailurePolicy::Ignore).
    TasksLeftAtShutdown,
    /// The runtime's shutdown stopped waiting (its timeout, `Runtime::shutdown_timeout` or
    /// `shutdown_background`, ran out) while blocking jobs (`spawn_blocking` closures) still
    /// ran: a closure cannot be cancelled, so they go on, each on its thread, with nobody
    /// waiting for them. [`Diagnostic::tasks`] lists them (name, spawn location, age). Not
    /// reported when the failure policy is [`Ignore`](crate::runtime::UnhandledFailurePolicy::Ignore).
    BlockingJobsLeftAtShutdown,
    /// A [`process::Child`](crate::process::Child) was dropped while its process ran, and the
    /// thread that reaps such processes could not be started: the process will remain a zombie
    /// after it exits.
    ChildNotReaped,
}

/// How a poll that ended in a panic was timed (see [`Diagnostic::panicked`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PanicTiming {
    /// The runtime saw the panic hook run (for this long) and did not count it.
    HookExcluded(Duration),
    /// The panic hook ran without the runtime seeing it (a hook set after the first runtime
    /// was built replaces the runtime's wrapper): the poll's time includes it.
    HookIncluded,
}

/// A report the runtime makes on its own, passed to
/// [`Builder::on_diagnostic`](crate::runtime::Builder::on_diagnostic) (or, without that hook,
/// printed to stderr or given to `tracing`: see the [`diag`](crate::diag) module docs).
///
/// Most reports are about a task that blocked its worker ([`kind`](Diagnostic::kind) says
/// which); their `Display` is one line that names the task, where it was spawned, the worker
/// and the duration, for example:
///
/// ```text
/// tether: task 12 "store" spawned at src/main.rs:12 has been running 250 ms on worker 1 without yielding (watchdog limit 100 ms); every other task on that worker is waiting
/// ```
///
/// Durations are measured by the runtime's watchdog thread, which looks at the workers once per
/// the smaller of the slow-poll threshold and the watchdog limit; a reported duration is a
/// lower bound.
///
/// The report of the tasks a shutdown cancelled
/// ([`TasksLeftAtShutdown`](DiagnosticKind::TasksLeftAtShutdown)) prints one line, then one
/// indented line per task (at most ten, then how many more).
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
    /// `SlowPoll`, `StillRunning`: tasks the poll spawned (so far).
    pub(crate) spawned: u64,
    /// `SlowPoll`: the poll ended in a panic, and how its time was counted.
    pub(crate) panic: Option<PanicTiming>,
    /// `TasksLeftAtShutdown`, `BlockingJobsLeftAtShutdown`: the tasks.
    pub(crate) tasks: Vec<TaskInfo>,
    /// `ChildNotReaped`: the sentence that says what happened.
    pub(crate) detail: Option<Arc<str>>,
}

impl Diagnostic {
    /// A report of `kind` about `task`, with every other field empty.
    pub(crate) fn new(kind: DiagnosticKind, task: TaskRef) -> Diagnostic {
        Diagnostic {
            kind,
            task,
            worker: 0,
            duration: Duration::ZERO,
            waited: Duration::ZERO,
            threshold: Duration::ZERO,
            left_behind: false,
            spawned: 0,
            panic: None,
            tasks: Vec::new(),
            detail: None,
        }
    }

    /// What happened.
    pub fn kind(&self) -> DiagnosticKind {
        self.kind
    }

    /// The task's id; `None` for the future passed to `block_on`, which is not a task, and for
    /// the reports about no single task
    /// ([`TasksLeftAtShutdown`](DiagnosticKind::TasksLeftAtShutdown),
    /// [`BlockingJobsLeftAtShutdown`](DiagnosticKind::BlockingJobsLeftAtShutdown),
    /// [`ChildNotReaped`](DiagnosticKind::ChildNotReaped)).
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

    /// The worker the poll runs on (0 for a current-thread runtime, and for the reports about
    /// no single task).
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// How long the poll took ([`SlowPoll`](DiagnosticKind::SlowPoll)) or has been running so
    /// far ([`StillRunning`](DiagnosticKind::StillRunning)); how long the panic hook has been
    /// running ([`SlowPanicHook`](DiagnosticKind::SlowPanicHook)); for
    /// [`BlocksShutdown`](DiagnosticKind::BlocksShutdown), how long the shutdown had waited for
    /// the worker. Zero for the other kinds.
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
    /// watchdog limit when dropping the runtime). Zero for the reports about no single task.
    pub fn threshold(&self) -> Duration {
        self.threshold
    }

    /// For [`SlowPoll`](DiagnosticKind::SlowPoll) and
    /// [`StillRunning`](DiagnosticKind::StillRunning): how many tasks the poll spawned (so
    /// far). Spawning is not free (each spawn allocates and registers a task): a poll that
    /// spawns a million tasks takes a few hundred milliseconds, and is reported as slow for
    /// that. Zero for the other kinds.
    pub fn spawned_tasks(&self) -> u64 {
        self.spawned
    }

    /// For [`SlowPoll`](DiagnosticKind::SlowPoll): whether the poll ended in a panic.
    ///
    /// The time the panic hook runs is not the task's: the runtime wraps the process's panic
    /// hook when the first runtime is built, sees the hook start and end, and does not count
    /// that time toward the slow-poll threshold or the watchdog limit (a hook that runs past
    /// the limit is reported as [`SlowPanicHook`](DiagnosticKind::SlowPanicHook)). A hook set
    /// with `std::panic::set_hook` after that replaces the wrapper; the runtime then cannot
    /// tell the hook's time from the task's, and the report of a slow poll that ended in a
    /// panic says that its time includes the hook's.
    pub fn panicked(&self) -> bool {
        self.panic.is_some()
    }

    /// For [`TasksLeftAtShutdown`](DiagnosticKind::TasksLeftAtShutdown): the tasks the
    /// shutdown cancelled (the root scope's tasks that were still running); for
    /// [`BlockingJobsLeftAtShutdown`](DiagnosticKind::BlockingJobsLeftAtShutdown): the blocking
    /// jobs still running when it stopped waiting. Empty otherwise.
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }

    /// Writes the first ten of `tasks`, a line each, and how many more there are.
    fn write_tasks(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in self.tasks.iter().take(10) {
            write!(f, "\n  {t}")?;
        }
        if self.tasks.len() > 10 {
            write!(f, "\n  ... and {} more", self.tasks.len() - 10)?;
        }
        Ok(())
    }

    /// Writes "task N "name" spawned at L" (or what stands for it).
    fn write_task(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.task.id {
            Some(id) => {
                write!(f, "task {id}")?;
                if let Some(name) = &self.task.name {
                    write!(f, " {name:?}")?;
                }
                if let Some(loc) = self.task.location {
                    write!(f, " spawned at {loc}")?;
                }
                Ok(())
            }
            None => {
                f.write_str("the future passed to block_on")?;
                if let Some(loc) = self.task.location {
                    write!(f, " at {loc}")?;
                }
                Ok(())
            }
        }
    }
}

/// Spawns in one poll from which the report of a slow poll advises spawning in batches.
const MANY_SPAWNS: u64 = 1000;

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tether: ")?;
        let (ms, limit_ms, worker) = (millis(self.duration), millis(self.threshold), self.worker);
        match self.kind {
            DiagnosticKind::SlowPoll => {
                self.write_task(f)?;
                match self.panic {
                    None => write!(f, " took {ms:.1} ms in one poll on worker {worker}")?,
                    Some(PanicTiming::HookExcluded(_)) => write!(
                        f,
                        " took {ms:.1} ms in one poll on worker {worker} before it panicked"
                    )?,
                    Some(PanicTiming::HookIncluded) => write!(
                        f,
                        " took {ms:.1} ms in a poll that ended in a panic, on worker {worker}"
                    )?,
                }
                write!(f, " (slow-poll threshold {limit_ms:.0} ms")?;
                if let Some(PanicTiming::HookExcluded(hook)) = self.panic {
                    write!(f, "; the panic hook's {:.1} ms not counted", millis(hook))?;
                }
                f.write_str(")")?;
                if self.spawned > 0 {
                    write!(f, "; it spawned {} tasks in that poll", self.spawned)?;
                }
                if self.panic == Some(PanicTiming::HookIncluded) {
                    f.write_str(
                        "; that time includes the panic hook's (printing a backtrace with \
                         RUST_BACKTRACE set takes long), which the runtime cannot tell apart \
                         from the task's when the hook was set after the first runtime was built",
                    )
                } else if self.spawned >= MANY_SPAWNS {
                    f.write_str(
                        "; spawn in batches with task::yield_now between them, or from a \
                         bounded scope, so other tasks run meanwhile",
                    )
                } else {
                    f.write_str(
                        "; move blocking work to spawn_blocking or yield with task::yield_now",
                    )
                }
            }
            DiagnosticKind::StillRunning => {
                self.write_task(f)?;
                write!(f, " has been running {ms:.0} ms on worker {worker}")?;
                if self.waited >= Duration::from_millis(1) {
                    write!(
                        f,
                        " ({:.0} ms of it waiting for a CPU)",
                        millis(self.waited)
                    )?;
                }
                write!(f, " without yielding (watchdog limit {limit_ms:.0} ms)")?;
                if self.spawned > 0 {
                    write!(f, "; it has spawned {} tasks in this poll", self.spawned)?;
                }
                f.write_str("; every other task on that worker is waiting")
            }
            DiagnosticKind::BlocksShutdown => {
                self.write_task(f)?;
                write!(f, " is still being polled on worker {worker}, which")?;
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
            DiagnosticKind::SlowPanicHook => {
                self.write_task(f)?;
                write!(
                    f,
                    " panicked on worker {worker}, and the panic hook has been running {ms:.0} \
                     ms (watchdog limit {limit_ms:.0} ms); printing a backtrace with \
                     RUST_BACKTRACE set can take that long. The time is the hook's, not the \
                     task's; every other task on that worker is waiting"
                )
            }
            DiagnosticKind::TasksLeftAtShutdown => {
                write!(
                    f,
                    "the runtime shut down with {} task(s) still running; they were cancelled:",
                    self.tasks.len()
                )?;
                self.write_tasks(f)
            }
            DiagnosticKind::BlockingJobsLeftAtShutdown => {
                write!(
                    f,
                    "the runtime's shutdown timed out with {} blocking job(s) still running; a \
                     blocking closure cannot be cancelled, so they go on without the runtime \
                     (make long blocking work check a flag or a channel to stop early):",
                    self.tasks.len()
                )?;
                self.write_tasks(f)
            }
            DiagnosticKind::ChildNotReaped => f.write_str(
                self.detail
                    .as_deref()
                    .unwrap_or("a child process was not reaped"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(kind: DiagnosticKind) -> Diagnostic {
        let task = TaskRef {
            id: Some(Id::next()),
            name: Some("store".into()),
            location: Some(Location::caller()),
        };
        Diagnostic {
            worker: 1,
            duration: Duration::from_millis(250),
            threshold: Duration::from_millis(100),
            ..Diagnostic::new(kind, task)
        }
    }

    #[test]
    fn a_report_says_how_long_the_worker_waited_for_a_cpu() {
        let d = Diagnostic {
            waited: Duration::from_millis(40),
            ..store(DiagnosticKind::StillRunning)
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

    /// A poll that spawned many tasks is slow for that, and the report says so instead of
    /// sending the reader to `spawn_blocking`.
    #[test]
    fn a_slow_poll_that_spawned_many_tasks_says_so() {
        let d = Diagnostic {
            spawned: 1_000_000,
            ..store(DiagnosticKind::SlowPoll)
        };
        let text = d.to_string();
        assert!(
            text.contains("it spawned 1000000 tasks in that poll"),
            "{text}"
        );
        assert!(text.contains("spawn in batches"), "{text}");
        assert!(!text.contains("spawn_blocking"), "{text}");
        let stuck = Diagnostic {
            spawned: 5,
            ..store(DiagnosticKind::StillRunning)
        };
        assert!(stuck
            .to_string()
            .contains("it has spawned 5 tasks in this poll"));
    }

    /// A poll that ended in a panic is never blamed with the `spawn_blocking` advice for the
    /// panic hook's time.
    #[test]
    fn a_slow_poll_that_panicked_says_what_the_time_was() {
        let excluded = Diagnostic {
            panic: Some(PanicTiming::HookExcluded(Duration::from_millis(700))),
            ..store(DiagnosticKind::SlowPoll)
        };
        let text = excluded.to_string();
        assert!(text.contains("before it panicked"), "{text}");
        assert!(
            text.contains("the panic hook's 700.0 ms not counted"),
            "{text}"
        );
        let included = Diagnostic {
            panic: Some(PanicTiming::HookIncluded),
            ..store(DiagnosticKind::SlowPoll)
        };
        let text = included.to_string();
        assert!(text.contains("a poll that ended in a panic"), "{text}");
        assert!(text.contains("includes the panic hook's"), "{text}");
        assert!(!text.contains("spawn_blocking"), "{text}");
        let hook = store(DiagnosticKind::SlowPanicHook).to_string();
        assert!(
            hook.contains("the panic hook has been running 250 ms"),
            "{hook}"
        );
        assert!(!hook.contains("spawn_blocking"), "{hook}");
    }
}
