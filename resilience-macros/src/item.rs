//! The guarded function: its shape, checked, and what expansion needs to know of it.

use syn::spanned::Spanned as _;
use syn::{FnArg, Ident, ItemFn, Pat, PatIdent, ReceiverKind, ReturnType, Token, Type};

use crate::args::{Errors, Kind};

/// How an argument is passed to each run of the body and to the fallback tiers.
pub enum Passing {
    /// `&T`: copied.
    Shared,
    /// `&mut T`: reborrowed.
    Unique,
    /// Anything else: cloned for each run but the last.
    Owned,
}

pub struct Arg {
    pub mutability: Option<Token![mut]>,
    pub ident: Ident,
    pub ty: Type,
    pub passing: Passing,
}

/// The receiver, when the function is a method.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    None,
    /// `&self` or `&mut self`.
    Reference,
}

pub struct Function {
    pub receiver: Receiver,
    pub args: Vec<Arg>,
    pub ret: Box<Type>,
}

/// Checks the function's shape for the attributes present: `first` is the attribute that
/// expands (named in messages), `reruns` whether the body may run more than once or the
/// arguments must outlive it (`#[retry]`, `#[fallback]`).
pub fn check(item: &ItemFn, first: Kind, reruns: bool, errors: &mut Errors) -> Option<Function> {
    let sig = &item.sig;
    let attr = first.name();
    if let Some(constness) = &sig.constness {
        errors.at(
            constness.span,
            format!(
                "#[{attr}] cannot guard a `const fn`: remove `const` and make it an `async fn`"
            ),
        );
    } else if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            format!("#[{attr}] requires an `async fn`: the call it guards must be awaited"),
        );
    }
    let ret = match &sig.output {
        ReturnType::Type(_, ty) => Some(ty.clone()),
        ReturnType::Default => {
            errors.at(
                sig.paren_token.span.close(),
                format!(
                    "#[{attr}] requires the function to return `Result<T, E>`; `{}` returns `()`",
                    sig.ident
                ),
            );
            None
        }
    };

    let mut receiver = Receiver::None;
    let mut args = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => match r.kind {
                ReceiverKind::Reference(..) => receiver = Receiver::Reference,
                _ if reruns => errors.at(
                    r.self_token.span,
                    format!(
                        "#[{attr}] may run the body more than once, so the method cannot take \
                         `self` by value; take `&self` or `&mut self`"
                    ),
                ),
                _ => {}
            },
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(PatIdent {
                    by_ref: None,
                    mutability,
                    ident,
                    subpat: None,
                    ..
                }) => args.push(Arg {
                    mutability: *mutability,
                    ident: ident.clone(),
                    ty: (*typed.ty).clone(),
                    passing: match &*typed.ty {
                        Type::Reference(r) if r.mutability.is_some() => Passing::Unique,
                        Type::Reference(_) => Passing::Shared,
                        _ => Passing::Owned,
                    },
                }),
                other if reruns => errors.at(
                    other.span(),
                    format!(
                        "#[{attr}] passes each argument to more than one run, so it needs a plain \
                         name here; destructure it inside the body"
                    ),
                ),
                _ => {}
            },
        }
    }
    Some(Function {
        receiver,
        args,
        ret: ret?,
    })
}
