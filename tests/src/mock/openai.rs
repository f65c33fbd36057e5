//! The OpenAI Chat Completions dialect: `POST /v1/chat/completions`, JSON or SSE
//! (`data: {chunk}` … `data: [DONE]`, with a usage chunk when
//! `stream_options.include_usage`), and OpenAI's error shape (shared with Responses).

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    base_response, bench_chunks, content_text, garbage_json, header_str, json_response, new_id,
    split_chars, split_words, sse_data, stream_response, stream_steps, unix_now, Dialect, Fault,
    Frame, IssuedToolCall, OfferedTool, Script, Shared, Step, ToolKind, Turn,
};

const DEFAULT_BENCH_CHUNKS: usize = 20;

const SSE: &str = "text/event-stream; charset=utf-8";
const FINGERPRINT: &str = "fp_mock0001";

/// OpenAI's error `type` and `code` for an HTTP status.
pub fn error_kind_for(status: StatusCode) -> (&'static str, Option<&'static str>) {
    match status.as_u16() {
        400 => ("invalid_request_error", None),
        401 => ("invalid_request_error", Some("invalid_api_key")),
        403 => ("permission_error", None),
        404 => ("invalid_request_error", Some("model_not_found")),
        429 => ("rate_limit_exceeded", Some("rate_limit_exceeded")),
        503 => ("server_error", Some("service_unavailable")),
        s if s >= 500 => ("server_error", None),
        _ => ("invalid_request_error", None),
    }
}

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`, with
/// `x-request-id` (and `retry-after` for 429).
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    let (kind, code) = error_kind_for(status);
    let mut response = json_response(
        status,
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    );
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&new_id("req_")) {
        headers.insert("x-request-id", v);
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        headers.insert("retry-after", HeaderValue::from_static("1"));
    }
    response
}

pub(crate) fn invalid(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, message)
}

/// Function tools of an OpenAI `tools` array (`{"type": "function", "function": {…}}`
/// for Chat Completions; `{"type": "function", "name", "parameters"}` for Responses).
pub(crate) fn function_tools(tools: Option<&Value>) -> Vec<OfferedTool> {
    let Some(Value::Array(tools)) = tools else {
        return Vec::new();
    };
    tools
        .iter()
        .filter_map(|t| {
            let kind = t.get("type").and_then(Value::as_str).unwrap_or("function");
            match kind {
                "function" => {
                    let f = t.get("function").unwrap_or(t);
                    Some(OfferedTool {
                        name: f.get("name")?.as_str()?.to_owned(),
                        kind: ToolKind::Function,
                        parameters: f.get("parameters").cloned().unwrap_or(Value::Null),
                    })
                }
                "local_shell" => Some(OfferedTool {
                    name: "local_shell".to_owned(),
                    kind: ToolKind::LocalShell,
                    parameters: Value::Null,
                }),
                _ => None,
            }
        })
        .collect()
}

/// The script's view of a Chat Completions request.
pub(crate) fn read_turn(request: &Value) -> Turn {
    let messages: &[Value] = request
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let role = |m: &Value| {
        m.get("role")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let trailing_tools = messages
        .iter()
        .rev()
        .take_while(|m| role(m) == "tool")
        .collect::<Vec<_>>();
    let tool_results = trailing_tools
        .into_iter()
        .rev()
        .map(|m| {
            (
                m.get("tool_call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                content_text(m.get("content")).trim().to_owned(),
            )
        })
        .collect();
    let user_text = messages
        .iter()
        .rev()
        .find(|m| role(m) == "user")
        .map(|m| content_text(m.get("content")))
        .unwrap_or_default();
    let json_schema = match request
        .pointer("/response_format/type")
        .and_then(Value::as_str)
    {
        Some("json_schema") => Some(
            request
                .pointer("/response_format/json_schema/schema")
                .cloned()
                .unwrap_or_else(|| json!({})),
        ),
        Some("json_object") => Some(json!({})),
        _ => None,
    };
    Turn {
        user_text,
        tool_results,
        tools: function_tools(request.get("tools")),
        thinking: false,
        json_schema,
    }
}

/// The model and fault checks every OpenAI-dialect request goes through. `Err` is the
/// answer to give right away.
pub(crate) async fn preflight(
    request: &Value,
    stream: bool,
) -> Result<(String, Option<Fault>), Box<Response>> {
    let Some(model) = request.get("model").and_then(Value::as_str) else {
        return Err(Box::new(invalid("you must provide a model parameter")));
    };
    let fault = Fault::of(model);
    match fault {
        Some(Fault::Error(status)) => {
            return Err(Box::new(error_response(
                status,
                &Fault::error_message(status),
            )))
        }
        Some(Fault::Garbage) => {
            return Err(Box::new(if stream {
                stream_response(
                    VecDeque::from([
                        Step::Chunk(Bytes::from_static(b"data: {this is not json\n\n")),
                        Step::Chunk(Bytes::from_static(b"\x00\x01garbage without framing")),
                    ]),
                    SSE,
                )
            } else {
                garbage_json()
            }))
        }
        Some(Fault::SlowFirstByte) => tokio::time::sleep(Duration::from_secs(2)).await,
        _ => {}
    }
    Ok((model.to_owned(), fault))
}

pub(crate) fn parse_body(body: &Bytes) -> Result<Value, Box<Response>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Box::new(invalid("The request body must be a JSON object."))),
        Err(err) => Err(Box::new(invalid(&format!(
            "We could not parse the JSON body of your request. ({err})"
        )))),
    }
}

fn usage(script: &Script) -> Value {
    let output = script.output_tokens();
    script.merge_usage(json!({
        "prompt_tokens": script.input_tokens,
        "completion_tokens": output,
        "total_tokens": script.input_tokens + output,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }))
}

pub(crate) async fn chat_completions(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    // The benchmark fast path: only the head of the request is read.
    if let Ok(head) = serde_json::from_slice::<BenchHead>(body) {
        if let Some(chunks) = head
            .model
            .as_deref()
            .and_then(|m| bench_chunks(m, headers, DEFAULT_BENCH_CHUNKS))
        {
            let include_usage = head.stream_options.and_then(|o| o.include_usage);
            return bench(headers, head.stream.unwrap_or(false), include_usage, chunks);
        }
    }
    let request = match parse_body(body) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (model, fault) = match preflight(&request, stream).await {
        Ok(v) => v,
        Err(response) => return *response,
    };
    if !request.get("messages").is_some_and(Value::is_array) {
        return invalid("Missing required parameter: 'messages'.");
    }
    let script = Script::for_turn(&read_turn(&request), headers, body.len());
    let call = script.call.as_ref().map(|c| {
        let id = new_id("call_");
        shared.issued(IssuedToolCall {
            dialect: Dialect::OpenAiChat,
            id: Some(id.clone()),
            name: c.name.clone(),
            input: c.input.clone(),
        });
        (id, c.name.clone(), c.input.to_string())
    });
    let finish_reason = if call.is_some() { "tool_calls" } else { "stop" };
    let id = new_id("chatcmpl-");
    let created = unix_now();

    if !stream {
        let mut message = json!({
            "role": "assistant",
            "content": script.text,
            "refusal": null,
            "annotations": [],
        });
        if let Some((call_id, name, arguments)) = &call {
            message["tool_calls"] = json!([{
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }]);
        }
        return json_response(
            StatusCode::OK,
            json!({
                "id": id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": message,
                    "logprobs": null,
                    "finish_reason": finish_reason,
                }],
                "usage": usage(&script),
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
            }),
        );
    }

    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chunk = |delta: Value, finish: Option<&str>, kind: Frame| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        (sse_data(&chunk, "\n"), kind)
    };
    let mut frames = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
        Frame::Other,
    )];
    for piece in split_words(&script.text, 2) {
        frames.push(chunk(json!({"content": piece}), None, Frame::Delta));
    }
    if let Some((call_id, name, arguments)) = &call {
        frames.push(chunk(
            json!({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                   "function": {"name": name, "arguments": ""}}]}),
            None,
            Frame::Delta,
        ));
        for piece in split_chars(arguments, 4) {
            frames.push(chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                None,
                Frame::Delta,
            ));
        }
    }
    frames.push(chunk(json!({}), Some(finish_reason), Frame::Other));
    if include_usage {
        let tail = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [],
            "usage": usage(&script),
        });
        frames.push((sse_data(&tail, "\n"), Frame::Other));
    }
    frames.push((Bytes::from_static(b"data: [DONE]\n\n"), Frame::Other));
    stream_response(stream_steps(frames, headers, fault), SSE)
}

// ---------------------------------------------------------------------------------
// Benchmark fast path (model `bench` / `bench-N`): everything precomputed once, cloned
// as cheap `Bytes`, like the Anthropic one.

#[derive(Deserialize)]
struct BenchHead {
    model: Option<String>,
    stream: Option<bool>,
    stream_options: Option<BenchStreamOptions>,
}

#[derive(Deserialize)]
struct BenchStreamOptions {
    include_usage: Option<bool>,
}

struct BenchBytes {
    completion: Bytes,
    /// The role chunk.
    head: Bytes,
    /// One content chunk (`tok `).
    delta: Bytes,
    /// The finish chunk and `[DONE]`.
    tail: Bytes,
    /// The finish chunk, the usage chunk and `[DONE]` (`include_usage`).
    tail_usage: Bytes,
}

fn bench_bytes() -> &'static BenchBytes {
    static BENCH: OnceLock<BenchBytes> = OnceLock::new();
    BENCH.get_or_init(|| {
        let id = "chatcmpl-01benchbenchbenchbenchbe";
        let created = 1_767_225_600_u64;
        let usage = |output: u64| {
            json!({
                "prompt_tokens": 10,
                "completion_tokens": output,
                "total_tokens": 10 + output,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
            })
        };
        let completion = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": "bench",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "ok", "refusal": null, "annotations": []},
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": usage(1),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        });
        let chunk = |delta: Value, finish: Option<&str>| {
            sse_data(
                &json!({
                    "id": id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": "bench",
                    "service_tier": "default",
                    "system_fingerprint": FINGERPRINT,
                    "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
                }),
                "\n",
            )
        };
        let finish = chunk(json!({}), Some("stop"));
        let done = Bytes::from_static(b"data: [DONE]\n\n");
        let usage_chunk = sse_data(
            &json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": "bench",
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
                "choices": [],
                "usage": usage(20),
            }),
            "\n",
        );
        BenchBytes {
            completion: Bytes::from(serde_json::to_vec(&completion).unwrap_or_default()),
            head: chunk(json!({"role": "assistant", "content": "", "refusal": null}), None),
            delta: chunk(json!({"content": "tok "}), None),
            tail: Bytes::from([&finish[..], &done[..]].concat()),
            tail_usage: Bytes::from([&finish[..], &usage_chunk[..], &done[..]].concat()),
        }
    })
}

fn bench(
    headers: &HeaderMap,
    stream: bool,
    include_usage: Option<bool>,
    chunks: usize,
) -> Response {
    let bytes = bench_bytes();
    if !stream {
        return base_response(
            StatusCode::OK,
            "application/json",
            Body::from(bytes.completion.clone()),
        );
    }
    let delay = header_str(headers, "x-mock-chunk-delay-ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    let mut steps = VecDeque::with_capacity(chunks * 2 + 2);
    steps.push_back(Step::Chunk(bytes.head.clone()));
    for _ in 0..chunks {
        if !delay.is_zero() {
            steps.push_back(Step::Sleep(delay));
        }
        steps.push_back(Step::Chunk(bytes.delta.clone()));
    }
    steps.push_back(Step::Chunk(if include_usage == Some(true) {
        bytes.tail_usage.clone()
    } else {
        bytes.tail.clone()
    }));
    stream_response(steps, SSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_bytes_are_valid_chat_completions() {
        let b = bench_bytes();
        let v: Value = serde_json::from_slice(&b.completion).expect("JSON");
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["content"], "ok");
        for chunk in [&b.head, &b.delta] {
            let text = std::str::from_utf8(chunk).expect("utf-8");
            let data = text
                .strip_prefix("data: ")
                .and_then(|t| t.strip_suffix("\n\n"))
                .expect("one SSE event");
            let v: Value = serde_json::from_str(data).expect("JSON");
            assert_eq!(v["object"], "chat.completion.chunk");
        }
        let tail = std::str::from_utf8(&b.tail_usage).expect("utf-8");
        assert!(tail.contains("\"finish_reason\":\"stop\""));
        assert!(tail.contains("\"choices\":[]"));
        assert!(tail.ends_with("data: [DONE]\n\n"));
        assert!(std::str::from_utf8(&b.tail)
            .expect("utf-8")
            .ends_with("data: [DONE]\n\n"));
    }
}
