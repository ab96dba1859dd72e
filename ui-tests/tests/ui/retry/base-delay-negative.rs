// A negative delay, written with a decimal number of seconds.
use resilience::retry;

#[retry(base_delay = -0.5)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
