//! Cancellation at random points, on paused virtual time: calls aborted (`JoinHandle::abort`)
//! or dropped (`tokio::time::timeout`) inside half-open calls, inside retry sleeps and inside
//! fallback tiers, through the runtime API and through the attributes.
//!
//! After every round, once every call has ended: a half-open breaker still has all its probe
//! slots, and each breaker recovers the way it would in production: it opens on failures,
//! waits out its recovery timeout, admits exactly `half_open_max_calls` probes and closes
//! after `success_threshold` successes. The state changes seen by a subscriber form a valid
//! path of the diagram throughout.
//!
//! Each round draws its timings and abort points from a seeded generator, and the runtime is
//! single-threaded on virtual time, so a failing round replays exactly.

#[path = "support/reliability.rs"]
mod reliability;

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reliability::{Operator, Path, Rng, close_through_half_open, open_by_failures};
use resilience::{
    CircuitBreaker, CircuitState, FallbackHandler, RetryPolicy, Tier, circuit_breaker, fallback,
    retry,
};
use tokio::sync::broadcast::Receiver;
use tokio::task::JoinHandle;
use tokio::time::{advance, sleep, timeout};

const RECOVERY: Duration = Duration::from_secs(10);
const ROUNDS: u64 = 150;

#[derive(Debug, thiserror::Error)]
enum DepError {
    #[error("dependency down")]
    Down,
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn breaker(name: &'static str) -> Arc<CircuitBreaker> {
    Arc::new(
        CircuitBreaker::builder(name)
            .failure_threshold(2)
            .recovery_timeout(RECOVERY)
            .half_open_max_calls(3)
            .success_threshold(2)
            .ignore_env()
            .build()
            .unwrap(),
    )
}

thread_local! {
    /// Calls of the dependency cancelled before they answered, on this test's thread (a
    /// current-thread runtime runs its tasks on the test's thread).
    static CANCELLED_MID_CALL: Cell<u64> = const { Cell::new(0) };
    /// Calls dropped by their timeout.
    static TIMED_OUT: Cell<u64> = const { Cell::new(0) };
    /// Tasks aborted before they finished.
    static ABORTED: Cell<u64> = const { Cell::new(0) };
}

fn bump(counter: &'static std::thread::LocalKey<Cell<u64>>) {
    counter.with(|c| c.set(c.get() + 1));
}

/// Checks that the test cancelled calls both ways (abort and timeout), mid-call, and at least
/// `between_calls` times while no call of the dependency was in flight (in a retry's backoff
/// sleep, waiting out an open breaker, between fallback tiers). Counted on this thread.
#[track_caller]
fn assert_cancelled(test: &str, between_calls: u64) {
    let (aborted, timed_out, mid_call) = (
        ABORTED.with(Cell::get),
        TIMED_OUT.with(Cell::get),
        CANCELLED_MID_CALL.with(Cell::get),
    );
    let between = (aborted + timed_out).saturating_sub(mid_call);
    println!(
        "{test}: {aborted} aborted, {timed_out} timed out: {mid_call} mid-call, {between} \
         between calls"
    );
    let enough = ROUNDS / 4;
    assert!(aborted >= enough && timed_out >= enough && mid_call >= enough);
    assert!(
        between >= between_calls,
        "{between} cancellations between calls"
    );
}

struct MidCall(bool);

impl Drop for MidCall {
    fn drop(&mut self) {
        if !self.0 {
            bump(&CANCELLED_MID_CALL);
        }
    }
}

/// The dependency: answers after `work`, or fails.
async fn dependency(work: Duration, fails: bool) -> Result<u32, DepError> {
    let mut call = MidCall(false);
    sleep(work).await;
    tokio::task::yield_now().await;
    call.0 = true;
    if fails { Err(DepError::Down) } else { Ok(1) }
}

/// One planned call: how long each tier takes and whether it fails.
#[derive(Debug, Clone, Copy)]
struct Plan {
    work: [u64; 2],
    fails: [bool; 2],
}

impl Plan {
    fn draw(rng: &mut Rng, max_ms: u64, fail_percent: u64) -> Self {
        Plan {
            work: [rng.below(max_ms), rng.below(max_ms)],
            fails: [rng.percent(fail_percent), rng.percent(fail_percent)],
        }
    }
}

/// Spawns `call`, wrapped half the time in a timeout (of up to `max_ms`) that may drop it
/// mid-flight.
fn spawn<F>(rng: &mut Rng, max_ms: u64, call: F) -> JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    if rng.percent(50) {
        let limit = ms(rng.below(max_ms));
        tokio::spawn(async move {
            if timeout(limit, call).await.is_err() {
                bump(&TIMED_OUT);
            }
        })
    } else {
        tokio::spawn(async move {
            call.await;
        })
    }
}

/// Lets the calls run for a random while, then aborts a random half of them, and waits for
/// every one to end (virtual time runs on by itself while they sleep).
async fn abort_at_random(rng: &mut Rng, tasks: Vec<JoinHandle<()>>, max_ms: u64) {
    // A sleep, not `advance`: the paused clock then moves from timer to timer, so the calls go
    // through their steps (attempts, backoffs, tiers) in order until the abort.
    sleep(ms(rng.below(max_ms))).await;
    for _ in 0..rng.below(3) {
        tokio::task::yield_now().await;
    }
    for task in &tasks {
        if rng.percent(50) {
            task.abort();
        }
    }
    for task in tasks {
        match task.await {
            Ok(()) => {}
            Err(e) => {
                assert!(e.is_cancelled(), "a call panicked: {e}");
                bump(&ABORTED);
            }
        }
    }
}

/// With no call in flight: no half-open slot leaked, and the breaker heals through half-open
/// once the dependency answers again (waiting out its recovery timeout, no operator control).
async fn assert_heals(b: &CircuitBreaker) {
    open_by_failures(b);
    advance(b.config().recovery_timeout).await;
    close_through_half_open(b);
}

/// A breaker's changes, drained after every round.
struct Changes {
    rx: Receiver<resilience::StateChange>,
    path: Path,
}

impl Changes {
    fn of(b: &CircuitBreaker) -> Self {
        Changes {
            rx: b.subscribe(),
            path: Path::new(b.state()),
        }
    }

    /// Drains the changes; the path so far must be valid and end in the breaker's state.
    #[track_caller]
    fn check(&mut self, b: &CircuitBreaker) {
        self.path.drain(&mut self.rx);
        self.path.assert_valid(Operator::default(), b.state());
    }

    /// The breaker healed through half-open: its last changes are open -> half_open -> closed.
    #[track_caller]
    fn check_healed(&mut self, b: &CircuitBreaker, half_opens_before: u64) {
        self.check(b);
        assert_eq!(b.state(), CircuitState::Closed);
        assert!(
            self.path.count(CircuitState::Open, CircuitState::HalfOpen) > half_opens_before,
            "healed without passing through half-open"
        );
    }

    fn half_opens(&self) -> u64 {
        self.path.count(CircuitState::Open, CircuitState::HalfOpen)
    }
}

#[tokio::test(start_paused = true)]
async fn aborted_half_open_calls_never_leave_the_breaker_stuck() {
    /// Calls are cancelled within this many milliseconds of the round's start.
    const MAX_MS: u64 = 60;
    let b = breaker("cancel_call");
    let mut changes = Changes::of(&b);
    let mut healed = 0;
    for round in 0..ROUNDS {
        let mut rng = Rng::new(round);
        // Open, and due: the first call of the round half-opens it.
        open_by_failures(&b);
        advance(RECOVERY).await;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let plan = Plan::draw(&mut rng, 60, 25);
            let b = b.clone();
            tasks.push(spawn(&mut rng, MAX_MS, async move {
                let _ = b.call(|| dependency(ms(plan.work[0]), plan.fails[0])).await;
            }));
        }
        abort_at_random(&mut rng, tasks, MAX_MS).await;
        changes.check(&b);
        let before = changes.half_opens();
        assert!(
            before > healed,
            "round {round}: the calls never half-opened it"
        );
        assert_heals(&b).await;
        changes.check_healed(&b, before);
        healed = changes.half_opens();
    }
    assert_cancelled("aborted_half_open_calls_never_leave_the_breaker_stuck", 0);
}

#[tokio::test(start_paused = true)]
async fn aborted_retries_never_leave_the_breaker_stuck() {
    /// Calls are cancelled within this many milliseconds of the round's start.
    const MAX_MS: u64 = 25_000;
    let b = breaker("cancel_retry");
    let mut changes = Changes::of(&b);
    // The open breaker's 10 s retry_after fits within max_delay: retries wait it out, and may
    // be aborted while they wait, while they back off, or mid-attempt.
    let policy = Arc::new(
        RetryPolicy::builder()
            .max_attempts(4)
            .base_delay(Duration::from_secs(1))
            .max_delay(Duration::from_secs(30))
            .jitter_seed(7)
            .ignore_env()
            .build()
            .unwrap(),
    );
    for round in 0..ROUNDS {
        let mut rng = Rng::new(1_000 + round);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (b, policy) = (b.clone(), policy.clone());
            let mut attempts = Rng::new(rng.next_u64());
            tasks.push(spawn(&mut rng, MAX_MS, async move {
                let _ = policy
                    .call(&b, || {
                        let plan = Plan::draw(&mut attempts, 2_000, 60);
                        dependency(ms(plan.work[0]), plan.fails[0])
                    })
                    .await;
            }));
        }
        abort_at_random(&mut rng, tasks, MAX_MS).await;
        changes.check(&b);
        let before = changes.half_opens();
        assert_heals(&b).await;
        changes.check_healed(&b, before);
    }
    assert!(
        changes.half_opens() > ROUNDS,
        "retries never half-opened it"
    );
    assert_cancelled("aborted_retries_never_leave_the_breaker_stuck", ROUNDS);
}

/// The pipeline the attributes generate: each attempt through the breaker, backoff sleeps
/// between attempts.
#[retry(max_attempts = 4, base_delay = "1s", max_delay = "30s", jitter = false)]
#[circuit_breaker(
    name = "cancel_attr_retry",
    failure_threshold = 2,
    recovery_timeout = "10s",
    half_open_max_calls = 3,
    success_threshold = 2
)]
async fn fetch(work_ms: u64, fail_percent: u64, seed: u64) -> Result<u32, DepError> {
    // Each attempt draws afresh (the arguments are the same for every attempt).
    static ATTEMPTS: AtomicU64 = AtomicU64::new(0);
    let attempt = ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    let fails = Rng::new(seed ^ attempt).percent(fail_percent);
    dependency(ms(work_ms), fails).await
}

fn registered(name: &'static str) -> Arc<CircuitBreaker> {
    resilience::registry()
        .get(name)
        .expect("registered on first call")
}

#[tokio::test(start_paused = true)]
async fn aborted_attribute_retries_never_leave_the_breaker_stuck() {
    /// Calls are cancelled within this many milliseconds of the round's start.
    const MAX_MS: u64 = 25_000;
    assert_eq!(fetch(0, 0, 0).await.unwrap(), 1); // registers the breaker
    let b = registered("cancel_attr_retry");
    assert_eq!(b.config().half_open_max_calls, 3);
    let mut changes = Changes::of(&b);
    for round in 0..ROUNDS {
        let mut rng = Rng::new(2_000 + round);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (work, fail, seed) = (
                rng.below(2_000),
                [0, 50, 100][rng.below(3) as usize],
                rng.next_u64(),
            );
            tasks.push(spawn(&mut rng, MAX_MS, async move {
                let _ = fetch(work, fail, seed).await;
            }));
        }
        abort_at_random(&mut rng, tasks, MAX_MS).await;
        changes.check(&b);
        let before = changes.half_opens();
        assert_heals(&b).await;
        changes.check_healed(&b, before);
    }
    assert!(changes.half_opens() > ROUNDS);
    assert_eq!(fetch(5, 0, 0).await.unwrap(), 1, "the function works after");
    assert_cancelled(
        "aborted_attribute_retries_never_leave_the_breaker_stuck",
        ROUNDS,
    );
}

#[tokio::test(start_paused = true)]
async fn aborted_fallback_tiers_never_leave_a_breaker_stuck() {
    /// Calls are cancelled within this many milliseconds of the round's start.
    const MAX_MS: u64 = 120;
    let tier1 = breaker("cancel_fallback_tier1");
    let tier2 = breaker("cancel_fallback_tier2");
    let mut changes = [Changes::of(&tier1), Changes::of(&tier2)];
    for round in 0..ROUNDS {
        let mut rng = Rng::new(3_000 + round);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let plan = Plan::draw(&mut rng, 60, 50);
            let (tier1, tier2) = (tier1.clone(), tier2.clone());
            tasks.push(spawn(&mut rng, MAX_MS, async move {
                let served = FallbackHandler::default()
                    .serve(
                        [
                            Tier::new("tier1", dependency(ms(plan.work[0]), plan.fails[0]))
                                .breaker(&tier1),
                            Tier::new("tier2", dependency(ms(plan.work[1]), plan.fails[1]))
                                .breaker(&tier2),
                            Tier::new("tier3", async { Ok(3) }).unguarded(),
                        ],
                        "get_account",
                    )
                    .await;
                // The last tier never fails: a chain that ends, ends served.
                assert!(served.is_ok(), "{served:?}");
            }));
        }
        abort_at_random(&mut rng, tasks, MAX_MS).await;
        for (b, changes) in [&tier1, &tier2].into_iter().zip(&mut changes) {
            changes.check(b);
            let before = changes.half_opens();
            assert_heals(b).await;
            changes.check_healed(b, before);
        }
    }
    for c in &changes {
        assert!(c.half_opens() >= ROUNDS);
    }
    assert_cancelled("aborted_fallback_tiers_never_leave_a_breaker_stuck", 0);
}

#[fallback(fb_tier2)]
#[retry(max_attempts = 2, base_delay = "1s", jitter = false)]
#[circuit_breaker(
    name = "cancel_attr_fb1",
    failure_threshold = 2,
    recovery_timeout = "10s",
    half_open_max_calls = 3,
    success_threshold = 2
)]
async fn fb_primary(plan: Plan) -> Result<u32, DepError> {
    dependency(ms(plan.work[0]), plan.fails[0]).await
}

#[circuit_breaker(
    name = "cancel_attr_fb2",
    failure_threshold = 2,
    recovery_timeout = "10s",
    half_open_max_calls = 3,
    success_threshold = 2
)]
async fn fb_tier2(plan: Plan) -> Result<u32, DepError> {
    dependency(ms(plan.work[1]), plan.fails[1])
        .await
        .map(|v| v + 1)
}

#[tokio::test(start_paused = true)]
async fn aborted_attribute_fallbacks_never_leave_a_breaker_stuck() {
    /// Calls are cancelled within this many milliseconds of the round's start.
    const MAX_MS: u64 = 3_000;
    let healthy = Plan {
        work: [1, 1],
        fails: [false, false],
    };
    let first_down = Plan {
        fails: [true, false],
        ..healthy
    };
    assert_eq!(fb_primary(healthy).await.unwrap(), 1);
    assert_eq!(fb_primary(first_down).await.unwrap(), 2, "served by tier 2");
    let breakers = [registered("cancel_attr_fb1"), registered("cancel_attr_fb2")];
    for b in &breakers {
        b.reset(); // a clean start after the two calls above
    }
    let mut changes = [Changes::of(&breakers[0]), Changes::of(&breakers[1])];
    for round in 0..ROUNDS {
        let mut rng = Rng::new(4_000 + round);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let plan = Plan::draw(&mut rng, 1_500, 50);
            tasks.push(spawn(&mut rng, MAX_MS, async move {
                let _ = fb_primary(plan).await;
            }));
        }
        abort_at_random(&mut rng, tasks, MAX_MS).await;
        for (b, changes) in breakers.iter().zip(&mut changes) {
            changes.check(b);
            let before = changes.half_opens();
            assert_heals(b).await;
            changes.check_healed(b, before);
        }
    }
    for c in &changes {
        assert!(c.half_opens() >= ROUNDS);
    }
    assert_eq!(fb_primary(healthy).await.unwrap(), 1, "tier 1 serves again");
    assert_cancelled(
        "aborted_attribute_fallbacks_never_leave_a_breaker_stuck",
        ROUNDS / 2,
    );
}
