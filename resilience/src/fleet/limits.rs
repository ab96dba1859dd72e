//! Bulkheads and rate limiters shared by the fleet.
//!
//! Each replica's limit still admits its calls alone, with no round trip: the fleet's task
//! sizes what the replica may use, between calls.
//!
//! - A **bulkhead** holds a lease on some of the fleet's `max_concurrent` slots (`bulkhead.lua`:
//!   a sorted set of `<replica>#<n>` → expiry on Redis' clock, renewed at every
//!   reconciliation), and its local capacity follows the lease: raised only once Redis granted
//!   the slots, lowered before they are given back. The lease grows while calls are refused or
//!   wait, and shrinks to the calls in flight (plus one) when they do not.
//! - A **rate limiter** spends blocks of the fleet's tokens (`rate.lua`: one GCRA state in
//!   Redis, on Redis' clock): the local limiter earns no tokens by itself. The task reserves
//!   blocks sized to the replica's recent use (at most a quarter of the burst), in the order
//!   the replicas ask, adds each token to the limiter when it falls due, asks for the next
//!   block once the last has fallen due, and gives back what the replica holds beyond that.
//!   Each call records what the replica holds (for a lease), which the fleet's bucket leaves
//!   out.
//! - While Redis is unreachable (or a limit's key holds a malformed value), each limit runs on
//!   its local share of the fleet's settings, and takes the fleet's again when Redis answers.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::connection::Redis;
use super::{BadValues, FleetError, millis};
use crate::ManagerRef;
use crate::limit::{Bulkhead, Pace, RateLimiter, RateLimiterConfig};

static BULKHEAD: LazyLock<Script> = script!("bulkhead.lua");
static RATE: LazyLock<Script> = script!("rate.lua");

/// The keys of a bulkhead, in a hash slot of their own: its slot leases, and the mark of a
/// replica short of slots.
pub(super) fn bulkhead_keys(namespace: &str, name: &str) -> [String; 2] {
    let base = format!("resilience:{{{namespace}:bulkhead:{name}}}");
    [format!("{base}:slots"), format!("{base}:short")]
}

/// The key of a rate limiter's GCRA state, in a hash slot of its own.
pub(super) fn rate_limiter_key(namespace: &str, name: &str) -> String {
    format!("resilience:{{{namespace}:rate_limiter:{name}}}:tat")
}

/// The key of what each replica holds of a rate limiter's tokens, in the slot of its state.
pub(super) fn rate_limiter_held_key(namespace: &str, name: &str) -> String {
    format!("resilience:{{{namespace}:rate_limiter:{name}}}:held")
}

/// Settings of the limits' part of the fleet.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) namespace: String,
    pub(super) replica: String,
    /// How long a replica's slots are its own without being renewed.
    pub(super) lease: Duration,
    /// How often leases are renewed and blocks resized.
    pub(super) interval: Duration,
    /// The fraction of each limit a replica uses alone, while Redis is unreachable.
    pub(super) local_share: f64,
}

/// A bulkhead of the manager, as the fleet's task follows it.
struct SharedBulkhead {
    bulkhead: Arc<Bulkhead>,
    keys: [String; 2],
    /// Slots leased in Redis: this replica's members `#1..=held`.
    held: u32,
    /// The bulkhead's refusals when last seen.
    refused: u64,
    /// No asking Redis for more before this, after it had fewer free than asked.
    next_ask: Instant,
    /// Whether the bulkhead runs on the fleet's lease (else on its local share).
    shared: bool,
    /// Whether a replica was short of slots at the last lease: no spare is kept then.
    short: bool,
}

/// A rate limiter of the manager, as the fleet's task follows it.
struct SharedLimiter {
    limiter: Arc<RateLimiter>,
    key: String,
    /// What each replica holds of its tokens.
    held_key: String,
    /// Its record there is renewed from then on (half its lease after the last call).
    renew_at: Instant,
    /// Tokens left when last sized, plus those added since: what it spent since is the
    /// difference with what it holds now.
    left: u64,
    /// The limiter's refusals when last seen.
    refused: u64,
    /// The tokens its calls waited for, when last seen.
    waited: u64,
    /// No asking Redis for more before this, after it had fewer than asked.
    next_ask: Instant,
    shared: bool,
    /// Tokens reserved in Redis that have not fallen due yet: added to the limiter one by one
    /// as they do.
    pending: u64,
    /// When the last pending token falls due; each before it, one `step` earlier.
    last_due: Instant,
    /// The time a token is worth at the fleet's rate (`per / rate`, rounded up): pending
    /// tokens fall due this far apart.
    step: Duration,
    /// Tokens that fell due when the limiter had no room for them: given back at the next ask.
    overflow: u64,
}

impl SharedLimiter {
    /// The pending tokens not yet due at `now`.
    fn not_due(&self, now: Instant) -> u64 {
        let ahead = self.last_due.saturating_duration_since(now).as_nanos();
        let not_due = ahead.div_ceil(self.step.as_nanos().max(1));
        u64::try_from(not_due).unwrap_or(u64::MAX).min(self.pending)
    }

    /// When the next pending token falls due, if any is pending.
    fn next_due(&self, now: Instant) -> Option<Instant> {
        let not_due = self.not_due(now);
        if self.pending == 0 {
            None
        } else if not_due < self.pending {
            Some(now)
        } else {
            let after = u32::try_from(not_due - 1).unwrap_or(u32::MAX);
            Some(self.last_due - self.step * after)
        }
    }

    /// Adds the pending tokens due by `now` to the limiter.
    fn fall_due(&mut self, now: Instant) {
        let due = self.pending - self.not_due(now);
        if due == 0 {
            return;
        }
        let added = self.limiter.add_tokens(due);
        self.overflow += due - added;
        self.left += added;
        self.pending -= due;
    }

    /// Forgets what Redis reserved for it: Redis is out of reach, or the limiter leaves the
    /// fleet.
    fn forget_reservation(&mut self) {
        self.pending = 0;
        self.overflow = 0;
    }
}

/// Why the limits are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    /// The reconciliation: leases renewed, blocks resized.
    Tick,
    /// A call was refused or waits: more is asked for where it may be.
    Demand,
}

/// The fleet's bulkheads and rate limiters on this replica.
pub(super) struct Limits {
    manager: ManagerRef<'static>,
    settings: Settings,
    bulkheads: HashMap<String, SharedBulkhead>,
    limiters: HashMap<String, SharedLimiter>,
    /// Told by every followed limit when it refuses a call or makes one wait.
    demand: Arc<Notify>,
    /// Whether Redis answered the limits' last operation.
    reachable: bool,
}

impl Limits {
    pub(super) fn new(manager: ManagerRef<'static>, settings: Settings) -> Self {
        Self {
            manager,
            settings,
            bulkheads: HashMap::new(),
            limiters: HashMap::new(),
            demand: Arc::new(Notify::new()),
            reachable: true,
        }
    }

    /// Told when a followed limit refuses a call or makes one wait.
    pub(super) fn demand(&self) -> Arc<Notify> {
        Arc::clone(&self.demand)
    }

    /// Follows the manager's limits registered since the last call. Each starts on its local
    /// share, until Redis grants it the fleet's.
    pub(super) fn discover(&mut self) {
        let now = Instant::now();
        for bulkhead in self.manager.all_bulkheads() {
            let name = bulkhead.name().to_owned();
            if self.bulkheads.contains_key(&name) {
                continue;
            }
            bulkhead.set_capacity(self.share_of(bulkhead.config().max_concurrent));
            bulkhead.demand().tell(Some(Arc::clone(&self.demand)));
            self.bulkheads.insert(
                name.clone(),
                SharedBulkhead {
                    keys: bulkhead_keys(&self.settings.namespace, &name),
                    refused: bulkhead.metrics().refused,
                    bulkhead,
                    held: 0,
                    next_ask: now,
                    shared: false,
                    short: false,
                },
            );
        }
        for limiter in self.manager.all_rate_limiters() {
            let name = limiter.name().to_owned();
            if self.limiters.contains_key(&name) {
                continue;
            }
            limiter.pace(Pace::Share(self.settings.local_share));
            limiter.demand().tell(Some(Arc::clone(&self.demand)));
            let config = limiter.config();
            let step = config.per.as_nanos().div_ceil(u128::from(config.rate));
            self.limiters.insert(
                name.clone(),
                SharedLimiter {
                    key: rate_limiter_key(&self.settings.namespace, &name),
                    held_key: rate_limiter_held_key(&self.settings.namespace, &name),
                    renew_at: now,
                    refused: limiter.metrics().refused,
                    waited: limiter.waited(),
                    left: 0,
                    next_ask: now,
                    shared: false,
                    pending: 0,
                    last_due: now,
                    step: Duration::from_nanos(u64::try_from(step).unwrap_or(u64::MAX)),
                    overflow: 0,
                    limiter,
                },
            );
        }
    }

    /// A replica's local share of `max_concurrent` slots: at least one.
    fn share_of(&self, max_concurrent: u32) -> u32 {
        let share = (f64::from(max_concurrent) * self.settings.local_share).floor();
        (share as u32).clamp(1, max_concurrent)
    }

    /// Renews the leases and resizes them and the blocks to what the calls use. Stops at the
    /// first sign that Redis is unreachable; while it is, only a reconciliation tries again.
    pub(super) async fn adjust(&mut self, redis: &Redis, cause: Cause, bad: &mut BadValues) {
        if !redis.reachable() && self.reachable {
            // Another operation found Redis gone.
            self.go_local();
        }
        if cause == Cause::Demand && !self.reachable {
            return;
        }
        let names: Vec<String> = self.bulkheads.keys().cloned().collect();
        for name in names {
            if !self.adjust_bulkhead(redis, &name, cause, bad).await {
                return self.go_local();
            }
        }
        let names: Vec<String> = self.limiters.keys().cloned().collect();
        for name in names {
            if !self.adjust_limiter(redis, &name, cause, bad).await {
                return self.go_local();
            }
        }
    }

    /// One bulkhead; `false` when Redis is unreachable.
    async fn adjust_bulkhead(
        &mut self,
        redis: &Redis,
        name: &str,
        cause: Cause,
        bad: &mut BadValues,
    ) -> bool {
        let now = Instant::now();
        let local_share = self.share_of_name(name);
        let Some(shared) = self.bulkheads.get_mut(name) else {
            return true;
        };
        let metrics = shared.bulkhead.metrics();
        let max = metrics.max_concurrent;
        let refused = metrics.refused.saturating_sub(shared.refused);
        let pressed = refused > 0 || metrics.waiting > 0;
        // The calls in flight and waiting, and those just refused; one spare on top, which
        // Redis grants only while no replica is short.
        let need = u64::from(metrics.in_flight) + u64::from(metrics.waiting) + refused;
        let mut need = u32::try_from(need).unwrap_or(u32::MAX).min(max);
        let grows = need >= shared.held || !shared.shared;
        if cause == Cause::Demand && (!pressed || !grows || now < shared.next_ask) {
            return true;
        }
        if cause == Cause::Tick && grows && now < shared.next_ask {
            // Asked in vain a moment ago: renew what is held, no more.
            need = need.min(shared.held);
        }
        // Lowered before the slots are given back; never above what is leased, so that the
        // calls admitted while Redis answers hold slots it counts.
        let target = need + u32::from(!shared.short);
        let mut capacity = shared.bulkhead.capacity();
        if target < capacity && shared.shared {
            shared.bulkhead.set_capacity(target);
            capacity = target;
        }
        let ask = capacity.max(need);
        let spare = !shared.short && ask == need;
        let args = [
            self.settings.replica.clone(),
            shared.held.to_string(),
            ask.to_string(),
            u8::from(spare).to_string(),
            max.to_string(),
            millis(self.settings.lease).to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let [slots, short] = &shared.keys;
        let reply: Result<(u32, u8), FleetError> =
            redis.run(&BULKHEAD, &[slots, short], &args).await;
        match reply {
            Ok((granted, short)) => {
                self.reachable = true;
                let shared = self.bulkheads.get_mut(name).expect("looked up above");
                shared.refused = metrics.refused;
                shared.held = granted;
                shared.shared = true;
                shared.short = short == 1;
                shared.next_ask = if granted < ask {
                    now + self.settings.interval
                } else {
                    now
                };
                shared.bulkhead.set_capacity(granted);
                #[cfg(feature = "metrics")]
                metrics::gauge!("resilience_fleet_bulkhead_slots", "bulkhead" => name.to_owned())
                    .set(f64::from(granted));
                true
            }
            Err(FleetError::Unreachable(_)) => false,
            Err(error) => {
                // This bulkhead alone decides on its share until its key is mended.
                bad.log(&error);
                let shared = self.bulkheads.get_mut(name).expect("looked up above");
                shared.shared = false;
                shared.held = 0;
                shared.next_ask = now + self.settings.interval;
                shared.bulkhead.set_capacity(local_share);
                true
            }
        }
    }

    fn share_of_name(&self, name: &str) -> u32 {
        self.bulkheads
            .get(name)
            .map_or(1, |b| self.share_of(b.bulkhead.config().max_concurrent))
    }

    /// One rate limiter; `false` when Redis is unreachable.
    async fn adjust_limiter(
        &mut self,
        redis: &Redis,
        name: &str,
        cause: Cause,
        bad: &mut BadValues,
    ) -> bool {
        let now = Instant::now();
        let Some(shared) = self.limiters.get_mut(name) else {
            return true;
        };
        // A reservation falling due answers the demand and the reconciliation: the next block
        // is asked for once the last token of this one has fallen due and been spent, so that
        // each ask at saturation is a whole block.
        let reserved = shared.pending > 0;
        shared.fall_due(now);
        if reserved {
            return true;
        }
        let config = shared.limiter.config().clone();
        let metrics = shared.limiter.metrics();
        let waited = shared.limiter.waited();
        // Tokens its calls were refused or waited for since the last look.
        let wanted =
            metrics.refused.saturating_sub(shared.refused) + waited.saturating_sub(shared.waited);
        if cause == Cause::Demand && (wanted == 0 || now < shared.next_ask) {
            return true;
        }
        let left = if shared.shared {
            shared.limiter.tokens()
        } else {
            0
        };
        // The block: twice what was spent (or wanted) since the last look, at least one
        // token, at most a quarter of the burst.
        let spent = shared.left.saturating_sub(left) + wanted;
        let block = block_size(config.burst, spent);
        // Idle, it gives back what it holds beyond its next block.
        let (want, returned) = if left >= block {
            (0, if spent == 0 { left - block } else { 0 })
        } else if now >= shared.next_ask || cause == Cause::Demand {
            (block - left, 0)
        } else {
            (0, 0)
        };
        // Its record of what it holds lasts a lease: renewed while it holds tokens.
        let renew = now >= shared.renew_at && left > 0;
        if want == 0 && returned == 0 && shared.overflow == 0 && shared.shared && !renew {
            shared.refused = metrics.refused;
            shared.waited = waited;
            shared.left = left;
            return true;
        }
        let returned = if returned > 0 {
            shared.limiter.take_tokens(returned)
        } else {
            0
        } + std::mem::take(&mut shared.overflow);
        let [interval, tolerance] = gcra(&config);
        // What it holds once the tokens are given back: the fleet's bucket holds the rest.
        let holds = if shared.shared {
            shared.limiter.tokens()
        } else {
            0
        }
        .to_string();
        let (want_arg, returned_arg) = (want.to_string(), returned.to_string());
        let lease = millis(self.settings.lease).to_string();
        // A reservation may reach a full bucket's time ahead: the replicas' blocks queue in
        // Redis, each falling due in turn, and none is asked for in vain.
        let args = [
            want_arg.as_str(),
            &returned_arg,
            &interval,
            &tolerance,
            &tolerance,
            &self.settings.replica,
            &holds,
            &lease,
        ];
        let keys = [shared.key.as_str(), &shared.held_key];
        let reply: Result<(u64, u64, u64), FleetError> = redis.run(&RATE, &keys, &args).await;
        let shared = self.limiters.get_mut(name).expect("looked up above");
        match reply {
            Ok((granted, last_us, wait_us)) => {
                self.reachable = true;
                if !shared.shared {
                    shared.limiter.pace(Pace::Fleet);
                    shared.shared = true;
                }
                // Never early: the delays count from the answer, after Redis' clock read.
                let answered = Instant::now();
                shared.refused = metrics.refused;
                shared.waited = waited;
                shared.renew_at = now + self.settings.lease / 2;
                shared.left = shared.limiter.tokens();
                shared.pending = granted;
                shared.last_due = answered + Duration::from_micros(last_us);
                shared.fall_due(answered);
                shared.next_ask = if granted < want {
                    now + Duration::from_micros(wait_us).min(self.settings.interval)
                } else {
                    now
                };
                #[cfg(feature = "metrics")]
                metrics::counter!(
                    "resilience_fleet_rate_limiter_tokens_total",
                    "rate_limiter" => name.to_owned()
                )
                .increment(granted);
                true
            }
            Err(FleetError::Unreachable(_)) => false,
            Err(error) => {
                bad.log(&error);
                shared.next_ask = now + self.settings.interval;
                shared.forget_reservation();
                if shared.shared {
                    shared.limiter.pace(Pace::Share(self.settings.local_share));
                    shared.shared = false;
                }
                true
            }
        }
    }

    /// When the next reserved token falls due, if any is pending.
    pub(super) fn next_due(&self) -> Option<Instant> {
        let now = Instant::now();
        self.limiters
            .values()
            .filter_map(|shared| shared.next_due(now))
            .min()
    }

    /// Adds the reserved tokens that have fallen due to their limiters.
    pub(super) fn fall_due(&mut self) {
        let now = Instant::now();
        for shared in self.limiters.values_mut() {
            shared.fall_due(now);
        }
    }

    /// Redis is unreachable: every limit runs on its local share; the leases run out.
    fn go_local(&mut self) {
        if !std::mem::replace(&mut self.reachable, false) {
            return;
        }
        let share = self.settings.local_share;
        for shared in self.bulkheads.values_mut() {
            let slots = (f64::from(shared.bulkhead.config().max_concurrent) * share).floor();
            let max = shared.bulkhead.config().max_concurrent;
            shared.bulkhead.set_capacity((slots as u32).clamp(1, max));
            // `held` stays: the first lease after the outage gives back what is left of them.
            shared.shared = false;
        }
        for shared in self.limiters.values_mut() {
            // What Redis reserved for it runs out there, unspent.
            shared.forget_reservation();
            if shared.shared {
                shared.limiter.pace(Pace::Share(share));
                shared.shared = false;
            }
        }
    }

    /// Gives the fleet back this replica's slots and unspent tokens (the fleet is detached).
    pub(super) async fn release(&mut self, redis: &Redis) {
        let lease = millis(self.settings.lease).to_string();
        for shared in self.bulkheads.values_mut() {
            if shared.held > 0 && shared.shared {
                let max = shared.bulkhead.config().max_concurrent.to_string();
                let held = shared.held.to_string();
                let args = [
                    self.settings.replica.as_str(),
                    &held,
                    "0",
                    "0",
                    &max,
                    &lease,
                ];
                let [slots, short] = &shared.keys;
                let _: Result<(u32, u8), FleetError> =
                    redis.run(&BULKHEAD, &[slots, short], &args).await;
                shared.held = 0;
            }
        }
        for shared in self.limiters.values_mut() {
            if shared.shared {
                // What it holds, and what Redis reserved for it that has not fallen due.
                let returned = shared.limiter.take_tokens(u64::MAX)
                    + std::mem::take(&mut shared.pending)
                    + std::mem::take(&mut shared.overflow);
                let returned = returned.to_string();
                let [interval, tolerance] = gcra(shared.limiter.config());
                let replica = self.settings.replica.as_str();
                let args = [
                    "0",
                    returned.as_str(),
                    &interval,
                    &tolerance,
                    "0",
                    replica,
                    "0",
                    &lease,
                ];
                let keys = [shared.key.as_str(), &shared.held_key];
                let _: Result<(u64, u64, u64), FleetError> = redis.run(&RATE, &keys, &args).await;
            }
        }
    }

    /// Every limit decides alone again, on its own settings (the fleet is detached).
    pub(super) fn detach(&mut self) {
        for shared in self.bulkheads.values() {
            shared.bulkhead.demand().tell(None);
            shared
                .bulkhead
                .set_capacity(shared.bulkhead.config().max_concurrent);
        }
        for shared in self.limiters.values() {
            shared.limiter.demand().tell(None);
            shared.limiter.pace(Pace::Own);
        }
    }
}

/// The block a replica holds: twice what it `spent` since the last look, at least one token,
/// at most a quarter of the burst (at least one).
fn block_size(burst: u32, spent: u64) -> u64 {
    let most = (u64::from(burst) / 4).max(1);
    spent.saturating_mul(2).clamp(1, most)
}

/// A limiter's interval and tolerance in µs, as `rate.lua` takes them.
fn gcra(config: &RateLimiterConfig) -> [String; 2] {
    let interval = config.per.as_secs_f64() * 1e6 / config.rate as f64;
    [
        interval.to_string(),
        (interval * f64::from(config.burst)).to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_has_a_hash_slot_of_its_own() {
        assert_eq!(
            bulkhead_keys("crm", "zoho_org"),
            [
                "resilience:{crm:bulkhead:zoho_org}:slots",
                "resilience:{crm:bulkhead:zoho_org}:short"
            ]
        );
        assert_eq!(
            rate_limiter_key("crm", "zoho_credits"),
            "resilience:{crm:rate_limiter:zoho_credits}:tat"
        );
        assert_eq!(
            rate_limiter_held_key("crm", "zoho_credits"),
            "resilience:{crm:rate_limiter:zoho_credits}:held"
        );
    }

    /// A block reserved in Redis falls due token by token, one interval apart up to its last:
    /// those the bucket held at once, the rest as the fleet's rate earns them, never earlier.
    #[tokio::test(start_paused = true)]
    async fn a_reserved_block_falls_due_one_token_per_interval() {
        let limiter = Arc::new(
            RateLimiter::builder("unit_falls_due", 10, Duration::from_secs(1))
                .burst(40)
                .ignore_env()
                .build()
                .unwrap(),
        );
        limiter.pace(Pace::Fleet);
        let now = Instant::now();
        let mut shared = SharedLimiter {
            limiter: Arc::clone(&limiter),
            key: String::new(),
            held_key: String::new(),
            renew_at: now,
            left: 0,
            refused: 0,
            waited: 0,
            next_ask: now,
            shared: true,
            // Five tokens, the last due in 200 ms: three now, then one every 100 ms.
            pending: 5,
            last_due: now + Duration::from_millis(200),
            step: Duration::from_millis(100),
            overflow: 0,
        };
        assert_eq!(shared.next_due(now), Some(now));
        shared.fall_due(now);
        assert_eq!((limiter.tokens(), shared.pending, shared.left), (3, 2, 3));
        let next = now + Duration::from_millis(100);
        assert_eq!(shared.next_due(now), Some(next));
        shared.fall_due(next - Duration::from_nanos(1));
        assert_eq!(limiter.tokens(), 3, "not a nanosecond early");
        shared.fall_due(next);
        assert_eq!((limiter.tokens(), shared.pending), (4, 1));
        shared.fall_due(now + Duration::from_secs(5));
        assert_eq!((limiter.tokens(), shared.pending), (5, 0));
        assert_eq!(shared.next_due(now + Duration::from_secs(5)), None);
        // Tokens beyond the bucket's room are kept to be given back, not lost.
        shared.pending = 40;
        shared.last_due = now;
        shared.fall_due(now);
        assert_eq!((limiter.tokens(), shared.overflow), (40, 5));
    }

    #[test]
    fn a_block_follows_the_recent_use_within_a_quarter_of_the_burst() {
        assert_eq!(block_size(100, 0), 1);
        assert_eq!(block_size(100, 5), 10);
        assert_eq!(block_size(100, 500), 25);
        assert_eq!(block_size(2, 500), 1);
    }
}
