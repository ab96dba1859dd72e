//! The values of the settings: numbers, durations, booleans and names, each checked and kept
//! with its span.

use std::time::Duration;

use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, UnOp};

use super::{BreakerName, MAX_DURATION, Spanned};

/// A literal, with the sign of a negated one.
pub(super) enum Number<'a> {
    Lit(&'a Lit, bool),
    Other,
}

pub(super) fn number(value: &Expr) -> Number<'_> {
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

pub(super) fn count(key: &Ident, value: &Expr, max: u64) -> syn::Result<Spanned<u32>> {
    debug_assert!(max <= u64::from(u32::MAX));
    let n = whole(key, value, max)?;
    Ok(Spanned {
        value: n.value as u32,
        span: n.span,
    })
}

/// A whole number from 1 to `max`.
pub(super) fn whole(key: &Ident, value: &Expr, max: u64) -> syn::Result<Spanned<u64>> {
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

pub(super) fn float(key: &Ident, value: &Expr, example: &str) -> syn::Result<Spanned<f64>> {
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

pub(super) fn boolean(key: &Ident, value: &Expr) -> syn::Result<Spanned<bool>> {
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
pub(super) fn duration(key: &Ident, value: &Expr, zero_ok: bool) -> syn::Result<Spanned<Duration>> {
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
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
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

/// A duration as one writes it: whole days as days (`365days`, not humantime's months).
pub(super) fn written_duration(d: Duration) -> String {
    const DAY: u64 = 24 * 3600;
    if d.subsec_nanos() == 0 && d.as_secs() >= DAY && d.as_secs() % DAY == 0 {
        format!("{}days", d.as_secs() / DAY)
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// What a `name` names: its noun and the prefix of its environment variables.
#[derive(Clone, Copy)]
pub(super) enum Noun {
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

pub(super) fn name(value: &Expr, noun: Noun) -> syn::Result<BreakerName> {
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
