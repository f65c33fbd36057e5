//! Same-dialect passthrough over raw HTTP: the `/anthropic` and plain `/v1` front doors,
//! `?beta=true`, both auth headers, unknown fields, and upstream errors in their own shape.

use serde_json::{json, Value};
use tollgate_tests::mock::DEFAULT_REPLY;
use tollgate_tests::{parse_sse, sse_text, Gateway, MockUpstream};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

fn request(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-5-5",
        "max_tokens": 256,
        "stream": stream,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "system", "content": "an inline system message, as Claude Code sends"},
        ],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "{\"session_id\":\"abc\"}"},
        "a_field_from_the_future": {"nested": [1, 2, 3]},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_prefix_streams_with_beta_query_and_keeps_every_field() {
    let mock = MockUpstream::start().await;
    let gateway = Gateway::with_upstream(&mock);
    let body = request(true);
    let response = client()
        .post(format!("{}/anthropic/v1/messages?beta=true", gateway.url()))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14",
        )
        .json(&body)
        .send()
        .await
        .expect("POST through the gateway");
    assert_eq!(response.status(), 200, "{}", gateway.stderr());
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("content-type")
        .starts_with("text/event-stream"));
    let text = response.text().await.expect("SSE body");
    let events = parse_sse(&text);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{text}");
    assert_eq!(names.last(), Some(&"message_stop"), "{text}");
    assert!(names.contains(&"message_delta"));
    assert_eq!(sse_text(&events), DEFAULT_REPLY);

    let upstream = mock.messages_requests();
    assert_eq!(upstream.len(), 1, "one upstream call");
    let sent = &upstream[0];
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(
        sent.header("anthropic-beta"),
        Some("claude-code-20250219,interleaved-thinking-2025-05-14")
    );
    assert!(sent.header("anthropic-version").is_some());
    assert_eq!(
        sent.json().expect("JSON body upstream"),
        body,
        "same dialect is passthrough: every field survives"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_auth_and_plain_path_pass_through() {
    let mock = MockUpstream::start().await;
    let gateway = Gateway::with_upstream(&mock);
    let response = client()
        .post(format!("{}/v1/messages", gateway.url()))
        .header("authorization", "Bearer sk-ant-bearer")
        .header("anthropic-version", "2023-06-01")
        .json(&request(false))
        .send()
        .await
        .expect("POST through the gateway");
    assert_eq!(response.status(), 200, "{}", gateway.stderr());
    let message: Value = response.json().await.expect("JSON");
    let kinds: Vec<&str> = message["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter_map(|b| b["type"].as_str())
        .collect();
    assert_eq!(kinds, ["thinking", "text"], "{message}");
    assert_eq!(message["content"][1]["text"], DEFAULT_REPLY);
    assert_eq!(message["model"], "claude-sonnet-5-5");
    let upstream = mock.messages_requests();
    assert_eq!(upstream.len(), 1);
    assert_eq!(
        upstream[0].header("authorization"),
        Some("Bearer sk-ant-bearer")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_reach_the_client_in_anthropic_shape() {
    let mock = MockUpstream::start().await;
    let gateway = Gateway::with_upstream(&mock);
    let mut body = request(false);
    body["model"] = json!("mock-error-429");
    let response = client()
        .post(format!("{}/v1/messages", gateway.url()))
        .header("x-api-key", "sk-ant-test")
        .json(&body)
        .send()
        .await
        .expect("POST through the gateway");
    assert_eq!(response.status(), 429);
    let err: Value = response.json().await.expect("JSON error");
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["type"], "rate_limit_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_and_models_pass_through() {
    let mock = MockUpstream::start().await;
    let gateway = Gateway::with_upstream(&mock);
    let counted: Value = client()
        .post(format!("{}/v1/messages/count_tokens", gateway.url()))
        .header("x-api-key", "sk-ant-test")
        .json(
            &json!({"model": "claude-sonnet-5-5", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .expect("count_tokens")
        .json()
        .await
        .expect("JSON");
    assert!(
        counted["input_tokens"].as_u64().is_some_and(|n| n >= 1),
        "{counted}"
    );
    let models: Value = client()
        .get(format!("{}/v1/models", gateway.url()))
        .header("x-api-key", "sk-ant-test")
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("JSON");
    assert!(
        models["data"].as_array().is_some_and(|d| !d.is_empty()),
        "{models}"
    );
}
