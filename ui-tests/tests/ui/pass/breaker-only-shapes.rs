// #[circuit_breaker] alone runs the body once: `self` by value and patterns in arguments are fine.
use resilience::circuit_breaker;

struct Request {
    id: u32,
}

struct ZohoClient;

impl ZohoClient {
    #[circuit_breaker(name = "by_value")]
    async fn into_account(self, Request { id }: Request) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

#[circuit_breaker(name = "pattern")]
async fn sum((a, b): (u32, u32), mut extra: Vec<u32>) -> Result<u32, resilience::Error> {
    extra.push(a + b);
    Ok(extra.iter().sum())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(ZohoClient.into_account(Request { id: 7 }).await.unwrap(), 7);
    assert_eq!(sum((1, 2), vec![3]).await.unwrap(), 6);
}
