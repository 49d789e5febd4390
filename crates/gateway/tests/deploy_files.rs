//! The deploy files against the binary they ship: `deploy/switchyard.toml` (mounted by
//! `deploy/docker-compose.yml`) and the config in the Helm chart's values pass
//! `switchyard check` with only the environment the container is given; every environment
//! variable the compose file and the chart set on the gateway's container is one the binary
//! reads, or one the config names (`*_env`); the ports and grace periods agree across the
//! Dockerfile, nginx, Prometheus and the config; and the image's health check passes against
//! the real binary serving the compose config.
//!
//! The YAML files are read with a small reader of block mappings (what these files use), so
//! this test needs no YAML library. When the chart renderer (`deploy/helm/render.py`, Helm's
//! Go SDK through the `helm-python-sdk` package) can be imported, the rendered chart is checked
//! the same way; otherwise that test says it is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail the test loudly")]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-deploy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

// ---- a reader for the block-style YAML these files are written in ----

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// The lines under `key` among `lines` (a mapping's children, at their own indentation).
/// `scalar`: the block is a block scalar (`key: |`), whose `#` lines are content.
fn child_block<'a>(lines: &[&'a str], key: &str, scalar: bool) -> Option<Vec<&'a str>> {
    let level = lines.iter().filter(|l| !is_blank(l) && !is_comment(l)).map(|l| indent_of(l)).min()?;
    let start = lines.iter().position(|l| {
        indent_of(l) == level && l.trim_start().strip_prefix(key).is_some_and(|rest| rest.starts_with(':'))
    })?;
    let block = lines[start + 1..]
        .iter()
        .take_while(|l| is_blank(l) || (!scalar && is_comment(l)) || indent_of(l) > level)
        .copied()
        .collect();
    Some(block)
}

/// The block at `path` (`["services", "gateway", "environment"]`) of a YAML text.
fn yaml_block<'a>(text: &'a str, path: &[&str], scalar: bool) -> Option<Vec<&'a str>> {
    let mut lines: Vec<&str> = text.lines().collect();
    for (i, key) in path.iter().enumerate() {
        lines = child_block(&lines, key, scalar && i + 1 == path.len())?;
    }
    Some(lines)
}

/// A block scalar's text without its indentation (and without trailing blank lines).
fn dedent(lines: &[&str]) -> String {
    let cut = lines.iter().filter(|l| !is_blank(l)).map(|l| indent_of(l)).min().unwrap_or(0);
    let text = lines.iter().map(|l| if is_blank(l) { "" } else { &l[cut..] }).collect::<Vec<_>>().join("\n");
    format!("{}\n", text.trim_end())
}

/// The value of `key` in the mapping `section` of `text`, unquoted (`None`: not there).
fn scalar(text: &str, section: &str, key: &str) -> Option<String> {
    yaml_block(text, &[section], false)?.iter().find_map(|l| {
        let v = l.trim().strip_prefix(key)?.strip_prefix(':')?;
        let v = v.split(" #").next().unwrap_or_default().trim();
        Some(v.trim_matches(|c| c == '"' || c == '\'').to_owned())
    })
}

fn is_env_name(s: &str) -> bool {
    s.len() > 1
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `- name: VAR` list entries (an env list) and `- VAR` entries (a list of names).
fn listed_env_names(lines: &[&str]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|item| item.strip_prefix("name:").unwrap_or(item).trim().trim_matches('"'))
        .filter(|name| is_env_name(name))
        .map(str::to_owned)
        .collect()
}

// ---- what the binary reads ----

/// Every `"UPPER_CASE"` string literal in the binary's own source (`tests.rs` files left out):
/// the environment variables it can read, by name.
fn binary_env_names() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
                // Between two quotes: a string literal (code between literals is never a bare
                // upper-case name), so an escaped quote or a '"' cannot shift what is found.
                let text = std::fs::read_to_string(&path).unwrap();
                for literal in text.split('"') {
                    if literal.contains('_') && is_env_name(literal) {
                        out.insert(literal.to_owned());
                    }
                }
            }
        }
    }
    let mut names = BTreeSet::new();
    walk(&root().join("crates/gateway/src"), &mut names);
    // The readers themselves must be found, or this reading of the source is broken.
    for known in ["SWITCHYARD_MASTER_KEY", "SWITCHYARD_DATABASE_URL", "SWITCHYARD_LOG", "OPENAI_API_KEY"] {
        assert!(names.contains(known), "{known} not found in crates/gateway/src: the source scan is broken");
    }
    names
}

/// The variables a config names through its `*_env` keys (master_key_env, api_key_env, ...).
fn config_env_names(toml_text: &str) -> BTreeSet<String> {
    fn walk(value: &toml::Value, out: &mut BTreeSet<String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    match v {
                        toml::Value::String(name) if k.ends_with("_env") => {
                            out.insert(name.clone());
                        }
                        _ => walk(v, out),
                    }
                }
            }
            toml::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let value: toml::Value = toml::from_str(toml_text).unwrap_or_else(|e| panic!("not TOML: {e}\n{toml_text}"));
    let mut names = BTreeSet::new();
    walk(&value, &mut names);
    names
}

/// A top-level integer of a config, if set.
fn config_int(toml_text: &str, key: &str) -> Option<i64> {
    let value: toml::Value = toml::from_str(toml_text).unwrap();
    value.get(key).and_then(toml::Value::as_integer)
}

/// `switchyard check` of `toml_text` with only `env` (dummy values) in its environment, as
/// the container would run it.
fn check(what: &str, toml_text: &str, env: &BTreeSet<String>) {
    let name: String = what.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let file = scratch(&format!("{name}.toml"));
    std::fs::write(&file, toml_text).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&file)
        .env_clear()
        .envs(env.iter().map(|k| (k.as_str(), "dummy-value-for-check")))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains(": ok ("),
        "{what}: `switchyard check` refused it with the container's environment {env:?}:\n{stderr}"
    );
}

/// Every variable set on the container is one the binary reads or the config names.
fn assert_all_read(what: &str, set: &BTreeSet<String>, config: &str, binary: &BTreeSet<String>) {
    let named = config_env_names(config);
    let unread: Vec<&String> = set.iter().filter(|v| !binary.contains(*v) && !named.contains(*v)).collect();
    assert!(
        unread.is_empty(),
        "{what} sets {unread:?} on the gateway container, which the binary never reads and the config does not name"
    );
    let missing: Vec<&String> = named.iter().filter(|v| !set.contains(*v)).collect();
    assert!(missing.is_empty(), "{what}: the config names {missing:?}, which the container is not given");
}

// ---- the deploy files ----

fn compose() -> String {
    read("deploy/docker-compose.yml")
}

fn compose_env() -> BTreeSet<String> {
    let text = compose();
    let block = yaml_block(&text, &["services", "gateway", "environment"], false)
        .expect("deploy/docker-compose.yml: services.gateway.environment");
    let names: BTreeSet<String> = block
        .iter()
        .filter(|l| !is_blank(l) && !is_comment(l))
        .map(|l| {
            let (name, _) = l.trim().split_once(':').unwrap_or_else(|| panic!("not `NAME: value`: {l}"));
            assert!(is_env_name(name), "environment entry `{name}` is not a variable name");
            name.to_owned()
        })
        .collect();
    assert!(names.contains("SWITCHYARD_MASTER_KEY"), "compose environment read as {names:?}");
    names
}

/// The config in a values file's `config: |`.
fn values_config(values_rel: &str) -> String {
    let text = read(values_rel);
    dedent(&yaml_block(&text, &["config"], true).unwrap_or_else(|| panic!("{values_rel}: no `config: |`")))
}

/// What the chart's Deployment sets on the container with this values file over the defaults:
/// the template's own `- name: VAR` entries, `providerKeys.names` and `extraEnv` (a list in
/// the override replaces the default's, as in Helm).
fn chart_env(values_rel: Option<&str>) -> BTreeSet<String> {
    let defaults = read("deploy/helm/switchyard/values.yaml");
    let overrides = values_rel.map(read);
    let list = |path: &[&str]| {
        overrides
            .as_deref()
            .and_then(|o| yaml_block(o, path, false))
            .or_else(|| yaml_block(&defaults, path, false))
            .map(|b| listed_env_names(&b))
            .unwrap_or_default()
    };
    let mut names =
        listed_env_names(&read("deploy/helm/switchyard/templates/deployment.yaml").lines().collect::<Vec<_>>());
    names.extend(list(&["providerKeys", "names"]));
    names.extend(list(&["extraEnv"]));
    // A database or Redis URL is set only when the values give one (a key in the override
    // wins over the default's, as Helm merges maps).
    let given = |section: &str, key: &str| {
        overrides
            .as_deref()
            .and_then(|o| scalar(o, section, key))
            .or_else(|| scalar(&defaults, section, key))
            .is_some_and(|v| !v.is_empty())
    };
    if !given("database", "existingSecret") {
        names.remove("SWITCHYARD_DATABASE_URL");
    }
    if !given("redis", "existingSecret") && !given("redis", "url") {
        names.remove("SWITCHYARD_REDIS_URL");
    }
    assert!(names.contains("SWITCHYARD_MASTER_KEY"), "chart environment read as {names:?}");
    names
}

const CHART_VALUES: [Option<&str>; 2] = [None, Some("deploy/helm/fleet-values.yaml")];

fn chart_config(values_rel: Option<&str>) -> String {
    values_config(values_rel.unwrap_or("deploy/helm/switchyard/values.yaml"))
}

#[test]
fn the_compose_config_passes_check_with_only_the_containers_environment() {
    check("deploy/switchyard.toml", &read("deploy/switchyard.toml"), &compose_env());
}

#[test]
fn the_chart_configs_pass_check_with_only_the_containers_environment() {
    for values in CHART_VALUES {
        let what = format!("chart config ({})", values.unwrap_or("default values"));
        check(&what, &chart_config(values), &chart_env(values));
    }
}

#[test]
fn every_variable_set_on_the_gateway_container_is_one_the_binary_reads() {
    let binary = binary_env_names();
    assert_all_read("deploy/docker-compose.yml", &compose_env(), &read("deploy/switchyard.toml"), &binary);
    for values in CHART_VALUES {
        let what = format!("the Helm chart ({})", values.unwrap_or("default values"));
        assert_all_read(&what, &chart_env(values), &chart_config(values), &binary);
    }
}

#[test]
fn ports_paths_and_grace_periods_agree_across_the_deploy_files() {
    let config = read("deploy/switchyard.toml");
    let value: toml::Value = toml::from_str(&config).unwrap();
    assert_eq!(value.get("listen").and_then(toml::Value::as_str), Some("0.0.0.0:4000"), "deploy/switchyard.toml");
    assert_eq!(value.get("metrics_listen").and_then(toml::Value::as_str), Some("0.0.0.0:9090"));
    for values in CHART_VALUES {
        let chart: toml::Value = toml::from_str(&chart_config(values)).unwrap();
        assert_eq!(chart.get("listen").and_then(toml::Value::as_str), Some("0.0.0.0:4000"), "{values:?}");
        // The chart takes the database and Redis from Secrets; a URL in the file would win.
        assert!(chart.get("database_url").is_none() && chart.get("redis_url").is_none(), "{values:?}");
    }

    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("\nEXPOSE 4000\n"), "Dockerfile: EXPOSE 4000");
    assert!(dockerfile.contains(r#"CMD ["serve", "--config", "/etc/switchyard/switchyard.toml"]"#));
    assert!(dockerfile.contains("COPY deploy/healthcheck.sh "), "Dockerfile: the health check script");
    let compose = compose();
    assert!(compose.contains(r#"command: ["serve", "--config", "/etc/switchyard/switchyard.toml"]"#));
    assert!(compose.contains("- .:/etc/switchyard:ro"), "compose mounts deploy/ (with switchyard.toml) there");
    assert!(read("deploy/nginx.conf").contains("server gateway:4000 "), "nginx: the gateway's listen port");
    assert!(read("deploy/prometheus.yml").contains("port: 9090"), "prometheus: the gateway's metrics_listen port");

    // The container's stop grace outlasts the drain and the shutdown grace.
    let drain = config_int(&config, "drain_delay_secs").unwrap_or(0);
    let grace = config_int(&config, "shutdown_grace_secs").unwrap_or(30);
    let stop = yaml_block(&compose, &["services", "gateway"], false)
        .unwrap()
        .iter()
        .find_map(|l| l.trim().strip_prefix("stop_grace_period:"))
        .and_then(|v| v.split('#').next()?.trim().strip_suffix('s')?.parse::<i64>().ok())
        .expect("services.gateway.stop_grace_period in seconds (`45s`)");
    assert!(
        stop > drain + grace,
        "stop_grace_period {stop}s must exceed drain_delay_secs {drain} + shutdown_grace_secs {grace}"
    );
}

/// The Python that can import the renderer, if any: `SWITCHYARD_HELM_PYTHON`, else `python3`.
fn renderer() -> Option<String> {
    let python = std::env::var("SWITCHYARD_HELM_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import helm_python"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

#[test]
fn the_rendered_chart_sets_what_the_values_say_and_its_config_passes_check() {
    let Some(python) = renderer() else {
        eprintln!(
            "skipped: the chart renderer is not installed (pip install helm-python-sdk, or point SWITCHYARD_HELM_PYTHON at a python that has it)"
        );
        return;
    };
    for values in CHART_VALUES {
        let what = format!("rendered chart ({})", values.unwrap_or("default values"));
        let mut cmd = Command::new(&python);
        cmd.arg(root().join("deploy/helm/render.py")).arg("--json");
        if let Some(v) = values {
            cmd.arg("-f").arg(root().join(v));
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
        let manifests: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let manifest = |name: &str| {
            manifests[format!("switchyard/templates/{name}")]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no {name}"))
                .to_owned()
        };
        let deployment = manifest("deployment.yaml");
        let lines: Vec<&str> = deployment.lines().collect();
        let env_at = lines.iter().position(|l| l.trim() == "env:").unwrap_or_else(|| panic!("{what}: no env"));
        let env_lines: Vec<&str> = lines[env_at + 1..]
            .iter()
            .take_while(|l| is_blank(l) || indent_of(l) > indent_of(lines[env_at]))
            .copied()
            .collect();
        let rendered_env = listed_env_names(&env_lines);
        assert_eq!(rendered_env, chart_env(values), "{what}: the Deployment's env against the values");
        let config = dedent(&yaml_block(&manifest("configmap.yaml"), &["data", "switchyard.toml"], true).unwrap());
        assert_eq!(config, chart_config(values), "{what}: the ConfigMap holds the values' config");
        check(&what, &config, &rendered_env);
        assert!(deployment.contains("checksum/config: "), "{what}: config changes roll the pods");
        assert!(deployment.contains("maxUnavailable: 0"), "{what}");
    }
}

#[test]
fn the_images_health_check_passes_against_the_binary_serving_the_compose_config() {
    // The compose config, on loopback, with this machine's PostgreSQL and Redis where CI has
    // them (else a SQLite file of its own and no Redis).
    let dir = scratch("serve");
    std::fs::create_dir_all(&dir).unwrap();
    let database = std::env::var("SWITCHYARD_TEST_POSTGRES").ok();
    let redis = std::env::var("SWITCHYARD_TEST_REDIS").ok();
    let config: String = read("deploy/switchyard.toml")
        .lines()
        .filter_map(|l| {
            let key = l.split('=').next().unwrap_or_default().trim();
            match key {
                "metrics_listen" => Some("metrics_listen = \"127.0.0.1:0\"".to_owned()),
                "database_url" => database.as_ref().map(|u| format!("database_url = \"{u}\"")),
                "redis_url" => redis.as_ref().map(|u| format!("redis_url = \"{u}\"")),
                _ => Some(l.to_owned()),
            }
        })
        .map(|l| l + "\n")
        .collect();
    let file = dir.join("switchyard.toml");
    std::fs::write(&file, config).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .current_dir(&dir)
        .env_clear()
        .envs(compose_env().iter().map(|k| (k.as_str(), "dummy-value")))
        .env("SWITCHYARD_DATABASE_URL", format!("sqlite://{}", dir.join("ledger.db").display()))
        .env("SWITCHYARD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("listening on http://").nth(1) {
                let _ = tx.send(Ok(addr.split_whitespace().next().unwrap_or_default().to_owned()));
            }
            log.push_str(&line);
            log.push('\n');
        }
        let _ = tx.send(Err(log));
    });
    let addr = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(addr)) => addr,
        other => {
            let _ = child.kill();
            panic!("switchyard did not start with the compose config: {other:?}");
        }
    };
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let healthcheck = root().join("deploy/healthcheck.sh");
    let healthy =
        || Command::new("bash").arg(&healthcheck).arg(&port).stderr(Stdio::null()).status().unwrap().success();
    let serving = healthy();
    // SIGTERM: for drain_delay_secs /health answers 503 while requests are still served, and
    // the image's check calls that unhealthy.
    let signalled = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success();
    std::thread::sleep(Duration::from_millis(300));
    let draining = (http_status(&addr, "/health"), http_status(&addr, "/v1/models"), healthy());
    let exited = (0..200).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        child.try_wait().unwrap()
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(serving, "deploy/healthcheck.sh {port} failed against a serving gateway");
    assert!(signalled);
    if config_int(&read("deploy/switchyard.toml"), "drain_delay_secs").unwrap_or(0) > 0 {
        assert_eq!(draining, (Some(503), Some(200), false), "while draining: (/health, /v1/models, the check)");
    }
    assert_eq!(exited.and_then(|s| s.code()), Some(0), "after SIGTERM the gateway exits 0 once drained");

    // Nothing listening: unhealthy.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let status = Command::new("bash").arg(&healthcheck).arg(closed.to_string()).stderr(Stdio::null()).status().unwrap();
    assert!(!status.success(), "the health check passed with nothing listening");
}

/// The status of `GET path` on `addr`, with the dummy master key the serve test gives it.
fn http_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer dummy-value\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A Docker Compose v2 command line, if any: `SWITCHYARD_DOCKER_COMPOSE` (the path of a
/// `docker-compose` binary), else `docker compose` or `docker-compose` from the PATH. None
/// needs a Docker daemon for `config`.
fn compose_cli() -> Option<Vec<String>> {
    let candidates: Vec<Vec<String>> = match std::env::var("SWITCHYARD_DOCKER_COMPOSE") {
        Ok(path) => vec![vec![path]],
        Err(_) => vec![vec!["docker".into(), "compose".into()], vec!["docker-compose".into()]],
    };
    candidates
        .into_iter()
        .find(|c| Command::new(&c[0]).args(&c[1..]).arg("version").output().is_ok_and(|o| o.status.success()))
}

#[test]
fn docker_compose_accepts_the_compose_file_and_reads_the_same_environment() {
    let Some(cli) = compose_cli() else {
        eprintln!("skipped: no Docker Compose CLI (docker compose, docker-compose, or SWITCHYARD_DOCKER_COMPOSE)");
        return;
    };
    let env = compose_env();
    let out = Command::new(&cli[0])
        .args(&cli[1..])
        .arg("-f")
        .arg(root().join("deploy/docker-compose.yml"))
        .args(["config", "--format", "json"])
        .envs(env.iter().map(|k| (k.as_str(), "dummy-value")))
        .output()
        .unwrap();
    assert!(out.status.success(), "docker compose config: {}", String::from_utf8_lossy(&out.stderr));
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gateway = &config["services"]["gateway"];
    let read: BTreeSet<String> = gateway["environment"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(read, env, "the gateway's environment as Docker Compose reads it");
    assert_eq!(gateway["deploy"]["replicas"], 3);
    for service in ["nginx", "postgres", "redis", "prometheus"] {
        assert!(config["services"][service].is_object(), "no {service} service");
    }
}
