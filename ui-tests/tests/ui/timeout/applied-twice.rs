// #[timeout] written twice on one function.
use resilience::timeout;

#[timeout("5s")]
#[timeout("10s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
