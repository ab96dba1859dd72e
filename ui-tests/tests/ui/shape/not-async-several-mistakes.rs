// A plain `fn` without a return type: both mistakes of its shape are reported at once.
use resilience::retry;

#[retry(max_attempts = 3)]
fn ping((id, region): (u32, String)) {
    let _ = (id, region);
}

fn main() {}
