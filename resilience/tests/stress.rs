//! Stress: many OS threads and many tasks on a multi-thread runtime share one breaker, each
//! call ending in success, failure, or a permit dropped unrecorded, while transitions happen.
//!
//! Invariants checked:
//!
//! * never more than `half_open_max_calls` probes in flight at once (the permits admitted in
//!   half-open and held by the test are counted with an atomic);
//! * every admitted call is recorded or released: once the calls are over, a half-open breaker
//!   still has all its probe slots, and the breaker always recovers (opens, half-opens, admits
//!   exactly `half_open_max_calls` probes, closes);
//! * no lost transition: a subscription, drained concurrently, sees a sequence in which every
//!   change starts where the previous one ended and is an edge of the guide's diagram, with no
//!   more operator edges than operator calls.
//!
//! # Why a stress test and not loom
//!
//! The breaker's state, generation and counters are one `AtomicU64`; transitions take a
//! `Mutex`. loom would explore every interleaving of a small scenario (two or three threads, a
//! few operations each) and so *prove* the absence of a race there, but only for code whose
//! atomics and mutex are loom's: the crate would need a `cfg(loom)` shim swapping
//! `std::sync::atomic` and `Mutex` for loom's (and a stand-in for `tokio::time::Instant`, the
//! broadcast channel and the tracing calls on the transition path), and a `--cfg loom` build of
//! its own. The project chose not to carry that shim. This file runs the real code instead,
//! built as users build it, with thousands of rounds and real preemption: it finds races that
//! happen with a measurable probability (it found the window race pinned down in
//! [`regression_a_result_racing_a_reset_is_not_counted_in_the_new_state`]) but cannot prove their absence,
//! and a rare interleaving may need many runs to show. The sequential paths are covered
//! exhaustively elsewhere (tests/model.rs checks random sequences against a reference model).
//!
//! Real time stays tiny: the recovery timeout is either an hour (transitions then come from a
//! controller calling `try_half_open`, `force_open`, `reset` and `disable`) or 3 ms, and each
//! test runs well under two seconds.

#[path = "support/reliability.rs"]
mod reliability;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use reliability::{
    Operator, Recorder, Rng, admit_all_probes, assert_recovers, close_through_half_open,
};
use resilience::{CircuitBreaker, CircuitState};

const MAX_PROBES: u32 = 3;

fn breaker(name: &'static str, recovery_timeout: Duration) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .failure_threshold(3)
        .recovery_timeout(recovery_timeout)
        .half_open_max_calls(MAX_PROBES)
        .success_threshold(2)
        .ignore_env()
        .build()
        .unwrap()
}

/// The probes the test holds, counted as they are admitted and given back.
///
/// A probe is counted just after `try_acquire` returns it, so a worker may hold a probe it has
/// not counted yet. Each worker flags the span from `try_acquire` to counting; before the
/// operator starts a new half-open period it waits until no worker is still in the span it
/// was in (a grace period), so that every probe of the earlier periods has been counted by
/// then, and it starts the period only if none of them is still held.
struct Probes {
    in_flight: AtomicU32,
    peak: AtomicU32,
    admitted: AtomicU64,
    /// Per worker: acquisitions finished, with [`Probes::ACQUIRING`] set during one.
    spans: Vec<AtomicU64>,
}

impl Probes {
    const ACQUIRING: u64 = 1 << 63;

    fn new(workers: u64) -> Self {
        Self {
            in_flight: AtomicU32::new(0),
            peak: AtomicU32::new(0),
            admitted: AtomicU64::new(0),
            spans: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Worker `w` calls `try_acquire`, and counts the probe it gets, if it gets one.
    fn acquire<'b>(
        &self,
        w: u64,
        b: &'b CircuitBreaker,
    ) -> Result<(resilience::Permit<'b>, bool), resilience::CircuitBreakerOpenError> {
        let span = &self.spans[w as usize];
        span.fetch_or(Self::ACQUIRING, Ordering::SeqCst);
        let result = b.try_acquire().map(|permit| {
            let probe = permit.admitted_in() == CircuitState::HalfOpen;
            if probe {
                self.admitted.fetch_add(1, Ordering::Relaxed);
                let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                self.peak.fetch_max(now, Ordering::SeqCst);
            }
            (permit, probe)
        });
        // Clears the flag (its carry falls off the top) and counts one more span, in one step.
        span.fetch_add(Self::ACQUIRING + 1, Ordering::SeqCst);
        result
    }

    /// Called just before the probe is recorded or dropped, so that the count never exceeds
    /// what the breaker itself holds.
    fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::SeqCst)
    }

    fn peak(&self) -> u32 {
        self.peak.load(Ordering::SeqCst)
    }

    /// Waits until every worker that was between `try_acquire` and counting has left that span.
    fn grace(&self) {
        for span in &self.spans {
            let seen = span.load(Ordering::SeqCst);
            if seen & Self::ACQUIRING != 0 {
                while span.load(Ordering::SeqCst) == seen {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// What the calls did, to show the test exercised every path.
#[derive(Default)]
struct Outcomes {
    successes: AtomicU64,
    failures: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
}

impl Outcomes {
    fn add(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn summary(&self) -> String {
        format!(
            "{} successes, {} failures, {} dropped, {} rejected",
            Self::get(&self.successes),
            Self::get(&self.failures),
            Self::get(&self.dropped),
            Self::get(&self.rejected),
        )
    }
}

/// Records `permit` as a failure (`fail_percent`), drops it unrecorded (10%), or records a
/// success.
fn finish(permit: resilience::Permit<'_>, rng: &mut Rng, fail_percent: u64, outcomes: &Outcomes) {
    let r = rng.below(100);
    if r < fail_percent {
        permit.record_failure();
        outcomes.add(&outcomes.failures);
    } else if r < fail_percent + 10 {
        drop(permit);
        outcomes.add(&outcomes.dropped);
    } else {
        permit.record_success();
        outcomes.add(&outcomes.successes);
    }
}

/// One step of the operator thread. With an hour-long recovery timeout, only this moves an
/// open breaker to half-open, and only once every probe of the earlier periods has been counted
/// and given back: so the counted probes always belong to the current half-open period, and
/// their number is bounded by `half_open_max_calls`.
fn control(b: &CircuitBreaker, rng: &mut Rng, probes: &Probes, op: &mut Operator) -> bool {
    match b.state() {
        CircuitState::Open => {
            // Only this thread moves an open breaker on: it stays open during the grace period.
            probes.grace();
            probes.in_flight() == 0 && b.try_half_open()
        }
        CircuitState::ForcedOpen | CircuitState::Disabled => {
            if rng.percent(20) {
                b.reset();
                op.reset += 1;
            }
            false
        }
        CircuitState::Closed | CircuitState::HalfOpen => {
            match rng.below(1000) {
                0..=2 => {
                    b.force_open();
                    op.force_open += 1;
                }
                3 => {
                    b.disable();
                    op.disable += 1;
                }
                4..=5 => {
                    b.reset();
                    op.reset += 1;
                }
                _ => {}
            }
            false
        }
    }
}

/// Ends a forced-open or disabled period with `reset()`, so that the recovery check can open
/// the breaker by failures.
fn leave_operator_states(b: &CircuitBreaker, op: &mut Operator) {
    if matches!(b.state(), CircuitState::ForcedOpen | CircuitState::Disabled) {
        b.reset();
        op.reset += 1;
    }
}

#[test]
fn probes_stay_bounded_and_no_slot_leaks_under_thread_contention() {
    const WORKERS: u64 = 6;
    const ROUNDS: u64 = 120;
    const CALLS: u64 = 150;
    let b = breaker("stress_threads", Duration::from_secs(3600));
    let rec = Recorder::start(b.subscribe());
    let probes = Probes::new(WORKERS);
    let outcomes = Outcomes::default();
    let done = AtomicUsize::new(0);
    // Workers, the operator thread and this thread meet before and after every round.
    let start = Barrier::new(WORKERS as usize + 2);
    let end = Barrier::new(WORKERS as usize + 2);
    let began = Instant::now();

    let (op, half_opens) = std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (b, probes, outcomes, done, start, end) =
                (&b, &probes, &outcomes, &done, &start, &end);
            s.spawn(move || {
                for round in 0..ROUNDS {
                    start.wait();
                    let mut rng = Rng::new(round * 100 + w);
                    // Rounds alternate between mostly closing and mostly reopening.
                    let fail_percent = [10, 30, 60][(round % 3) as usize];
                    for _ in 0..CALLS {
                        let Ok((permit, probe)) = probes.acquire(w, b) else {
                            outcomes.add(&outcomes.rejected);
                            if rng.percent(30) {
                                std::thread::yield_now();
                            }
                            continue;
                        };
                        if rng.percent(50) {
                            std::thread::yield_now(); // hold it while others run
                        }
                        if probe {
                            probes.leave();
                        }
                        finish(permit, &mut rng, fail_percent, outcomes);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    end.wait();
                }
            });
        }
        let operator = s.spawn(|| {
            let mut op = Operator::default();
            let mut half_opens = 0u64;
            for round in 0..ROUNDS {
                start.wait();
                let mut rng = Rng::new(round ^ 0xC0FF_EE00);
                while done.load(Ordering::SeqCst) < WORKERS as usize {
                    rec.wait_for_room();
                    half_opens += u64::from(control(&b, &mut rng, &probes, &mut op));
                    std::thread::yield_now();
                }
                if round == ROUNDS - 1 {
                    leave_operator_states(&b, &mut op);
                }
                end.wait();
            }
            (op, half_opens)
        });
        for round in 0..ROUNDS {
            start.wait();
            end.wait();
            // Every call of the round is over.
            done.store(0, Ordering::SeqCst);
            assert_eq!(probes.in_flight(), 0, "round {round}");
            if b.state() == CircuitState::HalfOpen {
                // No slot of this half-open period is held by a call that ended.
                drop(admit_all_probes(&b));
            }
        }
        operator.join().unwrap()
    });

    assert!(
        probes.peak() <= MAX_PROBES,
        "{} probes in flight at once, limit {MAX_PROBES}",
        probes.peak()
    );
    assert_recovers(&b);
    let path = rec.finish();
    path.assert_valid(op, CircuitState::Closed);
    // The recovery timeout is an hour: each half-open period was opened by try_half_open.
    assert_eq!(
        path.count(CircuitState::Open, CircuitState::HalfOpen),
        half_opens + 1,
        "one open -> half_open change per successful try_half_open (the last one by assert_recovers)"
    );
    // The run exercised what it claims to.
    assert!(half_opens >= ROUNDS, "only {half_opens} half-open periods");
    assert_eq!(
        probes.peak(),
        MAX_PROBES,
        "the probe limit was never reached"
    );
    assert!(path.count(CircuitState::HalfOpen, CircuitState::Open) > 0);
    assert!(path.count(CircuitState::HalfOpen, CircuitState::Closed) > 0);
    println!(
        "threads: {} calls in {:?}: {}; {} probes, {half_opens} half-open periods, {} changes, \
         operator {op:?}",
        WORKERS * ROUNDS * CALLS,
        began.elapsed(),
        outcomes.summary(),
        probes.admitted.load(Ordering::Relaxed),
        path.total(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_holding_probes_across_awaits_stay_bounded() {
    const TASKS: u64 = 64;
    /// The run lasts until this many half-open periods have passed (or 1.5 s, then it fails).
    const HALF_OPENS: u64 = 150;
    let b = Arc::new(breaker("stress_tasks", Duration::from_secs(3600)));
    let rec = Recorder::start(b.subscribe());
    let probes = Arc::new(Probes::new(TASKS));
    let outcomes = Arc::new(Outcomes::default());
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (b, probes, outcomes, stop) =
            (b.clone(), probes.clone(), outcomes.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(0x7A5C + t);
            let mut calls = 0u64;
            while !stop.load(Ordering::SeqCst) {
                calls += 1;
                let fail_percent = if (calls / 50) % 2 == 0 { 15 } else { 50 };
                let Ok((permit, probe)) = probes.acquire(t, &b) else {
                    outcomes.add(&outcomes.rejected);
                    // Some retry at once, the others leave the threads to the probes.
                    if rng.percent(20) {
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    continue;
                };
                // Held across awaits: other tasks, on other threads, run meanwhile.
                for _ in 0..rng.below(4) {
                    tokio::task::yield_now().await;
                }
                if probe {
                    probes.leave();
                }
                finish(permit, &mut rng, fail_percent, &outcomes);
            }
            calls
        }));
    }
    // The operator runs on this thread while the tasks run on the runtime's workers.
    let mut op = Operator::default();
    let mut half_opens = 0u64;
    let mut rng = Rng::new(0x0BE7);
    let deadline = began + Duration::from_millis(1500);
    while half_opens < HALF_OPENS && Instant::now() < deadline {
        rec.wait_for_room();
        half_opens += u64::from(control(&b, &mut rng, &probes, &mut op));
        if b.state() != CircuitState::Open {
            std::thread::sleep(Duration::from_micros(50)); // let the calls run
        }
    }
    stop.store(true, Ordering::SeqCst);
    let mut calls = 0;
    for task in tasks {
        calls += task.await.unwrap();
    }
    leave_operator_states(&b, &mut op);

    assert!(
        probes.peak() <= MAX_PROBES,
        "{} probes in flight at once, limit {MAX_PROBES}",
        probes.peak()
    );
    assert_eq!(probes.in_flight(), 0);
    assert_recovers(&b);
    let path = rec.finish();
    path.assert_valid(op, CircuitState::Closed);
    assert_eq!(
        path.count(CircuitState::Open, CircuitState::HalfOpen),
        half_opens + 1
    );
    assert!(
        half_opens >= HALF_OPENS,
        "only {half_opens} half-open periods in 1.5 s"
    );
    assert_eq!(
        probes.peak(),
        MAX_PROBES,
        "the probe limit was never reached"
    );
    println!(
        "tasks: {calls} calls in {:?}: {}; {} probes (peak {}), {half_opens} half-open periods, \
         {} changes, operator {op:?}",
        began.elapsed(),
        outcomes.summary(),
        probes.admitted.load(Ordering::Relaxed),
        probes.peak(),
        path.total(),
    );
}

/// No operator here: the breaker half-opens on its own after a 3 ms recovery timeout, under 64
/// tasks on four threads. (Counting probes per half-open period is not possible from outside
/// here: a probe held across a reopening and the next recovery timeout belongs to an older
/// period. The two tests above check that bound.) Then the dependency heals, and the breaker
/// must close within a bounded time: a leaked slot or a lost transition would leave it stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_recovery_timeout_under_load_never_gets_stuck() {
    const TASKS: u64 = 64;
    /// Admitted calls per task; rejected ones come on top.
    const CALLS: u64 = 30;
    let b = Arc::new(breaker("stress_timed", Duration::from_millis(3)));
    let rec = Arc::new(Recorder::start(b.subscribe()));
    let outcomes = Arc::new(Outcomes::default());
    let probes = Arc::new(AtomicU64::new(0));
    let began = Instant::now();

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (b, rec, outcomes, probes) = (b.clone(), rec.clone(), outcomes.clone(), probes.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(0x71AE + t);
            let mut admitted = 0;
            while admitted < CALLS {
                rec.wait_for_room_async().await;
                let Ok(permit) = b.try_acquire() else {
                    outcomes.add(&outcomes.rejected);
                    if rng.percent(50) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    } else {
                        tokio::task::yield_now().await;
                    }
                    continue;
                };
                admitted += 1;
                if permit.admitted_in() == CircuitState::HalfOpen {
                    probes.fetch_add(1, Ordering::Relaxed);
                }
                for _ in 0..rng.below(3) {
                    tokio::task::yield_now().await;
                }
                finish(permit, &mut rng, 40, &outcomes);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let faulty = began.elapsed();

    // The dependency heals: every call succeeds from now on.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut healers = Vec::new();
    for _ in 0..TASKS {
        let b = b.clone();
        healers.push(tokio::spawn(async move {
            let mut calls = 0;
            while Instant::now() < deadline && (calls < 20 || b.state() != CircuitState::Closed) {
                match b.try_acquire() {
                    Ok(permit) => {
                        tokio::task::yield_now().await;
                        permit.record_success();
                        calls += 1;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
        }));
    }
    for healer in healers {
        healer.await.unwrap();
    }
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "still not closed 2 s after the dependency healed"
    );
    let healed = began.elapsed() - faulty;

    assert_recovers(&b);
    // Once more through the time path: wait out the recovery timeout instead of try_half_open.
    reliability::open_by_failures(&b);
    tokio::time::sleep(Duration::from_millis(4)).await;
    close_through_half_open(&b);

    let rec = Arc::into_inner(rec).expect("every task is over");
    let path = rec.finish();
    path.assert_valid(Operator::default(), CircuitState::Closed);
    let timed = path.count(CircuitState::Open, CircuitState::HalfOpen);
    assert!(timed >= 5, "only {timed} open -> half_open changes");
    assert!(probes.load(Ordering::Relaxed) >= 5);
    println!(
        "timed: {} admitted calls in {faulty:?} (healed in {healed:?}): {}; {} probes, {} \
         changes ({timed} open -> half_open)",
        TASKS * CALLS,
        outcomes.summary(),
        probes.load(Ordering::Relaxed),
        path.total(),
    );
}

/// A result whose permit was admitted before `reset()` must not count after it. The stamp
/// check in `on_outcome` and the write to the sliding window are two steps: when `reset()`
/// (or any transition that clears the window) lands between them, the old call's outcome used
/// to be written into the freshly cleared window, and the new state's `total_calls` and
/// `error_rate` (and the failure-rate rule) counted a call admitted before the reset. The
/// window now tags each slot with its epoch, read before the stamp check.
///
/// Each round: two threads hold 2 000 permits admitted while closed, then record them all as
/// failures while this thread calls `reset()`. No call is admitted after the reset, so the
/// window must be empty. Failed in about 2% of the rounds on a 2-core machine before the fix.
#[test]
fn regression_a_result_racing_a_reset_is_not_counted_in_the_new_state() {
    let b = CircuitBreaker::builder("stress_window_race")
        .failure_threshold(1_000_000)
        .window_size(100)
        .ignore_env()
        .build()
        .unwrap();
    let ready = Barrier::new(3);
    for round in 0..2_000u32 {
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let permits: Vec<_> = (0..2_000).map(|_| b.try_acquire().unwrap()).collect();
                    ready.wait();
                    for p in permits {
                        p.record_failure();
                    }
                });
            }
            ready.wait();
            std::thread::sleep(Duration::from_micros(20 + u64::from(round % 40)));
            b.reset();
        });
        let m = b.metrics();
        assert_eq!(
            (m.total_calls, m.error_rate, m.failure_count),
            (0, 0.0, 0),
            "round {round}: calls admitted before reset() counted after it: {m:?}"
        );
    }
}

/// The sequence check itself can fail: a lost change, an edge outside the diagram, an operator
/// edge nobody called for and a wrong end are all caught.
#[test]
fn the_sequence_check_catches_lost_and_impossible_changes() {
    use CircuitState::*;
    let check = |changes: &[(CircuitState, CircuitState)], op: Operator, end: CircuitState| {
        let mut path = reliability::Path::new(Closed);
        for (old, new) in changes {
            path.push(*old, *new);
        }
        std::panic::catch_unwind(|| path.assert_valid(op, end)).is_ok()
    };
    let cycle = [(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed)];
    assert!(check(&cycle, Operator::default(), Closed));
    // (Open, HalfOpen) lost:
    assert!(!check(
        &[(Closed, Open), (HalfOpen, Closed)],
        Operator::default(),
        Closed
    ));
    // Not edges of the diagram:
    assert!(!check(&[(Closed, HalfOpen)], Operator::default(), HalfOpen));
    let forced = [(Closed, ForcedOpen), (ForcedOpen, HalfOpen)];
    let op = Operator {
        force_open: 1,
        ..Operator::default()
    };
    assert!(!check(&forced, op, HalfOpen));
    // An operator edge without the operator call:
    assert!(!check(
        &[(Closed, ForcedOpen)],
        Operator::default(),
        ForcedOpen
    ));
    assert!(check(&[(Closed, ForcedOpen)], op, ForcedOpen));
    assert!(!check(
        &[(Closed, Open), (Open, Closed)],
        Operator::default(),
        Closed
    ));
    // The wrong end:
    assert!(!check(&cycle, Operator::default(), Open));
}
