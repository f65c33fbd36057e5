//! The official `google-genai` Python SDK through the gateway to an OpenAI-format
//! upstream: front door `gemini`, target provider `openai`. Judged by what the SDK got
//! (`tests/clients/genai_sdk_check.py`) and by the Chat Completions requests the mock
//! received: model mapped, system instruction and limits carried, the function
//! declaration sent as a function tool, the function response sent back as a `tool`
//! message under the id of the call, streams asking for usage, errors as the SDK's
//! own types. A control run points the same script at the mock's own Gemini dialect.

use std::time::Duration;

use serde_json::Value;
use tollgate_tests::mock::{TOOL_TEST_COMMAND, TOOL_TEST_MARKER, TOOL_TEST_OUTPUT};
use tollgate_tests::{
    describe_output, last_json_line, run_python_check, translated_config, Dialect, GatewayConfig,
    MockUpstream, RecordedRequest, TempDir,
};

const SCRIPT: &str = "genai_sdk_check.py";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
const CLIENT_MODEL: &str = "gemini-2.5-flash";
const UPSTREAM_MODEL: &str = "gpt-5.2";
const UPSTREAM_KEY: &str = "sk-openai-upstream";

/// Control: the SDK is happy with the mock's Gemini dialect (both API versions), so a
/// failure through the gateway is the gateway's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genai_sdk_against_mock_directly() {
    let mock = MockUpstream::start().await;
    let output = run_python_check(SCRIPT, &mock.base_url(), &[], SCRIPT_TIMEOUT).await;
    assert!(output.status.success(), "{}", describe_output(&output));
    let requests = mock.requests_in(Dialect::Gemini);
    assert_eq!(
        requests.iter().filter(|r| r.is_gemini_generate()).count(),
        9
    );
    assert!(requests.iter().any(|r| r.path.starts_with("/v1/models/")));
    assert!(requests
        .iter()
        .any(|r| r.path.starts_with("/v1beta/models/")));
    assert!(requests
        .iter()
        .all(|r| r.header("x-goog-api-key") == Some("g-test-key")));
    assert!(requests
        .iter()
        .filter(|r| r.is_stream())
        .all(|r| r.query_param("alt") == Some("sse")));
}

fn body(r: &RecordedRequest) -> Value {
    r.json().unwrap_or(Value::Null)
}

fn messages(r: &RecordedRequest) -> Vec<Value> {
    body(r)["messages"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genai_sdk_through_gateway_to_openai_upstream() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("genai-sdk");
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        translated_config(
            &["gemini"],
            "openai",
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

    // Only Chat Completions requests reached the upstream, with its credential.
    let generation: Vec<&RecordedRequest> = requests.iter().filter(|r| r.is_generation()).collect();
    assert_eq!(generation.len(), 9, "{context}");
    for r in &generation {
        assert!(
            r.is_chat_completions(),
            "{} {} reached the OpenAI upstream\n{context}",
            r.method,
            r.path
        );
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str()),
            "{context}"
        );
        assert!(r.header("x-goog-api-key").is_none(), "{context}");
        assert!(
            r.query.is_none(),
            "no Gemini query on the OpenAI upstream\n{context}"
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
    for m in ["mock-error-429", "mock-error-500", "mock-error-503"] {
        assert!(
            models.iter().any(|x| x == m),
            "{m} reached the upstream\n{context}"
        );
    }

    // Streams ask for usage; the v1beta call carried its system instruction and limits.
    let streamed: Vec<&&RecordedRequest> = generation.iter().filter(|r| r.is_stream()).collect();
    assert_eq!(streamed.len(), 3, "{context}");
    for r in &streamed {
        assert_eq!(
            body(r)["stream_options"]["include_usage"],
            true,
            "a streamed request asks for usage\n{context}"
        );
    }
    let briefed = generation
        .iter()
        .find(|r| r.last_user_text().contains("via v1beta"))
        .unwrap_or_else(|| panic!("the v1beta request\n{context}"));
    let b = body(briefed);
    let first = &messages(briefed)[0];
    assert!(
        (first["role"] == "system" || first["role"] == "developer")
            && first["content"].to_string().contains("Be brief."),
        "system instruction → system message: {b}\n{context}"
    );
    assert!(
        b["max_completion_tokens"] == 64 || b["max_tokens"] == 64,
        "max_output_tokens carried: {b}\n{context}"
    );
    assert_eq!(b["temperature"], 0.2, "temperature carried\n{context}");

    // The function declaration reached the upstream as a function tool.
    let with_tools: Vec<&&RecordedRequest> = generation
        .iter()
        .filter(|r| body(r)["tools"].as_array().is_some_and(|t| !t.is_empty()))
        .collect();
    assert_eq!(
        with_tools.len(),
        3,
        "call, streamed call, result\n{context}"
    );
    for r in &with_tools {
        let tools = body(r)["tools"].as_array().cloned().unwrap_or_default();
        assert_eq!(tools.len(), 1, "{context}");
        assert_eq!(tools[0]["type"], "function", "{context}");
        let f = &tools[0]["function"];
        assert_eq!(f["name"], "run_shell_command", "{context}");
        assert_eq!(f["parameters"]["type"], "object", "{context}");
        assert_eq!(
            f["parameters"]["properties"]["command"]["type"], "string",
            "{context}"
        );
    }
    assert_eq!(
        with_tools
            .iter()
            .filter(|r| r.last_user_text().contains(TOOL_TEST_MARKER))
            .count(),
        3,
        "{context}"
    );

    // The function response came back as a `tool` message answering the assistant's
    // call under the id the upstream gave it (the SDK saw that id too).
    let issued: Vec<String> = mock
        .issued_tool_calls()
        .into_iter()
        .filter_map(|c| c.id)
        .collect();
    assert_eq!(issued.len(), 2, "{context}");
    let round_trip = generation
        .iter()
        .find(|r| !r.tool_results().is_empty())
        .unwrap_or_else(|| panic!("a request with the tool result\n{context}"));
    let msgs = messages(round_trip);
    let tool_message = msgs.last().expect("messages");
    assert_eq!(tool_message["role"], "tool", "{context}");
    let result_id = tool_message["tool_call_id"].as_str().unwrap_or_default();
    assert!(
        tool_message["content"]
            .to_string()
            .contains(TOOL_TEST_OUTPUT),
        "{context}"
    );
    let assistant = &msgs[msgs.len() - 2];
    assert_eq!(assistant["role"], "assistant", "{context}");
    let calls = assistant["tool_calls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(calls.len(), 1, "{context}");
    assert_eq!(calls[0]["type"], "function", "{context}");
    assert_eq!(
        calls[0]["id"], result_id,
        "the result answers the call\n{context}"
    );
    assert_eq!(
        calls[0]["function"]["name"], "run_shell_command",
        "{context}"
    );
    let args: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap_or("null"))
            .unwrap_or(Value::Null);
    assert_eq!(args["command"], TOOL_TEST_COMMAND, "{context}");
    assert!(
        issued.iter().any(|i| i == result_id),
        "the call keeps the id the upstream gave it ({result_id:?}, issued {issued:?})\n{context}"
    );
    assert_eq!(
        summary["call_id"].as_str(),
        Some(result_id),
        "the SDK saw the upstream's call id as functionCall.id\n{context}"
    );

    // models.list is answered by the gateway (the models the endpoint reaches).
    assert!(
        summary["models"].as_array().is_some_and(|m| !m.is_empty()),
        "{context}"
    );

    let records = gateway.wait_for_records(9, Duration::from_secs(5)).await;
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
