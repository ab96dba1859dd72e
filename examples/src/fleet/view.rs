//! The fleet's limits in the live view: the client's bulkhead `zoho_org` and rate limiter
//! `zoho_credits`, as Redis holds them for the fleet, read by the demo's own process through a
//! [`FleetView`] (it serves no calls, and takes no slot and no credit).

use std::sync::Arc;
use std::time::Duration;

use resilience::CircuitBreakerManager;
use resilience::fleet::{Fleet, FleetError, FleetView};
use resilience::limit::{Bulkhead, RateLimiter};
use serde::Serialize;

use crate::zoho::burst::{BULKHEAD, RATE_LIMITER};

/// The client's bulkhead `zoho_org`: calls at once, as its attributes write it.
pub const ORG_SLOTS: u32 = 15;
/// The client's rate limiter `zoho_credits`: credits per [`CREDITS_PER`], as its attributes
/// write it.
pub const CREDITS_RATE: u64 = 250;
/// The period of [`CREDITS_RATE`].
pub const CREDITS_PER: Duration = Duration::from_secs(10);
/// The client's rate limiter `zoho_credits`: the most credits spent at once.
pub const CREDITS_BURST: u32 = 100;

/// The client's limits, as the live view shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "limits")]
pub enum LimitsView {
    /// The fleet's, as Redis holds them.
    Fleet {
        /// The bulkhead's slots leased by the replicas, and its `max_concurrent`.
        slots: (u32, u32),
        /// How many replicas hold those slots.
        replicas: u32,
        /// The rate limiter's credits left in the fleet's bucket, and its burst.
        credits: (u64, u32),
    },
    /// The fleet's, but Redis did not answer the read.
    Unread {
        /// What went wrong.
        error: String,
    },
    /// Without the fleet: each replica has a bulkhead and a rate limiter of its own, each
    /// sized for the whole organisation.
    EachReplica {
        /// Each replica's `max_concurrent`.
        slots: u32,
        /// Each replica's burst.
        credits: u32,
    },
}

impl LimitsView {
    /// As the live view's line shows it.
    ///
    /// ```
    /// use resilience_examples::fleet::LimitsView;
    ///
    /// let fleet = LimitsView::Fleet { slots: (4, 15), replicas: 4, credits: (96, 100) };
    /// assert_eq!(fleet.text(), "fleet 4/15 slots, 96/100 credits");
    /// let alone = LimitsView::EachReplica { slots: 15, credits: 100 };
    /// assert_eq!(alone.text(), "limits each replica's: 15 slots, 100 credits");
    /// ```
    pub fn text(&self) -> String {
        match self {
            LimitsView::Fleet { slots, credits, .. } => format!(
                "fleet {}/{} slots, {}/{} credits",
                slots.0, slots.1, credits.0, credits.1
            ),
            LimitsView::Unread { error } => format!("fleet limits unread ({error})"),
            LimitsView::EachReplica { slots, credits } => {
                format!("limits each replica's: {slots} slots, {credits} credits")
            }
        }
    }
}

/// Reads the client's limits for the live view: through a [`FleetView`] with the fleet, one
/// read of each limit per frame; without it, the replicas' own settings.
#[derive(Debug)]
pub struct LimitsReader {
    view: Option<FleetView>,
}

impl LimitsReader {
    /// A reader of the fleet `namespace` at `redis` (each read within `op_timeout`), or of
    /// each replica's settings when `fleet` is `false`.
    pub fn new(
        fleet: bool,
        redis: &str,
        namespace: &str,
        op_timeout: Duration,
    ) -> Result<LimitsReader, FleetError> {
        if !fleet {
            return Ok(LimitsReader { view: None });
        }
        // The client's settings, registered here without serving a call: the view measures
        // what Redis holds against them.
        let settings = Arc::new(CircuitBreakerManager::new());
        settings.register_bulkhead(Bulkhead::builder(BULKHEAD).max_concurrent(ORG_SLOTS))?;
        settings.register_rate_limiter(
            RateLimiter::builder(RATE_LIMITER, CREDITS_RATE, CREDITS_PER).burst(CREDITS_BURST),
        )?;
        let view = Fleet::builder()
            .url(redis)
            .namespace(namespace)
            .manager(settings)
            .op_timeout(op_timeout)
            .view()?;
        Ok(LimitsReader { view: Some(view) })
    }

    /// The limits now.
    pub async fn read(&self) -> LimitsView {
        let Some(view) = &self.view else {
            return LimitsView::EachReplica {
                slots: ORG_SLOTS,
                credits: CREDITS_BURST,
            };
        };
        // Both on one connection at once: one round trip.
        let read = async {
            let (slots, credits) = tokio::join!(
                view.shared_bulkhead(BULKHEAD),
                view.shared_rate_limiter(RATE_LIMITER)
            );
            let (slots, credits) = (slots?, credits?);
            Ok::<_, FleetError>(LimitsView::Fleet {
                slots: (slots.leased, slots.max_concurrent),
                replicas: slots.replicas,
                credits: (credits.available, credits.burst),
            })
        };
        read.await.unwrap_or_else(|e| LimitsView::Unread {
            error: e.to_string(),
        })
    }
}
