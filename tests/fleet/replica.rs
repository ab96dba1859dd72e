//! One replica of a service, for the fleet's tests: its breakers in the global registry,
//! attached to Redis, driven by commands on stdin, one answer per line on stdout. Its logs
//! (the crate's tracing events) go to stderr.
//!
//! ```text
//! fleet_replica --redis URL --ns NS [--quorum N --window-ms MS] [--reconcile-ms MS]
//!               [--lease-ms MS] [--op-timeout-ms MS]
//!               --breaker NAME:THRESHOLD:RECOVERY_MS:HALF_OPEN:SUCCESSES ...
//! ```
//!
//! Commands: `ok NAME`, `fail NAME` (a call that succeeds or fails: `ok`, `failed` or
//! `rejected`), `state NAME`, `wait NAME STATE MS` (`ok` or `timeout <state>`), `acquire NAME`
//! (a permit held until `release NAME ok|fail`: `admitted` or `rejected`), `shared NAME` (the
//! fleet's state read from Redis, or the error), `reachable`, `outages`, `reset NAME`,
//! `attr ok|fail` (a call of a function under `#[circuit_breaker(name = "attr_tier", ..)]`),
//! `quit`.

use std::collections::HashMap;
use std::time::Duration;

use resilience::fleet::{Fleet, Policy};
use resilience::{CallError, CircuitBreaker, OwnedPermit};
use tokio::io::{AsyncBufReadExt, BufReader};

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(replica());
}

async fn replica() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut builder = Fleet::builder();
    let (mut quorum, mut window) = (None, Duration::from_secs(10));
    let mut pairs = args.chunks(2);
    for pair in &mut pairs {
        let [flag, value] = pair else {
            panic!("flags come in pairs: {args:?}")
        };
        let ms = || Duration::from_millis(value.parse().expect("milliseconds"));
        builder = match flag.as_str() {
            "--redis" => builder.url(value),
            "--ns" => builder.namespace(value),
            "--reconcile-ms" => builder.reconcile_interval(ms()),
            "--lease-ms" => builder.probe_lease(ms()),
            "--op-timeout-ms" => builder.op_timeout(ms()),
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
        };
    }
    if let Some(replicas) = quorum {
        builder = builder.policy(Policy::quorum(replicas, window));
    }
    let fleet = builder.attach().expect("attached");
    println!("ready {}", fleet.replica());

    let mut held: HashMap<String, Vec<OwnedPermit>> = HashMap::new();
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
            ["reset", name] => {
                breaker(name).reset();
                "ok".to_owned()
            }
            ["shared", name] => match fleet.shared_state(name).await {
                Ok(shared) => format!("{shared:?}"),
                Err(e) => format!("error {e}"),
            },
            ["attr", outcome] => attr(outcome == "ok").await,
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
