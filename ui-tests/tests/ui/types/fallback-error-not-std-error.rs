// #[fallback] keeps each tier's error as a `std::error::Error`; this one is only `Display`.
#[derive(Debug)]
struct ZohoError(String);

impl std::fmt::Display for ZohoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<resilience::Error> for ZohoError {
    fn from(e: resilience::Error) -> Self {
        ZohoError(e.to_string())
    }
}

#[resilience::fallback(get_account_sdk)]
async fn get_account(id: u32) -> Result<u32, ZohoError> {
    Err(ZohoError(format!("account {id} is down")))
}

async fn get_account_sdk(id: u32) -> Result<u32, ZohoError> {
    Ok(id)
}

fn main() {}
