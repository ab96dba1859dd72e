//! The whole pipeline,
//! `fallback(retry(circuit_breaker(rate_limit(bulkhead(timeout(body))))))`, each layer around
//! the next.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Ident, ItemFn, Path};

use super::body::{clones, may_exit_early, signature, underscore_allow};
use super::breaker::breaker_site;
use super::fallback::tier_call;
use super::limits::{self, Limits};
use super::retry::retry_builder;
use crate::args::{self, BreakerArgs, FallbackArgs, RetryArgs};
use crate::item::Function;

/// The layers written on the function.
pub(super) struct Layers {
    pub breaker: Option<BreakerArgs>,
    pub retry: Option<RetryArgs>,
    pub fallback: Option<FallbackArgs>,
    pub limits: Limits,
}

pub(super) fn expand(
    krate: &TokenStream,
    item: &ItemFn,
    function: &Function,
    layers: &Layers,
    boxed: Option<&TokenStream>,
) -> TokenStream {
    let (breaker, retry, fallback) = (
        layers.breaker.as_ref(),
        layers.retry.as_ref(),
        layers.fallback.as_ref(),
    );
    let limits = &layers.limits;
    // Whether an attempt's error is a `Failure<E>` (it may be a rejection or a limit's), or
    // the body's own `E`.
    let guarded = breaker.is_some() || limits.any();
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
    let mut checks = Vec::new();
    if guarded || fallback.is_some() {
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

    // rate_limit(bulkhead(timeout(body))): a `Result<T, Failure<E>>` with a limit.
    let mut setup = TokenStream::new();
    let limited = if limits.any() {
        setup.extend(limits::sites(limits, &item.sig.ident, &rp));
        Some(limits::layers(limits, run_body.clone(), &rp))
    } else {
        None
    };

    // circuit_breaker(..): a `Result<T, Failure<E>>` with a breaker or a limit, `Result<T, E>`
    // without.
    let attempt_expr = match breaker {
        Some(b) => {
            setup.extend(breaker_site(b, &item.sig.ident, &breaker_handle, &rp));
            let is_failure = b.failure_if.as_ref().map_or(quote!(true), predicate);
            // The body's error is recorded as `failure_if` says; a limit's timeout as a
            // failure; a limit's refusal not at all (the permit is released unrecorded).
            // Through a breaker alone, the attempt fails with the smaller `CallError<E>`, so
            // that the call path moves no more than it needs.
            let rejected = match &limited {
                Some(_) => quote!(#rp::Failure::Rejected),
                None => quote!(#rp::CallError::Rejected),
            };
            let (attempt, record, failed) = match &limited {
                Some(limited) => (limited, quote!(#rp::record_attempt), quote!()),
                None => (
                    &run_body,
                    quote!(#rp::record),
                    quote!(.map_err(#rp::CallError::Failed)),
                ),
            };
            quote! {
                match #breaker_handle.try_acquire() {
                    ::core::result::Result::Ok(#permit) => {
                        #clones
                        let #result = #attempt;
                        #record(#permit, &#result, |#e| #is_failure);
                        #result #failed
                    }
                    ::core::result::Result::Err(#open) => {
                        #rp::note_rejected(#fn_name, &#open);
                        ::core::result::Result::Err(#rejected(#open))
                    }
                }
            }
        }
        None => {
            let attempt = limited.as_ref().unwrap_or(&run_body);
            quote! {{
                #clones
                #attempt
            }}
        }
    };

    // retry(...): the same type, after the retries.
    let primary_expr = match retry {
        Some(r) => {
            let builder = retry_builder(krate, r, &fn_name);
            let retry_if = r.retry_if.as_ref().map_or(quote!(true), predicate);
            // The verdict on the body's error: `retry_if`'s `bool`, or with `retry_after`, the
            // hint's wait when `retry_if` holds.
            let judge_error = match &r.retry_after {
                Some(path) => {
                    let hint = quote_spanned!(path.span()=> <_ as #rp::RetryAfterHint<#err_ty>>::hint(&#path, #e));
                    quote!(#rp::hinted(#retry_if, #hint))
                }
                None => retry_if,
            };
            let (shown, judge) = match (guarded, fallback) {
                // With tiers to fall back to, a refusal sends the call on at once.
                (true, Some(_)) => (
                    quote!(#show.call(#error)),
                    quote!(#rp::verdict_call_or_fall_back),
                ),
                (true, None) => (quote!(#show.call(#error)), quote!(#rp::verdict_call)),
                (false, _) => (quote!(#show.plain(#error)), quote!(#rp::verdict)),
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
                            let #verdict = #judge(&#error, |#e| #judge_error);
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
            let record_primary = if guarded {
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
        None if guarded => {
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
