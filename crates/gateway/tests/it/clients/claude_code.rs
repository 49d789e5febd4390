//! Claude Code (`claude -p`) against the gateway's `/v1/messages`, routed to an
//! OpenAI-compatible Chat Completions deployment and to a Bedrock Converse deployment: the fake
//! upstream calls Claude Code's own `Read` tool on a file the test wrote, Claude Code reads it
//! and sends the result back, and the printed answer quotes it.

use serde_json::{json, Value};
use testkit::{FakeUpstream, Gateway};

use super::play::{self, Call, CALL_ID};
use super::{bodies, chat_gateway, clean_command, clients, run, scratch, with_tool_result, Clients};
use crate::common::{MASTER_KEY, UPSTREAM_KEY};

const SECRET: &str = "The secret word is pineapple-marker-9.";

/// How Claude Code authenticates: `x-api-key` from ANTHROPIC_API_KEY, or a bearer token from
/// ANTHROPIC_AUTH_TOKEN (what gateways are usually given).
enum Auth {
    ApiKey,
    AuthToken,
}

/// A fresh HOME and project directory holding `notes.txt`, whose absolute path the fake
/// upstream's `Read` call names.
struct Project {
    home: std::path::PathBuf,
    dir: std::path::PathBuf,
    notes: String,
}

impl Project {
    fn new() -> Project {
        let root = scratch("claude-code");
        let (home, dir) = (root.join("home"), root.join("project"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        let notes = dir.join("notes.txt");
        std::fs::write(&notes, format!("{SECRET}\n")).unwrap();
        Project { home, dir, notes: notes.to_str().unwrap().to_owned() }
    }

    fn read_args(&self) -> Value {
        json!({"file_path": self.notes})
    }

    /// Runs `claude -p` here with `model` as its main and small model, asking about the file;
    /// returns the printed answer.
    async fn ask(&self, clients: &Clients, gw: &Gateway, model: &str, auth: Auth) -> String {
        let mut cmd = clean_command(&clients.npm_bin("claude"), &self.home);
        cmd.current_dir(&self.dir)
            .args(["-p", "What does notes.txt say? Read it.", "--allowedTools", "Read", "--output-format", "text"])
            .env("ANTHROPIC_BASE_URL", gw.url(""))
            .env(if matches!(auth, Auth::ApiKey) { "ANTHROPIC_API_KEY" } else { "ANTHROPIC_AUTH_TOKEN" }, MASTER_KEY)
            .env("ANTHROPIC_MODEL", model)
            .env("ANTHROPIC_SMALL_FAST_MODEL", model)
            .env("ANTHROPIC_DEFAULT_HAIKU_MODEL", model)
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_ERROR_REPORTING", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
        run(cmd).await.success("claude -p").stdout.trim().to_owned()
    }
}

#[tokio::test]
async fn claude_code_reads_a_file_through_an_openai_compatible_deployment() {
    let Some(clients) = clients() else { return };
    let project = Project::new();
    let up = FakeUpstream::start(play::chat(Call::Function { name: "Read", args: project.read_args() })).await;
    let gw = chat_gateway(&up, &[("sy-gpt", "gpt-4o-2024-11-20")]).await;
    // A model name Claude Code does not know, as a gateway alias in front of GPT would be.
    let answer = project.ask(&clients, &gw, "sy-gpt", Auth::ApiKey).await;
    let notes = &project.notes;

    let received = up.received();
    let (body, id, result) = with_tool_result(&bodies(&up), play::chat_tool_result);
    assert_eq!(answer, play::answer(&result), "Claude Code printed the upstream's answer");
    assert!(answer.contains("pineapple-marker-9"), "{answer}");
    assert_eq!(id, CALL_ID);
    assert!(result.contains(SECRET), "the file's content went back as the tool result: {result}");
    let call =
        &body["messages"].as_array().unwrap().iter().find(|m| m["tool_calls"].is_array()).unwrap()["tool_calls"][0];
    assert_eq!(call["function"]["name"], "Read", "{body}");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["file_path"], notes.as_str());
    assert_eq!(body["model"], "gpt-4o-2024-11-20");
    assert!(received.iter().all(|r| r.header("authorization") == Some(&format!("Bearer {UPSTREAM_KEY}"))));
    assert!(
        received.iter().all(|r| r.uri == "/v1/chat/completions"),
        "{:?}",
        received.iter().map(|r| &r.uri).collect::<Vec<_>>()
    );
    gw.stop().await;
}

#[tokio::test]
async fn claude_code_reads_a_file_through_a_bedrock_deployment() {
    let Some(clients) = clients() else { return };
    let project = Project::new();
    let up = FakeUpstream::start(play::bedrock("Read", project.read_args())).await;
    let gw = Gateway::start_with_env(
        &format!(
            r#"
master_key_env = "MASTER"
[providers.aws]
kind = "bedrock"
region = "us-east-1"
base_url = "{}"
[models.claude-sonnet-4-5]
deployments = [{{ provider = "aws", model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0" }}]
"#,
            up.url()
        ),
        &[
            ("MASTER", MASTER_KEY),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ],
    )
    .await;
    // A model name Claude Code knows, routed to Claude on Bedrock.
    let answer = project.ask(&clients, &gw, "claude-sonnet-4-5", Auth::AuthToken).await;
    let notes = &project.notes;

    let received = up.received();
    let (body, id, result) = with_tool_result(&bodies(&up), play::bedrock_tool_result);
    assert_eq!(answer, play::answer(&result), "Claude Code printed the upstream's answer");
    assert!(answer.contains("pineapple-marker-9"), "{answer}");
    assert_eq!(id, CALL_ID);
    assert!(result.contains(SECRET), "the file's content went back as the tool result: {result}");
    let used = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().into_iter().flatten())
        .find_map(|c| c.get("toolUse"))
        .unwrap_or_else(|| panic!("the tool call went back too: {body}"));
    assert_eq!(used["name"], "Read");
    assert_eq!(used["input"]["file_path"], notes.as_str());
    let model = "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0";
    assert!(
        received.iter().all(|r| r.uri.starts_with(&format!("/model/{model}/converse"))),
        "{:?}",
        received.iter().map(|r| &r.uri).collect::<Vec<_>>()
    );
    gw.stop().await;
}
