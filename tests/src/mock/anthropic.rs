//! The Anthropic Messages dialect: `POST /v1/messages` (JSON and SSE),
//! `POST /v1/messages/count_tokens`, and the benchmark fast path (model `bench`).

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    base_response, bench_chunks, content_text, garbage_json, header_str, json_response, new_id,
    split_chars, split_words, sse_event, stream_response, stream_steps, Dialect, Fault, Frame,
    IssuedToolCall, OfferedTool, Script, Shared, Step, ToolKind, Turn,
};

const DEFAULT_BENCH_CHUNKS: usize = 20;
const SSE: &str = "text/event-stream; charset=utf-8";
const SIGNATURE: &str = "EqQBCkYIBxgCKkBtb2NrLXNpZ25hdHVyZS1mb3ItdGhpbmtpbmctYmxvY2s=";

/// The Anthropic error type for an HTTP status.
pub fn error_type_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// An error in Anthropic's shape, with `request-id` (and `retry-after` for 429/529).
pub(crate) fn error_response(status: StatusCode, kind: &str, message: &str) -> Response {
    let request_id = new_id("req_");
    let mut response = json_response(
        status,
        json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": request_id,
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", v);
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.as_u16() == 529 {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    response
}

fn invalid(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

pub(crate) fn count_tokens(body: &Bytes) -> Response {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => {
            if !obj.get("model").is_some_and(Value::is_string) {
                return invalid("model: Field required");
            }
            if !obj.get("messages").is_some_and(Value::is_array) {
                return invalid("messages: Field required");
            }
            json_response(
                StatusCode::OK,
                json!({"input_tokens": (body.len() / 4).max(1)}),
            )
        }
        Ok(_) => invalid("request body must be a JSON object"),
        Err(err) => invalid(&format!("There was an error parsing the body: {err}")),
    }
}

/// The script's view of a Messages request.
pub(crate) fn read_turn(request: &Value) -> Turn {
    let last_user = request
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|msg| msg.get("role").and_then(Value::as_str) == Some("user"))
        });
    let tools = request
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| {
                    Some(OfferedTool {
                        name: t.get("name")?.as_str()?.to_owned(),
                        kind: ToolKind::Function,
                        parameters: t.get("input_schema").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let thinking = request
        .get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t == "enabled" || t == "adaptive");
    let json_schema = request
        .pointer("/output_format/schema")
        .or_else(|| request.pointer("/output_config/format/schema"))
        .cloned();
    Turn {
        user_text: last_user
            .map(|m| content_text(m.get("content")))
            .unwrap_or_default(),
        tool_results: last_user.map(tool_results).unwrap_or_default(),
        tools,
        thinking,
        json_schema,
    }
}

/// (tool_use_id, text) of every `tool_result` block in a message.
fn tool_results(message: &Value) -> Vec<(String, String)> {
    let Some(Value::Array(blocks)) = message.get("content") else {
        return Vec::new();
    };
    blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        .map(|b| {
            let id = b
                .get("tool_use_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let text = match b.get("content") {
                Some(Value::String(s)) => s.trim().to_owned(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            };
            (id, text)
        })
        .collect()
}

/// What the mock will answer: a list of content blocks.
#[derive(Debug, Clone)]
enum Block {
    Thinking {
        thinking: String,
        signature: String,
    },
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

impl Block {
    fn full_json(&self) -> Value {
        match self {
            Block::Thinking {
                thinking,
                signature,
            } => json!({"type": "thinking", "thinking": thinking, "signature": signature}),
            Block::Text(text) => json!({"type": "text", "text": text}),
            Block::ToolUse { id, name, input } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": input})
            }
        }
    }

    fn start_json(&self) -> Value {
        match self {
            Block::Thinking { .. } => json!({"type": "thinking", "thinking": "", "signature": ""}),
            Block::Text(_) => json!({"type": "text", "text": ""}),
            Block::ToolUse { id, name, .. } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": {}})
            }
        }
    }

    fn deltas(&self) -> Vec<Value> {
        match self {
            Block::Thinking {
                thinking,
                signature,
            } => {
                let mut out: Vec<Value> = split_words(thinking, 3)
                    .into_iter()
                    .map(|t| json!({"type": "thinking_delta", "thinking": t}))
                    .collect();
                out.push(json!({"type": "signature_delta", "signature": signature}));
                out
            }
            Block::Text(text) => split_words(text, 2)
                .into_iter()
                .map(|t| json!({"type": "text_delta", "text": t}))
                .collect(),
            Block::ToolUse { input, .. } => {
                let raw = serde_json::to_string(input).unwrap_or_default();
                // Like the real service: an empty first piece, then the JSON in pieces.
                let mut out = vec![json!({"type": "input_json_delta", "partial_json": ""})];
                out.extend(
                    split_chars(&raw, 4)
                        .into_iter()
                        .map(|p| json!({"type": "input_json_delta", "partial_json": p})),
                );
                out
            }
        }
    }
}

/// The few request fields read before deciding anything (cheap on large bodies).
#[derive(Deserialize)]
struct Head {
    model: Option<String>,
    stream: Option<bool>,
}

struct Plan {
    model: String,
    blocks: Vec<Block>,
    stop_reason: &'static str,
    input_tokens: u64,
    output_tokens: u64,
    usage_extra: Map<String, Value>,
}

impl Plan {
    fn from_script(model: &str, script: &Script) -> Plan {
        let mut blocks = Vec::new();
        if let Some(thinking) = &script.thinking {
            blocks.push(Block::Thinking {
                thinking: thinking.clone(),
                signature: SIGNATURE.to_owned(),
            });
        }
        blocks.push(Block::Text(script.text.clone()));
        let mut stop_reason = "end_turn";
        if let Some(call) = &script.call {
            blocks.push(Block::ToolUse {
                id: new_id("toolu_"),
                name: call.name.clone(),
                input: call.input.clone(),
            });
            stop_reason = "tool_use";
        }
        Plan {
            model: model.to_owned(),
            blocks,
            stop_reason,
            input_tokens: script.input_tokens,
            output_tokens: script.output_tokens(),
            usage_extra: script.usage_extra.clone(),
        }
    }

    fn usage(&self, output_tokens: u64) -> Value {
        let mut usage = json!({
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens,
            "service_tier": "standard",
        });
        if let Value::Object(obj) = &mut usage {
            for (k, v) in &self.usage_extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        usage
    }

    fn message(&self, id: &str) -> Value {
        let content: Vec<Value> = self.blocks.iter().map(Block::full_json).collect();
        json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.stop_reason,
            "stop_sequence": null,
            "usage": self.usage(self.output_tokens),
        })
    }

    /// The SSE events in order: (name, data).
    fn events(&self, id: &str) -> Vec<(&'static str, Value)> {
        let mut events = Vec::new();
        events.push((
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": self.usage(1),
            }}),
        ));
        events.push(("ping", json!({"type": "ping"})));
        for (index, block) in self.blocks.iter().enumerate() {
            events.push((
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": block.start_json()}),
            ));
            for delta in block.deltas() {
                events.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": delta}),
                ));
            }
            events.push((
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
        events.push((
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                "usage": {"output_tokens": self.output_tokens},
            }),
        ));
        events.push(("message_stop", json!({"type": "message_stop"})));
        events
    }
}

pub(crate) async fn messages(shared: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    let head: Head = match serde_json::from_slice(body) {
        Ok(head) => head,
        Err(err) => return invalid(&format!("There was an error parsing the body: {err}")),
    };
    let Some(model) = head.model else {
        return invalid("model: Field required");
    };
    let stream = head.stream.unwrap_or(false);
    if let Some(chunks) = bench_chunks(&model, headers, DEFAULT_BENCH_CHUNKS) {
        return bench(headers, stream, chunks);
    }

    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(err) => return invalid(&format!("There was an error parsing the body: {err}")),
    };
    if !request.get("messages").is_some_and(Value::is_array) {
        return invalid("messages: Field required");
    }
    if !request.get("max_tokens").is_some_and(Value::is_u64) {
        return invalid("max_tokens: Field required");
    }

    let fault = Fault::of(&model);
    match fault {
        Some(Fault::Error(status)) => {
            return error_response(
                status,
                error_type_for(status),
                &Fault::error_message(status),
            )
        }
        Some(Fault::Garbage) => {
            return if stream {
                stream_response(
                    VecDeque::from([
                        Step::Chunk(Bytes::from_static(
                            b"event: message_start\ndata: {this is not json\n\n",
                        )),
                        Step::Chunk(Bytes::from_static(b"\x00\x01garbage without framing")),
                    ]),
                    SSE,
                )
            } else {
                garbage_json()
            };
        }
        Some(Fault::SlowFirstByte) => tokio::time::sleep(Duration::from_secs(2)).await,
        _ => {}
    }

    let script = Script::for_turn(&read_turn(&request), headers, body.len());
    let plan = Plan::from_script(&model, &script);
    for block in &plan.blocks {
        if let Block::ToolUse { id, name, input } = block {
            shared.issued(IssuedToolCall {
                dialect: Dialect::Anthropic,
                id: Some(id.clone()),
                name: name.clone(),
                input: input.clone(),
            });
        }
    }
    let id = new_id("msg_");
    if !stream {
        return json_response(StatusCode::OK, plan.message(&id));
    }
    let frames = plan
        .events(&id)
        .iter()
        .map(|(name, data)| {
            let kind = if *name == "content_block_delta" {
                Frame::Delta
            } else {
                Frame::Other
            };
            (sse_event(name, data), kind)
        })
        .collect();
    stream_response(stream_steps(frames, headers, fault), SSE)
}

// ---------------------------------------------------------------------------------
// Benchmark fast path: everything precomputed once, cloned as cheap `Bytes`.

struct BenchBytes {
    message: Bytes,
    head: Bytes,
    delta: Bytes,
    tail: Bytes,
}

fn bench_bytes() -> &'static BenchBytes {
    static BENCH: OnceLock<BenchBytes> = OnceLock::new();
    BENCH.get_or_init(|| {
        let plan = Plan {
            model: "bench".to_owned(),
            blocks: vec![Block::Text("ok".to_owned())],
            stop_reason: "end_turn",
            input_tokens: 10,
            output_tokens: 1,
            usage_extra: Map::new(),
        };
        let id = "msg_01benchbenchbenchbenchbe";
        let message = Bytes::from(serde_json::to_vec(&plan.message(id)).unwrap_or_default());
        let mut head = Vec::new();
        for (name, data) in [
            (
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": id, "type": "message", "role": "assistant", "model": "bench",
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": plan.usage(1),
                }}),
            ),
            ("ping", json!({"type": "ping"})),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
        ] {
            head.extend_from_slice(&sse_event(name, &data));
        }
        let delta = sse_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "tok "}}),
        );
        let mut tail = Vec::new();
        for (name, data) in [
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 20}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ] {
            tail.extend_from_slice(&sse_event(name, &data));
        }
        BenchBytes {
            message,
            head: Bytes::from(head),
            delta,
            tail: Bytes::from(tail),
        }
    })
}

fn bench(headers: &HeaderMap, stream: bool, chunks: usize) -> Response {
    let bytes = bench_bytes();
    if !stream {
        return base_response(
            StatusCode::OK,
            "application/json",
            Body::from(bytes.message.clone()),
        );
    }
    let delay = header_str(headers, "x-mock-chunk-delay-ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    let stamp = header_str(headers, "x-mock-stamp").is_some_and(|v| v == "true");
    let mut steps = VecDeque::with_capacity(chunks * 2 + 2);
    steps.push_back(Step::Chunk(bytes.head.clone()));
    for _ in 0..chunks {
        if !delay.is_zero() {
            steps.push_back(Step::Sleep(delay));
        }
        steps.push_back(if stamp {
            Step::StampedDelta
        } else {
            Step::Chunk(bytes.delta.clone())
        });
    }
    steps.push_back(Step::Chunk(bytes.tail.clone()));
    stream_response(steps, SSE)
}

/// A bench delta whose text is `t<ns since the Unix epoch> `, taken now.
pub(crate) fn stamped_delta() -> Bytes {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Bytes::from(format!(
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"t{ns} \"}}}}\n\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_delta_is_an_sse_event() {
        let bytes = stamped_delta();
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        let data = text
            .strip_prefix("event: content_block_delta\ndata: ")
            .and_then(|t| t.strip_suffix("\n\n"))
            .expect("one SSE event");
        let v: Value = serde_json::from_str(data).expect("JSON");
        let stamp = v["delta"]["text"].as_str().expect("text");
        assert!(stamp.starts_with('t') && stamp.ends_with(' '));
        assert!(stamp[1..stamp.len() - 1].parse::<u128>().expect("digits") > 0);
    }
}
