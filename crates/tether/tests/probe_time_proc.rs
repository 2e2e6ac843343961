//! Probes of time, process, signal and fs behaviour a tokio user relies on: each test pins one
//! fault found by review (it failed before its fix), named after what it guards.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tether::io::AsyncReadExt;
use tether::time::{sleep, Instant};

/// A `Sleep` that its task moves into the past without polling it again in the same poll still
/// wakes that task, as tokio's `Sleep::reset` does (it fires the timer at once): the doc promises
/// a wake-up at the new deadline without another poll first.
#[tether::test(start_paused = true)]
async fn a_pending_sleep_reset_into_the_past_wakes_its_task() {
    let waiter = tether::spawn(async {
        let mut delay = sleep(Duration::from_secs(10));
        let mut reset = false;
        poll_fn(|cx| {
            if !reset {
                assert!(Pin::new(&mut delay).poll(cx).is_pending());
                Pin::new(&mut delay).reset(Instant::now());
                reset = true;
                return Poll::Pending;
            }
            Pin::new(&mut delay).poll(cx)
        })
        .await
    });
    // Another task's timer, so that only the reset can wake the waiter.
    sleep(Duration::from_secs(1)).await;
    assert!(
        waiter.is_finished(),
        "the task waiting on a sleep reset into the past was never woken"
    );
}

/// The message of the panic `attempt` raises.
fn panic_message(attempt: impl FnOnce()) -> String {
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(attempt)).unwrap_err();
    match panic.downcast_ref::<&str>() {
        Some(msg) => msg.to_string(),
        None => panic.downcast_ref::<String>().cloned().unwrap_or_default(),
    }
}

/// A `tether::fs` operation awaited outside a runtime panics naming a `tether::fs` operation,
/// not `tether::task::spawn_blocking` at a line of tether's own source (which the caller never
/// called, and cannot find in their code).
#[test]
fn an_fs_operation_outside_a_runtime_panics_naming_fs() {
    let path = std::env::temp_dir().join(format!("tether-probe-fs-{}", std::process::id()));
    std::fs::write(&path, b"x").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let free_function = panic_message(|| {
        let _ = futures_lite::future::block_on(tether::fs::read(&path));
    });
    let file_read = panic_message(move || {
        let mut file = tether::fs::File::from_std(file);
        let mut byte = [0u8; 1];
        let _ = futures_lite::future::block_on(file.read(&mut byte));
    });
    for msg in [free_function, file_read] {
        assert!(
            msg.contains("tether::fs") && msg.contains("outside a tether runtime"),
            "{msg}"
        );
        assert!(!msg.contains("spawn_blocking"), "{msg}");
    }
    std::fs::remove_file(&path).unwrap();
}
