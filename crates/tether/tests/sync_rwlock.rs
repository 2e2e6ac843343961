//! `tether::sync::RwLock` on the current-thread runtime: readers share the lock, a writer waits
//! for every reader to leave, and while a writer holds it no reader gets in; `with_max_readers`
//! bounds the readers; a waiting writer holds back later readers; `downgrade` keeps writers
//! out; the blocking and `const` constructors. Guard mapping: `sync_guard_map.rs`.

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

/// `with_max_readers(_, 2)`: two readers hold the lock, the third waits until one leaves, and
/// a writer waits for all of them.
#[tether::test]
async fn rwlock_with_max_readers_makes_the_reader_past_the_maximum_wait() {
    let lock = Arc::new(RwLock::with_max_readers(7, 2));
    let r1 = lock.read().await;
    let r2 = lock.read().await;
    assert!(lock.try_read().is_err(), "a third reader cannot get in");
    let third = {
        let lock = lock.clone();
        tether::spawn(async move { *lock.read().await })
    };
    settle().await;
    assert!(!third.is_finished(), "the third reader waits");
    drop(r1);
    assert_eq!(third.await.unwrap(), 7, "a reader left: the third gets in");
    assert_eq!(*r2, 7);
    assert!(lock.try_write().is_err());
    drop(r2);
    *lock.try_write().unwrap() += 1;
    assert_eq!(*lock.read().await, 8);
}

#[test]
#[should_panic(expected = "max_reads is 0")]
fn rwlock_with_no_readers_panics() {
    let _ = RwLock::with_max_readers((), 0);
}

#[test]
#[should_panic(expected = "at most u32::MAX >> 3")]
fn rwlock_with_more_readers_than_tokio_allows_panics() {
    let _ = RwLock::with_max_readers((), (u32::MAX >> 3) + 1);
}

#[test]
fn rwlock_accepts_the_largest_maximum() {
    let lock = RwLock::with_max_readers(1, u32::MAX >> 3);
    let r = lock.try_read().unwrap();
    assert!(lock.try_write().is_err());
    drop(r);
    assert!(lock.try_write().is_ok());
}

/// Fair order: a writer that waits holds back readers that come after it (rule 2 of the
/// module), and gets the lock as soon as the earlier readers leave.
#[tether::test]
async fn rwlock_a_waiting_writer_holds_back_later_readers() {
    let lock = Arc::new(RwLock::new(0));
    let early = lock.read().await;
    let writer = {
        let lock = lock.clone();
        tether::spawn(async move { *lock.write().await += 1 })
    };
    settle().await;
    assert!(
        lock.try_read().is_err(),
        "a writer waits: new readers queue behind it"
    );
    let late_reader = {
        let lock = lock.clone();
        tether::spawn(async move { *lock.read().await })
    };
    settle().await;
    assert!(!writer.is_finished() && !late_reader.is_finished());
    drop(early);
    writer.await.unwrap();
    assert_eq!(
        late_reader.await.unwrap(),
        1,
        "the late reader saw the write"
    );
}

/// `downgrade` keeps the lock: a waiting writer stays out, a reader may come in, and the writer
/// gets the lock once the downgraded guard and the reader are gone.
#[tether::test]
async fn rwlock_downgrade_keeps_writers_out_and_lets_readers_in() {
    let lock = Arc::new(RwLock::with_max_readers(String::from("a"), 4));
    let mut w = lock.write().await;
    w.push('b');
    let r = w.downgrade();
    assert_eq!(&*lock.try_read().unwrap(), "ab");
    let writer = {
        let lock = lock.clone();
        tether::spawn(async move { lock.write().await.push('c') })
    };
    settle().await;
    assert!(
        !writer.is_finished(),
        "the downgraded guard still holds the lock"
    );
    assert_eq!(&*r, "ab");
    drop(r);
    writer.await.unwrap();
    assert_eq!(&*lock.read().await, "abc");
}

#[test]
fn rwlock_blocking_read_and_write_from_a_plain_thread() {
    let lock = Arc::new(RwLock::new(1));
    let other = lock.clone();
    std::thread::spawn(move || {
        *other.blocking_write() += 1;
        assert_eq!(*other.blocking_read(), 2);
    })
    .join()
    .unwrap();
    assert_eq!(*lock.try_read().unwrap(), 2);
}

#[tether::test]
#[should_panic(expected = "RwLock::blocking_read")]
async fn rwlock_blocking_read_on_a_runtime_thread_panics() {
    let lock = RwLock::new(0);
    let _ = lock.blocking_read();
}

static COUNTER: RwLock<u32> = RwLock::const_new(0);

#[tether::test]
async fn rwlock_const_new_in_a_static() {
    *COUNTER.write().await += 5;
    assert_eq!(*COUNTER.read().await, 5);
}
