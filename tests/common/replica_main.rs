//! What the fleet's replica binaries (`fleet_replica`, `fleet_limits_replica`) share: the
//! runtime they run on, their logs on stderr, and the flags that build the fleet and its rate
//! limiters.

use std::future::Future;
use std::time::Duration;

use resilience::fleet::{Fleet, FleetBuilder};
use resilience::limit::RateLimiter;

/// Runs `replica` to its end on a two-worker runtime, the crate's tracing events (INFO and
/// above) written to stderr.
pub fn run(replica: impl Future<Output = ()>) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(replica);
}

/// The fleet's builder from the command line's `--flag value` pairs: `--redis URL`, `--ns NS`,
/// `--reconcile-ms MS`, `--lease-ms MS`, `--op-timeout-ms MS` and `--rate
/// NAME:RATE:PER_MS:BURST[:MAX_WAIT_MS]` (a rate limiter registered) are taken here; any other
/// flag goes to `other` with its value and the builder.
pub fn fleet_from_args(
    mut other: impl FnMut(FleetBuilder, &str, &str) -> FleetBuilder,
) -> FleetBuilder {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut builder = Fleet::builder();
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            panic!("flags come in pairs: {args:?}")
        };
        let ms = || Duration::from_millis(value.parse().expect("milliseconds"));
        builder = match flag.as_str() {
            "--redis" => builder.url(value),
            "--ns" => builder.namespace(value),
            "--reconcile-ms" => builder.reconcile_interval(ms()),
            "--lease-ms" => builder.probe_lease(ms()),
            "--op-timeout-ms" => builder.op_timeout(ms()),
            "--rate" => {
                register_rate(value);
                builder
            }
            flag => other(builder, flag, value),
        };
    }
    builder
}

/// Registers the rate limiter `NAME:RATE:PER_MS:BURST[:MAX_WAIT_MS]` (no wait by default).
fn register_rate(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let (name, rate, per, burst, wait) = match parts[..] {
        [name, rate, per, burst] => (name, rate, per, burst, "0"),
        [name, rate, per, burst, wait] => (name, rate, per, burst, wait),
        _ => panic!("--rate NAME:RATE:PER_MS:BURST[:MAX_WAIT_MS]"),
    };
    let ms = |s: &str| Duration::from_millis(s.parse().expect("ms"));
    resilience::registry()
        .register_rate_limiter(
            RateLimiter::builder(name.to_owned(), rate.parse().expect("a rate"), ms(per))
                .burst(burst.parse().expect("a burst"))
                .max_wait(ms(wait)),
        )
        .expect("a valid rate limiter");
}
