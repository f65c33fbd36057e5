//! Same-dialect passthrough: summarize a Converse request without decoding all of it,
//! apply the host's text edits as byte splices (every other byte of the body stays as
//! the client sent it), and summarize responses.
//!
//! Text-part order (shared by `summarize` and `edit`): each `system` block's `text` (or
//! `guardContent.text.text`), then for each message in order, for each block in order:
//! a `text`, a `guardContent.text.text`, and each `text` item of a `toolResult`'s
//! content.
//!
//! The model is in the path (`/model/{model}/converse`), not the body: `summarize`
//! answers an empty model and `edit` cannot rename it.

use core::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tollgate_sdk::json::quote;
use tollgate_sdk::provider::{
    ApiError, Operation, RequestEdits, RequestSummary, ResponseSummary, Role, TextPart,
};

use crate::wire;

fn bad(msg: String) -> ApiError {
    ApiError::invalid_request(msg)
}

/// One text part and where its JSON string literal sits in the body.
#[derive(Debug)]
struct Part {
    role: Role,
    message_index: u32,
    block_index: u32,
    system: bool,
    text: String,
    /// The string literal, quotes included.
    span: Range<usize>,
}

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow)]
    system: Option<&'a RawValue>,
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MessageRaw<'a> {
    #[serde(borrow)]
    role: Option<&'a RawValue>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct BlockRaw<'a> {
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow, rename = "guardContent")]
    guard: Option<&'a RawValue>,
    #[serde(borrow, rename = "toolResult")]
    tool_result: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct GuardRaw<'a> {
    #[serde(borrow)]
    text: Option<GuardTextRaw<'a>>,
}

#[derive(Deserialize)]
struct GuardTextRaw<'a> {
    #[serde(borrow)]
    text: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ToolResultRaw<'a> {
    #[serde(borrow)]
    content: Option<&'a RawValue>,
}

/// Parse `raw` as `T`, or say what `path` should have been.
fn parse<'a, T: Deserialize<'a>>(raw: &'a RawValue, path: &str, what: &str) -> Result<T, ApiError> {
    serde_json::from_str(raw.get()).map_err(|_| {
        let got = serde_json::from_str::<Value>(raw.get())
            .map(|v| tollgate_sdk::json::type_name(&v))
            .unwrap_or("invalid JSON");
        bad(format!("{path}: expected {what}, got {got}"))
    })
}

/// Finds the text parts of one body.
struct Locator<'a> {
    body: &'a [u8],
    parts: Vec<Part>,
}

impl<'a> Locator<'a> {
    fn push(
        &mut self,
        raw: &'a RawValue,
        path: &str,
        (role, message_index, block_index, system): (Role, usize, usize, bool),
    ) -> Result<(), ApiError> {
        let text: String = parse(raw, path, "string")?;
        let s = raw.get();
        let start = (s.as_ptr() as usize).wrapping_sub(self.body.as_ptr() as usize);
        let span = start..start + s.len();
        if self.body.get(span.clone()) != Some(s.as_bytes()) {
            return Err(ApiError::internal(format!(
                "{path}: could not locate the text in the body"
            )));
        }
        self.parts.push(Part {
            role,
            message_index: message_index as u32,
            block_index: block_index as u32,
            system,
            text,
            span,
        });
        Ok(())
    }

    /// The text parts of one block.
    fn block(
        &mut self,
        raw: &'a RawValue,
        path: &str,
        (role, i, j, system): (Role, usize, usize, bool),
    ) -> Result<(), ApiError> {
        let b: BlockRaw<'a> = parse(raw, path, "object")?;
        if let Some(t) = b.text {
            self.push(t, &format!("{path}.text"), (role, i, j, system))?;
        }
        if let Some(g) = b.guard {
            let g: GuardRaw<'a> = parse(g, &format!("{path}.guardContent"), "object")?;
            if let Some(t) = g.text.and_then(|t| t.text) {
                self.push(
                    t,
                    &format!("{path}.guardContent.text.text"),
                    (role, i, j, system),
                )?;
            }
        }
        if let Some(tr) = b.tool_result {
            let p = format!("{path}.toolResult");
            let tr: ToolResultRaw<'a> = parse(tr, &p, "object")?;
            if let Some(items) = tr.content {
                let items: Vec<&'a RawValue> = parse(items, &format!("{p}.content"), "array")?;
                for (k, item) in items.into_iter().enumerate() {
                    let ip = format!("{p}.content.{k}");
                    let item: BlockRaw<'a> = parse(item, &ip, "object")?;
                    if let Some(t) = item.text {
                        self.push(t, &format!("{ip}.text"), (Role::Tool, i, j, false))?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn require_object(body: &[u8]) -> Result<(), ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        Ok(())
    } else {
        Err(bad("request body: expected a JSON object".to_string()))
    }
}

/// Every text part, in summarize order.
fn locate(body: &[u8]) -> Result<Vec<Part>, ApiError> {
    require_object(body)?;
    let top: Top<'_> = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            bad("request body: expected a JSON object".to_string())
        } else {
            bad(format!("request body is not valid JSON: {e}"))
        }
    })?;
    let mut loc = Locator {
        body,
        parts: Vec::new(),
    };
    if let Some(system) = top.system {
        let blocks: Vec<&RawValue> = parse(system, "system", "array")?;
        for (j, b) in blocks.into_iter().enumerate() {
            loc.block(b, &format!("system.{j}"), (Role::System, 0, j, true))?;
        }
    }
    if let Some(messages) = top.messages {
        let messages: Vec<&RawValue> = parse(messages, "messages", "array")?;
        for (i, m) in messages.into_iter().enumerate() {
            let path = format!("messages.{i}");
            let m: MessageRaw<'_> = parse(m, &path, "object")?;
            let role = match m
                .role
                .map(|r| parse::<String>(r, &format!("{path}.role"), "string"))
            {
                Some(Ok(r)) if r == "user" => Role::User,
                Some(Ok(r)) if r == "assistant" => Role::Assistant,
                Some(Ok(r)) => {
                    return Err(bad(format!(
                        "{path}.role: expected \"user\" or \"assistant\", got \"{r}\""
                    )))
                }
                Some(Err(e)) => return Err(e),
                None => return Err(bad(format!("{path}.role: field required"))),
            };
            let Some(content) = m.content else {
                return Err(bad(format!("{path}.content: field required")));
            };
            let blocks: Vec<&RawValue> = parse(content, &format!("{path}.content"), "array")?;
            for (j, b) in blocks.into_iter().enumerate() {
                loc.block(b, &format!("{path}.content.{j}"), (role, i, j, false))?;
            }
        }
    }
    Ok(loc.parts)
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "inferenceConfig")]
    inference_config: Option<InferenceHead>,
}

#[derive(Deserialize)]
struct InferenceHead {
    #[serde(rename = "maxTokens")]
    max_tokens: Option<Value>,
}

/// Summarize a request for routing (and, with `want_text`, for guardrails). The model
/// is in the path, so the summary's model is empty.
pub fn summarize(op: Operation, body: &[u8], want_text: bool) -> Result<RequestSummary, ApiError> {
    let mut s = RequestSummary {
        operation: op,
        model: String::new(),
        stream: false,
        max_tokens: None,
        text_parts: Vec::new(),
    };
    if op != Operation::Chat {
        return Ok(s);
    }
    require_object(body)?;
    let head: Head = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            bad(format!("request body: {e}"))
        } else {
            bad(format!("request body is not valid JSON: {e}"))
        }
    })?;
    if let Some(v) = head.inference_config.and_then(|i| i.max_tokens) {
        s.max_tokens = Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    bad("inferenceConfig.maxTokens: expected a non-negative integer".to_string())
                })?,
        );
    }
    if want_text {
        s.text_parts = locate(body)?
            .into_iter()
            .map(|p| TextPart {
                role: p.role,
                message_index: p.message_index,
                block_index: p.block_index,
                system: p.system,
                text: p.text,
            })
            .collect();
    }
    Ok(s)
}

/// Apply text edits as byte splices of the JSON string literals they replace. A model
/// edit cannot apply (the model is in the path) and is ignored.
pub fn edit(op: Operation, body: Vec<u8>, edits: &RequestEdits) -> Result<Vec<u8>, ApiError> {
    if op != Operation::Chat || edits.texts.is_empty() {
        return Ok(body);
    }
    let parts = locate(&body)?;
    let mut splices: Vec<(Range<usize>, String)> = Vec::with_capacity(edits.texts.len());
    for (index, text) in &edits.texts {
        let Some(part) = parts.get(*index as usize) else {
            return Err(bad(format!(
                "text edit: part {index} does not exist (the request has {} text parts)",
                parts.len()
            )));
        };
        // A later edit of the same part wins.
        splices.retain(|(r, _)| *r != part.span);
        splices.push((part.span.clone(), quote(text)));
    }
    splices.sort_by_key(|(r, _)| r.start);
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut at = 0;
    for (range, replacement) in splices {
        out.extend_from_slice(&body[at..range.start]);
        out.extend_from_slice(replacement.as_bytes());
        at = range.end;
    }
    out.extend_from_slice(&body[at..]);
    Ok(out)
}

#[derive(Deserialize)]
struct RespHead {
    output: Option<OutputHead>,
    #[serde(rename = "stopReason")]
    stop_reason: Option<String>,
    usage: Option<Value>,
    #[serde(rename = "inputTokens")]
    input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OutputHead {
    message: Option<MessageHead>,
}

#[derive(Deserialize)]
struct MessageHead {
    content: Option<Vec<serde::de::IgnoredAny>>,
}

/// Summarize a complete upstream response (Converse, or CountTokens).
pub fn summarize_response(op: Operation, body: &[u8]) -> Result<ResponseSummary, ApiError> {
    let mut s = ResponseSummary::empty();
    if op == Operation::ListModels {
        return Ok(s);
    }
    let head: RespHead = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_gateway(format!("upstream response is not a Converse object: {e}"))
    })?;
    if op == Operation::CountTokens {
        s.usage.input_tokens = head.input_tokens;
        return Ok(s);
    }
    if let Some(u) = &head.usage {
        s.usage = wire::usage_from(u);
    }
    s.stop_reason = head.stop_reason;
    s.blocks = head
        .output
        .and_then(|o| o.message)
        .and_then(|m| m.content)
        .map_or(0, |c| c.len() as u32);
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BODY: &str = r#"{
  "system" : [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}, {"guardContent": {"text": {"text": "Sys \"2\""}}}],
  "messages": [
    {"role": "user", "content": [{"text": "Hello\nworld ✓"}, {"image": {"format": "png", "source": {"bytes": "iVBO"}}}]},
    {"role": "assistant", "content": [{"reasoningContent": {"reasoningText": {"text": "hm", "signature": "s"}}}, {"text": "Hi!"},
      {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"text": "no"}}}]},
    {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "r1"}, {"json": {"text": "no"}}, {"text": "r2"}]}},
                                 {"text": "go"}]}
  ],
  "inferenceConfig": {"maxTokens": 1024, "temperature": 0.70}
}"#;

    #[test]
    fn summary_fast_and_full() {
        let s = summarize(Operation::Chat, BODY.as_bytes(), false).unwrap();
        assert_eq!(
            (s.model.as_str(), s.stream, s.max_tokens),
            ("", false, Some(1024))
        );
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
                (Role::System, 0, 2, true, "Sys \"2\""),
                (Role::User, 0, 0, false, "Hello\nworld ✓"),
                (Role::Assistant, 1, 1, false, "Hi!"),
                (Role::Tool, 2, 0, false, "r1"),
                (Role::Tool, 2, 0, false, "r2"),
                (Role::User, 2, 1, false, "go"),
            ]
        );
    }

    #[test]
    fn summary_errors_name_the_field() {
        for (body, want_text, want) in [
            ("[]", false, "request body"),
            (
                "{\"inferenceConfig\": {\"maxTokens\": -1}}",
                false,
                "maxTokens",
            ),
            ("{\"messages\": [", false, "JSON"),
            (
                "{\"messages\": 5}",
                true,
                "messages: expected array, got number",
            ),
            (
                "{\"messages\": [{\"role\": \"bot\", \"content\": []}]}",
                true,
                "messages.0.role",
            ),
            (
                "{\"messages\": [{\"role\": \"user\"}]}",
                true,
                "messages.0.content: field required",
            ),
            (
                "{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": 1}]}]}",
                true,
                "messages.0.content.0.text: expected string, got number",
            ),
            (
                "{\"system\": [{\"guardContent\": {\"text\": {\"text\": []}}}]}",
                true,
                "system.0.guardContent.text.text",
            ),
        ] {
            let e = summarize(Operation::Chat, body.as_bytes(), want_text).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
    }

    #[test]
    fn text_edits_are_byte_splices() {
        let edits = RequestEdits {
            model: Some("ignored".to_string()),
            texts: vec![
                (1, "S\u{1F600}".into()),
                (0, "first".into()),
                (5, "R2".into()),
                (6, "x".into()),
                (6, "G".into()),
            ],
        };
        let out = edit(Operation::Chat, BODY.as_bytes().to_vec(), &edits).unwrap();
        let want = BODY
            .replacen("\"Be brief.\"", "\"first\"", 1)
            .replacen(r#""Sys \"2\"""#, "\"S\u{1F600}\"", 1)
            .replacen("\"r2\"", "\"R2\"", 1)
            .replacen("\"go\"", "\"G\"", 1);
        assert_eq!(String::from_utf8(out.clone()).unwrap(), want);
        let s = summarize(Operation::Chat, &out, true).unwrap();
        let texts: Vec<&str> = s.text_parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "first",
                "S\u{1F600}",
                "Hello\nworld ✓",
                "Hi!",
                "r1",
                "R2",
                "G"
            ]
        );

        // A model-only edit leaves the body alone.
        let same = edit(
            Operation::Chat,
            BODY.as_bytes().to_vec(),
            &RequestEdits {
                model: Some("m".into()),
                texts: vec![],
            },
        )
        .unwrap();
        assert_eq!(same, BODY.as_bytes());
        let e = edit(
            Operation::Chat,
            BODY.as_bytes().to_vec(),
            &RequestEdits {
                model: None,
                texts: vec![(7, "x".into())],
            },
        )
        .unwrap_err();
        assert!(e.message.contains("part 7"), "{}", e.message);
    }

    #[test]
    fn response_summary() {
        let s = summarize_response(
            Operation::Chat,
            crate::translate::tests::RESPONSE.as_bytes(),
        )
        .unwrap();
        assert_eq!((s.id, s.model), (None, None));
        assert_eq!(s.blocks, 3);
        assert_eq!(s.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            (
                s.usage.input_tokens,
                s.usage.output_tokens,
                s.usage.cache_read_tokens
            ),
            (Some(10), Some(20), Some(5))
        );
        let s = summarize_response(Operation::CountTokens, br#"{"inputTokens": 42}"#).unwrap();
        assert_eq!(s.usage.input_tokens, Some(42));
        assert_eq!(
            summarize_response(Operation::Chat, b"[")
                .unwrap_err()
                .status,
            502
        );
    }
}
