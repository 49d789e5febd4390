//! Credentials on the request path: a static key (bearer or a header of its own), an OAuth
//! bearer token kept fresh ([`oauth`]), or an AWS SigV4 signature ([`aws`]).

pub mod aws;
pub mod oauth;

use std::sync::Arc;

use http::{HeaderName, HeaderValue};

use crate::secret::Secret;
use aws::AwsCredentials;
use oauth::TokenSource;

/// Why a request could not be given its credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the credential is not a valid header value")]
    InvalidHeader,
    #[error(transparent)]
    Token(#[from] oauth::TokenError),
    #[error(transparent)]
    Signing(#[from] aws::SigningError),
}

#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Bearer(Secret),
    /// The key in a header of its own, e.g. Anthropic's `x-api-key`.
    Header(HeaderName, Secret),
    /// A bearer token from an OAuth token endpoint (Vertex AI, Entra ID), cached and refreshed.
    OAuth(Arc<TokenSource>),
    /// AWS Signature Version 4 over the whole request (Bedrock).
    SigV4 {
        credentials: Arc<AwsCredentials>,
        region: String,
    },
}

impl Auth {
    pub fn secret(&self) -> Option<&Secret> {
        match self {
            Auth::None | Auth::OAuth(_) => None,
            Auth::SigV4 { credentials, .. } => Some(&credentials.secret_access_key),
            Auth::Bearer(s) | Auth::Header(_, s) => Some(s),
        }
    }

    /// Adds the credentials to a finished request (SigV4 signs its body too). Only OAuth may
    /// wait, for a token refresh.
    pub async fn authorize(
        &self,
        client: &reqwest::Client,
        req: &mut http::Request<bytes::Bytes>,
    ) -> Result<(), CredentialError> {
        let header = |value: &str| {
            let mut v = HeaderValue::try_from(value).map_err(|_| CredentialError::InvalidHeader)?;
            v.set_sensitive(true);
            Ok::<_, CredentialError>(v)
        };
        match self {
            Auth::None => {}
            Auth::Bearer(key) => {
                req.headers_mut().insert(http::header::AUTHORIZATION, header(&format!("Bearer {}", key.expose()))?);
            }
            Auth::Header(name, key) => {
                req.headers_mut().insert(name.clone(), header(key.expose())?);
            }
            Auth::OAuth(source) => {
                req.headers_mut().insert(http::header::AUTHORIZATION, source.bearer(client).await?);
            }
            Auth::SigV4 { credentials, region } => credentials.sign(region, req)?,
        }
        Ok(())
    }
}
