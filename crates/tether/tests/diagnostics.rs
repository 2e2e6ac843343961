//! Diagnostics: slow polls, the watchdog naming a stuck task while it is stuck, the task dump
//! and the metrics, on both runtime flavors.
//!
//! Blocking a worker takes real time by nature; these tests block for a few hundred
//! milliseconds against limits several times smaller and assert what is reported (names,
//! locations, kinds), never how long anything took beyond "at least the threshold".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tether::diag::{Diagnostic, DiagnosticKind};
use tether::runtime::{Builder, Runtime};

fn runtime(multi: bool, hook: impl Fn(&Diagnostic) + Send + Sync + 'static) -> Runtime {
    let mut b = if multi {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        Builder::new_current_thread()
    };
    b.slow_poll_threshold(Duration::from_millis(20))
        .watchdog_limit(Duration::from_millis(50))
        .on_diagnostic(hook)
        .build()
        .unwrap()
}

/// What a hook saw: the report's kind, its text, and whether the task was still blocked.
type Seen = (DiagnosticKind, String, bool);

fn watchdog_names_a_stuck_task_while_it_is_stuck(multi: bool) {
    let blocked = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Seen>();
    let tx = Mutex::new(tx);
    let b2 = blocked.clone();
    let rt = runtime(multi, move |d| {
        let _ = tx
            .lock()
            .unwrap()
            .send((d.kind(), d.to_string(), b2.load(Ordering::SeqCst)));
    });
    let b3 = blocked.clone();
    let line = line!() + 4;
    rt.block_on(async move {
        let store = tether::task::Builder::new()
            .name("store")
            .spawn(async move {
                b3.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300)); // the bad citizen
                b3.store(false, Ordering::SeqCst);
            });
        store.await.unwrap();
    });
    let seen: Vec<Seen> = rx.try_iter().collect();
    let location = format!("tests/diagnostics.rs:{line}");
    let stuck = seen
        .iter()
        .find(|(k, _, _)| *k == DiagnosticKind::StillRunning)
        .unwrap_or_else(|| panic!("no watchdog report; saw {seen:?}"));
    assert!(
        stuck.2,
        "the watchdog report came after the task unblocked: {stuck:?}"
    );
    assert!(stuck.1.contains("\"store\""), "{}", stuck.1);
    assert!(stuck.1.contains(&location), "{} lacks {location}", stuck.1);
    assert!(stuck.1.contains("without yielding"), "{}", stuck.1);
    // When the poll finally returns, it is reported as slow, too.
    let slow = seen
        .iter()
        .find(|(k, _, _)| *k == DiagnosticKind::SlowPoll)
        .unwrap_or_else(|| panic!("no slow-poll report; saw {seen:?}"));
    assert!(
        slow.1.contains("\"store\"") && slow.1.contains(&location),
        "{}",
        slow.1
    );
    assert_eq!(rt.handle().metrics().slow_polls(), 1);
    assert!(rt.handle().metrics().watchdog_reports() >= 1);
}

#[test]
fn watchdog_names_a_stuck_task_current_thread() {
    watchdog_names_a_stuck_task_while_it_is_stuck(false);
}

#[test]
fn watchdog_names_a_stuck_task_multi_thread() {
    watchdog_names_a_stuck_task_while_it_is_stuck(true);
}

fn slow_poll_is_reported_with_duration(multi: bool) {
    let seen = Arc::new(Mutex::new(Vec::<(
        DiagnosticKind,
        Option<String>,
        Duration,
        usize,
    )>::new()));
    let s = seen.clone();
    let rt = runtime(multi, move |d| {
        s.lock().unwrap().push((
            d.kind(),
            d.task_name().map(String::from),
            d.duration(),
            d.worker(),
        ))
    });
    rt.block_on(async {
        let t = tether::task::Builder::new().name("hasher").spawn(async {
            tether::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(150));
            tether::task::yield_now().await;
        });
        t.await.unwrap();
    });
    let seen = seen.lock().unwrap();
    let slow: Vec<_> = seen
        .iter()
        .filter(|r| r.0 == DiagnosticKind::SlowPoll)
        .collect();
    assert_eq!(slow.len(), 1, "{seen:?}");
    assert_eq!(slow[0].1.as_deref(), Some("hasher"));
    assert!(slow[0].2 >= Duration::from_millis(20), "{seen:?}");
    assert!(slow[0].3 < if multi { 2 } else { 1 });
}

#[test]
fn slow_poll_current_thread() {
    slow_poll_is_reported_with_duration(false);
}

#[test]
fn slow_poll_multi_thread() {
    slow_poll_is_reported_with_duration(true);
}

#[test]
fn a_blocking_block_on_future_is_named_by_its_location() {
    let (tx, rx) = mpsc::channel::<String>();
    let tx = Mutex::new(tx);
    let rt = runtime(false, move |d| {
        if d.kind() == DiagnosticKind::StillRunning && d.task_id().is_none() {
            let _ = tx.lock().unwrap().send(d.to_string());
        }
    });
    let line = line!() + 1;
    rt.block_on(async { std::thread::sleep(Duration::from_millis(300)) });
    let report = rx
        .try_recv()
        .expect("the stuck block_on future was not reported");
    assert!(report.contains("the future passed to block_on"), "{report}");
    assert!(
        report.contains(&format!("tests/diagnostics.rs:{line}")),
        "{report}"
    );
}

#[test]
fn diagnostics_off_reports_nothing() {
    let hits = Arc::new(Mutex::new(0));
    let h = hits.clone();
    let rt = Builder::new_current_thread()
        .diagnostics(false)
        .on_diagnostic(move |_| *h.lock().unwrap() += 1)
        .build()
        .unwrap();
    rt.block_on(async {
        tether::spawn(async { std::thread::sleep(Duration::from_millis(60)) })
            .await
            .unwrap()
    });
    assert_eq!(*hits.lock().unwrap(), 0);
    assert_eq!(rt.handle().metrics().slow_polls(), 0);
}

/// A known tree: a root task "server" running a scope with two children, a root task
/// "metrics", and a blocking job; the dump is taken from another thread while they wait.
fn dump_draws_the_task_tree(multi: bool) {
    let rt = runtime(multi, |_| {});
    let handle = rt.handle().clone();
    let scope_line = line!() + 8;
    let child_line = scope_line + 3;
    let (text, tasks) = rt.block_on(async move {
        let (ready_tx, mut ready_rx) = tether::sync::mpsc::channel::<()>(4);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let server = tether::task::Builder::new()
            .name("server")
            .spawn(async move {
                tether::scope::scope(|s| async move {
                    for name in ["conn-a", "conn-b"] {
                        let tx = ready_tx.clone();
                        s.spawn_named(name, async move {
                            tx.send(()).await.unwrap();
                            std::future::pending::<Result<(), ()>>().await
                        })
                        .await;
                    }
                    std::future::pending::<()>().await;
                    Ok::<(), ()>(())
                })
                .await
            });
        let metrics = tether::task::Builder::new()
            .name("metrics")
            .spawn(std::future::pending::<()>());
        let job = tether::task::spawn_blocking(move || release_rx.recv());
        for _ in 0..2 {
            ready_rx.recv().await.unwrap();
        }
        // Let the server's scope and the blocking job settle into their waits.
        tether::time::sleep(Duration::from_millis(20)).await;
        let dump = std::thread::spawn(move || handle.dump()).join().unwrap();
        // From inside a task, the dumping task shows as running.
        let inside = tether::task::Builder::new()
            .name("doctor")
            .spawn(async { tether::runtime::Handle::current().dump().to_string() })
            .await
            .unwrap();
        assert!(inside.contains("\"server\""), "{inside}");
        assert!(
            inside
                .lines()
                .any(|l| l.contains("\"doctor\"") && l.contains("running on worker")),
            "{inside}"
        );
        server.abort();
        metrics.abort();
        release_tx.send(()).unwrap();
        job.await.unwrap().unwrap();
        (dump.to_string(), dump.tasks().to_vec())
    });
    let lines: Vec<&str> = text.lines().collect();
    let flavor = if multi {
        "multi-thread, 2 workers"
    } else {
        "current-thread, 1 worker"
    };
    assert!(lines[0].contains(flavor), "{text}");
    assert!(lines[0].ends_with("5 live tasks"), "{text}");
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{text}"))
    };
    let server = at("\"server\"");
    assert!(lines[server].starts_with("├─ task "), "{text}");
    assert!(lines[server].contains("idle"), "{text}");
    let scope = server + 1;
    assert!(lines[scope].starts_with("│  └─ scope "), "{text}");
    assert!(
        lines[scope].contains(&format!("tests/diagnostics.rs:{scope_line}")),
        "{text}"
    );
    assert!(lines[scope].ends_with("2 children"), "{text}");
    assert!(lines[scope + 1].starts_with("│     ├─ task "), "{text}");
    assert!(lines[scope + 1].contains("\"conn-a\""), "{text}");
    assert!(
        lines[scope + 1].contains(&format!("tests/diagnostics.rs:{child_line}")),
        "{text}"
    );
    assert!(lines[scope + 2].starts_with("│     └─ task "), "{text}");
    assert!(lines[scope + 2].contains("\"conn-b\""), "{text}");
    let metrics = at("\"metrics\"");
    assert_eq!(metrics, scope + 3, "{text}");
    assert!(lines[metrics].starts_with("├─ task "), "{text}");
    assert_eq!(lines[metrics + 1], "└─ blocking pool", "{text}");
    assert!(lines[metrics + 2].starts_with("   └─ task "), "{text}");
    assert!(
        lines[metrics + 2].contains("running on the blocking pool"),
        "{text}"
    );
    // The structured view agrees with the drawing.
    let server_id = tasks
        .iter()
        .find(|t| t.name() == Some("server"))
        .unwrap()
        .id();
    let children: Vec<_> = tasks.iter().filter(|t| t.scope().is_some()).collect();
    assert_eq!(children.len(), 2);
    assert!(children
        .iter()
        .all(|t| t.scope().unwrap().owner() == Some(server_id) && t.polls() >= 1));
}

#[test]
fn dump_current_thread() {
    dump_draws_the_task_tree(false);
}

#[test]
fn dump_multi_thread() {
    dump_draws_the_task_tree(true);
}

#[test]
fn dump_shows_a_running_task_on_its_worker() {
    let rt = runtime(true, |_| {});
    let handle = rt.handle().clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let busy = rt.spawn(async move {
        started_tx.send(()).unwrap();
        // Blocks its worker until the dump is taken (bounded: 10 s).
        let _ = release_rx.recv_timeout(Duration::from_secs(10));
    });
    started_rx.recv().unwrap();
    let dump = handle.dump();
    release_tx.send(()).unwrap();
    rt.block_on(busy).unwrap();
    let t = &dump.tasks()[0];
    assert!(
        matches!(t.state(), tether::diag::TaskState::Running { worker } if worker < 2),
        "{dump}"
    );
}

#[test]
fn metrics_count_tasks_queues_and_blocking_threads() {
    let rt = runtime(true, |_| {});
    rt.block_on(async {
        let handles: Vec<_> = (0..10_000)
            .map(|i| {
                tether::spawn(async move {
                    tether::task::yield_now().await;
                    i
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        tether::task::spawn_blocking(|| ()).await.unwrap();
    });
    let m = rt.handle().metrics();
    assert_eq!(m.workers(), 2);
    assert_eq!(m.worker_queue_depths().len(), 2);
    assert_eq!(m.spawned_tasks(), 10_001);
    assert_eq!(m.live_tasks(), 0);
    assert_eq!(m.injector_depth(), 0);
    assert_eq!(m.blocking_threads(), 1);
    assert!(m.idle_blocking_threads() <= 1);
    assert!(m.polls() > 0);
}

#[test]
fn a_panicking_hook_does_not_take_the_worker_down() {
    let rt = runtime(false, |_| panic!("hook bug"));
    let n = rt.block_on(async {
        let slow = tether::spawn(async { std::thread::sleep(Duration::from_millis(60)) });
        slow.await.unwrap();
        tether::spawn(async { 7 }).await.unwrap()
    });
    assert_eq!(n, 7);
    assert_eq!(rt.handle().metrics().slow_polls(), 1);
}
