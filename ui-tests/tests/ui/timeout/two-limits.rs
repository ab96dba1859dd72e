// Two time limits in one attribute.
use resilience::timeout;

#[timeout("5s", "10s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
