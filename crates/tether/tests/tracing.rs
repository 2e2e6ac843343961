//! The `tracing` feature: a span per task entered at each poll, and events for slow polls,
//! unhandled failures and the tasks left at shutdown, rate-limited like stderr, which they
//! replace. Run with `cargo test -p tether --features tracing --test tracing`.
//!
//! A minimal subscriber records what it is given; the current-thread runtime keeps every poll
//! on the test's thread, where the subscriber is installed.
#![cfg(feature = "tracing")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

mod support;

#[derive(Default)]
struct Log {
    /// Span id -> (name, fields).
    spans: HashMap<u64, (String, HashMap<String, String>)>,
    /// Span id -> times entered.
    enters: HashMap<u64, u32>,
    /// (target, fields) of every event.
    events: Vec<(String, HashMap<String, String>)>,
}

#[derive(Clone, Default)]
struct Recorder {
    log: Arc<Mutex<Log>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = HashMap::new();
        span.record(&mut Fields(&mut fields));
        self.log
            .lock()
            .unwrap()
            .spans
            .insert(id, (span.metadata().name().to_string(), fields));
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.log
            .lock()
            .unwrap()
            .events
            .push((event.metadata().target().to_string(), fields));
    }

    fn enter(&self, span: &Id) {
        *self
            .log
            .lock()
            .unwrap()
            .enters
            .entry(span.into_u64())
            .or_default() += 1;
    }

    fn exit(&self, _: &Id) {}
}

#[test]
fn task_spans_and_diagnostic_events() {
    let rec = Recorder::default();
    let log = rec.log.clone();
    tracing::subscriber::with_default(rec, || {
        let rt = tether::runtime::Builder::new_current_thread()
            .slow_poll_threshold(Duration::from_millis(20))
            .on_diagnostic(|_| {})
            .on_unhandled_failure(|_| {})
            .build()
            .unwrap();
        rt.block_on(async {
            let t = tether::task::Builder::new().name("yielder").spawn(async {
                for _ in 0..3 {
                    tether::task::yield_now().await;
                }
            });
            t.await.unwrap();
            let slow = tether::task::Builder::new().name("hasher").spawn(async {
                std::thread::sleep(Duration::from_millis(60));
            });
            slow.await.unwrap();
            drop(tether::task::Builder::new().name("store").spawn(async {
                panic!("disk full");
            }));
            tether::task::yield_now().await;
            tether::task::yield_now().await;
        });
    });
    let log = log.lock().unwrap();
    // One span per task, entered at each of its polls (4 for the yielder).
    let (yielder, (_, fields)) = log
        .spans
        .iter()
        .find(|(_, (name, f))| {
            name == "task" && f.get("task.name").map(String::as_str) == Some("yielder")
        })
        .expect("no span for the task \"yielder\"");
    assert!(
        fields
            .get("task.location")
            .unwrap()
            .contains("tests/tracing.rs"),
        "{fields:?}"
    );
    assert!(fields.contains_key("task.id"));
    assert_eq!(log.enters.get(yielder), Some(&4));
    // The slow poll and the unhandled panic, as events.
    let slow = log
        .events
        .iter()
        .find(|(target, _)| target == "tether::diagnostics")
        .expect("no slow-poll event");
    assert_eq!(slow.1.get("task_name").map(String::as_str), Some("hasher"));
    assert!(slow.1.get("message").unwrap().contains("took"), "{slow:?}");
    let failure = log
        .events
        .iter()
        .find(|(target, _)| target == "tether::failures")
        .expect("no unhandled-failure event");
    assert_eq!(
        failure.1.get("task_name").map(String::as_str),
        Some("store")
    );
    assert!(
        failure.1.get("message").unwrap().contains("disk full"),
        "{failure:?}"
    );
}

/// Spawns `n` tasks that panic at once, with nobody to await them, and lets them all run.
async fn panic_unseen(n: usize) {
    for _ in 0..n {
        drop(tether::spawn(async { panic!("boom") }));
    }
    while tether::runtime::Handle::current().metrics().live_tasks() > 0 {
        tether::task::yield_now().await;
    }
}

/// Without hooks, `tracing` takes the reports: ten unhandled failures of a burst, then one
/// event with the count of the others (the paused clock keeps the burst in one window; the
/// count follows at shutdown), and the report of the tasks left at shutdown.
#[test]
fn a_burst_and_the_shutdown_report_as_events() {
    let rec = Recorder::default();
    let log = rec.log.clone();
    tracing::subscriber::with_default(rec, || {
        let rt = tether::runtime::Builder::new_current_thread()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            panic_unseen(30).await;
            tether::task::Builder::new()
                .name("flusher")
                .spawn(std::future::pending::<()>());
            tether::task::yield_now().await;
        });
    });
    let log = log.lock().unwrap();
    let failures: Vec<_> = log
        .events
        .iter()
        .filter(|(target, _)| target == "tether::failures")
        .collect();
    let (counts, reports): (Vec<_>, Vec<_>) = failures
        .into_iter()
        .partition(|(_, f)| f.contains_key("suppressed"));
    assert_eq!(reports.len(), 10, "{reports:?}");
    assert!(reports
        .iter()
        .all(|(_, f)| f.get("message").unwrap().contains("\"boom\"")));
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(
        counts[0].1.get("suppressed").map(String::as_str),
        Some("20")
    );
    assert!(counts[0]
        .1
        .get("message")
        .unwrap()
        .contains("20 similar reports suppressed (unhandled failures"));
    let left = log
        .events
        .iter()
        .find(|(target, f)| {
            target == "tether::diagnostics"
                && f.get("kind").map(String::as_str) == Some("TasksLeftAtShutdown")
        })
        .expect("no event for the tasks left at shutdown");
    assert_eq!(left.1.get("tasks").map(String::as_str), Some("1"));
    assert!(left.1.get("message").unwrap().contains("\"flusher\""));
}

/// When a `tracing` subscriber listens, the reports go to it and not also to stderr. Run in a
/// child process (the subscriber is the process's global default there), whose stderr the
/// test reads.
#[test]
fn with_a_subscriber_the_runtime_leaves_stderr_alone() {
    let name = "with_a_subscriber_the_runtime_leaves_stderr_alone";
    let Some(printed) = support::child::run_in_child(name) else {
        let rec = Recorder::default();
        let log = rec.log.clone();
        tracing::subscriber::set_global_default(rec).unwrap();
        let rt = tether::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .slow_poll_threshold(Duration::from_millis(20))
            .build()
            .unwrap();
        rt.block_on(async {
            let slow = tether::spawn(async { std::thread::sleep(Duration::from_millis(80)) });
            slow.await.unwrap();
            panic_unseen(1).await;
            tether::spawn(std::future::pending::<()>());
        });
        drop(rt);
        let log = log.lock().unwrap();
        let kinds: Vec<_> = log
            .events
            .iter()
            .filter_map(|(_, f)| f.get("kind").cloned())
            .collect();
        assert!(kinds.iter().any(|k| k == "SlowPoll"), "{kinds:?}");
        assert!(
            kinds.iter().any(|k| k == "TasksLeftAtShutdown"),
            "{kinds:?}"
        );
        assert!(log.events.iter().any(|(t, _)| t == "tether::failures"));
        return;
    };
    let ours: Vec<_> = printed
        .stderr
        .lines()
        .filter(|l| l.starts_with("tether: "))
        .collect();
    assert_eq!(ours, Vec::<&str>::new(), "{}", printed.stderr);
}
