//! One run of the body: its arguments, and whether it may leave early.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Ident, ItemFn};

use crate::item::{self, Function, Passing};

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
pub(super) fn may_exit_early(body: &TokenStream) -> bool {
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
pub(super) fn signature(item: &ItemFn, reruns: bool) -> syn::Signature {
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
pub(super) fn clones(rp: &TokenStream, function: &Function) -> TokenStream {
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
pub(super) fn at(ident: &Ident, span: Span) -> Ident {
    let mut placed = ident.clone();
    placed.set_span(ident.span().located_at(span));
    placed
}

/// Allows clippy's `used_underscore_binding` where the generated code passes on an argument
/// named `_like_this`.
pub(super) fn underscore_allow(ident: &Ident) -> TokenStream {
    if ident.to_string().starts_with('_') {
        quote!(#[allow(clippy::used_underscore_binding)])
    } else {
        TokenStream::new()
    }
}
