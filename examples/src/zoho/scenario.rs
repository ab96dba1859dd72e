//! The scripted scenario: four phases that fail the tiers one after the other while requests
//! keep coming, and the [`Report`] of what happened.
//!
//! | phase | tier 1 (MCP) | tier 2 (SDK) | tier 3 (REST) | who should serve |
//! |---|---|---|---|---|
//! | 1. all healthy | healthy | healthy | healthy | tier 1 |
//! | 2. tier 1 outage | HTTP 503 | healthy | healthy | tier 2, once tier 1's breaker opens |
//! | 3. tier 2 degrades | connection refused | too slow | healthy | tier 3, once tier 2's breaker opens |
//! | 4. recovery | healthy | healthy | healthy | tier 1 again, after its half-open probes |
//!
//! Requests are issued one at a time, one every [`ScenarioConfig::interval`] (a request that
//! takes longer delays the next), [`ScenarioConfig::requests_per_phase`] per phase. The last
//! phase then runs on until tier 1's breaker is closed and tier 1 served the last
//! [`ScenarioConfig::settle_requests`] requests, for [`ScenarioConfig::settle_timeout`] at most,
//! so that the end shows the recovery however the timing fell.
//!
//! A [`HealthMonitor`] checks the three `/health` routes in the background and, with
//! `probe_breakers`, lets an open breaker probe as soon as its tier passes a check.
//!
//! No request is lost: each is served by one tier or ends as all-tiers-failed, and
//! [`Scenario::run`] fails with [`ScenarioError::Accounting`] if the counts do not add up.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use resilience::{CircuitState, HealthMonitor, Metrics, StateChange, TierHealth};
use serde::{Serialize, Serializer};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::{Instant, MissedTickBehavior};

use super::burst::{self, BurstReport};
use super::client::{ZohoClient, traced};
use super::org::OrgLimits;
use super::report::secs;
pub use super::report::{
    Outcome, PhaseReport, Report, RequestRecord, ScenarioError, ServerTally, Tally, TierCounts,
    TimedChange,
};
use super::server::{FakeServer, FaultMode, ServerConfig};
use super::{Account, TierId};

// ---------------------------------------------------------------------------------------------
// Configuration and plan
// ---------------------------------------------------------------------------------------------

/// The settings of a [`Scenario`].
///
/// ```
/// use std::time::Duration;
/// use resilience_examples::zoho::ScenarioConfig;
///
/// let quick = ScenarioConfig {
///     requests_per_phase: 8,
///     interval: Duration::from_millis(50),
///     ..ScenarioConfig::default()
/// };
/// assert_eq!(quick.planned_requests(), 32);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioConfig {
    /// Requests issued in each phase (the last phase may add a few; see `settle_requests`).
    /// Default 30.
    pub requests_per_phase: usize,
    /// Time between the starts of two requests. Default 100 ms.
    #[serde(serialize_with = "secs")]
    pub interval: Duration,
    /// The fraction of account requests that a healthy tier still fails (HTTP 503), from 0.0
    /// to 1.0. Default 0.05.
    pub fault_rate: f64,
    /// The seed of those background faults. Default 42.
    pub seed: u64,
    /// The client's request timeout. Default 300 ms.
    #[serde(serialize_with = "secs")]
    pub client_timeout: Duration,
    /// How late a slow tier answers (unless its mode changes first). Default 5 s.
    #[serde(serialize_with = "secs")]
    pub slow_delay: Duration,
    /// Time between two rounds of health checks. Default 1 s.
    #[serde(serialize_with = "secs")]
    pub health_interval: Duration,
    /// The last phase ends once tier 1 served this many requests in a row, its breaker closed.
    /// Default 3.
    pub settle_requests: usize,
    /// The longest the last phase runs past its `requests_per_phase`. Default 10 s.
    #[serde(serialize_with = "secs")]
    pub settle_timeout: Duration,
    /// Requests started together after the four phases, against the organisation's limits
    /// (see [`burst`]); 0 for none. Default 200.
    pub burst: usize,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        Self {
            requests_per_phase: 30,
            interval: Duration::from_millis(100),
            fault_rate: 0.05,
            seed: 42,
            client_timeout: Duration::from_millis(300),
            slow_delay: Duration::from_secs(5),
            health_interval: Duration::from_secs(1),
            settle_requests: 3,
            settle_timeout: Duration::from_secs(10),
            burst: 200,
        }
    }
}

impl ScenarioConfig {
    /// The requests the plan issues, before any the last phase adds.
    pub fn planned_requests(&self) -> usize {
        self.requests_per_phase * Phase::plan().len()
    }
}

/// One phase of the scenario: the fault mode of each tier, and the tier expected to serve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    /// A short name: `all healthy`, `tier1 outage`, ...
    pub name: &'static str,
    /// What happens, in a sentence.
    pub story: &'static str,
    /// The fault mode of each tier, in the order of [`TierId::ALL`]. Serialises as a map by
    /// breaker name.
    #[serde(serialize_with = "modes_by_tier")]
    pub modes: [FaultMode; 3],
    /// The tier that should be serving by the end of the phase.
    pub expected: TierId,
    /// Whether the phase runs on until tier 1 has taken the traffic back.
    pub settles: bool,
}

impl Phase {
    /// The four phases, in order.
    pub fn plan() -> Vec<Phase> {
        use FaultMode::{Failing, Healthy, Refusing, Slow};
        vec![
            Phase {
                name: "all healthy",
                story: "every tier answers; tier1 (MCP) serves",
                modes: [Healthy, Healthy, Healthy],
                expected: TierId::Mcp,
                settles: false,
            },
            Phase {
                name: "tier1 outage",
                story: "MCP answers HTTP 503; its breaker opens and tier2 (SDK) serves",
                modes: [Failing, Healthy, Healthy],
                expected: TierId::Sdk,
                settles: false,
            },
            Phase {
                name: "tier2 degrades",
                story: "MCP is down (connection refused), SDK is too slow; tier3 (REST) serves",
                modes: [Refusing, Slow, Healthy],
                expected: TierId::Rest,
                settles: false,
            },
            Phase {
                name: "recovery",
                story: "MCP and SDK are back; half-open probes close the breakers, tier1 serves",
                modes: [Healthy, Healthy, Healthy],
                expected: TierId::Mcp,
                settles: true,
            },
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// Live state
// ---------------------------------------------------------------------------------------------

/// One tier, as the live view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TierView {
    /// The tier.
    pub tier: TierId,
    /// Its server's address.
    pub addr: String,
    /// Its server's fault mode.
    pub mode: FaultMode,
    /// Its breaker's metrics; `None` until the first call through it creates it.
    pub metrics: Option<Metrics>,
    /// Its last health check.
    pub health: Option<TierHealth>,
    /// Account requests its server received.
    pub received: usize,
}

/// Where the scenario is: what the live view draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Time since the scenario started (zero before).
    pub elapsed: Duration,
    /// The current phase, 1 to 4; 0 before the first.
    pub phase: usize,
    /// The phases.
    pub plan: Vec<Phase>,
    /// Requests issued in the current phase so far.
    pub phase_requests: usize,
    /// Requests per phase.
    pub requests_per_phase: usize,
    /// Whether every phase is done.
    pub finished: bool,
    /// Each tier, in order.
    pub tiers: Vec<TierView>,
    /// Every request so far, in order.
    pub requests: Vec<RequestRecord>,
    /// Every state change so far, in order.
    pub changes: Vec<TimedChange>,
    /// When each phase started, since the scenario started.
    pub phase_starts: Vec<Duration>,
}

impl Snapshot {
    /// The requests so far: who served how many.
    pub fn tally(&self) -> Tally {
        Tally::count(&self.requests)
    }

    /// The requests the plan issues, before any the last phase adds.
    pub fn planned_requests(&self) -> usize {
        self.requests_per_phase * self.plan.len()
    }
}

/// What the runner and the live handles share.
struct Progress {
    clock: Option<(Instant, SystemTime)>,
    phase: usize,
    phase_requests: usize,
    phase_starts: Vec<Duration>,
    requests: Vec<RequestRecord>,
    changes: Vec<TimedChange>,
    missed_changes: u64,
    subscription: broadcast::Receiver<StateChange>,
    finished: bool,
}

impl Progress {
    fn elapsed(&self) -> Duration {
        self.clock.map(|(t, _)| t.elapsed()).unwrap_or_default()
    }

    /// Takes in the state changes published since the last call.
    fn drain_changes(&mut self) {
        loop {
            match self.subscription.try_recv() {
                Ok(change) => {
                    if TierId::from_breaker(&change.circuit_breaker).is_none() {
                        continue;
                    }
                    let start = self.clock.map_or(change.at, |(_, wall)| wall);
                    self.changes.push(TimedChange {
                        since_start: change.at.duration_since(start).unwrap_or_default(),
                        change,
                    });
                }
                Err(TryRecvError::Lagged(n)) => self.missed_changes += n,
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }
}

struct Shared {
    servers: Vec<FakeServer>,
    monitor: HealthMonitor,
    progress: Mutex<Progress>,
    plan: Vec<Phase>,
    requests_per_phase: usize,
}

impl Shared {
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handle on a running [`Scenario`], for drawing it: cheap to clone, usable from any task.
#[derive(Clone)]
pub struct Live {
    shared: Arc<Shared>,
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Live {
    /// Where the scenario is now.
    pub fn snapshot(&self) -> Snapshot {
        let health = self.shared.monitor.status();
        let tiers = self
            .shared
            .servers
            .iter()
            .map(|server| {
                let tier = server.tier();
                TierView {
                    tier,
                    addr: server.addr().to_string(),
                    mode: server.mode(),
                    metrics: resilience::registry()
                        .get(tier.breaker())
                        .map(|b| b.metrics()),
                    health: health.tiers.get(tier.breaker()).cloned(),
                    received: server.received(),
                }
            })
            .collect();
        let mut progress = self.shared.progress();
        progress.drain_changes();
        Snapshot {
            elapsed: progress.elapsed(),
            phase: progress.phase,
            plan: self.shared.plan.clone(),
            phase_requests: progress.phase_requests,
            requests_per_phase: self.shared.requests_per_phase,
            finished: progress.finished,
            tiers,
            requests: progress.requests.clone(),
            changes: progress.changes.clone(),
            phase_starts: progress.phase_starts.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------

/// The Zoho stand-in, the client and the health monitor, ready to play the four phases.
///
/// The client's breakers live in the global registry, so run one scenario per process.
///
/// ```no_run
/// use resilience_examples::zoho::{Scenario, ScenarioConfig};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let scenario = Scenario::start(ScenarioConfig::default()).await?;
/// let live = scenario.live(); // for a view: live.snapshot() from another task
/// let report = scenario.run().await?;
/// println!("{} requests, {} served by tier 1", report.requests.issued, report.requests.served.tier1_mcp);
/// # Ok(())
/// # }
/// ```
pub struct Scenario {
    config: ScenarioConfig,
    client: Arc<ZohoClient>,
    org: Arc<OrgLimits>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("config", &self.config)
            .field("servers", &self.shared.servers)
            .finish_non_exhaustive()
    }
}

impl Scenario {
    /// Starts the three fake tiers (healthy), builds the client and the health monitor, and
    /// subscribes to the breakers' state changes. Nothing is requested yet.
    pub async fn start(config: ScenarioConfig) -> Result<Scenario, ScenarioError> {
        let org = Arc::new(OrgLimits::demo());
        let mut servers = Vec::with_capacity(3);
        for tier in TierId::ALL {
            let server = FakeServer::start(ServerConfig {
                tier,
                fault_rate: config.fault_rate,
                // One generator per tier, each seeded from the scenario's seed.
                seed: config.seed.wrapping_add(u64::from(tier.number())),
                slow_delay: config.slow_delay,
                org: Some(Arc::clone(&org)),
                ..ServerConfig::new(tier)
            })
            .await
            .map_err(|source| ScenarioError::Server { tier, source })?;
            servers.push(server);
        }
        let base_urls = TierId::ALL.map(|t| servers[t.index()].base_url());
        let client = Arc::new(ZohoClient::new(base_urls, config.client_timeout)?);

        let mut health = HealthMonitor::builder();
        for tier in TierId::ALL {
            health = health.tier_with(
                tier.breaker(),
                Arc::clone(&client),
                move |client| async move { client.ping(tier).await },
            );
        }
        let monitor = health
            .check_interval(config.health_interval)
            .timeout(config.client_timeout * 2)
            .probe_breakers(true)
            .build()?;

        let progress = Progress {
            clock: None,
            phase: 0,
            phase_requests: 0,
            phase_starts: Vec::new(),
            requests: Vec::new(),
            changes: Vec::new(),
            missed_changes: 0,
            subscription: resilience::registry().subscribe(),
            finished: false,
        };
        let shared = Arc::new(Shared {
            servers,
            monitor,
            progress: Mutex::new(progress),
            plan: Phase::plan(),
            requests_per_phase: config.requests_per_phase,
        });
        Ok(Scenario {
            config,
            client,
            org,
            shared,
        })
    }

    /// A handle for drawing the scenario while it runs.
    pub fn live(&self) -> Live {
        Live {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The client, e.g. to make a request of your own.
    pub fn client(&self) -> &ZohoClient {
        &self.client
    }

    /// The organisation's limits, as the three fake servers enforce them.
    pub fn org(&self) -> &OrgLimits {
        &self.org
    }

    /// The fake server of `tier`.
    pub fn server(&self, tier: TierId) -> &FakeServer {
        &self.shared.servers[tier.index()]
    }

    /// Plays the four phases, then stops the health monitor and the servers and reports.
    ///
    /// Fails only if a server cannot bind its port again after refusing, or with
    /// [`ScenarioError::Accounting`] if a request was lost.
    pub async fn run(self) -> Result<Report, ScenarioError> {
        let outcome = self.play().await;
        let burst = match outcome {
            Ok(()) if self.config.burst > 0 => self.burst().await.map(Some),
            Ok(()) => Ok(None),
            Err(e) => Err(e),
        };
        self.shared.monitor.stop().await;
        for server in &self.shared.servers {
            server.shutdown().await;
        }
        let burst = burst?;
        let mut report = self.report();
        report.burst = burst;
        report.check_accounting()?;
        Ok(report)
    }

    async fn play(&self) -> Result<(), ScenarioError> {
        let start = Instant::now();
        self.shared.progress().clock = Some((start, SystemTime::now()));
        self.shared.monitor.start();

        let mut ticks = tokio::time::interval(self.config.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut seq = 0;
        for (index, phase) in self.shared.plan.iter().enumerate() {
            self.set_modes(phase.modes).await?;
            {
                let mut progress = self.shared.progress();
                progress.phase = index + 1;
                progress.phase_requests = 0;
                progress.phase_starts.push(start.elapsed());
            }
            let phase_started = Instant::now();
            let mut issued = 0;
            loop {
                if issued >= self.config.requests_per_phase
                    && (!phase.settles
                        || self.settled()
                        || phase_started.elapsed() >= self.config.settle_timeout)
                {
                    break;
                }
                ticks.tick().await;
                seq += 1;
                issued += 1;
                let record = self.request(seq, index + 1, start).await;
                let mut progress = self.shared.progress();
                progress.requests.push(record);
                progress.phase_requests = issued;
                progress.drain_changes();
            }
        }
        let mut progress = self.shared.progress();
        progress.drain_changes();
        progress.finished = true;
        Ok(())
    }

    /// Every tier busy, then the burst.
    async fn burst(&self) -> Result<BurstReport, ScenarioError> {
        self.set_modes([burst::MODE; 3]).await?;
        Ok(burst::run(&self.client, &self.org, self.config.burst).await)
    }

    async fn set_modes(&self, modes: [FaultMode; 3]) -> Result<(), ScenarioError> {
        for (server, mode) in self.shared.servers.iter().zip(modes) {
            server
                .set_mode(mode)
                .await
                .map_err(|source| ScenarioError::Server {
                    tier: server.tier(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Whether tier 1 has taken the traffic back: its breaker closed and it served the last
    /// `settle_requests` requests.
    fn settled(&self) -> bool {
        let closed = resilience::registry()
            .get(TierId::Mcp.breaker())
            .is_some_and(|b| b.state() == CircuitState::Closed);
        let progress = self.shared.progress();
        let recent = &progress.requests;
        closed
            && recent.len() >= self.config.settle_requests
            && recent
                .iter()
                .rev()
                .take(self.config.settle_requests)
                .all(|r| r.served_by() == Some(TierId::Mcp))
    }

    async fn request(&self, seq: usize, phase: usize, start: Instant) -> RequestRecord {
        let account_id = format!("ACC-{seq:04}");
        let issued = Instant::now();
        let (result, attempts) = traced(self.client.get_account(&account_id)).await;
        let outcome = match result {
            Ok(Account { served_by, .. }) => Outcome::Served(served_by),
            Err(e) if e.is_all_tiers_failed() => Outcome::AllTiersFailed(e.to_string()),
            Err(e) => Outcome::Error(e.to_string()),
        };
        RequestRecord {
            seq,
            phase,
            account_id,
            at: issued.duration_since(start),
            latency: issued.elapsed(),
            outcome,
            attempts,
        }
    }

    fn report(&self) -> Report {
        let mut progress = self.shared.progress();
        progress.drain_changes();
        let elapsed = progress.elapsed();
        let log = progress.requests.clone();
        let changes = progress.changes.clone();

        let phases = self
            .shared
            .plan
            .iter()
            .enumerate()
            .map(|(index, phase)| {
                let records: Vec<RequestRecord> = log
                    .iter()
                    .filter(|r| r.phase == index + 1)
                    .cloned()
                    .collect();
                let started = progress.phase_starts.get(index).copied().unwrap_or(elapsed);
                let ended = progress
                    .phase_starts
                    .get(index + 1)
                    .copied()
                    .unwrap_or(elapsed);
                PhaseReport {
                    number: index + 1,
                    phase: phase.clone(),
                    started,
                    duration: ended.saturating_sub(started),
                    requests: Tally::count(&records),
                    last_served_by: records.last().and_then(RequestRecord::served_by),
                }
            })
            .collect();

        let servers = self
            .shared
            .servers
            .iter()
            .map(|server| {
                let tier = server.tier();
                let mut tally = ServerTally {
                    injected_faults: server.injected_faults(),
                    ..ServerTally::default()
                };
                for arrival in server.arrivals() {
                    tally.received += 1;
                    match state_at(&changes, tier.breaker(), arrival) {
                        CircuitState::Open | CircuitState::ForcedOpen => tally.while_open += 1,
                        CircuitState::HalfOpen => tally.while_half_open += 1,
                        CircuitState::Closed | CircuitState::Disabled => tally.while_closed += 1,
                    }
                }
                (tier.breaker().to_owned(), tally)
            })
            .collect();

        let metrics = TierId::ALL
            .into_iter()
            .filter_map(|t| {
                let breaker = resilience::registry().get(t.breaker())?;
                Some((t.breaker().to_owned(), breaker.metrics()))
            })
            .collect();

        Report {
            config: self.config.clone(),
            duration: elapsed,
            requests: Tally::count(&log),
            phases,
            state_changes: changes,
            missed_state_changes: progress.missed_changes,
            metrics,
            servers,
            health: self.shared.monitor.status(),
            burst: None,
            log,
        }
    }
}

/// The state of `breaker` at `at`, by the timeline: closed before its first change.
fn state_at(changes: &[TimedChange], breaker: &str, at: SystemTime) -> CircuitState {
    changes
        .iter()
        .rev()
        .find(|c| c.breaker() == breaker && c.change.at <= at)
        .map_or(CircuitState::Closed, |c| c.change.new_state)
}

fn modes_by_tier<S: Serializer>(modes: &[FaultMode; 3], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(
        TierId::ALL
            .into_iter()
            .map(|t| (t.breaker(), modes[t.index()])),
    )
}
