//! `openai-responses` provider plugin: the OpenAI Responses dialect (`/v1/responses`),
//! as a front door (Codex CLI, the OpenAI SDKs' `responses` API, the Agents SDK) and as
//! an upstream (api.openai.com and Responses-compatible servers).
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
        id: "openai-responses".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        dialect: Dialect::OpenaiResponses,
        auth: AuthScheme::Bearer,
        default_base_url: "https://api.openai.com".to_string(),
        routes: vec![
            Route::new("POST", "/v1/responses", Operation::Chat),
            Route::new("POST", "/v1/responses/input_tokens", Operation::CountTokens),
            Route::new("GET", "/v1/models", Operation::ListModels),
        ],
        passthrough_headers: vec![
            "openai-organization".to_string(),
            "openai-project".to_string(),
            "openai-beta".to_string(),
        ],
    }
}

struct OpenAiResponses;

impl Guest for OpenAiResponses {
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
            // The answer of Responses `/v1/responses/input_tokens`.
            Operation::CountTokens => {
                let n = response.usage.input_tokens.unwrap_or(0);
                Ok(
                    format!(r#"{{"object":"response.input_tokens","input_tokens":{n}}}"#)
                        .into_bytes(),
                )
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

tollgate_sdk::export_provider!(OpenAiResponses);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_front_door() {
        let i = info();
        assert_eq!(i.id, "openai-responses");
        assert_eq!(i.dialect, Dialect::OpenaiResponses);
        assert_eq!(i.auth, AuthScheme::Bearer);
        assert_eq!(i.default_base_url, "https://api.openai.com");
        let routes: Vec<(&str, &str, Operation)> = i
            .routes
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str(), r.operation))
            .collect();
        assert_eq!(
            routes,
            vec![
                ("POST", "/v1/responses", Operation::Chat),
                ("POST", "/v1/responses/input_tokens", Operation::CountTokens),
                ("GET", "/v1/models", Operation::ListModels)
            ]
        );
    }
}
