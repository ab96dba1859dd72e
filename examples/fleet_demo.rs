//! The Zoho client as a fleet: four replica processes sharing their breakers through Redis.
//!
//! Starts its own `redis-server` on a free loopback port (or uses `RESILIENCE_REDIS_URL`), the
//! three Zoho tiers with the organisation's limits (15 calls at once, 400 credits per 10 s,
//! 429 past them), and four replicas: child processes of this program, each the Zoho client
//! attached to the fleet. Requests reach the replicas in turn; tier 1 fails until every
//! replica's breaker is open, then recovers until the fleet's probes have closed them all;
//! then a burst of requests at once over the four replicas. The live view shows each
//! replica's breakers, the fleet's bulkhead slots and rate-limiter credits as Redis holds them
//! (read by this process, which serves no calls), and the organisation's as Zoho counts them.
//!
//! ```text
//! cargo run -p resilience-examples --example fleet_demo
//! cargo run -p resilience-examples --example fleet_demo -- --json
//! cargo run -p resilience-examples --example fleet_demo -- --no-fleet   # to compare
//! cargo run -p resilience-examples --example fleet_demo -- --measure
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use resilience_examples::fleet::{self, FleetConfig, FleetScenario, ReplicaSettings};

/// Four replicas of the Zoho client sharing their breakers through Redis.
///
/// Needs `redis-server` on the PATH (or RESILIENCE_REDIS_URL pointing at a Redis 6.2+ or
/// Valkey). Every process it starts is stopped when it ends, is interrupted, or fails.
#[derive(Debug, Parser)]
#[command(name = "fleet_demo", version)]
struct Cli {
    /// Replica processes.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(2..=16))]
    replicas: u32,

    /// Requests started together at the end, spread over the replicas. 0 for none.
    #[arg(long, value_name = "N", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    burst: u32,

    /// Run the replicas without the fleet, each breaker deciding alone: the figures to
    /// compare with.
    #[arg(long)]
    no_fleet: bool,

    /// Print the report as JSON on stdout instead of the view and summary.
    #[arg(long)]
    json: bool,

    /// Instead of the scenario: measure how long one replica's open takes to reach the others
    /// (p50, p99), the Redis commands per 1,000 healthy calls and the time of a closed call
    /// (with --no-fleet: the calls alone).
    #[arg(long)]
    measure: bool,

    /// Rounds of `--measure`.
    #[arg(long, value_name = "N", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    rounds: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    // A replica: started by the demo itself, as `fleet_demo --replica <settings>`.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(("--replica", settings)) = args.split_first().map(|(f, r)| (f.as_str(), r)) {
        return replica(settings).await;
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let program = match std::env::current_exe() {
        Ok(program) => program,
        Err(e) => {
            eprintln!("error: cannot find this program to start its replicas: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = FleetConfig {
        replicas: cli.replicas as usize,
        burst: cli.burst as usize,
        fleet: !cli.no_fleet,
        ..FleetConfig::default()
    };
    if cli.measure {
        // No reconciliation during the measurement: every command counted is the calls'.
        config.reconcile_interval = Duration::from_secs(600);
    }
    let work = async {
        let mut scenario = FleetScenario::start(config, program, Vec::new()).await?;
        if cli.measure {
            let figures = fleet::measure(&mut scenario, cli.rounds as usize, CALLS).await;
            scenario.stop().await;
            return figures.map(Outcome::Measured);
        }
        if !cli.json {
            println!(
                "fleet_demo: {} replicas, Redis at {}; per line: each replica's breakers \
                 tier1 tier2 tier3 (C closed, O open, H half-open), {}, and the \
                 organisation's calls in flight and credits as Zoho counts them",
                cli.replicas,
                fleet::masked(scenario.redis_url()),
                if cli.no_fleet {
                    "the limits of each replica's own bulkhead and rate limiter"
                } else {
                    "the fleet's bulkhead slots leased and rate-limiter credits left, as Redis \
                     holds them"
                }
            );
            let mut last = None;
            scenario.on_frame(move |frame| {
                // A line when the phase or a breaker changed, and during the burst when the
                // limits changed.
                let limits = (frame.phase == "burst").then(|| frame.limits.clone());
                let key = Some((frame.phase, frame.replicas.clone(), limits));
                if key != last {
                    println!("{}", frame.line());
                    last = key;
                }
            });
        }
        scenario.run().await.map(|r| Outcome::Played(Box::new(r)))
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        _ = tokio::signal::ctrl_c() => {
            // Dropping the scenario kills the replicas and stops redis-server.
            eprintln!("\ninterrupted");
            return ExitCode::from(130);
        }
    };
    match outcome {
        Ok(Outcome::Played(report)) if cli.json => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        Ok(Outcome::Played(report)) => {
            println!();
            for line in report.summary() {
                println!("{line}");
            }
        }
        Ok(Outcome::Measured(m)) if cli.json => match serde_json::to_string_pretty(&m) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        Ok(Outcome::Measured(m)) => {
            println!(
                "open propagated to every replica: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
                 ({} rounds, {} missed)",
                m.propagation_p50_ms,
                m.propagation_p99_ms,
                m.propagation_max_ms,
                m.rounds,
                m.missed
            );
            println!(
                "Redis commands during {} healthy calls: {} ({:.1} per 1,000 calls); \
                 a closed call took {:.0} ns on average",
                m.healthy_calls, m.redis_commands, m.commands_per_1000_calls, m.closed_call_ns
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Healthy calls per replica in `--measure`.
const CALLS: u64 = 100_000;

enum Outcome {
    Played(Box<fleet::FleetReport>),
    Measured(fleet::Measurements),
}

async fn replica(args: &[String]) -> ExitCode {
    // Logs to stderr, which the demo shares: off unless RUST_LOG says otherwise (the view
    // tells the story).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let settings = match ReplicaSettings::parse(args) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: --replica: {e}");
            return ExitCode::FAILURE;
        }
    };
    match fleet::replica::serve(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: replica: {e}");
            ExitCode::FAILURE
        }
    }
}
