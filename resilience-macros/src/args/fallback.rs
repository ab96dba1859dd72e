//! `#[fallback(...)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Path, Token};

use super::{Errors, path_string};

/// The tiers of `#[fallback(...)]`, in order.
pub struct FallbackArgs {
    pub tiers: Vec<Path>,
}

/// Parses and checks `#[fallback(...)]`'s tiers. `own` is the guarded function's name, `at`
/// the attribute.
pub fn fallback(
    tokens: TokenStream,
    own: &Ident,
    at: Span,
    errors: &mut Errors,
) -> syn::Result<FallbackArgs> {
    let items = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens)?;
    if items.is_empty() {
        errors.at(
            at,
            "#[fallback] needs at least one tier, e.g. `#[fallback(get_account_sdk, get_account_rest)]`",
        );
    }
    let mut tiers: Vec<Path> = Vec::new();
    for item in items {
        let path = match item {
            Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p.path,
            Expr::Assign(assign) => {
                errors.push(syn::Error::new_spanned(
                    assign,
                    "#[fallback] takes a list of tiers, not `key = value`: \
                     write `#[fallback(get_account_sdk, get_account_rest)]`",
                ));
                continue;
            }
            other => {
                errors.push(syn::Error::new_spanned(
                    other,
                    "expected the path of a tier function, like `get_account_sdk` or `Self::get_account_sdk`",
                ));
                continue;
            }
        };
        let last = path.segments.last().map(|s| &s.ident);
        // `get_account`, `Self::get_account`, `self::get_account`, `crate::get_account`.
        let is_self = last == Some(own)
            && (path.segments.len() == 1
                || (path.segments.len() == 2
                    && ["Self", "self", "crate"]
                        .contains(&path.segments[0].ident.to_string().as_str())));
        if is_self {
            errors.push(syn::Error::new_spanned(
                &path,
                format!("`{own}` cannot be its own fallback tier; name another function"),
            ));
            continue;
        }
        if tiers.iter().any(|t| path_string(t) == path_string(&path)) {
            errors.push(syn::Error::new_spanned(
                &path,
                format!(
                    "tier `{}` is listed twice; list each tier once",
                    path_string(&path)
                ),
            ));
            continue;
        }
        tiers.push(path);
    }
    Ok(FallbackArgs { tiers })
}
