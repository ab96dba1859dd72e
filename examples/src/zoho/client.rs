//! [`ZohoClient`]: reads accounts over HTTP from three tiers, each behind its own circuit
//! breaker, the way the guide's multi-tier configuration does.
//!
//! `get_account` asks tier 1 (MCP), retrying it, and falls back to tier 2 (SDK), then tier 3
//! (REST), each of which is retried once. A tier whose breaker is open is not called at all:
//! its method returns at once and the next tier is tried. The breakers are the global
//! registry's (`resilience::registry()`), in it from the start of the program.
//!
//! | method | breaker | opens after | probes after | retries |
//! |---|---|---|---|---|
//! | `get_account` | `tier1_mcp` | 5 consecutive failures | 2 s | 3 attempts, 50 ms then 100 ms apart |
//! | `get_account_sdk` | `tier2_sdk` | 3 consecutive failures | 2 s | 2 attempts, 50 ms apart |
//! | `get_account_rest` | `tier3_rest` | 3 consecutive failures | 2 s | 2 attempts, 50 ms apart |
//!
//! Half-open, each breaker lets 3 probes through and closes after 2 successes (the guide's
//! production settings). When tier 1's breaker is open, `get_account` does not retry it: with
//! tiers to fall back to, a rejection ends the retries at once and tier 2 is asked. The waits
//! have no jitter, to keep runs reproducible. Per-breaker environment variables (`CIRCUIT_BREAKER_TIER1_MCP_RECOVERY_TIMEOUT`,
//! ...) override these values.
//!
//! Every HTTP call of the three methods also goes through the organisation's limits, which
//! Zoho enforces across all tiers (see [`org`](super::org)): the bulkhead `zoho_org` lets
//! [`org::MAX_CONCURRENT`](super::org::MAX_CONCURRENT) calls run at once and queues the rest
//! for up to 2 s; the rate limiter `zoho_credits` spends one credit per call, 250 per 10 s with
//! bursts of 100. Together they keep the client inside the org's
//! [`org::CREDITS`](super::org::CREDITS) credits per rolling
//! [`org::WINDOW`](super::org::WINDOW), even counting a call's 2 s in the queue: at most
//! 100 + 250 x 12/10 = 400 credits reach Zoho in any 10 s. A call refused by either is refused
//! by the client before Zoho ever answers 429, and is not a failure of the tier: it does not
//! count against the tier's breaker.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use resilience::{bulkhead, circuit_breaker, fallback, rate_limit, retry};
use tokio::time::Instant;

use super::{Account, TierId};

/// Why a tier, or the whole fallback chain, did not give an account.
///
/// The functions under the attributes return it; a rejection by an open breaker, or every tier
/// failing, arrives as [`ZohoError::Resilience`].
#[derive(Debug, thiserror::Error)]
pub enum ZohoError {
    /// The tier answered with an error status.
    #[error("{tier}: HTTP {status}")]
    Http {
        /// The tier that answered.
        tier: TierId,
        /// The HTTP status code.
        status: u16,
    },
    /// The tier did not answer within the client's timeout.
    #[error("{tier}: timed out after {} ms", .after.as_millis())]
    Timeout {
        /// The tier that was asked.
        tier: TierId,
        /// The client's timeout.
        after: Duration,
    },
    /// Nothing listens on the tier's port.
    #[error("{tier}: connection refused")]
    ConnectionRefused {
        /// The tier that was asked.
        tier: TierId,
    },
    /// Any other transport failure: a reset connection, a body that is not an account...
    #[error("{tier}: {message}")]
    Transport {
        /// The tier that was asked.
        tier: TierId,
        /// What went wrong, with its causes.
        message: String,
    },
    /// A breaker refused the call (its circuit is open), or every tier failed.
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

impl ZohoError {
    /// A few words for a log line: `HTTP 503`, `timeout`, `refused`, `circuit open`,
    /// `all tiers failed`, ...
    pub fn short(&self) -> String {
        match self {
            ZohoError::Http { status, .. } => format!("HTTP {status}"),
            ZohoError::Timeout { .. } => "timeout".to_owned(),
            ZohoError::ConnectionRefused { .. } => "refused".to_owned(),
            ZohoError::Transport { .. } => "transport error".to_owned(),
            ZohoError::Resilience(resilience::Error::CircuitOpen(_)) => "circuit open".to_owned(),
            ZohoError::Resilience(resilience::Error::AllTiersFailed(_)) => {
                "all tiers failed".to_owned()
            }
            ZohoError::Resilience(resilience::Error::RateLimited(_)) => "rate limited".to_owned(),
            ZohoError::Resilience(resilience::Error::BulkheadFull(_)) => "bulkhead full".to_owned(),
            ZohoError::Resilience(_) => "resilience error".to_owned(),
        }
    }

    /// Whether the client's own limits refused the call (the rate limiter `zoho_credits` or
    /// the bulkhead `zoho_org`): nothing was sent.
    pub fn is_refused_by_limits(&self) -> bool {
        matches!(
            self,
            ZohoError::Resilience(
                resilience::Error::RateLimited(_) | resilience::Error::BulkheadFull(_)
            )
        )
    }

    /// Whether every tier was refused by the client's own limits (see
    /// [`is_refused_by_limits`](Self::is_refused_by_limits)): the request was shed.
    pub fn is_shed(&self) -> bool {
        let ZohoError::Resilience(resilience::Error::AllTiersFailed(all)) = self else {
            return false;
        };
        // The first tier's refusal is kept as the library's error, the fallback tiers' as
        // theirs (each tier method converts it).
        let refused = |e: &resilience::Error| {
            matches!(
                e,
                resilience::Error::RateLimited(_) | resilience::Error::BulkheadFull(_)
            )
        };
        all.attempted_tiers.iter().all(|t| match &t.outcome {
            resilience::TierOutcome::Failed(e) => {
                e.downcast_ref::<ZohoError>()
                    .is_some_and(ZohoError::is_refused_by_limits)
                    || e.downcast_ref::<resilience::Error>().is_some_and(refused)
            }
            resilience::TierOutcome::Skipped(_) => false,
        })
    }

    /// Whether every tier failed (the fallback chain's own error).
    pub fn is_all_tiers_failed(&self) -> bool {
        matches!(
            self,
            ZohoError::Resilience(resilience::Error::AllTiersFailed(_))
        )
    }
}

/// One HTTP call that a tier's method made for a request: the calls a breaker refused are not
/// attempts, since nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The tier that was called.
    pub tier: TierId,
    /// How long the call took.
    pub latency: Duration,
    /// `None` when it gave the account, else [`ZohoError::short`].
    pub error: Option<String>,
}

tokio::task_local! {
    static ATTEMPTS: RefCell<Vec<Attempt>>;
}

/// Runs `request` (typically `client.get_account(id)`) and returns its output with every
/// HTTP call the client made for it, in order.
///
/// ```no_run
/// # async fn demo(client: &resilience_examples::zoho::ZohoClient) {
/// use resilience_examples::zoho::client::traced;
///
/// let (account, attempts) = traced(client.get_account("ACC-0001")).await;
/// for a in &attempts {
///     println!("{} {:?} {:?}", a.tier, a.latency, a.error);
/// }
/// # }
/// ```
pub async fn traced<F: Future>(request: F) -> (F::Output, Vec<Attempt>) {
    ATTEMPTS
        .scope(RefCell::new(Vec::new()), async move {
            let output = request.await;
            (output, ATTEMPTS.with(|a| a.take()))
        })
        .await
}

fn record(attempt: Attempt) {
    // Outside `traced` there is nowhere to record: that is fine.
    let _ = ATTEMPTS.try_with(|a| a.borrow_mut().push(attempt));
}

/// Reads Zoho CRM accounts from three tiers, each behind its own circuit breaker.
///
/// See the [module documentation](self) for the breakers' and retries' settings.
#[derive(Debug, Clone)]
pub struct ZohoClient {
    http: reqwest::Client,
    base_urls: [String; 3],
    timeout: Duration,
}

impl ZohoClient {
    /// A client of the tiers at `base_urls` (`http://127.0.0.1:<port>`, in the order of
    /// [`TierId::ALL`]), giving up on a request after `timeout`.
    ///
    /// It opens a new connection for every request, so that a tier whose server went down is
    /// seen as refusing at once rather than through a stale pooled connection.
    pub fn new(base_urls: [String; 3], timeout: Duration) -> Result<ZohoClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(0)
            .no_proxy()
            .build()?;
        Ok(ZohoClient {
            http,
            base_urls,
            timeout,
        })
    }

    /// The base URL of `tier`.
    pub fn base_url(&self, tier: TierId) -> &str {
        &self.base_urls[tier.index()]
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Reads the account `id`: from tier 1 (MCP) while it answers, else from tier 2 (SDK), else
    /// from tier 3 (REST). [`Account::served_by`] says which.
    ///
    /// Fails with `ZohoError::Resilience(resilience::Error::AllTiersFailed(..))`, listing every
    /// tier's error, when no tier gave the account.
    #[fallback(get_account_sdk, get_account_rest)]
    #[retry(
        max_attempts = 3,
        base_delay = "50ms",
        max_delay = "200ms",
        jitter = false
    )]
    #[circuit_breaker(
        name = "tier1_mcp",
        failure_threshold = 5,
        recovery_timeout = "2s",
        half_open_max_calls = 3,
        success_threshold = 2
    )]
    #[rate_limit(name = "zoho_credits", rate = 250, per = "10s", burst = 100)]
    #[bulkhead(name = "zoho_org", max_concurrent = 15, max_wait = "2s")]
    pub async fn get_account(&self, id: &str) -> Result<Account, ZohoError> {
        self.fetch(TierId::Mcp, id).await
    }

    /// Reads the account `id` from tier 2 (SDK) alone, through its breaker `tier2_sdk`.
    #[retry(
        max_attempts = 2,
        base_delay = "50ms",
        max_delay = "200ms",
        jitter = false
    )]
    #[circuit_breaker(
        name = "tier2_sdk",
        failure_threshold = 3,
        recovery_timeout = "2s",
        half_open_max_calls = 3,
        success_threshold = 2
    )]
    #[rate_limit(name = "zoho_credits", rate = 250, per = "10s", burst = 100)]
    #[bulkhead(name = "zoho_org", max_concurrent = 15, max_wait = "2s")]
    pub async fn get_account_sdk(&self, id: &str) -> Result<Account, ZohoError> {
        self.fetch(TierId::Sdk, id).await
    }

    /// Reads the account `id` from tier 3 (REST) alone, through its breaker `tier3_rest`.
    #[retry(
        max_attempts = 2,
        base_delay = "50ms",
        max_delay = "200ms",
        jitter = false
    )]
    #[circuit_breaker(
        name = "tier3_rest",
        failure_threshold = 3,
        recovery_timeout = "2s",
        half_open_max_calls = 3,
        success_threshold = 2
    )]
    #[rate_limit(name = "zoho_credits", rate = 250, per = "10s", burst = 100)]
    #[bulkhead(name = "zoho_org", max_concurrent = 15, max_wait = "2s")]
    pub async fn get_account_rest(&self, id: &str) -> Result<Account, ZohoError> {
        self.fetch(TierId::Rest, id).await
    }

    /// Checks `GET /health` of `tier`, outside its breaker: for the health monitor.
    pub async fn ping(&self, tier: TierId) -> Result<(), ZohoError> {
        let url = format!("{}/health", self.base_url(tier));
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| self.classify(tier, e))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(ZohoError::Http {
                tier,
                status: status.as_u16(),
            })
        }
    }

    /// One HTTP call for an account, recorded as an [`Attempt`].
    async fn fetch(&self, tier: TierId, id: &str) -> Result<Account, ZohoError> {
        let started = Instant::now();
        let result = self.get(tier, id).await;
        record(Attempt {
            tier,
            latency: started.elapsed(),
            error: result.as_ref().err().map(ZohoError::short),
        });
        result
    }

    async fn get(&self, tier: TierId, id: &str) -> Result<Account, ZohoError> {
        let url = format!("{}/accounts/{id}", self.base_url(tier));
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| self.classify(tier, e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ZohoError::Http {
                tier,
                status: status.as_u16(),
            });
        }
        response
            .json::<Account>()
            .await
            .map_err(|e| self.classify(tier, e))
    }

    fn classify(&self, tier: TierId, error: reqwest::Error) -> ZohoError {
        if error.is_timeout() {
            return ZohoError::Timeout {
                tier,
                after: self.timeout,
            };
        }
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::ConnectionRefused {
                    return ZohoError::ConnectionRefused { tier };
                }
            }
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ZohoError::Transport { tier, message }
    }
}
