// A longest wait shorter than the default first wait (base_delay 1 s).
use resilience::retry;

#[retry(max_delay = "500ms")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
