//! The fleet's rate limiter at saturation: replica processes calling one rate limiter shared
//! through Redis as fast as they can, measured against the limit.
//!
//! Starts its own `redis-server` on a free loopback port and `--replicas` replica processes
//! (child processes of this program, each attached to the fleet with one rate limiter). At a
//! time given by the parent, every replica calls `try_acquire` in a loop (yielding to its
//! runtime after each refusal) until the run's end, on the host clock that every process
//! shares. Then, per run:
//!
//! - **admitted** calls across the fleet against the **limit**, `burst + rate × T`, `T` from
//!   the fleet's first admission to the end of the run;
//! - **round trips** Redis served meanwhile (`INFO commandstats` before and after: `EVALSHA`,
//!   and every other command a client sent; the commands a script runs inside Redis are part
//!   of its one round trip) per admitted call;
//! - the tokens the replicas held unspent at the end (fallen due, not yet spent), and the calls
//!   refused.
//!
//! ```text
//! cargo build --release -p resilience-examples --example fleet_rate
//! target/release/examples/fleet_rate                                  # 1,000/s, burst 100, 10 s
//! target/release/examples/fleet_rate --rate 250 --per-ms 10000 --seconds 60   # Zoho's 250 per 10 s
//! ```

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use resilience::fleet::Fleet;
use resilience::limit::RateLimiter;
use resilience_test_support::RedisServer;

/// Replica processes calling one fleet-shared rate limiter as fast as they can.
///
/// Needs `redis-server` on the PATH (or its path in REDIS_SERVER). Every process it starts is
/// stopped when it ends or fails.
#[derive(Debug, Parser)]
#[command(name = "fleet_rate", version)]
struct Cli {
    /// Replica processes.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    replicas: u32,

    /// Tokens per `--per-ms`.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    rate: u64,

    /// The period of `--rate`, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    per_ms: u64,

    /// The burst.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    burst: u32,

    /// The length of a run, in seconds.
    #[arg(long, value_name = "S", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,

    /// Runs, each on a fresh namespace (a fresh GCRA state) and fresh replicas.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(("--replica", settings)) = args.split_first().map(|(f, r)| (f.as_str(), r)) {
        return match replica(settings) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: replica: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let cli = Cli::parse();
    match measure(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The limiter's name in every replica.
const NAME: &str = "zoho_credits";

fn measure(cli: &Cli) -> Result<(), String> {
    let program = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let redis = RedisServer::try_start()?;
    let rate = cli.rate as f64 * 1000.0 / cli.per_ms as f64;
    println!(
        "fleet_rate: {} replicas, {} per {} ms (burst {}), {} s per run, redis-server on port {}",
        cli.replicas,
        cli.rate,
        cli.per_ms,
        cli.burst,
        cli.seconds,
        redis.port()
    );
    let mut runs = Vec::new();
    for run in 0..cli.runs {
        let namespace = format!("fleet_rate_{run}");
        let spec = format!("{NAME}:{}:{}:{}", cli.rate, cli.per_ms, cli.burst);
        let mut replicas = (0..cli.replicas)
            .map(|_| Replica::start(&program, &redis.url(), &namespace, &spec))
            .collect::<Result<Vec<_>, _>>()?;
        let before = round_trips(&redis);
        // Every replica starts at the same instant of the host clock, a moment from now.
        let from = unix_us() + 500_000;
        let until = from + cli.seconds * 1_000_000;
        for replica in &mut replicas {
            replica.send(&format!("go {from} {until}"))?;
        }
        let mut outcome = Outcome::default();
        for replica in &mut replicas {
            let answer = replica.read()?;
            let [admitted, refused, first, left] =
                fields(&answer, ["admitted", "refused", "first", "left"])?;
            outcome.admitted += admitted;
            outcome.refused += refused;
            outcome.left += left;
            if admitted > 0 {
                outcome.first = outcome.first.min(first);
            }
        }
        let after = round_trips(&redis);
        for replica in replicas {
            replica.quit();
        }
        let trips = after.sub(&before);
        let span = until.saturating_sub(outcome.first) as f64 / 1e6;
        let limit = f64::from(cli.burst) + rate * span;
        let share = outcome.admitted as f64 / limit * 100.0;
        let per_call = trips.all as f64 / outcome.admitted.max(1) as f64;
        println!(
            "run {}: admitted {} of a limit of {limit:.1} ({share:.2} %, {:+.1} calls) over \
             {span:.3} s; {} held unspent at the end; refused {}; {} round trips ({} EVALSHA, {} other): 1 per {:.1} \
             admitted calls ({per_call:.4} per call)",
            run + 1,
            outcome.admitted,
            outcome.admitted as f64 - limit,
            outcome.left,
            outcome.refused,
            trips.all,
            trips.evalsha,
            trips.all - trips.evalsha,
            1.0 / per_call.max(f64::MIN_POSITIVE),
        );
        runs.push((share, per_call));
    }
    if runs.len() > 1 {
        let (low, high) = runs.iter().fold((f64::MAX, f64::MIN), |(l, h), (s, _)| {
            (l.min(*s), h.max(*s))
        });
        let worst = runs.iter().map(|(_, p)| *p).fold(0.0, f64::max);
        println!(
            "{} runs: admitted {low:.2} % to {high:.2} % of the limit; at most {worst:.4} round \
             trips per admitted call (1 per {:.1})",
            runs.len(),
            1.0 / worst.max(f64::MIN_POSITIVE)
        );
    }
    Ok(())
}

#[derive(Debug)]
struct Outcome {
    admitted: u64,
    refused: u64,
    /// Tokens the replicas held unspent at the end.
    left: u64,
    /// The fleet's first admission, µs since the Unix epoch.
    first: u64,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            admitted: 0,
            refused: 0,
            left: 0,
            first: u64::MAX,
        }
    }
}

/// Round trips Redis served since it started: all of them, and the scripts run by hash.
#[derive(Debug, Clone, Copy)]
struct Trips {
    all: u64,
    evalsha: u64,
}

impl Trips {
    fn sub(&self, before: &Trips) -> Trips {
        Trips {
            all: self.all - before.all,
            evalsha: self.evalsha - before.evalsha,
        }
    }
}

/// Every command `INFO commandstats` counted, but `INFO` itself and those run inside scripts.
fn round_trips(redis: &RedisServer) -> Trips {
    let mut trips = Trips { all: 0, evalsha: 0 };
    for (command, calls) in redis.round_trips() {
        trips.all += calls;
        if command == "evalsha" {
            trips.evalsha += calls;
        }
    }
    trips
}

/// The numbers after each of `words` in `answer`.
fn fields<const N: usize>(answer: &str, words: [&str; N]) -> Result<[u64; N], String> {
    let parts: Vec<&str> = answer.split_whitespace().collect();
    let mut out = [0; N];
    for (slot, word) in out.iter_mut().zip(words) {
        *slot = parts
            .iter()
            .position(|p| *p == word)
            .and_then(|at| parts.get(at + 1)?.parse().ok())
            .ok_or_else(|| format!("a replica answered {answer:?}"))?;
    }
    Ok(out)
}

/// The host clock, in µs since the Unix epoch: one clock for every process on the host.
fn unix_us() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

/// A replica process, killed when dropped.
struct Replica {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Replica {
    fn start(program: &std::path::Path, url: &str, ns: &str, spec: &str) -> Result<Self, String> {
        let mut child = Command::new(program)
            .args(["--replica", url, ns, spec])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting a replica: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("a replica without pipes".into());
        };
        let mut replica = Replica {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        };
        let ready = replica.read()?;
        if ready != "ready" {
            return Err(format!("a replica answered {ready:?}"));
        }
        Ok(replica)
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.stdin, "{line}").map_err(|e| format!("a replica's stdin: {e}"))
    }

    fn read(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("a replica exited".into()),
            Ok(_) => Ok(line.trim_end().to_owned()),
            Err(e) => Err(format!("a replica's stdout: {e}")),
        }
    }

    /// Detaches the replica from the fleet (its tokens go back) and waits for its exit.
    fn quit(mut self) {
        let _ = self.send("quit");
        let _ = self.read();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A replica: `fleet_rate --replica URL NAMESPACE NAME:RATE:PER_MS:BURST`. Answers `ready`
/// once attached, then, to `go FROM UNTIL` (µs since the epoch), calls the limiter from
/// `FROM` to `UNTIL` and answers `admitted A refused R first F left L` (`F`: its first
/// admission; `L`: the tokens it held unspent at the end); `quit` detaches it.
fn replica(args: &[String]) -> Result<(), String> {
    let [url, namespace, spec] = args else {
        return Err(format!("--replica URL NAMESPACE SPEC, not {args:?}"));
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let [name, rate, per_ms, burst] = parts[..] else {
        return Err(format!("a limiter NAME:RATE:PER_MS:BURST, not {spec:?}"));
    };
    let number = |s: &str| s.parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
    // One thread: the calls and the fleet's task take turns, as on a busy single core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        use tokio::io::AsyncBufReadExt;
        let limiter = resilience::registry()
            .register_rate_limiter(
                RateLimiter::builder(
                    name.to_owned(),
                    number(rate)?,
                    Duration::from_millis(number(per_ms)?),
                )
                .burst(u32::try_from(number(burst)?).map_err(|e| e.to_string())?),
            )
            .map_err(|e| e.to_string())?;
        let fleet = Fleet::builder()
            .url(url)
            .namespace(namespace)
            // Not the 20 ms default: a loaded machine would see outages that are not there.
            .op_timeout(Duration::from_secs(2))
            .attach()
            .map_err(|e| e.to_string())?;
        fleet.ready().await;
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        println!("ready");
        while let Ok(Some(line)) = lines.next_line().await {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                ["go", from, until] => {
                    let (from, until) = (number(from)?, number(until)?);
                    tokio::time::sleep(Duration::from_micros(from.saturating_sub(unix_us()))).await;
                    let (mut admitted, mut refused, mut first) = (0u64, 0u64, 0u64);
                    loop {
                        let now = unix_us();
                        if now >= until {
                            break;
                        }
                        if limiter.try_acquire().is_ok() {
                            admitted += 1;
                            if first == 0 {
                                first = now;
                            }
                        } else {
                            refused += 1;
                            tokio::task::yield_now().await;
                        }
                    }
                    // Tokens that fell due to it and were not spent by the end.
                    let left = limiter.metrics().tokens_left;
                    println!("admitted {admitted} refused {refused} first {first} left {left}");
                }
                ["quit"] => break,
                _ => return Err(format!("unknown command {line:?}")),
            }
        }
        fleet.detach().await;
        println!("bye");
        Ok(())
    })
}
