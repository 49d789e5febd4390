//! The gateway under test: in-process on a free port ([`Gateway`]), or the real binary as a
//! child process ([`GatewayProcess`]) for start-up, signals and the command line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway::env::{Env, ProcessEnv};
use gateway::{server, App, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Gateway {
    pub addr: SocketAddr,
    /// The ledger's database: a fresh SQLite file per gateway unless the config names one.
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    ledger: Option<gateway::ledger::Writer>,
}

impl Gateway {
    /// Runs the gateway with `toml` as its config, listening on a free loopback port.
    pub async fn start(toml: &str) -> Gateway {
        Gateway::start_with_env(toml, &ProcessEnv).await
    }

    pub async fn start_with_env(toml: &str, env: &dyn Env) -> Gateway {
        let mut config = Config::from_toml(toml, env).unwrap_or_else(|e| panic!("bad test config: {e}"));
        config.listen = ([127, 0, 0, 1], 0).into();
        Gateway::start_config(config).await
    }

    pub async fn start_config(mut config: Config) -> Gateway {
        let database_url = config.database_url.get_or_insert_with(fresh_sqlite_url).clone();
        let (app, ledger) = App::open(config).await.expect("app");
        let app = Arc::new(app);
        let listener = server::bind(app.config.listen).expect("bind gateway");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(app, listener, async move {
            let _ = rx.await;
        }));
        Gateway { addr, database_url, shutdown: Some(tx), task: Some(task), ledger: Some(ledger) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Waits until this gateway's ledger has committed at least `rows` rows (see
    /// [`crate::wait::ledger_rows`]); [`Gateway::stop`] instead flushes every row and ends it.
    pub async fn wait_for_ledger_rows(&self, rows: i64) {
        let writer = self.ledger.as_ref().expect("a running gateway has its ledger");
        crate::wait::store_rows(&writer.store, rows).await;
    }

    /// Stops accepting, drains, and waits until the server has returned.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
        if let Some(ledger) = self.ledger.take() {
            ledger.close().await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A SQLite ledger file of its own for each gateway a test starts.
pub fn fresh_sqlite_url() -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("switchyard-test-ledgers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("ledger dir");
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("sqlite://{}/ledger-{n}.db", dir.display())
}

/// The `switchyard` binary running as a child process.
pub struct GatewayProcess {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl GatewayProcess {
    /// Runs `bin serve <args>` with `env` added to a cleaned environment (no provider keys
    /// from the machine leak in), and waits for its "listening on" line.
    pub fn serve(bin: &str, args: &[&str], env: &[(&str, &str)]) -> GatewayProcess {
        let mut cmd = clean_command(bin, env);
        cmd.arg("serve").args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn switchyard");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("stderr");
        let log = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let listening = line.split("listening on http://").nth(1);
                if let Some(rest) = listening.or_else(|| line.split("listening on https://").nth(1)) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = tx.send(addr);
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                // The pipe closed with the process: the reader ends once it has every line.
                let _ = reader.join();
                panic!("switchyard did not start; stderr:\n{}", stderr.lock().unwrap());
            }
        };
        GatewayProcess { child, addr, stderr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The process id, for reading its memory use from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (Linux), or 0 where `/proc` cannot tell.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} failed");
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion (e.g. `check`), returning exit status and stderr.
pub fn run_command(bin: &str, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let out = clean_command(bin, env).args(args).output().expect("run switchyard");
    (out.status, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A command for the binary whose environment has no provider keys or Switchyard settings
/// from the machine, only `env`.
fn clean_command(bin: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.ends_with("_API_KEY") || k.ends_with("_BASE_URL") || k.starts_with("SWITCHYARD_") {
            cmd.env_remove(k);
        }
    }
    // Never the working directory's ledger.
    cmd.env("SWITCHYARD_DATABASE_URL", fresh_sqlite_url());
    cmd.envs(env.iter().copied());
    cmd
}
