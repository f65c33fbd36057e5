//! Checks that an answer is a valid, complete response in the client's dialect before
//! a scenario is timed: a benchmark of a path that answers garbage fast is worthless.
//! The mock's `bench` model answers `ok`, or streams `tok ` N times; a translated path
//! must deliver exactly that, in the client's own framing and ending events.

use anyhow::Context as _;
use serde_json::Value;

use crate::body::Dialect;
use crate::client::Fetched;

/// What the answer must carry.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub dialect: Dialect,
    /// `Some(n)`: a stream of `n` text deltas; `None`: one JSON answer.
    pub stream_deltas: Option<usize>,
}

/// The text the mock's bench model answers without streaming.
pub const BENCH_TEXT: &str = "ok";
/// The text of one bench stream delta.
pub const BENCH_DELTA: &str = "tok ";

/// One server-sent event: its `event:` name (empty if none) and its `data:` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub name: String,
    pub data: String,
}

/// Splits an SSE body into events (LF or CRLF line ends); comment lines (`: ping`)
/// are skipped, and so are blocks of nothing but comments.
pub fn parse_sse(body: &str) -> Vec<SseEvent> {
    let normalized = body.replace("\r\n", "\n");
    normalized
        .split("\n\n")
        .filter(|block| {
            block
                .lines()
                .any(|l| l.starts_with("event:") || l.starts_with("data:"))
        })
        .map(|block| {
            let mut name = String::new();
            let mut data: Vec<&str> = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            SseEvent {
                name,
                data: data.join("\n"),
            }
        })
        .collect()
}

fn json(data: &str, what: &str) -> anyhow::Result<Value> {
    serde_json::from_str(data).with_context(|| format!("{what} is not JSON: {data}"))
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() > 600 {
        let mut cut = 600;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &text[..cut])
    } else {
        text.into_owned()
    }
}

/// Checks `answer` against `expect`; on success, a one-line description.
pub fn check(answer: &Fetched, expect: Expect) -> anyhow::Result<String> {
    check_inner(answer, expect).with_context(|| {
        format!(
            "not a valid {} {} (status {}, content-type `{}`): {}",
            expect.dialect.name(),
            if expect.stream_deltas.is_some() {
                "stream"
            } else {
                "response"
            },
            answer.status,
            answer.content_type,
            excerpt(&answer.body)
        )
    })
}

fn check_inner(answer: &Fetched, expect: Expect) -> anyhow::Result<String> {
    anyhow::ensure!(
        answer.status == http::StatusCode::OK,
        "status {}",
        answer.status
    );
    let text = std::str::from_utf8(&answer.body).context("body is not UTF-8")?;
    match expect.stream_deltas {
        None => {
            anyhow::ensure!(
                answer.content_type.starts_with("application/json"),
                "content-type is not JSON"
            );
            let v = json(text, "the body")?;
            check_message(expect.dialect, &v)
        }
        Some(n) => {
            anyhow::ensure!(
                answer.content_type.starts_with("text/event-stream"),
                "content-type is not text/event-stream"
            );
            check_stream(expect.dialect, &parse_sse(text), n)
        }
    }
}

fn check_message(dialect: Dialect, v: &Value) -> anyhow::Result<String> {
    match dialect {
        Dialect::Anthropic => {
            anyhow::ensure!(v["type"] == "message", "type is not `message`");
            anyhow::ensure!(v["role"] == "assistant", "role is not `assistant`");
            anyhow::ensure!(v["id"].is_string(), "no id");
            let text: String = v["content"]
                .as_array()
                .context("no content array")?
                .iter()
                .filter(|b| b["type"] == "text")
                .filter_map(|b| b["text"].as_str())
                .collect();
            anyhow::ensure!(text == BENCH_TEXT, "text is `{text}`, not `{BENCH_TEXT}`");
            anyhow::ensure!(
                v["stop_reason"] == "end_turn",
                "stop_reason is not end_turn"
            );
            anyhow::ensure!(v["usage"]["input_tokens"].is_u64(), "no usage.input_tokens");
            Ok("message, text `ok`, end_turn, usage".to_owned())
        }
        Dialect::OpenAiChat => {
            anyhow::ensure!(
                v["object"] == "chat.completion",
                "object is not chat.completion"
            );
            let choice = &v["choices"][0];
            anyhow::ensure!(
                choice["message"]["content"] == BENCH_TEXT,
                "content is not `{BENCH_TEXT}`"
            );
            anyhow::ensure!(
                choice["finish_reason"] == "stop",
                "finish_reason is not stop"
            );
            anyhow::ensure!(v["usage"]["prompt_tokens"].is_u64(), "no usage");
            Ok("chat.completion, content `ok`, stop, usage".to_owned())
        }
        Dialect::Responses => {
            anyhow::ensure!(v["object"] == "response", "object is not response");
            anyhow::ensure!(v["status"] == "completed", "status is not completed");
            let text = responses_output_text(v)?;
            anyhow::ensure!(
                text == BENCH_TEXT,
                "output text is `{text}`, not `{BENCH_TEXT}`"
            );
            anyhow::ensure!(v["usage"]["input_tokens"].is_u64(), "no usage.input_tokens");
            Ok("response, completed, output_text `ok`, usage".to_owned())
        }
    }
}

/// The text of a Responses `response` object's message items.
fn responses_output_text(v: &Value) -> anyhow::Result<String> {
    Ok(v["output"]
        .as_array()
        .context("no output array")?
        .iter()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().into_iter().flatten())
        .filter(|part| part["type"] == "output_text")
        .filter_map(|part| part["text"].as_str())
        .collect())
}

fn check_stream(dialect: Dialect, events: &[SseEvent], n: usize) -> anyhow::Result<String> {
    let expected = BENCH_DELTA.repeat(n);
    anyhow::ensure!(!events.is_empty(), "no events");
    match dialect {
        Dialect::Anthropic => {
            let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
            anyhow::ensure!(
                names.first() == Some(&"message_start"),
                "first event is not message_start"
            );
            anyhow::ensure!(
                names.last() == Some(&"message_stop"),
                "last event is not message_stop"
            );
            let mut text = String::new();
            let mut deltas = 0;
            let mut stop_reason = Value::Null;
            for e in events {
                if e.name == "ping" {
                    continue;
                }
                let v = json(&e.data, &format!("event `{}`", e.name))?;
                anyhow::ensure!(
                    v["type"] == e.name.as_str(),
                    "event `{}` carries type {}",
                    e.name,
                    v["type"]
                );
                match e.name.as_str() {
                    "content_block_delta" => {
                        deltas += 1;
                        text.push_str(v["delta"]["text"].as_str().unwrap_or_default());
                    }
                    "message_delta" => stop_reason = v["delta"]["stop_reason"].clone(),
                    _ => {}
                }
            }
            anyhow::ensure!(deltas == n, "{deltas} content_block_delta events, not {n}");
            anyhow::ensure!(text == expected, "streamed text is `{text}`");
            anyhow::ensure!(stop_reason == "end_turn", "stop_reason is {stop_reason}");
            Ok(format!(
                "message_start … {n} content_block_delta … message_delta end_turn, message_stop"
            ))
        }
        Dialect::Responses => {
            anyhow::ensure!(
                events.first().map(|e| e.name.as_str()) == Some("response.created"),
                "first event is not response.created"
            );
            let last = events.last().context("no events")?;
            anyhow::ensure!(
                last.name == "response.completed",
                "last event is `{}`, not response.completed",
                last.name
            );
            let mut text = String::new();
            let mut deltas = 0;
            for (sequence, e) in events.iter().enumerate() {
                let v = json(&e.data, &format!("event `{}`", e.name))?;
                anyhow::ensure!(
                    v["type"] == e.name.as_str(),
                    "event `{}` carries type {}",
                    e.name,
                    v["type"]
                );
                anyhow::ensure!(
                    v["sequence_number"] == sequence as u64,
                    "event `{}` has sequence_number {}, not {sequence}",
                    e.name,
                    v["sequence_number"]
                );
                if e.name == "response.output_text.delta" {
                    deltas += 1;
                    text.push_str(v["delta"].as_str().unwrap_or_default());
                }
            }
            anyhow::ensure!(deltas == n, "{deltas} output_text.delta events, not {n}");
            anyhow::ensure!(text == expected, "streamed text is `{text}`");
            let done = json(&last.data, "response.completed")?;
            anyhow::ensure!(
                done["response"]["status"] == "completed",
                "response.completed has status {}",
                done["response"]["status"]
            );
            let full = responses_output_text(&done["response"])?;
            anyhow::ensure!(full == expected, "completed response's text is `{full}`");
            Ok(format!(
                "response.created … {n} output_text.delta … response.completed (sequence numbers in order)"
            ))
        }
        Dialect::OpenAiChat => {
            let last = events.last().context("no events")?;
            anyhow::ensure!(last.data == "[DONE]", "the stream does not end with [DONE]");
            let mut text = String::new();
            let mut deltas = 0;
            let mut finish = Value::Null;
            for e in &events[..events.len() - 1] {
                let v = json(&e.data, "a chunk")?;
                anyhow::ensure!(
                    v["object"] == "chat.completion.chunk",
                    "object is not chat.completion.chunk"
                );
                if let Some(choice) = v["choices"].get(0) {
                    if let Some(t) = choice["delta"]["content"]
                        .as_str()
                        .filter(|t| !t.is_empty())
                    {
                        deltas += 1;
                        text.push_str(t);
                    }
                    if !choice["finish_reason"].is_null() {
                        finish = choice["finish_reason"].clone();
                    }
                }
            }
            anyhow::ensure!(deltas == n, "{deltas} content chunks, not {n}");
            anyhow::ensure!(text == expected, "streamed text is `{text}`");
            anyhow::ensure!(finish == "stop", "finish_reason is {finish}");
            Ok(format!("{n} content chunks, finish_reason stop, [DONE]"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn fetched(content_type: &str, body: &str) -> Fetched {
        Fetched {
            status: http::StatusCode::OK,
            content_type: content_type.to_owned(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn sse_parses_with_either_line_end() {
        let ev = parse_sse(
            "event: a\r\ndata: {}\r\n\r\n: ping\n\nevent: b\n: note\ndata: x\ndata: y\n\n",
        );
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].name, "a");
        assert_eq!(ev[1].data, "x\ny");
    }

    #[test]
    fn anthropic_stream_must_end_with_message_stop() {
        let delta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"tok \"}}\n\n";
        let head = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
        let tail = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let ok = format!("{head}{delta}{delta}{tail}");
        let expect = Expect {
            dialect: Dialect::Anthropic,
            stream_deltas: Some(2),
        };
        check(&fetched("text/event-stream", &ok), expect).expect("valid");
        let cut = format!("{head}{delta}{delta}");
        assert!(check(&fetched("text/event-stream", &cut), expect).is_err());
        let short = format!("{head}{delta}{tail}");
        assert!(check(&fetched("text/event-stream", &short), expect).is_err());
    }

    #[test]
    fn responses_message_needs_completed_status_and_text() {
        let ok = r#"{"object":"response","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"ok"}]}],"usage":{"input_tokens":3}}"#;
        let expect = Expect {
            dialect: Dialect::Responses,
            stream_deltas: None,
        };
        check(&fetched("application/json", ok), expect).expect("valid");
        let bad = ok.replace("completed", "failed");
        assert!(check(&fetched("application/json", &bad), expect).is_err());
    }
}
