//! The real Claude Code CLI (`claude -p`, native binary from npm) through the gateway
//! to the mock upstream: a plain answer, and a full tool round trip (the CLI runs
//! `echo` and sends the tool_result back). Each has a control run straight at the mock.
//! The tool round trip also runs translated to an OpenAI-format upstream.

use std::time::Duration;

use serde_json::Value;
use tollgate_tests::mock::{
    DEFAULT_REPLY, TOOL_RESULT_PREFIX, TOOL_TEST_COMMAND, TOOL_TEST_MARKER, TOOL_TEST_OUTPUT,
};
use tollgate_tests::{
    claude, client_command, describe_output, run_client, translated_config, Gateway, GatewayConfig,
    MockUpstream, RecordedRequest, TempDir,
};

const CLAUDE_TIMEOUT: Duration = Duration::from_secs(90);

/// What one `claude -p` run printed.
struct ClaudeRun {
    result: Value,
    diagnostics: String,
}

/// Runs `claude -p PROMPT --output-format json` against `base_url`, kept on loopback
/// and away from every non-essential call.
async fn run_claude(base_url: &str, prompt: &str, extra_args: &[&str]) -> ClaudeRun {
    let home = TempDir::new("claude-home");
    let mut command = client_command(&claude(), home.path());
    command
        .arg("-p")
        .arg(prompt)
        .arg("--output-format")
        .arg("json")
        .args(extra_args)
        .env("ANTHROPIC_BASE_URL", base_url)
        .env("ANTHROPIC_API_KEY", "sk-ant-test")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_NON_ESSENTIAL_MODEL_CALLS", "1")
        .env("CLAUDE_CODE_DISABLE_TERMINAL_TITLE", "1");
    let output = run_client(command, CLAUDE_TIMEOUT).await;
    let diagnostics = describe_output(&output);
    assert!(output.status.success(), "claude -p failed:\n{diagnostics}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line.trim()).ok())
        .unwrap_or_else(|| panic!("no JSON result from claude -p:\n{diagnostics}"));
    assert_eq!(result["is_error"], false, "{diagnostics}");
    ClaudeRun {
        result,
        diagnostics,
    }
}

/// The agent's own requests: the ones that declare the `Bash` tool.
fn is_main(request: &RecordedRequest) -> bool {
    request
        .json()
        .and_then(|v| v.get("tools").cloned())
        .and_then(|t| t.as_array().cloned())
        .is_some_and(|tools| tools.iter().any(|t| t["name"] == "Bash"))
}

/// Every `/v1/messages` call for the main model streamed (Claude Code silently retries
/// without streaming when a stream is malformed) and carried the client's headers.
/// Returns the main requests.
fn assert_main_requests_streamed(mock: &MockUpstream, context: &str) -> Vec<RecordedRequest> {
    let messages = mock.messages_requests();
    let main: Vec<RecordedRequest> = messages.iter().filter(|r| is_main(r)).cloned().collect();
    assert!(
        !main.is_empty(),
        "no main agent request reached the mock\n{context}"
    );
    let main_model = main[0].model().unwrap_or_default();
    for r in messages
        .iter()
        .filter(|r| r.model().as_deref() == Some(main_model.as_str()))
    {
        assert!(
            r.is_stream(),
            "a non-streamed request for the main model {main_model} reached the mock: \
             the stream was not accepted and Claude Code fell back\n{context}"
        );
    }
    for r in &main {
        assert_eq!(r.header("x-api-key"), Some("sk-ant-test"), "{context}");
        assert!(r.header("anthropic-version").is_some(), "{context}");
        assert!(
            r.header("anthropic-beta").is_some_and(|b| !b.is_empty()),
            "anthropic-beta reaches the upstream\n{context}"
        );
    }
    main
}

fn hello_check(mock: &MockUpstream, run: &ClaudeRun, context: &str) {
    let text = run.result["result"].as_str().unwrap_or_default();
    assert!(text.contains(DEFAULT_REPLY), "result: {text:?}\n{context}");
    let main = assert_main_requests_streamed(mock, context);
    assert_eq!(
        main.len(),
        1,
        "exactly one main request (no retry) reached the mock\n{context}"
    );
}

fn tool_check(mock: &MockUpstream, run: &ClaudeRun, context: &str) {
    let text = run.result["result"].as_str().unwrap_or_default();
    assert!(
        text.contains(TOOL_RESULT_PREFIX) && text.contains(TOOL_TEST_OUTPUT),
        "result: {text:?}\n{context}"
    );
    let main = assert_main_requests_streamed(mock, context);
    assert!(
        main.len() >= 2,
        "the tool_result came back in a second request\n{context}"
    );
    let sent_result = main.iter().any(|r| {
        r.json()
            .and_then(|v| v["messages"].as_array().cloned())
            .and_then(|m| m.last().cloned())
            .and_then(|last| last["content"].as_array().cloned())
            .is_some_and(|blocks| {
                blocks.iter().any(|b| {
                    b["type"] == "tool_result"
                        && b["content"].to_string().contains(TOOL_TEST_OUTPUT)
                })
            })
    });
    assert!(
        sent_result,
        "a tool_result with {TOOL_TEST_OUTPUT} reached the mock\n{context}"
    );
}

const HELLO_PROMPT: &str = "Say hello.";

fn tool_prompt() -> String {
    format!("Run the marker command with the Bash tool. {TOOL_TEST_MARKER}")
}

const TOOL_ARGS: &[&str] = &["--allowedTools", "Bash(echo:*)"];

/// Control: Claude Code is happy with the mock itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_against_mock_directly() {
    let mock = MockUpstream::start().await;
    let run = run_claude(&mock.base_url(), HELLO_PROMPT, &[]).await;
    hello_check(&mock, &run, &run.diagnostics);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_tool_round_trip_against_mock_directly() {
    let mock = MockUpstream::start().await;
    let run = run_claude(&mock.base_url(), &tool_prompt(), TOOL_ARGS).await;
    tool_check(&mock, &run, &run.diagnostics);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_through_gateway() {
    let mock = MockUpstream::start().await;
    let gateway = Gateway::with_upstream(&mock);
    let run = run_claude(gateway.url(), HELLO_PROMPT, &[]).await;
    let context = format!(
        "{}\n--- gateway stderr ---\n{}",
        run.diagnostics,
        gateway.stderr()
    );
    hello_check(&mock, &run, &context);

    let records = gateway.wait_for_records(1, Duration::from_secs(5)).await;
    let main = records
        .iter()
        .find(|r| r["stream"] == true && r["status"] == 200)
        .unwrap_or_else(|| panic!("a streamed 200 record: {records:#?}"));
    assert!(
        main["input_tokens"].as_u64().is_some_and(|t| t > 0),
        "{main}"
    );
    assert!(
        main["output_tokens"].as_u64().is_some_and(|t| t > 0),
        "{main}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_tool_round_trip_through_gateway() {
    let mock = MockUpstream::start().await;
    let gateway = Gateway::with_upstream(&mock);
    let run = run_claude(gateway.url(), &tool_prompt(), TOOL_ARGS).await;
    let context = format!(
        "{}\n--- gateway stderr ---\n{}",
        run.diagnostics,
        gateway.stderr()
    );
    tool_check(&mock, &run, &context);
    let records = gateway.wait_for_records(2, Duration::from_secs(5)).await;
    assert!(
        records.iter().filter(|r| r["status"] == 200).count() >= 2,
        "{records:#?}"
    );
}

/// The same tool round trip with the gateway decoding every request into the
/// canonical model and encoding it again (`translate = true`), and rebuilding the
/// stream event by event: the canonical model carries everything Claude Code sends
/// and expects, and the stream it gets back is one it accepts without falling back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_tool_round_trip_through_canonical_translation() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("translate");
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[endpoints]]\nname = \"claude\"\nfront_door = \"anthropic\"\n\
             [[endpoints.targets]]\nname = \"mock\"\nprovider = \"anthropic\"\n\
             base_url = \"{}\"\ntranslate = true\n",
            mock.base_url()
        ),
    )
    .expect("config");
    let gateway = GatewayConfig::default().config(&config).start();
    let run = run_claude(gateway.url(), &tool_prompt(), TOOL_ARGS).await;
    let context = format!(
        "{}\n--- gateway stderr ---\n{}",
        run.diagnostics,
        gateway.stderr()
    );
    tool_check(&mock, &run, &context);
    let records = gateway.wait_for_records(2, Duration::from_secs(5)).await;
    let ok: Vec<_> = records
        .iter()
        .filter(|r| r["status"] == 200 && r["stream"] == true)
        .collect();
    assert!(ok.len() >= 2, "{records:#?}");
    for r in ok {
        assert!(r["error"].is_null(), "a clean translated stream: {r}");
        assert!(
            r["output_tokens"].as_u64().is_some_and(|t| t > 0),
            "usage read from the translated stream: {r}"
        );
    }
    // What reached the upstream kept Claude Code's fields the canonical model
    // carries only as `extra`.
    let main = mock
        .messages_requests()
        .into_iter()
        .find(is_main)
        .expect("main request");
    let body = main.json().expect("json body");
    for field in ["system", "tools", "metadata", "thinking", "max_tokens"] {
        assert!(
            body.get(field).is_some(),
            "`{field}` survives translation: {body}"
        );
    }
}

/// Claude Code through the gateway to an OpenAI-format upstream (front door
/// `anthropic`, target provider `openai`, every model mapped to `gpt-5.2`): the tool
/// round trip works, every agent request reached the upstream as a streamed Chat
/// Completions request with Claude Code's tools as functions, and the tool result went
/// back as a `tool` message under the id of the upstream's call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_tool_round_trip_to_openai_upstream() {
    const UPSTREAM_MODEL: &str = "gpt-5.2";
    const UPSTREAM_KEY: &str = "sk-openai-upstream";
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("claude-openai");
    let config = dir.path().join("tollgate.toml");
    let mut toml = translated_config(
        &["anthropic"],
        "openai",
        &mock.base_url(),
        UPSTREAM_KEY,
        &[],
    );
    toml.push_str(&format!("model = \"{UPSTREAM_MODEL}\"\n"));
    std::fs::write(&config, toml).expect("config");
    let gateway = GatewayConfig::default().config(&config).start();
    let run = run_claude(gateway.url(), &tool_prompt(), TOOL_ARGS).await;
    let requests = mock.generation_requests();
    let context = format!(
        "{}\n--- requests the mock received ---\n{}\n--- gateway stderr ---\n{}",
        run.diagnostics,
        requests
            .iter()
            .map(|r| format!(
                "{} {} {}",
                r.method,
                r.path,
                String::from_utf8_lossy(&r.body)
            ))
            .collect::<Vec<_>>()
            .join("\n"),
        gateway.stderr()
    );
    let text = run.result["result"].as_str().unwrap_or_default();
    assert!(
        text.contains(TOOL_RESULT_PREFIX) && text.contains(TOOL_TEST_OUTPUT),
        "result: {text:?}\n{context}"
    );

    assert!(!requests.is_empty(), "{context}");
    for r in &requests {
        assert!(
            r.is_chat_completions(),
            "{} {}\n{context}",
            r.method,
            r.path
        );
        assert_eq!(r.model().as_deref(), Some(UPSTREAM_MODEL), "{context}");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str()),
            "{context}"
        );
        assert!(r.header("x-api-key").is_none(), "{context}");
    }
    let main: Vec<&RecordedRequest> = requests
        .iter()
        .filter(|r| r.tool_names().iter().any(|n| n == "Bash"))
        .collect();
    assert!(
        main.len() >= 2,
        "the tool result came back in a second request\n{context}"
    );
    for r in &main {
        assert!(r.is_stream(), "the agent's requests stream\n{context}");
        let body = r.json().unwrap_or_default();
        assert_eq!(body["stream_options"]["include_usage"], true, "{context}");
        for tool in body["tools"].as_array().into_iter().flatten() {
            assert_eq!(
                tool["type"], "function",
                "tools as functions: {tool}\n{context}"
            );
            assert!(tool["function"]["name"].is_string(), "{tool}\n{context}");
            assert_eq!(
                tool["function"]["parameters"]["type"], "object",
                "{tool}\n{context}"
            );
        }
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        assert!(
            messages
                .first()
                .is_some_and(|m| m["role"] == "system" || m["role"] == "developer"),
            "Claude Code's system prompt → a system message\n{context}"
        );
    }

    let issued: Vec<String> = mock
        .issued_tool_calls()
        .into_iter()
        .filter(|c| c.name == "Bash")
        .filter_map(|c| c.id)
        .collect();
    let round_trip = main
        .iter()
        .find(|r| !r.tool_results().is_empty())
        .unwrap_or_else(|| panic!("a request ending in the tool result\n{context}"));
    let body = round_trip.json().unwrap_or_default();
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let tool_message = messages.last().expect("messages");
    assert_eq!(tool_message["role"], "tool", "{context}");
    assert!(
        tool_message["content"]
            .to_string()
            .contains(TOOL_TEST_OUTPUT),
        "{context}"
    );
    let id = tool_message["tool_call_id"].as_str().unwrap_or_default();
    assert!(
        issued.iter().any(|i| i == id),
        "the tool result answers the upstream's call id ({id:?}, issued {issued:?})\n{context}"
    );
    let assistant = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "assistant")
        .unwrap_or_else(|| panic!("an assistant turn\n{context}"));
    let calls = assistant["tool_calls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let call = calls
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("the assistant turn holds call {id}: {assistant}\n{context}"));
    assert_eq!(call["type"], "function", "{context}");
    assert_eq!(call["function"]["name"], "Bash", "{context}");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or("null"))
            .unwrap_or(Value::Null);
    assert_eq!(args["command"], TOOL_TEST_COMMAND, "{context}");

    let records = gateway.wait_for_records(2, Duration::from_secs(5)).await;
    let ok: Vec<_> = records
        .iter()
        .filter(|r| r["status"] == 200 && r["stream"] == true)
        .collect();
    assert!(ok.len() >= 2, "{records:#?}");
    for r in ok {
        assert!(
            r["output_tokens"].as_u64().is_some_and(|t| t > 0),
            "usage read from the OpenAI stream: {r}"
        );
    }
}
