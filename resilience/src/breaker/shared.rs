//! What the fleet (`crate::fleet`, feature `fleet`) needs from a breaker: moving it to the
//! fleet's state, and leave for its half-open probes.
//!
//! Nothing here is on the call path of a closed or open breaker. The fleet moves a breaker
//! through the transition path an operator's controls take, under the transition lock, with
//! the open deadline the fleet decided. Half-open admission, the one place that reads
//! `probe_grant`, is already out of line.

use super::*;

/// `probe_grant` when the breaker alone decides its probes (`half_open_max_calls` at once).
pub(super) const LOCAL: u64 = u64::MAX;

/// Set in `probe_grant` (below the generation, above any count of probes) when a half-open
/// call is refused for want of a probe: the fleet then asks for a slot. In the grant's word so
/// that a breaker stays the size it is.
const WANTED: u64 = 1 << 31;

/// The state a fleet asks a replica's breaker to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SharedState {
    /// Calls pass.
    Closed,
    /// Calls are refused for this long (what the fleet has left of its open period), then the
    /// breaker goes half-open on its next call.
    Open(Duration),
    /// The fleet is probing: this replica makes only the probes it is granted.
    HalfOpen,
}

impl CircuitBreaker {
    /// How many probes may be in flight at once in the half-open state stamped in `word`:
    /// `half_open_max_calls`, or while the fleet decides, what it granted this replica in this
    /// very half-open state (none before it has).
    #[inline]
    pub(super) fn probe_limit(&self, word: u64) -> u64 {
        let local = u64::from(self.config.half_open_max_calls);
        let grant = self.probe_grant.load(Ordering::Acquire);
        if grant == LOCAL {
            local
        } else if grant >> 32 == word >> GEN_SHIFT {
            (grant & (u64::from(u32::MAX) & !WANTED)).min(local)
        } else {
            0
        }
    }

    /// Whether the fleet decides this breaker's half-open probes (`true`: none until it grants
    /// some), or the breaker alone (`false`: the local rule, as without a fleet).
    pub(crate) fn share_probes(&self, shared: bool) {
        self.probe_grant
            .store(if shared { 0 } else { LOCAL }, Ordering::Release);
    }

    /// How many probes this replica should hold slots for now: `half_open_max_calls` while a
    /// probe is in flight or a half-open call was refused for want of one since the last
    /// look, none otherwise (an idle replica gives its slots back for the others' calls).
    pub(crate) fn probes_wanted(&self) -> u32 {
        let before = self
            .probe_grant
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |grant| {
                (grant != LOCAL && grant & WANTED != 0).then_some(grant & !WANTED)
            });
        let wanted = before.is_ok();
        let word = self.word.load(Ordering::Acquire);
        let probing = state_of(word) == CircuitState::HalfOpen && in_flight_of(word) > 0;
        if wanted || probing {
            self.config.half_open_max_calls
        } else {
            0
        }
    }

    /// Notes that a half-open call was refused for want of a probe (see [`WANTED`]).
    #[cold]
    pub(super) fn want_probe(&self) {
        let _ = self
            .probe_grant
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |grant| {
                (grant != LOCAL && grant & WANTED == 0).then_some(grant | WANTED)
            });
    }

    /// Lets this replica make `probes` probes at once in its current half-open state. Returns
    /// `false`, granting nothing, when the breaker is not half-open or the fleet does not
    /// decide its probes.
    pub(crate) fn grant_probes(&self, probes: u32) -> bool {
        let word = self.word.load(Ordering::Acquire);
        if state_of(word) != CircuitState::HalfOpen {
            return false;
        }
        let grant = (word >> GEN_SHIFT) << 32 | u64::from(probes.min(u32::MAX >> 1));
        self.probe_grant
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                (current != LOCAL).then_some(grant)
            })
            .is_ok()
    }

    /// Moves the breaker to the fleet's state, as an operator's control would, unless an
    /// operator has forced it open or disabled it here. An open breaker told to stay open
    /// takes the fleet's deadline without a transition.
    ///
    /// Returns the change made, `(from, to)`, when there was one: its [`StateChange`] has been
    /// published.
    pub(crate) fn apply_shared(&self, to: SharedState) -> Option<(CircuitState, CircuitState)> {
        let _guard = self.lock_transitions();
        loop {
            let word = self.word.load(Ordering::Acquire);
            let from = state_of(word);
            let (target, open_for) = match (from, to) {
                (CircuitState::ForcedOpen | CircuitState::Disabled, _)
                | (CircuitState::Closed, SharedState::Closed)
                | (CircuitState::HalfOpen, SharedState::HalfOpen) => return None,
                (CircuitState::Open, SharedState::Open(open_for)) => {
                    self.open_until
                        .store(clock::deadline(open_for), Ordering::Release);
                    return None;
                }
                (_, SharedState::Open(open_for)) => (CircuitState::Open, open_for),
                (_, SharedState::HalfOpen) => {
                    (CircuitState::HalfOpen, self.config.recovery_timeout)
                }
                (_, SharedState::Closed) => (CircuitState::Closed, self.config.recovery_timeout),
            };
            if self.apply_transition(word, target, 0, open_for) {
                return Some((from, target));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(half_open_max_calls: u32) -> CircuitBreaker {
        CircuitBreaker::builder("shared_test")
            .failure_threshold(1)
            .half_open_max_calls(half_open_max_calls)
            .success_threshold(1)
            .recovery_timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_shared_half_open_breaker_admits_only_the_probes_granted_in_that_state() {
        let b = breaker(3);
        b.share_probes(true);
        assert!(!b.grant_probes(1), "closed: nothing to grant");
        b.apply_shared(SharedState::HalfOpen);
        assert!(b.try_acquire().is_err(), "no grant yet");
        assert!(b.grant_probes(1));
        let probe = b.try_acquire().expect("the granted probe");
        assert!(b.try_acquire().is_err(), "one at a time");
        drop(probe);
        // A grant belongs to one half-open state: reopened and half-open again, none.
        b.apply_shared(SharedState::Open(Duration::ZERO));
        b.apply_shared(SharedState::HalfOpen);
        assert!(b.try_acquire().is_err());
        // The local rule again: `half_open_max_calls` at once.
        b.share_probes(false);
        assert!(!b.grant_probes(0), "not shared: nothing to grant");
        let probes: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
        assert!(b.try_acquire().is_err());
        drop(probes);
    }

    #[tokio::test(start_paused = true)]
    async fn a_grant_never_exceeds_half_open_max_calls() {
        let b = breaker(2);
        b.share_probes(true);
        b.apply_shared(SharedState::HalfOpen);
        assert!(b.grant_probes(10));
        let probes: Vec<_> = (0..2).map(|_| b.try_acquire().unwrap()).collect();
        assert!(b.try_acquire().is_err());
        drop(probes);
    }

    #[tokio::test(start_paused = true)]
    async fn the_fleet_moves_a_breaker_with_its_deadline_and_reaches_half_open() {
        let b = breaker(1);
        let mut changes = b.subscribe();
        assert_eq!(
            b.apply_shared(SharedState::Open(Duration::from_secs(5))),
            Some((CircuitState::Closed, CircuitState::Open))
        );
        assert_eq!(changes.try_recv().unwrap().new_state, CircuitState::Open);
        let wait = b.try_acquire().unwrap_err().retry_after().unwrap();
        assert!(
            wait <= Duration::from_secs(5),
            "the fleet's deadline: {wait:?}"
        );
        // Staying open takes the new deadline, with no transition.
        assert_eq!(
            b.apply_shared(SharedState::Open(Duration::from_secs(2))),
            None
        );
        assert!(changes.try_recv().is_err());
        tokio::time::advance(Duration::from_secs(2)).await;
        // Never stuck open: the fleet's deadline passed, the next call probes.
        assert!(b.try_acquire().is_ok());
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert_eq!(
            b.apply_shared(SharedState::Closed),
            Some((CircuitState::HalfOpen, CircuitState::Closed))
        );
        assert_eq!(b.apply_shared(SharedState::Closed), None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_operators_forced_open_or_disabled_breaker_is_left_alone() {
        let b = breaker(1);
        b.force_open();
        assert_eq!(b.apply_shared(SharedState::Closed), None);
        assert_eq!(b.state(), CircuitState::ForcedOpen);
        b.disable();
        assert_eq!(
            b.apply_shared(SharedState::Open(Duration::from_secs(1))),
            None
        );
        assert_eq!(b.state(), CircuitState::Disabled);
    }
}
