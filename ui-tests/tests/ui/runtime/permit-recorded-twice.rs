// A permit records one outcome: recording consumes it.
use resilience::CircuitBreaker;

fn main() {
    let breaker = CircuitBreaker::builder("tier1_mcp").build().unwrap();
    let permit = breaker.try_acquire().unwrap();
    permit.record_success();
    permit.record_failure();
}
