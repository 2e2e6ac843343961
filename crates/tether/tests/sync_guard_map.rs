//! Guard mapping: `MutexGuard::map`/`try_map` (and `MappedMutexGuard`'s own), `RwLockReadGuard`'s,
//! `RwLockWriteGuard`'s (`map`, `try_map`, `into_mapped`, `downgrade_map`,
//! `try_downgrade_map`) and `RwLockMappedWriteGuard`'s. Each mapped guard keeps the lock until
//! it is dropped, gives access to the part only, releases the lock exactly once, and never
//! drops the value.
//!
//! The guards hold raw pointers and (the mutex's) a type-erased guard: run this file under Miri
//! (`cargo +nightly miri test -p tether --test sync_guard_map`). Most tests take the locks with
//! the `try_` methods, so they need no runtime.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tether::sync::{
    MappedMutexGuard, Mutex, MutexGuard, RwLock, RwLockMappedWriteGuard, RwLockReadGuard,
    RwLockWriteGuard,
};

use support::on_drop::OnDrop;
use support::settle::settle;

#[derive(Debug)]
struct Account {
    owner: String,
    balance: i64,
    history: Vec<i64>,
}

fn account() -> Account {
    Account {
        owner: "ada".to_string(),
        balance: 10,
        history: vec![10],
    }
}

#[test]
fn mutex_guard_map_narrows_to_a_field_and_keeps_the_lock() {
    let m = Mutex::new(account());
    let mut balance = MutexGuard::map(m.try_lock().unwrap(), |a| &mut a.balance);
    *balance += 5;
    assert!(m.try_lock().is_err(), "the mapped guard holds the lock");
    drop(balance);
    let a = m.try_lock().unwrap();
    assert_eq!((a.owner.as_str(), a.balance), ("ada", 15));
}

#[test]
fn mutex_guard_try_map_gives_the_guard_back_when_the_part_is_missing() {
    let m = Mutex::new(account());
    let guard = m.try_lock().unwrap();
    let mut guard = MutexGuard::try_map(guard, |a| a.history.get_mut(5)).unwrap_err();
    guard.history.push(-3);
    assert!(
        m.try_lock().is_err(),
        "the guard given back still holds the lock"
    );
    let mut last = MutexGuard::try_map(guard, |a| a.history.last_mut()).unwrap();
    assert_eq!(*last, -3);
    *last = -4;
    drop(last);
    assert_eq!(m.try_lock().unwrap().history, [10, -4]);
}

/// A mapped guard maps again, to an unsized part, and to a zero-sized one.
#[test]
fn mapped_mutex_guard_maps_again_to_unsized_and_zero_sized_parts() {
    let m = Mutex::new((account(), ()));
    let whole: MappedMutexGuard<'_, Account> = MutexGuard::map(m.try_lock().unwrap(), |p| &mut p.0);
    let mut name: MappedMutexGuard<'_, str> =
        MappedMutexGuard::map(whole, |a| a.owner.as_mut_str());
    name.make_ascii_uppercase();
    let missing = MappedMutexGuard::try_map(name, |s| s.get_mut(10..)).unwrap_err();
    assert_eq!(&*missing, "ADA");
    drop(missing);
    let unit: MappedMutexGuard<'_, ()> = MutexGuard::map(m.try_lock().unwrap(), |p| &mut p.1);
    assert!(m.try_lock().is_err());
    drop(unit);
    assert_eq!(m.try_lock().unwrap().0.owner, "ADA");
}

/// Dropping a mapped guard releases the lock and never drops the value, which the mutex drops
/// exactly once.
#[test]
fn mapped_guards_release_the_lock_without_dropping_the_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    let m = Mutex::new((OnDrop(drops.clone()), 1u8));
    for _ in 0..3 {
        let mut n = MutexGuard::map(m.try_lock().unwrap(), |p| &mut p.1);
        *n += 1;
    }
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(m.try_lock().unwrap().1, 4);
    drop(m);
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    let rw = RwLock::new((OnDrop(drops.clone()), 1u8));
    drop(RwLockReadGuard::map(rw.try_read().unwrap(), |p| &p.1));
    drop(RwLockWriteGuard::map(rw.try_write().unwrap(), |p| &mut p.1));
    drop(RwLockWriteGuard::downgrade_map(
        rw.try_write().unwrap(),
        |p| &p.0,
    ));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(rw);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

/// A mapped mutex guard moved to another thread and dropped there releases the lock.
#[test]
fn mapped_mutex_guard_released_on_another_thread() {
    let m = Mutex::new(vec![1, 2, 3]);
    let first = MutexGuard::map(m.try_lock().unwrap(), |v| &mut v[0]);
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut first = first;
            *first = 7;
        });
    });
    assert_eq!(*m.try_lock().unwrap(), [7, 2, 3]);
}

/// Dropping a mapped guard wakes the task waiting for the lock.
#[tether::test]
async fn dropping_a_mapped_mutex_guard_wakes_a_waiting_task() {
    let m = Arc::new(Mutex::new(account()));
    let balance = MutexGuard::map(m.lock().await, |a| &mut a.balance);
    let waiter = {
        let m = m.clone();
        tether::spawn(async move { m.lock().await.balance })
    };
    settle().await;
    assert!(!waiter.is_finished());
    drop(balance);
    assert_eq!(waiter.await.unwrap(), 10);
}

#[test]
fn rwlock_read_guard_map_and_try_map_keep_readers_sharing() {
    let lock = RwLock::new(account());
    let owner: RwLockReadGuard<'_, str> =
        RwLockReadGuard::map(lock.try_read().unwrap(), |a| a.owner.as_str());
    let other = lock.try_read().unwrap();
    assert!(lock.try_write().is_err());
    let newest = RwLockReadGuard::try_map(other, |a| a.history.last()).unwrap();
    assert_eq!((&*owner, *newest), ("ada", 10));
    let none = RwLockReadGuard::try_map(lock.try_read().unwrap(), |a| a.history.get(9));
    let back = none.unwrap_err();
    assert_eq!(back.balance, 10);
    drop((owner, newest, back));
    assert!(lock.try_write().is_ok());
}

#[test]
fn rwlock_write_guard_map_try_map_and_into_mapped() {
    let lock = RwLock::new(account());
    let w = lock.try_write().unwrap();
    let w = RwLockWriteGuard::try_map(w, |a| a.history.get_mut(3)).unwrap_err();
    let mut history: RwLockMappedWriteGuard<'_, Vec<i64>> =
        RwLockWriteGuard::map(w, |a| &mut a.history);
    history.push(20);
    assert!(lock.try_read().is_err(), "the mapped guard still writes");
    let mut slice: RwLockMappedWriteGuard<'_, [i64]> =
        RwLockMappedWriteGuard::map(history, |h| h.as_mut_slice());
    slice.reverse();
    let slice = RwLockMappedWriteGuard::try_map(slice, |s| s.get_mut(5)).unwrap_err();
    let mut last = RwLockMappedWriteGuard::try_map(slice, |s| s.last_mut()).unwrap();
    *last += 1;
    drop(last);

    let mut whole = RwLockWriteGuard::into_mapped(lock.try_write().unwrap());
    whole.balance = 0;
    drop(whole);
    let a = lock.try_read().unwrap();
    assert_eq!((a.balance, a.history.as_slice()), (0, &[20, 11][..]));
}

#[test]
fn rwlock_downgrade_map_and_try_downgrade_map() {
    let lock = RwLock::new(account());
    let mut w = lock.try_write().unwrap();
    w.balance = 99;
    let w = RwLockWriteGuard::try_downgrade_map(w, |a| a.history.get(4)).unwrap_err();
    assert!(
        lock.try_read().is_err(),
        "the guard given back still writes"
    );
    let balance = RwLockWriteGuard::downgrade_map(w, |a| &a.balance);
    assert_eq!(*balance, 99);
    assert_eq!(lock.try_read().unwrap().owner, "ada", "readers may join");
    assert!(lock.try_write().is_err());
    drop(balance);
    let w = lock.try_write().unwrap();
    let owner = RwLockWriteGuard::try_downgrade_map(w, |a| Some(a.owner.as_str())).unwrap();
    assert_eq!(&*owner, "ada");
    assert!(lock.try_read().is_ok());
}

#[test]
fn mapped_guards_are_send_and_sync_like_the_references_they_give() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<MappedMutexGuard<'static, u8>>();
    send_sync::<RwLockReadGuard<'static, str>>();
    send_sync::<RwLockWriteGuard<'static, String>>();
    send_sync::<RwLockMappedWriteGuard<'static, [u8]>>();
}
