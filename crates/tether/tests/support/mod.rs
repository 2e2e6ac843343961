//! Helpers the integration tests share: bounding a test body in time ([`bounded`]), the
//! seeded chaos of the fault-injection suite ([`chaos`]), and letting the other tasks of a
//! current-thread runtime run ([`settle`]).
//!
//! Each test binary compiles this module and uses part of it.
#![allow(dead_code, unused_imports)]

pub mod bounded;
pub mod chaos;
pub mod settle;
