//! Attribute macros for the tether runtime.
//!
//! This crate provides [`#[tether::main]`](macro@main) and
//! [`#[tether::test]`](macro@test). Use them through the `tether` crate, which
//! re-exports them as `tether::main` and `tether::test`; depending on
//! `tether-macros` directly is not needed.
//!
//! Both macros turn an `async fn` into an ordinary function that builds a
//! [`tether::runtime::Runtime`] and blocks on the function's body. They accept
//! the same options:
//!
//! | option                       | meaning                                                              |
//! |------------------------------|----------------------------------------------------------------------|
//! | `flavor = "current_thread"`  | run every task on the calling thread (the default)                   |
//! | `flavor = "multi_thread"`    | run tasks on worker threads (`Builder::new_multi_thread`)            |
//! | `worker_threads = N`         | the number of worker threads, `N >= 1`; only with `multi_thread`     |
//! | `start_paused = true`        | start with the clock paused (`Builder::start_paused`); only with `current_thread` |
//! | `crate = "path"`             | where to find tether, when the dependency is renamed                 |
//!
//! **The default flavor is `current_thread` for both macros.** This differs
//! from tokio, whose `#[tokio::main]` defaults to the multi-thread flavor:
//! with tether, write `flavor = "multi_thread"` to run tasks on worker threads.
//!
//! [`tether::runtime::Runtime`]: https://docs.rs/tether/latest/tether/runtime/struct.Runtime.html

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, ItemFn, Lit, LitStr, Path, ReturnType, Token, Type};

/// Marks the `async fn main` of a program and runs it on a tether runtime.
///
/// The function is rewritten into a plain `fn main` that builds a runtime and
/// blocks on the original body. The return type is kept, so `main` may return
/// a `Result` and use `?`.
///
/// **The runtime is current-thread by default**: every task runs on the main
/// thread, between the `.await`s of `main`. This differs from tokio, whose
/// `#[tokio::main]` defaults to the multi-thread flavor; with tether, write
/// `flavor = "multi_thread"` to run tasks on worker threads.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// #[tether::main]
/// async fn main() {
///     tether::time::sleep(Duration::from_millis(10)).await;
///     println!("hello from tether");
/// }
/// ```
///
/// Returning a `Result` works like it does for a synchronous `main`:
///
/// ```
/// use std::error::Error;
///
/// #[tether::main]
/// async fn main() -> Result<(), Box<dyn Error>> {
///     let answer: u32 = "42".parse()?;
///     assert_eq!(answer, 42);
///     Ok(())
/// }
/// ```
///
/// Tasks spawned from `main` run on the same runtime:
///
/// ```
/// use std::time::Duration;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let _background = tether::spawn(async {
///         tether::time::sleep(Duration::from_millis(5)).await;
///     });
///     tether::time::sleep(Duration::from_millis(10)).await;
///     Ok(())
/// }
/// ```
///
/// With `flavor = "multi_thread"`, spawned tasks run in parallel on worker
/// threads, while the main thread only drives the body of `main`:
///
/// ```
/// #[tether::main(flavor = "multi_thread", worker_threads = 2)]
/// async fn main() {
///     let main_thread = std::thread::current().id();
///     let task = tether::spawn(async move {
///         // Runs on one of the two worker threads, not on the main thread.
///         assert_ne!(std::thread::current().id(), main_thread);
///         (1..=10u64).sum::<u64>()
///     });
///     assert_eq!(task.await.unwrap(), 55);
/// }
/// ```
///
/// # Options
///
/// Options are written as comma-separated `key = value` pairs:
///
/// * `flavor = "current_thread"` or `flavor = "multi_thread"` — the runtime
///   flavor. `"current_thread"` (the default) runs every task on the thread
///   that runs `main`; `"multi_thread"` runs tasks on a pool of worker threads
///   with work stealing (`Builder::new_multi_thread`).
/// * `worker_threads = N` — the number of worker threads of a multi-thread
///   runtime, an integer literal of at least 1 (`Builder::worker_threads`).
///   Without it, there is one worker per available core. Only allowed
///   together with `flavor = "multi_thread"`.
/// * `start_paused = true` — start the runtime with its clock paused, so
///   timers complete as soon as every task is idle instead of in real time.
///   A paused clock needs the current-thread flavor, whose scheduling is
///   deterministic, so this cannot be combined with `flavor = "multi_thread"`.
/// * `crate = "path"` — the path of the tether crate, for when the dependency
///   is renamed in `Cargo.toml`. Defaults to `::tether`.
///
/// ```
/// use std::time::Duration;
///
/// #[tether::main(flavor = "current_thread", start_paused = true)]
/// async fn main() {
///     // Returns at once: the paused clock jumps forward while the runtime is idle.
///     tether::time::sleep(Duration::from_secs(60)).await;
/// }
/// ```
///
/// With a renamed dependency (`my_rt = { package = "tether", .. }`), name the
/// crate explicitly:
///
/// ```
/// # use tether as my_rt; // stands in for the renamed dependency
/// #[my_rt::main(crate = "my_rt")]
/// async fn main() {
///     my_rt::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
///
/// Mistakes are reported at compile time with a hint about what to write:
///
/// ```compile_fail
/// #[tether::main(worker_threads = 2)] // add `flavor = "multi_thread"`
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// #[tether::main(flavor = "multi_thread", start_paused = true)] // needs current_thread
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// #[tether::main]
/// fn main() {} // the `async` keyword is missing
/// ```
///
/// # Expansion
///
/// ```text
/// #[tether::main(flavor = "multi_thread", worker_threads = 2)]
/// async fn main() -> R { body }
/// ```
///
/// becomes, roughly,
///
/// ```text
/// fn main() -> R {
///     let body = async move { body };            // checked to produce an `R`
///     let runtime = {
///         let mut builder = ::tether::runtime::Builder::new_multi_thread();
///         builder.worker_threads(2);
///         builder.build().expect("tether: failed to build the runtime (...)")
///     };
///     runtime.block_on(body)
/// }
/// ```
///
/// The current-thread flavor uses `Builder::new_current_thread()` instead, and
/// `start_paused = true` adds `builder.start_paused(true);`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args.into(), item.into()).into()
}

/// Marks an `async fn` as a test that runs on its own tether runtime.
///
/// The function becomes a `#[test]` function that builds a fresh runtime and
/// blocks on the original body, so every test is isolated from the others.
/// The return type is kept: a test may return a `Result` and use `?`. Other
/// attributes such as `#[should_panic]` or `#[ignore]` keep working; do not
/// add a `#[test]` attribute of your own.
///
/// Like [`#[tether::main]`](macro@main), the runtime is current-thread by
/// default (as with tokio's `#[tokio::test]`, but unlike `#[tokio::main]`,
/// which defaults to multi-thread): write `flavor = "multi_thread"` to run
/// tasks on worker threads.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// #[tether::test]
/// async fn sleeps_then_finishes() {
///     tether::time::sleep(Duration::from_millis(1)).await;
/// }
///
/// #[tether::test]
/// async fn reads_config() -> std::io::Result<()> {
///     let text = std::fs::read_to_string("Cargo.toml")?;
///     assert!(!text.is_empty());
///     Ok(())
/// }
/// # fn main() {}
/// ```
///
/// # Options
///
/// The options are the same as for [`#[tether::main]`](macro@main):
/// `flavor = "current_thread"` (the default) or `flavor = "multi_thread"`,
/// `worker_threads = N` (multi-thread only), `start_paused = true`
/// (current-thread only) and `crate = "path"`.
/// A paused clock is handy for testing timeouts without waiting for them:
///
/// ```
/// use std::time::Duration;
///
/// #[tether::test(start_paused = true)]
/// async fn an_hour_passes_instantly() {
///     tether::time::sleep(Duration::from_secs(3600)).await;
/// }
/// # fn main() {}
/// ```
///
/// The multi-thread flavor tests code that must work when tasks run in
/// parallel:
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// #[tether::test(flavor = "multi_thread", worker_threads = 2)]
/// async fn counts_from_many_tasks() {
///     let count = Arc::new(AtomicUsize::new(0));
///     let tasks: Vec<_> = (0..8)
///         .map(|_| {
///             let count = Arc::clone(&count);
///             tether::spawn(async move {
///                 count.fetch_add(1, Ordering::SeqCst);
///             })
///         })
///         .collect();
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(count.load(Ordering::SeqCst), 8);
/// }
/// # fn main() {}
/// ```
///
/// Test functions cannot take arguments:
///
/// ```compile_fail
/// #[tether::test]
/// async fn with_argument(x: u32) {}
/// # fn main() {}
/// ```
///
/// and a paused clock cannot be combined with the multi-thread flavor:
///
/// ```compile_fail
/// #[tether::test(flavor = "multi_thread", start_paused = true)]
/// async fn paused_on_workers() {}
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args.into(), item.into()).into()
}

/// Which macro is being expanded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn attribute(self) -> &'static str {
        match self {
            Kind::Main => "`#[tether::main]`",
            Kind::Test => "`#[tether::test]`",
        }
    }
}

/// The runtime flavor selected by the `flavor` option.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
enum Flavor {
    /// `Builder::new_current_thread()`, the default of both macros.
    #[default]
    CurrentThread,
    /// `Builder::new_multi_thread()`.
    MultiThread,
}

/// The validated macro options. Invalid options are left at their defaults so
/// the function can still be expanded next to the error.
#[derive(Default)]
struct Options {
    flavor: Flavor,
    worker_threads: Option<usize>,
    start_paused: Option<bool>,
    crate_path: Option<Path>,
}

/// Accumulates errors so that all problems are reported at once.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(existing) => existing.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn add(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }
}

/// The shared implementation of both macros, on `proc_macro2` token streams.
fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let input: ItemFn = match syn::parse2(item.clone()) {
        Ok(input) => input,
        // Keep the original item so that IDEs still see the function.
        Err(error) => return with_error(item, error),
    };

    let mut errors = Errors::default();
    let options = match parse_raw_options.parse2(args) {
        Ok(raw) => validate_options(raw, &mut errors),
        Err(error) => {
            errors.push(error);
            Options::default()
        }
    };
    let add_test_attribute = check_function(kind, &input, &mut errors);

    let expanded = expand_function(kind, input, &options, add_test_attribute);
    match errors.0 {
        Some(error) => with_error(expanded, error),
        None => expanded,
    }
}

fn with_error(mut tokens: TokenStream2, error: syn::Error) -> TokenStream2 {
    tokens.extend(error.into_compile_error());
    tokens
}

/// An option as written: `key = value`, or a bare `key`.
struct RawOption {
    key: Ident,
    value: Option<Expr>,
}

fn parse_raw_options(input: ParseStream) -> syn::Result<Vec<RawOption>> {
    let mut options = Vec::new();
    while !input.is_empty() {
        // `parse_any` accepts keywords, which `crate` is.
        let key = input.call(Ident::parse_any).map_err(|error| {
            syn::Error::new(
                error.span(),
                "expected an option such as `flavor = \"multi_thread\"`, \
                 `worker_threads = 4`, `start_paused = true` or `crate = \"path\"`",
            )
        })?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            if input.is_empty() || input.peek(Token![,]) {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "option `{key}` is missing its value after `=`; {}",
                        example(&key)
                    ),
                ));
            }
            Some(input.parse::<Expr>()?)
        } else {
            None
        };
        options.push(RawOption { key, value });
        if !input.is_empty() {
            input
                .parse::<Token![,]>()
                .map_err(|error| syn::Error::new(error.span(), "expected `,` between options"))?;
        }
    }
    Ok(options)
}

/// What a correct use of the option `key` looks like, for error messages.
fn example(key: &Ident) -> String {
    match key.unraw().to_string().as_str() {
        "flavor" => "write `flavor = \"current_thread\"` or `flavor = \"multi_thread\"`".to_owned(),
        "worker_threads" => {
            "write `worker_threads = 4` (together with `flavor = \"multi_thread\"`)".to_owned()
        }
        "start_paused" => "write `start_paused = true` or `start_paused = false`".to_owned(),
        "crate" => "write `crate = \"path\"`, e.g. `crate = \"my_tether\"`".to_owned(),
        other => format!("write `{other} = value`"),
    }
}

fn validate_options(raw: Vec<RawOption>, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let mut seen: Vec<String> = Vec::new();
    // Whether a `flavor` option is written and valid, so that the checks
    // across options below do not pile up on an already reported mistake.
    let mut flavor_ok = true;
    let mut explicit_flavor = false;
    // Where `worker_threads` and `start_paused = true` are written.
    let mut worker_threads_span: Option<Span> = None;
    let mut start_paused_span: Option<Span> = None;
    for RawOption { key, value } in raw {
        let name = key.unraw().to_string();
        let known = matches!(
            name.as_str(),
            "flavor" | "worker_threads" | "start_paused" | "crate"
        );
        if !known {
            let hint = match name.as_str() {
                "core_threads" | "threads" | "num_threads" | "workers" => {
                    "; to set the number of worker threads, write `worker_threads = N` \
                     together with `flavor = \"multi_thread\"`"
                }
                "unhandled_panic" | "enable_io" | "enable_time" | "enable_all" => {
                    "; it is not supported by tether (I/O and time are always enabled)"
                }
                _ => "",
            };
            errors.add(
                key.span(),
                format!(
                    "unknown option `{name}`; expected `flavor`, `worker_threads`, \
                     `start_paused` or `crate`{hint}"
                ),
            );
            continue;
        }
        if seen.contains(&name) {
            errors.add(
                key.span(),
                format!("option `{name}` is given more than once; keep only one `{name} = ...`"),
            );
            continue;
        }
        seen.push(name.clone());
        if name == "worker_threads" {
            worker_threads_span = Some(key.span());
        }

        let Some(value) = value else {
            if name == "flavor" {
                flavor_ok = false;
            }
            errors.add(
                key.span(),
                format!("option `{name}` needs a value; {}", example(&key)),
            );
            continue;
        };

        match name.as_str() {
            "flavor" => match string_literal(&value) {
                Some(lit) => match lit.value().as_str() {
                    "current_thread" => {
                        explicit_flavor = true;
                        options.flavor = Flavor::CurrentThread;
                    }
                    "multi_thread" => {
                        explicit_flavor = true;
                        options.flavor = Flavor::MultiThread;
                    }
                    other => {
                        flavor_ok = false;
                        errors.add(
                            lit.span(),
                            format!(
                                "unknown flavor `{other}`; write `flavor = \"current_thread\"` \
                                 (the default) or `flavor = \"multi_thread\"`"
                            ),
                        );
                    }
                },
                None => {
                    flavor_ok = false;
                    errors.add(
                        value.span(),
                        format!(
                            "`flavor` takes a string literal; write `flavor = \"{}\"`",
                            unquoted_hint(&value, "current_thread")
                        ),
                    );
                }
            },
            "worker_threads" => match &value {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(int), ..
                }) => {
                    if !matches!(int.suffix(), "" | "usize") {
                        errors.add(
                            int.span(),
                            format!(
                                "`worker_threads` is a `usize`; write it without the `{}` \
                                 suffix: `worker_threads = {}`",
                                int.suffix(),
                                int.base10_digits()
                            ),
                        );
                    } else {
                        match int.base10_parse::<usize>() {
                            Ok(0) => errors.add(
                                int.span(),
                                "`worker_threads` must be at least 1; write e.g. \
                                 `worker_threads = 4`, or leave it out for one worker \
                                 thread per core",
                            ),
                            Ok(n) => options.worker_threads = Some(n),
                            Err(_) => errors.add(
                                int.span(),
                                format!(
                                    "`worker_threads = {}` is too large; write a number of \
                                     threads such as `worker_threads = 4`",
                                    int.base10_digits()
                                ),
                            ),
                        }
                    }
                }
                _ => {
                    let hint = match string_literal(&value).map(|lit| lit.value()) {
                        Some(text) if text.parse::<usize>().is_ok() => {
                            format!(" without quotes: `worker_threads = {text}`")
                        }
                        _ => ", e.g. `worker_threads = 4` (constants and expressions are \
                              not supported)"
                            .to_owned(),
                    };
                    errors.add(
                        value.span(),
                        format!("`worker_threads` takes an integer literal; write it{hint}"),
                    );
                }
            },
            "start_paused" => match &value {
                Expr::Lit(ExprLit {
                    lit: Lit::Bool(b), ..
                }) => {
                    options.start_paused = Some(b.value);
                    if b.value {
                        start_paused_span = Some(value.span());
                    }
                }
                _ => {
                    let hint = match string_literal(&value).map(|lit| lit.value()) {
                        Some(text) if text == "true" || text == "false" => {
                            format!(" without quotes: `start_paused = {text}`")
                        }
                        _ => ": `start_paused = true` or `start_paused = false`".to_owned(),
                    };
                    errors.add(
                        value.span(),
                        format!("`start_paused` takes a boolean; write it{hint}"),
                    );
                }
            },
            "crate" => match string_literal(&value) {
                Some(lit) => match lit.parse::<Path>() {
                    Ok(path) => options.crate_path = Some(path),
                    Err(_) => errors.add(
                        lit.span(),
                        format!(
                            "`{}` is not a path; write the path of the tether crate, \
                             e.g. `crate = \"my_tether\"` or `crate = \"::tether\"`",
                            lit.value()
                        ),
                    ),
                },
                None => errors.add(
                    value.span(),
                    format!(
                        "`crate` takes a string literal; write `crate = \"{}\"`",
                        unquoted_hint(&value, "my_tether")
                    ),
                ),
            },
            _ => unreachable!("option names were checked above"),
        }
    }

    // Options that depend on the flavor. When the flavor itself is wrong, only
    // that mistake is reported.
    match options.flavor {
        Flavor::CurrentThread => {
            if let (Some(span), true) = (worker_threads_span, flavor_ok) {
                let fix = if explicit_flavor {
                    "write `flavor = \"multi_thread\"` instead of `flavor = \"current_thread\"`"
                } else {
                    "add `flavor = \"multi_thread\"` (the default flavor is current_thread)"
                };
                errors.add(
                    span,
                    format!(
                        "`worker_threads` needs the multi-thread flavor; {fix}, or remove \
                         `worker_threads` (the current-thread runtime runs every task on one \
                         thread)"
                    ),
                );
            }
            options.worker_threads = None;
        }
        Flavor::MultiThread => {
            if let Some(span) = start_paused_span {
                errors.add(
                    span,
                    "a paused clock (`start_paused = true`) needs the current-thread flavor, \
                     whose scheduling is deterministic; remove `start_paused` or write \
                     `flavor = \"current_thread\"`",
                );
                options.start_paused = None;
            }
        }
    }
    options
}

fn string_literal(value: &Expr) -> Option<&LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit),
        _ => None,
    }
}

/// For `key = some::path`, suggest quoting the path; otherwise use `fallback`.
fn unquoted_hint(value: &Expr, fallback: &str) -> String {
    match value {
        Expr::Path(path) if path.attrs.is_empty() && path.qself.is_none() => path
            .path
            .to_token_stream()
            .to_string()
            .split_whitespace()
            .collect(),
        _ => fallback.to_owned(),
    }
}

/// Checks the function itself. Returns whether the `#[test]` attribute should
/// be added (it is not when the user already wrote one).
fn check_function(kind: Kind, input: &ItemFn, errors: &mut Errors) -> bool {
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

/// Whether `tokens` contain the `impl` keyword (an `impl Trait` return type
/// cannot be named in the output annotation).
fn contains_impl(tokens: TokenStream2) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => contains_impl(group.stream()),
        _ => false,
    })
}

fn expand_function(
    kind: Kind,
    input: ItemFn,
    options: &Options,
    add_test_attribute: bool,
) -> TokenStream2 {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = input;
    sig.asyncness = None;

    let crate_path = options
        .crate_path
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::tether));
    let new_builder = match options.flavor {
        Flavor::CurrentThread => quote!(new_current_thread),
        Flavor::MultiThread => quote!(new_multi_thread),
    };
    let worker_threads = options.worker_threads.map(|n| {
        let n = proc_macro2::Literal::usize_unsuffixed(n);
        quote!(__tether_builder.worker_threads(#n);)
    });
    let start_paused = options
        .start_paused
        .map(|paused| quote!(__tether_builder.start_paused(#paused);));

    // The declared output type, when it can be written in type position.
    let output: Option<TokenStream2> = match &sig.output {
        ReturnType::Default => Some(quote!(())),
        ReturnType::Type(_, ty) => match &**ty {
            Type::Never(_) => None,
            ty if contains_impl(ty.to_token_stream()) => None,
            ty => Some(ty.to_token_stream()),
        },
    };

    let block_span = block.span();
    let future = quote_spanned!(block_span=> async move #block);
    let body = match (kind, output) {
        // Tests pin the body and erase its type, so that all tests with the
        // same output share one `block_on` instantiation.
        (Kind::Test, Some(output)) => quote_spanned! {block_span=>
            let __tether_body = ::core::pin::pin!(#future);
            let __tether_body: ::core::pin::Pin<
                &mut dyn ::core::future::Future<Output = #output>,
            > = __tether_body;
        },
        // `main` keeps the concrete future; the helper checks that the body
        // produces the declared return type and reports mismatches on it.
        (Kind::Main, Some(output)) => quote_spanned! {block_span=>
            fn __tether_check_output<T, F: ::core::future::Future<Output = T>>(future: F) -> F {
                future
            }
            let __tether_body = __tether_check_output::<#output, _>(#future);
        },
        (_, None) => quote_spanned!(block_span=> let __tether_body = #future;),
    };

    let test_attribute =
        (kind == Kind::Test && add_test_attribute).then(|| quote!(#[::core::prelude::v1::test]));

    quote! {
        #test_attribute
        #(#attrs)*
        #vis #sig {
            #body
            #[allow(clippy::expect_used)]
            let __tether_runtime = {
                let mut __tether_builder = #crate_path::runtime::Builder::#new_builder();
                #worker_threads
                #start_paused
                __tether_builder
                    .build()
                    .expect("tether: failed to build the runtime (see the error above for the reason)")
            };
            __tether_runtime.block_on(__tether_body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{expand, Kind};
    use proc_macro2::TokenStream as TokenStream2;

    fn run(kind: Kind, args: &str, item: &str) -> String {
        let args: TokenStream2 = args.parse().expect("args tokenize");
        let item: TokenStream2 = item.parse().expect("item tokenizes");
        expand(kind, args, item).to_string()
    }

    /// Removes all whitespace so that comparisons ignore token spacing.
    fn squash(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    fn assert_contains(output: &str, expected: &str) {
        assert!(
            squash(output).contains(&squash(expected)),
            "expected `{expected}` in:\n{output}"
        );
    }

    fn assert_not_contains(output: &str, unexpected: &str) {
        assert!(
            !squash(output).contains(&squash(unexpected)),
            "did not expect `{unexpected}` in:\n{output}"
        );
    }

    /// Asserts that the output carries a `compile_error!` containing `message`,
    /// and that the function is still emitted next to it.
    fn assert_error(output: &str, message: &str) {
        assert_contains(output, "compile_error!");
        assert!(
            output.contains(message),
            "expected error message `{message}` in:\n{output}"
        );
    }

    fn assert_ok(output: &str) {
        assert_not_contains(output, "compile_error!");
        // The expansion must be a single, valid function.
        syn::parse_str::<syn::ItemFn>(output).expect("expansion parses as a function");
    }

    #[test]
    fn main_default_expansion() {
        let out = run(Kind::Main, "", "async fn main() { println!(\"hi\"); }");
        assert_ok(&out);
        assert_contains(&out, "fn main() {");
        assert_not_contains(&out, "async fn");
        assert_contains(
            &out,
            "let mut __tether_builder = ::tether::runtime::Builder::new_current_thread();",
        );
        assert_contains(
            &out,
            ".build().expect(\"tether: failed to build the runtime (see the error above for the reason)\")",
        );
        assert_contains(&out, "__tether_runtime.block_on(__tether_body)");
        assert_contains(&out, "async move { println!(\"hi\"); }");
        assert_contains(&out, "__tether_check_output::<(), _>");
        assert_not_contains(&out, "start_paused");
        assert_not_contains(&out, "test");
    }

    #[test]
    fn main_keeps_attributes_visibility_and_return_type() {
        let out = run(
            Kind::Main,
            "",
            "/// Docs.\n#[allow(unused)] pub async fn main() -> Result<(), Box<dyn std::error::Error>> { let _x: u8 = \"1\".parse()?; Ok(()) }",
        );
        assert_ok(&out);
        assert_contains(&out, "#[doc = \" Docs.\"] #[allow(unused)] pub fn main() -> Result<(), Box<dyn std::error::Error>> {");
        assert_contains(
            &out,
            "__tether_check_output::<Result<(), Box<dyn std::error::Error>>, _>(async move {",
        );
    }

    #[test]
    fn main_with_io_result() {
        let out = run(
            Kind::Main,
            "",
            "async fn main() -> std::io::Result<()> { std::fs::read(\"x\")?; Ok(()) }",
        );
        assert_ok(&out);
        assert_contains(&out, "fn main() -> std::io::Result<()> {");
        assert_contains(&out, "__tether_check_output::<std::io::Result<()>, _>");
    }

    #[test]
    fn impl_and_never_return_types_skip_the_annotation() {
        let out = run(
            Kind::Main,
            "",
            "async fn main() -> impl std::process::Termination { }",
        );
        assert_ok(&out);
        assert_not_contains(&out, "__tether_check_output");
        assert_contains(&out, "let __tether_body = async move { };");

        let out = run(Kind::Main, "", "async fn main() -> ! { loop {} }");
        assert_ok(&out);
        assert_not_contains(&out, "__tether_check_output");
    }

    #[test]
    fn main_on_other_function_names() {
        let out = run(Kind::Main, "", "async fn run(x: u32) -> u32 { x }");
        assert_ok(&out);
        assert_contains(&out, "fn run(x: u32) -> u32 {");
    }

    #[test]
    fn start_paused_option() {
        let out = run(Kind::Main, "start_paused = true", "async fn main() {}");
        assert_ok(&out);
        assert_contains(&out, "__tether_builder.start_paused(true);");

        let out = run(Kind::Test, "start_paused = false,", "async fn t() {}");
        assert_ok(&out);
        assert_contains(&out, "__tether_builder.start_paused(false);");
    }

    #[test]
    fn flavor_current_thread_is_accepted() {
        let out = run(
            Kind::Main,
            "flavor = \"current_thread\", start_paused = true",
            "async fn main() {}",
        );
        assert_ok(&out);
        assert_contains(&out, "Builder::new_current_thread()");
        assert_contains(&out, "start_paused(true)");
    }

    #[test]
    fn crate_option_replaces_the_path() {
        let out = run(Kind::Main, "crate = \"my_tether\"", "async fn main() {}");
        assert_ok(&out);
        assert_contains(&out, "my_tether::runtime::Builder::new_current_thread()");
        assert_not_contains(&out, "::tether::");

        let out = run(
            Kind::Test,
            "crate = \"::deps::rt\", start_paused = true",
            "async fn t() {}",
        );
        assert_ok(&out);
        assert_contains(&out, "::deps::rt::runtime::Builder::new_current_thread()");
    }

    #[test]
    fn test_expansion() {
        let out = run(
            Kind::Test,
            "",
            "#[should_panic] async fn it_works() -> Result<(), String> { Err(\"no\".to_owned())?; Ok(()) }",
        );
        assert_ok(&out);
        assert_contains(
            &out,
            "#[::core::prelude::v1::test] #[should_panic] fn it_works() -> Result<(), String> {",
        );
        assert_contains(&out, "let __tether_body = ::core::pin::pin!(async move {");
        assert_contains(
            &out,
            "::core::pin::Pin<&mut dyn ::core::future::Future<Output = Result<(), String>>,>",
        );
        assert_contains(&out, "::tether::runtime::Builder::new_current_thread()");
        assert_contains(&out, "__tether_runtime.block_on(__tether_body)");
    }

    #[test]
    fn test_with_unit_output() {
        let out = run(Kind::Test, "", "async fn t() { assert!(true); }");
        assert_ok(&out);
        assert_contains(&out, "Future<Output = ()>");
    }

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

    #[test]
    fn multi_thread_flavor_expansion() {
        let out = run(
            Kind::Main,
            "flavor = \"multi_thread\"",
            "async fn main() {}",
        );
        assert_ok(&out);
        assert_contains(
            &out,
            "let mut __tether_builder = ::tether::runtime::Builder::new_multi_thread();",
        );
        assert_not_contains(&out, "new_current_thread");
        // Without `worker_threads`, the builder's default (one per core) applies.
        assert_not_contains(&out, "worker_threads");
        assert_not_contains(&out, "start_paused");
        assert_contains(&out, "__tether_runtime.block_on(__tether_body)");

        let out = run(Kind::Test, "flavor = \"multi_thread\"", "async fn t() {}");
        assert_ok(&out);
        assert_contains(&out, "#[::core::prelude::v1::test] fn t() {");
        assert_contains(&out, "::tether::runtime::Builder::new_multi_thread()");
    }

    #[test]
    fn worker_threads_option() {
        let out = run(
            Kind::Main,
            "flavor = \"multi_thread\", worker_threads = 2",
            "async fn main() {}",
        );
        assert_ok(&out);
        assert_contains(
            &out,
            "let mut __tether_builder = ::tether::runtime::Builder::new_multi_thread(); \
             __tether_builder.worker_threads(2);",
        );

        // Any order; a `usize` suffix is dropped; `crate` applies as well.
        let out = run(
            Kind::Test,
            "worker_threads = 16usize, crate = \"rt\", flavor = \"multi_thread\",",
            "async fn t() {}",
        );
        assert_ok(&out);
        assert_contains(&out, "rt::runtime::Builder::new_multi_thread();");
        assert_contains(&out, "__tether_builder.worker_threads(16);");
        assert_not_contains(&out, "16usize");
    }

    #[test]
    fn start_paused_false_is_allowed_with_multi_thread() {
        let out = run(
            Kind::Test,
            "flavor = \"multi_thread\", start_paused = false",
            "async fn t() {}",
        );
        assert_ok(&out);
        assert_contains(&out, "Builder::new_multi_thread()");
        assert_contains(&out, "__tether_builder.start_paused(false);");
    }

    #[test]
    fn flavor_current_thread_is_the_default() {
        let default = run(Kind::Main, "", "async fn main() {}");
        let explicit = run(
            Kind::Main,
            "flavor = \"current_thread\"",
            "async fn main() {}",
        );
        assert_eq!(default, explicit);
        assert_contains(&default, "Builder::new_current_thread()");

        let out = run(Kind::Test, "", "async fn t() {}");
        assert_contains(&out, "Builder::new_current_thread()");
        assert_not_contains(&out, "new_multi_thread");
    }

    #[test]
    fn error_worker_threads_with_default_flavor() {
        let out = run(Kind::Main, "worker_threads = 4", "async fn main() {}");
        assert_error(&out, "`worker_threads` needs the multi-thread flavor");
        assert_error(&out, "add `flavor = \\\"multi_thread\\\"`");
        // Still expanded, with the current-thread runtime and without the option.
        assert_contains(&out, "Builder::new_current_thread()");
        assert_not_contains(&out, "__tether_builder.worker_threads");

        let out = run(Kind::Test, "worker_threads = 1", "async fn t() {}");
        assert_error(&out, "add `flavor = \\\"multi_thread\\\"`");
    }

    #[test]
    fn error_worker_threads_with_current_thread_flavor() {
        let out = run(
            Kind::Test,
            "flavor = \"current_thread\", worker_threads = 4",
            "async fn t() {}",
        );
        assert_error(&out, "`worker_threads` needs the multi-thread flavor");
        assert_error(
            &out,
            "write `flavor = \\\"multi_thread\\\"` instead of `flavor = \\\"current_thread\\\"`",
        );
        assert_contains(&out, "Builder::new_current_thread()");
        assert_not_contains(&out, "__tether_builder.worker_threads");
    }

    #[test]
    fn error_worker_threads_zero() {
        let out = run(
            Kind::Main,
            "flavor = \"multi_thread\", worker_threads = 0",
            "async fn main() {}",
        );
        assert_error(&out, "`worker_threads` must be at least 1");
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        // Expanded with the builder's default number of workers.
        assert_contains(&out, "Builder::new_multi_thread()");
        assert_not_contains(&out, "__tether_builder.worker_threads");
    }

    #[test]
    fn error_worker_threads_not_an_integer_literal() {
        let multi = "flavor = \"multi_thread\", ";
        let out = run(
            Kind::Main,
            &format!("{multi}worker_threads = \"4\""),
            "async fn main() {}",
        );
        assert_error(&out, "`worker_threads` takes an integer literal");
        assert_error(&out, "without quotes: `worker_threads = 4`");

        let out = run(
            Kind::Main,
            &format!("{multi}worker_threads = THREADS"),
            "async fn main() {}",
        );
        assert_error(&out, "`worker_threads` takes an integer literal");

        let out = run(
            Kind::Main,
            &format!("{multi}worker_threads = -1"),
            "async fn main() {}",
        );
        assert_error(&out, "`worker_threads` takes an integer literal");

        let out = run(
            Kind::Main,
            &format!("{multi}worker_threads = 2u8"),
            "async fn main() {}",
        );
        assert_error(&out, "without the `u8` suffix: `worker_threads = 2`");

        let out = run(
            Kind::Main,
            &format!("{multi}worker_threads = 99999999999999999999999"),
            "async fn main() {}",
        );
        assert_error(&out, "is too large");

        let out = run(
            Kind::Main,
            &format!("{multi}worker_threads"),
            "async fn main() {}",
        );
        assert_error(&out, "option `worker_threads` needs a value");
        assert_error(&out, "write `worker_threads = 4`");
    }

    #[test]
    fn error_start_paused_with_multi_thread() {
        let out = run(
            Kind::Test,
            "flavor = \"multi_thread\", start_paused = true",
            "async fn t() {}",
        );
        assert_error(
            &out,
            "a paused clock (`start_paused = true`) needs the current-thread flavor",
        );
        // Still expanded, on the multi-thread runtime without the paused clock.
        assert_contains(&out, "Builder::new_multi_thread()");
        assert_not_contains(&out, "__tether_builder.start_paused");

        // The order of the options does not matter.
        let out = run(
            Kind::Main,
            "start_paused = true, worker_threads = 2, flavor = \"multi_thread\"",
            "async fn main() {}",
        );
        assert_error(&out, "needs the current-thread flavor");
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert_contains(&out, "__tether_builder.worker_threads(2);");
    }

    #[test]
    fn error_unknown_flavor() {
        let out = run(Kind::Test, "flavor = \"threaded\"", "async fn t() {}");
        assert_error(&out, "unknown flavor `threaded`");
        assert_error(&out, "or `flavor = \\\"multi_thread\\\"`");

        // Only the flavor is reported, not `worker_threads` depending on it.
        let out = run(
            Kind::Test,
            "flavor = \"multi-thread\", worker_threads = 2",
            "async fn t() {}",
        );
        assert_error(&out, "unknown flavor `multi-thread`");
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
    }

    #[test]
    fn error_flavor_not_a_string() {
        let out = run(Kind::Main, "flavor = current_thread", "async fn main() {}");
        assert_error(&out, "`flavor` takes a string literal");
        assert_error(&out, "flavor = \\\"current_thread\\\"");
    }

    #[test]
    fn error_unknown_option() {
        let out = run(Kind::Main, "foo = 1", "async fn main() {}");
        assert_error(
            &out,
            "unknown option `foo`; expected `flavor`, `worker_threads`, `start_paused` or `crate`",
        );

        let out = run(Kind::Main, "core_threads = 4", "async fn main() {}");
        assert_error(&out, "unknown option `core_threads`");
        assert_error(&out, "write `worker_threads = N`");
    }

    #[test]
    fn error_start_paused_not_a_bool() {
        let out = run(Kind::Test, "start_paused = \"true\"", "async fn t() {}");
        assert_error(&out, "`start_paused` takes a boolean");
        assert_error(&out, "without quotes: `start_paused = true`");
        assert_not_contains(&out, "__tether_builder.start_paused");

        let out = run(Kind::Test, "start_paused = 1", "async fn t() {}");
        assert_error(&out, "`start_paused = true` or `start_paused = false`");
    }

    #[test]
    fn error_option_without_value() {
        let out = run(Kind::Main, "start_paused", "async fn main() {}");
        assert_error(&out, "option `start_paused` needs a value");

        let out = run(Kind::Main, "flavor =", "async fn main() {}");
        assert_error(&out, "option `flavor` is missing its value");
    }

    #[test]
    fn error_crate_option() {
        let out = run(Kind::Main, "crate = my_tether", "async fn main() {}");
        assert_error(&out, "`crate` takes a string literal");
        assert_error(&out, "crate = \\\"my_tether\\\"");

        let out = run(Kind::Main, "crate = \"not a path\"", "async fn main() {}");
        assert_error(&out, "`not a path` is not a path");
    }

    #[test]
    fn error_duplicate_option() {
        let out = run(
            Kind::Main,
            "start_paused = true, start_paused = false",
            "async fn main() {}",
        );
        assert_error(&out, "option `start_paused` is given more than once");
    }

    #[test]
    fn error_bad_option_syntax() {
        let out = run(
            Kind::Main,
            "start_paused = true start_paused",
            "async fn main() {}",
        );
        assert_error(&out, "expected `,` between options");

        let out = run(Kind::Main, "\"flavor\"", "async fn main() {}");
        assert_error(&out, "expected an option such as");
    }

    #[test]
    fn valid_options_survive_next_to_errors() {
        let out = run(
            Kind::Main,
            "crate = \"rt\", flavor = \"threaded\", start_paused = true",
            "async fn main() {}",
        );
        assert_error(&out, "unknown flavor `threaded`");
        assert_contains(&out, "rt::runtime::Builder::new_current_thread()");
        assert_contains(&out, "start_paused(true)");
    }

    #[test]
    fn several_errors_are_reported_together() {
        let out = run(Kind::Test, "foo = 1, bar = 2", "fn t(x: u8) {}");
        assert_eq!(out.matches("compile_error").count(), 4, "{out}");
    }

    #[test]
    fn unparsable_item_is_kept_with_the_error() {
        let out = run(Kind::Main, "", "async fn main() -> { }");
        assert_contains(&out, "async fn main() -> { }");
        assert_contains(&out, "compile_error!");

        let out = run(Kind::Test, "", "struct NotAFunction;");
        assert_contains(&out, "struct NotAFunction;");
        assert_contains(&out, "compile_error!");
    }
}
