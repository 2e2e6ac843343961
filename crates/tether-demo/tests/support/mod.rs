//! Helpers the demo's integration tests share: running the demo's binaries as bounded child
//! processes ([`child`]), reading a process's memory, descriptors and threads
//! ([`proc_stats`]), and the seed ranges of the simulation tests ([`sim_seeds`]).
//!
//! Each test binary compiles this module and uses part of it.
#![allow(dead_code, unused_imports)]

pub mod child;
pub mod kv;
pub mod proc_stats;
pub mod redis_tools;

/// The seeds a simulation test runs (`tether::sim`): modest in debug builds, where a seed costs
/// about ten times what it does in release (`.ci/run`'s simulation stage runs release).
pub fn sim_seeds(debug: u64, release: u64) -> std::ops::Range<u64> {
    0..if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

/// The errors after which a simulated client reconnects, as a real one would: the connection
/// was reset, refused, timed out or closed under it. Anything else is a bug.
pub fn is_retryable(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset
            | ConnectionRefused
            | ConnectionAborted
            | TimedOut
            | UnexpectedEof
            | BrokenPipe
    )
}
