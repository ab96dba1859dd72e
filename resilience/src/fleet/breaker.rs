//! Breakers shared by the fleet.
//!
//! Each replica's breaker still judges its calls alone and admits them without a round trip.
//! What the fleet adds happens on transitions, on this replica's fleet task:
//!
//! - A local transition is reported by a script: `open.lua` records the open state with the
//!   fleet's one deadline (from Redis `TIME`; under a quorum, once enough replicas voted),
//!   `probe.lua` moves an open breaker whose deadline has passed to half-open and hands out the
//!   fleet's probe slots as leases, `close.lua` closes it. Each publishes what it changed.
//! - A published transition (and, in case one was missed, the state read at registration and
//!   at every reconciliation) is applied to this replica's breaker through the path an
//!   operator's controls take, with the fleet's remaining open time, so that the breaker goes
//!   half-open when the fleet's deadline ends.
//! - The fleet's epoch (a count of its transitions) orders it all: a replica takes what has a
//!   newer epoch than it knows, and a close from a replica that missed a transition is refused.
//! - Under [`Policy::ShareOpen`], a closed breaker's failures are the fleet's to count too: the
//!   failure path marks them (and the success that ends a run of this replica's failures marks
//!   a reset) in the breaker, and wakes this task, which sends what is marked in one `fail.lua`;
//!   at `failure_threshold` the script opens the breaker for the fleet as `open.lua` does.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::task::Poll;
use std::time::Duration;

use redis::Script;

use super::connection::Redis;
use super::{BadValues, FleetError, Policy, millis};
use crate::breaker::{Marks, SharedState};
use crate::{CircuitBreaker, CircuitState, ManagerRef, StateChange};

static READ: LazyLock<Script> = script!("read.lua");
static OPEN: LazyLock<Script> = script!("open.lua");
static PROBE: LazyLock<Script> = script!("probe.lua");
static CLOSE: LazyLock<Script> = script!("close.lua");
static FAIL: LazyLock<Script> = script!("fail.lua");

/// A breaker's keys, in one hash slot (`{<namespace>:<breaker>}`) so that a script can touch
/// them all on Redis Cluster.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    state: String,
    probes: String,
    votes: String,
    failures: String,
}

impl Keys {
    pub(super) fn new(namespace: &str, breaker: &str) -> Self {
        let base = format!("resilience:{{{namespace}:{breaker}}}");
        Self {
            state: format!("{base}:state"),
            probes: format!("{base}:probes"),
            votes: format!("{base}:votes"),
            failures: format!("{base}:failures"),
        }
    }

    fn all(&self) -> [&str; 3] {
        [&self.state, &self.probes, &self.votes]
    }

    /// Every key, the failure count's last (`fail.lua`).
    fn with_failures(&self) -> [&str; 4] {
        [&self.state, &self.probes, &self.votes, &self.failures]
    }
}

/// The pub/sub channel of a namespace's breaker transitions.
pub(super) fn channel(namespace: &str) -> String {
    format!("resilience:{{{namespace}}}:breakers")
}

/// The fleet's state of a breaker, as a replica sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetState {
    /// No replica has it open (or the fleet has never seen it).
    Closed,
    /// Open for the fleet: `remaining` is what is left of its open period.
    Open {
        /// The open time left, on Redis' clock.
        remaining: Duration,
    },
    /// Its open period is over and the fleet probes it.
    HalfOpen,
}

/// A breaker's state in the fleet, from [`Fleet::shared_state`](super::Fleet::shared_state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedBreaker {
    /// The fleet's state.
    pub state: FleetState,
    /// How many transitions the fleet has made for this breaker (0: none yet).
    pub epoch: u64,
}

/// A script's answer: whether it changed the state (1; 2 for an open that waits for a
/// quorum), the state after it, and its number (open time left in ms, or probes granted).
#[derive(Debug, Clone, Copy)]
struct Answer {
    changed: i64,
    state: Kind,
    epoch: u64,
    n: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Closed,
    Open,
    HalfOpen,
}

impl Kind {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "closed" => Some(Kind::Closed),
            "open" => Some(Kind::Open),
            "half_open" => Some(Kind::HalfOpen),
            _ => None,
        }
    }
}

impl Answer {
    fn from_reply(
        key: &str,
        (changed, state, epoch, n): (i64, String, i64, i64),
    ) -> Result<Self, FleetError> {
        let bad = |field: &str, value: String| FleetError::BadValue {
            key: key.to_owned(),
            field: field.to_owned(),
            value,
        };
        Ok(Answer {
            changed,
            state: Kind::parse(&state).ok_or_else(|| bad("state", state.clone()))?,
            epoch: u64::try_from(epoch).map_err(|_| bad("epoch", epoch.to_string()))?,
            n: u64::try_from(n).map_err(|_| bad("n", n.to_string()))?,
        })
    }

    /// The state for a replica's breaker to take.
    fn shared(&self) -> SharedState {
        match self.state {
            Kind::Closed => SharedState::Closed,
            Kind::Open => SharedState::Open(Duration::from_millis(self.n)),
            Kind::HalfOpen => SharedState::HalfOpen,
        }
    }

    fn view(&self) -> SharedBreaker {
        SharedBreaker {
            state: match self.state {
                Kind::Closed => FleetState::Closed,
                Kind::Open => FleetState::Open {
                    remaining: Duration::from_millis(self.n),
                },
                Kind::HalfOpen => FleetState::HalfOpen,
            },
            epoch: self.epoch,
        }
    }
}

/// A transition published by a replica: `<breaker> <epoch> <state> <ms> <replica>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Published {
    breaker: String,
    epoch: u64,
    state: Kind,
    ms: u64,
    by: String,
}

impl Published {
    pub(super) fn parse(channel: &str, payload: &str) -> Result<Self, FleetError> {
        let bad = |reason: &str| FleetError::BadMessage {
            channel: channel.to_owned(),
            payload: payload.to_owned(),
            reason: reason.to_owned(),
        };
        let parts: Vec<&str> = payload.split(' ').collect();
        let [breaker, epoch, state, ms, by] = parts[..] else {
            return Err(bad("expected `<breaker> <epoch> <state> <ms> <replica>`"));
        };
        Ok(Published {
            breaker: breaker.to_owned(),
            epoch: epoch
                .parse()
                .map_err(|_| bad("the epoch is not a whole number"))?,
            state: Kind::parse(state).ok_or_else(|| bad("unknown state"))?,
            ms: ms
                .parse()
                .map_err(|_| bad("the time is not a whole number of ms"))?,
            by: by.to_owned(),
        })
    }
}

/// What a replica reports of a local transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Open,
    Probe,
    Close,
}

/// A breaker of the manager, as the fleet task follows it.
struct Tracked {
    breaker: Arc<CircuitBreaker>,
    keys: Keys,
    /// The newest fleet epoch this replica has taken.
    known: u64,
    /// A local transition not yet recorded by the fleet (Redis was unreachable).
    pending: Option<Report>,
    /// Transitions this task made on the breaker, whose state changes are still to come
    /// through the manager's subscription: they are the fleet's, not to be reported back.
    echoes: VecDeque<(CircuitState, CircuitState)>,
    /// Its record in Redis is malformed: it decides its probes alone until a good answer.
    alone: bool,
}

/// Settings of the breakers' part of the fleet.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) namespace: String,
    pub(super) replica: String,
    pub(super) policy: Policy,
    pub(super) probe_lease: Duration,
}

/// The fleet's breakers on this replica.
pub(super) struct Breakers {
    manager: ManagerRef<'static>,
    settings: Settings,
    channel: String,
    tracked: HashMap<String, Tracked>,
    /// Malformed values already logged, by key and value: each is logged once.
    logged: BadValues,
    /// Whether the breakers follow the fleet's probe slots (Redis reachable) or their own.
    shared: bool,
}

impl Breakers {
    pub(super) fn new(manager: ManagerRef<'static>, settings: Settings) -> Self {
        Self {
            channel: channel(&settings.namespace),
            manager,
            settings,
            tracked: HashMap::new(),
            logged: BadValues::default(),
            shared: false,
        }
    }

    pub(super) fn channel(&self) -> &str {
        &self.channel
    }

    /// Reads the fleet's state of `name` (registered here or not).
    pub(super) async fn read(
        redis: &Redis,
        namespace: &str,
        name: &str,
    ) -> Result<SharedBreaker, FleetError> {
        let keys = Keys::new(namespace, name);
        read(redis, &keys).await.map(|a| a.view())
    }

    /// A local state change of a breaker of the manager.
    pub(super) async fn on_local(&mut self, redis: &Redis, change: &StateChange) {
        let name = &*change.circuit_breaker;
        if !self.tracked.contains_key(name) {
            // Registered since the last reconciliation (or before the first): it takes the
            // fleet's state first, then its change is reported like any other.
            self.discover(redis).await;
        }
        let Some(tracked) = self.tracked.get_mut(name) else {
            return;
        };
        if change.new_state != CircuitState::Closed {
            // Marked in the closed state that ended: the fleet's count is not theirs now.
            let _ = tracked.breaker.take_failure_marks();
        }
        if tracked.echoes.front() == Some(&(change.old_state, change.new_state)) {
            tracked.echoes.pop_front();
            return;
        }
        let report = match change.new_state {
            CircuitState::Open => Report::Open,
            CircuitState::HalfOpen => Report::Probe,
            CircuitState::Closed => Report::Close,
            // An operator's choice for this replica alone.
            CircuitState::ForcedOpen | CircuitState::Disabled => return,
        };
        tracked.pending = Some(report);
        self.send(redis, name.to_owned()).await;
    }

    /// A transition published by a replica (this one's own are already applied).
    pub(super) fn on_published(&mut self, message: &Published) {
        if message.by == self.settings.replica {
            return;
        }
        let Some(tracked) = self.tracked.get_mut(&message.breaker) else {
            return; // not used here
        };
        if message.epoch <= tracked.known {
            return;
        }
        let answer = Answer {
            changed: 1,
            state: message.state,
            epoch: message.epoch,
            n: message.ms,
        };
        adopt(tracked, &answer);
    }

    /// The manager's subscription fell behind: the echoes it would have carried are lost.
    pub(super) fn forget_echoes(&mut self) {
        for tracked in self.tracked.values_mut() {
            tracked.echoes.clear();
        }
    }

    /// Tracks the manager's breakers registered since the last call, each taking the
    /// fleet's state.
    pub(super) async fn discover(&mut self, redis: &Redis) {
        let mut reachable = true;
        for name in self.manager.names() {
            if self.tracked.contains_key(&name) {
                continue;
            }
            let Some(breaker) = self.manager.get(&name) else {
                continue;
            };
            self.share(&breaker, self.shared);
            let keys = Keys::new(&self.settings.namespace, &name);
            self.tracked.insert(
                name.clone(),
                Tracked {
                    breaker,
                    keys,
                    known: 0,
                    pending: None,
                    echoes: VecDeque::new(),
                    alone: false,
                },
            );
            if reachable {
                reachable = self.sync(redis, &name).await;
            }
        }
    }

    /// Every breaker: new ones tracked, unrecorded transitions recorded, the fleet's state
    /// read and taken where newer, probe leases renewed. Stops at the first sign that Redis
    /// is unreachable.
    pub(super) async fn reconcile(&mut self, redis: &Redis) {
        self.discover(redis).await;
        let names: Vec<String> = self.tracked.keys().cloned().collect();
        for name in names {
            if !self.sync(redis, &name).await {
                return;
            }
        }
    }

    /// One breaker's reconciliation; `false` when Redis is unreachable.
    async fn sync(&mut self, redis: &Redis, name: &str) -> bool {
        let Some(tracked) = self.tracked.get(name) else {
            return true;
        };
        if tracked.pending.is_some() {
            return self.send(redis, name.to_owned()).await;
        }
        let keys = tracked.keys.clone();
        let answer = match read(redis, &keys).await {
            Ok(answer) => answer,
            Err(error) => return self.failed(name, error),
        };
        let Some(tracked) = self.answered(name) else {
            return true;
        };
        let local = tracked.breaker.state();
        if answer.epoch < tracked.known {
            // The fleet's record was lost (Redis restarted empty): this replica's own
            // knowledge goes back in.
            tracked.known = answer.epoch;
            tracked.pending = match local {
                CircuitState::Open => Some(Report::Open),
                CircuitState::HalfOpen => Some(Report::Probe),
                _ => None,
            };
            if tracked.pending.is_some() {
                return self.send(redis, name.to_owned()).await;
            }
        } else if answer.epoch > tracked.known {
            adopt(tracked, &answer);
        } else if local == CircuitState::HalfOpen {
            // Probing: renew this replica's leases, or take slots a dead replica left.
            tracked.pending = Some(Report::Probe);
            return self.send(redis, name.to_owned()).await;
        }
        true
    }

    /// Records the pending transition of `name`; `false` when Redis is unreachable.
    async fn send(&mut self, redis: &Redis, name: String) -> bool {
        let Some(tracked) = self.tracked.get(&name) else {
            return true;
        };
        let Some(report) = tracked.pending else {
            return true;
        };
        let keys = tracked.keys.clone();
        let breaker = Arc::clone(&tracked.breaker);
        let known = tracked.known.to_string();
        let config = breaker.config();
        let replica = self.settings.replica.as_str();
        let channel = self.channel.as_str();
        let reply = match report {
            Report::Open => {
                let (quorum, window) = match self.settings.policy {
                    Policy::ShareOpen => (1, Duration::ZERO),
                    Policy::Quorum { replicas, window } => (replicas, window),
                };
                let args = [
                    channel,
                    &name,
                    replica,
                    &millis(config.recovery_timeout).to_string(),
                    &quorum.to_string(),
                    &millis(window).to_string(),
                ];
                redis.run(&OPEN, &keys.all(), &args).await
            }
            Report::Probe => {
                let args = [
                    channel,
                    &name,
                    replica,
                    &config.half_open_max_calls.to_string(),
                    &millis(self.settings.probe_lease).to_string(),
                    &breaker.probes_wanted().to_string(),
                ];
                redis.run(&PROBE, &keys.all(), &args).await
            }
            Report::Close => {
                redis
                    .run(&CLOSE, &keys.all(), &[channel, &name, replica, &known])
                    .await
            }
        };
        let answer = match reply.and_then(|r| Answer::from_reply(&keys.state, r)) {
            Ok(answer) => answer,
            Err(error) => return self.failed(&name, error),
        };
        let Some(tracked) = self.answered(&name) else {
            return true;
        };
        tracked.pending = None;
        match (report, answer.state) {
            // Waiting for a quorum: this replica's breaker stays open on its own judgement.
            (Report::Open, _) if answer.changed == 2 => {}
            (Report::Probe, Kind::HalfOpen) => {
                tracked.known = answer.epoch;
                let granted = u32::try_from(answer.n).unwrap_or(u32::MAX);
                tracked.breaker.grant_probes(granted);
            }
            // The fleet is closed, and this replica's breaker went half-open after an open of
            // its own (a quorum not reached, Redis unreachable): it probes on its own.
            (Report::Probe, Kind::Closed) if answer.epoch <= tracked.known => {
                tracked.breaker.grant_probes(config.half_open_max_calls);
            }
            (Report::Close, _) if answer.epoch <= tracked.known && answer.changed == 0 => {
                // Closed already, with nothing newer: nothing to take.
            }
            _ => adopt(tracked, &answer),
        }
        true
    }

    /// Handles an error of an operation on `name`; `false` when Redis is unreachable. Any
    /// other error (a malformed record) leaves that breaker alone deciding its probes until
    /// its record answers well again: a record the fleet cannot read grants no probes.
    fn failed(&mut self, name: &str, error: FleetError) -> bool {
        match error {
            FleetError::Unreachable(_) => {
                self.go_local();
                false
            }
            error => {
                self.log_bad(&error);
                if let Some(tracked) = self.tracked.get_mut(name) {
                    tracked.alone = true;
                    share(&tracked.breaker, false, false);
                }
                true
            }
        }
    }

    /// Logs a malformed value or another error about one key, once per key and value.
    fn log_bad(&mut self, error: &FleetError) {
        self.logged.log(error);
    }

    /// The malformed values logged so far, for the limits to log theirs once too.
    pub(super) fn bad_values(&mut self) -> &mut BadValues {
        &mut self.logged
    }

    /// A message that does not parse: logged once, dropped alone.
    pub(super) fn bad_message(&mut self, error: &FleetError) {
        self.log_bad(error);
    }

    /// Redis is unreachable: every breaker decides its probes alone, and counts its failures
    /// alone (the marks pending are dropped, and no more are made until Redis answers).
    fn go_local(&mut self) {
        if std::mem::replace(&mut self.shared, false) {
            for tracked in self.tracked.values() {
                share(&tracked.breaker, false, false);
            }
        }
    }

    /// Redis answered about `name`: the fleet is shared again, and so is `name` if it was
    /// deciding alone for a malformed record. Its entry, unless it was dropped meanwhile.
    fn answered(&mut self, name: &str) -> Option<&mut Tracked> {
        self.go_shared();
        let counts = self.counts();
        let tracked = self.tracked.get_mut(name)?;
        tracked.answered(counts);
        Some(tracked)
    }

    /// Redis answered: the fleet decides the probes again (a half-open breaker takes its
    /// slots at its next reconciliation), and counts the failures from now on.
    fn go_shared(&mut self) {
        if !std::mem::replace(&mut self.shared, true) {
            for tracked in self.tracked.values().filter(|t| !t.alone) {
                share(&tracked.breaker, true, self.counts());
            }
        }
    }

    /// The breakers go back to deciding alone (the fleet is detached).
    pub(super) fn detach(&mut self) {
        self.go_local();
        for tracked in self.tracked.values() {
            share(&tracked.breaker, false, false);
        }
    }

    /// Whether the fleet counts the breakers' failures: under [`Policy::ShareOpen`] only (a
    /// quorum's point is that one replica's failures do not open the fleet).
    fn counts(&self) -> bool {
        self.settings.policy == Policy::ShareOpen
    }

    /// `breaker` shared (Redis answers, its record is well formed) or deciding alone.
    fn share(&self, breaker: &CircuitBreaker, shared: bool) {
        share(breaker, shared, shared && self.counts());
    }

    /// Resolves once a breaker has failures (or a reset) marked for the fleet's count.
    pub(super) fn marked(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let mut marked = false;
            for tracked in self.tracked.values() {
                marked |= tracked.breaker.poll_failure_marks(cx);
            }
            if marked {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    /// Sends every breaker's marked failures and resets, each in one `fail.lua`. Stops at the
    /// first sign that Redis is unreachable (the marks are dropped then).
    pub(super) async fn send_failures(&mut self, redis: &Redis) {
        let marked: Vec<(String, Marks)> = self
            .tracked
            .iter()
            .filter_map(|(name, t)| Some((name.clone(), t.breaker.take_failure_marks()?)))
            .collect();
        for (name, marks) in marked {
            if !self.count(redis, &name, marks).await {
                return;
            }
        }
    }

    /// Adds `marks` to the fleet's count of `name`; `false` when Redis is unreachable. A
    /// malformed count is logged (once) and the marks dropped: the breaker goes on, counting
    /// its own failures, its transitions shared as ever.
    async fn count(&mut self, redis: &Redis, name: &str, marks: Marks) -> bool {
        let Some(tracked) = self.tracked.get(name) else {
            return true;
        };
        let keys = tracked.keys.clone();
        let config = tracked.breaker.config();
        let args = [
            self.channel.as_str(),
            name,
            self.settings.replica.as_str(),
            &tracked.known.to_string(),
            if marks.reset { "1" } else { "0" },
            &marks.failures.to_string(),
            &config.failure_threshold.to_string(),
            &millis(config.recovery_timeout).to_string(),
            &millis(self.settings.probe_lease).to_string(),
        ];
        let reply = redis.run(&FAIL, &keys.with_failures(), &args).await;
        let answer = match reply.and_then(|r| Answer::from_reply(&keys.state, r)) {
            Ok(answer) => answer,
            Err(FleetError::BadValue { key, field, value }) if key == keys.failures => {
                self.log_bad(&FleetError::BadValue { key, field, value });
                return true;
            }
            Err(error) => return self.failed(name, error),
        };
        let Some(tracked) = self.answered(name) else {
            return true;
        };
        // Opened by these failures, or a transition this replica has not taken yet.
        if answer.epoch > tracked.known {
            adopt(tracked, &answer);
        }
        true
    }
}

impl Tracked {
    /// Its record answered well: if it was deciding alone for a malformed record, the fleet
    /// decides its probes (and counts its failures, if it `counts`) again (this is reached only
    /// while Redis answers).
    fn answered(&mut self, counts: bool) {
        if std::mem::replace(&mut self.alone, false) {
            share(&self.breaker, true, counts);
        }
    }
}

/// Whether the fleet decides `breaker`'s probes (`shared`) and counts its failures (`counts`),
/// or the breaker alone.
fn share(breaker: &CircuitBreaker, shared: bool, counts: bool) {
    breaker.share_probes(shared);
    breaker.count_failures(counts);
}

/// Takes the fleet's newer state: the breaker moves to it as an operator's control would.
fn adopt(tracked: &mut Tracked, answer: &Answer) {
    tracked.known = answer.epoch;
    if let Some(change) = tracked.breaker.apply_shared(answer.shared()) {
        tracked.echoes.push_back(change);
    }
}

async fn read(redis: &Redis, keys: &Keys) -> Result<Answer, FleetError> {
    let reply = redis.run(&READ, &keys.all(), &[]).await?;
    Answer::from_reply(&keys.state, reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_slot_per_breaker_and_namespace() {
        let keys = Keys::new("crm", "tier1_mcp");
        assert_eq!(keys.state, "resilience:{crm:tier1_mcp}:state");
        assert_eq!(keys.probes, "resilience:{crm:tier1_mcp}:probes");
        assert_eq!(keys.votes, "resilience:{crm:tier1_mcp}:votes");
        assert_eq!(channel("crm"), "resilience:{crm}:breakers");
    }

    #[test]
    fn a_published_transition_parses_and_a_malformed_one_names_channel_and_payload() {
        let m = Published::parse("ch", "tier1_mcp 7 open 60000 12-ab").unwrap();
        assert_eq!(
            m,
            Published {
                breaker: "tier1_mcp".into(),
                epoch: 7,
                state: Kind::Open,
                ms: 60000,
                by: "12-ab".into()
            }
        );
        for payload in [
            "tier1_mcp 7 open 60000",
            "tier1_mcp seven open 60000 r",
            "tier1_mcp 7 ajar 60000 r",
            "tier1_mcp 7 open -1 r",
        ] {
            let error = Published::parse("resilience:{crm}:breakers", payload).unwrap_err();
            let text = error.to_string();
            assert!(text.contains("resilience:{crm}:breakers"), "{text}");
            assert!(text.contains(payload), "{text}");
        }
    }
}
