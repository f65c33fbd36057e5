//! Byte-for-byte passthrough: same-dialect requests reach the upstream with exactly the
//! bytes the client sent (odd whitespace, key order, escapes, numbers no float can hold,
//! unknown fields), a configured model rename changes only the `model` string, and
//! end-to-end headers arrive unchanged while hop-by-hop ones stop at the gateway.

use std::time::Duration;

use serde_json::Value;
use tollgate_tests::mock::DEFAULT_REPLY;
use tollgate_tests::{
    http_client, parse_sse, raw_http, sse_text, Gateway, GatewayConfig, MockUpstream, TempDir,
};

/// A body no serializer would produce: whitespace everywhere, keys out of the usual
/// order, escapes (`\u00e9`, a surrogate pair, `\/`, `\"`), numbers beyond f64/u64
/// precision, unknown fields, and a `"model"` lookalike inside a message.
fn odd_body(model_literal: &str, stream: bool) -> (Vec<u8>, std::ops::Range<usize>) {
    let prefix = concat!(
        "  {\n",
        "\t\"max_tokens\" :\t64 ,\r\n",
        "  \"metadata\":{\"big\": 12345678901234567890,\"precise\" : 1.0000000000000000001,",
        "\"neg_zero\":-0.0 , \"exp\" : 1E+2, \"user_id\": \"caf\\u00e9 \\ud83d\\ude00 \\/ \\\"q\\\"\"},\n",
        "  \"messages\" : [ {\"role\":\"user\" , \"content\" : ",
        "\"say \\\"model\\\": \\\"claude-sonnet-5-5\\\" \\u2014 na\u{ef}ve \u{1f980}\" } ],\n",
        "    \"model\"   :   ",
    );
    let suffix_stream = if stream { "true" } else { "false" };
    let suffix = format!(
        " ,\n  \"unknown_future_field\" : [ true,false , null, {{ \"nested\" : {{ }} }}, [] ] ,\n  \"stream\":{suffix_stream}\n}}\n\n"
    );
    let mut body = Vec::new();
    body.extend_from_slice(prefix.as_bytes());
    let start = body.len();
    body.extend_from_slice(model_literal.as_bytes());
    let range = start..body.len();
    body.extend_from_slice(suffix.as_bytes());
    (body, range)
}

async fn post(url: &str, body: Vec<u8>) -> reqwest::Response {
    http_client()
        .post(url)
        .header("content-type", "application/json")
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bytes_reach_the_upstream_unchanged() {
    let mock = MockUpstream::start().await;
    let gateway = Gateway::with_upstream(&mock);
    // An escaped model name: the gateway reads it as `claude-sonnet-5-5` but must not
    // re-encode it.
    for stream in [false, true] {
        mock.clear();
        let (body, _) = odd_body("\"claude\\u002dsonnet-5-5\"", stream);
        // Sanity: it is valid JSON.
        serde_json::from_slice::<Value>(&body).expect("the test body is JSON");
        let response = post(&format!("{}/v1/messages", gateway.url()), body.clone()).await;
        assert_eq!(response.status(), 200, "{}", gateway.stderr());
        let text = response.text().await.expect("response body");
        if stream {
            let events = parse_sse(&text);
            assert_eq!(
                events.last().map(|e| e.event.as_str()),
                Some("message_stop"),
                "{text}"
            );
            assert_eq!(sse_text(&events), DEFAULT_REPLY);
        } else {
            let message: Value = serde_json::from_str(&text).expect("JSON answer");
            assert_eq!(message["content"][0]["text"], DEFAULT_REPLY, "{text}");
        }
        let upstream = mock.messages_requests();
        assert_eq!(upstream.len(), 1, "one upstream call");
        assert_eq!(
            show(&upstream[0].body),
            show(&body),
            "stream={stream}: the upstream must receive the client's exact bytes"
        );
        assert_eq!(upstream[0].body, body, "stream={stream}: byte-exact");
        assert_eq!(
            upstream[0].header("content-length"),
            Some(body.len().to_string().as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_rename_splices_only_the_model_string() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("rename");
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[endpoints]]
name = "main"
front_door = "anthropic"

[[endpoints.targets]]
name = "renamed"
provider = "anthropic"
base_url = "{}"
model = "claude-opus-5-5"
"#,
            mock.base_url()
        ),
    )
    .expect("write config");
    let gateway = GatewayConfig::default()
        .config(&config)
        .plugin_dir(&dir.path().join("plugins"))
        .start();
    for stream in [false, true] {
        mock.clear();
        let (body, range) = odd_body("\"claude-sonnet-5-5\"", stream);
        let response = post(&format!("{}/v1/messages", gateway.url()), body.clone()).await;
        assert_eq!(response.status(), 200, "{}", gateway.stderr());
        let text = response.text().await.expect("response body");
        if stream {
            assert_eq!(
                parse_sse(&text).last().map(|e| e.event.clone()),
                Some("message_stop".to_owned()),
                "{text}"
            );
        }
        let mut expected = body[..range.start].to_vec();
        expected.extend_from_slice(b"\"claude-opus-5-5\"");
        expected.extend_from_slice(&body[range.end..]);
        let upstream = mock.messages_requests();
        assert_eq!(upstream.len(), 1, "one upstream call");
        assert_eq!(
            show(&upstream[0].body),
            show(&expected),
            "stream={stream}: only the top-level model string may change"
        );
        assert_eq!(
            upstream[0].body, expected,
            "stream={stream}: byte-exact splice"
        );
        assert_eq!(upstream[0].model().as_deref(), Some("claude-opus-5-5"));
    }
    let records = gateway.wait_for_records(2, Duration::from_secs(10)).await;
    for r in &records {
        assert_eq!(r["model"], "claude-sonnet-5-5", "{r:#}");
        assert_eq!(r["upstream_model"], "claude-opus-5-5", "{r:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_headers_pass_and_hop_by_hop_headers_stop() {
    let mock = MockUpstream::start().await;
    let gateway = Gateway::with_upstream(&mock);
    let body = br#"{"model":"claude-sonnet-5-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;
    // Raw bytes: no client library would send these headers as they are.
    let mut request = format!(
        "POST /v1/messages HTTP/1.1\r\n\
         Host: {host}\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {len}\r\n\
         x-api-key: sk-ant-raw\r\n\
         anthropic-version: 2023-06-01\r\n\
         anthropic-beta: claude-code-20250219,  interleaved-thinking-2025-05-14\r\n\
         User-Agent: claude-cli/9.9.9 (external, cli) odd;  spacing\r\n\
         X-Custom-Thing: a, b;  c=\"d e\"\r\n\
         x-multi: one\r\n\
         x-multi: two\r\n\
         Connection: close, X-Hop-Custom\r\n\
         X-Hop-Custom: must-not-pass\r\n\
         Keep-Alive: timeout=5, max=100\r\n\
         Proxy-Connection: keep-alive\r\n\
         Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\
         TE: trailers\r\n\
         Trailer: x-checksum\r\n\
         \r\n",
        host = gateway.url().trim_start_matches("http://"),
        len = body.len(),
    )
    .into_bytes();
    request.extend_from_slice(body);
    let response = raw_http(gateway.url(), &request).await;
    assert_eq!(
        response.status,
        200,
        "{}\n{}",
        show(&response.body),
        gateway.stderr()
    );
    let upstream = mock.messages_requests();
    assert_eq!(upstream.len(), 1, "one upstream call");
    let sent = &upstream[0];
    assert_eq!(sent.body.as_ref(), body.as_slice());
    for (name, want) in [
        ("x-api-key", "sk-ant-raw"),
        ("anthropic-version", "2023-06-01"),
        (
            "anthropic-beta",
            "claude-code-20250219,  interleaved-thinking-2025-05-14",
        ),
        (
            "user-agent",
            "claude-cli/9.9.9 (external, cli) odd;  spacing",
        ),
        ("x-custom-thing", "a, b;  c=\"d e\""),
        ("content-type", "application/json"),
    ] {
        assert_eq!(
            sent.header(name),
            Some(want),
            "header {name}: {:?}",
            sent.headers
        );
    }
    let multi: Vec<&str> = sent
        .headers
        .get_all("x-multi")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(multi, ["one", "two"], "repeated headers keep order");
    assert_eq!(
        sent.header("host"),
        Some(mock.addr().to_string().as_str()),
        "Host names the upstream, not the gateway"
    );
    for hop in [
        "x-hop-custom",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
    ] {
        assert!(
            sent.headers.get(hop).is_none(),
            "hop-by-hop header `{hop}` reached the upstream: {:?}",
            sent.headers
        );
    }
    if let Some(connection) = sent.header("connection") {
        assert!(
            !connection.to_ascii_lowercase().contains("x-hop-custom"),
            "the client's Connection header reached the upstream: {connection}"
        );
    }
}
