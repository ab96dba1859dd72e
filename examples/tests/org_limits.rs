//! The stand-in's organisation limits: 429 `TOO_MANY_REQUESTS` past the concurrency or the
//! credits, shared by every tier, with no `Retry-After` header, as Zoho answers.

use std::sync::Arc;
use std::time::Duration;

use resilience_examples::zoho::TierId;
use resilience_examples::zoho::org::OrgLimits;
use resilience_examples::zoho::server::{FakeServer, FaultMode, ServerConfig};

async fn tier(tier: TierId, org: &Arc<OrgLimits>) -> FakeServer {
    let mut config = ServerConfig::new(tier);
    config.org = Some(Arc::clone(org));
    config.slow_delay = Duration::from_secs(30);
    FakeServer::start(config).await.unwrap()
}

#[tokio::test]
async fn credits_spent_on_any_tier_are_answered_429_without_retry_after() {
    let org = Arc::new(OrgLimits::new(15, 3, Duration::from_secs(3600)));
    let (mcp, rest) = (
        tier(TierId::Mcp, &org).await,
        tier(TierId::Rest, &org).await,
    );
    let http = reqwest::Client::new();
    for server in [&mcp, &rest, &mcp] {
        let answer = http
            .get(format!("{}/accounts/42", server.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let answer = http
        .get(format!("{}/accounts/42", rest.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 429);
    assert!(answer.headers().get("retry-after").is_none());
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "TOO_MANY_REQUESTS");
    assert_eq!(body["status"], "error");
    assert_eq!(org.too_many_requests(), 1);
    assert_eq!(org.credits_used(), 3);
}

#[tokio::test]
async fn calls_past_the_concurrency_are_answered_429() {
    let org = Arc::new(OrgLimits::new(2, 1000, Duration::from_secs(3600)));
    let sdk = tier(TierId::Sdk, &org).await;
    sdk.set_mode(FaultMode::Slow).await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/accounts/7", sdk.base_url());
    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(http.get(&url).send()))
        .collect();
    // Wait until both are inside the server.
    for _ in 0..200 {
        if org.in_flight() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(org.in_flight(), 2);
    let third = http.get(&url).send().await.unwrap();
    assert_eq!(third.status(), 429);
    sdk.set_mode(FaultMode::Healthy).await.unwrap(); // the slow ones answer now
    for call in slow {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(org.peak_concurrency(), 2);
    assert_eq!(org.in_flight(), 0);
}

/// The fleet demo's view measures what Redis holds against the client's bulkhead and rate
/// limiter settings: the ones its attributes register.
#[tokio::test]
async fn the_fleet_views_settings_are_the_clients() {
    use resilience_examples::fleet::view::{CREDITS_BURST, CREDITS_PER, CREDITS_RATE, ORG_SLOTS};
    use resilience_examples::zoho::ZohoClient;
    use resilience_examples::zoho::burst::{BULKHEAD, RATE_LIMITER};

    let org = Arc::new(OrgLimits::new(15, 1000, Duration::from_secs(3600)));
    let mut tiers = Vec::new();
    for id in TierId::ALL {
        tiers.push(tier(id, &org).await);
    }
    let client = ZohoClient::new(
        TierId::ALL.map(|t| tiers[t.index()].base_url()),
        Duration::from_secs(5),
    )
    .unwrap();
    client.get_account("42").await.unwrap();
    let bulkhead = resilience::registry().bulkhead(BULKHEAD).unwrap();
    assert_eq!(bulkhead.config().max_concurrent, ORG_SLOTS);
    let limiter = resilience::registry().rate_limiter(RATE_LIMITER).unwrap();
    let config = limiter.config();
    assert_eq!(
        (config.rate, config.per, config.burst),
        (CREDITS_RATE, CREDITS_PER, CREDITS_BURST)
    );
}
