//! Helpers the integration tests share: bounding a test body in time ([`bounded`]), the
//! seeded chaos of the fault-injection suite ([`chaos`]), letting the other tasks of a
//! current-thread runtime run ([`settle`]), counting drops ([`on_drop`]), and running one test
//! in a child process to read its stderr ([`child`]), and `on_both_flavors!`, which makes a
//! test of a scenario on each scheduler flavor.
//!
//! Each test binary compiles this module and uses part of it.
#![allow(dead_code, unused_imports, unused_macros)]

pub mod bounded;
pub mod chaos;
pub mod child;
pub mod on_drop;
pub mod settle;

/// Generates a current-thread and a multi-thread (2 workers) test of each scenario, an
/// `async fn` of the test file: `on_both_flavors!(scenario_a, scenario_b);` makes
/// `current_thread::scenario_a`, `multi_thread::scenario_a`, ...
macro_rules! on_both_flavors {
    ($($scenario:ident),* $(,)?) => {
        mod current_thread {
            $(
                #[tether::test]
                async fn $scenario() {
                    super::$scenario().await
                }
            )*
        }
        mod multi_thread {
            $(
                #[tether::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario().await
                }
            )*
        }
    };
}
pub(crate) use on_both_flavors;
