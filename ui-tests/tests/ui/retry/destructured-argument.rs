// A destructuring pattern in the arguments: #[retry] needs a name to pass each run.
use resilience::retry;

#[retry(max_attempts = 3)]
async fn get_account((id, region): (u32, String)) -> Result<String, resilience::Error> {
    Ok(format!("{id}@{region}"))
}

fn main() {}
