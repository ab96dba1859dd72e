//! A local stand-in for Zoho CRM, a client that keeps answering while its tiers fail, and the
//! scenario that shows it.
//!
//! * [`server`]: [`FakeServer`], one tier: a real HTTP server on `127.0.0.1` whose fault mode
//!   ([`FaultMode`]) is switched at run time.
//! * [`client`]: [`ZohoClient`], real HTTP through `reqwest`, each tier behind its own circuit
//!   breaker, tier 1 retried and falling back to tiers 2 and 3.
//! * [`scenario`]: [`Scenario`], four scripted phases (all healthy, tier 1 down, tier 2 slow,
//!   recovery) with a health monitor, ending in a [`Report`].
//! * [`report`]: what a scenario records, and the [`Report`] that checks no request was lost.
//! * [`burst`]: many requests at once after the phases: the client's bulkhead and rate
//!   limiter keep it inside the organisation's limits ([`org`]), so Zoho never answers 429.
//! * [`view`]: the live terminal view, the plain log and the summary, as text.
//!
//! The three tiers, in the order they are tried:
//!
//! | tier | breaker | stands for |
//! |---|---|---|
//! | 1 | `tier1_mcp` | Zoho's MCP server |
//! | 2 | `tier2_sdk` | the Zoho SDK |
//! | 3 | `tier3_rest` | the plain REST API |

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod burst;
pub mod client;
pub mod org;
pub mod report;
pub mod scenario;
pub mod server;
pub mod view;

pub use client::{Attempt, ZohoClient, ZohoError};
pub use scenario::{Phase, Report, Scenario, ScenarioConfig, ScenarioError, Snapshot};
pub use server::{FakeServer, FaultMode};

/// One of the three tiers of the Zoho stand-in.
///
/// Serialises as its breaker's name (`"tier1_mcp"`), which is also how the servers tag the
/// accounts they serve.
///
/// ```
/// use resilience_examples::zoho::TierId;
///
/// assert_eq!(TierId::Sdk.breaker(), "tier2_sdk");
/// assert_eq!(TierId::Sdk.label(), "SDK");
/// assert_eq!(TierId::ALL.map(TierId::number), [1, 2, 3]);
/// assert_eq!(TierId::from_breaker("tier3_rest"), Some(TierId::Rest));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TierId {
    /// Tier 1, Zoho's MCP server: breaker `tier1_mcp`.
    #[serde(rename = "tier1_mcp")]
    Mcp,
    /// Tier 2, the Zoho SDK: breaker `tier2_sdk`.
    #[serde(rename = "tier2_sdk")]
    Sdk,
    /// Tier 3, the REST API: breaker `tier3_rest`.
    #[serde(rename = "tier3_rest")]
    Rest,
}

impl TierId {
    /// The tiers in the order the client tries them.
    pub const ALL: [TierId; 3] = [TierId::Mcp, TierId::Sdk, TierId::Rest];

    /// The name of the tier's circuit breaker (and of its health check).
    pub fn breaker(self) -> &'static str {
        match self {
            TierId::Mcp => "tier1_mcp",
            TierId::Sdk => "tier2_sdk",
            TierId::Rest => "tier3_rest",
        }
    }

    /// What the tier stands for: `MCP`, `SDK` or `REST`.
    pub fn label(self) -> &'static str {
        match self {
            TierId::Mcp => "MCP",
            TierId::Sdk => "SDK",
            TierId::Rest => "REST",
        }
    }

    /// 1, 2 or 3.
    pub fn number(self) -> u8 {
        self.index() as u8 + 1
    }

    /// 0, 1 or 2: the tier's place in [`TierId::ALL`].
    pub fn index(self) -> usize {
        match self {
            TierId::Mcp => 0,
            TierId::Sdk => 1,
            TierId::Rest => 2,
        }
    }

    /// The tier whose breaker is named `name`.
    pub fn from_breaker(name: &str) -> Option<TierId> {
        TierId::ALL.into_iter().find(|t| t.breaker() == name)
    }
}

impl fmt::Display for TierId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.breaker())
    }
}

/// A Zoho CRM account, as every tier serves it.
///
/// The data is made up from the id, so that every tier answers the same account the same way;
/// only `served_by` tells them apart.
///
/// ```
/// use resilience_examples::zoho::{Account, TierId};
///
/// let a = Account::fake("ACC-0042", TierId::Mcp);
/// let b = Account::fake("ACC-0042", TierId::Rest);
/// assert_eq!((a.id.as_str(), a.name.as_str()), (b.id.as_str(), b.name.as_str()));
/// assert_eq!(b.served_by, TierId::Rest);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The account's id, as asked for.
    pub id: String,
    /// The company's name.
    pub name: String,
    /// The company's industry.
    pub industry: String,
    /// The account owner, a sales representative.
    pub owner: String,
    /// Yearly revenue in US dollars.
    pub annual_revenue: u64,
    /// The tier that answered.
    pub served_by: TierId,
}

impl Account {
    /// The account `id` as the tier `served_by` serves it.
    pub fn fake(id: &str, served_by: TierId) -> Account {
        const NAMES: [&str; 8] = [
            "Acme Corp",
            "Globex",
            "Initech",
            "Umbrella Health",
            "Hooli",
            "Stark Industries",
            "Wayne Enterprises",
            "Soylent Foods",
        ];
        const INDUSTRIES: [&str; 4] = ["Manufacturing", "Technology", "Healthcare", "Retail"];
        const OWNERS: [&str; 3] = ["Ana Souza", "Ben Okafor", "Chen Wei"];
        // FNV-1a: a stable hash, the same on every platform and run.
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let pick = |n: usize, shift: u32| ((hash >> shift) % n as u64) as usize;
        Account {
            id: id.to_owned(),
            name: NAMES[pick(NAMES.len(), 0)].to_owned(),
            industry: INDUSTRIES[pick(INDUSTRIES.len(), 8)].to_owned(),
            owner: OWNERS[pick(OWNERS.len(), 16)].to_owned(),
            annual_revenue: 1_000_000 * (1 + (hash >> 24) % 500),
            served_by,
        }
    }
}
