//! Named circuit breakers, bulkheads and rate limiters: [`CircuitBreakerManager`], and the
//! process-wide one, [`registry()`].
//!
//! Every function that names the same breaker (or bulkhead, or rate limiter) shares it. The guide's advice holds: one breaker
//! per service or tier (`tier1_mcp`, `tier2_sdk`, `tier3_rest`), not one for everything.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use tokio::sync::broadcast;

use crate::breaker::{CircuitBreaker, CircuitBreakerBuilder, CircuitState, Metrics};
use crate::error::ConfigError;
use crate::events::{self, Hub, StateChange};
use crate::name::Name;

mod limits;

/// A set of named circuit breakers, and of named bulkheads and rate limiters (see
/// [`register_bulkhead`](Self::register_bulkhead) and
/// [`register_rate_limiter`](Self::register_rate_limiter)).
///
/// ```
/// use resilience::{CircuitBreaker, CircuitBreakerManager, CircuitState};
///
/// let manager = CircuitBreakerManager::new();
/// for tier in ["tier1_mcp", "tier2_sdk", "tier3_rest"] {
///     manager.register(CircuitBreaker::builder(tier).failure_threshold(5))?;
/// }
/// let tier1 = manager.get("tier1_mcp").expect("registered above");
/// tier1.force_open();
/// let states = manager.all_states();
/// assert!(states.values().any(|s| s.is_open()));
/// manager.reset_all();
/// assert_eq!(manager.all_states()["tier1_mcp"], CircuitState::Closed);
/// # Ok::<(), resilience::ConfigError>(())
/// ```
#[derive(Debug, Default)]
pub struct CircuitBreakerManager {
    breakers: RwLock<HashMap<Name, Arc<CircuitBreaker>>>,
    hub: Arc<Hub>,
    limits: limits::Limits,
    registrations: Registrations,
}

/// A count of the names registered in a manager, watched by whoever must learn of each new
/// breaker, bulkhead or rate limiter at once (the fleet). Bumped at registration only: no call
/// path touches it.
#[derive(Debug)]
struct Registrations(tokio::sync::watch::Sender<u64>);

impl Default for Registrations {
    fn default() -> Self {
        Self(tokio::sync::watch::channel(0).0)
    }
}

impl CircuitBreakerManager {
    /// An empty manager.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the breaker and registers it under its name, or returns the one already
    /// registered under that name.
    ///
    /// When the name is taken by a breaker with a different configuration, the first one is
    /// kept and returned, and a `config_conflict` warning event names both configurations.
    /// An invalid configuration is an error (see [`CircuitBreakerBuilder::build`]).
    pub fn register(
        &self,
        builder: CircuitBreakerBuilder,
    ) -> Result<Arc<CircuitBreaker>, ConfigError> {
        let config = builder.resolve()?;
        if let Some(existing) = self.get(builder.name()) {
            if *existing.config() != config {
                events::config_conflict(builder.name(), existing.config(), &config);
            }
            return Ok(existing);
        }
        let mut map = self
            .breakers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Another thread may have registered it meanwhile; the first one wins.
        if let Some(existing) = map.get(builder.name()) {
            if *existing.config() != config {
                events::config_conflict(builder.name(), existing.config(), &config);
            }
            return Ok(Arc::clone(existing));
        }
        let name = Name::from(builder.into_name());
        let breaker = Arc::new(CircuitBreaker::from_parts(
            name.clone(),
            config,
            Some(Arc::clone(&self.hub)),
        ));
        map.insert(name, Arc::clone(&breaker));
        drop(map);
        self.registered();
        events::breaker_registered(
            breaker.name(),
            breaker.state(),
            breaker.config().recovery_timeout,
        );
        Ok(breaker)
    }

    /// The breaker registered under `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<CircuitBreaker>> {
        let map = self.breakers.read().unwrap_or_else(PoisonError::into_inner);
        map.get(name).cloned()
    }

    /// The breaker registered under `name`, or a new one with the defaults (and the
    /// environment's settings) registered now.
    ///
    /// Unlike [`register`](Self::register), an existing breaker is returned as it is, whatever
    /// its configuration.
    pub fn get_or_register(&self, name: &str) -> Result<Arc<CircuitBreaker>, ConfigError> {
        match self.get(name) {
            Some(breaker) => Ok(breaker),
            None => self.register(CircuitBreaker::builder(name.to_owned())),
        }
    }

    /// The names of the registered breakers, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.snapshot().map(|(n, _)| n.to_string()).collect();
        names.sort();
        names
    }

    /// Every breaker's metrics, by name (the guide's `get_all_metrics()`).
    pub fn all_metrics(&self) -> BTreeMap<String, Metrics> {
        self.snapshot()
            .map(|(n, b)| (n.to_string(), b.metrics()))
            .collect()
    }

    /// Every breaker's state, by name (the guide's `get_all_states()`).
    pub fn all_states(&self) -> BTreeMap<String, CircuitState> {
        self.snapshot()
            .map(|(n, b)| (n.to_string(), b.state()))
            .collect()
    }

    /// Resets every breaker (see [`CircuitBreaker::reset`]).
    pub fn reset_all(&self) {
        for (_, breaker) in self.snapshot() {
            breaker.reset();
        }
    }

    /// Receives every state change of every breaker registered here, from now on.
    ///
    /// ```
    /// use resilience::{CircuitBreaker, CircuitBreakerManager, CircuitState};
    ///
    /// let manager = CircuitBreakerManager::new();
    /// let mut changes = manager.subscribe();
    /// manager.register(CircuitBreaker::builder("tier1_mcp"))?.force_open();
    /// let change = changes.try_recv().expect("one change");
    /// assert_eq!(&*change.circuit_breaker, "tier1_mcp");
    /// assert_eq!(change.new_state, CircuitState::ForcedOpen);
    /// # Ok::<(), resilience::ConfigError>(())
    /// ```
    pub fn subscribe(&self) -> broadcast::Receiver<StateChange> {
        self.hub.subscribe()
    }

    /// Told of every breaker, bulkhead and rate limiter registered from now on: the value
    /// changes at each registration.
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    pub(crate) fn registrations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.registrations.0.subscribe()
    }

    /// A new name was registered.
    fn registered(&self) {
        self.registrations.0.send_modify(|n| *n += 1);
    }

    /// The breakers, copied out so that no lock is held while they are used.
    fn snapshot(&self) -> impl Iterator<Item = (Name, Arc<CircuitBreaker>)> {
        let map = self.breakers.read().unwrap_or_else(PoisonError::into_inner);
        let all: Vec<_> = map
            .iter()
            .map(|(n, b)| (n.clone(), Arc::clone(b)))
            .collect();
        all.into_iter()
    }
}

static REGISTRY: LazyLock<CircuitBreakerManager> = LazyLock::new(|| {
    let manager = CircuitBreakerManager::new();
    crate::sites::register_all(&manager);
    manager
});

/// The process-wide registry, built on first use.
///
/// Every breaker written in a `#[circuit_breaker]` attribute anywhere in the program is in it
/// from the start (and every bulkhead and rate limiter written in a `#[bulkhead]` or
/// `#[rate_limit]` attribute), with the attribute's settings, before its function is first called: the
/// health monitor and an operator see it, and a breaker looked up by its name
/// ([`get_or_register`](CircuitBreakerManager::get_or_register), `CircuitBreakerLayer::named`)
/// gets the attribute's settings, whatever runs first. [`init()`](crate::init()) reports two
/// attributes that give one name different settings.
///
/// ```
/// use resilience::CircuitBreaker;
///
/// let a = resilience::registry().register(CircuitBreaker::builder("docs_shared"))?;
/// let b = resilience::registry().get("docs_shared").unwrap();
/// assert!(std::sync::Arc::ptr_eq(&a, &b));
/// # Ok::<(), resilience::ConfigError>(())
/// ```
pub fn registry() -> &'static CircuitBreakerManager {
    &REGISTRY
}

/// A [`CircuitBreakerManager`] handed to [`FallbackHandler`](crate::FallbackHandler) or to
/// [`HealthMonitorBuilder::manager`](crate::HealthMonitorBuilder::manager): the global
/// [`registry()`], a manager of your own in an [`Arc`], or a borrowed one. Every API that takes
/// a manager takes `impl Into<ManagerRef>`, so each form is passed the same way everywhere:
///
/// ```
/// use std::sync::Arc;
/// use resilience::{CircuitBreakerManager, FallbackHandler, HealthMonitor};
///
/// let mine = Arc::new(CircuitBreakerManager::new());
/// let global = FallbackHandler::new(resilience::registry());
/// let own = FallbackHandler::new(Arc::clone(&mine));
/// let monitor = HealthMonitor::builder()
///     .tier("tier1_mcp", || async { Ok::<(), String>(()) })
///     .manager(resilience::registry()) // or .manager(Arc::clone(&mine))
///     .build()?;
/// # Ok::<(), resilience::ConfigError>(())
/// ```
///
/// A monitor runs on a task of its own, so it takes a `ManagerRef<'static>`: the registry or an
/// `Arc`. A handler may also borrow a manager that outlives it (`FallbackHandler::new(&manager)`).
#[derive(Clone)]
pub struct ManagerRef<'m>(Held<'m>);

#[derive(Clone)]
enum Held<'m> {
    Borrowed(&'m CircuitBreakerManager),
    Shared(Arc<CircuitBreakerManager>),
}

impl Default for ManagerRef<'static> {
    /// The global [`registry()`].
    fn default() -> Self {
        Self(Held::Borrowed(registry()))
    }
}

impl<'m> From<&'m CircuitBreakerManager> for ManagerRef<'m> {
    fn from(manager: &'m CircuitBreakerManager) -> Self {
        Self(Held::Borrowed(manager))
    }
}

impl From<Arc<CircuitBreakerManager>> for ManagerRef<'static> {
    fn from(manager: Arc<CircuitBreakerManager>) -> Self {
        Self(Held::Shared(manager))
    }
}

impl<'m> From<&'m Arc<CircuitBreakerManager>> for ManagerRef<'m> {
    fn from(manager: &'m Arc<CircuitBreakerManager>) -> Self {
        Self(Held::Borrowed(manager))
    }
}

impl std::ops::Deref for ManagerRef<'_> {
    type Target = CircuitBreakerManager;

    fn deref(&self) -> &CircuitBreakerManager {
        match &self.0 {
            Held::Borrowed(manager) => manager,
            Held::Shared(manager) => manager,
        }
    }
}

impl std::fmt::Debug for ManagerRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let global = std::ptr::eq(&**self, registry());
        f.debug_struct("ManagerRef")
            .field("global", &global)
            .field("breakers", &self.names())
            .finish()
    }
}
