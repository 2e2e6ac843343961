//! `task::block_in_place`: on a multi-thread runtime the blocked task's worker is lent to a
//! helper thread, so the worker's queued tasks (its LIFO slot included) and new work keep running
//! while the task blocks; the blocking is not reported as a slow poll; loans nest; the worker
//! comes back when the poll ends. On a current-thread runtime it panics; elsewhere it just runs
//! the closure.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use support::bounded::within;
use tether::diag::Diagnostic;
use tether::runtime::{Builder, Handle, Runtime};
use tether::task::{block_in_place, spawn_blocking};

const LIMIT: Duration = Duration::from_secs(60);
/// How long a closure waits for something that must happen while it blocks: only reached when
/// the worker was not handed over (then the test fails, it does not hang).
const PATIENCE: Duration = Duration::from_secs(20);

fn multi(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// The names of this process's threads (from `/proc`: Linux only).
#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

/// Threads of this process whose name starts with `prefix`.
#[cfg(target_os = "linux")]
fn threads_named(prefix: &str) -> usize {
    thread_names()
        .iter()
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[test]
fn a_task_woken_into_the_lifo_slot_runs_while_its_waker_blocks() {
    within(LIMIT, "LIFO handover", || {
        let rt = multi(1);
        let got = rt.block_on(async {
            tether::spawn(async {
                let (tx, rx) = mpsc::channel();
                // Spawned from the worker: it waits in this worker's LIFO slot, which only
                // this worker runs.
                let other = tether::spawn(async move { tx.send("ran").unwrap() });
                let got = block_in_place(|| rx.recv_timeout(PATIENCE));
                other.await.unwrap();
                got
            })
            .await
            .unwrap()
        });
        assert_eq!(
            got,
            Ok("ran"),
            "the queued task did not run while its waker blocked"
        );
    });
}

#[test]
fn new_work_runs_while_the_only_worker_blocks() {
    within(LIMIT, "one worker", || {
        let rt = multi(1);
        let (tx, rx) = mpsc::channel();
        let blocked = rt.spawn(async move { block_in_place(|| rx.recv_timeout(PATIENCE)) });
        // Spawned from outside, after the task blocked (or before: either way it must run).
        let sender = rt.spawn(async move {
            tether::time::sleep(Duration::from_millis(1)).await;
            tx.send(5).unwrap();
        });
        rt.block_on(async {
            sender.await.unwrap();
            assert_eq!(blocked.await.unwrap(), Ok(5));
        });
    });
}

#[test]
fn loans_nest_until_every_task_blocks_at_once() {
    within(LIMIT, "nested loans", || {
        const TASKS: usize = 8;
        let rt = multi(2);
        let barrier = Arc::new(Barrier::new(TASKS));
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let b = barrier.clone();
                rt.spawn(async move {
                    // Every task blocks until all of them block: only possible if each blocked
                    // worker was handed to a helper that went on to the next task.
                    block_in_place(|| b.wait());
                    i
                })
            })
            .collect();
        let sum: usize = rt.block_on(async {
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, TASKS * (TASKS - 1) / 2);
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri runs code a thousand times slower: any poll may pass a 5 ms threshold"
)]
fn blocking_in_place_is_not_a_slow_poll() {
    within(LIMIT, "no slow-poll report", || {
        let reports: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = reports.clone();
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .slow_poll_threshold(Duration::from_millis(5))
            .watchdog_limit(Duration::from_millis(20))
            .on_diagnostic(move |d: &Diagnostic| sink.lock().unwrap().push(d.to_string()))
            .build()
            .unwrap();
        rt.block_on(async {
            tether::task::Builder::new()
                .name("blocker")
                .spawn(async { block_in_place(|| std::thread::sleep(Duration::from_millis(200))) })
                .await
                .unwrap();
        });
        drop(rt);
        let reports = reports.lock().unwrap();
        assert!(
            !reports.iter().any(|r| r.contains("blocker")),
            "blocking in place was reported: {reports:?}"
        );
    });
}

#[test]
fn handle_block_on_inside_block_in_place() {
    within(LIMIT, "block_on inside", || {
        let rt = multi(2);
        let out = rt.block_on(async {
            tether::spawn(async {
                let handle = Handle::current();
                block_in_place(move || {
                    handle.block_on(async { tether::spawn(async { 21 }).await.unwrap() * 2 })
                })
            })
            .await
            .unwrap()
        });
        assert_eq!(out, 42);
    });
}

#[test]
fn a_second_block_in_place_in_the_same_poll_runs_at_once() {
    within(LIMIT, "twice in one poll", || {
        let rt = multi(1);
        let out = rt.block_on(async {
            tether::spawn(async {
                let a = block_in_place(|| 1);
                // This thread lent its worker in this poll: nothing is lent twice.
                let b = block_in_place(|| 2);
                tether::task::yield_now().await;
                // A new poll: the worker is back, and can be lent again.
                let c = block_in_place(|| 3);
                a + b + c
            })
            .await
            .unwrap()
        });
        assert_eq!(out, 6);
    });
}

#[test]
fn a_panic_in_the_closure_is_the_task_s_and_the_worker_comes_back() {
    within(LIMIT, "panic in place", || {
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .on_unhandled_failure(|_| {})
            .build()
            .unwrap();
        rt.block_on(async {
            let err = tether::spawn(async { block_in_place(|| panic!("in place")) })
                .await
                .unwrap_err();
            assert!(err.is_panic());
            // The worker was taken back: the runtime still runs tasks (ten under Miri, which
            // takes a second for each on a multi-thread runtime).
            let n = if cfg!(miri) { 10 } else { 100 };
            for i in 0..n {
                assert_eq!(tether::spawn(async move { i }).await.unwrap(), i);
            }
        });
    });
}

#[test]
#[cfg(target_os = "linux")]
#[cfg_attr(
    miri,
    ignore = "Miri's threads are not the OS's: /proc does not list them"
)]
fn helper_threads_exit_when_the_runtime_is_dropped() {
    within(LIMIT, "helpers exit", || {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bip")
            .build()
            .unwrap();
        rt.block_on(async {
            // Loans from both workers, some nested, some reusing an idle helper.
            let tasks: Vec<_> = (0..20u32)
                .map(|i| {
                    tether::spawn(async move {
                        let v = block_in_place(move || i);
                        tether::task::yield_now().await;
                        v + block_in_place(|| 0)
                    })
                })
                .collect();
            for (i, t) in tasks.into_iter().enumerate() {
                assert_eq!(t.await.unwrap(), i as u32);
            }
        });
        drop(rt);
        // The shutdown closed the helper pool: idle helpers exit at once (their keep-alive is
        // 10 s), busy ones when their worker's loop sees the runtime closed.
        while threads_named("bip-") > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

#[test]
fn dropping_the_runtime_waits_for_a_closure_in_place() {
    within(LIMIT, "shutdown during block_in_place", || {
        let rt = multi(2);
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        rt.spawn(async move {
            block_in_place(|| {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                done_tx.send("closure finished").unwrap();
            })
        });
        started_rx.recv().unwrap();
        let dropper = std::thread::spawn(move || drop(rt));
        release_tx.send(()).unwrap();
        dropper.join().unwrap();
        assert_eq!(done_rx.recv().unwrap(), "closure finished");
    });
}

/// The worker's own thread waits for the helper to give the worker back; the helper, in a
/// task's poll, drops the runtime, whose shutdown must not wait for that thread in turn.
#[test]
fn a_helper_may_drop_the_runtime_while_the_lender_waits_for_it() {
    within(LIMIT, "drop from a helper", || {
        let rt = multi(1);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (rt_tx, rt_rx) = mpsc::channel::<Runtime>();
        let (done_tx, done_rx) = mpsc::channel();
        rt.spawn(async move {
            block_in_place(|| go_rx.recv().unwrap());
            // The poll ends here: this thread asks for its worker back.
        });
        rt.spawn(async move {
            // The only worker is blocked in place: this runs on the helper.
            let rt = rt_rx.recv_timeout(PATIENCE).unwrap();
            go_tx.send(()).unwrap();
            drop(rt);
            done_tx.send("dropped").unwrap();
        });
        rt_tx.send(rt).unwrap();
        assert_eq!(done_rx.recv_timeout(PATIENCE), Ok("dropped"));
    });
}

#[test]
fn on_a_current_thread_runtime_it_panics_with_what_to_do() {
    let rt = Builder::new_current_thread().build().unwrap();
    for in_task in [false, true] {
        let msg = rt.block_on(async move {
            let attempt = || {
                catch_unwind(AssertUnwindSafe(|| block_in_place(|| ())))
                    .unwrap_err()
                    .downcast_ref::<String>()
                    .unwrap()
                    .clone()
            };
            if in_task {
                tether::spawn(async move { attempt() }).await.unwrap()
            } else {
                attempt()
            }
        });
        assert!(msg.contains("current-thread runtime"), "{msg}");
        assert!(msg.contains("tests/block_in_place.rs"), "{msg}");
        assert!(msg.contains("spawn_blocking"), "{msg}");
        assert!(
            msg.contains("can call blocking only when running on the multi-threaded runtime"),
            "{msg}"
        );
    }
}

#[test]
fn elsewhere_the_closure_just_runs() {
    // Outside any runtime.
    assert_eq!(block_in_place(|| 1), 1);
    let rt = multi(1);
    rt.block_on(async {
        // In a multi-thread runtime's block_on future: not a worker.
        assert_eq!(block_in_place(|| 2), 2);
        // On the blocking pool.
        let v = spawn_blocking(|| block_in_place(|| 3)).await.unwrap();
        assert_eq!(v, 3);
        // Inside another block_in_place.
        let v = tether::spawn(async { block_in_place(|| block_in_place(|| 4)) })
            .await
            .unwrap();
        assert_eq!(v, 4);
    });
}

/// What `block_in_place` is for, and the alternative where the blocking part can move:
/// `spawn_blocking` does the same work without blocking the task (on both flavors).
#[test]
fn spawn_blocking_is_the_alternative_on_either_flavor() {
    within(LIMIT, "spawn_blocking alternative", || {
        for rt in [Builder::new_current_thread().build().unwrap(), multi(1)] {
            let (tx, rx) = mpsc::channel();
            let out = rt.block_on(async move {
                let waiting = spawn_blocking(move || rx.recv_timeout(PATIENCE));
                tether::spawn(async move { tx.send(9).unwrap() })
                    .await
                    .unwrap();
                waiting.await.unwrap()
            });
            assert_eq!(out, Ok(9));
        }
    });
}
