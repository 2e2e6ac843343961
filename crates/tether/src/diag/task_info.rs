//! `TaskInfo`, `TaskState`, `ScopeInfo` and `JoinSetInfo`: what a snapshot of the live tasks
//! says about each.
//!
//! The snapshot is taken by the task registry (`task/registry.rs`, `Registry::snapshot`), which
//! fills these in under its lock; [`Handle::live_tasks`](crate::runtime::Handle::live_tasks)
//! returns them and [`Dump`](super::Dump) draws them as a tree.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::task::Id;

/// What a live task is doing, as seen in a [`TaskInfo`].
///
/// A task leaves the registry as soon as its future completes (or is dropped), so a snapshot
/// lists only tasks that are not done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Waiting for something to wake it (I/O, a timer, a message).
    Idle,
    /// Woken, waiting in a run queue for a worker.
    Scheduled,
    /// Being polled right now, on this worker (0 for a current-thread runtime).
    Running {
        /// The worker's index.
        worker: usize,
    },
    /// Running blocking code on a thread of its own, not on a worker: a `spawn_blocking` job
    /// that started on the blocking pool ([`TaskInfo::is_blocking`]), or a task inside
    /// [`block_in_place`](crate::task::block_in_place) whose worker was handed to another
    /// thread meanwhile.
    Blocking,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskState::Idle => f.write_str("idle"),
            TaskState::Scheduled => f.write_str("scheduled"),
            TaskState::Running { worker } => write!(f, "running on worker {worker}"),
            TaskState::Blocking => f.write_str("running blocking code"),
        }
    }
}

/// The scope a task belongs to, as seen in a [`TaskInfo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeInfo {
    pub(crate) id: u64,
    pub(crate) location: &'static Location<'static>,
    pub(crate) owner: Option<Id>,
}

impl ScopeInfo {
    /// A number that identifies the scope among this process's scopes.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where the scope was created (the `scope` or `scope::Builder::run` call).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The task whose body runs the scope; `None` when it runs in a `block_on` future.
    pub fn owner(&self) -> Option<Id> {
        self.owner
    }
}

/// The [`JoinSet`](crate::task::JoinSet) a task was spawned into, as seen in a [`TaskInfo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinSetInfo {
    pub(crate) id: u64,
    pub(crate) location: &'static Location<'static>,
    pub(crate) owner: Option<Id>,
}

impl JoinSetInfo {
    /// A number that identifies the set among this process's join sets.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where the set was created (the `JoinSet::new` or `JoinSet::default` call).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The task that created the set; `None` when it was created outside a task (in a
    /// `block_on` future, or before any runtime ran).
    pub fn owner(&self) -> Option<Id> {
        self.owner
    }
}

/// A description of one live task, as returned by
/// [`Handle::live_tasks`](crate::runtime::Handle::live_tasks) and
/// [`Handle::dump`](crate::runtime::Handle::dump).
#[derive(Clone, Debug)]
pub struct TaskInfo {
    pub(crate) id: Id,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) location: &'static Location<'static>,
    pub(crate) age: Duration,
    pub(crate) root: bool,
    pub(crate) blocking: bool,
    pub(crate) state: TaskState,
    pub(crate) polls: u32,
    /// Times scheduled, modulo 2^16 (`TaskMeta::wakes`); the console unwraps it over its
    /// snapshots.
    #[cfg_attr(not(feature = "console"), allow(dead_code))]
    pub(crate) wakes: u16,
    pub(crate) busy: Duration,
    pub(crate) scope: Option<ScopeInfo>,
    pub(crate) join_set: Option<JoinSetInfo>,
}

impl TaskInfo {
    /// The task's id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The name given with [`task::Builder::name`](crate::task::Builder::name), if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The source location of the `spawn` call that created the task.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// How long ago the task was spawned (to the runtime's timer resolution, on its clock).
    pub fn age(&self) -> Duration {
        self.age
    }

    /// Whether the task is in the runtime's root scope (spawned with `tether::spawn`, or into a
    /// [`JoinSet`](crate::task::JoinSet)), rather than a scope's child or a blocking job.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Whether the task is a `spawn_blocking` job.
    pub fn is_blocking(&self) -> bool {
        self.blocking
    }

    /// What the task is doing at the time of the snapshot.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// How many times the task has been polled (wrapping at `u32::MAX`).
    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// Time the task has spent inside `poll` so far, as sampled by the runtime's watchdog
    /// thread (every 10 ms by default while the runtime is busy): exact to a sampling period for
    /// long polls, a statistical estimate for short ones, zero when diagnostics are off.
    pub fn busy_time(&self) -> Duration {
        self.busy
    }

    /// The scope the task was spawned into, `None` for root tasks and blocking jobs.
    pub fn scope(&self) -> Option<&ScopeInfo> {
        self.scope.as_ref()
    }

    /// The [`JoinSet`](crate::task::JoinSet) the task was spawned into, if any. A task detached
    /// from its set ([`JoinSet::detach_all`](crate::task::JoinSet::detach_all)) still names it.
    pub fn join_set(&self) -> Option<&JoinSetInfo> {
        self.join_set.as_ref()
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, " spawned at {} ({:?} ago)", self.location, self.age)
    }
}
