//! The expansion: the `async fn` becomes a plain function that builds a
//! runtime with `Builder::new_current_thread()` or `Builder::new_multi_thread()`
//! (plus the `worker_threads` and `start_paused` calls the options ask for) and
//! blocks on the original body. `main` keeps its concrete future and checks
//! that the body produces the declared return type; a test pins its body and
//! erases its type so that all tests with one output type share one
//! `block_on` instantiation.

use proc_macro2::{TokenStream as TokenStream2, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType, Type};

use crate::options::{Flavor, Options};
use crate::Kind;

/// Whether `tokens` contain the `impl` keyword (an `impl Trait` return type
/// cannot be named in the output annotation).
fn contains_impl(tokens: TokenStream2) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => contains_impl(group.stream()),
        _ => false,
    })
}

pub(crate) fn expand_function(
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
    use crate::test_support::{assert_contains, assert_not_contains, assert_ok, run};
    use crate::Kind;

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
}
