//! Helpers the integration tests share: bounding a test body in time ([`bounded`]), the
//! seeded chaos of the fault-injection suite ([`chaos`]), letting the other tasks of a
//! current-thread runtime run ([`settle`]), a simulated echo server ([`sim`]), counting drops ([`on_drop`]), a connected TCP pair ([`net`]), and running one test
//! in a child process to read its stderr ([`child`]), both flavors on io_uring for the tests
//! that build them ([`uring`]), and `on_both_flavors!`, which makes a test of a scenario on
//! each scheduler flavor.
//!
//! Each test binary compiles this module and uses part of it.
#![allow(dead_code, unused_imports, unused_macros)]

pub mod bounded;
pub mod chaos;
pub mod child;
pub mod net;
pub mod on_drop;
pub mod settle;
pub mod sim;
#[cfg(target_os = "linux")]
pub mod uring;

pub(crate) use tether_test_support::on_both_flavors;

/// Both flavors (the multi-thread one with 2 workers) on the builder's default driver, epoll,
/// which `TETHER_IO_DRIVER` overrides: a test run with and without the variable tests both
/// drivers.
pub fn default_driver_flavors() -> Vec<(&'static str, tether::runtime::Runtime)> {
    use tether::runtime::Builder;
    let ct = Builder::new_current_thread().enable_all().build().unwrap();
    let mt = Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    vec![("current_thread", ct), ("multi_thread", mt)]
}

/// Operations a task may perform per poll (documented in `tether::task`).
pub const BUDGET: usize = 128;

/// Runs `$op` in a loop in a task spawned before another one, until that other task has run;
/// evaluates to the number of loop iterations. Each waiting operation spends one unit of the
/// budget, so a loop whose iteration spends `k` units yields when the budget is spent and,
/// once resumed, finishes the operation it was in: `BUDGET / k + 1` iterations.
macro_rules! iterations_before_yield {
    ({ $($setup:tt)* } => $op:block) => {{
        let other_ran = ::std::sync::Arc::new(::std::sync::atomic::AtomicBool::new(false));
        let flag = other_ran.clone();
        let busy = tether::spawn(async move {
            $($setup)*
            let mut iterations = 0usize;
            while !flag.load(::std::sync::atomic::Ordering::SeqCst) {
                $op;
                iterations += 1;
                assert!(iterations < 100_000, "the loop never yielded");
            }
            iterations
        });
        tether::spawn(async move { other_ran.store(true, ::std::sync::atomic::Ordering::SeqCst) });
        busy.await.unwrap()
    }};
}
pub(crate) use iterations_before_yield;
