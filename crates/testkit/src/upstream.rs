//! A scriptable HTTP upstream. Each request is recorded, then answered by the test's
//! responder: JSON, an SSE stream (with per-event delays and a chosen ending), raw bytes, or
//! no answer at all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use futures_util::StreamExt;
use http::{HeaderMap, Method, StatusCode};
use tokio::net::TcpListener;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    /// Path and query.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("upstream got non-JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How a streamed reply ends after its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// Normal end of body.
    Close,
    /// The connection is cut without finishing the chunked body.
    Abort,
    /// Nothing more is ever sent.
    Hang,
}

#[derive(Debug, Clone)]
pub enum Reply {
    Json {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Each event is raw bytes written as one chunk after its delay.
    Stream {
        status: u16,
        content_type: String,
        events: Vec<(Duration, Bytes)>,
        end: StreamEnd,
    },
    Raw {
        status: u16,
        content_type: String,
        body: Bytes,
    },
    /// Never answers.
    Hang,
}

impl Reply {
    pub fn json(body: serde_json::Value) -> Reply {
        Reply::Json { status: 200, headers: vec![], body: body.to_string() }
    }

    pub fn error(status: u16, body: serde_json::Value) -> Reply {
        Reply::Json { status, headers: vec![], body: body.to_string() }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Json { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// An SSE stream whose events go out back to back.
    pub fn sse(events: impl IntoIterator<Item = String>) -> Reply {
        Reply::sse_paced(Duration::ZERO, events)
    }

    /// An SSE stream with `gap` before every event after the first.
    pub fn sse_paced(gap: Duration, events: impl IntoIterator<Item = String>) -> Reply {
        let events = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (if i == 0 { Duration::ZERO } else { gap }, Bytes::from(e)))
            .collect();
        Reply::Stream { status: 200, content_type: "text/event-stream".into(), events, end: StreamEnd::Close }
    }

    /// An AWS event stream (`application/vnd.amazon.eventstream`): each frame one chunk.
    pub fn event_stream(frames: impl IntoIterator<Item = Vec<u8>>) -> Reply {
        let events = frames.into_iter().map(|f| (Duration::ZERO, Bytes::from(f))).collect();
        Reply::Stream {
            status: 200,
            content_type: "application/vnd.amazon.eventstream".into(),
            events,
            end: StreamEnd::Close,
        }
    }

    pub fn ending(mut self, how: StreamEnd) -> Reply {
        if let Reply::Stream { end, .. } = &mut self {
            *end = how;
        }
        self
    }
}

type Responder = dyn Fn(&Received) -> Reply + Send + Sync;

struct State {
    received: Mutex<Vec<Received>>,
    responder: Box<Responder>,
    /// Streams whose body was dropped before it finished: the client went away.
    streams_dropped: AtomicUsize,
    streams_finished: AtomicUsize,
}

pub struct FakeUpstream {
    pub addr: std::net::SocketAddr,
    state: Arc<State>,
}

impl FakeUpstream {
    /// Starts on a free loopback port, answering every request with `responder`.
    pub async fn start(responder: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> FakeUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake upstream");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            received: Mutex::new(Vec::new()),
            responder: Box::new(responder),
            streams_dropped: AtomicUsize::new(0),
            streams_finished: AtomicUsize::new(0),
        });
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |req: Request| handle(shared.clone(), req));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeUpstream { addr, state }
    }

    /// Always answers with the same reply.
    pub async fn always(reply: Reply) -> FakeUpstream {
        FakeUpstream::start(move |_| reply.clone()).await
    }

    /// Base URL in the OpenAI style, ending in `/v1`.
    pub fn v1(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The one request received; fails the test when there were more or none.
    pub fn only_request(&self) -> Received {
        let all = self.received();
        assert_eq!(all.len(), 1, "expected exactly one upstream request, got {}", all.len());
        all.into_iter().next().unwrap()
    }

    pub fn streams_dropped(&self) -> usize {
        self.state.streams_dropped.load(Ordering::SeqCst)
    }

    pub fn streams_finished(&self) -> usize {
        self.state.streams_finished.load(Ordering::SeqCst)
    }

    /// Waits until `cond` holds, up to 5 s.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&FakeUpstream) -> bool) {
        for _ in 0..500 {
            if cond(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

async fn handle(state: Arc<State>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let received = Received {
        method: parts.method,
        uri: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        headers: parts.headers,
        body,
    };
    let reply = (state.responder)(&received);
    state.received.lock().unwrap().push(received);
    match reply {
        Reply::Json { status, headers, body } => {
            let mut b = Response::builder().status(status).header("content-type", "application/json");
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(Body::from(body)).unwrap()
        }
        Reply::Raw { status, content_type, body } => {
            Response::builder().status(status).header("content-type", content_type).body(Body::from(body)).unwrap()
        }
        Reply::Hang => std::future::pending().await,
        Reply::Stream { status, content_type, events, end } => {
            let guard = DropWatch { state: state.clone(), finished: false };
            let stream = futures_util::stream::unfold(
                (events.into_iter(), guard, end),
                |(mut events, mut guard, end)| async move {
                    match events.next() {
                        Some((delay, bytes)) => {
                            if !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            Some((Ok(bytes), (events, guard, end)))
                        }
                        None => match end {
                            StreamEnd::Close => {
                                guard.finished = true;
                                drop(guard);
                                None
                            }
                            StreamEnd::Abort => {
                                guard.finished = true;
                                Some((Err(std::io::Error::other("cut")), (events, guard, StreamEnd::Close)))
                            }
                            StreamEnd::Hang => std::future::pending().await,
                        },
                    }
                },
            );
            Response::builder()
                .status(StatusCode::from_u16(status).unwrap())
                .header("content-type", content_type)
                .header("cache-control", "no-cache")
                .body(Body::from_stream(stream.boxed()))
                .unwrap()
        }
    }
}

/// Counts how a streamed body ended: finished, or dropped because the reader left.
struct DropWatch {
    state: Arc<State>,
    finished: bool,
}

impl Drop for DropWatch {
    fn drop(&mut self) {
        let counter = if self.finished { &self.state.streams_finished } else { &self.state.streams_dropped };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}
