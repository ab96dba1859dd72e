//! One execution of a policy: its attempts, its waits, and when it gives up.

use super::*;

/// One execution of a [`RetryPolicy`]: counts the attempts and draws the waits. Made by
/// [`RetryPolicy::start`].
#[derive(Debug)]
pub struct RetryRun<'p> {
    pub(super) policy: &'p RetryPolicy,
    pub(super) state: RunState,
}

impl RetryRun<'_> {
    /// Attempts that have failed so far.
    pub fn attempts(&self) -> u32 {
        self.state.attempts()
    }

    /// Records a failed attempt and says how long to wait before the next one, or gives up
    /// (with `error` inside) when the verdict says stop, the attempts are spent or the next wait
    /// would pass the budget. Emits `retry_attempt` or `retry_exhausted`.
    pub fn after_failure<E: fmt::Display>(
        &mut self,
        error: E,
        verdict: Verdict,
    ) -> Result<Duration, RetryError<E>> {
        match self
            .state
            .after_failure(self.policy, &error, verdict, || true)
        {
            Ok(wait) => Ok(wait),
            Err(GiveUp::Stopped) => Err(RetryError::Stopped {
                attempts: self.state.attempts,
                error,
            }),
            Err(GiveUp::Exhausted) => Err(RetryError::Exhausted(RetryExhaustedError {
                attempts: self.state.attempts,
                last_error: error,
            })),
        }
    }
}

/// Why an execution gives up (the event is emitted already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// Not retryable, or asked to wait longer than `max_delay`.
    Stopped,
    /// The attempts or the budget are spent.
    Exhausted,
}

/// The state of one execution, owned: what [`RetryRun`] borrows its policy around, and what a
/// `tower` retry keeps beside an `Arc` of its policy.
#[derive(Debug)]
pub(crate) struct RunState {
    attempts: u32,
    jitter: Jitter,
    started: Option<Instant>,
}

impl RunState {
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        RunState {
            attempts: 0,
            jitter: Jitter::new(policy.seed),
            started: policy.budget.map(|_| Instant::now()),
        }
    }

    /// Attempts that have failed so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Records a failed attempt: the wait before the next one, or why to give up. Emits
    /// `retry_attempt`, `retry_stopped` or `retry_exhausted`. `may_retry` is asked last, once
    /// the policy would retry (a retry budget withdraws there); `false` stops the retries.
    pub(crate) fn after_failure(
        &mut self,
        policy: &RetryPolicy,
        error: &dyn fmt::Display,
        verdict: Verdict,
        may_retry: impl FnOnce() -> bool,
    ) -> Result<Duration, GiveUp> {
        self.attempts += 1;
        let attempt = self.attempts;
        let wait = match verdict {
            Verdict::Stop => {
                events::retry_stopped(&policy.operation, attempt, "not retryable", error);
                return Err(GiveUp::Stopped);
            }
            Verdict::RetryAfter(wait) if wait > policy.max_delay => {
                events::retry_stopped(
                    &policy.operation,
                    attempt,
                    "asked to wait longer than max_delay",
                    error,
                );
                return Err(GiveUp::Stopped);
            }
            Verdict::RetryAfter(wait) => wait.max(policy.next_delay(attempt - 1, &mut self.jitter)),
            Verdict::Retry => policy.next_delay(attempt - 1, &mut self.jitter),
        };
        if attempt >= policy.max_attempts {
            events::retry_exhausted(&policy.operation, attempt, error);
            return Err(GiveUp::Exhausted);
        }
        if let (Some(budget), Some(started)) = (policy.budget, self.started) {
            if started.elapsed() + wait > budget {
                events::retry_exhausted(&policy.operation, attempt, error);
                return Err(GiveUp::Exhausted);
            }
        }
        if !may_retry() {
            events::retry_stopped(&policy.operation, attempt, "retry budget spent", error);
            return Err(GiveUp::Stopped);
        }
        events::retry_attempt(&policy.operation, attempt, policy.max_attempts, wait, error);
        Ok(wait)
    }
}

/// The source of jitter factors for one execution: seeded (deterministic) or the thread's
/// generator (drawn afresh each time, so the execution's future stays `Send`).
#[derive(Debug)]
pub(super) enum Jitter {
    Thread,
    Seeded(SmallRng),
}

impl Jitter {
    fn new(seed: Option<u64>) -> Self {
        match seed {
            Some(seed) => Jitter::Seeded(SmallRng::seed_from_u64(seed)),
            None => Jitter::Thread,
        }
    }

    pub(super) fn factor(&mut self) -> f64 {
        match self {
            Jitter::Thread => rand::rng().random_range(0.5..1.5),
            Jitter::Seeded(rng) => rng.random_range(0.5..1.5),
        }
    }
}
