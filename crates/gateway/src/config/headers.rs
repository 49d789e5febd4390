//! The headers sent with every request to a provider: the kind's own, and the configured ones.

use std::collections::BTreeMap;

use http::{HeaderName, HeaderValue};

use super::problems::Problems;
use super::raw::RawProvider;
use crate::upstream::ProviderKind;

/// The kind's own headers plus the configured ones.
pub(super) fn configured_headers(
    name: &str,
    kind: ProviderKind,
    rp: &RawProvider,
    p: &mut Problems<'_>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = default_headers(kind, &rp.headers);
    for (k, v) in &rp.headers {
        match (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
            (Ok(k), Ok(v)) => headers.push((k, v)),
            _ => p.at(Some(rp.kind.span()), format!("provider `{name}`: header `{k}` is not a valid HTTP header")),
        }
    }
    headers
}

/// The kind's own headers, minus those the config sets itself.
pub(super) fn default_headers(
    kind: ProviderKind,
    configured: &BTreeMap<String, String>,
) -> Vec<(HeaderName, HeaderValue)> {
    kind.default_headers()
        .iter()
        .filter(|(k, _)| !configured.keys().any(|c| c.eq_ignore_ascii_case(k)))
        .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
        .collect()
}
