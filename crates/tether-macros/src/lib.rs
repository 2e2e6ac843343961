//! Macros for the tether runtime.
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
//! It also implements the function-like macros `tether::select!`, `tether::join!` and
//! `tether::try_join!`. Those are documented, and must be called, in `tether`: each is a small
//! `macro_rules!` macro there that hands its `$crate` path, then the caller's tokens, to the
//! hidden procedural macro of the same name here, so that the expansion finds tether however
//! the caller's crate names it.
//!
//! [`tether::runtime::Runtime`]: https://docs.rs/tether/latest/tether/runtime/struct.Runtime.html

// The crate's files: this one holds the entry points, `Kind` and the
// driver `expand`, which parses the function, checks it and the options, and
// collects every error; `options.rs` parses and validates the attribute
// arguments and words their errors; `function.rs` checks the annotated
// function (`async`, no arguments, no second test attribute); `codegen.rs`
// writes the expansion, a plain function that builds a runtime and blocks on
// the body. The function-like macros: `crate_path.rs` takes the `($crate)` group tether's
// `macro_rules!` wrappers put in front; `select.rs` and `join.rs` parse and expand `select!`
// and `join!`/`try_join!`.

mod codegen;
mod crate_path;
mod function;
mod join;
mod options;
mod select;
#[cfg(test)]
mod test_support;

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use syn::parse::Parser;
use syn::ItemFn;

use crate::options::Options;

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

/// The implementation of `tether::select!`; call that macro, which documents the syntax (it
/// passes its `$crate` path in front of the branches, see `crate_path.rs`).
#[doc(hidden)]
#[proc_macro]
pub fn select(input: TokenStream) -> TokenStream {
    select::expand(input.into()).into()
}

/// The implementation of `tether::join!`; call that macro.
#[doc(hidden)]
#[proc_macro]
pub fn join(input: TokenStream) -> TokenStream {
    join::expand(join::JoinKind::Join, input.into()).into()
}

/// The implementation of `tether::try_join!`; call that macro.
#[doc(hidden)]
#[proc_macro]
pub fn try_join(input: TokenStream) -> TokenStream {
    join::expand(join::JoinKind::TryJoin, input.into()).into()
}

/// Which attribute macro is being expanded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Main,
    Test,
}

impl Kind {
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Kind::Main => "`#[tether::main]`",
            Kind::Test => "`#[tether::test]`",
        }
    }
}

/// Accumulates errors so that all problems are reported at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(existing) => existing.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn add(&mut self, span: Span, message: impl std::fmt::Display) {
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
    let options = match options::parse_raw_options.parse2(args) {
        Ok(raw) => options::validate_options(raw, &mut errors),
        Err(error) => {
            errors.push(error);
            Options::default()
        }
    };
    let add_test_attribute = function::check_function(kind, &input, &mut errors);

    let expanded = codegen::expand_function(kind, input, &options, add_test_attribute);
    match errors.0 {
        Some(error) => with_error(expanded, error),
        None => expanded,
    }
}

fn with_error(mut tokens: TokenStream2, error: syn::Error) -> TokenStream2 {
    tokens.extend(error.into_compile_error());
    tokens
}

#[cfg(test)]
mod tests {
    use crate::test_support::{assert_contains, run};
    use crate::Kind;

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
