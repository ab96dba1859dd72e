//! Every error type of the crate follows one rule in an error chain: a layer either shows its
//! source in its own message or returns it from `source()`, never both, so that a report that
//! walks the chain (`anyhow`'s `{:#}`, `eyre`, a logger printing causes) prints each message
//! once.

use std::error::Error as StdError;
use std::time::Duration;

use resilience::{
    AllTiersFailedError, CallError, CircuitBreaker, CircuitBreakerOpenError, ConfigError, Error,
    RetryError, RetryExhaustedError, RetryPolicy, TierFailure, TierOutcome,
};

/// An error with a cause of its own, as an I/O or HTTP client error has.
#[derive(Debug)]
struct Reset {
    cause: std::io::Error,
}

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset")
    }
}

impl StdError for Reset {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.cause)
    }
}

fn reset() -> Reset {
    Reset {
        cause: std::io::Error::other("peer closed the socket"),
    }
}

/// Fails when a link of `err`'s chain shows the message of the link below it.
fn assert_each_message_once(err: &(dyn StdError + 'static)) {
    let mut link = Some(err);
    while let Some(e) = link {
        if let Some(source) = e.source() {
            let (shown, below) = (e.to_string(), source.to_string());
            assert!(
                !shown.contains(&below),
                "{shown:?} shows its source {below:?} and returns it too"
            );
        }
        link = e.source();
    }
}

/// The chain as `anyhow` prints it with `{:#}`.
fn report(err: impl StdError + Send + Sync + 'static) -> String {
    format!("{:#}", anyhow::Error::new(err))
}

async fn failed_call() -> CallError<Reset> {
    let breaker = CircuitBreaker::builder("chain_failed")
        .ignore_env()
        .build()
        .unwrap();
    breaker
        .call(|| async { Err::<(), _>(reset()) })
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_failed_call_prints_its_error_once() {
    let err = failed_call().await;
    assert_each_message_once(&err);
    assert_eq!(report(err), "connection reset: peer closed the socket");
}

#[tokio::test]
async fn a_rejected_call_prints_the_rejection_once() {
    let breaker = CircuitBreaker::builder("chain_rejected")
        .ignore_env()
        .build()
        .unwrap();
    breaker.force_open();
    let err = breaker
        .call(|| async { Ok::<_, Reset>(()) })
        .await
        .unwrap_err();
    assert_each_message_once(&err);
    assert_eq!(
        report(err),
        "circuit 'chain_rejected' is forced open; it stays open until reset"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_errors_print_each_message_once() {
    let policy = RetryPolicy::builder()
        .max_attempts(2)
        .base_delay(Duration::from_millis(1))
        .ignore_env()
        .build()
        .unwrap();
    let exhausted = policy
        .execute(|| async { Err::<(), _>(reset()) })
        .await
        .unwrap_err();
    assert_each_message_once(&exhausted);
    assert_eq!(
        report(exhausted),
        "operation failed after 2 attempt(s): connection reset"
    );

    let stopped = policy
        .execute_if(|_| false, || async { Err::<(), _>(reset()) })
        .await
        .unwrap_err();
    assert!(matches!(stopped, RetryError::Stopped { .. }));
    assert_each_message_once(&stopped);

    // Through a breaker: the attempts' errors are `CallError`s.
    let breaker = CircuitBreaker::builder("chain_retry")
        .ignore_env()
        .build()
        .unwrap();
    let through = policy
        .call(&breaker, || async { Err::<(), _>(reset()) })
        .await
        .unwrap_err();
    assert_each_message_once(&through);
    assert_eq!(
        report(through),
        "operation failed after 2 attempt(s): connection reset"
    );
}

#[tokio::test]
async fn the_umbrella_error_prints_each_message_once() {
    let open = CircuitBreakerOpenError::new("tier1_mcp", Some(Duration::from_secs(30)));
    let exhausted = RetryExhaustedError {
        attempts: 3,
        last_error: failed_call().await,
    };
    let all_failed = AllTiersFailedError {
        operation: "get_account".to_owned(),
        attempted_tiers: vec![
            TierFailure {
                tier: "tier1_mcp".to_owned(),
                outcome: TierOutcome::Skipped(open.clone()),
            },
            TierFailure {
                tier: "tier2_sdk".to_owned(),
                outcome: TierOutcome::Failed(failed_call().await),
            },
        ],
    };
    let config = CircuitBreaker::builder("chain_config")
        .ignore_env()
        .failure_threshold(0)
        .build()
        .unwrap_err();

    for err in [
        Error::from(open),
        Error::from(exhausted.boxed()),
        Error::from(all_failed.boxed()),
        Error::from(config.clone()),
    ] {
        assert_each_message_once(&err);
    }
    let config: ConfigError = config;
    assert_each_message_once(&config);
}

#[cfg(feature = "tower")]
#[test]
fn a_tower_error_prints_its_error_once() {
    use resilience::tower::Error as TowerError;

    let inner: TowerError<Reset> = TowerError::Inner(reset());
    assert_each_message_once(&inner);
    assert_eq!(report(inner), "connection reset");

    let boxed: TowerError<resilience::BoxError> = TowerError::Inner(Box::new(reset()));
    assert_each_message_once(&boxed);
    assert_eq!(report(boxed), "connection reset: peer closed the socket");

    let rejected: TowerError<Reset> =
        TowerError::Rejected(CircuitBreakerOpenError::new("tier3_rest", None));
    assert_each_message_once(&rejected);
}
