// `retry_if` takes the path of a function, not its name as a string.
use resilience::retry;

fn is_transient(_: &resilience::Error) -> bool {
    true
}

#[retry(max_attempts = 3, retry_if = "is_transient")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
