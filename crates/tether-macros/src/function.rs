//! The checks on the annotated function itself: it must be an `async fn`, it
//! cannot take arguments (for `main` and for tests), and a test must not carry
//! a `#[test]` attribute of its own, since `#[tether::test]` adds one.

use syn::spanned::Spanned;
use syn::{ItemFn, Path};

use crate::{Errors, Kind};

/// Checks the function itself. Returns whether the `#[test]` attribute should
/// be added (it is not when the user already wrote one).
pub(crate) fn check_function(kind: Kind, input: &ItemFn, errors: &mut Errors) -> bool {
    let sig = &input.sig;
    if sig.asyncness.is_none() {
        errors.add(
            sig.fn_token.span(),
            format!(
                "the `async` keyword is missing from the function declaration; \
                 {} needs `async fn {}(..)`",
                kind.attribute(),
                sig.ident
            ),
        );
    }
    match kind {
        Kind::Main => {
            if sig.ident == "main" && !sig.inputs.is_empty() {
                errors.add(
                    sig.inputs.span(),
                    "the main function cannot accept arguments; write `async fn main()` \
                     and read arguments with `std::env::args()`",
                );
            }
            true
        }
        Kind::Test => {
            if !sig.inputs.is_empty() {
                errors.add(
                    sig.inputs.span(),
                    format!(
                        "test functions cannot take arguments; write `async fn {}()` and \
                         build any inputs inside the test",
                        sig.ident
                    ),
                );
            }
            match input
                .attrs
                .iter()
                .find(|attr| is_test_attribute(attr.path()))
            {
                Some(attr) => {
                    errors.add(
                        attr.span(),
                        "`#[tether::test]` already marks the function as a test; \
                         remove this extra test attribute",
                    );
                    false
                }
                None => true,
            }
        }
    }
}

/// `#[test]`, `#[core::prelude::v1::test]`, `#[::std::prelude::rust_2021::test]`, ...
fn is_test_attribute(path: &Path) -> bool {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    match segments.as_slice() {
        [only] => only == "test",
        [root, prelude, _, last] => {
            (root == "core" || root == "std") && prelude == "prelude" && last == "test"
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{assert_contains, assert_error, assert_not_contains, run};
    use crate::Kind;

    #[test]
    fn error_missing_async() {
        let out = run(Kind::Main, "", "fn main() {}");
        assert_error(
            &out,
            "the `async` keyword is missing from the function declaration",
        );
        // The function is still expanded next to the error.
        assert_contains(&out, "fn main() {");
        assert_contains(&out, "block_on");

        let out = run(Kind::Test, "", "fn t() {}");
        assert_error(&out, "`#[tether::test]` needs `async fn t(..)`");
    }

    #[test]
    fn error_main_with_arguments() {
        let out = run(Kind::Main, "", "async fn main(x: u32) {}");
        assert_error(&out, "the main function cannot accept arguments");
    }

    #[test]
    fn error_test_with_arguments() {
        let out = run(Kind::Test, "", "async fn t(x: u32) {}");
        assert_error(&out, "test functions cannot take arguments");
    }

    #[test]
    fn error_duplicate_test_attribute() {
        let out = run(Kind::Test, "", "#[test] async fn t() {}");
        assert_error(&out, "already marks the function as a test");
        assert_not_contains(&out, "::core::prelude::v1::test");
    }
}
