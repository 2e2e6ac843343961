//! The console's stall timeline: the runtime's slow-poll and watchdog reports, as they are
//! made.
//!
//! The console gives the runtime's one reporting path (`diag/report.rs`) a tap that copies
//! each [`Diagnostic`] about a blocked worker into a bounded log here ([`CAPACITY`] entries,
//! oldest dropped first, each with a sequence number so a reader sees what is new). The tap
//! runs on the thread that made the report (a worker, the watchdog thread) and only takes this
//! log's lock to push: it never waits for the console or for a viewer.

use std::collections::VecDeque;
use std::panic::Location;
use std::sync::Mutex;
use std::time::Duration;

use super::probe::now_ns;
use crate::diag::{Diagnostic, DiagnosticKind};

/// How many stalls the log keeps.
pub(crate) const CAPACITY: usize = 256;

/// One report in the timeline.
#[derive(Clone)]
pub(crate) struct Stall {
    /// 1 for the first stall the console saw, then counting up.
    pub(crate) seq: u64,
    pub(crate) kind: DiagnosticKind,
    /// When the report was made (`probe::now_ns`).
    pub(crate) at_ns: u64,
    pub(crate) task_id: Option<u64>,
    pub(crate) task_name: Option<String>,
    pub(crate) location: Option<&'static Location<'static>>,
    pub(crate) worker: usize,
    pub(crate) duration: Duration,
    pub(crate) threshold: Duration,
    pub(crate) waited_for_cpu: Duration,
    pub(crate) spawned: u64,
}

/// The bounded log of stalls.
#[derive(Default)]
pub(crate) struct StallLog {
    inner: Mutex<LogInner>,
}

#[derive(Default)]
struct LogInner {
    entries: VecDeque<Stall>,
    total: u64,
}

impl StallLog {
    /// The tap: records `d` if it is about a blocked worker.
    pub(crate) fn record(&self, d: &Diagnostic) {
        use DiagnosticKind::*;
        if !matches!(
            d.kind(),
            SlowPoll | StillRunning | SlowPanicHook | BlocksShutdown
        ) {
            return;
        }
        let at_ns = now_ns();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.total += 1;
        let stall = Stall {
            seq: inner.total,
            kind: d.kind(),
            at_ns,
            task_id: d.task_id().map(|id| id.as_u64()),
            task_name: d.task_name().map(str::to_owned),
            location: d.location(),
            worker: d.worker(),
            duration: d.duration(),
            threshold: d.threshold(),
            waited_for_cpu: d.waited_for_cpu(),
            spawned: d.spawned_tasks(),
        };
        if inner.entries.len() == CAPACITY {
            inner.entries.pop_front();
        }
        inner.entries.push_back(stall);
    }

    /// The stalls kept (oldest first), and how many were ever recorded.
    pub(crate) fn read(&self) -> (Vec<Stall>, u64) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (inner.entries.iter().cloned().collect(), inner.total)
    }
}

/// The JSON name of a stall's kind.
pub(crate) fn kind_name(kind: DiagnosticKind) -> &'static str {
    match kind {
        DiagnosticKind::SlowPoll => "slow_poll",
        DiagnosticKind::StillRunning => "still_running",
        DiagnosticKind::BlocksShutdown => "blocks_shutdown",
        DiagnosticKind::SlowPanicHook => "slow_panic_hook",
        DiagnosticKind::TasksLeftAtShutdown => "tasks_left_at_shutdown",
        DiagnosticKind::ChildNotReaped => "child_not_reaped",
        DiagnosticKind::BlockingJobsLeftAtShutdown => "blocking_jobs_left_at_shutdown",
    }
}
