// A generic argument without a `Clone` bound cannot be cloned for each attempt.
use resilience::retry;

#[retry(max_attempts = 3)]
async fn get_account<K: AsRef<str>>(key: K) -> Result<usize, resilience::Error> {
    Ok(key.as_ref().len())
}

fn main() {}
