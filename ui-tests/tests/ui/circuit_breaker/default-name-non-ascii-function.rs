// Without `name`, the breaker is named after the module path and the function: a function whose
// name is not ASCII cannot be part of it (nor of its environment variables).
use resilience::circuit_breaker;

#[circuit_breaker(failure_threshold = 2)]
async fn compte_réel(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {
    let _ = compte_réel(1);
}
