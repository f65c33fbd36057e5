//! Native micro-benchmark of the translated-path hot functions (dev harness, not a
//! test). Run from `plugins/`:
//!
//! ```text
//! CARGO_TARGET_DIR=/work/main/target/helper-openai cargo run --release \
//!     --target x86_64-unknown-linux-gnu -p openai-chat --example hot_paths
//! ```
//!
//! `-- --print` also prints each function's output (to diff before/after a change);
//! `ITERS=n` sets the calls per benchmark, `BENCH=prefix` picks benchmarks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use openai_chat::stream::DecodeState;
use openai_chat::translate::{decode_response, encode_request, encode_response};
use openai_chat::Flavor;
use tollgate_sdk::provider::{Operation, TargetInfo};

const RESPONSE: &str = r#"{"id":"chatcmpl-01benchbenchbenchbenchbe","object":"chat.completion","created":1767225600,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"ok","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":1,"total_tokens":11},"service_tier":"default","system_fingerprint":"fp_mock0001"}"#;

const CHUNK: &str = "data: {\"id\":\"chatcmpl-01benchbenchbenchbenchbe\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"bench\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_mock0001\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok \"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";

fn anthropic_body() -> String {
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(20);
    format!(
        r#"{{"model":"bench","max_tokens":256,"system":[{{"type":"text","text":"You are a benchmark. Answer briefly."}}],"messages":[{{"role":"user","content":[{{"type":"text","text":"{filler}"}}]}}]}}"#
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

    let body = anthropic_body();
    let req = provider_anthropic::translate::decode_request(
        Operation::Chat,
        body.as_bytes(),
        None,
        false,
    )
    .unwrap();
    let target = TargetInfo {
        model: String::new(),
        options: String::new(),
    };
    let resp = decode_response(Operation::Chat, RESPONSE.as_bytes()).unwrap();

    if print {
        let up = encode_request(Flavor::OpenAi, Operation::Chat, &req, &target).unwrap();
        println!("encode_request: {}", String::from_utf8(up.body).unwrap());
        println!("decode_response: {resp:?}");
        let out = encode_response(Flavor::OpenAi, &resp).unwrap();
        println!("encode_response: {}", String::from_utf8(out).unwrap());
        let mut d = DecodeState::new(true);
        println!("stream feed 1: {:?}", d.feed(CHUNK.as_bytes()).unwrap());
        println!("stream feed 2: {:?}", d.feed(CHUNK.as_bytes()).unwrap());
    }

    println!("request body: {} bytes", body.len());
    time("decode_response", iters, || {
        decode_response(Operation::Chat, RESPONSE.as_bytes()).unwrap()
    });
    time("encode_request (1 KB)", iters, || {
        encode_request(Flavor::OpenAi, Operation::Chat, &req, &target).unwrap()
    });
    time("encode_response", iters, || {
        encode_response(Flavor::OpenAi, &resp).unwrap()
    });
    let mut d = DecodeState::new(true);
    d.feed(CHUNK.as_bytes()).unwrap();
    time("stream feed (1 chunk)", iters, || {
        d.feed(CHUNK.as_bytes()).unwrap()
    });
}
