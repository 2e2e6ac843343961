//! No lost failures: a panic nobody observes reaches the runtime's failure policy exactly once,
//! with the task's name and spawn location; an observed one does not.

use std::sync::{Arc, Mutex};

use tether::runtime::{Builder, Runtime};

mod support;

type Reports = Arc<Mutex<Vec<String>>>;

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

/// A panic payload that panics when dropped (unless already unwinding).
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("the payload's destructor panicked");
        }
    }
}

fn both_flavors(test: impl Fn(bool)) {
    test(false);
    test(true);
}

#[test]
fn fire_and_forget_panic_is_reported_once_with_name_and_location() {
    both_flavors(|multi| {
        let reports = Reports::default();
        let rt = runtime(multi, &reports);
        let line = rt.block_on(async {
            let fut = async { panic!("could not store") };
            let line = line!() + 1;
            let h = tether::task::Builder::new().name("buggy_store").spawn(fut);
            drop(h);
            tether::time::sleep(std::time::Duration::from_millis(20)).await;
            line
        });
        drop(rt);
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        let r = &reports[0];
        assert!(r.contains("\"buggy_store\""), "{r}");
        assert!(r.contains(&format!("failures.rs:{line}")), "{r}");
        assert!(r.contains("could not store"), "{r}");
    });
}

#[test]
fn handle_dropped_after_the_panic_is_reported_once() {
    both_flavors(|multi| {
        let reports = Reports::default();
        let rt = runtime(multi, &reports);
        rt.block_on(async {
            let h = tether::spawn(async { panic!("late") });
            tether::time::sleep(std::time::Duration::from_millis(20)).await;
            assert!(h.is_finished());
            drop(h);
        });
        drop(rt);
        assert_eq!(reports.lock().unwrap().len(), 1);
    });
}

/// A failure hook that panics with a payload whose destructor panics as well: neither panic
/// leaves the drop of the handle that reported the failure (the payload's used to).
#[test]
fn a_panicking_hook_with_a_panicking_payload_does_not_escape_the_report() {
    both_flavors(|multi| {
        let hooked = Arc::new(Mutex::new(0));
        let h = hooked.clone();
        let mut b = if multi {
            Builder::new_multi_thread()
        } else {
            Builder::new_current_thread()
        };
        let rt = b
            .on_unhandled_failure(move |_| {
                *h.lock().unwrap() += 1;
                std::panic::panic_any(Bomb);
            })
            .build()
            .unwrap();
        rt.block_on(async {
            let h = tether::spawn(async { panic!("late") });
            while !h.is_finished() {
                tether::task::yield_now().await;
            }
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(h)));
            assert!(dropped.is_ok(), "a panic left the handle's drop");
        });
        drop(rt);
        assert_eq!(*hooked.lock().unwrap(), 1);
    });
}

#[test]
fn awaited_panic_is_not_reported_even_if_the_error_is_ignored() {
    both_flavors(|multi| {
        let reports = Reports::default();
        let rt = runtime(multi, &reports);
        rt.block_on(async {
            let _ = tether::spawn(async { panic!("seen") }).await;
            let err = tether::task::spawn_blocking(|| panic!("seen too"))
                .await
                .unwrap_err();
            assert!(err.is_panic());
        });
        drop(rt);
        assert!(reports.lock().unwrap().is_empty());
    });
}

#[test]
fn detached_blocking_panic_is_reported() {
    let reports = Reports::default();
    let rt = runtime(false, &reports);
    rt.block_on(async {
        drop(tether::task::spawn_blocking(|| panic!("blocking failure")));
        tether::time::sleep(std::time::Duration::from_millis(50)).await;
    });
    drop(rt);
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("blocking failure"));
}

#[test]
fn cancellation_is_not_a_failure() {
    let reports = Reports::default();
    let rt = runtime(false, &reports);
    rt.block_on(async {
        let h = tether::spawn(std::future::pending::<()>());
        h.abort();
        drop(h);
        tether::task::yield_now().await;
        // Tasks still running at shutdown are cancelled, not failed.
        drop(tether::spawn(std::future::pending::<()>()));
    });
    drop(rt);
    assert!(reports.lock().unwrap().is_empty());
}

/// A value whose destructor panics: a task output that nobody takes must not take the process
/// down with it.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

/// Runs the test `name` in a child process and returns true when this process is not that
/// child (the test is then done). Before the fix, the output-drop scenarios below aborted the
/// process (SIGABRT): in a child, that fails this test instead of killing the test run.
fn in_child(name: &str) -> bool {
    support::child::run_in_child(name).is_some()
}

/// A runtime whose failure reports go to a channel, so a test can wait for one (bounded).
fn reporting_runtime(multi: bool) -> (Runtime, std::sync::mpsc::Receiver<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    let mut b = if multi {
        Builder::new_multi_thread()
    } else {
        Builder::new_current_thread()
    };
    if multi {
        b.worker_threads(2);
    }
    let rt = b
        .on_unhandled_failure(move |f| {
            assert!(f.is_output_drop(), "{f}");
            let _ = tx.lock().unwrap().send(f.to_string());
        })
        .build()
        .unwrap();
    (rt, rx)
}

/// The one report expected within 10 s, and no second one after the runtime is gone.
fn one_report(rx: std::sync::mpsc::Receiver<String>, rt: Runtime) -> String {
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the output's panic was reported");
    drop(rt);
    assert!(rx.try_recv().is_err(), "reported once");
    r
}

#[test]
fn a_detached_tasks_output_that_panics_on_drop_is_reported_not_fatal() {
    if in_child("a_detached_tasks_output_that_panics_on_drop_is_reported_not_fatal") {
        return;
    }
    both_flavors(|multi| {
        let (rt, rx) = reporting_runtime(multi);
        let line = rt.block_on(async {
            let line = line!() + 3;
            let h = tether::task::Builder::new()
                .name("leaky")
                .spawn(async { PanicOnDrop("output destructor") });
            let task = h.abort_handle();
            drop(h);
            while !task.is_finished() {
                tether::task::yield_now().await;
            }
            line
        });
        let r = one_report(rx, rt);
        assert!(r.contains("\"leaky\""), "{r}");
        assert!(r.contains(&format!("failures.rs:{line}")), "{r}");
        assert!(r.contains("output destructor"), "{r}");
    });
}

#[test]
fn a_handle_dropped_after_its_task_finished_reports_the_outputs_panic() {
    if in_child("a_handle_dropped_after_its_task_finished_reports_the_outputs_panic") {
        return;
    }
    both_flavors(|multi| {
        let (rt, rx) = reporting_runtime(multi);
        rt.block_on(async {
            let h = tether::spawn(async { PanicOnDrop("stored output") });
            while !h.is_finished() {
                tether::task::yield_now().await;
            }
            // The output is stored in the task; dropping the handle drops it here.
            drop(h);
        });
        let r = one_report(rx, rt);
        assert!(r.contains("stored output"), "{r}");
    });
}

#[test]
fn an_awaited_output_is_the_callers_to_drop() {
    // Once awaited, the output is the caller's value like any other: a panic in its destructor
    // unwinds where the caller drops it, and the failure policy is not involved.
    let reports = Reports::default();
    let rt = runtime(false, &reports);
    let res = rt.block_on(async {
        let out = tether::spawn(async { PanicOnDrop("caller's drop") })
            .await
            .unwrap();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(out)))
    });
    drop(rt);
    assert!(res.is_err(), "the caller's drop panicked");
    assert!(reports.lock().unwrap().is_empty());
}

/// Spawns `n` tasks that panic at once, with nobody to await them, and lets them run.
async fn panic_unseen(n: usize) {
    for _ in 0..n {
        drop(tether::spawn(async { panic!("boom") }));
    }
    while tether::runtime::Handle::current().metrics().live_tasks() > 0 {
        tether::task::yield_now().await;
    }
}

/// A burst of unhandled failures: the hook hears every one (rule 2 of `diag/report.rs`); stderr
/// gets ten a second, on the runtime's clock (paused here, so the window is exact), then one
/// line with the count of the others (rule 5). Run in a child process, whose stderr the test
/// reads.
#[test]
fn a_burst_of_failures_is_cut_to_ten_lines_and_counted() {
    let name = "a_burst_of_failures_is_cut_to_ten_lines_and_counted";
    let Some(printed) = support::child::run_in_child(name) else {
        // std's own panic message is not the runtime's: keep the child's stderr to the reports.
        std::panic::set_hook(Box::new(|_| {}));
        let paused = || {
            let mut b = Builder::new_current_thread();
            b.start_paused(true);
            b
        };
        let heard = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = heard.clone();
        let rt = paused()
            .on_unhandled_failure(move |_| {
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .build()
            .unwrap();
        rt.block_on(panic_unseen(1000));
        drop(rt);
        assert_eq!(heard.load(std::sync::atomic::Ordering::SeqCst), 1000);

        let rt = paused().build().unwrap();
        rt.block_on(async {
            panic_unseen(1000).await;
            // The window passes (the paused clock jumps); the count follows, then 6 more lines.
            tether::time::sleep(std::time::Duration::from_secs(2)).await;
            panic_unseen(6).await;
        });
        return;
    };
    let lines: Vec<&str> = printed
        .stderr
        .lines()
        .filter(|l| l.starts_with("tether: "))
        .collect();
    let failures = lines
        .iter()
        .filter(|l| l.contains("panicked with message \"boom\""))
        .count();
    assert_eq!(failures, 16, "{}", printed.stderr);
    let counts: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("similar reports suppressed"))
        .collect();
    assert_eq!(
        counts,
        [
            &"tether: 990 similar reports suppressed (unhandled failures; at most 10 a second are \
           printed, and Builder::on_unhandled_failure receives every one)"
        ],
        "{}",
        printed.stderr
    );
}

/// A future whose destructor panics with a payload whose own destructor panics: both panics are
/// contained where the task drops its future, which is dropped exactly once (its `Counted` field
/// once), whether the task finished or was aborted, and the task's result is delivered.
#[test]
fn a_future_whose_destructor_panics_twice_over_is_dropped_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    /// Ready at once, or never (`pending`); its destructor panics with a `Bomb`.
    struct Nasty {
        _counted: Counted,
        pending: bool,
    }
    impl std::future::Future for Nasty {
        type Output = u32;
        fn poll(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<u32> {
            if self.pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(7)
            }
        }
    }
    impl Drop for Nasty {
        fn drop(&mut self) {
            std::panic::panic_any(Bomb);
        }
    }

    both_flavors(|multi| {
        for pending in [false, true] {
            let drops = Arc::new(AtomicUsize::new(0));
            let reports = Reports::default();
            let rt = runtime(multi, &reports);
            let d = drops.clone();
            let out = rt.block_on(async move {
                let h = tether::spawn(Nasty {
                    _counted: Counted(d),
                    pending,
                });
                if pending {
                    tether::task::yield_now().await;
                    h.abort();
                }
                h.await
            });
            match out {
                Ok(v) => assert!(!pending && v == 7, "{multi} {pending}: {v}"),
                Err(e) => assert!(pending && e.is_cancelled(), "{multi} {pending}: {e}"),
            }
            drop(rt);
            assert_eq!(
                drops.load(Ordering::SeqCst),
                1,
                "multi {multi}, aborted {pending}: the future was dropped once"
            );
        }
    });
}
