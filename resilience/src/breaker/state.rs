//! The state word: state, counts and generation of a breaker in one `AtomicU64`, and
//! [`CircuitState`].

use super::*;

// ---------------------------------------------------------------------------------------------
// The state word
//
//   bits 0..3    state (CircuitState as u8)
//   bits 3..32   closed: consecutive failures; open: the failure count that opened it
//                half-open: in-flight probes (bits 3..17) and successes (bits 17..32)
//   bits 32..64  generation, incremented by every transition
// ---------------------------------------------------------------------------------------------

pub(super) const STATE_MASK: u64 = 0b111;
pub(super) const COUNT_SHIFT: u32 = 3;
pub(super) const COUNT_MAX: u64 = (1 << 29) - 1;
pub(super) const COUNT_MASK: u64 = COUNT_MAX << COUNT_SHIFT;
pub(super) const IN_FLIGHT_MAX: u64 = (1 << 14) - 1;
pub(super) const SUCCESS_SHIFT: u32 = 17;
pub(super) const SUCCESS_MAX: u64 = (1 << 15) - 1;
pub(super) const GEN_SHIFT: u32 = 32;
/// The part of the word a permit is stamped with: generation and state.
pub(super) const STAMP_MASK: u64 = !COUNT_MASK;

const _: () = assert!(config::MAX_HALF_OPEN_CALLS as u64 <= IN_FLIGHT_MAX);
const _: () = assert!(config::MAX_HALF_OPEN_CALLS as u64 <= SUCCESS_MAX);
const _: () = assert!(config::MAX_FAILURE_THRESHOLD as u64 <= COUNT_MAX);

/// Closed or disabled: every call is admitted. A mask compare, for the hot path.
#[inline]
pub(super) fn admits_all(word: u64) -> bool {
    let state = word & STATE_MASK;
    state == CircuitState::Closed as u64 || state == CircuitState::Disabled as u64
}

pub(super) fn state_of(word: u64) -> CircuitState {
    CircuitState::from_bits(word & STATE_MASK)
}

pub(super) fn count_of(word: u64) -> u32 {
    ((word & COUNT_MASK) >> COUNT_SHIFT) as u32
}

pub(super) fn with_count(word: u64, count: u64) -> u64 {
    (word & !COUNT_MASK) | (count.min(COUNT_MAX) << COUNT_SHIFT)
}

pub(super) fn in_flight_of(word: u64) -> u64 {
    (word >> COUNT_SHIFT) & IN_FLIGHT_MAX
}

pub(super) fn successes_of(word: u64) -> u64 {
    (word >> SUCCESS_SHIFT) & SUCCESS_MAX
}

pub(super) fn half_open_word(word: u64, in_flight: u64, successes: u64) -> u64 {
    (word & !COUNT_MASK) | (in_flight << COUNT_SHIFT) | (successes << SUCCESS_SHIFT)
}

/// The word after a transition to `to`: next generation, counts cleared (or `count`).
pub(super) fn next_word(word: u64, to: CircuitState, count: u64) -> u64 {
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
    pub(super) fn from_bits(bits: u64) -> Self {
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
