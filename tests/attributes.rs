//! The attributes behave exactly like the runtime API: they open, reject, retry and fall back,
//! on paused virtual time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::{CircuitState, TierOutcome, circuit_breaker, fallback, retry};
use tokio::time::{Instant, advance};

#[derive(Debug, thiserror::Error)]
enum ZohoError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error("account {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

impl ZohoError {
    fn is_outage(&self) -> bool {
        matches!(self, ZohoError::Http(500..))
    }
}

/// A fake Zoho backend: counts calls and fails while told to.
#[derive(Default)]
struct Backend {
    calls: AtomicU32,
    failing: AtomicU32,
}

impl Backend {
    fn fail_next(&self, n: u32) {
        self.failing.store(n, Ordering::SeqCst);
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    async fn get(&self, tier: &str, id: &str) -> Result<String, ZohoError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        let failing = self.failing.load(Ordering::SeqCst);
        if failing > 0 {
            self.failing.store(failing - 1, Ordering::SeqCst);
            return Err(ZohoError::Http(503));
        }
        if id == "missing" {
            return Err(ZohoError::NotFound(id.to_owned()));
        }
        Ok(format!("{id} via {tier}"))
    }
}

#[derive(Default)]
struct ZohoClient {
    mcp: Backend,
    sdk: Backend,
    rest: Backend,
}

impl ZohoClient {
    /// Tier 1: the MCP server.
    #[fallback(get_account_sdk, get_account_rest)]
    #[retry(max_attempts = 3, base_delay = "1s", jitter = false)]
    #[circuit_breaker(
        name = "attr_tier1_mcp",
        failure_threshold = 5,
        recovery_timeout = "60s"
    )]
    async fn get_account(&self, id: &str) -> Result<String, ZohoError> {
        self.mcp.get("mcp", id).await
    }

    #[circuit_breaker(
        name = "attr_tier2_sdk",
        failure_threshold = 5,
        recovery_timeout = "60s"
    )]
    async fn get_account_sdk(&self, id: &str) -> Result<String, ZohoError> {
        self.sdk.get("sdk", id).await
    }

    #[circuit_breaker(
        name = "attr_tier3_rest",
        failure_threshold = 5,
        recovery_timeout = "60s"
    )]
    async fn get_account_rest(&self, id: &str) -> Result<String, ZohoError> {
        self.rest.get("rest", id).await
    }

    /// Shares tier 1's breaker with `get_account`.
    #[circuit_breaker(
        name = "attr_tier1_mcp",
        failure_threshold = 5,
        recovery_timeout = "60s"
    )]
    async fn list_deals(&self, account: &str) -> Result<Vec<String>, ZohoError> {
        self.mcp.get("mcp", account).await.map(|a| vec![a])
    }
}

fn breaker(name: &str) -> Arc<resilience::CircuitBreaker> {
    resilience::registry()
        .get(name)
        .expect("registered on first call")
}

#[tokio::test(start_paused = true)]
async fn the_zoho_client_retries_then_falls_back_then_recovers() {
    let client = ZohoClient::default();
    assert_eq!(client.get_account("42").await.unwrap(), "42 via mcp");

    // Two failures: retried on tier 1 (1 s, then 2 s), served by it on the third attempt.
    client.mcp.fail_next(2);
    let start = Instant::now();
    assert_eq!(client.get_account("42").await.unwrap(), "42 via mcp");
    assert_eq!(Instant::now() - start, Duration::from_secs(3));
    assert_eq!(client.mcp.calls(), 4);

    // An outage: each call spends its 3 attempts on tier 1, then tier 2 serves. The fifth
    // consecutive failure opens tier 1's breaker.
    client.mcp.fail_next(u32::MAX);
    assert_eq!(client.get_account("7").await.unwrap(), "7 via sdk");
    assert_eq!(client.get_account("7").await.unwrap(), "7 via sdk");
    assert_eq!(breaker("attr_tier1_mcp").state(), CircuitState::Open);
    let mcp_calls = client.mcp.calls();
    // Open: tier 1 is not called, and the call does not wait for its breaker: with tiers to
    // fall back to, a rejection ends the retries at once.
    let start = Instant::now();
    let served = client.get_account("7").await.unwrap();
    assert_eq!(served, "7 via sdk");
    assert_eq!(client.mcp.calls(), mcp_calls, "an open tier is left alone");
    assert_eq!(Instant::now(), start, "no waiting for the open breaker");

    // The list method shares the breaker: it is refused while tier 1 is open.
    breaker("attr_tier1_mcp").force_open();
    match client.list_deals("7").await {
        Err(ZohoError::Resilience(resilience::Error::CircuitOpen(open))) => {
            assert_eq!(open.circuit_name(), "attr_tier1_mcp");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }

    // Recovery: tier 1 answers again and takes the traffic back.
    client.mcp.fail_next(0);
    breaker("attr_tier1_mcp").reset();
    assert_eq!(client.get_account("7").await.unwrap(), "7 via mcp");
    assert_eq!(client.rest.calls(), 0, "tier 3 was never needed");
}

#[tokio::test(start_paused = true)]
async fn all_tiers_failing_returns_every_tier_in_order() {
    #[circuit_breaker(name = "attr_all_primary", failure_threshold = 10)]
    #[fallback(all_second, all_third)]
    async fn primary(backend: &Backend) -> Result<String, ZohoError> {
        backend.get("primary", "1").await
    }
    async fn all_second(_: &Backend) -> Result<String, ZohoError> {
        Err(ZohoError::Http(502))
    }
    async fn all_third(_: &Backend) -> Result<String, ZohoError> {
        Err(ZohoError::Http(504))
    }

    let backend = Backend::default();
    backend.fail_next(1);
    match primary(&backend).await {
        Err(ZohoError::Resilience(resilience::Error::AllTiersFailed(e))) => {
            assert_eq!(e.operation, "primary");
            let tiers: Vec<&str> = e.attempted_tiers.iter().map(|t| t.tier.as_str()).collect();
            assert_eq!(tiers, ["primary", "all_second", "all_third"]);
            assert!(matches!(
                &e.attempted_tiers[1].outcome,
                TierOutcome::Failed(err) if err.to_string() == "HTTP 502"
            ));
        }
        other => panic!("expected all tiers to fail, got {other:?}"),
    }
    // With the primary's breaker open, the primary is reported as skipped.
    breaker("attr_all_primary").force_open();
    match primary(&backend).await {
        Err(ZohoError::Resilience(resilience::Error::AllTiersFailed(e))) => {
            assert!(matches!(
                e.attempted_tiers[0].outcome,
                TierOutcome::Skipped(_)
            ));
        }
        other => panic!("expected all tiers to fail, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opens_rejects_and_recovers_like_the_runtime() {
    static CALLS: AtomicU32 = AtomicU32::new(0);

    #[circuit_breaker(
        name = "attr_lifecycle",
        failure_threshold = 2,
        recovery_timeout = "30s",
        half_open_max_calls = 1,
        success_threshold = 1
    )]
    async fn flaky(fail: bool) -> Result<u32, ZohoError> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        if fail {
            Err(ZohoError::Http(500))
        } else {
            Ok(1)
        }
    }

    assert!(flaky(true).await.is_err());
    assert!(flaky(true).await.is_err());
    let b = breaker("attr_lifecycle");
    assert_eq!(b.state(), CircuitState::Open);
    match flaky(false).await {
        Err(ZohoError::Resilience(resilience::Error::CircuitOpen(open))) => {
            assert_eq!(open.retry_after(), Some(Duration::from_secs(30)));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        2,
        "a rejected call does not run the body"
    );
    advance(Duration::from_secs(30)).await;
    assert_eq!(flaky(false).await.unwrap(), 1);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn predicates_decide_what_fails_and_what_is_retried() {
    #[retry(max_attempts = 5, base_delay = "10ms", retry_if = ZohoError::is_outage)]
    #[circuit_breaker(name = "attr_predicates", failure_threshold = 2, failure_if = ZohoError::is_outage)]
    async fn lookup(backend: &Backend, id: String) -> Result<String, ZohoError> {
        backend.get("mcp", &id).await
    }

    let backend = Backend::default();
    // Not found: neither a failure nor retried.
    for _ in 0..3 {
        assert!(matches!(
            lookup(&backend, "missing".into()).await,
            Err(ZohoError::NotFound(_))
        ));
    }
    assert_eq!(backend.calls(), 3);
    assert_eq!(breaker("attr_predicates").state(), CircuitState::Closed);
    // An outage: retried (owned `id` cloned per attempt) and counted.
    backend.fail_next(1);
    assert_eq!(lookup(&backend, "9".into()).await.unwrap(), "9 via mcp");
    assert_eq!(backend.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn retry_alone_returns_the_last_error_after_its_attempts() {
    static CALLS: AtomicU32 = AtomicU32::new(0);

    #[retry(
        max_attempts = 4,
        base_delay = 1,
        max_delay = 2,
        exponential_base = 3.0,
        jitter = false
    )]
    async fn always_down() -> Result<(), ZohoError> {
        let n = CALLS.fetch_add(1, Ordering::SeqCst);
        Err(ZohoError::Http(500 + n as u16))
    }

    let start = Instant::now();
    match always_down().await {
        Err(ZohoError::Http(code)) => assert_eq!(code, 503, "the last attempt's error"),
        other => panic!("{other:?}"),
    }
    assert_eq!(CALLS.load(Ordering::SeqCst), 4);
    // Waits: 1 s, then min(3 s, 2 s), then 2 s.
    assert_eq!(Instant::now() - start, Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------------
// Shapes: each runs through `tokio::spawn`, which needs the future to be `Send + 'static`.
// ---------------------------------------------------------------------------------------------

trait AccountSource {
    async fn fetch(&self, id: u32) -> Result<u32, ZohoError>;
}

struct Source;

impl AccountSource for Source {
    #[retry(max_attempts = 2, base_delay = "1ms")]
    #[circuit_breaker(name = "attr_shape_trait")]
    async fn fetch(&self, id: u32) -> Result<u32, ZohoError> {
        Ok(id)
    }
}

struct Counter {
    value: u32,
}

impl Counter {
    #[retry(max_attempts = 3, base_delay = "1ms")]
    async fn bump(&mut self, by: u32) -> Result<u32, ZohoError> {
        self.value += by;
        if self.value < 3 {
            return Err(ZohoError::Http(500));
        }
        Ok(self.value)
    }

    #[fallback(Self::describe_backup)]
    async fn describe(&self, prefix: String) -> Result<String, ZohoError> {
        Err(ZohoError::Http(500 + prefix.len() as u16))
    }

    async fn describe_backup(&self, prefix: String) -> Result<String, ZohoError> {
        Ok(format!("{prefix}{}", self.value))
    }
}

/// Generic, with a lifetime, a where clause and an `impl Trait` argument, `?` and an early
/// `return`.
#[retry(max_attempts = 2, base_delay = "1ms")]
#[circuit_breaker(name = "attr_shape_generic")]
async fn generic<'a, T>(
    items: &'a [T],
    key: impl AsRef<str> + Clone + Send,
) -> Result<&'a T, ZohoError>
where
    T: PartialEq + Sync,
{
    if key.as_ref().is_empty() {
        return Err(ZohoError::NotFound(String::new()));
    }
    let n: usize = key.as_ref().parse().map_err(|_| ZohoError::Http(400))?;
    items.get(n).ok_or(ZohoError::NotFound(n.to_string()))
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::test]
async fn every_supported_shape_is_send_and_behaves() {
    let trait_call = tokio::spawn(async { Source.fetch(7).await });
    assert_eq!(trait_call.await.unwrap().unwrap(), 7);

    let bumped = tokio::spawn(async {
        let mut c = Counter { value: 0 };
        c.bump(1).await
    });
    assert_eq!(
        bumped.await.unwrap().unwrap(),
        3,
        "three attempts, each bumping by 1"
    );

    let described = tokio::spawn(async { Counter { value: 4 }.describe("n=".into()).await });
    assert_eq!(described.await.unwrap().unwrap(), "n=4");

    let items = vec![10, 20, 30];
    let found = assert_send(generic(&items, "1")).await.unwrap();
    assert_eq!(*found, 20);
    assert!(matches!(
        generic(&items, "x").await,
        Err(ZohoError::Http(400))
    ));
    assert!(matches!(
        generic(&items, "").await,
        Err(ZohoError::NotFound(_))
    ));
    let owned = tokio::spawn(async move {
        let items = vec![1u8];
        generic(&items, String::from("0")).await.copied()
    });
    assert_eq!(owned.await.unwrap().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_tier_refused_by_its_own_breaker_is_reported_as_skipped() {
    #[fallback(skip_second, skip_third)]
    async fn skip_first() -> Result<u32, ZohoError> {
        Err(ZohoError::Http(500))
    }
    #[retry(max_attempts = 2, base_delay = "1ms")]
    #[circuit_breaker(name = "attr_skip_second")]
    async fn skip_second() -> Result<u32, ZohoError> {
        Ok(2)
    }
    /// Fails after a rejection: the failure, not the earlier rejection, is what counts.
    #[retry(max_attempts = 2, base_delay = "1ms", max_delay = "1ms")]
    #[circuit_breaker(
        name = "attr_skip_third",
        failure_threshold = 1,
        recovery_timeout = "1ms"
    )]
    async fn skip_third() -> Result<u32, ZohoError> {
        Err(ZohoError::Http(503))
    }

    // Create the tiers' breakers, then open the second one.
    assert_eq!(skip_second().await.unwrap(), 2);
    let _ = skip_third().await;
    breaker("attr_skip_second").force_open();
    match skip_first().await {
        Err(ZohoError::Resilience(resilience::Error::AllTiersFailed(e))) => {
            let outcomes: Vec<(&str, bool)> = e
                .attempted_tiers
                .iter()
                .map(|t| {
                    (
                        t.tier.as_str(),
                        matches!(t.outcome, TierOutcome::Skipped(_)),
                    )
                })
                .collect();
            assert_eq!(
                outcomes,
                [
                    ("skip_first", false),
                    ("skip_second", true),
                    ("skip_third", false)
                ]
            );
            match &e.attempted_tiers[1].outcome {
                TierOutcome::Skipped(open) => assert_eq!(open.circuit_name(), "attr_skip_second"),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("expected all tiers to fail, got {other:?}"),
    }
    // Outside a fallback chain, a rejection is just the function's error.
    assert!(matches!(
        skip_second().await,
        Err(ZohoError::Resilience(resilience::Error::CircuitOpen(_)))
    ));
}

#[tokio::test(start_paused = true)]
async fn an_unguarded_tier_that_fails_after_a_guarded_helper_was_refused_is_reported_as_failed() {
    #[fallback(helped_second)]
    async fn helped_first() -> Result<u32, ZohoError> {
        Err(ZohoError::Http(500))
    }
    /// No breaker of its own: tries a guarded helper, then fails on its own.
    async fn helped_second() -> Result<u32, ZohoError> {
        let _ = helper().await;
        Err(ZohoError::NotFound("42".to_owned()))
    }
    #[circuit_breaker(name = "attr_helper")]
    async fn helper() -> Result<u32, ZohoError> {
        Ok(1)
    }

    assert_eq!(helper().await.unwrap(), 1);
    breaker("attr_helper").force_open();
    match helped_first().await {
        Err(ZohoError::Resilience(resilience::Error::AllTiersFailed(e))) => {
            let tier = &e.attempted_tiers[1];
            assert_eq!(tier.tier, "helped_second");
            match &tier.outcome {
                TierOutcome::Failed(error) => {
                    assert_eq!(error.to_string(), "account 42 not found")
                }
                other => panic!("the tier's own error is lost: {other:?}"),
            }
        }
        other => panic!("expected all tiers to fail, got {other:?}"),
    }
}
