//! The fleet's rate limiter across processes: replicas are separate OS processes
//! (`fleet_limits_replica`) sharing one rate limiter through one real `redis-server` started
//! on a free loopback port.
//!
//! The figures (admitted against the limit, round trips per admitted call) are measured in
//! BENCHMARKS.md (`examples/fleet_rate.rs`); these tests check the bounds that hold on any
//! machine, however loaded: the fleet never admits more than its limit, Redis sees well under
//! one round trip per 20 admitted calls at saturation (a count, not a speed), no token is lost
//! or minted when a replica exits, and a replica killed with its tokens in hand costs the
//! fleet no more than its block.
//!
//! Every wait is bounded; a replica answers each command within `ANSWER`.

#[path = "common/replica.rs"]
mod replica;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use replica::Replica;
use resilience_test_support::RedisServer;

/// The longest a replica may take to answer a command (a `saturate` answers after its run).
const ANSWER: Duration = Duration::from_secs(30);

impl Replica {
    fn start(redis: &RedisServer, ns: &str, extra: &[&str]) -> Replica {
        Replica::launch(
            env!("CARGO_BIN_EXE_fleet_limits_replica"),
            redis,
            ns,
            // Not the 20 ms default: a loaded test machine would see outages that are not
            // there, and the limits would run on their local share meanwhile.
            Duration::from_millis(2000),
            extra,
            ANSWER,
        )
    }

    /// Ends the replica cleanly: detached from the fleet, its unspent tokens given back.
    fn quit(mut self) {
        assert_eq!(self.ask("quit"), "bye");
        assert!(self.wait_exit(), "the replica did not exit");
    }
}

/// The host clock in µs since the Unix epoch: the replicas' clock too (one host).
fn unix_us() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_micros()).unwrap()
}

/// The numbers after each word of `words` in `answer`: `admitted 3 refused 4` → [3, 4].
fn fields<const N: usize>(answer: &str, words: [&str; N]) -> [u64; N] {
    let parts: Vec<&str> = answer.split_whitespace().collect();
    words.map(|word| {
        let at = parts
            .iter()
            .position(|p| *p == word)
            .unwrap_or_else(|| panic!("no {word} in {answer:?}"));
        parts[at + 1].parse().expect("a number")
    })
}

/// The round trips Redis served since it started: every command it counted (`INFO
/// commandstats`: `EVALSHA`, `SCRIPT`, `SUBSCRIBE`, ...) but `INFO` itself and those run
/// inside the scripts.
fn round_trips(redis: &RedisServer) -> u64 {
    redis.round_trips().iter().map(|(_, calls)| calls).sum()
}

/// The totals of `saturate` over the replicas: admitted, refused, first and last admission.
struct Run {
    admitted: u64,
    refused: u64,
    first: u64,
}

/// Every replica calls the limiter as fast as it may from `lead` from now for `length`.
fn saturate(replicas: &mut [Replica], name: &str, lead: Duration, length: Duration) -> Run {
    let from = unix_us() + u64::try_from(lead.as_micros()).unwrap();
    let until = from + u64::try_from(length.as_micros()).unwrap();
    for replica in replicas.iter_mut() {
        // A millisecond's pause after each refusal: every replica still asks far more often
        // than its share of the rate allows, and the 2-core test machine keeps some breath.
        replica.send(&format!("saturate {name} {from} {until} 1000"));
    }
    let answers: Vec<String> = replicas.iter_mut().map(|replica| replica.read()).collect();
    let mut run = Run {
        admitted: 0,
        refused: 0,
        first: u64::MAX,
    };
    for answer in &answers {
        let [admitted, refused, first] = fields(answer, ["admitted", "refused", "first"]);
        run.admitted += admitted;
        run.refused += refused;
        if admitted > 0 {
            run.first = run.first.min(first);
        }
    }
    run
}

#[test]
fn four_replicas_at_saturation_never_admit_more_than_the_fleets_limit() {
    let redis = RedisServer::start();
    // 500 a second, bursts of 100.
    let args = ["--rate", "zoho_credits:500:1000:100"];
    let mut replicas: Vec<Replica> = (0..4)
        .map(|_| Replica::start(&redis, "bound", &args))
        .collect();
    let length = Duration::from_secs(3);
    let run = saturate(
        &mut replicas,
        "zoho_credits",
        Duration::from_millis(300),
        length,
    );
    // Over the run: the burst and the rate over the run (the blocks the idle replicas held
    // when it began are part of the burst), and one token for the rounding of µs.
    let limit = 100 + 500 * length.as_secs();
    let bound = limit + 1;
    assert!(
        run.admitted <= bound,
        "{} admitted in {length:?}, bound {bound} ({} refused)",
        run.admitted,
        run.refused
    );
    // Not a figure (BENCHMARKS.md has those): a fleet whose blocks stall admits far less.
    assert!(
        run.admitted * 2 >= limit,
        "{} admitted of {limit}: the replicas were starved of blocks",
        run.admitted
    );
}

/// Idle, each replica keeps a block (one token) so that its next call needs no round trip;
/// those tokens are the fleet's too. Four idle replicas holding theirs while the fleet's bucket
/// fills up must not add them to the burst when the calls come.
#[test]
fn the_tokens_idle_replicas_hold_count_in_the_fleets_burst() {
    let redis = RedisServer::start();
    // 50 a second, bursts of 40: at the end of the run, hardly a token is left falling due.
    let args = ["--rate", "zoho_credits:50:1000:40"];
    let mut replicas: Vec<Replica> = (0..4)
        .map(|_| Replica::start(&redis, "idle_blocks", &args))
        .collect();
    for replica in &mut replicas {
        assert_eq!(
            replica.ask("tokens zoho_credits"),
            "1",
            "an idle replica's block"
        );
    }
    // The bucket is full again (40 tokens in 800 ms) before the calls start.
    let length = Duration::from_secs(2);
    let run = saturate(
        &mut replicas,
        "zoho_credits",
        Duration::from_secs(1),
        length,
    );
    // The burst and the rate over the run, and one token for the rounding of µs: the four
    // tokens held when the run began are part of the burst, not on top of it.
    let bound = 40 + 50 * length.as_secs() + 1;
    assert!(
        run.admitted <= bound,
        "{} admitted in {length:?}, bound {bound} ({} refused)",
        run.admitted,
        run.refused
    );
}

#[test]
fn at_saturation_redis_sees_under_one_round_trip_per_20_admitted_calls() {
    let redis = RedisServer::start();
    // 1,000 a second, bursts of 100: blocks of at most 25.
    let args = ["--rate", "zoho_credits:1000:1000:100"];
    let mut replicas: Vec<Replica> = (0..4)
        .map(|_| Replica::start(&redis, "trips", &args))
        .collect();
    // Long enough that the first, smaller blocks weigh little; the reconciliations (every
    // 100 ms here, ten times the default) run all along.
    let before = round_trips(&redis);
    let run = saturate(
        &mut replicas,
        "zoho_credits",
        Duration::from_millis(300),
        Duration::from_secs(4),
    );
    let trips = round_trips(&redis) - before;
    assert!(run.admitted > 0);
    assert!(
        trips * 20 < run.admitted,
        "{trips} round trips for {} admitted calls ({} refused): more than 1 per 20",
        run.admitted,
        run.refused
    );
}

/// A token's worth is 100 s here (10 per 1,000 s, bursts of 40: blocks of at most 10), so that
/// the fleet's state moves only by what is taken and given back while the test runs.
const SLOW: [&str; 2] = ["--rate", "zoho_credits:10:1000000:40"];
const SLOW_TAT: &str = "resilience:{exit:rate_limiter:zoho_credits}:tat";
const SLOW_INTERVAL_US: u64 = 100_000_000;

/// Takes one token at a time (for at most 10 s) until `want` were admitted.
fn take_until(replica: &mut Replica, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut admitted = 0;
    while admitted < want {
        assert!(Instant::now() < deadline, "{admitted} of {want} admitted");
        let [a] = fields(&replica.ask("take zoho_credits 1"), ["admitted"]);
        admitted += a;
        if a == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The fleet's tokens taken, from its TAT: how far it is ahead of `now_us`, in tokens.
fn taken(redis: &RedisServer, now_us: u64) -> f64 {
    let tat: f64 = redis.command(&["GET", SLOW_TAT]).parse().expect("a TAT");
    (tat - now_us as f64) / SLOW_INTERVAL_US as f64
}

#[test]
fn a_replica_that_exits_gives_back_its_block_and_what_it_reserved() {
    let redis = RedisServer::start();
    let mut a = Replica::start(&redis, "exit", &SLOW);
    // 12 spent: blocks of 1, then larger as the calls are refused.
    take_until(&mut a, 12);
    // Held now: what is left of its block (it asked again when refused).
    std::thread::sleep(Duration::from_millis(300));
    let held: u64 = a.ask("tokens zoho_credits").parse().unwrap();
    a.quit();
    // The fleet counts the 12 spent, not one more or less: the rest went back.
    let spent = taken(&redis, unix_us());
    assert!(
        (spent - 12.0).abs() < 0.1,
        "the fleet counts {spent:.3} tokens taken, 12 were spent ({held} held at exit)"
    );
    // And another replica gets every other token of the burst, and no more.
    let mut b = Replica::start(&redis, "exit", &SLOW);
    take_until(&mut b, 40 - 12);
    std::thread::sleep(Duration::from_millis(500));
    let answer = b.ask("take zoho_credits 5");
    assert_eq!(answer, "admitted 0 refused 5", "the burst is spent");
    // B drained the bucket and asked for more: what it reserved ahead goes back too.
    b.quit();
    let spent = taken(&redis, unix_us());
    assert!(
        (spent - 40.0).abs() < 0.1,
        "the fleet counts {spent:.3} tokens taken, 40 were spent"
    );
}

#[test]
fn a_killed_replica_costs_the_fleet_at_most_its_block_and_the_others_go_on() {
    let redis = RedisServer::start();
    // 200 a second, bursts of 40: blocks of at most 10, each worth 50 ms.
    let args = ["--rate", "zoho_credits:200:1000:40"];
    let mut a = Replica::start(&redis, "killed", &args);
    let mut b = Replica::start(&redis, "killed", &args);
    // Both at saturation: A holds (or has reserved) blocks when it dies, a second in.
    let length = Duration::from_secs(1);
    let from = unix_us() + 300_000;
    let until = from + 3 * u64::try_from(length.as_micros()).unwrap();
    a.send(&format!("saturate zoho_credits {from} {until} 1000"));
    b.send(&format!("saturate zoho_credits {from} {until} 1000"));
    std::thread::sleep(Duration::from_micros(from.saturating_sub(unix_us())) + length);
    drop(a); // SIGKILL: no goodbye to Redis
    let killed = unix_us();
    let [admitted] = fields(&b.read(), ["admitted"]);
    // B alone after the kill: the fleet's rate over the remaining two seconds, less at most
    // what A held and had reserved (together at most its block: 10 tokens, 50 ms of the
    // rate). Checked loosely (B is one process on a loaded machine): at least half the rate's
    // tokens over the time left after 100 ms. A fleet that kept waiting for A would give B
    // nothing.
    let after = (until - killed) as f64 / 1e6;
    assert!(
        admitted as f64 >= 0.5 * 200.0 * (after - 0.1),
        "B admitted {admitted} in a run whose last {after:.2} s were its own"
    );
    // And never more than the limit over the whole run, A's share included.
    let run = (until - from) as f64 / 1e6;
    assert!(admitted as f64 <= 40.0 + 200.0 * run + 2.0);
}

#[test]
fn a_call_with_max_wait_waits_for_the_fleets_next_block_as_a_local_limiter_would() {
    let redis = RedisServer::start();
    // 10 a second, bursts of 4 (blocks of one), calls waiting up to 5 s: the fleet earns a
    // token every 100 ms, well within the wait.
    let mut a = Replica::start(
        &redis,
        "max_wait",
        &["--rate", "zoho_credits:10:1000:4:5000"],
    );
    for round in 0..5 {
        // Spends what the replica holds and what the fleet has now.
        let deadline = Instant::now() + Duration::from_secs(10);
        while fields(&a.ask("take zoho_credits 1"), ["admitted"])[0] == 1 {
            assert!(Instant::now() < deadline, "the fleet never ran dry");
        }
        let answer = a.ask("acquire zoho_credits");
        assert!(
            answer.starts_with("admitted "),
            "round {round}: {answer} (a local limiter waits up to its max_wait for the tokens)"
        );
    }
}
