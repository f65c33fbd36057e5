//! The OpenAI Responses dialect: `POST /v1/responses`, JSON or SSE
//! (`response.created` … `response.completed`, each event with its `sequence_number`),
//! with OpenAI's error shape.

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::openai::{function_tools, invalid, parse_body, preflight};
use super::{
    content_text, json_response, new_id, split_chars, split_words, sse_event, stream_response,
    stream_steps, unix_now, Dialect, Frame, IssuedToolCall, Script, Shared, ToolKind, Turn,
};

const SSE: &str = "text/event-stream; charset=utf-8";

/// The text of a `*_call_output` item's `output` (a string or content parts).
fn output_text(output: Option<&Value>) -> String {
    match output {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(v @ Value::Array(_)) => content_text(Some(v)).trim().to_owned(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn item_type(item: &Value) -> &str {
    match item.get("type").and_then(Value::as_str) {
        Some(t) => t,
        None if item.get("role").is_some() => "message",
        None => "",
    }
}

/// The script's view of a Responses request.
pub(crate) fn read_turn(request: &Value) -> Turn {
    let (user_text, tool_results) = match request.get("input") {
        Some(Value::String(s)) => (s.clone(), Vec::new()),
        Some(Value::Array(items)) => {
            let mut results: Vec<(String, String)> = items
                .iter()
                .rev()
                .take_while(|i| item_type(i).ends_with("_call_output"))
                .map(|i| {
                    (
                        i.get("call_id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        output_text(i.get("output")),
                    )
                })
                .collect();
            results.reverse();
            let user = items
                .iter()
                .rev()
                .find(|i| {
                    item_type(i) == "message"
                        && i.get("role").and_then(Value::as_str) == Some("user")
                })
                .map(|i| content_text(i.get("content")))
                .unwrap_or_default();
            (user, results)
        }
        _ => (String::new(), Vec::new()),
    };
    let thinking = request
        .pointer("/reasoning/summary")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    let json_schema = match request.pointer("/text/format/type").and_then(Value::as_str) {
        Some("json_schema") => Some(
            request
                .pointer("/text/format/schema")
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
        thinking,
        json_schema,
    }
}

fn usage(script: &Script) -> Value {
    let output = script.output_tokens();
    script.merge_usage(json!({
        "input_tokens": script.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": script.thinking_tokens()},
        "total_tokens": script.input_tokens + output,
    }))
}

/// The `response` object, echoing the request's settings.
fn response_object(
    id: &str,
    created_at: u64,
    model: &str,
    request: &Value,
    output: &[Value],
    usage: Option<Value>,
) -> Value {
    let field = |name: &str, default: Value| request.get(name).cloned().unwrap_or(default);
    let completed = usage.is_some();
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": if completed { "completed" } else { "in_progress" },
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": field("instructions", Value::Null),
        "max_output_tokens": field("max_output_tokens", Value::Null),
        "max_tool_calls": null,
        "model": model,
        "output": output,
        "parallel_tool_calls": field("parallel_tool_calls", json!(true)),
        "previous_response_id": field("previous_response_id", Value::Null),
        "prompt_cache_key": field("prompt_cache_key", Value::Null),
        "reasoning": field("reasoning", json!({"effort": null, "summary": null})),
        "safety_identifier": null,
        "service_tier": "default",
        "store": field("store", json!(true)),
        "temperature": field("temperature", json!(1.0)),
        "text": field("text", json!({"format": {"type": "text"}, "verbosity": "medium"})),
        "tool_choice": field("tool_choice", json!("auto")),
        "tools": field("tools", json!([])),
        "top_logprobs": 0,
        "top_p": field("top_p", json!(1.0)),
        "truncation": field("truncation", json!("disabled")),
        "usage": usage,
        "user": null,
        "metadata": field("metadata", json!({})),
    })
}

/// One output item, in its final form.
struct Item {
    full: Value,
    kind: &'static str,
}

fn items(shared: &Shared, request: &Value, script: &Script) -> Vec<Item> {
    let mut out = Vec::new();
    if let Some(thinking) = &script.thinking {
        let mut item = json!({
            "id": new_id("rs_"),
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": thinking}],
        });
        let wants_encrypted = request
            .get("include")
            .and_then(Value::as_array)
            .is_some_and(|i| i.iter().any(|v| v == "reasoning.encrypted_content"));
        if wants_encrypted {
            item["encrypted_content"] = json!("gAAAAABmock-encrypted-reasoning");
        }
        out.push(Item {
            full: item,
            kind: "reasoning",
        });
    }
    out.push(Item {
        full: json!({
            "id": new_id("msg_"),
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": script.text, "annotations": [], "logprobs": []}],
        }),
        kind: "message",
    });
    if let Some(call) = &script.call {
        let call_id = new_id("call_");
        shared.issued(IssuedToolCall {
            dialect: Dialect::OpenAiResponses,
            id: Some(call_id.clone()),
            name: call.name.clone(),
            input: call.input.clone(),
        });
        let (full, kind) = match call.kind {
            ToolKind::LocalShell => (
                json!({
                    "id": new_id("lsh_"),
                    "type": "local_shell_call",
                    "status": "completed",
                    "call_id": call_id,
                    "action": call.input,
                }),
                "local_shell_call",
            ),
            ToolKind::Function => (
                json!({
                    "id": new_id("fc_"),
                    "type": "function_call",
                    "status": "completed",
                    "call_id": call_id,
                    "name": call.name,
                    "arguments": call.input.to_string(),
                }),
                "function_call",
            ),
        };
        out.push(Item { full, kind });
    }
    out
}

pub(crate) async fn create(shared: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
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
    if request.get("input").is_none() && request.get("previous_response_id").is_none() {
        return invalid("Missing required parameter: 'input'.");
    }
    let script = Script::for_turn(&read_turn(&request), headers, body.len());
    let items = items(shared, &request, &script);
    let id = new_id("resp_");
    let created_at = unix_now();
    let finals: Vec<Value> = items.iter().map(|i| i.full.clone()).collect();
    let done = response_object(
        &id,
        created_at,
        &model,
        &request,
        &finals,
        Some(usage(&script)),
    );
    if !stream {
        return json_response(StatusCode::OK, done);
    }

    let mut events: Vec<(Value, Frame)> = Vec::new();
    let started = response_object(&id, created_at, &model, &request, &[], None);
    events.push((
        json!({"type": "response.created", "response": started}),
        Frame::Other,
    ));
    events.push((
        json!({"type": "response.in_progress", "response": started}),
        Frame::Other,
    ));
    for (output_index, item) in items.iter().enumerate() {
        let item_id = item.full["id"].clone();
        let mut added = item.full.clone();
        added["status"] = json!("in_progress");
        match item.kind {
            "reasoning" => {
                added["summary"] = json!([]);
                added.as_object_mut().map(|o| o.remove("status"));
            }
            "message" => added["content"] = json!([]),
            "function_call" => added["arguments"] = json!(""),
            _ => {}
        }
        events.push((
            json!({"type": "response.output_item.added", "output_index": output_index, "item": added}),
            Frame::Other,
        ));
        match item.kind {
            "reasoning" => {
                let text = item.full["summary"][0]["text"].as_str().unwrap_or_default();
                let part = json!({"type": "summary_text", "text": ""});
                events.push((
                    json!({"type": "response.reasoning_summary_part.added", "item_id": item_id,
                           "output_index": output_index, "summary_index": 0, "part": part}),
                    Frame::Other,
                ));
                for piece in split_words(text, 3) {
                    events.push((
                        json!({"type": "response.reasoning_summary_text.delta", "item_id": item_id,
                               "output_index": output_index, "summary_index": 0, "delta": piece}),
                        Frame::Delta,
                    ));
                }
                events.push((
                    json!({"type": "response.reasoning_summary_text.done", "item_id": item_id,
                           "output_index": output_index, "summary_index": 0, "text": text}),
                    Frame::Other,
                ));
                events.push((
                    json!({"type": "response.reasoning_summary_part.done", "item_id": item_id,
                           "output_index": output_index, "summary_index": 0,
                           "part": {"type": "summary_text", "text": text}}),
                    Frame::Other,
                ));
            }
            "message" => {
                let part = item.full["content"][0].clone();
                let text = part["text"].as_str().unwrap_or_default();
                events.push((
                    json!({"type": "response.content_part.added", "item_id": item_id,
                           "output_index": output_index, "content_index": 0,
                           "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}),
                    Frame::Other,
                ));
                for piece in split_words(text, 2) {
                    events.push((
                        json!({"type": "response.output_text.delta", "item_id": item_id,
                               "output_index": output_index, "content_index": 0,
                               "delta": piece, "logprobs": []}),
                        Frame::Delta,
                    ));
                }
                events.push((
                    json!({"type": "response.output_text.done", "item_id": item_id,
                           "output_index": output_index, "content_index": 0,
                           "text": text, "logprobs": []}),
                    Frame::Other,
                ));
                events.push((
                    json!({"type": "response.content_part.done", "item_id": item_id,
                           "output_index": output_index, "content_index": 0, "part": part}),
                    Frame::Other,
                ));
            }
            "function_call" => {
                let arguments = item.full["arguments"].as_str().unwrap_or_default();
                for piece in split_chars(arguments, 4) {
                    events.push((
                        json!({"type": "response.function_call_arguments.delta", "item_id": item_id,
                               "output_index": output_index, "delta": piece}),
                        Frame::Delta,
                    ));
                }
                events.push((
                    json!({"type": "response.function_call_arguments.done", "item_id": item_id,
                           "output_index": output_index, "name": item.full["name"],
                           "arguments": arguments}),
                    Frame::Other,
                ));
            }
            _ => {}
        }
        events.push((
            json!({"type": "response.output_item.done", "output_index": output_index, "item": item.full}),
            Frame::Other,
        ));
    }
    events.push((
        json!({"type": "response.completed", "response": done}),
        Frame::Other,
    ));
    let frames = events
        .into_iter()
        .enumerate()
        .map(|(seq, (mut data, kind))| {
            data["sequence_number"] = json!(seq);
            let name = data["type"].as_str().unwrap_or_default().to_owned();
            (sse_event(&name, &data), kind)
        })
        .collect();
    stream_response(stream_steps(frames, headers, fault), SSE)
}
