//! `runtime::Builder`'s thread settings as tokio defines them: `thread_stack_size`,
//! `thread_name_fn` (beside `thread_name`), and the park hooks `on_thread_park` and
//! `on_thread_unpark`, on both scheduler flavors.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

mod support;

use support::bounded::within;
use tether::runtime::{Builder, Handle, Runtime};

/// Bounds every test that starts worker threads: a deadlock fails the test instead of hanging.
const LIMIT: Duration = Duration::from_secs(30);

/// How long a test waits for something that must happen soon; reached only when it does not.
const PATIENCE: Duration = Duration::from_secs(20);

fn flavor(multi: bool) -> Builder {
    if multi {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(1);
        b
    } else {
        Builder::new_current_thread()
    }
}

/// This thread's name (the runtime names all of its threads).
fn thread_name() -> String {
    std::thread::current()
        .name()
        .expect("a runtime thread has a name")
        .to_string()
}

/// On the runtime's one worker: `f`'s result on the worker, on a blocking thread, and on the
/// `block_in_place` helper that drives the worker while a task blocks it.
fn on_each_thread_kind<T: Send + 'static>(rt: &Runtime, f: fn() -> T) -> (T, T, T) {
    rt.block_on(async move {
        let on_worker = tether::spawn(async move { f() }).await.unwrap();
        let on_blocking = tether::task::spawn_blocking(f).await.unwrap();
        let on_helper = tether::spawn(async move {
            let (tx, rx) = mpsc::channel();
            // Spawned from the worker, it waits in the worker's LIFO slot: the helper runs it
            // while this task blocks the worker's own thread.
            let other = tether::spawn(async move { tx.send(f()).unwrap() });
            let got = tether::task::block_in_place(|| rx.recv_timeout(PATIENCE));
            other.await.unwrap();
            got.expect("the helper ran the task")
        })
        .await
        .unwrap();
        (on_worker, on_blocking, on_helper)
    })
}

/// The stack this thread was given, in bytes, as the C library reports it.
#[cfg(target_os = "linux")]
fn stack_size_of_this_thread() -> usize {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut size = 0;
    // SAFETY: `pthread_getattr_np` initialises `attr` for the calling thread (checked by its
    // return value) before `pthread_attr_getstacksize` reads it; `attr` is destroyed once.
    unsafe {
        assert_eq!(
            libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()),
            0
        );
        assert_eq!(libc::pthread_attr_getstacksize(attr.as_ptr(), &mut size), 0);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
    }
    size
}

/// Four times std's default stack for a new thread (2 MiB): used on the stack below.
#[cfg(target_os = "linux")]
const BIG_FRAME: usize = 8 << 20;

/// What `BIG_STACK` threads are given: room for `BIG_FRAME` and then some.
#[cfg(target_os = "linux")]
const BIG_STACK: usize = 32 << 20;

/// Uses `BIG_FRAME` bytes of this thread's stack and returns the last one.
#[cfg(target_os = "linux")]
#[inline(never)]
fn use_a_big_frame() -> u8 {
    let mut frame = [0u8; BIG_FRAME];
    frame[BIG_FRAME - 1] = 7;
    std::hint::black_box(&mut frame)[BIG_FRAME - 1]
}

/// `thread_stack_size` applies to the worker, the blocking thread and the `block_in_place`
/// helper. Each thread's stack size is read first, so a size not applied fails the assertion;
/// only then is a frame four times std's default stack used there, which would have
/// overflowed (and aborted the test binary) on a default stack.
#[test]
#[cfg(target_os = "linux")]
fn thread_stack_size_applies_to_workers_blocking_threads_and_helpers() {
    within(LIMIT, "stack size", || {
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_stack_size(BIG_STACK)
            .build()
            .unwrap();
        let sizes = on_each_thread_kind(&rt, stack_size_of_this_thread);
        for (kind, size) in [
            ("worker", sizes.0),
            ("blocking", sizes.1),
            ("helper", sizes.2),
        ] {
            assert!(
                size >= BIG_STACK,
                "the {kind} thread has a stack of {size} bytes, not the {BIG_STACK} configured"
            );
        }
        assert_eq!(on_each_thread_kind(&rt, use_a_big_frame), (7, 7, 7));
    });
}

/// A current-thread runtime runs its tasks on the caller's thread; its blocking threads get
/// the configured size.
#[test]
#[cfg(target_os = "linux")]
fn thread_stack_size_applies_to_the_blocking_threads_of_a_current_thread_runtime() {
    let rt = Builder::new_current_thread()
        .thread_stack_size(BIG_STACK)
        .build()
        .unwrap();
    let size = rt.block_on(async {
        tether::task::spawn_blocking(stack_size_of_this_thread)
            .await
            .unwrap()
    });
    assert!(size >= BIG_STACK, "{size}");
    let last = rt.block_on(async { tether::task::spawn_blocking(use_a_big_frame).await });
    assert_eq!(last.unwrap(), 7);
}

#[test]
#[should_panic(expected = "Builder::thread_stack_size must be above zero")]
fn a_thread_stack_size_of_zero_panics_naming_the_method() {
    Builder::new_multi_thread().thread_stack_size(0);
}

/// `thread_name_fn` names every worker, blocking thread and helper, called once per thread.
#[test]
fn thread_name_fn_names_workers_blocking_threads_and_helpers() {
    within(LIMIT, "thread_name_fn", || {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name_fn(move || format!("gen-{}", c.fetch_add(1, Ordering::SeqCst)))
            .build()
            .unwrap();
        let (worker, blocking, helper) = on_each_thread_kind(&rt, thread_name);
        assert_eq!(worker, "gen-0");
        assert_eq!(blocking, "gen-1");
        assert_eq!(helper, "gen-2");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    });
}

/// As in tokio, `thread_name` and `thread_name_fn` replace each other: the last call wins.
#[test]
fn the_later_of_thread_name_and_thread_name_fn_names_the_threads() {
    within(LIMIT, "thread names", || {
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name_fn(|| "from-fn".to_string())
            .thread_name("prefix")
            .build()
            .unwrap();
        let (worker, blocking, helper) = on_each_thread_kind(&rt, thread_name);
        assert_eq!(
            [worker, blocking, helper],
            ["prefix-worker-0", "prefix-blocking-0", "prefix-helper"]
        );
        drop(rt);

        let rt = Builder::new_current_thread()
            .thread_name("prefix")
            .thread_name_fn(|| "from-fn".to_string())
            .build()
            .unwrap();
        let blocking = rt.block_on(async { tether::task::spawn_blocking(thread_name).await });
        assert_eq!(blocking.unwrap(), "from-fn");
    });
}

/// A `thread_name_fn` that panics does not keep the thread from starting: it gets its default
/// name, and the panic goes to the failure policy.
#[test]
fn a_panicking_thread_name_fn_is_reported_and_the_thread_gets_its_default_name() {
    within(LIMIT, "panicking thread_name_fn", || {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let r = reports.clone();
        let rt = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fallback")
            .thread_name_fn(|| panic!("no names today"))
            .quiet()
            .on_unhandled_failure(move |f| r.lock().unwrap().push(f.to_string()))
            .build()
            .unwrap();
        let (worker, blocking) = rt.block_on(async {
            let worker = tether::spawn(async { thread_name() }).await.unwrap();
            let blocking = tether::task::spawn_blocking(thread_name).await.unwrap();
            (worker, blocking)
        });
        assert_eq!(worker, "fallback-worker-0");
        assert_eq!(blocking, "fallback-blocking-0");
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 2, "{reports:?}");
        for report in reports.iter() {
            assert!(
                report.contains("Builder::thread_name_fn panicked (no names today)"),
                "{report}"
            );
        }
    });
}

/// tokio's example for `on_thread_park`: the park hook starts work once the runtime is idle.
/// The task it spawns (into the worker's LIFO slot, on the multi-thread flavor) runs instead of
/// the park; had the worker parked, the `block_on` would never return.
#[test]
fn a_task_spawned_by_the_park_hook_runs_instead_of_the_park() {
    for multi in [false, true] {
        within(LIMIT, "park hook spawns", move || {
            let once = AtomicBool::new(true);
            let barrier = Arc::new(tether::sync::Barrier::new(2));
            let b = barrier.clone();
            let rt = flavor(multi)
                .on_thread_park(move || {
                    if once.swap(false, Ordering::SeqCst) {
                        let b = b.clone();
                        tether::spawn(async move {
                            b.wait().await;
                        });
                    }
                })
                .build()
                .unwrap();
            rt.block_on(async move {
                barrier.wait().await;
            });
        });
    }
}

/// Park and unpark hooks come in pairs, on the threads that run tasks (the worker, or the
/// thread inside a current-thread `block_on`), inside the runtime's context.
#[test]
fn park_and_unpark_hooks_pair_up_on_the_scheduler_threads_inside_the_runtime() {
    for multi in [false, true] {
        within(LIMIT, "park hooks", move || {
            #[derive(Default)]
            struct Seen {
                parks: AtomicUsize,
                unparks: AtomicUsize,
                /// Calls made outside the runtime's context, or on a thread that does not run
                /// tasks.
                misplaced: Mutex<Vec<String>>,
            }
            let seen = Arc::new(Seen::default());
            let caller = std::thread::current().id();
            let check = {
                let seen = seen.clone();
                move |hook: &str| {
                    let me = std::thread::current();
                    let right_thread = if multi {
                        me.name() == Some("hooks-worker-0")
                    } else {
                        me.id() == caller
                    };
                    if Handle::try_current().is_err() || !right_thread {
                        seen.misplaced
                            .lock()
                            .unwrap()
                            .push(format!("{hook} on {me:?}"));
                    }
                }
            };
            let (s1, c1, s2, c2) = (seen.clone(), check.clone(), seen.clone(), check);
            let mut builder = flavor(multi);
            if !multi {
                // The clock jumps to the timer when the thread parks: no real wait.
                builder.start_paused(true);
            }
            let rt = builder
                .thread_name("hooks")
                .on_thread_park(move || {
                    c1("park");
                    s1.parks.fetch_add(1, Ordering::SeqCst);
                })
                .on_thread_unpark(move || {
                    c2("unpark");
                    s2.unparks.fetch_add(1, Ordering::SeqCst);
                })
                .build()
                .unwrap();
            rt.block_on(async move {
                if multi {
                    // The worker parks with nothing to do and is woken for this task.
                    tether::spawn(async {}).await.unwrap();
                } else {
                    tether::time::sleep(Duration::from_secs(3600)).await;
                }
            });
            if multi {
                // The worker parked at least once before the task, or will once idle again.
                while seen.parks.load(Ordering::SeqCst) == 0 {
                    std::thread::yield_now();
                }
            }
            drop(rt);
            let parks = seen.parks.load(Ordering::SeqCst);
            assert!(parks >= 1, "the scheduler never parked");
            assert_eq!(parks, seen.unparks.load(Ordering::SeqCst));
            assert_eq!(*seen.misplaced.lock().unwrap(), Vec::<String>::new());
        });
    }
}

/// A panic in the park hook is reported to the failure policy, as one in a thread's start hook
/// is, and the thread goes on running tasks.
#[test]
fn a_panicking_park_hook_is_reported_and_the_scheduler_goes_on() {
    for multi in [false, true] {
        within(LIMIT, "panicking park hook", move || {
            let once = AtomicBool::new(true);
            let (tx, reports) = mpsc::channel();
            let tx = Mutex::new(tx);
            let mut builder = flavor(multi);
            if !multi {
                builder.start_paused(true);
            }
            let rt = builder
                .quiet()
                .on_thread_park(move || {
                    if once.swap(false, Ordering::SeqCst) {
                        panic!("park hook boom");
                    }
                })
                .on_unhandled_failure(move |f| {
                    let _ = tx.lock().unwrap().send(f.to_string());
                })
                .build()
                .unwrap();
            if !multi {
                // The thread parks while the sleep waits (the paused clock then jumps to it);
                // a worker parks at once, having nothing to do.
                rt.block_on(async { tether::time::sleep(Duration::from_secs(1)).await });
            }
            let report = reports.recv_timeout(PATIENCE).unwrap();
            assert!(report.contains("park hook boom"), "{report}");
            // Still running tasks after the panic.
            assert_eq!(rt.block_on(rt.spawn(async { 5 })).unwrap(), 5);
            drop(rt);
            assert!(reports.try_recv().is_err(), "reported once");
        });
    }
}
