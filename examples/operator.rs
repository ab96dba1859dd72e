//! An operator's view of three tiers' breakers, on loopback: Prometheus metrics and a JSON status.
//!
//! ```text
//! cargo run -p resilience-examples --example operator              # until Ctrl-C
//! cargo run -p resilience-examples --example operator -- --seconds 30
//! ```
//!
//! Its breakers are `tier1_mcp`, `tier2_sdk` and `tier3_rest`: the ones written in the Zoho
//! client's attributes (`resilience_examples::zoho::client`), in the global registry from the
//! start of the program with the client's settings. It installs the Prometheus recorder
//! (rendered by the example's own route, no exporter listener), starts a health monitor, and
//! serves on `127.0.0.1` at a port the system picks:
//!
//! * `GET /metrics`: every `resilience_*` series in Prometheus' text format, the breakers'
//!   gauges refreshed by `resilience::metrics::publish` just before rendering;
//! * `GET /status`: every breaker's metrics (the guide's shape) and the health status, as JSON.
//!
//! Then it sends traffic through the three tiers with tier 1 failing, so that its breaker opens
//! and tier 2 serves: `curl` the two routes to watch it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use resilience::health::HealthMonitor;
use resilience::{FallbackHandler, Tier};
use resilience_examples::operator::{OperatorState, serve_loopback};

/// Serves `/metrics` and `/status` on loopback while traffic trips a breaker.
#[derive(Debug, Parser)]
struct Args {
    /// Stop after this many seconds instead of waiting for Ctrl-C.
    #[arg(long)]
    seconds: Option<u64>,
}

const TIERS: [&str; 3] = ["tier1_mcp", "tier2_sdk", "tier3_rest"];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();

    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(resilience::metrics::CALL_DURATION.into()),
            resilience::metrics::CALL_DURATION_BUCKETS,
        )?
        .install_recorder()?;
    resilience::metrics::describe();

    // The Zoho client's attribute breakers are registered from the start, with the settings
    // written on its methods: registering the names again would only keep those.
    let registry = resilience::registry();
    for tier in TIERS {
        let breaker = registry
            .get(tier)
            .ok_or_else(|| format!("the Zoho client's breaker {tier} is not registered"))?;
        let c = breaker.config();
        println!(
            "{tier}: opens after {} failures, probes after {:?}",
            c.failure_threshold, c.recovery_timeout
        );
    }

    // Tier 1 is down for the whole run; the others answer.
    let tier1_up = Arc::new(AtomicBool::new(false));
    let monitor = Arc::new(
        HealthMonitor::builder()
            .tier_with("tier1_mcp", Arc::clone(&tier1_up), |up| async move {
                if up.load(Ordering::Relaxed) {
                    Ok(())
                } else {
                    Err("HTTP 503")
                }
            })
            .tier("tier2_sdk", || async { Ok::<(), String>(()) })
            .tier("tier3_rest", || async { Ok::<(), String>(()) })
            .check_interval(Duration::from_secs(5))
            .build()?,
    );
    monitor.start();

    let (addr, server) = serve_loopback(OperatorState {
        manager: registry.into(),
        monitor: Arc::clone(&monitor),
        render: Arc::new(move || handle.render()),
    })
    .await?;
    println!("metrics: http://{addr}/metrics");
    println!("status:  http://{addr}/status");

    // Traffic: tier 1 fails until its breaker opens, then is skipped; tier 2 serves.
    let handler = FallbackHandler::new(registry);
    for i in 0..10 {
        let up = tier1_up.load(Ordering::Relaxed);
        let served = handler
            .serve(
                [
                    Tier::new("tier1_mcp", async move {
                        if up { Ok("MCP") } else { Err("HTTP 503") }
                    }),
                    Tier::new("tier2_sdk", async { Ok("SDK") }),
                    Tier::new("tier3_rest", async { Ok("REST") }),
                ],
                "get_account",
            )
            .await;
        match served {
            Ok(s) => println!("call {i}: served by {}", s.tier),
            Err(e) => println!("call {i}: {e}"),
        }
    }
    for (name, state) in registry.all_states() {
        println!("{name}: {state}");
    }

    match args.seconds {
        Some(n) => tokio::time::sleep(Duration::from_secs(n)).await,
        None => {
            println!("serving until Ctrl-C");
            tokio::signal::ctrl_c().await?;
        }
    }
    server.abort();
    monitor.stop().await;
    Ok(())
}
