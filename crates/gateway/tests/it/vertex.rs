//! Google Vertex AI: a service-account key signs a JWT that a (fake) OAuth endpoint exchanges
//! for an access token, cached across requests; Anthropic models on Vertex get the
//! `rawPredict` wire; Google-shaped platform errors reach clients in their own dialect.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use testkit::anthropic_wire as anthropic;
use testkit::{FakeUpstream, Gateway, Received, Reply};

use crate::common::{client, post_json, user, MASTER_KEY};

const TOKEN: &str = "ya29.c.test-access-token";
const MODEL: &str = "claude-sonnet-4-5@20250929";

fn key_file() -> String {
    format!("{}/tests/fixtures/vertex-service-account.json", env!("CARGO_MANIFEST_DIR"))
}

/// One fake server for both Google endpoints: `/token` (OAuth) and the Vertex API.
fn google(req: &Received) -> Reply {
    if req.uri == "/token" {
        return Reply::json(json!({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"}));
    }
    let body = req.json();
    if body["messages"][0]["content"] == "over quota" {
        return Reply::error(
            429,
            json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                "message": "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: anthropic-claude-sonnet-4-5."}}),
        );
    }
    if req.uri.ends_with(":streamRawPredict") {
        return Reply::sse(anthropic::text_stream(MODEL, &["Sa", "lut"]));
    }
    Reply::json(anthropic::message(MODEL, "Salut."))
}

async fn gateway(google: &FakeUpstream) -> Gateway {
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.vertex]
kind = "vertex"
project = "proj-1"
location = "us-east5"
base_url = "{url}"
token_url = "{url}/token"
[models.sonnet]
deployments = [{{ provider = "vertex", model = "{MODEL}" }}]
"#,
        url = google.url()
    );
    Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("GOOGLE_APPLICATION_CREDENTIALS", &key_file())]).await
}

#[tokio::test]
async fn a_service_account_token_is_fetched_once_and_claude_gets_the_vertex_wire() {
    let up = FakeUpstream::start(google).await;
    let gw = gateway(&up).await;
    for _ in 0..2 {
        let (status, headers, body) = post_json(
            &gw,
            "/v1/chat/completions",
            &json!({"model": "sonnet", "messages": user("hi"), "max_tokens": 50}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["choices"][0]["message"]["content"], "Salut.");
        assert_eq!(headers["x-switchyard-provider"], "vertex");
    }
    let received = up.received();
    let token_requests: Vec<&Received> = received.iter().filter(|r| r.uri == "/token").collect();
    assert_eq!(token_requests.len(), 1, "the token is cached");
    check_jwt_grant(token_requests[0]);

    let calls: Vec<&Received> = received.iter().filter(|r| r.uri != "/token").collect();
    assert_eq!(calls.len(), 2);
    for call in calls {
        assert_eq!(
            call.uri,
            format!("/v1/projects/proj-1/locations/us-east5/publishers/anthropic/models/{MODEL}:rawPredict")
        );
        assert_eq!(call.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(call.header("x-api-key"), None);
        let body = call.json();
        assert_eq!(body["anthropic_version"], "vertex-2023-10-16");
        assert!(body.get("model").is_none(), "{body}");
        assert_eq!(body["max_tokens"], 50);
    }
}

/// The assertion is a JWT signed with the service account's key, for Google's token audience.
fn check_jwt_grant(req: &Received) {
    let form = String::from_utf8(req.body.to_vec()).unwrap();
    assert_eq!(req.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert!(form.starts_with("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="), "{form}");
    let jwt = form.split("assertion=").nth(1).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let decode = |s: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap() };
    let header = decode(parts[0]);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], "0123456789abcdef0123456789abcdef01234567");
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], "gateway@switchyard-test.iam.gserviceaccount.com");
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/cloud-platform");
    assert_eq!(claims["aud"], format!("{}/token", req.header("host").map(|h| format!("http://{h}")).unwrap()));
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 3600);

    let file: Value = serde_json::from_str(&std::fs::read_to_string(key_file()).unwrap()).unwrap();
    let key = gateway::upstream::auth::oauth::rsa_key_from_pem(file["private_key"].as_str().unwrap()).unwrap();
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        ring::signature::KeyPair::public_key(&key).as_ref().to_vec(),
    );
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).expect("a valid RS256 signature");
}

#[tokio::test]
async fn streams_use_stream_raw_predict() {
    let up = FakeUpstream::start(google).await;
    let gw = gateway(&up).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "sonnet", "messages": user("hi"), "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(testkit::openai_wire::streamed_text(&text), "Salut");
    let call = up.received().into_iter().find(|r| r.uri != "/token").unwrap();
    assert!(call.uri.ends_with(&format!("/models/{MODEL}:streamRawPredict")), "{}", call.uri);
    assert_eq!(call.json()["stream"], true);
}

#[tokio::test]
async fn google_platform_errors_reach_openai_and_anthropic_clients_in_their_shapes() {
    let up = FakeUpstream::start(google).await;
    let gw = gateway(&up).await;
    let (status, _, body) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "sonnet", "messages": user("over quota")})).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("Quota exceeded"), "{body}");
    let resp = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", MASTER_KEY)
        .json(&json!({"model": "sonnet", "max_tokens": 10, "messages": user("over quota")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
}

#[tokio::test]
async fn a_token_endpoint_that_refuses_is_a_clear_502_and_a_bad_key_file_fails_the_config() {
    let up = FakeUpstream::start(|req: &Received| {
        if req.uri == "/token" {
            Reply::error(400, json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}))
        } else {
            Reply::json(anthropic::message(MODEL, "unreachable"))
        }
    })
    .await;
    let gw = gateway(&up).await;
    let (status, _, body) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "sonnet", "messages": user("hi")})).await;
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("credentials for `vertex`") && message.contains("Invalid JWT Signature"), "{body}");
    assert!(up.received().iter().all(|r| r.uri == "/token"), "nothing reached Vertex without a token");

    let bad = std::env::temp_dir().join(format!("switchyard-bad-sa-{}.json", std::process::id()));
    std::fs::write(&bad, r#"{"type": "service_account", "client_email": "x@y"}"#).unwrap();
    let toml = "[providers.v]\nkind = \"vertex\"\nproject = \"p\"\n";
    let err =
        gateway::Config::from_toml(toml, &[("GOOGLE_APPLICATION_CREDENTIALS", bad.to_str().unwrap())]).unwrap_err();
    assert!(err.to_string().contains("line 2") && err.to_string().contains("private_key"), "{err}");
}

#[tokio::test]
async fn zero_config_finds_vertex_from_googles_variables() {
    let key = key_file();
    let gw = testkit::GatewayProcess::serve(
        env!("CARGO_BIN_EXE_switchyard"),
        &["--listen", "127.0.0.1:0"],
        &[("GOOGLE_APPLICATION_CREDENTIALS", &key), ("GOOGLE_CLOUD_LOCATION", "europe-west1")],
    );
    let banner = gw.stderr();
    assert!(
        banner.contains(
            "vertex at https://europe-west1-aiplatform.googleapis.com/v1/projects/switchyard-test/locations/europe-west1 (from GOOGLE_APPLICATION_CREDENTIALS)"
        ),
        "{banner}"
    );
}

#[tokio::test]
async fn a_token_is_refreshed_before_it_expires() {
    // A 2-second token is replaced after half its life, before Vertex would refuse it.
    let issued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = issued.clone();
    let up = FakeUpstream::start(move |req: &Received| {
        if req.uri == "/token" {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Reply::json(json!({"access_token": format!("ya29.short-{n}"), "expires_in": 2}))
        } else {
            Reply::json(anthropic::message(MODEL, "ok"))
        }
    })
    .await;
    let gw = gateway(&up).await;
    let body = json!({"model": "sonnet", "messages": user("hi")});
    assert_eq!(post_json(&gw, "/v1/chat/completions", &body).await.0, 200);
    assert_eq!(post_json(&gw, "/v1/chat/completions", &body).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(post_json(&gw, "/v1/chat/completions", &body).await.0, 200);
    let auth: Vec<String> = up
        .received()
        .iter()
        .filter(|r| r.uri != "/token")
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(auth, ["Bearer ya29.short-0", "Bearer ya29.short-0", "Bearer ya29.short-1"]);
}
