//! Rules between two settings (`success_threshold <= half_open_max_calls`,
//! `base_delay <= max_delay`) when values come from variables: which variables to ignore.
//!
//! Each side of a rule has its candidate values in the order of precedence (per-breaker
//! variable, value written, global variable, built-in default); the first one counts. When the
//! counted values break the rule, the fewest variables are ignored that mend it, so that every
//! other variable still applies. Between two choices of as many variables, a global variable is
//! ignored before a per-breaker one (the breaker's own variable is the more deliberate word for
//! it), then the bounded setting (`success_threshold`, `base_delay`) before its bound
//! (`half_open_max_calls`, which limits the probes a recovering service gets, and `max_delay`,
//! which caps every wait).

use super::*;

/// Where a candidate value of a setting comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Origin {
    /// A per-breaker variable, and its value as found.
    BreakerVar(String, String),
    /// Written in code: a builder method, an attribute, or options read from a file.
    Written,
    /// A global variable, and its value as found.
    GlobalVar(String, String),
    /// The built-in default.
    Default,
}

impl Origin {
    /// The variable and its value, when the value comes from one.
    fn variable(&self) -> Option<(&str, &str)> {
        match self {
            Origin::BreakerVar(variable, text) | Origin::GlobalVar(variable, text) => {
                Some((variable, text))
            }
            Origin::Written | Origin::Default => None,
        }
    }

    /// Which of two variables goes first when ignoring either would do: the global one.
    fn rank(&self) -> u8 {
        match self {
            Origin::GlobalVar(..) => 0,
            _ => 1,
        }
    }

    fn describe(&self) -> String {
        match self {
            Origin::BreakerVar(variable, text) | Origin::GlobalVar(variable, text) => {
                format!("from {variable}={text:?}")
            }
            Origin::Written => "as written".to_owned(),
            Origin::Default => "the built-in default".to_owned(),
        }
    }
}

/// One candidate value of a setting.
#[derive(Debug, Clone)]
pub(crate) struct Candidate<T> {
    pub(crate) value: T,
    pub(crate) origin: Origin,
}

/// One side of a rule: a setting and its candidates, highest precedence first, the built-in
/// default last.
#[derive(Debug, Clone)]
pub(crate) struct Side<T> {
    pub(crate) setting: &'static str,
    pub(crate) candidates: Vec<Candidate<T>>,
}

/// A rule `low <= high` between two settings.
#[derive(Debug, Clone)]
pub(crate) struct PairRule<T> {
    pub(crate) low: Side<T>,
    pub(crate) high: Side<T>,
    /// How a value is written in messages.
    pub(crate) show: fn(&T) -> String,
    /// The start of the reason for a low value above the bound: "must be at most".
    pub(crate) too_high: &'static str,
    /// The start of the reason for a bound below the low value: "must be at least".
    pub(crate) too_low: &'static str,
    /// The end of every reason: what would go wrong.
    pub(crate) consequence: &'static str,
}

/// The two values once the rule holds, and an error for each variable ignored to get there:
/// the low side's first, each side in order of precedence.
///
/// When the values written and the defaults break the rule without any variable, no set of
/// ignored variables mends it: every variable of the rule is then dropped, no error is
/// returned for them, and the values are the written ones and the defaults, for the caller's
/// validation to report as a mistake in code.
pub(crate) fn settle<T: PartialOrd + Clone>(rule: &PairRule<T>) -> (T, T, Vec<ConfigError>) {
    // The variables: (side, index among its candidates). At most two per side.
    let vars: Vec<(usize, usize)> = [&rule.low, &rule.high]
        .into_iter()
        .enumerate()
        .flat_map(|(side, s)| {
            s.candidates
                .iter()
                .enumerate()
                .filter(|(_, c)| c.origin.variable().is_some())
                .map(move |(i, _)| (side, i))
        })
        .collect();
    let counted = |side: &Side<T>, s: usize, mask: u32| -> usize {
        (0..side.candidates.len())
            .find(|&i| {
                let ignored = vars
                    .iter()
                    .position(|&v| v == (s, i))
                    .is_some_and(|bit| mask & (1 << bit) != 0);
                !ignored
            })
            // The last candidate is the default, never ignored.
            .unwrap_or(side.candidates.len() - 1)
    };
    let holds = |mask: u32| {
        let low = &rule.low.candidates[counted(&rule.low, 0, mask)].value;
        let high = &rule.high.candidates[counted(&rule.high, 1, mask)].value;
        low <= high
    };
    // The order of preference of a set of ignored variables: fewest first, then the global
    // variables before per-breaker ones, then the low side before the high one.
    let order = |mask: u32| {
        let mut ranks: Vec<(u8, usize)> = vars
            .iter()
            .enumerate()
            .filter(|(bit, _)| mask & (1 << bit) != 0)
            .map(|(_, &(side, i))| {
                let s = if side == 0 { &rule.low } else { &rule.high };
                (s.candidates[i].origin.rank(), side)
            })
            .collect();
        ranks.sort_unstable();
        (mask.count_ones(), ranks)
    };
    let all = (1u32 << vars.len()) - 1;
    let best = (0..=all)
        .filter(|&mask| holds(mask))
        .min_by_key(|&m| order(m));
    let mask = best.unwrap_or(all);
    let low = rule.low.candidates[counted(&rule.low, 0, mask)].clone();
    let high = rule.high.candidates[counted(&rule.high, 1, mask)].clone();
    let mut errors = Vec::new();
    if best.is_some() {
        for (bit, &(side, i)) in vars.iter().enumerate() {
            if mask & (1 << bit) == 0 {
                continue;
            }
            let (this, start, other, other_setting) = if side == 0 {
                (&rule.low, rule.too_high, &high, rule.high.setting)
            } else {
                (&rule.high, rule.too_low, &low, rule.low.setting)
            };
            let Some((variable, text)) = this.candidates[i].origin.variable() else {
                continue;
            };
            errors.push(ConfigError::InvalidEnv {
                variable: variable.to_owned(),
                value: text.to_owned(),
                reason: format!(
                    "{start} {} ({other_setting}, {}){}",
                    (rule.show)(&other.value),
                    other.origin.describe(),
                    rule.consequence
                ),
            });
        }
    }
    (low.value, high.value, errors)
}

/// The candidate from `variable`, when it is set to a value `parse` accepts (a bad value is
/// reported where the variable is read).
fn from_var<T>(
    raw: &dyn Fn(&str) -> Option<RawValue>,
    variable: String,
    parse: fn(&str) -> Result<T, String>,
    origin: fn(String, String) -> Origin,
) -> Option<Candidate<T>> {
    let RawValue::Text(text) = raw(&variable)? else {
        return None;
    };
    let value = parse(&text).ok()?;
    Some(Candidate {
        value,
        origin: origin(variable, text),
    })
}

/// The candidates of one setting, highest precedence first.
fn candidates<T>(
    breaker_var: Option<Candidate<T>>,
    written: Option<T>,
    global_var: Option<Candidate<T>>,
    default: T,
) -> Vec<Candidate<T>> {
    let written = written.map(|value| Candidate {
        value,
        origin: Origin::Written,
    });
    let default = Candidate {
        value: default,
        origin: Origin::Default,
    };
    [breaker_var, written, global_var, Some(default)]
        .into_iter()
        .flatten()
        .collect()
}

/// `success_threshold <= half_open_max_calls` for the breaker `name` (`None`: the global
/// variables alone), with the values written for it, if any.
pub(crate) fn breaker_rule(
    raw: &dyn Fn(&str) -> Option<RawValue>,
    name: Option<&str>,
    (success, probes): (Option<u32>, Option<u32>),
) -> PairRule<u32> {
    let b = BreakerSettings::BUILT_IN;
    let side = |key: BreakerKey, parse, written, default| Side {
        setting: key.setting(),
        candidates: candidates(
            name.and_then(|name| from_var(raw, key.breaker_var(name), parse, Origin::BreakerVar)),
            written,
            from_var(raw, key.global_var().to_owned(), parse, Origin::GlobalVar),
            default,
        ),
    };
    PairRule {
        low: side(
            BreakerKey::SuccessThreshold,
            parse_success_threshold,
            success,
            b.success_threshold,
        ),
        high: side(
            BreakerKey::HalfOpenCalls,
            parse_half_open_calls,
            probes,
            b.half_open_max_calls,
        ),
        show: u32::to_string,
        too_high: "must be at most",
        too_low: "must be at least",
        consequence: ", or the circuit could never close",
    }
}

/// `base_delay <= max_delay`, with the values written for a policy, if any.
pub(crate) fn retry_rule(
    raw: &dyn Fn(&str) -> Option<RawValue>,
    (base, max): (Option<Duration>, Option<Duration>),
) -> PairRule<Duration> {
    let d = RetrySettings::BUILT_IN;
    let side = |setting, variable: &str, written, default| Side {
        setting,
        candidates: candidates(
            None,
            written,
            from_var(raw, variable.to_owned(), parse_duration, Origin::GlobalVar),
            default,
        ),
    };
    PairRule {
        low: side("base_delay", RETRY_BASE_DELAY, base, d.base_delay),
        high: side("max_delay", RETRY_MAX_DELAY, max, d.max_delay),
        show: |d| format!("{d:?}"),
        too_high: "must not exceed",
        too_low: "must not be below",
        consequence: "",
    }
}
