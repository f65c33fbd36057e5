//! `openai-compatible` provider plugin: the Chat Completions dialect as spoken by
//! OpenAI-compatible servers (vLLM, Ollama, OpenRouter, Groq, Together, Mistral,
//! LM Studio, llama.cpp, DeepSeek, …), as a front door and as an upstream.
//!
//! There is no default base URL: a target names its server, e.g.
//! `http://localhost:8000` (vLLM), `http://localhost:11434` (Ollama),
//! `https://openrouter.ai/api`, `https://api.groq.com/openai`. Requests go to
//! `{base_url}{api_prefix}/chat/completions` (`api_prefix` defaults to `/v1`).
//!
//! Per-target quirks come from the target's `options` (see [`openai_chat::options`]),
//! e.g. `{"max_tokens_field": "max_tokens", "stream_usage": false,
//! "developer_role": false, "reasoning": "reasoning_effort" | "reasoning_object" |
//! "none", "top_k": true, "drop": ["parallel_tool_calls"], "extra_body": {…}}`.
//! Unknown keys are errors. Typical settings:
//!
//! | server | options |
//! |---|---|
//! | vLLM | `{"top_k": true}` (add `"extra_body": {"chat_template_kwargs": {"enable_thinking": false}}` to switch Qwen3 thinking off) |
//! | Ollama | defaults |
//! | OpenRouter | `{"reasoning": "reasoning_object", "cache_control": true, "top_k": true}` |
//! | Groq | `{"drop": ["metadata"]}` |
//! | Mistral | `{"stream_usage": false, "reasoning": "none", "drop": ["metadata", "user"]}` |
//! | LM Studio | `{"top_k": true}` |
//! | Gemini (compat API) | `{"api_prefix": "/v1beta/openai", "drop": ["metadata", "user"]}` |
//!
//! Decoding accepts thinking as `reasoning_content` (vLLM, DeepSeek, LM Studio) or
//! `reasoning` (OpenRouter, Ollama, Groq) and answers clients with
//! `reasoning_content`.

use openai_chat::{passthrough, stream, translate, wire, CompatibleFlavor, Flavor};
use tollgate_sdk::provider::{
    ApiError, AuthScheme, ChatRequest, ChatResponse, Dialect, Guest, HttpResponse, Operation,
    ProviderInfo, RequestEdits, RequestSummary, ResponseSummary, Route, TargetInfo,
    UpstreamRequest,
};

const FLAVOR: Flavor = Flavor::Compatible;

/// The plugin's static description.
pub fn info() -> ProviderInfo {
    ProviderInfo {
        id: "openai-compatible".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        dialect: Dialect::OpenaiChat,
        auth: AuthScheme::Bearer,
        default_base_url: String::new(),
        routes: vec![
            Route::new("POST", "/v1/chat/completions", Operation::Chat),
            Route::new("GET", "/v1/models", Operation::ListModels),
        ],
        passthrough_headers: Vec::new(),
    }
}

struct Compatible;

impl Guest for Compatible {
    type StreamEncoder = stream::Encoder<CompatibleFlavor>;
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

tollgate_sdk::export_provider!(Compatible);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::{json, Value};
    use tollgate_sdk::provider::{
        ContentBlock, GuestStreamDecoder, GuestStreamEncoder, StreamEvent, TextBlock,
        ThinkingBlock, Usage,
    };

    const REQUEST: &str = r#"{"model":"client-model","stream":true,"max_completion_tokens":64,"top_k":20,
        "reasoning_effort":"high","parallel_tool_calls":false,
        "messages":[{"role":"developer","content":"rules"},{"role":"user","content":"hi"}],
        "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}"#;

    fn encode(options: &str) -> Result<Value, ApiError> {
        let r = <Compatible as Guest>::decode_request(
            Operation::Chat,
            REQUEST.as_bytes().to_vec(),
            None,
            false,
        )
        .unwrap();
        let up = <Compatible as Guest>::encode_request(
            Operation::Chat,
            r,
            TargetInfo {
                model: "qwen3".into(),
                options: options.into(),
            },
        )?;
        assert_eq!(up.method, "POST");
        let mut v: Value = serde_json::from_slice(&up.body).unwrap();
        v.as_object_mut()
            .unwrap()
            .insert("_path".into(), json!(up.path));
        Ok(v)
    }

    #[test]
    fn describes_itself() {
        let i = info();
        assert_eq!(
            (
                i.id.as_str(),
                i.dialect,
                i.auth.clone(),
                i.default_base_url.as_str()
            ),
            (
                "openai-compatible",
                Dialect::OpenaiChat,
                AuthScheme::Bearer,
                ""
            )
        );
        assert_eq!(i.routes.len(), 2);
    }

    #[test]
    fn defaults_suit_vllm_and_ollama() {
        let v = encode("{}").unwrap();
        assert_eq!(
            v,
            json!({"model": "qwen3",
                "messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
                "parallel_tool_calls": false, "max_tokens": 64, "reasoning_effort": "high",
                "stream": true, "stream_options": {"include_usage": true},
                "_path": "/v1/chat/completions"})
        );
    }

    #[test]
    fn quirks_change_the_body() {
        let v = encode(
            r#"{"max_tokens_field":"max_completion_tokens","stream_usage":false,"developer_role":true,
                "reasoning":"reasoning_object","top_k":true,"drop":["parallel_tool_calls"],
                "extra_body":{"chat_template_kwargs":{"enable_thinking":true}},"api_prefix":"/api/v1"}"#,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"model": "qwen3",
                "messages": [{"role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
                "max_completion_tokens": 64, "top_k": 20, "reasoning": {"effort": "high"},
                "stream": true, "chat_template_kwargs": {"enable_thinking": true},
                "_path": "/api/v1/chat/completions"})
        );
        let none = encode(r#"{"reasoning":"none"}"#).unwrap();
        assert!(none.get("reasoning_effort").is_none() && none.get("reasoning").is_none());
    }

    #[test]
    fn unknown_options_are_errors() {
        let e = encode(r#"{"max_token":1}"#).unwrap_err();
        assert!(
            e.message
                .contains("openai-compatible target options: unknown option `max_token`"),
            "{}",
            e.message
        );
        assert!(e.message.contains("api_prefix"), "{}", e.message);
    }

    #[test]
    fn thinking_reaches_clients_as_reasoning_content() {
        let resp = ChatResponse {
            id: "r1".into(),
            model: "m".into(),
            content: vec![
                ContentBlock::Thinking(ThinkingBlock {
                    text: "think".into(),
                    signature: Some("sig".into()),
                    extra: None,
                }),
                ContentBlock::Text(TextBlock {
                    text: "answer".into(),
                    cache_control: None,
                    citations: None,
                    extra: None,
                }),
            ],
            stop_reason: None,
            stop_sequence: None,
            usage: Usage::empty(),
            extra: None,
        };
        let v: Value = serde_json::from_slice(
            &<Compatible as Guest>::encode_response(Operation::Chat, resp).unwrap(),
        )
        .unwrap();
        assert_eq!(v["choices"][0]["message"]["reasoning_content"], "think");
        assert_eq!(v["choices"][0]["message"]["content"], "answer");

        // Decoder → encoder: `reasoning` deltas (Ollama) come out as `reasoning_content`.
        let d = <stream::Decoder as GuestStreamDecoder>::new(true);
        let mut evs = d
            .feed(br#"data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant","reasoning":"hm"}}]}

data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}

data: [DONE]

"#.to_vec())
            .unwrap();
        evs.extend(d.finish().unwrap());
        assert!(
            matches!(&evs[1], StreamEvent::BlockStart(b) if matches!(b.block, ContentBlock::Thinking(_)))
        );
        let e = <stream::Encoder<CompatibleFlavor> as GuestStreamEncoder>::new(
            String::new(),
            String::new(),
            false,
        );
        let mut out = e.encode(evs).unwrap();
        out.extend(e.finish());
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#""delta":{"reasoning_content":"hm"}"#),
            "{text}"
        );
        assert!(text.contains(r#""delta":{"content":"ok"}"#), "{text}");
    }
}
