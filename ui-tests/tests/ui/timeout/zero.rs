// A time limit of zero would cancel every attempt before it starts.
use resilience::timeout;

#[timeout("0s")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
