// `key = value` settings in #[fallback], which takes only a list of tiers.
use resilience::fallback;

#[fallback(tiers = get_account_sdk)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

async fn get_account_sdk(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
