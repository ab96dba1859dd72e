// Each limit alone, without a breaker or retries, on free functions and methods, with default
// names and names from constants.
#![deny(warnings)]
use resilience::{Error, bulkhead, rate_limit, timeout};

const CREDITS: &str = "pass_alone_credits";

#[timeout(0.5)]
async fn timed(id: u32) -> Result<u32, Error> {
    Ok(id)
}

#[bulkhead]
async fn slotted(id: u32) -> Result<u32, Error> {
    Ok(id)
}

#[rate_limit(name = CREDITS, rate = 10, per = 1)]
async fn metered(id: u32) -> Result<u32, Error> {
    Ok(id)
}

struct Zoho {
    base: u32,
}

impl Zoho {
    #[bulkhead(name = "pass_alone_org", max_concurrent = 15)]
    async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(self.base + id)
    }

    #[rate_limit(rate = 5, per = "1s", max_wait = "1s")]
    async fn put(&mut self, id: u32) -> Result<u32, Error> {
        self.base = id;
        Ok(id)
    }

    #[timeout("1s")]
    async fn take(self, id: u32) -> Result<u32, Error> {
        Ok(self.base + id)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(timed(1).await.unwrap(), 1);
    assert_eq!(slotted(2).await.unwrap(), 2);
    assert_eq!(metered(3).await.unwrap(), 3);
    let mut zoho = Zoho { base: 10 };
    assert_eq!(zoho.get(1).await.unwrap(), 11);
    assert_eq!(zoho.put(20).await.unwrap(), 20);
    assert_eq!(zoho.take(1).await.unwrap(), 21);
    let registry = resilience::registry();
    assert!(registry.bulkhead("pass_alone_org").is_some());
    let default_named = registry.bulkhead_metrics();
    assert!(default_named.keys().any(|name| name.ends_with("::slotted")));
    assert!(registry.rate_limiter(CREDITS).is_some());
}
