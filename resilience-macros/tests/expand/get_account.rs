impl ZohoClient {
    /// Reads an account, from the MCP server while it answers.
    #[fallback(get_account_sdk, get_account_rest)]
    #[retry(max_attempts = 3, base_delay = "1s", max_delay = "60s", exponential_base = 2.0, jitter = true)]
    #[circuit_breaker(name = "tier1_mcp", failure_threshold = 5, recovery_timeout = "60s")]
    async fn get_account(&self, id: String) -> Result<Account, ZohoError> {
        self.mcp.get_account(&id).await
    }
}
