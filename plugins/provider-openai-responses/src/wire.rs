//! Small pieces of the OpenAI Responses wire format shared by every path: usage, stop
//! reasons (`status` + `incomplete_details`), errors, the models list, and the helpers
//! that keep unnamed fields in `extra`.

use serde_json::{json, Map, Value};
use tollgate_sdk::json::snippet;
use tollgate_sdk::provider::{
    ApiError, Dialect, ErrorKind, Extra, Header, HttpResponse, StopReason, Usage,
};

/// The dialect tag of every `extra` this plugin writes.
pub const SOURCE: Dialect = Dialect::OpenaiResponses;

/// A JSON object.
pub type Obj = Map<String, Value>;

// ----- extra -----

/// `o.get(key)`; for the small objects of requests and items by a linear scan, which
/// is cheaper than hashing the key (keys are unique, so the result is the same).
#[inline]
pub fn field<'a>(o: &'a Obj, key: &str) -> Option<&'a Value> {
    if o.len() <= 12 {
        o.iter().find_map(|(k, v)| (k == key).then_some(v))
    } else {
        o.get(key)
    }
}

/// The fields of `obj` not in `known`, as an `extra` of this dialect.
pub fn extra_of(obj: &Obj, known: &[&str]) -> Option<Extra> {
    let rest = rest_of(obj, known);
    if rest.is_empty() {
        None
    } else {
        Some(to_extra(rest))
    }
}

/// The fields of `obj` not in `known`.
pub fn rest_of(obj: &Obj, known: &[&str]) -> Obj {
    obj.iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Wrap an object as an `extra` of this dialect.
pub fn to_extra(fields: Obj) -> Extra {
    Extra {
        source: SOURCE,
        fields: obj_json(&fields),
    }
}

// ----- direct JSON writing -----
//
// `Value::to_string` goes through `fmt::Display` (a `fmt::Write` adapter, UTF-8
// re-checks); `serde_json::to_writer` into a `Vec<u8>` writes the same compact bytes
// directly. Writing into a `Vec` cannot fail, so the `io::Result`s are dropped.

/// The compact JSON text of a value (the same text as `Value::to_string`).
pub fn to_json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The compact JSON text of an object (the same text as `Value::Object(..).to_string()`).
pub fn obj_json(o: &Obj) -> String {
    serde_json::to_string(o).unwrap_or_default()
}

/// Append a JSON value.
pub fn put_value(out: &mut Vec<u8>, v: &Value) {
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Append a JSON object.
pub fn put_obj(out: &mut Vec<u8>, o: &Obj) {
    let _ = serde_json::to_writer(&mut *out, o);
}

/// Append a JSON string.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Append a JSON number.
pub fn put_u64(out: &mut Vec<u8>, n: u64) {
    let _ = serde_json::to_writer(&mut *out, &n);
}

/// The fields of an `extra` written by this dialect; `None` for foreign extras (their
/// fields mean nothing here) and for malformed ones.
pub fn fields_of(extra: Option<&Extra>) -> Option<Obj> {
    let extra = extra?;
    if extra.source != SOURCE {
        return None;
    }
    match serde_json::from_str::<Value>(&extra.fields) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// Merge `fields` into `obj` without overwriting: a key already present keeps its value,
/// except that two objects merge recursively (so `text.verbosity` kept in `extra` joins
/// the `text.format` built from the canonical model).
pub fn merge_into(obj: &mut Obj, fields: Obj) {
    for (k, v) in fields {
        match obj.get_mut(&k) {
            None => {
                obj.insert(k, v);
            }
            Some(Value::Object(dst)) => {
                if let Value::Object(src) = v {
                    merge_into(dst, src);
                }
            }
            Some(_) => {}
        }
    }
}

/// Merge this dialect's `extra` into `obj` (see [`merge_into`]); foreign extras are
/// ignored. `skip` names synthetic keys that are not wire fields.
pub fn merge_extra(obj: &mut Obj, extra: Option<&Extra>, skip: &[&str]) {
    if let Some(mut fields) = fields_of(extra) {
        for k in skip {
            fields.remove(*k);
        }
        merge_into(obj, fields);
    }
}

// ----- usage -----

/// Canonical usage from a Responses `usage` object. Responses counts cached tokens
/// inside `input_tokens`; canonical `input-tokens` are the non-cached ones.
pub fn usage_from(v: &Value) -> Usage {
    let mut u = Usage::empty();
    let Some(o) = v.as_object() else {
        return u;
    };
    let n = |k: &str| o.get(k).and_then(Value::as_u64);
    let cached = o
        .get("input_tokens_details")
        .and_then(|d| d.get("cached_tokens"))
        .and_then(Value::as_u64);
    u.input_tokens = n("input_tokens").map(|i| i.saturating_sub(cached.unwrap_or(0)));
    u.cache_read_tokens = cached;
    u.output_tokens = n("output_tokens");
    u.reasoning_tokens = o
        .get("output_tokens_details")
        .and_then(|d| d.get("reasoning_tokens"))
        .and_then(Value::as_u64);
    // Everything else (unknown keys, unknown details) rides in `extra`.
    let mut rest = rest_of(o, &["input_tokens", "output_tokens", "total_tokens"]);
    for (details, known) in [
        ("input_tokens_details", "cached_tokens"),
        ("output_tokens_details", "reasoning_tokens"),
    ] {
        if let Some(Value::Object(d)) = rest.get_mut(details) {
            d.remove(known);
            if d.is_empty() {
                rest.remove(details);
            }
        }
    }
    if !rest.is_empty() {
        u.extra = Some(to_extra(rest));
    }
    u
}

/// A Responses `usage` object from canonical usage: every field Codex and the SDKs
/// require is present (zero when unknown). Cache writes count as prompt tokens.
pub fn usage_to(u: &Usage) -> Value {
    let (input, output) = usage_totals(u);
    let mut m = Map::with_capacity(5);
    m.insert("input_tokens".into(), json!(input));
    m.insert(
        "input_tokens_details".into(),
        json!({"cached_tokens": u.cache_read_tokens.unwrap_or(0)}),
    );
    m.insert("output_tokens".into(), json!(output));
    m.insert(
        "output_tokens_details".into(),
        json!({"reasoning_tokens": u.reasoning_tokens.unwrap_or(0)}),
    );
    m.insert("total_tokens".into(), json!(input + output));
    merge_extra(&mut m, u.extra.as_ref(), &[]);
    Value::Object(m)
}

/// The Responses `(input_tokens, output_tokens)` of canonical usage.
fn usage_totals(u: &Usage) -> (u64, u64) {
    let input = u.input_tokens.unwrap_or(0)
        + u.cache_read_tokens.unwrap_or(0)
        + u.cache_write_tokens.unwrap_or(0)
        + u.cache_write_1h_tokens.unwrap_or(0);
    (input, u.output_tokens.unwrap_or(0))
}

/// Append [`usage_to`]'s object as JSON (written directly when no extra of this
/// dialect can add fields).
pub fn put_usage(out: &mut Vec<u8>, u: &Usage) {
    if u.extra.as_ref().is_some_and(|e| e.source == SOURCE) {
        put_value(out, &usage_to(u));
        return;
    }
    let (input, output) = usage_totals(u);
    out.extend_from_slice(b"{\"input_tokens\":");
    put_u64(out, input);
    out.extend_from_slice(b",\"input_tokens_details\":{\"cached_tokens\":");
    put_u64(out, u.cache_read_tokens.unwrap_or(0));
    out.extend_from_slice(b"},\"output_tokens\":");
    put_u64(out, output);
    out.extend_from_slice(b",\"output_tokens_details\":{\"reasoning_tokens\":");
    put_u64(out, u.reasoning_tokens.unwrap_or(0));
    out.extend_from_slice(b"},\"total_tokens\":");
    put_u64(out, input + output);
    out.push(b'}');
}

// ----- stop reasons -----

/// Canonical stop reason from a response `status` and `incomplete_details.reason`.
/// A completed response that asked the client to run tools is `tool-use`; one whose
/// message was a refusal is `refusal`. `None` while the response is not finished.
pub fn stop_reason_from(
    status: &str,
    incomplete: Option<&str>,
    tool_call: bool,
    refusal: bool,
) -> Option<StopReason> {
    Some(match status {
        "completed" if tool_call => StopReason::ToolUse,
        "completed" if refusal => StopReason::Refusal,
        "completed" => StopReason::EndTurn,
        "incomplete" => match incomplete {
            Some("max_output_tokens") => StopReason::MaxTokens,
            Some("content_filter") => StopReason::ContentFilter,
            _ => StopReason::Other,
        },
        "failed" => StopReason::Error,
        "in_progress" | "queued" => return None,
        _ => StopReason::Other,
    })
}

/// The response `status` and `incomplete_details.reason` for a canonical stop reason.
pub fn status_of(r: StopReason) -> (&'static str, Option<&'static str>) {
    match r {
        StopReason::EndTurn
        | StopReason::ToolUse
        | StopReason::StopSequence
        | StopReason::PauseTurn
        | StopReason::Refusal
        | StopReason::Other => ("completed", None),
        StopReason::MaxTokens | StopReason::ContextLength => {
            ("incomplete", Some("max_output_tokens"))
        }
        StopReason::ContentFilter => ("incomplete", Some("content_filter")),
        StopReason::Error => ("failed", None),
    }
}

/// The short stop reason recorded for a response: the incomplete reason if there is
/// one, else the status.
pub fn summary_stop_reason(status: Option<&str>, incomplete: Option<&str>) -> Option<String> {
    incomplete.or(status).map(str::to_string)
}

// ----- errors -----

/// OpenAI error `type` names (the class of an error; `code` is the specific cause).
const ERROR_TYPES: &[&str] = &[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "rate_limit_error",
    "server_error",
    "api_error",
    "insufficient_quota",
    "requests",
    "tokens",
];

/// The canonical kind an OpenAI error `code` names, when it names one.
pub fn kind_from_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "rate_limit_exceeded" | "insufficient_quota" => ErrorKind::RateLimit,
        "server_is_overloaded" | "slow_down" => ErrorKind::Overloaded,
        "server_error" => ErrorKind::ApiError,
        "invalid_prompt"
        | "content_policy_violation"
        | "content_filter"
        | "cyber_policy"
        | "bio_policy" => ErrorKind::Policy,
        "context_length_exceeded" | "invalid_request_error" | "request_too_large" => {
            ErrorKind::InvalidRequest
        }
        "invalid_api_key" | "unauthorized" => ErrorKind::Authentication,
        "model_not_found" => ErrorKind::NotFound,
        "permission_denied" => ErrorKind::Permission,
        "timeout" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// The canonical kind an OpenAI error `type` names, when it names one.
pub fn kind_from_type(t: &str) -> Option<ErrorKind> {
    Some(match t {
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" | "request_forbidden" => ErrorKind::Permission,
        "not_found_error" => ErrorKind::NotFound,
        "rate_limit_error" | "requests" | "tokens" | "insufficient_quota" => ErrorKind::RateLimit,
        "server_error" | "api_error" => ErrorKind::ApiError,
        "overloaded_error" => ErrorKind::Overloaded,
        _ => return None,
    })
}

/// Whether a message says the prompt did not fit the context window (Anthropic
/// "prompt is too long", Gemini "exceeds the maximum number of tokens", …), so that
/// Codex sees `context_length_exceeded` and compacts its history.
fn is_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "prompt is too long",
        "context length",
        "context window",
        "maximum context",
        "context_length_exceeded",
        "exceeds the maximum number of tokens",
        "too many tokens",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// The OpenAI `(type, code)` for a canonical error. An OpenAI `provider-type` is kept
/// (as the type if it names a class, else as the code); other dialects' types are not.
pub fn error_type_code(err: &ApiError) -> (String, Option<String>) {
    let (t, code) = match err.kind {
        ErrorKind::InvalidRequest => ("invalid_request_error", None),
        ErrorKind::Authentication => ("invalid_request_error", Some("invalid_api_key")),
        ErrorKind::Permission => ("permission_error", Some("permission_denied")),
        ErrorKind::NotFound => ("invalid_request_error", None),
        ErrorKind::RequestTooLarge => ("invalid_request_error", Some("request_too_large")),
        ErrorKind::RateLimit => ("rate_limit_error", Some("rate_limit_exceeded")),
        ErrorKind::ApiError => ("server_error", Some("server_error")),
        ErrorKind::BadGateway => ("server_error", Some("bad_gateway")),
        ErrorKind::Overloaded => ("server_error", Some("server_is_overloaded")),
        ErrorKind::Timeout => ("server_error", Some("timeout")),
        ErrorKind::Policy => ("invalid_request_error", Some("content_policy_violation")),
    };
    let mut t = t.to_string();
    let mut code = code.map(str::to_string);
    if err.kind == ErrorKind::InvalidRequest && is_context_overflow(&err.message) {
        code = Some("context_length_exceeded".to_string());
    }
    if let Some(pt) = err.provider_type.as_deref().filter(|p| !p.is_empty()) {
        if ERROR_TYPES.contains(&pt) {
            t = pt.to_string();
        } else if !pt.ends_with("_error") {
            // An OpenAI-style code (`rate_limit_exceeded`); `…_error` names are
            // another dialect's types and mean nothing to OpenAI clients.
            code = Some(pt.to_string());
        }
    }
    (t, code)
}

/// The inner OpenAI error object `{"message","type","param","code"}`.
pub fn error_object(err: &ApiError) -> Value {
    let (t, code) = error_type_code(err);
    json!({"message": err.message, "type": t, "param": null, "code": code})
}

/// The OpenAI error body `{"error":{…}}`.
pub fn error_body(err: &ApiError) -> Value {
    json!({ "error": error_object(err) })
}

/// An error answer in OpenAI's shape.
pub fn encode_error(err: &ApiError) -> HttpResponse {
    HttpResponse {
        status: err.portable_status(),
        headers: vec![Header::new("content-type", "application/json")],
        body: serde_json::to_vec(&error_body(err)).unwrap_or_default(),
    }
}

/// Canonical error from an OpenAI error object (`{"message","type","code"}`, the
/// `error` of a failed response, or a stream `error` event). `status` is the HTTP status
/// when there was one; otherwise the kind's usual status is used.
pub fn error_from_object(e: &Value, status: Option<u16>) -> Option<ApiError> {
    let o = e.as_object()?;
    let t = o
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| *t != "error" && !t.is_empty());
    let code = o
        .get("code")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty());
    let message = o.get("message").and_then(Value::as_str);
    if t.is_none() && code.is_none() && message.is_none() {
        return None;
    }
    let named = code
        .and_then(kind_from_code)
        .or_else(|| t.and_then(kind_from_type));
    let kind = match status {
        // The HTTP status is the most reliable class; a policy code refines a 400.
        Some(s) => match named {
            Some(ErrorKind::Policy) if (400..500).contains(&s) => ErrorKind::Policy,
            _ => ErrorKind::from_status(s),
        },
        None => named.unwrap_or(ErrorKind::ApiError),
    };
    Some(ApiError {
        kind,
        status: status.unwrap_or_else(|| kind.default_status()),
        message: match message {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => match status {
                Some(s) => format!("upstream returned HTTP {s}"),
                None => "the upstream reported an error".to_string(),
            },
        },
        provider_type: code.or(t).map(str::to_string),
    })
}

/// Canonical error from an upstream error answer (JSON or not).
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let inner = match v.get("error") {
            Some(Value::String(s)) => Some(json!({ "message": s })),
            Some(e @ Value::Object(_)) => Some(e.clone()),
            _ => None,
        };
        if let Some(err) = error_from_object(inner.as_ref().unwrap_or(&v), Some(status)) {
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

/// The OpenAI `GET /v1/models` answer for these model ids.
pub fn encode_models(models: &[String]) -> Vec<u8> {
    let data: Vec<Value> = models
        .iter()
        .map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": "tollgate"}))
        .collect();
    serde_json::to_vec(&json!({"object": "list", "data": data})).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn errors_both_ways() {
        for (kind, status, t, code) in [
            (
                ErrorKind::InvalidRequest,
                400,
                "invalid_request_error",
                None,
            ),
            (
                ErrorKind::Authentication,
                401,
                "invalid_request_error",
                Some("invalid_api_key"),
            ),
            (
                ErrorKind::Permission,
                403,
                "permission_error",
                Some("permission_denied"),
            ),
            (ErrorKind::NotFound, 404, "invalid_request_error", None),
            (
                ErrorKind::RequestTooLarge,
                413,
                "invalid_request_error",
                Some("request_too_large"),
            ),
            (
                ErrorKind::RateLimit,
                429,
                "rate_limit_error",
                Some("rate_limit_exceeded"),
            ),
            (
                ErrorKind::ApiError,
                500,
                "server_error",
                Some("server_error"),
            ),
            (
                ErrorKind::BadGateway,
                502,
                "server_error",
                Some("bad_gateway"),
            ),
            (
                ErrorKind::Overloaded,
                503,
                "server_error",
                Some("server_is_overloaded"),
            ),
            (ErrorKind::Timeout, 504, "server_error", Some("timeout")),
            (
                ErrorKind::Policy,
                400,
                "invalid_request_error",
                Some("content_policy_violation"),
            ),
        ] {
            let r = encode_error(&ApiError::new(kind, "m"));
            assert_eq!(r.status, status, "{kind}");
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(
                v,
                json!({"error": {"message": "m", "type": t, "param": null, "code": code}}),
                "{kind}"
            );
            // And back: the kind survives a round trip through the OpenAI shape.
            let back = decode_error(status, &r.body);
            assert_eq!(back.kind, kind, "{kind}");
            assert_eq!(back.status, status);
        }
    }

    #[test]
    fn upstream_errors() {
        let d = decode_error(
            400,
            br#"{"error":{"message":"Your input exceeds the context window of this model.","type":"invalid_request_error","param":"input","code":"context_length_exceeded"}}"#,
        );
        assert_eq!((d.kind, d.status), (ErrorKind::InvalidRequest, 400));
        assert_eq!(d.provider_type.as_deref(), Some("context_length_exceeded"));
        // Kept as the code when re-encoded for a Codex client.
        assert_eq!(error_object(&d)["code"], "context_length_exceeded");
        let d = decode_error(
            429,
            br#"{"error":{"message":"quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
        );
        assert_eq!(d.kind, ErrorKind::RateLimit);
        let d = decode_error(
            400,
            br#"{"error":{"message":"flagged","type":"invalid_request_error","code":"invalid_prompt"}}"#,
        );
        assert_eq!((d.kind, d.status), (ErrorKind::Policy, 400));
        let d = decode_error(502, b"<html>Bad Gateway</html>");
        assert_eq!(d.kind, ErrorKind::BadGateway);
        assert!(d.message.contains("502") && d.message.contains("Bad Gateway"));
        let d = decode_error(503, b"");
        assert_eq!(d.kind, ErrorKind::Overloaded);
        assert!(d.message.contains("empty body"));
        let d = decode_error(500, br#"{"error":"boom"}"#);
        assert_eq!((d.kind, d.message.as_str()), (ErrorKind::ApiError, "boom"));
        let d = decode_error(404, br#"{"message":"no such model"}"#);
        assert_eq!(
            (d.kind, d.message.as_str()),
            (ErrorKind::NotFound, "no such model")
        );
    }

    #[test]
    fn foreign_overflow_becomes_context_length_exceeded() {
        let e = ApiError::new(
            ErrorKind::InvalidRequest,
            "prompt is too long: 210000 tokens > 200000 maximum",
        )
        .with_provider_type("invalid_request_error");
        let o = error_object(&e);
        assert_eq!(o["type"], "invalid_request_error");
        assert_eq!(o["code"], "context_length_exceeded");
        // Another dialect's type name is not leaked as a code.
        let e = ApiError::new(ErrorKind::Overloaded, "busy").with_provider_type("overloaded_error");
        assert_eq!(error_object(&e)["code"], "server_is_overloaded");
    }

    #[test]
    fn models_list() {
        let v: Value = serde_json::from_slice(&encode_models(&["a".into(), "b".into()])).unwrap();
        assert_eq!(
            v,
            json!({"object": "list", "data": [
                {"id": "a", "object": "model", "created": 0, "owned_by": "tollgate"},
                {"id": "b", "object": "model", "created": 0, "owned_by": "tollgate"},
            ]})
        );
    }

    #[test]
    fn usage_counts_cached_tokens_once() {
        let v = json!({"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60},
            "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 130});
        let u = usage_from(&v);
        assert_eq!(
            (
                u.input_tokens,
                u.cache_read_tokens,
                u.output_tokens,
                u.reasoning_tokens
            ),
            (Some(40), Some(60), Some(30), Some(20))
        );
        assert!(u.extra.is_none());
        assert_eq!(usage_to(&u), v);
        // Anthropic-style usage: cache writes are prompt tokens too.
        let mut a = Usage::empty();
        a.input_tokens = Some(10);
        a.cache_read_tokens = Some(5);
        a.cache_write_tokens = Some(3);
        a.output_tokens = Some(7);
        let o = usage_to(&a);
        assert_eq!(o["input_tokens"], 18);
        assert_eq!(o["input_tokens_details"]["cached_tokens"], 5);
        assert_eq!(o["total_tokens"], 25);
        // Unknown details survive.
        let v = json!({"input_tokens": 1, "input_tokens_details": {"cached_tokens": 0, "audio_tokens": 2},
            "output_tokens": 1, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 2});
        assert_eq!(usage_to(&usage_from(&v)), v);
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(
            stop_reason_from("completed", None, true, false),
            Some(StopReason::ToolUse)
        );
        assert_eq!(
            stop_reason_from("incomplete", Some("max_output_tokens"), false, false),
            Some(StopReason::MaxTokens)
        );
        assert_eq!(
            stop_reason_from("incomplete", Some("content_filter"), false, false),
            Some(StopReason::ContentFilter)
        );
        assert_eq!(stop_reason_from("in_progress", None, false, false), None);
        assert_eq!(status_of(StopReason::ToolUse), ("completed", None));
        assert_eq!(
            status_of(StopReason::MaxTokens),
            ("incomplete", Some("max_output_tokens"))
        );
        assert_eq!(status_of(StopReason::Error), ("failed", None));
    }
}
