//! One replica of a service, for the fleet's tests: its breakers in the global registry,
//! attached to Redis, driven by commands on stdin, one answer per line on stdout. Its logs
//! (the crate's tracing events) go to stderr.
//!
//! ```text
//! fleet_replica --redis URL --ns NS [--quorum N --window-ms MS] [--reconcile-ms MS]
//!               [--lease-ms MS] [--op-timeout-ms MS] [--expected-replicas N]
//!               --breaker NAME:THRESHOLD:RECOVERY_MS:HALF_OPEN:SUCCESSES ...
//!               --bulkhead NAME:MAX_CONCURRENT:MAX_WAIT_MS ...
//!               --rate NAME:RATE:PER_MS:BURST[:MAX_WAIT_MS] ...
//! ```
//!
//! Commands: `ok NAME`, `fail NAME` (a call that succeeds or fails: `ok`, `failed` or
//! `rejected`), `state NAME`, `wait NAME STATE MS` (`ok` or `timeout <state>`), `acquire NAME`
//! (a permit held until `release NAME ok|fail`: `admitted` or `rejected`), `shared NAME` (the
//! fleet's state read from Redis, or the error), `reachable`, `outages`, `reset NAME`,
//! `attr ok|fail` (a call of a function under `#[circuit_breaker(name = "attr_tier", ..)]`),
//! `hold NAME` (a bulkhead's slot taken without waiting and kept: `admitted` or `refused`),
//! `free NAME` (one given back), `load NAME ADDR WORKERS CALLS HOLD_MS` (WORKERS tasks making
//! CALLS calls each through the bulkhead, each call occupying the test's gauge at ADDR for
//! HOLD_MS: `admitted A refused R`; `attr_org` is the bulkhead of an attribute), `spend NAME MS`
//! (a token taken from the rate limiter every millisecond for MS: `admitted A refused R`;
//! `attr_credits` is the limiter of an attribute), `take NAME` (one token: `admitted` or
//! `refused`), `repeat NAME N ok|fail` (N calls one after the other, each succeeding or
//! failing: `ok A failed F rejected R`), `quit`.

use std::collections::HashMap;
use std::time::Duration;

use resilience::fleet::Policy;
use resilience::limit::{Bulkhead, OwnedBulkheadPermit};
use resilience::{CallError, CircuitBreaker, OwnedPermit};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[path = "../common/replica_main.rs"]
mod replica_main;

fn main() {
    replica_main::run(replica());
}

async fn replica() {
    let (mut quorum, mut window) = (None, Duration::from_secs(10));
    let mut builder = replica_main::fleet_from_args(|builder, flag, value| {
        let ms = || Duration::from_millis(value.parse().expect("milliseconds"));
        match flag {
            "--expected-replicas" => builder.expected_replicas(value.parse().expect("replicas")),
            "--bulkhead" => {
                let parts: Vec<&str> = value.split(':').collect();
                let [name, max, wait] = parts[..] else {
                    panic!("--bulkhead NAME:MAX_CONCURRENT:MAX_WAIT_MS")
                };
                resilience::registry()
                    .register_bulkhead(
                        Bulkhead::builder(name.to_owned())
                            .max_concurrent(max.parse().expect("slots"))
                            .max_wait(Duration::from_millis(wait.parse().expect("ms"))),
                    )
                    .expect("a valid bulkhead");
                builder
            }
            "--quorum" => {
                quorum = Some(value.parse().expect("replicas"));
                builder
            }
            "--window-ms" => {
                window = ms();
                builder
            }
            "--breaker" => {
                let parts: Vec<&str> = value.split(':').collect();
                let [name, threshold, recovery, half_open, successes] = parts[..] else {
                    panic!("--breaker NAME:THRESHOLD:RECOVERY_MS:HALF_OPEN:SUCCESSES")
                };
                let n = |s: &str| s.parse::<u32>().expect("a whole number");
                resilience::registry()
                    .register(
                        CircuitBreaker::builder(name.to_owned())
                            .failure_threshold(n(threshold))
                            .recovery_timeout(Duration::from_millis(n(recovery).into()))
                            .half_open_max_calls(n(half_open))
                            .success_threshold(n(successes)),
                    )
                    .expect("a valid breaker");
                builder
            }
            other => panic!("unknown flag {other}"),
        }
    });
    if let Some(replicas) = quorum {
        builder = builder.policy(Policy::quorum(replicas, window));
    }
    let fleet = builder.attach().expect("attached");
    fleet.ready().await;
    println!("ready {}", fleet.replica());

    let mut held: HashMap<String, Vec<OwnedPermit>> = HashMap::new();
    let mut slots: HashMap<String, Vec<OwnedBulkheadPermit>> = HashMap::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let breaker = |name: &str| {
            resilience::registry()
                .get(name)
                .expect("a registered breaker")
        };
        let answer = match words[..] {
            ["ok", name] => call(&breaker(name), true).await,
            ["fail", name] => call(&breaker(name), false).await,
            ["state", name] => breaker(name).state().to_string(),
            ["wait", name, state, ms] => {
                let b = breaker(name);
                let deadline =
                    tokio::time::Instant::now() + Duration::from_millis(ms.parse().unwrap());
                loop {
                    if b.state().as_str() == state {
                        break "ok".to_owned();
                    }
                    if tokio::time::Instant::now() >= deadline {
                        break format!("timeout {}", b.state());
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            ["acquire", name] => match breaker(name).try_acquire_owned() {
                Ok(permit) => {
                    held.entry(name.to_owned()).or_default().push(permit);
                    "admitted".to_owned()
                }
                Err(_) => "rejected".to_owned(),
            },
            ["release", name, outcome] => match held.get_mut(name).and_then(Vec::pop) {
                Some(permit) if outcome == "ok" => {
                    permit.record_success();
                    "released".to_owned()
                }
                Some(permit) => {
                    permit.record_failure();
                    "released".to_owned()
                }
                None => "none held".to_owned(),
            },
            ["repeat", name, n, outcome] => {
                let b = breaker(name);
                let (mut ok, mut failed, mut rejected) = (0, 0, 0);
                for _ in 0..n.parse::<u32>().expect("a number of calls") {
                    match call(&b, outcome == "ok").await.as_str() {
                        "ok" => ok += 1,
                        "failed" => failed += 1,
                        _ => rejected += 1,
                    }
                }
                format!("ok {ok} failed {failed} rejected {rejected}")
            }
            ["reset", name] => {
                breaker(name).reset();
                "ok".to_owned()
            }
            ["shared", name] => match fleet.shared_state(name).await {
                Ok(shared) => format!("{shared:?}"),
                Err(e) => format!("error {e}"),
            },
            ["attr", outcome] => attr(outcome == "ok").await,
            ["hold", name] => {
                let bulkhead = resilience::registry().bulkhead(name).expect("a bulkhead");
                match bulkhead.try_acquire_owned() {
                    Ok(slot) => {
                        slots.entry(name.to_owned()).or_default().push(slot);
                        "admitted".to_owned()
                    }
                    Err(_) => "refused".to_owned(),
                }
            }
            ["free", name] => match slots.get_mut(name).and_then(Vec::pop) {
                Some(_) => "freed".to_owned(),
                None => "none held".to_owned(),
            },
            ["load", name, addr, workers, calls, hold] => {
                let hold = Duration::from_millis(hold.parse().expect("ms"));
                let calls: u32 = calls.parse().expect("calls");
                let workers: Vec<_> = (0..workers.parse::<u32>().expect("workers"))
                    .map(|_| tokio::spawn(load(name.to_owned(), addr.to_owned(), calls, hold)))
                    .collect();
                let (mut admitted, mut refused) = (0, 0);
                for worker in workers {
                    let (a, r) = worker.await.expect("a worker");
                    admitted += a;
                    refused += r;
                }
                format!("admitted {admitted} refused {refused}")
            }
            ["take", name] => {
                let limiter = resilience::registry()
                    .rate_limiter(name)
                    .expect("a limiter");
                match limiter.try_acquire() {
                    Ok(()) => "admitted".to_owned(),
                    Err(_) => "refused".to_owned(),
                }
            }
            ["spend", name, ms] => {
                let end = tokio::time::Instant::now() + Duration::from_millis(ms.parse().unwrap());
                let (mut admitted, mut refused) = (0, 0);
                while tokio::time::Instant::now() < end {
                    let passed = if name == "attr_credits" {
                        attr_credit().await.is_ok()
                    } else {
                        let limiter = resilience::registry()
                            .rate_limiter(name)
                            .expect("a limiter");
                        limiter.try_acquire().is_ok()
                    };
                    if passed {
                        admitted += 1;
                    } else {
                        refused += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                format!("admitted {admitted} refused {refused}")
            }
            ["reachable"] => fleet.is_reachable().to_string(),
            ["outages"] => fleet.outages().to_string(),
            ["quit"] => break,
            _ => format!("unknown command {line:?}"),
        };
        println!("{answer}");
    }
    fleet.detach().await;
    println!("bye");
}

/// An error of the annotated function: the attribute's refusal, or the call's own failure.
#[derive(Debug)]
enum AttrError {
    Down,
    Resilience(resilience::Error),
}

impl From<resilience::Error> for AttrError {
    fn from(e: resilience::Error) -> Self {
        AttrError::Resilience(e)
    }
}

/// Annotated code, unchanged by the fleet: its breaker is in the global registry from the
/// start, and the fleet shares it like any other.
#[resilience::circuit_breaker(name = "attr_tier", failure_threshold = 1, recovery_timeout = "60s")]
async fn attr_call(succeed: bool) -> Result<(), AttrError> {
    if succeed {
        Ok(())
    } else {
        Err(AttrError::Down)
    }
}

async fn attr(succeed: bool) -> String {
    match attr_call(succeed).await {
        Ok(()) => "ok".to_owned(),
        Err(AttrError::Down) => "failed".to_owned(),
        Err(AttrError::Resilience(e)) => format!("rejected {e}"),
    }
}

/// Annotated code, unchanged by the fleet: its bulkhead and rate limiter are in the global
/// registry from the start, and the fleet shares them like any other.
#[resilience::bulkhead(name = "attr_org", max_concurrent = 2, max_wait = "5s")]
async fn attr_org_call(addr: String, hold: Duration) -> Result<(), AttrError> {
    occupy(&addr, hold).await;
    Ok(())
}

#[resilience::rate_limit(name = "attr_credits", rate = 100, per = "1s", burst = 20)]
async fn attr_credit() -> Result<(), AttrError> {
    Ok(())
}

/// One worker of `load`: `calls` calls through the bulkhead `name`, each occupying the gauge.
async fn load(name: String, addr: String, calls: u32, hold: Duration) -> (u32, u32) {
    let (mut admitted, mut refused) = (0, 0);
    for _ in 0..calls {
        let passed = if name == "attr_org" {
            attr_org_call(addr.clone(), hold).await.is_ok()
        } else {
            let bulkhead = resilience::registry().bulkhead(&name).expect("a bulkhead");
            match bulkhead.acquire().await {
                Ok(_slot) => {
                    occupy(&addr, hold).await;
                    true
                }
                Err(_) => false,
            }
        };
        if passed {
            admitted += 1;
        } else {
            refused += 1;
        }
    }
    (admitted, refused)
}

/// Occupies the test's gauge for `hold`: counted in when it answers the opening byte, counted
/// out when it answers the closing one, both within the call.
async fn occupy(addr: &str, hold: Duration) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the gauge listens");
    let mut ack = [0u8; 1];
    stream.write_all(b"s").await.expect("the gauge reads");
    stream.read_exact(&mut ack).await.expect("counted in");
    tokio::time::sleep(hold).await;
    stream.write_all(b"e").await.expect("the gauge reads");
    stream.read_exact(&mut ack).await.expect("counted out");
}

async fn call(breaker: &CircuitBreaker, succeed: bool) -> String {
    let result = breaker
        .call(|| async move { if succeed { Ok(()) } else { Err("down") } })
        .await;
    match result {
        Ok(()) => "ok".to_owned(),
        Err(CallError::Failed(_)) => "failed".to_owned(),
        Err(CallError::Rejected(_)) => "rejected".to_owned(),
    }
}
