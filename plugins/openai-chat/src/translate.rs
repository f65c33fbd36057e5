//! Full translation between Chat Completions JSON and the canonical chat model
//! (cross-dialect path): client requests → canonical, canonical → upstream requests,
//! upstream responses → canonical, canonical → client responses.
//!
//! Conventions of this dialect in the canonical model (see also `docs/translation.md`):
//!
//! - Leading `system` / `developer` messages become `chat-request.system` blocks; a
//!   developer block carries `{"role":"developer"}` (and any other message field, e.g.
//!   `name`) in its `openai-chat` extra. Later ones stay messages with their role.
//! - Consecutive `tool` messages become one canonical `tool` message of tool results;
//!   a result's `name` is looked up from the assistant call it answers.
//! - A refusal (`refusal` field or part) is a text block whose extra is
//!   `{"type":"refusal"}`.
//! - `data:` URLs of the form `data:<type>;base64,<data>` become inline data (and are
//!   written back the same way); other URLs stay URLs.
//! - `web_search_options` is the builtin tool `web_search` with the options in extra.
//! - Unknown fields at every level travel in `extra`; choice- and message-level
//!   unknowns of a response under `choice` / `message` in the response's extra.

use std::collections::HashMap;
use std::fmt;

use serde_json::{json, Map, Value};
use tollgate_sdk::json::{owned_str, type_name};
use tollgate_sdk::provider::{
    ApiError, AudioBlock, CacheControl, ChatRequest, ChatResponse, ContentBlock, Dialect,
    DocumentBlock, Extra, Header, ImageBlock, InlineData, JsonSchemaFormat, MediaSource, Message,
    Operation, ResponseFormat, Role, Sampling, StopReason, TargetInfo, TextBlock, ThinkingBlock,
    ThinkingConfig, ToolCall, ToolChoice, ToolDefinition, ToolKind, ToolResult, ToolResultPart,
    UpstreamRequest,
};

use crate::options::{Quirks, ReasoningParam};
use crate::passthrough::{parse_object, role_of};
use crate::wire::{
    extra_fields, extra_from_map, extra_of, merge_extra, rest_of, stop_reason_from, stop_reason_to,
    usage_from_value, usage_to,
};
use crate::Flavor;

type Obj = Map<String, Value>;

fn bad(msg: String) -> ApiError {
    ApiError::invalid_request(msg)
}

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, ApiError> {
    v.as_object()
        .ok_or_else(|| bad(format!("{path}: expected object, got {}", type_name(v))))
}

fn opt_str(o: &Obj, key: &str, path: &str) -> Result<Option<String>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(bad(format!(
            "{path}.{key}: expected string, got {}",
            type_name(v)
        ))),
    }
}

/// [`obj`] of an owned value.
fn into_obj(v: Value, path: &str) -> Result<Obj, ApiError> {
    match v {
        Value::Object(o) => Ok(o),
        v => Err(bad(format!(
            "{path}: expected object, got {}",
            type_name(&v)
        ))),
    }
}

fn req_str(o: &Obj, key: &str, path: &str) -> Result<String, ApiError> {
    opt_str(o, key, path)?.ok_or_else(|| bad(format!("{path}.{key}: field required")))
}

fn opt_u32(o: &Obj, key: &str) -> Result<Option<u32>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(format!("{key}: expected a non-negative integer"))),
    }
}

fn opt_f64(o: &Obj, key: &str) -> Result<Option<f64>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad(format!("{key}: expected a number, got {}", type_name(v)))),
    }
}

fn opt_bool(o: &Obj, key: &str) -> Result<Option<bool>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(bad(format!(
            "{key}: expected boolean, got {}",
            type_name(v)
        ))),
    }
}

fn plain_text(s: &str) -> TextBlock {
    TextBlock {
        text: s.to_string(),
        cache_control: None,
        citations: None,
        extra: None,
    }
}

fn marker(fields: Value) -> Option<Extra> {
    match fields {
        Value::Object(m) => extra_from_map(m),
        _ => None,
    }
}

/// Whether a text block is a refusal (see the module docs).
pub fn is_refusal(t: &TextBlock) -> bool {
    match &t.extra {
        // Without the word (and no escapes that could spell it) it cannot be a
        // refusal: skip the parse.
        Some(e)
            if e.source == Dialect::OpenaiChat
                && (e.fields.contains("refusal") || e.fields.contains('\\')) =>
        {
            extra_fields(Some(e)).get("type").and_then(Value::as_str) == Some("refusal")
        }
        _ => false,
    }
}

/// The extra of a refusal block (what `marker(json!({"type": "refusal"}))` gives).
pub(crate) fn refusal_extra() -> Option<Extra> {
    Some(Extra {
        source: Dialect::OpenaiChat,
        fields: r#"{"type":"refusal"}"#.to_string(),
    })
}

fn refusal_block(text: &str) -> TextBlock {
    TextBlock {
        text: text.to_string(),
        cache_control: None,
        citations: None,
        extra: refusal_extra(),
    }
}

// ----- media -----

/// `data:<type>;base64,<data>` → (type, data); `None` for any other URL.
pub fn parse_data_url(u: &str) -> Option<(&str, &str)> {
    let (mt, data) = u.strip_prefix("data:")?.split_once(";base64,")?;
    if mt.contains(';') || mt.contains(',') {
        return None;
    }
    Some((mt, data))
}

fn data_url(mt: &str, data: &str) -> String {
    format!("data:{mt};base64,{data}")
}

fn source_from_url(url: &str) -> MediaSource {
    match parse_data_url(url) {
        Some((mt, data)) => MediaSource::Inline(InlineData {
            media_type: mt.to_string(),
            data: data.to_string(),
        }),
        None => MediaSource::Url(url.to_string()),
    }
}

fn cache_control_from(o: &Obj) -> Option<CacheControl> {
    let cc = o.get("cache_control")?.as_object()?;
    Some(CacheControl {
        kind: cc
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ephemeral")
            .to_string(),
        ttl: cc.get("ttl").and_then(Value::as_str).map(str::to_string),
    })
}

fn cache_control_to(m: &mut Obj, cc: Option<&CacheControl>, q: &Quirks) {
    if let (Some(cc), true) = (cc, q.cache_control) {
        let mut c = Map::new();
        c.insert("type".into(), json!(cc.kind));
        if let Some(ttl) = &cc.ttl {
            c.insert("ttl".into(), json!(ttl));
        }
        m.insert("cache_control".into(), Value::Object(c));
    }
}

/// An audio `format` (`wav`, `mp3`) from a format or media type.
fn audio_format(format: Option<&str>, media_type: Option<&str>) -> String {
    let f = format.or(media_type).unwrap_or("wav");
    match f.strip_prefix("audio/").unwrap_or(f) {
        "mpeg" | "mp3" => "mp3".to_string(),
        "x-wav" | "wave" | "wav" => "wav".to_string(),
        other => other.to_string(),
    }
}

fn default_filename(media_type: &str) -> String {
    match media_type {
        "application/pdf" => "document.pdf".to_string(),
        "text/plain" => "document.txt".to_string(),
        _ => "document".to_string(),
    }
}

fn filename_media_type(name: Option<&str>) -> &'static str {
    match name.and_then(|n| n.rsplit_once('.')).map(|(_, e)| e) {
        Some("txt") => "text/plain",
        Some("md") => "text/markdown",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        _ => "application/pdf",
    }
}

// ----- content parts: decode -----

fn text_part(o: &Obj, path: &str) -> Result<TextBlock, ApiError> {
    Ok(TextBlock {
        text: req_str(o, "text", path)?,
        cache_control: cache_control_from(o),
        citations: None,
        extra: extra_of(o, &["type", "text", "cache_control"]),
    })
}

fn image_part(o: &Obj, path: &str) -> Result<ImageBlock, ApiError> {
    let (url, detail) = match o.get("image_url") {
        Some(Value::String(u)) => (u.clone(), None),
        Some(Value::Object(io)) => (
            req_str(io, "url", &format!("{path}.image_url"))?,
            opt_str(io, "detail", &format!("{path}.image_url"))?,
        ),
        _ => return Err(bad(format!("{path}.image_url: field required"))),
    };
    Ok(ImageBlock {
        source: source_from_url(&url),
        media_type: None,
        detail,
        cache_control: cache_control_from(o),
        extra: extra_of(o, &["type", "image_url", "cache_control"]),
    })
}

fn file_part(o: &Obj, path: &str) -> Result<DocumentBlock, ApiError> {
    let fpath = format!("{path}.file");
    let f = obj(o.get("file").unwrap_or(&Value::Null), &fpath)?;
    let filename = opt_str(f, "filename", &fpath)?;
    let source = match (
        opt_str(f, "file_data", &fpath)?,
        opt_str(f, "file_id", &fpath)?,
    ) {
        (Some(d), _) => match parse_data_url(&d) {
            Some((mt, data)) => MediaSource::Inline(InlineData {
                media_type: mt.to_string(),
                data: data.to_string(),
            }),
            // Bare base64: the type follows the file name (PDF by default).
            None => MediaSource::Inline(InlineData {
                media_type: filename_media_type(filename.as_deref()).to_string(),
                data: d,
            }),
        },
        (None, Some(id)) => MediaSource::FileId(id),
        (None, None) => {
            return Err(bad(format!(
                "{fpath}: one of file_data or file_id is required"
            )))
        }
    };
    Ok(DocumentBlock {
        source,
        media_type: None,
        title: None,
        context: None,
        citations: None,
        filename,
        cache_control: cache_control_from(o),
        extra: extra_of(o, &["type", "file", "cache_control"]),
    })
}

fn audio_part(o: &Obj, path: &str) -> Result<AudioBlock, ApiError> {
    let apath = format!("{path}.input_audio");
    let a = obj(o.get("input_audio").unwrap_or(&Value::Null), &apath)?;
    let format = req_str(a, "format", &apath)?;
    Ok(AudioBlock {
        source: MediaSource::Inline(InlineData {
            media_type: format!("audio/{format}"),
            data: req_str(a, "data", &apath)?,
        }),
        format: Some(format),
        extra: extra_of(o, &["type", "input_audio"]),
    })
}

fn other_part(v: &Value) -> ContentBlock {
    ContentBlock::Other(Extra {
        source: Dialect::OpenaiChat,
        fields: v.to_string(),
    })
}

/// Decode one content part (`path` names it in error messages).
fn decode_part(v: &Value, path: &str) -> Result<ContentBlock, ApiError> {
    let o = obj(v, path)?;
    Ok(match o.get("type").and_then(Value::as_str) {
        Some("text") => ContentBlock::Text(text_part(o, path)?),
        Some("image_url") => ContentBlock::Image(image_part(o, path)?),
        Some("file") => ContentBlock::Document(file_part(o, path)?),
        Some("input_audio") => ContentBlock::Audio(audio_part(o, path)?),
        Some("refusal") => ContentBlock::Text(refusal_block(&req_str(o, "refusal", path)?)),
        Some(_) => other_part(v),
        None => return Err(bad(format!("{path}.type: field required"))),
    })
}

fn decode_content(v: Option<&Value>, path: &str) -> Result<Vec<ContentBlock>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![ContentBlock::Text(plain_text(s))]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| decode_part(p, &format!("{path}.{j}")))
            .collect(),
        Some(other) => Err(bad(format!(
            "{path}: expected string or array, got {}",
            type_name(other)
        ))),
    }
}

fn decode_tool_call(v: &Value, path: &str) -> Result<ToolCall, ApiError> {
    let o = obj(v, path)?;
    let id = opt_str(o, "id", path)?.unwrap_or_default();
    match o.get("type").and_then(Value::as_str).unwrap_or("function") {
        "custom" => {
            let cpath = format!("{path}.custom");
            let c = obj(o.get("custom").unwrap_or(&Value::Null), &cpath)?;
            Ok(ToolCall {
                id,
                name: req_str(c, "name", &cpath)?,
                arguments: opt_str(c, "input", &cpath)?.unwrap_or_default(),
                kind: ToolKind::Custom,
                namespace: None,
                cache_control: None,
                extra: extra_of(o, &["id", "type", "custom"]),
            })
        }
        "function" => {
            let fpath = format!("{path}.function");
            let f = obj(o.get("function").unwrap_or(&Value::Null), &fpath)?;
            let arguments = match f.get("arguments") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                // Some servers send the arguments as an object.
                Some(other) => other.to_string(),
            };
            Ok(ToolCall {
                id,
                name: req_str(f, "name", &fpath)?,
                arguments,
                kind: ToolKind::Function,
                namespace: None,
                cache_control: None,
                extra: extra_of(o, &["id", "type", "function", "index"]),
            })
        }
        other => Err(bad(format!(
            "{path}.type: expected \"function\" or \"custom\", got \"{other}\""
        ))),
    }
}

/// Thinking text of an assistant message or delta: `reasoning_content` (vLLM,
/// DeepSeek), else `reasoning` (OpenRouter, Ollama, Groq) when it is a string.
fn reasoning_text(o: &Obj) -> Option<&str> {
    o.get("reasoning_content")
        .and_then(Value::as_str)
        .or_else(|| o.get("reasoning").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

fn thinking_block(text: &str) -> ContentBlock {
    ContentBlock::Thinking(ThinkingBlock {
        text: text.to_string(),
        signature: None,
        extra: None,
    })
}

/// Decode an assistant message's content (thinking, text, refusal, tool calls, in
/// that order).
fn assistant_blocks(o: &Obj, path: &str) -> Result<Vec<ContentBlock>, ApiError> {
    let mut blocks = Vec::new();
    if let Some(t) = reasoning_text(o) {
        blocks.push(thinking_block(t));
    }
    match o.get("content") {
        // Mistral's reasoning models stream thinking as a content part.
        Some(Value::Array(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                let ppath = format!("{path}.content.{j}");
                if p.get("type").and_then(Value::as_str) == Some("thinking") {
                    blocks.push(thinking_block(&mistral_thinking(p)));
                } else {
                    blocks.push(decode_part(p, &ppath)?);
                }
            }
        }
        Some(Value::String(s)) if s.is_empty() => {}
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => blocks.push(ContentBlock::Text(plain_text(s))),
        c => blocks.extend(decode_content(c, &format!("{path}.content"))?),
    }
    if let Some(r) = opt_str(o, "refusal", path)?.filter(|r| !r.is_empty()) {
        blocks.push(ContentBlock::Text(refusal_block(&r)));
    }
    match o.get("tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(calls)) => {
            for (k, c) in calls.iter().enumerate() {
                blocks.push(ContentBlock::ToolCall(decode_tool_call(
                    c,
                    &format!("{path}.tool_calls.{k}"),
                )?));
            }
        }
        Some(other) => {
            return Err(bad(format!(
                "{path}.tool_calls: expected array, got {}",
                type_name(other)
            )))
        }
    }
    Ok(blocks)
}

/// The text of a Mistral `{"type":"thinking","thinking":[{"type":"text","text":…}]}`
/// part (or a plain string).
fn mistral_thinking(p: &Value) -> String {
    match p.get("thinking") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

// ----- requests: decode -----

const REQUEST_KNOWN: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "reasoning_effort",
    "response_format",
    "stream",
    "stream_options",
    "user",
    "metadata",
    "web_search_options",
];

/// Fields of a message handled by name, per role.
const MESSAGE_KNOWN: &[&str] = &["role", "content", "name"];
const ASSISTANT_KNOWN: &[&str] = &[
    "role",
    "content",
    "name",
    "tool_calls",
    "refusal",
    "reasoning_content",
    "reasoning",
];

fn decode_messages(ms: &[Value]) -> Result<(Vec<TextBlock>, Vec<Message>), ApiError> {
    let mut system = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    let mut leading = true;
    let mut call_names: HashMap<String, String> = HashMap::new();
    // Whether the last canonical message collects `tool` messages.
    let mut in_tool_run = false;
    for (i, m) in ms.iter().enumerate() {
        let path = format!("messages.{i}");
        let mo = obj(m, &path)?;
        let role = role_of(m, i)?;
        let name = opt_str(mo, "name", &path)?;
        let was_tool_run = in_tool_run;
        in_tool_run = false;
        match role {
            Role::System | Role::Developer => {
                let mut texts = Vec::new();
                for b in decode_content(mo.get("content"), &format!("{path}.content"))? {
                    match b {
                        ContentBlock::Text(t) => texts.push(t),
                        _ => {
                            return Err(bad(format!(
                                "{path}.content: {} messages take text parts only",
                                if role == Role::System {
                                    "system"
                                } else {
                                    "developer"
                                }
                            )))
                        }
                    }
                }
                if leading {
                    // Message fields ride on each block (see the module docs).
                    let mut fields = Map::new();
                    for (k, v) in mo {
                        if k != "content" && (k != "role" || role == Role::Developer) {
                            fields.insert(k.clone(), v.clone());
                        }
                    }
                    for mut t in texts {
                        let mut f = extra_fields(t.extra.as_ref());
                        for (k, v) in &fields {
                            f.insert(k.clone(), v.clone());
                        }
                        t.extra = extra_from_map(f);
                        system.push(t);
                    }
                } else {
                    messages.push(Message {
                        role,
                        content: texts.into_iter().map(ContentBlock::Text).collect(),
                        name,
                        extra: extra_of(mo, MESSAGE_KNOWN),
                    });
                }
            }
            Role::User => {
                leading = false;
                messages.push(Message {
                    role,
                    content: decode_content(mo.get("content"), &format!("{path}.content"))?,
                    name,
                    extra: extra_of(mo, MESSAGE_KNOWN),
                });
            }
            Role::Assistant => {
                leading = false;
                let content = assistant_blocks(mo, &path)?;
                for b in &content {
                    if let ContentBlock::ToolCall(c) = b {
                        call_names.insert(c.id.clone(), c.name.clone());
                    }
                }
                messages.push(Message {
                    role,
                    content,
                    name,
                    extra: extra_of(mo, ASSISTANT_KNOWN),
                });
            }
            Role::Tool => {
                leading = false;
                if mo.get("role").and_then(Value::as_str) == Some("function") {
                    return Err(bad(format!(
                        "{path}.role: the deprecated \"function\" role is not supported; use tools and \"tool\" messages"
                    )));
                }
                let call_id = req_str(mo, "tool_call_id", &path)?;
                let mut content = Vec::new();
                for b in decode_content(mo.get("content"), &format!("{path}.content"))? {
                    content.push(match b {
                        ContentBlock::Text(t) => ToolResultPart::Text(t.text),
                        ContentBlock::Image(i) => ToolResultPart::Image(i),
                        ContentBlock::Document(d) => ToolResultPart::Document(d),
                        _ => {
                            return Err(bad(format!(
                                "{path}.content: tool messages take text, image and file parts only"
                            )))
                        }
                    });
                }
                let result = ContentBlock::ToolResult(ToolResult {
                    name: call_names.get(&call_id).cloned(),
                    call_id,
                    content,
                    is_error: false,
                    cache_control: None,
                    extra: extra_of(mo, &["role", "tool_call_id", "content"]),
                });
                match messages.last_mut() {
                    Some(last) if was_tool_run => last.content.push(result),
                    _ => messages.push(Message {
                        role: Role::Tool,
                        content: vec![result],
                        name: None,
                        extra: None,
                    }),
                }
                in_tool_run = true;
            }
        }
    }
    Ok((system, messages))
}

fn decode_tools(o: &Obj) -> Result<Vec<ToolDefinition>, ApiError> {
    let mut tools = Vec::new();
    if let Some(ts) = o.get("tools").filter(|t| !t.is_null()) {
        let ts = ts
            .as_array()
            .ok_or_else(|| bad(format!("tools: expected array, got {}", type_name(ts))))?;
        for (i, t) in ts.iter().enumerate() {
            let path = format!("tools.{i}");
            let to = obj(t, &path)?;
            let ty = opt_str(to, "type", &path)?.unwrap_or_else(|| "function".to_string());
            tools.push(match ty.as_str() {
                "function" => {
                    let fpath = format!("{path}.function");
                    let f = obj(to.get("function").unwrap_or(&Value::Null), &fpath)?;
                    ToolDefinition {
                        kind: ToolKind::Function,
                        name: req_str(f, "name", &fpath)?,
                        description: opt_str(f, "description", &fpath)?,
                        parameters: f
                            .get("parameters")
                            .filter(|p| !p.is_null())
                            .map(Value::to_string),
                        strict: opt_bool(f, "strict")?,
                        namespace: None,
                        cache_control: cache_control_from(to),
                        extra: extra_of(f, &["name", "description", "parameters", "strict"]),
                    }
                }
                "custom" => {
                    let cpath = format!("{path}.custom");
                    let c = obj(to.get("custom").unwrap_or(&Value::Null), &cpath)?;
                    ToolDefinition {
                        kind: ToolKind::Custom,
                        name: req_str(c, "name", &cpath)?,
                        description: opt_str(c, "description", &cpath)?,
                        parameters: None,
                        strict: None,
                        namespace: None,
                        cache_control: cache_control_from(to),
                        // `format` (text or grammar) rides here.
                        extra: extra_of(c, &["name", "description"]),
                    }
                }
                other => ToolDefinition {
                    kind: ToolKind::Builtin(other.to_string()),
                    name: opt_str(to, "name", &path)?.unwrap_or_else(|| other.to_string()),
                    description: None,
                    parameters: None,
                    strict: None,
                    namespace: None,
                    cache_control: None,
                    extra: extra_of(to, &["type"]),
                },
            });
        }
    }
    if let Some(ws) = o.get("web_search_options").filter(|w| !w.is_null()) {
        obj(ws, "web_search_options")?;
        tools.push(ToolDefinition {
            kind: ToolKind::Builtin("web_search".to_string()),
            name: "web_search".to_string(),
            description: None,
            parameters: None,
            strict: None,
            namespace: None,
            cache_control: None,
            extra: marker(json!({ "web_search_options": ws })),
        });
    }
    Ok(tools)
}

/// `tool_choice`; `Ok(None)` with the value kept in extra for forms the canonical
/// model cannot name (`allowed_tools`).
fn decode_tool_choice(v: &Value) -> Result<Option<ToolChoice>, ApiError> {
    Ok(Some(match v {
        Value::String(s) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(bad(format!(
                    "tool_choice: expected \"auto\", \"none\", \"required\" or an object, got \"{other}\""
                )))
            }
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some(t @ ("function" | "custom")) => {
                let path = format!("tool_choice.{t}");
                let inner = obj(o.get(t).unwrap_or(&Value::Null), &path)?;
                ToolChoice::Tool(req_str(inner, "name", &path)?)
            }
            Some("allowed_tools") => return Ok(None),
            _ => {
                return Err(bad(
                    "tool_choice.type: expected \"function\", \"custom\" or \"allowed_tools\""
                        .to_string(),
                ))
            }
        },
        other => {
            return Err(bad(format!(
                "tool_choice: expected string or object, got {}",
                type_name(other)
            )))
        }
    }))
}

fn thinking_from_effort(effort: &str) -> ThinkingConfig {
    ThinkingConfig {
        enabled: effort != "none",
        budget_tokens: None,
        effort: Some(effort.to_string()),
        summary: None,
    }
}

/// OpenRouter's `reasoning: {effort, max_tokens, enabled, exclude}`.
fn thinking_from_object(r: &Obj) -> Result<ThinkingConfig, ApiError> {
    Ok(ThinkingConfig {
        enabled: opt_bool(r, "enabled")?.unwrap_or(true),
        budget_tokens: opt_u32(r, "max_tokens")?,
        effort: opt_str(r, "effort", "reasoning")?,
        summary: None,
    })
}

fn decode_response_format(v: &Value) -> Result<ResponseFormat, ApiError> {
    let o = obj(v, "response_format")?;
    Ok(match o.get("type").and_then(Value::as_str) {
        Some("text") => ResponseFormat::Text,
        Some("json_object") => ResponseFormat::JsonObject,
        Some("json_schema") => {
            let s = obj(
                o.get("json_schema").unwrap_or(&Value::Null),
                "response_format.json_schema",
            )?;
            let path = "response_format.json_schema";
            ResponseFormat::JsonSchema(JsonSchemaFormat {
                name: opt_str(s, "name", path)?,
                description: opt_str(s, "description", path)?,
                schema: s
                    .get("schema")
                    .filter(|x| !x.is_null())
                    .map_or_else(|| "{}".to_string(), Value::to_string),
                strict: opt_bool(s, "strict")?,
            })
        }
        _ => {
            return Err(bad(
                "response_format.type: expected \"text\", \"json_object\" or \"json_schema\""
                    .to_string(),
            ))
        }
    })
}

fn decode_stop(v: Option<&Value>) -> Result<Vec<String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("stop: expected strings".to_string()))
            })
            .collect(),
        Some(x) => Err(bad(format!(
            "stop: expected string or array, got {}",
            type_name(x)
        ))),
    }
}

/// Decode a client request into the canonical model. `path_model` (Azure deployment
/// routes) wins over the body's `model`.
pub fn decode_request(
    flavor: Flavor,
    op: Operation,
    body: &[u8],
    path_model: Option<String>,
    stream: bool,
) -> Result<ChatRequest, ApiError> {
    if op != Operation::Chat {
        return Err(bad(format!(
            "{} has no request body to decode in Chat Completions",
            match op {
                Operation::ListModels => "list-models",
                _ => "count-tokens",
            }
        )));
    }
    let v = parse_object(body)?;
    let o = obj(&v, "request")?;
    let model = match (path_model, opt_str(o, "model", "request")?) {
        (Some(m), _) | (None, Some(m)) => m,
        (None, None) => return Err(bad("model: field required".to_string())),
    };
    let ms = match o.get("messages") {
        Some(Value::Array(a)) => a.as_slice(),
        Some(x) => {
            return Err(bad(format!(
                "messages: expected array, got {}",
                type_name(x)
            )))
        }
        None => return Err(bad("messages: field required".to_string())),
    };
    let (system, messages) = decode_messages(ms)?;
    let mut extra = rest_of(o, REQUEST_KNOWN);
    if o.contains_key("functions") || o.contains_key("function_call") {
        return Err(bad(
            "functions / function_call are deprecated and not translated; use tools / tool_choice"
                .to_string(),
        ));
    }
    let tools = decode_tools(o)?;
    let tool_choice = match o.get("tool_choice").filter(|t| !t.is_null()) {
        None => None,
        Some(tc) => {
            let c = decode_tool_choice(tc)?;
            if c.is_none() {
                extra.insert("tool_choice".into(), tc.clone());
            }
            c
        }
    };
    let mut thinking = opt_str(o, "reasoning_effort", "request")?
        .as_deref()
        .map(thinking_from_effort);
    if flavor == Flavor::Compatible {
        if let Some(r) = o.get("reasoning").and_then(Value::as_object) {
            extra.remove("reasoning");
            if thinking.is_none() {
                thinking = Some(thinking_from_object(r)?);
            }
        }
    }
    let candidates = opt_u32(o, "n")?;
    if candidates.is_some_and(|n| n > 1) {
        return Err(bad(
            "n: only one choice per request is supported (n > 1 cannot be translated)".to_string(),
        ));
    }
    let max_tokens = match opt_u32(o, "max_completion_tokens")? {
        Some(n) => Some(n),
        None => opt_u32(o, "max_tokens")?,
    };
    let body_stream = opt_bool(o, "stream")?.unwrap_or(false);
    let mut include_usage = false;
    if let Some(so) = o.get("stream_options").filter(|s| !s.is_null()) {
        let so = obj(so, "stream_options")?;
        include_usage = opt_bool(so, "include_usage")?.unwrap_or(false);
        let rest: Obj = so
            .iter()
            .filter(|(k, _)| k.as_str() != "include_usage")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !rest.is_empty() {
            extra.insert("stream_options".into(), Value::Object(rest));
        }
    }
    let seed = match o.get("seed") {
        None | Some(Value::Null) => None,
        Some(s) => Some(
            s.as_i64()
                .ok_or_else(|| bad("seed: expected an integer".to_string()))?,
        ),
    };
    Ok(ChatRequest {
        model,
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: opt_bool(o, "parallel_tool_calls")?,
        sampling: Sampling {
            max_tokens,
            temperature: opt_f64(o, "temperature")?,
            top_p: opt_f64(o, "top_p")?,
            top_k: opt_u32(o, "top_k")?,
            stop: decode_stop(o.get("stop"))?,
            seed,
            presence_penalty: opt_f64(o, "presence_penalty")?,
            frequency_penalty: opt_f64(o, "frequency_penalty")?,
            candidates,
        },
        thinking,
        response_format: match o.get("response_format").filter(|r| !r.is_null()) {
            None => None,
            Some(r) => Some(decode_response_format(r)?),
        },
        stream: stream || body_stream,
        stream_include_usage: include_usage,
        user: opt_str(o, "user", "request")?,
        metadata: o
            .get("metadata")
            .filter(|m| !m.is_null())
            .map(Value::to_string),
        extra: extra_from_map(extra),
    })
}

// ----- requests: encode -----

/// Where a canonical block sits, for error messages; formatted only when an error is
/// built (`messages.{i}`, `{parent}.content.{j}`).
#[derive(Clone, Copy)]
enum At<'a> {
    Message(usize),
    Content(&'a At<'a>, usize),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Message(i) => write!(f, "messages.{i}"),
            At::Content(parent, j) => write!(f, "{parent}.content.{j}"),
        }
    }
}

/// One content part for a user message; `None` for blocks with no place there.
fn encode_part(b: &ContentBlock, q: &Quirks, path: &At<'_>) -> Result<Option<Value>, ApiError> {
    let mut m = Map::new();
    match b {
        ContentBlock::Text(t) => {
            m.insert("type".into(), json!("text"));
            m.insert("text".into(), json!(t.text));
            cache_control_to(&mut m, t.cache_control.as_ref(), q);
            merge_extra(&mut m, t.extra.as_ref());
        }
        ContentBlock::Image(i) => {
            let url = match &i.source {
                MediaSource::Inline(d) => data_url(&d.media_type, &d.data),
                MediaSource::Url(u) => u.clone(),
                MediaSource::FileId(_) => {
                    return Err(bad(format!(
                        "{path}: images by file id are not supported by Chat Completions"
                    )))
                }
                MediaSource::Text(_) => {
                    return Err(bad(format!("{path}: a text source is not an image")))
                }
            };
            let mut iu = Map::new();
            iu.insert("url".into(), json!(url));
            if let Some(d) = &i.detail {
                iu.insert("detail".into(), json!(d));
            }
            m.insert("type".into(), json!("image_url"));
            m.insert("image_url".into(), Value::Object(iu));
            cache_control_to(&mut m, i.cache_control.as_ref(), q);
            merge_extra(&mut m, i.extra.as_ref());
        }
        ContentBlock::Document(d) => {
            let mut f = Map::new();
            let name = d.filename.clone().or_else(|| d.title.clone());
            let inline = |mt: &str, data: &str, f: &mut Obj| {
                f.insert(
                    "filename".into(),
                    json!(name.clone().unwrap_or_else(|| default_filename(mt))),
                );
                f.insert("file_data".into(), json!(data_url(mt, data)));
            };
            match &d.source {
                MediaSource::Inline(x) => inline(&x.media_type, &x.data, &mut f),
                MediaSource::Url(u) => match parse_data_url(u) {
                    Some((mt, data)) => inline(mt, data, &mut f),
                    None => {
                        return Err(bad(format!(
                            "{path}: documents by URL are not supported by Chat Completions (send the bytes or a file id)"
                        )))
                    }
                },
                MediaSource::FileId(id) => {
                    if let Some(n) = &name {
                        f.insert("filename".into(), json!(n));
                    }
                    f.insert("file_id".into(), json!(id));
                }
                MediaSource::Text(t) => {
                    // Approximated: a plain-text document is sent as a text part.
                    let text = match &d.title {
                        Some(title) => format!("{title}\n\n{t}"),
                        None => t.clone(),
                    };
                    m.insert("type".into(), json!("text"));
                    m.insert("text".into(), json!(text));
                    cache_control_to(&mut m, d.cache_control.as_ref(), q);
                    return Ok(Some(Value::Object(m)));
                }
            }
            m.insert("type".into(), json!("file"));
            m.insert("file".into(), Value::Object(f));
            cache_control_to(&mut m, d.cache_control.as_ref(), q);
            merge_extra(&mut m, d.extra.as_ref());
        }
        ContentBlock::Audio(a) => {
            let (mt, data) = match &a.source {
                MediaSource::Inline(d) => (Some(d.media_type.as_str()), d.data.as_str()),
                MediaSource::Url(u) => match parse_data_url(u) {
                    Some((mt, data)) => (Some(mt), data),
                    None => {
                        return Err(bad(format!(
                            "{path}: audio by URL is not supported by Chat Completions"
                        )))
                    }
                },
                _ => {
                    return Err(bad(format!(
                        "{path}: audio must be inline data for Chat Completions"
                    )))
                }
            };
            m.insert("type".into(), json!("input_audio"));
            m.insert(
                "input_audio".into(),
                json!({"data": data, "format": audio_format(a.format.as_deref(), mt)}),
            );
            merge_extra(&mut m, a.extra.as_ref());
        }
        ContentBlock::Other(e) if e.source == Dialect::OpenaiChat => {
            return Ok(serde_json::from_str::<Value>(&e.fields).ok())
        }
        // Thinking, foreign blocks: no place in a user message.
        _ => return Ok(None),
    }
    Ok(Some(Value::Object(m)))
}

/// A `content` value: a plain string for one plain text part, else an array.
fn content_value(mut parts: Vec<Value>) -> Value {
    if let [Value::Object(p)] = parts.as_mut_slice() {
        if p.len() == 2 && p.get("type").and_then(Value::as_str) == Some("text") {
            if let Some(t) = p.remove("text") {
                return t;
            }
        }
    }
    Value::Array(parts)
}

fn tool_name(c: &ToolCall) -> String {
    match &c.namespace {
        // Chat Completions has no namespaces: flattened (see the fidelity notes).
        Some(ns) if !ns.is_empty() => format!("{ns}__{}", c.name),
        _ => c.name.clone(),
    }
}

fn encode_tool_call(c: &ToolCall) -> Option<Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(c.id));
    match c.kind {
        ToolKind::Function => {
            m.insert("type".into(), json!("function"));
            let args = if c.arguments.trim().is_empty() {
                "{}"
            } else {
                c.arguments.as_str()
            };
            m.insert(
                "function".into(),
                json!({"name": tool_name(c), "arguments": args}),
            );
        }
        ToolKind::Custom => {
            m.insert("type".into(), json!("custom"));
            m.insert(
                "custom".into(),
                json!({"name": tool_name(c), "input": c.arguments}),
            );
        }
        // Server-side tool calls ran upstream; their results are not replayable here.
        ToolKind::Builtin(_) => return None,
    }
    merge_extra(&mut m, c.extra.as_ref());
    Some(Value::Object(m))
}

fn encode_assistant(msg: &Message, q: &Quirks, path: &At<'_>) -> Result<Value, ApiError> {
    let mut parts = Vec::new();
    let mut refusal = String::new();
    let mut calls = Vec::new();
    for (j, b) in msg.content.iter().enumerate() {
        match b {
            ContentBlock::Text(t) if is_refusal(t) => refusal.push_str(&t.text),
            ContentBlock::Text(_) | ContentBlock::Other(_) => {
                if let Some(p) = encode_part(b, q, &At::Content(path, j))? {
                    parts.push(p);
                }
            }
            ContentBlock::ToolCall(c) => calls.extend(encode_tool_call(c)),
            // Thinking has no input field (DeepSeek rejects `reasoning_content` in
            // history); media in assistant turns has no place either.
            _ => {}
        }
    }
    let mut m = Map::new();
    m.insert("role".into(), json!("assistant"));
    let content = if parts.is_empty() {
        if calls.is_empty() && refusal.is_empty() {
            json!("")
        } else {
            Value::Null
        }
    } else {
        content_value(parts)
    };
    m.insert("content".into(), content);
    if let Some(n) = &msg.name {
        m.insert("name".into(), json!(n));
    }
    if !refusal.is_empty() {
        m.insert("refusal".into(), json!(refusal));
    }
    if !calls.is_empty() {
        m.insert("tool_calls".into(), Value::Array(calls));
    }
    merge_extra(&mut m, msg.extra.as_ref());
    Ok(Value::Object(m))
}

fn encode_tool_result(
    r: &ToolResult,
    q: &Quirks,
    path: &At<'_>,
    media: &mut Vec<Value>,
) -> Result<Value, ApiError> {
    let mut texts = Vec::new();
    for (k, p) in r.content.iter().enumerate() {
        match p {
            ToolResultPart::Text(t) => texts.push(json!({"type": "text", "text": t})),
            // Tool messages take text only: media follows in a user message.
            ToolResultPart::Image(i) => media.extend(encode_part(
                &ContentBlock::Image(i.clone()),
                q,
                &At::Content(path, k),
            )?),
            ToolResultPart::Document(d) => media.extend(encode_part(
                &ContentBlock::Document(d.clone()),
                q,
                &At::Content(path, k),
            )?),
        }
    }
    let content = match texts.len() {
        0 => json!(""),
        _ => content_value(texts),
    };
    let mut m = Map::new();
    m.insert("role".into(), json!("tool"));
    m.insert("tool_call_id".into(), json!(r.call_id));
    m.insert("content".into(), content);
    merge_extra(&mut m, r.extra.as_ref());
    Ok(Value::Object(m))
}

fn system_role(developer: bool, q: &Quirks) -> &'static str {
    if developer && q.developer_role {
        "developer"
    } else {
        "system"
    }
}

fn encode_messages(r: &ChatRequest, q: &Quirks) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(r.system.len() + r.messages.len());
    for b in &r.system {
        let mut fields = extra_fields(b.extra.as_ref());
        let developer = fields
            .remove("role")
            .and_then(|v| v.as_str().map(str::to_string))
            == Some("developer".to_string());
        let mut m = Map::new();
        m.insert("role".into(), json!(system_role(developer, q)));
        let mut part = Map::new();
        part.insert("type".into(), json!("text"));
        part.insert("text".into(), json!(b.text));
        cache_control_to(&mut part, b.cache_control.as_ref(), q);
        m.insert("content".into(), content_value(vec![Value::Object(part)]));
        for (k, v) in fields {
            m.entry(k).or_insert(v);
        }
        out.push(Value::Object(m));
    }
    for (i, msg) in r.messages.iter().enumerate() {
        let path = At::Message(i);
        match msg.role {
            Role::System | Role::Developer => {
                let mut parts = Vec::new();
                for (j, b) in msg.content.iter().enumerate() {
                    if let ContentBlock::Text(_) = b {
                        parts.extend(encode_part(b, q, &At::Content(&path, j))?);
                    }
                }
                let mut m = Map::new();
                m.insert(
                    "role".into(),
                    json!(system_role(msg.role == Role::Developer, q)),
                );
                m.insert("content".into(), content_value(parts));
                if let Some(n) = &msg.name {
                    m.insert("name".into(), json!(n));
                }
                merge_extra(&mut m, msg.extra.as_ref());
                out.push(Value::Object(m));
            }
            Role::Assistant => out.push(encode_assistant(msg, q, &path)?),
            Role::User | Role::Tool => {
                let mut media = Vec::new();
                let mut parts = Vec::new();
                let mut had_results = false;
                for (j, b) in msg.content.iter().enumerate() {
                    let bpath = At::Content(&path, j);
                    match b {
                        ContentBlock::ToolResult(tr) => {
                            had_results = true;
                            let before = media.len();
                            out.push(encode_tool_result(tr, q, &bpath, &mut media)?);
                            if media.len() > before {
                                media.insert(
                                    before,
                                    json!({"type": "text", "text": format!("Attachments returned by tool call {}:", tr.call_id)}),
                                );
                            }
                        }
                        other => parts.extend(encode_part(other, q, &bpath)?),
                    }
                }
                // Media of tool results, then the message's own content.
                media.extend(parts);
                if !media.is_empty() || !had_results {
                    let mut m = Map::new();
                    m.insert("role".into(), json!("user"));
                    m.insert("content".into(), content_value(media));
                    if let Some(n) = &msg.name {
                        m.insert("name".into(), json!(n));
                    }
                    merge_extra(&mut m, msg.extra.as_ref());
                    out.push(Value::Object(m));
                }
            }
        }
    }
    Ok(out)
}

fn encode_tools(r: &ChatRequest, m: &mut Obj) -> Result<bool, ApiError> {
    let mut tools = Vec::new();
    for (i, t) in r.tools.iter().enumerate() {
        let name = match &t.namespace {
            Some(ns) if !ns.is_empty() => format!("{ns}__{}", t.name),
            _ => t.name.clone(),
        };
        match &t.kind {
            ToolKind::Function => {
                let mut f = Map::new();
                f.insert("name".into(), json!(name));
                if let Some(d) = &t.description {
                    f.insert("description".into(), json!(d));
                }
                let params = t
                    .parameters
                    .as_deref()
                    .and_then(|p| serde_json::from_str::<Value>(p).ok())
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                f.insert("parameters".into(), params);
                if let Some(s) = t.strict {
                    f.insert("strict".into(), json!(s));
                }
                merge_extra(&mut f, t.extra.as_ref());
                tools.push(json!({"type": "function", "function": f}));
            }
            ToolKind::Custom => {
                let mut c = Map::new();
                c.insert("name".into(), json!(name));
                if let Some(d) = &t.description {
                    c.insert("description".into(), json!(d));
                }
                merge_extra(&mut c, t.extra.as_ref());
                tools.push(json!({"type": "custom", "custom": c}));
            }
            ToolKind::Builtin(kind) => {
                let mut fields = extra_fields(t.extra.as_ref());
                if let Some(ws) = fields.remove("web_search_options") {
                    m.insert("web_search_options".into(), ws);
                } else if kind.starts_with("web_search") {
                    // Anthropic's / Responses' web search: the options do not carry over.
                    m.insert("web_search_options".into(), json!({}));
                } else if !fields.is_empty() {
                    // A tool type this dialect sent and the model does not name.
                    let mut o = Map::new();
                    o.insert("type".into(), json!(kind));
                    o.extend(fields);
                    tools.push(Value::Object(o));
                } else {
                    return Err(bad(format!(
                        "tools.{i}: the builtin tool `{kind}` has no Chat Completions equivalent"
                    )));
                }
            }
        }
    }
    let any = !tools.is_empty();
    if any {
        m.insert("tools".into(), Value::Array(tools));
    }
    Ok(any)
}

/// An effort level for a thinking budget (approximation for Anthropic / Gemini
/// budgets).
fn effort_for_budget(budget: u32) -> &'static str {
    match budget {
        0..=2047 => "low",
        2048..=8191 => "medium",
        _ => "high",
    }
}

fn encode_thinking(t: &ThinkingConfig, q: &Quirks, m: &mut Obj) {
    match q.reasoning {
        ReasoningParam::None => {}
        ReasoningParam::Effort => {
            let effort = match (&t.effort, t.budget_tokens, t.enabled) {
                (Some(e), _, _) => Some(e.clone()),
                (None, Some(b), true) => Some(effort_for_budget(b).to_string()),
                (None, None, true) => Some("medium".to_string()),
                // Disabled without an effort: the model default (older reasoning
                // models reject "none").
                (None, _, false) => None,
            };
            if let Some(e) = effort {
                m.insert("reasoning_effort".into(), json!(e));
            }
        }
        ReasoningParam::Object => {
            let mut r = Map::new();
            if !t.enabled {
                r.insert("enabled".into(), json!(false));
            } else if let Some(b) = t.budget_tokens {
                r.insert("max_tokens".into(), json!(b));
            } else {
                r.insert(
                    "effort".into(),
                    json!(t.effort.as_deref().unwrap_or("medium")),
                );
            }
            m.insert("reasoning".into(), Value::Object(r));
        }
    }
}

/// The Chat Completions body for a canonical request.
pub fn request_body(r: &ChatRequest, model: &str, q: &Quirks) -> Result<Value, ApiError> {
    let mut m = Map::new();
    m.insert("model".into(), json!(model));
    m.insert("messages".into(), Value::Array(encode_messages(r, q)?));
    let has_tools = encode_tools(r, &mut m)?;
    if has_tools {
        if let Some(tc) = &r.tool_choice {
            let v = match tc {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Tool(n) => {
                    let custom = r
                        .tools
                        .iter()
                        .any(|t| t.kind == ToolKind::Custom && &t.name == n);
                    if custom {
                        json!({"type": "custom", "custom": {"name": n}})
                    } else {
                        json!({"type": "function", "function": {"name": n}})
                    }
                }
            };
            m.insert("tool_choice".into(), v);
        }
        if let Some(p) = r.parallel_tool_calls {
            m.insert("parallel_tool_calls".into(), json!(p));
        }
    }
    let s = &r.sampling;
    if let Some(n) = s.max_tokens {
        m.insert(q.max_tokens_field.into(), json!(n));
    }
    if let Some(t) = s.temperature {
        m.insert("temperature".into(), json!(t));
    }
    if let Some(p) = s.top_p {
        m.insert("top_p".into(), json!(p));
    }
    if let (Some(k), true) = (s.top_k, q.top_k) {
        m.insert("top_k".into(), json!(k));
    }
    if !s.stop.is_empty() {
        m.insert("stop".into(), json!(s.stop));
    }
    if let Some(seed) = s.seed {
        m.insert("seed".into(), json!(seed));
    }
    if let Some(p) = s.presence_penalty {
        m.insert("presence_penalty".into(), json!(p));
    }
    if let Some(p) = s.frequency_penalty {
        m.insert("frequency_penalty".into(), json!(p));
    }
    match s.candidates {
        Some(n) if n > 1 => {
            return Err(bad(
                "only one choice per request is supported (n > 1 cannot be translated)".to_string(),
            ))
        }
        Some(n) => {
            m.insert("n".into(), json!(n));
        }
        None => {}
    }
    if let Some(t) = &r.thinking {
        encode_thinking(t, q, &mut m);
    }
    if let Some(f) = &r.response_format {
        let v = match f {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema(js) => {
                let mut o = Map::new();
                o.insert(
                    "name".into(),
                    json!(js.name.as_deref().unwrap_or("response")),
                );
                if let Some(d) = &js.description {
                    o.insert("description".into(), json!(d));
                }
                o.insert(
                    "schema".into(),
                    serde_json::from_str::<Value>(&js.schema).unwrap_or_else(|_| json!({})),
                );
                if let Some(s) = js.strict {
                    o.insert("strict".into(), json!(s));
                }
                json!({"type": "json_schema", "json_schema": o})
            }
        };
        m.insert("response_format".into(), v);
    }
    let mut extra = extra_fields(r.extra.as_ref());
    if r.stream {
        m.insert("stream".into(), json!(true));
        let mut so = match extra.remove("stream_options") {
            Some(Value::Object(o)) => o,
            _ => Map::new(),
        };
        // Usage is always asked for (the gateway accounts for it); the client's own
        // wish is honoured by the front door's stream encoder.
        if q.stream_usage {
            so.insert("include_usage".into(), json!(true));
        }
        if !so.is_empty() {
            m.insert("stream_options".into(), Value::Object(so));
        }
    }
    if let Some(u) = &r.user {
        m.insert("user".into(), json!(u));
    }
    // OpenAI metadata is a map of strings; Anthropic's `user_id` travels as `user`.
    if let Some(Value::Object(o)) = r
        .metadata
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        let kept: Obj = o
            .into_iter()
            .filter(|(k, v)| v.is_string() && !(k == "user_id" && r.user.is_some()))
            .collect();
        if !kept.is_empty() {
            m.insert("metadata".into(), Value::Object(kept));
        }
    }
    for (k, v) in extra {
        m.entry(k).or_insert(v);
    }
    for (k, v) in &q.extra_body {
        m.insert(k.clone(), v.clone());
    }
    for k in &q.drop {
        m.remove(k);
    }
    Ok(Value::Object(m))
}

/// The upstream request for `openai` / `openai-compatible` targets:
/// `POST {api_prefix}/chat/completions` (`GET {api_prefix}/models` for list-models).
pub fn encode_request(
    flavor: Flavor,
    op: Operation,
    r: &ChatRequest,
    target: &TargetInfo,
) -> Result<UpstreamRequest, ApiError> {
    let (q, _) = Quirks::parse(flavor, &target.options, &[])?;
    let model = if target.model.is_empty() {
        &r.model
    } else {
        &target.model
    };
    upstream_request(
        op,
        r,
        model,
        &q,
        &format!("{}/chat/completions", q.api_prefix),
        &format!("{}/models", q.api_prefix),
    )
}

/// `v` serialized (the bytes `v.to_string()` gives) into a buffer of `capacity`.
fn json_bytes(v: &Value, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut out, v) {
        Ok(()) => out,
        // Writing JSON values into memory does not fail; keep the old way if it does.
        Err(_) => v.to_string().into_bytes(),
    }
}

fn media_len(s: &MediaSource) -> usize {
    match s {
        MediaSource::Inline(d) => d.data.len() + d.media_type.len(),
        MediaSource::Url(u) | MediaSource::FileId(u) | MediaSource::Text(u) => u.len(),
    }
}

/// Roughly how many bytes a request's JSON body takes (to size its buffer once).
fn approx_request_len(r: &ChatRequest) -> usize {
    let block = |b: &ContentBlock| -> usize {
        match b {
            ContentBlock::Text(t) => t.text.len() + 32,
            ContentBlock::ToolCall(c) => c.arguments.len() + c.name.len() + c.id.len() + 64,
            ContentBlock::ToolResult(t) => {
                t.content
                    .iter()
                    .map(|p| match p {
                        ToolResultPart::Text(t) => t.len() + 32,
                        ToolResultPart::Image(i) => media_len(&i.source) + 64,
                        ToolResultPart::Document(d) => media_len(&d.source) + 64,
                    })
                    .sum::<usize>()
                    + 64
            }
            ContentBlock::Image(i) => media_len(&i.source) + 64,
            ContentBlock::Document(d) => media_len(&d.source) + 64,
            _ => 64,
        }
    };
    let system: usize = r.system.iter().map(|t| t.text.len() + 48).sum();
    let messages: usize = r
        .messages
        .iter()
        .map(|m| m.content.iter().map(block).sum::<usize>() + 32)
        .sum();
    let tools: usize = r
        .tools
        .iter()
        .map(|t| {
            t.name.len()
                + t.description.as_ref().map_or(0, String::len)
                + t.parameters.as_ref().map_or(0, String::len)
                + 64
        })
        .sum();
    256 + r.model.len() + system + messages + tools
}

/// Build an upstream request with the given paths (Azure supplies its own).
pub fn upstream_request(
    op: Operation,
    r: &ChatRequest,
    model: &str,
    q: &Quirks,
    chat_path: &str,
    models_path: &str,
) -> Result<UpstreamRequest, ApiError> {
    let headers = vec![Header::new("content-type", "application/json")];
    match op {
        Operation::ListModels => Ok(UpstreamRequest {
            method: "GET".into(),
            path: models_path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            stream: false,
        }),
        Operation::CountTokens => Err(ApiError::unsupported("counting tokens")),
        Operation::Chat => Ok(UpstreamRequest {
            method: "POST".into(),
            path: chat_path.to_string(),
            headers,
            body: json_bytes(&request_body(r, model, q)?, approx_request_len(r)),
            stream: r.stream,
        }),
    }
}

// ----- responses -----

const MESSAGE_OUT_KNOWN: &[&str] = &[
    "role",
    "content",
    "refusal",
    "tool_calls",
    "reasoning_content",
    "reasoning",
    "annotations",
];

/// Decode a complete upstream `chat.completion`.
pub fn decode_response(op: Operation, body: &[u8]) -> Result<ChatResponse, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_gateway(format!("upstream response is not JSON: {e}")))?;
    let Value::Object(o) = v else {
        return Err(ApiError::bad_gateway(
            "upstream response is not a JSON object".to_string(),
        ));
    };
    let upstream = |e: ApiError| ApiError::bad_gateway(format!("upstream response: {}", e.message));
    // The parsed body is ours: known fields are moved out, the rest (in order) is the
    // extra.
    let (mut id, mut model, mut choices, mut usage) = (None, None, None, None);
    let mut extra = Map::with_capacity(o.len());
    for (k, v) in o {
        match k.as_str() {
            "id" => id = Some(v),
            "model" => model = Some(v),
            "choices" => choices = Some(v),
            "usage" => usage = Some(v),
            _ => {
                extra.insert(k, v);
            }
        }
    }
    if op == Operation::ListModels {
        return Ok(ChatResponse {
            id: String::new(),
            model: String::new(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: Default::default(),
            extra: extra_from_map(extra),
        });
    }
    let choice = match choices {
        Some(Value::Array(c)) => c.into_iter().next(),
        None | Some(Value::Null) => None,
        Some(x) => {
            return Err(ApiError::bad_gateway(format!(
                "upstream response: choices: expected array, got {}",
                type_name(&x)
            )))
        }
    };
    let mut content = Vec::new();
    let mut stop_reason = None;
    let mut stop_sequence = None;
    if let Some(c) = choice {
        let co = into_obj(c, "choices.0").map_err(upstream)?;
        let (mut message, mut finish, mut stop) = (None, None, None);
        let mut choice_extra = Map::new();
        for (k, v) in co {
            match k.as_str() {
                "message" => message = Some(v),
                "finish_reason" => finish = Some(v),
                "stop_reason" => stop = Some(v),
                "index" => {}
                _ => {
                    choice_extra.insert(k, v);
                }
            }
        }
        let msg = match message {
            Some(m) => into_obj(m, "choices.0.message").map_err(upstream)?,
            None => Map::new(),
        };
        content = assistant_blocks(&msg, "choices.0.message").map_err(upstream)?;
        let mut annotations = None;
        let mut msg_extra = Map::new();
        for (k, v) in msg {
            if k == "annotations" {
                annotations = Some(v);
            } else if !MESSAGE_OUT_KNOWN.contains(&k.as_str()) {
                msg_extra.insert(k, v);
            }
        }
        // Annotations (web search citations) attach to the last text block; an empty
        // list, or one without a text block, stays in the message's extra.
        if let Some(a) = annotations {
            let target = content.iter_mut().rev().find_map(|b| match b {
                ContentBlock::Text(t) if !is_refusal(t) => Some(t),
                _ => None,
            });
            match target {
                Some(t) if a.as_array().is_some_and(|a| !a.is_empty()) => {
                    t.citations = Some(a.to_string())
                }
                _ => {
                    msg_extra.insert("annotations".into(), a);
                }
            }
        }
        let had_calls = content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolCall(_)));
        let had_refusal = content
            .iter()
            .any(|b| matches!(b, ContentBlock::Text(t) if is_refusal(t)));
        if let Some(fr) = finish.as_ref().and_then(Value::as_str) {
            let mut r = stop_reason_from(fr, had_calls, had_refusal);
            // vLLM names the stop string that matched.
            if let Some(s) = stop.as_ref().and_then(Value::as_str) {
                if r == StopReason::EndTurn {
                    r = StopReason::StopSequence;
                    stop_sequence = Some(s.to_string());
                }
            }
            stop_reason = Some(r);
        }
        if !choice_extra.is_empty() {
            extra.insert("choice".into(), Value::Object(choice_extra));
        }
        if !msg_extra.is_empty() {
            extra.insert("message".into(), Value::Object(msg_extra));
        }
    }
    Ok(ChatResponse {
        id: owned_str(id, "id", "response")
            .map_err(upstream)?
            .unwrap_or_default(),
        model: owned_str(model, "model", "response")
            .map_err(upstream)?
            .unwrap_or_default(),
        content,
        stop_reason,
        stop_sequence,
        usage: usage
            .filter(Value::is_object)
            .map(usage_from_value)
            .unwrap_or_default(),
        extra: extra_from_map(extra),
    })
}

/// `url_citation` annotations for a text block that starts at char `start` of the
/// joined content: OpenAI's own annotations pass as they are; other citations that
/// name a URL (Anthropic web search results) cover the whole block.
fn annotations_of(t: &TextBlock, start: usize, out: &mut Vec<Value>) {
    let Some(Ok(Value::Array(items))) = t.citations.as_deref().map(serde_json::from_str) else {
        return;
    };
    let end = start + t.text.chars().count();
    for c in items {
        if c.get("type").and_then(Value::as_str) == Some("url_citation") {
            out.push(c);
        } else if let Some(url) = c.get("url").and_then(Value::as_str) {
            out.push(json!({"type": "url_citation", "url_citation": {
                "start_index": start, "end_index": end, "url": url,
                "title": c.get("title").and_then(Value::as_str).unwrap_or(""),
            }}));
        }
    }
}

/// Encode a canonical response as a `chat.completion` for a client. Thinking goes to
/// `reasoning_content` on flavors that show it and is dropped otherwise.
pub fn encode_response(flavor: Flavor, r: &ChatResponse) -> Result<Vec<u8>, ApiError> {
    let mut text = String::new();
    let mut chars = 0usize;
    let mut refusal = String::new();
    let mut thinking = String::new();
    let mut calls = Vec::new();
    let mut annotations = Vec::new();
    let mut has_text = false;
    for b in &r.content {
        match b {
            ContentBlock::Text(t) if is_refusal(t) => refusal.push_str(&t.text),
            ContentBlock::Text(t) => {
                has_text = true;
                annotations_of(t, chars, &mut annotations);
                chars += t.text.chars().count();
                text.push_str(&t.text);
            }
            ContentBlock::Thinking(t) => thinking.push_str(&t.text),
            ContentBlock::ToolCall(c) => calls.extend(encode_tool_call(c)),
            _ => {}
        }
    }
    let mut extra = extra_fields(r.extra.as_ref());
    let choice_extra = extra.remove("choice");
    let message_extra = extra.remove("message");

    let len = 384 + text.len() + refusal.len() + thinking.len() + r.model.len();
    let has_refusal = !refusal.is_empty();
    let mut msg = Map::new();
    msg.insert("role".into(), json!("assistant"));
    msg.insert(
        "content".into(),
        if has_text {
            Value::String(text)
        } else {
            Value::Null
        },
    );
    msg.insert(
        "refusal".into(),
        if refusal.is_empty() {
            Value::Null
        } else {
            Value::String(refusal)
        },
    );
    if flavor.reasoning_out() && !thinking.is_empty() {
        msg.insert("reasoning_content".into(), Value::String(thinking));
    }
    let had_calls = !calls.is_empty();
    if had_calls {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    if !annotations.is_empty() {
        msg.insert("annotations".into(), Value::Array(annotations));
    }
    if let Some(Value::Object(me)) = message_extra {
        for (k, v) in me {
            msg.entry(k).or_insert(v);
        }
    }
    let finish = match r.stop_reason {
        Some(s) => stop_reason_to(s, has_refusal),
        None if had_calls => "tool_calls",
        None => "stop",
    };
    let mut choice = Map::new();
    choice.insert("index".into(), json!(0));
    choice.insert("message".into(), Value::Object(msg));
    choice.insert("logprobs".into(), Value::Null);
    choice.insert("finish_reason".into(), json!(finish));
    if let Some(Value::Object(ce)) = choice_extra {
        for (k, v) in ce {
            choice.insert(k, v);
        }
    }
    let mut m = Map::new();
    m.insert(
        "id".into(),
        json!(if r.id.is_empty() {
            "chatcmpl-tollgate"
        } else {
            r.id.as_str()
        }),
    );
    m.insert("object".into(), json!("chat.completion"));
    m.insert(
        "created".into(),
        extra.remove("created").unwrap_or(json!(0)),
    );
    m.insert("model".into(), json!(r.model));
    m.insert("choices".into(), json!([choice]));
    m.insert("usage".into(), usage_to(&r.usage));
    for (k, v) in extra {
        m.entry(k).or_insert(v);
    }
    Ok(json_bytes(&Value::Object(m), len))
}

#[cfg(test)]
mod tests;
