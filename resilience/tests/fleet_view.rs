//! The fleet's limits as Redis holds them, read without changing them
//! ([`Fleet::shared_bulkhead`], [`Fleet::shared_rate_limiter`], [`FleetView`]), against a real
//! `redis-server`.
#![cfg(feature = "fleet")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use resilience::CircuitBreakerManager;
use resilience::fleet::{Fleet, FleetBuilder, FleetError};
use resilience::limit::{Bulkhead, RateLimiter};
use resilience_test_support::RedisServer;

/// 100 tokens per 100 hours, burst 100: a token is worth an hour, so none is earned while a
/// test runs and the figures are exact.
const HOUR_US: u64 = 3_600_000_000;

fn limits() -> Arc<CircuitBreakerManager> {
    let manager = Arc::new(CircuitBreakerManager::new());
    manager
        .register_bulkhead(
            Bulkhead::builder("view_org")
                .max_concurrent(15)
                .max_wait(Duration::from_secs(5)),
        )
        .unwrap();
    manager
        .register_rate_limiter(
            RateLimiter::builder("view_credits", 100, Duration::from_secs(100 * 3600)).burst(100),
        )
        .unwrap();
    manager
}

fn builder(
    redis: &RedisServer,
    namespace: &str,
    manager: Arc<CircuitBreakerManager>,
) -> FleetBuilder {
    Fleet::builder()
        .url(redis.url())
        .namespace(namespace)
        .manager(manager)
        .op_timeout(Duration::from_secs(1)) // no outage on a busy test machine
        .reconcile_interval(Duration::from_millis(50))
}

/// Waits (5 s at most) until `read` gives what `wanted` accepts; the last read otherwise.
async fn eventually<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    what: &str,
    mut read: impl FnMut() -> F,
    wanted: impl Fn(&T) -> bool,
) -> T {
    let mut last = None;
    for _ in 0..500 {
        let value = read().await;
        if wanted(&value) {
            return value;
        }
        last = Some(value);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 5 s: {what}; last read {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_counts_live_leases_and_the_replicas_holding_them() {
    let redis = RedisServer::start();
    let view = builder(&redis, "leases", limits()).view().unwrap();
    let slots = "resilience:{leases:bulkhead:view_org}:slots";

    let empty = view.shared_bulkhead("view_org").await.unwrap();
    assert_eq!(
        (
            empty.leased,
            empty.max_concurrent,
            empty.replicas,
            empty.short
        ),
        (0, 15, 0, false)
    );
    assert_eq!(empty.free(), 15);
    // Reading created nothing.
    assert_eq!(redis.command(&["EXISTS", slots]), ":0");

    // Three live slots held by two replicas, and one whose lease has run out.
    let later = "99999999999999"; // ms, centuries ahead
    for (expiry, member) in [
        (later, "r1#1"),
        (later, "r1#2"),
        (later, "r2#1"),
        ("1", "r3#1"),
    ] {
        assert_eq!(redis.command(&["ZADD", slots, expiry, member]), ":1");
    }
    let held = view.shared_bulkhead("view_org").await.unwrap();
    assert_eq!((held.leased, held.replicas, held.free()), (3, 2, 12));

    // One dropped.
    assert_eq!(redis.command(&["ZREM", slots, "r2#1"]), ":1");
    let dropped = view.shared_bulkhead("view_org").await.unwrap();
    assert_eq!((dropped.leased, dropped.replicas), (2, 1));
    // Read only: the expired lease is still there for the next lease to remove.
    assert_eq!(redis.command(&["ZCARD", slots]), ":3");

    // A breaker's state reads as through an attached fleet.
    assert_eq!(view.namespace(), "leases");
    let tier = view.shared_state("view_tier").await.unwrap();
    assert_eq!(
        (tier.state, tier.epoch),
        (resilience::fleet::FleetState::Closed, 0)
    );

    let short = "resilience:{leases:bulkhead:view_org}:short";
    assert_eq!(redis.command(&["SET", short, "r3"]), "+OK");
    assert!(view.shared_bulkhead("view_org").await.unwrap().short);
}

/// A replica attached to the fleet: the view shows its lease (its calls in flight and one
/// spare) as it follows the calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_follows_a_replicas_lease() {
    let redis = RedisServer::start();
    let manager = limits();
    let bulkhead = manager.bulkhead("view_org").unwrap();
    let fleet = builder(&redis, "replica", Arc::clone(&manager))
        .attach()
        .unwrap();
    fleet.ready().await;

    // A call that waits for a slot makes the replica ask the fleet for more.
    let mut permits = Vec::new();
    for _ in 0..3 {
        permits.push(bulkhead.acquire().await.expect("a leased slot"));
    }
    let held = eventually(
        "three calls in flight and a spare",
        || fleet.shared_bulkhead("view_org"),
        |r| matches!(r, Ok(v) if v.leased == 4),
    )
    .await
    .unwrap();
    assert_eq!((held.max_concurrent, held.replicas), (15, 1));

    permits.pop();
    eventually(
        "two calls in flight and a spare",
        || fleet.shared_bulkhead("view_org"),
        |r| matches!(r, Ok(v) if v.leased == 3),
    )
    .await
    .unwrap();
    drop(permits);
    fleet.detach().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_reads_the_fleets_bucket_on_redis_clock() {
    let redis = RedisServer::start();
    let view = builder(&redis, "bucket", limits()).view().unwrap();
    let key = "resilience:{bucket:rate_limiter:view_credits}:tat";

    let full = view.shared_rate_limiter("view_credits").await.unwrap();
    assert_eq!((full.available, full.burst, full.rate), (100, 100, 100));
    assert_eq!(full.per, Duration::from_secs(100 * 3600));
    assert_eq!(full.until_full, Duration::ZERO);
    assert_eq!(
        redis.command(&["EXISTS", key]),
        ":0",
        "reading created nothing"
    );

    // Ten tokens taken, as rate.lua takes them: the TAT moves ten tokens' worth past now.
    let took = redis.command(&[
        "EVAL",
        "local t = redis.call('TIME') \
         return redis.call('SET', KEYS[1], string.format('%.0f', t[1] * 1000000 + t[2] + ARGV[1]))",
        "1",
        key,
        &(10 * HOUR_US).to_string(),
    ]);
    assert_eq!(took, "+OK");
    let taken = view.shared_rate_limiter("view_credits").await.unwrap();
    assert_eq!(taken.available, 90);
    assert!(
        taken.until_full > Duration::from_secs(9 * 3600)
            && taken.until_full <= Duration::from_secs(10 * 3600),
        "{taken:?}"
    );
}

/// A replica attached to the fleet takes its tokens in blocks from the fleet's bucket: what
/// the view shows in the bucket, what the replica holds and what it spent make the burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_shows_the_tokens_a_replica_took() {
    let redis = RedisServer::start();
    let manager = limits();
    let limiter = manager.rate_limiter("view_credits").unwrap();
    let fleet = builder(&redis, "blocks", Arc::clone(&manager))
        .attach()
        .unwrap();
    fleet.ready().await;

    let spent = support::spend(&limiter, 10).await;
    assert_eq!(spent, 10, "the fleet's blocks came");
    eventually(
        "the bucket, the replica's block and the tokens spent make the burst",
        || async {
            let view = fleet.shared_rate_limiter("view_credits").await.unwrap();
            (view.available, limiter.metrics().tokens_left)
        },
        |(available, held)| available + held + 10 == 100,
    )
    .await;
    fleet.detach().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_value_is_an_error_naming_its_key_and_value() {
    let redis = RedisServer::start();
    let manager = limits();
    let fleet = builder(&redis, "malformed", Arc::clone(&manager))
        .reconcile_interval(Duration::from_secs(3600))
        .probe_lease(Duration::from_secs(7200))
        .attach()
        .unwrap();
    // Its first leases are taken before the keys are spoilt; the next are an hour away.
    fleet.ready().await;
    let view = builder(&redis, "malformed", manager).view().unwrap();
    let slots = "resilience:{malformed:bulkhead:view_org}:slots";
    let tat = "resilience:{malformed:rate_limiter:view_credits}:tat";
    let held = "resilience:{malformed:rate_limiter:view_credits}:held";

    let cases: [(&[&str], &str, &str, &str); 8] = [
        (&["SET", slots, "three"], slots, "value", "three"),
        (&["DEL", slots], slots, "", ""),
        (&["SET", tat, "soon"], tat, "value", "soon"),
        (&["HSET", tat, "tat", "1"], tat, "type", "hash"),
        (&["DEL", tat], tat, "", ""),
        (&["HSET", held, "r9", "lots"], held, "r9", "lots"),
        (&["SET", held, "1"], held, "type", "string"),
        (&["HSET", held, "a b", "x"], held, "a b", "x"),
    ];
    for (command, key, field, value) in cases {
        redis.command(&["DEL", key]);
        redis.command(command);
        if field.is_empty() {
            continue;
        }
        for error in [
            read(&fleet, key).await.unwrap_err(),
            read_view(&view, key).await.unwrap_err(),
        ] {
            match &error {
                FleetError::BadValue {
                    key: k,
                    field: f,
                    value: v,
                } => assert_eq!((k.as_str(), f.as_str(), v.as_str()), (key, field, value)),
                other => panic!("{command:?}: {other}"),
            }
            let text = error.to_string();
            assert!(text.contains(key) && text.contains(value), "{text}");
        }
    }
    // A member that is no replica's slot.
    redis.command(&["DEL", slots]);
    redis.command(&["ZADD", slots, "99999999999999", "someone else's"]);
    let error = fleet.shared_bulkhead("view_org").await.unwrap_err();
    assert!(
        matches!(&error, FleetError::BadValue { key, field, value }
            if key == slots && field == "member" && value == "someone else's"),
        "{error}"
    );
    // The malformed keys are theirs alone: the other limit reads well.
    redis.command(&["DEL", tat, held]);
    assert_eq!(
        fleet
            .shared_rate_limiter("view_credits")
            .await
            .unwrap()
            .available,
        100
    );
    assert!(fleet.is_reachable(), "a malformed value is no outage");
    fleet.detach().await;
}

async fn read(fleet: &Fleet, key: &str) -> Result<(), FleetError> {
    if key.contains(":bulkhead:") {
        fleet.shared_bulkhead("view_org").await.map(drop)
    } else {
        fleet.shared_rate_limiter("view_credits").await.map(drop)
    }
}

async fn read_view(view: &resilience::fleet::FleetView, key: &str) -> Result<(), FleetError> {
    if key.contains(":bulkhead:") {
        view.shared_bulkhead("view_org").await.map(drop)
    } else {
        view.shared_rate_limiter("view_credits").await.map(drop)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_name_is_an_error_naming_it() {
    let redis = RedisServer::start();
    let view = builder(&redis, "unknown", limits()).view().unwrap();
    let error = view.shared_bulkhead("view_credits").await.unwrap_err();
    assert!(
        matches!(&error, FleetError::Unknown { kind: "bulkhead", name } if name == "view_credits"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        r#"the fleet's manager has no bulkhead named "view_credits""#
    );
    let error = view.shared_rate_limiter("zoho_credits").await.unwrap_err();
    assert!(
        matches!(&error, FleetError::Unknown { kind: "rate limiter", name } if name == "zoho_credits"),
        "{error}"
    );
}

/// Redis gone, or frozen: a read is an error at its timeout, never a wait without end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_while_redis_is_down_is_an_error_within_its_timeout() {
    let mut redis = RedisServer::start();
    let manager = limits();
    let view = builder(&redis, "down", Arc::clone(&manager))
        .op_timeout(Duration::from_millis(100))
        .connect_timeout(Duration::from_millis(200))
        .view()
        .unwrap();
    assert_eq!(view.shared_bulkhead("view_org").await.unwrap().leased, 0);
    assert!(view.is_reachable());

    // Frozen: the connection is open, nothing answers.
    redis.pause();
    let bound = Duration::from_secs(5); // a guard against a hang, not a measure of speed
    for key in ["bulkhead:view_org", "rate_limiter:view_credits"] {
        let error = tokio::time::timeout(bound, read_view(&view, key))
            .await
            .expect("an answer at the operation's timeout")
            .unwrap_err();
        assert!(
            matches!(error, FleetError::Unreachable(_)),
            "{key}: {error}"
        );
    }
    assert!(!view.is_reachable());
    redis.resume();

    // Gone: no server on the port.
    redis.stop();
    let error = tokio::time::timeout(bound, view.shared_bulkhead("view_org"))
        .await
        .expect("an answer within the connect timeout")
        .unwrap_err();
    assert!(matches!(error, FleetError::Unreachable(_)), "{error}");
    // And an attached fleet's read likewise.
    let fleet = builder(&redis, "down", manager)
        .op_timeout(Duration::from_millis(100))
        .connect_timeout(Duration::from_millis(200))
        .attach()
        .unwrap();
    let error = tokio::time::timeout(bound, fleet.shared_rate_limiter("view_credits"))
        .await
        .expect("an answer within the connect timeout")
        .unwrap_err();
    assert!(matches!(error, FleetError::Unreachable(_)), "{error}");
    fleet.detach().await;
}

/// The tokens a replica holds are inside the fleet's burst (`rate.lua` leaves them out of the
/// bucket): once the bucket's theoretical arrival time has caught up with now, the view's
/// `available` and what the replicas hold still make no more than the burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_leaves_out_the_tokens_replicas_hold() {
    let redis = RedisServer::start();
    let manager = Arc::new(CircuitBreakerManager::new());
    // A token every millisecond: the bucket's TAT is back at now a moment after a block.
    manager
        .register_rate_limiter(
            RateLimiter::builder("held_credits", 1000, Duration::from_secs(1)).burst(100),
        )
        .unwrap();
    let limiter = manager.rate_limiter("held_credits").unwrap();
    let fleet = builder(&redis, "held", Arc::clone(&manager))
        .attach()
        .unwrap();
    fleet.ready().await;
    let spent = support::spend(&limiter, 10).await;
    assert_eq!(spent, 10, "the fleet's blocks came");
    // Idle, the replica keeps its next block (at least a token) and gives back the rest.
    let held = eventually(
        "the replica keeps a block and the bucket's TAT is past",
        || async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            limiter.metrics().tokens_left
        },
        |held| *held > 0,
    )
    .await;
    let view = fleet.shared_rate_limiter("held_credits").await.unwrap();
    let held_now = limiter.metrics().tokens_left;
    assert!(
        view.available + held_now.min(held) <= 100,
        "the view shows {} in the bucket while the replica holds {held_now}: more than the burst",
        view.available
    );
    fleet.detach().await;
}
