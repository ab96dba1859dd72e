//! The named bulkheads and rate limiters of a [`CircuitBreakerManager`].
//!
//! Registered like breakers: by name, the first registration of a name wins, and a later one
//! with other settings gets the first and a `config_conflict` warning event naming both.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use super::CircuitBreakerManager;
use crate::error::ConfigError;
use crate::events;
use crate::limit::{
    Bulkhead, BulkheadBuilder, BulkheadMetrics, RateLimiter, RateLimiterBuilder, RateLimiterMetrics,
};
use crate::name::Name;

/// The limits of one manager, by name.
#[derive(Debug, Default)]
pub(super) struct Limits {
    bulkheads: RwLock<HashMap<Name, Arc<Bulkhead>>>,
    rate_limiters: RwLock<HashMap<Name, Arc<RateLimiter>>>,
}

/// What the registry needs of a limit: its name and how its settings compare.
trait Limit {
    /// The field naming it in events: `bulkhead` or `rate_limiter`.
    const KIND: &'static str;
    type Config: PartialEq + std::fmt::Debug;
    fn name(&self) -> &str;
    fn config(&self) -> &Self::Config;
}

impl Limit for Bulkhead {
    const KIND: &'static str = "bulkhead";
    type Config = crate::limit::BulkheadConfig;
    fn name(&self) -> &str {
        Bulkhead::name(self)
    }
    fn config(&self) -> &Self::Config {
        Bulkhead::config(self)
    }
}

impl Limit for RateLimiter {
    const KIND: &'static str = "rate_limiter";
    type Config = crate::limit::RateLimiterConfig;
    fn name(&self) -> &str {
        RateLimiter::name(self)
    }
    fn config(&self) -> &Self::Config {
        RateLimiter::config(self)
    }
}

/// Registers `built` in `map` under its name, or returns the one already there (with a
/// `config_conflict` event when their settings differ).
fn register<L: Limit>(map: &RwLock<HashMap<Name, Arc<L>>>, built: L) -> (Arc<L>, bool) {
    let conflict = |existing: &Arc<L>| {
        if existing.config() != built.config() {
            events::limit_config_conflict(L::KIND, built.name(), existing.config(), built.config());
        }
        Arc::clone(existing)
    };
    if let Some(existing) = get(map, built.name()) {
        return (conflict(&existing), false);
    }
    let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
    // Another thread may have registered it meanwhile; the first one wins.
    if let Some(existing) = map.get(built.name()) {
        return (conflict(existing), false);
    }
    let name = Name::from(std::borrow::Cow::Owned(built.name().to_owned()));
    let limit = Arc::new(built);
    map.insert(name, Arc::clone(&limit));
    (limit, true)
}

fn get<L>(map: &RwLock<HashMap<Name, Arc<L>>>, name: &str) -> Option<Arc<L>> {
    map.read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
        .cloned()
}

/// Every limit's metrics, by name, read with no lock held.
fn metrics<L, M>(
    map: &RwLock<HashMap<Name, Arc<L>>>,
    read: impl Fn(&L) -> M,
) -> BTreeMap<String, M> {
    let all: Vec<(String, Arc<L>)> = map
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(name, limit)| (name.to_string(), Arc::clone(limit)))
        .collect();
    all.into_iter()
        .map(|(name, limit)| (name, read(&limit)))
        .collect()
}

/// Every limit of `map`, copied out so that no lock is held while they are used.
#[cfg_attr(not(feature = "fleet"), allow(dead_code))]
fn all<L>(map: &RwLock<HashMap<Name, Arc<L>>>) -> Vec<Arc<L>> {
    map.read()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .cloned()
        .collect()
}

impl CircuitBreakerManager {
    /// The limit registered, telling the watchers of registrations when it is new.
    fn added<L>(&self, (limit, new): (Arc<L>, bool)) -> Arc<L> {
        if new {
            self.registered();
        }
        limit
    }

    /// Every bulkhead registered here.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn all_bulkheads(&self) -> Vec<Arc<Bulkhead>> {
        all(&self.limits.bulkheads)
    }

    /// Every rate limiter registered here.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn all_rate_limiters(&self) -> Vec<Arc<RateLimiter>> {
        all(&self.limits.rate_limiters)
    }

    /// Builds the bulkhead and registers it under its name, or returns the one already
    /// registered under that name.
    ///
    /// As for breakers, the first registration of a name wins: a later one with other settings
    /// gets the first bulkhead, and a `config_conflict` warning event (field `bulkhead`) names
    /// both settings. An invalid setting is an error (see [`BulkheadBuilder::build`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use resilience::CircuitBreakerManager;
    /// use resilience::limit::Bulkhead;
    ///
    /// let manager = CircuitBreakerManager::new();
    /// let org = manager.register_bulkhead(Bulkhead::builder("zoho_org").max_concurrent(15))?;
    /// // Another client of the same organisation shares its slots.
    /// let again = manager.register_bulkhead(Bulkhead::builder("zoho_org").max_concurrent(15))?;
    /// assert!(Arc::ptr_eq(&org, &again));
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn register_bulkhead(
        &self,
        builder: BulkheadBuilder,
    ) -> Result<Arc<Bulkhead>, ConfigError> {
        Ok(self.added(register(&self.limits.bulkheads, builder.build()?)))
    }

    /// The bulkhead registered under `name`, if any.
    ///
    /// ```
    /// use resilience::CircuitBreakerManager;
    /// use resilience::limit::Bulkhead;
    ///
    /// let manager = CircuitBreakerManager::new();
    /// manager.register_bulkhead(Bulkhead::builder("zoho_org"))?;
    /// assert!(manager.bulkhead("zoho_org").is_some());
    /// assert!(manager.bulkhead("zoho_credits").is_none());
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn bulkhead(&self, name: &str) -> Option<Arc<Bulkhead>> {
        get(&self.limits.bulkheads, name)
    }

    /// Builds the rate limiter and registers it under its name, or returns the one already
    /// registered under that name.
    ///
    /// As for breakers, the first registration of a name wins: a later one with other settings
    /// gets the first limiter, and a `config_conflict` warning event (field `rate_limiter`)
    /// names both settings. An invalid setting is an error (see
    /// [`RateLimiterBuilder::build`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::CircuitBreakerManager;
    /// use resilience::limit::RateLimiter;
    ///
    /// let manager = CircuitBreakerManager::new();
    /// let day = Duration::from_secs(24 * 3600);
    /// let credits =
    ///     manager.register_rate_limiter(RateLimiter::builder("zoho_credits", 100_000, day).burst(500))?;
    /// assert_eq!(credits.config().burst, 500);
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn register_rate_limiter(
        &self,
        builder: RateLimiterBuilder,
    ) -> Result<Arc<RateLimiter>, ConfigError> {
        Ok(self.added(register(&self.limits.rate_limiters, builder.build()?)))
    }

    /// The rate limiter registered under `name`, if any.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::CircuitBreakerManager;
    /// use resilience::limit::RateLimiter;
    ///
    /// let manager = CircuitBreakerManager::new();
    /// manager.register_rate_limiter(RateLimiter::builder("zoho_credits", 10, Duration::from_secs(1)))?;
    /// assert!(manager.rate_limiter("zoho_credits").is_some());
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn rate_limiter(&self, name: &str) -> Option<Arc<RateLimiter>> {
        get(&self.limits.rate_limiters, name)
    }

    /// Every bulkhead's metrics, by name.
    ///
    /// ```
    /// use resilience::CircuitBreakerManager;
    /// use resilience::limit::Bulkhead;
    ///
    /// let manager = CircuitBreakerManager::new();
    /// let org = manager.register_bulkhead(Bulkhead::builder("zoho_org").max_concurrent(15))?;
    /// let _slot = org.try_acquire().expect("a free slot");
    /// let metrics = manager.bulkhead_metrics();
    /// assert_eq!(metrics["zoho_org"].in_flight, 1);
    /// assert_eq!(metrics["zoho_org"].max_concurrent, 15);
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn bulkhead_metrics(&self) -> BTreeMap<String, BulkheadMetrics> {
        metrics(&self.limits.bulkheads, Bulkhead::metrics)
    }

    /// Every rate limiter's metrics, by name.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience::CircuitBreakerManager;
    /// use resilience::limit::RateLimiter;
    ///
    /// let manager = CircuitBreakerManager::new();
    /// let credits = manager
    ///     .register_rate_limiter(RateLimiter::builder("zoho_credits", 10, Duration::from_secs(60)))?;
    /// credits.try_acquire_n(4).expect("10 tokens in the bucket");
    /// let metrics = manager.rate_limiter_metrics();
    /// assert_eq!(metrics["zoho_credits"].tokens_left, 6);
    /// assert_eq!(metrics["zoho_credits"].burst, 10);
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn rate_limiter_metrics(&self) -> BTreeMap<String, RateLimiterMetrics> {
        metrics(&self.limits.rate_limiters, RateLimiter::metrics)
    }
}
