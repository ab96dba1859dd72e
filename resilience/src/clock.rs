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
//! - a failure stamps `last_failure_time`, a value for metrics, to the coarse clock's tick: the
//!   stamp is the coarse clock's own reading, converted to a wall time when the metrics are
//!   read ([`stamp`], [`wall`]), so the failure path does not even look up the anchor.
//! - a rate limiter's admission: a token may be handed out up to a tick before it is due
//!   (the limit then holds over any interval lengthened by a tick), while every refusal, and
//!   so every `retry_after`, is decided on the precise clock (see
//!   [`RateLimiter`](crate::limit::RateLimiter)).
//!
//! The coarse clock is used on Linux and Android, and not with the `test-util` feature (there,
//! every read is tokio's, virtual when paused). When tokio's clock is paused at the moment a
//! breaker opens, that open period is timed on tokio's clock alone, feature or not.
//!
//! # One open period, one clock
//!
//! An open period that starts while tokio's clock runs (flagged [`COARSE_OK`]) is timed on
//! the real clock by everything that judges it: admission (coarse, then precise) and the
//! metrics' `time_until_retry` ([`now_for`]). Pausing tokio's clock afterwards does not end it
//! early; a test that wants virtual time to end an open period pauses before the breaker
//! opens. A period that starts while tokio's clock is paused is timed on tokio's clock by all.
//!
//! # Never a `retry_after` too short
//!
//! The coarse clock and the monotonic clock are one timeline (the coarse one is the monotonic
//! time of the last tick, never ahead of it). The anchor's coarse offset is a reading of the
//! *monotonic* clock taken right after the precise anchor, so a coarse reading minus the
//! offset is never ahead of the precise time since the anchor: a wait computed from it is at
//! least the time actually left, and a caller that sleeps it finds the breaker due. It is
//! longer by at most the coarse clock's lag (under a tick) plus the anchor's read gap (at most
//! [`ANCHOR_GAP`]), so the coarse check stays safe within [`COARSE_SLACK`].
//!
//! Times are nanoseconds since one process-wide [`Anchor`] set decades in the past (so that a
//! paused clock advanced far ahead, or a breaker shared between a paused and a running
//! runtime, never reads a time before it): a breaker keeps no time base of its own.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Rejections stop trusting the coarse clock this long before the deadline. The coarse clock
/// lags the real one by at most one tick: 10 ms at the kernel's lowest tick rate (100 Hz).
/// Where the tick is longer than half this, the coarse clock is not used at all.
pub(crate) const COARSE_SLACK: Duration = Duration::from_millis(20);

/// Set in an open deadline when its period started on the real clock: it may be checked on
/// the coarse clock, and is timed on the real clock.
const COARSE_OK: u64 = 1 << 63;

/// The longest the anchor's two monotonic readings around the precise one may be apart for
/// the coarse clock to be used (a preemption between them makes it retry).
const ANCHOR_GAP: u64 = 1_000_000;

/// How far before its creation the anchor is placed, the first of these that the platform's
/// `Instant` can represent (50 years, a year, a day, none).
const MARGINS: [Duration; 4] = [
    Duration::from_secs(50 * 365 * 24 * 3600),
    Duration::from_secs(365 * 24 * 3600),
    Duration::from_secs(24 * 3600),
    Duration::ZERO,
];

/// Whether the coarse clock is compiled in (Linux and Android, without `test-util`); whether
/// decisions use it is the anchor's call ([`Anchor::coarse_ok`]).
const COARSE_BUILT: bool = cfg!(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "test-util")
));

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
    /// Time zero on the coarse clock's timeline (wrapping): the monotonic clock read right
    /// *after* `instant`, so that a coarse reading minus it is never ahead of the precise time
    /// since `instant`. See [`coarse_offset`]. Set wherever the coarse clock is compiled in,
    /// even where it is not used for decisions: [`wall`] converts coarse stamps with it.
    coarse: u64,
    /// Whether breakers use the coarse clock: it exists here, ticks finely enough, and the
    /// anchor's readings were close enough together.
    coarse_ok: bool,
}

fn anchor() -> &'static Anchor {
    static ANCHOR: OnceLock<Anchor> = OnceLock::new();
    ANCHOR.get_or_init(|| {
        let (now, coarse) = anchor_readings();
        let wall = SystemTime::now();
        let (instant, margin) = MARGINS
            .iter()
            .find_map(|&m| now.checked_sub(m).map(|i| (i, m)))
            .unwrap_or((now, Duration::ZERO));
        Anchor {
            instant: Instant::from_std(instant),
            wall: wall.checked_sub(margin).unwrap_or(SystemTime::UNIX_EPOCH),
            coarse: coarse.offset.wrapping_sub(nanos(margin)),
            coarse_ok: coarse.usable,
        }
    })
}

/// The anchor's time on the coarse clock's timeline, and whether decisions may use the coarse
/// clock.
#[derive(Default)]
struct CoarseAnchor {
    offset: u64,
    usable: bool,
}

/// The precise anchor, and where the coarse clock is compiled in, its time on the coarse
/// clock's timeline: monotonic readings before and after the precise one, retried while a
/// preemption keeps them more than [`ANCHOR_GAP`] apart. The coarse clock is usable for
/// decisions when it ticks finely enough and the readings were close enough; the offset is
/// kept either way, for the stamps of [`stamp`].
fn anchor_readings() -> (std::time::Instant, CoarseAnchor) {
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(feature = "test-util")
    ))]
    {
        let mut readings = (std::time::Instant::now(), CoarseAnchor::default());
        for _ in 0..16 {
            let before = coarse::monotonic();
            let now = std::time::Instant::now();
            let after = coarse::monotonic();
            let close = coarse_offset(before, after).is_some();
            readings = (
                now,
                CoarseAnchor {
                    offset: after,
                    usable: close,
                },
            );
            if close {
                break;
            }
        }
        readings.1.usable &= coarse::usable();
        return readings;
    }
    #[allow(unreachable_code)]
    (std::time::Instant::now(), CoarseAnchor::default())
}

/// The anchor's offset on the coarse clock's timeline from monotonic readings taken right
/// before and right after the precise anchor: the later one, so that coarse times since the
/// anchor are never ahead of precise ones; `None` when the two are too far apart for the
/// coarse check's slack.
#[cfg_attr(feature = "test-util", allow(dead_code))] // the coarse clock is compiled out
fn coarse_offset(before: u64, after: u64) -> Option<u64> {
    (after.wrapping_sub(before) <= ANCHOR_GAP).then_some(after)
}

/// Precise nanoseconds since the anchor, on tokio's clock.
pub(crate) fn now() -> u64 {
    nanos(Instant::now().saturating_duration_since(anchor().instant))
}

/// Precise nanoseconds since the anchor on the clock that times `deadline` (from
/// [`deadline`]): the real clock for a period that started on it, tokio's otherwise.
pub(crate) fn now_for(deadline: u64) -> u64 {
    if deadline & COARSE_OK == 0 {
        return now();
    }
    let since = std::time::Instant::now().saturating_duration_since(anchor().instant.into_std());
    nanos(since)
}

/// A cheap timestamp for metrics, never 0, for [`wall`]: where the coarse clock is compiled
/// in, its reading as it is (one clock read, no anchor lookup: the failure path pays nothing
/// more); elsewhere nanoseconds since the anchor plus one.
#[inline]
pub(crate) fn stamp() -> u64 {
    match coarse_reading() {
        Some(coarse) => coarse.max(1),
        None => now().saturating_add(1),
    }
}

/// The wall-clock time of a [`stamp`].
pub(crate) fn wall(stamp: u64) -> SystemTime {
    let anchor = anchor();
    let since = if COARSE_BUILT {
        // Since the anchor on the coarse clock's timeline (the anchor lies decades back, by
        // its margin); a reading before it, which no reading of this process is, would wrap.
        let since = stamp.wrapping_sub(anchor.coarse);
        if since > u64::MAX / 2 { 0 } else { since }
    } else {
        stamp.saturating_sub(1)
    };
    anchor.wall + Duration::from_nanos(since)
}

/// The deadline `timeout` from now, as an open breaker stores it: precise nanoseconds since
/// the anchor, with [`COARSE_OK`] set when rejections may check it on the coarse clock (the
/// coarse clock is used, and tokio's clock is the real one at this moment, not paused).
pub(crate) fn deadline(timeout: Duration) -> u64 {
    let (now, real) = tokio_now();
    let precise = nanos(now.saturating_duration_since(anchor().instant))
        .saturating_add(nanos(timeout))
        .min(COARSE_OK - 1);
    if real == Some(true) {
        precise | COARSE_OK
    } else {
        precise
    }
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

/// Nanoseconds since the anchor on the coarse clock, for a check that may run a little early
/// ([`RateLimiter`](crate::limit::RateLimiter)'s admissions): never ahead of [`now`], and
/// behind it by less than a tick. `None` where the coarse clock is not used, and once tokio's
/// clock has been seen paused ([`now_noting_pause`]): [`now`] must decide then.
#[inline]
pub(crate) fn coarse_since_anchor() -> Option<u64> {
    let anchor = anchor();
    if !anchor.coarse_ok || PAUSE_SEEN.load(Ordering::Relaxed) {
        return None;
    }
    Some(coarse_reading()?.wrapping_sub(anchor.coarse))
}

/// Set once tokio's clock has been seen paused where the coarse clock is used: from then on
/// [`coarse_since_anchor`] answers `None`, so that checks follow the paused clock.
static PAUSE_SEEN: AtomicBool = AtomicBool::new(false);

/// [`now`], noting whether tokio's clock is paused (see [`coarse_since_anchor`]). Reads the
/// real clock twice more where the coarse clock is used: for cold paths (a refusal, a build).
pub(crate) fn now_noting_pause() -> u64 {
    let (now, real) = tokio_now();
    if real == Some(false) {
        PAUSE_SEEN.store(true, Ordering::Relaxed);
    }
    nanos(now.saturating_duration_since(anchor().instant))
}

/// Tokio's clock, and where the coarse clock is used, whether it is the real one at this
/// moment (not paused): read once, between two readings of the real one.
fn tokio_now() -> (Instant, Option<bool>) {
    let before = coarse_now().map(|_| std::time::Instant::now());
    let now = Instant::now();
    let real = before.map(|b| between(b, now.into_std(), std::time::Instant::now()));
    (now, real)
}

/// The precise time of a deadline from [`deadline`].
pub(crate) fn precise(deadline: u64) -> u64 {
    deadline & !COARSE_OK
}

/// How long until the deadline that `deadline` loads (from [`deadline`]), in nanoseconds, when
/// the coarse clock shows it at least [`COARSE_SLACK`] away; `None` when the precise clock must
/// decide.
///
/// The wait is never shorter than the time actually left, and longer by less than a tick plus
/// [`ANCHOR_GAP`]: see the module's documentation. The clock is read before the deadline is
/// loaded (a caller then keeps less across the read): a later deadline loaded after an earlier
/// reading only makes the wait longer, never shorter than what is left.
#[inline]
pub(crate) fn certainly_before(deadline: impl FnOnce() -> u64) -> Option<u64> {
    let reading = coarse_reading()?;
    let deadline = deadline();
    if deadline & COARSE_OK == 0 {
        return None;
    }
    // The flag is set only where the coarse clock is used.
    coarse_wait(reading, anchor().coarse, precise(deadline))
}

/// The wait until `deadline` (precise nanoseconds since the anchor) from a coarse `reading`,
/// given the anchor's coarse offset, when it is more than [`COARSE_SLACK`] away.
#[inline]
fn coarse_wait(reading: u64, offset: u64, deadline: u64) -> Option<u64> {
    wait_if_far(reading.wrapping_sub(offset), deadline)
}

#[inline]
fn wait_if_far(coarse_now: u64, coarse_deadline: u64) -> Option<u64> {
    (coarse_now.saturating_add(nanos(COARSE_SLACK)) < coarse_deadline)
        .then(|| coarse_deadline - coarse_now)
}

/// The coarse clock, where it is used (Linux and Android, without `test-util`, and the anchor
/// allows it).
#[inline]
fn coarse_now() -> Option<u64> {
    if anchor().coarse_ok {
        coarse_reading()
    } else {
        None
    }
}

/// A reading of the coarse clock where it is compiled in (Linux and Android, without
/// `test-util`); whether to use it is the anchor's call.
#[inline]
fn coarse_reading() -> Option<u64> {
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(feature = "test-util")
    ))]
    return Some(coarse::now());
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

    /// The coarse monotonic clock in nanoseconds (wrapping: the monotonic clock counts from
    /// boot, centuries away from overflowing).
    #[inline]
    pub(super) fn now() -> u64 {
        let t = clock_gettime(ClockId::MonotonicCoarse);
        (t.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(t.tv_nsec as u64)
    }

    /// The precise monotonic clock in nanoseconds: the coarse clock's timeline.
    pub(super) fn monotonic() -> u64 {
        to_nanos(clock_gettime(ClockId::Monotonic)).unwrap_or(0)
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
            certainly_before(|| 5 * deadline),
            None,
            "no coarse flag, no coarse check"
        );
    }

    proptest::proptest! {
        /// A caller that waits out a coarse rejection's wait finds the deadline passed,
        /// whatever the tick, where the ticks fall, when the anchor was read within a tick,
        /// and how long its reads took; and the coarse check never rejects a call that is
        /// due. Real time is the monotonic clock; the coarse clock shows the time of the last
        /// tick.
        #[test]
        fn waiting_out_a_coarse_wait_always_finds_the_deadline_passed(
            tick in 1_000_000u64..=10_000_000,
            phase in 0u64..10_000_000,
            anchor_at in 10_000_000u64..1_000_000_000_000,
            gap_before in 0u64..=ANCHOR_GAP / 2,
            gap_after in 0u64..=ANCHOR_GAP / 2,
            margin in proptest::sample::select(vec![0, nanos(MARGINS[0])]),
            opened_after in 0u64..3_600_000_000_000,
            timeout in 1u64..600_000_000_000,
            rejected_after in 0u64..=600_000_000_000,
        ) {
            let phase = phase % tick;
            let coarse = |t: u64| t - (t - phase) % tick;
            // The anchor: monotonic, precise, monotonic.
            let precise_at = anchor_at + gap_before;
            let offset = coarse_offset(anchor_at, precise_at + gap_after)
                .expect("reads close together")
                .wrapping_sub(margin);
            // Precise times are counted from the precise anchor, `margin` before it.
            let since = |t: u64| t - precise_at + margin;
            let opened = precise_at + opened_after;
            let deadline = since(opened) + timeout;
            let rejected = opened + rejected_after;
            if let Some(wait) = coarse_wait(coarse(rejected), offset, deadline) {
                proptest::prop_assert!(since(rejected) < deadline, "rejected when due");
                proptest::prop_assert!(
                    since(rejected) + wait >= deadline,
                    "waiting {wait} ns from {} falls short of {deadline}",
                    since(rejected)
                );
                proptest::prop_assert!(since(rejected) + wait < deadline + tick + ANCHOR_GAP);
            }
        }
    }

    #[test]
    fn an_anchor_read_across_a_preemption_does_not_use_the_coarse_clock() {
        assert_eq!(coarse_offset(5, 5 + ANCHOR_GAP), Some(5 + ANCHOR_GAP));
        assert_eq!(coarse_offset(5, 6 + ANCHOR_GAP), None);
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
            let wait = Duration::from_nanos(certainly_before(|| d).expect("30 s away"));
            assert!(wait <= timeout && wait > timeout - Duration::from_secs(1));
            assert_eq!(certainly_before(|| deadline(COARSE_SLACK)), None);
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
        assert_eq!(certainly_before(|| d), None);
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
        let before = coarse::now();
        std::thread::sleep(Duration::from_millis(30));
        let after = coarse::now();
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
