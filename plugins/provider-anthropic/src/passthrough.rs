//! Same-dialect passthrough: summarize a client request without decoding all of it,
//! apply the host's edits byte-exactly where possible, and summarize responses.
//!
//! Text-part order (shared by `summarize` and `edit`): the `system` string or each of its
//! text blocks, then for each message in order: a string content, or for each block in
//! order a `text` block's `text`, and a `tool_result`'s string content or each text item
//! of its content array.

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
    /// `system` is a string.
    System,
    /// `system[j].text`.
    SystemBlock(usize),
    /// `messages[i].content` is a string.
    Message(usize),
    /// `messages[i].content[j].text`.
    Block(usize, usize),
    /// `messages[i].content[j].content` is a string (tool result).
    ToolResult(usize, usize),
    /// `messages[i].content[j].content[k].text` (tool result).
    ToolResultBlock(usize, usize, usize),
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

fn role_of(v: &Value, i: usize) -> Result<Role, ApiError> {
    match v.get("role").and_then(Value::as_str) {
        Some("user") => Ok(Role::User),
        Some("assistant") => Ok(Role::Assistant),
        Some("system") => Ok(Role::System),
        Some(other) => Err(bad(format!(
            "messages.{i}.role: expected \"user\" or \"assistant\", got \"{other}\""
        ))),
        None => Err(bad(format!("messages.{i}.role: field required"))),
    }
}

/// Every text part location, with its role, in summarize order.
fn locate(v: &Value) -> Result<Vec<(Loc, Role)>, ApiError> {
    let mut out = Vec::new();
    match v.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(_)) => out.push((Loc::System, Role::System)),
        Some(Value::Array(blocks)) => {
            for (j, b) in blocks.iter().enumerate() {
                if b.get("type").and_then(Value::as_str) == Some("text") {
                    if !b.get("text").is_some_and(Value::is_string) {
                        return Err(bad(format!("system.{j}.text: expected string")));
                    }
                    out.push((Loc::SystemBlock(j), Role::System));
                }
            }
        }
        Some(other) => {
            return Err(bad(format!(
                "system: expected string or array, got {}",
                type_name(other)
            )))
        }
    }
    let messages = match v.get("messages") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(m)) => m,
        Some(other) => {
            return Err(bad(format!(
                "messages: expected array, got {}",
                type_name(other)
            )))
        }
    };
    for (i, m) in messages.iter().enumerate() {
        if !m.is_object() {
            return Err(bad(format!("messages.{i}: expected object")));
        }
        let role = role_of(m, i)?;
        match m.get("content") {
            Some(Value::String(_)) => out.push((Loc::Message(i), role)),
            Some(Value::Array(blocks)) => {
                for (j, b) in blocks.iter().enumerate() {
                    match b.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            if !b.get("text").is_some_and(Value::is_string) {
                                return Err(bad(format!(
                                    "messages.{i}.content.{j}.text: expected string"
                                )));
                            }
                            out.push((Loc::Block(i, j), role));
                        }
                        Some("tool_result") => match b.get("content") {
                            Some(Value::String(_)) => out.push((Loc::ToolResult(i, j), Role::Tool)),
                            Some(Value::Array(items)) => {
                                for (k, item) in items.iter().enumerate() {
                                    if item.get("type").and_then(Value::as_str) == Some("text")
                                        && item.get("text").is_some_and(Value::is_string)
                                    {
                                        out.push((Loc::ToolResultBlock(i, j, k), Role::Tool));
                                    }
                                }
                            }
                            _ => {}
                        },
                        Some(_) => {}
                        None => {
                            return Err(bad(format!(
                                "messages.{i}.content.{j}.type: field required"
                            )))
                        }
                    }
                }
            }
            Some(other) => {
                return Err(bad(format!(
                    "messages.{i}.content: expected string or array, got {}",
                    type_name(other)
                )))
            }
            None => return Err(bad(format!("messages.{i}.content: field required"))),
        }
    }
    Ok(out)
}

fn text_at(v: &Value, loc: Loc) -> Option<&str> {
    let m = |i: usize| v.get("messages").and_then(|m| m.get(i));
    match loc {
        Loc::System => v.get("system"),
        Loc::SystemBlock(j) => v.get("system")?.get(j)?.get("text"),
        Loc::Message(i) => m(i)?.get("content"),
        Loc::Block(i, j) => m(i)?.get("content")?.get(j)?.get("text"),
        Loc::ToolResult(i, j) => m(i)?.get("content")?.get(j)?.get("content"),
        Loc::ToolResultBlock(i, j, k) => m(i)?
            .get("content")?
            .get(j)?
            .get("content")?
            .get(k)?
            .get("text"),
    }?
    .as_str()
}

fn text_at_mut(v: &mut Value, loc: Loc) -> Option<&mut Value> {
    match loc {
        Loc::System => v.get_mut("system"),
        Loc::SystemBlock(j) => v.get_mut("system")?.get_mut(j)?.get_mut("text"),
        Loc::Message(i) => v.get_mut("messages")?.get_mut(i)?.get_mut("content"),
        Loc::Block(i, j) => v
            .get_mut("messages")?
            .get_mut(i)?
            .get_mut("content")?
            .get_mut(j)?
            .get_mut("text"),
        Loc::ToolResult(i, j) => v
            .get_mut("messages")?
            .get_mut(i)?
            .get_mut("content")?
            .get_mut(j)?
            .get_mut("content"),
        Loc::ToolResultBlock(i, j, k) => v
            .get_mut("messages")?
            .get_mut(i)?
            .get_mut("content")?
            .get_mut(j)?
            .get_mut("content")?
            .get_mut(k)?
            .get_mut("text"),
    }
}

/// The routing fields, read without building a DOM of the messages.
#[derive(Deserialize)]
struct Head {
    model: Option<Value>,
    stream: Option<Value>,
    max_tokens: Option<Value>,
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
            max_tokens: v.get("max_tokens").cloned(),
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
    let max_tokens = match head.max_tokens {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad("max_tokens: expected a non-negative integer".to_string()))?,
        ),
    };
    let mut text_parts = Vec::new();
    if let Some(v) = dom {
        for (loc, role) in locate(&v)? {
            let (message_index, block_index, system) = match loc {
                Loc::System => (0, 0, true),
                Loc::SystemBlock(j) => (0, j, true),
                Loc::Message(i) => (i, 0, false),
                Loc::Block(i, j) | Loc::ToolResult(i, j) | Loc::ToolResultBlock(i, j, _) => {
                    (i, j, false)
                }
            };
            text_parts.push(TextPart {
                role,
                message_index: message_index as u32,
                block_index: block_index as u32,
                system,
                text: text_at(&v, loc).unwrap_or_default().to_string(),
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
        match text_at_mut(&mut v, loc) {
            Some(slot) if slot.is_string() => *slot = Value::String(text.clone()),
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
    stop_reason: Option<String>,
    content: Option<Vec<IgnoredAny>>,
    input_tokens: Option<u64>,
}

/// Summarize a complete upstream response.
pub fn summarize_response(op: Operation, body: &[u8]) -> Result<ResponseSummary, ApiError> {
    let mut s = ResponseSummary::empty();
    if op == Operation::ListModels {
        return Ok(s);
    }
    let head: RespHead = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_gateway(format!("upstream response is not a Messages object: {e}"))
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
    s.stop_reason = head.stop_reason;
    s.blocks = head.content.map_or(0, |c| c.len() as u32);
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BODY: &str = r#"{
  "model" : "claude-sonnet-4-5",
  "max_tokens": 1024, "stream": true,
  "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}, {"type":"text","text":"Sys 2"}],
  "messages": [
    {"role": "user", "content": "Hello \"model\": x"},
    {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}, {"type": "text", "text": "Hi!"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"model": "no"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "r1"}, {"type":"image","source":{}}, {"type": "text", "text": "r2"}]},
                                 {"type": "tool_result", "tool_use_id": "t2", "content": "r3"}, {"type": "text", "text": "go"}]}
  ],
  "temperature": 0.70
}"#;

    #[test]
    fn summary_fast_and_full() {
        let s = summarize(Operation::Chat, BODY.as_bytes(), false).unwrap();
        assert_eq!(s.model, "claude-sonnet-4-5");
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
                (Role::System, 0, 1, true, "Sys 2"),
                (Role::User, 0, 0, false, "Hello \"model\": x"),
                (Role::Assistant, 1, 1, false, "Hi!"),
                (Role::Tool, 2, 0, false, "r1"),
                (Role::Tool, 2, 0, false, "r2"),
                (Role::Tool, 2, 1, false, "r3"),
                (Role::User, 2, 2, false, "go"),
            ]
        );
    }

    #[test]
    fn summary_errors_name_the_field() {
        for (body, want) in [
            ("[]", "object"),
            ("{\"messages\":[]}", "model"),
            ("{\"model\":1}", "model: expected string"),
            ("{\"model\":\"m\",\"stream\":\"yes\"}", "stream"),
            ("{\"model\":\"m\",\"max_tokens\":-1}", "max_tokens"),
            ("{\"model\":\"m\"", "JSON"),
        ] {
            let e = summarize(Operation::Chat, body.as_bytes(), false).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
        let e = summarize(
            Operation::Chat,
            br#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
            true,
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("messages.0.content: expected string or array"),
            "{}",
            e.message
        );
    }

    #[test]
    fn model_edit_is_a_byte_splice() {
        let edits = RequestEdits {
            model: Some("claude-opus-4-5".to_string()),
            texts: vec![],
        };
        let out = edit(Operation::Chat, BODY.as_bytes().to_vec(), &edits).unwrap();
        let want = BODY.replacen("\"claude-sonnet-4-5\"", "\"claude-opus-4-5\"", 1);
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
        assert_eq!(texts, vec!["S", "Sys 2", "U", "Hi!", "r1", "R2", "R3", "G"]);
        assert_eq!(s.model, "m2");
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with(r#"{"model":"m2","max_tokens":1024,"stream":true,"system""#),
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
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],
            "stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":3,"cache_read_input_tokens":4,"cache_creation_input_tokens":6,
            "cache_creation":{"ephemeral_5m_input_tokens":2,"ephemeral_1h_input_tokens":4}}}"#;
        let s = summarize_response(Operation::Chat, body).unwrap();
        assert_eq!(s.id.as_deref(), Some("msg_1"));
        assert_eq!(s.blocks, 2);
        assert_eq!(s.stop_reason.as_deref(), Some("end_turn"));
        assert_eq!(
            (
                s.usage.input_tokens,
                s.usage.output_tokens,
                s.usage.cache_read_tokens,
                s.usage.cache_write_tokens,
                s.usage.cache_write_1h_tokens
            ),
            (Some(10), Some(3), Some(4), Some(2), Some(4))
        );
        let s = summarize_response(Operation::CountTokens, br#"{"input_tokens": 42}"#).unwrap();
        assert_eq!(s.usage.input_tokens, Some(42));
    }
}
