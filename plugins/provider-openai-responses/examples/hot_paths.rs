//! Native micro-benchmark of the translated-path hot functions (dev harness, not a
//! test). Run from `plugins/`:
//!
//! ```text
//! CARGO_TARGET_DIR=/work/main/target/helper-responses cargo run --release \
//!     --target x86_64-unknown-linux-gnu -p provider-openai-responses --example hot_paths
//! ```
//!
//! `-- --print` also prints each function's output (to diff before/after a change);
//! `ITERS=n` sets the iterations per round, `ROUNDS=n` the rounds (best is reported); `ONLY=decode|encode|stream` runs one benchmark.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use provider_openai_responses::stream::EncodeState;
use provider_openai_responses::translate::{decode_request, encode_response};
use tollgate_sdk::provider::{
    BlockDelta, BlockStart, ChatResponse, ContentBlock, Operation, StopReason, StreamEvent,
    StreamStart, TextBlock, Usage,
};

fn body() -> String {
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(19);
    format!(
        r#"{{"model":"bench","max_output_tokens":256,"stream":false,"store":false,"instructions":"You are a benchmark. Answer briefly.","input":[{{"type":"message","role":"user","content":[{{"type":"input_text","text":"{filler}"}}]}}]}}"#
    )
}

fn response() -> ChatResponse {
    let mut usage = Usage::empty();
    usage.input_tokens = Some(10);
    usage.output_tokens = Some(1);
    ChatResponse {
        id: "msg_01benchbenchbenchbenchbe".to_string(),
        model: "bench".to_string(),
        content: vec![ContentBlock::Text(TextBlock {
            text: "ok".to_string(),
            cache_control: None,
            citations: None,
            extra: None,
        })],
        stop_reason: Some(StopReason::EndTurn),
        stop_sequence: None,
        usage,
        extra: None,
    }
}

fn stream_prefix() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start(StreamStart {
            id: "msg_01benchbenchbenchbenchbe".to_string(),
            model: "bench".to_string(),
            usage: Usage::empty(),
        }),
        StreamEvent::BlockStart(BlockStart {
            index: 0,
            block: ContentBlock::Text(TextBlock {
                text: String::new(),
                cache_control: None,
                citations: None,
                extra: None,
            }),
        }),
    ]
}

fn delta_event() -> StreamEvent {
    StreamEvent::TextDelta(BlockDelta {
        index: 0,
        text: "tok ".to_string(),
    })
}

/// Best (least disturbed) of `ROUNDS` timed rounds of `iters` calls each: the machine
/// is shared, so the minimum is the stable figure; the median is printed too.
fn time<T>(name: &str, iters: u32, mut f: impl FnMut() -> T) {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    for _ in 0..iters / 10 {
        black_box(f());
    }
    let mut per_op: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            t.elapsed().as_nanos() as f64 / f64::from(iters) / 1000.0
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    println!(
        "{name:<28} {:>8.3} µs/op best, {:>8.3} median  ({} x {iters} iters)",
        per_op[0],
        per_op[per_op.len() / 2],
        per_op.len()
    );
}

fn main() {
    let print = std::env::args().any(|a| a == "--print");
    let iters: u32 = std::env::var("ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);

    let body = body();
    let resp = response();
    let delta = [delta_event()];

    if print {
        let req = decode_request(Operation::Chat, body.as_bytes(), None, false).unwrap();
        println!("decode_request: {req:?}");
        let out = encode_response(&resp).unwrap();
        println!("encode_response: {}", String::from_utf8(out).unwrap());
        let mut enc = EncodeState::new("bench".to_string());
        let mut bytes = enc.encode(&stream_prefix()).unwrap();
        for _ in 0..3 {
            bytes.extend(enc.encode(&delta).unwrap());
        }
        bytes.extend(enc.finish());
        println!("stream:\n{}", String::from_utf8(bytes).unwrap());
    }

    // `ONLY=decode|encode|stream` runs one benchmark (for `perf record`).
    let only = std::env::var("ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only == name;
    println!("request body: {} bytes", body.len());
    if run("decode") {
        time("decode_request (1 KB)", iters, || {
            decode_request(Operation::Chat, body.as_bytes(), None, false).unwrap()
        });
    }
    if run("encode") {
        time("encode_response", iters, || encode_response(&resp).unwrap());
    }
    if run("stream") {
        let mut enc = EncodeState::new("bench".to_string());
        enc.encode(&stream_prefix()).unwrap();
        time("stream encode (1 delta)", iters, || {
            enc.encode(&delta).unwrap()
        });
    }
}
