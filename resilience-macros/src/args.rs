//! The attributes' arguments: parsed into typed settings that keep each value's span, and
//! checked against the same rules as the runtime's builders.
//!
//! Broken syntax stops parsing at once; every other mistake of an attribute is collected, so
//! that all of them are reported together.

use std::fmt::Display;
use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, Path, Token, UnOp};

// The runtime's limits (`resilience::config`), repeated here because a proc-macro crate cannot
// depend on the crate that re-exports it.
const MAX_FAILURE_THRESHOLD: u64 = 1_000_000;
const MAX_HALF_OPEN_CALLS: u64 = 10_000;
const MAX_WINDOW_SIZE: u64 = 10_000;
const MAX_RETRY_ATTEMPTS: u64 = 1_000;
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
const DEFAULT_HALF_OPEN_MAX_CALLS: u32 = 3;
const DEFAULT_SUCCESS_THRESHOLD: u32 = 2;
const DEFAULT_WINDOW_SIZE: u32 = 100;
const DEFAULT_BASE_DELAY: Duration = Duration::from_secs(1);
const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(60);
// The limits' bounds (`resilience::limit` and `resilience::config`).
const MAX_CONCURRENT: u64 = 1_000_000;
const MAX_RATE: u64 = 1_000_000_000_000;
const MAX_BURST: u64 = 1_000_000_000;
/// The longest a full bucket of a rate limiter may take to refill, in nanoseconds: 100 years.
const MAX_TOLERANCE: u128 = 100 * 365 * 24 * 3600 * 1_000_000_000;

/// Which attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CircuitBreaker,
    Retry,
    Fallback,
    Timeout,
    Bulkhead,
    RateLimit,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::CircuitBreaker,
        Kind::Retry,
        Kind::Fallback,
        Kind::Timeout,
        Kind::Bulkhead,
        Kind::RateLimit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::CircuitBreaker => "circuit_breaker",
            Kind::Retry => "retry",
            Kind::Fallback => "fallback",
            Kind::Timeout => "timeout",
            Kind::Bulkhead => "bulkhead",
            Kind::RateLimit => "rate_limit",
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::CircuitBreaker => &[
                "name",
                "failure_threshold",
                "recovery_timeout",
                "half_open_max_calls",
                "success_threshold",
                "window_size",
                "minimum_calls",
                "failure_rate_threshold",
                "failure_if",
            ],
            Kind::Retry => &[
                "max_attempts",
                "base_delay",
                "max_delay",
                "exponential_base",
                "jitter",
                "budget",
                "retry_if",
                "retry_after",
            ],
            Kind::Fallback | Kind::Timeout => &[],
            Kind::Bulkhead => &["name", "max_concurrent", "max_wait"],
            Kind::RateLimit => &["name", "rate", "per", "burst", "cost", "max_wait"],
        }
    }
}

/// A value and where it was written.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// The breaker's name as written: a string, or the path of a `&'static str` constant (checked
/// by a const evaluation).
pub enum BreakerName {
    Literal(Spanned<String>),
    Const(Path),
}

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

/// The tiers of `#[fallback(...)]`, in order.
pub struct FallbackArgs {
    pub tiers: Vec<Path>,
}

/// Errors gathered across an attribute, reported together.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    pub fn into_result(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// `key = value`, or a bare `key` (an error, reported with the key's span).
struct KeyValue {
    key: Ident,
    value: Option<Expr>,
}

impl Parse for KeyValue {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected `key = value`, like `failure_threshold = 5`",
            )
        })?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(KeyValue { key, value })
    }
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

/// A duration as one writes it: whole days as days (`365days`, not humantime's months).
fn written_duration(d: Duration) -> String {
    const DAY: u64 = 24 * 3600;
    if d.subsec_nanos() == 0 && d.as_secs() >= DAY && d.as_secs() % DAY == 0 {
        format!("{}days", d.as_secs() / DAY)
    } else {
        humantime::format_duration(d).to_string()
    }
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

/// A path as written, without spaces: `Self::get_account_sdk`.
pub fn path_string(path: &Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let lead = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{lead}{}", segments.join("::"))
}

fn key_values(tokens: TokenStream) -> syn::Result<Punctuated<KeyValue, Token![,]>> {
    Punctuated::<KeyValue, Token![,]>::parse_terminated.parse2(tokens)
}

/// The value of a key the attribute knows; otherwise reports the key and returns `None`.
fn known(
    kind: Kind,
    key: &Ident,
    value: Option<Expr>,
    seen: &mut Vec<String>,
    errors: &mut Errors,
) -> Option<Expr> {
    let key_name = key.to_string();
    if !kind.keys().contains(&key_name.as_str()) {
        errors.at(key.span(), unknown_key(kind, &key_name));
        return None;
    }
    if seen.contains(&key_name) {
        errors.at(key.span(), format!("`{key_name}` is set twice; keep one"));
        return None;
    }
    seen.push(key_name.clone());
    if value.is_none() {
        errors.at(
            key.span(),
            format!("`{key_name}` needs a value: `{key_name} = ...`"),
        );
    }
    value
}

fn unknown_key(kind: Kind, key: &str) -> String {
    let attr = kind.name();
    if kind == Kind::Fallback {
        return format!("#[fallback] takes a list of tiers, not `{key} = ...`");
    }
    if kind == Kind::Timeout {
        return format!(
            "#[timeout] takes the time limit alone, like `#[timeout(\"5s\")]`, not `{key} = ...`"
        );
    }
    if let Some(other) = Kind::ALL
        .into_iter()
        .find(|k| *k != kind && k.keys().contains(&key))
    {
        return format!(
            "`{key}` is a setting of #[{}], not of #[{attr}]",
            other.name()
        );
    }
    // Names people reach for, from the guide's variables and other libraries.
    const RENAMED: [(&str, &str); 16] = [
        ("half_open_calls", "half_open_max_calls"),
        ("timeout", "recovery_timeout"),
        ("threshold", "failure_threshold"),
        ("attempts", "max_attempts"),
        ("retries", "max_attempts"),
        ("delay", "base_delay"),
        ("backoff", "exponential_base"),
        ("multiplier", "exponential_base"),
        ("concurrency", "max_concurrent"),
        ("max_in_flight", "max_concurrent"),
        ("limit", "max_concurrent"),
        ("period", "per"),
        ("interval", "per"),
        ("capacity", "burst"),
        ("weight", "cost"),
        ("timeout", "max_wait"),
    ];
    let suggestion = RENAMED
        .iter()
        .find(|(from, to)| *from == key && kind.keys().contains(to))
        .map(|(_, to)| *to)
        .or_else(|| {
            kind.keys()
                .iter()
                .map(|k| (edit_distance(key, k), *k))
                .filter(|(d, k)| *d <= 2.max(k.len() / 4))
                .min()
                .map(|(_, k)| k)
        });
    let known = kind.keys().join(", ");
    match suggestion {
        Some(s) => format!("unknown key `{key}` for #[{attr}]; did you mean `{s}`?"),
        None => format!("unknown key `{key}` for #[{attr}]; expected one of: {known}"),
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Stores a parsed value, reporting a second value for the same key.
fn set<T>(slot: &mut Option<Spanned<T>>, parsed: syn::Result<Spanned<T>>, errors: &mut Errors) {
    match parsed {
        Ok(v) => *slot = Some(v),
        Err(e) => errors.push(e),
    }
}

fn set_path(slot: &mut Option<Path>, key: &Ident, value: &Expr, errors: &mut Errors) {
    match value {
        Expr::Path(p) if p.qself.is_none() => *slot = Some(p.path.clone()),
        other if key == "retry_after" => errors.push(syn::Error::new_spanned(
            other,
            "`retry_after` takes the path of a function `fn(&E) -> Option<Duration>`, like \
             `retry_after = server_hint`",
        )),
        other => errors.push(syn::Error::new_spanned(
            other,
            format!(
                "`{key}` takes the path of a function `fn(&E) -> bool`, like `{key} = is_transient`"
            ),
        )),
    }
}

/// A literal, with the sign of a negated one.
enum Number<'a> {
    Lit(&'a Lit, bool),
    Other,
}

fn number(value: &Expr) -> Number<'_> {
    match value {
        Expr::Lit(ExprLit { lit, .. }) => Number::Lit(lit, false),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit { lit, .. }) => Number::Lit(lit, true),
            _ => Number::Other,
        },
        _ => Number::Other,
    }
}

fn count(key: &Ident, value: &Expr, max: u64) -> syn::Result<Spanned<u32>> {
    debug_assert!(max <= u64::from(u32::MAX));
    let n = whole(key, value, max)?;
    Ok(Spanned {
        value: n.value as u32,
        span: n.span,
    })
}

/// A whole number from 1 to `max`.
fn whole(key: &Ident, value: &Expr, max: u64) -> syn::Result<Spanned<u64>> {
    let span = value.span();
    let err = |message: String| syn::Error::new_spanned(value, format!("`{key}` {message}"));
    match number(value) {
        Number::Lit(Lit::Int(int), negative) => {
            let n: u64 = int
                .base10_parse()
                .map_err(|_| err(format!("is too large; at most {max}")))?;
            if negative && n > 0 {
                Err(err("must be at least 1, not negative".into()))
            } else if n == 0 {
                Err(err("must be at least 1".into()))
            } else if n > max {
                Err(err(format!("is too large; at most {max}")))
            } else {
                Ok(Spanned { value: n, span })
            }
        }
        _ => Err(err(format!("expects a whole number, like `{key} = 5`"))),
    }
}

fn float(key: &Ident, value: &Expr, example: &str) -> syn::Result<Spanned<f64>> {
    let span = value.span();
    let parsed = match number(value) {
        Number::Lit(Lit::Float(f), negative) => f.base10_parse::<f64>().map(|v| (v, negative)),
        Number::Lit(Lit::Int(i), negative) => i.base10_parse::<f64>().map(|v| (v, negative)),
        _ => {
            return Err(syn::Error::new_spanned(
                value,
                format!("`{key}` expects a number, like `{key} = {example}`"),
            ));
        }
    };
    let (v, negative) = parsed.map_err(|e| syn::Error::new_spanned(value, e))?;
    Ok(Spanned {
        value: if negative { -v } else { v },
        span,
    })
}

fn rate(key: &Ident, value: &Expr) -> syn::Result<Spanned<f64>> {
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

fn exponential_base(key: &Ident, value: &Expr) -> syn::Result<Spanned<f64>> {
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

fn boolean(key: &Ident, value: &Expr) -> syn::Result<Spanned<bool>> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(Spanned {
            value: b.value,
            span: b.span(),
        }),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{key}` expects `true` or `false`"),
        )),
    }
}

/// A duration: a string with a unit (`"60s"`, `"500ms"`, `"2m"`, `"1m 30s"`) or a plain
/// number of seconds (`60`, `1.5`, `"60"`), as the environment variables take.
fn duration(key: &Ident, value: &Expr, zero_ok: bool) -> syn::Result<Spanned<Duration>> {
    let span = value.span();
    let err = |message: String| syn::Error::new_spanned(value, format!("`{key}` {message}"));
    let parsed = match number(value) {
        Number::Lit(_, true) => return Err(err("must not be negative".into())),
        Number::Lit(Lit::Str(s), false) => parse_duration(&s.value()).map_err(err)?,
        Number::Lit(Lit::Int(i), false) => {
            let secs: u64 = i
                .base10_parse()
                .map_err(|_| err("is too large; at most 365 days".into()))?;
            Duration::from_secs(secs.min(u64::MAX / 2))
        }
        Number::Lit(Lit::Float(f), false) => {
            let secs: f64 = f.base10_parse().map_err(|e| err(e.to_string()))?;
            Duration::try_from_secs_f64(secs)
                .map_err(|_| err("is too large; at most 365 days".into()))?
        }
        _ => {
            return Err(err(
                "expects a duration, like `\"60s\"`, `\"500ms\"`, `\"2m\"` or a number of seconds"
                    .into(),
            ));
        }
    };
    if parsed > MAX_DURATION {
        Err(err("is too large; at most 365 days".into()))
    } else if parsed.is_zero() && !zero_ok {
        Err(err("must be greater than zero".into()))
    } else {
        Ok(Spanned {
            value: parsed,
            span,
        })
    }
}

/// Reads a duration string; the error completes "`key` ...".
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("expects a duration, like \"60s\", not an empty string".into());
    }
    if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let secs: f64 = text
            .parse()
            .map_err(|_| format!("has \"{text}\", which is not a number of seconds"))?;
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| "is too large; at most 365 days".into());
    }
    humantime::parse_duration(text).map_err(|e| {
        let what = match e {
            humantime::DurationError::UnknownUnit { unit, .. } => {
                format!("unknown unit \"{unit}\"")
            }
            humantime::DurationError::NumberOverflow => "too large".to_owned(),
            _ => "not a duration".to_owned(),
        };
        format!(
            "has an unreadable duration \"{text}\" ({what}); write a number and a unit, \
             like \"500ms\", \"60s\", \"2m\", \"1h\" or \"1m 30s\""
        )
    })
}

/// What a `name` names: its noun and the prefix of its environment variables.
#[derive(Clone, Copy)]
enum Noun {
    Breaker,
    Bulkhead,
    RateLimiter,
}

impl Noun {
    fn text(self) -> &'static str {
        match self {
            Noun::Breaker => "breaker",
            Noun::Bulkhead => "bulkhead",
            Noun::RateLimiter => "rate limiter",
        }
    }

    fn variables(self) -> &'static str {
        match self {
            Noun::Breaker => "CIRCUIT_BREAKER_<NAME>_<KEY>",
            Noun::Bulkhead => "BULKHEAD_<NAME>_<KEY>",
            Noun::RateLimiter => "RATE_LIMIT_<NAME>_<KEY>",
        }
    }
}

fn name(value: &Expr, noun: Noun) -> syn::Result<BreakerName> {
    let (what, variables) = (noun.text(), noun.variables());
    let span = value.span();
    let s = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => s,
        // A constant: `name = TIER1`, `name = crate::names::TIER1`.
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => {
            if p.path.segments.first().is_some_and(|s| s.ident == "Self") {
                return Err(syn::Error::new_spanned(
                    value,
                    format!(
                        "`name` takes a constant outside the impl block, like `name = TIER1` or \
                         `name = crate::names::TIER1`: the {what} is declared in a `static`, \
                         which cannot refer to `Self`"
                    ),
                ));
            }
            return Ok(BreakerName::Const(p.path.clone()));
        }
        _ => {
            return Err(syn::Error::new_spanned(
                value,
                format!(
                    "`name` expects the {what}'s name as a string, like `name = \"tier1_mcp\"`, \
                     or a `&str` constant, like `name = TIER1`"
                ),
            ));
        }
    };
    let name = s.value();
    let problem = if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == ':'))
    {
        Some(format!(
            "may contain only ASCII letters, digits and `_` (found {c:?})"
        ))
    } else if name
        .split("::")
        .any(|segment| segment.is_empty() || segment.contains(':'))
    {
        Some("may have `::` only between two path segments".to_owned())
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        Some("must not start with a digit".to_owned())
    } else {
        None
    };
    match problem {
        Some(p) => Err(syn::Error::new(
            span,
            format!(
                "invalid {what} name {name:?}: it {p}, so that its environment variables \
                 {variables} exist"
            ),
        )),
        None => Ok(BreakerName::Literal(Spanned { value: name, span })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("failure_treshold", "failure_threshold"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("max_attempt", "max_attempts"), 1);
    }

    #[test]
    fn durations_take_units_or_seconds() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
