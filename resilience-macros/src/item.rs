//! The guarded function: its shape, checked, and what expansion needs to know of it.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned as _;
use syn::{
    FnArg, GenericArgument, Ident, ItemFn, Pat, PatIdent, PathArguments, ReceiverKind, ReturnType,
    Token, Type,
};

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
    /// Where the error type is written: `E` in `Result<T, E>`, else the whole return type.
    pub err_span: Span,
}

/// The attributes on the function.
#[derive(Clone, Copy)]
pub struct Present {
    /// The one that expands, named in messages about the function as a whole.
    pub first: Kind,
    pub retry: bool,
    pub fallback: bool,
}

impl Present {
    /// Whether the body may run more than once, or the arguments must outlive it.
    pub fn reruns(self) -> bool {
        self.retry || self.fallback
    }

    /// Why the arguments must be passed more than once, for messages.
    fn why(self) -> &'static str {
        if self.retry {
            "#[retry] runs the body once per attempt"
        } else {
            "#[fallback] passes the arguments to the tiers after the function's own run"
        }
    }
}

/// Checks the function's shape for the attributes present.
pub fn check(item: &ItemFn, present: Present, errors: &mut Errors) -> Option<Function> {
    let sig = &item.sig;
    let attr = present.first.name();
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
        ReturnType::Type(_, ty) if is_not_a_result(ty) => {
            errors.push(syn::Error::new_spanned(
                ty,
                format!(
                    "#[{attr}] requires the function to return `Result<T, E>`; `{}` is not a `Result`",
                    ty.to_token_stream()
                ),
            ));
            None
        }
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
                _ if present.reruns() => errors.push(syn::Error::new_spanned(
                    r,
                    format!(
                        "{}, so the method cannot take `self` by value; take `&self` or `&mut self`",
                        present.why()
                    ),
                )),
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
                other if present.reruns() => errors.push(syn::Error::new_spanned(
                    other,
                    format!(
                        "{}, so each argument needs a plain name; destructure it inside the body",
                        present.why()
                    ),
                )),
                _ => {}
            },
        }
    }
    let ret = ret?;
    Some(Function {
        receiver,
        args,
        err_span: error_type(&ret).map_or_else(|| ret.span(), |e| e.span()),
        ret,
    })
}

/// `E` in `Result<T, E>` (or any `Path<T, E>`), when the return type spells it out.
fn error_type(ret: &Type) -> Option<&Type> {
    let Type::Path(path) = ret else { return None };
    let PathArguments::AngleBracketed(args) = &path.path.segments.last()?.arguments else {
        return None;
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    match types.as_slice() {
        [_, e] => Some(*e),
        _ => None,
    }
}

/// A return type that is certainly not a `Result`, whatever the type aliases in scope: a
/// tuple, reference, slice, array, `impl Trait`, or a well-known type of the standard library.
/// Anything else is left to the type checker.
fn is_not_a_result(ty: &Type) -> bool {
    const NOT_RESULTS: [&str; 24] = [
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        "f32", "f64", "bool", "char", "str", "String", "Option", "Vec", "Box", "Arc", "Rc",
        "HashMap",
    ];
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| NOT_RESULTS.contains(&s.ident.to_string().as_str())),
        Type::Paren(p) => is_not_a_result(&p.elem),
        Type::Group(g) => is_not_a_result(&g.elem),
        Type::Macro(_) | Type::Verbatim(_) | Type::Infer(_) => false,
        _ => true,
    }
}
