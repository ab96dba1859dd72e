// `crate = ".."` naming a path that does not exist.
use resilience::retry;

#[retry(max_attempts = 3, crate = "facade::resilience")]
async fn get_account(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
