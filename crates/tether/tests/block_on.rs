//! Getting into a runtime the tokio way: `Runtime::new()` (multi-thread), `Handle::block_on` from
//! outside the runtime's tasks (and its clear panic inside them), and the builder's
//! `enable_*` calls, which tether accepts and ignores.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use support::bounded::within;
use tether::runtime::{Builder, Handle, Runtime};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn runtime_new_is_multi_thread_with_a_worker_per_core() {
    let rt = Runtime::new().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(rt.handle().metrics().workers(), cores as u64);
    let dump = rt.handle().dump().to_string();
    assert!(dump.contains("multi-thread"), "{dump}");
    let name = rt.block_on(async {
        tether::spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap()
    });
    assert!(name.unwrap().starts_with("tether-worker-"));
}

fn flavors() -> [Runtime; 2] {
    [
        Builder::new_current_thread().build().unwrap(),
        Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap(),
    ]
}

#[test]
fn handle_block_on_from_a_plain_thread_runs_tasks_and_timers() {
    within(LIMIT, "Handle::block_on from a thread", || {
        for rt in flavors() {
            let handle = rt.handle().clone();
            let out = std::thread::spawn(move || {
                handle.block_on(async {
                    // A timer and a task: on the current-thread flavor this thread drives the
                    // runtime, as no other thread does.
                    tether::time::sleep(Duration::from_millis(5)).await;
                    tether::spawn(async { 40 }).await.unwrap() + 2
                })
            })
            .join()
            .unwrap();
            assert_eq!(out, 42);
        }
    });
}

#[test]
fn handle_block_on_while_another_thread_drives_a_current_thread_runtime() {
    within(LIMIT, "Handle::block_on beside Runtime::block_on", || {
        let rt = Builder::new_current_thread().build().unwrap();
        let handle = rt.handle().clone();
        let (tx, rx) = tether::sync::oneshot::channel::<u32>();
        let waiter = std::thread::spawn(move || handle.block_on(rx).unwrap());
        rt.block_on(async {
            // This thread drives the runtime; the task it runs wakes the other thread's future.
            tether::spawn(async move {
                tether::time::sleep(Duration::from_millis(5)).await;
                tx.send(7).unwrap();
            })
            .await
            .unwrap();
        });
        assert_eq!(waiter.join().unwrap(), 7);
    });
}

#[test]
fn handle_block_on_from_a_blocking_job() {
    within(LIMIT, "Handle::block_on in spawn_blocking", || {
        for rt in flavors() {
            let out = rt.block_on(async {
                let handle = Handle::current();
                tether::task::spawn_blocking(move || {
                    handle.block_on(async { tether::spawn(async { "from the pool" }).await })
                })
                .await
                .unwrap()
                .unwrap()
            });
            assert_eq!(out, "from the pool");
        }
    });
}

#[test]
fn handle_block_on_inside_a_task_panics_with_what_to_do() {
    for rt in flavors() {
        let msg = rt.block_on(async {
            tether::spawn(async {
                let handle = Handle::current();
                let err = catch_unwind(AssertUnwindSafe(|| handle.block_on(async {}))).unwrap_err();
                err.downcast_ref::<String>().unwrap().clone()
            })
            .await
            .unwrap()
        });
        assert!(msg.contains("Handle::block_on was called at"), "{msg}");
        assert!(msg.contains("tests/block_on.rs"), "{msg}");
        assert!(msg.contains("from inside a tether runtime"), "{msg}");
        assert!(msg.contains(".await"), "{msg}");
        assert!(msg.contains("block_in_place"), "{msg}");
    }
}

#[test]
fn handle_block_on_in_a_block_on_future_panics() {
    let rt = Builder::new_current_thread().build().unwrap();
    let err = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async { Handle::current().block_on(async {}) })
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("Handle::block_on"), "{msg}");
}

#[test]
fn handle_block_on_after_the_runtime_is_dropped_still_polls_the_future() {
    within(LIMIT, "Handle::block_on after drop", || {
        for rt in flavors() {
            let handle = rt.handle().clone();
            drop(rt);
            let (plain, spawned) = handle.block_on(async {
                let spawned = tether::spawn(async { 1 }).await;
                (5, spawned)
            });
            assert_eq!(plain, 5);
            assert!(spawned.unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn enable_all_io_and_time_are_accepted_and_change_nothing() {
    for mut b in [Builder::new_current_thread(), Builder::new_multi_thread()] {
        let rt = b.enable_all().enable_io().enable_time().build().unwrap();
        rt.block_on(async {
            tether::time::sleep(Duration::from_millis(1)).await;
            let listener = tether::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            assert!(listener.local_addr().unwrap().port() > 0);
        });
    }
}
