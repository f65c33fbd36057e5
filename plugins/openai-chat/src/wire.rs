//! Small pieces of the Chat Completions wire format shared by every path: `extra`
//! bookkeeping, usage, finish reasons, errors, the models list.

use serde_json::{json, Map, Value};
use tollgate_sdk::json::snippet;
use tollgate_sdk::provider::{
    ApiError, Dialect, ErrorKind, Extra, Header, HttpResponse, StopReason, Usage,
};

type Obj = Map<String, Value>;

// ----- extra -----

/// The fields of `obj` not in `known`, in order (only those are cloned).
pub fn rest_of(obj: &Obj, known: &[&str]) -> Obj {
    let mut rest = Map::new();
    for (k, v) in obj {
        if !known.contains(&k.as_str()) {
            rest.insert(k.clone(), v.clone());
        }
    }
    rest
}

/// The fields of `obj` not in `known`, as an `openai-chat` extra.
pub fn extra_of(obj: &Obj, known: &[&str]) -> Option<Extra> {
    extra_from_map(rest_of(obj, known))
}

/// A map as an `openai-chat` extra (`None` when empty).
pub fn extra_from_map(fields: Obj) -> Option<Extra> {
    if fields.is_empty() {
        None
    } else {
        Some(Extra {
            source: Dialect::OpenaiChat,
            // Serializing a map of JSON values into memory cannot fail.
            fields: serde_json::to_string(&fields).unwrap_or_default(),
        })
    }
}

/// The fields of an `openai-chat` extra; empty for extras of other dialects (their
/// fields mean nothing here and are dropped).
pub fn extra_fields(extra: Option<&Extra>) -> Obj {
    match extra {
        Some(e) if e.source == Dialect::OpenaiChat => {
            match serde_json::from_str::<Value>(&e.fields) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            }
        }
        _ => Map::new(),
    }
}

/// Add an `openai-chat` extra's fields to `obj`, never overwriting a key.
pub fn merge_extra(obj: &mut Obj, extra: Option<&Extra>) {
    if !matches!(extra, Some(e) if e.source == Dialect::OpenaiChat) {
        return;
    }
    for (k, v) in extra_fields(extra) {
        obj.entry(k).or_insert(v);
    }
}

/// Merge `from` into `into` recursively: objects merge key by key, anything else in
/// `into` wins.
fn deep_merge(into: &mut Obj, from: Obj) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => deep_merge(a, b),
            (Some(_), _) => {}
            (None, v) => {
                into.insert(k, v);
            }
        }
    }
}

// ----- usage -----

/// Canonical usage from a Chat Completions `usage` object.
///
/// Canonical `input-tokens` are the prompt tokens *not* read from cache:
/// `prompt_tokens - prompt_tokens_details.cached_tokens` (DeepSeek's
/// `prompt_cache_hit_tokens` when the details are absent). `output-tokens` is
/// `completion_tokens`, which includes `completion_tokens_details.reasoning_tokens`.
/// Everything else (totals excepted) is kept in `extra` so [`usage_to`] restores it.
pub fn usage_from(v: &Value) -> Usage {
    match v {
        Value::Object(o) => usage_from_map(o.clone()),
        _ => Usage::empty(),
    }
}

/// [`usage_from`] of an owned value (no copy of the object).
pub fn usage_from_value(v: Value) -> Usage {
    match v {
        Value::Object(o) => usage_from_map(o),
        _ => Usage::empty(),
    }
}

fn usage_from_map(mut rest: Obj) -> Usage {
    let mut u = Usage::empty();
    let o = &rest;
    let n = |o: &Obj, k: &str| o.get(k).and_then(Value::as_u64);
    let prompt = n(o, "prompt_tokens");
    let details = o.get("prompt_tokens_details").and_then(Value::as_object);
    let cached = details
        .and_then(|d| n(d, "cached_tokens"))
        .or_else(|| n(o, "prompt_cache_hit_tokens"));
    u.cache_read_tokens = cached;
    u.input_tokens = prompt.map(|p| p.saturating_sub(cached.unwrap_or(0)));
    u.output_tokens = n(o, "completion_tokens");
    u.reasoning_tokens = o
        .get("completion_tokens_details")
        .and_then(Value::as_object)
        .and_then(|d| n(d, "reasoning_tokens"));

    // `Map::remove` (swap-remove with `preserve_order`) as before: the order of what
    // is left is part of the output.
    for k in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        rest.remove(k);
    }
    for (key, inner) in [
        ("prompt_tokens_details", "cached_tokens"),
        ("completion_tokens_details", "reasoning_tokens"),
    ] {
        if let Some(Value::Object(d)) = rest.get_mut(key) {
            d.remove(inner);
            if d.is_empty() {
                rest.remove(key);
            }
        }
    }
    u.extra = extra_from_map(rest);
    u
}

/// A Chat Completions `usage` object from canonical usage: `prompt_tokens` is every
/// prompt token (uncached + cache reads + cache writes), `cached_tokens` the reads.
pub fn usage_to(u: &Usage) -> Value {
    let prompt = u.input_tokens.unwrap_or(0)
        + u.cache_read_tokens.unwrap_or(0)
        + u.cache_write_tokens.unwrap_or(0)
        + u.cache_write_1h_tokens.unwrap_or(0);
    let completion = u.output_tokens.unwrap_or(0);
    let mut m = Map::new();
    m.insert("prompt_tokens".into(), json!(prompt));
    m.insert("completion_tokens".into(), json!(completion));
    m.insert("total_tokens".into(), json!(prompt + completion));
    if let Some(c) = u.cache_read_tokens {
        m.insert("prompt_tokens_details".into(), json!({"cached_tokens": c}));
    }
    if let Some(r) = u.reasoning_tokens {
        m.insert(
            "completion_tokens_details".into(),
            json!({"reasoning_tokens": r}),
        );
    }
    if u.extra.is_some() {
        deep_merge(&mut m, extra_fields(u.extra.as_ref()));
    }
    Value::Object(m)
}

// ----- finish reasons -----

/// Canonical stop reason from a `finish_reason`. `tool_calls` seen with `stop`
/// (Ollama and others) means tool use; a refusal with `stop` means refusal.
pub fn stop_reason_from(s: &str, had_tool_calls: bool, had_refusal: bool) -> StopReason {
    match s {
        "stop" | "eos" | "end_turn" if had_tool_calls => StopReason::ToolUse,
        "stop" if had_refusal => StopReason::Refusal,
        "stop" | "eos" | "end_turn" => StopReason::EndTurn,
        "length" | "max_tokens" => StopReason::MaxTokens,
        "tool_calls" | "function_call" | "tool_use" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        "stop_sequence" => StopReason::StopSequence,
        "error" => StopReason::Error,
        _ => StopReason::Other,
    }
}

/// The `finish_reason` for a canonical stop reason. A refusal that is not carried as
/// `refusal` text (e.g. an Anthropic classifier stop) is `content_filter`.
pub fn stop_reason_to(r: StopReason, has_refusal_text: bool) -> &'static str {
    match r {
        StopReason::EndTurn
        | StopReason::StopSequence
        | StopReason::PauseTurn
        | StopReason::Error
        | StopReason::Other => "stop",
        StopReason::MaxTokens | StopReason::ContextLength => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
        StopReason::Refusal if has_refusal_text => "stop",
        StopReason::Refusal => "content_filter",
    }
}

// ----- errors -----

/// The OpenAI error `type` and `code` for a canonical error kind.
pub fn error_type(kind: ErrorKind) -> (&'static str, Option<&'static str>) {
    match kind {
        ErrorKind::InvalidRequest => ("invalid_request_error", None),
        ErrorKind::Authentication => ("invalid_request_error", Some("invalid_api_key")),
        ErrorKind::Permission => ("permission_error", None),
        ErrorKind::NotFound => ("invalid_request_error", Some("not_found")),
        ErrorKind::RequestTooLarge => ("invalid_request_error", Some("request_too_large")),
        ErrorKind::RateLimit => ("rate_limit_error", Some("rate_limit_exceeded")),
        ErrorKind::ApiError => ("server_error", None),
        ErrorKind::BadGateway => ("server_error", Some("bad_gateway")),
        ErrorKind::Overloaded => ("server_error", Some("overloaded")),
        ErrorKind::Timeout => ("server_error", Some("timeout")),
        ErrorKind::Policy => ("invalid_request_error", Some("content_filter")),
    }
}

/// The canonical kind an OpenAI-family error `type` / `code` names, if any.
fn kind_of(s: &str) -> Option<ErrorKind> {
    Some(match s {
        "content_filter" | "content_policy_violation" | "ResponsibleAIPolicyViolation" => {
            ErrorKind::Policy
        }
        "invalid_request_error" | "context_length_exceeded" | "BadRequestError" => {
            ErrorKind::InvalidRequest
        }
        "invalid_api_key" | "authentication_error" | "AuthenticationError" | "401" => {
            ErrorKind::Authentication
        }
        "permission_error" | "PermissionDeniedError" | "403" => ErrorKind::Permission,
        "model_not_found" | "not_found" | "not_found_error" | "DeploymentNotFound"
        | "NotFoundError" | "404" => ErrorKind::NotFound,
        "rate_limit_exceeded"
        | "rate_limit_error"
        | "insufficient_quota"
        | "requests"
        | "tokens"
        | "RateLimitError"
        | "429" => ErrorKind::RateLimit,
        "server_error" | "api_error" | "InternalServerError" | "500" => ErrorKind::ApiError,
        "overloaded" | "overloaded_error" | "ServiceUnavailableError" | "503" => {
            ErrorKind::Overloaded
        }
        "timeout" | "timeout_error" | "504" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// The body `{"error":{"message","type","param","code"}}`. The provider's own type
/// string wins over the mapped one.
pub fn error_body(err: &ApiError) -> Value {
    let (t, code) = error_type(err.kind);
    // Another dialect's upper-case status names (Gemini `RESOURCE_EXHAUSTED`) are
    // not OpenAI error types; snake-case types pass (OpenAI-compatible servers use
    // many).
    let t = err
        .provider_type
        .as_deref()
        .filter(|p| !p.chars().any(|c| c.is_ascii_uppercase()))
        .unwrap_or(t);
    json!({"error": {"message": err.message, "type": t, "param": null, "code": code}})
}

/// An error answer in the OpenAI shape.
pub fn encode_error(err: &ApiError) -> HttpResponse {
    HttpResponse {
        status: err.portable_status(),
        headers: vec![Header::new("content-type", "application/json")],
        body: error_body(err).to_string().into_bytes(),
    }
}

fn as_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The error object of an error body: `{"error":{…}}`, `{"error":"text"}`, a bare
/// `{"message",…}` (older vLLM), or the first element of an array (Gemini's
/// compatibility API). `None` if there is none.
fn error_object(v: &Value) -> Option<Obj> {
    let v = match v {
        Value::Array(a) => a.first()?,
        v => v,
    };
    match v.get("error") {
        Some(Value::Object(e)) => Some(e.clone()),
        Some(Value::String(s)) => {
            let mut m = Map::new();
            m.insert("message".into(), json!(s));
            Some(m)
        }
        _ if v.get("message").is_some_and(Value::is_string) => v.as_object().cloned(),
        _ => None,
    }
}

/// Canonical error from an error object; `status` is the HTTP status if known.
fn error_from_object(e: &Obj, status: Option<u16>) -> ApiError {
    let t = as_text(e.get("type"));
    let code = as_text(e.get("code"));
    let inner = e
        .get("innererror")
        .and_then(|i| i.get("code"))
        .and_then(Value::as_str);
    let policy = [t.as_deref(), code.as_deref(), inner]
        .into_iter()
        .flatten()
        .any(|s| kind_of(s) == Some(ErrorKind::Policy));
    let named = [t.as_deref(), code.as_deref()]
        .into_iter()
        .flatten()
        .find_map(kind_of);
    let (kind, status) = match status {
        _ if policy => (ErrorKind::Policy, status.unwrap_or(400)),
        Some(s) => (ErrorKind::from_status(s), s),
        None => {
            let kind = code
                .as_deref()
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|s| (400..600).contains(s))
                .map(ErrorKind::from_status)
                .or(named)
                .unwrap_or(ErrorKind::ApiError);
            (kind, kind.default_status())
        }
    };
    let message = as_text(e.get("message")).unwrap_or_else(|| match status {
        s if s >= 400 => format!("upstream returned HTTP {s}"),
        _ => "upstream reported an error".to_string(),
    });
    ApiError {
        kind,
        status,
        message,
        provider_type: t.or(code),
    }
}

/// Canonical error from an upstream error answer (status ≥ 400), JSON or not.
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    if let Some(e) = serde_json::from_slice::<Value>(body)
        .ok()
        .as_ref()
        .and_then(error_object)
    {
        return error_from_object(&e, Some(status));
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

/// Canonical error from an `error` object sent inside a stream (no HTTP status: the
/// kind comes from `code` / `type`), or `None` if `v` is not an error.
pub fn stream_error(v: &Value) -> Option<ApiError> {
    let is_error = v.get("error").is_some_and(|e| !e.is_null())
        || v.get("object").and_then(Value::as_str) == Some("error");
    if !is_error {
        return None;
    }
    Some(match error_object(v) {
        Some(e) => error_from_object(&e, None),
        None => ApiError::bad_gateway(format!(
            "upstream stream reported an error: {}",
            snippet(v.to_string().as_bytes(), 200)
        )),
    })
}

// ----- models -----

/// The `GET /v1/models` answer for these model ids.
pub fn encode_models(models: &[String]) -> Vec<u8> {
    let data: Vec<Value> = models
        .iter()
        .map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": "tollgate"}))
        .collect();
    json!({"object": "list", "data": data})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn foreign_overload_and_status_names_become_openai_shapes() {
        let e = ApiError::new(ErrorKind::Overloaded, "busy")
            .with_status(529)
            .with_provider_type("overloaded_error");
        let r = encode_error(&e);
        assert_eq!(r.status, 503, "no 529 outside Anthropic");
        let g = ApiError::new(ErrorKind::RateLimit, "slow down")
            .with_status(429)
            .with_provider_type("RESOURCE_EXHAUSTED");
        let v = error_body(&g);
        assert_ne!(v["error"]["type"], "RESOURCE_EXHAUSTED", "{v}");
        assert_eq!(encode_error(&g).status, 429);
    }

    #[test]
    fn usage_converts_cached_tokens_both_ways() {
        let v = json!({"prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130,
            "prompt_tokens_details": {"cached_tokens": 60, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}});
        let u = usage_from(&v);
        assert_eq!(
            (
                u.input_tokens,
                u.cache_read_tokens,
                u.output_tokens,
                u.reasoning_tokens
            ),
            (Some(40), Some(60), Some(30), Some(12))
        );
        assert_eq!(usage_to(&u), v);
        // Anthropic-style usage: cache writes count as prompt tokens.
        let mut a = Usage::empty();
        a.input_tokens = Some(5);
        a.cache_read_tokens = Some(7);
        a.cache_write_tokens = Some(3);
        a.output_tokens = Some(9);
        assert_eq!(
            usage_to(&a),
            json!({"prompt_tokens": 15, "completion_tokens": 9, "total_tokens": 24,
                "prompt_tokens_details": {"cached_tokens": 7}})
        );
        // DeepSeek reports cache hits at the top level.
        let d = usage_from(&json!({"prompt_tokens": 10, "completion_tokens": 1,
            "prompt_cache_hit_tokens": 8, "prompt_cache_miss_tokens": 2}));
        assert_eq!((d.input_tokens, d.cache_read_tokens), (Some(2), Some(8)));
        // No details: nothing is invented.
        let p =
            usage_from(&json!({"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}));
        assert_eq!(
            (p.input_tokens, p.cache_read_tokens, p.extra),
            (Some(10), None, None)
        );
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(stop_reason_from("stop", false, false), StopReason::EndTurn);
        assert_eq!(stop_reason_from("stop", true, false), StopReason::ToolUse);
        assert_eq!(stop_reason_from("stop", false, true), StopReason::Refusal);
        assert_eq!(
            stop_reason_from("length", false, false),
            StopReason::MaxTokens
        );
        assert_eq!(
            stop_reason_from("tool_calls", true, false),
            StopReason::ToolUse
        );
        assert_eq!(
            stop_reason_from("content_filter", false, false),
            StopReason::ContentFilter
        );
        assert_eq!(stop_reason_to(StopReason::StopSequence, false), "stop");
        assert_eq!(stop_reason_to(StopReason::ContextLength, false), "length");
        assert_eq!(stop_reason_to(StopReason::Refusal, true), "stop");
        assert_eq!(stop_reason_to(StopReason::Refusal, false), "content_filter");
    }

    #[test]
    fn errors_both_ways() {
        let r = encode_error(&ApiError::new(ErrorKind::RateLimit, "slow down"));
        assert_eq!(r.status, 429);
        assert_eq!(
            serde_json::from_slice::<Value>(&r.body).unwrap(),
            json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"}})
        );
        let p = encode_error(&ApiError::new(ErrorKind::Policy, "blocked"));
        assert_eq!(p.status, 400);
        assert!(String::from_utf8(p.body)
            .unwrap()
            .contains("content_filter"));

        let d = decode_error(
            429,
            br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(
            (d.kind, d.status, d.message.as_str()),
            (ErrorKind::RateLimit, 429, "Rate limit reached")
        );
        assert_eq!(d.provider_type.as_deref(), Some("requests"));
        let d = decode_error(401, br#"{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}"#);
        assert_eq!(d.kind, ErrorKind::Authentication);
        // Azure content filter.
        let d = decode_error(400, br#"{"error":{"message":"filtered","type":null,"param":"prompt","code":"content_filter","status":400,
            "innererror":{"code":"ResponsibleAIPolicyViolation"}}}"#);
        assert_eq!(
            (d.kind, d.provider_type.as_deref()),
            (ErrorKind::Policy, Some("content_filter"))
        );
        // Ollama's string error, older vLLM's bare object, Gemini's array.
        assert_eq!(
            decode_error(404, br#"{"error":"model 'x' not found"}"#).message,
            "model 'x' not found"
        );
        let v = decode_error(400, br#"{"object":"error","message":"too long","type":"BadRequestError","param":null,"code":400}"#);
        assert_eq!(
            (v.kind, v.message.as_str()),
            (ErrorKind::InvalidRequest, "too long")
        );
        assert_eq!(
            decode_error(
                503,
                br#"[{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}]"#
            )
            .kind,
            ErrorKind::Overloaded
        );
        // Not JSON.
        let h = decode_error(502, b"<html>Bad Gateway</html>");
        assert_eq!(h.kind, ErrorKind::BadGateway);
        assert!(h.message.contains("502") && h.message.contains("Bad Gateway"));
        assert!(decode_error(500, b"").message.contains("empty body"));
    }

    #[test]
    fn stream_errors_take_their_kind_from_the_code() {
        let e = stream_error(
            &json!({"error": {"message": "overloaded", "type": "server_error", "code": null}}),
        )
        .unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::ApiError, 500));
        let e = stream_error(
            &json!({"object": "error", "message": "bad", "type": "BadRequestError", "code": 400}),
        )
        .unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::InvalidRequest, 400));
        assert!(stream_error(&json!({"id": "x", "choices": [], "error": null})).is_none());
    }

    #[test]
    fn models_list() {
        let v: Value = serde_json::from_slice(&encode_models(&["a".into(), "b".into()])).unwrap();
        assert_eq!(
            v,
            json!({"object": "list", "data": [
                {"id": "a", "object": "model", "created": 0, "owned_by": "tollgate"},
                {"id": "b", "object": "model", "created": 0, "owned_by": "tollgate"}]})
        );
    }
}
