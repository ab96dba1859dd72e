// Without `name`, the breaker is named after the module path and the function: a module whose
// name is not ASCII cannot be part of it (nor of its environment variables).
mod café {
    use resilience::circuit_breaker;

    #[circuit_breaker(failure_threshold = 2)]
    pub async fn get_account(id: u32) -> Result<u32, resilience::Error> {
        Ok(id)
    }
}

fn main() {
    let _ = café::get_account(1);
}
