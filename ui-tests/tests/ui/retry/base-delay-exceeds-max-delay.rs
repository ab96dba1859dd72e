// A first wait longer than the longest wait allowed.
use resilience::retry;

#[retry(base_delay = "10s", max_delay = "5s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
