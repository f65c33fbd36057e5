//! `bedrock` provider plugin: the Amazon Bedrock Converse dialect, as a front door (AWS
//! SDK clients calling `/model/{model}/converse` and `/converse-stream`) and as an
//! upstream (`bedrock-runtime.<region>.amazonaws.com`, signed by the host with SigV4).
//!
//! The pure logic lives in the modules below and is tested natively
//! (`cargo test --target x86_64-unknown-linux-gnu` in `plugins/`); this file only wires
//! it to the `provider` world.

pub mod eventstream;
pub mod passthrough;
pub mod stream;
pub mod translate;
pub mod wire;

use tollgate_sdk::provider::{
    ApiError, AuthScheme, ChatRequest, ChatResponse, Dialect, Guest, HttpResponse, Operation,
    ProviderInfo, RequestEdits, RequestSummary, ResponseSummary, Route, TargetInfo,
    UpstreamRequest,
};

/// The plugin's static description. There is no default base URL: a target names its
/// regional endpoint, e.g. `https://bedrock-runtime.us-east-1.amazonaws.com`.
pub fn info() -> ProviderInfo {
    let model_route = |path: &str, streaming: bool| Route {
        method: "POST".to_string(),
        path: path.to_string(),
        operation: Operation::Chat,
        model_param: Some("model".to_string()),
        streaming,
    };
    ProviderInfo {
        id: "bedrock".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        dialect: Dialect::Other,
        auth: AuthScheme::AwsSigv4("bedrock".to_string()),
        default_base_url: String::new(),
        routes: vec![
            model_route("/model/{model}/converse", false),
            model_route("/model/{model}/converse-stream", true),
        ],
        passthrough_headers: Vec::new(),
    }
}

struct Bedrock;

impl Guest for Bedrock {
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
            // The answer of Bedrock `CountTokens`.
            Operation::CountTokens => {
                let n = response.usage.input_tokens.unwrap_or(0);
                Ok(format!(r#"{{"inputTokens":{n}}}"#).into_bytes())
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

tollgate_sdk::export_provider!(Bedrock);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_itself() {
        let i = info();
        assert_eq!(i.id, "bedrock");
        assert_eq!(i.auth, AuthScheme::AwsSigv4("bedrock".into()));
        assert!(i.default_base_url.is_empty());
        assert_eq!(i.routes.len(), 2);
        assert!(i
            .routes
            .iter()
            .all(|r| r.model_param.as_deref() == Some("model")));
        assert!(i.routes[1].streaming && !i.routes[0].streaming);
    }
}
