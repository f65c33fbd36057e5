//! The mock upstream's OpenAI Chat Completions, OpenAI Responses and Gemini dialects,
//! over real HTTP and without a gateway: response shapes, stream grammars, usage, the
//! scripted tool round trip, fault modes, model lists, and the request helpers the
//! other tests judge the gateway by.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use tollgate_tests::mock::{
    DEFAULT_REPLY, THINKING_TEXT, TOOL_RESULT_PREFIX, TOOL_TEST_COMMAND, TOOL_TEST_MARKER,
    TOOL_TEST_OUTPUT,
};
use tollgate_tests::{http_client, parse_sse, Dialect, MockUpstream};

#[derive(Clone, Copy, Debug)]
enum Wire {
    Chat,
    Responses,
    Gemini,
}

const WIRES: [Wire; 3] = [Wire::Chat, Wire::Responses, Wire::Gemini];

/// A minimal request body in `wire`'s dialect.
fn hello(wire: Wire, model: &str, stream: bool, text: &str) -> Value {
    match wire {
        Wire::Chat => json!({
            "model": model,
            "stream": stream,
            "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
            "messages": [{"role": "user", "content": text}],
        }),
        Wire::Responses => json!({"model": model, "stream": stream, "input": text}),
        Wire::Gemini => json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
    }
}

/// The URL of a generation request in `wire`'s dialect.
fn url(mock: &MockUpstream, wire: Wire, model: &str, stream: bool) -> String {
    let base = mock.base_url();
    match wire {
        Wire::Chat => format!("{base}/v1/chat/completions"),
        Wire::Responses => format!("{base}/v1/responses"),
        Wire::Gemini if stream => {
            format!("{base}/v1beta/models/{model}:streamGenerateContent?alt=sse")
        }
        Wire::Gemini => format!("{base}/v1beta/models/{model}:generateContent"),
    }
}

async fn post(mock: &MockUpstream, wire: Wire, model: &str, body: &Value) -> reqwest::Response {
    post_to(mock, wire, model, body, body["stream"] == true).await
}

/// `post`, streaming or not (for Gemini the flag is in the path, not the body).
async fn post_to(
    mock: &MockUpstream,
    wire: Wire,
    model: &str,
    body: &Value,
    stream: bool,
) -> reqwest::Response {
    http_client()
        .post(url(mock, wire, model, stream))
        .header("authorization", "Bearer sk-test")
        .json(body)
        .send()
        .await
        .expect("POST to the mock")
}

async fn post_json(mock: &MockUpstream, wire: Wire, model: &str, body: &Value) -> Value {
    let response = post(mock, wire, model, body).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-type").is_some_and(|v| v
        .to_str()
        .unwrap_or_default()
        .starts_with("application/json")));
    response.json().await.expect("JSON answer")
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

async fn sse_body(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-type").is_some_and(|v| v
        .to_str()
        .unwrap_or_default()
        .starts_with("text/event-stream")));
    let (chunks, failed) = read_chunks(response).await;
    assert!(!failed, "the stream ended cleanly");
    assert!(chunks.len() >= 3, "the stream came in several chunks");
    String::from_utf8(chunks.concat()).expect("utf-8")
}

/// The `data:` payloads of an unnamed-event SSE body (OpenAI Chat, Gemini).
fn data_frames(body: &str) -> Vec<Value> {
    parse_sse(body).into_iter().map(|e| e.data).collect()
}

// ---------------------------------------------------------------------------------
// OpenAI Chat Completions

fn chat_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

#[tokio::test]
async fn chat_completion_has_the_real_shape() {
    let mock = MockUpstream::start().await;
    let body = hello(Wire::Chat, "gpt-5.2", false, "hi");
    let c = post_json(&mock, Wire::Chat, "", &body).await;
    assert_eq!(c["object"], "chat.completion");
    assert!(c["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("chatcmpl-")));
    assert_eq!(c["model"], "gpt-5.2");
    assert!(c["created"].as_u64().is_some_and(|t| t > 1_700_000_000));
    let choice = &c["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], DEFAULT_REPLY);
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["message"].get("tool_calls").is_none());
    let usage = &c["usage"];
    let (p, o) = (
        usage["prompt_tokens"].as_u64().expect("prompt_tokens"),
        usage["completion_tokens"]
            .as_u64()
            .expect("completion_tokens"),
    );
    assert!(p > 0 && o > 0);
    assert_eq!(usage["total_tokens"].as_u64(), Some(p + o));
    let r = &mock.requests()[0];
    assert_eq!(r.dialect(), Some(Dialect::OpenAiChat));
    assert!(r.is_chat_completions() && r.is_generation() && !r.is_stream());
    assert_eq!(r.model().as_deref(), Some("gpt-5.2"));
    assert_eq!(r.last_user_text(), "hi");
}

#[tokio::test]
async fn chat_stream_has_usage_chunk_and_done() {
    let mock = MockUpstream::start().await;
    let body = hello(Wire::Chat, "gpt-5.2", true, "hi");
    let text = sse_body(post(&mock, Wire::Chat, "", &body).await).await;
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let frames = data_frames(&text);
    let (done, chunks) = frames.split_last().expect("frames");
    assert_eq!(done, &json!("[DONE]"));
    assert_eq!(chat_text(chunks), DEFAULT_REPLY);
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let (usage_chunk, rest) = chunks.split_last().expect("chunks");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(usage_chunk["usage"]["completion_tokens"]
        .as_u64()
        .is_some_and(|t| t > 0));
    assert!(rest.iter().all(|c| c["usage"].is_null()));
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert!(mock.requests()[0].is_stream());

    // Without include_usage: no usage chunk, no usage field.
    let body = json!({"model": "gpt-5.2", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let text = sse_body(post(&mock, Wire::Chat, "", &body).await).await;
    let frames = data_frames(&text);
    let chunks = &frames[..frames.len() - 1];
    assert!(
        chunks
            .iter()
            .all(|c| c.get("usage").is_none()
                && c["choices"].as_array().is_some_and(|a| a.len() == 1))
    );
    assert_eq!(chat_text(chunks), DEFAULT_REPLY);
}

fn chat_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "Bash", "description": "Run a command",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}},
    ])
}

#[tokio::test]
async fn chat_tool_round_trip() {
    let mock = MockUpstream::start().await;
    let ask = format!("Run it. {TOOL_TEST_MARKER}");
    let mut body = hello(Wire::Chat, "gpt-5.2", false, &ask);
    body["tools"] = chat_tools();
    let c = post_json(&mock, Wire::Chat, "", &body).await;
    assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
    let call = &c["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "Bash");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["command"], TOOL_TEST_COMMAND);
    let id = call["id"].as_str().expect("call id").to_owned();
    assert!(id.starts_with("call_"));
    let issued = mock.issued_tool_calls();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].id.as_deref(), Some(id.as_str()));
    assert_eq!(issued[0].dialect, Dialect::OpenAiChat);

    // Streamed: the arguments arrive in pieces under one index.
    body["stream"] = json!(true);
    let text = sse_body(post(&mock, Wire::Chat, "", &body).await).await;
    let frames = data_frames(&text);
    let deltas: Vec<&Value> = frames
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/tool_calls/0"))
        .collect();
    assert!(deltas.len() >= 3);
    assert!(deltas[0]["id"]
        .as_str()
        .is_some_and(|i| i.starts_with("call_")));
    assert_eq!(deltas[0]["function"]["name"], "Bash");
    let joined: String = deltas
        .iter()
        .filter_map(|d| d["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&joined).unwrap()["command"],
        TOOL_TEST_COMMAND
    );
    assert!(frames
        .iter()
        .any(|c| c.pointer("/choices/0/finish_reason") == Some(&json!("tool_calls"))));

    // The tool result comes back.
    let mut body = hello(Wire::Chat, "gpt-5.2", false, &ask);
    body["tools"] = chat_tools();
    body["messages"] = json!([
        {"role": "user", "content": ask},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": id, "content": format!("{TOOL_TEST_OUTPUT}\n")},
    ]);
    let c = post_json(&mock, Wire::Chat, "", &body).await;
    assert_eq!(
        c["choices"][0]["message"]["content"],
        format!("{TOOL_RESULT_PREFIX}{TOOL_TEST_OUTPUT}")
    );
    let last = mock.requests().pop().unwrap();
    assert_eq!(last.tool_names(), vec!["read_file", "Bash"]);
    assert_eq!(last.tool_results(), vec![(id, TOOL_TEST_OUTPUT.to_owned())]);
}

#[tokio::test]
async fn chat_json_schema_answer_fits() {
    let mock = MockUpstream::start().await;
    let mut body = hello(Wire::Chat, "gpt-5.2", false, "classify");
    body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"label": {"type": "string", "enum": ["a", "b"]}, "score": {"type": "number"}}}}});
    let c = post_json(&mock, Wire::Chat, "", &body).await;
    let answer: Value =
        serde_json::from_str(c["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(answer, json!({"label": "a", "score": 0}));
}

// ---------------------------------------------------------------------------------
// OpenAI Responses

#[tokio::test]
async fn response_has_the_real_shape() {
    let mock = MockUpstream::start().await;
    let mut body = hello(Wire::Responses, "gpt-5.2", false, "hi");
    body["instructions"] = json!("Be brief.");
    let r = post_json(&mock, Wire::Responses, "", &body).await;
    assert_eq!(r["object"], "response");
    assert!(r["id"].as_str().is_some_and(|id| id.starts_with("resp_")));
    assert_eq!(r["status"], "completed");
    assert_eq!(r["model"], "gpt-5.2");
    assert_eq!(r["instructions"], "Be brief.");
    let output = r["output"].as_array().expect("output");
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["type"], "message");
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(output[0]["content"][0]["type"], "output_text");
    assert_eq!(output[0]["content"][0]["text"], DEFAULT_REPLY);
    let usage = &r["usage"];
    let (i, o) = (
        usage["input_tokens"].as_u64().unwrap(),
        usage["output_tokens"].as_u64().unwrap(),
    );
    assert!(i > 0 && o > 0);
    assert_eq!(usage["total_tokens"].as_u64(), Some(i + o));
    let rec = &mock.requests()[0];
    assert_eq!(rec.dialect(), Some(Dialect::OpenAiResponses));
    assert!(rec.is_responses() && rec.is_generation());
    assert_eq!(rec.last_user_text(), "hi");
}

#[tokio::test]
async fn response_stream_follows_the_event_grammar() {
    let mock = MockUpstream::start().await;
    let mut body = hello(Wire::Responses, "gpt-5.2", true, "hi");
    body["input"] = json!([{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]);
    let text = sse_body(post(&mock, Wire::Responses, "", &body).await).await;
    let events = parse_sse(&text);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.data["type"], e.event);
        assert_eq!(e.data["sequence_number"], i);
    }
    assert_eq!(events[0].data["response"]["status"], "in_progress");
    assert!(events[0].data["response"]["usage"].is_null());
    let deltas: String = events
        .iter()
        .filter(|e| e.event == "response.output_text.delta")
        .filter_map(|e| e.data["delta"].as_str())
        .collect();
    assert_eq!(deltas, DEFAULT_REPLY);
    let done = &events.last().unwrap().data["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], DEFAULT_REPLY);
    assert!(done["usage"]["output_tokens"]
        .as_u64()
        .is_some_and(|t| t > 0));
}

#[tokio::test]
async fn response_reasoning_summary_comes_first() {
    let mock = MockUpstream::start().await;
    let mut body = hello(Wire::Responses, "gpt-5.2", true, "think");
    body["reasoning"] = json!({"effort": "medium", "summary": "auto"});
    body["include"] = json!(["reasoning.encrypted_content"]);
    let events = parse_sse(&sse_body(post(&mock, Wire::Responses, "", &body).await).await);
    let done = &events.last().unwrap().data["response"];
    assert_eq!(done["output"][0]["type"], "reasoning");
    assert_eq!(done["output"][0]["summary"][0]["text"], THINKING_TEXT);
    assert!(done["output"][0]["encrypted_content"].is_string());
    assert_eq!(done["output"][1]["content"][0]["text"], DEFAULT_REPLY);
    assert!(done["usage"]["output_tokens_details"]["reasoning_tokens"]
        .as_u64()
        .is_some_and(|t| t > 0));
    let summary: String = events
        .iter()
        .filter(|e| e.event == "response.reasoning_summary_text.delta")
        .filter_map(|e| e.data["delta"].as_str())
        .collect();
    assert_eq!(summary, THINKING_TEXT);
}

/// The Responses tool round trip with Codex's tool shapes: `shell` (argv),
/// `exec_command` (`cmd`), `local_shell` (a built-in), and a plain function.
#[tokio::test]
async fn response_tool_round_trips() {
    let mock = MockUpstream::start().await;
    let ask = format!("Run it. {TOOL_TEST_MARKER}");
    let cases = [
        (
            json!({"type": "function", "name": "shell", "parameters": {"type": "object",
                "properties": {"command": {"type": "array", "items": {"type": "string"}}, "workdir": {"type": "string"}}}}),
            "function_call",
            json!({"command": ["bash", "-lc", TOOL_TEST_COMMAND]}),
        ),
        (
            json!({"type": "function", "name": "exec_command", "parameters": {"type": "object",
                "properties": {"cmd": {"type": "string"}}}}),
            "function_call",
            json!({"cmd": TOOL_TEST_COMMAND}),
        ),
        (
            json!({"type": "local_shell"}),
            "local_shell_call",
            json!({"type": "exec", "command": ["bash", "-lc", TOOL_TEST_COMMAND]}),
        ),
        (
            json!({"type": "function", "name": "run", "strict": true, "parameters": {"type": "object",
                "properties": {"command": {"type": "string"}}, "required": ["command"], "additionalProperties": false}}),
            "function_call",
            json!({"command": TOOL_TEST_COMMAND}),
        ),
    ];
    for (tool, kind, expected) in cases {
        for stream in [false, true] {
            let mut body = hello(Wire::Responses, "gpt-5.1-codex", stream, &ask);
            body["tools"] = json!([tool]);
            let r = if stream {
                let events =
                    parse_sse(&sse_body(post(&mock, Wire::Responses, "", &body).await).await);
                if kind == "function_call" {
                    let args: String = events
                        .iter()
                        .filter(|e| e.event == "response.function_call_arguments.delta")
                        .filter_map(|e| e.data["delta"].as_str())
                        .collect();
                    let parsed: Value = serde_json::from_str(&args).expect("streamed args");
                    assert_eq!(parsed, expected, "{tool}");
                }
                events.last().unwrap().data["response"].clone()
            } else {
                post_json(&mock, Wire::Responses, "", &body).await
            };
            let item = &r["output"][1];
            assert_eq!(item["type"], kind, "{tool}: {r}");
            let call_id = item["call_id"].as_str().expect("call_id").to_owned();
            if kind == "function_call" {
                let args: Value =
                    serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
                assert_eq!(args, expected);
            } else {
                for (k, v) in expected.as_object().unwrap() {
                    assert_eq!(&item["action"][k], v);
                }
            }
            assert_eq!(
                mock.issued_tool_calls().last().and_then(|c| c.id.clone()),
                Some(call_id.clone())
            );

            let mut body = hello(Wire::Responses, "gpt-5.1-codex", stream, &ask);
            body["tools"] = json!([tool]);
            body["input"] = json!([
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": ask}]},
                item,
                {"type": "function_call_output", "call_id": call_id, "output": TOOL_TEST_OUTPUT},
            ]);
            let r = if stream {
                let events =
                    parse_sse(&sse_body(post(&mock, Wire::Responses, "", &body).await).await);
                events.last().unwrap().data["response"].clone()
            } else {
                post_json(&mock, Wire::Responses, "", &body).await
            };
            assert_eq!(
                r["output"][0]["content"][0]["text"],
                format!("{TOOL_RESULT_PREFIX}{TOOL_TEST_OUTPUT}")
            );
            assert_eq!(
                mock.requests().last().unwrap().tool_results(),
                vec![(call_id, TOOL_TEST_OUTPUT.to_owned())]
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// Gemini

fn gemini_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .flat_map(|c| {
            c.pointer("/candidates/0/content/parts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| p["thought"] != true)
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn gemini_generate_content_has_the_real_shape() {
    let mock = MockUpstream::start().await;
    let body = hello(Wire::Gemini, "", false, "hi");
    let r = post_json(&mock, Wire::Gemini, "gemini-2.5-flash", &body).await;
    let candidate = &r["candidates"][0];
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(
        candidate["content"]["parts"],
        json!([{"text": DEFAULT_REPLY}])
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(r["modelVersion"], "gemini-2.5-flash");
    assert!(r["responseId"].is_string());
    let u = &r["usageMetadata"];
    let (p, c) = (
        u["promptTokenCount"].as_u64().unwrap(),
        u["candidatesTokenCount"].as_u64().unwrap(),
    );
    assert!(p > 0 && c > 0);
    assert_eq!(u["totalTokenCount"].as_u64(), Some(p + c));

    // The same under /v1/.
    let r: Value = http_client()
        .post(format!(
            "{}/v1/models/gemini-2.5-pro:generateContent",
            mock.base_url()
        ))
        .header("x-goog-api-key", "g-test")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(gemini_text(&[r]), DEFAULT_REPLY);

    let requests = mock.requests();
    assert_eq!(requests[0].dialect(), Some(Dialect::Gemini));
    assert_eq!(requests[0].model().as_deref(), Some("gemini-2.5-flash"));
    assert!(requests[0].is_gemini_generate() && !requests[0].is_stream());
    assert_eq!(requests[1].model().as_deref(), Some("gemini-2.5-pro"));
    assert_eq!(requests[1].last_user_text(), "hi");
}

#[tokio::test]
async fn gemini_streams_as_sse_and_as_a_json_array() {
    let mock = MockUpstream::start().await;
    let body = hello(Wire::Gemini, "", true, "hi");
    let response = http_client()
        .post(url(&mock, Wire::Gemini, "gemini-2.5-flash", true))
        .json(&body)
        .send()
        .await
        .unwrap();
    let text = sse_body(response).await;
    assert!(text.contains("\r\n\r\n"), "Gemini frames end in CRLF CRLF");
    let chunks = data_frames(&text);
    assert!(chunks.len() >= 3);
    assert_eq!(gemini_text(&chunks), DEFAULT_REPLY);
    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(last["usageMetadata"]["candidatesTokenCount"]
        .as_u64()
        .is_some_and(|t| t > 0));
    assert!(rest
        .iter()
        .all(|c| c["candidates"][0].get("finishReason").is_none()));
    assert!(rest.iter().all(|c| c["usageMetadata"]["promptTokenCount"]
        .as_u64()
        .is_some_and(|t| t > 0)));
    assert!(mock.requests()[0].is_stream());

    // Without ?alt=sse: one JSON array, sent piece by piece.
    let response = http_client()
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            mock.base_url()
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let (parts, failed) = read_chunks(response).await;
    assert!(!failed && parts.len() >= 3);
    let array: Value = serde_json::from_slice(&parts.concat()).expect("a JSON array");
    let array = array.as_array().expect("array").clone();
    assert_eq!(gemini_text(&array), DEFAULT_REPLY);
    assert_eq!(
        array.last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );
}

#[tokio::test]
async fn gemini_tool_round_trip_thoughts_and_json() {
    let mock = MockUpstream::start().await;
    let ask = format!("Run it. {TOOL_TEST_MARKER}");
    let tools = json!([{"functionDeclarations": [
        {"name": "read_file", "parametersJsonSchema": {"type": "object", "properties": {"path": {"type": "string"}}}},
        {"name": "run_shell_command", "parameters": {"type": "OBJECT", "properties": {"command": {"type": "STRING"}}}},
    ]}]);
    for stream in [false, true] {
        let mut body = hello(Wire::Gemini, "", stream, &ask);
        body["tools"] = tools.clone();
        let chunks = if stream {
            let response = http_client()
                .post(url(&mock, Wire::Gemini, "gemini-2.5-pro", true))
                .json(&body)
                .send()
                .await
                .unwrap();
            data_frames(&sse_body(response).await)
        } else {
            vec![post_json(&mock, Wire::Gemini, "gemini-2.5-pro", &body).await]
        };
        let calls: Vec<Value> = chunks
            .iter()
            .flat_map(|c| {
                c.pointer("/candidates/0/content/parts")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|p| p.get("functionCall").cloned())
            .collect();
        assert_eq!(calls.len(), 1, "{chunks:?}");
        assert_eq!(calls[0]["name"], "run_shell_command");
        assert_eq!(calls[0]["args"]["command"], TOOL_TEST_COMMAND);
        assert_eq!(
            chunks.last().unwrap()["candidates"][0]["finishReason"],
            "STOP"
        );
    }
    let issued = mock.issued_tool_calls();
    assert_eq!(issued.len(), 2);
    assert!(issued
        .iter()
        .all(|c| c.id.is_none() && c.dialect == Dialect::Gemini));

    let mut body = hello(Wire::Gemini, "", false, &ask);
    body["tools"] = tools;
    body["contents"] = json!([
        {"role": "user", "parts": [{"text": ask}]},
        {"role": "model", "parts": [{"functionCall": {"name": "run_shell_command", "args": {"command": TOOL_TEST_COMMAND}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "run_shell_command",
            "response": {"output": format!("{TOOL_TEST_OUTPUT}\n")}}}]},
    ]);
    let r = post_json(&mock, Wire::Gemini, "gemini-2.5-pro", &body).await;
    assert_eq!(
        gemini_text(&[r]),
        format!("{TOOL_RESULT_PREFIX}{TOOL_TEST_OUTPUT}")
    );
    let last = mock.requests().pop().unwrap();
    assert_eq!(last.tool_names(), vec!["read_file", "run_shell_command"]);
    assert_eq!(
        last.tool_results(),
        vec![("run_shell_command".to_owned(), TOOL_TEST_OUTPUT.to_owned())]
    );

    // Thoughts first when asked for.
    let mut body = hello(Wire::Gemini, "", false, "think");
    body["generationConfig"] = json!({"thinkingConfig": {"includeThoughts": true}});
    let r = post_json(&mock, Wire::Gemini, "gemini-2.5-pro", &body).await;
    let parts = &r["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0], json!({"text": THINKING_TEXT, "thought": true}));
    assert_eq!(parts[1], json!({"text": DEFAULT_REPLY}));
    assert!(r["usageMetadata"]["thoughtsTokenCount"]
        .as_u64()
        .is_some_and(|t| t > 0));

    // JSON output fits the schema (Gemini CLI's next-speaker check).
    let mut body = hello(Wire::Gemini, "", false, "who speaks next?");
    body["generationConfig"] = json!({"responseMimeType": "application/json", "responseJsonSchema": {
        "type": "object", "properties": {"reasoning": {"type": "string"},
        "next_speaker": {"type": "string", "enum": ["user", "model"]}}, "required": ["reasoning", "next_speaker"]}});
    let r = post_json(&mock, Wire::Gemini, "gemini-2.5-flash", &body).await;
    let answer: Value = serde_json::from_str(&gemini_text(&[r])).expect("JSON text");
    assert_eq!(answer["next_speaker"], "user");
}

#[tokio::test]
async fn gemini_count_tokens_and_models() {
    let mock = MockUpstream::start().await;
    let base = mock.base_url();
    let counted: Value = http_client()
        .post(format!("{base}/v1beta/models/gemini-2.5-flash:countTokens"))
        .json(&hello(Wire::Gemini, "", false, "count me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(counted["totalTokens"].as_u64().is_some_and(|t| t > 0));

    for url in [
        format!("{base}/v1beta/models"),
        format!("{base}/v1/models?key=g-test"),
    ] {
        let list: Value = http_client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let models = list["models"].as_array().expect("models");
        assert!(
            models
                .iter()
                .any(|m| m["name"] == "models/gemini-2.5-flash"),
            "{url}: {list}"
        );
    }
    let one: Value = http_client()
        .get(format!("{base}/v1beta/models/gemini-2.5-pro"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "models/gemini-2.5-pro");
    let missing = http_client()
        .get(format!("{base}/v1beta/models/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let err: Value = missing.json().await.unwrap();
    assert_eq!(err["error"]["status"], "NOT_FOUND");
}

// ---------------------------------------------------------------------------------
// Every dialect

#[tokio::test]
async fn v1_models_is_both_anthropic_and_openai_shaped() {
    let mock = MockUpstream::start().await;
    let list: Value = http_client()
        .get(format!("{}/v1/models", mock.base_url()))
        .header("authorization", "Bearer sk-test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["has_more"], false);
    let data = list["data"].as_array().expect("data");
    for m in data {
        assert_eq!(m["object"], "model");
        assert_eq!(m["type"], "model");
        assert!(
            m["created"].is_u64() && m["owned_by"].is_string() && m["display_name"].is_string()
        );
    }
    assert!(data.iter().any(|m| m["id"] == "gpt-5.2"));
    assert!(data.iter().any(|m| m["id"] == "claude-sonnet-5-5"));
    let one: Value = http_client()
        .get(format!("{}/v1/models/gpt-5.2", mock.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], "gpt-5.2");
    assert_eq!(mock.requests()[0].dialect(), Some(Dialect::OpenAiChat));
}

#[tokio::test]
async fn forced_errors_have_each_dialects_shape() {
    let mock = MockUpstream::start().await;
    for wire in WIRES {
        for (code, openai_type, google_status) in [
            (429, "rate_limit_exceeded", "RESOURCE_EXHAUSTED"),
            (500, "server_error", "INTERNAL"),
            (401, "invalid_request_error", "UNAUTHENTICATED"),
            (503, "server_error", "UNAVAILABLE"),
        ] {
            let model = format!("mock-error-{code}");
            for stream in [false, true] {
                let body = hello(wire, &model, stream, "hi");
                let response = http_client()
                    .post(url(&mock, wire, &model, stream))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), code, "{wire:?}");
                if code == 429 && !matches!(wire, Wire::Gemini) {
                    assert!(response.headers().contains_key("retry-after"));
                }
                let err: Value = response.json().await.expect("JSON error");
                match wire {
                    Wire::Gemini => {
                        assert_eq!(err["error"]["code"], code);
                        assert_eq!(err["error"]["status"], google_status);
                    }
                    _ => {
                        assert_eq!(err["error"]["type"], openai_type, "{err}");
                        assert!(err["error"]["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("forced error")));
                        assert!(err["error"].get("param").is_some());
                    }
                }
            }
        }
    }
    // Bad requests are 400s in the dialect's shape.
    for (path, body) in [
        ("/v1/chat/completions", json!({"messages": []})),
        ("/v1/chat/completions", json!({"model": "m"})),
        ("/v1/responses", json!({"input": "hi"})),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            json!({"contents": []}),
        ),
    ] {
        let response = http_client()
            .post(format!("{}{path}", mock.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path} {body}");
        let err: Value = response.json().await.unwrap();
        assert!(err["error"]["message"].is_string(), "{err}");
    }
}

#[tokio::test]
async fn truncate_stall_garbage_and_slow_first_byte_in_every_dialect() {
    let mock = MockUpstream::start().await;
    let checks = WIRES.map(|wire| {
        let mock = &mock;
        async move {
            // Truncated: at least one content delta, then the connection dies.
            let body = hello(wire, "mock-truncate", true, "hi");
            let (chunks, failed) =
                read_chunks(post_to(mock, wire, "mock-truncate", &body, true).await).await;
            assert!(failed, "{wire:?}: the truncated stream ends in an error");
            let text = String::from_utf8_lossy(&chunks.concat()).into_owned();
            let has_delta = match wire {
                Wire::Chat => text.contains("\"content\":\"Hello "),
                Wire::Responses => text.contains("response.output_text.delta"),
                Wire::Gemini => text.contains("\"text\":\"Hello "),
            };
            assert!(has_delta, "{wire:?}: {text}");
            assert!(!text.contains("[DONE]") && !text.contains("response.completed"));

            // Stalled: the first event, then nothing.
            let body = hello(wire, "mock-stall", true, "hi");
            let mut stream = post_to(mock, wire, "mock-stall", &body, true)
                .await
                .bytes_stream();
            let first = stream.next().await.expect("a first chunk").expect("ok");
            assert!(!first.is_empty());
            let next = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
            assert!(next.is_err(), "{wire:?}: nothing after the first event");

            // Garbage: 200, not JSON; streamed, not parseable frames.
            let body = hello(wire, "mock-garbage", false, "hi");
            let response = post(mock, wire, "mock-garbage", &body).await;
            assert_eq!(response.status(), 200);
            let text = response.text().await.unwrap();
            assert!(
                serde_json::from_str::<Value>(&text).is_err(),
                "{wire:?}: {text}"
            );
            let body = hello(wire, "mock-garbage", true, "hi");
            let response = post_to(mock, wire, "mock-garbage", &body, true).await;
            assert_eq!(response.status(), 200);
            let text = response.text().await.unwrap();
            assert!(
                parse_sse(&text).iter().all(|e| !e.data.is_object()),
                "{wire:?}: {text}"
            );

            // Slow first byte: 2 s before the head, then a normal answer.
            let started = Instant::now();
            let body = hello(wire, "mock-slow-first-byte", false, "hi");
            let response = post(mock, wire, "mock-slow-first-byte", &body).await;
            assert!(started.elapsed() >= Duration::from_secs(2));
            assert_eq!(response.status(), 200);
        }
    });
    futures::future::join_all(checks).await;
}

#[tokio::test]
async fn control_headers_work_in_every_dialect() {
    let mock = MockUpstream::start().await;
    for wire in WIRES {
        let body = hello(wire, "m", false, "hi");
        let response = http_client()
            .post(url(&mock, wire, "m", false))
            .header("x-mock-reply", "Custom words here.")
            .header("x-mock-usage", r#"{"mock_extra": 7}"#)
            .json(&body)
            .send()
            .await
            .unwrap();
        let v: Value = response.json().await.unwrap();
        let (text, usage) = match wire {
            Wire::Chat => (
                v["choices"][0]["message"]["content"].clone(),
                v["usage"].clone(),
            ),
            Wire::Responses => (
                v["output"][0]["content"][0]["text"].clone(),
                v["usage"].clone(),
            ),
            Wire::Gemini => (
                json!(gemini_text(std::slice::from_ref(&v))),
                v["usageMetadata"].clone(),
            ),
        };
        assert_eq!(text, "Custom words here.", "{wire:?}");
        assert_eq!(usage["mock_extra"], 7, "{wire:?}");

        // Split events still parse.
        let body = hello(wire, "m", true, "hi");
        let response = http_client()
            .post(url(&mock, wire, "m", true))
            .header("x-mock-split-events", "true")
            .header("x-mock-chunk-delay-ms", "0")
            .json(&body)
            .send()
            .await
            .unwrap();
        let frames = data_frames(&sse_body(response).await);
        let text = match wire {
            Wire::Chat => chat_text(&frames),
            Wire::Responses => frames
                .iter()
                .filter(|f| f["type"] == "response.output_text.delta")
                .filter_map(|f| f["delta"].as_str())
                .collect(),
            Wire::Gemini => gemini_text(&frames),
        };
        assert_eq!(text, DEFAULT_REPLY, "{wire:?}");
    }
}
