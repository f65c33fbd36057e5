//! `openai` provider plugin: OpenAI Chat Completions, as a front door (the OpenAI SDKs
//! and everything built on them) and as an upstream (api.openai.com).
//!
//! All of the dialect lives in the `openai-chat` crate ([`Flavor::OpenAi`]); this file
//! only describes the plugin and wires it to the `provider` world. Target options are
//! the quirks of [`openai_chat::options`] (defaults: `max_completion_tokens`,
//! `developer` role kept, `reasoning_effort`, usage asked on streams).

use openai_chat::{passthrough, stream, translate, wire, Flavor, OpenAiFlavor};
use tollgate_sdk::provider::{
    ApiError, AuthScheme, ChatRequest, ChatResponse, Dialect, Guest, HttpResponse, Operation,
    ProviderInfo, RequestEdits, RequestSummary, ResponseSummary, Route, TargetInfo,
    UpstreamRequest,
};

const FLAVOR: Flavor = Flavor::OpenAi;

/// The plugin's static description.
pub fn info() -> ProviderInfo {
    ProviderInfo {
        id: "openai".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        dialect: Dialect::OpenaiChat,
        auth: AuthScheme::Bearer,
        default_base_url: "https://api.openai.com".to_string(),
        routes: vec![
            Route::new("POST", "/v1/chat/completions", Operation::Chat),
            Route::new("GET", "/v1/models", Operation::ListModels),
        ],
        passthrough_headers: vec![
            "openai-organization".to_string(),
            "openai-project".to_string(),
        ],
    }
}

struct OpenAi;

impl Guest for OpenAi {
    type StreamEncoder = stream::Encoder<OpenAiFlavor>;
    type StreamDecoder = stream::Decoder;

    fn describe() -> ProviderInfo {
        info()
    }

    fn summarize(
        op: Operation,
        body: Vec<u8>,
        want_text: bool,
    ) -> Result<RequestSummary, ApiError> {
        passthrough::summarize(FLAVOR, op, &body, want_text)
    }

    fn edit(op: Operation, body: Vec<u8>, edits: RequestEdits) -> Result<Vec<u8>, ApiError> {
        passthrough::edit(FLAVOR, op, body, &edits)
    }

    fn decode_request(
        op: Operation,
        body: Vec<u8>,
        path_model: Option<String>,
        stream: bool,
    ) -> Result<ChatRequest, ApiError> {
        translate::decode_request(FLAVOR, op, &body, path_model, stream)
    }

    fn encode_response(op: Operation, response: ChatResponse) -> Result<Vec<u8>, ApiError> {
        if op != Operation::Chat {
            return Err(ApiError::unsupported("counting tokens"));
        }
        translate::encode_response(FLAVOR, &response)
    }

    fn encode_error(error: ApiError) -> HttpResponse {
        wire::encode_error(&error)
    }

    fn encode_models(models: Vec<String>) -> Vec<u8> {
        wire::encode_models(&models)
    }

    fn encode_request(
        op: Operation,
        request: ChatRequest,
        target: TargetInfo,
    ) -> Result<UpstreamRequest, ApiError> {
        translate::encode_request(FLAVOR, op, &request, &target)
    }

    fn decode_response(op: Operation, body: Vec<u8>) -> Result<ChatResponse, ApiError> {
        translate::decode_response(op, &body)
    }

    fn summarize_response(op: Operation, body: Vec<u8>) -> Result<ResponseSummary, ApiError> {
        passthrough::summarize_response(op, &body)
    }

    fn decode_error(status: u16, body: Vec<u8>) -> ApiError {
        wire::decode_error(status, &body)
    }
}

tollgate_sdk::export_provider!(OpenAi);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::{json, Value};
    use tollgate_sdk::provider::{GuestStreamEncoder, StopReason, StreamEvent, StreamFinish};

    #[test]
    fn describes_itself() {
        let i = info();
        assert_eq!(
            (i.id.as_str(), i.dialect, i.auth.clone()),
            ("openai", Dialect::OpenaiChat, AuthScheme::Bearer)
        );
        assert_eq!(i.default_base_url, "https://api.openai.com");
        let routes: Vec<(&str, &str, Operation)> = i
            .routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str(), r.operation))
            .collect();
        assert_eq!(
            routes,
            vec![
                ("POST", "/v1/chat/completions", Operation::Chat),
                ("GET", "/v1/models", Operation::ListModels)
            ]
        );
    }

    #[test]
    fn upstream_request_uses_openai_defaults() {
        let r = <OpenAi as Guest>::decode_request(
            Operation::Chat,
            br#"{"model":"gpt-5","stream":true,"max_tokens":50,"messages":[{"role":"developer","content":"d"},{"role":"user","content":"hi"}]}"#.to_vec(),
            None,
            false,
        )
        .unwrap();
        let up = <OpenAi as Guest>::encode_request(
            Operation::Chat,
            r,
            TargetInfo {
                model: "gpt-5-mini".into(),
                options: "{}".into(),
            },
        )
        .unwrap();
        assert_eq!(
            (up.method.as_str(), up.path.as_str(), up.stream),
            ("POST", "/v1/chat/completions", true)
        );
        let v: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            v,
            json!({"model": "gpt-5-mini", "messages": [{"role": "developer", "content": "d"}, {"role": "user", "content": "hi"}],
                "max_completion_tokens": 50, "stream": true, "stream_options": {"include_usage": true}})
        );
    }

    #[test]
    fn stream_encoder_resource() {
        let e = <stream::Encoder<OpenAiFlavor> as GuestStreamEncoder>::new(
            "gpt-x".into(),
            String::new(),
            false,
        );
        assert_eq!(e.content_type(), "text/event-stream");
        let b = e
            .encode(vec![StreamEvent::Finish(StreamFinish {
                stop_reason: StopReason::MaxTokens,
                stop_sequence: None,
            })])
            .unwrap();
        assert!(b.is_empty());
        let end = String::from_utf8(e.finish()).unwrap();
        assert!(end.contains("\"finish_reason\":\"length\""), "{end}");
        assert!(end.ends_with("data: [DONE]\n\n"));
    }
}
