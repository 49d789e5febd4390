//! How calls reach upstreams: through a proxy the environment names, over TLS that offers
//! HTTP/2 and refuses a certificate no root vouches for, never on to where a redirect points,
//! within the connect and read timeouts, with one user agent, and read whole when a reply
//! arrives in pieces.

use std::sync::{Arc, Mutex};

use serde_json::json;
use testkit::openai_wire as wire;
use testkit::{FakeUpstream, Gateway, Reply};

use crate::common::{client, config_at, gateway_at, post_json, process_at, user, MASTER_KEY, UPSTREAM_KEY};

/// One chat completion for the alias `fast`: its status and JSON body.
async fn ask(gw: &Gateway) -> (u16, serde_json::Value) {
    let (status, _, body) =
        post_json(gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi")})).await;
    (status, body)
}

/// `ask`, which must end in the gateway's 504 "did not answer in time" sooner than `limit`.
async fn ask_times_out_within(gw: &Gateway, limit: std::time::Duration) {
    let started = std::time::Instant::now();
    let (status, body) = ask(gw).await;
    assert_eq!(status, 504, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("did not answer in time"), "{body}");
    assert!(started.elapsed() < limit, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_proxy_named_by_the_environment_carries_every_upstream_call() {
    // The configured upstream cannot be reached (`.invalid` never resolves): only the proxy can answer.
    let proxy = FakeUpstream::always(Reply::json(wire::completion("m", "via the proxy"))).await;
    let gw = process_at("http://upstream.invalid:9/v1", "", &[("HTTP_PROXY", &proxy.url())]);
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "fast", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "via the proxy");
    let got = proxy.only_request();
    assert_eq!(got.uri, "/v1/chat/completions");
    assert_eq!(got.header("host"), Some("upstream.invalid:9"), "the proxy is asked for the configured upstream");
    assert_eq!(got.json()["model"], "m");
}

/// What a TLS client offered in its hello.
#[derive(Debug, Default, Clone)]
struct Hello {
    server_name: Option<String>,
    alpn: Vec<String>,
}

/// A TLS listener with a self-signed certificate for localhost, which records each hello.
#[allow(clippy::disallowed_methods, reason = "a test server runs as plain tokio tasks")]
async fn self_signed_tls_upstream() -> (u16, Arc<Mutex<Vec<Hello>>>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(made.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::try_from(made.key_pair.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let tls = Arc::new(tls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hellos = Arc::new(Mutex::new(Vec::new()));
    let seen = hellos.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (tls, seen) = (tls.clone(), seen.clone());
            tokio::spawn(async move {
                let acceptor = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
                let Ok(start) = acceptor.await else { return };
                let hello = start.client_hello();
                seen.lock().unwrap().push(Hello {
                    server_name: hello.server_name().map(str::to_owned),
                    alpn: hello
                        .alpn()
                        .map(|protocols| protocols.map(|p| String::from_utf8_lossy(p).into_owned()).collect())
                        .unwrap_or_default(),
                });
                // The client is expected to give up on the certificate.
                let _ = start.into_stream(tls).await;
            });
        }
    });
    (port, hellos)
}

#[tokio::test]
async fn an_https_upstream_is_offered_http2_and_must_prove_its_certificate() {
    let (port, hellos) = self_signed_tls_upstream().await;
    let gw = gateway_at(&format!("https://localhost:{port}/v1"), "").await;
    let (status, body) = ask(&gw).await;
    assert_eq!(status, 502, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("could not connect to `up`"), "{body}");
    let hellos = hellos.lock().unwrap().clone();
    assert!(!hellos.is_empty(), "no TLS hello reached the upstream");
    assert_eq!(hellos[0].server_name.as_deref(), Some("localhost"));
    assert_eq!(hellos[0].alpn, ["h2", "http/1.1"]);
}

#[tokio::test]
async fn an_upstream_that_redirects_is_not_followed() {
    let elsewhere = FakeUpstream::always(Reply::json(wire::completion("m", "should not be reached"))).await;
    let moved = format!("{}/chat/completions", elsewhere.v1());
    let redirecting =
        FakeUpstream::always(Reply::error(307, json!({"error": {"message": "moved"}})).with_header("location", &moved))
            .await;
    let gw = gateway_at(&redirecting.v1(), "").await;
    let (status, body) = ask(&gw).await;
    assert_ne!(status, 200, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert_eq!(redirecting.received().len(), 1);
    assert!(elsewhere.received().is_empty(), "the redirect was followed, credentials and all");
}

#[tokio::test]
async fn an_upstream_that_never_completes_the_handshake_is_a_504_after_the_connect_timeout() {
    // A listener that never accepts, its one-place queue filled: the kernel then drops the
    // gateway's SYNs, so its connect neither succeeds nor is refused.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), tokio::net::TcpStream::connect(addr)).await
        {
            queued.push(stream);
        }
    }
    let gw = gateway_at(&format!("http://{addr}/v1"), "[timeouts]\nconnect_ms = 300").await;
    ask_times_out_within(&gw, std::time::Duration::from_secs(5)).await;
    drop((listener, queued));
}

#[tokio::test]
async fn upstreams_see_the_gateways_user_agent_unless_the_config_names_one() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = gateway_at(&up.v1(), "").await;
    let (status, body) = ask(&gw).await;
    assert_eq!(status, 200, "{body}");
    let got = up.only_request();
    assert_eq!(got.header("user-agent"), Some(concat!("switchyard/", env!("CARGO_PKG_VERSION"))));
    assert_eq!(got.header("content-type"), Some("application/json"));

    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let toml = config_at(&up.v1(), "")
        .replace("models = [\"*\"]", "models = [\"*\"]\nheaders = { \"user-agent\" = \"acme-bot/2\" }");
    let gw = Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)]).await;
    let (status, body) = ask(&gw).await;
    assert_eq!(status, 200, "{body}");
    let got = up.only_request();
    let agents: Vec<_> = got.headers.get_all("user-agent").iter().collect();
    assert_eq!(agents, ["acme-bot/2"]);
}

#[tokio::test]
async fn a_reply_whose_body_falls_silent_after_its_head_is_a_504_after_the_read_timeout() {
    let drip = testkit::HostileUpstream::start(testkit::Misbehaviour::Drip {
        every: std::time::Duration::from_secs(3),
        content_type: "application/json",
    })
    .await;
    let gw = gateway_at(&drip.v1(), "[timeouts]\nread_ms = 300").await;
    ask_times_out_within(&gw, std::time::Duration::from_secs(3)).await;
}

/// An upstream that writes its whole reply in three pieces 20 ms apart, as a chunked body or
/// under a `content-length`: the gateway reads them as separate frames and must join them.
#[allow(clippy::disallowed_methods, reason = "a test server runs as plain tokio tasks")]
async fn reply_in_pieces(chunked: bool) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                // One reply per request, on the same connection, as an upstream keeps it open.
                loop {
                    // The whole request: its head, then as many body bytes as it declares.
                    let mut got = Vec::new();
                    loop {
                        let Ok(n) = stream.read(&mut buf).await else { return };
                        if n == 0 {
                            return;
                        }
                        got.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let declared = text[..end]
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if got.len() >= end + 4 + declared {
                                break;
                            }
                        }
                    }
                    let body = serde_json::to_vec(&wire::completion("m", "joined from three pieces")).unwrap();
                    let thirds = [
                        &body[..body.len() / 3],
                        &body[body.len() / 3..2 * body.len() / 3],
                        &body[2 * body.len() / 3..],
                    ];
                    let head = if chunked {
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                            .to_owned()
                    } else {
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        )
                    };
                    let _ = stream.write_all(head.as_bytes()).await;
                    for piece in thirds {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        let framed = if chunked {
                            [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat()
                        } else {
                            piece.to_vec()
                        };
                        let _ = stream.write_all(&framed).await;
                    }
                    if chunked {
                        let _ = stream.write_all(b"0\r\n\r\n").await;
                    }
                    let _ = stream.flush().await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_reply_that_arrives_in_pieces_is_joined_whole() {
    for chunked in [true, false] {
        let addr = reply_in_pieces(chunked).await;
        let gw = gateway_at(&format!("http://{addr}/v1"), "").await;
        for _ in 0..2 {
            let (status, body) = ask(&gw).await;
            assert_eq!(status, 200, "chunked: {chunked}: {body}");
            assert_eq!(body["choices"][0]["message"]["content"], "joined from three pieces", "chunked: {chunked}");
            assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0, "chunked: {chunked}: {body}");
        }
    }
}

#[tokio::test]
async fn a_reply_in_pieces_past_max_response_bytes_is_a_502() {
    let whole = serde_json::to_vec(&wire::completion("m", "joined from three pieces")).unwrap().len();
    // Smaller than the first piece alone, then one byte short of the whole reply (only its
    // last piece passes the cap).
    for cap in [whole / 4, whole - 1] {
        for chunked in [true, false] {
            let addr = reply_in_pieces(chunked).await;
            let gw = gateway_at(&format!("http://{addr}/v1"), &format!("max_response_bytes = {cap}")).await;
            let (status, body) = ask(&gw).await;
            assert_eq!(status, 502, "cap {cap}, chunked: {chunked}: {body}");
            assert!(body["error"]["message"].as_str().unwrap().contains("larger than"), "{body}");
        }
    }
}
