//! The real Codex CLI (`codex exec --json`, the native binary from npm) through the
//! gateway's OpenAI Responses front door (`/v1/responses`, streamed) to an
//! Anthropic-format upstream (the mock at `/v1/messages`): a plain answer, a full tool
//! round trip (Codex runs `echo` through its `exec_command` tool and sends the output
//! back), and Codex's WebSocket attempt refused so it falls back to HTTP. The controls
//! run the same CLI straight at the mock's own Responses dialect.
//!
//! Codex is kept on loopback: a custom model provider in a scratch `CODEX_HOME`,
//! `--strict-config` (a key this version no longer knows fails the run instead of being
//! ignored), no update check, analytics, feedback or OpenTelemetry export, and the
//! plugin marketplace and connectors off (they `git ls-remote` GitHub at start-up).

use std::time::Duration;

use serde_json::Value;
use tollgate_tests::mock::{
    Dialect, DEFAULT_REPLY, TOOL_RESULT_PREFIX, TOOL_TEST_MARKER, TOOL_TEST_OUTPUT,
};
use tollgate_tests::{
    client_command, codex, describe_output, http_client, run_client, Gateway, GatewayConfig,
    MockUpstream, RecordedRequest, TempDir,
};

const CODEX_TIMEOUT: Duration = Duration::from_secs(120);
/// A model in Codex's bundled catalog (an unknown one adds a warning item).
const CODEX_MODEL: &str = "gpt-5.5";
/// What the gateway's target renames it to upstream.
const UPSTREAM_MODEL: &str = "claude-sonnet-5-5";
/// The key Codex sends (`Authorization: Bearer`, from the provider's `env_key`).
const CLIENT_KEY: &str = "sk-codex-client-key";
/// The key the gateway's target sends upstream instead.
const UPSTREAM_KEY: &str = "sk-ant-upstream-key";

const HELLO_PROMPT: &str = "Say hello.";

fn tool_prompt() -> String {
    format!("Run the marker command with your shell tool. {TOOL_TEST_MARKER}")
}

/// `$CODEX_HOME/config.toml`: one custom provider at `base_url` (ending in `/v1`),
/// commands run without approval or sandbox, and everything that would leave the
/// machine turned off.
fn codex_config(base_url: &str, websockets: bool) -> String {
    format!(
        r#"model = "{CODEX_MODEL}"
model_provider = "tollgate"
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"
log_user_prompt = false

[history]
persistence = "none"

[features]
plugins = false
remote_plugin = false
apps = false

[model_providers.tollgate]
name = "Tollgate"
base_url = "{base_url}"
wire_api = "responses"
env_key = "TOLLGATE_API_KEY"
request_max_retries = 0
stream_max_retries = 0
supports_websockets = {websockets}
"#
    )
}

/// What one `codex exec --json` run printed: its JSONL events.
struct CodexRun {
    events: Vec<Value>,
    diagnostics: String,
}

impl CodexRun {
    /// The completed items of one type (`agent_message`, `command_execution`, `error`…).
    fn items(&self, kind: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == "item.completed" && e["item"]["type"] == kind)
            .map(|e| &e["item"])
            .collect()
    }

    /// The text of the last agent message.
    fn final_message(&self) -> String {
        self.items("agent_message")
            .last()
            .and_then(|i| i["text"].as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

/// Runs `codex exec --json PROMPT` against `base_url` (the provider's base URL,
/// ending in `/v1`) in a scratch home and `CODEX_HOME`; asserts the turn completed.
async fn run_codex(base_url: &str, prompt: &str, websockets: bool) -> CodexRun {
    let home = TempDir::new("codex-home");
    let codex_home = home.path().join(".codex");
    std::fs::create_dir_all(&codex_home).expect("create CODEX_HOME");
    std::fs::write(
        codex_home.join("config.toml"),
        codex_config(base_url, websockets),
    )
    .expect("write config.toml");
    let mut command = client_command(&codex(), home.path());
    command
        .arg("exec")
        .arg("--json")
        .arg("--strict-config")
        .arg("--ephemeral")
        .arg("--skip-git-repo-check")
        .arg(prompt)
        .env("CODEX_HOME", &codex_home)
        .env("TOLLGATE_API_KEY", CLIENT_KEY);
    let output = run_client(command, CODEX_TIMEOUT).await;
    let diagnostics = describe_output(&output);
    assert!(output.status.success(), "codex exec failed:\n{diagnostics}");
    let events: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line.trim()).ok())
        .collect();
    assert!(
        events.iter().any(|e| e["type"] == "turn.completed"),
        "the turn completed\n{diagnostics}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "turn.failed" || e["type"] == "error"),
        "no failed turn or stream error\n{diagnostics}"
    );
    CodexRun {
        events,
        diagnostics,
    }
}

/// A gateway with one endpoint: Responses front door, the mock as an Anthropic target
/// with its own key and model.
fn gateway_to_anthropic(mock: &MockUpstream, dir: &TempDir) -> Gateway {
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[endpoints]]\nname = \"codex\"\nfront_door = \"openai-responses\"\n\
             [[endpoints.targets]]\nname = \"mock\"\nprovider = \"anthropic\"\n\
             base_url = \"{}\"\napi_key = \"{UPSTREAM_KEY}\"\nmodel = \"{UPSTREAM_MODEL}\"\n",
            mock.base_url()
        ),
    )
    .expect("write gateway config");
    GatewayConfig::default().config(&config).start()
}

fn context(run: &CodexRun, gateway: &Gateway, mock: &MockUpstream) -> String {
    let requests: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {}{} {}",
                r.method,
                r.path,
                r.query
                    .as_deref()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default(),
                String::from_utf8_lossy(&r.body)
            )
        })
        .collect();
    format!(
        "{}\n--- mock received ---\n{}\n--- gateway stderr ---\n{}",
        run.diagnostics,
        requests.join("\n"),
        gateway.stderr()
    )
}

/// Every request reached the mock translated: Anthropic Messages, streamed, with the
/// target's key and model and the fields Anthropic requires. Returns them.
fn assert_anthropic_requests(mock: &MockUpstream, context: &str) -> Vec<RecordedRequest> {
    let generation = mock.generation_requests();
    assert!(
        !generation.is_empty(),
        "no request reached the mock\n{context}"
    );
    for r in &generation {
        assert_eq!(
            r.dialect(),
            Some(Dialect::Anthropic),
            "every upstream request is Anthropic Messages (POST /v1/messages), got {} {}\n{context}",
            r.method,
            r.path
        );
        assert!(r.is_stream(), "streamed upstream\n{context}");
        assert_eq!(r.model().as_deref(), Some(UPSTREAM_MODEL), "{context}");
        assert_eq!(r.header("x-api-key"), Some(UPSTREAM_KEY), "{context}");
        assert!(r.header("anthropic-version").is_some(), "{context}");
        for (name, value) in &r.headers {
            assert!(
                !value.to_str().unwrap_or_default().contains(CLIENT_KEY),
                "the client's key leaked upstream in `{name}`\n{context}"
            );
        }
        let body = r.json().expect("JSON body");
        assert!(
            body["max_tokens"].as_u64().is_some_and(|t| t > 0),
            "max_tokens (required by Anthropic; Codex sends none) is set\n{context}"
        );
        let system = body["system"].to_string();
        assert!(
            body.get("system").is_some() && system.len() > 100,
            "Codex's developer instructions became the system prompt\n{context}"
        );
        let tools = body["tools"].as_array().cloned().unwrap_or_default();
        let exec = tools
            .iter()
            .find(|t| t["name"] == "exec_command")
            .unwrap_or_else(|| panic!("Codex's exec_command tool is offered upstream\n{context}"));
        assert!(
            exec["input_schema"]["properties"]["cmd"].is_object(),
            "exec_command keeps its JSON schema as input_schema: {exec}\n{context}"
        );
    }
    generation
}

/// Control: Codex and the mock's Responses dialect agree on a plain answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_against_mock_directly() {
    let mock = MockUpstream::start().await;
    let run = run_codex(&format!("{}/v1", mock.base_url()), HELLO_PROMPT, false).await;
    assert_eq!(run.final_message(), DEFAULT_REPLY, "{}", run.diagnostics);
    let responses = mock.requests_in(Dialect::OpenAiResponses);
    assert_eq!(responses.len(), 1, "{}", run.diagnostics);
    assert_eq!(
        responses[0].header("authorization"),
        Some(format!("Bearer {CLIENT_KEY}").as_str())
    );
}

/// Control: the tool round trip against the mock's Responses dialect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_tool_round_trip_against_mock_directly() {
    let mock = MockUpstream::start().await;
    let run = run_codex(&format!("{}/v1", mock.base_url()), &tool_prompt(), false).await;
    let text = run.final_message();
    assert!(
        text.starts_with(TOOL_RESULT_PREFIX) && text.contains(TOOL_TEST_OUTPUT),
        "final message {text:?}\n{}",
        run.diagnostics
    );
    let call = mock
        .issued_tool_calls()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the mock asked for a tool call\n{}", run.diagnostics));
    let id = call.id.expect("a Responses call has an id");
    assert!(
        mock.requests_in(Dialect::OpenAiResponses).iter().any(|r| r
            .tool_results()
            .iter()
            .any(|(i, t)| *i == id && t.contains(TOOL_TEST_OUTPUT))),
        "the function_call_output answers call {id}\n{}",
        run.diagnostics
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_through_gateway_to_anthropic() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("codex-gw");
    let gateway = gateway_to_anthropic(&mock, &dir);
    let run = run_codex(&format!("{}/v1", gateway.url()), HELLO_PROMPT, false).await;
    let context = context(&run, &gateway, &mock);

    assert_eq!(run.final_message(), DEFAULT_REPLY, "{context}");
    assert!(run.items("error").is_empty(), "no error item\n{context}");
    let usage = &run
        .events
        .iter()
        .find(|e| e["type"] == "turn.completed")
        .expect("turn.completed")["usage"];
    assert!(
        usage["input_tokens"].as_u64().is_some_and(|t| t > 0)
            && usage["output_tokens"].as_u64().is_some_and(|t| t > 0),
        "the upstream's usage reached Codex: {usage}\n{context}"
    );

    let requests = assert_anthropic_requests(&mock, &context);
    assert_eq!(requests.len(), 1, "one upstream request\n{context}");
    assert!(
        requests[0].last_user_text().contains(HELLO_PROMPT),
        "the prompt is the last user message\n{context}"
    );

    let records = gateway.wait_for_records(1, Duration::from_secs(5)).await;
    let record = records
        .iter()
        .find(|r| r["status"] == 200 && r["stream"] == true)
        .unwrap_or_else(|| panic!("a streamed 200 record: {records:#?}\n{context}"));
    assert!(record["error"].is_null(), "a clean stream: {record}");
    assert!(
        record["output_tokens"].as_u64().is_some_and(|t| t > 0),
        "{record}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_tool_round_trip_through_gateway_to_anthropic() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("codex-gw");
    let gateway = gateway_to_anthropic(&mock, &dir);
    let run = run_codex(&format!("{}/v1", gateway.url()), &tool_prompt(), false).await;
    let context = context(&run, &gateway, &mock);

    // Codex ran the command the mock asked for and got its output...
    let executed = run.items("command_execution");
    assert!(
        executed.iter().any(|i| i["exit_code"] == 0
            && i["aggregated_output"]
                .as_str()
                .is_some_and(|o| o.contains(TOOL_TEST_OUTPUT))),
        "Codex ran the marker command\n{context}"
    );
    // ...and the answer to its output came back.
    let text = run.final_message();
    assert!(
        text.starts_with(TOOL_RESULT_PREFIX) && text.contains(TOOL_TEST_OUTPUT),
        "final message {text:?}\n{context}"
    );

    let requests = assert_anthropic_requests(&mock, &context);
    assert_eq!(
        requests.len(),
        2,
        "the tool_use turn and the tool_result turn\n{context}"
    );
    let call = mock
        .issued_tool_calls()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the mock asked for a tool call\n{context}"));
    assert_eq!(call.dialect, Dialect::Anthropic, "{context}");
    assert_eq!(call.name, "exec_command", "{context}");
    let id = call.id.expect("an Anthropic tool_use has an id");

    // The second request replays the tool_use with the same id and input, and answers
    // it with a tool_result carrying that id and the command's output.
    let second = requests[1].json().expect("JSON body");
    let messages = second["messages"].as_array().cloned().unwrap_or_default();
    let tool_use = messages
        .iter()
        .filter(|m| m["role"] == "assistant")
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .find(|b| b["type"] == "tool_use")
        .unwrap_or_else(|| panic!("the assistant's tool_use is replayed\n{context}"));
    assert_eq!(tool_use["id"], id.as_str(), "{context}");
    assert_eq!(tool_use["name"], "exec_command", "{context}");
    assert_eq!(tool_use["input"], call.input, "{context}");
    let results = requests[1].tool_results();
    assert!(
        results
            .iter()
            .any(|(i, t)| *i == id && t.contains(TOOL_TEST_OUTPUT)),
        "a tool_result for {id} with the output, got {results:?}\n{context}"
    );
    assert_eq!(
        messages.last().map(|m| m["role"].clone()),
        Some(Value::from("user")),
        "the tool_result is in the last (user) message\n{context}"
    );

    let records = gateway.wait_for_records(2, Duration::from_secs(5)).await;
    let ok = records
        .iter()
        .filter(|r| r["status"] == 200 && r["stream"] == true && r["error"].is_null())
        .count();
    assert!(ok >= 2, "{records:#?}\n{context}");
}

/// Codex opts into WebSockets (`supports_websockets = true`): it first sends
/// `GET /v1/responses` with `Upgrade: websocket`. The gateway answers 426 and Codex
/// falls back to `POST /v1/responses` quietly, after one attempt. (Codex 0.169.0 also
/// falls back on 404, 405, 500 and 501, but after two attempts and with an `error`
/// item "Falling back from WebSockets to HTTPS transport"; a 400 fails the turn.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_websocket_attempt_is_refused_and_falls_back() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("codex-gw");
    let gateway = gateway_to_anthropic(&mock, &dir);

    // What the gateway answers to the upgrade, as Codex sends it.
    let response = http_client()
        .get(format!("{}/v1/responses", gateway.url()))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("authorization", format!("Bearer {CLIENT_KEY}"))
        .header("openai-beta", "responses_websockets=2026-02-06")
        .send()
        .await
        .expect("GET /v1/responses with Upgrade: websocket");
    let upgrade_status = response.status().as_u16();
    let upgrade_headers = format!("{:?}", response.headers());
    let upgrade_answer = format!(
        "{upgrade_status} {upgrade_headers}: {}",
        response.text().await.unwrap_or_default()
    );
    assert_eq!(
        upgrade_status, 426,
        "the gateway refuses the WebSocket upgrade with 426 Upgrade Required, got {upgrade_answer}"
    );
    assert!(
        mock.requests().is_empty(),
        "the refused upgrade never reached the upstream"
    );

    let run = run_codex(&format!("{}/v1", gateway.url()), HELLO_PROMPT, true).await;
    let context = format!(
        "gateway answered the upgrade with {}\n{}",
        upgrade_answer,
        context(&run, &gateway, &mock)
    );
    assert_eq!(run.final_message(), DEFAULT_REPLY, "{context}");
    assert!(
        run.items("error").is_empty(),
        "Codex fell back quietly (no \"Falling back from WebSockets\" error item)\n{context}"
    );
    let requests = assert_anthropic_requests(&mock, &context);
    assert_eq!(requests.len(), 1, "{context}");

    // Codex did try the upgrade: the gateway recorded a 426 for it besides ours.
    let records = gateway.wait_for_records(3, Duration::from_secs(5)).await;
    let refused = records.iter().filter(|r| r["status"] == 426).count();
    assert_eq!(refused, 2, "{records:#?}\n{context}");
    assert!(
        records
            .iter()
            .any(|r| r["status"] == 200 && r["stream"] == true),
        "{records:#?}\n{context}"
    );
}
