//! The `switchyard` command line.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gateway::config::discover::discover;
use gateway::env::ProcessEnv;
use gateway::{server, App, Config};

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "One OpenAI- and Anthropic-compatible endpoint for every model on every cloud."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway. Without --config, providers are discovered from the environment.
    Serve {
        #[arg(long, short, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address, overriding the config (host:port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Validate a config file and report every problem with its line.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// List the models (aliases) the gateway would serve; with --catalog, the price catalog.
    Models {
        #[arg(long, short, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        /// Every model in the price and capability catalog (with config overrides).
        #[arg(long)]
        catalog: bool,
    },
    /// Create, list or revoke virtual keys (in the ledger's database).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        #[arg(long, global = true, env = "SWITCHYARD_DATABASE_URL", default_value = gateway::app::DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Spend from the ledger, grouped: `switchyard spend --by model --since 7d`.
    Spend {
        /// key, team, model, provider or alias.
        #[arg(long, default_value = "model")]
        by: String,
        /// How far back: `30m`, `12h`, `7d`.
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long, env = "SWITCHYARD_DATABASE_URL", default_value = gateway::app::DEFAULT_DATABASE_URL)]
        database_url: String,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key; it is printed once and stored only as a hash.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        team: Option<String>,
        /// Model globs the key may use (comma-separated); default: any.
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        #[arg(long)]
        rpm: Option<u32>,
        #[arg(long)]
        tpm: Option<u64>,
        /// Dollars per period, exact to 9 decimal places (e.g. 5 or 0.25).
        #[arg(long)]
        budget_usd: Option<String>,
        /// day, week, month (default) or total.
        #[arg(long)]
        period: Option<String>,
        #[arg(long)]
        expires_in_days: Option<f64>,
        /// May sign in to the web console (/ui), read only.
        #[arg(long)]
        viewer: bool,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke { id: String },
}

// Why this allocator, and how it is kept from holding a burst's memory: the allocator crate.
#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

fn main() -> ExitCode {
    allocator::configure();
    init_tracing();
    gateway::background::spawn_memory_release();
    let cli = Cli::parse();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().enable_all().on_thread_park(allocator::on_idle).build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = std::env::var("SWITCHYARD_LOG_FORMAT").is_ok_and(|v| v == "json");
    // Colours only for a terminal; log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load(path: &Path) -> anyhow::Result<Result<Config, String>> {
    Ok(load_versioned(path)?.map(|(config, _)| config))
}

/// The config in `path` and its version, or every problem as `check` prints them.
fn load_versioned(path: &Path) -> anyhow::Result<Result<(Config, String), String>> {
    match gateway::config::file::load(path, &ProcessEnv, None) {
        Ok(loaded) => Ok(Ok((loaded.config, loaded.version))),
        Err(gateway::config::file::LoadError::Invalid { report, .. }) => Ok(Err(report)),
        Err(e) => Err(e.into()),
    }
}

async fn config_or_discover(path: Option<&Path>) -> anyhow::Result<Result<Config, String>> {
    if let Some(path) = path {
        return load(path);
    }
    let found = discover(&ProcessEnv).await;
    if found.found.is_empty() {
        eprintln!("switchyard: no providers found. Set OPENAI_API_KEY (or another provider's key), start a local");
        eprintln!(
            "            server (Ollama :11434, llama.cpp :8080, vLLM :8000, LM Studio :1234), or pass --config."
        );
    }
    for line in &found.found {
        eprintln!("switchyard: found {line}");
    }
    Ok(Ok(found.config))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { config } => match load(&config)? {
            Ok(c) => {
                eprintln!("{}: ok ({} providers, {} models)", config.display(), c.providers.len(), c.aliases.len());
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                eprintln!("{problems}");
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Keys { action, database_url } => keys_command(action, &database_url).await,
        Command::Spend { by, since, database_url } => {
            let Some(by) = gateway::ledger::SpendBy::parse(&by) else {
                eprintln!("error: --by must be key, team, model, provider or alias");
                return Ok(ExitCode::FAILURE);
            };
            let Some(window) = gateway::ledger::parse_since(&since) else {
                eprintln!("error: --since must look like 30m, 12h or 7d");
                return Ok(ExitCode::FAILURE);
            };
            let store = gateway::ledger::Store::open(&database_url).await?;
            let rows = store.spend(by, gateway::ledger::unix_ms_ago(window)).await?;
            use std::io::Write;
            std::io::stdout().write_all(gateway::ledger::spend_table(&rows).as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Models { config, catalog } => {
            let config = match config_or_discover(config.as_deref()).await? {
                Ok(c) => c,
                Err(problems) => {
                    eprintln!("{problems}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            if catalog {
                use std::io::Write;
                std::io::stdout().write_all(catalog_table(&config.catalog).as_bytes())?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = String::new();
            for (name, alias) in &config.aliases {
                let targets: Vec<String> =
                    alias.deployments.iter().map(|d| format!("{}/{}", d.provider.name, d.model)).collect();
                out.push_str(&format!("{name}\t{}\n", targets.join(", ")));
            }
            use std::io::Write;
            std::io::stdout().write_all(out.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { config: path, listen } => {
            // Before anything is printed: a signal from then on is handled, not fatal.
            let (shutdown, hangups) = (server::shutdown_signal(), server::reload::Hangups::install());
            let loaded = match path.as_deref() {
                Some(path) => load_versioned(path)?,
                None => config_or_discover(None).await?.map(|c| {
                    let version = gateway::config::file::version_of_config(&c);
                    (c, version)
                }),
            };
            let (mut config, version) = match loaded {
                Ok(c) => c,
                Err(problems) => {
                    eprintln!("{problems}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            if let Some(addr) = listen {
                config.listen = addr;
            }
            if config.master_key.is_none() {
                if !config.listen.ip().is_loopback() && !config.allow_unauthenticated {
                    anyhow::bail!(
                        "refusing to listen on {} without a key: set SWITCHYARD_MASTER_KEY, or allow_unauthenticated = true in the config",
                        config.listen
                    );
                }
                eprintln!(
                    "switchyard: no master key set (SWITCHYARD_MASTER_KEY): anyone who can reach {} may use it",
                    config.listen
                );
            }
            let (mut app, ledger) = App::open(config).await?;
            app.config_version = version.into();
            let app = Arc::new(app);
            // The request log writes from a thread of its own (`SWITCHYARD_LOG_FORMAT` as for the rest).
            gateway::telemetry::access_log::install(std::env::var("SWITCHYARD_LOG_FORMAT").is_ok_and(|v| v == "json"));
            // OpenTelemetry traces, when a collector is named (`OTEL_EXPORTER_OTLP_ENDPOINT`, `[telemetry]`).
            let traces =
                gateway::telemetry::otel::install(&gateway::env::ProcessEnv, app.config.otlp_endpoint.as_deref())?;
            let listener = server::bind(app.config.listen).with_context(|| format!("binding {}", app.config.listen))?;
            let addr = listener.local_addr()?;
            if let Some(metrics) = app.config.metrics_listen {
                eprintln!("switchyard: metrics on http://{metrics}/metrics");
            }
            let scheme = if app.config.tls.is_some() { "https" } else { "http" };
            let models = app.aliases.len();
            let file = path.map(|path| server::ConfigFile { path, listen });
            if let Some(f) = &file {
                let watching = if app.config.watch_config { ", and when it changes" } else { "" };
                eprintln!(
                    "switchyard: config {} (version {}) is read again on SIGHUP{watching}",
                    f.path.display(),
                    app.config_version
                );
            }
            let live = server::Live::new(app, file);
            server::reload::spawn(live.clone(), hangups);
            eprintln!("switchyard: listening on {scheme}://{addr} ({models} models)");
            server::serve_live(live, listener, shutdown).await?;
            gateway::telemetry::access_log::flush();
            if let Some(traces) = traces {
                traces.shutdown().await;
            }
            ledger.close().await;
            eprintln!("switchyard: ledger flushed; bye");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn keys_command(action: KeysAction, database_url: &str) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let store = gateway::keys::KeyStore(gateway::ledger::Store::open(database_url).await?);
    store.migrate().await?;
    let mut out = std::io::stdout();
    match action {
        KeysAction::Create { name, owner, team, models, rpm, tpm, budget_usd, period, expires_in_days, viewer } => {
            let budget_period = match period.as_deref() {
                None => None,
                Some(p) => match serde_json::from_value(serde_json::Value::String(p.to_owned())) {
                    Ok(p) => Some(p),
                    Err(_) => {
                        eprintln!("error: --period must be day, week, month or total");
                        return Ok(ExitCode::FAILURE);
                    }
                },
            };
            let spec = gateway::keys::NewKey {
                name,
                owner,
                team,
                expires_in_days,
                viewer,
                models,
                rpm,
                tpm,
                budget_usd: budget_usd.map(gateway::keys::UsdText),
                budget_period,
                ..Default::default()
            };
            let (record, secret) = match spec.build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            store.insert(&record).await?;
            writeln!(out, "{}\t{secret}", record.id)?;
            eprintln!("switchyard: key {} created; the secret above is shown only once", record.id);
            // After the secret is shown: a key that exists is never left unshown.
            gateway::audit::insert(&store.0, &gateway::audit::Event::key_created(gateway::audit::actor::CLI, &record))
                .await?;
        }
        KeysAction::List => {
            for k in store.all().await? {
                let state = if k.revoked { "revoked" } else { "active" };
                writeln!(out, "{}\t{}\t{}\t{}", k.id, k.name, k.team.as_deref().unwrap_or("-"), state)?;
            }
        }
        KeysAction::Revoke { id } => {
            if !store.revoke(&id).await? {
                eprintln!("error: no key `{id}`");
                return Ok(ExitCode::FAILURE);
            }
            // A deleted key's stored conversations go with it.
            let responses = gateway::conversations::ResponseStore(store.0.clone());
            responses.migrate().await?;
            let deleted = responses.delete_owner(&id).await?;
            let event = gateway::audit::Event::key_revoked(gateway::audit::actor::CLI, &id, deleted);
            gateway::audit::insert(&store.0, &event).await?;
            writeln!(out, "{id}\trevoked")?;
            if deleted > 0 {
                eprintln!("switchyard: {deleted} stored responses of key {id} deleted");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn catalog_table(catalog: &gateway::routing::catalog::Catalog) -> String {
    let mut out = format!("# list prices in USD per million tokens, as of {}\n", catalog.as_of);
    out += &format!(
        "{:<12} {:<46} {:>8} {:>8} {:>8} {:>8} {:>9} {:<9}\n",
        "kind", "model", "input", "cached", "write", "output", "context", "tier"
    );
    let price = |p: Option<gateway::money::NanosPerMTok>| p.map_or("-".to_owned(), |p| p.to_string());
    for e in &catalog.entries {
        for kind in &e.kinds {
            out += &format!(
                "{:<12} {:<46} {:>8} {:>8} {:>8} {:>8} {:>9} {:<9}\n",
                kind,
                e.model,
                e.input,
                price(e.cached_input),
                price(e.cache_write),
                e.output,
                e.context_window.map_or("-".to_owned(), |w| w.to_string()),
                e.tier.as_deref().unwrap_or("-")
            );
        }
    }
    out
}
