//! AWS credentials and SigV4 request signing (with the official `aws-sigv4` crate) for Bedrock.
//! Credentials come from the standard variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`) or the shared credentials file (`~/.aws/credentials`, profile from
//! `AWS_PROFILE`), read once at start.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::HeaderValue;

use crate::env::Env;
use crate::secret::Secret;

/// Bedrock's signing name (not `bedrock-runtime`).
pub const BEDROCK_SIGNING_NAME: &str = "bedrock";

#[derive(Debug)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// Where they came from, for the start-up banner.
    pub source: String,
}

impl AwsCredentials {
    /// The environment's keys, else the shared credentials file's `profile` (or `AWS_PROFILE`,
    /// or `default`).
    pub fn load(env: &dyn Env, profile: Option<&str>) -> Result<AwsCredentials, String> {
        if profile.is_none() {
            if let (Some(id), Some(secret)) = (env.var("AWS_ACCESS_KEY_ID"), env.var("AWS_SECRET_ACCESS_KEY")) {
                return Ok(AwsCredentials {
                    access_key_id: id,
                    secret_access_key: Secret::new(secret),
                    session_token: env.var("AWS_SESSION_TOKEN").map(Secret::new),
                    source: "AWS_ACCESS_KEY_ID".into(),
                });
            }
        }
        let profile = profile.map(str::to_owned).or_else(|| env.var("AWS_PROFILE")).unwrap_or_else(|| "default".into());
        let path = env
            .var("AWS_SHARED_CREDENTIALS_FILE")
            .or_else(|| env.var("HOME").map(|h| format!("{h}/.aws/credentials")))
            .ok_or("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("no AWS credentials in the environment, and {path} cannot be read: {e}"))?;
        let section = ini_section(&text, &profile).ok_or_else(|| format!("{path} has no profile `{profile}`"))?;
        let get = |k: &str| section.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let (Some(id), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key")) else {
            return Err(format!("profile `{profile}` in {path} has no aws_access_key_id/aws_secret_access_key"));
        };
        Ok(AwsCredentials {
            access_key_id: id,
            secret_access_key: Secret::new(secret),
            session_token: get("aws_session_token").map(Secret::new),
            source: format!("{path} [{profile}]"),
        })
    }

    /// Signs `req` in place: adds `x-amz-date`, `authorization` and, with a session token,
    /// `x-amz-security-token`. The signature covers the method, path, query, headers and body.
    pub fn sign(&self, region: &str, req: &mut http::Request<bytes::Bytes>) -> Result<(), SigningError> {
        let identity = Credentials::new(
            &self.access_key_id,
            self.secret_access_key.expose(),
            self.session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "switchyard",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(BEDROCK_SIGNING_NAME)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(SigningError::Params)?
            .into();
        let url = req.uri().to_string();
        let headers: Vec<(&str, &str)> =
            req.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))).collect();
        let signable =
            SignableRequest::new(req.method().as_str(), &url, headers.into_iter(), SignableBody::Bytes(req.body()))
                .map_err(SigningError::Sign)?;
        let (instructions, _) = sign(signable, &params).map_err(SigningError::Sign)?.into_parts();
        let (headers, _) = instructions.into_parts();
        for h in headers {
            let mut value = HeaderValue::from_str(h.value()).map_err(|_| SigningError::Header)?;
            value.set_sensitive(h.sensitive());
            req.headers_mut().insert(h.name(), value);
        }
        Ok(())
    }
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("building the SigV4 parameters")]
    Params(#[source] aws_sigv4::sign::v4::signing_params::BuildError),
    #[error("SigV4 signing")]
    Sign(#[source] aws_sigv4::http_request::SigningError),
    #[error("SigV4 produced an invalid header")]
    Header,
}

/// The `key = value` pairs of `[name]` in an INI file.
fn ini_section(text: &str, name: &str) -> Option<Vec<(String, String)>> {
    let mut found = None;
    let mut current_matches = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            current_matches = line[1..line.len() - 1].trim() == name;
            if current_matches {
                found.get_or_insert_with(Vec::new);
            }
        } else if current_matches && !line.starts_with('#') && !line.starts_with(';') {
            if let (Some((k, v)), Some(list)) = (line.split_once('='), found.as_mut()) {
                list.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_from_the_shared_file() {
        let text = "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key=s1\n\n[prod]\n# comment\naws_access_key_id = AKIAPROD\naws_secret_access_key = s2\naws_session_token = tok\n";
        let prod = ini_section(text, "prod").unwrap();
        assert_eq!(prod.len(), 3);
        assert_eq!(prod[0], ("aws_access_key_id".into(), "AKIAPROD".into()));
        assert!(ini_section(text, "missing").is_none());
    }

    #[test]
    fn a_signed_request_carries_the_v4_authorization_for_bedrock() {
        let creds = AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: Some(Secret::new("session-token")),
            source: "test".into(),
        };
        let mut req = http::Request::post(
            "https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
        )
        .header("content-type", "application/json")
        .body(bytes::Bytes::from_static(b"{}"))
        .unwrap();
        creds.sign("eu-west-1", &mut req).unwrap();
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "{auth}");
        assert!(auth.contains("/eu-west-1/bedrock/aws4_request"), "{auth}");
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"), "{auth}");
        assert_eq!(req.headers()["x-amz-security-token"], "session-token");
        assert!(req.headers().contains_key("x-amz-date"));
    }
}
