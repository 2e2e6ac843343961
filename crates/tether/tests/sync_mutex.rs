//! `tether::sync::Mutex` on the current-thread runtime: it excludes the other tasks while its
//! holder yields, and no update is lost; `try_lock` fails while it is held; an owned guard moves
//! into another task, and the waiting task gets the lock once that guard is dropped.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tether::sync::Mutex;
use tether::task::yield_now;

use support::settle::settle;

#[tether::test]
async fn mutex_excludes_other_tasks_while_the_holder_yields() {
    let shared = Arc::new(Mutex::new(0u32));
    let inside = Arc::new(AtomicUsize::new(0));
    let most_inside = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (shared, inside, most_inside) =
                (shared.clone(), inside.clone(), most_inside.clone());
            tether::spawn(async move {
                for _ in 0..5 {
                    let mut guard = shared.lock().await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most_inside.fetch_max(now, Ordering::SeqCst);
                    let seen = *guard;
                    yield_now().await; // the others run, and must wait for the lock
                    *guard = seen + 1;
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(most_inside.load(Ordering::SeqCst), 1);
    assert_eq!(*shared.lock().await, 40, "no update was lost");
}

#[tether::test]
async fn mutex_try_lock_fails_while_held_and_owned_guards_move_into_tasks() {
    let m = Arc::new(Mutex::new(vec![1]));
    let guard = m.clone().lock_owned().await;
    let err = m.try_lock().unwrap_err();
    assert!(err.to_string().contains("held"), "{err}");
    assert!(m.clone().try_lock_owned().is_err());
    let waiter = {
        let m = m.clone();
        tether::spawn(async move { m.lock().await.len() })
    };
    settle().await;
    assert!(!waiter.is_finished());
    let holder = tether::spawn(async move {
        let mut guard = guard;
        guard.push(2);
    });
    holder.await.unwrap();
    assert_eq!(waiter.await.unwrap(), 2);
    let mut m = Arc::try_unwrap(m).unwrap();
    m.get_mut().push(3);
    assert_eq!(m.into_inner(), [1, 2, 3]);
}
