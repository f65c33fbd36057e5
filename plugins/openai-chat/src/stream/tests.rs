#![allow(clippy::unwrap_used)]

use super::*;
use crate::wire::extra_from_map;
use tollgate_sdk::provider::ErrorKind;

/// An OpenAI stream: role chunk, multi-byte text, two parallel tool calls with split
/// arguments, the finish chunk, the usage chunk, `[DONE]`.
const STREAM: &str = concat!(
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Héllo ✓"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    ": keep-alive\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" wörld"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\r\n\r\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Zürich\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":8,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}}"#,
    "\n\n",
    "data: [DONE]\n\n",
);

/// A vLLM / DeepSeek reasoning stream (no usage chunk, no `[DONE]` needed once the
/// finish reason arrived).
const REASONING: &str = concat!(
    r#"data: {"id":"r1","object":"chat.completion.chunk","created":1,"model":"deepseek-r1","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Let me ","content":null}}]}"#,
    "\n\n",
    r#"data: {"id":"r1","object":"chat.completion.chunk","created":1,"model":"deepseek-r1","choices":[{"index":0,"delta":{"reasoning_content":"think…","content":null}}]}"#,
    "\n\n",
    r#"data: {"id":"r1","object":"chat.completion.chunk","created":1,"model":"deepseek-r1","choices":[{"index":0,"delta":{"content":"Answer: 42"}}]}"#,
    "\n\n",
    r#"data: {"id":"r1","object":"chat.completion.chunk","created":1,"model":"deepseek-r1","choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":100,"total_tokens":105,"completion_tokens_details":{"reasoning_tokens":60}}}"#,
    "\n\n",
);

fn decode_all(with_content: bool, chunks: &[&[u8]]) -> Result<Vec<StreamEvent>, ApiError> {
    let mut d = DecodeState::new(with_content);
    let mut out = Vec::new();
    for c in chunks {
        out.extend(d.feed(c)?);
    }
    out.extend(d.finish()?);
    Ok(out)
}

/// Every two-way split, and one byte at a time, give the same events.
fn assert_any_chunking(stream: &str, with_content: bool) -> Vec<StreamEvent> {
    let bytes = stream.as_bytes();
    let whole = decode_all(with_content, &[bytes]).unwrap();
    for i in 0..=bytes.len() {
        let split = decode_all(with_content, &[&bytes[..i], &bytes[i..]]).unwrap();
        assert_eq!(split, whole, "split at byte {i}");
    }
    let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode_all(with_content, &one_by_one).unwrap(), whole);
    whole
}

#[test]
fn decodes_any_chunking() {
    let evs = assert_any_chunking(STREAM, true);
    assert_eq!(evs.len(), 14, "{evs:#?}");
    assert!(
        matches!(&evs[0], StreamEvent::Start(s) if s.id == "chatcmpl-1" && s.model == "gpt-4o")
    );
    assert!(
        matches!(&evs[1], StreamEvent::BlockStart(b) if b.index == 0 && matches!(&b.block, ContentBlock::Text(t) if t.text.is_empty()))
    );
    assert_eq!(
        evs[2],
        StreamEvent::TextDelta(BlockDelta {
            index: 0,
            text: "Héllo ✓".into()
        })
    );
    assert_eq!(
        evs[3],
        StreamEvent::TextDelta(BlockDelta {
            index: 0,
            text: " wörld".into()
        })
    );
    assert_eq!(evs[4], StreamEvent::BlockStop(0));
    assert!(matches!(&evs[5], StreamEvent::BlockStart(b)
        if b.index == 1 && matches!(&b.block, ContentBlock::ToolCall(c) if c.id == "call_a" && c.name == "get_weather" && c.arguments.is_empty())));
    assert_eq!(
        evs[6],
        StreamEvent::ToolArgumentsDelta(BlockDelta {
            index: 1,
            text: "{\"city\":".into()
        })
    );
    assert_eq!(
        evs[7],
        StreamEvent::ToolArgumentsDelta(BlockDelta {
            index: 1,
            text: "\"Zürich\"}".into()
        })
    );
    assert_eq!(evs[8], StreamEvent::BlockStop(1));
    assert!(matches!(&evs[9], StreamEvent::BlockStart(b)
        if b.index == 2 && matches!(&b.block, ContentBlock::ToolCall(c) if c.id == "call_b")));
    assert_eq!(evs[11], StreamEvent::BlockStop(2));
    assert!(matches!(&evs[12], StreamEvent::Finish(f) if f.stop_reason == StopReason::ToolUse));
    let StreamEvent::Usage(u) = &evs[13] else {
        panic!("{:?}", evs[13])
    };
    assert_eq!(
        (
            u.input_tokens,
            u.cache_read_tokens,
            u.output_tokens,
            u.reasoning_tokens
        ),
        (Some(12), Some(8), Some(9), Some(0))
    );
}

#[test]
fn decodes_reasoning_streams() {
    let evs = assert_any_chunking(REASONING, true);
    let kinds: Vec<String> = evs
        .iter()
        .map(|e| match e {
            StreamEvent::Start(_) => "start".into(),
            StreamEvent::BlockStart(b) => format!(
                "open {} {}",
                b.index,
                match b.block {
                    ContentBlock::Thinking(_) => "thinking",
                    _ => "text",
                }
            ),
            StreamEvent::ThinkingDelta(d) => format!("think {}", d.text),
            StreamEvent::TextDelta(d) => format!("text {}", d.text),
            StreamEvent::BlockStop(i) => format!("stop {i}"),
            StreamEvent::Finish(f) => format!("finish {:?}", f.stop_reason),
            StreamEvent::Usage(u) => format!("usage {:?}", u.reasoning_tokens),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "start",
            "open 0 thinking",
            "think Let me ",
            "think think…",
            "stop 0",
            "open 1 text",
            "text Answer: 42",
            "stop 1",
            "finish StopReason::MaxTokens",
            "usage Some(60)"
        ]
    );
}

#[test]
fn observer_mode_sees_only_accounting() {
    let evs = assert_any_chunking(STREAM, false);
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert!(matches!(evs[0], StreamEvent::Start(_)));
    assert!(matches!(&evs[1], StreamEvent::Finish(f) if f.stop_reason == StopReason::ToolUse));
    assert!(matches!(evs[2], StreamEvent::Usage(_)));
    assert_eq!(assert_any_chunking(REASONING, false).len(), 3);
}

#[test]
fn truncation_is_detected() {
    // Cut before the finish chunk: an error, at any cut point.
    let finish_at = STREAM.find(r#""finish_reason":"tool_calls""#).unwrap();
    let cut_start = STREAM[..finish_at].rfind("data:").unwrap();
    for cut in (0..cut_start).step_by(13) {
        let e = decode_all(false, &[&STREAM.as_bytes()[..cut]]).unwrap_err();
        assert_eq!(
            (e.kind, e.status),
            (ErrorKind::BadGateway, 502),
            "cut {cut}"
        );
    }
    let e = decode_all(true, &[&STREAM.as_bytes()[..cut_start]]).unwrap_err();
    assert!(e.message.contains("truncated"), "{}", e.message);
    // Cut inside an event: the half event is invalid.
    let e = decode_all(false, &[&STREAM.as_bytes()[..cut_start + 40]]).unwrap_err();
    assert!(e.message.contains("invalid JSON"), "{}", e.message);
    // A finish reason without [DONE] is complete; so is [DONE] without a blank line.
    assert!(decode_all(false, &[REASONING.as_bytes()]).is_ok());
    assert!(decode_all(false, &[&STREAM.as_bytes()[..STREAM.len() - 2]]).is_ok());
    // Garbage.
    let e = decode_all(false, &[b"data: {nope\n\n"]).unwrap_err();
    assert_eq!(e.status, 502);
}

#[test]
fn upstream_errors_in_the_stream() {
    let evs = decode_all(
        true,
        &[concat!(
            r#"data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            "\n\n",
            r#"data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#,
            "\n\n"
        )
        .as_bytes()],
    )
    .unwrap();
    let StreamEvent::Error(e) = evs.last().unwrap() else {
        panic!("{evs:?}")
    };
    assert_eq!((e.kind, e.status), (ErrorKind::ApiError, 500));
    assert!(e.message.starts_with("The server had an error"));
    // vLLM's bare error object.
    let evs = decode_all(
        false,
        &[br#"data: {"object":"error","message":"context too long","type":"BadRequestError","param":null,"code":400}

"#],
    )
    .unwrap();
    assert!(
        matches!(&evs[0], StreamEvent::Error(e) if e.kind == ErrorKind::InvalidRequest && e.status == 400)
    );
}

#[test]
fn server_quirks() {
    // Ollama: whole calls in one delta each, every call numbered 0, finish "stop";
    // Groq: usage under x_groq.
    let ollama = concat!(
        r#"data: {"id":"o","model":"llama3","choices":[{"index":0,"delta":{"role":"assistant","content":"","tool_calls":[{"id":"call_1","index":0,"type":"function","function":{"name":"a","arguments":"{\"x\":1}"}}]}}]}"#,
        "\n\n",
        r#"data: {"id":"o","model":"llama3","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_2","index":0,"type":"function","function":{"name":"b","arguments":"{}"}}]}}]}"#,
        "\n\n",
        r#"data: {"id":"o","model":"llama3","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}}"#,
        "\n\n",
        "data: [DONE]\n\n"
    );
    let evs = assert_any_chunking(ollama, true);
    let calls: Vec<(u32, String, String)> = evs
        .iter()
        .filter_map(|e| match e {
            StreamEvent::BlockStart(b) => match &b.block {
                ContentBlock::ToolCall(c) => Some((b.index, c.id.clone(), c.name.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            (0, "call_1".into(), "a".into()),
            (1, "call_2".into(), "b".into())
        ]
    );
    assert!(evs
        .iter()
        .any(|e| matches!(e, StreamEvent::Finish(f) if f.stop_reason == StopReason::ToolUse)));
    assert!(evs
        .iter()
        .any(|e| matches!(e, StreamEvent::Usage(u) if u.output_tokens == Some(4))));

    // Servers that omit the index: a new id starts a call, no id continues it.
    let no_index = concat!(
        r#"data: {"id":"n","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"id":"c1","function":{"name":"a","arguments":"{\"q\""}}]}}]}"#,
        "\n\n",
        r#"data: {"id":"n","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":":1}"}}]}}]}"#,
        "\n\n",
        r#"data: {"id":"n","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"id":"c2","function":{"name":"b","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
        "\n\n",
    );
    let evs = decode_all(true, &[no_index.as_bytes()]).unwrap();
    let args: Vec<(u32, &str)> = evs
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolArgumentsDelta(d) => Some((d.index, d.text.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(args, vec![(0, "{\"q\""), (0, ":1}"), (1, "{}")]);
}

// ----- encoder -----

fn encode_all(flavor: Flavor, mode: UsageMode, events: &[StreamEvent]) -> String {
    let mut enc = EncodeState::new(flavor, String::new(), mode);
    let mut out = Vec::new();
    // One event per call, as the host may deliver them.
    for e in events {
        out.extend(enc.encode(std::slice::from_ref(e)).unwrap());
    }
    out.extend(enc.finish());
    String::from_utf8(out).unwrap()
}

fn chunks(sse: &str) -> Vec<Value> {
    sse.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[test]
fn encoder_round_trips_an_openai_stream() {
    let events = decode_all(true, &[STREAM.as_bytes()]).unwrap();
    let sse = encode_all(Flavor::OpenAi, UsageMode::Chunk, &events);
    assert!(sse.ends_with("\n\ndata: [DONE]\n\n"), "{sse}");
    // Decoding our own output gives the same events.
    assert_eq!(decode_all(true, &[sse.as_bytes()]).unwrap(), events);
    let cs = chunks(&sse);
    assert_eq!(
        cs[0],
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}],
            "usage": null})
    );
    assert_eq!(
        cs[3]["choices"][0]["delta"],
        json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})
    );
    assert_eq!(
        cs[4]["choices"][0]["delta"],
        json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]})
    );
    assert_eq!(cs[6]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
    let n = cs.len();
    assert_eq!(cs[n - 2]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(cs[n - 2]["usage"], Value::Null);
    assert_eq!(cs[n - 1]["choices"], json!([]));
    assert_eq!(cs[n - 1]["usage"]["prompt_tokens"], 20);
    assert_eq!(
        cs[n - 1]["usage"]["prompt_tokens_details"]["cached_tokens"],
        8
    );
}

#[test]
fn usage_rides_on_the_final_chunk_by_default() {
    let events = decode_all(true, &[STREAM.as_bytes()]).unwrap();
    let sse = encode_all(Flavor::OpenAi, UsageMode::FinalChunk, &events);
    let cs = chunks(&sse);
    assert!(cs[..cs.len() - 1].iter().all(|c| c.get("usage").is_none()));
    let last = cs.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(last["usage"]["total_tokens"], 29);
    assert_eq!(decode_all(true, &[sse.as_bytes()]).unwrap(), events);
}

const ANTHROPIC_STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":3,\"cache_read_input_tokens\":7,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"secret ✓\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: ping\ndata: {\"type\": \"ping\"}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Héllo\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"g\",\"input\":{}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":3}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

fn anthropic_events() -> Vec<StreamEvent> {
    let mut d = provider_anthropic::stream::DecodeState::new(true);
    let mut evs = d.feed(ANTHROPIC_STREAM.as_bytes()).unwrap();
    evs.extend(d.finish().unwrap());
    evs
}

#[test]
fn anthropic_stream_to_chat_completions_chunks() {
    let sse = encode_all(Flavor::OpenAi, UsageMode::FinalChunk, &anthropic_events());
    // Thinking never reaches the client on the openai flavor; a ping is a comment.
    assert!(!sse.contains("secret"), "{sse}");
    assert!(sse.contains(": ping\n\n"));
    let cs = chunks(&sse);
    let deltas: Vec<&Value> = cs.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(*deltas[0], json!({"role": "assistant", "content": ""}));
    assert_eq!(cs[0]["id"], "msg_1");
    assert_eq!(cs[0]["model"], "claude-x");
    assert_eq!(*deltas[1], json!({"content": "Héllo"}));
    assert_eq!(
        *deltas[2],
        json!({"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": ""}}]})
    );
    assert_eq!(
        *deltas[3],
        json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]})
    );
    assert_eq!(
        *deltas[4],
        json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]})
    );
    assert_eq!(deltas[5]["tool_calls"][0]["index"], 1);
    assert_eq!(deltas[5]["tool_calls"][0]["id"], "toolu_2");
    let last = cs.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
    // 25 uncached + 7 cache reads + 3 cache writes.
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": 35, "completion_tokens": 42, "total_tokens": 77, "prompt_tokens_details": {"cached_tokens": 7}})
    );
    // The compatible flavor shows thinking as reasoning_content, never as content.
    let compat = encode_all(
        Flavor::Compatible,
        UsageMode::FinalChunk,
        &anthropic_events(),
    );
    let cs = chunks(&compat);
    assert_eq!(
        cs[1]["choices"][0]["delta"],
        json!({"reasoning_content": "secret ✓"})
    );
    assert!(cs.iter().all(|c| !c["choices"][0]["delta"]["content"]
        .as_str()
        .unwrap_or("")
        .contains("secret")));
}

#[test]
fn chat_completions_stream_to_anthropic_events() {
    // Our decoder's events drive the Anthropic encoder into a valid Anthropic stream.
    let events = decode_all(true, &[STREAM.as_bytes()]).unwrap();
    let mut enc = provider_anthropic::stream::EncodeState::new(String::new());
    let mut bytes = enc.encode(&events).unwrap();
    bytes.extend(enc.finish());
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("\"stop_reason\":\"tool_use\""), "{text}");
    let mut d = provider_anthropic::stream::DecodeState::new(true);
    let mut again = d.feed(&bytes).unwrap();
    again.extend(d.finish().unwrap());
    let tool_ids: Vec<String> = again
        .iter()
        .filter_map(|e| match e {
            StreamEvent::BlockStart(b) => match &b.block {
                ContentBlock::ToolCall(c) => Some(c.id.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(tool_ids, vec!["call_a".to_string(), "call_b".to_string()]);
}

#[test]
fn errors_mid_stream_end_the_stream() {
    let mut enc = EncodeState::new(Flavor::OpenAi, "gpt-x".into(), UsageMode::FinalChunk);
    let mut out = enc
        .encode(&[
            StreamEvent::Start(StreamStart {
                id: "c".into(),
                model: "upstream".into(),
                usage: Usage::empty(),
            }),
            StreamEvent::Error(ApiError::new(ErrorKind::Overloaded, "busy")),
            StreamEvent::Ping,
        ])
        .unwrap();
    out.extend(enc.finish());
    out.extend(enc.encode(&[StreamEvent::Ping]).unwrap());
    let sse = String::from_utf8(out).unwrap();
    let cs = chunks(&sse);
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[0]["model"], "gpt-x");
    assert_eq!(
        cs[1],
        json!({"error": {"message": "busy", "type": "server_error", "param": null, "code": "overloaded"}})
    );
    assert!(!sse.contains("[DONE]"));
    // Our decoder reads it back as an error.
    let evs = decode_all(false, &[sse.as_bytes()]).unwrap();
    assert!(matches!(evs.last(), Some(StreamEvent::Error(e)) if e.message == "busy"));
}

#[test]
fn empty_stream_still_closes_properly() {
    let sse = encode_all(Flavor::Azure, UsageMode::Chunk, &[]);
    let cs = chunks(&sse);
    assert_eq!(cs.len(), 3);
    assert_eq!(cs[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(cs[1]["choices"][0]["finish_reason"], "stop");
    assert_eq!(cs[2]["usage"]["total_tokens"], 0);
    assert!(sse.ends_with("data: [DONE]\n\n"));
}

#[test]
fn refusals_and_custom_tools_stream() {
    let refusal = TextBlock {
        text: String::new(),
        cache_control: None,
        citations: None,
        extra: extra_from_map(json!({"type": "refusal"}).as_object().cloned().unwrap()),
    };
    let events = vec![
        StreamEvent::BlockStart(BlockStart {
            index: 0,
            block: ContentBlock::Text(refusal),
        }),
        StreamEvent::TextDelta(BlockDelta {
            index: 0,
            text: "I can't.".into(),
        }),
        StreamEvent::BlockStart(BlockStart {
            index: 1,
            block: ContentBlock::ToolCall(ToolCall {
                id: "call_c".into(),
                name: "apply_patch".into(),
                arguments: String::new(),
                kind: ToolKind::Custom,
                namespace: None,
                cache_control: None,
                extra: None,
            }),
        }),
        StreamEvent::ToolArgumentsDelta(BlockDelta {
            index: 1,
            text: "*** Begin".into(),
        }),
        StreamEvent::Finish(StreamFinish {
            stop_reason: StopReason::Refusal,
            stop_sequence: None,
        }),
    ];
    let sse = encode_all(Flavor::OpenAi, UsageMode::FinalChunk, &events);
    let cs = chunks(&sse);
    assert_eq!(cs[1]["choices"][0]["delta"], json!({"refusal": "I can't."}));
    assert_eq!(
        cs[2]["choices"][0]["delta"]["tool_calls"][0],
        json!({"index": 0, "id": "call_c", "type": "custom", "custom": {"name": "apply_patch", "input": ""}})
    );
    assert_eq!(
        cs[3]["choices"][0]["delta"]["tool_calls"][0],
        json!({"index": 0, "custom": {"input": "*** Begin"}})
    );
    assert_eq!(cs[4]["choices"][0]["finish_reason"], "stop");
    // And back: the refusal block and the custom call survive decoding.
    let evs = decode_all(true, &[sse.as_bytes()]).unwrap();
    assert!(evs.iter().any(|e| matches!(e, StreamEvent::BlockStart(b) if matches!(&b.block, ContentBlock::Text(t) if is_refusal(t)))));
    assert!(evs.iter().any(|e| matches!(e, StreamEvent::BlockStart(b) if matches!(&b.block, ContentBlock::ToolCall(c) if c.kind == ToolKind::Custom))));
    // A refusal alone comes back as a refusal stop.
    let only = [events[0].clone(), events[1].clone(), events[4].clone()];
    let sse = encode_all(Flavor::OpenAi, UsageMode::FinalChunk, &only);
    let evs = decode_all(true, &[sse.as_bytes()]).unwrap();
    assert!(evs
        .iter()
        .any(|e| matches!(e, StreamEvent::Finish(f) if f.stop_reason == StopReason::Refusal)));
}
