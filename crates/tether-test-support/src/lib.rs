//! Test helpers the workspace's crates share; a dev-dependency only, never published.
//!
//! - [`child`]: a binary (a demo server, an example) run from a test as a bounded child
//!   process.
//! - [`on_both_flavors!`]: a test of a scenario on each scheduler flavor. It expands to
//!   `#[tether::test]` items, resolved in the crate that invokes it (tether's own integration
//!   tests, or a crate that depends on tether), so this crate does not depend on tether.

pub mod child;

/// Generates a current-thread and a multi-thread (2 workers) test of each scenario, an
/// `async fn` of the test file: `on_both_flavors!(scenario_a, scenario_b);` makes
/// `current_thread::scenario_a`, `multi_thread::scenario_a`, ... Attributes before a scenario
/// (`#[cfg(unix)] scenario_c`) go on both of its tests.
#[macro_export]
macro_rules! on_both_flavors {
    ($($(#[$attr:meta])* $scenario:ident),* $(,)?) => {
        mod current_thread {
            $(
                $(#[$attr])*
                #[tether::test]
                async fn $scenario() {
                    super::$scenario().await
                }
            )*
        }
        mod multi_thread {
            $(
                $(#[$attr])*
                #[tether::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario().await
                }
            )*
        }
    };
}
