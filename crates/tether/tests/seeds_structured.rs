//! The seeds' lost-data scenarios, made impossible: failures reported, pending work completed
//! or reported, traffic spikes bounded, cancellation propagated. Each test names its seed file.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::runtime::Builder;
use tether::scope::{scope, Builder as ScopeBuilder};
use tether::time::sleep;

/// 003_cb15d5b9c256ba2d.txt: `create_task(buggy_store(data))` in a loop, never awaited. In
/// asyncio the errors vanish; in tether each one reaches the failure policy, with the task's
/// name and where it was spawned.
#[test]
fn seed_003_buggy_store_failures_are_reported_not_lost() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    let rt = Builder::new_current_thread()
        .start_paused(true)
        .on_unhandled_failure(move |f| r.lock().unwrap().push(f.to_string()))
        .build()
        .unwrap();
    rt.block_on(async {
        for data in 0..5u32 {
            // Fire and forget, as in the seed.
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

/// 003_cb15d5b9c256ba2d.txt: `main` returns while `store(data)` tasks are pending. Inside a
/// scope, the scope waits: every store completes before `main` goes on.
#[tether::test(start_paused = true)]
async fn seed_003_pending_stores_complete_inside_a_scope() {
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
        "Successfully finished, for real"
    );
}

/// 003_cb15d5b9c256ba2d.txt: the same with root `spawn`: the runtime knows every task
/// ("Psst: all_tasks()"), and a shutdown cancels and reports the ones still pending.
#[test]
fn seed_003_pending_root_stores_are_reported_at_shutdown() {
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
        assert!(t.location().file().ends_with("seeds_structured.rs"));
        assert!(t.is_root());
        assert!(t.to_string().contains("spawned at"), "{t}");
    }
}

/// 003_cb15d5b9c256ba2d.txt: the traffic spike. A bounded scope makes the producer wait, so
/// the number of live store tasks never grows past the bound.
#[tether::test(start_paused = true)]
async fn seed_003_traffic_spike_is_bounded_by_the_scope() {
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

/// 001_acda1f03317c289a.txt: cancellation propagates: when one of several concurrent requests
/// fails, its siblings are told to stop and none keeps running after the scope returns.
#[tether::test(start_paused = true)]
async fn seed_001_cancellation_propagates_to_siblings() {
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

/// 003_cb15d5b9c256ba2d.txt: with the `ShutdownRuntime` policy, the first unobserved failure
/// stops everything instead of letting the program "blissfully cruise along".
#[test]
fn seed_003_failure_policy_can_shut_the_runtime_down() {
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
