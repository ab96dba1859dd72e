//! The fallback layer: the calls of the tiers.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Path;
use syn::spanned::Spanned as _;

use super::body::at;
use crate::item::{Function, Passing, Receiver};

/// The call of a fallback tier with the function's arguments: clones for all but the last
/// tier, which takes the originals. The calls carry the tier's span, so that a tier whose
/// parameters differ is reported at its name; the arguments are the user's own tokens.
pub(super) fn tier_call(
    rp: &TokenStream,
    function: &Function,
    path: &Path,
    last: bool,
) -> TokenStream {
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
