//! The fleet across processes: replicas are separate OS processes (`fleet_replica`), sharing
//! breakers through one real `redis-server` started on a free loopback port.
//!
//! Every wait is bounded; a replica answers each command within `ANSWER`.

#[path = "common/replica.rs"]
mod replica;

use std::io::Write;
use std::time::{Duration, Instant};

use replica::Replica;
use resilience_test_support::RedisServer;

/// The longest a replica may take to answer a command (a `wait` answers within its own bound).
const ANSWER: Duration = Duration::from_secs(20);

impl Replica {
    fn start(redis: &RedisServer, ns: &str, extra: &[&str]) -> Replica {
        Replica::launch(
            env!("CARGO_BIN_EXE_fleet_replica"),
            redis,
            ns,
            // Not the 20 ms default: a test machine busy with other work would see outages
            // that are not there. (The timeout itself is tested on a frozen server, in the
            // runtime crate's tests/fleet.rs.)
            Duration::from_millis(1000),
            extra,
            ANSWER,
        )
    }

    /// Waits (at most `ms`) for the breaker's state; panics with the replica's log otherwise.
    fn expect_state(&mut self, breaker: &str, state: &str, ms: u64) {
        let answer = self.ask(&format!("wait {breaker} {state} {ms}"));
        assert_eq!(
            answer,
            "ok",
            "{breaker} never {state}; log:\n{}",
            self.log()
        );
    }

    /// Waits (at most 5 s) until the replica's fleet has reached Redis, or (`false`) has found
    /// it unreachable.
    fn expect_reachable(&mut self, reachable: bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.ask("reachable") != reachable.to_string() {
            assert!(
                Instant::now() < deadline,
                "never reachable = {reachable}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Takes `n` slots of the bulkhead and keeps them, asking again (for at most 10 s) while
    /// the fleet has not leased this replica enough yet.
    fn hold(&mut self, bulkhead: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut held = 0;
        while held < n {
            assert!(
                Instant::now() < deadline,
                "never {n} slots of {bulkhead}; log:\n{}",
                self.log()
            );
            if self.ask(&format!("hold {bulkhead}")) == "admitted" {
                held += 1;
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Ends the replica (detached from the fleet), returning its log.
    fn quit(mut self) -> String {
        self.try_send("quit");
        if self.wait_exit() {
            return self.log();
        }
        panic!("the replica did not quit; log:\n{}", self.log());
    }
}

/// `NAME:THRESHOLD:RECOVERY_MS:HALF_OPEN:SUCCESSES`
fn breaker(spec: &str) -> [&str; 2] {
    ["--breaker", spec]
}

#[test]
fn an_open_breaker_opens_on_every_replica_and_a_replica_started_later_learns_it() {
    let redis = RedisServer::start();
    let spec = breaker("tier1_mcp:2:60000:1:1");
    let mut a = Replica::start(&redis, "open", &spec);
    let mut b = Replica::start(&redis, "open", &spec);
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    assert_eq!(
        b.ask("state tier1_mcp"),
        "closed",
        "one failure is not a trip"
    );
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    assert_eq!(a.ask("state tier1_mcp"), "open");
    b.expect_state("tier1_mcp", "open", 5_000);
    assert_eq!(
        b.ask("ok tier1_mcp"),
        "rejected",
        "B does not call a dead tier"
    );
    let shared = b.ask("shared tier1_mcp");
    assert!(shared.contains("Open"), "{shared}");
    // Started while the tier is open: learns it when it attaches.
    let mut c = Replica::start(&redis, "open", &spec);
    c.expect_state("tier1_mcp", "open", 5_000);
    assert_eq!(c.ask("ok tier1_mcp"), "rejected");
    // Another namespace is another fleet.
    let mut other = Replica::start(&redis, "elsewhere", &spec);
    assert_eq!(other.ask("wait tier1_mcp open 300"), "timeout closed");
    assert_eq!(other.ask("ok tier1_mcp"), "ok");
    // An operator's reset on one replica closes it everywhere.
    assert_eq!(b.ask("reset tier1_mcp"), "ok");
    for r in [&mut a, &mut c] {
        r.expect_state("tier1_mcp", "closed", 5_000);
        assert_eq!(r.ask("ok tier1_mcp"), "ok");
    }
}

#[test]
fn a_breaker_written_in_an_attribute_is_the_fleets_with_no_change_to_its_code() {
    let redis = RedisServer::start();
    let mut a = Replica::start(&redis, "attr", &[]);
    let mut b = Replica::start(&redis, "attr", &[]);
    assert_eq!(a.ask("attr fail"), "failed");
    b.expect_state("attr_tier", "open", 5_000);
    let refused = b.ask("attr ok");
    assert!(refused.starts_with("rejected "), "{refused}");
}

#[test]
fn half_open_probes_are_the_fleets_and_their_outcome_holds_everywhere() {
    let redis = RedisServer::start();
    // One probe at a time for the whole fleet; one success closes.
    let spec = breaker("tier2_sdk:1:300:1:1");
    let mut replicas: Vec<Replica> = (0..3)
        .map(|_| Replica::start(&redis, "probes", &spec))
        .collect();
    assert_eq!(replicas[0].ask("fail tier2_sdk"), "failed");
    for r in &mut replicas {
        r.expect_state("tier2_sdk", "open", 5_000);
    }
    // Past the fleet's deadline every replica asks to probe; one probe in the whole fleet.
    let holder = admit_one_probe(&mut replicas);
    for round in 0..5 {
        for (i, r) in replicas.iter_mut().enumerate() {
            assert_eq!(
                r.ask("acquire tier2_sdk"),
                "rejected",
                "replica {i}, round {round}: a second probe"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The probe fails: open again everywhere.
    assert_eq!(replicas[holder].ask("release tier2_sdk fail"), "released");
    for r in &mut replicas {
        r.expect_state("tier2_sdk", "open", 5_000);
    }
    // Next time the probe succeeds: closed everywhere.
    let holder = admit_one_probe(&mut replicas);
    assert_eq!(replicas[holder].ask("release tier2_sdk ok"), "released");
    for r in &mut replicas {
        r.expect_state("tier2_sdk", "closed", 5_000);
        assert_eq!(r.ask("ok tier2_sdk"), "ok");
    }
}

/// Asks every replica to probe until one is admitted (within 10 s): its index.
fn admit_one_probe(replicas: &mut [Replica]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        for (i, r) in replicas.iter_mut().enumerate() {
            if r.ask("acquire tier2_sdk") == "admitted" {
                return i;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "no replica was admitted to probe; log:\n{}",
        replicas[0].log()
    );
}

#[test]
fn a_dead_replicas_probe_slot_comes_free_when_its_lease_ends() {
    let redis = RedisServer::start();
    let mut args = breaker("tier3_rest:1:200:1:1").to_vec();
    args.extend(["--lease-ms", "600"]);
    let mut replicas: Vec<Replica> = (0..2)
        .map(|_| Replica::start(&redis, "lease", &args))
        .collect();
    assert_eq!(replicas[0].ask("fail tier3_rest"), "failed");
    replicas[1].expect_state("tier3_rest", "open", 5_000);
    let holder = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "nobody probed");
            if let Some(i) = (0..2).find(|&i| replicas[i].ask("acquire tier3_rest") == "admitted") {
                break i;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut other = replicas.remove(1 - holder);
    assert_eq!(other.ask("acquire tier3_rest"), "rejected");
    drop(replicas); // the holder dies with its slot
    let deadline = Instant::now() + Duration::from_secs(10);
    while other.ask("acquire tier3_rest") != "admitted" {
        assert!(
            Instant::now() < deadline,
            "the dead replica's slot never came free"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(other.ask("release tier3_rest ok"), "released");
    other.expect_state("tier3_rest", "closed", 5_000);
}

#[test]
fn a_quorum_opens_the_fleet_only_once_enough_replicas_opened() {
    let redis = RedisServer::start();
    let mut args = breaker("tier1_mcp:1:60000:1:1").to_vec();
    args.extend(["--quorum", "2", "--window-ms", "10000"]);
    let mut a = Replica::start(&redis, "quorum", &args);
    let mut b = Replica::start(&redis, "quorum", &args);
    let mut c = Replica::start(&redis, "quorum", &args);
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    assert_eq!(a.ask("state tier1_mcp"), "open");
    // One replica's own trouble stays its own.
    assert_eq!(c.ask("wait tier1_mcp open 300"), "timeout closed");
    assert_eq!(c.ask("ok tier1_mcp"), "ok");
    // A second replica agrees: open everywhere.
    assert_eq!(b.ask("fail tier1_mcp"), "failed");
    c.expect_state("tier1_mcp", "open", 5_000);
}

#[test]
fn a_quorum_counts_only_the_replicas_that_opened_within_its_window() {
    let redis = RedisServer::start();
    let mut args = breaker("tier1_mcp:1:60000:1:1").to_vec();
    args.extend(["--quorum", "2", "--window-ms", "300"]);
    let mut a = Replica::start(&redis, "window", &args);
    let mut b = Replica::start(&redis, "window", &args);
    let mut c = Replica::start(&redis, "window", &args);
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    std::thread::sleep(Duration::from_millis(500)); // A's vote is out of the window
    assert_eq!(b.ask("fail tier1_mcp"), "failed");
    assert_eq!(c.ask("wait tier1_mcp open 300"), "timeout closed");
    assert_eq!(c.ask("ok tier1_mcp"), "ok");
}

#[test]
fn with_redis_killed_calls_go_on_locally_the_outage_is_logged_once_and_reconciled() {
    let mut redis = RedisServer::start();
    let spec = breaker("tier1_mcp:2:60000:1:1");
    let mut a = Replica::start(&redis, "outage", &spec);
    let mut b = Replica::start(&redis, "outage", &spec);
    a.expect_reachable(true);
    redis.stop();
    for _ in 0..20 {
        assert_eq!(a.ask("ok tier1_mcp"), "ok", "Redis down never fails a call");
    }
    // The local breaker still works alone.
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    assert_eq!(a.ask("ok tier1_mcp"), "rejected");
    a.expect_reachable(false);
    std::thread::sleep(Duration::from_millis(500)); // several reconciliations fail meanwhile
    assert_eq!(a.ask("outages"), "1");
    // Redis returns, empty: A's open is recorded, and B takes it.
    redis.restart();
    b.expect_state("tier1_mcp", "open", 10_000);
    a.expect_reachable(true);
    let log = a.quit();
    assert_eq!(
        log.matches("fleet_unreachable").count(),
        1,
        "the outage is logged once:\n{log}"
    );
    assert_eq!(log.matches("fleet_reconnected").count(), 1, "{log}");
}

#[test]
fn a_malformed_value_in_redis_is_named_with_its_key_and_spoils_nothing_else() {
    let redis = RedisServer::start();
    let key = "resilience:{bad:tier1_mcp}:state";
    assert_eq!(redis.command(&["SET", key, "garbage"]), "+OK");
    let mut args = breaker("tier1_mcp:1:60000:1:1").to_vec();
    args.extend(breaker("tier2_sdk:1:60000:1:1"));
    let mut a = Replica::start(&redis, "bad", &args);
    let mut b = Replica::start(&redis, "bad", &args);
    let shared = a.ask("shared tier1_mcp");
    assert_eq!(
        shared,
        format!("error malformed value in Redis at {key}, field value: \"garbage\"")
    );
    // The other breaker is shared as ever.
    assert_eq!(a.ask("fail tier2_sdk"), "failed");
    b.expect_state("tier2_sdk", "open", 5_000);
    // The malformed one decides alone: calls pass, and it opens locally.
    assert_eq!(a.ask("ok tier1_mcp"), "ok");
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    assert_eq!(a.ask("ok tier1_mcp"), "rejected");
    // A field of the right key with a wrong value is named too.
    let hashed = "resilience:{bad:tier2_sdk}:state";
    assert_eq!(redis.command(&["HSET", hashed, "until", "soon"]), ":0");
    let shared = a.ask("shared tier2_sdk");
    assert_eq!(
        shared,
        format!("error malformed value in Redis at {hashed}, field until: \"soon\"")
    );
    let log = a.quit();
    assert!(log.contains("fleet_bad_value"), "{log}");
    assert!(log.contains(key) && log.contains("garbage"), "{log}");
}

#[test]
fn a_lost_subscription_is_made_again_and_is_no_outage() {
    let redis = RedisServer::start();
    let spec = breaker("tier1_mcp:1:60000:1:1");
    let mut a = Replica::start(&redis, "resubscribe", &spec);
    let mut b = Replica::start(&redis, "resubscribe", &spec);
    a.expect_reachable(true);
    b.expect_reachable(true);
    for _ in 0..3 {
        let killed = redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
        assert!(killed.starts_with(':'), "{killed}");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    b.expect_state("tier1_mcp", "open", 5_000);
    let log = b.quit();
    assert_eq!(log.matches("fleet_unreachable").count(), 0, "{log}");
}

// ----- the fleet's count of failures -----

/// The fleet's count of `breaker`'s consecutive failures in namespace `ns`, as Redis holds it
/// (0 when it holds none).
fn fleet_failures(redis: &RedisServer, ns: &str, breaker: &str) -> u64 {
    let key = format!("resilience:{{{ns}:{breaker}}}:failures");
    let count = redis.command(&["HGET", &key, "count"]);
    if count == "$-1" {
        return 0;
    }
    count
        .parse()
        .unwrap_or_else(|_| panic!("{key} count: {count:?}"))
}

/// Waits (at most 5 s) until the fleet's count of `breaker` is `n`.
fn expect_fleet_failures(redis: &RedisServer, ns: &str, breaker: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let count = fleet_failures(redis, ns, breaker);
        if count == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet's count of {breaker} failures is {count}, never {n}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How many commands Redis ran since it started, `INFO` (the tests' own reading) aside.
fn commands(redis: &RedisServer) -> u64 {
    redis
        .command(&["INFO", "commandstats"])
        .lines()
        .filter(|line| line.starts_with("cmdstat_") && !line.starts_with("cmdstat_info:"))
        .filter_map(|line| {
            line.split_once("calls=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Waits (at most 5 s) until Redis has run no command for 300 ms, then returns the count.
fn quiet_commands(redis: &RedisServer) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = commands(redis);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = commands(redis);
        if now == last {
            return now;
        }
        assert!(Instant::now() < deadline, "Redis never went quiet");
        last = now;
    }
}

/// Failures spread over four replicas one at a time: the fleet opens after
/// `failure_threshold` (5) failures in all, and every replica rejects after the 5th. Each
/// replica alone (a fleet of its own) fails 5 calls itself: 4 × 5.
#[test]
fn the_fleet_opens_after_failure_threshold_failures_in_all_spread_over_its_replicas() {
    let redis = RedisServer::start();
    let spec = breaker("tier1_mcp:5:60000:1:1");
    let mut replicas: Vec<Replica> = (0..4)
        .map(|_| Replica::start(&redis, "count", &spec))
        .collect();
    for r in &mut replicas {
        r.expect_reachable(true);
    }
    for i in 0..5 {
        assert_eq!(replicas[i % 4].ask("fail tier1_mcp"), "failed", "call {i}");
        if i < 4 {
            // One at a time: this failure is the fleet's before the next call.
            expect_fleet_failures(&redis, "count", "tier1_mcp", i as u64 + 1);
        }
    }
    // The 5th failure in all: the fleet is open, though no replica failed 5 calls of its own.
    for (i, r) in replicas.iter_mut().enumerate() {
        r.expect_state("tier1_mcp", "open", 5_000);
        assert_eq!(r.ask("fail tier1_mcp"), "rejected", "replica {i}");
    }
    let shared = replicas[0].ask("shared tier1_mcp");
    assert!(shared.contains("Open"), "{shared}");

    // Requests paced as a service gets them (50 ms apart, in turn), the calls going on until
    // every replica rejects: 5 failed, 6 if one call was made while the open was on its way.
    let mut paced: Vec<Replica> = (0..4)
        .map(|_| Replica::start(&redis, "count_paced", &spec))
        .collect();
    for r in &mut paced {
        r.expect_reachable(true);
    }
    let (mut failed, mut rejecting) = (0, [false; 4]);
    for i in 0..40 {
        match paced[i % 4].ask("fail tier1_mcp").as_str() {
            "failed" => failed += 1,
            _ => rejecting[i % 4] = true,
        }
        if rejecting.iter().all(|r| *r) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(rejecting.iter().all(|r| *r), "{rejecting:?}");
    assert!(
        (5..=6).contains(&failed),
        "{failed} failed calls before every replica rejected"
    );

    // The control: each replica alone.
    let mut alone: Vec<Replica> = (0..4)
        .map(|i| Replica::start(&redis, &format!("count_alone{i}"), &spec))
        .collect();
    let failed = (0..40)
        .filter(|i| alone[i % 4].ask("fail tier1_mcp") == "failed")
        .count();
    assert_eq!(failed, 20, "alone, each replica fails its own 5");
}

/// A success resets the fleet's count when it ends a run of its replica's own failures:
/// F, F, S, F, F, F, F over two replicas in turn is six failures, but never five with no
/// success in between, and the fleet stays closed; the next failure is the fifth. A success on
/// a replica with no failure of its own since its last success sends nothing (a healthy call
/// makes no round trip), and resets nothing.
#[test]
fn a_success_after_failures_resets_the_fleets_count() {
    let redis = RedisServer::start();
    let spec = breaker("tier1_mcp:5:60000:1:1");
    let mut a = Replica::start(&redis, "reset", &spec);
    let mut b = Replica::start(&redis, "reset", &spec);
    let mut c = Replica::start(&redis, "reset", &spec);
    for r in [&mut a, &mut b, &mut c] {
        r.expect_reachable(true);
    }
    let count = |n| expect_fleet_failures(&redis, "reset", "tier1_mcp", n);
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    count(1);
    assert_eq!(b.ask("fail tier1_mcp"), "failed");
    count(2);
    // C's success follows no failure of C's: nothing is sent.
    assert_eq!(c.ask("ok tier1_mcp"), "ok");
    std::thread::sleep(Duration::from_millis(200));
    count(2);
    // A's success ends A's failures: the fleet's count starts again.
    assert_eq!(a.ask("ok tier1_mcp"), "ok");
    count(0);
    for i in 0..4 {
        let r = if i % 2 == 0 { &mut b } else { &mut a };
        assert_eq!(r.ask("fail tier1_mcp"), "failed");
        count(i + 1);
    }
    for r in [&mut a, &mut b, &mut c] {
        assert_eq!(
            r.ask("state tier1_mcp"),
            "closed",
            "4 failures since the success"
        );
    }
    assert_eq!(b.ask("fail tier1_mcp"), "failed");
    for r in [&mut a, &mut b, &mut c] {
        r.expect_state("tier1_mcp", "open", 5_000);
    }
}

/// Under a quorum one replica's failures do not open the fleet, and neither do failures
/// spread over the replicas: each replica counts its own.
#[test]
fn under_a_quorum_failure_counts_stay_each_replicas() {
    let redis = RedisServer::start();
    let mut args = breaker("tier1_mcp:5:60000:1:1").to_vec();
    args.extend(["--quorum", "2", "--window-ms", "10000"]);
    let mut replicas: Vec<Replica> = (0..4)
        .map(|_| Replica::start(&redis, "quorum_count", &args))
        .collect();
    for r in &mut replicas {
        r.expect_reachable(true);
    }
    for i in 0..8 {
        assert_eq!(replicas[i % 4].ask("fail tier1_mcp"), "failed", "call {i}");
    }
    for r in &mut replicas {
        assert_eq!(r.ask("wait tier1_mcp open 300"), "timeout closed");
    }
    let key = "resilience:{quorum_count:tier1_mcp}:failures";
    assert_eq!(redis.command(&["EXISTS", key]), ":0", "no count in Redis");
}

/// Healthy calls make no Redis command at all; after failures, the first success makes one
/// (the reset of the fleet's count), and the successes after it none.
#[test]
fn healthy_calls_make_no_round_trip_and_the_first_success_after_failures_makes_one() {
    let redis = RedisServer::start();
    let mut args = breaker("tier1_mcp:5:60000:1:1").to_vec();
    // No reconciliation while measuring: every command counted is the calls'.
    args.extend(["--reconcile-ms", "600000", "--lease-ms", "1200000"]);
    let mut a = Replica::start(&redis, "trips", &args);
    a.expect_reachable(true);
    let before = quiet_commands(&redis);
    assert_eq!(
        a.ask("repeat tier1_mcp 1000 ok"),
        "ok 1000 failed 0 rejected 0"
    );
    assert_eq!(commands(&redis) - before, 0, "1,000 healthy calls");
    assert_eq!(a.ask("repeat tier1_mcp 2 fail"), "ok 0 failed 2 rejected 0");
    expect_fleet_failures(&redis, "trips", "tier1_mcp", 2);
    let scripts = evalsha_calls(&redis);
    assert_eq!(
        a.ask("repeat tier1_mcp 1000 ok"),
        "ok 1000 failed 0 rejected 0"
    );
    expect_fleet_failures(&redis, "trips", "tier1_mcp", 0);
    let before = quiet_commands(&redis);
    assert_eq!(
        evalsha_calls(&redis) - scripts,
        1,
        "the reset, and nothing else"
    );
    assert_eq!(
        a.ask("repeat tier1_mcp 1000 ok"),
        "ok 1000 failed 0 rejected 0"
    );
    assert_eq!(commands(&redis) - before, 0, "1,000 healthy calls");
}

/// A storm of failures while Redis is frozen, then killed: every call fails at once as the
/// dependency does, none waits for Redis, the local breaker decides alone; the fleet counts
/// again once Redis is back.
#[test]
fn a_failure_storm_while_redis_is_frozen_or_down_never_blocks_a_call() {
    let mut redis = RedisServer::start();
    let mut args = breaker("tier1_mcp:1000000:60000:1:1").to_vec();
    args.extend(breaker("tier2_sdk:3:60000:1:1"));
    args.extend(["--op-timeout-ms", "200"]);
    let mut a = Replica::start(&redis, "storm", &args);
    a.expect_reachable(true);
    let storm = "repeat tier1_mcp 5000 fail";
    let all_failed = "ok 0 failed 5000 rejected 0";
    redis.pause();
    assert_eq!(a.ask(storm), all_failed);
    a.expect_reachable(false);
    assert_eq!(a.ask(storm), all_failed);
    // The local breaker still decides alone.
    assert_eq!(a.ask("repeat tier2_sdk 4 fail"), "ok 0 failed 3 rejected 1");
    redis.resume();
    a.expect_reachable(true);
    redis.stop();
    assert_eq!(a.ask(storm), all_failed);
    a.expect_reachable(false);
    assert_eq!(a.ask(storm), all_failed);
    redis.restart();
    a.expect_reachable(true);
    // Counted again (Redis came back empty).
    let deadline = Instant::now() + Duration::from_secs(5);
    while fleet_failures(&redis, "storm", "tier1_mcp") == 0 {
        assert!(Instant::now() < deadline, "never counted again");
        assert_eq!(a.ask("fail tier1_mcp"), "failed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(a.ask("outages"), "2");
    let log = a.quit();
    assert_eq!(log.matches("fleet_unreachable").count(), 2, "{log}");
}

/// A foreign value where the fleet keeps its count is named with its key and value, left as
/// found, and stops nothing: the breaker counts its own failures, opens, and its open is the
/// fleet's.
#[test]
fn a_malformed_failure_count_is_named_with_its_key_and_the_breaker_goes_on() {
    let redis = RedisServer::start();
    let key = "resilience:{bad_count:tier1_mcp}:failures";
    assert_eq!(redis.command(&["SET", key, "garbage"]), "+OK");
    let spec = breaker("tier1_mcp:2:60000:1:1");
    let mut a = Replica::start(&redis, "bad_count", &spec);
    let mut b = Replica::start(&redis, "bad_count", &spec);
    a.expect_reachable(true);
    b.expect_reachable(true);
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(a.log().contains("fleet_bad_value") && a.log().contains(key)) {
        assert!(
            Instant::now() < deadline,
            "the malformed count was never named; log:\n{}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    assert_eq!(a.ask("ok tier1_mcp"), "rejected", "opened on its own count");
    b.expect_state("tier1_mcp", "open", 5_000);
    assert_eq!(redis.command(&["GET", key]), "garbage", "left as found");
    let log = a.quit();
    assert!(
        log.contains(&format!(
            "malformed value in Redis at {key}, field value: \"garbage\""
        )),
        "{log}"
    );
}

// ----- bulkheads and rate limiters -----

/// A loopback server that counts the calls in flight across every replica: a call is counted
/// in when its opening byte is answered and out when its closing byte is, both while it holds
/// its slot. Keeps the most it ever saw.
struct Gauge {
    addr: String,
    most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Gauge {
    fn start() -> Gauge {
        use std::io::Read;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().unwrap().to_string();
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let (n, m, c) = (Arc::clone(&now), Arc::clone(&most), Arc::clone(&calls));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (now, most, calls) = (Arc::clone(&n), Arc::clone(&m), Arc::clone(&c));
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(ANSWER));
                    let mut byte = [0u8; 1];
                    if stream.read_exact(&mut byte).is_err() {
                        return;
                    }
                    let inside = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(inside, Ordering::SeqCst);
                    calls.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.write_all(b"k");
                    let _ = stream.read_exact(&mut byte);
                    now.fetch_sub(1, Ordering::SeqCst);
                    let _ = stream.write_all(b"k");
                });
            }
        });
        Gauge { addr, most, calls }
    }

    fn most(&self) -> usize {
        self.most.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// `admitted A refused R` → (A, R).
fn counts(answer: &str) -> (u64, u64) {
    let words: Vec<&str> = answer.split_whitespace().collect();
    match words[..] {
        ["admitted", a, "refused", r] => (a.parse().unwrap(), r.parse().unwrap()),
        _ => panic!("not a count: {answer:?}"),
    }
}

/// Sends `command` to every replica at once, then collects their answers.
fn all_at_once(replicas: &mut [Replica], command: &str) -> Vec<String> {
    for replica in replicas.iter_mut() {
        replica.send(command);
    }
    replicas.iter_mut().map(|replica| replica.read()).collect()
}

/// How many times Redis ran a script by its hash (`EVALSHA`) since it started.
fn evalsha_calls(redis: &RedisServer) -> u64 {
    let stats = redis.command(&["INFO", "commandstats"]);
    stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().expect("a count"))
}

#[test]
fn a_fleet_bulkhead_never_lets_more_than_max_concurrent_run_across_replicas() {
    let redis = RedisServer::start();
    let gauge = Gauge::start();
    let args = ["--bulkhead", "zoho_org:3:5000", "--lease-ms", "2000"];
    let mut replicas: Vec<Replica> = (0..3)
        .map(|_| Replica::start(&redis, "slots", &args))
        .collect();
    for replica in &mut replicas {
        replica.expect_reachable(true);
    }
    // Until Redis first answers it, a replica's bulkhead runs on its local share: wait until
    // each holds its lease (one idle spare each).
    let key = "resilience:{slots:bulkhead:zoho_org}:slots";
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis.command(&["ZCARD", key]) != ":3" {
        assert!(
            Instant::now() < deadline,
            "the replicas never leased their slots"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let command = format!("load zoho_org {} 3 8 20", gauge.addr);
    let answers = all_at_once(&mut replicas, &command);
    let admitted: u64 = answers.iter().map(|a| counts(a).0).sum();
    assert!(
        gauge.most() <= 3,
        "{} calls in flight at once across the fleet, max_concurrent 3",
        gauge.most()
    );
    assert_eq!(admitted as usize, gauge.calls(), "{answers:?}");
    assert!(admitted > 0, "{answers:?}");
}

#[test]
fn a_killed_replicas_slots_come_back_when_its_lease_ends() {
    let redis = RedisServer::start();
    let args = ["--bulkhead", "zoho_org:2:0", "--lease-ms", "1000"];
    let mut a = Replica::start(&redis, "killed", &args);
    let mut b = Replica::start(&redis, "killed", &args);
    a.expect_reachable(true);
    b.expect_reachable(true);
    // A takes both slots (its lease grows as its calls are refused).
    a.hold("zoho_org", 2);
    assert_eq!(b.ask("hold zoho_org"), "refused", "both slots are A's");
    drop(a); // SIGKILL: no goodbye to Redis
    let killed = Instant::now();
    assert_eq!(b.ask("hold zoho_org"), "refused", "A's lease still runs");
    let deadline = killed + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "A's slots never came back; log:\n{}",
            b.log()
        );
        if b.ask("hold zoho_org") == "admitted" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        killed.elapsed() >= Duration::from_millis(500),
        "a slot came back before A's lease could end"
    );
}

#[test]
fn a_fleet_rate_limiter_admits_at_most_its_bound_and_redis_sees_a_fraction_of_the_calls() {
    let redis = RedisServer::start();
    // 200 a second, bursts of 40: blocks of at most 10.
    let args = ["--rate", "zoho_credits:200:1000:40"];
    let mut replicas: Vec<Replica> = (0..3)
        .map(|_| Replica::start(&redis, "rate", &args))
        .collect();
    for replica in &mut replicas {
        replica.expect_reachable(true);
    }
    // The scripts of the replicas' other objects (the attributes'), over as long idle.
    let idle_before = evalsha_calls(&redis);
    std::thread::sleep(Duration::from_millis(1500));
    let idle = evalsha_calls(&redis) - idle_before;
    let scripts_before = evalsha_calls(&redis);
    let started = Instant::now();
    let answers = all_at_once(&mut replicas, "spend zoho_credits 1500");
    let window = started.elapsed();
    let scripts = (evalsha_calls(&redis) - scripts_before).saturating_sub(idle);
    let (admitted, refused) = answers
        .iter()
        .map(|a| counts(a))
        .fold((0, 0), |(a, r), (x, y)| (a + x, r + y));
    // Over any window: the burst, the rate over the window, and the blocks held at its start
    // (each at most a quarter of the burst, one per replica).
    let bound = 40 + (200.0 * window.as_secs_f64()).ceil() as u64 + 3 * 10;
    assert!(
        admitted <= bound,
        "{admitted} admitted in {window:?}, bound {bound}: {answers:?}"
    );
    assert!(admitted >= 40, "the fleet handed out blocks: {answers:?}");
    let calls = admitted + refused;
    assert!(
        scripts * 5 < calls,
        "{scripts} scripts run for {calls} calls ({idle} when idle): {answers:?}"
    );
}

#[test]
fn a_replica_gives_back_the_tokens_of_its_block_it_did_not_spend() {
    let redis = RedisServer::start();
    // A token is worth 100 s, so that the fleet's state moves only by what is taken or given
    // back: 10 per 1000 s, bursts of 40 (blocks of at most 10).
    let mut a = Replica::start(
        &redis,
        "give_back",
        &["--rate", "zoho_credits:10:1000000:40"],
    );
    let key = "resilience:{give_back:rate_limiter:zoho_credits}:tat";
    let tat = || -> f64 { redis.command(&["GET", key]).parse().expect("a TAT") };
    // Its first block, one token, spent; a refusal asks for a larger one.
    assert_eq!(a.ask("take zoho_credits"), "admitted");
    let deadline = Instant::now() + Duration::from_secs(10);
    let taken = loop {
        assert!(
            Instant::now() < deadline,
            "no second block; log:\n{}",
            a.log()
        );
        if a.ask("take zoho_credits") == "admitted" {
            break tat();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Idle, it keeps one token and gives the rest of its block back: the fleet's TAT moves
    // back by at least one token (100 s, in µs).
    let deadline = Instant::now() + Duration::from_secs(10);
    while taken - tat() < 100e6 {
        assert!(
            Instant::now() < deadline,
            "nothing given back; log:\n{}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn with_redis_killed_limits_run_on_their_local_share_and_are_reconciled() {
    let mut redis = RedisServer::start();
    let args = [
        "--bulkhead",
        "zoho_org:4:0",
        "--rate",
        "zoho_credits:100:1000:20",
        "--expected-replicas",
        "2",
        "--lease-ms",
        "1000",
    ];
    let mut a = Replica::start(&redis, "limits_outage", &args);
    a.expect_reachable(true);
    redis.stop();
    a.expect_reachable(false);
    // Its share: 4 / 2 replicas, once its fleet's task has seen the outage.
    a.hold("zoho_org", 2);
    assert_eq!(a.ask("hold zoho_org"), "refused", "the local share is 2");
    assert_eq!(a.ask("free zoho_org"), "freed");
    assert_eq!(a.ask("free zoho_org"), "freed");
    // The limiter's share: a burst of 10, 50 a second.
    let started = Instant::now();
    let (admitted, _) = counts(&a.ask("spend zoho_credits 300"));
    let bound = 10 + (50.0 * started.elapsed().as_secs_f64()).ceil() as u64;
    assert!(
        (1..=bound).contains(&admitted),
        "{admitted} admitted, bound {bound}"
    );
    std::thread::sleep(Duration::from_millis(300)); // several reconciliations fail meanwhile
    assert_eq!(a.ask("outages"), "1");
    redis.restart();
    a.expect_reachable(true);
    // The fleet's 4 again, leased in Redis.
    a.hold("zoho_org", 4);
    let key = "resilience:{limits_outage:bulkhead:zoho_org}:slots";
    assert_eq!(
        redis.command(&["ZCARD", key]),
        ":4",
        "the slots are leased in Redis"
    );
    let log = a.quit();
    assert_eq!(log.matches("fleet_unreachable").count(), 1, "{log}");
    assert_eq!(log.matches("fleet_reconnected").count(), 1, "{log}");
}

#[test]
fn a_malformed_value_in_a_limits_key_is_named_and_spoils_nothing_else() {
    let redis = RedisServer::start();
    let bad_slots = "resilience:{bad_limits:bulkhead:zoho_org}:slots";
    let bad_tat = "resilience:{bad_limits:rate_limiter:zoho_credits}:tat";
    assert_eq!(redis.command(&["SET", bad_slots, "garbage"]), "+OK");
    assert_eq!(redis.command(&["SET", bad_tat, "soon"]), "+OK");
    let args = [
        "--bulkhead",
        "zoho_org:4:0",
        "--bulkhead",
        "other_org:1:0",
        "--rate",
        "zoho_credits:100:1000:20",
        "--expected-replicas",
        "2",
    ];
    let mut a = Replica::start(&redis, "bad_limits", &args);
    let mut b = Replica::start(&redis, "bad_limits", &args);
    a.expect_reachable(true);
    b.expect_reachable(true);
    // The other bulkhead is the fleet's: one slot for both replicas.
    a.hold("other_org", 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.ask("hold other_org"), "refused", "the one slot is A's");
    // The spoiled one runs on its local share, 4 / 2.
    assert_eq!(a.ask("hold zoho_org"), "admitted");
    assert_eq!(a.ask("hold zoho_org"), "admitted");
    assert_eq!(a.ask("hold zoho_org"), "refused");
    // And so does the limiter: calls pass, at its share.
    let (admitted, _) = counts(&a.ask("spend zoho_credits 100"));
    assert!(admitted > 0);
    assert_eq!(
        redis.command(&["GET", bad_slots]),
        "garbage",
        "left as found"
    );
    let log = a.quit();
    assert!(log.contains("fleet_bad_value"), "{log}");
    assert!(log.contains(bad_slots) && log.contains("garbage"), "{log}");
    assert!(log.contains(bad_tat) && log.contains("soon"), "{log}");
}

#[test]
fn an_attributes_bulkhead_and_rate_limit_are_the_fleets_with_no_change_to_its_code() {
    let redis = RedisServer::start();
    let gauge = Gauge::start();
    let mut replicas: Vec<Replica> = (0..3)
        .map(|_| Replica::start(&redis, "attr_limits", &["--lease-ms", "2000"]))
        .collect();
    for replica in &mut replicas {
        replica.expect_reachable(true);
    }
    // `#[bulkhead(name = "attr_org", max_concurrent = 2, max_wait = "5s")]`
    let command = format!("load attr_org {} 2 5 20", gauge.addr);
    let answers = all_at_once(&mut replicas, &command);
    assert!(gauge.most() <= 2, "{} in flight: {answers:?}", gauge.most());
    assert!(gauge.calls() > 0, "{answers:?}");
    let key = "resilience:{attr_limits:bulkhead:attr_org}:slots";
    assert_eq!(redis.command(&["EXISTS", key]), ":1", "leased in Redis");
    // `#[rate_limit(name = "attr_credits", rate = 100, per = "1s", burst = 20)]`
    let started = Instant::now();
    let answers = all_at_once(&mut replicas, "spend attr_credits 1000");
    let window = started.elapsed();
    let admitted: u64 = answers.iter().map(|a| counts(a).0).sum();
    let bound = 20 + (100.0 * window.as_secs_f64()).ceil() as u64 + 3 * 5;
    assert!(admitted <= bound, "{admitted} > {bound}: {answers:?}");
    let key = "resilience:{attr_limits:rate_limiter:attr_credits}:tat";
    assert_eq!(
        redis.command(&["EXISTS", key]),
        ":1",
        "its state is in Redis"
    );
}

/// A breaker whose record in Redis is malformed "decides alone until it is fixed" (the
/// warning's words): once its open period ends it must probe on its own. Its probe grant is
/// the fleet's, which never answers for it, so it stays half-open refusing every call.
#[test]
fn a_breaker_with_a_malformed_record_probes_alone_once_its_open_period_ends() {
    let redis = RedisServer::start();
    let key = "resilience:{badprobe:tier1_mcp}:state";
    assert_eq!(redis.command(&["SET", key, "garbage"]), "+OK");
    let mut args = breaker("tier1_mcp:1:200:1:1").to_vec();
    args.extend(breaker("tier2_sdk:1:60000:1:1"));
    let mut a = Replica::start(&redis, "badprobe", &args);
    a.expect_reachable(true);
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    assert_eq!(a.ask("state tier1_mcp"), "open");
    std::thread::sleep(Duration::from_millis(300));
    // The open period has ended: within 5 s (50 reconciliations), a call is let through as
    // the probe, and it closes the breaker.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut answer = a.ask("ok tier1_mcp");
    while answer != "ok" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        answer = a.ask("ok tier1_mcp");
    }
    let state = a.ask("state tier1_mcp");
    assert_eq!(
        (answer.as_str(), state.as_str()),
        ("ok", "closed"),
        "log:\n{}",
        a.log()
    );
}

/// A replica that asked for the fleet's probe slot keeps renewing its lease for as long as its
/// breaker is half-open, calls or no calls: a replica that got one call after the open period
/// (refused, its grant not yet there) and none since holds the only slot, and every other
/// replica refuses every call, although none is probing.
#[test]
fn an_idle_replica_does_not_hold_the_fleets_probe_slot_for_ever() {
    let redis = RedisServer::start();
    let args = breaker("tier1_mcp:1:300:1:1");
    let mut a = Replica::start(&redis, "idle", &args);
    let mut b = Replica::start(&redis, "idle", &args);
    a.expect_reachable(true);
    b.expect_reachable(true);
    assert_eq!(a.ask("fail tier1_mcp"), "failed");
    b.expect_state("tier1_mcp", "open", 5_000);
    std::thread::sleep(Duration::from_millis(400));
    // a's one call after the open period: it goes half-open and takes the fleet's slot.
    assert_eq!(a.ask("ok tier1_mcp"), "rejected");
    b.expect_state("tier1_mcp", "half_open", 5_000);
    // a gets no more calls. b does, for 5 s (50 reconciliations, 5 s of probe lease).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut answer = b.ask("ok tier1_mcp");
    while answer != "ok" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        answer = b.ask("ok tier1_mcp");
    }
    assert_eq!(
        (answer.as_str(), b.ask("state tier1_mcp").as_str()),
        ("ok", "closed"),
        "b never probed; a: {}",
        a.ask("state tier1_mcp")
    );
}
