// #[fallback] with `Box<dyn Error>`, which is neither an `Error` itself nor `Send + Sync`.
use resilience::fallback;

#[fallback(get_account_sdk)]
async fn get_account(id: u32) -> Result<u32, Box<dyn std::error::Error>> {
    Err(format!("account {id} is down").into())
}

async fn get_account_sdk(id: u32) -> Result<u32, Box<dyn std::error::Error>> {
    Ok(id)
}

fn main() {}
