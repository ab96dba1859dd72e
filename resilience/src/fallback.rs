//! Multi-tier fallback: [`FallbackHandler`] tries tiers in order until one answers.
//!
//! A tier whose circuit breaker is open is skipped without being called; the first success wins;
//! when every tier fails or is skipped, [`AllTiersFailedError`] lists each of them, in order, with
//! its error or the rejection that made it skipped.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::breaker::CircuitBreaker;
use crate::error::{AllTiersFailedError, TierFailure, TierOutcome};
use crate::events;
use crate::registry::ManagerRef;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which breaker guards a tier.
enum Guard<'a> {
    /// The manager's breaker named like the tier, if one is registered.
    ByName,
    Breaker(&'a CircuitBreaker),
    Unguarded,
}

/// One way of serving an operation: a name, the call (a future, run only if this tier's turn
/// comes), and the breaker that guards it.
///
/// By default a tier is guarded by the breaker of the same name in the handler's manager, when
/// one is registered (the guide's convention: tiers `tier1_mcp`, `tier2_sdk`, `tier3_rest`, each
/// with its breaker). The handler runs the call through that breaker, so the call itself should
/// not go through it again.
pub struct Tier<'a, T, E> {
    name: Cow<'a, str>,
    guard: Guard<'a>,
    call: BoxFuture<'a, Result<T, E>>,
}

impl<'a, T, E> Tier<'a, T, E> {
    /// A tier named `name` whose call is `call`. The future is only polled if the tier is tried.
    pub fn new(
        name: impl Into<Cow<'a, str>>,
        call: impl Future<Output = Result<T, E>> + Send + 'a,
    ) -> Self {
        Self {
            name: name.into(),
            guard: Guard::ByName,
            call: Box::pin(call),
        }
    }

    /// Guards the tier with `breaker` instead of the manager's breaker of the same name.
    pub fn breaker(mut self, breaker: &'a CircuitBreaker) -> Self {
        self.guard = Guard::Breaker(breaker);
        self
    }

    /// Runs the tier without any breaker.
    pub fn unguarded(mut self) -> Self {
        self.guard = Guard::Unguarded;
        self
    }

    /// The tier's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T, E> fmt::Debug for Tier<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tier")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The answer of a fallback chain, with the tier that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served<'a, T> {
    /// The answer.
    pub value: T,
    /// The name of the tier that served.
    pub tier: Cow<'a, str>,
    /// Its position in the chain (0 for the first tier).
    pub position: usize,
}

/// Tries tiers in order until one answers (the guide's `FallbackHandler`).
///
/// ```
/// use resilience::{CircuitBreaker, CircuitBreakerManager, FallbackHandler, Tier};
///
/// # async fn mcp(_: &str) -> Result<String, String> { Err("MCP down".into()) }
/// # async fn sdk(id: &str) -> Result<String, String> { Ok(format!("{id} via SDK")) }
/// # async fn rest(id: &str) -> Result<String, String> { Ok(format!("{id} via REST")) }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = CircuitBreakerManager::new();
/// for tier in ["tier1_mcp", "tier2_sdk", "tier3_rest"] {
///     manager.register(CircuitBreaker::builder(tier).failure_threshold(5))?;
/// }
/// let handler = FallbackHandler::new(&manager);
///
/// let id = "42";
/// let account = handler
///     .execute_with_fallback(
///         [
///             Tier::new("tier1_mcp", mcp(id)),
///             Tier::new("tier2_sdk", sdk(id)),
///             Tier::new("tier3_rest", rest(id)),
///         ],
///         "get_account",
///     )
///     .await?;
/// assert_eq!(account, "42 via SDK");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FallbackHandler<'m> {
    manager: ManagerRef<'m>,
}

impl Default for FallbackHandler<'static> {
    /// A handler whose tiers are guarded by the breakers of the global [`registry()`](crate::registry()).
    fn default() -> Self {
        Self::new(ManagerRef::default())
    }
}

impl<'m> FallbackHandler<'m> {
    /// A handler whose tiers are guarded by the breakers registered in `manager` under their
    /// names: the global [`registry()`](crate::registry()), a manager of your own in an `Arc`,
    /// or a borrowed one (see [`ManagerRef`]).
    pub fn new(manager: impl Into<ManagerRef<'m>>) -> Self {
        Self {
            manager: manager.into(),
        }
    }

    /// Tries `tiers` in order and returns the first answer.
    ///
    /// `operation_name` names the operation in events and in the error.
    pub async fn execute_with_fallback<'a, T, E>(
        &self,
        tiers: impl IntoIterator<Item = Tier<'a, T, E>>,
        operation_name: &str,
    ) -> Result<T, AllTiersFailedError<E>>
    where
        E: fmt::Display,
    {
        self.serve(tiers, operation_name).await.map(|s| s.value)
    }

    /// Like [`execute_with_fallback`](Self::execute_with_fallback), and says which tier served.
    pub async fn serve<'a, T, E>(
        &self,
        tiers: impl IntoIterator<Item = Tier<'a, T, E>>,
        operation_name: &str,
    ) -> Result<Served<'a, T>, AllTiersFailedError<E>>
    where
        E: fmt::Display,
    {
        let mut attempted = Vec::new();
        for (position, tier) in tiers.into_iter().enumerate() {
            let registered;
            let breaker = match tier.guard {
                Guard::Breaker(b) => Some(b),
                Guard::Unguarded => None,
                Guard::ByName => {
                    registered = self.manager.get(&tier.name);
                    registered.as_deref()
                }
            };
            let outcome = match breaker.map(CircuitBreaker::try_acquire) {
                Some(Err(open)) => TierOutcome::Skipped(open),
                Some(Ok(permit)) => {
                    let result = tier.call.await;
                    permit.record(&result);
                    match result {
                        Ok(value) => {
                            return Ok(self.served(value, tier.name, position, operation_name));
                        }
                        Err(e) => TierOutcome::Failed(e),
                    }
                }
                None => match tier.call.await {
                    Ok(value) => {
                        return Ok(self.served(value, tier.name, position, operation_name));
                    }
                    Err(e) => TierOutcome::Failed(e),
                },
            };
            events::tier_did_not_serve(operation_name, &tier.name, &outcome);
            attempted.push(TierFailure {
                tier: tier.name.into_owned(),
                outcome,
            });
        }
        let error = AllTiersFailedError {
            operation: operation_name.to_owned(),
            attempted_tiers: attempted,
        };
        events::all_tiers_failed(&error);
        Err(error)
    }

    fn served<'a, T>(
        &self,
        value: T,
        tier: Cow<'a, str>,
        position: usize,
        operation: &str,
    ) -> Served<'a, T> {
        if position > 0 {
            events::fallback_used(operation, &tier, position);
        }
        Served {
            value,
            tier,
            position,
        }
    }
}
