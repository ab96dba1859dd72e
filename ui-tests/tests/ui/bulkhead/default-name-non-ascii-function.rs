// Without `name`, the bulkhead is named after the function, whose name is not ASCII.
use resilience::bulkhead;

#[bulkhead(max_concurrent = 15)]
async fn compte(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

#[bulkhead(max_concurrent = 15)]
async fn café(id: u32) -> Result<u32, resilience::Error> {
    Ok(id)
}

fn main() {}
