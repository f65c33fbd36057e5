//! Same-dialect passthrough: summarize a client request without decoding all of it,
//! apply the host's edits as byte splices (every byte outside the replaced string
//! values stays as the client sent it), and summarize upstream responses.
//!
//! Text-part order (shared by `summarize` and `edit`): for each message in order, a
//! string `content`, or each `text` part of an array `content`. Roles `system`,
//! `developer`, `user`, `assistant` and `tool` (and the deprecated `function`) all
//! count; `system` and `developer` parts are marked `system`. Refusal parts, tool-call
//! arguments and media are not text parts.

use core::ops::Range;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use tollgate_sdk::json::{quote, top_level_value, type_name, Found};
use tollgate_sdk::provider::{
    ApiError, Operation, RequestEdits, RequestSummary, ResponseSummary, Role, TextPart,
};

use crate::{wire, Flavor};

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

/// Where a text part lives in the request JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loc {
    /// `messages[i].content` is a string.
    Message(usize),
    /// `messages[i].content[j].text`.
    Part(usize, usize),
}

/// The canonical role of a Chat Completions role name.
pub fn role_of(v: &Value, i: usize) -> Result<Role, ApiError> {
    match v.get("role").and_then(Value::as_str) {
        Some("system") => Ok(Role::System),
        Some("developer") => Ok(Role::Developer),
        Some("user") => Ok(Role::User),
        Some("assistant") => Ok(Role::Assistant),
        Some("tool") | Some("function") => Ok(Role::Tool),
        Some(other) => Err(bad(format!(
            "messages.{i}.role: expected \"system\", \"developer\", \"user\", \"assistant\" or \"tool\", got \"{other}\""
        ))),
        None => Err(bad(format!("messages.{i}.role: field required"))),
    }
}

/// Every text part location, with its role, in summarize order.
fn locate(v: &Value) -> Result<Vec<(Loc, Role)>, ApiError> {
    let mut out = Vec::new();
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
            return Err(bad(format!(
                "messages.{i}: expected object, got {}",
                type_name(m)
            )));
        }
        let role = role_of(m, i)?;
        match m.get("content") {
            None | Some(Value::Null) => {}
            Some(Value::String(_)) => out.push((Loc::Message(i), role)),
            Some(Value::Array(parts)) => {
                for (j, p) in parts.iter().enumerate() {
                    if p.get("type").and_then(Value::as_str) == Some("text") {
                        if !p.get("text").is_some_and(Value::is_string) {
                            return Err(bad(format!(
                                "messages.{i}.content.{j}.text: expected string"
                            )));
                        }
                        out.push((Loc::Part(i, j), role));
                    }
                }
            }
            Some(other) => {
                return Err(bad(format!(
                    "messages.{i}.content: expected string or array, got {}",
                    type_name(other)
                )))
            }
        }
    }
    Ok(out)
}

fn text_at(v: &Value, loc: Loc) -> Option<&str> {
    let m = |i: usize| v.get("messages").and_then(|m| m.get(i));
    match loc {
        Loc::Message(i) => m(i)?.get("content"),
        Loc::Part(i, j) => m(i)?.get("content")?.get(j)?.get("text"),
    }?
    .as_str()
}

/// The routing fields, read without building a DOM of the messages.
#[derive(Deserialize)]
struct Head {
    model: Option<Value>,
    stream: Option<Value>,
    max_tokens: Option<Value>,
    max_completion_tokens: Option<Value>,
}

fn starts_with_object(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

fn cap(v: Option<Value>, key: &str) -> Result<Option<u32>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(format!("{key}: expected a non-negative integer"))),
    }
}

/// Summarize a request for routing (and, with `want_text`, for guardrails). The
/// output cap is `max_completion_tokens`, else `max_tokens`. With a flavor whose
/// routes name the model in the path, a missing `model` gives an empty model.
pub fn summarize(
    flavor: Flavor,
    op: Operation,
    body: &[u8],
    want_text: bool,
) -> Result<RequestSummary, ApiError> {
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
            max_completion_tokens: v.get("max_completion_tokens").cloned(),
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
        None | Some(Value::Null) if flavor.model_in_path() => String::new(),
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
    let max_tokens = match cap(head.max_completion_tokens, "max_completion_tokens")? {
        Some(n) => Some(n),
        None => cap(head.max_tokens, "max_tokens")?,
    };
    let mut text_parts = Vec::new();
    if let Some(v) = dom {
        for (loc, role) in locate(&v)? {
            let (message_index, block_index) = match loc {
                Loc::Message(i) => (i, 0),
                Loc::Part(i, j) => (i, j),
            };
            text_parts.push(TextPart {
                role,
                message_index: message_index as u32,
                block_index: block_index as u32,
                system: matches!(role, Role::System | Role::Developer),
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

/// Apply edits as byte splices: the top-level `"model"` string and the edited text
/// parts' string values are replaced; every other byte is kept. (A body without a
/// `model`, on a flavor that names it in the path, is left as it is: the path names
/// the deployment.)
pub fn edit(
    flavor: Flavor,
    op: Operation,
    body: Vec<u8>,
    edits: &RequestEdits,
) -> Result<Vec<u8>, ApiError> {
    if op == Operation::ListModels || (edits.model.is_none() && edits.texts.is_empty()) {
        return Ok(body);
    }
    let mut splices: Vec<(Range<usize>, String)> = Vec::new();
    if let Some(model) = &edits.model {
        match top_level_value(&body, "model") {
            Ok(Found::String(range)) => splices.push((range, quote(model))),
            Ok(Found::Missing) if flavor.model_in_path() => {}
            Ok(Found::Missing) => return Err(bad("model: field required".to_string())),
            Ok(Found::Other(_)) => return Err(bad("model: expected string".to_string())),
            Err(e) => return Err(bad(format!("request body: {e}"))),
        }
    }
    if !edits.texts.is_empty() {
        let v = parse_object(&body)?;
        let locs = locate(&v)?;
        let tree = spans::parse(&body)
            .map_err(|e| bad(format!("request body: invalid JSON at byte {e}")))?;
        for (index, text) in &edits.texts {
            let Some(&(loc, _)) = locs.get(*index as usize) else {
                return Err(bad(format!(
                    "text edit: part {index} does not exist (the request has {} text parts)",
                    locs.len()
                )));
            };
            let node = match loc {
                Loc::Message(i) => tree.key("messages").index(i).key("content"),
                Loc::Part(i, j) => tree
                    .key("messages")
                    .index(i)
                    .key("content")
                    .index(j)
                    .key("text"),
            };
            let Some(range) = node.string_range() else {
                return Err(ApiError::internal(format!(
                    "text edit: part {index} could not be located in the body"
                )));
            };
            // A later edit of the same part wins.
            splices.retain(|(r, _)| r != &range);
            splices.push((range, quote(text)));
        }
    }
    splices.sort_by_key(|(r, _)| r.start);
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut at = 0;
    for (range, text) in &splices {
        if range.start < at {
            return Err(ApiError::internal(
                "text edit: overlapping edits".to_string(),
            ));
        }
        out.extend_from_slice(&body[at..range.start]);
        out.extend_from_slice(text.as_bytes());
        at = range.end;
    }
    out.extend_from_slice(&body[at..]);
    Ok(out)
}

/// A byte-span view of a JSON document: where each value is, without its content.
/// Used only to find the string values an edit replaces.
mod spans {
    use core::ops::Range;

    /// A value and its children's positions.
    #[derive(Debug, Default)]
    pub enum Node {
        Object(Vec<(String, Node)>),
        Array(Vec<Node>),
        String(Range<usize>),
        #[default]
        Other,
    }

    static MISSING: Node = Node::Other;

    impl Node {
        /// The value of `key` (the last one if repeated, as serde_json reads it).
        pub fn key(&self, key: &str) -> &Node {
            match self {
                Node::Object(members) => members
                    .iter()
                    .rev()
                    .find(|(k, _)| k == key)
                    .map_or(&MISSING, |(_, v)| v),
                _ => &MISSING,
            }
        }
        /// Element `i` of an array.
        pub fn index(&self, i: usize) -> &Node {
            match self {
                Node::Array(items) => items.get(i).unwrap_or(&MISSING),
                _ => &MISSING,
            }
        }
        /// The range of a string value, quotes included.
        pub fn string_range(&self) -> Option<Range<usize>> {
            match self {
                Node::String(r) => Some(r.clone()),
                _ => None,
            }
        }
    }

    struct Parser<'a> {
        b: &'a [u8],
        i: usize,
    }

    /// Parse `body`; the error is the byte offset where it failed.
    pub fn parse(body: &[u8]) -> Result<Node, usize> {
        let mut p = Parser { b: body, i: 0 };
        if body.starts_with(&[0xEF, 0xBB, 0xBF]) {
            p.i = 3;
        }
        p.value(0)
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }
        /// At a `"`: skip the string, return its range (quotes included) and whether
        /// it has escapes.
        fn string(&mut self) -> Result<(Range<usize>, bool), usize> {
            let start = self.i;
            self.i += 1;
            let mut escaped = false;
            loop {
                match self.peek() {
                    None => return Err(self.i),
                    Some(b'"') => {
                        self.i += 1;
                        return Ok((start..self.i, escaped));
                    }
                    Some(b'\\') => {
                        escaped = true;
                        self.i += 2;
                    }
                    Some(_) => self.i += 1,
                }
            }
        }
        fn value(&mut self, depth: usize) -> Result<Node, usize> {
            if depth > 256 {
                return Err(self.i);
            }
            self.ws();
            match self.peek() {
                None => Err(self.i),
                Some(b'"') => Ok(Node::String(self.string()?.0)),
                Some(b'{') => {
                    self.i += 1;
                    let mut members = Vec::new();
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(Node::Object(members));
                    }
                    loop {
                        self.ws();
                        if self.peek() != Some(b'"') {
                            return Err(self.i);
                        }
                        let (r, escaped) = self.string()?;
                        let raw = self.b.get(r.clone()).ok_or(self.i)?;
                        let key = if escaped {
                            serde_json::from_slice::<String>(raw).map_err(|_| r.start)?
                        } else {
                            String::from_utf8_lossy(raw.get(1..raw.len() - 1).unwrap_or(b""))
                                .into_owned()
                        };
                        self.ws();
                        if self.peek() != Some(b':') {
                            return Err(self.i);
                        }
                        self.i += 1;
                        let v = self.value(depth + 1)?;
                        members.push((key, v));
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                return Ok(Node::Object(members));
                            }
                            _ => return Err(self.i),
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        return Ok(Node::Array(items));
                    }
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(Node::Array(items));
                            }
                            _ => return Err(self.i),
                        }
                    }
                }
                Some(_) => {
                    let start = self.i;
                    while let Some(c) = self.peek() {
                        if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                            break;
                        }
                        self.i += 1;
                    }
                    if self.i == start {
                        Err(self.i)
                    } else {
                        Ok(Node::Other)
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct ChoiceHead {
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct RespHead {
    id: Option<String>,
    model: Option<String>,
    usage: Option<Value>,
    choices: Option<Vec<ChoiceHead>>,
    data: Option<Vec<IgnoredAny>>,
}

/// Summarize a complete upstream response: id, model, usage, the first choice's
/// `finish_reason`, and the number of choices.
pub fn summarize_response(op: Operation, body: &[u8]) -> Result<ResponseSummary, ApiError> {
    let mut s = ResponseSummary::empty();
    let head: RespHead = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_gateway(format!(
            "upstream response is not a chat.completion object: {e}"
        ))
    })?;
    if op == Operation::ListModels {
        s.blocks = head.data.map_or(0, |d| d.len() as u32);
        return Ok(s);
    }
    s.id = head.id;
    s.model = head.model;
    if let Some(u) = head.usage.as_ref().filter(|u| u.is_object()) {
        s.usage = wire::usage_from(u);
    }
    let choices = head.choices.unwrap_or_default();
    s.stop_reason = choices.first().and_then(|c| c.finish_reason.clone());
    s.blocks = choices.len() as u32;
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BODY: &str = r#"{
  "model" : "gpt-4o",
  "max_tokens": 100, "max_completion_tokens": 1024, "stream": true,
  "messages": [
    {"role": "system", "content": "Be brief. \u00e9"},
    {"role": "developer", "content": [{"type": "text", "text": "Dev rules"}]},
    {"role": "user", "content": [{"type": "text", "text": "Hello \"model\": x ✓"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}, {"type":"text","text":"second"}]},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"model\":\"no\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "result"},
    {"role": "assistant", "content": [{"type": "text", "text": "Hi!"}, {"type": "refusal", "refusal": "no"}]},
    {"role": "user", "content": "go"}
  ],
  "temperature": 0.70
}"#;

    fn parts(s: &RequestSummary) -> Vec<(Role, u32, u32, bool, &str)> {
        s.text_parts
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
            .collect()
    }

    #[test]
    fn summary_fast_and_full() {
        let s = summarize(Flavor::OpenAi, Operation::Chat, BODY.as_bytes(), false).unwrap();
        assert_eq!(
            (s.model.as_str(), s.stream, s.max_tokens),
            ("gpt-4o", true, Some(1024))
        );
        assert!(s.text_parts.is_empty());
        let s = summarize(Flavor::OpenAi, Operation::Chat, BODY.as_bytes(), true).unwrap();
        assert_eq!(s.max_tokens, Some(1024));
        assert_eq!(
            parts(&s),
            vec![
                (Role::System, 0, 0, true, "Be brief. é"),
                (Role::Developer, 1, 0, true, "Dev rules"),
                (Role::User, 2, 0, false, "Hello \"model\": x ✓"),
                (Role::User, 2, 2, false, "second"),
                (Role::Tool, 4, 0, false, "result"),
                (Role::Assistant, 5, 0, false, "Hi!"),
                (Role::User, 6, 0, false, "go"),
            ]
        );
        let s = summarize(
            Flavor::Compatible,
            Operation::Chat,
            br#"{"model":"m","max_tokens":7,"messages":[]}"#,
            false,
        )
        .unwrap();
        assert_eq!(s.max_tokens, Some(7));
    }

    #[test]
    fn summary_errors_name_the_field() {
        for (body, want) in [
            ("[]", "object"),
            ("{\"messages\":[]}", "model"),
            ("{\"model\":1}", "model: expected string"),
            ("{\"model\":\"m\",\"stream\":\"yes\"}", "stream"),
            ("{\"model\":\"m\",\"max_tokens\":-1}", "max_tokens"),
            (
                "{\"model\":\"m\",\"max_completion_tokens\":1.5}",
                "max_completion_tokens",
            ),
            ("{\"model\":\"m\"", "JSON"),
        ] {
            let e = summarize(Flavor::OpenAi, Operation::Chat, body.as_bytes(), false).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
        let e = summarize(
            Flavor::OpenAi,
            Operation::Chat,
            br#"{"model":"m","messages":[{"role":"bot","content":"x"}]}"#,
            true,
        )
        .unwrap_err();
        assert!(e.message.contains("messages.0.role"), "{}", e.message);
        // Azure bodies may leave the model to the path.
        let s = summarize(Flavor::Azure, Operation::Chat, br#"{"messages":[]}"#, true).unwrap();
        assert_eq!(s.model, "");
    }

    #[test]
    fn model_edit_is_a_byte_splice() {
        let edits = RequestEdits {
            model: Some("gpt-4.1".to_string()),
            texts: vec![],
        };
        let out = edit(
            Flavor::OpenAi,
            Operation::Chat,
            BODY.as_bytes().to_vec(),
            &edits,
        )
        .unwrap();
        let want = BODY.replacen("\"gpt-4o\"", "\"gpt-4.1\"", 1);
        assert_eq!(String::from_utf8(out).unwrap(), want);
        // Azure without a body model: untouched.
        let body = br#"{"messages":[]}"#.to_vec();
        assert_eq!(
            edit(Flavor::Azure, Operation::Chat, body.clone(), &edits).unwrap(),
            body
        );
        assert!(edit(Flavor::OpenAi, Operation::Chat, body, &edits).is_err());
    }

    #[test]
    fn text_edits_are_byte_splices_in_summary_order() {
        let edits = RequestEdits {
            model: Some("m2".to_string()),
            texts: vec![
                (0, "S \"quoted\"".into()),
                (2, "U ✓".into()),
                (4, "R".into()),
                (6, "G".into()),
                (6, "G2".into()),
            ],
        };
        let out = edit(
            Flavor::OpenAi,
            Operation::Chat,
            BODY.as_bytes().to_vec(),
            &edits,
        )
        .unwrap();
        let want = BODY
            .replacen("\"gpt-4o\"", "\"m2\"", 1)
            .replacen(r#""Be brief. \u00e9""#, r#""S \"quoted\"""#, 1)
            .replacen(r#""Hello \"model\": x ✓""#, "\"U ✓\"", 1)
            .replacen("\"result\"", "\"R\"", 1)
            .replacen("\"content\": \"go\"", "\"content\": \"G2\"", 1);
        assert_eq!(String::from_utf8(out.clone()).unwrap(), want);
        let s = summarize(Flavor::OpenAi, Operation::Chat, &out, true).unwrap();
        let texts: Vec<&str> = s.text_parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "S \"quoted\"",
                "Dev rules",
                "U ✓",
                "second",
                "R",
                "Hi!",
                "G2"
            ]
        );
        let bad_edit = RequestEdits {
            model: None,
            texts: vec![(7, "x".into())],
        };
        assert_eq!(
            edit(
                Flavor::OpenAi,
                Operation::Chat,
                BODY.as_bytes().to_vec(),
                &bad_edit
            )
            .unwrap_err()
            .status,
            400
        );
    }

    #[test]
    fn duplicate_keys_edit_the_value_serde_reads() {
        let body = br#"{"model":"a","messages":[{"role":"user","content":"x","content":"y"}]}"#;
        let s = summarize(Flavor::OpenAi, Operation::Chat, body, true).unwrap();
        assert_eq!(s.text_parts[0].text, "y");
        let out = edit(
            Flavor::OpenAi,
            Operation::Chat,
            body.to_vec(),
            &RequestEdits {
                model: None,
                texts: vec![(0, "z".into())],
            },
        )
        .unwrap();
        assert_eq!(
            out,
            br#"{"model":"a","messages":[{"role":"user","content":"x","content":"z"}]}"#
        );
    }

    #[test]
    fn response_summary() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06",
            "choices":[{"index":0,"message":{"role":"assistant","content":"a"},"finish_reason":"length"}],
            "usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        let s = summarize_response(Operation::Chat, body).unwrap();
        assert_eq!(s.id.as_deref(), Some("chatcmpl-1"));
        assert_eq!(s.model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(s.stop_reason.as_deref(), Some("length"));
        assert_eq!(s.blocks, 1);
        assert_eq!(
            (
                s.usage.input_tokens,
                s.usage.cache_read_tokens,
                s.usage.output_tokens
            ),
            (Some(6), Some(4), Some(3))
        );
        assert_eq!(
            summarize_response(Operation::Chat, b"nope")
                .unwrap_err()
                .status,
            502
        );
        let m = summarize_response(
            Operation::ListModels,
            br#"{"object":"list","data":[{"id":"a"}]}"#,
        )
        .unwrap();
        assert_eq!(m.blocks, 1);
    }
}
