//! `#[retry(...)]`.

use std::time::Duration;

use proc_macro2::TokenStream;
use syn::{Expr, Ident, Path};

use super::values::{boolean, count, duration, float};
use super::{Errors, KeyValue, Kind, Spanned, key_values, known, set, set_path};

// The runtime's limits and defaults (`resilience::config`).
const MAX_RETRY_ATTEMPTS: u64 = 1_000;
const DEFAULT_BASE_DELAY: Duration = Duration::from_secs(1);
const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(60);

/// The settings of `#[retry(...)]`.
#[derive(Default)]
pub struct RetryArgs {
    pub max_attempts: Option<Spanned<u32>>,
    pub base_delay: Option<Spanned<Duration>>,
    pub max_delay: Option<Spanned<Duration>>,
    pub exponential_base: Option<Spanned<f64>>,
    pub jitter: Option<Spanned<bool>>,
    pub budget: Option<Spanned<Duration>>,
    pub retry_if: Option<Path>,
    pub retry_after: Option<Path>,
}

/// Parses and checks `#[retry(...)]`'s arguments.
pub fn retry(tokens: TokenStream, errors: &mut Errors) -> syn::Result<RetryArgs> {
    let mut args = RetryArgs::default();
    let mut seen = Vec::new();
    for KeyValue { key, value } in key_values(tokens)? {
        let Some(value) = known(Kind::Retry, &key, value, &mut seen, errors) else {
            continue;
        };
        let key_name = key.to_string();
        match key_name.as_str() {
            "max_attempts" => set(
                &mut args.max_attempts,
                count(&key, &value, MAX_RETRY_ATTEMPTS),
                errors,
            ),
            "base_delay" => set(&mut args.base_delay, duration(&key, &value, true), errors),
            "max_delay" => set(&mut args.max_delay, duration(&key, &value, true), errors),
            "exponential_base" => set(
                &mut args.exponential_base,
                exponential_base(&key, &value),
                errors,
            ),
            "jitter" => set(&mut args.jitter, boolean(&key, &value), errors),
            "budget" => set(&mut args.budget, duration(&key, &value, false), errors),
            "retry_if" => set_path(&mut args.retry_if, &key, &value, errors),
            "retry_after" => set_path(&mut args.retry_after, &key, &value, errors),
            _ => unreachable!("`known` lets only the attribute's keys through"),
        }
    }
    match (&args.base_delay, &args.max_delay) {
        (Some(base), max) => {
            let (max, whence) = match max {
                Some(m) => (m.value, ""),
                None => (DEFAULT_MAX_DELAY, ", the default"),
            };
            if base.value > max {
                errors.at(
                    base.span,
                    format!(
                        "base_delay ({}) must not exceed max_delay ({}{whence})",
                        humantime::format_duration(base.value),
                        humantime::format_duration(max)
                    ),
                );
            }
        }
        (None, Some(max)) if max.value < DEFAULT_BASE_DELAY => errors.at(
            max.span,
            format!(
                "max_delay ({}) must be at least base_delay ({}, the default); set `base_delay` too",
                humantime::format_duration(max.value),
                humantime::format_duration(DEFAULT_BASE_DELAY)
            ),
        ),
        (None, _) => {}
    }
    Ok(args)
}

pub(super) fn exponential_base(key: &Ident, value: &Expr) -> syn::Result<Spanned<f64>> {
    let base = float(key, value, "2.0")?;
    if base.value.is_finite() && base.value >= 1.0 {
        Ok(base)
    } else {
        Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be at least 1.0 (a base below 1 would shrink the delays)"),
        ))
    }
}
