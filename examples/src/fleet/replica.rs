//! One replica of the service: the [`ZohoClient`] with its breakers in the global registry,
//! attached to the fleet, driven by one command per line on stdin and answering one line per
//! command on stdout. It ends at `quit` or when stdin closes (its parent is gone).
//!
//! | command | answer |
//! |---|---|
//! | `get ID` | the tier that served (`tier1_mcp`, ...), `all_failed` or `error` |
//! | `state NAME` | the breaker's state (`closed` before its first call) |
//! | `wait NAME STATE MS` | `ok` once the breaker is in `STATE`, or `timeout <state>` after `MS` |
//! | `burst N` | `N` requests at once: `<served> <shed> <failed>` |
//! | `arm NAME` | `armed`: from now on, the breaker's state changes are kept |
//! | `opened NAME MS` | when the armed breaker opened (µs since the Unix epoch), or `timeout` |
//! | `trip NAME` | fails calls through the breaker until it opens: when it opened (µs) |
//! | `calls NAME N` | `N` successful calls through the breaker: `ok <ns they took>` |
//! | `reset NAME` | `ok` (the fleet closes the breaker everywhere) |
//! | `quit` | `bye` |

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resilience::fleet::Fleet;
use resilience::{CallError, CircuitBreaker, CircuitState, StateChange};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use super::{PROPAGATION_BREAKER, ReplicaSettings};
use crate::zoho::{Account, ZohoClient};

/// Runs a replica until `quit` or the end of stdin. Fails (with what went wrong) when the
/// fleet cannot be attached or the client cannot be built.
pub async fn serve(settings: ReplicaSettings) -> Result<(), String> {
    resilience::init().map_err(|e| e.to_string())?;
    // A breaker of its own for `--measure`: one failure opens it, and it stays open for a
    // minute, so that each round's open is the fleet's doing and nothing else's.
    resilience::registry()
        .register(
            CircuitBreaker::builder(PROPAGATION_BREAKER)
                .failure_threshold(1)
                .recovery_timeout(Duration::from_secs(60)),
        )
        .map_err(|e| e.to_string())?;
    // Without the fleet (`--no-fleet`, for comparison), each replica's breakers decide alone.
    let fleet = if settings.fleet {
        let fleet = Fleet::builder()
            .url(settings.redis.clone())
            .namespace(settings.namespace.clone())
            .reconcile_interval(settings.reconcile_interval)
            .probe_lease(settings.reconcile_interval * 10)
            .op_timeout(settings.op_timeout)
            .expected_replicas(settings.replicas)
            .attach()
            .map_err(|e| e.to_string())?;
        // Serve on the fleet's leases and blocks, not on the local share of the limits.
        fleet.ready().await;
        Some(fleet)
    } else {
        None
    };
    // With the fleet, the client's bulkhead `zoho_org` and rate limiter `zoho_credits` (its
    // attributes) are the fleet's too: the replicas together keep within the organisation's
    // limits. Without it, each replica has the whole of them, and together they pass them.
    let client = Arc::new(
        ZohoClient::new(settings.tiers.clone(), settings.client_timeout)
            .map_err(|e| e.to_string())?,
    );

    let mut armed: Option<broadcast::Receiver<StateChange>> = None;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words[..] {
            ["get", id] => get(&client, id).await,
            ["state", name] => state(name).as_str().to_owned(),
            ["wait", name, wanted, ms] => match ms.parse() {
                Ok(ms) => wait(name, wanted, Duration::from_millis(ms)).await,
                Err(_) => format!("bad milliseconds {ms:?}"),
            },
            ["burst", n] => match n.parse() {
                Ok(n) => burst(&client, n).await,
                Err(_) => format!("bad count {n:?}"),
            },
            ["arm", _name] => {
                armed = Some(resilience::registry().subscribe());
                "armed".to_owned()
            }
            ["opened", name, ms] => match (armed.as_mut(), ms.parse()) {
                (Some(changes), Ok(ms)) => opened(changes, name, Duration::from_millis(ms))
                    .await
                    .map_or_else(|| "timeout".to_owned(), |at| micros(at).to_string()),
                _ => "not armed".to_owned(),
            },
            ["trip", name] => trip(name).await,
            ["calls", name, n] => match (breaker(name), n.parse::<u32>()) {
                (Some(b), Ok(n)) => {
                    let started = std::time::Instant::now();
                    for _ in 0..n {
                        let _ = b.call(|| async { Ok::<(), ()>(()) }).await;
                    }
                    format!("ok {}", started.elapsed().as_nanos())
                }
                _ => format!("unknown breaker {name:?} or bad count {n:?}"),
            },
            ["reset", name] => match breaker(name) {
                Some(b) => {
                    b.reset();
                    "ok".to_owned()
                }
                None => format!("unknown breaker {name:?}"),
            },
            ["quit"] => break,
            _ => format!("unknown command {line:?}"),
        };
        if out
            .write_all(format!("{answer}\n").as_bytes())
            .await
            .is_err()
            || out.flush().await.is_err()
        {
            break;
        }
    }
    if let Some(fleet) = fleet {
        fleet.detach().await;
    }
    let _ = out.write_all(b"bye\n").await;
    let _ = out.flush().await;
    Ok(())
}

fn breaker(name: &str) -> Option<Arc<CircuitBreaker>> {
    resilience::registry().get(name)
}

/// A breaker's state; `closed` while no call has created it.
fn state(name: &str) -> CircuitState {
    breaker(name).map_or(CircuitState::Closed, |b| b.state())
}

async fn get(client: &ZohoClient, id: &str) -> String {
    match client.get_account(id).await {
        Ok(Account { served_by, .. }) => served_by.breaker().to_owned(),
        Err(e) if e.is_all_tiers_failed() => "all_failed".to_owned(),
        Err(_) => "error".to_owned(),
    }
}

async fn wait(name: &str, wanted: &str, timeout: Duration) -> String {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let now = state(name);
        if now.as_str() == wanted {
            return "ok".to_owned();
        }
        if tokio::time::Instant::now() >= deadline {
            return format!("timeout {now}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn burst(client: &Arc<ZohoClient>, n: usize) -> String {
    let mut calls = JoinSet::new();
    for i in 0..n {
        let client = Arc::clone(client);
        calls.spawn(async move { client.get_account(&format!("BURST-{i:04}")).await });
    }
    let (mut served, mut shed, mut failed) = (0, 0, 0);
    while let Some(joined) = calls.join_next().await {
        match joined {
            Ok(Ok(_)) => served += 1,
            Ok(Err(e)) if e.is_shed() => shed += 1,
            _ => failed += 1,
        }
    }
    format!("{served} {shed} {failed}")
}

/// Waits (at most `timeout`) for `name` to open among the changes kept since `arm`.
async fn opened(
    changes: &mut broadcast::Receiver<StateChange>,
    name: &str,
    timeout: Duration,
) -> Option<SystemTime> {
    let waiting = async {
        loop {
            match changes.recv().await {
                Ok(change)
                    if &*change.circuit_breaker == name
                        && change.new_state == CircuitState::Open =>
                {
                    return Some(change.at);
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    };
    tokio::time::timeout(timeout, waiting).await.ok().flatten()
}

/// Fails calls through `name` (ten at most) until it opens: when it opened, in µs.
async fn trip(name: &str) -> String {
    let Some(b) = breaker(name) else {
        return format!("unknown breaker {name:?}");
    };
    let mut changes = b.subscribe();
    for _ in 0..10 {
        if let Err(CallError::Rejected(_)) = b.call(|| async { Err::<(), _>("down") }).await {
            break;
        }
        if b.state() == CircuitState::Open {
            break;
        }
    }
    match opened(&mut changes, name, Duration::from_secs(1)).await {
        Some(at) => micros(at).to_string(),
        None => format!("never opened ({})", b.state()),
    }
}

fn micros(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros())
}
