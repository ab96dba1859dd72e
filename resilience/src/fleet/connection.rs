//! The fleet's link to Redis: one multiplexed connection for commands and scripts, a timeout on
//! every operation, and the outage: noticed once, logged once, counted, and over at the first
//! operation that succeeds again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, FromRedisValue, RedisError, Script};

use super::FleetError;

/// A Redis server (or Valkey), reached with a timeout on every operation.
pub(super) struct Redis {
    client: Client,
    /// The URL with any password masked, for logs and errors.
    shown: String,
    op_timeout: Duration,
    connect_timeout: Duration,
    /// `None` until connected, and again once an operation fails.
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// When the current outage started, if Redis is unreachable now.
    down_since: Mutex<Option<Instant>>,
    reachable: AtomicBool,
    outages: AtomicU64,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("url", &self.shown)
            .field("op_timeout", &self.op_timeout)
            .field("reachable", &self.reachable())
            .finish_non_exhaustive()
    }
}

impl Redis {
    pub(super) fn new(
        client: Client,
        shown: String,
        op_timeout: Duration,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            client,
            shown,
            op_timeout,
            connect_timeout,
            conn: tokio::sync::Mutex::new(None),
            down_since: Mutex::new(None),
            reachable: AtomicBool::new(false),
            outages: AtomicU64::new(0),
        }
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Whether the last operation reached Redis.
    pub(super) fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Acquire)
    }

    /// How many outages began since the fleet was attached.
    pub(super) fn outages(&self) -> u64 {
        self.outages.load(Ordering::Acquire)
    }

    /// Runs `script` on `keys` with `args` (`EVALSHA`, loading it first where the server does
    /// not have it), within the operation timeout. `key` names what the answer is about, for
    /// errors.
    pub(super) async fn run<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, FleetError> {
        let mut conn = self.connection().await?;
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        // The script's own load, on a server that lacks it, counts in the same timeout.
        let result =
            tokio::time::timeout(self.op_timeout, invocation.invoke_async::<T>(&mut conn)).await;
        match result {
            Ok(Ok(answer)) => {
                self.succeeded();
                Ok(answer)
            }
            Ok(Err(e)) => Err(self.failed(e, keys.first().copied().unwrap_or(""))),
            Err(_) => Err(self.unreachable(format!(
                "no answer within the operation timeout ({:?})",
                self.op_timeout
            ))),
        }
    }

    /// The connection, made now (within the connect timeout) if there is none.
    async fn connection(&self) -> Result<MultiplexedConnection, FleetError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.op_timeout));
        let connecting = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(Ok(conn)) => {
                *slot = Some(conn.clone());
                Ok(conn)
            }
            Ok(Err(e)) => Err(self.unreachable(e.to_string())),
            Err(_) => Err(self.unreachable(format!(
                "no connection within the connect timeout ({:?})",
                self.connect_timeout
            ))),
        }
    }

    /// An error from Redis: a malformed value a script found, Redis gone, or an error about
    /// `key`.
    fn failed(&self, error: RedisError, key: &str) -> FleetError {
        if error.code() == Some("BADVALUE") {
            self.succeeded(); // Redis answered
            return bad_value(error.detail().unwrap_or_default());
        }
        if error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_unrecoverable_error()
        {
            return self.unreachable(error.to_string());
        }
        self.succeeded();
        FleetError::Redis {
            key: key.to_owned(),
            error: error.to_string(),
        }
    }

    /// Redis answered: the end of an outage, if one was under way.
    pub(super) fn succeeded(&self) {
        if self.reachable.swap(true, Ordering::AcqRel) {
            return;
        }
        let since = self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        #[cfg(feature = "metrics")]
        metrics::gauge!("resilience_fleet_reachable").set(1.0);
        if let Some(since) = since {
            tracing::info!(
                target: "resilience",
                event = "fleet_reconnected",
                redis = %self.shown,
                outage_seconds = since.elapsed().as_secs_f64(),
                "Redis is reachable again: reconciling the fleet's breakers and limits"
            );
        }
    }

    /// Redis did not answer: drops the connection, and starts an outage (logged and counted
    /// once) unless one is under way.
    pub(super) fn unreachable(&self, error: String) -> FleetError {
        if let Ok(mut slot) = self.conn.try_lock() {
            *slot = None;
        }
        let mut down = self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if down.is_none() {
            *down = Some(Instant::now());
            self.reachable.store(false, Ordering::Release);
            self.outages.fetch_add(1, Ordering::AcqRel);
            #[cfg(feature = "metrics")]
            {
                metrics::counter!("resilience_fleet_outages_total").increment(1);
                metrics::gauge!("resilience_fleet_reachable").set(0.0);
            }
            tracing::warn!(
                target: "resilience",
                event = "fleet_unreachable",
                redis = %self.shown,
                error = %error,
                "Redis is unreachable: each breaker decides alone and each limit runs on its local share until it returns"
            );
        }
        FleetError::Unreachable(error)
    }
}

/// The error for a script's `BADVALUE <key> <field> <length> <value>` reply (after which Redis
/// may append where the script stopped).
pub(super) fn bad_value(detail: &str) -> FleetError {
    let mut parts = detail.splitn(4, ' ');
    let key = parts.next().unwrap_or_default().to_owned();
    let field = parts.next().unwrap_or_default().to_owned();
    let length = parts.next().and_then(|n| n.parse::<usize>().ok());
    let rest = parts.next().unwrap_or_default();
    let value = match length {
        Some(n) if rest.is_char_boundary(n.min(rest.len())) => &rest[..n.min(rest.len())],
        _ => rest,
    };
    FleetError::BadValue {
        key,
        field,
        value: value.to_owned(),
    }
}

/// `url` with its password, if any, replaced by `***`.
pub(super) fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
            let hidden = if user_info.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_owned()
            };
            format!("{scheme}://{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(masked("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        assert_eq!(
            masked("redis://app:s3cret@redis.internal:6379/2"),
            "redis://app:***@redis.internal:6379/2"
        );
        assert_eq!(masked("redis://s3cret@host"), "redis://***@host");
        assert_eq!(masked("not a url"), "not a url");
    }

    #[test]
    fn a_bad_value_reply_names_key_field_and_value() {
        let error = bad_value(
            "resilience:{ns:tier1}:state until 13 soon or later script: 8ac1, on @user_script:18.",
        );
        assert_eq!(
            error.to_string(),
            "malformed value in Redis at resilience:{ns:tier1}:state, field until: \"soon or later\""
        );
    }
}
