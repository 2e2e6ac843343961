//! Helpers the integration tests share: bounding a test body in time ([`bounded`]) and the
//! seeded chaos of the fault-injection suite ([`chaos`]).
//!
//! Each test binary compiles this module and uses part of it.
#![allow(dead_code, unused_imports)]

pub mod bounded;
pub mod chaos;
