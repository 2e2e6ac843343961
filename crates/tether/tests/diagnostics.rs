//! Diagnostics: slow polls, the watchdog naming a stuck task while it is stuck, the task dump
//! and the metrics, on both runtime flavors; the one reporting path (the hook, stderr read
//! from a child process, `quiet`, the shutdown report), and what a poll that spawned many tasks
//! or panicked is reported as.
//!
//! Blocking a worker takes real time by nature; these tests block for a few hundred
//! milliseconds against limits several times smaller and assert what is reported (names,
//! locations, kinds), never how long anything took beyond "at least the threshold".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tether::diag::{Diagnostic, DiagnosticKind};
use tether::runtime::{Builder, Runtime};

mod support;

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

/// The report of the tasks a shutdown cancelled reaches the hook as a `Diagnostic`, like every
/// other report (it used to be a bare line on stderr): rule 1 of `diag/report.rs`.
fn the_shutdown_report_reaches_the_hook(multi: bool) {
    let seen = Arc::new(Mutex::new(
        Vec::<(DiagnosticKind, Vec<String>, String)>::new(),
    ));
    let s = seen.clone();
    let rt = runtime(multi, move |d| {
        let names = d.tasks().iter().filter_map(|t| t.name()).map(String::from);
        s.lock()
            .unwrap()
            .push((d.kind(), names.collect(), d.to_string()));
    });
    let line = line!() + 4;
    rt.block_on(async {
        tether::task::Builder::new()
            .name("flusher")
            .spawn(std::future::pending::<()>());
        tether::task::yield_now().await;
    });
    drop(rt);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (kind, names, text) = &seen[0];
    assert_eq!(*kind, DiagnosticKind::TasksLeftAtShutdown);
    assert_eq!(names, &["flusher"]);
    assert!(
        text.starts_with("tether: the runtime shut down with 1 task(s) still running"),
        "{text}"
    );
    assert!(text.contains("\"flusher\" spawned at "), "{text}");
    assert!(
        text.contains(&format!("tests/diagnostics.rs:{line}")),
        "{text}"
    );
}

#[test]
fn the_shutdown_report_reaches_the_hook_current_thread() {
    the_shutdown_report_reaches_the_hook(false);
}

#[test]
fn the_shutdown_report_reaches_the_hook_multi_thread() {
    the_shutdown_report_reaches_the_hook(true);
}

/// A slow poll, a stuck worker and the shutdown report, as a program without hooks makes them.
/// Run in a child process by the two tests below, which read its stderr.
fn say_something(rt: Runtime) {
    rt.block_on(async {
        let slow = tether::task::Builder::new().name("hasher").spawn(async {
            std::thread::sleep(Duration::from_millis(150)); // slow, and stuck for a while
        });
        slow.await.unwrap();
        tether::task::Builder::new()
            .name("flusher")
            .spawn(std::future::pending::<()>());
        tether::task::yield_now().await;
    });
}

fn runtime_without_hooks() -> Builder {
    let mut b = Builder::new_current_thread();
    b.slow_poll_threshold(Duration::from_millis(20))
        .watchdog_limit(Duration::from_millis(50));
    b
}

/// The reports' lines on stderr (not the test harness's).
fn tether_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("tether: "))
        .collect()
}

/// Rule 4 of `diag/report.rs`: what no hook (and no `tracing` subscriber) takes goes to stderr.
#[test]
fn without_a_hook_reports_go_to_stderr() {
    let Some(printed) = support::child::run_in_child("without_a_hook_reports_go_to_stderr") else {
        say_something(runtime_without_hooks().build().unwrap());
        return;
    };
    let lines = tether_lines(&printed.stderr);
    let has = |needle: &str| {
        lines
            .iter()
            .any(|l| l.contains("\"hasher\"") && l.contains(needle))
    };
    assert!(has("without yielding"), "{}", printed.stderr);
    assert!(has("in one poll"), "{}", printed.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("shut down with 1 task(s) still running")),
        "{}",
        printed.stderr
    );
    assert!(
        printed.stderr.contains("\n  task ") && printed.stderr.contains("\"flusher\""),
        "the shutdown report lists the task: {}",
        printed.stderr
    );
}

/// Rules 2 and 4 of `diag/report.rs`: `quiet` silences stderr, never the hook.
#[test]
fn a_quiet_runtime_prints_nothing_and_its_hook_still_hears() {
    let name = "a_quiet_runtime_prints_nothing_and_its_hook_still_hears";
    let Some(printed) = support::child::run_in_child(name) else {
        let kinds = Arc::new(Mutex::new(Vec::new()));
        let k = kinds.clone();
        let rt = runtime_without_hooks()
            .quiet()
            .on_diagnostic(move |d| k.lock().unwrap().push(d.kind()))
            .build()
            .unwrap();
        say_something(rt);
        let kinds = kinds.lock().unwrap();
        for kind in [
            DiagnosticKind::StillRunning,
            DiagnosticKind::SlowPoll,
            DiagnosticKind::TasksLeftAtShutdown,
        ] {
            assert!(kinds.contains(&kind), "the hook missed {kind:?}: {kinds:?}");
        }
        // And with no hook at all, nothing is printed either (checked by the parent).
        say_something(runtime_without_hooks().quiet().build().unwrap());
        return;
    };
    assert_eq!(
        tether_lines(&printed.stderr),
        Vec::<&str>::new(),
        "a quiet runtime wrote to stderr"
    );
}

/// A poll that spawns many tasks takes long for that: it is a slow poll, and the report says
/// how many tasks it spawned and advises spawning in batches, not `spawn_blocking`. (The
/// benchmarks that spawn a million tasks from `block_on` printed such reports without the
/// count.)
fn a_poll_that_spawns_many_tasks_is_reported_with_the_count(multi: bool) {
    let (tx, rx) = mpsc::channel::<(DiagnosticKind, u64, String)>();
    let tx = Mutex::new(tx);
    let rt = runtime(multi, move |d| {
        let _ = tx
            .lock()
            .unwrap()
            .send((d.kind(), d.spawned_tasks(), d.to_string()));
    });
    let spawn_and_block = || {
        let handles: Vec<_> = (0..10_000)
            .map(|i| tether::spawn(async move { i }))
            .collect();
        // However long spawning took, the poll is certainly slow now.
        std::thread::sleep(Duration::from_millis(150));
        handles
    };
    rt.block_on(async move {
        // On the current-thread runtime, the `block_on` future itself spawns (as the
        // benchmarks do); on the multi-thread one, a task does.
        let handles = if multi {
            tether::task::Builder::new()
                .name("spawner")
                .spawn(async move { spawn_and_block() })
                .await
                .unwrap()
        } else {
            spawn_and_block()
        };
        for h in handles {
            h.await.unwrap();
        }
    });
    drop(rt);
    let seen: Vec<_> = rx.try_iter().collect();
    let slow: Vec<_> = seen
        .iter()
        .filter(|(k, _, _)| *k == DiagnosticKind::SlowPoll)
        .collect();
    assert_eq!(slow.len(), 1, "{seen:?}");
    let (_, spawned, text) = slow[0];
    assert_eq!(*spawned, 10_000, "{text}");
    assert!(
        text.contains("it spawned 10000 tasks in that poll"),
        "{text}"
    );
    assert!(text.contains("spawn in batches"), "{text}");
    assert!(!text.contains("spawn_blocking"), "{text}");
    let stuck = seen
        .iter()
        .find(|(k, _, _)| *k == DiagnosticKind::StillRunning)
        .unwrap_or_else(|| panic!("no watchdog report: {seen:?}"));
    // Made while the poll still runs: on a slow machine, possibly before the last spawn.
    assert!((1..=10_000).contains(&stuck.1), "{}", stuck.2);
    assert!(
        stuck
            .2
            .contains(&format!("it has spawned {} tasks in this poll", stuck.1)),
        "{}",
        stuck.2
    );
}

#[test]
fn a_poll_that_spawns_many_tasks_current_thread() {
    a_poll_that_spawns_many_tasks_is_reported_with_the_count(false);
}

#[test]
fn a_poll_that_spawns_many_tasks_multi_thread() {
    a_poll_that_spawns_many_tasks_is_reported_with_the_count(true);
}

/// What a hook saw of one report: kind, task name, whether the poll panicked, text.
type Heard = (DiagnosticKind, Option<String>, bool, String);

/// A process-wide panic hook that blocks until `release` is set (10 s at most: the test then
/// fails on what it saw).
fn blocking_panic_hook(release: &'static AtomicBool) {
    std::panic::set_hook(Box::new(move |_| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !release.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }));
}

/// Runs a task named "doomed" that panics at once, on a runtime whose hook records every report
/// and sets `release` when it hears `release_on`.
fn doomed_task(
    multi: bool,
    release: &'static AtomicBool,
    release_on: DiagnosticKind,
    build: impl FnOnce(Runtime) -> Runtime,
) -> Vec<Heard> {
    release.store(false, Ordering::SeqCst);
    let heard = Arc::new(Mutex::new(Vec::<Heard>::new()));
    let h = heard.clone();
    let rt = build(runtime(multi, move |d| {
        if d.kind() == release_on {
            release.store(true, Ordering::SeqCst);
        }
        h.lock().unwrap().push((
            d.kind(),
            d.task_name().map(String::from),
            d.panicked(),
            d.to_string(),
        ));
    }));
    let err = rt
        .block_on(async {
            tether::task::Builder::new()
                .name("doomed")
                .spawn(async { panic!("doomed") })
                .await
        })
        .unwrap_err();
    assert!(err.is_panic());
    drop(rt);
    let heard = heard.lock().unwrap().clone();
    assert!(
        release.load(Ordering::SeqCst),
        "the hook never heard {release_on:?}: {heard:?}"
    );
    heard
}

/// With `RUST_BACKTRACE=1`, the time the panic hook spent printing a task's backtrace was
/// reported as the task's slow poll, with advice to use `spawn_blocking`. Here the hook blocks
/// until the watchdog has reported it (so the poll was long by any measure): the report names
/// the hook, and nothing blames the task's code (rule 5 of `runtime/diagnostics.rs`). Run in a
/// child process: the test sets the process's panic hook before the first runtime is built, as
/// a program would.
#[test]
fn a_slow_panic_hook_is_not_the_tasks_slow_poll() {
    if support::child::run_in_child("a_slow_panic_hook_is_not_the_tasks_slow_poll").is_some() {
        return;
    }
    static RELEASE: AtomicBool = AtomicBool::new(false);
    blocking_panic_hook(&RELEASE);
    for multi in [false, true] {
        let heard = doomed_task(multi, &RELEASE, DiagnosticKind::SlowPanicHook, |rt| rt);
        let about_doomed: Vec<_> = heard
            .iter()
            .filter(|h| h.1.as_deref() == Some("doomed"))
            .collect();
        let hook = about_doomed
            .iter()
            .find(|h| h.0 == DiagnosticKind::SlowPanicHook)
            .unwrap();
        assert!(
            hook.3.contains("the panic hook has been running"),
            "{}",
            hook.3
        );
        assert!(
            about_doomed
                .iter()
                .all(|h| h.0 == DiagnosticKind::SlowPanicHook),
            "the task was blamed for the hook's time: {about_doomed:?}"
        );
    }
}

/// A hook set after the first runtime was built replaces the runtime's wrapper: the runtime
/// cannot tell the hook's time from the task's, and the report of the slow poll says so
/// instead of blaming the task's code.
#[test]
fn a_panic_hook_set_later_is_counted_but_not_blamed() {
    if support::child::run_in_child("a_panic_hook_set_later_is_counted_but_not_blamed").is_some() {
        return;
    }
    static RELEASE: AtomicBool = AtomicBool::new(false);
    // The hook is set once the runtime (and the wrapper) exists; the watchdog sees the poll
    // stuck, and that report releases the hook.
    let heard = doomed_task(false, &RELEASE, DiagnosticKind::StillRunning, |rt| {
        blocking_panic_hook(&RELEASE);
        rt
    });
    let slow = heard
        .iter()
        .find(|h| h.0 == DiagnosticKind::SlowPoll)
        .unwrap_or_else(|| panic!("no slow-poll report: {heard:?}"));
    assert_eq!(slow.1.as_deref(), Some("doomed"));
    assert!(slow.2, "the report says the poll panicked");
    assert!(
        slow.3.contains("a poll that ended in a panic"),
        "{}",
        slow.3
    );
    assert!(slow.3.contains("includes the panic hook's"), "{}", slow.3);
    assert!(!slow.3.contains("spawn_blocking"), "{}", slow.3);
}

/// A burst of slow polls (50 in well under a second): stderr gets ten, then one line with the
/// count of the others, which the metrics count too (rule 5 of `diag/report.rs`). The runtime's clock is paused, so the rate
/// limiter's window never passes during the burst whatever the machine's speed; the count is
/// printed when the runtime shuts down.
#[test]
fn a_burst_of_slow_polls_is_cut_to_ten_lines_and_counted() {
    let name = "a_burst_of_slow_polls_is_cut_to_ten_lines_and_counted";
    let Some(printed) = support::child::run_in_child(name) else {
        let rt = Builder::new_current_thread()
            .start_paused(true)
            .slow_poll_threshold(Duration::from_millis(1))
            .watchdog_limit(Duration::from_secs(10))
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..50 {
                tether::spawn(async { std::thread::sleep(Duration::from_millis(10)) })
                    .await
                    .unwrap();
            }
        });
        // For the parent, which compares the lines with the count.
        eprintln!("slow polls: {}", rt.handle().metrics().slow_polls());
        return;
    };
    let reported: u64 = printed
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("slow polls: "))
        .expect("the child printed its count")
        .parse()
        .unwrap();
    // Each poll blocks ten times the threshold: only a watchdog starved for most of the burst
    // would flag ten or fewer.
    assert!(reported > 10, "{}", printed.stderr);
    let lines = tether_lines(&printed.stderr);
    let slow = lines.iter().filter(|l| l.contains("in one poll")).count();
    assert_eq!(slow, 10, "{}", printed.stderr);
    let count = format!(
        "tether: {} similar reports suppressed (slow polls; at most 10 a second are printed, and \
         Builder::on_diagnostic receives every one)",
        reported - 10
    );
    assert!(
        lines.contains(&count.as_str()),
        "no {count:?} in {}",
        printed.stderr
    );
}
