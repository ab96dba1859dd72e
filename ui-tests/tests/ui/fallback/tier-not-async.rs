// A tier that is not an `async fn`: its result cannot be awaited.
use resilience::fallback;

#[fallback(get_account_cached)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn get_account_cached(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
