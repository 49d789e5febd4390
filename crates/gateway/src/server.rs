//! The accept loop: TCP_NODELAY on every connection, HTTP/1.1 and HTTP/2 on one port, a
//! header-read deadline against slow clients, and graceful shutdown that drains in-flight
//! requests and streams up to a grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};

use crate::app::App;
use crate::http::router;

/// Deep enough that a burst of thousands of connections is queued, not dropped.
const BACKLOG: u32 = 8192;

/// How long requests cut at the end of the grace period have to write their error.
const CUT_GRACE: Duration = Duration::from_secs(2);

pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves until `shutdown` resolves, then drains for at most `grace`.
pub async fn serve(app: Arc<App>, listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let grace = app.config.shutdown_grace;
    // A client that has not sent a request's headers by then is disconnected.
    let idle = app.config.timeouts.client_idle;
    if let Some(addr) = app.config.metrics_listen {
        let metrics = bind(addr)?;
        let routes = crate::http::metrics_router(app.clone());
        #[expect(clippy::disallowed_methods, reason = "the metrics listener lives as long as the process")]
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, routes).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    let cut = app.shutdown.clone();
    let router = router(app);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
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
    // Shared, not cloned per connection: `into_owned` below already copies what a
    // connection keeps.
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
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
                let service = TowerToHyperService::new(router.clone());
                let (builder, watcher) = (Arc::clone(&builder), graceful.watcher());
                #[expect(clippy::disallowed_methods, reason = "one task per connection, tracked by the graceful-shutdown watcher")]
                tokio::spawn(async move {
                    // Telling HTTP/1 from HTTP/2 waits for the first bytes with no deadline of
                    // its own: a connection that sends nothing is closed here.
                    let mut first = [0u8; 1];
                    match tokio::time::timeout(idle, stream.peek(&mut first)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return,
                    }
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(grace_secs = grace.as_secs(), "shutting down: draining in-flight requests");
    let drained = graceful.shutdown();
    tokio::pin!(drained);
    tokio::select! {
        () = &mut drained => tracing::info!("all connections drained"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!("grace period over; ending the requests and streams still running");
            cut.cancel();
            // They now end with an error event or reply of their own; give them a moment to
            // be written and recorded.
            if tokio::time::timeout(CUT_GRACE, &mut drained).await.is_err() {
                tracing::warn!("closing connections that did not end");
            }
        }
    }
    Ok(())
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
