//! `init()` judges the variables of a breaker written in an attribute with the values that
//! attribute writes, as its breaker does.
//!
//! The one test here sets process variables; no other test of this binary reads the process
//! environment.

#[allow(dead_code)]
mod billing {
    pub mod zoho {
        #[resilience::circuit_breaker(half_open_max_calls = 5)]
        pub async fn get_account() -> Result<u32, resilience::Error> {
            Ok(1)
        }

        #[resilience::circuit_breaker(half_open_max_calls = 2)]
        pub async fn get_invoice() -> Result<u32, resilience::Error> {
            Ok(2)
        }
    }
}

#[test]
fn init_accepts_what_an_attributes_breaker_accepts_and_reports_what_it_ignores() {
    let account = "CIRCUIT_BREAKER_INIT_WRITTEN__BILLING__ZOHO__GET_ACCOUNT_SUCCESS_THRESHOLD";
    // SAFETY: the only test of this binary; nothing else reads the environment meanwhile.
    unsafe { std::env::set_var(account, "4") };
    resilience::init().unwrap_or_else(|e| panic!("{e}"));
    let breaker = resilience::registry()
        .get("init_written::billing::zoho::get_account")
        .expect("registered");
    let config = breaker.config();
    assert_eq!(
        (config.success_threshold, config.half_open_max_calls),
        (4, 5)
    );

    // Above the value written for the other breaker: its builder would ignore it, `init()`
    // reports it.
    let invoice = "CIRCUIT_BREAKER_INIT_WRITTEN__BILLING__ZOHO__GET_INVOICE_SUCCESS_THRESHOLD";
    // SAFETY: as above.
    unsafe { std::env::set_var(invoice, "3") };
    let error = resilience::init().expect_err("3 successes of 2 probes");
    assert_eq!((error.input(), error.value()), (invoice, "3"));
    assert!(
        error
            .to_string()
            .contains("must be at most 2 (half_open_max_calls, as written)"),
        "{error}"
    );
}
