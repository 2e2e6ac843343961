//! `tether::sync::Semaphore`, a count of permits, on the current-thread runtime (the timed test
//! on the paused clock): no more tasks hold a permit than there are permits; waiters are served
//! first in, first out, and a newcomer does not overtake them; `close` fails waiting and later
//! acquires; a waiter cancelled after being granted a permit passes it on; a forgotten permit is
//! gone for good.

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
