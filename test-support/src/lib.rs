//! Test support shared by the workspace's test binaries.
//!
//! [`RedisServer`] runs a real `redis-server` on a free loopback port, in a temporary directory
//! of its own, for the tests of the `fleet` feature: started by [`RedisServer::start`], stopped
//! (and its directory removed) when dropped. A test that needs Redis and cannot find
//! `redis-server` fails with a message saying how to install it; it never skips silently.
//!
//! [`LineProcess`] drives a child process one line at a time (a command on its stdin, an
//! answer on its stdout), its stderr kept in a log file that a missing answer shows.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How to get `redis-server`, in the failure of a test that cannot find it.
pub const INSTALL_HINT: &str = "the fleet tests need `redis-server` (Redis 6.2 or newer, 7 or \
     newer for a cluster, or Valkey) on the PATH, or its path in REDIS_SERVER: install it with \
     `apt-get install -y redis-server` (Debian, Ubuntu) or `brew install redis` (macOS)";

/// The commands the fleet's scripts run inside Redis: `INFO commandstats` counts them too, but
/// each is part of its script's one round trip (the fleet never sends them itself).
pub const IN_FLEET_SCRIPTS: [&str; 17] = [
    "del",
    "exists",
    "get",
    "hdel",
    "hgetall",
    "hmget",
    "hset",
    "pexpire",
    "publish",
    "set",
    "time",
    "type",
    "zadd",
    "zcard",
    "zrem",
    "zremrangebyscore",
    "zscore",
];

/// How long a started server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` process on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    program: PathBuf,
    /// Arguments beyond the port, the address and the directory (a cluster node's).
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts `redis-server` (from `REDIS_SERVER`, else the `PATH`) on a free loopback port.
    ///
    /// # Panics
    ///
    /// When `redis-server` cannot be found (with [`INSTALL_HINT`]) or does not answer within
    /// ten seconds (with its log).
    pub fn start() -> Self {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`start`](Self::start), returning what went wrong instead of panicking.
    pub fn try_start() -> Result<Self, String> {
        let program = locate(std::env::var_os("REDIS_SERVER"), std::env::var_os("PATH"));
        start_program(program, Vec::new())
    }

    /// The server's port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's directory (its log is `redis.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the server is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (as an outage would), keeping its port and directory for
    /// [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (`SIGSTOP`): connections still open, nothing answers, as with a
    /// server stuck or a network that drops replies. [`resume`](Self::resume) thaws it.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a [`pause`](Self::pause)d server.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running server");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Starts the server again on the same port, empty.
    ///
    /// # Panics
    ///
    /// When it does not answer within ten seconds (the port was taken meanwhile).
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("redis-server did not restart on port {}: {e}", self.port);
        }
    }

    /// The round trips the server has served since it started, by command (`INFO
    /// commandstats`, in lower case: `evalsha`, `script`, `subscribe`, ...): every command it
    /// counted but `INFO` itself and those run inside the fleet's scripts
    /// ([`IN_FLEET_SCRIPTS`]).
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    pub fn round_trips(&self) -> Vec<(String, u64)> {
        self.command(&["INFO", "commandstats"])
            .lines()
            .filter_map(|line| {
                let (command, rest) = line.strip_prefix("cmdstat_")?.split_once(":calls=")?;
                let calls = rest.split(',').next()?.parse::<u64>().ok()?;
                let counted = command != "info" && !IN_FLEET_SCRIPTS.contains(&command);
                counted.then(|| (command.to_owned(), calls))
            })
            .collect()
    }

    /// Sends one command and returns its reply: a bulk string's contents, or the first line of
    /// any other reply as sent (`+OK`, `:1`, `$-1` for nil, `-ERR ...`).
    ///
    /// For tests that write or read a value by hand, without a client crate.
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
            .unwrap_or_else(|e| panic!("connecting to redis-server on {}: {e}", self.port));
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).expect("sending");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("reply");
        let line = line.trim_end().to_owned();
        if let Some(len) = line.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
            let mut bulk = vec![0; len + 2];
            reader.read_exact(&mut bulk).expect("bulk reply");
            bulk.truncate(len);
            return String::from_utf8_lossy(&bulk).into_owned();
        }
        line
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.join("redis.log");
        let child = Command::new(&self.program)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("running {}: {e} ({INSTALL_HINT})", self.program.display()))?;
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("exited with {status}: {}", read_log(&log)));
                }
            }
            if ping(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err(format!(
            "no answer to PING within {START_TIMEOUT:?}: {}",
            read_log(&log)
        ))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.resume(); // a paused server does not die of SIGKILL's wait otherwise
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// How long a started cluster may take to agree that every slot is served.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

/// A Redis Cluster of masters without replicas on `127.0.0.1`, each a [`RedisServer`] in a
/// directory of its own, stopped when dropped.
///
/// Node `i` of `n` serves the `i`-th of `n` even ranges of the 16384 slots. The nodes run with
/// `cluster-require-full-coverage no`: when one is stopped, the others go on serving their own
/// slots, as a production cluster that prefers partial service does.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` nodes (from `REDIS_SERVER`, else the `PATH`; Redis 7 or newer, or
    /// Valkey), shares the slots among them (`CLUSTER ADDSLOTSRANGE`), joins them (`CLUSTER
    /// MEET`) and waits until every node says `cluster_state:ok`.
    ///
    /// # Panics
    ///
    /// When `redis-server` cannot be found (with [`INSTALL_HINT`]), or the cluster is not
    /// formed within thirty seconds (with what the nodes said).
    pub fn start(masters: usize) -> Self {
        Self::try_start(masters).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`start`](Self::start), returning what went wrong instead of panicking.
    pub fn try_start(masters: usize) -> Result<Self, String> {
        let program = locate(std::env::var_os("REDIS_SERVER"), std::env::var_os("PATH"));
        start_cluster(program, masters)
    }

    /// The nodes' URLs, `redis://127.0.0.1:<port>/`, in order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes, in order.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Node `i`.
    ///
    /// # Panics
    ///
    /// When there is no node `i`.
    pub fn node(&self, i: usize) -> &RedisServer {
        &self.nodes[i]
    }

    /// Node `i`, to stop or pause it.
    ///
    /// # Panics
    ///
    /// When there is no node `i`.
    pub fn node_mut(&mut self, i: usize) -> &mut RedisServer {
        &mut self.nodes[i]
    }

    /// Starts node `i` again on its port, from its cluster configuration (its slots, the
    /// other nodes), its data empty; once every node runs, waits until the cluster is formed
    /// again.
    ///
    /// # Panics
    ///
    /// When the node does not answer, or the cluster is not formed again, within thirty
    /// seconds.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].restart();
        if self.nodes.iter().all(RedisServer::is_running) {
            if let Err(e) = wait_formed(self) {
                panic!("{e}");
            }
        }
    }

    /// The slots node `i` serves.
    pub fn slots(&self, i: usize) -> std::ops::RangeInclusive<u16> {
        slot_range(i, self.nodes.len())
    }

    /// The slot of `key`, as the cluster computes it (`CLUSTER KEYSLOT`, asked of a running
    /// node).
    ///
    /// # Panics
    ///
    /// When no node runs, or the answer is not a slot.
    pub fn keyslot(&self, key: &str) -> u16 {
        let node = self
            .nodes
            .iter()
            .find(|n| n.is_running())
            .expect("a running node");
        let reply = node.command(&["CLUSTER", "KEYSLOT", key]);
        reply
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("CLUSTER KEYSLOT {key}: {reply}"))
    }

    /// The node that serves `key`'s slot.
    pub fn node_of(&self, key: &str) -> usize {
        let slot = self.keyslot(key);
        (0..self.nodes.len())
            .find(|&i| self.slots(i).contains(&slot))
            .expect("every slot is served")
    }
}

/// The `i`-th of `n` even ranges of the slots.
fn slot_range(i: usize, n: usize) -> std::ops::RangeInclusive<u16> {
    let slots = usize::from(SLOTS);
    let start = slots * i / n;
    let end = slots * (i + 1) / n - 1;
    let narrow = |s: usize| u16::try_from(s).expect("a slot");
    narrow(start)..=narrow(end)
}

/// Whether a `CLUSTER NODES` reply lists `masters` masters, each connected, with an address
/// and slots.
fn knows_every_master(nodes: &str, masters: usize) -> bool {
    let ready = nodes
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            fields.len() > 8
                && fields[2].contains("master")
                && !fields[2].contains("handshake")
                && !fields[2].contains("noaddr")
                && !fields[2].contains("fail")
                && fields[7] == "connected"
        })
        .count();
    ready == masters
}

fn start_cluster(program: Option<PathBuf>, masters: usize) -> Result<RedisCluster, String> {
    if masters == 0 {
        return Err("a cluster needs at least one master".to_owned());
    }
    let args = [
        "--cluster-enabled yes",
        "--cluster-config-file nodes.conf",
        "--cluster-port {bus}",
        "--cluster-node-timeout 5000",
        "--cluster-require-full-coverage no",
    ];
    let args: Vec<String> = args
        .iter()
        .flat_map(|a| a.split(' ').map(str::to_owned))
        .collect();
    let mut nodes = Vec::with_capacity(masters);
    for _ in 0..masters {
        nodes.push(start_program(program.clone(), args.clone())?);
    }
    let cluster = RedisCluster { nodes };
    let expect_ok = |node: &RedisServer, args: &[&str]| {
        let reply = node.command(args);
        if reply == "+OK" {
            Ok(())
        } else {
            Err(format!(
                "{} on port {} answered {reply} (a cluster needs Redis 7 or newer, or Valkey)",
                args.join(" "),
                node.port()
            ))
        }
    };
    for (i, node) in cluster.nodes.iter().enumerate() {
        let epoch = (i + 1).to_string();
        expect_ok(node, &["CLUSTER", "SET-CONFIG-EPOCH", &epoch])?;
        let range = cluster.slots(i);
        let (first, last) = (range.start().to_string(), range.end().to_string());
        expect_ok(node, &["CLUSTER", "ADDSLOTSRANGE", &first, &last])?;
    }
    let first = &cluster.nodes[0];
    for node in &cluster.nodes[1..] {
        let port = node.port().to_string();
        // The bus is on a port of its own, not the default port + 10000.
        let bus = node
            .extra
            .iter()
            .skip_while(|a| *a != "--cluster-port")
            .nth(1)
            .cloned()
            .unwrap_or_default();
        expect_ok(first, &["CLUSTER", "MEET", "127.0.0.1", &port, &bus])?;
    }
    wait_formed(&cluster)?;
    Ok(cluster)
}

/// Waits until every node of `cluster` says `cluster_state:ok` and lists every master with
/// its slots.
fn wait_formed(cluster: &RedisCluster) -> Result<(), String> {
    let masters = cluster.nodes.len();
    let known = format!("cluster_known_nodes:{masters}");
    let started = Instant::now();
    loop {
        let infos: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| n.command(&["CLUSTER", "INFO"]))
            .collect();
        // `cluster_state:ok` alone can come while a node still lists another without its
        // slots (its `CLUSTER SLOTS` then leaves them out, and a client misroutes them).
        let formed = infos
            .iter()
            .all(|info| info.contains("cluster_state:ok") && info.contains(&known))
            && cluster
                .nodes
                .iter()
                .all(|n| knows_every_master(&n.command(&["CLUSTER", "NODES"]), masters));
        if formed {
            return Ok(());
        }
        if started.elapsed() > CLUSTER_TIMEOUT {
            return Err(format!(
                "the cluster was not formed within {CLUSTER_TIMEOUT:?}: {infos:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(no log: {e})"))
}

/// `redis-server`: the file named by `REDIS_SERVER` if set, else the first on `path`.
fn locate(redis_server: Option<OsString>, path: Option<OsString>) -> Option<PathBuf> {
    if let Some(program) = redis_server {
        return Some(PathBuf::from(program)).filter(|p| p.is_file());
    }
    std::env::split_paths(&path?)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
}

/// Starts `program` with `extra` arguments; `{bus}` in them stands for another free port (a
/// cluster node's bus).
fn start_program(program: Option<PathBuf>, extra: Vec<String>) -> Result<RedisServer, String> {
    let program = program.ok_or_else(|| INSTALL_HINT.to_owned())?;
    let mut server = RedisServer {
        child: None,
        port: 0,
        dir: temp_dir(),
        program,
        extra: Vec::new(),
    };
    // A free port can be taken by someone else before the server binds it: try a few.
    let mut last = String::new();
    for _ in 0..5 {
        server.port = free_port();
        let bus = free_port().to_string();
        server.extra = extra.iter().map(|a| a.replace("{bus}", &bus)).collect();
        match server.spawn() {
            Ok(()) => return Ok(server),
            Err(e) => last = e,
        }
    }
    Err(format!("redis-server did not start: {last}"))
}

/// A child process driven line by line: commands written to its stdin, one answer a line read
/// from its stdout, its stderr written to a log file. Killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct LineProcess {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
    answer: Duration,
}

impl LineProcess {
    /// Spawns `command` with its stdin and stdout piped and its stderr written to `log`; each
    /// [`read`](Self::read) waits at most `answer` for a line.
    ///
    /// # Panics
    ///
    /// When the log file cannot be created or the process cannot be spawned.
    pub fn spawn(mut command: Command, log: PathBuf, answer: Duration) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("{:?} does not start: {e}", command.get_program()));
        let stdin = child.stdin.take().expect("a piped stdin");
        let stdout = child.stdout.take().expect("a piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        LineProcess {
            child,
            stdin,
            lines,
            log,
            answer,
        }
    }

    /// The next line the process writes.
    ///
    /// # Panics
    ///
    /// When none comes within the `answer` bound (with the process' log).
    pub fn read(&mut self) -> String {
        self.lines.recv_timeout(self.answer).unwrap_or_else(|_| {
            panic!(
                "the process did not answer within {:?}; its log:\n{}",
                self.answer,
                self.log()
            )
        })
    }

    /// Writes `command` and a newline to the process' stdin.
    ///
    /// # Panics
    ///
    /// When the process no longer reads its stdin.
    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("the process reads");
    }

    /// [`send`](Self::send)s `command` and [`read`](Self::read)s the answer.
    pub fn ask(&mut self, command: &str) -> String {
        self.send(command);
        self.read()
    }

    /// Writes `command` without expecting the process to read it (it may have exited).
    pub fn try_send(&mut self, command: &str) {
        let _ = writeln!(self.stdin, "{command}");
    }

    /// Everything the process has written to its stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most the `answer` bound) for the process to exit: `false` if it has not.
    pub fn wait_exit(&mut self) -> bool {
        let deadline = Instant::now() + self.answer;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for LineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago on `127.0.0.1`.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A new, empty directory under the system's temporary directory.
fn temp_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = base.join(format!(
            "resilience-redis-{}-{n}-{nanos}",
            std::process::id()
        ));
        if std::fs::create_dir(&dir).is_ok() {
            return dir;
        }
    }
    panic!("cannot create a directory under {}", base.display());
}

/// Whether a Redis server answers `PING` on the port.
fn ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_and_stops() {
        let mut server = RedisServer::start();
        assert_eq!(server.command(&["SET", "k", "v"]), "+OK");
        assert_eq!(server.command(&["GET", "k"]), "v");
        let dir = server.dir().to_owned();
        assert!(dir.is_dir());
        server.stop();
        assert!(!ping(server.port()), "stopped");
        server.restart();
        assert_eq!(server.command(&["GET", "k"]), "$-1", "restarted empty");
        drop(server);
        assert!(!dir.exists(), "its directory is removed");
    }

    #[test]
    fn a_missing_server_fails_with_the_install_hint() {
        assert_eq!(locate(Some("/nonexistent/redis-server".into()), None), None);
        assert_eq!(locate(None, Some("/nonexistent:/also/not".into())), None);
        let error = start_program(None, Vec::new()).unwrap_err();
        assert!(error.contains("apt-get install -y redis-server"), "{error}");
        assert!(
            locate(None, std::env::var_os("PATH")).is_some(),
            "{INSTALL_HINT}"
        );
    }

    #[test]
    fn a_cluster_serves_every_slot_on_its_nodes() {
        let mut cluster = RedisCluster::start(3);
        assert_eq!(cluster.urls().len(), 3);
        assert_eq!(cluster.slots(0), 0..=5460);
        assert_eq!(cluster.slots(1), 5461..=10921);
        assert_eq!(cluster.slots(2), 10922..=16383);
        // `CLUSTER KEYSLOT` agrees with the ranges, and each node refuses another's keys.
        for key in ["a", "b", "c", "{tag}x"] {
            let owner = cluster.node_of(key);
            assert_eq!(cluster.node(owner).command(&["SET", key, "v"]), "+OK");
            let other = cluster.node((owner + 1) % 3).command(&["GET", key]);
            assert!(other.starts_with("-MOVED"), "{other}");
        }
        let dirs: Vec<PathBuf> = cluster.nodes().iter().map(|n| n.dir().to_owned()).collect();
        cluster.node_mut(1).stop();
        assert!(!cluster.node(1).is_running());
        assert!(cluster.node(0).is_running());
        drop(cluster);
        assert!(
            dirs.iter().all(|d| !d.exists()),
            "their directories are removed"
        );
    }

    #[test]
    fn a_cluster_without_redis_server_fails_with_the_install_hint() {
        let error = start_cluster(None, 3).unwrap_err();
        assert!(error.contains("apt-get install -y redis-server"), "{error}");
    }
}
