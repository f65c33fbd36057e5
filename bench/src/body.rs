//! Request bodies: valid Anthropic Messages, OpenAI Chat Completions and OpenAI
//! Responses requests for the mock's `bench` model, padded to a chosen size with a
//! realistic multi-turn conversation.

use bytes::Bytes;
use serde_json::{json, Value};

const FILLER: &str = "The quick brown fox jumps over the lazy dog while the gateway \
    counts every byte; agents send long histories of code, tool output and prose. ";

/// Text of exactly `len` bytes (ASCII), cut from the filler.
fn filler(len: usize) -> String {
    FILLER.chars().cycle().take(len).collect()
}

/// A client dialect the benchmark speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Dialect {
    /// Anthropic Messages, `POST /v1/messages`.
    Anthropic,
    /// OpenAI Chat Completions, `POST /v1/chat/completions`.
    OpenAiChat,
    /// OpenAI Responses, `POST /v1/responses`.
    Responses,
}

impl Dialect {
    pub fn path(self) -> &'static str {
        match self {
            Dialect::Anthropic => "/v1/messages",
            Dialect::OpenAiChat => "/v1/chat/completions",
            Dialect::Responses => "/v1/responses",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Anthropic => "Anthropic Messages",
            Dialect::OpenAiChat => "OpenAI Chat Completions",
            Dialect::Responses => "OpenAI Responses",
        }
    }
}

const SYSTEM: &str = "You are a benchmark. Answer briefly.";

fn request(dialect: Dialect, model: &str, stream: bool, texts: &[String]) -> Value {
    let role = |i: usize| {
        if i.is_multiple_of(2) {
            "user"
        } else {
            "assistant"
        }
    };
    match dialect {
        Dialect::Anthropic => {
            let messages: Vec<Value> = texts
                .iter()
                .enumerate()
                .map(|(i, text)| json!({"role": role(i), "content": [{"type": "text", "text": text}]}))
                .collect();
            json!({
                "model": model,
                "max_tokens": 256,
                "stream": stream,
                "system": [{"type": "text", "text": SYSTEM}],
                "messages": messages,
            })
        }
        Dialect::OpenAiChat => {
            let mut messages = vec![json!({"role": "system", "content": SYSTEM})];
            messages.extend(
                texts
                    .iter()
                    .enumerate()
                    .map(|(i, text)| json!({"role": role(i), "content": text})),
            );
            let mut v = json!({
                "model": model,
                "max_completion_tokens": 256,
                "stream": stream,
                "messages": messages,
            });
            if stream {
                v["stream_options"] = json!({"include_usage": true});
            }
            v
        }
        Dialect::Responses => {
            let input: Vec<Value> = texts
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    let kind = if i.is_multiple_of(2) {
                        "input_text"
                    } else {
                        "output_text"
                    };
                    json!({"type": "message", "role": role(i), "content": [{"type": kind, "text": text}]})
                })
                .collect();
            json!({
                "model": model,
                "max_output_tokens": 256,
                "stream": stream,
                "store": false,
                "instructions": SYSTEM,
                "input": input,
            })
        }
    }
}

/// A Messages request of about `target` bytes (within a few bytes): one user turn for
/// small sizes, otherwise alternating user/assistant turns of about 4 KB each, ending
/// with a user turn, as an agent's history looks.
pub fn messages_body(target: usize, stream: bool) -> Bytes {
    body(Dialect::Anthropic, "bench", target, stream)
}

/// A request in `dialect` for `model`, of about `target` bytes, shaped like
/// [`messages_body`] (the same conversation in each dialect).
pub fn body(dialect: Dialect, model: &str, target: usize, stream: bool) -> Bytes {
    let mut turns = (target / 4096).max(1);
    if turns.is_multiple_of(2) {
        turns += 1;
    }
    let empty = vec![String::new(); turns];
    let base = serde_json::to_vec(&request(dialect, model, stream, &empty))
        .map_or(0, |v| v.len())
        .min(target);
    let room = target - base;
    let per = room / turns;
    let mut texts: Vec<String> = (0..turns).map(|_| filler(per)).collect();
    if let Some(last) = texts.last_mut() {
        *last = filler(per + room % turns);
    }
    Bytes::from(serde_json::to_vec(&request(dialect, model, stream, &texts)).unwrap_or_default())
}

/// Parses a size like `1k`, `200k`, `1m` or `512` into bytes (k = 1024).
pub fn parse_size(s: &str) -> anyhow::Result<usize> {
    let lower = s.trim().to_ascii_lowercase();
    let (digits, mult) = if let Some(d) = lower.strip_suffix("kb").or(lower.strip_suffix('k')) {
        (d, 1024)
    } else if let Some(d) = lower.strip_suffix("mb").or(lower.strip_suffix('m')) {
        (d, 1024 * 1024)
    } else {
        (lower.as_str(), 1)
    };
    let n: usize = digits
        .parse()
        .map_err(|_| anyhow::anyhow!("`{s}` is not a size like 1k or 200k"))?;
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_asked_size_and_are_valid_requests() {
        for (size, stream) in [(1024, false), (200 * 1024, true), (300, false)] {
            let body = messages_body(size, stream);
            assert!(body.len().abs_diff(size) <= 4, "{} vs {size}", body.len());
            let v: Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(v["model"], "bench");
            assert_eq!(v["stream"], stream);
            let messages = v["messages"].as_array().expect("messages");
            assert_eq!(messages.len() % 2, 1);
            assert_eq!(messages.last().expect("last")["role"], "user");
        }
    }

    #[test]
    fn every_dialect_gets_the_asked_size() {
        for dialect in [Dialect::Anthropic, Dialect::OpenAiChat, Dialect::Responses] {
            for stream in [false, true] {
                let b = body(dialect, "bench-20", 1024, stream);
                assert!(b.len().abs_diff(1024) <= 4, "{dialect:?} {}", b.len());
                let v: Value = serde_json::from_slice(&b).expect("JSON");
                assert_eq!(v["model"], "bench-20");
                assert_eq!(v["stream"], stream);
            }
        }
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1k").expect("1k"), 1024);
        assert_eq!(parse_size("200KB").expect("200KB"), 204_800);
        assert_eq!(parse_size("77").expect("77"), 77);
        assert!(parse_size("lots").is_err());
    }
}
