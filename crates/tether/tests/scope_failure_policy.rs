//! The failures a scope cannot deliver go to the runtime's failure policy, each once, naming
//! the child and the scope's creation site: a later panic (the scope resumes only the first),
//! the errors recorded beside the panic a scope ends with, the failures recorded in a scope whose
//! future was dropped, and what a child's panicking destructor replaces. And a panic from a
//! destructor (of a child's value, or of a panic's payload) never keeps a child in its scope.
//!
//! Each test runs its runtime on a thread of its own, bounded in time, so a scope that never
//! completes fails the test instead of hanging it.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::FutureExt as _;
use tether::scope::{scope, Builder};

/// What the failure hook was given: whether the failure was one a scope could not deliver, the
/// child's name, the message, and the error (for this file's `String` errors).
#[derive(Debug, PartialEq)]
struct Report {
    undelivered: bool,
    name: Option<String>,
    message: Option<String>,
    error: Option<String>,
}

/// Runs `body` on a runtime of the flavor `multi` whose failure hook records what it is given,
/// on its own thread, bounded in time (a scope that never completes fails the test). Gives the
/// text of the panic `body` ended with, if any, and the reports.
fn run_hooked<F, Fut>(multi: bool, paused: bool, body: F) -> (Option<String>, Vec<Report>)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    use std::sync::Mutex;
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    let mut b = if multi {
        tether::runtime::Builder::new_multi_thread()
    } else {
        tether::runtime::Builder::new_current_thread()
    };
    if paused {
        b.start_paused(true);
    }
    b.on_unhandled_failure(move |f| {
        r.lock().unwrap().push(Report {
            undelivered: f.is_undelivered_scope_failure(),
            name: f.name().map(str::to_string),
            message: f.message().map(str::to_string),
            error: f.error().and_then(|e| e.downcast_ref::<String>()).cloned(),
        });
        // The report names the child and the scope's creation site.
        let text = f.to_string();
        assert!(
            text.contains("in the scope created at") && text.contains("scope_failure_policy.rs"),
            "{text}"
        );
    });
    let rt = b.build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let res =
            rt.block_on(async move { std::panic::AssertUnwindSafe(body()).catch_unwind().await });
        drop(rt);
        let text = res.err().map(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "<not a string>".to_string())
        });
        tx.send(text).unwrap();
    });
    let resumed = rx
        .recv_timeout(Duration::from_secs(if cfg!(miri) { 600 } else { 10 }))
        .expect("the scope never completed");
    let reports = std::mem::take(&mut *reports.lock().unwrap());
    (resumed, reports)
}

/// A child's future that panics when dropped after it returned: the scope drops the value the
/// child returned (nobody will take it), and if that value panics when dropped too, the child
/// must still leave the scope. It used to unwind out of the child's poll before the child left,
/// so the scope waited for it forever (found by tests/faults.rs, seed 0 on both flavors).
/// Panics when dropped (unless already panicking), with its text.
struct Bomb(&'static str);

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// Runs `fut`; panics when dropped, even after `fut` completed.
struct PanicsOnDrop<F> {
    fut: std::pin::Pin<Box<F>>,
    _bomb: Bomb,
}

impl<F: std::future::Future> std::future::Future for PanicsOnDrop<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.fut.as_mut().poll(cx)
    }
}

/// A scope with one child that returns a value whose destructor panics ("the value's
/// destructor") and whose own future panics when dropped ("the future's destructor"), on each
/// flavor (current-thread only under Miri, where each panic takes seconds), with `hook` as the
/// failure hook: the scope must complete, resuming the future's panic.
fn a_child_with_two_bombs(
    hook: impl Fn(&tether::diag::UnhandledFailure<'_>) + Clone + Send + Sync + 'static,
) {
    use std::sync::mpsc::channel;

    let flavors: &[bool] = if cfg!(miri) { &[false] } else { &[false, true] };
    for &multi in flavors {
        let mut b = if multi {
            tether::runtime::Builder::new_multi_thread()
        } else {
            tether::runtime::Builder::new_current_thread()
        };
        b.on_unhandled_failure(hook.clone());
        let rt = b.build().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let resumed = rt.block_on(async {
                let res = std::panic::AssertUnwindSafe(scope(|s| async move {
                    let child = PanicsOnDrop {
                        fut: Box::pin(async { Ok::<_, ()>(Bomb("the value's destructor")) }),
                        _bomb: Bomb("the future's destructor"),
                    };
                    drop(s.spawn(child).await);
                    Ok(())
                }))
                .catch_unwind()
                .await;
                res.err().and_then(|p| p.downcast_ref::<String>().cloned())
            });
            drop(rt);
            tx.send(resumed).unwrap();
        });
        let bound = Duration::from_secs(if cfg!(miri) { 600 } else { 10 });
        let resumed = rx
            .recv_timeout(bound)
            .expect("the scope never completed: its child did not leave it");
        assert_eq!(
            resumed.as_deref(),
            Some("the future's destructor"),
            "the scope resumes the child's failure"
        );
    }
}

#[test]
fn a_childs_value_that_panics_on_drop_does_not_keep_it_in_the_scope() {
    let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = reports.clone();
    a_child_with_two_bombs(move |f| {
        let line = (f.is_output_drop(), f.message().map(str::to_string));
        r.lock().unwrap().push(line);
    });
    let flavors = if cfg!(miri) { 1 } else { 2 };
    let reports = reports.lock().unwrap();
    assert_eq!(
        *reports,
        vec![(true, Some("the value's destructor".to_string())); flavors],
        "the value's panic goes to the failure policy, once per flavor"
    );
}

/// The same child, with a failure hook that panics with a payload whose destructor panics too:
/// that second panic used to unwind out of the runtime's report (out of the drop of the child's
/// handle), past the scope.
#[test]
fn a_failure_hook_whose_panic_payload_panics_when_dropped_does_not_keep_a_child_in_its_scope() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    let hooked = Arc::new(AtomicUsize::new(0));
    let h = hooked.clone();
    a_child_with_two_bombs(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
        std::panic::panic_any(Bomb("the hook's payload"));
    });
    let flavors = if cfg!(miri) { 1 } else { 2 };
    assert_eq!(
        hooked.load(Ordering::SeqCst),
        flavors,
        "reported once per flavor"
    );
}

/// A scope resumes only its first panic: the later one used to be dropped silently
/// (`record_panic`); it goes to the failure hook, once, naming the child.
#[test]
fn a_later_panic_of_a_scope_goes_to_the_failure_policy() {
    for multi in [false, true] {
        let (resumed, reports) = run_hooked(multi, false, || async {
            let _ = scope(|s| async move {
                let s2 = s.clone();
                s.spawn_named("second", async move {
                    // After the first panic (the next child's) cancelled the scope.
                    s2.cancelled().await;
                    panic!("second panic") as Result<(), ()>
                })
                .await;
                // Spawned last: once it fails, nothing new starts in the scope.
                s.spawn_named("first", async { panic!("first panic") as Result<(), ()> })
                    .await;
                Ok(())
            })
            .await;
        });
        assert_eq!(resumed.as_deref(), Some("first panic"));
        assert_eq!(
            reports,
            [Report {
                undelivered: true,
                name: Some("second".into()),
                message: Some("second panic".into()),
                error: None,
            }]
        );
    }
}

/// A scope that ends with a panic resumes it; the errors recorded alongside used to be dropped
/// silently. Each goes to the failure hook, once, with the error and the child's name.
#[test]
fn the_errors_of_a_scope_that_ends_with_a_panic_go_to_the_failure_policy() {
    for multi in [false, true] {
        let (resumed, reports) = run_hooked(multi, false, || async {
            let _ = scope(|s| async move {
                let s2 = s.clone();
                s.spawn_named("panicking", async move {
                    s2.cancelled().await;
                    panic!("after the error") as Result<(), String>
                })
                .await;
                // Spawned last: once it fails, nothing new starts in the scope.
                s.spawn_named("failing", async { Err::<(), _>("boom".to_string()) })
                    .await;
                Ok(())
            })
            .await;
        });
        assert_eq!(resumed.as_deref(), Some("after the error"));
        assert_eq!(reports.len(), 1, "{reports:?}");
        let r = &reports[0];
        assert!(r.undelivered);
        assert_eq!(r.name.as_deref(), Some("failing"));
        assert_eq!(r.error.as_deref(), Some("boom"));
        let message = r.message.as_deref().unwrap();
        assert!(
            message.contains("alloc::string::String") && message.contains("ended with a panic"),
            "{message}"
        );
    }
}

/// A scope's future dropped before it completed used to drop what was recorded in it. Each
/// failure goes to the failure hook, once.
#[test]
fn the_failures_of_a_dropped_scope_go_to_the_failure_policy() {
    let (resumed, mut reports) = run_hooked(false, true, || async {
        let fut = Builder::new()
            .grace_period(Duration::from_secs(3600))
            .run(|s| async move {
                s.spawn_named("erring", async { Err::<(), _>("lost".to_string()) })
                    .await;
                let s2 = s.clone();
                s.spawn_named("panicking", async move {
                    s2.cancelled().await;
                    panic!("lost panic") as Result<(), String>
                })
                .await;
                // Keeps the scope in its grace period until it is dropped.
                s.spawn_named("stuck", std::future::pending::<Result<(), String>>())
                    .await;
                Ok(())
            });
        let out = tether::time::timeout(Duration::from_secs(1), fut).await;
        assert!(out.is_err(), "the scope was dropped by the timeout");
    });
    assert_eq!(resumed, None);
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports.iter().all(|r| r.undelivered));
    assert_eq!(reports[0].name.as_deref(), Some("erring"));
    assert_eq!(reports[0].error.as_deref(), Some("lost"));
    let message = reports[0].message.as_deref().unwrap();
    assert!(
        message.contains("was dropped before it completed"),
        "{message}"
    );
    assert_eq!(reports[1].name.as_deref(), Some("panicking"));
    assert_eq!(reports[1].message.as_deref(), Some("lost panic"));
    assert_eq!(reports[1].error, None);
}

/// A later panic's payload whose destructor panics used to be dropped outside `catch_unwind`,
/// unwinding into the child's poll before the child left the scope: the scope waited forever.
/// The payload is dropped under `catch_unwind`, and its destructor's panic reported too.
#[test]
fn a_panic_payload_that_panics_when_dropped_does_not_keep_a_child_in_its_scope() {
    struct Loud(bool);
    impl Drop for Loud {
        fn drop(&mut self) {
            if self.0 && !std::thread::panicking() {
                panic!("the payload's destructor");
            }
        }
    }
    for multi in [false, true] {
        let (resumed, reports) = run_hooked(multi, false, || async {
            let res = std::panic::AssertUnwindSafe(scope(|s| async move {
                let s2 = s.clone();
                s.spawn_named("second", async move {
                    s2.cancelled().await;
                    std::panic::panic_any(Loud(true)) as Result<(), ()>
                })
                .await;
                // Spawned last: once it fails, nothing new starts in the scope.
                s.spawn_named("first", async {
                    std::panic::panic_any(Loud(true)) as Result<(), ()>
                })
                .await;
                Ok(())
            }))
            .catch_unwind()
            .await;
            // The first payload is resumed; disarmed before it is dropped here.
            let mut p = res.unwrap_err();
            p.downcast_mut::<Loud>().unwrap().0 = false;
            drop(p);
            panic!("resumed");
        });
        assert_eq!(resumed.as_deref(), Some("resumed"));
        assert_eq!(
            reports,
            [
                Report {
                    undelivered: true,
                    name: Some("second".into()),
                    message: None,
                    error: None,
                },
                Report {
                    undelivered: true,
                    name: Some("second".into()),
                    message: Some("the payload's destructor".into()),
                    error: None,
                }
            ]
        );
    }
}

/// A child's future that panics when dropped after it completed: the panic is the child's
/// failure, and what it replaces used to be dropped silently: the error the future returned,
/// or the future's own panic (then the destructor's panic is the later one). Each goes to the
/// failure hook, once.
#[test]
fn what_a_childs_panicking_destructor_replaces_goes_to_the_failure_policy() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Runs `fut`; panics with `msg` when dropped, even after `fut` completed.
    struct PanicsOnDrop<F> {
        fut: Pin<Box<F>>,
        msg: &'static str,
    }
    impl<F: Future> Future for PanicsOnDrop<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.fut.as_mut().poll(cx)
        }
    }
    impl<F> Drop for PanicsOnDrop<F> {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("{}", self.msg);
            }
        }
    }

    for multi in [false, true] {
        // The child returned an error, then its destructor panicked.
        let (resumed, reports) = run_hooked(multi, false, || async {
            let _ = scope(|s| async move {
                let child = PanicsOnDrop {
                    fut: Box::pin(async { Err::<(), _>("replaced".to_string()) }),
                    msg: "the future's destructor",
                };
                s.spawn_named("erring", child).await;
                Ok(())
            })
            .await;
        });
        assert_eq!(resumed.as_deref(), Some("the future's destructor"));
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].name.as_deref(), Some("erring"));
        assert_eq!(reports[0].error.as_deref(), Some("replaced"));
        assert!(reports[0].undelivered);

        // The child panicked, then its destructor panicked.
        let (resumed, reports) = run_hooked(multi, false, || async {
            let _ = scope(|s| async move {
                let child = PanicsOnDrop {
                    fut: Box::pin(async { panic!("own panic") as Result<(), String> }),
                    msg: "the destructor, after",
                };
                s.spawn_named("panicking", child).await;
                Ok(())
            })
            .await;
        });
        assert_eq!(resumed.as_deref(), Some("own panic"));
        assert_eq!(
            reports,
            [Report {
                undelivered: true,
                name: Some("panicking".into()),
                message: Some("the destructor, after".into()),
                error: None,
            }]
        );
    }
}

/// A child leaves its scope before its handle says it finished: while the failure hook reports
/// a later panic of the child (the hook runs as the child records its failure), the child's
/// `ScopeTask` is not finished and the scope still counts the child. (A handle that saw the
/// child finished would otherwise wait for the hook to take its output.)
#[test]
fn a_childs_handle_is_finished_only_once_the_child_has_left_its_scope() {
    use std::sync::mpsc::channel;
    use std::sync::Mutex;
    const BOUND: Duration = Duration::from_secs(10);

    let (in_hook_tx, in_hook_rx) = channel::<()>();
    let (go_tx, go_rx) = channel::<()>();
    let (in_hook_tx, go_rx) = (Mutex::new(in_hook_tx), Mutex::new(go_rx));
    let rt = tether::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_unhandled_failure(move |f| {
            if f.message().is_some_and(|m| m.contains("second")) {
                in_hook_tx.lock().unwrap().send(()).unwrap();
                go_rx.lock().unwrap().recv_timeout(BOUND).unwrap();
            }
        })
        .build()
        .unwrap();
    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    let driver = std::thread::spawn(move || {
        rt.block_on(async move {
            let ended = scope(|s| async move {
                let second = s
                    .spawn(async {
                        tether::task::cancelled().await;
                        panic!("second");
                        #[allow(unreachable_code)]
                        Ok::<(), ()>(())
                    })
                    .await;
                *k.lock().unwrap() = Some((second, s.clone()));
                s.spawn(async {
                    panic!("first");
                    #[allow(unreachable_code)]
                    Ok::<(), ()>(())
                })
                .await;
                Ok(())
            });
            std::panic::AssertUnwindSafe(ended)
                .catch_unwind()
                .await
                .is_err()
        })
    });
    in_hook_rx
        .recv_timeout(BOUND)
        .expect("the hook reports the later panic");
    let (second, s) = kept.lock().unwrap().take().unwrap();
    let finished = second.is_finished();
    let live = s.live();
    go_tx.send(()).unwrap();
    assert!(!finished, "the child is still recording its failure");
    assert_eq!(live, 1, "the scope still counts the child");
    drop((second, s));
    assert!(driver.join().unwrap(), "the scope resumed the first panic");
}

/// The body is dropped when a child fails, and its destructor panics: that panic is the body's
/// panic (run.rs rule 7). It used to unwind out of the scope's poll at once, so the other child
/// was hard-dropped without its grace period and the child's error was reported as if the
/// scope had been dropped. Now the sibling finishes its cleanup within the grace period, the
/// panic is resumed after it (rule 4), and the child's error goes to the failure policy once,
/// as one the scope could not deliver beside its panic.
#[test]
fn a_panic_from_the_bodys_destructor_waits_for_the_children() {
    let cleaned = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let c = cleaned.clone();
    let (resumed, reports) = run_hooked(false, true, move || async move {
        let _ = Builder::new()
            .grace_period(Duration::from_secs(1))
            .run(|s| async move {
                s.spawn(async move {
                    tether::task::cancelled().await;
                    tether::time::sleep(Duration::from_millis(5)).await;
                    c.store(true, std::sync::atomic::Ordering::SeqCst);
                    Ok::<(), String>(())
                })
                .await;
                s.spawn_named("failer", async {
                    tether::time::sleep(Duration::from_millis(1)).await;
                    Err::<(), _>("child-err".to_string())
                })
                .await;
                let _bomb = Bomb("body guard drop");
                std::future::pending::<()>().await;
                Ok::<(), String>(())
            })
            .await;
        unreachable!("the scope resumes the body's panic");
    });
    assert_eq!(resumed.as_deref(), Some("body guard drop"));
    assert!(
        cleaned.load(std::sync::atomic::Ordering::SeqCst),
        "the sibling was dropped before its grace period"
    );
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert!(r.undelivered);
    assert_eq!(r.name.as_deref(), Some("failer"));
    assert_eq!(r.error.as_deref(), Some("child-err"));
    let message = r.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("the scope ended with a panic"),
        "{message}"
    );
}

/// The body returns `Err` while it still holds a value whose destructor panics: the error is
/// recorded before the body is dropped (run.rs rule 7), so it is not lost: the panic is resumed
/// and the error reported. It used to be dropped while the destructor's panic unwound.
#[test]
fn the_bodys_error_is_kept_when_dropping_the_body_panics() {
    let (resumed, reports) = run_hooked(false, true, || async {
        let _ = Builder::new()
            .run(|_s: tether::scope::Scope<String>| {
                futures_lite::future::or(
                    async {
                        tether::time::sleep(Duration::from_millis(1)).await;
                        Err::<(), _>("body-err".to_string())
                    },
                    async {
                        let _bomb = Bomb("body guard drop");
                        std::future::pending::<()>().await;
                        Ok(())
                    },
                )
            })
            .await;
    });
    assert_eq!(resumed.as_deref(), Some("body guard drop"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].error.as_deref(), Some("body-err"));
    assert!(reports[0].undelivered);
}

/// The body panics while it holds a value whose destructor panics too: the first panic is the
/// one resumed, and the destructor's goes to the failure policy. The first used to be lost.
#[test]
fn the_bodys_first_panic_is_kept_when_dropping_the_body_panics() {
    let (resumed, reports) = run_hooked(false, true, || async {
        let _ = Builder::new()
            .run(|_s: tether::scope::Scope<String>| {
                futures_lite::future::or(
                    async {
                        tether::time::sleep(Duration::from_millis(1)).await;
                        panic!("first panic");
                    },
                    async {
                        let _bomb = Bomb("body guard drop");
                        std::future::pending::<()>().await;
                        Ok(())
                    },
                )
            })
            .await;
    });
    assert_eq!(resumed.as_deref(), Some("first panic"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].message.as_deref(), Some("body guard drop"));
}
