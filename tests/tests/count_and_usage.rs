//! Token counting between dialects (the upstream counts in its own dialect, the
//! client gets its own shape back; a target that cannot count gets no request and
//! the client a marked estimate), and Chat Completions `include_usage` on a
//! translated stream.

use serde_json::{json, Value};
use tollgate_tests::{http_client, parse_sse, Gateway, GatewayConfig, MockUpstream, TempDir};

/// One endpoint: `front` front door, the mock as a `provider` target.
fn gateway(
    mock: &MockUpstream,
    dir: &TempDir,
    front: &str,
    provider: &str,
    model: &str,
) -> Gateway {
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[endpoints]]\nname = \"e\"\nfront_door = \"{front}\"\n\
             [[endpoints.targets]]\nname = \"mock\"\nprovider = \"{provider}\"\n\
             base_url = \"{}\"\napi_key = \"upstream-key\"\nmodel = \"{model}\"\n",
            mock.base_url()
        ),
    )
    .expect("write gateway config");
    GatewayConfig::default().config(&config).start()
}

fn anthropic_count_body() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "How many tokens is this, roughly? Ünïcödé."}]
    })
}

async fn anthropic_count(gw: &Gateway) -> reqwest::Response {
    http_client()
        .post(format!("{}/v1/messages/count_tokens", gw.url()))
        .header("x-api-key", "client-key")
        .header("anthropic-version", "2023-06-01")
        .json(&anthropic_count_body())
        .send()
        .await
        .expect("POST count_tokens")
}

/// The number the mock counted: its received body's bytes / 4.
fn mock_count(mock: &MockUpstream) -> u64 {
    let req = mock
        .requests()
        .pop()
        .expect("the upstream got the count request");
    (req.body.len() as u64 / 4).max(1)
}

#[tokio::test]
async fn anthropic_count_tokens_to_gemini() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("count");
    let gw = gateway(&mock, &dir, "anthropic", "gemini", "gemini-2.5-flash");
    let resp = anthropic_count(&gw).await;
    assert_eq!(resp.status(), 200, "{}", gw.stderr());
    assert!(resp.headers().get("x-tollgate-token-count").is_none());
    let body: Value = resp.json().await.expect("json");
    let req = mock.requests().pop().expect("upstream request");
    assert!(
        req.path.ends_with("/models/gemini-2.5-flash:countTokens"),
        "{}",
        req.path
    );
    assert_eq!(body, json!({"input_tokens": mock_count(&mock)}));
}

#[tokio::test]
async fn gemini_count_tokens_to_anthropic() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("count");
    let gw = gateway(&mock, &dir, "gemini", "anthropic", "claude-sonnet-4-5");
    let resp = http_client()
        .post(format!(
            "{}/v1beta/models/gemini-2.5-pro:countTokens",
            gw.url()
        ))
        .header("x-goog-api-key", "client-key")
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "Count me, please."}]}]}))
        .send()
        .await
        .expect("POST countTokens");
    assert_eq!(resp.status(), 200, "{}", gw.stderr());
    let body: Value = resp.json().await.expect("json");
    let req = mock.requests().pop().expect("upstream request");
    assert_eq!(req.path, "/v1/messages/count_tokens");
    assert_eq!(body, json!({"totalTokens": mock_count(&mock)}));
}

#[tokio::test]
async fn count_tokens_to_a_dialect_that_cannot_count_is_estimated() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("count");
    let gw = gateway(&mock, &dir, "anthropic", "openai", "gpt-5");
    let resp = anthropic_count(&gw).await;
    assert_eq!(resp.status(), 200, "{}", gw.stderr());
    assert_eq!(
        resp.headers()
            .get("x-tollgate-token-count")
            .and_then(|v| v.to_str().ok()),
        Some("estimated")
    );
    let body: Value = resp.json().await.expect("json");
    let n = body["input_tokens"].as_u64().expect("input_tokens");
    // "You are terse." + the message text, ~4 bytes a token.
    assert!((10..=30).contains(&n), "estimate {n}");
    assert!(
        mock.requests().is_empty(),
        "no upstream call for an estimate"
    );
}

/// A translated Chat Completions stream: with `include_usage` the usage comes in
/// a last chunk with empty `choices` (and `usage: null` before); without it, on
/// the `finish_reason` chunk.
#[tokio::test]
async fn chat_stream_include_usage_from_an_anthropic_upstream() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("usage");
    let gw = gateway(&mock, &dir, "openai", "anthropic", "claude-sonnet-4-5");
    for include in [true, false] {
        let mut body = json!({
            "model": "gpt-5",
            "stream": true,
            "messages": [{"role": "user", "content": "Hello"}],
        });
        if include {
            body["stream_options"] = json!({"include_usage": true});
        }
        let resp = http_client()
            .post(format!("{}/v1/chat/completions", gw.url()))
            .header("authorization", "Bearer client-key")
            .json(&body)
            .send()
            .await
            .expect("POST chat");
        assert_eq!(resp.status(), 200, "{}", gw.stderr());
        let text = resp.text().await.expect("body");
        let events = parse_sse(&text);
        assert_eq!(
            events.last().map(|e| e.data.clone()),
            Some(Value::String("[DONE]".into())),
            "{text}"
        );
        let chunks: Vec<&Value> = events
            .iter()
            .map(|e| &e.data)
            .filter(|d| d.is_object())
            .collect();
        let with_usage: Vec<&&Value> = chunks.iter().filter(|c| c["usage"].is_object()).collect();
        assert_eq!(with_usage.len(), 1, "exactly one usage chunk\n{text}");
        let usage = &with_usage[0]["usage"];
        assert!(
            usage["prompt_tokens"].as_u64().is_some_and(|n| n > 0),
            "{text}"
        );
        assert!(
            usage["completion_tokens"].as_u64().is_some_and(|n| n > 0),
            "{text}"
        );
        if include {
            let last = chunks.last().expect("chunks");
            assert!(last["usage"].is_object(), "usage last\n{text}");
            assert_eq!(last["choices"], json!([]), "{text}");
            assert!(
                chunks[..chunks.len() - 1]
                    .iter()
                    .all(|c| c.get("usage") == Some(&Value::Null)),
                "usage: null on every other chunk\n{text}"
            );
        } else {
            assert!(
                with_usage[0]["choices"][0]["finish_reason"].is_string(),
                "usage on the finish chunk\n{text}"
            );
            assert!(
                chunks
                    .iter()
                    .all(|c| c["choices"].as_array().is_some_and(|a| !a.is_empty())),
                "no empty-choices chunk without include_usage\n{text}"
            );
        }
    }
}

#[tokio::test]
async fn responses_input_tokens_to_anthropic() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("count");
    let gw = gateway(
        &mock,
        &dir,
        "openai-responses",
        "anthropic",
        "claude-sonnet-4-5",
    );
    let resp = http_client()
        .post(format!("{}/v1/responses/input_tokens", gw.url()))
        .header("authorization", "Bearer client-key")
        .json(&json!({"model": "gpt-5", "instructions": "Be terse.", "input": "Count me."}))
        .send()
        .await
        .expect("POST input_tokens");
    assert_eq!(resp.status(), 200, "{}", gw.stderr());
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        mock.requests().pop().expect("upstream").path,
        "/v1/messages/count_tokens"
    );
    assert_eq!(
        body,
        json!({"object": "response.input_tokens", "input_tokens": mock_count(&mock)})
    );
}
