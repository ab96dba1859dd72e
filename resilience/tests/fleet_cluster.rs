//! The fleet on a Redis Cluster: three real masters started by the test, two replicas (two
//! managers, two fleets) in this process, each object's keys on the node of their slot.
#![cfg(feature = "fleet")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use resilience::fleet::{Fleet, FleetError, FleetState};
use resilience::limit::{Bulkhead, BulkheadPermit, RateLimiter};
use resilience::{CallError, CircuitBreaker, CircuitBreakerManager, CircuitState};
use resilience_test_support::RedisCluster;

/// The tests of this binary run one at a time: one sets process variables, and each starts a
/// cluster of its own (three servers: a loaded machine runs one cluster at a time well).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits (10 s at most) until `condition` holds.
async fn eventually(what: &str, condition: impl FnMut() -> bool) {
    support::eventually(what, Duration::from_secs(10), condition).await;
}

/// How many pub/sub connections the cluster's nodes hold.
fn subscribers(cluster: &RedisCluster) -> usize {
    cluster
        .nodes()
        .iter()
        .filter(|node| node.is_running())
        .map(|node| {
            let clients = node.command(&["CLIENT", "LIST", "TYPE", "pubsub"]);
            clients.lines().filter(|l| l.contains("sub=1")).count()
        })
        .sum()
}

fn state_key(namespace: &str, breaker: &str) -> String {
    format!("resilience:{{{namespace}:{breaker}}}:state")
}

/// Breakers whose keys live on three different nodes open for the fleet on one replica; the
/// other learns each through pub/sub (its reconciliation is an hour away), whichever node ran
/// the script: a cluster broadcasts every `PUBLISH` to every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_on_every_node_open_for_the_fleet_and_the_other_replica_learns_it() {
    let _serial = SERIAL.lock().await;
    let cluster = RedisCluster::start(3);
    let names = [("tier2", 0), ("tier3", 1), ("tier1", 2)];
    for (name, node) in names {
        let key = state_key("cluster", name);
        let slot = cluster.keyslot(&key);
        assert!(
            cluster.slots(node).contains(&slot),
            "{key} is in slot {slot}, not on node {node} ({:?})",
            cluster.slots(node)
        );
    }
    let replica = || {
        let manager = Arc::new(CircuitBreakerManager::new());
        let breakers: Vec<_> = names
            .iter()
            .map(|(name, _)| {
                manager
                    .register(
                        CircuitBreaker::builder(*name)
                            .failure_threshold(1)
                            .recovery_timeout(Duration::from_secs(60)),
                    )
                    .unwrap()
            })
            .collect();
        let fleet = Fleet::builder()
            .cluster(cluster.urls())
            .namespace("cluster")
            .manager(manager)
            .op_timeout(Duration::from_secs(1)) // no outage on a busy test machine
            .reconcile_interval(Duration::from_secs(3600))
            .probe_lease(Duration::from_secs(7200))
            .attach()
            .unwrap();
        (breakers, fleet)
    };
    let (first, first_fleet) = replica();
    let (second, second_fleet) = replica();
    first_fleet.ready().await;
    second_fleet.ready().await;
    assert!(first_fleet.is_reachable() && second_fleet.is_reachable());
    eventually("both replicas subscribed", || subscribers(&cluster) == 2).await;

    for (i, (name, node)) in names.iter().enumerate() {
        let r = first[i].call(|| async { Err::<(), _>("down") }).await;
        assert!(matches!(r, Err(CallError::Failed("down"))));
        assert_eq!(first[i].state(), CircuitState::Open);
        eventually(&format!("{name} open on the second replica"), || {
            second[i].state() == CircuitState::Open
        })
        .await;
        // Its record is on its node.
        let key = state_key("cluster", name);
        assert_eq!(
            cluster.node(*node).command(&["HGET", &key, "state"]),
            "open"
        );
        let shared = second_fleet.shared_state(name).await.unwrap();
        assert!(
            matches!(shared.state, FleetState::Open { .. }),
            "{shared:?}"
        );
    }
    assert_eq!(first_fleet.outages(), 0);
    assert_eq!(second_fleet.outages(), 0);
    first_fleet.detach().await;
    second_fleet.detach().await;
}

/// A bulkhead and a rate limiter shared by two replicas on a cluster (their keys on two
/// different nodes) stay within their limits, and the fleet hands out all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulkhead_and_a_rate_limiter_on_a_cluster_stay_within_their_limits() {
    let _serial = SERIAL.lock().await;
    let cluster = RedisCluster::start(3);
    let slots_key = "resilience:{limits:bulkhead:zoho_org}:slots";
    let tat_key = "resilience:{limits:rate_limiter:zoho_credits}:tat";
    assert_eq!(cluster.node_of(slots_key), 0);
    assert_eq!(cluster.node_of(tat_key), 1);
    // A token is worth 1000 s: the fleet's tokens are its burst of 8 over the test.
    let replica = || {
        let manager = Arc::new(CircuitBreakerManager::new());
        let bulkhead = manager
            .register_bulkhead(Bulkhead::builder("zoho_org").max_concurrent(3))
            .unwrap();
        let limiter = manager
            .register_rate_limiter(
                RateLimiter::builder("zoho_credits", 1, Duration::from_secs(1000)).burst(8),
            )
            .unwrap();
        let fleet = Fleet::builder()
            .cluster(cluster.urls())
            .namespace("limits")
            .manager(manager)
            .expected_replicas(2)
            .op_timeout(Duration::from_secs(1))
            .reconcile_interval(Duration::from_millis(50))
            .probe_lease(Duration::from_secs(5))
            .attach()
            .unwrap();
        (bulkhead, limiter, fleet)
    };
    let (first_bulkhead, first_limiter, first_fleet) = replica();
    let (second_bulkhead, second_limiter, second_fleet) = replica();
    first_fleet.ready().await;
    second_fleet.ready().await;

    let started = Instant::now();
    let mut held: [Vec<BulkheadPermit>; 2] = [Vec::new(), Vec::new()];
    let mut admitted = [0_u64; 2];
    let deadline = started + Duration::from_secs(10);
    loop {
        for (i, (bulkhead, limiter)) in [
            (&first_bulkhead, &first_limiter),
            (&second_bulkhead, &second_limiter),
        ]
        .into_iter()
        .enumerate()
        {
            if let Ok(permit) = bulkhead.try_acquire() {
                held[i].push(permit);
            }
            if limiter.try_acquire().is_ok() {
                admitted[i] += 1;
            }
        }
        let in_flight = held[0].len() + held[1].len();
        let tokens = admitted[0] + admitted[1];
        assert!(
            in_flight <= 3,
            "{in_flight} calls in flight, max_concurrent 3"
        );
        // The burst, and what the rate earns meanwhile (one token per 1000 s).
        let bound = 8 + started.elapsed().as_secs() / 1000 + 1;
        assert!(tokens <= bound, "{tokens} tokens admitted, bound {bound}");
        if in_flight == 3 && tokens >= 8 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet's limits were never all handed out: {in_flight} slots, {tokens} tokens"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Redis holds the leases on the bulkhead's node.
    let leased: u32 = cluster
        .node(0)
        .command(&["ZCARD", slots_key])
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert_eq!(leased, 3);
    drop(held);
    first_fleet.detach().await;
    second_fleet.detach().await;
}

/// One node of three stopped (the one the replicas listen on): the operations on its slots fail
/// at the operation timeout, as an outage logged once; the replicas listen on another node; the
/// breakers and limits whose keys are on the other nodes stay the fleet's; no call waits.
#[tokio::test(flavor = "current_thread")]
async fn a_stopped_node_is_an_outage_for_its_slots_alone() {
    let _serial = SERIAL.lock().await;
    let mut cluster = RedisCluster::start(3);
    let (events, _capture) = support::capture();
    // tier4 on node 0 (stopped below), tier1 on node 1, tier2 on node 2; the bulkhead on node 1.
    for (name, node) in [("tier4", 0), ("tier1", 1), ("tier2", 2)] {
        assert_eq!(cluster.node_of(&state_key("outage", name)), node, "{name}");
    }
    assert_eq!(
        cluster.node_of("resilience:{outage:bulkhead:zoho_org}:slots"),
        1
    );
    let replica = || {
        let manager = Arc::new(CircuitBreakerManager::new());
        for name in ["tier4", "tier1", "tier2"] {
            manager
                .register(
                    CircuitBreaker::builder(name)
                        .failure_threshold(1)
                        .recovery_timeout(Duration::from_secs(60)),
                )
                .unwrap();
        }
        let bulkhead = manager
            .register_bulkhead(Bulkhead::builder("zoho_org").max_concurrent(4))
            .unwrap();
        let fleet = Fleet::builder()
            .cluster(cluster.urls())
            .namespace("outage")
            .manager(Arc::clone(&manager))
            .expected_replicas(2) // 2 slots of the bulkhead's 4 while it cannot ask
            .op_timeout(Duration::from_millis(500))
            .reconcile_interval(Duration::from_millis(50))
            .probe_lease(Duration::from_secs(5))
            .attach()
            .unwrap();
        (manager, bulkhead, fleet)
    };
    let (first, first_bulkhead, first_fleet) = replica();
    let (second, _second_bulkhead, second_fleet) = replica();
    first_fleet.ready().await;
    second_fleet.ready().await;
    assert!(first_fleet.is_reachable());
    // Both listen on the first node given.
    eventually("both replicas subscribed", || {
        subscribers(&cluster) == 2
            && cluster
                .node(0)
                .command(&["CLIENT", "LIST", "TYPE", "pubsub"])
                .lines()
                .count()
                == 2
    })
    .await;

    cluster.node_mut(0).stop();
    // An operation on the stopped node's slots gives up at its timeout, with the node's key.
    let error = tokio::time::timeout(Duration::from_secs(5), first_fleet.shared_state("tier4"))
        .await
        .expect("an operation never waits beyond its timeout")
        .unwrap_err();
    assert!(
        matches!(&error, FleetError::NodeUnreachable { key, .. } if key.contains("outage:tier4")),
        "{error}"
    );
    eventually("the outage", || !first_fleet.is_reachable()).await;
    assert_eq!(first_fleet.outages(), 1);
    eventually(
        "both replicas subscribed again, on the nodes that run",
        || subscribers(&cluster) == 2,
    )
    .await;

    // Calls go on, on every breaker, whatever the fleet's task is doing.
    let breakers: Vec<_> = ["tier4", "tier1", "tier2"]
        .map(|name| first.get(name).unwrap())
        .to_vec();
    for _ in 0..50 {
        for breaker in &breakers {
            assert!(breaker.call(|| async { Ok::<_, &str>(()) }).await.is_ok());
        }
        tokio::task::yield_now().await;
    }
    // tier1's keys are on a node that answers: its open reaches the other replica.
    let r = breakers[1].call(|| async { Err::<(), _>("down") }).await;
    assert!(matches!(r, Err(CallError::Failed(_))));
    let second_tier1 = second.get("tier1").unwrap();
    eventually("tier1 open on the second replica", || {
        second_tier1.state() == CircuitState::Open
    })
    .await;
    let shared = first_fleet.shared_state("tier1").await.unwrap();
    assert!(
        matches!(shared.state, FleetState::Open { .. }),
        "{shared:?}"
    );
    // tier4's keys are on the stopped node: it decides alone, and opens on its own failure.
    let r = breakers[0].call(|| async { Err::<(), _>("down") }).await;
    assert!(matches!(r, Err(CallError::Failed(_))));
    assert_eq!(breakers[0].state(), CircuitState::Open);
    // The bulkhead's keys are on a node that answers: its slots are still the fleet's (more
    // than its local share of 2, once the other replica's spare is given back).
    let mut permits = Vec::new();
    eventually("3 slots of the fleet's 4 on the first replica", || {
        if let Ok(permit) = first_bulkhead.try_acquire() {
            permits.push(permit);
        }
        permits.len() >= 3
    })
    .await;

    // Many reconciliations later, the outage is still one, logged once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(first_fleet.outages(), 1);
    assert_eq!(second_fleet.outages(), 1);
    let logged = events.named("fleet_unreachable");
    assert_eq!(logged.len(), 2, "once per replica: {:?}", events.names());
    for event in &logged {
        assert_eq!(event.level, tracing::Level::WARN);
        assert_eq!(event.field("redis"), cluster.urls().join(","));
        // The error names the key whose node did not answer.
        assert!(
            event.field("error").contains("{outage:tier4}"),
            "{:?}",
            event.fields
        );
    }
    assert!(events.named("fleet_reconnected").is_empty());
    assert!(events.named("fleet_bad_value").is_empty());
    drop(permits);
    first_fleet.detach().await;
    second_fleet.detach().await;
}

/// One node frozen (connections open, no answers): a script that the other nodes have not
/// run yet loads and runs on them all the same, its load sent to its key's node alone (not to
/// every node, the frozen one included), and the frozen node's slots give up at the operation
/// timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_leaves_the_other_nodes_scripts_working() {
    let _serial = SERIAL.lock().await;
    let cluster = RedisCluster::start(3);
    // tier4 on node 0 (frozen below), tier1 on node 1.
    assert_eq!(cluster.node_of(&state_key("outage", "tier4")), 0);
    assert_eq!(cluster.node_of(&state_key("outage", "tier1")), 1);
    let replica = || {
        let manager = Arc::new(CircuitBreakerManager::new());
        for name in ["tier4", "tier1"] {
            manager
                .register(
                    CircuitBreaker::builder(name)
                        .failure_threshold(1)
                        .recovery_timeout(Duration::from_secs(60)),
                )
                .unwrap();
        }
        let fleet = Fleet::builder()
            .cluster(cluster.urls())
            .namespace("outage")
            .manager(Arc::clone(&manager))
            .op_timeout(Duration::from_millis(200))
            .reconcile_interval(Duration::from_millis(50))
            .probe_lease(Duration::from_secs(5))
            .attach()
            .unwrap();
        (manager, fleet)
    };
    let (first, first_fleet) = replica();
    let (second, second_fleet) = replica();
    first_fleet.ready().await;
    second_fleet.ready().await;
    assert!(first_fleet.is_reachable());

    cluster.node(0).pause();
    // No breaker opened yet: the script that opens one has run on no node.
    let tier1 = first.get("tier1").unwrap();
    let r = tier1.call(|| async { Err::<(), _>("down") }).await;
    assert!(matches!(r, Err(CallError::Failed(_))));
    let second_tier1 = second.get("tier1").unwrap();
    eventually("tier1 open on the second replica", || {
        second_tier1.state() == CircuitState::Open
    })
    .await;
    let shared = first_fleet.shared_state("tier1").await.unwrap();
    assert!(
        matches!(shared.state, FleetState::Open { .. }),
        "{shared:?}"
    );
    let error = tokio::time::timeout(Duration::from_secs(5), first_fleet.shared_state("tier4"))
        .await
        .expect("an operation never waits beyond its timeout")
        .unwrap_err();
    assert!(
        matches!(&error, FleetError::NodeUnreachable { key, .. } if key.contains("outage:tier4")),
        "{error}"
    );
    assert!(!first_fleet.is_reachable());
    // Scripts were loaded on tier1's node, and none on node 2, which serves no key here.
    let loads = |node: usize| {
        let stats = cluster.node(node).command(&["INFO", "commandstats"]);
        stats.contains("cmdstat_script|load:")
    };
    assert!(loads(1));
    assert!(
        !loads(2),
        "a script was loaded on a node that serves none of its keys"
    );
    cluster.node(0).resume();
    first_fleet.detach().await;
    second_fleet.detach().await;
}

/// Every node stopped, then started again (from its cluster configuration, empty): one outage,
/// logged once; when the nodes answer again it ends, and the open a replica decided alone
/// meanwhile reaches the fleet.
#[tokio::test(flavor = "current_thread")]
async fn a_cluster_stopped_and_started_again_is_one_outage_and_the_fleet_is_shared_again() {
    let _serial = SERIAL.lock().await;
    let mut cluster = RedisCluster::start(3);
    let (events, _capture) = support::capture();
    let replica = || {
        let manager = Arc::new(CircuitBreakerManager::new());
        let breaker = manager
            .register(
                CircuitBreaker::builder("tier1")
                    .failure_threshold(1)
                    .recovery_timeout(Duration::from_secs(60)),
            )
            .unwrap();
        let fleet = Fleet::builder()
            .cluster(cluster.urls())
            .namespace("restart")
            .manager(manager)
            .op_timeout(Duration::from_millis(500))
            .reconcile_interval(Duration::from_millis(50))
            .probe_lease(Duration::from_secs(5))
            .attach()
            .unwrap();
        (breaker, fleet)
    };
    let (first, first_fleet) = replica();
    let (second, second_fleet) = replica();
    first_fleet.ready().await;
    second_fleet.ready().await;
    assert!(first_fleet.is_reachable());

    for i in 0..3 {
        cluster.node_mut(i).stop();
    }
    eventually("the outage", || !first_fleet.is_reachable()).await;
    let r = first.call(|| async { Err::<(), _>("down") }).await;
    assert!(matches!(r, Err(CallError::Failed(_))));
    assert_eq!(first.state(), CircuitState::Open, "decided alone");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(second.state(), CircuitState::Closed);

    for i in 0..3 {
        cluster.restart(i);
    }
    eventually("reachable again", || first_fleet.is_reachable()).await;
    eventually(
        "the open made during the outage reaches the other replica",
        || second.state() == CircuitState::Open,
    )
    .await;
    assert_eq!(first_fleet.outages(), 1);
    let unreachable = events.named("fleet_unreachable");
    assert_eq!(
        unreachable.len(),
        2,
        "once per replica: {:?}",
        events.names()
    );
    eventually("both reconnected", || {
        events.named("fleet_reconnected").len() == 2
    })
    .await;

    // A breaker no replica follows, read once while its node is down: the outage ends when
    // that node answers again, though no operation of the fleet's is on its slots.
    assert_eq!(cluster.node_of(&state_key("restart", "tier1")), 1);
    assert_eq!(cluster.node_of(&state_key("restart", "elsewhere")), 2);
    cluster.node_mut(2).stop();
    let error = first_fleet.shared_state("elsewhere").await.unwrap_err();
    assert!(
        matches!(error, FleetError::NodeUnreachable { .. }),
        "{error}"
    );
    assert!(!first_fleet.is_reachable());
    assert_eq!(first_fleet.outages(), 2);
    cluster.restart(2);
    eventually("reachable once the node answers", || {
        first_fleet.is_reachable()
    })
    .await;
    first_fleet.detach().await;
    second_fleet.detach().await;
}

/// A cluster's node list that cannot work is an error naming the setting or the variable and
/// the list, its passwords masked; so is a list in the environment beside a single URL.
#[tokio::test]
async fn a_cluster_node_list_that_does_not_parse_is_an_error_naming_it() {
    let _serial = SERIAL.lock().await;
    let manager = Arc::new(CircuitBreakerManager::new());
    let builder = || Fleet::builder().manager(Arc::clone(&manager));
    let error = |b: resilience::fleet::FleetBuilder| b.attach().unwrap_err().to_string();

    let bad = error(builder().cluster(["redis://:s3cret@127.0.0.1:7000", "http://cache:7001"]));
    assert!(
        bad.starts_with(
            "invalid cluster = redis://:***@127.0.0.1:7000,http://cache:7001 for the fleet: node 2 (http://cache:7001) is not a Redis URL"
        ),
        "{bad}"
    );
    assert!(!bad.contains("s3cret"), "{bad}");
    let shown = format!(
        "{:?}",
        builder().cluster(["redis://:s3cret@127.0.0.1:7000"])
    );
    assert!(
        shown.contains("redis://:***@127.0.0.1:7000") && !shown.contains("s3cret"),
        "{shown}"
    );
    let empty = error(builder().cluster(Vec::<String>::new()));
    assert!(
        empty.starts_with("invalid cluster =  for the fleet: no node"),
        "{empty}"
    );

    // SAFETY: the tests of this binary run one at a time (SERIAL), and only this one reads or
    // writes the process environment's fleet variables.
    unsafe {
        std::env::remove_var("RESILIENCE_REDIS_URL");
        std::env::set_var(
            "RESILIENCE_REDIS_CLUSTER",
            "redis://app:s3cret@127.0.0.1:7000,,redis://127.0.0.1:7002",
        );
    }
    let bad_env = error(builder());
    assert!(
        bad_env.starts_with(
            r#"invalid environment variable RESILIENCE_REDIS_CLUSTER="redis://app:***@127.0.0.1:7000,,redis://127.0.0.1:7002": node 2 is empty"#
        ),
        "{bad_env}"
    );
    assert!(!bad_env.contains("s3cret"), "{bad_env}");
    // SAFETY: as above.
    unsafe { std::env::set_var("RESILIENCE_REDIS_CLUSTER", "redis://127.0.0.1:7000/2") };
    let db = error(builder());
    assert!(
        db.starts_with(
            r#"invalid environment variable RESILIENCE_REDIS_CLUSTER="redis://127.0.0.1:7000/2": node 1 (redis://127.0.0.1:7000/2)"#
        ),
        "{db}"
    );
    // SAFETY: as above.
    unsafe {
        std::env::set_var("RESILIENCE_REDIS_CLUSTER", "redis://127.0.0.1:7000");
        std::env::set_var("RESILIENCE_REDIS_URL", "redis://127.0.0.1:6379");
    }
    let both = error(builder());
    assert!(
        both.starts_with(
            r#"invalid environment variable RESILIENCE_REDIS_CLUSTER="redis://127.0.0.1:7000": "#
        ) && both.contains("RESILIENCE_REDIS_URL"),
        "{both}"
    );
    // SAFETY: as above.
    unsafe { std::env::remove_var("RESILIENCE_REDIS_URL") };
    // A good list attaches (without waiting for the cluster, down here).
    let fleet = builder().attach().expect("a good list");
    assert!(!fleet.is_reachable());
    // SAFETY: as above.
    unsafe { std::env::remove_var("RESILIENCE_REDIS_CLUSTER") };
    drop(fleet);
}
