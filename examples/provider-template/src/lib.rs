//! A provider for a made-up JSON dialect, "simplechat", as a starting point.
//!
//! Request:  `{"model": "m", "prompt": "Hello", "max_tokens": 100}` → `POST /v1/complete`
//! Response: `{"id": "c1", "model": "m", "text": "Hi", "input_tokens": 3, "output_tokens": 1}`
//! Error:    `{"error": "message"}`
//!
//! Streaming is not supported: the SDK's `Unsupported*` resources answer with clear errors.

use serde_json::{json, Value};
use tollgate_sdk::provider::{
    ApiError, AuthScheme, ChatRequest, ChatResponse, ContentBlock, Dialect, Guest, Header,
    HttpResponse, Operation, ProviderInfo, RequestEdits, RequestSummary, ResponseSummary, Role,
    Route, Sampling, StopReason, TargetInfo, TextBlock, TextPart, UnsupportedStreamDecoder,
    UnsupportedStreamEncoder, UpstreamRequest, Usage,
};

/// Parse a body as a JSON object.
fn object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(ApiError::invalid_request("body: expected a JSON object")),
        Err(e) => Err(ApiError::invalid_request(format!("body is not JSON: {e}"))),
    }
}

fn field<'a>(o: &'a serde_json::Map<String, Value>, key: &str) -> Result<&'a str, ApiError> {
    o.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_request(format!("{key}: expected string")))
}

fn text(s: &str) -> TextBlock {
    TextBlock {
        text: s.to_string(),
        cache_control: None,
        citations: None,
        extra: None,
    }
}

struct SimpleChat;

impl Guest for SimpleChat {
    type StreamEncoder = UnsupportedStreamEncoder;
    type StreamDecoder = UnsupportedStreamDecoder;

    fn describe() -> ProviderInfo {
        ProviderInfo {
            id: "simplechat".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            dialect: Dialect::Other,
            auth: AuthScheme::Bearer,
            default_base_url: "http://127.0.0.1:9000".to_string(),
            routes: vec![Route::new("POST", "/v1/complete", Operation::Chat)],
            passthrough_headers: vec![],
        }
    }

    // ----- front door (clients speaking simplechat) -----

    fn summarize(
        op: Operation,
        body: Vec<u8>,
        want_text: bool,
    ) -> Result<RequestSummary, ApiError> {
        let o = object(&body)?;
        let mut text_parts = Vec::new();
        if want_text {
            // One text part: the prompt. `edit` uses the same index (0).
            text_parts.push(TextPart {
                role: Role::User,
                message_index: 0,
                block_index: 0,
                system: false,
                text: field(&o, "prompt")?.to_string(),
            });
        }
        Ok(RequestSummary {
            operation: op,
            model: field(&o, "model")?.to_string(),
            stream: false,
            max_tokens: o
                .get("max_tokens")
                .and_then(Value::as_u64)
                .map(|n| n as u32),
            text_parts,
        })
    }

    fn edit(_op: Operation, body: Vec<u8>, edits: RequestEdits) -> Result<Vec<u8>, ApiError> {
        let mut o = object(&body)?;
        if let Some(m) = edits.model {
            o.insert("model".into(), json!(m));
        }
        for (index, new_text) in edits.texts {
            if index != 0 {
                return Err(ApiError::invalid_request(format!("no text part {index}")));
            }
            o.insert("prompt".into(), json!(new_text));
        }
        Ok(Value::Object(o).to_string().into_bytes())
    }

    fn decode_request(
        _op: Operation,
        body: Vec<u8>,
        path_model: Option<String>,
        _stream: bool,
    ) -> Result<ChatRequest, ApiError> {
        let o = object(&body)?;
        let model = match path_model {
            Some(m) => m,
            None => field(&o, "model")?.to_string(),
        };
        Ok(ChatRequest {
            model,
            system: vec![],
            messages: vec![tollgate_sdk::provider::Message {
                role: Role::User,
                content: vec![ContentBlock::Text(text(field(&o, "prompt")?))],
                name: None,
                extra: None,
            }],
            tools: vec![],
            tool_choice: None,
            parallel_tool_calls: None,
            sampling: Sampling {
                max_tokens: o
                    .get("max_tokens")
                    .and_then(Value::as_u64)
                    .map(|n| n as u32),
                temperature: None,
                top_p: None,
                top_k: None,
                stop: vec![],
                seed: None,
                presence_penalty: None,
                frequency_penalty: None,
                candidates: None,
            },
            thinking: None,
            response_format: None,
            stream: false,
            stream_include_usage: false,
            user: None,
            metadata: None,
            extra: None,
        })
    }

    fn encode_response(op: Operation, r: ChatResponse) -> Result<Vec<u8>, ApiError> {
        if op != Operation::Chat {
            return Err(ApiError::unsupported("counting tokens"));
        }
        let text: String = r
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect();
        Ok(json!({
            "id": r.id, "model": r.model, "text": text,
            "input_tokens": r.usage.input_tokens.unwrap_or(0),
            "output_tokens": r.usage.output_tokens.unwrap_or(0),
        })
        .to_string()
        .into_bytes())
    }

    fn encode_error(error: ApiError) -> HttpResponse {
        HttpResponse {
            status: error.status,
            headers: vec![Header::new("content-type", "application/json")],
            body: json!({ "error": error.message }).to_string().into_bytes(),
        }
    }

    fn encode_models(models: Vec<String>) -> Vec<u8> {
        json!({ "models": models }).to_string().into_bytes()
    }

    // ----- upstream (calling a simplechat server) -----

    fn encode_request(
        op: Operation,
        r: ChatRequest,
        target: TargetInfo,
    ) -> Result<UpstreamRequest, ApiError> {
        if op != Operation::Chat || r.stream {
            return Err(ApiError::unsupported("this operation or streaming"));
        }
        // Flatten the conversation into one prompt.
        let mut prompt = String::new();
        for block in r.system.iter().chain(r.messages.iter().flat_map(|m| {
            m.content.iter().filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t),
                _ => None,
            })
        })) {
            if !prompt.is_empty() {
                prompt.push('\n');
            }
            prompt.push_str(&block.text);
        }
        let mut body = json!({ "model": target.model, "prompt": prompt });
        if let Some(n) = r.sampling.max_tokens {
            body["max_tokens"] = json!(n);
        }
        Ok(UpstreamRequest {
            method: "POST".to_string(),
            path: "/v1/complete".to_string(),
            headers: vec![Header::new("content-type", "application/json")],
            body: body.to_string().into_bytes(),
            stream: false,
        })
    }

    fn decode_response(_op: Operation, body: Vec<u8>) -> Result<ChatResponse, ApiError> {
        let o = object(&body).map_err(|e| ApiError::bad_gateway(e.message))?;
        let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let mut usage = Usage::empty();
        usage.input_tokens = o.get("input_tokens").and_then(Value::as_u64);
        usage.output_tokens = o.get("output_tokens").and_then(Value::as_u64);
        Ok(ChatResponse {
            id: s("id"),
            model: s("model"),
            content: vec![ContentBlock::Text(text(&s("text")))],
            stop_reason: Some(StopReason::EndTurn),
            stop_sequence: None,
            usage,
            extra: None,
        })
    }

    fn summarize_response(op: Operation, body: Vec<u8>) -> Result<ResponseSummary, ApiError> {
        let r = Self::decode_response(op, body)?;
        Ok(ResponseSummary {
            id: Some(r.id),
            model: Some(r.model),
            usage: r.usage,
            stop_reason: Some("end_turn".to_string()),
            blocks: 1,
        })
    }

    fn decode_error(status: u16, body: Vec<u8>) -> ApiError {
        let message = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| format!("upstream returned HTTP {status}"));
        let kind = tollgate_sdk::provider::ErrorKind::from_status(status);
        ApiError::new(kind, message).with_status(status)
    }
}

tollgate_sdk::export_provider!(SimpleChat);
