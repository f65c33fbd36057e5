//! The mock upstream itself, over real HTTP: response shapes, SSE event order, fault
//! modes and recording. The other end-to-end tests trust it, so it is tested first.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use tollgate_tests::mock::{
    DEFAULT_REPLY, TOOL_RESULT_PREFIX, TOOL_TEST_COMMAND, TOOL_TEST_MARKER, TOOL_TEST_OUTPUT,
};
use tollgate_tests::{parse_sse, sse_text, MockUpstream, SseEvent};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

fn hello(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    })
}

async fn post(mock: &MockUpstream, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .expect("POST /v1/messages")
}

/// Reads a streamed body; returns the chunks and whether the stream ended in an error.
async fn read_chunks(response: reqwest::Response) -> (Vec<bytes::Bytes>, bool) {
    let mut stream = response.bytes_stream();
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => out.push(chunk),
            Err(_) => return (out, true),
        }
    }
    (out, false)
}

fn text_of(chunks: &[bytes::Bytes]) -> String {
    String::from_utf8(chunks.concat()).expect("utf-8 SSE body")
}

fn names(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

/// Checks the Anthropic event grammar and that each `data.type` matches its event.
fn assert_grammar(events: &[SseEvent]) {
    let n = names(events);
    assert_eq!(n.first(), Some(&"message_start"), "{n:?}");
    assert_eq!(n.get(1), Some(&"ping"), "{n:?}");
    assert_eq!(n.last(), Some(&"message_stop"), "{n:?}");
    assert_eq!(n[n.len() - 2], "message_delta", "{n:?}");
    let mut open: Option<u64> = None;
    let mut next_index = 0;
    for e in events {
        assert_eq!(e.data["type"], e.event, "data.type matches the event name");
        match e.event.as_str() {
            "content_block_start" => {
                assert!(open.is_none(), "block started inside another: {n:?}");
                assert_eq!(e.data["index"], next_index);
                open = Some(next_index);
            }
            "content_block_delta" => assert_eq!(e.data["index"].as_u64(), open, "{n:?}"),
            "content_block_stop" => {
                assert_eq!(e.data["index"].as_u64(), open, "{n:?}");
                open = None;
                next_index += 1;
            }
            _ => {}
        }
    }
    assert!(open.is_none());
    let start = &events[0].data["message"];
    assert!(start["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("msg_")));
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["usage"]["output_tokens"], 1);
    assert!(start["usage"]["input_tokens"]
        .as_u64()
        .is_some_and(|t| t > 0));
    let delta = &events[events.len() - 2].data;
    assert!(delta["delta"]["stop_reason"].is_string());
    assert!(delta["delta"]["stop_sequence"].is_null());
    assert!(delta["usage"]["output_tokens"]
        .as_u64()
        .is_some_and(|t| t > 0));
}

#[tokio::test]
async fn non_streaming_message_has_the_real_shape() {
    let mock = MockUpstream::start().await;
    let response = post(&mock, &hello("claude-sonnet-4-5", false)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("request-id"));
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("content-type")
        .starts_with("application/json"));
    let body: Value = response.json().await.expect("JSON body");
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("msg_")));
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": DEFAULT_REPLY}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert!(body["stop_sequence"].is_null());
    for field in [
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ] {
        assert!(body["usage"][field].is_u64(), "usage.{field}: {body}");
    }
}

#[tokio::test]
async fn streaming_follows_the_event_grammar_in_separate_chunks() {
    let mock = MockUpstream::start().await;
    let response = post(&mock, &hello("claude-haiku-4-5", true)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("content-type")
        .starts_with("text/event-stream"));
    let (chunks, failed) = read_chunks(response).await;
    assert!(!failed);
    let events = parse_sse(&text_of(&chunks));
    assert_grammar(&events);
    assert_eq!(
        names(&events),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(sse_text(&events), DEFAULT_REPLY);
    assert_eq!(events[0].data["message"]["model"], "claude-haiku-4-5");
    assert!(
        chunks.len() >= 5,
        "events arrive as separate body chunks, got {}",
        chunks.len()
    );
}

#[tokio::test]
async fn split_events_still_parse() {
    let mock = MockUpstream::start().await;
    let response = client()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("x-mock-split-events", "true")
        .json(&hello("m", true))
        .send()
        .await
        .expect("POST");
    let (chunks, failed) = read_chunks(response).await;
    assert!(!failed);
    let events = parse_sse(&text_of(&chunks));
    assert_grammar(&events);
    assert!(chunks.len() >= events.len() * 2 - 2);
}

#[tokio::test]
async fn thinking_comes_first_with_a_signature() {
    let mock = MockUpstream::start().await;
    let mut body = hello("claude-opus-4-5", true);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let (chunks, _) = read_chunks(post(&mock, &body).await).await;
    let events = parse_sse(&text_of(&chunks));
    assert_grammar(&events);
    assert_eq!(events[2].data["content_block"]["type"], "thinking");
    let deltas: Vec<&str> = events
        .iter()
        .filter(|e| e.event == "content_block_delta" && e.data["index"] == 0)
        .filter_map(|e| e.data["delta"]["type"].as_str())
        .collect();
    assert!(deltas.len() >= 2);
    assert_eq!(deltas.last(), Some(&"signature_delta"));
    assert!(deltas[..deltas.len() - 1]
        .iter()
        .all(|d| *d == "thinking_delta"));
    assert_eq!(sse_text(&events), DEFAULT_REPLY);

    body["stream"] = json!(false);
    let message: Value = post(&mock, &body).await.json().await.expect("JSON");
    assert_eq!(message["content"][0]["type"], "thinking");
    assert!(message["content"][0]["signature"].is_string());
    assert_eq!(message["content"][1]["text"], DEFAULT_REPLY);
}

fn tool_request(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "stream": stream,
        "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": format!("please {TOOL_TEST_MARKER}")}
        ]}],
    })
}

#[tokio::test]
async fn tool_round_trip() {
    let mock = MockUpstream::start().await;

    // Streamed: a text block, then a tool_use block whose JSON arrives in pieces.
    let (chunks, _) = read_chunks(post(&mock, &tool_request(true)).await).await;
    let events = parse_sse(&text_of(&chunks));
    assert_grammar(&events);
    let tool_start = events
        .iter()
        .find(|e| e.event == "content_block_start" && e.data["index"] == 1)
        .expect("second block");
    assert_eq!(tool_start.data["content_block"]["type"], "tool_use");
    assert_eq!(tool_start.data["content_block"]["name"], "Bash");
    assert!(tool_start.data["content_block"]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("toolu_")));
    let pieces: Vec<&str> = events
        .iter()
        .filter(|e| e.event == "content_block_delta" && e.data["index"] == 1)
        .map(|e| {
            assert_eq!(e.data["delta"]["type"], "input_json_delta");
            e.data["delta"]["partial_json"]
                .as_str()
                .expect("partial_json")
        })
        .collect();
    assert!(pieces.len() >= 3, "{pieces:?}");
    let input: Value = serde_json::from_str(&pieces.concat()).expect("input JSON");
    assert_eq!(input["command"], TOOL_TEST_COMMAND);
    assert_eq!(
        events[events.len() - 2].data["delta"]["stop_reason"],
        "tool_use"
    );

    // Non-streamed: the same answer as one message.
    let message: Value = post(&mock, &tool_request(false))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(message["stop_reason"], "tool_use");
    let tool_use = &message["content"][1];
    assert_eq!(tool_use["type"], "tool_use");
    assert_eq!(tool_use["input"]["command"], TOOL_TEST_COMMAND);

    // The client sends the result back.
    let mut follow_up = tool_request(false);
    follow_up["messages"] = json!([
        {"role": "user", "content": format!("please {TOOL_TEST_MARKER}")},
        {"role": "assistant", "content": message["content"]},
        {"role": "user", "content": [{
            "type": "tool_result",
            "tool_use_id": tool_use["id"],
            "content": [{"type": "text", "text": format!("{TOOL_TEST_OUTPUT}\n")}],
        }]},
    ]);
    let answer: Value = post(&mock, &follow_up).await.json().await.expect("JSON");
    assert_eq!(answer["stop_reason"], "end_turn");
    assert_eq!(
        answer["content"][0]["text"],
        format!("{TOOL_RESULT_PREFIX}{TOOL_TEST_OUTPUT}")
    );

    // Without a Bash tool the marker is just text.
    let mut no_tools = tool_request(false);
    no_tools.as_object_mut().expect("object").remove("tools");
    let plain: Value = post(&mock, &no_tools).await.json().await.expect("JSON");
    assert_eq!(plain["content"][0]["text"], DEFAULT_REPLY);
}

#[tokio::test]
async fn reply_header_overrides_the_text() {
    let mock = MockUpstream::start().await;
    let response = client()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("x-mock-reply", "custom words here")
        .json(&hello("m", true))
        .send()
        .await
        .expect("POST");
    let (chunks, _) = read_chunks(response).await;
    assert_eq!(sse_text(&parse_sse(&text_of(&chunks))), "custom words here");
}

#[tokio::test]
async fn forced_errors_have_the_anthropic_shape() {
    let mock = MockUpstream::start().await;
    for (code, kind) in [
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
        (401, "authentication_error"),
    ] {
        let response = post(&mock, &hello(&format!("mock-error-{code}"), true)).await;
        assert_eq!(response.status().as_u16(), code);
        assert!(response.headers().contains_key("request-id"));
        let body: Value = response.json().await.expect("JSON error");
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], kind, "{code}: {body}");
        assert!(body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn bad_requests_are_invalid_request_errors() {
    let mock = MockUpstream::start().await;
    let url = format!("{}/v1/messages", mock.base_url());
    for body in [
        "not json".to_owned(),
        "[1,2]".to_owned(),
        json!({"model": "m", "messages": []}).to_string(), // no max_tokens
        json!({"max_tokens": 1, "messages": []}).to_string(), // no model
    ] {
        let response = client()
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 400, "{body}");
        let err: Value = response.json().await.expect("JSON error");
        assert_eq!(err["type"], "error");
        assert_eq!(err["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn truncation_cuts_the_stream_after_a_delta() {
    let mock = MockUpstream::start().await;
    let response = post(&mock, &hello("mock-truncate", true)).await;
    assert_eq!(response.status(), 200);
    let (chunks, failed) = read_chunks(response).await;
    assert!(failed, "the connection is cut, not closed cleanly");
    let events = parse_sse(&text_of(&chunks));
    assert_eq!(
        names(&events).last(),
        Some(&"content_block_delta"),
        "{events:?}"
    );
    assert!(!names(&events).contains(&"message_stop"));
}

#[tokio::test]
async fn stall_sends_message_start_then_nothing() {
    let mock = MockUpstream::start().await;
    let response = post(&mock, &hello("mock-stall", true)).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let first = stream
        .next()
        .await
        .expect("a first chunk")
        .expect("first chunk");
    assert!(String::from_utf8_lossy(&first).starts_with("event: message_start"));
    let next = tokio::time::timeout(Duration::from_millis(700), stream.next()).await;
    assert!(next.is_err(), "nothing more arrives: {next:?}");
}

#[tokio::test]
async fn slow_first_byte_waits_before_the_head() {
    let mock = MockUpstream::start().await;
    let started = Instant::now();
    let response = post(&mock, &hello("mock-slow-first-byte", false)).await;
    assert!(started.elapsed() >= Duration::from_millis(1900));
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn garbage_is_not_json_nor_sse() {
    let mock = MockUpstream::start().await;
    let response = post(&mock, &hello("mock-garbage", false)).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    assert!(serde_json::from_str::<Value>(&text).is_err());

    let response = post(&mock, &hello("mock-garbage", true)).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    let events = parse_sse(&text);
    assert!(events.iter().all(|e| !e.data.is_object()), "{events:?}");
}

#[tokio::test]
async fn count_tokens_models_and_unknown_paths() {
    let mock = MockUpstream::start().await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hello there"}]});
    let raw = serde_json::to_vec(&body).expect("json");
    let counted: Value = client()
        .post(format!("{}/v1/messages/count_tokens", mock.base_url()))
        .header("content-type", "application/json")
        .body(raw.clone())
        .send()
        .await
        .expect("POST count_tokens")
        .json()
        .await
        .expect("JSON");
    assert_eq!(counted, json!({"input_tokens": raw.len() / 4}));

    let models: Value = client()
        .get(format!("{}/v1/models", mock.base_url()))
        .send()
        .await
        .expect("GET models")
        .json()
        .await
        .expect("JSON");
    assert!(models["data"].as_array().is_some_and(|d| !d.is_empty()));
    assert_eq!(models["data"][0]["type"], "model");
    assert_eq!(models["has_more"], false);

    let response = client()
        .get(format!("{}/v2/whatever", mock.base_url()))
        .send()
        .await
        .expect("GET unknown");
    assert_eq!(response.status(), 404);
    let err: Value = response.json().await.expect("JSON");
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn records_requests_exactly_as_received() {
    let mock = MockUpstream::start().await;
    // Odd spacing and key order must survive byte for byte.
    let raw = "{ \"stream\":false,  \"model\" : \"m\", \"max_tokens\":5,\"messages\":[] }";
    let response = client()
        .post(format!("{}/v1/messages?beta=true", mock.base_url()))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-beta", "a-1,b-2")
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.query.as_deref(), Some("beta=true"));
    assert_eq!(r.body.as_ref(), raw.as_bytes());
    assert_eq!(r.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(r.header("anthropic-beta"), Some("a-1,b-2"));
    assert!(r.is_messages());
    assert_eq!(r.model().as_deref(), Some("m"));
    mock.clear();
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn bench_fast_path() {
    let mock = MockUpstream::start().await;
    let message: Value = post(&mock, &hello("bench", false))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(message["model"], "bench");
    assert_eq!(message["type"], "message");

    let response = client()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("x-mock-chunks", "5")
        .json(&hello("bench", true))
        .send()
        .await
        .expect("POST");
    let (chunks, failed) = read_chunks(response).await;
    assert!(!failed);
    let events = parse_sse(&text_of(&chunks));
    assert_grammar(&events);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event == "content_block_delta")
            .count(),
        5
    );

    let (chunks, _) = read_chunks(post(&mock, &hello("bench", true)).await).await;
    let events = parse_sse(&text_of(&chunks));
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event == "content_block_delta")
            .count(),
        20
    );
}
