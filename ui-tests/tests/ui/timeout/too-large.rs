// A time limit above 365 days.
use resilience::timeout;

#[timeout("400days")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
