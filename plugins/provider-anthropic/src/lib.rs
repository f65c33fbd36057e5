//! `anthropic` provider plugin: the Anthropic Messages dialect, as a front door (Claude
//! Code, the Anthropic SDKs) and as an upstream (api.anthropic.com).
//!
//! The pure logic lives in the modules below and is tested natively
//! (`cargo test --target x86_64-unknown-linux-gnu` in `plugins/`); this file only wires
//! it to the `provider` world.

pub mod passthrough;
pub mod stream;
pub mod translate;
pub mod wire;

use tollgate_sdk::provider::{
    ApiError, AuthScheme, ChatRequest, ChatResponse, Dialect, Guest, HttpResponse, Operation,
    ProviderInfo, RequestEdits, RequestSummary, ResponseSummary, Route, TargetInfo,
    UpstreamRequest,
};

/// The plugin's static description.
pub fn info() -> ProviderInfo {
    ProviderInfo {
        id: "anthropic".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        dialect: Dialect::Anthropic,
        auth: AuthScheme::Header("x-api-key".to_string()),
        default_base_url: "https://api.anthropic.com".to_string(),
        routes: vec![
            Route::new("POST", "/v1/messages", Operation::Chat),
            Route::new("POST", "/v1/messages/count_tokens", Operation::CountTokens),
            Route::new("GET", "/v1/models", Operation::ListModels),
        ],
        passthrough_headers: vec![
            "anthropic-version".to_string(),
            "anthropic-beta".to_string(),
        ],
    }
}

struct Anthropic;

impl Guest for Anthropic {
    type StreamEncoder = stream::Encoder;
    type StreamDecoder = stream::Decoder;

    fn describe() -> ProviderInfo {
        info()
    }

    fn summarize(
        op: Operation,
        body: Vec<u8>,
        want_text: bool,
    ) -> Result<RequestSummary, ApiError> {
        passthrough::summarize(op, &body, want_text)
    }

    fn edit(op: Operation, body: Vec<u8>, edits: RequestEdits) -> Result<Vec<u8>, ApiError> {
        passthrough::edit(op, body, &edits)
    }

    fn decode_request(
        op: Operation,
        body: Vec<u8>,
        path_model: Option<String>,
        stream: bool,
    ) -> Result<ChatRequest, ApiError> {
        translate::decode_request(op, &body, path_model, stream)
    }

    fn encode_response(op: Operation, response: ChatResponse) -> Result<Vec<u8>, ApiError> {
        match op {
            Operation::Chat => translate::encode_response(&response),
            // The answer of Anthropic `/v1/messages/count_tokens`.
            Operation::CountTokens => {
                let n = response.usage.input_tokens.unwrap_or(0);
                Ok(format!(r#"{{"input_tokens":{n}}}"#).into_bytes())
            }
            Operation::ListModels => {
                Err(ApiError::unsupported("encoding a model list as a response"))
            }
        }
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
        translate::encode_request(op, &request, &target)
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

tollgate_sdk::export_provider!(Anthropic);
