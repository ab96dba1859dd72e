// An owned argument that is not `Clone` cannot be handed to each attempt.
use resilience::retry;

struct Request {
    id: u32,
}

#[retry(max_attempts = 3)]
async fn get_account(request: Request) -> Result<u32, resilience::Error> {
    Ok(request.id)
}

fn main() {}
