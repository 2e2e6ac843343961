//! Signals. Each scenario that installs a handler runs in a child process (this test binary
//! re-executed for that one test, `support::child`), because a handler stays installed for the
//! life of the process and `SIGINT` would otherwise change the test runner's behaviour. The child
//! sends itself the signal, checks that the listeners fire, and exits 0; the parent asserts that.
//! Everything is bounded in time.
//!
//! Unix only: the signals here are Unix signals (Windows has `ctrl_c` alone).
#![cfg(unix)]

mod support;

use std::future::Future;
use std::time::Duration;

use tether::runtime::Builder;
use tether::signal::unix::{signal, Signal, SignalKind};
use tether::time::timeout;

/// Sends `sig` to this process (any thread may take it).
fn kill_self(sig: libc::c_int) {
    // SAFETY: `kill` and `getpid` have no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
}

/// Sends `sig` to the calling thread.
fn raise(sig: libc::c_int) {
    // SAFETY: `raise` has no memory-safety preconditions.
    assert_eq!(unsafe { libc::raise(sig) }, 0);
}

/// `fut`, which must complete within 10 s.
async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match timeout(Duration::from_secs(10), fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: nothing within 10 s"),
    }
}

/// Asserts that `listener` reports nothing for 200 ms.
async fn quiet(what: &str, listener: &mut Signal) {
    let res = timeout(Duration::from_millis(200), listener.recv()).await;
    assert!(res.is_err(), "{what}: unexpected delivery");
}

fn current_thread() -> tether::runtime::Runtime {
    Builder::new_current_thread().build().unwrap()
}

#[test]
fn sigusr1_reaches_every_listener() {
    if support::child::run_in_child("sigusr1_reaches_every_listener").is_some() {
        return;
    }
    current_thread().block_on(async {
        let mut first = signal(SignalKind::user_defined1()).unwrap();
        let mut second = signal(SignalKind::user_defined1()).unwrap();
        let mut other = signal(SignalKind::user_defined2()).unwrap();

        raise(libc::SIGUSR1);
        assert_eq!(within("first", first.recv()).await, Some(()));
        assert_eq!(within("second", second.recv()).await, Some(()));
        quiet("SIGUSR2 listener after SIGUSR1", &mut other).await;

        // Again, sent to the process from another thread, with one listener in a task.
        let in_task = tether::spawn(async move {
            let got = first.recv().await;
            (got, first)
        });
        tether::task::yield_now().await; // the task is waiting now
        std::thread::spawn(|| kill_self(libc::SIGUSR1))
            .join()
            .unwrap();
        let (got, mut first) = within("task", in_task).await.unwrap();
        assert_eq!(got, Some(()));
        assert_eq!(within("second, again", second.recv()).await, Some(()));

        // Several deliveries before a `recv` are reported once.
        raise(libc::SIGUSR1);
        raise(libc::SIGUSR1);
        tether::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(within("coalesced", first.recv()).await, Some(()));
        quiet("after the coalesced delivery", &mut first).await;

        // A signal that arrives while nobody listens is not reported to a later listener.
        drop((first, second));
        raise(libc::SIGUSR1); // handled (the handler stays installed): the process survives
        let mut late = signal(SignalKind::user_defined1()).unwrap();
        quiet("a listener created after the signal", &mut late).await;
        raise(libc::SIGUSR1);
        assert_eq!(within("late", late.recv()).await, Some(()));
    });
}

#[test]
fn ctrl_c_completes_on_sigint() {
    if support::child::run_in_child("ctrl_c_completes_on_sigint").is_some() {
        return;
    }
    current_thread().block_on(async {
        // Installed at the call, so the signal sent before the first poll is not lost.
        let ctrl_c = tether::signal::ctrl_c();
        kill_self(libc::SIGINT);
        within("ctrl_c", ctrl_c).await.unwrap();

        // The process survived SIGINT (the default action is replaced); a spawned ctrl_c works.
        let waiter = tether::spawn(tether::signal::ctrl_c());
        tether::task::yield_now().await;
        std::thread::spawn(|| kill_self(libc::SIGINT))
            .join()
            .unwrap();
        within("spawned ctrl_c", waiter).await.unwrap().unwrap();
    });
    // On a multi-thread runtime, awaited by a worker.
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let waiter = rt.spawn(tether::signal::ctrl_c());
    std::thread::sleep(Duration::from_millis(50));
    raise(libc::SIGINT);
    rt.block_on(within("ctrl_c on a worker", waiter))
        .unwrap()
        .unwrap();
}

#[test]
fn listeners_on_two_runtimes_each_receive() {
    if support::child::run_in_child("listeners_on_two_runtimes_each_receive").is_some() {
        return;
    }
    let a = current_thread();
    let b = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let mut on_a = a.block_on(async { signal(SignalKind::terminate()).unwrap() });
    let mut on_b = b.block_on(async { signal(SignalKind::terminate()).unwrap() });

    // Only `a` is driven: its reactor delivers to both.
    let on_b_task = b.spawn(async move {
        let got = on_b.recv().await;
        (got, on_b)
    });
    std::thread::sleep(Duration::from_millis(50));
    a.block_on(async {
        raise(libc::SIGTERM);
        assert_eq!(within("on a", on_a.recv()).await, Some(()));
    });
    let (got, mut on_b) = b.block_on(within("on b", on_b_task)).unwrap();
    assert_eq!(got, Some(()));

    // While nobody is inside `a.block_on`, `b`'s workers deliver: `a`'s listener has the
    // delivery waiting when it is polled next.
    raise(libc::SIGTERM);
    b.block_on(async { assert_eq!(within("on b, again", on_b.recv()).await, Some(())) });
    a.block_on(async { assert_eq!(within("on a, later", on_a.recv()).await, Some(())) });

    // A listener whose runtime has shut down ends; the other runtime is unaffected.
    drop(a);
    b.block_on(async {
        assert_eq!(within("on a, shut down", on_a.recv()).await, None);
        kill_self(libc::SIGTERM);
        assert_eq!(within("on b, last", on_b.recv()).await, Some(()));
    });
}

#[test]
fn unlistenable_signals_are_refused() {
    current_thread().block_on(async {
        for (signum, needle) in [
            (libc::SIGKILL, "SIGKILL"),
            (libc::SIGSTOP, "SIGSTOP"),
            (libc::SIGSEGV, "SIGSEGV"),
            (0, "not a signal"),
            (-3, "not a signal"),
            (100_000, "not a signal"),
        ] {
            let err = signal(SignalKind::from_raw(signum)).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains(needle), "{signum}: {err}");
        }
    });
}

#[test]
fn signal_outside_a_runtime_panics_with_a_message() {
    let err = std::panic::catch_unwind(|| signal(SignalKind::user_defined2())).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("outside a tether runtime"), "{msg}");
}

#[test]
fn signal_kinds_are_the_usual_numbers() {
    assert_eq!(SignalKind::interrupt().as_raw_value(), libc::SIGINT);
    assert_eq!(SignalKind::terminate().as_raw_value(), libc::SIGTERM);
    assert_eq!(SignalKind::hangup().as_raw_value(), libc::SIGHUP);
    assert_eq!(SignalKind::user_defined1().as_raw_value(), libc::SIGUSR1);
    assert_eq!(SignalKind::user_defined2().as_raw_value(), libc::SIGUSR2);
    assert_eq!(SignalKind::child().as_raw_value(), libc::SIGCHLD);
    assert_eq!(
        SignalKind::from_raw(libc::SIGWINCH).as_raw_value(),
        libc::SIGWINCH
    );
}
