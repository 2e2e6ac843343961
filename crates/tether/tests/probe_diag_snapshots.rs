//! Probes of the diagnostics as a production server reaches them: dumps, live task lists and
//! metrics taken while two workers spawn and finish tasks as fast as they can (no deadlock, no
//! finished task listed, counts consistent), tasks spawned on one thread and finished on
//! another (the registry's shards), the watchdog and the shutdown reports around a task
//! blocked in `block_in_place`.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use support::bounded::within;
use tether::diag::{Diagnostic, DiagnosticKind};
use tether::runtime::Builder;
use tether::task::block_in_place;

const LIMIT: Duration = Duration::from_secs(120);

/// Snapshots taken from another thread while two workers spawn and complete tasks in a loop:
/// they return (no deadlock with the spawns and completions, which take the same locks), list
/// each task once, in id order, never a task whose `JoinHandle` had already returned before
/// the snapshot began, and the metrics' live count stays within what was spawned.
#[test]
fn snapshots_under_heavy_spawning_are_consistent() {
    within(LIMIT, "snapshots under load", || {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .on_diagnostic(|_| {})
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        let stop = Arc::new(AtomicBool::new(false));
        // Ids of tasks whose `JoinHandle` returned: finished, out of the registry.
        let done: Arc<Mutex<HashSet<u64>>> = Arc::default();
        let joined = Arc::new(AtomicU64::new(0));
        let spawners: Vec<_> = (0..4)
            .map(|_| {
                let (stop, done, joined) = (stop.clone(), done.clone(), joined.clone());
                rt.spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let batch: Vec<_> = (0..64)
                            .map(|i| {
                                tether::spawn(async move {
                                    if i % 2 == 0 {
                                        tether::task::yield_now().await;
                                    }
                                    tether::task::id().as_u64()
                                })
                            })
                            .collect();
                        let mut ids = Vec::with_capacity(batch.len());
                        for h in batch {
                            ids.push(h.await.unwrap());
                        }
                        joined.fetch_add(ids.len() as u64, Ordering::Relaxed);
                        done.lock().unwrap().extend(ids);
                    }
                })
            })
            .collect();
        let mut snapshots = 0;
        while joined.load(Ordering::Relaxed) < 200_000 && snapshots < 2_000 {
            let finished: HashSet<u64> = done.lock().unwrap().clone();
            let tasks = if snapshots % 2 == 0 {
                handle.live_tasks()
            } else {
                handle.dump().tasks().to_vec()
            };
            let m = handle.metrics();
            let ids: Vec<u64> = tasks.iter().map(|t| t.id().as_u64()).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "not in id order");
            for id in &ids {
                assert!(
                    !finished.contains(id),
                    "task {id} listed after its JoinHandle returned"
                );
            }
            // 4 spawners and at most 64 tasks of each batch are alive at once.
            assert!(m.live_tasks() <= 4 + 4 * 64, "live {}", m.live_tasks());
            // No `live_tasks() <= spawned_tasks()`: the counters lag the registry by up to a
            // few dozen polls per worker (`RuntimeMetrics`' docs), so early on a snapshot can
            // see more tasks alive than the counter has recorded spawned (CI caught it).
            snapshots += 1;
        }
        stop.store(true, Ordering::Relaxed);
        rt.block_on(async {
            for s in spawners {
                s.await.unwrap();
            }
        });
        assert_eq!(handle.metrics().live_tasks(), 0);
        assert!(handle.live_tasks().is_empty());
    });
}

/// Tasks spawned from many plain threads (more threads than the registry has shards), each
/// finished on whichever worker: the registry ends empty, every count back to zero.
#[test]
fn tasks_spawned_on_one_thread_and_finished_on_another_leave_the_registry() {
    within(LIMIT, "cross-thread completion", || {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        let (tx, rx) = mpsc::channel();
        let threads: Vec<_> = (0..40)
            .map(|_| {
                let (handle, tx) = (handle.clone(), tx.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let (wake_tx, wake_rx) = tether::sync::oneshot::channel::<()>();
                        let h = handle.spawn(async move {
                            let _ = wake_rx.await;
                        });
                        tx.send((h, wake_tx)).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        for t in threads {
            t.join().unwrap();
        }
        let pairs: Vec<_> = rx.into_iter().collect();
        assert_eq!(handle.metrics().live_tasks(), 8_000);
        assert_eq!(handle.live_tasks().len(), 8_000);
        rt.block_on(async move {
            let mut joins = Vec::new();
            for (h, wake) in pairs {
                wake.send(()).unwrap();
                joins.push(h);
            }
            for h in joins {
                h.await.unwrap();
            }
        });
        assert_eq!(handle.metrics().live_tasks(), 0);
        assert!(handle.live_tasks().is_empty());
    });
}

/// A task blocked in `block_in_place` past the watchdog limit is not reported as blocking its
/// worker (its worker runs on a helper thread meanwhile), and the worker's other tasks run.
#[test]
fn block_in_place_past_the_watchdog_limit_is_not_a_stuck_worker() {
    within(LIMIT, "watchdog and block_in_place", || {
        let reports: Arc<Mutex<Vec<Diagnostic>>> = Arc::default();
        let sink = reports.clone();
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .watchdog_limit(Duration::from_millis(20))
            .slow_poll_threshold(Duration::from_millis(5))
            .on_diagnostic(move |d| sink.lock().unwrap().push(d.clone()))
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, rx) = mpsc::channel();
            let blocker = tether::task::Builder::new()
                .name("in-place")
                .spawn(async move {
                    block_in_place(|| rx.recv_timeout(Duration::from_secs(30)).unwrap());
                });
            // Give the watchdog many ticks while the closure blocks (bounded by the timer).
            tether::time::sleep(Duration::from_millis(200)).await;
            tether::spawn(async move { tx.send(()).unwrap() })
                .await
                .unwrap();
            blocker.await.unwrap();
        });
        drop(rt);
        let reports = reports.lock().unwrap();
        assert!(
            !reports.iter().any(|d| d.task_name() == Some("in-place")),
            "{:?}",
            reports.iter().map(|d| d.to_string()).collect::<Vec<_>>()
        );
    });
}

/// `shutdown_timeout` while a task blocks in `block_in_place` and never comes back: the
/// shutdown returns after its timeout and names the task that kept its worker from stopping,
/// as it names a task stuck in an ordinary poll (`DiagnosticKind::BlocksShutdown`).
#[test]
fn shutdown_timeout_names_a_task_stuck_in_block_in_place() {
    within(LIMIT, "shutdown_timeout and block_in_place", || {
        for in_place in [false, true] {
            let reports: Arc<Mutex<Vec<Diagnostic>>> = Arc::default();
            let sink = reports.clone();
            let rt = Builder::new_multi_thread()
                .worker_threads(2)
                .on_diagnostic(move |d| sink.lock().unwrap().push(d.clone()))
                .build()
                .unwrap();
            let (started_tx, started_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            tether::task::Builder::new().name("stuck").spawn_on(
                async move {
                    let wait = move || {
                        started_tx.send(()).unwrap();
                        let _ = release_rx.recv();
                    };
                    if in_place {
                        block_in_place(wait);
                    } else {
                        wait();
                    }
                },
                rt.handle(),
            );
            started_rx.recv().unwrap();
            rt.shutdown_timeout(Duration::from_millis(100));
            drop(release_tx);
            let reports = reports.lock().unwrap();
            assert!(
                reports
                    .iter()
                    .any(|d| d.kind() == DiagnosticKind::BlocksShutdown
                        && d.task_name() == Some("stuck")),
                "in_place={in_place}: {:?}",
                reports.iter().map(|d| d.to_string()).collect::<Vec<_>>()
            );
        }
    });
}

/// A dump taken while a task blocks in `block_in_place` says what it does: it blocks its
/// thread (it showed as idle, as if it waited for a wake-up).
#[test]
fn a_dump_shows_a_task_in_block_in_place_as_blocking() {
    within(LIMIT, "dump and block_in_place", || {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let h = tether::task::Builder::new().name("in-place").spawn_on(
            async move {
                block_in_place(|| {
                    started_tx.send(()).unwrap();
                    let _ = release_rx.recv_timeout(Duration::from_secs(30));
                })
            },
            rt.handle(),
        );
        started_rx.recv().unwrap();
        let dump = rt.handle().dump();
        release_tx.send(()).unwrap();
        rt.block_on(h).unwrap();
        let t = dump
            .tasks()
            .iter()
            .find(|t| t.name() == Some("in-place"))
            .unwrap();
        assert_eq!(t.state(), tether::diag::TaskState::Blocking, "{dump}");
        assert!(!t.is_blocking(), "not a spawn_blocking job");
        assert!(
            dump.to_string().contains("blocking in block_in_place"),
            "{dump}"
        );
        // Once the closure returned, the task is no longer listed as blocking.
        assert!(rt.handle().live_tasks().is_empty());
    });
}
