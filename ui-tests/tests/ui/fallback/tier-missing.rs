// A tier that does not exist.
use resilience::fallback;

#[fallback(get_account_sdk)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
