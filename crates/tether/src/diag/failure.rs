//! `UnhandledFailure`: the report about a failure nobody observed, and what it holds.
//!
//! Which failures are reported, and what the runtime does after reporting one, is the runtime's
//! failure policy ([`UnhandledFailurePolicy`](crate::runtime::UnhandledFailurePolicy), in
//! `runtime/failure.rs`); how a report reaches the user (the
//! [`Builder::on_unhandled_failure`](crate::runtime::Builder::on_unhandled_failure) hook, a
//! `tracing` event, or stderr) is the one reporting path in `diag/report.rs`.

use std::any::Any;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crate::task::Id;

/// A failure that nobody observed, as given to the failure policy: a task's panic that no
/// `JoinHandle` received, a panic that escaped the runtime's own code on one of its worker
/// threads (see [`thread`](UnhandledFailure::thread)), or a failure a scope recorded but could
/// not deliver (see
/// [`is_undelivered_scope_failure`](UnhandledFailure::is_undelivered_scope_failure)).
#[derive(Debug)]
pub struct UnhandledFailure<'a> {
    pub(crate) origin: Origin<'a>,
    pub(crate) message: Option<&'a str>,
    /// The error a scope dropped, for a scope's undelivered error.
    pub(crate) error: Option<&'a (dyn Any + Send)>,
}

/// Why a scope could not deliver a failure it recorded (see the `scope` module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScopeLoss {
    /// A panic after the scope's first one: the scope resumes only the first.
    LaterPanic,
    /// An error of a scope that ended with a panic (which it resumed instead of returning its
    /// errors).
    EndedWithPanic,
    /// Recorded in a scope whose future was dropped before it completed.
    ScopeDropped,
    /// An error a child returned, replaced by the panic of its future's destructor.
    Superseded,
    /// The destructor of a panic payload or an error the scope dropped panicked.
    DestructorPanic,
}

/// How a task failed (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The task panicked and nobody awaited its `JoinHandle`.
    Panic,
    /// The destructor of the task's output panicked when the runtime dropped the output, which
    /// nobody took from the `JoinHandle`.
    OutputDrop,
}

/// What failed.
#[derive(Debug)]
pub(crate) enum Origin<'a> {
    /// A task panicked and nobody awaited its `JoinHandle`, or the destructor of its output
    /// panicked (see `kind`).
    Task {
        id: Id,
        name: Option<&'a str>,
        location: &'static Location<'static>,
        kind: FailureKind,
    },
    /// A panic escaped the runtime's own code on the worker thread of this name (a waker called
    /// by the reactor or the timers, or a thread hook); the worker caught it and went on.
    Worker { thread: &'a str },
    /// A scope could not deliver the failure of one of its children (`task` is `Some`, spawned
    /// at `location`) or of its body (`task` is `None`; `location` is where the scope was
    /// entered), for the reason `loss`. `scope` is where the scope was created.
    Scope {
        task: Option<Id>,
        name: Option<&'a str>,
        location: &'static Location<'static>,
        scope: &'static Location<'static>,
        loss: ScopeLoss,
    },
}

impl<'a> UnhandledFailure<'a> {
    /// The failure of a task: it panicked with `message` and nobody awaited its `JoinHandle`.
    pub(crate) fn task(
        id: Id,
        name: Option<&'a str>,
        location: &'static Location<'static>,
        message: Option<&'a str>,
    ) -> Self {
        Self::of_task(FailureKind::Panic, id, name, location, message)
    }

    /// The failure of a task's output: its destructor panicked with `message` when the runtime
    /// dropped it, since nobody took it from the `JoinHandle`.
    pub(crate) fn output_drop(
        id: Id,
        name: Option<&'a str>,
        location: &'static Location<'static>,
        message: Option<&'a str>,
    ) -> Self {
        Self::of_task(FailureKind::OutputDrop, id, name, location, message)
    }

    fn of_task(
        kind: FailureKind,
        id: Id,
        name: Option<&'a str>,
        location: &'static Location<'static>,
        message: Option<&'a str>,
    ) -> Self {
        let origin = Origin::Task {
            id,
            name,
            location,
            kind,
        };
        UnhandledFailure {
            origin,
            message,
            error: None,
        }
    }

    /// A panic with `message` that escaped the runtime's code on worker thread `thread`.
    pub(crate) fn worker(thread: &'a str, message: Option<&'a str>) -> Self {
        UnhandledFailure {
            origin: Origin::Worker { thread },
            message,
            error: None,
        }
    }

    /// A failure the scope created at `scope` recorded but could not deliver, for the reason
    /// `loss`: of the child `task` (named `name`, spawned at `location`), or of the scope's body
    /// when `task` is `None` (`location` is then where the scope was entered). `message` is the
    /// panic message, or says what became of an error; `error` is that error.
    pub(crate) fn undelivered_scope_failure(
        task: Option<Id>,
        name: Option<&'a str>,
        location: &'static Location<'static>,
        scope: &'static Location<'static>,
        loss: ScopeLoss,
        message: Option<&'a str>,
        error: Option<&'a (dyn Any + Send)>,
    ) -> Self {
        UnhandledFailure {
            origin: Origin::Scope {
                task,
                name,
                location,
                scope,
                loss,
            },
            message,
            error,
        }
    }
}

impl UnhandledFailure<'_> {
    /// The failed task's id; `None` when the failure was not a task's (see
    /// [`thread`](UnhandledFailure::thread)), or was a scope's body's.
    pub fn id(&self) -> Option<Id> {
        match self.origin {
            Origin::Task { id, .. } => Some(id),
            Origin::Scope { task, .. } => task,
            Origin::Worker { .. } => None,
        }
    }

    /// The failed task's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        match self.origin {
            Origin::Task { name, .. } | Origin::Scope { name, .. } => name,
            Origin::Worker { .. } => None,
        }
    }

    /// Where the failed task was spawned (for a scope's body, where the scope was entered);
    /// `None` when the failure was not a task's.
    pub fn location(&self) -> Option<&'static Location<'static>> {
        match self.origin {
            Origin::Task { location, .. } | Origin::Scope { location, .. } => Some(location),
            Origin::Worker { .. } => None,
        }
    }

    /// For a panic that escaped the runtime's own code rather than a task (a waker that
    /// panicked when the reactor or a timer woke it, or a panicking thread hook): the name of
    /// the worker thread that caught it. That worker went on running tasks. `None` for a task's
    /// failure.
    pub fn thread(&self) -> Option<&str> {
        match self.origin {
            Origin::Task { .. } | Origin::Scope { .. } => None,
            Origin::Worker { thread } => Some(thread),
        }
    }

    /// The panic message, when the payload was a string. For an error a scope could not
    /// deliver, a sentence saying which error (by its type) and why it was dropped.
    pub fn message(&self) -> Option<&str> {
        self.message
    }

    /// Whether this is a failure a scope recorded but could not deliver (see the rules in the
    /// [`scope`](crate::scope) module docs): a panic after the scope's first one (a scope
    /// resumes only its first panic); an error of a scope that ended with a panic; a panic or
    /// an error recorded in a scope whose future was dropped before it completed; the error a
    /// child returned when its future then panicked as it was dropped; or a panic in the
    /// destructor of a panic payload or an error that the scope dropped. [`id`](Self::id),
    /// [`name`](Self::name) and [`location`](Self::location) name the child that failed (`id`
    /// is `None` for the scope's body), [`scope_location`](Self::scope_location) the scope, and
    /// [`error`](Self::error) gives the error, if the failure was one.
    pub fn is_undelivered_scope_failure(&self) -> bool {
        matches!(self.origin, Origin::Scope { .. })
    }

    /// For a failure a scope could not deliver, where that scope was created (`scope` or
    /// `scope::Builder::run`); `None` otherwise.
    pub fn scope_location(&self) -> Option<&'static Location<'static>> {
        match self.origin {
            Origin::Scope { scope, .. } => Some(scope),
            _ => None,
        }
    }

    /// For an error a scope could not deliver (a child's or the body's `Err`), the error, to
    /// downcast to the scope's error type; `None` for a panic and for every other failure.
    pub fn error(&self) -> Option<&(dyn Any + Send)> {
        self.error
    }

    /// Whether the panic came from the destructor of the task's output, which the runtime
    /// dropped because nobody took it from the task's `JoinHandle` (the task itself had
    /// finished), rather than from the task.
    pub fn is_output_drop(&self) -> bool {
        matches!(
            self.origin,
            Origin::Task {
                kind: FailureKind::OutputDrop,
                ..
            }
        )
    }
}

impl fmt::Display for UnhandledFailure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin {
            Origin::Task {
                id,
                name,
                location,
                kind,
            } => {
                write!(f, "task {id}")?;
                if let Some(name) = name {
                    write!(f, " {name:?}")?;
                }
                write!(f, " spawned at {location}")?;
                match kind {
                    FailureKind::Panic => f.write_str(" panicked")?,
                    FailureKind::OutputDrop => {
                        f.write_str(": the destructor of its output panicked")?
                    }
                }
                if let Some(msg) = self.message {
                    write!(f, " with message {msg:?}")?;
                }
                match kind {
                    FailureKind::Panic => f.write_str(", and nobody awaited its JoinHandle"),
                    FailureKind::OutputDrop => {
                        f.write_str(" (nobody took the output from its JoinHandle)")
                    }
                }
            }
            Origin::Scope {
                task,
                name,
                location,
                scope,
                loss,
            } => {
                match task {
                    Some(id) => {
                        write!(f, "task {id}")?;
                        if let Some(name) = name {
                            write!(f, " {name:?}")?;
                        }
                        write!(f, " spawned at {location} in the scope created at {scope}")?;
                    }
                    None => write!(f, "the body of the scope created at {scope}")?,
                }
                if self.error.is_some() {
                    // The message says which error, and why it was dropped.
                    return match self.message {
                        Some(msg) => write!(f, " failed: {msg}"),
                        None => f.write_str(" failed with an error the scope dropped"),
                    };
                }
                f.write_str(match loss {
                    ScopeLoss::DestructorPanic => {
                        ": the destructor of a panic payload or an error that the scope dropped \
                         panicked"
                    }
                    _ => " panicked",
                })?;
                if let Some(msg) = self.message {
                    write!(f, " with message {msg:?}")?;
                }
                f.write_str(match loss {
                    ScopeLoss::LaterPanic => {
                        ", after another panic in the same scope; the scope resumes only its \
                         first panic, so this one was not delivered"
                    }
                    ScopeLoss::ScopeDropped => {
                        ", and the scope's future was dropped before it completed, so the panic \
                         was not resumed"
                    }
                    ScopeLoss::EndedWithPanic | ScopeLoss::Superseded => {
                        ", and the scope could not deliver it"
                    }
                    ScopeLoss::DestructorPanic => "",
                })
            }
            Origin::Worker { thread } => {
                write!(f, "a panic escaped the runtime on worker thread {thread:?}")?;
                if let Some(msg) = self.message {
                    write!(f, " with message {msg:?}")?;
                }
                f.write_str(
                    " (a waker woken by the reactor or a timer, or a thread hook, panicked); \
                     the worker caught it and goes on running tasks",
                )
            }
        }
    }
}

/// The callback type of
/// [`Builder::on_unhandled_failure`](crate::runtime::Builder::on_unhandled_failure).
pub(crate) type FailureHook = Arc<dyn Fn(&UnhandledFailure<'_>) + Send + Sync>;
