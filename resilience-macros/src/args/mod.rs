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
use syn::{Expr, Ident, Path, Token};

mod breaker;
mod fallback;
mod limits;
mod retry;
mod values;

pub use breaker::{BreakerArgs, breaker};
pub use fallback::{FallbackArgs, fallback};
pub use limits::{BulkheadArgs, RateLimitArgs, TimeoutArgs, bulkhead, rate_limit, timeout};
pub use retry::{RetryArgs, retry};

// The runtime's limits (`resilience::config`), repeated here because a proc-macro crate cannot
// depend on the crate that re-exports it; each attribute's own are in its file.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

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

    pub(super) fn keys(self) -> &'static [&'static str] {
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
pub(super) struct KeyValue {
    pub key: Ident,
    pub value: Option<Expr>,
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

pub(super) fn key_values(tokens: TokenStream) -> syn::Result<Punctuated<KeyValue, Token![,]>> {
    Punctuated::<KeyValue, Token![,]>::parse_terminated.parse2(tokens)
}

/// The value of a key the attribute knows; otherwise reports the key and returns `None`.
pub(super) fn known(
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

pub(super) fn unknown_key(kind: Kind, key: &str) -> String {
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
pub(super) fn set<T>(
    slot: &mut Option<Spanned<T>>,
    parsed: syn::Result<Spanned<T>>,
    errors: &mut Errors,
) {
    match parsed {
        Ok(v) => *slot = Some(v),
        Err(e) => errors.push(e),
    }
}

pub(super) fn set_path(slot: &mut Option<Path>, key: &Ident, value: &Expr, errors: &mut Errors) {
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

#[cfg(test)]
mod tests {
    use super::values::parse_duration;
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
