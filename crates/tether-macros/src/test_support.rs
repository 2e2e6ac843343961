//! Helpers for the unit tests: run a macro on source text and check its
//! output.

use proc_macro2::TokenStream as TokenStream2;

use crate::{expand, Kind};

/// Expands `item` with the attribute arguments `args` as the macro `kind`
/// would, and returns the output as text.
pub(crate) fn run(kind: Kind, args: &str, item: &str) -> String {
    let args: TokenStream2 = args.parse().expect("args tokenize");
    let item: TokenStream2 = item.parse().expect("item tokenizes");
    expand(kind, args, item).to_string()
}

/// Removes all whitespace so that comparisons ignore token spacing.
fn squash(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Asserts that `expected` occurs in `output`, ignoring whitespace.
pub(crate) fn assert_contains(output: &str, expected: &str) {
    assert!(
        squash(output).contains(&squash(expected)),
        "expected `{expected}` in:\n{output}"
    );
}

/// Asserts that `unexpected` does not occur in `output`, ignoring whitespace.
pub(crate) fn assert_not_contains(output: &str, unexpected: &str) {
    assert!(
        !squash(output).contains(&squash(unexpected)),
        "did not expect `{unexpected}` in:\n{output}"
    );
}

/// Asserts that the output carries a `compile_error!` containing `message`,
/// and that the function is still emitted next to it.
pub(crate) fn assert_error(output: &str, message: &str) {
    assert_contains(output, "compile_error!");
    assert!(
        output.contains(message),
        "expected error message `{message}` in:\n{output}"
    );
}

/// Asserts that the output has no error and is one valid function.
pub(crate) fn assert_ok(output: &str) {
    assert_not_contains(output, "compile_error!");
    // The expansion must be a single, valid function.
    syn::parse_str::<syn::ItemFn>(output).expect("expansion parses as a function");
}
