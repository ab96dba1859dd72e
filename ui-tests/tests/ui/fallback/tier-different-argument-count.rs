// A tier that takes another number of arguments than the function it backs.
use resilience::fallback;

#[fallback(get_account_sdk)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

async fn get_account_sdk(id: u32, region: &str) -> Result<u32, resilience::Error> {
    Ok(id + region.len() as u32)
}

fn main() {}
