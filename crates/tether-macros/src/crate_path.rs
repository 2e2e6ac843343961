//! How the function-like macros learn where tether is.
//!
//! A procedural macro cannot write `$crate`, and `::tether` breaks when the dependency is
//! renamed or reached through a crate that re-exports tether. So `select!`, `join!` and
//! `try_join!` are `macro_rules!` macros in tether that call the procedural macros here with
//! `($crate)` in front of the user's tokens; the expansions name everything they use as
//! `<that path>::__private::...`.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};

/// Splits the leading `(path)` group from the user's tokens: `(path, rest)`.
pub(crate) fn split(input: TokenStream, name: &str) -> syn::Result<(TokenStream, TokenStream)> {
    let mut tokens = input.into_iter();
    match tokens.next() {
        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Parenthesis => {
            Ok((group.stream(), tokens.collect()))
        }
        _ => Err(syn::Error::new(
            Span::call_site(),
            format!(
                "this is the implementation of `tether::{name}!`: call `tether::{name}!` instead"
            ),
        )),
    }
}
