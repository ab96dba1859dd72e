// `break` in the body, outside any loop of the body: an error, as without the attribute.
use resilience::retry;

#[retry(max_attempts = 3)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    if id == 0 {
        break Ok(7);
    }
    Ok(id)
}

fn main() {}
