//! `join!` and `try_join!`: parsing the futures, and the expansion.
//!
//! Grammar (tokio's): `join!(biased; a, b, c)`, `biased;` optional. The expansion:
//!
//! 1. every expression, in order, converted with `IntoFuture`, wrapped in a `MaybeDone` and
//!    pinned on the stack of the enclosing future (`pin!`): no box;
//! 2. a `poll_fn` that checks the cooperative budget, then polls every branch still running,
//!    starting one branch later on each poll (round robin; at branch 0 with `biased;`), so that
//!    a branch that spends the whole budget cannot keep the next one from being polled;
//! 3. `join!` returns the tuple of outputs once every branch completed; `try_join!` returns
//!    `Err(e)` as soon as one branch completes with `Err(e)`, and `Ok(tuple)` once all
//!    completed with `Ok`;
//! 4. the branches are dropped when the block ends: for `try_join!` that is right after the
//!    first error, before the caller sees it.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Expr, Token};

mod kw {
    syn::custom_keyword!(biased);
}

/// Which of the two macros.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    Join,
    TryJoin,
}

impl JoinKind {
    fn name(self) -> &'static str {
        match self {
            JoinKind::Join => "join",
            JoinKind::TryJoin => "try_join",
        }
    }
}

/// A parsed `join!` or `try_join!`.
struct Join {
    biased: bool,
    futures: Vec<Expr>,
}

impl Parse for Join {
    fn parse(input: ParseStream) -> syn::Result<Join> {
        let mut biased = false;
        if input.peek(kw::biased) && input.peek2(Token![;]) {
            input.parse::<kw::biased>()?;
            input.parse::<Token![;]>()?;
            biased = true;
        }
        let mut futures = Vec::new();
        while !input.is_empty() {
            if input.peek(kw::biased) && input.peek2(Token![;]) {
                return Err(input.error("`biased;` must come first, before every future"));
            }
            futures.push(input.parse::<Expr>()?);
            if input.is_empty() {
                break;
            }
            if !input.peek(Token![,]) {
                return Err(input.error("expected `,` between two futures"));
            }
            input.parse::<Token![,]>()?;
        }
        Ok(Join { biased, futures })
    }
}

/// Expands `($crate) <join! tokens>`.
pub(crate) fn expand(kind: JoinKind, input: TokenStream) -> TokenStream {
    let result = crate::crate_path::split(input, kind.name())
        .and_then(|(krate, rest)| Ok((krate, Join::parse.parse2(rest)?)));
    match result {
        Ok((krate, join)) => join.expand(kind, &krate),
        Err(error) => error.into_compile_error(),
    }
}

impl Join {
    fn expand(self, kind: JoinKind, krate: &TokenStream) -> TokenStream {
        let private = quote!(#krate::__private);
        let count = self.futures.len();
        if count == 0 {
            return match kind {
                JoinKind::Join => quote!(()),
                JoinKind::TryJoin => quote!(#private::Ok(())),
            };
        }
        let site = Span::mixed_site();
        let count_lit = proc_macro2::Literal::u32_unsuffixed(count as u32);
        let branches: Vec<_> = (0..count)
            .map(|i| format_ident!("__branch{}", i, span = site))
            .collect();
        let cx = syn::Ident::new("__cx", site);
        let next_start = syn::Ident::new("__next_start", site);
        let start = syn::Ident::new("__start", site);
        let step = syn::Ident::new("__step", site);
        let index = syn::Ident::new("__index", site);
        let all_done = syn::Ident::new("__all_done", site);
        let error = syn::Ident::new("__error", site);

        let pinned = self.futures.iter().zip(&branches).map(|(future, name)| {
            quote! {
                let mut #name = #private::pin!(#private::MaybeDone::new(
                    #private::into_future(#future)
                ));
            }
        });
        let poll_arms = branches.iter().enumerate().map(|(i, name)| {
            let i = proc_macro2::Literal::u32_unsuffixed(i as u32);
            match kind {
                JoinKind::Join => quote! {
                    #i => {
                        if !#name.as_mut().poll_done(#cx) {
                            #all_done = false;
                        }
                    }
                },
                JoinKind::TryJoin => quote! {
                    #i => match #name.as_mut().poll_try(#cx) {
                        #private::Pending => #all_done = false,
                        #private::Ready(#private::Ok(())) => {}
                        #private::Ready(#private::Err(#error)) => {
                            #private::spend_budget();
                            return #private::Ready(#private::Err(#error));
                        }
                    },
                },
            }
        });
        let outputs = match kind {
            JoinKind::Join => quote!((#(#branches.as_mut().take_output(),)*)),
            JoinKind::TryJoin => quote!(#private::Ok((#(#branches.as_mut().take_ok(),)*))),
        };
        let (rotation, start_expr) = if self.biased || count == 1 {
            (quote!(), quote!(0u32))
        } else {
            (
                quote!(let mut #next_start: u32 = 0;),
                quote! {{
                    let #start = #next_start;
                    #next_start = if #start + 1 == #count_lit { 0 } else { #start + 1 };
                    #start
                }},
            )
        };

        quote! {{
            #(#pinned)*
            #rotation
            #private::poll_fn(|#cx| {
                if #private::poll_budget(#cx).is_pending() {
                    return #private::Pending;
                }
                let #start: u32 = #start_expr;
                let mut #all_done = true;
                for #step in 0..#count_lit {
                    let mut #index: u32 = #start + #step;
                    if #index >= #count_lit {
                        #index -= #count_lit;
                    }
                    match #index {
                        #(#poll_arms)*
                        _ => ::core::unreachable!(),
                    }
                }
                if !#all_done {
                    return #private::Pending;
                }
                #private::spend_budget();
                #private::Ready(#outputs)
            })
            .await
        }}
    }
}

#[cfg(test)]
mod tests {
    use super::JoinKind;
    use crate::test_support::{assert_contains, assert_not_contains};

    fn run(kind: JoinKind, input: &str) -> String {
        super::expand(kind, format!("(::tether) {input}").parse().unwrap()).to_string()
    }

    #[test]
    fn empty_joins_are_unit_values() {
        assert_eq!(run(JoinKind::Join, ""), "()");
        assert_contains(&run(JoinKind::TryJoin, ""), "Ok (())");
    }

    #[test]
    fn unbiased_joins_rotate_and_biased_ones_do_not() {
        assert_contains(&run(JoinKind::Join, "a, b"), "__next_start");
        assert_not_contains(&run(JoinKind::Join, "biased; a, b"), "__next_start");
    }

    #[test]
    fn try_join_returns_the_first_error() {
        let out = run(JoinKind::TryJoin, "a, b,");
        assert_contains(&out, "poll_try");
        assert_contains(
            &out,
            "return ::tether::__private::Ready(::tether::__private::Err(",
        );
    }
}
