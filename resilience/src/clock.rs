//! The breakers' clock.
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
//!
//! Times are nanoseconds since one process-wide [`Anchor`] set decades in the past (so that a
//! paused clock advanced far ahead, or a breaker shared between a paused and a running
//! runtime, never reads a time before it): a breaker keeps no time base of its own.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Rejections stop trusting the coarse clock this long before the deadline. The coarse clock
/// lags the real one by at most one tick: 10 ms at the kernel's lowest tick rate (100 Hz).
/// Where the tick is longer than half this, the coarse clock is not used at all.
pub(crate) const COARSE_SLACK: Duration = Duration::from_millis(20);

/// Set in an open deadline when its period may be checked on the coarse clock.
const COARSE_OK: u64 = 1 << 63;

/// How far before its creation the anchor is placed, the first of these that the platform's
/// `Instant` can represent (50 years, a year, a day, none).
const MARGINS: [Duration; 4] = [
    Duration::from_secs(50 * 365 * 24 * 3600),
    Duration::from_secs(365 * 24 * 3600),
    Duration::from_secs(24 * 3600),
    Duration::ZERO,
];

/// Saturating nanoseconds of a duration.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The process's time base, read once: time zero on the precise clock, on the wall clock and
/// on the coarse clock.
#[derive(Debug)]
struct Anchor {
    /// Time zero, from the real clock (never a paused one).
    instant: Instant,
    /// The wall clock at time zero.
    wall: SystemTime,
    /// The coarse clock's reading at time zero (wrapping), read before `instant` so that a
    /// deadline mapped onto the coarse clock is at or before the real one.
    coarse: u64,
}

fn anchor() -> &'static Anchor {
    static ANCHOR: OnceLock<Anchor> = OnceLock::new();
    ANCHOR.get_or_init(|| {
        let coarse = coarse_now().unwrap_or(0);
        let now = std::time::Instant::now();
        let wall = SystemTime::now();
        let (instant, margin) = MARGINS
            .iter()
            .find_map(|&m| now.checked_sub(m).map(|i| (i, m)))
            .unwrap_or((now, Duration::ZERO));
        Anchor {
            instant: Instant::from_std(instant),
            wall: wall.checked_sub(margin).unwrap_or(SystemTime::UNIX_EPOCH),
            coarse: coarse.wrapping_sub(nanos(margin)),
        }
    })
}

/// Precise nanoseconds since the anchor, on tokio's clock.
pub(crate) fn now() -> u64 {
    nanos(Instant::now().saturating_duration_since(anchor().instant))
}

/// A cheap timestamp for metrics: nanoseconds since the anchor plus one (never 0), to the
/// coarse clock's tick where it is used.
#[inline]
pub(crate) fn stamp() -> u64 {
    match coarse_now() {
        Some(coarse) => coarse.wrapping_sub(anchor().coarse).saturating_add(1),
        None => now().saturating_add(1),
    }
}

/// The wall-clock time of a [`stamp`].
pub(crate) fn wall(stamp: u64) -> SystemTime {
    anchor().wall + Duration::from_nanos(stamp.saturating_sub(1))
}

/// The deadline `timeout` from now, as an open breaker stores it: precise nanoseconds since
/// the anchor, with [`COARSE_OK`] set when rejections may check it on the coarse clock (the
/// coarse clock is used, and tokio's clock is the real one at this moment, not paused).
pub(crate) fn deadline(timeout: Duration) -> u64 {
    // Tokio's clock is read once, between two real readings when the coarse clock is used.
    let before = coarse_now().map(|_| std::time::Instant::now());
    let now = Instant::now();
    let real = before.is_some_and(|b| between(b, now.into_std(), std::time::Instant::now()));
    let precise = nanos(now.saturating_duration_since(anchor().instant))
        .saturating_add(nanos(timeout))
        .min(COARSE_OK - 1);
    if real { precise | COARSE_OK } else { precise }
}

/// Whether tokio's clock, read between two readings of the real one, agrees with them (it is
/// not paused).
fn between(
    before: std::time::Instant,
    tokio: std::time::Instant,
    after: std::time::Instant,
) -> bool {
    before <= tokio && tokio <= after
}

/// The precise time of a deadline from [`deadline`].
pub(crate) fn precise(deadline: u64) -> u64 {
    deadline & !COARSE_OK
}

/// How long until `deadline` (from [`deadline`]), in nanoseconds, when the coarse clock shows
/// it at least [`COARSE_SLACK`] away; `None` when the precise clock must decide.
///
/// The wait is right to within the coarse clock's tick.
#[inline]
pub(crate) fn certainly_before(deadline: u64) -> Option<u64> {
    if deadline & COARSE_OK == 0 {
        return None;
    }
    let now = coarse_now()?.wrapping_sub(anchor().coarse);
    wait_if_far(now, precise(deadline))
}

#[inline]
fn wait_if_far(coarse_now: u64, coarse_deadline: u64) -> Option<u64> {
    (coarse_now.saturating_add(nanos(COARSE_SLACK)) < coarse_deadline)
        .then(|| coarse_deadline - coarse_now)
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
    use std::time::Duration;

    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn rejections_trust_the_coarse_clock_only_until_the_slack_before_the_deadline() {
        let slack = nanos(COARSE_SLACK);
        let deadline = 1_000 * MS;
        assert_eq!(wait_if_far(100 * MS, deadline), Some(900 * MS));
        assert_eq!(wait_if_far(deadline - slack - 1, deadline), Some(slack + 1));
        assert_eq!(wait_if_far(deadline - slack, deadline), None);
        assert_eq!(wait_if_far(deadline, deadline), None);
        assert_eq!(wait_if_far(deadline + MS, deadline), None);
        assert_eq!(wait_if_far(u64::MAX, deadline), None);
        assert_eq!(
            certainly_before(5 * deadline),
            None,
            "no coarse flag, no coarse check"
        );
    }

    #[test]
    fn stamps_are_never_zero_and_walls_follow_them() {
        assert!(stamp() >= 1);
        let wall_at = |n| wall(n);
        assert_eq!(
            wall_at(1 + 5 * MS).duration_since(wall_at(1)).unwrap(),
            Duration::from_millis(5)
        );
        assert_eq!(wall_at(0), wall_at(1));
    }

    #[test]
    fn the_anchor_is_decades_back_and_times_since_it_follow_the_clocks() {
        let before = SystemTime::now();
        let now_stamp = now();
        assert!(now_stamp > nanos(Duration::from_secs(365 * 24 * 3600)));
        let wall_now = wall(now_stamp + 1);
        let off = wall_now
            .duration_since(before)
            .unwrap_or_else(|e| e.duration());
        assert!(
            off < Duration::from_secs(1),
            "wall {wall_now:?} vs {before:?}"
        );
        let (a, b) = (now(), now());
        assert!(a <= b);
        // The stamp's clock (coarse or precise) agrees with the precise one to a few ticks.
        let s = stamp();
        let p = now();
        assert!(s.abs_diff(p) < 50 * MS, "stamp {s} vs now {p}");
    }

    #[test]
    fn a_deadline_keeps_its_precise_time_and_flags_the_coarse_path() {
        let timeout = Duration::from_secs(30);
        let start = now();
        let d = deadline(timeout);
        let p = precise(d);
        assert!(p >= start + nanos(timeout) && p <= now() + nanos(timeout));
        // The flag is set exactly when the coarse clock is in use (no tokio runtime is
        // paused in this test).
        assert_eq!(d & COARSE_OK != 0, coarse_now().is_some());
        if coarse_now().is_some() {
            let wait = Duration::from_nanos(certainly_before(d).expect("30 s away"));
            assert!(wait <= timeout && wait > timeout - Duration::from_secs(1));
            assert_eq!(certainly_before(deadline(COARSE_SLACK)), None);
        }
    }

    #[test]
    fn tokios_clock_is_real_only_between_two_readings_of_the_real_one() {
        let before = std::time::Instant::now();
        let after = before + Duration::from_nanos(50);
        assert!(between(before, before, after));
        assert!(between(before, before + Duration::from_nanos(20), after));
        assert!(between(before, after, after));
        // Paused: frozen before the real readings, or advanced past them.
        assert!(!between(before, before - Duration::from_secs(1), after));
        assert!(!between(before, after + Duration::from_secs(30), after));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_set_while_tokios_clock_is_paused_is_not_checked_coarsely() {
        tokio::time::advance(Duration::from_secs(5)).await;
        let d = deadline(Duration::from_secs(30));
        assert_eq!(d & COARSE_OK, 0);
        assert_eq!(certainly_before(d), None);
    }

    /// What the rejection path relies on: the coarse clock is the monotonic clock, behind it
    /// by less than a tick, and its tick fits the slack twice.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn the_coarse_clock_trails_the_monotonic_clock_by_less_than_a_tick() {
        use rustix::time::{ClockId, clock_getres, clock_gettime};
        let tick = coarse::to_nanos(clock_getres(ClockId::MonotonicCoarse)).unwrap();
        // Linux ticks at 100 Hz at the slowest: 10 ms, half the slack.
        assert!(tick > 0 && tick <= 10 * MS, "tick {tick}");
        assert!(coarse::usable());
        let before = coarse::now().unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let after = coarse::now().unwrap();
        assert!(before > 0);
        let slept = after - before;
        assert!(
            slept + 2 * tick >= 30 * MS && slept < 10_000 * MS,
            "slept {slept}"
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
