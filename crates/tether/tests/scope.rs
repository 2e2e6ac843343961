//! Scopes: what one returns and what it guarantees. Children cannot outlive it; their values
//! come back through their handles; every error is returned, in order, with the child's name
//! and where it was spawned; a failing body cancels the children; a child's panic is resumed
//! after the others were cleaned up; the same on the multi-thread runtime; a spawn after the
//! scope ended is a clear misuse panic, while one racing the drop of the scope's future gets a
//! cancelled handle; a runtime dropped under a running scope drops its children.
//!
//! Cancellation is in `scope_cancel.rs`, the concurrency bound in `scope_bounded.rs`, and the
//! failures a scope cannot deliver in `scope_failure_policy.rs`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::FutureExt as _;
use tether::scope::{scope, Builder};

use support::on_drop::OnDrop;

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

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_on_the_multi_thread_runtime() {
    let cancelled_seen = Arc::new(AtomicUsize::new(0));
    let c = cancelled_seen.clone();
    // Every child returns as soon as it sees the cancellation; the grace period only bounds a
    // slow machine's (or Miri's) wait for that, which the default 100 ms did not always cover.
    let err = Builder::new()
        .grace_period(Duration::from_secs(60))
        .run(|s| async move {
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
