// #[timeout] without its time limit.
use resilience::timeout;

#[timeout]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
