//! The fleet's limits as Redis holds them, read without changing them: a bulkhead's slots
//! leased by the replicas, a rate limiter's tokens left in the fleet's bucket.
//!
//! Each read is one read-only script (`view_bulkhead.lua`, `view_rate.lua`) on the limit's
//! keys, on Redis' clock, within the operation timeout like every fleet operation. The
//! settings the answer is measured against (`max_concurrent`; rate, period and burst) are
//! not in Redis: they are those of the limit registered under that name in the manager, as
//! the replicas register it.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::connection::Redis;
use super::limits::{bulkhead_keys, rate_limiter_held_key, rate_limiter_key};
use super::{Fleet, FleetBuilder, FleetError, SharedBreaker};
use crate::ManagerRef;

static VIEW_BULKHEAD: LazyLock<Script> = script!("view_bulkhead.lua");
static VIEW_RATE: LazyLock<Script> = script!("view_rate.lua");

/// A bulkhead's slots in the fleet, from [`Fleet::shared_bulkhead`] or
/// [`FleetView::shared_bulkhead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedBulkhead {
    /// Slots the replicas hold leases on now. Only live leases count: the slots of a replica
    /// that stopped renewing its lease are free once it expires. A replica leases its calls
    /// in flight and waiting, and one spare while no replica is short of slots.
    pub leased: u32,
    /// The fleet's `max_concurrent`, as the bulkhead is registered in the manager.
    pub max_concurrent: u32,
    /// How many replicas hold the leased slots.
    pub replicas: u32,
    /// Whether a replica is short of slots now (the others give back their spares at their
    /// next reconciliation).
    pub short: bool,
}

impl SharedBulkhead {
    /// Slots no replica holds: `max_concurrent - leased` (0 if more are leased, as after
    /// `max_concurrent` was lowered).
    pub fn free(&self) -> u32 {
        self.max_concurrent.saturating_sub(self.leased)
    }
}

/// A rate limiter's tokens in the fleet, from [`Fleet::shared_rate_limiter`] or
/// [`FleetView::shared_rate_limiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedRateLimiter {
    /// Tokens the fleet's bucket holds now, on Redis' clock: the most a replica could take
    /// at once. The tokens the replicas hold (their live records under `…:held`) are inside
    /// the burst, as `rate.lua` counts them: they count here once given back.
    pub available: u64,
    /// The most tokens the bucket holds.
    pub burst: u32,
    /// Tokens earned per [`per`](Self::per).
    pub rate: u64,
    /// The period [`rate`](Self::rate) is counted over.
    pub per: Duration,
    /// How long until the bucket is full again, at the rate (zero when it is full); while
    /// replicas hold tokens, full is the burst less what they hold.
    pub until_full: Duration,
}

impl Fleet {
    /// The fleet's slots of the bulkhead `name`, read from Redis now, without changing them:
    /// the slots leased by live leases, against the `max_concurrent` of the bulkhead of that
    /// name in the fleet's manager.
    ///
    /// No answer within the operation timeout is [`FleetError::Unreachable`]; a value in
    /// Redis that the fleet does not write there is [`FleetError::BadValue`], naming its key
    /// and value; a name the manager has no bulkhead under is [`FleetError::Unknown`] (an
    /// attribute's bulkhead is registered at its first call).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use resilience::CircuitBreakerManager;
    /// use resilience::fleet::Fleet;
    /// use resilience::limit::Bulkhead;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = Arc::new(CircuitBreakerManager::new());
    /// manager.register_bulkhead(Bulkhead::builder("zoho_org").max_concurrent(15))?;
    /// let fleet = Fleet::builder()
    ///     .url("redis://127.0.0.1:6379/")
    ///     .namespace("crm_sync")
    ///     .manager(manager)
    ///     .attach()?;
    /// fleet.ready().await;
    /// let org = fleet.shared_bulkhead("zoho_org").await?;
    /// println!(
    ///     "{}/{} slots leased by {} replicas",
    ///     org.leased, org.max_concurrent, org.replicas
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shared_bulkhead(&self, name: &str) -> Result<SharedBulkhead, FleetError> {
        read_bulkhead(&self.redis, &self.namespace, &self.manager, name).await
    }

    /// The fleet's tokens of the rate limiter `name`, read from Redis now, without changing
    /// them: what its one GCRA state leaves in the bucket on Redis' clock, less the tokens
    /// the replicas hold (they are inside the burst), by the rate and burst of the rate
    /// limiter of that name in the fleet's manager.
    ///
    /// Errors as for [`shared_bulkhead`](Self::shared_bulkhead).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use resilience::CircuitBreakerManager;
    /// use resilience::fleet::Fleet;
    /// use resilience::limit::RateLimiter;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = Arc::new(CircuitBreakerManager::new());
    /// let credits = RateLimiter::builder("zoho_credits", 250, Duration::from_secs(10)).burst(100);
    /// manager.register_rate_limiter(credits)?;
    /// let fleet = Fleet::builder()
    ///     .url("redis://127.0.0.1:6379/")
    ///     .namespace("crm_sync")
    ///     .manager(manager)
    ///     .attach()?;
    /// let credits = fleet.shared_rate_limiter("zoho_credits").await?;
    /// println!("{}/{} credits", credits.available, credits.burst);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shared_rate_limiter(&self, name: &str) -> Result<SharedRateLimiter, FleetError> {
        read_rate_limiter(&self.redis, &self.namespace, &self.manager, name).await
    }
}

/// Reads the fleet's state in Redis without taking part in it: no task, no lease, no block
/// of tokens, no breaker followed. For a process that shows the fleet (a dashboard, an
/// operator's tool) and serves no calls. Built by [`FleetBuilder::view`].
#[derive(Debug)]
pub struct FleetView {
    redis: Redis,
    namespace: String,
    manager: ManagerRef<'static>,
}

impl FleetBuilder {
    /// Checks the settings, as [`attach`](Self::attach) does, and builds a [`FleetView`] of
    /// the namespace: reads only. The limits' settings are those registered in the
    /// [`manager`](Self::manager) under the same names as the replicas'. Does not wait for
    /// Redis; the connection is made at the first read (within the connect timeout) and
    /// needs a tokio runtime then.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use resilience::CircuitBreakerManager;
    /// use resilience::fleet::Fleet;
    /// use resilience::limit::Bulkhead;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The replicas' settings, registered without serving any call.
    /// let settings = Arc::new(CircuitBreakerManager::new());
    /// settings.register_bulkhead(Bulkhead::builder("zoho_org").max_concurrent(15))?;
    /// let view = Fleet::builder()
    ///     .url("redis://127.0.0.1:6379/")
    ///     .namespace("crm_sync")
    ///     .manager(settings)
    ///     .view()?;
    /// let org = view.shared_bulkhead("zoho_org").await?;
    /// println!("{}/{} slots leased", org.leased, org.max_concurrent);
    /// # Ok(())
    /// # }
    /// ```
    pub fn view(self) -> Result<FleetView, FleetError> {
        let checked = self.checked()?;
        Ok(FleetView {
            redis: Redis::new(
                checked.link,
                checked.shown,
                self.op_timeout,
                self.connect_timeout,
            ),
            namespace: self.namespace,
            manager: self.manager,
        })
    }
}

impl FleetView {
    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether Redis answered the last read.
    pub fn is_reachable(&self) -> bool {
        self.redis.reachable()
    }

    /// The fleet's state of the breaker `name`: see [`Fleet::shared_state`].
    ///
    /// ```no_run
    /// # async fn show(view: &resilience::fleet::FleetView) -> Result<(), resilience::fleet::FleetError> {
    /// let tier1 = view.shared_state("tier1_mcp").await?;
    /// println!("{:?} (epoch {})", tier1.state, tier1.epoch);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shared_state(&self, name: &str) -> Result<SharedBreaker, FleetError> {
        super::breaker::Breakers::read(&self.redis, &self.namespace, name).await
    }

    /// The fleet's slots of the bulkhead `name`: see [`Fleet::shared_bulkhead`].
    ///
    /// ```no_run
    /// # async fn show(view: &resilience::fleet::FleetView) -> Result<(), resilience::fleet::FleetError> {
    /// let org = view.shared_bulkhead("zoho_org").await?;
    /// println!("{} of {} slots free", org.free(), org.max_concurrent);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shared_bulkhead(&self, name: &str) -> Result<SharedBulkhead, FleetError> {
        read_bulkhead(&self.redis, &self.namespace, &self.manager, name).await
    }

    /// The fleet's tokens of the rate limiter `name`: see [`Fleet::shared_rate_limiter`].
    ///
    /// ```no_run
    /// # async fn show(view: &resilience::fleet::FleetView) -> Result<(), resilience::fleet::FleetError> {
    /// let credits = view.shared_rate_limiter("zoho_credits").await?;
    /// println!("{}/{} credits, full in {:?}", credits.available, credits.burst, credits.until_full);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shared_rate_limiter(&self, name: &str) -> Result<SharedRateLimiter, FleetError> {
        read_rate_limiter(&self.redis, &self.namespace, &self.manager, name).await
    }
}

async fn read_bulkhead(
    redis: &Redis,
    namespace: &str,
    manager: &ManagerRef<'static>,
    name: &str,
) -> Result<SharedBulkhead, FleetError> {
    let [slots, short] = bulkhead_keys(namespace, name);
    let (leased, replicas, short): (u32, u32, u8) =
        redis.run(&VIEW_BULKHEAD, &[&slots, &short], &[]).await?;
    let bulkhead = manager.bulkhead(name).ok_or_else(|| FleetError::Unknown {
        kind: "bulkhead",
        name: name.to_owned(),
    })?;
    Ok(SharedBulkhead {
        leased,
        max_concurrent: bulkhead.config().max_concurrent,
        replicas,
        short: short == 1,
    })
}

async fn read_rate_limiter(
    redis: &Redis,
    namespace: &str,
    manager: &ManagerRef<'static>,
    name: &str,
) -> Result<SharedRateLimiter, FleetError> {
    let key = rate_limiter_key(namespace, name);
    let held = rate_limiter_held_key(namespace, name);
    let (now, stored, holding): (u64, Option<String>, u64) =
        redis.run(&VIEW_RATE, &[&key, &held], &[]).await?;
    let limiter = manager
        .rate_limiter(name)
        .ok_or_else(|| FleetError::Unknown {
            kind: "rate limiter",
            name: name.to_owned(),
        })?;
    let tat = match stored {
        None => now,
        Some(value) => parse_tat(&value).ok_or_else(|| FleetError::BadValue {
            key: key.clone(),
            field: "value".to_owned(),
            value,
        })?,
    };
    let config = limiter.config();
    // The tokens the replicas hold are inside the burst, as `rate.lua` counts them.
    let interval = config.per.as_secs_f64() * 1e6 / config.rate.max(1) as f64;
    let held_until = now.saturating_add((holding as f64 * interval).ceil() as u64);
    Ok(tokens_at(
        config.rate,
        config.per,
        config.burst,
        now,
        tat.max(held_until),
    ))
}

/// A stored theoretical arrival time: whole µs, digits only, as `rate.lua` writes it.
fn parse_tat(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// The bucket at `now` (µs) for a theoretical arrival time `tat` (µs, not before `now`), by
/// the GCRA `rate.lua` runs: a token is worth `per / rate`, a full bucket `burst` of them.
fn tokens_at(rate: u64, per: Duration, burst: u32, now: u64, tat: u64) -> SharedRateLimiter {
    let interval = per.as_secs_f64() * 1e6 / rate.max(1) as f64;
    let tolerance = interval * f64::from(burst);
    let behind = (tat - now) as f64;
    let available = ((tolerance - behind) / interval).floor();
    SharedRateLimiter {
        available: (available.max(0.0) as u64).min(u64::from(burst)),
        burst,
        rate,
        per,
        until_full: Duration::from_micros(tat - now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_follows_the_gcra_of_rate_lua() {
        let per = Duration::from_secs(10);
        // 250 per 10 s: a token every 40 ms; burst 100.
        let full = tokens_at(250, per, 100, 1_000_000, 1_000_000);
        assert_eq!(full.available, 100);
        assert_eq!(full.until_full, Duration::ZERO);
        // 10 tokens taken: the TAT is 400 ms ahead.
        let taken = tokens_at(250, per, 100, 1_000_000, 1_400_000);
        assert_eq!(taken.available, 90);
        assert_eq!(taken.until_full, Duration::from_millis(400));
        // A token not whole yet is not there.
        assert_eq!(tokens_at(250, per, 100, 1_000_000, 1_400_001).available, 89);
        // Past the burst (a TAT written by a larger burst): none, never an underflow.
        assert_eq!(tokens_at(250, per, 100, 0, 10_000_000).available, 0);
    }

    #[test]
    fn a_stored_time_is_whole_microseconds_and_nothing_else() {
        assert_eq!(parse_tat("1733000000000000"), Some(1_733_000_000_000_000));
        for bad in [
            "",
            "-1",
            "1e15",
            " 12",
            "12.5",
            "soon",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_tat(bad), None, "{bad:?}");
        }
    }
}
