//! The guarded function: its shape, checked, and what expansion needs to know of it.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned as _;
use syn::{
    Attribute, FnArg, GenericArgument, Ident, ItemFn, Pat, PatIdent, PathArguments, ReceiverKind,
    ReturnType, Token, Type,
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
    /// The argument's own attributes (`#[cfg(..)]`, lints), repeated wherever it is used.
    pub attrs: Vec<Attribute>,
    pub mutability: Option<Token![mut]>,
    /// The user's own token, or for `_` a name of the generated code the body cannot see.
    pub ident: Ident,
    /// Whether the body can see the argument (it is not `_`).
    pub named: bool,
    pub ty: Type,
    pub passing: Passing,
    /// A generic parameter or `impl Trait`: its bounds are the user's to complete.
    pub generic: bool,
}

/// The receiver, when the function is a method.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    None,
    /// `&self`, `&mut self`, `self: &Self`, `self: &mut Self`.
    Reference,
    /// `self: Arc<Self>` or `self: Rc<Self>`: shared by each run, cloned for each tier but the
    /// last.
    Counted,
}

pub struct Function {
    pub receiver: Receiver,
    /// The user's `self` token, when the function is a method.
    pub self_token: Option<Token![self]>,
    pub args: Vec<Arg>,
    pub ret: Box<Type>,
    /// Where the error type is written: `E` in `Result<T, E>`, else the whole return type.
    pub err_span: Span,
    /// `E` in `Result<T, E>`, when the return type spells it out (and the type checks it is the
    /// error type: `Result<T, E>` must be a `Result`).
    pub err_ty: Option<Type>,
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

/// The name given to the `n`th argument written `_`: out of the body's sight.
pub fn unnamed(n: usize) -> Ident {
    Ident::new(&format!("__arg{n}"), Span::mixed_site())
}

/// Checks the function's shape for the attributes present. `ret` is the return type when it
/// is not the signature's own (a method rewritten by `#[async_trait]`).
pub fn check(
    item: &ItemFn,
    present: Present,
    ret: Option<&Type>,
    errors: &mut Errors,
) -> Option<Function> {
    let sig = &item.sig;
    let attr = present.first.name();
    if let Some(constness) = &sig.constness {
        errors.at(
            constness.span,
            format!(
                "#[{attr}] cannot guard a `const fn`: remove `const` and make it an `async fn`"
            ),
        );
    } else if sig.asyncness.is_none() && ret.is_none() {
        let returns = match &sig.output {
            ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_)) => Returns::ImplFuture,
            ReturnType::Type(_, ty) if future_output(ty).is_some() => Returns::BoxedFuture,
            _ => Returns::Other,
        };
        let hint = match returns {
            Returns::ImplFuture => {
                "; write `async fn` returning the future's output instead of `impl Future`"
            }
            Returns::BoxedFuture => {
                "; in an `#[async_trait]` impl, write the method as an `async fn` and put the \
                 attribute on it, inside the impl"
            }
            Returns::Other => "",
        };
        errors.at(
            sig.fn_token.span,
            format!("#[{attr}] requires an `async fn`: the call it guards must be awaited{hint}"),
        );
        if returns != Returns::Other {
            // One message for one mistake: the return type is what `async` changes.
            return None;
        }
    }
    let written = match (ret, &sig.output) {
        (Some(ret), _) => Some(ret),
        (None, ReturnType::Type(_, ty)) => Some(&**ty),
        (None, ReturnType::Default) => None,
    };
    let ret = match written {
        Some(ty) if is_not_a_result(ty) => {
            errors.push(syn::Error::new_spanned(
                ty,
                format!(
                    "#[{attr}] requires the function to return `Result<T, E>`; `{}` is not a `Result`",
                    type_string(ty)
                ),
            ));
            None
        }
        Some(ty) => {
            if let Some(inner) = impl_trait_in(ty) {
                errors.push(syn::Error::new_spanned(
                    inner,
                    format!(
                        "#[{attr}] needs a type it can name for the function's result: \
                         `{}` cannot be used here; return a concrete type or a `Box<dyn ..>`",
                        type_string(inner)
                    ),
                ));
                None
            } else {
                Some(Box::new(ty.clone()))
            }
        }
        None => {
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

    let generics: Vec<String> = sig
        .generics
        .type_params()
        .map(|p| p.ident.to_string())
        .collect();
    let mut receiver = Receiver::None;
    let mut self_token = None;
    let mut args = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                self_token = Some(r.self_token);
                match receiver_of(r) {
                    Some(kind) => receiver = kind,
                    None if present.reruns() => errors.push(syn::Error::new_spanned(
                        r,
                        format!(
                            "{}, so the method cannot take {}; take `&self`, `&mut self` or \
                             `self: Arc<Self>`",
                            present.why(),
                            receiver_string(r)
                        ),
                    )),
                    None => {}
                }
            }
            FnArg::Typed(typed) => {
                let passing = match &*typed.ty {
                    Type::Reference(r) if r.mutability.is_some() => Passing::Unique,
                    Type::Reference(_) => Passing::Shared,
                    _ => Passing::Owned,
                };
                let generic = is_generic(&typed.ty, &generics);
                let attrs = typed.attrs.clone();
                let (ident, mutability, named) = match &*typed.pat {
                    Pat::Ident(PatIdent {
                        by_ref: None,
                        mutability,
                        ident,
                        subpat: None,
                        ..
                    }) => (ident.clone(), *mutability, true),
                    Pat::Wild(_) => (unnamed(args.len()), None, false),
                    other if present.reruns() => {
                        errors.push(syn::Error::new_spanned(
                            other,
                            format!(
                                "{}, so each argument needs a plain name; destructure it inside the body",
                                present.why()
                            ),
                        ));
                        continue;
                    }
                    _ => continue,
                };
                args.push(Arg {
                    attrs,
                    mutability,
                    ident,
                    named,
                    ty: (*typed.ty).clone(),
                    passing,
                    generic,
                });
            }
        }
    }
    let ret = ret?;
    let borrow = (present.retry && unique_self(sig))
        .then(|| reference_in(&ret))
        .flatten();
    if let Some(borrow) = borrow {
        errors.push(syn::Error::new_spanned(
            borrow,
            "#[retry] runs the body once per attempt, each with its own reborrow of `&mut self`, \
             so the result cannot borrow from it; return an owned value",
        ));
        return None;
    }
    Some(Function {
        receiver,
        self_token,
        args,
        err_span: error_type(&ret).map_or_else(|| ret.span(), |e| e.span()),
        err_ty: error_type(&ret).filter(|_| is_named_result(&ret)).cloned(),
        ret,
    })
}

/// What a function that is not `async` returns, for the message that asks for `async`.
#[derive(PartialEq, Eq)]
enum Returns {
    /// `impl Future<Output = ..>`.
    ImplFuture,
    /// `Pin<Box<dyn Future<Output = ..>>>`, as `#[async_trait]` writes.
    BoxedFuture,
    Other,
}

/// `T` in `Pin<Box<dyn Future<Output = T> + ..>>`.
pub fn future_output(ty: &Type) -> Option<&Type> {
    fn only_type_argument<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
        let Type::Path(path) = ty else { return None };
        let last = path.path.segments.last()?;
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        match (last.ident == name, args.args.first()) {
            (true, Some(GenericArgument::Type(t))) if args.args.len() == 1 => Some(t),
            _ => None,
        }
    }
    let boxed = only_type_argument(ty, "Pin")?;
    let Type::TraitObject(object) = only_type_argument(boxed, "Box")? else {
        return None;
    };
    object.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let last = bound.path.segments.last()?;
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        if last.ident != "Future" {
            return None;
        }
        args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            _ => None,
        })
    })
}

/// Whether the method takes `&mut self` (or `self: &mut Self`).
fn unique_self(sig: &syn::Signature) -> bool {
    sig.receiver().is_some_and(|r| match &r.kind {
        ReceiverKind::Reference(_, _, mutability) => mutability.is_some(),
        ReceiverKind::Typed(_, ty) => {
            matches!(&**ty, Type::Reference(reference) if reference.mutability.is_some())
        }
        _ => false,
    })
}

/// A reference anywhere in `ty`.
fn reference_in(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Reference(_) => Some(ty),
        Type::Paren(p) => reference_in(&p.elem),
        Type::Group(g) => reference_in(&g.elem),
        Type::Tuple(t) => t.elems.iter().find_map(reference_in),
        Type::Slice(s) => reference_in(&s.elem),
        Type::Array(a) => reference_in(&a.elem),
        Type::Path(path) => path.path.segments.iter().find_map(|s| match &s.arguments {
            PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                GenericArgument::Type(t) => reference_in(t),
                _ => None,
            }),
            _ => None,
        }),
        _ => None,
    }
}

/// The receivers each run can use: references, and `Arc<Self>` / `Rc<Self>` (cloned for
/// the tiers).
fn receiver_of(r: &syn::Receiver) -> Option<Receiver> {
    match &r.kind {
        ReceiverKind::Reference(..) => Some(Receiver::Reference),
        ReceiverKind::Typed(_, ty) => match &**ty {
            Type::Reference(reference) if is_self(&reference.elem) => Some(Receiver::Reference),
            Type::Path(path) if path.qself.is_none() => {
                let last = path.path.segments.last()?;
                let PathArguments::AngleBracketed(args) = &last.arguments else {
                    return None;
                };
                let counted = (last.ident == "Arc" || last.ident == "Rc")
                    && matches!(
                        args.args.first(),
                        Some(GenericArgument::Type(t)) if args.args.len() == 1 && is_self(t)
                    );
                counted.then_some(Receiver::Counted)
            }
            _ => None,
        },
        _ => None,
    }
}

fn is_self(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
}

/// How the receiver is written, for messages: `self`, `mut self`, `self: Box<Self>`.
fn receiver_string(r: &syn::Receiver) -> String {
    let mutability = if r.mutability.is_some() { "mut " } else { "" };
    match &r.kind {
        ReceiverKind::Typed(_, ty) => format!("`{mutability}self: {}`", type_string(ty)),
        _ => "`self` by value".to_owned(),
    }
}

/// A type as the user would write it: `Option<u32>`, not `Option < u32 >`.
pub fn type_string(ty: &Type) -> String {
    let mut out = String::new();
    let text = ty.to_token_stream().to_string();
    let mut chars = text.chars().peekable();
    let mut previous = ' ';
    while let Some(c) = chars.next() {
        if c == ' ' {
            let next = chars.peek().copied().unwrap_or(' ');
            // Keep the spaces that separate words, `dyn Trait`, `impl A + B`, `T, U`.
            let tight = matches!(previous, '<' | '&' | '(' | '[' | ':' | '\'' | '!')
                || matches!(next, '<' | '>' | ',' | ')' | ']' | ':' | '(');
            let keep =
                previous == ',' || previous == '+' || next == '+' || previous == '=' || next == '=';
            if !tight || keep {
                out.push(' ');
            }
            continue;
        }
        out.push(c);
        previous = c;
    }
    out
}

/// An `impl Trait` inside the return type (`Result<impl Trait, E>`).
fn impl_trait_in(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    path.path.segments.iter().find_map(|s| match &s.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t @ Type::ImplTrait(_)) => Some(t),
            GenericArgument::Type(t) => impl_trait_in(t),
            _ => None,
        }),
        _ => None,
    })
}

/// `impl Trait`, or a type parameter of the function.
fn is_generic(ty: &Type, generics: &[String]) -> bool {
    match ty {
        Type::ImplTrait(_) => true,
        Type::Path(p) if p.qself.is_none() => p
            .path
            .get_ident()
            .is_some_and(|i| generics.iter().any(|g| i == g)),
        _ => false,
    }
}

/// Whether the return type is written `Result<..>` (or `a::path::Result<..>`).
fn is_named_result(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Result"))
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
    const NOT_RESULTS: [&str; 29] = [
        "u8",
        "u16",
        "u32",
        "u64",
        "u128",
        "usize",
        "i8",
        "i16",
        "i32",
        "i64",
        "i128",
        "isize",
        "f32",
        "f64",
        "bool",
        "char",
        "str",
        "String",
        "Option",
        "Vec",
        "Box",
        "Arc",
        "Rc",
        "HashMap",
        "Poll",
        "Pin",
        "Cow",
        "Duration",
        "ControlFlow",
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
