//! The accept loop: TCP_NODELAY on every connection, HTTP/1.1 and HTTP/2 on one port (over TLS
//! when configured), a header-read deadline against slow clients, and shutdown in steps: at
//! the signal `/health` turns 503, requests are still served for `drain_delay_secs`, then the
//! listener closes and in-flight requests and streams drain up to a grace period, after which
//! they are cut. Which app serves is [`live`]'s; reading the config again is [`reload`]'s.

mod live;
pub mod reload;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::app::App;
use live::Current;
pub use live::{ConfigFile, Generation, Live};

/// Deep enough that a burst of thousands of connections is queued, not dropped.
const BACKLOG: u32 = 8192;

/// How long requests cut at the end of the grace period have to write their error.
const CUT_GRACE: Duration = Duration::from_secs(2);

/// Longer than any drain delay: the drain timer before a shutdown signal sets it.
const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);

pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `app` until `shutdown` resolves, then drains (see [`serve_live`]); no reloads.
pub async fn serve(app: Arc<App>, listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    serve_live(Live::new(app, None), listener, shutdown).await
}

/// Serves whatever `live` holds when each connection and request arrives, until `shutdown`
/// resolves; then `/health` turns 503, requests are still taken for the drain delay, the
/// listener closes and in-flight requests get the grace period to finish.
pub async fn serve_live(
    live: Arc<Live>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let first = live.app();
    if let Some(addr) = first.config.metrics_listen {
        let metrics = bind(addr)?;
        let routes = crate::http::metrics_router(first.clone());
        #[expect(clippy::disallowed_methods, reason = "the metrics listener lives as long as the process")]
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, routes).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    drop(first);
    let service = Current(live.clone());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    let drain_end = tokio::time::sleep(NEVER);
    tokio::pin!(drain_end);
    let mut draining = false;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                spawn_connection(&live.current(), stream, service.clone(), graceful.watcher());
            }
            () = &mut shutdown, if !draining => {
                draining = true;
                let app = live.app();
                app.lifecycle.start_draining();
                let delay = app.config.drain_delay;
                if delay.is_zero() {
                    break;
                }
                tracing::info!(drain_delay_secs = delay.as_secs(), "shutting down: health says draining; still serving until the delay ends");
                drain_end.as_mut().reset(tokio::time::Instant::now() + delay);
            }
            () = &mut drain_end, if draining => break,
        }
    }
    drop(listener);
    let app = live.app();
    app.lifecycle.start_draining();
    let grace = app.config.shutdown_grace;
    tracing::info!(grace_secs = grace.as_secs(), "shutting down: listener closed, draining in-flight requests");
    let drained = graceful.shutdown();
    tokio::pin!(drained);
    tokio::select! {
        () = &mut drained => tracing::info!("all connections drained"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!("grace period over; ending the requests and streams still running");
            // One token for every generation: requests still on an old config are cut too.
            app.shutdown.cancel();
            // They now end with an error event or reply of their own; give them a moment to
            // be written and recorded.
            if tokio::time::timeout(CUT_GRACE, &mut drained).await.is_err() {
                tracing::warn!("closing connections that did not end");
            }
        }
    }
    Ok(())
}

/// Serves one connection in a task of its own, with the HTTP settings and certificate of the
/// generation current when it was accepted.
fn spawn_connection(generation: &Generation, stream: TcpStream, service: Current, watcher: Watcher) {
    let idle = generation.app.config.timeouts.client_idle;
    let (http, tls) = (generation.http.clone(), generation.tls.clone());
    #[expect(clippy::disallowed_methods, reason = "one task per connection, tracked by the graceful-shutdown watcher")]
    tokio::spawn(async move {
        // Telling HTTP/1 from HTTP/2 (or TLS from neither) waits for the first bytes with no
        // deadline of its own: a connection that sends nothing is closed here.
        let mut first = [0u8; 1];
        match tokio::time::timeout(idle, stream.peek(&mut first)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
        let Some(tls) = tls else {
            return serve_connection(&http, TokioIo::new(stream), service, watcher).await;
        };
        match tokio::time::timeout(idle, tls.accept(stream)).await {
            Ok(Ok(stream)) => serve_connection(&http, TokioIo::new(stream), service, watcher).await,
            // Plain HTTP, scanners, clients that distrust the certificate: nothing to serve.
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        }
    });
}

async fn serve_connection<I>(http: &auto::Builder<TokioExecutor>, io: I, service: Current, watcher: Watcher)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let conn = http.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
    let _ = watcher.watch(conn.into_owned()).await;
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// the future is first polled, so a signal that arrives right after start-up is not lost to
/// the default action (which would kill the process without draining).
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
