//! Scopes: children cannot outlive them, failures cancel siblings in two phases, errors are
//! collected, panics resumed, backpressure, deadlines, nesting. Timed behaviour runs on the
//! paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::FutureExt as _;
use tether::scope::{scope, Builder};
use tether::time::{sleep, Instant};

struct OnDrop(Arc<AtomicUsize>);
impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tether::test]
async fn scope_returns_after_every_child_finished() {
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let out = scope(|s| async move {
        for i in 0..10u32 {
            let d = d.clone();
            // Handles dropped: the scope still waits for the children.
            drop(
                s.spawn(async move {
                    for _ in 0..i {
                        tether::task::yield_now().await;
                    }
                    d.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                })
                .await,
            );
        }
        Ok("body value")
    })
    .await
    .unwrap();
    assert_eq!(out, "body value");
    assert_eq!(
        done.load(Ordering::SeqCst),
        10,
        "no child outlived the scope"
    );
}

#[tether::test]
async fn child_values_come_back_through_their_handles() {
    let sum = scope(|s| async move {
        let hs = [
            s.spawn(async { Ok::<_, ()>(1) }).await,
            s.spawn(async { Ok(2) }).await,
            s.spawn(async { Ok(3) }).await,
        ];
        let mut sum = 0;
        for h in hs {
            sum += h.await;
        }
        Ok(sum)
    })
    .await
    .unwrap();
    assert_eq!(sum, 6);
}

#[tether::test(start_paused = true)]
async fn first_failure_signals_siblings_who_finish_cleanly_within_the_grace_period() {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let c = cleaned.clone();
    let start = Instant::now();
    let err = Builder::new()
        .grace_period(Duration::from_secs(1))
        .run(|s| async move {
            s.spawn(async move {
                tether::task::cancelled().await;
                // Phase 1: the signal; cleanup that takes a little while but less than grace.
                sleep(Duration::from_millis(100)).await;
                c.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(())
            })
            .await;
            s.spawn(async {
                sleep(Duration::from_secs(5)).await;
                Err::<(), _>("late failure".to_string())
            })
            .await;
            sleep(Duration::from_secs(3600)).await; // the body is dropped at the failure
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(
        cleaned.load(Ordering::SeqCst),
        1,
        "the sibling saw the signal"
    );
    assert_eq!(err.first().map(String::as_str), Some("late failure"));
    // The scope ended once the sibling finished its cleanup, not after the whole grace period.
    assert_eq!(start.elapsed(), Duration::from_millis(5_100));
}

#[tether::test(start_paused = true)]
async fn sibling_ignoring_the_signal_is_dropped_after_the_grace_period() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let start = Instant::now();
    let err = Builder::new()
        .grace_period(Duration::from_secs(2))
        .run(|s| async move {
            s.spawn(async move {
                let _guard = OnDrop(d);
                sleep(Duration::from_secs(3600)).await; // ignores cancellation
                Ok::<_, &str>(())
            })
            .await;
            s.spawn(async { Err::<(), _>("boom") }).await;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!(err.failures().len(), 1);
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(2),
        "dropped right after the grace period"
    );
}

#[tether::test]
async fn every_error_is_returned_in_order_with_name_and_location() {
    let err = scope(|s| async move {
        s.spawn_named("first", async { Err::<(), _>("one".to_string()) })
            .await;
        s.spawn_named("second", async {
            // Fails during the grace period, after the first failure.
            tether::task::cancelled().await;
            Err::<(), _>("two".to_string())
        })
        .await;
        Ok(())
    })
    .await
    .unwrap_err();
    let errors: Vec<&str> = err.failures().iter().map(|f| f.error().as_str()).collect();
    assert_eq!(errors, ["one", "two"]);
    let text = err.to_string();
    assert!(text.contains("\"first\" spawned at"), "{text}");
    assert!(text.contains("scope.rs:"), "{text}");
    assert!(text.contains("[1]") && text.contains("two"), "{text}");
}

#[tether::test]
async fn body_error_cancels_the_children() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let err = Builder::new()
        .grace_period(Duration::ZERO)
        .run(|s| async move {
            // Captured, so it is dropped with the child's future even if it never ran.
            let guard = OnDrop(d);
            s.spawn(async move {
                let _g = guard;
                std::future::pending::<Result<(), &str>>().await
            })
            .await;
            Err::<(), _>("body failed")
        })
        .await
        .unwrap_err();
    assert_eq!(err.first(), Some(&"body failed"));
    assert!(
        err.failures()[0].source().task().is_none(),
        "the body has no task id"
    );
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[tether::test]
async fn a_child_panic_is_resumed_with_its_payload_after_cleanup() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let fut = Builder::new()
        .grace_period(Duration::ZERO)
        .run(|s| async move {
            s.spawn(async move {
                let _g = OnDrop(d);
                std::future::pending::<Result<(), ()>>().await
            })
            .await;
            s.spawn(async { panic!("child exploded") as Result<(), ()> })
                .await;
            Ok::<_, ()>(())
        });
    let res = std::panic::AssertUnwindSafe(fut).catch_unwind().await;
    let payload = res.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child exploded"));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "siblings were cleaned up first"
    );
}

#[tether::test(start_paused = true)]
async fn dropping_the_scope_future_cancels_everything_under_it() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let started = Arc::new(AtomicUsize::new(0));
    let st = started.clone();
    let fut = scope(|s| async move {
        for _ in 0..5 {
            let d = d.clone();
            let st = st.clone();
            s.spawn(async move {
                let _g = OnDrop(d);
                st.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<(), ()>>().await
            })
            .await;
        }
        std::future::pending::<()>().await;
        Ok(())
    });
    // Run the scope for a while, then drop it.
    let _ = tether::time::timeout(Duration::from_millis(20), fut).await;
    for _ in 0..10 {
        tether::task::yield_now().await;
    }
    assert_eq!(started.load(Ordering::SeqCst), 5);
    assert_eq!(dropped.load(Ordering::SeqCst), 5, "no child kept running");
}

/// Spawns `n` children (each yields once) into a scope bounded at `bound`; checks after every
/// spawn that no more than `bound` are alive, by the scope's count and, with `registry`, by the
/// runtime's registry (this test's only tasks are the scope's children; on a multi-thread
/// runtime a child that has finished may still be leaving the registry on another worker, so
/// only the current-thread test checks it), and, at the end, by the children's own count.
async fn bounded_scope_stays_within(bound: usize, n: u32, registry: bool) {
    let live = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (l, m) = (live.clone(), max.clone());
    let handle = tether::runtime::Handle::current();
    let h2 = handle.clone();
    Builder::new()
        .max_concurrency(bound)
        .run(|s| async move {
            for _ in 0..n {
                let (l, m) = (l.clone(), m.clone());
                s.spawn(async move {
                    let now = l.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    tether::task::yield_now().await;
                    l.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                })
                .await;
                assert!(s.live() <= bound);
                assert!(!registry || h2.metrics().live_tasks() <= bound as u64);
            }
            Ok(())
        })
        .await
        .unwrap();
    let max = max.load(Ordering::SeqCst);
    assert!(max <= bound, "{max} children were alive at once");
    assert_eq!(live.load(Ordering::SeqCst), 0);
    if registry {
        assert_eq!(handle.metrics().live_tasks(), 0);
    }
}

#[tether::test]
#[cfg_attr(miri, ignore = "100,000 tasks: too slow under Miri")]
async fn bounded_scope_never_has_more_than_64_children_alive() {
    bounded_scope_stays_within(64, 100_000, true).await;
}

#[tether::test(start_paused = true)]
async fn deadline_cancels_the_scope() {
    let start = Instant::now();
    let err = Builder::new()
        .timeout(Duration::from_secs(5))
        .grace_period(Duration::from_secs(1))
        .run(|s| async move {
            s.spawn(async {
                sleep(Duration::from_secs(3600)).await;
                Ok::<_, String>(())
            })
            .await;
            sleep(Duration::from_secs(3600)).await;
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(err.is_deadline());
    assert_eq!(err.to_string(), "the scope's deadline passed");
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(6),
        "deadline, then the grace period"
    );
}

/// An outer scope with a child that runs an inner scope whose own child waits for the signal;
/// cancelling the outer scope must reach it. With `recycle_first`, the inner scope is created
/// after ten empty scopes, so it reuses a recycled state.
async fn outer_cancellation_reaches_an_inner_scope(recycle_first: bool) {
    let inner_saw = Arc::new(AtomicUsize::new(0));
    let seen = inner_saw.clone();
    let err = scope(|outer: tether::scope::Scope<()>| async move {
        let o = outer.clone();
        outer
            .spawn(async move {
                if recycle_first {
                    for i in 0..10 {
                        assert_eq!(scope(|_| async move { Ok::<_, ()>(i) }).await.unwrap(), i);
                    }
                }
                let res = scope(|inner| async move {
                    inner
                        .spawn(async move {
                            tether::task::cancelled().await;
                            seen.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, ()>(())
                        })
                        .await;
                    std::future::pending::<()>().await;
                    Ok(())
                })
                .await;
                assert!(res.unwrap_err().is_cancelled());
                Ok(())
            })
            .await;
        sleep(Duration::from_secs(1)).await;
        o.cancel();
        Ok(())
    })
    .await
    .unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(inner_saw.load(Ordering::SeqCst), 1);
}

#[tether::test(start_paused = true)]
async fn cancelling_an_outer_scope_reaches_inner_scopes_tasks() {
    outer_cancellation_reaches_an_inner_scope(false).await;
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_on_the_multi_thread_runtime() {
    let cancelled_seen = Arc::new(AtomicUsize::new(0));
    let c = cancelled_seen.clone();
    let err = scope(|s| async move {
        for _ in 0..8 {
            let c = c.clone();
            s.spawn(async move {
                tether::task::cancelled().await;
                c.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(())
            })
            .await;
        }
        let sum = {
            let mut hs = Vec::new();
            for i in 0..100u64 {
                hs.push(s.spawn(async move { Ok(i) }).await);
            }
            let mut sum = 0;
            for h in hs {
                sum += h.await;
            }
            sum
        };
        assert_eq!(sum, 4950);
        s.spawn(async { Err::<(), _>("stop".to_string()) }).await;
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.first().map(String::as_str), Some("stop"));
    assert_eq!(cancelled_seen.load(Ordering::SeqCst), 8);
}

#[tether::test(start_paused = true)]
async fn a_spawner_that_gives_up_does_not_take_the_next_ones_place() {
    // Regression: a timed-out spawn left its waker queued, and the freed place went to it.
    let res = Builder::new()
        .max_concurrency(1)
        .run(|s| async move {
            s.spawn(async {
                sleep(Duration::from_millis(50)).await;
                Ok::<_, ()>(())
            })
            .await;
            // Gives up while the scope is full.
            let gave_up =
                tether::time::timeout(Duration::from_millis(10), s.spawn(async { Ok(()) })).await;
            assert!(gave_up.is_err());
            // Waits for the place freed at 50 ms, and gets it.
            let h = s.spawn(async { Ok(7) }).await;
            Ok(h.await)
        })
        .await
        .unwrap();
    assert_eq!(res, 7);
}

#[test]
fn spawning_after_the_scope_ended_panics_with_a_clear_message() {
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut leaked = None;
        let leak = &mut leaked;
        scope(|s: tether::scope::Scope<()>| async move {
            *leak = Some(s.clone());
            Ok(())
        })
        .await
        .unwrap();
        let s = leaked.unwrap();
        let res = std::panic::AssertUnwindSafe(async move {
            s.spawn(async { Ok(()) }).await;
        })
        .catch_unwind()
        .await;
        let payload = res.unwrap_err();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap();
        assert!(
            msg.contains("Scope::spawn was called after the scope ended"),
            "{msg}"
        );
    });
}

#[tether::test]
async fn a_cancelled_scope_does_not_pass_its_cancellation_to_the_next_one() {
    // Scope states are recycled: the next scope on this thread may reuse this one's.
    for _ in 0..3 {
        let err = scope(|s: tether::scope::Scope<()>| async move {
            s.cancel();
            Ok(())
        })
        .await
        .unwrap_err();
        assert!(err.is_cancelled());
        let ok = scope(|s: tether::scope::Scope<()>| async move {
            assert!(!s.is_cancelled());
            let h = s.spawn(async { Ok(5) }).await;
            Ok(h.await)
        })
        .await
        .unwrap();
        assert_eq!(ok, 5);
    }
}

#[tether::test]
async fn a_token_kept_after_its_scope_ended_does_not_reach_the_next_scope() {
    let kept = scope(|s: tether::scope::Scope<()>| async move { Ok(s.token()) })
        .await
        .unwrap();
    let next = scope(|s: tether::scope::Scope<()>| async move {
        kept.cancel();
        tether::task::yield_now().await;
        Ok(s.is_cancelled())
    })
    .await
    .unwrap();
    assert!(!next, "the next scope has its own token");
}

#[tether::test(start_paused = true)]
async fn cancelling_an_outer_scope_reaches_an_inner_scope_made_from_a_recycled_state() {
    outer_cancellation_reaches_an_inner_scope(true).await;
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_scope_on_the_multi_thread_runtime_never_exceeds_its_bound() {
    bounded_scope_stays_within(8, if cfg!(miri) { 200 } else { 20_000 }, false).await;
}

#[test]
fn a_runtime_dropped_under_a_running_scope_drops_its_children() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async move {
        tether::spawn(async move {
            let _ = scope(|s| async move {
                for _ in 0..3 {
                    let d = d.clone();
                    s.spawn(async move {
                        let _g = OnDrop(d);
                        std::future::pending::<Result<(), ()>>().await
                    })
                    .await;
                }
                std::future::pending::<()>().await;
                Ok(())
            })
            .await;
        });
        for _ in 0..5 {
            tether::task::yield_now().await;
        }
    });
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 3);
}

/// A child running on another worker spawns into its scope after the scope's future was
/// dropped: the spawn gives a handle that is finished and never yields a value (as for any
/// spawn into a cancelled scope), and the new child's future is dropped without being run. It
/// used to panic with the misuse message for a handle used after its scope ended.
#[test]
fn a_spawn_racing_the_drop_of_the_scope_future_gets_a_cancelled_handle() {
    use std::sync::mpsc::channel;
    const BOUND: Duration = Duration::from_secs(10);

    let rt = tether::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (started_tx, started_rx) = channel::<()>();
    let (go_tx, go_rx) = channel::<()>();
    let (outcome_tx, outcome_rx) = channel::<Result<bool, String>>();
    let ran = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (r, d) = (ran.clone(), dropped.clone());
    rt.block_on(async move {
        let mut fut = Box::pin(scope(|s: tether::scope::Scope<()>| async move {
            let s2 = s.clone();
            s.spawn(async move {
                started_tx.send(()).unwrap();
                // Holds this worker until the scope's future is gone.
                go_rx.recv_timeout(BOUND).unwrap();
                let guard = OnDrop(d);
                let spawn = s2.spawn(async move {
                    let _guard = guard;
                    r.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
                let outcome = std::panic::AssertUnwindSafe(spawn).catch_unwind().await;
                let outcome = outcome.map(|t| t.is_finished()).map_err(|p| {
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                });
                outcome_tx.send(outcome).unwrap();
                Ok(())
            })
            .await;
            std::future::pending::<()>().await;
            Ok(())
        }));
        // One poll runs the body, which spawns the child onto a worker.
        assert!(futures_lite::future::poll_once(fut.as_mut())
            .await
            .is_none());
        started_rx.recv_timeout(BOUND).expect("the child started");
        // Cancels and closes the scope while the child is inside its poll.
        drop(fut);
        go_tx.send(()).unwrap();
        let outcome = outcome_rx.recv_timeout(BOUND).expect("the child spawned");
        assert_eq!(outcome, Ok(true), "the spawn gave a finished handle");
    });
    drop(rt);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the late child never ran");
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "its future was dropped");
}

/// A child's future that panics when dropped after it returned: the scope drops the value the
/// child returned (nobody will take it), and if that value panics when dropped too, the child
/// must still leave the scope. It used to unwind out of the child's poll before the child left,
/// so the scope waited for it forever (found by tests/faults.rs, seed 0 on both flavors).
#[test]
fn a_childs_value_that_panics_on_drop_does_not_keep_it_in_the_scope() {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::mpsc::channel;
    use std::sync::Mutex;
    use std::task::{Context, Poll};

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
        fut: Pin<Box<F>>,
        _bomb: Bomb,
    }
    impl<F: Future> Future for PanicsOnDrop<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.fut.as_mut().poll(cx)
        }
    }

    // Under Miri, where each panic takes seconds, the current-thread flavor only.
    let flavors: &[bool] = if cfg!(miri) { &[false] } else { &[false, true] };
    for &multi in flavors {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let r = reports.clone();
        let mut b = if multi {
            tether::runtime::Builder::new_multi_thread()
        } else {
            tether::runtime::Builder::new_current_thread()
        };
        b.on_unhandled_failure(move |f| {
            let line = (f.is_output_drop(), f.message().map(str::to_string));
            r.lock().unwrap().push(line);
        });
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
        let reports = reports.lock().unwrap();
        assert_eq!(
            *reports,
            [(true, Some("the value's destructor".to_string()))],
            "the value's panic goes to the failure policy, once"
        );
    }
}

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
            text.contains("in the scope created at") && text.contains("scope.rs"),
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
