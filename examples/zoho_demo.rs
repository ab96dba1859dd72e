//! Watch `resilience` keep a service answering while its backends fail.
//!
//! Three local HTTP servers stand in for Zoho CRM's tiers (MCP, SDK, REST). A client whose
//! `get_account` carries `#[fallback]`, `#[retry]` and `#[circuit_breaker]` reads an account
//! every 100 ms while a script fails the tiers one after the other:
//!
//! 1. all healthy: tier 1 (MCP) serves;
//! 2. tier 1 answers HTTP 503: its breaker opens, tier 2 (SDK) serves, tier 1 is left alone
//!    apart from a half-open probe every 2 s;
//! 3. tier 1 refuses connections and tier 2 is too slow: tier 2's breaker opens, tier 3 (REST)
//!    serves;
//! 4. tiers 1 and 2 recover: half-open probes close their breakers, tier 1 serves again;
//!
//! then a burst of 200 requests at once: the client's bulkhead and rate limiter, set to the
//! Zoho organisation's limits, queue and shed them so that Zoho never answers 429.
//!
//! ```text
//! cargo run -p resilience-examples --example zoho_demo
//! cargo run -p resilience-examples --example zoho_demo -- --json | python3 -m json.tool
//! RUST_LOG=info cargo run -p resilience-examples --example zoho_demo 2> events.log
//! cargo run -p resilience-examples --example zoho_demo -- --help
//! ```
//!
//! On a terminal the view redraws in place (it needs about 30 lines); otherwise each phase,
//! request and state change is printed as a line of its own. The library's tracing events
//! (target `resilience`) go to stderr, off unless `RUST_LOG` sets a filter (`--log-json` alone
//! means `info`). When they would go to the terminal the view is on, the view falls back to
//! plain lines so that the two do not garble each other.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use resilience_examples::zoho::view::{self, PlainLog, Redraw, Style};
use resilience_examples::zoho::{Scenario, ScenarioConfig};
use tracing_subscriber::EnvFilter;

/// Watch resilience keep a Zoho CRM client answering while its three tiers fail.
///
/// Three local HTTP servers stand in for Zoho CRM's tiers: tier1 (MCP), tier2 (SDK) and tier3
/// (REST). Four phases: all healthy; tier1 answers HTTP 503; tier1 refuses connections and tier2
/// is too slow; tiers 1 and 2 recover. The breakers open after 5 (tier1) or 3 (tiers 2, 3)
/// consecutive failures and probe again after 2 s; a health check every second lets an open
/// breaker probe as soon as its tier answers it again.
#[derive(Debug, Parser)]
#[command(
    name = "zoho_demo",
    version,
    after_help = "\
Logs: the library's tracing events (target \"resilience\") go to stderr, off unless RUST_LOG sets a
filter, e.g. RUST_LOG=info (or RUST_LOG=resilience=debug). The live view redraws in place when
stdout is a terminal and the logs do not go to it too; otherwise each phase, request and state
change is printed as a line.

Examples:
  zoho_demo
  zoho_demo --requests 10 --interval-ms 50
  zoho_demo --json | python3 -m json.tool
  RUST_LOG=info zoho_demo 2> events.log
  zoho_demo --log-json 2> events.jsonl"
)]
struct Cli {
    /// Requests per phase (four phases). The last phase runs on until tier1 has served 3
    /// requests in a row with its breaker closed, 10 s at most.
    #[arg(long, value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    requests: u32,

    /// Time between the starts of two requests, in milliseconds (a slow request delays the
    /// next).
    #[arg(long, value_name = "MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    interval_ms: u64,

    /// Requests started together after the four phases, against the Zoho organisation's limits
    /// (15 calls at once, 400 credits per 10 s): the client's bulkhead queues them and its rate
    /// limiter sheds what the credits cannot pay for, so Zoho never answers 429. 0 for none.
    #[arg(long, value_name = "N", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    burst: u32,

    /// Fraction of account requests that a healthy tier still fails with HTTP 503, from 0.0 to
    /// 1.0: transient errors that the retries absorb.
    #[arg(long, value_name = "F", default_value_t = 0.05, value_parser = fraction)]
    fault_rate: f64,

    /// Seed of those background faults: the same seed gives the same faults.
    #[arg(long, value_name = "S", default_value_t = 42)]
    seed: u64,

    /// Print the final metrics, per-tier counts and state-change timeline as JSON on stdout
    /// instead of the view.
    #[arg(long)]
    json: bool,

    /// Write the library's tracing events to stderr as JSON lines (at `info` unless RUST_LOG
    /// says otherwise).
    #[arg(long)]
    log_json: bool,
}

fn fraction(s: &str) -> Result<f64, String> {
    let f: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&f) {
        Ok(f)
    } else {
        Err("must be between 0.0 and 1.0".to_owned())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs_wanted = cli.log_json || std::env::var_os("RUST_LOG").is_some();
    // Redraw in place only on a terminal big enough for the frame, and not when logs go to the
    // same terminal.
    let size = terminal_size::terminal_size().map(|(w, h)| (usize::from(w.0), usize::from(h.0)));
    let (width, height) = size.unwrap_or((0, 0));
    let live = !cli.json
        && std::io::stdout().is_terminal()
        && width >= 80
        && height > view::FRAME_HEIGHT
        && !(logs_wanted && std::io::stderr().is_terminal());
    init_logging(&cli);
    if let Err(e) = resilience::init() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }

    let config = ScenarioConfig {
        requests_per_phase: cli.requests as usize,
        interval: Duration::from_millis(cli.interval_ms),
        fault_rate: cli.fault_rate,
        seed: cli.seed,
        burst: cli.burst as usize,
        ..ScenarioConfig::default()
    };
    let scenario = match Scenario::start(config).await {
        Ok(scenario) => scenario,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let watch = scenario.live();
    let mut run = tokio::spawn(scenario.run());

    let style = Style { color: live };
    let mut stdout = std::io::stdout();
    let mut redraw = Redraw::new(width);
    let mut plain = PlainLog::default();
    let mut draw = |stdout: &mut std::io::Stdout| {
        let snap = watch.snapshot();
        let text = if live {
            redraw.render(&view::frame(&snap, style, width))
        } else {
            plain
                .update(&snap, style)
                .into_iter()
                .map(|l| l + "\n")
                .collect()
        };
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    };
    if live {
        print!("{}", view::HIDE_CURSOR);
    }
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    let outcome = loop {
        tokio::select! {
            joined = &mut run => break joined,
            _ = ticks.tick(), if !cli.json => draw(&mut stdout),
            _ = tokio::signal::ctrl_c() => {
                if live {
                    print!("{}", view::SHOW_CURSOR);
                }
                println!("\ninterrupted");
                return ExitCode::from(130);
            }
        }
    };
    if !cli.json {
        draw(&mut stdout);
    }
    if live {
        print!("{}", view::SHOW_CURSOR);
    }

    let report = match outcome {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: the scenario task failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!();
        for line in view::summary(&report, style) {
            println!("{line}");
        }
    }
    ExitCode::SUCCESS
}

/// Logs to stderr. `RUST_LOG` wins; without it, `info` with `--log-json` and nothing otherwise
/// (the view tells the same story).
fn init_logging(cli: &Cli) {
    let default = if cli.log_json { "info" } else { "off" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_json {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
}
