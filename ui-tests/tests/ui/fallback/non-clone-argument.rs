// An owned argument that is not `Clone` cannot be handed to the function and to its tier.
use resilience::fallback;

struct Request {
    id: u32,
}

#[fallback(get_account_sdk)]
async fn get_account(request: Request) -> Result<u32, resilience::Error> {
    Ok(request.id)
}

async fn get_account_sdk(request: Request) -> Result<u32, resilience::Error> {
    Ok(request.id)
}

fn main() {}
