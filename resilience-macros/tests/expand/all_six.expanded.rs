impl ZohoClient {
    /// Reads an account within the organisation's limits, from the MCP server while it answers.
    async fn get_account(&self, id: String) -> Result<Account, ZohoError> {
        let __convert = ::resilience::__private::convert::<ZohoError>();
        let __show = ::resilience::__private::show::<ZohoError>();
        let __keep = ::resilience::__private::keep::<ZohoError>();
        let __bulkhead = {
            static __SITE: ::resilience::__private::BulkheadSite = ::resilience::__private::BulkheadSite::named(
                    "zoho_org",
                )
                .max_concurrent(15u32)
                .max_wait(::core::time::Duration::new(2u64, 0u32));
            ::resilience::__private::submit!(bulkhead __SITE);
            __SITE.bulkhead()
        };
        let __limiter = {
            static __SITE: ::resilience::__private::RateLimiterSite = ::resilience::__private::RateLimiterSite::named(
                    "zoho_credits",
                    100000u64,
                    ::core::time::Duration::new(86400u64, 0u32),
                )
                .burst(500u32)
                .cost(1u32);
            ::resilience::__private::submit!(rate_limit __SITE);
            __SITE.limiter()
        };
        let __breaker = {
            static __SITE: ::resilience::__private::BreakerSite = ::resilience::__private::BreakerSite::named(
                    "tier1_mcp",
                )
                .failure_threshold(5u32);
            ::resilience::__private::submit!(__SITE);
            __SITE.breaker()
        };
        let __primary = {
            let mut __run = {
                static __CELL: ::resilience::__private::RetryCell = ::resilience::__private::RetryCell::new();
                __CELL
                    .get_or_init(|| {
                        ::resilience::RetryPolicy::builder()
                            .operation("get_account")
                            .max_attempts(3u32)
                            .base_delay(::core::time::Duration::new(1u64, 0u32))
                    })
                    .start()
            };
            loop {
                let __attempt = match __breaker.try_acquire() {
                    ::core::result::Result::Ok(__permit) => {
                        let id = ::resilience::__private::clone_arg(&id);
                        let __result = match __limiter.take_n(1u32).await {
                            ::core::result::Result::Ok(__tokens) => {
                                match __bulkhead.acquire().await {
                                    ::core::result::Result::Ok(__slot) => {
                                        __tokens.spend();
                                        let __limited = ::resilience::__private::time_limited(
                                                ::core::time::Duration::new(5u64, 0u32),
                                                async {
                                                    ::resilience::__private::to_result::<
                                                        Result<Account, ZohoError>,
                                                        _,
                                                        _,
                                                    >({
                                                        let __resilience_ret: Result<Account, ZohoError> = '__resilience_body: {
                                                            self.mcp.get_account(&id).await
                                                        };
                                                        #[allow(unreachable_code)] __resilience_ret
                                                    })
                                                },
                                            )
                                            .await;
                                        ::core::mem::drop(__slot);
                                        __limited
                                    }
                                    ::core::result::Result::Err(__full) => {
                                        ::core::result::Result::Err(
                                            ::resilience::__private::bulkhead_full(__full),
                                        )
                                    }
                                }
                            }
                            ::core::result::Result::Err(__refused) => {
                                ::core::result::Result::Err(
                                    ::resilience::__private::rate_limited(__refused),
                                )
                            }
                        };
                        ::resilience::__private::record_attempt(
                            __permit,
                            &__result,
                            |__e| true,
                        );
                        __result
                    }
                    ::core::result::Result::Err(__open) => {
                        ::resilience::__private::note_rejected("get_account", &__open);
                        ::core::result::Result::Err(
                            ::resilience::__private::Failure::Rejected(__open),
                        )
                    }
                };
                match __attempt {
                    ::core::result::Result::Ok(__value) => {
                        break ::core::result::Result::Ok(__value);
                    }
                    ::core::result::Result::Err(__error) => {
                        let __error = __show.call(__error);
                        let __verdict = ::resilience::__private::verdict_call_or_fall_back(
                            &__error,
                            |__e| ::resilience::__private::hinted(
                                true,
                                <_ as ::resilience::__private::RetryAfterHint<
                                    ZohoError,
                                >>::hint(&ZohoError::retry_after, __e),
                            ),
                        );
                        match __run.after_failure(__error, __verdict) {
                            ::core::result::Result::Ok(__wait) => {
                                ::resilience::__private::sleep(__wait).await
                            }
                            ::core::result::Result::Err(__gave_up) => {
                                break ::core::result::Result::Err(
                                    __gave_up.into_last_error().into_inner(),
                                );
                            }
                        }
                    }
                }
            }
        };
        let __out = match __primary {
            ::core::result::Result::Ok(__value) => ::core::result::Result::Ok(__value),
            ::core::result::Result::Err(__error) => '__resilience_chain: {
                let mut __failures = ::resilience::__private::Failures::new(
                    "get_account",
                    __keep,
                );
                __failures.primary("get_account", __error);
                let __seen = ::resilience::__private::Rejection::new();
                match ::resilience::__private::tier_output::<
                    Result<Account, ZohoError>,
                    _,
                    _,
                    _,
                >(__seen.watch(self.get_account_rest(id)).await) {
                    ::core::result::Result::Ok(__value) => {
                        __failures.served("get_account_rest", 1usize);
                        break '__resilience_chain ::core::result::Result::Ok(__value);
                    }
                    ::core::result::Result::Err(__error) => {
                        __failures.tier_failed("get_account_rest", __error, &__seen)
                    }
                }
                ::core::result::Result::Err(__failures.into_error(&__convert))
            }
        };
        ::resilience::__private::from_result::<Result<Account, ZohoError>, _, _>(__out)
    }
}
