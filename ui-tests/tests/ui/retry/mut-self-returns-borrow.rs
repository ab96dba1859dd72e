// A `&mut self` method returning a borrow of `self`: each attempt reborrows `self`.
use resilience::retry;

struct Cache {
    value: u32,
}

impl Cache {
    #[retry(max_attempts = 3)]
    async fn value(&mut self) -> Result<&mut u32, resilience::Error> {
        Ok(&mut self.value)
    }
}

fn main() {}
