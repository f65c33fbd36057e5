//! Small pieces of the Bedrock Converse wire format shared by every path: usage, stop
//! reasons, errors, the models list, `extra` helpers and percent-encoding of model ids.

use serde_json::{json, Map, Value};
use tollgate_sdk::json::snippet;
use tollgate_sdk::provider::{
    ApiError, Dialect, ErrorKind, Extra, Header, HttpResponse, StopReason, Usage,
};

/// Extras this plugin writes are tagged `other` (the WIT names no `bedrock` dialect).
pub const DIALECT: Dialect = Dialect::Other;

/// Usage fields this module names; the rest of a usage object goes to `extra`.
const USAGE_KNOWN: &[&str] = &[
    "inputTokens",
    "outputTokens",
    "totalTokens",
    "cacheReadInputTokens",
    "cacheWriteInputTokens",
    "cacheDetails",
];

fn count(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

/// Canonical usage from a Converse `usage` object. `inputTokens` excludes cached
/// tokens, as the canonical `input-tokens` does.
pub fn usage_from(v: &Value) -> Usage {
    let mut u = Usage::empty();
    u.input_tokens = count(v, "inputTokens");
    u.output_tokens = count(v, "outputTokens");
    u.cache_read_tokens = count(v, "cacheReadInputTokens");
    u.cache_write_tokens = count(v, "cacheWriteInputTokens");
    if let Some(details) = v.get("cacheDetails").and_then(Value::as_array) {
        let ttl = |t: &str| {
            details
                .iter()
                .filter(|d| d.get("ttl").and_then(Value::as_str) == Some(t))
                .filter_map(|d| count(d, "inputTokens"))
                .reduce(|a, b| a + b)
        };
        let hour = ttl("1h");
        if hour.is_some() {
            u.cache_write_1h_tokens = hour;
            u.cache_write_tokens = Some(ttl("5m").unwrap_or(0));
        }
    }
    let mut rest = Map::new();
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            if !USAGE_KNOWN.contains(&k.as_str()) {
                rest.insert(k.clone(), val.clone());
            }
        }
    }
    // `totalTokens` is derived on the way out; keep it only when it says more.
    if let Some(total) = count(v, "totalTokens") {
        if total != total_of(&u) {
            rest.insert("totalTokens".into(), json!(total));
        }
    }
    if !rest.is_empty() {
        u.extra = Some(Extra {
            source: DIALECT,
            fields: Value::Object(rest).to_string(),
        });
    }
    u
}

fn total_of(u: &Usage) -> u64 {
    u.input_tokens.unwrap_or(0)
        + u.output_tokens.unwrap_or(0)
        + u.cache_read_tokens.unwrap_or(0)
        + u.cache_write_tokens.unwrap_or(0)
        + u.cache_write_1h_tokens.unwrap_or(0)
}

/// A Converse `usage` object from canonical usage.
pub fn usage_to(u: &Usage) -> Value {
    let mut m = Map::new();
    m.insert("inputTokens".into(), json!(u.input_tokens.unwrap_or(0)));
    m.insert("outputTokens".into(), json!(u.output_tokens.unwrap_or(0)));
    m.insert("totalTokens".into(), json!(total_of(u)));
    if let Some(r) = u.cache_read_tokens {
        m.insert("cacheReadInputTokens".into(), json!(r));
    }
    if u.cache_write_tokens.is_some() || u.cache_write_1h_tokens.is_some() {
        let five = u.cache_write_tokens.unwrap_or(0);
        m.insert(
            "cacheWriteInputTokens".into(),
            json!(five + u.cache_write_1h_tokens.unwrap_or(0)),
        );
        if let Some(hour) = u.cache_write_1h_tokens {
            let mut details = vec![json!({"ttl": "1h", "inputTokens": hour})];
            if five > 0 {
                details.push(json!({"ttl": "5m", "inputTokens": five}));
            }
            m.insert("cacheDetails".into(), Value::Array(details));
        }
    }
    if let Some(e) = &u.extra {
        // A recorded `totalTokens` that differs from the sum wins over the sum.
        if e.source == DIALECT {
            if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&e.fields) {
                for (k, v) in fields {
                    m.insert(k, v);
                }
            }
        }
    }
    Value::Object(m)
}

/// Add this plugin's `extra` fields to `obj` (never overwriting a key). Extras of other
/// dialects are dropped: their fields mean nothing here.
pub fn merge_extra(obj: &mut Map<String, Value>, extra: Option<&Extra>) {
    let Some(extra) = extra else { return };
    if extra.source != DIALECT {
        return;
    }
    if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&extra.fields) {
        for (k, v) in fields {
            obj.entry(k).or_insert(v);
        }
    }
}

/// The fields of `obj` not in `known`, as an `extra`.
pub fn extra_of(obj: &Map<String, Value>, known: &[&str]) -> Option<Extra> {
    let rest: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    extra_from(rest)
}

/// A map as an `extra`, `None` when empty.
pub fn extra_from(fields: Map<String, Value>) -> Option<Extra> {
    if fields.is_empty() {
        None
    } else {
        Some(Extra {
            source: DIALECT,
            fields: Value::Object(fields).to_string(),
        })
    }
}

/// The fields of one of this plugin's extras.
pub fn extra_fields(extra: Option<&Extra>) -> Map<String, Value> {
    match extra {
        Some(e) if e.source == DIALECT => match serde_json::from_str::<Value>(&e.fields) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

/// Canonical stop reason from Converse's `stopReason`.
pub fn stop_reason_from(s: &str) -> StopReason {
    match s {
        "end_turn" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "guardrail_intervened" | "content_filtered" => StopReason::ContentFilter,
        "model_context_window_exceeded" => StopReason::ContextLength,
        "malformed_model_output" | "malformed_tool_use" => StopReason::Error,
        _ => StopReason::Other,
    }
}

/// Converse's `stopReason` for a canonical stop reason.
pub fn stop_reason_to(r: StopReason) -> &'static str {
    match r {
        StopReason::EndTurn | StopReason::PauseTurn | StopReason::Other => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter | StopReason::Refusal => "content_filtered",
        StopReason::ContextLength => "model_context_window_exceeded",
        StopReason::Error => "malformed_model_output",
    }
}

/// The Bedrock exception name for a canonical error kind.
pub fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge | ErrorKind::Policy => {
            "ValidationException"
        }
        ErrorKind::Authentication => "UnrecognizedClientException",
        ErrorKind::Permission => "AccessDeniedException",
        ErrorKind::NotFound => "ResourceNotFoundException",
        ErrorKind::RateLimit => "ThrottlingException",
        ErrorKind::ApiError => "InternalServerException",
        ErrorKind::BadGateway => "ModelErrorException",
        ErrorKind::Overloaded => "ServiceUnavailableException",
        ErrorKind::Timeout => "ModelTimeoutException",
    }
}

/// The canonical kind of a Bedrock exception name (either case of the first letter, as
/// `x-amzn-errortype` and the stream's `:exception-type` spell it), if known.
pub fn error_kind(name: &str) -> Option<ErrorKind> {
    // `ValidationException:http://internal.amazon.com/…` and `aws#ValidationException`.
    let name = name.split(':').next().unwrap_or(name);
    let name = name.rsplit('#').next().unwrap_or(name);
    let mut chars = name.chars();
    let first = chars.next()?.to_ascii_uppercase();
    let name: String = std::iter::once(first).chain(chars).collect();
    Some(match name.as_str() {
        "ValidationException" | "ServiceQuotaExceededException" => ErrorKind::InvalidRequest,
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException" => ErrorKind::Authentication,
        "AccessDeniedException" => ErrorKind::Permission,
        "ResourceNotFoundException" => ErrorKind::NotFound,
        "ThrottlingException" | "ModelNotReadyException" => ErrorKind::RateLimit,
        "InternalServerException" => ErrorKind::ApiError,
        "ModelErrorException" | "ModelStreamErrorException" => ErrorKind::BadGateway,
        "ServiceUnavailableException" => ErrorKind::Overloaded,
        "ModelTimeoutException" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// The exception name to answer with: the error's own when it is a Bedrock-style name,
/// else the kind's.
pub fn exception_name(err: &ApiError) -> String {
    match err.provider_type.as_deref() {
        Some(t) if error_kind(t).is_some() => {
            let t = t.split(':').next().unwrap_or(t);
            let t = t.rsplit('#').next().unwrap_or(t);
            let mut c = t.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
        _ => error_type(err.kind).to_string(),
    }
}

/// An error answer in Bedrock's shape: `{"message": …}` with the exception name in
/// `x-amzn-errortype`.
pub fn encode_error(err: &ApiError) -> HttpResponse {
    HttpResponse {
        status: err.portable_status(),
        headers: vec![
            Header::new("content-type", "application/json"),
            Header::new("x-amzn-errortype", exception_name(err)),
        ],
        body: json!({"message": err.message}).to_string().into_bytes(),
    }
}

/// Canonical error from an upstream error answer. Bedrock names the exception only in
/// the `x-amzn-errortype` header, which the host does not pass, so the kind comes from
/// the status (and a body `__type` when a proxy put one there); a 403 whose message is
/// about the signature or token is an authentication error.
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    let v: Option<Value> = serde_json::from_slice(body).ok();
    let message = v.as_ref().and_then(|v| {
        ["message", "Message"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(str::to_string)
    });
    let provider_type = v
        .as_ref()
        .and_then(|v| v.get("__type"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let kind = provider_type
        .as_deref()
        .and_then(error_kind)
        .unwrap_or_else(|| match status {
            424 => ErrorKind::BadGateway,
            403 if message.as_deref().is_some_and(is_credentials_message) => {
                ErrorKind::Authentication
            }
            s => ErrorKind::from_status(s),
        });
    let message = message.unwrap_or_else(|| {
        let text = snippet(body, 200);
        if text.is_empty() {
            format!("upstream returned HTTP {status} with an empty body")
        } else {
            format!("upstream returned HTTP {status}: {text}")
        }
    });
    ApiError {
        kind,
        status,
        message,
        provider_type,
    }
}

fn is_credentials_message(m: &str) -> bool {
    let m = m.to_ascii_lowercase();
    [
        "security token",
        "signature",
        "credential",
        "expired",
        "authorization header",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// The models list. The runtime host has no list route; this answers in the shape of
/// the control plane's `ListFoundationModels`.
pub fn encode_models(models: &[String]) -> Vec<u8> {
    let summaries: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({
                "modelId": m,
                "modelName": m,
                "providerName": m.split('.').next().unwrap_or(m),
                "inferenceTypesSupported": ["ON_DEMAND"],
                "responseStreamingSupported": true,
            })
        })
        .collect();
    json!({ "modelSummaries": summaries })
        .to_string()
        .into_bytes()
}

/// Percent-encode a model id (or ARN) as one path segment: everything but RFC 3986
/// unreserved characters.
pub fn encode_segment(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

/// Decode `%XX` escapes of a path segment (the model as the client sent it in the path);
/// invalid escapes and invalid UTF-8 are kept as they were.
pub fn decode_segment(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn usage_round_trips_with_ttl_details() {
        let v = json!({"inputTokens": 5, "outputTokens": 9, "totalTokens": 44,
            "cacheReadInputTokens": 7, "cacheWriteInputTokens": 23,
            "cacheDetails": [{"ttl": "1h", "inputTokens": 20}, {"ttl": "5m", "inputTokens": 3}]});
        let u = usage_from(&v);
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_write_tokens,
                u.cache_write_1h_tokens
            ),
            (Some(5), Some(9), Some(7), Some(3), Some(20))
        );
        assert!(u.extra.is_none(), "a consistent total is not kept");
        assert_eq!(usage_to(&u), v);
        let odd = json!({"inputTokens": 1, "outputTokens": 1, "totalTokens": 5});
        assert_eq!(usage_to(&usage_from(&odd)), odd);
    }

    #[test]
    fn errors_both_ways() {
        let r = encode_error(&ApiError::new(ErrorKind::RateLimit, "slow down"));
        assert_eq!(r.status, 429);
        assert!(r
            .headers
            .iter()
            .any(|h| h.name == "x-amzn-errortype" && h.value == "ThrottlingException"));
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"message":"slow down"}"#
        );
        let r = encode_error(
            &ApiError::new(ErrorKind::NotFound, "x").with_provider_type("not_found_error"),
        );
        assert!(r
            .headers
            .iter()
            .any(|h| h.value == "ResourceNotFoundException"));
        let r = encode_error(
            &ApiError::new(ErrorKind::BadGateway, "x")
                .with_provider_type("modelStreamErrorException"),
        );
        assert!(r
            .headers
            .iter()
            .any(|h| h.value == "ModelStreamErrorException"));

        for (status, body, kind) in [
            (
                400,
                r#"{"message":"Malformed input request"}"#,
                ErrorKind::InvalidRequest,
            ),
            (
                403,
                r#"{"message":"You don't have access to the model with the specified model ID."}"#,
                ErrorKind::Permission,
            ),
            (
                403,
                r#"{"message":"The security token included in the request is invalid."}"#,
                ErrorKind::Authentication,
            ),
            (
                404,
                r#"{"message":"Could not resolve the foundation model"}"#,
                ErrorKind::NotFound,
            ),
            (
                408,
                r#"{"message":"Model has timed out"}"#,
                ErrorKind::Timeout,
            ),
            (424, r#"{"message":"Model error"}"#, ErrorKind::BadGateway),
            (
                429,
                r#"{"message":"Too many requests, please wait before trying again."}"#,
                ErrorKind::RateLimit,
            ),
            (500, r#"{"Message":"Internal"}"#, ErrorKind::ApiError),
            (
                503,
                r#"{"message":"Bedrock is unable to process your request."}"#,
                ErrorKind::Overloaded,
            ),
            (
                400,
                r#"{"__type":"com.amazon#ThrottlingException","message":"x"}"#,
                ErrorKind::RateLimit,
            ),
        ] {
            let e = decode_error(status, body.as_bytes());
            assert_eq!((e.kind, e.status), (kind, status), "{body}");
            assert!(!e.message.is_empty());
        }
        let e = decode_error(502, b"<html>Bad Gateway</html>");
        assert_eq!(e.kind, ErrorKind::BadGateway);
        assert!(e.message.contains("502") && e.message.contains("Bad Gateway"));
        assert!(decode_error(500, b"").message.contains("empty body"));
    }

    #[test]
    fn exception_names() {
        assert_eq!(
            error_kind("throttlingException"),
            Some(ErrorKind::RateLimit)
        );
        assert_eq!(
            error_kind("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            Some(ErrorKind::InvalidRequest)
        );
        assert_eq!(error_kind("nope"), None);
        assert_eq!(error_kind(""), None);
    }

    #[test]
    fn stop_reasons() {
        for s in [
            "end_turn",
            "tool_use",
            "max_tokens",
            "stop_sequence",
            "content_filtered",
            "model_context_window_exceeded",
            "malformed_model_output",
        ] {
            assert_eq!(stop_reason_to(stop_reason_from(s)), s);
        }
        assert_eq!(
            stop_reason_from("guardrail_intervened"),
            StopReason::ContentFilter
        );
    }

    #[test]
    fn segments() {
        let id = "arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        let enc = encode_segment(id);
        assert_eq!(
            enc,
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
        );
        assert_eq!(decode_segment(&enc), id);
        assert_eq!(decode_segment("a%zz%"), "a%zz%");
        assert_eq!(decode_segment("%FF"), "%FF");
    }

    #[test]
    fn models_list() {
        let v: Value =
            serde_json::from_slice(&encode_models(&["anthropic.claude-v2".into()])).unwrap();
        assert_eq!(v["modelSummaries"][0]["modelId"], "anthropic.claude-v2");
        assert_eq!(v["modelSummaries"][0]["providerName"], "anthropic");
    }
}
