//! Request bodies: valid Anthropic Messages requests for the mock's `bench` model,
//! padded to a chosen size with a realistic multi-turn conversation.

use bytes::Bytes;
use serde_json::{json, Value};

const FILLER: &str = "The quick brown fox jumps over the lazy dog while the gateway \
    counts every byte; agents send long histories of code, tool output and prose. ";

/// Text of exactly `len` bytes (ASCII), cut from the filler.
fn filler(len: usize) -> String {
    FILLER.chars().cycle().take(len).collect()
}

fn request(stream: bool, texts: &[String]) -> Value {
    let messages: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            json!({"role": role, "content": [{"type": "text", "text": text}]})
        })
        .collect();
    json!({
        "model": "bench",
        "max_tokens": 256,
        "stream": stream,
        "system": [{"type": "text", "text": "You are a benchmark. Answer briefly."}],
        "messages": messages,
    })
}

/// A Messages request of about `target` bytes (within a few bytes): one user turn for
/// small sizes, otherwise alternating user/assistant turns of about 4 KB each, ending
/// with a user turn, as an agent's history looks.
pub fn messages_body(target: usize, stream: bool) -> Bytes {
    let mut turns = (target / 4096).max(1);
    if turns.is_multiple_of(2) {
        turns += 1;
    }
    let empty = vec![String::new(); turns];
    let base = serde_json::to_vec(&request(stream, &empty))
        .map_or(0, |v| v.len())
        .min(target);
    let room = target - base;
    let per = room / turns;
    let mut texts: Vec<String> = (0..turns).map(|_| filler(per)).collect();
    if let Some(last) = texts.last_mut() {
        *last = filler(per + room % turns);
    }
    Bytes::from(serde_json::to_vec(&request(stream, &texts)).unwrap_or_default())
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
    fn sizes_parse() {
        assert_eq!(parse_size("1k").expect("1k"), 1024);
        assert_eq!(parse_size("200KB").expect("200KB"), 204_800);
        assert_eq!(parse_size("77").expect("77"), 77);
        assert!(parse_size("lots").is_err());
    }
}
