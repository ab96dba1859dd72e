// A tier whose argument has another type than the function's.
use resilience::fallback;

#[fallback(get_account_sdk)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

async fn get_account_sdk(id: &str) -> Result<u32, resilience::Error> {
    Ok(id.len() as u32)
}

fn main() {}
