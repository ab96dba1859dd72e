// The attribute on a trait's method declaration: it goes on the method in the impl.
use resilience::retry;

trait AccountSource {
    #[retry(max_attempts = 3)]
    async fn fetch(&self, id: u32) -> Result<u32, resilience::Error>;
}

fn main() {}
