//! Code generation: one pipeline,
//! `fallback(retry(circuit_breaker(rate_limit(bulkhead(timeout(body))))))`, whatever the order
//! the attributes were written in.
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
//! [`build`] and [`expand`], at its place in the fixed order: `pipeline` composes the layers,
//! each written in a file of its own (`breaker`, `retry`, `fallback`, `limits`), around the
//! body (`body`).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Ident, ItemFn, Path};

use crate::args::{self, Errors, Kind};
use crate::item;

mod async_trait;
mod body;
mod breaker;
mod fallback;
mod limits;
mod pipeline;
mod retry;
#[cfg(test)]
mod tests;

use async_trait::async_trait_body;
use breaker::default_name_check;
use limits::Limits;
use pipeline::{Layers, expand};

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
    let mut layers = Layers {
        breaker: None,
        retry: None,
        fallback: None,
        limits: Limits::default(),
    };
    // The first named layer without a name, for the one message about a default name.
    let mut unnamed = None;
    for (kind, at, tokens) in present {
        match kind {
            Kind::CircuitBreaker => {
                let b = args::breaker(tokens, &mut errors)?;
                if b.name.is_none() {
                    unnamed.get_or_insert(("breaker", "CIRCUIT_BREAKER_<NAME>_<KEY>"));
                }
                layers.breaker = Some(b);
            }
            Kind::Retry => layers.retry = Some(args::retry(tokens, &mut errors)?),
            Kind::Fallback => {
                layers.fallback = Some(args::fallback(tokens, &item.sig.ident, at, &mut errors)?)
            }
            Kind::Timeout => layers.limits.timeout = args::timeout(tokens, at, &mut errors)?,
            Kind::Bulkhead => {
                let b = args::bulkhead(tokens, &mut errors)?;
                if b.name.is_none() {
                    unnamed.get_or_insert(("bulkhead", "BULKHEAD_<NAME>_<KEY>"));
                }
                layers.limits.bulkhead = Some(b);
            }
            Kind::RateLimit => {
                let r = args::rate_limit(tokens, at, &mut errors)?;
                if r.as_ref().is_some_and(|r| r.name.is_none()) {
                    unnamed.get_or_insert(("rate limiter", "RATE_LIMIT_<NAME>_<KEY>"));
                }
                layers.limits.rate_limit = r;
            }
        }
    }
    if let Some(noun) = unnamed {
        default_name_check(&item.sig.ident, noun, &mut errors);
    }
    let present = item::Present {
        first,
        retry: layers.retry.is_some(),
        fallback: layers.fallback.is_some(),
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
        &layers,
        async_trait.as_ref().map(|inner| &inner.boxed),
    ))
}
