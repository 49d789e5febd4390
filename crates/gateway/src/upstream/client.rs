//! The pooled HTTP client every upstream call goes out on: hyper's connection pool over rustls
//! (webpki roots; HTTP/2 where the upstream offers it by ALPN), with the config's connect and
//! read timeouts. It sends a request as it was built, on the connection the pool hands out, and
//! follows no redirects: an API that answers 3xx is answering, not moving.
//!
//! When the environment names a proxy (`HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY`, either
//! case), calls go through reqwest instead, which tunnels through proxies and honours
//! `NO_PROXY`. Either way the caller gets one response type, its body read under the read
//! timeout ([`TimedBody`]). reqwest also fetches OAuth tokens.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::{Instant, Sleep};

use crate::env::{Env, ProcessEnv};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Idle connections kept per upstream host for reuse, closed after [`IDLE_FOR`] unused. Under
/// steady load connections are handed from one request to the next and few wait idle; more than
/// this are left only after a burst, and each kept one pins its buffers (tens of KiB, and the
/// allocator pages around them) until it is closed. nginx's `keepalive` is often 16–64.
const MAX_IDLE_PER_HOST: usize = 64;
const IDLE_FOR: Duration = Duration::from_secs(90);
/// Idle time before TCP keepalive probes start, and between them (as reqwest sets them).
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);

/// The variables reqwest reads a proxy from.
const PROXY_VARIABLES: [&str; 6] = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

type Direct = hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why an upstream call got no reply, or its body stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Connecting, or the longest silence while reading, took longer than allowed.
    #[error("the upstream did not answer in time")]
    TimedOut,
    #[error("the upstream connection failed")]
    Failed(#[source] BoxError),
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("setting up TLS")]
    Tls(#[source] rustls::Error),
    #[error(transparent)]
    Reqwest(#[from] reqwest::Error),
}

/// Cheap to clone: every clone shares the pools.
#[derive(Clone)]
pub struct UpstreamClient {
    /// None when a proxy is configured: then `reqwest` carries the calls.
    direct: Option<Direct>,
    reqwest: reqwest::Client,
    read: Duration,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient").field("proxied", &self.direct.is_none()).field("read", &self.read).finish()
    }
}

impl UpstreamClient {
    /// `connect` bounds TCP + TLS, `read` the longest silence while waiting for or reading a reply.
    pub fn new(connect: Duration, read: Duration) -> Result<UpstreamClient, BuildError> {
        Self::with_env(connect, read, &ProcessEnv)
    }

    fn with_env(connect: Duration, read: Duration, env: &dyn Env) -> Result<UpstreamClient, BuildError> {
        let reqwest = reqwest::Client::builder()
            .connect_timeout(connect)
            .read_timeout(read)
            .tcp_nodelay(true)
            .pool_idle_timeout(IDLE_FOR)
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .user_agent(USER_AGENT)
            .build()?;
        let proxied = PROXY_VARIABLES.iter().any(|name| env.var(name).is_some_and(|v| !v.is_empty()));
        let direct = if proxied { None } else { Some(direct_client(connect)?) };
        Ok(UpstreamClient { direct, reqwest, read })
    }

    /// The client that fetches credentials (OAuth tokens).
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.reqwest
    }

    /// Sends `req` and waits for the reply's head; the body is then read under the same read
    /// timeout, one timer for the whole call.
    pub async fn send(&self, req: http::Request<Bytes>) -> Result<http::Response<TimedBody>, TransportError> {
        let Some(direct) = &self.direct else {
            let req = reqwest::Request::try_from(req.map(reqwest::Body::from)).map_err(from_reqwest)?;
            let resp: http::Response<reqwest::Body> = self.reqwest.execute(req).await.map_err(from_reqwest)?.into();
            let silence = Box::pin(tokio::time::sleep(self.read));
            return Ok(resp.map(|body| self.timed(body, silence)));
        };
        let mut silence = Box::pin(tokio::time::sleep(self.read));
        let resp = tokio::select! {
            biased;
            resp = direct.request(req.map(Full::new)) => resp.map_err(from_hyper)?,
            () = silence.as_mut() => return Err(TransportError::TimedOut),
        };
        silence.as_mut().reset(Instant::now() + self.read);
        Ok(resp.map(|body| self.timed(body, silence)))
    }

    fn timed<B>(&self, body: B, silence: Pin<Box<Sleep>>) -> TimedBody
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        TimedBody { body: body.map_err(Into::into).boxed_unsync(), read: self.read, silence, ended: false }
    }
}

pub const USER_AGENT: &str = concat!("switchyard/", env!("CARGO_PKG_VERSION"));

fn direct_client(connect: Duration) -> Result<Direct, BuildError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect));
    // A call can wait minutes for a reasoning model's first byte: probes keep NATs and load
    // balancers from dropping the silent connection, and find a dead peer.
    http.set_keepalive(Some(TCP_KEEPALIVE));
    http.set_keepalive_interval(Some(TCP_KEEPALIVE));
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(BuildError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE_FOR)
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https))
}

fn from_reqwest(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        return TransportError::TimedOut;
    }
    TransportError::Failed(e.into())
}

/// A connect that timed out is a timeout; anything else failed.
fn from_hyper(e: hyper_util::client::legacy::Error) -> TransportError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut) {
            return TransportError::TimedOut;
        }
        source = err.source();
    }
    TransportError::Failed(e.into())
}

/// A reply's body as a stream of byte chunks; a silence longer than the read timeout ends it
/// with [`TransportError::TimedOut`], a failed connection with [`TransportError::Failed`].
pub struct TimedBody {
    /// Whichever transport read it.
    body: UnsyncBoxBody<Bytes, BoxError>,
    read: Duration,
    silence: Pin<Box<Sleep>>,
    ended: bool,
}

impl TimedBody {
    /// The length the reply declared, when it did.
    pub fn declared_len(&self) -> Option<u64> {
        self.body.size_hint().exact()
    }
}

impl Stream for TimedBody {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        while !this.ended {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.silence.as_mut().reset(Instant::now() + this.read);
                    // Trailers carry nothing a reply is read for.
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(TransportError::Failed(e))));
                }
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => {
                    if this.silence.as_mut().poll(cx).is_ready() {
                        this.ended = true;
                        return Poll::Ready(Some(Err(TransportError::TimedOut)));
                    }
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxied(env: &dyn Env) -> bool {
        UpstreamClient::with_env(Duration::from_secs(1), Duration::from_secs(1), env).unwrap().direct.is_none()
    }

    #[test]
    fn a_proxy_in_the_environment_sends_calls_through_reqwest() {
        assert!(!proxied(&[]));
        for name in PROXY_VARIABLES {
            assert!(proxied(&[(name, "http://proxy.internal:3128")]), "{name}");
        }
        assert!(!proxied(&[("NO_PROXY", "*"), ("no_proxy", "*")]));
        assert!(!proxied(&[("HTTPS_PROXY", "")]), "an empty variable names no proxy");
    }

    #[tokio::test]
    async fn a_body_that_falls_silent_ends_in_a_timeout_and_a_whole_one_in_its_bytes() {
        let read = Duration::from_millis(50);
        let client = UpstreamClient::with_env(Duration::from_secs(1), read, &[]).unwrap();
        let silence = || Box::pin(tokio::time::sleep(read));
        let mut body = client.timed(Full::new(Bytes::from_static(b"hello")), silence());
        assert_eq!(body.declared_len(), Some(5));
        let mut got = Vec::new();
        while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, b"hello");

        let silent = http_body_util::StreamBody::new(futures_util::stream::pending::<
            Result<hyper::body::Frame<Bytes>, BoxError>,
        >());
        let mut body = client.timed(silent, silence());
        let started = std::time::Instant::now();
        let next = tokio::time::timeout(Duration::from_secs(5), futures_util::StreamExt::next(&mut body)).await;
        let next = next.expect("the read timeout ends a silent body");
        assert!(matches!(next, Some(Err(TransportError::TimedOut))), "{next:?}");
        assert!(started.elapsed() >= read);
        assert!(futures_util::StreamExt::next(&mut body).await.is_none(), "a timed-out body ends");
    }
}
