//! A real upstream for tests: llama.cpp's own server with SmolLM2-135M, installed into a venv
//! by `scripts/setup-llm.sh` and started once per test binary by `scripts/llm_server.py`.
//!
//! Where the venv is missing, tests that need it skip with a message — except under `CI=true`,
//! where a missing model server is a failure, so CI can never pass without running them.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The model name the local server answers to.
pub const MODEL: &str = "smollm2-135m";
/// Width of the model's embeddings.
pub const EMBEDDING_DIMS: usize = 576;

/// A running llama.cpp server.
pub struct LocalLlm {
    /// e.g. `http://127.0.0.1:40123`
    pub base: String,
    // Kept so the child is not reaped early; it exits with this process (`--exit-with-parent`).
    _child: Mutex<Child>,
}

impl LocalLlm {
    /// The OpenAI-compatible base URL (`…/v1`).
    pub fn v1(&self) -> String {
        format!("{}/v1", self.base)
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv holding the model server and the official SDKs, if installed.
pub fn venv() -> Option<PathBuf> {
    let dir =
        std::env::var_os("SWITCHYARD_LLM_VENV").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".llm-venv"));
    if dir.join("bin/python").is_file() {
        Some(dir)
    } else {
        missing(&format!("no venv at {} (run scripts/setup-llm.sh)", dir.display()));
        None
    }
}

/// The venv's Python, which has the `openai` and `anthropic` SDKs.
pub fn python() -> Option<PathBuf> {
    venv().map(|v| v.join("bin/python"))
}

/// The shared server for this test binary, started on first use. None (after saying why)
/// when the venv is not installed outside CI.
pub fn local_llm() -> Option<&'static LocalLlm> {
    static SERVER: OnceLock<Option<LocalLlm>> = OnceLock::new();
    SERVER.get_or_init(start).as_ref()
}

fn start() -> Option<LocalLlm> {
    let python = python()?;
    let port = free_port();
    let script = repo_root().join("scripts/llm_server.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(["--port", &port.to_string(), "--exit-with-parent"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scripts/llm_server.py");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let log = std::sync::Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    // Drain stderr so llama.cpp's logging never blocks on a full pipe; keep its tail for errors.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            if log.len() > 64 * 1024 {
                log.clear();
            }
            log.push_str(&line);
            log.push('\n');
        }
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(base) = line.strip_prefix("llm-server ready on ") {
                let _ = tx.send(base.trim().to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(180)) {
        Ok(base) => Some(LocalLlm { base, _child: Mutex::new(child) }),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("llama.cpp server did not become ready; its log:\n{}", log.lock().unwrap());
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn missing(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("the local model server is required under CI: {why}");
    }
    eprintln!("skipping: {why}");
}
