//! `tether::sync::RwLock` on the current-thread runtime: readers share the lock, a writer waits
//! for every reader to leave, and while a writer holds it no reader gets in.

mod support;

use std::sync::Arc;

use tether::sync::RwLock;

use support::settle::settle;

#[tether::test]
async fn rwlock_readers_share_the_lock_and_a_writer_excludes_them() {
    let lock = Arc::new(RwLock::new(0));
    let r1 = lock.read().await;
    let r2 = lock.try_read().unwrap();
    assert_eq!(*r1 + *r2, 0);
    assert!(lock.try_write().is_err());
    let writer = {
        let lock = lock.clone();
        tether::spawn(async move {
            *lock.write().await += 1;
        })
    };
    settle().await;
    assert!(!writer.is_finished(), "the writer waits for both readers");
    drop(r1);
    settle().await;
    assert!(!writer.is_finished());
    drop(r2);
    writer.await.unwrap();
    assert_eq!(*lock.read().await, 1);

    let w = lock.write().await;
    assert!(lock.try_read().is_err());
    drop(w);
    assert!(lock.try_read().is_ok());
}
