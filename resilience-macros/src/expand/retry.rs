//! The retry layer: the call site's policy.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::args::{RetryArgs, Spanned};

pub(super) fn retry_builder(krate: &TokenStream, r: &RetryArgs, fn_name: &str) -> TokenStream {
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

pub(super) fn duration_call(method: &str, d: &Spanned<std::time::Duration>) -> TokenStream {
    let method = format_ident!("{method}");
    let (secs, nanos) = (d.value.as_secs(), d.value.subsec_nanos());
    quote!(.#method(::core::time::Duration::new(#secs, #nanos)))
}
