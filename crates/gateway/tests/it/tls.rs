//! TLS termination, as a client meets it: the real binary serving HTTPS with a certificate
//! made in the test, HTTP/2 and HTTP/1.1 chosen by ALPN, plain HTTP to the same port not
//! served, a new certificate for new connections after SIGHUP, and bad certificate or key
//! files reported by `check`, refused at start and kept out on reload.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};
use testkit::openai_wire as wire;
use testkit::{run_command, FakeUpstream, GatewayProcess, Reply};

use crate::common::{user, MASTER_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    (made.cert.pem(), made.key_pair.serialize_pem())
}

/// A folder of its own for each test's files.
fn dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "switchyard-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes the certificate and key, and a config serving HTTPS with them; returns the config's path.
fn tls_config(dir: &std::path::Path, up: &FakeUpstream, (cert, key): &(String, String)) -> PathBuf {
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "master_key_env = \"MASTER\"\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n[providers.up]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\nmodels = [\"*\"]\n",
            cert_file.display(),
            key_file.display(),
            up.v1()
        ),
    )
    .unwrap();
    config
}

fn start(config: &std::path::Path) -> GatewayProcess {
    GatewayProcess::serve(
        BIN,
        &["--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[("MASTER", MASTER_KEY)],
    )
}

/// A client that trusts only `cert`, with a connection pool of its own (so each client makes
/// a new connection and sees the certificate served now).
fn trusting(cert: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
}

fn https(gw: &GatewayProcess, path: &str) -> String {
    format!("https://{}{path}", gw.addr)
}

#[tokio::test]
async fn https_serves_http2_and_http1_by_alpn_and_plain_http_is_not_served() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "over tls"))).await;
    let cert = self_signed();
    let gw = start(&tls_config(&dir(), &up, &cert));
    let banner = format!("listening on https://{}", gw.addr);
    testkit::wait::until("the banner", async || gw.stderr().contains(&banner)).await;

    let h2 = trusting(&cert.0).build().unwrap();
    let resp = h2
        .post(https(&gw, "/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "m", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["choices"][0]["message"]["content"], "over tls");

    let h1 = trusting(&cert.0).http1_only().build().unwrap();
    let resp = h1.get(https(&gw, "/health")).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "ok");

    // Plain HTTP to the TLS port gets no HTTP answer at all.
    let plain = reqwest::Client::new().get(gw.url("/health")).send().await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    // A client that does not trust the certificate gets nothing either.
    assert!(reqwest::Client::new().get(https(&gw, "/health")).send().await.is_err());
    // The gateway still serves after those.
    assert_eq!(h1.get(https(&gw, "/health")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn sighup_gives_new_connections_the_new_certificate_and_a_bad_one_is_kept_out() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "x"))).await;
    let (old, new) = (self_signed(), self_signed());
    let dir = dir();
    let config = tls_config(&dir, &up, &old);
    let gw = start(&config);
    let old_client = trusting(&old.0).build().unwrap();
    assert_eq!(old_client.get(https(&gw, "/health")).send().await.unwrap().status(), 200);

    // A bad certificate on reload: reported with its file, and the old one still served.
    std::fs::write(dir.join("cert.pem"), "not a certificate\n").unwrap();
    gw.signal("HUP");
    testkit::wait::until("the rejection", async || gw.stderr().contains("config reload rejected")).await;
    let log = gw.stderr();
    assert!(log.contains(&format!("3:13: {} holds no PEM certificate", dir.join("cert.pem").display())), "{log}");
    let fresh = trusting(&old.0).build().unwrap();
    assert_eq!(fresh.get(https(&gw, "/health")).send().await.unwrap().status(), 200);

    tls_config(&dir, &up, &new);
    gw.signal("HUP");
    testkit::wait::until("the reload", async || gw.stderr().contains("config reloaded")).await;
    let new_client = trusting(&new.0).build().unwrap();
    assert_eq!(new_client.get(https(&gw, "/health")).send().await.unwrap().status(), 200);
    let stale = trusting(&old.0).build().unwrap();
    assert!(stale.get(https(&gw, "/health")).send().await.is_err(), "a new connection still got the old certificate");
    // A connection made before the reload goes on.
    assert_eq!(old_client.get(https(&gw, "/health")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn check_and_start_name_the_certificate_or_key_file_that_cannot_be_used() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "x"))).await;
    let dir = dir();
    let (cert, key) = self_signed();
    let config = tls_config(&dir, &up, &(cert.clone(), key.clone()));
    let check = |expect: &str| {
        let (status, _, stderr) =
            run_command(BIN, &["check", "--config", config.to_str().unwrap()], &[("MASTER", MASTER_KEY)]);
        assert!(!status.success(), "{stderr}");
        assert!(stderr.contains(expect), "expected `{expect}` in:\n{stderr}");
        stderr
    };
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));

    std::fs::remove_file(&cert_file).unwrap();
    // The file and the line of the key that names it.
    let stderr = check(&format!("gateway.toml:3:13: cannot read {}", cert_file.display()));
    assert!(stderr.contains("No such file"), "{stderr}");

    std::fs::write(&cert_file, &cert).unwrap();
    std::fs::write(&key_file, "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n").unwrap();
    check(&format!("gateway.toml:4:12: {} is not valid PEM", key_file.display()));

    std::fs::write(&key_file, &cert).unwrap();
    check(&format!("{} holds no PEM private key", key_file.display()));

    // A key that is not the certificate's.
    std::fs::write(&key_file, self_signed().1).unwrap();
    check(&format!("the key in {} cannot serve the certificate in {}", key_file.display(), cert_file.display()));

    // Start refuses too, with the same words, before listening.
    let (status, _, stderr) = run_command(
        BIN,
        &["serve", "--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[("MASTER", MASTER_KEY)],
    );
    assert!(!status.success());
    assert!(stderr.contains("cannot serve the certificate") && !stderr.contains("listening on"), "{stderr}");

    std::fs::write(&key_file, &key).unwrap();
    let (status, _, stderr) =
        run_command(BIN, &["check", "--config", config.to_str().unwrap()], &[("MASTER", MASTER_KEY)]);
    assert!(status.success(), "{stderr}");
}
