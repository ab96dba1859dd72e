//! Code generation: one pipeline, `fallback(retry(circuit_breaker(body)))`, whatever the
//! order the attributes were written in.
//!
//! The body stays in the function, in an `async` block of its own (so `return` and `?` keep
//! their meaning) that is awaited in place on each run: borrows of `self` and of the arguments
//! work as written, and the function's future is `Send` whenever the body's is. Owned arguments
//! are cloned for each run that must leave them for another.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{Attribute, Ident, ItemFn, Meta, Path};

use crate::args::{self, BreakerArgs, BreakerName, Errors, FallbackArgs, Kind, RetryArgs, Spanned};
use crate::item::{self, Function, Passing, Receiver};

/// What a sibling attribute is left with once an expansion has taken it in: it expands to the
/// function unchanged. Keeping the attribute (rather than removing it) keeps its import used.
const CONSUMED: &str = "__resilience_consumed";

/// The entry point of the three attributes.
pub fn attribute(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut tokens = args.clone().into_iter();
    match tokens.next() {
        // Taken in by a sibling's expansion.
        Some(proc_macro2::TokenTree::Ident(i)) if i == CONSUMED && tokens.next().is_none() => {
            return item;
        }
        // `#[retry = 3]`: the compiler has already said that this form is not supported.
        Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '=' => return item,
        _ => {}
    }
    let mut item: ItemFn = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(e) => {
            let message = format!(
                "#[{}] applies to an `async fn` with a body: {e}",
                kind.name()
            );
            let error = syn::Error::new(e.span(), message).into_compile_error();
            return quote! { #error #item };
        }
    };
    // The other attributes of ours on the same function join this expansion.
    let mut present = vec![(kind, args)];
    let mut errors = Errors::default();
    let mut consumed: Vec<Path> = Vec::new();
    let mut kept: Vec<Attribute> = Vec::new();
    for attr in std::mem::take(&mut item.attrs) {
        let Some(sibling) = Kind::of_path(attr.path()) else {
            kept.push(attr);
            continue;
        };
        consumed.push(attr.path().clone());
        let tokens = match &attr.meta {
            Meta::Path(_) => TokenStream::new(),
            Meta::List(list) => list.tokens.clone(),
            Meta::NameValue(_) => {
                let name = sibling.name();
                errors.push(syn::Error::new_spanned(
                    &attr.meta,
                    format!("write #[{name}(...)], not #[{name} = ...]"),
                ));
                continue;
            }
        };
        if present.iter().any(|(k, _)| *k == sibling) {
            errors.push(syn::Error::new_spanned(
                attr.path(),
                format!(
                    "#[{}] is applied twice to `{}`; keep one",
                    sibling.name(),
                    item.sig.ident
                ),
            ));
            continue;
        }
        present.push((sibling, tokens));
    }
    item.attrs = kept;
    let marker = Ident::new(CONSUMED, Span::call_site());
    let consumed = quote!(#(#[#consumed(#marker)])*);

    match pipeline(kind, present, &item, errors) {
        Ok(tokens) => quote! { #consumed #tokens },
        Err(e) => {
            // The function as written (without our attributes) beside the errors: one mistake,
            // one message, and the rest of the crate still type-checks.
            let error = e.into_compile_error();
            quote! { #error #consumed #item }
        }
    }
}

fn pipeline(
    first: Kind,
    present: Vec<(Kind, TokenStream)>,
    item: &ItemFn,
    mut errors: Errors,
) -> syn::Result<TokenStream> {
    let mut breaker = None;
    let mut retry = None;
    let mut fallback = None;
    for (kind, tokens) in present {
        match kind {
            Kind::CircuitBreaker => breaker = Some(args::breaker(tokens, &mut errors)?),
            Kind::Retry => retry = Some(args::retry(tokens, &mut errors)?),
            Kind::Fallback => {
                fallback = Some(args::fallback(tokens, &item.sig.ident, &mut errors)?)
            }
        }
    }
    let present = item::Present {
        first,
        retry: retry.is_some(),
        fallback: fallback.is_some(),
    };
    let function = item::check(item, present, &mut errors);
    errors.into_result()?;
    let function = function.expect("`check` reports every shape it returns `None` for");
    Ok(expand(
        item,
        &function,
        breaker.as_ref(),
        retry.as_ref(),
        fallback.as_ref(),
    ))
}

fn expand(
    item: &ItemFn,
    function: &Function,
    breaker: Option<&BreakerArgs>,
    retry: Option<&RetryArgs>,
    fallback: Option<&FallbackArgs>,
) -> TokenStream {
    let ItemFn {
        attrs, vis, block, ..
    } = item;
    let reruns = retry.is_some() || fallback.is_some();
    let sig = signature(item, function, reruns);
    let ret = &function.ret;
    let fn_name = item.sig.ident.to_string();
    let rp = quote!(::resilience::__private);
    // The error type, spanned where it is written when the return type spells it out.
    let err_span = function.err_span;
    let err_ty = quote_spanned!(err_span=> <#ret as #rp::ResultReturn>::Err);

    // Locals of the generated code, invisible to the body (mixed-site hygiene).
    let local = |name: &str| Ident::new(name, Span::mixed_site());
    let (permit, result, open, run, value) = (
        local("__permit"),
        local("__result"),
        local("__open"),
        local("__run"),
        local("__value"),
    );
    let (error, verdict, wait, gave_up, failures) = (
        local("__error"),
        local("__verdict"),
        local("__wait"),
        local("__gave_up"),
        local("__failures"),
    );
    let (e, attempt, primary, cell, ret_value) = (
        local("__e"),
        local("__attempt"),
        local("__primary"),
        local("__CELL"),
        local("__resilience_ret"),
    );
    let seen = local("__seen");
    let (convert, show, keep, breaker_handle) = (
        local("__convert"),
        local("__show"),
        local("__keep"),
        local("__breaker"),
    );

    // Type rules, each checked once, at the return type.
    let mut checks = vec![quote_spanned!(ret.span()=> #rp::assert_result::<#ret>();)];
    if breaker.is_some() || fallback.is_some() {
        checks.push(quote_spanned!(err_span=> let #convert = #rp::convert::<#err_ty>();));
    }
    if retry.is_some() {
        checks.push(quote_spanned!(err_span=> let #show = #rp::show::<#err_ty>();));
    }
    if fallback.is_some() {
        checks.push(quote_spanned!(err_span=> let #keep = #rp::keep::<#err_ty>();));
    }

    // One run of the body: in an `async` block, so that its `return` and `?` end the run and
    // not the function; in place when it has neither (a future less to poll, ~2 ns a call).
    let run_body = if may_exit_early(&quote!(#block)) {
        quote! {
            #rp::ResultReturn::into_result(async {
                let #ret_value: #ret = #block;
                #[allow(unreachable_code)]
                #ret_value
            }.await)
        }
    } else {
        quote! {
            #rp::ResultReturn::into_result({
                let #ret_value: #ret = #block;
                #[allow(unreachable_code)]
                #ret_value
            })
        }
    };
    let clones = if reruns {
        clones(function)
    } else {
        TokenStream::new()
    };
    let predicate = |path: &Path| quote_spanned!(path.span()=> <_ as #rp::Predicate<#err_ty>>::test(&#path, #e));

    // circuit_breaker(body): a `Result<T, CallError<E>>` with a breaker, `Result<T, E>` without.
    let mut setup = TokenStream::new();
    let attempt_expr = match breaker {
        Some(b) => {
            setup.extend(breaker_site(b, &item.sig.ident, &breaker_handle, &rp));
            let is_failure = b.failure_if.as_ref().map_or(quote!(true), predicate);
            quote! {
                match #breaker_handle.try_acquire() {
                    ::core::result::Result::Ok(#permit) => {
                        #clones
                        let #result = #run_body;
                        #permit.record_with(&#result, |#e| #is_failure);
                        if #result.is_err() {
                            #rp::note_failed();
                        }
                        #result.map_err(#rp::CallError::Failed)
                    }
                    ::core::result::Result::Err(#open) => {
                        #rp::note_rejected(#fn_name, &#open);
                        ::core::result::Result::Err(#rp::CallError::Rejected(#open))
                    }
                }
            }
        }
        None => quote! {{
            #clones
            #run_body
        }},
    };

    // retry(...): the same type, after the retries.
    let primary_expr = match retry {
        Some(r) => {
            let builder = retry_builder(r);
            let retry_if = r.retry_if.as_ref().map_or(quote!(true), predicate);
            let (shown, judge) = match (breaker, fallback) {
                // With tiers to fall back to, an open breaker sends the call on at once.
                (Some(_), Some(_)) => (
                    quote!(#show.call(#error)),
                    quote!(#rp::verdict_call_or_fall_back),
                ),
                (Some(_), None) => (quote!(#show.call(#error)), quote!(#rp::verdict_call)),
                (None, _) => (quote!(#show.plain(#error)), quote!(#rp::verdict)),
            };
            quote! {{
                let mut #run = {
                    static #cell: #rp::RetryCell = #rp::RetryCell::new();
                    #cell.get_or_init(|| #builder).start()
                };
                loop {
                    let #attempt = #attempt_expr;
                    match #attempt {
                        ::core::result::Result::Ok(#value) => break ::core::result::Result::Ok(#value),
                        ::core::result::Result::Err(#error) => {
                            let #error = #shown;
                            let #verdict = #judge(&#error, |#e| #retry_if);
                            match #run.after_failure(#error, #verdict) {
                                ::core::result::Result::Ok(#wait) => #rp::sleep(#wait).await,
                                ::core::result::Result::Err(#gave_up) => {
                                    break ::core::result::Result::Err(
                                        #gave_up.into_last_error().into_inner(),
                                    );
                                }
                            }
                        }
                    }
                }
            }}
        }
        None => attempt_expr,
    };

    // fallback(...): the function's own result type.
    let result_expr = match fallback {
        Some(f) => {
            // Tiers are named by their functions, the guarded one first.
            let primary_tier = &fn_name;
            let record_primary = if breaker.is_some() {
                quote!(#failures.primary(#primary_tier, #error);)
            } else {
                quote!(#failures.failed(#primary_tier, #error);)
            };
            let last = f.tiers.len().saturating_sub(1);
            let tiers = f.tiers.iter().enumerate().map(|(i, path)| {
                let name = args::path_string(path);
                let position = i + 1;
                let call = tier_call(function, path, i == last);
                let output = quote_spanned! {path.span()=>
                    #rp::tier_output::<#ret, _>(#seen.watch(#call).await)
                };
                quote! {
                    let #seen = #rp::Rejection::new();
                    match #output {
                        ::core::result::Result::Ok(#value) => {
                            #failures.served(#name, #position);
                            return ::core::result::Result::Ok(#value);
                        }
                        ::core::result::Result::Err(#error) => {
                            #failures.tier_failed(#name, #error, &#seen)
                        }
                    }
                }
            });
            quote! {
                let #primary = #primary_expr;
                match #primary {
                    ::core::result::Result::Ok(#value) => ::core::result::Result::Ok(#value),
                    ::core::result::Result::Err(#error) => {
                        let mut #failures = #rp::Failures::new(#fn_name, #keep);
                        #record_primary
                        #(#tiers)*
                        ::core::result::Result::Err(#failures.into_error(&#convert))
                    }
                }
            }
        }
        None if breaker.is_some() => {
            quote!((#primary_expr).map_err(|#e| #convert.call_error(#e)))
        }
        None => primary_expr,
    };

    quote! {
        #(#attrs)*
        #vis #sig {
            #(#checks)*
            #setup
            #result_expr
        }
    }
}

/// The signature as written, but for `mut` on owned arguments that each run clones: the
/// clones are the mutable ones, and the original is only read.
/// Macros known not to expand to `return` or `?`: those of `std` and `core`, and the logging
/// macros of `tracing` and `log` when written with their crate's path.
const PLAIN_MACROS: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "cfg",
    "column",
    "concat",
    "dbg",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "env",
    "eprint",
    "eprintln",
    "file",
    "format",
    "format_args",
    "include_bytes",
    "include_str",
    "line",
    "matches",
    "module_path",
    "option_env",
    "panic",
    "print",
    "println",
    "stringify",
    "todo",
    "unimplemented",
    "unreachable",
    "vec",
    "write",
    "writeln",
];
const LOGGING_CRATES: &[&str] = &["tracing", "log"];

/// Whether `body` may leave the function early: it holds a `return`, a `?`, or a macro other
/// than [`PLAIN_MACROS`] (one could expand to either). Errs on the safe side: a `return` in a
/// nested closure counts too.
fn may_exit_early(body: &TokenStream) -> bool {
    use proc_macro2::TokenTree;
    let tokens: Vec<TokenTree> = body.clone().into_iter().collect();
    tokens.iter().enumerate().any(|(i, token)| match token {
        TokenTree::Group(group) => may_exit_early(&group.stream()),
        TokenTree::Ident(ident) if ident == "return" => true,
        TokenTree::Punct(p) if p.as_char() == '?' => true,
        // `name!(..)`: a macro call, unless it is a plain one (not `a != b`, not `!c`).
        TokenTree::Punct(p)
            if p.as_char() == '!'
                && i > 0
                && matches!(tokens.get(i + 1), Some(TokenTree::Group(_))) =>
        {
            match &tokens[i - 1] {
                TokenTree::Ident(name) => !plain_macro(&tokens[..i - 1], name),
                _ => false,
            }
        }
        _ => false,
    })
}

/// Whether the macro `name`, after the tokens `before` (which may end in its path), is one of
/// [`PLAIN_MACROS`] or a logging macro written `tracing::info!`, `log::warn!`, ...
fn plain_macro(before: &[proc_macro2::TokenTree], name: &Ident) -> bool {
    use proc_macro2::TokenTree;
    // The path segment before `name`, if `name` is preceded by `segment ::`.
    let parent = match before {
        [
            ..,
            TokenTree::Ident(parent),
            TokenTree::Punct(a),
            TokenTree::Punct(b),
        ] if a.as_char() == ':' && b.as_char() == ':' => Some(parent.to_string()),
        _ => None,
    };
    let name = name.to_string();
    match parent.as_deref() {
        None | Some("std" | "core" | "alloc") => PLAIN_MACROS.contains(&name.as_str()),
        Some(krate) => LOGGING_CRATES.contains(&krate),
    }
}

fn signature(item: &ItemFn, function: &Function, reruns: bool) -> syn::Signature {
    let mut sig = item.sig.clone();
    if reruns {
        for input in sig.inputs.iter_mut() {
            if let syn::FnArg::Typed(typed) = input {
                if let syn::Pat::Ident(pat) = &mut *typed.pat {
                    let owned = function
                        .args
                        .iter()
                        .any(|a| a.ident == pat.ident && matches!(a.passing, Passing::Owned));
                    if owned {
                        pat.mutability = None;
                    }
                }
            }
        }
    }
    sig
}

/// Clones of the owned arguments for one run, shadowing them (each clone checked at the
/// argument's type).
fn clones(function: &Function) -> TokenStream {
    function
        .args
        .iter()
        .filter(|a| matches!(a.passing, Passing::Owned))
        .map(|a| {
            let (ident, mutability) = (&a.ident, &a.mutability);
            // The source of the clone carries the type's span, so that a type that is not
            // `Clone` is reported at the type.
            let source = Ident::new(&ident.to_string(), a.ty.span());
            quote_spanned! {a.ty.span()=>
                let #mutability #ident = ::resilience::__private::clone_arg(&#source);
            }
        })
        .collect()
}

/// The call of a fallback tier with the function's arguments: clones for all but the last
/// tier, which takes the originals. The arguments carry the tier's span, so that a tier whose
/// parameters differ is reported at its name.
fn tier_call(function: &Function, path: &Path, last: bool) -> TokenStream {
    let span = path.span();
    let args = function.args.iter().map(|a| {
        let ident = Ident::new(&a.ident.to_string(), span);
        match a.passing {
            Passing::Shared => quote_spanned!(span=> #ident),
            Passing::Unique if last => quote_spanned!(span=> #ident),
            Passing::Unique => quote_spanned!(span=> &mut *#ident),
            Passing::Owned if last => quote_spanned!(span=> #ident),
            Passing::Owned => quote_spanned!(span=> ::resilience::__private::clone_arg(&#ident)),
        }
    });
    let this = quote_spanned!(span=> self);
    match (function.receiver, path.get_ident()) {
        (Receiver::Reference, Some(method)) => quote_spanned!(span=> #this.#method(#(#args),*)),
        (Receiver::Reference, None) => quote_spanned!(span=> #path(#this, #(#args),*)),
        (Receiver::None, _) => quote_spanned!(span=> #path(#(#args),*)),
    }
}

/// `let handle = ..;`: the breaker of this call site, declared in a `static` that is both its
/// entry in the list of attribute breakers the linker gathers (so that the registry knows it from
/// the start) and the call site's cache (one atomic load a call). In a block of its own, out of
/// the body's sight.
fn breaker_site(
    b: &BreakerArgs,
    function: &Ident,
    handle: &Ident,
    rp: &TokenStream,
) -> TokenStream {
    let site = Ident::new("__SITE", Span::mixed_site());
    // The site records where it is written (`#[track_caller]`): at the attribute, or at the
    // constant that names it.
    let new = match &b.name {
        Some(BreakerName::Literal(name)) => {
            let name = &name.value;
            quote!(#rp::BreakerSite::named(#name))
        }
        // A constant: its type and its value (a const evaluation) are checked where it is
        // written, so the whole call carries its span.
        Some(BreakerName::Const(path)) => {
            respan(quote!(#rp::BreakerSite::named(#path)), path.span())
        }
        // The default: the module path and the function's name, `billing::zoho::get_account`.
        None => {
            let suffix = format!("::{}", function.unraw());
            quote!(#rp::BreakerSite::unnamed(::core::concat!(::core::module_path!(), #suffix)))
        }
    };
    let mut calls = Vec::new();
    let mut count = |method: &str, v: &Option<Spanned<u32>>| {
        if let Some(v) = v {
            let (method, value) = (format_ident!("{method}"), v.value);
            calls.push(quote!(.#method(#value)));
        }
    };
    count("failure_threshold", &b.failure_threshold);
    count("half_open_max_calls", &b.half_open_max_calls);
    count("success_threshold", &b.success_threshold);
    count("window_size", &b.window_size);
    count("minimum_calls", &b.minimum_calls);
    if let Some(d) = &b.recovery_timeout {
        calls.push(duration_call("recovery_timeout", d));
    }
    if let Some(r) = &b.failure_rate_threshold {
        let value = r.value;
        calls.push(quote!(.failure_rate_threshold(#value)));
    }
    quote! {
        let #handle = {
            static #site: #rp::BreakerSite = #new #(#calls)*;
            #rp::submit!(#site);
            #site.breaker()
        };
    }
}

/// `tokens`, each with `span` (the tokens of groups too).
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    use proc_macro2::{Group, TokenTree};
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                TokenTree::Group(group)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

fn retry_builder(r: &RetryArgs) -> TokenStream {
    let mut calls = Vec::new();
    if let Some(n) = &r.max_attempts {
        let value = n.value;
        calls.push(quote!(.max_attempts(#value)));
    }
    for (method, d) in [
        ("base_delay", &r.base_delay),
        ("max_delay", &r.max_delay),
        ("budget", &r.budget),
    ] {
        if let Some(d) = d {
            calls.push(duration_call(method, d));
        }
    }
    if let Some(b) = &r.exponential_base {
        let value = b.value;
        calls.push(quote!(.exponential_base(#value)));
    }
    if let Some(j) = &r.jitter {
        let value = j.value;
        calls.push(quote!(.jitter(#value)));
    }
    quote!(::resilience::RetryPolicy::builder() #(#calls)*)
}

fn duration_call(method: &str, d: &Spanned<std::time::Duration>) -> TokenStream {
    let method = format_ident!("{method}");
    let (secs, nanos) = (d.value.as_secs(), d.value.subsec_nanos());
    quote!(.#method(::core::time::Duration::new(#secs, #nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_runs_in_place_only_when_it_cannot_leave_early() {
        let exits = |body: &str| may_exit_early(&body.parse::<TokenStream>().unwrap());
        for plain in [
            "{ operation(fail) }",
            "{ self.mcp.get_account(&id).await }",
            "{ if a != b { Ok(!c) } else { Ok(1) } }",
            "{ tracing::info!(\"x\"); Ok(format!(\"{}\", 1)) }",
            "{ std::println!(\"x\"); assert!(ok); Ok(vec![1]) }",
            "{ log::warn!(\"slow\"); Ok(matches!(x, Some(_))) }",
        ] {
            assert!(!exits(plain), "{plain}");
        }
        for early in [
            "{ let x = fetch().await?; Ok(x) }",
            "{ if a { return Err(e); } Ok(1) }",
            "{ anyhow::bail!(\"x\") }",
            "{ bail!(\"x\") }",
            "{ info!(\"x\"); Ok(1) }",
            "{ let f = || -> Result<(), E> { g()?; Ok(()) }; f() }",
            "{ async { return 1 }.await; Ok(()) }",
            "{ other::format!(\"x\") }",
        ] {
            assert!(exits(early), "{early}");
        }
    }

    /// The expansion of a method with all three attributes, pretty-printed, is checked in at
    /// `tests/expand/get_account.expanded.rs` for review. `UPDATE_EXPANSION=1 cargo test -p
    /// resilience-macros` rewrites it after a deliberate change.
    #[test]
    fn expansion_of_all_three_attributes_matches_the_snapshot() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/expand");
        let input = std::fs::read_to_string(format!("{dir}/get_account.rs")).unwrap();
        let mut block: syn::ItemImpl = syn::parse_str(&input).unwrap();
        let syn::ImplItem::Fn(method) = &mut block.items[0] else {
            panic!("the input is an impl block with one method");
        };
        // The compiler hands the first attribute's arguments to the macro and the rest stay on
        // the item: do the same.
        let first = method.attrs.remove(1);
        let args = match first.meta {
            Meta::List(list) => list.tokens,
            _ => panic!("the first attribute has arguments"),
        };
        let expanded = attribute(Kind::Fallback, args, quote!(#method));
        block.items[0] = syn::parse2(expanded).unwrap();
        let file = syn::File {
            shebang: None,
            frontmatter: None,
            attrs: Vec::new(),
            items: vec![syn::Item::Impl(block)],
        };
        let pretty = prettyplease::unparse(&file);
        let path = format!("{dir}/get_account.expanded.rs");
        if std::env::var_os("UPDATE_EXPANSION").is_some() {
            std::fs::write(&path, &pretty).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            pretty == expected,
            "the expansion changed; review it and run with UPDATE_EXPANSION=1:\n{pretty}"
        );
    }
}
