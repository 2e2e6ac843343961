//! Misuse gets a panic or error whose message says what to do instead.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use tether::runtime::{Builder, Handle};

fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    if let Some(s) = err.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = err.downcast_ref::<&str>() {
        s.to_string()
    } else {
        panic!("panic payload is not a string")
    }
}

#[test]
fn spawn_outside_a_runtime() {
    let msg = panic_message(|| drop(tether::spawn(async {})));
    assert!(msg.contains("outside a tether runtime"), "{msg}");
    assert!(msg.contains("Handle::spawn"), "{msg}");
    assert!(
        msg.contains("misuse.rs"),
        "the message names the call site: {msg}"
    );
}

#[test]
fn spawn_local_outside_block_on() {
    let rt = Builder::new_current_thread().build().unwrap();
    let _g = rt.enter();
    let msg = panic_message(|| drop(tether::task::spawn_local(async {})));
    assert!(
        msg.contains("not driving a current-thread runtime"),
        "{msg}"
    );
}

#[test]
fn block_on_inside_a_runtime() {
    let rt = Builder::new_current_thread().build().unwrap();
    let inner = Builder::new_current_thread().build().unwrap();
    let msg = rt.block_on(async {
        let err = tether::spawn(async move { inner.block_on(async {}) })
            .await
            .unwrap_err();
        let payload = err.into_panic();
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    });
    assert!(msg.contains("from inside a tether runtime"), "{msg}");
    assert!(msg.contains(".await"), "{msg}");
}

#[test]
fn handle_current_outside_a_runtime() {
    let msg = panic_message(|| drop(Handle::current()));
    assert!(msg.contains("no tether runtime on this thread"), "{msg}");
    assert!(Handle::try_current().is_err());
}

#[test]
fn timer_without_a_runtime() {
    let msg = panic_message(|| drop(tether::time::sleep(Duration::from_secs(1))));
    assert!(msg.contains("tether::time::sleep"), "{msg}");
    assert!(msg.contains("outside a tether runtime"), "{msg}");
}

#[test]
fn timer_used_after_its_runtime_is_gone() {
    let rt = Builder::new_current_thread().build().unwrap();
    let sleep = {
        let _g = rt.enter();
        tether::time::sleep(Duration::from_secs(1))
    };
    drop(rt);
    let msg = panic_message(|| futures_lite::future::block_on(sleep));
    assert!(msg.contains("after its runtime shut down"), "{msg}");
}

#[test]
fn socket_without_a_runtime() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let msg = panic_message(|| drop(tether::net::TcpListener::from_std(std_listener)));
    assert!(msg.contains("TcpListener::from_std"), "{msg}");
    assert!(msg.contains("outside a tether runtime"), "{msg}");
    let msg = panic_message(|| {
        drop(futures_lite::future::block_on(
            tether::net::TcpStream::connect("127.0.0.1:1"),
        ))
    });
    assert!(msg.contains("outside a tether runtime"), "{msg}");
}

#[test]
fn timer_of_an_idle_runtime_awaited_inside_another_runtime() {
    let a = Builder::new_current_thread().build().unwrap();
    let b = Builder::new_current_thread().build().unwrap();
    let sleep = {
        let _g = a.enter();
        tether::time::sleep(Duration::from_secs(1))
    };
    let msg = panic_message(|| b.block_on(sleep));
    assert!(msg.contains("awaited inside another runtime"), "{msg}");
    assert!(
        msg.contains("Create sockets and timers inside the runtime"),
        "{msg}"
    );
}

#[test]
fn advance_on_a_running_clock() {
    let rt = Builder::new_current_thread().build().unwrap();
    let msg = panic_message(|| rt.block_on(tether::time::advance(Duration::from_secs(1))));
    assert!(msg.contains("time::pause()"), "{msg}");
}

#[test]
fn join_error_into_panic_on_a_cancelled_task() {
    let rt = Builder::new_current_thread().build().unwrap();
    let err = rt.block_on(async {
        let h = tether::spawn(std::future::pending::<()>());
        h.abort();
        h.await.unwrap_err()
    });
    let msg = panic_message(|| drop(err.into_panic()));
    assert!(msg.contains("cancelled, not panicked"), "{msg}");
}

#[test]
fn zero_interval_period() {
    let rt = Builder::new_current_thread().build().unwrap();
    let _g = rt.enter();
    let msg = panic_message(|| drop(tether::time::interval(Duration::ZERO)));
    assert!(msg.contains("greater than zero"), "{msg}");
}
