//! The runtime and tasks: spawn, join, abort, panics, local tasks, yielding, the registry,
//! the blocking pool, shutdown.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod support;

use support::bounded::within;
use tether::runtime::{Builder, Handle};

fn rt() -> tether::runtime::Runtime {
    Builder::new_current_thread().build().unwrap()
}

#[test]
fn spawn_and_join_returns_output() {
    let out = rt().block_on(async { tether::spawn(async { 40 + 2 }).await.unwrap() });
    assert_eq!(out, 42);
}

#[test]
fn panic_in_task_is_delivered_and_runtime_survives() {
    let rt = rt();
    rt.block_on(async {
        let err = tether::spawn(async { panic!("kaboom") }).await.unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert!(err.to_string().contains("kaboom"), "{err}");
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"kaboom"));
        // The runtime still runs tasks.
        assert_eq!(tether::spawn(async { 1 }).await.unwrap(), 1);
    });
}

#[test]
fn abort_cancels_an_idle_task_and_drops_its_future() {
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    rt().block_on(async move {
        let h = tether::spawn(async move {
            let _guard = OnDrop(d);
            std::future::pending::<()>().await;
        });
        tether::task::yield_now().await; // let it start and park
        assert!(!h.is_finished());
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled());
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[test]
fn abort_after_completion_keeps_the_output() {
    rt().block_on(async {
        let h = tether::spawn(async { 9 });
        tether::task::yield_now().await;
        assert!(h.is_finished());
        h.abort();
        assert_eq!(h.await.unwrap(), 9);
    });
}

#[test]
fn dropping_join_handle_detaches_the_task() {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    rt().block_on(async move {
        drop(tether::spawn(async move {
            tether::task::yield_now().await;
            r.fetch_add(1, Ordering::SeqCst);
        }));
        for _ in 0..4 {
            tether::task::yield_now().await;
        }
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn spawned_tasks_run_in_fifo_order_after_the_spawner_yields() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = log.clone();
    rt().block_on(async move {
        let mut hs = Vec::new();
        for i in 0..5 {
            let l = l.clone();
            hs.push(tether::spawn(async move { l.lock().unwrap().push(i) }));
        }
        l.lock().unwrap().push(100);
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(*log.lock().unwrap(), vec![100, 0, 1, 2, 3, 4]);
}

#[test]
fn spawn_local_runs_non_send_futures() {
    rt().block_on(async {
        let counter = Rc::new(Cell::new(0));
        let mut hs = Vec::new();
        for _ in 0..10 {
            let c = counter.clone();
            hs.push(tether::task::spawn_local(async move {
                tether::task::yield_now().await;
                c.set(c.get() + 1);
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(counter.get(), 10);
    });
}

#[test]
fn yield_now_interleaves_tasks() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (a, b) = (log.clone(), log.clone());
    rt().block_on(async move {
        let ta = tether::spawn(async move {
            for i in 0..3 {
                a.lock().unwrap().push(("a", i));
                tether::task::yield_now().await;
            }
        });
        let tb = tether::spawn(async move {
            for i in 0..3 {
                b.lock().unwrap().push(("b", i));
                tether::task::yield_now().await;
            }
        });
        ta.await.unwrap();
        tb.await.unwrap();
    });
    let log = log.lock().unwrap();
    assert_eq!(
        *log,
        vec![("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    );
}

#[test]
fn registry_lists_live_tasks_with_name_and_location() {
    rt().block_on(async {
        let h = tether::task::Builder::new()
            .name("store")
            .spawn(std::future::pending::<()>());
        let line = line!() - 1;
        let live = Handle::current().live_tasks();
        let info = live
            .iter()
            .find(|t| t.id() == h.id())
            .expect("the task is registered");
        assert_eq!(info.name(), Some("store"));
        assert!(info.location().file().ends_with("runtime.rs"));
        assert_eq!(info.location().line(), line);
        h.abort();
        let _ = h.await;
        assert!(Handle::current()
            .live_tasks()
            .iter()
            .all(|t| t.id() != info.id()));
    });
}

#[test]
fn spawn_from_another_thread_through_a_handle() {
    let rt = rt();
    let handle = rt.handle().clone();
    let t = std::thread::spawn(move || handle.spawn(async { 5 }))
        .join()
        .unwrap();
    assert_eq!(rt.block_on(t).unwrap(), 5);
}

#[test]
fn main_future_woken_from_another_thread() {
    let rt = rt();
    rt.block_on(async {
        let h = tether::task::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(20));
            7
        });
        assert_eq!(h.await.unwrap(), 7);
    });
}

#[test]
fn spawn_blocking_panic_is_delivered() {
    rt().block_on(async {
        let err = tether::task::spawn_blocking(|| panic!("blocking boom"))
            .await
            .unwrap_err();
        assert!(err.is_panic());
    });
}

#[test]
fn dropping_the_runtime_cancels_tasks_and_runs_destructors() {
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = rt();
    for _ in 0..10 {
        let d = dropped.clone();
        rt.spawn(async move {
            let _g = OnDrop(d);
            std::future::pending::<()>().await;
        });
    }
    rt.block_on(tether::task::yield_now());
    assert_eq!(rt.handle().metrics().live_tasks(), 10);
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 10);
}

#[test]
fn task_spawned_after_shutdown_is_cancelled() {
    let rt = rt();
    let handle = rt.handle().clone();
    drop(rt);
    let h = handle.spawn(async { 1 });
    let out = futures_lite::future::block_on(h);
    assert!(out.unwrap_err().is_cancelled());
}

#[test]
fn concurrent_block_on_from_two_threads() {
    let rt = Arc::new(rt());
    let rt2 = rt.clone();
    let t = std::thread::spawn(move || {
        rt2.block_on(async {
            tether::time::sleep(Duration::from_millis(30)).await;
            1
        })
    });
    let a = rt.block_on(async {
        tether::time::sleep(Duration::from_millis(30)).await;
        2
    });
    assert_eq!(a + t.join().unwrap(), 3);
}

#[test]
fn nested_spawns_many_generations() {
    fn spawn_gen(n: u32) -> tether::task::JoinHandle<u32> {
        tether::spawn(async move {
            if n == 0 {
                0
            } else {
                spawn_gen(n - 1).await.unwrap() + 1
            }
        })
    }
    // Under Miri, which takes tens of milliseconds per generation, thirty.
    let n = if cfg!(miri) { 30 } else { 1000 };
    let out = rt().block_on(async { spawn_gen(n).await.unwrap() });
    assert_eq!(out, n);
}

#[test]
fn a_destructor_panicking_at_shutdown_does_not_abort_the_process() {
    // Regression: the task cell drops futures under an abort-on-panic guard.
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("destructor panicked");
        }
    }
    for multi in [false, true] {
        let rt = if multi {
            Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap()
        } else {
            rt()
        };
        rt.block_on(async {
            drop(tether::spawn(async {
                let _p = PanicOnDrop;
                std::future::pending::<()>().await
            }));
            tether::task::yield_now().await;
        });
        drop(rt); // must return, not abort
    }
}

#[test]
fn a_panicking_failure_hook_does_not_abort_the_process() {
    let rt = Builder::new_current_thread()
        .on_unhandled_failure(|_| panic!("the hook itself failed"))
        .build()
        .unwrap();
    rt.block_on(async {
        drop(tether::spawn(async { panic!("task failed") }));
        tether::task::yield_now().await;
        tether::task::yield_now().await;
    });
}

/// Waits (bounded) until the blocking pool has `n` idle threads.
async fn until_idle_blocking_threads(n: u64) {
    for _ in 0..10_000 {
        if Handle::current().metrics().idle_blocking_threads() == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the blocking pool never had {n} idle threads");
}

/// Regression (blocking pool, lost wake-up): a push that found an idle thread notified it
/// without claiming it, so a second push before the woken thread ran started no thread and the
/// two jobs ran one after the other; here the first waits for the second, which deadlocked.
#[test]
fn two_blocking_jobs_pushed_onto_one_idle_thread_both_run() {
    for flavor in ["current_thread", "multi_thread"] {
        within(Duration::from_secs(20), flavor, move || {
            let rt = match flavor {
                "current_thread" => Builder::new_current_thread().build().unwrap(),
                _ => Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()
                    .unwrap(),
            };
            rt.block_on(async {
                tether::task::spawn_blocking(|| ()).await.unwrap();
                until_idle_blocking_threads(1).await;
                let (tx, rx) = std::sync::mpsc::channel::<u32>();
                let waiter = tether::task::spawn_blocking(move || rx.recv().unwrap());
                let sender = tether::task::spawn_blocking(move || tx.send(7).unwrap());
                assert_eq!(waiter.await.unwrap(), 7);
                sender.await.unwrap();
            });
        });
    }
}

/// Regression (blocking pool, lost wake-up): a burst of jobs that must all run at once (each
/// waits at a barrier for the others) finishes, after the pool already had idle threads.
#[test]
fn a_burst_of_blocking_jobs_runs_concurrently() {
    within(Duration::from_secs(20), "burst", || {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let warm: Vec<_> = (0..4)
                .map(|_| tether::task::spawn_blocking(|| ()))
                .collect();
            for h in warm {
                h.await.unwrap();
            }
            let barrier = Arc::new(std::sync::Barrier::new(16));
            let jobs: Vec<_> = (0..16)
                .map(|_| {
                    let b = barrier.clone();
                    tether::task::spawn_blocking(move || {
                        b.wait();
                    })
                })
                .collect();
            for j in jobs {
                j.await.unwrap();
            }
        });
    });
}

/// Regression (current-thread starvation): a `block_on` future that keeps yielding while every
/// task waits on a timer or on I/O must not starve the reactor. The loop went back to the
/// woken `block_on` future whenever the run queue was empty, without ever turning the driver,
/// so the timer never fired and this never ended.
#[test]
fn a_yielding_block_on_future_does_not_starve_timers_or_io() {
    for flavor in ["current_thread", "multi_thread"] {
        within(Duration::from_secs(20), flavor, move || {
            let rt = match flavor {
                "current_thread" => Builder::new_current_thread().build().unwrap(),
                _ => Builder::new_multi_thread()
                    .worker_threads(1)
                    .build()
                    .unwrap(),
            };
            rt.block_on(async {
                let timer_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let d = timer_done.clone();
                tether::spawn(async move {
                    tether::time::sleep(Duration::from_millis(10)).await;
                    d.store(true, Ordering::SeqCst);
                });
                while !timer_done.load(Ordering::SeqCst) {
                    tether::task::yield_now().await;
                }
                let listener = tether::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let accepted = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let a = accepted.clone();
                tether::spawn(async move {
                    let _conn = listener.accept().await.unwrap();
                    a.store(true, Ordering::SeqCst);
                });
                let _client = std::net::TcpStream::connect(addr).unwrap();
                while !accepted.load(Ordering::SeqCst) {
                    tether::task::yield_now().await;
                }
            });
        });
    }
}

/// `shutdown_timeout` returns only once the blocking threads have ended, not just left the
/// pool's count: a thread whose exit is slow (a thread-local destructor that takes a while, as
/// a runtime handle's or a connection pool's can) is gone from `/proc` when it returns.
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore = "reads /proc")]
#[test]
fn shutdown_timeout_returns_after_the_blocking_threads_have_ended() {
    struct SlowExit;
    impl Drop for SlowExit {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    thread_local! {
        static SLOW_EXIT: SlowExit = const { SlowExit };
    }
    let rt = Builder::new_current_thread().build().unwrap();
    let tid = rt.block_on(async {
        tether::task::spawn_blocking(|| {
            SLOW_EXIT.with(|_| ());
            // SAFETY: `gettid` takes no arguments and cannot fail.
            unsafe { libc::gettid() }
        })
        .await
        .unwrap()
    });
    let task = format!("/proc/self/task/{tid}");
    assert!(
        std::path::Path::new(&task).exists(),
        "the pool's thread is alive"
    );
    rt.shutdown_timeout(Duration::from_secs(10));
    assert!(
        !std::path::Path::new(&task).exists(),
        "a blocking thread outlived shutdown_timeout"
    );
}

/// Blocking pool rule 2: a job pushed while the pool's only thread is retiring (its keep-alive
/// ran out; its stop hook runs) starts a thread of its own. The retiring thread used to stay
/// counted until its hook returned, so the job was queued with the pool "full" and nobody woken
/// for it; with `max_blocking_threads(1)` it never ran. The stop hook holds the window open: it
/// says it is retiring, then waits until the job has been pushed.
#[test]
fn a_blocking_job_pushed_while_the_last_thread_retires_runs() {
    use std::sync::Mutex;
    let (retiring_tx, retiring_rx) = tether::sync::oneshot::channel::<()>();
    let retiring_tx = Mutex::new(Some(retiring_tx));
    let (pushed_tx, pushed_rx) = std::sync::mpsc::channel::<()>();
    let pushed_rx = Mutex::new(pushed_rx);
    let rt = tether::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .thread_keep_alive(Duration::from_millis(20))
        .on_thread_stop(move || {
            let retiring = std::thread::current()
                .name()
                .is_some_and(|n| n.contains("blocking"));
            if let Some(tx) = retiring
                .then(|| retiring_tx.lock().unwrap().take())
                .flatten()
            {
                let _ = tx.send(());
                // Bounded: a test that failed must not hang the pool's shutdown.
                let _ = pushed_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(10));
            }
        })
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(tether::task::spawn_blocking(|| 1).await.unwrap(), 1);
        tether::time::timeout(Duration::from_secs(10), retiring_rx)
            .await
            .expect("the blocking thread never retired")
            .unwrap();
        let job = tether::task::spawn_blocking(|| 2);
        pushed_tx.send(()).unwrap();
        let out = tether::time::timeout(Duration::from_secs(10), job)
            .await
            .expect("the job pushed while the thread retired never ran");
        assert_eq!(out.unwrap(), 2);
    });
    rt.shutdown_timeout(Duration::from_secs(5));
}

/// The destructors of an aborted task's future, and of one dropped at shutdown, run as that
/// task: `task::try_id()` gives its id there, as in tokio (a cleanup guard that logs it).
#[test]
fn an_aborted_or_shut_down_tasks_destructors_know_its_id() {
    use std::sync::Mutex;
    struct Probe(Arc<Mutex<Vec<Option<tether::task::Id>>>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(tether::task::try_id());
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let aborted = rt.block_on(async {
        let probe = Probe(seen.clone());
        let h = tether::spawn(async move {
            let _probe = probe;
            std::future::pending::<()>().await
        });
        tether::task::yield_now().await;
        let id = h.id();
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
        id
    });
    let probe = Probe(seen.clone());
    let at_shutdown = rt.spawn(async move {
        let _probe = probe;
        std::future::pending::<()>().await
    });
    let at_shutdown_id = at_shutdown.id();
    rt.block_on(tether::task::yield_now());
    drop(rt);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some(aborted), Some(at_shutdown_id)]
    );
}

/// `abort_handle()` after the output was taken gives a finished handle whose `abort` does
/// nothing, as tokio's does, instead of panicking.
#[tether::test]
async fn an_abort_handle_made_after_the_output_was_taken_is_finished() {
    let mut h = tether::spawn(async { 1 });
    assert_eq!((&mut h).await.unwrap(), 1);
    let abort = h.abort_handle();
    assert!(abort.is_finished());
    assert_eq!(abort.id(), h.id());
    abort.abort();
}

/// A blocking thread's `on_thread_start` and `on_thread_stop` hooks that panic are reported and
/// the thread goes on: its job runs and the runtime's drop returns. The panics unwound out of
/// the thread, which stayed counted, so the job never ran and the drop waited forever.
#[test]
#[cfg_attr(
    miri,
    ignore = "two runtimes' threads are slow to interpret; no unsafe code of its own"
)]
fn a_panicking_hook_on_a_blocking_thread_is_reported_and_the_pool_goes_on() {
    for multi in [false, true] {
        within(Duration::from_secs(30), "hooks", move || {
            let reports = Arc::new(AtomicUsize::new(0));
            let r = reports.clone();
            let mut b = if multi {
                Builder::new_multi_thread()
            } else {
                Builder::new_current_thread()
            };
            if multi {
                b.worker_threads(1);
            }
            let rt = b
                .quiet()
                .on_thread_start(|| panic!("start hook boom"))
                .on_thread_stop(|| panic!("stop hook boom"))
                .on_unhandled_failure(move |f| {
                    assert!(f.thread().is_some(), "{f}");
                    r.fetch_add(1, Ordering::SeqCst);
                })
                .build()
                .unwrap();
            let five = rt.block_on(async { tether::task::spawn_blocking(|| 5).await.unwrap() });
            assert_eq!(five, 5);
            drop(rt);
            // A start and a stop per thread: the blocking thread's, and the worker's.
            let threads = if multi { 2 } else { 1 };
            assert_eq!(reports.load(Ordering::SeqCst), 2 * threads);
        });
    }
}

/// The thread hooks run inside the runtime's context, on workers and blocking threads alike, as
/// in tokio (`Handle::current()` in a start hook used to panic: no runtime yet).
#[test]
#[cfg_attr(
    miri,
    ignore = "a multi-thread runtime is slow to interpret; no unsafe code of its own"
)]
fn thread_hooks_run_inside_the_runtime() {
    within(Duration::from_secs(30), "hooks", || {
        let outside = Arc::new(AtomicUsize::new(0));
        let (o1, o2) = (outside.clone(), outside.clone());
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_start(move || {
                if Handle::try_current().is_err() {
                    o1.fetch_add(1, Ordering::SeqCst);
                }
            })
            .on_thread_stop(move || {
                if Handle::try_current().is_err() {
                    o2.fetch_add(1, Ordering::SeqCst);
                }
            })
            .build()
            .unwrap();
        rt.block_on(async { tether::task::spawn_blocking(|| ()).await.unwrap() });
        drop(rt);
        assert_eq!(outside.load(Ordering::SeqCst), 0);
    });
}
