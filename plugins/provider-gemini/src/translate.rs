//! Full translation between Gemini `generateContent` JSON and the canonical chat model
//! (cross-dialect path): requests both ways, responses both ways, parts ↔ blocks.
//!
//! Conventions (see `docs/translation.md` for the fidelity notes):
//! - A `thoughtSignature` on a part that is not a thought becomes an empty thinking
//!   block carrying the signature just before that part's block; encoding puts such a
//!   signature back on the part that follows it. Other dialects keep thinking
//!   signatures, so a Gemini function call's signature survives a round trip through
//!   an Anthropic client.
//! - Function calls without an id get a deterministic generated id
//!   ([`wire::generated_id`]); responses are matched to calls by id, else by name and
//!   order. Generated ids never go back to Gemini.
//! - Fields the model does not name travel in Gemini-sourced `extra`s in the same shape
//!   as on the wire (e.g. `{"generationConfig": {"responseModalities": …}}`) and are
//!   merged back (never overwriting) by a same-dialect encode.

use std::collections::HashMap;

use serde_json::{json, Map, Value};
use tollgate_sdk::json::type_name;
use tollgate_sdk::provider::{
    ApiError, AudioBlock, ChatRequest, ChatResponse, ContentBlock, DocumentBlock, Header,
    ImageBlock, InlineData, JsonSchemaFormat, MediaSource, Message, Operation, ResponseFormat,
    Role, Sampling, StopReason, TargetInfo, TextBlock, ThinkingBlock, ThinkingConfig, ToolCall,
    ToolChoice, ToolDefinition, ToolKind, ToolResult, ToolResultPart, UpstreamRequest, Usage,
};
use tollgate_sdk::tools::{
    custom_call_arguments, custom_description, custom_input_schema, flat_name,
};

use crate::passthrough::parse_object;
use crate::wire::{
    self, bare_model, camel, extra_map, extra_of, field, generated_id, is_gemini3_plus,
    is_generated_id, merge_deep, merge_extra, model_resource, openapi_to_json_schema, snake,
    stop_reason_from, stop_reason_to, to_extra, unknown, usage_from, usage_to, Obj,
};

/// The API version used upstream unless the target's options say otherwise.
pub const DEFAULT_API_VERSION: &str = "v1beta";
/// The documented placeholder that makes Gemini 3 skip thought-signature validation
/// for function calls that came from elsewhere (another model, another dialect).
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

fn bad(msg: String) -> ApiError {
    ApiError::invalid_request(msg)
}

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, ApiError> {
    v.as_object()
        .ok_or_else(|| bad(format!("{path}: expected object, got {}", type_name(v))))
}

fn arr<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, ApiError> {
    v.as_array()
        .ok_or_else(|| bad(format!("{path}: expected array, got {}", type_name(v))))
}

fn opt_str(o: &Obj, key: &str, path: &str) -> Result<Option<String>, ApiError> {
    match field(o, key) {
        None => Ok(None),
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

fn opt_f64(o: &Obj, key: &str, path: &str) -> Result<Option<f64>, ApiError> {
    match field(o, key) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| {
            bad(format!(
                "{path}.{key}: expected a number, got {}",
                type_name(v)
            ))
        }),
    }
}

fn opt_i64(o: &Obj, key: &str, path: &str) -> Result<Option<i64>, ApiError> {
    match field(o, key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| bad(format!("{path}.{key}: expected an integer"))),
    }
}

fn opt_u32(o: &Obj, key: &str, path: &str) -> Result<Option<u32>, ApiError> {
    match opt_i64(o, key, path)? {
        None => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| bad(format!("{path}.{key}: expected a non-negative integer"))),
    }
}

fn looks_like_object(s: &str) -> bool {
    s.trim_start().starts_with('{') && serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object())
}

// ----- parts → blocks -----

const THOUGHT_KNOWN: &[&str] = &["text", "thought", "thoughtSignature"];

/// Where a Files API (or Cloud Storage) URI is a provider file id; other URIs are URLs.
fn is_file_uri(uri: &str) -> bool {
    uri.starts_with("gs://")
        || (uri.contains("generativelanguage.googleapis.com/") && uri.contains("/files/"))
}

/// A media block for bytes or a reference of media type `mime`: images and audio by
/// their type, anything else (PDF, text, video) as a document.
fn media_block(mime: Option<String>, source: MediaSource, extra: Obj) -> ContentBlock {
    let inline = matches!(source, MediaSource::Inline(_));
    let kind = mime.as_deref().unwrap_or_default();
    let media_type = if inline { None } else { mime.clone() };
    if kind.starts_with("image/") {
        ContentBlock::Image(ImageBlock {
            source,
            media_type,
            detail: None,
            cache_control: None,
            extra: to_extra(extra),
        })
    } else if kind.starts_with("audio/") {
        ContentBlock::Audio(AudioBlock {
            source,
            format: mime,
            extra: to_extra(extra),
        })
    } else {
        ContentBlock::Document(DocumentBlock {
            source,
            media_type,
            title: None,
            context: None,
            citations: None,
            filename: None,
            cache_control: None,
            extra: to_extra(extra),
        })
    }
}

/// `inlineData` or `fileData` of a part as (media type, source), if it has either.
fn media_of(po: &Obj, path: &str) -> Result<Option<(Option<String>, MediaSource)>, ApiError> {
    if let Some(d) = field(po, "inlineData") {
        let p = format!("{path}.inlineData");
        let d = obj(d, &p)?;
        let mime = req_str(d, "mimeType", &p)?;
        let data = req_str(d, "data", &p)?;
        return Ok(Some((
            Some(mime.clone()),
            MediaSource::Inline(InlineData {
                media_type: mime,
                data,
            }),
        )));
    }
    if let Some(f) = field(po, "fileData") {
        let p = format!("{path}.fileData");
        let f = obj(f, &p)?;
        let uri = req_str(f, "fileUri", &p)?;
        let mime = opt_str(f, "mimeType", &p)?;
        let source = if is_file_uri(&uri) {
            MediaSource::FileId(uri)
        } else {
            MediaSource::Url(uri)
        };
        return Ok(Some((mime, source)));
    }
    Ok(None)
}

/// A function response's `response` as tool-result text: `{"output": s}` and
/// `{"error": s}` (what Gemini CLI and the SDKs send) unwrap to `s`, anything else is
/// kept as its JSON text.
fn response_content(response: Option<&Value>) -> (Vec<ToolResultPart>, bool) {
    let Some(v) = response else {
        return (Vec::new(), false);
    };
    if let Some(o) = v.as_object().filter(|o| o.len() == 1) {
        for key in ["output", "error"] {
            if let Some(Value::String(s)) = o.get(key) {
                if !looks_like_object(s) {
                    return (vec![ToolResultPart::Text(s.clone())], key == "error");
                }
            }
        }
    }
    (vec![ToolResultPart::Text(v.to_string())], false)
}

fn tool_result_from(fr: &Obj, path: &str, id: String) -> Result<ToolResult, ApiError> {
    let name = req_str(fr, "name", path)?;
    let (mut content, is_error) = response_content(field(fr, "response"));
    if let Some(parts) = field(fr, "parts") {
        for (k, p) in arr(parts, &format!("{path}.parts"))?.iter().enumerate() {
            let pp = format!("{path}.parts.{k}");
            let po = obj(p, &pp)?;
            match media_of(po, &pp)? {
                Some((mime, source)) => match media_block(mime, source, Map::new()) {
                    ContentBlock::Image(i) => content.push(ToolResultPart::Image(i)),
                    ContentBlock::Document(d) => content.push(ToolResultPart::Document(d)),
                    ContentBlock::Audio(a) => {
                        // No audio slot in tool results: an audio clip travels as a document.
                        content.push(ToolResultPart::Document(DocumentBlock {
                            source: a.source,
                            media_type: None,
                            title: None,
                            context: None,
                            citations: None,
                            filename: None,
                            cache_control: None,
                            extra: None,
                        }))
                    }
                    _ => {}
                },
                None => return Err(bad(format!("{pp}: expected inlineData or fileData"))),
            }
        }
    }
    let inner = unknown(fr, &["id", "name", "response", "parts"]);
    let mut extra = Map::new();
    if !inner.is_empty() {
        extra.insert("functionResponse".into(), Value::Object(inner));
    }
    Ok(ToolResult {
        call_id: id,
        name: Some(name),
        content,
        is_error,
        cache_control: None,
        extra: to_extra(extra),
    })
}

/// Decode one part into `out` (zero, one or two blocks). `call_id` is the id for a
/// functionCall / functionResponse part.
fn decode_part(
    p: &Value,
    path: &str,
    call_id: impl FnOnce() -> String,
    out: &mut Vec<ContentBlock>,
) -> Result<(), ApiError> {
    let po = obj(p, path)?;
    let sig = opt_str(po, "thoughtSignature", path)?;
    if field(po, "thought").and_then(Value::as_bool) == Some(true) {
        let text = opt_str(po, "text", path)?.unwrap_or_default();
        let mut rest = unknown(po, THOUGHT_KNOWN);
        // Consecutive thought parts (a streamed thought) form one block; the signature
        // closes it.
        if let Some(ContentBlock::Thinking(last)) = out.last_mut() {
            if last.signature.is_none() && last.extra.is_none() && rest.is_empty() {
                last.text.push_str(&text);
                last.signature = sig;
                return Ok(());
            }
        }
        if text.is_empty() {
            // Marks an empty thought part of its own (not a signature carrier).
            rest.insert("thought".into(), json!(true));
        }
        out.push(ContentBlock::Thinking(ThinkingBlock {
            text,
            signature: sig,
            extra: to_extra(rest),
        }));
        return Ok(());
    }
    let carrier = |out: &mut Vec<ContentBlock>, sig: Option<String>| {
        if let Some(s) = sig {
            out.push(ContentBlock::Thinking(ThinkingBlock {
                text: String::new(),
                signature: Some(s),
                extra: None,
            }));
        }
    };
    if let Some(t) = field(po, "text") {
        let text = t.as_str().ok_or_else(|| {
            bad(format!(
                "{path}.text: expected string, got {}",
                type_name(t)
            ))
        })?;
        carrier(out, sig);
        out.push(ContentBlock::Text(TextBlock {
            text: text.to_string(),
            cache_control: None,
            citations: None,
            extra: extra_of(po, THOUGHT_KNOWN),
        }));
    } else if let Some((mime, source)) = media_of(po, path)? {
        carrier(out, sig);
        let extra = unknown(po, &["inlineData", "fileData", "thoughtSignature"]);
        out.push(media_block(mime, source, extra));
    } else if let Some(fc) = field(po, "functionCall") {
        let fp = format!("{path}.functionCall");
        let fc = obj(fc, &fp)?;
        let name = req_str(fc, "name", &fp)?;
        let arguments = field(fc, "args").map_or_else(|| "{}".to_string(), Value::to_string);
        let mut extra = unknown(po, &["functionCall", "thoughtSignature"]);
        let inner = unknown(fc, &["id", "name", "args"]);
        if !inner.is_empty() {
            extra.insert("functionCall".into(), Value::Object(inner));
        }
        carrier(out, sig);
        out.push(ContentBlock::ToolCall(ToolCall {
            id: call_id(),
            name,
            arguments,
            kind: ToolKind::Function,
            namespace: None,
            cache_control: None,
            extra: to_extra(extra),
        }));
    } else if let Some(fr) = field(po, "functionResponse") {
        let fp = format!("{path}.functionResponse");
        let mut r = tool_result_from(obj(fr, &fp)?, &fp, call_id())?;
        let outer = unknown(po, &["functionResponse", "thoughtSignature"]);
        if !outer.is_empty() {
            let mut m = extra_map(r.extra.as_ref()).unwrap_or_default();
            merge_deep(&mut m, &outer);
            r.extra = to_extra(m);
        }
        carrier(out, sig);
        out.push(ContentBlock::ToolResult(r));
    } else if po.keys().all(|k| wire::is_known(k, &["thoughtSignature"])) {
        // A part that only carries a signature (the end of a streamed answer).
        carrier(out, sig);
    } else {
        // executableCode, codeExecutionResult and parts the model does not name: kept
        // whole, signature included.
        out.push(ContentBlock::Other(tollgate_sdk::provider::Extra {
            source: tollgate_sdk::provider::Dialect::Gemini,
            fields: p.to_string(),
        }));
    }
    Ok(())
}

/// Call ids for the functionCall / functionResponse parts of `contents`, keyed by
/// (content index, part index). Given ids are kept; a call without one gets a generated
/// id, or the id of the response that answers it when that response has one (Gemini
/// CLI makes up ids for id-less calls). Responses without an id take the id of the
/// oldest unanswered call of the same name.
fn assign_call_ids(contents: &[Value]) -> HashMap<(usize, usize), String> {
    struct Call {
        at: (usize, usize),
        name: String,
        id: String,
        given: bool,
    }
    let name_of = |o: &Obj| {
        field(o, "name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let id_of = |o: &Obj| {
        field(o, "id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut ids = HashMap::new();
    let mut open: Vec<Call> = Vec::new();
    for (i, c) in contents.iter().enumerate() {
        let Some(parts) = c
            .as_object()
            .and_then(|o| field(o, "parts"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (j, p) in parts.iter().enumerate() {
            let Some(po) = p.as_object() else { continue };
            if let Some(fc) = field(po, "functionCall").and_then(Value::as_object) {
                let name = name_of(fc);
                let given = id_of(fc);
                let id = given.clone().unwrap_or_else(|| {
                    let args = field(fc, "args").map(Value::to_string).unwrap_or_default();
                    generated_id(&format!("{i}.{j}"), &name, &args)
                });
                ids.insert((i, j), id.clone());
                open.push(Call {
                    at: (i, j),
                    name,
                    id,
                    given: given.is_some(),
                });
            } else if let Some(fr) = field(po, "functionResponse").and_then(Value::as_object) {
                let name = name_of(fr);
                let id = match id_of(fr) {
                    Some(g) => {
                        if let Some(k) = open.iter().position(|c| c.id == g) {
                            open.remove(k);
                        } else if let Some(k) = open.iter().position(|c| !c.given && c.name == name)
                        {
                            ids.insert(open.remove(k).at, g.clone());
                        }
                        g
                    }
                    None => match open.iter().position(|c| c.name == name) {
                        Some(k) => open.remove(k).id,
                        None => generated_id(&format!("{i}.{j}"), &name, ""),
                    },
                };
                ids.insert((i, j), id);
            }
        }
    }
    ids
}

fn decode_contents(contents: &[Value]) -> Result<Vec<Message>, ApiError> {
    let ids = assign_call_ids(contents);
    let mut messages = Vec::with_capacity(contents.len());
    for (i, c) in contents.iter().enumerate() {
        let path = format!("contents.{i}");
        let co = obj(c, &path)?;
        let role = match opt_str(co, "role", &path)?.as_deref() {
            None | Some("") | Some("user") => Role::User,
            Some("model") => Role::Assistant,
            Some("function") | Some("tool") => Role::Tool,
            Some(r) => {
                return Err(bad(format!(
                    "{path}.role: expected \"user\" or \"model\", got \"{r}\""
                )))
            }
        };
        let mut content = Vec::new();
        if let Some(parts) = field(co, "parts") {
            for (j, p) in arr(parts, &format!("{path}.parts"))?.iter().enumerate() {
                let pp = format!("{path}.parts.{j}");
                let id = || ids.get(&(i, j)).cloned().unwrap_or_default();
                decode_part(p, &pp, id, &mut content)?;
            }
        }
        messages.push(Message {
            role,
            content,
            name: None,
            extra: extra_of(co, &["role", "parts"]),
        });
    }
    Ok(messages)
}

// ----- blocks → parts -----

/// What encoding blocks needs beyond the blocks.
struct PartsCtx<'a> {
    /// The target is Gemini 3 or later (nested media in function responses).
    gemini3: bool,
    /// Function name by call id, for tool results that do not name theirs.
    names: &'a HashMap<String, String>,
}

fn sig_only(sig: String) -> Value {
    json!({"text": "", "thoughtSignature": sig})
}

fn data_url(u: &str) -> Option<(&str, &str)> {
    u.strip_prefix("data:")?.split_once(";base64,")
}

/// The part for media bytes or a reference; `what` names the block in errors.
fn media_part(
    source: &MediaSource,
    media_type: Option<&str>,
    what: &str,
) -> Result<Value, ApiError> {
    let file = |uri: &str| {
        let mut f = Map::new();
        if let Some(mt) = media_type.filter(|m| !m.is_empty()) {
            f.insert("mimeType".into(), json!(mt));
        }
        f.insert("fileUri".into(), json!(uri));
        json!({ "fileData": f })
    };
    Ok(match source {
        MediaSource::Inline(d) => {
            let mime = if d.media_type.is_empty() {
                media_type.unwrap_or("application/octet-stream")
            } else {
                d.media_type.as_str()
            };
            json!({"inlineData": {"mimeType": mime, "data": d.data}})
        }
        MediaSource::Url(u) => match data_url(u) {
            Some((mt, data)) => json!({"inlineData": {"mimeType": mt, "data": data}}),
            None if u.starts_with("data:") => {
                return Err(bad(format!(
                    "{what}: only base64 data: URLs can be sent to Gemini"
                )))
            }
            None => file(u),
        },
        MediaSource::FileId(f) if f.contains("://") => file(f),
        MediaSource::FileId(f) if f.starts_with("files/") => file(&format!(
            "https://generativelanguage.googleapis.com/{DEFAULT_API_VERSION}/{f}"
        )),
        MediaSource::FileId(f) => {
            return Err(bad(format!(
                "{what}: file id `{f}` is not a Gemini file (files/… or a URI)"
            )))
        }
        MediaSource::Text(t) if what == "document" => json!({ "text": t }),
        MediaSource::Text(_) => return Err(bad(format!("{what}: a text source is not media"))),
    })
}

/// Function-call arguments as the JSON object Gemini wants.
fn args_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        Ok(v) => json!({ "input": v }),
        Err(_) if arguments.trim().is_empty() => json!({}),
        Err(_) => json!({ "input": arguments }),
    }
}

/// The `functionCall` part for a call (made-up ids left out).
pub fn function_call_part(c: &ToolCall) -> Value {
    let mut fc = Map::new();
    if !c.id.is_empty() && !is_generated_id(&c.id) {
        fc.insert("id".into(), json!(c.id));
    }
    fc.insert(
        "name".into(),
        json!(flat_name(&c.name, c.namespace.as_deref())),
    );
    fc.insert("args".into(), args_object(&c.arguments));
    let mut m = Map::new();
    m.insert("functionCall".into(), Value::Object(fc));
    merge_extra(&mut m, c.extra.as_ref());
    Value::Object(m)
}

fn tool_result_parts(
    r: &ToolResult,
    ctx: &PartsCtx<'_>,
    path: &str,
) -> Result<Vec<Value>, ApiError> {
    let name = r
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| ctx.names.get(&r.call_id).cloned())
        .ok_or_else(|| {
            bad(format!(
                "{path}: the result of call `{}` names no function and no earlier call has that id",
                r.call_id
            ))
        })?;
    let texts: Vec<&str> = r
        .content
        .iter()
        .filter_map(|p| match p {
            ToolResultPart::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let joined = texts.join("\n");
    let response = if r.is_error {
        json!({ "error": joined })
    } else if texts.is_empty() {
        json!({})
    } else if texts.len() == 1 && looks_like_object(&joined) {
        serde_json::from_str::<Value>(&joined).unwrap_or_else(|_| json!({ "output": joined }))
    } else {
        json!({ "output": joined })
    };
    let mut nested = Vec::new();
    let mut siblings = Vec::new();
    for p in &r.content {
        let (source, media_type, what) = match p {
            ToolResultPart::Text(_) => continue,
            ToolResultPart::Image(i) => (&i.source, i.media_type.as_deref(), "image"),
            ToolResultPart::Document(d) => (&d.source, d.media_type.as_deref(), "document"),
        };
        let part = media_part(source, media_type, what)?;
        // Gemini 3 takes inline media inside the function response; older models (and
        // file references) get them as parts after it, as Gemini CLI does.
        if ctx.gemini3 && part.get("inlineData").is_some() {
            nested.push(part);
        } else {
            siblings.push(part);
        }
    }
    let mut fr = Map::new();
    if !r.call_id.is_empty() && !is_generated_id(&r.call_id) {
        fr.insert("id".into(), json!(r.call_id));
    }
    fr.insert("name".into(), json!(name));
    fr.insert("response".into(), response);
    if !nested.is_empty() {
        fr.insert("parts".into(), Value::Array(nested));
    }
    let mut m = Map::new();
    m.insert("functionResponse".into(), Value::Object(fr));
    merge_extra(&mut m, r.extra.as_ref());
    let mut out = vec![Value::Object(m)];
    out.extend(siblings);
    Ok(out)
}

/// Whether a thinking block is an empty thought part of its own rather than a carrier
/// of the next part's signature.
fn is_own_thought(t: &ThinkingBlock) -> bool {
    extra_map(t.extra.as_ref()).is_some_and(|m| m.contains_key("thought"))
}

/// Encode one block as zero or more parts.
fn encode_block(
    b: &ContentBlock,
    ctx: &PartsCtx<'_>,
    path: &str,
    out: &mut Vec<Value>,
) -> Result<(), ApiError> {
    let mut m = Map::new();
    match b {
        ContentBlock::Text(t) => {
            m.insert("text".into(), json!(t.text));
            merge_extra(&mut m, t.extra.as_ref());
        }
        ContentBlock::Image(i) => {
            m = as_obj(media_part(&i.source, i.media_type.as_deref(), "image")?);
            merge_extra(&mut m, i.extra.as_ref());
        }
        ContentBlock::Document(d) => {
            m = as_obj(media_part(&d.source, d.media_type.as_deref(), "document")?);
            merge_extra(&mut m, d.extra.as_ref());
        }
        ContentBlock::Audio(a) => {
            let fallback = a.format.as_deref().map(|f| {
                if f.contains('/') {
                    f.to_string()
                } else {
                    format!("audio/{f}")
                }
            });
            m = as_obj(media_part(&a.source, fallback.as_deref(), "audio")?);
            merge_extra(&mut m, a.extra.as_ref());
        }
        ContentBlock::ToolCall(c) => {
            if matches!(c.kind, ToolKind::Custom) {
                // A free-form call in history: its raw input as the one argument
                // (see `tollgate_sdk::tools`).
                let mut c = c.clone();
                c.arguments = custom_call_arguments(&c.arguments);
                out.push(function_call_part(&c));
            } else {
                out.push(function_call_part(c));
            }
            return Ok(());
        }
        ContentBlock::ToolResult(r) => {
            out.extend(tool_result_parts(r, ctx, path)?);
            return Ok(());
        }
        ContentBlock::Thinking(t) => {
            if t.text.is_empty() && !is_own_thought(t) {
                if let Some(sig) = &t.signature {
                    out.push(sig_only(sig.clone()));
                }
                return Ok(());
            }
            m.insert("text".into(), json!(t.text));
            m.insert("thought".into(), json!(true));
            if let Some(sig) = &t.signature {
                m.insert("thoughtSignature".into(), json!(sig));
            }
            merge_extra(&mut m, t.extra.as_ref());
        }
        // Anthropic's encrypted reasoning means nothing to Gemini.
        ContentBlock::RedactedThinking(_) => return Ok(()),
        ContentBlock::Other(e) => {
            if e.source == tollgate_sdk::provider::Dialect::Gemini {
                if let Ok(v) = serde_json::from_str::<Value>(&e.fields) {
                    out.push(v);
                }
            }
            return Ok(());
        }
    }
    out.push(Value::Object(m));
    Ok(())
}

fn as_obj(v: Value) -> Obj {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Encode a message's blocks as parts, putting each carried signature on the part
/// that follows it.
fn encode_blocks(
    blocks: &[ContentBlock],
    ctx: &PartsCtx<'_>,
    path: &str,
) -> Result<Vec<Value>, ApiError> {
    let mut parts = Vec::with_capacity(blocks.len());
    let mut carry: Option<String> = None;
    for (k, b) in blocks.iter().enumerate() {
        if let ContentBlock::Thinking(t) = b {
            if t.text.is_empty() && !is_own_thought(t) {
                if let Some(sig) = &t.signature {
                    if let Some(old) = carry.replace(sig.clone()) {
                        parts.push(sig_only(old));
                    }
                }
                continue;
            }
        }
        let start = parts.len();
        encode_block(b, ctx, &format!("{path}.{k}"), &mut parts)?;
        if parts.len() == start {
            continue; // nothing emitted: the signature waits for the next part
        }
        if let Some(sig) = carry.take() {
            let takes = parts[start].as_object().is_some_and(|p| {
                !p.contains_key("thoughtSignature")
                    && p.get("thought").and_then(Value::as_bool) != Some(true)
            });
            if takes {
                if let Some(p) = parts[start].as_object_mut() {
                    p.insert("thoughtSignature".into(), json!(sig));
                }
            } else {
                parts.insert(start, sig_only(sig));
            }
        }
    }
    if let Some(sig) = carry {
        parts.push(sig_only(sig));
    }
    Ok(parts)
}

// ----- requests -----

const REQUEST_KNOWN: &[&str] = &[
    "model",
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
];

const GENERATION_KNOWN: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "maxOutputTokens",
    "stopSequences",
    "candidateCount",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
];

fn function_decl_from(v: &Value, path: &str) -> Result<ToolDefinition, ApiError> {
    let o = obj(v, path)?;
    let mut extra = unknown(
        o,
        &["name", "description", "parameters", "parametersJsonSchema"],
    );
    let parameters = match (field(o, "parametersJsonSchema"), field(o, "parameters")) {
        (Some(js), _) => Some(js.to_string()),
        (None, Some(openapi)) => {
            // Kept as sent so a Gemini upstream gets the same OpenAPI schema back.
            extra.insert("parameters".into(), openapi.clone());
            Some(openapi_to_json_schema(openapi).to_string())
        }
        (None, None) => None,
    };
    Ok(ToolDefinition {
        kind: ToolKind::Function,
        name: req_str(o, "name", path)?,
        description: opt_str(o, "description", path)?,
        parameters,
        strict: None,
        namespace: None,
        cache_control: None,
        extra: to_extra(extra),
    })
}

fn tools_from(v: &Value) -> Result<Vec<ToolDefinition>, ApiError> {
    let mut tools = Vec::new();
    for (i, t) in arr(v, "tools")?.iter().enumerate() {
        let path = format!("tools.{i}");
        for (k, val) in obj(t, &path)? {
            if camel(k) == "functionDeclarations" {
                let p = format!("{path}.{k}");
                for (j, d) in arr(val, &p)?.iter().enumerate() {
                    tools.push(function_decl_from(d, &format!("{p}.{j}"))?);
                }
            } else {
                // googleSearch, codeExecution, urlContext, …: a builtin named by its
                // snake_case wire name, its settings object in `extra`.
                let name = snake(&camel(k));
                let settings = val.as_object().cloned().unwrap_or_default();
                tools.push(ToolDefinition {
                    kind: ToolKind::Builtin(name.clone()),
                    name,
                    description: None,
                    parameters: None,
                    strict: None,
                    namespace: None,
                    cache_control: None,
                    extra: to_extra(settings),
                });
            }
        }
    }
    Ok(tools)
}

/// The Gemini tool key for a builtin tool type, from this or another dialect.
fn builtin_key(t: &ToolDefinition, ty: &str) -> Option<String> {
    let gemini = extra_map(t.extra.as_ref()).is_some();
    Some(
        match ty {
            "google_search" => "googleSearch",
            "code_execution" | "code_interpreter" => "codeExecution",
            "url_context" => "urlContext",
            "google_search_retrieval" => "googleSearchRetrieval",
            "google_maps" => "googleMaps",
            "enterprise_web_search" => "enterpriseWebSearch",
            t if t.starts_with("web_search") => "googleSearch",
            t if t.starts_with("code_execution_") => "codeExecution",
            t if gemini => return Some(camel(t).into_owned()),
            _ => return None,
        }
        .to_string(),
    )
}

fn tools_to(tools: &[ToolDefinition]) -> Result<Vec<Value>, ApiError> {
    let mut out: Vec<Value> = Vec::new();
    let mut decls: Vec<Value> = Vec::new();
    let mut fn_slot = None;
    for t in tools {
        match &t.kind {
            ToolKind::Function => {
                let mut d = Map::new();
                d.insert(
                    "name".into(),
                    json!(flat_name(&t.name, t.namespace.as_deref())),
                );
                if let Some(desc) = &t.description {
                    d.insert("description".into(), json!(desc));
                }
                let openapi =
                    extra_map(t.extra.as_ref()).is_some_and(|m| m.contains_key("parameters"));
                if let (Some(p), false) = (&t.parameters, openapi) {
                    let schema: Value = serde_json::from_str(p).map_err(|e| {
                        bad(format!(
                            "tool `{}`: parameters are not valid JSON: {e}",
                            t.name
                        ))
                    })?;
                    d.insert("parametersJsonSchema".into(), schema);
                }
                merge_extra(&mut d, t.extra.as_ref());
                decls.push(Value::Object(d));
                if fn_slot.is_none() {
                    fn_slot = Some(out.len());
                    out.push(Value::Null);
                }
            }
            ToolKind::Custom => {
                // No free-form tools in Gemini: a function taking one string (see
                // `tollgate_sdk::tools`); the host unwraps the calls on the way back.
                let mut d = Map::new();
                d.insert(
                    "name".into(),
                    json!(flat_name(&t.name, t.namespace.as_deref())),
                );
                if let Some(desc) = custom_description(t) {
                    d.insert("description".into(), json!(desc));
                }
                d.insert("parametersJsonSchema".into(), custom_input_schema());
                decls.push(Value::Object(d));
                if fn_slot.is_none() {
                    fn_slot = Some(out.len());
                    out.push(Value::Null);
                }
            }
            ToolKind::Builtin(ty) => {
                let key = builtin_key(t, ty).ok_or_else(|| {
                    bad(format!(
                        "tool `{}`: the built-in tool `{ty}` has no Gemini equivalent",
                        t.name
                    ))
                })?;
                let settings = extra_map(t.extra.as_ref()).unwrap_or_default();
                out.push(json!({ key: settings }));
            }
        }
    }
    if let Some(slot) = fn_slot {
        out[slot] = json!({ "functionDeclarations": decls });
    }
    Ok(out)
}

/// Tool choice from `toolConfig`; `None` in the second slot when the config says more
/// than the canonical choice can (then it travels verbatim in `extra`).
fn tool_choice_from(tc: &Value) -> Result<(Option<ToolChoice>, bool), ApiError> {
    let o = obj(tc, "toolConfig")?;
    let Some(fcc) = field(o, "functionCallingConfig") else {
        return Ok((None, false));
    };
    let fo = obj(fcc, "toolConfig.functionCallingConfig")?;
    let mode = opt_str(fo, "mode", "toolConfig.functionCallingConfig")?;
    let allowed: Vec<&str> = field(fo, "allowedFunctionNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let simple = o.len() == 1
        && fo
            .keys()
            .all(|k| wire::is_known(k, &["mode", "allowedFunctionNames"]));
    let choice = match (mode.as_deref(), allowed.as_slice()) {
        (Some("AUTO"), []) => Some(ToolChoice::Auto),
        (Some("NONE"), []) => Some(ToolChoice::None),
        (Some("ANY"), []) => Some(ToolChoice::Required),
        (Some("ANY"), [one]) => Some(ToolChoice::Tool((*one).to_string())),
        (Some("ANY"), _) => return Ok((Some(ToolChoice::Required), false)),
        (Some("AUTO") | Some("VALIDATED") | None, _) => return Ok((Some(ToolChoice::Auto), false)),
        (Some("NONE"), _) => return Ok((Some(ToolChoice::None), false)),
        (Some(m), _) => {
            return Err(bad(format!(
                "toolConfig.functionCallingConfig.mode: unknown mode \"{m}\""
            )))
        }
    };
    Ok((choice, simple))
}

fn tool_choice_to(c: &ToolChoice) -> Value {
    let fcc = match c {
        ToolChoice::Auto => json!({"mode": "AUTO"}),
        ToolChoice::None => json!({"mode": "NONE"}),
        ToolChoice::Required => json!({"mode": "ANY"}),
        ToolChoice::Tool(n) => json!({"mode": "ANY", "allowedFunctionNames": [n]}),
    };
    json!({ "functionCallingConfig": fcc })
}

/// Thinking settings from `thinkingConfig`, and what they cannot say (a dynamic or
/// negative budget, an explicit `includeThoughts: false`, unknown fields).
fn thinking_from(v: &Value) -> Result<(ThinkingConfig, Obj), ApiError> {
    let p = "generationConfig.thinkingConfig";
    let o = obj(v, p)?;
    let mut rest = unknown(o, &["thinkingBudget", "thinkingLevel", "includeThoughts"]);
    let budget = opt_i64(o, "thinkingBudget", p)?;
    if let Some(b) = budget.filter(|&b| b < 0) {
        rest.insert("thinkingBudget".into(), json!(b));
    }
    let include = field(o, "includeThoughts").and_then(Value::as_bool);
    if include == Some(false) {
        rest.insert("includeThoughts".into(), json!(false));
    }
    let level = opt_str(o, "thinkingLevel", p)?;
    let effort = match level {
        Some(l) if l == "THINKING_LEVEL_UNSPECIFIED" => {
            rest.insert("thinkingLevel".into(), json!(l));
            None
        }
        l => l.map(|l| l.to_ascii_lowercase()),
    };
    Ok((
        ThinkingConfig {
            enabled: budget != Some(0),
            budget_tokens: budget
                .filter(|&b| b > 0)
                .map(|b| u32::try_from(b).unwrap_or(u32::MAX)),
            effort,
            summary: (include == Some(true)).then(|| "auto".to_string()),
        },
        rest,
    ))
}

/// A thinking budget for an effort level (models before Gemini 3 have no levels).
fn budget_for(effort: &str) -> i64 {
    match effort {
        "none" => 0,
        "minimal" => 512,
        "low" => 1024,
        "medium" => 8192,
        "high" | "xhigh" | "max" => 24576,
        _ => -1,
    }
}

fn level_for(effort: &str) -> String {
    match effort {
        "none" | "minimal" => "MINIMAL".to_string(),
        "xhigh" | "max" => "HIGH".to_string(),
        e => e.to_ascii_uppercase(),
    }
}

fn thinking_to(t: &ThinkingConfig, gemini3: bool) -> Obj {
    let mut m = Map::new();
    if !t.enabled {
        m.insert("thinkingBudget".into(), json!(0));
    } else if let (true, Some(e)) = (gemini3, &t.effort) {
        m.insert("thinkingLevel".into(), json!(level_for(e)));
    } else if let Some(b) = t.budget_tokens {
        m.insert("thinkingBudget".into(), json!(b));
    } else if let Some(e) = &t.effort {
        m.insert("thinkingBudget".into(), json!(budget_for(e)));
    }
    if t.summary.as_deref().is_some_and(|s| s != "none") {
        m.insert("includeThoughts".into(), json!(true));
    }
    m
}

fn string_list(v: &Value, path: &str) -> Result<Vec<String>, ApiError> {
    arr(v, path)?
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(format!("{path}: expected strings")))
        })
        .collect()
}

/// Decode a Gemini request into the canonical model. The model comes from the path
/// (`path_model`); a body `model` (countTokens' `generateContentRequest`) is the fallback.
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
    let mut o = obj(&v, "request")?;
    if op == Operation::CountTokens {
        if let Some(g) = field(o, "generateContentRequest") {
            o = obj(g, "generateContentRequest")?;
        }
    }
    let body_model = opt_str(o, "model", "request")?;
    let model = match (path_model.filter(|m| !m.is_empty()), body_model) {
        (Some(m), _) | (None, Some(m)) => bare_model(&m).to_string(),
        (None, None) => {
            return Err(bad(
                "model: expected in the path (/v1beta/models/{model}:generateContent)".to_string(),
            ))
        }
    };

    let mut system = Vec::new();
    if let Some(si) = field(o, "systemInstruction") {
        let so = obj(si, "systemInstruction")?;
        if let Some(parts) = field(so, "parts") {
            for (j, p) in arr(parts, "systemInstruction.parts")?.iter().enumerate() {
                let path = format!("systemInstruction.parts.{j}");
                let po = obj(p, &path)?;
                let text = opt_str(po, "text", &path)?.ok_or_else(|| {
                    bad(format!(
                        "{path}: only text parts are supported in systemInstruction"
                    ))
                })?;
                system.push(TextBlock {
                    text,
                    cache_control: None,
                    citations: None,
                    extra: extra_of(po, &["text"]),
                });
            }
        }
    }

    let messages = match field(o, "contents") {
        Some(c) => decode_contents(arr(c, "contents")?)?,
        None if op == Operation::Chat => return Err(bad("contents: field required".to_string())),
        None => Vec::new(),
    };
    let tools = match field(o, "tools") {
        Some(t) => tools_from(t)?,
        None => Vec::new(),
    };

    let mut extra = unknown(o, REQUEST_KNOWN);
    let mut tool_choice = None;
    if let Some(tc) = field(o, "toolConfig") {
        let (choice, exact) = tool_choice_from(tc)?;
        tool_choice = choice;
        if !exact {
            extra.insert("toolConfig".into(), tc.clone());
        }
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
    let mut thinking = None;
    let mut response_format = None;
    if let Some(g) = field(o, "generationConfig") {
        let p = "generationConfig";
        let go = obj(g, p)?;
        let mut gen_extra = unknown(go, GENERATION_KNOWN);
        sampling.max_tokens = opt_u32(go, "maxOutputTokens", p)?;
        sampling.temperature = opt_f64(go, "temperature", p)?;
        sampling.top_p = opt_f64(go, "topP", p)?;
        sampling.top_k = opt_u32(go, "topK", p)?;
        sampling.candidates = opt_u32(go, "candidateCount", p)?;
        sampling.seed = opt_i64(go, "seed", p)?;
        sampling.presence_penalty = opt_f64(go, "presencePenalty", p)?;
        sampling.frequency_penalty = opt_f64(go, "frequencyPenalty", p)?;
        if let Some(s) = field(go, "stopSequences") {
            sampling.stop = string_list(s, "generationConfig.stopSequences")?;
        }
        if let Some(tc) = field(go, "thinkingConfig") {
            let (t, rest) = thinking_from(tc)?;
            thinking = Some(t);
            if !rest.is_empty() {
                gen_extra.insert("thinkingConfig".into(), Value::Object(rest));
            }
        }
        let mime = opt_str(go, "responseMimeType", p)?;
        let json_schema = field(go, "responseJsonSchema");
        let openapi = field(go, "responseSchema");
        response_format = match (mime.as_deref(), json_schema, openapi) {
            (Some("application/json"), Some(js), _) => {
                if let Some(s) = openapi {
                    gen_extra.insert("responseSchema".into(), s.clone());
                }
                Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
                    name: None,
                    description: None,
                    schema: js.to_string(),
                    strict: None,
                }))
            }
            (Some("application/json"), None, Some(s)) => {
                // The OpenAPI original rides along for a Gemini upstream.
                gen_extra.insert("responseSchema".into(), s.clone());
                Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
                    name: None,
                    description: None,
                    schema: openapi_to_json_schema(s).to_string(),
                    strict: None,
                }))
            }
            (Some("application/json"), None, None) => Some(ResponseFormat::JsonObject),
            (Some("text/plain"), None, None) => Some(ResponseFormat::Text),
            (None, None, None) => None,
            (m, js, s) => {
                // e.g. text/x.enum: no canonical form; kept as sent.
                for (k, val) in [
                    ("responseMimeType", m.map(|m| json!(m))),
                    ("responseJsonSchema", js.cloned()),
                    ("responseSchema", s.cloned()),
                ] {
                    if let Some(val) = val {
                        gen_extra.insert(k.into(), val);
                    }
                }
                None
            }
        };
        if !gen_extra.is_empty() {
            extra.insert("generationConfig".into(), Value::Object(gen_extra));
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
        stream: stream && op == Operation::Chat,
        stream_include_usage: false,
        user: None,
        metadata: None,
        extra: to_extra(extra),
    })
}

/// Per-target options (`target-info.options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `api_version`: `v1beta` (default) or `v1`.
    pub api_version: String,
    /// `thought_signature_fallback`: the signature put on the first function call of a
    /// model turn that has none. Default: [`SKIP_SIGNATURE`] for Gemini 3+ models,
    /// none for older ones; `false` turns it off, a string sets it.
    pub signature_fallback: Option<String>,
}

impl Options {
    /// Read the options JSON for a request to `model`.
    pub fn parse(options: &str, model: &str) -> Result<Options, ApiError> {
        let v: Value = if options.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(options)
                .map_err(|e| ApiError::internal(format!("gemini target options: {e}")))?
        };
        let api_version = match v.get("api_version") {
            None | Some(Value::Null) => DEFAULT_API_VERSION.to_string(),
            Some(Value::String(s)) if !s.is_empty() && !s.contains(['/', '?']) => s.clone(),
            Some(_) => {
                return Err(ApiError::internal(
                    "gemini target options: api_version must be a version like \"v1beta\"",
                ))
            }
        };
        let signature_fallback = match v.get("thought_signature_fallback") {
            None | Some(Value::Null) => is_gemini3_plus(model).then(|| SKIP_SIGNATURE.to_string()),
            Some(Value::Bool(true)) => Some(SKIP_SIGNATURE.to_string()),
            Some(Value::Bool(false)) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(ApiError::internal(
                "gemini target options: thought_signature_fallback must be a boolean or a string",
            )),
        };
        Ok(Options {
            api_version,
            signature_fallback,
        })
    }
}

/// Put `sig` on the first function call of each model turn whose calls carry none.
fn add_signature_fallback(contents: &mut [Value], sig: &str) {
    for c in contents {
        if c.get("role").and_then(Value::as_str) != Some("model") {
            continue;
        }
        let Some(parts) = c.get_mut("parts").and_then(Value::as_array_mut) else {
            continue;
        };
        let calls = || parts.iter().filter(|p| p.get("functionCall").is_some());
        if calls().next().is_none() || calls().any(|p| p.get("thoughtSignature").is_some()) {
            continue;
        }
        if let Some(p) = parts
            .iter_mut()
            .find(|p| p.get("functionCall").is_some())
            .and_then(Value::as_object_mut)
        {
            p.insert("thoughtSignature".into(), json!(sig));
        }
    }
}

/// The Gemini `GenerateContentRequest` body for a canonical request (without `model`).
pub fn request_body(r: &ChatRequest, model: &str, opts: &Options) -> Result<Obj, ApiError> {
    let gemini3 = is_gemini3_plus(model);
    let mut names = HashMap::new();
    for msg in &r.messages {
        for b in &msg.content {
            if let ContentBlock::ToolCall(c) = b {
                names.insert(c.id.clone(), flat_name(&c.name, c.namespace.as_deref()));
            }
        }
    }
    let ctx = PartsCtx {
        gemini3,
        names: &names,
    };

    let mut system_parts: Vec<Value> = r
        .system
        .iter()
        .map(|t| {
            let mut m = Map::new();
            m.insert("text".into(), json!(t.text));
            merge_extra(&mut m, t.extra.as_ref());
            Value::Object(m)
        })
        .collect();
    let mut contents: Vec<Value> = Vec::with_capacity(r.messages.len());
    let mut leading = true;
    let mut last_was_tool = false;
    for (i, msg) in r.messages.iter().enumerate() {
        let path = format!("messages.{i}.content");
        let parts = encode_blocks(&msg.content, &ctx, &path)?;
        let role = match msg.role {
            // System messages before the conversation join systemInstruction; later
            // ones become user turns (Gemini has no mid-conversation system role).
            Role::System | Role::Developer if leading => {
                system_parts.extend(parts);
                continue;
            }
            Role::System | Role::Developer | Role::User | Role::Tool => "user",
            Role::Assistant => "model",
        };
        leading = false;
        if parts.is_empty() {
            continue; // Gemini refuses empty turns (e.g. only Anthropic redacted thinking)
        }
        let is_tool = msg.role == Role::Tool;
        // Parallel results (one canonical tool message each) form one Gemini turn.
        if is_tool && last_was_tool {
            if let Some(prev) = contents
                .last_mut()
                .and_then(|c| c.get_mut("parts"))
                .and_then(Value::as_array_mut)
            {
                prev.extend(parts);
                continue;
            }
        }
        last_was_tool = is_tool;
        let mut c = Map::new();
        c.insert("role".into(), json!(role));
        c.insert("parts".into(), Value::Array(parts));
        merge_extra(&mut c, msg.extra.as_ref());
        contents.push(Value::Object(c));
    }
    if let Some(sig) = &opts.signature_fallback {
        add_signature_fallback(&mut contents, sig);
    }

    let mut m = Map::new();
    m.insert("contents".into(), Value::Array(contents));
    if !system_parts.is_empty() {
        m.insert("systemInstruction".into(), json!({ "parts": system_parts }));
    }
    if !r.tools.is_empty() {
        m.insert("tools".into(), Value::Array(tools_to(&r.tools)?));
    }
    let extra = extra_map(r.extra.as_ref()).unwrap_or_default();
    if let (Some(tc), false) = (&r.tool_choice, extra.contains_key("toolConfig")) {
        m.insert("toolConfig".into(), tool_choice_to(tc));
    }

    let mut g = Map::new();
    let s = &r.sampling;
    if let Some(t) = s.temperature {
        g.insert("temperature".into(), json!(t));
    }
    if let Some(p) = s.top_p {
        g.insert("topP".into(), json!(p));
    }
    if let Some(k) = s.top_k {
        g.insert("topK".into(), json!(k));
    }
    if let Some(n) = s.max_tokens {
        g.insert("maxOutputTokens".into(), json!(n));
    }
    if !s.stop.is_empty() {
        g.insert("stopSequences".into(), json!(s.stop));
    }
    if let Some(n) = s.candidates {
        g.insert("candidateCount".into(), json!(n));
    }
    if let Some(n) = s.seed {
        g.insert("seed".into(), json!(n));
    }
    if let Some(p) = s.presence_penalty {
        g.insert("presencePenalty".into(), json!(p));
    }
    if let Some(p) = s.frequency_penalty {
        g.insert("frequencyPenalty".into(), json!(p));
    }
    let gen_extra = extra
        .get("generationConfig")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    match &r.response_format {
        None => {}
        Some(ResponseFormat::Text) => {
            g.insert("responseMimeType".into(), json!("text/plain"));
        }
        Some(ResponseFormat::JsonObject) => {
            g.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema(f)) => {
            g.insert("responseMimeType".into(), json!("application/json"));
            // A Gemini client's OpenAPI schema goes back as it came (in `extra`).
            if !gen_extra.contains_key("responseSchema") {
                let schema: Value = serde_json::from_str(&f.schema).map_err(|e| {
                    bad(format!(
                        "response format: the JSON schema is not valid JSON: {e}"
                    ))
                })?;
                g.insert("responseJsonSchema".into(), schema);
            }
        }
    }
    if let Some(t) = &r.thinking {
        g.insert(
            "thinkingConfig".into(),
            Value::Object(thinking_to(t, gemini3)),
        );
    }
    merge_deep(&mut g, &gen_extra);
    if !g.is_empty() {
        m.insert("generationConfig".into(), Value::Object(g));
    }
    merge_deep(&mut m, &extra);
    Ok(m)
}

/// Build the upstream request for a canonical request.
pub fn encode_request(
    op: Operation,
    r: &ChatRequest,
    target: &TargetInfo,
) -> Result<UpstreamRequest, ApiError> {
    let model = if target.model.is_empty() {
        r.model.as_str()
    } else {
        target.model.as_str()
    };
    let opts = Options::parse(&target.options, model)?;
    let ver = &opts.api_version;
    let headers = vec![Header::new("content-type", "application/json")];
    if op == Operation::ListModels {
        return Ok(UpstreamRequest {
            method: "GET".into(),
            path: format!("/{ver}/models"),
            headers: Vec::new(),
            body: Vec::new(),
            stream: false,
        });
    }
    if model.is_empty() {
        return Err(bad("model: no model to ask Gemini for".to_string()));
    }
    let resource = model_resource(model);
    let body = request_body(r, model, &opts)?;
    let (path, body, stream) = match op {
        Operation::CountTokens => {
            // Contents alone count as `{"contents"}`; anything more needs the whole
            // request under `generateContentRequest` (the two are exclusive).
            let body = if body.len() == 1 {
                Value::Object(body)
            } else {
                let mut g = Map::new();
                g.insert("model".into(), json!(resource));
                g.extend(body);
                json!({ "generateContentRequest": g })
            };
            (format!("/{ver}/{resource}:countTokens"), body, false)
        }
        _ if r.stream => (
            format!("/{ver}/{resource}:streamGenerateContent?alt=sse"),
            Value::Object(body),
            true,
        ),
        _ => (
            format!("/{ver}/{resource}:generateContent"),
            Value::Object(body),
            false,
        ),
    };
    Ok(UpstreamRequest {
        method: "POST".into(),
        path,
        headers,
        body: body.to_string().into_bytes(),
        stream,
    })
}

// ----- responses -----

const RESPONSE_KNOWN: &[&str] = &["candidates", "usageMetadata", "modelVersion", "responseId"];

/// The candidate a single-choice answer reads: the one with `index` 0 (or none given).
pub fn first_candidate(candidates: &[Value]) -> Option<&Value> {
    candidates
        .iter()
        .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
}

/// Blocks of a response candidate's parts; generated call ids are seeded by
/// `response_id` and the part's position.
pub fn decode_candidate_parts(
    parts: &[Value],
    response_id: &str,
    first_index: usize,
    path: &str,
) -> Result<Vec<ContentBlock>, ApiError> {
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let id = || {
            let fc = p.get("functionCall");
            match fc.and_then(|f| f.get("id")).and_then(Value::as_str) {
                Some(id) if !id.is_empty() => id.to_string(),
                _ => generated_id(
                    &format!("{response_id}.{}", first_index + j),
                    fc.and_then(|f| f.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    &fc.and_then(|f| f.get("args"))
                        .map(Value::to_string)
                        .unwrap_or_default(),
                ),
            }
        };
        decode_part(p, &format!("{path}.{j}"), id, &mut out)?;
    }
    Ok(out)
}

/// Decode a complete Gemini response (`generateContent` or `countTokens`).
pub fn decode_response(op: Operation, body: &[u8]) -> Result<ChatResponse, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_gateway(format!("upstream response is not JSON: {e}")))?;
    let o = v.as_object().ok_or_else(|| {
        ApiError::bad_gateway("upstream response is not a JSON object".to_string())
    })?;
    let upstream = |e: ApiError| ApiError::bad_gateway(format!("upstream response: {}", e.message));
    if op == Operation::CountTokens {
        let n = |k: &str| field(o, k).and_then(Value::as_u64);
        let mut usage = Usage::empty();
        let cached = n("cachedContentTokenCount");
        usage.input_tokens = n("totalTokens").map(|t| t.saturating_sub(cached.unwrap_or(0)));
        usage.cache_read_tokens = cached;
        return Ok(ChatResponse {
            id: String::new(),
            model: String::new(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage,
            extra: extra_of(o, &["totalTokens", "cachedContentTokenCount"]),
        });
    }
    let id = opt_str(o, "responseId", "response")
        .map_err(upstream)?
        .unwrap_or_default();
    let mut extra = unknown(o, RESPONSE_KNOWN);
    let candidates = match field(o, "candidates") {
        Some(c) => arr(c, "candidates").map_err(upstream)?.as_slice(),
        None => &[],
    };
    let mut content = Vec::new();
    let mut stop_reason = None;
    let mut kept: Vec<Value> = Vec::new();
    if let Some(c) = first_candidate(candidates) {
        let co = obj(c, "candidates.0").map_err(upstream)?;
        if let Some(parts) = field(co, "content")
            .and_then(Value::as_object)
            .and_then(|c| field(c, "parts"))
        {
            let parts = arr(parts, "candidates.0.content.parts").map_err(upstream)?;
            content = decode_candidate_parts(parts, &id, 0, "candidates.0.content.parts")
                .map_err(upstream)?;
        }
        let mut rest = unknown(co, &["content", "finishReason"]);
        if let Some(fr) = field(co, "finishReason").and_then(Value::as_str) {
            let called = content
                .iter()
                .any(|b| matches!(b, ContentBlock::ToolCall(_)));
            let r = stop_reason_from(fr, called);
            if stop_reason_to(r) != fr {
                rest.insert("finishReason".into(), json!(fr)); // e.g. RECITATION
            }
            stop_reason = Some(r);
        }
        kept.push(Value::Object(rest));
        kept.extend(candidates.iter().filter(|x| !std::ptr::eq(*x, c)).cloned());
    } else if field(o, "promptFeedback")
        .and_then(|p| p.get("blockReason"))
        .is_some()
    {
        // The prompt was blocked: no candidates at all.
        stop_reason = Some(StopReason::ContentFilter);
    }
    if kept.len() > 1
        || kept
            .first()
            .is_some_and(|c| c.as_object().is_some_and(|m| !m.is_empty()))
        || (candidates.is_empty() && field(o, "candidates").is_some())
    {
        extra.insert("candidates".into(), Value::Array(kept));
    }
    Ok(ChatResponse {
        id,
        model: opt_str(o, "modelVersion", "response")
            .map_err(upstream)?
            .unwrap_or_default(),
        content,
        stop_reason,
        stop_sequence: None,
        usage: field(o, "usageMetadata")
            .map(usage_from)
            .unwrap_or_default(),
        extra: to_extra(extra),
    })
}

/// The parts of a response's content (no call-name lookups are needed for answers).
pub fn response_parts(blocks: &[ContentBlock]) -> Result<Vec<Value>, ApiError> {
    let names = HashMap::new();
    let ctx = PartsCtx {
        gemini3: true,
        names: &names,
    };
    encode_blocks(blocks, &ctx, "content")
}

/// Encode a canonical response as a Gemini `GenerateContentResponse`.
pub fn encode_response(r: &ChatResponse) -> Result<Vec<u8>, ApiError> {
    let extra = extra_map(r.extra.as_ref());
    let same_dialect = extra.is_some();
    let mut extra = extra.unwrap_or_default();
    let had_candidates = extra.contains_key("candidates");
    let mut kept = match extra.remove("candidates") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let no_candidates = same_dialect
        && kept.is_empty()
        && r.content.is_empty()
        && extra.contains_key("promptFeedback");
    let mut candidates = Vec::new();
    if !no_candidates {
        let first_extra = if kept.is_empty() {
            Map::new()
        } else {
            as_obj(kept.remove(0))
        };
        let mut c = Map::new();
        let parts = response_parts(&r.content)?;
        if !parts.is_empty() {
            c.insert("content".into(), json!({"parts": parts, "role": "model"}));
        }
        if let Some(raw) = first_extra.get("finishReason") {
            c.insert("finishReason".into(), raw.clone());
        } else if let Some(s) = r.stop_reason {
            c.insert("finishReason".into(), json!(stop_reason_to(s)));
        }
        if !same_dialect {
            c.insert("index".into(), json!(0));
        }
        merge_deep(&mut c, &first_extra);
        candidates.push(Value::Object(c));
        candidates.extend(kept);
    }
    let mut m = Map::new();
    if !no_candidates || had_candidates {
        m.insert("candidates".into(), Value::Array(candidates));
    }
    if r.usage != Usage::empty() {
        m.insert("usageMetadata".into(), usage_to(&r.usage));
    }
    if !r.model.is_empty() {
        m.insert("modelVersion".into(), json!(r.model));
    }
    if !r.id.is_empty() {
        m.insert("responseId".into(), json!(r.id));
    }
    merge_deep(&mut m, &extra);
    Ok(Value::Object(m).to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tollgate_sdk::provider::{Dialect, Extra};

    const RICH: &str = r#"{
      "systemInstruction": {"parts": [{"text": "You are a coding agent."}, {"text": "Be brief."}]},
      "contents": [
        {"role": "user", "parts": [
          {"text": "What is in these?"},
          {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
          {"fileData": {"mimeType": "application/pdf", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
          {"fileData": {"fileUri": "https://www.youtube.com/watch?v=9hE5-98ZeCg"}, "videoMetadata": {"startOffset": "10s"}},
          {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}
        ]},
        {"role": "model", "parts": [
          {"text": "The user wants weather.", "thought": true},
          {"text": "Checking both cities.", "thoughtSignature": "c2lnLXRleHQ="},
          {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLWNhbGw="},
          {"functionCall": {"name": "get_weather", "args": {"city": "Tokyo"}}},
          {"functionCall": {"name": "read_file", "args": {"path": "a.rs"}}}
        ]},
        {"role": "user", "parts": [
          {"functionResponse": {"name": "get_weather", "response": {"output": "18C sunny"}}},
          {"functionResponse": {"name": "get_weather", "response": {"temp": 25, "unit": "C"}}},
          {"functionResponse": {"name": "read_file", "response": {"error": "no such file"}}}
        ]},
        {"role": "model", "parts": [
          {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
          {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\n"}},
          {"text": "Done."}
        ]},
        {"role": "user", "parts": [{"text": "Thanks ✓"}]}
      ],
      "tools": [
        {"functionDeclarations": [
          {"name": "get_weather", "description": "Weather by city",
           "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING", "nullable": true}}, "required": ["city"]}},
          {"name": "read_file", "parametersJsonSchema": {"type": "object", "properties": {"path": {"type": "string"}}, "additionalProperties": false},
           "behavior": "BLOCKING"}
        ]},
        {"googleSearch": {}},
        {"codeExecution": {}},
        {"urlContext": {}}
      ],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
      "generationConfig": {
        "temperature": 0.7, "topP": 0.95, "topK": 40, "maxOutputTokens": 2048, "stopSequences": ["END"],
        "candidateCount": 1, "seed": 42, "presencePenalty": 0.1, "frequencyPenalty": 0.2,
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object", "properties": {"answer": {"type": "string"}}},
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true},
        "responseModalities": ["TEXT"]
      },
      "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
      "cachedContent": "cachedContents/xyz"
    }"#;

    fn target(model: &str) -> TargetInfo {
        TargetInfo {
            model: model.to_string(),
            options: "{}".to_string(),
        }
    }

    fn body_of(up: &UpstreamRequest) -> Value {
        serde_json::from_slice(&up.body).unwrap()
    }

    fn text(t: &str) -> ContentBlock {
        ContentBlock::Text(TextBlock {
            text: t.to_string(),
            cache_control: None,
            citations: None,
            extra: None,
        })
    }

    fn msg(role: Role, content: Vec<ContentBlock>) -> Message {
        Message {
            role,
            content,
            name: None,
            extra: None,
        }
    }

    fn call(id: &str, name: &str, args: &str) -> ContentBlock {
        ContentBlock::ToolCall(ToolCall {
            id: id.to_string(),
            name: name.to_string(),
            arguments: args.to_string(),
            kind: ToolKind::Function,
            namespace: None,
            cache_control: None,
            extra: None,
        })
    }

    fn result(call_id: &str, content: Vec<ToolResultPart>, is_error: bool) -> ContentBlock {
        ContentBlock::ToolResult(ToolResult {
            call_id: call_id.to_string(),
            name: None,
            content,
            is_error,
            cache_control: None,
            extra: None,
        })
    }

    fn thinking(t: &str, sig: Option<&str>) -> ContentBlock {
        ContentBlock::Thinking(ThinkingBlock {
            text: t.to_string(),
            signature: sig.map(str::to_string),
            extra: None,
        })
    }

    fn canonical(messages: Vec<Message>) -> ChatRequest {
        let mut r = decode_request(
            Operation::Chat,
            br#"{"contents": []}"#,
            Some("m".into()),
            false,
        )
        .unwrap();
        r.messages = messages;
        r
    }

    #[test]
    fn rich_request_round_trips() {
        let r = decode_request(
            Operation::Chat,
            RICH.as_bytes(),
            Some("gemini-2.5-pro".into()),
            true,
        )
        .unwrap();
        assert_eq!(r.model, "gemini-2.5-pro");
        assert!(r.stream);
        assert_eq!(r.system.len(), 2);
        assert_eq!(r.messages.len(), 5);
        let user = &r.messages[0].content;
        assert!(
            matches!(&user[1], ContentBlock::Image(i) if matches!(&i.source, MediaSource::Inline(d) if d.media_type == "image/png"))
        );
        assert!(matches!(&user[2], ContentBlock::Document(d)
            if matches!(&d.source, MediaSource::FileId(f) if f.ends_with("files/abc123"))
            && d.media_type.as_deref() == Some("application/pdf")));
        assert!(
            matches!(&user[3], ContentBlock::Document(d) if matches!(&d.source, MediaSource::Url(_)) && d.extra.is_some())
        );
        assert!(
            matches!(&user[4], ContentBlock::Audio(a) if a.format.as_deref() == Some("audio/wav"))
        );

        // Thoughts, signatures (as empty thinking blocks before their parts), calls.
        let model = &r.messages[1].content;
        assert_eq!(model.len(), 7, "{model:#?}");
        assert!(
            matches!(&model[0], ContentBlock::Thinking(t) if t.text == "The user wants weather." && t.signature.is_none())
        );
        assert!(
            matches!(&model[1], ContentBlock::Thinking(t) if t.text.is_empty() && t.signature.as_deref() == Some("c2lnLXRleHQ="))
        );
        assert!(
            matches!(&model[3], ContentBlock::Thinking(t) if t.signature.as_deref() == Some("c2lnLWNhbGw="))
        );
        let ids: Vec<&str> = model
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolCall(c) => Some(c.id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.iter().all(|i| is_generated_id(i)));
        assert_ne!(ids[0], ids[1]);

        // Responses matched to calls by name and order.
        let results: Vec<(&str, bool, &ToolResultPart)> = r.messages[2]
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolResult(t) => {
                    Some((t.call_id.as_str(), t.is_error, &t.content[0]))
                }
                _ => None,
            })
            .collect();
        assert_eq!(results[0].0, ids[0]);
        assert_eq!(results[1].0, ids[1]);
        assert_eq!(results[2].0, ids[2]);
        assert_eq!(results[0].2, &ToolResultPart::Text("18C sunny".into()));
        assert_eq!(
            results[1].2,
            &ToolResultPart::Text(r#"{"temp":25,"unit":"C"}"#.into())
        );
        assert!(results[2].1);
        assert!(
            matches!(&r.messages[3].content[0], ContentBlock::Other(e) if e.source == Dialect::Gemini)
        );

        assert_eq!(r.tools.len(), 5);
        assert_eq!(
            serde_json::from_str::<Value>(r.tools[0].parameters.as_deref().unwrap()).unwrap(),
            json!({"type": "object", "properties": {"city": {"type": ["string", "null"]}}, "required": ["city"]})
        );
        assert!(matches!(&r.tools[2].kind, ToolKind::Builtin(t) if t == "google_search"));
        assert!(matches!(&r.tools[4].kind, ToolKind::Builtin(t) if t == "url_context"));
        assert_eq!(r.tool_choice, Some(ToolChoice::Tool("get_weather".into())));
        assert_eq!(r.sampling.max_tokens, Some(2048));
        assert_eq!(r.sampling.seed, Some(42));
        assert_eq!(r.sampling.stop, vec!["END".to_string()]);
        assert_eq!(
            r.thinking,
            Some(ThinkingConfig {
                enabled: true,
                budget_tokens: Some(1024),
                effort: None,
                summary: Some("auto".into())
            })
        );
        assert!(matches!(
            &r.response_format,
            Some(ResponseFormat::JsonSchema(_))
        ));

        let up = encode_request(Operation::Chat, &r, &target("gemini-2.5-pro")).unwrap();
        assert_eq!(
            (up.method.as_str(), up.path.as_str(), up.stream),
            (
                "POST",
                "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
                true
            )
        );
        let want: Value = serde_json::from_str(RICH).unwrap();
        let got = body_of(&up);
        assert_eq!(got, want, "\n got: {got:#}");

        // canonical -> gemini -> canonical is a fixed point.
        let again = decode_request(
            Operation::Chat,
            &up.body,
            Some("gemini-2.5-pro".into()),
            true,
        )
        .unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn malformed_input_is_an_error_never_a_panic() {
        let edits = tollgate_sdk::provider::RequestEdits {
            model: Some("x".into()),
            texts: vec![(0, "a".into()), (3, "b".into())],
        };
        let bytes = RICH.as_bytes();
        for i in (0..bytes.len()).step_by(2) {
            for body in [&bytes[..i], &[&bytes[..i], &bytes[i + 1..]].concat()[..]] {
                for op in [Operation::Chat, Operation::CountTokens] {
                    let _ = decode_request(op, body, Some("g".into()), false);
                    let _ = crate::passthrough::summarize(op, body, true);
                    let _ = crate::passthrough::summarize(op, body, false);
                    let _ = crate::passthrough::edit(op, body.to_vec(), &edits);
                    let _ = decode_response(op, body);
                    let _ = crate::passthrough::summarize_response(op, body);
                }
                let mut d = crate::stream::DecodeState::new(true);
                let _ = d.feed(body);
                let _ = d.finish();
            }
        }
    }

    #[test]
    fn snake_case_requests_decode_like_camel_case() {
        let snake = r#"{"system_instruction": {"parts": [{"text": "S"}]},
            "contents": [{"role": "user", "parts": [{"inline_data": {"mime_type": "image/jpeg", "data": "AA=="}}, {"text": "hi"}]}],
            "generation_config": {"max_output_tokens": 10, "thinking_config": {"thinking_budget": 0}}}"#;
        let r = decode_request(Operation::Chat, snake.as_bytes(), Some("g".into()), false).unwrap();
        assert_eq!(r.system[0].text, "S");
        assert!(matches!(&r.messages[0].content[0], ContentBlock::Image(_)));
        assert_eq!(r.sampling.max_tokens, Some(10));
        assert_eq!(r.thinking.as_ref().map(|t| t.enabled), Some(false));
        let up = encode_request(Operation::Chat, &r, &target("g")).unwrap();
        assert_eq!(
            body_of(&up),
            json!({"systemInstruction": {"parts": [{"text": "S"}]},
                "contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/jpeg", "data": "AA=="}}, {"text": "hi"}]}],
                "generationConfig": {"maxOutputTokens": 10, "thinkingConfig": {"thinkingBudget": 0}}})
        );
    }

    #[test]
    fn call_ids_follow_gemini_cli_and_stay_stable() {
        // Gemini CLI: calls without ids, responses with ids it made up.
        let body = r#"{"contents": [
            {"role": "user", "parts": [{"text": "go"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "ls", "args": {}}}, {"functionCall": {"name": "ls", "args": {"d": "x"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"id": "ls-1-a", "name": "ls", "response": {"output": "a"}}},
                                       {"functionResponse": {"id": "ls-2-b", "name": "ls", "response": {"output": "b"}}}]},
            {"role": "model", "parts": [{"functionCall": {"id": "given", "name": "cat", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "cat", "response": {"output": "c"}}}]}
        ]}"#;
        let r = decode_request(Operation::Chat, body.as_bytes(), Some("g".into()), false).unwrap();
        let ids = |m: &Message| -> Vec<String> {
            m.content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolCall(c) => Some(c.id.clone()),
                    ContentBlock::ToolResult(t) => Some(t.call_id.clone()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(ids(&r.messages[1]), vec!["ls-1-a", "ls-2-b"]);
        assert_eq!(ids(&r.messages[2]), vec!["ls-1-a", "ls-2-b"]);
        assert_eq!(ids(&r.messages[3]), vec!["given"]);
        assert_eq!(ids(&r.messages[4]), vec!["given"]);
        // The same history decodes to the same ids every turn.
        let plain = r#"{"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "orphan", "response": {}}}]}]}"#;
        let a = decode_request(Operation::Chat, plain.as_bytes(), Some("g".into()), false).unwrap();
        let b = decode_request(Operation::Chat, plain.as_bytes(), Some("g".into()), false).unwrap();
        assert_eq!(a, b);
        assert_eq!(ids(&a.messages[0]), ids(&a.messages[1]));
        assert!(is_generated_id(&ids(&a.messages[2])[0]));
        // Encoded back to Gemini, made-up ids are dropped, given ones kept.
        let out = body_of(&encode_request(Operation::Chat, &a, &target("g")).unwrap());
        assert_eq!(
            out["contents"][0]["parts"][0],
            json!({"functionCall": {"name": "f", "args": {}}})
        );
        assert_eq!(
            out["contents"][1]["parts"][0],
            json!({"functionResponse": {"name": "f", "response": {}}})
        );
        let out = body_of(&encode_request(Operation::Chat, &r, &target("g")).unwrap());
        assert_eq!(
            out["contents"][3]["parts"][0]["functionCall"]["id"],
            "given"
        );
    }

    #[test]
    fn other_dialects_encode_to_gemini() {
        let mut r = canonical(vec![
            msg(
                Role::User,
                vec![
                    text("Look:"),
                    ContentBlock::Image(ImageBlock {
                        source: MediaSource::Url("data:image/jpeg;base64,/9j/".into()),
                        media_type: None,
                        detail: Some("high".into()),
                        cache_control: None,
                        extra: None,
                    }),
                    ContentBlock::Image(ImageBlock {
                        source: MediaSource::Url("https://example.com/a.png".into()),
                        media_type: Some("image/png".into()),
                        detail: None,
                        cache_control: None,
                        extra: None,
                    }),
                    ContentBlock::Document(DocumentBlock {
                        source: MediaSource::Text("plain doc".into()),
                        media_type: Some("text/plain".into()),
                        title: Some("T".into()),
                        context: None,
                        citations: None,
                        filename: None,
                        cache_control: None,
                        extra: None,
                    }),
                ],
            ),
            msg(Role::System, vec![text("Late system note.")]),
            // Anthropic: thinking with its signature, a signature-only block before a call.
            msg(
                Role::Assistant,
                vec![
                    thinking("I should call.", Some("claude-sig")),
                    ContentBlock::RedactedThinking("opaque".into()),
                    thinking("", Some("gemini-sig")),
                    call("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
                    call("toolu_2", "get_weather", ""),
                ],
            ),
            // OpenAI: one tool message per result, no names.
            msg(
                Role::Tool,
                vec![result(
                    "toolu_1",
                    vec![ToolResultPart::Text("18C".into())],
                    false,
                )],
            ),
            msg(
                Role::Tool,
                vec![result(
                    "toolu_2",
                    vec![
                        ToolResultPart::Text("see image".into()),
                        ToolResultPart::Image(ImageBlock {
                            source: MediaSource::Inline(InlineData {
                                media_type: "image/png".into(),
                                data: "iVBO".into(),
                            }),
                            media_type: None,
                            detail: None,
                            cache_control: None,
                            extra: None,
                        }),
                    ],
                    true,
                )],
            ),
            msg(Role::User, vec![text("thanks")]),
        ]);
        r.system = vec![TextBlock {
            text: "Top system.".into(),
            cache_control: None,
            citations: None,
            extra: None,
        }];
        r.messages
            .insert(0, msg(Role::Developer, vec![text("Dev rules.")]));
        r.tools = vec![
            ToolDefinition {
                kind: ToolKind::Function,
                name: "get_weather".into(),
                description: Some("Weather".into()),
                parameters: Some(r#"{"type":"object","properties":{"city":{"type":"string"}},"additionalProperties":false}"#.into()),
                strict: Some(true),
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
                extra: Some(Extra { source: Dialect::Anthropic, fields: r#"{"max_uses":5}"#.into() }),
            },
        ];
        r.tool_choice = Some(ToolChoice::Required);
        r.parallel_tool_calls = Some(false);
        r.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: Some("answer".into()),
            description: None,
            schema: r#"{"type":"object"}"#.into(),
            strict: Some(true),
        }));
        r.thinking = Some(ThinkingConfig {
            enabled: true,
            budget_tokens: Some(2048),
            effort: None,
            summary: None,
        });
        r.sampling.max_tokens = Some(100);

        let got =
            body_of(&encode_request(Operation::Chat, &r, &target("gemini-2.5-flash")).unwrap());
        let want = json!({
            "systemInstruction": {"parts": [{"text": "Top system."}, {"text": "Dev rules."}]},
            "contents": [
                {"role": "user", "parts": [
                    {"text": "Look:"},
                    {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}},
                    {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}},
                    {"text": "plain doc"}
                ]},
                {"role": "user", "parts": [{"text": "Late system note."}]},
                {"role": "model", "parts": [
                    {"text": "I should call.", "thought": true, "thoughtSignature": "claude-sig"},
                    {"functionCall": {"id": "toolu_1", "name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "gemini-sig"},
                    {"functionCall": {"id": "toolu_2", "name": "get_weather", "args": {}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"id": "toolu_1", "name": "get_weather", "response": {"output": "18C"}}},
                    {"functionResponse": {"id": "toolu_2", "name": "get_weather", "response": {"error": "see image"}}},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}
                ]},
                {"role": "user", "parts": [{"text": "thanks"}]}
            ],
            "tools": [
                {"functionDeclarations": [{"name": "get_weather", "description": "Weather",
                    "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": false}}]},
                {"googleSearch": {}}
            ],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
            "generationConfig": {"maxOutputTokens": 100, "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object"}, "thinkingConfig": {"thinkingBudget": 2048}}
        });
        assert_eq!(got, want, "\n got: {got:#}");

        // Gemini 3: thinking levels, media nested in function responses, and the
        // documented placeholder on calls that carry no signature.
        r.thinking = Some(ThinkingConfig {
            enabled: true,
            budget_tokens: None,
            effort: Some("high".into()),
            summary: Some("auto".into()),
        });
        if let ContentBlock::Thinking(t) = &mut r.messages[3].content[2] {
            t.signature = None;
        }
        let got =
            body_of(&encode_request(Operation::Chat, &r, &target("gemini-3-pro-preview")).unwrap());
        assert_eq!(
            got["generationConfig"]["thinkingConfig"],
            json!({"thinkingLevel": "HIGH", "includeThoughts": true})
        );
        assert_eq!(
            got["contents"][2]["parts"][1]["thoughtSignature"],
            SKIP_SIGNATURE
        );
        assert!(got["contents"][2]["parts"][2]
            .get("thoughtSignature")
            .is_none());
        assert_eq!(
            got["contents"][3]["parts"][1]["functionResponse"]["parts"],
            json!([{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}])
        );
        assert_eq!(got["contents"][3]["parts"].as_array().unwrap().len(), 2);
        let off = TargetInfo {
            model: "gemini-3-pro-preview".into(),
            options: r#"{"thought_signature_fallback": false, "api_version": "v1"}"#.into(),
        };
        let up = encode_request(Operation::Chat, &r, &off).unwrap();
        assert_eq!(up.path, "/v1/models/gemini-3-pro-preview:generateContent");
        assert!(body_of(&up)["contents"][2]["parts"][1]
            .get("thoughtSignature")
            .is_none());
        // Effort on an older model becomes a budget; disabled thinking a zero budget.
        let got =
            body_of(&encode_request(Operation::Chat, &r, &target("gemini-2.5-flash")).unwrap());
        assert_eq!(
            got["generationConfig"]["thinkingConfig"],
            json!({"thinkingBudget": 24576, "includeThoughts": true})
        );
        r.thinking = Some(ThinkingConfig {
            enabled: false,
            budget_tokens: None,
            effort: None,
            summary: None,
        });
        let got =
            body_of(&encode_request(Operation::Chat, &r, &target("gemini-2.5-flash")).unwrap());
        assert_eq!(
            got["generationConfig"]["thinkingConfig"],
            json!({"thinkingBudget": 0})
        );
    }

    #[test]
    fn what_gemini_cannot_take_is_a_clear_error() {
        let mut r = canonical(vec![msg(Role::User, vec![text("hi")])]);
        let tool = |kind: ToolKind, name: &str| ToolDefinition {
            kind,
            name: name.into(),
            description: None,
            parameters: None,
            strict: None,
            namespace: None,
            cache_control: None,
            extra: None,
        };
        for (t, want) in [(
            tool(ToolKind::Builtin("bash_20250124".into()), "bash"),
            "bash_20250124` has no Gemini equivalent",
        )] {
            r.tools = vec![t];
            let e = encode_request(Operation::Chat, &r, &target("g")).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(want), "{}", e.message);
        }
        // Custom (free-form) and namespaced tools travel as functions.
        let mut ns = tool(ToolKind::Function, "read");
        ns.namespace = Some("mcp_fs".into());
        r.tools = vec![tool(ToolKind::Custom, "apply_patch"), ns];
        let up = encode_request(Operation::Chat, &r, &target("g")).expect("encode");
        let body: Value = serde_json::from_slice(&up.body).expect("json");
        let decls = &body["tools"][0]["functionDeclarations"];
        assert_eq!(decls[0]["name"], "apply_patch");
        assert_eq!(
            decls[0]["parametersJsonSchema"]["required"],
            json!(["input"])
        );
        assert_eq!(decls[1]["name"], "mcp_fs__read");
        r.tools.clear();
        r.messages = vec![msg(
            Role::User,
            vec![ContentBlock::Document(DocumentBlock {
                source: MediaSource::FileId("file_011CNha".into()),
                media_type: None,
                title: None,
                context: None,
                citations: None,
                filename: None,
                cache_control: None,
                extra: None,
            })],
        )];
        let e = encode_request(Operation::Chat, &r, &target("g")).unwrap_err();
        assert!(e.message.contains("not a Gemini file"), "{}", e.message);
        r.messages = vec![msg(Role::Tool, vec![result("call_9", vec![], false)])];
        let e = encode_request(Operation::Chat, &r, &target("g")).unwrap_err();
        assert!(e.message.contains("names no function"), "{}", e.message);
    }

    #[test]
    fn decode_errors_are_precise() {
        for (body, model, want) in [
            (r#"{"contents": []}"#, None, "model: expected in the path"),
            ("{}", Some("g"), "contents: field required"),
            (r#"{"contents": {}}"#, Some("g"), "contents: expected array"),
            (
                r#"{"contents": [{"role": "bot", "parts": []}]}"#,
                Some("g"),
                "contents.0.role",
            ),
            (
                r#"{"contents": [{"parts": [{"functionCall": {"args": {}}}]}]}"#,
                Some("g"),
                "contents.0.parts.0.functionCall.name",
            ),
            (
                r#"{"contents": [{"parts": [{"inlineData": {"data": "x"}}]}]}"#,
                Some("g"),
                "contents.0.parts.0.inlineData.mimeType",
            ),
            (
                r#"{"contents": [], "generationConfig": {"topK": "x"}}"#,
                Some("g"),
                "generationConfig.topK",
            ),
            (
                r#"{"contents": [], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}"#,
                Some("g"),
                "unknown mode",
            ),
            (
                r#"{"contents": [], "systemInstruction": {"parts": [{"inlineData": {}}]}}"#,
                Some("g"),
                "systemInstruction.parts.0",
            ),
            ("[1]", Some("g"), "expected a JSON object"),
        ] {
            let e = decode_request(
                Operation::Chat,
                body.as_bytes(),
                model.map(str::to_string),
                false,
            )
            .unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(want), "{body}: {}", e.message);
        }
    }

    #[test]
    fn generation_settings_without_a_canonical_slot_survive() {
        let body = r#"{"contents": [{"parts": [{"text": "x"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "VALIDATED"}},
            "generationConfig": {"responseMimeType": "text/x.enum", "responseSchema": {"type": "STRING", "enum": ["a", "b"]},
              "thinkingConfig": {"thinkingBudget": -1, "includeThoughts": false}}}"#;
        let r = decode_request(
            Operation::Chat,
            body.as_bytes(),
            Some("gemini-2.5-flash".into()),
            false,
        )
        .unwrap();
        assert_eq!(r.tool_choice, Some(ToolChoice::Auto));
        assert_eq!(r.response_format, None);
        assert_eq!(
            r.thinking,
            Some(ThinkingConfig {
                enabled: true,
                budget_tokens: None,
                effort: None,
                summary: None
            })
        );
        let got =
            body_of(&encode_request(Operation::Chat, &r, &target("gemini-2.5-flash")).unwrap());
        let mut want: Value = serde_json::from_str(body).unwrap();
        want["contents"][0]["role"] = json!("user");
        assert_eq!(got, want);
        // OpenAPI response schemas: JSON Schema canonically, the original back to Gemini.
        let body = r#"{"contents": [], "generationConfig": {"responseMimeType": "application/json",
            "responseSchema": {"type": "ARRAY", "items": {"type": "STRING"}}, "thinkingConfig": {"thinkingLevel": "LOW"}}}"#;
        let r = decode_request(
            Operation::Chat,
            body.as_bytes(),
            Some("gemini-3-flash".into()),
            false,
        )
        .unwrap();
        let Some(ResponseFormat::JsonSchema(f)) = &r.response_format else {
            panic!()
        };
        assert_eq!(
            serde_json::from_str::<Value>(&f.schema).unwrap(),
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(
            r.thinking.as_ref().and_then(|t| t.effort.as_deref()),
            Some("low")
        );
        let got = body_of(&encode_request(Operation::Chat, &r, &target("gemini-3-flash")).unwrap());
        assert_eq!(got, serde_json::from_str::<Value>(body).unwrap());
    }

    #[test]
    fn count_tokens_both_shapes() {
        let r = decode_request(
            Operation::CountTokens,
            br#"{"generateContentRequest": {"model": "models/gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                 "systemInstruction": {"parts": [{"text": "S"}]}}}"#,
            None,
            false,
        )
        .unwrap();
        assert_eq!(r.model, "gemini-2.5-flash");
        let up = encode_request(Operation::CountTokens, &r, &target("gemini-2.5-flash")).unwrap();
        assert_eq!(up.path, "/v1beta/models/gemini-2.5-flash:countTokens");
        assert_eq!(
            body_of(&up),
            json!({"generateContentRequest": {"model": "models/gemini-2.5-flash",
                "contents": [{"role": "user", "parts": [{"text": "hi"}]}], "systemInstruction": {"parts": [{"text": "S"}]}}})
        );
        let plain = decode_request(
            Operation::CountTokens,
            br#"{"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}"#,
            Some("gemini-2.5-flash".into()),
            false,
        )
        .unwrap();
        let up = encode_request(Operation::CountTokens, &plain, &target("")).unwrap();
        assert_eq!(
            body_of(&up),
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
        );
        let resp = decode_response(
            Operation::CountTokens,
            br#"{"totalTokens": 31, "cachedContentTokenCount": 10, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]}"#,
        )
        .unwrap();
        assert_eq!(
            (resp.usage.input_tokens, resp.usage.cache_read_tokens),
            (Some(21), Some(10))
        );
        let models = encode_request(Operation::ListModels, &plain, &target("")).unwrap();
        assert_eq!(
            (models.method.as_str(), models.path.as_str()),
            ("GET", "/v1beta/models")
        );
    }

    const RESPONSE: &str = r#"{
      "candidates": [{
        "content": {"role": "model", "parts": [
          {"text": "Let me think.", "thought": true},
          {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
          {"functionCall": {"name": "get_weather", "args": {"city": "Tokyo"}}}
        ]},
        "finishReason": "STOP",
        "index": 0,
        "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
      }],
      "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 30, "totalTokenCount": 200,
        "cachedContentTokenCount": 100, "thoughtsTokenCount": 50,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 120}]},
      "modelVersion": "gemini-2.5-flash",
      "responseId": "resp-1"
    }"#;

    #[test]
    fn response_round_trips() {
        let r = decode_response(Operation::Chat, RESPONSE.as_bytes()).unwrap();
        assert_eq!(
            (r.id.as_str(), r.model.as_str()),
            ("resp-1", "gemini-2.5-flash")
        );
        assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(r.content.len(), 4);
        assert!(
            matches!(&r.content[1], ContentBlock::Thinking(t) if t.signature.as_deref() == Some("c2ln"))
        );
        assert!(
            matches!(&r.content[2], ContentBlock::ToolCall(c) if is_generated_id(&c.id) && c.arguments == r#"{"city":"Paris"}"#)
        );
        let u = &r.usage;
        assert_eq!(
            (
                u.input_tokens,
                u.cache_read_tokens,
                u.output_tokens,
                u.reasoning_tokens
            ),
            (Some(20), Some(100), Some(80), Some(50))
        );
        // Decoding is deterministic (ids included).
        assert_eq!(
            decode_response(Operation::Chat, RESPONSE.as_bytes()).unwrap(),
            r
        );
        let out: Value = serde_json::from_slice(&encode_response(&r).unwrap()).unwrap();
        assert_eq!(out, serde_json::from_str::<Value>(RESPONSE).unwrap());

        // Several candidates, a finish reason with no exact canonical twin.
        let multi = r#"{"candidates": [{"content": {"role": "model", "parts": [{"text": "a"}]}, "finishReason": "RECITATION", "index": 0,
              "citationMetadata": {"citationSources": [{"uri": "https://x"}]}},
            {"content": {"role": "model", "parts": [{"text": "b"}]}, "finishReason": "STOP", "index": 1}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}, "modelVersion": "m", "responseId": "r"}"#;
        let r = decode_response(Operation::Chat, multi.as_bytes()).unwrap();
        assert_eq!(r.stop_reason, Some(StopReason::ContentFilter));
        assert_eq!(r.content, vec![text("a")]);
        let out: Value = serde_json::from_slice(&encode_response(&r).unwrap()).unwrap();
        assert_eq!(out, serde_json::from_str::<Value>(multi).unwrap());

        // A blocked prompt: no candidates at all.
        let blocked = r#"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
            "modelVersion": "m", "responseId": "r"}"#;
        let r = decode_response(Operation::Chat, blocked.as_bytes()).unwrap();
        assert_eq!(r.stop_reason, Some(StopReason::ContentFilter));
        let out: Value = serde_json::from_slice(&encode_response(&r).unwrap()).unwrap();
        assert_eq!(out, serde_json::from_str::<Value>(blocked).unwrap());

        assert_eq!(
            decode_response(Operation::Chat, b"{").unwrap_err().status,
            502
        );
    }

    #[test]
    fn responses_from_other_dialects_encode() {
        let mut usage = Usage::empty();
        usage.input_tokens = Some(10);
        usage.output_tokens = Some(7);
        usage.reasoning_tokens = Some(2);
        let r = ChatResponse {
            id: "msg_1".into(),
            model: "claude-x".into(),
            content: vec![
                thinking("hm", Some("sig")),
                text("Hi"),
                call("toolu_1", "f", r#"{"a":1}"#),
                ContentBlock::Other(Extra {
                    source: Dialect::Anthropic,
                    fields: "{}".into(),
                }),
            ],
            stop_reason: Some(StopReason::ToolUse),
            stop_sequence: None,
            usage,
            extra: None,
        };
        let out: Value = serde_json::from_slice(&encode_response(&r).unwrap()).unwrap();
        assert_eq!(
            out,
            json!({"candidates": [{"content": {"role": "model", "parts": [
                    {"text": "hm", "thought": true, "thoughtSignature": "sig"},
                    {"text": "Hi"},
                    {"functionCall": {"id": "toolu_1", "name": "f", "args": {"a": 1}}}]},
                  "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 17, "thoughtsTokenCount": 2},
                "modelVersion": "claude-x", "responseId": "msg_1"})
        );
    }
}
