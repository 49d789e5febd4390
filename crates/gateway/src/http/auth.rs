//! Gateway authentication: the master key, sent as `Authorization: Bearer` (OpenAI SDKs) or
//! `x-api-key` (Anthropic SDKs), compared in constant time.

use dialect::{ClientFacingError, ErrorKind};
use http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::keys::Caller;
use crate::secret::Secret;

pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(token) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(token.trim());
        }
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The master key, or a virtual key from the in-memory table (never the database).
pub fn identify(app: &crate::app::App, headers: &HeaderMap) -> Result<Caller, ClientFacingError> {
    if let Some(presented) = presented_key(headers) {
        if let Some(key) = app.keys.lookup(presented) {
            if let Err(why) = key.usable(crate::keys::now_ms()) {
                return Err(ClientFacingError::new(ErrorKind::Authentication, why).with_code("invalid_api_key"));
            }
            return Ok(Caller::Key(key));
        }
    }
    match check(app.config.master_key.as_ref(), headers) {
        Ok(()) if app.config.master_key.is_some() => Ok(Caller::Master),
        Ok(()) => Ok(Caller::Open),
        Err(e) => Err(e),
    }
}

pub fn check(master_key: Option<&Secret>, headers: &HeaderMap) -> Result<(), ClientFacingError> {
    let Some(master) = master_key else {
        return Ok(());
    };
    let Some(presented) = presented_key(headers) else {
        return Err(ClientFacingError::new(
            ErrorKind::Authentication,
            "Missing API key. Send it as `Authorization: Bearer <key>` or `x-api-key: <key>`.",
        )
        .with_code("invalid_api_key"));
    };
    if bool::from(presented.as_bytes().ct_eq(master.expose().as_bytes())) {
        Ok(())
    } else {
        Err(ClientFacingError::new(ErrorKind::Authentication, "Incorrect API key provided.")
            .with_code("invalid_api_key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn bearer_and_x_api_key_are_both_accepted() {
        let key = Secret::new("sk-master");
        assert!(check(Some(&key), &headers(&[("authorization", "Bearer sk-master")])).is_ok());
        assert!(check(Some(&key), &headers(&[("x-api-key", "sk-master")])).is_ok());
        assert!(check(Some(&key), &headers(&[("authorization", "Bearer sk-other")])).is_err());
        assert!(check(Some(&key), &headers(&[("authorization", "Basic sk-master")])).is_err());
        assert!(check(Some(&key), &headers(&[])).is_err());
        assert!(check(None, &headers(&[])).is_ok());
    }
}
