//! Small pieces of the Anthropic wire format shared by every path: usage, stop reasons,
//! errors, the models list.

use serde_json::{json, Map, Value};
use tollgate_sdk::json::snippet;
use tollgate_sdk::provider::{
    ApiError, Dialect, ErrorKind, Extra, Header, HttpResponse, StopReason, Usage,
};

/// Canonical usage from an Anthropic `usage` object.
pub fn usage_from(v: &Value) -> Usage {
    let mut u = Usage::empty();
    let Some(obj) = v.as_object() else {
        return u;
    };
    // One pass over the fields (no lookups by key).
    let mut cache_creation = None;
    let mut rest = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "input_tokens" => u.input_tokens = v.as_u64(),
            "output_tokens" => u.output_tokens = v.as_u64(),
            "cache_read_input_tokens" => u.cache_read_tokens = v.as_u64(),
            "cache_creation_input_tokens" => u.cache_write_tokens = v.as_u64(),
            "cache_creation" => cache_creation = Some(v),
            _ => {
                rest.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(cc) = cache_creation.filter(|c| c.is_object()) {
        let five = cc.get("ephemeral_5m_input_tokens").and_then(Value::as_u64);
        let hour = cc.get("ephemeral_1h_input_tokens").and_then(Value::as_u64);
        if five.is_some() || hour.is_some() {
            u.cache_write_tokens = five;
            u.cache_write_1h_tokens = hour;
        }
    }
    u.extra = extra_from_map(rest);
    u
}

/// An Anthropic `usage` object from canonical usage.
pub fn usage_to(u: &Usage) -> Value {
    let mut m = Map::new();
    m.insert("input_tokens".into(), json!(u.input_tokens.unwrap_or(0)));
    if u.cache_write_tokens.is_some() || u.cache_write_1h_tokens.is_some() {
        let total = u.cache_write_tokens.unwrap_or(0) + u.cache_write_1h_tokens.unwrap_or(0);
        m.insert("cache_creation_input_tokens".into(), json!(total));
    }
    if let Some(r) = u.cache_read_tokens {
        m.insert("cache_read_input_tokens".into(), json!(r));
    }
    if u.cache_write_1h_tokens.is_some() {
        m.insert(
            "cache_creation".into(),
            json!({
                "ephemeral_5m_input_tokens": u.cache_write_tokens.unwrap_or(0),
                "ephemeral_1h_input_tokens": u.cache_write_1h_tokens.unwrap_or(0),
            }),
        );
    }
    m.insert("output_tokens".into(), json!(u.output_tokens.unwrap_or(0)));
    merge_extra(&mut m, u.extra.as_ref());
    Value::Object(m)
}

/// Add an Anthropic-sourced `extra`'s fields to `obj` (never overwriting a key).
/// Extras from other dialects are dropped: their fields mean nothing here.
pub fn merge_extra(obj: &mut Map<String, Value>, extra: Option<&Extra>) {
    let Some(extra) = extra else { return };
    if extra.source != Dialect::Anthropic {
        return;
    }
    if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&extra.fields) {
        for (k, v) in fields {
            obj.entry(k).or_insert(v);
        }
    }
}

/// The fields of `obj` not in `known`, as an Anthropic `extra`.
pub fn extra_of(obj: &Map<String, Value>, known: &[&str]) -> Option<Extra> {
    extra_of_with(obj, known, Map::new())
}

/// The fields of `obj` not in `known`, plus `added` (fields a decoder took apart and
/// keeps only partly, e.g. `output_config` without its `format`), as an Anthropic
/// `extra`.
pub fn extra_of_with(
    obj: &Map<String, Value>,
    known: &[&str],
    added: Map<String, Value>,
) -> Option<Extra> {
    let mut rest: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    rest.extend(added);
    extra_from_map(rest)
}

/// A map of fields as an Anthropic `extra` (`None` when empty).
pub fn extra_from_map(fields: Map<String, Value>) -> Option<Extra> {
    if fields.is_empty() {
        None
    } else {
        Some(Extra {
            source: Dialect::Anthropic,
            // Serializing a map of JSON values into memory cannot fail.
            fields: serde_json::to_string(&fields).unwrap_or_default(),
        })
    }
}

/// Canonical stop reason from Anthropic's `stop_reason`.
pub fn stop_reason_from(s: &str) -> StopReason {
    match s {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "pause_turn" => StopReason::PauseTurn,
        "refusal" => StopReason::Refusal,
        "model_context_window_exceeded" => StopReason::ContextLength,
        _ => StopReason::Other,
    }
}

/// Anthropic's `stop_reason` for a canonical stop reason.
pub fn stop_reason_to(r: StopReason) -> &'static str {
    match r {
        StopReason::EndTurn | StopReason::Error | StopReason::Other => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::PauseTurn => "pause_turn",
        StopReason::Refusal | StopReason::ContentFilter => "refusal",
        StopReason::ContextLength => "model_context_window_exceeded",
    }
}

/// Anthropic's error `type` for a canonical error kind.
pub fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::Policy => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RequestTooLarge => "request_too_large",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::ApiError | ErrorKind::BadGateway => "api_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Timeout => "timeout_error",
    }
}

/// The canonical kind of an Anthropic error `type`, if known.
pub fn error_kind(t: &str) -> Option<ErrorKind> {
    Some(match t {
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" | "billing_error" => ErrorKind::Permission,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::RequestTooLarge,
        "rate_limit_error" => ErrorKind::RateLimit,
        "api_error" => ErrorKind::ApiError,
        "overloaded_error" => ErrorKind::Overloaded,
        "timeout_error" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// The Anthropic error body `{"type":"error","error":{"type":…,"message":…}}`.
pub fn error_body(err: &ApiError) -> Value {
    // Another provider's type (`RESOURCE_EXHAUSTED`, `tokens`,
    // `rate_limit_exceeded`, …) means nothing to an Anthropic client, which branches
    // on Anthropic's own `…_error` types.
    let t = err
        .provider_type
        .as_deref()
        .filter(|t| error_kind(t).is_some() || t.ends_with("_error"))
        .unwrap_or_else(|| error_type(err.kind));
    json!({"type": "error", "error": {"type": t, "message": err.message}})
}

/// An error answer in Anthropic's shape.
pub fn encode_error(err: &ApiError) -> HttpResponse {
    HttpResponse {
        status: err.status,
        headers: vec![Header::new("content-type", "application/json")],
        body: error_body(err).to_string().into_bytes(),
    }
}

/// Canonical error from an upstream error answer.
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let e = v.get("error").unwrap_or(&v);
        let t = e.get("type").and_then(Value::as_str);
        let message = e.get("message").and_then(Value::as_str);
        if t.is_some() || message.is_some() {
            let kind = t
                .and_then(error_kind)
                .unwrap_or_else(|| ErrorKind::from_status(status));
            return ApiError {
                kind,
                status,
                message: message
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("upstream returned HTTP {status}")),
                provider_type: t.map(str::to_string),
            };
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

/// The Anthropic `GET /v1/models` answer for these model ids.
pub fn encode_models(models: &[String]) -> Vec<u8> {
    let data: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"})
        })
        .collect();
    json!({
        "data": data,
        "has_more": false,
        "first_id": models.first(),
        "last_id": models.last(),
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn foreign_error_types_become_anthropic_types() {
        let e = ApiError {
            kind: ErrorKind::RateLimit,
            status: 429,
            message: "quota".into(),
            provider_type: Some("RESOURCE_EXHAUSTED".into()),
        };
        assert_eq!(error_body(&e)["error"]["type"], "rate_limit_error");
        let e = ApiError {
            provider_type: Some("rate_limit_exceeded".into()),
            ..e
        };
        assert_eq!(error_body(&e)["error"]["type"], "rate_limit_error");
        let e = ApiError {
            provider_type: Some("overloaded_error".into()),
            kind: ErrorKind::Overloaded,
            ..e
        };
        assert_eq!(error_body(&e)["error"]["type"], "overloaded_error");
    }

    #[test]
    fn errors_both_ways() {
        let e = ApiError::new(ErrorKind::Overloaded, "busy");
        let r = encode_error(&e);
        assert_eq!(r.status, 503);
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#
        );
        let d = decode_error(
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(
            (d.kind, d.status, d.message.as_str()),
            (ErrorKind::Overloaded, 529, "Overloaded")
        );
        assert_eq!(d.provider_type.as_deref(), Some("overloaded_error"));
        let d = decode_error(502, b"<html>Bad Gateway</html>");
        assert_eq!(d.kind, ErrorKind::BadGateway);
        assert!(d.message.contains("502") && d.message.contains("Bad Gateway"));
        let p = ApiError::new(ErrorKind::Policy, "no").with_provider_type("x_error");
        assert!(String::from_utf8(encode_error(&p).body)
            .unwrap()
            .contains("x_error"));
    }

    #[test]
    fn models_list() {
        let v: Value = serde_json::from_slice(&encode_models(&["a".into(), "b".into()])).unwrap();
        assert_eq!(v["data"][1]["id"], "b");
        assert_eq!(v["first_id"], "a");
        assert_eq!(v["last_id"], "b");
        assert_eq!(v["has_more"], false);
    }

    #[test]
    fn usage_round_trip() {
        let v = json!({"input_tokens": 5, "cache_creation_input_tokens": 30, "cache_read_input_tokens": 7,
            "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20},
            "output_tokens": 9, "service_tier": "standard"});
        let u = usage_from(&v);
        assert_eq!(
            (u.cache_write_tokens, u.cache_write_1h_tokens),
            (Some(10), Some(20))
        );
        assert_eq!(usage_to(&u), v);
    }
}
