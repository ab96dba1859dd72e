// `Result<impl Trait, E>`: the attribute needs a type it can name.
use resilience::retry;

#[retry(max_attempts = 3)]
async fn get_account(id: u32) -> Result<impl std::fmt::Display, resilience::Error> {
    Ok(id)
}

fn main() {}
