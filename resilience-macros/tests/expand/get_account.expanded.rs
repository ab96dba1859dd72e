impl ZohoClient {
    /// Reads an account, from the MCP server while it answers.
    async fn get_account(&self, id: String) -> Result<Account, ZohoError> {
        let __convert = ::resilience::__private::convert::<ZohoError>();
        let __show = ::resilience::__private::show::<ZohoError>();
        let __keep = ::resilience::__private::keep::<ZohoError>();
        let __breaker = {
            static __SITE: ::resilience::__private::BreakerSite = ::resilience::__private::BreakerSite::named(
                    "tier1_mcp",
                )
                .failure_threshold(5u32)
                .recovery_timeout(::core::time::Duration::new(60u64, 0u32));
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
                            .max_delay(::core::time::Duration::new(60u64, 0u32))
                            .exponential_base(2f64)
                            .jitter(true)
                    })
                    .start()
            };
            loop {
                let __attempt = match __breaker.try_acquire() {
                    ::core::result::Result::Ok(__permit) => {
                        let id = ::resilience::__private::clone_arg(&id);
                        let __result = ::resilience::__private::to_result::<
                            Result<Account, ZohoError>,
                            _,
                            _,
                        >({
                            let __resilience_ret: Result<Account, ZohoError> = '__resilience_body: {
                                self.mcp.get_account(&id).await
                            };
                            #[allow(unreachable_code)] __resilience_ret
                        });
                        ::resilience::__private::record(__permit, &__result, |__e| true);
                        __result.map_err(::resilience::__private::CallError::Failed)
                    }
                    ::core::result::Result::Err(__open) => {
                        ::resilience::__private::note_rejected("get_account", &__open);
                        ::core::result::Result::Err(
                            ::resilience::__private::CallError::Rejected(__open),
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
                            |__e| true,
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
                >(
                    __seen
                        .watch(
                            self.get_account_sdk(::resilience::__private::clone_arg(&id)),
                        )
                        .await,
                ) {
                    ::core::result::Result::Ok(__value) => {
                        __failures.served("get_account_sdk", 1usize);
                        break '__resilience_chain ::core::result::Result::Ok(__value);
                    }
                    ::core::result::Result::Err(__error) => {
                        __failures.tier_failed("get_account_sdk", __error, &__seen)
                    }
                }
                let __seen = ::resilience::__private::Rejection::new();
                match ::resilience::__private::tier_output::<
                    Result<Account, ZohoError>,
                    _,
                    _,
                    _,
                >(__seen.watch(self.get_account_rest(id)).await) {
                    ::core::result::Result::Ok(__value) => {
                        __failures.served("get_account_rest", 2usize);
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
