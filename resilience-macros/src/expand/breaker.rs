//! The breaker layer: the call site's breaker.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

use super::retry::duration_call;
use crate::args::{BreakerArgs, BreakerName, Errors, Spanned};

/// `let handle = ..;`: the breaker of this call site, declared in a `static` that is both its
/// entry in the list of attribute breakers the linker gathers (so that the registry knows it from
/// the start) and the call site's cache (one atomic load a call). In a block of its own, out of
/// the body's sight.
pub(super) fn breaker_site(
    b: &BreakerArgs,
    function: &Ident,
    handle: &Ident,
    rp: &TokenStream,
) -> TokenStream {
    let site = Ident::new("__SITE", Span::mixed_site());
    let new = site_constructor(
        rp,
        "BreakerSite",
        b.name.as_ref(),
        function,
        TokenStream::new(),
    );
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

/// `<rp>::<Site>::named(name, args..)`, or `unnamed(default, args..)` where the default is the
/// module path and the function's name. The site records where it is written
/// (`#[track_caller]`): at the attribute, or at the constant that names it.
pub(super) fn site_constructor(
    rp: &TokenStream,
    site: &str,
    name: Option<&BreakerName>,
    function: &Ident,
    args: TokenStream,
) -> TokenStream {
    let site = Ident::new(site, Span::call_site());
    match name {
        Some(BreakerName::Literal(name)) => {
            let name = &name.value;
            quote!(#rp::#site::named(#name #args))
        }
        // A constant: its type and its value (a const evaluation) are checked where it is
        // written, so the whole call carries its span.
        Some(BreakerName::Const(path)) => {
            respan(quote!(#rp::#site::named(#path #args)), path.span())
        }
        // The default: the module path and the function's name, `billing::zoho::get_account`.
        // The const evaluation that checks the module path is reported at the attribute.
        None => {
            let suffix = format!("::{}", function.unraw());
            quote!(#rp::#site::unnamed(::core::concat!(::core::module_path!(), #suffix) #args))
        }
    }
}

/// A breaker (bulkhead, rate limiter) without a `name` is named after its module and function: a
/// function whose name cannot be part of such a name (not ASCII) needs a name. The module path is checked where
/// it is known, in the const evaluation of the site.
pub(super) fn default_name_check(
    function: &Ident,
    (what, variables): (&str, &str),
    errors: &mut Errors,
) {
    let name = function.unraw().to_string();
    if !name.is_ascii() {
        errors.at(
            function.span(),
            format!(
                "`{name}` cannot be part of a {what} name, which may contain only ASCII letters, \
                 digits and `_` so that its environment variables {variables} \
                 exist; name the {what} with `name = \"...\"`"
            ),
        );
    }
}

/// `tokens`, each with `span` (the tokens of groups too).
pub(super) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
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
