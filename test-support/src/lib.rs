//! Test support shared by the workspace's test binaries.
//!
//! [`RedisServer`] runs a real `redis-server` on a free loopback port, in a temporary directory
//! of its own, for the tests of the `fleet` feature: started by [`RedisServer::start`], stopped
//! (and its directory removed) when dropped. A test that needs Redis and cannot find
//! `redis-server` fails with a message saying how to install it; it never skips silently.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How to get `redis-server`, in the failure of a test that cannot find it.
pub const INSTALL_HINT: &str = "the fleet tests need `redis-server` (Redis 6.2 or newer, or \
     Valkey) on the PATH, or its path in REDIS_SERVER: install it with \
     `apt-get install -y redis-server` (Debian, Ubuntu) or `brew install redis` (macOS)";

/// How long a started server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` process on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    program: PathBuf,
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
        start_program(program)
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

fn start_program(program: Option<PathBuf>) -> Result<RedisServer, String> {
    let program = program.ok_or_else(|| INSTALL_HINT.to_owned())?;
    let mut server = RedisServer {
        child: None,
        port: 0,
        dir: temp_dir(),
        program,
    };
    // A free port can be taken by someone else before the server binds it: try a few.
    let mut last = String::new();
    for _ in 0..5 {
        server.port = free_port();
        match server.spawn() {
            Ok(()) => return Ok(server),
            Err(e) => last = e,
        }
    }
    Err(format!("redis-server did not start: {last}"))
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
        let error = start_program(None).unwrap_err();
        assert!(error.contains("apt-get install -y redis-server"), "{error}");
        assert!(
            locate(None, std::env::var_os("PATH")).is_some(),
            "{INSTALL_HINT}"
        );
    }
}
