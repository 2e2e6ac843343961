//! The failure policy: what happens to a task failure nobody observed.
//!
//! A task that panics delivers the panic through its `JoinHandle`. When nobody is there to
//! receive it (the handle was dropped, or is dropped later without being awaited), the failure
//! goes to the runtime's policy instead of vanishing: by default a report on stderr naming the
//! task, its spawn location and the panic message; or the callback given to
//! [`Builder::on_unhandled_failure`](super::Builder::on_unhandled_failure). Each failure is
//! reported exactly once: the report is made when the undelivered `JoinError` is dropped.
//!
//! The other failure reported here is a panic in the destructor of a task's output that nobody
//! took from its `JoinHandle` (the runtime drops that output; see `task/join.rs`, rules 1
//! and 2): reported once, when the destructor panicked.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crate::task::Id;

/// A task failure that nobody observed, as given to the failure policy.
#[derive(Debug)]
pub struct UnhandledFailure<'a> {
    pub(crate) id: Id,
    pub(crate) name: Option<&'a str>,
    pub(crate) location: &'static Location<'static>,
    pub(crate) message: Option<&'a str>,
    pub(crate) kind: FailureKind,
}

/// What failed (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The task panicked and nobody awaited its `JoinHandle`.
    Panic,
    /// The destructor of the task's output panicked when the runtime dropped the output, which
    /// nobody took from the `JoinHandle`.
    OutputDrop,
}

impl UnhandledFailure<'_> {
    /// The failed task's id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The failed task's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name
    }

    /// Where the failed task was spawned.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The panic message, when the payload was a string.
    pub fn message(&self) -> Option<&str> {
        self.message
    }

    /// Whether the panic came from the destructor of the task's output, which the runtime
    /// dropped because nobody took it from the task's `JoinHandle` (the task itself had
    /// finished), rather than from the task.
    pub fn is_output_drop(&self) -> bool {
        self.kind == FailureKind::OutputDrop
    }
}

impl fmt::Display for UnhandledFailure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, " spawned at {}", self.location)?;
        match self.kind {
            FailureKind::Panic => f.write_str(" panicked")?,
            FailureKind::OutputDrop => f.write_str(": the destructor of its output panicked")?,
        }
        if let Some(msg) = self.message {
            write!(f, " with message {msg:?}")?;
        }
        match self.kind {
            FailureKind::Panic => f.write_str(", and nobody awaited its JoinHandle"),
            FailureKind::OutputDrop => f.write_str(" (nobody took the output from its JoinHandle)"),
        }
    }
}

/// The callback type of [`Builder::on_unhandled_failure`](super::Builder::on_unhandled_failure).
pub(crate) type FailureHook = Arc<dyn Fn(&UnhandledFailure<'_>) + Send + Sync>;

/// Reports `failure` with `hook`, or on stderr by default.
pub(crate) fn report(hook: Option<&FailureHook>, failure: &UnhandledFailure<'_>) {
    #[cfg(feature = "tracing")]
    {
        let id = failure.id().as_u64();
        let location = failure.location().to_string();
        tracing::error!(
            target: "tether::failures",
            task_id = id,
            task_name = failure.name(),
            task_location = location.as_str(),
            "{failure}"
        );
    }
    match hook {
        Some(h) => h(failure),
        None => eprintln!("tether: {failure}"),
    }
}

/// What the runtime does with a task failure nobody observed; see
/// [`Builder::unhandled_failure`](super::Builder::unhandled_failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnhandledFailurePolicy {
    /// Report it (on stderr, or to [`Builder::on_unhandled_failure`](super::Builder::on_unhandled_failure)'s
    /// callback) and keep running. The default.
    #[default]
    Report,
    /// Drop it silently. Use only when failures are observed some other way.
    Ignore,
    /// Report it, then shut the runtime down: every task is signalled to stop and
    /// `Runtime::block_on` panics with the failure's description.
    ShutdownRuntime,
}
