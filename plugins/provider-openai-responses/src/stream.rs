//! Responses SSE streams: a decoder (upstream bytes → canonical events) and an encoder
//! (canonical events → the Responses event stream Codex and the OpenAI SDKs consume).
//!
//! The encoder writes `event: <type>\ndata: {…}\n\n` with a `sequence_number` counting
//! from 0: `response.created`, `response.in_progress`, then per output item
//! `response.output_item.added` … `response.output_item.done` (with content-part,
//! text, reasoning-summary and argument events in between), and always ends with
//! `response.completed`, `response.incomplete` or `response.failed` carrying the whole
//! response object (every output item and the usage). Codex builds its history from
//! `output_item.done` items and fails a turn without `response.completed`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};
use tollgate_sdk::provider::{
    ApiError, BlockDelta, BlockStart, ContentBlock, GuestStreamDecoder, GuestStreamEncoder,
    StopReason, StreamEvent, StreamFinish, StreamStart, ThinkingBlock, ToolCall, ToolKind, Usage,
};
use tollgate_sdk::sse::{SseEvent, SseParser};

use crate::translate::{
    call_id_prefix, call_item, call_item_type, decode_output_item, decode_part, failed_error,
    is_refusal, kept_id, marker_of, reasoning_item, redacted_item, response_defaults, response_id,
    Ids, ITEM_KEY, PART_KEY, REDACTED_PREFIX,
};
use crate::wire::{
    error_from_object, fields_of, merge_into, put_str, put_u64, put_value, rest_of, status_of,
    stop_reason_from, to_extra, usage_from, usage_to, Obj,
};

// ----- decoder -----

/// Events the decoder reads without content (start, usage, finish, errors).
const ACCOUNTING: &[&str] = &[
    "response.created",
    "response.in_progress",
    "response.queued",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "error",
];

/// Item types that ask the client to run a tool.
const CLIENT_CALLS: &[&str] = &["function_call", "custom_tool_call", "local_shell_call"];

/// One output item being streamed.
enum ItemState {
    /// An assistant message: its parts as (content index, canonical index, open).
    Message {
        marker: Option<Obj>,
        parts: Vec<(u64, u32, bool)>,
    },
    Reasoning {
        index: u32,
        /// (raw reasoning text?, index) of the last summary/text part seen.
        last: Option<(bool, u64)>,
        had_text: bool,
    },
    Call {
        index: u32,
        had_args: bool,
    },
    /// Decoded whole at `output_item.done` (web search calls, local shell calls, …).
    Deferred,
}

/// Decoder state, fed chunk by chunk.
#[derive(Default)]
pub struct DecodeState {
    with_content: bool,
    parser: SseParser,
    usage: Usage,
    started: bool,
    next_index: u32,
    items: HashMap<u64, ItemState>,
    item_ids: HashMap<String, u64>,
    saw_tool_call: bool,
    saw_refusal: bool,
    saw_terminal: bool,
    saw_error: bool,
}

fn upstream_json(data: &str) -> Result<Value, ApiError> {
    serde_json::from_str(data).map_err(|e| {
        ApiError::bad_gateway(format!(
            "upstream stream sent invalid JSON ({e}): {}",
            tollgate_sdk::json::snippet(data.as_bytes(), 120)
        ))
    })
}

fn upstream(e: ApiError) -> ApiError {
    ApiError::bad_gateway(format!("upstream stream: {}", e.message))
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A block without a streamed `status` (the encoder writes its own).
fn without_status(block: ContentBlock) -> ContentBlock {
    match block {
        ContentBlock::ToolCall(mut c) => {
            if let Some(mut f) = fields_of(c.extra.as_ref()) {
                f.remove("status");
                c.extra = (!f.is_empty()).then(|| to_extra(f));
            }
            ContentBlock::ToolCall(c)
        }
        b => b,
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

    fn alloc(&mut self) -> u32 {
        let i = self.next_index;
        self.next_index += 1;
        i
    }

    fn output_index(&self, v: &Value) -> u64 {
        v.get("output_index")
            .and_then(Value::as_u64)
            .or_else(|| {
                v.get("item_id")
                    .and_then(Value::as_str)
                    .and_then(|id| self.item_ids.get(id).copied())
            })
            .unwrap_or(0)
    }

    fn start(&mut self, resp: &Value, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start(StreamStart {
                id: str_of(resp, "id").to_string(),
                model: str_of(resp, "model").to_string(),
                usage: Usage::empty(),
            }));
        }
    }

    /// The canonical index of message part (`oi`, `ci`), opening a text block if the
    /// upstream skipped `content_part.added`.
    fn part_index(&mut self, oi: u64, ci: u64, out: &mut Vec<StreamEvent>) -> u32 {
        if let Some(ItemState::Message { parts, .. }) = self.items.get(&oi) {
            if let Some(&(_, idx, _)) = parts.iter().find(|p| p.0 == ci) {
                return idx;
            }
        }
        let block = ContentBlock::Text(tollgate_sdk::provider::TextBlock {
            text: String::new(),
            cache_control: None,
            citations: None,
            extra: None,
        });
        self.open_part(oi, ci, block, out)
    }

    fn open_part(
        &mut self,
        oi: u64,
        ci: u64,
        mut block: ContentBlock,
        out: &mut Vec<StreamEvent>,
    ) -> u32 {
        let idx = self.alloc();
        let state = self.items.entry(oi).or_insert(ItemState::Message {
            marker: None,
            parts: Vec::new(),
        });
        if let ItemState::Message { marker, parts } = state {
            if parts.is_empty() {
                if let Some(m) = marker.take() {
                    attach(&mut block, m);
                }
            }
            parts.push((ci, idx, true));
        }
        if let ContentBlock::Text(t) = &block {
            self.saw_refusal |= is_refusal(t.extra.as_ref());
        }
        out.push(StreamEvent::BlockStart(BlockStart { index: idx, block }));
        idx
    }

    fn reasoning_index(&mut self, oi: u64, out: &mut Vec<StreamEvent>) -> u32 {
        if let Some(ItemState::Reasoning { index, .. }) = self.items.get(&oi) {
            return *index;
        }
        let index = self.alloc();
        out.push(StreamEvent::BlockStart(BlockStart {
            index,
            block: ContentBlock::Thinking(ThinkingBlock {
                text: String::new(),
                signature: None,
                extra: None,
            }),
        }));
        self.items.insert(
            oi,
            ItemState::Reasoning {
                index,
                last: None,
                had_text: false,
            },
        );
        index
    }

    /// Blocks of a whole item, started and stopped at once.
    fn whole_item(&mut self, item: &Value, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        for block in decode_output_item(item, "item").map_err(upstream)? {
            match &block {
                ContentBlock::ToolCall(_) => self.saw_tool_call = true,
                ContentBlock::Text(t) => self.saw_refusal |= is_refusal(t.extra.as_ref()),
                _ => {}
            }
            let index = self.alloc();
            out.push(StreamEvent::BlockStart(BlockStart {
                index,
                block: without_status(block),
            }));
            out.push(StreamEvent::BlockStop(index));
        }
        Ok(())
    }

    fn item_added(&mut self, v: &Value, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        let oi = self.output_index(v);
        let item = v.get("item").unwrap_or(&Value::Null);
        if let Some(id) = item.get("id").and_then(Value::as_str) {
            self.item_ids.insert(id.to_string(), oi);
        }
        let state = match str_of(item, "type") {
            "message" => ItemState::Message {
                marker: item
                    .as_object()
                    .map(|o| rest_of(o, &["type", "role", "content", "status"])),
                parts: Vec::new(),
            },
            // Redacted thinking from another provider arrives whole.
            "reasoning"
                if !item
                    .get("encrypted_content")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.starts_with(REDACTED_PREFIX)) =>
            {
                let index = self.alloc();
                let extra = item
                    .get("id")
                    .and_then(Value::as_str)
                    .map(|id| to_extra(Map::from_iter([("id".to_string(), json!(id))])));
                out.push(StreamEvent::BlockStart(BlockStart {
                    index,
                    block: ContentBlock::Thinking(ThinkingBlock {
                        text: String::new(),
                        signature: None,
                        extra,
                    }),
                }));
                ItemState::Reasoning {
                    index,
                    last: None,
                    had_text: false,
                }
            }
            "function_call" | "custom_tool_call" => {
                self.saw_tool_call = true;
                let mut blocks = decode_output_item(item, "item").map_err(upstream)?;
                let Some(ContentBlock::ToolCall(c)) = blocks.pop() else {
                    return Ok(());
                };
                let index = self.alloc();
                // Arguments arrive as deltas (or whole at `output_item.done`).
                let block = without_status(ContentBlock::ToolCall(ToolCall {
                    arguments: String::new(),
                    ..c
                }));
                out.push(StreamEvent::BlockStart(BlockStart { index, block }));
                ItemState::Call {
                    index,
                    had_args: false,
                }
            }
            _ => ItemState::Deferred,
        };
        self.items.insert(oi, state);
        Ok(())
    }

    fn item_done(&mut self, v: &Value, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        let oi = self.output_index(v);
        let item = v.get("item").unwrap_or(&Value::Null);
        match self.items.remove(&oi) {
            Some(ItemState::Message { parts, .. }) if !parts.is_empty() => {
                for (_, idx, open) in parts {
                    if open {
                        out.push(StreamEvent::BlockStop(idx));
                    }
                }
            }
            Some(ItemState::Reasoning {
                index, had_text, ..
            }) => {
                if let Some(ContentBlock::Thinking(t)) = decode_output_item(item, "item")
                    .map_err(upstream)?
                    .into_iter()
                    .next()
                {
                    if !had_text && !t.text.is_empty() {
                        out.push(StreamEvent::ThinkingDelta(BlockDelta {
                            index,
                            text: t.text,
                        }));
                    }
                    if let Some(sig) = t.signature.filter(|s| !s.is_empty()) {
                        out.push(StreamEvent::SignatureDelta(BlockDelta { index, text: sig }));
                    }
                }
                out.push(StreamEvent::BlockStop(index));
            }
            Some(ItemState::Call { index, had_args }) => {
                if !had_args {
                    let args = match item.get("arguments").or_else(|| item.get("input")) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    };
                    if !args.is_empty() {
                        out.push(StreamEvent::ToolArgumentsDelta(BlockDelta {
                            index,
                            text: args,
                        }));
                    }
                }
                out.push(StreamEvent::BlockStop(index));
            }
            _ => self.whole_item(item, out)?,
        }
        Ok(())
    }

    fn finished(&mut self, name: &str, v: &Value, out: &mut Vec<StreamEvent>) {
        let resp = v.get("response").unwrap_or(&Value::Null);
        self.start(resp, out);
        if let Some(u) = resp.get("usage").filter(|u| u.is_object()) {
            self.usage.merge(&usage_from(u));
            out.push(StreamEvent::Usage(self.usage.clone()));
        }
        let output = resp.get("output").and_then(Value::as_array);
        let tool = self.saw_tool_call
            || output.is_some_and(|o| o.iter().any(|i| CLIENT_CALLS.contains(&str_of(i, "type"))));
        let refusal = self.saw_refusal
            || output.is_some_and(|o| {
                o.iter().any(|i| {
                    i.get("content")
                        .and_then(Value::as_array)
                        .is_some_and(|c| c.iter().any(|p| str_of(p, "type") == "refusal"))
                })
            });
        let status = resp.get("status").and_then(Value::as_str).unwrap_or(
            if name == "response.incomplete" {
                "incomplete"
            } else {
                "completed"
            },
        );
        let reason = resp
            .get("incomplete_details")
            .and_then(|d| d.get("reason"))
            .and_then(Value::as_str);
        out.push(StreamEvent::Finish(StreamFinish {
            stop_reason: stop_reason_from(status, reason, tool, refusal)
                .unwrap_or(StopReason::EndTurn),
            stop_sequence: None,
        }));
        self.saw_terminal = true;
    }

    fn on_event(&mut self, e: SseEvent<'_>, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        if !self.with_content && !e.event.is_empty() && !ACCOUNTING.contains(&e.event) {
            return Ok(());
        }
        let v = upstream_json(e.data)?;
        let name = if e.event.is_empty() {
            str_of(&v, "type")
        } else {
            e.event
        };
        if !self.with_content && !ACCOUNTING.contains(&name) {
            return Ok(());
        }
        match name {
            "response.created" | "response.in_progress" | "response.queued" => {
                self.start(v.get("response").unwrap_or(&Value::Null), out)
            }
            "response.output_item.added" => self.item_added(&v, out)?,
            "response.content_part.added" => {
                let oi = self.output_index(&v);
                let ci = v.get("content_index").and_then(Value::as_u64).unwrap_or(0);
                let block =
                    decode_part(v.get("part").unwrap_or(&Value::Null), "part").map_err(upstream)?;
                self.open_part(oi, ci, block, out);
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                let oi = self.output_index(&v);
                let ci = v.get("content_index").and_then(Value::as_u64).unwrap_or(0);
                let index = self.part_index(oi, ci, out);
                out.push(StreamEvent::TextDelta(BlockDelta {
                    index,
                    text: str_of(&v, "delta").to_string(),
                }));
            }
            "response.content_part.done" => {
                let oi = self.output_index(&v);
                let ci = v.get("content_index").and_then(Value::as_u64).unwrap_or(0);
                let known = match self.items.get_mut(&oi) {
                    Some(ItemState::Message { parts, .. }) => {
                        parts.iter_mut().find(|p| p.0 == ci).map(|p| {
                            let was_open = p.2;
                            p.2 = false;
                            (p.1, was_open)
                        })
                    }
                    _ => None,
                };
                match known {
                    Some((idx, true)) => out.push(StreamEvent::BlockStop(idx)),
                    Some((_, false)) => {}
                    None => {
                        // Never announced: the part arrives whole.
                        let block = decode_part(v.get("part").unwrap_or(&Value::Null), "part")
                            .map_err(upstream)?;
                        let idx = self.open_part(oi, ci, block, out);
                        if let Some(ItemState::Message { parts, .. }) = self.items.get_mut(&oi) {
                            if let Some(p) = parts.iter_mut().find(|p| p.0 == ci) {
                                p.2 = false;
                            }
                        }
                        out.push(StreamEvent::BlockStop(idx));
                    }
                }
            }
            "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
                let oi = self.output_index(&v);
                if let Some(ItemState::Call { index, had_args }) = self.items.get_mut(&oi) {
                    *had_args = true;
                    out.push(StreamEvent::ToolArgumentsDelta(BlockDelta {
                        index: *index,
                        text: str_of(&v, "delta").to_string(),
                    }));
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let oi = self.output_index(&v);
                let raw = name == "response.reasoning_text.delta";
                let part = v
                    .get(if raw {
                        "content_index"
                    } else {
                        "summary_index"
                    })
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let index = self.reasoning_index(oi, out);
                if let Some(ItemState::Reasoning { last, had_text, .. }) = self.items.get_mut(&oi) {
                    if last.is_some_and(|l| l != (raw, part)) {
                        out.push(StreamEvent::ThinkingDelta(BlockDelta {
                            index,
                            text: "\n\n".to_string(),
                        }));
                    }
                    *last = Some((raw, part));
                    *had_text = true;
                }
                out.push(StreamEvent::ThinkingDelta(BlockDelta {
                    index,
                    text: str_of(&v, "delta").to_string(),
                }));
            }
            "response.output_item.done" => self.item_done(&v, out)?,
            "response.completed" | "response.incomplete" => self.finished(name, &v, out),
            "response.failed" => {
                let resp = v.get("response").unwrap_or(&Value::Null);
                self.start(resp, out);
                if let Some(u) = resp.get("usage").filter(|u| u.is_object()) {
                    self.usage.merge(&usage_from(u));
                    out.push(StreamEvent::Usage(self.usage.clone()));
                }
                let err = resp
                    .get("error")
                    .and_then(|e| error_from_object(e, None))
                    .unwrap_or_else(|| ApiError::bad_gateway("the upstream response failed"));
                out.push(StreamEvent::Error(err));
                self.saw_terminal = true;
            }
            "error" => {
                let inner = match v.get("error") {
                    Some(e @ Value::Object(_)) => e,
                    _ => &v,
                };
                let err = error_from_object(inner, None).unwrap_or_else(|| {
                    ApiError::bad_gateway("the upstream stream reported an error")
                });
                out.push(StreamEvent::Error(err));
                self.saw_error = true;
            }
            _ => {} // annotations, `*.done` duplicates of what deltas carried, future events
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

    /// The stream ended.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ApiError> {
        let mut out = Vec::new();
        let mut parser = core::mem::take(&mut self.parser);
        let r = parser.finish(|e| self.on_event(e, &mut out));
        self.parser = parser;
        r?;
        if !self.saw_terminal && !self.saw_error {
            return Err(ApiError::bad_gateway(
                "upstream stream ended before response.completed",
            ));
        }
        Ok(out)
    }
}

/// Put an `item` marker on a block (see `translate`).
fn attach(block: &mut ContentBlock, marker: Obj) {
    let extra = match block {
        ContentBlock::Text(t) => &mut t.extra,
        _ => return,
    };
    let mut f = fields_of(extra.as_ref()).unwrap_or_default();
    f.insert(ITEM_KEY.into(), Value::Object(marker));
    *extra = Some(to_extra(f));
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

/// The assistant message item being written.
struct OpenMessage {
    output_index: usize,
    id: String,
    parts: Vec<Value>,
    /// Item fields kept from a Responses source (`phase`, …).
    fields: Obj,
}

/// A canonical block being written.
enum OpenBlock {
    Text {
        output_index: usize,
        content_index: usize,
        item_id: String,
        text: String,
        refusal: bool,
        /// Part fields kept from a Responses source (`annotations`, …).
        fields: Obj,
    },
    Thinking {
        output_index: usize,
        item_id: String,
        text: String,
        part_open: bool,
        signature: String,
        extra: Option<tollgate_sdk::provider::Extra>,
    },
    Call {
        output_index: usize,
        item_id: String,
        call: ToolCall,
    },
    /// A local shell call: written whole when it stops.
    Shell(ToolCall),
    /// Nothing to write (already complete, or not expressible here).
    Ignored,
}

/// Encoder state.
#[derive(Default)]
pub struct EncodeState {
    model: String,
    id: String,
    ids: Ids,
    started: bool,
    seq: u64,
    /// Output items by output index, as their `output_item.done` showed them (or the
    /// in-progress item until then).
    output: Vec<Value>,
    message: Option<OpenMessage>,
    blocks: BTreeMap<u32, OpenBlock>,
    usage: Usage,
    finish: Option<StreamFinish>,
    done: bool,
}

impl EncodeState {
    /// An encoder answering as `model` (the model the client asked for).
    pub fn new(model: String) -> EncodeState {
        EncodeState {
            model,
            ..EncodeState::default()
        }
    }

    /// Write event `ty` with `data`'s fields between `type` and `sequence_number`.
    /// (No `data` has either key, so this is the object `{type, ..data, sequence_number}`
    /// written directly; serialized JSON has no raw newline, so the SSE `data` is one
    /// line.)
    fn emit(&mut self, out: &mut Vec<u8>, ty: &str, data: Value) {
        event_head(out, ty);
        if let Value::Object(fields) = &data {
            for (k, v) in fields {
                out.push(b',');
                put_str(out, k);
                out.push(b':');
                put_value(out, v);
            }
        }
        event_tail(out, &mut self.seq);
    }

    /// Write `response.output_item.added`/`.done` for item `oi`.
    fn emit_item(&mut self, out: &mut Vec<u8>, ty: &str, oi: usize, item: &Value) {
        event_head(out, ty);
        out.extend_from_slice(b",\"output_index\":");
        put_u64(out, oi as u64);
        out.extend_from_slice(b",\"item\":");
        put_value(out, item);
        event_tail(out, &mut self.seq);
    }

    /// The response object with `status`; `final_` adds the output and usage (and
    /// takes the output: the final response is the stream's last event).
    fn response(&mut self, status: &str, final_: bool) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("object".into(), json!("response"));
        m.insert("created_at".into(), json!(0));
        m.insert("status".into(), json!(status));
        m.insert("error".into(), Value::Null);
        m.insert("incomplete_details".into(), Value::Null);
        m.insert("model".into(), json!(self.model));
        m.insert(
            "output".into(),
            if final_ {
                Value::Array(std::mem::take(&mut self.output))
            } else {
                json!([])
            },
        );
        m.insert(
            "usage".into(),
            if final_ {
                usage_to(&self.usage)
            } else {
                Value::Null
            },
        );
        response_defaults(&mut m);
        Value::Object(m)
    }

    fn start(&mut self, out: &mut Vec<u8>, id: &str, model: &str) {
        self.started = true;
        self.id = response_id(id);
        self.ids = Ids::new(&self.id);
        if self.model.is_empty() {
            self.model = model.to_string();
        }
        let r = self.response("in_progress", false);
        self.emit(out, "response.created", json!({ "response": r }));
        let r = self.response("in_progress", false);
        self.emit(out, "response.in_progress", json!({ "response": r }));
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.start(out, "", "");
        }
    }

    /// Add an in-progress item and announce it; returns its output index.
    fn add_item(&mut self, out: &mut Vec<u8>, item: Value) -> usize {
        let oi = self.output.len();
        self.emit_item(out, "response.output_item.added", oi, &item);
        self.output.push(item);
        oi
    }

    fn item_done(&mut self, out: &mut Vec<u8>, oi: usize, item: Value) {
        self.emit_item(out, "response.output_item.done", oi, &item);
        if let Some(slot) = self.output.get_mut(oi) {
            *slot = item;
        }
    }

    /// The open message item, opened (with the marker's id and fields) if needed.
    fn ensure_message(&mut self, out: &mut Vec<u8>, marker: Option<Obj>) -> (usize, String) {
        if let Some(m) = &self.message {
            return (m.output_index, m.id.clone());
        }
        let mut fields = marker.unwrap_or_default();
        fields.remove("status");
        let id = match fields.remove("id") {
            Some(Value::String(id)) => id,
            _ => self.ids.next("msg"),
        };
        let mut item = Map::new();
        item.insert("id".into(), json!(id));
        item.insert("type".into(), json!("message"));
        item.insert("status".into(), json!("in_progress"));
        item.insert("role".into(), json!("assistant"));
        item.insert("content".into(), json!([]));
        merge_into(&mut item, fields.clone());
        let oi = self.add_item(out, Value::Object(item));
        self.message = Some(OpenMessage {
            output_index: oi,
            id: id.clone(),
            parts: Vec::new(),
            fields,
        });
        (oi, id)
    }

    fn close_message(&mut self, out: &mut Vec<u8>) {
        let Some(oi) = self.message.as_ref().map(|m| m.output_index) else {
            return;
        };
        let mut open: Vec<u32> = self
            .blocks
            .iter()
            .filter(
                |(_, b)| matches!(b, OpenBlock::Text { output_index, .. } if *output_index == oi),
            )
            .map(|(i, _)| *i)
            .collect();
        open.sort_unstable();
        for i in open {
            self.stop_block(out, i);
        }
        let Some(msg) = self.message.take() else {
            return;
        };
        let mut item = Map::new();
        item.insert("id".into(), json!(msg.id));
        item.insert("type".into(), json!("message"));
        item.insert("status".into(), json!("completed"));
        item.insert("role".into(), json!("assistant"));
        item.insert("content".into(), Value::Array(msg.parts));
        merge_into(&mut item, msg.fields);
        self.item_done(out, oi, Value::Object(item));
    }

    fn text_part(text: &str, refusal: bool, fields: &Obj) -> Value {
        let mut p = Map::new();
        if refusal {
            p.insert("type".into(), json!("refusal"));
            p.insert("refusal".into(), json!(text));
        } else {
            p.insert("type".into(), json!("output_text"));
            p.insert("annotations".into(), json!([]));
            p.insert("logprobs".into(), json!([]));
            p.insert("text".into(), json!(text));
            for (k, v) in fields {
                p.insert(k.clone(), v.clone());
            }
        }
        Value::Object(p)
    }

    fn block_start(&mut self, out: &mut Vec<u8>, b: &BlockStart) {
        let index = b.index;
        match &b.block {
            ContentBlock::Text(t) => {
                let marker = marker_of(&b.block);
                if marker.is_some() {
                    self.close_message(out);
                }
                let (oi, item_id) = self.ensure_message(out, marker);
                let refusal = is_refusal(t.extra.as_ref());
                let mut fields = fields_of(t.extra.as_ref()).unwrap_or_default();
                fields.remove(ITEM_KEY);
                fields.remove("type");
                let part = Self::text_part("", refusal, &fields);
                let ci = match self.message.as_mut() {
                    Some(m) => {
                        m.parts.push(part.clone());
                        m.parts.len() - 1
                    }
                    None => 0,
                };
                self.emit(
                    out,
                    "response.content_part.added",
                    json!({"item_id": item_id, "output_index": oi, "content_index": ci, "part": part}),
                );
                self.blocks.insert(
                    index,
                    OpenBlock::Text {
                        output_index: oi,
                        content_index: ci,
                        item_id,
                        text: String::new(),
                        refusal,
                        fields,
                    },
                );
                if !t.text.is_empty() {
                    self.delta(out, index, &t.text);
                }
            }
            ContentBlock::Other(e)
                if fields_of(Some(e)).is_some_and(|f| f.contains_key(PART_KEY)) =>
            {
                let marker = marker_of(&b.block);
                let (oi, item_id) = self.ensure_message(out, marker);
                let part = fields_of(Some(e))
                    .and_then(|mut f| f.remove(PART_KEY))
                    .unwrap_or(Value::Null);
                let ci = match self.message.as_mut() {
                    Some(m) => {
                        m.parts.push(part.clone());
                        m.parts.len() - 1
                    }
                    None => 0,
                };
                let ev = json!({"item_id": item_id, "output_index": oi, "content_index": ci, "part": part});
                self.emit(out, "response.content_part.added", ev.clone());
                self.emit(out, "response.content_part.done", ev);
                self.blocks.insert(index, OpenBlock::Ignored);
            }
            ContentBlock::Thinking(t) => {
                self.close_message(out);
                let item_id = kept_id(t.extra.as_ref()).unwrap_or_else(|| self.ids.next("rs"));
                let oi = self.add_item(
                    out,
                    json!({"id": item_id, "type": "reasoning", "summary": []}),
                );
                self.blocks.insert(
                    index,
                    OpenBlock::Thinking {
                        output_index: oi,
                        item_id,
                        text: String::new(),
                        part_open: false,
                        signature: t.signature.clone().unwrap_or_default(),
                        extra: t.extra.clone(),
                    },
                );
                if !t.text.is_empty() {
                    self.delta(out, index, &t.text);
                }
            }
            ContentBlock::RedactedThinking(d) => {
                self.close_message(out);
                let item = redacted_item(d, Some(self.ids.next("rs")));
                let oi = self.add_item(out, item.clone());
                self.item_done(out, oi, item);
                self.blocks.insert(index, OpenBlock::Ignored);
            }
            ContentBlock::ToolCall(c) if matches!(&c.kind, ToolKind::Builtin(k) if k == "local_shell") =>
            {
                self.close_message(out);
                self.blocks.insert(index, OpenBlock::Shell(c.clone()));
            }
            ContentBlock::ToolCall(c) => {
                self.close_message(out);
                let prefix = call_id_prefix(call_item_type(&c.kind));
                let item_id = kept_id(c.extra.as_ref()).unwrap_or_else(|| self.ids.next(prefix));
                let call = ToolCall {
                    arguments: String::new(),
                    ..c.clone()
                };
                let mut item = call_item(&call, Some(item_id.clone()), true);
                if let Some(o) = item.as_object_mut() {
                    if o.contains_key("status") {
                        o.insert("status".into(), json!("in_progress"));
                    }
                }
                let oi = self.add_item(out, item);
                self.blocks.insert(
                    index,
                    OpenBlock::Call {
                        output_index: oi,
                        item_id,
                        call,
                    },
                );
                if !c.arguments.is_empty() {
                    self.delta(out, index, &c.arguments);
                }
            }
            ContentBlock::Other(e) => {
                // A whole item of this dialect (web search call, …); other dialects'
                // blocks have no Responses form.
                if let Some(f) = fields_of(Some(e)) {
                    self.close_message(out);
                    let item = Value::Object(f);
                    let oi = self.add_item(out, item.clone());
                    self.item_done(out, oi, item);
                }
                self.blocks.insert(index, OpenBlock::Ignored);
            }
            _ => {
                self.blocks.insert(index, OpenBlock::Ignored);
            }
        }
    }

    /// Text, thinking or arguments appended to block `index`. The per-token path: the
    /// events are written directly (the same bytes `emit` writes for these fields).
    fn delta(&mut self, out: &mut Vec<u8>, index: u32, text: &str) {
        let Some(block) = self.blocks.get_mut(&index) else {
            return;
        };
        let seq = &mut self.seq;
        match block {
            OpenBlock::Text {
                output_index,
                content_index,
                item_id,
                text: acc,
                refusal,
                ..
            } => {
                acc.push_str(text);
                event_head(
                    out,
                    if *refusal {
                        "response.refusal.delta"
                    } else {
                        "response.output_text.delta"
                    },
                );
                put_item_ref(out, item_id, *output_index);
                out.extend_from_slice(b",\"content_index\":");
                put_u64(out, *content_index as u64);
                out.extend_from_slice(b",\"delta\":");
                put_str(out, text);
                if !*refusal {
                    out.extend_from_slice(b",\"logprobs\":[]");
                }
                event_tail(out, seq);
            }
            OpenBlock::Thinking {
                output_index,
                item_id,
                text: acc,
                part_open,
                ..
            } => {
                if text.is_empty() {
                    return;
                }
                acc.push_str(text);
                if !*part_open {
                    *part_open = true;
                    event_head(out, "response.reasoning_summary_part.added");
                    put_item_ref(out, item_id, *output_index);
                    out.extend_from_slice(
                        b",\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":\"\"}",
                    );
                    event_tail(out, seq);
                }
                event_head(out, "response.reasoning_summary_text.delta");
                put_item_ref(out, item_id, *output_index);
                out.extend_from_slice(b",\"summary_index\":0,\"delta\":");
                put_str(out, text);
                event_tail(out, seq);
            }
            OpenBlock::Call {
                output_index,
                item_id,
                call,
            } => {
                call.arguments.push_str(text);
                event_head(
                    out,
                    if call.kind == ToolKind::Custom {
                        "response.custom_tool_call_input.delta"
                    } else {
                        "response.function_call_arguments.delta"
                    },
                );
                put_item_ref(out, item_id, *output_index);
                out.extend_from_slice(b",\"delta\":");
                put_str(out, text);
                event_tail(out, seq);
            }
            OpenBlock::Shell(call) => call.arguments.push_str(text),
            OpenBlock::Ignored => {}
        }
    }

    fn signature(&mut self, index: u32, text: &str) {
        if let Some(OpenBlock::Thinking { signature, .. }) = self.blocks.get_mut(&index) {
            signature.push_str(text);
        }
    }

    fn stop_block(&mut self, out: &mut Vec<u8>, index: u32) {
        let Some(block) = self.blocks.remove(&index) else {
            return;
        };
        match block {
            OpenBlock::Text {
                output_index: oi,
                content_index: ci,
                item_id,
                text,
                refusal,
                fields,
            } => {
                if refusal {
                    self.emit(
                        out,
                        "response.refusal.done",
                        json!({"item_id": item_id, "output_index": oi, "content_index": ci, "refusal": text}),
                    );
                } else {
                    self.emit(
                        out,
                        "response.output_text.done",
                        json!({"item_id": item_id, "output_index": oi, "content_index": ci, "text": text, "logprobs": []}),
                    );
                }
                let part = Self::text_part(&text, refusal, &fields);
                if let Some(m) = self.message.as_mut().filter(|m| m.output_index == oi) {
                    if let Some(slot) = m.parts.get_mut(ci) {
                        *slot = part.clone();
                    }
                }
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({"item_id": item_id, "output_index": oi, "content_index": ci, "part": part}),
                );
            }
            OpenBlock::Thinking {
                output_index: oi,
                item_id,
                text,
                part_open,
                signature,
                extra,
            } => {
                if part_open {
                    self.emit(
                        out,
                        "response.reasoning_summary_text.done",
                        json!({"item_id": item_id, "output_index": oi, "summary_index": 0, "text": text}),
                    );
                    self.emit(
                        out,
                        "response.reasoning_summary_part.done",
                        json!({"item_id": item_id, "output_index": oi, "summary_index": 0, "part": {"type": "summary_text", "text": text}}),
                    );
                }
                let t = ThinkingBlock {
                    text,
                    signature: (!signature.is_empty()).then_some(signature),
                    extra,
                };
                let item = reasoning_item(&t, Some(item_id));
                self.item_done(out, oi, item);
            }
            OpenBlock::Call {
                output_index: oi,
                item_id,
                call,
            } => {
                if call.kind == ToolKind::Custom {
                    self.emit(
                        out,
                        "response.custom_tool_call_input.done",
                        json!({"item_id": item_id, "output_index": oi, "input": call.arguments}),
                    );
                } else {
                    self.emit(
                        out,
                        "response.function_call_arguments.done",
                        json!({"item_id": item_id, "output_index": oi, "name": call.name, "arguments": call.arguments}),
                    );
                }
                let item = call_item(&call, Some(item_id), true);
                self.item_done(out, oi, item);
            }
            OpenBlock::Shell(call) => {
                let id = kept_id(call.extra.as_ref()).unwrap_or_else(|| self.ids.next("lsh"));
                let item = call_item(&call, Some(id), true);
                let oi = self.add_item(out, item.clone());
                self.item_done(out, oi, item);
            }
            OpenBlock::Ignored => {}
        }
    }

    /// The terminal event for a failure: `response.failed` with what was written.
    fn fail(&mut self, out: &mut Vec<u8>, err: Option<&ApiError>) {
        let mut r = self.response("failed", true);
        if let Some(o) = r.as_object_mut() {
            o.insert("error".into(), failed_error(err));
        }
        self.emit(out, "response.failed", json!({ "response": r }));
        self.done = true;
    }

    /// Encode events.
    pub fn encode(&mut self, events: &[StreamEvent]) -> Result<Vec<u8>, ApiError> {
        if self.done {
            return Ok(Vec::new());
        }
        // Room for a text delta event without regrowing.
        let mut out = Vec::with_capacity(256);
        for ev in events {
            match ev {
                StreamEvent::Start(s) => {
                    if !self.started {
                        self.usage.merge(&s.usage);
                        self.start(&mut out, &s.id, &s.model);
                    }
                }
                StreamEvent::BlockStart(b) => {
                    self.ensure_started(&mut out);
                    self.block_start(&mut out, b);
                }
                StreamEvent::TextDelta(d)
                | StreamEvent::ThinkingDelta(d)
                | StreamEvent::ToolArgumentsDelta(d) => {
                    self.ensure_started(&mut out);
                    self.delta(&mut out, d.index, &d.text);
                }
                StreamEvent::SignatureDelta(d) => self.signature(d.index, &d.text),
                StreamEvent::BlockStop(i) => {
                    self.ensure_started(&mut out);
                    self.stop_block(&mut out, *i);
                }
                StreamEvent::Usage(u) => self.usage.merge(u),
                StreamEvent::Finish(f) => self.finish = Some(f.clone()),
                StreamEvent::Ping => out.extend_from_slice(b": ping\n\n"),
                StreamEvent::Error(e) => {
                    self.ensure_started(&mut out);
                    self.fail(&mut out, Some(e));
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Close the stream: open blocks and the message item, then the terminal event
    /// with the whole response.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.ensure_started(&mut out);
        let mut open: Vec<u32> = self.blocks.keys().copied().collect();
        open.sort_unstable();
        for i in open {
            self.stop_block(&mut out, i);
        }
        self.close_message(&mut out);
        let stop = self
            .finish
            .as_ref()
            .map_or(StopReason::EndTurn, |f| f.stop_reason);
        let (status, reason) = status_of(stop);
        if status == "failed" {
            self.fail(&mut out, None);
            return out;
        }
        let mut r = self.response(status, true);
        if let (Some(o), Some(reason)) = (r.as_object_mut(), reason) {
            o.insert("incomplete_details".into(), json!({ "reason": reason }));
        }
        let ty = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.emit(&mut out, ty, json!({ "response": r }));
        self.done = true;
        out
    }
}

/// Start an encoder event: `event: <ty>` and `data: {"type":<ty>`.
fn event_head(out: &mut Vec<u8>, ty: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(ty.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":");
    put_str(out, ty);
}

/// End an encoder event: `"sequence_number":<seq>}` and the blank line; counts `seq`.
fn event_tail(out: &mut Vec<u8>, seq: &mut u64) {
    out.extend_from_slice(b",\"sequence_number\":");
    put_u64(out, *seq);
    *seq += 1;
    out.extend_from_slice(b"}\n\n");
}

/// `"item_id":<id>,"output_index":<oi>` of an event.
fn put_item_ref(out: &mut Vec<u8>, item_id: &str, output_index: usize) {
    out.extend_from_slice(b",\"item_id\":");
    put_str(out, item_id);
    out.extend_from_slice(b",\"output_index\":");
    put_u64(out, output_index as u64);
}

/// The exported `stream-encoder` resource.
pub struct Encoder(RefCell<EncodeState>);

impl GuestStreamEncoder for Encoder {
    fn new(model: String, _query: String, _include_usage: bool) -> Self {
        Encoder(RefCell::new(EncodeState::new(model)))
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tollgate_sdk::provider::{Dialect, ErrorKind, Extra, TextBlock};

    /// A gpt-5-codex stream as api.openai.com sends it: reasoning with two summary
    /// parts and encrypted content, a message with multi-byte text, a function call, a
    /// custom tool call, a web search item, usage with cached and reasoning tokens.
    const STREAM: &str = "event: response.created\r\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"in_progress\",\"model\":\"gpt-5-codex\",\"output\":[],\"usage\":null}}\r\n\r\n\
event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-5-codex\",\"output\":[]}}\n\n\
event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[]}}\n\n\
event: response.reasoning_summary_part.added\ndata: {\"type\":\"response.reasoning_summary_part.added\",\"sequence_number\":3,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":\"\"}}\n\n\
event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"sequence_number\":4,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"delta\":\"Checking\"}\n\n\
event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"sequence_number\":5,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"delta\":\" files.\"}\n\n\
event: response.reasoning_summary_text.done\ndata: {\"type\":\"response.reasoning_summary_text.done\",\"sequence_number\":6,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"text\":\"Checking files.\"}\n\n\
event: response.reasoning_summary_part.added\ndata: {\"type\":\"response.reasoning_summary_part.added\",\"sequence_number\":7,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":1,\"part\":{\"type\":\"summary_text\",\"text\":\"\"}}\n\n\
event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"sequence_number\":8,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":1,\"delta\":\"Then edit.\"}\n\n\
event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":9,\"output_index\":0,\"item\":{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"Checking files.\"},{\"type\":\"summary_text\",\"text\":\"Then edit.\"}],\"encrypted_content\":\"gAAAAenc\"}}\n\n\
: keep-alive\n\n\
event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":10,\"output_index\":1,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"in_progress\",\"content\":[],\"role\":\"assistant\"}}\n\n\
event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\",\"sequence_number\":11,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":\"\"}}\n\n\
event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":12,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Hé\",\"logprobs\":[]}\n\n\
event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":13,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"llo ✓ 日本\",\"logprobs\":[]}\n\n\
event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"sequence_number\":14,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"text\":\"Héllo ✓ 日本\",\"logprobs\":[]}\n\n\
event: response.content_part.done\ndata: {\"type\":\"response.content_part.done\",\"sequence_number\":15,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":\"Héllo ✓ 日本\"}}\n\n\
event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":16,\"output_index\":1,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"completed\",\"content\":[{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":\"Héllo ✓ 日本\"}],\"role\":\"assistant\"}}\n\n\
event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":17,\"output_index\":2,\"item\":{\"id\":\"fc_1\",\"type\":\"function_call\",\"status\":\"in_progress\",\"arguments\":\"\",\"call_id\":\"call_1\",\"name\":\"shell\"}}\n\n\
event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":18,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"{\\\"command\\\":\"}\n\n\
event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":19,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"[\\\"ls\\\"]}\"}\n\n\
event: response.function_call_arguments.done\ndata: {\"type\":\"response.function_call_arguments.done\",\"sequence_number\":20,\"item_id\":\"fc_1\",\"output_index\":2,\"arguments\":\"{\\\"command\\\":[\\\"ls\\\"]}\"}\n\n\
event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":21,\"output_index\":2,\"item\":{\"id\":\"fc_1\",\"type\":\"function_call\",\"status\":\"completed\",\"arguments\":\"{\\\"command\\\":[\\\"ls\\\"]}\",\"call_id\":\"call_1\",\"name\":\"shell\"}}\n\n\
event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":22,\"output_index\":3,\"item\":{\"id\":\"ctc_1\",\"type\":\"custom_tool_call\",\"call_id\":\"call_2\",\"name\":\"apply_patch\",\"input\":\"\"}}\n\n\
event: response.custom_tool_call_input.delta\ndata: {\"type\":\"response.custom_tool_call_input.delta\",\"sequence_number\":23,\"item_id\":\"ctc_1\",\"output_index\":3,\"delta\":\"*** Begin Patch\"}\n\n\
event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":24,\"output_index\":3,\"item\":{\"id\":\"ctc_1\",\"type\":\"custom_tool_call\",\"call_id\":\"call_2\",\"name\":\"apply_patch\",\"input\":\"*** Begin Patch\"}}\n\n\
event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":25,\"output_index\":4,\"item\":{\"id\":\"ws_1\",\"type\":\"web_search_call\",\"status\":\"in_progress\"}}\n\n\
event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":26,\"output_index\":4,\"item\":{\"id\":\"ws_1\",\"type\":\"web_search_call\",\"status\":\"completed\",\"action\":{\"type\":\"search\",\"query\":\"q\"}}}\n\n\
event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":27,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"model\":\"gpt-5-codex\",\"output\":[],\"usage\":{\"input_tokens\":1000,\"input_tokens_details\":{\"cached_tokens\":800},\"output_tokens\":300,\"output_tokens_details\":{\"reasoning_tokens\":200},\"total_tokens\":1300}}}\n\n";

    fn decode_all(with_content: bool, chunks: &[&[u8]]) -> Result<Vec<StreamEvent>, ApiError> {
        let mut d = DecodeState::new(with_content);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(d.feed(c)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    #[test]
    fn decodes_every_split_point() {
        let bytes = STREAM.as_bytes();
        let whole = decode_all(true, &[bytes]).unwrap();
        // Mid-event, mid-line, mid-UTF-8: every single split gives the same events.
        for i in 0..=bytes.len() {
            let split = decode_all(true, &[&bytes[..i], &bytes[i..]]).unwrap();
            assert_eq!(split, whole, "split at {i}");
        }
        for i in (0..bytes.len()).step_by(53) {
            for j in (i..bytes.len()).step_by(41) {
                let split = decode_all(true, &[&bytes[..i], &bytes[i..j], &bytes[j..]]).unwrap();
                assert_eq!(split, whole, "split at {i},{j}");
            }
        }
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_all(true, &one_by_one).unwrap(), whole);
    }

    #[test]
    fn decodes_the_canonical_events() {
        let evs = decode_all(true, &[STREAM.as_bytes()]).unwrap();
        let kinds: Vec<String> = evs
            .iter()
            .map(|e| match e {
                StreamEvent::Start(s) => format!("start {} {}", s.id, s.model),
                StreamEvent::BlockStart(b) => format!(
                    "start#{} {}",
                    b.index,
                    match &b.block {
                        ContentBlock::Text(_) => "text".to_string(),
                        ContentBlock::Thinking(_) => "thinking".to_string(),
                        ContentBlock::ToolCall(c) =>
                            format!("call {} {}", c.id, c.kind == ToolKind::Custom),
                        ContentBlock::Other(_) => "other".to_string(),
                        _ => "?".to_string(),
                    }
                ),
                StreamEvent::TextDelta(d) => format!("text#{} {}", d.index, d.text),
                StreamEvent::ThinkingDelta(d) => format!("think#{} {:?}", d.index, d.text),
                StreamEvent::SignatureDelta(d) => format!("sig#{} {}", d.index, d.text),
                StreamEvent::ToolArgumentsDelta(d) => format!("args#{} {}", d.index, d.text),
                StreamEvent::BlockStop(i) => format!("stop#{i}"),
                StreamEvent::Usage(u) => format!(
                    "usage {:?} {:?} {:?} {:?}",
                    u.input_tokens, u.cache_read_tokens, u.output_tokens, u.reasoning_tokens
                ),
                StreamEvent::Finish(f) => {
                    format!("finish {}", f.stop_reason == StopReason::ToolUse)
                }
                StreamEvent::Ping => "ping".to_string(),
                StreamEvent::Error(e) => format!("error {}", e.message),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "start resp_1 gpt-5-codex",
                "start#0 thinking",
                "think#0 \"Checking\"",
                "think#0 \" files.\"",
                "think#0 \"\\n\\n\"",
                "think#0 \"Then edit.\"",
                "sig#0 gAAAAenc",
                "stop#0",
                "start#1 text",
                "text#1 Hé",
                "text#1 llo ✓ 日本",
                "stop#1",
                "start#2 call call_1 false",
                "args#2 {\"command\":",
                "args#2 [\"ls\"]}",
                "stop#2",
                "start#3 call call_2 true",
                "args#3 *** Begin Patch",
                "stop#3",
                "start#4 other",
                "stop#4",
                "usage Some(200) Some(800) Some(300) Some(200)",
                "finish true",
            ]
        );
        // The item ids ride along for a Responses encoder.
        let StreamEvent::BlockStart(b) = &evs[12] else {
            panic!()
        };
        assert!(
            matches!(&b.block, ContentBlock::ToolCall(c) if kept_id(c.extra.as_ref()).as_deref() == Some("fc_1"))
        );
    }

    #[test]
    fn observer_mode_sees_only_accounting() {
        let evs = decode_all(false, &[STREAM.as_bytes()]).unwrap();
        assert_eq!(evs.len(), 3, "{evs:?}");
        assert!(matches!(evs[0], StreamEvent::Start(_)));
        assert!(matches!(&evs[1], StreamEvent::Usage(u) if u.input_tokens == Some(200)));
        // Without content the stop reason comes from the final output array.
        assert!(matches!(&evs[2], StreamEvent::Finish(f) if f.stop_reason == StopReason::EndTurn));
        let with_calls = STREAM.replace(
            "\"output\":[],\"usage\":{",
            "\"output\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{}\"}],\"usage\":{",
        );
        let evs = decode_all(false, &[with_calls.as_bytes()]).unwrap();
        assert!(matches!(&evs[2], StreamEvent::Finish(f) if f.stop_reason == StopReason::ToolUse));
    }

    #[test]
    fn truncation_failures_and_garbage() {
        let cut = &STREAM.as_bytes()[..STREAM.find("event: response.completed").unwrap()];
        let e = decode_all(true, &[cut]).unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::BadGateway, 502));
        assert!(e.message.contains("response.completed"), "{}", e.message);
        // Cut inside the final event: the unterminated event is still parsed.
        let mid = &STREAM.as_bytes()[..STREAM.len() - 30];
        assert!(decode_all(false, &[mid]).is_err());
        let e = decode_all(false, &[b"event: response.created\ndata: {nope\n\n"]).unwrap_err();
        assert_eq!(e.status, 502);
        let failed = b"event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":3,\"response\":{\"id\":\"r\",\"status\":\"failed\",\"error\":{\"code\":\"rate_limit_exceeded\",\"message\":\"Try again in 2s\"},\"output\":[]}}\n\n";
        let evs = decode_all(false, &[failed]).unwrap();
        assert!(
            matches!(&evs[1], StreamEvent::Error(e) if e.kind == ErrorKind::RateLimit && e.status == 429)
        );
        let err = b"event: error\ndata: {\"type\":\"error\",\"sequence_number\":1,\"code\":\"server_is_overloaded\",\"message\":\"busy\",\"param\":null}\n\n";
        let evs = decode_all(true, &[err]).unwrap();
        assert!(
            matches!(&evs[0], StreamEvent::Error(e) if e.kind == ErrorKind::Overloaded && e.message == "busy")
        );
        let incomplete = b"data: {\"type\":\"response.incomplete\",\"response\":{\"id\":\"r\",\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"output\":[]}}\n\n";
        let evs = decode_all(false, &[incomplete]).unwrap();
        assert!(
            matches!(&evs[1], StreamEvent::Finish(f) if f.stop_reason == StopReason::MaxTokens)
        );
    }

    #[test]
    fn lenient_upstreams_decode_too() {
        // Data-only events, no content_part.added, arguments only in the done item.
        let body = "data: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"model\":\"m\"}}\n\n\
data: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"msg_9\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\n\
data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_9\",\"content_index\":0,\"delta\":\"ok\"}\n\n\
data: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"id\":\"msg_9\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"ok\"}]}}\n\n\
data: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"\"}}\n\n\
data: {\"type\":\"response.output_item.done\",\"output_index\":1,\"item\":{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}\n\n\
data: {\"type\":\"response.output_item.done\",\"output_index\":2,\"item\":{\"type\":\"local_shell_call\",\"call_id\":\"c2\",\"status\":\"completed\",\"action\":{\"type\":\"exec\",\"command\":[\"ls\"]}}}\n\n\
data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\",\"output\":[]}}";
        let evs = decode_all(true, &[body.as_bytes()]).unwrap();
        assert!(
            matches!(&evs[1], StreamEvent::BlockStart(b) if matches!(&b.block, ContentBlock::Text(_)))
        );
        assert!(matches!(&evs[2], StreamEvent::TextDelta(d) if d.text == "ok"));
        assert!(matches!(&evs[3], StreamEvent::BlockStop(0)));
        assert!(matches!(&evs[5], StreamEvent::ToolArgumentsDelta(d) if d.text == "{\"a\":1}"));
        assert!(
            matches!(&evs[7], StreamEvent::BlockStart(b) if matches!(&b.block, ContentBlock::ToolCall(c) if c.kind == ToolKind::Builtin("local_shell".into()) && c.arguments.contains("ls")))
        );
        assert!(
            matches!(evs.last(), Some(StreamEvent::Finish(f)) if f.stop_reason == StopReason::ToolUse)
        );
    }

    // ----- encoder -----

    /// What Codex and the OpenAI SDKs rely on, checked on an encoded stream; returns
    /// the parsed events.
    fn check_contract(bytes: &[u8]) -> Vec<Value> {
        let mut parser = SseParser::new();
        let mut events: Vec<(String, Value)> = Vec::new();
        parser
            .feed::<()>(bytes, |e| {
                events.push((e.event.to_string(), serde_json::from_str(e.data).unwrap()));
                Ok(())
            })
            .unwrap();
        assert!(
            parser.finish::<()>(|_| Ok(())).unwrap(),
            "unterminated event"
        );
        let mut open: HashMap<String, u64> = HashMap::new();
        let mut added = 0u64;
        let mut done_items: Vec<(u64, Value)> = Vec::new();
        for (n, (name, v)) in events.iter().enumerate() {
            assert_eq!(v["type"], name.as_str(), "event line matches data.type");
            assert_eq!(
                v["sequence_number"], n as u64,
                "sequence numbers count up from 0"
            );
            match name.as_str() {
                "response.output_item.added" => {
                    assert_eq!(v["output_index"], added, "items are added in output order");
                    added += 1;
                    let id = v["item"]["id"].as_str().unwrap().to_string();
                    open.insert(id, v["output_index"].as_u64().unwrap());
                }
                "response.output_item.done" => {
                    let id = v["item"]["id"].as_str().unwrap();
                    assert_eq!(
                        open.remove(id),
                        v["output_index"].as_u64(),
                        "done after added"
                    );
                    done_items.push((v["output_index"].as_u64().unwrap(), v["item"].clone()));
                    // Codex parses these as ResponseItems.
                    let item = &v["item"];
                    match item["type"].as_str().unwrap() {
                        "message" => {
                            assert_eq!(item["role"], "assistant");
                            for p in item["content"].as_array().unwrap() {
                                assert!(p["text"].is_string() || p["refusal"].is_string());
                            }
                        }
                        "reasoning" => assert!(item["summary"].is_array()),
                        "function_call" => {
                            assert!(item["name"].is_string() && item["call_id"].is_string());
                            assert!(item["arguments"].is_string());
                        }
                        "custom_tool_call" => assert!(item["input"].is_string()),
                        _ => {}
                    }
                }
                n if n.ends_with(".delta")
                    || n.starts_with("response.content_part")
                    || n.starts_with("response.reasoning_summary") =>
                {
                    let id = v["item_id"].as_str().unwrap();
                    assert_eq!(
                        open.get(id).copied(),
                        v["output_index"].as_u64(),
                        "{name} for an open item"
                    );
                }
                _ => {}
            }
        }
        assert_eq!(events[0].0, "response.created");
        assert_eq!(events[1].0, "response.in_progress");
        let (last, terminal) = events.last().unwrap();
        assert!(
            [
                "response.completed",
                "response.incomplete",
                "response.failed"
            ]
            .contains(&last.as_str()),
            "ends with a terminal event, not {last}"
        );
        assert!(
            open.is_empty() || last == "response.failed",
            "every item is done"
        );
        let r = &terminal["response"];
        assert!(r["id"].as_str().unwrap().starts_with("resp_"));
        if last != "response.failed" {
            let u = &r["usage"];
            for k in ["input_tokens", "output_tokens", "total_tokens"] {
                assert!(u[k].is_u64(), "usage.{k}");
            }
            assert!(u["input_tokens_details"]["cached_tokens"].is_u64());
            assert!(u["output_tokens_details"]["reasoning_tokens"].is_u64());
            // The final output array is exactly the items Codex saw done.
            let output: Vec<Value> = done_items.into_iter().map(|(_, i)| i).collect();
            assert_eq!(r["output"], Value::Array(output));
        }
        events.into_iter().map(|(_, v)| v).collect()
    }

    fn encode_all(model: &str, events: &[StreamEvent]) -> Vec<u8> {
        let mut enc = EncodeState::new(model.to_string());
        let mut bytes = Vec::new();
        for e in events {
            bytes.extend(enc.encode(std::slice::from_ref(e)).unwrap());
        }
        bytes.extend(enc.finish());
        // Nothing more after the end.
        assert!(enc.finish().is_empty());
        assert!(enc.encode(&[StreamEvent::Ping]).unwrap().is_empty());
        bytes
    }

    #[test]
    fn encoder_replays_a_responses_stream() {
        let events = decode_all(true, &[STREAM.as_bytes()]).unwrap();
        let bytes = encode_all("", &events);
        let evs = check_contract(&bytes);
        let last = evs.last().unwrap();
        assert_eq!(last["type"], "response.completed");
        assert_eq!(last["response"]["id"], "resp_1");
        assert_eq!(last["response"]["usage"]["input_tokens"], 1000);
        assert_eq!(
            last["response"]["usage"]["input_tokens_details"]["cached_tokens"],
            800
        );
        let out = &last["response"]["output"];
        assert_eq!(out[0]["id"], "rs_1");
        assert_eq!(out[0]["encrypted_content"], "gAAAAenc");
        assert_eq!(out[1]["id"], "msg_1");
        assert_eq!(out[1]["content"][0]["text"], "Héllo ✓ 日本");
        assert_eq!(
            out[2],
            json!({"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_1", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"})
        );
        assert_eq!(
            out[3],
            json!({"id": "ctc_1", "type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin Patch"})
        );
        assert_eq!(out[4]["type"], "web_search_call");
        // Decoding our own stream gives the same canonical events.
        assert_eq!(decode_all(true, &[&bytes]).unwrap(), events);
    }

    fn block(index: u32, block: ContentBlock) -> StreamEvent {
        StreamEvent::BlockStart(BlockStart { index, block })
    }

    fn delta(index: u32, text: &str) -> BlockDelta {
        BlockDelta {
            index,
            text: text.to_string(),
        }
    }

    fn text(s: &str) -> ContentBlock {
        ContentBlock::Text(TextBlock {
            text: s.to_string(),
            cache_control: None,
            citations: None,
            extra: None,
        })
    }

    /// What the Anthropic decoder yields for a Claude turn with thinking, text and
    /// parallel tool calls.
    fn anthropic_events() -> Vec<StreamEvent> {
        let mut start_usage = Usage::empty();
        start_usage.input_tokens = Some(25);
        start_usage.cache_read_tokens = Some(7);
        start_usage.cache_write_tokens = Some(3);
        let mut end_usage = start_usage.clone();
        end_usage.output_tokens = Some(42);
        let call = |id: &str| {
            ContentBlock::ToolCall(ToolCall {
                id: id.to_string(),
                name: "shell".into(),
                arguments: String::new(),
                kind: ToolKind::Function,
                namespace: None,
                cache_control: None,
                extra: None,
            })
        };
        vec![
            StreamEvent::Start(StreamStart {
                id: "msg_01".into(),
                model: "claude-sonnet-4-5".into(),
                usage: start_usage,
            }),
            block(
                0,
                ContentBlock::Thinking(ThinkingBlock {
                    text: String::new(),
                    signature: None,
                    extra: None,
                }),
            ),
            StreamEvent::ThinkingDelta(delta(0, "hmm ✓")),
            StreamEvent::SignatureDelta(delta(0, "sig")),
            StreamEvent::BlockStop(0),
            StreamEvent::Ping,
            block(1, text("")),
            StreamEvent::TextDelta(delta(1, "Héllo")),
            StreamEvent::BlockStop(1),
            block(2, call("toolu_1")),
            StreamEvent::ToolArgumentsDelta(delta(2, "{\"command\":")),
            StreamEvent::ToolArgumentsDelta(delta(2, "[\"ls\"]}")),
            StreamEvent::BlockStop(2),
            block(3, call("toolu_2")),
            StreamEvent::ToolArgumentsDelta(delta(3, "{}")),
            StreamEvent::BlockStop(3),
            block(4, ContentBlock::RedactedThinking("opaque".into())),
            StreamEvent::BlockStop(4),
            block(
                5,
                ContentBlock::Other(Extra {
                    source: Dialect::Anthropic,
                    fields: "{\"type\":\"server_tool_use\"}".into(),
                }),
            ),
            StreamEvent::BlockStop(5),
            StreamEvent::Usage(end_usage),
            StreamEvent::Finish(StreamFinish {
                stop_reason: StopReason::ToolUse,
                stop_sequence: None,
            }),
        ]
    }

    #[test]
    fn encoder_serves_codex_from_an_anthropic_stream() {
        let bytes = encode_all("gpt-5-codex", &anthropic_events());
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("event: response.created\ndata: {\"type\":\"response.created\","));
        assert!(text.contains("\n: ping\n\n"));
        let evs = check_contract(&bytes);
        let names: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            vec![
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let r = &evs.last().unwrap()["response"];
        assert_eq!(r["id"], "resp_msg_01");
        assert_eq!(r["model"], "gpt-5-codex");
        assert_eq!(r["status"], "completed");
        // 25 uncached + 7 cache reads + 3 cache writes.
        assert_eq!(
            r["usage"],
            json!({"input_tokens": 35, "input_tokens_details": {"cached_tokens": 7}, "output_tokens": 42,
                   "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 77})
        );
        let out = r["output"].as_array().unwrap();
        assert_eq!(
            out[0],
            json!({"id": "rs_msg_01_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "hmm ✓"}], "encrypted_content": "sig"})
        );
        assert_eq!(out[1]["content"][0]["text"], "Héllo");
        assert_eq!(out[2]["call_id"], "toolu_1");
        assert_eq!(out[2]["arguments"], "{\"command\":[\"ls\"]}");
        assert_eq!(out[3]["call_id"], "toolu_2");
        assert_eq!(
            out[4]["encrypted_content"],
            "tollgate.redacted_thinking:opaque"
        );
        assert_eq!(out.len(), 5, "the Anthropic-only block is not an item");
        // Codex replays the reasoning items: the Anthropic signature comes back.
        let back = decode_all(true, &[&bytes]).unwrap();
        assert!(back
            .iter()
            .any(|e| matches!(e, StreamEvent::SignatureDelta(d) if d.text == "sig")));
        assert!(back.iter().any(|e| matches!(e, StreamEvent::BlockStart(b) if matches!(&b.block, ContentBlock::RedactedThinking(d) if d == "opaque"))));
    }

    #[test]
    fn encoder_ends_cleanly_in_every_case() {
        // No events at all: still a complete, empty response.
        let evs = check_contract(&encode_all("m", &[]));
        assert_eq!(evs.last().unwrap()["type"], "response.completed");
        // Max tokens: response.incomplete with the reason; open blocks are closed.
        let events = vec![
            block(0, text("Hi")),
            StreamEvent::TextDelta(delta(0, " there")),
            StreamEvent::Finish(StreamFinish {
                stop_reason: StopReason::MaxTokens,
                stop_sequence: None,
            }),
        ];
        let evs = check_contract(&encode_all("m", &events));
        let last = evs.last().unwrap();
        assert_eq!(last["type"], "response.incomplete");
        assert_eq!(
            last["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );
        assert_eq!(
            last["response"]["output"][0]["content"][0]["text"],
            "Hi there"
        );
        // A mid-stream error: response.failed with a code Codex classifies.
        let events = vec![
            block(0, text("")),
            StreamEvent::TextDelta(delta(0, "partial")),
            StreamEvent::Error(ApiError::new(
                ErrorKind::RateLimit,
                "Rate limited, try again in 2s",
            )),
            StreamEvent::TextDelta(delta(0, "ignored")),
        ];
        let evs = check_contract(&encode_all("m", &events));
        let last = evs.last().unwrap();
        assert_eq!(last["type"], "response.failed");
        assert_eq!(
            last["response"]["error"],
            json!({"code": "rate_limit_exceeded", "message": "Rate limited, try again in 2s"})
        );
        let e = ApiError::new(
            ErrorKind::InvalidRequest,
            "prompt is too long: 1 tokens > 0 maximum",
        );
        let evs = check_contract(&encode_all("m", &[StreamEvent::Error(e)]));
        assert_eq!(
            evs.last().unwrap()["response"]["error"]["code"],
            "context_length_exceeded"
        );
        // And the decoder surfaces it as an error.
        let bytes = encode_all("m", &events);
        let back = decode_all(true, &[&bytes]).unwrap();
        assert!(
            matches!(back.last(), Some(StreamEvent::Error(e)) if e.kind == ErrorKind::RateLimit)
        );
    }

    #[test]
    fn encoder_groups_text_parts_and_keeps_custom_and_namespace() {
        let events = vec![
            block(0, text("a")),
            StreamEvent::BlockStop(0),
            block(1, text("b")),
            StreamEvent::BlockStop(1),
            block(
                2,
                ContentBlock::ToolCall(ToolCall {
                    id: "call_9".into(),
                    name: "apply_patch".into(),
                    arguments: "*** Begin".into(),
                    kind: ToolKind::Custom,
                    namespace: None,
                    cache_control: None,
                    extra: None,
                }),
            ),
            StreamEvent::ToolArgumentsDelta(delta(2, " Patch")),
            StreamEvent::BlockStop(2),
            block(
                3,
                ContentBlock::ToolCall(ToolCall {
                    id: "call_10".into(),
                    name: "search".into(),
                    arguments: "{}".into(),
                    kind: ToolKind::Function,
                    namespace: Some("mcp__gh__".into()),
                    cache_control: None,
                    extra: None,
                }),
            ),
            StreamEvent::BlockStop(3),
            block(
                4,
                ContentBlock::ToolCall(ToolCall {
                    id: "call_11".into(),
                    name: "local_shell".into(),
                    arguments: "{\"type\":\"exec\",\"command\":[\"ls\"]}".into(),
                    kind: ToolKind::Builtin("local_shell".into()),
                    namespace: None,
                    cache_control: None,
                    extra: None,
                }),
            ),
            StreamEvent::BlockStop(4),
        ];
        let evs = check_contract(&encode_all("m", &events));
        assert!(evs
            .iter()
            .any(|e| e["type"] == "response.custom_tool_call_input.delta"));
        let out = &evs.last().unwrap()["response"]["output"];
        assert_eq!(
            out[0]["content"].as_array().unwrap().len(),
            2,
            "consecutive text is one message"
        );
        assert_eq!(out[0]["content"][1]["text"], "b");
        assert_eq!(out[1]["input"], "*** Begin Patch");
        assert_eq!(out[2]["namespace"], "mcp__gh__");
        assert_eq!(out[3]["type"], "local_shell_call");
        assert_eq!(out[3]["action"]["command"][0], "ls");
    }
}
