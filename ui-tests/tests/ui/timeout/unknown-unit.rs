// A duration in a unit that does not exist.
use resilience::timeout;

#[timeout("5 parsecs")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
