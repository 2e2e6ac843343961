//! Helpers the demo's integration tests share: running the demo's binaries as bounded child
//! processes ([`child`]) and reading a process's memory, descriptors and threads
//! ([`proc_stats`]).
//!
//! Each test binary compiles this module and uses part of it.
#![allow(dead_code, unused_imports)]

pub mod child;
pub mod kv;
pub mod proc_stats;
pub mod redis_tools;
