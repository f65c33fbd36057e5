//! ConverseStream: a decoder (upstream event-stream frames → canonical events) and an
//! encoder (canonical events → event-stream frames for a Converse client).
//!
//! Bedrock sends `messageStart`, then per block `contentBlockDelta`s (a
//! `contentBlockStart` only for tool use) and a `contentBlockStop`, then `messageStop`
//! with the stop reason and last `metadata` with usage. The decoder opens a canonical
//! block on the first event of a Bedrock block, numbers blocks densely in the order they
//! open, and emits the finish after the usage (once `metadata` arrived).

use std::cell::RefCell;

use serde_json::{json, Value};
use tollgate_sdk::provider::{
    ApiError, BlockDelta, BlockStart, ContentBlock, ErrorKind, GuestStreamDecoder,
    GuestStreamEncoder, StopReason, StreamEvent, StreamFinish, StreamStart, TextBlock,
    ThinkingBlock, ToolCall, ToolKind, Usage,
};

use crate::eventstream::{write_frame, Frame, FrameReader};
use crate::translate::tool_use_id;
use crate::wire::{self, stop_reason_from, stop_reason_to, usage_from, usage_to};

/// The content type of a ConverseStream answer.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

// ----- decoder -----

/// What an open Bedrock block is.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Text,
    Thinking,
    Tool,
    /// Redacted reasoning arrives whole in deltas; it is emitted at the block's stop.
    Redacted(String),
}

/// Decoder state, fed chunk by chunk.
#[derive(Default)]
pub struct DecodeState {
    with_content: bool,
    reader: FrameReader,
    /// Open blocks: (Bedrock index, canonical index, kind).
    open: Vec<(u64, u32, Kind)>,
    next_index: u32,
    finish: Option<StreamFinish>,
    saw_stop: bool,
    saw_metadata: bool,
    saw_error: bool,
}

fn upstream(msg: String) -> ApiError {
    ApiError::bad_gateway(format!("upstream stream: {msg}"))
}

fn payload_json(f: &Frame, event: &str) -> Result<Value, ApiError> {
    serde_json::from_slice(&f.payload).map_err(|e| {
        upstream(format!(
            "{event} event is not JSON ({e}): {}",
            tollgate_sdk::json::snippet(&f.payload, 120)
        ))
    })
}

fn block_index(v: &Value, event: &str) -> Result<u64, ApiError> {
    v.get("contentBlockIndex")
        .and_then(Value::as_u64)
        .ok_or_else(|| upstream(format!("{event} event without contentBlockIndex")))
}

impl DecodeState {
    /// A decoder; see `stream-decoder` in the WIT for `with_content`.
    pub fn new(with_content: bool) -> DecodeState {
        DecodeState {
            with_content,
            ..DecodeState::default()
        }
    }

    /// The canonical index of Bedrock block `idx`, opening it as `kind` (with its
    /// `block-start`) if it is not open. An open block keeps its first kind.
    fn ensure_open(&mut self, idx: u64, kind: Kind, out: &mut Vec<StreamEvent>) -> (u32, Kind) {
        if let Some((_, c, k)) = self.open.iter().find(|(b, _, _)| *b == idx) {
            return (*c, k.clone());
        }
        let index = self.next_index;
        self.next_index += 1;
        let block = match &kind {
            Kind::Text => Some(ContentBlock::Text(TextBlock {
                text: String::new(),
                cache_control: None,
                citations: None,
                extra: None,
            })),
            Kind::Thinking => Some(ContentBlock::Thinking(ThinkingBlock {
                text: String::new(),
                signature: None,
                extra: None,
            })),
            Kind::Tool => Some(ContentBlock::ToolCall(ToolCall {
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
                kind: ToolKind::Function,
                namespace: None,
                cache_control: None,
                extra: None,
            })),
            Kind::Redacted(_) => None,
        };
        if let Some(block) = block {
            out.push(StreamEvent::BlockStart(BlockStart { index, block }));
        }
        self.open.push((idx, index, kind.clone()));
        (index, kind)
    }

    fn on_frame(&mut self, f: &Frame, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        match f.header(":message-type").unwrap_or("event") {
            "event" => {}
            "exception" => {
                let name = f.header(":exception-type").unwrap_or("exception");
                return self.on_error(name, f, out);
            }
            "error" => {
                let code = f.header(":error-code").unwrap_or("error").to_string();
                let message = f
                    .header(":error-message")
                    .unwrap_or("the upstream stream failed")
                    .to_string();
                self.saw_error = true;
                let kind = wire::error_kind(&code).unwrap_or(ErrorKind::BadGateway);
                out.push(StreamEvent::Error(
                    ApiError::new(kind, message).with_provider_type(code),
                ));
                return Ok(());
            }
            _ => return Ok(()),
        }
        let event = f.header(":event-type").unwrap_or("");
        let content_event = event.starts_with("contentBlock");
        if content_event && !self.with_content {
            return Ok(());
        }
        match event {
            "messageStart" => out.push(StreamEvent::Start(StreamStart {
                id: String::new(),
                model: String::new(),
                usage: Usage::empty(),
            })),
            "contentBlockStart" => {
                let v = payload_json(f, event)?;
                let idx = block_index(&v, event)?;
                if let Some(tu) = v.get("start").and_then(|s| s.get("toolUse")) {
                    let s = |k: &str| tu.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    let index = self.next_index;
                    self.next_index += 1;
                    self.open.retain(|(b, _, _)| *b != idx);
                    self.open.push((idx, index, Kind::Tool));
                    out.push(StreamEvent::BlockStart(BlockStart {
                        index,
                        block: ContentBlock::ToolCall(ToolCall {
                            id: s("toolUseId"),
                            name: s("name"),
                            arguments: String::new(),
                            kind: ToolKind::Function,
                            namespace: None,
                            cache_control: None,
                            extra: None,
                        }),
                    }));
                }
            }
            "contentBlockDelta" => {
                let v = payload_json(f, event)?;
                let idx = block_index(&v, event)?;
                let d = v.get("delta").unwrap_or(&Value::Null);
                let piece = |x: Option<&Value>| x.and_then(Value::as_str).map(str::to_string);
                if let Some(t) = piece(d.get("text")) {
                    let (index, _) = self.ensure_open(idx, Kind::Text, out);
                    out.push(StreamEvent::TextDelta(BlockDelta { index, text: t }));
                } else if let Some(input) = d.get("toolUse") {
                    let (index, _) = self.ensure_open(idx, Kind::Tool, out);
                    let text = piece(input.get("input")).unwrap_or_default();
                    out.push(StreamEvent::ToolArgumentsDelta(BlockDelta { index, text }));
                } else if let Some(r) = d.get("reasoningContent") {
                    if let Some(t) = piece(r.get("text")) {
                        let (index, _) = self.ensure_open(idx, Kind::Thinking, out);
                        out.push(StreamEvent::ThinkingDelta(BlockDelta { index, text: t }));
                    } else if let Some(sig) = piece(r.get("signature")) {
                        let (index, _) = self.ensure_open(idx, Kind::Thinking, out);
                        out.push(StreamEvent::SignatureDelta(BlockDelta { index, text: sig }));
                    } else if let Some(data) = piece(r.get("redactedContent")) {
                        self.ensure_open(idx, Kind::Redacted(String::new()), out);
                        if let Some((_, _, Kind::Redacted(buf))) =
                            self.open.iter_mut().find(|(b, _, _)| *b == idx)
                        {
                            buf.push_str(&data);
                        }
                    }
                }
                // Other deltas (citations, tool results of server tools) have no
                // canonical event.
            }
            "contentBlockStop" => {
                let v = payload_json(f, event)?;
                let idx = block_index(&v, event)?;
                if let Some(pos) = self.open.iter().position(|(b, _, _)| *b == idx) {
                    let (_, index, kind) = self.open.remove(pos);
                    if let Kind::Redacted(data) = kind {
                        out.push(StreamEvent::BlockStart(BlockStart {
                            index,
                            block: ContentBlock::RedactedThinking(data),
                        }));
                    }
                    out.push(StreamEvent::BlockStop(index));
                }
            }
            "messageStop" => {
                let v = payload_json(f, event)?;
                let reason = v
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .ok_or_else(|| upstream("messageStop event without stopReason".into()))?;
                self.saw_stop = true;
                let finish = StreamFinish {
                    stop_reason: stop_reason_from(reason),
                    stop_sequence: v
                        .get("additionalModelResponseFields")
                        .and_then(|f| f.get("stop_sequence"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                };
                if self.saw_metadata {
                    out.push(StreamEvent::Finish(finish));
                } else {
                    self.finish = Some(finish);
                }
            }
            "metadata" => {
                let v = payload_json(f, event)?;
                self.saw_metadata = true;
                if let Some(u) = v.get("usage") {
                    out.push(StreamEvent::Usage(usage_from(u)));
                }
                if let Some(finish) = self.finish.take() {
                    out.push(StreamEvent::Finish(finish));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_error(
        &mut self,
        name: &str,
        f: &Frame,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ApiError> {
        self.saw_error = true;
        let v: Value = serde_json::from_slice(&f.payload).unwrap_or(Value::Null);
        let message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(Value::as_str)
            .map_or_else(|| format!("upstream stream failed: {name}"), str::to_string);
        let kind = wire::error_kind(name).unwrap_or(ErrorKind::BadGateway);
        let mut chars = name.chars();
        let pascal = chars
            .next()
            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default();
        out.push(StreamEvent::Error(
            ApiError::new(kind, message).with_provider_type(pascal),
        ));
        Ok(())
    }

    /// Feed bytes.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<StreamEvent>, ApiError> {
        self.reader.push(chunk);
        let mut out = Vec::new();
        while let Some(frame) = self.reader.next_frame()? {
            self.on_frame(&frame, &mut out)?;
        }
        Ok(out)
    }

    /// The stream ended.
    pub fn finish(&mut self) -> Result<Vec<StreamEvent>, ApiError> {
        let pending = self.reader.pending();
        if pending > 0 {
            return Err(upstream(format!(
                "the stream ended inside a frame ({pending} bytes left over)"
            )));
        }
        if self.saw_error {
            return Ok(Vec::new());
        }
        match (self.saw_stop, self.saw_metadata) {
            (true, true) => Ok(Vec::new()),
            (false, _) => Err(upstream("the stream ended before messageStop".into())),
            (true, false) => Err(upstream(
                "the stream ended before its metadata event".into(),
            )),
        }
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

/// Encoder state.
#[derive(Default)]
pub struct EncodeState {
    started: bool,
    /// (canonical index, Bedrock index) of every block seen.
    map: Vec<(u32, u32)>,
    /// Canonical indexes of open blocks.
    open: Vec<u32>,
    next: u32,
    usage: Usage,
    finish: Option<StreamFinish>,
    done: bool,
}

fn event(out: &mut Vec<u8>, name: &str, payload: &Value) {
    write_frame(
        out,
        &[
            (":event-type", name),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    );
}

impl EncodeState {
    pub fn new() -> EncodeState {
        EncodeState::default()
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            event(out, "messageStart", &json!({"role": "assistant"}));
        }
    }

    /// The Bedrock index of canonical block `index`, mapping it (and marking it open)
    /// when first seen.
    fn bedrock_index(&mut self, index: u32) -> u32 {
        if let Some((_, b)) = self.map.iter().find(|(c, _)| *c == index) {
            return *b;
        }
        let b = self.next;
        self.next += 1;
        self.map.push((index, b));
        self.open.push(index);
        b
    }

    fn delta(&mut self, out: &mut Vec<u8>, index: u32, delta: Value) {
        self.ensure_started(out);
        let b = self.bedrock_index(index);
        event(
            out,
            "contentBlockDelta",
            &json!({"contentBlockIndex": b, "delta": delta}),
        );
    }

    fn stop_block(&mut self, out: &mut Vec<u8>, index: u32) {
        if let Some(pos) = self.open.iter().position(|&i| i == index) {
            self.open.remove(pos);
            let b = self.bedrock_index(index);
            event(out, "contentBlockStop", &json!({"contentBlockIndex": b}));
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
                    self.usage.merge(&s.usage);
                    self.ensure_started(&mut out);
                }
                StreamEvent::BlockStart(b) => {
                    self.ensure_started(&mut out);
                    let i = b.index;
                    match &b.block {
                        ContentBlock::ToolCall(c) => {
                            let idx = self.bedrock_index(i);
                            event(
                                &mut out,
                                "contentBlockStart",
                                &json!({"contentBlockIndex": idx, "start": {"toolUse": {
                                    "toolUseId": tool_use_id(&c.id, Some(&c.name)), "name": c.name}}}),
                            );
                            if !c.arguments.is_empty() {
                                self.delta(&mut out, i, json!({"toolUse": {"input": c.arguments}}));
                            }
                        }
                        ContentBlock::Text(t) => {
                            self.bedrock_index(i);
                            if !t.text.is_empty() {
                                self.delta(&mut out, i, json!({ "text": t.text }));
                            }
                        }
                        ContentBlock::Thinking(t) => {
                            self.bedrock_index(i);
                            if !t.text.is_empty() {
                                self.delta(
                                    &mut out,
                                    i,
                                    json!({"reasoningContent": {"text": t.text}}),
                                );
                            }
                            if let Some(sig) = t.signature.as_deref().filter(|s| !s.is_empty()) {
                                self.delta(
                                    &mut out,
                                    i,
                                    json!({"reasoningContent": {"signature": sig}}),
                                );
                            }
                        }
                        ContentBlock::RedactedThinking(d) => {
                            self.delta(
                                &mut out,
                                i,
                                json!({"reasoningContent": {"redactedContent": d}}),
                            );
                        }
                        // Blocks a Converse stream cannot carry.
                        _ => {}
                    }
                }
                StreamEvent::TextDelta(d) if !d.text.is_empty() => {
                    self.delta(&mut out, d.index, json!({ "text": d.text }));
                }
                StreamEvent::ThinkingDelta(d) if !d.text.is_empty() => {
                    self.delta(
                        &mut out,
                        d.index,
                        json!({"reasoningContent": {"text": d.text}}),
                    );
                }
                StreamEvent::SignatureDelta(d) if !d.text.is_empty() => {
                    self.delta(
                        &mut out,
                        d.index,
                        json!({"reasoningContent": {"signature": d.text}}),
                    );
                }
                StreamEvent::ToolArgumentsDelta(d) if !d.text.is_empty() => {
                    self.delta(&mut out, d.index, json!({"toolUse": {"input": d.text}}));
                }
                StreamEvent::TextDelta(_)
                | StreamEvent::ThinkingDelta(_)
                | StreamEvent::SignatureDelta(_)
                | StreamEvent::ToolArgumentsDelta(_)
                | StreamEvent::Ping => {}
                StreamEvent::BlockStop(i) => self.stop_block(&mut out, *i),
                StreamEvent::Usage(u) => self.usage.merge(u),
                StreamEvent::Finish(f) => self.finish = Some(f.clone()),
                StreamEvent::Error(e) => {
                    let mut name = wire::exception_name(e);
                    if let Some(first) = name.get_mut(..1) {
                        first.make_ascii_lowercase();
                    }
                    write_frame(
                        &mut out,
                        &[
                            (":exception-type", &name),
                            (":content-type", "application/json"),
                            (":message-type", "exception"),
                        ],
                        json!({"message": e.message}).to_string().as_bytes(),
                    );
                    self.done = true;
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Close the stream: open blocks, `messageStop`, `metadata` with the usage.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.done = true;
        self.ensure_started(&mut out);
        for i in self.open.clone() {
            self.stop_block(&mut out, i);
        }
        let f = self.finish.take().unwrap_or(StreamFinish {
            stop_reason: StopReason::EndTurn,
            stop_sequence: None,
        });
        let mut stop = json!({"stopReason": stop_reason_to(f.stop_reason)});
        if let Some(seq) = f.stop_sequence {
            stop["additionalModelResponseFields"] = json!({"stop_sequence": seq});
        }
        event(&mut out, "messageStop", &stop);
        event(
            &mut out,
            "metadata",
            &json!({"usage": usage_to(&self.usage), "metrics": {"latencyMs": 0}}),
        );
        out
    }
}

/// The exported `stream-encoder` resource.
pub struct Encoder(RefCell<EncodeState>);

impl GuestStreamEncoder for Encoder {
    fn new(_model: String, _query: String, _include_usage: bool) -> Self {
        Encoder(RefCell::new(EncodeState::new()))
    }
    fn content_type(&self) -> String {
        CONTENT_TYPE.to_string()
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

    /// A ConverseStream answer as Bedrock writes it (with its `p` padding fields).
    fn upstream_stream() -> Vec<u8> {
        let mut out = Vec::new();
        let ev = |out: &mut Vec<u8>, name: &str, payload: &str| {
            write_frame(
                out,
                &[
                    (":event-type", name),
                    (":content-type", "application/json"),
                    (":message-type", "event"),
                ],
                payload.as_bytes(),
            );
        };
        ev(
            &mut out,
            "messageStart",
            r#"{"p":"abcdefghijklmnopqrstuvwxyzABCDEF","role":"assistant"}"#,
        );
        ev(
            &mut out,
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"hmm ✓"}},"p":"abcd"}"#,
        );
        ev(
            &mut out,
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"sig=="}},"p":"ab"}"#,
        );
        ev(
            &mut out,
            "contentBlockStop",
            r#"{"contentBlockIndex":0,"p":"abcdefg"}"#,
        );
        ev(
            &mut out,
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"reasoningContent":{"redactedContent":"b3Bh"}},"p":"a"}"#,
        );
        ev(
            &mut out,
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"reasoningContent":{"redactedContent":"cXVl"}},"p":"a"}"#,
        );
        ev(&mut out, "contentBlockStop", r#"{"contentBlockIndex":1}"#);
        ev(
            &mut out,
            "contentBlockDelta",
            r#"{"contentBlockIndex":2,"delta":{"text":"Héllo"},"p":"abc"}"#,
        );
        ev(
            &mut out,
            "contentBlockDelta",
            r#"{"contentBlockIndex":2,"delta":{"text":" world"},"p":"abc"}"#,
        );
        ev(&mut out, "contentBlockStop", r#"{"contentBlockIndex":2}"#);
        ev(
            &mut out,
            "contentBlockStart",
            r#"{"contentBlockIndex":3,"start":{"toolUse":{"toolUseId":"tooluse_1","name":"f"}},"p":"x"}"#,
        );
        ev(
            &mut out,
            "contentBlockDelta",
            r#"{"contentBlockIndex":3,"delta":{"toolUse":{"input":"{\"a\":"}}}"#,
        );
        ev(
            &mut out,
            "contentBlockDelta",
            r#"{"contentBlockIndex":3,"delta":{"toolUse":{"input":"1}"}}}"#,
        );
        ev(&mut out, "contentBlockStop", r#"{"contentBlockIndex":3}"#);
        ev(
            &mut out,
            "messageStop",
            r#"{"stopReason":"tool_use","p":"abcdef"}"#,
        );
        ev(
            &mut out,
            "metadata",
            r#"{"usage":{"inputTokens":25,"outputTokens":42,"totalTokens":77,"cacheReadInputTokens":7,"cacheWriteInputTokens":3},"metrics":{"latencyMs":1234},"p":"abc"}"#,
        );
        out
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

    #[test]
    fn decodes_a_converse_stream() {
        let bytes = upstream_stream();
        let evs = decode_all(true, &[&bytes]).unwrap();
        let kinds: Vec<String> = evs
            .iter()
            .map(|e| match e {
                StreamEvent::Start(_) => "start".into(),
                StreamEvent::BlockStart(b) => format!("start{}", b.index),
                StreamEvent::TextDelta(d) => format!("text{}:{}", d.index, d.text),
                StreamEvent::ThinkingDelta(d) => format!("think{}:{}", d.index, d.text),
                StreamEvent::SignatureDelta(d) => format!("sig{}:{}", d.index, d.text),
                StreamEvent::ToolArgumentsDelta(d) => format!("args{}:{}", d.index, d.text),
                StreamEvent::BlockStop(i) => format!("stop{i}"),
                StreamEvent::Usage(_) => "usage".into(),
                StreamEvent::Finish(_) => "finish".into(),
                StreamEvent::Ping => "ping".into(),
                StreamEvent::Error(_) => "error".into(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "start",
                "start0",
                "think0:hmm ✓",
                "sig0:sig==",
                "stop0",
                "start1",
                "stop1",
                "start2",
                "text2:Héllo",
                "text2: world",
                "stop2",
                "start3",
                "args3:{\"a\":",
                "args3:1}",
                "stop3",
                "usage",
                "finish"
            ]
        );
        assert!(
            matches!(&evs[5], StreamEvent::BlockStart(b) if b.block == ContentBlock::RedactedThinking("b3BhcXVl".into()))
        );
        assert!(
            matches!(&evs[11], StreamEvent::BlockStart(BlockStart { block: ContentBlock::ToolCall(c), .. }) if c.id == "tooluse_1" && c.name == "f")
        );
        let StreamEvent::Usage(u) = &evs[15] else {
            panic!()
        };
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_write_tokens
            ),
            (Some(25), Some(42), Some(7), Some(3))
        );
        assert!(matches!(&evs[16], StreamEvent::Finish(f) if f.stop_reason == StopReason::ToolUse));

        let observer = decode_all(false, &[&bytes]).unwrap();
        assert_eq!(observer.len(), 3);
        assert!(matches!(observer[0], StreamEvent::Start(_)));
        assert!(matches!(observer[1], StreamEvent::Usage(_)));
        assert!(matches!(observer[2], StreamEvent::Finish(_)));
    }

    #[test]
    fn encoder_output_decodes_back_at_every_split_point() {
        let events = decode_all(true, &[&upstream_stream()]).unwrap();
        let mut enc = EncodeState::new();
        let mut bytes = enc.encode(&events[..7]).unwrap();
        bytes.extend(enc.encode(&events[7..]).unwrap());
        bytes.extend(enc.finish());
        assert!(enc.finish().is_empty(), "finish is idempotent");
        let whole = decode_all(true, &[&bytes]).unwrap();
        assert_eq!(whole, events);
        for i in 0..=bytes.len() {
            let split = decode_all(true, &[&bytes[..i], &bytes[i..]]).unwrap();
            assert_eq!(split, whole, "split at {i}");
        }
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_all(true, &one_by_one).unwrap(), whole);
        for i in (0..bytes.len()).step_by(13) {
            for j in (i..bytes.len()).step_by(29) {
                let three = decode_all(false, &[&bytes[..i], &bytes[i..j], &bytes[j..]]).unwrap();
                assert_eq!(three.len(), 3, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn encoder_fits_foreign_events() {
        // Events as another decoder makes them: sparse indexes, a block kind Converse
        // cannot stream, a tool call that starts with its arguments, a ping, no Start.
        let events = vec![
            StreamEvent::BlockStart(BlockStart {
                index: 4,
                block: ContentBlock::Text(TextBlock {
                    text: "Hi".into(),
                    cache_control: None,
                    citations: None,
                    extra: None,
                }),
            }),
            StreamEvent::Ping,
            StreamEvent::BlockStop(4),
            StreamEvent::BlockStart(BlockStart {
                index: 7,
                block: ContentBlock::ToolCall(ToolCall {
                    id: "call.1".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                    kind: ToolKind::Function,
                    namespace: None,
                    cache_control: None,
                    extra: None,
                }),
            }),
            StreamEvent::Finish(StreamFinish {
                stop_reason: StopReason::StopSequence,
                stop_sequence: Some("END".into()),
            }),
        ];
        let mut enc = EncodeState::new();
        let mut bytes = enc.encode(&events).unwrap();
        bytes.extend(enc.finish());
        let back = decode_all(true, &[&bytes]).unwrap();
        assert!(matches!(&back[1], StreamEvent::BlockStart(b) if b.index == 0));
        assert!(matches!(&back[2], StreamEvent::TextDelta(d) if d.index == 0 && d.text == "Hi"));
        assert!(
            matches!(&back[4], StreamEvent::BlockStart(BlockStart { index: 1, block: ContentBlock::ToolCall(c) }) if c.id == "call_1")
        );
        assert!(matches!(&back[5], StreamEvent::ToolArgumentsDelta(d) if d.text == "{}"));
        assert!(
            matches!(&back[6], StreamEvent::BlockStop(1)),
            "open blocks close at finish"
        );
        assert!(
            matches!(back.last(), Some(StreamEvent::Finish(f)) if f.stop_sequence.as_deref() == Some("END"))
        );
    }

    #[test]
    fn errors_in_the_stream() {
        // An upstream exception frame.
        let mut bytes = Vec::new();
        write_frame(
            &mut bytes,
            &[(":event-type", "messageStart"), (":message-type", "event")],
            br#"{"role":"assistant"}"#,
        );
        write_frame(
            &mut bytes,
            &[
                (":exception-type", "throttlingException"),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            br#"{"message":"Too many tokens, please wait before trying again."}"#,
        );
        let evs = decode_all(false, &[&bytes]).unwrap();
        let StreamEvent::Error(e) = &evs[1] else {
            panic!("{evs:?}")
        };
        assert_eq!((e.kind, e.status), (ErrorKind::RateLimit, 429));
        assert_eq!(e.provider_type.as_deref(), Some("ThrottlingException"));
        assert!(e.message.contains("Too many tokens"));

        // Our encoder writes errors the same way, and stops.
        let mut enc = EncodeState::new();
        let mut out = enc
            .encode(&[StreamEvent::Error(ApiError::new(
                ErrorKind::Overloaded,
                "busy",
            ))])
            .unwrap();
        out.extend(enc.finish());
        let evs = decode_all(true, &[&out]).unwrap();
        assert!(
            matches!(&evs[..], [StreamEvent::Error(e)] if e.kind == ErrorKind::Overloaded && e.message == "busy")
        );

        // A CRC mismatch.
        let mut bad = upstream_stream();
        let n = bad.len();
        bad[n / 2] ^= 1;
        let e = decode_all(true, &[&bad]).unwrap_err();
        assert_eq!(e.status, 502);
        assert!(e.message.contains("CRC"), "{}", e.message);

        // Truncation: mid-frame, before messageStop, before metadata.
        let good = upstream_stream();
        let e = decode_all(false, &[&good[..good.len() - 5]]).unwrap_err();
        assert!(e.message.contains("inside a frame"), "{}", e.message);
        let mut cut = Vec::new();
        write_frame(
            &mut cut,
            &[(":event-type", "messageStart"), (":message-type", "event")],
            br#"{"role":"assistant"}"#,
        );
        let e = decode_all(false, &[&cut]).unwrap_err();
        assert!(e.message.contains("messageStop"), "{}", e.message);
        write_frame(
            &mut cut,
            &[(":event-type", "messageStop"), (":message-type", "event")],
            br#"{"stopReason":"end_turn"}"#,
        );
        let e = decode_all(false, &[&cut]).unwrap_err();
        assert!(e.message.contains("metadata"), "{}", e.message);

        // Garbage JSON in an event the observer reads.
        let mut junk = Vec::new();
        write_frame(
            &mut junk,
            &[(":event-type", "metadata"), (":message-type", "event")],
            b"{nope",
        );
        let e = decode_all(false, &[&junk]).unwrap_err();
        assert!(
            e.message.contains("metadata event is not JSON"),
            "{}",
            e.message
        );
    }
}
