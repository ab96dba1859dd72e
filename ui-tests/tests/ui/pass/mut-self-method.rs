// A `&mut self` method with a `&mut` argument under #[retry]: both are reborrowed per attempt.
use resilience::retry;

#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct HttpError(u16);

struct Counter {
    calls: u32,
}

impl Counter {
    #[retry(max_attempts = 3, base_delay = "1ms", jitter = false)]
    async fn bump(&mut self, log: &mut Vec<u32>) -> Result<u32, HttpError> {
        self.calls += 1;
        log.push(self.calls);
        if self.calls < 3 {
            return Err(HttpError(503));
        }
        Ok(self.calls)
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut counter = Counter { calls: 0 };
    let mut log = Vec::new();
    assert_eq!(assert_send(counter.bump(&mut log)).await.unwrap(), 3);
    assert_eq!(log, [1, 2, 3]);
}
