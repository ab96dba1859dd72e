//! The bulkheads and rate limiters written in `#[bulkhead]` and `#[rate_limit]` attributes,
//! known from the start of the program as the breakers are (see the parent module): each
//! attribute leaves a site in a `static` of its function, submitted to the list the linker
//! gathers, registered with the global registry when it is built, and read by its call site
//! with one atomic load. Names follow the breakers' rules: a written name is shared by every
//! site that writes it (the first site sets the settings, [`check`] reports another that sets
//! them differently); a default name is the function's path, never shared (`<name>::2`, ...).

use std::fmt;
use std::panic::Location;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::{Place, Site, check_name, check_sites, cow, register_each};
use crate::config::{MAX_DURATION, MAX_RATE};
use crate::error::ConfigError;
use crate::limit::{Bulkhead, MAX_BURST, MAX_CONCURRENT, RateLimiter};
use crate::name::Name;
use crate::registry::CircuitBreakerManager;

/// The longest a full bucket may take to refill, as the rate limiter's builder allows.
const MAX_TOLERANCE: u128 = 100 * 365 * 24 * 3600 * 1_000_000_000;

impl Place {
    /// A place written where the site's constructor is called, whose name passes
    /// [`check_name`]; `what` is the const evaluation's error otherwise.
    #[track_caller]
    const fn new(name: &'static str, written_name: bool, what: &'static str) -> Self {
        if check_name(name, !written_name).is_err() {
            panic!("{}", what);
        }
        Self::at(name, written_name, Location::caller())
    }
}

const BAD_BULKHEAD_NAME: &str = "invalid bulkhead name: it may contain only ASCII letters, digits and `_`, with `::` between path segments, so that its environment variables BULKHEAD_<NAME>_<KEY> exist";
const BAD_LIMITER_NAME: &str = "invalid rate limiter name: it may contain only ASCII letters, digits and `_`, with `::` between path segments, so that its environment variables RATE_LIMIT_<NAME>_<KEY> exist";

/// The settings written in a `#[bulkhead]` attribute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct BulkheadWritten {
    max_concurrent: Option<u32>,
    max_wait: Option<Duration>,
}

impl fmt::Display for BulkheadWritten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(n) = self.max_concurrent {
            parts.push(format!("max_concurrent = {n}"));
        }
        if let Some(d) = self.max_wait {
            parts.push(format!("max_wait = {}", humantime::format_duration(d)));
        }
        if parts.is_empty() {
            f.write_str("no settings")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// A `#[bulkhead]` attribute: its bulkhead's name and settings, where it is written, and its
/// bulkhead once registered.
pub struct BulkheadSite {
    place: Place,
    settings: BulkheadWritten,
    bulkhead: OnceLock<Arc<Bulkhead>>,
}

impl BulkheadSite {
    /// A site whose attribute names its bulkhead, written where this is called. Fails const
    /// evaluation on a name that [`validate_name`](crate::config::validate_name) would refuse.
    #[track_caller]
    pub const fn named(name: &'static str) -> Self {
        Self::new(Place::new(name, true, BAD_BULKHEAD_NAME))
    }

    /// A site without a name: `default` is its module path and function name, as
    /// `module_path!()` writes them.
    #[track_caller]
    pub const fn unnamed(default: &'static str) -> Self {
        Self::new(Place::new(default, false, BAD_BULKHEAD_NAME))
    }

    const fn new(place: Place) -> Self {
        Self {
            place,
            settings: BulkheadWritten {
                max_concurrent: None,
                max_wait: None,
            },
            bulkhead: OnceLock::new(),
        }
    }

    /// `max_concurrent = n`, 1 to [`MAX_CONCURRENT`] (checked in const evaluation).
    pub const fn max_concurrent(mut self, n: u32) -> Self {
        if n == 0 || n > MAX_CONCURRENT {
            panic!("`max_concurrent` must be from 1 to 1000000");
        }
        self.settings.max_concurrent = Some(n);
        self
    }

    /// `max_wait = d`, at most [`MAX_DURATION`] (checked in const evaluation).
    pub const fn max_wait(mut self, d: Duration) -> Self {
        if d.as_nanos() > MAX_DURATION.as_nanos() {
            panic!("`max_wait` must be at most 365 days");
        }
        self.settings.max_wait = Some(d);
        self
    }

    /// The site's bulkhead: one atomic load once registered.
    #[inline]
    pub fn bulkhead(&'static self) -> &'static Bulkhead {
        self.registered()
    }
}

fn register_bulkhead(
    manager: &CircuitBreakerManager,
    site: &BulkheadSite,
    name: Name,
) -> Arc<Bulkhead> {
    let s = &site.settings;
    let mut builder = Bulkhead::builder(cow(&name));
    if let Some(n) = s.max_concurrent {
        builder = builder.max_concurrent(n);
    }
    if let Some(d) = s.max_wait {
        builder = builder.max_wait(d);
    }
    match manager.register_bulkhead(builder.clone()) {
        Ok(bulkhead) => bulkhead,
        // The settings were checked in the site's const evaluation and the environment's
        // values are checked one by one, so only the name could fail, which is checked there
        // too; should it ever, the bulkhead still exists, outside the registry.
        Err(error) => {
            config_error("bulkhead", &name, &site.place, &error);
            Arc::new(
                builder
                    .ignore_env()
                    .build()
                    .unwrap_or_else(|_| unchecked_bulkhead()),
            )
        }
    }
}

/// A bulkhead with the defaults, for a site that could not be built at all (never, as the
/// site's const evaluation checks its name and settings).
#[cold]
fn unchecked_bulkhead() -> Bulkhead {
    Bulkhead::builder("unnamed")
        .ignore_env()
        .build()
        .unwrap_or_else(|error| unreachable!("the defaults are valid: {error}"))
}

/// The settings written in a `#[rate_limit]` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RateLimitWritten {
    rate: u64,
    per: Duration,
    burst: Option<u32>,
    max_wait: Option<Duration>,
}

impl fmt::Display for RateLimitWritten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate = {}, per = {}",
            self.rate,
            humantime::format_duration(self.per)
        )?;
        if let Some(n) = self.burst {
            write!(f, ", burst = {n}")?;
        }
        if let Some(d) = self.max_wait {
            write!(f, ", max_wait = {}", humantime::format_duration(d))?;
        }
        Ok(())
    }
}

/// A `#[rate_limit]` attribute: its limiter's name and settings, where it is written, and its
/// limiter once registered.
pub struct RateLimiterSite {
    place: Place,
    settings: RateLimitWritten,
    /// The tokens a call of this site takes (not a setting of the limiter: each function
    /// naming it has its own).
    cost: u32,
    limiter: OnceLock<Arc<RateLimiter>>,
}

impl RateLimiterSite {
    /// A site whose attribute names its limiter and allows `rate` tokens per `per`. Fails
    /// const evaluation on a name or values the limiter's builder would refuse.
    #[track_caller]
    pub const fn named(name: &'static str, rate: u64, per: Duration) -> Self {
        Self::new(Place::new(name, true, BAD_LIMITER_NAME), rate, per)
    }

    /// A site without a name (`default` is its module path and function name) allowing
    /// `rate` tokens per `per`.
    #[track_caller]
    pub const fn unnamed(default: &'static str, rate: u64, per: Duration) -> Self {
        Self::new(Place::new(default, false, BAD_LIMITER_NAME), rate, per)
    }

    const fn new(place: Place, rate: u64, per: Duration) -> Self {
        if rate == 0 || rate > MAX_RATE {
            panic!("`rate` must be from 1 to 1000000000000");
        }
        let nanos = per.as_nanos();
        if nanos == 0 || nanos > MAX_DURATION.as_nanos() {
            panic!("`per` must be greater than zero and at most 365 days");
        }
        if rate as u128 > nanos {
            panic!("`rate` must be at most one per nanosecond of `per`");
        }
        Self {
            place,
            settings: RateLimitWritten {
                rate,
                per,
                burst: None,
                max_wait: None,
            },
            cost: 1,
            limiter: OnceLock::new(),
        }
    }

    /// `burst = n`, 1 to [`MAX_BURST`], a full bucket refilled within 100 years (checked in
    /// const evaluation).
    pub const fn burst(mut self, n: u32) -> Self {
        if n == 0 || n > MAX_BURST {
            panic!("`burst` must be from 1 to 1000000000");
        }
        let interval = self
            .settings
            .per
            .as_nanos()
            .div_ceil(self.settings.rate as u128);
        if interval * n as u128 > MAX_TOLERANCE {
            panic!("`burst`: a full burst would take more than 100 years to refill");
        }
        self.settings.burst = Some(n);
        self
    }

    /// `max_wait = d`, at most [`MAX_DURATION`] (checked in const evaluation).
    pub const fn max_wait(mut self, d: Duration) -> Self {
        if d.as_nanos() > MAX_DURATION.as_nanos() {
            panic!("`max_wait` must be at most 365 days");
        }
        self.settings.max_wait = Some(d);
        self
    }

    /// `cost = n`: the tokens a call of this site takes. The limiter's burst never goes below
    /// the largest cost of the sites naming it: a variable that would put it there is ignored.
    pub const fn cost(mut self, n: u32) -> Self {
        self.cost = n;
        self
    }

    /// The site's rate limiter: one atomic load once registered.
    #[inline]
    pub fn limiter(&'static self) -> &'static RateLimiter {
        self.registered()
    }
}

fn register_limiter(
    manager: &CircuitBreakerManager,
    site: &RateLimiterSite,
    name: Name,
) -> Arc<RateLimiter> {
    let s = &site.settings;
    // The largest cost of the sites naming this limiter: the burst may not go below it.
    let cost = collected()
        .1
        .iter()
        .filter(|other| other.place.given_name() == name)
        .fold(site.cost, |cost, other| cost.max(other.cost));
    let mut builder = RateLimiter::builder(cow(&name), s.rate, s.per).min_burst(cost);
    if let Some(n) = s.burst {
        builder = builder.burst(n);
    }
    if let Some(d) = s.max_wait {
        builder = builder.max_wait(d);
    }
    match manager.register_rate_limiter(builder.clone()) {
        Ok(limiter) => limiter,
        // As for bulkheads: checked in the site's const evaluation, so not expected.
        Err(error) => {
            config_error("rate_limiter", &name, &site.place, &error);
            Arc::new(builder.ignore_env().build().unwrap_or_else(|_| {
                RateLimiter::builder("unnamed", u64::from(u32::MAX), Duration::from_secs(1))
                    .ignore_env()
                    .build()
                    .unwrap_or_else(|error| unreachable!("valid settings: {error}"))
            }))
        }
    }
}

#[cold]
fn config_error(kind: &'static str, name: &Name, place: &Place, error: &ConfigError) {
    crate::events::limit_attribute_config_error(kind, name.as_str(), &place.place(), error);
}

/// A limit site, as the linker gathers them.
pub enum LimitSiteRef {
    /// A `#[bulkhead]` site.
    Bulkhead(&'static BulkheadSite),
    /// A `#[rate_limit]` site.
    RateLimiter(&'static RateLimiterSite),
}

inventory::collect!(LimitSiteRef);

/// Every limit site linked into the program, each kind in the order of their places.
fn collected() -> (Vec<&'static BulkheadSite>, Vec<&'static RateLimiterSite>) {
    let mut bulkheads = Vec::new();
    let mut limiters = Vec::new();
    for site in inventory::iter::<LimitSiteRef> {
        match site {
            LimitSiteRef::Bulkhead(site) => bulkheads.push(*site),
            LimitSiteRef::RateLimiter(site) => limiters.push(*site),
        }
    }
    bulkheads.sort_by_key(|site| site.place.order());
    limiters.sort_by_key(|site| site.place.order());
    (bulkheads, limiters)
}

impl Site for BulkheadSite {
    const ATTRIBUTE: &'static str = "#[bulkhead]";
    const NOUN: &'static str = "bulkhead";
    fn place(&self) -> &Place {
        &self.place
    }
    fn settings(&self) -> &Self::Settings {
        &self.settings
    }
    type Settings = BulkheadWritten;
    type Limit = Bulkhead;
    #[inline]
    fn cell(&self) -> &OnceLock<Arc<Bulkhead>> {
        &self.bulkhead
    }
    fn register(&self, manager: &CircuitBreakerManager, name: Name) -> Arc<Bulkhead> {
        register_bulkhead(manager, self, name)
    }
}

impl Site for RateLimiterSite {
    const ATTRIBUTE: &'static str = "#[rate_limit]";
    const NOUN: &'static str = "rate limiter";
    fn place(&self) -> &Place {
        &self.place
    }
    fn settings(&self) -> &Self::Settings {
        &self.settings
    }
    type Settings = RateLimitWritten;
    type Limit = RateLimiter;
    #[inline]
    fn cell(&self) -> &OnceLock<Arc<RateLimiter>> {
        &self.limiter
    }
    fn register(&self, manager: &CircuitBreakerManager, name: Name) -> Arc<RateLimiter> {
        register_limiter(manager, self, name)
    }
}

/// Registers every collected limit site in `manager` (the global registry, as it is built).
pub(super) fn register_all(manager: &CircuitBreakerManager) {
    let (bulkheads, limiters) = collected();
    register_sites(manager, &bulkheads, &limiters);
}

fn register_sites(
    manager: &CircuitBreakerManager,
    bulkheads: &[&'static BulkheadSite],
    limiters: &[&'static RateLimiterSite],
) {
    register_each(manager, bulkheads);
    register_each(manager, limiters);
}

/// The first problem among the limit sites linked into the program (see
/// [`check_sites`]).
pub(super) fn check() -> Result<(), ConfigError> {
    let (bulkheads, limiters) = collected();
    check_sites(&bulkheads)?;
    check_sites(&limiters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak<T>(site: T) -> &'static T {
        Box::leak(Box::new(site))
    }

    #[test]
    fn sites_register_their_limits_and_share_a_written_name() {
        let day = Duration::from_secs(86_400);
        let a = leak(BulkheadSite::named("sites_org").max_concurrent(15));
        let b = leak(BulkheadSite::named("sites_org").max_concurrent(15));
        let c = leak(BulkheadSite::unnamed("app::get"));
        let d = leak(BulkheadSite::unnamed("app::get"));
        let credits = leak(RateLimiterSite::named("sites_credits", 100_000, day).burst(500));
        let manager = CircuitBreakerManager::new();
        register_sites(&manager, &[a, b, c, d], &[credits]);
        assert!(std::ptr::eq(
            a.bulkhead.get().unwrap().as_ref(),
            b.bulkhead.get().unwrap().as_ref()
        ));
        assert_eq!(
            manager.bulkhead_metrics().keys().collect::<Vec<_>>(),
            ["app::get", "app::get::2", "sites_org"]
        );
        assert_eq!(manager.bulkhead_metrics()["sites_org"].max_concurrent, 15);
        assert_eq!(manager.rate_limiter_metrics()["sites_credits"].burst, 500);
        assert!(check_sites(&[a, b]).is_ok());
        let error = check_sites(&[c, d]).unwrap_err().to_string();
        assert!(
            error.contains("two #[bulkhead] functions of one module"),
            "{error}"
        );
    }

    #[test]
    fn one_written_name_with_two_settings_is_reported_with_both_places() {
        let day = Duration::from_secs(86_400);
        let a = leak(RateLimiterSite::named("sites_shared", 10, day));
        let b = leak(RateLimiterSite::named("sites_shared", 10, day).burst(5));
        let error = check_sites(&[a, b]).unwrap_err().to_string();
        let expected = format!(
            "two #[rate_limit] attributes give this rate limiter different settings: {} (rate = \
             10, per = 1day) and {} (rate = 10, per = 1day, burst = 5)",
            a.place.place(),
            b.place.place()
        );
        assert!(error.contains(&expected), "{error}");
    }
}
