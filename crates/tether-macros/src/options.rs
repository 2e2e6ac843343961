//! The attribute arguments of both macros: `flavor`, `worker_threads`,
//! `start_paused` and `crate`.
//!
//! Parsing is in two steps. [`parse_raw_options`] reads the comma-separated
//! `key = value` list as written; [`validate_options`] checks each option's
//! value and the options that depend on each other (`worker_threads` needs
//! `flavor = "multi_thread"`, `start_paused = true` needs
//! `flavor = "current_thread"`), reporting every mistake through [`Errors`]
//! with a hint about what to write. An invalid option is left at its default so
//! that the function is still expanded next to the errors.

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token};

use crate::Errors;

/// The runtime flavor selected by the `flavor` option.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum Flavor {
    /// `Builder::new_current_thread()`, the default of both macros.
    #[default]
    CurrentThread,
    /// `Builder::new_multi_thread()`.
    MultiThread,
}

/// The validated macro options. Invalid options are left at their defaults so
/// the function can still be expanded next to the error.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) flavor: Flavor,
    pub(crate) worker_threads: Option<usize>,
    pub(crate) start_paused: Option<bool>,
    pub(crate) crate_path: Option<Path>,
}

/// An option as written: `key = value`, or a bare `key`.
pub(crate) struct RawOption {
    key: Ident,
    value: Option<Expr>,
}

pub(crate) fn parse_raw_options(input: ParseStream) -> syn::Result<Vec<RawOption>> {
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

pub(crate) fn validate_options(raw: Vec<RawOption>, errors: &mut Errors) -> Options {
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

#[cfg(test)]
mod tests {
    use crate::test_support::{assert_contains, assert_error, assert_not_contains, assert_ok, run};
    use crate::Kind;

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
}
