//! Full translation between OpenAI Responses JSON and the canonical chat model
//! (cross-dialect path): requests both ways, responses both ways, items, parts, tools.
//!
//! ## Items and messages
//!
//! Responses speaks in a flat list of *items*; the canonical model in role-tagged
//! messages. Decoding groups them:
//!
//! - `instructions` and the leading `system`/`developer` message items (before any other
//!   item) become canonical `system` blocks; later ones stay messages with role
//!   `system`/`developer`.
//! - `user` message items are one message each.
//! - Assistant-side items (assistant `message`, `reasoning`, `function_call`,
//!   `custom_tool_call`, `local_shell_call`, and unknown items such as
//!   `web_search_call`) join one assistant message until a user or tool item.
//! - Tool outputs (`function_call_output`, `custom_tool_call_output`,
//!   `local_shell_call_output`) join one `tool` message.
//! - `additional_tools` items (Codex "Responses Lite") add their tools to `tools`.
//!
//! Tool calls keep the *call id* (`call_id`) as the canonical id; the *item id*
//! (`fc_…`) rides in `extra` so a Responses encode restores it.
//!
//! ## Synthetic keys in this dialect's `extra`
//!
//! Besides unnamed wire fields, three keys carry structure the canonical model flattens:
//! - `item` on the first block of a message item: that item's own fields (`id`,
//!   `status`, `phase`; `role` for system blocks), so a re-encode splits items where
//!   the client did.
//! - `part` in an `other` block: a content part of an unknown type (an `other` block
//!   without it is a whole unknown item).
//! - `namespace` on the first tool of a `namespace` tool: the namespace's own fields
//!   (`description`).

use std::collections::HashMap;
use std::fmt::{self, Display};

use serde_json::{json, Map, Value};
use tollgate_sdk::json::type_name;
use tollgate_sdk::provider::{
    ApiError, AudioBlock, ChatRequest, ChatResponse, ContentBlock, Dialect, DocumentBlock, Extra,
    Header, ImageBlock, InlineData, JsonSchemaFormat, MediaSource, Message, Operation,
    ResponseFormat, Role, Sampling, StopReason, TargetInfo, TextBlock, ThinkingBlock,
    ThinkingConfig, ToolCall, ToolChoice, ToolDefinition, ToolKind, ToolResult, ToolResultPart,
    UpstreamRequest, Usage,
};

use crate::passthrough::parse_object;
use crate::wire::{
    error_from_object, extra_of, field, fields_of, merge_extra, merge_into, obj_json, put_str,
    put_usage, put_value, rest_of, status_of, stop_reason_from, to_extra, to_json, usage_from,
    usage_to, Obj, SOURCE,
};

/// `extra` key on the first block of a message item holding the item's own fields.
pub const ITEM_KEY: &str = "item";
/// `extra` key of an `other` block that is an unknown content part, not an item.
pub const PART_KEY: &str = "part";
/// `extra` key on the first tool of a namespace holding the namespace's own fields.
pub const NAMESPACE_KEY: &str = "namespace";
/// Prefix of the `encrypted_content` of a reasoning item that carries another
/// provider's redacted thinking (Anthropic `redacted_thinking.data`), so a client like
/// Codex replays it and it comes back as redacted thinking.
pub const REDACTED_PREFIX: &str = "tollgate.redacted_thinking:";

/// An error path below `parent` (`{parent}.{segment}`), formatted only when an error
/// names it (building path strings for every item and part cost a `format!` each).
struct Sub<'a, P: ?Sized, S>(&'a P, S);

impl<P: Display + ?Sized, S: Display> Display for Sub<'_, P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

fn bad(msg: String) -> ApiError {
    ApiError::invalid_request(msg)
}

fn obj<'a, P: Display + ?Sized>(v: &'a Value, path: &P) -> Result<&'a Obj, ApiError> {
    v.as_object()
        .ok_or_else(|| bad(format!("{path}: expected object, got {}", type_name(v))))
}

fn opt_str<P: Display + ?Sized>(o: &Obj, key: &str, path: &P) -> Result<Option<String>, ApiError> {
    match field(o, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(bad(format!(
            "{path}.{key}: expected string, got {}",
            type_name(v)
        ))),
    }
}

fn req_str<P: Display + ?Sized>(o: &Obj, key: &str, path: &P) -> Result<String, ApiError> {
    opt_str(o, key, path)?.ok_or_else(|| bad(format!("{path}.{key}: field required")))
}

fn opt_bool<P: Display + ?Sized>(o: &Obj, key: &str, path: &P) -> Result<Option<bool>, ApiError> {
    match field(o, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(bad(format!(
            "{path}.{key}: expected boolean, got {}",
            type_name(v)
        ))),
    }
}

fn opt_u32(o: &Obj, key: &str) -> Result<Option<u32>, ApiError> {
    match field(o, key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(format!("{key}: expected a non-negative integer"))),
    }
}

fn opt_f64(o: &Obj, key: &str) -> Result<Option<f64>, ApiError> {
    match field(o, key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad(format!("{key}: expected a number, got {}", type_name(v)))),
    }
}

fn opt_array<'a, P: Display + ?Sized>(
    o: &'a Obj,
    key: &str,
    path: &P,
) -> Result<&'a [Value], ApiError> {
    match field(o, key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(bad(format!(
            "{path}.{key}: expected array, got {}",
            type_name(v)
        ))),
    }
}

fn text_block(text: String, extra: Option<Extra>) -> TextBlock {
    TextBlock {
        text,
        cache_control: None,
        citations: None,
        extra,
    }
}

/// An `other` block holding a whole unknown item.
fn other_item(v: &Value) -> ContentBlock {
    ContentBlock::Other(Extra {
        source: SOURCE,
        fields: to_json(v),
    })
}

/// The `type` of an item; `message` when it is omitted but a `role` is given (the
/// SDKs' "easy input message").
fn item_type(o: &Obj) -> Option<&str> {
    match field(o, "type").and_then(Value::as_str) {
        Some(t) => Some(t),
        None if o.contains_key("role") => Some("message"),
        None => None,
    }
}

// ----- media -----

fn split_data_url(u: &str) -> Option<(&str, &str)> {
    u.strip_prefix("data:")?.split_once(";base64,")
}

fn data_url(media_type: &str, data: &str) -> String {
    format!("data:{media_type};base64,{data}")
}

fn media_type_for(filename: Option<&str>) -> &'static str {
    let ext = filename
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("txt") | Some("md") => "text/plain",
        Some("json") => "application/json",
        Some("csv") => "text/csv",
        Some("html") => "text/html",
        Some("png") => "image/png",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

fn filename_for(media_type: &str) -> &'static str {
    match media_type {
        "application/pdf" => "document.pdf",
        "text/plain" => "document.txt",
        "application/json" => "document.json",
        "text/csv" => "document.csv",
        "text/html" => "document.html",
        _ => "document",
    }
}

// ----- content parts -----

/// Decode one content part of a message or tool output (`path` names it in errors).
pub fn decode_part<P: Display + ?Sized>(v: &Value, path: &P) -> Result<ContentBlock, ApiError> {
    let o = obj(v, path)?;
    let t = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{path}.type: field required")))?;
    Ok(match t {
        "input_text" | "output_text" | "text" | "summary_text" => ContentBlock::Text(text_block(
            req_str(o, "text", path)?,
            extra_of(o, &["type", "text"]),
        )),
        "refusal" => ContentBlock::Text(text_block(
            req_str(o, "refusal", path)?,
            // Keeps `"type": "refusal"`, which the encoder reads back.
            extra_of(o, &["refusal"]),
        )),
        "input_image" => {
            let source = if let Some(u) = opt_str(o, "image_url", path)? {
                match split_data_url(&u) {
                    Some((mt, data)) => MediaSource::Inline(InlineData {
                        media_type: mt.to_string(),
                        data: data.to_string(),
                    }),
                    None => MediaSource::Url(u),
                }
            } else if let Some(f) = opt_str(o, "file_id", path)? {
                MediaSource::FileId(f)
            } else {
                return Err(bad(format!(
                    "{path}: input_image needs image_url or file_id"
                )));
            };
            ContentBlock::Image(ImageBlock {
                source,
                media_type: None,
                detail: opt_str(o, "detail", path)?,
                cache_control: None,
                extra: extra_of(o, &["type", "image_url", "file_id", "detail"]),
            })
        }
        "input_file" => {
            let filename = opt_str(o, "filename", path)?;
            let source = if let Some(d) = opt_str(o, "file_data", path)? {
                match split_data_url(&d) {
                    Some((mt, data)) => MediaSource::Inline(InlineData {
                        media_type: mt.to_string(),
                        data: data.to_string(),
                    }),
                    None => MediaSource::Inline(InlineData {
                        media_type: media_type_for(filename.as_deref()).to_string(),
                        data: d,
                    }),
                }
            } else if let Some(u) = opt_str(o, "file_url", path)? {
                MediaSource::Url(u)
            } else if let Some(f) = opt_str(o, "file_id", path)? {
                MediaSource::FileId(f)
            } else {
                return Err(bad(format!(
                    "{path}: input_file needs file_data, file_url or file_id"
                )));
            };
            ContentBlock::Document(DocumentBlock {
                source,
                media_type: None,
                title: None,
                context: None,
                citations: None,
                filename,
                cache_control: None,
                extra: extra_of(o, &["type", "file_data", "file_url", "file_id", "filename"]),
            })
        }
        "input_audio" => {
            let p = format!("{path}.input_audio");
            let a = obj(field(o, "input_audio").unwrap_or(&Value::Null), &p)?;
            let format = req_str(a, "format", &p)?;
            ContentBlock::Audio(AudioBlock {
                source: MediaSource::Inline(InlineData {
                    media_type: format!("audio/{format}"),
                    data: req_str(a, "data", &p)?,
                }),
                format: Some(format),
                extra: extra_of(o, &["type", "input_audio"]),
            })
        }
        _ => {
            let mut m = Map::new();
            m.insert(PART_KEY.into(), v.clone());
            ContentBlock::Other(to_extra(m))
        }
    })
}

/// Decode a message's `content`: a string or an array of parts.
fn decode_content<P: Display + ?Sized>(
    v: Option<&Value>,
    path: &P,
) -> Result<Vec<ContentBlock>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![ContentBlock::Text(text_block(s.clone(), None))]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| decode_part(p, &Sub(path, j)))
            .collect(),
        Some(other) => Err(bad(format!(
            "{path}: expected string or array, got {}",
            type_name(other)
        ))),
    }
}

/// This dialect's extra fields of a block, if it has any.
fn block_fields(b: &ContentBlock) -> Option<Obj> {
    match b {
        ContentBlock::Text(t) => fields_of(t.extra.as_ref()),
        ContentBlock::Other(e) => fields_of(Some(e)),
        _ => None,
    }
}

/// The `item` marker of a block (see the module docs).
pub fn marker_of(b: &ContentBlock) -> Option<Obj> {
    match block_fields(b)?.remove(ITEM_KEY)? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Whether a text block is a Responses refusal part.
pub fn is_refusal(extra: Option<&Extra>) -> bool {
    fields_of(extra).is_some_and(|f| f.get("type").and_then(Value::as_str) == Some("refusal"))
}

/// Put the `item` marker on a text or part block.
fn attach_marker(b: &mut ContentBlock, marker: Obj) {
    let extra = match b {
        ContentBlock::Text(t) => &mut t.extra,
        ContentBlock::Other(e) => {
            if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&e.fields) {
                m.insert(ITEM_KEY.into(), Value::Object(marker));
                e.fields = obj_json(&m);
            }
            return;
        }
        _ => return,
    };
    let mut m = fields_of(extra.as_ref()).unwrap_or_default();
    m.insert(ITEM_KEY.into(), Value::Object(marker));
    *extra = Some(to_extra(m));
}

/// Encode one canonical block as a content part; `None` for blocks that are not parts
/// (tool calls, thinking…) or that the role cannot carry. `assistant` selects
/// `output_text`; `response` adds the fields a response part always has.
pub fn encode_part(
    b: &ContentBlock,
    assistant: bool,
    response: bool,
) -> Result<Option<Value>, ApiError> {
    let mut m = Map::with_capacity(4);
    match b {
        ContentBlock::Text(t) => {
            if assistant && is_refusal(t.extra.as_ref()) {
                m.insert("type".into(), json!("refusal"));
                m.insert("refusal".into(), json!(t.text));
            } else if assistant {
                m.insert("type".into(), json!("output_text"));
                m.insert("text".into(), json!(t.text));
                if response {
                    m.insert("annotations".into(), json!([]));
                }
            } else {
                m.insert("type".into(), json!("input_text"));
                m.insert("text".into(), json!(t.text));
            }
            if let Some(mut f) = fields_of(t.extra.as_ref()) {
                f.remove(ITEM_KEY);
                f.remove("type");
                if response && assistant {
                    // Overwrite the default `annotations: []` with the real ones.
                    for (k, v) in f {
                        m.insert(k, v);
                    }
                } else {
                    merge_into(&mut m, f);
                }
            }
        }
        ContentBlock::Image(i) if !assistant => {
            m.insert("type".into(), json!("input_image"));
            match &i.source {
                MediaSource::Inline(d) => {
                    m.insert("image_url".into(), json!(data_url(&d.media_type, &d.data)));
                }
                MediaSource::Url(u) => {
                    m.insert("image_url".into(), json!(u));
                }
                MediaSource::FileId(f) => {
                    m.insert("file_id".into(), json!(f));
                }
                MediaSource::Text(_) => {
                    return Err(bad("image: a text source is not an image".to_string()))
                }
            }
            if let Some(d) = &i.detail {
                m.insert("detail".into(), json!(d));
            }
            merge_extra(&mut m, i.extra.as_ref(), &[]);
        }
        ContentBlock::Document(d) if !assistant => {
            let filename = d.filename.as_ref().or(d.title.as_ref());
            match &d.source {
                MediaSource::Text(t) => {
                    // Responses has no plain-text document: send the text itself.
                    m.insert("type".into(), json!("input_text"));
                    let text = match &d.title {
                        Some(title) => format!("{title}\n\n{t}"),
                        None => t.clone(),
                    };
                    m.insert("text".into(), json!(text));
                    return Ok(Some(Value::Object(m)));
                }
                MediaSource::Inline(i) => {
                    m.insert("type".into(), json!("input_file"));
                    m.insert(
                        "filename".into(),
                        json!(filename
                            .map(String::as_str)
                            .unwrap_or_else(|| filename_for(&i.media_type))),
                    );
                    m.insert("file_data".into(), json!(data_url(&i.media_type, &i.data)));
                }
                MediaSource::Url(u) => {
                    m.insert("type".into(), json!("input_file"));
                    if let Some((mt, data)) = split_data_url(u) {
                        m.insert(
                            "filename".into(),
                            json!(filename
                                .map(String::as_str)
                                .unwrap_or_else(|| filename_for(mt))),
                        );
                        m.insert("file_data".into(), json!(data_url(mt, data)));
                    } else {
                        if let Some(f) = filename {
                            m.insert("filename".into(), json!(f));
                        }
                        m.insert("file_url".into(), json!(u));
                    }
                }
                MediaSource::FileId(f) => {
                    m.insert("type".into(), json!("input_file"));
                    if let Some(name) = filename {
                        m.insert("filename".into(), json!(name));
                    }
                    m.insert("file_id".into(), json!(f));
                }
            }
            merge_extra(&mut m, d.extra.as_ref(), &[]);
        }
        ContentBlock::Audio(a) if !assistant => {
            let MediaSource::Inline(d) = &a.source else {
                return Err(bad(
                    "audio: only inline audio can be sent to the Responses API".to_string(),
                ));
            };
            let format = a
                .format
                .clone()
                .unwrap_or_else(|| d.media_type.rsplit('/').next().unwrap_or("wav").to_string());
            m.insert("type".into(), json!("input_audio"));
            m.insert(
                "input_audio".into(),
                json!({"data": d.data, "format": format}),
            );
            merge_extra(&mut m, a.extra.as_ref(), &[]);
        }
        ContentBlock::Other(e) => {
            return Ok(fields_of(Some(e)).and_then(|mut f| f.remove(PART_KEY)));
        }
        _ => return Ok(None),
    }
    Ok(Some(Value::Object(m)))
}

fn is_part(b: &ContentBlock) -> bool {
    match b {
        ContentBlock::Text(_)
        | ContentBlock::Image(_)
        | ContentBlock::Document(_)
        | ContentBlock::Audio(_) => true,
        ContentBlock::Other(e) => fields_of(Some(e)).is_some_and(|f| f.contains_key(PART_KEY)),
        _ => false,
    }
}

// ----- items -----

fn decode_reasoning<P: Display + ?Sized>(o: &Obj, path: &P) -> Result<ContentBlock, ApiError> {
    let summary = opt_array(o, "summary", path)?;
    let join = |parts: &[Value]| -> String {
        parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    let mut text = join(summary);
    if text.is_empty() {
        // Raw reasoning text (open-weight models) when there is no summary.
        text = join(opt_array(o, "content", path)?);
    }
    let encrypted = opt_str(o, "encrypted_content", path)?;
    if let Some(data) = encrypted
        .as_deref()
        .and_then(|e| e.strip_prefix(REDACTED_PREFIX))
    {
        if text.is_empty() {
            return Ok(ContentBlock::RedactedThinking(data.to_string()));
        }
    }
    let mut rest = rest_of(o, &["type", "summary", "encrypted_content"]);
    if summary.len() != 1 {
        // Zero or several parts: keep them as sent (the text joins them).
        rest.insert("summary".into(), Value::Array(summary.to_vec()));
    }
    Ok(ContentBlock::Thinking(ThinkingBlock {
        text,
        signature: encrypted,
        extra: (!rest.is_empty()).then(|| to_extra(rest)),
    }))
}

fn arguments_of(o: &Obj, key: &str) -> String {
    match field(o, key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => to_json(v),
    }
}

/// Decode one assistant-side item (an `output` item of a response, or an assistant
/// item of a request's `input`) into canonical blocks.
pub fn decode_output_item<P: Display + ?Sized>(
    v: &Value,
    path: &P,
) -> Result<Vec<ContentBlock>, ApiError> {
    let o = obj(v, path)?;
    let Some(t) = item_type(o) else {
        return Err(bad(format!("{path}.type: field required")));
    };
    Ok(match t {
        "message" => {
            let mut blocks = decode_content(field(o, "content"), &Sub(path, "content"))?;
            if blocks.is_empty() {
                return Ok(vec![other_item(v)]);
            }
            let marker = rest_of(o, &["type", "role", "content"]);
            attach_marker(&mut blocks[0], marker);
            blocks
        }
        "reasoning" => vec![decode_reasoning(o, path)?],
        "function_call" => vec![ContentBlock::ToolCall(ToolCall {
            id: req_str(o, "call_id", path)?,
            name: req_str(o, "name", path)?,
            arguments: arguments_of(o, "arguments"),
            kind: ToolKind::Function,
            namespace: opt_str(o, "namespace", path)?,
            cache_control: None,
            extra: extra_of(o, &["type", "call_id", "name", "arguments", "namespace"]),
        })],
        "custom_tool_call" => vec![ContentBlock::ToolCall(ToolCall {
            id: req_str(o, "call_id", path)?,
            name: req_str(o, "name", path)?,
            arguments: arguments_of(o, "input"),
            kind: ToolKind::Custom,
            namespace: opt_str(o, "namespace", path)?,
            cache_control: None,
            extra: extra_of(o, &["type", "call_id", "name", "input", "namespace"]),
        })],
        "local_shell_call" => {
            let id = match opt_str(o, "call_id", path)? {
                Some(id) => id,
                None => req_str(o, "id", path)?,
            };
            vec![ContentBlock::ToolCall(ToolCall {
                id,
                name: "local_shell".to_string(),
                arguments: o.get("action").map_or_else(|| "{}".to_string(), to_json),
                kind: ToolKind::Builtin("local_shell".to_string()),
                namespace: None,
                cache_control: None,
                extra: extra_of(o, &["type", "call_id", "action"]),
            })]
        }
        _ => vec![other_item(v)],
    })
}

/// Decode a tool output item (`function_call_output`, `custom_tool_call_output`,
/// `local_shell_call_output`).
fn decode_tool_output<P: Display + ?Sized>(
    o: &Obj,
    ty: &str,
    path: &P,
) -> Result<ContentBlock, ApiError> {
    let mut known = vec!["call_id", "output"];
    let call_id = match opt_str(o, "call_id", path)? {
        Some(c) => c,
        None if ty == "local_shell_call_output" => {
            known.push("id");
            req_str(o, "id", path)?
        }
        None => return Err(bad(format!("{path}.call_id: field required"))),
    };
    let mut content = Vec::new();
    let mut keep_raw = false;
    let mut is_error = false;
    match field(o, "output") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => content.push(ToolResultPart::Text(s.clone())),
        Some(Value::Array(parts)) => {
            for (k, p) in parts.iter().enumerate() {
                match decode_part(p, &Sub(&Sub(path, "output"), k))? {
                    ContentBlock::Text(t) if t.extra.is_none() => {
                        content.push(ToolResultPart::Text(t.text))
                    }
                    ContentBlock::Image(i) => content.push(ToolResultPart::Image(i)),
                    ContentBlock::Document(d) => content.push(ToolResultPart::Document(d)),
                    ContentBlock::Text(t) => {
                        keep_raw = true;
                        content.push(ToolResultPart::Text(t.text));
                    }
                    _ => keep_raw = true,
                }
            }
        }
        Some(Value::Object(legacy)) => {
            // The legacy `{"content": "...", "success": false}` form.
            keep_raw = true;
            is_error = legacy.get("success").and_then(Value::as_bool) == Some(false);
            if let Some(t) = legacy.get("content").and_then(Value::as_str) {
                content.push(ToolResultPart::Text(t.to_string()));
            }
        }
        Some(other) => {
            keep_raw = true;
            content.push(ToolResultPart::Text(to_json(other)));
        }
    }
    let mut rest = rest_of(o, &known);
    if ty == "function_call_output" {
        rest.remove("type");
    }
    if keep_raw {
        if let Some(raw) = field(o, "output") {
            rest.insert("output".into(), raw.clone());
        }
    }
    Ok(ContentBlock::ToolResult(ToolResult {
        call_id,
        name: None,
        content,
        is_error,
        cache_control: None,
        extra: (!rest.is_empty()).then(|| to_extra(rest)),
    }))
}

/// An item id generator for responses: `{prefix}_{base}_{n}`, unique within a
/// response and distinct across responses with distinct ids.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    base: String,
    n: u32,
}

impl Ids {
    /// Ids for the response `response_id`.
    pub fn new(response_id: &str) -> Ids {
        Ids {
            base: response_id
                .strip_prefix("resp_")
                .unwrap_or(response_id)
                .to_string(),
            n: 0,
        }
    }

    /// The next id with this prefix (`msg`, `rs`, `fc`, `ctc`, `lsh`).
    pub fn next(&mut self, prefix: &str) -> String {
        self.n += 1;
        // `format!("{prefix}_{base}_{n}")`, without the formatting machinery.
        let mut id = String::with_capacity(prefix.len() + self.base.len() + 12);
        id.push_str(prefix);
        id.push('_');
        id.push_str(&self.base);
        id.push('_');
        push_u32(&mut id, self.n);
        id
    }
}

/// Append `n` in decimal.
fn push_u32(s: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        s.push(char::from(d));
    }
}

/// The response id for a canonical id (`resp_…` kept; others prefixed).
pub fn response_id(id: &str) -> String {
    if id.is_empty() {
        "resp_tollgate".to_string()
    } else if id.starts_with("resp_") {
        id.to_string()
    } else {
        let mut r = String::with_capacity(5 + id.len());
        r.push_str("resp_");
        r.push_str(id);
        r
    }
}

/// The item id kept in a block's extra (`id`), if any.
pub fn kept_id(extra: Option<&Extra>) -> Option<String> {
    fields_of(extra)?
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A `reasoning` item for a thinking block.
pub fn reasoning_item(t: &ThinkingBlock, id: Option<String>) -> Value {
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    m.insert("type".into(), json!("reasoning"));
    let mut fields = fields_of(t.extra.as_ref()).unwrap_or_default();
    let summary = match fields.remove("summary") {
        Some(s @ Value::Array(_)) => s,
        _ if t.text.is_empty() => json!([]),
        _ => json!([{"type": "summary_text", "text": t.text}]),
    };
    m.insert("summary".into(), summary);
    if let Some(sig) = &t.signature {
        m.insert("encrypted_content".into(), json!(sig));
    }
    merge_into(&mut m, fields);
    Value::Object(m)
}

/// A `reasoning` item carrying another provider's redacted thinking.
pub fn redacted_item(data: &str, id: Option<String>) -> Value {
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    m.insert("type".into(), json!("reasoning"));
    m.insert("summary".into(), json!([]));
    m.insert(
        "encrypted_content".into(),
        json!(format!("{REDACTED_PREFIX}{data}")),
    );
    Value::Object(m)
}

/// The item `type` a tool call becomes.
pub fn call_item_type(kind: &ToolKind) -> &'static str {
    match kind {
        ToolKind::Custom => "custom_tool_call",
        ToolKind::Builtin(b) if b == "local_shell" => "local_shell_call",
        _ => "function_call",
    }
}

/// The item id prefix for a tool call item type.
pub fn call_id_prefix(item_type: &str) -> &'static str {
    match item_type {
        "custom_tool_call" => "ctc",
        "local_shell_call" => "lsh",
        _ => "fc",
    }
}

/// A tool call item; `response` marks it completed.
pub fn call_item(c: &ToolCall, id: Option<String>, response: bool) -> Value {
    let ty = call_item_type(&c.kind);
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    m.insert("type".into(), json!(ty));
    match ty {
        "custom_tool_call" => {
            m.insert("call_id".into(), json!(c.id));
            if let Some(ns) = &c.namespace {
                m.insert("namespace".into(), json!(ns));
            }
            m.insert("name".into(), json!(c.name));
            m.insert("input".into(), json!(c.arguments));
        }
        "local_shell_call" => {
            if response {
                m.insert("status".into(), json!("completed"));
            }
            m.insert("call_id".into(), json!(c.id));
            let action = serde_json::from_str::<Value>(&c.arguments)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({"type": "exec", "command": []}));
            m.insert("action".into(), action);
        }
        _ => {
            if response {
                m.insert("status".into(), json!("completed"));
            }
            m.insert("call_id".into(), json!(c.id));
            if let Some(ns) = &c.namespace {
                m.insert("namespace".into(), json!(ns));
            }
            m.insert("name".into(), json!(c.name));
            m.insert("arguments".into(), json!(c.arguments));
        }
    }
    merge_extra(&mut m, c.extra.as_ref(), &[]);
    Value::Object(m)
}

/// A tool output item for a tool result. `kinds` maps call ids to the kind of their
/// call (to answer a custom tool with `custom_tool_call_output`).
fn tool_output_item(r: &ToolResult, kinds: &HashMap<String, ToolKind>) -> Result<Value, ApiError> {
    let mut fields = fields_of(r.extra.as_ref()).unwrap_or_default();
    let ty = match fields.remove("type") {
        Some(Value::String(t)) => t,
        _ => match kinds.get(&r.call_id) {
            Some(ToolKind::Custom) => "custom_tool_call_output".to_string(),
            Some(ToolKind::Builtin(b)) if b == "local_shell" => {
                "local_shell_call_output".to_string()
            }
            _ => "function_call_output".to_string(),
        },
    };
    let mut m = Map::new();
    m.insert("type".into(), json!(ty));
    if ty == "local_shell_call_output" && !fields.contains_key("id") {
        m.insert("id".into(), json!(r.call_id));
    } else {
        m.insert("call_id".into(), json!(r.call_id));
    }
    let output = match fields.remove("output") {
        Some(raw) => raw,
        None => match r.content.as_slice() {
            [] => json!(""),
            [ToolResultPart::Text(t)] => json!(t),
            parts => {
                let mut items = Vec::with_capacity(parts.len());
                for p in parts {
                    let block = match p {
                        ToolResultPart::Text(t) => ContentBlock::Text(text_block(t.clone(), None)),
                        ToolResultPart::Image(i) => ContentBlock::Image(i.clone()),
                        ToolResultPart::Document(d) => ContentBlock::Document(d.clone()),
                    };
                    if let Some(v) = encode_part(&block, false, false)? {
                        items.push(v);
                    }
                }
                Value::Array(items)
            }
        },
    };
    m.insert("output".into(), output);
    merge_into(&mut m, fields);
    Ok(Value::Object(m))
}

/// Writes canonical blocks as items, grouping consecutive parts into message items.
struct ItemWriter<'a> {
    items: Vec<Value>,
    run: Vec<Value>,
    run_marker: Option<Obj>,
    role: &'static str,
    response: bool,
    ids: Option<&'a mut Ids>,
    /// Fields for the first message item written (a canonical message's `extra`).
    message_extra: Option<Obj>,
}

impl ItemWriter<'_> {
    fn flush(&mut self) {
        if self.run.is_empty() {
            return;
        }
        let mut marker = self.run_marker.take().unwrap_or_default();
        if let Some(extra) = self.message_extra.take() {
            merge_into(&mut marker, extra);
        }
        let mut m = Map::with_capacity(5 + marker.len());
        if self.response {
            let id = match marker.remove("id") {
                Some(Value::String(id)) => id,
                _ => self.next_id("msg").unwrap_or_default(),
            };
            m.insert("id".into(), json!(id));
        }
        m.insert("type".into(), json!("message"));
        if self.response {
            m.insert("status".into(), json!("completed"));
        }
        m.insert("role".into(), json!(self.role));
        m.insert(
            "content".into(),
            Value::Array(core::mem::take(&mut self.run)),
        );
        merge_into(&mut m, marker);
        self.items.push(Value::Object(m));
    }

    fn next_id(&mut self, prefix: &str) -> Option<String> {
        self.ids.as_mut().map(|ids| ids.next(prefix))
    }

    /// The id for an item: the kept one, or a fresh one in a response.
    fn id_for(&mut self, extra: Option<&Extra>, prefix: &str) -> Option<String> {
        kept_id(extra).or_else(|| {
            if self.response {
                self.next_id(prefix)
            } else {
                None
            }
        })
    }

    fn block(
        &mut self,
        b: &ContentBlock,
        kinds: &HashMap<String, ToolKind>,
    ) -> Result<(), ApiError> {
        let assistant = self.role == "assistant";
        if is_part(b) {
            let marker = marker_of(b);
            if marker.is_some() {
                self.flush();
            }
            if let Some(p) = encode_part(b, assistant, self.response)? {
                if self.run.is_empty() {
                    self.run_marker = marker;
                }
                self.run.push(p);
            }
            return Ok(());
        }
        self.flush();
        match b {
            // A reasoning item without encrypted content or a stored id cannot be sent
            // back upstream (it is dropped there); a response shows it anyway.
            ContentBlock::Thinking(t)
                if self.response
                    || t.signature.is_some()
                    || kept_id(t.extra.as_ref()).is_some() =>
            {
                let id = self.id_for(t.extra.as_ref(), "rs");
                self.items.push(reasoning_item(t, id));
            }
            ContentBlock::RedactedThinking(d) => {
                let id = self.id_for(None, "rs");
                self.items.push(redacted_item(d, id));
            }
            ContentBlock::ToolCall(c) => {
                let prefix = call_id_prefix(call_item_type(&c.kind));
                let id = self.id_for(c.extra.as_ref(), prefix);
                self.items.push(call_item(c, id, self.response));
            }
            ContentBlock::ToolResult(r) if !self.response => {
                self.items.push(tool_output_item(r, kinds)?);
            }
            ContentBlock::Other(e) => {
                // A whole item of this dialect; other dialects' blocks mean nothing here.
                if let Some(f) = fields_of(Some(e)) {
                    self.items.push(Value::Object(f));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Encode assistant blocks (a response's content, or an assistant message of a
/// request) as items. Responses get ids and statuses on every item.
pub fn assistant_items(
    blocks: &[ContentBlock],
    response: bool,
    ids: Option<&mut Ids>,
    message_extra: Option<Obj>,
    kinds: &HashMap<String, ToolKind>,
) -> Result<Vec<Value>, ApiError> {
    let mut w = ItemWriter {
        items: Vec::new(),
        run: Vec::new(),
        run_marker: None,
        role: "assistant",
        response,
        ids,
        message_extra,
    };
    for b in blocks {
        w.block(b, kinds)?;
    }
    w.flush();
    Ok(w.items)
}

// ----- tools -----

fn function_tool<P: Display + ?Sized>(
    o: &Obj,
    path: &P,
    namespace: Option<String>,
) -> Result<ToolDefinition, ApiError> {
    Ok(ToolDefinition {
        kind: ToolKind::Function,
        name: req_str(o, "name", path)?,
        description: opt_str(o, "description", path)?,
        parameters: o.get("parameters").filter(|p| !p.is_null()).map(to_json),
        strict: opt_bool(o, "strict", path)?,
        namespace,
        cache_control: None,
        extra: extra_of(o, &["type", "name", "description", "parameters", "strict"]),
    })
}

fn decode_tool<P: Display + ?Sized>(
    v: &Value,
    path: &P,
    namespace: Option<&str>,
    out: &mut Vec<ToolDefinition>,
) -> Result<(), ApiError> {
    let o = obj(v, path)?;
    let t = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{path}.type: field required")))?;
    let ns = namespace.map(str::to_string);
    match t {
        "function" => out.push(function_tool(o, path, ns)?),
        "custom" => out.push(ToolDefinition {
            kind: ToolKind::Custom,
            name: req_str(o, "name", path)?,
            description: opt_str(o, "description", path)?,
            parameters: None,
            strict: None,
            namespace: ns,
            cache_control: None,
            // `format` (text, or a lark/regex grammar) stays here.
            extra: extra_of(o, &["type", "name", "description"]),
        }),
        "namespace" if namespace.is_none() => {
            let name = req_str(o, "name", path)?;
            let inner = opt_array(o, "tools", path)?;
            let own = rest_of(o, &["type", "name", "tools"]);
            if inner.is_empty() {
                out.push(ToolDefinition {
                    kind: ToolKind::Builtin("namespace".to_string()),
                    name,
                    description: None,
                    parameters: None,
                    strict: None,
                    namespace: None,
                    cache_control: None,
                    extra: extra_of(o, &["type", "name"]),
                });
                return Ok(());
            }
            let first = out.len();
            for (k, tv) in inner.iter().enumerate() {
                // `dyn` keeps this recursion to one instance of `decode_tool`.
                let p: &dyn Display = &Sub(&Sub(path, "tools"), k);
                decode_tool(tv, p, Some(&name), out)?;
            }
            if !own.is_empty() {
                if let Some(t) = out.get_mut(first) {
                    let mut f = fields_of(t.extra.as_ref()).unwrap_or_default();
                    f.insert(NAMESPACE_KEY.into(), Value::Object(own));
                    t.extra = Some(to_extra(f));
                }
            }
        }
        _ => out.push(ToolDefinition {
            kind: ToolKind::Builtin(t.to_string()),
            name: opt_str(o, "name", path)?.unwrap_or_else(|| t.to_string()),
            description: opt_str(o, "description", path)?,
            parameters: o.get("parameters").filter(|p| !p.is_null()).map(to_json),
            strict: None,
            namespace: ns,
            cache_control: None,
            extra: extra_of(o, &["type", "name", "description", "parameters"]),
        }),
    }
    Ok(())
}

/// Builtin tool types the Responses API knows; other dialects' builtins are mapped
/// (web search) or refused.
const RESPONSES_BUILTINS: &[&str] = &[
    "web_search",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "web_search_2025_08_26",
    "file_search",
    "code_interpreter",
    "image_generation",
    "local_shell",
    "shell",
    "apply_patch",
    "computer_use_preview",
    "computer_use",
    "mcp",
    "tool_search",
    "namespace",
];

/// The Responses builtin for a canonical builtin tool: `Ok(None)` to pass it as is.
fn map_builtin(t: &ToolDefinition, ty: &str) -> Result<Option<Value>, ApiError> {
    if RESPONSES_BUILTINS.contains(&ty) || fields_of(t.extra.as_ref()).is_some() {
        return Ok(None);
    }
    if ty.starts_with("web_search") || ty == "google_search" {
        let mut m = Map::new();
        m.insert("type".into(), json!("web_search"));
        // Anthropic settings that have a Responses equivalent.
        if let Some(e) = t.extra.as_ref().filter(|e| e.source == Dialect::Anthropic) {
            if let Ok(Value::Object(f)) = serde_json::from_str::<Value>(&e.fields) {
                if let Some(d) = f.get("allowed_domains").filter(|d| d.is_array()) {
                    m.insert("filters".into(), json!({ "allowed_domains": d }));
                }
                if let Some(l) = f.get("user_location").filter(|l| l.is_object()) {
                    m.insert("user_location".into(), l.clone());
                }
            }
        }
        return Ok(Some(Value::Object(m)));
    }
    Err(bad(format!(
        "tools: the builtin tool `{ty}` ({}) has no OpenAI Responses equivalent",
        t.name
    )))
}

fn encode_tool(t: &ToolDefinition) -> Result<Value, ApiError> {
    let mut m = Map::new();
    match &t.kind {
        ToolKind::Function => {
            m.insert("type".into(), json!("function"));
            m.insert("name".into(), json!(t.name));
            if let Some(d) = &t.description {
                m.insert("description".into(), json!(d));
            }
            let schema = t
                .parameters
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            m.insert("parameters".into(), schema);
            // Responses treats an absent `strict` as true, which rejects most schemas
            // written for other dialects: absent means false here.
            m.insert("strict".into(), json!(t.strict.unwrap_or(false)));
        }
        ToolKind::Custom => {
            m.insert("type".into(), json!("custom"));
            m.insert("name".into(), json!(t.name));
            if let Some(d) = &t.description {
                m.insert("description".into(), json!(d));
            }
        }
        ToolKind::Builtin(ty) => {
            if let Some(mapped) = map_builtin(t, ty)? {
                return Ok(mapped);
            }
            m.insert("type".into(), json!(ty));
            if t.name != *ty {
                m.insert("name".into(), json!(t.name));
            }
            if let Some(d) = &t.description {
                m.insert("description".into(), json!(d));
            }
            if let Some(p) = t
                .parameters
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
            {
                m.insert("parameters".into(), p);
            }
        }
    }
    merge_extra(&mut m, t.extra.as_ref(), &[NAMESPACE_KEY]);
    Ok(Value::Object(m))
}

/// Encode tool definitions; consecutive tools of one namespace form a `namespace` tool.
fn encode_tools(tools: &[ToolDefinition]) -> Result<Vec<Value>, ApiError> {
    let mut out: Vec<Value> = Vec::new();
    let mut current_ns: Option<&str> = None;
    for t in tools {
        let v = encode_tool(t)?;
        match t.namespace.as_deref() {
            None => {
                current_ns = None;
                out.push(v);
            }
            Some(ns) => {
                if current_ns == Some(ns) {
                    if let Some(Value::Array(inner)) =
                        out.last_mut().and_then(|n| n.get_mut("tools"))
                    {
                        inner.push(v);
                        continue;
                    }
                }
                let mut m = Map::new();
                m.insert("type".into(), json!("namespace"));
                m.insert("name".into(), json!(ns));
                let own = fields_of(t.extra.as_ref())
                    .and_then(|mut f| f.remove(NAMESPACE_KEY))
                    .and_then(|v| match v {
                        Value::Object(o) => Some(o),
                        _ => None,
                    });
                match own {
                    Some(own) => merge_into(&mut m, own),
                    None => {
                        m.insert(
                            "description".into(),
                            json!(format!("Tools in the {ns} namespace.")),
                        );
                    }
                }
                m.insert("tools".into(), json!([v]));
                out.push(Value::Object(m));
                current_ns = Some(ns);
            }
        }
    }
    Ok(out)
}

fn decode_tool_choice(v: &Value, extra: &mut Obj) -> Result<ToolChoice, ApiError> {
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(bad(format!(
                "tool_choice: expected \"auto\", \"none\" or \"required\", got \"{other}\""
            ))),
        },
        Value::Object(o) => {
            let t = req_str(o, "type", "tool_choice")?;
            match t.as_str() {
                "function" | "custom" => Ok(ToolChoice::Tool(req_str(o, "name", "tool_choice")?)),
                "allowed_tools" | "mcp" => {
                    // No canonical form: the object travels in `extra`.
                    extra.insert("tool_choice".into(), v.clone());
                    Ok(match field(o, "mode").and_then(Value::as_str) {
                        Some("required") => ToolChoice::Required,
                        _ if t == "mcp" => ToolChoice::Required,
                        _ => ToolChoice::Auto,
                    })
                }
                // A hosted tool by type (`web_search`, `file_search`, …).
                other => Ok(ToolChoice::Tool(other.to_string())),
            }
        }
        other => Err(bad(format!(
            "tool_choice: expected string or object, got {}",
            type_name(other)
        ))),
    }
}

fn encode_tool_choice(tc: &ToolChoice, tools: &[ToolDefinition]) -> Value {
    match tc {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool(name) => match tools.iter().find(|t| t.name == *name) {
            Some(ToolDefinition {
                kind: ToolKind::Custom,
                ..
            }) => json!({"type": "custom", "name": name}),
            Some(
                t @ ToolDefinition {
                    kind: ToolKind::Builtin(ty),
                    ..
                },
            ) => match map_builtin(t, ty) {
                Ok(Some(mapped)) => json!({"type": mapped.get("type")}),
                _ => json!({ "type": ty }),
            },
            _ => json!({"type": "function", "name": name}),
        },
    }
}

// ----- requests -----

const REQUEST_KNOWN: &[&str] = &[
    "model",
    "instructions",
    "input",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "text",
    "max_output_tokens",
    "temperature",
    "top_p",
    "stream",
    "user",
    "metadata",
];

/// Accumulates canonical messages from items.
#[derive(Default)]
struct Conversation {
    system: Vec<TextBlock>,
    messages: Vec<Message>,
    tools: Vec<ToolDefinition>,
    /// Still before the first item that is not a system/developer message.
    leading: bool,
}

impl Conversation {
    /// Append a block to the last message if it has `role` (assistant and tool only
    /// merge), else to a new message.
    fn push(&mut self, role: Role, block: ContentBlock) {
        self.leading = false;
        if let Some(last) = self.messages.last_mut() {
            if last.role == role && matches!(role, Role::Assistant | Role::Tool) {
                last.content.push(block);
                return;
            }
        }
        self.messages.push(Message {
            role,
            content: vec![block],
            name: None,
            extra: None,
        });
    }

    fn item<P: Display + ?Sized>(&mut self, v: &Value, path: &P) -> Result<(), ApiError> {
        let o = obj(v, path)?;
        let Some(t) = item_type(o) else {
            return Err(bad(format!("{path}.type: field required")));
        };
        match t {
            "message" => {
                let role = match field(o, "role").and_then(Value::as_str) {
                    Some("user") => Role::User,
                    Some("assistant") => Role::Assistant,
                    Some("system") => Role::System,
                    Some("developer") => Role::Developer,
                    Some(r) => return Err(bad(format!("{path}.role: unknown role \"{r}\""))),
                    None => return Err(bad(format!("{path}.role: field required"))),
                };
                if role == Role::Assistant {
                    for b in decode_output_item(v, path)? {
                        self.push(Role::Assistant, b);
                    }
                    return Ok(());
                }
                let content = decode_content(field(o, "content"), &Sub(path, "content"))?;
                let own = rest_of(o, &["type", "role", "content"]);
                let all_text = !content.is_empty()
                    && content.iter().all(|b| matches!(b, ContentBlock::Text(_)));
                if self.leading && matches!(role, Role::System | Role::Developer) && all_text {
                    let mut marker = own;
                    let r = if role == Role::System {
                        "system"
                    } else {
                        "developer"
                    };
                    marker.insert("role".into(), json!(r));
                    for (k, b) in content.into_iter().enumerate() {
                        let mut b = b;
                        if k == 0 {
                            attach_marker(&mut b, core::mem::take(&mut marker));
                        }
                        if let ContentBlock::Text(tb) = b {
                            self.system.push(tb);
                        }
                    }
                    return Ok(());
                }
                self.leading = false;
                self.messages.push(Message {
                    role,
                    content,
                    name: None,
                    extra: (!own.is_empty()).then(|| to_extra(own)),
                });
            }
            "function_call_output" | "custom_tool_call_output" | "local_shell_call_output" => {
                let b = decode_tool_output(o, t, path)?;
                self.push(Role::Tool, b);
            }
            "additional_tools" => {
                for (k, tv) in opt_array(o, "tools", path)?.iter().enumerate() {
                    decode_tool(tv, &Sub(&Sub(path, "tools"), k), None, &mut self.tools)?;
                }
            }
            other if other.ends_with("_output") => self.push(Role::Tool, other_item(v)),
            _ => {
                for b in decode_output_item(v, path)? {
                    self.push(Role::Assistant, b);
                }
            }
        }
        Ok(())
    }
}

/// Decode a Responses request into the canonical model.
pub fn decode_request(
    op: Operation,
    body: &[u8],
    path_model: Option<String>,
    stream: bool,
) -> Result<ChatRequest, ApiError> {
    if op == Operation::ListModels {
        return Err(bad("list-models has no request body to decode".to_string()));
    }
    let v = parse_object(body)?;
    let o = obj(&v, "request")?;
    let model = match (opt_str(o, "model", "request")?, path_model) {
        (Some(m), _) | (None, Some(m)) => m,
        (None, None) => return Err(bad("model: field required".to_string())),
    };
    let mut extra = rest_of(o, REQUEST_KNOWN);
    let mut conv = Conversation {
        leading: true,
        ..Conversation::default()
    };
    if let Some(i) = opt_str(o, "instructions", "request")?.filter(|i| !i.is_empty()) {
        conv.system.push(text_block(i, None));
    }
    match field(o, "input") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            conv.push(Role::User, ContentBlock::Text(text_block(s.clone(), None)))
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                conv.item(item, &Sub("input", i))?;
            }
        }
        Some(other) => {
            return Err(bad(format!(
                "input: expected string or array, got {}",
                type_name(other)
            )))
        }
    }
    let mut tools = Vec::new();
    for (i, t) in opt_array(o, "tools", "request")?.iter().enumerate() {
        decode_tool(t, &Sub("tools", i), None, &mut tools)?;
    }
    tools.append(&mut conv.tools);
    let tool_choice = match field(o, "tool_choice") {
        None | Some(Value::Null) => None,
        Some(tc) => Some(decode_tool_choice(tc, &mut extra)?),
    };
    let thinking = match field(o, "reasoning") {
        None | Some(Value::Null) => None,
        Some(r) => {
            let ro = obj(r, "reasoning")?;
            let effort = opt_str(ro, "effort", "reasoning")?;
            let rest = rest_of(ro, &["effort", "summary"]);
            if !rest.is_empty() {
                extra.insert("reasoning".into(), Value::Object(rest));
            }
            Some(ThinkingConfig {
                enabled: effort.as_deref() != Some("none"),
                budget_tokens: None,
                effort,
                summary: opt_str(ro, "summary", "reasoning")?,
            })
        }
    };
    let response_format = match field(o, "text") {
        None | Some(Value::Null) => None,
        Some(t) => {
            let to = obj(t, "text")?;
            let rest = rest_of(to, &["format"]);
            if !rest.is_empty() {
                extra.insert("text".into(), Value::Object(rest));
            }
            match to.get("format") {
                None | Some(Value::Null) => None,
                Some(f) => {
                    let fo = obj(f, "text.format")?;
                    Some(match req_str(fo, "type", "text.format")?.as_str() {
                        "text" => ResponseFormat::Text,
                        "json_object" => ResponseFormat::JsonObject,
                        "json_schema" => ResponseFormat::JsonSchema(JsonSchemaFormat {
                            name: opt_str(fo, "name", "text.format")?,
                            description: opt_str(fo, "description", "text.format")?,
                            schema: fo
                                .get("schema")
                                .filter(|s| !s.is_null())
                                .ok_or_else(|| {
                                    bad("text.format.schema: field required".to_string())
                                })
                                .map(to_json)?,
                            strict: opt_bool(fo, "strict", "text.format")?,
                        }),
                        other => {
                            return Err(bad(format!(
                                "text.format.type: expected text, json_object or json_schema, got \"{other}\""
                            )))
                        }
                    })
                }
            }
        }
    };
    let body_stream = opt_bool(o, "stream", "request")?.unwrap_or(false);
    let metadata = field(o, "metadata").filter(|m| !m.is_null());
    Ok(ChatRequest {
        model,
        system: conv.system,
        messages: conv.messages,
        tools,
        tool_choice,
        parallel_tool_calls: opt_bool(o, "parallel_tool_calls", "request")?,
        sampling: Sampling {
            max_tokens: opt_u32(o, "max_output_tokens")?,
            temperature: opt_f64(o, "temperature")?,
            top_p: opt_f64(o, "top_p")?,
            top_k: None,
            stop: Vec::new(),
            seed: None,
            presence_penalty: None,
            frequency_penalty: None,
            candidates: None,
        },
        thinking,
        response_format,
        stream: stream || body_stream,
        stream_include_usage: false,
        user: opt_str(o, "user", "request")?,
        metadata: metadata.map(to_json),
        extra: (!extra.is_empty()).then(|| to_extra(extra)),
    })
}

/// Settings a target can set in its `options` (all optional):
/// - `store` (bool, default `false`): the Responses `store` flag unless the client set it.
/// - `reasoning_effort`, `reasoning_summary` (strings): defaults for `reasoning`.
/// - `include_encrypted_reasoning` (bool, default `true`): with `store: false` and
///   reasoning on, ask for `reasoning.encrypted_content` so thinking survives the turn.
/// - `default_max_output_tokens` (integer): when the request sets no limit.
/// - `extra_body` (object): fields set on every request body, overriding.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Options {
    pub store: Option<bool>,
    pub reasoning_effort: Option<String>,
    pub reasoning_summary: Option<String>,
    pub include_encrypted_reasoning: Option<bool>,
    pub default_max_output_tokens: Option<u32>,
    pub extra_body: Option<Obj>,
}

impl Options {
    /// Read the options JSON leniently (unknown keys and bad types are ignored).
    pub fn parse(json: &str) -> Options {
        let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Options {
            store: v.get("store").and_then(Value::as_bool),
            reasoning_effort: s("reasoning_effort"),
            reasoning_summary: s("reasoning_summary"),
            include_encrypted_reasoning: v
                .get("include_encrypted_reasoning")
                .and_then(Value::as_bool),
            default_max_output_tokens: v
                .get("default_max_output_tokens")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok()),
            extra_body: v.get("extra_body").and_then(Value::as_object).cloned(),
        }
    }
}

/// Effort for a thinking budget from a budget dialect.
fn effort_for_budget(budget: u32) -> &'static str {
    match budget {
        0..=2048 => "low",
        2049..=8192 => "medium",
        _ => "high",
    }
}

/// Every tool call's kind by call id, to pick the output item type of its result.
fn call_kinds(messages: &[Message]) -> HashMap<String, ToolKind> {
    messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|b| match b {
            ContentBlock::ToolCall(c) => Some((c.id.clone(), c.kind.clone())),
            _ => None,
        })
        .collect()
}

/// `instructions` and the `input` items of a canonical request.
fn encode_input(r: &ChatRequest) -> Result<(Option<String>, Vec<Value>), ApiError> {
    let mut instructions: Vec<&str> = Vec::new();
    let mut input = Vec::new();
    // System blocks: unmarked ones are `instructions`; marked ones (leading
    // system/developer message items) go back to items.
    let mut current: Option<(Obj, Vec<Value>)> = None;
    let flush = |cur: &mut Option<(Obj, Vec<Value>)>, input: &mut Vec<Value>| {
        if let Some((mut marker, parts)) = cur.take() {
            let role = marker.remove("role").unwrap_or_else(|| json!("developer"));
            let mut m = Map::new();
            m.insert("type".into(), json!("message"));
            m.insert("role".into(), role);
            m.insert("content".into(), Value::Array(parts));
            merge_into(&mut m, marker);
            input.push(Value::Object(m));
        }
    };
    for tb in &r.system {
        let b = ContentBlock::Text(tb.clone());
        match marker_of(&b) {
            Some(marker) => {
                flush(&mut current, &mut input);
                let part = encode_part(&b, false, false)?.unwrap_or(Value::Null);
                current = Some((marker, vec![part]));
            }
            None => match current.as_mut() {
                Some((_, parts)) => {
                    parts.push(encode_part(&b, false, false)?.unwrap_or(Value::Null))
                }
                None => instructions.push(&tb.text),
            },
        }
    }
    flush(&mut current, &mut input);
    let kinds = call_kinds(&r.messages);
    for msg in &r.messages {
        let fields = fields_of(msg.extra.as_ref());
        match msg.role {
            Role::Assistant => {
                input.extend(assistant_items(&msg.content, false, None, fields, &kinds)?);
            }
            role => {
                let role = match role {
                    Role::System => "system",
                    Role::Developer => "developer",
                    _ => "user",
                };
                let mut w = ItemWriter {
                    items: Vec::new(),
                    run: Vec::new(),
                    run_marker: None,
                    role,
                    response: false,
                    ids: None,
                    message_extra: fields,
                };
                for b in &msg.content {
                    match b {
                        // Thinking has no place in a user turn.
                        ContentBlock::Thinking(_) | ContentBlock::RedactedThinking(_) => {}
                        b => w.block(b, &kinds)?,
                    }
                }
                w.flush();
                input.extend(w.items);
            }
        }
    }
    let instructions = (!instructions.is_empty()).then(|| instructions.join("\n\n"));
    Ok((instructions, input))
}

/// Keys `POST /v1/responses/input_tokens` accepts.
const COUNT_TOKENS_KEYS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "text",
    "truncation",
    "conversation",
    "previous_response_id",
];

/// The Responses request body for a canonical request.
pub fn request_body(
    op: Operation,
    r: &ChatRequest,
    model: &str,
    opts: &Options,
) -> Result<Value, ApiError> {
    let mut m = Map::new();
    m.insert("model".into(), json!(model));
    let (instructions, input) = encode_input(r)?;
    if let Some(i) = instructions {
        m.insert("instructions".into(), json!(i));
    }
    m.insert("input".into(), Value::Array(input));
    if !r.tools.is_empty() {
        m.insert("tools".into(), Value::Array(encode_tools(&r.tools)?));
    }
    if let Some(tc) = &r.tool_choice {
        m.insert("tool_choice".into(), encode_tool_choice(tc, &r.tools));
    }
    if let Some(p) = r.parallel_tool_calls {
        m.insert("parallel_tool_calls".into(), json!(p));
    }
    let mut reasoning = Map::new();
    match &r.thinking {
        Some(t) if t.enabled => {
            let effort = t
                .effort
                .clone()
                .or_else(|| t.budget_tokens.map(|b| effort_for_budget(b).to_string()))
                .or_else(|| opts.reasoning_effort.clone());
            if let Some(e) = effort {
                reasoning.insert("effort".into(), json!(e));
            }
            // A budget dialect shows its thoughts: ask for summaries to show.
            let summary = t.summary.clone().or_else(|| {
                opts.reasoning_summary
                    .clone()
                    .or_else(|| t.budget_tokens.map(|_| "auto".to_string()))
            });
            if let Some(s) = summary {
                reasoning.insert("summary".into(), json!(s));
            }
        }
        Some(t) => {
            // Disabled: say so where the client named an effort (`none`), else leave
            // the model's default.
            if let Some(e) = &t.effort {
                reasoning.insert("effort".into(), json!(e));
            }
        }
        None => {
            if let Some(e) = &opts.reasoning_effort {
                reasoning.insert("effort".into(), json!(e));
            }
            if let Some(s) = &opts.reasoning_summary {
                reasoning.insert("summary".into(), json!(s));
            }
        }
    }
    let reasoning_on = match &r.thinking {
        Some(t) => t.enabled,
        None => !reasoning.is_empty(),
    };
    if !reasoning.is_empty() || r.thinking.as_ref().is_some_and(|t| t.enabled) {
        m.insert("reasoning".into(), Value::Object(reasoning));
    }
    if let Some(f) = &r.response_format {
        let format = match f {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema(s) => {
                let mut fm = Map::new();
                fm.insert("type".into(), json!("json_schema"));
                fm.insert(
                    "name".into(),
                    json!(s.name.as_deref().unwrap_or("response")),
                );
                if let Some(d) = &s.description {
                    fm.insert("description".into(), json!(d));
                }
                fm.insert(
                    "schema".into(),
                    serde_json::from_str::<Value>(&s.schema).map_err(|e| {
                        bad(format!("response format schema is not valid JSON: {e}"))
                    })?,
                );
                if let Some(st) = s.strict {
                    fm.insert("strict".into(), json!(st));
                }
                Value::Object(fm)
            }
        };
        m.insert("text".into(), json!({ "format": format }));
    }
    if let Some(n) = r.sampling.max_tokens.or(opts.default_max_output_tokens) {
        m.insert("max_output_tokens".into(), json!(n));
    }
    if let Some(t) = r.sampling.temperature {
        m.insert("temperature".into(), json!(t));
    }
    if let Some(p) = r.sampling.top_p {
        m.insert("top_p".into(), json!(p));
    }
    if r.stream && op == Operation::Chat {
        m.insert("stream".into(), json!(true));
    }
    if let Some(u) = &r.user {
        m.insert("user".into(), json!(u));
    }
    if let Some(md) = r
        .metadata
        .as_deref()
        .and_then(|md| serde_json::from_str::<Value>(md).ok())
    {
        // Responses metadata is a map of strings; other shapes cannot be sent.
        if md
            .as_object()
            .is_some_and(|o| !o.is_empty() && o.values().all(Value::is_string))
        {
            m.insert("metadata".into(), md);
        }
    }
    // Fields a Responses client sent that the canonical model does not name (`store`,
    // `include`, `prompt_cache_key`, `text.verbosity`, …).
    if let Some(mut fields) = fields_of(r.extra.as_ref()) {
        if let Some(tc) = fields.remove("tool_choice") {
            m.insert("tool_choice".into(), tc);
        }
        merge_into(&mut m, fields);
    }
    let store = match m.get("store").and_then(Value::as_bool) {
        Some(s) => s,
        None => {
            let s = opts.store.unwrap_or(false);
            m.insert("store".into(), json!(s));
            s
        }
    };
    if !store && reasoning_on && opts.include_encrypted_reasoning != Some(false) {
        let include = m.entry("include").or_insert_with(|| json!([]));
        if let Value::Array(list) = include {
            if !list.iter().any(|i| i == "reasoning.encrypted_content") {
                list.push(json!("reasoning.encrypted_content"));
            }
        }
    }
    if let Some(extra_body) = &opts.extra_body {
        for (k, v) in extra_body {
            m.insert(k.clone(), v.clone());
        }
    }
    if op == Operation::CountTokens {
        m.retain(|k, _| COUNT_TOKENS_KEYS.contains(&k.as_str()));
    }
    Ok(Value::Object(m))
}

/// Build the upstream request for a canonical request.
pub fn encode_request(
    op: Operation,
    r: &ChatRequest,
    target: &TargetInfo,
) -> Result<UpstreamRequest, ApiError> {
    let headers = vec![Header::new("content-type", "application/json")];
    if op == Operation::ListModels {
        return Ok(UpstreamRequest {
            method: "GET".into(),
            path: "/v1/models".into(),
            headers: Vec::new(),
            body: Vec::new(),
            stream: false,
        });
    }
    let opts = Options::parse(&target.options);
    let model = if target.model.is_empty() {
        &r.model
    } else {
        &target.model
    };
    let body = request_body(op, r, model, &opts)?;
    let stream = r.stream && op == Operation::Chat;
    let mut headers = headers;
    if stream {
        headers.push(Header::new("accept", "text/event-stream"));
    }
    Ok(UpstreamRequest {
        method: "POST".into(),
        path: if op == Operation::CountTokens {
            "/v1/responses/input_tokens".into()
        } else {
            "/v1/responses".into()
        },
        headers,
        body: serde_json::to_vec(&body).unwrap_or_default(),
        stream,
    })
}

// ----- responses -----

const RESPONSE_KNOWN: &[&str] = &[
    "id",
    "object",
    "model",
    "output",
    "status",
    "incomplete_details",
    "usage",
];

/// Whether blocks ask the client to run a tool (a `tool-use` stop).
pub fn has_client_call(blocks: &[ContentBlock]) -> bool {
    blocks
        .iter()
        .any(|b| matches!(b, ContentBlock::ToolCall(_)))
}

fn has_refusal(blocks: &[ContentBlock]) -> bool {
    blocks.iter().any(|b| match b {
        ContentBlock::Text(t) => is_refusal(t.extra.as_ref()),
        _ => false,
    })
}

/// Decode a complete Responses response.
pub fn decode_response(op: Operation, body: &[u8]) -> Result<ChatResponse, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_gateway(format!("upstream response is not JSON: {e}")))?;
    let o = v.as_object().ok_or_else(|| {
        ApiError::bad_gateway("upstream response is not a JSON object".to_string())
    })?;
    let upstream = |e: ApiError| ApiError::bad_gateway(format!("upstream response: {}", e.message));
    if op == Operation::CountTokens {
        let mut usage = Usage::empty();
        usage.input_tokens = field(o, "input_tokens").and_then(Value::as_u64);
        return Ok(ChatResponse {
            id: String::new(),
            model: String::new(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage,
            extra: extra_of(o, &["input_tokens"]),
        });
    }
    let status = o
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("completed");
    if status == "failed" {
        return Err(o
            .get("error")
            .and_then(|e| error_from_object(e, None))
            .unwrap_or_else(|| ApiError::bad_gateway("the upstream response failed")));
    }
    let mut content = Vec::new();
    for (i, item) in opt_array(o, "output", "response")
        .map_err(upstream)?
        .iter()
        .enumerate()
    {
        content.extend(decode_output_item(item, &Sub("output", i)).map_err(upstream)?);
    }
    let incomplete = o
        .get("incomplete_details")
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str);
    Ok(ChatResponse {
        id: opt_str(o, "id", "response")
            .map_err(upstream)?
            .unwrap_or_default(),
        model: opt_str(o, "model", "response")
            .map_err(upstream)?
            .unwrap_or_default(),
        stop_reason: stop_reason_from(
            status,
            incomplete,
            has_client_call(&content),
            has_refusal(&content),
        ),
        content,
        stop_sequence: None,
        usage: field(o, "usage").map(usage_from).unwrap_or_default(),
        extra: extra_of(o, RESPONSE_KNOWN),
    })
}

/// The response-object fields every Responses client may read, with neutral values;
/// set where a source did not provide them.
pub fn response_defaults(m: &mut Obj) {
    for (k, v) in [
        ("created_at", json!(0)),
        ("error", Value::Null),
        ("instructions", Value::Null),
        ("metadata", json!({})),
        ("parallel_tool_calls", json!(true)),
        ("temperature", Value::Null),
        ("tool_choice", json!("auto")),
        ("tools", json!([])),
        ("top_p", Value::Null),
    ] {
        m.entry(k).or_insert(v);
    }
}

/// The `error` of a failed response object.
pub fn failed_error(err: Option<&ApiError>) -> Value {
    match err {
        Some(e) => {
            let (_, code) = crate::wire::error_type_code(e);
            json!({"code": code.unwrap_or_else(|| "server_error".to_string()), "message": e.message})
        }
        None => json!({"code": "server_error", "message": "The upstream stopped with an error."}),
    }
}

/// Whether an `extra` was written by this dialect (others' fields mean nothing here).
fn is_ours(extra: Option<&Extra>) -> bool {
    extra.is_some_and(|e| e.source == SOURCE)
}

/// Encode a canonical response as a Responses response object.
pub fn encode_response(r: &ChatResponse) -> Result<Vec<u8>, ApiError> {
    let id = response_id(&r.id);
    let mut ids = Ids::new(&id);
    let (status, reason) = status_of(r.stop_reason.unwrap_or(StopReason::EndTurn));
    if !is_ours(r.extra.as_ref()) {
        // No extra of this dialect to merge: write the object directly, in the order
        // the general path below produces (its fields, then `response_defaults`).
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"id\":");
        put_str(&mut out, &id);
        out.extend_from_slice(b",\"object\":\"response\",\"status\":");
        put_str(&mut out, status);
        out.extend_from_slice(b",\"error\":");
        if status == "failed" {
            put_value(&mut out, &failed_error(None));
        } else {
            out.extend_from_slice(b"null");
        }
        out.extend_from_slice(b",\"incomplete_details\":");
        match reason {
            Some(reason) => {
                out.extend_from_slice(b"{\"reason\":");
                put_str(&mut out, reason);
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"model\":");
        put_str(&mut out, &r.model);
        out.extend_from_slice(b",\"output\":[");
        let plain_text = r.content.iter().all(|b| match b {
            ContentBlock::Text(t) => !is_ours(t.extra.as_ref()),
            _ => false,
        });
        if plain_text {
            // Only text without this dialect's fields: one message item of
            // `output_text` parts, as `assistant_items` writes it.
            if !r.content.is_empty() {
                out.extend_from_slice(b"{\"id\":");
                put_str(&mut out, &ids.next("msg"));
                out.extend_from_slice(
                    b",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[",
                );
                for (k, b) in r.content.iter().enumerate() {
                    if let ContentBlock::Text(t) = b {
                        if k > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(b"{\"type\":\"output_text\",\"text\":");
                        put_str(&mut out, &t.text);
                        out.extend_from_slice(b",\"annotations\":[]}");
                    }
                }
                out.extend_from_slice(b"]}");
            }
        } else {
            let output = assistant_items(&r.content, true, Some(&mut ids), None, &HashMap::new())?;
            for (k, item) in output.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                put_value(&mut out, item);
            }
        }
        out.extend_from_slice(b"],\"usage\":");
        put_usage(&mut out, &r.usage);
        out.extend_from_slice(RESPONSE_DEFAULTS_TAIL);
        return Ok(out);
    }
    let output = assistant_items(&r.content, true, Some(&mut ids), None, &HashMap::new())?;
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("object".into(), json!("response"));
    m.insert("status".into(), json!(status));
    m.insert(
        "error".into(),
        if status == "failed" {
            failed_error(None)
        } else {
            Value::Null
        },
    );
    m.insert(
        "incomplete_details".into(),
        reason.map_or(Value::Null, |r| json!({ "reason": r })),
    );
    m.insert("model".into(), json!(r.model));
    m.insert("output".into(), Value::Array(output));
    m.insert("usage".into(), usage_to(&r.usage));
    merge_extra(&mut m, r.extra.as_ref(), &[]);
    response_defaults(&mut m);
    Ok(serde_json::to_vec(&m).unwrap_or_default())
}

/// The fields [`response_defaults`] adds after `usage` to a response object that lacks
/// all of them but `error`, and the closing brace.
const RESPONSE_DEFAULTS_TAIL: &[u8] = br#","created_at":0,"instructions":null,"metadata":{},"parallel_tool_calls":true,"temperature":null,"tool_choice":"auto","tools":[],"top_p":null}"#;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tollgate_sdk::provider::ErrorKind;

    /// A Codex-like request: instructions, a developer message, AGENTS.md as a user
    /// message, images and files, reasoning with encrypted content, parallel function
    /// calls, a custom (freeform) tool call, a namespaced MCP call, a web search item,
    /// tools of every kind, JSON schema output, and the request flags Codex sends.
    const RICH: &str = r##"{
      "model": "gpt-5-codex",
      "instructions": "You are Codex, a coding agent.",
      "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions>workspace-write</permissions>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "# AGENTS.md\nRun tests."}]},
        {"type": "message", "role": "user", "content": [
          {"type": "input_text", "text": "Fix the bug in this screenshot."},
          {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"},
          {"type": "input_image", "image_url": "https://example.com/a.png"},
          {"type": "input_file", "filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
          {"type": "input_file", "file_id": "file-123"}
        ]},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Looking at files."}], "encrypted_content": "gAAAAenc1"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
        {"type": "function_call", "name": "shell", "arguments": "{\"command\":[\"ls\"]}", "call_id": "call_1"},
        {"type": "function_call", "name": "shell", "arguments": "{\"command\":[\"cat\",\"a.rs\"]}", "call_id": "call_2"},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.rs\nb.rs"},
        {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "fn main() {}"}, {"type": "input_image", "image_url": "data:image/gif;base64,R0lG"}]},
        {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "gAAAAenc2"},
        {"type": "custom_tool_call", "call_id": "call_3", "name": "apply_patch", "input": "*** Begin Patch\n*** End Patch"},
        {"type": "custom_tool_call_output", "call_id": "call_3", "output": "Done!"},
        {"type": "function_call", "id": "fc_9", "namespace": "mcp__github__", "name": "search", "arguments": "{\"q\":\"x\"}", "call_id": "call_4"},
        {"type": "function_call_output", "call_id": "call_4", "output": "[]"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "rust sse"}},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Fixed. ✓"}]},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Approval mode changed."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Thanks, now summarize."}]}
      ],
      "tools": [
        {"type": "function", "name": "shell", "description": "Run a command", "strict": false,
         "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}, "required": ["command"], "additionalProperties": false}},
        {"type": "custom", "name": "apply_patch", "description": "Apply a patch",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+ end_patch"}},
        {"type": "namespace", "name": "mcp__github__", "description": "GitHub MCP tools",
         "tools": [
           {"type": "function", "name": "search", "description": "Search", "strict": false, "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
           {"type": "function", "name": "get_issue", "strict": false, "parameters": {"type": "object", "properties": {}}}
         ]},
        {"type": "web_search", "external_web_access": true},
        {"type": "local_shell"}
      ],
      "tool_choice": "auto",
      "parallel_tool_calls": true,
      "reasoning": {"effort": "high", "summary": "auto"},
      "store": false,
      "stream": true,
      "include": ["reasoning.encrypted_content"],
      "prompt_cache_key": "conv-123",
      "text": {"verbosity": "low", "format": {"type": "json_schema", "name": "codex_output_schema", "strict": true,
               "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": false}}},
      "max_output_tokens": 4096
    }"##;

    fn target(model: &str, options: &str) -> TargetInfo {
        TargetInfo {
            model: model.to_string(),
            options: options.to_string(),
        }
    }

    /// The directly written response (no extra of this dialect) is byte for byte what
    /// the general `Map` path writes (forced here by an empty extra of this dialect).
    #[test]
    fn direct_response_matches_the_general_path() {
        let text = |s: &str, extra: Option<Extra>| {
            ContentBlock::Text(TextBlock {
                text: s.to_string(),
                cache_control: None,
                citations: None,
                extra,
            })
        };
        let foreign = Some(Extra {
            source: Dialect::Anthropic,
            fields: r#"{"x":1}"#.to_string(),
        });
        let call = ContentBlock::ToolCall(ToolCall {
            id: "call_1".into(),
            name: "f".into(),
            arguments: "{}".into(),
            kind: ToolKind::Function,
            namespace: None,
            cache_control: None,
            extra: None,
        });
        let mut usage = Usage::empty();
        usage.input_tokens = Some(10);
        usage.cache_read_tokens = Some(5);
        usage.cache_write_tokens = Some(2);
        usage.output_tokens = Some(7);
        usage.reasoning_tokens = Some(3);
        let contents = [
            vec![],
            vec![text("ok", None)],
            vec![text("a \"q\" ✓\n", None), text("", foreign.clone())],
            vec![text("a", None), call],
        ];
        for content in contents {
            for stop in [
                None,
                Some(StopReason::EndTurn),
                Some(StopReason::MaxTokens),
                Some(StopReason::ContentFilter),
                Some(StopReason::Error),
            ] {
                for usage in [Usage::empty(), usage.clone()] {
                    let mut r = ChatResponse {
                        id: "msg_1".into(),
                        model: "m\u{e9}".into(),
                        content: content.clone(),
                        stop_reason: stop,
                        stop_sequence: None,
                        usage,
                        extra: foreign.clone(),
                    };
                    let direct = encode_response(&r).unwrap();
                    r.extra = Some(to_extra(Map::new()));
                    let general = encode_response(&r).unwrap();
                    assert_eq!(
                        String::from_utf8(direct).unwrap(),
                        String::from_utf8(general).unwrap()
                    );
                }
            }
        }
    }

    #[test]
    fn ids_and_response_ids() {
        for n in [0, 7, 10, 99, 100, 12345, u32::MAX] {
            let mut s = String::from("x");
            push_u32(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
        let mut ids = Ids::new("resp_abc");
        assert_eq!(ids.next("msg"), "msg_abc_1");
        assert_eq!(ids.next("fc"), "fc_abc_2");
        assert_eq!(response_id("msg_1"), "resp_msg_1");
        assert_eq!(response_id("resp_1"), "resp_1");
        assert_eq!(response_id(""), "resp_tollgate");
    }

    #[test]
    fn rich_codex_request_round_trips() {
        let r = decode_request(Operation::Chat, RICH.as_bytes(), None, false).unwrap();
        // instructions + the leading developer message are the system prompt.
        assert_eq!(r.system.len(), 2);
        assert_eq!(r.system[0].text, "You are Codex, a coding agent.");
        assert_eq!(
            r.system[1].text,
            "<permissions>workspace-write</permissions>"
        );
        let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            vec![
                Role::User,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::Assistant,
                Role::Tool,
                Role::Assistant,
                Role::Tool,
                Role::Assistant,
                Role::Developer,
                Role::User
            ]
        );
        // The first assistant turn: reasoning, text, two parallel calls.
        let a = &r.messages[2].content;
        assert!(
            matches!(&a[0], ContentBlock::Thinking(t) if t.text == "Looking at files." && t.signature.as_deref() == Some("gAAAAenc1"))
        );
        assert!(matches!(&a[1], ContentBlock::Text(t) if t.text == "Let me look."));
        assert!(
            matches!(&a[2], ContentBlock::ToolCall(c) if c.id == "call_1" && c.kind == ToolKind::Function)
        );
        assert!(matches!(&a[3], ContentBlock::ToolCall(c) if c.id == "call_2"));
        let ContentBlock::ToolResult(tr) = &r.messages[3].content[1] else {
            panic!()
        };
        assert_eq!(tr.call_id, "call_2");
        assert!(matches!(&tr.content[1], ToolResultPart::Image(_)));
        let ContentBlock::ToolCall(custom) = &r.messages[4].content[1] else {
            panic!()
        };
        assert_eq!(custom.kind, ToolKind::Custom);
        assert_eq!(custom.arguments, "*** Begin Patch\n*** End Patch");
        let ContentBlock::ToolCall(ns) = &r.messages[6].content[0] else {
            panic!()
        };
        // Call id and item id are kept apart.
        assert_eq!(
            (
                ns.id.as_str(),
                ns.namespace.as_deref(),
                kept_id(ns.extra.as_ref()).as_deref()
            ),
            ("call_4", Some("mcp__github__"), Some("fc_9"))
        );
        assert!(matches!(&r.messages[8].content[0], ContentBlock::Other(_)));
        let ContentBlock::Image(img) = &r.messages[1].content[1] else {
            panic!()
        };
        assert!(matches!(&img.source, MediaSource::Inline(d) if d.media_type == "image/png"));
        assert_eq!(img.detail.as_deref(), Some("high"));
        let ContentBlock::Document(doc) = &r.messages[1].content[3] else {
            panic!()
        };
        assert_eq!(doc.filename.as_deref(), Some("spec.pdf"));
        // Tools: namespace flattened with its name on each tool, builtins by type.
        let kinds: Vec<(&ToolKind, &str, Option<&str>)> = r
            .tools
            .iter()
            .map(|t| (&t.kind, t.name.as_str(), t.namespace.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (&ToolKind::Function, "shell", None),
                (&ToolKind::Custom, "apply_patch", None),
                (&ToolKind::Function, "search", Some("mcp__github__")),
                (&ToolKind::Function, "get_issue", Some("mcp__github__")),
                (&ToolKind::Builtin("web_search".into()), "web_search", None),
                (
                    &ToolKind::Builtin("local_shell".into()),
                    "local_shell",
                    None
                ),
            ]
        );
        assert_eq!(r.tool_choice, Some(ToolChoice::Auto));
        assert_eq!(r.parallel_tool_calls, Some(true));
        let th = r.thinking.as_ref().unwrap();
        assert!(th.enabled);
        assert_eq!(
            (th.effort.as_deref(), th.summary.as_deref()),
            (Some("high"), Some("auto"))
        );
        assert!(
            matches!(r.response_format, Some(ResponseFormat::JsonSchema(ref s)) if s.name.as_deref() == Some("codex_output_schema"))
        );
        assert!(r.stream);
        assert_eq!(r.sampling.max_tokens, Some(4096));

        // Re-encoding for a Responses upstream gives the client's request back.
        let up = encode_request(Operation::Chat, &r, &target("gpt-5-codex", "{}")).unwrap();
        assert_eq!(
            (up.method.as_str(), up.path.as_str(), up.stream),
            ("POST", "/v1/responses", true)
        );
        let got: Value = serde_json::from_slice(&up.body).unwrap();
        let want: Value = serde_json::from_str(RICH).unwrap();
        assert_eq!(got, want, "\n got: {got:#}");
        // And canonical -> responses -> canonical is a fixed point.
        let again = decode_request(Operation::Chat, &up.body, None, false).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn easy_forms_and_additional_tools() {
        let body = br#"{"model":"m","input":"hi"}"#;
        let r = decode_request(Operation::Chat, body, None, false).unwrap();
        assert_eq!(r.messages.len(), 1);
        assert!(matches!(&r.messages[0].content[0], ContentBlock::Text(t) if t.text == "hi"));
        let body = br#"{"model":"m","input":[
            {"role":"system","content":"Be terse."},
            {"role":"user","content":"hello"},
            {"type":"additional_tools","tools":[{"type":"namespace","name":"functions","description":"d","tools":[
               {"type":"function","name":"exec","parameters":{"type":"object","properties":{}}}]}]}
        ]}"#;
        let r = decode_request(Operation::Chat, body, None, false).unwrap();
        assert_eq!(r.system.len(), 1);
        assert_eq!(r.system[0].text, "Be terse.");
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.tools.len(), 1);
        assert_eq!(r.tools[0].namespace.as_deref(), Some("functions"));
        // The hoisted tools go upstream as ordinary tools; the system message comes back.
        let up = encode_request(Operation::Chat, &r, &target("", "{}")).unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            v["input"][0],
            json!({"type":"message","role":"system","content":[{"type":"input_text","text":"Be terse."}]})
        );
        assert_eq!(v["tools"][0]["type"], "namespace");
        assert_eq!(v["tools"][0]["description"], "d");
        assert_eq!(v["tools"][0]["tools"][0]["strict"], false);
        assert_eq!(v["store"], false);
    }

    #[test]
    fn decode_errors_are_precise() {
        for (body, want) in [
            (r#"{"input":[]}"#, "model"),
            (
                r#"{"model":"m","input":7}"#,
                "input: expected string or array",
            ),
            (
                r#"{"model":"m","input":[{"role":"bot","content":"x"}]}"#,
                "input.0.role",
            ),
            (
                r#"{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}"#,
                "input.0.call_id",
            ),
            (
                r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_text"}]}]}"#,
                "input.0.content.0.text",
            ),
            (r#"{"model":"m","tools":[{"name":"f"}]}"#, "tools.0.type"),
            (r#"{"model":"m","tool_choice":"always"}"#, "tool_choice"),
            (
                r#"{"model":"m","text":{"format":{"type":"json_schema","name":"x"}}}"#,
                "text.format.schema",
            ),
        ] {
            let e = decode_request(Operation::Chat, body.as_bytes(), None, false).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
    }

    /// A request as the Anthropic plugin decodes Claude Code's: system blocks, thinking
    /// with signatures, redacted thinking, tool results in a user message, an Anthropic
    /// web search tool, a budget, stop sequences.
    fn anthropic_like() -> ChatRequest {
        let text = |s: &str| ContentBlock::Text(text_block(s.to_string(), None));
        ChatRequest {
            model: "claude-sonnet-4-5".into(),
            system: vec![
                text_block("You are Claude Code.".into(), None),
                text_block("Project rules.".into(), None),
            ],
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![
                        text("Read a.rs"),
                        ContentBlock::Document(DocumentBlock {
                            source: MediaSource::Text("plain doc".into()),
                            media_type: Some("text/plain".into()),
                            title: Some("Notes".into()),
                            context: None,
                            citations: None,
                            filename: None,
                            cache_control: None,
                            extra: None,
                        }),
                    ],
                    name: None,
                    extra: None,
                },
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentBlock::Thinking(ThinkingBlock {
                            text: "I should read it.".into(),
                            signature: Some("sig==".into()),
                            extra: None,
                        }),
                        ContentBlock::Thinking(ThinkingBlock {
                            text: "unsigned".into(),
                            signature: None,
                            extra: None,
                        }),
                        ContentBlock::RedactedThinking("opaque".into()),
                        ContentBlock::ToolCall(ToolCall {
                            id: "toolu_01".into(),
                            name: "Read".into(),
                            arguments: "{\"path\":\"a.rs\"}".into(),
                            kind: ToolKind::Function,
                            namespace: None,
                            cache_control: None,
                            extra: None,
                        }),
                        ContentBlock::Other(Extra {
                            source: Dialect::Anthropic,
                            fields: r#"{"type":"server_tool_use"}"#.into(),
                        }),
                    ],
                    name: None,
                    extra: None,
                },
                Message {
                    role: Role::User,
                    content: vec![
                        ContentBlock::ToolResult(ToolResult {
                            call_id: "toolu_01".into(),
                            name: None,
                            content: vec![ToolResultPart::Text("fn main() {}".into())],
                            is_error: false,
                            cache_control: None,
                            extra: None,
                        }),
                        text("Continue."),
                    ],
                    name: None,
                    extra: None,
                },
            ],
            tools: vec![
                ToolDefinition {
                    kind: ToolKind::Function,
                    name: "Read".into(),
                    description: Some("Read a file".into()),
                    parameters: Some(
                        r#"{"type":"object","properties":{"path":{"type":"string"}}}"#.into(),
                    ),
                    strict: None,
                    namespace: None,
                    cache_control: None,
                    extra: None,
                },
                ToolDefinition {
                    kind: ToolKind::Builtin("web_search_20250305".into()),
                    name: "web_search".into(),
                    description: None,
                    parameters: None,
                    strict: None,
                    namespace: None,
                    cache_control: None,
                    extra: Some(Extra {
                        source: Dialect::Anthropic,
                        fields: r#"{"max_uses":5,"allowed_domains":["example.com"]}"#.into(),
                    }),
                },
            ],
            tool_choice: Some(ToolChoice::Tool("Read".into())),
            parallel_tool_calls: Some(false),
            sampling: Sampling {
                max_tokens: Some(2048),
                temperature: Some(1.0),
                top_p: None,
                top_k: Some(40),
                stop: vec!["STOP".into()],
                seed: None,
                presence_penalty: None,
                frequency_penalty: None,
                candidates: None,
            },
            thinking: Some(ThinkingConfig {
                enabled: true,
                budget_tokens: Some(10000),
                effort: None,
                summary: None,
            }),
            response_format: None,
            stream: true,
            stream_include_usage: false,
            user: Some("user-42".into()),
            metadata: Some(r#"{"user_id":"user-42"}"#.into()),
            extra: None,
        }
    }

    #[test]
    fn anthropic_request_to_responses_upstream() {
        let r = anthropic_like();
        let up = encode_request(
            Operation::Chat,
            &r,
            &target("gpt-5", r#"{"reasoning_summary":"detailed"}"#),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        let want = json!({
            "model": "gpt-5",
            "instructions": "You are Claude Code.\n\nProject rules.",
            "input": [
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "Read a.rs"},
                    {"type": "input_text", "text": "Notes\n\nplain doc"}]},
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": "I should read it."}], "encrypted_content": "sig=="},
                {"type": "reasoning", "summary": [], "encrypted_content": "tollgate.redacted_thinking:opaque"},
                {"type": "function_call", "call_id": "toolu_01", "name": "Read", "arguments": "{\"path\":\"a.rs\"}"},
                {"type": "function_call_output", "call_id": "toolu_01", "output": "fn main() {}"},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Continue."}]}
            ],
            "tools": [
                {"type": "function", "name": "Read", "description": "Read a file", "strict": false,
                 "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}},
                {"type": "web_search", "filters": {"allowed_domains": ["example.com"]}}
            ],
            "tool_choice": {"type": "function", "name": "Read"},
            "parallel_tool_calls": false,
            "reasoning": {"effort": "high", "summary": "detailed"},
            "max_output_tokens": 2048,
            "temperature": 1.0,
            "stream": true,
            "user": "user-42",
            "metadata": {"user_id": "user-42"},
            "store": false,
            "include": ["reasoning.encrypted_content"]
        });
        assert_eq!(v, want, "\n got: {v:#}");
        // Redacted thinking comes back as redacted thinking.
        let back = decode_request(Operation::Chat, &up.body, None, false).unwrap();
        assert!(
            matches!(&back.messages[1].content[1], ContentBlock::RedactedThinking(d) if d == "opaque")
        );
    }

    #[test]
    fn options_and_unmappable_tools() {
        let mut r = anthropic_like();
        r.thinking = None;
        r.tools.truncate(1);
        let up = encode_request(
            Operation::Chat,
            &r,
            &target(
                "o3",
                r#"{"store":true,"reasoning_effort":"low","default_max_output_tokens":99,"extra_body":{"service_tier":"flex"}}"#,
            ),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(v["reasoning"], json!({"effort": "low"}));
        assert_eq!(v["store"], true);
        assert!(v.get("include").is_none());
        assert_eq!(v["max_output_tokens"], 2048);
        assert_eq!(v["service_tier"], "flex");
        r.sampling.max_tokens = None;
        let up = encode_request(
            Operation::Chat,
            &r,
            &target("o3", r#"{"default_max_output_tokens":99}"#),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(v["max_output_tokens"], 99);
        assert!(v.get("reasoning").is_none());

        r.tools.push(ToolDefinition {
            kind: ToolKind::Builtin("bash_20250124".into()),
            name: "bash".into(),
            description: None,
            parameters: None,
            strict: None,
            namespace: None,
            cache_control: None,
            extra: None,
        });
        let e = encode_request(Operation::Chat, &r, &target("o3", "{}")).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("bash_20250124"), "{}", e.message);

        let ct = encode_request(
            Operation::CountTokens,
            &anthropic_like(),
            &target("o3", "{}"),
        )
        .unwrap();
        assert_eq!(ct.path, "/v1/responses/input_tokens");
        let v: Value = serde_json::from_slice(&ct.body).unwrap();
        assert!(
            v.get("stream").is_none()
                && v.get("store").is_none()
                && v.get("max_output_tokens").is_none()
        );
        let lm = encode_request(
            Operation::ListModels,
            &anthropic_like(),
            &target("o3", "{}"),
        )
        .unwrap();
        assert_eq!(
            (lm.method.as_str(), lm.path.as_str()),
            ("GET", "/v1/models")
        );
    }

    const RESPONSE: &str = r#"{
      "id": "resp_1", "object": "response", "created_at": 1741476542, "status": "completed",
      "error": null, "incomplete_details": null, "instructions": null, "max_output_tokens": null,
      "model": "gpt-5-codex-2025",
      "output": [
        {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "First."}, {"type": "summary_text", "text": "Second."}], "encrypted_content": "gAAAAx"},
        {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "Hé ✓", "annotations": [{"type": "url_citation", "url": "https://x", "start_index": 0, "end_index": 1, "title": "x"}]}]},
        {"id": "fc_1", "type": "function_call", "status": "completed", "arguments": "{\"a\":1}", "call_id": "call_1", "name": "f"},
        {"id": "fc_2", "type": "function_call", "status": "completed", "arguments": "{}", "call_id": "call_2", "name": "search", "namespace": "mcp__gh__"},
        {"id": "ctc_1", "type": "custom_tool_call", "call_id": "call_3", "name": "apply_patch", "input": "*** Begin Patch"},
        {"id": "ws_1", "type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "q"}}
      ],
      "parallel_tool_calls": true, "previous_response_id": null,
      "reasoning": {"effort": "high", "summary": "auto"}, "store": false, "temperature": 1.0,
      "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto", "tools": [], "top_p": 1.0,
      "truncation": "disabled",
      "usage": {"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 800}, "output_tokens": 300,
                "output_tokens_details": {"reasoning_tokens": 200}, "total_tokens": 1300},
      "user": null, "metadata": {}
    }"#;

    #[test]
    fn response_round_trips() {
        let r = decode_response(Operation::Chat, RESPONSE.as_bytes()).unwrap();
        assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(
            (
                r.usage.input_tokens,
                r.usage.cache_read_tokens,
                r.usage.reasoning_tokens
            ),
            (Some(200), Some(800), Some(200))
        );
        assert!(
            matches!(&r.content[0], ContentBlock::Thinking(t) if t.text == "First.\n\nSecond." && t.signature.as_deref() == Some("gAAAAx"))
        );
        assert!(
            matches!(&r.content[3], ContentBlock::ToolCall(c) if c.namespace.as_deref() == Some("mcp__gh__"))
        );
        assert!(matches!(&r.content[4], ContentBlock::ToolCall(c) if c.kind == ToolKind::Custom));
        let out = encode_response(&r).unwrap();
        let got: Value = serde_json::from_slice(&out).unwrap();
        let want: Value = serde_json::from_str(RESPONSE).unwrap();
        assert_eq!(got, want, "\n got: {got:#}");
    }

    #[test]
    fn foreign_response_gets_a_complete_shape() {
        let r = ChatResponse {
            id: "msg_01".into(),
            model: "claude-x".into(),
            content: vec![
                ContentBlock::Thinking(ThinkingBlock {
                    text: "hm".into(),
                    signature: Some("sig".into()),
                    extra: None,
                }),
                ContentBlock::Text(text_block("Hi".into(), None)),
                ContentBlock::Text(text_block(" there".into(), None)),
                ContentBlock::ToolCall(ToolCall {
                    id: "toolu_1".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                    kind: ToolKind::Function,
                    namespace: None,
                    cache_control: None,
                    extra: None,
                }),
            ],
            stop_reason: Some(StopReason::MaxTokens),
            stop_sequence: None,
            usage: Usage::empty(),
            extra: None,
        };
        let v: Value = serde_json::from_slice(&encode_response(&r).unwrap()).unwrap();
        assert_eq!(v["id"], "resp_msg_01");
        assert_eq!(v["status"], "incomplete");
        assert_eq!(
            v["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(
            v["output"],
            json!([
                {"id": "rs_msg_01_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "hm"}], "encrypted_content": "sig"},
                {"id": "msg_msg_01_2", "type": "message", "status": "completed", "role": "assistant", "content": [
                    {"type": "output_text", "text": "Hi", "annotations": []},
                    {"type": "output_text", "text": " there", "annotations": []}]},
                {"id": "fc_msg_01_3", "type": "function_call", "status": "completed", "call_id": "toolu_1", "name": "f", "arguments": "{}"}
            ])
        );
        assert_eq!(v["usage"]["total_tokens"], 0);
        assert_eq!(v["tools"], json!([]));
    }

    #[test]
    fn refusals_round_trip() {
        let body = r#"{"id":"resp_2","object":"response","status":"completed","model":"m","output":[
            {"id":"msg_2","type":"message","status":"completed","role":"assistant","content":[{"type":"refusal","refusal":"I can't help with that."}]}],
            "usage":{"input_tokens":1,"input_tokens_details":{"cached_tokens":0},"output_tokens":1,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":2}}"#;
        let r = decode_response(Operation::Chat, body.as_bytes()).unwrap();
        assert_eq!(r.stop_reason, Some(StopReason::Refusal));
        assert!(
            matches!(&r.content[0], ContentBlock::Text(t) if t.text == "I can't help with that.")
        );
        let v: Value = serde_json::from_slice(&encode_response(&r).unwrap()).unwrap();
        assert_eq!(
            v["output"][0]["content"][0],
            json!({"type": "refusal", "refusal": "I can't help with that."})
        );
        assert_eq!(v["status"], "completed");
    }

    #[test]
    fn failed_and_count_responses() {
        let e = decode_response(
            Operation::Chat,
            br#"{"id":"r","status":"failed","error":{"code":"rate_limit_exceeded","message":"slow down"},"output":[]}"#,
        )
        .unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::RateLimit, 429));
        let c = decode_response(
            Operation::CountTokens,
            br#"{"object":"response.input_tokens","input_tokens":42}"#,
        )
        .unwrap();
        assert_eq!(c.usage.input_tokens, Some(42));
        let e = decode_response(Operation::Chat, b"nope").unwrap_err();
        assert_eq!(e.status, 502);
    }
}
