//! Full translation between Bedrock Converse JSON and the canonical chat model
//! (cross-dialect path): requests both ways, responses both ways, content blocks.
//!
//! Converse blocks are objects keyed by their kind (`{"text": …}`, `{"toolUse": …}`)
//! rather than tagged with `type`. Prompt-cache breakpoints are separate
//! `{"cachePoint": …}` blocks that follow the content they close; canonically they are
//! the `cache-control` of the block before them.

use std::collections::HashSet;

use serde_json::{json, Map, Value};
use tollgate_sdk::json::type_name;
use tollgate_sdk::provider::{
    ApiError, CacheControl, ChatRequest, ChatResponse, ContentBlock, DocumentBlock, Extra, Header,
    ImageBlock, InlineData, JsonSchemaFormat, MediaSource, Message, Operation, ResponseFormat,
    Role, Sampling, StopReason, TargetInfo, TextBlock, ThinkingBlock, ThinkingConfig, ToolCall,
    ToolChoice, ToolDefinition, ToolKind, ToolResult, ToolResultPart, UpstreamRequest, Usage,
};
use tollgate_sdk::tools::{
    custom_call_arguments, custom_description, custom_input_schema, flat_name,
};

use crate::wire::{
    encode_segment, extra_fields, extra_from, extra_of, merge_extra, stop_reason_from,
    stop_reason_to, usage_from, usage_to, DIALECT,
};

fn bad(msg: String) -> ApiError {
    ApiError::invalid_request(msg)
}

type Obj = Map<String, Value>;

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

fn req_str(o: &Obj, key: &str, path: &str) -> Result<String, ApiError> {
    opt_str(o, key, path)?.ok_or_else(|| bad(format!("{path}.{key}: field required")))
}

fn opt_u32(o: &Obj, key: &str, path: &str) -> Result<Option<u32>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(format!("{path}.{key}: expected a non-negative integer"))),
    }
}

fn opt_f64(o: &Obj, key: &str, path: &str) -> Result<Option<f64>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| {
            bad(format!(
                "{path}.{key}: expected a number, got {}",
                type_name(v)
            ))
        }),
    }
}

fn opt_array<'a>(o: &'a Obj, key: &str, path: &str) -> Result<&'a [Value], ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(bad(format!(
            "{path}.{key}: expected array, got {}",
            type_name(v)
        ))),
    }
}

/// The single key of a union object (`{"text": …}`), with its value.
fn union_of<'a>(v: &'a Value, path: &str) -> Result<(&'a str, &'a Value), ApiError> {
    let o = obj(v, path)?;
    let mut it = o.iter().filter(|(_, v)| !v.is_null());
    match (it.next(), it.next()) {
        (Some((k, v)), None) => Ok((k.as_str(), v)),
        (None, _) => Err(bad(format!("{path}: expected one member, got none"))),
        (Some(_), Some(_)) => Err(bad(format!(
            "{path}: expected exactly one member, got {}",
            o.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn other(v: &Value) -> ContentBlock {
    ContentBlock::Other(Extra {
        source: DIALECT,
        fields: v.to_string(),
    })
}

fn text(t: &str) -> ContentBlock {
    ContentBlock::Text(TextBlock {
        text: t.to_string(),
        cache_control: None,
        citations: None,
        extra: None,
    })
}

// ----- media types -----

const IMAGE_FORMATS: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
];

const DOCUMENT_FORMATS: &[(&str, &str)] = &[
    ("pdf", "application/pdf"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("html", "text/html"),
    ("txt", "text/plain"),
    ("md", "text/markdown"),
];

fn media_type_of(table: &[(&str, &str)], format: &str) -> String {
    table
        .iter()
        .find(|(f, _)| *f == format)
        .map_or_else(|| format!("application/x-{format}"), |(_, m)| m.to_string())
}

fn format_of(
    table: &'static [(&'static str, &'static str)],
    media_type: &str,
) -> Option<&'static str> {
    let mt = media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mt = match mt.as_str() {
        "image/jpg" => "image/jpeg",
        "text/x-markdown" => "text/markdown",
        m => m,
    };
    let by_media_type = table.iter().find(|(_, m)| *m == mt);
    // `application/x-<format>` is what `media_type_of` makes of formats it does not know.
    let by_format = || {
        mt.strip_prefix("application/x-")
            .and_then(|f| table.iter().find(|(t, _)| *t == f))
    };
    by_media_type.or_else(by_format).map(|(f, _)| *f)
}

// ----- cache points -----

fn cache_from_point(v: &Value) -> CacheControl {
    let kind = match v.get("type").and_then(Value::as_str) {
        None | Some("default") => "ephemeral".to_string(),
        Some(t) => t.to_string(),
    };
    CacheControl {
        kind,
        ttl: v.get("ttl").and_then(Value::as_str).map(str::to_string),
    }
}

fn cache_point(cc: &CacheControl) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!("default"));
    if let Some(ttl) = &cc.ttl {
        m.insert("ttl".into(), json!(ttl));
    }
    json!({ "cachePoint": m })
}

/// Put a cache point on `block`; false when the block has no slot or already has one.
fn attach_cache(block: &mut ContentBlock, cc: CacheControl) -> bool {
    let slot = match block {
        ContentBlock::Text(t) => &mut t.cache_control,
        ContentBlock::Image(i) => &mut i.cache_control,
        ContentBlock::Document(d) => &mut d.cache_control,
        ContentBlock::ToolCall(c) => &mut c.cache_control,
        ContentBlock::ToolResult(r) => &mut r.cache_control,
        _ => return false,
    };
    if slot.is_some() {
        return false;
    }
    *slot = Some(cc);
    true
}

// ----- blocks: Converse → canonical -----

/// A decoded media source: the source, the block's media type when the source does not
/// carry it, and fields to keep in the block's `extra`.
type Source = (MediaSource, Option<String>, Map<String, Value>);

/// A media source object (`{"bytes": …}`, `{"s3Location": …}`, `{"text": …}`).
/// `None` for a source the canonical model cannot name (`content`).
fn source_from(v: &Value, media_type: String, path: &str) -> Result<Option<Source>, ApiError> {
    let (kind, val) = union_of(v, path)?;
    let mut extra = Map::new();
    Ok(Some(match kind {
        "bytes" => {
            let data = val
                .as_str()
                .ok_or_else(|| bad(format!("{path}.bytes: expected a base64 string")))?;
            (
                MediaSource::Inline(InlineData {
                    media_type,
                    data: data.to_string(),
                }),
                None,
                extra,
            )
        }
        "s3Location" => {
            let s3 = obj(val, &format!("{path}.s3Location"))?;
            let uri = req_str(s3, "uri", &format!("{path}.s3Location"))?;
            let rest: Map<String, Value> = s3
                .iter()
                .filter(|(k, _)| *k != "uri")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !rest.is_empty() {
                extra.insert("s3Location".into(), Value::Object(rest));
            }
            (MediaSource::Url(uri), Some(media_type), extra)
        }
        "text" => {
            let t = val
                .as_str()
                .ok_or_else(|| bad(format!("{path}.text: expected string")))?;
            (MediaSource::Text(t.to_string()), Some(media_type), extra)
        }
        _ => return Ok(None),
    }))
}

fn image_from(v: &Value, path: &str) -> Result<ContentBlock, ApiError> {
    let o = obj(v, path)?;
    let format = req_str(o, "format", path)?;
    let src = o
        .get("source")
        .ok_or_else(|| bad(format!("{path}.source: field required")))?;
    let Some((source, media_type, mut extra)) = source_from(
        src,
        media_type_of(IMAGE_FORMATS, &format),
        &format!("{path}.source"),
    )?
    else {
        return Ok(other(&json!({ "image": v })));
    };
    if matches!(source, MediaSource::Text(_)) {
        return Err(bad(format!("{path}.source: an image has no text source")));
    }
    for (k, val) in o {
        if k != "format" && k != "source" {
            extra.insert(k.clone(), val.clone());
        }
    }
    Ok(ContentBlock::Image(ImageBlock {
        source,
        media_type,
        detail: None,
        cache_control: None,
        extra: extra_from(extra),
    }))
}

fn document_from(v: &Value, path: &str) -> Result<ContentBlock, ApiError> {
    let o = obj(v, path)?;
    let format = opt_str(o, "format", path)?;
    let src = o
        .get("source")
        .ok_or_else(|| bad(format!("{path}.source: field required")))?;
    let media_type = format.as_deref().map_or_else(
        || "text/plain".to_string(),
        |f| media_type_of(DOCUMENT_FORMATS, f),
    );
    let Some((source, mut media, mut extra)) =
        source_from(src, media_type, &format!("{path}.source"))?
    else {
        return Ok(other(&json!({ "document": v })));
    };
    if format.is_none() {
        // No format: the source alone says what it is.
        media = None;
        extra.insert("format".into(), Value::Null);
    }
    for (k, val) in o {
        if !["format", "source", "name", "context", "citations"].contains(&k.as_str()) {
            extra.insert(k.clone(), val.clone());
        }
    }
    Ok(ContentBlock::Document(DocumentBlock {
        source,
        media_type: media,
        title: opt_str(o, "name", path)?,
        context: opt_str(o, "context", path)?,
        citations: o
            .get("citations")
            .and_then(|c| c.get("enabled"))
            .and_then(Value::as_bool),
        filename: None,
        cache_control: None,
        extra: extra_from(extra),
    }))
}

fn tool_result_from(v: &Value, path: &str) -> Result<ContentBlock, ApiError> {
    let o = obj(v, path)?;
    let mut content = Vec::new();
    let mut json_parts = Vec::new();
    for (k, item) in opt_array(o, "content", path)?.iter().enumerate() {
        let p = format!("{path}.content.{k}");
        let (kind, val) = union_of(item, &p)?;
        content.push(match kind {
            "text" => ToolResultPart::Text(
                val.as_str()
                    .ok_or_else(|| bad(format!("{p}.text: expected string")))?
                    .to_string(),
            ),
            "json" => {
                json_parts.push(json!(k));
                ToolResultPart::Text(val.to_string())
            }
            "image" => match image_from(val, &format!("{p}.image"))? {
                ContentBlock::Image(i) => ToolResultPart::Image(i),
                _ => return Ok(other(&json!({ "toolResult": v }))),
            },
            "document" => match document_from(val, &format!("{p}.document"))? {
                ContentBlock::Document(d) => ToolResultPart::Document(d),
                _ => return Ok(other(&json!({ "toolResult": v }))),
            },
            _ => return Ok(other(&json!({ "toolResult": v }))),
        });
    }
    let status = opt_str(o, "status", path)?;
    let is_error = status.as_deref() == Some("error");
    // `"status": "success"` has no canonical slot: it stays in `extra`.
    let mut known = vec!["toolUseId", "content"];
    if status.as_deref() != Some("success") {
        known.push("status");
    }
    let mut extra = extra_fields(extra_of(o, &known).as_ref());
    if !json_parts.is_empty() {
        extra.insert("jsonParts".into(), Value::Array(json_parts));
    }
    Ok(ContentBlock::ToolResult(ToolResult {
        call_id: req_str(o, "toolUseId", path)?,
        name: None,
        content,
        is_error,
        cache_control: None,
        extra: extra_from(extra),
    }))
}

fn reasoning_from(v: &Value, path: &str) -> Result<ContentBlock, ApiError> {
    let (kind, val) = union_of(v, path)?;
    Ok(match kind {
        "reasoningText" => {
            let o = obj(val, &format!("{path}.reasoningText"))?;
            let p = format!("{path}.reasoningText");
            ContentBlock::Thinking(ThinkingBlock {
                text: opt_str(o, "text", &p)?.unwrap_or_default(),
                signature: opt_str(o, "signature", &p)?,
                extra: extra_of(o, &["text", "signature"]),
            })
        }
        "redactedContent" => ContentBlock::RedactedThinking(
            val.as_str()
                .ok_or_else(|| bad(format!("{path}.redactedContent: expected a base64 string")))?
                .to_string(),
        ),
        _ => other(&json!({ "reasoningContent": v })),
    })
}

/// A `guardContent` block: its text, marked so it is written back as `guardContent`.
fn guard_from(v: &Value, whole: &Value) -> ContentBlock {
    let Some(t) = v.get("text").and_then(Value::as_object) else {
        return other(whole);
    };
    let Some(s) = t.get("text").and_then(Value::as_str) else {
        return other(whole);
    };
    let rest: Map<String, Value> = t
        .iter()
        .filter(|(k, _)| *k != "text")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut marker = Map::new();
    marker.insert("guardContent".into(), Value::Object(rest));
    ContentBlock::Text(TextBlock {
        text: s.to_string(),
        cache_control: None,
        citations: None,
        extra: extra_from(marker),
    })
}

/// Decode one Converse content block other than `cachePoint` (see [`decode_blocks`]);
/// `path` names it in error messages.
fn decode_block(v: &Value, path: &str) -> Result<ContentBlock, ApiError> {
    let (kind, val) = union_of(v, path)?;
    let p = format!("{path}.{kind}");
    Ok(match kind {
        "text" => text(
            val.as_str()
                .ok_or_else(|| bad(format!("{p}: expected string, got {}", type_name(val))))?,
        ),
        "image" => image_from(val, &p)?,
        "document" => document_from(val, &p)?,
        "toolUse" => {
            let o = obj(val, &p)?;
            ContentBlock::ToolCall(ToolCall {
                id: req_str(o, "toolUseId", &p)?,
                name: req_str(o, "name", &p)?,
                arguments: o
                    .get("input")
                    .map_or_else(|| "{}".to_string(), Value::to_string),
                kind: ToolKind::Function,
                namespace: None,
                cache_control: None,
                extra: extra_of(o, &["toolUseId", "name", "input"]),
            })
        }
        "toolResult" => tool_result_from(val, &p)?,
        "reasoningContent" => reasoning_from(val, &p)?,
        "guardContent" => guard_from(val, v),
        _ => other(v),
    })
}

/// Decode a list of blocks, folding each `cachePoint` into the block before it.
pub fn decode_blocks(items: &[Value], path: &str) -> Result<Vec<ContentBlock>, ApiError> {
    let mut out: Vec<ContentBlock> = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let p = format!("{path}.{j}");
        if let Some(cp) = obj(item, &p)?.get("cachePoint") {
            let attached = out
                .last_mut()
                .is_some_and(|b| attach_cache(b, cache_from_point(cp)));
            if !attached {
                out.push(other(item));
            }
            continue;
        }
        out.push(decode_block(item, &p)?);
    }
    Ok(out)
}

// ----- blocks: canonical → Converse -----

/// State shared by the blocks of one request.
#[derive(Default)]
struct Enc {
    /// Document names used so far (Bedrock wants them unique).
    doc_names: HashSet<String>,
}

impl Enc {
    /// A valid, unique document name: alphanumerics, single spaces, hyphens,
    /// parentheses and square brackets.
    fn doc_name(&mut self, wanted: Option<&str>) -> String {
        let mut name = String::new();
        for c in wanted.unwrap_or("document").chars() {
            let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) {
                c
            } else if c.is_whitespace() {
                ' '
            } else {
                '-'
            };
            if !(c == ' ' && (name.is_empty() || name.ends_with(' '))) {
                name.push(c);
            }
        }
        let base = match name.trim_end() {
            "" => "document".to_string(),
            n => n.to_string(),
        };
        let mut name = base.clone();
        let mut n = 2;
        while !self.doc_names.insert(name.clone()) {
            name = format!("{base} ({n})");
            n += 1;
        }
        name
    }
}

/// A Converse tool use id (`[a-zA-Z0-9_-]{1,64}`) for a canonical call id; the same
/// input always gives the same id, so calls and results still match.
pub fn tool_use_id(id: &str, name: Option<&str>) -> String {
    let raw = if id.is_empty() {
        format!("tooluse_{}", name.unwrap_or("call"))
    } else {
        id.to_string()
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// Inline bytes for a source, decoding `data:` URLs; `s3://` URLs become
/// `s3Location`. `what` names the block kind in errors.
fn source_to(
    src: &MediaSource,
    extra: &Map<String, Value>,
    what: &str,
) -> Result<(Value, Option<String>), ApiError> {
    Ok(match src {
        MediaSource::Inline(d) => (json!({"bytes": d.data}), Some(d.media_type.clone())),
        MediaSource::Url(u) => {
            if let Some((mt, data)) = u
                .strip_prefix("data:")
                .and_then(|r| r.split_once(";base64,"))
            {
                (json!({"bytes": data}), Some(mt.to_string()))
            } else if u.starts_with("s3://") {
                let mut s3 = Map::new();
                s3.insert("uri".into(), json!(u));
                if let Some(Value::Object(rest)) = extra.get("s3Location") {
                    for (k, v) in rest {
                        s3.entry(k.clone()).or_insert(v.clone());
                    }
                }
                (json!({ "s3Location": s3 }), None)
            } else {
                return Err(bad(format!(
                    "{what} URLs are not supported by Bedrock Converse (only inline bytes and s3:// locations): {}",
                    tollgate_sdk::json::snippet(u.as_bytes(), 80)
                )));
            }
        }
        MediaSource::FileId(f) => {
            return Err(bad(format!(
                "{what} file ids are not supported by Bedrock Converse: {f}"
            )))
        }
        MediaSource::Text(t) => (json!({"text": t}), Some("text/plain".to_string())),
    })
}

fn image_to(i: &ImageBlock) -> Result<Value, ApiError> {
    if matches!(i.source, MediaSource::Text(_)) {
        return Err(bad("image: a text source is not an image".to_string()));
    }
    let extra = extra_fields(i.extra.as_ref());
    let (source, mt) = source_to(&i.source, &extra, "image")?;
    let mt = i.media_type.clone().or(mt).unwrap_or_default();
    let format = format_of(IMAGE_FORMATS, &mt).ok_or_else(|| {
        bad(format!(
            "image media type \"{mt}\" is not supported by Bedrock Converse (png, jpeg, gif, webp)"
        ))
    })?;
    let mut m = Map::new();
    m.insert("format".into(), json!(format));
    m.insert("source".into(), source);
    for (k, v) in extra {
        if k != "s3Location" {
            m.entry(k).or_insert(v);
        }
    }
    Ok(json!({ "image": m }))
}

fn document_to(d: &DocumentBlock, enc: &mut Enc) -> Result<Value, ApiError> {
    let mut extra = extra_fields(d.extra.as_ref());
    let (source, mt) = source_to(&d.source, &extra, "document")?;
    let mut m = Map::new();
    // A document decoded without a format is written back without one.
    if extra.remove("format") != Some(Value::Null) {
        let mt = d.media_type.clone().or(mt).unwrap_or_default();
        let format = format_of(DOCUMENT_FORMATS, &mt).ok_or_else(|| {
            bad(format!(
                "document media type \"{mt}\" is not supported by Bedrock Converse \
                 (pdf, csv, doc, docx, xls, xlsx, html, txt, md)"
            ))
        })?;
        m.insert("format".into(), json!(format));
    }
    m.insert(
        "name".into(),
        json!(enc.doc_name(d.title.as_deref().or(d.filename.as_deref()))),
    );
    m.insert("source".into(), source);
    if let Some(c) = &d.context {
        m.insert("context".into(), json!(c));
    }
    if let Some(c) = d.citations {
        m.insert("citations".into(), json!({ "enabled": c }));
    }
    for (k, v) in extra {
        if k != "s3Location" {
            m.entry(k).or_insert(v);
        }
    }
    Ok(json!({ "document": m }))
}

fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        Ok(v) => json!({ "input": v }),
        Err(_) if arguments.trim().is_empty() => json!({}),
        Err(_) => json!({ "input": arguments }),
    }
}

fn tool_result_to(r: &ToolResult, enc: &mut Enc) -> Result<Value, ApiError> {
    let mut extra = extra_fields(r.extra.as_ref());
    let json_parts: Vec<u64> = match extra.remove("jsonParts") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).collect(),
        _ => Vec::new(),
    };
    let mut content = Vec::with_capacity(r.content.len());
    for (k, part) in r.content.iter().enumerate() {
        content.push(match part {
            ToolResultPart::Text(t) if t.is_empty() => continue,
            ToolResultPart::Text(t) => {
                let as_json = json_parts
                    .contains(&(k as u64))
                    .then(|| serde_json::from_str::<Value>(t).ok())
                    .flatten();
                match as_json {
                    Some(v) => json!({ "json": v }),
                    None => json!({ "text": t }),
                }
            }
            ToolResultPart::Image(i) => image_to(i)?,
            ToolResultPart::Document(d) => document_to(d, enc)?,
        });
    }
    let mut m = Map::new();
    m.insert(
        "toolUseId".into(),
        json!(tool_use_id(&r.call_id, r.name.as_deref())),
    );
    m.insert("content".into(), Value::Array(content));
    if r.is_error {
        m.insert("status".into(), json!("error"));
    }
    for (k, v) in extra {
        m.entry(k).or_insert(v);
    }
    Ok(json!({ "toolResult": m }))
}

/// Encode one canonical block as Converse blocks: none (blocks Converse cannot carry
/// that are safe to drop: unsigned thinking, empty text, foreign `other` blocks), the
/// block, or the block and its `cachePoint`.
fn encode_block(b: &ContentBlock, enc: &mut Enc, out: &mut Vec<Value>) -> Result<(), ApiError> {
    let (v, cc) = match b {
        ContentBlock::Text(t) => {
            if t.text.is_empty() {
                return Ok(());
            }
            let extra = extra_fields(t.extra.as_ref());
            let v = match extra.get("guardContent") {
                Some(Value::Object(g)) => {
                    let mut inner = g.clone();
                    inner.insert("text".into(), json!(t.text));
                    json!({ "guardContent": { "text": inner } })
                }
                _ => json!({ "text": t.text }),
            };
            (v, t.cache_control.as_ref())
        }
        ContentBlock::Image(i) => (image_to(i)?, i.cache_control.as_ref()),
        ContentBlock::Document(d) => (document_to(d, enc)?, d.cache_control.as_ref()),
        ContentBlock::Audio(_) => {
            return Err(bad(
                "audio content is not supported by Bedrock Converse".to_string()
            ))
        }
        ContentBlock::ToolCall(c) => {
            let mut m = Map::new();
            m.insert("toolUseId".into(), json!(tool_use_id(&c.id, Some(&c.name))));
            m.insert(
                "name".into(),
                json!(flat_name(&c.name, c.namespace.as_deref())),
            );
            // A free-form (custom) call travels as `{"input": raw}` (`tollgate_sdk::tools`).
            let input = if c.kind == ToolKind::Custom {
                tool_input(&custom_call_arguments(&c.arguments))
            } else {
                tool_input(&c.arguments)
            };
            m.insert("input".into(), input);
            merge_extra(&mut m, c.extra.as_ref());
            (json!({ "toolUse": m }), c.cache_control.as_ref())
        }
        ContentBlock::ToolResult(r) => (tool_result_to(r, enc)?, r.cache_control.as_ref()),
        ContentBlock::Thinking(t) => {
            let Some(sig) = &t.signature else {
                return Ok(());
            };
            let mut m = Map::new();
            m.insert("text".into(), json!(t.text));
            m.insert("signature".into(), json!(sig));
            merge_extra(&mut m, t.extra.as_ref());
            (json!({ "reasoningContent": { "reasoningText": m } }), None)
        }
        ContentBlock::RedactedThinking(d) => (
            json!({ "reasoningContent": { "redactedContent": d } }),
            None,
        ),
        ContentBlock::Other(e) => {
            if e.source == DIALECT {
                if let Ok(v) = serde_json::from_str::<Value>(&e.fields) {
                    out.push(v);
                }
            }
            return Ok(());
        }
    };
    out.push(v);
    if let Some(cc) = cc {
        out.push(cache_point(cc));
    }
    Ok(())
}

fn encode_blocks(blocks: &[ContentBlock], enc: &mut Enc) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(blocks.len());
    for b in blocks {
        encode_block(b, enc, &mut out)?;
    }
    Ok(out)
}

// ----- requests -----

const REQUEST_KNOWN: &[&str] = &[
    "modelId",
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "additionalModelRequestFields",
    "outputConfig",
    "requestMetadata",
];

/// `toolConfig.tools[j]` marks for the built-in `systemTool` kind.
const SYSTEM_TOOL: &str = "systemTool";

fn tools_from(tc: &Obj) -> Result<Vec<ToolDefinition>, ApiError> {
    let mut tools: Vec<ToolDefinition> = Vec::new();
    for (j, t) in opt_array(tc, "tools", "toolConfig")?.iter().enumerate() {
        let path = format!("toolConfig.tools.{j}");
        let (kind, val) = union_of(t, &path)?;
        match kind {
            "toolSpec" => {
                let p = format!("{path}.toolSpec");
                let o = obj(val, &p)?;
                let schema = o
                    .get("inputSchema")
                    .and_then(|s| s.get("json"))
                    .map(Value::to_string);
                tools.push(ToolDefinition {
                    kind: ToolKind::Function,
                    name: req_str(o, "name", &p)?,
                    description: opt_str(o, "description", &p)?,
                    parameters: schema,
                    strict: o.get("strict").and_then(Value::as_bool),
                    namespace: None,
                    cache_control: None,
                    extra: extra_of(o, &["name", "description", "inputSchema", "strict"]),
                });
            }
            "systemTool" => {
                let p = format!("{path}.systemTool");
                let o = obj(val, &p)?;
                tools.push(ToolDefinition {
                    kind: ToolKind::Builtin(SYSTEM_TOOL.to_string()),
                    name: req_str(o, "name", &p)?,
                    description: None,
                    parameters: None,
                    strict: None,
                    namespace: None,
                    cache_control: None,
                    extra: extra_of(o, &["name"]),
                });
            }
            "cachePoint" => match tools.last_mut() {
                Some(last) if last.cache_control.is_none() => {
                    last.cache_control = Some(cache_from_point(val));
                }
                _ => {
                    return Err(bad(format!(
                        "{path}.cachePoint: a cache point must follow a tool"
                    )))
                }
            },
            other => {
                return Err(bad(format!(
                    "{path}: unknown tool kind \"{other}\" (expected toolSpec, systemTool or cachePoint)"
                )))
            }
        }
    }
    Ok(tools)
}

fn tool_to(t: &ToolDefinition, out: &mut Vec<Value>) -> Result<(), ApiError> {
    match &t.kind {
        ToolKind::Builtin(b) if b == SYSTEM_TOOL => {
            let mut m = Map::new();
            m.insert("name".into(), json!(t.name));
            merge_extra(&mut m, t.extra.as_ref());
            out.push(json!({ "systemTool": m }));
        }
        ToolKind::Builtin(b) => {
            return Err(bad(format!(
            "tool \"{}\" of type \"{b}\" is provider-hosted and has no Bedrock Converse equivalent",
            t.name
        )))
        }
        ToolKind::Custom => {
            // No free-form tools in Converse: a function taking one string (see
            // `tollgate_sdk::tools`); the host unwraps the calls on the way back.
            let mut m = Map::new();
            m.insert(
                "name".into(),
                json!(flat_name(&t.name, t.namespace.as_deref())),
            );
            if let Some(d) = custom_description(t) {
                m.insert("description".into(), json!(d));
            }
            m.insert(
                "inputSchema".into(),
                json!({ "json": custom_input_schema() }),
            );
            out.push(json!({ "toolSpec": m }));
        }
        ToolKind::Function => {
            let mut m = Map::new();
            m.insert(
                "name".into(),
                json!(flat_name(&t.name, t.namespace.as_deref())),
            );
            if let Some(d) = t.description.as_deref().filter(|d| !d.is_empty()) {
                m.insert("description".into(), json!(d));
            }
            let schema = t
                .parameters
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            m.insert("inputSchema".into(), json!({ "json": schema }));
            if let Some(s) = t.strict {
                m.insert("strict".into(), json!(s));
            }
            merge_extra(&mut m, t.extra.as_ref());
            out.push(json!({ "toolSpec": m }));
        }
    }
    if let Some(cc) = &t.cache_control {
        out.push(cache_point(cc));
    }
    Ok(())
}

fn system_from(items: &[Value]) -> Result<(Vec<TextBlock>, Vec<Value>), ApiError> {
    let mut system = Vec::new();
    let mut rest = Vec::new();
    for b in decode_blocks(items, "system")? {
        match b {
            ContentBlock::Text(t) => system.push(t),
            ContentBlock::Other(e) => {
                if let Ok(v) = serde_json::from_str::<Value>(&e.fields) {
                    rest.push(v);
                }
            }
            _ => {
                return Err(bad(
                    "system: only text, guardContent and cachePoint blocks are allowed".to_string(),
                ))
            }
        }
    }
    Ok((system, rest))
}

fn response_format_from(oc: &Obj) -> Result<(Option<ResponseFormat>, Obj), ApiError> {
    let mut rest = oc.clone();
    let Some(tf) = rest.remove("textFormat") else {
        return Ok((None, rest));
    };
    let schema = tf
        .get("structure")
        .and_then(|s| s.get("jsonSchema"))
        .and_then(Value::as_object);
    match (tf.get("type").and_then(Value::as_str), schema) {
        (Some("json_schema"), Some(js)) => {
            let p = "outputConfig.textFormat.structure.jsonSchema";
            let schema = match js.get("schema") {
                Some(Value::String(s)) => s.clone(),
                Some(v @ Value::Object(_)) => v.to_string(),
                _ => return Err(bad(format!("{p}.schema: expected a JSON schema string"))),
            };
            Ok((
                Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
                    name: opt_str(js, "name", p)?,
                    description: opt_str(js, "description", p)?,
                    schema,
                    strict: None,
                })),
                rest,
            ))
        }
        _ => {
            rest.insert("textFormat".into(), tf);
            Ok((None, rest))
        }
    }
}

/// Decode a Converse request into the canonical model. The model comes from the path
/// (percent-decoded: clients send `%3A` for `:`).
pub fn decode_request(
    op: Operation,
    body: &[u8],
    path_model: Option<String>,
    stream: bool,
) -> Result<ChatRequest, ApiError> {
    if op != Operation::Chat {
        return Err(ApiError::unsupported(
            "this operation on the Bedrock Converse front door",
        ));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("request body is not valid JSON: {e}")))?;
    let o = obj(&v, "request body")?;
    let model = match (path_model, opt_str(o, "modelId", "request")?) {
        (Some(m), _) | (None, Some(m)) => crate::wire::decode_segment(&m),
        (None, None) => return Err(bad("the model must be named in the path".to_string())),
    };
    let mut extra = extra_fields(extra_of(o, REQUEST_KNOWN).as_ref());

    let (system, system_rest) = system_from(opt_array(o, "system", "request")?)?;
    if !system_rest.is_empty() {
        extra.insert("systemBlocks".into(), Value::Array(system_rest));
    }

    let mut messages = Vec::new();
    let ms = match o.get("messages") {
        Some(Value::Array(a)) => a,
        Some(x) => {
            return Err(bad(format!(
                "messages: expected array, got {}",
                type_name(x)
            )))
        }
        None => return Err(bad("messages: field required".to_string())),
    };
    for (i, m) in ms.iter().enumerate() {
        let path = format!("messages.{i}");
        let mo = obj(m, &path)?;
        let role = match mo.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some(r) => {
                return Err(bad(format!(
                    "{path}.role: expected \"user\" or \"assistant\", got \"{r}\""
                )))
            }
            None => return Err(bad(format!("{path}.role: field required"))),
        };
        let content = match mo.get("content") {
            Some(Value::Array(items)) => decode_blocks(items, &format!("{path}.content"))?,
            Some(x) => {
                return Err(bad(format!(
                    "{path}.content: expected array, got {}",
                    type_name(x)
                )))
            }
            None => return Err(bad(format!("{path}.content: field required"))),
        };
        messages.push(Message {
            role,
            content,
            name: None,
            extra: extra_of(mo, &["role", "content"]),
        });
    }

    let mut sampling = Sampling {
        max_tokens: None,
        temperature: None,
        top_p: None,
        top_k: None,
        stop: Vec::new(),
        seed: None,
        presence_penalty: None,
        frequency_penalty: None,
        candidates: None,
    };
    if let Some(ic) = o.get("inferenceConfig").filter(|v| !v.is_null()) {
        let p = "inferenceConfig";
        let ic = obj(ic, p)?;
        sampling.max_tokens = opt_u32(ic, "maxTokens", p)?;
        sampling.temperature = opt_f64(ic, "temperature", p)?;
        sampling.top_p = opt_f64(ic, "topP", p)?;
        for (k, s) in opt_array(ic, "stopSequences", p)?.iter().enumerate() {
            sampling.stop.push(
                s.as_str()
                    .ok_or_else(|| bad(format!("{p}.stopSequences.{k}: expected string")))?
                    .to_string(),
            );
        }
    }

    let mut tools = Vec::new();
    let mut tool_choice = None;
    if let Some(tc) = o.get("toolConfig").filter(|v| !v.is_null()) {
        let tc = obj(tc, "toolConfig")?;
        tools = tools_from(tc)?;
        if let Some(choice) = tc.get("toolChoice").filter(|v| !v.is_null()) {
            let (kind, val) = union_of(choice, "toolConfig.toolChoice")?;
            tool_choice = Some(match kind {
                "auto" => ToolChoice::Auto,
                "any" => ToolChoice::Required,
                "tool" => ToolChoice::Tool(req_str(
                    obj(val, "toolConfig.toolChoice.tool")?,
                    "name",
                    "toolConfig.toolChoice.tool",
                )?),
                k => {
                    return Err(bad(format!(
                        "toolConfig.toolChoice: expected auto, any or tool, got \"{k}\""
                    )))
                }
            });
        }
    }

    // Model-specific fields: Claude's `thinking` and `top_k` have canonical slots.
    let mut thinking = None;
    if let Some(amrf) = o
        .get("additionalModelRequestFields")
        .filter(|v| !v.is_null())
    {
        let mut amrf = obj(amrf, "additionalModelRequestFields")?.clone();
        if let Some(t) = amrf.get("thinking").and_then(Value::as_object) {
            let ty = t.get("type").and_then(Value::as_str);
            let budget = t
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok());
            let plain = t.keys().all(|k| k == "type" || k == "budget_tokens");
            if plain && matches!(ty, Some("enabled") | Some("disabled")) {
                thinking = Some(ThinkingConfig {
                    enabled: ty == Some("enabled"),
                    budget_tokens: budget,
                    effort: None,
                    summary: None,
                });
                amrf.remove("thinking");
            }
        }
        if let Some(k) = amrf
            .get("top_k")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
        {
            sampling.top_k = Some(k);
            amrf.remove("top_k");
        }
        if !amrf.is_empty() {
            extra.insert("additionalModelRequestFields".into(), Value::Object(amrf));
        }
    }

    let mut response_format = None;
    if let Some(oc) = o.get("outputConfig").filter(|v| !v.is_null()) {
        let (rf, rest) = response_format_from(obj(oc, "outputConfig")?)?;
        response_format = rf;
        if !rest.is_empty() {
            extra.insert("outputConfig".into(), Value::Object(rest));
        }
    }

    Ok(ChatRequest {
        model,
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: None,
        sampling,
        thinking,
        response_format,
        stream,
        stream_include_usage: false,
        user: None,
        metadata: o
            .get("requestMetadata")
            .filter(|m| !m.is_null())
            .map(Value::to_string),
        extra: extra_from(extra),
    })
}

/// Whether a model id (or ARN) names an Anthropic model, whose model-specific fields
/// (`thinking`, `top_k`, `anthropic_beta`) this plugin writes.
fn is_anthropic(model: &str, options: &Value) -> bool {
    match options.get("anthropic").and_then(Value::as_bool) {
        Some(b) => b,
        None => {
            let m = model.to_ascii_lowercase();
            m.contains("anthropic.") || m.contains("claude")
        }
    }
}

fn has_tool_blocks(r: &ChatRequest) -> bool {
    r.messages.iter().any(|m| {
        m.content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolCall(_) | ContentBlock::ToolResult(_)))
    })
}

/// Tool specs for the tools a conversation used when the request declares none
/// (Converse rejects `toolUse`/`toolResult` blocks without a `toolConfig`).
fn tools_from_history(r: &ChatRequest) -> Vec<Value> {
    let mut names: Vec<&str> = Vec::new();
    for m in &r.messages {
        for b in &m.content {
            if let ContentBlock::ToolCall(c) = b {
                if !names.contains(&c.name.as_str()) {
                    names.push(&c.name);
                }
            }
        }
    }
    names
        .into_iter()
        .map(|n| {
            json!({"toolSpec": {"name": n, "description": "A tool used earlier in this conversation.",
                "inputSchema": {"json": {"type": "object"}}}})
        })
        .collect()
}

/// The Converse request body for a canonical request.
pub fn request_body(
    op: Operation,
    r: &ChatRequest,
    model: &str,
    options: &Value,
) -> Result<Value, ApiError> {
    let mut enc = Enc::default();
    let mut extra = extra_fields(r.extra.as_ref());
    let anthropic = is_anthropic(model, options);
    let mut m = Map::new();

    // Messages: system/developer messages move to `system`; tool results are user
    // turns; consecutive turns of one role merge (Converse wants them alternating).
    let mut system = Vec::new();
    for t in &r.system {
        encode_block(&ContentBlock::Text(t.clone()), &mut enc, &mut system)?;
    }
    if let Some(Value::Array(rest)) = extra.remove("systemBlocks") {
        system.extend(rest);
    }
    let mut messages: Vec<(String, Vec<Value>)> = Vec::new();
    for msg in &r.messages {
        let role = match msg.role {
            Role::System | Role::Developer => {
                for b in &msg.content {
                    if let ContentBlock::Text(_) = b {
                        encode_block(b, &mut enc, &mut system)?;
                    }
                }
                continue;
            }
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
        };
        let content = encode_blocks(&msg.content, &mut enc)?;
        if content.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((last, blocks)) if last == role => blocks.extend(content),
            _ => messages.push((role.to_string(), content)),
        }
    }
    m.insert(
        "messages".into(),
        Value::Array(
            messages
                .into_iter()
                .map(|(role, content)| json!({"role": role, "content": content}))
                .collect(),
        ),
    );
    if !system.is_empty() {
        m.insert("system".into(), Value::Array(system));
    }

    // Claude refuses thinking that it cannot honour, as on the Anthropic API: a
    // budget not below `maxTokens` (the budget is clamped), a forced tool choice or
    // `maxTokens` of 1024 or less (thinking is not sent), and sampling other than
    // temperature 1, `topP` ≥ 0.95 and no `top_k` (those settings are not sent).
    let forced = matches!(
        r.tool_choice,
        Some(ToolChoice::Required) | Some(ToolChoice::Tool(_))
    );
    let claude_budget = match &r.thinking {
        Some(t) if anthropic && t.enabled && !forced => match r.sampling.max_tokens {
            None => Some(thinking_budget(t)),
            Some(m) if m > 1024 => Some(thinking_budget(t).min(m - 1).max(1024)),
            Some(_) => None,
        },
        _ => None,
    };
    if op == Operation::Chat {
        let s = &r.sampling;
        let mut ic = Map::new();
        let mut max_tokens = s.max_tokens;
        if let (None, Some(b)) = (max_tokens, claude_budget) {
            // Claude needs room for the answer beyond the thinking budget.
            max_tokens = Some(b.saturating_add(4096));
        }
        if let Some(n) = max_tokens {
            ic.insert("maxTokens".into(), json!(n));
        }
        let thinking_on = claude_budget.is_some();
        if let Some(t) = s.temperature.filter(|t| !thinking_on || *t == 1.0) {
            ic.insert("temperature".into(), json!(t));
        }
        if let Some(p) = s.top_p.filter(|p| !thinking_on || *p >= 0.95) {
            ic.insert("topP".into(), json!(p));
        }
        if !s.stop.is_empty() {
            ic.insert("stopSequences".into(), json!(s.stop));
        }
        if !ic.is_empty() {
            m.insert("inferenceConfig".into(), Value::Object(ic));
        }
    }

    // Tools.
    let history_tools = has_tool_blocks(r);
    let drop_tools = r.tool_choice == Some(ToolChoice::None) && !history_tools;
    let mut tools = Vec::new();
    if !drop_tools {
        for t in &r.tools {
            tool_to(t, &mut tools)?;
        }
        if tools.is_empty() && history_tools {
            tools = tools_from_history(r);
        }
    }
    if !tools.is_empty() {
        let mut tc = Map::new();
        tc.insert("tools".into(), Value::Array(tools));
        match &r.tool_choice {
            Some(ToolChoice::Auto) => {
                tc.insert("toolChoice".into(), json!({"auto": {}}));
            }
            Some(ToolChoice::Required) => {
                tc.insert("toolChoice".into(), json!({"any": {}}));
            }
            Some(ToolChoice::Tool(n)) => {
                tc.insert("toolChoice".into(), json!({"tool": {"name": n}}));
            }
            Some(ToolChoice::None) | None => {}
        }
        m.insert("toolConfig".into(), Value::Object(tc));
    }

    // Model-specific fields.
    let mut amrf = match extra.remove("additionalModelRequestFields") {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    if anthropic {
        if let Some(t) = &r.thinking {
            let v = match claude_budget {
                Some(b) => Some(json!({"type": "enabled", "budget_tokens": b})),
                None if !t.enabled => Some(json!({"type": "disabled"})),
                None => None,
            };
            if let Some(v) = v {
                amrf.entry("thinking").or_insert(v);
            }
        }
        if let Some(k) = r.sampling.top_k.filter(|_| claude_budget.is_none()) {
            amrf.entry("top_k").or_insert(json!(k));
        }
        if let Some(b) = options.get("anthropic_beta").filter(|b| b.is_array()) {
            amrf.entry("anthropic_beta").or_insert(b.clone());
        }
    }
    if let Some(Value::Object(fields)) = options.get("additional_model_request_fields") {
        for (k, v) in fields {
            amrf.entry(k.clone()).or_insert(v.clone());
        }
    }
    if !amrf.is_empty() {
        m.insert("additionalModelRequestFields".into(), Value::Object(amrf));
    }

    if op == Operation::Chat {
        let mut oc = match extra.remove("outputConfig") {
            Some(Value::Object(o)) => o,
            _ => Map::new(),
        };
        if let Some(ResponseFormat::JsonSchema(js)) = &r.response_format {
            let mut def = Map::new();
            def.insert("schema".into(), json!(js.schema));
            if let Some(n) = &js.name {
                def.insert("name".into(), json!(n));
            }
            if let Some(d) = &js.description {
                def.insert("description".into(), json!(d));
            }
            oc.insert(
                "textFormat".into(),
                json!({"type": "json_schema", "structure": {"jsonSchema": def}}),
            );
        }
        if !oc.is_empty() {
            m.insert("outputConfig".into(), Value::Object(oc));
        }
        if let Some(g) = options.get("guardrail_config").filter(|g| g.is_object()) {
            m.entry("guardrailConfig").or_insert(g.clone());
        }
        if let Some(md) = r.metadata.as_deref() {
            // Converse request metadata is a map of short plain strings (for invocation
            // logs); other dialects' metadata that does not fit is dropped rather than
            // failing the request.
            if let Ok(Value::Object(md)) = serde_json::from_str::<Value>(md) {
                if !md.is_empty() && md.iter().all(|(k, v)| metadata_fits(k, v)) {
                    m.insert("requestMetadata".into(), Value::Object(md));
                }
            }
        }
        for (k, v) in extra {
            m.entry(k).or_insert(v);
        }
    }
    Ok(Value::Object(m))
}

/// Whether a metadata pair fits Converse `requestMetadata`: 1–256 characters of key,
/// up to 256 of value, from `[a-zA-Z0-9\s:_@$#=/+,-.]`.
fn metadata_fits(key: &str, value: &Value) -> bool {
    let ok = |s: &str| {
        s.chars().count() <= 256
            && s.chars().all(|c| {
                c.is_ascii_alphanumeric() || c.is_whitespace() || ":_@$#=/+,-.".contains(c)
            })
    };
    match value {
        Value::String(v) => !key.is_empty() && ok(key) && ok(v),
        _ => false,
    }
}

fn thinking_budget(t: &ThinkingConfig) -> u32 {
    t.budget_tokens.unwrap_or(match t.effort.as_deref() {
        Some("minimal") | Some("low") => 1024,
        Some("high") => 16384,
        _ => 4096,
    })
}

/// Build the upstream request for a canonical request: `POST /model/{id}/converse`
/// (or `converse-stream`, or `count-tokens`) with the model id percent-encoded as one
/// path segment. Target options (all optional): `anthropic_beta` (array, sent in
/// `additionalModelRequestFields` to Claude models), `additional_model_request_fields`
/// (object), `guardrail_config` (object), `anthropic` (bool: force or forbid the
/// Claude-specific fields for ids that do not say, e.g. application inference profiles).
pub fn encode_request(
    op: Operation,
    r: &ChatRequest,
    target: &TargetInfo,
) -> Result<UpstreamRequest, ApiError> {
    if op == Operation::ListModels {
        return Err(ApiError::unsupported(
            "listing models on the Bedrock runtime endpoint",
        ));
    }
    let options: Value = serde_json::from_str(&target.options).unwrap_or(Value::Null);
    let model = if target.model.is_empty() {
        &r.model
    } else {
        &target.model
    };
    if model.is_empty() {
        return Err(bad("no model to send to Bedrock".to_string()));
    }
    let body = request_body(op, r, model, &options)?;
    let stream = r.stream && op == Operation::Chat;
    let (action, body, accept) = match op {
        Operation::CountTokens => (
            "count-tokens",
            json!({"input": {"converse": body}}),
            "application/json",
        ),
        _ if stream => (
            "converse-stream",
            body,
            "application/vnd.amazon.eventstream",
        ),
        _ => ("converse", body, "application/json"),
    };
    Ok(UpstreamRequest {
        method: "POST".into(),
        path: format!("/model/{}/{action}", encode_segment(model)),
        headers: vec![
            Header::new("content-type", "application/json"),
            Header::new("accept", accept),
        ],
        body: body.to_string().into_bytes(),
        stream,
    })
}

// ----- responses -----

const RESPONSE_KNOWN: &[&str] = &["output", "stopReason", "usage"];

/// Stop reasons that the canonical enum folds together: kept verbatim in `extra`.
const LOSSY_STOPS: &[&str] = &["guardrail_intervened", "malformed_tool_use"];

/// Decode a complete Converse (or CountTokens) response.
pub fn decode_response(op: Operation, body: &[u8]) -> Result<ChatResponse, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_gateway(format!("upstream response is not JSON: {e}")))?;
    let o = v.as_object().ok_or_else(|| {
        ApiError::bad_gateway("upstream response is not a JSON object".to_string())
    })?;
    let upstream = |e: ApiError| ApiError::bad_gateway(format!("upstream response: {}", e.message));
    if op == Operation::CountTokens {
        let mut usage = Usage::empty();
        usage.input_tokens = o.get("inputTokens").and_then(Value::as_u64);
        return Ok(ChatResponse {
            id: String::new(),
            model: String::new(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage,
            extra: extra_of(o, &["inputTokens"]),
        });
    }
    let message = o.get("output").and_then(|out| out.get("message"));
    let content = match message.and_then(|m| m.get("content")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            decode_blocks(items, "output.message.content").map_err(upstream)?
        }
        Some(x) => {
            return Err(ApiError::bad_gateway(format!(
                "upstream response: output.message.content: expected array, got {}",
                type_name(x)
            )))
        }
    };
    let stop = o.get("stopReason").and_then(Value::as_str);
    let mut extra = extra_fields(extra_of(o, RESPONSE_KNOWN).as_ref());
    if let Some(s) = stop.filter(|s| LOSSY_STOPS.contains(s)) {
        extra.insert("stopReason".into(), json!(s));
    }
    Ok(ChatResponse {
        id: String::new(),
        model: String::new(),
        content,
        stop_reason: stop.map(stop_reason_from),
        stop_sequence: o
            .get("additionalModelResponseFields")
            .and_then(|f| f.get("stop_sequence"))
            .and_then(Value::as_str)
            .map(str::to_string),
        usage: o.get("usage").map(usage_from).unwrap_or_default(),
        extra: extra_from(extra),
    })
}

/// The `stopReason` to write: a recorded lossy one when it means the same.
pub fn stop_reason_out(r: Option<StopReason>, extra: &Map<String, Value>) -> String {
    let r = r.unwrap_or(StopReason::EndTurn);
    match extra.get("stopReason").and_then(Value::as_str) {
        Some(s) if stop_reason_from(s) == r => s.to_string(),
        _ => stop_reason_to(r).to_string(),
    }
}

/// Encode a canonical response as a Converse response.
pub fn encode_response(r: &ChatResponse) -> Result<Vec<u8>, ApiError> {
    let mut enc = Enc::default();
    let mut extra = extra_fields(r.extra.as_ref());
    let mut m = Map::new();
    m.insert(
        "output".into(),
        json!({"message": {"role": "assistant", "content": encode_blocks(&r.content, &mut enc)?}}),
    );
    m.insert(
        "stopReason".into(),
        json!(stop_reason_out(r.stop_reason, &extra)),
    );
    extra.remove("stopReason");
    m.insert("usage".into(), usage_to(&r.usage));
    if !extra.contains_key("metrics") {
        m.insert("metrics".into(), json!({"latencyMs": 0}));
    }
    if let Some(seq) = &r.stop_sequence {
        let fields = extra
            .entry("additionalModelResponseFields")
            .or_insert_with(|| json!({}));
        if let Some(f) = fields.as_object_mut() {
            f.entry("stop_sequence").or_insert(json!(seq));
        }
    }
    for (k, v) in extra {
        m.entry(k).or_insert(v);
    }
    Ok(Value::Object(m).to_string().into_bytes())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub const RICH: &str = r#"{
      "messages": [
        {"role": "user", "content": [
          {"text": "What is in this image and these documents?"},
          {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
          {"cachePoint": {"type": "default"}},
          {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/a.jpg", "bucketOwner": "123456789012"}}}},
          {"document": {"format": "pdf", "name": "Spec (v2)", "source": {"bytes": "JVBERi0="}, "context": "internal", "citations": {"enabled": true}}},
          {"document": {"format": "md", "name": "Notes", "source": {"text": "plain doc"}}},
          {"document": {"name": "Custom", "source": {"content": [{"text": "chunk"}]}}},
          {"guardContent": {"text": {"text": "check me", "qualifiers": ["guard_content"]}}},
          {"video": {"format": "mp4", "source": {"bytes": "AAAA"}}}
        ]},
        {"role": "assistant", "content": [
          {"reasoningContent": {"reasoningText": {"text": "Let me look.", "signature": "sig=="}}},
          {"reasoningContent": {"redactedContent": "b3BhcXVl"}},
          {"text": "Running two tools."},
          {"toolUse": {"toolUseId": "tooluse_01", "name": "read_file", "input": {"path": "a.rs", "n": 1}}},
          {"toolUse": {"toolUseId": "tooluse_02", "name": "search", "input": {"q": "x"}}}
        ]},
        {"role": "user", "content": [
          {"toolResult": {"toolUseId": "tooluse_01", "content": [{"text": "fn main() {}"}], "status": "success"}},
          {"toolResult": {"toolUseId": "tooluse_02", "status": "error",
            "content": [{"json": {"hits": 0}}, {"text": "oops"}, {"image": {"format": "gif", "source": {"bytes": "R0lG"}}}]}},
          {"cachePoint": {"type": "default", "ttl": "1h"}},
          {"text": "Continue."}
        ]}
      ],
      "system": [
        {"text": "You are a careful assistant."},
        {"cachePoint": {"type": "default"}},
        {"text": "Project rules."},
        {"guardContent": {"text": {"text": "Guarded system text"}}}
      ],
      "inferenceConfig": {"maxTokens": 2048, "temperature": 1.0, "topP": 0.95, "stopSequences": ["STOP"]},
      "toolConfig": {
        "tools": [
          {"toolSpec": {"name": "read_file", "description": "Read a file", "inputSchema": {"json": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}, "strict": true}},
          {"cachePoint": {"type": "default"}},
          {"toolSpec": {"name": "search", "inputSchema": {"json": {"type": "object"}}}},
          {"systemTool": {"name": "nova_grounding"}}
        ],
        "toolChoice": {"auto": {}}
      },
      "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}, "anthropic_beta": ["interleaved-thinking-2025-05-14"]},
      "outputConfig": {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "{\"type\":\"object\"}", "name": "answer", "description": "The answer"}}}},
      "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "1", "trace": "enabled"},
      "requestMetadata": {"team": "core"},
      "performanceConfig": {"latency": "optimized"},
      "promptVariables": {"x": {"text": "y"}}
    }"#;

    const MODEL: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

    fn target(model: &str) -> TargetInfo {
        TargetInfo {
            model: model.to_string(),
            options: "{}".to_string(),
        }
    }

    #[test]
    fn rich_request_round_trips() {
        let r = decode_request(
            Operation::Chat,
            RICH.as_bytes(),
            Some("anthropic.claude-sonnet-4-5-20250929-v1%3A0".into()),
            true,
        )
        .unwrap();
        assert_eq!(r.model, MODEL);
        assert!(r.stream);
        assert_eq!(r.system.len(), 3);
        assert_eq!(
            r.system[0].cache_control.as_ref().unwrap().kind,
            "ephemeral"
        );
        assert_eq!(r.system[2].text, "Guarded system text");
        assert_eq!(r.sampling.max_tokens, Some(2048));
        assert_eq!(r.sampling.top_k, None);
        assert_eq!(r.tool_choice, Some(ToolChoice::Auto));
        assert_eq!(r.tools.len(), 3);
        assert!(r.tools[0].cache_control.is_some() && r.tools[0].strict == Some(true));
        assert!(matches!(&r.tools[2].kind, ToolKind::Builtin(k) if k == "systemTool"));
        let t = r.thinking.as_ref().unwrap();
        assert_eq!((t.enabled, t.budget_tokens), (true, Some(1024)));
        assert!(
            matches!(&r.response_format, Some(ResponseFormat::JsonSchema(js)) if js.name.as_deref() == Some("answer"))
        );

        let user = &r.messages[0].content;
        assert_eq!(user.len(), 8, "the cache point folds into the image");
        let ContentBlock::Image(img) = &user[1] else {
            panic!("{:?}", user[1])
        };
        assert!(img.cache_control.is_some());
        assert!(matches!(&img.source, MediaSource::Inline(d) if d.media_type == "image/png"));
        assert!(
            matches!(&user[2], ContentBlock::Image(i) if matches!(&i.source, MediaSource::Url(u) if u == "s3://bucket/a.jpg"))
        );
        let ContentBlock::Document(doc) = &user[3] else {
            panic!()
        };
        assert_eq!(
            (doc.title.as_deref(), doc.citations),
            (Some("Spec (v2)"), Some(true))
        );
        assert!(
            matches!(&user[4], ContentBlock::Document(d) if matches!(&d.source, MediaSource::Text(t) if t == "plain doc"))
        );
        assert!(
            matches!(&user[5], ContentBlock::Other(_)),
            "content-source documents stay verbatim"
        );
        assert!(matches!(&user[6], ContentBlock::Text(t) if t.text == "check me"));
        assert!(matches!(&user[7], ContentBlock::Other(_)));

        let asst = &r.messages[1].content;
        assert!(
            matches!(&asst[0], ContentBlock::Thinking(t) if t.signature.as_deref() == Some("sig=="))
        );
        assert!(matches!(&asst[1], ContentBlock::RedactedThinking(d) if d == "b3BhcXVl"));
        assert!(matches!(&asst[4], ContentBlock::ToolCall(c) if c.arguments == r#"{"q":"x"}"#));
        let ContentBlock::ToolResult(tr) = &r.messages[2].content[1] else {
            panic!()
        };
        assert!(tr.is_error && tr.cache_control.as_ref().unwrap().ttl.as_deref() == Some("1h"));
        assert!(matches!(&tr.content[0], ToolResultPart::Text(t) if t == r#"{"hits":0}"#));
        assert!(matches!(&tr.content[2], ToolResultPart::Image(_)));

        let up = encode_request(Operation::Chat, &r, &target(MODEL)).unwrap();
        assert_eq!(
            (up.method.as_str(), up.path.as_str(), up.stream),
            (
                "POST",
                "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream",
                true
            )
        );
        let got: Value = serde_json::from_slice(&up.body).unwrap();
        let want: Value = serde_json::from_str(RICH).unwrap();
        assert_eq!(got, want, "\n got: {got:#}");

        // And canonical -> Converse -> canonical is a fixed point.
        let again = decode_request(Operation::Chat, &up.body, Some(MODEL.into()), true).unwrap();
        assert_eq!(again, r);
    }

    fn canonical(json: &str) -> ChatRequest {
        decode_request(Operation::Chat, json.as_bytes(), Some("m".into()), false).unwrap()
    }

    #[test]
    fn foreign_requests_are_fitted_to_converse() {
        // Built as another front door would: system and tool messages, unsigned
        // thinking, a data URL, an OpenAI-style call id, an empty Gemini-style id.
        let mut r = canonical(r#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}"#);
        let tr = |id: &str, name: Option<&str>, t: &str| {
            ContentBlock::ToolResult(ToolResult {
                call_id: id.into(),
                name: name.map(str::to_string),
                content: vec![ToolResultPart::Text(t.into())],
                is_error: false,
                cache_control: None,
                extra: None,
            })
        };
        let call = |id: &str, name: &str| {
            ContentBlock::ToolCall(ToolCall {
                id: id.into(),
                name: name.into(),
                arguments: "[1]".into(),
                kind: ToolKind::Function,
                namespace: None,
                cache_control: None,
                extra: None,
            })
        };
        r.messages.insert(
            0,
            Message {
                role: Role::Developer,
                content: vec![text("Be terse.")],
                name: None,
                extra: None,
            },
        );
        r.messages.push(Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Thinking(ThinkingBlock {
                    text: "unsigned".into(),
                    signature: None,
                    extra: None,
                }),
                call("call.abc", "f"),
                call("", "g"),
            ],
            name: None,
            extra: None,
        });
        r.messages.push(Message {
            role: Role::Tool,
            content: vec![tr("call.abc", None, "1")],
            name: None,
            extra: None,
        });
        r.messages.push(Message {
            role: Role::Tool,
            content: vec![tr("", Some("g"), "2")],
            name: None,
            extra: None,
        });
        r.messages.push(Message {
            role: Role::User,
            content: vec![
                ContentBlock::Image(ImageBlock {
                    source: MediaSource::Url("data:image/webp;base64,UklG".into()),
                    media_type: None,
                    detail: Some("high".into()),
                    cache_control: None,
                    extra: None,
                }),
                ContentBlock::Document(DocumentBlock {
                    source: MediaSource::Inline(InlineData {
                        media_type: "application/pdf".into(),
                        data: "JVBE".into(),
                    }),
                    media_type: None,
                    title: None,
                    context: None,
                    citations: None,
                    filename: Some("my report.v2.pdf".into()),
                    cache_control: None,
                    extra: None,
                }),
            ],
            name: None,
            extra: None,
        });
        r.tool_choice = Some(ToolChoice::None);
        r.thinking = Some(ThinkingConfig {
            enabled: true,
            budget_tokens: None,
            effort: Some("low".into()),
            summary: None,
        });
        r.sampling.seed = Some(7);
        // Claude Code's user id is JSON text: it does not fit `requestMetadata`.
        r.metadata = Some(r#"{"user_id": "{\"device_id\":\"d1\"}"}"#.into());
        let up = encode_request(
            Operation::Chat,
            &r,
            &TargetInfo {
                model: "us.anthropic.claude-3-7-sonnet-20250219-v1:0".into(),
                options: r#"{"anthropic_beta": ["token-efficient-tools-2025-02-19"]}"#.into(),
            },
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            up.path,
            "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse"
        );
        assert_eq!(v["system"], json!([{"text": "Be terse."}]));
        let roles: Vec<&str> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(
            roles,
            ["user", "assistant", "user"],
            "tool turns merge into one user turn"
        );
        let asst = &v["messages"][1]["content"];
        assert_eq!(
            asst.as_array().unwrap().len(),
            2,
            "unsigned thinking is dropped"
        );
        assert_eq!(asst[0]["toolUse"]["toolUseId"], "call_abc");
        assert_eq!(asst[0]["toolUse"]["input"], json!({"input": [1]}));
        assert_eq!(asst[1]["toolUse"]["toolUseId"], "tooluse_g");
        let last = &v["messages"][2]["content"];
        assert_eq!(last[0]["toolResult"]["toolUseId"], "call_abc");
        assert_eq!(last[1]["toolResult"]["toolUseId"], "tooluse_g");
        assert_eq!(
            last[2],
            json!({"image": {"format": "webp", "source": {"bytes": "UklG"}}})
        );
        assert_eq!(last[3]["document"]["name"], "my report-v2-pdf");
        // tool_choice none with tool history: tools synthesized, no choice sent.
        assert_eq!(v["toolConfig"]["tools"].as_array().unwrap().len(), 2);
        assert!(v["toolConfig"].get("toolChoice").is_none());
        assert_eq!(
            v["additionalModelRequestFields"],
            json!({"thinking": {"type": "enabled", "budget_tokens": 1024}, "anthropic_beta": ["token-efficient-tools-2025-02-19"]})
        );
        assert_eq!(v["inferenceConfig"], json!({"maxTokens": 5120}));
        assert!(v.get("requestMetadata").is_none());
    }

    #[test]
    fn claude_thinking_budget_stays_below_max_tokens() {
        let mut r = canonical(
            r#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 2048}}"#,
        );
        r.thinking = Some(ThinkingConfig {
            enabled: true,
            budget_tokens: None,
            effort: Some("medium".into()),
            summary: None,
        });
        let up = encode_request(Operation::Chat, &r, &target(MODEL)).unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            v["additionalModelRequestFields"]["thinking"],
            json!({"type": "enabled", "budget_tokens": 2047})
        );
        r.sampling.max_tokens = Some(1000);
        let up = encode_request(Operation::Chat, &r, &target(MODEL)).unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert!(v.get("additionalModelRequestFields").is_none(), "{v}");
    }

    #[test]
    fn claude_thinking_drops_what_claude_refuses_beside_it() {
        let mut r = canonical(
            r#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 8000, "temperature": 0.2, "topP": 0.9}}"#,
        );
        r.sampling.top_k = Some(5);
        r.thinking = Some(ThinkingConfig {
            enabled: true,
            budget_tokens: Some(2000),
            effort: None,
            summary: None,
        });
        let up = encode_request(Operation::Chat, &r, &target(MODEL)).unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(v["inferenceConfig"], json!({"maxTokens": 8000}), "{v}");
        assert_eq!(
            v["additionalModelRequestFields"],
            json!({"thinking": {"type": "enabled", "budget_tokens": 2000}}),
            "{v}"
        );
        // Settings Claude accepts with thinking pass.
        r.sampling.temperature = Some(1.0);
        r.sampling.top_p = Some(0.95);
        let up = encode_request(Operation::Chat, &r, &target(MODEL)).unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            v["inferenceConfig"],
            json!({"maxTokens": 8000, "temperature": 1.0, "topP": 0.95})
        );
        // A forced tool choice: no thinking, and the sampling settings go as asked.
        r.sampling.temperature = Some(0.2);
        r.tool_choice = Some(ToolChoice::Required);
        r.tools.push(ToolDefinition {
            kind: ToolKind::Function,
            name: "f".into(),
            description: None,
            parameters: None,
            strict: None,
            namespace: None,
            cache_control: None,
            extra: None,
        });
        let up = encode_request(Operation::Chat, &r, &target(MODEL)).unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(v["toolConfig"]["toolChoice"], json!({"any": {}}));
        assert_eq!(v["inferenceConfig"]["temperature"], json!(0.2));
        assert_eq!(
            v["additionalModelRequestFields"],
            json!({"top_k": 5}),
            "{v}"
        );
    }

    #[test]
    fn non_claude_models_get_no_claude_fields() {
        let mut r = canonical(r#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}"#);
        r.sampling.top_k = Some(5);
        r.thinking = Some(ThinkingConfig {
            enabled: true,
            budget_tokens: Some(2000),
            effort: None,
            summary: None,
        });
        r.tool_choice = Some(ToolChoice::None);
        r.tools.push(ToolDefinition {
            kind: ToolKind::Function,
            name: "f".into(),
            description: None,
            parameters: None,
            strict: None,
            namespace: None,
            cache_control: None,
            extra: None,
        });
        let up = encode_request(Operation::Chat, &r, &target("amazon.nova-pro-v1:0")).unwrap();
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            v,
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        );
    }

    #[test]
    fn unsupported_content_is_a_clear_error() {
        let base = canonical(r#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}"#);
        let with = |b: ContentBlock| {
            let mut r = base.clone();
            r.messages[0].content.push(b);
            encode_request(Operation::Chat, &r, &target(MODEL)).unwrap_err()
        };
        let img = |src: MediaSource, mt: Option<&str>| {
            ContentBlock::Image(ImageBlock {
                source: src,
                media_type: mt.map(str::to_string),
                detail: None,
                cache_control: None,
                extra: None,
            })
        };
        let e = with(img(MediaSource::Url("https://x/a.png".into()), None));
        assert!(
            e.message.contains("URLs are not supported"),
            "{}",
            e.message
        );
        let e = with(img(MediaSource::FileId("file_1".into()), Some("image/png")));
        assert!(e.message.contains("file ids"), "{}", e.message);
        let e = with(img(
            MediaSource::Inline(InlineData {
                media_type: "image/tiff".into(),
                data: "x".into(),
            }),
            None,
        ));
        assert!(e.message.contains("image/tiff"), "{}", e.message);
        let mut r = base.clone();
        r.tools.push(ToolDefinition {
            kind: ToolKind::Builtin("web_search_20250305".into()),
            name: "web_search".into(),
            description: None,
            parameters: None,
            strict: None,
            namespace: None,
            cache_control: None,
            extra: None,
        });
        let e = encode_request(Operation::Chat, &r, &target(MODEL)).unwrap_err();
        assert!(e.message.contains("web_search_20250305"), "{}", e.message);
    }

    #[test]
    fn decode_errors_are_precise() {
        for (body, want) in [
            (r#"[]"#, "expected object"),
            (r#"{"messages": 1}"#, "messages: expected array"),
            (
                r#"{"messages": [{"role": "system", "content": []}]}"#,
                "messages.0.role",
            ),
            (
                r#"{"messages": [{"role": "user", "content": [{"text": 5}]}]}"#,
                "messages.0.content.0.text",
            ),
            (
                r#"{"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]}"#,
                "exactly one member",
            ),
            (
                r#"{"messages": [{"role": "user", "content": [{"toolUse": {"name": "f"}}]}]}"#,
                "messages.0.content.0.toolUse.toolUseId",
            ),
            (
                r#"{"messages": [], "inferenceConfig": {"maxTokens": -1}}"#,
                "inferenceConfig.maxTokens",
            ),
            (
                r#"{"messages": [], "toolConfig": {"tools": [{"cachePoint": {}}]}}"#,
                "must follow a tool",
            ),
            (
                r#"{"messages": [], "toolConfig": {"tools": [], "toolChoice": {"none": {}}}}"#,
                "toolChoice",
            ),
        ] {
            let e = decode_request(Operation::Chat, body.as_bytes(), Some("m".into()), false)
                .unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
        let e = decode_request(Operation::Chat, br#"{"messages": []}"#, None, false).unwrap_err();
        assert!(e.message.contains("path"));
    }

    pub const RESPONSE: &str = r#"{
      "output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "t", "signature": "s"}}},
        {"text": "Hi"},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "f", "input": {"a": 1}}}
      ]}},
      "stopReason": "tool_use",
      "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 35, "cacheReadInputTokens": 5},
      "metrics": {"latencyMs": 812},
      "additionalModelResponseFields": {"stop_sequence": null}
    }"#;

    #[test]
    fn response_round_trips() {
        let r = decode_response(Operation::Chat, RESPONSE.as_bytes()).unwrap();
        assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(
            (r.usage.input_tokens, r.usage.cache_read_tokens),
            (Some(10), Some(5))
        );
        assert_eq!(r.content.len(), 3);
        let got: Value = serde_json::from_slice(&encode_response(&r).unwrap()).unwrap();
        let want: Value = serde_json::from_str(RESPONSE).unwrap();
        assert_eq!(got, want);

        let guard = r#"{"output": {"message": {"role": "assistant", "content": [{"text": "blocked"}]}},
            "stopReason": "guardrail_intervened", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}, "trace": {"guardrail": {}}}"#;
        let r = decode_response(Operation::Chat, guard.as_bytes()).unwrap();
        assert_eq!(r.stop_reason, Some(StopReason::ContentFilter));
        let got: Value = serde_json::from_slice(&encode_response(&r).unwrap()).unwrap();
        assert_eq!(got, serde_json::from_str::<Value>(guard).unwrap());

        let stop = r#"{"output": {"message": {"role": "assistant", "content": [{"text": "a"}]}}, "stopReason": "stop_sequence",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "additionalModelResponseFields": {"stop_sequence": "END"}}"#;
        let r = decode_response(Operation::Chat, stop.as_bytes()).unwrap();
        assert_eq!(r.stop_sequence.as_deref(), Some("END"));

        let e = decode_response(
            Operation::Chat,
            b"{\"output\": {\"message\": {\"content\": 3}}}",
        )
        .unwrap_err();
        assert_eq!(e.status, 502);
        assert_eq!(
            decode_response(Operation::Chat, b"nope")
                .unwrap_err()
                .status,
            502
        );
    }

    #[test]
    fn count_tokens_upstream() {
        let r = canonical(
            r#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 5}}"#,
        );
        let up = encode_request(
            Operation::CountTokens,
            &r,
            &target("anthropic.claude-3-5-haiku-20241022-v1:0"),
        )
        .unwrap();
        assert_eq!(
            up.path,
            "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/count-tokens"
        );
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            v,
            json!({"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}}})
        );
        let resp = decode_response(Operation::CountTokens, br#"{"inputTokens": 42}"#).unwrap();
        assert_eq!(resp.usage.input_tokens, Some(42));
        assert!(encode_request(Operation::ListModels, &r, &target("m")).is_err());
    }
}
