//! Work a program can lose without noticing, and how tether keeps it from being lost: a task
//! spawned and forgotten that fails (its failure is reported), tasks still pending when the
//! program moves on or shuts down (a scope waits for them; a shutdown reports them), a spike of
//! requests each spawning a store (a bounded scope keeps the number in flight bounded), and one
//! failed request among several (its siblings are cancelled, not left running).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::runtime::Builder;
use tether::scope::{scope, Builder as ScopeBuilder};
use tether::time::sleep;

/// A loop that spawns a `buggy_store(data)` task per item and drops its handle (fire and
/// forget): each task panics, and nobody awaits it. A runtime that only reports a failure to the
/// task's awaiter would lose all five; in tether each one reaches the failure policy (here a
/// hook), with the task's name and where it was spawned.
#[test]
fn failures_of_fire_and_forget_tasks_are_reported_not_lost() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    let rt = Builder::new_current_thread()
        .start_paused(true)
        .on_unhandled_failure(move |f| r.lock().unwrap().push(f.to_string()))
        .build()
        .unwrap();
    rt.block_on(async {
        for data in 0..5u32 {
            // Fire and forget: the handle is dropped, nobody awaits the task.
            drop(
                tether::task::Builder::new()
                    .name("buggy_store")
                    .spawn(async move {
                        let _ = data;
                        panic!("There is something wrong with me");
                    }),
            );
            sleep(Duration::from_secs(1)).await;
        }
    });
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 5, "{reports:?}");
    assert!(reports
        .iter()
        .all(|r| r.contains("\"buggy_store\"") && r.contains("something wrong")));
}

/// A program spawns five `store(data)` tasks (each takes a second) and would return while they
/// are pending, losing their data. Spawned inside a scope, they are waited for: every store
/// completes before the scope returns and the program goes on.
#[tether::test(start_paused = true)]
async fn pending_stores_inside_a_scope_complete_before_it_returns() {
    let stored = Arc::new(AtomicUsize::new(0));
    let s2 = stored.clone();
    scope(|s| async move {
        for count in 0..5u32 {
            let stored = s2.clone();
            s.spawn_named("store", async move {
                let _data = count + 1;
                sleep(Duration::from_secs(1)).await;
                stored.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            })
            .await;
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(
        stored.load(Ordering::SeqCst),
        5,
        "every store completed before the scope returned"
    );
}

/// The same five stores spawned at the root (no scope), each pending for an hour: the runtime
/// knows every live task (`Handle::live_tasks` lists them by name), and a graceful shutdown
/// cancels the ones still pending and reports each, with its name and where it was spawned.
#[test]
fn pending_root_tasks_are_listed_and_reported_at_shutdown() {
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        for count in 0..5u32 {
            drop(
                tether::task::Builder::new()
                    .name("store")
                    .spawn(async move {
                        let _data = count + 1;
                        sleep(Duration::from_secs(3600)).await;
                    }),
            );
        }
        let live = tether::runtime::Handle::current().live_tasks();
        assert_eq!(live.iter().filter(|t| t.name() == Some("store")).count(), 5);
    });
    let cut_off = rt.shutdown_graceful(Duration::from_millis(10));
    assert_eq!(cut_off.len(), 5);
    for t in &cut_off {
        assert_eq!(t.name(), Some("store"));
        assert!(t.location().file().ends_with("lost_work.rs"));
        assert!(t.is_root());
        assert!(t.to_string().contains("spawned at"), "{t}");
    }
}

/// A traffic spike: 10,000 requests arrive at once, each spawning a task that stores its data
/// to a slow database (5 ms). Spawned into a scope bounded at 16, the producer waits for a free
/// place, so the number of live store tasks never grows past 16, and all have finished when the
/// scope returns.
#[tether::test(start_paused = true)]
async fn a_traffic_spike_is_bounded_by_the_scope() {
    let live = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (l, m) = (live.clone(), max.clone());
    ScopeBuilder::new()
        .max_concurrency(16)
        .run(|s| async move {
            for _request in 0..10_000u32 {
                let (l, m) = (l.clone(), m.clone());
                s.spawn_named("store_data", async move {
                    m.fetch_max(l.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    sleep(Duration::from_millis(5)).await; // a slow database
                    l.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                })
                .await;
            }
            Ok(())
        })
        .await
        .unwrap();
    assert!(max.load(Ordering::SeqCst) <= 16);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

/// Four requests run concurrently in a scope with a fifth that fails after 10 ms ("upstream
/// returned 500"): the failure cancels the scope, every sibling observes the cancellation and
/// stops, none keeps running after the scope returns, and the scope returns the failure.
#[tether::test(start_paused = true)]
async fn a_failed_request_cancels_its_siblings() {
    let stopped = Arc::new(AtomicUsize::new(0));
    let s2 = stopped.clone();
    let err = scope(|s| async move {
        for _ in 0..4 {
            let stopped = s2.clone();
            s.spawn(async move {
                request_until_cancelled().await;
                stopped.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(())
            })
            .await;
        }
        s.spawn(async {
            sleep(Duration::from_millis(10)).await;
            Err::<(), _>("upstream returned 500".to_string())
        })
        .await;
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(
        err.first().map(String::as_str),
        Some("upstream returned 500")
    );
    assert_eq!(
        stopped.load(Ordering::SeqCst),
        4,
        "every sibling observed the cancellation"
    );
}

/// A request that runs until its task is told to stop.
async fn request_until_cancelled() {
    let work = sleep(Duration::from_secs(3600));
    let stop = tether::task::cancelled();
    futures_lite::future::or(work, stop).await;
}

/// With the `ShutdownRuntime` policy, the first failure nobody observes (a fire-and-forget task
/// that panics) stops the runtime: `block_on` panics with that failure instead of letting the
/// program carry on as if nothing had happened.
#[test]
fn the_failure_policy_can_shut_the_runtime_down_on_the_first_unobserved_failure() {
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .unhandled_failure(tether::runtime::UnhandledFailurePolicy::ShutdownRuntime)
        .on_unhandled_failure(|_| {})
        .build()
        .unwrap();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            drop(tether::spawn(async {
                panic!("There is something wrong with me")
            }));
            std::future::pending::<()>().await
        })
    }));
    let payload = res.unwrap_err();
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(msg.contains("something wrong"), "{msg}");
}
