//! The circuit breaker: its settings, its state machine, admission permits and metrics.
//!
//! ```text
//!  CLOSED ──[failure_threshold consecutive failures]──▶ OPEN
//!    ▲                                                   │
//!    │                                        [recovery_timeout passed,
//!    │                                         checked on the next call]
//!    │                                                   ▼
//!    └──────[success_threshold successes]──────── HALF_OPEN ──[any failure]──▶ OPEN
//! ```
//!
//! * **Closed**: every call is admitted; failures are counted and a success clears the count.
//!   Optionally, a failure rate over a sliding window of the last `window_size` calls trips it too.
//! * **Open**: calls are refused at once with [`CircuitBreakerOpenError`], without being made.
//! * **Half-open**: at most `half_open_max_calls` probe calls are in flight at once; after
//!   `success_threshold` successes the breaker closes, after any failure it opens again.
//!
//! Operators also have [`CircuitBreaker::reset`], [`CircuitBreaker::force_open`] and
//! [`CircuitBreaker::disable`].
//!
//! # How it works
//!
//! State, generation and counters live in one `AtomicU64`, so admission and recording are
//! lock-free: a closed-state success is one load, one `fetch_add` on the sliding window, and no
//! clock read or allocation. Transitions take a mutex so that their side effects (deadline, window
//! reset, events) are applied in order. Every transition increments the generation; a
//! [`Permit`] remembers the generation it was admitted in, and its result is ignored once the
//! breaker has moved on, so a slow call admitted before a trip cannot count in the next state.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use crate::clock;
use crate::config::{self, BreakerKey, BreakerOverrides, BreakerSettings, Env};
use crate::error::{CircuitBreakerOpenError, ConfigError};
use crate::events::{self, Hub, StateChange};
use crate::name::Name;

// ---------------------------------------------------------------------------------------------
// The state word
//
//   bits 0..3    state (CircuitState as u8)
//   bits 3..32   closed: consecutive failures; open: the failure count that opened it
//                half-open: in-flight probes (bits 3..17) and successes (bits 17..32)
//   bits 32..64  generation, incremented by every transition
// ---------------------------------------------------------------------------------------------

const STATE_MASK: u64 = 0b111;
const COUNT_SHIFT: u32 = 3;
const COUNT_MAX: u64 = (1 << 29) - 1;
const COUNT_MASK: u64 = COUNT_MAX << COUNT_SHIFT;
const IN_FLIGHT_MAX: u64 = (1 << 14) - 1;
const SUCCESS_SHIFT: u32 = 17;
const SUCCESS_MAX: u64 = (1 << 15) - 1;
const GEN_SHIFT: u32 = 32;
/// The part of the word a permit is stamped with: generation and state.
const STAMP_MASK: u64 = !COUNT_MASK;

const _: () = assert!(config::MAX_HALF_OPEN_CALLS as u64 <= IN_FLIGHT_MAX);
const _: () = assert!(config::MAX_HALF_OPEN_CALLS as u64 <= SUCCESS_MAX);
const _: () = assert!(config::MAX_FAILURE_THRESHOLD as u64 <= COUNT_MAX);

/// Closed or disabled: every call is admitted. A mask compare, for the hot path.
#[inline]
fn admits_all(word: u64) -> bool {
    let state = word & STATE_MASK;
    state == CircuitState::Closed as u64 || state == CircuitState::Disabled as u64
}

fn state_of(word: u64) -> CircuitState {
    CircuitState::from_bits(word & STATE_MASK)
}

fn count_of(word: u64) -> u32 {
    ((word & COUNT_MASK) >> COUNT_SHIFT) as u32
}

fn with_count(word: u64, count: u64) -> u64 {
    (word & !COUNT_MASK) | (count.min(COUNT_MAX) << COUNT_SHIFT)
}

fn in_flight_of(word: u64) -> u64 {
    (word >> COUNT_SHIFT) & IN_FLIGHT_MAX
}

fn successes_of(word: u64) -> u64 {
    (word >> SUCCESS_SHIFT) & SUCCESS_MAX
}

fn half_open_word(word: u64, in_flight: u64, successes: u64) -> u64 {
    (word & !COUNT_MASK) | (in_flight << COUNT_SHIFT) | (successes << SUCCESS_SHIFT)
}

/// The word after a transition to `to`: next generation, counts cleared (or `count`).
fn next_word(word: u64, to: CircuitState, count: u64) -> u64 {
    let generation = (word >> GEN_SHIFT).wrapping_add(1);
    (generation << GEN_SHIFT) | (count.min(COUNT_MAX) << COUNT_SHIFT) | to as u64
}

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[repr(u8)]
pub enum CircuitState {
    /// Normal operation: calls pass, failures are counted.
    Closed = 0,
    /// Tripped: calls are refused until `recovery_timeout` has passed.
    Open = 1,
    /// Testing recovery: a limited number of probe calls pass.
    HalfOpen = 2,
    /// Opened by an operator: calls are refused until [`CircuitBreaker::reset`].
    ForcedOpen = 3,
    /// Switched off by an operator: every call passes and is still counted in the metrics.
    Disabled = 4,
}

impl CircuitState {
    fn from_bits(bits: u64) -> Self {
        match bits {
            0 => CircuitState::Closed,
            1 => CircuitState::Open,
            2 => CircuitState::HalfOpen,
            3 => CircuitState::ForcedOpen,
            _ => CircuitState::Disabled,
        }
    }

    /// The guide's name for the state: `closed`, `open`, `half_open`, `forced_open`, `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
            CircuitState::ForcedOpen => "forced_open",
            CircuitState::Disabled => "disabled",
        }
    }

    /// Whether calls are refused in this state (`Open` or `ForcedOpen`).
    pub fn is_open(self) -> bool {
        matches!(self, CircuitState::Open | CircuitState::ForcedOpen)
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// The resolved, validated settings of one circuit breaker.
///
/// Made by [`CircuitBreakerBuilder`]; read it back with [`CircuitBreaker::config`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CircuitBreakerConfig {
    /// Consecutive failures that open a closed breaker. Default 5.
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before it lets probes through. Default 60 s.
    pub recovery_timeout: Duration,
    /// How many probe calls a half-open breaker lets run at once. Default 3.
    pub half_open_max_calls: u32,
    /// Successful probes that close a half-open breaker. Default 2.
    pub success_threshold: u32,
    /// How many of the latest calls the sliding window keeps (for `total_calls`, `error_rate`
    /// and the failure-rate rule). Default 100.
    pub window_size: u32,
    /// Calls the window must hold before the failure-rate rule may fire. Default 20.
    pub minimum_calls: u32,
    /// The failure-rate rule: open when the window's error rate reaches this (0.0 exclusive to
    /// 1.0 inclusive). `None` (the default) turns the rule off.
    pub failure_rate_threshold: Option<f64>,
}

impl Default for CircuitBreakerConfig {
    /// The built-in defaults (the guide's production tuning), ignoring the environment.
    fn default() -> Self {
        let b = BreakerSettings::BUILT_IN;
        Self {
            failure_threshold: b.failure_threshold,
            recovery_timeout: b.recovery_timeout,
            half_open_max_calls: b.half_open_max_calls,
            success_threshold: b.success_threshold,
            window_size: Self::DEFAULT_WINDOW_SIZE,
            minimum_calls: Self::DEFAULT_MINIMUM_CALLS,
            failure_rate_threshold: None,
        }
    }
}

impl CircuitBreakerConfig {
    const DEFAULT_WINDOW_SIZE: u32 = 100;
    const DEFAULT_MINIMUM_CALLS: u32 = 20;

    /// Checks every rule. `source` names the environment variable a setting's value came
    /// from, if it came from one, so that the error points at the variable.
    fn validate(
        &self,
        context: &str,
        source: impl Fn(&'static str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let err =
            |setting, value, reason| config::invalid(&source, context, setting, value, reason);
        let at_least_one = |setting, value: u32| match value {
            0 => Err(err(setting, "0".into(), "must be at least 1".into())),
            _ => Ok(()),
        };
        let at_most = |setting, value: u32, max: u32, why: &str| match value > max {
            true => Err(err(
                setting,
                value.to_string(),
                format!("must be at most {max}{why}"),
            )),
            false => Ok(()),
        };
        at_least_one("failure_threshold", self.failure_threshold)?;
        at_most(
            "failure_threshold",
            self.failure_threshold,
            config::MAX_FAILURE_THRESHOLD,
            "",
        )?;
        if self.recovery_timeout.is_zero() {
            let reason = "must be greater than zero".into();
            return Err(err("recovery_timeout", "0s".into(), reason));
        }
        if self.recovery_timeout > config::MAX_DURATION {
            let value = format!("{:?}", self.recovery_timeout);
            return Err(err(
                "recovery_timeout",
                value,
                "must be at most 365 days".into(),
            ));
        }
        at_least_one("half_open_max_calls", self.half_open_max_calls)?;
        at_most(
            "half_open_max_calls",
            self.half_open_max_calls,
            config::MAX_HALF_OPEN_CALLS,
            "",
        )?;
        at_least_one("success_threshold", self.success_threshold)?;
        if self.success_threshold > self.half_open_max_calls {
            let (success, probes) = (self.success_threshold, self.half_open_max_calls);
            return Err(config::invalid_pair(
                &source,
                context,
                [
                    (
                        "success_threshold",
                        success.to_string(),
                        format!(
                            "must be at most {probes} (half_open_max_calls), or the circuit \
                             could never close"
                        ),
                    ),
                    (
                        "half_open_max_calls",
                        probes.to_string(),
                        format!(
                            "must be at least {success} (success_threshold), or the circuit \
                             could never close"
                        ),
                    ),
                ],
            ));
        }
        at_least_one("window_size", self.window_size)?;
        at_most("window_size", self.window_size, config::MAX_WINDOW_SIZE, "")?;
        at_least_one("minimum_calls", self.minimum_calls)?;
        at_most(
            "minimum_calls",
            self.minimum_calls,
            self.window_size,
            " (window_size), or the failure-rate rule could never fire",
        )?;
        match self.failure_rate_threshold {
            Some(rate) if !(rate > 0.0 && rate <= 1.0) => Err(err(
                "failure_rate_threshold",
                rate.to_string(),
                "must be greater than 0.0 and at most 1.0".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Builds a [`CircuitBreaker`]: every setting is optional.
///
/// Where a setting comes from, highest first: the per-breaker environment variable
/// `CIRCUIT_BREAKER_<NAME>_<KEY>`, the value set on this builder, the global environment variable
/// (`CIRCUIT_BREAKER_FAILURE_THRESHOLD`, ...), the built-in default. See [`crate::config`].
///
/// ```
/// use std::time::Duration;
/// use resilience::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("zoho_mcp")
///     .failure_threshold(5)
///     .recovery_timeout(Duration::from_secs(60))
///     .half_open_max_calls(3)
///     .success_threshold(2)
///     .build()?;
/// assert_eq!(breaker.name(), "zoho_mcp");
/// # Ok::<(), resilience::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct CircuitBreakerBuilder {
    name: Cow<'static, str>,
    failure_threshold: Option<u32>,
    recovery_timeout: Option<Duration>,
    half_open_max_calls: Option<u32>,
    success_threshold: Option<u32>,
    window_size: Option<u32>,
    minimum_calls: Option<u32>,
    failure_rate_threshold: Option<f64>,
    read_env: bool,
}

impl CircuitBreakerBuilder {
    fn new(name: Cow<'static, str>) -> Self {
        Self {
            name,
            failure_threshold: None,
            recovery_timeout: None,
            half_open_max_calls: None,
            success_threshold: None,
            window_size: None,
            minimum_calls: None,
            failure_rate_threshold: None,
            read_env: true,
        }
    }

    /// The breaker's name, as given to [`CircuitBreaker::builder`].
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn into_name(self) -> Cow<'static, str> {
        self.name
    }

    /// Consecutive failures that open the breaker (at least 1). Default 5.
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = Some(n);
        self
    }

    /// How long the breaker stays open before probing (greater than zero). Default 60 s.
    pub fn recovery_timeout(mut self, d: Duration) -> Self {
        self.recovery_timeout = Some(d);
        self
    }

    /// Probe calls allowed in flight at once while half-open (at least 1). Default 3.
    pub fn half_open_max_calls(mut self, n: u32) -> Self {
        self.half_open_max_calls = Some(n);
        self
    }

    /// Successful probes that close the breaker (1 to `half_open_max_calls`). Default 2.
    pub fn success_threshold(mut self, n: u32) -> Self {
        self.success_threshold = Some(n);
        self
    }

    /// Size of the sliding window of latest calls behind `total_calls`, `error_rate` and the
    /// failure-rate rule (1 to 10 000). Default 100.
    pub fn window_size(mut self, n: u32) -> Self {
        self.window_size = Some(n);
        self
    }

    /// Calls the window must hold before the failure-rate rule may fire (1 to `window_size`).
    /// Default 20.
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.minimum_calls = Some(n);
        self
    }

    /// Turns on the failure-rate rule: the breaker also opens when the error rate over the
    /// window reaches `rate` (greater than 0.0, at most 1.0) with at least `minimum_calls` calls
    /// in the window.
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.failure_rate_threshold = Some(rate);
        self
    }

    fn tuning(self, failure: u32, recovery_secs: u64, half_open: u32, success: u32) -> Self {
        self.failure_threshold(failure)
            .recovery_timeout(Duration::from_secs(recovery_secs))
            .half_open_max_calls(half_open)
            .success_threshold(success)
    }

    /// The guide's aggressive tuning (fast failure detection): failure_threshold 3,
    /// recovery_timeout 30 s, half_open_max_calls 2, success_threshold 2.
    pub fn aggressive(self) -> Self {
        self.tuning(3, 30, 2, 2)
    }

    /// The guide's conservative tuning (tolerant of transients): failure_threshold 10,
    /// recovery_timeout 120 s, half_open_max_calls 5, success_threshold 3.
    pub fn conservative(self) -> Self {
        self.tuning(10, 120, 5, 3)
    }

    /// The guide's production recommendation, the built-in defaults written out:
    /// failure_threshold 5, recovery_timeout 60 s, half_open_max_calls 3, success_threshold 2.
    pub fn production(self) -> Self {
        self.tuning(5, 60, 3, 2)
    }

    /// Ignores the environment: only the values set here and the built-in defaults count.
    pub fn ignore_env(mut self) -> Self {
        self.read_env = false;
        self
    }

    /// Resolves and validates the settings, reading the process environment (unless
    /// [`ignore_env`](Self::ignore_env) was called), and builds the breaker.
    ///
    /// An environment variable that does not parse, or whose value makes the configuration
    /// unworkable, is logged at error level and ignored: the breaker is built from the code's
    /// values and the defaults. Call [`crate::init`] at start-up to fail fast on such variables
    /// instead. An invalid value set in code is an error.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        self.build_in(None)
    }

    /// Like [`build`](Self::build), but reads the variables through `lookup` instead of the
    /// process environment (global variables included): for tests, or another source of
    /// configuration.
    ///
    /// ```
    /// use resilience::CircuitBreaker;
    ///
    /// let env = |var: &str| {
    ///     (var == "CIRCUIT_BREAKER_TIER1_MCP_FAILURE_THRESHOLD").then(|| "8".to_string())
    /// };
    /// let breaker = CircuitBreaker::builder("tier1_mcp")
    ///     .failure_threshold(5)
    ///     .build_with_env(env)?;
    /// assert_eq!(breaker.config().failure_threshold, 8); // the per-breaker variable wins
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn build_with_env(
        self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<CircuitBreaker, ConfigError> {
        let config = self.resolve_with(Env::Lookup(&lookup))?;
        Ok(CircuitBreaker::from_parts(self.name.into(), config, None))
    }

    pub(crate) fn build_in(self, parent: Option<Arc<Hub>>) -> Result<CircuitBreaker, ConfigError> {
        let config = self.resolve()?;
        Ok(CircuitBreaker::from_parts(self.name.into(), config, parent))
    }

    /// The resolved configuration, from the process environment.
    pub(crate) fn resolve(&self) -> Result<CircuitBreakerConfig, ConfigError> {
        self.resolve_with(Env::Process)
    }

    /// Applies the precedence rule.
    fn resolve_with(&self, env: Env<'_>) -> Result<CircuitBreakerConfig, ConfigError> {
        if let Err(reason) = config::validate_name(&self.name) {
            return Err(ConfigError::InvalidSetting {
                setting: "name",
                value: format!("{:?}", self.name),
                reason,
                context: String::new(),
            });
        }
        let context = format!("circuit breaker '{}'", self.name);
        let code_only = self.apply(&BreakerSettings::BUILT_IN, &BreakerOverrides::default());
        if !self.read_env {
            code_only.validate(&context, |_| None)?;
            return Ok(code_only);
        }
        let (lookup, globals, mut problems) = env.globals();
        let (overrides, errors) = BreakerOverrides::from_lookup_lenient(&self.name, lookup);
        problems.extend(errors);
        let resolved = self.apply(&globals.breaker, &overrides);
        // Name the variable a value came from, so that an error points at it.
        let source = |setting: &'static str| -> Option<String> {
            let key = BreakerKey::ALL
                .into_iter()
                .find(|k| k.setting() == setting)?;
            if overridden(&overrides, key) {
                Some(key.breaker_var(&self.name))
            } else if self.code_value(key).is_none() && lookup(key.global_var()).is_some() {
                Some(key.global_var().to_owned())
            } else {
                None
            }
        };
        config::prefer_env(
            &context,
            problems,
            (resolved, code_only),
            |c, source| c.validate(&context, source),
            source,
        )
    }

    /// Whether a value for `key` was set on this builder.
    fn code_value(&self, key: BreakerKey) -> Option<()> {
        match key {
            BreakerKey::FailureThreshold => self.failure_threshold.map(drop),
            BreakerKey::RecoveryTimeout => self.recovery_timeout.map(drop),
            BreakerKey::HalfOpenCalls => self.half_open_max_calls.map(drop),
            BreakerKey::SuccessThreshold => self.success_threshold.map(drop),
        }
    }

    fn apply(&self, globals: &BreakerSettings, env: &BreakerOverrides) -> CircuitBreakerConfig {
        let window_size = self
            .window_size
            .unwrap_or(CircuitBreakerConfig::DEFAULT_WINDOW_SIZE);
        CircuitBreakerConfig {
            failure_threshold: env
                .failure_threshold
                .or(self.failure_threshold)
                .unwrap_or(globals.failure_threshold),
            recovery_timeout: env
                .recovery_timeout
                .or(self.recovery_timeout)
                .unwrap_or(globals.recovery_timeout),
            half_open_max_calls: env
                .half_open_max_calls
                .or(self.half_open_max_calls)
                .unwrap_or(globals.half_open_max_calls),
            success_threshold: env
                .success_threshold
                .or(self.success_threshold)
                .unwrap_or(globals.success_threshold),
            window_size,
            minimum_calls: self
                .minimum_calls
                .unwrap_or(CircuitBreakerConfig::DEFAULT_MINIMUM_CALLS.min(window_size)),
            failure_rate_threshold: self.failure_rate_threshold,
        }
    }
}

fn overridden(env: &BreakerOverrides, key: BreakerKey) -> bool {
    match key {
        BreakerKey::FailureThreshold => env.failure_threshold.is_some(),
        BreakerKey::RecoveryTimeout => env.recovery_timeout.is_some(),
        BreakerKey::HalfOpenCalls => env.half_open_max_calls.is_some(),
        BreakerKey::SuccessThreshold => env.success_threshold.is_some(),
    }
}

// ---------------------------------------------------------------------------------------------
// Sliding window
// ---------------------------------------------------------------------------------------------

/// The outcomes of the latest `size` calls, written lock-free.
///
/// Each call takes the next slot with one `fetch_add` on a cursor (the breaker's
/// `window_cursor`, kept away from the fields every call reads). A slot is a nibble, sixteen
/// to a word: written (1 bit), the window's epoch when written (2 bits), failed (1 bit).
///
/// The `tally` word holds the epoch (bits 62..64) and how many slots of that epoch are written
/// (bits 32..62) and failed (bits 0..32), kept by the writers whose write changes a slot. When
/// the tally shows a full window without a failure, a success changes nothing the window
/// reports (it would replace a success with a success), so it writes nothing at all, the
/// cursor included: a healthy breaker's calls share no written cache line. The writer of the
/// last slot re-counts the tally from the slots when nothing moved meanwhile, so that a count
/// thrown off by a result racing a reset does not last.
///
/// Clearing (on every transition to closed) zeroes the slots and moves the epoch on; a recorder
/// reads the epoch *before* it checks that its permit is still current, so a result that races
/// a transition carries the old epoch and is not counted in the new state.
#[repr(C)]
struct Window {
    tally: AtomicU64,
    /// `u64::MAX / size + 1`, for a division-free `% size` (Lemire's fastmod).
    fastmod: u64,
    slots: Box<[AtomicU64]>,
    size: u32,
}

const SLOTS_PER_WORD: usize = 16;
const SLOT_WRITTEN: u64 = 0b1000;
const TALLY_EPOCH_SHIFT: u32 = 62;
const TALLY_WRITTEN_SHIFT: u32 = 32;

impl Window {
    fn new(size: u32) -> Self {
        let size = size.max(1);
        let words = (size as usize).div_ceil(SLOTS_PER_WORD);
        Self {
            size,
            fastmod: (u64::MAX / u64::from(size)).wrapping_add(1),
            tally: AtomicU64::new(0),
            slots: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    #[inline]
    fn slot(&self, index: u64) -> usize {
        let low = self.fastmod.wrapping_mul(u64::from(index as u32));
        ((u128::from(low) * u128::from(self.size)) >> 64) as usize
    }

    /// The tally, read before checking that the permit is current (its epoch is the one to
    /// record under).
    #[inline]
    fn tally(&self) -> u64 {
        self.tally.load(Ordering::Acquire)
    }

    /// Whether `tally` shows a full window without a failure: a success changes nothing.
    #[inline]
    fn all_succeeded(&self, tally: u64) -> bool {
        tally & !(0b11 << TALLY_EPOCH_SHIFT) == u64::from(self.size) << TALLY_WRITTEN_SHIFT
    }

    /// Writes the outcome of call number `index` (from the cursor) under `tally`'s epoch.
    #[inline]
    fn record(&self, index: u64, tally: u64, failed: bool) {
        let epoch = tally >> TALLY_EPOCH_SHIFT;
        let slot = self.slot(index);
        let word = &self.slots[slot / SLOTS_PER_WORD];
        let shift = (slot % SLOTS_PER_WORD) * 4;
        let nibble = (SLOT_WRITTEN | epoch << 1 | u64::from(failed)) << shift;
        let mask = 0b1111 << shift;
        let mut current = word.load(Ordering::Relaxed);
        while current & mask != nibble {
            let next = (current & !mask) | nibble;
            match word.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    self.count((current & mask) >> shift, epoch, failed);
                    break;
                }
                Err(actual) => current = actual,
            }
        }
        if slot + 1 == self.size as usize {
            self.recount(epoch);
        }
    }

    /// Moves the tally from a slot that held `old` to one that holds this epoch's outcome.
    #[cold]
    fn count(&self, old: u64, epoch: u64, failed: bool) {
        let was_written = old & SLOT_WRITTEN != 0 && (old >> 1) & 0b11 == epoch;
        let was_failed = was_written && old & 1 == 1;
        let mut tally = self.tally.load(Ordering::Relaxed);
        loop {
            if tally >> TALLY_EPOCH_SHIFT != epoch {
                return; // cleared meanwhile: this slot is not counted in the new epoch
            }
            let mut next = tally;
            if !was_written {
                next += 1 << TALLY_WRITTEN_SHIFT;
            }
            match (was_failed, failed) {
                (false, true) => next += 1,
                // Never below zero, even with a count a race threw off (the recount mends it).
                (true, false) if next & u64::from(u32::MAX) > 0 => next -= 1,
                _ => {}
            }
            match self.tally.compare_exchange_weak(
                tally,
                next,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => tally = actual,
            }
        }
    }

    /// Sets the tally to what the slots hold, unless a writer moved it meanwhile.
    #[cold]
    fn recount(&self, epoch: u64) {
        let tally = self.tally.load(Ordering::Acquire);
        if tally >> TALLY_EPOCH_SHIFT != epoch {
            return;
        }
        let (written, failed) = self.count_slots(epoch);
        let counted = epoch << TALLY_EPOCH_SHIFT
            | u64::from(written) << TALLY_WRITTEN_SHIFT
            | u64::from(failed);
        // Fails if a writer counted meanwhile: the next pass will do.
        let _ = self
            .tally
            .compare_exchange(tally, counted, Ordering::Release, Ordering::Relaxed);
    }

    /// (slots written in `epoch`, failed among them).
    fn count_slots(&self, epoch: u64) -> (u32, u32) {
        const NIBBLE_LOW: u64 = 0x1111_1111_1111_1111;
        let wanted = (SLOT_WRITTEN | epoch << 1) * NIBBLE_LOW;
        let (mut total, mut failures) = (0, 0);
        for word in self.slots.iter() {
            let bits = word.load(Ordering::Relaxed);
            // Per nibble: 0 where written and epoch match (the failed bit left out)...
            let differ = (bits ^ wanted) & (0b1110 * NIBBLE_LOW);
            // ...folded onto the nibble's low bit, and inverted: 1 for a slot of this epoch.
            let matching = !(differ >> 1 | differ >> 2 | differ >> 3) & NIBBLE_LOW;
            total += matching.count_ones();
            failures += (matching & bits).count_ones();
        }
        (total, failures)
    }

    /// (calls in the window, failures among them), counting only the current epoch's slots.
    fn snapshot(&self) -> (u32, u32) {
        self.count_slots(self.tally() >> TALLY_EPOCH_SHIFT)
    }

    /// Empties the window. Called with the transition lock held.
    fn clear(&self) {
        let epoch = self.tally() >> TALLY_EPOCH_SHIFT;
        for word in self.slots.iter() {
            word.store(0, Ordering::Relaxed);
        }
        self.tally
            .store(((epoch + 1) & 0b11) << TALLY_EPOCH_SHIFT, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------------------------
// The breaker
// ---------------------------------------------------------------------------------------------

/// A circuit breaker: refuses calls to a failing dependency until it has had time to recover.
///
/// Share it by reference or `Arc`, or by name through the [registry](crate::registry()). All
/// methods take `&self` and are safe to call from many tasks at once.
///
/// # Time
///
/// The recovery timeout is timed on [`tokio::time::Instant`]. On Linux and Android, rejections
/// while open read the kernel's coarse monotonic clock first (a few nanoseconds, at most one
/// tick behind) and skip the full clock read while it shows the deadline more than 20 ms away;
/// failures stamp `last_failure_time` on it. With the `test-util` feature every check reads
/// tokio's clock, so `tokio::time::pause` and `advance` drive the breaker in tests; without it,
/// an open period that starts while tokio's clock is paused is still timed on tokio's clock.
///
/// ```
/// use resilience::{CircuitBreaker, CallError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), resilience::ConfigError> {
/// let breaker = CircuitBreaker::builder("zoho_mcp").failure_threshold(2).build()?;
/// for _ in 0..2 {
///     let r: Result<(), _> = breaker.call(|| async { Err::<(), _>("timeout") }).await;
///     assert!(matches!(r, Err(CallError::Failed("timeout"))));
/// }
/// // Open now: the operation is not called.
/// let r = breaker.call(|| async { Ok::<_, &str>("never runs") }).await;
/// assert!(matches!(r, Err(CallError::Rejected(_))));
/// # Ok(())
/// # }
/// ```
// `repr(C)` for the layout: the fields every call reads come first, the window's cursor (written
// by every call) last, behind the cold fields, so that it never shares a cache line with them.
#[repr(C)]
pub struct CircuitBreaker {
    word: AtomicU64,
    window: Window,
    /// When an open breaker may let probes through: a [`clock::deadline`].
    open_until: AtomicU64,
    /// When the last failure was recorded: a [`clock::stamp`] (0 = never).
    last_failure: AtomicU64,
    /// Serializes transitions and their side effects; never taken on the call path.
    transitions: Mutex<()>,
    name: Name,
    config: CircuitBreakerConfig,
    hub: Hub,
    parent_hub: Option<Arc<Hub>>,
    /// The sliding window's cursor: the number of calls recorded.
    window_cursor: AtomicU64,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// Starts building a breaker named `name` (ASCII letters, digits and `_`, so that its
    /// environment variables `CIRCUIT_BREAKER_<NAME>_<KEY>` exist).
    ///
    /// A name written in the code (`&'static str`) is kept as it is: rejections carry it
    /// without touching a reference count. Pass a `String` for a name built at run time
    /// (`name.to_owned()` for a borrowed one).
    pub fn builder(name: impl Into<Cow<'static, str>>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new(name.into())
    }

    pub(crate) fn from_parts(
        name: Name,
        config: CircuitBreakerConfig,
        parent_hub: Option<Arc<Hub>>,
    ) -> Self {
        Self {
            word: AtomicU64::new(CircuitState::Closed as u64),
            window: Window::new(config.window_size),
            open_until: AtomicU64::new(0),
            last_failure: AtomicU64::new(0),
            transitions: Mutex::new(()),
            name,
            config,
            hub: Hub::default(),
            parent_hub,
            window_cursor: AtomicU64::new(0),
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The settings the breaker runs with.
    pub fn config(&self) -> &CircuitBreakerConfig {
        &self.config
    }

    /// The current state. An open breaker whose recovery timeout has passed still reports
    /// `Open` until the next call moves it to `HalfOpen`.
    pub fn state(&self) -> CircuitState {
        state_of(self.word.load(Ordering::Acquire))
    }

    /// Asks to make a call. On success the returned [`Permit`] must be given the call's outcome
    /// ([`Permit::record_success`], [`Permit::record_failure`], [`Permit::record`]); a permit
    /// dropped without one (cancelled future, panic) counts as neither and frees its half-open
    /// slot.
    ///
    /// Fails with [`CircuitBreakerOpenError`], without calling anything, when the breaker is
    /// open, forced open, or half-open with every probe slot taken.
    ///
    /// ```
    /// use resilience::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("tier2_sdk").build()?;
    /// let permit = breaker.try_acquire().expect("closed breakers admit");
    /// let outcome: Result<u32, std::io::Error> = Ok(42); // the call
    /// permit.record(&outcome);
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, CircuitBreakerOpenError> {
        self.admit().map(|word| Admission::new(self, word))
    }

    /// Like [`try_acquire`](Self::try_acquire), for a permit that owns a handle to the breaker
    /// and can outlive a borrow of it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience::CircuitBreaker;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), resilience::ConfigError> {
    /// let breaker = Arc::new(CircuitBreaker::builder("tier1_mcp").build()?);
    /// let permit = breaker.try_acquire_owned().expect("closed breakers admit");
    /// let task = tokio::spawn(async move {
    ///     let outcome: Result<u32, String> = Ok(1); // the call, on another task
    ///     permit.record(&outcome);
    /// });
    /// task.await.unwrap();
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn try_acquire_owned(self: &Arc<Self>) -> Result<OwnedPermit, CircuitBreakerOpenError> {
        self.admit()
            .map(|word| Admission::new(Arc::clone(self), word))
    }

    /// Admission: the state word the call is admitted under, or the rejection.
    #[inline]
    fn admit(&self) -> Result<u64, CircuitBreakerOpenError> {
        let word = self.word.load(Ordering::Acquire);
        if admits_all(word) {
            return Ok(word);
        }
        // The error is built here, from the slow path's 16-byte answer (returned in
        // registers): a 40-byte result written by the callee and copied by the caller stalls
        // on the store buffer.
        self.acquire_slow(word)
            .map_err(|refusal| CircuitBreakerOpenError {
                circuit_name: self.name.clone(),
                retry_after: refusal.retry_after(),
            })
    }

    /// Not closed: the common rejection first (open, the deadline far on the coarse clock),
    /// in a function small enough to save few registers; everything else out of line.
    #[inline(never)]
    fn acquire_slow(&self, word: u64) -> Result<u64, Refusal> {
        if word & STATE_MASK == CircuitState::Open as u64 {
            let deadline = self.open_until.load(Ordering::Acquire);
            if let Some(wait) = clock::certainly_before(deadline) {
                // To a coarse tick: never more than a whole timeout.
                let wait = wait.min(clock::nanos(self.config.recovery_timeout));
                return Err(self.reject(CircuitState::Open, Some(wait)));
            }
        }
        self.acquire_rest(word)
    }

    #[cold]
    fn acquire_rest(&self, mut word: u64) -> Result<u64, Refusal> {
        loop {
            match state_of(word) {
                CircuitState::Closed | CircuitState::Disabled => return Ok(word),
                CircuitState::ForcedOpen => return Err(self.reject(CircuitState::ForcedOpen, None)),
                CircuitState::Open => {
                    let deadline = clock::precise(self.open_until.load(Ordering::Acquire));
                    let now = clock::now();
                    if now < deadline {
                        return Err(self.reject(CircuitState::Open, Some(deadline - now)));
                    }
                    self.transition_from(word, CircuitState::HalfOpen, 0);
                    word = self.word.load(Ordering::Acquire);
                }
                CircuitState::HalfOpen => {
                    let in_flight = in_flight_of(word);
                    if in_flight >= u64::from(self.config.half_open_max_calls) {
                        return Err(self.reject(CircuitState::HalfOpen, Some(0)));
                    }
                    let next = half_open_word(word, in_flight + 1, successes_of(word));
                    match self.word.compare_exchange_weak(
                        word,
                        next,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Ok(next),
                        Err(actual) => word = actual,
                    }
                }
            }
        }
    }

    /// Tells the world about a refused call (in `state`, to retry after `retry_after`
    /// nanoseconds).
    #[inline]
    fn reject(&self, state: CircuitState, retry_after: Option<u64>) -> Refusal {
        events::call_rejected(&self.name, state);
        Refusal::new(retry_after)
    }

    /// Runs `operation` through the breaker: refuses it when the breaker is open, and records
    /// its outcome (every `Err` is a failure) otherwise.
    ///
    /// If the returned future is dropped before the operation finishes, nothing is recorded
    /// and any half-open slot is freed.
    pub async fn call<T, E, F, Fut>(&self, operation: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(|_| true, operation).await
    }

    /// Like [`call`](Self::call), but only the errors for which `is_failure` returns `true`
    /// count as failures; the others count as successes (the dependency answered), and are
    /// still returned.
    ///
    /// ```
    /// use resilience::{CircuitBreaker, CallError};
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum ZohoError { NotFound, Unavailable }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), resilience::ConfigError> {
    /// let breaker = CircuitBreaker::builder("zoho_rest").failure_threshold(1).build()?;
    /// let is_failure = |e: &ZohoError| *e == ZohoError::Unavailable;
    /// let r = breaker.call_with(is_failure, || async { Err::<(), _>(ZohoError::NotFound) }).await;
    /// assert!(matches!(r, Err(CallError::Failed(ZohoError::NotFound))));
    /// assert_eq!(breaker.state(), resilience::CircuitState::Closed); // a 404 is not an outage
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_with<T, E, F, Fut, P>(
        &self,
        is_failure: P,
        operation: F,
    ) -> Result<T, CallError<E>>
    where
        P: FnOnce(&E) -> bool,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire().map_err(CallError::Rejected)?;
        let result = operation().await;
        permit.record_with(&result, is_failure);
        result.map_err(CallError::Failed)
    }

    /// A success: the hot path. Closed (or disabled) with no failure counted and no transition
    /// since admission, the word equals the permit's stamp, and only the window is written; not
    /// even that when the window is full of successes.
    #[inline(always)]
    fn on_success(&self, stamp: u64) {
        // The window's tally (and epoch) first: if a transition lands after the check below,
        // the result is recorded under the old epoch and does not count in the new state.
        let tally = self.window.tally();
        let word = self.word.load(Ordering::Acquire);
        if word == stamp && admits_all(word) {
            if !self.window.all_succeeded(tally) {
                self.record_in_window(tally, false);
            }
        } else {
            self.on_outcome_with(tally, word, stamp, false);
        }
    }

    #[inline(always)]
    fn record_in_window(&self, tally: u64, failed: bool) {
        let index = self.window_cursor.fetch_add(1, Ordering::Relaxed);
        self.window.record(index, tally, failed);
    }

    fn on_outcome(&self, stamp: u64, failed: bool) {
        let tally = self.window.tally();
        let word = self.word.load(Ordering::Acquire);
        self.on_outcome_with(tally, word, stamp, failed);
    }

    /// Records an outcome; `tally` and `word` were read in that order (see `on_success`).
    #[inline(never)]
    fn on_outcome_with(&self, tally: u64, mut word: u64, stamp: u64, failed: bool) {
        if word & STAMP_MASK != stamp {
            return; // admitted before the last transition: does not count now
        }
        self.record_in_window(tally, failed);
        if failed {
            self.last_failure.store(clock::stamp(), Ordering::Relaxed);
        }
        loop {
            if word & STAMP_MASK != stamp {
                return;
            }
            // The word to store, or the transition to make; and the failure count to report.
            let (step, failures) = match (state_of(word), failed) {
                (CircuitState::Closed, false) if count_of(word) == 0 => return,
                (CircuitState::Closed, false) => (Ok(with_count(word, 0)), None),
                (CircuitState::Closed, true) => {
                    let failures = count_of(word) + 1;
                    let step = if failures >= self.config.failure_threshold {
                        Err((CircuitState::Open, failures))
                    } else if let Some(in_window) = self.failure_rate_tripped() {
                        Err((CircuitState::Open, in_window))
                    } else {
                        Ok(with_count(word, u64::from(failures)))
                    };
                    (step, Some((failures, self.config.failure_threshold)))
                }
                (CircuitState::HalfOpen, false) => {
                    let successes = successes_of(word) + 1;
                    if successes >= u64::from(self.config.success_threshold) {
                        (Err((CircuitState::Closed, 0)), None)
                    } else {
                        let in_flight = in_flight_of(word).saturating_sub(1);
                        (Ok(half_open_word(word, in_flight, successes)), None)
                    }
                }
                // Any failure of a probe reopens: one failure is the threshold here.
                (CircuitState::HalfOpen, true) => (Err((CircuitState::Open, 1)), Some((1, 1))),
                // Disabled: counted in the window only. Open states admit no permits.
                _ => return,
            };
            let done = match step {
                Ok(next) => self
                    .word
                    .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
                    .map_err(|actual| word = actual)
                    .is_ok(),
                Err((to, count)) => {
                    if let Some((failures, threshold)) = failures {
                        events::call_failed(&self.name, failures, threshold);
                    }
                    self.transition_from(word, to, count);
                    return;
                }
            };
            if done {
                if let Some((failures, threshold)) = failures {
                    events::call_failed(&self.name, failures, threshold);
                }
                return;
            }
        }
    }

    /// The window's failure count when the failure-rate rule fires now.
    fn failure_rate_tripped(&self) -> Option<u32> {
        let threshold = self.config.failure_rate_threshold?;
        let (total, failures) = self.window.snapshot();
        (total >= self.config.minimum_calls && f64::from(failures) >= threshold * f64::from(total))
            .then_some(failures)
    }

    fn on_abandon(&self, stamp: u64) {
        let mut word = self.word.load(Ordering::Acquire);
        while word & STAMP_MASK == stamp && state_of(word) == CircuitState::HalfOpen {
            let next = half_open_word(
                word,
                in_flight_of(word).saturating_sub(1),
                successes_of(word),
            );
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// Moves from the state stamped in `from` to `to`, unless another transition happened
    /// first (then the other one wins and this does nothing). Returns whether it moved.
    fn transition_from(&self, from: u64, to: CircuitState, failures: u32) -> bool {
        let _guard = self
            .transitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & STAMP_MASK != from & STAMP_MASK {
                return false;
            }
            if self.apply_transition(word, to, failures) {
                return true;
            }
            word = self.word.load(Ordering::Acquire);
        }
    }

    /// Moves to `to` from whatever state the breaker is in (operator controls).
    fn transition_any(&self, to: CircuitState) {
        let _guard = self
            .transitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            let word = self.word.load(Ordering::Acquire);
            if self.apply_transition(word, to, 0) {
                return;
            }
        }
    }

    /// With the transition lock held: CAS `word` to the first word of `to`, and on success apply
    /// the side effects and tell the world.
    /// `failures` is what opened it, for the event and the metrics of the open state.
    fn apply_transition(&self, word: u64, to: CircuitState, failures: u32) -> bool {
        let from = state_of(word);
        if to == CircuitState::Open {
            let deadline = clock::deadline(self.config.recovery_timeout);
            self.open_until.store(deadline, Ordering::Release);
        }
        let count = if to == CircuitState::Open {
            u64::from(failures)
        } else {
            0
        };
        if self
            .word
            .compare_exchange(
                word,
                next_word(word, to, count),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return false;
        }
        if to == CircuitState::Closed {
            self.window.clear();
        }
        if from != to {
            events::state_changed(&self.name, from, to, failures, self.config.recovery_timeout);
            let parent = self.parent_hub.as_deref();
            // Built only for a listener: a `'static` name becomes an `Arc<str>` here.
            if self.hub.listening() || parent.is_some_and(Hub::listening) {
                let change = StateChange {
                    circuit_breaker: self.name.to_arc(),
                    old_state: from,
                    new_state: to,
                    at: SystemTime::now(),
                };
                self.hub.publish(&change);
                if let Some(parent) = parent {
                    parent.publish(&change);
                }
            }
        }
        true
    }

    /// Closes the breaker and clears its counters and window (the guide's `reset()`). Calls in
    /// flight when it happens do not count afterwards.
    pub fn reset(&self) {
        self.transition_any(CircuitState::Closed);
    }

    /// Opens the breaker until [`reset`](Self::reset): every call is refused, whatever the
    /// recovery timeout.
    pub fn force_open(&self) {
        self.transition_any(CircuitState::ForcedOpen);
    }

    /// Switches the breaker off until [`reset`](Self::reset): every call is admitted and still
    /// counted in the metrics, and the breaker never opens.
    pub fn disable(&self) {
        self.transition_any(CircuitState::Disabled);
    }

    /// Lets an open breaker probe now instead of waiting out the rest of its recovery timeout
    /// (moves it to half-open). Does nothing in any other state; returns whether it moved.
    ///
    /// For a health check that has just seen the dependency answer again.
    pub fn try_half_open(&self) -> bool {
        let word = self.word.load(Ordering::Acquire);
        state_of(word) == CircuitState::Open
            && self.transition_from(word, CircuitState::HalfOpen, 0)
    }

    /// Receives every state change of this breaker from now on. See [`crate::events`].
    pub fn subscribe(&self) -> broadcast::Receiver<StateChange> {
        self.hub.subscribe()
    }

    /// A snapshot of the breaker's state and counters (the guide's metrics structure).
    ///
    /// ```
    /// use resilience::{CircuitBreaker, CircuitState};
    ///
    /// let breaker = CircuitBreaker::builder("tier3_rest").build()?;
    /// breaker.try_acquire().unwrap().record_failure();
    /// breaker.try_acquire().unwrap().record_success();
    /// let m = breaker.metrics();
    /// assert_eq!(m.state, CircuitState::Closed);
    /// assert_eq!(m.failure_count, 0); // a success clears the consecutive count
    /// assert_eq!(m.total_calls, 2);
    /// assert_eq!(m.error_rate, 0.5);
    /// assert!(m.last_failure_time.is_some());
    /// assert_eq!(m.time_until_retry, None);
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        let word = self.word.load(Ordering::Acquire);
        let state = state_of(word);
        let (total_calls, failures) = self.window.snapshot();
        let now = clock::now();
        let last_failure = self.last_failure.load(Ordering::Relaxed);
        Metrics {
            state,
            failure_count: match state {
                CircuitState::Closed | CircuitState::Open | CircuitState::Disabled => {
                    count_of(word)
                }
                CircuitState::HalfOpen | CircuitState::ForcedOpen => 0,
            },
            success_count: match state {
                CircuitState::HalfOpen => successes_of(word) as u32,
                _ => 0,
            },
            total_calls,
            error_rate: match total_calls {
                0 => 0.0,
                n => f64::from(failures) / f64::from(n),
            },
            last_failure_time: (last_failure != 0).then(|| clock::wall(last_failure)),
            time_until_retry: (state == CircuitState::Open).then(|| {
                let deadline = clock::precise(self.open_until.load(Ordering::Acquire));
                Duration::from_nanos(deadline.saturating_sub(now))
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Permits
// ---------------------------------------------------------------------------------------------

/// Leave to make one call through a [`CircuitBreaker`], from [`CircuitBreaker::try_acquire`].
///
/// Give it the call's outcome with one of its `record` methods. Dropping it without doing so
/// (the call was cancelled or panicked) records nothing and frees its half-open slot.
pub type Permit<'a> = Admission<&'a CircuitBreaker>;

/// A [`Permit`] that owns a handle to its breaker, from [`CircuitBreaker::try_acquire_owned`]:
/// for a call that outlives a borrow (a `tower` future, a spawned task).
pub type OwnedPermit = Admission<Arc<CircuitBreaker>>;

/// Leave to make one call, holding its breaker through `B` (a reference for [`Permit`], an
/// `Arc` for [`OwnedPermit`]).
#[must_use = "record the call's outcome with `record_success`, `record_failure` or `record`"]
#[derive(Debug)]
pub struct Admission<B: Deref<Target = CircuitBreaker>> {
    breaker: B,
    /// The state word it was admitted under, without the count; [`RECORDED`] once its outcome
    /// is recorded. (A flag beside it would make the permit 24 bytes, copied in pieces that
    /// stall the store buffer.)
    stamp: u64,
    /// When the call started, for the latency histogram (see [`crate::metrics`]).
    #[cfg(feature = "metrics")]
    timer: crate::metrics::CallTimer,
}

/// A refused call's `retry_after` in nanoseconds (`u64::MAX` for none): what the slow path of
/// admission returns, small enough for registers.
#[derive(Debug, Clone, Copy)]
struct Refusal(u64);

impl Refusal {
    fn new(retry_after: Option<u64>) -> Self {
        Refusal(retry_after.map_or(u64::MAX, |nanos| nanos.min(u64::MAX - 1)))
    }

    #[inline]
    fn retry_after(self) -> Option<Duration> {
        (self.0 != u64::MAX).then(|| Duration::from_nanos(self.0))
    }
}

/// The stamp of a permit whose outcome was recorded: no state has these bits.
const RECORDED: u64 = STATE_MASK;

impl<B: Deref<Target = CircuitBreaker>> Admission<B> {
    fn new(breaker: B, word: u64) -> Self {
        Self {
            breaker,
            stamp: word & STAMP_MASK,
            #[cfg(feature = "metrics")]
            timer: crate::metrics::CallTimer::start(),
        }
    }

    /// The state the call was admitted in.
    pub fn admitted_in(&self) -> CircuitState {
        state_of(self.stamp)
    }

    /// The call succeeded.
    #[inline(always)]
    pub fn record_success(mut self) {
        let stamp = std::mem::replace(&mut self.stamp, RECORDED);
        self.breaker.on_success(stamp);
        #[cfg(feature = "metrics")]
        self.timer.finish(&self.breaker.name, false);
    }

    /// The call failed.
    pub fn record_failure(mut self) {
        let stamp = std::mem::replace(&mut self.stamp, RECORDED);
        self.breaker.on_outcome(stamp, true);
        #[cfg(feature = "metrics")]
        self.timer.finish(&self.breaker.name, true);
    }

    /// Records `Ok` as a success and every `Err` as a failure.
    #[inline(always)]
    pub fn record<T, E>(self, result: &Result<T, E>) {
        self.record_with(result, |_| true);
    }

    /// Records `Ok` as a success, and an `Err` as a failure when `is_failure` says so (as a
    /// success otherwise: the dependency answered).
    #[inline(always)]
    pub fn record_with<T, E>(self, result: &Result<T, E>, is_failure: impl FnOnce(&E) -> bool) {
        match result {
            Err(e) if is_failure(e) => self.record_failure(),
            _ => self.record_success(),
        }
    }
}

impl<B: Deref<Target = CircuitBreaker>> Drop for Admission<B> {
    #[inline]
    fn drop(&mut self) {
        // Unrecorded (a recorded permit's stamp is `RECORDED`) and admitted half-open.
        if self.stamp & STATE_MASK == CircuitState::HalfOpen as u64 {
            self.breaker.on_abandon(self.stamp);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics and call errors
// ---------------------------------------------------------------------------------------------

/// A snapshot of one breaker: the guide's "Metrics Structure".
///
/// With the `serde` feature it serialises to the guide's JSON shape: `state` as `"closed"`,
/// `last_failure_time` as an RFC 3339 string, `time_until_retry` as `time_until_retry_seconds`, in
/// seconds or `null`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Metrics {
    /// The current state.
    pub state: CircuitState,
    /// Closed: consecutive failures so far. Open: the failures that opened it (consecutive, or in
    /// the window when the failure-rate rule fired). Otherwise 0.
    pub failure_count: u32,
    /// Half-open: successful probes so far. Otherwise 0.
    pub success_count: u32,
    /// Calls in the sliding window (since the breaker last closed, at most `window_size`).
    pub total_calls: u32,
    /// Share of failures among `total_calls`, from 0.0 to 1.0; 0.0 with no calls.
    pub error_rate: f64,
    /// When the last failure was recorded, by the wall clock (to the coarse clock's tick on Linux;
    /// see [`CircuitBreaker`]'s time section).
    #[cfg_attr(feature = "serde", serde(serialize_with = "events::ser::opt_rfc3339"))]
    pub last_failure_time: Option<SystemTime>,
    /// Open: how long until a call may probe (zero once due). Otherwise `None`.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "time_until_retry_seconds",
            serialize_with = "events::ser::opt_secs"
        )
    )]
    pub time_until_retry: Option<Duration>,
}

/// The error of [`CircuitBreaker::call`]: the breaker refused, or the operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker refused the call; the operation was not run.
    Rejected(CircuitBreakerOpenError),
    /// The operation ran and returned this error.
    Failed(E),
}

impl<E> CallError<E> {
    /// The operation's error, if it ran.
    pub fn into_failed(self) -> Option<E> {
        match self {
            CallError::Failed(e) => Some(e),
            CallError::Rejected(_) => None,
        }
    }

    /// The rejection, if the breaker refused.
    pub fn as_rejected(&self) -> Option<&CircuitBreakerOpenError> {
        match self {
            CallError::Rejected(e) => Some(e),
            CallError::Failed(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(e) => e.fmt(f),
            CallError::Failed(e) => e.fmt(f),
        }
    }
}

/// Transparent, like [`crate::Error`]: it shows the error it carries and returns that error's
/// `source()`, so that a report walking the chain prints each message once.
impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Rejected(e) => e.source(),
            CallError::Failed(e) => e.source(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally_counts(window: &Window) -> (u32, u32) {
        let tally = window.tally();
        let written = (tally >> TALLY_WRITTEN_SHIFT) & ((1 << 30) - 1);
        let failed = tally & ((1 << TALLY_WRITTEN_SHIFT) - 1);
        (written as u32, failed as u32)
    }

    /// Every slot change is counted once with the value it replaced, so once the writers stop,
    /// the tally is what the slots hold, whatever the interleaving.
    #[test]
    fn the_tally_matches_the_slots_after_concurrent_writers() {
        let breaker = CircuitBreaker::builder("unit_tally")
            .window_size(100)
            .ignore_env()
            .build()
            .unwrap();
        breaker.disable(); // counts in the window, never opens
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let breaker = &breaker;
                s.spawn(move || {
                    for i in 0..20_000u64 {
                        let permit = breaker.try_acquire().unwrap();
                        if (i * 7 + t) % 10 == 0 {
                            permit.record_failure();
                        } else {
                            permit.record_success();
                        }
                    }
                });
            }
        });
        let window = &breaker.window;
        let epoch = window.tally() >> TALLY_EPOCH_SHIFT;
        assert_eq!(tally_counts(window), window.count_slots(epoch));
        assert_eq!(tally_counts(window).0, 100);
        for _ in 0..100 {
            breaker.try_acquire().unwrap().record_success();
        }
        assert_eq!(tally_counts(window), (100, 0));
        assert!(window.all_succeeded(window.tally()));
        let m = breaker.metrics();
        assert_eq!((m.total_calls, m.error_rate), (100, 0.0));
    }

    /// Between recounts (the last slot's write), the tally moves by each slot's change alone.
    #[test]
    fn the_tally_follows_each_overwritten_slot() {
        let window = Window::new(20);
        for index in 0..20 {
            window.record(index, window.tally(), index % 3 == 0);
        }
        assert_eq!(tally_counts(&window), (20, 7)); // failures in slots 0, 3, ..., 18
        // (slot, failed, failures in the window after it)
        let next_lap = [
            (0, false, 6),
            (1, true, 7),
            (2, false, 7),
            (3, false, 6),
            (4, true, 7),
        ];
        for (slot, failed, failures) in next_lap {
            window.record(20 + slot, window.tally(), failed);
            assert_eq!(tally_counts(&window), (20, failures), "slot {slot}");
        }
        assert_eq!(window.count_slots(0), (20, 7));
    }

    /// A result racing a reset writes its slot under the old epoch: not counted now, and the
    /// slot counts as empty for the next writer.
    #[test]
    fn a_slot_of_an_older_epoch_is_not_counted() {
        let window = Window::new(20);
        let old = window.tally();
        window.record(0, old, true);
        window.clear();
        window.record(1, old, true); // stale: epoch 0 after the clear
        assert_eq!(tally_counts(&window), (0, 0));
        assert_eq!(window.count_slots(1), (0, 0));
        window.record(21, window.tally(), false); // slot 1 again, epoch 1
        assert_eq!(tally_counts(&window), (1, 0));
        assert_eq!(window.count_slots(1), (1, 0));
    }

    #[test]
    fn a_recount_sets_the_tally_from_the_slots_unless_it_moved() {
        let window = Window::new(20);
        for index in 0..5 {
            window.record(index, window.tally(), index % 2 == 0);
        }
        assert_eq!(tally_counts(&window), (5, 3));
        // Thrown off (as a result racing a reset could): a recount puts it right.
        window
            .tally
            .store(17 << TALLY_WRITTEN_SHIFT, Ordering::Relaxed);
        window.recount(0);
        assert_eq!(tally_counts(&window), (5, 3));
        // A recount for another epoch leaves it alone.
        window
            .tally
            .store(17 << TALLY_WRITTEN_SHIFT, Ordering::Relaxed);
        window.recount(1);
        assert_eq!(tally_counts(&window), (17, 0));
        // Writing the last slot recounts.
        window.record(19, window.tally(), false);
        assert_eq!(tally_counts(&window), (6, 3));
        window.clear();
        assert_eq!(window.tally() >> TALLY_EPOCH_SHIFT, 1);
        assert_eq!(tally_counts(&window), (0, 0));
        assert_eq!(window.count_slots(1), (0, 0));
    }
}
