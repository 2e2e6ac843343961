//! `tether::sync::OnceCell`, a value set once: concurrent `get_or_init` callers run one
//! initializer and all get its value (both flavors); an initializer whose task is aborted, that
//! panics, or (in `get_or_try_init`) fails hands over to the next waiting caller; `set` reports
//! an initialized cell and a running initializer; `take`, `into_inner`, `new_with`, `get_mut`;
//! a `static` cell from `const_new`.

mod support;

use support::on_both_flavors;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::sync::{oneshot, OnceCell, SetError};

use support::settle::settle;

on_both_flavors!(
    concurrent_callers_run_one_initializer_and_share_its_value,
    aborted_initializer_hands_over_to_a_waiting_caller,
);

/// Awaits `fut`, failing the test after a generous limit rather than hanging it.
async fn bounded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tether::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after 30 s (a lost wake-up?)"))
}

async fn concurrent_callers_run_one_initializer_and_share_its_value() {
    let cell = Arc::new(OnceCell::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..16)
        .map(|i| {
            let (cell, runs) = (cell.clone(), runs.clone());
            tether::spawn(async move {
                *cell
                    .get_or_init(|| async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tether::task::yield_now().await; // the others arrive meanwhile
                        i
                    })
                    .await
            })
        })
        .collect();
    let mut values = Vec::new();
    for c in callers {
        values.push(bounded("a get_or_init caller", c).await.unwrap());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one initializer ran");
    assert!(values.windows(2).all(|w| w[0] == w[1]), "{values:?}");
    assert_eq!(cell.get(), Some(&values[0]));
    assert!(cell.initialized());
}

async fn aborted_initializer_hands_over_to_a_waiting_caller() {
    let cell = Arc::new(OnceCell::new());
    let (started_tx, started_rx) = oneshot::channel();
    let first = {
        let cell = cell.clone();
        tether::spawn(async move {
            cell.get_or_init(|| async move {
                started_tx.send(()).unwrap();
                std::future::pending::<&str>().await // never finishes on its own
            })
            .await;
        })
    };
    started_rx.await.unwrap(); // `first` holds the right to initialize
    let second = {
        let cell = cell.clone();
        tether::spawn(async move { *cell.get_or_init(|| async { "second" }).await })
    };
    // On the current-thread runtime `second` now waits for the permit; on the multi-thread one
    // it may still be on its way, and then finds the permit free: both must end in "second".
    settle().await;
    assert!(!cell.initialized());
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(
        bounded("the waiting caller", second).await.unwrap(),
        "second"
    );
    assert_eq!(cell.get(), Some(&"second"));
}

#[tether::test]
async fn once_cell_waiting_callers_get_the_value_without_running_their_function() {
    let cell = Arc::new(OnceCell::new());
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let first = {
        let cell = cell.clone();
        tether::spawn(async move {
            *cell
                .get_or_init(|| async move {
                    go_rx.await.unwrap();
                    1
                })
                .await
        })
    };
    settle().await;
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let cell = cell.clone();
            tether::spawn(async move {
                *cell
                    .get_or_init(|| async { panic!("a waiting caller's function ran") })
                    .await
            })
        })
        .collect();
    settle().await;
    assert!(waiters.iter().all(|w| !w.is_finished()));
    assert_eq!(
        cell.set(5),
        Err(SetError::InitializingError(5)),
        "an initializer is running"
    );
    go_tx.send(()).unwrap();
    assert_eq!(first.await.unwrap(), 1);
    for w in waiters {
        assert_eq!(w.await.unwrap(), 1);
    }
}

#[tether::test]
async fn once_cell_initializer_that_panics_hands_over() {
    let cell = Arc::new(OnceCell::new());
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let first = {
        let cell = cell.clone();
        tether::spawn(async move {
            cell.get_or_init(|| async move {
                go_rx.await.unwrap();
                panic!("the first initializer fails");
            })
            .await;
        })
    };
    settle().await;
    let second = {
        let cell = cell.clone();
        tether::spawn(async move { *cell.get_or_init(|| async { 2 }).await })
    };
    settle().await;
    go_tx.send(()).unwrap();
    assert!(first.await.unwrap_err().is_panic());
    assert_eq!(second.await.unwrap(), 2);
}

#[tether::test]
async fn once_cell_get_or_try_init_error_leaves_it_empty_and_hands_over() {
    let cell = Arc::new(OnceCell::<u32>::new());
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let first = {
        let cell = cell.clone();
        tether::spawn(async move {
            cell.get_or_try_init(|| async move {
                go_rx.await.unwrap();
                Err::<u32, _>("unavailable")
            })
            .await
            .copied()
        })
    };
    settle().await;
    let second = {
        let cell = cell.clone();
        tether::spawn(async move {
            cell.get_or_try_init(|| async { Ok::<_, &str>(3) })
                .await
                .copied()
        })
    };
    settle().await;
    go_tx.send(()).unwrap();
    assert_eq!(first.await.unwrap(), Err("unavailable"));
    assert_eq!(second.await.unwrap(), Ok(3));
    assert_eq!(
        cell.get_or_try_init(|| async { Err::<u32, _>("not called") })
            .await,
        Ok(&3)
    );
}

#[tether::test]
async fn once_cell_set_take_into_inner_and_friends() {
    let mut cell = OnceCell::new();
    assert_eq!(cell.get(), None);
    assert_eq!(cell.get_mut(), None);
    cell.set(1).unwrap();
    let err = cell.set(2).unwrap_err();
    assert!(err.is_already_init_err() && !err.is_initializing_err());
    assert!(err.to_string().contains("already"), "{err}");
    assert_eq!(err.into_inner(), 2);
    *cell.get_mut().unwrap() += 10;
    assert_eq!(cell.get_or_init(|| async { 0 }).await, &11);
    assert_eq!(cell.take(), Some(11));
    assert!(!cell.initialized(), "take leaves it empty");
    assert_eq!(
        *cell.get_or_init(|| async { 4 }).await,
        4,
        "and usable again"
    );
    assert_eq!(cell.clone().into_inner(), Some(4));
    assert_eq!(cell, OnceCell::from(4));
    assert_eq!(OnceCell::new_with(Some(7)).get(), Some(&7));
    assert_eq!(OnceCell::<u8>::new_with(None).into_inner(), None);
    assert_eq!(
        format!("{:?}", OnceCell::from(1)),
        "OnceCell { value: Some(1) }"
    );
}

static STATIC_CELL: OnceCell<String> = OnceCell::const_new();

#[tether::test]
async fn once_cell_const_new_makes_a_static_cell() {
    let v = STATIC_CELL
        .get_or_init(|| async { "from a static".to_string() })
        .await;
    assert_eq!(v, "from a static");
    assert_eq!(
        STATIC_CELL.set("again".into()),
        Err(SetError::AlreadyInitializedError("again".into()))
    );
}
