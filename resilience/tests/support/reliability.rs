//! Shared checks of the reliability tests (`stress`, `cancellation`, `soak`): a seeded random
//! source, a checker of state-change sequences against the guide's state diagram, a recorder
//! that drains a breaker's subscription on a thread of its own, and the recovery check that
//! proves no half-open slot leaked.
//!
//! Included with `#[path = "support/reliability.rs"] mod reliability;`.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use resilience::{CircuitBreaker, CircuitState, Permit, StateChange};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::TryRecvError;

// ---------------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------------

/// xorshift64*: small, fast, and the same sequence for the same seed on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that neighbouring seeds give unrelated sequences (and never 0).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

// ---------------------------------------------------------------------------------------------
// The state diagram
// ---------------------------------------------------------------------------------------------

const STATES: [CircuitState; 5] = [
    CircuitState::Closed,
    CircuitState::Open,
    CircuitState::HalfOpen,
    CircuitState::ForcedOpen,
    CircuitState::Disabled,
];

fn index(s: CircuitState) -> usize {
    STATES.iter().position(|x| *x == s).unwrap()
}

/// The edges calls make on their own: the guide's diagram.
pub fn is_natural(from: CircuitState, to: CircuitState) -> bool {
    use CircuitState::*;
    matches!(
        (from, to),
        (Closed, Open) | (Open, HalfOpen) | (HalfOpen, Closed) | (HalfOpen, Open)
    )
}

/// Whether an edge can happen at all: a natural one, or an operator's `reset` (to `Closed`),
/// `force_open` (to `ForcedOpen`) or `disable` (to `Disabled`). `try_half_open` is `Open ->
/// HalfOpen`, which is natural. A change to the same state is never published.
pub fn is_possible(from: CircuitState, to: CircuitState) -> bool {
    use CircuitState::*;
    from != to && (is_natural(from, to) || matches!(to, Closed | ForcedOpen | Disabled))
}

/// How many operator controls a test called; a sequence may not hold more changes than they
/// explain.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub force_open: u64,
    pub reset: u64,
    pub disable: u64,
}

/// Checks a sequence of state changes as it arrives, in constant memory: each change must start
/// where the previous one ended (none lost, none reordered) and be an edge of the diagram.
#[derive(Debug)]
pub struct Path {
    last: CircuitState,
    edges: [[u64; 5]; 5],
    total: u64,
    recent: VecDeque<(CircuitState, CircuitState)>,
    error: Option<String>,
}

impl Path {
    const RECENT: usize = 12;

    /// A path starting in `start` (a new breaker starts closed).
    pub fn new(start: CircuitState) -> Self {
        Self {
            last: start,
            edges: [[0; 5]; 5],
            total: 0,
            recent: VecDeque::with_capacity(Self::RECENT),
            error: None,
        }
    }

    pub fn push(&mut self, old: CircuitState, new: CircuitState) {
        if self.recent.len() == Self::RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((old, new));
        if self.error.is_none() {
            if old != self.last {
                self.fail(format!(
                    "change #{} starts in {old}, but the previous one ended in {} \
                     (a change was lost or reordered)",
                    self.total, self.last
                ));
            } else if !is_possible(old, new) {
                self.fail(format!(
                    "change #{}: {old} -> {new} is not an edge of the state diagram",
                    self.total
                ));
            }
        }
        self.edges[index(old)][index(new)] += 1;
        self.total += 1;
        self.last = new;
    }

    fn fail(&mut self, message: String) {
        let mut m = message;
        let _ = write!(m, "; latest changes: {:?}", self.recent);
        self.error = Some(m);
    }

    /// Receives every change waiting in `rx`; returns how many. A lag is an error: the changes
    /// missed could not be checked.
    pub fn drain(&mut self, rx: &mut Receiver<StateChange>) -> usize {
        let mut n = 0;
        loop {
            match rx.try_recv() {
                Ok(change) => {
                    self.push(change.old_state, change.new_state);
                    n += 1;
                }
                Err(TryRecvError::Lagged(missed)) => {
                    if self.error.is_none() {
                        self.fail(format!(
                            "the subscriber fell {missed} changes behind after change #{}: \
                             they could not be checked",
                            self.total
                        ));
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => return n,
            }
        }
    }

    /// How many `from -> to` changes were seen.
    pub fn count(&self, from: CircuitState, to: CircuitState) -> u64 {
        self.edges[index(from)][index(to)]
    }

    /// How many changes into `to`, from any state.
    pub fn into(&self, to: CircuitState) -> u64 {
        STATES.iter().map(|from| self.count(*from, to)).sum()
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn last(&self) -> CircuitState {
        self.last
    }

    /// Every change was an edge of the diagram following the previous one, the operator edges
    /// are no more than the operator calls made, and the path ends in `end`.
    #[track_caller]
    pub fn assert_valid(&self, operator: Operator, end: CircuitState) {
        use CircuitState::*;
        if let Some(e) = &self.error {
            panic!("invalid state-change sequence: {e}");
        }
        assert!(
            self.into(ForcedOpen) <= operator.force_open,
            "{} changes to forced_open for {} force_open() calls",
            self.into(ForcedOpen),
            operator.force_open
        );
        assert!(
            self.into(Disabled) <= operator.disable,
            "{} changes to disabled for {} disable() calls",
            self.into(Disabled),
            operator.disable
        );
        let resets = self.count(Open, Closed) + self.count(ForcedOpen, Closed);
        let resets = resets + self.count(Disabled, Closed);
        assert!(
            resets <= operator.reset,
            "{resets} changes to closed from open, forced_open or disabled for {} reset() calls",
            operator.reset
        );
        assert_eq!(self.last, end, "the sequence ends in {}", self.last);
    }
}

// ---------------------------------------------------------------------------------------------
// Draining a subscription concurrently
// ---------------------------------------------------------------------------------------------

/// Drains a breaker's subscription on a thread of its own while a test runs, checking the
/// changes as they come. The channel keeps 64 changes; tests keep their backlog below
/// [`Recorder::ROOM`] with [`Recorder::wait_for_room`] so that none is missed, whatever the
/// scheduler does.
pub struct Recorder {
    rx: Arc<Mutex<Receiver<StateChange>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Path>>,
}

impl Recorder {
    /// The backlog a test lets build up before it waits for the recorder.
    pub const ROOM: usize = 16;

    pub fn start(rx: Receiver<StateChange>) -> Self {
        let rx = Arc::new(Mutex::new(rx));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (rx, stop) = (Arc::clone(&rx), Arc::clone(&stop));
            move || {
                let mut path = Path::new(CircuitState::Closed);
                loop {
                    // Read before draining: everything sent before the stop is drained after it.
                    let stopping = stop.load(Ordering::Acquire);
                    let got = path.drain(&mut rx.lock().unwrap_or_else(PoisonError::into_inner));
                    if got == 0 {
                        if stopping {
                            return path;
                        }
                        std::thread::sleep(Duration::from_micros(100));
                    }
                }
            }
        });
        Self {
            rx,
            stop,
            thread: Some(thread),
        }
    }

    /// Changes sent and not yet received.
    pub fn backlog(&self) -> usize {
        self.rx.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Waits (yielding the thread) until the backlog is at most [`Self::ROOM`].
    pub fn wait_for_room(&self) {
        while self.backlog() > Self::ROOM {
            std::thread::yield_now();
        }
    }

    /// Waits (yielding the task) until the backlog is at most [`Self::ROOM`].
    pub async fn wait_for_room_async(&self) {
        while self.backlog() > Self::ROOM {
            tokio::task::yield_now().await;
        }
    }

    /// Stops the recorder once it has received every change sent so far, and gives the path.
    pub fn finish(mut self) -> Path {
        self.stop.store(true, Ordering::Release);
        match self.thread.take().unwrap().join() {
            Ok(path) => path,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Recovery: no leaked slot, no stuck state
// ---------------------------------------------------------------------------------------------

/// Admits probes until the breaker refuses one, and checks that exactly `half_open_max_calls`
/// were admitted: a slot held by a call that ended without giving it back would show as one
/// probe fewer. The breaker must be half-open, or open and due (then the first call moves it).
#[track_caller]
pub fn admit_all_probes(b: &CircuitBreaker) -> Vec<Permit<'_>> {
    let max = b.config().half_open_max_calls as usize;
    let mut probes = Vec::with_capacity(max);
    loop {
        match b.try_acquire() {
            Ok(p) => {
                assert_eq!(
                    p.admitted_in(),
                    CircuitState::HalfOpen,
                    "{}: a probe was expected",
                    b.name()
                );
                probes.push(p);
                assert!(
                    probes.len() <= max,
                    "{}: more than {max} probes admitted at once",
                    b.name()
                );
            }
            Err(refused) => {
                assert_eq!(
                    refused.retry_after(),
                    Some(Duration::ZERO),
                    "{}: refused in {} instead of for full probe slots",
                    b.name(),
                    b.state()
                );
                break;
            }
        }
    }
    assert_eq!(
        probes.len(),
        max,
        "{}: only {} of {max} probe slots free with no call in flight: slots leaked",
        b.name(),
        probes.len()
    );
    probes
}

/// Brings the breaker to `Open` the way failing calls do (no operator control). When it is
/// half-open, first checks that no slot leaked in this half-open period.
#[track_caller]
pub fn open_by_failures(b: &CircuitBreaker) {
    match b.state() {
        CircuitState::Open => {}
        CircuitState::HalfOpen => {
            let mut probes = admit_all_probes(b);
            probes.pop().unwrap().record_failure();
        }
        CircuitState::Closed => {
            let limit = b.config().failure_threshold;
            for _ in 0..limit {
                match b.try_acquire() {
                    Ok(p) => p.record_failure(),
                    Err(_) => break,
                }
            }
        }
        other => panic!("{}: cannot open a {other} breaker by failures", b.name()),
    }
    assert_eq!(b.state(), CircuitState::Open, "{}", b.name());
}

/// From half-open (or open and due): exactly `half_open_max_calls` probes are admitted, and
/// `success_threshold` successes close the breaker, which then admits calls again.
#[track_caller]
pub fn close_through_half_open(b: &CircuitBreaker) {
    let probes = admit_all_probes(b);
    assert_eq!(b.state(), CircuitState::HalfOpen, "{}", b.name());
    let mut probes = probes.into_iter();
    for _ in 0..b.config().success_threshold {
        probes.next().unwrap().record_success();
    }
    assert_eq!(b.state(), CircuitState::Closed, "{}", b.name());
    drop(probes); // admitted in the half-open period: stale now, and harmless
    let call = b.try_acquire().expect("a closed breaker admits calls");
    assert_eq!(call.admitted_in(), CircuitState::Closed);
    call.record_success();
}

/// After a run, with no call in flight: the breaker opens on failures, `try_half_open` moves it
/// to half-open, exactly `half_open_max_calls` probes are admitted, and it closes again.
#[track_caller]
pub fn assert_recovers(b: &CircuitBreaker) {
    open_by_failures(b);
    assert!(b.try_half_open(), "{}: try_half_open from open", b.name());
    close_through_half_open(b);
}
