//! Gemini streams: a decoder (upstream bytes → canonical events) that reads both the
//! SSE form (`?alt=sse`: `data: {…}` events) and the streamed JSON-array form
//! (`[{…},{…}]`, objects split anywhere), and an encoder (canonical events → either form
//! for a client, chosen by its query string).
//!
//! Each Gemini chunk is a whole `GenerateContentResponse` holding deltas: text and
//! thought parts are pieces of the current block; function calls always arrive whole.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{json, Map, Value};
use tollgate_sdk::provider::{
    ApiError, BlockDelta, BlockStart, ContentBlock, GuestStreamDecoder, GuestStreamEncoder,
    StopReason, StreamEvent, StreamFinish, StreamStart, TextBlock, ThinkingBlock, ToolCall, Usage,
};
use tollgate_sdk::sse::{SseEvent, SseParser};

use crate::passthrough::AnswerHead;
use crate::translate::{
    decode_candidate_parts, first_candidate, function_call_part, response_parts,
};
use crate::wire::{self, field, stop_reason_from, usage_from, usage_to};

// ----- framing -----

/// Splits the streamed JSON-array form into its objects, whatever the chunking: the
/// opening `[`, commas, whitespace and the closing `]` between objects are skipped.
/// A bare object (an error answer sent as plain JSON) is read the same way.
#[derive(Default)]
struct ArrayFramer {
    /// Bytes of the unfinished object.
    buf: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl ArrayFramer {
    fn feed(
        &mut self,
        chunk: &[u8],
        mut on_object: impl FnMut(&[u8]) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.depth == 0 {
                let b = rest[0];
                rest = &rest[1..];
                match b {
                    b'{' => {
                        self.depth = 1;
                        self.buf.clear();
                        self.buf.push(b);
                    }
                    b'[' | b']' | b',' | b' ' | b'\t' | b'\r' | b'\n' => {}
                    other => {
                        return Err(ApiError::bad_gateway(format!(
                            "upstream stream: unexpected byte {:?} between JSON objects",
                            other as char
                        )))
                    }
                }
                continue;
            }
            // Inside an object: copy up to the byte that closes it.
            let mut end = None;
            for (k, &b) in rest.iter().enumerate() {
                if self.in_string {
                    if self.escaped {
                        self.escaped = false;
                    } else if b == b'\\' {
                        self.escaped = true;
                    } else if b == b'"' {
                        self.in_string = false;
                    }
                    continue;
                }
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            end = Some(k + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            match end {
                Some(n) => {
                    self.buf.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                    let obj = core::mem::take(&mut self.buf);
                    let r = on_object(&obj);
                    self.buf = obj;
                    self.buf.clear();
                    r?;
                }
                None => {
                    self.buf.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    fn mid_object(&self) -> bool {
        self.depth > 0
    }
}

enum Framing {
    /// Nothing but whitespace seen yet.
    Unknown,
    Sse(SseParser),
    Array(ArrayFramer),
}

// ----- decoder -----

/// The kind of the block a decoder has open.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    /// A thinking block; `true` once its signature arrived (a later thought starts a
    /// new block).
    Thinking(bool),
}

/// Decoder state, fed chunk by chunk.
pub struct DecodeState {
    with_content: bool,
    framing: Framing,
    started: bool,
    response_id: String,
    usage: Usage,
    called_tools: bool,
    saw_finish: bool,
    saw_error: bool,
    /// The open block and its index.
    open: Option<(u32, Open)>,
    next_index: u32,
    /// Parts seen so far (seeds generated call ids).
    parts_seen: usize,
}

fn upstream_json(data: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(data).map_err(|e| {
        ApiError::bad_gateway(format!(
            "upstream stream sent invalid JSON ({e}): {}",
            tollgate_sdk::json::snippet(data, 120)
        ))
    })
}

impl DecodeState {
    /// A decoder; see `stream-decoder` in the WIT for `with_content`.
    pub fn new(with_content: bool) -> DecodeState {
        DecodeState {
            with_content,
            framing: Framing::Unknown,
            started: false,
            response_id: String::new(),
            usage: Usage::empty(),
            called_tools: false,
            saw_finish: false,
            saw_error: false,
            open: None,
            next_index: 0,
            parts_seen: 0,
        }
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((i, _)) = self.open.take() {
            out.push(StreamEvent::BlockStop(i));
        }
    }

    fn start_block(&mut self, block: ContentBlock, out: &mut Vec<StreamEvent>) -> u32 {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        out.push(StreamEvent::BlockStart(BlockStart { index, block }));
        index
    }

    fn delta(index: u32, text: &str) -> BlockDelta {
        BlockDelta {
            index,
            text: text.to_string(),
        }
    }

    fn empty_thinking() -> ContentBlock {
        ContentBlock::Thinking(ThinkingBlock {
            text: String::new(),
            signature: None,
            extra: None,
        })
    }

    /// Events for one part of the first candidate.
    fn on_part(&mut self, p: &Value, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        let seq = self.parts_seen;
        self.parts_seen += 1;
        let Some(po) = p.as_object() else {
            return Err(ApiError::bad_gateway(
                "upstream stream: a part is not an object",
            ));
        };
        let sig = field(po, "thoughtSignature").and_then(Value::as_str);
        let text = field(po, "text").and_then(Value::as_str);
        if field(po, "thought").and_then(Value::as_bool) == Some(true) {
            let index = match self.open {
                Some((i, Open::Thinking(false))) => i,
                _ => {
                    let i = self.start_block(Self::empty_thinking(), out);
                    self.open = Some((i, Open::Thinking(false)));
                    i
                }
            };
            if let Some(t) = text.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::ThinkingDelta(Self::delta(index, t)));
            }
            if let Some(s) = sig {
                out.push(StreamEvent::SignatureDelta(Self::delta(index, s)));
                self.open = Some((index, Open::Thinking(true)));
            }
            return Ok(());
        }
        let signature_only =
            text.is_none() && po.keys().all(|k| wire::is_known(k, &["thoughtSignature"]));
        let known = ["functionCall", "functionResponse", "inlineData", "fileData"]
            .iter()
            .any(|k| field(po, k).is_some());
        // Like a complete answer: a signature on a text, media or call part is an empty
        // thinking block just before it; other parts keep theirs inside.
        if let (Some(s), true) = (sig, text.is_some() || signature_only || known) {
            let i = self.start_block(Self::empty_thinking(), out);
            out.push(StreamEvent::SignatureDelta(Self::delta(i, s)));
            out.push(StreamEvent::BlockStop(i));
        }
        if let Some(t) = text {
            if t.is_empty() {
                return Ok(());
            }
            let index = match self.open {
                Some((i, Open::Text)) => i,
                _ => {
                    let i = self.start_block(
                        ContentBlock::Text(TextBlock {
                            text: String::new(),
                            cache_control: None,
                            citations: None,
                            extra: wire::extra_of(po, &["text", "thought", "thoughtSignature"]),
                        }),
                        out,
                    );
                    self.open = Some((i, Open::Text));
                    i
                }
            };
            out.push(StreamEvent::TextDelta(Self::delta(index, t)));
            return Ok(());
        }
        if signature_only {
            return Ok(());
        }
        // Function calls (whole, as Gemini sends them), media, executable code: decoded
        // like a complete answer's part, then opened and closed at once.
        let mut part = po.clone();
        if known {
            part.remove("thoughtSignature");
            part.remove("thought_signature");
        }
        let blocks = decode_candidate_parts(
            &[Value::Object(part)],
            &self.response_id,
            seq,
            "candidates.0.content.parts",
        )
        .map_err(|e| ApiError::bad_gateway(format!("upstream stream: {}", e.message)))?;
        for block in blocks {
            match block {
                ContentBlock::ToolCall(c) => {
                    self.called_tools = true;
                    let args = c.arguments.clone();
                    let i = self.start_block(
                        ContentBlock::ToolCall(ToolCall {
                            arguments: String::new(),
                            ..c
                        }),
                        out,
                    );
                    out.push(StreamEvent::ToolArgumentsDelta(Self::delta(i, &args)));
                    out.push(StreamEvent::BlockStop(i));
                }
                block => {
                    let i = self.start_block(block, out);
                    out.push(StreamEvent::BlockStop(i));
                }
            }
        }
        Ok(())
    }

    fn on_error(&mut self, e: &Value, out: &mut Vec<StreamEvent>) {
        self.saw_error = true;
        let code = e
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (400..600).contains(c))
            .unwrap_or(500);
        let mut err = wire::error_from(e, code).unwrap_or_else(|| {
            ApiError::bad_gateway(format!(
                "upstream stream error: {}",
                tollgate_sdk::json::snippet(e.to_string().as_bytes(), 200)
            ))
        });
        if e.get("code").is_none() {
            err.status = err.kind.default_status();
        }
        out.push(StreamEvent::Error(err));
    }

    fn on_start(
        &mut self,
        id: Option<&str>,
        model: Option<&str>,
        usage: Option<&Value>,
        out: &mut Vec<StreamEvent>,
    ) {
        if self.started {
            return;
        }
        self.started = true;
        self.response_id = id.unwrap_or_default().to_string();
        self.usage = usage.map(usage_from).unwrap_or_default();
        out.push(StreamEvent::Start(StreamStart {
            id: self.response_id.clone(),
            model: model.unwrap_or_default().to_string(),
            usage: self.usage.clone(),
        }));
    }

    fn on_usage(&mut self, usage: Option<&Value>, out: &mut Vec<StreamEvent>) {
        if let Some(u) = usage.map(usage_from) {
            if u != self.usage {
                self.usage = u;
                out.push(StreamEvent::Usage(self.usage.clone()));
            }
        }
    }

    fn on_finish(&mut self, reason: Option<&str>, blocked: bool, out: &mut Vec<StreamEvent>) {
        let stop = match (reason, blocked) {
            (Some(r), _) => stop_reason_from(r, self.called_tools),
            (None, true) => StopReason::ContentFilter,
            (None, false) => return,
        };
        self.close(out);
        self.saw_finish = true;
        out.push(StreamEvent::Finish(StreamFinish {
            stop_reason: stop,
            stop_sequence: None,
        }));
    }

    /// One `GenerateContentResponse` chunk.
    fn on_chunk(&mut self, data: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        if self.with_content {
            let v = upstream_json(data)?;
            if let Some(e) = v.get("error") {
                self.on_error(e, out);
                return Ok(());
            }
            self.on_start(
                v.get("responseId").and_then(Value::as_str),
                v.get("modelVersion").and_then(Value::as_str),
                v.get("usageMetadata"),
                out,
            );
            let cands = v.get("candidates").and_then(Value::as_array);
            let first = cands.and_then(|c| first_candidate(c));
            if let Some(parts) = first
                .and_then(|c| c.get("content"))
                .and_then(|c| c.get("parts"))
                .and_then(Value::as_array)
            {
                for p in parts {
                    self.on_part(p, out)?;
                }
            }
            self.on_usage(v.get("usageMetadata"), out);
            let blocked = first.is_none()
                && v.get("promptFeedback")
                    .and_then(|p| p.get("blockReason"))
                    .is_some();
            self.on_finish(
                first
                    .and_then(|c| c.get("finishReason"))
                    .and_then(Value::as_str),
                blocked,
                out,
            );
            return Ok(());
        }
        // Accounting only: read the chunk without copying its texts.
        let head: AnswerHead = serde_json::from_slice(data).map_err(|e| {
            ApiError::bad_gateway(format!(
                "upstream stream sent invalid JSON ({e}): {}",
                tollgate_sdk::json::snippet(data, 120)
            ))
        })?;
        if let Some(e) = &head.error {
            self.on_error(e, out);
            return Ok(());
        }
        self.on_start(
            head.response_id.as_deref(),
            head.model_version.as_deref(),
            head.usage.as_ref(),
            out,
        );
        let first = head.first();
        if first.is_some_and(|c| c.calls_tools()) {
            self.called_tools = true;
        }
        self.on_usage(head.usage.as_ref(), out);
        let blocked = first.is_none()
            && head
                .prompt_feedback
                .as_ref()
                .is_some_and(|p| p.get("blockReason").is_some());
        self.on_finish(first.and_then(|c| c.finish_reason.as_deref()), blocked, out);
        Ok(())
    }

    fn on_sse(&mut self, e: SseEvent<'_>, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        let data = e.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        self.on_chunk(data.as_bytes(), out)
    }

    /// Feed bytes.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<StreamEvent>, ApiError> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if matches!(self.framing, Framing::Unknown) {
            let skip = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
            rest = &rest[skip..];
            match rest.first() {
                None => return Ok(out),
                Some(b'[') | Some(b'{') => self.framing = Framing::Array(ArrayFramer::default()),
                Some(_) => self.framing = Framing::Sse(SseParser::new()),
            }
        }
        let mut framing = core::mem::replace(&mut self.framing, Framing::Unknown);
        let r = match &mut framing {
            Framing::Array(f) => f.feed(rest, |obj| self.on_chunk(obj, &mut out)),
            Framing::Sse(p) => p.feed(rest, |e| self.on_sse(e, &mut out)),
            Framing::Unknown => Ok(()),
        };
        self.framing = framing;
        r.map(|()| out)
    }

    /// The stream ended.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ApiError> {
        let mut out = Vec::new();
        let mut framing = core::mem::replace(&mut self.framing, Framing::Unknown);
        let r = match &mut framing {
            Framing::Sse(p) => p.finish(|e| self.on_sse(e, &mut out)).map(|_| ()),
            Framing::Array(f) if f.mid_object() => Err(ApiError::bad_gateway(
                "upstream stream ended in the middle of a JSON object",
            )),
            _ => Ok(()),
        };
        self.framing = framing;
        r?;
        if !self.saw_finish && !self.saw_error {
            return Err(ApiError::bad_gateway(
                "upstream stream ended before a finishReason (truncated)",
            ));
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

/// Whether a client's query string asks for the SSE form (`alt=sse`).
pub fn wants_sse(query: &str) -> bool {
    query.split('&').any(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == "alt" || k == "$alt") && v.eq_ignore_ascii_case("sse")
    })
}

/// A block the encoder is assembling.
enum Pending {
    Text,
    /// A thinking block: whether it had text, and its signature so far.
    Thinking {
        had_text: bool,
        signature: String,
    },
    /// A function call, emitted whole when it ends.
    Call(ToolCall),
    /// Already emitted, or nothing to emit.
    Done,
}

/// Encoder state.
pub struct EncodeState {
    model: String,
    sse: bool,
    id: String,
    upstream_model: String,
    /// Chunks written so far (the JSON-array form needs its `[` and commas).
    chunks: usize,
    blocks: HashMap<u32, Pending>,
    /// A signature waiting for the next part (from an empty thinking block).
    carry: Option<String>,
    usage: Usage,
    finish: Option<StreamFinish>,
    done: bool,
}

impl EncodeState {
    /// An encoder answering as `model` (the model the client asked for), in the form
    /// the client's `query` selects.
    pub fn new(model: String, query: &str) -> EncodeState {
        EncodeState {
            model,
            sse: wants_sse(query),
            id: String::new(),
            upstream_model: String::new(),
            chunks: 0,
            blocks: HashMap::new(),
            carry: None,
            usage: Usage::empty(),
            finish: None,
            done: false,
        }
    }

    /// The stream's content type.
    pub fn content_type(&self) -> &'static str {
        if self.sse {
            "text/event-stream"
        } else {
            "application/json"
        }
    }

    fn write(&mut self, out: &mut Vec<u8>, chunk: &Value) {
        let json = chunk.to_string();
        if self.sse {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(json.as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
        } else {
            out.extend_from_slice(if self.chunks == 0 { b"[" } else { b",\r\n" });
            out.extend_from_slice(json.as_bytes());
        }
        self.chunks += 1;
    }

    fn chunk(&self, parts: Vec<Value>, finish: Option<&str>, usage: bool) -> Value {
        let mut cand = Map::new();
        if !parts.is_empty() {
            cand.insert("content".into(), json!({"parts": parts, "role": "model"}));
        }
        if let Some(f) = finish {
            cand.insert("finishReason".into(), json!(f));
        }
        cand.insert("index".into(), json!(0));
        let mut m = Map::new();
        m.insert("candidates".into(), json!([cand]));
        if usage {
            m.insert("usageMetadata".into(), usage_to(&self.usage));
        }
        let model = if self.model.is_empty() {
            &self.upstream_model
        } else {
            &self.model
        };
        if !model.is_empty() {
            m.insert("modelVersion".into(), json!(model));
        }
        if !self.id.is_empty() {
            m.insert("responseId".into(), json!(self.id));
        }
        Value::Object(m)
    }

    /// Append a part, merging text into the previous part of the same kind and giving
    /// a carried signature to the first non-thought part.
    fn push(&mut self, parts: &mut Vec<Value>, mut part: Value) {
        let thought = part.get("thought").and_then(Value::as_bool) == Some(true);
        if !thought {
            if let (Some(sig), Some(p)) = (self.carry.take(), part.as_object_mut()) {
                p.insert("thoughtSignature".into(), json!(sig));
            }
        }
        if let (Some(text), Some(last)) = (
            part.get("text").and_then(Value::as_str),
            parts.last_mut().and_then(Value::as_object_mut),
        ) {
            let same_kind = (last.get("thought").and_then(Value::as_bool) == Some(true)) == thought;
            let mergeable = part
                .as_object()
                .is_some_and(|p| p.keys().all(|k| matches!(k.as_str(), "text" | "thought")))
                && !(thought && last.contains_key("thoughtSignature"));
            if same_kind && mergeable {
                if let Some(Value::String(t)) = last.get_mut("text") {
                    t.push_str(text);
                    return;
                }
            }
        }
        parts.push(part);
    }

    fn push_text(&mut self, parts: &mut Vec<Value>, text: &str, thought: bool) {
        if text.is_empty() {
            return;
        }
        let part = if thought {
            json!({"text": text, "thought": true})
        } else {
            json!({ "text": text })
        };
        self.push(parts, part);
    }

    fn end_block(&mut self, index: u32, parts: &mut Vec<Value>) {
        match self.blocks.remove(&index) {
            Some(Pending::Call(c)) => self.push(parts, function_call_part(&c)),
            Some(Pending::Thinking {
                had_text,
                signature,
            }) if !signature.is_empty() => {
                if had_text {
                    // Close the thought with its signature (on its last piece if that
                    // piece is still in this chunk).
                    match parts.last_mut().and_then(Value::as_object_mut) {
                        Some(last)
                            if last.get("thought").and_then(Value::as_bool) == Some(true)
                                && !last.contains_key("thoughtSignature") =>
                        {
                            last.insert("thoughtSignature".into(), json!(signature));
                        }
                        _ => parts.push(
                            json!({"text": "", "thought": true, "thoughtSignature": signature}),
                        ),
                    }
                } else if let Some(old) = self.carry.replace(signature) {
                    parts.push(json!({"text": "", "thoughtSignature": old}));
                }
            }
            _ => {}
        }
    }

    /// Encode events.
    pub fn encode(&mut self, events: &[StreamEvent]) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::new();
        if self.done {
            return Ok(out);
        }
        let mut parts: Vec<Value> = Vec::new();
        for ev in events {
            match ev {
                StreamEvent::Start(s) => {
                    self.id.clone_from(&s.id);
                    self.upstream_model.clone_from(&s.model);
                    self.usage.merge(&s.usage);
                }
                StreamEvent::BlockStart(b) => {
                    let pending = match &b.block {
                        ContentBlock::Text(t) => {
                            self.push_text(&mut parts, &t.text, false);
                            Pending::Text
                        }
                        ContentBlock::Thinking(t) => {
                            self.push_text(&mut parts, &t.text, true);
                            Pending::Thinking {
                                had_text: !t.text.is_empty(),
                                signature: t.signature.clone().unwrap_or_default(),
                            }
                        }
                        ContentBlock::ToolCall(c) => Pending::Call(c.clone()),
                        ContentBlock::RedactedThinking(_) | ContentBlock::ToolResult(_) => {
                            Pending::Done
                        }
                        other => {
                            for p in response_parts(std::slice::from_ref(other))? {
                                self.push(&mut parts, p);
                            }
                            Pending::Done
                        }
                    };
                    self.blocks.insert(b.index, pending);
                }
                StreamEvent::TextDelta(d) => self.push_text(&mut parts, &d.text, false),
                StreamEvent::ThinkingDelta(d) => {
                    if let Some(Pending::Thinking { had_text, .. }) = self.blocks.get_mut(&d.index)
                    {
                        *had_text |= !d.text.is_empty();
                    }
                    self.push_text(&mut parts, &d.text, true);
                }
                StreamEvent::SignatureDelta(d) => {
                    if let Some(Pending::Thinking { signature, .. }) = self.blocks.get_mut(&d.index)
                    {
                        signature.push_str(&d.text);
                    }
                }
                StreamEvent::ToolArgumentsDelta(d) => {
                    if let Some(Pending::Call(c)) = self.blocks.get_mut(&d.index) {
                        c.arguments.push_str(&d.text);
                    }
                }
                StreamEvent::BlockStop(i) => self.end_block(*i, &mut parts),
                StreamEvent::Usage(u) => self.usage.merge(u),
                StreamEvent::Finish(f) => self.finish = Some(f.clone()),
                StreamEvent::Ping => {}
                StreamEvent::Error(e) => {
                    if !parts.is_empty() {
                        let c = self.chunk(core::mem::take(&mut parts), None, false);
                        self.write(&mut out, &c);
                    }
                    self.write(&mut out, &wire::error_body(e));
                    self.done = true;
                    return Ok(out);
                }
            }
        }
        if !parts.is_empty() {
            let c = self.chunk(parts, None, false);
            self.write(&mut out, &c);
        }
        Ok(out)
    }

    /// Close the stream: calls still open, a carried signature, then the last chunk
    /// with `finishReason` and `usageMetadata` (and `]` in the JSON-array form).
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.done {
            self.done = true;
            let mut parts = Vec::new();
            let mut open: Vec<u32> = self.blocks.keys().copied().collect();
            open.sort_unstable();
            for i in open {
                self.end_block(i, &mut parts);
            }
            if let Some(sig) = self.carry.take() {
                parts.push(json!({"text": "", "thoughtSignature": sig}));
            }
            let reason = self
                .finish
                .as_ref()
                .map_or(StopReason::EndTurn, |f| f.stop_reason);
            let usage = self.usage != Usage::empty();
            let c = self.chunk(parts, Some(wire::stop_reason_to(reason)), usage);
            self.write(&mut out, &c);
        }
        if !self.sse {
            if self.chunks == 0 {
                out.push(b'[');
            }
            out.push(b']');
        }
        out
    }
}

/// The exported `stream-encoder` resource.
pub struct Encoder(RefCell<EncodeState>);

impl GuestStreamEncoder for Encoder {
    fn new(model: String, query: String, _include_usage: bool) -> Self {
        Encoder(RefCell::new(EncodeState::new(model, &query)))
    }
    fn content_type(&self) -> String {
        self.0.borrow().content_type().to_string()
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
    use tollgate_sdk::provider::ErrorKind;

    /// What Gemini 2.5 streams for a thought, a signed text answer and two parallel calls.
    const CHUNKS: [&str; 4] = [
        r#"{"candidates": [{"content": {"parts": [{"text": "**Planning** the answer ✓","thought": true}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 12,"totalTokenCount": 40,"thoughtsTokenCount": 28},"modelVersion": "gemini-2.5-flash","responseId": "resp-9"}"#,
        r#"{"candidates": [{"content": {"parts": [{"text": "Hé","thoughtSignature": "c2lnLTE="}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 12,"totalTokenCount": 40,"thoughtsTokenCount": 28},"modelVersion": "gemini-2.5-flash","responseId": "resp-9"}"#,
        r#"{"candidates": [{"content": {"parts": [{"text": "llo — wörld 🌍"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 12,"totalTokenCount": 40,"thoughtsTokenCount": 28},"modelVersion": "gemini-2.5-flash","responseId": "resp-9"}"#,
        r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"city": "Paris"}},"thoughtSignature": "c2lnLTI="},{"functionCall": {"name": "get_weather","args": {"city": "東京"}}}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 12,"candidatesTokenCount": 20,"totalTokenCount": 60,"thoughtsTokenCount": 28},"modelVersion": "gemini-2.5-flash","responseId": "resp-9"}"#,
    ];

    fn sse() -> String {
        CHUNKS
            .iter()
            .map(|c| format!("data: {c}\r\n\r\n"))
            .collect()
    }

    fn array() -> String {
        format!("[{}\n]", CHUNKS.join("\n,\r\n"))
    }

    fn decode_all(with_content: bool, chunks: &[&[u8]]) -> Result<Vec<StreamEvent>, ApiError> {
        let mut d = DecodeState::new(with_content);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(d.feed(c)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    fn check_events(evs: &[StreamEvent]) {
        assert_eq!(evs.len(), 22, "{evs:#?}");
        let StreamEvent::Start(s) = &evs[0] else {
            panic!()
        };
        assert_eq!(
            (s.id.as_str(), s.model.as_str()),
            ("resp-9", "gemini-2.5-flash")
        );
        assert_eq!(s.usage.input_tokens, Some(12));
        assert!(
            matches!(&evs[2], StreamEvent::ThinkingDelta(d) if d.index == 0 && d.text.ends_with('✓'))
        );
        assert!(
            matches!(&evs[5], StreamEvent::SignatureDelta(d) if d.index == 1 && d.text == "c2lnLTE=")
        );
        let text: String = evs
            .iter()
            .filter_map(|e| match e {
                StreamEvent::TextDelta(d) if d.index == 2 => Some(d.text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Héllo — wörld 🌍");
        let calls: Vec<(&str, &str)> = evs
            .iter()
            .filter_map(|e| match e {
                StreamEvent::BlockStart(BlockStart {
                    block: ContentBlock::ToolCall(c),
                    ..
                }) => Some((c.id.as_str(), c.name.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 2);
        assert!(calls.iter().all(|(id, _)| wire::is_generated_id(id)));
        assert_ne!(calls[0].0, calls[1].0);
        assert!(
            matches!(&evs[18], StreamEvent::ToolArgumentsDelta(d) if d.text == r#"{"city":"東京"}"#)
        );
        let StreamEvent::Usage(u) = &evs[20] else {
            panic!("{:?}", evs[20])
        };
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.reasoning_tokens),
            (Some(12), Some(48), Some(28))
        );
        assert!(matches!(&evs[21], StreamEvent::Finish(f) if f.stop_reason == StopReason::ToolUse));
    }

    #[test]
    fn decodes_both_forms_at_every_split_point() {
        for form in [sse(), array()] {
            let bytes = form.as_bytes();
            let whole = decode_all(true, &[bytes]).unwrap();
            check_events(&whole);
            for i in 0..=bytes.len() {
                // Splits land mid-event, mid-object and inside multi-byte characters.
                assert_eq!(
                    decode_all(true, &[&bytes[..i], &bytes[i..]]).unwrap(),
                    whole,
                    "split at {i}"
                );
            }
            let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(decode_all(true, &one_by_one).unwrap(), whole);
            let threes: Vec<&[u8]> = bytes.chunks(3).collect();
            assert_eq!(decode_all(true, &threes).unwrap(), whole);
        }
        // Both forms mean the same events.
        assert_eq!(
            decode_all(true, &[sse().as_bytes()]).unwrap(),
            decode_all(true, &[array().as_bytes()]).unwrap()
        );
    }

    #[test]
    fn observer_mode_sees_only_accounting() {
        for form in [sse(), array()] {
            let bytes = form.as_bytes();
            let evs = decode_all(false, &[bytes]).unwrap();
            assert_eq!(evs.len(), 3, "{evs:?}");
            assert!(matches!(evs[0], StreamEvent::Start(_)));
            assert!(matches!(&evs[1], StreamEvent::Usage(u) if u.output_tokens == Some(48)));
            assert!(
                matches!(&evs[2], StreamEvent::Finish(f) if f.stop_reason == StopReason::ToolUse)
            );
            for i in (0..bytes.len()).step_by(5) {
                assert_eq!(decode_all(false, &[&bytes[..i], &bytes[i..]]).unwrap(), evs);
            }
        }
    }

    #[test]
    fn truncation_errors_and_blocks() {
        // Ended before the chunk with the finishReason: detectable truncation.
        let cut = sse();
        let cut = &cut.as_bytes()[..cut.rfind("data:").unwrap()];
        let e = decode_all(false, &[cut]).unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::BadGateway, 502));
        assert!(e.message.contains("finishReason"), "{}", e.message);
        let arr = array();
        let e = decode_all(true, &[&arr.as_bytes()[..arr.len() - 30]]).unwrap_err();
        assert!(
            e.message.contains("middle of a JSON object"),
            "{}",
            e.message
        );
        assert_eq!(
            decode_all(true, &[b"data: {nope\n\n"]).unwrap_err().status,
            502
        );
        assert_eq!(
            decode_all(true, &[b"[{\"a\":1} x"]).unwrap_err().status,
            502
        );
        assert!(decode_all(true, &[b""]).is_err());

        // A mid-stream error in either form.
        let err = r#"{"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}"#;
        for form in [
            format!("data: {}\r\n\r\ndata: {err}\r\n\r\n", CHUNKS[0]),
            format!("[{},\r\n{err}]", CHUNKS[0]),
        ] {
            let evs = decode_all(true, &[form.as_bytes()]).unwrap();
            assert!(
                matches!(evs.last(), Some(StreamEvent::Error(e)) if e.kind == ErrorKind::RateLimit && e.status == 429),
                "{evs:?}"
            );
            let evs = decode_all(false, &[form.as_bytes()]).unwrap();
            assert!(matches!(evs.last(), Some(StreamEvent::Error(_))));
        }
        // A blocked prompt finishes with content-filter and no content.
        let blocked = br#"data: {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}, "responseId": "r"}

"#;
        let evs = decode_all(true, &[blocked]).unwrap();
        assert!(
            matches!(&evs[..], [StreamEvent::Start(_), StreamEvent::Finish(f)] if f.stop_reason == StopReason::ContentFilter)
        );
    }

    /// Decode `CHUNKS` one upstream chunk at a time and encode each chunk's events.
    fn reencode(query: &str) -> (Vec<StreamEvent>, Vec<u8>, &'static str) {
        let mut d = DecodeState::new(true);
        let mut enc = EncodeState::new("gemini-2.5-flash".into(), query);
        let mut events = Vec::new();
        let mut bytes = Vec::new();
        for c in CHUNKS {
            let evs = d.feed(format!("data: {c}\n\n").as_bytes()).unwrap();
            bytes.extend(enc.encode(&evs).unwrap());
            events.extend(evs);
        }
        let last = d.finish().unwrap();
        bytes.extend(enc.encode(&last).unwrap());
        events.extend(last);
        bytes.extend(enc.finish());
        (events, bytes, enc.content_type())
    }

    fn without_start_usage(mut evs: Vec<StreamEvent>) -> Vec<StreamEvent> {
        if let Some(StreamEvent::Start(s)) = evs.first_mut() {
            s.usage = Usage::empty();
        }
        evs
    }

    #[test]
    fn encoder_writes_both_forms_that_decode_back() {
        let (events, bytes, ct) = reencode("alt=sse");
        assert_eq!(ct, "text/event-stream");
        let text = String::from_utf8(bytes.clone()).unwrap();
        let frames: Vec<&str> = text.split_terminator("\r\n\r\n").collect();
        assert_eq!(frames.len(), 5, "{text}");
        assert!(frames.iter().all(|f| f.starts_with("data: {")));
        assert_eq!(
            frames[1],
            r#"data: {"candidates":[{"content":{"parts":[{"text":"Hé","thoughtSignature":"c2lnLTE="}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"resp-9"}"#
        );
        // Calls go out whole, without made-up ids, the first with its signature.
        let calls: Value = serde_json::from_str(&frames[3]["data: ".len()..]).unwrap();
        assert_eq!(
            calls["candidates"][0]["content"]["parts"],
            json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTI="},
                   {"functionCall": {"name": "get_weather", "args": {"city": "東京"}}}])
        );
        let last: Value = serde_json::from_str(&frames[4]["data: ".len()..]).unwrap();
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(
            last["usageMetadata"],
            json!({"promptTokenCount": 12, "candidatesTokenCount": 20, "totalTokenCount": 60, "thoughtsTokenCount": 28})
        );
        let back = decode_all(true, &[&bytes]).unwrap();
        assert_eq!(
            without_start_usage(back),
            without_start_usage(events.clone())
        );

        let (events2, bytes, ct) = reencode("");
        assert_eq!(ct, "application/json");
        assert_eq!(events2, events);
        let arr: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(arr.as_array().unwrap().len(), 5);
        assert_eq!(arr[4]["candidates"][0]["finishReason"], "STOP");
        let back = decode_all(true, &[&bytes]).unwrap();
        assert_eq!(without_start_usage(back), without_start_usage(events));
    }

    #[test]
    fn encoder_buffers_streamed_call_arguments_and_signatures() {
        let start = StreamEvent::Start(StreamStart {
            id: "msg_1".into(),
            model: "claude-x".into(),
            usage: Usage {
                input_tokens: Some(10),
                ..Usage::empty()
            },
        });
        let d = |index: u32, text: &str| BlockDelta {
            index,
            text: text.to_string(),
        };
        let thinking = ContentBlock::Thinking(ThinkingBlock {
            text: String::new(),
            signature: Some(String::new()),
            extra: None,
        });
        let call = ContentBlock::ToolCall(ToolCall {
            id: "toolu_1".into(),
            name: "f".into(),
            arguments: String::new(),
            kind: tollgate_sdk::provider::ToolKind::Function,
            namespace: None,
            cache_control: None,
            extra: None,
        });
        let batches = [
            vec![
                start,
                StreamEvent::BlockStart(BlockStart {
                    index: 0,
                    block: thinking,
                }),
            ],
            vec![StreamEvent::ThinkingDelta(d(0, "hmm"))],
            vec![
                StreamEvent::SignatureDelta(d(0, "sig")),
                StreamEvent::BlockStop(0),
            ],
            vec![StreamEvent::BlockStart(BlockStart {
                index: 1,
                block: call,
            })],
            vec![StreamEvent::ToolArgumentsDelta(d(1, "{\"a\":"))],
            vec![
                StreamEvent::Ping,
                StreamEvent::ToolArgumentsDelta(d(1, "1}")),
            ],
            vec![
                StreamEvent::BlockStop(1),
                StreamEvent::Usage(Usage {
                    input_tokens: Some(10),
                    output_tokens: Some(42),
                    ..Usage::empty()
                }),
                StreamEvent::Finish(StreamFinish {
                    stop_reason: StopReason::ToolUse,
                    stop_sequence: None,
                }),
            ],
        ];
        for query in ["alt=sse", "alt=json"] {
            let mut enc = EncodeState::new(String::new(), query);
            let outs: Vec<Vec<u8>> = batches.iter().map(|b| enc.encode(b).unwrap()).collect();
            // Nothing for the start, nor while the call's arguments stream.
            assert!(
                outs[0].is_empty()
                    && outs[3].is_empty()
                    && outs[4].is_empty()
                    && outs[5].is_empty()
            );
            let mut all: Vec<u8> = outs.concat();
            all.extend(enc.finish());
            let chunks: Vec<Value> = if query == "alt=sse" {
                String::from_utf8(all)
                    .unwrap()
                    .split_terminator("\r\n\r\n")
                    .map(|f| serde_json::from_str(f.strip_prefix("data: ").unwrap()).unwrap())
                    .collect()
            } else {
                serde_json::from_slice::<Vec<Value>>(&all).unwrap()
            };
            let parts: Vec<&Value> = chunks
                .iter()
                .filter_map(|c| c["candidates"][0]["content"]["parts"].as_array())
                .flatten()
                .collect();
            assert_eq!(
                parts,
                vec![
                    &json!({"text": "hmm", "thought": true}),
                    &json!({"text": "", "thought": true, "thoughtSignature": "sig"}),
                    &json!({"functionCall": {"id": "toolu_1", "name": "f", "args": {"a": 1}}}),
                ]
            );
            let last = chunks.last().unwrap();
            assert_eq!(last["candidates"][0]["finishReason"], "STOP");
            assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 42);
            assert_eq!(last["modelVersion"], "claude-x");
            assert_eq!(last["responseId"], "msg_1");
        }
    }

    #[test]
    fn encoder_errors_and_empty_streams() {
        let err = StreamEvent::Error(ApiError::new(ErrorKind::Overloaded, "busy"));
        let text = StreamEvent::TextDelta(BlockDelta {
            index: 0,
            text: "partial".into(),
        });
        let mut enc = EncodeState::new("m".into(), "alt=json");
        let mut out = enc.encode(&[text.clone(), err.clone()]).unwrap();
        assert!(enc.encode(std::slice::from_ref(&text)).unwrap().is_empty());
        out.extend(enc.finish());
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v[1],
            json!({"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
        );
        let mut enc = EncodeState::new("m".into(), "key=k&alt=sse");
        let out = String::from_utf8(enc.encode(&[err]).unwrap()).unwrap();
        assert_eq!(out, "data: {\"error\":{\"code\":503,\"message\":\"busy\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n");
        assert!(enc.finish().is_empty());
        // A stream with no events still answers a well-formed, finished array.
        let mut enc = EncodeState::new("m".into(), "");
        let v: Value = serde_json::from_slice(&enc.finish()).unwrap();
        assert_eq!(v[0]["candidates"][0]["finishReason"], "STOP");
        assert!(wants_sse("$alt=SSE") && !wants_sse("alt=json") && !wants_sse("salt=sse"));
    }
}
