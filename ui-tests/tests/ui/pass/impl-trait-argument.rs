// An `impl Trait` argument under #[retry]: cloned for each attempt.
use resilience::retry;

#[derive(Debug, thiserror::Error)]
#[error("empty key")]
struct EmptyKey;

#[retry(max_attempts = 2, base_delay = "1ms")]
async fn get_account(key: impl AsRef<str> + Clone + Send) -> Result<String, EmptyKey> {
    if key.as_ref().is_empty() {
        return Err(EmptyKey);
    }
    Ok(key.as_ref().to_uppercase())
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(assert_send(get_account("acme")).await.unwrap(), "ACME");
    assert_eq!(get_account(String::from("corp")).await.unwrap(), "CORP");
    assert!(get_account("").await.is_err());
}
