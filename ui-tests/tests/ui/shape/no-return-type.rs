// A function without a return type: there is no error to count or retry.
use resilience::circuit_breaker;

#[circuit_breaker(name = "tier1_mcp")]
async fn ping(id: u32) {
    let _ = id;
}

fn main() {}
