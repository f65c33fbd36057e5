//! The official `openai` Python SDK (Chat Completions and Responses) through the
//! gateway to an Anthropic-format upstream: front doors `openai` and
//! `openai-responses`, target provider `anthropic`. Judged by what the SDK got
//! (`tests/clients/openai_sdk_check.py`) and by the Messages requests the mock
//! received: model mapped, tools translated, tool results sent back under the ids the
//! upstream gave, errors as the SDK's own types. A control run points the same script
//! at the mock's own OpenAI dialect.

use std::time::Duration;

use serde_json::Value;
use tollgate_tests::mock::{TOOL_TEST_COMMAND, TOOL_TEST_MARKER, TOOL_TEST_OUTPUT};
use tollgate_tests::{
    describe_output, last_json_line, run_python_check, translated_config, Dialect, GatewayConfig,
    MockUpstream, RecordedRequest, TempDir,
};

const SCRIPT: &str = "openai_sdk_check.py";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
const CLIENT_MODEL: &str = "gpt-5.2";
const UPSTREAM_MODEL: &str = "claude-sonnet-5-5";
const UPSTREAM_KEY: &str = "sk-ant-upstream";

/// Control: the SDK is happy with the mock's OpenAI dialects, so a failure through the
/// gateway is the gateway's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_against_mock_directly() {
    let mock = MockUpstream::start().await;
    let output = run_python_check(SCRIPT, &mock.base_url(), &[], SCRIPT_TIMEOUT).await;
    assert!(output.status.success(), "{}", describe_output(&output));
    let summary = last_json_line(&output);
    let chat = mock.requests_in(Dialect::OpenAiChat);
    let responses = mock.requests_in(Dialect::OpenAiResponses);
    assert!(
        chat.len() >= 6 && responses.len() >= 6,
        "{chat:?} {responses:?}"
    );
    let issued: Vec<Option<String>> = mock.issued_tool_calls().into_iter().map(|c| c.id).collect();
    for key in ["chat_tool_id", "responses_call_id"] {
        let id = summary[key].as_str().map(str::to_owned);
        assert!(id.is_some() && issued.contains(&id), "{key}: {summary}");
    }
}

fn body(r: &RecordedRequest) -> Value {
    r.json().unwrap_or(Value::Null)
}

/// Every message of an Anthropic request, and the text of the whole request.
fn messages(r: &RecordedRequest) -> Vec<Value> {
    body(r)["messages"].as_array().cloned().unwrap_or_default()
}

/// The tool_result blocks of an Anthropic request's last message.
fn tool_results(r: &RecordedRequest) -> Vec<Value> {
    messages(r)
        .last()
        .and_then(|m| m["content"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|b| b["type"] == "tool_result")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_through_gateway_to_anthropic_upstream() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("openai-sdk");
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        translated_config(
            &["openai", "openai-responses"],
            "anthropic",
            &mock.base_url(),
            UPSTREAM_KEY,
            &[(CLIENT_MODEL, UPSTREAM_MODEL)],
        ),
    )
    .expect("config");
    let gateway = GatewayConfig::default().config(&config).start();
    let output = run_python_check(SCRIPT, gateway.url(), &[], SCRIPT_TIMEOUT).await;
    let requests = mock.requests();
    let context = format!(
        "{}\n--- requests the mock received ---\n{}\n--- gateway stderr ---\n{}",
        describe_output(&output),
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
    assert!(output.status.success(), "{context}");
    let summary = last_json_line(&output);

    // Only Anthropic Messages requests reached the upstream, with its credential.
    let generation: Vec<&RecordedRequest> = requests.iter().filter(|r| r.is_generation()).collect();
    assert!(generation.len() >= 14, "{context}");
    for r in &generation {
        assert!(
            r.is_messages(),
            "{} {} reached the Anthropic upstream\n{context}",
            r.method,
            r.path
        );
        assert_eq!(r.header("x-api-key"), Some(UPSTREAM_KEY), "{context}");
        assert!(
            r.header("authorization").is_none(),
            "the client's key stays out: {context}"
        );
        assert!(
            r.header("anthropic-version").is_some(),
            "anthropic-version set\n{context}"
        );
        assert!(
            body(r)["max_tokens"].as_u64().is_some_and(|t| t > 0),
            "{context}"
        );
    }

    // The model is mapped; unmapped (fault) models pass unchanged.
    let models: Vec<String> = generation.iter().filter_map(|r| r.model()).collect();
    for m in &models {
        assert!(
            m == UPSTREAM_MODEL || m.starts_with("mock-error-"),
            "model {m} reached the upstream (expected {UPSTREAM_MODEL})\n{context}"
        );
    }
    for m in ["mock-error-429", "mock-error-500"] {
        assert!(
            models.iter().any(|x| x == m),
            "{m} reached the upstream\n{context}"
        );
    }
    assert!(generation.iter().any(|r| r.is_stream()), "{context}");
    assert!(generation.iter().any(|r| !r.is_stream()), "{context}");

    // Responses `instructions` became the system prompt.
    assert!(
        generation
            .iter()
            .any(|r| body(r)["system"].to_string().contains("Be brief.")),
        "instructions → system\n{context}"
    );

    // The function tool reached the upstream as an Anthropic tool.
    let with_tools: Vec<&&RecordedRequest> = generation
        .iter()
        .filter(|r| body(r)["tools"].as_array().is_some_and(|t| !t.is_empty()))
        .collect();
    // 2 × (call, streamed call, result).
    assert_eq!(with_tools.len(), 6, "{context}");
    assert_eq!(
        with_tools
            .iter()
            .filter(|r| r.last_user_text().contains(TOOL_TEST_MARKER))
            .count(),
        4,
        "{context}"
    );
    for r in &with_tools {
        let tools = body(r)["tools"].as_array().cloned().unwrap_or_default();
        assert_eq!(tools.len(), 1, "{context}");
        assert_eq!(tools[0]["name"], "run_shell", "{context}");
        assert_eq!(tools[0]["input_schema"]["type"], "object", "{context}");
        assert_eq!(
            tools[0]["input_schema"]["properties"]["command"]["type"], "string",
            "{context}"
        );
    }

    // Each round trip sent the result back under the id the upstream gave the call, the
    // id the SDK saw, with the call itself in the assistant turn before it.
    let issued: Vec<String> = mock
        .issued_tool_calls()
        .into_iter()
        .filter_map(|c| c.id)
        .collect();
    assert_eq!(issued.len(), 4, "four tool calls issued\n{context}");
    for key in [
        "chat_tool_id",
        "chat_tool_stream_id",
        "responses_call_id",
        "responses_stream_call_id",
    ] {
        let id = summary[key].as_str().unwrap_or_default();
        assert!(
            issued.iter().any(|i| i == id),
            "{key} {id:?}: the SDK saw the upstream's id (issued: {issued:?})\n{context}"
        );
    }
    let round_trips: Vec<&&RecordedRequest> = generation
        .iter()
        .filter(|r| !tool_results(r).is_empty())
        .collect();
    assert_eq!(
        round_trips.len(),
        2,
        "chat and responses round trips\n{context}"
    );
    for (r, key) in round_trips
        .iter()
        .zip(["chat_tool_id", "responses_call_id"])
    {
        let results = tool_results(r);
        assert_eq!(results.len(), 1, "{context}");
        let id = results[0]["tool_use_id"].as_str().unwrap_or_default();
        assert_eq!(Some(id), summary[key].as_str(), "{key}\n{context}");
        assert!(
            results[0]["content"].to_string().contains(TOOL_TEST_OUTPUT),
            "{context}"
        );
        let msgs = messages(r);
        let assistant = &msgs[msgs.len() - 2];
        assert_eq!(assistant["role"], "assistant", "{context}");
        let uses: Vec<&Value> = assistant["content"]
            .as_array()
            .map(|b| b.iter().filter(|b| b["type"] == "tool_use").collect())
            .unwrap_or_default();
        assert_eq!(uses.len(), 1, "{context}");
        assert_eq!(uses[0]["id"], id, "{context}");
        assert_eq!(uses[0]["name"], "run_shell", "{context}");
        assert_eq!(uses[0]["input"]["command"], TOOL_TEST_COMMAND, "{context}");
    }

    // models.list is answered by the gateway (the models the endpoint reaches).
    assert!(
        summary["models"].as_array().is_some_and(|m| !m.is_empty()),
        "{context}"
    );

    // The gateway recorded the traffic with usage.
    let records = gateway.wait_for_records(14, Duration::from_secs(5)).await;
    let ok: Vec<&Value> = records
        .iter()
        .filter(|r| r["status"] == 200 && r["operation"] == "chat")
        .collect();
    assert!(ok.iter().any(|r| r["stream"] == true), "{records:#?}");
    for r in &ok {
        assert!(r["input_tokens"].as_u64().is_some_and(|t| t > 0), "{r}");
        assert!(r["output_tokens"].as_u64().is_some_and(|t| t > 0), "{r}");
    }
    assert!(records.iter().any(|r| r["status"] == 429), "{records:#?}");
}
