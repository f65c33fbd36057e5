//! Anthropic SSE streams: a decoder (upstream bytes → canonical events) and an encoder
//! (canonical events → the exact Anthropic event stream for a client).

use std::cell::RefCell;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use tollgate_sdk::provider::{
    ApiError, BlockDelta, BlockStart, ContentBlock, GuestStreamDecoder, GuestStreamEncoder,
    StopReason, StreamEvent, StreamFinish, StreamStart, ToolCall, Usage,
};
use tollgate_sdk::sse::{write_event, SseEvent, SseParser};

use crate::translate::{decode_block, encode_block};
use crate::wire::{self, stop_reason_from, stop_reason_to, usage_from, usage_to};

// ----- decoder -----

/// Decoder state, fed chunk by chunk.
#[derive(Default)]
pub struct DecodeState {
    with_content: bool,
    parser: SseParser,
    /// Usage so far (message_start, then merged message_delta usages).
    usage: Usage,
    saw_stop: bool,
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

fn index_of(v: &Value) -> u32 {
    v.get("index")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// A `content_block_delta` event, read straight into its fields (the per-chunk path)
/// rather than through a `Value`.
#[derive(Deserialize)]
struct DeltaEvent {
    index: Option<u64>,
    delta: Option<DeltaBody>,
}

#[derive(Deserialize)]
struct DeltaBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    thinking: Option<String>,
    signature: Option<String>,
    partial_json: Option<String>,
}

/// The typed reading of a delta event; `None` when the event has another shape
/// (not an object, a field of an unexpected type, a repeated key, bad JSON), which
/// the general path then decodes exactly as before.
fn delta_event(data: &str) -> Option<DeltaEvent> {
    if !data.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(data).ok()
}

impl DeltaEvent {
    /// The canonical event: the same as the general path's for this event.
    fn into_event(self) -> Option<StreamEvent> {
        let index = self.index.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
        let d = self.delta?;
        let delta = |text: Option<String>| BlockDelta {
            index,
            text: text.unwrap_or_default(),
        };
        Some(match d.kind.as_deref() {
            Some("text_delta") => StreamEvent::TextDelta(delta(d.text)),
            Some("thinking_delta") => StreamEvent::ThinkingDelta(delta(d.thinking)),
            Some("signature_delta") => StreamEvent::SignatureDelta(delta(d.signature)),
            Some("input_json_delta") => StreamEvent::ToolArgumentsDelta(delta(d.partial_json)),
            _ => return None, // citations_delta and future deltas
        })
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

    fn on_event(&mut self, e: SseEvent<'_>, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        let content_event = matches!(
            e.event,
            "content_block_start" | "content_block_delta" | "content_block_stop" | "ping"
        );
        if content_event && !self.with_content {
            return Ok(());
        }
        if e.event == "content_block_delta" {
            if let Some(ev) = delta_event(e.data) {
                if let Some(ev) = ev.into_event() {
                    out.push(ev);
                }
                return Ok(());
            }
        }
        let mut v = upstream_json(e.data)?;
        // An event without an `event:` line is named by its `type` (copied: the
        // delta below moves its text out of `v`).
        let ty;
        let name = if e.event.is_empty() {
            ty = v
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            ty.as_str()
        } else {
            e.event
        };
        match name {
            "message_start" => {
                let m = v.get("message").unwrap_or(&Value::Null);
                let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                self.usage = m.get("usage").map(usage_from).unwrap_or_default();
                out.push(StreamEvent::Start(StreamStart {
                    id: s("id"),
                    model: s("model"),
                    usage: self.usage.clone(),
                }));
            }
            "content_block_start" if self.with_content => {
                let index = index_of(&v);
                let b = v.get("content_block").unwrap_or(&Value::Null);
                let block = match decode_block(b, "content_block") {
                    // Streamed tool input arrives as deltas; the start carries `{}`.
                    Ok(ContentBlock::ToolCall(c)) => ContentBlock::ToolCall(ToolCall {
                        arguments: String::new(),
                        ..c
                    }),
                    Ok(block) => block,
                    Err(err) => {
                        return Err(ApiError::bad_gateway(format!(
                            "upstream stream: {}",
                            err.message
                        )))
                    }
                };
                out.push(StreamEvent::BlockStart(BlockStart { index, block }));
            }
            "content_block_delta" if self.with_content => {
                let index = index_of(&v);
                let mut d = v.get_mut("delta").map_or(Value::Null, Value::take);
                let kind = match d.get_mut("type") {
                    Some(Value::String(t)) => core::mem::take(t),
                    _ => String::new(),
                };
                // The delta's text, moved out of the parsed event.
                let mut text = |k: &str| BlockDelta {
                    index,
                    text: match d.get_mut(k) {
                        Some(Value::String(s)) => core::mem::take(s),
                        _ => String::new(),
                    },
                };
                match kind.as_str() {
                    "text_delta" => out.push(StreamEvent::TextDelta(text("text"))),
                    "thinking_delta" => out.push(StreamEvent::ThinkingDelta(text("thinking"))),
                    "signature_delta" => out.push(StreamEvent::SignatureDelta(text("signature"))),
                    "input_json_delta" => {
                        out.push(StreamEvent::ToolArgumentsDelta(text("partial_json")))
                    }
                    _ => {} // citations_delta and future deltas
                }
            }
            "content_block_stop" if self.with_content => {
                out.push(StreamEvent::BlockStop(index_of(&v)))
            }
            "ping" if self.with_content => out.push(StreamEvent::Ping),
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    let newer = usage_from(u);
                    self.usage.merge(&newer);
                    out.push(StreamEvent::Usage(self.usage.clone()));
                }
                let d = v.get("delta").unwrap_or(&Value::Null);
                if let Some(r) = d.get("stop_reason").and_then(Value::as_str) {
                    out.push(StreamEvent::Finish(StreamFinish {
                        stop_reason: stop_reason_from(r),
                        stop_sequence: d
                            .get("stop_sequence")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    }));
                }
            }
            "message_stop" => self.saw_stop = true,
            "error" => {
                self.saw_error = true;
                let mut err = wire::decode_error(500, e.data.as_bytes());
                err.status = err.kind.default_status();
                out.push(StreamEvent::Error(err));
            }
            _ => {}
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
        if !self.saw_stop && !self.saw_error {
            return Err(ApiError::bad_gateway(
                "upstream stream ended before message_stop",
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

/// Encoder state.
#[derive(Default)]
pub struct EncodeState {
    model: String,
    started: bool,
    open: Vec<u32>,
    usage: Usage,
    finish: Option<StreamFinish>,
    done: bool,
}

fn emit(out: &mut Vec<u8>, event: &str, data: &Value) {
    write_event(out, event, &data.to_string());
}

impl EncodeState {
    /// An encoder answering as `model` (the model the client asked for).
    pub fn new(model: String) -> EncodeState {
        EncodeState {
            model,
            ..EncodeState::default()
        }
    }

    fn start(&mut self, out: &mut Vec<u8>, id: &str, model: &str) {
        self.started = true;
        let model = if self.model.is_empty() {
            model
        } else {
            &self.model
        };
        let mut usage = usage_to(&self.usage);
        if let Some(u) = usage.as_object_mut() {
            u.insert(
                "output_tokens".into(),
                json!(self.usage.output_tokens.unwrap_or(0)),
            );
        }
        emit(
            out,
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": if id.is_empty() { "msg_tollgate" } else { id },
                "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage,
            }}),
        );
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.start(out, "", "");
        }
    }

    fn stop_block(&mut self, out: &mut Vec<u8>, index: u32) {
        if let Some(pos) = self.open.iter().position(|&i| i == index) {
            self.open.remove(pos);
            emit(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    /// A `content_block_delta` event, written directly (the per-chunk path): the
    /// same bytes as serializing `{"type", "index", "delta": {"type", field}}`.
    fn delta(&mut self, out: &mut Vec<u8>, d: &BlockDelta, kind: &str, field: &str) {
        self.ensure_started(out);
        out.reserve(d.text.len() + 128);
        out.extend_from_slice(
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":",
        );
        out.extend_from_slice(d.index.to_string().as_bytes());
        out.extend_from_slice(b",\"delta\":{\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\",\"");
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\":");
        // A JSON string never holds a raw newline, so the event stays one data line.
        if serde_json::to_writer(&mut *out, &d.text).is_err() {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(b"}}\n\n");
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
                StreamEvent::BlockStart(b) => {
                    self.ensure_started(&mut out);
                    let block = match &b.block {
                        ContentBlock::ToolCall(c) => {
                            json!({"type": "tool_use", "id": c.id, "name": c.name, "input": {}})
                        }
                        ContentBlock::Thinking(t) => {
                            json!({"type": "thinking", "thinking": t.text, "signature": t.signature.as_deref().unwrap_or("")})
                        }
                        other => match encode_block(other)? {
                            Some(v) => v,
                            None => continue,
                        },
                    };
                    self.open.push(b.index);
                    emit(
                        &mut out,
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": b.index, "content_block": block}),
                    );
                    // A tool call that starts with arguments sends them as a first delta.
                    if let ContentBlock::ToolCall(c) = &b.block {
                        if !c.arguments.is_empty() {
                            let d = BlockDelta {
                                index: b.index,
                                text: c.arguments.clone(),
                            };
                            self.delta(&mut out, &d, "input_json_delta", "partial_json");
                        }
                    }
                }
                StreamEvent::TextDelta(d) => self.delta(&mut out, d, "text_delta", "text"),
                StreamEvent::ThinkingDelta(d) => {
                    self.delta(&mut out, d, "thinking_delta", "thinking")
                }
                StreamEvent::SignatureDelta(d) => {
                    self.delta(&mut out, d, "signature_delta", "signature")
                }
                StreamEvent::ToolArgumentsDelta(d) => {
                    self.delta(&mut out, d, "input_json_delta", "partial_json")
                }
                StreamEvent::BlockStop(i) => self.stop_block(&mut out, *i),
                StreamEvent::Usage(u) => self.usage.merge(u),
                StreamEvent::Finish(f) => self.finish = Some(f.clone()),
                StreamEvent::Ping => {
                    self.ensure_started(&mut out);
                    emit(&mut out, "ping", &json!({"type": "ping"}));
                }
                StreamEvent::Error(e) => {
                    emit(&mut out, "error", &wire::error_body(e));
                    self.done = true;
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Close the stream: open blocks, `message_delta` with the stop reason and usage,
    /// `message_stop`.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.done = true;
        self.ensure_started(&mut out);
        for i in core::mem::take(&mut self.open) {
            emit(
                &mut out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": i}),
            );
        }
        let f = self.finish.take().unwrap_or(StreamFinish {
            stop_reason: StopReason::EndTurn,
            stop_sequence: None,
        });
        let mut usage = Map::new();
        let u = &self.usage;
        if let Some(n) = u.input_tokens {
            usage.insert("input_tokens".into(), json!(n));
        }
        if u.cache_write_tokens.is_some() || u.cache_write_1h_tokens.is_some() {
            let total = u.cache_write_tokens.unwrap_or(0) + u.cache_write_1h_tokens.unwrap_or(0);
            usage.insert("cache_creation_input_tokens".into(), json!(total));
        }
        if let Some(n) = u.cache_read_tokens {
            usage.insert("cache_read_input_tokens".into(), json!(n));
        }
        usage.insert("output_tokens".into(), json!(u.output_tokens.unwrap_or(0)));
        emit(
            &mut out,
            "message_delta",
            &json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason_to(f.stop_reason), "stop_sequence": f.stop_sequence},
                "usage": usage}),
        );
        emit(&mut out, "message_stop", &json!({"type": "message_stop"}));
        out
    }
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
    use tollgate_sdk::provider::ErrorKind;

    const STREAM: &str = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":3,\"cache_read_input_tokens\":7,\"output_tokens\":1}}}\r\n\r\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm ✓\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
: keep-alive comment\n\
event: ping\ndata: {\"type\": \"ping\"}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Héllo\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

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
    fn decodes_any_chunking() {
        let bytes = STREAM.as_bytes();
        let whole = decode_all(true, &[bytes]).unwrap();
        assert_eq!(whole.len(), 15, "{whole:?}");
        for i in (0..bytes.len()).step_by(7) {
            let split = decode_all(true, &[&bytes[..i], &bytes[i..]]).unwrap();
            assert_eq!(split, whole);
        }
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_all(true, &one_by_one).unwrap(), whole);
        let StreamEvent::Start(s) = &whole[0] else {
            panic!()
        };
        assert_eq!((s.id.as_str(), s.usage.input_tokens), ("msg_1", Some(25)));
        let StreamEvent::Usage(u) = &whole[13] else {
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
        assert!(
            matches!(&whole[14], StreamEvent::Finish(f) if f.stop_reason == StopReason::ToolUse)
        );
    }

    #[test]
    fn observer_mode_sees_only_accounting() {
        let evs = decode_all(false, &[STREAM.as_bytes()]).unwrap();
        assert_eq!(evs.len(), 3);
        assert!(matches!(evs[0], StreamEvent::Start(_)));
        assert!(matches!(evs[1], StreamEvent::Usage(_)));
        assert!(matches!(evs[2], StreamEvent::Finish(_)));
    }

    #[test]
    fn truncation_and_garbage_are_bad_gateway() {
        let cut = &STREAM.as_bytes()[..STREAM.len() - 40];
        let e = decode_all(false, &[cut]).unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::BadGateway, 502));
        assert!(e.message.contains("message_stop"));
        let e = decode_all(false, &[b"event: message_start\ndata: {nope\n\n"]).unwrap_err();
        assert_eq!(e.status, 502);
        let evs = decode_all(
            false,
            &[b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"],
        )
        .unwrap();
        assert!(matches!(&evs[0], StreamEvent::Error(e) if e.kind == ErrorKind::Overloaded));
    }

    #[test]
    fn odd_deltas_decode_as_the_general_path_does() {
        let ev = |data: &str| {
            let mut d = DecodeState::new(true);
            d.feed(format!("event: content_block_delta\ndata: {data}\n\n").as_bytes())
                .unwrap()
        };
        let text = |index, t: &str| {
            vec![StreamEvent::TextDelta(BlockDelta {
                index,
                text: t.into(),
            })]
        };
        assert_eq!(
            ev(r#"{"index":1,"delta":{"type":"text_delta","text":"a"}}"#),
            text(1, "a")
        );
        assert_eq!(
            ev(r#"{"index":"x","delta":{"type":"text_delta","text":"a"}}"#),
            text(0, "a")
        );
        assert_eq!(
            ev(r#"{"index":1,"delta":{"type":"text_delta","text":5}}"#),
            text(1, "")
        );
        assert_eq!(
            ev(r#"{"index":1,"delta":{"type":"text_delta","text":null}}"#),
            text(1, "")
        );
        assert_eq!(
            ev(r#"{"index":2,"index":3,"delta":{"type":"text_delta","text":"a"}}"#),
            text(3, "a")
        );
        assert_eq!(
            ev(r#"{"index":4294967296,"delta":{"type":"text_delta","text":"a"}}"#),
            text(0, "a")
        );
        assert_eq!(ev(r#"[1,{"type":"text_delta","text":"a"}]"#), vec![]);
        assert_eq!(ev(r#"{"index":1,"delta":null}"#), vec![]);
        assert_eq!(
            ev(r#"{"index":1,"delta":{"type":"citations_delta","citation":{}}}"#),
            vec![]
        );
        let mut d = DecodeState::new(true);
        assert!(d
            .feed(b"event: content_block_delta\ndata: {\"index\":1,\n\n")
            .is_err());
    }

    #[test]
    fn deltas_are_the_bytes_serde_would_write() {
        for text in [
            "tok ",
            "",
            "a \"quoted\"\nline\twith\u{1} é 😀 \\ </script>",
        ] {
            for (kind, field) in [("text_delta", "text"), ("input_json_delta", "partial_json")] {
                let mut enc = EncodeState::new("m".into());
                enc.started = true;
                let mut out = Vec::new();
                let d = BlockDelta {
                    index: 12,
                    text: text.into(),
                };
                enc.delta(&mut out, &d, kind, field);
                let mut delta = Map::new();
                delta.insert("type".into(), json!(kind));
                delta.insert(field.into(), json!(text));
                let mut want = Vec::new();
                emit(
                    &mut want,
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 12, "delta": delta}),
                );
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    String::from_utf8(want).unwrap()
                );
            }
        }
    }

    #[test]
    fn encoder_reproduces_an_equivalent_stream() {
        let events = decode_all(true, &[STREAM.as_bytes()]).unwrap();
        let mut enc = EncodeState::new(String::new());
        let mut bytes = enc.encode(&events).unwrap();
        bytes.extend(enc.finish());
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("event: message_start\ndata: {\"type\":\"message_start\""));
        assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        // Decoding our own output gives the same events.
        assert_eq!(decode_all(true, &[&bytes]).unwrap(), events);
    }
}
