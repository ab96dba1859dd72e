//! The health monitor: schedule, timeouts, panics, start/stop, status aggregation, breaker link.

mod support;

use std::future::{Future, pending};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use resilience::health::{HealthMonitor, HealthMonitorBuilder, OverallStatus, UnknownTier};
use resilience::{CircuitBreaker, CircuitBreakerManager, CircuitState, ConfigError, config};
use tokio::time::{Instant, advance, sleep};

/// Lets every ready task run (spawned checks, the background task) without moving the clock.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// A check that counts its calls and passes.
fn counting(
    calls: &Arc<AtomicUsize>,
) -> impl Fn() -> std::future::Ready<Result<(), String>> + Send + Sync + use<> {
    let calls = Arc::clone(calls);
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(()))
    }
}

type BoxedCheck = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A check that passes while `up` is true, after `delay`, and fails with "connection refused"
/// otherwise.
fn switch(up: &Arc<AtomicBool>, delay: Duration) -> impl Fn() -> BoxedCheck + Send + Sync + use<> {
    let up = Arc::clone(up);
    move || {
        let up = up.load(Ordering::SeqCst);
        Box::pin(async move {
            sleep(delay).await;
            if up {
                Ok(())
            } else {
                Err("connection refused".to_owned())
            }
        })
    }
}

fn ok() -> std::future::Ready<Result<(), std::io::Error>> {
    std::future::ready(Ok(()))
}

fn monitor_30s() -> HealthMonitorBuilder {
    HealthMonitor::builder().check_interval(Duration::from_secs(30))
}

// --- schedule --------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn first_round_is_immediate_then_one_per_interval() {
    let calls = Arc::new(AtomicUsize::new(0));
    let monitor = monitor_30s()
        .tier("tier1_mcp", counting(&calls))
        .build()
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing runs before start");
    assert!(monitor.start());
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "first round at 0 s");

    advance(Duration::from_secs(29)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "nothing before 30 s");
    advance(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "second round at 30 s");
    advance(Duration::from_secs(30)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 3, "third round at 60 s");
    advance(Duration::from_secs(30)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 4, "fourth round at 90 s");
    assert!(monitor.status().all_healthy);
    assert!(monitor.stop().await);
}

#[tokio::test]
async fn defaults_come_from_the_environment_settings() {
    let monitor = HealthMonitor::builder()
        .tier("tier1_mcp", ok)
        .build()
        .unwrap();
    let interval = config::settings().health.check_interval;
    assert_eq!(monitor.check_interval(), interval);
    assert_eq!(monitor.timeout(), interval.min(Duration::from_secs(10)));

    // The timeout never defaults above the interval...
    let short = HealthMonitor::builder()
        .tier("tier1_mcp", ok)
        .check_interval(Duration::from_secs(4))
        .build()
        .unwrap();
    assert_eq!(short.timeout(), Duration::from_secs(4));
    let long = monitor_30s().tier("tier1_mcp", ok).build().unwrap();
    assert_eq!(long.timeout(), Duration::from_secs(10));
    // ...but an explicit one is kept.
    let explicit = monitor_30s()
        .tier("tier1_mcp", ok)
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    assert_eq!(explicit.timeout(), Duration::from_millis(1500));
    assert_eq!(
        explicit.tier_names().collect::<Vec<_>>(),
        ["tier1_mcp"],
        "tier names in order"
    );
}

// --- timeouts and panics ---------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_hanging_check_times_out_and_the_others_are_still_checked() {
    let up = Arc::new(AtomicBool::new(true));
    let monitor = monitor_30s()
        .tier("tier1_mcp", pending::<Result<(), String>>)
        .tier("tier2_sdk", switch(&up, Duration::from_secs(3)))
        .build()
        .unwrap();
    let began = Instant::now();
    let health = monitor.check_all().await;
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(10),
        "bounded by the timeout"
    );

    let tier1 = &health.tiers["tier1_mcp"];
    assert!(!tier1.healthy);
    assert_eq!(tier1.last_error.as_deref(), Some("timed out after 10s"));
    assert_eq!(tier1.latency, Some(Duration::from_secs(10)));
    assert_eq!(tier1.consecutive_failures, 1);
    let tier2 = &health.tiers["tier2_sdk"];
    assert!(tier2.healthy);
    assert_eq!(tier2.latency, Some(Duration::from_secs(3)));
    assert_eq!(health.status, OverallStatus::Degraded);

    let custom = monitor_30s()
        .tier("tier1_mcp", pending::<Result<(), String>>)
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let tier1 = custom.check_tier("tier1_mcp").await.unwrap();
    assert_eq!(
        tier1.last_error.as_deref(),
        Some("timed out after 1s 500ms")
    );
}

#[tokio::test(start_paused = true)]
async fn checks_of_one_round_run_concurrently() {
    let up = Arc::new(AtomicBool::new(true));
    let monitor = monitor_30s()
        .tier("tier1_mcp", switch(&up, Duration::from_secs(5)))
        .tier("tier2_sdk", switch(&up, Duration::from_secs(5)))
        .tier("tier3_rest", switch(&up, Duration::from_secs(5)))
        .build()
        .unwrap();
    let began = Instant::now();
    let health = monitor.check_all().await;
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(5),
        "not 15 s: concurrent"
    );
    assert!(health.all_healthy);
    for tier in health.tiers.values() {
        assert_eq!(tier.latency, Some(Duration::from_secs(5)));
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_check_is_unhealthy_and_the_monitor_keeps_running() {
    let calls = Arc::new(AtomicUsize::new(0));
    let in_future = Arc::clone(&calls);
    let in_call = Arc::new(AtomicBool::new(true));
    let panic_in_call = Arc::clone(&in_call);
    let monitor = monitor_30s()
        .tier("tier1_mcp", move || {
            in_future.fetch_add(1, Ordering::SeqCst);
            async {
                if true {
                    panic!("boom");
                }
                Ok::<(), String>(())
            }
        })
        .tier("tier2_sdk", move || {
            if panic_in_call.load(Ordering::SeqCst) {
                panic!("no client for tier {}", 2);
            }
            ok()
        })
        .tier("tier3_rest", ok)
        .build()
        .unwrap();
    assert!(monitor.start());
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let health = monitor.status();
    assert_eq!(
        health.tiers["tier1_mcp"].last_error.as_deref(),
        Some("check panicked: boom")
    );
    assert_eq!(
        health.tiers["tier2_sdk"].last_error.as_deref(),
        Some("check panicked: no client for tier 2")
    );
    assert!(!health.tiers["tier1_mcp"].healthy);
    assert!(health.tiers["tier3_rest"].healthy);
    assert_eq!(health.status, OverallStatus::Degraded);

    // The next round still happens.
    in_call.store(false, Ordering::SeqCst);
    advance(Duration::from_secs(30)).await;
    settle().await;
    assert!(monitor.is_running());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let health = monitor.status();
    assert_eq!(health.tiers["tier1_mcp"].consecutive_failures, 2);
    assert!(
        health.tiers["tier2_sdk"].healthy,
        "recovered once it stopped panicking"
    );
    assert!(monitor.stop().await);
}

// --- start, stop, drop -----------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn stop_ends_the_task_and_start_stop_are_idempotent() {
    let calls = Arc::new(AtomicUsize::new(0));
    let monitor = monitor_30s()
        .tier("tier1_mcp", counting(&calls))
        .build()
        .unwrap();
    assert!(!monitor.is_running());
    assert!(!monitor.stop().await, "stopping a monitor never started");

    assert!(monitor.start());
    assert!(!monitor.start(), "second start does nothing");
    settle().await;
    assert!(monitor.is_running());
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one task, one first round");

    assert!(monitor.stop().await);
    assert!(!monitor.is_running());
    assert!(!monitor.stop().await, "second stop does nothing");
    advance(Duration::from_secs(90)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no round after stop");

    // It can be started again; the new task begins with a round.
    assert!(monitor.start());
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    advance(Duration::from_secs(30)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(monitor.stop().await);
}

#[tokio::test(start_paused = true)]
async fn stop_does_not_wait_for_a_hanging_check() {
    let in_flight = Arc::new(());
    let held = Arc::clone(&in_flight);
    let monitor = monitor_30s()
        .tier("tier1_mcp", move || {
            let guard = Arc::clone(&held);
            async move {
                let _guard = guard;
                pending::<Result<(), String>>().await
            }
        })
        .build()
        .unwrap();
    assert!(monitor.start());
    settle().await;
    assert_eq!(
        Arc::strong_count(&in_flight),
        3,
        "test, closure, running check"
    );

    let began = Instant::now();
    assert!(monitor.stop().await);
    assert_eq!(
        began.elapsed(),
        Duration::ZERO,
        "the check was cancelled, not awaited"
    );
    settle().await;
    assert_eq!(
        Arc::strong_count(&in_flight),
        2,
        "the check's future was dropped"
    );
    assert_eq!(monitor.status().tiers["tier1_mcp"].last_check, None);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_monitor_stops_its_task() {
    let calls = Arc::new(AtomicUsize::new(0));
    let monitor = monitor_30s()
        .tier("tier1_mcp", counting(&calls))
        .build()
        .unwrap();
    assert!(monitor.start());
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(Arc::strong_count(&calls), 2, "test and the check closure");

    drop(monitor);
    settle().await;
    assert_eq!(
        Arc::strong_count(&calls),
        1,
        "the task let go of the checks"
    );
    advance(Duration::from_secs(90)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no round after drop");
}

// --- status ----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn status_aggregates_the_tiers() {
    let tier1 = Arc::new(AtomicBool::new(true));
    let tier2 = Arc::new(AtomicBool::new(true));
    let monitor = monitor_30s()
        .tier("tier1_mcp", switch(&tier1, Duration::from_millis(250)))
        .tier("tier2_sdk", switch(&tier2, Duration::from_millis(40)))
        .manager(Arc::new(CircuitBreakerManager::new()))
        .build()
        .unwrap();

    // Unknown before any check.
    let before = monitor.status();
    assert!(!before.all_healthy);
    assert_eq!(before.status, OverallStatus::Unhealthy);
    assert_eq!(before.checked_at, None);
    for tier in before.tiers.values() {
        assert!(!tier.healthy);
        assert_eq!(tier.last_check, None);
        assert_eq!(tier.latency, None);
        assert_eq!(tier.consecutive_failures, 0);
        assert_eq!(tier.last_error, None);
        assert_eq!(tier.breaker_state, None);
    }

    // All healthy.
    let health = monitor.check_all().await;
    assert!(health.all_healthy);
    assert_eq!(health.status, OverallStatus::Healthy);
    assert_eq!(
        health.tiers.keys().collect::<Vec<_>>(),
        ["tier1_mcp", "tier2_sdk"]
    );
    assert_eq!(
        health.tiers["tier1_mcp"].latency,
        Some(Duration::from_millis(250))
    );
    assert_eq!(
        health.tiers["tier2_sdk"].latency,
        Some(Duration::from_millis(40))
    );
    assert!(health.checked_at.is_some());
    assert_eq!(
        health.checked_at,
        health.tiers.values().filter_map(|t| t.last_check).max()
    );
    assert_eq!(
        monitor.status(),
        health,
        "status() returns what was recorded"
    );

    // One failing: degraded, failures counted.
    tier2.store(false, Ordering::SeqCst);
    let health = monitor.check_all().await;
    assert!(!health.all_healthy);
    assert_eq!(health.status, OverallStatus::Degraded);
    let sdk = &health.tiers["tier2_sdk"];
    assert!(!sdk.healthy);
    assert_eq!(sdk.consecutive_failures, 1);
    assert_eq!(sdk.last_error.as_deref(), Some("connection refused"));
    assert_eq!(sdk.latency, Some(Duration::from_millis(40)));
    let health = monitor.check_all().await;
    assert_eq!(health.tiers["tier2_sdk"].consecutive_failures, 2);
    assert_eq!(health.tiers["tier1_mcp"].consecutive_failures, 0);

    // None healthy.
    tier1.store(false, Ordering::SeqCst);
    let health = monitor.check_all().await;
    assert_eq!(health.status, OverallStatus::Unhealthy);
    assert_eq!(health.tiers["tier1_mcp"].consecutive_failures, 1);
    assert_eq!(health.tiers["tier2_sdk"].consecutive_failures, 3);

    // A success resets the count and the error.
    tier2.store(true, Ordering::SeqCst);
    let sdk = monitor.check_tier("tier2_sdk").await.unwrap();
    assert!(sdk.healthy);
    assert_eq!(sdk.consecutive_failures, 0);
    assert_eq!(sdk.last_error, None);
    assert_eq!(monitor.status().status, OverallStatus::Degraded);
}

#[tokio::test]
async fn check_tier_checks_one_tier_and_rejects_unknown_names() {
    let calls1 = Arc::new(AtomicUsize::new(0));
    let calls2 = Arc::new(AtomicUsize::new(0));
    let monitor = monitor_30s()
        .tier("tier1_mcp", counting(&calls1))
        .tier("tier2_sdk", counting(&calls2))
        .build()
        .unwrap();
    let tier2 = monitor.check_tier("tier2_sdk").await.unwrap();
    assert!(tier2.healthy);
    assert!(tier2.last_check.is_some());
    assert_eq!(calls1.load(Ordering::SeqCst), 0);
    assert_eq!(calls2.load(Ordering::SeqCst), 1);
    assert_eq!(
        monitor.status().status,
        OverallStatus::Degraded,
        "tier1 unknown"
    );

    let err: UnknownTier = monitor.check_tier("tier9_fax").await.unwrap_err();
    assert_eq!(err.tier(), "tier9_fax");
    assert_eq!(
        err.to_string(),
        "no health check is registered for tier 'tier9_fax'"
    );
    assert_eq!(
        calls1.load(Ordering::SeqCst) + calls2.load(Ordering::SeqCst),
        1
    );
}

// --- breakers --------------------------------------------------------------------------------

#[tokio::test]
async fn breaker_state_comes_from_the_linked_manager() {
    let manager = Arc::new(CircuitBreakerManager::new());
    let breaker = manager
        .register(CircuitBreaker::builder("tier1_mcp").ignore_env())
        .unwrap();
    let monitor = monitor_30s()
        .tier("tier1_mcp", ok)
        .tier("tier2_sdk", ok)
        .manager(Arc::clone(&manager))
        .build()
        .unwrap();
    let status = monitor.status();
    assert_eq!(
        status.tiers["tier1_mcp"].breaker_state,
        Some(CircuitState::Closed)
    );
    assert_eq!(status.tiers["tier2_sdk"].breaker_state, None, "no breaker");

    breaker.force_open();
    assert_eq!(
        monitor.status().tiers["tier1_mcp"].breaker_state,
        Some(CircuitState::ForcedOpen)
    );
    manager
        .register(CircuitBreaker::builder("tier2_sdk").ignore_env())
        .unwrap();
    let tier2 = monitor.check_tier("tier2_sdk").await.unwrap();
    assert_eq!(tier2.breaker_state, Some(CircuitState::Closed));
}

#[tokio::test]
async fn without_a_manager_the_global_registry_is_linked() {
    let name = "health_test_global_link";
    resilience::registry()
        .register(CircuitBreaker::builder(name).ignore_env())
        .unwrap();
    let global = HealthMonitor::builder().tier(name, ok).build().unwrap();
    assert_eq!(
        global.status().tiers[name].breaker_state,
        Some(CircuitState::Closed)
    );
    let private = HealthMonitor::builder()
        .tier(name, ok)
        .manager(Arc::new(CircuitBreakerManager::new()))
        .build()
        .unwrap();
    assert_eq!(private.status().tiers[name].breaker_state, None);
}

/// A manager with `tier1_mcp` tripped open (one failure, 60 s recovery).
fn open_breaker() -> (Arc<CircuitBreakerManager>, Arc<CircuitBreaker>) {
    let manager = Arc::new(CircuitBreakerManager::new());
    let breaker = manager
        .register(
            CircuitBreaker::builder("tier1_mcp")
                .ignore_env()
                .failure_threshold(1)
                .recovery_timeout(Duration::from_secs(60)),
        )
        .unwrap();
    breaker.try_acquire().unwrap().record_failure();
    assert_eq!(breaker.state(), CircuitState::Open);
    (manager, breaker)
}

#[tokio::test(start_paused = true)]
async fn the_probe_link_half_opens_an_open_breaker_after_a_passed_check() {
    let (manager, breaker) = open_breaker();
    let up = Arc::new(AtomicBool::new(false));
    let monitor = monitor_30s()
        .tier("tier1_mcp", switch(&up, Duration::ZERO))
        .manager(Arc::clone(&manager))
        .probe_breakers(true)
        .build()
        .unwrap();

    // A failed check leaves it open.
    let tier = monitor.check_tier("tier1_mcp").await.unwrap();
    assert_eq!(tier.breaker_state, Some(CircuitState::Open));
    assert_eq!(breaker.state(), CircuitState::Open);

    // A passed check lets it probe now, long before its 60 s recovery timeout.
    up.store(true, Ordering::SeqCst);
    let tier = monitor.check_tier("tier1_mcp").await.unwrap();
    assert!(tier.healthy);
    assert_eq!(tier.breaker_state, Some(CircuitState::HalfOpen));
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    assert!(breaker.try_acquire().is_ok(), "a probe call is admitted");

    // A breaker forced open by an operator is left alone.
    breaker.force_open();
    monitor.check_all().await;
    assert_eq!(breaker.state(), CircuitState::ForcedOpen);
}

#[tokio::test(start_paused = true)]
async fn without_the_probe_link_an_open_breaker_stays_open() {
    let (manager, breaker) = open_breaker();
    let monitor = monitor_30s()
        .tier("tier1_mcp", ok)
        .manager(manager)
        .build()
        .unwrap();
    let tier = monitor.check_tier("tier1_mcp").await.unwrap();
    assert!(tier.healthy);
    assert_eq!(tier.breaker_state, Some(CircuitState::Open));
    assert_eq!(breaker.state(), CircuitState::Open);
    assert!(breaker.try_acquire().is_err());
}

// --- configuration ---------------------------------------------------------------------------

fn invalid(err: &ConfigError) -> (&'static str, &str) {
    match err {
        ConfigError::InvalidSetting { setting, value, .. } => (setting, value),
        other => panic!("expected InvalidSetting, got {other:?}"),
    }
}

#[test]
fn invalid_settings_are_rejected() {
    let err = monitor_30s()
        .tier("tier1_mcp", ok)
        .check_interval(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(invalid(&err), ("check_interval", "0s"));
    assert_eq!(
        err.to_string(),
        "invalid check_interval = 0s for health monitor: must be greater than zero"
    );

    let err = monitor_30s()
        .tier("tier1_mcp", ok)
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(invalid(&err), ("timeout", "0s"));
    assert_eq!(
        err.to_string(),
        "invalid timeout = 0s for health monitor: must be greater than zero"
    );

    let err = monitor_30s()
        .tier("tier1_mcp", ok)
        .check_interval(Duration::from_secs(366 * 24 * 3600))
        .build()
        .unwrap_err();
    assert_eq!(invalid(&err), ("check_interval", "31622400s"));
    assert!(
        err.to_string().ends_with("must be at most 365 days"),
        "{err}"
    );

    let err = monitor_30s().build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tiers = 0 for health monitor: at least one tier check is needed"
    );

    let err = monitor_30s()
        .tier("tier1_mcp", ok)
        .tier("tier1_mcp", ok)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid tier = "tier1_mcp" for health monitor: registered twice"#
    );

    let err = monitor_30s().tier("tier-1", ok).build().unwrap_err();
    assert_eq!(invalid(&err), ("tier", r#""tier-1""#));
    assert!(err.to_string().contains("found '-'"), "{err}");
}

// --- sharing ---------------------------------------------------------------------------------

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_is_shared_across_tasks() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    send_sync_static::<HealthMonitor>();

    struct McpClient {
        pings: AtomicUsize,
    }
    impl McpClient {
        async fn ping(&self) -> Result<(), std::io::Error> {
            self.pings.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(())
        }
    }
    let mcp = Arc::new(McpClient {
        pings: AtomicUsize::new(0),
    });
    let monitor = Arc::new(
        monitor_30s()
            .tier_with("tier1_mcp", Arc::clone(&mcp), |mcp| async move {
                mcp.ping().await
            })
            .build()
            .unwrap(),
    );

    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let monitor = Arc::clone(&monitor);
            tokio::spawn(async move { monitor.check_all().await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().all_healthy);
    }
    assert_eq!(mcp.pings.load(Ordering::SeqCst), 4);

    let m = Arc::clone(&monitor);
    let tier = tokio::spawn(assert_send(async move { m.check_tier("tier1_mcp").await }))
        .await
        .unwrap()
        .unwrap();
    assert!(tier.healthy);
    let m = Arc::clone(&monitor);
    assert!(tokio::spawn(async move { m.start() }).await.unwrap());
    let m = Arc::clone(&monitor);
    assert!(
        tokio::spawn(assert_send(async move { m.stop().await }))
            .await
            .unwrap()
    );
    assert!(mcp.pings.load(Ordering::SeqCst) >= 5);
}

// --- events ----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn failures_and_recoveries_are_traced() {
    let (events, _guard) = support::capture();
    let up = Arc::new(AtomicBool::new(true));
    let monitor = monitor_30s()
        .tier("tier2_sdk", switch(&up, Duration::ZERO))
        .build()
        .unwrap();
    monitor.check_all().await; // passes: not a recovery
    up.store(false, Ordering::SeqCst);
    monitor.check_all().await;
    monitor.check_all().await;
    up.store(true, Ordering::SeqCst);
    monitor.check_all().await;
    monitor.check_all().await; // still passing: no event

    assert_eq!(
        events.names(),
        [
            "health_check_failed",
            "health_check_failed",
            "tier_recovered"
        ]
    );
    let failed = events.named("health_check_failed");
    assert_eq!(failed[0].level, tracing::Level::WARN);
    assert_eq!(failed[0].field("tier"), "tier2_sdk");
    assert_eq!(failed[0].field("error"), "connection refused");
    assert_eq!(failed[0].field("consecutive_failures"), "1");
    assert_eq!(failed[1].field("consecutive_failures"), "2");
    let recovered = &events.named("tier_recovered")[0];
    assert_eq!(recovered.level, tracing::Level::INFO);
    assert_eq!(recovered.field("tier"), "tier2_sdk");
}

// --- serde -----------------------------------------------------------------------------------

#[cfg(feature = "serde")]
#[tokio::test(start_paused = true)]
async fn status_serialises_to_the_guides_shape() {
    let manager = Arc::new(CircuitBreakerManager::new());
    manager
        .register(CircuitBreaker::builder("tier1_mcp").ignore_env())
        .unwrap();
    let down = Arc::new(AtomicBool::new(false));
    let monitor = monitor_30s()
        .tier("tier1_mcp", ok)
        .tier("tier2_sdk", switch(&down, Duration::from_millis(1500)))
        .manager(manager)
        .build()
        .unwrap();
    let unknown = serde_json::to_value(monitor.status()).unwrap();
    assert_eq!(unknown["status"], "unhealthy");
    assert_eq!(unknown["checked_at"], serde_json::Value::Null);
    assert_eq!(
        unknown["tiers"]["tier2_sdk"]["last_check"],
        serde_json::Value::Null
    );

    let json = serde_json::to_value(monitor.check_all().await).unwrap();
    assert_eq!(json["all_healthy"], false);
    assert_eq!(json["status"], "degraded");
    assert!(json["checked_at"].as_str().unwrap().ends_with('Z'));
    let tier1 = &json["tiers"]["tier1_mcp"];
    assert_eq!(tier1["healthy"], true);
    assert_eq!(tier1["breaker_state"], "closed");
    assert_eq!(tier1["last_error"], serde_json::Value::Null);
    let tier2 = &json["tiers"]["tier2_sdk"];
    assert_eq!(tier2["healthy"], false);
    assert_eq!(tier2["latency_seconds"], 1.5);
    assert_eq!(tier2["consecutive_failures"], 1);
    assert_eq!(tier2["last_error"], "connection refused");
    assert_eq!(tier2["breaker_state"], serde_json::Value::Null);
    assert!(tier2["last_check"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        json.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["all_healthy", "checked_at", "status", "tiers"]
    );
}
