//! Codex CLI (`codex exec`) against the gateway's `/v1/responses` (a custom model provider,
//! `wire_api = "responses"`), routed to an OpenAI-compatible Chat Completions deployment, where
//! the gateway translates Responses ⇄ Chat both ways, or to an OpenAI deployment, which gets the
//! request as Codex sent it. With Codex's default model its tools arrive in an
//! `additional_tools` input item and it acts through a freeform (`custom`) `exec` tool that runs
//! JavaScript; with `gpt-5-codex` it gets a `function` tool `exec_command` that runs a shell
//! command, a `namespace` of sub-agent tools and OpenAI's hosted `web_search`, which runs only on
//! OpenAI: for other deployments config.toml turns it off (`web_search = "disabled"`). Each
//! Chat test plays one tool round trip and checks the printed answer.

use serde_json::Value;
use testkit::{responses_wire, FakeUpstream, Gateway};

use super::play::{self, Call, CALL_ID};
use super::{bodies, chat_gateway, chat_tool_names, clean_command, clients, run, scratch, with_tool_result, Clients};
use crate::common::{MASTER_KEY, UPSTREAM_KEY};

/// Codex 0.171.0's default model, used when config.toml names none.
const DEFAULT_MODEL: &str = "gpt-6.2-sol";
const DEPLOYED: &str = "gpt-4o-2024-11-20";

/// Where the gateway sends Codex: a deployment that is not OpenAI's cannot run OpenAI's hosted
/// web search, so Codex is told not to offer it.
#[derive(Clone, Copy, PartialEq)]
enum Upstream {
    OpenAi,
    Other,
}

/// Runs `codex exec <prompt>` in a fresh CODEX_HOME whose config points at the gateway
/// (`model`, when given, set in config.toml); returns the last message Codex wrote and its stdout.
async fn codex_exec(
    clients: &Clients,
    gw: &Gateway,
    upstream: Upstream,
    model: Option<&str>,
    prompt: &str,
) -> (String, String) {
    let home = scratch("codex");
    let codex_home = home.join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    let mut settings = model.map(|m| format!("model = \"{m}\"\n")).unwrap_or_default();
    if upstream == Upstream::Other {
        settings.push_str("web_search = \"disabled\"\n");
    }
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            r#"{settings}model_provider = "switchyard"

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
async fn codex_exec_with_its_default_model_runs_its_freeform_exec_tool_through_a_chat_deployment() {
    let Some(clients) = clients() else { return };
    let up =
        FakeUpstream::start(play::chat(Call::Custom { name: "exec", input: r#"text("codex-marker-" + (6*7))"# })).await;
    let gw = chat_gateway(&up, &[(DEFAULT_MODEL, DEPLOYED)]).await;
    let (answer, stdout) =
        codex_exec(&clients, &gw, Upstream::Other, None, "Compute the marker with the exec tool.").await;

    let body = assert_round_trip(&up, &answer, &stdout, "codex-marker-42");
    let first = &bodies(&up)[0];
    assert!(chat_tool_names(first).iter().any(|n| n == "exec"), "exec was offered: {:?}", chat_tool_names(first));
    assert!(body["messages"].to_string().contains("codex-marker-"), "the call's input went back: {body}");
    gw.stop().await;
}

#[tokio::test]
async fn codex_exec_runs_a_shell_command_through_its_exec_command_function_on_a_chat_deployment() {
    let Some(clients) = clients() else { return };
    let up = FakeUpstream::start(play::chat(Call::Function {
        name: "exec_command",
        args: serde_json::json!({"cmd": "echo codex-shell-marker-7"}),
    }))
    .await;
    let gw = chat_gateway(&up, &[("gpt-5-codex", DEPLOYED)]).await;
    let (answer, stdout) = codex_exec(&clients, &gw, Upstream::Other, Some("gpt-5-codex"), "Run echo.").await;

    let body = assert_round_trip(&up, &answer, &stdout, "codex-shell-marker-7");
    let first = &bodies(&up)[0];
    assert!(chat_tool_names(first).iter().any(|n| n == "exec_command"), "{:?}", chat_tool_names(first));
    let call = body["messages"].as_array().unwrap().iter().find_map(|m| m["tool_calls"].get(0)).unwrap();
    assert_eq!(call["function"]["name"], "exec_command", "{body}");
    let offered = chat_tool_names(first);
    assert!(offered.iter().any(|n| n == "spawn_agent"), "the namespace's tools were offered: {offered:?}");
    gw.stop().await;
}

/// On an OpenAI deployment the gateway speaks the Responses API itself: the upstream gets Codex's
/// request as sent (hosted `web_search`, the `namespace` tool), never asked to store it.
#[tokio::test]
async fn codex_exec_on_an_openai_deployment_reaches_it_as_sent() {
    let Some(clients) = clients() else { return };
    const ANSWER: &str = "Hello from OpenAI.";
    let up = FakeUpstream::start(|_: &testkit::Received| {
        responses_wire::reply(responses_wire::text_stream("gpt-5-codex", &["Hello from ", "OpenAI."]))
    })
    .await;
    let toml = format!(
        "master_key_env = \"MASTER\"\n[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"UP_KEY\"\n\
         [models.\"gpt-5-codex\"]\ndeployments = [{{ provider = \"openai\", model = \"gpt-5-codex\" }}]\n",
        up.v1()
    );
    let gw = Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)]).await;
    let (answer, stdout) = codex_exec(&clients, &gw, Upstream::OpenAi, Some("gpt-5-codex"), "Say hello.").await;
    assert_eq!(answer, ANSWER, "{stdout}");

    let received = up.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].uri.ends_with("/v1/responses"), "{}", received[0].uri);
    assert_eq!(received[0].header("authorization"), Some(format!("Bearer {UPSTREAM_KEY}").as_str()));
    let body = received[0].json();
    assert_eq!(body["store"], false);
    assert_eq!(body["stream"], true);
    let tools = body["tools"].as_array().expect("tools");
    let types: Vec<&str> = tools.iter().filter_map(|t| t["type"].as_str()).collect();
    assert!(types.contains(&"web_search"), "OpenAI runs its hosted web search: {types:?}");
    let namespace = tools.iter().find(|t| t["type"] == "namespace").expect("the namespace tool, whole");
    assert_eq!(namespace["name"], "multi_agent_v1");
    assert!(namespace["tools"].as_array().is_some_and(|t| t.iter().any(|t| t["name"] == "spawn_agent")));
    assert!(body["input"].to_string().contains("Say hello."), "{}", body["input"]);
    gw.stop().await;
}

#[tokio::test]
async fn codex_exec_answers_a_plain_prompt() {
    let Some(clients) = clients() else { return };
    // Offered no `nothing` tool, the upstream just answers.
    let up = FakeUpstream::start(play::chat(Call::Function { name: "nothing", args: Value::Null })).await;
    let gw = chat_gateway(&up, &[(DEFAULT_MODEL, DEPLOYED)]).await;
    let (answer, stdout) = codex_exec(&clients, &gw, Upstream::Other, None, "Say hello.").await;
    assert_eq!(answer, play::PLAIN, "{stdout}");
    let all = bodies(&up);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["model"], DEPLOYED);
    assert_eq!(all[0]["stream"], true, "Codex always streams");
    let text = all[0]["messages"].to_string();
    assert!(text.contains("Say hello."), "{text}");
    gw.stop().await;
}
