//! The app that serves what arrives next, swapped whole on reload: each request is routed by
//! the app current when it arrives (so a keep-alive connection's next request already sees a
//! new config), and each connection gets the current certificate and HTTP settings. Requests
//! and streams already running keep the app they started with. Reading the config again is
//! [`super::reload`]'s.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio_rustls::TlsAcceptor;

use crate::app::App;

/// One config's worth of serving: the app, its routes, and how connections are spoken to.
pub struct Generation {
    pub app: Arc<App>,
    router: Router,
    /// None: plain HTTP.
    pub(super) tls: Option<TlsAcceptor>,
    /// HTTP/1.1 and HTTP/2 settings; shared, not cloned per connection (`into_owned` copies
    /// what a connection keeps).
    pub(super) http: Arc<auto::Builder<TokioExecutor>>,
}

impl Generation {
    pub fn new(app: Arc<App>) -> Generation {
        let tls = app.config.tls.as_ref().map(|t| TlsAcceptor::from(t.server.clone()));
        let http = Arc::new(http_builder(app.config.timeouts.client_idle));
        Generation { router: crate::http::router(app.clone()), app, tls, http }
    }
}

fn http_builder(idle: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // A client that has not sent a request's headers by then is disconnected.
        .header_read_timeout(idle)
        .keep_alive(true)
        // Room above the guard's own limits, so most oversized requests get its JSON refusal.
        .max_headers(2 * crate::http::guard::MAX_HEADERS);
    builder
        .http2()
        .timer(TokioTimer::new())
        // Peers that vanish without closing are found and dropped.
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// The config file a running gateway reads again on reload.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// The address given with `--listen`, which a reloaded file does not override.
    pub listen: Option<SocketAddr>,
}

/// What the server serves now, and where a reload reads the next config from.
pub struct Live {
    current: ArcSwap<Generation>,
    /// None: the config was discovered from the environment; there is nothing to read again.
    pub(super) file: Option<ConfigFile>,
    /// One reload at a time, so two cannot interleave their checks and swaps.
    pub(super) reloading: tokio::sync::Mutex<()>,
}

impl Live {
    pub fn new(app: Arc<App>, file: Option<ConfigFile>) -> Arc<Live> {
        Arc::new(Live {
            current: ArcSwap::from_pointee(Generation::new(app)),
            file,
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    pub fn app(&self) -> Arc<App> {
        self.current.load().app.clone()
    }

    /// New requests and connections are served by `next` from now on.
    pub(super) fn swap(&self, next: Generation) {
        self.current.store(Arc::new(next));
    }
}

/// The service every connection calls: the router of the generation current when a request
/// arrives.
#[derive(Clone)]
pub(super) struct Current(pub(super) Arc<Live>);

impl tower::Service<http::Request<hyper::body::Incoming>> for Current {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        // A router clone is a reference count: the request holds its generation's app to the end.
        let mut router = self.0.current.load().router.clone();
        tower::Service::call(&mut router, req)
    }
}
