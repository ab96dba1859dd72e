//! The fleet within one process: its settings and the environment, and a Redis that cannot be
//! reached. (Replicas sharing breakers through a real Redis are separate processes: see the
//! workspace's `tests/fleet.rs`.)
#![cfg(all(feature = "fleet", feature = "metrics"))]

mod support;

use std::sync::Arc;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use resilience::fleet::{Fleet, FleetError, Policy};
use resilience::limit::{Bulkhead, RateLimiter};
use resilience::{CallError, CircuitBreaker, CircuitBreakerManager, CircuitState};

/// The tests of this binary run one at a time: one sets a process variable that the other's
/// breakers could read meanwhile.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn an_unreachable_redis_fails_no_call_and_is_logged_and_counted_once() {
    let _serial = SERIAL.lock().await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");
    let (events, _capture) = support::capture();

    // Nobody listens on this port.
    let url = format!(
        "redis://127.0.0.1:{}/",
        resilience_test_support::free_port()
    );
    let manager = Arc::new(CircuitBreakerManager::new());
    let breaker = manager
        .register(CircuitBreaker::builder("fleet_unreachable_tier").failure_threshold(2))
        .unwrap();
    let fleet = Fleet::builder()
        .url(&url)
        .namespace("unreachable")
        .manager(Arc::clone(&manager))
        .reconcile_interval(Duration::from_millis(20))
        .probe_lease(Duration::from_secs(1))
        .attach()
        .expect("attaching never waits for Redis");

    // Calls go on, whatever the fleet's task is doing.
    for _ in 0..100 {
        let r = breaker.call(|| async { Ok::<_, &str>(()) }).await;
        assert!(r.is_ok());
        tokio::task::yield_now().await;
    }
    for _ in 0..100 {
        if fleet.outages() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fleet.outages(), 1);
    // Its first reconciliation is over, having found Redis unreachable.
    tokio::time::timeout(Duration::from_secs(5), fleet.ready())
        .await
        .expect("ready once Redis is found unreachable");
    assert!(!fleet.is_reachable());
    // The breaker decides alone: it opens on its own failures.
    for _ in 0..2 {
        let r = breaker.call(|| async { Err::<(), _>("down") }).await;
        assert!(matches!(r, Err(CallError::Failed("down"))));
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    // Several reconciliations fail meanwhile; the outage is still one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fleet.outages(), 1);
    let logged = events.named("fleet_unreachable");
    assert_eq!(logged.len(), 1, "{:?}", events.names());
    assert_eq!(logged[0].level, tracing::Level::WARN);
    assert_eq!(logged[0].field("redis"), url);
    let error = fleet
        .shared_state("fleet_unreachable_tier")
        .await
        .unwrap_err();
    assert!(matches!(error, FleetError::Unreachable(_)), "{error}");

    let counters: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let name = key.key().name().to_owned();
            name.starts_with("resilience_fleet")
                .then_some((name, value))
        })
        .collect();
    assert!(
        counters.contains(&(
            "resilience_fleet_outages_total".to_owned(),
            DebugValue::Counter(1)
        )),
        "{counters:?}"
    );
    fleet.detach().await;
}

#[tokio::test]
async fn settings_that_cannot_work_are_errors_naming_the_input_and_the_value() {
    let _serial = SERIAL.lock().await;
    let manager = Arc::new(CircuitBreakerManager::new());
    let builder = || Fleet::builder().manager(Arc::clone(&manager));
    let error = |b: resilience::fleet::FleetBuilder| b.attach().unwrap_err().to_string();

    // SAFETY: the tests of this binary run one at a time (SERIAL), and only this one reads or
    // writes the process environment.
    unsafe { std::env::remove_var("RESILIENCE_REDIS_URL") };
    let missing = error(builder());
    assert!(missing.contains("RESILIENCE_REDIS_URL"), "{missing}");
    // SAFETY: as above.
    unsafe { std::env::set_var("RESILIENCE_REDIS_URL", "http://cache:6379") };
    let bad_env = error(builder());
    assert!(
        bad_env.starts_with(
            r#"invalid environment variable RESILIENCE_REDIS_URL="http://cache:6379": "#
        ),
        "{bad_env}"
    );
    // SAFETY: as above.
    unsafe { std::env::remove_var("RESILIENCE_REDIS_URL") };

    // A password never shows.
    let bad_url = error(builder().url("redis://app:s3cret@cache:port/"));
    assert!(
        bad_url.starts_with("invalid url = redis://app:***@cache:port/"),
        "{bad_url}"
    );
    assert!(!bad_url.contains("s3cret"), "{bad_url}");

    let url = "redis://127.0.0.1:1/";
    let bad_namespace = error(builder().url(url).namespace("crm{sync}"));
    assert!(
        bad_namespace.starts_with("invalid namespace = crm{sync}"),
        "{bad_namespace}"
    );
    let zero = error(builder().url(url).op_timeout(Duration::ZERO));
    assert!(zero.starts_with("invalid op_timeout = 0ns"), "{zero}");
    let lease = error(
        builder()
            .url(url)
            .reconcile_interval(Duration::from_secs(5))
            .probe_lease(Duration::from_secs(5)),
    );
    assert!(lease.starts_with("invalid probe_lease = 5s"), "{lease}");
    let quorum = error(
        builder()
            .url(url)
            .policy(Policy::quorum(0, Duration::from_secs(1))),
    );
    assert!(quorum.starts_with("invalid quorum = 0"), "{quorum}");
    let replicas = error(builder().url(url).expected_replicas(0));
    assert!(
        replicas.starts_with("invalid expected_replicas = 0"),
        "{replicas}"
    );
    for (share, shown) in [
        (0.0, "0"),
        (1.5, "1.5"),
        (f64::NAN, "NaN"),
        (-0.25, "-0.25"),
    ] {
        let bad_share = error(builder().url(url).local_share(share));
        assert!(
            bad_share.starts_with(&format!("invalid local_share = {shown}")),
            "{bad_share}"
        );
    }
    // The bounds themselves are fine.
    let _fleet = builder()
        .url(url)
        .local_share(1.0)
        .attach()
        .expect("a share of 1");
}

#[test]
fn attaching_outside_a_tokio_runtime_is_an_error() {
    let error = Fleet::builder()
        .url("redis://127.0.0.1:1/")
        .manager(Arc::new(CircuitBreakerManager::new()))
        .attach()
        .unwrap_err();
    assert!(matches!(error, FleetError::NoRuntime), "{error}");
}

/// Two replicas in one process (two managers, two fleets): the second holds every probe slot,
/// so the first may not probe; detached, the first decides its probes alone again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_breaker_decides_its_probes_alone_again() {
    let _serial = SERIAL.lock().await;
    let redis = resilience_test_support::RedisServer::start();
    let replica = || {
        let manager = Arc::new(CircuitBreakerManager::new());
        let breaker = manager
            .register(
                CircuitBreaker::builder("fleet_detach_tier")
                    .failure_threshold(1)
                    .recovery_timeout(Duration::from_millis(100))
                    .half_open_max_calls(2)
                    .success_threshold(2),
            )
            .unwrap();
        let fleet = Fleet::builder()
            .url(redis.url())
            .namespace("detach")
            .manager(manager)
            .op_timeout(Duration::from_secs(1)) // no outage on a busy test machine
            .reconcile_interval(Duration::from_millis(50))
            .attach()
            .unwrap();
        (breaker, fleet)
    };
    let (first, first_fleet) = replica();
    let (second, _second_fleet) = replica();
    let r = first.call(|| async { Err::<(), _>("down") }).await;
    assert!(matches!(r, Err(CallError::Failed(_))));
    eventually("open on the second", || {
        second.state() == CircuitState::Open
    })
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The second replica takes both of the fleet's slots.
    let mut probes = Vec::new();
    eventually("two probes on the second", || {
        if let Ok(permit) = second.try_acquire() {
            probes.push(permit);
        }
        probes.len() == 2
    })
    .await;
    for _ in 0..5 {
        assert!(first.try_acquire().is_err(), "the fleet's slots are taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first_fleet.detach().await;
    let own: Vec<_> = (0..2)
        .map(|_| first.try_acquire().expect("its own rule"))
        .collect();
    assert!(
        first.try_acquire().is_err(),
        "half_open_max_calls still holds"
    );
    drop((own, probes));
}

/// Waits (5 s at most) until `condition` holds.
async fn eventually(what: &str, condition: impl FnMut() -> bool) {
    support::eventually(what, Duration::from_secs(5), condition).await;
}

/// A Redis that accepts connections and never answers (frozen): every operation gives up at its
/// timeout, the outage starts, calls go on; thawed, the transition made meanwhile reaches the
/// fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_is_an_outage_once_its_operations_time_out() {
    let _serial = SERIAL.lock().await;
    let redis = resilience_test_support::RedisServer::start();
    let manager = Arc::new(CircuitBreakerManager::new());
    let breaker = manager
        .register(
            CircuitBreaker::builder("fleet_frozen_tier")
                .failure_threshold(1)
                .recovery_timeout(Duration::from_secs(60)),
        )
        .unwrap();
    let fleet = Fleet::builder()
        .url(redis.url())
        .namespace("frozen")
        .manager(manager)
        .op_timeout(Duration::from_millis(200))
        .reconcile_interval(Duration::from_millis(50))
        .attach()
        .unwrap();
    eventually("reachable", || fleet.is_reachable()).await;
    redis.pause();
    // Without a timeout the fleet's task would wait for the frozen server for ever.
    eventually("the outage", || !fleet.is_reachable()).await;
    assert_eq!(fleet.outages(), 1);
    for _ in 0..50 {
        assert!(breaker.call(|| async { Ok::<_, &str>(()) }).await.is_ok());
    }
    let r = breaker.call(|| async { Err::<(), _>("down") }).await;
    assert!(matches!(r, Err(CallError::Failed(_))));
    assert_eq!(breaker.state(), CircuitState::Open, "decided alone");
    redis.resume();
    eventually("reachable again", || fleet.is_reachable()).await;
    for _ in 0..500 {
        if let Ok(shared) = fleet.shared_state("fleet_frozen_tier").await {
            if matches!(shared.state, resilience::fleet::FleetState::Open { .. }) {
                assert_eq!(fleet.outages(), 1);
                return fleet.detach().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the open made during the outage never reached the fleet");
}

/// A breaker and a bulkhead registered after the fleet is attached are the fleet's at once,
/// not at the next reconciliation (an hour away here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_and_a_bulkhead_registered_after_attach_are_the_fleets_at_once() {
    let _serial = SERIAL.lock().await;
    let redis = resilience_test_support::RedisServer::start();
    let attach = |manager: &Arc<CircuitBreakerManager>| {
        Fleet::builder()
            .url(redis.url())
            .namespace("registered")
            .manager(Arc::clone(manager))
            .op_timeout(Duration::from_secs(1))
            .reconcile_interval(Duration::from_secs(3600))
            .probe_lease(Duration::from_secs(7200))
            .attach()
            .unwrap()
    };
    let breaker = || CircuitBreaker::builder("fleet_registered_tier").failure_threshold(1);
    let bulkhead = || Bulkhead::builder("fleet_registered_org").max_concurrent(1);

    let first = Arc::new(CircuitBreakerManager::new());
    let first_breaker = first.register(breaker()).unwrap();
    let first_bulkhead = first.register_bulkhead(bulkhead()).unwrap();
    let first_fleet = attach(&first);
    first_fleet.ready().await;
    let slots = "resilience:{registered:bulkhead:fleet_registered_org}:slots";
    eventually("the first replica's lease", || {
        redis.command(&["ZCARD", slots]) == ":1"
    })
    .await;
    let _slot = first_bulkhead.try_acquire().expect("its leased slot");
    let r = first_breaker.call(|| async { Err::<(), _>("down") }).await;
    assert!(matches!(r, Err(CallError::Failed(_))));

    let second = Arc::new(CircuitBreakerManager::new());
    let _second_fleet = attach(&second);
    tokio::time::sleep(Duration::from_millis(100)).await; // its first reconciliation is over
    let second_breaker = second.register(breaker()).unwrap();
    let second_bulkhead = second.register_bulkhead(bulkhead()).unwrap();
    eventually("open on the second replica", || {
        second_breaker.state() == CircuitState::Open
    })
    .await;
    eventually("the fleet's one slot is the first replica's", || {
        second_bulkhead.try_acquire().is_err()
    })
    .await;
    first_fleet.detach().await;
}

/// A wrong password is no new way to fail: every operation is refused by Redis, so the fleet is
/// unreachable (logged once, the password masked in the URL), and the breaker decides alone.
#[tokio::test]
async fn a_wrong_password_is_an_outage_and_the_breaker_decides_alone() {
    let _serial = SERIAL.lock().await;
    let redis = resilience_test_support::RedisServer::start();
    assert_eq!(
        redis.command(&["CONFIG", "SET", "requirepass", "the-right-one"]),
        "+OK"
    );
    let (events, _capture) = support::capture();
    let manager = Arc::new(CircuitBreakerManager::new());
    let breaker = manager
        .register(CircuitBreaker::builder("fleet_password_tier").failure_threshold(2))
        .unwrap();
    let url = format!("redis://:a-wrong-one@127.0.0.1:{}/", redis.port());
    let fleet = Fleet::builder()
        .url(&url)
        .namespace("password")
        .manager(Arc::clone(&manager))
        .op_timeout(Duration::from_secs(1))
        .reconcile_interval(Duration::from_millis(50))
        .attach()
        .expect("attaching never waits for Redis");
    tokio::time::timeout(Duration::from_secs(10), fleet.ready())
        .await
        .expect("ready once Redis has answered or refused");
    assert!(!fleet.is_reachable());
    for _ in 0..2 {
        let r = breaker.call(|| async { Err::<(), _>("down") }).await;
        assert!(matches!(r, Err(CallError::Failed("down"))));
    }
    assert_eq!(breaker.state(), CircuitState::Open, "it decides alone");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logged = events.named("fleet_unreachable");
    assert_eq!(logged.len(), 1, "{:?}", events.names());
    let shown = logged[0].field("redis");
    assert!(
        !shown.contains("a-wrong-one"),
        "the password is masked: {shown}"
    );
    let error = logged[0].field("error").to_lowercase();
    assert!(
        error.contains("pass") || error.contains("auth"),
        "the error says why: {error}"
    );
    fleet.detach().await;
}

/// A foreign record under `…:held` claiming more tokens than the burst (no replica can hold
/// that many) is bad input: an error naming it, and the limiter keeps working on its local
/// share; it must not silently refuse every call for as long as the record claims to last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_held_record_above_the_burst_does_not_starve_the_limiter() {
    let _serial = SERIAL.lock().await;
    let redis = resilience_test_support::RedisServer::start();
    let manager = Arc::new(CircuitBreakerManager::new());
    manager
        .register_rate_limiter(
            RateLimiter::builder("ghost_credits", 1000, Duration::from_secs(1)).burst(100),
        )
        .unwrap();
    let limiter = manager.rate_limiter("ghost_credits").unwrap();
    let held = "resilience:{ghost:rate_limiter:ghost_credits}:held";
    redis.command(&["HSET", held, "ghost", "1000000:0:0:99999999999999"]);
    let fleet = Fleet::builder()
        .url(redis.url())
        .namespace("ghost")
        .manager(Arc::clone(&manager))
        .op_timeout(Duration::from_secs(1))
        .reconcile_interval(Duration::from_millis(50))
        .attach()
        .unwrap();
    fleet.ready().await;
    let spent = support::spend(&limiter, 10).await;
    assert_eq!(spent, 10, "2 s for 10 tokens of a 1000/s limiter");
    fleet.detach().await;
}

/// A replica's failures left in the fleet's count when it stops (killed, or detached) lapse
/// one `probe_lease` after the last of them: a single failure elsewhere long after does not
/// open the fleet with them, while failures that keep coming still add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_count_left_by_a_replica_that_stopped_lapses_after_the_lease() {
    let _serial = SERIAL.lock().await;
    let redis = resilience_test_support::RedisServer::start();
    let lease = Duration::from_millis(400);
    let replica = || {
        let manager = Arc::new(CircuitBreakerManager::new());
        let breaker = manager
            .register(
                CircuitBreaker::builder("fleet_stale_tier")
                    .failure_threshold(3)
                    .recovery_timeout(Duration::from_secs(60))
                    .ignore_env(),
            )
            .unwrap();
        let fleet = Fleet::builder()
            .url(redis.url())
            .namespace("stale")
            .manager(manager)
            .policy(Policy::ShareOpen)
            .op_timeout(Duration::from_secs(1))
            .reconcile_interval(Duration::from_millis(50))
            .probe_lease(lease)
            .attach()
            .unwrap();
        (breaker, fleet)
    };
    let (a, a_fleet) = replica();
    let (b, b_fleet) = replica();
    a_fleet.ready().await;
    b_fleet.ready().await;
    for _ in 0..2 {
        let _ = a.call(|| async { Err::<(), _>("down") }).await;
    }
    let count = "resilience:{stale:fleet_stale_tier}:failures";
    eventually("A's two failures counted", || {
        redis.command(&["HGET", count, "count"]) == "2"
    })
    .await;
    let ttl: i64 = redis
        .command(&["PTTL", count])
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 400,
        "the count lapses within the lease: PTTL {ttl}"
    );
    a_fleet.detach().await;
    eventually("the count lapsed", || {
        redis.command(&["EXISTS", count]) == ":0"
    })
    .await;
    let _ = b.call(|| async { Err::<(), _>("one blip") }).await;
    eventually("B's failure counted alone", || {
        redis.command(&["HGET", count, "count"]) == "1"
    })
    .await;
    assert_eq!(b.state(), CircuitState::Closed);
    // Failures that keep coming are a run: B's own next two open the fleet.
    for _ in 0..2 {
        let _ = b.call(|| async { Err::<(), _>("down") }).await;
    }
    assert_eq!(b.state(), CircuitState::Open);
    b_fleet.detach().await;
}
