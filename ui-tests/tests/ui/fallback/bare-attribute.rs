// #[fallback] written without its list of tiers.
use resilience::fallback;

#[fallback]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
