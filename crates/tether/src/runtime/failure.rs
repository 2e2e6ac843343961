//! The failure policy: what happens to a failure nobody observed.
//!
//! A task that panics delivers the panic through its `JoinHandle`. When nobody is there to
//! receive it (the handle was dropped, or is dropped later without being awaited), the failure
//! goes to the runtime's policy instead of vanishing: by default a report naming the task, its
//! spawn location and the panic message, to the callback given to
//! [`Builder::on_unhandled_failure`](super::Builder::on_unhandled_failure), or else `tracing` or
//! stderr (the one reporting path, see [`crate::diag`]). Each failure is reported exactly once:
//! the report is made when the undelivered `JoinError` is dropped.
//!
//! The policy also receives the panics that escape the runtime's own code on one of its worker
//! threads, where no `JoinHandle` could receive them: a waker that panics when the reactor or a
//! timer wakes it, or a panicking thread hook. The worker catches such a panic, reports it once,
//! and goes on running tasks.
//!
//! And a panic in the destructor of a task's output that nobody took from its `JoinHandle` (the
//! runtime drops that output; see `task/join.rs`, rules 1 and 2): reported once, when the
//! destructor panicked.
//!
//! And the failures a scope recorded but could not deliver (see the rules in the
//! [`scope`](crate::scope) module docs): a panic after the first one (a scope resumes only its
//! first panic), the errors of a scope that ended with a panic, everything recorded in a scope
//! whose future was dropped before it completed, the error a child returned when its future
//! then panicked as it was dropped, and a panic in the destructor of a payload or an error the
//! scope dropped. Each is reported once, naming the child (or the scope's body) that failed and
//! where the scope was created
//! ([`is_undelivered_scope_failure`](crate::diag::UnhandledFailure::is_undelivered_scope_failure)).
//!
//! This file holds the policy; `report_unhandled` in `runtime/mod.rs` applies it. The report
//! itself ([`UnhandledFailure`](crate::diag::UnhandledFailure)) is in `diag/failure.rs`, its
//! delivery to the hook, `tracing` or stderr in `diag/report.rs`.

/// What the runtime does with a failure nobody observed (a task's panic that no `JoinHandle`
/// received, or a panic a worker thread caught in the runtime's own code); see
/// [`Builder::unhandled_failure`](super::Builder::unhandled_failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnhandledFailurePolicy {
    /// Report it (to [`Builder::on_unhandled_failure`](super::Builder::on_unhandled_failure)'s
    /// callback, or else as a `tracing` event or on stderr; see [`crate::diag`]) and keep
    /// running. The default.
    #[default]
    Report,
    /// Drop it silently. Use only when failures are observed some other way.
    Ignore,
    /// Report it, then shut the runtime down: every task is signalled to stop and
    /// `Runtime::block_on` panics with the failure's description.
    ShutdownRuntime,
}
