//! What a [`Scenario`](super::Scenario) records and reports: each request and how it ended,
//! the breakers' state changes, the counts by tier and phase, and the [`Report`] that checks
//! that no request was lost.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use resilience::{HealthStatus, Metrics, StateChange};
use serde::{Serialize, Serializer};

use super::TierId;
use super::burst::BurstReport;
use super::client::Attempt;
use super::scenario::{Phase, ScenarioConfig};

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A tier gave the account.
    Served(TierId),
    /// Every tier failed or was skipped; the error lists them.
    AllTiersFailed(String),
    /// Another error: never expected, since the fallback chain turns every failure into
    /// all-tiers-failed. Counted as lost.
    Error(String),
}

/// One request of the scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// 1, 2, 3, ... in the order issued.
    pub seq: usize,
    /// The phase it belongs to: 1 to 4.
    pub phase: usize,
    /// The account asked for.
    pub account_id: String,
    /// When it was issued, since the scenario started.
    #[serde(serialize_with = "secs")]
    pub at: Duration,
    /// How long it took, fallbacks and retries included.
    #[serde(serialize_with = "secs")]
    pub latency: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP calls made for it, in order (calls refused by an open breaker made none).
    #[serde(skip)]
    pub attempts: Vec<Attempt>,
}

impl RequestRecord {
    /// The tier that served it, if one did.
    pub fn served_by(&self) -> Option<TierId> {
        match self.outcome {
            Outcome::Served(tier) => Some(tier),
            _ => None,
        }
    }
}

/// A state change of one of the tiers' breakers, with its time since the scenario started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimedChange {
    /// Time since the scenario started.
    #[serde(serialize_with = "secs")]
    pub since_start: Duration,
    /// The change, as the breaker published it.
    #[serde(flatten)]
    pub change: StateChange,
}

impl TimedChange {
    /// The breaker's name.
    pub fn breaker(&self) -> &str {
        &self.change.circuit_breaker
    }
}

/// Counts by tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TierCounts {
    /// Tier 1 (MCP).
    pub tier1_mcp: usize,
    /// Tier 2 (SDK).
    pub tier2_sdk: usize,
    /// Tier 3 (REST).
    pub tier3_rest: usize,
}

impl TierCounts {
    /// The count of `tier`.
    pub fn get(&self, tier: TierId) -> usize {
        match tier {
            TierId::Mcp => self.tier1_mcp,
            TierId::Sdk => self.tier2_sdk,
            TierId::Rest => self.tier3_rest,
        }
    }

    /// Adds one to `tier`.
    pub fn add(&mut self, tier: TierId) {
        match tier {
            TierId::Mcp => self.tier1_mcp += 1,
            TierId::Sdk => self.tier2_sdk += 1,
            TierId::Rest => self.tier3_rest += 1,
        }
    }

    /// The sum over the three tiers.
    pub fn total(&self) -> usize {
        self.tier1_mcp + self.tier2_sdk + self.tier3_rest
    }

    /// The tier with the highest count (the first of them on a tie), if any count is not 0.
    pub fn most(&self) -> Option<TierId> {
        TierId::ALL.into_iter().filter(|&t| self.get(t) > 0).fold(
            None,
            |best: Option<TierId>, t| match best {
                Some(b) if self.get(b) >= self.get(t) => Some(b),
                _ => Some(t),
            },
        )
    }
}

/// What the requests came to: who served how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Requests issued.
    pub issued: usize,
    /// Requests served, by the tier that served them.
    pub served: TierCounts,
    /// Requests that no tier served.
    pub all_tiers_failed: usize,
    /// Requests that ended with another error (lost: never expected).
    pub other_errors: usize,
}

impl Tally {
    pub(crate) fn count(records: &[RequestRecord]) -> Tally {
        let mut tally = Tally {
            issued: records.len(),
            ..Tally::default()
        };
        for record in records {
            match record.outcome {
                Outcome::Served(tier) => tally.served.add(tier),
                Outcome::AllTiersFailed(_) => tally.all_tiers_failed += 1,
                Outcome::Error(_) => tally.other_errors += 1,
            }
        }
        tally
    }

    /// Requests answered: served by a tier or reported as all-tiers-failed.
    pub fn answered(&self) -> usize {
        self.served.total() + self.all_tiers_failed
    }
}

/// What one phase came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseReport {
    /// 1 to 4.
    pub number: usize,
    /// The phase as planned.
    pub phase: Phase,
    /// When it started, since the scenario started.
    #[serde(serialize_with = "secs")]
    pub started: Duration,
    /// How long it lasted.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Its requests.
    pub requests: Tally,
    /// The tier that served its last request, if one did.
    pub last_served_by: Option<TierId>,
}

/// What the tier's server saw of the account requests, split by the state of the tier's
/// breaker when each arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ServerTally {
    /// Account requests received in all.
    pub received: usize,
    /// Received while the breaker was closed (or not yet created).
    pub while_closed: usize,
    /// Received while the breaker was open: the breaker should have stopped them, so 0.
    pub while_open: usize,
    /// Received while the breaker was half-open: the probes.
    pub while_half_open: usize,
    /// Background faults it injected while healthy.
    pub injected_faults: u64,
}

/// What the scenario came to: the final metrics, the per-tier counts and the state-change
/// timeline. Serialises to the JSON that `zoho_demo --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The settings it ran with.
    pub config: ScenarioConfig,
    /// How long it ran.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Every request: who served how many. Served + all-tiers-failed = issued.
    pub requests: Tally,
    /// Each phase's requests.
    pub phases: Vec<PhaseReport>,
    /// Every state change of the three breakers, in order.
    pub state_changes: Vec<TimedChange>,
    /// State changes the scenario missed (its subscription fell behind): 0 unless the machine
    /// was badly overloaded.
    pub missed_state_changes: u64,
    /// The final metrics of each tier's breaker, by name (the guide's metrics structure).
    pub metrics: BTreeMap<String, Metrics>,
    /// What each tier's server received, by breaker name.
    pub servers: BTreeMap<String, ServerTally>,
    /// The last health status (the guide's `get_health_status()`).
    pub health: HealthStatus,
    /// What the burst after the four phases came to; `None` when there was none.
    pub burst: Option<BurstReport>,
    /// Every request, in order.
    #[serde(skip)]
    pub log: Vec<RequestRecord>,
}

impl Report {
    /// The state changes of the breaker `breaker`, in order.
    pub fn changes_of(&self, breaker: &str) -> Vec<&TimedChange> {
        self.state_changes
            .iter()
            .filter(|c| c.breaker() == breaker)
            .collect()
    }

    /// What `tier`'s server received.
    pub fn server(&self, tier: TierId) -> ServerTally {
        self.servers
            .get(tier.breaker())
            .copied()
            .unwrap_or_default()
    }

    /// Checks that no request was lost: every request was served by a tier or reported as
    /// all-tiers-failed, in total and in each phase, and each served request's last HTTP call
    /// was a success of the tier that served it.
    pub fn check_accounting(&self) -> Result<(), ScenarioError> {
        let fail = |what: String| Err(ScenarioError::Accounting(what));
        let t = &self.requests;
        if t.answered() != t.issued || t.other_errors != 0 {
            return fail(format!(
                "{} served + {} all-tiers-failed != {} issued ({} other errors)",
                t.served.total(),
                t.all_tiers_failed,
                t.issued,
                t.other_errors
            ));
        }
        let by_phase: usize = self.phases.iter().map(|p| p.requests.issued).sum();
        if by_phase != t.issued {
            return fail(format!("phases issued {by_phase}, in all {}", t.issued));
        }
        for phase in &self.phases {
            if phase.requests.answered() != phase.requests.issued {
                return fail(format!("phase {} lost requests", phase.number));
            }
        }
        if let Some(burst) = &self.burst {
            if burst.answered() != burst.issued {
                return fail(format!(
                    "burst: {} served + {} shed + {} failed != {} issued",
                    burst.served, burst.shed, burst.failed, burst.issued
                ));
            }
        }
        for record in &self.log {
            if let Some(tier) = record.served_by() {
                let last = record.attempts.last();
                if !last.is_some_and(|a| a.tier == tier && a.error.is_none()) {
                    return fail(format!(
                        "request #{} served by {tier} without a successful call to it",
                        record.seq
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A fake server could not bind its port.
    #[error("fake {tier} server: {source}")]
    Server {
        /// The tier.
        tier: TierId,
        /// The socket error.
        source: io::Error,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// The health monitor's settings (or the environment) are invalid.
    #[error(transparent)]
    Config(#[from] resilience::ConfigError),
    /// Requests were lost: the counts do not add up.
    #[error("requests do not add up: {0}")]
    Accounting(String),
}

pub(crate) fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
