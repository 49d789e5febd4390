//! A PostgreSQL cluster and a Redis server of a test's own, on spare loopback ports, that the
//! test may stop and start again (never the machine's shared ones). Both are removed when dropped.
//!
//! PostgreSQL's binaries come from `pg_config --bindir` (or `/usr/lib/postgresql/<v>/bin`); as
//! root, the cluster runs as the `postgres` user, since PostgreSQL refuses to run as root.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody is listening on right now.
pub fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("local addr").port()
}

fn wait_for_port(port: u16, up: bool, what: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() != up {
        assert!(Instant::now() < until, "{what} did not {} on port {port}", if up { "start" } else { "stop" });
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `redis-server` on a spare port, keeping nothing on disk.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    /// Not started yet: see [`OwnRedis::start`].
    pub fn new() -> OwnRedis {
        OwnRedis { port: spare_port(), child: None }
    }

    /// A started one.
    pub fn started() -> OwnRedis {
        let mut r = OwnRedis::new();
        r.start();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn start(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        self.child = Some(child);
        wait_for_port(self.port, true, "redis-server");
    }

    /// Stops it at once (its data is gone: it keeps nothing on disk).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `redis-cli -p <port> <args>` and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out =
            Command::new("redis-cli").arg("-p").arg(self.port.to_string()).args(args).output().expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Default for OwnRedis {
    fn default() -> Self {
        OwnRedis::new()
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A PostgreSQL cluster of its own (`initdb` into a temporary directory), trust auth on
/// loopback, database `postgres`.
pub struct OwnPostgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    running: bool,
}

impl OwnPostgres {
    /// A new cluster, started.
    pub fn started() -> OwnPostgres {
        let bin = pg_bindir();
        let data = std::env::temp_dir().join(format!("switchyard-pg-{}-{}", std::process::id(), spare_port()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).expect("pg data dir");
        as_postgres_owner(&data);
        let initdb = pg_command(&bin.join("initdb"))
            .args(["-D", &data.to_string_lossy(), "-A", "trust", "-U", "postgres", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("initdb");
        assert!(initdb.status.success(), "initdb failed: {}", String::from_utf8_lossy(&initdb.stderr));
        let mut pg = OwnPostgres { port: spare_port(), bin, data, running: false };
        pg.start();
        pg
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn start(&mut self) {
        let opts = format!("-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off", self.port);
        let log = self.data.join("log.txt");
        let status = pg_command(&self.bin.join("pg_ctl"))
            .args(["-D", &self.data.to_string_lossy(), "-l", &log.to_string_lossy(), "-o", &opts, "-w", "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("pg_ctl start");
        assert!(status.success(), "pg_ctl start failed: {}", std::fs::read_to_string(&log).unwrap_or_default());
        wait_for_port(self.port, true, "postgres");
        self.running = true;
    }

    /// Stops it at once, dropping every connection (`pg_ctl stop -m immediate`).
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let _ = pg_command(&self.bin.join("pg_ctl"))
            .args(["-D", &self.data.to_string_lossy(), "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        wait_for_port(self.port, false, "postgres");
        self.running = false;
    }

    /// Runs one SQL statement with `psql` and returns its unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-At",
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn pg_bindir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(Result::ok).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().expect("PostgreSQL's initdb (install postgresql)")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|u| u.split_whitespace().next() == Some("0")))
        .unwrap_or(false)
}

/// PostgreSQL's server programs refuse root: as root they run as `postgres` (via `runuser`).
fn pg_command(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn as_postgres_owner(dir: &Path) {
    if is_root() {
        let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir).status().expect("chown");
        assert!(status.success(), "chown postgres {dir:?}");
    }
}
