//! The breaker's clocks.
//!
//! Every decision that needs precision reads [`tokio::time::Instant`], so a breaker follows
//! tokio's paused, virtual clock in tests. Reading it costs a full clock read (tens of
//! nanoseconds in a VM), which two frequent paths should not pay on every call:
//!
//! - a rejection while open only has to know that the recovery timeout is *certainly* not
//!   over. The kernel's coarse monotonic clock (`CLOCK_MONOTONIC_COARSE`, a few nanoseconds
//!   to read, at most one kernel tick behind) answers that until [`COARSE_SLACK`] before the
//!   deadline; from there on, rejections read the precise clock, so the open period ends
//!   exactly when it should.
//! - a failure stamps `last_failure_time`, a value for metrics, to the coarse clock's tick.
//!
//! The coarse clock is used on Linux and Android, and not with the `test-util` feature (there,
//! every read is tokio's, virtual when paused). When tokio's clock is paused at the moment a
//! breaker opens, that open period is timed on tokio's clock alone, feature or not.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Rejections stop trusting the coarse clock this long before the deadline. The coarse clock
/// lags the real one by at most one tick: 10 ms at the kernel's lowest tick rate (100 Hz).
/// Where the tick is longer than half this, the coarse clock is not used at all.
pub(crate) const COARSE_SLACK: Duration = Duration::from_millis(20);

/// Saturating nanoseconds of a duration.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A breaker's time base: nanoseconds since its creation, on tokio's clock.
#[derive(Debug)]
pub(crate) struct Clock {
    epoch: Instant,
    /// The wall clock at `epoch`, for `last_failure_time`.
    epoch_wall: SystemTime,
    /// The coarse clock at `epoch` (read first, so at or before it), when it is used.
    epoch_coarse: u64,
}

/// Where an open period ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline {
    /// On the precise clock: nanoseconds since the breaker's epoch.
    pub(crate) precise: u64,
    /// On the coarse clock (its own nanoseconds), at or before the precise deadline; 0 when
    /// this period must be timed on the precise clock alone.
    pub(crate) coarse: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            epoch_coarse: coarse_now().unwrap_or(0),
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
        }
    }

    /// Precise nanoseconds since the epoch.
    pub(crate) fn now(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }

    /// A cheap timestamp for metrics: nanoseconds since the epoch plus one (never 0), to the
    /// coarse clock's tick where it is used.
    #[inline]
    pub(crate) fn stamp(&self) -> u64 {
        if let Some(now) = coarse_now() {
            return now.saturating_sub(self.epoch_coarse).saturating_add(1);
        }
        self.now().saturating_add(1)
    }

    /// The wall-clock time of a [`stamp`](Self::stamp).
    pub(crate) fn wall(&self, stamp: u64) -> SystemTime {
        self.epoch_wall + Duration::from_nanos(stamp.saturating_sub(1))
    }

    /// The deadline `timeout` from now.
    pub(crate) fn deadline(&self, timeout: Duration) -> Deadline {
        let timeout = nanos(timeout);
        let Some(coarse) = coarse_now() else {
            return Deadline {
                precise: self.now().saturating_add(timeout),
                coarse: 0,
            };
        };
        let before = std::time::Instant::now();
        let now = Instant::now();
        let after = std::time::Instant::now();
        Deadline {
            precise: nanos(now.saturating_duration_since(self.epoch)).saturating_add(timeout),
            coarse: coarse_deadline(coarse, (before, now.into_std(), after), timeout),
        }
    }
}

/// The coarse deadline `timeout` after `coarse_now` (read first), or 0 when tokio's clock,
/// read between the two std readings of `bracket`, is not the real one (paused).
fn coarse_deadline(
    coarse_now: u64,
    bracket: (std::time::Instant, std::time::Instant, std::time::Instant),
    timeout: u64,
) -> u64 {
    let (before, tokio_now, after) = bracket;
    if before <= tokio_now && tokio_now <= after {
        coarse_now.saturating_add(timeout).max(1)
    } else {
        0
    }
}

/// How long until `coarse_deadline` (a [`Deadline::coarse`]) when the coarse clock shows it
/// at least [`COARSE_SLACK`] away; `None` when the precise clock must decide.
///
/// The wait is right to within the coarse clock's tick.
#[inline]
pub(crate) fn certainly_before(coarse_deadline: u64) -> Option<Duration> {
    if coarse_deadline == 0 {
        return None;
    }
    wait_if_far(coarse_now()?, coarse_deadline)
}

#[inline]
fn wait_if_far(coarse_now: u64, coarse_deadline: u64) -> Option<Duration> {
    (coarse_now.saturating_add(nanos(COARSE_SLACK)) < coarse_deadline)
        .then(|| Duration::from_nanos(coarse_deadline - coarse_now))
}

/// The coarse clock, where it is used (Linux and Android, without `test-util`).
#[inline]
fn coarse_now() -> Option<u64> {
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(feature = "test-util")
    ))]
    return coarse::now();
    #[allow(unreachable_code)]
    None
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[cfg_attr(feature = "test-util", allow(dead_code))] // compiled for the tests below
mod coarse {
    use std::sync::OnceLock;

    use rustix::time::{ClockId, Timespec, clock_getres, clock_gettime};

    pub(super) fn to_nanos(t: Timespec) -> Option<u64> {
        let secs = u64::try_from(t.tv_sec).ok()?;
        let sub = u64::try_from(t.tv_nsec).ok()?;
        secs.checked_mul(1_000_000_000)?.checked_add(sub)
    }

    /// Whether the coarse clock ticks finely enough for [`super::COARSE_SLACK`].
    pub(super) fn usable() -> bool {
        static USABLE: OnceLock<bool> = OnceLock::new();
        *USABLE.get_or_init(|| {
            to_nanos(clock_getres(ClockId::MonotonicCoarse))
                .is_some_and(|tick| tick > 0 && 2 * tick <= super::nanos(super::COARSE_SLACK))
        })
    }

    /// The coarse monotonic clock in nanoseconds, when it can be relied on.
    #[inline]
    pub(super) fn now() -> Option<u64> {
        if usable() {
            to_nanos(clock_gettime(ClockId::MonotonicCoarse))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_coarse_deadline_is_set_only_when_tokios_clock_is_the_real_one() {
        let before = Instant::now();
        let after = before + Duration::from_nanos(50);
        let inside = before + Duration::from_nanos(20);
        assert_eq!(
            coarse_deadline(7 * MS, (before, before, after), 30 * MS),
            37 * MS
        );
        assert_eq!(
            coarse_deadline(7 * MS, (before, inside, after), 30 * MS),
            37 * MS
        );
        assert_eq!(
            coarse_deadline(7 * MS, (before, after, after), 30 * MS),
            37 * MS
        );
        // Paused: tokio's instant is frozen before, or advanced past, the real reading.
        let frozen = before - Duration::from_secs(1);
        let advanced = after + Duration::from_secs(30);
        assert_eq!(coarse_deadline(7 * MS, (before, frozen, after), 30 * MS), 0);
        assert_eq!(
            coarse_deadline(7 * MS, (before, advanced, after), 30 * MS),
            0
        );
        // 0 means "none": a real deadline is never 0.
        assert_eq!(coarse_deadline(0, (before, inside, after), 0), 1);
        assert_eq!(
            coarse_deadline(u64::MAX, (before, inside, after), 5),
            u64::MAX
        );
    }

    #[test]
    fn rejections_trust_the_coarse_clock_only_until_the_slack_before_the_deadline() {
        let slack = nanos(COARSE_SLACK);
        let deadline = 1_000 * MS;
        assert_eq!(
            wait_if_far(100 * MS, deadline),
            Some(Duration::from_millis(900))
        );
        assert_eq!(
            wait_if_far(deadline - slack - 1, deadline),
            Some(Duration::from_nanos(slack + 1))
        );
        assert_eq!(wait_if_far(deadline - slack, deadline), None);
        assert_eq!(wait_if_far(deadline, deadline), None);
        assert_eq!(wait_if_far(deadline + MS, deadline), None);
        assert_eq!(wait_if_far(u64::MAX, deadline), None);
        assert_eq!(certainly_before(0), None, "0 is no coarse deadline");
    }

    #[test]
    fn stamps_are_never_zero_and_walls_follow_them() {
        let clock = Clock::new();
        assert!(clock.stamp() >= 1);
        let wall = clock.wall(1 + 5 * MS);
        assert_eq!(
            wall.duration_since(clock.wall(1)).unwrap(),
            Duration::from_millis(5)
        );
        assert_eq!(clock.wall(0), clock.wall(1));
    }

    /// What the rejection path relies on: the coarse clock is the monotonic clock, behind it
    /// by less than a tick, and its tick fits the slack twice.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn the_coarse_clock_trails_the_monotonic_clock_by_less_than_a_tick() {
        use rustix::time::{ClockId, clock_getres, clock_gettime};
        let tick = coarse::to_nanos(clock_getres(ClockId::MonotonicCoarse)).unwrap();
        assert_eq!(
            coarse::usable(),
            tick > 0 && 2 * tick <= nanos(COARSE_SLACK)
        );
        for _ in 0..1_000 {
            let coarse = coarse::to_nanos(clock_gettime(ClockId::MonotonicCoarse)).unwrap();
            let precise = coarse::to_nanos(clock_gettime(ClockId::Monotonic)).unwrap();
            // A scheduler pause between the two reads only widens the gap; allow two ticks.
            assert!(
                coarse <= precise,
                "coarse {coarse} ahead of monotonic {precise}"
            );
            assert!(
                precise - coarse < 2 * tick + 5 * MS,
                "lag {}",
                precise - coarse
            );
        }
    }
}
