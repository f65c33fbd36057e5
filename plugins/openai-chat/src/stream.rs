//! `chat.completion.chunk` SSE streams: a decoder (upstream bytes → canonical events)
//! and an encoder (canonical events → the chunk stream an OpenAI SDK reads).
//!
//! Decoding: chunk deltas are flat (`content`, `reasoning_content`, `refusal`,
//! `tool_calls[].index`) while canonical blocks are positioned; the decoder opens a
//! block when a new kind of delta (or a new tool-call index) arrives and closes the
//! previous one, so blocks come out one after another like Anthropic's.
//!
//! Encoding: the first chunk carries the role; text, refusal and (on flavors that show
//! it) thinking become `content` / `refusal` / `reasoning_content` deltas; each tool
//! call gets its own `tool_calls[].index`, with `id`, `type` and name on its first
//! delta and argument pieces after. The `finish_reason` chunk, usage and
//! `data: [DONE]` are written by `finish`. Errors become `data: {"error":{…}}`, which
//! the OpenAI SDKs raise as `APIError`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use tollgate_sdk::json::snippet;
use tollgate_sdk::provider::{
    ApiError, BlockDelta, BlockStart, ContentBlock, GuestStreamDecoder, GuestStreamEncoder,
    StopReason, StreamEvent, StreamFinish, StreamStart, TextBlock, ThinkingBlock, ToolCall,
    ToolKind, Usage,
};
use tollgate_sdk::sse::{write_event, SseEvent, SseParser};

use crate::translate::{is_refusal, refusal_extra};
use crate::wire::{self, error_body, stop_reason_from, stop_reason_to};
use crate::{Flavor, Flavored};

// ----- decoder -----

/// The parts of a chunk the decoder reads; everything else is ignored. Strings
/// borrow from the event's data when they can.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Chunk<'a> {
    #[serde(borrow, deserialize_with = "opt_cow")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "opt_cow")]
    model: Option<Cow<'a, str>>,
    choices: Option<Vec<Choice>>,
    usage: Option<Value>,
    error: Option<Value>,
    #[serde(borrow, deserialize_with = "opt_cow")]
    object: Option<Cow<'a, str>>,
    /// Groq puts the stream's usage here.
    x_groq: Option<Value>,
}

/// An optional string that borrows from the input when it has no escapes (serde
/// borrows a bare `Cow<str>` field, not one inside an `Option`).
fn opt_cow<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'de>>::deserialize(d)?.map(|b| b.0))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Choice {
    index: Option<u64>,
    delta: Option<Delta>,
    finish_reason: Option<String>,
    /// vLLM: the stop string (or token id) that ended generation.
    stop_reason: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Delta {
    content: Option<Value>,
    reasoning_content: Option<Value>,
    reasoning: Option<Value>,
    refusal: Option<String>,
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ToolCallDelta {
    index: Option<u64>,
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    function: Option<FnDelta>,
    custom: Option<CustomDelta>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FnDelta {
    name: Option<String>,
    arguments: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CustomDelta {
    name: Option<String>,
    input: Option<String>,
}

/// What a canonical block collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Thinking,
    Text,
    Refusal,
    /// A tool call, by its canonical index.
    Tool(u32),
}

/// A tool call of the stream.
struct ToolSlot {
    /// The upstream's `tool_calls[].index`.
    key: u64,
    /// Its canonical block index.
    index: u32,
    /// Its id, if the upstream sent one.
    id: String,
}

/// Decoder state, fed chunk by chunk.
#[derive(Default)]
pub struct DecodeState {
    with_content: bool,
    parser: SseParser,
    started: bool,
    /// Next canonical block index.
    next_index: u32,
    /// The open block.
    open: Option<(Slot, u32)>,
    /// Every tool call seen.
    tools: Vec<ToolSlot>,
    usage: Usage,
    had_tool_calls: bool,
    had_refusal: bool,
    saw_finish: bool,
    saw_done: bool,
    saw_error: bool,
}

fn upstream_json(data: &str) -> Result<Chunk<'_>, ApiError> {
    serde_json::from_str(data).map_err(|e| {
        ApiError::bad_gateway(format!(
            "upstream stream sent invalid JSON ({e}): {}",
            snippet(data.as_bytes(), 120)
        ))
    })
}

/// A string value, or `""`.
fn string_of(v: Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn text_of(v: Option<&Value>) -> &str {
    match v {
        Some(Value::String(s)) => s,
        _ => "",
    }
}

impl DecodeState {
    /// A decoder; see `stream-decoder` in the WIT for `with_content`.
    pub fn new(with_content: bool) -> DecodeState {
        DecodeState {
            with_content,
            ..DecodeState::default()
        }
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((_, index)) = self.open.take() {
            out.push(StreamEvent::BlockStop(index));
        }
    }

    /// Make `slot` the open block (opening a new one with `block` if needed) and
    /// return its index.
    fn open(&mut self, slot: Slot, block: ContentBlock, out: &mut Vec<StreamEvent>) -> u32 {
        if let Some((s, i)) = self.open {
            if s == slot {
                return i;
            }
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((slot, index));
        out.push(StreamEvent::BlockStart(BlockStart { index, block }));
        index
    }

    fn delta_text(&mut self, slot: Slot, text: String, out: &mut Vec<StreamEvent>) {
        if text.is_empty() {
            return;
        }
        let index = match self.open {
            Some((s, i)) if s == slot => i,
            _ => self.open(slot, Self::empty_block(slot), out),
        };
        let d = BlockDelta { index, text };
        out.push(match slot {
            Slot::Thinking => StreamEvent::ThinkingDelta(d),
            _ => StreamEvent::TextDelta(d),
        });
    }

    /// The (empty) block a text-like slot opens with.
    fn empty_block(slot: Slot) -> ContentBlock {
        match slot {
            Slot::Thinking => ContentBlock::Thinking(ThinkingBlock {
                text: String::new(),
                signature: None,
                extra: None,
            }),
            Slot::Refusal => ContentBlock::Text(TextBlock {
                text: String::new(),
                cache_control: None,
                citations: None,
                extra: refusal_extra(),
            }),
            _ => ContentBlock::Text(TextBlock {
                text: String::new(),
                cache_control: None,
                citations: None,
                extra: None,
            }),
        }
    }

    fn tool_delta(&mut self, tc: &ToolCallDelta, out: &mut Vec<StreamEvent>) {
        let id = tc.id.as_deref().filter(|s| !s.is_empty());
        let existing = match tc.index {
            Some(key) => self.tools.iter().rev().find(|t| t.key == key),
            // Servers that omit `index`: a known id continues its call, a new id
            // starts one, no id continues the last.
            None => match id {
                Some(id) => self.tools.iter().find(|t| t.id == id),
                None => self.tools.last(),
            },
        }
        // A different id under a known index is a new call (some servers number
        // every call 0).
        .filter(|t| id.is_none_or(|id| t.id.is_empty() || t.id == id))
        .map(|t| t.index);
        let custom = tc.kind.as_deref() == Some("custom") || tc.custom.is_some();
        let args = if custom {
            tc.custom
                .as_ref()
                .and_then(|c| c.input.clone())
                .unwrap_or_default()
        } else {
            match tc.function.as_ref().and_then(|f| f.arguments.as_ref()) {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => String::new(),
                Some(other) => other.to_string(),
            }
        };
        let index = match existing {
            Some(i) => i,
            None => {
                let name = if custom {
                    tc.custom.as_ref().and_then(|c| c.name.clone())
                } else {
                    tc.function.as_ref().and_then(|f| f.name.clone())
                };
                let block = ContentBlock::ToolCall(ToolCall {
                    id: id.unwrap_or_default().to_string(),
                    name: name.unwrap_or_default(),
                    arguments: String::new(),
                    kind: if custom {
                        ToolKind::Custom
                    } else {
                        ToolKind::Function
                    },
                    namespace: None,
                    cache_control: None,
                    extra: None,
                });
                let key = tc
                    .index
                    .unwrap_or_else(|| self.tools.iter().map(|t| t.key + 1).max().unwrap_or(0));
                self.close(out);
                let index = self.open(Slot::Tool(self.next_index), block, out);
                self.tools.push(ToolSlot {
                    key,
                    index,
                    id: id.unwrap_or_default().to_string(),
                });
                index
            }
        };
        if !args.is_empty() {
            out.push(StreamEvent::ToolArgumentsDelta(BlockDelta {
                index,
                text: args,
            }));
        }
    }

    fn on_event(&mut self, e: SseEvent<'_>, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        let data = e.data.trim();
        if data == "[DONE]" {
            self.saw_done = true;
            if self.with_content {
                self.close(out);
            }
            return Ok(());
        }
        // Nothing counts after `[DONE]` or an error.
        if self.saw_done || self.saw_error || data.is_empty() {
            return Ok(());
        }
        let chunk = upstream_json(data)?;
        let is_error = e.event == "error"
            || chunk.error.as_ref().is_some_and(|v| !v.is_null())
            || chunk.object.as_deref() == Some("error");
        if is_error {
            let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
            let err = wire::stream_error(&v)
                .or_else(|| wire::stream_error(&json!({"error": v})))
                .unwrap_or_else(|| ApiError::bad_gateway("upstream stream reported an error"));
            self.saw_error = true;
            out.push(StreamEvent::Error(err));
            return Ok(());
        }
        let choices = chunk.choices.unwrap_or_default();
        if !self.started
            && (chunk.id.as_deref().is_some_and(|id| !id.is_empty())
                || !choices.is_empty()
                || chunk.usage.is_some())
        {
            self.started = true;
            out.push(StreamEvent::Start(StreamStart {
                id: chunk.id.map(Cow::into_owned).unwrap_or_default(),
                model: chunk.model.map(Cow::into_owned).unwrap_or_default(),
                usage: Usage::empty(),
            }));
        }
        for c in choices.into_iter().filter(|c| c.index.unwrap_or(0) == 0) {
            if let Some(d) = c.delta {
                if d.tool_calls.as_ref().is_some_and(|t| !t.is_empty()) {
                    self.had_tool_calls = true;
                }
                if d.refusal.as_deref().is_some_and(|r| !r.is_empty()) {
                    self.had_refusal = true;
                }
                if self.with_content {
                    let thinking = match d.reasoning_content {
                        Some(Value::String(s)) if !s.is_empty() => s,
                        _ => string_of(d.reasoning),
                    };
                    self.delta_text(Slot::Thinking, thinking, out);
                    match d.content {
                        Some(Value::Array(parts)) => {
                            for p in parts {
                                match p.get("type").and_then(Value::as_str) {
                                    Some("thinking") => {
                                        let t = match p.get("thinking") {
                                            Some(Value::Array(items)) => items
                                                .iter()
                                                .filter_map(|i| {
                                                    i.get("text").and_then(Value::as_str)
                                                })
                                                .collect::<String>(),
                                            other => text_of(other).to_string(),
                                        };
                                        self.delta_text(Slot::Thinking, t, out);
                                    }
                                    _ => self.delta_text(
                                        Slot::Text,
                                        text_of(p.get("text")).to_string(),
                                        out,
                                    ),
                                }
                            }
                        }
                        other => self.delta_text(Slot::Text, string_of(other), out),
                    }
                    self.delta_text(Slot::Refusal, d.refusal.unwrap_or_default(), out);
                    if let Some(calls) = &d.tool_calls {
                        for tc in calls {
                            self.tool_delta(tc, out);
                        }
                    }
                }
            }
            if let Some(fr) = c.finish_reason.as_deref() {
                if self.with_content {
                    self.close(out);
                }
                self.saw_finish = true;
                let mut stop_reason = stop_reason_from(fr, self.had_tool_calls, self.had_refusal);
                let mut stop_sequence = None;
                if let Some(Value::String(s)) = &c.stop_reason {
                    if stop_reason == StopReason::EndTurn {
                        stop_reason = StopReason::StopSequence;
                        stop_sequence = Some(s.clone());
                    }
                }
                out.push(StreamEvent::Finish(StreamFinish {
                    stop_reason,
                    stop_sequence,
                }));
            }
        }
        let usage = chunk
            .usage
            .filter(Value::is_object)
            .or_else(|| chunk.x_groq.and_then(|x| x.get("usage").cloned()))
            .filter(Value::is_object);
        if let Some(u) = usage {
            self.usage.merge(&wire::usage_from_value(u));
            out.push(StreamEvent::Usage(self.usage.clone()));
        }
        Ok(())
    }

    /// Feed bytes.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<StreamEvent>, ApiError> {
        let mut out = Vec::new();
        let mut parser = core::mem::take(&mut self.parser);
        let r = parser.feed(chunk, |e| self.on_event(e, &mut out));
        self.parser = parser;
        r.map(|()| out)
    }

    /// The stream ended: a stream that saw neither a `finish_reason` nor `[DONE]`
    /// (nor an error) was cut short.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ApiError> {
        let mut out = Vec::new();
        let mut parser = core::mem::take(&mut self.parser);
        let r = parser.finish(|e| self.on_event(e, &mut out));
        self.parser = parser;
        r?;
        if !self.saw_finish && !self.saw_done && !self.saw_error {
            return Err(ApiError::bad_gateway(
                "upstream stream ended without a finish_reason or [DONE] (truncated)",
            ));
        }
        if self.with_content && !self.saw_error {
            self.close(&mut out);
        }
        Ok(out)
    }
}

/// The exported `stream-decoder` resource.
pub struct Decoder(RefCell<DecodeState>);

impl GuestStreamDecoder for Decoder {
    fn new(with_content: bool) -> Self {
        Decoder(RefCell::new(DecodeState::new(with_content)))
    }
    fn feed(&self, chunk: Vec<u8>) -> Result<Vec<StreamEvent>, ApiError> {
        self.0.borrow_mut().feed(&chunk)
    }
    fn finish(&self) -> Result<Vec<StreamEvent>, ApiError> {
        self.0.borrow_mut().finish()
    }
}

// ----- encoder -----

/// Where the usage goes in an encoded stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageMode {
    /// As OpenAI does when `stream_options.include_usage` was asked: every chunk has
    /// `"usage": null` and a last chunk with empty `choices` carries the usage.
    Chunk,
    /// When the client's wish is unknown: `usage` on the `finish_reason` chunk only
    /// (read by every SDK that reads usage; never an empty `choices` a naive client
    /// would index).
    #[default]
    FinalChunk,
}

/// What an open canonical block encodes as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Text,
    Refusal,
    Thinking,
    /// Tool call number `k` of the response; custom tools stream `custom.input`.
    Tool {
        k: u32,
        custom: bool,
    },
    Skip,
}

/// Encoder state.
pub struct EncodeState {
    flavor: Flavor,
    usage_mode: UsageMode,
    model: String,
    id: String,
    started: bool,
    blocks: Vec<(u32, Out)>,
    tool_count: u32,
    had_refusal: bool,
    usage: Usage,
    saw_usage: bool,
    finish: Option<StreamFinish>,
    done: bool,
}

impl EncodeState {
    /// An encoder answering as `model` (the model the client asked for; empty: the
    /// upstream's).
    pub fn new(flavor: Flavor, model: String, usage_mode: UsageMode) -> EncodeState {
        EncodeState {
            flavor,
            usage_mode,
            model,
            id: String::new(),
            started: false,
            blocks: Vec::new(),
            tool_count: 0,
            had_refusal: false,
            usage: Usage::empty(),
            saw_usage: false,
            finish: None,
            done: false,
        }
    }

    fn chunk(&self, choices: Value) -> Value {
        let mut m = Map::new();
        m.insert(
            "id".into(),
            json!(if self.id.is_empty() {
                "chatcmpl-tollgate"
            } else {
                self.id.as_str()
            }),
        );
        m.insert("object".into(), json!("chat.completion.chunk"));
        m.insert("created".into(), json!(0));
        m.insert("model".into(), json!(self.model));
        m.insert("choices".into(), choices);
        if self.usage_mode == UsageMode::Chunk {
            m.insert("usage".into(), Value::Null);
        }
        Value::Object(m)
    }

    fn emit_delta(&self, out: &mut Vec<u8>, delta: Value, finish: Value) {
        let c = self.chunk(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
        );
        write_event(out, "", &c.to_string());
    }

    fn start(&mut self, out: &mut Vec<u8>, id: &str, model: &str) {
        self.started = true;
        self.id = id.to_string();
        if self.model.is_empty() {
            self.model = model.to_string();
        }
        self.emit_delta(
            out,
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        );
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.start(out, "", "");
        }
    }

    fn kind_of(&self, index: u32) -> Out {
        self.blocks
            .iter()
            .rev()
            .find(|(i, _)| *i == index)
            .map_or(Out::Text, |&(_, k)| k)
    }

    fn text(&mut self, out: &mut Vec<u8>, kind: Out, text: &str) {
        if text.is_empty() {
            return;
        }
        let delta = match kind {
            Out::Text => json!({"content": text}),
            Out::Refusal => json!({"refusal": text}),
            Out::Thinking if self.flavor.reasoning_out() => json!({"reasoning_content": text}),
            Out::Tool { k, custom: false } => {
                json!({"tool_calls": [{"index": k, "function": {"arguments": text}}]})
            }
            Out::Tool { k, custom: true } => {
                json!({"tool_calls": [{"index": k, "custom": {"input": text}}]})
            }
            Out::Thinking | Out::Skip => return,
        };
        self.ensure_started(out);
        self.emit_delta(out, delta, Value::Null);
    }

    fn block_start(&mut self, out: &mut Vec<u8>, b: &BlockStart) {
        self.ensure_started(out);
        let kind = match &b.block {
            ContentBlock::Text(t) if is_refusal(t) => {
                self.had_refusal = true;
                Out::Refusal
            }
            ContentBlock::Text(_) => Out::Text,
            ContentBlock::Thinking(_) => Out::Thinking,
            ContentBlock::ToolCall(c) if !matches!(c.kind, ToolKind::Builtin(_)) => {
                let custom = c.kind == ToolKind::Custom;
                let k = self.tool_count;
                self.tool_count += 1;
                let name = match &c.namespace {
                    Some(ns) if !ns.is_empty() => format!("{ns}__{}", c.name),
                    _ => c.name.clone(),
                };
                let call = if custom {
                    json!({"index": k, "id": c.id, "type": "custom", "custom": {"name": name, "input": c.arguments}})
                } else {
                    json!({"index": k, "id": c.id, "type": "function", "function": {"name": name, "arguments": c.arguments}})
                };
                self.emit_delta(out, json!({"tool_calls": [call]}), Value::Null);
                self.blocks.push((b.index, Out::Tool { k, custom }));
                return;
            }
            _ => Out::Skip,
        };
        self.blocks.push((b.index, kind));
        match &b.block {
            ContentBlock::Text(t) => self.text(out, kind, &t.text),
            ContentBlock::Thinking(t) => self.text(out, kind, &t.text),
            _ => {}
        }
    }

    /// Encode events.
    pub fn encode(&mut self, events: &[StreamEvent]) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::new();
        if self.done {
            return Ok(out);
        }
        for ev in events {
            match ev {
                StreamEvent::Start(s) => {
                    if !self.started {
                        self.usage.merge(&s.usage);
                        self.start(&mut out, &s.id, &s.model);
                    }
                }
                StreamEvent::BlockStart(b) => self.block_start(&mut out, b),
                StreamEvent::TextDelta(d) => {
                    let kind = self.kind_of(d.index);
                    if matches!(kind, Out::Text | Out::Refusal) {
                        self.text(&mut out, kind, &d.text);
                    }
                }
                StreamEvent::ToolArgumentsDelta(d) => {
                    let kind = self.kind_of(d.index);
                    if matches!(kind, Out::Tool { .. }) {
                        self.text(&mut out, kind, &d.text);
                    }
                }
                StreamEvent::ThinkingDelta(d) => self.text(&mut out, Out::Thinking, &d.text),
                StreamEvent::SignatureDelta(_) | StreamEvent::BlockStop(_) => {}
                StreamEvent::Usage(u) => {
                    self.saw_usage = true;
                    self.usage.merge(u);
                }
                StreamEvent::Finish(f) => self.finish = Some(f.clone()),
                StreamEvent::Ping => out.extend_from_slice(b": ping\n\n"),
                StreamEvent::Error(e) => {
                    write_event(&mut out, "", &error_body(e).to_string());
                    self.done = true;
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Close the stream: the `finish_reason` chunk, the usage, `data: [DONE]`.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.done = true;
        self.ensure_started(&mut out);
        let reason = match &self.finish {
            Some(f) => stop_reason_to(f.stop_reason, self.had_refusal),
            None if self.tool_count > 0 => "tool_calls",
            None => "stop",
        };
        let usage = wire::usage_to(&self.usage);
        let mut last = self
            .chunk(json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": reason}]));
        if self.usage_mode == UsageMode::FinalChunk && self.saw_usage {
            if let Some(o) = last.as_object_mut() {
                o.insert("usage".into(), usage.clone());
            }
        }
        write_event(&mut out, "", &last.to_string());
        if self.usage_mode == UsageMode::Chunk {
            let mut u = self.chunk(json!([]));
            if let Some(o) = u.as_object_mut() {
                o.insert("usage".into(), usage);
            }
            write_event(&mut out, "", &u.to_string());
        }
        write_event(&mut out, "", "[DONE]");
        out
    }
}

/// The exported `stream-encoder` resource of a flavor.
///
/// With `stream_options.include_usage` the usage comes as OpenAI sends it
/// ([`UsageMode::Chunk`]); without, on the `finish_reason` chunk
/// ([`UsageMode::FinalChunk`]), where SDKs that read usage find it and others
/// ignore it.
pub struct Encoder<F: Flavored>(RefCell<EncodeState>, PhantomData<F>);

impl<F: Flavored> GuestStreamEncoder for Encoder<F> {
    fn new(model: String, _query: String, include_usage: bool) -> Self {
        Encoder(
            RefCell::new(EncodeState::new(
                F::FLAVOR,
                model,
                if include_usage {
                    UsageMode::Chunk
                } else {
                    UsageMode::FinalChunk
                },
            )),
            PhantomData,
        )
    }
    fn content_type(&self) -> String {
        "text/event-stream".to_string()
    }
    fn encode(&self, events: Vec<StreamEvent>) -> Result<Vec<u8>, ApiError> {
        self.0.borrow_mut().encode(&events)
    }
    fn finish(&self) -> Vec<u8> {
        self.0.borrow_mut().finish()
    }
}

#[cfg(test)]
mod tests;
