//! A circuit breaker opening and closing, in a few seconds.
//!
//! A flaky dependency fails for a while, then recovers. Watch the breaker trip after three
//! consecutive failures, refuse calls without making them, probe after its recovery timeout, and
//! close again once the probes succeed.
//!
//! ```text
//! cargo run -p resilience-examples --example breaker_basics
//! RUST_LOG=resilience=debug cargo run -p resilience-examples --example breaker_basics
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use resilience::{CallError, CircuitBreaker};
use tokio::time::sleep;
use tracing_subscriber::EnvFilter;

/// The dependency: answers while `healthy`, times out otherwise.
struct Dependency {
    healthy: AtomicBool,
}

impl Dependency {
    async fn get_account(&self, id: u32) -> Result<String, &'static str> {
        sleep(Duration::from_millis(20)).await;
        if self.healthy.load(Ordering::Relaxed) {
            Ok(format!("account {id}"))
        } else {
            Err("upstream timed out")
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), resilience::ConfigError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("resilience=info")),
        )
        .with_target(false)
        .init();
    resilience::init()?;

    let breaker = CircuitBreaker::builder("zoho_mcp")
        .failure_threshold(3)
        .recovery_timeout(Duration::from_millis(500))
        .half_open_max_calls(2)
        .success_threshold(2)
        .build()?;
    let dependency = Dependency {
        healthy: AtomicBool::new(true),
    };
    let mut changes = breaker.subscribe();

    for id in 1..=24 {
        // The dependency is down for requests 4 to 12.
        dependency
            .healthy
            .store(!(4..=12).contains(&id), Ordering::Relaxed);
        let outcome = breaker.call(|| dependency.get_account(id)).await;
        let m = breaker.metrics();
        let what = match outcome {
            Ok(account) => format!("served {account}"),
            Err(CallError::Failed(e)) => format!("failed: {e}"),
            Err(CallError::Rejected(e)) => format!("rejected: {e}"),
        };
        println!(
            "request {id:>2}  state {:<9}  failures {}  error rate {:>5.1}%  {what}",
            m.state.as_str(),
            m.failure_count,
            m.error_rate * 100.0,
        );
        while let Ok(change) = changes.try_recv() {
            println!("            state change: {change}");
        }
        sleep(Duration::from_millis(80)).await;
    }
    println!("final: {:?}", breaker.metrics());
    Ok(())
}
