// A first wait longer than the default max_delay (60 s).
use resilience::retry;

#[retry(base_delay = "2m")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
