//! Native micro-benchmark of the translated-path hot functions (dev harness, not a
//! test). Run from `plugins/`:
//!
//! ```text
//! CARGO_TARGET_DIR=/work/main/target/helper-anthropic cargo run --release \
//!     --target x86_64-unknown-linux-gnu -p provider-anthropic --example hot_paths
//! ```
//!
//! `-- --print` also prints each function's output (to diff before/after a change);
//! `ITERS=n` sets the calls per benchmark, `BENCH=prefix` picks benchmarks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use provider_anthropic::stream::DecodeState;
use provider_anthropic::translate::{
    decode_request, decode_response, encode_request, encode_response,
};
use tollgate_sdk::provider::{Operation, TargetInfo};

const RESPONSE: &str = r#"{"id":"msg_01benchbenchbenchbenchbe","type":"message","role":"assistant","model":"bench","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1}}"#;

const HEAD: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01benchbenchbenchbenchbe\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"bench\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";

const CHUNK: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"tok \"}}\n\n";

fn request_body() -> String {
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(19);
    format!(
        r#"{{"model":"bench","max_tokens":256,"stream":false,"system":[{{"type":"text","text":"You are a benchmark. Answer briefly."}}],"messages":[{{"role":"user","content":[{{"type":"text","text":"{filler}"}}]}}]}}"#
    )
}

/// Best of 5 rounds of `iters / 5` calls (the machine may be busy).
fn time<T>(name: &str, iters: u32, mut f: impl FnMut() -> T) {
    // `BENCH=<prefix>` runs only the matching benchmarks (e.g. under `perf stat`).
    if std::env::var("BENCH").is_ok_and(|b| !name.starts_with(b.as_str())) {
        return;
    }
    for _ in 0..iters / 10 {
        black_box(f());
    }
    let round = (iters / 5).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..round {
            black_box(f());
        }
        best = best.min(t.elapsed().as_nanos() as f64 / f64::from(round));
    }
    println!(
        "{name:<28} {:>8.3} µs/op  (best of 5 x {round})",
        best / 1000.0
    );
}

fn main() {
    let print = std::env::args().any(|a| a == "--print");
    let iters: u32 = std::env::var("ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);

    let body = request_body();
    let req = decode_request(Operation::Chat, body.as_bytes(), None, false).unwrap();
    let target = TargetInfo {
        model: String::new(),
        options: String::new(),
    };
    let resp = decode_response(Operation::Chat, RESPONSE.as_bytes()).unwrap();

    if print {
        println!("decode_request: {req:?}");
        let up = encode_request(Operation::Chat, &req, &target).unwrap();
        println!("encode_request: {}", String::from_utf8(up.body).unwrap());
        println!("decode_response: {resp:?}");
        let out = encode_response(&resp).unwrap();
        println!("encode_response: {}", String::from_utf8(out).unwrap());
        let mut d = DecodeState::new(true);
        println!("stream head: {:?}", d.feed(HEAD.as_bytes()).unwrap());
        println!("stream feed 1: {:?}", d.feed(CHUNK.as_bytes()).unwrap());
        println!("stream feed 2: {:?}", d.feed(CHUNK.as_bytes()).unwrap());
    }

    println!("request body: {} bytes", body.len());
    time("decode_request (1 KB)", iters, || {
        decode_request(Operation::Chat, body.as_bytes(), None, false).unwrap()
    });
    time("encode_request (1 KB)", iters, || {
        encode_request(Operation::Chat, &req, &target).unwrap()
    });
    time("decode_response", iters, || {
        decode_response(Operation::Chat, RESPONSE.as_bytes()).unwrap()
    });
    time("encode_response", iters, || encode_response(&resp).unwrap());
    let mut d = DecodeState::new(true);
    d.feed(HEAD.as_bytes()).unwrap();
    time("stream feed (1 chunk)", iters, || {
        d.feed(CHUNK.as_bytes()).unwrap()
    });
}
