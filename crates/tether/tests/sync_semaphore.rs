//! `tether::sync::Semaphore`, a count of permits, on the current-thread runtime (the timed test
//! on the paused clock): no more tasks hold a permit than there are permits; waiters are served
//! first in, first out, and a newcomer does not overtake them; `close` fails waiting and later
//! acquires; a waiter cancelled after being granted a permit passes it on; a forgotten permit is
//! gone for good.
//!
//! Many permits at once: `acquire_many` waits in the same queue, permits released meanwhile are
//! set aside for it, and smaller requests behind it wait (no starvation); a large waiter that
//! is cancelled passes on what was set aside; `close` fails it and returns what it had; owned
//! and `try_` forms; `forget_permits`, `merge`, `split`; a `static` semaphore from `const_new`;
//! and, on the multi-thread runtime, mixed request sizes never exceed the permits.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::sync::{AcquireError, Semaphore, TryAcquireError};
use tether::task::yield_now;
use tether::time::sleep;

use support::settle::settle;

#[tether::test(start_paused = true)]
async fn semaphore_limits_how_many_tasks_hold_a_permit_at_once() {
    let sem = Arc::new(Semaphore::new(3));
    let holding = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..10u64)
        .map(|i| {
            let (sem, holding, most) = (sem.clone(), holding.clone(), most.clone());
            tether::spawn(async move {
                let _permit = sem.acquire().await.unwrap();
                let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                sleep(Duration::from_millis(10 + i % 3)).await;
                holding.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), 3);
    assert_eq!(sem.available_permits(), 3);
}

#[tether::test]
async fn semaphore_serves_waiters_first_in_first_out() {
    let sem = Arc::new(Semaphore::new(0));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let (sem, order) = (sem.clone(), order.clone());
            tether::spawn(async move {
                let _permit = sem.acquire().await.unwrap();
                order.lock().unwrap().push(i);
                yield_now().await;
            })
        })
        .collect();
    settle().await;
    sem.add_permits(1);
    // A newcomer does not overtake the waiters.
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(sem.available_permits(), 1);
}

#[tether::test]
async fn semaphore_close_fails_waiting_and_later_acquires() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let waiter = {
        let sem = sem.clone();
        tether::spawn(async move { sem.acquire().await.map(drop) })
    };
    settle().await;
    sem.close();
    assert!(sem.is_closed());
    let err: AcquireError = waiter.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert!(sem.clone().acquire_owned().await.is_err());
    drop(held);
    assert_eq!(sem.available_permits(), 1);
}

#[tether::test]
async fn semaphore_waiter_cancelled_after_being_granted_passes_the_permit_on() {
    let sem = Arc::new(Semaphore::new(0));
    let first = {
        let sem = sem.clone();
        tether::spawn(async move { sem.acquire().await.map(drop) })
    };
    let second = {
        let sem = sem.clone();
        tether::spawn(async move { sem.acquire_owned().await.map(|p| p.num_permits()) })
    };
    settle().await;
    sem.add_permits(1); // granted to `first`, which has not run yet
    first.abort(); // dropped before it picks the permit up
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(second.await.unwrap(), Ok(1));
    assert_eq!(sem.available_permits(), 1);
}

#[tether::test]
async fn semaphore_forgotten_permits_are_gone_for_good() {
    let sem = Semaphore::new(2);
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.available_permits(), 1);
    let p = sem.acquire().await.unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop(p);
    assert_eq!(sem.available_permits(), 1);
}

#[tether::test]
async fn semaphore_acquire_many_takes_n_and_try_acquire_many_needs_them_free() {
    let sem = Semaphore::new(5);
    let three = sem.acquire_many(3).await.unwrap();
    assert_eq!(three.num_permits(), 3);
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(
        sem.try_acquire_many(3).unwrap_err(),
        TryAcquireError::NoPermits
    );
    let two = sem.try_acquire_many(2).unwrap();
    assert!(std::ptr::eq(two.semaphore(), &sem));
    let zero = sem.acquire_many(0).await.unwrap();
    assert_eq!(zero.num_permits(), 0, "zero permits complete at once");
    drop((three, two, zero));
    assert_eq!(sem.available_permits(), 5);
}

#[tether::test]
async fn semaphore_large_request_at_the_head_holds_back_later_small_ones() {
    let sem = Arc::new(Semaphore::new(2));
    let mut held = sem.try_acquire_many(2).unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let big = {
        let (sem, order) = (sem.clone(), order.clone());
        tether::spawn(async move {
            let p = sem.acquire_many(3).await.unwrap();
            order.lock().unwrap().push("big");
            yield_now().await;
            drop(p);
        })
    };
    settle().await;
    let small = {
        let (sem, order) = (sem.clone(), order.clone());
        tether::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            order.lock().unwrap().push("small");
        })
    };
    settle().await;
    drop(held.split(1).unwrap()); // one permit released: set aside for `big`
    settle().await;
    assert_eq!(sem.available_permits(), 0);
    assert!(
        order.lock().unwrap().is_empty(),
        "`small` must not overtake `big`"
    );
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    sem.add_permits(1); // `big` has 2 of 3
    settle().await;
    assert!(order.lock().unwrap().is_empty());
    drop(held); // the third
    big.await.unwrap();
    small.await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["big", "small"]);
    assert_eq!(sem.available_permits(), 3);
}

#[tether::test]
async fn semaphore_cancelled_large_waiter_passes_on_the_permits_set_aside() {
    let sem = Arc::new(Semaphore::new(1));
    let big = {
        let sem = sem.clone();
        tether::spawn(async move { sem.acquire_many(3).await.map(drop) })
    };
    settle().await;
    assert_eq!(
        sem.available_permits(),
        0,
        "the free permit was set aside for `big`"
    );
    let small = {
        let sem = sem.clone();
        tether::spawn(async move { sem.acquire_owned().await.map(|p| p.num_permits()) })
    };
    settle().await;
    sem.add_permits(1); // `big` has 2 of 3
    settle().await;
    assert!(!small.is_finished());
    big.abort();
    assert!(big.await.unwrap_err().is_cancelled());
    // Its two permits go on: one to `small`, one back to the pool.
    assert_eq!(small.await.unwrap(), Ok(1));
    assert_eq!(sem.available_permits(), 2);
}

#[tether::test]
async fn semaphore_close_fails_a_partly_served_waiter_and_returns_its_permits() {
    let sem = Arc::new(Semaphore::new(2));
    let big = {
        let sem = sem.clone();
        tether::spawn(async move { sem.acquire_many(5).await.map(drop) })
    };
    settle().await;
    assert_eq!(sem.available_permits(), 0);
    sem.close();
    assert!(big.await.unwrap().is_err());
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(
        sem.try_acquire_many(1).unwrap_err(),
        TryAcquireError::Closed
    );
}

#[tether::test]
async fn semaphore_owned_many_forms_and_permit_bookkeeping() {
    let sem = Arc::new(Semaphore::new(6));
    let mut a = sem.clone().acquire_many_owned(2).await.unwrap();
    let b = sem.clone().try_acquire_many_owned(3).unwrap();
    assert!(matches!(
        sem.clone().try_acquire_many_owned(2),
        Err(TryAcquireError::NoPermits)
    ));
    a.merge(b);
    assert_eq!(a.num_permits(), 5);
    assert!(Arc::ptr_eq(a.semaphore(), &sem));
    let c = a.split(4).unwrap();
    assert!(a.split(2).is_none());
    assert_eq!((a.num_permits(), c.num_permits()), (1, 4));
    c.forget(); // four fewer for good
    drop(a);
    assert_eq!(sem.available_permits(), 2);
    assert_eq!(sem.forget_permits(5), 2);
    assert_eq!(sem.available_permits(), 0);
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
#[should_panic(expected = "different semaphores")]
fn semaphore_merging_permits_of_two_semaphores_panics() {
    let (x, y) = (Semaphore::new(1), Semaphore::new(1));
    let mut p = x.try_acquire().unwrap();
    p.merge(y.try_acquire().unwrap());
}

static STATIC_SEMAPHORE: Semaphore = Semaphore::const_new(2);

#[tether::test]
async fn semaphore_const_new_makes_a_static_semaphore() {
    let p = STATIC_SEMAPHORE.acquire_many(2).await.unwrap();
    assert_eq!(STATIC_SEMAPHORE.available_permits(), 0);
    drop(p);
    assert_eq!(STATIC_SEMAPHORE.available_permits(), 2);
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn semaphore_mixed_request_sizes_never_exceed_the_permits_across_threads() {
    const PERMITS: usize = 4;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let in_use = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..40u32)
        .map(|i| {
            let (sem, in_use, most) = (sem.clone(), in_use.clone(), most.clone());
            tether::spawn(async move {
                for round in 0..20u32 {
                    let n = 1 + (i + round) % PERMITS as u32;
                    let _p = sem.acquire_many(n).await.unwrap();
                    let now = in_use.fetch_add(n as usize, Ordering::SeqCst) + n as usize;
                    most.fetch_max(now, Ordering::SeqCst);
                    yield_now().await;
                    in_use.fetch_sub(n as usize, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let all = async {
        for t in tasks {
            t.await.unwrap();
        }
    };
    tether::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("the tasks did not finish (a lost wake-up?)");
    assert!(most.load(Ordering::SeqCst) <= PERMITS);
    assert_eq!(sem.available_permits(), PERMITS);
}

/// Permits given back that would make more than `MAX_PERMITS` free (permits added twice) are
/// an accounting error that panics, as in tokio, instead of passing silently.
#[test]
#[should_panic(expected = "would make more than Semaphore::MAX_PERMITS")]
fn permits_given_back_beyond_the_maximum_panic() {
    let sem = tether::sync::Semaphore::new(tether::sync::Semaphore::MAX_PERMITS);
    let held = sem.try_acquire_many(u32::MAX).unwrap();
    sem.add_permits(u32::MAX as usize);
    drop(held);
}
