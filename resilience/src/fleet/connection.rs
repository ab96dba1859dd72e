//! The fleet's link to Redis: one multiplexed connection to a server, or one connection to a
//! Redis Cluster routing each script to the node of its keys' slot; a timeout on every
//! operation, and the outage: noticed once, logged once, counted, and over once every operation
//! that failed succeeds again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection, PubSub};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{
    AsyncConnectionConfig, Client, Cmd, FromRedisValue, RedisError, RedisFuture, RedisResult,
    Script, ServerErrorKind, Value,
};

use super::FleetError;

/// Where the fleet's keys live.
pub(super) enum Link {
    /// One server (or Valkey).
    Server(Client),
    /// A Redis Cluster: its client, and a client per node given, for the subscription.
    Cluster {
        client: ClusterClient,
        nodes: Vec<Client>,
    },
}

/// The connection of a [`Link`], made on first use.
#[derive(Clone)]
enum Connection {
    Server(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// A Redis server or cluster, reached with a timeout on every operation.
pub(super) struct Redis {
    link: Link,
    /// The URL (or the cluster's node URLs, comma-separated) with any password masked, for
    /// logs and errors.
    shown: String,
    op_timeout: Duration,
    connect_timeout: Duration,
    /// `None` until connected, and again once the connection fails.
    conn: tokio::sync::Mutex<Option<Connection>>,
    down: Mutex<Down>,
    /// Whether the last operation reached Redis (on a cluster: a connection is made).
    reachable: AtomicBool,
    /// Whether nothing is down: Redis reachable and, on a cluster, every slot answered its
    /// last operation.
    healthy: AtomicBool,
    outages: AtomicU64,
}

/// What is unreachable now.
#[derive(Default)]
struct Down {
    /// When the current outage started, if one is under way.
    since: Option<Instant>,
    /// Redis itself (a server, or a cluster to which no connection can be made).
    whole: bool,
    /// On a cluster: the slots whose node did not answer their last operation, with the key
    /// of that operation and when it failed.
    slots: HashMap<Route, (String, Instant)>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = match self.link {
            Link::Server(_) => "url",
            Link::Cluster { .. } => "cluster",
        };
        f.debug_struct("Redis")
            .field(url, &self.shown)
            .field("op_timeout", &self.op_timeout)
            .field("reachable", &self.healthy())
            .finish_non_exhaustive()
    }
}

impl Redis {
    pub(super) fn new(
        link: Link,
        shown: String,
        op_timeout: Duration,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            link,
            shown,
            op_timeout,
            connect_timeout,
            conn: tokio::sync::Mutex::new(None),
            down: Mutex::new(Down::default()),
            reachable: AtomicBool::new(false),
            healthy: AtomicBool::new(false),
            outages: AtomicU64::new(0),
        }
    }

    /// A pub/sub connection for the fleet's channel. On a cluster, every `PUBLISH` reaches
    /// every node, so one node's subscription hears them all: the `attempt`-th subscription
    /// (counted from 0) is made on the `attempt`-th node given, round the list, so that a
    /// lost one is made again on the next node.
    pub(super) async fn pubsub(&self, attempt: usize) -> RedisResult<PubSub> {
        match &self.link {
            Link::Server(client) => client.get_async_pubsub().await,
            Link::Cluster { nodes, .. } => nodes[attempt % nodes.len()].get_async_pubsub().await,
        }
    }

    pub(super) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Whether the last operation reached Redis; on a cluster, whether a connection to it is
    /// made (a node that does not answer is the outage of its slots alone).
    pub(super) fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Acquire)
    }

    /// Whether no outage is under way: Redis reachable and, on a cluster, every slot's node
    /// answered its last operation.
    pub(super) fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// How many outages began since the fleet was attached.
    pub(super) fn outages(&self) -> u64 {
        self.outages.load(Ordering::Acquire)
    }

    /// Runs `script` on `keys` with `args` (`EVALSHA`, loading it first where the server does
    /// not have it), within the operation timeout. On a cluster, the script and its load go to
    /// the node serving the first key's slot (every key of a script is in that slot), following
    /// the cluster's redirections. `key` names what the answer is about, for errors.
    pub(super) async fn run<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, FleetError> {
        let conn = self.connection().await?;
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let key = keys.first().copied().unwrap_or("");
        // The script's own load, on a server that lacks it, counts in the same timeout.
        match conn {
            Connection::Server(mut conn) => {
                let result =
                    tokio::time::timeout(self.op_timeout, invocation.invoke_async::<T>(&mut conn))
                        .await;
                match result {
                    Ok(Ok(answer)) => {
                        self.succeeded();
                        Ok(answer)
                    }
                    Ok(Err(e)) => Err(self.failed(e, key)),
                    Err(_) => Err(self.unreachable(format!(
                        "no answer within the operation timeout ({:?})",
                        self.op_timeout
                    ))),
                }
            }
            Connection::Cluster(conn) => {
                let route = Route::with_key(key, SlotAddr::Master);
                let mut on_slot = OnSlot { conn, route };
                let result = tokio::time::timeout(
                    self.op_timeout,
                    invocation.invoke_async::<T>(&mut on_slot),
                )
                .await;
                match result {
                    Ok(Ok(answer)) => {
                        self.answered(route);
                        Ok(answer)
                    }
                    Ok(Err(e)) => Err(self.failed_on(route, e, key)),
                    Err(_) => Err(self.unreachable_on(
                        route,
                        key,
                        format!(
                            "no answer within the operation timeout ({:?})",
                            self.op_timeout
                        ),
                    )),
                }
            }
        }
    }

    /// The connection, made now (within the connect timeout) if there is none.
    async fn connection(&self) -> Result<Connection, FleetError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let connected = match &self.link {
            Link::Server(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(self.op_timeout));
                let connecting = client.get_multiplexed_async_connection_with_config(&config);
                tokio::time::timeout(self.connect_timeout, connecting)
                    .await
                    .map(|r| r.map(Connection::Server))
            }
            Link::Cluster { client, .. } => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(self.connect_timeout)
                    .set_response_timeout(self.op_timeout);
                let connecting = client.get_async_connection_with_config(config);
                tokio::time::timeout(self.connect_timeout, connecting)
                    .await
                    .map(|r| r.map(Connection::Cluster))
            }
        };
        match connected {
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

    /// An error from a server: a malformed value a script found, Redis gone, or an error
    /// about `key`.
    fn failed(&self, error: RedisError, key: &str) -> FleetError {
        if error.code() == Some("BADVALUE") {
            self.succeeded(); // Redis answered
            return bad_value(error.detail().unwrap_or_default());
        }
        if gone(&error) {
            return self.unreachable(error.to_string());
        }
        self.succeeded();
        FleetError::Redis {
            key: key.to_owned(),
            error: error.to_string(),
        }
    }

    /// An error from the cluster's node of `route`: as from a server, but a node gone (or a
    /// cluster that cannot serve the slot now) is the outage of that slot alone.
    fn failed_on(&self, route: Route, error: RedisError, key: &str) -> FleetError {
        if error.code() == Some("BADVALUE") {
            self.answered(route);
            return bad_value(error.detail().unwrap_or_default());
        }
        let cannot_serve = matches!(
            error.kind(),
            redis::ErrorKind::Server(
                ServerErrorKind::ClusterDown
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::Moved
                    | ServerErrorKind::Ask
            ) | redis::ErrorKind::ClusterConnectionNotFound
        );
        if gone(&error) || cannot_serve {
            return self.unreachable_on(route, key, error.to_string());
        }
        self.answered(route);
        FleetError::Redis {
            key: key.to_owned(),
            error: error.to_string(),
        }
    }

    /// Redis answered: the end of an outage, if one was under way and nothing else is down.
    pub(super) fn succeeded(&self) {
        if self.reachable.swap(true, Ordering::AcqRel) && self.healthy() {
            return;
        }
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        down.whole = false;
        self.settle(&mut down);
    }

    /// The cluster's node of `route` answered.
    fn answered(&self, route: Route) {
        if self.healthy() {
            return;
        }
        self.reachable.store(true, Ordering::Release);
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        down.whole = false;
        down.slots.remove(&route);
        self.settle(&mut down);
    }

    /// On a cluster, asks again (`EXISTS`) about each slot down whose last operation failed
    /// `stale_after` ago or more: one the fleet's own operations no longer touch (a key read
    /// once) would otherwise keep the outage going after its node answers again.
    pub(super) async fn recheck(&self, stale_after: Duration) {
        if self.healthy() {
            return;
        }
        let stale: Vec<(Route, String)> = {
            let down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
            down.slots
                .iter()
                .filter(|(_, (_, failed))| failed.elapsed() >= stale_after)
                .map(|(route, (key, _))| (*route, key.clone()))
                .collect()
        };
        if stale.is_empty() {
            return;
        }
        let Ok(Connection::Cluster(conn)) = self.connection().await else {
            return;
        };
        for (route, key) in stale {
            let mut on_slot = OnSlot {
                conn: conn.clone(),
                route,
            };
            let mut exists = redis::cmd("EXISTS");
            exists.arg(&key);
            let asked = exists.query_async::<u8>(&mut on_slot);
            match tokio::time::timeout(self.op_timeout, asked).await {
                Ok(Ok(_)) => self.answered(route),
                Ok(Err(e)) => {
                    let _ = self.failed_on(route, e, &key);
                }
                Err(_) => {
                    let _ = self.unreachable_on(route, &key, "no answer".to_owned());
                }
            }
        }
    }

    /// Ends the outage once nothing is down.
    fn settle(&self, down: &mut Down) {
        if down.whole || !down.slots.is_empty() {
            return;
        }
        if self.healthy.swap(true, Ordering::AcqRel) {
            return;
        }
        #[cfg(feature = "metrics")]
        metrics::gauge!("resilience_fleet_reachable").set(1.0);
        if let Some(since) = down.since.take() {
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
        self.reachable.store(false, Ordering::Release);
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        down.whole = true;
        self.begin(&mut down, &error);
        FleetError::Unreachable(error)
    }

    /// The cluster's node of `route` did not answer (in time) for `key`: an outage of that
    /// slot (logged and counted once, with the outage under way if any). The connection
    /// stays: the cluster's client reconnects to the node and follows the slot if it moves.
    fn unreachable_on(&self, route: Route, key: &str, error: String) -> FleetError {
        // The cluster itself is reachable: a connection to it is made.
        self.reachable.store(true, Ordering::Release);
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        down.whole = false;
        down.slots.insert(route, (key.to_owned(), Instant::now()));
        self.begin(&mut down, &format!("{key}: {error}"));
        FleetError::NodeUnreachable {
            key: key.to_owned(),
            error,
        }
    }

    /// Starts an outage unless one is under way.
    fn begin(&self, down: &mut Down, error: &str) {
        self.healthy.store(false, Ordering::Release);
        if down.since.is_some() {
            return;
        }
        down.since = Some(Instant::now());
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
}

/// Whether `error` says that the server is gone (or not answering).
fn gone(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
}

/// A cluster connection whose every command goes to the master of one slot: a script's
/// `EVALSHA` and, on `NOSCRIPT`, its `SCRIPT LOAD`, which the cluster's client would otherwise
/// send to every node (and fail with any node down).
struct OnSlot {
    conn: ClusterConnection,
    route: Route,
}

impl OnSlot {
    fn routing(&self) -> RoutingInfo {
        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(self.route))
    }
}

impl ConnectionLike for OnSlot {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let routing = self.routing();
        Box::pin(self.conn.route_command(cmd.clone(), routing))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let route = SingleNodeRoutingInfo::SpecificNode(self.route);
        Box::pin(
            self.conn
                .route_pipeline(pipeline.clone(), offset, count, route),
        )
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// The error for a script's `BADVALUE <key> <field length> <field> <value length> <value>`
/// reply (after which Redis may append where the script stopped).
pub(super) fn bad_value(detail: &str) -> FleetError {
    let (key, rest) = detail.split_once(' ').unwrap_or((detail, ""));
    let (field, rest) = counted(rest);
    let (value, _) = counted(rest.strip_prefix(' ').unwrap_or(rest));
    FleetError::BadValue {
        key: key.to_owned(),
        field: field.to_owned(),
        value: value.to_owned(),
    }
}

/// `<length> <text>` at the start of `s`: the text (`length` bytes of it, or all that is
/// left if that is not a whole number of bytes within it) and what follows.
fn counted(s: &str) -> (&str, &str) {
    let Some((length, rest)) = s.split_once(' ') else {
        return (s, "");
    };
    match length.parse::<usize>() {
        Ok(n) if n <= rest.len() && rest.is_char_boundary(n) => rest.split_at(n),
        _ => (rest, ""),
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

    /// On a Redis Cluster a script may touch only the keys it is given, all in one slot: a
    /// key name built inside a script could be on another node.
    #[test]
    fn scripts_touch_only_the_keys_they_are_given() {
        // Every script in the folder, so that a new one is checked too.
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/fleet/scripts");
        let mut scripts = Vec::new();
        for entry in std::fs::read_dir(&folder).expect("the scripts' folder") {
            let path = entry.expect("a script").path();
            if path.extension().is_some_and(|e| e == "lua") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                scripts.push((
                    name,
                    std::fs::read_to_string(&path).expect("a script's text"),
                ));
            }
        }
        assert!(scripts.len() >= 10, "{scripts:?}");
        for (file, script) in &scripts {
            for (n, line) in script.lines().enumerate() {
                let code = line.split("--").next().unwrap_or_default();
                for command in ["'KEYS'", "'SCAN'", "'MGET'", "'MSET'"] {
                    assert!(!code.contains(command), "{file}:{}: {line}", n + 1);
                }
                assert!(!code.contains("resilience:"), "{file}:{}: {line}", n + 1);
            }
        }
    }

    #[test]
    fn a_bad_value_reply_names_key_field_and_value() {
        let error = bad_value(
            "resilience:{ns:tier1}:state 5 until 13 soon or later script: 8ac1, on @user_script:18.",
        );
        assert_eq!(
            error.to_string(),
            "malformed value in Redis at resilience:{ns:tier1}:state, field until: \"soon or later\""
        );
        // A hash's field with spaces in it (a foreign record's, say) is named whole.
        let error = bad_value("resilience:{ns:rate_limiter:c}:held 3 a b 1 x script: 8ac1.");
        assert!(
            matches!(&error, FleetError::BadValue { key, field, value }
                if key == "resilience:{ns:rate_limiter:c}:held" && field == "a b" && value == "x"),
            "{error:?}"
        );
    }
}
