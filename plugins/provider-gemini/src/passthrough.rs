//! Same-dialect passthrough: summarize a client request without decoding all of it,
//! apply the host's text edits as byte splices (every other byte stays), and summarize
//! responses.
//!
//! The model is in the path, not the body: `summarize` returns an empty model (the host
//! uses the path's) and a model rename is a path change the host makes, so `edit` only
//! replaces texts.
//!
//! Text-part order (shared by `summarize` and `edit`): each text part of
//! `systemInstruction`, then for each content in order, each non-thought `text` part and
//! each string field of a `functionResponse.response` object (tool output), in order.
//! For `countTokens` the same inside `generateContentRequest` when the body has one.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use tollgate_sdk::json::{quote, type_name};
use tollgate_sdk::provider::{
    ApiError, Operation, RequestEdits, RequestSummary, ResponseSummary, Role, TextPart,
};

use crate::wire::{self, field, Obj};

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

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// An object key, spelled as in the document.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A text part: where it is, and what the guardrails see.
#[derive(Debug)]
struct Located {
    path: Vec<Seg>,
    role: Role,
    message_index: u32,
    block_index: u32,
    system: bool,
}

/// `o`'s field `name` (either spelling) with the key as the document spells it.
fn key_of<'a>(o: &'a Obj, name: &str) -> Option<(&'a String, &'a Value)> {
    o.get_key_value(name)
        .or_else(|| o.get_key_value(&wire::snake(name)))
        .filter(|(_, v)| !v.is_null())
}

fn role_of(o: &Obj, i: usize) -> Result<Role, ApiError> {
    match field(o, "role") {
        None => Ok(Role::User),
        Some(Value::String(r)) => match r.as_str() {
            "" | "user" => Ok(Role::User),
            "model" => Ok(Role::Assistant),
            "function" | "tool" => Ok(Role::Tool),
            other => Err(bad(format!(
                "contents.{i}.role: expected \"user\" or \"model\", got \"{other}\""
            ))),
        },
        Some(v) => Err(bad(format!(
            "contents.{i}.role: expected string, got {}",
            type_name(v)
        ))),
    }
}

/// Every text part, in summarize order.
fn locate(root: &Value, op: Operation) -> Result<Vec<Located>, ApiError> {
    let mut out = Vec::new();
    let mut base = Vec::new();
    let Some(mut o) = root.as_object() else {
        return Err(bad("request body: expected a JSON object".to_string()));
    };
    if op == Operation::CountTokens {
        if let Some((k, g)) = key_of(o, "generateContentRequest") {
            o = g
                .as_object()
                .ok_or_else(|| bad("generateContentRequest: expected object".to_string()))?;
            base.push(Seg::Key(k.clone()));
        }
    }
    let at = |segs: &[Seg]| {
        let mut p = base.clone();
        p.extend_from_slice(segs);
        p
    };
    if let Some((sk, si)) = key_of(o, "systemInstruction") {
        let so = si
            .as_object()
            .ok_or_else(|| bad("systemInstruction: expected object".to_string()))?;
        if let Some((pk, parts)) = key_of(so, "parts") {
            let parts = parts
                .as_array()
                .ok_or_else(|| bad("systemInstruction.parts: expected array".to_string()))?;
            for (j, p) in parts.iter().enumerate() {
                if let Some((tk, Value::String(_))) =
                    p.as_object().and_then(|po| key_of(po, "text"))
                {
                    out.push(Located {
                        path: at(&[
                            Seg::Key(sk.clone()),
                            Seg::Key(pk.clone()),
                            Seg::Index(j),
                            Seg::Key(tk.clone()),
                        ]),
                        role: Role::System,
                        message_index: 0,
                        block_index: j as u32,
                        system: true,
                    });
                }
            }
        }
    }
    let Some((ck, contents)) = key_of(o, "contents") else {
        return Ok(out);
    };
    let contents = contents.as_array().ok_or_else(|| {
        bad(format!(
            "contents: expected array, got {}",
            type_name(contents)
        ))
    })?;
    for (i, c) in contents.iter().enumerate() {
        let co = c
            .as_object()
            .ok_or_else(|| bad(format!("contents.{i}: expected object")))?;
        let role = role_of(co, i)?;
        let Some((pk, parts)) = key_of(co, "parts") else {
            continue;
        };
        let parts = parts.as_array().ok_or_else(|| {
            bad(format!(
                "contents.{i}.parts: expected array, got {}",
                type_name(parts)
            ))
        })?;
        let prefix = [Seg::Key(ck.clone()), Seg::Index(i), Seg::Key(pk.clone())];
        for (j, p) in parts.iter().enumerate() {
            let po = p
                .as_object()
                .ok_or_else(|| bad(format!("contents.{i}.parts.{j}: expected object")))?;
            let mut push = |tail: &[Seg], role: Role| {
                let mut segs = prefix.to_vec();
                segs.push(Seg::Index(j));
                segs.extend_from_slice(tail);
                out.push(Located {
                    path: at(&segs),
                    role,
                    message_index: i as u32,
                    block_index: j as u32,
                    system: false,
                });
            };
            let thought = field(po, "thought").and_then(Value::as_bool) == Some(true);
            if let Some((tk, t)) = key_of(po, "text") {
                if !t.is_string() {
                    return Err(bad(format!(
                        "contents.{i}.parts.{j}.text: expected string, got {}",
                        type_name(t)
                    )));
                }
                if !thought {
                    push(&[Seg::Key(tk.clone())], role);
                }
            } else if let Some((fk, fr)) = key_of(po, "functionResponse") {
                let Some((rk, Value::Object(resp))) =
                    fr.as_object().and_then(|f| key_of(f, "response"))
                else {
                    continue;
                };
                for (k, v) in resp {
                    if v.is_string() {
                        push(
                            &[
                                Seg::Key(fk.clone()),
                                Seg::Key(rk.clone()),
                                Seg::Key(k.clone()),
                            ],
                            Role::Tool,
                        );
                    }
                }
            }
        }
    }
    Ok(out)
}

fn text_at<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a str> {
    let mut cur = v;
    for s in path {
        cur = match s {
            Seg::Key(k) => cur.get(k)?,
            Seg::Index(i) => cur.get(i)?,
        };
    }
    cur.as_str()
}

/// The routing fields, read without building a DOM of the contents.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "generationConfig", alias = "generation_config")]
    generation_config: Option<GenHead>,
}

#[derive(Deserialize)]
struct GenHead {
    #[serde(rename = "maxOutputTokens", alias = "max_output_tokens")]
    max_output_tokens: Option<Value>,
}

fn starts_with_object(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

fn max_tokens_of(v: Option<Value>) -> Result<Option<u32>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                bad("generationConfig.maxOutputTokens: expected a non-negative integer".to_string())
            }),
    }
}

/// Summarize a request for routing (and, with `want_text`, for guardrails). The model
/// is the path's (empty here) and streaming is the route's (`false` here).
pub fn summarize(op: Operation, body: &[u8], want_text: bool) -> Result<RequestSummary, ApiError> {
    let mut s = RequestSummary {
        operation: op,
        model: String::new(),
        stream: false,
        max_tokens: None,
        text_parts: Vec::new(),
    };
    if op == Operation::ListModels {
        return Ok(s);
    }
    if !want_text {
        if !starts_with_object(body) {
            return Err(bad("request body: expected a JSON object".to_string()));
        }
        let head: Head = serde_json::from_slice(body)
            .map_err(|e| bad(format!("request body is not valid JSON: {e}")))?;
        if op == Operation::Chat {
            s.max_tokens = max_tokens_of(head.generation_config.and_then(|g| g.max_output_tokens))?;
        }
        return Ok(s);
    }
    let v = parse_object(body)?;
    if op == Operation::Chat {
        let max = v
            .as_object()
            .and_then(|o| field(o, "generationConfig"))
            .and_then(Value::as_object)
            .and_then(|g| field(g, "maxOutputTokens"))
            .cloned();
        s.max_tokens = max_tokens_of(max)?;
    }
    for l in locate(&v, op)? {
        s.text_parts.push(TextPart {
            role: l.role,
            message_index: l.message_index,
            block_index: l.block_index,
            system: l.system,
            text: text_at(&v, &l.path).unwrap_or_default().to_string(),
        });
    }
    Ok(s)
}

/// Apply the host's edits by splicing each replaced string's bytes; every other byte of
/// the body stays as the client sent it. A model rename needs no body change (the model
/// is in the path, which the host rewrites) except for countTokens'
/// `generateContentRequest.model`, which must name the same model.
pub fn edit(op: Operation, body: Vec<u8>, edits: &RequestEdits) -> Result<Vec<u8>, ApiError> {
    if op == Operation::ListModels {
        return Ok(body);
    }
    let inner_model = if op == Operation::CountTokens {
        edits.model.as_deref()
    } else {
        None
    };
    if edits.texts.is_empty() && inner_model.is_none() {
        return Ok(body);
    }
    let v = parse_object(&body)?;
    let mut wanted: HashMap<Vec<Seg>, String> = HashMap::new();
    if let Some(model) = inner_model {
        let path = v
            .as_object()
            .and_then(|o| key_of(o, "generateContentRequest"))
            .and_then(|(gk, g)| {
                let (mk, m) = key_of(g.as_object()?, "model")?;
                m.is_string()
                    .then(|| vec![Seg::Key(gk.clone()), Seg::Key(mk.clone())])
            });
        if let Some(path) = path {
            wanted.insert(path, wire::model_resource(model));
        }
    }
    if !edits.texts.is_empty() {
        let locs = locate(&v, op)?;
        for (index, text) in &edits.texts {
            let Some(l) = locs.get(*index as usize) else {
                return Err(bad(format!(
                    "text edit: part {index} does not exist (the request has {} text parts)",
                    locs.len()
                )));
            };
            wanted.insert(l.path.clone(), text.clone());
        }
    }
    if wanted.is_empty() {
        return Ok(body);
    }
    let paths: HashSet<Vec<Seg>> = wanted.keys().cloned().collect();
    let spans = string_spans(&body, &paths).map_err(|e| bad(format!("request body: {e}")))?;
    let mut splices: Vec<(Range<usize>, String)> = Vec::with_capacity(wanted.len());
    for (path, text) in wanted {
        let range = spans
            .get(&path)
            .cloned()
            .ok_or_else(|| ApiError::internal("edit: a located string was not found"))?;
        splices.push((range, quote(&text)));
    }
    splices.sort_by_key(|(r, _)| r.start);
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut at = 0;
    for (range, text) in splices {
        out.extend_from_slice(&body[at..range.start]);
        out.extend_from_slice(text.as_bytes());
        at = range.end;
    }
    out.extend_from_slice(&body[at..]);
    Ok(out)
}

// ----- byte spans of string values -----

/// A scanner over a JSON document that records the byte range (quotes included) of the
/// string values at the wanted paths.
struct Spans<'a> {
    b: &'a [u8],
    i: usize,
    path: Vec<Seg>,
    wanted: &'a HashSet<Vec<Seg>>,
    found: HashMap<Vec<Seg>, Range<usize>>,
}

/// Nesting deeper than this is refused (serde_json refuses it before us anyway).
const MAX_DEPTH: usize = 256;

impl Spans<'_> {
    fn err(&self, what: &str) -> String {
        format!("invalid JSON at byte {}: {what}", self.i)
    }

    fn ws(&mut self) {
        while self
            .b
            .get(self.i)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.i += 1;
        }
    }

    /// At a `"`: the string's range and whether it has escapes.
    fn string(&mut self) -> Result<(Range<usize>, bool), String> {
        let start = self.i;
        self.i += 1;
        let mut escaped = false;
        loop {
            match self.b.get(self.i) {
                None => return Err(self.err("unterminated string")),
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

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.ws();
        match self.b.get(self.i) {
            None => Err(self.err("expected a value")),
            Some(b'"') => {
                let (range, _) = self.string()?;
                if self.wanted.contains(&self.path) {
                    self.found.insert(self.path.clone(), range);
                }
                Ok(())
            }
            Some(b'{') => {
                self.i += 1;
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.err("expected an object key"));
                    }
                    let (r, escaped) = self.string()?;
                    let key = if escaped {
                        serde_json::from_slice::<String>(&self.b[r.clone()])
                            .map_err(|e| self.err(&e.to_string()))?
                    } else {
                        String::from_utf8_lossy(&self.b[r.start + 1..r.end - 1]).into_owned()
                    };
                    self.expect(b':')?;
                    self.path.push(Seg::Key(key));
                    let v = self.value(depth + 1);
                    self.path.pop();
                    v?;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(());
                }
                let mut n = 0;
                loop {
                    self.path.push(Seg::Index(n));
                    let v = self.value(depth + 1);
                    self.path.pop();
                    v?;
                    n += 1;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(_) => {
                let start = self.i;
                while self.b.get(self.i).is_some_and(|c| {
                    !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                }) {
                    self.i += 1;
                }
                if self.i == start {
                    Err(self.err("expected a value"))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Byte ranges of the string values at `wanted` paths in `body` (a later duplicate key
/// wins, as in serde_json).
pub fn string_spans(
    body: &[u8],
    wanted: &HashSet<Vec<Seg>>,
) -> Result<HashMap<Vec<Seg>, Range<usize>>, String> {
    let mut s = Spans {
        b: body,
        i: 0,
        path: Vec::new(),
        wanted,
        found: HashMap::new(),
    };
    if body.starts_with(&[0xEF, 0xBB, 0xBF]) {
        s.i = 3;
    }
    s.value(0)?;
    Ok(s.found)
}

// ----- responses -----

/// The parts of a Gemini answer that accounting needs, read without copying texts.
#[derive(Deserialize, Default)]
pub struct AnswerHead {
    /// `responseId`.
    #[serde(rename = "responseId")]
    pub response_id: Option<String>,
    /// `modelVersion`.
    #[serde(rename = "modelVersion")]
    pub model_version: Option<String>,
    /// `usageMetadata`.
    #[serde(rename = "usageMetadata")]
    pub usage: Option<Value>,
    /// `candidates`.
    pub candidates: Option<Vec<CandidateHead>>,
    /// `promptFeedback` (a blocked prompt has no candidates).
    #[serde(rename = "promptFeedback")]
    pub prompt_feedback: Option<Value>,
    /// An error object (mid-stream errors).
    pub error: Option<Value>,
    /// countTokens: `totalTokens`.
    #[serde(rename = "totalTokens")]
    pub total_tokens: Option<u64>,
    /// countTokens: `cachedContentTokenCount`.
    #[serde(rename = "cachedContentTokenCount")]
    pub cached_tokens: Option<u64>,
}

/// A candidate, as [`AnswerHead`] reads it.
#[derive(Deserialize, Default)]
pub struct CandidateHead {
    /// `index` (absent means 0).
    pub index: Option<u64>,
    /// `finishReason`.
    #[serde(rename = "finishReason")]
    pub finish_reason: Option<String>,
    /// `content`.
    pub content: Option<ContentHead>,
}

/// A candidate's content, as [`AnswerHead`] reads it.
#[derive(Deserialize, Default)]
pub struct ContentHead {
    /// `parts`.
    pub parts: Option<Vec<PartHead>>,
}

/// A part, as [`AnswerHead`] reads it: only whether it is a function call.
#[derive(Deserialize, Default)]
pub struct PartHead {
    /// `functionCall`.
    #[serde(rename = "functionCall")]
    pub function_call: Option<IgnoredAny>,
}

impl AnswerHead {
    /// The first candidate (`index` 0).
    pub fn first(&self) -> Option<&CandidateHead> {
        self.candidates
            .as_deref()?
            .iter()
            .find(|c| c.index.unwrap_or(0) == 0)
    }
}

impl CandidateHead {
    /// Whether the candidate calls a function.
    pub fn calls_tools(&self) -> bool {
        self.parts().iter().any(|p| p.function_call.is_some())
    }

    /// The candidate's parts.
    pub fn parts(&self) -> &[PartHead] {
        self.content
            .as_ref()
            .and_then(|c| c.parts.as_deref())
            .unwrap_or_default()
    }
}

/// Summarize a complete upstream response. The stop reason is the canonical snake_case
/// name (`tool_use` when Gemini says `STOP` after function calls).
pub fn summarize_response(op: Operation, body: &[u8]) -> Result<ResponseSummary, ApiError> {
    let mut s = ResponseSummary::empty();
    if op == Operation::ListModels {
        return Ok(s);
    }
    let head: AnswerHead = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_gateway(format!(
            "upstream response is not a GenerateContentResponse: {e}"
        ))
    })?;
    if op == Operation::CountTokens {
        s.usage.cache_read_tokens = head.cached_tokens;
        s.usage.input_tokens = head
            .total_tokens
            .map(|t| t.saturating_sub(head.cached_tokens.unwrap_or(0)));
        return Ok(s);
    }
    if let Some(u) = &head.usage {
        s.usage = wire::usage_from(u);
    }
    if let Some(c) = head.first() {
        s.blocks = c.parts().len() as u32;
        s.stop_reason = c.finish_reason.as_deref().map(|r| {
            wire::stop_reason_name(wire::stop_reason_from(r, c.calls_tools())).to_string()
        });
    } else if head
        .prompt_feedback
        .as_ref()
        .is_some_and(|p| p.get("blockReason").is_some())
    {
        s.stop_reason = Some("content_filter".to_string());
    }
    s.id = head.response_id;
    s.model = head.model_version;
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BODY: &str = r#"{
  "system_instruction": {"parts": [{"text": "Be brief."}, {"text": "Sys \"2\""}]},
  "contents": [
    {"role": "user", "parts": [{"text": "Hello ✓ \"x\""}, {"inline_data": {"mime_type": "image/png", "data": "iVBORw0KGgo="}}]},
    {"role": "model", "parts": [{"text": "hm", "thought": true}, {"text": "Hi!"}, {"functionCall": {"name": "f", "args": {"text": "no"}}, "thoughtSignature": "c2ln"}]},
    {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"output": "r1", "n": 1, "error": "e"}}}, {"text": "go"}]}
  ],
  "generationConfig": {"maxOutputTokens": 1024, "temperature": 0.70}
}"#;

    #[test]
    fn summary_fast_and_full() {
        let s = summarize(Operation::Chat, BODY.as_bytes(), false).unwrap();
        assert_eq!(s.model, "");
        assert!(!s.stream);
        assert_eq!(s.max_tokens, Some(1024));
        assert!(s.text_parts.is_empty());
        let s = summarize(Operation::Chat, BODY.as_bytes(), true).unwrap();
        assert_eq!(s.max_tokens, Some(1024));
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
                (Role::System, 0, 1, true, "Sys \"2\""),
                (Role::User, 0, 0, false, "Hello ✓ \"x\""),
                (Role::Assistant, 1, 1, false, "Hi!"),
                (Role::Tool, 2, 0, false, "r1"),
                (Role::Tool, 2, 0, false, "e"),
                (Role::User, 2, 1, false, "go"),
            ]
        );
        let ct = r#"{"generateContentRequest": {"model": "models/x", "contents": [{"parts": [{"text": "a"}]}]}}"#;
        let s = summarize(Operation::CountTokens, ct.as_bytes(), true).unwrap();
        assert_eq!(s.text_parts[0].text, "a");
        let s = summarize(Operation::ListModels, b"", true).unwrap();
        assert!(s.text_parts.is_empty());
    }

    #[test]
    fn summary_errors_name_the_field() {
        for (body, want) in [
            ("[]", "object"),
            ("{\"contents\":", "JSON"),
            (
                "{\"generationConfig\":{\"maxOutputTokens\":-1}}",
                "maxOutputTokens",
            ),
        ] {
            let e = summarize(Operation::Chat, body.as_bytes(), false).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
        for (body, want) in [
            (r#"{"contents": {}}"#, "contents: expected array"),
            (
                r#"{"contents": [{"role": "system", "parts": []}]}"#,
                "contents.0.role",
            ),
            (
                r#"{"contents": [{"parts": [{"text": 5}]}]}"#,
                "contents.0.parts.0.text",
            ),
        ] {
            let e = summarize(Operation::Chat, body.as_bytes(), true).unwrap_err();
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
    }

    #[test]
    fn text_edits_are_byte_splices() {
        let edits = RequestEdits {
            model: Some("ignored-the-host-renames-the-path".to_string()),
            texts: vec![
                (1, "S\n2".into()),
                (2, "U ✓".into()),
                (4, "R1".into()),
                (6, "G".into()),
            ],
        };
        let out = edit(Operation::Chat, BODY.as_bytes().to_vec(), &edits).unwrap();
        let want = BODY
            .replacen(r#""Sys \"2\"""#, r#""S\n2""#, 1)
            .replacen(r#""Hello ✓ \"x\"""#, r#""U ✓""#, 1)
            .replacen(r#""output": "r1""#, r#""output": "R1""#, 1)
            .replacen(r#"{"text": "go"}"#, r#"{"text": "G"}"#, 1);
        assert_eq!(String::from_utf8(out.clone()).unwrap(), want);
        let s = summarize(Operation::Chat, &out, true).unwrap();
        let texts: Vec<&str> = s.text_parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            vec!["Be brief.", "S\n2", "U ✓", "Hi!", "R1", "e", "G"]
        );
        // A model-only edit changes nothing.
        let model_only = RequestEdits {
            model: Some("m2".into()),
            texts: vec![],
        };
        assert_eq!(
            edit(Operation::Chat, BODY.as_bytes().to_vec(), &model_only).unwrap(),
            BODY.as_bytes()
        );
        let bad_edit = RequestEdits {
            model: None,
            texts: vec![(7, "x".into())],
        };
        assert_eq!(
            edit(Operation::Chat, BODY.as_bytes().to_vec(), &bad_edit)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn count_tokens_rename_splices_the_inner_model() {
        let body = r#"{ "generateContentRequest" : {"model": "models/a", "contents": [{"parts": [{"text": "hi"}]}]} }"#;
        let edits = RequestEdits {
            model: Some("b".into()),
            texts: vec![(0, "HI".into())],
        };
        let out = edit(Operation::CountTokens, body.as_bytes().to_vec(), &edits).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            body.replace("models/a", "models/b")
                .replace("\"hi\"", "\"HI\"")
        );
        let plain = r#"{"contents": []}"#;
        let out = edit(
            Operation::CountTokens,
            plain.as_bytes().to_vec(),
            &edits.clone(),
        )
        .unwrap_err();
        assert!(out.message.contains("part 0 does not exist"));
    }

    #[test]
    fn spans_follow_escaped_keys_and_duplicates() {
        let body =
            br#"{"a": [1, {"t\u0065xt": "one"}], "a": [2, {"text": "two", "x": [true, null]}]}"#;
        let want: HashSet<Vec<Seg>> = [vec![
            Seg::Key("a".into()),
            Seg::Index(1),
            Seg::Key("text".into()),
        ]]
        .into_iter()
        .collect();
        let spans = string_spans(body, &want).unwrap();
        let r = spans.values().next().unwrap().clone();
        assert_eq!(&body[r], br#""two""#);
        assert!(string_spans(br#"{"a": "#, &want).is_err());
    }

    #[test]
    fn response_summary() {
        let body = br#"{"candidates": [{"content": {"role": "model", "parts": [{"text": "a"}, {"functionCall": {"name": "f", "args": {}}}]},
            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 3, "thoughtsTokenCount": 2, "cachedContentTokenCount": 4, "totalTokenCount": 15},
            "modelVersion": "gemini-2.5-flash", "responseId": "r1"}"#;
        let s = summarize_response(Operation::Chat, body).unwrap();
        assert_eq!(s.id.as_deref(), Some("r1"));
        assert_eq!(s.model.as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(s.blocks, 2);
        assert_eq!(s.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            (
                s.usage.input_tokens,
                s.usage.output_tokens,
                s.usage.cache_read_tokens,
                s.usage.reasoning_tokens
            ),
            (Some(6), Some(5), Some(4), Some(2))
        );
        let s = summarize_response(
            Operation::Chat,
            br#"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}"#,
        )
        .unwrap();
        assert_eq!(s.stop_reason.as_deref(), Some("content_filter"));
        let s = summarize_response(
            Operation::CountTokens,
            br#"{"totalTokens": 42, "cachedContentTokenCount": 2}"#,
        )
        .unwrap();
        assert_eq!(
            (s.usage.input_tokens, s.usage.cache_read_tokens),
            (Some(40), Some(2))
        );
        assert_eq!(
            summarize_response(Operation::Chat, b"nope")
                .unwrap_err()
                .status,
            502
        );
    }
}
