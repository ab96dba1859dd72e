// A function named as its own fallback tier.
use resilience::fallback;

#[fallback(get_account)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
