//! `JoinSet`: results in the order tasks finish, abort on drop, `abort_all`, `shutdown`,
//! `detach_all`, `try_join_next`, local and blocking tasks, what happens to a panic, the set in
//! the task dump, and 100,000 tasks through one set; on both scheduler flavors where behaviour
//! could differ.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::bounded::within;
use support::on_drop::OnDrop;
use support::settle::settle;
use tether::runtime::{Builder, Handle, Runtime};
use tether::sync::oneshot;
use tether::task::{yield_now, JoinSet};

const LIMIT: Duration = Duration::from_secs(60);

type Reports = Arc<Mutex<Vec<String>>>;

/// A runtime of either flavor whose unhandled failures are collected in `reports`.
fn runtime(multi: bool, reports: &Reports) -> Runtime {
    let r = reports.clone();
    let mut b = if multi {
        Builder::new_multi_thread()
    } else {
        Builder::new_current_thread()
    };
    if multi {
        b.worker_threads(2);
    }
    b.on_unhandled_failure(move |f| r.lock().unwrap().push(f.to_string()))
        .build()
        .unwrap()
}

/// Runs `test` on a current-thread and on a multi-thread runtime, each bounded in time.
fn both_flavors(name: &str, test: fn(bool)) {
    for multi in [false, true] {
        within(
            LIMIT,
            &format!("{name} (multi-thread: {multi})"),
            move || test(multi),
        );
    }
}

/// Yields until `done` holds (bounded by the caller's `within`): waits for what other workers
/// or the blocking pool do, without deciding anything by time.
async fn until(done: impl Fn() -> bool) {
    while !done() {
        yield_now().await;
        std::thread::yield_now();
    }
}

#[test]
fn results_come_back_in_the_order_the_tasks_finish() {
    both_flavors("order", |multi| {
        let rt = runtime(multi, &Reports::default());
        rt.block_on(async {
            let mut set = JoinSet::new();
            let mut release = Vec::new();
            for i in 0..5u32 {
                let (tx, rx) = oneshot::channel::<()>();
                release.push(tx);
                set.spawn(async move {
                    rx.await.unwrap();
                    i
                });
            }
            // Finish them in the order 3, 0, 4, 1, 2: each one before the next is released.
            let mut release: Vec<Option<_>> = release.into_iter().map(Some).collect();
            for i in [3usize, 0, 4, 1, 2] {
                release[i].take().unwrap().send(()).unwrap();
                let got = set.join_next().await.unwrap().unwrap();
                assert_eq!(got as usize, i);
            }
            assert!(set.join_next().await.is_none());
        });
    });
}

#[tether::test(start_paused = true)]
async fn results_come_back_in_the_order_of_their_timers() {
    let mut set = JoinSet::new();
    for ms in [50u64, 10, 40, 20, 30] {
        set.spawn(async move {
            tether::time::sleep(Duration::from_millis(ms)).await;
            ms
        });
    }
    let mut order = Vec::new();
    while let Some(res) = set.join_next().await {
        order.push(res.unwrap());
    }
    assert_eq!(order, [10, 20, 30, 40, 50]);
}

#[test]
fn dropping_the_set_aborts_its_tasks() {
    both_flavors("abort on drop", |multi| {
        let rt = runtime(multi, &Reports::default());
        rt.block_on(async {
            let dropped = Arc::new(AtomicUsize::new(0));
            let mut set = JoinSet::new();
            let mut aborts = Vec::new();
            for _ in 0..10 {
                let guard = OnDrop(dropped.clone());
                aborts.push(set.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                }));
            }
            settle().await;
            assert_eq!(dropped.load(Ordering::SeqCst), 0);
            drop(set);
            until(|| dropped.load(Ordering::SeqCst) == 10).await;
            assert!(aborts.iter().all(|a| a.is_finished()));
        });
    });
}

#[test]
fn abort_all_cancels_what_runs_and_keeps_what_finished() {
    both_flavors("abort_all", |multi| {
        let rt = runtime(multi, &Reports::default());
        rt.block_on(async {
            let mut set = JoinSet::new();
            let done = set.spawn(async { 7 });
            until(|| done.is_finished()).await;
            for _ in 0..5 {
                set.spawn(std::future::pending::<u32>());
            }
            set.abort_all();
            assert_eq!(set.len(), 6, "aborted tasks stay in the set until joined");
            let (mut outputs, mut cancelled) = (Vec::new(), 0);
            while let Some(res) = set.join_next().await {
                match res {
                    Ok(v) => outputs.push(v),
                    Err(e) => {
                        assert!(e.is_cancelled(), "{e}");
                        cancelled += 1;
                    }
                }
            }
            assert_eq!(outputs, [7]);
            assert_eq!(cancelled, 5);
        });
    });
}

#[test]
fn an_abort_handle_from_spawn_cancels_one_task() {
    both_flavors("abort handle", |multi| {
        let rt = runtime(multi, &Reports::default());
        rt.block_on(async {
            let mut set = JoinSet::new();
            let abort = set.spawn(std::future::pending::<()>());
            abort.abort();
            let (id, err) = match set.join_next_with_id().await.unwrap() {
                Ok(_) => panic!("the task was aborted"),
                Err(e) => (e.id(), e),
            };
            assert!(err.is_cancelled());
            assert_eq!(id, abort.id());
        });
    });
}

#[test]
fn shutdown_aborts_every_task_and_waits_for_it() {
    both_flavors("shutdown", |multi| {
        let rt = runtime(multi, &Reports::default());
        rt.block_on(async {
            let dropped = Arc::new(AtomicUsize::new(0));
            let mut set = JoinSet::new();
            for _ in 0..10 {
                let guard = OnDrop(dropped.clone());
                set.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                });
            }
            set.shutdown().await;
            // Every task's future is gone once `shutdown` returns.
            assert_eq!(dropped.load(Ordering::SeqCst), 10);
            assert!(set.is_empty());
            // The set can be used again.
            set.spawn(async {});
            assert!(set.join_next().await.unwrap().is_ok());
        });
    });
}

#[test]
fn detached_tasks_run_on_without_the_set() {
    both_flavors("detach_all", |multi| {
        let rt = runtime(multi, &Reports::default());
        rt.block_on(async {
            let mut set = JoinSet::new();
            let mut outputs = Vec::new();
            let mut release = Vec::new();
            for i in 0..4u32 {
                let (go_tx, go_rx) = oneshot::channel::<()>();
                let (out_tx, out_rx) = oneshot::channel::<u32>();
                release.push(go_tx);
                outputs.push(out_rx);
                set.spawn(async move {
                    go_rx.await.unwrap();
                    out_tx.send(i).unwrap();
                });
            }
            set.detach_all();
            assert!(set.is_empty());
            assert!(set.join_next().await.is_none());
            for tx in release {
                tx.send(()).unwrap();
            }
            for (i, rx) in outputs.into_iter().enumerate() {
                assert_eq!(rx.await.unwrap(), i as u32);
            }
        });
    });
}

#[test]
fn try_join_next_never_waits() {
    both_flavors("try_join_next", |multi| {
        let rt = runtime(multi, &Reports::default());
        rt.block_on(async {
            let mut set: JoinSet<u32> = JoinSet::new();
            assert!(set.try_join_next().is_none(), "empty set");
            let (tx, rx) = oneshot::channel::<()>();
            let abort = set.spawn(async move {
                rx.await.unwrap();
                5
            });
            settle().await;
            assert!(set.try_join_next().is_none(), "nothing finished yet");
            assert_eq!(set.len(), 1);
            tx.send(()).unwrap();
            until(|| abort.is_finished()).await;
            // Finished: its key is queued (or about to be, on another worker).
            let mut got = None;
            while got.is_none() {
                got = set.try_join_next();
                yield_now().await;
            }
            assert_eq!(got.unwrap().unwrap(), 5);
            assert!(set.is_empty());
            assert!(set.try_join_next().is_none());
        });
    });
}

#[test]
fn len_and_is_empty_count_the_tasks_not_joined_yet() {
    both_flavors("len", |multi| {
        let rt = runtime(multi, &Reports::default());
        rt.block_on(async {
            let mut set = JoinSet::default();
            assert!(set.is_empty());
            assert_eq!(set.len(), 0);
            for i in 0..3 {
                set.spawn(async move { i });
            }
            assert_eq!(set.len(), 3);
            assert!(!set.is_empty());
            set.join_next().await.unwrap().unwrap();
            assert_eq!(set.len(), 2);
            while set.join_next().await.is_some() {}
            assert!(set.is_empty());
        });
    });
}

#[tether::test]
async fn spawn_local_tasks_join_like_the_others() {
    let shared = Rc::new(std::cell::Cell::new(0));
    let mut set = JoinSet::new();
    for i in 1..=4 {
        let s = shared.clone();
        set.spawn_local(async move {
            yield_now().await;
            s.set(s.get() + i);
            i
        });
    }
    let mut sum = 0;
    while let Some(res) = set.join_next().await {
        sum += res.unwrap();
    }
    assert_eq!(sum, 10);
    assert_eq!(shared.get(), 10);
}

#[test]
fn spawn_blocking_jobs_join_like_the_others() {
    both_flavors("spawn_blocking", |multi| {
        let rt = runtime(multi, &Reports::default());
        rt.block_on(async {
            let mut set = JoinSet::new();
            for i in 0..4u64 {
                set.spawn_blocking(move || (0..=i).sum::<u64>());
            }
            set.spawn(async { 100 });
            let mut all = Vec::new();
            while let Some(res) = set.join_next().await {
                all.push(res.unwrap());
            }
            all.sort_unstable();
            assert_eq!(all, [0, 1, 3, 6, 100]);
        });
    });
}

#[test]
fn spawn_on_reaches_the_runtime_from_a_plain_thread() {
    let rt = runtime(true, &Reports::default());
    let handle = rt.handle().clone();
    // Created and filled outside any runtime.
    let mut set = std::thread::spawn(move || {
        let mut set = JoinSet::new();
        set.spawn_on(async { 1 }, &handle);
        set.spawn_blocking_on(|| 2, &handle);
        set
    })
    .join()
    .unwrap();
    let mut sum = 0;
    rt.block_on(async {
        while let Some(res) = set.join_next().await {
            sum += res.unwrap();
        }
    });
    assert_eq!(sum, 3);
}

#[test]
fn a_task_spawned_onto_a_dropped_runtime_comes_back_cancelled() {
    for multi in [false, true] {
        let rt = runtime(multi, &Reports::default());
        let handle = rt.handle().clone();
        drop(rt);
        let mut set = JoinSet::new();
        set.spawn_on(async { 1 }, &handle);
        let res = futures_lite::future::block_on(set.join_next()).unwrap();
        assert!(res.unwrap_err().is_cancelled());
        assert!(set.is_empty());
    }
}

#[test]
fn spawn_outside_a_runtime_panics_with_what_to_do() {
    let mut set = JoinSet::new();
    let err = catch_unwind(AssertUnwindSafe(|| {
        set.spawn(async {});
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("JoinSet::spawn"), "{msg}");
    assert!(msg.contains("outside a tether runtime"), "{msg}");
    assert!(msg.contains("Handle::spawn"), "{msg}");
    assert!(set.is_empty(), "a spawn that panicked adds nothing");
}

#[test]
fn a_panic_is_a_join_error_and_is_not_reported_again() {
    both_flavors("panic delivered", |multi| {
        let reports = Reports::default();
        let rt = runtime(multi, &reports);
        rt.block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async { panic!("bad input") });
            let err = set.join_next().await.unwrap().unwrap_err();
            assert!(err.is_panic());
            assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"bad input"));
        });
        drop(rt);
        assert!(reports.lock().unwrap().is_empty(), "{reports:?}");
    });
}

#[test]
fn a_panic_never_joined_is_reported_once_when_the_set_drops() {
    both_flavors("panic undelivered", |multi| {
        let reports = Reports::default();
        let rt = runtime(multi, &reports);
        rt.block_on(async {
            let mut set = JoinSet::new();
            let panicked = set.spawn(async { panic!("lost in the set") });
            set.spawn(std::future::pending::<()>());
            until(|| panicked.is_finished()).await;
            assert!(
                reports.lock().unwrap().is_empty(),
                "not reported while held"
            );
            drop(set);
        });
        drop(rt);
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(reports[0].contains("lost in the set"), "{}", reports[0]);
        assert!(reports[0].contains("join_set.rs"), "{}", reports[0]);
    });
}

#[test]
fn shutdown_reports_a_panic_it_drops() {
    both_flavors("panic at shutdown", |multi| {
        let reports = Reports::default();
        let rt = runtime(multi, &reports);
        rt.block_on(async {
            let mut set = JoinSet::new();
            let panicked = set.spawn(async { panic!("dropped by shutdown") });
            until(|| panicked.is_finished()).await;
            set.shutdown().await;
        });
        drop(rt);
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(reports[0].contains("dropped by shutdown"), "{}", reports[0]);
    });
}

#[test]
fn a_detached_task_that_panics_is_reported() {
    both_flavors("panic detached", |multi| {
        let reports = Reports::default();
        let rt = runtime(multi, &reports);
        rt.block_on(async {
            let mut set = JoinSet::new();
            let (tx, rx) = oneshot::channel::<()>();
            let task = set.spawn(async move {
                rx.await.unwrap();
                panic!("after detach");
            });
            set.detach_all();
            tx.send(()).unwrap();
            until(|| task.is_finished()).await;
        });
        drop(rt);
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(reports[0].contains("after detach"), "{}", reports[0]);
    });
}

#[test]
fn aborted_tasks_are_not_reported() {
    both_flavors("abort not reported", |multi| {
        let reports = Reports::default();
        let rt = runtime(multi, &reports);
        rt.block_on(async {
            let mut set = JoinSet::new();
            for _ in 0..5 {
                set.spawn(std::future::pending::<()>());
            }
            settle().await;
            drop(set);
            settle().await;
        });
        drop(rt);
        assert!(reports.lock().unwrap().is_empty(), "{reports:?}");
    });
}

#[tether::test]
async fn join_all_returns_every_output() {
    let set: JoinSet<u32> = (0..10).map(|i| async move { i * 2 }).collect();
    let mut all = set.join_all().await;
    all.sort_unstable();
    assert_eq!(all, (0..10).map(|i| i * 2).collect::<Vec<_>>());
}

#[test]
fn join_all_resumes_a_panic_and_aborts_the_rest() {
    let rt = runtime(false, &Reports::default());
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let err = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async move {
            let mut set = JoinSet::new();
            let guard = OnDrop(d);
            set.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            });
            set.spawn(async { panic!("one of many") });
            set.join_all().await
        })
    }))
    .unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"one of many"));
    rt.block_on(settle());
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the pending task was aborted"
    );
}

#[tether::test(start_paused = true)]
async fn join_next_is_cancel_safe() {
    let mut set = JoinSet::new();
    let (tx, rx) = oneshot::channel::<()>();
    set.spawn(async move {
        rx.await.unwrap();
        "done"
    });
    let timed_out = tether::time::timeout(Duration::from_millis(10), set.join_next()).await;
    assert!(timed_out.is_err());
    tx.send(()).unwrap();
    assert_eq!(set.join_next().await.unwrap().unwrap(), "done");
}

#[test]
fn tasks_in_a_set_observe_a_graceful_shutdown() {
    let rt = runtime(false, &Reports::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let set = rt.block_on(async move {
        let mut set = JoinSet::new();
        set.spawn(async move {
            tether::task::cancelled().await;
            tx.send("closed cleanly").unwrap();
        });
        settle().await;
        set
    });
    let cut_off = rt.shutdown_graceful(Duration::from_secs(5));
    assert!(cut_off.is_empty(), "{cut_off:?}");
    assert_eq!(rx.recv().unwrap(), "closed cleanly");
    drop(set);
}

/// Draws the dump from inside the owner, while the set's tasks wait.
fn dump_shows_the_set_under_its_owner(multi: bool) {
    let rt = runtime(multi, &Reports::default());
    rt.block_on(async {
        let owner = tether::task::Builder::new().name("owner").spawn(async {
            let line = line!() + 1;
            let mut set = JoinSet::new();
            for _ in 0..2 {
                set.spawn(std::future::pending::<()>());
            }
            settle().await;
            let dump = Handle::current().dump();
            (tether::task::id(), line, dump)
        });
        let (owner_id, line, dump) = owner.await.unwrap();
        let text = dump.to_string();
        let members: Vec<_> = dump
            .tasks()
            .iter()
            .filter(|t| t.join_set().is_some())
            .collect();
        assert_eq!(members.len(), 2, "{text}");
        for t in &members {
            let set = t.join_set().unwrap();
            assert_eq!(set.owner(), Some(owner_id));
            assert_eq!(set.location().line(), line);
            assert!(t.is_root(), "a set's tasks are in the root scope");
            assert!(t.scope().is_none());
        }
        let id = members[0].join_set().unwrap().id();
        let owner_line = text
            .lines()
            .position(|l| l.contains("\"owner\" spawned at"))
            .unwrap_or_else(|| panic!("{text}"));
        let set_line = format!("join set {id} at ");
        let set_site = format!("tests/join_set.rs:{line}:");
        let lines: Vec<&str> = text.lines().collect();
        // The set hangs one level below its owner, and its two tasks one below the set.
        let set_at = lines
            .iter()
            .position(|l| l.contains(&set_line) && l.contains(&set_site))
            .unwrap_or_else(|| panic!("no `{set_line}...{set_site}` in\n{text}"));
        assert!(set_at > owner_line, "{text}");
        assert!(lines[set_at].contains("2 tasks"), "{text}");
        assert!(lines[set_at].starts_with("│  └─ ") || lines[set_at].starts_with("   └─ "));
        for l in &lines[set_at + 1..set_at + 3] {
            assert!(l.contains("tests/join_set.rs"), "{text}");
            assert!(
                l.contains("   ├─ task") || l.contains("   └─ task"),
                "{text}"
            );
        }
    });
}

#[test]
fn dump_current_thread() {
    dump_shows_the_set_under_its_owner(false);
}

#[test]
fn dump_multi_thread() {
    dump_shows_the_set_under_its_owner(true);
}

#[test]
fn a_set_made_in_block_on_hangs_from_the_root() {
    let rt = runtime(false, &Reports::default());
    rt.block_on(async {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let mut set = JoinSet::new();
        set.spawn_blocking(move || rx.recv().unwrap());
        set.spawn(std::future::pending::<()>());
        let text = Handle::current().dump().to_string();
        assert!(
            text.contains("(created outside a task) · 2 tasks"),
            "{text}"
        );
        // Its blocking job is drawn in the set, not under the blocking pool.
        assert!(
            !text.lines().any(|l| l.ends_with("─ blocking pool")),
            "{text}"
        );
        tx.send(()).unwrap();
        set.shutdown().await;
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "too slow interpreted; the other tests take the same paths"
)]
fn a_hundred_thousand_tasks_through_one_set() {
    both_flavors("100k", |multi| {
        const N: u64 = 100_000;
        let rt = runtime(multi, &Reports::default());
        let (sum, count) = rt.block_on(async {
            let mut set = JoinSet::new();
            for i in 0..N {
                set.spawn(async move { i });
            }
            assert_eq!(set.len(), N as usize);
            let (mut sum, mut count) = (0, 0);
            while let Some(res) = set.join_next().await {
                sum += res.unwrap();
                count += 1;
            }
            (sum, count)
        });
        assert_eq!(count, N);
        assert_eq!(sum, N * (N - 1) / 2);
    });
}

#[test]
fn join_set_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn unpin<T: Unpin>() {}
    send_sync::<JoinSet<u32>>();
    unpin::<JoinSet<Rc<u32>>>();
    send_sync::<tether::diag::JoinSetInfo>();
}

/// A set's tasks may run on two runtimes (`spawn_on`): each task's metadata knows its runtime
/// through the set's token, which is made for each runtime the set spawns on; both runtimes'
/// dumps name the one set, and every task is woken and run by its own runtime.
#[test]
fn a_set_spawns_on_two_runtimes_and_each_task_runs_on_its_own() {
    within(LIMIT, "a set on two runtimes", || {
        let reports = Reports::default();
        let a = runtime(true, &reports);
        let b = runtime(true, &reports);
        let b_handle = b.handle().clone();
        let on_b = b_handle.clone();
        let mut set = JoinSet::new();
        let out = a.block_on(async move {
            let (tx_a, rx_a) = oneshot::channel::<u32>();
            let (tx_b, rx_b) = oneshot::channel::<u32>();
            set.spawn(async move { (rx_a.await.unwrap(), Handle::current().dump().tasks().len()) });
            set.spawn_on(
                async move { (rx_b.await.unwrap(), Handle::current().dump().tasks().len()) },
                &on_b,
            );
            set.spawn(async { (3, Handle::current().dump().tasks().len()) });
            until(|| b_handle.dump().tasks().len() == 1).await;
            let named = |h: &Handle| {
                h.dump()
                    .tasks()
                    .iter()
                    .filter_map(|t| t.join_set().map(|s| s.id()))
                    .collect::<Vec<_>>()
            };
            let (in_a, in_b) = (named(&Handle::current()), named(&b_handle));
            assert_eq!(in_b.len(), 1, "the task on b names the set");
            assert!(in_a.contains(&in_b[0]), "a's tasks name the same set");
            tx_a.send(1).unwrap();
            tx_b.send(2).unwrap();
            let mut out = Vec::new();
            while let Some(res) = set.join_next().await {
                out.push(res.unwrap());
            }
            out.sort();
            out
        });
        // Each task saw its own runtime: the one on b was b's only task when it finished.
        assert_eq!(out.iter().map(|&(n, _)| n).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(out[1].1, 1, "the task on b ran on b");
        assert!(reports.lock().unwrap().is_empty());
    });
}
