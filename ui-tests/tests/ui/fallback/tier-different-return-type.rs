// A tier that returns another type than the function it backs.
use resilience::fallback;

#[fallback(get_account_sdk)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

async fn get_account_sdk(id: u32) -> Result<String, resilience::Error> {
    Ok(id.to_string())
}

fn main() {}
