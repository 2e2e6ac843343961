//! A scope run inside another (in its body, or in one of its children) is that scope's: the
//! outer scope does not complete while a task started in the inner one still exists, even when
//! the inner scope's future is dropped with children alive (`scope/run.rs` rule 8,
//! `scope/state.rs` rule 8).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::scope::{scope, Builder, Scope};
use tether::time::sleep;

/// Runs a closure when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// A scope run in the body: a sibling fails, the body is dropped and with it the inner scope,
/// whose child is aborted. The outer scope used to return at once, the grandchild still alive
/// (dropped at the scheduler's next turn); now it waits for it.
#[tether::test(start_paused = true)]
async fn a_scope_in_the_body_is_gone_when_the_outer_scope_returns() {
    let alive = Arc::new(AtomicBool::new(false));
    let a = alive.clone();
    let err = scope(|s| async move {
        s.spawn(async {
            sleep(Duration::from_millis(10)).await;
            Err::<(), _>("boom".to_string())
        })
        .await;
        scope(|i| async move {
            i.spawn(async move {
                a.store(true, Ordering::SeqCst);
                let _g = OnDrop(move || a.store(false, Ordering::SeqCst));
                std::future::pending::<()>().await;
                Ok::<(), String>(())
            })
            .await;
            std::future::pending::<()>().await;
            Ok::<(), String>(())
        })
        .await
        .map_err(|e| format!("{e}"))?;
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.first().map(String::as_str), Some("boom"));
    assert!(
        !alive.load(Ordering::SeqCst),
        "the inner scope's child outlived the outer scope"
    );
}

/// A scope run in a child that ignores the signal: the outer scope's hard drop drops the child,
/// its inner scope with it, and the grandchild is aborted; the outer scope returns only once the
/// grandchild is gone.
#[tether::test(start_paused = true)]
async fn a_scope_in_a_hard_dropped_child_is_gone_when_the_outer_scope_returns() {
    let alive = Arc::new(AtomicBool::new(false));
    let a = alive.clone();
    let err = Builder::new()
        .grace_period(Duration::from_millis(50))
        .run(|s| async move {
            s.spawn(async {
                sleep(Duration::from_millis(10)).await;
                Err::<(), _>("boom".to_string())
            })
            .await;
            s.spawn(async move {
                let _ = scope(|i: Scope<String>| async move {
                    i.spawn(async move {
                        a.store(true, Ordering::SeqCst);
                        let _g = OnDrop(move || a.store(false, Ordering::SeqCst));
                        // Ignores the signal.
                        loop {
                            sleep(Duration::from_secs(1000)).await;
                        }
                        #[allow(unreachable_code)]
                        Ok::<(), String>(())
                    })
                    .await;
                    loop {
                        sleep(Duration::from_secs(1000)).await;
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), String>(())
                })
                .await;
                Ok(())
            })
            .await;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.first().map(String::as_str), Some("boom"));
    assert!(
        !alive.load(Ordering::SeqCst),
        "the inner scope's child outlived the outer scope"
    );
}

/// A scope run in the body is a child of the outer scope's token: cancelling the outer scope
/// signals the inner scope's children (they used to hear nothing: the inner scope belonged to
/// the task polling the outer one).
#[tether::test(start_paused = true)]
async fn cancelling_the_outer_scope_signals_a_scope_in_its_body() {
    let signalled = Arc::new(AtomicBool::new(false));
    let sig = signalled.clone();
    let err = scope(|s: Scope<String>| async move {
        let outer = s.clone();
        scope(|i| async move {
            i.spawn(async move {
                tether::task::cancelled().await;
                sig.store(true, Ordering::SeqCst);
                Ok::<(), String>(())
            })
            .await;
            // The inner scope's body cancels the outer scope and waits for its own children.
            outer.cancel();
            Ok::<(), String>(())
        })
        .await
        .map_err(|e| format!("{e}"))?;
        Ok(())
    })
    .await
    .unwrap_err();
    assert!(err.is_cancelled());
    assert!(signalled.load(Ordering::SeqCst));
}

/// Two workers: the grandchild is in the middle of a long poll on the other worker when its
/// scope (in a child of the outer one) is dropped. The outer scope may not return before that
/// poll ends and the grandchild is dropped.
#[test]
fn the_outer_scope_waits_for_a_grandchild_in_a_poll_on_another_worker() {
    let rt = tether::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (events_tx, events_rx) = std::sync::mpsc::channel::<&'static str>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let polls = Arc::new(AtomicUsize::new(0));
    let events = events_tx.clone();
    let outer = rt.spawn(async move {
        let res = Builder::new()
            .grace_period(Duration::from_millis(10))
            .run(|s| async move {
                let (started, wait, events, polls) =
                    (started_tx, release_rx, events_tx, polls.clone());
                let (in_poll_tx, in_poll) = tether::sync::oneshot::channel::<()>();
                s.spawn(async move {
                    let _ = scope(|i: Scope<String>| async move {
                        i.spawn(async move {
                            let _g = OnDrop(move || {
                                let _ = events.send("grandchild dropped");
                            });
                            // One long poll that ignores the signal: blocks this worker until
                            // the test releases it.
                            polls.fetch_add(1, Ordering::SeqCst);
                            let _ = in_poll_tx.send(());
                            let _ = started.send(());
                            let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(10));
                            std::future::pending::<()>().await;
                            Ok::<(), String>(())
                        })
                        .await;
                        std::future::pending::<()>().await;
                        Ok::<(), String>(())
                    })
                    .await;
                    Ok::<(), String>(())
                })
                .await;
                // The body fails once the grandchild is in its long poll.
                let _ = in_poll.await;
                Err::<(), _>("boom".to_string())
            })
            .await;
        let _ = events.send("outer returned");
        res.is_err()
    });
    started_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the grandchild never started");
    // While the grandchild's poll runs, the outer scope cannot return (a broken scope returns
    // within its 10 ms grace period).
    let early = events_rx.recv_timeout(Duration::from_millis(300));
    release_tx.send(()).unwrap();
    let mut seen: Vec<&str> = early.into_iter().collect();
    while seen.len() < 2 {
        seen.push(
            events_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the scope never completed"),
        );
    }
    assert_eq!(seen, ["grandchild dropped", "outer returned"]);
    assert!(rt.block_on(outer).unwrap());
}
