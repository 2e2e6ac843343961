//! Running the demo's binaries from a test as bounded child processes.

use std::path::PathBuf;

pub use tether_test_support::child::{wait_bounded, Log, Running};

/// The demo's `echo` binary, built by Cargo for this test run (same profile, same target).
pub fn echo_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_echo"))
}

/// The demo's `chat` binary, built by Cargo for this test run (same profile, same target).
pub fn chat_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chat"))
}

/// The demo's `c10k` binary, built by Cargo for this test run (same profile, same target).
pub fn c10k_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_c10k"))
}

/// The demo's `kv` binary, built by Cargo for this test run (same profile, same target).
pub fn kv_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kv"))
}
