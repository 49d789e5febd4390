//! Codex CLI (`codex exec`) against the gateway's `/v1/responses` (a custom model provider,
//! `wire_api = "responses"`), routed to an OpenAI-compatible Chat Completions deployment: the
//! gateway translates Responses ⇄ Chat both ways. With Codex's default model its tools arrive in
//! an `additional_tools` input item and it acts through a freeform (`custom`) `exec` tool that
//! runs JavaScript; with `gpt-5-codex` it gets a `function` tool `exec_command` that runs a
//! shell command. Each test plays one tool round trip and checks the printed answer.

use serde_json::Value;
use testkit::{FakeUpstream, Gateway};

use super::play::{self, Call, CALL_ID};
use super::{bodies, chat_gateway, chat_tool_names, clean_command, clients, run, scratch, with_tool_result, Clients};
use crate::common::{MASTER_KEY, UPSTREAM_KEY};

/// Codex 0.171.0's default model, used when config.toml names none.
const DEFAULT_MODEL: &str = "gpt-6.2-sol";
const DEPLOYED: &str = "gpt-4o-2024-11-20";

/// Runs `codex exec <prompt>` in a fresh CODEX_HOME whose config points at the gateway
/// (`model`, when given, set in config.toml); returns the last message Codex wrote and its stdout.
async fn codex_exec(clients: &Clients, gw: &Gateway, model: Option<&str>, prompt: &str) -> (String, String) {
    let home = scratch("codex");
    let codex_home = home.join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    let model_line = model.map(|m| format!("model = \"{m}\"\n")).unwrap_or_default();
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            r#"{model_line}model_provider = "switchyard"

[model_providers.switchyard]
name = "Switchyard"
base_url = "{}"
env_key = "SWITCHYARD_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"#,
            gw.url("/v1")
        ),
    )
    .unwrap();
    let last = home.join("last-message.txt");
    let mut cmd = clean_command(&clients.npm_bin("codex"), &home);
    cmd.env("CODEX_HOME", &codex_home).env("SWITCHYARD_API_KEY", MASTER_KEY).args([
        "exec",
        "--skip-git-repo-check",
        // The tool runs here, outside any sandbox: containers often cannot start bubblewrap.
        "--dangerously-bypass-approvals-and-sandbox",
        "--output-last-message",
        last.to_str().unwrap(),
        prompt,
    ]);
    let ran = run(cmd).await.success("codex exec");
    let answer = std::fs::read_to_string(&last).unwrap_or_default();
    (answer.trim().to_owned(), ran.stdout)
}

/// The answer quotes the tool result the upstream received for its call, and that result
/// holds `marker`; returns the request that carried it.
fn assert_round_trip(up: &FakeUpstream, answer: &str, stdout: &str, marker: &str) -> Value {
    let all = bodies(up);
    let (body, id, result) = with_tool_result(&all, play::chat_tool_result);
    assert_eq!(id, CALL_ID, "{body}");
    assert!(result.contains(marker), "the tool's output went back to the upstream: {result}");
    assert_eq!(answer, play::answer(&result), "Codex's last message is the upstream's answer");
    assert!(stdout.contains(marker), "{stdout}");
    assert!(all.iter().all(|b| b["model"] == DEPLOYED), "the alias's deployment was asked");
    assert!(up.received().iter().all(|r| r.header("authorization") == Some(&format!("Bearer {UPSTREAM_KEY}"))));
    body
}

#[tokio::test]
#[ignore = "the gateway refuses Codex's default-model request for a Chat upstream: reasoning.context and the additional_tools input item (400)"]
async fn codex_exec_with_its_default_model_runs_its_freeform_exec_tool_through_a_chat_deployment() {
    let Some(clients) = clients() else { return };
    let up =
        FakeUpstream::start(play::chat(Call::Custom { name: "exec", input: r#"text("codex-marker-" + (6*7))"# })).await;
    let gw = chat_gateway(&up, &[(DEFAULT_MODEL, DEPLOYED)]).await;
    let (answer, stdout) = codex_exec(&clients, &gw, None, "Compute the marker with the exec tool.").await;

    let body = assert_round_trip(&up, &answer, &stdout, "codex-marker-42");
    let first = &bodies(&up)[0];
    assert!(chat_tool_names(first).iter().any(|n| n == "exec"), "exec was offered: {:?}", chat_tool_names(first));
    assert!(body["messages"].to_string().contains("codex-marker-"), "the call's input went back: {body}");
    gw.stop().await;
}

#[tokio::test]
#[ignore = "the gateway refuses Codex's namespace and web_search tools for a Chat upstream (400 on tools[0].type)"]
async fn codex_exec_runs_a_shell_command_through_its_exec_command_function_on_a_chat_deployment() {
    let Some(clients) = clients() else { return };
    let up = FakeUpstream::start(play::chat(Call::Function {
        name: "exec_command",
        args: serde_json::json!({"cmd": "echo codex-shell-marker-7"}),
    }))
    .await;
    let gw = chat_gateway(&up, &[("gpt-5-codex", DEPLOYED)]).await;
    let (answer, stdout) = codex_exec(&clients, &gw, Some("gpt-5-codex"), "Run echo.").await;

    let body = assert_round_trip(&up, &answer, &stdout, "codex-shell-marker-7");
    let first = &bodies(&up)[0];
    assert!(chat_tool_names(first).iter().any(|n| n == "exec_command"), "{:?}", chat_tool_names(first));
    let call = body["messages"].as_array().unwrap().iter().find_map(|m| m["tool_calls"].get(0)).unwrap();
    assert_eq!(call["function"]["name"], "exec_command", "{body}");
    gw.stop().await;
}

#[tokio::test]
#[ignore = "the gateway refuses Codex's default-model request for a Chat upstream: reasoning.context and the additional_tools input item (400)"]
async fn codex_exec_answers_a_plain_prompt() {
    let Some(clients) = clients() else { return };
    // Offered no `nothing` tool, the upstream just answers.
    let up = FakeUpstream::start(play::chat(Call::Function { name: "nothing", args: Value::Null })).await;
    let gw = chat_gateway(&up, &[(DEFAULT_MODEL, DEPLOYED)]).await;
    let (answer, stdout) = codex_exec(&clients, &gw, None, "Say hello.").await;
    assert_eq!(answer, play::PLAIN, "{stdout}");
    let all = bodies(&up);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["model"], DEPLOYED);
    assert_eq!(all[0]["stream"], true, "Codex always streams");
    let text = all[0]["messages"].to_string();
    assert!(text.contains("Say hello."), "{text}");
    gw.stop().await;
}
