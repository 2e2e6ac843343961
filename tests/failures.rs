//! No lost failures: a panic nobody observes reaches the runtime's failure policy exactly once,
//! with the task's name and spawn location; an observed one does not.

use std::sync::{Arc, Mutex};

use tether::runtime::{Builder, Runtime};

type Reports = Arc<Mutex<Vec<String>>>;

fn runtime(multi: bool, reports: &Reports) -> Runtime {
    let r = reports.clone();
    let mut b = if multi {
        Builder::new_multi_thread()
    } else {
        Builder::new_current_thread()
    };
    if multi {
        b.worker_threads(2);
    }
    b.on_unhandled_failure(move |f| r.lock().unwrap().push(f.to_string()))
        .build()
        .unwrap()
}

fn both_flavors(test: impl Fn(bool)) {
    test(false);
    test(true);
}

#[test]
fn fire_and_forget_panic_is_reported_once_with_name_and_location() {
    both_flavors(|multi| {
        let reports = Reports::default();
        let rt = runtime(multi, &reports);
        let line = rt.block_on(async {
            let fut = async { panic!("could not store") };
            let line = line!() + 1;
            let h = tether::task::Builder::new().name("buggy_store").spawn(fut);
            drop(h);
            tether::time::sleep(std::time::Duration::from_millis(20)).await;
            line
        });
        drop(rt);
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        let r = &reports[0];
        assert!(r.contains("\"buggy_store\""), "{r}");
        assert!(r.contains(&format!("failures.rs:{line}")), "{r}");
        assert!(r.contains("could not store"), "{r}");
    });
}

#[test]
fn handle_dropped_after_the_panic_is_reported_once() {
    both_flavors(|multi| {
        let reports = Reports::default();
        let rt = runtime(multi, &reports);
        rt.block_on(async {
            let h = tether::spawn(async { panic!("late") });
            tether::time::sleep(std::time::Duration::from_millis(20)).await;
            assert!(h.is_finished());
            drop(h);
        });
        drop(rt);
        assert_eq!(reports.lock().unwrap().len(), 1);
    });
}

#[test]
fn awaited_panic_is_not_reported_even_if_the_error_is_ignored() {
    both_flavors(|multi| {
        let reports = Reports::default();
        let rt = runtime(multi, &reports);
        rt.block_on(async {
            let _ = tether::spawn(async { panic!("seen") }).await;
            let err = tether::task::spawn_blocking(|| panic!("seen too"))
                .await
                .unwrap_err();
            assert!(err.is_panic());
        });
        drop(rt);
        assert!(reports.lock().unwrap().is_empty());
    });
}

#[test]
fn detached_blocking_panic_is_reported() {
    let reports = Reports::default();
    let rt = runtime(false, &reports);
    rt.block_on(async {
        drop(tether::task::spawn_blocking(|| panic!("blocking failure")));
        tether::time::sleep(std::time::Duration::from_millis(50)).await;
    });
    drop(rt);
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("blocking failure"));
}

#[test]
fn cancellation_is_not_a_failure() {
    let reports = Reports::default();
    let rt = runtime(false, &reports);
    rt.block_on(async {
        let h = tether::spawn(std::future::pending::<()>());
        h.abort();
        drop(h);
        tether::task::yield_now().await;
        // Tasks still running at shutdown are cancelled, not failed.
        drop(tether::spawn(std::future::pending::<()>()));
    });
    drop(rt);
    assert!(reports.lock().unwrap().is_empty());
}
