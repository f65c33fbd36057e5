//! `azure-openai` provider plugin: Azure OpenAI's Chat Completions, as a front door
//! (the Azure OpenAI SDKs) and as an upstream.
//!
//! The dialect lives in the `openai-chat` crate ([`Flavor::Azure`]); this file adds
//! Azure's addressing:
//!
//! - Upstream: `POST /openai/deployments/{deployment}/chat/completions?api-version=V`,
//!   where `deployment` is the target option `deployment` or else the target model and
//!   `V` the option `api_version` (default [`DEFAULT_API_VERSION`]). With the option
//!   `"v1": true`, `POST /openai/v1/chat/completions` with the deployment as `model`.
//!   The key goes in the `api-key` header. Other options are the quirks of
//!   [`openai_chat::options`] (defaults: `max_completion_tokens`, `developer` sent as
//!   `system`, usage asked on streams).
//! - Front door: `/openai/deployments/{deployment}/chat/completions` (the deployment
//!   is the model; bodies may omit `model`) and `/openai/v1/chat/completions`, plus
//!   the models lists `/openai/models` and `/openai/v1/models`.

use openai_chat::options::Quirks;
use openai_chat::{passthrough, stream, translate, wire, AzureFlavor, Flavor};
use serde_json::Value;
use tollgate_sdk::json::type_name;
use tollgate_sdk::provider::{
    ApiError, AuthScheme, ChatRequest, ChatResponse, Dialect, Guest, HttpResponse, Operation,
    ProviderInfo, RequestEdits, RequestSummary, ResponseSummary, Route, TargetInfo,
    UpstreamRequest,
};

const FLAVOR: Flavor = Flavor::Azure;

/// The `api-version` used when a target sets none.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// Options this plugin reads besides the shared quirks.
const OWN_KEYS: &[&str] = &["deployment", "api_version", "v1"];

/// The plugin's static description.
pub fn info() -> ProviderInfo {
    ProviderInfo {
        id: "azure-openai".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        dialect: Dialect::OpenaiChat,
        auth: AuthScheme::Header("api-key".to_string()),
        default_base_url: String::new(),
        routes: vec![
            Route {
                model_param: Some("deployment".to_string()),
                ..Route::new(
                    "POST",
                    "/openai/deployments/{deployment}/chat/completions",
                    Operation::Chat,
                )
            },
            Route::new("POST", "/openai/v1/chat/completions", Operation::Chat),
            Route::new("GET", "/openai/models", Operation::ListModels),
            Route::new("GET", "/openai/v1/models", Operation::ListModels),
        ],
        passthrough_headers: Vec::new(),
    }
}

/// Percent-encode a path segment or query value (RFC 3986 unreserved kept).
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Build the upstream request (see the module docs for the paths).
pub fn encode_request(
    op: Operation,
    r: &ChatRequest,
    target: &TargetInfo,
) -> Result<UpstreamRequest, ApiError> {
    let (q, own) = Quirks::parse(FLAVOR, &target.options, OWN_KEYS)?;
    let bad = |msg: String| ApiError::internal(format!("azure-openai target options: {msg}"));
    let string = |k: &str| -> Result<Option<String>, ApiError> {
        match own.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(v) => Err(bad(format!(
                "`{k}`: expected a non-empty string, got {}",
                type_name(v)
            ))),
        }
    };
    let v1 = match own.get("v1") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(bad(format!(
                "`v1`: expected a boolean, got {}",
                type_name(v)
            )))
        }
    };
    let api_version = string("api_version")?.unwrap_or_else(|| DEFAULT_API_VERSION.to_string());
    let model = if target.model.is_empty() {
        r.model.clone()
    } else {
        target.model.clone()
    };
    let deployment = string("deployment")?.unwrap_or(model);
    if deployment.is_empty() && op == Operation::Chat {
        return Err(bad(
            "no deployment: set the target's `deployment` option or its model".to_string(),
        ));
    }
    let (chat, models) = if v1 {
        (
            "/openai/v1/chat/completions".to_string(),
            "/openai/v1/models".to_string(),
        )
    } else {
        let v = encode_component(&api_version);
        (
            format!(
                "/openai/deployments/{}/chat/completions?api-version={v}",
                encode_component(&deployment)
            ),
            format!("/openai/models?api-version={v}"),
        )
    };
    translate::upstream_request(op, r, &deployment, &q, &chat, &models)
}

struct Azure;

impl Guest for Azure {
    type StreamEncoder = stream::Encoder<AzureFlavor>;
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
        encode_request(op, &request, &target)
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

tollgate_sdk::export_provider!(Azure);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use tollgate_sdk::provider::{ErrorKind, GuestStreamDecoder, StreamEvent};

    fn request(body: &str, path_model: Option<&str>) -> ChatRequest {
        <Azure as Guest>::decode_request(
            Operation::Chat,
            body.as_bytes().to_vec(),
            path_model.map(str::to_string),
            false,
        )
        .unwrap()
    }

    fn target(model: &str, options: &str) -> TargetInfo {
        TargetInfo {
            model: model.into(),
            options: options.into(),
        }
    }

    #[test]
    fn describes_itself() {
        let i = info();
        assert_eq!(
            (i.id.as_str(), i.auth.clone(), i.default_base_url.as_str()),
            ("azure-openai", AuthScheme::Header("api-key".into()), "")
        );
        assert_eq!(i.routes[0].model_param.as_deref(), Some("deployment"));
        assert_eq!(
            i.routes[0].path,
            "/openai/deployments/{deployment}/chat/completions"
        );
        assert_eq!(i.routes[1].path, "/openai/v1/chat/completions");
    }

    #[test]
    fn deployment_paths() {
        let r = request(
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            Some("gpt4o-prod"),
        );
        assert_eq!(r.model, "gpt4o-prod");
        let up = encode_request(Operation::Chat, &r, &target("gpt-4o", "{}")).unwrap();
        assert_eq!(
            up.path,
            "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
        );
        let up = encode_request(
            Operation::Chat,
            &r,
            &target(
                "gpt-4o",
                r#"{"deployment":"my dep","api_version":"2025-04-01-preview"}"#,
            ),
        )
        .unwrap();
        assert_eq!(
            up.path,
            "/openai/deployments/my%20dep/chat/completions?api-version=2025-04-01-preview"
        );
        let v: serde_json::Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(v["model"], "my dep");
        let up = encode_request(Operation::Chat, &r, &target("gpt-4o", r#"{"v1":true}"#)).unwrap();
        assert_eq!(up.path, "/openai/v1/chat/completions");
        let v: serde_json::Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            v,
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        );
        let models = encode_request(Operation::ListModels, &r, &target("", "{}")).unwrap();
        assert_eq!(
            (models.method.as_str(), models.path.as_str()),
            ("GET", "/openai/models?api-version=2024-10-21")
        );
    }

    #[test]
    fn options_are_checked() {
        let r = request(r#"{"model":"m","messages":[]}"#, None);
        for (opts, want) in [
            (r#"{"v1":"yes"}"#, "`v1`: expected a boolean"),
            (
                r#"{"deployment":7}"#,
                "`deployment`: expected a non-empty string",
            ),
            (r#"{"apiversion":"x"}"#, "unknown option `apiversion`"),
            (r#"{"api_prefix":"/x"}"#, "unknown option `api_prefix`"),
        ] {
            let e = encode_request(Operation::Chat, &r, &target("m", opts)).unwrap_err();
            assert!(e.message.contains(want), "{opts}: {}", e.message);
        }
    }

    #[test]
    fn azure_stream_quirks() {
        // Azure opens with a prompt-filter chunk (no id, no choices) and reports
        // content filtering per choice.
        let d = <stream::Decoder as GuestStreamDecoder>::new(false);
        let mut evs = d
            .feed(br#"data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}

data: {"choices":[{"content_filter_results":{},"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"created":1,"id":"chatcmpl-1","model":"gpt-4o","object":"chat.completion.chunk"}

data: {"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"content_filter","index":0}],"created":1,"id":"chatcmpl-1","model":"gpt-4o","object":"chat.completion.chunk"}

data: [DONE]

"#.to_vec())
            .unwrap();
        evs.extend(d.finish().unwrap());
        assert!(
            matches!(&evs[0], StreamEvent::Start(s) if s.id == "chatcmpl-1" && s.model == "gpt-4o")
        );
        assert!(
            matches!(&evs[1], StreamEvent::Finish(f) if f.stop_reason == tollgate_sdk::provider::StopReason::ContentFilter)
        );
        let e = <Azure as Guest>::decode_error(
            400,
            br#"{"error":{"message":"The response was filtered","type":null,"param":"prompt","code":"content_filter","status":400}}"#.to_vec(),
        );
        assert_eq!(e.kind, ErrorKind::Policy);
    }
}
