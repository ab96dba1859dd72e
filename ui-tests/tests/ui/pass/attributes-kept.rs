// Doc comments and other attributes, before, between and after ours, are kept on the function.
#![deny(unused_variables, missing_docs)]
//! A crate whose items must be documented.

use resilience::{circuit_breaker, retry};

/// The error.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ZohoError(#[from] resilience::Error);

/// Gets an account (a doc comment: `missing_docs` is denied).
#[doc = "More documentation, as an attribute."]
#[allow(clippy::needless_lifetimes)]
#[circuit_breaker(name = "tier1_mcp")]
#[allow(unused_variables)]
#[retry(max_attempts = 2, base_delay = "1ms")]
#[inline]
#[must_use = "the account is the point"]
pub async fn get_account<'a>(id: &'a str, unused: u32) -> Result<&'a str, ZohoError> {
    Ok(id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(get_account("42", 0).await.unwrap(), "42");
}
