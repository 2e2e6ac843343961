//! Feature `tokio-compat`: the background tokio runtime starts on the first poll of a `Compat`,
//! not before (a test binary of its own: the runtime is process-wide and never stops).
#![cfg(target_os = "linux")]

use tether::compat::CompatExt;

/// How many threads this process has.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Dropping a `Compat` that was never polled starts nothing; its first poll does. The drop used
/// to enter (and so start) the background runtime. (Threads are counted rather than named: a
/// new thread names itself once it runs.)
#[test]
fn the_background_runtime_starts_at_the_first_poll_not_at_a_drop() {
    let before = threads();
    drop(async { 1 }.compat());
    assert_eq!(threads(), before, "a drop started threads");
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let with_runtime = threads();
    assert_eq!(rt.block_on(async { 2 }.compat()), 2);
    assert!(
        threads() > with_runtime,
        "the first poll starts the background runtime"
    );
}
