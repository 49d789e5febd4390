//! TLS termination for the main listener: a PEM certificate chain and private key, read and
//! checked into a rustls server config (ring provider) that offers HTTP/2 and HTTP/1.1 by ALPN.
//! Reads files only when a config is resolved (at start, `check` and reload); the handshakes are
//! the accept loop's (`server`), which takes the config of the app serving at the time, so a
//! reload gives new connections the new certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate and key the main listener serves with.
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Built once from the two files: every handshake shares it.
    pub server: Arc<rustls::ServerConfig>,
}

/// Why a certificate or key cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error("{} is not valid PEM: {error}", path.display())]
    Pem { path: PathBuf, error: pem::Error },
    #[error("the key in {} cannot serve the certificate in {}: {error}", key.display(), cert.display())]
    Unusable { cert: PathBuf, key: PathBuf, error: rustls::Error },
}

/// The certificate chain in `path`, leaf first.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem { path: path.into(), error })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.into() });
    }
    Ok(certs)
}

/// The first private key in `path`.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsError::NoKey { path: path.into() },
        error => TlsError::Pem { path: path.into(), error },
    })
}

/// The server config for a chain and its key; fails when the key does not match the leaf.
pub fn server_config(
    cert_file: &Path,
    certs: Vec<CertificateDer<'static>>,
    key_file: &Path,
    key: PrivateKeyDer<'static>,
) -> Result<Tls, TlsError> {
    let unusable = |error| TlsError::Unusable { cert: cert_file.into(), key: key_file.into(), error };
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(unusable)?;
    // HTTP/2 first: clients that speak it multiplex their streams over one connection.
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls { cert_file: cert_file.into(), key_file: key_file.into(), server: Arc::new(server) })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read { path: path.into(), error })
}
