//! `#[timeout(...)]`, `#[bulkhead(...)]` and `#[rate_limit(...)]`, checked against the rules
//! of the runtime's builders.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Token};

use super::values::{Noun, count, duration, name, whole, written_duration};
use super::{BreakerName, Errors, KeyValue, Kind, Spanned, key_values, known, set, unknown_key};

// The limits' bounds (`resilience::limit` and `resilience::config`).
const MAX_CONCURRENT: u64 = 1_000_000;
const MAX_RATE: u64 = 1_000_000_000_000;
const MAX_BURST: u64 = 1_000_000_000;
/// The longest a full bucket of a rate limiter may take to refill, in nanoseconds: 100 years.
const MAX_TOLERANCE: u128 = 100 * 365 * 24 * 3600 * 1_000_000_000;

/// The time limit of `#[timeout(...)]`.
pub struct TimeoutArgs {
    pub after: Spanned<Duration>,
}

/// The settings of `#[bulkhead(...)]`.
#[derive(Default)]
pub struct BulkheadArgs {
    pub name: Option<BreakerName>,
    pub max_concurrent: Option<Spanned<u32>>,
    pub max_wait: Option<Spanned<Duration>>,
}

/// The settings of `#[rate_limit(...)]`; `rate` and `per` are required.
pub struct RateLimitArgs {
    pub name: Option<BreakerName>,
    pub rate: Spanned<u64>,
    pub per: Spanned<Duration>,
    pub burst: Option<Spanned<u32>>,
    pub cost: Option<Spanned<u32>>,
    pub max_wait: Option<Spanned<Duration>>,
}

/// Parses and checks `#[timeout(...)]`'s time limit, written alone: `#[timeout("5s")]`.
/// `at` is the attribute.
pub fn timeout(
    tokens: TokenStream,
    at: Span,
    errors: &mut Errors,
) -> syn::Result<Option<TimeoutArgs>> {
    let items = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens)?;
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        errors.at(
            at,
            "#[timeout] needs the time limit of each attempt, like `#[timeout(\"5s\")]`",
        );
        return Ok(None);
    };
    if let Some(extra) = items.next() {
        errors.push(syn::Error::new_spanned(
            extra,
            "#[timeout] takes one time limit, like `#[timeout(\"5s\")]`",
        ));
        return Ok(None);
    }
    if let Expr::Assign(assign) = &first {
        let key = match &*assign.left {
            Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
            _ => None,
        };
        errors.push(syn::Error::new_spanned(
            &assign.left,
            unknown_key(Kind::Timeout, key.as_deref().unwrap_or("..")),
        ));
        return Ok(None);
    }
    let key = Ident::new("timeout", Span::call_site());
    match duration(&key, &first, false) {
        Ok(after) => Ok(Some(TimeoutArgs { after })),
        Err(e) => {
            errors.push(e);
            Ok(None)
        }
    }
}

/// Parses and checks `#[bulkhead(...)]`'s arguments.
pub fn bulkhead(tokens: TokenStream, errors: &mut Errors) -> syn::Result<BulkheadArgs> {
    let mut args = BulkheadArgs::default();
    let mut seen = Vec::new();
    for KeyValue { key, value } in key_values(tokens)? {
        let Some(value) = known(Kind::Bulkhead, &key, value, &mut seen, errors) else {
            continue;
        };
        match key.to_string().as_str() {
            "name" => match name(&value, Noun::Bulkhead) {
                Ok(name) => args.name = Some(name),
                Err(e) => errors.push(e),
            },
            "max_concurrent" => set(
                &mut args.max_concurrent,
                count(&key, &value, MAX_CONCURRENT),
                errors,
            ),
            "max_wait" => set(&mut args.max_wait, duration(&key, &value, true), errors),
            _ => unreachable!("`known` lets only the attribute's keys through"),
        }
    }
    Ok(args)
}

/// Parses and checks `#[rate_limit(...)]`'s arguments; `None` when `rate` or `per` is missing
/// (reported at the attribute, `at`) or wrong.
pub fn rate_limit(
    tokens: TokenStream,
    at: Span,
    errors: &mut Errors,
) -> syn::Result<Option<RateLimitArgs>> {
    let mut name_arg = None;
    let (mut rate, mut per, mut burst, mut cost, mut max_wait) = (None, None, None, None, None);
    let mut seen = Vec::new();
    // A key that is not known may be the missing one misspelt: then it alone is reported.
    let mut unknown = false;
    for KeyValue { key, value } in key_values(tokens)? {
        let Some(value) = known(Kind::RateLimit, &key, value, &mut seen, errors) else {
            unknown |= !Kind::RateLimit.keys().contains(&key.to_string().as_str());
            continue;
        };
        match key.to_string().as_str() {
            "name" => match name(&value, Noun::RateLimiter) {
                Ok(name) => name_arg = Some(name),
                Err(e) => errors.push(e),
            },
            "rate" => set(&mut rate, whole(&key, &value, MAX_RATE), errors),
            "per" => set(&mut per, duration(&key, &value, false), errors),
            "burst" => set(&mut burst, count(&key, &value, MAX_BURST), errors),
            "cost" => set(&mut cost, count(&key, &value, MAX_BURST), errors),
            "max_wait" => set(&mut max_wait, duration(&key, &value, true), errors),
            _ => unreachable!("`known` lets only the attribute's keys through"),
        }
    }
    let missing: Vec<&str> = ["rate", "per"]
        .into_iter()
        .filter(|key| !seen.iter().any(|s| s == key))
        .collect();
    if !missing.is_empty() && !unknown {
        errors.at(
            at,
            format!(
                "#[rate_limit] needs {}: how many calls (or credits) per period, like \
                 `#[rate_limit(rate = 100, per = \"1s\")]`",
                missing
                    .iter()
                    .map(|k| format!("`{k} = ...`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        );
    }
    let (Some(rate), Some(per)) = (rate, per) else {
        return Ok(None);
    };
    // Rules across settings, as the runtime's builder has them; each error at a written value.
    let per_nanos = per.value.as_nanos();
    if u128::from(rate.value) > per_nanos {
        errors.at(
            rate.span,
            format!(
                "`rate` ({}) must be at most one per nanosecond of `per` ({})",
                rate.value,
                written_duration(per.value)
            ),
        );
        return Ok(None);
    }
    let interval = per_nanos.div_ceil(u128::from(rate.value));
    let (burst_value, whence) = match &burst {
        Some(b) => (u64::from(b.value), ""),
        None => (rate.value.min(MAX_BURST), ", the default: the rate"),
    };
    if let Some(b) = &burst {
        if interval * u128::from(b.value) > MAX_TOLERANCE {
            errors.at(
                b.span,
                format!(
                    "`burst` ({}) would take more than 100 years to refill at {} per {}",
                    b.value,
                    rate.value,
                    written_duration(per.value)
                ),
            );
        }
    }
    if let Some(c) = &cost {
        if u64::from(c.value) > burst_value {
            errors.at(
                c.span,
                format!(
                    "`cost` ({}) must not exceed the burst ({burst_value}{whence}), or the call \
                     could never pass",
                    c.value
                ),
            );
        }
    }
    Ok(Some(RateLimitArgs {
        name: name_arg,
        rate,
        per,
        burst,
        cost,
        max_wait,
    }))
}
