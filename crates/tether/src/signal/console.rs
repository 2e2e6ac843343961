//! Windows: Ctrl-C through the console control handler (`SetConsoleCtrlHandler`).
//!
//! 1. The first [`ctrl_c`](super::ctrl_c) installs [`on_console_event`] for the rest of the
//!    process (like the Unix handler: once installed, Ctrl-C no longer terminates the program).
//! 2. Windows runs the handler on a thread of its own for each console event. For `CTRL_C_EVENT`
//!    it reports the event to every listener ([`CTRL_C`], `broadcast.rs`) and returns `TRUE`
//!    (handled); for other events it returns `FALSE`, so the next handler (by default, the one
//!    that ends the process) runs.

use std::io;
use std::sync::OnceLock;

use windows_sys::core::BOOL;
use windows_sys::Win32::Foundation::{FALSE, TRUE};
use windows_sys::Win32::System::Console::{SetConsoleCtrlHandler, CTRL_C_EVENT};

use super::broadcast::{EventBroadcast, EventListener};

/// The listeners of Ctrl-C (rule 2).
static CTRL_C: EventBroadcast = EventBroadcast::new();

/// Whether the handler is installed, or why it could not be (rule 1).
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// Installs the handler if needed (rule 1) and returns a listener of the Ctrl-C events from now
/// on.
pub(super) fn listen_ctrl_c() -> io::Result<EventListener> {
    let installed = INSTALLED.get_or_init(|| {
        // SAFETY: `on_console_event` has the signature `PHANDLER_ROUTINE` asks for and stays
        // valid for the life of the process (a plain function); it does not unwind (see it).
        if unsafe { SetConsoleCtrlHandler(Some(on_console_event), TRUE) } == FALSE {
            Err(io::Error::last_os_error().to_string())
        } else {
            Ok(())
        }
    });
    match installed {
        Ok(()) => Ok(CTRL_C.listen()),
        Err(e) => Err(io::Error::other(format!(
            "tether::signal::ctrl_c: could not install the console control handler: {e}"
        ))),
    }
}

/// The console control handler (rule 2). It locks and wakes, which is allowed here: Windows
/// calls it on an ordinary thread, not inside a signal. `lock` ignores poisoning, so only a
/// waker that panics could make it panic, and a panic cannot unwind out of an `extern "system"`
/// function: the process would abort, never unwind into Windows.
unsafe extern "system" fn on_console_event(ctrl_type: u32) -> BOOL {
    if ctrl_type == CTRL_C_EVENT {
        CTRL_C.notify();
        TRUE
    } else {
        FALSE
    }
}
