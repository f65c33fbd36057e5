//! Full translation between Anthropic Messages JSON and the canonical chat model
//! (cross-dialect path): requests both ways, responses both ways, content blocks.

use serde_json::{json, Map, Value};
use tollgate_sdk::json::{owned_str, type_name};
use tollgate_sdk::provider::{
    ApiError, CacheControl, ChatRequest, ChatResponse, ContentBlock, Dialect, DocumentBlock, Extra,
    Header, ImageBlock, InlineData, JsonSchemaFormat, MediaSource, Message, Operation,
    ResponseFormat, Role, Sampling, TargetInfo, TextBlock, ThinkingBlock, ThinkingConfig, ToolCall,
    ToolChoice, ToolDefinition, ToolKind, ToolResult, ToolResultPart, UpstreamRequest,
};
use tollgate_sdk::tools::{custom_description, custom_input_schema, flat_name};

use crate::passthrough::parse_object;
use crate::wire::{
    extra_from_map, extra_of, merge_extra, stop_reason_from, stop_reason_to, usage_from, usage_to,
};

/// The API version sent upstream.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` when the canonical request has none (Anthropic requires it); a target
/// can override it with the option `default_max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

fn bad(msg: String) -> ApiError {
    ApiError::invalid_request(msg)
}

type Obj = Map<String, Value>;

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, ApiError> {
    v.as_object()
        .ok_or_else(|| bad(format!("{path}: expected object, got {}", type_name(v))))
}

fn opt_str(o: &Obj, key: &str, path: &str) -> Result<Option<String>, ApiError> {
    str_val(o.get(key), key, path)
}

/// A string field's value (`key` and `path` name it in the error message).
fn str_val(v: Option<&Value>, key: &str, path: &str) -> Result<Option<String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(bad(format!(
            "{path}.{key}: expected string, got {}",
            type_name(v)
        ))),
    }
}

fn req_str(o: &Obj, key: &str, path: &str) -> Result<String, ApiError> {
    opt_str(o, key, path)?.ok_or_else(|| bad(format!("{path}.{key}: field required")))
}

fn opt_u32(o: &Obj, key: &str) -> Result<Option<u32>, ApiError> {
    u32_val(o.get(key), key)
}

fn u32_val(v: Option<&Value>, key: &str) -> Result<Option<u32>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(format!("{key}: expected a non-negative integer"))),
    }
}

fn f64_val(v: Option<&Value>, key: &str) -> Result<Option<f64>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad(format!("{key}: expected a number, got {}", type_name(v)))),
    }
}

fn cache_control_from(o: &Obj) -> Option<CacheControl> {
    cache_control_of(o.get("cache_control")?)
}

fn cache_control_of(v: &Value) -> Option<CacheControl> {
    let cc = v.as_object()?;
    Some(CacheControl {
        kind: cc
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ephemeral")
            .to_string(),
        ttl: cc.get("ttl").and_then(Value::as_str).map(str::to_string),
    })
}

fn cache_control_to(m: &mut Obj, cc: Option<&CacheControl>) {
    if let Some(cc) = cc {
        let mut c = Map::new();
        c.insert("type".into(), json!(cc.kind));
        if let Some(ttl) = &cc.ttl {
            c.insert("ttl".into(), json!(ttl));
        }
        m.insert("cache_control".into(), Value::Object(c));
    }
}

fn other(v: &Value) -> ContentBlock {
    ContentBlock::Other(Extra {
        source: Dialect::Anthropic,
        fields: v.to_string(),
    })
}

// ----- blocks -----

fn text_block(o: &Obj, path: &str) -> Result<TextBlock, ApiError> {
    Ok(TextBlock {
        text: req_str(o, "text", path)?,
        cache_control: cache_control_from(o),
        citations: o
            .get("citations")
            .filter(|c| !c.is_null())
            .map(Value::to_string),
        extra: extra_of(o, &["type", "text", "cache_control", "citations"]),
    })
}

/// A media source; `None` for a source kind the model cannot name.
fn source_from(s: &Obj, path: &str) -> Result<Option<(MediaSource, Option<String>)>, ApiError> {
    let media_type = opt_str(s, "media_type", path)?;
    Ok(Some(match s.get("type").and_then(Value::as_str) {
        Some("base64") => (
            MediaSource::Inline(InlineData {
                media_type: media_type.unwrap_or_default(),
                data: req_str(s, "data", path)?,
            }),
            None,
        ),
        Some("url") => (MediaSource::Url(req_str(s, "url", path)?), media_type),
        Some("file") => (
            MediaSource::FileId(req_str(s, "file_id", path)?),
            media_type,
        ),
        Some("text") => (MediaSource::Text(req_str(s, "data", path)?), media_type),
        _ => return Ok(None),
    }))
}

fn source_to(src: &MediaSource, media_type: Option<&str>, path: &str) -> Result<Value, ApiError> {
    Ok(match src {
        MediaSource::Inline(d) => {
            json!({"type": "base64", "media_type": d.media_type, "data": d.data})
        }
        MediaSource::Url(u) => {
            // A `data:` URL becomes an inline source (Anthropic's url sources must be http).
            if let Some((mt, data)) = u
                .strip_prefix("data:")
                .and_then(|r| r.split_once(";base64,"))
            {
                json!({"type": "base64", "media_type": mt, "data": data})
            } else {
                json!({"type": "url", "url": u})
            }
        }
        MediaSource::FileId(f) => json!({"type": "file", "file_id": f}),
        MediaSource::Text(t) => json!({
            "type": "text",
            "media_type": media_type.unwrap_or("text/plain"),
            "data": t,
        }),
    })
    .and_then(|v| {
        if path == "image" && matches!(src, MediaSource::Text(_)) {
            Err(bad("image: a text source is not an image".to_string()))
        } else {
            Ok(v)
        }
    })
}

fn image_from(o: &Obj, v: &Value, path: &str) -> Result<ContentBlock, ApiError> {
    let src = obj(
        o.get("source").unwrap_or(&Value::Null),
        &format!("{path}.source"),
    )?;
    let Some((source, media_type)) = source_from(src, &format!("{path}.source"))? else {
        return Ok(other(v));
    };
    Ok(ContentBlock::Image(ImageBlock {
        source,
        media_type,
        detail: None,
        cache_control: cache_control_from(o),
        extra: extra_of(o, &["type", "source", "cache_control"]),
    }))
}

fn document_from(o: &Obj, v: &Value, path: &str) -> Result<ContentBlock, ApiError> {
    let src = obj(
        o.get("source").unwrap_or(&Value::Null),
        &format!("{path}.source"),
    )?;
    let Some((source, media_type)) = source_from(src, &format!("{path}.source"))? else {
        return Ok(other(v));
    };
    Ok(ContentBlock::Document(DocumentBlock {
        source,
        media_type,
        title: opt_str(o, "title", path)?,
        context: opt_str(o, "context", path)?,
        citations: o
            .get("citations")
            .and_then(|c| c.get("enabled"))
            .and_then(Value::as_bool),
        filename: None,
        cache_control: cache_control_from(o),
        extra: extra_of(
            o,
            &[
                "type",
                "source",
                "title",
                "context",
                "citations",
                "cache_control",
            ],
        ),
    }))
}

fn tool_result_from(o: &Obj, v: &Value, path: &str) -> Result<ContentBlock, ApiError> {
    let mut content = Vec::new();
    match o.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => content.push(ToolResultPart::Text(s.clone())),
        Some(Value::Array(items)) => {
            for (k, item) in items.iter().enumerate() {
                let p = format!("{path}.content.{k}");
                let io = obj(item, &p)?;
                let part = match decode_block(item, &p)? {
                    ContentBlock::Text(t) if t.extra.is_none() && t.citations.is_none() => {
                        ToolResultPart::Text(t.text)
                    }
                    ContentBlock::Text(_) => return Ok(other(v)),
                    ContentBlock::Image(i) => ToolResultPart::Image(i),
                    ContentBlock::Document(d) => ToolResultPart::Document(d),
                    _ => return Ok(other(v)),
                };
                // Inner cache_control has no slot: keep the whole block verbatim.
                if io.contains_key("cache_control") && matches!(part, ToolResultPart::Text(_)) {
                    return Ok(other(v));
                }
                content.push(part);
            }
        }
        Some(x) => {
            return Err(bad(format!(
                "{path}.content: expected string or array, got {}",
                type_name(x)
            )))
        }
    }
    Ok(ContentBlock::ToolResult(ToolResult {
        call_id: req_str(o, "tool_use_id", path)?,
        name: None,
        content,
        is_error: o.get("is_error").and_then(Value::as_bool).unwrap_or(false),
        cache_control: cache_control_from(o),
        extra: extra_of(
            o,
            &[
                "type",
                "tool_use_id",
                "content",
                "is_error",
                "cache_control",
            ],
        ),
    }))
}

/// Decode one Anthropic content block (`path` names it in error messages).
pub fn decode_block(v: &Value, path: &str) -> Result<ContentBlock, ApiError> {
    let o = obj(v, path)?;
    let t = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{path}.type: field required")))?;
    Ok(match t {
        "text" => ContentBlock::Text(text_block(o, path)?),
        "image" => image_from(o, v, path)?,
        "document" => document_from(o, v, path)?,
        "tool_use" => ContentBlock::ToolCall(ToolCall {
            id: req_str(o, "id", path)?,
            name: req_str(o, "name", path)?,
            arguments: o
                .get("input")
                .map_or_else(|| "{}".to_string(), Value::to_string),
            kind: ToolKind::Function,
            namespace: None,
            cache_control: cache_control_from(o),
            extra: extra_of(o, &["type", "id", "name", "input", "cache_control"]),
        }),
        "tool_result" => tool_result_from(o, v, path)?,
        "thinking" => ContentBlock::Thinking(ThinkingBlock {
            text: opt_str(o, "thinking", path)?.unwrap_or_default(),
            // `""` is what a client echoes for thinking Tollgate showed it unsigned.
            signature: opt_str(o, "signature", path)?.filter(|s| !s.is_empty()),
            extra: extra_of(o, &["type", "thinking", "signature"]),
        }),
        "redacted_thinking" => ContentBlock::RedactedThinking(req_str(o, "data", path)?),
        _ => other(v),
    })
}

/// Encode one canonical block as Anthropic JSON; `None` for blocks Anthropic cannot
/// carry and that are safe to drop (unsigned thinking, foreign `other` blocks).
pub fn encode_block(b: &ContentBlock) -> Result<Option<Value>, ApiError> {
    let mut m = Map::new();
    match b {
        ContentBlock::Text(t) => {
            m.insert("type".into(), json!("text"));
            m.insert("text".into(), json!(t.text));
            if let Some(c) = &t.citations {
                if let Ok(c) = serde_json::from_str::<Value>(c) {
                    m.insert("citations".into(), c);
                }
            }
            cache_control_to(&mut m, t.cache_control.as_ref());
            merge_extra(&mut m, t.extra.as_ref());
        }
        ContentBlock::Image(i) => {
            m.insert("type".into(), json!("image"));
            m.insert("source".into(), image_source(i)?);
            cache_control_to(&mut m, i.cache_control.as_ref());
            merge_extra(&mut m, i.extra.as_ref());
        }
        ContentBlock::Document(d) => {
            m.insert("type".into(), json!("document"));
            m.insert(
                "source".into(),
                source_to(&d.source, d.media_type.as_deref(), "document")?,
            );
            if let Some(t) = d.title.as_ref().or(d.filename.as_ref()) {
                m.insert("title".into(), json!(t));
            }
            if let Some(c) = &d.context {
                m.insert("context".into(), json!(c));
            }
            if let Some(c) = d.citations {
                m.insert("citations".into(), json!({"enabled": c}));
            }
            cache_control_to(&mut m, d.cache_control.as_ref());
            merge_extra(&mut m, d.extra.as_ref());
        }
        ContentBlock::Audio(_) => {
            return Err(bad(
                "audio content is not supported by Anthropic".to_string()
            ))
        }
        ContentBlock::ToolCall(c) => {
            let input = match serde_json::from_str::<Value>(&c.arguments) {
                // A free-form (custom) call travels as `{"input": raw}`; see
                // `tollgate_sdk::tools`.
                _ if c.kind == ToolKind::Custom => json!({ "input": c.arguments }),
                Ok(v @ Value::Object(_)) => v,
                Ok(v) => json!({ "input": v }),
                Err(_) if c.arguments.trim().is_empty() => json!({}),
                Err(_) => json!({ "input": c.arguments }),
            };
            m.insert("type".into(), json!("tool_use"));
            m.insert("id".into(), json!(c.id));
            m.insert(
                "name".into(),
                json!(flat_name(&c.name, c.namespace.as_deref())),
            );
            m.insert("input".into(), input);
            cache_control_to(&mut m, c.cache_control.as_ref());
            merge_extra(&mut m, c.extra.as_ref());
        }
        ContentBlock::ToolResult(r) => {
            m.insert("type".into(), json!("tool_result"));
            m.insert("tool_use_id".into(), json!(r.call_id));
            match r.content.as_slice() {
                [] => {}
                [ToolResultPart::Text(t)] => {
                    m.insert("content".into(), json!(t));
                }
                parts => {
                    let mut items = Vec::with_capacity(parts.len());
                    for p in parts {
                        items.push(match p {
                            ToolResultPart::Text(t) => json!({"type": "text", "text": t}),
                            ToolResultPart::Image(i) => {
                                encode_block(&ContentBlock::Image(i.clone()))?
                                    .unwrap_or(Value::Null)
                            }
                            ToolResultPart::Document(d) => {
                                encode_block(&ContentBlock::Document(d.clone()))?
                                    .unwrap_or(Value::Null)
                            }
                        });
                    }
                    m.insert("content".into(), Value::Array(items));
                }
            }
            if r.is_error {
                m.insert("is_error".into(), json!(true));
            }
            cache_control_to(&mut m, r.cache_control.as_ref());
            merge_extra(&mut m, r.extra.as_ref());
        }
        ContentBlock::Thinking(t) => {
            let Some(sig) = &t.signature else {
                return Ok(None);
            };
            m.insert("type".into(), json!("thinking"));
            m.insert("thinking".into(), json!(t.text));
            m.insert("signature".into(), json!(sig));
            merge_extra(&mut m, t.extra.as_ref());
        }
        ContentBlock::RedactedThinking(d) => {
            m.insert("type".into(), json!("redacted_thinking"));
            m.insert("data".into(), json!(d));
        }
        ContentBlock::Other(e) => {
            if e.source != Dialect::Anthropic {
                return Ok(None);
            }
            return Ok(serde_json::from_str::<Value>(&e.fields).ok());
        }
    }
    Ok(Some(Value::Object(m)))
}

fn image_source(i: &ImageBlock) -> Result<Value, ApiError> {
    let mut v = source_to(&i.source, i.media_type.as_deref(), "image")?;
    if let (Some(mt), Some(o)) = (&i.media_type, v.as_object_mut()) {
        if o.get("type").and_then(Value::as_str) != Some("base64") {
            o.entry("media_type").or_insert(json!(mt));
        }
    }
    Ok(v)
}

/// [`decode_block`] of an owned value: a text block (the common case) is taken apart
/// without copying; `path` is built only for an error message or another block kind.
fn decode_block_owned(v: Value, path: &dyn Fn() -> String) -> Result<ContentBlock, ApiError> {
    match v {
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("text") => {
            Ok(ContentBlock::Text(text_block_owned(o, path)?))
        }
        v => decode_block(&v, &path()),
    }
}

/// [`text_block`] of an owned object, its fields moved out in order.
fn text_block_owned(o: Obj, path: &dyn Fn() -> String) -> Result<TextBlock, ApiError> {
    let mut text = None;
    let mut cache_control = None;
    let mut citations = None;
    let mut rest = Map::new();
    for (k, v) in o {
        match k.as_str() {
            "type" => {}
            "text" => text = Some(v),
            "cache_control" => cache_control = Some(v),
            "citations" => citations = Some(v),
            _ => {
                rest.insert(k, v);
            }
        }
    }
    let text = match text {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => return Err(bad(format!("{}.text: field required", path()))),
        Some(v) => {
            return Err(bad(format!(
                "{}.text: expected string, got {}",
                path(),
                type_name(&v)
            )))
        }
    };
    Ok(TextBlock {
        text,
        cache_control: cache_control.as_ref().and_then(cache_control_of),
        citations: citations.filter(|c| !c.is_null()).map(|c| c.to_string()),
        extra: extra_from_map(rest),
    })
}

/// Decode a content field (a string or an array of blocks), moving its text.
fn decode_blocks_owned(v: Value, path: &dyn Fn() -> String) -> Result<Vec<ContentBlock>, ApiError> {
    match v {
        Value::String(s) => Ok(vec![ContentBlock::Text(TextBlock {
            text: s,
            cache_control: None,
            citations: None,
            extra: None,
        })]),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (j, b) in items.into_iter().enumerate() {
                out.push(decode_block_owned(b, &|| format!("{}.{j}", path()))?);
            }
            Ok(out)
        }
        other => Err(bad(format!(
            "{}: expected string or array, got {}",
            path(),
            type_name(&other)
        ))),
    }
}

fn encode_blocks(blocks: &[ContentBlock]) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(blocks.len());
    for b in blocks {
        if let Some(v) = encode_block(b)? {
            out.push(v);
        }
    }
    Ok(out)
}

// ----- requests -----

/// A structured-output format (`output_config.format` or the beta `output_format`):
/// `{"type": "json_schema", "schema": {…}}`.
fn format_from(v: &Value, path: &str) -> Result<ResponseFormat, ApiError> {
    let f = obj(v, path)?;
    match f.get("type").and_then(Value::as_str) {
        Some("json_schema") => {
            let schema = match f.get("schema") {
                Some(s @ Value::Object(_)) => s.to_string(),
                None | Some(Value::Null) => {
                    return Err(bad(format!("{path}.schema: field required")))
                }
                Some(x) => {
                    return Err(bad(format!(
                        "{path}.schema: expected object, got {}",
                        type_name(x)
                    )))
                }
            };
            Ok(ResponseFormat::JsonSchema(JsonSchemaFormat {
                name: None,
                description: None,
                schema,
                strict: None,
            }))
        }
        Some(t) => Err(bad(format!(
            "{path}.type: unknown output format type \"{t}\" (expected \"json_schema\")"
        ))),
        None => Err(bad(format!("{path}.type: field required"))),
    }
}

/// The response format of a request (GA `output_config.format`, or the older beta
/// `output_format`), and the rest of `output_config` (kept in `extra`, so an
/// Anthropic request translated back to Anthropic is unchanged).
fn output_format_from(
    output_config: Option<Value>,
    output_format: Option<Value>,
) -> Result<(Option<ResponseFormat>, Obj), ApiError> {
    let mut rest = Map::new();
    let mut format = None;
    if let Some(oc) = output_config.filter(|v| !v.is_null()) {
        let Value::Object(mut oc) = oc else {
            return Err(bad(format!(
                "output_config: expected object, got {}",
                type_name(&oc)
            )));
        };
        // (`remove` as before: the keys left keep the order they always had.)
        if let Some(f) = oc.shift_remove("format").filter(|f| !f.is_null()) {
            format = Some(format_from(&f, "output_config.format")?);
        }
        if !oc.is_empty() {
            rest.insert("output_config".into(), Value::Object(oc));
        }
    }
    if let Some(f) = output_format.filter(|v| !v.is_null()) {
        if format.is_some() {
            return Err(bad(
                "output_format: not allowed together with output_config.format (output_format is its deprecated beta form)"
                    .to_string(),
            ));
        }
        format = Some(format_from(&f, "output_format")?);
    }
    Ok((format, rest))
}

fn tool_from(v: &Value, path: &str) -> Result<ToolDefinition, ApiError> {
    let o = obj(v, path)?;
    let name = req_str(o, "name", path)?;
    let ty = opt_str(o, "type", path)?;
    match ty.as_deref() {
        None | Some("custom") => Ok(ToolDefinition {
            kind: ToolKind::Function,
            name,
            description: opt_str(o, "description", path)?,
            parameters: o.get("input_schema").map(Value::to_string),
            strict: o.get("strict").and_then(Value::as_bool),
            namespace: None,
            cache_control: cache_control_from(o),
            extra: extra_of(
                o,
                &[
                    "name",
                    "description",
                    "input_schema",
                    "strict",
                    "cache_control",
                ],
            ),
        }),
        Some(t) => Ok(ToolDefinition {
            kind: ToolKind::Builtin(t.to_string()),
            name,
            description: None,
            parameters: None,
            strict: None,
            namespace: None,
            cache_control: cache_control_from(o),
            extra: extra_of(o, &["type", "name", "cache_control"]),
        }),
    }
}

/// Anthropic's (type, name) for a builtin tool: another dialect's web search
/// (Responses `web_search`, `web_search_preview…`, Gemini `google_search`) is
/// Anthropic's `web_search_20250305`, whose name must be `web_search`; Anthropic's own
/// dated types (`web_search_YYYYMMDD`, …) pass unchanged.
fn anthropic_builtin<'a>(ty: &'a str, name: &'a str) -> (&'a str, &'a str) {
    let dated = ty
        .strip_prefix("web_search_")
        .is_some_and(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()));
    if !dated && (ty.starts_with("web_search") || ty == "google_search") {
        ("web_search_20250305", "web_search")
    } else {
        (ty, name)
    }
}

fn tool_to(t: &ToolDefinition) -> Value {
    let mut m = Map::new();
    match &t.kind {
        ToolKind::Builtin(ty) => {
            let (ty, name) = anthropic_builtin(ty, &t.name);
            m.insert("type".into(), json!(ty));
            m.insert("name".into(), json!(name));
        }
        ToolKind::Custom => {
            // No free-form tools here: a function taking one string (see
            // `tollgate_sdk::tools`); the host unwraps the calls on the way back.
            m.insert(
                "name".into(),
                json!(flat_name(&t.name, t.namespace.as_deref())),
            );
            if let Some(d) = custom_description(t) {
                m.insert("description".into(), json!(d));
            }
            m.insert("input_schema".into(), custom_input_schema());
        }
        ToolKind::Function => {
            m.insert(
                "name".into(),
                json!(flat_name(&t.name, t.namespace.as_deref())),
            );
            if let Some(d) = &t.description {
                m.insert("description".into(), json!(d));
            }
            let schema = t
                .parameters
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            m.insert("input_schema".into(), schema);
            if let Some(s) = t.strict {
                m.insert("strict".into(), json!(s));
            }
        }
    }
    cache_control_to(&mut m, t.cache_control.as_ref());
    merge_extra(&mut m, t.extra.as_ref());
    Value::Object(m)
}

/// The fields of a request that `decode_request` reads, moved out of the parsed body
/// (the others, in order, are the request's `extra`).
#[derive(Default)]
struct RequestFields {
    model: Option<Value>,
    system: Option<Value>,
    messages: Option<Value>,
    tools: Option<Value>,
    tool_choice: Option<Value>,
    thinking: Option<Value>,
    max_tokens: Option<Value>,
    temperature: Option<Value>,
    top_p: Option<Value>,
    top_k: Option<Value>,
    stop_sequences: Option<Value>,
    stream: Option<Value>,
    metadata: Option<Value>,
    output_config: Option<Value>,
    output_format: Option<Value>,
    rest: Obj,
}

impl RequestFields {
    fn take(o: Obj) -> RequestFields {
        let mut f = RequestFields::default();
        for (k, v) in o {
            let slot = match k.as_str() {
                "model" => &mut f.model,
                "system" => &mut f.system,
                "messages" => &mut f.messages,
                "tools" => &mut f.tools,
                "tool_choice" => &mut f.tool_choice,
                "thinking" => &mut f.thinking,
                "max_tokens" => &mut f.max_tokens,
                "temperature" => &mut f.temperature,
                "top_p" => &mut f.top_p,
                "top_k" => &mut f.top_k,
                "stop_sequences" => &mut f.stop_sequences,
                "stream" => &mut f.stream,
                "metadata" => &mut f.metadata,
                "output_config" => &mut f.output_config,
                "output_format" => &mut f.output_format,
                _ => {
                    f.rest.insert(k, v);
                    continue;
                }
            };
            *slot = Some(v);
        }
        f
    }
}

/// Decode one message of a request (`i` its index, for error messages).
fn message_from(i: usize, m: Value) -> Result<Message, ApiError> {
    let path = || format!("messages.{i}");
    let Value::Object(mo) = m else {
        return Err(bad(format!(
            "{}: expected object, got {}",
            path(),
            type_name(&m)
        )));
    };
    let mut role = None;
    let mut content = None;
    let mut rest = Map::new();
    for (k, v) in mo {
        match k.as_str() {
            "role" => role = Some(v),
            "content" => content = Some(v),
            _ => {
                rest.insert(k, v);
            }
        }
    }
    let role = match role.as_ref().and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("system") => Role::System,
        Some(r) => return Err(bad(format!("{}.role: unknown role \"{r}\"", path()))),
        None => return Err(bad(format!("{}.role: field required", path()))),
    };
    let content = decode_blocks_owned(content.unwrap_or(Value::Null), &|| {
        format!("messages.{i}.content")
    })?;
    Ok(Message {
        role,
        content,
        name: None,
        extra: extra_from_map(rest),
    })
}

/// Decode an Anthropic request into the canonical model.
pub fn decode_request(
    op: Operation,
    body: &[u8],
    path_model: Option<String>,
    stream: bool,
) -> Result<ChatRequest, ApiError> {
    if op == Operation::ListModels {
        return Err(bad("list-models has no request body to decode".to_string()));
    }
    let Value::Object(o) = parse_object(body)? else {
        return Err(bad("request: expected object".to_string()));
    };
    let f = RequestFields::take(o);
    let model = match (owned_str(f.model, "model", "request")?, path_model) {
        (Some(m), _) | (None, Some(m)) => m,
        (None, None) => return Err(bad("model: field required".to_string())),
    };
    let mut system = Vec::new();
    match f.system {
        None | Some(Value::Null) => {}
        Some(s) => {
            for b in decode_blocks_owned(s, &|| "system".to_string())? {
                match b {
                    ContentBlock::Text(t) => system.push(t),
                    _ => return Err(bad("system: only text blocks are allowed".to_string())),
                }
            }
        }
    }
    let mut messages = Vec::new();
    if let Some(ms) = f.messages.filter(|m| !m.is_null()) {
        let Value::Array(ms) = ms else {
            return Err(bad(format!(
                "messages: expected array, got {}",
                type_name(&ms)
            )));
        };
        messages.reserve_exact(ms.len());
        for (i, m) in ms.into_iter().enumerate() {
            messages.push(message_from(i, m)?);
        }
    } else if op == Operation::Chat {
        return Err(bad("messages: field required".to_string()));
    }
    let mut tools = Vec::new();
    if let Some(ts) = f.tools.as_ref().filter(|t| !t.is_null()) {
        let ts = ts
            .as_array()
            .ok_or_else(|| bad(format!("tools: expected array, got {}", type_name(ts))))?;
        tools.reserve_exact(ts.len());
        for (i, t) in ts.iter().enumerate() {
            tools.push(tool_from(t, &format!("tools.{i}"))?);
        }
    }
    let mut tool_choice = None;
    let mut parallel_tool_calls = None;
    if let Some(tc) = f.tool_choice.as_ref().filter(|t| !t.is_null()) {
        let tco = obj(tc, "tool_choice")?;
        tool_choice = Some(match tco.get("type").and_then(Value::as_str) {
            Some("auto") => ToolChoice::Auto,
            Some("any") => ToolChoice::Required,
            Some("none") => ToolChoice::None,
            Some("tool") => ToolChoice::Tool(req_str(tco, "name", "tool_choice")?),
            _ => {
                return Err(bad(
                    "tool_choice.type: expected auto, any, tool or none".to_string()
                ))
            }
        });
        if let Some(d) = tco
            .get("disable_parallel_tool_use")
            .and_then(Value::as_bool)
        {
            parallel_tool_calls = Some(!d);
        }
    }
    let thinking = match f.thinking.as_ref().filter(|t| !t.is_null()) {
        None => None,
        Some(t) => {
            let to = obj(t, "thinking")?;
            Some(ThinkingConfig {
                enabled: to.get("type").and_then(Value::as_str) != Some("disabled"),
                budget_tokens: opt_u32(to, "budget_tokens")?,
                effort: None,
                summary: None,
            })
        }
    };
    let stop = match f.stop_sequences {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|s| match s {
                Value::String(s) => Ok(s),
                _ => Err(bad("stop_sequences: expected strings".to_string())),
            })
            .collect::<Result<_, _>>()?,
        Some(x) => {
            return Err(bad(format!(
                "stop_sequences: expected array, got {}",
                type_name(&x)
            )))
        }
    };
    let body_stream = match f.stream {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(x) => {
            return Err(bad(format!(
                "stream: expected boolean, got {}",
                type_name(&x)
            )))
        }
    };
    let metadata = f.metadata.filter(|m| !m.is_null());
    let (response_format, output_rest) = output_format_from(f.output_config, f.output_format)?;
    let mut rest = f.rest;
    rest.extend(output_rest);
    Ok(ChatRequest {
        model,
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        sampling: Sampling {
            max_tokens: u32_val(f.max_tokens.as_ref(), "max_tokens")?,
            temperature: f64_val(f.temperature.as_ref(), "temperature")?,
            top_p: f64_val(f.top_p.as_ref(), "top_p")?,
            top_k: u32_val(f.top_k.as_ref(), "top_k")?,
            stop,
            seed: None,
            presence_penalty: None,
            frequency_penalty: None,
            candidates: None,
        },
        thinking,
        response_format,
        stream: stream || body_stream,
        stream_include_usage: false,
        user: metadata
            .as_ref()
            .and_then(|m| m.get("user_id"))
            .and_then(Value::as_str)
            .map(str::to_string),
        metadata: metadata.as_ref().map(Value::to_string),
        extra: extra_from_map(rest),
    })
}

/// Anthropic's `output_config.format` for a canonical response format. Only a JSON
/// schema has one: its `name`, `description` and `strict` have no Anthropic field (and
/// are not sent); `json_object` (JSON without a schema) has no Anthropic equivalent and
/// is not sent either; `text` is the default.
fn output_format_to(f: Option<&ResponseFormat>) -> Result<Option<Value>, ApiError> {
    let Some(ResponseFormat::JsonSchema(js)) = f else {
        return Ok(None);
    };
    let schema: Value = serde_json::from_str(&js.schema).map_err(|e| {
        bad(format!(
            "response_format: the JSON schema is not valid JSON: {e}"
        ))
    })?;
    if !schema.is_object() {
        return Err(bad(format!(
            "response_format: the JSON schema must be a JSON object, got {}",
            type_name(&schema)
        )));
    }
    Ok(Some(json!({"type": "json_schema", "schema": schema})))
}

/// One field of an Anthropic-sourced `extra` (other dialects' extras mean nothing here).
fn anthropic_extra_field(extra: Option<&Extra>, key: &str) -> Option<Value> {
    let e = extra.filter(|e| e.source == Dialect::Anthropic)?;
    match serde_json::from_str::<Value>(&e.fields) {
        Ok(Value::Object(mut fields)) => fields.remove(key),
        _ => None,
    }
}

/// The Anthropic request body for a canonical request.
pub fn request_body(
    op: Operation,
    r: &ChatRequest,
    model: &str,
    default_max: u32,
) -> Result<Value, ApiError> {
    let mut m = Map::new();
    m.insert("model".into(), Value::from(model));
    if op == Operation::Chat {
        m.insert(
            "max_tokens".into(),
            json!(r.sampling.max_tokens.unwrap_or(default_max)),
        );
    }
    if !r.system.is_empty() {
        let plain = r.system.len() == 1
            && r.system[0].cache_control.is_none()
            && r.system[0].citations.is_none()
            && r.system[0].extra.is_none();
        if plain {
            m.insert("system".into(), Value::String(r.system[0].text.clone()));
        } else {
            let blocks: Vec<ContentBlock> =
                r.system.iter().cloned().map(ContentBlock::Text).collect();
            m.insert("system".into(), Value::Array(encode_blocks(&blocks)?));
        }
    }
    let mut messages = Vec::with_capacity(r.messages.len());
    for msg in &r.messages {
        let role = match msg.role {
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
            Role::System | Role::Developer => "system",
        };
        let mut mm = Map::new();
        mm.insert("role".into(), Value::from(role));
        let plain_text = match msg.content.as_slice() {
            [ContentBlock::Text(t)]
                if t.cache_control.is_none() && t.citations.is_none() && t.extra.is_none() =>
            {
                Some(t.text.clone())
            }
            _ => None,
        };
        match plain_text {
            Some(t) => mm.insert("content".into(), Value::String(t)),
            None => mm.insert("content".into(), Value::Array(encode_blocks(&msg.content)?)),
        };
        merge_extra(&mut mm, msg.extra.as_ref());
        messages.push(Value::Object(mm));
    }
    m.insert("messages".into(), Value::Array(messages));
    if !r.tools.is_empty() {
        m.insert(
            "tools".into(),
            Value::Array(r.tools.iter().map(tool_to).collect()),
        );
    }
    if r.tool_choice.is_some() || r.parallel_tool_calls == Some(false) {
        let mut tc = Map::new();
        match r.tool_choice.as_ref().unwrap_or(&ToolChoice::Auto) {
            ToolChoice::Auto => tc.insert("type".into(), json!("auto")),
            ToolChoice::None => tc.insert("type".into(), json!("none")),
            ToolChoice::Required => tc.insert("type".into(), json!("any")),
            ToolChoice::Tool(n) => {
                tc.insert("type".into(), json!("tool"));
                tc.insert("name".into(), json!(n))
            }
        };
        if let Some(p) = r.parallel_tool_calls {
            tc.insert("disable_parallel_tool_use".into(), json!(!p));
        }
        m.insert("tool_choice".into(), Value::Object(tc));
    }
    // Anthropic refuses thinking that it cannot honour: a budget not below
    // `max_tokens` (the budget is clamped), a forced tool choice or `max_tokens` of
    // 1024 or less (thinking is not sent), and sampling other than temperature 1,
    // `top_p` ≥ 0.95 and no `top_k` (those settings are not sent). Other dialects
    // (an OpenAI `reasoning_effort` with `temperature: 0.2`) combine them freely.
    let mut thinking_on = false;
    if let Some(t) = &r.thinking {
        let max_tokens = r.sampling.max_tokens.unwrap_or(default_max);
        let forced = matches!(
            r.tool_choice,
            Some(ToolChoice::Required) | Some(ToolChoice::Tool(_))
        );
        if t.enabled && !forced && max_tokens > 1024 {
            let budget = t.budget_tokens.unwrap_or(match t.effort.as_deref() {
                Some("minimal") | Some("low") => 1024,
                Some("high") => 16384,
                _ => 4096,
            });
            let budget = budget.min(max_tokens - 1).max(1024);
            m.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
            thinking_on = true;
        } else if !t.enabled {
            m.insert("thinking".into(), json!({"type": "disabled"}));
        }
    }
    let s = &r.sampling;
    if let Some(t) = s.temperature.filter(|t| !thinking_on || *t == 1.0) {
        m.insert("temperature".into(), json!(t));
    }
    if let Some(p) = s.top_p.filter(|p| !thinking_on || *p >= 0.95) {
        m.insert("top_p".into(), json!(p));
    }
    if let Some(k) = s.top_k.filter(|_| !thinking_on) {
        m.insert("top_k".into(), json!(k));
    }
    if !s.stop.is_empty() {
        m.insert("stop_sequences".into(), json!(s.stop));
    }
    if r.stream && op == Operation::Chat {
        m.insert("stream".into(), json!(true));
    }
    if let Some(u) = &r.user {
        m.insert("metadata".into(), json!({"user_id": u}));
    }
    let format = output_format_to(r.response_format.as_ref())?;
    if let Some(f) = &format {
        // Into the `output_config` the request already carries (`effort`, …), the
        // canonical format replacing any `format` there.
        let mut oc = match anthropic_extra_field(r.extra.as_ref(), "output_config") {
            Some(Value::Object(oc)) => oc,
            _ => Map::new(),
        };
        oc.insert("format".into(), f.clone());
        m.insert("output_config".into(), Value::Object(oc));
    }
    if let Some(e) = &r.extra {
        merge_extra(&mut m, Some(e));
    }
    if format.is_some() {
        // The deprecated beta field may not accompany `output_config.format`.
        m.shift_remove("output_format");
    }
    Ok(Value::Object(m))
}

/// The bytes of text a request carries (to size its serialized body).
fn text_size(r: &ChatRequest) -> usize {
    let blocks: usize = r
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .map(|b| match b {
            ContentBlock::Text(t) => t.text.len(),
            ContentBlock::Thinking(t) => t.text.len(),
            ContentBlock::ToolCall(c) => c.arguments.len(),
            _ => 64,
        })
        .sum();
    blocks + r.system.iter().map(|t| t.text.len()).sum::<usize>()
}

/// Build the upstream request for a canonical request.
pub fn encode_request(
    op: Operation,
    r: &ChatRequest,
    target: &TargetInfo,
) -> Result<UpstreamRequest, ApiError> {
    let headers = vec![
        Header::new("content-type", "application/json"),
        Header::new("anthropic-version", ANTHROPIC_VERSION),
    ];
    if op == Operation::ListModels {
        return Ok(UpstreamRequest {
            method: "GET".into(),
            path: "/v1/models".into(),
            headers,
            body: Vec::new(),
            stream: false,
        });
    }
    let options: Value = if target.options.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&target.options).unwrap_or(Value::Null)
    };
    let default_max = options
        .get("default_max_tokens")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let model = if target.model.is_empty() {
        &r.model
    } else {
        &target.model
    };
    let body = match request_body(op, r, model, default_max)? {
        Value::Object(m) => to_bytes(&m, 512 + text_size(r)),
        v => v.to_string().into_bytes(),
    };
    let stream = r.stream && op == Operation::Chat;
    Ok(UpstreamRequest {
        method: "POST".into(),
        path: if op == Operation::CountTokens {
            "/v1/messages/count_tokens".into()
        } else {
            "/v1/messages".into()
        },
        headers,
        body,
        stream,
    })
}

// ----- responses -----

/// Decode a complete Anthropic response.
pub fn decode_response(op: Operation, body: &[u8]) -> Result<ChatResponse, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_gateway(format!("upstream response is not JSON: {e}")))?;
    let o = v.as_object().ok_or_else(|| {
        ApiError::bad_gateway("upstream response is not a JSON object".to_string())
    })?;
    let upstream = |e: ApiError| ApiError::bad_gateway(format!("upstream response: {}", e.message));
    if op == Operation::CountTokens {
        let mut usage = tollgate_sdk::provider::Usage::empty();
        usage.input_tokens = o.get("input_tokens").and_then(Value::as_u64);
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
    let Value::Object(o) = v else {
        return Err(ApiError::bad_gateway(
            "upstream response is not a JSON object".to_string(),
        ));
    };
    // Take the body apart: the fields read here are moved out, the rest (in order)
    // is the response's `extra`.
    let (mut id, mut model, mut content) = (None, None, None);
    let (mut stop_reason, mut stop_sequence, mut usage) = (None, None, None);
    let mut rest = Map::new();
    for (k, v) in o {
        match k.as_str() {
            "id" => id = Some(v),
            "model" => model = Some(v),
            "content" => content = Some(v),
            "stop_reason" => stop_reason = Some(v),
            "stop_sequence" => stop_sequence = Some(v),
            "usage" => usage = Some(v),
            "type" | "role" => {}
            _ => {
                rest.insert(k, v);
            }
        }
    }
    Ok(ChatResponse {
        id: owned_str(id, "id", "response")
            .map_err(upstream)?
            .unwrap_or_default(),
        model: owned_str(model, "model", "response")
            .map_err(upstream)?
            .unwrap_or_default(),
        content: match content {
            None | Some(Value::Null) => Vec::new(),
            Some(c) => decode_blocks_owned(c, &|| "content".to_string()).map_err(upstream)?,
        },
        stop_reason: stop_reason
            .as_ref()
            .and_then(Value::as_str)
            .map(stop_reason_from),
        stop_sequence: match stop_sequence {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        usage: usage.as_ref().map(usage_from).unwrap_or_default(),
        extra: extra_from_map(rest),
    })
}

/// Encode a canonical response as an Anthropic Messages response.
pub fn encode_response(r: &ChatResponse) -> Result<Vec<u8>, ApiError> {
    let mut m = Map::new();
    m.insert(
        "id".into(),
        json!(if r.id.is_empty() {
            "msg_tollgate"
        } else {
            r.id.as_str()
        }),
    );
    m.insert("type".into(), Value::from("message"));
    m.insert("role".into(), Value::from("assistant"));
    m.insert("model".into(), Value::String(r.model.clone()));
    // Unsigned thinking (vLLM `reasoning_content`, Gemini thoughts, Responses
    // summaries without encrypted content) is shown to the client with an empty
    // signature, as the stream encoder shows it; requests drop it again.
    let mut content = Vec::with_capacity(r.content.len());
    let mut text_len = 0;
    for b in &r.content {
        let v = match b {
            ContentBlock::Thinking(t) if t.signature.is_none() => {
                encode_block(&ContentBlock::Thinking(ThinkingBlock {
                    signature: Some(String::new()),
                    ..t.clone()
                }))?
            }
            b => encode_block(b)?,
        };
        if let ContentBlock::Text(t) = b {
            text_len += t.text.len();
        }
        content.extend(v);
    }
    m.insert("content".into(), Value::Array(content));
    m.insert(
        "stop_reason".into(),
        r.stop_reason
            .map_or(Value::Null, |s| Value::from(stop_reason_to(s))),
    );
    m.insert(
        "stop_sequence".into(),
        r.stop_sequence.clone().map_or(Value::Null, Value::String),
    );
    m.insert("usage".into(), usage_to(&r.usage));
    merge_extra(&mut m, r.extra.as_ref());
    Ok(to_bytes(&m, 256 + text_len + r.id.len() + r.model.len()))
}

/// `m` serialized into a buffer of `capacity` bytes (the same bytes as
/// `Value::to_string`, without regrowing the buffer).
fn to_bytes(m: &Obj, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    // Serializing a map of JSON values into memory cannot fail.
    let _ = serde_json::to_writer(&mut out, m);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const RICH: &str = r#"{
      "model": "claude-sonnet-4-5-20250929",
      "max_tokens": 2048,
      "system": [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Project rules.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
      ],
      "messages": [
        {"role": "system", "content": "Reminder: be careful."},
        {"role": "user", "content": [
          {"type": "text", "text": "What is in this image and doc?"},
          {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
          {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
          {"type": "image", "source": {"type": "file", "file_id": "file_123"}},
          {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
           "title": "Spec", "context": "internal", "citations": {"enabled": true}, "cache_control": {"type": "ephemeral"}},
          {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}},
          {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
          {"type": "document", "source": {"type": "file", "file_id": "file_456"}}
        ]},
        {"role": "assistant", "content": [
          {"type": "thinking", "thinking": "Let me look.", "signature": "sig=="},
          {"type": "redacted_thinking", "data": "opaque"},
          {"type": "text", "text": "Running a tool."},
          {"type": "tool_use", "id": "toolu_01", "name": "read_file", "input": {"path": "a.rs", "n": 1}},
          {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
          {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}
        ]},
        {"role": "user", "content": [
          {"type": "tool_result", "tool_use_id": "toolu_01", "content": "fn main() {}"},
          {"type": "tool_result", "tool_use_id": "toolu_02", "is_error": true,
           "content": [{"type": "text", "text": "oops"}, {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lG"}}],
           "cache_control": {"type": "ephemeral"}},
          {"type": "text", "text": "Continue.", "cache_control": {"type": "ephemeral"}}
        ]}
      ],
      "tools": [
        {"name": "read_file", "description": "Read a file", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
         "cache_control": {"type": "ephemeral"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5, "allowed_domains": ["example.com"]},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}
      ],
      "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
      "thinking": {"type": "enabled", "budget_tokens": 1024},
      "temperature": 1.0,
      "top_p": 0.95,
      "stop_sequences": ["STOP"],
      "stream": true,
      "metadata": {"user_id": "user-42"},
      "service_tier": "auto",
      "container": "c1"
    }"#;

    fn target(model: &str) -> TargetInfo {
        TargetInfo {
            model: model.to_string(),
            options: "{}".to_string(),
        }
    }

    #[test]
    fn rich_request_round_trips() {
        let r = decode_request(Operation::Chat, RICH.as_bytes(), None, false).unwrap();
        assert_eq!(r.system.len(), 2);
        assert_eq!(r.messages[0].role, Role::System);
        assert!(r.stream);
        assert_eq!(r.parallel_tool_calls, Some(false));
        assert_eq!(r.user.as_deref(), Some("user-42"));
        assert!(matches!(r.tools[1].kind, ToolKind::Builtin(ref t) if t == "web_search_20250305"));
        assert!(matches!(r.messages[2].content[4], ContentBlock::Other(_)));
        let ContentBlock::Thinking(t) = &r.messages[2].content[0] else {
            panic!()
        };
        assert_eq!(t.signature.as_deref(), Some("sig=="));
        let ContentBlock::ToolResult(tr) = &r.messages[3].content[1] else {
            panic!()
        };
        assert!(tr.is_error && tr.content.len() == 2);

        let up =
            encode_request(Operation::Chat, &r, &target("claude-sonnet-4-5-20250929")).unwrap();
        assert_eq!(
            (up.method.as_str(), up.path.as_str(), up.stream),
            ("POST", "/v1/messages", true)
        );
        assert!(up
            .headers
            .iter()
            .any(|h| h.name == "anthropic-version" && h.value == ANTHROPIC_VERSION));
        let got: Value = serde_json::from_slice(&up.body).unwrap();
        let want: Value = serde_json::from_str(RICH).unwrap();
        assert_eq!(got, want, "\n got: {got:#}");

        // And canonical -> anthropic -> canonical is a fixed point.
        let again = decode_request(Operation::Chat, &up.body, None, false).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn foreign_web_search_becomes_anthropic_web_search() {
        let tool = |ty: &str, name: &str| ToolDefinition {
            kind: ToolKind::Builtin(ty.into()),
            name: name.into(),
            description: None,
            parameters: None,
            strict: None,
            namespace: None,
            cache_control: None,
            extra: None,
        };
        for (ty, name) in [
            ("web_search", "web_search"),
            ("web_search_preview", "web_search_preview"),
            ("web_search_2025_08_26", "web_search"),
            ("google_search", "google_search"),
        ] {
            assert_eq!(
                tool_to(&tool(ty, name)),
                json!({"type": "web_search_20250305", "name": "web_search"}),
                "{ty}"
            );
        }
        // Anthropic's own dated types and other builtins pass unchanged.
        assert_eq!(
            tool_to(&tool("web_search_20250305", "web_search")),
            json!({"type": "web_search_20250305", "name": "web_search"})
        );
        assert_eq!(
            tool_to(&tool("bash_20250124", "bash")),
            json!({"type": "bash_20250124", "name": "bash"})
        );
    }

    #[test]
    fn unsigned_thinking_is_shown_and_not_sent_back() {
        let r = ChatResponse {
            id: "x".into(),
            model: "m".into(),
            content: vec![
                ContentBlock::Thinking(ThinkingBlock {
                    text: "Thinking — é".into(),
                    signature: None,
                    extra: None,
                }),
                ContentBlock::Text(TextBlock {
                    text: "hi".into(),
                    cache_control: None,
                    citations: None,
                    extra: None,
                }),
            ],
            stop_reason: None,
            stop_sequence: None,
            usage: tollgate_sdk::provider::Usage::empty(),
            extra: None,
        };
        let v: Value = serde_json::from_slice(&encode_response(&r).unwrap()).unwrap();
        assert_eq!(
            v["content"][0],
            json!({"type": "thinking", "thinking": "Thinking — é", "signature": ""})
        );
        // The client echoes it back: no signature, so it is not sent upstream.
        let body = json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": v["content"].clone()},
            {"role": "user", "content": "more"}
        ]});
        let req =
            decode_request(Operation::Chat, body.to_string().as_bytes(), None, false).unwrap();
        assert!(
            matches!(&req.messages[1].content[0], ContentBlock::Thinking(t) if t.signature.is_none())
        );
        let up = request_body(Operation::Chat, &req, "m", DEFAULT_MAX_TOKENS).unwrap();
        assert_eq!(
            up["messages"][1]["content"],
            json!([{"type": "text", "text": "hi"}])
        );
    }

    #[test]
    fn thinking_is_made_acceptable_to_anthropic() {
        // An OpenAI client: reasoning_effort medium (4096) with a 2048 cap and
        // temperature 0.2.
        let mut r = decode_request(
            Operation::Chat,
            br#"{"model":"m","max_tokens":2048,"temperature":0.2,"top_p":0.9,"top_k":5,"messages":[{"role":"user","content":"hi"}]}"#,
            None,
            false,
        )
        .unwrap();
        r.thinking = Some(ThinkingConfig {
            enabled: true,
            budget_tokens: None,
            effort: Some("medium".into()),
            summary: None,
        });
        let v = request_body(Operation::Chat, &r, "m", DEFAULT_MAX_TOKENS).unwrap();
        assert_eq!(
            v["thinking"],
            json!({"type": "enabled", "budget_tokens": 2047})
        );
        assert!(
            v.get("temperature").is_none() && v.get("top_p").is_none() && v.get("top_k").is_none(),
            "{v}"
        );
        // A forced tool choice: no thinking, sampling kept.
        r.tool_choice = Some(ToolChoice::Required);
        let v = request_body(Operation::Chat, &r, "m", DEFAULT_MAX_TOKENS).unwrap();
        assert!(v.get("thinking").is_none(), "{v}");
        assert_eq!(
            (v["temperature"].clone(), v["top_k"].clone()),
            (json!(0.2), json!(5))
        );
        // Within limits nothing changes.
        r.tool_choice = None;
        r.sampling.max_tokens = Some(32000);
        r.sampling.temperature = Some(1.0);
        r.sampling.top_p = Some(0.95);
        r.sampling.top_k = None;
        let v = request_body(Operation::Chat, &r, "m", DEFAULT_MAX_TOKENS).unwrap();
        assert_eq!(
            v["thinking"],
            json!({"type": "enabled", "budget_tokens": 4096})
        );
        assert_eq!(
            (v["temperature"].clone(), v["top_p"].clone()),
            (json!(1.0), json!(0.95))
        );
    }

    #[test]
    fn model_comes_from_target_and_defaults() {
        let r = decode_request(
            Operation::Chat,
            br#"{"model":"a","messages":[{"role":"user","content":"hi"}]}"#,
            None,
            false,
        )
        .unwrap();
        let up = encode_request(Operation::Chat, &r, &target("b")).unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            v,
            json!({"model":"b","max_tokens":4096,"messages":[{"role":"user","content":"hi"}]})
        );
        let ct = encode_request(Operation::CountTokens, &r, &target("b")).unwrap();
        assert_eq!(ct.path, "/v1/messages/count_tokens");
        assert!(!String::from_utf8(ct.body).unwrap().contains("max_tokens"));
    }

    #[test]
    fn decode_errors_are_precise() {
        for (body, want) in [
            (r#"{"messages":[]}"#, "model"),
            (
                r#"{"model":"m","messages":[{"role":"user","content":7}]}"#,
                "messages.0.content: expected string or array",
            ),
            (
                r#"{"model":"m","messages":[{"role":"bot","content":"x"}]}"#,
                "messages.0.role",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}"#,
                "messages.0.content.0.text",
            ),
        ] {
            let e = decode_request(Operation::Chat, body.as_bytes(), None, false).unwrap_err();
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
    }

    const SCHEMA: &str = r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}"#;

    fn plain_request() -> ChatRequest {
        decode_request(
            Operation::Chat,
            br#"{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"A city?"}]}"#,
            None,
            false,
        )
        .unwrap()
    }

    fn schema_format(schema: &str) -> ResponseFormat {
        ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: Some("city".into()),
            description: Some("A city".into()),
            schema: schema.into(),
            strict: Some(true),
        })
    }

    #[test]
    fn json_schema_is_sent_as_output_config_format() {
        let mut r = plain_request();
        r.response_format = Some(schema_format(SCHEMA));
        let v = request_body(Operation::Chat, &r, "m", DEFAULT_MAX_TOKENS).unwrap();
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        // name, description and strict have no Anthropic field.
        assert_eq!(
            v["output_config"],
            json!({"format": {"type": "json_schema", "schema": schema}})
        );
        assert!(v.get("output_format").is_none(), "{v}");
        // Counting tokens takes the same field.
        let v = request_body(Operation::CountTokens, &r, "m", DEFAULT_MAX_TOKENS).unwrap();
        assert_eq!(v["output_config"]["format"]["schema"], schema);
        // JSON without a schema, and plain text: nothing is sent.
        for f in [ResponseFormat::JsonObject, ResponseFormat::Text] {
            r.response_format = Some(f);
            let v = request_body(Operation::Chat, &r, "m", DEFAULT_MAX_TOKENS).unwrap();
            assert!(
                v.get("output_config").is_none() && v.get("output_format").is_none(),
                "{v}"
            );
        }
    }

    #[test]
    fn json_schema_merges_into_an_extra_output_config() {
        let mut r = plain_request();
        r.extra = Some(Extra {
            source: Dialect::Anthropic,
            fields: json!({
                "output_config": {"effort": "high", "format": {"type": "json_schema", "schema": {"type": "string"}}},
                "output_format": {"type": "json_schema", "schema": {"type": "number"}},
                "container": "c1"
            })
            .to_string(),
        });
        r.response_format = Some(schema_format(SCHEMA));
        let v = request_body(Operation::Chat, &r, "m", DEFAULT_MAX_TOKENS).unwrap();
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        // The canonical format wins; the other keys stay.
        assert_eq!(
            v["output_config"],
            json!({"effort": "high", "format": {"type": "json_schema", "schema": schema}})
        );
        assert!(v.get("output_format").is_none(), "{v}");
        assert_eq!(v["container"], json!("c1"));
        // Without a canonical format the extra passes unchanged.
        r.response_format = None;
        r.extra = Some(Extra {
            source: Dialect::Anthropic,
            fields: json!({"output_config": {"effort": "high"}}).to_string(),
        });
        let v = request_body(Operation::Chat, &r, "m", DEFAULT_MAX_TOKENS).unwrap();
        assert_eq!(v["output_config"], json!({"effort": "high"}));
        // Another dialect's extra is not Anthropic's output_config.
        r.response_format = Some(schema_format(SCHEMA));
        r.extra = Some(Extra {
            source: Dialect::OpenaiChat,
            fields: json!({"output_config": {"effort": "high"}}).to_string(),
        });
        let v = request_body(Operation::Chat, &r, "m", DEFAULT_MAX_TOKENS).unwrap();
        assert_eq!(
            v["output_config"],
            json!({"format": {"type": "json_schema", "schema": schema}})
        );
    }

    #[test]
    fn a_schema_that_is_not_json_is_refused() {
        let mut r = plain_request();
        for (schema, want) in [
            ("{\"type\": \"object\"", "the JSON schema is not valid JSON"),
            ("not json", "the JSON schema is not valid JSON"),
            ("[1, 2]", "the JSON schema must be a JSON object, got array"),
        ] {
            r.response_format = Some(schema_format(schema));
            let e = request_body(Operation::Chat, &r, "m", DEFAULT_MAX_TOKENS).unwrap_err();
            assert_eq!(e.status, 400, "{schema}");
            assert_eq!(e.kind, tollgate_sdk::provider::ErrorKind::InvalidRequest);
            assert!(e.message.contains(want), "{schema}: {}", e.message);
            assert!(encode_request(Operation::Chat, &r, &target("m")).is_err());
        }
    }

    #[test]
    fn output_config_format_decodes_as_a_json_schema() {
        let body = json!({"model": "m", "max_tokens": 100,
            "messages": [{"role": "user", "content": "A city?"}],
            "output_config": {"effort": "high", "format": {"type": "json_schema",
                "schema": serde_json::from_str::<Value>(SCHEMA).unwrap()}}});
        let r = decode_request(Operation::Chat, body.to_string().as_bytes(), None, false).unwrap();
        let Some(ResponseFormat::JsonSchema(f)) = &r.response_format else {
            panic!("{:?}", r.response_format)
        };
        assert_eq!((&f.name, &f.description, f.strict), (&None, &None, None));
        assert_eq!(
            serde_json::from_str::<Value>(&f.schema).unwrap(),
            serde_json::from_str::<Value>(SCHEMA).unwrap()
        );
        // The other keys of output_config stay in extra, without the format.
        let extra: Value = serde_json::from_str(&r.extra.as_ref().unwrap().fields).unwrap();
        assert_eq!(extra, json!({"output_config": {"effort": "high"}}));
        // A format alone leaves no extra.
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}});
        let r = decode_request(Operation::Chat, body.to_string().as_bytes(), None, false).unwrap();
        assert!(r.extra.is_none(), "{:?}", r.extra);
        assert!(matches!(
            r.response_format,
            Some(ResponseFormat::JsonSchema(_))
        ));
    }

    #[test]
    fn beta_output_format_decodes_as_a_json_schema() {
        let body = json!({"model": "m", "max_tokens": 100,
            "messages": [{"role": "user", "content": "A city?"}],
            "output_format": {"type": "json_schema",
                "schema": serde_json::from_str::<Value>(SCHEMA).unwrap()}});
        let r = decode_request(Operation::Chat, body.to_string().as_bytes(), None, false).unwrap();
        let Some(ResponseFormat::JsonSchema(f)) = &r.response_format else {
            panic!("{:?}", r.response_format)
        };
        assert_eq!((&f.name, &f.description, f.strict), (&None, &None, None));
        assert_eq!(
            serde_json::from_str::<Value>(&f.schema).unwrap(),
            serde_json::from_str::<Value>(SCHEMA).unwrap()
        );
        assert!(r.extra.is_none(), "{:?}", r.extra);
        // Sent upstream in the GA form.
        let v = request_body(Operation::Chat, &r, "m", DEFAULT_MAX_TOKENS).unwrap();
        assert_eq!(
            v["output_config"]["format"],
            json!({"type": "json_schema", "schema": serde_json::from_str::<Value>(SCHEMA).unwrap()})
        );
        assert!(v.get("output_format").is_none(), "{v}");
    }

    #[test]
    fn bad_output_formats_are_refused() {
        for (extra, want) in [
            (
                json!({"output_config": {"format": {"type": "regex", "pattern": "a+"}}}),
                "output_config.format.type: unknown output format type \"regex\"",
            ),
            (
                json!({"output_format": {"type": "json_object"}}),
                "output_format.type: unknown output format type \"json_object\"",
            ),
            (
                json!({"output_config": {"format": {"schema": {}}}}),
                "output_config.format.type: field required",
            ),
            (
                json!({"output_config": {"format": {"type": "json_schema"}}}),
                "output_config.format.schema: field required",
            ),
            (
                json!({"output_config": {"format": {"type": "json_schema", "schema": "{}"}}}),
                "output_config.format.schema: expected object, got string",
            ),
            (
                json!({"output_config": "high"}),
                "output_config: expected object",
            ),
            (
                json!({"output_config": {"format": {"type": "json_schema", "schema": {}}},
                       "output_format": {"type": "json_schema", "schema": {}}}),
                "output_format: not allowed together with output_config.format",
            ),
        ] {
            let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let e = decode_request(Operation::Chat, body.to_string().as_bytes(), None, false)
                .unwrap_err();
            assert_eq!(e.status, 400, "{body}");
            assert_eq!(e.kind, tollgate_sdk::provider::ErrorKind::InvalidRequest);
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
    }

    #[test]
    fn output_config_round_trips_anthropic_to_anthropic() {
        let body = json!({"model": "claude-x", "max_tokens": 100,
            "messages": [{"role": "user", "content": "A city?"}],
            "output_config": {"effort": "high", "format": {"type": "json_schema",
                "schema": serde_json::from_str::<Value>(SCHEMA).unwrap()}},
            "container": "c1"});
        let r = decode_request(Operation::Chat, body.to_string().as_bytes(), None, false).unwrap();
        let up = encode_request(Operation::Chat, &r, &target("claude-x")).unwrap();
        let got: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(got, body, "\n got: {got:#}");
        assert_eq!(got["output_config"], body["output_config"]);
        // And canonical -> anthropic -> canonical is a fixed point.
        let again = decode_request(Operation::Chat, &up.body, None, false).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn response_round_trips() {
        let body = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-x",
          "content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"Hi","citations":[{"type":"char_location","cited_text":"a"}]},
                     {"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],
          "stop_reason":"tool_use","stop_sequence":null,
          "usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":5,"output_tokens":20,"service_tier":"standard"},
          "container":null}"#;
        let r = decode_response(Operation::Chat, body.as_bytes()).unwrap();
        assert_eq!(
            r.stop_reason,
            Some(tollgate_sdk::provider::StopReason::ToolUse)
        );
        assert_eq!(r.usage.output_tokens, Some(20));
        let out = encode_response(&r).unwrap();
        let got: Value = serde_json::from_slice(&out).unwrap();
        let want: Value = serde_json::from_str(body).unwrap();
        assert_eq!(got, want);
    }
}
