//! Running a test body so that a hang fails the test instead of hanging the test run.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// Runs `body` on a thread of its own and returns its value; fails the test, naming `what`, if
/// it has not returned within `limit` (a deadlocked runtime becomes a failure), and passes a
/// panic of the body on to the test. Under Miri the limit is ten times `limit`: the bound only
/// tells a hang from slow progress, and Miri interprets a hundred times slower than native (a
/// 20 s bound had a body take 13.6 s there on an idle machine).
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let limit = if cfg!(miri) { limit * 10 } else { limit };
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        let _ = tx.send(body());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = t.join();
            v
        }
        Err(RecvTimeoutError::Disconnected) => match t.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!("the body's thread ended without sending its value"),
        },
        Err(RecvTimeoutError::Timeout) => {
            panic!("{what}: did not finish within {limit:?} (deadlock?)")
        }
    }
}

/// Polls `done` every 10 ms until it holds; fails the test, naming `what`, after `limit`. For
/// state nothing notifies a test of, such as another process's (reaped, gone).
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not so after {limit:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}
