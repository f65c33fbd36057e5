//! `gemini` provider plugin: the Google Gemini `generateContent` dialect, as a front door
//! (Gemini CLI, the google-genai SDKs) and as an upstream
//! (generativelanguage.googleapis.com).
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

/// A route whose path names the model (`{model}`).
fn model_route(path: String, operation: Operation, streaming: bool) -> Route {
    Route {
        method: "POST".to_string(),
        path,
        operation,
        model_param: Some("model".to_string()),
        streaming,
    }
}

/// The plugin's static description.
pub fn info() -> ProviderInfo {
    let mut routes = Vec::new();
    for ver in ["/v1beta", "/v1"] {
        routes.push(model_route(
            format!("{ver}/models/{{model}}:generateContent"),
            Operation::Chat,
            false,
        ));
        routes.push(model_route(
            format!("{ver}/models/{{model}}:streamGenerateContent"),
            Operation::Chat,
            true,
        ));
        routes.push(model_route(
            format!("{ver}/models/{{model}}:countTokens"),
            Operation::CountTokens,
            false,
        ));
        routes.push(Route::new(
            "GET",
            &format!("{ver}/models"),
            Operation::ListModels,
        ));
    }
    ProviderInfo {
        id: "gemini".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        dialect: Dialect::Gemini,
        auth: AuthScheme::Header("x-goog-api-key".to_string()),
        default_base_url: "https://generativelanguage.googleapis.com".to_string(),
        routes,
        passthrough_headers: Vec::new(),
    }
}

struct Gemini;

impl Guest for Gemini {
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
            // The answer of Gemini `countTokens`.
            Operation::CountTokens => {
                let n = response.usage.input_tokens.unwrap_or(0);
                Ok(format!(r#"{{"totalTokens":{n}}}"#).into_bytes())
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

tollgate_sdk::export_provider!(Gemini);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_both_api_versions() {
        let i = info();
        assert_eq!((i.id.as_str(), i.dialect), ("gemini", Dialect::Gemini));
        assert_eq!(i.auth, AuthScheme::Header("x-goog-api-key".to_string()));
        assert_eq!(i.routes.len(), 8);
        let stream = i
            .routes
            .iter()
            .find(|r| r.path == "/v1beta/models/{model}:streamGenerateContent")
            .map(|r| (r.streaming, r.model_param.clone(), r.operation));
        assert_eq!(
            stream,
            Some((true, Some("model".to_string()), Operation::Chat))
        );
        assert!(i
            .routes
            .iter()
            .any(|r| r.path == "/v1/models" && r.method == "GET" && r.model_param.is_none()));
    }
}
