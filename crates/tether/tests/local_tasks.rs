//! `spawn_local`: a local task's future is polled and dropped only on the thread that spawned
//! it, whichever thread wakes it, drives its runtime, aborts it or drops the runtime
//! (`task/local.rs`, rules 1-5).
//!
//! Every test runs its body on a thread of its own and fails instead of hanging.

// Several tests spawn a local task inside `block_on` and return its `JoinHandle` unawaited, on
// purpose: the task must wait for its own thread.
#![allow(clippy::async_yields_async)]

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

mod support;

use tether::runtime::{Builder, Runtime};
use tether::sync::oneshot;

// Interpreted under Miri, the same work takes minutes.
const LIMIT: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 20 });

/// Runs `body` on its own thread; a hang becomes a failure after 20 s (200 s under Miri,
/// which `within` scales for itself).
fn bounded(body: impl FnOnce() + Send + 'static) {
    support::bounded::within(Duration::from_secs(20), "the test", body)
}

fn rt() -> Runtime {
    Builder::new_current_thread().build().unwrap()
}

/// Records the thread it was dropped on.
struct DropSite(Arc<Mutex<Option<ThreadId>>>);

impl DropSite {
    fn new() -> (DropSite, Arc<Mutex<Option<ThreadId>>>) {
        let site = Arc::new(Mutex::new(None));
        (DropSite(site.clone()), site)
    }
}

impl Drop for DropSite {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(thread::current().id());
    }
}

/// A `!Send` future that waits for `rx`, then reports the thread it finished on.
fn waits_then_reports(rx: oneshot::Receiver<()>) -> impl std::future::Future<Output = ThreadId> {
    let not_send = Rc::new(Cell::new(0));
    async move {
        let _ = rx.await;
        not_send.set(1);
        thread::current().id()
    }
}

#[test]
fn a_local_task_woken_from_a_plain_thread_runs_on_its_thread() {
    bounded(|| {
        let me = thread::current().id();
        let ran_on = rt().block_on(async {
            let (tx, rx) = oneshot::channel();
            let task = tether::task::spawn_local(waits_then_reports(rx));
            thread::spawn(move || tx.send(()).unwrap()).join().unwrap();
            task.await.unwrap()
        });
        assert_eq!(ran_on, me);
    });
}

#[test]
fn another_thread_driving_the_runtime_never_runs_a_local_task() {
    bounded(|| {
        let rt = rt();
        let me = thread::current().id();
        let (tx, rx) = oneshot::channel();
        let task = rt.block_on(async { tether::task::spawn_local(waits_then_reports(rx)) });
        thread::scope(|s| {
            s.spawn(|| {
                // This thread drives the runtime now and wakes the local task itself.
                rt.block_on(async {
                    tx.send(()).unwrap();
                    for _ in 0..100 {
                        tether::task::yield_now().await;
                    }
                });
            });
        });
        assert!(
            !task.is_finished(),
            "the local task ran on the other thread"
        );
        // Back on its thread, the task runs.
        assert_eq!(rt.block_on(task).unwrap(), me);
    });
}

#[test]
fn spawn_local_works_on_a_thread_waiting_for_the_core_and_the_task_runs_once_it_has_it() {
    bounded(|| {
        let rt = rt();
        let me = thread::current().id();
        let (holding_tx, holding_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        thread::scope(|s| {
            let rt = &rt;
            s.spawn(move || {
                // Holds the core (blocking inside its poll) until released.
                rt.block_on(async move {
                    holding_tx.send(()).unwrap();
                    release_rx.recv_timeout(LIMIT).unwrap();
                })
            });
            holding_rx.recv_timeout(LIMIT).unwrap();
            let ran_on = rt.block_on(async {
                // The other thread holds the core: this future is polled while waiting for it.
                let task = tether::task::spawn_local(waits_then_reports(ready_rx()));
                release_tx.send(()).unwrap();
                task.await.unwrap()
            });
            assert_eq!(ran_on, me);
        });
    });
}

#[test]
fn two_threads_sharing_a_runtime_each_run_only_their_own_local_tasks() {
    // Under Miri, which takes seconds for each round, a few rounds.
    let rounds = if cfg!(miri) { 4 } else { 20 };
    bounded(move || {
        let rt = rt();
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let me = thread::current().id();
                    for _ in 0..rounds {
                        let ran_on = rt.block_on(async {
                            let tasks: Vec<_> = (0..10)
                                .map(|_| {
                                    tether::task::spawn_local(async {
                                        let not_send = Rc::new(());
                                        tether::task::yield_now().await;
                                        drop(not_send);
                                        thread::current().id()
                                    })
                                })
                                .collect();
                            let mut ran_on = Vec::new();
                            for t in tasks {
                                ran_on.push(t.await.unwrap());
                            }
                            ran_on
                        });
                        assert!(
                            ran_on.iter().all(|&t| t == me),
                            "a local task moved threads"
                        );
                    }
                });
            }
        });
    });
}

#[test]
fn a_local_task_aborted_from_another_thread_is_dropped_on_its_thread() {
    bounded(|| {
        let me = thread::current().id();
        let (site, dropped_on) = DropSite::new();
        let err = rt().block_on(async move {
            let not_send = Rc::new(site);
            let task = tether::task::spawn_local(async move {
                let _keep = not_send;
                std::future::pending::<()>().await;
            });
            tether::task::yield_now().await;
            let abort = task.abort_handle();
            thread::spawn(move || abort.abort()).join().unwrap();
            task.await.unwrap_err()
        });
        assert!(err.is_cancelled());
        assert_eq!(*dropped_on.lock().unwrap(), Some(me));
    });
}

#[test]
fn a_runtime_dropped_on_its_spawning_thread_drops_local_tasks_there_at_once() {
    bounded(|| {
        let me = thread::current().id();
        let (site, dropped_on) = DropSite::new();
        let rt = rt();
        rt.block_on(async move {
            let not_send = Rc::new(site);
            drop(tether::task::spawn_local(async move {
                let _keep = not_send;
                std::future::pending::<()>().await;
            }));
            tether::task::yield_now().await;
        });
        drop(rt);
        assert_eq!(*dropped_on.lock().unwrap(), Some(me));
    });
}

/// Spawns a pending local task holding a `DropSite` on a new thread, hands the runtime to this
/// thread, which drops it, then lets the spawner continue with `after` (given where the future
/// was dropped) and exit.
fn runtime_dropped_elsewhere(after: impl FnOnce(&Mutex<Option<ThreadId>>) + Send + 'static) {
    bounded(move || {
        let (site, dropped_on) = DropSite::new();
        let (rt_tx, rt_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let spawner = {
            let dropped_on = dropped_on.clone();
            thread::spawn(move || {
                let rt = rt();
                rt.block_on(async move {
                    let not_send = Rc::new(site);
                    drop(tether::task::spawn_local(async move {
                        let _keep = not_send;
                        std::future::pending::<()>().await;
                    }));
                    tether::task::yield_now().await;
                });
                rt_tx.send(rt).unwrap();
                go_rx.recv_timeout(LIMIT).unwrap();
                after(&dropped_on);
                thread::current().id()
            })
        };
        let rt = rt_rx.recv_timeout(LIMIT).unwrap();
        drop(rt);
        assert_eq!(
            *dropped_on.lock().unwrap(),
            None,
            "a local future was dropped on the thread that dropped the runtime"
        );
        go_tx.send(()).unwrap();
        let spawner_id = spawner.join().unwrap();
        assert_eq!(*dropped_on.lock().unwrap(), Some(spawner_id));
    });
}

#[test]
fn a_runtime_dropped_elsewhere_leaves_local_futures_to_their_thread_dropped_at_its_exit() {
    runtime_dropped_elsewhere(|_| ());
}

#[test]
fn a_runtime_dropped_elsewhere_leaves_local_futures_to_their_thread_dropped_at_its_next_block_on() {
    runtime_dropped_elsewhere(|dropped_on| {
        assert_eq!(*dropped_on.lock().unwrap(), None);
        // The next block_on on this thread, of any current-thread runtime, drops them.
        rt().block_on(async {});
        assert_eq!(*dropped_on.lock().unwrap(), Some(thread::current().id()));
    });
}

#[test]
fn a_thread_that_exits_cancels_its_local_tasks_on_a_runtime_that_lives_on() {
    bounded(|| {
        let rt = Arc::new(rt());
        let (site, dropped_on) = DropSite::new();
        let spawner = {
            let rt = rt.clone();
            thread::spawn(move || {
                let task = rt.block_on(async move {
                    let not_send = Rc::new(site);
                    tether::task::spawn_local(async move {
                        let _keep = not_send;
                        std::future::pending::<()>().await;
                    })
                });
                (task, thread::current().id())
            })
        };
        let (task, spawner_id) = spawner.join().unwrap();
        assert_eq!(*dropped_on.lock().unwrap(), Some(spawner_id));
        let err = rt.block_on(task).unwrap_err();
        assert!(err.is_cancelled());
    });
}

#[test]
fn spawn_local_works_inside_local_and_spawned_tasks_on_the_driving_thread() {
    bounded(|| {
        let me = thread::current().id();
        let (a, b) = rt().block_on(async {
            let in_local = tether::task::spawn_local(async {
                tether::task::spawn_local(waits_then_reports(ready_rx()))
                    .await
                    .unwrap()
            });
            // A `Send` task running on the driving thread may spawn local tasks there too.
            let in_spawned =
                tether::spawn(async { tether::task::spawn_local(waits_then_reports(ready_rx())) });
            let inner = in_spawned.await.unwrap();
            (in_local.await.unwrap(), inner.await.unwrap())
        });
        assert_eq!(a, me);
        assert_eq!(b, me);
    });
}

/// A receiver whose value is already sent.
fn ready_rx() -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    tx.send(()).unwrap();
    rx
}
