//! The state word: state, counts, the window's cursor and generation of a breaker in one
//! `AtomicU64`, and [`CircuitState`].

use super::*;

// ---------------------------------------------------------------------------------------------
// The state word
//
//   bits 0..3    state (CircuitState as u8)
//   bits 3..31   closed: consecutive failures; open: the failure count that opened it
//                half-open: in-flight probes (bits 3..17) and successes (bits 17..31)
//   bits 31..45  the window's cursor: the slot the next recorded call writes (0..window_size)
//   bits 45..64  generation, incremented by every transition (wrapping)
//
// A recorded call moves the cursor and its count in one CAS: the consecutive count and the
// window's place cost one locked instruction together, and a result's stamp check and its
// window slot are taken atomically (a result that loses to a transition takes no slot).
// ---------------------------------------------------------------------------------------------

pub(super) const STATE_MASK: u64 = 0b111;
pub(super) const COUNT_SHIFT: u32 = 3;
pub(super) const COUNT_MAX: u64 = (1 << 28) - 1;
pub(super) const COUNT_MASK: u64 = COUNT_MAX << COUNT_SHIFT;
pub(super) const IN_FLIGHT_MAX: u64 = (1 << 14) - 1;
pub(super) const SUCCESS_SHIFT: u32 = 17;
pub(super) const SUCCESS_MAX: u64 = (1 << 14) - 1;
pub(super) const CURSOR_SHIFT: u32 = 31;
pub(super) const CURSOR_MAX: u64 = (1 << 14) - 1;
pub(super) const CURSOR_MASK: u64 = CURSOR_MAX << CURSOR_SHIFT;
pub(super) const GEN_SHIFT: u32 = 45;
/// The part of the word a permit is stamped with: generation and state.
pub(super) const STAMP_MASK: u64 = !(COUNT_MASK | CURSOR_MASK);

const _: () = assert!(config::MAX_HALF_OPEN_CALLS as u64 <= IN_FLIGHT_MAX);
const _: () = assert!(config::MAX_HALF_OPEN_CALLS as u64 <= SUCCESS_MAX);
const _: () = assert!(config::MAX_FAILURE_THRESHOLD as u64 <= COUNT_MAX);
const _: () = assert!((config::MAX_WINDOW_SIZE as u64) <= CURSOR_MAX + 1);
const _: () = assert!(SUCCESS_SHIFT + 14 == CURSOR_SHIFT && CURSOR_SHIFT + 14 == GEN_SHIFT);

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

pub(super) fn in_flight_of(word: u64) -> u64 {
    (word >> COUNT_SHIFT) & IN_FLIGHT_MAX
}

pub(super) fn successes_of(word: u64) -> u64 {
    (word >> SUCCESS_SHIFT) & SUCCESS_MAX
}

pub(super) fn half_open_word(word: u64, in_flight: u64, successes: u64) -> u64 {
    (word & !COUNT_MASK) | (in_flight << COUNT_SHIFT) | (successes << SUCCESS_SHIFT)
}

/// The window slot the next recorded call writes.
#[inline]
pub(super) fn cursor_of(word: u64) -> usize {
    ((word & CURSOR_MASK) >> CURSOR_SHIFT) as usize
}

/// `word` with the cursor moved past `slot` (its cursor) in a window of `size` slots: it wraps
/// at `size` exactly, however many calls were recorded.
#[inline]
pub(super) fn cursor_moved(word: u64, slot: usize, size: u32) -> u64 {
    if slot + 1 >= size as usize {
        word & !CURSOR_MASK
    } else {
        word + (1 << CURSOR_SHIFT)
    }
}

/// The word after a transition to `to`: next generation, counts cleared (or `count`), the
/// cursor kept.
pub(super) fn next_word(word: u64, to: CircuitState, count: u64) -> u64 {
    let generation = (word >> GEN_SHIFT).wrapping_add(1);
    (generation << GEN_SHIFT)
        | (word & CURSOR_MASK)
        | (count.min(COUNT_MAX) << COUNT_SHIFT)
        | to as u64
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The cursor wraps at the window's size exactly, for any size: every slot once a lap,
    /// lap after lap, with the rest of the word untouched.
    #[test]
    fn the_cursor_takes_every_slot_once_a_lap() {
        for size in [1u32, 3, 7, 100, 10_000] {
            let rest = next_word(0, CircuitState::Closed, 5);
            let mut word = rest;
            for call in 0..3 * u64::from(size) + 2 {
                let slot = cursor_of(word);
                assert_eq!(slot as u64, call % u64::from(size), "size {size}");
                word = cursor_moved(word, slot, size);
                assert_eq!(word & !CURSOR_MASK, rest);
            }
        }
        // A transition keeps the cursor; the generation wraps without touching it.
        let word = cursor_moved(0, 0, 10) | (((1u64 << 19) - 1) << GEN_SHIFT);
        let next = next_word(word, CircuitState::Open, 3);
        assert_eq!((cursor_of(next), next >> GEN_SHIFT), (1, 0));
        assert_eq!((state_of(next), count_of(next)), (CircuitState::Open, 3));
    }
}
