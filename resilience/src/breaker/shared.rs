//! What the fleet (`crate::fleet`, feature `fleet`) needs from a breaker: moving it to the
//! fleet's state, leave for its half-open probes, and its failures for the fleet's count.
//!
//! Nothing here is on the hot paths (a closed breaker's success, an open breaker's rejection).
//! The fleet moves a breaker through the transition path an operator's controls take, under
//! the transition lock, with the open deadline the fleet decided. Half-open admission, the one
//! place that reads `probe_grant`, is already out of line. A closed breaker's failure (and the
//! success that ends a run of failures) reads one pointer, null unless a fleet has followed
//! the breaker, and then one flag; while the fleet counts failures, it also adds a mark to an
//! atomic word and, when none was pending, wakes the fleet's task, which sends the marks to
//! Redis. Nothing waits for Redis, and a healthy success (no failure before it) is not touched
//! at all.
//!
//! All of it lives in a [`FleetPart`] made on the heap when a fleet first follows the breaker,
//! so that a breaker no fleet follows carries one null pointer, and keeps the size it had.

use futures_util::task::AtomicWaker;
use once_cell::race::OnceBox;

use super::*;

/// A breaker's part in a fleet, made when a fleet first follows it (see the [module](self)).
pub(crate) type FleetLink = OnceBox<FleetPart>;

/// What a fleet shares with a breaker.
pub(crate) struct FleetPart {
    /// How many half-open probes the fleet lets this replica make: [`LOCAL`], or the
    /// generation of the half-open state granted in (from bit 32), [`WANTED`] and the count.
    probe_grant: AtomicU64,
    /// Failures and resets not yet sent to the fleet's count (policy `share_open`):
    /// [`COUNTING`], [`RESET`] and a count of failures in one word, so that marking takes one
    /// atomic operation. Marks made while the fleet's task is busy are coalesced in the word:
    /// never more than one word.
    marks: AtomicU64,
    /// The fleet's task, woken when a mark finds none pending.
    task: AtomicWaker,
}

impl Default for FleetPart {
    fn default() -> Self {
        Self {
            probe_grant: AtomicU64::new(LOCAL),
            marks: AtomicU64::new(0),
            task: AtomicWaker::new(),
        }
    }
}

// Atomics and a waker, each changed in one atomic step: a panic leaves nothing half written for
// a later call to see (at worst a wake is lost, and the marks go when the fleet's task next
// runs, at its next reconciliation). A breaker is unwind safe with or without a fleet.
impl std::panic::RefUnwindSafe for FleetPart {}

/// `probe_grant` when the breaker alone decides its probes (`half_open_max_calls` at once).
const LOCAL: u64 = u64::MAX;

/// Set in `probe_grant` (below the generation, above any count of probes) when a half-open
/// call is refused for want of a probe: the fleet then asks for a slot. In the grant's word, so
/// that one atomic holds both.
const WANTED: u64 = 1 << 31;

/// Set in `marks` while the fleet counts this breaker's failures.
const COUNTING: u64 = 1 << 63;
/// Set in `marks` when a success ended a run of this replica's failures: the fleet's count
/// starts again from zero, before the failures pending are added.
const RESET: u64 = 1 << 62;
/// The failures pending in `marks`.
const FAILURES: u64 = RESET - 1;

/// What [`CircuitBreaker::take_failure_marks`] hands the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marks {
    /// A success ended a run of this replica's failures: the fleet's count is zeroed first.
    pub(crate) reset: bool,
    /// Failures recorded since (or since the last marks taken).
    pub(crate) failures: u64,
}

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
        let grant = self
            .fleet
            .get()
            .map_or(LOCAL, |part| part.probe_grant.load(Ordering::Acquire));
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
        if let Some(part) = self.fleet_part(shared) {
            part.probe_grant
                .store(if shared { 0 } else { LOCAL }, Ordering::Release);
        }
    }

    /// The breaker's part in a fleet, made now if `make` (and none was made yet).
    fn fleet_part(&self, make: bool) -> Option<&FleetPart> {
        if make {
            Some(self.fleet.get_or_init(Box::default))
        } else {
            self.fleet.get()
        }
    }

    /// How many probes this replica should hold slots for now: `half_open_max_calls` while a
    /// probe is in flight or a half-open call was refused for want of one since the last
    /// look, none otherwise (an idle replica gives its slots back for the others' calls).
    pub(crate) fn probes_wanted(&self) -> u32 {
        let wanted = self.fleet.get().is_some_and(|part| {
            part.probe_grant
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |grant| {
                    (grant != LOCAL && grant & WANTED != 0).then_some(grant & !WANTED)
                })
                .is_ok()
        });
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
        if let Some(part) = self.fleet.get() {
            let _ = part
                .probe_grant
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |grant| {
                    (grant != LOCAL && grant & WANTED == 0).then_some(grant | WANTED)
                });
        }
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
        self.fleet.get().is_some_and(|part| {
            part.probe_grant
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                    (current != LOCAL).then_some(grant)
                })
                .is_ok()
        })
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

    /// A closed breaker recorded an outcome: a failure (`failed`), or a success; `before` is
    /// its consecutive failure count before it. Marked for the fleet's count, while the fleet
    /// counts: a failure below the threshold (the one that reaches it opens the breaker, and
    /// the open is shared), or the success that ends a run of failures (`before > 0`). A
    /// success with no failure before it marks nothing. No fleet: one load of a null pointer.
    #[inline]
    pub(super) fn mark_for_fleet(&self, failed: bool, before: u32) {
        if let Some(part) = self.fleet.get() {
            if part.marks.load(Ordering::Relaxed) & COUNTING != 0 && (failed || before > 0) {
                self.mark(part, failed, before);
            }
        }
    }

    #[inline(never)]
    fn mark(&self, part: &FleetPart, failed: bool, before: u32) {
        let prior = if failed {
            if before.saturating_add(1) >= self.config.failure_threshold {
                return;
            }
            part.marks.fetch_add(1, Ordering::AcqRel)
        } else {
            // The failures pending came before this success: they no longer count.
            match part
                .marks
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                    (word & COUNTING != 0).then_some(COUNTING | RESET)
                }) {
                Ok(prior) => prior,
                Err(_) => return,
            }
        };
        if prior & (RESET | FAILURES) == 0 {
            part.task.wake();
        }
    }

    /// Whether the fleet counts this breaker's failures (its task sends them), or not (none are
    /// marked). Either way, the marks pending are dropped.
    pub(crate) fn count_failures(&self, counting: bool) {
        if let Some(part) = self.fleet_part(counting) {
            part.marks
                .store(if counting { COUNTING } else { 0 }, Ordering::Release);
        }
    }

    /// Takes the marks pending, if any, while the fleet counts.
    pub(crate) fn take_failure_marks(&self) -> Option<Marks> {
        let part = self.fleet.get()?;
        if part.marks.load(Ordering::Acquire) & (RESET | FAILURES) == 0 {
            return None;
        }
        let word = part.marks.fetch_and(COUNTING, Ordering::AcqRel);
        (word & COUNTING != 0 && word & (RESET | FAILURES) != 0).then_some(Marks {
            reset: word & RESET != 0,
            failures: word & FAILURES,
        })
    }

    /// Whether marks are pending (while the fleet counts); if not, the task of `cx` is woken
    /// by the next mark.
    pub(crate) fn poll_failure_marks(&self, cx: &mut std::task::Context<'_>) -> bool {
        let Some(part) = self.fleet.get() else {
            return false;
        };
        part.task.register(cx.waker());
        let word = part.marks.load(Ordering::Acquire);
        word & COUNTING != 0 && word & (RESET | FAILURES) != 0
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

    fn counted(threshold: u32) -> CircuitBreaker {
        CircuitBreaker::builder("counted_test")
            .failure_threshold(threshold)
            .recovery_timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    fn fail(b: &CircuitBreaker) {
        b.try_acquire().unwrap().record_failure();
    }

    fn succeed(b: &CircuitBreaker) {
        b.try_acquire().unwrap().record_success();
    }

    fn marks(reset: bool, failures: u64) -> Option<Marks> {
        Some(Marks { reset, failures })
    }

    #[test]
    fn a_breaker_is_unwind_safe_with_the_fleet_feature_as_without() {
        fn unwind_safe<T: std::panic::RefUnwindSafe + std::panic::UnwindSafe>() {}
        unwind_safe::<CircuitBreaker>();
        unwind_safe::<Arc<CircuitBreaker>>();
    }

    #[test]
    fn failures_are_marked_for_the_fleet_only_while_it_counts_them() {
        let b = counted(5);
        fail(&b);
        assert_eq!(b.take_failure_marks(), None, "no fleet counts them");
        succeed(&b);
        b.count_failures(true);
        fail(&b);
        fail(&b);
        assert_eq!(b.take_failure_marks(), marks(false, 2));
        assert_eq!(b.take_failure_marks(), None, "taken");
        fail(&b);
        b.count_failures(false);
        assert_eq!(
            b.take_failure_marks(),
            None,
            "dropped when the fleet stops counting"
        );
        fail(&b);
        b.count_failures(true);
        assert_eq!(b.take_failure_marks(), None, "made while it did not count");
    }

    #[test]
    fn the_success_that_ends_a_run_of_failures_resets_and_a_healthy_one_marks_nothing() {
        let b = counted(5);
        b.count_failures(true);
        succeed(&b);
        assert_eq!(b.take_failure_marks(), None, "a healthy success");
        fail(&b);
        fail(&b);
        succeed(&b);
        // The failures before the success no longer count.
        assert_eq!(b.take_failure_marks(), marks(true, 0));
        fail(&b);
        succeed(&b);
        fail(&b);
        assert_eq!(b.take_failure_marks(), marks(true, 1));
        succeed(&b);
        succeed(&b);
        assert_eq!(
            b.take_failure_marks(),
            marks(true, 0),
            "the first success only"
        );
        succeed(&b);
        assert_eq!(b.take_failure_marks(), None);
    }

    #[test]
    fn the_failure_that_opens_the_breaker_is_shared_by_its_open_not_marked() {
        let b = counted(3);
        b.count_failures(true);
        for _ in 0..3 {
            fail(&b);
        }
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.take_failure_marks(), marks(false, 2));
    }

    #[test]
    fn a_mark_wakes_the_fleets_task_once_until_it_takes_the_marks() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        let waker = std::task::Waker::from(Arc::clone(&count));
        let mut cx = std::task::Context::from_waker(&waker);
        let woken = || count.0.load(Ordering::SeqCst);
        let b = counted(100);
        b.count_failures(true);
        assert!(!b.poll_failure_marks(&mut cx));
        fail(&b);
        assert_eq!(woken(), 1);
        assert!(b.poll_failure_marks(&mut cx), "marked");
        for _ in 0..10 {
            fail(&b);
            succeed(&b);
        }
        assert_eq!(woken(), 1, "coalesced while pending");
        assert_eq!(b.take_failure_marks(), marks(true, 0));
        assert!(!b.poll_failure_marks(&mut cx));
        fail(&b);
        assert_eq!(woken(), 2);
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
