//! Probes of the blocking pool as a production server reaches it, against what tokio documents
//! for the same API: `spawn_blocking` once the runtime began shutting down (the job is
//! cancelled, its `JoinHandle` says so), a queue of jobs behind `max_blocking_threads` (every
//! job runs, the threads retire after their keep-alive), a panicking job (its handle gives the
//! panic; a detached one is reported once), `shutdown_timeout` with a job that never ends, and a
//! runtime dropped on another runtime's blocking thread.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use support::bounded::{wait_until, within};
use tether::diag::{Diagnostic, DiagnosticKind};
use tether::runtime::{Builder, Runtime};

const LIMIT: Duration = Duration::from_secs(60);

fn flavors() -> Vec<(&'static str, Runtime)> {
    vec![
        (
            "current_thread",
            Builder::new_current_thread().build().unwrap(),
        ),
        (
            "multi_thread",
            Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap(),
        ),
    ]
}

/// tokio: a blocking task spawned after the runtime shut down is cancelled; its `JoinHandle`
/// gives a cancelled error, without a hang or a panic.
#[test]
fn spawn_blocking_after_shutdown_is_cancelled() {
    within(LIMIT, "spawn_blocking after shutdown", || {
        for how in ["drop", "shutdown_timeout", "shutdown_background"] {
            for (flavor, rt) in flavors() {
                let handle = rt.handle().clone();
                match how {
                    "drop" => drop(rt),
                    "shutdown_timeout" => rt.shutdown_timeout(Duration::from_secs(10)),
                    _ => rt.shutdown_background(),
                }
                let ran = Arc::new(AtomicBool::new(false));
                let r = ran.clone();
                let job = handle.spawn_blocking(move || r.store(true, Ordering::SeqCst));
                let other = Builder::new_current_thread().build().unwrap();
                let err = other.block_on(job).unwrap_err();
                assert!(err.is_cancelled(), "{flavor}, {how}: {err}");
                assert!(!ran.load(Ordering::SeqCst), "{flavor}, {how}: the job ran");
                assert!(handle.live_tasks().is_empty(), "{flavor}, {how}");
            }
        }
    });
}

/// A task's destructor, run by the shutdown, that spawns a blocking job: the job is cancelled.
/// And a blocking job still running during the shutdown that spawns another and waits for it
/// (through `Handle::block_on`): it gets a cancelled error, so the shutdown, which waits for
/// the first job, does not hang.
#[test]
fn spawn_blocking_during_shutdown_is_cancelled() {
    within(LIMIT, "spawn_blocking during shutdown", || {
        for (flavor, rt) in flavors() {
            struct SpawnsOnDrop(mpsc::Sender<tether::task::JoinHandle<u32>>);
            impl Drop for SpawnsOnDrop {
                fn drop(&mut self) {
                    let _ = self.0.send(tether::task::spawn_blocking(|| 1));
                }
            }
            let (jobs_tx, jobs_rx) = mpsc::channel();
            let (started_tx, started_rx) = mpsc::channel();
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let (inner_tx, inner_rx) = mpsc::channel();
            let handle = rt.handle().clone();
            rt.block_on(async {
                let guard = SpawnsOnDrop(jobs_tx);
                tether::spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                });
                tether::task::spawn_blocking(move || {
                    started_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    let h = tether::runtime::Handle::current();
                    let inner = h.spawn_blocking(|| 2);
                    let got = h.block_on(inner);
                    inner_tx.send(got.map_err(|e| e.is_cancelled())).unwrap();
                });
                tether::task::yield_now().await;
            });
            started_rx.recv().unwrap();
            let dropper = std::thread::spawn(move || drop(rt));
            // The task's destructor ran in the shutdown, which closed the pool first.
            let from_destructor = jobs_rx.recv_timeout(LIMIT).unwrap();
            go_tx.send(()).unwrap();
            assert_eq!(
                inner_rx.recv_timeout(LIMIT).unwrap(),
                Err(true),
                "{flavor}: a job spawned by a running job during the shutdown"
            );
            dropper.join().unwrap();
            let other = Builder::new_current_thread().build().unwrap();
            let err = other.block_on(from_destructor).unwrap_err();
            assert!(err.is_cancelled(), "{flavor}: {err}");
            assert!(handle.live_tasks().is_empty(), "{flavor}");
        }
    });
}

/// tokio: with `max_blocking_threads` reached, further jobs wait in a queue; every one runs,
/// never more at once than the limit, and the threads exit after their keep-alive.
#[test]
fn a_queue_behind_max_blocking_threads_all_runs_and_the_threads_retire() {
    within(LIMIT, "queued blocking jobs", || {
        for multi in [false, true] {
            let mut b = if multi {
                let mut b = Builder::new_multi_thread();
                b.worker_threads(2);
                b
            } else {
                Builder::new_current_thread()
            };
            let rt = b
                .max_blocking_threads(3)
                .thread_keep_alive(Duration::from_millis(50))
                .build()
                .unwrap();
            let running = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let ran = Arc::new(AtomicUsize::new(0));
            rt.block_on(async {
                let jobs: Vec<_> = (0..200)
                    .map(|i| {
                        let (running, most, ran) = (running.clone(), most.clone(), ran.clone());
                        tether::task::spawn_blocking(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::yield_now();
                            running.fetch_sub(1, Ordering::SeqCst);
                            ran.fetch_add(1, Ordering::SeqCst);
                            i
                        })
                    })
                    .collect();
                let m = tether::runtime::Handle::current().metrics();
                assert!(m.blocking_threads() <= 3, "{}", m.blocking_threads());
                for (i, j) in jobs.into_iter().enumerate() {
                    assert_eq!(j.await.unwrap(), i);
                }
            });
            assert_eq!(ran.load(Ordering::SeqCst), 200);
            assert!(most.load(Ordering::SeqCst) <= 3);
            let h = rt.handle().clone();
            wait_until("blocking threads retire", LIMIT, || {
                h.metrics().blocking_threads() == 0
            });
            assert_eq!(h.metrics().idle_blocking_threads(), 0);
            // The pool starts threads again after they all retired.
            assert_eq!(
                rt.block_on(async { tether::task::spawn_blocking(|| 5).await.unwrap() }),
                5
            );
        }
    });
}

/// A panicking job: its `JoinHandle` gives the panic; a detached one is reported once, naming
/// where it was spawned; the pool's thread survives.
#[test]
fn a_panicking_blocking_job_is_delivered_or_reported_once() {
    within(LIMIT, "panicking job", || {
        let reports: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = reports.clone();
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(1)
            .on_unhandled_failure(move |f| sink.lock().unwrap().push(f.to_string()))
            .build()
            .unwrap();
        let line = rt.block_on(async {
            let err = tether::task::spawn_blocking(|| -> u32 { panic!("joined boom") })
                .await
                .unwrap_err();
            assert!(err.is_panic());
            assert_eq!(
                err.into_panic().downcast_ref::<&str>(),
                Some(&"joined boom")
            );
            let line = line!() + 1;
            drop(tether::task::spawn_blocking(|| panic!("detached boom")));
            // The one thread survived both panics.
            assert_eq!(tether::task::spawn_blocking(|| 3).await.unwrap(), 3);
            line
        });
        drop(rt);
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(reports[0].contains("detached boom"), "{reports:?}");
        assert!(
            reports[0].contains(&format!("probe_blocking_pool.rs:{line}")),
            "{reports:?}"
        );
    });
}

/// `shutdown_timeout` with a blocking job that never ends returns after about the timeout.
/// The job is left running on its thread; the shutdown's reports name it, so that the
/// operator knows what was left behind (the module docs of `runtime` promise that what still
/// runs at shutdown is named, never silently dropped).
#[test]
fn shutdown_timeout_with_a_stuck_blocking_job_returns_and_names_it() {
    within(LIMIT, "shutdown_timeout", || {
        for multi in [false, true] {
            let reports: Arc<Mutex<Vec<Diagnostic>>> = Arc::default();
            let sink = reports.clone();
            let mut b = if multi {
                let mut b = Builder::new_multi_thread();
                b.worker_threads(2);
                b
            } else {
                Builder::new_current_thread()
            };
            let rt = b
                .on_diagnostic(move |d| sink.lock().unwrap().push(d.clone()))
                .build()
                .unwrap();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let (started_tx, started_rx) = mpsc::channel();
            let line = line!() + 1;
            rt.spawn_blocking(move || {
                started_tx.send(()).unwrap();
                let _ = release_rx.recv();
            });
            started_rx.recv().unwrap();
            let start = std::time::Instant::now();
            rt.shutdown_timeout(Duration::from_millis(100));
            assert!(start.elapsed() < Duration::from_secs(20));
            drop(release_tx);
            let reports = reports.lock().unwrap();
            let site = format!("probe_blocking_pool.rs:{line}");
            let named = reports.iter().any(|d| {
                d.kind() == DiagnosticKind::BlockingJobsLeftAtShutdown
                    && d.tasks()
                        .iter()
                        .any(|t| t.location().to_string().contains(&site))
            });
            assert!(
                named,
                "multi={multi}: no shutdown report names the blocking job left running: \
                 {:?}",
                reports.iter().map(|d| d.to_string()).collect::<Vec<_>>()
            );
        }
    });
}

/// A runtime built and dropped inside another runtime's blocking job (a common way to run
/// async code from a blocking section): dropping it waits for its own running blocking jobs,
/// as dropping any runtime does. The pool used to take "this thread is a pool thread" to mean
/// "one of *my* threads", so the inner runtime's shutdown stopped waiting with one of its jobs
/// still running.
#[test]
fn a_runtime_dropped_on_another_runtimes_blocking_thread_waits_for_its_jobs() {
    within(LIMIT, "nested runtime drop", || {
        let outer = Builder::new_current_thread().build().unwrap();
        let finished = outer.block_on(async {
            tether::task::spawn_blocking(|| {
                let inner = Builder::new_current_thread().build().unwrap();
                let finished = Arc::new(AtomicBool::new(false));
                let (started_tx, started_rx) = mpsc::channel();
                let f = finished.clone();
                inner.spawn_blocking(move || {
                    started_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(200));
                    f.store(true, Ordering::SeqCst);
                });
                started_rx.recv().unwrap();
                drop(inner);
                finished.load(Ordering::SeqCst)
            })
            .await
            .unwrap()
        });
        assert!(
            finished,
            "dropping the inner runtime returned while its blocking job still ran"
        );
    });
}

/// tokio: the paused clock does not auto-advance while blocking jobs are queued or running, so
/// a job behind `max_blocking_threads` (or aborted while queued) is not overtaken by a timer.
#[test]
fn the_paused_clock_waits_for_queued_and_running_blocking_jobs() {
    within(LIMIT, "paused clock and blocking jobs", || {
        let rt = Builder::new_current_thread()
            .start_paused(true)
            .max_blocking_threads(1)
            .build()
            .unwrap();
        rt.block_on(async {
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let first = tether::task::spawn_blocking(move || {
                let _ = release_rx.recv_timeout(Duration::from_secs(30));
                1
            });
            let queued = tether::task::spawn_blocking(|| 2);
            let aborted = tether::task::spawn_blocking(|| 3);
            aborted.abort();
            let releaser = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                release_tx.send(()).unwrap();
            });
            let both = async { (first.await.unwrap(), queued.await.unwrap()) };
            tether::select! {
                got = both => assert_eq!(got, (1, 2)),
                _ = tether::time::sleep(Duration::from_secs(3600)) => {
                    panic!("the paused clock advanced past blocking jobs still to run")
                }
            }
            assert!(aborted.await.unwrap_err().is_cancelled());
            releaser.join().unwrap();
        });
    });
}
