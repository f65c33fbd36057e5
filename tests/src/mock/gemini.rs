//! The Gemini dialect: `POST /v1beta/models/{m}:generateContent`,
//! `:streamGenerateContent` (`?alt=sse` → `data: {chunk}\r\n\r\n`; without it a JSON
//! array sent piece by piece), `:countTokens`, `GET /v1beta/models[/{m}]` — the same
//! under `/v1/` — and Google's error shape (`{"error": {code, message, status}}`).

use std::collections::VecDeque;
use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use super::{
    garbage_json, json_response, new_id, split_words, sse_data, stream_response, stream_steps,
    Dialect, Fault, Frame, IssuedToolCall, OfferedTool, Script, Shared, Step, ToolKind, Turn,
};

const SSE: &str = "text/event-stream";
const JSON_STREAM: &str = "application/json; charset=UTF-8";

/// Gemini's models (id, display name).
const GEMINI_MODELS: &[(&str, &str)] = &[
    ("gemini-3-pro-preview", "Gemini 3 Pro Preview"),
    ("gemini-2.5-pro", "Gemini 2.5 Pro"),
    ("gemini-2.5-flash", "Gemini 2.5 Flash"),
    ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite"),
];

/// `(model, action)` of `/v1beta/models/{model}:{action}` or `/v1/models/{model}:{action}`.
pub fn parse_path(path: &str) -> Option<(&str, &str)> {
    let rest = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))?;
    let (model, action) = rest.rsplit_once(':')?;
    (!model.is_empty() && !action.is_empty()).then_some((model, action))
}

/// Whether a request carries a Gemini API key (`x-goog-api-key` or `?key=`).
pub fn has_key(headers: &HeaderMap, query: Option<&str>) -> bool {
    headers.contains_key("x-goog-api-key")
        || query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("key=")))
}

/// The Google RPC status name of an HTTP status.
pub fn status_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        json!({"error": {"code": status.as_u16(), "message": message, "status": status_name(status)}}),
    )
}

fn invalid(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, message)
}

/// A field by its camelCase or snake_case name (the REST API takes both).
fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake))
}

fn parts(content: &Value) -> &[Value] {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The text of a `functionResponse.response`: its `output` (Gemini CLI), `result` or
/// `content` when a string, else the whole object as JSON.
fn response_text(response: Option<&Value>) -> String {
    let Some(response) = response else {
        return String::new();
    };
    for key in ["output", "result", "content"] {
        if let Some(Value::String(s)) = response.get(key) {
            return s.trim().to_owned();
        }
    }
    match response {
        Value::String(s) => s.trim().to_owned(),
        other => other.to_string(),
    }
}

/// The script's view of a `generateContent` request.
pub(crate) fn read_turn(request: &Value) -> Turn {
    let contents: &[Value] = request
        .get("contents")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let tool_results = contents
        .last()
        .map(|last| {
            parts(last)
                .iter()
                .filter_map(|p| field(p, "functionResponse", "function_response"))
                .map(|r| {
                    let id = r
                        .get("id")
                        .or_else(|| r.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    (id, response_text(r.get("response")))
                })
                .collect()
        })
        .unwrap_or_default();
    let user_text = contents
        .iter()
        .rev()
        .filter(|c| c.get("role").and_then(Value::as_str).unwrap_or("user") == "user")
        .map(|c| {
            parts(c)
                .iter()
                .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let tools = request
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| field(t, "functionDeclarations", "function_declarations"))
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(|d| {
                    Some(OfferedTool {
                        name: d.get("name")?.as_str()?.to_owned(),
                        kind: ToolKind::Function,
                        parameters: field(d, "parametersJsonSchema", "parameters_json_schema")
                            .or_else(|| d.get("parameters"))
                            .cloned()
                            .unwrap_or(Value::Null),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let config = field(request, "generationConfig", "generation_config");
    let thinking = config
        .and_then(|c| field(c, "thinkingConfig", "thinking_config"))
        .and_then(|t| field(t, "includeThoughts", "include_thoughts"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let json_schema = config
        .filter(|c| {
            field(c, "responseMimeType", "response_mime_type").and_then(Value::as_str)
                == Some("application/json")
        })
        .map(|c| {
            field(c, "responseJsonSchema", "response_json_schema")
                .or_else(|| field(c, "responseSchema", "response_schema"))
                .cloned()
                .unwrap_or_else(|| json!({}))
        });
    Turn {
        user_text,
        tool_results,
        tools,
        thinking,
        json_schema,
    }
}

fn model_json((id, name): &(&str, &str)) -> Value {
    json!({
        "name": format!("models/{id}"),
        "version": "001",
        "displayName": name,
        "description": format!("{name}, served by the Tollgate mock upstream."),
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": true,
    })
}

pub(crate) async fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if let Some((model, action)) = parse_path(path) {
        if method != Method::POST {
            return error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("Method {method} not allowed for {path}"),
            );
        }
        return match action {
            "generateContent" => generate(shared, model, headers, body, None).await,
            "streamGenerateContent" => {
                let sse = query.is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
                generate(shared, model, headers, body, Some(sse)).await
            }
            "countTokens" => count_tokens(body),
            _ => error_response(
                StatusCode::NOT_FOUND,
                &format!("Method {action} is not supported by the mock."),
            ),
        };
    }
    let rest = path
        .strip_prefix("/v1beta/models")
        .or_else(|| path.strip_prefix("/v1/models"));
    match (method, rest) {
        (&Method::GET, Some("" | "/")) => {
            let models: Vec<Value> = GEMINI_MODELS.iter().map(model_json).collect();
            json_response(StatusCode::OK, json!({"models": models}))
        }
        (&Method::GET, Some(id)) => {
            let id = id.trim_start_matches('/');
            match GEMINI_MODELS.iter().find(|(m, _)| *m == id) {
                Some(m) => json_response(StatusCode::OK, model_json(m)),
                None => error_response(
                    StatusCode::NOT_FOUND,
                    &format!("models/{id} is not found for API version v1beta."),
                ),
            }
        }
        _ => error_response(StatusCode::NOT_FOUND, "Not found"),
    }
}

fn parse_request(body: &Bytes) -> Result<Value, Box<Response>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Box::new(invalid(
            "Invalid JSON payload received. Expected an object.",
        ))),
        Err(err) => Err(Box::new(invalid(&format!(
            "Invalid JSON payload received. {err}"
        )))),
    }
}

fn count_tokens(body: &Bytes) -> Response {
    let request = match parse_request(body) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    if request.get("contents").is_none()
        && field(
            &request,
            "generateContentRequest",
            "generate_content_request",
        )
        .is_none()
    {
        return invalid("* CountTokensRequest.contents: contents is not specified");
    }
    let n = (body.len() / 4).max(1);
    json_response(
        StatusCode::OK,
        json!({"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]}),
    )
}

fn usage(script: &Script, done: bool) -> Value {
    let prompt = script.input_tokens;
    let details = json!([{"modality": "TEXT", "tokenCount": prompt}]);
    if !done {
        return json!({"promptTokenCount": prompt, "totalTokenCount": prompt, "promptTokensDetails": details});
    }
    let thoughts = script.thinking_tokens();
    let candidates = script.output_tokens().saturating_sub(thoughts).max(1);
    let mut usage = json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "promptTokensDetails": details,
    });
    if thoughts > 0 {
        usage["thoughtsTokenCount"] = json!(thoughts);
    }
    script.merge_usage(usage)
}

/// `stream`: `None` for `generateContent`, `Some(sse)` for `streamGenerateContent`.
async fn generate(
    shared: &Shared,
    model: &str,
    headers: &HeaderMap,
    body: &Bytes,
    stream: Option<bool>,
) -> Response {
    let request = match parse_request(body) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    if request
        .get("contents")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return invalid("* GenerateContentRequest.contents: contents is not specified");
    }
    let fault = Fault::of(model);
    match fault {
        Some(Fault::Error(status)) => return error_response(status, &Fault::error_message(status)),
        Some(Fault::Garbage) => {
            return match stream {
                Some(sse) => stream_response(
                    VecDeque::from([
                        Step::Chunk(Bytes::from_static(if sse {
                            b"data: {this is not json\r\n\r\n"
                        } else {
                            b"[{this is not json\n,\r\n"
                        })),
                        Step::Chunk(Bytes::from_static(b"\x00\x01garbage without framing")),
                    ]),
                    if sse { SSE } else { JSON_STREAM },
                ),
                None => garbage_json(),
            }
        }
        Some(Fault::SlowFirstByte) => tokio::time::sleep(Duration::from_secs(2)).await,
        _ => {}
    }

    let script = Script::for_turn(&read_turn(&request), headers, body.len());
    let response_id = new_id("");
    // Each part in the order it is said, in pieces for streaming.
    let mut pieces: Vec<Value> = Vec::new();
    let mut whole: Vec<Value> = Vec::new();
    if let Some(thinking) = &script.thinking {
        whole.push(json!({"text": thinking, "thought": true}));
        pieces.extend(
            split_words(thinking, 3)
                .into_iter()
                .map(|t| json!({"text": t, "thought": true})),
        );
    }
    whole.push(json!({"text": script.text}));
    pieces.extend(
        split_words(&script.text, 2)
            .into_iter()
            .map(|t| json!({"text": t})),
    );
    if let Some(call) = &script.call {
        shared.issued(IssuedToolCall {
            dialect: Dialect::Gemini,
            id: None,
            name: call.name.clone(),
            input: call.input.clone(),
        });
        let part = json!({"functionCall": {"name": call.name, "args": call.input}});
        whole.push(part.clone());
        pieces.push(part);
    }
    let candidate = |parts: Vec<Value>, finish: bool| {
        let mut c = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if finish {
            c["finishReason"] = json!("STOP");
        }
        c
    };
    let chunk = |parts: Vec<Value>, finish: bool| {
        json!({
            "candidates": [candidate(parts, finish)],
            "usageMetadata": usage(&script, finish),
            "modelVersion": model,
            "responseId": response_id,
        })
    };

    let Some(sse) = stream else {
        return json_response(StatusCode::OK, chunk(whole, true));
    };
    let last = pieces.len().saturating_sub(1);
    let frames = pieces
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let data = chunk(vec![part], i == last);
            let bytes = if sse {
                sse_data(&data, "\r\n")
            } else {
                let json = serde_json::to_string(&data).unwrap_or_default();
                let mut out = String::new();
                out.push_str(if i == 0 { "[" } else { "\n,\r\n" });
                out.push_str(&json);
                if i == last {
                    out.push_str("\n]");
                }
                Bytes::from(out)
            };
            (bytes, Frame::Delta)
        })
        .collect();
    stream_response(
        stream_steps(frames, headers, fault),
        if sse { SSE } else { JSON_STREAM },
    )
}
