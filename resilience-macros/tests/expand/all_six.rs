impl ZohoClient {
    /// Reads an account within the organisation's limits, from the MCP server while it answers.
    #[fallback(get_account_rest)]
    #[retry(max_attempts = 3, base_delay = "1s", retry_after = ZohoError::retry_after)]
    #[circuit_breaker(name = "tier1_mcp", failure_threshold = 5)]
    #[rate_limit(name = "zoho_credits", rate = 100_000, per = "24h", burst = 500, cost = 1)]
    #[bulkhead(name = "zoho_org", max_concurrent = 15, max_wait = "2s")]
    #[timeout("5s")]
    async fn get_account(&self, id: String) -> Result<Account, ZohoError> {
        self.mcp.get_account(&id).await
    }
}
