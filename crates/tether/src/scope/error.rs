//! What a scope returns when it did not succeed.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crate::task::Id;

/// Who failed in a scope: a child task, or the scope's body.
#[derive(Clone, Debug)]
pub struct FailureSource {
    pub(crate) task: Option<Id>,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) location: &'static Location<'static>,
}

impl FailureSource {
    /// The failed child's task id; `None` when the scope's body failed.
    pub fn task(&self) -> Option<Id> {
        self.task
    }

    /// The name given with [`Scope::spawn_named`](super::Scope::spawn_named), if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the failed child was spawned (or where the scope was entered, for the body).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
}

impl fmt::Display for FailureSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.task, &self.name) {
            (None, _) => write!(f, "the scope's body (entered at {})", self.location),
            (Some(id), Some(name)) => {
                write!(f, "task {id} {name:?} spawned at {}", self.location)
            }
            (Some(id), None) => write!(f, "task {id} spawned at {}", self.location),
        }
    }
}

/// One error a scope collected: the error and who returned it.
#[derive(Debug)]
pub struct Failure<E> {
    pub(crate) error: E,
    pub(crate) source: FailureSource,
}

impl<E> Failure<E> {
    /// The error.
    pub fn error(&self) -> &E {
        &self.error
    }

    /// The error, by value.
    pub fn into_error(self) -> E {
        self.error
    }

    /// Who returned it.
    pub fn source(&self) -> &FailureSource {
        &self.source
    }
}

/// Why a scope did not give its body's value: the errors that happened (in the order they
/// happened), or it was cancelled (explicitly, by its deadline, or by an enclosing scope).
///
/// A panic in a child or the body is not collected here: it is resumed, with its original
/// payload, once every child has been cleaned up.
pub struct ScopeError<E> {
    pub(crate) failures: Vec<Failure<E>>,
    pub(crate) reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// At least one child or the body returned an error.
    Failed,
    /// The scope's deadline passed.
    Deadline,
    /// `Scope::cancel`, or an enclosing scope or the runtime was cancelled.
    Cancelled,
}

impl<E> ScopeError<E> {
    /// Every error, in the order they happened (empty when the scope was only cancelled).
    pub fn failures(&self) -> &[Failure<E>] {
        &self.failures
    }

    /// Every error, by value.
    pub fn into_failures(self) -> Vec<Failure<E>> {
        self.failures
    }

    /// The first error, if any: the one that cancelled the scope.
    pub fn first(&self) -> Option<&E> {
        self.failures.first().map(|f| &f.error)
    }

    /// Whether the scope ended because its deadline passed (and nothing failed).
    pub fn is_deadline(&self) -> bool {
        self.reason == Reason::Deadline
    }

    /// Whether the scope ended because it was cancelled (and nothing failed).
    pub fn is_cancelled(&self) -> bool {
        self.reason == Reason::Cancelled
    }
}

impl<E: fmt::Display> fmt::Display for ScopeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Reason::Deadline if self.failures.is_empty() => {
                return f.write_str("the scope's deadline passed");
            }
            Reason::Cancelled if self.failures.is_empty() => {
                return f.write_str("the scope was cancelled");
            }
            _ => {}
        }
        write!(f, "{} failure(s) in the scope:", self.failures.len())?;
        for (i, fail) in self.failures.iter().enumerate() {
            write!(f, "\n  [{i}] {}: {}", fail.source, fail.error)?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug> fmt::Debug for ScopeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeError")
            .field("reason", &self.reason)
            .field("failures", &self.failures)
            .finish()
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for ScopeError<E> {}
