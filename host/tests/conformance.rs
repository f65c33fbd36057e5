//! Cross-provider conformance suite.
//!
//! One list of canonical cases ([`cases`]), one per feature, runs through every
//! built-in provider plugin the same way:
//!
//! - **request** cases: canonical request → `encode-request` → the plugin's own
//!   front door `decode-request` of the encoded body → canonical again;
//! - **response** cases: canonical response → `encode-response` → `decode-response`;
//! - **stream** cases: canonical events → `stream-encoder` → `stream-decoder`;
//! - **error** cases: `api-error` → `encode-error` → `decode-error` (kind + status).
//!
//! Each provider declares, per case, what happens ([`declared`]): `Supported` (the
//! round trip gives back an equivalent value), `Dropped` (the feature is gone, the
//! rest is intact, no error), `Error` (a clean `api-error`, not a trap) or `Lossy`
//! (the value comes back changed exactly as stated). The suite checks every
//! (provider, case) against its declaration, checks that nothing is undeclared, and
//! checks that the matrix in `docs/translation.md` agrees with the declarations.
//!
//! Normalization before comparing (documented in `docs/translation.md`):
//! - `extra` fields are ignored everywhere (dialect bookkeeping, never a named field);
//! - response `id` / `model` and stream start `id` / `model` are compared only by the
//!   `response_id_model` / `stream_id_model` cases;
//! - streams are folded: deltas are concatenated per block, `ping`s dropped, usage
//!   merged (start usage, then every `usage` event field by field) — the comparison is
//!   of the folded message, not of the event boundaries.
//!
//! Run: `cargo test --release -p tollgate --test conformance`

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use futures::executor::block_on;
use serde_json::{json, Map, Value};
use tollgate::plugin::bindings::types::{
    ApiError, AudioBlock, BlockDelta, BlockStart, CacheControl, ChatRequest, ChatResponse,
    ContentBlock, DocumentBlock, ErrorKind, Extra, ImageBlock, InlineData, JsonSchemaFormat,
    MediaSource, Message, Operation, ResponseFormat, Role, Sampling, StopReason, StreamEvent,
    StreamFinish, StreamStart, TextBlock, ThinkingBlock, ThinkingConfig, ToolCall, ToolChoice,
    ToolDefinition, ToolKind, ToolResult, ToolResultPart, Usage,
};
use tollgate::plugin::{
    CallLimits, PluginEngine, PluginSet, ProviderPlugin, QuarantinePolicy, TargetInfo,
};

// ======================================================================
// Canonical values → JSON (for comparison and readable diffs)
// ======================================================================

fn cc_json(c: &Option<CacheControl>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => json!({"kind": c.kind, "ttl": c.ttl}),
    }
}

fn extra_json(e: &Option<Extra>) -> Value {
    match e {
        None => Value::Null,
        Some(e) => json!({"source": format!("{:?}", e.source), "fields": e.fields}),
    }
}

fn source_json(s: &MediaSource) -> Value {
    match s {
        MediaSource::Inline(d) => json!({"inline": {"media_type": d.media_type, "data": d.data}}),
        MediaSource::Url(u) => json!({ "url": u }),
        MediaSource::FileId(f) => json!({ "file_id": f }),
        MediaSource::Text(t) => json!({ "text": t }),
    }
}

fn kind_json(k: &ToolKind) -> Value {
    match k {
        ToolKind::Function => json!("function"),
        ToolKind::Custom => json!("custom"),
        ToolKind::Builtin(b) => json!({ "builtin": b }),
    }
}

fn text_json(t: &TextBlock) -> Value {
    json!({"type": "text", "text": t.text, "cache_control": cc_json(&t.cache_control),
           "citations": t.citations, "extra": extra_json(&t.extra)})
}

fn image_json(i: &ImageBlock) -> Value {
    json!({"type": "image", "source": source_json(&i.source), "media_type": i.media_type,
           "detail": i.detail, "cache_control": cc_json(&i.cache_control),
           "extra": extra_json(&i.extra)})
}

fn document_json(d: &DocumentBlock) -> Value {
    json!({"type": "document", "source": source_json(&d.source), "media_type": d.media_type,
           "title": d.title, "context": d.context, "citations": d.citations,
           "filename": d.filename, "cache_control": cc_json(&d.cache_control),
           "extra": extra_json(&d.extra)})
}

fn block_json(b: &ContentBlock) -> Value {
    match b {
        ContentBlock::Text(t) => text_json(t),
        ContentBlock::Image(i) => image_json(i),
        ContentBlock::Document(d) => document_json(d),
        ContentBlock::Audio(a) => json!({"type": "audio", "source": source_json(&a.source),
            "format": a.format, "extra": extra_json(&a.extra)}),
        ContentBlock::ToolCall(c) => json!({"type": "tool_call", "id": c.id, "name": c.name,
            "arguments": args_json(&c.arguments, &c.kind), "kind": kind_json(&c.kind),
            "namespace": c.namespace, "cache_control": cc_json(&c.cache_control),
            "extra": extra_json(&c.extra)}),
        ContentBlock::ToolResult(r) => json!({"type": "tool_result", "call_id": r.call_id,
            "name": r.name, "is_error": r.is_error,
            "content": r.content.iter().map(|p| match p {
                ToolResultPart::Text(t) => json!({"type": "text", "text": t}),
                ToolResultPart::Image(i) => image_json(i),
                ToolResultPart::Document(d) => document_json(d),
            }).collect::<Vec<_>>(),
            "cache_control": cc_json(&r.cache_control), "extra": extra_json(&r.extra)}),
        ContentBlock::Thinking(t) => json!({"type": "thinking", "text": t.text,
            "signature": t.signature, "extra": extra_json(&t.extra)}),
        ContentBlock::RedactedThinking(d) => json!({"type": "redacted_thinking", "data": d}),
        ContentBlock::Other(e) => json!({"type": "other", "extra": extra_json(&Some(e.clone()))}),
    }
}

/// Function arguments compare as JSON (key order and spacing are not meaningful).
fn args_json(args: &str, kind: &ToolKind) -> Value {
    match kind {
        ToolKind::Custom => json!(args),
        _ => serde_json::from_str::<Value>(args).unwrap_or_else(|_| json!(args)),
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

fn message_json(m: &Message) -> Value {
    json!({"role": role_name(m.role), "name": m.name,
           "content": m.content.iter().map(block_json).collect::<Vec<_>>(),
           "extra": extra_json(&m.extra)})
}

/// Schemas and other JSON-text fields compare as JSON.
fn json_text(s: &Option<String>) -> Value {
    match s {
        None => Value::Null,
        Some(s) => serde_json::from_str::<Value>(s).unwrap_or_else(|_| json!(s)),
    }
}

fn request_json(r: &ChatRequest) -> Value {
    let s = &r.sampling;
    json!({
        "model": r.model,
        "system": r.system.iter().map(text_json).collect::<Vec<_>>(),
        "messages": r.messages.iter().map(message_json).collect::<Vec<_>>(),
        "tools": r.tools.iter().map(|t| json!({"kind": kind_json(&t.kind), "name": t.name,
            "description": t.description, "parameters": json_text(&t.parameters),
            "strict": t.strict, "namespace": t.namespace,
            "cache_control": cc_json(&t.cache_control), "extra": extra_json(&t.extra)}))
            .collect::<Vec<_>>(),
        "tool_choice": r.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(n) => json!({ "tool": n }),
        }),
        "parallel_tool_calls": r.parallel_tool_calls,
        "sampling": {"max_tokens": s.max_tokens, "temperature": s.temperature, "top_p": s.top_p,
            "top_k": s.top_k, "stop": s.stop, "seed": s.seed,
            "presence_penalty": s.presence_penalty, "frequency_penalty": s.frequency_penalty,
            "candidates": s.candidates},
        "thinking": r.thinking.as_ref().map(|t| json!({"enabled": t.enabled,
            "budget_tokens": t.budget_tokens, "effort": t.effort, "summary": t.summary})),
        "response_format": r.response_format.as_ref().map(|f| match f {
            ResponseFormat::Text => json!("text"),
            ResponseFormat::JsonObject => json!("json_object"),
            ResponseFormat::JsonSchema(j) => json!({"json_schema": {"name": j.name,
                "description": j.description, "schema": json_text(&Some(j.schema.clone())),
                "strict": j.strict}}),
        }),
        "stream": r.stream,
        "stream_include_usage": r.stream_include_usage,
        "user": r.user,
        "metadata": json_text(&r.metadata),
        "extra": extra_json(&r.extra),
    })
}

fn stop_name(r: StopReason) -> &'static str {
    tollgate::plugin::stop_reason_name(r)
}

fn usage_json(u: &Usage) -> Value {
    json!({"input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
           "cache_read_tokens": u.cache_read_tokens, "cache_write_tokens": u.cache_write_tokens,
           "cache_write_1h_tokens": u.cache_write_1h_tokens,
           "reasoning_tokens": u.reasoning_tokens, "extra": extra_json(&u.extra)})
}

fn response_json(r: &ChatResponse) -> Value {
    json!({"id": r.id, "model": r.model,
           "content": r.content.iter().map(block_json).collect::<Vec<_>>(),
           "stop_reason": r.stop_reason.map(stop_name), "stop_sequence": r.stop_sequence,
           "usage": usage_json(&r.usage), "extra": extra_json(&r.extra)})
}

fn error_kind_name(k: ErrorKind) -> String {
    format!("{k:?}")
}

/// Fold a stream into the message it builds (the documented stream normalization).
fn fold_stream(events: &[StreamEvent]) -> Value {
    let mut id = Value::Null;
    let mut model = Value::Null;
    let mut usage: Map<String, Value> = Map::new();
    let mut blocks: BTreeMap<u32, Value> = BTreeMap::new();
    let mut stopped: BTreeSet<u32> = BTreeSet::new();
    let mut finish = Value::Null;
    let mut errors = Vec::new();
    let merge_usage = |u: &Usage, usage: &mut Map<String, Value>| {
        if let Value::Object(m) = usage_json(u) {
            for (k, v) in m {
                if !v.is_null() {
                    usage.insert(k, v);
                }
            }
        }
    };
    let append = |blocks: &mut BTreeMap<u32, Value>, d: &BlockDelta, field: &str| {
        let b = blocks
            .entry(d.index)
            .or_insert_with(|| json!({"type": "missing_start"}));
        let cur = b
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        b[field] = json!(cur + &d.text);
    };
    for e in events {
        match e {
            StreamEvent::Start(s) => {
                id = json!(s.id);
                model = json!(s.model);
                merge_usage(&s.usage, &mut usage);
            }
            StreamEvent::BlockStart(b) => {
                let mut v = block_json(&b.block);
                // Tool arguments accumulate as raw text while streaming.
                if let ContentBlock::ToolCall(c) = &b.block {
                    v["arguments"] = json!(c.arguments);
                }
                if let ContentBlock::Thinking(t) = &b.block {
                    v["signature"] = json!(t.signature.clone().unwrap_or_default());
                }
                blocks.insert(b.index, v);
            }
            StreamEvent::TextDelta(d) => append(&mut blocks, d, "text"),
            StreamEvent::ThinkingDelta(d) => append(&mut blocks, d, "text"),
            StreamEvent::SignatureDelta(d) => append(&mut blocks, d, "signature"),
            StreamEvent::ToolArgumentsDelta(d) => append(&mut blocks, d, "arguments"),
            StreamEvent::BlockStop(i) => {
                stopped.insert(*i);
            }
            StreamEvent::Usage(u) => merge_usage(u, &mut usage),
            StreamEvent::Finish(f) => {
                finish = json!({"stop_reason": stop_name(f.stop_reason),
                                "stop_sequence": f.stop_sequence});
            }
            StreamEvent::Ping => {}
            StreamEvent::Error(e) => errors.push(json!({"kind": error_kind_name(e.kind),
                                                         "status": e.status})),
        }
    }
    let blocks: Vec<Value> = blocks
        .into_iter()
        .map(|(i, mut b)| {
            // Function arguments compare as JSON once complete.
            if b["type"] == "tool_call" && b["kind"] == "function" {
                if let Some(s) = b["arguments"].as_str() {
                    let s = if s.is_empty() { "{}" } else { s };
                    b["arguments"] = serde_json::from_str(s).unwrap_or_else(|_| json!(s));
                }
            }
            if b["type"] == "thinking" && b["signature"] == "" {
                b["signature"] = Value::Null;
            }
            b["stopped"] = json!(stopped.contains(&i));
            b
        })
        .collect();
    json!({"id": id, "model": model, "blocks": blocks, "finish": finish,
           "usage": Value::Object(usage), "errors": errors})
}

/// The documented normalization, applied to both sides before comparing:
/// - `extra` keys and nulls are dropped;
/// - a tool result's `name` is dropped (only Gemini carries it on the wire; the
///   others find it from the call) and a message holding only tool results counts as
///   role `tool` (Anthropic and Bedrock carry them in a `user` message);
/// - a tool definition's `strict: false` equals no `strict` (the Responses encoder
///   writes the Chat Completions default explicitly, since Responses defaults to true);
/// - usage counts of 0 equal absent counts (some dialects always write every count).
fn normalize(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("extra");
            m.retain(|_, x| !x.is_null());
            if m.get("type").and_then(Value::as_str) == Some("tool_result") {
                m.remove("name");
            }
            if m.get("strict") == Some(&json!(false)) && m.contains_key("kind") {
                m.remove("strict");
            }
            let only_results = m
                .get("content")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty() && c.iter().all(|b| b["type"] == "tool_result"));
            if only_results && m.get("role") == Some(&json!("user")) {
                m.insert("role".into(), json!("tool"));
            }
            if let Some(Value::Object(u)) = m.get_mut("usage") {
                u.retain(|_, x| x != &json!(0));
            }
            for x in m.values_mut() {
                normalize(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}

// ======================================================================
// Canonical builders
// ======================================================================

const MODEL: &str = "test-model";

fn text(t: &str) -> ContentBlock {
    ContentBlock::Text(tb(t))
}

fn tb(t: &str) -> TextBlock {
    TextBlock {
        text: t.into(),
        cache_control: None,
        citations: None,
        extra: None,
    }
}

fn msg(role: Role, content: Vec<ContentBlock>) -> Message {
    Message {
        role,
        content,
        name: None,
        extra: None,
    }
}

fn user(t: &str) -> Message {
    msg(Role::User, vec![text(t)])
}

fn sampling() -> Sampling {
    Sampling {
        max_tokens: Some(1024),
        temperature: None,
        top_p: None,
        top_k: None,
        stop: vec![],
        seed: None,
        presence_penalty: None,
        frequency_penalty: None,
        candidates: None,
    }
}

fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        model: MODEL.into(),
        system: vec![],
        messages,
        tools: vec![],
        tool_choice: None,
        parallel_tool_calls: None,
        sampling: sampling(),
        thinking: None,
        response_format: None,
        stream: false,
        stream_include_usage: false,
        user: None,
        metadata: None,
        extra: None,
    }
}

fn inline(media_type: &str, data: &str) -> MediaSource {
    MediaSource::Inline(InlineData {
        media_type: media_type.into(),
        data: data.into(),
    })
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const PDF: &str = "JVBERi0xLjQKJcTl8uXrp/Og0MTGCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDwvUm9vdCAxIDAgUj4+CiUlRU9GCg==";
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=";

fn image_inline() -> ImageBlock {
    ImageBlock {
        source: inline("image/png", PNG),
        media_type: None,
        detail: None,
        cache_control: None,
        extra: None,
    }
}

fn function_tool(name: &str) -> ToolDefinition {
    ToolDefinition {
        kind: ToolKind::Function,
        name: name.into(),
        description: Some(format!("Look up {name}")),
        parameters: Some(
            r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#
                .into(),
        ),
        strict: None,
        namespace: None,
        cache_control: None,
        extra: None,
    }
}

fn call(id: &str, name: &str, args: &str) -> ContentBlock {
    ContentBlock::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args.into(),
        kind: ToolKind::Function,
        namespace: None,
        cache_control: None,
        extra: None,
    })
}

fn result(id: &str, name: &str, content: Vec<ToolResultPart>, is_error: bool) -> ContentBlock {
    ContentBlock::ToolResult(ToolResult {
        call_id: id.into(),
        name: Some(name.into()),
        content,
        is_error,
        cache_control: None,
        extra: None,
    })
}

/// A request whose history holds one call and its result.
fn tool_round(result_block: ContentBlock) -> ChatRequest {
    let mut r = request(vec![
        user("Weather in Paris?"),
        msg(
            Role::Assistant,
            vec![call("call_a1", "get_weather", r#"{"city":"Paris"}"#)],
        ),
        msg(Role::Tool, vec![result_block]),
    ]);
    r.tools = vec![function_tool("get_weather")];
    r
}

fn with_tools(choice: Option<ToolChoice>) -> ChatRequest {
    let mut r = request(vec![user("Weather in Paris?")]);
    r.tools = vec![function_tool("get_weather"), function_tool("get_time")];
    r.tool_choice = choice;
    r
}

fn usage(i: u64, o: u64) -> Usage {
    Usage {
        input_tokens: Some(i),
        output_tokens: Some(o),
        cache_read_tokens: None,
        cache_write_tokens: None,
        cache_write_1h_tokens: None,
        reasoning_tokens: None,
        extra: None,
    }
}

fn response(content: Vec<ContentBlock>, stop: StopReason) -> ChatResponse {
    ChatResponse {
        id: "resp_1".into(),
        model: MODEL.into(),
        content,
        stop_reason: Some(stop),
        stop_sequence: None,
        usage: usage(10, 5),
        extra: None,
    }
}

fn thinking(t: &str, sig: Option<&str>) -> ContentBlock {
    ContentBlock::Thinking(ThinkingBlock {
        text: t.into(),
        signature: sig.map(str::to_string),
        extra: None,
    })
}

fn start() -> StreamEvent {
    StreamEvent::Start(StreamStart {
        id: "resp_1".into(),
        model: MODEL.into(),
        usage: Usage {
            output_tokens: None,
            ..usage(10, 0)
        },
    })
}

fn block_start(index: u32, block: ContentBlock) -> StreamEvent {
    StreamEvent::BlockStart(BlockStart { index, block })
}

fn delta(index: u32, t: &str) -> BlockDelta {
    BlockDelta {
        index,
        text: t.into(),
    }
}

fn finish(stop: StopReason) -> Vec<StreamEvent> {
    vec![
        StreamEvent::Usage(usage(10, 5)),
        StreamEvent::Finish(StreamFinish {
            stop_reason: stop,
            stop_sequence: None,
        }),
    ]
}

fn api_error(kind: ErrorKind, status: u16) -> ApiError {
    ApiError {
        kind,
        status,
        message: format!("conformance {status}"),
        provider_type: None,
    }
}

// ======================================================================
// The cases
// ======================================================================

/// What a case feeds through a provider.
enum Input {
    Request(Box<ChatRequest>),
    Response(Box<ChatResponse>),
    Stream(Vec<StreamEvent>),
    Error(ApiError),
}

/// One feature, as a canonical value, with what "the feature is gone" looks like.
struct Case {
    id: &'static str,
    input: Input,
    /// Turns the normalized expected value into the value with the feature dropped.
    drop: fn(&mut Value),
}

fn case(id: &'static str, input: Input, drop: fn(&mut Value)) -> Case {
    Case { id, input, drop }
}

fn req(r: ChatRequest) -> Input {
    Input::Request(Box::new(r))
}

fn resp(r: ChatResponse) -> Input {
    Input::Response(Box::new(r))
}

fn no_drop(_: &mut Value) {}

/// Remove `messages[m].content[b]`.
fn drop_block(v: &mut Value, m: usize, b: usize) {
    if let Some(a) = v["messages"][m]["content"].as_array_mut() {
        a.remove(b);
    }
}

fn drop_key(v: &mut Value, key: &str) {
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
}

/// Every stop reason, as response cases `stop_<name>`.
const STOP_REASONS: [(&str, StopReason); 10] = [
    ("stop_end_turn", StopReason::EndTurn),
    ("stop_max_tokens", StopReason::MaxTokens),
    ("stop_stop_sequence", StopReason::StopSequence),
    ("stop_tool_use", StopReason::ToolUse),
    ("stop_content_filter", StopReason::ContentFilter),
    ("stop_pause_turn", StopReason::PauseTurn),
    ("stop_refusal", StopReason::Refusal),
    ("stop_context_length", StopReason::ContextLength),
    ("stop_error", StopReason::Error),
    ("stop_other", StopReason::Other),
];

/// Every error status, as error cases `error_<status>`.
const ERRORS: [(&str, ErrorKind, u16); 8] = [
    ("error_400", ErrorKind::InvalidRequest, 400),
    ("error_401", ErrorKind::Authentication, 401),
    ("error_403", ErrorKind::Permission, 403),
    ("error_404", ErrorKind::NotFound, 404),
    ("error_413", ErrorKind::RequestTooLarge, 413),
    ("error_429", ErrorKind::RateLimit, 429),
    ("error_500", ErrorKind::ApiError, 500),
    ("error_529", ErrorKind::Overloaded, 529),
];

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let mut out = Vec::new();

    // ----- requests -----
    out.push(case("text", req(request(vec![user("Hello")])), no_drop));

    let mut r = request(vec![user("Hello")]);
    r.system = vec![tb("You are terse.")];
    out.push(case("system", req(r), |v| v["system"] = json!([])));

    let r = request(vec![
        user("Hello"),
        msg(Role::Developer, vec![text("Answer in French.")]),
    ]);
    out.push(case("developer", req(r), |v| {
        if let Some(a) = v["messages"].as_array_mut() {
            a.remove(1);
        }
    }));

    let r = request(vec![
        user("Hello"),
        msg(Role::Assistant, vec![text("Hi! How can I help?")]),
        user("Tell me a joke."),
    ]);
    out.push(case("multi_turn", req(r), no_drop));

    let r = request(vec![msg(
        Role::User,
        vec![text("Describe this."), ContentBlock::Image(image_inline())],
    )]);
    out.push(case("image_base64", req(r), |v| drop_block(v, 0, 1)));

    let r = request(vec![msg(
        Role::User,
        vec![
            text("Describe this."),
            ContentBlock::Image(ImageBlock {
                source: MediaSource::Url("https://example.com/cat.png".into()),
                media_type: None,
                detail: None,
                cache_control: None,
                extra: None,
            }),
        ],
    )]);
    out.push(case("image_url", req(r), |v| drop_block(v, 0, 1)));

    let r = request(vec![msg(
        Role::User,
        vec![
            text("Summarize this."),
            ContentBlock::Document(DocumentBlock {
                source: inline("application/pdf", PDF),
                media_type: None,
                title: None,
                context: None,
                citations: None,
                filename: None,
                cache_control: None,
                extra: None,
            }),
        ],
    )]);
    out.push(case("document_pdf", req(r), |v| drop_block(v, 0, 1)));

    let r = request(vec![msg(
        Role::User,
        vec![
            text("Transcribe this."),
            ContentBlock::Audio(AudioBlock {
                source: inline("audio/wav", WAV),
                format: Some("wav".into()),
                extra: None,
            }),
        ],
    )]);
    out.push(case("audio", req(r), |v| drop_block(v, 0, 1)));

    out.push(case("tools_function", req(with_tools(None)), |v| {
        v["tools"] = json!([])
    }));
    out.push(case(
        "tool_choice_auto",
        req(with_tools(Some(ToolChoice::Auto))),
        |v| drop_key(v, "tool_choice"),
    ));
    out.push(case(
        "tool_choice_required",
        req(with_tools(Some(ToolChoice::Required))),
        |v| drop_key(v, "tool_choice"),
    ));
    out.push(case(
        "tool_choice_none",
        req(with_tools(Some(ToolChoice::None))),
        |v| drop_key(v, "tool_choice"),
    ));
    out.push(case(
        "tool_choice_tool",
        req(with_tools(Some(ToolChoice::Tool("get_time".into())))),
        |v| drop_key(v, "tool_choice"),
    ));
    let mut r = with_tools(None);
    r.parallel_tool_calls = Some(false);
    out.push(case("parallel_tool_calls_flag", req(r), |v| {
        drop_key(v, "parallel_tool_calls")
    }));

    let mut r = request(vec![
        user("Weather and time in Paris?"),
        msg(
            Role::Assistant,
            vec![
                call("call_w1", "get_weather", r#"{"city":"Paris"}"#),
                call("call_t2", "get_time", r#"{"city":"Paris"}"#),
            ],
        ),
        msg(
            Role::Tool,
            vec![
                result(
                    "call_w1",
                    "get_weather",
                    vec![ToolResultPart::Text("sunny".into())],
                    false,
                ),
                result(
                    "call_t2",
                    "get_time",
                    vec![ToolResultPart::Text("12:00".into())],
                    false,
                ),
            ],
        ),
    ]);
    r.tools = vec![function_tool("get_weather"), function_tool("get_time")];
    out.push(case("parallel_tool_calls_history", req(r), no_drop));

    out.push(case(
        "tool_result_error",
        req(tool_round(result(
            "call_a1",
            "get_weather",
            vec![ToolResultPart::Text("service down".into())],
            true,
        ))),
        |v| v["messages"][2]["content"][0]["is_error"] = json!(false),
    ));
    out.push(case(
        "tool_result_image",
        req(tool_round(result(
            "call_a1",
            "get_weather",
            vec![
                ToolResultPart::Text("radar:".into()),
                ToolResultPart::Image(image_inline()),
            ],
            false,
        ))),
        |v| {
            if let Some(a) = v["messages"][2]["content"][0]["content"].as_array_mut() {
                a.remove(1);
            }
        },
    ));

    let mut r = request(vec![user("Patch the file.")]);
    r.tools = vec![ToolDefinition {
        kind: ToolKind::Custom,
        name: "apply_patch".into(),
        description: Some("Apply a patch".into()),
        parameters: None,
        strict: None,
        namespace: None,
        cache_control: None,
        extra: None,
    }];
    out.push(case("custom_tool", req(r), |v| v["tools"] = json!([])));

    let mut r = request(vec![user("List files.")]);
    r.tools = vec![ToolDefinition {
        namespace: Some("mcp_fs".into()),
        ..function_tool("list_files")
    }];
    out.push(case("namespace_tool", req(r), |v| {
        drop_key(&mut v["tools"][0], "namespace")
    }));

    let mut r = request(vec![user("News today?")]);
    r.tools = vec![ToolDefinition {
        kind: ToolKind::Builtin("web_search".into()),
        name: "web_search".into(),
        description: None,
        parameters: None,
        strict: None,
        namespace: None,
        cache_control: None,
        extra: None,
    }];
    out.push(case("builtin_web_search", req(r), |v| {
        v["tools"] = json!([])
    }));

    let mut r = request(vec![user("Give me a city.")]);
    r.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: Some("city".into()),
        description: None,
        schema: r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}"#.into(),
        strict: Some(true),
    }));
    out.push(case("json_schema", req(r), |v| {
        drop_key(v, "response_format")
    }));

    let mut r = request(vec![user("Think hard.")]);
    // Room for the answer beyond the thinking budget (Anthropic needs it).
    r.sampling.max_tokens = Some(32000);
    r.thinking = Some(ThinkingConfig {
        enabled: true,
        budget_tokens: Some(2048),
        effort: None,
        summary: None,
    });
    out.push(case("thinking_budget", req(r), |v| drop_key(v, "thinking")));

    let mut r = request(vec![user("Think hard.")]);
    // Room for the answer beyond the thinking budget (Anthropic needs it).
    r.sampling.max_tokens = Some(32000);
    r.thinking = Some(ThinkingConfig {
        enabled: true,
        budget_tokens: None,
        effort: Some("high".into()),
        summary: None,
    });
    out.push(case("reasoning_effort", req(r), |v| {
        drop_key(v, "thinking")
    }));

    let r = request(vec![
        user("What is 2+2?"),
        msg(
            Role::Assistant,
            vec![thinking("Two plus two.", Some("sig_abc")), text("4")],
        ),
        user("And 3+3?"),
    ]);
    out.push(case("thinking_history", req(r), |v| drop_block(v, 1, 0)));

    let r = request(vec![
        user("What is 2+2?"),
        msg(
            Role::Assistant,
            vec![ContentBlock::RedactedThinking("opaque==".into()), text("4")],
        ),
        user("And 3+3?"),
    ]);
    out.push(case("redacted_thinking_history", req(r), |v| {
        drop_block(v, 1, 0)
    }));

    let mut r = request(vec![user("Count.")]);
    r.sampling.stop = vec!["END".into(), "STOP".into()];
    out.push(case("stop_sequences", req(r), |v| {
        v["sampling"]["stop"] = json!([])
    }));

    let mut r = request(vec![user("Hello")]);
    r.stream = true;
    r.stream_include_usage = true;
    out.push(case("stream_request", req(r), no_drop));

    // ----- responses -----
    out.push(case(
        "response_text",
        resp(response(vec![text("Hello there")], StopReason::EndTurn)),
        no_drop,
    ));
    out.push(case(
        "response_id_model",
        resp(response(vec![text("Hello there")], StopReason::EndTurn)),
        |v| {
            drop_key(v, "id");
            drop_key(v, "model");
        },
    ));
    for (id, reason) in STOP_REASONS {
        let mut r = response(vec![text("Partial")], reason);
        if reason == StopReason::StopSequence {
            r.stop_sequence = Some("END".into());
        }
        if reason == StopReason::ToolUse {
            r.content = vec![call("call_z9", "get_weather", r#"{"city":"Oslo"}"#)];
        }
        out.push(case(id, resp(r), |v| drop_key(v, "stop_reason")));
    }
    let mut r = response(vec![text("Cached answer")], StopReason::EndTurn);
    r.usage = Usage {
        input_tokens: Some(100),
        output_tokens: Some(50),
        cache_read_tokens: Some(1000),
        cache_write_tokens: Some(200),
        cache_write_1h_tokens: None,
        reasoning_tokens: Some(20),
        extra: None,
    };
    out.push(case("usage_cache_reasoning", resp(r), no_drop));
    out.push(case(
        "response_tool_calls",
        resp(response(
            vec![
                text("Checking."),
                call("call_w1", "get_weather", r#"{"city":"Paris"}"#),
                call("call_t2", "get_time", r#"{"city":"Paris"}"#),
            ],
            StopReason::ToolUse,
        )),
        no_drop,
    ));
    out.push(case(
        "response_thinking",
        resp(response(
            vec![thinking("Let me think.", Some("sig_abc")), text("4")],
            StopReason::EndTurn,
        )),
        |v| {
            if let Some(a) = v["content"].as_array_mut() {
                a.remove(0);
            }
        },
    ));
    out.push(case(
        "response_redacted_thinking",
        resp(response(
            vec![ContentBlock::RedactedThinking("opaque==".into()), text("4")],
            StopReason::EndTurn,
        )),
        |v| {
            if let Some(a) = v["content"].as_array_mut() {
                a.remove(0);
            }
        },
    ));

    // ----- streams -----
    let text_stream = || {
        let mut e = vec![
            start(),
            block_start(0, text("")),
            StreamEvent::TextDelta(delta(0, "Hel")),
            StreamEvent::Ping,
            StreamEvent::TextDelta(delta(0, "lo ")),
            StreamEvent::TextDelta(delta(0, "wörld")),
            StreamEvent::BlockStop(0),
        ];
        e.extend(finish(StopReason::EndTurn));
        e
    };
    out.push(case("stream_text", Input::Stream(text_stream()), no_drop));
    out.push(case("stream_id_model", Input::Stream(text_stream()), |v| {
        drop_key(v, "id");
        drop_key(v, "model");
    }));
    let mut e = vec![
        start(),
        block_start(0, text("")),
        StreamEvent::TextDelta(delta(0, "Checking.")),
        StreamEvent::BlockStop(0),
        block_start(1, call("call_w1", "get_weather", "")),
        StreamEvent::ToolArgumentsDelta(delta(1, r#"{"ci"#)),
        StreamEvent::ToolArgumentsDelta(delta(1, r#"ty":"Paris"}"#)),
        StreamEvent::BlockStop(1),
        block_start(2, call("call_t2", "get_time", "")),
        StreamEvent::ToolArgumentsDelta(delta(2, r#"{"city":"Paris"}"#)),
        StreamEvent::BlockStop(2),
    ];
    e.extend(finish(StopReason::ToolUse));
    out.push(case("stream_tool_calls", Input::Stream(e), no_drop));
    let mut e = vec![
        start(),
        block_start(0, thinking("", None)),
        StreamEvent::ThinkingDelta(delta(0, "Let me ")),
        StreamEvent::ThinkingDelta(delta(0, "think.")),
        StreamEvent::SignatureDelta(delta(0, "sig_abc")),
        StreamEvent::BlockStop(0),
        block_start(1, text("")),
        StreamEvent::TextDelta(delta(1, "4")),
        StreamEvent::BlockStop(1),
    ];
    e.extend(finish(StopReason::EndTurn));
    out.push(case("stream_thinking", Input::Stream(e), |v| {
        if let Some(a) = v["blocks"].as_array_mut() {
            a.remove(0);
        }
    }));
    let mut e = text_stream();
    e.pop();
    e.pop();
    e.push(StreamEvent::Usage(Usage {
        input_tokens: Some(100),
        output_tokens: Some(50),
        cache_read_tokens: Some(1000),
        cache_write_tokens: Some(200),
        cache_write_1h_tokens: None,
        reasoning_tokens: Some(20),
        extra: None,
    }));
    e.push(StreamEvent::Finish(StreamFinish {
        stop_reason: StopReason::EndTurn,
        stop_sequence: None,
    }));
    if let StreamEvent::Start(s) = &mut e[0] {
        s.usage = Usage {
            input_tokens: Some(100),
            output_tokens: None,
            cache_read_tokens: Some(1000),
            cache_write_tokens: Some(200),
            cache_write_1h_tokens: None,
            reasoning_tokens: None,
            extra: None,
        };
    }
    out.push(case("stream_usage", Input::Stream(e), no_drop));

    // ----- errors -----
    for (id, kind, status) in ERRORS {
        out.push(case(id, Input::Error(api_error(kind, status)), no_drop));
    }
    out
}

// ======================================================================
// Running a case through a provider
// ======================================================================

/// Why a round trip produced no value.
#[derive(Debug)]
enum Failure {
    /// A clean dialect error from the named call.
    Api(&'static str, ApiError),
    /// The plugin trapped or broke its contract.
    Plugin(&'static str, String),
}

fn path_model(provider: &str) -> Option<String> {
    matches!(provider, "gemini" | "bedrock" | "azure-openai").then(|| MODEL.to_string())
}

fn stream_query(provider: &str) -> &'static str {
    if provider == "gemini" {
        "alt=sse"
    } else {
        ""
    }
}

macro_rules! call {
    ($stage:literal, $e:expr) => {
        match $e {
            Err(e) => return Err(Failure::Plugin($stage, e.to_string())),
            Ok(Err(api)) => return Err(Failure::Api($stage, api)),
            Ok(Ok(v)) => v,
        }
    };
}

macro_rules! plain {
    ($stage:literal, $e:expr) => {
        match $e {
            Err(e) => return Err(Failure::Plugin($stage, e.to_string())),
            Ok(v) => v,
        }
    };
}

/// Round-trip one case; the value returned is the normalized canonical JSON.
async fn round_trip(p: &ProviderPlugin, id: &str, input: &Input) -> Result<Value, Failure> {
    let provider = p.info.id.as_str();
    match input {
        Input::Request(r) => {
            let target = TargetInfo {
                model: r.model.clone(),
                options: "{}".into(),
            };
            let up = call!(
                "encode-request",
                p.encode_request(Operation::Chat, r, &target).await
            );
            let back = call!(
                "decode-request",
                p.decode_request(Operation::Chat, &up.body, path_model(provider), up.stream)
                    .await
            );
            let mut v = request_json(&back);
            normalize(&mut v);
            Ok(v)
        }
        Input::Response(r) => {
            let body = call!("encode-response", p.encode_response(r).await);
            let back = call!(
                "decode-response",
                p.decode_response(Operation::Chat, &body).await
            );
            let mut v = response_json(&back);
            normalize(&mut v);
            if id != "response_id_model" {
                drop_key(&mut v, "id");
                drop_key(&mut v, "model");
            }
            Ok(v)
        }
        Input::Stream(events) => {
            // The client asked for usage in the stream (OpenAI
            // `stream_options.include_usage`), so every dialect streams it.
            let mut enc = plain!(
                "stream-encoder",
                p.stream_encoder_with_usage(MODEL, stream_query(provider), true)
                    .await
            );
            let mut bytes = call!("stream-encoder.encode", enc.encode(events).await);
            bytes.extend(plain!("stream-encoder.finish", enc.finish().await));
            enc.close().await;
            let mut dec = plain!("stream-decoder", p.stream_decoder(true).await);
            let mut back = Vec::new();
            // Small chunks: events and UTF-8 sequences split anywhere.
            for chunk in bytes.chunks(7) {
                back.extend(call!("stream-decoder.feed", dec.feed(chunk).await));
            }
            back.extend(call!("stream-decoder.finish", dec.finish().await));
            dec.close().await;
            let mut v = fold_stream(&back);
            normalize(&mut v);
            if id != "stream_id_model" {
                drop_key(&mut v, "id");
                drop_key(&mut v, "model");
            }
            Ok(v)
        }
        Input::Error(e) => {
            let http = plain!("encode-error", p.encode_error(e).await);
            let back = plain!(
                "decode-error",
                p.decode_error(http.status, &http.body).await
            );
            Ok(json!({"kind": error_kind_name(back.kind), "status": back.status}))
        }
    }
}

/// The normalized value a case starts from.
fn expected(case: &Case) -> Value {
    let mut v = match &case.input {
        Input::Request(r) => request_json(r),
        Input::Response(r) => response_json(r),
        Input::Stream(e) => fold_stream(e),
        Input::Error(e) => json!({"kind": error_kind_name(e.kind), "status": e.status}),
    };
    normalize(&mut v);
    if matches!(case.input, Input::Response(_) | Input::Stream(_))
        && !matches!(case.id, "response_id_model" | "stream_id_model")
    {
        drop_key(&mut v, "id");
        drop_key(&mut v, "model");
    }
    v
}

// ======================================================================
// Checking a result against its declaration
// ======================================================================

/// What a provider declares for a case.
#[derive(Clone, Copy)]
enum Outcome {
    /// The round trip gives back an equivalent value.
    Supported,
    /// The feature is gone (the case's `drop`), the rest intact, no error.
    Dropped(&'static str),
    /// A clean `api-error` (invalid request), not a trap.
    Error(&'static str),
    /// The value comes back changed exactly as the function says.
    Lossy(&'static str, fn(&mut Value)),
}

impl Outcome {
    /// The declared reason or change (empty for `Supported`).
    fn reason(self) -> &'static str {
        match self {
            Outcome::Supported => "",
            Outcome::Dropped(r) | Outcome::Error(r) | Outcome::Lossy(r, _) => r,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Outcome::Supported => "✓",
            Outcome::Dropped(_) => "dropped",
            Outcome::Error(_) => "error",
            Outcome::Lossy(..) => "lossy",
        }
    }
}

/// Paths where two JSON values differ, for messages.
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(p, q, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: expected {a} got {b}")),
        _ => {}
    }
}

fn diff_text(a: &Value, b: &Value) -> String {
    let mut out = Vec::new();
    diff(a, b, "", &mut out);
    out.join("; ")
}

/// Check one (provider, case); `Err` describes the disagreement.
fn check(case: &Case, outcome: Outcome, got: Result<Value, Failure>) -> Result<(), String> {
    let want = expected(case);
    match (outcome, got) {
        (_, Err(Failure::Plugin(stage, e))) => Err(format!("{stage} trapped: {e}")),
        (Outcome::Error(_), Err(Failure::Api(_, e))) => {
            if e.status >= 400 && !e.message.is_empty() {
                Ok(())
            } else {
                Err(format!("not a clean error: {} {}", e.status, e.message))
            }
        }
        (_, Err(Failure::Api(stage, e))) => Err(format!(
            "{stage} answered {} {:?}: {}",
            e.status, e.kind, e.message
        )),
        (Outcome::Error(_), Ok(v)) => Err(format!("declared error, but it round-tripped: {v}")),
        (Outcome::Supported, Ok(v)) => {
            if v == want {
                Ok(())
            } else {
                Err(format!("not equivalent: {}", diff_text(&want, &v)))
            }
        }
        (Outcome::Dropped(_), Ok(v)) => {
            let mut dropped = want.clone();
            (case.drop)(&mut dropped);
            if dropped == want {
                Err("declared dropped, but the case has nothing to drop".into())
            } else if v == want {
                Err("declared dropped, but it round-trips".into())
            } else if v != dropped {
                Err(format!("not the dropped form: {}", diff_text(&dropped, &v)))
            } else {
                Ok(())
            }
        }
        (Outcome::Lossy(_, change), Ok(v)) => {
            let mut changed = want.clone();
            change(&mut changed);
            if v == want {
                Err("declared lossy, but it round-trips".into())
            } else if v != changed {
                Err(format!(
                    "not the stated change: {}",
                    diff_text(&changed, &v)
                ))
            } else {
                Ok(())
            }
        }
    }
}

const PROVIDERS: [&str; 7] = [
    "anthropic",
    "openai",
    "openai-compatible",
    "azure-openai",
    "openai-responses",
    "gemini",
    "bedrock",
];

#[test]
fn every_provider_meets_its_declarations() {
    let started = std::time::Instant::now();
    let limits = CallLimits::default();
    let engine = PluginEngine::new(None, limits).expect("engine");
    let set = PluginSet::load(&engine, limits, QuarantinePolicy::default(), None, None);
    let cases = cases();
    let mut failures = Vec::new();
    for provider in PROVIDERS {
        let p = set.provider(provider).expect("built-in provider");
        let table = declared(provider);
        for case in &cases {
            let Some(outcome) = table.get(case.id).copied() else {
                failures.push(format!("{provider}/{}: no declaration", case.id));
                continue;
            };
            let got = block_on(round_trip(&p, case.id, &case.input));
            if let Err(e) = check(case, outcome, got) {
                failures.push(format!(
                    "{provider}/{} (declared {} {:?}): {e}",
                    case.id,
                    outcome.word(),
                    outcome.reason()
                ));
            }
        }
    }
    eprintln!(
        "conformance: {} providers × {} cases in {:?}",
        PROVIDERS.len(),
        cases.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ======================================================================
// The declared capability tables
// ======================================================================

const S: Outcome = Outcome::Supported;

/// The schema a free-form (custom) tool is sent as where the dialect has none.
fn custom_as_function(v: &mut Value) {
    v["tools"][0]["kind"] = json!("function");
    v["tools"][0]["parameters"] = json!({"type": "object", "properties": {"input": {
        "type": "string",
        "description": "The tool's raw input text, exactly as the tool description specifies."}},
        "required": ["input"]});
}

fn namespace_flattened(v: &mut Value) {
    v["tools"][0]["name"] = json!("mcp_fs__list_files");
    drop_key(&mut v["tools"][0], "namespace");
}

fn no_include_usage(v: &mut Value) {
    drop_key(v, "stream_include_usage");
    v["stream_include_usage"] = json!(false);
}

/// An overloaded error answered with 503: 529 means nothing outside Anthropic.
fn status_503(v: &mut Value) {
    v["status"] = json!(503);
}

fn stop_becomes(v: &mut Value, to: &str) {
    v["stop_reason"] = json!(to);
    drop_key(v, "stop_sequence");
}

/// Cache writes folded into `input_tokens` (OpenAI counts them as prompt tokens).
fn cache_writes_in_input(v: &mut Value) {
    let u = &mut v["usage"];
    u["input_tokens"] = json!(300);
    drop_key(u, "cache_write_tokens");
}

fn no_reasoning_tokens(v: &mut Value) {
    drop_key(&mut v["usage"], "reasoning_tokens");
}

fn document_named(v: &mut Value, key: &str, name: &str) {
    v["messages"][0]["content"][1][key] = json!(name);
}

/// What every dialect column shares: the stop reasons, errors and plain cases.
fn common() -> Vec<(&'static str, Outcome)> {
    vec![
        ("text", S),
        ("system", S),
        ("multi_turn", S),
        ("image_base64", S),
        ("tools_function", S),
        ("tool_choice_auto", S),
        ("tool_choice_required", S),
        ("tool_choice_tool", S),
        ("parallel_tool_calls_history", S),
        ("response_text", S),
        ("stop_end_turn", S),
        ("stop_max_tokens", S),
        ("stop_tool_use", S),
        ("response_tool_calls", S),
        ("stream_text", S),
        ("stream_tool_calls", S),
        ("error_400", S),
        ("error_401", S),
        ("error_403", S),
        ("error_404", S),
        ("error_429", S),
        ("error_500", S),
    ]
}

fn anthropic() -> Vec<(&'static str, Outcome)> {
    vec![
        (
            "developer",
            Outcome::Lossy("sent as a `system`-role message", |v| {
                v["messages"][1]["role"] = json!("system");
            }),
        ),
        ("image_url", S),
        ("document_pdf", S),
        ("audio", Outcome::Error("Anthropic has no audio input")),
        ("tool_choice_none", S),
        (
            "parallel_tool_calls_flag",
            Outcome::Lossy("needs a tool_choice: auto is added", |v| {
                v["tool_choice"] = json!("auto");
            }),
        ),
        ("tool_result_error", S),
        ("tool_result_image", S),
        (
            "custom_tool",
            Outcome::Lossy("a function taking {input: string}", custom_as_function),
        ),
        (
            "namespace_tool",
            Outcome::Lossy("name flattened to ns__name", namespace_flattened),
        ),
        (
            "builtin_web_search",
            Outcome::Lossy("becomes web_search_20250305", |v| {
                v["tools"][0]["kind"] = json!({"builtin": "web_search_20250305"});
            }),
        ),
        (
            "json_schema",
            Outcome::Lossy(
                "sent as output_config.format; schema name and strict are not sent",
                |v| {
                    let j = &mut v["response_format"]["json_schema"];
                    drop_key(j, "name");
                    drop_key(j, "strict");
                },
            ),
        ),
        ("thinking_budget", S),
        (
            "reasoning_effort",
            Outcome::Lossy("effort becomes a budget (high = 16384)", |v| {
                v["thinking"] = json!({"enabled": true, "budget_tokens": 16384});
            }),
        ),
        ("thinking_history", S),
        ("redacted_thinking_history", S),
        ("stop_sequences", S),
        (
            "stream_request",
            Outcome::Lossy("usage is always streamed", no_include_usage),
        ),
        ("response_id_model", S),
        ("stop_stop_sequence", S),
        (
            "stop_content_filter",
            Outcome::Lossy("becomes refusal", |v| stop_becomes(v, "refusal")),
        ),
        ("stop_pause_turn", S),
        ("stop_refusal", S),
        ("stop_context_length", S),
        (
            "stop_error",
            Outcome::Lossy("becomes end_turn", |v| stop_becomes(v, "end_turn")),
        ),
        (
            "stop_other",
            Outcome::Lossy("becomes end_turn", |v| stop_becomes(v, "end_turn")),
        ),
        (
            "usage_cache_reasoning",
            Outcome::Lossy("no reasoning count", no_reasoning_tokens),
        ),
        ("response_thinking", S),
        ("response_redacted_thinking", S),
        ("stream_id_model", S),
        ("stream_thinking", S),
        (
            "stream_usage",
            Outcome::Lossy("no reasoning count", no_reasoning_tokens),
        ),
        ("error_413", S),
        ("error_529", S),
    ]
}

fn chat(provider: &str) -> Vec<(&'static str, Outcome)> {
    let openai = provider == "openai";
    let compatible = provider == "openai-compatible";
    vec![
        (
            "developer",
            if openai {
                S
            } else {
                Outcome::Lossy("sent as system (developer_role off)", |v| {
                    v["messages"][1]["role"] = json!("system");
                })
            },
        ),
        ("image_url", S),
        (
            "document_pdf",
            Outcome::Lossy("a file name is made up", |v| {
                document_named(v, "filename", "document.pdf");
            }),
        ),
        ("audio", S),
        ("tool_choice_none", S),
        ("parallel_tool_calls_flag", S),
        (
            "tool_result_error",
            Outcome::Dropped("tool messages have no error flag"),
        ),
        (
            "tool_result_image",
            Outcome::Lossy("media move to a user message after the tool message", |v| {
                let image = v["messages"][2]["content"][0]["content"][1].clone();
                v["messages"][2]["content"][0]["content"] =
                    json!([{"type": "text", "text": "radar:"}]);
                if let Some(m) = v["messages"].as_array_mut() {
                    m.push(json!({"role": "user", "content": [
                    {"type": "text", "text": "Attachments returned by tool call call_a1:"},
                    image]}));
                }
            }),
        ),
        ("custom_tool", S),
        (
            "namespace_tool",
            Outcome::Lossy("name flattened to ns__name", namespace_flattened),
        ),
        ("builtin_web_search", S),
        ("json_schema", S),
        (
            "thinking_budget",
            Outcome::Lossy("budget becomes an effort (2048 = medium)", |v| {
                v["thinking"] = json!({"enabled": true, "effort": "medium"});
            }),
        ),
        ("reasoning_effort", S),
        (
            "thinking_history",
            Outcome::Dropped("no reasoning input field"),
        ),
        (
            "redacted_thinking_history",
            Outcome::Dropped("no reasoning input field"),
        ),
        ("stop_sequences", S),
        ("stream_request", S),
        ("response_id_model", S),
        (
            "stop_stop_sequence",
            Outcome::Lossy("finish_reason stop", |v| stop_becomes(v, "end_turn")),
        ),
        ("stop_content_filter", S),
        (
            "stop_pause_turn",
            Outcome::Lossy("finish_reason stop", |v| stop_becomes(v, "end_turn")),
        ),
        (
            "stop_refusal",
            Outcome::Lossy("finish_reason content_filter", |v| {
                stop_becomes(v, "content_filter")
            }),
        ),
        (
            "stop_context_length",
            Outcome::Lossy("finish_reason length", |v| stop_becomes(v, "max_tokens")),
        ),
        (
            "stop_error",
            Outcome::Lossy("finish_reason stop", |v| stop_becomes(v, "end_turn")),
        ),
        (
            "stop_other",
            Outcome::Lossy("finish_reason stop", |v| stop_becomes(v, "end_turn")),
        ),
        (
            "usage_cache_reasoning",
            Outcome::Lossy("cache writes counted as input", cache_writes_in_input),
        ),
        (
            "response_thinking",
            if compatible {
                Outcome::Lossy("reasoning_content has no signature", |v| {
                    drop_key(&mut v["content"][0], "signature");
                })
            } else {
                Outcome::Dropped("no reasoning field in Chat Completions answers")
            },
        ),
        (
            "response_redacted_thinking",
            Outcome::Dropped("no field for encrypted reasoning"),
        ),
        ("stream_id_model", S),
        (
            "stream_thinking",
            if compatible {
                Outcome::Lossy("reasoning_content has no signature", |v| {
                    drop_key(&mut v["blocks"][0], "signature");
                })
            } else {
                Outcome::Dropped("no reasoning delta in Chat Completions streams")
            },
        ),
        (
            "stream_usage",
            Outcome::Lossy("cache writes counted as input", cache_writes_in_input),
        ),
        ("error_413", S),
        (
            "error_529",
            Outcome::Lossy("answered 503 (529 is Anthropic's alone)", status_503),
        ),
    ]
}

fn responses() -> Vec<(&'static str, Outcome)> {
    vec![
        ("developer", S),
        ("image_url", S),
        (
            "document_pdf",
            Outcome::Lossy("a file name is made up", |v| {
                document_named(v, "filename", "document.pdf");
            }),
        ),
        ("audio", S),
        ("tool_choice_none", S),
        ("parallel_tool_calls_flag", S),
        (
            "tool_result_error",
            Outcome::Dropped("function_call_output has no error flag"),
        ),
        ("tool_result_image", S),
        ("custom_tool", S),
        ("namespace_tool", S),
        ("builtin_web_search", S),
        ("json_schema", S),
        (
            "thinking_budget",
            Outcome::Lossy("budget becomes an effort (2048 = low), summary auto", |v| {
                v["thinking"] = json!({"enabled": true, "effort": "low", "summary": "auto"});
            }),
        ),
        ("reasoning_effort", S),
        ("thinking_history", S),
        ("redacted_thinking_history", S),
        (
            "stop_sequences",
            Outcome::Dropped("Responses has no stop sequences"),
        ),
        (
            "stream_request",
            Outcome::Lossy("usage is always streamed", no_include_usage),
        ),
        ("response_id_model", S),
        (
            "stop_stop_sequence",
            Outcome::Lossy("status completed", |v| stop_becomes(v, "end_turn")),
        ),
        ("stop_content_filter", S),
        (
            "stop_pause_turn",
            Outcome::Lossy("status completed", |v| stop_becomes(v, "end_turn")),
        ),
        (
            "stop_refusal",
            Outcome::Lossy("status completed", |v| stop_becomes(v, "end_turn")),
        ),
        (
            "stop_context_length",
            Outcome::Lossy("incomplete: max_output_tokens", |v| {
                stop_becomes(v, "max_tokens")
            }),
        ),
        (
            "stop_error",
            Outcome::Error("a failed response decodes as an api-error"),
        ),
        (
            "stop_other",
            Outcome::Lossy("status completed", |v| stop_becomes(v, "end_turn")),
        ),
        (
            "usage_cache_reasoning",
            Outcome::Lossy("cache writes counted as input", cache_writes_in_input),
        ),
        ("response_thinking", S),
        ("response_redacted_thinking", S),
        ("stream_id_model", S),
        ("stream_thinking", S),
        (
            "stream_usage",
            Outcome::Lossy("cache writes counted as input", cache_writes_in_input),
        ),
        ("error_413", S),
        (
            "error_529",
            Outcome::Lossy("answered 503 (529 is Anthropic's alone)", status_503),
        ),
    ]
}

fn gemini() -> Vec<(&'static str, Outcome)> {
    vec![
        (
            "developer",
            Outcome::Lossy("a user turn", |v| {
                v["messages"][1]["role"] = json!("user");
            }),
        ),
        (
            "image_url",
            Outcome::Lossy("fileData without mimeType comes back a document", |v| {
                v["messages"][0]["content"][1]["type"] = json!("document");
            }),
        ),
        ("document_pdf", S),
        (
            "audio",
            Outcome::Lossy("format comes back as the media type", |v| {
                v["messages"][0]["content"][1]["format"] = json!("audio/wav");
            }),
        ),
        ("tool_choice_none", S),
        (
            "parallel_tool_calls_flag",
            Outcome::Dropped("no parallel switch in Gemini"),
        ),
        ("tool_result_error", S),
        (
            "tool_result_image",
            Outcome::Lossy(
                "the image follows the functionResponse as a sibling part",
                |v| {
                    let image = v["messages"][2]["content"][0]["content"][1].clone();
                    v["messages"][2]["content"][0]["content"] =
                        json!([{"type": "text", "text": "radar:"}]);
                    if let Some(c) = v["messages"][2]["content"].as_array_mut() {
                        c.push(image);
                    }
                    v["messages"][2]["role"] = json!("user");
                },
            ),
        ),
        (
            "custom_tool",
            Outcome::Lossy("a function taking {input: string}", custom_as_function),
        ),
        (
            "namespace_tool",
            Outcome::Lossy("name flattened to ns__name", namespace_flattened),
        ),
        (
            "builtin_web_search",
            Outcome::Lossy("becomes google_search", |v| {
                v["tools"][0]["kind"] = json!({"builtin": "google_search"});
                v["tools"][0]["name"] = json!("google_search");
            }),
        ),
        (
            "json_schema",
            Outcome::Lossy("schema name and strict are not sent", |v| {
                let j = &mut v["response_format"]["json_schema"];
                drop_key(j, "name");
                drop_key(j, "strict");
            }),
        ),
        ("thinking_budget", S),
        (
            "reasoning_effort",
            Outcome::Lossy("effort becomes a budget (high = 24576)", |v| {
                v["thinking"] = json!({"enabled": true, "budget_tokens": 24576});
            }),
        ),
        ("thinking_history", S),
        (
            "redacted_thinking_history",
            Outcome::Dropped("Gemini has no redacted thinking"),
        ),
        ("stop_sequences", S),
        (
            "stream_request",
            Outcome::Lossy("usage is always streamed", no_include_usage),
        ),
        ("response_id_model", S),
        (
            "stop_stop_sequence",
            Outcome::Lossy("finishReason STOP", |v| stop_becomes(v, "end_turn")),
        ),
        ("stop_content_filter", S),
        (
            "stop_pause_turn",
            Outcome::Lossy("finishReason STOP", |v| stop_becomes(v, "end_turn")),
        ),
        (
            "stop_refusal",
            Outcome::Lossy("finishReason SAFETY", |v| stop_becomes(v, "content_filter")),
        ),
        (
            "stop_context_length",
            Outcome::Lossy("finishReason MAX_TOKENS", |v| stop_becomes(v, "max_tokens")),
        ),
        (
            "stop_error",
            Outcome::Lossy("finishReason OTHER", |v| stop_becomes(v, "other")),
        ),
        ("stop_other", S),
        (
            "usage_cache_reasoning",
            Outcome::Lossy("cache writes counted as input", cache_writes_in_input),
        ),
        ("response_thinking", S),
        (
            "response_redacted_thinking",
            Outcome::Dropped("Gemini has no redacted thinking"),
        ),
        ("stream_id_model", S),
        ("stream_thinking", S),
        (
            "stream_usage",
            Outcome::Lossy("cache writes counted as input", cache_writes_in_input),
        ),
        ("error_413", S),
        (
            "error_529",
            Outcome::Lossy("answered 503 (529 is Anthropic's alone)", status_503),
        ),
    ]
}

fn bedrock() -> Vec<(&'static str, Outcome)> {
    vec![
        (
            "developer",
            Outcome::Lossy("joins the top-level system", |v| {
                let m = v["messages"][1]["content"].clone();
                v["system"] = m;
                if let Some(a) = v["messages"].as_array_mut() {
                    a.remove(1);
                }
            }),
        ),
        (
            "image_url",
            Outcome::Error("Converse takes image bytes or s3:// only"),
        ),
        (
            "document_pdf",
            Outcome::Lossy("a document name is made up", |v| {
                document_named(v, "title", "document");
            }),
        ),
        ("audio", Outcome::Error("Converse has no audio input")),
        (
            "tool_choice_none",
            Outcome::Lossy("no `none` choice: the tools are not sent", |v| {
                v["tools"] = json!([]);
                drop_key(v, "tool_choice");
            }),
        ),
        (
            "parallel_tool_calls_flag",
            Outcome::Dropped("no parallel switch in Converse"),
        ),
        ("tool_result_error", S),
        ("tool_result_image", S),
        (
            "custom_tool",
            Outcome::Lossy("a function taking {input: string}", custom_as_function),
        ),
        (
            "namespace_tool",
            Outcome::Lossy("name flattened to ns__name", namespace_flattened),
        ),
        (
            "builtin_web_search",
            Outcome::Error("no provider-hosted tools in Converse"),
        ),
        (
            "json_schema",
            Outcome::Lossy("strict is not sent", |v| {
                drop_key(&mut v["response_format"]["json_schema"], "strict");
            }),
        ),
        (
            "thinking_budget",
            Outcome::Dropped("sent only for Claude model ids"),
        ),
        (
            "reasoning_effort",
            Outcome::Dropped("sent only for Claude model ids"),
        ),
        ("thinking_history", S),
        ("redacted_thinking_history", S),
        ("stop_sequences", S),
        (
            "stream_request",
            Outcome::Lossy("usage is always streamed", no_include_usage),
        ),
        (
            "response_id_model",
            Outcome::Lossy("Converse answers carry no id or model", |v| {
                v["id"] = json!("");
                v["model"] = json!("");
            }),
        ),
        ("stop_stop_sequence", S),
        ("stop_content_filter", S),
        (
            "stop_pause_turn",
            Outcome::Lossy("becomes end_turn", |v| stop_becomes(v, "end_turn")),
        ),
        (
            "stop_refusal",
            Outcome::Lossy("becomes content_filtered", |v| {
                stop_becomes(v, "content_filter")
            }),
        ),
        ("stop_context_length", S),
        ("stop_error", S),
        (
            "stop_other",
            Outcome::Lossy("becomes end_turn", |v| stop_becomes(v, "end_turn")),
        ),
        (
            "usage_cache_reasoning",
            Outcome::Lossy("no reasoning count", no_reasoning_tokens),
        ),
        ("response_thinking", S),
        ("response_redacted_thinking", S),
        (
            "stream_id_model",
            Outcome::Lossy("Converse streams carry no id or model", |v| {
                v["id"] = json!("");
                v["model"] = json!("");
            }),
        ),
        ("stream_thinking", S),
        (
            "stream_usage",
            Outcome::Lossy("no reasoning count", no_reasoning_tokens),
        ),
        ("error_413", S),
        (
            "error_529",
            Outcome::Lossy("answered 503 (529 is Anthropic's alone)", status_503),
        ),
    ]
}

/// The declared table of a provider: every case, exactly once.
fn declared(provider: &str) -> BTreeMap<&'static str, Outcome> {
    let own = match provider {
        "anthropic" => anthropic(),
        "openai" | "openai-compatible" | "azure-openai" => chat(provider),
        "openai-responses" => responses(),
        "gemini" => gemini(),
        "bedrock" => bedrock(),
        _ => Vec::new(),
    };
    let mut table = BTreeMap::new();
    for (id, o) in common().into_iter().chain(own) {
        assert!(
            table.insert(id, o).is_none(),
            "{provider}: `{id}` is declared twice"
        );
    }
    table
}

// ======================================================================
// The matrix in docs/translation.md
// ======================================================================

/// Providers behind each dialect column of the matrix.
const COLUMNS: [(&str, &[&str]); 5] = [
    ("Anthropic", &["anthropic"]),
    (
        "Chat Completions",
        &["openai", "openai-compatible", "azure-openai"],
    ),
    ("Responses", &["openai-responses"]),
    ("Gemini", &["gemini"]),
    ("Bedrock Converse", &["bedrock"]),
];

/// Short names for per-provider overrides inside a Chat Completions cell
/// (`dropped[^n]; compatible: ✓[^m]`).
fn override_provider(short: &str) -> Option<&'static str> {
    match short.trim() {
        "openai" => Some("openai"),
        "compatible" => Some("openai-compatible"),
        "azure" => Some("azure-openai"),
        _ => None,
    }
}

fn split_row(line: &str) -> Vec<String> {
    let t = line.trim().trim_start_matches('|').trim_end_matches('|');
    t.split('|').map(|c| c.trim().to_string()).collect()
}

/// Footnote references in a cell part, and the part without them.
fn strip_footnotes(s: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut notes = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("[^") {
        out.push_str(&rest[..i]);
        match rest[i..].find(']') {
            Some(j) => {
                notes.push(rest[i + 2..i + j].to_string());
                rest = &rest[i + j + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    (out.trim().to_string(), notes)
}

fn outcome_word(s: &str) -> Option<&'static str> {
    match s.trim() {
        "✓" => Some("✓"),
        "dropped" => Some("dropped"),
        "error" => Some("error"),
        "lossy" => Some("lossy"),
        _ => None,
    }
}

/// (provider, case) → outcome word, from every matrix table of the doc; plus the
/// footnotes referenced and the footnotes defined.
type Matrix = BTreeMap<(String, String), String>;

fn parse_matrix(doc: &str) -> Result<(Matrix, BTreeSet<String>, BTreeSet<String>), String> {
    let mut cells = Matrix::new();
    let mut referenced = BTreeSet::new();
    let mut defined = BTreeSet::new();
    let mut columns: Option<Vec<Option<usize>>> = None;
    for (n, line) in doc.lines().enumerate() {
        let n = n + 1;
        if let Some(rest) = line.strip_prefix("[^") {
            if let Some(j) = rest.find("]:") {
                defined.insert(rest[..j].to_string());
            }
        }
        if !line.trim_start().starts_with('|') {
            columns = None;
            continue;
        }
        let row = split_row(line);
        if row.first().map(String::as_str) == Some("Feature") {
            let idx: Vec<Option<usize>> = COLUMNS
                .iter()
                .map(|(name, _)| row.iter().position(|c| c == name))
                .collect();
            if idx.iter().any(Option::is_none) {
                return Err(format!("line {n}: matrix header lacks a dialect column"));
            }
            columns = Some(idx);
            continue;
        }
        let Some(idx) = &columns else { continue };
        if row.iter().all(|c| c.chars().all(|ch| "-: ".contains(ch))) {
            continue;
        }
        let case_id = row
            .get(1)
            .map(|c| c.trim_matches('`').to_string())
            .ok_or_else(|| format!("line {n}: no case column"))?;
        for ((_, providers), i) in COLUMNS.iter().zip(idx) {
            let cell = row
                .get(i.unwrap_or(usize::MAX))
                .ok_or_else(|| format!("line {n}: missing cell"))?;
            let mut parts = cell.split(';');
            let (base, notes) = strip_footnotes(parts.next().unwrap_or(""));
            let base_word =
                outcome_word(&base).ok_or_else(|| format!("line {n}: unknown cell `{base}`"))?;
            if base_word != "✓" && notes.is_empty() {
                return Err(format!("line {n}: `{cell}` needs a footnote"));
            }
            referenced.extend(notes);
            for p in providers.iter() {
                cells.insert((p.to_string(), case_id.clone()), base_word.to_string());
            }
            for part in parts {
                let (text, notes) = strip_footnotes(part);
                let (who, what) = text
                    .split_once(':')
                    .ok_or_else(|| format!("line {n}: override `{part}` is not `who: outcome`"))?;
                let p = override_provider(who)
                    .filter(|p| providers.contains(p))
                    .ok_or_else(|| format!("line {n}: unknown provider `{who}`"))?;
                let word =
                    outcome_word(what).ok_or_else(|| format!("line {n}: unknown cell `{what}`"))?;
                if word != "✓" && notes.is_empty() {
                    return Err(format!("line {n}: `{part}` needs a footnote"));
                }
                referenced.extend(notes);
                cells.insert((p.to_string(), case_id.clone()), word.to_string());
            }
        }
    }
    Ok((cells, referenced, defined))
}

#[test]
fn every_provider_declares_every_case() {
    let ids: Vec<&str> = cases().iter().map(|c| c.id).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "case ids repeat");
    let mut missing = Vec::new();
    for provider in PROVIDERS {
        let table = declared(provider);
        for id in &ids {
            if !table.contains_key(id) {
                missing.push(format!("{provider}/{id}: undeclared"));
            }
        }
        for id in table.keys() {
            if !unique.contains(id) {
                missing.push(format!("{provider}/{id}: declared, but no such case"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn translation_doc_matrix_matches_declarations() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/translation.md");
    let doc = std::fs::read_to_string(&path).expect("docs/translation.md");
    let (cells, referenced, defined) = parse_matrix(&doc).expect("matrix parses");
    let mut wrong = Vec::new();
    for provider in PROVIDERS {
        let table = declared(provider);
        for c in cases() {
            let declared = table.get(c.id).map_or("undeclared", |o| o.word());
            match cells.get(&(provider.to_string(), c.id.to_string())) {
                None => wrong.push(format!("{provider}/{}: not in the doc matrix", c.id)),
                Some(w) if w != declared => wrong.push(format!(
                    "{provider}/{}: doc says {w}, suite declares {declared}",
                    c.id
                )),
                Some(_) => {}
            }
        }
    }
    let known: BTreeSet<&str> = cases().iter().map(|c| c.id).collect();
    for (_, id) in cells.keys() {
        if !known.contains(id.as_str()) {
            wrong.push(format!("doc matrix row `{id}` is not a case"));
        }
    }
    for r in referenced.difference(&defined) {
        wrong.push(format!("footnote [^{r}] is referenced but not defined"));
    }
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
