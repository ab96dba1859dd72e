//! The limits' layers, inside the breaker: `rate_limit(bulkhead(timeout(body)))`.
//!
//! Each layer turns the attempt into a `Result<T, Failure<E>>`: the body's own error, or the
//! limit's (a timeout, a refusal), which the breaker's layer tells apart.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::breaker::site_constructor;
use super::retry::duration_call;
use crate::args::{BulkheadArgs, RateLimitArgs, TimeoutArgs};

/// The limits written on the function.
#[derive(Default)]
pub(crate) struct Limits {
    pub timeout: Option<TimeoutArgs>,
    pub bulkhead: Option<BulkheadArgs>,
    pub rate_limit: Option<RateLimitArgs>,
}

impl Limits {
    pub fn any(&self) -> bool {
        self.timeout.is_some() || self.bulkhead.is_some() || self.rate_limit.is_some()
    }
}

/// `let __bulkhead = ..; let __limiter = ..;`: the call site's bulkhead and rate limiter, each
/// declared in a `static` that is both its entry in the list the linker gathers (the registry
/// knows it from the start) and the call site's cache (one atomic load a call).
pub(super) fn sites(limits: &Limits, function: &Ident, rp: &TokenStream) -> TokenStream {
    let site = Ident::new("__SITE", Span::mixed_site());
    let mut out = TokenStream::new();
    if let Some(b) = &limits.bulkhead {
        let new = site_constructor(rp, "BulkheadSite", b.name.as_ref(), function, quote!());
        let max_concurrent = b.max_concurrent.as_ref().map(|n| {
            let n = n.value;
            quote!(.max_concurrent(#n))
        });
        let max_wait = b.max_wait.as_ref().map(|d| duration_call("max_wait", d));
        let handle = Ident::new("__bulkhead", Span::mixed_site());
        out.extend(quote! {
            let #handle = {
                static #site: #rp::BulkheadSite = #new #max_concurrent #max_wait;
                #rp::submit!(bulkhead #site);
                #site.bulkhead()
            };
        });
    }
    if let Some(r) = &limits.rate_limit {
        let (rate, secs, nanos) = (
            r.rate.value,
            r.per.value.as_secs(),
            r.per.value.subsec_nanos(),
        );
        let args = quote!(, #rate, ::core::time::Duration::new(#secs, #nanos));
        let new = site_constructor(rp, "RateLimiterSite", r.name.as_ref(), function, args);
        let burst = r.burst.as_ref().map(|n| {
            let n = n.value;
            quote!(.burst(#n))
        });
        let max_wait = r.max_wait.as_ref().map(|d| duration_call("max_wait", d));
        let cost = r.cost.as_ref().map(|c| {
            let n = c.value;
            quote!(.cost(#n))
        });
        let handle = Ident::new("__limiter", Span::mixed_site());
        out.extend(quote! {
            let #handle = {
                static #site: #rp::RateLimiterSite = #new #burst #max_wait #cost;
                #rp::submit!(rate_limit #site);
                #site.limiter()
            };
        });
    }
    out
}

/// `rate_limit(bulkhead(timeout(body)))` for one run of the body, `run_body` (a
/// `Result<T, E>` expression, which may await).
pub(super) fn layers(limits: &Limits, run_body: TokenStream, rp: &TokenStream) -> TokenStream {
    let local = |name: &str| Ident::new(name, Span::mixed_site());
    let ok = quote!(::core::result::Result::Ok);
    let err = quote!(::core::result::Result::Err);
    // timeout(body): the attempt's future is dropped when the time is up.
    let mut attempt = match &limits.timeout {
        Some(t) => {
            let (secs, nanos) = (t.after.value.as_secs(), t.after.value.subsec_nanos());
            quote! {
                #rp::time_limited(
                    ::core::time::Duration::new(#secs, #nanos),
                    async { #run_body },
                ).await
            }
        }
        None => quote!((#run_body).map_err(#rp::Failure::Failed)),
    };
    // bulkhead(..): the slot is held across the attempt, and freed when it ends or is dropped.
    if limits.bulkhead.is_some() {
        let (handle, slot, result, full) = (
            local("__bulkhead"),
            local("__slot"),
            local("__limited"),
            local("__full"),
        );
        // Under a rate limit, the call starts once it has its slot: its tokens are spent then,
        // and go back if the slot is refused or the call is dropped while it waits for one.
        let spend = limits.rate_limit.as_ref().map(|_| {
            let tokens = local("__tokens");
            quote!(#tokens.spend();)
        });
        attempt = quote! {
            match #handle.acquire().await {
                #ok(#slot) => {
                    #spend
                    let #result = #attempt;
                    ::core::mem::drop(#slot);
                    #result
                }
                #err(#full) => #err(#rp::bulkhead_full(#full)),
            }
        };
    }
    // rate_limit(..): the tokens are taken before the slot, waiting up to `max_wait`; under a
    // bulkhead, as a guard that the slot's arm spends.
    if let Some(r) = &limits.rate_limit {
        let (handle, refused) = (local("__limiter"), local("__refused"));
        let cost = r.cost.as_ref().map_or(1, |c| c.value);
        attempt = if limits.bulkhead.is_some() {
            let tokens = local("__tokens");
            quote! {
                match #handle.take_n(#cost).await {
                    #ok(#tokens) => #attempt,
                    #err(#refused) => #err(#rp::rate_limited(#refused)),
                }
            }
        } else {
            quote! {
                match #handle.acquire_n(#cost).await {
                    #ok(()) => #attempt,
                    #err(#refused) => #err(#rp::rate_limited(#refused)),
                }
            }
        };
    }
    attempt
}
