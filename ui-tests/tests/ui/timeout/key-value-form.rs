// The time limit is written alone, not as `key = value`.
use resilience::timeout;

#[timeout(after = "5s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
