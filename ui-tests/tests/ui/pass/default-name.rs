// Without `name`, the breaker is named after the module and the function; methods of the same
// name on types in different modules get breakers of their own.
use resilience::circuit_breaker;

mod zoho {
    pub struct Client;

    impl Client {
        #[resilience::circuit_breaker(failure_threshold = 1)]
        pub async fn get(&self) -> Result<u32, resilience::Error> {
            Ok(1)
        }
    }
}

mod stripe {
    pub struct Client;

    impl Client {
        #[resilience::circuit_breaker]
        pub async fn get(&self) -> Result<u32, resilience::Error> {
            Ok(2)
        }
    }
}

#[circuit_breaker]
async fn r#type() -> Result<u32, resilience::Error> {
    Ok(3)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let names = resilience::registry().names();
    for function in ["zoho::get", "stripe::get", "type"] {
        let name = format!("{}::{function}", module_path!());
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert_eq!(zoho::Client.get().await.unwrap(), 1);
    assert_eq!(stripe::Client.get().await.unwrap(), 2);
    assert_eq!(r#type().await.unwrap(), 3);
    resilience::init().expect("no two functions of one module share a default name");
}
