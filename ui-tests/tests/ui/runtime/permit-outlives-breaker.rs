// A permit borrows its breaker: it cannot outlive it, so an outcome can never be recorded into a
// breaker that is gone.
use resilience::CircuitBreaker;

fn main() {
    let permit = {
        let breaker = CircuitBreaker::builder("tier1_mcp").build().unwrap();
        breaker.try_acquire().unwrap()
    };
    permit.record_success();
}
