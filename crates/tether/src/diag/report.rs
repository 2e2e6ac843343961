//! The one reporting path: how everything the runtime says on its own reaches the user.
//!
//! The runtime's reports are [`Diagnostic`]s (slow polls, stuck workers, slow panic hooks,
//! shutdown reports, children not reaped) and [`UnhandledFailure`]s (failures nobody observed,
//! when the failure policy reports them). Each runtime owns one [`Reporter`]; the module docs of
//! [`diag`](crate::diag) say the same rules for users.
//!
//! # Rules
//!
//! 1. **One path.** Every report of a runtime goes through its `Reporter` (a report made outside
//!    any runtime, through [`report_unattached`]). Nothing else in the crate writes to stderr.
//! 2. **The hook sees everything.** The hook of the report's type (`on_diagnostic` for a
//!    `Diagnostic`, `on_unhandled_failure` for an `UnhandledFailure`) receives every report, on
//!    the thread that made it, without rate limiting: it is code (a counter, an alert, a test)
//!    and keeps the failure policy's promise that each failure is reported exactly once. A
//!    panic in `on_diagnostic` is caught; the report then goes on as if there were no hook.
//! 3. **`tracing` (feature `tracing`)** receives the report as an event when a subscriber
//!    listens to its target and level (`tether::diagnostics` at WARN, `tether::failures` at
//!    ERROR), whether or not a hook is set.
//! 4. **stderr** receives it when neither the hook nor `tracing` did, unless the runtime is
//!    quiet (`Builder::quiet`).
//! 5. **Rate limiting.** `tracing` and stderr, the outputs people read, get at most
//!    [`PER_WINDOW`] reports of one topic (a `DiagnosticKind`, or unhandled failures) per
//!    [`WINDOW`] of the runtime's clock (so a paused clock pauses the window too). The others are
//!    counted, and the count follows as one line, "tether: N similar reports suppressed (...)":
//!    with the next report of that topic once the window has passed, at the watchdog's next tick
//!    after it has passed, or when the runtime shuts down or its shared state is dropped,
//!    whichever comes first. The limiter's lock is held only to count, never while writing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Diagnostic, DiagnosticHook, DiagnosticKind, FailureHook, UnhandledFailure};
use crate::loom::lock;
use crate::loom::sync::Mutex;

/// How many reports of one topic `tracing` and stderr get per [`WINDOW`] (rule 5).
pub(crate) const PER_WINDOW: u32 = 10;
/// The rate limiter's window (rule 5).
pub(crate) const WINDOW: Duration = Duration::from_secs(1);

/// What a report is about, for rate limiting (rule 5) and for where `tracing` files it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Topic {
    Diagnostic(DiagnosticKind),
    Failure,
}

/// The number of topics: one per `DiagnosticKind`, and unhandled failures.
const TOPICS: usize = 8;

impl Topic {
    fn index(self) -> usize {
        match self {
            Topic::Diagnostic(kind) => match kind {
                DiagnosticKind::SlowPoll => 0,
                DiagnosticKind::StillRunning => 1,
                DiagnosticKind::BlocksShutdown => 2,
                DiagnosticKind::SlowPanicHook => 3,
                DiagnosticKind::TasksLeftAtShutdown => 4,
                DiagnosticKind::ChildNotReaped => 5,
                DiagnosticKind::BlockingJobsLeftAtShutdown => 6,
            },
            Topic::Failure => 7,
        }
    }

    fn from_index(i: usize) -> Topic {
        const ALL: [Topic; TOPICS] = [
            Topic::Diagnostic(DiagnosticKind::SlowPoll),
            Topic::Diagnostic(DiagnosticKind::StillRunning),
            Topic::Diagnostic(DiagnosticKind::BlocksShutdown),
            Topic::Diagnostic(DiagnosticKind::SlowPanicHook),
            Topic::Diagnostic(DiagnosticKind::TasksLeftAtShutdown),
            Topic::Diagnostic(DiagnosticKind::ChildNotReaped),
            Topic::Diagnostic(DiagnosticKind::BlockingJobsLeftAtShutdown),
            Topic::Failure,
        ];
        ALL[i]
    }

    /// What the reports of this topic are, in the line that counts the suppressed ones.
    fn label(self) -> &'static str {
        match self {
            Topic::Diagnostic(DiagnosticKind::SlowPoll) => "slow polls",
            Topic::Diagnostic(DiagnosticKind::StillRunning) => "workers still blocked",
            Topic::Diagnostic(DiagnosticKind::BlocksShutdown) => "workers blocking shutdown",
            Topic::Diagnostic(DiagnosticKind::SlowPanicHook) => "slow panic hooks",
            Topic::Diagnostic(DiagnosticKind::TasksLeftAtShutdown) => "tasks left at shutdown",
            Topic::Diagnostic(DiagnosticKind::ChildNotReaped) => "children not reaped",
            Topic::Diagnostic(DiagnosticKind::BlockingJobsLeftAtShutdown) => {
                "blocking jobs left at shutdown"
            }
            Topic::Failure => "unhandled failures",
        }
    }

    /// The builder method whose hook receives every report of this topic.
    fn hook_name(self) -> &'static str {
        match self {
            Topic::Diagnostic(_) => "Builder::on_diagnostic",
            Topic::Failure => "Builder::on_unhandled_failure",
        }
    }
}

/// One topic's current window (rule 5).
#[derive(Clone, Copy, Default)]
struct Window {
    /// When the window began (`None`: no report yet).
    start: Option<Instant>,
    /// Reports let through in this window.
    printed: u32,
    /// Reports held back since the count was last printed.
    suppressed: u64,
}

/// Rule 5's counting, per topic.
pub(crate) struct RateLimiter {
    windows: Mutex<[Window; TOPICS]>,
    /// Set while some topic has a count of suppressed reports not yet printed; read without the
    /// lock as a hint (the watchdog's tick looks at it before locking).
    pending: AtomicBool,
}

/// Whether a report may go to `tracing` and stderr, and the count of suppressed reports of its
/// topic to print before it.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Admission {
    /// Reports of the topic suppressed in a window that has passed: print their count first.
    pub(crate) summary: Option<u64>,
    /// Whether this report is let through.
    pub(crate) admit: bool,
}

impl RateLimiter {
    pub(crate) fn new() -> RateLimiter {
        RateLimiter {
            windows: Mutex::new([Window::default(); TOPICS]),
            pending: AtomicBool::new(false),
        }
    }

    /// Counts one report of `topic` made at `now` (rule 5).
    pub(crate) fn admit(&self, topic: Topic, now: Instant) -> Admission {
        let mut windows = lock(&self.windows);
        let w = &mut windows[topic.index()];
        let mut summary = None;
        let current = w
            .start
            .is_some_and(|start| now.saturating_duration_since(start) < WINDOW);
        if !current {
            if w.suppressed > 0 {
                summary = Some(w.suppressed);
            }
            *w = Window {
                start: Some(now),
                printed: 0,
                suppressed: 0,
            };
        }
        let admit = w.printed < PER_WINDOW;
        if admit {
            w.printed += 1;
        } else {
            w.suppressed += 1;
            self.pending.store(true, Ordering::Relaxed);
        }
        Admission { summary, admit }
    }

    /// Takes the counts of suppressed reports whose window has passed at `now` (every count,
    /// when `now` is `None`).
    pub(crate) fn take_summaries(&self, now: Option<Instant>) -> Vec<(Topic, u64)> {
        if !self.pending.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let mut windows = lock(&self.windows);
        let mut out = Vec::new();
        for (i, w) in windows.iter_mut().enumerate() {
            let passed = match (now, w.start) {
                (Some(now), Some(start)) => now.saturating_duration_since(start) >= WINDOW,
                _ => true,
            };
            if w.suppressed > 0 && passed {
                out.push((Topic::from_index(i), w.suppressed));
                w.suppressed = 0;
            }
        }
        let left = windows.iter().any(|w| w.suppressed > 0);
        self.pending.store(left, Ordering::Relaxed);
        out
    }

    /// When the first window holding suppressed reports passes, if any does.
    pub(crate) fn next_summary(&self) -> Option<Instant> {
        if !self.pending.load(Ordering::Relaxed) {
            return None;
        }
        lock(&self.windows)
            .iter()
            .filter(|w| w.suppressed > 0)
            .filter_map(|w| w.start)
            .min()
            .map(|start| start + WINDOW)
    }
}

/// Where a report goes besides its hook (rules 3 and 4).
#[derive(Clone, Copy)]
struct Outputs {
    tracing: bool,
    stderr: bool,
}

/// The live console's copy of each diagnostic (`Reporter::set_console_tap`).
#[cfg(feature = "console")]
pub(crate) type ConsoleTap = Box<dyn Fn(&Diagnostic) + Send + Sync>;

/// A runtime's end of the one reporting path (see the module docs).
pub(crate) struct Reporter {
    on_diagnostic: Option<DiagnosticHook>,
    on_failure: Option<FailureHook>,
    /// `Builder::quiet`: nothing on stderr (rule 4).
    quiet: bool,
    limiter: RateLimiter,
    /// The live console's copy of every diagnostic (its stall timeline), set once when the
    /// console starts; called before the hook, never blocks (`console/stalls.rs`).
    #[cfg(feature = "console")]
    console_tap: std::sync::OnceLock<ConsoleTap>,
}

impl Reporter {
    pub(crate) fn new(
        on_diagnostic: Option<DiagnosticHook>,
        on_failure: Option<FailureHook>,
        quiet: bool,
    ) -> Reporter {
        Reporter {
            on_diagnostic,
            on_failure,
            quiet,
            limiter: RateLimiter::new(),
            #[cfg(feature = "console")]
            console_tap: std::sync::OnceLock::new(),
        }
    }

    /// Gives every diagnostic from now on to `tap` too (the live console's stall timeline).
    #[cfg(feature = "console")]
    pub(crate) fn set_console_tap(&self, tap: ConsoleTap) {
        let _ = self.console_tap.set(tap);
    }

    /// Says `text` on stderr unless the runtime is quiet; for the live console's address at
    /// start, which is information the user asked for, not a report (no hook, no rate limit).
    #[cfg(feature = "console")]
    pub(crate) fn notice(&self, text: &str) {
        if !self.quiet {
            write_stderr(text);
        }
    }

    /// Delivers a diagnostic made at `now` (on the runtime's clock): rules 2 to 5.
    pub(crate) fn diagnostic(&self, d: &Diagnostic, now: Instant) {
        let topic = Topic::Diagnostic(d.kind);
        #[cfg(feature = "console")]
        if let Some(tap) = self.console_tap.get() {
            tap(d);
        }
        let mut hook_panicked = false;
        let hooked = match &self.on_diagnostic {
            Some(hook) => {
                // Rule 2: a panicking hook must not take a worker (or the watchdog) down.
                let call = std::panic::AssertUnwindSafe(|| hook(d));
                hook_panicked = std::panic::catch_unwind(call).is_err();
                !hook_panicked
            }
            None => false,
        };
        let outputs = self.outputs(topic, hooked);
        self.to_people(topic, outputs, now, &|| trace_diagnostic(d), &|| {
            if hook_panicked {
                let text = d.to_string();
                let text = text.strip_prefix("tether: ").unwrap_or(&text);
                format!("tether: the on_diagnostic hook panicked while reporting: {text}")
            } else {
                d.to_string()
            }
        });
    }

    /// Delivers an unhandled failure reported at `now`: rules 2 to 5. A panic in the
    /// `on_unhandled_failure` hook propagates to the caller.
    pub(crate) fn failure(&self, f: &UnhandledFailure<'_>, now: Instant) {
        let topic = Topic::Failure;
        let outputs = self.outputs(topic, self.on_failure.is_some());
        self.to_people(topic, outputs, now, &|| trace_failure(f), &|| {
            format!("tether: {f}")
        });
        if let Some(hook) = &self.on_failure {
            hook(f);
        }
    }

    /// Prints the counts of suppressed reports whose window has passed at `now`, or every count
    /// when `now` is `None` (rule 5).
    pub(crate) fn flush(&self, now: Option<Instant>) {
        for (topic, n) in self.limiter.take_summaries(now) {
            let hooked = match topic {
                Topic::Diagnostic(_) => self.on_diagnostic.is_some(),
                Topic::Failure => self.on_failure.is_some(),
            };
            self.summarize(topic, self.outputs(topic, hooked), n);
        }
    }

    /// When [`flush`](Reporter::flush) next has a count to print, if ever.
    pub(crate) fn next_flush(&self) -> Option<Instant> {
        self.limiter.next_summary()
    }

    /// Rules 3 and 4.
    fn outputs(&self, topic: Topic, hooked: bool) -> Outputs {
        let tracing = tracing_listens(topic);
        Outputs {
            tracing,
            stderr: !hooked && !tracing && !self.quiet,
        }
    }

    /// Rule 5, then the outputs.
    fn to_people(
        &self,
        topic: Topic,
        outputs: Outputs,
        now: Instant,
        trace: &dyn Fn(),
        text: &dyn Fn() -> String,
    ) {
        if !outputs.tracing && !outputs.stderr {
            return;
        }
        let admission = self.limiter.admit(topic, now);
        if let Some(n) = admission.summary {
            self.summarize(topic, outputs, n);
        }
        if admission.admit {
            if outputs.tracing {
                trace();
            }
            if outputs.stderr {
                write_stderr(&text());
            }
        }
    }

    /// Prints that `n` reports of `topic` were suppressed.
    fn summarize(&self, topic: Topic, outputs: Outputs, n: u64) {
        if outputs.tracing {
            trace_summary(topic, n);
        }
        if outputs.stderr {
            write_stderr(&summary_text(topic, n));
        }
    }
}

impl Drop for Reporter {
    /// Rule 5: no count of suppressed reports is lost with the runtime.
    fn drop(&mut self) {
        self.flush(None);
    }
}

/// The line that counts `n` suppressed reports of `topic`.
fn summary_text(topic: Topic, n: u64) -> String {
    format!(
        "tether: {n} similar reports suppressed ({}; at most {PER_WINDOW} a second are printed, \
         and {} receives every one)",
        topic.label(),
        topic.hook_name()
    )
}

/// Delivers a report made outside any runtime (rule 1): to `tracing` when a subscriber
/// listens, otherwise to stderr. There is no hook, `quiet` or rate limit to apply. (Its one
/// caller, the reaper of child processes, exists on Unix only.)
#[cfg(unix)]
pub(crate) fn report_unattached(d: &Diagnostic) {
    if tracing_listens(Topic::Diagnostic(d.kind)) {
        trace_diagnostic(d);
    } else {
        write_stderr(&d.to_string());
    }
}

/// A line about a failure made outside any runtime that is neither a task's nor a
/// [`Diagnostic`]: a thread hook that panicked on a `block_in_place` helper thread, which holds
/// no runtime between jobs. It goes to stderr, through the one writer (rule 1).
pub(crate) fn report_unattached_text(text: &str) {
    write_stderr(text);
}

/// The one place the runtime writes to stderr (rule 1). `eprintln!` (which a test harness
/// captures, unlike a write to `io::stderr()`) panics when stderr is closed; a report is not
/// worth a worker or the watchdog thread, so that panic stops here.
#[allow(clippy::print_stderr)]
fn write_stderr(text: &str) {
    let _ = std::panic::catch_unwind(|| eprintln!("{text}"));
}

/// Rule 3: whether a `tracing` subscriber listens to reports of `topic`.
fn tracing_listens(topic: Topic) -> bool {
    #[cfg(feature = "tracing")]
    {
        match topic {
            Topic::Diagnostic(_) => {
                tracing::enabled!(target: "tether::diagnostics", tracing::Level::WARN)
            }
            Topic::Failure => tracing::enabled!(target: "tether::failures", tracing::Level::ERROR),
        }
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = topic;
        false
    }
}

/// A diagnostic as a `tracing` event: a warning with target `tether::diagnostics`.
fn trace_diagnostic(d: &Diagnostic) {
    #[cfg(feature = "tracing")]
    {
        let id = d.task.id.map(|i| i.as_u64());
        let name = d.task.name.as_deref();
        let location = d.task.location.map(ToString::to_string);
        let duration_ms = d.duration.as_millis() as u64;
        tracing::warn!(
            target: "tether::diagnostics",
            kind = ?d.kind,
            task_id = id,
            task_name = name,
            task_location = location.as_deref(),
            worker = d.worker,
            duration_ms = duration_ms,
            spawned_tasks = d.spawned,
            panicked = d.panic.is_some(),
            tasks = d.tasks.len(),
            "{d}"
        );
    }
    #[cfg(not(feature = "tracing"))]
    let _ = d;
}

/// An unhandled failure as a `tracing` event: an error with target `tether::failures`.
fn trace_failure(f: &UnhandledFailure<'_>) {
    #[cfg(feature = "tracing")]
    {
        let id = f.id().map(|id| id.as_u64());
        let location = f.location().map(|l| l.to_string());
        tracing::error!(
            target: "tether::failures",
            task_id = id,
            task_name = f.name(),
            task_location = location.as_deref(),
            thread = f.thread(),
            "tether: {f}"
        );
    }
    #[cfg(not(feature = "tracing"))]
    let _ = f;
}

/// The count of `n` suppressed reports of `topic` as a `tracing` event, with the topic's target
/// and level.
fn trace_summary(topic: Topic, n: u64) {
    #[cfg(feature = "tracing")]
    {
        let text = summary_text(topic, n);
        match topic {
            Topic::Diagnostic(kind) => tracing::warn!(
                target: "tether::diagnostics",
                kind = ?kind,
                suppressed = n,
                "{text}"
            ),
            Topic::Failure => tracing::error!(target: "tether::failures", suppressed = n, "{text}"),
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (topic, n);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOW: Topic = Topic::Diagnostic(DiagnosticKind::SlowPoll);

    fn admitted(limiter: &RateLimiter, topic: Topic, now: Instant, n: usize) -> usize {
        (0..n)
            .filter(|_| {
                let a = limiter.admit(topic, now);
                assert_eq!(a.summary, None);
                a.admit
            })
            .count()
    }

    /// Rule 5: a burst is cut to `PER_WINDOW`; the count of the rest follows with the first
    /// report after the window, which opens a new window.
    #[test]
    fn a_burst_is_limited_and_its_count_follows() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        // (Safe code: Miri, which runs the library's unit tests for their unsafe parts, gets a
        // smaller burst.)
        let burst: u64 = if cfg!(miri) { 100 } else { 1000 };
        assert_eq!(
            admitted(&limiter, SLOW, t0, burst as usize),
            PER_WINDOW as usize
        );
        // Still inside the window: held back, no count yet.
        let almost = t0 + WINDOW - Duration::from_millis(1);
        assert_eq!(
            limiter.admit(SLOW, almost),
            Admission {
                summary: None,
                admit: false
            }
        );
        assert_eq!(limiter.take_summaries(Some(almost)), Vec::new());
        assert_eq!(limiter.next_summary(), Some(t0 + WINDOW));
        let later = t0 + WINDOW;
        assert_eq!(
            limiter.admit(SLOW, later),
            Admission {
                summary: Some(burst - u64::from(PER_WINDOW) + 1),
                admit: true
            }
        );
        assert_eq!(limiter.next_summary(), None);
        assert_eq!(admitted(&limiter, SLOW, later, 20), PER_WINDOW as usize - 1);
    }

    /// Rule 5: each topic has its own window.
    #[test]
    fn topics_are_limited_apart() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        let stuck = Topic::Diagnostic(DiagnosticKind::StillRunning);
        assert_eq!(admitted(&limiter, SLOW, t0, 50), PER_WINDOW as usize);
        assert_eq!(admitted(&limiter, Topic::Failure, t0, 5), 5);
        assert_eq!(admitted(&limiter, stuck, t0, 50), PER_WINDOW as usize);
        let mut counts = limiter.take_summaries(None);
        counts.sort_by_key(|(t, _)| t.index());
        assert_eq!(counts, vec![(SLOW, 40), (stuck, 40)]);
        assert_eq!(limiter.take_summaries(None), Vec::new(), "taken once");
    }

    /// Rule 5: a count whose window has passed is taken by a flush (the watchdog's tick)
    /// without waiting for another report; one whose window has not is left.
    #[test]
    fn a_flush_takes_only_the_windows_that_passed() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        let t1 = t0 + WINDOW / 2;
        assert_eq!(admitted(&limiter, SLOW, t0, 12), PER_WINDOW as usize);
        assert_eq!(
            admitted(&limiter, Topic::Failure, t1, 13),
            PER_WINDOW as usize
        );
        assert_eq!(limiter.take_summaries(Some(t0 + WINDOW)), vec![(SLOW, 2)]);
        assert_eq!(limiter.next_summary(), Some(t1 + WINDOW));
        assert_eq!(
            limiter.take_summaries(Some(t1 + WINDOW)),
            vec![(Topic::Failure, 3)]
        );
        assert_eq!(limiter.next_summary(), None);
    }

    #[test]
    fn topics_round_trip_through_their_index() {
        for i in 0..TOPICS {
            assert_eq!(Topic::from_index(i).index(), i);
        }
    }
}
