//! Code generation: one pipeline, `fallback(retry(circuit_breaker(body)))`, whatever the
//! order the attributes were written in.
//!
//! The body stays in the function, in an `async` block of its own (so `return` and `?` keep
//! their meaning) that is awaited in place on each run, or in a labeled block when it has
//! neither (so that a `break` or `continue` of its own is the compiler's error, as without the
//! attributes): borrows of `self` and of the arguments work as written, and the function's
//! future is `Send` whenever the body's is. Each run starts from the caller's arguments: owned
//! ones are cloned for it, `mut` ones rebound.
//!
//! Every attribute of ours leaves a `kind(arguments)` entry on the finisher, so that a new
//! attribute is a new [`Kind`], its entry point calling [`attribute`], and its layer in
//! [`build`] and [`expand`], at its place in the fixed order.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{Ident, ItemFn, Path};

use crate::args::{self, BreakerArgs, BreakerName, Errors, FallbackArgs, Kind, RetryArgs, Spanned};
use crate::item::{self, Function, Passing, Receiver};

/// The attribute of ours that runs last and writes the pipeline: `__pipeline`, re-exported by
/// the runtime in `__private`.
const PIPELINE: &str = "__pipeline";

/// Whether `path` names the finishing attribute, however the runtime's crate is named.
fn is_pipeline(path: &Path) -> bool {
    let mut segments = path.segments.iter().rev();
    matches!(
        (segments.next(), segments.next()),
        (Some(last), Some(module)) if last.ident == PIPELINE && module.ident == "__private"
    )
}

/// The entry point of the three attributes, however they are imported or renamed. An attribute
/// of ours cannot tell its siblings by their names (`use resilience::retry as with_retry`), so
/// none of them expands the function: each leaves its arguments, in the order written, on one
/// finishing attribute that it appends after all the others (the first) or finds there (the
/// others). The finisher, [`pipeline`], runs last and sees them all.
pub fn attribute(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    // Checked here for its shape only: the function's tokens are passed on untouched, so that
    // every span the finisher reports is the user's own.
    if let Err(e) = syn::parse2::<ItemFn>(item.clone()) {
        let message = format!(
            "#[{}] applies to an `async fn` with a body: {e}",
            kind.name()
        );
        let error = syn::Error::new(e.span(), message).into_compile_error();
        return quote! { #error #item };
    }
    let (args, krate) = match take_crate(args) {
        Ok(split) => split,
        Err(e) => {
            let error = e.into_compile_error();
            return quote! { #error #item };
        }
    };
    // The attribute's name carries its place, for messages about the attribute as a whole.
    let name = Ident::new(kind.name(), Span::call_site());
    let entry = quote!(#name(#args));
    let krate_entry = krate.as_ref().map(|k| quote!(crate(#k)));
    let finisher_path = |krate: &Path| quote!(#krate::__private::__pipeline);

    // The outer attributes (`#` and a bracketed group), then the rest of the function.
    use proc_macro2::{Delimiter, Group, TokenTree};
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let mut attrs_end = 0;
    while let [TokenTree::Punct(hash), TokenTree::Group(group), ..] = &tokens[attrs_end..] {
        if hash.as_char() != '#' || group.delimiter() != Delimiter::Bracket {
            break;
        }
        attrs_end += 2;
    }
    let mut out: Vec<TokenTree> = tokens.clone();
    let found = (0..attrs_end).step_by(2).find_map(|i| {
        let TokenTree::Group(group) = &tokens[i + 1] else {
            return None;
        };
        let attr: syn::Meta = syn::parse2(group.stream()).ok()?;
        is_pipeline(attr.path()).then_some((i + 1, attr))
    });
    match found {
        Some((at, syn::Meta::List(mut list))) => {
            list.tokens.extend(quote!(#entry #krate_entry));
            let path = match &krate {
                Some(krate) => finisher_path(krate),
                None => {
                    let path = &list.path;
                    quote!(#path)
                }
            };
            let inner = &list.tokens;
            let TokenTree::Group(old) = &tokens[at] else {
                unreachable!("found at a group")
            };
            let mut group = Group::new(Delimiter::Bracket, quote!(#path(#inner)));
            group.set_span(old.span());
            out[at] = TokenTree::Group(group);
        }
        _ => {
            let path = krate.as_ref().map_or_else(
                || quote_spanned!(Span::call_site()=> ::resilience::__private::__pipeline),
                finisher_path,
            );
            let finisher = quote_spanned!(Span::call_site()=> #[#path(#entry #krate_entry)]);
            out.splice(attrs_end..attrs_end, finisher);
        }
    }
    out.into_iter().collect()
}

/// Takes `crate = "path"` out of an attribute's arguments.
fn take_crate(args: TokenStream) -> syn::Result<(TokenStream, Option<Path>)> {
    use proc_macro2::TokenTree;
    let tokens: Vec<TokenTree> = args.into_iter().collect();
    let mut parts: Vec<&[TokenTree]> = tokens
        .split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ','))
        .collect();
    let mut krate = None;
    let mut found = None;
    for (i, part) in parts.iter().enumerate() {
        let [TokenTree::Ident(key), TokenTree::Punct(eq), value @ ..] = part else {
            continue;
        };
        if key == "crate" && eq.as_char() == '=' {
            let value: TokenStream = value.iter().cloned().collect();
            let literal: syn::LitStr = syn::parse2(value.clone()).map_err(|_| {
                syn::Error::new_spanned(
                    &value,
                    "expected the path of the `resilience` crate as a string, like `crate = \"my_facade::resilience\"`",
                )
            })?;
            let path: Path = literal.parse().map_err(|_| {
                syn::Error::new(
                    literal.span(),
                    format!("`{}` is not a path to a crate or module", literal.value()),
                )
            })?;
            krate = Some(path);
            found = Some(i);
        }
    }
    if let Some(i) = found {
        parts.remove(i);
    }
    let mut out = TokenStream::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.extend(quote!(,));
        }
        out.extend(part.iter().cloned());
    }
    Ok((out, krate))
}

/// The finishing attribute: the pipeline of every attribute of ours on the function, from the
/// entries they left, `kind(arguments)` in the order written, and `crate(path)`.
pub fn pipeline(entries: TokenStream, item: TokenStream) -> TokenStream {
    use proc_macro2::TokenTree;
    let item: ItemFn = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(e) => return e.into_compile_error(),
    };
    let mut present: Vec<(Kind, Span, TokenStream)> = Vec::new();
    let mut krate: Option<TokenStream> = None;
    let mut errors = Errors::default();
    let mut tokens = entries.into_iter();
    while let (Some(TokenTree::Ident(name)), Some(TokenTree::Group(group))) =
        (tokens.next(), tokens.next())
    {
        if name == "crate" {
            krate.get_or_insert(group.stream());
            continue;
        }
        let Some(kind) = Kind::ALL.into_iter().find(|k| name == k.name()) else {
            continue;
        };
        if present.iter().any(|(k, ..)| *k == kind) {
            errors.at(
                name.span(),
                format!(
                    "#[{}] is applied twice to `{}`; keep one",
                    kind.name(),
                    item.sig.ident
                ),
            );
            continue;
        }
        present.push((kind, name.span(), group.stream()));
    }
    let krate = krate.unwrap_or_else(|| quote!(::resilience));
    match build(&krate, present, &item, errors) {
        Ok(tokens) => tokens,
        Err(e) => {
            // The function as written (without our attributes) beside the errors: one mistake,
            // one message, and the rest of the crate still type-checks.
            let error = e.into_compile_error();
            quote! { #error #item }
        }
    }
}

fn build(
    krate: &TokenStream,
    present: Vec<(Kind, Span, TokenStream)>,
    item: &ItemFn,
    mut errors: Errors,
) -> syn::Result<TokenStream> {
    let Some(&(first, ..)) = present.first() else {
        return Ok(quote!(#item));
    };
    let mut breaker = None;
    let mut retry = None;
    let mut fallback = None;
    for (kind, at, tokens) in present {
        match kind {
            Kind::CircuitBreaker => {
                let b = args::breaker(tokens, &mut errors)?;
                if b.name.is_none() {
                    default_name_check(&item.sig.ident, &mut errors);
                }
                breaker = Some(b);
            }
            Kind::Retry => retry = Some(args::retry(tokens, &mut errors)?),
            Kind::Fallback => {
                fallback = Some(args::fallback(tokens, &item.sig.ident, at, &mut errors)?)
            }
        }
    }
    let present = item::Present {
        first,
        retry: retry.is_some(),
        fallback: fallback.is_some(),
    };
    // A method of an `#[async_trait]` impl has been rewritten to a `fn` returning the boxed
    // future of an `async move` block: the pipeline guards that block.
    let async_trait = async_trait_body(item);
    let (item, output) = match &async_trait {
        Some(inner) => (&inner.item, Some(&inner.output)),
        None => (item, None),
    };
    let function = item::check(item, present, output, &mut errors);
    errors.into_result()?;
    let function = function.expect("`check` reports every shape it returns `None` for");
    Ok(expand(
        krate,
        item,
        &function,
        breaker.as_ref(),
        retry.as_ref(),
        fallback.as_ref(),
        async_trait.as_ref().map(|inner| &inner.boxed),
    ))
}

/// What `#[async_trait]` made of an `async fn`.
struct AsyncTrait {
    /// The function with the `async move` block's body as its own.
    item: ItemFn,
    /// `T` in `Pin<Box<dyn Future<Output = T> + ..>>`.
    output: syn::Type,
    /// The path that boxes the future, `Box::pin`.
    boxed: TokenStream,
}

/// Recognises a method that `#[async_trait]` rewrote: a `fn` returning
/// `Pin<Box<dyn Future<Output = T> + ..>>` whose body is `Box::pin(async move { .. })`.
fn async_trait_body(item: &ItemFn) -> Option<AsyncTrait> {
    if item.sig.asyncness.is_some() {
        return None;
    }
    let syn::ReturnType::Type(_, ty) = &item.sig.output else {
        return None;
    };
    let output = item::future_output(ty)?.clone();
    let [syn::Stmt::Expr(syn::Expr::Call(call), None)] = item.block.stmts.as_slice() else {
        return None;
    };
    let syn::Expr::Path(func) = &*call.func else {
        return None;
    };
    let names: Vec<String> = func
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    if !names.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
        return None;
    }
    let syn::Expr::Async(future) = &call.args[0] else {
        return None;
    };
    future.capture?;
    let mut inner = item.clone();
    inner.block = Box::new(future.block.clone());
    // The body's `self`, renamed `__self`, is bound from `self` by the block's first
    // statements: each run binds its own reborrow (or clone of an `Arc`).
    let receiver = item.sig.inputs.iter().find_map(|input| match input {
        syn::FnArg::Receiver(r) => Some(r),
        syn::FnArg::Typed(_) => None,
    });
    if let Some(receiver) = receiver {
        let this = receiver.self_token;
        let rebound: Option<syn::Expr> = match &receiver.kind {
            syn::ReceiverKind::Reference(_, _, Some(_)) => Some(syn::parse_quote!(&mut *#this)),
            syn::ReceiverKind::Typed(..) => {
                Some(syn::parse_quote!(::core::clone::Clone::clone(&#this)))
            }
            _ => None,
        };
        for stmt in &mut inner.block.stmts {
            if let (syn::Stmt::Local(local), Some(rebound)) = (stmt, &rebound) {
                let binds_self = matches!(&local.pat, syn::Pat::Ident(p) if p.ident == "__self");
                if let Some(init) = local.init.as_mut().filter(|_| binds_self) {
                    *init.expr = rebound.clone();
                }
            }
        }
    }
    let boxed = &func.path;
    Some(AsyncTrait {
        item: inner,
        output,
        boxed: quote!(#boxed),
    })
}

fn expand(
    krate: &TokenStream,
    item: &ItemFn,
    function: &Function,
    breaker: Option<&BreakerArgs>,
    retry: Option<&RetryArgs>,
    fallback: Option<&FallbackArgs>,
    boxed: Option<&TokenStream>,
) -> TokenStream {
    let ItemFn {
        attrs, vis, block, ..
    } = item;
    let reruns = retry.is_some() || fallback.is_some();
    let sig = signature(item, reruns);
    let ret = &function.ret;
    let fn_name = item.sig.ident.to_string();
    let rp = quote!(#krate::__private);
    // The error type, spanned where it is written when the return type spells it out.
    let err_span = function.err_span;
    let err_ty = match &function.err_ty {
        Some(written) => quote!(#written),
        None => quote_spanned!(err_span=> <#ret as #rp::ResultReturn>::Err),
    };

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

    // The conversions between the return type and the `Result` the pipeline works with, each
    // naming the return type: for a type that is not a `Result`, every use fails there with the
    // same message, which the compiler reports once.
    let to_result =
        |value: TokenStream| quote_spanned!(ret.span()=> #rp::to_result::<#ret, _, _>(#value));
    let from_result =
        |result: TokenStream| quote_spanned!(ret.span()=> #rp::from_result::<#ret, _, _>(#result));

    // Type rules, each checked once, at the return type (the error type where it is written).
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
    // not the function; in place when it has neither (a future less to poll, ~2 ns a call),
    // in a labeled block that a `break` or `continue` of the body cannot leave.
    let run_body = if may_exit_early(&quote!(#block)) {
        // A first, unreachable `return` at the return type gives the block its type before
        // the body's own `return`s are checked against it.
        let fake = local("__resilience_fake");
        let fake_return = quote_spanned!(ret.span()=> return #fake;);
        to_result(quote! {
            async {
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop)]
                if false {
                    let #fake: #ret = loop {};
                    #fake_return
                }
                let #ret_value: #ret = #block;
                #[allow(unreachable_code)]
                #ret_value
            }.await
        })
    } else {
        let label = syn::Lifetime {
            apostrophe: Span::mixed_site(),
            ident: local("__resilience_body"),
        };
        to_result(quote! {{
            let #ret_value: #ret = #label: #block;
            #[allow(unreachable_code)]
            #ret_value
        }})
    };
    let clones = if reruns {
        clones(&rp, function)
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
            let builder = retry_builder(krate, r, &fn_name);
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
            // The chain is a block that a serving tier leaves with its value.
            let chain = syn::Lifetime {
                apostrophe: Span::mixed_site(),
                ident: local("__resilience_chain"),
            };
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
                let call = tier_call(&rp, function, path, i == last);
                let output = quote_spanned! {path.span()=>
                    #rp::tier_output::<#ret, _, _, _>(#seen.watch(#call).await)
                };
                let allow = function
                    .args
                    .iter()
                    .find(|a| a.ident.to_string().starts_with('_'))
                    .map(|a| underscore_allow(&a.ident));
                quote! {
                    let #seen = #rp::Rejection::new();
                    #allow
                    match #output {
                        ::core::result::Result::Ok(#value) => {
                            #failures.served(#name, #position);
                            break #chain ::core::result::Result::Ok(#value);
                        }
                        ::core::result::Result::Err(#error) => {
                            #failures.tier_failed(#name, #error, &#seen)
                        }
                    }
                }
            });
            setup.extend(quote!(let #primary = #primary_expr;));
            quote! {
                match #primary {
                    ::core::result::Result::Ok(#value) => ::core::result::Result::Ok(#value),
                    ::core::result::Result::Err(#error) => #chain: {
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

    // The pipeline's `Result`, as the return type.
    let out = local("__out");
    let result = from_result(quote!(#out));
    let mut body = quote! {
        #(#checks)*
        #setup
        let #out = #result_expr;
        #result
    };
    if let Some(boxed) = boxed {
        // A method rewritten by `#[async_trait]`: the pipeline is the future it boxes.
        body = quote!(#boxed(async move { #body }));
    }
    // The body's braces are the user's: the function is the user's own item, linted as such
    // (a function never called is dead code).
    let mut body = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, body);
    body.set_span(item.block.brace_token.span.join());
    quote! {
        #(#attrs)*
        #vis #sig #body
    }
}

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

/// The signature as written, but for `mut` on the arguments that each run rebinds (the
/// rebound ones are the mutable ones, the originals are only read) and names for `_`.
fn signature(item: &ItemFn, reruns: bool) -> syn::Signature {
    let mut sig = item.sig.clone();
    let mut n = 0;
    for input in &mut sig.inputs {
        let syn::FnArg::Typed(typed) = input else {
            continue;
        };
        match &mut *typed.pat {
            syn::Pat::Ident(pat) if reruns => pat.mutability = None,
            syn::Pat::Wild(_) if reruns => {
                let ident = item::unnamed(n);
                *typed.pat = syn::parse_quote!(#ident);
            }
            _ => {}
        }
        n += 1;
    }
    sig
}

/// Each run's own arguments, shadowing the caller's: clones of the owned ones, copies or
/// reborrows of the mutable references, so that every run starts from the caller's values.
fn clones(rp: &TokenStream, function: &Function) -> TokenStream {
    function
        .args
        .iter()
        .filter(|a| a.named)
        .filter(|a| a.mutability.is_some() || matches!(a.passing, Passing::Owned | Passing::Unique))
        .map(|a| {
            let (attrs, ident, mutability) = (&a.attrs, &a.ident, &a.mutability);
            // The argument's own attributes: `#[cfg]` and lints hold for its copy too.
            let attrs = attrs.iter().map(|attr| quote!(#attr));
            let allow = underscore_allow(ident);
            // The user's own name, placed at the type: a type that is not `Clone` is reported
            // there.
            let at_type = at(ident, a.ty.span());
            match a.passing {
                Passing::Owned if a.generic => quote_spanned! {a.ty.span()=>
                    #(#attrs)* #allow
                    let #mutability #ident = ::core::clone::Clone::clone(&#at_type);
                },
                Passing::Owned => quote_spanned! {a.ty.span()=>
                    #(#attrs)* #allow
                    let #mutability #ident = #rp::clone_arg(&#at_type);
                },
                Passing::Unique => quote! {
                    #(#attrs)* #allow
                    let #mutability #ident = &mut *#ident;
                },
                Passing::Shared => quote! {
                    #(#attrs)* #allow
                    let #mutability #ident = #ident;
                },
            }
        })
        .collect()
}

/// `ident`, with its own hygiene (a `macro_rules!` that wrote it sees it), placed at `span`.
fn at(ident: &Ident, span: Span) -> Ident {
    let mut placed = ident.clone();
    placed.set_span(ident.span().located_at(span));
    placed
}

/// Allows clippy's `used_underscore_binding` where the generated code passes on an argument
/// named `_like_this`.
fn underscore_allow(ident: &Ident) -> TokenStream {
    if ident.to_string().starts_with('_') {
        quote!(#[allow(clippy::used_underscore_binding)])
    } else {
        TokenStream::new()
    }
}

/// The call of a fallback tier with the function's arguments: clones for all but the last
/// tier, which takes the originals. The calls carry the tier's span, so that a tier whose
/// parameters differ is reported at its name; the arguments are the user's own tokens.
fn tier_call(rp: &TokenStream, function: &Function, path: &Path, last: bool) -> TokenStream {
    let span = path.span();
    let args = function.args.iter().map(|a| {
        let ident = at(&a.ident, span);
        let attrs = a.attrs.iter().filter(|attr| attr.path().is_ident("cfg"));
        let value = match a.passing {
            Passing::Shared => quote!(#ident),
            Passing::Unique if last => quote!(#ident),
            Passing::Unique => quote_spanned!(span=> &mut *#ident),
            Passing::Owned if last => quote!(#ident),
            Passing::Owned => quote_spanned!(span=> #rp::clone_arg(&#ident)),
        };
        quote!(#(#attrs)* #value)
    });
    // The user's own `self`, placed at the tier.
    let this = match function.self_token {
        Some(token) => {
            let mut token = token;
            token.span = token.span.located_at(span);
            quote!(#token)
        }
        None => TokenStream::new(),
    };
    let this = match function.receiver {
        Receiver::Counted if !last => {
            quote_spanned!(span=> ::core::clone::Clone::clone(&#this))
        }
        _ => this,
    };
    match (function.receiver, path.get_ident()) {
        (Receiver::Reference | Receiver::Counted, Some(method)) => {
            quote_spanned!(span=> #this.#method(#(#args),*))
        }
        (Receiver::Reference | Receiver::Counted, None) => {
            quote_spanned!(span=> #path(#this, #(#args),*))
        }
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
        // The const evaluation that checks the module path is reported at the attribute.
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

/// A breaker without a `name` is named after its module and function: a function whose name
/// cannot be part of a breaker name (not ASCII) needs a name. The module path is checked where
/// it is known, in the const evaluation of the site.
fn default_name_check(function: &Ident, errors: &mut Errors) {
    let name = function.unraw().to_string();
    if !name.is_ascii() {
        errors.at(
            function.span(),
            format!(
                "`{name}` cannot be part of a breaker name, which may contain only ASCII letters, \
                 digits and `_` so that its environment variables CIRCUIT_BREAKER_<NAME>_<KEY> \
                 exist; name the breaker with `name = \"...\"`"
            ),
        );
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

fn retry_builder(krate: &TokenStream, r: &RetryArgs, fn_name: &str) -> TokenStream {
    // The function's name labels its retry events and counters.
    let mut calls = vec![quote!(.operation(#fn_name))];
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
    quote!(#krate::RetryPolicy::builder() #(#calls)*)
}

fn duration_call(method: &str, d: &Spanned<std::time::Duration>) -> TokenStream {
    let method = format_ident!("{method}");
    let (secs, nanos) = (d.value.as_secs(), d.value.subsec_nanos());
    quote!(.#method(::core::time::Duration::new(#secs, #nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::Meta;

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
        // As the compiler does: each attribute in turn expands with its arguments and the
        // function (holding the attributes after it), then the finisher they leave.
        let mut item = quote!(#method);
        loop {
            let mut method: syn::ImplItemFn = syn::parse2(item.clone()).unwrap();
            let ours = |a: &syn::Attribute| {
                Kind::ALL.into_iter().any(|k| a.path().is_ident(k.name())) || is_pipeline(a.path())
            };
            let Some(at) = method.attrs.iter().position(ours) else {
                break;
            };
            let attr = method.attrs.remove(at);
            let kind = Kind::ALL
                .into_iter()
                .find(|k| attr.path().is_ident(k.name()));
            let args = match attr.meta {
                Meta::List(list) => list.tokens,
                _ => TokenStream::new(),
            };
            item = match kind {
                Some(kind) => attribute(kind, args, quote!(#method)),
                None => pipeline(args, quote!(#method)),
            };
        }
        block.items[0] = syn::parse2(item).unwrap();
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
