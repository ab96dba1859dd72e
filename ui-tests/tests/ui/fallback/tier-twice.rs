// The same tier listed twice.
use resilience::fallback;

#[fallback(get_account_sdk, get_account_sdk)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

async fn get_account_sdk(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
