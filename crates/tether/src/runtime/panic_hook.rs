//! The runtime's wrapper around the process's panic hook: it tells the watchdog when a poll is
//! inside the panic hook, so that the hook's time is not blamed on the task.
//!
//! When a task panics, the process's panic hook runs first, inside the task's poll, and only
//! then does the unwinding reach the poll wrapper's `catch_unwind`. With `RUST_BACKTRACE` set,
//! std's hook captures and prints a backtrace, which can take a second (the first one loads the
//! debug info). Without help, the watchdog would count that as the task's poll, report the
//! worker as stuck in it, and the slow-poll report would send the reader to `spawn_blocking`.
//!
//! # Rules
//!
//! 1. **Installed once per process**, by the first runtime built with diagnostics on, around the
//!    hook set at that moment (std's default, or the program's own). Never removed. It calls
//!    that hook unchanged, with the same argument, on the same thread, and adds nothing to the
//!    output.
//! 2. **On a scheduler thread inside a poll**, it marks the thread's slot before calling the
//!    hook and clears the mark after, recording the hook's duration for that poll (rule 5 of
//!    `runtime/diagnostics.rs`). Elsewhere it only calls the hook.
//! 3. **A hook set after it replaces it** (`std::panic::set_hook` has no way to chain): then
//!    nothing is marked, the watchdog counts the hook's time as the poll's, and the report of a
//!    slow poll that ended in a panic says that its time includes the hook's
//!    (`PanicTiming::HookIncluded`) instead of blaming the task's code. The wrapper is not
//!    re-installed behind the program's back: taking and setting the hook again would leave a
//!    moment in which a panic on another thread runs std's default hook instead of the
//!    program's.

use std::sync::Once;
use std::time::Instant;

/// Rule 1.
static INSTALLED: Once = Once::new();

/// Installs the wrapper if it is not installed yet (rule 1). Does nothing on a thread that is
/// panicking, where `std::panic::take_hook` would abort the process; a later runtime installs
/// it then.
pub(crate) fn install() {
    if std::thread::panicking() {
        return;
    }
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let slot = crate::task::current::slot();
            // SAFETY: a non-null slot pointer was set by the scheduler loop running further down
            // this thread's stack (`current::set_slot`); the panic hook runs before any
            // unwinding, so that loop, and the slot it keeps alive, are still there.
            let slot = unsafe { slot.as_ref() };
            // Rule 2.
            let marked = slot.filter(|s| s.enter_panic_hook());
            let start = Instant::now();
            previous(info);
            if let Some(slot) = marked {
                slot.leave_panic_hook(start.elapsed());
            }
        }));
    });
}
