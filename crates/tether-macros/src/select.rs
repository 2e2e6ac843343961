//! `select!`: parsing the branches, and the expansion.
//!
//! Grammar (tokio's):
//!
//! ```text
//! select! {
//!     biased;                                          // optional, first
//!     <pattern> = <future> (, if <precondition>)? => <handler>,   // one or more
//!     else => <handler>,                               // optional, last
//! }
//! ```
//!
//! A handler is an expression followed by `,`, or a `{ ... }` block whose comma is optional (as
//! in a `match`). Every mistake is reported with its own message at the tokens concerned.
//!
//! The expansion, for branches `0..n`:
//!
//! 1. a block-local enum `Out<T0, .., Tn-1>` with one variant per branch and `Disabled`;
//! 2. the preconditions, in order, each clearing its branch's bit in a `u64` mask when false;
//! 3. the futures, in order (also those of disabled branches, as tokio does), each converted
//!    with `IntoFuture` and pinned on the stack of the enclosing future (`pin!`): no box;
//! 4. a `poll_fn` that checks the cooperative budget, then polls the enabled branches starting
//!    at a random index (at 0 with `biased;`), and returns the first output that matches its
//!    branch's pattern, or `Disabled` once every branch is disabled; a branch whose output
//!    does not match is disabled and the others are polled on;
//! 5. the futures are dropped when that block ends, before any handler runs, so losing
//!    branches are cancelled and a handler may use what they borrowed;
//! 6. a `match` on the `Out` value with the user's own patterns and handlers, outside any
//!    closure or loop of ours, so that `return`, `?`, `break` and `continue` in a handler act
//!    on the user's function and loops.
//!
//! Step 4 tests a pattern without moving the output (it must stay whole for step 6): it
//! matches `[pattern]` against a one-element slice borrowed from the output, so that default
//! binding modes make every binding a reference while a constant in the pattern is still
//! compared with a value of its own type (a constant does not match through a reference). For
//! that test `ref` and `mut` are dropped from the pattern's bindings, and its tokens resolve at
//! the macro's definition site, whose edition (2021) accepts `&` patterns below a
//! default-borrowed level in every edition of the caller.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, ToTokens};
use syn::parse::{Parse, ParseStream, Parser};
use syn::{token, Expr, ExprBlock, Pat, Token};

/// At most this many branches: one bit each in the `u64` mask of disabled branches.
const MAX_BRANCHES: usize = 64;

mod kw {
    syn::custom_keyword!(biased);
}

/// One `<pattern> = <future> (, if <precondition>)? => <handler>` branch.
struct Branch {
    pattern: Pat,
    future: Expr,
    precondition: Option<Expr>,
    handler: Expr,
}

/// A parsed `select!`.
struct Select {
    biased: bool,
    branches: Vec<Branch>,
    /// The handler of `else => ...`.
    otherwise: Option<Expr>,
}

/// Expands `($crate) <select! tokens>`.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let result = crate::crate_path::split(input, "select")
        .and_then(|(krate, rest)| Ok((krate, Select::parse.parse2(rest)?)));
    match result {
        Ok((krate, select)) => select.expand(&krate),
        Err(error) => error.into_compile_error(),
    }
}

const BRANCH_SYNTAX: &str = "each branch of `select!` reads `<pattern> = <future> => <handler>` \
                             (`_ = <future>` ignores the output)";

impl Parse for Select {
    fn parse(input: ParseStream) -> syn::Result<Select> {
        let first_token = if input.is_empty() {
            Span::call_site()
        } else {
            input.span()
        };
        let mut select = Select {
            biased: false,
            branches: Vec::new(),
            otherwise: None,
        };
        if input.peek(kw::biased) && input.peek2(Token![;]) {
            input.parse::<kw::biased>()?;
            input.parse::<Token![;]>()?;
            select.biased = true;
        }
        let mut else_keyword: Option<Token![else]> = None;
        while !input.is_empty() {
            if let Some(first) = else_keyword {
                return Err(if input.peek(Token![else]) {
                    syn::Error::new(
                        input.span(),
                        "a second `else` branch: `select!` takes at most one `else => <handler>`",
                    )
                } else {
                    syn::Error::new(
                        first.span,
                        "the `else` branch must come last: move `else => <handler>` after the \
                         other branches",
                    )
                });
            }
            if input.peek(Token![else]) {
                let keyword: Token![else] = input.parse()?;
                let arrow = expect_arrow(input, keyword, "expected `=>` after `else`")?;
                select.otherwise = Some(parse_handler(input, arrow)?);
                else_keyword = Some(keyword);
                continue;
            }
            if input.peek(kw::biased) && input.peek2(Token![;]) {
                return Err(
                    input.error("`biased;` must come first in `select!`, before every branch")
                );
            }
            let branch = parse_branch(input)?;
            if select.branches.len() == MAX_BRANCHES {
                return Err(syn::Error::new_spanned(
                    &branch.pattern,
                    format!("`select!` takes at most {MAX_BRANCHES} branches"),
                ));
            }
            select.branches.push(branch);
        }
        if select.branches.is_empty() {
            // Point at `biased` or `else` if there is one: only an empty `select! {}` has no
            // token of its own.
            return Err(syn::Error::new(
                first_token,
                format!("`select!` needs at least one branch: {BRANCH_SYNTAX}"),
            ));
        }
        Ok(select)
    }
}

fn parse_branch(input: ParseStream) -> syn::Result<Branch> {
    if let Some(future) = future_without_pattern(input) {
        return Err(syn::Error::new_spanned(
            future,
            "this branch has no pattern: write `_ = <future> => <handler>` to ignore the \
             future's output, or `<pattern> = <future> => <handler>` to use it",
        ));
    }
    let start = input.span();
    let pattern = Pat::parse_multi_with_leading_vert(input)
        .map_err(|_| syn::Error::new(start, format!("expected a branch: {BRANCH_SYNTAX}")))?;
    if !input.peek(Token![=]) || input.peek(Token![==]) {
        return Err(input.error(format!("expected `=` after the pattern: {BRANCH_SYNTAX}")));
    }
    let equals: Token![=] = input.parse()?;
    if input.is_empty() || input.peek(Token![=>]) {
        return Err(syn::Error::new(equals.span, "expected a future after `=`"));
    }
    let future: Expr = input.parse()?;
    let mut precondition = None;
    if input.peek(Token![,]) && input.peek2(Token![if]) {
        input.parse::<Token![,]>()?;
        input.parse::<Token![if]>()?;
        precondition = Some(input.parse::<Expr>()?);
    } else if input.peek(Token![if]) {
        return Err(input.error(
            "write a comma before the precondition: `<pattern> = <future>, if <condition> => \
             <handler>`",
        ));
    }
    let arrow = match &precondition {
        Some(condition) => expect_arrow(input, condition, "expected `=>` after the precondition")?,
        None => expect_arrow(
            input,
            &future,
            "expected `=>` after the future (or `, if <precondition> =>`)",
        )?,
    };
    let handler = parse_handler(input, arrow)?;
    Ok(Branch {
        pattern,
        future,
        precondition,
        handler,
    })
}

/// The tokens of a branch written `<future> => <handler>`, without `<pattern> =`: those before
/// a `=>` that comes before any `=` (tokens inside brackets are not looked at).
fn future_without_pattern(input: ParseStream) -> Option<TokenStream> {
    let fork = input.fork();
    let mut tokens = TokenStream::new();
    loop {
        if fork.peek(Token![=>]) {
            return (!tokens.is_empty()).then_some(tokens);
        }
        if fork.is_empty() || fork.peek(Token![=]) || fork.peek(Token![,]) {
            return None;
        }
        tokens.extend([fork.parse::<TokenTree>().ok()?]);
    }
}

/// Parses `=>`; at the end of the input the error points at `before` (there is no token to
/// point at).
fn expect_arrow<T: ToTokens>(
    input: ParseStream,
    before: T,
    message: &str,
) -> syn::Result<Token![=>]> {
    if input.peek(Token![=>]) {
        return input.parse();
    }
    Err(if input.is_empty() {
        syn::Error::new_spanned(before, message)
    } else {
        input.error(message)
    })
}

/// Parses a handler as a `match` arm body: a `{ ... }` block with an optional comma, or an
/// expression and a comma (which the last handler may omit).
fn parse_handler(input: ParseStream, arrow: Token![=>]) -> syn::Result<Expr> {
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new_spanned(
            arrow,
            "expected a handler after `=>`",
        ));
    }
    if input.peek(token::Brace) {
        let block: syn::Block = input.parse()?;
        input.parse::<Option<Token![,]>>()?;
        return Ok(Expr::Block(ExprBlock {
            attrs: Vec::new(),
            label: None,
            block,
        }));
    }
    let handler: Expr = input.parse()?;
    if !input.is_empty() {
        if !input.peek(Token![,]) {
            return Err(input.error(
                "expected `,` after this handler: a handler that is not a `{ ... }` block ends \
                 with a comma",
            ));
        }
        input.parse::<Token![,]>()?;
    }
    Ok(handler)
}

impl Select {
    fn expand(self, krate: &TokenStream) -> TokenStream {
        let site = Span::mixed_site();
        let private = quote!(#krate::__private);
        let count = self.branches.len();
        let count_lit = proc_macro2::Literal::u32_unsuffixed(count as u32);
        let out = syn::Ident::new("__TetherSelectOutput", site);
        let variants: Vec<_> = (0..count)
            .map(|i| format_ident!("B{}", i, span = site))
            .collect();
        let params: Vec<_> = (0..count)
            .map(|i| format_ident!("T{}", i, span = site))
            .collect();
        let futures: Vec<_> = (0..count)
            .map(|i| format_ident!("__future{}", i, span = site))
            .collect();
        let disabled = syn::Ident::new("__disabled", site);
        let cx = syn::Ident::new("__cx", site);
        let output = syn::Ident::new("__output", site);
        let value = syn::Ident::new("__value", site);
        let any_pending = syn::Ident::new("__any_pending", site);
        let start = syn::Ident::new("__start", site);
        let step = syn::Ident::new("__step", site);
        let branch = syn::Ident::new("__branch", site);

        let preconditions = self.branches.iter().enumerate().filter_map(|(i, b)| {
            let condition = b.precondition.as_ref()?;
            let bit = mask_bit(i);
            Some(quote! {
                if !(#condition) {
                    #disabled |= #bit;
                }
            })
        });
        let pinned = self.branches.iter().zip(&futures).map(|(b, name)| {
            let future = &b.future;
            quote! {
                let mut #name = #private::pin!(#private::into_future(#future));
            }
        });
        let poll_arms = self.branches.iter().enumerate().map(|(i, b)| {
            let index = proc_macro2::Literal::u32_unsuffixed(i as u32);
            let bit = mask_bit(i);
            let future = &futures[i];
            let variant = &variants[i];
            let check = check_pattern(&b.pattern).map(|pattern| {
                quote! {
                    #[allow(unused_variables, unreachable_patterns, clippy::all)]
                    match #private::from_ref(&#value) {
                        // Parenthesised: a range pattern such as `1..` is not allowed bare in a
                        // slice pattern.
                        [(#pattern)] => {}
                        _ => continue,
                    }
                }
            });
            quote! {
                #[allow(unreachable_code)]
                #index => {
                    if #disabled & #bit != 0 {
                        continue;
                    }
                    let #value = match #private::poll(#future.as_mut(), #cx) {
                        #private::Ready(#value) => #value,
                        #private::Pending => {
                            #any_pending = true;
                            continue;
                        }
                    };
                    // Complete: never polled again, whether the pattern matches or not.
                    #disabled |= #bit;
                    #check
                    #private::spend_budget();
                    return #private::Ready(#out::#variant(#value));
                }
            }
        });
        let start_expr = if self.biased || count == 1 {
            quote!(0u32)
        } else {
            quote!(#private::start_index(#count_lit))
        };
        let handler_arms = self.branches.iter().zip(&variants).map(|(b, variant)| {
            let pattern = &b.pattern;
            let handler = &b.handler;
            quote!(#out::#variant(#pattern) => #handler,)
        });
        let otherwise = match &self.otherwise {
            Some(handler) => quote!(#handler),
            None => quote! {
                ::core::panic!(
                    "tether::select!: every branch is disabled (its `if` precondition was false, \
                     or its future completed with an output its pattern does not match) and \
                     there is no `else` branch; add `else => <handler>` to handle that case"
                )
            },
        };

        quote! {{
            enum #out<#(#params),*> {
                #(#variants(#params),)*
                Disabled,
            }
            let mut #disabled: u64 = 0;
            #(#preconditions)*
            // `mut`: a handler's pattern may bind `ref mut`.
            #[allow(unused_mut)]
            let mut #output = {
                #(#pinned)*
                #private::poll_fn(|#cx| {
                    if #private::poll_budget(#cx).is_pending() {
                        return #private::Pending;
                    }
                    let mut #any_pending = false;
                    let #start: u32 = #start_expr;
                    for #step in 0..#count_lit {
                        let mut #branch: u32 = #start + #step;
                        if #branch >= #count_lit {
                            #branch -= #count_lit;
                        }
                        match #branch {
                            #(#poll_arms)*
                            _ => ::core::unreachable!(),
                        }
                    }
                    if #any_pending {
                        #private::Pending
                    } else {
                        #private::Ready(#out::Disabled)
                    }
                })
                .await
            };
            match #output {
                #(#handler_arms)*
                #out::Disabled => #otherwise,
                #[allow(unreachable_patterns)]
                _ => ::core::unreachable!(
                    "tether::select!: an output matched its pattern when borrowed but not by value"
                ),
            }
        }}
    }
}

/// `1u64 << i`, as a literal.
fn mask_bit(i: usize) -> TokenStream {
    let bit = proc_macro2::Literal::u64_suffixed(1u64 << i);
    quote!(#bit)
}

/// The pattern as step 4 of the module docs tests it against a borrowed output, or
/// `None` when it matches every value (`_`, or a binding marked `ref` or `mut`).
fn check_pattern(pattern: &Pat) -> Option<TokenStream> {
    match pattern {
        Pat::Wild(_) => return None,
        Pat::Ident(ident)
            if ident.subpat.is_none() && (ident.by_ref.is_some() || ident.mutability.is_some()) =>
        {
            return None
        }
        _ => {}
    }
    let mut cleaned = pattern.clone();
    strip_binding_modes(&mut cleaned);
    Some(resolve_at_definition_site(cleaned.into_token_stream()))
}

/// Removes `ref` and `mut` from every binding, so that the pattern binds by reference under
/// default binding modes.
fn strip_binding_modes(pattern: &mut Pat) {
    match pattern {
        Pat::Ident(ident) => {
            ident.by_ref = None;
            ident.mutability = None;
            if let Some((_, sub)) = &mut ident.subpat {
                strip_binding_modes(sub);
            }
        }
        Pat::Or(or) => or.cases.iter_mut().for_each(strip_binding_modes),
        Pat::Paren(paren) => strip_binding_modes(&mut paren.pat),
        Pat::Reference(reference) => strip_binding_modes(&mut reference.pat),
        Pat::Slice(slice) => slice.elems.iter_mut().for_each(strip_binding_modes),
        Pat::Struct(strukt) => strukt
            .fields
            .iter_mut()
            .for_each(|field| strip_binding_modes(&mut field.pat)),
        Pat::Tuple(tuple) => tuple.elems.iter_mut().for_each(strip_binding_modes),
        Pat::TupleStruct(tuple) => tuple.elems.iter_mut().for_each(strip_binding_modes),
        Pat::Type(typed) => strip_binding_modes(&mut typed.pat),
        _ => {}
    }
}

/// Keeps each token's location (errors still point at the user's pattern) but resolves it at
/// the macro's definition site: names of items still resolve as the caller wrote them, and the
/// pattern's edition is this crate's.
fn resolve_at_definition_site(tokens: TokenStream) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = proc_macro2::Group::new(
                    group.delimiter(),
                    resolve_at_definition_site(group.stream()),
                );
                inner.set_span(group.span().resolved_at(Span::mixed_site()));
                tree = TokenTree::Group(inner);
            } else {
                tree.set_span(tree.span().resolved_at(Span::mixed_site()));
            }
            tree
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::test_support::{assert_contains, assert_not_contains};

    fn run(input: &str) -> String {
        super::expand(
            format!("(::tether) {input}")
                .parse()
                .expect("input tokenizes"),
        )
        .to_string()
    }

    #[test]
    fn an_empty_select_says_what_a_branch_looks_like() {
        let out = run("");
        assert_contains(&out, "compile_error!");
        assert_contains(&out, "needs at least one branch");
    }

    #[test]
    fn without_the_crate_group_the_error_names_the_public_macro() {
        let out = super::expand("_ = f() => {}".parse().unwrap()).to_string();
        assert_contains(&out, "call `tether::select!` instead");
    }

    #[test]
    fn biased_starts_at_the_first_branch_and_unbiased_draws_a_start() {
        let out = run("biased; _ = a => 1, _ = b => 2,");
        assert_not_contains(&out, "start_index");
        let out = run("_ = a => 1, _ = b => 2,");
        assert_contains(&out, "::tether::__private::start_index(2)");
        // One branch: nothing to draw.
        let out = run("_ = a => 1");
        assert_not_contains(&out, "start_index");
    }

    #[test]
    fn only_patterns_that_can_fail_are_tested_before_the_handler() {
        assert_not_contains(&run("_ = a => 1"), "from_ref");
        assert_not_contains(&run("mut v = a => v"), "from_ref");
        // `v` could name a constant: tested.
        assert_contains(&run("v = a => v"), "from_ref");
        // The test drops `ref` and `mut`; the handler's pattern keeps them.
        let out = run("Some(ref mut v) = a => v");
        assert_contains(&out, "[(Some(v))] => {}");
        assert_contains(&out, "B0(Some(ref mut v)) =>");
    }

    #[test]
    fn preconditions_come_before_the_futures() {
        let out = run("_ = fut_a(), if cond_a() => 1, _ = fut_b() => 2");
        let condition = out.find("cond_a").unwrap();
        let future = out.find("fut_a").unwrap();
        assert!(condition < future, "{out}");
    }

    #[test]
    fn without_else_every_branch_disabled_panics_with_advice() {
        assert_contains(&run("_ = a => 1"), "add `else => <handler>`");
        assert_not_contains(&run("_ = a => 1, else => 2"), "panic!");
    }
}
