//! Bearer tokens from OAuth token endpoints, cached and refreshed before they expire: Google
//! service accounts (a signed JWT exchanged for an access token), Google user credentials
//! (refresh token), and Microsoft Entra ID client credentials.
//!
//! The request path reads the cached token under a short read lock; only a token near its
//! expiry makes one request (and only one: refreshes are single-flight) go to the network.

use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use http::HeaderValue;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde::Deserialize;

use crate::secret::Secret;

/// Google's scope for Vertex AI and every other Cloud API.
pub const GOOGLE_CLOUD_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Entra scope for Azure OpenAI / Azure AI services.
pub const AZURE_COGNITIVE_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
/// A token is replaced this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

pub enum Grant {
    /// JWT bearer grant (RFC 7523) signed with a service account's RSA key.
    GoogleServiceAccount { client_email: String, key_id: Option<String>, key: Box<RsaKeyPair>, token_url: String },
    /// `gcloud auth application-default login` credentials.
    GoogleAuthorizedUser { client_id: String, client_secret: Secret, refresh_token: Secret, token_url: String },
    /// Client-credentials grant against `{authority}/{tenant}/oauth2/v2.0/token`.
    EntraClientCredentials { token_url: String, client_id: String, client_secret: Secret },
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grant::GoogleServiceAccount { client_email, .. } => write!(f, "GoogleServiceAccount({client_email})"),
            Grant::GoogleAuthorizedUser { client_id, .. } => write!(f, "GoogleAuthorizedUser({client_id})"),
            Grant::EntraClientCredentials { client_id, .. } => write!(f, "EntraClientCredentials({client_id})"),
        }
    }
}

#[derive(Clone)]
struct Token {
    header: HeaderValue,
    refresh_at: Instant,
    expires_at: Instant,
}

#[derive(Debug)]
pub struct TokenSource {
    grant: Grant,
    scope: String,
    cached: RwLock<Option<Token>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenSource {
    pub fn new(grant: Grant, scope: impl Into<String>) -> TokenSource {
        TokenSource { grant, scope: scope.into(), cached: RwLock::new(None), refreshing: tokio::sync::Mutex::new(()) }
    }

    /// Reads Google's credentials file (`GOOGLE_APPLICATION_CREDENTIALS`): a service-account key
    /// or authorized-user credentials. `token_url` overrides the file's (for tests and proxies).
    pub fn google_from_json(json: &str, token_url: Option<&str>) -> Result<TokenSource, String> {
        #[derive(Deserialize)]
        struct File {
            #[serde(rename = "type")]
            kind: String,
            client_email: Option<String>,
            private_key: Option<String>,
            private_key_id: Option<String>,
            token_uri: Option<String>,
            client_id: Option<String>,
            client_secret: Option<String>,
            refresh_token: Option<String>,
        }
        let file: File = serde_json::from_str(json).map_err(|e| format!("not a Google credentials file: {e}"))?;
        let token_url = token_url.map(str::to_owned).or(file.token_uri).unwrap_or_else(|| GOOGLE_TOKEN_URL.into());
        let grant = match file.kind.as_str() {
            "service_account" => {
                let pem = file.private_key.ok_or("the service-account file has no `private_key`")?;
                Grant::GoogleServiceAccount {
                    client_email: file.client_email.ok_or("the service-account file has no `client_email`")?,
                    key_id: file.private_key_id,
                    key: Box::new(rsa_key_from_pem(&pem)?),
                    token_url,
                }
            }
            "authorized_user" => Grant::GoogleAuthorizedUser {
                client_id: file.client_id.ok_or("the credentials file has no `client_id`")?,
                client_secret: Secret::new(file.client_secret.ok_or("the credentials file has no `client_secret`")?),
                refresh_token: Secret::new(file.refresh_token.ok_or("the credentials file has no `refresh_token`")?),
                token_url,
            },
            other => return Err(format!("credentials of type `{other}` are not supported")),
        };
        Ok(TokenSource::new(grant, GOOGLE_CLOUD_SCOPE))
    }

    /// `Authorization: Bearer …` for the next request, fetching a token when none is fresh.
    pub async fn bearer(&self, client: &reqwest::Client) -> Result<HeaderValue, TokenError> {
        if let Some(t) = self.fresh(Instant::now()) {
            return Ok(t);
        }
        let _single_flight = self.refreshing.lock().await;
        let now = Instant::now();
        if let Some(t) = self.fresh(now) {
            return Ok(t);
        }
        match self.fetch(client).await {
            Ok(token) => {
                let header = token.header.clone();
                *self.cached.write().unwrap_or_else(|e| e.into_inner()) = Some(token);
                Ok(header)
            }
            // A failed early refresh keeps using the token while it is still valid.
            Err(e) => self.valid(now).ok_or(e),
        }
    }

    fn fresh(&self, now: Instant) -> Option<HeaderValue> {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        cached.as_ref().filter(|t| now < t.refresh_at).map(|t| t.header.clone())
    }

    fn valid(&self, now: Instant) -> Option<HeaderValue> {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        cached.as_ref().filter(|t| now < t.expires_at).map(|t| t.header.clone())
    }

    async fn fetch(&self, client: &reqwest::Client) -> Result<Token, TokenError> {
        let (url, form): (&str, Vec<(&str, String)>) = match &self.grant {
            Grant::GoogleServiceAccount { client_email, key_id, key, token_url } => {
                let jwt = sign_jwt(client_email, key_id.as_deref(), key, &self.scope, token_url)?;
                (
                    token_url,
                    vec![("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".into()), ("assertion", jwt)],
                )
            }
            Grant::GoogleAuthorizedUser { client_id, client_secret, refresh_token, token_url } => (
                token_url,
                vec![
                    ("grant_type", "refresh_token".into()),
                    ("client_id", client_id.clone()),
                    ("client_secret", client_secret.expose().to_owned()),
                    ("refresh_token", refresh_token.expose().to_owned()),
                ],
            ),
            Grant::EntraClientCredentials { token_url, client_id, client_secret } => (
                token_url,
                vec![
                    ("grant_type", "client_credentials".into()),
                    ("client_id", client_id.clone()),
                    ("client_secret", client_secret.expose().to_owned()),
                    ("scope", self.scope.clone()),
                ],
            ),
        };
        let started = Instant::now();
        let resp = client
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_urlencode(&form))
            .send()
            .await
            .map_err(|source| TokenError::Unreachable { url: url.to_owned(), source })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|source| TokenError::Unreachable { url: url.to_owned(), source })?;
        if !status.is_success() {
            let detail: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(TokenError::Refused { url: url.to_owned(), status, detail });
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|source| TokenError::NoToken { url: url.to_owned(), source })?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        let header = HeaderValue::try_from(format!("Bearer {}", parsed.access_token))
            .map_err(|_| TokenError::Unusable { url: url.to_owned() })?;
        // Short-lived tokens are refreshed at half their life rather than never.
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        Ok(Token { header, refresh_at: started + lifetime - margin, expires_at: started + lifetime })
    }
}

/// Why no token could be had from a token endpoint.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token endpoint {url} unreachable")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("token endpoint {url} answered {status}: {detail}")]
    Refused { url: String, status: http::StatusCode, detail: String },
    #[error("token endpoint {url} sent no token")]
    NoToken {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("token endpoint {url} sent an unusable token")]
    Unusable { url: String },
    #[error("signing the service-account JWT failed")]
    Jwt,
}

fn sign_jwt(
    client_email: &str,
    key_id: Option<&str>,
    key: &RsaKeyPair,
    scope: &str,
    audience: &str,
) -> Result<String, TokenError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = kid.into();
    }
    let claims =
        serde_json::json!({"iss": client_email, "scope": scope, "aud": audience, "iat": now, "exp": now + 3600});
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
        .map_err(|_| TokenError::Jwt)?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// A PKCS#8 `-----BEGIN PRIVATE KEY-----` block, as in Google's key files.
pub fn rsa_key_from_pem(pem: &str) -> Result<RsaKeyPair, String> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    let der = STANDARD.decode(b64).map_err(|_| "the private key is not valid PEM".to_owned())?;
    RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("the private key is not a PKCS#8 RSA key: {e}"))
}

fn form_urlencode(pairs: &[(&str, String)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        let s = form_urlencode(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".into()),
            ("a", "x y&z".into()),
        ]);
        assert_eq!(s, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&a=x+y%26z");
    }

    #[test]
    fn bad_credentials_files_say_what_is_wrong() {
        assert!(TokenSource::google_from_json("{", None).unwrap_err().contains("not a Google credentials file"));
        let e = TokenSource::google_from_json(r#"{"type":"service_account","client_email":"a@b"}"#, None).unwrap_err();
        assert!(e.contains("private_key"), "{e}");
        let e = TokenSource::google_from_json(
            r#"{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nnotbase64!\n-----END PRIVATE KEY-----"}"#,
            None,
        )
        .unwrap_err();
        assert!(e.contains("PEM"), "{e}");
        let e = TokenSource::google_from_json(r#"{"type":"external_account"}"#, None).unwrap_err();
        assert!(e.contains("external_account"), "{e}");
    }
}
