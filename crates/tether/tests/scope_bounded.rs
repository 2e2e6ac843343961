//! A scope's bound on its live children (`Builder::max_concurrency`): a spawn into a full scope
//! waits for a place, so no more children are alive at once than the bound, on either runtime
//! flavor; and a spawner that gives up waiting does not take the place freed for the next one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::scope::Builder;
use tether::time::sleep;

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

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_scope_on_the_multi_thread_runtime_never_exceeds_its_bound() {
    bounded_scope_stays_within(8, if cfg!(miri) { 64 } else { 20_000 }, false).await;
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
