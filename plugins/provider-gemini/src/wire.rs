//! Small pieces of the Gemini wire format shared by every path: field access (proto JSON
//! accepts both `camelCase` and `snake_case` names), `extra` bookkeeping, usage, finish
//! reasons, errors, the models list, generated call ids, model names and schemas.

use std::borrow::Cow;

use serde_json::{json, Map, Value};
use tollgate_sdk::json::snippet;
use tollgate_sdk::provider::{
    ApiError, Dialect, ErrorKind, Extra, Header, HttpResponse, StopReason, Usage,
};

/// A JSON object.
pub type Obj = Map<String, Value>;

// ----- field access -----

/// The `snake_case` spelling of a `camelCase` field name.
pub fn snake(camel: &str) -> String {
    let mut s = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// The `camelCase` spelling of a `snake_case` field name (unchanged if it has no `_`).
pub fn camel(name: &str) -> Cow<'_, str> {
    if !name.contains('_') {
        return Cow::Borrowed(name);
    }
    let mut s = String::with_capacity(name.len());
    let mut up = false;
    for c in name.chars() {
        if c == '_' {
            up = true;
        } else if up {
            s.push(c.to_ascii_uppercase());
            up = false;
        } else {
            s.push(c);
        }
    }
    Cow::Owned(s)
}

/// `o[name]` under its `camelCase` name or its `snake_case` spelling; `null` counts as
/// absent.
pub fn field<'a>(o: &'a Obj, name: &str) -> Option<&'a Value> {
    match o.get(name) {
        Some(Value::Null) => None,
        Some(v) => Some(v),
        None if name.bytes().any(|b| b.is_ascii_uppercase()) => {
            o.get(&snake(name)).filter(|v| !v.is_null())
        }
        None => None,
    }
}

/// Whether `key` (either spelling) is one of the `camelCase` names in `known`.
pub fn is_known(key: &str, known: &[&str]) -> bool {
    known.contains(&key) || (key.contains('_') && known.contains(&camel(key).as_ref()))
}

// ----- extra -----

/// The fields of `o` not in `known` (either spelling).
pub fn unknown(o: &Obj, known: &[&str]) -> Obj {
    o.iter()
        .filter(|(k, _)| !is_known(k, known))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A Gemini `extra` holding `fields`, or `None` when there are none.
pub fn to_extra(fields: Obj) -> Option<Extra> {
    if fields.is_empty() {
        None
    } else {
        Some(Extra {
            source: Dialect::Gemini,
            fields: Value::Object(fields).to_string(),
        })
    }
}

/// The fields of `o` not in `known`, as a Gemini `extra`.
pub fn extra_of(o: &Obj, known: &[&str]) -> Option<Extra> {
    to_extra(unknown(o, known))
}

/// The fields of a Gemini-sourced `extra`; `None` for other dialects' extras (their
/// fields mean nothing here).
pub fn extra_map(extra: Option<&Extra>) -> Option<Obj> {
    let extra = extra?;
    if extra.source != Dialect::Gemini {
        return None;
    }
    match serde_json::from_str::<Value>(&extra.fields) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// Add `src`'s fields to `dst` without overwriting: objects present on both sides merge
/// recursively, anything else already in `dst` wins.
pub fn merge_deep(dst: &mut Obj, src: &Obj) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => merge_deep(d, s),
            (Some(_), _) => {}
            (None, _) => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Merge a Gemini-sourced `extra` into `dst` (see [`merge_deep`]).
pub fn merge_extra(dst: &mut Obj, extra: Option<&Extra>) {
    if let Some(m) = extra_map(extra) {
        merge_deep(dst, &m);
    }
}

// ----- usage -----

/// `usageMetadata` fields this module converts; the rest (totals, per-modality details,
/// `toolUsePromptTokenCount`) travel in `extra`.
const USAGE_KNOWN: &[&str] = &[
    "promptTokenCount",
    "cachedContentTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
];

/// Canonical usage from a Gemini `usageMetadata`.
///
/// Gemini's `promptTokenCount` includes the cached tokens and excludes tool-use prompt
/// tokens; `candidatesTokenCount` excludes the thinking tokens. Canonically:
/// `input = prompt - cached + toolUsePrompt`, `cache-read = cached`,
/// `output = candidates + thoughts`, `reasoning = thoughts`.
pub fn usage_from(v: &Value) -> Usage {
    let Some(o) = v.as_object() else {
        return Usage::empty();
    };
    let n = |k: &str| field(o, k).and_then(Value::as_u64);
    let (prompt, cached, candidates, thoughts) = (
        n("promptTokenCount"),
        n("cachedContentTokenCount"),
        n("candidatesTokenCount"),
        n("thoughtsTokenCount"),
    );
    let tool = n("toolUsePromptTokenCount");
    let mut u = Usage::empty();
    u.input_tokens = match (prompt, tool) {
        (None, None) => None,
        (p, t) => Some(p.unwrap_or(0).saturating_sub(cached.unwrap_or(0)) + t.unwrap_or(0)),
    };
    u.cache_read_tokens = cached;
    u.output_tokens = match (candidates, thoughts) {
        (None, None) => None,
        (c, t) => Some(c.unwrap_or(0) + t.unwrap_or(0)),
    };
    u.reasoning_tokens = thoughts;
    u.extra = extra_of(o, USAGE_KNOWN);
    u
}

/// A Gemini `usageMetadata` from canonical usage (the inverse of [`usage_from`]).
pub fn usage_to(u: &Usage) -> Value {
    let extra = extra_map(u.extra.as_ref()).unwrap_or_default();
    let tool = extra
        .get("toolUsePromptTokenCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let cached = u.cache_read_tokens;
    // Gemini has no cache writes: tokens another provider wrote to its cache are
    // prompt tokens like the rest.
    let written = u.cache_write_tokens.unwrap_or(0) + u.cache_write_1h_tokens.unwrap_or(0);
    let prompt = (u.input_tokens.unwrap_or(0) + cached.unwrap_or(0) + written).saturating_sub(tool);
    let thoughts = u.reasoning_tokens;
    let candidates = u
        .output_tokens
        .map(|o| o.saturating_sub(thoughts.unwrap_or(0)));
    let mut m = Map::new();
    m.insert("promptTokenCount".into(), json!(prompt));
    if let Some(c) = candidates.filter(|&c| c > 0 || thoughts.is_none()) {
        m.insert("candidatesTokenCount".into(), json!(c));
    }
    if !extra.contains_key("totalTokenCount") {
        let total = prompt + candidates.unwrap_or(0) + thoughts.unwrap_or(0) + tool;
        m.insert("totalTokenCount".into(), json!(total));
    }
    if let Some(c) = cached {
        m.insert("cachedContentTokenCount".into(), json!(c));
    }
    if let Some(t) = thoughts {
        m.insert("thoughtsTokenCount".into(), json!(t));
    }
    merge_deep(&mut m, &extra);
    Value::Object(m)
}

// ----- finish reasons -----

/// Canonical stop reason from a Gemini `finishReason`. Gemini answers `STOP` after
/// function calls too: `called_tools` turns that into `tool-use`.
pub fn stop_reason_from(s: &str, called_tools: bool) -> StopReason {
    match s {
        "STOP" if called_tools => StopReason::ToolUse,
        "STOP" => StopReason::EndTurn,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => StopReason::ContentFilter,
        "MALFORMED_FUNCTION_CALL"
        | "UNEXPECTED_TOOL_CALL"
        | "TOO_MANY_TOOL_CALLS"
        | "MISSING_THOUGHT_SIGNATURE"
        | "MALFORMED_RESPONSE" => StopReason::Error,
        _ => StopReason::Other,
    }
}

/// Gemini's `finishReason` for a canonical stop reason.
pub fn stop_reason_to(r: StopReason) -> &'static str {
    match r {
        StopReason::EndTurn
        | StopReason::StopSequence
        | StopReason::ToolUse
        | StopReason::PauseTurn => "STOP",
        StopReason::MaxTokens | StopReason::ContextLength => "MAX_TOKENS",
        StopReason::ContentFilter | StopReason::Refusal => "SAFETY",
        StopReason::Error | StopReason::Other => "OTHER",
    }
}

/// The snake_case name of a canonical stop reason (what request records hold).
pub fn stop_reason_name(r: StopReason) -> &'static str {
    match r {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter => "content_filter",
        StopReason::PauseTurn => "pause_turn",
        StopReason::Refusal => "refusal",
        StopReason::ContextLength => "context_length",
        StopReason::Error => "error",
        StopReason::Other => "other",
    }
}

// ----- errors -----

/// Gemini's (google.rpc) `status` for a canonical error kind answered with `http`.
pub fn error_status(kind: ErrorKind, http: u16) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => "INVALID_ARGUMENT",
        ErrorKind::Policy if http == 403 => "PERMISSION_DENIED",
        ErrorKind::Policy => "INVALID_ARGUMENT",
        ErrorKind::Authentication => "UNAUTHENTICATED",
        ErrorKind::Permission => "PERMISSION_DENIED",
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::RateLimit => "RESOURCE_EXHAUSTED",
        ErrorKind::ApiError => "INTERNAL",
        ErrorKind::BadGateway | ErrorKind::Overloaded => "UNAVAILABLE",
        ErrorKind::Timeout => "DEADLINE_EXCEEDED",
    }
}

/// The canonical kind of a google.rpc `status`, if known.
pub fn error_kind(status: &str) -> Option<ErrorKind> {
    Some(match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" | "ALREADY_EXISTS" => {
            ErrorKind::InvalidRequest
        }
        "UNAUTHENTICATED" => ErrorKind::Authentication,
        "PERMISSION_DENIED" => ErrorKind::Permission,
        "NOT_FOUND" => ErrorKind::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimit,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" | "UNIMPLEMENTED" | "CANCELLED" | "ABORTED" => {
            ErrorKind::ApiError
        }
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        _ => return None,
    })
}

fn is_status_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
}

/// The Gemini error body `{"error":{"code":…,"message":…,"status":…}}`.
pub fn error_body(err: &ApiError) -> Value {
    let status = err
        .provider_type
        .as_deref()
        .filter(|t| is_status_name(t))
        .unwrap_or_else(|| error_status(err.kind, err.status));
    json!({"error": {"code": err.portable_status(), "message": err.message, "status": status}})
}

/// An error answer in Gemini's shape.
pub fn encode_error(err: &ApiError) -> HttpResponse {
    HttpResponse {
        status: err.portable_status(),
        headers: vec![Header::new("content-type", "application/json")],
        body: error_body(err).to_string().into_bytes(),
    }
}

/// Canonical error from a Gemini error object (`{"code","message","status","details"}`).
pub fn error_from(e: &Value, status: u16) -> Option<ApiError> {
    let o = e.as_object()?;
    let s = o.get("status").and_then(Value::as_str);
    let message = o.get("message").and_then(Value::as_str);
    if s.is_none() && message.is_none() {
        return None;
    }
    // An invalid API key answers 400 INVALID_ARGUMENT with reason API_KEY_INVALID.
    let bad_key = o.get("details").and_then(Value::as_array).is_some_and(|d| {
        d.iter()
            .any(|x| x.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
    });
    let kind = if bad_key {
        ErrorKind::Authentication
    } else if status == 413 {
        // INVALID_ARGUMENT is also what a too-large body says; the status is sharper.
        ErrorKind::RequestTooLarge
    } else {
        s.and_then(error_kind)
            .unwrap_or_else(|| ErrorKind::from_status(status))
    };
    Some(ApiError {
        kind,
        status,
        message: message
            .map(str::to_string)
            .unwrap_or_else(|| format!("upstream returned HTTP {status}")),
        provider_type: s.map(str::to_string),
    })
}

/// Canonical error from an upstream error answer (Gemini's shape, the same wrapped in
/// an array as the JSON-array stream form sends it, or anything else).
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let v = match &v {
            Value::Array(a) => a.first().unwrap_or(&Value::Null),
            _ => &v,
        };
        if let Some(err) = error_from(v.get("error").unwrap_or(v), status) {
            return err;
        }
    }
    let text = snippet(body, 200);
    ApiError {
        kind: ErrorKind::from_status(status),
        status,
        message: if text.is_empty() {
            format!("upstream returned HTTP {status} with an empty body")
        } else {
            format!("upstream returned HTTP {status}: {text}")
        },
        provider_type: None,
    }
}

// ----- models -----

/// The resource name of a model: `models/x` (or `tunedModels/x` as given).
pub fn model_resource(model: &str) -> String {
    if model.starts_with("models/") || model.starts_with("tunedModels/") {
        model.to_string()
    } else {
        format!("models/{model}")
    }
}

/// A model name without its `models/` prefix.
pub fn bare_model(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

/// Whether `model` is Gemini 3 or later (thinking levels, nested multimodal function
/// responses, enforced thought signatures). Unknown names count as older: their
/// settings (thinking budgets, sibling media parts) work on every version.
pub fn is_gemini3_plus(model: &str) -> bool {
    let Some(rest) = bare_model(model).strip_prefix("gemini-") else {
        return false;
    };
    let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
    major.parse::<u32>().is_ok_and(|m| m >= 3)
}

/// The Gemini `GET /v1beta/models` answer for these model ids.
pub fn encode_models(models: &[String]) -> Vec<u8> {
    let list: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({
                "name": model_resource(m),
                "displayName": bare_model(m),
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
            })
        })
        .collect();
    json!({ "models": list }).to_string().into_bytes()
}

// ----- generated call ids -----

/// Prefix of the call ids this plugin makes up for Gemini function calls without one.
pub const GENERATED_ID_PREFIX: &str = "gemini_call_";

/// A deterministic call id: the same `(seed, name, args)` always gives the same id, so
/// a conversation replayed turn after turn keeps its ids.
pub fn generated_id(seed: &str, name: &str, args: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for part in [
        seed.as_bytes(),
        &[0],
        name.as_bytes(),
        &[0],
        args.as_bytes(),
    ] {
        for &b in part {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    }
    format!("{GENERATED_ID_PREFIX}{h:016x}")
}

/// Whether `id` was made up by [`generated_id`] (such ids never go to Gemini).
pub fn is_generated_id(id: &str) -> bool {
    id.strip_prefix(GENERATED_ID_PREFIX)
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

// ----- schemas -----

/// JSON Schema from Gemini's OpenAPI-subset `Schema` (`parameters`, `responseSchema`):
/// upper-case type names lowered, `nullable` folded into the type, `propertyOrdering`
/// dropped. Everything else is kept.
pub fn openapi_to_json_schema(v: &Value) -> Value {
    let Some(o) = v.as_object() else {
        return v.clone();
    };
    let mut m = Map::new();
    let mut nullable = false;
    for (k, val) in o {
        match camel(k).as_ref() {
            "type" => match val.as_str() {
                Some("TYPE_UNSPECIFIED") => {}
                Some(t) => {
                    m.insert("type".into(), json!(t.to_ascii_lowercase()));
                }
                None => {
                    m.insert("type".into(), val.clone());
                }
            },
            "nullable" => nullable = val.as_bool().unwrap_or(false),
            "propertyOrdering" => {}
            "properties" => {
                let props = match val.as_object() {
                    Some(p) => Value::Object(
                        p.iter()
                            .map(|(pk, pv)| (pk.clone(), openapi_to_json_schema(pv)))
                            .collect(),
                    ),
                    None => val.clone(),
                };
                m.insert(k.clone(), props);
            }
            "items" => {
                m.insert(k.clone(), openapi_to_json_schema(val));
            }
            "anyOf" => {
                let items = match val.as_array() {
                    Some(a) => Value::Array(a.iter().map(openapi_to_json_schema).collect()),
                    None => val.clone(),
                };
                m.insert("anyOf".into(), items);
            }
            name => {
                m.insert(name.to_string(), val.clone());
            }
        }
    }
    if nullable {
        match m.get_mut("type") {
            Some(t @ Value::String(_)) => *t = json!([t.clone(), "null"]),
            Some(_) => {}
            None => {
                if let Some(Value::Array(any)) = m.get_mut("anyOf") {
                    any.push(json!({"type": "null"}));
                }
            }
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cache_writes_count_as_prompt_tokens() {
        let mut u = Usage::empty();
        u.input_tokens = Some(1200);
        u.cache_read_tokens = Some(4000);
        u.cache_write_tokens = Some(300);
        u.output_tokens = Some(350);
        let v = usage_to(&u);
        assert_eq!(v["promptTokenCount"], 5500);
        assert_eq!(v["cachedContentTokenCount"], 4000);
        assert_eq!(v["totalTokenCount"], 5850);
    }

    #[test]
    fn status_413_is_request_too_large() {
        let body = br#"{"error":{"code":413,"message":"too big","status":"INVALID_ARGUMENT"}}"#;
        let e = decode_error(413, body);
        assert_eq!((e.kind, e.status), (ErrorKind::RequestTooLarge, 413));
        let e = decode_error(
            400,
            br#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#,
        );
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn spellings() {
        assert_eq!(snake("thoughtSignature"), "thought_signature");
        assert_eq!(camel("inline_data"), "inlineData");
        let o: Obj = serde_json::from_str(r#"{"inline_data":{"x":1},"text":null}"#).unwrap();
        assert!(field(&o, "inlineData").is_some());
        assert!(field(&o, "text").is_none());
        assert!(is_known("mime_type", &["mimeType"]));
    }

    #[test]
    fn errors_both_ways() {
        let r = encode_error(&ApiError::new(ErrorKind::RateLimit, "slow down"));
        assert_eq!(r.status, 429);
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}"#
        );
        for (kind, status, want) in [
            (ErrorKind::InvalidRequest, 400, "INVALID_ARGUMENT"),
            (ErrorKind::Authentication, 401, "UNAUTHENTICATED"),
            (ErrorKind::Permission, 403, "PERMISSION_DENIED"),
            (ErrorKind::NotFound, 404, "NOT_FOUND"),
            (ErrorKind::RequestTooLarge, 413, "INVALID_ARGUMENT"),
            (ErrorKind::ApiError, 500, "INTERNAL"),
            (ErrorKind::BadGateway, 502, "UNAVAILABLE"),
            (ErrorKind::Overloaded, 503, "UNAVAILABLE"),
            (ErrorKind::Timeout, 504, "DEADLINE_EXCEEDED"),
            (ErrorKind::Policy, 400, "INVALID_ARGUMENT"),
        ] {
            let e = ApiError::new(kind, "m");
            assert_eq!(e.status, status);
            let v = error_body(&e);
            assert_eq!(v["error"]["status"], want, "{kind}");
            assert_eq!(v["error"]["code"], status);
            // And back.
            let back = decode_error(status, v.to_string().as_bytes());
            if !matches!(
                kind,
                ErrorKind::RequestTooLarge | ErrorKind::BadGateway | ErrorKind::Policy
            ) {
                assert_eq!(back.kind, kind);
            }
            assert_eq!(back.provider_type.as_deref(), Some(want));
        }
        // Another dialect's provider type is not a Gemini status.
        let e = ApiError::new(ErrorKind::Overloaded, "busy").with_provider_type("overloaded_error");
        assert_eq!(error_body(&e)["error"]["status"], "UNAVAILABLE");

        let d = decode_error(
            400,
            br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
                "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#,
        );
        assert_eq!((d.kind, d.status), (ErrorKind::Authentication, 400));
        let d = decode_error(
            429,
            br#"[{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}]"#,
        );
        assert_eq!(
            (d.kind, d.message.as_str()),
            (ErrorKind::RateLimit, "Quota exceeded")
        );
        let d = decode_error(502, b"<html>Bad Gateway</html>");
        assert_eq!(d.kind, ErrorKind::BadGateway);
        assert!(d.message.contains("502") && d.message.contains("Bad Gateway"));
        let d = decode_error(503, b"");
        assert_eq!(d.kind, ErrorKind::Overloaded);
        assert!(d.message.contains("empty body"));
    }

    #[test]
    fn usage_conversion_and_back() {
        let v = json!({"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 160,
            "cachedContentTokenCount": 40, "thoughtsTokenCount": 30, "toolUsePromptTokenCount": 10,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}]});
        let u = usage_from(&v);
        assert_eq!(u.input_tokens, Some(100 - 40 + 10));
        assert_eq!(u.cache_read_tokens, Some(40));
        assert_eq!(u.output_tokens, Some(50));
        assert_eq!(u.reasoning_tokens, Some(30));
        assert_eq!(usage_to(&u), v);
        // Prompt-only and thinking-only chunks keep their shape.
        for v in [
            json!({"promptTokenCount": 7, "totalTokenCount": 7}),
            json!({"promptTokenCount": 7, "totalTokenCount": 27, "thoughtsTokenCount": 20}),
        ] {
            assert_eq!(usage_to(&usage_from(&v)), v);
        }
        // From another dialect: totals computed.
        let mut u = Usage::empty();
        u.input_tokens = Some(5);
        u.cache_read_tokens = Some(3);
        u.output_tokens = Some(9);
        assert_eq!(
            usage_to(&u),
            json!({"promptTokenCount": 8, "candidatesTokenCount": 9, "totalTokenCount": 17, "cachedContentTokenCount": 3})
        );
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(stop_reason_from("STOP", true), StopReason::ToolUse);
        assert_eq!(stop_reason_from("STOP", false), StopReason::EndTurn);
        assert_eq!(
            stop_reason_from("RECITATION", false),
            StopReason::ContentFilter
        );
        assert_eq!(
            stop_reason_from("MALFORMED_FUNCTION_CALL", false),
            StopReason::Error
        );
        assert_eq!(stop_reason_from("LANGUAGE", false), StopReason::Other);
        assert_eq!(stop_reason_to(StopReason::ToolUse), "STOP");
        assert_eq!(stop_reason_to(StopReason::ContextLength), "MAX_TOKENS");
    }

    #[test]
    fn ids_models_schemas() {
        let a = generated_id("r.0", "f", "{}");
        assert_eq!(a, generated_id("r.0", "f", "{}"));
        assert_ne!(a, generated_id("r.1", "f", "{}"));
        assert!(is_generated_id(&a));
        assert!(!is_generated_id("call_abc"));
        assert!(is_gemini3_plus("models/gemini-3-pro-preview"));
        assert!(is_gemini3_plus("gemini-3.1-flash"));
        assert!(is_gemini3_plus("gemini-10-ultra"));
        assert!(!is_gemini3_plus("gemini-2.5-flash"));
        assert!(!is_gemini3_plus("gemini-flash-latest"));
        assert_eq!(model_resource("gemini-x"), "models/gemini-x");
        assert_eq!(model_resource("tunedModels/t"), "tunedModels/t");
        let v: Value = serde_json::from_slice(&encode_models(&["gemini-2.5-pro".into()])).unwrap();
        assert_eq!(v["models"][0]["name"], "models/gemini-2.5-pro");
        let s = json!({"type": "OBJECT", "propertyOrdering": ["a"], "properties": {
            "a": {"type": "STRING", "nullable": true, "enum": ["x"]},
            "b": {"type": "ARRAY", "items": {"type": "INTEGER"}}}, "required": ["a"]});
        assert_eq!(
            openapi_to_json_schema(&s),
            json!({"type": "object", "properties": {
                "a": {"type": ["string", "null"], "enum": ["x"]},
                "b": {"type": "array", "items": {"type": "integer"}}}, "required": ["a"]})
        );
    }
}
