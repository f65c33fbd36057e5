//! Bad input from both sides: malformed client requests, oversized bodies, unknown
//! routes, and upstreams that error, stall, cut the stream or answer garbage. Each gets
//! a clean answer in Anthropic's shape; the gateway keeps serving; every request that
//! reached an endpoint is recorded, and the records survive a SIGTERM restart.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_tests::{
    anthropic_error, chat_body, http_client, parse_sse, Gateway, GatewayConfig, MockUpstream,
    TempDir,
};

const MIB: usize = 1 << 20;

fn write_config(dir: &Path, mock: &MockUpstream) -> std::path::PathBuf {
    let path = dir.join("tollgate.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[upstream]
idle_timeout_ms = 500

[[endpoints]]
name = "main"
front_door = "anthropic"

[[endpoints.targets]]
name = "mock"
provider = "anthropic"
base_url = "{}"
"#,
            mock.base_url()
        ),
    )
    .expect("write config");
    path
}

fn start(dir: &Path, config: &Path) -> Gateway {
    GatewayConfig::default()
        .config(config)
        .plugin_dir(&dir.join("plugins"))
        .data_dir(dir.join("data"))
        .start()
}

fn messages_url(gateway: &Gateway) -> String {
    format!("{}/v1/messages", gateway.url())
}

async fn post_bytes(url: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    http_client()
        .post(url)
        .header("content-type", "application/json")
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .body(body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e:?}"))
}

/// A syntactically valid request of about `size` bytes.
fn huge_body(size: usize) -> Vec<u8> {
    let head =
        br#"{"model":"claude-sonnet-5-5","max_tokens":16,"messages":[{"role":"user","content":""#;
    let tail = br#""}]}"#;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head);
    body.resize(size - tail.len(), b'a');
    body.extend_from_slice(tail);
    body
}

/// Malformed Anthropic requests: (what, body, a word the error message must name).
fn malformed_cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        (
            "truncated JSON",
            br#"{"model": "claude-sonnet-5-5", "max_tokens": "#.to_vec(),
            "JSON",
        ),
        (
            "model is a number",
            br#"{"model": 42, "max_tokens": 16, "messages": []}"#.to_vec(),
            "model",
        ),
        (
            "model missing",
            br#"{"max_tokens": 16, "messages": []}"#.to_vec(),
            "model",
        ),
        (
            "stream is a string",
            br#"{"model": "claude-sonnet-5-5", "stream": "yes", "max_tokens": 16, "messages": []}"#
                .to_vec(),
            "stream",
        ),
        (
            "negative max_tokens",
            br#"{"model": "claude-sonnet-5-5", "max_tokens": -1, "messages": []}"#.to_vec(),
            "max_tokens",
        ),
        ("an array", b"[1, 2, 3]".to_vec(), "object"),
        ("empty body", Vec::new(), ""),
        ("not UTF-8", b"{\"model\": \"\xff\xfe\"}".to_vec(), ""),
    ]
}

/// The record statuses the gateway should keep, in request order.
struct Expect {
    statuses: Vec<u16>,
}

impl Expect {
    fn routed(&mut self, status: u16) {
        self.statuses.push(status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_bad_upstreams_get_clean_errors_and_are_all_recorded() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("malformed");
    let config = write_config(dir.path(), &mock);
    let mut gateway = start(dir.path(), &config);
    let url = messages_url(&gateway);
    let mut expect = Expect {
        statuses: Vec::new(),
    };

    // --- Malformed client requests: 400 invalid_request_error, nothing upstream. ---
    for (what, body, mentions) in malformed_cases() {
        let err = anthropic_error(post_bytes(&url, body).await).await;
        expect.routed(err.status);
        assert_eq!(err.status, 400, "{what}: {err:#?}");
        assert_eq!(err.kind, "invalid_request_error", "{what}: {err:#?}");
        assert!(
            err.message.contains(mentions),
            "{what}: the message should mention {mentions:?}: {err:#?}"
        );
    }
    assert!(
        mock.messages_requests().is_empty(),
        "malformed requests went upstream: {:?}",
        mock.messages_requests()
    );

    // `messages` of the wrong type: the upstream (or the gateway) refuses it with 400.
    let err = anthropic_error(
        post_bytes(
            &url,
            br#"{"model":"claude-sonnet-5-5","max_tokens":16,"messages":"hi"}"#.to_vec(),
        )
        .await,
    )
    .await;
    expect.routed(err.status);
    assert_eq!(
        (err.status, err.kind.as_str()),
        (400, "invalid_request_error"),
        "{err:#?}"
    );

    // --- Oversized bodies: 413 request_too_large, with and without Content-Length. ---
    // A few rounds each: a gateway that closes on a client still uploading makes the
    // client see a broken pipe instead of the 413 some of the time, not every time.
    let big = huge_body(50 * MIB);
    for round in 0..3 {
        let started = Instant::now();
        let err = anthropic_error(post_bytes(&url, big.clone()).await).await;
        expect.routed(err.status);
        assert_eq!(
            (err.status, err.kind.as_str()),
            (413, "request_too_large"),
            "{err:#?}"
        );
        eprintln!(
            "50 MiB with content-length (round {round}): 413 in {:?}",
            started.elapsed()
        );
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            big.chunks(MIB).map(|c| Ok(c.to_vec())).collect();
        let chunked = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
        let started = Instant::now();
        let err = anthropic_error(post_bytes(&url, chunked).await).await;
        expect.routed(err.status);
        assert_eq!(
            (err.status, err.kind.as_str()),
            (413, "request_too_large"),
            "chunked: {err:#?}"
        );
        eprintln!(
            "50 MiB chunked (round {round}): 413 in {:?}",
            started.elapsed()
        );
    }
    assert!(mock.messages_requests().iter().all(|r| r.body.len() < MIB));

    // --- Routes that do not exist: 404 in Anthropic's shape (no endpoint, no record). ---
    let err =
        anthropic_error(post_bytes(&format!("{}/v1/nope", gateway.url()), b"{}".to_vec()).await)
            .await;
    assert_eq!(
        (err.status, err.kind.as_str()),
        (404, "not_found_error"),
        "{err:#?}"
    );
    let wrong_method = http_client()
        .get(&url)
        .header("x-api-key", "sk-ant-test")
        .send()
        .await
        .expect("GET /v1/messages");
    let err = anthropic_error(wrong_method).await;
    assert!(
        matches!(
            (err.status, err.kind.as_str()),
            (404, "not_found_error") | (405, "invalid_request_error")
        ),
        "wrong method: {err:#?}"
    );
    assert!(err.message.contains("GET"), "{err:#?}");

    // --- Upstream failures. ---
    // An error status with a single target: relayed as it is, in Anthropic's shape.
    for stream in [false, true] {
        let response = post_bytes(
            &url,
            serde_json::to_vec(&chat_body("mock-error-500", "hi", stream)).expect("JSON"),
        )
        .await;
        let err = anthropic_error(response).await;
        expect.routed(err.status);
        assert_eq!(
            (err.status, err.kind.as_str()),
            (500, "api_error"),
            "{err:#?}"
        );
        assert!(err.message.contains("forced error 500"), "{err:#?}");
    }

    // A stream that stalls: ended by an error event after idle_timeout_ms.
    let started = Instant::now();
    let response = post_bytes(
        &url,
        serde_json::to_vec(&chat_body("mock-stall", "hi", true)).expect("JSON"),
    )
    .await;
    assert_eq!(response.status(), 200);
    expect.routed(200);
    let text = response.text().await.expect("stalled stream ends");
    let took = started.elapsed();
    let events = parse_sse(&text);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{text}");
    assert_eq!(names.last(), Some(&"error"), "{text}");
    assert!(!names.contains(&"message_stop"), "{text}");
    let error = &events.last().expect("error event").data;
    assert_eq!(error["type"], "error", "{text}");
    assert_eq!(error["error"]["type"], "timeout_error", "{text}");
    assert!(
        took < Duration::from_secs(10),
        "the stall was cut after ~500 ms, not {took:?}"
    );

    // A stream the upstream cuts: an error event appended.
    let response = post_bytes(
        &url,
        serde_json::to_vec(&chat_body("mock-truncate", "hi", true)).expect("JSON"),
    )
    .await;
    assert_eq!(response.status(), 200);
    expect.routed(200);
    let text = response
        .text()
        .await
        .expect("cut stream ends cleanly for the client");
    let events = parse_sse(&text);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert!(names.contains(&"content_block_delta"), "{text}");
    assert_eq!(names.last(), Some(&"error"), "{text}");
    let error = &events.last().expect("error event").data;
    assert_eq!(error["type"], "error", "{text}");
    assert!(error["error"]["type"].is_string(), "{text}");

    // Garbage from the upstream: relayed (same dialect is passthrough), noted in the record.
    for stream in [false, true] {
        let response = post_bytes(
            &url,
            serde_json::to_vec(&chat_body("mock-garbage", "hi", stream)).expect("JSON"),
        )
        .await;
        let status = response.status().as_u16();
        expect.routed(status);
        let body = response.bytes().await.expect("garbage body");
        assert!(!body.is_empty());
    }

    // And after all of it, a normal request works.
    let response = post_bytes(
        &url,
        serde_json::to_vec(&chat_body("claude-sonnet-5-5", "hi", false)).expect("JSON"),
    )
    .await;
    assert_eq!(response.status(), 200);
    expect.routed(200);
    let message: Value = response.json().await.expect("JSON");
    assert_eq!(message["type"], "message");
    assert!(gateway.exit_status().is_none(), "the gateway died");

    // --- Every routed request has a record, with the status the client saw. ---
    let count = expect.statuses.len();
    let mut records = gateway
        .wait_for_records(count, Duration::from_secs(15))
        .await;
    records.reverse(); // oldest first
    let statuses: Vec<u16> = records
        .iter()
        .map(|r| u16::try_from(r["status"].as_u64().unwrap_or_default()).unwrap_or_default())
        .collect();
    assert_eq!(statuses, expect.statuses, "records: {records:#?}");
    assert_eq!(
        records.len(),
        count,
        "one record per routed request: {records:#?}"
    );
    let by_model =
        |model: &str| -> Vec<&Value> { records.iter().filter(|r| r["model"] == model).collect() };
    for r in by_model("mock-stall") {
        assert!(
            r["error"].as_str().is_some_and(|e| e.contains("stall")),
            "stall noted: {r:#}"
        );
    }
    for r in by_model("mock-truncate") {
        assert!(r["error"].is_string(), "truncation noted: {r:#}");
    }
    let garbage = by_model("mock-garbage");
    assert_eq!(garbage.len(), 2);
    for r in garbage {
        assert!(r["error"].is_string(), "garbage noted: {r:#}");
    }
    for r in by_model("mock-error-500") {
        assert_eq!(r["status"], 500);
        assert!(r["error"].is_string(), "{r:#}");
    }
    let too_large: Vec<&Value> = records.iter().filter(|r| r["status"] == 413).collect();
    assert_eq!(too_large.len(), 6, "{records:#?}");
    let ids: Vec<Value> = records.iter().map(|r| r["id"].clone()).collect();

    // --- Records survive a graceful restart on the same data dir. ---
    let status = gateway.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "SIGTERM exit status: {status}\n{}",
        gateway.stderr()
    );
    drop(gateway);
    let gateway = start(dir.path(), &config);
    let mut after = gateway.admin_requests(1000).await;
    after.reverse();
    let after_ids: Vec<Value> = after.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(after_ids, ids, "records after the restart");
    assert_eq!(after, records, "records are kept whole");
    let response = post_bytes(
        &messages_url(&gateway),
        serde_json::to_vec(&json!({"model": "claude-sonnet-5-5", "max_tokens": 8, "messages": [{"role": "user", "content": "again"}]}))
            .expect("JSON"),
    )
    .await;
    assert_eq!(response.status(), 200);
}

/// The same malformed requests on an endpoint whose only target speaks another
/// dialect (so the gateway decodes the request instead of summarizing it): the same
/// clean 400s in Anthropic's shape, nothing upstream, every one recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_to_a_translating_endpoint_get_the_same_clean_errors() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("malformed-translated");
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[endpoints]]
name = "main"
front_door = "anthropic"

[[endpoints.targets]]
name = "mock-openai"
provider = "openai"
base_url = "{}"
api_key = "sk-test"
"#,
            mock.base_url()
        ),
    )
    .expect("write config");
    let gateway = start(dir.path(), &config);
    let url = messages_url(&gateway);
    let cases = malformed_cases();
    for (what, body, mentions) in &cases {
        let err = anthropic_error(post_bytes(&url, body.clone()).await).await;
        assert_eq!(err.status, 400, "{what}: {err:#?}");
        assert_eq!(err.kind, "invalid_request_error", "{what}: {err:#?}");
        assert!(
            err.message.contains(mentions),
            "{what}: the message should mention {mentions:?}: {err:#?}"
        );
    }
    assert!(
        mock.requests().is_empty(),
        "malformed requests went upstream: {:?}",
        mock.requests()
    );
    // A good request still goes through, translated.
    let ok = post_bytes(
        &url,
        serde_json::to_vec(&chat_body("claude-sonnet-5-5", "hello", false)).expect("json"),
    )
    .await;
    assert_eq!(ok.status(), 200);
    let answer: Value = ok.json().await.expect("json answer");
    assert_eq!(answer["type"], "message", "{answer}");
    let records = gateway
        .wait_for_records(cases.len() + 1, Duration::from_secs(15))
        .await;
    assert_eq!(records.len(), cases.len() + 1, "{records:#?}");
    assert_eq!(
        records.iter().filter(|r| r["status"] == 400).count(),
        cases.len(),
        "{records:#?}"
    );
}
