//! One replica of a service, for the fleet rate limiter's tests (`tests/fleet_limits.rs`): one
//! rate limiter in the global registry, attached to Redis, driven by commands on stdin, one
//! answer per line on stdout. Its logs go to stderr.
//!
//! ```text
//! fleet_limits_replica --redis URL --ns NS --rate NAME:RATE:PER_MS:BURST[:MAX_WAIT_MS]
//!                      [--reconcile-ms MS] [--op-timeout-ms MS] [--lease-ms MS]
//! ```
//!
//! Commands:
//! - `saturate NAME FROM_US UNTIL_US PAUSE_US`: from the host clock's `FROM_US` (µs since the
//!   Unix epoch) until `UNTIL_US`, takes a token (`try_acquire`) as often as it can, pausing
//!   `PAUSE_US` after each refusal (0: yields to the runtime only). Answers `admitted A refused
//!   R first F last L`, the first and last admissions' times in µs since the epoch (0 if none).
//! - `take NAME N`: N tokens taken one by one without waiting: `admitted A refused R`.
//! - `acquire NAME`: one token, waiting up to the limiter's `max_wait`: `admitted MS` (the wait
//!   in ms) or `refused MS`.
//! - `tokens NAME`: the tokens the replica holds now.
//! - `quit`: detaches from the fleet (its unspent tokens go back) and answers `bye`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, BufReader};

#[path = "../common/replica_main.rs"]
mod replica_main;

fn main() {
    replica_main::run(replica());
}

async fn replica() {
    let builder = replica_main::fleet_from_args(|_, flag, _| panic!("unknown flag {flag}"));
    let fleet = builder.attach().expect("attached");
    fleet.ready().await;
    println!("ready {}", fleet.replica());

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let limiter = |name: &str| {
            resilience::registry()
                .rate_limiter(name)
                .expect("a registered limiter")
        };
        let answer = match words[..] {
            ["saturate", name, from, until, pause] => {
                let limiter = limiter(name);
                let (from, until): (u64, u64) =
                    (from.parse().expect("µs"), until.parse().expect("µs"));
                let pause = Duration::from_micros(pause.parse().expect("µs"));
                let wait = from.saturating_sub(unix_us());
                tokio::time::sleep(Duration::from_micros(wait)).await;
                let (mut admitted, mut refused, mut first, mut last) = (0u64, 0u64, 0u64, 0u64);
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
                        last = now;
                    } else {
                        refused += 1;
                        if pause.is_zero() {
                            tokio::task::yield_now().await;
                        } else {
                            tokio::time::sleep(pause).await;
                        }
                    }
                }
                format!("admitted {admitted} refused {refused} first {first} last {last}")
            }
            ["take", name, n] => {
                let limiter = limiter(name);
                let (mut admitted, mut refused) = (0, 0);
                for _ in 0..n.parse::<u32>().expect("a count") {
                    if limiter.try_acquire().is_ok() {
                        admitted += 1;
                    } else {
                        refused += 1;
                    }
                }
                format!("admitted {admitted} refused {refused}")
            }
            ["acquire", name] => {
                let limiter = limiter(name);
                let started = std::time::Instant::now();
                let outcome = limiter.acquire_n(1).await;
                let waited = started.elapsed().as_millis();
                match outcome {
                    Ok(()) => format!("admitted {waited}"),
                    Err(_) => format!("refused {waited}"),
                }
            }
            ["tokens", name] => limiter(name).metrics().tokens_left.to_string(),
            ["quit"] => break,
            _ => format!("unknown command {line:?}"),
        };
        println!("{answer}");
    }
    fleet.detach().await;
    println!("bye");
}

/// The host clock, in µs since the Unix epoch: one clock for every replica on the host.
fn unix_us() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    u64::try_from(since.as_micros()).expect("µs fit")
}
