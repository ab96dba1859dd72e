//! [`Bulkhead`]: at most `max_concurrent` calls in flight; the others wait their turn, up to
//! `max_wait`, or are refused.
//!
//! # How it works
//!
//! One `AtomicU64` holds the slots taken (bits 0..32) and the callers waiting (bits 32..64).
//! While nobody waits, taking a slot is one compare-and-swap and giving it back one
//! `fetch_sub`: no lock, no allocation, no clock read.
//!
//! A caller that finds every slot taken and may wait registers as a waiter and queues on a
//! [`tokio::sync::Notify`]: the queue, in arrival order, where `notify_one` hands a slot to the
//! first waiter. While anyone waits, a freed slot is not given back but handed over (the count
//! of slots taken does not move), and newcomers queue behind the waiters instead of taking it.
//! Registering, handing a slot over and leaving the queue take a mutex, so that a waiter that
//! gives up (its `max_wait` ran out, or its call was dropped) either is still counted, and
//! leaves, or was already handed a slot, which it then passes on: no slot is ever lost or made
//! up. Waiting allocates nothing: the queue's nodes live in the waiting futures.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

use crate::config::{BulkheadVars, Env};
use crate::error::ConfigError;
use crate::name::Name;

/// Bits 0..32 of the state word: slots taken (running calls, and slots handed to a waiter that
/// has not resumed yet).
const TAKEN_MASK: u64 = u32::MAX as u64;
/// One waiter, in bits 32..64 of the state word.
const WAITER: u64 = 1 << 32;

/// The largest accepted `max_concurrent`.
pub const MAX_CONCURRENT: u32 = 1_000_000;

/// A bulkhead refused a call: all its slots were taken, and stayed taken for as long as the call
/// could wait (`max_wait`, zero by default). The operation was not called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkheadFullError {
    pub(crate) name: Name,
    pub(crate) max_concurrent: u32,
}

impl BulkheadFullError {
    /// The name of the bulkhead that refused the call.
    pub fn bulkhead_name(&self) -> &str {
        &self.name
    }

    /// How many calls the bulkhead lets run at once.
    pub fn max_concurrent(&self) -> u32 {
        self.max_concurrent
    }
}

impl fmt::Display for BulkheadFullError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bulkhead '{}' is full: all {} slot(s) taken",
            self.name, self.max_concurrent
        )
    }
}

impl std::error::Error for BulkheadFullError {}

/// The settings of one [`Bulkhead`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkheadConfig {
    /// How many calls may run at once. Default 10.
    pub max_concurrent: u32,
    /// How long a call may wait for a slot when all are taken; zero (the default) refuses it at
    /// once.
    pub max_wait: Duration,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 10,
            max_wait: Duration::ZERO,
        }
    }
}

/// A snapshot of one [`Bulkhead`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BulkheadMetrics {
    /// Calls running now (slots taken).
    pub in_flight: u32,
    /// Calls waiting for a slot.
    pub waiting: u32,
    /// Calls refused since the bulkhead was built.
    pub refused: u64,
    /// How many calls may run at once.
    pub max_concurrent: u32,
}

/// Builds a [`Bulkhead`].
///
/// ```
/// use std::time::Duration;
/// use resilience::limit::Bulkhead;
///
/// // Zoho's Professional edition: 15 concurrent calls per organisation.
/// let org = Bulkhead::builder("zoho_org")
///     .max_concurrent(15)
///     .max_wait(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(org.metrics().max_concurrent, 15);
/// # Ok::<(), resilience::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct BulkheadBuilder {
    name: Name,
    config: BulkheadConfig,
    read_env: bool,
}

impl BulkheadBuilder {
    /// How many calls may run at once, 1 to [`MAX_CONCURRENT`]. Default 10.
    pub fn max_concurrent(mut self, n: u32) -> Self {
        self.config.max_concurrent = n;
        self
    }

    /// How long a call may wait for a slot, at most [`MAX_DURATION`](crate::config::MAX_DURATION).
    /// Zero (the default) refuses a call at once when every slot is taken.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.config.max_wait = d;
        self
    }

    /// Ignores the environment: only the values set here count.
    pub fn ignore_env(mut self) -> Self {
        self.read_env = false;
        self
    }

    /// Checks the settings, applies the bulkhead's environment variables
    /// (`BULKHEAD_<NAME>_MAX_CONCURRENT`, `BULKHEAD_<NAME>_MAX_WAIT`; see
    /// [`LimitKey`](crate::config::LimitKey)) unless [`ignore_env`](Self::ignore_env) was
    /// called, and builds the bulkhead.
    ///
    /// Errors, for values set here: `max_concurrent` of 0 or above [`MAX_CONCURRENT`],
    /// `max_wait` above [`MAX_DURATION`](crate::config::MAX_DURATION), a name that is not ASCII
    /// letters, digits and `_`. A variable that does not parse is logged at error level and
    /// ignored.
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        let env = self.read_env.then_some(Env::Process);
        self.build_in(env)
    }

    /// Like [`build`](Self::build), reading the variables through `lookup` instead of the
    /// process environment.
    ///
    /// ```
    /// use resilience::limit::Bulkhead;
    ///
    /// let env = |var: &str| (var == "BULKHEAD_ZOHO_ORG_MAX_CONCURRENT").then(|| "20".to_owned());
    /// let org = Bulkhead::builder("zoho_org").max_concurrent(15).build_with_env(env)?;
    /// assert_eq!(org.config().max_concurrent, 20); // the variable wins
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn build_with_env(
        self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Bulkhead, ConfigError> {
        self.build_in(Some(Env::Lookup(&lookup)))
    }

    fn build_in(self, env: Option<Env<'_>>) -> Result<Bulkhead, ConfigError> {
        let context = format!("bulkhead '{}'", self.name);
        let invalid = |setting, value: String, reason: &str| {
            crate::config::invalid(&context, setting, value, reason.to_owned())
        };
        if let Err(reason) = crate::config::validate_name(&self.name) {
            return Err(invalid("name", format!("{:?}", &*self.name), &reason));
        }
        let n = self.config.max_concurrent;
        if n == 0 {
            return Err(invalid("max_concurrent", "0".into(), "must be at least 1"));
        }
        if n > MAX_CONCURRENT {
            return Err(invalid(
                "max_concurrent",
                n.to_string(),
                &format!("must be at most {MAX_CONCURRENT}"),
            ));
        }
        if self.config.max_wait > crate::config::MAX_DURATION {
            return Err(invalid(
                "max_wait",
                format!("{:?}", self.config.max_wait),
                "must be at most 365 days",
            ));
        }
        let mut config = self.config;
        if let Some(env) = env {
            // Each variable is checked on its own when read; none depends on another.
            let (vars, ignored) = BulkheadVars::read(&self.name, env);
            config.max_concurrent = vars.max_concurrent.unwrap_or(config.max_concurrent);
            config.max_wait = vars.max_wait.unwrap_or(config.max_wait);
            for error in &ignored {
                crate::config::log_ignored(&context, error);
            }
        }
        Ok(Bulkhead {
            state: AtomicU64::new(0),
            max_concurrent: AtomicU64::new(u64::from(config.max_concurrent)),
            demand: super::Demand::default(),
            refused: AtomicU64::new(0),
            config,
            name: self.name,
            slow: Mutex::new(()),
            queue: Arc::new(Notify::new()),
        })
    }
}

/// At most `max_concurrent` calls in flight: Zoho's per-organisation concurrency, or any pool a
/// dependency cannot grow.
///
/// A call takes a slot ([`try_acquire`](Bulkhead::try_acquire) without waiting,
/// [`acquire`](Bulkhead::acquire) waiting up to `max_wait` in arrival order) and holds it in a
/// [`BulkheadPermit`], which frees it when dropped: a call that returns, fails, panics or is
/// cancelled never keeps its slot. [`run`](Bulkhead::run) does both around a future.
///
/// Uncontended, taking and freeing a slot is one atomic instruction each, with no lock and no
/// allocation; waiting allocates nothing either.
///
/// ```
/// use resilience::limit::Bulkhead;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let org = Bulkhead::builder("zoho_org").max_concurrent(2).build()?;
/// let a = org.try_acquire()?;
/// let b = org.try_acquire()?;
/// assert!(org.try_acquire().is_err()); // full: refused at once (max_wait is zero)
/// drop(a);
/// let answer = org.run(async { "served" }).await?;
/// assert_eq!(answer, "served");
/// # drop(b);
/// # Ok(())
/// # }
/// ```
pub struct Bulkhead {
    state: AtomicU64,
    /// The slots this bulkhead may fill now: `config.max_concurrent`, unless a fleet leases
    /// this replica fewer (see [`set_capacity`](Bulkhead::set_capacity)).
    max_concurrent: AtomicU64,
    /// Told when a call is refused or waits.
    demand: super::Demand,
    refused: AtomicU64,
    config: BulkheadConfig,
    name: Name,
    /// Serializes registering a waiter, handing a slot over and a waiter leaving.
    slow: Mutex<()>,
    /// The waiters, in arrival order: `notify_one` hands a slot to the first.
    queue: Arc<Notify>,
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &&*self.name)
            .field("config", &self.config)
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl Bulkhead {
    /// A builder for a bulkhead named `name` (ASCII letters, digits and `_`).
    pub fn builder(name: impl Into<std::borrow::Cow<'static, str>>) -> BulkheadBuilder {
        BulkheadBuilder {
            name: Name::from(name.into()),
            config: BulkheadConfig::default(),
            read_env: true,
        }
    }

    /// The bulkhead's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bulkhead's settings.
    pub fn config(&self) -> &BulkheadConfig {
        &self.config
    }

    /// Calls in flight, waiting, refused.
    pub fn metrics(&self) -> BulkheadMetrics {
        let word = self.state.load(Ordering::Relaxed);
        BulkheadMetrics {
            in_flight: (word & TAKEN_MASK) as u32,
            waiting: (word >> 32) as u32,
            refused: self.refused.load(Ordering::Relaxed),
            max_concurrent: self.config.max_concurrent,
        }
    }

    /// Takes a slot if one is free and nobody waits for one; never waits.
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadFullError> {
        if self.take_fast() {
            Ok(Slot { bulkhead: self })
        } else {
            Err(self.refuse(Duration::ZERO))
        }
    }

    /// [`try_acquire`](Bulkhead::try_acquire) for a slot that owns a handle to the bulkhead, for
    /// a call that outlives a borrow (a `tower` future, a spawned task).
    pub fn try_acquire_owned(self: &Arc<Self>) -> Result<OwnedBulkheadPermit, BulkheadFullError> {
        if self.take_fast() {
            Ok(Slot {
                bulkhead: Arc::clone(self),
            })
        } else {
            Err(self.refuse(Duration::ZERO))
        }
    }

    /// Takes a slot, waiting up to `max_wait` behind the callers already waiting.
    ///
    /// Dropping the returned future while it waits leaves the queue; a slot handed to it in the
    /// meantime passes to the next waiter. Waiting needs a tokio runtime with time enabled (for
    /// `max_wait`); taking a free slot does not.
    pub fn acquire(&self) -> Acquire<&Bulkhead> {
        Acquire::new(self)
    }

    /// [`acquire`](Bulkhead::acquire) for a slot that owns a handle to the bulkhead.
    pub fn acquire_owned(self: &Arc<Self>) -> Acquire<Arc<Bulkhead>> {
        Acquire::new(Arc::clone(self))
    }

    /// Runs `fut` in a slot: takes one (waiting up to `max_wait`), awaits `fut`, frees the slot.
    /// `fut` is not polled when no slot could be had.
    pub async fn run<F: Future>(&self, fut: F) -> Result<F::Output, BulkheadFullError> {
        let _slot = self.acquire().await?;
        Ok(fut.await)
    }

    /// A slot, without registering as a waiter: only while nobody waits.
    #[inline]
    fn take_fast(&self) -> bool {
        let mut word = self.state.load(Ordering::Relaxed);
        loop {
            if word >= WAITER || word & TAKEN_MASK >= self.max_concurrent.load(Ordering::Relaxed) {
                return false;
            }
            match self.state.compare_exchange_weak(
                word,
                word + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(current) => word = current,
            }
        }
    }

    #[cold]
    fn refuse(&self, waited: Duration) -> BulkheadFullError {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.demand.signal();
        crate::events::bulkhead_full(&self.name, self.config.max_concurrent, waited);
        BulkheadFullError {
            name: self.name.clone(),
            max_concurrent: self.config.max_concurrent,
        }
    }

    /// Frees a slot: gives it back, or hands it to the first waiter.
    ///
    /// The slot is given back only while no waiter is counted, in one compare-and-swap: taking
    /// it off first and undoing would open a window in which the last waiter leaves, a
    /// newcomer takes the freed slot and the undo then hands it to another.
    #[inline]
    fn release(&self) {
        let mut word = self.state.load(Ordering::Relaxed);
        while word < WAITER {
            match self.state.compare_exchange_weak(
                word,
                word - 1,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(current) => word = current,
            }
        }
        self.release_contended();
    }

    /// [`release`](Self::release) when someone waits.
    #[cold]
    #[inline(never)]
    fn release_contended(&self) {
        let _guard = self.lock();
        self.release_locked();
    }

    /// Frees a slot with the slow path's lock held: hands it to the first waiter, unless the
    /// capacity was lowered below the slots taken (then it is given back).
    fn release_locked(&self) {
        let word = self.state.load(Ordering::Acquire);
        if word >= WAITER && word & TAKEN_MASK <= self.max_concurrent.load(Ordering::Relaxed) {
            // The slot stays taken, by the first waiter now.
            self.state.fetch_sub(WAITER, Ordering::AcqRel);
            self.queue.notify_one();
        } else {
            self.state.fetch_sub(1, Ordering::Release);
        }
    }

    /// The slots this bulkhead may fill now.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn capacity(&self) -> u32 {
        u32::try_from(self.max_concurrent.load(Ordering::Relaxed)).unwrap_or(u32::MAX)
    }

    /// Lets the bulkhead fill `slots` slots from now on (the fleet's lease on this replica),
    /// at most `max_concurrent`, and returns the slots taken now. Raised, the new slots go to
    /// the waiters first, in their order; lowered below the slots taken, the calls in flight
    /// run on and their slots are given back, not handed over, until the count is under it.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn set_capacity(&self, slots: u32) -> u32 {
        let slots = u64::from(slots.min(self.config.max_concurrent));
        let _guard = self.lock();
        self.max_concurrent.store(slots, Ordering::Relaxed);
        loop {
            let word = self.state.load(Ordering::Acquire);
            if word < WAITER || word & TAKEN_MASK >= slots {
                return (word & TAKEN_MASK) as u32;
            }
            // One more slot taken, by the first waiter.
            self.state.fetch_sub(WAITER - 1, Ordering::AcqRel);
            self.queue.notify_one();
        }
    }

    /// Whom to tell when a call is refused or waits.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn demand(&self) -> &super::Demand {
        &self.demand
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.slow.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers as a waiter, with `notified` queued to be told when a slot is handed over,
    /// or takes a slot if one came free: `true` when registered.
    fn register(&self, notified: Pin<&mut Option<OwnedNotified>>) -> bool {
        let _guard = self.lock();
        let mut word = self.state.load(Ordering::Relaxed);
        loop {
            if word < WAITER && word & TAKEN_MASK < self.max_concurrent.load(Ordering::Relaxed) {
                match self.state.compare_exchange_weak(
                    word,
                    word + 1,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return false,
                    Err(current) => word = current,
                }
                continue;
            }
            // Counted only if no slot came free meanwhile (a release takes no lock while no
            // waiter is counted): otherwise take that slot instead.
            #[cfg(test)]
            tests::before_counting();
            if let Err(current) = self.state.compare_exchange_weak(
                word,
                word + WAITER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                word = current;
                continue;
            }
            // Counted, so every slot freed from now on is handed over under this lock: queued
            // before the lock is let go, the waiter is there to take it.
            let mut notified = notified;
            notified.set(Some(Arc::clone(&self.queue).notified_owned()));
            let queued = notified.as_pin_mut().map(|n| n.enable());
            debug_assert_eq!(
                queued,
                Some(false),
                "no handed-over slot is ever left unclaimed"
            );
            self.demand.signal();
            return true;
        }
    }

    /// A waiter that gives up: leaves the queue and the count of waiters, or, when it was
    /// already handed a slot, passes that slot on.
    fn leave(&self, notified: Pin<&mut Option<OwnedNotified>>) {
        let _guard = self.lock();
        // Out of the queue: a slot handed to it and not yet claimed goes to the next waiter in
        // the queue, or, with none left, stays in the `Notify` (claimed below).
        let mut notified = notified;
        notified.set(None);
        if self.state.load(Ordering::Acquire) >= WAITER {
            // Still counted: nobody handed this waiter a slot (or the slot went on to the next
            // waiter, whose count this takes off instead).
            self.state.fetch_sub(WAITER, Ordering::AcqRel);
            return;
        }
        // No waiter is counted, so none is unserved: this one was handed a slot. Claim what
        // its departure left in the `Notify`, so that no later waiter takes it for a slot, and
        // pass the slot on.
        let claim = pin!(Arc::clone(&self.queue).notified_owned());
        claim.enable();
        self.release_locked();
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Bulkhead::acquire`] and [`Bulkhead::acquire_owned`]: a slot, or
    /// [`BulkheadFullError`] once `max_wait` has passed.
    ///
    /// Dropped while it waits, it leaves the queue; a slot handed to it meanwhile passes to the
    /// next waiter.
    #[must_use = "futures do nothing unless polled"]
    pub struct Acquire<B: Deref<Target = Bulkhead>> {
        // `None` once the future has completed.
        bulkhead: Option<B>,
        // Some while registered as a waiter.
        #[pin]
        notified: Option<OwnedNotified>,
        // The end of `max_wait`, once waiting.
        #[pin]
        deadline: Option<tokio::time::Sleep>,
        started: Option<tokio::time::Instant>,
    }

    impl<B: Deref<Target = Bulkhead>> PinnedDrop for Acquire<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let (Some(bulkhead), true) = (this.bulkhead.as_ref(), this.notified.is_some()) {
                bulkhead.leave(this.notified);
            }
        }
    }
}

impl<B: Deref<Target = Bulkhead>> Acquire<B> {
    fn new(bulkhead: B) -> Self {
        Acquire {
            bulkhead: Some(bulkhead),
            notified: None,
            deadline: None,
            started: None,
        }
    }
}

impl<B: Deref<Target = Bulkhead>> fmt::Debug for Acquire<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("waiting", &self.notified.is_some())
            .finish_non_exhaustive()
    }
}

impl<B: Deref<Target = Bulkhead>> Future for Acquire<B> {
    type Output = Result<Slot<B>, BulkheadFullError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let bulkhead = this
            .bulkhead
            .as_deref()
            .expect("`Acquire` polled after it completed");
        if this.notified.is_none() {
            // First poll.
            if bulkhead.take_fast() {
                return Poll::Ready(Ok(Slot {
                    bulkhead: this.bulkhead.take().expect("checked above"),
                }));
            }
            if bulkhead.config.max_wait.is_zero() {
                let refused = bulkhead.refuse(Duration::ZERO);
                *this.bulkhead = None;
                return Poll::Ready(Err(refused));
            }
            if !bulkhead.register(this.notified.as_mut()) {
                return Poll::Ready(Ok(Slot {
                    bulkhead: this.bulkhead.take().expect("checked above"),
                }));
            }
            let started = tokio::time::Instant::now();
            *this.started = Some(started);
            this.deadline.set(Some(tokio::time::sleep_until(
                started + bulkhead.config.max_wait,
            )));
        }
        let handed = this
            .notified
            .as_mut()
            .as_pin_mut()
            .expect("registered")
            .poll(cx);
        if handed.is_ready() {
            // The slot is ours: the waiter's count was taken off by whoever handed it over.
            this.notified.set(None);
            return Poll::Ready(Ok(Slot {
                bulkhead: this.bulkhead.take().expect("checked above"),
            }));
        }
        let timed_out = this
            .deadline
            .as_pin_mut()
            .expect("set when registered")
            .poll(cx);
        if timed_out.is_pending() {
            return Poll::Pending;
        }
        bulkhead.leave(this.notified.as_mut());
        let waited = this.started.map_or(Duration::ZERO, |s| s.elapsed());
        let refused = bulkhead.refuse(waited);
        *this.bulkhead = None;
        Poll::Ready(Err(refused))
    }
}

/// One slot of a [`Bulkhead`], freed when dropped.
pub type BulkheadPermit<'a> = Slot<&'a Bulkhead>;

/// A [`BulkheadPermit`] that owns a handle to its bulkhead, from
/// [`Bulkhead::try_acquire_owned`] or [`Bulkhead::acquire_owned`].
pub type OwnedBulkheadPermit = Slot<Arc<Bulkhead>>;

/// One slot of a bulkhead held through `B` (a reference for [`BulkheadPermit`], an `Arc` for
/// [`OwnedBulkheadPermit`]): the call may run while it lives, and dropping it frees the slot.
#[must_use = "the slot is freed as soon as the permit is dropped"]
#[derive(Debug)]
pub struct Slot<B: Deref<Target = Bulkhead>> {
    bulkhead: B,
}

impl<B: Deref<Target = Bulkhead>> Slot<B> {
    /// The bulkhead this slot belongs to.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
    }
}

impl<B: Deref<Target = Bulkhead>> Drop for Slot<B> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::task::Waker;

    thread_local! {
        /// Runs between a registration's reading of the state word and its counting of the
        /// waiter: where a lock-free release can slip in.
        static BEFORE_COUNTING: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    fn with_time() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    pub(super) fn before_counting() {
        if let Some(hook) = BEFORE_COUNTING.with(|h| h.borrow_mut().take()) {
            hook();
        }
    }

    /// The slot is freed (without the lock, as no waiter is counted yet) after the caller saw
    /// it taken and before it counted itself a waiter: it must take that slot, not wait for a
    /// hand-over that never comes while the free slot stays barred to every newcomer.
    #[test]
    fn a_slot_freed_while_a_caller_registers_is_taken_not_lost() {
        let runtime = with_time();
        let _context = runtime.enter();
        let org = Arc::new(
            Bulkhead::builder("unit_register")
                .max_concurrent(1)
                .max_wait(Duration::from_secs(3600))
                .ignore_env()
                .build()
                .unwrap(),
        );
        let holder = org.try_acquire_owned().unwrap();
        BEFORE_COUNTING.with(|h| *h.borrow_mut() = Some(Box::new(move || drop(holder))));
        let mut waiter = Box::pin(org.acquire());
        let polled = waiter
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(
            matches!(polled, Poll::Ready(Ok(_))),
            "waiting on a free slot: {:?}",
            org.metrics()
        );
        drop(polled);
        let m = org.metrics();
        assert_eq!((m.in_flight, m.waiting), (0, 0));
    }

    /// A capacity raised hands the new slots to the waiters in their order; lowered below the
    /// slots taken, a freed slot is given back, not handed to a waiter, until the count is
    /// under it.
    #[test]
    fn a_capacity_changed_at_run_time_serves_waiters_and_drains_above_it() {
        let runtime = with_time();
        let _context = runtime.enter();
        let org = Bulkhead::builder("unit_capacity")
            .max_concurrent(4)
            .max_wait(Duration::from_secs(3600))
            .ignore_env()
            .build()
            .unwrap();
        fn poll<'a>(
            f: Pin<&mut Acquire<&'a Bulkhead>>,
        ) -> Poll<Result<BulkheadPermit<'a>, BulkheadFullError>> {
            f.poll(&mut Context::from_waker(Waker::noop()))
        }
        assert_eq!(org.set_capacity(1), 0);
        let first = org.try_acquire().expect("one slot");
        assert!(org.try_acquire().is_err(), "capacity 1");
        let mut second = Box::pin(org.acquire());
        let mut third = Box::pin(org.acquire());
        assert!(poll(second.as_mut()).is_pending());
        assert!(poll(third.as_mut()).is_pending());
        assert_eq!(org.metrics().waiting, 2);
        // Raised by one: the first waiter gets it, the second still waits.
        assert_eq!(org.set_capacity(2), 2);
        let second = match poll(second.as_mut()) {
            Poll::Ready(Ok(slot)) => slot,
            other => panic!("the first waiter is served: {other:?}"),
        };
        assert!(poll(third.as_mut()).is_pending());
        // Lowered to one with two taken: a freed slot is given back, the waiter still waits.
        assert_eq!(org.set_capacity(1), 2);
        drop(first);
        assert_eq!(org.metrics().in_flight, 1);
        assert!(poll(third.as_mut()).is_pending());
        // Under the capacity again: the next freed slot is handed over.
        drop(second);
        assert!(matches!(poll(third.as_mut()), Poll::Ready(Ok(_))));
        // Never above max_concurrent.
        assert_eq!(org.set_capacity(100), 0);
        assert_eq!(org.capacity(), 4);
    }
}
