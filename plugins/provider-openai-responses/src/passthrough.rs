//! Same-dialect passthrough: summarize a client request without decoding all of it,
//! apply the host's edits byte-exactly where possible, and summarize responses.
//!
//! Text-part order (shared by `summarize` and `edit`): `instructions`, then `input` —
//! a string input, or for each item in order: a message's string content or the `text`
//! of each `input_text`/`output_text` part, and a tool output's string `output` or the
//! `text` of each `input_text` part of its array. Message parts take the item's role;
//! tool outputs are `tool`. `message-index` is the item's index in `input`.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use tollgate_sdk::json::{quote, splice, top_level_value, type_name, Found};
use tollgate_sdk::provider::{
    ApiError, Operation, RequestEdits, RequestSummary, ResponseSummary, Role, TextPart,
};

use crate::wire;

/// Where a text part lives in the request JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loc {
    /// `instructions`.
    Instructions,
    /// `input` is a string.
    Input,
    /// `input[i].content` is a string.
    Content(usize),
    /// `input[i].content[j].text`.
    Part(usize, usize),
    /// `input[i].output` is a string (tool output).
    Output(usize),
    /// `input[i].output[j].text` (tool output part).
    OutputPart(usize, usize),
}

fn bad(msg: String) -> ApiError {
    ApiError::invalid_request(msg)
}

/// Parse a body as a JSON object, with a precise message when it is not one.
pub fn parse_object(body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("request body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(bad(format!(
            "request body: expected a JSON object, got {}",
            type_name(&v)
        )));
    }
    Ok(v)
}

fn is_text_part(p: &Value) -> bool {
    matches!(
        p.get("type").and_then(Value::as_str),
        Some("input_text") | Some("output_text")
    ) && p.get("text").is_some_and(Value::is_string)
}

/// Every text part location, with its role, in summarize order.
fn locate(v: &Value) -> Result<Vec<(Loc, Role)>, ApiError> {
    let mut out = Vec::new();
    match v.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(_)) => out.push((Loc::Instructions, Role::System)),
        Some(other) => {
            return Err(bad(format!(
                "instructions: expected string, got {}",
                type_name(other)
            )))
        }
    }
    let items = match v.get("input") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::String(_)) => {
            out.push((Loc::Input, Role::User));
            return Ok(out);
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(bad(format!(
                "input: expected string or array, got {}",
                type_name(other)
            )))
        }
    };
    for (i, item) in items.iter().enumerate() {
        let Some(o) = item.as_object() else {
            return Err(bad(format!("input.{i}: expected object")));
        };
        let ty = o
            .get("type")
            .and_then(Value::as_str)
            .or_else(|| o.contains_key("role").then_some("message"));
        match ty {
            Some("message") => {
                let role = match o.get("role").and_then(Value::as_str) {
                    Some("user") => Role::User,
                    Some("assistant") => Role::Assistant,
                    Some("system") => Role::System,
                    Some("developer") => Role::Developer,
                    Some(r) => return Err(bad(format!("input.{i}.role: unknown role \"{r}\""))),
                    None => return Err(bad(format!("input.{i}.role: field required"))),
                };
                match o.get("content") {
                    Some(Value::String(_)) => out.push((Loc::Content(i), role)),
                    Some(Value::Array(parts)) => {
                        for (j, p) in parts.iter().enumerate() {
                            if is_text_part(p) {
                                out.push((Loc::Part(i, j), role));
                            }
                        }
                    }
                    None | Some(Value::Null) => {}
                    Some(other) => {
                        return Err(bad(format!(
                            "input.{i}.content: expected string or array, got {}",
                            type_name(other)
                        )))
                    }
                }
            }
            Some("function_call_output")
            | Some("custom_tool_call_output")
            | Some("local_shell_call_output") => match o.get("output") {
                Some(Value::String(_)) => out.push((Loc::Output(i), Role::Tool)),
                Some(Value::Array(parts)) => {
                    for (j, p) in parts.iter().enumerate() {
                        if is_text_part(p) {
                            out.push((Loc::OutputPart(i, j), Role::Tool));
                        }
                    }
                }
                _ => {}
            },
            Some(_) => {}
            None => return Err(bad(format!("input.{i}.type: field required"))),
        }
    }
    Ok(out)
}

fn slot(v: &Value, loc: Loc) -> Option<&Value> {
    let item = |i: usize| v.get("input").and_then(|m| m.get(i));
    match loc {
        Loc::Instructions => v.get("instructions"),
        Loc::Input => v.get("input"),
        Loc::Content(i) => item(i)?.get("content"),
        Loc::Part(i, j) => item(i)?.get("content")?.get(j)?.get("text"),
        Loc::Output(i) => item(i)?.get("output"),
        Loc::OutputPart(i, j) => item(i)?.get("output")?.get(j)?.get("text"),
    }
}

fn item_mut(v: &mut Value, i: usize) -> Option<&mut Value> {
    v.get_mut("input")?.get_mut(i)
}

fn slot_mut(v: &mut Value, loc: Loc) -> Option<&mut Value> {
    let item = item_mut;
    match loc {
        Loc::Instructions => v.get_mut("instructions"),
        Loc::Input => v.get_mut("input"),
        Loc::Content(i) => item(v, i)?.get_mut("content"),
        Loc::Part(i, j) => item(v, i)?.get_mut("content")?.get_mut(j)?.get_mut("text"),
        Loc::Output(i) => item(v, i)?.get_mut("output"),
        Loc::OutputPart(i, j) => item(v, i)?.get_mut("output")?.get_mut(j)?.get_mut("text"),
    }
}

/// The routing fields, read without building a DOM of the items.
#[derive(Deserialize)]
struct Head {
    model: Option<Value>,
    stream: Option<Value>,
    max_output_tokens: Option<Value>,
}

fn starts_with_object(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

/// Summarize a request for routing (and, with `want_text`, for guardrails).
pub fn summarize(op: Operation, body: &[u8], want_text: bool) -> Result<RequestSummary, ApiError> {
    if op == Operation::ListModels {
        return Ok(RequestSummary {
            operation: op,
            model: String::new(),
            stream: false,
            max_tokens: None,
            text_parts: Vec::new(),
        });
    }
    let (head, dom) = if want_text {
        let v = parse_object(body)?;
        let head = Head {
            model: v.get("model").cloned(),
            stream: v.get("stream").cloned(),
            max_output_tokens: v.get("max_output_tokens").cloned(),
        };
        (head, Some(v))
    } else {
        if !starts_with_object(body) {
            return Err(bad("request body: expected a JSON object".to_string()));
        }
        let head: Head = serde_json::from_slice(body)
            .map_err(|e| bad(format!("request body is not valid JSON: {e}")))?;
        (head, None)
    };
    let model = match head.model {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => return Err(bad("model: field required".to_string())),
        Some(other) => {
            return Err(bad(format!(
                "model: expected string, got {}",
                type_name(&other)
            )))
        }
    };
    let stream = match head.stream {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(bad(format!(
                "stream: expected boolean, got {}",
                type_name(&other)
            )))
        }
    };
    let max_tokens = match head.max_output_tokens {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    bad("max_output_tokens: expected a non-negative integer".to_string())
                })?,
        ),
    };
    let mut text_parts = Vec::new();
    if let Some(v) = dom {
        for (loc, role) in locate(&v)? {
            let (message_index, block_index, system) = match loc {
                Loc::Instructions => (0, 0, true),
                Loc::Input => (0, 0, false),
                Loc::Content(i) | Loc::Output(i) => (i, 0, false),
                Loc::Part(i, j) | Loc::OutputPart(i, j) => (i, j, false),
            };
            text_parts.push(TextPart {
                role,
                message_index: message_index as u32,
                block_index: block_index as u32,
                system,
                text: slot(&v, loc)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            });
        }
    }
    Ok(RequestSummary {
        operation: op,
        model,
        stream,
        max_tokens,
        text_parts,
    })
}

/// Apply edits. A model-only edit splices the `"model"` string and keeps every other
/// byte; text edits re-serialize the body with its key order preserved.
pub fn edit(op: Operation, body: Vec<u8>, edits: &RequestEdits) -> Result<Vec<u8>, ApiError> {
    if op == Operation::ListModels || (edits.model.is_none() && edits.texts.is_empty()) {
        return Ok(body);
    }
    if edits.texts.is_empty() {
        let model = edits.model.as_deref().unwrap_or_default();
        return match top_level_value(&body, "model") {
            Ok(Found::String(range)) => Ok(splice(&body, range, quote(model).as_bytes())),
            Ok(Found::Missing) => Err(bad("model: field required".to_string())),
            Ok(Found::Other(_)) => Err(bad("model: expected string".to_string())),
            Err(e) => Err(bad(format!("request body: {e}"))),
        };
    }
    let mut v = parse_object(&body)?;
    let locs = locate(&v)?;
    for (index, text) in &edits.texts {
        let Some(&(loc, _)) = locs.get(*index as usize) else {
            return Err(bad(format!(
                "text edit: part {index} does not exist (the request has {} text parts)",
                locs.len()
            )));
        };
        match slot_mut(&mut v, loc) {
            Some(s) if s.is_string() => *s = Value::String(text.clone()),
            _ => return Err(bad(format!("text edit: part {index} is not a string"))),
        }
    }
    if let (Some(model), Some(obj)) = (&edits.model, v.as_object_mut()) {
        obj.insert("model".to_string(), Value::String(model.clone()));
    }
    serde_json::to_vec(&v).map_err(|e| ApiError::internal(format!("re-encoding request: {e}")))
}

#[derive(Deserialize)]
struct RespHead {
    id: Option<String>,
    model: Option<String>,
    usage: Option<Value>,
    status: Option<String>,
    incomplete_details: Option<Value>,
    output: Option<Vec<IgnoredAny>>,
    input_tokens: Option<u64>,
}

/// Summarize a complete upstream response.
pub fn summarize_response(op: Operation, body: &[u8]) -> Result<ResponseSummary, ApiError> {
    let mut s = ResponseSummary::empty();
    if op == Operation::ListModels {
        return Ok(s);
    }
    let head: RespHead = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_gateway(format!("upstream response is not a Responses object: {e}"))
    })?;
    if op == Operation::CountTokens {
        s.usage.input_tokens = head.input_tokens;
        return Ok(s);
    }
    s.id = head.id;
    s.model = head.model;
    if let Some(u) = &head.usage {
        s.usage = wire::usage_from(u);
    }
    let reason = head
        .incomplete_details
        .as_ref()
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str);
    s.stop_reason = wire::summary_stop_reason(head.status.as_deref(), reason);
    s.blocks = head.output.map_or(0, |o| o.len() as u32);
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BODY: &str = r#"{
  "model" : "gpt-5-codex",
  "instructions": "Be brief.",
  "input": [
    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Dev"}]},
    {"role": "user", "content": "Hello \"model\": x"},
    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "not a text part"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi!"}]},
    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{\"model\":\"no\"}"},
    {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "r1"}, {"type": "input_image", "image_url": "x"}, {"type": "input_text", "text": "r2"}]},
    {"type": "custom_tool_call_output", "call_id": "c2", "output": "r3"},
    {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "y"}, {"type": "input_text", "text": "go"}]}
  ],
  "stream": true, "max_output_tokens": 1024,
  "temperature": 0.70
}"#;

    #[test]
    fn summary_fast_and_full() {
        let s = summarize(Operation::Chat, BODY.as_bytes(), false).unwrap();
        assert_eq!(s.model, "gpt-5-codex");
        assert!(s.stream);
        assert_eq!(s.max_tokens, Some(1024));
        assert!(s.text_parts.is_empty());
        let s = summarize(Operation::Chat, BODY.as_bytes(), true).unwrap();
        let got: Vec<(Role, u32, u32, bool, &str)> = s
            .text_parts
            .iter()
            .map(|p| {
                (
                    p.role,
                    p.message_index,
                    p.block_index,
                    p.system,
                    p.text.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Role::System, 0, 0, true, "Be brief."),
                (Role::Developer, 0, 0, false, "Dev"),
                (Role::User, 1, 0, false, "Hello \"model\": x"),
                (Role::Assistant, 3, 0, false, "Hi!"),
                (Role::Tool, 5, 0, false, "r1"),
                (Role::Tool, 5, 2, false, "r2"),
                (Role::Tool, 6, 0, false, "r3"),
                (Role::User, 7, 1, false, "go"),
            ]
        );
        let s = summarize(
            Operation::Chat,
            br#"{"model":"m","input":"just text"}"#,
            true,
        )
        .unwrap();
        assert_eq!(s.text_parts.len(), 1);
        assert_eq!(s.text_parts[0].text, "just text");
    }

    #[test]
    fn summary_errors_name_the_field() {
        for (body, want) in [
            ("[]", "object"),
            ("{\"input\":[]}", "model"),
            ("{\"model\":1}", "model: expected string"),
            ("{\"model\":\"m\",\"stream\":\"yes\"}", "stream"),
            (
                "{\"model\":\"m\",\"max_output_tokens\":-1}",
                "max_output_tokens",
            ),
            ("{\"model\":\"m\"", "JSON"),
        ] {
            let e = summarize(Operation::Chat, body.as_bytes(), false).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
        let e = summarize(
            Operation::Chat,
            br#"{"model":"m","input":[{"role":"user","content":5}]}"#,
            true,
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("input.0.content: expected string or array"),
            "{}",
            e.message
        );
    }

    #[test]
    fn model_edit_is_a_byte_splice() {
        let edits = RequestEdits {
            model: Some("gpt-5".to_string()),
            texts: vec![],
        };
        let out = edit(Operation::Chat, BODY.as_bytes().to_vec(), &edits).unwrap();
        let want = BODY.replacen("\"gpt-5-codex\"", "\"gpt-5\"", 1);
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn text_edits_follow_summary_order() {
        let edits = RequestEdits {
            model: Some("m2".to_string()),
            texts: vec![
                (0, "S".into()),
                (2, "U".into()),
                (5, "R2".into()),
                (6, "R3".into()),
                (7, "G".into()),
            ],
        };
        let out = edit(Operation::Chat, BODY.as_bytes().to_vec(), &edits).unwrap();
        let s = summarize(Operation::Chat, &out, true).unwrap();
        let texts: Vec<&str> = s.text_parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, vec!["S", "Dev", "U", "Hi!", "r1", "R2", "R3", "G"]);
        assert_eq!(s.model, "m2");
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with(r#"{"model":"m2","instructions":"S","input""#),
            "{out}"
        );
        let bad_edit = RequestEdits {
            model: None,
            texts: vec![(8, "x".into())],
        };
        assert_eq!(
            edit(Operation::Chat, BODY.as_bytes().to_vec(), &bad_edit)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn response_summary() {
        let body = br#"{"id":"resp_1","object":"response","model":"gpt-5","status":"incomplete",
            "incomplete_details":{"reason":"max_output_tokens"},
            "output":[{"type":"reasoning","summary":[]},{"type":"message","role":"assistant","content":[]}],
            "usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":1},"total_tokens":13}}"#;
        let s = summarize_response(Operation::Chat, body).unwrap();
        assert_eq!(s.id.as_deref(), Some("resp_1"));
        assert_eq!(s.blocks, 2);
        assert_eq!(s.stop_reason.as_deref(), Some("max_output_tokens"));
        assert_eq!(
            (
                s.usage.input_tokens,
                s.usage.cache_read_tokens,
                s.usage.output_tokens,
                s.usage.reasoning_tokens
            ),
            (Some(6), Some(4), Some(3), Some(1))
        );
        let s = summarize_response(
            Operation::CountTokens,
            br#"{"object":"response.input_tokens","input_tokens": 42}"#,
        )
        .unwrap();
        assert_eq!(s.usage.input_tokens, Some(42));
        assert!(summarize_response(Operation::Chat, b"<html>").is_err());
    }
}
