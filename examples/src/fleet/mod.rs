//! The Zoho client run as a fleet: several replicas (OS processes) sharing their breakers
//! through Redis ([`resilience::fleet`]), in front of one Zoho stand-in with the
//! organisation's limits.
//!
//! * [`replica`]: one replica, a child process driven by lines on stdin.
//! * [`FleetScenario`]: starts Redis (or uses [`REDIS_URL_VAR`]), the three tiers and the
//!   replicas, plays tier 1 failing and recovering and a burst, and reports a [`FleetReport`].
//! * [`measure`]: how long an open takes to reach every replica, and the Redis commands that
//!   healthy calls cost.
//! * [`view`]: the fleet's bulkhead slots and rate-limiter credits as Redis holds them, read
//!   for the live view by the demo's own process, which serves no calls.
//!
//! Requests reach the replicas one at a time, in turn, as through a load balancer. What the
//! report counts happens at the Zoho stand-in: the account requests tier 1 received while it
//! failed, before every replica's breaker was open, and while it recovered, before every
//! replica's breaker was closed again.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use resilience::fleet::REDIS_URL_VAR;
use resilience_test_support::RedisServer;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::Instant;

use crate::zoho::TierId;
use crate::zoho::org::OrgLimits;
use crate::zoho::report::secs;
use crate::zoho::server::{FakeServer, FaultMode, ServerConfig};

pub mod replica;
pub mod view;

pub use view::{LimitsReader, LimitsView};

/// The breaker each replica registers for [`measure`]: opens at one failure, for a minute.
pub const PROPAGATION_BREAKER: &str = "fleet_propagation";

/// Tier 1's breaker settings, as the client's attribute writes them.
pub const TIER1_THRESHOLD: u32 = 5;
/// Tier 1's half-open probes, as the client's attribute writes them.
pub const TIER1_HALF_OPEN: u32 = 3;

/// The longest a replica may take to answer a command (a `wait` answers within its own bound).
const ANSWER: Duration = Duration::from_secs(20);

/// How often the live view draws a frame during the burst.
const BURST_FRAME: Duration = Duration::from_millis(200);

/// What a replica process needs, passed on its command line after `--replica`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSettings {
    /// The Redis URL.
    pub redis: String,
    /// The fleet's namespace.
    pub namespace: String,
    /// The base URLs of the three tiers, in the order of [`TierId::ALL`].
    pub tiers: [String; 3],
    /// The client's request timeout.
    pub client_timeout: Duration,
    /// The fleet's reconciliation interval (the probe leases last ten of them).
    pub reconcile_interval: Duration,
    /// The timeout of each Redis operation.
    pub op_timeout: Duration,
    /// Whether the replica attaches to the fleet (`false`: its breakers decide alone).
    pub fleet: bool,
    /// How many replicas the fleet has: while Redis is unreachable, each runs on this share
    /// of the organisation's limits.
    pub replicas: u32,
}

impl ReplicaSettings {
    /// The arguments that [`parse`](Self::parse) reads back.
    pub fn to_args(&self) -> Vec<String> {
        let ms = |d: Duration| d.as_millis().to_string();
        let mut args = vec![
            "--redis".into(),
            self.redis.clone(),
            "--namespace".into(),
            self.namespace.clone(),
            "--tiers".into(),
            self.tiers.join(","),
            "--client-timeout-ms".into(),
            ms(self.client_timeout),
            "--reconcile-ms".into(),
            ms(self.reconcile_interval),
            "--op-timeout-ms".into(),
            ms(self.op_timeout),
            "--replicas".into(),
            self.replicas.to_string(),
        ];
        if !self.fleet {
            args.extend(["--fleet".into(), "off".into()]);
        }
        args
    }

    /// Reads the arguments of [`to_args`](Self::to_args); an error names the flag and value.
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_examples::fleet::ReplicaSettings;
    ///
    /// let settings = ReplicaSettings {
    ///     redis: "redis://127.0.0.1:6379/".into(),
    ///     namespace: "demo".into(),
    ///     tiers: ["http://a".into(), "http://b".into(), "http://c".into()],
    ///     client_timeout: Duration::from_millis(300),
    ///     reconcile_interval: Duration::from_secs(1),
    ///     op_timeout: Duration::from_millis(100),
    ///     fleet: true,
    ///     replicas: 4,
    /// };
    /// assert_eq!(ReplicaSettings::parse(&settings.to_args()), Ok(settings));
    /// let error = ReplicaSettings::parse(&["--reconcile-ms".into(), "soon".into()]).unwrap_err();
    /// assert!(error.contains("--reconcile-ms") && error.contains("soon"), "{error}");
    /// ```
    pub fn parse(args: &[String]) -> Result<ReplicaSettings, String> {
        let (mut redis, mut namespace, mut tiers) = (None, None, None);
        let mut client_timeout = Duration::from_millis(300);
        let mut reconcile_interval = Duration::from_secs(1);
        let mut op_timeout = Duration::from_millis(100);
        let mut fleet = true;
        let mut replicas = 1;
        let mut pairs = args.chunks(2);
        for pair in &mut pairs {
            let [flag, value] = pair else {
                return Err(format!("{pair:?}: every flag takes a value"));
            };
            let ms = || {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|&ms| ms > 0)
                    .map(Duration::from_millis)
                    .ok_or_else(|| format!("{flag} {value:?}: not a positive number of ms"))
            };
            match flag.as_str() {
                "--redis" => redis = Some(value.clone()),
                "--namespace" => namespace = Some(value.clone()),
                "--tiers" => {
                    let urls: Vec<String> = value.split(',').map(str::to_owned).collect();
                    let urls: [String; 3] = urls
                        .try_into()
                        .map_err(|_| format!("--tiers {value:?}: three URLs, comma-separated"))?;
                    tiers = Some(urls);
                }
                "--client-timeout-ms" => client_timeout = ms()?,
                "--reconcile-ms" => reconcile_interval = ms()?,
                "--op-timeout-ms" => op_timeout = ms()?,
                "--replicas" => {
                    replicas = value
                        .parse::<u32>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("--replicas {value:?}: a positive number"))?;
                }
                "--fleet" => {
                    fleet = match value.as_str() {
                        "on" => true,
                        "off" => false,
                        _ => return Err(format!("--fleet {value:?}: on or off")),
                    }
                }
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        Ok(ReplicaSettings {
            redis: redis.ok_or("--redis is missing")?,
            namespace: namespace.ok_or("--namespace is missing")?,
            tiers: tiers.ok_or("--tiers is missing")?,
            client_timeout,
            reconcile_interval,
            op_timeout,
            fleet,
            replicas,
        })
    }
}

/// What can stop the fleet demo.
#[derive(Debug, thiserror::Error)]
pub enum FleetDemoError {
    /// No Redis: neither [`REDIS_URL_VAR`] nor a `redis-server` to start.
    #[error("no Redis for the fleet: {0}")]
    Redis(String),
    /// A tier's server could not start or bind its port again.
    #[error("{tier}'s server: {source}")]
    Server {
        /// The tier.
        tier: TierId,
        /// Why.
        source: std::io::Error,
    },
    /// A replica did not start, answer, or answered something unexpected.
    #[error("replica {replica}: {message}")]
    Replica {
        /// The replica's number, from 1.
        replica: usize,
        /// What went wrong.
        message: String,
    },
    /// The client could not be built.
    #[error("the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Redis for the demo: the server at [`REDIS_URL_VAR`] if set, else a `redis-server` started
/// on a free loopback port (stopped when this is dropped).
#[derive(Debug)]
pub struct DemoRedis {
    url: String,
    _server: Option<RedisServer>,
}

impl DemoRedis {
    /// Uses [`REDIS_URL_VAR`], or starts `redis-server` (an error with the install hint
    /// when there is none).
    pub fn start() -> Result<DemoRedis, FleetDemoError> {
        if let Ok(url) = std::env::var(REDIS_URL_VAR) {
            return Ok(DemoRedis { url, _server: None });
        }
        let server = RedisServer::try_start().map_err(FleetDemoError::Redis)?;
        Ok(DemoRedis {
            url: server.url(),
            _server: Some(server),
        })
    }

    /// The URL the replicas use.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the demo started this server itself.
    pub fn is_own(&self) -> bool {
        self._server.is_some()
    }
}

/// A replica process, killed when dropped (also when the demo is interrupted or panics), and
/// ending by itself when its stdin closes.
pub struct ReplicaProcess {
    number: usize,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl std::fmt::Debug for ReplicaProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaProcess")
            .field("number", &self.number)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl ReplicaProcess {
    /// Starts `program args... --replica <settings>`; the program runs [`replica::serve`]
    /// when it sees `--replica`. Its stderr (the library's logs) goes to the demo's.
    pub fn spawn(
        number: usize,
        program: &PathBuf,
        args: &[String],
        settings: &ReplicaSettings,
    ) -> Result<ReplicaProcess, FleetDemoError> {
        let mut child = Command::new(program)
            .args(args)
            .arg("--replica")
            .args(settings.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| FleetDemoError::Replica {
                replica: number,
                message: format!("{} did not start: {e}", program.display()),
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(FleetDemoError::Replica {
                replica: number,
                message: "no pipes".into(),
            });
        };
        Ok(ReplicaProcess {
            number,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    fn error(&self, message: impl Into<String>) -> FleetDemoError {
        FleetDemoError::Replica {
            replica: self.number,
            message: message.into(),
        }
    }

    /// Sends one command without waiting for its answer.
    pub async fn send(&mut self, command: &str) -> Result<(), FleetDemoError> {
        let line = format!("{command}\n");
        match tokio::time::timeout(ANSWER, self.stdin.write_all(line.as_bytes())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.error(format!("{command:?} not sent: {e}"))),
            Err(_) => Err(self.error(format!("{command:?} not sent within {ANSWER:?}"))),
        }
    }

    /// The answer to the oldest command sent and not yet answered.
    pub async fn answer(&mut self) -> Result<String, FleetDemoError> {
        match tokio::time::timeout(ANSWER, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => Err(self.error("exited")),
            Ok(Err(e)) => Err(self.error(e.to_string())),
            Err(_) => Err(self.error(format!("no answer within {ANSWER:?}"))),
        }
    }

    /// Sends a command and waits for its answer.
    pub async fn ask(&mut self, command: &str) -> Result<String, FleetDemoError> {
        self.send(command).await?;
        self.answer().await
    }

    /// Tells the replica to quit and waits (a moment at most) for it to end; kills it
    /// otherwise.
    pub async fn quit(mut self) {
        let _ = self.send("quit").await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Settings of a [`FleetScenario`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetConfig {
    /// Replica processes. Default 4.
    pub replicas: usize,
    /// Requests while every tier is healthy, before tier 1 fails. Default 8.
    pub warmup_requests: usize,
    /// Time between two requests. Default 50 ms.
    #[serde(serialize_with = "secs")]
    pub interval: Duration,
    /// The longest tier 1 fails (or recovers) before the phase gives up waiting for every
    /// replica's breaker to open (or close). Default 20 s.
    #[serde(serialize_with = "secs")]
    pub phase_timeout: Duration,
    /// Requests started together after recovery, spread over the replicas; 0 for none.
    /// Default 200.
    pub burst: usize,
    /// The client's request timeout. Default 300 ms.
    #[serde(serialize_with = "secs")]
    pub client_timeout: Duration,
    /// The fleet's reconciliation interval. Default 1 s.
    #[serde(serialize_with = "secs")]
    pub reconcile_interval: Duration,
    /// The timeout of each Redis operation. Default 100 ms (loopback, a busy machine).
    #[serde(serialize_with = "secs")]
    pub op_timeout: Duration,
    /// Whether the replicas attach to the fleet. Default `true`; `false` shows what each
    /// replica's breakers do alone.
    pub fleet: bool,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            replicas: 4,
            warmup_requests: 8,
            interval: Duration::from_millis(50),
            phase_timeout: Duration::from_secs(20),
            burst: 200,
            client_timeout: Duration::from_millis(300),
            reconcile_interval: Duration::from_secs(1),
            op_timeout: Duration::from_millis(100),
            fleet: true,
        }
    }
}

/// One replica's breakers, as the live view shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaView {
    /// The replica's number, from 1.
    pub replica: usize,
    /// Its three breakers' states, in the order of [`TierId::ALL`].
    pub breakers: [String; 3],
}

/// What the live view draws: the phase, each replica's breakers, the client's limits (the
/// fleet's, as Redis holds them, or each replica's), and the organisation's calls in flight
/// and credits as Zoho counts them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetFrame {
    /// Time since the scenario started.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    /// The phase.
    pub phase: &'static str,
    /// Each replica.
    pub replicas: Vec<ReplicaView>,
    /// The client's bulkhead and rate limiter.
    pub limits: LimitsView,
    /// The organisation's calls in flight now, and its limit.
    pub org_in_flight: (u32, u32),
    /// The organisation's credits spent in the current window, and its limit.
    pub org_credits: (u64, u64),
}

impl FleetFrame {
    /// One line: `[  1.2s] tier1 failing   r1 OCC  r2 ...  fleet 4/15 slots, 93/100 credits
    /// org 2/15 in flight, 120/400 credits` (`C` closed, `O` open, `H` half-open; the fleet's
    /// bulkhead slots leased and rate-limiter credits left, as Redis holds them).
    pub fn line(&self) -> String {
        let replicas: Vec<String> = self
            .replicas
            .iter()
            .map(|r| {
                let states: Vec<&str> = r.breakers.iter().map(|s| letter(s)).collect();
                format!("r{} {}", r.replica, states.join(""))
            })
            .collect();
        format!(
            "[{:>6.1}s] {:<16} {}  {}  org {}/{} in flight, {}/{} credits",
            self.elapsed.as_secs_f64(),
            self.phase,
            replicas.join("  "),
            self.limits.text(),
            self.org_in_flight.0,
            self.org_in_flight.1,
            self.org_credits.0,
            self.org_credits.1,
        )
    }
}

fn letter(state: &str) -> &'static str {
    match state {
        "closed" => "C",
        "open" => "O",
        "half_open" => "H",
        _ => "?",
    }
}

/// Tier 1 failing, as the fleet met it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Opening {
    /// Failed calls tier 1 received before the first replica's breaker opened.
    pub failed_before_first_open: usize,
    /// Failed calls tier 1 received before every replica's breaker was open.
    pub failed_before_all_open: usize,
    /// Whether every replica's breaker opened within the phase's timeout.
    pub all_opened: bool,
    /// Without the fleet: every replica fails `failure_threshold` calls on its own.
    pub without_fleet: usize,
}

/// Tier 1 recovering, as the fleet met it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Closing {
    /// Calls tier 1 received from its recovery until every replica's breaker was closed:
    /// the half-open probes.
    pub probes: usize,
    /// Whether every replica's breaker closed within the phase's timeout.
    pub all_closed: bool,
    /// The fleet's probe budget: `half_open_max_calls`.
    pub fleet_limit: u32,
    /// Without the fleet: every replica probes on its own, up to `half_open_max_calls` each.
    pub without_fleet: usize,
}

/// The burst, across the replicas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FleetBurst {
    /// Requests started together, spread over the replicas.
    pub issued: usize,
    /// Requests a tier served.
    pub served: usize,
    /// Requests the replicas' own limits shed.
    pub shed: usize,
    /// Requests that failed otherwise (a 429 from Zoho on every tier, say).
    pub failed: usize,
    /// Calls Zoho answered 429 `TOO_MANY_REQUESTS`.
    pub too_many_requests: u64,
    /// The most calls the organisation had in flight at once.
    pub peak_in_flight: u32,
    /// Whether the limits were the fleet's (one budget for all replicas) or each replica's.
    pub fleet_wide_limits: bool,
}

/// What the fleet demo reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReport {
    /// The settings.
    pub config: FleetConfig,
    /// The Redis URL, its password (if any) shown as `***`.
    pub redis: String,
    /// Requests sent to the replicas one at a time (the burst aside).
    pub requests: usize,
    /// Of those, served by each tier, in the order of [`TierId::ALL`].
    pub served: [usize; 3],
    /// Of those, failed on every tier.
    pub all_tiers_failed: usize,
    /// Of those, ended otherwise: lost. 0.
    pub lost: usize,
    /// Tier 1 failing.
    pub opening: Opening,
    /// Tier 1 recovering.
    pub closing: Closing,
    /// The burst, if any.
    pub burst: Option<FleetBurst>,
    /// How long the scenario took.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
}

impl FleetReport {
    /// The summary, as lines of text.
    pub fn summary(&self) -> Vec<String> {
        let o = &self.opening;
        let c = &self.closing;
        let n = self.config.replicas;
        let mut lines = vec![
            if self.config.fleet {
                format!(
                    "{n} replicas shared their breakers through {} for {:.1}s.",
                    self.redis,
                    self.duration.as_secs_f64()
                )
            } else {
                format!(
                    "{n} replicas, each breaker deciding alone (no fleet), for {:.1}s.",
                    self.duration.as_secs_f64()
                )
            },
            format!(
                "Tier 1 failing: {} failed calls before every replica's breaker was open \
                 ({} before the first opened); without the fleet {} \
                 ({n} replicas x threshold {TIER1_THRESHOLD}).{}",
                o.failed_before_all_open,
                o.failed_before_first_open,
                o.without_fleet,
                if o.all_opened { "" } else { " NOT ALL OPENED." }
            ),
            format!(
                "Tier 1 recovering: {} probes before every replica's breaker was closed \
                 (the fleet's budget: half_open_max_calls = {}); without the fleet up to {} \
                 ({n} x {TIER1_HALF_OPEN}).{}",
                c.probes,
                c.fleet_limit,
                c.without_fleet,
                if c.all_closed { "" } else { " NOT ALL CLOSED." }
            ),
            format!(
                "Requests: {} sent, served by tier 1/2/3: {}/{}/{}, all tiers failed: {}, lost: {}.",
                self.requests,
                self.served[0],
                self.served[1],
                self.served[2],
                self.all_tiers_failed,
                self.lost
            ),
        ];
        if let Some(b) = &self.burst {
            lines.push(format!(
                "Burst: {} requests at once over {n} replicas: {} served, {} shed, {} failed; \
                 Zoho answered 429 to {} calls (peak {} in flight, limit {}).",
                b.issued,
                b.served,
                b.shed,
                b.failed,
                b.too_many_requests,
                b.peak_in_flight,
                crate::zoho::org::MAX_CONCURRENT
            ));
            if !b.fleet_wide_limits {
                lines.push(
                    "  Each replica kept its own bulkhead and rate limiter, each sized for the \
                     whole organisation: together the replicas pass its limits, and Zoho \
                     answers 429. With the fleet, the client's bulkhead and rate limiter are \
                     the fleet's: one budget for every replica."
                        .to_owned(),
                );
            }
        }
        lines
    }
}

/// The demo: Redis, the three tiers with the organisation's limits, and the replicas.
pub struct FleetScenario {
    config: FleetConfig,
    redis: DemoRedis,
    org: Arc<OrgLimits>,
    servers: Vec<FakeServer>,
    replicas: Vec<ReplicaProcess>,
    /// Reads the client's limits for the live view.
    limits: LimitsReader,
    started: Instant,
    /// Called with every new frame of the live view.
    on_frame: Box<dyn FnMut(&FleetFrame) + Send>,
}

impl std::fmt::Debug for FleetScenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetScenario")
            .field("config", &self.config)
            .field("redis", &self.redis)
            .field("replicas", &self.replicas)
            .finish_non_exhaustive()
    }
}

impl FleetScenario {
    /// Starts Redis (see [`DemoRedis`]), the three tiers (healthy, no background faults) and
    /// `config.replicas` replicas, each `program args... --replica ...`.
    pub async fn start(
        config: FleetConfig,
        program: PathBuf,
        args: Vec<String>,
    ) -> Result<FleetScenario, FleetDemoError> {
        let redis = DemoRedis::start()?;
        let org = Arc::new(OrgLimits::demo());
        let mut servers = Vec::with_capacity(3);
        for tier in TierId::ALL {
            let server = FakeServer::start(ServerConfig {
                org: Some(Arc::clone(&org)),
                ..ServerConfig::new(tier)
            })
            .await
            .map_err(|source| FleetDemoError::Server { tier, source })?;
            servers.push(server);
        }
        let settings = ReplicaSettings {
            redis: redis.url().to_owned(),
            // One namespace per run: runs sharing a Redis do not share breakers.
            namespace: format!("zoho_fleet_{}", std::process::id()),
            tiers: TierId::ALL.map(|t| servers[t.index()].base_url()),
            client_timeout: config.client_timeout,
            reconcile_interval: config.reconcile_interval,
            op_timeout: config.op_timeout,
            fleet: config.fleet,
            replicas: u32::try_from(config.replicas).unwrap_or(u32::MAX),
        };
        let limits = LimitsReader::new(
            settings.fleet,
            &settings.redis,
            &settings.namespace,
            settings.op_timeout,
        )
        .map_err(|e| FleetDemoError::Redis(e.to_string()))?;
        let mut replicas = Vec::with_capacity(config.replicas);
        for number in 1..=config.replicas {
            replicas.push(ReplicaProcess::spawn(number, &program, &args, &settings)?);
        }
        Ok(FleetScenario {
            config,
            redis,
            org,
            servers,
            replicas,
            limits,
            started: Instant::now(),
            on_frame: Box::new(|_| {}),
        })
    }

    /// Calls `draw` with each new frame of the live view.
    pub fn on_frame(&mut self, draw: impl FnMut(&FleetFrame) + Send + 'static) {
        self.on_frame = Box::new(draw);
    }

    /// The replicas, e.g. for [`measure`].
    pub fn replicas(&mut self) -> &mut [ReplicaProcess] {
        &mut self.replicas
    }

    /// The Redis URL.
    pub fn redis_url(&self) -> &str {
        self.redis.url()
    }

    async fn set_mode(&self, tier: TierId, mode: FaultMode) -> Result<(), FleetDemoError> {
        self.servers[tier.index()]
            .set_mode(mode)
            .await
            .map_err(|source| FleetDemoError::Server { tier, source })
    }

    fn tier1_received(&self) -> usize {
        self.servers[TierId::Mcp.index()].received()
    }

    /// Every replica's three breakers, drawn as a frame.
    async fn frame(&mut self, phase: &'static str) -> Result<Vec<ReplicaView>, FleetDemoError> {
        let mut views = Vec::with_capacity(self.replicas.len());
        for r in &mut self.replicas {
            let mut breakers: [String; 3] = Default::default();
            for tier in TierId::ALL {
                breakers[tier.index()] = r.ask(&format!("state {}", tier.breaker())).await?;
            }
            views.push(ReplicaView {
                replica: r.number,
                breakers,
            });
        }
        self.draw(phase, views.clone()).await;
        Ok(views)
    }

    /// Draws a frame of the replicas' breakers `views`, with the limits read now.
    async fn draw(&mut self, phase: &'static str, views: Vec<ReplicaView>) {
        let limits = self.limits.read().await;
        let frame = FleetFrame {
            elapsed: self.started.elapsed(),
            phase,
            replicas: views,
            limits,
            org_in_flight: (self.org.in_flight(), self.org.max_concurrent()),
            org_credits: (self.org.credits_used(), self.org.credits()),
        };
        (self.on_frame)(&frame);
    }

    /// Waits (at most `timeout`) for tier 1's breaker to be `state` on every replica.
    async fn all_tier1(&mut self, state: &str, timeout: Duration) -> Result<bool, FleetDemoError> {
        let command = format!(
            "wait {} {state} {}",
            TierId::Mcp.breaker(),
            timeout.as_millis()
        );
        for r in &mut self.replicas {
            r.send(&command).await?;
        }
        let mut all = true;
        for r in &mut self.replicas {
            all &= r.answer().await? == "ok";
        }
        Ok(all)
    }

    /// Plays the scenario, then stops the replicas and the tiers (and Redis, when dropped).
    pub async fn run(mut self) -> Result<FleetReport, FleetDemoError> {
        let result = self.play().await;
        self.stop().await;
        result
    }

    /// Stops the replicas and the tiers (and Redis, when the demo started it).
    pub async fn stop(mut self) {
        for replica in std::mem::take(&mut self.replicas) {
            replica.quit().await;
        }
        for server in &self.servers {
            server.shutdown().await;
        }
    }

    async fn play(&mut self) -> Result<FleetReport, FleetDemoError> {
        let n = self.replicas.len();
        let mut report = FleetReport {
            config: self.config.clone(),
            redis: masked(self.redis.url()),
            requests: 0,
            served: [0; 3],
            all_tiers_failed: 0,
            lost: 0,
            opening: Opening {
                without_fleet: n * TIER1_THRESHOLD as usize,
                ..Opening::default()
            },
            closing: Closing {
                fleet_limit: TIER1_HALF_OPEN,
                without_fleet: n * TIER1_HALF_OPEN as usize,
                ..Closing::default()
            },
            burst: None,
            duration: Duration::ZERO,
        };
        let mut ticks = tokio::time::interval(self.config.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seq = 0;

        // 1. All healthy.
        for _ in 0..self.config.warmup_requests {
            ticks.tick().await;
            self.request(&mut seq, &mut report).await?;
        }
        self.frame("all healthy").await?;

        // 2. Tier 1 fails: requests go on, one replica after the other, until every
        //    replica's breaker is open.
        self.set_mode(TierId::Mcp, FaultMode::Failing).await?;
        let before = self.tier1_received();
        let deadline = Instant::now() + self.config.phase_timeout;
        let mut first_open = None;
        while Instant::now() < deadline {
            ticks.tick().await;
            self.request(&mut seq, &mut report).await?;
            let views = self.frame("tier1 failing").await?;
            let open = views.iter().filter(|v| v.breakers[0] == "open").count();
            if open > 0 && first_open.is_none() {
                // Requests go one at a time: none other is in flight now.
                first_open = Some(self.tier1_received() - before);
                // The fleet's open reaches the others in milliseconds: give it a moment,
                // bounded, before the next request (without the fleet they would wait in
                // vain, and fail on).
                if self.all_tier1("open", Duration::from_millis(500)).await? {
                    report.opening.all_opened = true;
                    break;
                }
            } else if open == n {
                report.opening.all_opened = true;
                break;
            }
        }
        report.opening.failed_before_all_open = self.tier1_received() - before;
        report.opening.failed_before_first_open =
            first_open.unwrap_or(report.opening.failed_before_all_open);
        self.frame("tier1 failing").await?;

        // 3. Tier 1 recovers: the breakers stay open until the fleet's deadline, then the
        //    fleet's probes close them.
        self.set_mode(TierId::Mcp, FaultMode::Healthy).await?;
        let before = self.tier1_received();
        let deadline = Instant::now() + self.config.phase_timeout;
        while Instant::now() < deadline {
            ticks.tick().await;
            self.request(&mut seq, &mut report).await?;
            let views = self.frame("tier1 recovering").await?;
            let closed = views.iter().filter(|v| v.breakers[0] == "closed").count();
            if closed > 0 && self.all_tier1("closed", Duration::from_millis(500)).await? {
                report.closing.all_closed = true;
                break;
            }
        }
        report.closing.probes = self.tier1_received() - before;
        let recovered = self.frame("tier1 recovered").await?;

        // 4. The burst: every tier busy, requests at once spread over the replicas.
        if self.config.burst > 0 {
            for tier in TierId::ALL {
                self.set_mode(tier, crate::zoho::burst::MODE).await?;
            }
            let refused_before = self.org.too_many_requests();
            let share = self.config.burst.div_ceil(n);
            let mut burst = FleetBurst {
                issued: 0,
                fleet_wide_limits: self.config.fleet,
                ..FleetBurst::default()
            };
            for r in &mut self.replicas {
                r.send(&format!("burst {share}")).await?;
                burst.issued += share;
            }
            // While the replicas are busy with the burst, frames show the limits at work
            // beside the breakers as last seen.
            let mut frames = tokio::time::interval(BURST_FRAME);
            for i in 0..n {
                let answer = loop {
                    tokio::select! {
                        answer = self.replicas[i].answer() => break answer?,
                        _ = frames.tick() => self.draw("burst", recovered.clone()).await,
                    }
                };
                let r = &self.replicas[i];
                let counts: Vec<usize> = answer.split(' ').filter_map(|c| c.parse().ok()).collect();
                let [served, shed, failed] = counts[..] else {
                    return Err(r.error(format!("burst answered {answer:?}")));
                };
                burst.served += served;
                burst.shed += shed;
                burst.failed += failed;
            }
            burst.too_many_requests = self.org.too_many_requests() - refused_before;
            burst.peak_in_flight = self.org.peak_concurrency();
            report.burst = Some(burst);
            self.frame("burst over").await?;
        }
        report.duration = self.started.elapsed();
        Ok(report)
    }

    /// One request, to the next replica in turn.
    async fn request(
        &mut self,
        seq: &mut usize,
        report: &mut FleetReport,
    ) -> Result<(), FleetDemoError> {
        let n = self.replicas.len();
        let replica = &mut self.replicas[*seq % n];
        *seq += 1;
        let answer = replica.ask(&format!("get ACC-{seq:04}")).await?;
        report.requests += 1;
        match TierId::from_breaker(&answer) {
            Some(tier) => report.served[tier.index()] += 1,
            None if answer == "all_failed" => report.all_tiers_failed += 1,
            None => report.lost += 1,
        }
        Ok(())
    }
}

/// The figures of [`measure`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurements {
    /// Rounds measured.
    pub rounds: usize,
    /// Rounds in which some replica never saw the open (within 5 s).
    pub missed: usize,
    /// From one replica's breaker opening to the last of the others opening: p50, in ms.
    pub propagation_p50_ms: f64,
    /// The same, p99, in ms.
    pub propagation_p99_ms: f64,
    /// The same, the longest, in ms.
    pub propagation_max_ms: f64,
    /// Healthy calls made through a closed breaker, across the replicas.
    pub healthy_calls: u64,
    /// Redis commands the server counted meanwhile (`INFO commandstats`, `INFO` itself
    /// aside).
    pub redis_commands: u64,
    /// Redis commands per 1,000 healthy calls.
    pub commands_per_1000_calls: f64,
    /// The mean time of one of those calls (a closed breaker around a future that succeeds
    /// at once), in ns.
    pub closed_call_ns: f64,
}

/// Measures, on the scenario's replicas: `rounds` times, one replica's
/// [`PROPAGATION_BREAKER`] opens and the time until every other replica's has opened is
/// taken from their state changes' timestamps (one host, one clock); then the breaker is
/// reset everywhere. Then `calls` healthy calls per replica, with the Redis commands counted
/// around them. Run it with a reconciliation interval longer than the measurement, so that
/// every command counted is the calls' doing. Without the fleet, only the calls are measured.
pub async fn measure(
    scenario: &mut FleetScenario,
    rounds: usize,
    calls: u64,
) -> Result<Measurements, FleetDemoError> {
    let name = PROPAGATION_BREAKER;
    let url = scenario.redis_url().to_owned();
    let scenario_fleet = scenario.config.fleet;
    let replicas = scenario.replicas();
    let n = replicas.len();
    let mut delays = Vec::with_capacity(rounds);
    let mut missed = 0;
    // Without the fleet nothing propagates: only the calls are measured.
    let rounds = if scenario_fleet { rounds } else { 0 };
    for round in 0..rounds {
        let tripper = round % n;
        for r in replicas.iter_mut() {
            expect(r, &format!("arm {name}"), "armed").await?;
        }
        let opened_at: u128 = parse(&mut replicas[tripper], &format!("trip {name}")).await?;
        let mut last = opened_at;
        let mut all = true;
        for (i, r) in replicas.iter_mut().enumerate() {
            if i == tripper {
                continue;
            }
            match r.ask(&format!("opened {name} 5000")).await?.parse::<u128>() {
                Ok(at) => last = last.max(at),
                Err(_) => all = false,
            }
        }
        if all {
            delays.push(last.saturating_sub(opened_at) as f64 / 1000.0);
        } else {
            missed += 1;
        }
        expect(&mut replicas[tripper], &format!("reset {name}"), "ok").await?;
        for r in replicas.iter_mut() {
            expect(r, &format!("wait {name} closed 5000"), "ok").await?;
        }
    }
    delays.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        if delays.is_empty() {
            f64::NAN
        } else {
            delays[((delays.len() as f64 * q).ceil() as usize).clamp(1, delays.len()) - 1]
        }
    };

    let before = commands(&url)?;
    for r in replicas.iter_mut() {
        r.send(&format!("calls {name} {calls}")).await?;
    }
    let mut nanos = 0u128;
    for r in replicas.iter_mut() {
        let answer = r.answer().await?;
        match answer
            .strip_prefix("ok ")
            .and_then(|ns| ns.parse::<u128>().ok())
        {
            Some(ns) => nanos += ns,
            None => return Err(r.error(format!("calls answered {answer:?}"))),
        }
    }
    let after = commands(&url)?;
    let healthy_calls = calls * n as u64;
    let redis_commands = after.saturating_sub(before);
    Ok(Measurements {
        rounds,
        missed,
        propagation_p50_ms: pick(0.50),
        propagation_p99_ms: pick(0.99),
        propagation_max_ms: delays.last().copied().unwrap_or(f64::NAN),
        healthy_calls,
        redis_commands,
        commands_per_1000_calls: redis_commands as f64 * 1000.0 / healthy_calls.max(1) as f64,
        closed_call_ns: nanos as f64 / healthy_calls.max(1) as f64,
    })
}

/// `url` with the password of its user info, if any, replaced by `***`.
///
/// ```
/// use resilience_examples::fleet::masked;
///
/// assert_eq!(masked("redis://app:s3cret@10.0.0.5:6379/2"), "redis://app:***@10.0.0.5:6379/2");
/// assert_eq!(masked("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
/// ```
pub fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split_once(':').map_or("", |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

async fn expect(r: &mut ReplicaProcess, command: &str, wanted: &str) -> Result<(), FleetDemoError> {
    let answer = r.ask(command).await?;
    if answer == wanted {
        Ok(())
    } else {
        Err(r.error(format!("{command:?} answered {answer:?}")))
    }
}

async fn parse<T: std::str::FromStr>(
    r: &mut ReplicaProcess,
    command: &str,
) -> Result<T, FleetDemoError> {
    let answer = r.ask(command).await?;
    answer
        .parse()
        .map_err(|_| r.error(format!("{command:?} answered {answer:?}")))
}

/// The commands a Redis server has run (`INFO commandstats`), `INFO` itself aside.
fn commands(url: &str) -> Result<u64, FleetDemoError> {
    use std::io::{BufRead, BufReader, Read, Write};
    let bad = |m: String| FleetDemoError::Redis(format!("{}: {m}", masked(url)));
    let authority = url
        .strip_prefix("redis://")
        .ok_or_else(|| bad("counting commands needs a redis:// URL".into()))?;
    let host = authority.split('/').next().unwrap_or_default();
    if host.contains('@') {
        return Err(bad(
            "counting commands needs a server without a password".into()
        ));
    }
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| bad(e.to_string()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| bad(e.to_string()))?;
    stream
        .write_all(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        .map_err(|e| bad(e.to_string()))?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader
        .read_line(&mut header)
        .map_err(|e| bad(e.to_string()))?;
    let len: usize = header
        .trim_end()
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad(format!("INFO answered {header:?}")))?;
    let mut body = vec![0; len];
    reader
        .read_exact(&mut body)
        .map_err(|e| bad(e.to_string()))?;
    let body = String::from_utf8_lossy(&body);
    Ok(body
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
        .filter_map(|l| {
            l.split_once("calls=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum())
}
