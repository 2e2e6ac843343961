//! The multi-thread scheduler: tasks across workers, stealing, wake-ups from foreign threads,
//! timers and I/O on workers, idle workers that use no CPU, misuse.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::runtime::{Builder, Runtime};

/// How many tasks a test spawns where a few show what it checks: fewer under Miri, which takes
/// a good part of a second for each on a multi-thread runtime. (Twenty still sleep for every
/// duration from 0 to 19 ms in `timers_fire_on_a_multi_thread_runtime`.)
const TASKS: u64 = if cfg!(miri) { 20 } else { 100 };

fn mt(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .unwrap()
}

#[test]
fn tasks_run_on_worker_threads_and_results_come_back() {
    let rt = mt(2);
    let names = rt.block_on(async {
        let hs: Vec<_> = (0..TASKS.min(64))
            .map(|_| {
                tether::spawn(async { std::thread::current().name().unwrap_or("").to_string() })
            })
            .collect();
        let mut names = HashSet::new();
        for h in hs {
            names.insert(h.await.unwrap());
        }
        names
    });
    assert!(
        names.iter().all(|n| n.starts_with("tether-worker-")),
        "{names:?}"
    );
    assert_eq!(rt.handle().metrics().workers(), 2);
}

#[test]
#[cfg_attr(miri, ignore = "too slow or needs real sockets and /proc under Miri")]
fn million_tasks_from_many_tasks_each_result_exactly_once() {
    const SPAWNERS: usize = 100;
    const EACH: usize = 10_000;
    let rt = mt(2);
    let seen = rt.block_on(async {
        let spawners: Vec<_> = (0..SPAWNERS)
            .map(|s| {
                tether::spawn(async move {
                    let hs: Vec<_> = (0..EACH)
                        .map(|i| tether::spawn(async move { s * EACH + i }))
                        .collect();
                    let mut out = Vec::with_capacity(EACH);
                    for h in hs {
                        out.push(h.await.unwrap());
                    }
                    out
                })
            })
            .collect();
        let mut seen = vec![false; SPAWNERS * EACH];
        for s in spawners {
            for v in s.await.unwrap() {
                assert!(!seen[v], "result {v} delivered twice");
                seen[v] = true;
            }
        }
        seen
    });
    assert!(seen.iter().all(|&b| b), "every result is delivered");
    assert_eq!(rt.handle().metrics().live_tasks(), 0);
}

#[test]
#[cfg_attr(miri, ignore = "too slow or needs real sockets and /proc under Miri")]
fn work_is_stolen_by_idle_workers() {
    // One task spawns many CPU-bound tasks onto its own worker; the other worker must steal.
    let rt = mt(2);
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let t2 = threads.clone();
    rt.block_on(async move {
        tether::spawn(async move {
            let hs: Vec<_> = (0..200)
                .map(|_| {
                    let t = t2.clone();
                    tether::spawn(async move {
                        let start = std::time::Instant::now();
                        while start.elapsed() < Duration::from_micros(200) {
                            std::hint::spin_loop();
                        }
                        t.lock().unwrap().insert(std::thread::current().id());
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        })
        .await
        .unwrap();
    });
    assert_eq!(threads.lock().unwrap().len(), 2, "both workers ran tasks");
}

#[test]
#[cfg_attr(miri, ignore = "too slow under Miri")]
fn tasks_woken_from_foreign_threads_and_the_blocking_pool() {
    let rt = mt(2);
    rt.block_on(async {
        let mut hs = Vec::new();
        for i in 0..100u64 {
            hs.push(tether::spawn(async move {
                // Woken by a blocking-pool thread.
                let a = tether::task::spawn_blocking(move || i * 2).await.unwrap();
                // Woken by a plain std thread.
                let (tx, rx) = std::sync::mpsc::channel::<u64>();
                let done = Arc::new(AtomicUsize::new(0));
                let d = done.clone();
                let waiter = tether::spawn(async move {
                    std::future::poll_fn(|cx| {
                        if d.load(Ordering::SeqCst) == 1 {
                            std::task::Poll::Ready(())
                        } else {
                            let w = cx.waker().clone();
                            let d = d.clone();
                            std::thread::spawn(move || {
                                d.store(1, Ordering::SeqCst);
                                w.wake();
                            });
                            std::task::Poll::Pending
                        }
                    })
                    .await
                });
                waiter.await.unwrap();
                tx.send(a).unwrap();
                assert_eq!(done.load(Ordering::SeqCst), 1);
                rx.recv().unwrap()
            }));
        }
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), i as u64 * 2);
        }
    });
}

#[test]
fn timers_fire_on_a_multi_thread_runtime() {
    let rt = mt(2);
    rt.block_on(async {
        let start = std::time::Instant::now();
        let hs: Vec<_> = (0..TASKS)
            .map(|i| {
                tether::spawn(async move {
                    tether::time::sleep(Duration::from_millis(i % 20)).await;
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, (0..TASKS).sum::<u64>());
        assert!(
            start.elapsed() >= Duration::from_millis(19),
            "timers never fire early"
        );
    });
}

#[test]
#[cfg_attr(miri, ignore = "too slow or needs real sockets and /proc under Miri")]
fn echo_over_tcp_on_workers() {
    let rt = mt(2);
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tether::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tether::spawn(async move {
                    let mut buf = [0u8; 1024];
                    loop {
                        let n = s.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        s.write_all(&buf[..n]).await.unwrap();
                    }
                });
            }
        });
        let clients: Vec<_> = (0..50u8)
            .map(|c| {
                tether::spawn(async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    for round in 0..20u8 {
                        let msg = [c, round, 7, 9];
                        s.write_all(&msg).await.unwrap();
                        let mut back = [0u8; 4];
                        s.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, msg);
                    }
                })
            })
            .collect();
        let all = async {
            for c in clients {
                c.await.unwrap();
            }
        };
        tether::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("echo on a multi-thread runtime finishes well within a minute");
    });
}

#[test]
fn yield_now_lets_other_tasks_run_on_busy_workers() {
    let rt = mt(2);
    rt.block_on(async {
        let flag = Arc::new(AtomicUsize::new(0));
        // Two tasks that spin until a third one, spawned after them, has run.
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let f = flag.clone();
                tether::spawn(async move {
                    while f.load(Ordering::SeqCst) == 0 {
                        tether::task::yield_now().await;
                    }
                })
            })
            .collect();
        let f = flag.clone();
        tether::spawn(async move { f.store(1, Ordering::SeqCst) })
            .await
            .unwrap();
        for s in spinners {
            s.await.unwrap();
        }
    });
}

#[test]
fn thread_hooks_run_on_every_worker() {
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let (s1, s2) = (started.clone(), stopped.clone());
    let rt = Builder::new_multi_thread()
        .worker_threads(3)
        .thread_name("hooked")
        .on_thread_start(move || {
            s1.fetch_add(1, Ordering::SeqCst);
        })
        .on_thread_stop(move || {
            s2.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let name = rt.block_on(async {
        tether::spawn(async { std::thread::current().name().unwrap().to_string() })
            .await
            .unwrap()
    });
    assert!(name.starts_with("hooked-worker-"), "{name}");
    drop(rt);
    assert_eq!(started.load(Ordering::SeqCst), 3);
    assert_eq!(stopped.load(Ordering::SeqCst), 3);
}

#[test]
fn dropping_a_multi_thread_runtime_cancels_its_tasks() {
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = mt(2);
    for _ in 0..TASKS {
        let d = dropped.clone();
        rt.spawn(async move {
            let _g = OnDrop(d);
            std::future::pending::<()>().await;
        });
    }
    rt.block_on(async { tether::time::sleep(Duration::from_millis(10)).await });
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), TASKS as usize);
}

#[test]
fn spawn_local_on_a_worker_is_a_clear_error() {
    let rt = mt(1);
    let err = rt.block_on(async {
        tether::spawn(async { drop(tether::task::spawn_local(async {})) })
            .await
            .unwrap_err()
    });
    let msg = err
        .into_panic()
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(msg.contains("multi-thread runtime"), "{msg}");
}

#[test]
fn block_on_inside_a_worker_is_a_clear_error() {
    let rt = mt(1);
    let inner = Builder::new_current_thread().build().unwrap();
    let err = rt.block_on(async move {
        tether::spawn(async move { inner.block_on(async {}) })
            .await
            .unwrap_err()
    });
    assert!(err.is_panic());
}

#[test]
fn paused_clock_is_refused_on_multi_thread() {
    let err = Builder::new_multi_thread()
        .start_paused(true)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("current-thread"), "{err}");
}

/// CPU time (user + system, in clock ticks) of this process's threads whose name starts with
/// `prefix` (from `/proc`: Linux only).
#[cfg(target_os = "linux")]
fn threads_cpu_ticks(prefix: &str) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = entry.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            total += f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        }
    }
    total
}

#[test]
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore = "too slow or needs real sockets and /proc under Miri")]
fn idle_workers_use_no_cpu() {
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("idlechk")
        .build()
        .unwrap();
    // Give the workers something to do first, then nothing but a far timer.
    rt.block_on(async {
        for _ in 0..100 {
            tether::spawn(async {}).await.unwrap();
        }
    });
    let _far = rt.spawn(async { tether::time::sleep(Duration::from_secs(3600)).await });
    let before = threads_cpu_ticks("idlechk");
    std::thread::sleep(Duration::from_secs(1));
    let used = threads_cpu_ticks("idlechk") - before;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    assert!(
        used * 10 < hz,
        "idle workers used {used} of {hz} CPU ticks in 1 s: they must sleep, not spin"
    );
}

#[test]
#[cfg_attr(miri, ignore = "too slow under Miri")]
fn cross_thread_ping_pong_over_bounded_channels() {
    use tether::sync::mpsc;
    const PAIRS: usize = 100;
    const ROUNDS: u64 = 1_000;
    let rt = mt(2);
    let total = rt.block_on(async {
        let mut pairs = Vec::new();
        for _ in 0..PAIRS {
            let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
            let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
            let ponger = tether::spawn(async move {
                while let Some(v) = ping_rx.recv().await {
                    pong_tx.send(v + 1).await.unwrap();
                }
            });
            let pinger = tether::spawn(async move {
                let mut v = 0;
                for _ in 0..ROUNDS {
                    ping_tx.send(v).await.unwrap();
                    v = pong_rx.recv().await.unwrap();
                }
                drop(ping_tx);
                v
            });
            pairs.push((pinger, ponger));
        }
        let mut total = 0;
        for (pinger, ponger) in pairs {
            total += pinger.await.unwrap();
            ponger.await.unwrap();
        }
        total
    });
    assert_eq!(total, PAIRS as u64 * ROUNDS);
}

#[test]
#[cfg_attr(miri, ignore = "too slow under Miri")]
fn plain_threads_feed_tasks_through_unbounded_channels() {
    use tether::sync::mpsc;
    let rt = mt(2);
    let sum = rt.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        tx.send(p * 10_000 + i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumer = tether::spawn(async move {
            let mut sum = 0u64;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            sum
        });
        for p in producers {
            p.join().unwrap();
        }
        consumer.await.unwrap()
    });
    assert_eq!(sum, (0..40_000u64).sum::<u64>());
}

// Reliability: workers survive panics in the runtime's own code, and shutdown is bounded.

/// Runs `f` on a thread of its own and fails if it does not finish within `secs` seconds (a hang
/// becomes a failure); ten times that under Miri, where a busy machine took over a minute for
/// tests bounded at 60 s.
fn bounded(secs: u64, f: impl FnOnce() + Send + 'static) {
    let secs = if cfg!(miri) { 10 * secs } else { secs };
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => t.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(t.join().unwrap_err())
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the test did not finish within {secs} s")
        }
    }
}

/// A waker that panics when woken: what a future polled by hand with a buggy waker leaves in
/// the reactor or the timer wheel.
struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("waker boom");
    }
}

/// Every one of the runtime's `workers` workers runs a task (each task blocks until all of them
/// have started, so a dead worker would hang this), timers fire, and a TCP echo round trip works.
fn runtime_still_works(rt: &Runtime, workers: usize) {
    let barrier = Arc::new(std::sync::Barrier::new(workers));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let b = barrier.clone();
            rt.spawn(async move {
                b.wait();
                std::thread::current().name().unwrap().to_string()
            })
        })
        .collect();
    rt.block_on(async {
        let mut names = HashSet::new();
        for t in tasks {
            names.insert(t.await.unwrap());
        }
        assert_eq!(names.len(), workers, "every worker ran a task: {names:?}");
        tether::time::sleep(Duration::from_millis(2)).await;
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tether::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");
        server.await.unwrap();
    });
}

/// Scheduler rule 6: a waker that panics when a timer wakes it unwinds through the reactor on a
/// worker (holding the reactor's lock). The worker reports it to the failure policy and goes on;
/// the reactor's lock is not poisoned; the other wakers of the same turn are still woken; every
/// worker still runs tasks, timers and I/O.
#[test]
#[cfg_attr(miri, ignore = "needs real sockets under Miri")]
fn a_waker_that_panics_in_the_reactor_does_not_kill_a_worker_or_stall_io() {
    bounded(60, || {
        const WORKERS: usize = 2;
        const PANICS: usize = 20;
        let (fail_tx, fail_rx) = std::sync::mpsc::channel();
        let fail_tx = Mutex::new(fail_tx);
        let rt = Builder::new_multi_thread()
            .worker_threads(WORKERS)
            // The reactor is also turned between tasks, by searching workers (rule 4).
            .event_interval(1)
            .on_unhandled_failure(move |f| {
                let _ = fail_tx
                    .lock()
                    .unwrap()
                    .send((f.thread().map(String::from), f.to_string()));
            })
            .build()
            .unwrap();
        let waker = std::task::Waker::from(Arc::new(PanickingWaker));
        let mut cx = std::task::Context::from_waker(&waker);
        let _enter = rt.enter();
        for round in 0..PANICS {
            // A timer whose waker panics, next to one whose waker must still be woken.
            let mut bad = Box::pin(tether::time::sleep(Duration::from_millis(1)));
            assert!(bad.as_mut().poll(&mut cx).is_pending());
            let good = rt.spawn(tether::time::sleep(Duration::from_millis(1)));
            let (thread, report) = fail_rx
                .recv()
                .expect("the panic was reported to the failure policy");
            let thread = thread.expect("the failure names the worker thread");
            assert!(thread.starts_with("tether-worker-"), "{thread}");
            assert!(report.contains("waker boom"), "{report}");
            rt.block_on(good).unwrap();
            drop(bad);
            if round % 5 == 0 {
                runtime_still_works(&rt, WORKERS);
            }
        }
        runtime_still_works(&rt, WORKERS);
    });
}

/// Scheduler rule 6: a panicking `on_thread_start` or `on_thread_stop` hook is reported and the
/// worker runs (and stops) as usual.
#[test]
fn a_panicking_thread_hook_does_not_kill_a_worker() {
    bounded(60, || {
        const WORKERS: usize = 3;
        let reports = Arc::new(AtomicUsize::new(0));
        let r = reports.clone();
        let rt = Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .on_thread_start(|| panic!("start hook boom"))
            .on_thread_stop(|| panic!("stop hook boom"))
            .on_unhandled_failure(move |f| {
                assert!(f.thread().is_some() && f.id().is_none(), "{f}");
                r.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        runtime_still_works(&rt, WORKERS);
        drop(rt);
        assert_eq!(reports.load(Ordering::SeqCst), 2 * WORKERS);
    });
}

/// Scheduler rule 7: a task stuck in a blocking loop keeps its worker from stopping.
/// `shutdown_timeout` returns anyway, reports the task by name and spawn location, and leaves
/// the worker behind; the worker exits once the task's poll returns.
#[test]
fn shutdown_timeout_returns_despite_a_task_stuck_in_a_poll_and_names_it() {
    bounded(60, || {
        let (diag_tx, diag_rx) = std::sync::mpsc::channel();
        let diag_tx = Mutex::new(diag_tx);
        let (stop_tx, stop_rx) = std::sync::mpsc::channel();
        let stop_tx = Mutex::new(stop_tx);
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .on_diagnostic(move |d| {
                if d.kind() == tether::diag::DiagnosticKind::BlocksShutdown {
                    let _ = diag_tx.lock().unwrap().send((
                        d.task_name().map(String::from),
                        d.location(),
                        d.to_string(),
                    ));
                }
            })
            .on_thread_stop(move || {
                let _ = stop_tx.lock().unwrap().send(());
            })
            .build()
            .unwrap();
        let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (running_tx, running_rx) = std::sync::mpsc::channel();
        let r = release.clone();
        let stuck_in_a_loop = async move {
            running_tx.send(()).unwrap();
            while !r.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        let builder = tether::task::Builder::new().name("stuck-in-a-loop");
        let (stuck, line) = (builder.spawn_on(stuck_in_a_loop, rt.handle()), line!());
        running_rx.recv().unwrap();
        rt.shutdown_timeout(Duration::from_millis(50));
        let (name, location, text) = diag_rx.try_recv().expect("the stuck task was reported");
        assert_eq!(name.as_deref(), Some("stuck-in-a-loop"), "{text}");
        let location = location.expect("the report has the spawn location");
        assert!(location.file().ends_with("multi_thread.rs"), "{text}");
        assert_eq!(location.line(), line, "{text}");
        assert!(text.contains("shutdown timeout"), "{text}");
        // The worker that stopped did so; the one left behind has not.
        stop_rx.recv().unwrap();
        assert!(stop_rx.try_recv().is_err());
        release.store(true, Ordering::SeqCst);
        stop_rx.recv().unwrap();
        drop(stuck);
    });
}

/// Scheduler rule 7: dropping a runtime waits for a worker stuck in a poll (so every task's
/// future is dropped when the drop returns), and says which task it waits for.
#[test]
fn dropping_a_runtime_waits_for_a_stuck_task_and_names_it() {
    bounded(60, || {
        let (diag_tx, diag_rx) = std::sync::mpsc::channel();
        let diag_tx = Mutex::new(diag_tx);
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .watchdog_limit(Duration::from_millis(20))
            .on_diagnostic(move |d| {
                if d.kind() == tether::diag::DiagnosticKind::BlocksShutdown {
                    let _ = diag_tx
                        .lock()
                        .unwrap()
                        .send((d.task_name().map(String::from), d.to_string()));
                }
            })
            .build()
            .unwrap();
        let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (running_tx, running_rx) = std::sync::mpsc::channel();
        let r = release.clone();
        drop(tether::task::Builder::new().name("stuck").spawn_on(
            async move {
                running_tx.send(()).unwrap();
                while !r.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            },
            rt.handle(),
        ));
        running_rx.recv().unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let dropper = std::thread::spawn(move || {
            drop(rt);
            done_tx.send(()).unwrap();
        });
        let (name, text) = diag_rx.recv().unwrap();
        assert_eq!(name.as_deref(), Some("stuck"), "{text}");
        assert!(text.contains("dropping the runtime waits"), "{text}");
        assert!(
            done_rx.try_recv().is_err(),
            "the drop waits for the stuck task"
        );
        release.store(true, Ordering::SeqCst);
        done_rx.recv().unwrap();
        dropper.join().unwrap();
    });
}
