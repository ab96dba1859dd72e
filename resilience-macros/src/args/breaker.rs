//! `#[circuit_breaker(...)]`.

use std::time::Duration;

use proc_macro2::TokenStream;
use syn::{Expr, Ident, Path};

use super::values::{Noun, count, duration, float, name};
use super::{BreakerName, Errors, KeyValue, Kind, Spanned, key_values, known, set, set_path};

// The runtime's limits (`resilience::config`), repeated here because a proc-macro crate cannot
// depend on the crate that re-exports it.
const MAX_FAILURE_THRESHOLD: u64 = 1_000_000;
const MAX_HALF_OPEN_CALLS: u64 = 10_000;
const MAX_WINDOW_SIZE: u64 = 10_000;
const DEFAULT_HALF_OPEN_MAX_CALLS: u32 = 3;
const DEFAULT_SUCCESS_THRESHOLD: u32 = 2;
const DEFAULT_WINDOW_SIZE: u32 = 100;

/// The settings of `#[circuit_breaker(...)]`.
#[derive(Default)]
pub struct BreakerArgs {
    pub name: Option<BreakerName>,
    pub failure_threshold: Option<Spanned<u32>>,
    pub recovery_timeout: Option<Spanned<Duration>>,
    pub half_open_max_calls: Option<Spanned<u32>>,
    pub success_threshold: Option<Spanned<u32>>,
    pub window_size: Option<Spanned<u32>>,
    pub minimum_calls: Option<Spanned<u32>>,
    pub failure_rate_threshold: Option<Spanned<f64>>,
    pub failure_if: Option<Path>,
}

/// Parses and checks `#[circuit_breaker(...)]`'s arguments.
pub fn breaker(tokens: TokenStream, errors: &mut Errors) -> syn::Result<BreakerArgs> {
    let mut args = BreakerArgs::default();
    let mut seen = Vec::new();
    for KeyValue { key, value } in key_values(tokens)? {
        let Some(value) = known(Kind::CircuitBreaker, &key, value, &mut seen, errors) else {
            continue;
        };
        let key_name = key.to_string();
        match key_name.as_str() {
            "name" => match name(&value, Noun::Breaker) {
                Ok(name) => args.name = Some(name),
                Err(e) => errors.push(e),
            },
            "failure_threshold" => set(
                &mut args.failure_threshold,
                count(&key, &value, MAX_FAILURE_THRESHOLD),
                errors,
            ),
            "recovery_timeout" => set(
                &mut args.recovery_timeout,
                duration(&key, &value, false),
                errors,
            ),
            "half_open_max_calls" => set(
                &mut args.half_open_max_calls,
                count(&key, &value, MAX_HALF_OPEN_CALLS),
                errors,
            ),
            "success_threshold" => set(
                &mut args.success_threshold,
                count(&key, &value, MAX_HALF_OPEN_CALLS),
                errors,
            ),
            "window_size" => set(
                &mut args.window_size,
                count(&key, &value, MAX_WINDOW_SIZE),
                errors,
            ),
            "minimum_calls" => set(
                &mut args.minimum_calls,
                count(&key, &value, MAX_WINDOW_SIZE),
                errors,
            ),
            "failure_rate_threshold" => {
                set(&mut args.failure_rate_threshold, rate(&key, &value), errors)
            }
            "failure_if" => set_path(&mut args.failure_if, &key, &value, errors),
            _ => unreachable!("`known` lets only the attribute's keys through"),
        }
    }
    // Rules across settings, with the runtime's defaults for what is not written; the error is
    // at the written value.
    match (&args.success_threshold, &args.half_open_max_calls) {
        (Some(success), half_open) => {
            let (half_open, whence) = match half_open {
                Some(h) => (h.value, ""),
                None => (DEFAULT_HALF_OPEN_MAX_CALLS, ", the default"),
            };
            if success.value > half_open {
                errors.at(
                    success.span,
                    format!(
                        "success_threshold ({}) must not exceed half_open_max_calls ({half_open}{whence}), \
                         or the circuit could never close",
                        success.value
                    ),
                );
            }
        }
        (None, Some(half_open)) if half_open.value < DEFAULT_SUCCESS_THRESHOLD => errors.at(
            half_open.span,
            format!(
                "half_open_max_calls ({}) must be at least success_threshold \
                 ({DEFAULT_SUCCESS_THRESHOLD}, the default), or the circuit could never close; \
                 set `success_threshold` too",
                half_open.value
            ),
        ),
        (None, _) => {}
    }
    if let Some(minimum) = &args.minimum_calls {
        let (window, whence) = match &args.window_size {
            Some(w) => (w.value, ""),
            None => (DEFAULT_WINDOW_SIZE, ", the default"),
        };
        if minimum.value > window {
            errors.at(
                minimum.span,
                format!(
                    "minimum_calls ({}) must not exceed window_size ({window}{whence}), \
                     or the failure-rate rule could never fire",
                    minimum.value
                ),
            );
        }
    }
    Ok(args)
}

pub(super) fn rate(key: &Ident, value: &Expr) -> syn::Result<Spanned<f64>> {
    let rate = float(key, value, "0.5")?;
    if rate.value > 0.0 && rate.value <= 1.0 {
        Ok(rate)
    } else {
        Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be greater than 0.0 and at most 1.0 (a share of failing calls)"),
        ))
    }
}
