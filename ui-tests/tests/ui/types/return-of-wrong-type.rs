// A `return` of the wrong type in the body: one error, at the value.
use resilience::retry;

#[retry(max_attempts = 3)]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    if id == 0 {
        return Ok("zero");
    }
    Ok(id)
}

fn main() {}
