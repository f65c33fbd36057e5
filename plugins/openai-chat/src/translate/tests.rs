#![allow(clippy::unwrap_used)]

use super::*;
use provider_anthropic::translate as anthropic;
use serde_json::json;
use tollgate_sdk::provider::Usage;

/// One rich Chat Completions request: every feature the dialect has.
const RICH: &str = r#"{
  "model": "gpt-4o",
  "messages": [
    {"role": "system", "content": "You are helpful."},
    {"role": "developer", "content": "Answer in JSON.", "name": "dev"},
    {"role": "user", "name": "alice", "content": [
      {"type": "text", "text": "Look at these ✓."},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
      {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
      {"type": "file", "file": {"filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
      {"type": "file", "file": {"file_id": "file-abc123"}},
      {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    ]},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
      {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
      {"id": "call_3", "type": "custom", "custom": {"name": "apply_patch", "input": "*** Begin Patch"}}
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "12:00"}, {"type": "text", "text": "UTC"}]},
    {"role": "tool", "tool_call_id": "call_3", "content": "patched"},
    {"role": "assistant", "content": "It is 18C.", "refusal": "I won't say more."},
    {"role": "system", "content": "Mid-conversation note."},
    {"role": "user", "content": "Thanks"}
  ],
  "tools": [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "strict": true}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
    {"type": "custom", "custom": {"name": "apply_patch", "description": "Patch files", "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /.+/"}}}}
  ],
  "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
  "parallel_tool_calls": true,
  "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "description": "An answer", "schema": {"type": "object"}, "strict": true}},
  "reasoning_effort": "low",
  "max_completion_tokens": 1000,
  "temperature": 0.5,
  "top_p": 0.9,
  "stop": ["END", "STOP"],
  "seed": 42,
  "presence_penalty": 0.1,
  "frequency_penalty": 0.2,
  "n": 1,
  "stream": true,
  "stream_options": {"include_usage": true},
  "user": "user-42",
  "metadata": {"session": "s1"},
  "web_search_options": {"search_context_size": "low"},
  "logprobs": true,
  "top_logprobs": 2,
  "store": false,
  "logit_bias": {"50256": -100}
}"#;

fn target(model: &str, options: &str) -> TargetInfo {
    TargetInfo {
        model: model.to_string(),
        options: options.to_string(),
    }
}

fn decode(flavor: Flavor, body: &str) -> ChatRequest {
    decode_request(flavor, Operation::Chat, body.as_bytes(), None, false).unwrap()
}

fn encode(flavor: Flavor, r: &ChatRequest, options: &str) -> Value {
    let up = encode_request(flavor, Operation::Chat, r, &target("", options)).unwrap();
    serde_json::from_slice(&up.body).unwrap()
}

#[test]
fn rich_request_decodes_to_the_canonical_model() {
    let r = decode(Flavor::OpenAi, RICH);
    assert_eq!(r.model, "gpt-4o");
    // Leading system and developer messages are the system instructions.
    assert_eq!(r.system.len(), 2);
    assert_eq!(r.system[1].text, "Answer in JSON.");
    assert_eq!(
        extra_fields(r.system[1].extra.as_ref()),
        json!({"role": "developer", "name": "dev"})
            .as_object()
            .cloned()
            .unwrap()
    );
    let user = &r.messages[0];
    assert_eq!(
        (user.role, user.name.as_deref()),
        (Role::User, Some("alice"))
    );
    assert!(matches!(&user.content[1], ContentBlock::Image(i)
        if i.detail.as_deref() == Some("high")
        && matches!(&i.source, MediaSource::Inline(d) if d.media_type == "image/png" && d.data == "iVBORw0KGgo=")));
    assert!(
        matches!(&user.content[2], ContentBlock::Image(i) if i.source == MediaSource::Url("https://example.com/cat.jpg".into()))
    );
    assert!(matches!(&user.content[3], ContentBlock::Document(d)
        if d.filename.as_deref() == Some("spec.pdf")
        && matches!(&d.source, MediaSource::Inline(x) if x.media_type == "application/pdf")));
    assert!(
        matches!(&user.content[4], ContentBlock::Document(d) if d.source == MediaSource::FileId("file-abc123".into()))
    );
    assert!(
        matches!(&user.content[5], ContentBlock::Audio(a) if a.format.as_deref() == Some("wav"))
    );
    // Parallel calls keep their ids; the three tool messages are one canonical message
    // whose results know their tool's name.
    let calls: Vec<(&str, &str, &ToolKind)> = r.messages[1]
        .content
        .iter()
        .map(|b| match b {
            ContentBlock::ToolCall(c) => (c.id.as_str(), c.name.as_str(), &c.kind),
            _ => panic!("{b:?}"),
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            ("call_1", "get_weather", &ToolKind::Function),
            ("call_2", "get_time", &ToolKind::Function),
            ("call_3", "apply_patch", &ToolKind::Custom)
        ]
    );
    assert_eq!(r.messages[2].role, Role::Tool);
    let results: Vec<(&str, Option<&str>, usize)> = r.messages[2]
        .content
        .iter()
        .map(|b| match b {
            ContentBlock::ToolResult(t) => (t.call_id.as_str(), t.name.as_deref(), t.content.len()),
            _ => panic!("{b:?}"),
        })
        .collect();
    assert_eq!(
        results,
        vec![
            ("call_1", Some("get_weather"), 1),
            ("call_2", Some("get_time"), 2),
            ("call_3", Some("apply_patch"), 1)
        ]
    );
    assert!(matches!(&r.messages[3].content[1], ContentBlock::Text(t) if is_refusal(t)));
    assert_eq!(r.messages[4].role, Role::System);
    assert_eq!(r.tools.len(), 4);
    assert_eq!(r.tools[2].kind, ToolKind::Custom);
    assert_eq!(r.tools[3].kind, ToolKind::Builtin("web_search".into()));
    assert_eq!(r.tool_choice, Some(ToolChoice::Tool("get_weather".into())));
    assert_eq!(
        r.thinking,
        Some(ThinkingConfig {
            enabled: true,
            budget_tokens: None,
            effort: Some("low".into()),
            summary: None
        })
    );
    assert!(
        matches!(&r.response_format, Some(ResponseFormat::JsonSchema(s)) if s.name.as_deref() == Some("answer") && s.strict == Some(true))
    );
    assert_eq!(r.sampling.max_tokens, Some(1000));
    assert_eq!(r.sampling.stop, vec!["END".to_string(), "STOP".to_string()]);
    assert_eq!(
        (r.sampling.seed, r.sampling.candidates),
        (Some(42), Some(1))
    );
    assert!(r.stream && r.stream_include_usage);
    assert_eq!(r.user.as_deref(), Some("user-42"));
    assert_eq!(r.metadata.as_deref(), Some(r#"{"session":"s1"}"#));
    let extra = extra_fields(r.extra.as_ref());
    assert_eq!(
        extra.keys().collect::<Vec<_>>(),
        vec!["logprobs", "top_logprobs", "store", "logit_bias"]
    );
}

#[test]
fn rich_request_round_trips_exactly() {
    let r = decode(Flavor::OpenAi, RICH);
    let up = encode_request(Flavor::OpenAi, Operation::Chat, &r, &target("gpt-4o", "{}")).unwrap();
    assert_eq!(
        (up.method.as_str(), up.path.as_str(), up.stream),
        ("POST", "/v1/chat/completions", true)
    );
    let got: Value = serde_json::from_slice(&up.body).unwrap();
    let want: Value = serde_json::from_str(RICH).unwrap();
    assert_eq!(got, want, "\n got: {got:#}");
    // canonical → Chat Completions → canonical is a fixed point.
    assert_eq!(
        decode_request(Flavor::OpenAi, Operation::Chat, &up.body, None, false).unwrap(),
        r
    );
}

#[test]
fn compatible_and_azure_flavors_apply_their_defaults() {
    let r = decode(Flavor::Compatible, RICH);
    let v = encode(Flavor::Compatible, &r, "{}");
    assert_eq!(
        v["messages"][1],
        json!({"role": "system", "content": "Answer in JSON.", "name": "dev"})
    );
    assert_eq!(v["max_tokens"], 1000);
    assert!(v.get("max_completion_tokens").is_none());
    let v = encode(
        Flavor::Compatible,
        &r,
        r#"{"developer_role":true,"drop":["logit_bias","store"]}"#,
    );
    assert_eq!(v["messages"][1]["role"], "developer");
    assert!(v.get("logit_bias").is_none() && v.get("store").is_none());
    let v = encode(Flavor::Azure, &r, "{}");
    assert_eq!(v["messages"][1]["role"], "system");
    assert_eq!(v["max_completion_tokens"], 1000);
}

#[test]
fn request_forms_and_errors() {
    // String stop, max_tokens, tool_choice strings, json_object, reasoning "none".
    let r = decode(
        Flavor::OpenAi,
        r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":"END","max_tokens":5,
            "tool_choice":"required","response_format":{"type":"json_object"},"reasoning_effort":"none"}"#,
    );
    assert_eq!(r.sampling.stop, vec!["END".to_string()]);
    assert_eq!(r.sampling.max_tokens, Some(5));
    assert_eq!(r.tool_choice, Some(ToolChoice::Required));
    assert_eq!(r.response_format, Some(ResponseFormat::JsonObject));
    assert_eq!(r.thinking.as_ref().map(|t| t.enabled), Some(false));
    let v = encode(Flavor::OpenAi, &r, "{}");
    assert_eq!(v["reasoning_effort"], "none");
    assert_eq!(v["max_completion_tokens"], 5);
    // No tools: tool_choice is not sent (OpenAI rejects it without tools).
    assert!(v.get("tool_choice").is_none());
    // allowed_tools has no canonical form: it rides in extra.
    let r = decode(
        Flavor::OpenAi,
        r#"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}],
            "tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"f"}}]}}}"#,
    );
    assert_eq!(r.tool_choice, None);
    assert_eq!(
        encode(Flavor::OpenAi, &r, "{}")["tool_choice"]["type"],
        "allowed_tools"
    );
    // The path's model wins (Azure deployment routes).
    let r = decode_request(
        Flavor::Azure,
        Operation::Chat,
        br#"{"model":"body","messages":[]}"#,
        Some("path".into()),
        false,
    )
    .unwrap();
    assert_eq!(r.model, "path");

    for (body, want) in [
        (r#"{"messages":[]}"#, "model: field required"),
        (r#"{"model":"m"}"#, "messages: field required"),
        (r#"{"model":"m","messages":[],"n":2}"#, "n: only one choice"),
        (
            r#"{"model":"m","messages":[{"role":"user","content":7}]}"#,
            "messages.0.content: expected string or array",
        ),
        (
            r#"{"model":"m","messages":[{"role":"bot","content":"x"}]}"#,
            "messages.0.role",
        ),
        (
            r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
            "messages.0.tool_call_id: field required",
        ),
        (
            r#"{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}"#,
            "deprecated \"function\" role",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}"#,
            "messages.0.content.0.text: field required",
        ),
        (
            r#"{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#,
            "text parts only",
        ),
        (
            r#"{"model":"m","messages":[],"functions":[]}"#,
            "functions / function_call are deprecated",
        ),
        (
            r#"{"model":"m","messages":[],"tool_choice":"sometimes"}"#,
            "tool_choice",
        ),
        (
            r#"{"model":"m","messages":[],"response_format":{"type":"yaml"}}"#,
            "response_format.type",
        ),
        (
            r#"{"model":"m","messages":[],"stream":"yes"}"#,
            "stream: expected boolean",
        ),
    ] {
        let e = decode_request(
            Flavor::OpenAi,
            Operation::Chat,
            body.as_bytes(),
            None,
            false,
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains(want), "{body}: {}", e.message);
    }
    let mut r = decode(Flavor::OpenAi, r#"{"model":"m","messages":[]}"#);
    r.sampling.candidates = Some(3);
    assert!(encode_request(Flavor::OpenAi, Operation::Chat, &r, &target("", "{}")).is_err());
}

/// A Claude Code style Anthropic request: cached system blocks, thinking with a
/// signature, a tool round trip with an error result holding an image, web search.
const ANTHROPIC: &str = r#"{
  "model": "claude-sonnet-4-5",
  "max_tokens": 2048,
  "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
  "messages": [
    {"role": "user", "content": [
      {"type": "text", "text": "Read a.rs"},
      {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}, "title": "Notes"},
      {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}
    ]},
    {"role": "assistant", "content": [
      {"type": "thinking", "thinking": "Let me look.", "signature": "sig=="},
      {"type": "text", "text": "Reading."},
      {"type": "tool_use", "id": "toolu_01", "name": "read_file", "input": {"path": "a.rs"}},
      {"type": "tool_use", "id": "toolu_02", "name": "screenshot", "input": {}}
    ]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "toolu_01", "content": "fn main() {}"},
      {"type": "tool_result", "tool_use_id": "toolu_02", "is_error": true,
       "content": [{"type": "text", "text": "partial"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}]},
      {"type": "text", "text": "Continue."}
    ]}
  ],
  "tools": [
    {"name": "read_file", "description": "Read a file", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}},
    {"name": "screenshot", "input_schema": {"type": "object", "properties": {}}},
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
  ],
  "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
  "thinking": {"type": "enabled", "budget_tokens": 4096},
  "stop_sequences": ["STOP"],
  "temperature": 1.0,
  "stream": true,
  "metadata": {"user_id": "user-42"}
}"#;

#[test]
fn anthropic_request_to_chat_completions() {
    let r = anthropic::decode_request(Operation::Chat, ANTHROPIC.as_bytes(), None, false).unwrap();
    let got = encode(Flavor::OpenAi, &r, "{}");
    let want = json!({
      "model": "claude-sonnet-4-5",
      "messages": [
        {"role": "system", "content": "You are Claude Code."},
        {"role": "user", "content": [
          {"type": "text", "text": "Read a.rs"},
          {"type": "text", "text": "Notes\n\nplain doc"},
          {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}
        ]},
        {"role": "assistant", "content": "Reading.", "tool_calls": [
          {"id": "toolu_01", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a.rs\"}"}},
          {"id": "toolu_02", "type": "function", "function": {"name": "screenshot", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "fn main() {}"},
        {"role": "tool", "tool_call_id": "toolu_02", "content": "partial"},
        {"role": "user", "content": [
          {"type": "text", "text": "Attachments returned by tool call toolu_02:"},
          {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
          {"type": "text", "text": "Continue."}
        ]}
      ],
      "tools": [
        {"type": "function", "function": {"name": "read_file", "description": "Read a file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "screenshot", "parameters": {"type": "object", "properties": {}}}}
      ],
      "web_search_options": {},
      "tool_choice": "required",
      "parallel_tool_calls": false,
      "max_completion_tokens": 2048,
      "temperature": 1.0,
      "stop": ["STOP"],
      "reasoning_effort": "medium",
      "stream": true,
      "stream_options": {"include_usage": true},
      "user": "user-42"
    });
    assert_eq!(got, want, "\n got: {got:#}");
    // Compatible targets with cache hints (OpenRouter → Anthropic) keep cache_control.
    let v = encode(
        Flavor::Compatible,
        &r,
        r#"{"cache_control":true,"reasoning":"reasoning_object"}"#,
    );
    assert_eq!(
        v["messages"][0]["content"],
        json!([{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}])
    );
    assert_eq!(v["reasoning"], json!({"max_tokens": 4096}));
}

#[test]
fn builtin_tools_without_an_equivalent_are_refused() {
    let mut r =
        anthropic::decode_request(Operation::Chat, ANTHROPIC.as_bytes(), None, false).unwrap();
    r.tools.push(ToolDefinition {
        kind: ToolKind::Builtin("bash_20250124".into()),
        name: "bash".into(),
        description: None,
        parameters: None,
        strict: None,
        namespace: None,
        cache_control: None,
        extra: None,
    });
    let e = encode_request(Flavor::OpenAi, Operation::Chat, &r, &target("", "{}")).unwrap_err();
    assert_eq!(e.status, 400);
    assert!(
        e.message
            .contains("tools.3: the builtin tool `bash_20250124`"),
        "{}",
        e.message
    );
}

#[test]
fn chat_completions_request_to_anthropic() {
    let r = decode(Flavor::OpenAi, RICH);
    // Anthropic has no audio and no file ids for images; drop those first.
    let mut r2 = r.clone();
    r2.messages[0]
        .content
        .retain(|b| !matches!(b, ContentBlock::Audio(_)));
    r2.tools.retain(|t| t.kind != ToolKind::Custom);
    let up = anthropic::encode_request(Operation::Chat, &r2, &target("claude-x", "{}")).unwrap();
    let v: Value = serde_json::from_slice(&up.body).unwrap();
    // System and developer instructions are Anthropic's system; the refusal is text.
    assert_eq!(
        v["system"],
        json!([{"type": "text", "text": "You are helpful."}, {"type": "text", "text": "Answer in JSON."}])
    );
    assert_eq!(
        v["messages"][0]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="})
    );
    assert_eq!(v["messages"][2]["role"], "user");
    assert_eq!(v["messages"][2]["content"][0]["tool_use_id"], "call_1");
    assert_eq!(v["messages"][3]["content"][1]["text"], "I won't say more.");
    assert_eq!(
        v["tool_choice"],
        json!({"type": "tool", "name": "get_weather", "disable_parallel_tool_use": false})
    );
    // Anthropic refuses thinking with a forced tool choice, or with a budget not
    // below max_tokens: the thinking wish is not sent.
    assert_eq!(v["thinking"], Value::Null);
    assert_eq!(v["max_tokens"], 1000);
}

// ----- responses -----

const RESPONSE: &str = r#"{
  "id": "chatcmpl-abc", "object": "chat.completion", "created": 1741569952, "model": "gpt-4o-2024-08-06",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there ✓", "refusal": null,
      "annotations": [{"type": "url_citation", "url_citation": {"start_index": 0, "end_index": 5, "url": "https://a.example", "title": "A"}}],
      "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                     {"id": "call_2", "type": "custom", "custom": {"name": "patch", "input": "raw text"}}]},
    "logprobs": null, "finish_reason": "tool_calls"}],
  "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
  "service_tier": "default", "system_fingerprint": "fp_1"
}"#;

#[test]
fn response_round_trips() {
    let r = decode_response(Operation::Chat, RESPONSE.as_bytes()).unwrap();
    assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(
        (
            r.usage.input_tokens,
            r.usage.cache_read_tokens,
            r.usage.output_tokens,
            r.usage.reasoning_tokens
        ),
        (Some(15), Some(4), Some(10), Some(3))
    );
    assert!(matches!(&r.content[0], ContentBlock::Text(t) if t.citations.is_some()));
    assert!(
        matches!(&r.content[2], ContentBlock::ToolCall(c) if c.kind == ToolKind::Custom && c.arguments == "raw text")
    );
    let got: Value = serde_json::from_slice(&encode_response(Flavor::OpenAi, &r).unwrap()).unwrap();
    let want: Value = serde_json::from_str(RESPONSE).unwrap();
    assert_eq!(got, want, "\n got: {got:#}");
}

#[test]
fn upstream_quirks_in_responses() {
    // vLLM: reasoning_content and the matched stop string; Ollama: tool calls with "stop".
    let v = decode_response(
        Operation::Chat,
        br#"{"id":"x","model":"qwen","choices":[{"index":0,"message":{"role":"assistant","reasoning_content":"think","content":"done"},
            "finish_reason":"stop","stop_reason":"END"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
    )
    .unwrap();
    assert!(
        matches!(&v.content[0], ContentBlock::Thinking(t) if t.text == "think" && t.signature.is_none())
    );
    assert_eq!(
        (v.stop_reason, v.stop_sequence.as_deref()),
        (Some(StopReason::StopSequence), Some("END"))
    );
    let o = decode_response(
        Operation::Chat,
        br#"{"id":"x","model":"llama","choices":[{"index":0,"message":{"role":"assistant","content":"","reasoning":"hm",
            "tool_calls":[{"id":"call_a","function":{"name":"f","arguments":{"x":1}}}]},"finish_reason":"stop"}]}"#,
    )
    .unwrap();
    assert_eq!(o.stop_reason, Some(StopReason::ToolUse));
    assert!(
        matches!(&o.content[1], ContentBlock::ToolCall(c) if c.arguments == r#"{"x":1}"# && c.kind == ToolKind::Function)
    );
    // A refusal.
    let f = decode_response(
        Operation::Chat,
        br#"{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"No."},"finish_reason":"stop"}]}"#,
    )
    .unwrap();
    assert_eq!(f.stop_reason, Some(StopReason::Refusal));
    let back: Value =
        serde_json::from_slice(&encode_response(Flavor::OpenAi, &f).unwrap()).unwrap();
    assert_eq!(
        back["choices"][0]["message"],
        json!({"role": "assistant", "content": null, "refusal": "No."})
    );
    assert_eq!(back["choices"][0]["finish_reason"], "stop");
    for bad_body in [&b"nope"[..], b"[1]", br#"{"choices":{}}"#] {
        assert_eq!(
            decode_response(Operation::Chat, bad_body)
                .unwrap_err()
                .status,
            502
        );
    }
}

#[test]
fn anthropic_response_to_chat_completions() {
    let body = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-x",
      "content":[{"type":"thinking","thinking":"secret plan","signature":"s"},
                 {"type":"text","text":"Found it","citations":[{"type":"web_search_result_location","url":"https://w.example","title":"W","cited_text":"x","encrypted_index":"e"}]},
                 {"type":"text","text":" here."},
                 {"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],
      "stop_reason":"tool_use","stop_sequence":null,
      "usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":5,"output_tokens":7}}"#;
    let r = anthropic::decode_response(Operation::Chat, body.as_bytes()).unwrap();
    let got: Value = serde_json::from_slice(&encode_response(Flavor::OpenAi, &r).unwrap()).unwrap();
    assert_eq!(
        got,
        json!({"id": "msg_01", "object": "chat.completion", "created": 0, "model": "claude-x",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Found it here.", "refusal": null,
              "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}],
              "annotations": [{"type": "url_citation", "url_citation": {"start_index": 0, "end_index": 8, "url": "https://w.example", "title": "W"}}]},
            "logprobs": null, "finish_reason": "tool_calls"}],
          "usage": {"prompt_tokens": 35, "completion_tokens": 7, "total_tokens": 42, "prompt_tokens_details": {"cached_tokens": 5}}}),
        "\n got: {got:#}"
    );
    // Thinking never reaches `content`; the compatible flavor shows it separately.
    let compat: Value =
        serde_json::from_slice(&encode_response(Flavor::Compatible, &r).unwrap()).unwrap();
    assert_eq!(
        compat["choices"][0]["message"]["reasoning_content"],
        "secret plan"
    );
    assert_eq!(compat["choices"][0]["message"]["content"], "Found it here.");
    // Anthropic classifier refusal → content_filter.
    let mut refused = r.clone();
    refused.stop_reason = Some(StopReason::Refusal);
    let v: Value =
        serde_json::from_slice(&encode_response(Flavor::OpenAi, &refused).unwrap()).unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
}

#[test]
fn chat_completions_response_to_anthropic() {
    let r = decode_response(Operation::Chat, RESPONSE.as_bytes()).unwrap();
    let v: Value = serde_json::from_slice(&anthropic::encode_response(&r).unwrap()).unwrap();
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["content"][0]["text"], "Hello there ✓");
    assert_eq!(
        v["content"][1],
        json!({"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}})
    );
    // Canonical input tokens are the uncached prompt tokens.
    assert_eq!(v["usage"]["input_tokens"], 15);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 4);
}

#[test]
fn empty_response_encodes() {
    let r = ChatResponse {
        id: String::new(),
        model: "m".into(),
        content: vec![],
        stop_reason: Some(StopReason::MaxTokens),
        stop_sequence: None,
        usage: Usage::empty(),
        extra: None,
    };
    let v: Value = serde_json::from_slice(&encode_response(Flavor::OpenAi, &r).unwrap()).unwrap();
    assert_eq!(v["id"], "chatcmpl-tollgate");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
    );
}

#[test]
fn compatible_front_door_reads_openrouter_reasoning() {
    let body = r#"{"model":"m","messages":[{"role":"user","content":"x"}],"top_k":40,
        "reasoning":{"max_tokens":2000,"exclude":false}}"#;
    let r = decode(Flavor::Compatible, body);
    assert_eq!(
        r.thinking,
        Some(ThinkingConfig {
            enabled: true,
            budget_tokens: Some(2000),
            effort: None,
            summary: None
        })
    );
    assert_eq!(r.sampling.top_k, Some(40));
    assert!(r.extra.is_none());
    let up = anthropic::encode_request(Operation::Chat, &r, &target("claude-x", "{}")).unwrap();
    let v: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(
        v["thinking"],
        json!({"type": "enabled", "budget_tokens": 2000})
    );
    // Anthropic refuses top_k together with thinking: not sent.
    assert_eq!(v["top_k"], Value::Null);
    // On the openai flavor `reasoning` is not a Chat Completions field: it stays extra.
    let o = decode(Flavor::OpenAi, body);
    assert_eq!(o.thinking, None);
    assert!(extra_fields(o.extra.as_ref()).contains_key("reasoning"));
    // A budget becomes an effort for OpenAI (< 2048 low, < 8192 medium, else high).
    assert_eq!(encode(Flavor::OpenAi, &r, "{}")["reasoning_effort"], "low");
}
