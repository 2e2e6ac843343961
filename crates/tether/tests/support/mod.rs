//! Helpers the integration tests share: bounding a test body in time ([`bounded`]), the
//! seeded chaos of the fault-injection suite ([`chaos`]), letting the other tasks of a
//! current-thread runtime run ([`settle`]), counting drops ([`on_drop`]), and running one test
//! in a child process to read its stderr ([`child`]).
//!
//! Each test binary compiles this module and uses part of it.
#![allow(dead_code, unused_imports)]

pub mod bounded;
pub mod chaos;
pub mod child;
pub mod on_drop;
pub mod settle;
