//! The real Gemini CLI (`gemini -p … -o json`, from npm) through the gateway's Gemini
//! front door (`/v1beta/models/{m}:streamGenerateContent?alt=sse`) to an OpenAI Chat
//! Completions upstream (the mock at `/v1/chat/completions`): a plain answer, and a
//! full tool round trip (the CLI runs `echo` through `run_shell_command` and sends the
//! output back). The controls run the same CLI straight at the mock's Gemini dialect.
//!
//! The CLI is kept on loopback: `GOOGLE_GEMINI_BASE_URL`, an API key (no Google
//! login), and a scratch `~/.gemini/settings.json` turning off usage statistics,
//! telemetry, auto-update and its notification, and folder trust (a headless run in an
//! untrusted folder would stop). `GEMINI_CLI_NO_RELAUNCH` keeps it one process, so the
//! timeout's kill ends it.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tollgate_tests::mock::{
    Dialect, DEFAULT_REPLY, TOOL_RESULT_PREFIX, TOOL_TEST_MARKER, TOOL_TEST_OUTPUT,
};
use tollgate_tests::{
    client_command, describe_output, gemini, run_client, Gateway, GatewayConfig, MockUpstream,
    RecordedRequest, TempDir,
};

const GEMINI_TIMEOUT: Duration = Duration::from_secs(120);
const GEMINI_MODEL: &str = "gemini-2.5-flash";
/// What the gateway's target renames it to upstream.
const UPSTREAM_MODEL: &str = "gpt-5.5";
/// The key the CLI sends (`x-goog-api-key`).
const CLIENT_KEY: &str = "gemini-client-key";
/// The key the gateway's target sends upstream instead.
const UPSTREAM_KEY: &str = "sk-openai-upstream-key";

const HELLO_PROMPT: &str = "Say hello.";

fn tool_prompt() -> String {
    format!("Run the marker command with your shell tool. {TOOL_TEST_MARKER}")
}

const SETTINGS: &str = r#"{
  "general": { "enableAutoUpdate": false, "enableAutoUpdateNotification": false },
  "privacy": { "usageStatisticsEnabled": false },
  "telemetry": { "enabled": false },
  "security": {
    "auth": { "selectedType": "gemini-api-key" },
    "folderTrust": { "enabled": false }
  }
}
"#;

/// What one `gemini -p … -o json` run printed.
struct GeminiRun {
    output: Value,
    diagnostics: String,
}

impl GeminiRun {
    fn response(&self) -> &str {
        self.output["response"].as_str().unwrap_or_default()
    }

    /// `stats.models.<GEMINI_MODEL>`.
    fn model_stats(&self) -> &Value {
        &self.output["stats"]["models"][GEMINI_MODEL]
    }
}

/// Runs `gemini -p PROMPT -o json -m GEMINI_MODEL` against `base_url` (a root URL) in
/// a scratch home; `yolo` lets it run tools without asking (and offers its shell tool).
async fn run_gemini(base_url: &str, prompt: &str, yolo: bool) -> GeminiRun {
    let home = TempDir::new("gemini-home");
    let settings_dir = home.path().join(".gemini");
    std::fs::create_dir_all(&settings_dir).expect("create ~/.gemini");
    std::fs::write(settings_dir.join("settings.json"), SETTINGS).expect("write settings.json");
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).expect("create work dir");
    let mut command = client_command(Path::new("node"), home.path());
    command
        .arg(gemini())
        .arg("-p")
        .arg(prompt)
        .arg("-o")
        .arg("json")
        .arg("-m")
        .arg(GEMINI_MODEL)
        .current_dir(&work)
        .env("GEMINI_API_KEY", CLIENT_KEY)
        .env("GOOGLE_GEMINI_BASE_URL", base_url)
        .env("GEMINI_CLI_NO_RELAUNCH", "true");
    if yolo {
        command.arg("--approval-mode").arg("yolo");
    }
    let output = run_client(command, GEMINI_TIMEOUT).await;
    let diagnostics = describe_output(&output);
    assert!(output.status.success(), "gemini -p failed:\n{diagnostics}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = stdout.find('{').map_or("", |start| &stdout[start..]);
    let output: Value = serde_json::from_str(json.trim())
        .unwrap_or_else(|e| panic!("no JSON output from gemini -p ({e}):\n{diagnostics}"));
    assert!(
        output.get("error").is_none_or(Value::is_null),
        "{diagnostics}"
    );
    let run = GeminiRun {
        output,
        diagnostics,
    };
    assert_eq!(
        run.model_stats()["api"]["totalErrors"],
        0,
        "no API error\n{}",
        run.diagnostics
    );
    run
}

/// A gateway with one endpoint: Gemini front door, the mock as an OpenAI target with
/// its own key and model.
fn gateway_to_openai(mock: &MockUpstream, dir: &TempDir) -> Gateway {
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[endpoints]]\nname = \"gemini\"\nfront_door = \"gemini\"\n\
             [[endpoints.targets]]\nname = \"mock\"\nprovider = \"openai\"\n\
             base_url = \"{}\"\napi_key = \"{UPSTREAM_KEY}\"\nmodel = \"{UPSTREAM_MODEL}\"\n",
            mock.base_url()
        ),
    )
    .expect("write gateway config");
    GatewayConfig::default().config(&config).start()
}

fn context(run: &GeminiRun, gateway: &Gateway, mock: &MockUpstream) -> String {
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

/// Every request reached the mock translated: Chat Completions, streamed with usage,
/// with the target's key and model, the system instruction and the CLI's function
/// tools. Returns them.
fn assert_openai_requests(mock: &MockUpstream, context: &str) -> Vec<RecordedRequest> {
    let generation = mock.generation_requests();
    assert!(
        !generation.is_empty(),
        "no request reached the mock\n{context}"
    );
    for r in &generation {
        assert_eq!(
            r.dialect(),
            Some(Dialect::OpenAiChat),
            "every upstream request is Chat Completions (POST /v1/chat/completions), got {} {}\n{context}",
            r.method,
            r.path
        );
        assert!(r.is_stream(), "streamed upstream\n{context}");
        assert_eq!(r.model().as_deref(), Some(UPSTREAM_MODEL), "{context}");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str()),
            "{context}"
        );
        for (name, value) in &r.headers {
            assert!(
                !value.to_str().unwrap_or_default().contains(CLIENT_KEY),
                "the client's key leaked upstream in `{name}`\n{context}"
            );
        }
        assert!(
            r.query.as_deref().is_none_or(|q| !q.contains(CLIENT_KEY)),
            "the client's key leaked upstream in the query\n{context}"
        );
        let body = r.json().expect("JSON body");
        assert_eq!(
            body["stream_options"]["include_usage"], true,
            "a streamed Chat Completions request asks for usage (else none comes)\n{context}"
        );
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let first_role = messages.first().map(|m| m["role"].clone());
        assert!(
            first_role == Some(Value::from("system"))
                || first_role == Some(Value::from("developer")),
            "the CLI's systemInstruction leads as a system/developer message\n{context}"
        );
        let tools = body["tools"].as_array().cloned().unwrap_or_default();
        let read_file = tools
            .iter()
            .find(|t| t["type"] == "function" && t["function"]["name"] == "read_file")
            .unwrap_or_else(|| panic!("the CLI's read_file tool is offered upstream\n{context}"));
        assert!(
            read_file["function"]["parameters"]["properties"]["file_path"].is_object(),
            "read_file keeps its JSON schema: {read_file}\n{context}"
        );
    }
    generation
}

/// Control: the CLI and the mock's Gemini dialect agree on a plain answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_cli_against_mock_directly() {
    let mock = MockUpstream::start().await;
    let run = run_gemini(&mock.base_url(), HELLO_PROMPT, false).await;
    assert_eq!(run.response(), DEFAULT_REPLY, "{}", run.diagnostics);
    let requests = mock.requests_in(Dialect::Gemini);
    assert!(
        requests.iter().any(|r| r.is_stream()
            && r.query_param("alt") == Some("sse")
            && r.header("x-goog-api-key") == Some(CLIENT_KEY)),
        "{}",
        run.diagnostics
    );
}

/// Control: the tool round trip against the mock's Gemini dialect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_cli_tool_round_trip_against_mock_directly() {
    let mock = MockUpstream::start().await;
    let run = run_gemini(&mock.base_url(), &tool_prompt(), true).await;
    let text = run.response();
    assert!(
        text.starts_with(TOOL_RESULT_PREFIX) && text.contains(TOOL_TEST_OUTPUT),
        "response {text:?}\n{}",
        run.diagnostics
    );
    assert!(
        mock.issued_tool_calls()
            .iter()
            .any(|c| c.name == "run_shell_command"),
        "{}",
        run.diagnostics
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_cli_through_gateway_to_openai() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("gemini-gw");
    let gateway = gateway_to_openai(&mock, &dir);
    let run = run_gemini(gateway.url(), HELLO_PROMPT, false).await;
    let context = context(&run, &gateway, &mock);

    assert_eq!(run.response(), DEFAULT_REPLY, "{context}");
    let tokens = &run.model_stats()["tokens"];
    assert!(
        tokens["prompt"].as_u64().is_some_and(|t| t > 0)
            && tokens["candidates"].as_u64().is_some_and(|t| t > 0),
        "the upstream's usage reached the CLI as usageMetadata: {tokens}\n{context}"
    );

    let requests = assert_openai_requests(&mock, &context);
    assert_eq!(requests.len(), 1, "one upstream request\n{context}");
    assert!(
        requests[0].last_user_text().contains(HELLO_PROMPT),
        "the prompt is in the last user message\n{context}"
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
async fn gemini_cli_tool_round_trip_through_gateway_to_openai() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("gemini-gw");
    let gateway = gateway_to_openai(&mock, &dir);
    let run = run_gemini(gateway.url(), &tool_prompt(), true).await;
    let context = context(&run, &gateway, &mock);

    let text = run.response();
    assert!(
        text.starts_with(TOOL_RESULT_PREFIX) && text.contains(TOOL_TEST_OUTPUT),
        "response {text:?}\n{context}"
    );
    let tools = &run.output["stats"]["tools"];
    assert!(
        tools["byName"]["run_shell_command"]["success"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "the CLI ran run_shell_command: {tools}\n{context}"
    );

    let requests = assert_openai_requests(&mock, &context);
    assert_eq!(
        requests.len(),
        2,
        "the tool-call turn and the tool-result turn\n{context}"
    );
    let call = mock
        .issued_tool_calls()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the mock asked for a tool call\n{context}"));
    assert_eq!(call.dialect, Dialect::OpenAiChat, "{context}");
    assert_eq!(call.name, "run_shell_command", "{context}");
    let id = call.id.expect("a Chat Completions tool call has an id");

    // The second request replays the assistant's call under the mock's id (Gemini's
    // functionCall carried none) and answers it with a `tool` message for that id.
    let second = requests[1].json().expect("JSON body");
    let messages = second["messages"].as_array().cloned().unwrap_or_default();
    let replayed = messages
        .iter()
        .filter(|m| m["role"] == "assistant")
        .flat_map(|m| m["tool_calls"].as_array().cloned().unwrap_or_default())
        .find(|c| c["function"]["name"] == "run_shell_command")
        .unwrap_or_else(|| panic!("the assistant's tool call is replayed\n{context}"));
    assert_eq!(replayed["id"], id.as_str(), "{context}");
    let arguments: Value = replayed["function"]["arguments"]
        .as_str()
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    assert_eq!(arguments, call.input, "{context}");
    let results = requests[1].tool_results();
    assert!(
        results
            .iter()
            .any(|(i, t)| *i == id && t.contains(TOOL_TEST_OUTPUT)),
        "a tool message for {id} with the output, got {results:?}\n{context}"
    );

    let records = gateway.wait_for_records(2, Duration::from_secs(5)).await;
    let ok = records
        .iter()
        .filter(|r| r["status"] == 200 && r["stream"] == true && r["error"].is_null())
        .count();
    assert!(ok >= 2, "{records:#?}\n{context}");
}
