//! Live reload: the config file read again on SIGHUP, or when its contents change (looked at
//! every [`WATCH_EVERY`] with `watch_config = true`). A new config that resolves is swapped in
//! whole for the requests that follow ([`Live`]); one that does not is reported as `check`
//! reports it and the running one goes on. Settings that only take effect at start are kept,
//! with a warning ([`App::next`]). Not on the request path: reading and resolving run on the
//! blocking pool.

use std::sync::Arc;
use std::time::Duration;

use super::live::{Generation, Live};
use crate::app::{App, StartError};
use crate::config::file::{self, LoadError};
use crate::env::ProcessEnv;

/// How often a watched config file is read to see whether its contents changed.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// What asked for a reload; named in its log line and audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP.
    Signal,
    /// `watch_config` saw the file's contents change.
    FileChanged,
}

impl Trigger {
    /// Who made the change, as an audit record names it.
    pub fn actor(self) -> &'static str {
        match self {
            Trigger::Signal => "signal",
            Trigger::FileChanged => "watch",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the gateway was started without --config: there is no file to read again")]
    NoFile,
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(
        "the new config sets no master key, and {listen} is not a loopback address (set allow_unauthenticated = true to allow it)"
    )]
    NoKey { listen: std::net::SocketAddr },
    #[error("building the app for the new config: {0}")]
    Start(#[from] StartError),
    #[error("the reload task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A reload that took effect.
#[derive(Debug)]
pub struct Reloaded {
    pub version: Arc<str>,
    pub previous: Arc<str>,
    /// Settings the new file changes that take effect only at the next start.
    pub restart_needed: Vec<&'static str>,
}

/// Reads the config file again and, if it is good, serves the requests that follow with it.
/// Logs the outcome either way.
pub async fn reload(live: &Live, trigger: Trigger) -> Result<Reloaded, ReloadError> {
    let result = try_reload(live).await;
    match &result {
        Ok(done) => {
            for setting in &done.restart_needed {
                tracing::warn!(setting, "this setting takes effect at the next start; kept as it was until then");
            }
            live.app().on_reload(trigger.actor(), &done.previous);
        }
        Err(e) => {
            let version = live.app().config_version.clone();
            // The report goes out as `check` prints it, one problem per line.
            let actor = trigger.actor();
            // Fields would follow the last line; the report stays as `check` prints it.
            tracing::error!("config reload rejected; still serving version {version} (asked by {actor}):\n{e}");
        }
    }
    result
}

async fn try_reload(live: &Live) -> Result<Reloaded, ReloadError> {
    let _one_at_a_time = live.reloading.lock().await;
    let file = live.file.clone().ok_or(ReloadError::NoFile)?;
    let old = live.app();
    let previous = old.clone();
    // The config and certificate files are read and resolved off the async workers.
    let (app, restart_needed) = tokio::task::spawn_blocking(move || {
        let loaded = file::load(&file.path, &ProcessEnv, Some(&previous.config))?;
        let mut config = loaded.config;
        if file.listen.is_some() {
            // `--listen` overrides the file; that the file says otherwise is no change.
            config.listen = previous.config.listen;
        }
        let listen = previous.config.listen;
        if config.master_key.is_none() && !listen.ip().is_loopback() && !config.allow_unauthenticated {
            return Err(ReloadError::NoKey { listen });
        }
        Ok::<_, ReloadError>(previous.next(config, &loaded.version)?)
    })
    .await??;
    let app = Arc::new(app);
    let version = app.config_version.clone();
    live.swap(Generation::new(app));
    Ok(Reloaded { version, previous: old.config_version.clone(), restart_needed })
}

/// SIGHUP, where there is such a signal. Installed when made, so that a SIGHUP right after
/// start-up is not lost to the default action (which would end the process).
pub struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    pub fn install() -> Hangups {
        Hangups {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok(),
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.signal {
            if s.recv().await.is_some() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }
}

/// Reloads on every SIGHUP, and when `watch_config` is on (as the config serving says at the
/// time), on every change of the file's contents, for the life of the process.
pub fn spawn(live: Arc<Live>, mut hangups: Hangups) {
    #[expect(clippy::disallowed_methods, reason = "reloads for the life of the process")]
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The version of file contents already rejected: not tried (and reported) again until
        // the file changes once more.
        let mut rejected: Option<String> = None;
        loop {
            let (trigger, seen) = tokio::select! {
                () = hangups.next() => (Trigger::Signal, None),
                _ = tick.tick() => match changed(&live, rejected.as_deref()).await {
                    Some(version) => (Trigger::FileChanged, Some(version)),
                    None => continue,
                },
            };
            match reload(&live, trigger).await {
                Ok(_) => rejected = None,
                Err(ReloadError::Load(LoadError::Invalid { version, .. })) => rejected = Some(version),
                Err(_) => rejected = seen.or(rejected),
            }
        }
    });
}

/// The version of the watched file's contents, when watching is on and they differ from both
/// the config serving and the last contents rejected.
async fn changed(live: &Live, rejected: Option<&str>) -> Option<String> {
    let app: Arc<App> = live.app();
    if !app.config.watch_config {
        return None;
    }
    let path = &live.file.as_ref()?.path;
    // Hashing a config file every few seconds costs nothing to speak of, and unlike a
    // modification time it cannot miss a rewrite within the same tick or a swapped symlink.
    let bytes = tokio::fs::read(path).await.ok()?;
    let version = file::version_of(&bytes);
    (*app.config_version != *version && rejected != Some(version.as_str())).then_some(version)
}
