//! The expansion's own tests: the body's exits, and the snapshot of a whole expansion.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Meta;

use super::body::may_exit_early;
use super::{attribute, is_pipeline, pipeline};
use crate::args::Kind;

#[test]
fn a_body_runs_in_place_only_when_it_cannot_leave_early() {
    let exits = |body: &str| may_exit_early(&body.parse::<TokenStream>().unwrap());
    for plain in [
        "{ operation(fail) }",
        "{ self.mcp.get_account(&id).await }",
        "{ if a != b { Ok(!c) } else { Ok(1) } }",
        "{ tracing::info!(\"x\"); Ok(format!(\"{}\", 1)) }",
        "{ std::println!(\"x\"); assert!(ok); Ok(vec![1]) }",
        "{ log::warn!(\"slow\"); Ok(matches!(x, Some(_))) }",
    ] {
        assert!(!exits(plain), "{plain}");
    }
    for early in [
        "{ let x = fetch().await?; Ok(x) }",
        "{ if a { return Err(e); } Ok(1) }",
        "{ anyhow::bail!(\"x\") }",
        "{ bail!(\"x\") }",
        "{ info!(\"x\"); Ok(1) }",
        "{ let f = || -> Result<(), E> { g()?; Ok(()) }; f() }",
        "{ async { return 1 }.await; Ok(()) }",
        "{ other::format!(\"x\") }",
    ] {
        assert!(exits(early), "{early}");
    }
}

/// The expansion of a method with the breaker, retry and fallback attributes, pretty-printed, is
/// checked in at `tests/expand/get_account.expanded.rs` for review. `UPDATE_EXPANSION=1 cargo
/// test -p resilience-macros` rewrites it after a deliberate change.
#[test]
fn expansion_of_all_three_attributes_matches_the_snapshot() {
    check_snapshot("get_account");
}

/// The same with all six attributes, the limits included: `tests/expand/all_six.expanded.rs`.
#[test]
fn expansion_of_all_six_attributes_matches_the_snapshot() {
    check_snapshot("all_six");
}

/// Expands the impl block of `tests/expand/<name>.rs` and compares it with
/// `tests/expand/<name>.expanded.rs`.
fn check_snapshot(name: &str) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/expand");
    let input = std::fs::read_to_string(format!("{dir}/{name}.rs")).unwrap();
    let mut block: syn::ItemImpl = syn::parse_str(&input).unwrap();
    let syn::ImplItem::Fn(method) = &mut block.items[0] else {
        panic!("the input is an impl block with one method");
    };
    // As the compiler does: each attribute in turn expands with its arguments and the
    // function (holding the attributes after it), then the finisher they leave.
    let mut item = quote!(#method);
    loop {
        let mut method: syn::ImplItemFn = syn::parse2(item.clone()).unwrap();
        let ours = |a: &syn::Attribute| {
            Kind::ALL.into_iter().any(|k| a.path().is_ident(k.name())) || is_pipeline(a.path())
        };
        let Some(at) = method.attrs.iter().position(ours) else {
            break;
        };
        let attr = method.attrs.remove(at);
        let kind = Kind::ALL
            .into_iter()
            .find(|k| attr.path().is_ident(k.name()));
        let args = match attr.meta {
            Meta::List(list) => list.tokens,
            _ => TokenStream::new(),
        };
        item = match kind {
            Some(kind) => attribute(kind, args, quote!(#method)),
            None => pipeline(args, quote!(#method)),
        };
    }
    block.items[0] = syn::parse2(item).unwrap();
    let file = syn::File {
        shebang: None,
        frontmatter: None,
        attrs: Vec::new(),
        items: vec![syn::Item::Impl(block)],
    };
    let pretty = prettyplease::unparse(&file);
    let path = format!("{dir}/{name}.expanded.rs");
    if std::env::var_os("UPDATE_EXPANSION").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        pretty == expected,
        "the expansion changed; review it and run with UPDATE_EXPANSION=1:\n{pretty}"
    );
}
