//! Cancelling a scope, and what reaches whom. The first failure signals the siblings, who may
//! finish cleanly within the grace period, and a sibling that ignores the signal is dropped when
//! the grace period ends; dropping the scope's future cancels everything under it; a deadline cancels the
//! scope; cancelling an outer scope reaches the tasks of inner ones, even an inner scope made
//! from a recycled state; and a cancelled scope's cancellation, or its token kept after it
//! ended, never reaches the next scope. Timed behaviour runs on the paused clock.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::scope::{scope, Builder};
use tether::time::{sleep, Instant};

use support::on_drop::OnDrop;

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

#[tether::test(start_paused = true)]
async fn cancelling_an_outer_scope_reaches_an_inner_scope_made_from_a_recycled_state() {
    outer_cancellation_reaches_an_inner_scope(true).await;
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

/// A child dropped after the grace period whose future's destructor panics with a payload whose
/// own destructor panics still leaves the scope: the scope returns its error at the end of the
/// grace period instead of waiting forever.
#[tether::test(start_paused = true)]
async fn a_dropped_childs_destructor_panicking_twice_over_does_not_hold_the_scope() {
    /// A panic payload that panics when dropped.
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("the payload's destructor panicked");
        }
    }
    struct Nasty;
    impl Drop for Nasty {
        fn drop(&mut self) {
            std::panic::panic_any(Bomb);
        }
    }
    let start = Instant::now();
    let ended = tether::time::timeout(
        Duration::from_secs(60),
        Builder::new()
            .grace_period(Duration::from_secs(2))
            .run(|s| async move {
                s.spawn(async move {
                    let _nasty = Nasty;
                    sleep(Duration::from_secs(3600)).await; // ignores cancellation
                    Ok::<_, &str>(())
                })
                .await;
                s.spawn(async { Err::<(), _>("boom") }).await;
                Ok(())
            }),
    )
    .await;
    let err = ended.expect("the scope ended").unwrap_err();
    assert_eq!(err.failures().len(), 1);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

/// Children the hard drop reaches before their first poll (no grace period) are dropped
/// unpolled and still leave the scope: the scope ends with the body's error instead of waiting
/// for them.
#[tether::test(start_paused = true)]
async fn children_aborted_before_their_first_poll_leave_the_scope() {
    let polled = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (p, d) = (polled.clone(), dropped.clone());
    let ended = tether::time::timeout(
        Duration::from_secs(60),
        Builder::new()
            .grace_period(Duration::ZERO)
            .run(|s| async move {
                for _ in 0..3 {
                    let (p, guard) = (p.clone(), OnDrop(d.clone()));
                    s.spawn(async move {
                        let _guard = guard;
                        p.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, &str>(())
                    })
                    .await;
                }
                Err::<(), _>("body")
            }),
    )
    .await;
    let err = ended.expect("the scope ended").unwrap_err();
    assert_eq!(err.failures().len(), 1);
    assert_eq!(polled.load(Ordering::SeqCst), 0, "no child was polled");
    assert_eq!(dropped.load(Ordering::SeqCst), 3, "every child was dropped");
}
