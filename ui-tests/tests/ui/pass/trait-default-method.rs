// A trait's provided `async fn`, with a body, under #[retry] and #[circuit_breaker].
use resilience::{circuit_breaker, retry};

trait AccountSource {
    fn base(&self) -> u32;

    #[retry(max_attempts = 2, base_delay = "1ms")]
    #[circuit_breaker(name = "provided")]
    async fn fetch(&self, id: u32) -> Result<u32, resilience::Error> {
        Ok(self.base() + id)
    }
}

struct Source;

impl AccountSource for Source {
    fn base(&self) -> u32 {
        100
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(Source.fetch(1).await.unwrap(), 101);
}
