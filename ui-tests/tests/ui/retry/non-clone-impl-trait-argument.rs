// An `impl Trait` argument without `Clone` cannot be cloned for each attempt.
use resilience::retry;

#[retry(max_attempts = 3)]
async fn get_account(key: impl AsRef<str>) -> Result<usize, resilience::Error> {
    Ok(key.as_ref().len())
}

fn main() {}
