//! A config file read from disk: its text resolved, its version (a short hash of its bytes, as
//! `/health` shows it), and what is wrong with it as `switchyard check` prints it, one
//! `path:line:column: message` per problem. Used at start, by `check` and on every reload, so
//! the three report alike.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError};
use crate::env::Env;

/// A config read from a file, with the version of the bytes it came from.
pub struct Loaded {
    pub config: Config,
    pub version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {}: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    /// Every problem, one per line, as `check` prints them.
    #[error("{report}")]
    Invalid { version: String, report: String },
}

/// Reads and resolves the file at `path`; `previous` is the config it replaces in a running
/// process (see [`Config::from_toml_after`]). Reads files (the config, certificates): not for
/// the request path.
pub fn load(path: &Path, env: &dyn Env, previous: Option<&Config>) -> Result<Loaded, LoadError> {
    let bytes = std::fs::read(path).map_err(|error| LoadError::Read { path: path.into(), error })?;
    let version = version_of(&bytes);
    let text = String::from_utf8(bytes).map_err(|e| LoadError::Invalid {
        version: version.clone(),
        report: format!("{}: not UTF-8 text (byte {})", path.display(), e.utf8_error().valid_up_to()),
    })?;
    match Config::from_toml_after(&text, env, previous) {
        Ok(config) => Ok(Loaded { config, version }),
        Err(e) => Err(LoadError::Invalid { report: report(path, &e), version }),
    }
}

/// Each problem on a line of its own, prefixed with the file and, when known, line and column.
pub fn report(path: &Path, error: &ConfigError) -> String {
    let mut out = String::new();
    for (i, p) in error.problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = match p.at {
            Some((line, col)) => write!(out, "{}:{line}:{col}: {}", path.display(), p.message),
            None => write!(out, "{}: {}", path.display(), p.message),
        };
    }
    out
}

/// A config's version: the first 12 hex digits of the SHA-256 of its bytes.
pub fn version_of(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().take(6).fold(String::with_capacity(12), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The version of a config that has no file (discovered from the environment): the hash of
/// what it serves — listen address, providers and their models, aliases and their deployments.
pub fn version_of_config(config: &Config) -> String {
    let mut text = format!("listen {}\n", config.listen);
    for (name, p) in &config.providers {
        let _ = writeln!(text, "provider {name} {} {} {}", p.kind.name(), p.base_url, p.model_patterns.join(","));
    }
    for (name, a) in &config.aliases {
        let deployments: Vec<&str> = a.deployments.iter().map(|d| d.label()).collect();
        let _ = writeln!(text, "alias {name} {}", deployments.join(","));
    }
    version_of(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_twelve_hex_digits_that_follow_the_bytes() {
        let v = version_of(b"listen = \"127.0.0.1:4000\"\n");
        assert_eq!(v.len(), 12);
        assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(v, version_of(b"listen = \"127.0.0.1:4001\"\n"));
        assert_eq!(version_of(b""), "e3b0c44298fc");
    }

    #[test]
    fn problems_are_reported_with_the_file_line_and_column() {
        let err = Config::from_toml("[providers.a]\nkind = \"nope\"\n", &[("X", "y")]).unwrap_err();
        let text = report(Path::new("c.toml"), &err);
        assert!(text.starts_with("c.toml:2:8: unknown variant `nope`"), "{text}");
    }
}
