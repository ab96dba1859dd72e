// The attribute on a struct instead of an `async fn`.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp")]
struct ZohoClient;

fn main() {}
