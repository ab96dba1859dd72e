//! Code generation: one pipeline, `fallback(retry(circuit_breaker(body)))`, whatever the
//! order the attributes were written in.
//!
//! The body stays in the function, in an `async` block of its own (so `return` and `?` keep
//! their meaning) that is awaited in place on each run: borrows of `self` and of the arguments
//! work as written, and the function's future is `Send` whenever the body's is. Owned arguments
//! are cloned for each run that must leave them for another.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Attribute, Ident, ItemFn, Meta, Path};

use crate::args::{self, BreakerArgs, Errors, FallbackArgs, Kind, RetryArgs, Spanned};
use crate::item::{self, Function, Passing, Receiver};

/// The entry point of the three attributes.
pub fn attribute(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
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
    let mut present = vec![(kind, args, Span::call_site())];
    let mut errors = Errors::default();
    let mut kept: Vec<Attribute> = Vec::new();
    for attr in std::mem::take(&mut item.attrs) {
        let Some(sibling) = Kind::of_path(attr.path()) else {
            kept.push(attr);
            continue;
        };
        let tokens = match &attr.meta {
            Meta::Path(_) => TokenStream::new(),
            Meta::List(list) => list.tokens.clone(),
            Meta::NameValue(nv) => {
                errors.at(
                    nv.eq_token.span,
                    format!(
                        "write #[{}(...)], not #[{} = ...]",
                        sibling.name(),
                        sibling.name()
                    ),
                );
                continue;
            }
        };
        if present.iter().any(|(k, _, _)| *k == sibling) {
            errors.at(
                attr.path().span(),
                format!(
                    "#[{}] is applied twice to `{}`; keep one",
                    sibling.name(),
                    item.sig.ident
                ),
            );
            continue;
        }
        present.push((sibling, tokens, attr.path().span()));
    }
    item.attrs = kept;

    match pipeline(kind, present, &item, errors) {
        Ok(tokens) => tokens,
        Err(e) => {
            // The function as written (without our attributes) beside the errors: one mistake,
            // one message, and the rest of the crate still type-checks.
            let error = e.into_compile_error();
            quote! { #error #item }
        }
    }
}

fn pipeline(
    first: Kind,
    present: Vec<(Kind, TokenStream, Span)>,
    item: &ItemFn,
    mut errors: Errors,
) -> syn::Result<TokenStream> {
    let mut breaker = None;
    let mut retry = None;
    let mut fallback = None;
    for (kind, tokens, _) in present {
        match kind {
            Kind::CircuitBreaker => breaker = Some(args::breaker(tokens, &mut errors)?),
            Kind::Retry => retry = Some(args::retry(tokens, &mut errors)?),
            Kind::Fallback => {
                fallback = Some(args::fallback(tokens, &item.sig.ident, &mut errors)?)
            }
        }
    }
    let reruns = retry.is_some() || fallback.is_some();
    let function = item::check(item, first, reruns, &mut errors);
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
        attrs,
        vis,
        sig,
        block,
        ..
    } = item;
    let ret = &function.ret;
    let ret_span = ret.span();
    let fn_name = sig.ident.to_string();
    let rp = quote!(::resilience::__private);
    let err_ty = quote_spanned!(ret_span=> <#ret as #rp::ResultReturn>::Err);

    // Type rules, checked at the return type.
    let mut checks = vec![quote_spanned!(ret_span=> #rp::assert_result::<#ret>();)];
    if breaker.is_some() || fallback.is_some() {
        checks.push(quote_spanned!(ret_span=> #rp::assert_from_error::<#err_ty>();));
    }
    if retry.is_some() {
        checks.push(quote_spanned!(ret_span=> #rp::assert_loggable::<#err_ty>();));
    }
    if fallback.is_some() {
        checks.push(quote_spanned!(ret_span=> #rp::assert_tier_error::<#err_ty>();));
    }

    // Locals of the generated code, invisible to the body (mixed-site hygiene).
    let local = |name: &str| Ident::new(name, Span::mixed_site());
    let permit_ = local("__permit");
    let result_ = local("__result");
    let open_ = local("__open");
    let run_ = local("__run");
    let value_ = local("__value");
    let error_ = local("__error");
    let verdict_ = local("__verdict");
    let wait_ = local("__wait");
    let gave_up_ = local("__gave_up");
    let failures_ = local("__failures");
    let e_ = local("__e");
    let attempt_ = local("__attempt");
    let primary_ = local("__primary");

    // One run of the body.
    let ret_value = local("__resilience_ret");
    let run_body = quote! {
        #rp::ResultReturn::into_result(async {
            let #ret_value: #ret = #block;
            #[allow(unreachable_code)]
            #ret_value
        }.await)
    };
    let clones = if retry.is_some() || fallback.is_some() {
        clones(function)
    } else {
        TokenStream::new()
    };

    // circuit_breaker(body): a `Result<T, CallError<E>>` with a breaker, `Result<T, E>` without.
    let mut setup = TokenStream::new();
    let attempt = match breaker {
        Some(b) => {
            let cell = local("__RESILIENCE_BREAKER");
            let handle = local("__resilience_breaker");
            let builder = breaker_builder(b, &fn_name);
            setup.extend(quote! {
                static #cell: #rp::BreakerCell = #rp::BreakerCell::new();
                let #handle = #cell.get_or_init(|| #builder);
            });
            let is_failure = match &b.failure_if {
                Some(path) => quote_spanned!(path.span()=> #rp::Predicate::test(&#path, #e_)),
                None => quote!(true),
            };
            quote! {
                match #handle.try_acquire() {
                    ::core::result::Result::Ok(#permit_) => {
                        #clones
                        let #result_ = #run_body;
                        #permit_.record_with(&#result_, |#e_| #is_failure);
                        #result_.map_err(#rp::CallError::Failed)
                    }
                    ::core::result::Result::Err(#open_) => {
                        ::core::result::Result::Err(#rp::CallError::Rejected(#open_))
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
    let primary = match retry {
        Some(r) => {
            let cell = local("__RESILIENCE_RETRY");
            let builder = retry_builder(r);
            let retry_if = match &r.retry_if {
                Some(path) => quote_spanned!(path.span()=> #rp::Predicate::test(&#path, #e_)),
                None => quote!(true),
            };
            let verdict = if breaker.is_some() {
                quote!(#rp::verdict_call(&#error_, |#e_| #retry_if))
            } else {
                quote!(#rp::verdict(&#error_, |#e_| #retry_if))
            };
            quote! {{
                static #cell: #rp::RetryCell = #rp::RetryCell::new();
                let mut #run_ = #cell.get_or_init(|| #builder).start();
                loop {
                    let #attempt_ = #attempt;
                    match #attempt_ {
                        ::core::result::Result::Ok(#value_) => break ::core::result::Result::Ok(#value_),
                        ::core::result::Result::Err(#error_) => {
                            let #verdict_ = #verdict;
                            match #run_.after_failure(#error_, #verdict_) {
                                ::core::result::Result::Ok(#wait_) => #rp::sleep(#wait_).await,
                                ::core::result::Result::Err(#gave_up_) => {
                                    break ::core::result::Result::Err(#gave_up_.into_last_error());
                                }
                            }
                        }
                    }
                }
            }}
        }
        None => attempt,
    };

    // fallback(...): the function's own result type.
    let result = match fallback {
        Some(f) => {
            let primary_tier = breaker
                .and_then(|b| b.name.as_ref().map(|n| n.value.clone()))
                .unwrap_or_else(|| fn_name.clone());
            let record_primary = if breaker.is_some() {
                quote!(#failures_.primary(#primary_tier, #error_);)
            } else {
                quote!(#failures_.failed(#primary_tier, #error_);)
            };
            let last = f.tiers.len().saturating_sub(1);
            let tiers = f.tiers.iter().enumerate().map(|(i, path)| {
                let name = args::path_string(path);
                let position = i + 1;
                let call = tier_call(function, path, i == last);
                quote_spanned! {path.span()=>
                    match #rp::tier::<#ret, _>(#call).await {
                        ::core::result::Result::Ok(#value_) => {
                            #failures_.served(#name, #position);
                            return ::core::result::Result::Ok(#value_);
                        }
                        ::core::result::Result::Err(#error_) => #failures_.failed(#name, #error_),
                    }
                }
            });
            quote! {
                let #primary_ = #primary;
                match #primary_ {
                    ::core::result::Result::Ok(#value_) => ::core::result::Result::Ok(#value_),
                    ::core::result::Result::Err(#error_) => {
                        let mut #failures_ = #rp::Failures::new(#fn_name);
                        #record_primary
                        #(#tiers)*
                        ::core::result::Result::Err(#failures_.into_error())
                    }
                }
            }
        }
        None if breaker.is_some() => quote!((#primary).map_err(#rp::into_error)),
        None => primary,
    };

    quote! {
        #(#attrs)*
        #vis #sig {
            #(#checks)*
            #setup
            #result
        }
    }
}

/// Clones of the owned arguments for one run, shadowing them (each clone checked at the
/// argument's type).
fn clones(function: &Function) -> TokenStream {
    function
        .args
        .iter()
        .filter(|a| matches!(a.passing, Passing::Owned))
        .map(|a| {
            let (ident, ty, mutability) = (&a.ident, &a.ty, &a.mutability);
            quote_spanned! {ty.span()=>
                let #mutability #ident = ::resilience::__private::clone_arg(&#ident);
            }
        })
        .collect()
}

/// The call of a fallback tier with the function's arguments: clones for all but the last
/// tier, which takes the originals.
fn tier_call(function: &Function, path: &Path, last: bool) -> TokenStream {
    let args = function.args.iter().map(|a| {
        let (ident, ty) = (&a.ident, &a.ty);
        match a.passing {
            Passing::Shared => quote!(#ident),
            Passing::Unique if last => quote!(#ident),
            Passing::Unique => quote!(&mut *#ident),
            Passing::Owned if last => quote!(#ident),
            Passing::Owned => quote_spanned! {ty.span()=>
                ::resilience::__private::clone_arg(&#ident)
            },
        }
    });
    match (function.receiver, path.get_ident()) {
        (Receiver::Reference, Some(method)) => {
            quote_spanned!(path.span()=> self.#method(#(#args),*))
        }
        (Receiver::Reference, None) => quote_spanned!(path.span()=> #path(self, #(#args),*)),
        (Receiver::None, _) => quote_spanned!(path.span()=> #path(#(#args),*)),
    }
}

fn breaker_builder(b: &BreakerArgs, fn_name: &str) -> TokenStream {
    let name = b.name.as_ref().map_or(fn_name, |n| &n.value);
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
    quote!(::resilience::CircuitBreaker::builder(#name) #(#calls)*)
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
