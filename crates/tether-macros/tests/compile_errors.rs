//! Misuse of `select!`, `join!` and `try_join!` is a compile error with a message of the
//! macro's own, at the tokens concerned. Each file in `compile_errors/` must fail to compile
//! with exactly the errors in the `.stderr` file beside it (regenerate them with
//! `TRYBUILD=overwrite cargo test -p tether-macros --test compile_errors`, then read the diff).
//!
//! The expectations hold only errors the macros emit themselves, so that they do not change
//! with the compiler's version.

#[test]
fn misuse_is_reported_at_compile_time() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_errors/*.rs");
}
