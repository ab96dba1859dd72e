//! Methods of an `#[async_trait]` impl: found under the boxed future it made of them.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::item;

/// What `#[async_trait]` made of an `async fn`.
pub(super) struct AsyncTrait {
    /// The function with the `async move` block's body as its own.
    pub(super) item: ItemFn,
    /// `T` in `Pin<Box<dyn Future<Output = T> + ..>>`.
    pub(super) output: syn::Type,
    /// The path that boxes the future, `Box::pin`.
    pub(super) boxed: TokenStream,
}

/// Recognises a method that `#[async_trait]` rewrote: a `fn` returning
/// `Pin<Box<dyn Future<Output = T> + ..>>` whose body is `Box::pin(async move { .. })`.
pub(super) fn async_trait_body(item: &ItemFn) -> Option<AsyncTrait> {
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
