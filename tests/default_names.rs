//! A breaker without a `name` is named after the module and the function: two functions never
//! share a breaker unless they name it, and the name says where the function is.
//!
//! Holds two methods of one name in one module on purpose: `init()` reports them (and, below
//! them, written names that are default names).

use resilience::config::BreakerKey;
use resilience::{CircuitBreaker, circuit_breaker};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("HTTP {0}")]
    Http(u16),
    #[error(transparent)]
    Resilience(#[from] resilience::Error),
}

async fn call(fail: bool) -> Result<u32, ApiError> {
    if fail {
        Err(ApiError::Http(503))
    } else {
        Ok(200)
    }
}

mod zoho {
    use super::*;

    pub struct Zoho;

    impl Zoho {
        #[circuit_breaker(failure_threshold = 2)]
        pub async fn get(&self, fail: bool) -> Result<u32, ApiError> {
            call(fail).await
        }
    }
}

mod stripe {
    use super::*;

    pub struct Stripe;

    impl Stripe {
        #[circuit_breaker(failure_threshold = 2)]
        pub async fn get(&self, fail: bool) -> Result<u32, ApiError> {
            call(fail).await
        }
    }
}

struct Crm;
struct Billing;

const CRM_PLACE: u32 = line!() + 2;
impl Crm {
    #[circuit_breaker(failure_threshold = 2)]
    async fn fetch(&self, fail: bool) -> Result<u32, ApiError> {
        call(fail).await
    }
}

const BILLING_PLACE: u32 = line!() + 2;
impl Billing {
    #[circuit_breaker(failure_threshold = 2)]
    async fn fetch(&self, fail: bool) -> Result<u32, ApiError> {
        call(fail).await
    }
}

#[tokio::test(start_paused = true)]
async fn methods_of_the_same_name_on_two_types_do_not_share_a_breaker() {
    for _ in 0..2 {
        assert!(zoho::Zoho.get(true).await.is_err());
    }
    assert!(matches!(
        zoho::Zoho.get(false).await,
        Err(ApiError::Resilience(resilience::Error::CircuitOpen(_)))
    ));
    assert_eq!(stripe::Stripe.get(false).await.unwrap(), 200);

    // The same in one module.
    for _ in 0..2 {
        assert!(Crm.fetch(true).await.is_err());
    }
    assert!(Crm.fetch(false).await.is_err());
    assert_eq!(Billing.fetch(false).await.unwrap(), 200);
}

#[test]
fn the_default_name_is_the_module_path_and_the_function() {
    let names = resilience::registry().names();
    for name in [
        "default_names::zoho::get",
        "default_names::stripe::get",
        "default_names::fetch",
        "default_names::fetch::2",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
}

#[test]
fn a_default_name_has_per_breaker_variables_with_double_underscores() {
    let name = "default_names::zoho::get";
    let var = BreakerKey::FailureThreshold.breaker_var(name);
    assert_eq!(
        var,
        "CIRCUIT_BREAKER_DEFAULT_NAMES__ZOHO__GET_FAILURE_THRESHOLD"
    );
    let env = |v: &str| (v == var).then(|| "9".to_owned());
    let breaker = CircuitBreaker::builder(name)
        .failure_threshold(2)
        .build_with_env(env)
        .unwrap();
    assert_eq!(breaker.config().failure_threshold, 9);
}

#[test]
fn init_names_both_places_of_one_default_name() {
    let error = resilience::init()
        .expect_err("two `fetch` in one module")
        .to_string();
    assert!(error.contains("default_names::fetch"), "{error}");
    assert!(
        error.contains(&format!("tests/default_names.rs:{CRM_PLACE}")),
        "{error}"
    );
    assert!(
        error.contains(&format!("tests/default_names.rs:{BILLING_PLACE}")),
        "{error}"
    );
}

// Below the two `fetch` above, so that `init()` reports those first.

/// `gen` is a keyword of edition 2024: `module_path!()` writes this module `r#gen`.
mod r#gen {
    use super::*;

    #[circuit_breaker(failure_threshold = 2)]
    pub async fn get(fail: bool) -> Result<u32, ApiError> {
        call(fail).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_raw_identifier_names_the_breaker_without_its_prefix() {
    let name = "default_names::gen::get";
    let names = resilience::registry().names();
    assert!(
        names.iter().any(|n| n == name),
        "{name} missing from {names:?}"
    );
    assert_eq!(
        BreakerKey::FailureThreshold.breaker_var(name),
        "CIRCUIT_BREAKER_DEFAULT_NAMES__GEN__GET_FAILURE_THRESHOLD"
    );
    for _ in 0..2 {
        assert!(r#gen::get(true).await.is_err());
    }
    assert!(matches!(
        r#gen::get(false).await,
        Err(ApiError::Resilience(resilience::Error::CircuitOpen(_)))
    ));
    assert!(resilience::registry().get(name).unwrap().state().is_open());
}

/// A written name that is another function's default name.
mod app {
    use super::*;

    #[circuit_breaker(name = "default_names::app::fetch", failure_threshold = 2)]
    pub async fn fetch_named(fail: bool) -> Result<u32, ApiError> {
        call(fail).await
    }

    #[circuit_breaker(failure_threshold = 2)]
    pub async fn fetch(fail: bool) -> Result<u32, ApiError> {
        call(fail).await
    }

    /// A written name that is the name a second default name would get.
    #[circuit_breaker(name = "default_names::app::get::2", failure_threshold = 2)]
    pub async fn get_named(fail: bool) -> Result<u32, ApiError> {
        call(fail).await
    }

    pub struct A;
    pub struct B;

    impl A {
        #[circuit_breaker(failure_threshold = 2)]
        pub async fn get(&self, fail: bool) -> Result<u32, ApiError> {
            call(fail).await
        }
    }

    impl B {
        #[circuit_breaker(failure_threshold = 2)]
        pub async fn get(&self, fail: bool) -> Result<u32, ApiError> {
            call(fail).await
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_function_without_a_name_never_shares_the_breaker_another_attribute_names() {
    let names = resilience::registry().names();
    for name in [
        "default_names::app::fetch",
        "default_names::app::fetch::2",
        "default_names::app::get",
        "default_names::app::get::2",
        "default_names::app::get::3",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    for _ in 0..2 {
        assert!(app::fetch_named(true).await.is_err());
        assert!(app::get_named(true).await.is_err());
    }
    assert!(app::fetch_named(false).await.is_err());
    assert!(app::get_named(false).await.is_err());
    // The functions that did not name those breakers have their own.
    assert_eq!(app::fetch(false).await.unwrap(), 200);
    assert_eq!(app::A.get(false).await.unwrap(), 200);
    assert_eq!(app::B.get(false).await.unwrap(), 200);
    let fetch = resilience::registry()
        .get("default_names::app::fetch::2")
        .unwrap();
    assert_eq!(fetch.state(), resilience::CircuitState::Closed);
}
