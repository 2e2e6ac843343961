//! The programs that show tether under load, as a library its binaries and tests share:
//!
//! - [`echo_server`]: the handshake echo server (a client says `hello`, then every byte is
//!   echoed), with a graceful, reported shutdown. The `echo` binary serves it on an address.
//! - [`buf_pool`]: read buffers lent to a connection only while it has bytes in hand, so an
//!   idle connection holds none.
//! - [`load`]: the load generator that opens thousands of connections to it and measures round
//!   trips, with a latency histogram.
//! - [`soak`]: the once-a-second sampler of the C10k demo's soak mode.
//! - [`process`]: what the demo reads and sets about processes (open-files limit, local ports,
//!   resident memory, CPU time, descriptors, threads).
//! - [`serving`]: what the two servers share: an accept step that never spins, a graceful
//!   close, and the shutdown summary of the connections cut off.
//! - [`kv`]: a Redis-protocol (RESP2) key-value server that `redis-cli` and `redis-benchmark`
//!   talk to as to Redis: strings, lists, expiry, pub/sub, pipelining, bounded buffers. The `kv`
//!   binary serves it on an address.
//!
//! `cargo run --release -p tether-demo` runs the C10k demo (the `c10k` binary): the server and, in
//! a child process, the load generator, with 10,000 connections on one machine;
//! `cargo run --release -p tether-demo --bin echo` runs the echo server on `127.0.0.1:5566`;
//! `cargo run --release -p tether-demo --bin kv` runs the key-value server on `127.0.0.1:6380`;
//! `cargo run --example console` (from the workspace root) runs a small server under load with
//! the live console on (`examples/console.rs`; its browser test is in `browser/`).

pub mod buf_pool;
pub mod echo_server;
pub mod kv;
pub mod load;
pub mod process;
pub mod serving;
pub mod soak;
