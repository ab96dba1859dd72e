//! The driver of a fleet replica process (`fleet_replica`, `fleet_limits_replica`): started
//! attached to a test's `redis-server`, driven by [`LineProcess`], killed when dropped.

use std::ops::{Deref, DerefMut};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resilience_test_support::{LineProcess, RedisServer};

/// A replica process, killed (SIGKILL) when dropped; its commands are [`LineProcess`]'s.
pub struct Replica(LineProcess);

impl Replica {
    /// Starts the replica binary `bin` in namespace `ns` of `redis`, reconciling every 100 ms,
    /// its Redis operations bounded by `op_timeout`, with the binary's `extra` flags; waits
    /// (at most `answer`, as for every later answer) for its `ready` line.
    pub fn launch(
        bin: &str,
        redis: &RedisServer,
        ns: &str,
        op_timeout: Duration,
        extra: &[&str],
        answer: Duration,
    ) -> Replica {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let log = redis.dir().join(format!("replica-{ns}-{nanos}.log"));
        let mut command = Command::new(bin);
        command
            .args(["--redis", &redis.url(), "--ns", ns, "--reconcile-ms", "100"])
            .args(["--op-timeout-ms", &op_timeout.as_millis().to_string()])
            .args(extra);
        let mut replica = Replica(LineProcess::spawn(command, log, answer));
        let ready = replica.read();
        assert!(ready.starts_with("ready "), "{ready}");
        replica
    }
}

impl Deref for Replica {
    type Target = LineProcess;

    fn deref(&self) -> &LineProcess {
        &self.0
    }
}

impl DerefMut for Replica {
    fn deref_mut(&mut self) -> &mut LineProcess {
        &mut self.0
    }
}
