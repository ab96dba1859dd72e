//! Breakers, bulkheads and rate limiters shared between the replicas of a service, through
//! Redis or Valkey (feature `fleet`).
//!
//! A service that calls a dependency often runs as several replicas. Alone, each replica's
//! breaker learns by itself: with 8 replicas, a dead tier takes 8 × `failure_threshold` failed
//! calls before every replica stops calling it, each replica probes the recovering tier on its
//! own, and a restarted replica forgets that the tier is down. Attach the manager to Redis and
//! its breakers learn as one:
//!
//! - **Open everywhere.** A breaker that opens on one replica opens on all within
//!   milliseconds ([`Policy::ShareOpen`]), or once `replicas` of them have opened it within a
//!   window ([`Policy::quorum`]: a fault of one replica's own network stays its own). The open
//!   deadline is one for the fleet, timed on Redis' clock (`TIME`), never on the replicas'
//!   wall clocks agreeing; each replica's breaker goes half-open when it ends.
//! - **Failures counted for the fleet.** Under [`Policy::ShareOpen`], a dead tier costs the
//!   fleet `failure_threshold` failed calls (plus those already in flight), however the calls
//!   are spread over the replicas: see [below](#failures-counted-for-the-fleet).
//! - **Probes for the fleet.** Half-open admits `half_open_max_calls` probes for the whole
//!   fleet, not per replica: the slots are leases in Redis, so the slots of a replica that dies
//!   come free when its lease runs out. A failed probe reopens the breaker everywhere; the
//!   probes that close it close it everywhere.
//! - **Learned at start.** A replica that starts while a tier is open learns it when it
//!   attaches; a breaker, bulkhead or rate limiter registered later is the fleet's from its
//!   registration.
//! - **Every named breaker and limit.** All the breakers, bulkheads and rate limiters of the
//!   manager, those written in `#[circuit_breaker]`, `#[bulkhead]` and `#[rate_limit]`
//!   attributes included, with no change to the annotated code.
//!   Operators' controls stay local: [`force_open`](crate::CircuitBreaker::force_open) and
//!   [`disable`](crate::CircuitBreaker::disable) are not shared and are never overridden by
//!   the fleet; [`reset`](crate::CircuitBreaker::reset) closes the breaker everywhere.
//!
//! # Failures counted for the fleet
//!
//! Under [`Policy::ShareOpen`], each failure a replica's closed breaker records is also
//! counted by the fleet, in Redis: the breaker opens for the fleet after `failure_threshold`
//! failures across the fleet with no reset in between, in the order Redis receives them. A
//! reset is the success that ends a run of a replica's own failures (its consecutive count
//! going from more than 0 to 0): it zeroes the fleet's count. A success on a replica whose
//! last recorded call succeeded too is not sent, so that healthy calls make no round trip: it
//! does not reset what other replicas counted. The count lapses one
//! [`probe_lease`](FleetBuilder::probe_lease) (10 s by default) after the last failure it took:
//! failures further apart than that are no run, and the count a replica left when it stopped
//! (killed, or detached after failures) cannot open the fleet on another replica's single
//! failure long after. Each replica's breaker still counts its own
//! failures as well, and opens on its own at `failure_threshold`, as without a fleet (its open
//! is then shared); the failure-rate rule stays each replica's, on its own window.
//!
//! The call's path only marks the failure (an atomic add in the breaker, and a wake of the
//! fleet's task when none was pending); the task sends what is marked in one script
//! (`fail.lua`), however many failures were marked meanwhile. The count is tagged with the
//! fleet's epoch: failures counted before a transition do not carry over, and a replica that
//! has not taken the fleet's latest transition has its failures dropped. While Redis is
//! unreachable nothing is marked, and failures count on each replica alone; the fleet's count
//! resumes when Redis answers again, without the failures of the outage.
//!
//! Under [`Policy::Quorum`] failure counts stay each replica's: the point of a quorum is that
//! one replica's failures do not open the fleet.
//!
//! # Bulkheads: `max_concurrent` for the fleet
//!
//! A bulkhead's `max_concurrent` is the fleet's (Zoho's concurrent calls per organisation).
//! Each replica holds a lease on a share of the slots, and its bulkhead admits calls up to that
//! share with no round trip, as it does alone. The share follows the calls: the fleet's task
//! asks for more as soon as a call is refused or waits, keeps the calls in flight plus one
//! spare, and gives back the rest at each reconciliation. The spare is kept only while no
//! replica is short of slots: when one is, the others give theirs back at their next
//! reconciliation. Slots in use are never taken from a replica: a short replica gets slots
//! when another's calls in flight and waiting fall below what it holds, at that replica's
//! next reconciliation. There is no fair share: a replica whose load keeps every slot busy
//! keeps them, and the others' calls are refused (or wait) meanwhile.
//!
//! - **The limit holds.** A replica's bulkhead is raised only once Redis granted the slots,
//!   and lowered before it gives them back, so that while Redis answers the calls in flight
//!   across the fleet never exceed `max_concurrent`.
//! - **A dead replica's slots come back.** A lease is renewed at every reconciliation and
//!   expires after [`probe_lease`](FleetBuilder::probe_lease) (10 s unless set) on Redis'
//!   clock: the slots of a replica killed while holding them are free again within that time.
//!
//! # Rate limiters: one GCRA state for the fleet
//!
//! A rate limiter's rate and burst are the fleet's (Zoho's credits): one GCRA state in Redis,
//! its theoretical arrival time on Redis' clock. A replica does not ask Redis per call: it
//! reserves a block of tokens at a time, sized to its recent use (twice the tokens it spent,
//! was refused or waited for since the last look, at least one, at most a quarter of the
//! burst). A block is reserved as a call that may wait reserves its tokens: those the bucket
//! holds now, then those the rate earns next, queued behind the blocks other replicas reserved
//! before it (at most a full bucket's time ahead). Each token is added to the replica's
//! limiter when it falls due, and spent there with no round trip. The next block is asked for
//! once the last has fallen due, when a call is refused or waits, or at a reconciliation; an
//! idle replica gives back at each reconciliation what it holds beyond its next block. At
//! saturation every ask is a whole block, and Redis sees one round trip per block, not one per
//! call (one per 25 admitted calls for a burst of 100).
//!
//! **The guarantee.** While Redis answers, a replica's tokens fall due no earlier than the
//! fleet's GCRA earns them, and the tokens the replicas hold are part of the burst, not on top
//! of it: each replica's calls record in Redis what it holds (kept for a
//! [`probe_lease`](FleetBuilder::probe_lease), renewed while it holds tokens), and the bucket
//! holds at most the burst less that. The calls admitted across the fleet over an interval of
//! length `T` take at most `burst + rate × T` tokens, within a token's rounding, when the
//! replicas start it idle or at saturation (`tests/fleet_limits.rs` and `examples/fleet_rate.rs`
//! check it); a replica whose tokens, once spent, were not yet reported may let the fleet
//! admit up to what it last reported on top, at most its block (`max(burst / 4, 1)`), until
//! its next call. (A replica's limiter earns no tokens of its own meanwhile, but for one token
//! per `100 years / burst`: one every 73 days for a burst of 500.) A refusal's `retry_after` is then the time
//! the fleet's rate takes to earn the call's cost. A call with a `max_wait` whose replica has
//! no tokens left waits up to `max_wait` for the next ones, as it would for its own limiter's
//! (the fleet's task asks for them at once), and is refused when none came in time.
//!
//! **Replicas that end.** A replica that detaches gives back the tokens it holds and those it
//! reserved that have not fallen due, and its record goes: none is lost. A replica killed
//! takes with it what it held and had reserved, together at most its block (`max(burst / 4,
//! 1)` tokens); the others go on at the fleet's rate meanwhile, their reservations queued
//! behind the lost ones. The bucket holds that much less until the dead replica's record
//! lapses, a [`probe_lease`](FleetBuilder::probe_lease) after its last call (10 s unless set),
//! and is whole again within the time the block is worth after that (`max(burst / 4, 1) ×
//! per / rate`).
//!
//! # Never on the hot path, never a new way to fail
//!
//! A closed breaker's call and an open breaker's rejection make no round trip, nor does a
//! call a bulkhead or rate limiter admits: the fleet works on a task of its own, on
//! transitions, failures, refusals and reconciliations. Every Redis operation has a timeout (20 ms by
//! default). While Redis is unreachable each replica's breaker decides alone, as without a
//! fleet, and each limit runs on the replica's local share of its settings
//! ([`local_share`](FleetBuilder::local_share), `1 /`
//! [`expected_replicas`](FleetBuilder::expected_replicas) unless set: a bulkhead's
//! `max_concurrent`, a rate limiter's rate and burst, each at least 1); so does a limit from
//! its registration until Redis first answers for it. The outage is logged once
//! (`fleet_unreachable`, WARN), counted (`resilience_fleet_outages_total` under the `metrics`
//! feature), and when Redis answers again (`fleet_reconnected`, INFO) the transitions it
//! missed are recorded, the fleet's state read back, and the limits take the fleet's leases
//! and blocks again (a bulkhead's calls above its new lease run to completion). Transitions are published (pub/sub) and, since pub/sub drops messages
//! across reconnections, read again every `reconcile_interval`.
//!
//! ```no_run
//! use resilience::fleet::{Fleet, Policy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), resilience::fleet::FleetError> {
//! // RESILIENCE_REDIS_URL=redis://redis.internal:6379/ in the environment, or `.url(..)`.
//! let fleet = Fleet::builder()
//!     .namespace("crm_sync")
//!     .policy(Policy::ShareOpen)
//!     .expected_replicas(3) // while Redis is unreachable, a third of each limit
//!     .attach()?; // the global registry, attributes' breakers and limits included
//! fleet.ready().await; // every breaker and limit has the fleet's state, or Redis is down
//! // ... serve; every breaker, bulkhead and rate limiter of the registry is the fleet's.
//! fleet.detach().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Seeing the fleet
//!
//! [`Fleet::shared_state`], [`Fleet::shared_bulkhead`] and [`Fleet::shared_rate_limiter`]
//! read a breaker's state, a bulkhead's slots leased and a rate limiter's tokens in the
//! fleet's bucket from Redis, without changing them. A process that shows the fleet and serves
//! no calls reads the same through a [`FleetView`] ([`FleetBuilder::view`]): it takes no lease
//! and no block.
//!
//! # Redis keys
//!
//! Each object's keys are in one hash slot of their own, so that Redis Cluster works, in
//! namespace `<ns>`:
//!
//! | object | keys | script |
//! |---|---|---|
//! | breaker `<name>` | `resilience:{<ns>:<name>}:state` (a hash: `state`, `epoch`, `until`, `by`), `…:probes` (probe leases: `<replica>#<n>` → expiry, ms), `…:votes` (quorum votes), `…:failures` (the fleet's count of consecutive failures, a hash: `epoch`, `count`) | `read.lua`, `open.lua`, `probe.lua`, `close.lua`, `fail.lua` |
//! | bulkhead `<name>` | `resilience:{<ns>:bulkhead:<name>}:slots` (slot leases: `<replica>#<n>` → expiry, ms), `…:short` (set while a replica is short of slots) | `bulkhead.lua`; `view_bulkhead.lua` reads |
//! | rate limiter `<name>` | `resilience:{<ns>:rate_limiter:<name>}:tat` (the theoretical arrival time, whole µs on Redis' clock), `…:held` (what each replica holds: `<replica>` → `<held>:<granted>:<place in the TAT, µs>:<expiry, ms>`) | `rate.lua`; `view_rate.lua` reads |
//!
//! Breaker transitions are published on `resilience:{<ns>}:breakers`. Every update is a Lua
//! script run with `EVALSHA`, never a read followed by a write from the client; every time is
//! Redis' (`TIME`). A malformed value is reported with its key and value (`fleet_bad_value`,
//! WARN, once) and only that breaker (alone) or limit (on its local share) leaves the fleet
//! until it is fixed.
//!
//! # Redis Cluster
//!
//! Give the nodes of a Redis Cluster (some of them: the others are found) with
//! [`cluster`](FleetBuilder::cluster), or comma-separated in [`REDIS_CLUSTER_VAR`]
//! (`RESILIENCE_REDIS_CLUSTER=redis://10.0.0.1:6379,redis://10.0.0.2:6379`). Each script runs
//! on the master serving its object's slot, following the cluster's redirections; transitions
//! are heard on one node given (a cluster's `PUBLISH` reaches every node), the next when it is
//! lost. A node that does not answer is an outage of the objects whose keys it serves (logged
//! once as any outage, [`is_reachable`](Fleet::is_reachable) false until it answers again):
//! those breakers decide alone and those limits run on their local share, while the other
//! nodes' stay the fleet's. Run the cluster with `cluster-require-full-coverage no` for the
//! other nodes to go on serving meanwhile.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::ConfigError;
use crate::{ManagerRef, StateChange};

/// A script of `scripts/`, with the prelude every script shares.
macro_rules! script {
    ($file:literal) => {
        std::sync::LazyLock::new(|| {
            redis::Script::new(concat!(
                include_str!("scripts/prelude.lua"),
                include_str!(concat!("scripts/", $file))
            ))
        })
    };
}

mod breaker;
mod connection;
mod limits;
mod view;

pub use breaker::{FleetState, SharedBreaker};
pub use view::{FleetView, SharedBulkhead, SharedRateLimiter};

use breaker::{Breakers, Published, Settings};
use connection::Redis;
use limits::{Cause, Limits};

/// The environment variable the Redis URL is read from when the builder is given none.
pub const REDIS_URL_VAR: &str = "RESILIENCE_REDIS_URL";

/// The environment variable a Redis Cluster's node URLs are read from, comma-separated, when
/// the builder is given no URL and no nodes: `redis://10.0.0.1:6379,redis://10.0.0.2:6379`.
/// Set it or [`REDIS_URL_VAR`], not both.
pub const REDIS_CLUSTER_VAR: &str = "RESILIENCE_REDIS_CLUSTER";

/// The timeout of every Redis operation unless set ([`FleetBuilder::op_timeout`]).
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(20);

/// When a breaker opens for the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// As soon as it opens on one replica, or once `failure_threshold` failures were counted
    /// across the replicas (the default). See the [module](self#failures-counted-for-the-fleet).
    ShareOpen,
    /// Once `replicas` replicas have opened it within `window`: until then, each replica's
    /// breaker is open on its own judgement alone, so that a fault on one replica's own
    /// network does not stop the others. Failure counts stay each replica's.
    Quorum {
        /// How many replicas must have opened it.
        replicas: u32,
        /// Within how long.
        window: Duration,
    },
}

impl Policy {
    /// [`Policy::Quorum`]: open for the fleet once `replicas` replicas have opened it within
    /// `window`.
    pub fn quorum(replicas: u32, window: Duration) -> Self {
        Policy::Quorum { replicas, window }
    }
}

/// What can go wrong in the fleet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// A setting or the environment variable cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Attached outside a tokio runtime.
    #[error("a fleet runs a task on tokio: attach it from within a tokio runtime")]
    NoRuntime,
    /// Redis did not answer (in time).
    #[error("Redis is unreachable: {0}")]
    Unreachable(String),
    /// The node of a Redis Cluster serving a key did not answer (in time), or the cluster
    /// cannot serve the key's slot now: what the key belongs to decides alone (a breaker) or
    /// runs on its local share (a limit) until the node answers, while the keys of the other
    /// nodes stay the fleet's.
    #[error("the Redis Cluster node of {key} is unreachable: {error}")]
    NodeUnreachable {
        /// The key.
        key: String,
        /// Why.
        error: String,
    },
    /// A value in Redis that is not what the fleet writes there.
    #[error("malformed value in Redis at {key}, field {field}: {value:?}")]
    BadValue {
        /// The key.
        key: String,
        /// The field of the hash (`value` for a key that holds a plain string).
        field: String,
        /// The value found.
        value: String,
    },
    /// A published message that is not what the fleet publishes.
    #[error("malformed message on {channel}: {payload:?} ({reason})")]
    BadMessage {
        /// The channel.
        channel: String,
        /// The message.
        payload: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Redis answered an error about a key.
    #[error("Redis answered an error for {key}: {error}")]
    Redis {
        /// The key.
        key: String,
        /// Redis' error.
        error: String,
    },
    /// A name the fleet's manager has no such object under.
    #[error("the fleet's manager has no {kind} named {name:?}")]
    Unknown {
        /// What was asked for: `bulkhead` or `rate limiter`.
        kind: &'static str,
        /// The name.
        name: String,
    },
}

/// Builds a [`Fleet`]: see the [module](self).
#[derive(Debug)]
#[must_use = "call `attach()` to share the breakers and limits"]
pub struct FleetBuilder {
    target: Option<Target>,
    namespace: String,
    op_timeout: Duration,
    connect_timeout: Duration,
    reconcile_interval: Duration,
    probe_lease: Duration,
    policy: Policy,
    expected_replicas: u32,
    local_share: Option<f64>,
    manager: ManagerRef<'static>,
}

impl Default for FleetBuilder {
    fn default() -> Self {
        Self {
            target: None,
            namespace: "default".to_owned(),
            op_timeout: DEFAULT_OP_TIMEOUT,
            connect_timeout: Duration::from_millis(500),
            reconcile_interval: Duration::from_secs(1),
            probe_lease: Duration::from_secs(10),
            policy: Policy::ShareOpen,
            expected_replicas: 1,
            local_share: None,
            manager: ManagerRef::default(),
        }
    }
}

impl FleetBuilder {
    /// The Redis (or Valkey) URL, `redis://[user:password@]host:port/[db]`. Without it or
    /// [`cluster`](Self::cluster), [`REDIS_URL_VAR`] (`RESILIENCE_REDIS_URL`) or
    /// [`REDIS_CLUSTER_VAR`] (`RESILIENCE_REDIS_CLUSTER`) is read. Replaces the nodes of an
    /// earlier [`cluster`](Self::cluster).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.target = Some(Target::Url(url.into()));
        self
    }

    /// A Redis Cluster (or Valkey cluster) instead of one server: the URLs of some of its
    /// nodes, `redis://[user:password@]host:port`, each the same user and password; the
    /// others are found from them. Each script runs on the node of its object's keys (one
    /// hash slot per breaker, bulkhead or rate limiter), and transitions are heard on one
    /// node given, the next one when it is lost (a cluster's `PUBLISH` reaches every node).
    /// A node that does not answer is an outage of the objects whose keys it serves: they
    /// decide alone, or run on their local share, and the others stay the fleet's. Replaces
    /// an earlier [`url`](Self::url).
    ///
    /// ```no_run
    /// use resilience::fleet::Fleet;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), resilience::fleet::FleetError> {
    /// let fleet = Fleet::builder()
    ///     .cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379", "redis://10.0.0.3:6379"])
    ///     .namespace("crm_sync")
    ///     .attach()?;
    /// fleet.ready().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn cluster<I>(mut self, nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.target = Some(Target::Cluster(nodes.into_iter().map(Into::into).collect()));
        self
    }

    /// The namespace: the fleet of replicas that share their breakers (one service). Letters,
    /// digits, `_`, `-` and `.`; `default` unless set.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The manager whose breakers are shared: the global [`registry()`](crate::registry())
    /// unless set.
    pub fn manager(mut self, manager: impl Into<ManagerRef<'static>>) -> Self {
        self.manager = manager.into();
        self
    }

    /// When a breaker opens for the fleet: [`Policy::ShareOpen`] unless set.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The timeout of every Redis command and script ([`DEFAULT_OP_TIMEOUT`], 20 ms, unless
    /// set).
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// The timeout of a new connection to Redis (500 ms unless set). Connections are made on
    /// the fleet's task, never on a call's path.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often the fleet's state of every breaker is read back, in case a published
    /// transition was missed, the leases renewed and the limits' shares resized (1 s unless
    /// set).
    pub fn reconcile_interval(mut self, interval: Duration) -> Self {
        self.reconcile_interval = interval;
        self
    }

    /// How long a replica's leases are its own without being renewed (10 s unless set): its
    /// half-open probe slots, its bulkhead slots and its record of the rate limiters' tokens it
    /// holds. The slots of a replica that died come free after this. Renewed every
    /// reconciliation, so it must be longer than
    /// [`reconcile_interval`](Self::reconcile_interval). The fleet's count of a breaker's
    /// failures lapses this long after the last failure it took (see the module's docs).
    pub fn probe_lease(mut self, lease: Duration) -> Self {
        self.probe_lease = lease;
        self
    }

    /// How many replicas the fleet usually runs: while Redis is unreachable, each replica's
    /// limits run on `1 / replicas` of their settings (1 unless set: each replica on the
    /// whole of them). See [`local_share`](Self::local_share).
    pub fn expected_replicas(mut self, replicas: u32) -> Self {
        self.expected_replicas = replicas;
        self
    }

    /// The fraction of every bulkhead's `max_concurrent` and every rate limiter's rate and
    /// burst that a replica uses alone while Redis is unreachable (or while a limit's key in
    /// Redis holds a malformed value), more than 0 and at most 1; `1 /`
    /// [`expected_replicas`](Self::expected_replicas) unless set. A bulkhead keeps at least
    /// one slot and a rate limiter a burst of at least one token.
    pub fn local_share(mut self, fraction: f64) -> Self {
        self.local_share = Some(fraction);
        self
    }

    /// Every setting checked: the Redis link, its URL or nodes as shown, and the local share.
    fn checked(&self) -> Result<Checked, FleetError> {
        let (target, input) = match self.target.clone() {
            Some(target) => (target, Input::Setting),
            None => from_env(&|name| std::env::var(name))?,
        };
        let (link, shown) = target.link(input)?;
        check_namespace(&self.namespace)?;
        for (setting, value) in [
            ("op_timeout", self.op_timeout),
            ("connect_timeout", self.connect_timeout),
            ("reconcile_interval", self.reconcile_interval),
        ] {
            if value.is_zero() {
                return Err(config_error(setting, value, "must be longer than zero"));
            }
        }
        if self.probe_lease <= self.reconcile_interval {
            return Err(config_error(
                "probe_lease",
                self.probe_lease,
                "must be longer than reconcile_interval, which renews it",
            ));
        }
        if let Policy::Quorum { replicas, window } = self.policy {
            if replicas == 0 {
                return Err(crate::config::invalid(
                    "the fleet",
                    "quorum",
                    replicas.to_string(),
                    "must be at least 1".to_owned(),
                )
                .into());
            }
            if window.is_zero() && replicas > 1 {
                return Err(config_error(
                    "quorum window",
                    window,
                    "must be longer than zero",
                ));
            }
        }
        if self.expected_replicas == 0 {
            return Err(crate::config::invalid(
                "the fleet",
                "expected_replicas",
                "0".to_owned(),
                "must be at least 1".to_owned(),
            )
            .into());
        }
        let local_share = match self.local_share {
            Some(f) if !(f > 0.0 && f <= 1.0) => {
                return Err(crate::config::invalid(
                    "the fleet",
                    "local_share",
                    f.to_string(),
                    "must be more than 0 and at most 1".to_owned(),
                )
                .into());
            }
            Some(f) => f,
            None => 1.0 / f64::from(self.expected_replicas),
        };
        Ok(Checked {
            link,
            shown,
            local_share,
        })
    }

    /// Checks the settings and starts the fleet's task on the current tokio runtime. Does not
    /// wait for Redis: a replica starts even while Redis is down, its breakers deciding alone
    /// until it answers.
    pub fn attach(self) -> Result<Fleet, FleetError> {
        let Checked {
            link,
            shown,
            local_share,
        } = self.checked()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| FleetError::NoRuntime)?;
        let replica = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        let redis = Arc::new(Redis::new(
            link,
            shown,
            self.op_timeout,
            self.connect_timeout,
        ));
        let manager = self.manager.clone();
        let changes = self.manager.subscribe();
        let registrations = self.manager.registrations();
        let limits = Limits::new(
            self.manager.clone(),
            limits::Settings {
                namespace: self.namespace.clone(),
                replica: replica.clone(),
                lease: self.probe_lease,
                interval: self.reconcile_interval,
                local_share,
            },
        );
        let breakers = Breakers::new(
            self.manager,
            Settings {
                namespace: self.namespace.clone(),
                replica: replica.clone(),
                policy: self.policy,
                probe_lease: self.probe_lease,
            },
        );
        let (stop, stopped) = oneshot::channel();
        let (reconciled, ready) = tokio::sync::watch::channel(false);
        let task = runtime.spawn(run(
            Arc::clone(&redis),
            Task::new(breakers, limits),
            Watched {
                changes,
                registrations,
            },
            self.reconcile_interval,
            Ends {
                stop: stopped,
                reconciled,
            },
        ));
        Ok(Fleet {
            redis,
            ready,
            namespace: self.namespace,
            replica,
            manager,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// What [`FleetBuilder::checked`] found.
struct Checked {
    link: connection::Link,
    shown: String,
    local_share: f64,
}

/// Where the fleet's keys live, as given.
#[derive(Clone)]
enum Target {
    Url(String),
    Cluster(Vec<String>),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Url(url) => f
                .debug_tuple("Url")
                .field(&connection::masked(url))
                .finish(),
            Target::Cluster(nodes) => f
                .debug_tuple("Cluster")
                .field(&masked_list(nodes.iter().map(String::as_str)))
                .finish(),
        }
    }
}

/// Where a setting came from: the builder, or an environment variable.
#[derive(Clone, Copy)]
enum Input {
    Setting,
    Env(&'static str),
}

fn invalid(input: Input, setting: &'static str, value: String, reason: String) -> ConfigError {
    match input {
        Input::Setting => crate::config::invalid("the fleet", setting, value, reason),
        Input::Env(variable) => ConfigError::InvalidEnv {
            variable: variable.to_owned(),
            value,
            reason,
        },
    }
}

/// The URL or the cluster's nodes from the environment ([`REDIS_URL_VAR`] or
/// [`REDIS_CLUSTER_VAR`], not both).
fn from_env(
    var: &dyn Fn(&str) -> Result<String, std::env::VarError>,
) -> Result<(Target, Input), ConfigError> {
    let read = |variable: &'static str| match var(variable) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(value)) => Err(invalid(
            Input::Env(variable),
            "url",
            value.to_string_lossy().into_owned(),
            "not valid UTF-8".to_owned(),
        )),
    };
    match (read(REDIS_URL_VAR)?, read(REDIS_CLUSTER_VAR)?) {
        (Some(url), None) => Ok((Target::Url(url), Input::Env(REDIS_URL_VAR))),
        (None, Some(nodes)) => Ok((
            Target::Cluster(nodes.split(',').map(|n| n.trim().to_owned()).collect()),
            Input::Env(REDIS_CLUSTER_VAR),
        )),
        (Some(_), Some(nodes)) => Err(invalid(
            Input::Env(REDIS_CLUSTER_VAR),
            "cluster",
            masked_list(nodes.split(',')),
            format!("{REDIS_URL_VAR} is set too: set one of them (a server, or a cluster's nodes)"),
        )),
        (None, None) => Err(invalid(
            Input::Setting,
            "url",
            String::new(),
            format!(
                "no Redis URL: call `url(..)` or `cluster(..)`, or set {REDIS_URL_VAR} or {REDIS_CLUSTER_VAR}"
            ),
        )),
    }
}

/// URLs, each with its password masked, comma-separated.
fn masked_list<'a>(urls: impl IntoIterator<Item = &'a str>) -> String {
    urls.into_iter()
        .map(connection::masked)
        .collect::<Vec<_>>()
        .join(",")
}

impl Target {
    /// The client for the URL or the nodes, and how they are shown (passwords masked).
    fn link(self, input: Input) -> Result<(connection::Link, String), ConfigError> {
        match self {
            Target::Url(url) => {
                let shown = connection::masked(&url);
                let client = redis::Client::open(url.as_str()).map_err(|e| {
                    invalid(
                        input,
                        "url",
                        shown.clone(),
                        format!("not a Redis URL (redis://host:port/): {e}"),
                    )
                })?;
                Ok((connection::Link::Server(client), shown))
            }
            Target::Cluster(urls) => {
                let shown = masked_list(urls.iter().map(String::as_str));
                let bad = |reason: String| invalid(input, "cluster", shown.clone(), reason);
                if urls.is_empty() {
                    return Err(bad(
                        "no node: give the URL of at least one node (redis://host:port)".to_owned(),
                    ));
                }
                let mut nodes = Vec::with_capacity(urls.len());
                for (i, url) in urls.iter().enumerate() {
                    let n = i + 1;
                    if url.is_empty() {
                        return Err(bad(format!("node {n} is empty")));
                    }
                    let node = connection::masked(url);
                    let client = redis::Client::open(url.as_str()).map_err(|e| {
                        bad(format!(
                            "node {n} ({node}) is not a Redis URL (redis://host:port): {e}"
                        ))
                    })?;
                    if client.get_connection_info().redis_settings().db() != 0 {
                        return Err(bad(format!(
                            "node {n} ({node}) names a database: a Redis Cluster has database 0 only"
                        )));
                    }
                    nodes.push(client);
                }
                let client = redis::cluster::ClusterClient::new(urls.iter().map(String::as_str))
                    .map_err(|e| bad(format!("the nodes cannot make one cluster: {e}")))?;
                Ok((connection::Link::Cluster { client, nodes }, shown))
            }
        }
    }
}

fn config_error(setting: &'static str, value: Duration, reason: &str) -> FleetError {
    crate::config::invalid(
        "the fleet",
        setting,
        format!("{value:?}"),
        reason.to_owned(),
    )
    .into()
}

fn check_namespace(namespace: &str) -> Result<(), ConfigError> {
    let ok = !namespace.is_empty()
        && namespace.len() <= 64
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(crate::config::invalid(
            "the fleet",
            "namespace",
            namespace.to_owned(),
            "must be 1 to 64 ASCII letters, digits, `_`, `-` or `.`".to_owned(),
        ))
    }
}

/// A manager attached to Redis: its breakers are the fleet's until this is detached or
/// dropped. See the [module](self).
#[derive(Debug)]
#[must_use = "the breakers are the fleet's only while the `Fleet` is kept: dropping it detaches them"]
pub struct Fleet {
    redis: Arc<Redis>,
    /// Whether the first reconciliation is over.
    ready: tokio::sync::watch::Receiver<bool>,
    namespace: String,
    replica: String,
    /// Where the limits' settings are read for the view.
    manager: ManagerRef<'static>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Fleet {
    /// Starts building a fleet: the global registry, [`REDIS_URL_VAR`], namespace `default`,
    /// [`Policy::ShareOpen`], 20 ms per operation.
    pub fn builder() -> FleetBuilder {
        FleetBuilder::default()
    }

    /// This replica's name in the fleet (its process id and a random part).
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether Redis answered the fleet's last operation; on a Redis Cluster, whether every
    /// node answered the last operation on its keys.
    pub fn is_reachable(&self) -> bool {
        self.redis.healthy()
    }

    /// How many times Redis became unreachable since the fleet was attached (on a Redis
    /// Cluster: an outage lasts while any node does not answer for the fleet's keys).
    pub fn outages(&self) -> u64 {
        self.redis.outages()
    }

    /// Waits until the fleet's first reconciliation is over: every breaker has taken the
    /// fleet's state and every limit its lease or block, or Redis was found unreachable (then
    /// each limit runs on its local share). Until then, a limit runs on its local share: a
    /// replica that waits for this before serving never admits more than the fleet's limits
    /// while Redis answers.
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        // An error: the task is gone (detached, or its runtime shut down): nothing to wait for.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// The fleet's state of the breaker `name`, read from Redis now (a malformed value is an
    /// error naming its key and value).
    pub async fn shared_state(&self, name: &str) -> Result<SharedBreaker, FleetError> {
        Breakers::read(&self.redis, &self.namespace, name).await
    }

    /// Stops sharing: the fleet's task ends, and every breaker decides alone again, in the
    /// state it is in.
    pub async fn detach(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // The task's own drop gives the breakers back their local probe rule.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The help texts of the fleet's series, for [`crate::metrics::describe`].
#[cfg(feature = "metrics")]
pub(crate) fn describe_metrics() {
    metrics::describe_counter!(
        "resilience_fleet_outages_total",
        "Times Redis became unreachable for the fleet"
    );
    metrics::describe_gauge!(
        "resilience_fleet_reachable",
        "1 when Redis answered the fleet's last operation, 0 otherwise"
    );
    metrics::describe_counter!(
        "resilience_fleet_bad_values_total",
        "Malformed values or messages the fleet found in Redis, once per key and value"
    );
    metrics::describe_gauge!(
        "resilience_fleet_bulkhead_slots",
        "Slots of the fleet's bulkhead leased by this replica"
    );
    metrics::describe_counter!(
        "resilience_fleet_rate_limiter_tokens_total",
        "Tokens of the fleet's rate limiter handed to this replica"
    );
}

/// `d` in whole milliseconds, as the scripts take durations.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Malformed values (and other errors about one key) already logged, by key and value: each
/// is logged once (`fleet_bad_value`, WARN) and counted once.
#[derive(Debug, Default)]
pub(super) struct BadValues(std::collections::HashSet<(String, String)>);

impl BadValues {
    /// Logs `error` unless it was logged already.
    pub(super) fn log(&mut self, error: &FleetError) {
        let (key, value) = match error {
            // Not a value: the outage of a cluster's node, logged once as an outage.
            FleetError::NodeUnreachable { .. } => return,
            FleetError::BadValue { key, value, .. } => (key.clone(), value.clone()),
            FleetError::Redis { key, error } => (key.clone(), error.clone()),
            FleetError::BadMessage {
                channel, payload, ..
            } => (channel.clone(), payload.clone()),
            other => (String::new(), other.to_string()),
        };
        if !self.0.insert((key, value)) {
            return;
        }
        #[cfg(feature = "metrics")]
        metrics::counter!("resilience_fleet_bad_values_total").increment(1);
        tracing::warn!(
            target: "resilience",
            event = "fleet_bad_value",
            error = %error,
            "ignoring a malformed value in Redis; what it belongs to decides alone until it is fixed"
        );
    }
}

/// What the subscription task hands the fleet's task.
enum Incoming {
    /// Subscribed (again): messages may have been missed meanwhile.
    Subscribed,
    /// A published message.
    Message(String),
    /// The subscription's connection is gone.
    Lost(String),
}

/// The fleet's task: everything it does, in order, on one task.
struct Task {
    breakers: Breakers,
    limits: Limits,
    listener: Option<JoinHandle<()>>,
}

impl Task {
    fn new(breakers: Breakers, limits: Limits) -> Self {
        Self {
            breakers,
            limits,
            listener: None,
        }
    }

    /// Every breaker reconciled, every limit's lease renewed and sized.
    async fn reconcile(&mut self, redis: &Redis) {
        // The limits first: until Redis grants them the fleet's, they run on their share.
        self.limits.discover();
        self.adjust(redis, Cause::Tick).await;
        self.breakers.reconcile(redis).await;
    }

    async fn adjust(&mut self, redis: &Redis, cause: Cause) {
        let bad = self.breakers.bad_values();
        self.limits.adjust(redis, cause, bad).await;
    }

    /// A breaker, bulkhead or rate limiter was registered: followed now.
    async fn discover(&mut self, redis: &Redis) {
        self.breakers.discover(redis).await;
        self.limits.discover();
        self.adjust(redis, Cause::Tick).await;
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
        self.breakers.detach();
        self.limits.detach();
    }
}

/// What the fleet's task watches in the manager.
struct Watched {
    /// Every breaker's state changes.
    changes: broadcast::Receiver<StateChange>,
    /// Every registration of a breaker, bulkhead or rate limiter.
    registrations: tokio::sync::watch::Receiver<u64>,
}

/// How the fleet's task ends, and what it tells when its first reconciliation is over.
struct Ends {
    stop: oneshot::Receiver<()>,
    reconciled: tokio::sync::watch::Sender<bool>,
}

async fn run(
    redis: Arc<Redis>,
    mut task: Task,
    watched: Watched,
    reconcile_interval: Duration,
    ends: Ends,
) {
    let Watched {
        mut changes,
        mut registrations,
    } = watched;
    let Ends {
        mut stop,
        reconciled,
    } = ends;
    let channel = task.breakers.channel().to_owned();
    let (tx, mut incoming) = mpsc::channel(1024);
    let retry = reconcile_interval.min(Duration::from_millis(200));
    task.listener = Some(tokio::spawn(listen(
        Arc::clone(&redis),
        channel.clone(),
        tx,
        retry,
    )));
    let demand = task.limits.demand();
    let mut subscribed = false;
    let mut tick = tokio::time::interval(reconcile_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When the next token a rate limiter reserved falls due.
    let falls_due = tokio::time::sleep(reconcile_interval);
    tokio::pin!(falls_due);
    // The first tick is at once: every breaker takes the fleet's state now.
    loop {
        let due = task.limits.next_due();
        if let Some(at) = due.filter(|at| *at != falls_due.deadline()) {
            falls_due.as_mut().reset(at);
        }
        tokio::select! {
            () = &mut falls_due, if due.is_some() => task.limits.fall_due(),
            _ = &mut stop => {
                task.limits.release(&redis).await;
                break;
            }
            change = changes.recv() => match change {
                Ok(change) => task.breakers.on_local(&redis, &change).await,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    task.breakers.forget_echoes();
                    task.breakers.reconcile(&redis).await;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            registered = registrations.changed() => match registered {
                Ok(()) => task.discover(&redis).await,
                Err(_) => break,
            },
            () = demand.notified() => task.adjust(&redis, Cause::Demand).await,
            () = task.breakers.marked() => task.breakers.send_failures(&redis).await,
            message = incoming.recv() => match message {
                Some(Incoming::Message(payload)) => match Published::parse(&channel, &payload) {
                    Ok(published) => task.breakers.on_published(&published),
                    Err(error) => task.breakers.bad_message(&error),
                },
                // Messages may have been missed while unsubscribed: read the state back.
                Some(Incoming::Subscribed) => {
                    subscribed = true;
                    task.breakers.reconcile(&redis).await;
                }
                // Reconciliation tells whether Redis itself is gone; a subscription that cannot
                // be made while commands work (pub/sub forbidden, say) leaves the fleet working
                // on reconciliation alone, and is not an outage.
                Some(Incoming::Lost(error)) => {
                    if std::mem::replace(&mut subscribed, false) {
                        tracing::debug!(
                            target: "resilience",
                            event = "fleet_subscription_lost",
                            error = %error,
                            "the fleet's subscription was lost; subscribing again"
                        );
                        task.breakers.reconcile(&redis).await;
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                task.reconcile(&redis).await;
                redis.recheck(reconcile_interval).await;
                reconciled.send_if_modified(|done| !std::mem::replace(done, true));
            }
        }
    }
}

/// Keeps a subscription to the fleet's channel, subscribing again after `retry` whenever it
/// is lost.
async fn listen(redis: Arc<Redis>, channel: String, tx: mpsc::Sender<Incoming>, retry: Duration) {
    use futures_util::StreamExt;
    for attempt in 0.. {
        let subscribing = async {
            let mut pubsub = redis.pubsub(attempt).await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let lost = match tokio::time::timeout(redis.connect_timeout(), subscribing).await {
            Ok(Ok(pubsub)) => {
                if tx.send(Incoming::Subscribed).await.is_err() {
                    return;
                }
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let payload = String::from_utf8_lossy(message.get_payload_bytes()).into_owned();
                    if tx.send(Incoming::Message(payload)).await.is_err() {
                        return;
                    }
                }
                "the subscription's connection closed".to_owned()
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "no subscription within the connect timeout ({:?})",
                redis.connect_timeout()
            ),
        };
        if tx.send(Incoming::Lost(lost)).await.is_err() {
            return;
        }
        tokio::time::sleep(retry).await;
    }
}
